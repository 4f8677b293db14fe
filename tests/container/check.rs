//! (c) Check mode with diff on the container topology: it reports the change a real run then
//! makes, with the masked diff, and changes nothing (rows, files, map, no reload).

use serde_json::json;

use crate::common::{Outcome, PASSWORD, assert_no_secret};
use crate::relay::{USER, World};

#[test]
fn check_diff_reports_and_changes_nothing() {
    let new = "rotated pw 3";
    let w = World::new(&[(USER, PASSWORD)]);
    let c = &w.c;
    w.apply(w.relay(PASSWORD));
    let key = format!("[127.0.0.1]:{}", w.sh.port);

    let mut change = w.relay(new);
    change["tls"] = json!("may");
    let before = c.snapshot();
    let mark = c.log_mark();

    let run = c.cli(&["apply", "--check", "--diff"], &c.args(change.clone()));
    run.assert_no_secret(&[PASSWORD, new]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = run.json.assert_ok();
    assert_eq!(out["changed"], true, "{out:#}");
    assert_eq!(out["check_mode"], true, "{out}");
    let diff = out["diff"].to_string();
    assert!(diff.contains("******** (old)"), "{diff}");
    assert!(diff.contains("******** (new)"), "{diff}");
    assert!(diff.contains("smtp_tls_security_level"), "{diff}");
    assert!(
        run.stderr.contains("sasl_passwd"),
        "no unified diff: {}",
        run.stderr
    );

    // `--exit-code` makes the pending change a drift exit.
    let gate = c.cli(
        &["apply", "--check", "--exit-code"],
        &c.args(change.clone()),
    );
    assert_eq!(gate.code, 2, "{}\n{}", gate.stdout, gate.stderr);

    assert_eq!(c.snapshot(), before, "check mode wrote something");
    assert_eq!(
        c.postmap_query(&key).as_deref(),
        Some(format!("{USER}:{PASSWORD}").as_str())
    );
    assert!(
        !c.log_since(mark).contains("reload"),
        "check mode reloaded Postfix:\n{}",
        c.log_since(mark)
    );

    // The real run does what check mode said, and the container uses it.
    let real = w.apply(change);
    assert_no_secret(&real.to_string(), &[PASSWORD, new]);
    assert_eq!(c.decrypted("relay_host_password"), new);
    assert_eq!(
        c.postmap_query(&key).as_deref(),
        Some(format!("{USER}:{new}").as_str())
    );
    let level =
        c.t.in_postfix(&["postconf", "-h", "smtp_tls_security_level"]);
    assert_eq!(level.trim(), "may");
}
