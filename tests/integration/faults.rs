//! Fault injection: a run that fails leaves the world as it was (rows, files, modes, map),
//! says what went wrong and what it put back, never shows a password, and the next good run
//! finishes the job.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::{Hermes, Outcome, PASSWORD, Run, Snapshot, leftovers, relay};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "n3w-Secr3t:pw with blanks";
const OLD_KEY: &str = "[smtp.example.com]:587";
const NEW_KEY: &str = "[smtp.example.com]:2525";

/// A Hermes root with a first good authenticated relay in place (this also creates the lock
/// file, so a later failing run has nothing legitimate to create).
fn configured() -> Hermes {
    let h = Hermes::new();
    let out = h.run(relay());
    out.assert_ok();
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(
        h.postmap_query(OLD_KEY).as_deref(),
        Some(format!("relayuser:{PASSWORD}").as_str())
    );
    h
}

/// The changes the faulty run attempts: a new password (sasl_passwd + map) and a new port
/// (rows + main.cf).
fn change() -> Value {
    let mut args = relay();
    args["password"] = json!(NEW_PASSWORD);
    args["port"] = json!(2525);
    args
}

/// The change run through `exec`; the config dir as the tools see it stays the test's Postfix
/// dir (a non-empty prefix would otherwise default it to /etc/postfix).
fn run_change_with(h: &Hermes, exec: Value) -> Run {
    run_with(h, change(), exec)
}

fn run_with(h: &Hermes, mut extra: Value, exec: Value) -> Run {
    extra["postfix_exec"] = exec;
    extra["postfix_exec_dir"] = json!(h.postfix_dir().display().to_string());
    h.run_raw(&h.args(extra))
}

/// Content (hash and length) and mode of every file plus every row: a snapshot without the
/// mtimes, for runs that legitimately rewrite files with their old content.
type Contents = (BTreeMap<PathBuf, (u64, usize, u32)>, Vec<String>);

fn contents(s: &Snapshot) -> Contents {
    let files = s
        .files
        .iter()
        .map(|(path, &(hash, len, mode, _mtime))| (path.clone(), (hash, len, mode)))
        .collect();
    (files, s.rows.clone())
}

/// No temp file of ours (nor the scratch dir of the staged config check) is left in the
/// Postfix dir.
fn assert_no_leftovers(h: &Hermes) {
    let left = leftovers(&h.postfix_dir());
    assert!(left.is_empty(), "temp files left: {left:?}");
}

const SECRETS: &[&str] = &[PASSWORD, NEW_PASSWORD, "Secr3t", "w0rd with"];

/// After a failure the plain local tools finish the same change, and repeating it is a no-op.
fn assert_recovers(h: &Hermes) {
    let out = h.run(change());
    out.assert_ok();
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["relayhost"], NEW_KEY, "{out}");
    assert_eq!(
        h.postmap_query(NEW_KEY).as_deref(),
        Some(format!("relayuser:{NEW_PASSWORD}").as_str())
    );
    assert_eq!(h.postmap_query(OLD_KEY), None);
    assert!(
        h.file("main.cf")
            .unwrap()
            .contains(&format!("relayhost = {NEW_KEY}\n")),
        "{}",
        h.file("main.cf").unwrap()
    );
    assert_eq!(h.decrypted("relay_host_password"), NEW_PASSWORD);
    assert_eq!(h.mode("sasl_passwd"), 0o600);
    assert_eq!(h.mode("sasl_passwd.db"), 0o600);
    let again = h.run(change());
    again.assert_ok();
    assert_eq!(
        again["changed"], false,
        "second identical run changed something: {again}"
    );
    assert_no_leftovers(h);
}

#[test]
fn postmap_failure_changes_nothing() {
    let h = configured();
    let before = h.snapshot();

    let run = run_change_with(&h, h.failing_exec("postmap"));

    run.assert_failed("postmap_failed");
    let msg = run.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("injected postmap failure"),
        "tool's words missing: {msg}"
    );
    assert_eq!(
        run.json["restored"],
        json!([]),
        "nothing was written, nothing to restore"
    );
    assert_eq!(h.snapshot(), before, "a postmap failure touched something");
    assert_no_leftovers(&h);
    run.assert_no_secret(SECRETS);

    assert_recovers(&h);
}

#[test]
fn reload_failure_restores_files_map_and_rows() {
    let h = configured();
    let before = h.snapshot();

    let run = run_change_with(&h, h.failing_exec("reload"));

    run.assert_failed("reload_failed");
    let out = &run.json;
    let msg = out["msg"].as_str().unwrap();
    assert!(msg.contains("injected reload failure"), "{msg}");
    assert!(!msg.contains("RESTORE FAILED"), "{msg}");
    let restored: Vec<&str> = out["restored"]
        .as_array()
        .unwrap_or_else(|| panic!("no restored list: {out}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let dir = h.postfix_dir();
    for file in ["main.cf", "sasl_passwd", "sasl_passwd.db"] {
        let path = dir.join(file).display().to_string();
        assert!(
            restored.contains(&path.as_str()),
            "{file} not restored: {restored:?}"
        );
    }
    assert!(restored.contains(&"database rows"), "{restored:?}");
    // The real `postfix status` says the test instance is not running: no second reload.
    assert!(
        !restored.iter().any(|r| r.contains("reloaded")),
        "{restored:?}"
    );

    // Restore rewrites files (new mtimes); everything else is as before.
    assert_eq!(contents(&h.snapshot()), contents(&before));
    assert_eq!(
        h.postmap_query(OLD_KEY).as_deref(),
        Some(format!("relayuser:{PASSWORD}").as_str()),
        "the map does not answer with the old password"
    );
    assert_eq!(h.postmap_query(NEW_KEY), None);
    assert_eq!(h.mode("sasl_passwd"), 0o600);
    assert_eq!(h.mode("sasl_passwd.db"), 0o600);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert!(!h.db_path().with_extension("sqlite-journal").exists());
    assert_no_leftovers(&h);
    run.assert_no_secret(SECRETS);

    assert_recovers(&h);
}

#[test]
fn missing_tool_fails_before_any_write() {
    let h = configured();
    let before = h.snapshot();
    // Only the password changes: main.cf stays, so postmap is the first tool the run needs.
    let mut extra = relay();
    extra["password"] = json!(NEW_PASSWORD);

    let run = run_with(&h, extra, json!(["/nonexistent/hermes-postfix-tools"]));

    run.assert_failed("postfix_unreachable");
    let msg = run.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("cannot run `/nonexistent/hermes-postfix-tools`")
            && msg.contains("No such file or directory"),
        "unclear message: {msg}"
    );
    assert_eq!(run.json["restored"], json!([]));
    assert_eq!(
        h.snapshot(),
        before,
        "a run that could not start postmap touched something"
    );
    assert_no_leftovers(&h);
    run.assert_no_secret(SECRETS);

    assert_recovers(&h);
}

#[test]
fn template_error_fails_before_any_write() {
    let h = configured();
    let before = h.snapshot();
    let mut extra = change();
    extra["vars"] = json!({ "banner": "Hermes SEG" });

    let run = h.run_raw(&h.args(extra));

    run.assert_failed("template_error");
    let msg = run.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("main.cf.HERMES") && msg.contains("inet_interfaces"),
        "{msg}"
    );
    assert_eq!(h.snapshot(), before);
    run.assert_no_secret(SECRETS);

    assert_recovers(&h);
}

/// On a root no run has changed yet (`init` wrote what its seed rows describe: an empty
/// sasl_passwd and its map), a failing run leaves only the (empty) lock file behind: the lock
/// is taken before staging, which the contract allows for a run with changes.
#[test]
fn failure_on_a_fresh_root_leaves_only_the_lock_file() {
    let h = Hermes::new();
    let before = h.snapshot();
    assert_eq!(h.file("sasl_passwd").as_deref(), Some(""));
    let mut extra = relay();
    extra["postfix_exec"] = h.failing_exec("postmap");
    extra["postfix_exec_dir"] = json!(h.postfix_dir().display().to_string());

    let run = h.run_raw(&h.args(extra));

    run.assert_failed("postmap_failed");
    let mut after = h.snapshot();
    let lock = h.postfix_dir().join(".hermes-relayhost.lock");
    let (_hash, len, mode, _mtime) = after.files.remove(&lock).expect("lock file");
    assert_eq!(len, 0);
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(after, before);
    assert_eq!(h.file("sasl_passwd").as_deref(), Some(""));
    assert_no_leftovers(&h);
    run.assert_no_secret(SECRETS);

    let out = h.run(relay());
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(h.run(relay())["changed"], false);
}
