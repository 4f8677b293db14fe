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

/// Succeeds only when the server accepts the login. Certificates are not verified, as Postfix
/// does not verify them at the `may`/`encrypt` levels either.
pub fn probe(relay: &Relay, login: &Login) -> Result<()> {
    let host = relay.host.to_string();
    let fail = |why: String| Error::Probe(format!("{host}:{}: {why}", relay.port));
    let tls_params = || {
        TlsParameters::builder(host.clone())
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true)
            .build_rustls()
            .map_err(|e| fail(format!("TLS setup: {e}")))
    };
    let tls = match relay.tls {
        TlsMode::None => Tls::None,
        TlsMode::May => Tls::Opportunistic(tls_params()?),
        TlsMode::Encrypt => Tls::Required(tls_params()?),
        TlsMode::Wrapper => Tls::Wrapper(tls_params()?),
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
