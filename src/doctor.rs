//! `doctor` / `check_only: true`: looks at a host without changing anything and says what
//! would make relaying fail — the failures peer roles leave to be found at send time.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use crate::args::{Args, HostType};
use crate::certificate;
use crate::crypto::Key;
use crate::error::Error;
use crate::failure::Failure;
use crate::files::PostfixDir;
use crate::load;
use crate::model::{
    PASSWORD_SETTING, RELAYHOST, SASL_AUTH, Snapshot, TRANSPORT_PASSWORD, TRANSPORT_USERNAME,
    USERNAME_SETTING, setting_label,
};
use crate::options::Request;
use crate::plan::{self, Inputs};
use crate::postfix::Postfix;
use crate::store::Scope;
use crate::validate::{self, Desired, Settings, Wanted};

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    /// Passed, but needs attention soon (also listed in the result's `warnings`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.0.push(Check {
            name,
            ok,
            detail: detail.into(),
            warning: false,
        });
    }

    fn warn(&mut self, name: &'static str, detail: impl Into<String>) {
        self.add(name, true, detail);
        if let Some(last) = self.0.last_mut() {
            last.warning = true;
        }
    }
}

/// What the doctor saw: its checks, and the stored rows and key when they could be read (the
/// read-only `relay_host_info` reports the relay settings from them).
pub struct Examination {
    pub checks: Vec<Check>,
    pub snapshot: Result<Snapshot, Error>,
    pub key: Option<Key>,
}

/// Runs every check it can; a check that cannot run is a failed check, not an abort, so the
/// report always shows as much as can be known.
pub fn doctor(args: Args) -> Result<Vec<Check>, Failure> {
    let (desired, settings) = validate::validate(args, Request::Doctor)?;
    Ok(examine(&desired, &settings).checks)
}

/// The doctor's checks over the settings, reading and never writing (no lock file either).
pub fn examine(desired: &Desired, settings: &Settings) -> Examination {
    let mut checks = Checks(Vec::new());
    let postfix = Postfix::new(&settings.postfix_exec, &settings.postfix_exec_dir);
    let dir = settings.postfix_dir.as_path();

    let plain = settings.host_type == HostType::Postfix;
    let key = match load::key(settings) {
        Ok(key) if plain => Some(key),
        Ok(key) => {
            checks.add(
                "key",
                true,
                format!("{} is a valid AES-256 key", settings.key_file.display()),
            );
            Some(key)
        }
        Err(e) => {
            checks.add("key", false, e.to_string());
            None
        }
    };
    let base = load::base_template(settings);
    if let Err(e) = &base {
        checks.add("template", false, e.to_string());
    }
    let snapshot = settings
        .database
        .open(false)
        .and_then(|mut store| store.load(Scope::All));
    let (snapshot, files) = match snapshot {
        Err(e) => {
            checks.add("database", false, e.to_string());
            return Examination {
                checks: checks.0,
                snapshot: Err(e),
                key,
            };
        }
        Ok(snapshot) => match load::files(&snapshot, dir, None) {
            Ok(files) => (snapshot, files),
            Err(e) => {
                checks.add("database", false, e.to_string());
                return Examination {
                    checks: checks.0,
                    snapshot: Ok(snapshot),
                    key,
                };
            }
        },
    };
    if plain {
        checks.add(
            "database",
            true,
            "no database: the relay settings are read from main.cf and sasl_passwd",
        );
    } else {
        checks.add("database", true, "the relay rows are readable");
    }

    if let Some(key) = &key
        && !plain
    {
        credentials(&mut checks, &snapshot, key);
    }
    sasl_plugins(&mut checks, &postfix);
    let map = snapshot.password_map().unwrap_or("hash:").to_string();
    map_type(&mut checks, &postfix, &map);
    relay_key(
        &mut checks,
        &snapshot,
        files.sasl_passwd.as_deref().map(String::as_str),
    );
    running_relayhost(&mut checks, &postfix, &snapshot);
    modes(
        &mut checks,
        dir,
        crate::render::map_suffix(&map).ok().flatten(),
        files.map_stale,
    );
    relay_certificate(&mut checks, &snapshot, settings);

    if let (Some(key), Ok(base)) = (&key, &base) {
        let inputs = Inputs {
            snapshot: &snapshot,
            files: &files,
            key,
            base,
            exec_dir: &settings.postfix_exec_dir,
            postfix_dir: dir,
            edit_in_place: settings.host_type == crate::args::HostType::Postfix,
        };
        let name = match desired.relay {
            Wanted::Keep => "drift",
            _ => "desired",
        };
        match plan::plan(desired, &inputs) {
            Ok(plan) if plan.is_noop() => {
                checks.add(name, true, "rows, main.cf, sasl_passwd and its map agree")
            }
            Ok(plan) => {
                let mut what = Vec::new();
                if !plan.edits.is_empty() {
                    what.push("rows differ from the wanted settings".to_string());
                }
                if !plan.pending.is_empty() {
                    what.push(format!(
                        "rows pending (applied = 2): {}",
                        plan.pending.join(", ")
                    ));
                }
                if let Some(main_cf) = &plan.main_cf {
                    what.extend(main_cf_drift(files.main_cf.as_deref(), main_cf));
                }
                if let Some(sasl) = &plan.sasl {
                    what.extend(sasl_drift(&files, sasl, &postfix));
                }
                checks.add(name, false, what.join("; "));
            }
            Err(e) => checks.add(name, false, e.to_string()),
        }
    }
    Examination {
        checks: checks.0,
        snapshot: Ok(snapshot),
        key,
    }
}

/// With a relay TLS policy (`tls: verify`/`secure`), the relay's certificate as Postfix will
/// judge it: a chain or name Postfix refuses fails, fewer than
/// [`certificate::EXPIRY_WARNING_DAYS`] days to expiry warns. Without one, no connection.
fn relay_certificate(checks: &mut Checks, snapshot: &Snapshot, settings: &Settings) {
    let Some(relay) = crate::info::policy_relay(snapshot, settings) else {
        return;
    };
    let relay = match relay {
        Ok(relay) => relay,
        Err(e) => return checks.add("relay_certificate", false, e.to_string()),
    };
    match certificate::inspect(&relay) {
        Err(e) => checks.add("relay_certificate", false, e.to_string()),
        Ok(report) if !report.ok() => checks.add("relay_certificate", false, report.summary()),
        Ok(report) if report.days_left < certificate::EXPIRY_WARNING_DAYS => checks.warn(
            "relay_certificate",
            format!(
                "{}: under {} days left, renew it before Postfix refuses it",
                report.summary(),
                certificate::EXPIRY_WARNING_DAYS
            ),
        ),
        Ok(report) => checks.add("relay_certificate", true, report.summary()),
    }
}

/// What differs between the installed main.cf and the one the rows make, a line each: the
/// directives by name (main.cf holds no secret), else the first differing line.
fn main_cf_drift(installed: Option<&str>, wanted: &str) -> Vec<String> {
    let Some(installed) = installed else {
        return vec!["main.cf: missing".to_string()];
    };
    let (have, want) = (directives(installed), directives(wanted));
    let mut out = Vec::new();
    for (name, value) in &want {
        match have.iter().find(|(n, _)| n == name) {
            None => out.push(format!("main.cf: no {name}, expected `{value}`")),
            Some((_, v)) if v != value => {
                out.push(format!("main.cf: {name} is `{v}`, expected `{value}`"))
            }
            Some(_) => {}
        }
    }
    for (name, value) in &have {
        if !want.iter().any(|(n, _)| n == name) {
            out.push(format!(
                "main.cf: {name} = `{value}` is not in the wanted config"
            ));
        }
    }
    if out.is_empty() {
        let line = installed
            .lines()
            .zip(wanted.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| installed.lines().count().min(wanted.lines().count()));
        out.push(format!(
            "main.cf: line {} differs from the template's (comments or layout)",
            line + 1
        ));
    }
    out
}

/// `name = value` directives, continuation lines joined, comments and blanks skipped.
fn directives(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// Why sasl_passwd or its map would be rewritten, by line key (never a password): missing,
/// extra or differing lines, the modes, a missing or stale map, a map answering otherwise.
fn sasl_drift(files: &load::FileState, sasl: &plan::SaslFile, postfix: &Postfix) -> Vec<String> {
    let mut out = Vec::new();
    match files.sasl_passwd.as_deref() {
        None => out.push("sasl_passwd: missing".to_string()),
        Some(installed) => out.extend(line_drift(installed, &sasl.text)),
    }
    if let Some(mode) = files.sasl_mode.filter(|m| m & 0o077 != 0) {
        out.push(format!("sasl_passwd: mode {mode:o}, expected 600"));
    }
    if let Some(suffix) = sasl.map_suffix {
        let map = format!("sasl_passwd{suffix}");
        match files.map_mode {
            None => out.push(format!("map: {map} is missing")),
            Some(mode) if mode & 0o077 != 0 => {
                out.push(format!("map: {map} is mode {mode:o}, expected 600"))
            }
            Some(_) if files.map_stale => out.push(format!(
                "map: {map} is older than sasl_passwd or not the one the last run built"
            )),
            Some(_) => {}
        }
        if files.map_mode.is_some()
            && let Some((key, expected)) = &sasl.relay_entry
        {
            match postfix.query(&sasl.map_type, PostfixDir::SASL_PASSWD, key) {
                Ok(Some(answer)) if answer.as_str() != expected.as_str() => out.push(format!(
                    "map: answers other credentials (an old password?) for `{key}`"
                )),
                Ok(None) => out.push(format!("map: has no entry for `{key}`")),
                Ok(Some(_)) => {}
                Err(e) => out.push(format!("map: cannot be queried: {e}")),
            }
        }
    }
    if out.is_empty() {
        out.push("sasl_passwd: to be rewritten".to_string());
    }
    out
}

/// The keys whose lines differ between two sasl_passwd texts; values are never shown.
fn line_drift(installed: &str, wanted: &str) -> Vec<String> {
    let entries = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|l| {
                let mut words = l.split_whitespace();
                let key = words.next().unwrap_or_default().to_string();
                (key, words.collect::<Vec<_>>().join(" "))
            })
            .collect()
    };
    let (have, want) = (entries(installed), entries(wanted));
    let mut out = Vec::new();
    for (key, value) in &want {
        match have.iter().find(|(k, _)| k == key) {
            None => out.push(format!("sasl_passwd: no line for `{key}`")),
            Some((_, v)) if v != value => {
                out.push(format!("sasl_passwd: line for `{key}` differs"))
            }
            Some(_) => {}
        }
    }
    for (key, _) in &have {
        if !want.iter().any(|(k, _)| k == key) {
            out.push(format!("sasl_passwd: line for `{key}` is not wanted"));
        }
    }
    if out.is_empty() && installed != wanted {
        out.push("sasl_passwd: same lines, other order or spacing".to_string());
    }
    out
}

/// The key must decrypt every stored credential: a rotation gone wrong shows here first.
fn credentials(checks: &mut Checks, snapshot: &Snapshot, key: &Key) {
    let mut values: Vec<(String, &str)> = vec![
        (
            setting_label(USERNAME_SETTING),
            snapshot.username_cipher.as_deref().unwrap_or(""),
        ),
        (
            setting_label(PASSWORD_SETTING),
            snapshot.password_cipher.as_deref().unwrap_or(""),
        ),
    ];
    for t in &snapshot.transports {
        values.push((
            t.column_label(TRANSPORT_USERNAME),
            t.username_cipher.as_deref().unwrap_or(""),
        ));
        values.push((
            t.column_label(TRANSPORT_PASSWORD),
            t.password_cipher.as_deref().unwrap_or(""),
        ));
    }
    let bad: Vec<String> = values
        .iter()
        .filter(|(row, v)| key.decrypt(v, row).is_err())
        .map(|(row, _)| row.clone())
        .collect();
    if bad.is_empty() {
        checks.add(
            "credentials",
            true,
            format!("the key decrypts all {} stored values", values.len()),
        );
    } else {
        checks.add(
            "credentials",
            false,
            format!("the key does not decrypt: {}", bad.join(", ")),
        );
    }
}

/// Without libsasl2-modules Postfix fails with "no worthy mechs found" at send time.
fn sasl_plugins(checks: &mut Checks, postfix: &Postfix) {
    let listing = postfix.shell("ls /usr/lib/*/sasl2 /usr/lib/sasl2 2>/dev/null");
    match listing {
        Ok(text) if text.contains("libplain") || text.contains("liblogin") => checks.add(
            "sasl_plugins",
            true,
            "PLAIN/LOGIN client plugins are installed",
        ),
        Ok(_) => checks.add(
            "sasl_plugins",
            false,
            "no PLAIN/LOGIN SASL plugin found: install libsasl2-modules where Postfix runs",
        ),
        Err(e) => checks.add("sasl_plugins", false, e.to_string()),
    }
}

fn map_type(checks: &mut Checks, postfix: &Postfix, map: &str) {
    let kind = map.split(':').next().unwrap_or("hash");
    match postfix.map_types() {
        Ok(types) if types.iter().any(|t| t == kind) => {
            checks.add("map_type", true, format!("Postfix supports '{kind}' maps"))
        }
        Ok(_) => checks.add(
            "map_type",
            false,
            format!("Postfix does not support '{kind}' maps"),
        ),
        Err(e) => checks.add("map_type", false, e.to_string()),
    }
}

/// SASL is silently unused unless the sasl_passwd key equals the relayhost value exactly.
fn relay_key(checks: &mut Checks, snapshot: &Snapshot, sasl_passwd: Option<&str>) {
    let relay = snapshot
        .parent(RELAYHOST)
        .filter(|p| p.is_enabled())
        .and_then(|p| snapshot.values_of(p).first().map(|v| v.param().to_string()));
    let auth_on = snapshot.parent(SASL_AUTH).is_some_and(|p| p.is_enabled());
    let (Some(relay), true) = (relay, auth_on) else {
        checks.add("relay_key", true, "no authenticated relay configured");
        return;
    };
    let keys: Vec<&str> = sasl_passwd
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if keys.iter().any(|k| k.eq_ignore_ascii_case(&relay)) {
        checks.add(
            "relay_key",
            true,
            format!("sasl_passwd has a line for {relay}"),
        );
    } else {
        checks.add(
            "relay_key",
            false,
            format!("sasl_passwd has no line keyed exactly {relay}"),
        );
    }
}

/// What Postfix itself reads from the installed main.cf (through the container prefix).
fn running_relayhost(checks: &mut Checks, postfix: &Postfix, snapshot: &Snapshot) {
    let stored = snapshot
        .parent(RELAYHOST)
        .filter(|p| p.is_enabled())
        .and_then(|p| snapshot.values_of(p).first().map(|v| v.param().to_string()))
        .unwrap_or_default();
    match postfix.parameter(RELAYHOST) {
        Ok(live) if live == stored => checks.add(
            "postfix_relayhost",
            true,
            format!("Postfix reads relayhost = {live}"),
        ),
        Ok(live) => checks.add(
            "postfix_relayhost",
            false,
            format!("Postfix reads relayhost = {live:?}, the database says {stored:?}"),
        ),
        Err(e) => checks.add("postfix_relayhost", false, e.to_string()),
    }
}

/// Peer roles leaked passwords through a world-readable map: both files 0600, owned by root;
/// and a sasl_passwd without its map (or with a stale one) is a relay that fails at send time.
fn modes(checks: &mut Checks, dir: &Path, map_suffix: Option<&str>, map_stale: bool) {
    let mut names = vec![PostfixDir::SASL_PASSWD.to_string()];
    let mut problems = Vec::new();
    if let Some(suffix) = map_suffix {
        let map = format!("sasl_passwd{suffix}");
        let exists = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
        if exists(PostfixDir::SASL_PASSWD) && !exists(&map) {
            problems.push(format!("{map} is missing (run postmap, or apply)"));
        } else if exists(&map) && map_stale {
            problems.push(format!(
                "{map} is stale: older than sasl_passwd, or not the one the last run built"
            ));
        }
        names.push(map);
    }
    for name in &names {
        match std::fs::metadata(dir.join(name)) {
            Ok(meta) if meta.mode() & 0o077 != 0 => {
                problems.push(format!("{name} is mode {:o}", meta.mode() & 0o7777))
            }
            Ok(meta) if meta.uid() != 0 => {
                problems.push(format!("{name} is owned by uid {}", meta.uid()))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if problems.is_empty() {
        checks.add(
            "file_modes",
            true,
            "sasl_passwd and its map are 0600 root (or absent)",
        );
    } else {
        checks.add("file_modes", false, problems.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_cf_drift_names_directives_and_their_values() {
        let wanted = "a = 1\nrelayhost = [b.example]:587\nsmtp_sasl_auth_enable = yes\n";
        let installed = "a = 1\nrelayhost = [a.example]:25\nextra = x\n";
        assert_eq!(
            main_cf_drift(Some(installed), wanted),
            [
                "main.cf: relayhost is `[a.example]:25`, expected `[b.example]:587`",
                "main.cf: no smtp_sasl_auth_enable, expected `yes`",
                "main.cf: extra = `x` is not in the wanted config",
            ]
        );
        assert_eq!(main_cf_drift(None, wanted), ["main.cf: missing"]);
    }

    #[test]
    fn main_cf_drift_of_comments_names_the_line() {
        let wanted = "# ours\na = 1\n";
        assert_eq!(
            main_cf_drift(Some("# theirs\na = 1\n"), wanted),
            ["main.cf: line 1 differs from the template's (comments or layout)"]
        );
    }

    #[test]
    fn directives_join_continuation_lines_and_skip_comments() {
        let text = "# c\nmynetworks = 127.0.0.0/8,\n    10.0.0.0/8\n\nrelayhost =\n";
        assert_eq!(
            directives(text),
            [
                (
                    "mynetworks".to_string(),
                    "127.0.0.0/8, 10.0.0.0/8".to_string()
                ),
                ("relayhost".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn line_drift_names_keys_never_values() {
        let wanted = "[a]:587\tu:secret-new\n[b]:25\tv:pw\n";
        let installed = "[a]:587\tu:secret-old\n[c]:25\tw:pw\n";
        let drift = line_drift(installed, wanted);
        assert_eq!(
            drift,
            [
                "sasl_passwd: line for `[a]:587` differs",
                "sasl_passwd: no line for `[b]:25`",
                "sasl_passwd: line for `[c]:25` is not wanted",
            ]
        );
        assert!(!drift.concat().contains("secret"));
        assert_eq!(
            line_drift("[a]:587  u:p\n", "[a]:587\tu:p\n"),
            ["sasl_passwd: same lines, other order or spacing"]
        );
        assert!(line_drift("[a]:587\tu:p\n", "[a]:587\tu:p\n").is_empty());
    }
}
