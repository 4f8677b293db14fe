//! Issue 13: the record a changing run leaves (`.hermes-relayhost.verified`) lets the next run
//! skip the `transport` rows while the store, the key and sasl_passwd are as that run left
//! them, and nothing else: every other change is seen, and the files it writes are the ones a
//! run that reads every row writes.

use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Hermes, Outcome, relay};

const RECORD: &str = ".hermes-relayhost.verified";
const DOMAINS: usize = 4000;

/// A host with `DOMAINS` per-domain relays (two credential pairs between them) and one row
/// whose line is skipped with a warning, after a first apply.
fn verified_host(h: Hermes) -> Hermes {
    let (u1, p1) = (h.encrypt("user-a@example.net"), h.encrypt("pw-a-Secret"));
    let (u2, p2) = (h.encrypt("user-b@example.net"), h.encrypt("pw-b-Secret"));
    h.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {DOMAINS}) \
         INSERT INTO transport (domain, destination, port, authentication, \
         authentication_username, authentication_password) \
         SELECT 'd' || i || '.example.org', 'relay' || i || '.example.net', '587', 'YES', \
         CASE i % 2 WHEN 0 THEN '{u1}' ELSE '{u2}' END, \
         CASE i % 2 WHEN 0 THEN '{p1}' ELSE '{p2}' END FROM n"
    ));
    h.add_transport("nodest.example.org", "", None, "YES", "u", "p");
    let first = h.run(relay());
    first.assert_ok();
    assert!(h.postfix_dir().join(RECORD).exists(), "no record: {first}");
    h
}

fn with_password(password: &str) -> Value {
    let mut args = relay();
    args["password"] = json!(password);
    args
}

/// A module run under strace: its output and how many reads of the database file it made
/// (SQLite reads page by page, so a run that reads the `transport` rows reads many more).
fn traced(h: &Hermes, extra: Value) -> (Value, usize) {
    let file = h.dir.path().join("traced.json");
    fs::write(&file, h.args(extra).to_string()).unwrap();
    let log = h.dir.path().join("reads.log");
    let out = Command::new("strace")
        .arg("-o")
        .arg(&log)
        .args(["-y", "-e", "trace=pread64,read"])
        .arg(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&file)
        .output()
        .expect("strace (scripts/install-test-deps.sh installs it)");
    let db = h.db_path().display().to_string();
    let reads = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("<{db}>")))
        .count();
    (serde_json::from_slice(&out.stdout).unwrap(), reads)
}

#[test]
fn a_no_change_run_trusts_the_record_and_says_what_a_full_run_says() {
    let h = verified_host(Hermes::new());
    let (trusted, trusted_reads) = traced(&h, relay());
    // Diff mode reads every row: the reference.
    let mut full_args = relay();
    full_args["_ansible_diff"] = json!(true);
    let (full, full_reads) = traced(&h, full_args);
    for out in [&trusted, &full] {
        assert_eq!(out["changed"], false, "{out}");
        let warnings = out["warnings"].to_string();
        assert!(warnings.contains("nodest.example.org"), "{out}");
    }
    assert_eq!(trusted["warnings"], full["warnings"]);
    assert!(
        trusted_reads * 4 < full_reads,
        "the record did not spare the transport rows: {trusted_reads} vs {full_reads} reads"
    );
}

#[test]
fn a_changed_transport_row_or_hand_edited_sasl_passwd_is_seen() {
    let h = verified_host(Hermes::new());
    let id = h.add_transport(
        "late.example.org",
        "mx.late.example",
        Some("25"),
        "YES",
        "late-user",
        "late-pw",
    );
    let out = h.run(relay());
    assert_eq!(out["changed"], true, "{out}");
    assert!(
        h.file("sasl_passwd")
            .unwrap()
            .contains("[mx.late.example]:25\tlate-user:late-pw\n")
    );
    assert_eq!(h.run(relay())["changed"], false);

    h.sql(&format!(
        "UPDATE transport SET authentication_password = '{}' WHERE id = {id}",
        h.encrypt("later-pw")
    ));
    assert_eq!(h.run(relay())["changed"], true);
    assert_eq!(
        h.postmap_query("[mx.late.example]:25").as_deref(),
        Some("late-user:later-pw")
    );

    let path = h.postfix_dir().join("sasl_passwd");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("late-user:later-pw", "late-user:tampered"),
    )
    .unwrap();
    let out = h.run(relay());
    assert_eq!(out["changed"], true, "a hand edit was trusted: {out}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text);

    fs::write(h.postfix_dir().join(RECORD), "not a record").unwrap();
    assert_eq!(h.run(relay())["changed"], false);
}

#[test]
fn a_password_change_on_a_verified_host_writes_what_a_full_rebuild_writes() {
    let h = verified_host(Hermes::new());
    let record = h.postfix_dir().join(RECORD);
    h.run(with_password("second-Secret")).assert_ok();
    let trusted = h.file("sasl_passwd").unwrap();
    let (out, _) = traced(&h, with_password("second-Secret"));
    assert_eq!(out["changed"], false, "{out}");

    h.run(relay()).assert_ok();
    fs::remove_file(&record).unwrap();
    h.run(with_password("second-Secret")).assert_ok();
    assert_eq!(h.file("sasl_passwd").unwrap(), trusted);
    assert_eq!(
        h.postmap_query("[smtp.example.com]:587").as_deref(),
        Some("relayuser:second-Secret")
    );
    assert_eq!(
        h.postmap_query("[relay7.example.net]:587").as_deref(),
        Some("user-b@example.net:pw-b-Secret")
    );
    assert_eq!(trusted.lines().count(), DOMAINS + 1);
}

#[test]
fn check_mode_trusts_the_record_only_while_it_holds() {
    let h = verified_host(Hermes::new());
    let mut check = relay();
    check["_ansible_check_mode"] = json!(true);
    assert_eq!(h.run(check.clone())["changed"], false);
    h.sql("UPDATE transport SET port = '2525' WHERE id = 1");
    let before = h.snapshot();
    assert_eq!(h.run(check)["changed"], true);
    assert_eq!(h.snapshot(), before);
}

#[test]
fn a_key_rotation_renews_the_record() {
    let h = verified_host(Hermes::new());
    let before = fs::read_to_string(h.postfix_dir().join(RECORD)).unwrap();
    let rotated = h.run(json!({"rotate_key": true}));
    rotated.assert_ok();
    let after = fs::read_to_string(h.postfix_dir().join(RECORD)).unwrap();
    assert_ne!(before, after, "the record still names the old key");
    let (out, reads) = traced(&h, relay());
    assert_eq!(out["changed"], false, "{out}");
    assert!(
        reads < 50,
        "the renewed record was not trusted: {reads} reads"
    );
    // Diff mode reads every row: every credential decrypts under the new key to the same line.
    let mut full = relay();
    full["_ansible_diff"] = json!(true);
    assert_eq!(h.run(full)["changed"], false);
}

/// MariaDB gives no version of its rows: every run reads them, and no record is written.
#[test]
fn mariadb_hosts_read_every_row() {
    let h = Hermes::mariadb();
    h.add_transport("a.example.org", "mx.a.example", None, "YES", "u", "p");
    h.run(relay()).assert_ok();
    assert!(!h.postfix_dir().join(RECORD).exists());
    h.add_transport("b.example.org", "mx.b.example", None, "YES", "v", "q");
    assert_eq!(h.run(relay())["changed"], true);
    assert_eq!(h.postmap_query("[mx.b.example]:25").as_deref(), Some("v:q"));
}
