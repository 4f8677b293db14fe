//! `probe: true`: log in to the relay host with the credentials about to be committed, the
//! way Postfix will (EHLO, STARTTLS or implicit TLS as `tls` asks, AUTH PLAIN/LOGIN), so a
//! wrong password fails the run before anything is written instead of deferring mail later.

use std::time::Duration;

use lettre::SmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use secrecy::ExposeSecret;

use crate::error::{Error, Result};
use crate::plan::Login;
use crate::tls::TlsMode;
use crate::validate::Relay;

/// Postfix's defaults: `smtp_sasl_security_options = noplaintext, noanonymous`, and the TLS
/// variant is `$smtp_sasl_security_options`.
const DEFAULT_SECURITY_OPTIONS: &str = "noplaintext, noanonymous";

/// Whether Postfix may use PLAIN/LOGIN (the only mechanisms the probe has) with the
/// `smtp_sasl_security_options` / `smtp_sasl_tls_security_options` of `main_cf` (the config
/// the run installs): over a plain connection, and over TLS.
pub fn plaintext_allowed(main_cf: &str) -> (bool, bool) {
    let plain = directive(main_cf, "smtp_sasl_security_options")
        .unwrap_or_else(|| DEFAULT_SECURITY_OPTIONS.to_string());
    let tls = directive(main_cf, "smtp_sasl_tls_security_options")
        .unwrap_or_else(|| "$smtp_sasl_security_options".to_string())
        .replace("${smtp_sasl_security_options}", &plain)
        .replace("$smtp_sasl_security_options", &plain);
    let allows = |options: &str| {
        !options
            .split([',', ' ', '\t'])
            .any(|o| o.eq_ignore_ascii_case("noplaintext"))
    };
    (allows(&plain), allows(&tls))
}

/// The value of the last `name = value` line of a main.cf (as Postfix reads it: the last
/// setting wins, continuation lines join the value).
fn directive(main_cf: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    let mut ours = false;
    for line in main_cf.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if ours && let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        ours = match line.split_once('=') {
            Some((key, rest)) if key.trim() == name => {
                value = Some(rest.trim().to_string());
                true
            }
            _ => false,
        };
    }
    value
}

/// Succeeds only when the server accepts the login. Certificates are not verified, as Postfix
/// does not verify them at the `may`/`encrypt` levels either. `allowed` is what
/// [`plaintext_allowed`] says of the config being installed: the probe never sends the password
/// where Postfix would not (in clear to a server without STARTTLS under `noplaintext`).
pub fn probe(relay: &Relay, login: &Login, allowed: (bool, bool)) -> Result<()> {
    let host = relay.host.to_string();
    let fail = |why: String| Error::Probe(format!("{host}:{}: {why}", relay.port));
    let (plain_ok, tls_ok) = allowed;
    let refuse = |which: &str| {
        fail(format!(
            "Postfix would not log in: {which} holds noplaintext, which forbids PLAIN and LOGIN \
             (most smarthosts need sasl_security_options / sasl_tls_security_options: \
             noanonymous); the password was not sent"
        ))
    };
    let tls_params = || {
        TlsParameters::builder(host.clone())
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true)
            .build_rustls()
            .map_err(|e| fail(format!("TLS setup: {e}")))
    };
    let tls = match relay.tls {
        TlsMode::None if plain_ok => Tls::None,
        TlsMode::None => return Err(refuse("smtp_sasl_security_options")),
        TlsMode::May if plain_ok && tls_ok => Tls::Opportunistic(tls_params()?),
        // Postfix would log in only once STARTTLS is up: so must the probe.
        TlsMode::May if tls_ok => Tls::Required(tls_params()?),
        TlsMode::Encrypt if tls_ok => Tls::Required(tls_params()?),
        TlsMode::Wrapper if tls_ok => Tls::Wrapper(tls_params()?),
        TlsMode::May | TlsMode::Encrypt | TlsMode::Wrapper => {
            return Err(refuse("smtp_sasl_tls_security_options"));
        }
    };
    let transport = SmtpTransport::builder_dangerous(host.as_str())
        .port(relay.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(15)))
        .credentials(Credentials::new(
            login.user.clone(),
            login.password.expose_secret().to_string(),
        ))
        .authentication(vec![Mechanism::Plain, Mechanism::Login])
        .build();
    // lettre logs in when it opens the connection; its errors carry the server's reply,
    // never the credentials.
    match transport.test_connection() {
        Ok(true) => Ok(()),
        Ok(false) => Err(fail("the connection closed after login".to_string())),
        Err(e) => Err(fail(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_follows_the_security_options() {
        assert_eq!(plaintext_allowed("relayhost = x\n"), (false, false));
        assert_eq!(
            plaintext_allowed("smtp_sasl_security_options = noanonymous\n"),
            (true, true)
        );
        assert_eq!(
            plaintext_allowed(
                "smtp_sasl_security_options = noanonymous\n\
                 smtp_sasl_tls_security_options = noplaintext,\n  noanonymous\n"
            ),
            (true, false)
        );
        assert_eq!(
            plaintext_allowed(
                "smtp_sasl_security_options = noanonymous\n\
                 smtp_sasl_security_options = noplaintext\n\
                 smtp_sasl_tls_security_options = noanonymous\n"
            ),
            (false, true)
        );
    }
}
