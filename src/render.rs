//! Pure text rendering: the base template through handlebars, the `postconf -e` merge of the
//! enabled directive rows into main.cf, and sasl_passwd (plain for the file, masked for diffs).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use handlebars::Handlebars;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::{ParamRow, by_order1};

pub const MASK: &str = "********";

/// Renders the base main.cf. Strict, so a `{{vars.X}}` without a value fails instead of
/// silently leaving a blank; no HTML escaping, since main.cf is not HTML.
pub fn base(path: &Path, template: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    check_shape(template).map_err(|reason| Error::Template {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    let mut text = hb
        .render_template(template, &serde_json::json!({ "vars": vars }))
        .map_err(|e| Error::Template {
            path: path.to_path_buf(),
            reason: template_reason(&e),
        })?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Blocks may nest this deep; a base main.cf needs two or three.
const MAX_DEPTH: usize = 32;

/// What handlebars would recurse on without bound: a partial (an inline one can call itself,
/// and the renderer's stack overflows, aborting the process) or blocks nested without end.
/// A base main.cf needs neither.
fn check_shape(template: &str) -> std::result::Result<(), String> {
    let mut depth = 0usize;
    for (at, _) in template.match_indices("{{") {
        let tag = template[at..]
            .trim_start_matches('{')
            .trim_start_matches(['~', ' ', '\t']);
        let line = template[..at].lines().count().max(1);
        if tag.starts_with('>') || tag.starts_with("#>") || tag.starts_with("#*") {
            return Err(format!(
                "line {line}: partials and inline partials are not supported in a base main.cf"
            ));
        }
        if tag.starts_with('#') {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(format!(
                    "line {line}: blocks nested more than {MAX_DEPTH} deep"
                ));
            }
        } else if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
        }
    }
    Ok(())
}

/// A render error in the user's terms: where, which variable, and that `vars` supplies it
/// (handlebars' own text for a missing one is `Failed to access variable in strict mode
/// Some("vars.banner")`).
fn template_reason(e: &handlebars::RenderError) -> String {
    let at = match (e.line_no, e.column_no) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: "),
        _ => String::new(),
    };
    match e.reason() {
        handlebars::RenderErrorReason::MissingVariable(Some(path)) => {
            match path.strip_prefix("vars.") {
                Some(name) => format!(
                    "{at}variable '{name}' ({{{{{path}}}}}) has no value: pass it in the \
                     'vars' option, e.g. vars: {{{name}: ...}}"
                ),
                None => format!(
                    "{at}'{{{{{path}}}}}' has no value: the template sees only vars.NAME; \
                     pass the value in the 'vars' option and write {{{{vars.{path}}}}}"
                ),
            }
        }
        handlebars::RenderErrorReason::TemplateError(t) => t.to_string(),
        other => format!("{at}{other}"),
    }
}

/// `name = v1, v2` for every enabled directive row, in id order, with enabled value rows in
/// `order1` order, as Hermes feeds them to `postconf -e`. Paths under `/etc/postfix/` point
/// into `exec_dir`, the config directory as Postfix sees it.
pub fn directives(rows: &[ParamRow], exec_dir: &str) -> Vec<(String, String)> {
    let mut values: HashMap<&str, Vec<&ParamRow>> = HashMap::new();
    for row in rows.iter().filter(|r| r.child == Some(1) && r.is_enabled()) {
        if let Some(parent) = row.parent.as_deref() {
            values.entry(parent).or_default().push(row);
        }
    }
    let rewrite = exec_dir.trim_end_matches('/') != "/etc/postfix";
    let mut parents: Vec<&ParamRow> = rows
        .iter()
        .filter(|r| r.is_parent() && r.is_enabled() && !r.param().is_empty())
        .collect();
    parents.sort_by_key(|r| r.id);
    parents
        .into_iter()
        .map(|parent| {
            let mut vals = values
                .remove(parent.id.to_string().as_str())
                .unwrap_or_default();
            vals.sort_by(|a, b| by_order1(a, b));
            let joined = vals
                .iter()
                .map(|v| {
                    if rewrite {
                        rewrite_paths(v.param(), exec_dir.trim_end_matches('/'))
                    } else {
                        v.param().to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            // postconf -e trims name and value, so must we to write what it writes.
            let trim = |s: &str| {
                s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b')
                    .to_string()
            };
            (trim(parent.param()), trim(&joined))
        })
        .collect()
}

/// `/etc/postfix/…` at the start of a path (the value's start, or after `:`, `,`, `=` or
/// whitespace, as in `hash:/etc/postfix/x`) becomes `<exec_dir>/…`; a longer path that merely
/// contains it (`/srv/etc/postfix/x`) is left alone.
fn rewrite_paths(value: &str, exec_dir: &str) -> String {
    const PREFIX: &str = "/etc/postfix/";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find(PREFIX) {
        let starts_path = out.is_empty() && at == 0
            || rest[..at]
                .chars()
                .last()
                .or_else(|| out.chars().last())
                .is_some_and(|c| matches!(c, ':' | ',' | '=') || c.is_whitespace());
        out.push_str(&rest[..at]);
        if starts_path {
            out.push_str(exec_dir);
            out.push('/');
        } else {
            out.push_str(PREFIX);
        }
        rest = &rest[at + PREFIX.len()..];
    }
    out.push_str(rest);
    out
}

/// Applies `postconf -e "name = value"` for each directive in turn, exactly as Postfix's
/// postconf edits main.cf (postconf_edit.c): every logical line whose key matches is replaced
/// and its continuation lines dropped (comments and blank lines inside are kept), keys not
/// found are appended in order.
pub fn merge(base: &str, directives: &[(String, String)]) -> String {
    let wanted: HashMap<&str, &str> = directives
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut found: HashSet<&str> = HashSet::new();
    let mut out = String::with_capacity(base.len() + directives.len() * 32);
    let mut replacing = false;
    for line in base.split_inclusive('\n') {
        let body = line.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        if body.is_empty() || body.starts_with('#') {
            out.push_str(line);
        } else if body.len() < line.len() {
            if !replacing {
                out.push_str(line);
            }
        } else {
            let key_end = line
                .find([' ', '\t', '\r', '\n', '='])
                .unwrap_or(line.len());
            let key = &line[..key_end];
            match wanted.get_key_value(key) {
                Some((k, v)) => {
                    replacing = true;
                    found.insert(k);
                    out.push_str(&format!("{k} = {v}\n"));
                }
                None => {
                    replacing = false;
                    out.push_str(line);
                }
            }
        }
    }
    for (name, _) in directives {
        if found.insert(name.as_str()) {
            // As postconf does: an appended line starts a line of its own.
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{name} = {}\n", wanted[name.as_str()]));
        }
    }
    out
}

/// Edits a main.cf in place for the `owned` keys only, as `postconf -e` (a wanted key) and
/// `postconf -X` (an owned key not wanted) would, with two differences that keep a plain
/// Postfix host's file as its owner wrote it: a line whose value already is the wanted one is
/// kept byte for byte, and an owned key set to nothing (`relayhost =`, Debian's default) is
/// left, since it means what removing it would. Every other line, comment, blank line and
/// continuation line stays as it is; wanted keys not found are appended in order.
pub fn edit(current: &str, directives: &[(String, String)], owned: &[&str]) -> String {
    let wanted: HashMap<&str, &str> = directives
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut found: HashSet<&str> = HashSet::new();
    let mut out = String::with_capacity(current.len() + directives.len() * 32);
    let lines: Vec<&str> = current.split_inclusive('\n').collect();
    let continues = |line: &str| {
        let body = line.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        body.len() < line.len() && !body.is_empty() && !body.starts_with('#')
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let mut end = i + 1;
        while end < lines.len() && (continues(lines[end]) || is_blank_or_comment(lines[end])) {
            end += 1;
        }
        // Trailing blank and comment lines belong to what follows, not to this value.
        while end > i + 1 && is_blank_or_comment(lines[end - 1]) {
            end -= 1;
        }
        let key_end = line
            .find([' ', '\t', '\r', '\n', '='])
            .unwrap_or(line.len());
        let key = &line[..key_end];
        if is_blank_or_comment(line) || continues(line) || !owned.contains(&key) {
            out.push_str(line);
            i += 1;
            continue;
        }
        let block = &lines[i..end];
        let value = logical_value(block);
        let kept_lines = || block.iter().filter(|l| is_blank_or_comment(l));
        match wanted.get_key_value(key) {
            Some((k, v)) => {
                found.insert(k);
                if same_value(&value, v) {
                    block.iter().for_each(|l| out.push_str(l));
                } else {
                    out.push_str(&format!("{k} = {v}\n"));
                    kept_lines().for_each(|l| out.push_str(l));
                }
            }
            None if value.is_empty() => block.iter().for_each(|l| out.push_str(l)),
            None => kept_lines().for_each(|l| out.push_str(l)),
        }
        i = end;
    }
    for (name, value) in directives {
        if found.insert(name.as_str()) {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{name} = {value}\n"));
        }
    }
    out
}

fn is_blank_or_comment(line: &str) -> bool {
    let body = line.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    body.is_empty() || body.starts_with('#')
}

/// The value of one logical main.cf line: after the `=`, continuation lines joined.
fn logical_value(block: &[&str]) -> String {
    let mut parts = Vec::new();
    for (n, line) in block.iter().enumerate() {
        if is_blank_or_comment(line) {
            continue;
        }
        let text = if n == 0 {
            line.split_once('=').map_or("", |(_, v)| v)
        } else {
            line
        };
        parts.push(text.trim());
    }
    parts.join(" ").trim().to_string()
}

/// Postfix reads a value as words: runs of whitespace are one separator.
fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The value of the last `name = value` line of a main.cf (as Postfix reads it: the last
/// setting wins, continuation lines join the value).
pub fn main_cf_value(main_cf: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    let mut ours = false;
    for line in main_cf.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if ours && let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        ours = match line.split_once('=') {
            Some((key, rest)) if key.trim() == name => {
                value = Some(rest.trim().to_string());
                true
            }
            _ => false,
        };
    }
    value
}

/// Text that stays one line wherever it is written: no line break, NUL or other control
/// character (a tab is whitespace to Postfix, so it is allowed).
pub fn one_line(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != '\t')
}

/// The rows that feed main.cf must each be one safe line (`postconf -e` refuses multi-line
/// input; a line break would add directives of the row's choosing), and a directive in
/// `managed` must come from one enabled row (with two, the run would report one value while
/// Postfix reads the other). Errors name the rows.
pub fn check_directive_rows(rows: &[ParamRow], managed: &[&str]) -> Result<()> {
    let parents: Vec<&ParamRow> = rows
        .iter()
        .filter(|r| r.is_parent() && r.is_enabled() && !r.param().trim().is_empty())
        .collect();
    let parent_ids: HashSet<String> = parents.iter().map(|r| r.id.to_string()).collect();
    let feeding = rows.iter().filter(|r| {
        r.is_enabled()
            && (r.is_parent()
                || r.child == Some(1)
                    && r.parent.as_deref().is_some_and(|p| parent_ids.contains(p)))
    });
    for row in feeding {
        if !one_line(row.param()) {
            return Err(Error::UnsafeRow(format!(
                "parameters#{}: its value holds a line break or control character, which \
                 would write more than one main.cf line; fix or disable the row",
                row.id
            )));
        }
    }
    let mut by_name: HashMap<&str, Vec<i64>> = HashMap::new();
    for parent in &parents {
        by_name
            .entry(parent.param().trim())
            .or_default()
            .push(parent.id);
    }
    for parent in parents
        .iter()
        .filter(|p| managed.contains(&p.param().trim()))
    {
        let id = parent.id.to_string();
        let values: Vec<String> = rows
            .iter()
            .filter(|r| r.child == Some(1) && r.is_enabled() && r.parent.as_deref() == Some(&id))
            .map(|r| format!("parameters#{}", r.id))
            .collect();
        if values.len() > 1 {
            return Err(Error::UnsafeRow(format!(
                "{} (parameters#{id}) has {} enabled value rows ({}): Postfix would read \
                 `{}` as a list and fall back to the next value; disable all but one",
                parent.param().trim(),
                values.len(),
                values.join(", "),
                parent.param().trim(),
            )));
        }
    }
    for name in managed {
        if let Some(ids) = by_name.get(name).filter(|ids| ids.len() > 1) {
            let rows: Vec<String> = ids.iter().map(|id| format!("parameters#{id}")).collect();
            return Err(Error::UnsafeRow(format!(
                "{name} is set by {} enabled rows ({}); Postfix would read only one, so \
                 disable all but one",
                ids.len(),
                rows.join(", ")
            )));
        }
    }
    Ok(())
}

/// Why a credential pair cannot be one sasl_passwd line `key<TAB>user:password`: a line break
/// would add map entries, a `:` or blank in the user would split it wrongly, and postmap strips
/// trailing whitespace. Never quotes the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineUnsafe {
    #[error("the username holds whitespace or a control character")]
    UserBlank,
    #[error("the username holds ':', which separates user and password in sasl_passwd")]
    UserColon,
    #[error("the password holds a line break (CR or LF) or NUL")]
    PasswordBreak,
    #[error("the password ends with whitespace, which postmap strips")]
    PasswordTrailingBlank,
}

/// The sasl_passwd line-safety rule for a username.
pub fn user_line_safe(user: &str) -> Result<(), LineUnsafe> {
    if user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(LineUnsafe::UserBlank);
    }
    if user.contains(':') {
        return Err(LineUnsafe::UserColon);
    }
    Ok(())
}

/// The sasl_passwd line-safety rule for a password.
pub fn password_line_safe(pass: &str) -> Result<(), LineUnsafe> {
    if pass.contains(['\r', '\n', '\0']) {
        return Err(LineUnsafe::PasswordBreak);
    }
    if pass.ends_with(char::is_whitespace) {
        return Err(LineUnsafe::PasswordTrailingBlank);
    }
    Ok(())
}

/// sasl_passwd rendered line by line (`key<TAB>user:password`) against the file on disk. While
/// every line so far matches the file, only a position in it is kept: the no-change run, which
/// every playbook pays on every host, builds no copy of a file that may hold 100,000 lines.
/// The first difference copies the matching prefix and builds the rest.
pub struct SaslWriter<'a> {
    existing: &'a str,
    missing: bool,
    /// Bytes of `existing` matched so far (always at a line start between pushes).
    pos: usize,
    built: Option<Zeroizing<String>>,
    /// Capacity for the built text, reserved once: a growing buffer would leave freed copies
    /// of passwords behind that no `Zeroizing` wipes.
    capacity: usize,
}

impl<'a> SaslWriter<'a> {
    /// `existing`: the file as it is (`None`: missing); `lines`: how many lines will come.
    pub fn new(existing: Option<&'a str>, lines: usize) -> SaslWriter<'a> {
        SaslWriter {
            existing: existing.unwrap_or(""),
            missing: existing.is_none(),
            pos: 0,
            built: None,
            capacity: existing.map_or(0, str::len).max(lines * 96) + 4096,
        }
    }

    /// One line; `key` is given in pieces (`[`, destination, `]:`, port) to save formatting it.
    pub fn line(&mut self, key: &[&str], user: &str, password: &str) {
        let parts = key.iter().copied().chain(["\t", user, ":", password, "\n"]);
        match &mut self.built {
            Some(text) => parts.for_each(|p| text.push_str(p)),
            None => {
                let mut at = self.pos;
                let mut same = true;
                for p in parts.clone() {
                    if !self.existing[at..].starts_with(p) {
                        same = false;
                        break;
                    }
                    at += p.len();
                }
                if same {
                    self.pos = at;
                } else {
                    let mut text = Zeroizing::new(String::with_capacity(self.capacity));
                    text.push_str(&self.existing[..self.pos]);
                    parts.for_each(|p| text.push_str(p));
                    self.built = Some(text);
                }
            }
        }
    }

    /// The new text, or `None` when it is exactly the file on disk.
    pub fn finish(self) -> Option<Zeroizing<String>> {
        match self.built {
            Some(text) => Some(text),
            None if self.pos == self.existing.len() && !self.missing => None,
            None => {
                let mut text = Zeroizing::new(String::with_capacity(self.pos));
                text.push_str(&self.existing[..self.pos]);
                Some(text)
            }
        }
    }
}

/// sasl_passwd with every password replaced by the mask. A line whose password differs in
/// `other` (same key, else the same line: a relay line whose host changed) gets `tag`
/// (`(old)`/`(new)`), so a rotation shows without showing anything. A line that does not
/// parse as `key user:password` (a comment too) is masked whole: it may hold a password.
pub fn mask_sasl(text: &str, other: &str, tag: &str) -> String {
    let other_entries: Vec<(&str, &str)> = other.lines().filter_map(split_entry).collect();
    let other_by_key: HashMap<&str, &str> = other_entries.iter().copied().collect();
    let mut out = String::new();
    let mut index = 0;
    for line in text.lines() {
        match split_entry(line) {
            None if line.trim().is_empty() => out.push_str(line),
            // A commented-out entry still holds its password.
            None => {
                out.push('#');
                out.push_str(MASK);
            }
            Some((key, value)) if !line.starts_with(char::is_whitespace) && value.contains(':') => {
                let (user, pass) = value.split_once(':').unwrap_or(("", value));
                let other_value = other_by_key
                    .get(key)
                    .or_else(|| other_entries.get(index).map(|(_, v)| v));
                let rotated = other_value
                    .is_some_and(|o| o.split_once(':').map_or(*o, |(_, o_pass)| o_pass) != pass);
                out.push_str(&format!("{key}\t{user}:{MASK}"));
                if rotated {
                    out.push(' ');
                    out.push_str(tag);
                }
                index += 1;
            }
            _ => {
                out.push_str(MASK);
                index += 1;
            }
        }
        out.push('\n');
    }
    out
}

fn split_entry(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let (key, value) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
    Some((key, value.trim()))
}

/// The map file suffix postmap produces for a `type:path` lookup table; `None` when the type
/// needs no postmap (texthash).
pub fn map_suffix(map: &str) -> Result<Option<&'static str>> {
    let kind = map.split_once(':').map_or("hash", |(kind, _)| kind);
    match kind {
        "hash" | "btree" => Ok(Some(".db")),
        "lmdb" => Ok(Some(".lmdb")),
        "cdb" => Ok(Some(".cdb")),
        "texthash" => Ok(None),
        other => Err(Error::DatabaseLayout(format!(
            "smtp_sasl_password_maps uses map type '{other}'; supported: hash, btree, lmdb, cdb, texthash"
        ))),
    }
}

#[cfg(test)]
mod edit_tests {
    use super::*;

    const OWNED: [&str; 3] = [
        "relayhost",
        "smtp_tls_security_level",
        "smtp_sasl_auth_enable",
    ];

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_owned_keys_change_and_equal_values_keep_their_bytes() {
        let base = "# head\nmyhostname=mail.example\nrelayhost =\n\
                    smtp_tls_security_level=may\nsmtpd_relay_restrictions = a,\n    b\n";
        let out = edit(
            base,
            &set(&[
                ("relayhost", "[smtp.example.com]:587"),
                ("smtp_tls_security_level", "may"),
            ]),
            &OWNED,
        );
        assert_eq!(
            out,
            "# head\nmyhostname=mail.example\nrelayhost = [smtp.example.com]:587\n\
             smtp_tls_security_level=may\nsmtpd_relay_restrictions = a,\n    b\n"
        );
        assert_eq!(
            edit(
                &out,
                &set(&[
                    ("relayhost", "[smtp.example.com]:587"),
                    ("smtp_tls_security_level", "may")
                ]),
                &OWNED
            ),
            out
        );
    }

    #[test]
    fn unwanted_owned_keys_go_with_their_continuations_and_empty_ones_stay() {
        let base = "relayhost =\nsmtp_sasl_auth_enable = yes\n  # note\nsmtp_tls_security_level =\n    encrypt\n\n# tail\nmynetworks = 127.0.0.0/8\n";
        let out = edit(base, &[], &OWNED);
        assert_eq!(
            out,
            "relayhost =\n  # note\n\n# tail\nmynetworks = 127.0.0.0/8\n"
        );
    }

    #[test]
    fn a_multi_line_owned_value_is_replaced_whole_and_missing_keys_appended() {
        let base = "smtp_tls_security_level =\n    may\nalias_maps = hash:/etc/aliases";
        let out = edit(
            base,
            &set(&[
                ("smtp_tls_security_level", "encrypt"),
                ("relayhost", "[r.example]:25"),
            ]),
            &OWNED,
        );
        assert_eq!(
            out,
            "smtp_tls_security_level = encrypt\nalias_maps = hash:/etc/aliases\nrelayhost = [r.example]:25\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> Result<String> {
        let vars = BTreeMap::from([("a".to_string(), "1".to_string())]);
        base(Path::new("t"), template, &vars)
    }

    #[test]
    fn a_recursive_partial_is_a_template_error_not_an_abort() {
        for template in [
            "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
            "x = {{> missing}}\n",
            "{{#> layout}}x{{/layout}}",
            "{{~> p}}",
        ] {
            let err = render(template).unwrap_err();
            assert_eq!(err.code(), "template_error", "{template}");
            assert!(err.to_string().contains("partials"), "{err}");
        }
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// Template text built from handlebars' own syntax and arbitrary characters.
        fn template() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("{{".to_string()),
                Just("}}".to_string()),
                Just("{{#if vars.a}}".to_string()),
                Just("{{/if}}".to_string()),
                Just("{{#each vars}}".to_string()),
                Just("{{/each}}".to_string()),
                Just("{{> p}}".to_string()),
                Just("{{#*inline \"p\"}}".to_string()),
                Just("{{/inline}}".to_string()),
                Just("{{vars.a}}".to_string()),
                Just("{{{{raw}}}}".to_string()),
                Just("{{~ else ~}}".to_string()),
                prop::string::string_regex("(?s).{0,6}").unwrap(),
            ];
            prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            /// Any template renders or fails as `template_error`: no panic, no abort.
            #[test]
            fn any_template_renders_or_is_a_template_error(text in template()) {
                if let Err(e) = render(&text) {
                    prop_assert_eq!(e.code(), "template_error");
                }
            }
        }
    }

    #[test]
    fn map_suffix_of_each_supported_type() {
        for (map, suffix) in [
            ("hash:/etc/postfix/sasl_passwd", Some(".db")),
            ("btree:/etc/postfix/sasl_passwd", Some(".db")),
            ("lmdb:/etc/postfix/sasl_passwd", Some(".lmdb")),
            ("cdb:/etc/postfix/sasl_passwd", Some(".cdb")),
            ("texthash:/etc/postfix/sasl_passwd", None),
            ("", Some(".db")),
        ] {
            assert_eq!(map_suffix(map).unwrap(), suffix, "{map}");
        }
        let err = map_suffix("mysql:/etc/postfix/mysql.cf").unwrap_err();
        assert_eq!(err.code(), "database_layout");
        assert!(err.to_string().contains("'mysql'"), "{err}");
    }

    #[test]
    fn templates_without_partials_pass_the_shape_check() {
        assert!(check_shape("a = {{vars.a}}\n{{#if vars.a}}b = 1{{/if}}\n").is_ok());
        assert!(check_shape("{{!-- a comment --}}\nx = {{{vars.a}}}\n").is_ok());
        assert!(check_shape("{{~> p ~}}").is_err());
        assert!(check_shape("{{ > p }}").is_err());
    }

    #[test]
    fn merge_appends_a_missing_directive_after_the_last_line() {
        let merged = merge(
            "# base\nbiff = no",
            &[("relayhost".into(), "[a.example]:25".into())],
        );
        assert!(merged.starts_with("# base\nbiff = no\n"), "{merged}");
        assert!(merged.ends_with("relayhost = [a.example]:25\n"), "{merged}");
    }

    #[test]
    fn deep_nesting_fails_fast() {
        let deep = "{{#if vars.a}}".repeat(10_000) + &"{{/if}}".repeat(10_000);
        let err = render(&deep).unwrap_err();
        assert!(err.to_string().contains("nested more than 32"), "{err}");
        let ok = "{{#if vars.a}}".repeat(32) + "x = {{vars.a}}\n" + &"{{/if}}".repeat(32);
        assert_eq!(render(&ok).unwrap(), "x = 1\n");
    }

    fn row(
        id: i64,
        parameter: &str,
        child: i64,
        parent: Option<i64>,
        order1: Option<f64>,
    ) -> ParamRow {
        ParamRow {
            id,
            parameter: Some(parameter.to_string()),
            name: None,
            parent: parent.map(|p| p.to_string()),
            child: Some(child),
            order1,
            enabled: 1,
            applied: Some(1),
            action: Some("NONE".into()),
        }
    }

    #[test]
    fn template_renders_vars_strictly() {
        let vars = BTreeMap::from([("host".to_string(), "a&b".to_string())]);
        let out = base(Path::new("t"), "myhostname = {{vars.host}}", &vars).unwrap();
        assert_eq!(out, "myhostname = a&b\n");
        let err = base(Path::new("t"), "a = 1\nx = {{vars.missing}}\n", &vars).unwrap_err();
        assert_eq!(err.code(), "template_error");
        assert_eq!(
            err.to_string(),
            "template t: line 2, column 5: variable 'missing' ({{vars.missing}}) has no value: \
             pass it in the 'vars' option, e.g. vars: {missing: ...}"
        );
        let plain = "biff = no\n# $myhostname stays\n";
        assert_eq!(
            base(Path::new("t"), plain, &BTreeMap::new()).unwrap(),
            plain
        );
    }

    #[test]
    fn directives_join_enabled_values_in_order() {
        let mut rows = vec![
            row(12, "mynetworks", 2, None, None),
            row(14, "10.0.0.0/8", 1, Some(12), Some(2.0)),
            row(13, "127.0.0.0/8", 1, Some(12), Some(1.0)),
            row(206, "smtp_sasl_password_maps", 2, None, None),
            row(
                207,
                "hash:/etc/postfix/sasl_passwd",
                1,
                Some(206),
                Some(1.0),
            ),
            row(300, "disabled_one", 2, None, None),
        ];
        rows[5].enabled = 0;
        let d = directives(&rows, "/etc/postfix");
        assert_eq!(
            d,
            vec![
                ("mynetworks".into(), "127.0.0.0/8, 10.0.0.0/8".into()),
                (
                    "smtp_sasl_password_maps".into(),
                    "hash:/etc/postfix/sasl_passwd".into()
                ),
            ]
        );
        let d = directives(&rows, "/srv/pf/");
        assert_eq!(d[1].1, "hash:/srv/pf/sasl_passwd");
    }

    #[test]
    fn only_path_starts_are_rewritten() {
        assert_eq!(rewrite_paths("hash:/etc/postfix/x", "/r"), "hash:/r/x");
        assert_eq!(
            rewrite_paths("/etc/postfix/a, /etc/postfix/b", "/r"),
            "/r/a, /r/b"
        );
        assert_eq!(
            rewrite_paths("/srv/etc/postfix/x", "/r"),
            "/srv/etc/postfix/x"
        );
        assert_eq!(rewrite_paths("plain", "/r"), "plain");
    }

    #[test]
    fn merge_replaces_like_postconf() {
        let base =
            "# head\nrelayhost = old\n  continued\n# kept\n  dropped\nbiff = no\nrelayhost=dup\n";
        let out = merge(
            base,
            &[
                ("relayhost".into(), "[a.example]:587".into()),
                ("new".into(), "".into()),
            ],
        );
        assert_eq!(
            out,
            "# head\nrelayhost = [a.example]:587\n# kept\nbiff = no\nrelayhost = [a.example]:587\nnew = \n"
        );
    }

    #[test]
    fn sasl_masking() {
        let mut w = SaslWriter::new(None, 1);
        w.line(&["[a.example]:587"], "u", "secret");
        let text = w.finish().unwrap();
        assert_eq!(text.as_str(), "[a.example]:587\tu:secret\n");
        let old = "[a.example]:587\tu:oldpw\n[b.example]:25 v:x\n";
        assert_eq!(
            mask_sasl(old, &text, "(old)"),
            "[a.example]:587\tu:******** (old)\n[b.example]:25\tv:********\n"
        );
        assert_eq!(
            mask_sasl(&text, &text, "(new)"),
            "[a.example]:587\tu:********\n"
        );
        assert_eq!(
            mask_sasl("# old\n#[c.example]:25 u:topsecret\n\n", "", "(old)"),
            "#********\n#********\n\n"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any text, control characters and line breaks included.
        fn text() -> impl Strategy<Value = String> {
            prop::string::string_regex("(?s).{0,12}").unwrap()
        }

        fn param_rows() -> impl Strategy<Value = Vec<ParamRow>> {
            let names = prop::sample::select(vec![
                "relayhost".to_string(),
                "smtp_tls_security_level".to_string(),
                "smtpd_banner".to_string(),
            ]);
            let name = prop_oneof![names, text()];
            prop::collection::vec(
                (name, prop::collection::vec(text(), 0..3), any::<bool>()),
                0..4,
            )
            .prop_map(|parents| {
                let mut rows = Vec::new();
                let mut id = 1;
                for (name, values, enabled) in parents {
                    let parent = id;
                    let mut parent_row = row(parent, &name, 2, None, None);
                    parent_row.enabled = i64::from(enabled);
                    rows.push(parent_row);
                    for (n, value) in values.iter().enumerate() {
                        id += 1;
                        let order = Some(f64::from(u8::try_from(n).unwrap_or(0)));
                        rows.push(row(id, value, 1, Some(parent), order));
                    }
                    id += 1;
                }
                rows
            })
        }

        proptest! {
            /// Whatever the rows hold, main.cf gets the base's lines and one `name = value`
            /// line per directive, or the rows are refused.
            #[test]
            fn main_cf_holds_only_intended_lines(rows in param_rows()) {
                let base = "# base\nbiff = no\nrelayhost =\n";
                if check_directive_rows(&rows, &crate::model::MANAGED).is_ok() {
                    let directives = directives(&rows, "/etc/postfix");
                    let merged = merge(base, &directives);
                    let intended: Vec<String> = directives
                        .iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .chain(base.lines().map(str::to_string))
                        .collect();
                    for line in merged.lines() {
                        prop_assert!(intended.iter().any(|l| l == line), "unintended line {line:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn sasl_writer_keeps_no_copy_of_an_unchanged_file() {
        let render = |existing: Option<&str>, lines: &[(&str, &str)]| {
            let mut w = SaslWriter::new(existing, lines.len());
            for (key, pass) in lines {
                w.line(&["[", key, "]:", "25"], "u", pass);
            }
            w.finish().map(|t| t.to_string())
        };
        let file = "[a]:25\tu:p1\n[b]:25\tu:p2\n";
        assert_eq!(render(Some(file), &[("a", "p1"), ("b", "p2")]), None);
        assert_eq!(
            render(Some(file), &[("a", "p1"), ("b", "p3")]).as_deref(),
            Some("[a]:25\tu:p1\n[b]:25\tu:p3\n")
        );
        assert_eq!(
            render(Some(file), &[("a", "p1")]).as_deref(),
            Some("[a]:25\tu:p1\n")
        );
        assert_eq!(
            render(Some("[a]:25\tu:p1\n"), &[("a", "p1"), ("b", "p2")]).as_deref(),
            Some(file)
        );
        assert_eq!(render(Some(""), &[]), None);
        assert_eq!(render(None, &[]).as_deref(), Some(""));
    }

    #[test]
    fn map_suffixes() {
        assert_eq!(
            map_suffix("hash:/etc/postfix/sasl_passwd").unwrap(),
            Some(".db")
        );
        assert_eq!(map_suffix("lmdb:/x").unwrap(), Some(".lmdb"));
        assert_eq!(map_suffix("texthash:/x").unwrap(), None);
        assert!(map_suffix("mysql:/x").is_err());
    }
}
