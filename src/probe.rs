//! `probe: true`: log in to the relay host with the credentials about to be committed, the
//! way Postfix will (EHLO, STARTTLS or implicit TLS as `tls` asks, AUTH PLAIN/LOGIN), so a
//! wrong password fails the run before anything is written instead of deferring mail later.

use std::time::Duration;

use lettre::SmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use secrecy::ExposeSecret;

use crate::certificate;
use crate::error::{Error, Result};
use crate::plan::Login;
use crate::render;
use crate::tls::TlsMode;
use crate::validate::Relay;

/// Postfix's defaults: `smtp_sasl_security_options = noplaintext, noanonymous`, and the TLS
/// variant is `$smtp_sasl_security_options`.
const DEFAULT_SECURITY_OPTIONS: &str = "noplaintext, noanonymous";

/// Whether Postfix may use PLAIN/LOGIN (the only mechanisms the probe has) with the
/// `smtp_sasl_security_options` / `smtp_sasl_tls_security_options` of `main_cf` (the config
/// the run installs): over a plain connection, and over TLS.
pub fn plaintext_allowed(main_cf: &str) -> (bool, bool) {
    let plain = render::main_cf_value(main_cf, "smtp_sasl_security_options")
        .unwrap_or_else(|| DEFAULT_SECURITY_OPTIONS.to_string());
    let tls = render::main_cf_value(main_cf, "smtp_sasl_tls_security_options")
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

/// Succeeds only when the server accepts the login. At the `may`/`encrypt` levels certificates
/// are not verified, as Postfix does not verify them either; at `verify`/`secure` the
/// certificate is judged first (and returned), and a bad one fails the probe before the
/// password is sent. `allowed` is what
/// [`plaintext_allowed`] says of the config being installed: the probe never sends the password
/// where Postfix would not (in clear to a server without STARTTLS under `noplaintext`).
pub fn probe(
    relay: &Relay,
    login: &Login,
    allowed: (bool, bool),
) -> Result<Option<certificate::Report>> {
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
    let mut report = None;
    if relay.tls.policy_level().is_some() && tls_ok {
        let cert = certificate::inspect(relay)?;
        if !cert.ok() {
            return Err(fail(format!(
                "Postfix would refuse the relay's certificate: {}; the password was not sent",
                cert.summary()
            )));
        }
        report = Some(cert);
    }
    let tls = match relay.tls {
        TlsMode::None if plain_ok => Tls::None,
        TlsMode::None => return Err(refuse("smtp_sasl_security_options")),
        TlsMode::May if plain_ok && tls_ok => Tls::Opportunistic(tls_params()?),
        // Postfix would log in only once STARTTLS is up: so must the probe.
        TlsMode::May if tls_ok => Tls::Required(tls_params()?),
        TlsMode::Encrypt | TlsMode::Verify | TlsMode::Secure if tls_ok => {
            Tls::Required(tls_params()?)
        }
        TlsMode::Wrapper if tls_ok => Tls::Wrapper(tls_params()?),
        TlsMode::May | TlsMode::Encrypt | TlsMode::Wrapper | TlsMode::Verify | TlsMode::Secure => {
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
        Ok(true) => Ok(report),
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
