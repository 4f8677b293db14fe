//! The pure heart: desired state + what is stored and on disk → the exact row writes, file
//! contents and diff of a Hermes save. No I/O here, so check mode is "plan and report".
//!
//! [`plan`] runs the save's phases in order over a working set of rows ([`Rows`]): read the
//! stored credentials (and Hermes's legacy pair), edit the relay rows, the extra directives,
//! the credential settings and the per-domain credentials, mark pending rows applied, render
//! main.cf and sasl_passwd. [`crate::diff`] presents a plan, masked.

use foldhash::{HashSet, HashSetExt};
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::crypto::{DecryptCache, Key};
use crate::error::{Error, Result};
use crate::files::FileId;
use crate::load::FileState;
use crate::model::{
    Change, MANAGED, PASSWORD_SETTING, ParamRow, SASL_AUTH, SASL_SECURITY_OPTIONS,
    SASL_TLS_SECURITY_OPTIONS, SaslEntry, Snapshot, TLS_CA_FILE, TLS_LEVEL, TLS_POLICY_MAPS,
    TRANSPORT_PASSWORD, TRANSPORT_USERNAME, TransportCreds, TransportRow, USERNAME_SETTING,
    WRAPPERMODE, setting_label,
};
use crate::render::{self, LineUnsafe};
use crate::rows::{RelayRows, Rows};
use crate::validate::{Desired, Relay, Wanted};
use crate::verified::{DomainLines, Record};

/// Everything besides the desired state that the plan depends on.
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub files: &'a FileState,
    pub key: &'a Key,
    /// The rendered base template.
    pub base: &'a str,
    pub exec_dir: &'a str,
    pub postfix_dir: &'a Path,
    /// A plain Postfix host: main.cf is edited in place for the keys of [`MANAGED`] only
    /// (`base` is unused), and the rows are only the store's reading of the files, so they
    /// are not written.
    pub edit_in_place: bool,
}

/// The new sasl_passwd and the map postmap must build from it.
pub struct SaslFile {
    /// The whole file, or with a `tail` the part before it.
    pub text: Zeroizing<String>,
    pub tail: Option<Tail>,
    pub map_type: String,
    /// `None` for texthash, which Postfix reads without postmap.
    pub map_suffix: Option<&'static str>,
    /// The relay line's key and `user:password`, to check the built map answers with them.
    pub relay_entry: Option<(String, Zeroizing<String>)>,
}

/// The end of the new sasl_passwd when a record vouches for it: the installed file from byte
/// `from`, which must still be `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    pub from: u64,
    pub file: FileId,
}

/// The relay login a plan commits, for the live probe.
pub struct Login {
    pub user: String,
    pub password: SecretString,
}

#[derive(Default)]
pub struct Plan {
    /// Row writes of the save itself; changed `parameters` rows go pending (`applied = 2`).
    pub edits: Vec<Change>,
    /// After main.cf is installed: every pending row becomes applied.
    pub marks: Vec<Change>,
    pub main_cf: Option<String>,
    pub sasl: Option<SaslFile>,
    pub warnings: Vec<String>,
    /// Rows other Hermes pages left pending that this run applies.
    pub pending: Vec<String>,
    /// The relay login this plan commits (auth on), for the live probe.
    pub login: Option<Login>,
    /// How the per-domain part of the (new) sasl_passwd was rendered, for the record.
    pub domain_lines: DomainLines,
    /// The relay credentials as stored and as planned, for the masked diff.
    pub(crate) stored_creds: Option<Creds>,
    pub(crate) new_creds: Option<Creds>,
}

/// What a plan changes, by the name the result's `changes` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Rows,
    MainCf,
    SaslPasswd,
}

impl Serialize for Changed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Changed {
    pub fn as_str(self) -> &'static str {
        match self {
            Changed::Rows => "rows",
            Changed::MainCf => "main.cf",
            Changed::SaslPasswd => "sasl_passwd",
        }
    }
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        self.changes().is_empty()
    }

    pub fn changes(&self) -> Vec<Changed> {
        [
            (
                Changed::Rows,
                !self.edits.is_empty() || !self.marks.is_empty(),
            ),
            (Changed::MainCf, self.main_cf.is_some()),
            (Changed::SaslPasswd, self.sasl.is_some()),
        ]
        .into_iter()
        .filter_map(|(what, yes)| yes.then_some(what))
        .collect()
    }
}

/// A relay username and password in the clear, as the key decrypts them.
#[derive(Clone)]
pub(crate) struct Creds {
    pub user: SecretString,
    pub pass: SecretString,
}

pub fn plan(desired: &Desired, inputs: &Inputs) -> Result<Plan> {
    let draft = Draft::new(desired, inputs)?;
    let line = draft.relay_line()?;
    let (sasl, lines) = sasl_file(&draft, line, inputs)?;
    let mut plan = draft.finish(desired, sasl, lines);
    if inputs.edit_in_place {
        plan.edits.clear();
        plan.marks.clear();
        plan.pending.clear();
    }
    Ok(plan)
}

/// [`plan`] from a snapshot without `transport` rows, whose sasl_passwd lines `record`
/// vouches for (a [`crate::verified`] record of this store version and key). `None`: the
/// record does not fit (another relay line key, sasl_passwd not the one it describes,
/// per-domain credentials to set): plan from the rows.
pub fn plan_verified(desired: &Desired, inputs: &Inputs, record: &Record) -> Result<Option<Plan>> {
    if !desired.transport_auth.is_empty() {
        return Ok(None);
    }
    let draft = Draft::new(desired, inputs)?;
    let line = draft.relay_line()?;
    Ok(verified_sasl_file(&draft, line, inputs, record)?
        .map(|(sasl, lines)| draft.finish(desired, sasl, lines)))
}

/// A plan with everything but sasl_passwd.
struct Draft<'a> {
    plan: Plan,
    rows: Rows,
    relay: RelayRows,
    new_creds: Option<Creds>,
    transports: Cow<'a, [TransportRow]>,
    /// A plain Postfix host's other sasl_passwd entries, as they will be.
    entries: Cow<'a, [SaslEntry]>,
}

impl<'a> Draft<'a> {
    fn new(desired: &Desired, inputs: &Inputs<'a>) -> Result<Draft<'a>> {
        let snap = inputs.snapshot;
        let key = inputs.key;
        let mut rows = Rows::new(&snap.params);
        let relay = rows.relay_rows(snap)?;
        let stored = stored_creds(snap, key)?;
        let current = migrate_legacy(&mut rows, &relay, &stored);
        let new_creds = edit_relay(
            &mut rows,
            &relay,
            &desired.relay,
            current,
            inputs.edit_in_place,
        )?;

        let mut plan = Plan::default();
        plan.edits.extend(extra_directives(&mut rows, desired)?);
        plan.edits.extend(rows.edits(&snap.params));
        plan.edits
            .extend(credential_settings(key, snap, &stored, new_creds.as_ref())?);
        let (transports, entries) = if inputs.edit_in_place {
            (
                Cow::Borrowed(&snap.transports[..]),
                plain_entries(desired, snap, key)?,
            )
        } else {
            (
                domain_credentials(desired, snap, key, &mut plan.edits)?,
                Cow::Borrowed(&snap.sasl_entries[..]),
            )
        };
        (plan.marks, plan.pending) = rows.applied_marks(&plan.edits);
        plan.main_cf = main_cf(&rows, inputs)?;
        plan.stored_creds = Some(stored);
        Ok(Draft {
            plan,
            rows,
            relay,
            new_creds,
            transports,
            entries,
        })
    }

    /// The relay line sasl_passwd starts with, if the rows and credentials want one.
    fn relay_line(&self) -> Result<Option<RelayLine<'_>>> {
        let relay_value = self.rows.value(self.relay.relay);
        let Some(c) = &self.new_creds else {
            return Ok(None);
        };
        let (user, pass) = (c.user.expose_secret(), c.pass.expose_secret());
        let wanted = self.rows.parent(self.relay.sasl).is_enabled()
            && relay_value.is_enabled()
            && !relay_value.param().is_empty()
            && !user.is_empty()
            && !pass.is_empty();
        if !wanted {
            return Ok(None);
        }
        sasl_safe(user, pass).map_err(|why| {
            Error::option(
                "password",
                format!(
                    "the stored relay credentials cannot go into sasl_passwd ({why}): set new ones"
                ),
            )
        })?;
        Ok(Some(RelayLine {
            key: relay_value.param(),
            user,
            pass,
        }))
    }

    fn finish(self, desired: &Desired, sasl: Option<SaslFile>, lines: DomainLines) -> Plan {
        let mut plan = self.plan;
        plan.sasl = sasl;
        plan.warnings.extend(lines.warnings.iter().cloned());
        plan.domain_lines = lines;
        if let (Wanted::Present(_), true) = (
            &desired.relay,
            self.rows.parent(self.relay.sasl).is_enabled(),
        ) {
            plan.login = self.new_creds.as_ref().map(|c| Login {
                user: c.user.expose_secret().to_string(),
                password: c.pass.clone(),
            });
        }
        plan.new_creds = self.new_creds;
        plan
    }
}

/// sasl_passwd's first line: the relay host's key and credentials.
struct RelayLine<'a> {
    key: &'a str,
    user: &'a str,
    pass: &'a str,
}

impl RelayLine<'_> {
    fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\t{}:{}\n", self.key, self.user, self.pass))
    }

    /// The length of [`RelayLine::text`], without writing the password once more.
    fn len(&self) -> u64 {
        (self.key.len() + self.user.len() + self.pass.len() + 3) as u64
    }

    /// What the built map must answer for the key.
    fn entry(&self) -> (String, Zeroizing<String>) {
        (
            self.key.to_string(),
            Zeroizing::new(format!("{}:{}", self.user, self.pass)),
        )
    }
}

/// The relay credentials as stored; a value the key cannot read stops the plan, named.
fn stored_creds(snap: &Snapshot, key: &Key) -> Result<Creds> {
    Ok(Creds {
        user: key.decrypt(
            snap.username_cipher.as_deref().unwrap_or(""),
            &setting_label(USERNAME_SETTING),
        )?,
        pass: key.decrypt(
            snap.password_cipher.as_deref().unwrap_or(""),
            &setting_label(PASSWORD_SETTING),
        )?,
    })
}

/// The current credentials: the stored ones, or Hermes's legacy pair, which this save moves
/// out of the password_maps row.
fn migrate_legacy(rows: &mut Rows, relay: &RelayRows, stored: &Creds) -> Creds {
    match legacy_creds(stored, rows.parent(relay.maps)) {
        Some(legacy) => {
            rows.clear_maps_name(relay);
            legacy
        }
        None => stored.clone(),
    }
}

/// The Relay Host page's own rows (relayhost, TLS level, SASL switch and map); returns the
/// credentials sasl_passwd gets (`None`: no relay line). `plain`: on a plain Postfix host the
/// TLS level also governs direct delivery, so disabling the relay leaves it as it is (Hermes's
/// page clears it).
fn edit_relay(
    rows: &mut Rows,
    relay: &RelayRows,
    wanted: &Wanted,
    current: Creds,
    plain: bool,
) -> Result<Option<Creds>> {
    match wanted {
        Wanted::Keep => Ok(Some(current)),
        Wanted::Absent => {
            rows.set(
                relay.relay,
                |p| p.enabled = 0,
                |v| {
                    v.parameter = Some(String::new());
                    v.name = Some(String::new());
                    v.enabled = 0;
                },
            );
            rows.disable_auth(relay);
            rows.clear_maps_name(relay);
            if !plain {
                rows.disable(relay.tls);
            }
            Ok(None)
        }
        Wanted::Present(wanted) => {
            let literal = wanted.host.relay_literal(wanted.port);
            let host = wanted.host.to_string();
            rows.set(
                relay.relay,
                |p| p.enabled = 1,
                |v| {
                    v.parameter = Some(literal);
                    v.name = Some(host);
                    v.enabled = 1;
                },
            );
            match wanted.tls.security_level() {
                None => rows.disable(relay.tls),
                Some(level) => rows.enable_with(relay.tls, level),
            }
            let auth_on = wanted
                .auth
                .on
                .unwrap_or(rows.parent(relay.sasl).is_enabled());
            if !auth_on {
                if wanted.auth.password.is_some() {
                    return Err(Error::ConflictingOptions(
                        "a password is given but authentication is off: set auth and username"
                            .to_string(),
                    ));
                }
                rows.disable_auth(relay);
                return Ok(None);
            }
            let creds = wanted_creds(wanted, &current)?;
            rows.enable_with(relay.sasl, "yes");
            rows.set(
                relay.maps,
                |p| {
                    p.enabled = 1;
                    p.name = Some(String::new());
                },
                |v| v.enabled = 1,
            );
            Ok(Some(creds))
        }
    }
}

/// Directives the page does not have: implicit TLS and the SASL security options.
fn extra_directives(rows: &mut Rows, desired: &Desired) -> Result<Vec<Change>> {
    let wrapper = match &desired.relay {
        Wanted::Keep => None,
        Wanted::Absent => Some(None),
        Wanted::Present(r) => Some(r.tls.wrapper_mode().then_some("yes")),
    };
    let policy = relay_policy(rows, &desired.relay);
    // Set with a verifying `tls`, never removed: another destination may rely on the CA.
    let ca_file = match &desired.relay {
        Wanted::Present(r) if r.tls.policy_level().is_some() => {
            r.tls_ca_file.as_ref().map(|ca| Some(ca.postfix.as_str()))
        }
        _ => None,
    };
    let mut created = Vec::new();
    for (name, wanted) in [
        (WRAPPERMODE, wrapper),
        (TLS_POLICY_MAPS, policy.as_ref().map(|p| p.as_deref())),
        (TLS_CA_FILE, ca_file),
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
            && let Some(new) = rows.extra_directive(name, wanted)?
        {
            created.push(new);
        }
    }
    Ok(created)
}

/// The relay's TLS policy entry (`tls: verify`/`secure`): `Some(Some(value))` sets it,
/// `Some(None)` disables an entry this module wrote, `None` leaves the directive alone (it is
/// someone else's, or the stored state is kept).
fn relay_policy(rows: &Rows, wanted: &Wanted) -> Option<Option<String>> {
    let ours = || {
        let all = rows.all();
        let parent = all
            .iter()
            .find(|r| r.is_parent() && r.is_enabled() && r.param() == TLS_POLICY_MAPS)?;
        let id = parent.id.to_string();
        all.iter()
            .filter(|r| r.child == Some(1) && r.is_enabled() && r.parent.as_deref() == Some(&id))
            .any(|r| crate::tls::relay_policy(r.param()).is_some())
            .then_some(None)
    };
    match wanted {
        Wanted::Keep => None,
        Wanted::Absent => ours(),
        Wanted::Present(relay) => match relay.tls.policy_level() {
            None => ours(),
            Some(level) => Some(Some(crate::tls::policy_map(
                &relay.host.relay_literal(relay.port),
                level,
                relay.tls_name.as_deref(),
            ))),
        },
    }
}

/// The two `system_settings` credential rows; an unchanged value keeps its ciphertext.
fn credential_settings(
    key: &Key,
    snap: &Snapshot,
    stored: &Creds,
    new: Option<&Creds>,
) -> Result<Vec<Change>> {
    let (user_cipher, pass_cipher) = match new {
        Some(c) => (
            keep_or_encrypt(key, &stored.user, snap.username_cipher.as_deref(), &c.user)?,
            keep_or_encrypt(key, &stored.pass, snap.password_cipher.as_deref(), &c.pass)?,
        ),
        None => (String::new(), String::new()),
    };
    let mut changes = Vec::new();
    for (parameter, before, after) in [
        (USERNAME_SETTING, &snap.username_cipher, user_cipher),
        (PASSWORD_SETTING, &snap.password_cipher, pass_cipher),
    ] {
        if before.as_deref() != Some(after.as_str()) {
            changes.push(Change::Setting {
                parameter,
                before: before.clone(),
                after,
            });
        }
    }
    Ok(changes)
}

/// main.cf as Hermes's generator writes it from the rows; `None` when the file already is.
fn main_cf(rows: &Rows, inputs: &Inputs) -> Result<Option<String>> {
    render::check_directive_rows(rows.all(), &crate::model::MANAGED)?;
    let directives = render::directives(rows.all(), inputs.exec_dir);
    check_values(&directives)?;
    let main_cf = match (inputs.edit_in_place, inputs.files.main_cf.as_deref()) {
        (true, current) => render::edit(current.unwrap_or(""), &directives, &MANAGED),
        (false, _) => render::merge(inputs.base, &directives),
    };
    Ok((inputs.files.main_cf.as_deref() != Some(main_cf.as_str())).then_some(main_cf))
}

/// sasl_passwd: the relay line, then the per-domain lines; `None` when the file, its mode and
/// its map are already right. Rendered as a compare against the file on disk, so an unchanged
/// file costs no copy (see [`render::SaslWriter`]).
fn sasl_file(
    draft: &Draft,
    line: Option<RelayLine>,
    inputs: &Inputs,
) -> Result<(Option<SaslFile>, DomainLines)> {
    let files = inputs.files;
    let on_disk = files.sasl_passwd.as_deref().map(String::as_str);
    // A plain Postfix host that relays without credentials need not have a sasl_passwd.
    if inputs.edit_in_place && on_disk.is_none() && line.is_none() && draft.entries.is_empty() {
        return Ok((None, DomainLines::default()));
    }
    let mut writer =
        render::SaslWriter::new(on_disk, draft.transports.len() + draft.entries.len() + 1);
    let mut relay_entry = line.as_ref().map(RelayLine::entry);
    let mut lines = DomainLines {
        relay_key: line.as_ref().map(|l| l.key.to_string()),
        head_len: line.as_ref().map_or(0, RelayLine::len),
        warnings: Vec::new(),
    };
    if let Some(l) = &line {
        writer.line(&[l.key], l.user, l.pass);
    }
    for entry in draft.entries.iter() {
        if line.as_ref().is_some_and(|l| l.key == entry.key) {
            lines.warnings.push(format!(
                "sasl_passwd: the entry for {} is now the relay's; its other credentials are dropped",
                entry.key
            ));
            continue;
        }
        let user = inputs.key.decrypt(&entry.username_cipher, &entry.key)?;
        let pass = inputs.key.decrypt(&entry.password_cipher, &entry.key)?;
        writer.line(&[&entry.key], user.expose_secret(), pass.expose_secret());
    }
    transport_entries(
        &draft.transports,
        inputs.key,
        draft.rows.value(draft.relay.relay).param(),
        &mut relay_entry,
        &mut writer,
        &mut lines.warnings,
    )?;
    let text = writer.finish();
    let map = MapState::of(draft, files)?;
    if text.is_none() && !map.needs_rewrite {
        return Ok((None, lines));
    }
    // `None` from the writer: the text is the file as it is (its mode or map needs the fix).
    let text = text.unwrap_or_else(|| Zeroizing::new(on_disk.unwrap_or_default().to_string()));
    Ok((
        Some(SaslFile {
            text,
            tail: None,
            map_type: map.map_type,
            map_suffix: map.map_suffix,
            relay_entry,
        }),
        lines,
    ))
}

/// [`sasl_file`] with the per-domain lines a record vouches for: only the relay line is
/// compared (and, on a change, written before the file's verified lines). `None` when the
/// record does not fit.
fn verified_sasl_file(
    draft: &Draft,
    line: Option<RelayLine>,
    inputs: &Inputs,
    record: &Record,
) -> Result<Option<(Option<SaslFile>, DomainLines)>> {
    let files = inputs.files;
    if files.sasl_id != Some(record.sasl_passwd)
        || record.lines.relay_key.as_deref() != line.as_ref().map(|l| l.key)
    {
        return Ok(None);
    }
    let head = line.as_ref().map(RelayLine::text).unwrap_or_default();
    let lines = DomainLines {
        head_len: head.len() as u64,
        ..record.lines.clone()
    };
    let map = MapState::of(draft, files)?;
    let same = files.sasl_passwd.as_deref().map(String::as_str) == Some(head.as_str());
    if same && !map.needs_rewrite {
        return Ok(Some((None, lines)));
    }
    // Without a relay line, the line the built map is checked with is a per-domain one.
    let Some(line) = line else {
        return Ok(None);
    };
    Ok(Some((
        Some(SaslFile {
            text: head,
            tail: Some(Tail {
                from: record.lines.head_len,
                file: record.sasl_passwd,
            }),
            map_type: map.map_type,
            map_suffix: map.map_suffix,
            relay_entry: Some(line.entry()),
        }),
        lines,
    )))
}

/// The map the rows name, and whether sasl_passwd must be written even if its text is right
/// (a group- or world-readable file or map, a missing or stale map).
struct MapState {
    map_type: String,
    map_suffix: Option<&'static str>,
    needs_rewrite: bool,
}

impl MapState {
    fn of(draft: &Draft, files: &FileState) -> Result<MapState> {
        let map_type = draft.rows.value(draft.relay.maps).param().to_string();
        let map_suffix = render::map_suffix(&map_type)?;
        let unsafe_mode = |m: Option<u32>| m.is_some_and(|m| m & 0o077 != 0);
        let map_stale = map_suffix.is_some()
            && (files.map_mode.is_none() || unsafe_mode(files.map_mode) || files.map_stale);
        Ok(MapState {
            map_type: map_type.split(':').next().unwrap_or("hash").to_string(),
            map_suffix,
            needs_rewrite: unsafe_mode(files.sasl_mode) || map_stale,
        })
    }
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

/// `transport_auth` on a plain Postfix host: its `domain` is the sasl_passwd key (the next hop
/// as the transport map names it); an entry with that key gets the new credentials, else one is
/// added after the others.
fn plain_entries<'a>(
    desired: &Desired,
    snap: &'a Snapshot,
    key: &Key,
) -> Result<Cow<'a, [SaslEntry]>> {
    if desired.transport_auth.is_empty() {
        return Ok(Cow::Borrowed(&snap.sasl_entries));
    }
    let mut entries = snap.sasl_entries.clone();
    for wanted in &desired.transport_auth {
        if !wanted
            .domain
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control())
            || wanted.domain.starts_with('#')
        {
            return Err(Error::option(
                "transport_auth",
                format!("'{}' is not one sasl_passwd key", wanted.domain),
            ));
        }
        let user = SecretString::from(wanted.username.clone());
        let (username_cipher, password_cipher) =
            (key.encrypt(&user)?, key.encrypt(&wanted.password)?);
        match entries
            .iter_mut()
            .find(|e| e.key.eq_ignore_ascii_case(&wanted.domain))
        {
            Some(entry) => {
                entry.username_cipher = username_cipher;
                entry.password_cipher = password_cipher;
            }
            None => entries.push(SaslEntry {
                key: wanted.domain.clone(),
                username_cipher,
                password_cipher,
            }),
        }
    }
    Ok(Cow::Owned(entries))
}

/// `transport_auth`: new credentials on every `transport` row of each domain (the Domains
/// page's per-domain relay). Returns the rows as they will be, for sasl_passwd.
fn domain_credentials<'a>(
    desired: &Desired,
    snap: &'a Snapshot,
    key: &Key,
    edits: &mut Vec<Change>,
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
            // A stored value the key cannot read is simply replaced.
            let plain = |stored: Option<&str>, column: &str| {
                key.decrypt_as(stored.unwrap_or(""), || t.column_label(column))
                    .unwrap_or_else(|_| SecretString::from(String::new()))
            };
            let before = t.creds();
            let authentication = match t.authentication.as_deref() {
                Some(a) if a.eq_ignore_ascii_case("YES") => a.to_string(),
                _ => "YES".to_string(),
            };
            let after = TransportCreds {
                authentication: Some(authentication),
                username_cipher: Some(keep_or_encrypt(
                    key,
                    &plain(t.username_cipher.as_deref(), TRANSPORT_USERNAME),
                    t.username_cipher.as_deref(),
                    &SecretString::from(wanted.username.clone()),
                )?),
                password_cipher: Some(keep_or_encrypt(
                    key,
                    &plain(t.password_cipher.as_deref(), TRANSPORT_PASSWORD),
                    t.password_cipher.as_deref(),
                    &wanted.password,
                )?),
            };
            if after != before {
                let shared = |v: &Option<String>| v.as_deref().map(Arc::from);
                t.authentication = shared(&after.authentication);
                t.username_cipher = shared(&after.username_cipher);
                t.password_cipher = shared(&after.password_cipher);
                edits.push(Change::Transport {
                    id: t.id,
                    before,
                    after,
                });
            }
        }
        if !found {
            return Err(Error::option(
                "transport_auth",
                format!("no transport row has domain '{}'", wanted.domain),
            ));
        }
    }
    Ok(Cow::Owned(transports))
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
) -> Result<String> {
    match stored {
        Some(cipher) if stored_plain.expose_secret() == wanted.expose_secret() => {
            Ok(cipher.to_string())
        }
        _ => key.encrypt(wanted),
    }
}

/// Stored credentials (written by the Hermes UI or an older tool) must fit one sasl_passwd
/// line too.
fn sasl_safe(user: &str, pass: &str) -> std::result::Result<(), LineUnsafe> {
    render::user_line_safe(user)?;
    render::password_line_safe(pass)
}

/// Per-domain lines from the Domains page: `[destination]:port` (empty port → 25). Each
/// distinct ciphertext is decrypted once; nothing is allocated per row unless it is skipped
/// (its warning). When the relay line is missing and the first line has the relay's key, that
/// line is the one the built map is checked with.
fn transport_entries<'a>(
    transports: &'a [TransportRow],
    key: &Key,
    relay_key: &'a str,
    relay_entry: &mut Option<(String, Zeroizing<String>)>,
    writer: &mut render::SaslWriter,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let bracketed = |k: &'a str| k.strip_prefix('[').and_then(|k| k.split_once("]:"));
    let mut keys: HashSet<(&str, &str)> = HashSet::with_capacity(transports.len() + 1);
    let mut first = relay_entry.is_none();
    if let (Some(_), Some(relay)) = (&relay_entry, bracketed(relay_key)) {
        keys.insert(relay);
    }
    let mut plain = DecryptCache::new(key);
    for t in transports {
        if !t
            .authentication
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("YES"))
        {
            continue;
        }
        let label = || t.label();
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
        if !destination
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control())
            || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            warnings.push(format!(
                "{}: the destination or port is not one host and port number; sasl_passwd \
                 line skipped",
                label()
            ));
            continue;
        }
        if !keys.insert((destination, port)) {
            warnings.push(format!(
                "{}: [{destination}]:{port} already has a sasl_passwd line; this one is skipped",
                label()
            ));
            continue;
        }
        let (user, password) = plain.pair(
            t.username_cipher.as_deref().unwrap_or(""),
            || t.column_label(TRANSPORT_USERNAME),
            t.password_cipher.as_deref().unwrap_or(""),
            || t.column_label(TRANSPORT_PASSWORD),
        )?;
        if user.is_empty() || password.is_empty() {
            warnings.push(format!(
                "{}: empty credentials; sasl_passwd line skipped",
                label()
            ));
            continue;
        }
        if let Err(why) = sasl_safe(user, password) {
            warnings.push(format!("{}: {why}; sasl_passwd line skipped", label()));
            continue;
        }
        writer.line(&["[", destination, "]:", port], user, password);
        if std::mem::take(&mut first) && bracketed(relay_key) == Some((destination, port)) {
            *relay_entry = Some((
                relay_key.to_string(),
                Zeroizing::new(format!("{user}:{password}")),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PASSWORD_MAPS;

    /// The plan phases on a "current state + args" scenario (crate::testkit).
    mod scenarios {
        use serde_json::{Value, json};

        use super::*;
        use crate::testkit::Scenario;

        const PW: &str = "p@ss:w0rd with spaces";

        fn relay() -> Value {
            json!({"host": "smtp.example.com", "port": 587, "username": "relayuser", "password": PW})
        }

        fn with(extra: Value) -> Value {
            let mut args = relay();
            for (k, v) in extra.as_object().unwrap() {
                args[k] = v.clone();
            }
            args
        }

        fn configured() -> Scenario {
            Scenario::fresh().applied(relay())
        }

        fn main_cf(plan: &Plan) -> &str {
            plan.main_cf.as_deref().expect("main.cf is rewritten")
        }

        fn sasl(plan: &Plan) -> String {
            plan.sasl
                .as_ref()
                .expect("sasl_passwd is rewritten")
                .text
                .to_string()
        }

        #[test]
        fn a_first_relay_writes_rows_main_cf_and_sasl_passwd() {
            let plan = Scenario::fresh().plan(relay()).unwrap();
            assert_eq!(
                plan.changes(),
                [Changed::Rows, Changed::MainCf, Changed::SaslPasswd]
            );
            assert!(main_cf(&plan).contains("\nrelayhost = [smtp.example.com]:587\n"));
            assert!(main_cf(&plan).contains("\nsmtp_sasl_auth_enable = yes\n"));
            assert_eq!(
                sasl(&plan),
                format!("[smtp.example.com]:587\trelayuser:{PW}\n")
            );
        }

        const DEBIAN: &str = "myhostname = mail.example.test\nrelayhost = \n\
                              smtp_tls_security_level=may\nmydestination = localhost\n";

        #[test]
        fn a_plain_host_gets_only_its_relay_lines_and_no_rows() {
            let plan = Scenario::plain(DEBIAN, None)
                .plan(with(json!({"sasl_security_options": "noanonymous"})))
                .unwrap();
            assert_eq!(plan.changes(), [Changed::MainCf, Changed::SaslPasswd]);
            assert!(plan.edits.is_empty() && plan.marks.is_empty());
            assert_eq!(
                main_cf(&plan),
                "myhostname = mail.example.test\nrelayhost = [smtp.example.com]:587\n\
                 smtp_tls_security_level=may\nmydestination = localhost\n\
                 smtp_sasl_auth_enable = yes\n\
                 smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n\
                 smtp_sasl_security_options = noanonymous\n"
            );
            assert_eq!(
                sasl(&plan),
                format!("[smtp.example.com]:587\trelayuser:{PW}\n")
            );
        }

        #[test]
        fn a_plain_host_without_credentials_gets_no_sasl_passwd() {
            let plan = Scenario::plain(DEBIAN, None)
                .plan(json!({"host": "smtp.example.com", "tls": "may"}))
                .unwrap();
            assert_eq!(plan.changes(), [Changed::MainCf]);
            assert!(
                Scenario::plain(DEBIAN, None)
                    .plan(json!({"state": "absent"}))
                    .unwrap()
                    .is_noop()
            );
        }

        #[test]
        fn a_plain_host_keeps_the_password_of_its_sasl_passwd() {
            let installed = "relayhost = [smtp.example.com]:587\nsmtp_sasl_auth_enable = yes\n\
                             smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n\
                             smtp_tls_security_level = may\n";
            let installed_sasl =
                format!("[smtp.example.com]:587\trelayuser:{PW}\n[mx.b.example]:25\tb:bpass\n");
            let mut args = relay();
            args.as_object_mut().unwrap().remove("password");
            let scenario = Scenario::plain(installed, Some(&installed_sasl));
            assert!(scenario.plan(args).unwrap().is_noop());
            let plan = scenario
                .plan(json!({"host": "mx.b.example", "port": 25, "username": "u", "password": "p"}))
                .unwrap();
            assert_eq!(sasl(&plan), "[mx.b.example]:25\tu:p\n");
            assert!(
                plan.warnings.iter().any(|w| w.contains("now the relay's")),
                "{:?}",
                plan.warnings
            );
        }

        #[test]
        fn the_same_args_again_change_nothing() {
            assert!(configured().plan(relay()).unwrap().is_noop());
        }

        #[test]
        fn an_omitted_password_keeps_the_stored_one() {
            let mut args = relay();
            args.as_object_mut().unwrap().remove("password");
            assert!(configured().plan(args).unwrap().is_noop());
        }

        #[test]
        fn auth_true_alone_uses_the_stored_credentials() {
            let plan = configured()
                .plan(json!({"host": "smtp.example.com", "port": 587, "auth": true}))
                .unwrap();
            assert!(plan.is_noop());
        }

        #[test]
        fn a_new_password_rewrites_rows_and_sasl_passwd_only() {
            let plan = configured()
                .plan(with(json!({"password": "n3w-pass"})))
                .unwrap();
            assert_eq!(plan.changes(), [Changed::Rows, Changed::SaslPasswd]);
            assert_eq!(sasl(&plan), "[smtp.example.com]:587\trelayuser:n3w-pass\n");
        }

        #[test]
        fn a_new_port_moves_the_relay_line_key() {
            let plan = configured().plan(with(json!({"port": 2525}))).unwrap();
            assert!(main_cf(&plan).contains("relayhost = [smtp.example.com]:2525\n"));
            assert!(sasl(&plan).starts_with("[smtp.example.com]:2525\t"));
        }

        #[test]
        fn absent_disables_the_relay_and_drops_the_relay_line() {
            let plan = configured().plan(json!({"state": "absent"})).unwrap();
            assert!(!main_cf(&plan).contains("relayhost = ["));
            assert!(!main_cf(&plan).contains("smtp_sasl_auth_enable = yes"));
            assert_eq!(sasl(&plan), "");
        }

        #[test]
        fn auth_false_clears_the_credentials() {
            let plan = configured()
                .plan(json!({"host": "smtp.example.com", "port": 587, "auth": false}))
                .unwrap();
            assert_eq!(sasl(&plan), "");
            assert!(!main_cf(&plan).contains("smtp_sasl_auth_enable = yes"));
        }

        #[test]
        fn tls_levels_become_their_rows() {
            for (tls, level, wrapper) in [
                ("may", Some("may"), false),
                ("encrypt", Some("encrypt"), false),
                ("wrapper", Some("encrypt"), true),
                ("none", None, false),
            ] {
                let plan = Scenario::fresh().plan(with(json!({"tls": tls}))).unwrap();
                let text = main_cf(&plan);
                match level {
                    Some(level) => assert!(
                        text.contains(&format!("smtp_tls_security_level = {level}\n")),
                        "{tls}: {text}"
                    ),
                    None => assert!(!text.contains("smtp_tls_security_level ="), "{tls}"),
                }
                assert_eq!(
                    text.contains("smtp_tls_wrappermode = yes"),
                    wrapper,
                    "{tls}"
                );
            }
        }

        #[test]
        fn an_ipv6_relay_is_written_as_postfix_reads_it() {
            let plan = Scenario::fresh()
                .plan(with(json!({"host": "2001:db8::25", "port": 25})))
                .unwrap();
            assert!(main_cf(&plan).contains("relayhost = [ipv6:2001:db8::25]:25\n"));
            assert!(sasl(&plan).starts_with("[ipv6:2001:db8::25]:25\t"));
        }

        #[test]
        fn sasl_security_options_become_directives() {
            let plan = Scenario::fresh()
                .plan(with(json!({
                    "sasl_security_options": "noanonymous",
                    "sasl_tls_security_options": "noanonymous"
                })))
                .unwrap();
            assert!(main_cf(&plan).contains("smtp_sasl_security_options = noanonymous\n"));
            assert!(main_cf(&plan).contains("smtp_sasl_tls_security_options = noanonymous\n"));
        }

        #[test]
        fn a_stale_or_readable_map_is_rebuilt_from_the_same_text() {
            let mut stale = configured();
            stale.files.map_stale = true;
            assert_eq!(
                stale.plan(relay()).unwrap().changes(),
                [Changed::SaslPasswd]
            );
            let mut readable = configured();
            readable.files.map_mode = Some(0o644);
            assert_eq!(
                readable.plan(relay()).unwrap().changes(),
                [Changed::SaslPasswd]
            );
            let mut missing = configured();
            missing.files.map_mode = None;
            assert_eq!(
                missing.plan(relay()).unwrap().changes(),
                [Changed::SaslPasswd]
            );
        }

        #[test]
        fn a_hand_edited_main_cf_is_rewritten() {
            let mut edited = configured();
            edited.files.main_cf = Some("relayhost = [other.example]:25\n".into());
            assert_eq!(edited.plan(relay()).unwrap().changes(), [Changed::MainCf]);
        }

        #[test]
        fn rows_another_page_left_pending_are_applied_and_named() {
            let plan = configured()
                .with_sql("UPDATE parameters SET applied = 2 WHERE id = 10")
                .plan(relay())
                .unwrap();
            assert_eq!(plan.changes(), [Changed::Rows]);
            assert_eq!(plan.pending.len(), 1, "{:?}", plan.pending);
        }

        #[test]
        fn per_domain_lines_follow_the_relay_line() {
            let plan = Scenario::fresh()
                .with_transport("x.example", "mx.x.example", "xuser", "xpass")
                .plan(relay())
                .unwrap();
            assert_eq!(
                sasl(&plan),
                format!(
                    "[smtp.example.com]:587\trelayuser:{PW}\n[mx.x.example]:587\txuser:xpass\n"
                )
            );
        }

        #[test]
        fn transport_auth_sets_a_domains_credentials() {
            let plan = Scenario::fresh()
                .with_transport("x.example", "mx.x.example", "xuser", "xpass")
                .plan(json!({"transport_auth": [
                    {"domain": "x.example", "username": "new", "password": "newpass"}
                ]}))
                .unwrap();
            assert!(
                sasl(&plan).contains("[mx.x.example]:587\tnew:newpass\n"),
                "{}",
                sasl(&plan)
            );
        }

        #[test]
        fn a_transport_row_keyed_like_the_relay_is_skipped_with_a_warning() {
            let plan = Scenario::fresh()
                .with_transport("x.example", "smtp.example.com", "xuser", "xpass")
                .plan(relay())
                .unwrap();
            assert!(!sasl(&plan).contains("xuser"));
            assert!(
                plan.warnings.iter().any(|w| w.contains("transport")),
                "{:?}",
                plan.warnings
            );
        }

        #[test]
        fn the_diff_masks_every_password() {
            let scenario = configured();
            let (desired, settings) = scenario
                .request(with(json!({"password": "n3w-pass"})))
                .unwrap();
            let inputs = scenario.inputs(&settings);
            let plan = plan(&desired, &inputs).unwrap();
            let entries = crate::diff::diff(&plan, &inputs);
            let all: String = entries
                .iter()
                .map(|e| format!("{}{}", e.before, e.after))
                .collect();
            assert!(!all.contains(PW) && !all.contains("n3w-pass"), "{all}");
            assert!(
                all.contains("******** (old)") && all.contains("******** (new)"),
                "{all}"
            );
        }

        #[test]
        fn username_and_password_missing_are_codes_5_and_6() {
            let err = Scenario::fresh()
                .plan(json!({"host": "smtp.example.com", "auth": true}))
                .err()
                .unwrap();
            assert_eq!(err.hermes_code(), Some(5));
            let err = Scenario::fresh()
                .plan(json!({"host": "smtp.example.com", "username": "u"}))
                .err()
                .unwrap();
            assert_eq!(err.hermes_code(), Some(6));
        }
    }

    mod properties {
        use std::sync::Arc;

        use proptest::prelude::*;

        use super::*;

        /// Any short text, tabs, line breaks and other control characters included.
        fn text() -> impl Strategy<Value = String> {
            prop::string::string_regex("(?s).{0,8}").unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            /// Whatever the `transport` rows hold, sasl_passwd gets only whole lines
            /// `[destination]:port<TAB>user:password` of rows that meant them: a TAB or line
            /// break in a column never adds an entry of its choosing.
            #[test]
            fn sasl_passwd_holds_only_intended_lines(
                rows in prop::collection::vec((text(), text(), text(), text()), 0..6)
            ) {
                let key = Key::generate().unwrap();
                let encrypt = |v: &str| -> Option<Arc<str>> {
                    Some(key.encrypt(&SecretString::from(v.to_string())).unwrap().into())
                };
                let transports: Vec<TransportRow> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, (destination, port, user, password))| TransportRow {
                        id: i64::try_from(i).unwrap(),
                        domain: Some("example.com".into()),
                        destination: Some(destination.as_str().into()),
                        port: Some(port.as_str().into()),
                        authentication: Some("YES".into()),
                        username_cipher: encrypt(user),
                        password_cipher: encrypt(password),
                    })
                    .collect();
                let intended: HashSet<String> = rows
                    .iter()
                    .map(|(destination, port, user, password)| {
                        let port = match port.trim() {
                            "" => "25",
                            p => p,
                        };
                        format!("[{}]:{port}\t{user}:{password}", destination.trim())
                    })
                    .collect();
                let mut writer = render::SaslWriter::new(None, transports.len());
                let (mut relay_entry, mut warnings) = (None, Vec::new());
                transport_entries(&transports, &key, "", &mut relay_entry, &mut writer, &mut warnings)
                    .unwrap();
                let written = writer.finish().unwrap();
                prop_assert!(written.is_empty() || written.ends_with('\n'));
                let lines: Vec<&str> = written.split_terminator('\n').collect();
                prop_assert!(lines.len() <= rows.len());
                for line in lines {
                    prop_assert!(intended.contains(line), "unintended line {line:?}");
                }
            }
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
    fn legacy_pairs_split_at_the_first_colon_only_when_no_creds_are_stored() {
        let empty = Creds {
            user: SecretString::from(""),
            pass: SecretString::from(""),
        };
        let mut maps = ParamRow::test_parent(206, PASSWORD_MAPS);
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
