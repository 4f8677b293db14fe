//! Real parts for the end-to-end tests: a private running Postfix instance whose config
//! directory is the fixture's Postfix dir, an authenticating aiosmtpd smarthost
//! (`tests/integration/support/smarthost.py`), and a self-signed certificate or one issued
//! by a private test CA (`ca`). Everything lives under the fixture's temp dir; ports are
//! picked by the kernel; several test binaries and threads can run at once. Each helper
//! stops what it started on Drop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Hermes;

pub mod ca;
mod main_cf;

pub use main_cf::set_params;

/// Generous bound for anything asynchronous (delivery, reload, log lines).
pub const WAIT: Duration = Duration::from_secs(20);

/// Polls `f` every 100 ms until it yields a value or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command to completion; panics with its output when it cannot start or fails.
pub fn must(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/install-test-deps.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The venv interpreter that has aiosmtpd. Missing is a failure, not a skip.
pub fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the e2e tests need the test smarthost's aiosmtpd; \
         run scripts/install-python-deps.sh (or scripts/install-test-deps.sh as root)",
        python.display()
    );
    python
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert.pem, key.pem).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if !cert.exists() {
        must(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                .args(["-subj", "/CN=127.0.0.1", "-days", "2"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stdin(Stdio::null()),
        );
    }
    (cert, key)
}

/// A private Postfix instance (`postfix -c <fixture postfix dir> start`) with its own queue,
/// data and log, loopback only, no DNS, no chroot, no inbound listener. The instance settings
/// are written into the fixture's base template (`opt/hermes/conf_files/main.cf.HERMES`), so
/// every module apply re-renders them; only the relay directives come from the module.
pub struct PrivatePostfix {
    config_dir: PathBuf,
    pub base: PathBuf,
    pub maillog: PathBuf,
    stopped: bool,
}

impl PrivatePostfix {
    pub fn start(h: &Hermes) -> PrivatePostfix {
        let uid = must(Command::new("id").arg("-u")).stdout;
        assert_eq!(
            String::from_utf8_lossy(&uid).trim(),
            "0",
            "the e2e tests start a private Postfix and must run as root"
        );
        let top = h.dir.path();
        let base = top.join("instance");
        let queue = base.join("queue");
        let data = base.join("data");
        let logdir = base.join("log");
        for d in [&queue, &data, &logdir] {
            fs::create_dir_all(d).unwrap();
        }
        // Daemons run as `postfix` and reach data_directory by absolute path: every parent
        // must be traversable (TempDir makes 0700).
        for d in [top, &base, &queue, &logdir] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        must(Command::new("chown").arg("postfix:").arg(&data));

        let params = instance_params(&queue, &data, &logdir);
        // A plain Postfix host (`Hermes::plain`) has no template: its main.cf is edited.
        let template = h.root.join("opt/hermes/conf_files/main.cf.HERMES");
        if let Ok(text) = fs::read_to_string(&template) {
            fs::write(&template, set_params(&text, &params)).unwrap();
        }

        // Bootstrap: the main.cf in place (rendered by init from the old template) gets the same
        // settings, as a Hermes host has a running Postfix before the module ever runs.
        let config_dir = h.postfix_dir();
        let main_cf = config_dir.join("main.cf");
        let text = fs::read_to_string(&main_cf).unwrap();
        fs::write(&main_cf, set_params(&text, &params)).unwrap();
        // Postfix re-reads a main.cf modified within the last second until it is a second old
        // (300 ms steps, dict_load_file): backdate ours so start-up does not wait ~1.5 s.
        let past = std::time::SystemTime::now() - Duration::from_secs(2);
        fs::File::options()
            .write(true)
            .open(&main_cf)
            .and_then(|f| f.set_modified(past))
            .unwrap();
        let postconf = |args: &[&str]| {
            must(
                Command::new("postconf")
                    .arg("-c")
                    .arg(&config_dir)
                    .args(args),
            );
        };
        postconf(&["-F", "*/*/chroot = n"]);
        postconf(&["-M#", "smtp/inet"]);

        let pf = PrivatePostfix {
            config_dir,
            base,
            maillog: logdir.join("maillog"),
            stopped: false,
        };
        must(pf.postfix().arg("start"));
        assert!(
            pf.wait_log(0, "daemon started", WAIT).is_some(),
            "private Postfix did not start:\n{}",
            pf.log()
        );
        pf
    }

    fn postfix(&self) -> Command {
        let mut cmd = Command::new("postfix");
        cmd.arg("-c").arg(&self.config_dir).stdin(Stdio::null());
        cmd
    }

    /// `postfix status`: silent off a TTY, exit 0 while the master runs.
    pub fn is_running(&self) -> bool {
        self.postfix()
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The whole maillog.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.maillog).unwrap_or_default()
    }

    /// Byte length of the maillog now: pass it to `wait_log`/`log_since` to look only at what
    /// comes after a step.
    pub fn log_mark(&self) -> usize {
        self.log().len()
    }

    pub fn log_since(&self, mark: usize) -> String {
        self.log().get(mark..).unwrap_or_default().to_string()
    }

    /// Waits for a maillog line after `mark` containing `needle`; returns that line.
    pub fn wait_log(&self, mark: usize, needle: &str, timeout: Duration) -> Option<String> {
        poll(timeout, || {
            self.log_since(mark)
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string)
        })
    }

    /// `sendmail -C DIR -f FROM TO` with a small message whose Subject is `subject`.
    pub fn sendmail(&self, from: &str, to: &str, subject: &str) {
        use std::io::Write;
        let mut child = Command::new("sendmail")
            .arg("-C")
            .arg(&self.config_dir)
            .args(["-f", from, to])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run sendmail (install postfix: scripts/install-test-deps.sh)");
        write!(
            child.stdin.take().unwrap(),
            "From: {from}\nTo: {to}\nSubject: {subject}\n\nhermes-relayhost end-to-end test\n"
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "sendmail failed: {out:?}");
    }

    /// `postqueue -p`: the queue listing (`Mail queue is empty` when empty).
    pub fn queue(&self) -> String {
        let out = must(
            Command::new("postqueue")
                .arg("-c")
                .arg(&self.config_dir)
                .arg("-p"),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `postqueue -f`: retry deferred mail now.
    pub fn flush(&self) {
        must(
            Command::new("postqueue")
                .arg("-c")
                .arg(&self.config_dir)
                .arg("-f"),
        );
    }

    /// `postfix stop`, then waits (bounded) for the master to exit, so no daemon still writes
    /// into the temp dir while it is removed.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = fs::read_to_string(self.base.join("queue/pid/master.pid")).unwrap_or_default();
        let _ = self.postfix().arg("stop").output();
        if !pid.trim().is_empty() {
            let stat = Path::new("/proc").join(pid.trim()).join("stat");
            // Gone, or a zombie nobody reaps (PID 1 in a container may not).
            let exited = || {
                fs::read_to_string(&stat).map_or(true, |s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
            };
            poll(Duration::from_secs(10), || exited().then_some(()));
        }
    }
}

impl Drop for PrivatePostfix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the instance needs besides the relay: it goes into the base template.
fn instance_params(queue: &Path, data: &Path, logdir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("compatibility_level", "3.6".into()),
        ("queue_directory", queue.display().to_string()),
        ("data_directory", data.display().to_string()),
        ("inet_interfaces", "loopback-only".into()),
        // IPv6 for the [ipv6:::1] smarthost.
        ("inet_protocols", "all".into()),
        ("smtp_dns_support_level", "disabled".into()),
        // Nothing is local: every recipient goes to the relay host (or nowhere).
        ("mydestination", String::new()),
        ("alias_maps", String::new()),
        ("maillog_file", logdir.join("maillog").display().to_string()),
        (
            "maillog_file_prefixes",
            format!("/var, /dev/stdout, {}", logdir.display()),
        ),
        // A wrong-password or no-route message stays queued, and is retried only on flush.
        ("minimal_backoff_time", "300s".into()),
    ]
}

/// How the smarthost speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Plain,
    StartTls,
    Implicit,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::StartTls => "starttls",
            Mode::Implicit => "implicit",
        }
    }
}

/// `tests/integration/support/smarthost.py` on `host`, on a port the kernel picked, requiring AUTH against
/// a users file the test can rewrite at any time.
pub struct Smarthost {
    child: Child,
    pub host: String,
    pub port: u16,
    pub dir: PathBuf,
    users: PathBuf,
    log: PathBuf,
}

/// Which certificate a TLS smarthost presents.
enum ServerCert<'a> {
    /// A self-signed one for 127.0.0.1, made in the smarthost's directory.
    SelfSigned,
    /// The caller's (cert.pem, key.pem), e.g. issued by a `ca::TestCa`.
    Given(&'a Path, &'a Path),
}

impl Smarthost {
    /// Starts one in a fresh directory under `parent`; waits until it listens. A TLS mode
    /// presents a self-signed certificate for 127.0.0.1.
    pub fn start(parent: &Path, host: &str, mode: Mode, users: &[(&str, &str)]) -> Smarthost {
        Smarthost::spawn(parent, host, mode, users, ServerCert::SelfSigned)
    }

    /// As `start`, but a TLS mode presents `cert` (PEM, the leaf alone is enough: clients
    /// get the CA separately) with its private key `key` instead of a self-signed
    /// certificate. `Mode::Plain` speaks no TLS and ignores both.
    pub fn start_with_cert(
        parent: &Path,
        host: &str,
        mode: Mode,
        users: &[(&str, &str)],
        cert: &Path,
        key: &Path,
    ) -> Smarthost {
        Smarthost::spawn(parent, host, mode, users, ServerCert::Given(cert, key))
    }

    fn spawn(
        parent: &Path,
        host: &str,
        mode: Mode,
        users: &[(&str, &str)],
        server_cert: ServerCert,
    ) -> Smarthost {
        let python = python();
        let dir = tempfile::Builder::new()
            .prefix(&format!("smarthost-{}-", mode.as_str()))
            .tempdir_in(parent)
            .unwrap()
            .keep();
        let users_file = dir.join("users.json");
        write_users(&users_file, users);
        let log = dir.join("messages.jsonl");
        let ready = dir.join("ready.json");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/support/smarthost.py");
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .args(["--host", host, "--port", "0", "--mode", mode.as_str()])
            .arg("--users")
            .arg(&users_file)
            .arg("--log")
            .arg(&log)
            .arg("--ready")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("stderr.txt")).unwrap());
        if mode != Mode::Plain {
            let (cert, key) = match server_cert {
                ServerCert::SelfSigned => self_signed_cert(&dir),
                ServerCert::Given(cert, key) => (cert.to_path_buf(), key.to_path_buf()),
            };
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = cmd.spawn().expect("cannot start smarthost.py");
        let port = poll(WAIT, || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "smarthost.py exited ({status}):\n{}",
                    fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default()
                );
            }
            let text = fs::read_to_string(&ready).ok()?;
            let v: Value = serde_json::from_str(&text).ok()?;
            v["port"].as_u64().map(|p| p as u16)
        });
        let Some(port) = port else {
            let _ = child.kill();
            panic!("smarthost.py not ready after {WAIT:?}");
        };
        Smarthost {
            child,
            host: host.to_string(),
            port,
            dir,
            users: users_file,
            log,
        }
    }

    /// Replaces the users table (atomically: an AUTH in flight sees old or new, never half).
    pub fn set_users(&self, users: &[(&str, &str)]) {
        write_users(&self.users, users);
    }

    /// Every log record: messages and failed logins, in order.
    pub fn records(&self) -> Vec<Value> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("smarthost log line is JSON"))
            .collect()
    }

    /// Received messages.
    pub fn messages(&self) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r.get("mail_from").is_some())
            .collect()
    }

    /// Logins the smarthost rejected.
    pub fn failed_logins(&self) -> Vec<String> {
        self.records()
            .iter()
            .filter_map(|r| r["auth_failed"].as_str().map(str::to_string))
            .collect()
    }

    /// The message whose Subject is `subject`, once it arrived.
    pub fn wait_message(&self, subject: &str, timeout: Duration) -> Option<Value> {
        poll(timeout, || {
            self.messages()
                .into_iter()
                .find(|m| m["subject"] == subject)
        })
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default()
    }
}

impl Drop for Smarthost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_users(path: &Path, users: &[(&str, &str)]) {
    let map: serde_json::Map<String, Value> = users
        .iter()
        .map(|(u, p)| (u.to_string(), Value::from(*p)))
        .collect();
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, serde_json::to_vec(&map).unwrap()).unwrap();
    fs::rename(&tmp, path).unwrap();
}
