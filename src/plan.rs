//! The pure heart: desired state + what is stored and on disk → the exact row writes, file
//! contents and diff of a Hermes save. No I/O here, so check mode is "plan and report".

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::load::FileState;
use crate::model::{
    Change, PASSWORD_MAPS, PASSWORD_SETTING, ParamRow, RELAYHOST, SASL_AUTH, SASL_SECURITY_OPTIONS,
    SASL_TLS_SECURITY_OPTIONS, Snapshot, TLS_LEVEL, TransportCreds, TransportRow, USERNAME_SETTING,
    WRAPPERMODE,
};
use crate::render::{self, MASK, SaslEntry};
use crate::validate::{Desired, Relay, Wanted};

/// Everything besides the desired state that the plan depends on.
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub files: &'a FileState,
    pub key: &'a Key,
    /// The rendered base template.
    pub base: &'a str,
    pub exec_dir: &'a str,
    pub postfix_dir: &'a Path,
    /// Build the diff (diff mode); skipped otherwise, it costs a pass over sasl_passwd.
    pub want_diff: bool,
}

/// The new sasl_passwd and the map postmap must build from it.
pub struct SaslFile {
    pub text: Zeroizing<String>,
    pub map_type: String,
    /// `None` for texthash, which Postfix reads without postmap.
    pub map_suffix: Option<&'static str>,
    /// The relay line's key and `user:password`, to check the built map answers with them.
    pub relay_entry: Option<(String, Zeroizing<String>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffEntry {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

#[derive(Default)]
pub struct Plan {
    /// Row writes of the save itself; changed `parameters` rows go pending (`applied = 2`).
    pub edits: Vec<Change>,
    /// After main.cf is installed: every pending row becomes applied.
    pub marks: Vec<Change>,
    pub main_cf: Option<String>,
    pub sasl: Option<SaslFile>,
    pub diff: Vec<DiffEntry>,
    pub warnings: Vec<String>,
    /// Rows other Hermes pages left pending that this run applies.
    pub pending: Vec<String>,
    /// The relay login this plan commits (auth on), for the live probe.
    pub login: Option<(String, SecretString)>,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.edits.is_empty()
            && self.marks.is_empty()
            && self.main_cf.is_none()
            && self.sasl.is_none()
    }
}

/// A relay directive: its parent row and first value row, by index into the working rows.
#[derive(Clone, Copy)]
struct Directive {
    parent: usize,
    value: usize,
}

struct Creds {
    user: SecretString,
    pass: SecretString,
}

pub fn plan(desired: &Desired, inputs: &Inputs) -> Result<Plan> {
    let snap = inputs.snapshot;
    let key = inputs.key;
    let mut rows = snap.params.clone();
    let index: HashMap<i64, usize> = rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let [relay, sasl, maps, tls] = relay_directives(snap, &index)?;

    let stored = Creds {
        user: key.decrypt(
            snap.username.as_deref().unwrap_or(""),
            "system_settings.relay_host_username",
        )?,
        pass: key.decrypt(
            snap.password.as_deref().unwrap_or(""),
            "system_settings.relay_host_password",
        )?,
    };
    let legacy = legacy_creds(&stored, &rows[maps.parent]);
    if legacy.is_some() {
        rows[maps.parent].name = Some(String::new());
    }
    let current = legacy.unwrap_or(Creds {
        user: stored.user.clone(),
        pass: stored.pass.clone(),
    });

    let new_creds = match &desired.relay {
        Wanted::Keep => Some(current),
        Wanted::Absent => {
            set(
                &mut rows,
                relay,
                |p| p.enabled = 0,
                |v| {
                    v.parameter = Some(String::new());
                    v.name = Some(String::new());
                    v.enabled = 0;
                },
            );
            disable_auth(&mut rows, sasl, maps);
            rows[maps.parent].name = Some(String::new());
            set(&mut rows, tls, |p| p.enabled = 0, |v| v.enabled = 0);
            None
        }
        Wanted::Present(relay_wanted) => {
            let literal = relay_wanted.host.relay_literal(relay_wanted.port);
            let host = relay_wanted.host.to_string();
            set(
                &mut rows,
                relay,
                |p| p.enabled = 1,
                |v| {
                    v.parameter = Some(literal);
                    v.name = Some(host);
                    v.enabled = 1;
                },
            );
            match relay_wanted.tls.security_level() {
                None => set(&mut rows, tls, |p| p.enabled = 0, |v| v.enabled = 0),
                Some(level) => {
                    set(
                        &mut rows,
                        tls,
                        |p| p.enabled = 1,
                        |v| {
                            v.parameter = Some(level.to_string());
                            v.enabled = 1;
                        },
                    );
                }
            }
            let auth_on = relay_wanted
                .auth
                .on
                .unwrap_or(rows[sasl.parent].is_enabled());
            if auth_on {
                let creds = wanted_creds(relay_wanted, &current)?;
                set(
                    &mut rows,
                    sasl,
                    |p| p.enabled = 1,
                    |v| {
                        v.parameter = Some("yes".to_string());
                        v.enabled = 1;
                    },
                );
                set(
                    &mut rows,
                    maps,
                    |p| {
                        p.enabled = 1;
                        p.name = Some(String::new());
                    },
                    |v| v.enabled = 1,
                );
                Some(creds)
            } else {
                if relay_wanted.auth.password.is_some() {
                    return Err(Error::ConflictingOptions(
                        "a password is given but authentication is off: set auth and username"
                            .to_string(),
                    ));
                }
                disable_auth(&mut rows, sasl, maps);
                None
            }
        }
    };

    let wrapper = match &desired.relay {
        Wanted::Keep => None,
        Wanted::Absent => Some(None),
        Wanted::Present(r) => Some(r.tls.wrapper_mode().then_some("yes")),
    };
    let mut plan = Plan::default();
    for (name, wanted) in [
        (WRAPPERMODE, wrapper),
        (
            SASL_SECURITY_OPTIONS,
            desired.sasl_security_options.as_deref().map(Some),
        ),
        (
            SASL_TLS_SECURITY_OPTIONS,
            desired.sasl_tls_security_options.as_deref().map(Some),
        ),
    ] {
        if let Some(wanted) = wanted
            && let Some(new) = extra_directive(&mut rows, name, wanted)?
        {
            plan.edits.push(new);
        }
    }
    for (before, after) in snap.params.iter().zip(rows.iter_mut()) {
        if before.editable() != after.editable() {
            after.applied = Some(2);
            after.action = Some("APPLY".to_string());
            plan.edits.push(Change::Param {
                before: before.clone(),
                after: after.clone(),
            });
        }
    }
    let (user_cipher, pass_cipher) = match &new_creds {
        Some(c) => (
            keep_or_encrypt(key, &stored.user, snap.username.as_deref(), &c.user),
            keep_or_encrypt(key, &stored.pass, snap.password.as_deref(), &c.pass),
        ),
        None => (String::new(), String::new()),
    };
    for (parameter, before, after) in [
        (USERNAME_SETTING, &snap.username, user_cipher),
        (PASSWORD_SETTING, &snap.password, pass_cipher),
    ] {
        if before.as_deref() != Some(after.as_str()) {
            plan.edits.push(Change::Setting {
                parameter,
                before: before.clone(),
                after,
            });
        }
    }

    let transports = domain_credentials(desired, snap, key, &mut plan)?;

    let edited: Vec<i64> = plan.edits.iter().filter_map(param_id).collect();
    for row in rows.iter_mut().filter(|r| r.is_pending()) {
        if !edited.contains(&row.id) {
            plan.pending
                .push(format!("parameters#{} {}", row.id, row.param()));
        }
        let before = row.clone();
        row.applied = Some(1);
        row.action = Some("NONE".to_string());
        plan.marks.push(Change::Param {
            before,
            after: row.clone(),
        });
    }

    let directives = render::directives(&rows, inputs.exec_dir);
    check_values(&directives)?;
    let main_cf = render::merge(inputs.base, &directives);
    if inputs.files.main_cf.as_deref() != Some(main_cf.as_str()) {
        plan.main_cf = Some(main_cf);
    }

    let relay_value = &rows[relay.value];
    let mut entries = Vec::new();
    if let Some(c) = &new_creds {
        let line_wanted = rows[sasl.parent].is_enabled()
            && relay_value.is_enabled()
            && !relay_value.param().is_empty()
            && !c.user.expose_secret().is_empty()
            && !c.pass.expose_secret().is_empty();
        if line_wanted {
            sasl_safe(c.user.expose_secret(), c.pass.expose_secret()).map_err(|why| {
                Error::InvalidPassword(format!(
                    "the stored relay credentials cannot go into sasl_passwd ({why}): set new ones"
                ))
            })?;
            entries.push(SaslEntry {
                key: relay_value.param().to_string(),
                user: c.user.expose_secret().to_string(),
                password: c.pass.clone(),
            });
        }
    }
    transport_entries(&transports, key, &mut entries, &mut plan.warnings)?;
    let text = render::sasl_passwd(&entries);
    let map_type = rows[maps.value].param().to_string();
    let map_suffix = render::map_suffix(&map_type)?;
    let files = inputs.files;
    let unsafe_mode = |m: Option<u32>| m.is_some_and(|m| m & 0o077 != 0);
    let map_stale = map_suffix.is_some()
        && (files.map_mode.is_none() || unsafe_mode(files.map_mode) || files.map_older);
    if files.sasl_passwd.as_deref().map(String::as_str) != Some(text.as_str())
        || unsafe_mode(files.sasl_mode)
        || map_stale
    {
        let relay_entry = entries
            .first()
            .filter(|e| e.key == relay_value.param())
            .map(|e| {
                let value = format!("{}:{}", e.user, e.password.expose_secret());
                (e.key.clone(), Zeroizing::new(value))
            });
        plan.sasl = Some(SaslFile {
            text,
            map_type: map_type.split(':').next().unwrap_or("hash").to_string(),
            map_suffix,
            relay_entry,
        });
    }

    if let (Wanted::Present(_), true) = (&desired.relay, rows[sasl.parent].is_enabled()) {
        plan.login = new_creds
            .as_ref()
            .map(|c| (c.user.expose_secret().to_string(), c.pass.clone()));
    }
    if inputs.want_diff {
        plan.diff = diff(&plan, inputs, &stored, new_creds.as_ref());
    }
    Ok(plan)
}

/// Values Postfix checks only when a daemon uses them: a bad one would pass `postconf -n` and
/// fail at delivery time, so the directives we manage are checked here.
fn check_values(directives: &[(String, String)]) -> Result<()> {
    const LEVELS: [&str; 9] = [
        "",
        "none",
        "may",
        "encrypt",
        "dane",
        "dane-only",
        "fingerprint",
        "verify",
        "secure",
    ];
    for (name, value) in directives {
        let ok = match name.as_str() {
            TLS_LEVEL => LEVELS.contains(&value.as_str()),
            SASL_AUTH | WRAPPERMODE => matches!(value.as_str(), "yes" | "no"),
            _ => true,
        };
        if !ok {
            return Err(Error::PostfixConfig(format!(
                "{name} = {value:?} is not a value Postfix accepts"
            )));
        }
    }
    Ok(())
}

fn param_id(change: &Change) -> Option<i64> {
    match change {
        Change::Param { after, .. } => Some(after.id),
        _ => None,
    }
}

/// `transport_auth`: new credentials on every `transport` row of each domain (the Domains
/// page's per-domain relay). Returns the rows as they will be, for sasl_passwd.
fn domain_credentials<'a>(
    desired: &Desired,
    snap: &'a Snapshot,
    key: &Key,
    plan: &mut Plan,
) -> Result<Cow<'a, [TransportRow]>> {
    if desired.transport_auth.is_empty() {
        return Ok(Cow::Borrowed(&snap.transports));
    }
    let mut transports = snap.transports.clone();
    for wanted in &desired.transport_auth {
        let mut found = false;
        for t in transports.iter_mut().filter(|t| {
            t.domain
                .as_deref()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case(&wanted.domain))
        }) {
            found = true;
            let label = format!("transport#{} ({})", t.id, wanted.domain);
            // A stored value the key cannot read is simply replaced.
            let plain = |stored: &Option<String>, column: &str| {
                key.decrypt(
                    stored.as_deref().unwrap_or(""),
                    &format!("{label}.{column}"),
                )
                .unwrap_or_else(|_| SecretString::from(String::new()))
            };
            let before = t.creds();
            let authentication = match &t.authentication {
                Some(a) if a.eq_ignore_ascii_case("YES") => a.clone(),
                _ => "YES".to_string(),
            };
            let after = TransportCreds {
                authentication: Some(authentication),
                username: Some(keep_or_encrypt(
                    key,
                    &plain(&t.username, "authentication_username"),
                    t.username.as_deref(),
                    &SecretString::from(wanted.username.clone()),
                )),
                password: Some(keep_or_encrypt(
                    key,
                    &plain(&t.password, "authentication_password"),
                    t.password.as_deref(),
                    &wanted.password,
                )),
            };
            if after != before {
                t.authentication = after.authentication.clone();
                t.username = after.username.clone();
                t.password = after.password.clone();
                plan.edits.push(Change::Transport {
                    id: t.id,
                    before,
                    after,
                });
            }
        }
        if !found {
            return Err(Error::InvalidArgs(format!(
                "option 'transport_auth': no transport row has domain '{}'",
                wanted.domain
            )));
        }
    }
    Ok(Cow::Owned(transports))
}

/// The four directives the page edits; a layout without them is not a Hermes database.
fn relay_directives(snap: &Snapshot, index: &HashMap<i64, usize>) -> Result<[Directive; 4]> {
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for name in [RELAYHOST, SASL_AUTH, PASSWORD_MAPS, TLS_LEVEL] {
        match snap.parent(name) {
            None => missing.push(format!("{name} (parent row, child = 2)")),
            Some(parent) => match snap.values_of(parent).first() {
                None => missing.push(format!(
                    "{name} (value row, child = 1, parent = {})",
                    parent.id
                )),
                Some(value) => found.push(Directive {
                    parent: index[&parent.id],
                    value: index[&value.id],
                }),
            },
        }
    }
    if !missing.is_empty() {
        return Err(Error::DatabaseLayout(format!(
            "parameters lacks the relay rows: {}",
            missing.join(", ")
        )));
    }
    Ok([found[0], found[1], found[2], found[3]])
}

/// A directive the page does not have (implicit TLS, SASL security options), in the same
/// dual-row form so Hermes's own generator applies it too. `wanted: None` disables it where it
/// exists; a missing one is created (rows appended for rendering, inserted by the store).
fn extra_directive(
    rows: &mut Vec<ParamRow>,
    name: &str,
    wanted: Option<&str>,
) -> Result<Option<Change>> {
    let Some(parent) = rows.iter().position(|r| r.is_parent() && r.param() == name) else {
        let Some(value) = wanted else { return Ok(None) };
        let id = rows.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        let row = |id, parameter: &str, parent: Option<String>, child| ParamRow {
            id,
            parameter: Some(parameter.to_string()),
            name: None,
            parent,
            child: Some(child),
            order1: (child == 1).then_some(1.0),
            enabled: 1,
            applied: Some(1),
            action: Some("NONE".to_string()),
        };
        rows.push(row(id, name, None, 2));
        rows.push(row(id + 1, value, Some(id.to_string()), 1));
        return Ok(Some(Change::NewDirective {
            name: name.to_string(),
            value: value.to_string(),
        }));
    };
    let parent_id = rows[parent].id.to_string();
    let value = rows
        .iter()
        .position(|r| r.child == Some(1) && r.parent.as_deref() == Some(parent_id.as_str()))
        .ok_or_else(|| {
            Error::DatabaseLayout(format!(
                "parameters lacks the rows: {name} (value row, child = 1, parent = {parent_id})"
            ))
        })?;
    let d = Directive { parent, value };
    match wanted {
        Some(v) => set(
            rows,
            d,
            |p| p.enabled = 1,
            |r| {
                r.parameter = Some(v.to_string());
                r.enabled = 1;
            },
        ),
        None => set(rows, d, |p| p.enabled = 0, |r| r.enabled = 0),
    }
    Ok(None)
}

fn set(
    rows: &mut [ParamRow],
    d: Directive,
    parent: impl FnOnce(&mut ParamRow),
    value: impl FnOnce(&mut ParamRow),
) {
    parent(&mut rows[d.parent]);
    value(&mut rows[d.value]);
}

fn disable_auth(rows: &mut [ParamRow], sasl: Directive, maps: Directive) {
    set(
        rows,
        sasl,
        |p| p.enabled = 0,
        |v| {
            v.parameter = Some("no".to_string());
            v.enabled = 0;
        },
    );
    set(rows, maps, |p| p.enabled = 0, |v| v.enabled = 0);
}

/// Hermes's one-shot migration of the plaintext `user:pass` once kept in the password_maps
/// parent's `name`, split at the first `:` (Hermes splits at every `:`, cutting passwords).
fn legacy_creds(stored: &Creds, maps_parent: &ParamRow) -> Option<Creds> {
    if !stored.user.expose_secret().is_empty() || !stored.pass.expose_secret().is_empty() {
        return None;
    }
    let (user, pass) = maps_parent.name.as_deref()?.split_once(':')?;
    Some(Creds {
        user: SecretString::from(user.to_string()),
        pass: SecretString::from(pass.to_string()),
    })
}

/// Hermes codes 5 and 6: given values win, else the stored ones are kept.
fn wanted_creds(relay: &Relay, current: &Creds) -> Result<Creds> {
    let user = match &relay.auth.username {
        Some(u) => u.clone(),
        None => current.user.expose_secret().to_string(),
    };
    if user.is_empty() {
        return Err(Error::UsernameMissing);
    }
    let pass = match &relay.auth.password {
        Some(p) => p.clone(),
        None => current.pass.clone(),
    };
    if pass.expose_secret().is_empty() {
        return Err(Error::PasswordMissing);
    }
    Ok(Creds {
        user: SecretString::from(user),
        pass,
    })
}

/// An unchanged value keeps its stored ciphertext: equality is judged on the plaintext.
fn keep_or_encrypt(
    key: &Key,
    stored_plain: &SecretString,
    stored: Option<&str>,
    wanted: &SecretString,
) -> String {
    match stored {
        Some(cipher) if stored_plain.expose_secret() == wanted.expose_secret() => {
            cipher.to_string()
        }
        _ => key.encrypt(wanted),
    }
}

/// Stored credentials (written by the Hermes UI or an older tool) must fit one sasl_passwd
/// line: a line break would add map entries and a `:` or blank in the user would split it
/// wrongly. The reason never quotes the value.
fn sasl_safe(user: &str, pass: &str) -> std::result::Result<(), &'static str> {
    if user.contains(|c: char| c.is_whitespace() || c.is_control() || c == ':') {
        return Err("the username holds whitespace, a control character or ':'");
    }
    if pass.contains(['\r', '\n', '\0']) {
        return Err("the password holds a line break or NUL");
    }
    if pass.ends_with(char::is_whitespace) {
        return Err("the password ends with whitespace, which postmap strips");
    }
    Ok(())
}

/// Per-domain lines from the Domains page: `[destination]:port` (empty port → 25).
fn transport_entries(
    transports: &[TransportRow],
    key: &Key,
    entries: &mut Vec<SaslEntry>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut keys: HashSet<String> = HashSet::with_capacity(transports.len() + entries.len());
    keys.extend(entries.iter().map(|e| e.key.clone()));
    for t in transports {
        if !t
            .authentication
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("YES"))
        {
            continue;
        }
        let label = || {
            format!(
                "transport#{} ({})",
                t.id,
                t.domain.as_deref().unwrap_or("no domain")
            )
        };
        let destination = t.destination.as_deref().unwrap_or("").trim();
        if destination.is_empty() {
            warnings.push(format!(
                "{}: no destination; sasl_passwd line skipped",
                label()
            ));
            continue;
        }
        let port = match t.port.as_deref().map(str::trim) {
            None | Some("") => "25",
            Some(p) => p,
        };
        let entry_key = format!("[{destination}]:{port}");
        if !keys.insert(entry_key.clone()) {
            warnings.push(format!(
                "{}: {entry_key} already has a sasl_passwd line; this one is skipped",
                label()
            ));
            continue;
        }
        let user = key.decrypt_as(t.username.as_deref().unwrap_or(""), || {
            format!("{}.authentication_username", label())
        })?;
        let password = key.decrypt_as(t.password.as_deref().unwrap_or(""), || {
            format!("{}.authentication_password", label())
        })?;
        if user.expose_secret().is_empty() || password.expose_secret().is_empty() {
            warnings.push(format!(
                "{}: empty credentials; sasl_passwd line skipped",
                label()
            ));
            continue;
        }
        if let Err(why) = sasl_safe(user.expose_secret(), password.expose_secret()) {
            warnings.push(format!("{}: {why}; sasl_passwd line skipped", label()));
            continue;
        }
        entries.push(SaslEntry {
            key: entry_key,
            user: user.expose_secret().to_string(),
            password,
        });
    }
    Ok(())
}

/// The diff as Ansible shows it: main.cf, sasl_passwd and the rows, secrets masked.
fn diff(plan: &Plan, inputs: &Inputs, stored: &Creds, new: Option<&Creds>) -> Vec<DiffEntry> {
    let mut out = Vec::new();
    let dir = inputs.postfix_dir;
    if let Some(after) = &plan.main_cf {
        let path = dir.join("main.cf").display().to_string();
        out.push(DiffEntry {
            before_header: path.clone(),
            after_header: path,
            before: inputs.files.main_cf.clone().unwrap_or_default(),
            after: after.clone(),
        });
    }
    if let Some(sasl) = &plan.sasl {
        let path = dir.join("sasl_passwd").display().to_string();
        let before = inputs
            .files
            .sasl_passwd
            .as_deref()
            .map_or("", String::as_str);
        out.push(DiffEntry {
            before_header: path.clone(),
            after_header: path,
            before: render::mask_sasl(before, &sasl.text, "(old)"),
            after: render::mask_sasl(&sasl.text, before, "(new)"),
        });
    }
    if !plan.edits.is_empty() {
        let mut before = String::new();
        let mut after = String::new();
        for change in &plan.edits {
            match change {
                Change::Param {
                    before: b,
                    after: a,
                } => {
                    before.push_str(&row_line(b));
                    after.push_str(&row_line(a));
                }
                Change::Transport {
                    id,
                    before: b,
                    after: a,
                } => {
                    let (old, new) = transport_lines(*id, b, a, inputs);
                    before.push_str(&old);
                    after.push_str(&new);
                }
                Change::NewDirective { name, value } => {
                    before.push_str(&format!("parameters (no {name} rows)\n"));
                    after.push_str(&format!(
                        "parameters#new (directive) parameter={name:?} enabled=1, value {value:?} enabled=1\n"
                    ));
                }
                Change::Setting {
                    parameter,
                    before: b,
                    ..
                } => {
                    let (old, new) = setting_lines(parameter, b.is_some(), stored, new);
                    before.push_str(&old);
                    after.push_str(&new);
                }
            }
        }
        out.push(DiffEntry {
            before_header: "hermes database rows".to_string(),
            after_header: "hermes database rows".to_string(),
            before,
            after,
        });
    }
    out
}

/// A per-domain credential change: the username in clear, the password only as the mask.
fn transport_lines(
    id: i64,
    before: &TransportCreds,
    after: &TransportCreds,
    inputs: &Inputs,
) -> (String, String) {
    let domain = inputs
        .snapshot
        .transports
        .iter()
        .find(|t| t.id == id)
        .and_then(|t| t.domain.clone())
        .unwrap_or_default();
    let user = |c: &TransportCreds| {
        inputs
            .key
            .decrypt(c.username.as_deref().unwrap_or(""), "transport")
            .map(|u| format!("{:?}", u.expose_secret()))
            .unwrap_or_else(|_| "(unreadable)".to_string())
    };
    let pass = |c: &TransportCreds, tag: &str| match c.password.as_deref() {
        None | Some("") => "''".to_string(),
        Some(_) if before.password == after.password => MASK.to_string(),
        Some(_) => format!("{MASK} {tag}"),
    };
    let line = |c: &TransportCreds, tag: &str| {
        format!(
            "transport#{id} ({domain}) authentication={:?} username={} password={}\n",
            c.authentication.as_deref().unwrap_or(""),
            user(c),
            pass(c, tag)
        )
    };
    (line(before, "(old)"), line(after, "(new)"))
}

fn row_line(r: &ParamRow) -> String {
    let kind = if r.is_parent() { "directive" } else { "value" };
    let name = r.name.as_deref().unwrap_or("");
    // The password_maps directive's name once held the plaintext `user:pass` (legacy).
    let name = if r.is_parent() && r.param() == PASSWORD_MAPS && !name.is_empty() {
        format!("{MASK} (legacy credentials)")
    } else {
        format!("{name:?}")
    };
    format!(
        "parameters#{} ({kind}) parameter={:?} name={name} enabled={}\n",
        r.id,
        r.param(),
        r.enabled
    )
}

/// Username shown in clear (Hermes shows it too); passwords only as the mask.
fn setting_lines(
    parameter: &str,
    existed: bool,
    stored: &Creds,
    new: Option<&Creds>,
) -> (String, String) {
    let empty = SecretString::from(String::new());
    let (old, new) = match (parameter, new) {
        (USERNAME_SETTING, n) => (&stored.user, n.map_or(&empty, |c| &c.user)),
        (_, n) => (&stored.pass, n.map_or(&empty, |c| &c.pass)),
    };
    let show = |v: &SecretString, tag: &str| -> String {
        if v.expose_secret().is_empty() {
            "''".to_string()
        } else if parameter == USERNAME_SETTING {
            format!("{:?}", v.expose_secret())
        } else if old.expose_secret() != new.expose_secret() {
            format!("{MASK} {tag}")
        } else {
            MASK.to_string()
        }
    };
    let before = if existed {
        format!("system_settings.{parameter} = {}\n", show(old, "(old)"))
    } else {
        format!("system_settings.{parameter} (no row)\n")
    };
    (
        before,
        format!("system_settings.{parameter} = {}\n", show(new, "(new)")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(id: i64, name: &str) -> ParamRow {
        ParamRow {
            id,
            parameter: Some(name.to_string()),
            name: None,
            parent: None,
            child: Some(2),
            order1: None,
            enabled: 0,
            applied: Some(1),
            action: Some("NONE".to_string()),
        }
    }

    #[test]
    fn delivery_time_values_are_checked() {
        let ok = |n: &str, v: &str| check_values(&[(n.to_string(), v.to_string())]).is_ok();
        assert!(ok(TLS_LEVEL, "encrypt") && ok(TLS_LEVEL, "dane") && ok(TLS_LEVEL, ""));
        assert!(!ok(TLS_LEVEL, "bogus"));
        assert!(ok(SASL_AUTH, "yes") && ok(WRAPPERMODE, "no"));
        assert!(!ok(SASL_AUTH, "true") && !ok(WRAPPERMODE, "1"));
        assert!(ok("myhostname", "anything"));
    }

    #[test]
    fn extra_directives_are_created_once_then_toggled() {
        let mut rows = vec![parent(10, "myhostname")];
        let created = extra_directive(&mut rows, WRAPPERMODE, Some("yes")).unwrap();
        assert_eq!(
            created,
            Some(Change::NewDirective {
                name: WRAPPERMODE.to_string(),
                value: "yes".to_string()
            })
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].parent.as_deref(), Some("11"));
        assert_eq!(extra_directive(&mut rows, WRAPPERMODE, None).unwrap(), None);
        assert_eq!((rows[1].enabled, rows[2].enabled), (0, 0));
        let mut none = vec![parent(10, "myhostname")];
        assert_eq!(extra_directive(&mut none, WRAPPERMODE, None).unwrap(), None);
        assert_eq!(none.len(), 1, "nothing to disable, nothing created");
    }

    #[test]
    fn legacy_pairs_split_at_the_first_colon_only_when_no_creds_are_stored() {
        let empty = Creds {
            user: SecretString::from(""),
            pass: SecretString::from(""),
        };
        let mut maps = parent(206, PASSWORD_MAPS);
        maps.name = Some("user:pa:ss".to_string());
        let creds = legacy_creds(&empty, &maps).unwrap();
        assert_eq!(creds.user.expose_secret(), "user");
        assert_eq!(creds.pass.expose_secret(), "pa:ss");
        let stored = Creds {
            user: SecretString::from("u"),
            pass: SecretString::from(""),
        };
        assert!(legacy_creds(&stored, &maps).is_none());
        maps.name = Some("no colon".to_string());
        assert!(legacy_creds(&empty, &maps).is_none());
    }
}
