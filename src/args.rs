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

/// The defaults of the location options, written once: the schema states them and
/// `validate` applies them.
pub mod defaults {
    pub const ROOT: &str = "/";
    pub const KEY_FILE: &str = "/opt/hermes/keys/hermes.key";
    pub const POSTFIX_DIR: &str = "/etc/postfix";
    pub const TEMPLATE: &str = "/opt/hermes/conf_files/main.cf.HERMES";
    /// How a Hermes host runs its Postfix tools: in the Postfix container.
    pub const HERMES_EXEC: [&str; 3] = ["docker", "exec", "hermes_postfix_dkim"];
    pub const PORT: u16 = 25;
}

/// Ansible's marker for a value that must not be shown.
pub const NO_LOG: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";

/// Options of `hermes_seg.relay.relay_host`. `null` means omitted.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "hermes_seg.relay.relay_host",
    description = "Configure the outbound relay host (smarthost) of a Hermes SEG or Postfix host.",
    transform = option_rules
)]
pub struct Args {
    /// `present` configures the relay host; `absent` disables relaying (direct MX delivery).
    #[schemars(extend("default" = "present"))]
    pub state: Option<State>,
    /// Relay host: IPv4, IPv6 or a DNS name (ASCII; use the xn-- form for IDNs).
    pub host: Option<String>,
    /// TCP port of the relay host, 1-65535 (default 25).
    #[schemars(extend("default" = defaults::PORT))]
    pub port: Option<PortArg>,
    /// Outbound TLS level (default `may`). `verify` / `secure` check the relay's certificate
    /// (Postfix's levels), through a TLS policy entry for the relay.
    #[schemars(extend("default" = "may"))]
    pub tls: Option<TlsMode>,
    /// With `tls: verify`/`secure`: the PEM CA file that signs the relay's certificate, as
    /// Postfix sees the path (trusted for the relay only); default: the system's CAs.
    pub tls_ca_file: Option<String>,
    /// With `tls: verify`/`secure`: the name the relay's certificate must carry (default: the
    /// relay host name).
    pub tls_name: Option<String>,
    /// SASL authentication; defaults to true when `username` is given, else the stored setting.
    pub auth: Option<Flag>,
    /// SASL username (not secret; shown in diffs).
    pub username: Option<String>,
    /// SASL password; omitted or empty keeps the stored one. Never shown.
    #[schemars(with = "Option<String>", extend("writeOnly" = true))]
    pub password: Option<SecretString>,
    /// `hermes` (default): the Hermes rows are the truth and main.cf is rendered whole from
    /// the base template. `postfix`: any Postfix host, no database or key; main.cf is edited in
    /// place for the relay keys only and the password lives only in sasl_passwd.
    #[schemars(extend("default" = "hermes"))]
    pub host_type: Option<HostType>,
    /// Hermes database: `sqlite:PATH` (default `sqlite:<root>/hermes.sqlite`),
    /// `mysql://USER[:PASSWORD]@HOST[:PORT]/DB` or `mysql://USER@localhost/DB?socket=PATH`.
    pub database: Option<String>,
    /// MySQL option file whose `[client]` group supplies user, password, host, port or socket
    /// that the `database` URL leaves out.
    pub database_options_file: Option<String>,
    /// Prefix for `key_file`, `postfix_dir` and `template`.
    #[schemars(extend("default" = defaults::ROOT))]
    pub root: Option<String>,
    /// Hermes AES key file.
    #[schemars(extend("default" = defaults::KEY_FILE))]
    pub key_file: Option<String>,
    /// Directory this host writes main.cf and sasl_passwd into.
    #[schemars(extend("default" = defaults::POSTFIX_DIR))]
    pub postfix_dir: Option<String>,
    /// Base main.cf, a handlebars template.
    #[schemars(extend("default" = defaults::TEMPLATE))]
    pub template: Option<String>,
    /// Context of the template, used as `{{vars.NAME}}`.
    #[schemars(extend("default" = {}))]
    pub vars: Option<BTreeMap<String, String>>,
    /// Command prefix for postconf/postmap/postfix; `[]` runs them on this host (what
    /// `host_type: postfix` does unless one is given).
    #[schemars(extend("default" = defaults::HERMES_EXEC))]
    pub postfix_exec: Option<Vec<String>>,
    /// The Postfix config directory as the Postfix commands see it.
    pub postfix_exec_dir: Option<String>,
    /// Reload Postfix after a change (default true).
    #[schemars(extend("default" = true))]
    pub reload: Option<Flag>,
    /// `smtp_sasl_security_options` (Postfix default `noplaintext, noanonymous` refuses
    /// PLAIN/LOGIN; most smarthosts need `noanonymous`). Omitted: the stored rows are kept.
    pub sasl_security_options: Option<String>,
    /// `smtp_sasl_tls_security_options`, the same for TLS sessions.
    pub sasl_tls_security_options: Option<String>,
    /// Before writing new credentials, log in to the relay host with them (EHLO, STARTTLS
    /// or implicit TLS as `tls` asks, AUTH); a rejected login fails the run, nothing changed.
    #[schemars(extend("default" = false))]
    pub probe: Option<Flag>,
    /// Run the doctor instead: report what is wrong, change nothing.
    #[schemars(extend("default" = false))]
    pub check_only: Option<Flag>,
    /// SASL credentials of per-domain relays (Hermes *Domains* page, `transport` table), set
    /// by domain; sasl_passwd is rebuilt. Without relay options the relay settings are kept.
    pub transport_auth: Option<Vec<TransportAuth>>,
    /// Format of the stored credentials (default `ecb`, what Hermes reads).
    #[schemars(extend("default" = "ecb"))]
    pub cipher: Option<Cipher>,
    /// Re-encrypt every stored credential with a new key and install it; takes no relay options.
    #[schemars(extend("default" = false))]
    pub rotate_key: Option<Flag>,
    /// The new key file (Base64 of 32 bytes), taken as given (not under `root`); default: a
    /// fresh random key.
    pub new_key_file: Option<String>,
    /// Format after a key rotation (default: `cipher`).
    pub new_cipher: Option<Cipher>,
}

/// The option rules a schema can state, built from the lists of `options.rs`: `host_type:
/// postfix` takes none of [`crate::options::HERMES_ONLY`], and `tls_ca_file` / `tls_name` need a
/// verifying `tls`. The shipped validator then enforces them, and editors show them.
fn option_rules(schema: &mut Schema) {
    let refused = |names: &[&str]| -> Map<String, Value> {
        names
            .iter()
            .map(|n| (n.to_string(), Value::Bool(false)))
            .collect()
    };
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
                "if": {"properties": {"host_type": {"const": "postfix"}}, "required": ["host_type"]},
                "then": {"properties": refused(&crate::options::HERMES_ONLY)}
            },
            {
                "description": "tls_ca_file and tls_name need a tls that verifies the certificate",
                "if": {"not": {"properties": {"tls": {"enum": verifying}}, "required": ["tls"]}},
                "then": {"properties": refused(&["tls_ca_file", "tls_name"])}
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

impl Args {
    /// Every option given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("state", self.state.is_some()),
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("tls", self.tls.is_some()),
            ("tls_ca_file", self.tls_ca_file.is_some()),
            ("tls_name", self.tls_name.is_some()),
            ("host_type", self.host_type.is_some()),
            ("auth", self.auth.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("database", self.database.is_some()),
            (
                "database_options_file",
                self.database_options_file.is_some(),
            ),
            ("root", self.root.is_some()),
            ("key_file", self.key_file.is_some()),
            ("postfix_dir", self.postfix_dir.is_some()),
            ("template", self.template.is_some()),
            ("vars", self.vars.is_some()),
            ("postfix_exec", self.postfix_exec.is_some()),
            ("postfix_exec_dir", self.postfix_exec_dir.is_some()),
            ("reload", self.reload.is_some()),
            (
                "sasl_security_options",
                self.sasl_security_options.is_some(),
            ),
            (
                "sasl_tls_security_options",
                self.sasl_tls_security_options.is_some(),
            ),
            ("probe", self.probe.is_some()),
            ("check_only", self.check_only.is_some()),
            ("transport_auth", self.transport_auth.is_some()),
            ("cipher", self.cipher.is_some()),
            ("rotate_key", self.rotate_key.is_some()),
            ("new_key_file", self.new_key_file.is_some()),
            ("new_cipher", self.new_cipher.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

/// What kind of host a run configures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HostType {
    #[default]
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
    let schema = schema();
    let known: Vec<&str> = schema["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
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
        return match option {
            "tls_ca_file" | "tls_name" => crate::validate::needs_verifying_tls(option),
            _ => crate::options::hermes_only(option),
        };
    }
    match option {
        "" => match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                Error::InvalidArgs(unknown_options(unexpected))
            }
            _ => Error::InvalidArgs(err.masked_with("the arguments").to_string()),
        },
        "port"
            if value
                .and_then(Value::as_str)
                .is_some_and(|s| s.trim().is_empty()) =>
        {
            Error::PortMissing
        }
        "port" => Error::option(option, "must be an integer from 1 to 65535"),
        "host" => Error::option(option, "must be a string"),
        "username" | "password" => Error::option(option, QUOTE),
        "auth" | "reload" => Error::option(
            option,
            "must be a boolean (true/false, yes/no, on/off, 1/0)",
        ),
        _ => Error::option(option, err.masked_with("the value").to_string()),
    }
}

/// Options echoed back with secrets hidden: the password and any password inside a URL.
fn echo(options: &Map<String, Value>) -> Map<String, Value> {
    options
        .iter()
        .map(|(key, value)| {
            let shown = match (key.as_str(), value) {
                ("password", _) => Value::String(NO_LOG.to_string()),
                ("transport_auth", Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .map(|item| match item {
                            Value::Object(map) => Value::Object(echo(map)),
                            other => other.clone(),
                        })
                        .collect(),
                ),
                ("database", Value::String(url)) => Value::String(mask_url_password(url)),
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
    fn given_names_every_option() {
        let schema = schema();
        let names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let all: Map<String, Value> = names
            .iter()
            .map(|name| {
                let value = match name.as_str() {
                    "state" => json!("present"),
                    "port" => json!(25),
                    "tls" => json!("may"),
                    "cipher" | "new_cipher" => json!("ecb"),
                    "host_type" => json!("postfix"),
                    "vars" => json!({}),
                    "postfix_exec" | "transport_auth" => json!([]),
                    "auth" | "reload" | "probe" | "check_only" | "rotate_key" => json!(true),
                    _ => json!("x"),
                };
                ((*name).clone(), value)
            })
            .collect();
        let args: Args = serde_json::from_value(Value::Object(all)).unwrap();
        let mut given = args.given();
        given.sort_unstable();
        let mut names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(given, names);
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
