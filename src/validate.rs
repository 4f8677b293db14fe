//! The semantic rules of the Hermes page (codes 1–6) and of the contract (hosts, credentials,
//! lengths), turning schema-valid [`Args`] into a typed [`Desired`] state and the [`Settings`]
//! of the host it applies to. Rules that need the stored state (codes 5 and 6) live in `plan`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use std::sync::Arc;

use crate::args::{Args, Flag, HostType, Opt, PortArg, State, defaults};
use crate::crypto::{Cipher, Key};
use crate::error::{Error, Result};
use crate::options::{self, Request};
use crate::render;
use crate::store::{self, Location};
use crate::tls::TlsMode;

/// `system_settings.value varchar(1024)` holds the relay credentials' ciphertext.
pub const SETTING_COLUMN: usize = 1024;
/// `transport.authentication_username/password varchar(255)` hold the per-domain ones.
pub const TRANSPORT_COLUMN: usize = 255;
/// `[host]:65535` must fit `parameters.parameter varchar(255)`.
const MAX_HOST_LEN: usize = 247;

/// What the user wants, validated.
#[derive(Debug)]
pub struct Desired {
    pub relay: Wanted,
    /// `smtp_sasl_security_options` / `smtp_sasl_tls_security_options`; `None` leaves the rows.
    pub sasl_security_options: Option<String>,
    pub sasl_tls_security_options: Option<String>,
    pub transport_auth: Vec<DomainCreds>,
}

/// Per-domain SASL credentials for the `transport` rows of `domain`.
#[derive(Debug)]
pub struct DomainCreds {
    pub domain: String,
    pub username: String,
    pub password: SecretString,
}

#[derive(Debug)]
pub enum Wanted {
    /// The stored relay settings as they are (doctor's view of the current state).
    Keep,
    Absent,
    Present(Relay),
}

#[derive(Debug)]
pub struct Relay {
    pub host: Host,
    pub port: u16,
    pub tls: TlsMode,
    /// `tls: verify`/`secure` only: the CA that signs the relay's certificate.
    pub tls_ca_file: Option<CaFile>,
    /// `tls: verify`/`secure` only: the name the certificate must carry.
    pub tls_name: Option<String>,
    pub auth: AuthIntent,
}

/// A PEM CA file as Postfix reads it (`postfix`, written into the policy entry) and as this
/// host reads it (`host`, for the probe and the doctor).
#[derive(Debug, Clone)]
pub struct CaFile {
    pub postfix: String,
    pub host: PathBuf,
}

/// `on: None` keeps the stored setting; `username`/`password` `None` keep the stored value.
#[derive(Debug)]
pub struct AuthIntent {
    pub on: Option<bool>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Name(String),
}

impl Host {
    /// The `[host]:port` form of the relayhost value row and the sasl_passwd key. IPv6 takes
    /// Postfix's `ipv6:` address-literal prefix inside the brackets.
    pub fn relay_literal(&self, port: u16) -> String {
        match self {
            Host::V6(addr) => format!("[ipv6:{addr}]:{port}"),
            other => format!("[{other}]:{port}"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::V4(a) => a.fmt(f),
            Host::V6(a) => a.fmt(f),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// Where and how this run reads and writes: paths resolved against `root`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Absolute; `key_file`, `postfix_dir` and `template` are under it.
    pub root: PathBuf,
    pub host_type: HostType,
    /// A plain Postfix host's key for this run only: its store encrypts the credentials it
    /// reads from sasl_passwd with it, so they go through the plan as Hermes's do.
    pub session_key: Option<Arc<Key>>,
    pub database: Location,
    pub key_file: PathBuf,
    pub postfix_dir: PathBuf,
    pub template: PathBuf,
    pub vars: BTreeMap<String, String>,
    pub postfix_exec: Vec<String>,
    pub postfix_exec_dir: String,
    pub reload: bool,
    pub probe: bool,
    pub cipher: Cipher,
}

/// Validates everything that does not need the stored state. For doctor and info, without
/// any relay option the stored settings are the reference.
pub fn validate(args: Args, request: Request) -> Result<(Desired, Settings)> {
    let settings = settings(&args, request)?;
    let keep_if_unset = request != Request::Apply;
    let relay_given = options::relay_given(&args);
    let only_transports = args.transport_auth.is_some() && !relay_given;
    let state = match args.state {
        _ if (keep_if_unset || only_transports) && !relay_given => None,
        state => Some(state.unwrap_or(defaults::STATE)),
    };
    let relay = match state {
        None => Wanted::Keep,
        Some(State::Absent) => Wanted::Absent,
        Some(State::Present) => Wanted::Present(Relay {
            host: parse_host(args.host.as_deref().unwrap_or(""))?,
            port: parse_port(args.port.as_ref())?,
            tls: args.tls.unwrap_or(defaults::TLS),
            // The schema takes them only with a verifying `tls` (`args::option_rules`).
            tls_ca_file: args
                .tls_ca_file
                .as_deref()
                .map(|path| ca_file(path, &settings))
                .transpose()?,
            tls_name: args
                .tls_name
                .as_deref()
                .map(|name| match parse_host(name) {
                    Ok(Host::Name(name)) => Ok(name),
                    Ok(_) => Err(Error::option(
                        Opt::TlsName,
                        "must be a DNS name, not an address",
                    )),
                    Err(e) => Err(Error::option(
                        Opt::TlsName,
                        e.to_string()
                            .trim_start_matches("option 'host': ")
                            .to_string(),
                    )),
                })
                .transpose()?,
            auth: auth_intent(
                args.auth.map(|f| f.value()),
                args.username,
                args.password,
                settings.cipher.max_plain_bytes(SETTING_COLUMN),
            )?,
        }),
    };
    let transport_auth = args
        .transport_auth
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let limit = settings.cipher.max_plain_bytes(TRANSPORT_COLUMN);
            if t.domain.trim().is_empty() {
                return Err(Error::option(Opt::TransportAuth, "a domain is empty"));
            }
            check_username(&t.username, limit)?;
            if t.username.is_empty() {
                return Err(Error::UsernameMissing);
            }
            check_password(t.password.expose_secret(), limit)?;
            if t.password.expose_secret().is_empty() {
                return Err(Error::PasswordMissing);
            }
            Ok(DomainCreds {
                domain: t.domain.trim().to_string(),
                username: t.username,
                password: t.password,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let desired = Desired {
        transport_auth,
        relay,
        sasl_security_options: sasl_options(Opt::SaslSecurityOptions, args.sasl_security_options)?,
        sasl_tls_security_options: sasl_options(
            Opt::SaslTlsSecurityOptions,
            args.sasl_tls_security_options,
        )?,
    };
    Ok((desired, settings))
}

/// Where and how `request` runs, after the option rules ([`options::check`]) hold.
pub(crate) fn settings(args: &Args, request: Request) -> Result<Settings> {
    options::check(request, args)?;
    // Absolute, so that Postfix's `-c DIR` and the map paths in main.cf hold from any cwd.
    let root_arg = Path::new(args.root.as_deref().unwrap_or(defaults::ROOT));
    let root = std::path::absolute(root_arg).map_err(|e| Error::io(root_arg, e))?;
    let under_root = |given: &Option<String>, default: &str| {
        defaults::under_root(&root, given.as_deref().unwrap_or(default))
    };
    let postfix_dir = under_root(&args.postfix_dir, defaults::POSTFIX_DIR);
    let host_type = args.host_type.unwrap_or(defaults::HOST_TYPE);
    // A plain Postfix host runs its own Postfix tools; a Hermes host's live in a container.
    let postfix_exec = args
        .postfix_exec
        .clone()
        .unwrap_or_else(|| match host_type {
            HostType::Postfix => Vec::new(),
            HostType::Hermes => defaults::HERMES_EXEC.map(String::from).to_vec(),
        });
    let postfix_exec_dir = match &args.postfix_exec_dir {
        Some(dir) => dir.clone(),
        None if postfix_exec.is_empty() => postfix_dir.to_string_lossy().into_owned(),
        None => defaults::POSTFIX_DIR.to_string(),
    };
    // Both end up in main.cf: a line break would add directives of its own.
    if !crate::render::one_line(&postfix_exec_dir) {
        return Err(Error::option(
            Opt::PostfixExecDir,
            "holds a line break or control character",
        ));
    }
    let (database, session_key) = match (host_type, args.database.as_deref()) {
        (HostType::Postfix, _) => {
            let key = Arc::new(Key::generate()?);
            let store =
                store::postfix_host_at(postfix_dir.clone(), postfix_exec_dir.clone(), key.clone());
            (store, Some(key))
        }
        (HostType::Hermes, None) => (store::sqlite_at(root.join(defaults::SQLITE_FILE)), None),
        (HostType::Hermes, Some(url)) => (
            Location::parse(url, args.database_options_file.as_deref().map(Path::new))?,
            None,
        ),
    };
    if let Some(name) = args.vars.iter().flatten().find_map(|(name, value)| {
        (!crate::render::one_line(name) || !crate::render::one_line(value)).then_some(name)
    }) {
        return Err(Error::option(
            Opt::Vars,
            format!(
                "{name:?} holds a line break or control character, which would write more than \
                 one main.cf line"
            ),
        ));
    }
    Ok(Settings {
        host_type,
        session_key,
        root: root.clone(),
        database,
        key_file: under_root(&args.key_file, defaults::KEY_FILE),
        template: under_root(&args.template, defaults::TEMPLATE),
        postfix_dir,
        vars: args.vars.clone().unwrap_or_default(),
        postfix_exec,
        postfix_exec_dir,
        reload: args.reload.as_ref().map_or(defaults::RELOAD, Flag::value),
        probe: args.probe.as_ref().map_or(defaults::PROBE, Flag::value),
        cipher: args.cipher.unwrap_or(defaults::CIPHER),
    })
}

/// `tls_ca_file` / `tls_name` without a verifying `tls`: the schema refuses them
/// (`args::option_rules`).
pub fn needs_verifying_tls(option: Opt) -> Error {
    Error::option(
        option,
        "needs tls 'verify' or 'secure' (the levels that check the certificate)",
    )
}

/// The CA file, as Postfix names it in the policy entry: absolute, one word (the entry is
/// words separated by blanks, in braces), holding at least one PEM certificate this host can
/// read. A path under the Postfix dir (as Postfix sees it) is read under `postfix_dir`, any
/// other under `root`.
pub(crate) fn ca_file(path: &str, settings: &Settings) -> Result<CaFile> {
    let bad = |why: &str| Error::option(Opt::TlsCaFile, why);
    if !path.starts_with('/') {
        return Err(bad("must be an absolute path, as Postfix sees it"));
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '{' | '}' | ','))
    {
        return Err(bad(
            "must not hold blanks, control characters, braces or commas",
        ));
    }
    let in_postfix_dir = [settings.postfix_exec_dir.as_str(), "/etc/postfix"]
        .into_iter()
        .find_map(|dir| path.strip_prefix(&format!("{}/", dir.trim_end_matches('/'))));
    let host = match in_postfix_dir {
        Some(rest) => settings.postfix_dir.join(rest),
        None => settings.root.join(&path[1..]),
    };
    let pem = match crate::files::read_bounded(&host, crate::files::limits::TEMPLATE) {
        Ok(Some(pem)) => pem,
        Ok(None) => return Err(bad(&format!("{} does not exist", host.display()))),
        Err(e) => return Err(bad(&e.to_string())),
    };
    if crate::certificate::read_pem(&pem).is_empty() {
        return Err(bad(&format!("{} holds no PEM certificate", host.display())));
    }
    // Postfix's smtp client reads it per connection, as the unprivileged mail_owner.
    if crate::files::mode_of(&host)?.is_some_and(|mode| mode & 0o004 == 0) {
        return Err(bad(&format!(
            "{} is not readable by others: Postfix's SMTP client reads it as its unprivileged \
             user (make it 0644; it holds no secret)",
            host.display()
        )));
    }
    Ok(CaFile {
        postfix: path.to_string(),
        host,
    })
}

/// Postfix reads these lists only when it authenticates, so a typo would surface as "no worthy
/// mechs" at send time: check them against the Cyrus SASL client options now.
fn sasl_options(option: Opt, value: Option<String>) -> Result<Option<String>> {
    const KNOWN: [&str; 5] = [
        "noanonymous",
        "noplaintext",
        "noactive",
        "nodictionary",
        "mutual_auth",
    ];
    let Some(value) = value else { return Ok(None) };
    let tokens: Vec<&str> = value
        .split([',', ' ', '\t'])
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(bad) = tokens.iter().find(|t| !KNOWN.contains(t)) {
        return Err(Error::option(
            option,
            format!(
                "unknown SASL security option '{bad}' (known: {})",
                KNOWN.join(", ")
            ),
        ));
    }
    Ok(Some(tokens.join(", ")))
}

/// Hermes code 1 (empty) and 2 (not an IPv4, IPv6 or DNS name), with the contract's stricter
/// rules: one canonical form per kind so that relayhost and sasl_passwd keys always match.
pub fn parse_host(raw: &str) -> Result<Host> {
    let host = raw.trim_ascii();
    if host.is_empty() {
        return Err(Error::HostMissing);
    }
    let bad = |why: &str| Err(Error::option(Opt::Host, why));
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace or a control character");
    }
    if !host.is_ascii() {
        return bad("is not ASCII: write an internationalized name in its xn-- (punycode) form");
    }
    if host.starts_with('[') || host.ends_with(']') {
        return bad("write the address without brackets: they are added for Postfix");
    }
    if host.contains(':') {
        if host.contains('%') {
            return bad("IPv6 zone ids are not supported");
        }
        return host
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .or_else(|_| bad("is not a valid IPv6 address"));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(Host::V4)
            .or_else(|_| bad("is not a valid IPv4 address (four octets 0-255, no leading zeros)"));
    }
    if host.len() > MAX_HOST_LEN {
        return bad("is longer than 247 characters");
    }
    if host.ends_with('.') {
        return bad("must not end with a dot");
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return bad("must be a fully qualified name (at least two labels)");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return bad("has a label that is empty or longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("may hold only letters, digits, '-' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("has a label that starts or ends with '-'");
        }
    }
    if labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return bad("has an all-numeric last label");
    }
    Ok(Host::Name(host.to_string()))
}

/// Hermes codes 3 (empty) and 4 (not an integer in 1..65535); omitted means 25.
fn parse_port(port: Option<&PortArg>) -> Result<u16> {
    let out_of_range = || Error::option(Opt::Port, "must be an integer from 1 to 65535");
    match port {
        None => Ok(defaults::PORT),
        Some(PortArg::Number(n)) => u16::try_from(*n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(out_of_range),
        Some(PortArg::Text(text)) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(Error::PortMissing);
            }
            text.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(out_of_range)
        }
    }
}

fn auth_intent(
    on: Option<bool>,
    username: Option<String>,
    password: Option<SecretString>,
    limit: usize,
) -> Result<AuthIntent> {
    let password = password.filter(|p| !p.expose_secret().is_empty());
    if on == Some(false) && (username.is_some() || password.is_some()) {
        return Err(Error::ConflictingOptions(
            "auth is false: 'username' and 'password' must not be given".to_string(),
        ));
    }
    if let Some(user) = &username {
        check_username(user, limit)?;
    }
    if let Some(pass) = &password {
        check_password(pass.expose_secret(), limit)?;
    }
    let on = on.or(username.as_ref().map(|_| true));
    Ok(AuthIntent {
        on,
        username,
        password,
    })
}

/// The username must fit one sasl_passwd line and its column.
fn check_username(user: &str, limit: usize) -> Result<()> {
    render::user_line_safe(user).map_err(|why| Error::option(Opt::Username, why.to_string()))?;
    if user.len() > limit {
        return Err(Error::option(
            Opt::Username,
            format!("is longer than {limit} bytes"),
        ));
    }
    Ok(())
}

/// The password must fit one sasl_passwd line and its column.
fn check_password(pass: &str, limit: usize) -> Result<()> {
    render::password_line_safe(pass)
        .map_err(|why| Error::option(Opt::Password, why.to_string()))?;
    if pass.len() > limit {
        return Err(Error::option(
            Opt::Password,
            format!("is longer than {limit} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every validation rule of the contract, one test each: its stable code, its Hermes code
    /// and words its message must hold. Codes 5 and 6 need the stored state (plan's tests).
    mod rules {
        use serde_json::json;

        use crate::testkit::Scenario;

        macro_rules! refused {
            ($($name:ident: $args:expr => $code:literal, $hermes:expr, $words:expr;)*) => {$(
                #[test]
                fn $name() {
                    let scenario = Scenario::fresh();
                    let err = scenario
                        .plan($args)
                        .err()
                        .expect("the args are refused");
                    assert_eq!(err.code(), $code, "{err}");
                    assert_eq!(err.hermes_code(), $hermes, "{err}");
                    assert!(err.to_string().contains($words), "{err} lacks {:?}", $words);
                    for secret in ["trailing ", "two\nlines", "s3cr3t"] {
                        assert!(!err.to_string().contains(secret), "{err}");
                    }
                }
            )*};
        }

        const HOST: &str = "smtp.example.com";

        refused! {
            no_host: json!({"port": 587}) => "host_missing", Some(1), "host";
            blank_host: json!({"host": "  "}) => "host_missing", Some(1), "host";
            host_with_a_space: json!({"host": "not a host"}) => "invalid_host", Some(2), "whitespace";
            single_label_host: json!({"host": "localhost"}) => "invalid_host", Some(2), "fully qualified";
            ipv4_octet_too_big: json!({"host": "300.1.1.1"}) => "invalid_host", Some(2), "IPv4";
            ipv4_leading_zero: json!({"host": "010.1.1.1"}) => "invalid_host", Some(2), "IPv4";
            bad_ipv6: json!({"host": "2001:db8::zz"}) => "invalid_host", Some(2), "IPv6";
            ipv6_zone: json!({"host": "fe80::1%eth0"}) => "invalid_host", Some(2), "zone";
            non_ascii_host: json!({"host": "bücher.example"}) => "invalid_host", Some(2), "xn--";
            trailing_dot: json!({"host": "a.example."}) => "invalid_host", Some(2), "dot";
            numeric_tld: json!({"host": "a.b.123"}) => "invalid_host", Some(2), "numeric";
            label_starts_with_a_dash: json!({"host": "-x.example"}) => "invalid_host", Some(2), "'-'";
            host_not_a_string: json!({"host": 42}) => "invalid_host", Some(2), "string";
            empty_port: json!({"host": HOST, "port": ""}) => "port_missing", Some(3), "port";
            port_zero: json!({"host": HOST, "port": 0}) => "invalid_port", Some(4), "65535";
            port_too_big: json!({"host": HOST, "port": 65536}) => "invalid_port", Some(4), "65535";
            port_not_digits: json!({"host": HOST, "port": "58x"}) => "invalid_port", Some(4), "65535";
            port_fraction: json!({"host": HOST, "port": 1.5}) => "invalid_port", Some(4), "65535";
            auth_without_a_username: json!({"host": HOST, "auth": true}) => "username_missing", Some(5), "username";
            empty_username: json!({"host": HOST, "username": ""}) => "username_missing", Some(5), "username";
            username_without_a_password: json!({"host": HOST, "username": "u"}) => "password_missing", Some(6), "password";
            empty_password: json!({"host": HOST, "username": "u", "password": ""}) => "password_missing", Some(6), "password";
            username_with_a_space: json!({"host": HOST, "username": "a b", "password": "p"}) => "invalid_username", None, "whitespace";
            username_with_a_colon: json!({"host": HOST, "username": "a:b", "password": "p"}) => "invalid_username", None, "':'";
            username_too_long: json!({"host": HOST, "username": "u".repeat(768), "password": "p"}) => "invalid_username", None, "767";
            username_a_number: json!({"host": HOST, "username": 123, "password": "p"}) => "invalid_username", None, "quote";
            password_a_number: json!({"host": HOST, "username": "u", "password": 123}) => "invalid_password", None, "quote";
            password_trailing_blank: json!({"host": HOST, "username": "u", "password": "trailing "}) => "invalid_password", None, "whitespace";
            password_line_break: json!({"host": HOST, "username": "u", "password": "two\nlines"}) => "invalid_password", None, "LF";
            password_too_long: json!({"host": HOST, "username": "u", "password": "a".repeat(768)}) => "invalid_password", None, "767";
            auth_off_with_a_username: json!({"host": HOST, "auth": false, "username": "u"}) => "conflicting_options", None, "auth";
            password_with_auth_off: json!({"host": HOST, "password": "s3cr3t"}) => "conflicting_options", None, "authentication is off";
            absent_with_a_host: json!({"state": "absent", "host": HOST}) => "conflicting_options", None, "'host'";
            absent_with_a_password: json!({"state": "absent", "password": "s3cr3t"}) => "conflicting_options", None, "'password'";
            unknown_state: json!({"state": "gone"}) => "invalid_args", None, "'state'";
            unknown_tls: json!({"host": HOST, "tls": "always"}) => "invalid_args", None, "'tls'";
            auth_not_a_boolean: json!({"host": HOST, "auth": "maybe"}) => "invalid_args", None, "'auth'";
            unknown_option: json!({"host": HOST, "hostname": "x"}) => "invalid_args", None, "hostname";
            vars_not_strings: json!({"host": HOST, "vars": {"a": 1}}) => "invalid_args", None, "'vars'";
            unsupported_database: json!({"host": HOST, "database": "postgres://x"}) => "invalid_args", None, "'database'";
            transport_auth_without_a_domain: json!({"transport_auth": [{"domain": " ", "username": "u", "password": "p"}]}) => "invalid_args", None, "domain";
        }
    }

    #[test]
    fn hosts() {
        let ok = |s: &str| parse_host(s).unwrap();
        assert_eq!(
            ok("  smtp.example.com \t"),
            Host::Name("smtp.example.com".into())
        );
        assert_eq!(ok("192.0.2.1"), Host::V4("192.0.2.1".parse().unwrap()));
        assert_eq!(ok("2001:db8::1"), Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(
            ok("xn--bcher-kva.example").to_string(),
            "xn--bcher-kva.example"
        );
        for (input, code) in [
            ("", "host_missing"),
            ("   ", "host_missing"),
            ("smtp example.com", "invalid_host"),
            ("bücher.example", "invalid_host"),
            ("localhost", "invalid_host"),
            ("01.2.3.4", "invalid_host"),
            ("256.1.1.1", "invalid_host"),
            ("1.2.3", "invalid_host"),
            ("example.123", "invalid_host"),
            ("-a.example", "invalid_host"),
            ("a-.example", "invalid_host"),
            ("a..example", "invalid_host"),
            ("a.example.", "invalid_host"),
            ("a_b.example", "invalid_host"),
            ("fe80::1%eth0", "invalid_host"),
            ("[2001:db8::1]", "invalid_host"),
            ("2001:db8::g", "invalid_host"),
        ] {
            assert_eq!(parse_host(input).unwrap_err().code(), code, "{input:?}");
        }
        let long = format!("{}.example", "a.".repeat(120));
        assert_eq!(parse_host(&long).unwrap_err().code(), "invalid_host");
        let label = format!("{}.example", "a".repeat(64));
        assert_eq!(parse_host(&label).unwrap_err().code(), "invalid_host");
    }

    /// The relayhost value and sasl_passwd key each host form gets, as real Postfix reads them.
    macro_rules! literal {
        ($($name:ident: $host:literal, $port:literal => $want:literal;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(parse_host($host).unwrap().relay_literal($port), $want);
            }
        )*};
    }

    literal! {
        literal_of_a_name: "smtp.example.com", 587 => "[smtp.example.com]:587";
        literal_of_a_trimmed_name: " \tsmtp.example.com\n", 25 => "[smtp.example.com]:25";
        literal_of_ipv4: "192.0.2.25", 465 => "[192.0.2.25]:465";
        literal_of_ipv6: "2001:db8::25", 25 => "[ipv6:2001:db8::25]:25";
        literal_of_ipv6_loopback: "::1", 2525 => "[ipv6:::1]:2525";
        literal_of_an_idn_in_ascii: "xn--bcher-kva.example", 587 => "[xn--bcher-kva.example]:587";
        literal_of_the_highest_port: "smtp.example.com", 65535 => "[smtp.example.com]:65535";
    }

    #[test]
    fn relay_literals() {
        assert_eq!(ok_lit("smtp.example.com", 587), "[smtp.example.com]:587");
        assert_eq!(ok_lit("2001:db8::1", 25), "[ipv6:2001:db8::1]:25");
        fn ok_lit(h: &str, p: u16) -> String {
            parse_host(h).unwrap().relay_literal(p)
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(None).unwrap(), 25);
        assert_eq!(
            parse_port(Some(&PortArg::Text(" 587 ".into()))).unwrap(),
            587
        );
        assert_eq!(parse_port(Some(&PortArg::Number(65535))).unwrap(), 65535);
        for bad in [
            PortArg::Number(0),
            PortArg::Number(65536),
            PortArg::Text("70000".into()),
        ] {
            assert_eq!(parse_port(Some(&bad)).unwrap_err().hermes_code(), Some(4));
        }
        let empty = parse_port(Some(&PortArg::Text(" ".into()))).unwrap_err();
        assert_eq!(empty.hermes_code(), Some(3));
    }

    #[test]
    fn credentials() {
        assert!(check_username("relay@example.com", 767).is_ok());
        assert!(check_username("a b", 767).is_err());
        assert!(check_username("a:b", 767).is_err());
        assert!(check_username(&"u".repeat(768), 767).is_err());
        assert!(check_password(" lead and in ner", 767).is_ok());
        assert!(check_password("p@ss:w0rd", 767).is_ok());
        for bad in ["trail ", "a\nb", "a\rb", "a\0b"] {
            assert_eq!(
                check_password(bad, 767).unwrap_err().code(),
                "invalid_password"
            );
        }
        assert!(check_password(&"é".repeat(384), 767).is_err());
    }

    #[test]
    fn auth_defaults() {
        let intent = auth_intent(None, Some("u".into()), None, 767).unwrap();
        assert_eq!(intent.on, Some(true));
        let intent = auth_intent(None, None, Some(SecretString::from("")), 767).unwrap();
        assert!(intent.on.is_none() && intent.password.is_none());
        let err = auth_intent(Some(false), Some("u".into()), None, 767).unwrap_err();
        assert_eq!(err.code(), "conflicting_options");
    }
}
