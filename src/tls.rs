//! The `tls` option as a domain type: each mode's meaning for Postfix (the security level row,
//! the implicit-TLS wrapper row, the relay's TLS policy entry) and how the rows read back.
//! Matches are exhaustive, so a new mode cannot silently be written as another one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `wrapper` is implicit TLS (port 465): `encrypt` plus `smtp_tls_wrappermode = yes`.
/// `verify` and `secure` are Postfix's levels that check the relay's certificate; they are
/// written as `encrypt` (the strongest level Hermes's page can show) plus a TLS policy entry
/// for the relay alone, which Postfix prefers over the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    May,
    Encrypt,
    Wrapper,
    Verify,
    Secure,
}

impl TlsMode {
    pub const ALL: [TlsMode; 6] = [
        TlsMode::None,
        TlsMode::May,
        TlsMode::Encrypt,
        TlsMode::Wrapper,
        TlsMode::Verify,
        TlsMode::Secure,
    ];

    /// The option value, as in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::May => "may",
            TlsMode::Encrypt => "encrypt",
            TlsMode::Wrapper => "wrapper",
            TlsMode::Verify => "verify",
            TlsMode::Secure => "secure",
        }
    }

    /// `smtp_tls_security_level`; `None` disables the TLS rows (Hermes's empty level).
    pub fn security_level(self) -> Option<&'static str> {
        match self {
            TlsMode::None => None,
            TlsMode::May => Some("may"),
            TlsMode::Encrypt | TlsMode::Wrapper | TlsMode::Verify | TlsMode::Secure => {
                Some("encrypt")
            }
        }
    }

    /// The level of the relay's TLS policy entry: the modes that verify the certificate.
    pub fn policy_level(self) -> Option<&'static str> {
        match self {
            TlsMode::Verify => Some("verify"),
            TlsMode::Secure => Some("secure"),
            TlsMode::None | TlsMode::May | TlsMode::Encrypt | TlsMode::Wrapper => None,
        }
    }

    /// `smtp_tls_wrappermode = yes`: TLS from the first byte instead of STARTTLS.
    pub fn wrapper_mode(self) -> bool {
        match self {
            TlsMode::Wrapper => true,
            TlsMode::None | TlsMode::May | TlsMode::Encrypt | TlsMode::Verify | TlsMode::Secure => {
                false
            }
        }
    }

    /// The mode enabled rows configure: `level` of the enabled security level row, `wrapper`
    /// when the wrapper mode row is enabled with `yes`, `policy` the level of the relay's
    /// policy entry. A level this module does not write (`dane`, …) still encrypts, so it
    /// reads as the encrypting mode.
    pub fn from_rows(level: Option<&str>, wrapper: bool, policy: Option<&str>) -> TlsMode {
        let Some(level) = level.filter(|l| !l.is_empty() && *l != "none") else {
            return TlsMode::None;
        };
        if let Some(mode) = policy.and_then(|p| {
            TlsMode::ALL
                .into_iter()
                .find(|m| m.policy_level() == Some(p))
        }) {
            return mode;
        }
        let with = |level: &str| {
            TlsMode::ALL.into_iter().find(|m| {
                m.policy_level().is_none()
                    && m.security_level() == Some(level)
                    && m.wrapper_mode() == wrapper
            })
        };
        with(level)
            .or_else(|| with("encrypt"))
            .unwrap_or(TlsMode::Encrypt)
    }
}

/// How a relay policy entry starts; a `smtp_tls_policy_maps` value that does not is someone
/// else's, and is left alone.
const POLICY_PREFIX: &str = "inline:{ { [";

/// The relay's entry in Postfix's TLS policy table, as an `inline:` map (Postfix 3.0 and
/// later), so it is one directive row (Hermes) or main.cf line (plain Postfix) and needs no
/// file of its own: `inline:{ { [host]:port = verify match=NAME } }`. The CA goes to
/// `smtp_tls_CAfile`, not to the entry's `tafile`: Postfix reads that file before the SMTP
/// client enters its chroot (Debian's default), a `tafile` only inside it.
pub fn policy_map(relay_key: &str, level: &str, name: Option<&str>) -> String {
    let mut entry = format!("{relay_key} = {level}");
    if let Some(name) = name {
        entry.push_str(&format!(" match={name}"));
    }
    format!("inline:{{ {{ {entry} }} }}")
}

/// A relay policy entry as [`policy_map`] writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPolicy<'a> {
    /// The destination, `[host]:port`.
    pub key: &'a str,
    pub level: &'a str,
    pub name: Option<&'a str>,
}

/// Reads back a value [`policy_map`] wrote; `None` for any other value.
pub fn relay_policy(value: &str) -> Option<RelayPolicy<'_>> {
    let entry = value
        .strip_prefix(&POLICY_PREFIX[..POLICY_PREFIX.len() - 1])?
        .strip_suffix("} }")?;
    let (key, rest) = entry.split_once(" = ")?;
    let mut words = rest.split_whitespace();
    let mut policy = RelayPolicy {
        key,
        level: words.next()?,
        name: None,
    };
    for word in words {
        if let Some(name) = word.strip_prefix("match=") {
            policy.name = Some(name);
        }
    }
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each mode's rows: the security level row (none when disabled) and the wrapper pair.
    macro_rules! rows {
        ($($name:ident: $mode:expr => $level:expr, $wrapper:literal;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!($mode.security_level(), $level);
                assert_eq!($mode.wrapper_mode(), $wrapper);
            }
        )*};
    }

    rows! {
        none_disables_tls: TlsMode::None => None, false;
        may_is_opportunistic: TlsMode::May => Some("may"), false;
        encrypt_is_mandatory_starttls: TlsMode::Encrypt => Some("encrypt"), false;
        wrapper_is_encrypt_with_wrapper_mode: TlsMode::Wrapper => Some("encrypt"), true;
        verify_is_encrypt_plus_a_policy: TlsMode::Verify => Some("encrypt"), false;
        secure_is_encrypt_plus_a_policy: TlsMode::Secure => Some("encrypt"), false;
    }

    #[test]
    fn the_policy_entry_reads_back_and_postfix_parses_it() {
        let value = policy_map(
            "[smtp.example.com]:587",
            "verify",
            Some("relay.example.com"),
        );
        assert_eq!(
            value,
            "inline:{ { [smtp.example.com]:587 = verify match=relay.example.com } }"
        );
        assert_eq!(
            relay_policy(&value),
            Some(RelayPolicy {
                key: "[smtp.example.com]:587",
                level: "verify",
                name: Some("relay.example.com"),
            })
        );
        let bare = policy_map("[ipv6:2001:db8::1]:25", "secure", None);
        let read = relay_policy(&bare).unwrap();
        assert_eq!(
            (read.key, read.level, read.name),
            ("[ipv6:2001:db8::1]:25", "secure", None)
        );
        assert_eq!(relay_policy("hash:/etc/postfix/tls_policy"), None);
    }

    #[test]
    fn every_mode_reads_back_from_its_rows() {
        for mode in TlsMode::ALL {
            assert_eq!(
                TlsMode::from_rows(
                    mode.security_level(),
                    mode.wrapper_mode(),
                    mode.policy_level()
                ),
                mode
            );
            let json = serde_json::to_value(mode).unwrap();
            assert_eq!(json, mode.as_str());
        }
        assert_eq!(TlsMode::from_rows(Some(""), false, None), TlsMode::None);
        assert_eq!(
            TlsMode::from_rows(Some("verify"), false, None),
            TlsMode::Encrypt
        );
        assert_eq!(
            TlsMode::from_rows(Some("dane"), true, None),
            TlsMode::Wrapper
        );
        assert_eq!(
            TlsMode::from_rows(None, true, Some("verify")),
            TlsMode::None
        );
    }
}
