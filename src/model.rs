//! Hermes's rows as this module sees them: the `postfix` rows of `parameters` (dual-row
//! directives), the two credential rows of `system_settings`, and `transport`.

use std::cmp::Ordering;
use std::sync::Arc;

pub const RELAYHOST: &str = "relayhost";
pub const SASL_AUTH: &str = "smtp_sasl_auth_enable";
pub const PASSWORD_MAPS: &str = "smtp_sasl_password_maps";
pub const TLS_LEVEL: &str = "smtp_tls_security_level";
pub const WRAPPERMODE: &str = "smtp_tls_wrappermode";
pub const SASL_SECURITY_OPTIONS: &str = "smtp_sasl_security_options";
pub const SASL_TLS_SECURITY_OPTIONS: &str = "smtp_sasl_tls_security_options";
pub const TLS_POLICY_MAPS: &str = "smtp_tls_policy_maps";
pub const TLS_CA_FILE: &str = "smtp_tls_CAfile";
pub const USERNAME_SETTING: &str = "relay_host_username";
pub const PASSWORD_SETTING: &str = "relay_host_password";
/// The `transport` columns of the per-domain credentials (ciphertext, like the settings).
pub const TRANSPORT_USERNAME: &str = "authentication_username";
pub const TRANSPORT_PASSWORD: &str = "authentication_password";

/// Where a `system_settings` credential lives, for messages.
pub fn setting_label(parameter: &str) -> String {
    format!("system_settings.{parameter}")
}

/// One `parameters` row (module `postfix`, conf_file `main.cf`). `child` 2 is a directive,
/// 1 a value of the directive whose id is in `parent` (as text).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRow {
    pub id: i64,
    pub parameter: Option<String>,
    pub name: Option<String>,
    pub parent: Option<String>,
    pub child: Option<i64>,
    pub order1: Option<f64>,
    pub enabled: i64,
    pub applied: Option<i64>,
    pub action: Option<String>,
}

impl ParamRow {
    /// A disabled, applied parent row, as unit tests build their row sets from.
    #[cfg(test)]
    pub fn test_parent(id: i64, name: &str) -> ParamRow {
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

    pub fn is_parent(&self) -> bool {
        self.child == Some(2)
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled == 1
    }

    pub fn param(&self) -> &str {
        self.parameter.as_deref().unwrap_or("")
    }

    pub fn is_pending(&self) -> bool {
        self.applied == Some(2)
    }

    /// The columns a save can change, as one comparable value.
    pub fn editable(&self) -> (Option<&str>, Option<&str>, i64) {
        (
            self.parameter.as_deref(),
            self.name.as_deref(),
            self.enabled,
        )
    }
}

/// `transport` row fields that feed sasl_passwd. A host may have 100,000 rows: the columns
/// with few distinct values (port, authentication, the ciphertexts, which Hermes reuses across
/// domains) share one `Arc` per value, the others are exact-size boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportRow {
    pub id: i64,
    pub domain: Option<Box<str>>,
    pub destination: Option<Box<str>>,
    pub port: Option<Arc<str>>,
    pub authentication: Option<Arc<str>>,
    pub username_cipher: Option<Arc<str>>,
    pub password_cipher: Option<Arc<str>>,
}

/// The credential columns of one `transport` row.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportCreds {
    pub authentication: Option<String>,
    pub username_cipher: Option<String>,
    pub password_cipher: Option<String>,
}

impl TransportRow {
    /// `transport#ID (domain)`, how messages name the row.
    pub fn label(&self) -> String {
        format!(
            "transport#{} ({})",
            self.id,
            self.domain.as_deref().map_or("no domain", str::trim)
        )
    }

    /// `transport#ID (domain).column`, how messages name one of its credentials.
    pub fn column_label(&self, column: &str) -> String {
        format!("{}.{column}", self.label())
    }

    pub fn creds(&self) -> TransportCreds {
        let owned = |v: &Option<Arc<str>>| v.as_deref().map(String::from);
        TransportCreds {
            authentication: owned(&self.authentication),
            username_cipher: owned(&self.username_cipher),
            password_cipher: owned(&self.password_cipher),
        }
    }
}

/// Everything the plan needs from the database, read in one consistent go.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub params: Vec<ParamRow>,
    /// `relay_host_username` / `relay_host_password`; `None` when the row does not exist.
    pub username_cipher: Option<String>,
    pub password_cipher: Option<String>,
    pub transports: Vec<TransportRow>,
    /// A plain Postfix host's sasl_passwd entries besides the relay's (Hermes: none; its
    /// per-domain lines come from `transport`).
    pub sasl_entries: Vec<SaslEntry>,
}

/// One `key user:password` entry of a plain Postfix host's sasl_passwd, the credentials
/// encrypted with the run's key.
#[derive(Debug, Clone, PartialEq)]
pub struct SaslEntry {
    pub key: String,
    pub username_cipher: String,
    pub password_cipher: String,
}

impl Snapshot {
    pub fn parent(&self, directive: &str) -> Option<&ParamRow> {
        self.params
            .iter()
            .find(|r| r.is_parent() && r.param() == directive)
    }

    /// The `smtp_sasl_password_maps` value, e.g. `hash:/etc/postfix/sasl_passwd`.
    pub fn password_map(&self) -> Option<&str> {
        let parent = self.parent(PASSWORD_MAPS)?;
        self.values_of(parent).first().map(|v| v.param())
    }

    /// Value rows of a parent in Hermes's `order1` order (NULL first, as MariaDB sorts).
    pub fn values_of<'a>(&'a self, parent: &ParamRow) -> Vec<&'a ParamRow> {
        let id = parent.id.to_string();
        let mut values: Vec<&ParamRow> = self
            .params
            .iter()
            .filter(|r| r.child == Some(1) && r.parent.as_deref() == Some(id.as_str()))
            .collect();
        values.sort_by(|a, b| by_order1(a, b));
        values
    }
}

/// Hermes's order of a directive's value rows: `order1` (NULL first, as MariaDB sorts), then id.
pub fn by_order1(a: &ParamRow, b: &ParamRow) -> Ordering {
    a.order1
        .partial_cmp(&b.order1)
        .unwrap_or(Ordering::Equal)
        .then(a.id.cmp(&b.id))
}

/// A write the store performs; the `before` side is what a rollback puts back.
#[derive(Debug, Clone, PartialEq)]
// A plan holds a handful of changes: boxing rows would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// Update of the editable columns plus applied/action of one `parameters` row.
    Param { before: ParamRow, after: ParamRow },
    /// A directive Hermes's seed lacks: a parent and one value row, inserted enabled and
    /// already applied (this run renders them into main.cf).
    NewDirective { name: String, value: String },
    /// Set the credentials of one `transport` row.
    Transport {
        id: i64,
        before: TransportCreds,
        after: TransportCreds,
    },
    /// Set a `system_settings` value; `before: None` inserts the missing row.
    Setting {
        parameter: &'static str,
        before: Option<String>,
        after: String,
    },
}

impl Change {
    /// The `parameters` row an update writes.
    pub fn param_id(&self) -> Option<i64> {
        match self {
            Change::Param { after, .. } => Some(after.id),
            _ => None,
        }
    }
}

/// The directives this module writes: Postfix must know every one of them, and each must come
/// from one enabled row.
/// On a plain Postfix host, these are the main.cf keys the module owns.
pub const MANAGED: [&str; 9] = [
    RELAYHOST,
    SASL_AUTH,
    PASSWORD_MAPS,
    TLS_LEVEL,
    WRAPPERMODE,
    SASL_SECURITY_OPTIONS,
    SASL_TLS_SECURITY_OPTIONS,
    TLS_POLICY_MAPS,
    TLS_CA_FILE,
];
