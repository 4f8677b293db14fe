//! Issue 12: a run killed or failed at any rename or fsync leaves a host that is consistent or
//! that doctor flags, and the next run (with any args) repairs it; no temp file keeps a
//! password; symlinks are not followed; a commented credential line is masked; odd mode flags
//! are refused; the process cannot dump core.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{Hermes, Outcome, PASSWORD, Run, files_holding, leftovers, relay};

const NEW_PASSWORD: &str = "n3w-Secr3t:pw with blanks";
const OLD_KEY: &str = "[smtp.example.com]:587";
const NEW_KEY: &str = "[smtp.example.com]:2525";

fn password_change() -> Value {
    let mut args = relay();
    args["password"] = json!(NEW_PASSWORD);
    args
}

fn port_change() -> Value {
    let mut args = relay();
    args["port"] = json!(2525);
    args
}

/// A host with a first good authenticated relay in place.
fn configured(h: Hermes) -> Hermes {
    let out = h.run(relay());
    out.assert_ok();
    h
}

/// Runs module mode under strace (the binary only, not the Postfix tools it starts), with
/// `inject` (`SYSCALL:signal=KILL:when=N`, `SYSCALL:error=EIO:when=N`).
fn run_injected(h: &Hermes, extra: Value, inject: &str) -> std::process::Output {
    let file = h.dir.path().join("injected.json");
    fs::write(&file, h.args(extra).to_string()).unwrap();
    Command::new("strace")
        .args(["-o", "/dev/null", "-e"])
        .arg(format!("inject={inject}"))
        .arg(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&file)
        .output()
        .expect("strace (scripts/install-test-deps.sh installs it)")
}

/// How often a clean run of the change calls `syscall` (a traced run on a twin host).
fn count_calls(make: fn() -> Hermes, extra: &Value, syscall: &str) -> usize {
    let h = configured(make());
    let file = h.dir.path().join("count.json");
    fs::write(&file, h.args(extra.clone()).to_string()).unwrap();
    let log = h.dir.path().join("strace.log");
    let out = Command::new("strace")
        .arg("-o")
        .arg(&log)
        .args(["-e", &format!("trace={syscall}")])
        .arg(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(&format!("{syscall}(")))
        .count()
}

/// Doctor passes on the stored state (its drift check: rows, main.cf, sasl_passwd and its map
/// agree; a hot SQLite journal of a killed run fails its database check).
fn doctor_ok(h: &Hermes) -> bool {
    let mut args = h.args(json!({}));
    args["check_only"] = json!(true);
    let out = h.run_raw(&args).json;
    assert!(out["checks"].is_array(), "{out}");
    out["failed"] == false
}

/// What Postfix reads agrees with itself: every sasl_passwd line is what the map answers.
fn map_agrees(h: &Hermes) -> bool {
    let sasl = h.file("sasl_passwd").unwrap_or_default();
    sasl.lines().all(|line| {
        let (key, value) = line.split_once('\t').unwrap();
        h.postmap_query(key).as_deref() == Some(value)
    }) && [OLD_KEY, NEW_KEY]
        .iter()
        .all(|key| sasl.contains(&format!("{key}\t")) || h.postmap_query(key).is_none())
}

/// After an interrupted `change`: consistent or flagged, repaired by the previous args, and
/// nothing under the root keeps the interrupted run's password.
fn assert_consistent_or_flagged_then_repaired(h: &Hermes, what: &str) {
    if doctor_ok(h) {
        assert!(map_agrees(h), "{what}: doctor passes a torn host");
    }
    let out = h.run(relay());
    out.assert_ok();
    assert!(doctor_ok(h), "{what}: not repaired: {out}");
    assert!(map_agrees(h), "{what}: map not repaired");
    assert_eq!(
        h.postmap_query(OLD_KEY).as_deref(),
        Some(format!("relayuser:{PASSWORD}").as_str()),
        "{what}"
    );
    assert_eq!(h.postmap_query(NEW_KEY), None, "{what}");
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD, "{what}");
    assert_eq!(h.run(relay())["changed"], false, "{what}: not idempotent");
    assert_eq!(leftovers(&h.postfix_dir()), Vec::<String>::new(), "{what}");
    assert_eq!(
        files_holding(&h.root, NEW_PASSWORD),
        Vec::<PathBuf>::new(),
        "{what}: the interrupted run's password is left in clear"
    );
}

/// Kill and EIO at every `syscall` call of `change`, each on a fresh configured host.
fn sweep(make: fn() -> Hermes, change: fn() -> Value, syscalls: &[&str], actions: &[&str]) {
    for syscall in syscalls {
        let n = count_calls(make, &change(), syscall);
        assert!(n > 0, "{syscall} never called");
        for action in actions {
            for when in 1..=n {
                let what = format!("{syscall}:{action}:when={when}");
                let h = configured(make());
                let out = run_injected(&h, change(), &what);
                let stdout = String::from_utf8_lossy(&out.stdout);
                crate::common::assert_no_secret(&stdout, &[NEW_PASSWORD, PASSWORD]);
                assert_consistent_or_flagged_then_repaired(&h, &what);
            }
        }
    }
}

#[test]
fn sweep_password_change_renames() {
    sweep(
        Hermes::new,
        password_change,
        &["renameat"],
        &["signal=KILL", "error=EIO"],
    );
}

#[test]
fn sweep_password_change_fsyncs() {
    sweep(
        Hermes::new,
        password_change,
        &["fsync"],
        &["signal=KILL", "error=EIO"],
    );
}

#[test]
fn sweep_port_change_renames() {
    sweep(
        Hermes::new,
        port_change,
        &["renameat"],
        &["signal=KILL", "error=EIO"],
    );
}

#[test]
fn sweep_port_change_fsyncs() {
    sweep(
        Hermes::new,
        port_change,
        &["fsync"],
        &["signal=KILL", "error=EIO"],
    );
}

#[test]
fn mariadb_sweep_password_change_renames() {
    sweep(
        Hermes::mariadb,
        password_change,
        &["renameat"],
        &["signal=KILL", "error=EIO"],
    );
}

/// Killed between the map's rename and sasl_passwd's: the map answers the new password while
/// rows and sasl_passwd hold the old one. A later run with other args (a TLS change that
/// touches neither) and doctor must both see it.
fn torn_map_is_repaired_by_other_args(h: Hermes) {
    let h = configured(h);
    let out = run_injected(&h, password_change(), "renameat:signal=KILL:when=2");
    assert!(out.stdout.is_empty(), "not killed: {out:?}");
    assert_eq!(
        h.postmap_query(OLD_KEY).as_deref(),
        Some(format!("relayuser:{NEW_PASSWORD}").as_str()),
        "the kill did not tear the map from sasl_passwd"
    );
    assert!(!doctor_ok(&h), "doctor passes a torn map");
    let mut other = relay();
    other["tls"] = json!("encrypt");
    let out = h.run(other.clone());
    out.assert_ok();
    assert_eq!(
        h.postmap_query(OLD_KEY).as_deref(),
        Some(format!("relayuser:{PASSWORD}").as_str()),
        "{out}"
    );
    assert!(doctor_ok(&h));
    assert_eq!(h.run(other)["changed"], false);
    assert_eq!(files_holding(&h.root, NEW_PASSWORD), Vec::<PathBuf>::new());
}

#[test]
fn torn_map_is_repaired_by_other_args_sqlite() {
    torn_map_is_repaired_by_other_args(Hermes::new());
}

#[test]
fn torn_map_is_repaired_by_other_args_mariadb() {
    torn_map_is_repaired_by_other_args(Hermes::mariadb());
}

/// EIO on the directory fsync after the map's rename: the rename happened, so the old map
/// must be put back.
#[test]
fn failed_directory_fsync_after_a_rename_is_restored() {
    let n = count_calls(Hermes::new, &password_change(), "fsync");
    let mut restored_map = false;
    for when in 1..=n {
        let h = configured(Hermes::new());
        let out = run_injected(
            &h,
            password_change(),
            &format!("fsync:error=EIO:when={when}"),
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        if json["failed"] == true {
            let map = h.postfix_dir().join("sasl_passwd.db").display().to_string();
            restored_map |= json["restored"]
                .as_array()
                .is_some_and(|r| r.iter().any(|p| p == &json!(map)));
            assert_eq!(
                h.postmap_query(OLD_KEY).as_deref(),
                Some(format!("relayuser:{PASSWORD}").as_str()),
                "fsync #{when}: {json}"
            );
        }
    }
    assert!(restored_map, "no failed fsync restored the map");
}

#[test]
fn leftover_temp_files_are_removed_by_the_next_run() {
    let h = configured(Hermes::new());
    // Killed after staging sasl_passwd and building its map (the second fsync), before any
    // rename.
    let out = run_injected(&h, password_change(), "fsync:signal=KILL:when=2");
    assert!(out.stdout.is_empty(), "not killed: {out:?}");
    let mut args = h.args(relay());
    // A stand-in for a check dir of a killed run.
    fs::create_dir(h.postfix_dir().join(".hermes-relayhost.check.x")).unwrap();
    assert!(!leftovers(&h.postfix_dir()).is_empty());

    args["_ansible_check_mode"] = json!(true);
    let out = h.run_raw(&args).json;
    assert_eq!(out["changed"], true, "{out}");
    assert!(
        !leftovers(&h.postfix_dir()).is_empty(),
        "check mode removed files"
    );

    // A run that otherwise changes nothing still removes them.
    let out = h.run(relay());
    out.assert_ok();
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["changes"], json!([]), "{out}");
    assert!(
        out["warnings"].to_string().contains("interrupted run"),
        "{out}"
    );
    assert_eq!(leftovers(&h.postfix_dir()), Vec::<String>::new());
    assert_eq!(files_holding(&h.root, NEW_PASSWORD), Vec::<PathBuf>::new());
    assert_eq!(h.run(relay())["changed"], false);
}

#[test]
fn a_symlinked_main_cf_is_refused_not_followed() {
    let h = configured(Hermes::new());
    let main_cf = h.postfix_dir().join("main.cf");
    let key = h.root.join("opt/hermes/keys/hermes.key");
    fs::remove_file(&main_cf).unwrap();
    std::os::unix::fs::symlink(&key, &main_cf).unwrap();
    let key_text = fs::read_to_string(&key).unwrap();
    let key_line = key_text.lines().find(|l| l.len() > 20).unwrap().to_string();

    let mut args = h.args(port_change());
    args["_ansible_diff"] = json!(true);
    let run = h.run_raw(&args);
    assert_eq!(run.json["failed"], true, "{}", run.stdout);
    run.assert_no_secret(&[&key_line]);
    assert!(
        fs::symlink_metadata(&main_cf)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let backup = h.file("main.cf.HERMES").unwrap_or_default();
    assert!(!backup.contains(&key_line), "the key went into the backup");
}

#[test]
fn a_dangling_lock_symlink_creates_nothing_outside() {
    let h = Hermes::new();
    let outside = h.dir.path().join("outside");
    std::os::unix::fs::symlink(&outside, h.postfix_dir().join(".hermes-relayhost.lock")).unwrap();
    let run = h.run_raw(&h.args(relay()));
    assert_eq!(run.json["failed"], true, "{}", run.stdout);
    assert!(!outside.exists(), "the lock symlink was followed");
}

#[test]
fn the_config_check_dir_is_private_whatever_the_umask() {
    let h = Hermes::new();
    let file = h.dir.path().join("umask.json");
    fs::write(&file, h.args(relay()).to_string()).unwrap();
    let log = h.dir.path().join("mkdir.log");
    // umask 000, and the permissions the scratch dir was created with, from the syscalls.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec strace -o {} -e trace=mkdir,mkdirat,chmod,fchmod,fchmodat {} {}",
            log.display(),
            env!("CARGO_BIN_EXE_hermes-relayhost"),
            file.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = fs::read_to_string(&log).unwrap();
    let made: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(".hermes-relayhost.check.") && l.starts_with("mkdir"))
        .collect();
    assert!(!made.is_empty(), "{log}");
    for line in made {
        assert!(line.contains(", 0700)"), "scratch dir not 0700: {line}");
    }
}

#[test]
fn a_commented_credential_line_is_masked_in_the_diff() {
    let h = configured(Hermes::new());
    let sasl = h.postfix_dir().join("sasl_passwd");
    let text = fs::read_to_string(&sasl).unwrap();
    fs::write(
        &sasl,
        format!("#[old.example]:25\tolduser:hidden-0ld-pa55\n{text}"),
    )
    .unwrap();
    let mut args = h.args(relay());
    args["_ansible_diff"] = json!(true);
    let run = h.run_raw(&args);
    run.json.assert_ok();
    assert_eq!(run.json["changed"], true, "{}", run.stdout);
    run.assert_no_secret(&["hidden-0ld-pa55", PASSWORD]);
}

#[test]
fn check_mode_that_is_not_a_boolean_is_refused() {
    let h = configured(Hermes::new());
    let before = h.snapshot();
    for value in [json!("yes"), json!(1), json!("true")] {
        let mut args = h.args(port_change());
        args["_ansible_check_mode"] = value.clone();
        let run: Run = h.run_raw(&args);
        run.assert_failed("invalid_args");
        assert_eq!(h.snapshot(), before, "{value} made a real run");
    }
}

#[test]
fn the_process_cannot_dump_core() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .args(["apply", "--args-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It waits for its arguments on stdin: its limits are set by then.
    let limits = Path::new("/proc")
        .join(child.id().to_string())
        .join("limits");
    let mut core = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        core = fs::read_to_string(&limits)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap()
            .to_string();
        if core.split_whitespace().nth(4) == Some("0") {
            break;
        }
    }
    drop(child.stdin.take());
    child.wait().unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

/// A `transport` destination or port with a tab or line break would write sasl_passwd lines of
/// its choosing (and unmask a password in the diff): skipped with a warning naming the row.
fn hostile_transport_rows_are_skipped(h: Hermes) {
    let h = configured(h);
    let good = h.add_transport(
        "a.example",
        "mx.a.example",
        None,
        "YES",
        "ua",
        "pa-secret-1",
    );
    let dest = h.add_transport(
        "b.example",
        "mx.b.example]:25\tevil:inject\n[mx.attacker.example",
        None,
        "YES",
        "ub",
        "pb-secret-2",
    );
    let port = h.add_transport(
        "c.example",
        "mx.c.example",
        Some("25\n[mx.attacker.example]:25\tevil:inject"),
        "YES",
        "uc",
        "pc-secret-3",
    );
    let mut args = h.args(relay());
    args["_ansible_diff"] = json!(true);
    let run = h.run_raw(&args);
    run.json.assert_ok();
    run.assert_no_secret(&["pa-secret-1", "pb-secret-2", "pc-secret-3", PASSWORD]);
    let warnings = run.json["warnings"].to_string();
    for id in [dest, port] {
        assert!(
            warnings.contains(&format!("transport#{id} ")),
            "row {id} not named: {warnings}"
        );
    }
    assert!(
        !warnings.contains(&format!("transport#{good} ")),
        "{warnings}"
    );
    let sasl = h.file("sasl_passwd").unwrap();
    assert!(
        !sasl.contains("attacker") && !sasl.contains("evil"),
        "{sasl}"
    );
    assert_eq!(sasl.lines().count(), 2, "{sasl}");
    assert_eq!(h.postmap_query("[mx.attacker.example]:25"), None);
    assert_eq!(
        h.postmap_query("[mx.a.example]:25").as_deref(),
        Some("ua:pa-secret-1")
    );
}

#[test]
fn hostile_transport_rows_are_skipped_sqlite() {
    hostile_transport_rows_are_skipped(Hermes::new());
}

#[test]
fn hostile_transport_rows_are_skipped_mariadb() {
    hostile_transport_rows_are_skipped(Hermes::mariadb());
}

/// A `parameters` value with a line break would inject main.cf directives; two enabled
/// relayhost rows would let the run report one relay while Postfix uses the other. Both are
/// refused, naming the rows, and nothing is written.
fn hostile_parameter_rows_are_refused(h: Hermes) {
    let h = configured(h);
    let before = postfix_files(&h);
    h.sql(
        "INSERT INTO parameters (id, parameter, module, conf_file, parent, child, order1, enabled, applied, action) VALUES
           (9001, 'smtpd_banner', 'postfix', 'main.cf', NULL, 2, NULL, 1, 1, 'NONE'),
           (9002, 'hi
relayhost = [mx.attacker.example]:25', 'postfix', 'main.cf', '9001', 1, 1.0, 1, 1, 'NONE');",
    );
    let run = h.run_raw(&h.args(port_change()));
    run.assert_failed("unsafe_row");
    assert!(run.stdout.contains("parameters#9002"), "{}", run.stdout);
    assert!(!h.file("main.cf").unwrap().contains("attacker"));
    h.sql("DELETE FROM parameters WHERE id IN (9001, 9002)");
    assert_eq!(postfix_files(&h), before);

    h.sql(
        "INSERT INTO parameters (id, parameter, module, conf_file, parent, child, order1, enabled, applied, action) VALUES
           (9003, 'relayhost', 'postfix', 'main.cf', NULL, 2, NULL, 1, 1, 'NONE'),
           (9004, '[mx.attacker.example]:25', 'postfix', 'main.cf', '9003', 1, 1.0, 1, 1, 'NONE');",
    );
    let run = h.run_raw(&h.args(port_change()));
    run.assert_failed("unsafe_row");
    assert!(
        run.stdout.contains("parameters#9003") && run.stdout.contains("parameters#202"),
        "{}",
        run.stdout
    );
    assert_eq!(postfix_files(&h), before);
}

/// The files of the Postfix dir (the test's own SQL rewrites the SQLite file).
fn postfix_files(h: &Hermes) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(h.postfix_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn hostile_parameter_rows_are_refused_sqlite() {
    hostile_parameter_rows_are_refused(Hermes::new());
}

#[test]
fn hostile_parameter_rows_are_refused_mariadb() {
    hostile_parameter_rows_are_refused(Hermes::mariadb());
}

#[test]
fn multi_line_vars_and_exec_dir_are_refused() {
    let h = configured(Hermes::new());
    let before = h.snapshot();
    let mut args = h.args(port_change());
    args["vars"]["banner"] = json!("Hermes\nrelayhost = [mx.attacker.example]:25");
    let run = h.run_raw(&args);
    run.assert_failed("invalid_args");
    assert!(run.stdout.contains("option 'vars'"), "{}", run.stdout);

    let mut args = h.args(port_change());
    args["postfix_exec_dir"] = json!(format!(
        "{}\nrelayhost = [mx.attacker.example]:25",
        h.postfix_dir().display()
    ));
    let run = h.run_raw(&args);
    run.assert_failed("invalid_args");
    assert!(
        run.stdout.contains("option 'postfix_exec_dir'"),
        "{}",
        run.stdout
    );
    assert_eq!(h.snapshot(), before);
}

/// postmap reads the checked new config, so a broken live main.cf does not stop the run that
/// replaces it.
#[test]
fn a_broken_live_main_cf_is_repaired() {
    let h = configured(Hermes::new());
    let main_cf = h.postfix_dir().join("main.cf");
    let mut text = fs::read_to_string(&main_cf).unwrap();
    text.push_str("this line is not a directive\n");
    fs::write(&main_cf, text).unwrap();
    let mut args = port_change();
    args["password"] = json!(NEW_PASSWORD);
    let out = h.run(args);
    out.assert_ok();
    assert!(!h.file("main.cf").unwrap().contains("not a directive"));
    assert_eq!(
        h.postmap_query(NEW_KEY).as_deref(),
        Some(format!("relayuser:{NEW_PASSWORD}").as_str())
    );
}

#[test]
fn a_malformed_database_url_never_echoes_its_password() {
    let h = Hermes::new();
    for url in [
        "mysql://root:s3cr3t-pw/hermes",
        "mysql//root:s3cr3t-pw@localhost/hermes",
        "mysql:root:s3cr3t-pw@localhost",
    ] {
        let run = h.run_raw(&h.args(json!({"host": "smtp.example.com", "database": url})));
        assert_eq!(run.json["failed"], true, "{url}: {}", run.stdout);
        run.assert_no_secret(&["s3cr3t-pw"]);
    }
}

/// Rotations at the same time each read the key under the lock, so none finds values
/// encrypted with a key it has not read.
#[test]
fn concurrent_rotations_all_succeed() {
    let h = configured(Hermes::new());
    h.add_transport("a.example", "mx.a.example", None, "YES", "ua", "pa-secret");
    let file = h.dir.path().join("rotate.json");
    fs::write(
        &file,
        json!({"root": h.root, "rotate_key": true}).to_string(),
    )
    .unwrap();
    for round in 0..3 {
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
                    .arg(&file)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let json: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(json["failed"], false, "round {round}: {json}");
        }
    }
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    h.run(relay()).assert_ok();
    assert_eq!(
        h.postmap_query("[mx.a.example]:25").as_deref(),
        Some("ua:pa-secret")
    );
    assert_eq!(h.run(relay())["changed"], false);
}

#[test]
fn unreadable_or_non_utf8_args_files_have_an_error_code() {
    let h = Hermes::new();
    let bad = h.dir.path().join("latin1.json");
    fs::write(&bad, b"{\"host\": \"\xff\"}").unwrap();
    for path in [
        bad,
        h.dir.path().to_path_buf(),
        h.dir.path().join("missing.json"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
            .arg(&path)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["failed"], true, "{json}");
        assert_eq!(json["error"]["code"], "args_unreadable", "{json}");
    }
}

/// SQLite rolls back by itself after an I/O error: the run says the rows are as they were,
/// not "RESTORE FAILED".
#[test]
fn a_database_write_error_is_no_restore_failure() {
    let h = configured(Hermes::new());
    let before = h.snapshot();
    let out = run_injected(&h, password_change(), "pwrite64:error=EIO:when=1");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["failed"], true, "{json}");
    let msg = json["msg"].as_str().unwrap();
    assert!(!msg.contains("RESTORE FAILED"), "{msg}");
    assert_eq!(h.snapshot().rows, before.rows);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
}
