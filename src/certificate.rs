//! The relay's TLS certificate as Postfix's `verify`/`secure` levels judge it: is the chain
//! signed by the CA Postfix trusts for the relay (`tls_ca_file`, else the system's CAs), does
//! it carry the expected name, and how long until it expires. The handshake accepts any
//! certificate so that a bad one is described, not just refused; nothing is sent but EHLO and
//! STARTTLS.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};
use serde::Serialize;
use x509_cert::der::Decode;

use crate::error::{Error, Result};
use crate::tls::TlsMode;
use crate::validate::Relay;

/// Below this many days to expiry, `doctor` warns.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// What the relay's certificate is worth to Postfix.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The certificate's subject, as its distinguished name.
    pub subject: String,
    /// Signed (through the chain the relay sent) by a trusted CA, and within its dates.
    pub chain_valid: bool,
    /// Why the chain is not valid; `None` when it is.
    pub chain_error: Option<String>,
    /// The name checked, and whether the certificate carries it.
    pub name: String,
    pub name_matches: bool,
    /// `notAfter`, as seconds since the epoch, and whole days from now (negative: expired).
    pub not_after: u64,
    pub days_left: i64,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.chain_valid && self.name_matches
    }

    /// One line for messages and checks.
    pub fn summary(&self) -> String {
        let chain = match &self.chain_error {
            None => "chain valid".to_string(),
            Some(why) => format!("chain not valid ({why})"),
        };
        let name = if self.name_matches {
            format!("name {} matches", self.name)
        } else {
            format!("name {} does not match", self.name)
        };
        format!(
            "{}: {chain}, {name}, expires in {} days",
            self.subject, self.days_left
        )
    }
}

/// Every certificate in a PEM text (unparsable blocks are left out).
pub fn read_pem(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(|c| c.ok())
        .collect()
}

/// Connects as Postfix would for `relay.tls` (implicit TLS for `wrapper`, else STARTTLS) and
/// judges the certificate the relay sends.
pub fn inspect(relay: &Relay) -> Result<Report> {
    let host = relay.host.to_string();
    let fail = |why: String| Error::Probe(format!("{host}:{}: {why}", relay.port));
    let name = relay.tls_name.clone().unwrap_or_else(|| host.clone());
    let params = TlsParameters::builder(name.clone())
        .dangerous_accept_invalid_certs(true)
        .dangerous_accept_invalid_hostnames(true)
        .build_rustls()
        .map_err(|e| fail(format!("TLS setup: {e}")))?;
    let hello = ClientId::default();
    let timeout = Some(Duration::from_secs(15));
    let implicit = relay.tls == TlsMode::Wrapper;
    let mut conn = SmtpConnection::connect(
        (host.as_str(), relay.port),
        timeout,
        &hello,
        implicit.then_some(&params),
        None,
    )
    .map_err(|e| fail(e.to_string()))?;
    if !implicit {
        if !conn.can_starttls() {
            return Err(fail("the relay does not offer STARTTLS".to_string()));
        }
        conn.starttls(&params, &hello)
            .map_err(|e| fail(format!("STARTTLS: {e}")))?;
    }
    let chain = conn
        .certificate_chain()
        .map_err(|e| fail(format!("no certificate: {e}")))?;
    let _ = conn.quit();
    let roots = match &relay.tls_ca_file {
        Some(ca) => {
            let pem = crate::files::read_bounded(&ca.host, crate::files::limits::TEMPLATE)?
                .unwrap_or_default();
            read_pem(&pem)
        }
        None => rustls_native_certs::load_native_certs().certs,
    };
    let chain: Vec<CertificateDer<'static>> = chain.into_iter().map(CertificateDer::from).collect();
    judge(&chain, &roots, &name, SystemTime::now()).map_err(fail)
}

/// The verdict on `chain` (leaf first) against `roots` for `name` at `now`.
fn judge(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    name: &str,
    now: SystemTime,
) -> std::result::Result<Report, String> {
    let leaf = chain.first().ok_or("the relay sent no certificate")?;
    let cert = x509_cert::Certificate::from_der(leaf)
        .map_err(|e| format!("the relay's certificate cannot be read: {e}"))?;
    let tbs = cert.tbs_certificate();
    let not_after = tbs.validity().not_after.to_unix_duration().as_secs();
    let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days_left = (not_after as i64 - now_secs as i64).div_euclid(86_400);
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(roots.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let name_ok = || {
        ParsedCertificate::try_from(leaf)
            .and_then(|parsed| verify_server_name(&parsed, &server_name))
            .is_ok()
    };
    let at = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
    // rustls checks the chain first, then the name: a name error means the chain is good.
    let (chain_error, name_matches) =
        match WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider).build() {
            Err(_) => (Some("no usable CA certificate".to_string()), name_ok()),
            Ok(verifier) => {
                match verifier.verify_server_cert(leaf, &chain[1..], &server_name, &[], at) {
                    Ok(_) => (None, true),
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. },
                    )) => (None, false),
                    Err(e) => (Some(describe(&e)), name_ok()),
                }
            }
        };
    Ok(Report {
        subject: tbs.subject().to_string(),
        chain_valid: chain_error.is_none(),
        chain_error,
        name: name.to_string(),
        name_matches,
        not_after,
        days_left,
    })
}

/// Why rustls refused the chain, in words.
fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "not signed by a trusted CA".to_string(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "expired".to_string()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not valid yet".to_string()
            }
            CertificateError::BadSignature => "a bad signature".to_string(),
            CertificateError::Revoked => "revoked".to_string(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

    use super::*;

    const DAY: u64 = 86_400;

    /// A CA and a leaf it signed for `name`, valid from the epoch for `days` days.
    fn issued(name: &str, days: u64) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let start = rcgen::date_time_ymd(1970, 1, 1);
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("test CA for {name}"));
        ca.not_before = start;
        ca.not_after = start + Duration::from_secs(1000 * DAY);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut leaf = CertificateParams::new(vec![name.to_string()]).unwrap();
        leaf.not_before = start;
        leaf.not_after = start + Duration::from_secs(days * DAY);
        let leaf = leaf.signed_by(&KeyPair::generate().unwrap(), &ca).unwrap();
        (ca.der().clone(), leaf.der().clone())
    }

    fn at_day(day: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(day * DAY)
    }

    #[test]
    fn a_chain_to_the_given_ca_with_the_name_is_valid_and_counts_its_days() {
        let (ca, leaf) = issued("relay.example.test", 30);
        let report = judge(&[leaf], &[ca], "relay.example.test", at_day(20)).unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.days_left, 10);
        assert_eq!(report.not_after, 30 * DAY);
    }

    #[test]
    fn another_name_keeps_the_chain_valid() {
        let (ca, leaf) = issued("relay.example.test", 30);
        let report = judge(&[leaf], &[ca], "other.example.test", at_day(1)).unwrap();
        assert_eq!((report.chain_valid, report.name_matches), (true, false));
        assert!(
            report
                .summary()
                .contains("name other.example.test does not match")
        );
    }

    #[test]
    fn an_unknown_ca_or_an_expired_leaf_is_named() {
        let (_, leaf) = issued("relay.example.test", 30);
        let (other_ca, _) = issued("x.example", 30);
        let report = judge(
            std::slice::from_ref(&leaf),
            &[other_ca],
            "relay.example.test",
            at_day(1),
        )
        .unwrap();
        assert_eq!(
            report.chain_error.as_deref(),
            Some("not signed by a trusted CA")
        );
        assert!(report.name_matches);
        let (ca, leaf) = issued("relay.example.test", 30);
        let report = judge(&[leaf], &[ca], "relay.example.test", at_day(31)).unwrap();
        assert_eq!(report.chain_error.as_deref(), Some("expired"));
        assert_eq!(report.days_left, -1);
        assert!(judge(&[], &[], "relay.example.test", at_day(1)).is_err());
    }
}
