//! A private certificate authority for the verified-TLS tests, made with the `openssl` CLI:
//! a CA certificate the Postfix client is told to trust (`smtp_tls_CAfile`), and server
//! certificates it issues for the smarthost. Each `openssl` run gets its own config file
//! written here, so the system's `openssl.cnf` plays no part.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::must;

/// Common name of the CA certificate.
const CA_NAME: &str = "hermes-relayhost test CA";

/// A private CA (openssl CLI) and certificates it issues.
pub struct TestCa {
    /// Where the CA and everything it issues live.
    pub dir: PathBuf,
    /// The CA certificate (`ca.pem`): what a client trusts.
    pub cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    /// A fresh CA in `dir` (created when missing, made 0755 so that Postfix daemons running as
    /// `postfix` can read the certificates): RSA 2048, CN "hermes-relayhost test CA", valid
    /// 30 days, `basicConstraints = critical,CA:TRUE`. Writes `ca.pem` (0644) and `ca.key`
    /// (0600).
    pub fn new(dir: &Path) -> TestCa {
        fs::create_dir_all(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let cert = dir.join("ca.pem");
        let key = dir.join("ca.key");
        let config = dir.join("ca.cnf");
        write_config(
            &config,
            CA_NAME,
            Extensions::SelfSigned("v3_ca"),
            &[
                "basicConstraints = critical,CA:TRUE",
                "keyUsage = critical,keyCertSign,cRLSign",
                "subjectKeyIdentifier = hash",
                "authorityKeyIdentifier = keyid:always",
            ],
        );
        must(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
                .args(["-days", "30"])
                .arg("-config")
                .arg(&config)
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stdin(Stdio::null()),
        );
        set_mode(&cert, 0o644);
        set_mode(&key, 0o600);
        TestCa {
            dir: dir.to_path_buf(),
            cert,
            key,
        }
    }

    /// A server certificate for `dns_name` (SAN `DNS:<dns_name>` plus `IP:127.0.0.1`), valid
    /// `days` days, signed by the CA: (cert.pem, key.pem) in `dir`, named after `label`.
    ///
    /// The files are `<label>.cert.pem` (0644, the leaf alone: clients get the CA
    /// separately) and `<label>.key.pem` (0600, RSA 2048); the subject is `CN=<dns_name>`,
    /// the extensions `CA:FALSE`, `serverAuth` and the SAN. Issuing again under the same
    /// label replaces both files. Every certificate gets its own serial, so several can be
    /// issued at once (from several threads too).
    pub fn issue(&self, label: &str, dns_name: &str, days: u32) -> (PathBuf, PathBuf) {
        assert!(
            !label.is_empty() && !label.contains('/') && !label.starts_with('.'),
            "certificate label {label:?} must be a plain file name"
        );
        let cert = self.dir.join(format!("{label}.cert.pem"));
        let key = self.dir.join(format!("{label}.key.pem"));
        let csr = self.dir.join(format!("{label}.csr.pem"));
        let config = self.dir.join(format!("{label}.cnf"));
        write_config(
            &config,
            dns_name,
            Extensions::Issued("v3_leaf"),
            &[
                "basicConstraints = critical,CA:FALSE",
                "keyUsage = critical,digitalSignature,keyEncipherment",
                "extendedKeyUsage = serverAuth",
                "subjectKeyIdentifier = hash",
                "authorityKeyIdentifier = keyid,issuer",
                &format!("subjectAltName = DNS:{dns_name},IP:127.0.0.1"),
            ],
        );
        must(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256"])
                .arg("-config")
                .arg(&config)
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr)
                .stdin(Stdio::null()),
        );
        must(
            Command::new("openssl")
                .args(["x509", "-req", "-sha256"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(&self.cert)
                .arg("-CAkey")
                .arg(&self.key)
                .args(["-set_serial", &serial()])
                .args(["-days", &days.to_string()])
                .arg("-extfile")
                .arg(&config)
                .args(["-extensions", "v3_leaf"])
                .arg("-out")
                .arg(&cert)
                .stdin(Stdio::null()),
        );
        let _ = fs::remove_file(&csr);
        set_mode(&cert, 0o644);
        set_mode(&key, 0o600);
        (cert, key)
    }
}

/// Where a certificate's extensions section (named here) is read from.
enum Extensions<'a> {
    /// By `openssl req -x509` itself: the config names it as `x509_extensions`.
    SelfSigned(&'a str),
    /// By the issuing `openssl x509 -req`, told `-extfile CONFIG -extensions SECTION`.
    Issued(&'a str),
}

/// Writes the config of one `openssl` run for a certificate with the subject `CN = <cn>` (no
/// prompt) and `extensions`, one a line, in the section `section` names.
fn write_config(path: &Path, cn: &str, section: Extensions, extensions: &[&str]) {
    let (name, x509_extensions) = match section {
        Extensions::SelfSigned(name) => (name, format!("x509_extensions = {name}\n")),
        Extensions::Issued(name) => (name, String::new()),
    };
    let lines: String = extensions.iter().map(|e| format!("{e}\n")).collect();
    fs::write(
        path,
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\n{x509_extensions}\
             [dn]\nCN = {cn}\n[{name}]\n{lines}"
        ),
    )
    .unwrap();
}

/// A serial number no other certificate of this process (or, in practice, of another test
/// process) gets: time in nanoseconds, the process id and a counter, as 0x-prefixed hex.
fn serial() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("0x{nanos:x}{:08x}{n:04x}", std::process::id())
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
