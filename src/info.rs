//! `relay_host_info`: the stored relay settings (never a password) and the doctor's checks.
//! Read-only like the doctor: no row, file or lock file is written.

use secrecy::ExposeSecret;
use serde::Serialize;

use crate::args::{Args, State};
use crate::crypto::Key;
use crate::doctor::{self, Check};
use crate::failure::Failure;
use crate::model::{
    PASSWORD_MAPS, RELAYHOST, SASL_AUTH, Snapshot, TLS_CA_FILE, TLS_LEVEL, TLS_POLICY_MAPS,
    USERNAME_SETTING, WRAPPERMODE, setting_label,
};
use crate::options::Request;
use crate::tls::TlsMode;
use crate::validate;

/// The relay settings as the rows hold them, in the module's own terms.
#[derive(Debug, Serialize)]
pub struct RelayInfo {
    /// `present` when relaying through a relay host is enabled.
    pub state: State,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub auth: bool,
    /// Shown as Hermes shows it; `None` when none is stored or the key cannot read it.
    pub username: Option<String>,
}

#[derive(Debug)]
pub struct InfoReport {
    pub relay: RelayInfo,
    pub checks: Vec<Check>,
}

impl InfoReport {
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// Fails only when the settings cannot be read (bad options, unreadable database); a failed
/// check is part of the report.
pub fn info(args: Args) -> Result<InfoReport, Failure> {
    let (desired, settings) = validate::validate(args, Request::Info)?;
    let exam = doctor::examine(&desired, &settings);
    let snapshot = exam.snapshot?;
    Ok(InfoReport {
        relay: relay_info(&snapshot, exam.key.as_ref()),
        checks: exam.checks,
    })
}

fn relay_info(snap: &Snapshot, key: Option<&Key>) -> RelayInfo {
    let value = |name: &str| {
        snap.parent(name)
            .filter(|p| p.is_enabled())
            .and_then(|p| snap.values_of(p).first().copied())
            .filter(|v| v.is_enabled())
            .map(|v| v.param().trim().to_string())
    };
    let (host, port) = match value(RELAYHOST).filter(|v| !v.is_empty()) {
        Some(literal) => {
            let (host, port) = split_relay(&literal);
            (Some(host), port)
        }
        None => (None, None),
    };
    let relayhost = value(RELAYHOST);
    let policy = value(TLS_POLICY_MAPS);
    let policy_level = policy
        .as_deref()
        .and_then(crate::tls::relay_policy)
        .filter(|p| relayhost.as_deref() == Some(p.key))
        .map(|p| p.level);
    let tls = TlsMode::from_rows(
        value(TLS_LEVEL).as_deref(),
        value(WRAPPERMODE).is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        policy_level,
    );
    RelayInfo {
        state: if host.is_some() {
            State::Present
        } else {
            State::Absent
        },
        host,
        port,
        tls,
        auth: value(SASL_AUTH).is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        username: key.and_then(|key| username(snap, key)),
    }
}

/// The stored username, or the user half of Hermes's legacy plaintext pair.
fn username(snap: &Snapshot, key: &Key) -> Option<String> {
    let stored = key
        .decrypt(
            snap.username_cipher.as_deref().unwrap_or(""),
            &setting_label(USERNAME_SETTING),
        )
        .ok()?;
    let stored = stored.expose_secret();
    if !stored.is_empty() {
        return Some(stored.to_string());
    }
    let legacy = snap.parent(PASSWORD_MAPS)?.name.as_deref()?;
    legacy
        .split_once(':')
        .map(|(user, _)| user.to_string())
        .filter(|u| !u.is_empty())
}

/// The relay as its stored TLS policy entry describes it (`tls: verify`/`secure`), for a
/// certificate check; `None` without one for the stored relay host.
pub fn policy_relay(
    snap: &Snapshot,
    settings: &validate::Settings,
) -> Option<crate::Result<validate::Relay>> {
    let value = |name: &str| {
        let parent = snap.parent(name).filter(|p| p.is_enabled())?;
        let value = snap.values_of(parent).first().copied()?;
        value.is_enabled().then(|| value.param().trim().to_string())
    };
    let relayhost = value(RELAYHOST)?;
    let policy_value = value(TLS_POLICY_MAPS)?;
    let policy = crate::tls::relay_policy(&policy_value).filter(|p| p.key == relayhost)?;
    let tls = TlsMode::ALL
        .into_iter()
        .find(|m| m.policy_level() == Some(policy.level))?;
    let (host, port) = split_relay(&relayhost);
    Some((|| {
        Ok(validate::Relay {
            host: validate::parse_host(&host)?,
            port: port.unwrap_or(crate::args::defaults::PORT),
            tls,
            tls_ca_file: value(TLS_CA_FILE)
                .map(|path| validate::ca_file(&path, settings))
                .transpose()?,
            tls_name: policy.name.map(str::to_string),
            auth: validate::AuthIntent {
                on: None,
                username: None,
                password: None,
            },
        })
    })())
}

/// `[host]:port`, `[ipv6:addr]:port`, `host:port` or a bare host; no port means 25.
fn split_relay(literal: &str) -> (String, Option<u16>) {
    let (host, port) = match literal.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (rest, None),
        },
        None => match literal.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (literal, None),
        },
    };
    let host = match host.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("ipv6:") => &host[5..],
        _ => host,
    };
    let port = match port {
        None => Some(25),
        Some(p) => p.trim().parse().ok(),
    };
    (host.to_string(), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_literals_split() {
        let split = |s: &str| split_relay(s);
        assert_eq!(
            split("[smtp.example.com]:587"),
            ("smtp.example.com".into(), Some(587))
        );
        assert_eq!(
            split("[ipv6:2001:db8::1]:25"),
            ("2001:db8::1".into(), Some(25))
        );
        assert_eq!(split("[a.example]"), ("a.example".into(), Some(25)));
        assert_eq!(split("a.example:2525"), ("a.example".into(), Some(2525)));
        assert_eq!(split("a.example"), ("a.example".into(), Some(25)));
        assert_eq!(split("[a.example]:x"), ("a.example".into(), None));
    }
}
