//! `probe: true` against the local aiosmtpd smarthost: a login the relay host accepts lets the
//! run go on; a rejected one fails it with nothing changed and no password shown.

use crate::common::{Hermes, Outcome};
use crate::support::{Mode, Smarthost};
use serde_json::json;

const USER: &str = "relayuser";
const GOOD: &str = "right pass:word";

/// With `noanonymous`: Postfix's default `noplaintext` forbids PLAIN and LOGIN, and the probe
/// logs in only where Postfix would.
fn args(sh: &Smarthost, tls: &str, password: &str) -> serde_json::Value {
    json!({"host": sh.host, "port": sh.port, "tls": tls, "username": USER,
           "password": password, "probe": true, "sasl_security_options": "noanonymous"})
}

#[test]
fn accepted_logins_let_the_run_change() {
    for (mode, tls) in [
        (Mode::Plain, "none"),
        (Mode::Plain, "may"),
        (Mode::StartTls, "encrypt"),
        (Mode::Implicit, "wrapper"),
    ] {
        let h = Hermes::new();
        let sh = Smarthost::start(h.dir.path(), "127.0.0.1", mode, &[(USER, GOOD)]);
        let out = h.run(args(&sh, tls, GOOD));
        out.assert_ok();
        assert_eq!(out["changed"], true);
        assert!(sh.failed_logins().is_empty(), "{mode:?}/{tls}");
        assert_eq!(h.decrypted("relay_host_password"), GOOD);
    }
}

#[test]
fn rejected_login_fails_and_changes_nothing() {
    let h = Hermes::new();
    let sh = Smarthost::start(h.dir.path(), "127.0.0.1", Mode::StartTls, &[(USER, GOOD)]);
    assert_eq!(h.run(args(&sh, "encrypt", GOOD))["changed"], true);
    let before = h.snapshot();
    let run = h.run_raw(&h.args(args(&sh, "encrypt", "wrong-secret")));
    run.assert_failed("probe_failed");
    assert!(
        run.json["msg"]
            .as_str()
            .unwrap()
            .contains("nothing changed")
    );
    assert!(!run.stdout.contains("wrong-secret") && !run.stderr.contains("wrong-secret"));
    assert_eq!(h.snapshot(), before);
    assert_eq!(sh.failed_logins(), vec![USER.to_string()]);
}

#[test]
fn unreachable_relay_fails_the_probe_and_no_change_skips_it() {
    let h = Hermes::new();
    let sh = Smarthost::start(h.dir.path(), "127.0.0.1", Mode::Plain, &[(USER, GOOD)]);
    let port = sh.port;
    assert_eq!(h.run(args(&sh, "none", GOOD))["changed"], true);
    drop(sh);
    // Nothing to commit: the relay host is not contacted at all.
    let out = h.run(json!({"host": "127.0.0.1", "port": port, "tls": "none",
                           "username": USER, "password": GOOD, "probe": true}));
    out.assert_ok();
    assert_eq!(out["changed"], false);
    let out = h.run(json!({"host": "127.0.0.1", "port": port, "tls": "none",
                           "username": USER, "password": "new-one", "probe": true}));
    assert_eq!(out["error"]["code"], "probe_failed", "{out}");
    assert_eq!(h.decrypted("relay_host_password"), GOOD);
}

/// Where Postfix would not send the password (PLAIN in clear under `noplaintext`, the
/// default), neither does the probe: the run fails and the smarthost sees no login.
#[test]
fn the_probe_follows_the_sasl_security_options() {
    let h = Hermes::new();
    let plain = Smarthost::start(h.dir.path(), "127.0.0.1", Mode::Plain, &[]);
    let starttls = Smarthost::start(h.dir.path(), "127.0.0.1", Mode::StartTls, &[(USER, GOOD)]);
    for (sh, options) in [
        (&plain, json!({})),
        (
            &plain,
            json!({"sasl_security_options": "noplaintext, noanonymous",
                        "sasl_tls_security_options": "noanonymous"}),
        ),
    ] {
        let mut a = args(sh, "may", GOOD);
        a.as_object_mut().unwrap().remove("sasl_security_options");
        for (k, v) in options.as_object().unwrap() {
            a[k] = v.clone();
        }
        let run = h.run_raw(&h.args(a));
        run.assert_failed("probe_failed");
        // Refused up front, or STARTTLS required and not offered.
        assert!(
            run.stdout.contains("not sent") || run.stdout.contains("STARTTLS"),
            "{}",
            run.stdout
        );
        assert!(
            sh.failed_logins().is_empty(),
            "the password went out in clear"
        );
    }
    let mut a = args(&starttls, "may", GOOD);
    a["sasl_security_options"] = json!("noplaintext, noanonymous");
    a["sasl_tls_security_options"] = json!("noanonymous");
    h.run(a).assert_ok();
}
