//! Issue 13: the record a changing run leaves (`.hermes-relayhost.verified`) lets the next run
//! skip the `transport` rows while the store, the key and sasl_passwd are as that run left
//! them, and nothing else: every other change is seen, and the files it writes are the ones a
//! run that reads every row writes.

use std::fs;
use std::process::Command;
use std::time::Duration;

use mysql::prelude::Queryable;
use serde_json::{Value, json};

use crate::common::{Db, Hermes, Outcome, mariadb, relay};

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

// --- MariaDB: the version is `transport`'s MyISAM metadata (see src/store/mariadb.rs) -------

/// Per-domain rows of the MariaDB hosts below (the same two credential pairs as above).
const MARIA_DOMAINS: usize = 500;

/// The fixture's database name.
fn db_name(h: &Hermes) -> &str {
    let Db::Mariadb(name) = &h.db else {
        unreachable!("a MariaDB fixture")
    };
    name
}

/// How many `transport` rows the server has handed out for this fixture's database so far:
/// MariaDB's per-table user statistics (`userstat`), which count every row a handler reads,
/// whichever session reads it. A run that reads the rows adds at least `MARIA_DOMAINS`.
fn transport_rows_read(h: &Hermes) -> u64 {
    let mut conn = mariadb::server().conn(None);
    conn.query_drop("SET GLOBAL userstat = 1").unwrap();
    conn.exec_first(
        "SELECT ROWS_READ FROM information_schema.TABLE_STATISTICS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'transport'",
        (db_name(h),),
    )
    .unwrap()
    .unwrap_or(0)
}

/// `transport`'s metadata the version is made of, as the server reports it now (UTC):
/// update time, rows, data length.
fn transport_meta(h: &Hermes) -> (i64, u64, u64) {
    let mut conn = mariadb::server().conn(None);
    conn.query_drop("SET time_zone = '+00:00'").unwrap();
    conn.exec_first(
        "SELECT UNIX_TIMESTAMP(UPDATE_TIME), TABLE_ROWS, DATA_LENGTH FROM \
         information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'transport'",
        (db_name(h),),
    )
    .unwrap()
    .unwrap()
}

/// Waits until the last write to `transport` is old enough for a version (the store gives
/// none while a later write could share its mtime's second): as on a host whose rows were
/// written long before the run.
fn settle() {
    std::thread::sleep(Duration::from_millis(2100));
}

/// A MariaDB host with `MARIA_DOMAINS` per-domain relays and one row whose line is skipped
/// with a warning, after a first apply that left a record.
fn maria_verified_host() -> Hermes {
    let h = Hermes::mariadb();
    transport_rows_read(&h);
    let (u1, p1) = (h.encrypt("user-a@example.net"), h.encrypt("pw-a-Secret"));
    let (u2, p2) = (h.encrypt("user-b@example.net"), h.encrypt("pw-b-Secret"));
    h.sql(&format!(
        "SET max_recursive_iterations = {MARIA_DOMAINS}; \
         INSERT INTO transport (domain, destination, port, authentication, \
         authentication_username, authentication_password) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MARIA_DOMAINS}) \
         SELECT CONCAT('d', i, '.example.org'), CONCAT('relay', i, '.example.net'), '587', 'YES', \
         IF(i % 2 = 0, '{u1}', '{u2}'), IF(i % 2 = 0, '{p1}', '{p2}') FROM n"
    ));
    h.add_transport("nodest.example.org", "", None, "YES", "u", "p");
    settle();
    let first = h.run(relay());
    first.assert_ok();
    assert!(recorded_store(&h).is_some(), "no record: {first}");
    h
}

/// The store version the record names, if it names one of a MariaDB store.
fn recorded_store(h: &Hermes) -> Option<String> {
    let text = fs::read_to_string(h.postfix_dir().join(RECORD)).ok()?;
    let record: Value = serde_json::from_str(&text).unwrap();
    let store = record["store"].as_str().unwrap();
    store.starts_with("mariadb ").then(|| store.to_string())
}

/// Runs `args`; returns its output and how many `transport` rows it read.
fn counted(h: &Hermes, args: Value) -> (Value, u64) {
    let before = transport_rows_read(h);
    let out = h.run(args);
    (out, transport_rows_read(h) - before)
}

#[test]
fn mariadb_a_no_change_run_reads_no_transport_row() {
    let h = maria_verified_host();
    let (trusted, read) = counted(&h, relay());
    assert_eq!(trusted["changed"], false, "{trusted}");
    assert_eq!(read, 0, "a no-change run read {read} transport rows");
    let mut check = relay();
    check["_ansible_check_mode"] = json!(true);
    let (out, read) = counted(&h, check);
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(read, 0, "a check-mode run read {read} transport rows");
    // Diff mode reads every row: the reference, and proof that the counter sees reads.
    let mut full_args = relay();
    full_args["_ansible_diff"] = json!(true);
    let (full, read) = counted(&h, full_args);
    assert_eq!(full["changed"], false, "{full}");
    assert!(read > MARIA_DOMAINS as u64, "diff mode read {read} rows");
    assert!(
        trusted["warnings"]
            .to_string()
            .contains("nodest.example.org")
    );
    assert_eq!(trusted["warnings"], full["warnings"]);
}

#[test]
fn mariadb_a_password_change_keeps_the_record_and_writes_a_full_rebuild() {
    let h = maria_verified_host();
    let (out, read) = counted(&h, with_password("second-Secret"));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(read, 0, "the password change read {read} transport rows");
    let trusted = h.file("sasl_passwd").unwrap();
    // The version after the commit covers the run's own writes: the next run trusts it.
    let (out, read) = counted(&h, with_password("second-Secret"));
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(
        read, 0,
        "after the password change: {read} transport rows read"
    );

    h.run(relay()).assert_ok();
    fs::remove_file(h.postfix_dir().join(RECORD)).unwrap();
    let (out, read) = counted(&h, with_password("second-Secret"));
    assert_eq!(out["changed"], true, "{out}");
    assert!(read > MARIA_DOMAINS as u64);
    assert_eq!(h.file("sasl_passwd").unwrap(), trusted);
    assert_eq!(trusted.lines().count(), MARIA_DOMAINS + 1);
    assert_eq!(
        h.postmap_query("[relay7.example.net]:587").as_deref(),
        Some("user-b@example.net:pw-b-Secret")
    );
}

/// A verified MariaDB host with one more `transport` row, settled (older than the racy
/// window); returns the row's id.
fn maria_host_with_a_late_row() -> (Hermes, i64) {
    let h = maria_verified_host();
    let id = h.add_transport(
        "late.example.org",
        "mx.late.example",
        Some("25"),
        "YES",
        "late",
        "pw-0-Secret",
    );
    settle();
    (h, id)
}

/// Each kind of external edit of `transport` makes the next run read every row and write what
/// the rows say; after it, a run trusts the new record again. None of these changes the row
/// count, and the first two not the data length either: only the update time tells.
#[test]
fn mariadb_every_external_edit_of_transport_is_seen() {
    let (h, id) = maria_host_with_a_late_row();
    assert_eq!(h.run(relay())["changed"], true);
    let dump = h.dir.path().join("transport.sql");
    let socket = mariadb::server().socket.display().to_string();
    let out = Command::new("mariadb-dump")
        .args([
            "--no-defaults",
            "-S",
            &socket,
            "-uroot",
            db_name(&h),
            "transport",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    fs::write(&dump, &out.stdout).unwrap();
    let (out, read) = counted(&h, relay());
    assert_eq!((out["changed"].clone(), read), (json!(false), 0), "{out}");

    let password = |pw: &str| h.encrypt(pw);
    let edits: [(&str, String, &str); 3] = [
        (
            "an UPDATE that keeps the row count and length",
            format!(
                "UPDATE transport SET authentication_password = '{}' WHERE id = {id}",
                password("pw-1-Secret")
            ),
            "pw-1-Secret",
        ),
        (
            "a DELETE and an INSERT of the same id",
            format!(
                "DELETE FROM transport WHERE id = {id}; \
                 INSERT INTO transport (id, domain, destination, port, authentication, \
                 authentication_username, authentication_password) VALUES ({id}, \
                 'late.example.org', 'mx.late.example', '25', 'YES', '{}', '{}')",
                h.encrypt("late"),
                password("pw-2-Secret")
            ),
            "pw-2-Secret",
        ),
        ("a restore of a dump", String::new(), "pw-0-Secret"),
    ];
    for (what, sql, expected) in edits {
        let meta = transport_meta(&h);
        if sql.is_empty() {
            let status = Command::new("mariadb")
                .args(["--no-defaults", "-S", &socket, "-uroot", db_name(&h)])
                .stdin(fs::File::open(&dump).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        } else {
            h.sql(&sql);
            let after = transport_meta(&h);
            assert_eq!((after.1, after.2), (meta.1, meta.2), "{what}: rows, length");
        }
        settle();
        let (out, read) = counted(&h, relay());
        assert_eq!(out["changed"], true, "{what}: {out}");
        assert!(read > MARIA_DOMAINS as u64, "{what}: {read} rows read");
        assert_eq!(
            h.postmap_query("[mx.late.example]:25").as_deref(),
            Some(format!("late:{expected}").as_str()),
            "{what}"
        );
        let (out, read) = counted(&h, relay());
        assert_eq!(
            (out["changed"].clone(), read),
            (json!(false), 0),
            "{what}: {out}"
        );
    }
}

/// The racy case: an edit in the same second as the last write before a changing run's
/// commit leaves every field of the metadata (update time, rows, length) as that run saw it.
/// So that run records no version, and the next run reads every row.
#[test]
fn mariadb_an_edit_in_the_same_second_as_the_record_is_seen() {
    let (h, id) = maria_host_with_a_late_row();
    h.run(relay()).assert_ok();
    let record = h.postfix_dir().join(RECORD);
    let mut conn = mariadb::server().conn(None);
    let set = |pw: &str| {
        format!(
            "UPDATE transport SET authentication_password = '{}' WHERE id = {id}",
            h.encrypt(pw)
        )
    };
    for (attempt, password) in ["second-Secret", "third-Secret", "fourth-Secret"]
        .into_iter()
        .enumerate()
    {
        // Start right after a second begins on the server's clock.
        let micros: i64 = conn
            .query_first("SELECT MICROSECOND(NOW(6))")
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_micros((1_000_000 - micros) as u64 + 5_000));
        h.sql(&set("pw-1-Secret"));
        let recorded = fs::read_to_string(&record).unwrap();
        let (out, read) = counted(&h, with_password(password));
        assert_eq!(out["changed"], true, "{out}");
        assert!(read > MARIA_DOMAINS as u64);
        let meta = transport_meta(&h);
        h.sql(&set("pw-2-Secret"));
        if transport_meta(&h) != meta {
            eprintln!("attempt {attempt}: the edits spanned two seconds, again");
            settle();
            continue;
        }
        assert_eq!(
            fs::read_to_string(&record).unwrap(),
            recorded,
            "the run recorded a version that a later edit in its second keeps"
        );
        let out = h.run(with_password(password));
        assert_eq!(out["changed"], true, "the edit was missed: {out}");
        assert_eq!(
            h.postmap_query("[mx.late.example]:25").as_deref(),
            Some("late:pw-2-Secret")
        );
        return;
    }
    panic!("three attempts at editing within one second failed");
}

/// Only MyISAM's update time is a version: on another engine every run reads every row.
#[test]
fn mariadb_other_engines_give_no_version() {
    let h = Hermes::mariadb();
    h.add_transport("a.example.org", "mx.a.example", None, "YES", "u", "p");
    h.sql("ALTER TABLE transport ENGINE = InnoDB");
    settle();
    h.run(relay()).assert_ok();
    assert_eq!(recorded_store(&h), None);
    let (out, read) = counted(&h, relay());
    assert_eq!(out["changed"], false, "{out}");
    assert!(read > 0);
    h.add_transport("b.example.org", "mx.b.example", None, "YES", "v", "q");
    assert_eq!(h.run(relay())["changed"], true);
    assert_eq!(h.postmap_query("[mx.b.example]:25").as_deref(), Some("v:q"));
}
