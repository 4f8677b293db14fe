//! Hardening, round two: what a managed path may be. FIFOs, devices, huge or sparse files and
//! hard links in place of a managed file fail clearly (`unsafe_file`) instead of blocking,
//! reading gigabytes or copying a secret into the diff; recursive templates and duplicate
//! value rows are errors; an edit in place that hides its mtime is still seen; postmap's own
//! temp files left by a kill are cleaned up.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Hermes, Outcome, PASSWORD, assert_no_secret, relay};

fn configured(h: Hermes) -> Hermes {
    h.run(relay()).assert_ok();
    h
}

fn port_change() -> Value {
    let mut args = relay();
    args["port"] = json!(2525);
    args
}

/// Module mode with `extra`, killed if it has not finished in 30 s (a FIFO would block it for
/// ever); returns the result and how long it took.
fn run_bounded(h: &Hermes, args: &Value) -> (Value, Duration) {
    let file = h.dir.path().join("bounded.json");
    fs::write(&file, args.to_string()).unwrap();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the run blocked: {args}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "module mode exits 0: {text}");
    (
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        start.elapsed(),
    )
}

fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

fn key_path(h: &Hermes) -> PathBuf {
    h.root.join("opt/hermes/keys/hermes.key")
}

fn template_path(h: &Hermes) -> PathBuf {
    h.root.join("opt/hermes/conf_files/main.cf.HERMES")
}

/// Where a managed file lives in a fixture.
type PathOf = fn(&Hermes) -> PathBuf;

#[test]
fn a_fifo_in_place_of_any_managed_file_fails_clearly_instead_of_blocking() {
    let cases: [(&str, PathOf); 10] = [
        ("main.cf", |h| h.postfix_dir().join("main.cf")),
        ("main.cf.HERMES", |h| h.postfix_dir().join("main.cf.HERMES")),
        ("master.cf", |h| h.postfix_dir().join("master.cf")),
        ("sasl_passwd", |h| h.postfix_dir().join("sasl_passwd")),
        ("sasl_passwd.db", |h| h.postfix_dir().join("sasl_passwd.db")),
        ("stamp", |h| h.postfix_dir().join(".hermes-relayhost.stamp")),
        ("record", |h| {
            h.postfix_dir().join(".hermes-relayhost.verified")
        }),
        ("lock", |h| h.postfix_dir().join(".hermes-relayhost.lock")),
        ("key", key_path),
        ("template", template_path),
    ];
    for (name, path) in cases {
        let h = configured(Hermes::new());
        let path = path(&h);
        mkfifo(&path);
        let (out, _) = run_bounded(&h, &h.args(port_change()));
        assert_eq!(out["failed"], true, "{name}: {out}");
        assert_eq!(out["error"]["code"], "unsafe_file", "{name}: {out}");
        let msg = out["msg"].as_str().unwrap();
        assert!(
            msg.contains("FIFO") && msg.contains(&*path.to_string_lossy()),
            "{name}: {msg}"
        );
        // Check mode fails the same way; the doctor does not block either.
        let mut check = h.args(port_change());
        check["_ansible_check_mode"] = json!(true);
        let (out, _) = run_bounded(&h, &check);
        assert_eq!(out["error"]["code"], "unsafe_file", "{name} (check): {out}");
        let mut doctor = h.args(json!({}));
        doctor["check_only"] = json!(true);
        run_bounded(&h, &doctor);
    }
}

#[test]
fn devices_and_huge_files_are_refused_without_reading_them() {
    // /dev/zero's device node in place of the key and of the template: refused as not a
    // regular file.
    let h = configured(Hermes::new());
    for path in [key_path(&h), template_path(&h)] {
        let saved = fs::read(&path).unwrap();
        zero_device(&path);
        refused(&h, &path, "a device");
        if path == key_path(&h) {
            let peak = peak_rss_kib(&h, &h.args(port_change()));
            assert!(peak < 64 * 1024, "read /dev/zero into memory: {peak} KiB");
        }
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
    // Sparse files of 3 GB in place of the stamp, the record and the template: refused by size.
    for path in [
        h.postfix_dir().join(".hermes-relayhost.stamp"),
        h.postfix_dir().join(".hermes-relayhost.verified"),
        template_path(&h),
    ] {
        let saved = fs::read(&path).unwrap();
        let file = fs::File::create(&path).unwrap();
        file.set_len(3 << 30).unwrap();
        drop(file);
        refused(&h, &path, "larger than");
        fs::write(&path, saved).unwrap();
    }
}

/// A changing run on `h` fails as `unsafe_file`, naming `path` and saying `words`.
fn refused(h: &Hermes, path: &Path, words: &str) {
    let (out, _) = run_bounded(h, &h.args(port_change()));
    assert_eq!(
        out["error"]["code"],
        "unsafe_file",
        "{}: {out}",
        path.display()
    );
    let msg = out["msg"].as_str().unwrap();
    assert!(
        msg.contains(words) && msg.contains(&*path.to_string_lossy()),
        "{out}"
    );
}

/// `mknod PATH c 1 5`: the character device /dev/zero is.
fn zero_device(path: &Path) {
    fs::remove_file(path).unwrap();
    let status = Command::new("mknod")
        .arg(path)
        .args(["c", "1", "5"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Peak RSS of one run, from GNU time (`%M`): it forks the binary from its own small process,
/// where `wait4` from this test process would count the pages a fork shares with it.
fn peak_rss_kib(h: &Hermes, args: &Value) -> u64 {
    let file = h.dir.path().join("rss.json");
    let report = h.dir.path().join("rss.txt");
    fs::write(&file, args.to_string()).unwrap();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("GNU time (scripts/install-test-deps.sh installs it)");
    assert!(status.success());
    fs::read_to_string(&report).unwrap().trim().parse().unwrap()
}

#[test]
fn a_main_cf_hard_linked_to_the_key_is_refused_and_the_key_never_shown() {
    let h = configured(Hermes::new());
    let main_cf = h.postfix_dir().join("main.cf");
    fs::remove_file(&main_cf).unwrap();
    fs::hard_link(key_path(&h), &main_cf).unwrap();
    let key_line = fs::read_to_string(key_path(&h)).unwrap();
    let mut args = h.args(port_change());
    args["_ansible_diff"] = json!(true);
    let run = h.run_raw(&args);
    run.assert_failed("unsafe_file");
    assert!(run.stdout.contains("hard links"), "{}", run.stdout);
    assert_no_secret(&run.stdout, &[key_line.trim()]);
    assert!(
        !h.postfix_dir().join("main.cf.HERMES").exists()
            || !fs::read_to_string(h.postfix_dir().join("main.cf.HERMES"))
                .unwrap()
                .contains(key_line.trim()),
        "the key went into the backup"
    );
}

#[test]
fn the_backup_of_a_private_main_cf_stays_private() {
    let h = configured(Hermes::new());
    let main_cf = h.postfix_dir().join("main.cf");
    fs::set_permissions(&main_cf, fs::Permissions::from_mode(0o600)).unwrap();
    h.run(port_change()).assert_ok();
    assert_eq!(h.mode("main.cf.HERMES") & 0o077, 0, "wider than its source");
}

/// Two enabled value rows under the relayhost directive render `relayhost = [a]:587, [b]:25`:
/// Postfix falls back to the second host without SASL. An error naming the rows.
fn a_second_relayhost_value_row_is_an_error(h: Hermes) {
    let h = configured(h);
    let before = h.snapshot();
    h.sql(
        "INSERT INTO parameters (id, parameter, name, module, conf_file, parent, child, order1, enabled, applied, action) VALUES
           (9005, '[old.example.com]:25', 'old.example.com', 'postfix', 'main.cf', '202', 1, 2.0, 1, 1, 'NONE');",
    );
    let run = h.run_raw(&h.args(port_change()));
    run.assert_failed("unsafe_row");
    assert!(
        run.stdout.contains("parameters#203") && run.stdout.contains("parameters#9005"),
        "{}",
        run.stdout
    );
    assert!(!h.file("main.cf").unwrap().contains("old.example.com"));
    h.sql("DELETE FROM parameters WHERE id = 9005");
    let postfix_files = |files: std::collections::BTreeMap<PathBuf, _>| {
        files
            .into_iter()
            .filter(|(p, _)| p.starts_with(h.postfix_dir()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        postfix_files(h.snapshot().files),
        postfix_files(before.files)
    );
}

#[test]
fn a_second_relayhost_value_row_is_an_error_sqlite() {
    a_second_relayhost_value_row_is_an_error(Hermes::new());
}

#[test]
fn a_second_relayhost_value_row_is_an_error_mariadb() {
    a_second_relayhost_value_row_is_an_error(Hermes::mariadb());
}

#[test]
fn a_database_password_in_the_url_query_is_masked_in_invocation() {
    let h = Hermes::new();
    for url in [
        "mysql://hermes@127.0.0.1:1/hermes?password=s3cr3t-db-pw",
        "mysql://127.0.0.1:1/hermes?password=s3cr3t-db-pw",
        "mysql:/hermes:s3cr3t-db-pw@?x",
    ] {
        let run = h.run_raw(&h.args(json!({"host": "smtp.example.com", "database": url})));
        assert_eq!(run.json["failed"], true, "{}", run.stdout);
        assert_no_secret(&run.stdout, &["s3cr3t-db-pw"]);
        assert_no_secret(&run.stderr, &["s3cr3t-db-pw"]);
    }
}

#[test]
fn recursive_or_deep_templates_fail_as_template_error_without_aborting() {
    let h = configured(Hermes::new());
    for text in [
        "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}\n".to_string(),
        "{{#if vars.banner}}".repeat(10_000) + &"{{/if}}".repeat(10_000),
    ] {
        fs::write(template_path(&h), text).unwrap();
        let (out, _) = run_bounded(&h, &h.args(port_change()));
        assert_eq!(out["error"]["code"], "template_error", "{out}");
    }
}

#[test]
fn an_edit_in_place_that_hides_its_mtime_never_reaches_the_map() {
    let h = Hermes::new();
    h.add_transport(
        "x.example",
        "mx.x.example",
        Some("587"),
        "YES",
        "xuser",
        "xpass-1234",
    );
    let h = configured(h);
    // A no-change run: the record now vouches for the per-domain lines.
    assert_eq!(h.run(relay())["changed"], false);
    let path = h.postfix_dir().join("sasl_passwd");
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("[mx.x.example]:587\txuser:xpass-1234"),
        "{text}"
    );
    let edited = text.replace("xpass-1234", "EVIL-PASS1");
    assert_eq!(edited.len(), text.len());
    let reference = h.dir.path().join("mtime-ref");
    let status = Command::new("touch")
        .arg("-r")
        .arg(&path)
        .arg(&reference)
        .status()
        .unwrap();
    assert!(status.success());
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, edited.as_bytes()))
        .unwrap();
    let status = Command::new("touch")
        .arg("-r")
        .arg(&reference)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    // A password change: the per-domain line comes from the rows, not from the edited file.
    let mut newer = relay();
    newer["password"] = json!("a-n3w-passw0rd");
    h.run(newer).assert_ok();
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("EVIL-PASS1"), "{text}");
    assert_eq!(
        h.postmap_query("[mx.x.example]:587").as_deref(),
        Some("xuser:xpass-1234")
    );
}

#[test]
fn postmaps_temp_files_left_by_a_kill_are_removed_by_the_next_changing_run() {
    let h = configured(Hermes::new());
    let left = h.postfix_dir().join("__db..sasl_passwd.AbC123.db");
    fs::write(&left, "").unwrap();
    let out = h.run(port_change());
    out.assert_ok();
    assert!(!left.exists(), "{out}");
    assert_eq!(h.run(port_change())["changed"], false);
}

#[test]
fn a_hard_link_our_own_interrupted_run_left_is_not_refused() {
    let h = configured(Hermes::new());
    // What a run killed after saving main.cf leaves: a hard link under a temp name.
    let saved = h.postfix_dir().join(".main.cf.Kill01");
    fs::hard_link(h.postfix_dir().join("main.cf"), &saved).unwrap();
    let out = h.run(port_change());
    out.assert_ok();
    assert!(!saved.exists());
    assert_no_secret(&out.to_string(), &[PASSWORD]);
}

#[test]
fn a_fifo_or_device_as_the_database_option_file_fails_clearly() {
    let h = Hermes::new();
    let fifo = h.dir.path().join("client.cnf");
    mkfifo(&fifo);
    let device = h.dir.path().join("zero.cnf");
    fs::File::create(&device).unwrap();
    zero_device(&device);
    for (path, words) in [(&fifo, "FIFO"), (&device, "a device")] {
        let mut args = h.args(port_change());
        args["database"] = json!("mysql://hermes@127.0.0.1:1/hermes");
        args["database_options_file"] = json!(path);
        let (out, _) = run_bounded(&h, &args);
        assert_eq!(out["error"]["code"], "unsafe_file", "{out}");
        assert!(out["msg"].as_str().unwrap().contains(words), "{out}");
    }
}

#[test]
fn an_args_file_that_is_a_device_or_a_fifo_or_too_big_fails_without_blocking() {
    let h = Hermes::new();
    let fifo = h.dir.path().join("args.fifo");
    mkfifo(&fifo);
    let big = h.dir.path().join("big.json");
    fs::File::create(&big).unwrap().set_len(3 << 30).unwrap();
    for path in [Path::new("/dev/zero"), fifo.as_path(), big.as_path()] {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
            .arg(path)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            json["error"]["code"],
            "args_unreadable",
            "{}: {json}",
            path.display()
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            path.display()
        );
    }
    // Through stdin, more than the bound is refused too.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .args(["apply", "--format", "json", "--args-file", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..20 {
            if std::io::Write::write_all(&mut stdin, &chunk).is_err() {
                break;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[args_unreadable]: args on stdin: more than"),
        "{stderr}"
    );
}

#[test]
fn init_twice_on_the_same_root_keeps_it() {
    let h = Hermes::new();
    let before = h.snapshot();
    let out = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .args(["init", "--format", "json", "--root"])
        .arg(&h.root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(h.snapshot(), before);
}
