//! The `tls` option as a domain type: each mode's meaning for Postfix (the security level row,
//! the implicit-TLS wrapper row) and how the rows read back. Matches are exhaustive, so a new
//! mode cannot silently be written as another one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `wrapper` is implicit TLS (port 465): `encrypt` plus `smtp_tls_wrappermode = yes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    May,
    Encrypt,
    Wrapper,
}

impl TlsMode {
    pub const ALL: [TlsMode; 4] = [
        TlsMode::None,
        TlsMode::May,
        TlsMode::Encrypt,
        TlsMode::Wrapper,
    ];

    /// The option value, as in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::May => "may",
            TlsMode::Encrypt => "encrypt",
            TlsMode::Wrapper => "wrapper",
        }
    }

    /// `smtp_tls_security_level`; `None` disables the TLS rows (Hermes's empty level).
    pub fn security_level(self) -> Option<&'static str> {
        match self {
            TlsMode::None => None,
            TlsMode::May => Some("may"),
            TlsMode::Encrypt | TlsMode::Wrapper => Some("encrypt"),
        }
    }

    /// `smtp_tls_wrappermode = yes`: TLS from the first byte instead of STARTTLS.
    pub fn wrapper_mode(self) -> bool {
        match self {
            TlsMode::Wrapper => true,
            TlsMode::None | TlsMode::May | TlsMode::Encrypt => false,
        }
    }

    /// The mode enabled rows configure: `level` of the enabled security level row, `wrapper`
    /// when the wrapper mode row is enabled with `yes`. A level this module does not write
    /// (`dane`, `verify`, …) still encrypts, so it reads as the encrypting mode.
    pub fn from_rows(level: Option<&str>, wrapper: bool) -> TlsMode {
        let Some(level) = level.filter(|l| !l.is_empty() && *l != "none") else {
            return TlsMode::None;
        };
        let with = |level: &str| {
            TlsMode::ALL
                .into_iter()
                .find(|m| m.security_level() == Some(level) && m.wrapper_mode() == wrapper)
        };
        with(level)
            .or_else(|| with("encrypt"))
            .unwrap_or(TlsMode::Encrypt)
    }
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
    }

    #[test]
    fn every_mode_reads_back_from_its_rows() {
        for mode in TlsMode::ALL {
            assert_eq!(
                TlsMode::from_rows(mode.security_level(), mode.wrapper_mode()),
                mode
            );
            let json = serde_json::to_value(mode).unwrap();
            assert_eq!(json, mode.as_str());
        }
        assert_eq!(TlsMode::from_rows(Some(""), false), TlsMode::None);
        assert_eq!(TlsMode::from_rows(Some("verify"), false), TlsMode::Encrypt);
        assert_eq!(TlsMode::from_rows(Some("dane"), true), TlsMode::Wrapper);
        assert_eq!(TlsMode::from_rows(None, true), TlsMode::None);
    }
}
