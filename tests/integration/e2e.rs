//! End to end: the real binary in module mode configures a private, running Postfix
//! whose config dir is the fixture's Postfix dir; mail sent with `sendmail` must reach a local
//! aiosmtpd smarthost that requires AUTH, authenticated as the configured user. Reloads go
//! through the real `postfix reload` (`postfix_exec: []`) and are checked in the maillog.
//!
//! Needs root, Debian's postfix + libsasl2-modules + openssl (scripts/install-test-deps.sh)
//! and aiosmtpd in target/test-venv (scripts/install-python-deps.sh); missing parts fail.

use std::fs;
use std::time::Duration;

use crate::common::{Hermes, Outcome, PASSWORD};
use crate::support::{Mode, PrivatePostfix, Smarthost, WAIT};
use serde_json::{Value, json};

const USER: &str = "relayuser";
const FROM: &str = "sender@origin.invalid";
const TO: &str = "rcpt@remote.invalid";

/// One scenario's world. Fields drop in order: smarthost, then Postfix (stopped), then the
/// fixture's temp dir.
struct World {
    sh: Smarthost,
    pf: PrivatePostfix,
    h: Hermes,
}

impl World {
    fn new(host: &str, mode: Mode, users: &[(&str, &str)]) -> World {
        crate::support::python(); // fail fast, with the fix, when the venv is missing
        let h = Hermes::new();
        let pf = PrivatePostfix::start(&h);
        let sh = Smarthost::start(h.dir.path(), host, mode, users);
        World { sh, pf, h }
    }

    /// Runs the module and checks that it succeeded, changed something and that its reload
    /// reached the running instance (a new `reload -- version` line in the maillog).
    fn apply(&self, extra: Value) -> Value {
        let mark = self.pf.log_mark();
        let out = self.h.run(extra);
        out.assert_ok();
        assert_eq!(out["changed"], true, "module run changed nothing: {out:#}");
        let warnings = out["warnings"].to_string();
        assert!(
            !warnings.contains("not running"),
            "the module did not see the running instance: {out:#}"
        );
        let reload = self.pf.wait_log(mark, "reload -- version", WAIT);
        assert!(
            reload.is_some(),
            "no reload in the maillog after the apply:\n{}",
            self.pf.log_since(mark)
        );
        out
    }

    /// The relay args for this smarthost.
    fn relay(&self, tls: &str, password: &str) -> Value {
        json!({
            "host": self.sh.host,
            "port": self.sh.port,
            "tls": tls,
            "username": USER,
            "password": password,
            "sasl_security_options": "noanonymous",
        })
    }

    fn main_cf(&self) -> String {
        self.h.file("main.cf").unwrap()
    }

    /// Sends a message and waits until the smarthost logged it.
    fn deliver(&self, subject: &str) -> Value {
        self.pf.sendmail(FROM, TO, subject);
        self.sh
            .wait_message(subject, WAIT)
            .unwrap_or_else(|| panic!("{subject}: not delivered to the smarthost\n{}", self.why()))
    }

    /// Everything that explains a failure: maillog, queue, smarthost log and stderr.
    fn why(&self) -> String {
        format!(
            "--- maillog\n{}--- queue\n{}--- smarthost log\n{:#?}\n--- smarthost stderr\n{}",
            self.pf.log(),
            self.pf.queue(),
            self.sh.records(),
            self.sh.stderr()
        )
    }

    fn master_pid(&self) -> String {
        fs::read_to_string(self.pf.base.join("queue/pid/master.pid"))
            .unwrap()
            .trim()
            .to_string()
    }
}

/// (a) Relay with credentials over a plain connection: the message arrives authenticated as
/// the configured user, and the module's reload reached the instance.
#[test]
fn relay_with_credentials_delivers_authenticated() {
    let w = World::new("127.0.0.1", Mode::Plain, &[(USER, PASSWORD)]);
    w.apply(w.relay("none", PASSWORD));
    let main_cf = w.main_cf();
    assert!(
        main_cf.contains(&format!("relayhost = [127.0.0.1]:{}\n", w.sh.port)),
        "{main_cf}"
    );

    let m = w.deliver("e2e-a");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert_eq!(m["tls"], false);
    assert_eq!(m["mail_from"], FROM);
    assert_eq!(m["rcpt_tos"], json!([TO]));
    assert!(w.sh.failed_logins().is_empty(), "{}", w.why());
}

/// (b) Password rotation: the smarthost only knows the new password, the module installs it,
/// Postfix reloads (same master process, no restart) and the next message authenticates.
#[test]
fn rotated_password_is_used_without_restart() {
    let old = "old-secret 1";
    let new = "new-secret 2";
    let w = World::new("127.0.0.1", Mode::Plain, &[(USER, old)]);
    w.apply(w.relay("may", old));
    assert_eq!(w.deliver("e2e-b-before")["auth_user"], USER);
    let pid = w.master_pid();

    w.sh.set_users(&[(USER, new)]);
    let out = w.apply(w.relay("may", new));
    assert!(
        !out.to_string().contains(new),
        "the new password leaked into the result"
    );
    let m = w.deliver("e2e-b-after");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert!(
        w.sh.failed_logins().is_empty(),
        "Postfix tried the old password: {}",
        w.why()
    );
    assert_eq!(w.master_pid(), pid, "Postfix was restarted, not reloaded");
    assert!(w.pf.is_running());
}

/// (c) STARTTLS with a self-signed smarthost: `tls: encrypt` and the SASL security options
/// that allow PLAIN/LOGIN over TLS.
#[test]
fn starttls_relay_delivers_over_tls() {
    let w = World::new("127.0.0.1", Mode::StartTls, &[(USER, PASSWORD)]);
    let mut args = w.relay("encrypt", PASSWORD);
    args["sasl_tls_security_options"] = json!("noanonymous");
    w.apply(args);
    let main_cf = w.main_cf();
    assert!(
        main_cf.contains("smtp_tls_security_level = encrypt\n"),
        "{main_cf}"
    );
    assert!(
        main_cf.contains("smtp_sasl_tls_security_options = noanonymous\n"),
        "{main_cf}"
    );

    let m = w.deliver("e2e-c");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert_eq!(m["tls"], true, "{}", w.why());
}

/// (d) An IPv6 smarthost on [::1]: the module writes `[ipv6:::1]:PORT` to relayhost and the
/// same key to sasl_passwd, and real Postfix delivers and authenticates with it.
#[test]
fn ipv6_smarthost_delivers_authenticated() {
    let w = World::new("::1", Mode::Plain, &[(USER, PASSWORD)]);
    w.apply(w.relay("none", PASSWORD));
    let key = format!("[ipv6:::1]:{}", w.sh.port);
    let main_cf = w.main_cf();
    assert!(
        main_cf.contains(&format!("relayhost = {key}\n")),
        "{main_cf}"
    );
    assert_eq!(
        w.h.postmap_query(&key).as_deref(),
        Some(format!("{USER}:{PASSWORD}").as_str()),
        "sasl_passwd key must equal the relayhost value"
    );

    let m = w.deliver("e2e-d");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
}

/// (e) A wrong password: the smarthost rejects the login (535 5.7.8), the message stays
/// deferred in the queue, nothing arrives; once the right password is applied, a flush
/// delivers it.
#[test]
fn wrong_password_leaves_message_deferred() {
    let w = World::new("127.0.0.1", Mode::Plain, &[(USER, PASSWORD)]);
    w.apply(w.relay("none", "not the password"));
    let mark = w.pf.log_mark();
    w.pf.sendmail(FROM, TO, "e2e-e");

    let line = w.pf.wait_log(mark, "status=deferred", WAIT);
    let line = line.unwrap_or_else(|| panic!("no deferral in the maillog\n{}", w.why()));
    eprintln!("deferred: {line}");
    assert!(
        line.contains("dsn=4.7.8") && line.contains("535"),
        "deferred for another reason: {line}"
    );
    let queue = w.pf.queue();
    assert!(queue.contains(TO), "message not in the queue:\n{queue}");
    assert!(w.sh.messages().is_empty(), "{}", w.why());
    assert!(
        w.sh.failed_logins().iter().any(|l| l == USER),
        "{}",
        w.why()
    );

    // Still deferred on retry.
    let mark = w.pf.log_mark();
    w.pf.flush();
    assert!(
        w.pf.wait_log(mark, "status=deferred", WAIT).is_some(),
        "{}",
        w.why()
    );
    assert!(w.sh.messages().is_empty(), "{}", w.why());

    // The fix through the module, then a flush: the queued message goes out.
    w.apply(w.relay("none", PASSWORD));
    w.pf.flush();
    let m =
        w.sh.wait_message("e2e-e", WAIT)
            .unwrap_or_else(|| panic!("not delivered after the fix\n{}", w.why()));
    assert_eq!(m["auth_user"], USER);
    let empty = crate::support::poll(WAIT, || {
        w.pf.queue().contains("Mail queue is empty").then_some(())
    });
    assert!(empty.is_some(), "{}", w.pf.queue());
}

/// (f) `state: absent` removes the relayhost; with DNS disabled a message to a non-local
/// domain then has no route: it is not relayed, and the maillog says why.
#[test]
fn absent_stops_relaying() {
    let w = World::new("127.0.0.1", Mode::Plain, &[(USER, PASSWORD)]);
    w.apply(w.relay("none", PASSWORD));
    assert_eq!(w.deliver("e2e-f-relayed")["auth_user"], USER);

    w.apply(json!({"state": "absent"}));
    let main_cf = w.main_cf();
    assert!(
        !main_cf
            .lines()
            .any(|l| l.starts_with("relayhost") && l.contains('[')),
        "relayhost still set:\n{main_cf}"
    );

    let mark = w.pf.log_mark();
    w.pf.sendmail(FROM, TO, "e2e-f-unrelayed");
    // The message's own fate: bounced or deferred, with the reason (no route to remote.invalid).
    let fate = crate::support::poll(WAIT, || {
        w.pf.log_since(mark)
            .lines()
            .find(|l| {
                l.contains(&format!("to=<{TO}>"))
                    && (l.contains("status=bounced") || l.contains("status=deferred"))
            })
            .map(str::to_string)
    });
    let fate = fate.unwrap_or_else(|| panic!("no delivery outcome in the maillog\n{}", w.why()));
    eprintln!("without relayhost: {fate}");
    assert!(
        !fate.contains(&format!("127.0.0.1]:{}", w.sh.port)),
        "still relayed to the smarthost: {fate}"
    );
    assert!(fate.contains("relay=none"), "a relay was used: {fate}");
    assert!(
        fate.contains("remote.invalid"),
        "outcome not about the recipient domain: {fate}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let subjects: Vec<Value> =
        w.sh.messages()
            .iter()
            .map(|m| m["subject"].clone())
            .collect();
    assert_eq!(subjects, vec![json!("e2e-f-relayed")], "{}", w.why());
}

/// (g) Implicit TLS (port-465 style): `tls: wrapper` against a smarthost that speaks TLS from
/// the first byte.
#[test]
fn wrapper_tls_relay_delivers_over_tls() {
    let w = World::new("127.0.0.1", Mode::Implicit, &[(USER, PASSWORD)]);
    let mut args = w.relay("wrapper", PASSWORD);
    args["sasl_tls_security_options"] = json!("noanonymous");
    w.apply(args);
    let main_cf = w.main_cf();
    assert!(
        main_cf.contains("smtp_tls_wrappermode = yes\n"),
        "{main_cf}"
    );

    let m = w.deliver("e2e-g");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert_eq!(m["tls"], true, "{}", w.why());
}
