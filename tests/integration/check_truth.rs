//! Check mode never lies (CONTRACT "Check mode"): for each host state, check mode's verdict
//! (`failed`, `error.code`, `changed`, the changes list) equals the real run's that follows,
//! and check mode leaves the host exactly as it found it. The container topology's states
//! (daemon, container missing or stopped) run in `tests/container`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{DISK_FULL, Hermes, Outcome, PASSWORD, relay, verdict};

/// How the binary is started for a state.
#[derive(Clone, Copy)]
enum Runner {
    Plain,
    /// As `nobody`, with its own copy of the args file.
    Nobody,
    /// With `DOCKER_HOST` pointing at a socket no daemon listens on.
    DeadDocker,
    /// Under strace, every fsync failing with ENOSPC (a full disk at writeback).
    DiskFull,
}

struct State {
    name: &'static str,
    /// The error code both runs must report, or `ok`.
    expect: &'static str,
    /// Sets the host up (after a first good run when `configured`) and returns the args.
    setup: fn(&Hermes) -> Value,
    configured: bool,
    runner: Runner,
    mariadb: bool,
}

fn run(args: &Value, runner: Runner) -> Value {
    let dir = tempfile::Builder::new()
        .prefix("check-truth.")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("args.json");
    fs::write(&file, args.to_string()).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let bin = env!("CARGO_BIN_EXE_hermes-relayhost");
    let mut cmd = match runner {
        Runner::Plain | Runner::DeadDocker => Command::new(bin),
        Runner::Nobody => {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
                bin,
            ]);
            c
        }
        Runner::DiskFull => {
            let mut c = Command::new(DISK_FULL[0]);
            c.args(&DISK_FULL[1..]).arg(bin);
            c
        }
    };
    if let Runner::DeadDocker = runner {
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}/no.sock", dir.path().display()),
        );
    }
    let out = cmd.arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout} {out:?}"));
    assert!(!stdout.contains(PASSWORD), "{stdout}");
    json
}

/// The args of a pending change: the relay moved to another port.
fn change(h: &Hermes) -> Value {
    h.args(json!({"host": "smtp.example.com", "port": 2525, "username": "relayuser", "password": PASSWORD}))
}

fn with(h: &Hermes, extra: Value) -> Value {
    let mut args = change(h);
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    args
}

/// A `postfix_exec` wrapper (a fake allowed only for a fault real Postfix will not produce on
/// demand) that fails every `tool` call and runs every other command for real.
fn always_failing(h: &Hermes, tool: &str, exit: u8) -> Value {
    let path = h.dir.path().join(format!("fail-{tool}.sh"));
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = {tool} ] && {{ echo \"injected {tool} failure\" >&2; exit {exit}; }}; done\nexec \"$@\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    json!([path])
}

/// Makes the fixture's tree reachable by `nobody` (the temp dir is 0700 root), owned by root.
fn open_to_others(h: &Hermes) {
    fs::set_permissions(h.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
}

fn chown_nobody(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn key_path(h: &Hermes) -> PathBuf {
    h.root.join("opt/hermes/keys/hermes.key")
}

fn template_path(h: &Hermes) -> PathBuf {
    h.root.join("opt/hermes/conf_files/main.cf.HERMES")
}

const HOSTILE_ROWS: &str = "INSERT INTO parameters (id, parameter, module, conf_file, parent, child, order1, enabled, applied, action) VALUES
   (9001, 'smtpd_banner', 'postfix', 'main.cf', NULL, 2, NULL, 1, 1, 'NONE'),
   (9002, 'hi
relayhost = [mx.attacker.example]:25', 'postfix', 'main.cf', '9001', 1, 1.0, 1, 1, 'NONE');";

fn states() -> Vec<State> {
    let s = |name, expect, setup, configured, runner| State {
        name,
        expect,
        setup,
        configured,
        runner,
        mariadb: false,
    };
    use Runner::*;
    vec![
        s("clean, pending change", "ok", change, false, Plain),
        s(
            "clean, pending change on a configured host",
            "ok",
            change,
            true,
            Plain,
        ),
        s("clean, no change", "ok", |h| h.args(relay()), true, Plain),
        s(
            "clean, state absent",
            "ok",
            |h| h.args(json!({"state": "absent"})),
            true,
            Plain,
        ),
        s(
            "clean, no reload",
            "ok",
            |h| with(h, json!({"reload": false})),
            true,
            Plain,
        ),
        s(
            "clean, diff mode",
            "ok",
            |h| with(h, json!({"_ansible_diff": true})),
            true,
            Plain,
        ),
        s(
            "leftover temp file, no other change",
            "ok",
            |h| {
                fs::write(h.postfix_dir().join(".sasl_passwd.abc123"), "x").unwrap();
                h.args(relay())
            },
            true,
            Plain,
        ),
        s(
            "rows another page left pending",
            "ok",
            |h| {
                h.sql("UPDATE parameters SET applied = 2 WHERE id = 368");
                h.args(relay())
            },
            true,
            Plain,
        ),
        s(
            "docker not installed",
            "postfix_unreachable",
            |h| {
                with(
                    h,
                    json!({"postfix_exec": ["/nonexistent/bin/docker", "exec", "hermes_postfix_dkim"]}),
                )
            },
            true,
            Plain,
        ),
        s(
            "docker daemon unreachable (default postfix_exec)",
            "postfix_unreachable",
            |h| {
                let mut args = change(h);
                args.as_object_mut().unwrap().remove("postfix_exec");
                args["postfix_exec_dir"] = json!(h.postfix_dir());
                args
            },
            true,
            DeadDocker,
        ),
        s(
            "exec prefix that runs nothing",
            "postfix_unreachable",
            |h| with(h, json!({"postfix_exec": ["false"]})),
            true,
            Plain,
        ),
        s(
            "Postfix tools not on this host",
            "postfix_unreachable",
            |h| {
                let path = h.dir.path().join("no-tools.sh");
                fs::write(&path, "#!/bin/sh\nPATH=/nonexistent exec \"$@\"\n").unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
                with(h, json!({"postfix_exec": [path]}))
            },
            true,
            Plain,
        ),
        s(
            "path mapping wrong (postfix_exec_dir elsewhere)",
            "path_mismatch",
            |h| with(h, json!({"postfix_exec_dir": "/etc/postfix-not-here"})),
            true,
            Plain,
        ),
        s(
            "template variable missing",
            "template_error",
            |h| with(h, json!({"vars": {}})),
            true,
            Plain,
        ),
        s(
            "template invalid for Postfix",
            "invalid_postfix_config",
            |h| {
                let t = template_path(h);
                let text = fs::read_to_string(&t).unwrap();
                fs::write(&t, format!("{text}\nthis line has no equals sign\n")).unwrap();
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "template missing",
            "template_error",
            |h| {
                fs::remove_file(template_path(h)).unwrap();
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "key missing",
            "key_error",
            |h| {
                fs::remove_file(key_path(h)).unwrap();
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "key of the wrong length",
            "key_error",
            |h| {
                fs::write(key_path(h), "c2hvcnQ=\n").unwrap();
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "key unreadable (a directory)",
            "unsafe_file",
            |h| {
                fs::remove_file(key_path(h)).unwrap();
                fs::create_dir(key_path(h)).unwrap();
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "database missing",
            "database_error",
            |h| {
                with(
                    h,
                    json!({"database": format!("sqlite:{}/gone.sqlite", h.root.display())}),
                )
            },
            true,
            Plain,
        ),
        s(
            "database read-only for the user",
            "permission_denied",
            |h| {
                open_to_others(h);
                chown_nobody(&h.root);
                let db = h.db_path();
                Command::new("chown")
                    .arg("root:root")
                    .arg(&db)
                    .status()
                    .unwrap();
                fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
                change(h)
            },
            true,
            Nobody,
        ),
        s(
            "Postfix dir read-only for the user",
            "permission_denied",
            |h| {
                open_to_others(h);
                chown_nobody(&h.root);
                Command::new("chown")
                    .args(["-R", "root:root"])
                    .arg(h.postfix_dir())
                    .status()
                    .unwrap();
                change(h)
            },
            true,
            Nobody,
        ),
        s(
            "non-root user, nothing readable",
            "permission_denied",
            |h| {
                open_to_others(h);
                change(h)
            },
            true,
            Nobody,
        ),
        s(
            "hostile parameters rows",
            "unsafe_row",
            |h| {
                h.sql(HOSTILE_ROWS);
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "map type Postfix does not support",
            "postmap_failed",
            |h| {
                h.set_password_map("cdb:/etc/postfix/sasl_passwd");
                change(h)
            },
            true,
            Plain,
        ),
        s(
            "postmap fails",
            "postmap_failed",
            |h| {
                with(
                    h,
                    json!({"postfix_exec": always_failing(h, "postmap", 75), "postfix_exec_dir": h.postfix_dir()}),
                )
            },
            true,
            Plain,
        ),
        s(
            "postconf rejects the config",
            "invalid_postfix_config",
            |h| {
                with(
                    h,
                    json!({"postfix_exec": always_failing(h, "-n", 1), "postfix_exec_dir": h.postfix_dir()}),
                )
            },
            true,
            Plain,
        ),
        s(
            "disk full (ENOSPC on fsync)",
            "io_error",
            change,
            true,
            DiskFull,
        ),
        s(
            "invalid host",
            "invalid_host",
            |h| with(h, json!({"host": "bad host"})),
            true,
            Plain,
        ),
        State {
            name: "MariaDB, pending change",
            expect: "ok",
            setup: change,
            configured: true,
            runner: Plain,
            mariadb: true,
        },
        State {
            name: "MariaDB unreachable",
            expect: "database_error",
            setup: |h| {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                with(
                    h,
                    json!({"database": format!("mysql://root@127.0.0.1:{port}/hermes")}),
                )
            },
            configured: true,
            runner: Plain,
            mariadb: true,
        },
    ]
}

#[test]
fn check_mode_agrees_with_the_real_run_in_every_host_state() {
    let mut disagreements = Vec::new();
    let mut count = 0;
    for state in states() {
        let h = if state.mariadb {
            Hermes::mariadb()
        } else {
            Hermes::new()
        };
        if state.configured {
            let first = h.run(relay());
            assert_eq!(first["failed"], false, "{}: {first}", state.name);
        }
        let args = (state.setup)(&h);
        let before = h.snapshot();
        let mut check_args = args.clone();
        check_args["_ansible_check_mode"] = json!(true);
        let check = run(&check_args, state.runner);
        assert_eq!(
            h.snapshot(),
            before,
            "{}: check mode changed the host: {check}",
            state.name
        );
        let real = run(&args, state.runner);
        count += 1;
        let code = real["error"]["code"].as_str().unwrap_or("ok");
        if code != state.expect {
            disagreements.push(format!(
                "{}: the real run gave {code}, expected {}: {}",
                state.name, state.expect, real["msg"]
            ));
        }
        if verdict(&check) != verdict(&real) {
            disagreements.push(format!(
                "{}:\n  check {}\n  real  {}\n  check msg: {}\n  real msg: {}",
                state.name,
                verdict(&check),
                verdict(&real),
                check["msg"],
                real["msg"]
            ));
        }
    }
    assert!(count >= 25, "{count} states");
    assert!(
        disagreements.is_empty(),
        "{} of {count} states disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// A rotation state: name, expected code, setup, runner.
type RotationState = (&'static str, &'static str, fn(&Hermes), Runner);

/// The same invariant for a key rotation (`rotate_key: true`): check mode fails where the real
/// rotation would, before anything is written.
#[test]
fn rotation_check_mode_agrees_with_the_real_rotation() {
    let states: [RotationState; 5] = [
        ("clean", "ok", |_| {}, Runner::Plain),
        (
            "key missing",
            "key_error",
            |h| fs::remove_file(key_path(h)).unwrap(),
            Runner::Plain,
        ),
        (
            "key dir not writable by the user",
            "permission_denied",
            |h| {
                open_to_others(h);
                chown_nobody(&h.root);
                let keys = key_path(h).parent().unwrap().to_path_buf();
                Command::new("chown")
                    .arg("root:root")
                    .arg(&keys)
                    .status()
                    .unwrap();
                fs::set_permissions(&keys, fs::Permissions::from_mode(0o755)).unwrap();
                fs::set_permissions(key_path(h), fs::Permissions::from_mode(0o644)).unwrap();
            },
            Runner::Nobody,
        ),
        (
            "database read-only for the user",
            "permission_denied",
            |h| {
                open_to_others(h);
                chown_nobody(&h.root);
                Command::new("chown")
                    .arg("root:root")
                    .arg(h.db_path())
                    .status()
                    .unwrap();
            },
            Runner::Nobody,
        ),
        (
            "non-root user, nothing readable",
            "permission_denied",
            open_to_others,
            Runner::Nobody,
        ),
    ];
    for (name, expect, setup, runner) in states {
        let h = Hermes::new();
        h.run(relay()).assert_ok();
        setup(&h);
        let args = h.args(json!({"rotate_key": true}));
        let before = h.snapshot();
        let mut check_args = args.clone();
        check_args["_ansible_check_mode"] = json!(true);
        let check = run(&check_args, runner);
        assert_eq!(
            h.snapshot(),
            before,
            "{name}: check mode changed the host: {check}"
        );
        let real = run(&args, runner);
        assert_eq!(
            real["error"]["code"].as_str().unwrap_or("ok"),
            expect,
            "{name}: {real}"
        );
        assert_eq!(
            json!([check["failed"], check["error"]["code"], check["changed"]]),
            json!([real["failed"], real["error"]["code"], real["changed"]]),
            "{name}:\n  check {check}\n  real  {real}"
        );
    }
}
