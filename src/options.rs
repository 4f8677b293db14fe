//! Which options go together, which exclude each other and which request takes which, declared
//! once (as Ansible's argument spec declares `required_by` and `mutually_exclusive`) and
//! checked before any other work.

use crate::args::{Args, Flag, HostType, Opt, State, defaults};
use crate::error::{Error, Result};

/// What a run does; chosen by the entry point and the `rotate_key` / `check_only` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Apply,
    Doctor,
    RotateKey,
    Info,
    /// `reload`: Postfix only, through the location options.
    Reload,
}

/// Where the host's state lives; every request takes these.
pub const LOCATION: [Opt; 11] = [
    Opt::HostType,
    Opt::Database,
    Opt::DatabaseOptionsFile,
    Opt::Root,
    Opt::KeyFile,
    Opt::PostfixDir,
    Opt::Template,
    Opt::Vars,
    Opt::PostfixExec,
    Opt::PostfixExecDir,
    Opt::Cipher,
];

/// The relay connection; `state: absent` takes none of them.
pub const RELAY: [Opt; 8] = [
    Opt::Host,
    Opt::Port,
    Opt::Tls,
    Opt::TlsCaFile,
    Opt::TlsName,
    Opt::Auth,
    Opt::Username,
    Opt::Password,
];

/// What only a Hermes host has (its database, key and base template); `host_type: postfix`
/// takes none of them.
pub const HERMES_ONLY: [Opt; 9] = [
    Opt::Database,
    Opt::DatabaseOptionsFile,
    Opt::KeyFile,
    Opt::Template,
    Opt::Vars,
    Opt::Cipher,
    Opt::RotateKey,
    Opt::NewKeyFile,
    Opt::NewCipher,
];

/// The relay settings a key rotation leaves as they are, so it takes none of them.
pub const RELAY_SETTINGS: [Opt; 6] = [
    Opt::State,
    Opt::SaslSecurityOptions,
    Opt::SaslTlsSecurityOptions,
    Opt::TransportAuth,
    Opt::Probe,
    Opt::CheckOnly,
];

/// `option` is taken only when `needs` is given (a flag: set to true).
struct RequiredBy {
    option: Opt,
    needs: Opt,
    error: fn(Opt) -> Error,
}

const REQUIRED_BY: [RequiredBy; 3] = [
    RequiredBy {
        option: Opt::DatabaseOptionsFile,
        needs: Opt::Database,
        error: |option| Error::option(option, "needs a mysql:// 'database' URL"),
    },
    RequiredBy {
        option: Opt::NewKeyFile,
        needs: Opt::RotateKey,
        error: rotation_only,
    },
    RequiredBy {
        option: Opt::NewCipher,
        needs: Opt::RotateKey,
        error: rotation_only,
    },
];

/// `option` given with `host_type: postfix`: the schema refuses it (`args::option_rules`).
pub fn hermes_only(option: Opt) -> Error {
    Error::ConflictingOptions(format!(
        "host_type 'postfix' takes no '{}' option: a plain Postfix host has no Hermes \
         database, key or template",
        option.name()
    ))
}

fn rotation_only(option: Opt) -> Error {
    Error::ConflictingOptions(format!(
        "'{}' belongs to a key rotation: set rotate_key: true",
        option.name()
    ))
}

impl Request {
    /// The request the flags ask for when the entry point leaves it open (module mode, apply).
    pub fn of(args: &Args) -> Request {
        let on = |f: &Option<Flag>, default| f.as_ref().map_or(default, Flag::value);
        if on(&args.rotate_key, defaults::ROTATE_KEY) {
            Request::RotateKey
        } else if on(&args.check_only, defaults::CHECK_ONLY) {
            Request::Doctor
        } else {
            Request::Apply
        }
    }

    /// The first option this request does not take, with the error that says so.
    fn refuses(self, given: &[Opt]) -> Option<Error> {
        match self {
            Request::Apply | Request::Doctor => None,
            Request::RotateKey => {
                let refused = RELAY.iter().chain(&RELAY_SETTINGS);
                let name = refused.copied().find(|n| given.contains(n))?.name();
                Some(Error::ConflictingOptions(format!(
                    "a key rotation takes no '{name}' option: it leaves the relay settings as they are"
                )))
            }
            Request::Info => {
                let name = given.iter().find(|n| !LOCATION.contains(n))?.name();
                Some(Error::InvalidArgs(format!(
                    "relay_host_info takes no '{name}' option: it only reads ({})",
                    names(&LOCATION)
                )))
            }
            Request::Reload => {
                let name = given.iter().find(|n| !LOCATION.contains(n))?.name();
                Some(Error::InvalidArgs(format!(
                    "reload takes no '{name}' option, only the location options ({})",
                    names(&LOCATION)
                )))
            }
        }
    }
}

/// `a, b, c`: options as a message lists them.
fn names(options: &[Opt]) -> String {
    options
        .iter()
        .map(|o| o.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the declared rules: what the request takes, what needs what, what excludes what.
pub fn check(request: Request, args: &Args) -> Result<()> {
    let given = args.given();
    if let Some(error) = request.refuses(&given) {
        return Err(error);
    }
    if request == Request::RotateKey && args.host_type == Some(HostType::Postfix) {
        return Err(Error::ConflictingOptions(
            "a key rotation needs a Hermes host: a plain Postfix host (host_type 'postfix') \
             keeps no key or encrypted credentials"
                .to_string(),
        ));
    }
    let needs_met = |needs: Opt| match needs {
        Opt::RotateKey => request == Request::RotateKey,
        other => given.contains(&other),
    };
    if let Some(rule) = REQUIRED_BY
        .iter()
        .find(|r| given.contains(&r.option) && !needs_met(r.needs))
    {
        return Err((rule.error)(rule.option));
    }
    if args.state == Some(State::Absent)
        && let Some(opt) = RELAY.iter().find(|n| given.contains(n))
    {
        return Err(Error::ConflictingOptions(format!(
            "state 'absent' takes no '{}' option",
            opt.name()
        )));
    }
    Ok(())
}

/// Whether any relay option (or `state`) is given: without one, doctor and info compare with
/// the stored settings and a `transport_auth`-only run keeps them.
pub fn relay_given(args: &Args) -> bool {
    let given = args.given();
    given.contains(&Opt::State) || RELAY.iter().any(|n| given.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args;

    /// The first error of parsing (the schema) and the rules, as `code: message`.
    fn err(request: Request, json: &str) -> Option<String> {
        args::parse(json)
            .and_then(|input| check(request, &input.args))
            .err()
            .map(|e| format!("{}: {e}", e.code()))
    }

    #[test]
    fn rules_name_the_option() {
        let e = |r, j| err(r, j).unwrap();
        assert!(e(Request::Apply, r#"{"new_key_file":"k"}"#).contains("rotate_key"));
        assert_eq!(err(Request::RotateKey, r#"{"new_key_file":"k"}"#), None);
        assert!(e(Request::RotateKey, r#"{"probe":true}"#).contains("'probe'"));
        assert!(
            e(Request::Apply, r#"{"state":"absent","tls":"may"}"#)
                .starts_with("conflicting_options: state 'absent' takes no 'tls'")
        );
        assert!(e(Request::Info, r#"{"host":"a.example"}"#).starts_with("invalid_args"));
        assert_eq!(err(Request::Info, r#"{"root":"/x","cipher":"ecb"}"#), None);
        assert!(
            e(
                Request::Apply,
                r#"{"host_type":"postfix","database":"sqlite:/x"}"#
            )
            .starts_with("conflicting_options: host_type 'postfix' takes no 'database'")
        );
        assert!(
            e(
                Request::Apply,
                r#"{"host_type":"postfix","rotate_key":true}"#
            )
            .contains("'rotate_key'")
        );
        assert_eq!(
            err(Request::Info, r#"{"host_type":"postfix","root":"/x"}"#),
            None
        );
        assert!(
            e(Request::Doctor, r#"{"database_options_file":"/f"}"#)
                .starts_with("invalid_args: option 'database_options_file'")
        );
    }
}
