//! Module input: the options of the contract as a typed, schema-described struct. Raw JSON is
//! checked against the JSON schema generated from these types before it is deserialized, so the
//! schema we ship is the one we enforce.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::tls::TlsMode;

/// The options' defaults, written once: the schema states them and `validate` applies them.
pub mod defaults {
    use std::path::{Path, PathBuf};

    use super::{HostType, State};
    use crate::crypto::Cipher;
    use crate::tls::TlsMode;

    pub const STATE: State = State::Present;
    pub const PORT: u16 = 25;
    pub const TLS: TlsMode = TlsMode::May;
    pub const HOST_TYPE: HostType = HostType::Hermes;
    pub const ROOT: &str = "/";
    pub const KEY_FILE: &str = "/opt/hermes/keys/hermes.key";
    pub const POSTFIX_DIR: &str = "/etc/postfix";
    pub const TEMPLATE: &str = "/opt/hermes/conf_files/main.cf.HERMES";
    /// How a Hermes host runs its Postfix tools: in the Postfix container.
    pub const HERMES_EXEC: [&str; 3] = ["docker", "exec", "hermes_postfix_dkim"];
    pub const RELOAD: bool = true;
    pub const PROBE: bool = false;
    pub const CHECK_ONLY: bool = false;
    pub const CIPHER: Cipher = Cipher::Ecb;
    pub const ROTATE_KEY: bool = false;
    /// The SQLite database under `root` when `database` is omitted.
    pub const SQLITE_FILE: &str = "hermes.sqlite";

    /// `path` (a default above or a given option) under `root`, as every location option is.
    pub fn under_root(root: &Path, path: &str) -> PathBuf {
        let path = Path::new(path);
        root.join(path.strip_prefix("/").unwrap_or(path))
    }
}

/// Ansible's marker for a value that must not be shown.
pub const NO_LOG: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";

/// The option table: each option's name (the field), type, default and doc (the schema's
/// `default` and `description`), secrecy (`writeOnly`), written once. From it come the
/// [`Args`] struct and its schema (the man pages and the shipped schema follow), the [`Opt`]
/// names the option rules use, and [`Args::given`].
macro_rules! option_table {
    ($($(#[$attr:meta])* $name:ident: $ty:ty => $opt:ident,)*) => {
        /// Options of `hermes_seg.relay.relay_host`. `null` means omitted.
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(
            title = "hermes_seg.relay.relay_host",
            description = "Configure the outbound relay host (smarthost) of a Hermes SEG or Postfix host.",
            transform = option_rules
        )]
        pub struct Args {
            $($(#[$attr])* pub $name: Option<$ty>,)*
        }

        /// An option, by the name users write.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Opt {
            $($opt,)*
        }

        impl Opt {
            pub const ALL: &[Opt] = &[$(Opt::$opt),*];

            pub const fn name(self) -> &'static str {
                match self {
                    $(Opt::$opt => stringify!($name),)*
                }
            }

            pub fn from_name(name: &str) -> Option<Opt> {
                Opt::ALL.iter().copied().find(|o| o.name() == name)
            }
        }

        impl From<Opt> for String {
            fn from(opt: Opt) -> String {
                opt.name().to_string()
            }
        }

        impl Args {
            /// Every option given, in the table's order.
            pub fn given(&self) -> Vec<Opt> {
                let mut given = Vec::new();
                $(if self.$name.is_some() {
                    given.push(Opt::$opt);
                })*
                given
            }
        }
    };
}

option_table! {
    /// `present` configures the relay host; `absent` disables relaying (direct MX delivery).
    #[schemars(extend("default" = defaults::STATE))]
    state: State => State,
    /// Relay host: IPv4, IPv6 or a DNS name (ASCII; use the xn-- form for IDNs).
    host: String => Host,
    /// TCP port of the relay host, 1-65535.
    #[schemars(extend("default" = defaults::PORT))]
    port: PortArg => Port,
    /// Outbound TLS level. `verify` / `secure` check the relay's certificate
    /// (Postfix's levels), through a TLS policy entry for the relay.
    #[schemars(extend("default" = defaults::TLS))]
    tls: TlsMode => Tls,
    /// With `tls: verify`/`secure`: the PEM CA file that signs the relay's certificate, as
    /// Postfix sees the path (trusted for the relay only); default: the system's CAs.
    tls_ca_file: String => TlsCaFile,
    /// With `tls: verify`/`secure`: the name the relay's certificate must carry (default: the
    /// relay host name).
    tls_name: String => TlsName,
    /// SASL authentication; defaults to true when `username` is given, else the stored setting.
    auth: Flag => Auth,
    /// SASL username (not secret; shown in diffs).
    username: String => Username,
    /// SASL password; omitted or empty keeps the stored one. Never shown.
    #[schemars(with = "Option<String>", extend("writeOnly" = true))]
    password: SecretString => Password,
    /// `hermes`: the Hermes rows are the truth and main.cf is rendered whole from
    /// the base template. `postfix`: any Postfix host, no database or key; main.cf is edited in
    /// place for the relay keys only and the password lives only in sasl_passwd.
    #[schemars(extend("default" = defaults::HOST_TYPE))]
    host_type: HostType => HostType,
    /// Hermes database: `sqlite:PATH` (default `sqlite:<root>/hermes.sqlite`),
    /// `mysql://USER[:PASSWORD]@HOST[:PORT]/DB` or `mysql://USER@localhost/DB?socket=PATH`.
    database: String => Database,
    /// MySQL option file whose `[client]` group supplies user, password, host, port or socket
    /// that the `database` URL leaves out.
    database_options_file: String => DatabaseOptionsFile,
    /// Prefix for `key_file`, `postfix_dir` and `template`.
    #[schemars(extend("default" = defaults::ROOT))]
    root: String => Root,
    /// Hermes AES key file.
    #[schemars(extend("default" = defaults::KEY_FILE))]
    key_file: String => KeyFile,
    /// Directory this host writes main.cf and sasl_passwd into.
    #[schemars(extend("default" = defaults::POSTFIX_DIR))]
    postfix_dir: String => PostfixDir,
    /// Base main.cf, a handlebars template.
    #[schemars(extend("default" = defaults::TEMPLATE))]
    template: String => Template,
    /// Context of the template, used as `{{vars.NAME}}`.
    #[schemars(extend("default" = {}))]
    vars: BTreeMap<String, String> => Vars,
    /// Command prefix for postconf/postmap/postfix; `[]` runs them on this host (what
    /// `host_type: postfix` does unless one is given).
    #[schemars(extend("default" = defaults::HERMES_EXEC))]
    postfix_exec: Vec<String> => PostfixExec,
    /// The Postfix config directory as the Postfix commands see it.
    postfix_exec_dir: String => PostfixExecDir,
    /// Reload Postfix after a change.
    #[schemars(extend("default" = defaults::RELOAD))]
    reload: Flag => Reload,
    /// `smtp_sasl_security_options` (Postfix default `noplaintext, noanonymous` refuses
    /// PLAIN/LOGIN; most smarthosts need `noanonymous`). Omitted: the stored rows are kept.
    sasl_security_options: String => SaslSecurityOptions,
    /// `smtp_sasl_tls_security_options`, the same for TLS sessions.
    sasl_tls_security_options: String => SaslTlsSecurityOptions,
    /// Before writing new credentials, log in to the relay host with them (EHLO, STARTTLS
    /// or implicit TLS as `tls` asks, AUTH); a rejected login fails the run, nothing changed.
    #[schemars(extend("default" = defaults::PROBE))]
    probe: Flag => Probe,
    /// Run the doctor instead: report what is wrong, change nothing.
    #[schemars(extend("default" = defaults::CHECK_ONLY))]
    check_only: Flag => CheckOnly,
    /// SASL credentials of per-domain relays (Hermes *Domains* page, `transport` table), set
    /// by domain; sasl_passwd is rebuilt. Without relay options the relay settings are kept.
    transport_auth: Vec<TransportAuth> => TransportAuth,
    /// Format of the stored credentials (`ecb` is what Hermes reads).
    #[schemars(extend("default" = defaults::CIPHER))]
    cipher: Cipher => Cipher,
    /// Re-encrypt every stored credential with a new key and install it; takes no relay options.
    #[schemars(extend("default" = defaults::ROTATE_KEY))]
    rotate_key: Flag => RotateKey,
    /// The new key file (Base64 of 32 bytes), taken as given (not under `root`); default: a
    /// fresh random key.
    new_key_file: String => NewKeyFile,
    /// Format after a key rotation (default: `cipher`).
    new_cipher: Cipher => NewCipher,
}

/// The option rules a schema can state, built from the lists of `options.rs`: `host_type:
/// postfix` takes none of [`crate::options::HERMES_ONLY`], and `tls_ca_file` / `tls_name` need a
/// verifying `tls`. The shipped validator then enforces them, and editors show them.
fn option_rules(schema: &mut Schema) {
    let refused = |options: &[Opt]| -> Map<String, Value> {
        options
            .iter()
            .map(|o| (o.name().to_string(), Value::Bool(false)))
            .collect()
    };
    let (host_type, tls) = (Opt::HostType.name(), Opt::Tls.name());
    let verifying: Vec<&str> = TlsMode::ALL
        .into_iter()
        .filter(|m| m.policy_level().is_some())
        .map(TlsMode::as_str)
        .collect();
    schema.insert(
        "allOf".to_string(),
        serde_json::json!([
            {
                "description": "host_type 'postfix' takes none of the Hermes-only options",
                "if": {"properties": {host_type: {"const": HostType::Postfix}}, "required": [host_type]},
                "then": {"properties": refused(&crate::options::HERMES_ONLY)}
            },
            {
                "description": "tls_ca_file and tls_name need a tls that verifies the certificate",
                "if": {"not": {"properties": {tls: {"enum": verifying}}, "required": [tls]}},
                "then": {"properties": refused(&[Opt::TlsCaFile, Opt::TlsName])}
            }
        ]),
    );
}

/// One per-domain credential pair. `password` is never shown.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransportAuth {
    /// `transport.domain` of the row(s) to set.
    pub domain: String,
    pub username: String,
    #[schemars(with = "String", extend("writeOnly" = true))]
    pub password: SecretString,
}

/// What kind of host a run configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostType {
    Hermes,
    Postfix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Present,
    Absent,
}

/// A port as JSON number or digit string: Ansible templating hands over strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PortArg {
    Number(i64),
    Text(String),
}

impl JsonSchema for PortArg {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Port".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*$" }
            ]
        })
    }
}

/// A boolean the way Ansible accepts one: JSON bool, 0/1, or yes/no/true/false/on/off.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Number(i64),
    Text(String),
}

impl Flag {
    pub fn value(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Number(n) => *n == 1,
            Flag::Text(s) => matches!(s.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1"),
        }
    }
}

impl JsonSchema for Flag {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Flag".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "boolean" },
                { "type": "integer", "enum": [0, 1] },
                { "type": "string", "pattern": "^(?i:yes|no|true|false|on|off|1|0)$" }
            ]
        })
    }
}

/// The JSON schema of the module options, as shipped in `schema/relay_host.schema.json`.
pub fn schema() -> Value {
    schemars::schema_for!(Args).to_value()
}

/// What the runner asked for besides the options.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunMode {
    pub check: bool,
    pub diff: bool,
}

/// Parsed input: options, runner flags and the options as they may be echoed back.
#[derive(Debug)]
pub struct Input {
    pub args: Args,
    pub mode: RunMode,
    /// `_ansible_module_name`: which module of the collection Ansible ran this binary as.
    pub module_name: Option<String>,
    /// `invocation.module_args`: the options given, secrets replaced by [`NO_LOG`].
    pub echo: Map<String, Value>,
}

/// Parses an args file's text: drops `_ansible_*` keys (keeping check and diff mode) and nulls,
/// checks the rest against the schema, then deserializes it.
pub fn parse(text: &str) -> Result<Input> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::InvalidArgs(format!("arguments are not valid JSON: {e}")))?;
    let Value::Object(raw) = value else {
        return Err(Error::InvalidArgs(
            "arguments must be a JSON object".to_string(),
        ));
    };
    let mut mode = RunMode::default();
    let mut module_name = None;
    let mut options = Map::new();
    for (key, value) in raw {
        match key.as_str() {
            "_ansible_check_mode" => mode.check = flag(&key, &value)?,
            "_ansible_diff" => mode.diff = flag(&key, &value)?,
            "_ansible_module_name" => module_name = value.as_str().map(str::to_string),
            k if k.starts_with("_ansible_") => {}
            _ if value.is_null() => {}
            _ => {
                options.insert(key, value);
            }
        }
    }
    check_schema(&options)?;
    let echo = echo(&options);
    let args = serde_json::from_value(Value::Object(options))
        .map_err(|e| Error::InvalidArgs(format!("arguments: {e}")))?;
    Ok(Input {
        args,
        mode,
        module_name,
        echo,
    })
}

/// Ansible's mode flags are JSON booleans; anything else is refused rather than guessed (a
/// `"yes"` read as false would turn a dry run into a real one).
fn flag(key: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::InvalidArgs(format!("{key} must be true or false, not {value}")))
}

/// The shipped schema, compiled into the binary by jsonschema's macro: a run validates its args
/// without compiling a schema (and its meta-schema) first, which was most of a small run's
/// work. A test checks that the file is the schema these types generate.
#[jsonschema::validator(path = "schema/relay_host.schema.json")]
struct ShippedSchema;

fn check_schema(options: &Map<String, Value>) -> Result<()> {
    let instance = Value::Object(options.clone());
    match ShippedSchema::iter_errors(&instance).next() {
        None => Ok(()),
        Some(err) => {
            let option = err
                .instance_path()
                .as_str()
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            Err(schema_error(&option, options.get(&option), &err))
        }
    }
}

/// `unknown option 'prot': did you mean 'port'?`, the closest known name by edit distance (as
/// clap suggests a flag), or the list of options when none is close.
fn unknown_options(unexpected: &[String]) -> String {
    let mut known: Vec<&str> = Opt::ALL.iter().map(|o| o.name()).collect();
    known.sort_unstable();
    let parts: Vec<String> = unexpected
        .iter()
        .map(|name| {
            let closest = known
                .iter()
                .map(|k| (strsim::jaro(name, k), *k))
                .filter(|(score, _)| *score > 0.7)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match closest {
                Some((_, k)) => format!("unknown option '{name}': did you mean '{k}'?"),
                None => format!("unknown option '{name}'"),
            }
        })
        .collect();
    if parts.iter().any(|p| p.contains("did you mean")) {
        parts.join("; ")
    } else {
        format!("{} (known options: {})", parts.join("; "), known.join(", "))
    }
}

/// Turns a schema violation into the error a user can act on, with the Hermes code where the
/// page has one. Values are never quoted: the offending one may be a secret.
fn schema_error(option: &str, value: Option<&Value>, err: &jsonschema::ValidationError) -> Error {
    const QUOTE: &str = "must be a JSON string: quote it (YAML reads an unquoted 0123 as 83)";
    if let jsonschema::error::ValidationErrorKind::FalseSchema = err.kind() {
        // The schema's allOf rules, in the words of options.rs and validate.rs.
        return match Opt::from_name(option) {
            Some(opt @ (Opt::TlsCaFile | Opt::TlsName)) => {
                crate::validate::needs_verifying_tls(opt)
            }
            Some(opt) => crate::options::hermes_only(opt),
            None => Error::InvalidArgs(err.masked_with("the arguments").to_string()),
        };
    }
    match Opt::from_name(option) {
        None => match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                Error::InvalidArgs(unknown_options(unexpected))
            }
            _ => Error::InvalidArgs(err.masked_with("the arguments").to_string()),
        },
        Some(Opt::Port)
            if value
                .and_then(Value::as_str)
                .is_some_and(|s| s.trim().is_empty()) =>
        {
            Error::PortMissing
        }
        Some(Opt::Port) => Error::option(option, "must be an integer from 1 to 65535"),
        Some(Opt::Host) => Error::option(option, "must be a string"),
        Some(Opt::Username | Opt::Password) => Error::option(option, QUOTE),
        Some(Opt::Auth | Opt::Reload) => Error::option(
            option,
            "must be a boolean (true/false, yes/no, on/off, 1/0)",
        ),
        _ => Error::option(option, err.masked_with("the value").to_string()),
    }
}

/// Options echoed back with secrets hidden: the password (a `transport_auth` item's too) and
/// any password inside a URL.
fn echo(options: &Map<String, Value>) -> Map<String, Value> {
    options
        .iter()
        .map(|(key, value)| {
            let shown = match (Opt::from_name(key), value) {
                (Some(Opt::Password), _) => Value::String(NO_LOG.to_string()),
                (Some(Opt::TransportAuth), Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .map(|item| match item {
                            Value::Object(map) => Value::Object(echo(map)),
                            other => other.clone(),
                        })
                        .collect(),
                ),
                (Some(Opt::Database), Value::String(url)) => Value::String(mask_url_password(url)),
                _ => value.clone(),
            };
            (key.clone(), shown)
        })
        .collect()
}

/// `scheme://user:secret@host/db` → `scheme://user:********@host/db`. A value not of that form
/// is shown only if it cannot hold a password (nothing but a path after `scheme:`); else all
/// after the scheme is masked, since a malformed URL may hold one anywhere. Every query value
/// but `socket`'s is masked (`?password=`, or any name a driver might read one from).
pub fn mask_url_password(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return mask_user_info(url);
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("socket", _)) => pair.to_string(),
            Some((name, _)) if !name.contains(['@', ':', '/']) => format!("{name}=********"),
            _ => "********".to_string(),
        })
        .collect();
    format!("{}?{}", mask_user_info(base), query.join("&"))
}

fn mask_user_info(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        // The last `@` ends the user info even when an unencoded password holds `/` or `@`.
        && let Some(at) = rest.rfind('@')
    {
        return match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:********{}", &rest[at..]),
            None => url.to_string(),
        };
    }
    match url.split_once(':') {
        Some((scheme, rest)) if rest.contains([':', '@']) => format!("{scheme}:********"),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ansible_keys_and_nulls_are_dropped() {
        let input = parse(
            r#"{"host":"a.example","port":null,"_ansible_check_mode":true,
                "_ansible_diff":true,"_ansible_verbosity":3,"_ansible_new_key":1}"#,
        )
        .unwrap();
        assert!(input.mode.check && input.mode.diff);
        assert!(input.args.port.is_none());
        assert_eq!(input.echo.len(), 1);
    }

    #[test]
    fn unknown_options_are_named() {
        let err = parse(r#"{"hots":"a.example"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_args");
        assert!(err.to_string().contains("hots"), "{err}");
        let err = parse(r#"{"prot":587}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown option 'prot': did you mean 'port'?"
        );
        let err = parse(r#"{"zzzz":1}"#).unwrap_err().to_string();
        assert!(
            err.starts_with("unknown option 'zzzz' (known options: "),
            "{err}"
        );
    }

    #[test]
    fn the_schema_states_the_option_rules() {
        let err = parse(r#"{"tls":"may","tls_ca_file":"/ca.pem"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "option 'tls_ca_file': needs tls 'verify' or 'secure' (the levels that check the \
             certificate)"
        );
        assert!(parse(r#"{"tls":"secure","tls_name":"relay.example"}"#).is_ok());
        let err = parse(r#"{"host_type":"postfix","vars":{}}"#).unwrap_err();
        assert_eq!(err.code(), "conflicting_options");
        assert!(err.to_string().contains("takes no 'vars' option"), "{err}");
        assert!(parse(r#"{"host_type":"hermes","vars":{}}"#).is_ok());
    }

    #[test]
    fn numbers_for_credentials_ask_for_quotes() {
        let err = parse(r#"{"username":83}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_username");
        assert!(err.to_string().contains("quote"));
    }

    #[test]
    fn schema_errors_never_quote_the_value() {
        let err = parse(r#"{"password":["s3cr3t-value"]}"#).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
        let err = parse(r#"{"vars":{"a":"s3cr3t-value","b":1}}"#).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn ports_and_flags_accept_ansible_strings() {
        let input = parse(r#"{"port":"587","auth":"Yes","reload":0}"#).unwrap();
        assert!(matches!(input.args.port, Some(PortArg::Text(ref s)) if s == "587"));
        assert!(input.args.auth.unwrap().value());
        assert!(!input.args.reload.unwrap().value());
        assert_eq!(parse(r#"{"port":""}"#).unwrap_err().code(), "port_missing");
        assert_eq!(parse(r#"{"port":0}"#).unwrap_err().code(), "invalid_port");
        assert_eq!(
            parse(r#"{"port":"5x"}"#).unwrap_err().code(),
            "invalid_port"
        );
        assert_eq!(
            parse(r#"{"auth":"maybe"}"#).unwrap_err().code(),
            "invalid_args"
        );
    }

    #[test]
    fn the_option_table_is_the_schema_and_given_names_every_option() {
        let schema = schema();
        let mut properties: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        properties.sort_unstable();
        let mut table: Vec<&str> = Opt::ALL.iter().map(|o| o.name()).collect();
        table.sort_unstable();
        assert_eq!(properties, table);
        let all: Map<String, Value> = Opt::ALL
            .iter()
            .map(|opt| {
                let value = match opt {
                    Opt::State => json!("present"),
                    Opt::Port => json!(25),
                    Opt::Tls => json!("may"),
                    Opt::Cipher | Opt::NewCipher => json!("ecb"),
                    Opt::HostType => json!("postfix"),
                    Opt::Vars => json!({}),
                    Opt::PostfixExec | Opt::TransportAuth => json!([]),
                    Opt::Auth | Opt::Reload | Opt::Probe | Opt::CheckOnly | Opt::RotateKey => {
                        json!(true)
                    }
                    _ => json!("x"),
                };
                (opt.name().to_string(), value)
            })
            .collect();
        let args: Args = serde_json::from_value(Value::Object(all)).unwrap();
        assert_eq!(args.given(), Opt::ALL);
        assert_eq!(Opt::from_name("tls_ca_file"), Some(Opt::TlsCaFile));
        assert_eq!(Opt::from_name("prot"), None);
    }

    /// README's option table names every option once and states the schema's default.
    #[test]
    fn the_readme_table_documents_every_option_and_its_default() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("## Options\n")
            .nth(1)
            .and_then(|rest| {
                rest.split("\n\n")
                    .map(str::trim)
                    .find(|block| block.starts_with('|'))
            })
            .expect("README has an options table under ## Options");
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(2)
            .map(|line| line.split(" | ").collect())
            .collect();
        let schema = schema();
        for opt in Opt::ALL {
            let quoted = format!("`{}`", opt.name());
            let found: Vec<&Vec<&str>> = rows
                .iter()
                .filter(|cells| {
                    cells[0]
                        .split(", ")
                        .any(|c| c.trim_start_matches("| ") == quoted)
                })
                .collect();
            assert_eq!(found.len(), 1, "README's table lists {quoted} once");
            let Some(default) = schema["properties"][opt.name()].get("default") else {
                continue;
            };
            let shown = match default {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert!(
                found[0][2].contains(&shown),
                "README gives {quoted} the default {:?}, the schema {shown}",
                found[0][2]
            );
        }
    }

    #[test]
    fn url_passwords_in_the_query_or_malformed_urls_are_masked() {
        for url in [
            "mysql://u@h/db?password=s3cr3t-pw",
            "mysql://h/db?password=s3cr3t-pw",
            "mysql://u:s3cr3t-pw@h/db?password=s3cr3t-pw&socket=/run/x.sock",
            "mysql://u@h/db?pass=s3cr3t-pw",
            "mysql://u:pa?s3cr3t-pw@h/db",
            "mysql:/u:s3cr3t-pw@h?x",
            "mysql://u@h/db?s3cr3t-pw",
            "mysql://u@h/db?a=1&pwd=s3cr3t-pw",
        ] {
            let shown = mask_url_password(url);
            assert!(!shown.contains("s3cr3t"), "{url} -> {shown}");
        }
        assert_eq!(
            mask_url_password("mysql://u@h/db?socket=/run/m.sock&password=x"),
            "mysql://u@h/db?socket=/run/m.sock&password=********"
        );
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("mysql://hermes:pw@db:3306/hermes"),
            "mysql://hermes:********@db:3306/hermes"
        );
        assert_eq!(mask_url_password("sqlite:/x/y"), "sqlite:/x/y");
        assert_eq!(
            mask_url_password("mysql://root:s3cr3t/hermes"),
            "mysql:********"
        );
        assert_eq!(
            mask_url_password("mysql//root:s3cr3t@h/hermes"),
            "mysql//root:********"
        );
        assert_eq!(
            mask_url_password("mysql://hermes:Ab/Sec@ret@127.0.0.1:3306/hermes"),
            "mysql://hermes:********@127.0.0.1:3306/hermes"
        );
        let input = parse(r#"{"password":"pw","database":"mysql://u:pw@h/d"}"#).unwrap();
        assert_eq!(input.echo["password"], NO_LOG);
        assert_eq!(input.echo["database"], "mysql://u:********@h/d");
    }

    mod fuzz {
        use proptest::prelude::*;
        use serde_json::{Map, Value, json};

        use crate::options::Request;

        /// JSON values of every kind, strings with anything in them.
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                prop::string::string_regex("(?s).{0,16}")
                    .unwrap()
                    .prop_map(Value::from),
                Just(json!("587")),
                Just(json!("smtp.example.com")),
            ];
            leaf.prop_recursive(2, 8, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                    prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "state",
                    "host",
                    "port",
                    "tls",
                    "auth",
                    "username",
                    "password",
                    "database",
                    "root",
                    "vars",
                    "postfix_exec",
                    "postfix_exec_dir",
                    "reload",
                    "probe",
                    "transport_auth",
                    "_ansible_check_mode",
                    "_ansible_diff",
                    "_ansible_module_name",
                    "rotate_key",
                    "cipher",
                ])
                .prop_map(str::to_string),
                "[a-z_]{1,10}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any args object: parsing and validating never panic, and the echo never shows
            /// the password.
            #[test]
            fn parse_and_validate_any_object(
                options in prop::collection::btree_map(key(), value(), 0..8),
                password in "[a-zA-Z0-9]{12}",
            ) {
                let mut object: Map<String, Value> = options.into_iter().collect();
                if object.contains_key("password") {
                    object.insert("password".to_string(), json!(password));
                }
                let text = Value::Object(object).to_string();
                if let Ok(input) = super::super::parse(&text) {
                    let echo = Value::Object(input.echo).to_string();
                    prop_assert!(!echo.contains(&password), "{echo}");
                    let _ = crate::validate::validate(input.args, Request::Apply);
                }
            }

            /// Any text at all is an error or an input, never a panic.
            #[test]
            fn parse_any_text(text in "(?s).{0,64}") {
                let _ = super::super::parse(&text);
            }
        }
    }
}
