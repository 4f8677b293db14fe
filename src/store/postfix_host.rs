//! A plain Postfix host (`host_type: postfix`): no database. The relay's current state is read
//! from main.cf (the keys the module owns) and sasl_passwd (the credentials), and handed to the
//! pipeline as the rows a Hermes host would hold, so one plan serves both kinds of host. The
//! files are the store: `write` keeps nothing, the apply step's file installs are the writes.
//!
//! Credentials read from sasl_passwd are encrypted with a key made for this run, so they travel
//! through the plan as Hermes's ciphertext does and never sit in a plain `String`.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::files;
use crate::files::PostfixDir;
use crate::model::{
    Change, MANAGED, PASSWORD_MAPS, ParamRow, RELAYHOST, SASL_AUTH, SaslEntry, Snapshot, TLS_LEVEL,
};
use crate::render;
use crate::store::{Location, Open, Scope, Store};

/// The map value written when main.cf names no map of ours (rewritten to the Postfix dir as
/// Postfix sees it, as Hermes's row is).
const DEFAULT_MAP: &str = "hash:/etc/postfix/sasl_passwd";

/// The ids Hermes's seed gives the relay directives, so messages read the same on both hosts.
const RELAY_IDS: [(&str, i64); 4] = [
    (RELAYHOST, 202),
    (SASL_AUTH, 204),
    (PASSWORD_MAPS, 206),
    (TLS_LEVEL, 368),
];

/// The Postfix dir as this host writes it (`dir`) and as Postfix reads it (`exec_dir`), and
/// the run's key.
#[derive(Clone)]
pub struct PostfixHost {
    dir: PathBuf,
    exec_dir: String,
    key: Arc<Key>,
}

impl std::fmt::Debug for PostfixHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostfixHost({})", self.dir.display())
    }
}

/// The store of a plain Postfix host.
pub fn at(dir: PathBuf, exec_dir: String, key: Arc<Key>) -> Location {
    Location::new(PostfixHost { dir, exec_dir, key })
}

impl Open for PostfixHost {
    fn open(&self, _writable: bool) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.clone()))
    }
}

impl Store for PostfixHost {
    fn load(&mut self, _scope: Scope) -> Result<Snapshot> {
        let path = PostfixDir(&self.dir).main_cf();
        let main_cf = files::read_bounded(&path, files::limits::MANAGED)?.ok_or_else(|| {
            Error::io(
                &path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "host_type 'postfix' edits an existing main.cf, and there is none",
                ),
            )
        })?;
        let main_cf = String::from_utf8_lossy(&main_cf);
        let sasl =
            files::read_bounded(&PostfixDir(&self.dir).sasl_passwd(), files::limits::MANAGED)?;
        let sasl = sasl.map(|bytes| Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()));
        snapshot(
            &main_cf,
            sasl.as_deref().map(String::as_str),
            &self.exec_dir,
            &self.key,
        )
    }

    fn write(&mut self, _changes: &[Change]) -> Result<()> {
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn rollback(&mut self) -> Result<bool> {
        Ok(false)
    }
}

/// The rows a Hermes host with this main.cf and sasl_passwd would hold.
pub(crate) fn snapshot(
    main_cf: &str,
    sasl: Option<&str>,
    exec_dir: &str,
    key: &Key,
) -> Result<Snapshot> {
    let value = |name: &str| render::main_cf_value(main_cf, name).filter(|v| !v.is_empty());
    let mut params = Vec::new();
    // A disabled directive's value row keeps a value, as Hermes's seed rows do: enabling the
    // directive (auth on) uses it.
    let mut push =
        |id: i64, name: &str, value: Option<String>, idle: &str, label: Option<String>| {
            let enabled = i64::from(value.is_some());
            params.push(row(id, name, None, 2, enabled, None));
            let value = value.unwrap_or_else(|| idle.to_string());
            params.push(row(id + 1, &value, Some(id), 1, enabled, label));
        };
    let relayhost = value(RELAYHOST);
    for (name, id) in RELAY_IDS {
        match name {
            RELAYHOST => push(
                id,
                name,
                relayhost.clone(),
                "",
                relayhost.as_deref().map(bare_host),
            ),
            PASSWORD_MAPS => {
                // Another map than ours is replaced by ours once auth is on.
                let map = value(name);
                let ours = map
                    .clone()
                    .filter(|v| names_our_map(v, exec_dir))
                    .unwrap_or_else(|| DEFAULT_MAP.to_string());
                push(id, name, map.map(|_| ours.clone()), &ours, None);
            }
            SASL_AUTH => push(id, name, value(name), "no", None),
            _ => push(id, name, value(name), "", None),
        }
    }
    for (i, name) in MANAGED
        .iter()
        .filter(|n| !RELAY_IDS.iter().any(|(r, _)| r == *n))
        .enumerate()
    {
        if let Some(v) = value(name) {
            push(1000 + 2 * i as i64, name, Some(v), "", None);
        }
    }
    let mut snap = Snapshot {
        params,
        username_cipher: Some(String::new()),
        password_cipher: Some(String::new()),
        ..Snapshot::default()
    };
    for (entry_key, user, pass) in sasl.map(entries).unwrap_or_default() {
        let user_cipher = key.encrypt(&SecretString::from(user.to_string()))?;
        let pass_cipher = key.encrypt(&SecretString::from(pass.to_string()))?;
        if relayhost.as_deref() == Some(entry_key) {
            snap.username_cipher = Some(user_cipher);
            snap.password_cipher = Some(pass_cipher);
        } else {
            snap.sasl_entries.push(SaslEntry {
                key: entry_key.to_string(),
                username_cipher: user_cipher,
                password_cipher: pass_cipher,
            });
        }
    }
    Ok(snap)
}

fn row(
    id: i64,
    parameter: &str,
    parent: Option<i64>,
    child: i64,
    enabled: i64,
    name: Option<String>,
) -> ParamRow {
    ParamRow {
        id,
        parameter: Some(parameter.to_string()),
        name,
        parent: parent.map(|p| p.to_string()),
        child: Some(child),
        order1: (child == 1).then_some(1.0),
        enabled,
        applied: Some(1),
        action: Some("NONE".to_string()),
    }
}

/// `[host]:port` → `host`, as Hermes keeps it in the value row's `name`.
fn bare_host(relayhost: &str) -> String {
    let inner = relayhost
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .map_or(relayhost, |(host, _)| host);
    inner.strip_prefix("ipv6:").unwrap_or(inner).to_string()
}

/// `TYPE:<exec_dir>/sasl_passwd` (or `/etc/postfix/sasl_passwd`): the map this module writes.
fn names_our_map(value: &str, exec_dir: &str) -> bool {
    let Some((_, path)) = value.split_once(':') else {
        return false;
    };
    let ours = format!("{}/sasl_passwd", exec_dir.trim_end_matches('/'));
    path == ours || path == "/etc/postfix/sasl_passwd"
}

/// sasl_passwd's entries `key user:password`, in file order, split at the first `:` as Postfix's
/// SASL client does; comments, blank lines and lines without a value are skipped.
fn entries(text: &str) -> Vec<(&str, &str, &str)> {
    text.lines()
        .filter(|l| !l.starts_with(char::is_whitespace) && !l.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.split_once(char::is_whitespace)?;
            let (user, pass) = value.trim().split_once(':')?;
            Some((key, user, pass))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const MAIN_CF: &str = "# a comment\nmyhostname = mail.example.test\n\
        relayhost = [smtp.example.com]:587\nsmtp_sasl_auth_enable = yes\n\
        smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\nsmtp_tls_security_level=may\n";

    fn plain(key: &Key, cipher: &str) -> String {
        key.decrypt(cipher, "test")
            .unwrap()
            .expose_secret()
            .to_string()
    }

    #[test]
    fn main_cf_and_sasl_passwd_become_the_rows_and_credentials() {
        let key = Key::generate().unwrap();
        let sasl = "[smtp.example.com]:587\trelayuser:p@ss:word\n\
                    # other\n[mx.other.example]:25 other:secret\n";
        let snap = snapshot(MAIN_CF, Some(sasl), "/etc/postfix", &key).unwrap();
        let relay = snap.parent(RELAYHOST).unwrap();
        assert!(relay.is_enabled());
        let value = snap.values_of(relay)[0];
        assert_eq!(value.param(), "[smtp.example.com]:587");
        assert_eq!(value.name.as_deref(), Some("smtp.example.com"));
        assert_eq!(
            snap.values_of(snap.parent(TLS_LEVEL).unwrap())[0].param(),
            "may"
        );
        assert_eq!(snap.password_map(), Some(DEFAULT_MAP));
        assert_eq!(
            plain(&key, snap.username_cipher.as_deref().unwrap()),
            "relayuser"
        );
        assert_eq!(
            plain(&key, snap.password_cipher.as_deref().unwrap()),
            "p@ss:word"
        );
        assert_eq!(snap.sasl_entries.len(), 1);
        assert_eq!(snap.sasl_entries[0].key, "[mx.other.example]:25");
        assert_eq!(plain(&key, &snap.sasl_entries[0].password_cipher), "secret");
    }

    #[test]
    fn a_host_without_relay_keys_has_them_disabled() {
        let key = Key::generate().unwrap();
        let snap = snapshot("relayhost =\nmyhostname = x.example\n", None, "/x", &key).unwrap();
        for name in [RELAYHOST, SASL_AUTH, PASSWORD_MAPS, TLS_LEVEL] {
            assert!(!snap.parent(name).unwrap().is_enabled(), "{name}");
        }
        assert_eq!(snap.password_cipher.as_deref(), Some(""));
        assert!(snap.parent("myhostname").is_none(), "only owned keys");
    }

    #[test]
    fn a_foreign_map_is_replaced_by_ours() {
        assert!(names_our_map("hash:/srv/pf/sasl_passwd", "/srv/pf/"));
        assert!(names_our_map("lmdb:/etc/postfix/sasl_passwd", "/srv/pf"));
        assert!(!names_our_map(
            "hash:/etc/postfix/sasl/sasl_passwd",
            "/etc/postfix"
        ));
        assert_eq!(bare_host("[ipv6:2001:db8::1]:25"), "2001:db8::1");
        assert_eq!(bare_host("smtp.example.com"), "smtp.example.com");
    }
}
