//! Error codes that name the cause (CONTRACT "Error codes that name the cause", issue 19 item
//! 4) on the container topology with the DEFAULT `postfix_exec` (`docker exec
//! hermes_postfix_dkim`) and `postfix_exec_dir` (/etc/postfix): every way Postfix can be
//! unreachable is `postfix_unreachable` with a message naming the command and the cause, in
//! check mode as in the real run, for a change that rewrites main.cf and sasl_passwd and for
//! a sasl_passwd-only one (a password change), and nothing is written; `reload` fails the
//! same way but only warns when the container runs without its Postfix. A Postfix dir the
//! container does not see is `path_mismatch`, a stopped database server `database_error`.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Outcome, PASSWORD, leftovers};
use crate::topology::{Case, Fault, Launch, Restore, must};

pub const USER: &str = "relayuser";
pub const PORT: u16 = 2525;
/// The relay line key of [`relay`].
pub const RELAY_KEY: &str = "[127.0.0.1]:2525";
pub const NEW_PASSWORD: &str = "a new pw 19";

/// Relay args for a smarthost nobody needs to reach (no mail is sent in these tests).
pub fn relay(password: &str) -> Value {
    json!({
        "host": "127.0.0.1",
        "port": PORT,
        "tls": "none",
        "username": USER,
        "password": password,
    })
}

/// A case whose host is configured with [`relay`]`(PASSWORD)`, as a first save would.
/// Waits for that save's reload in `docker logs`, so no later step takes it for its own.
pub fn configured() -> Case {
    let c = Case::new();
    let mark = c.log_mark();
    let out = c.apply(relay(PASSWORD));
    assert_eq!(out["changed"], true, "{out:#}");
    assert_eq!(out["warnings"], json!([]), "{out:#}");
    assert!(
        c.wait_reload(mark),
        "no reload in `docker logs` after the first save:\n{}",
        c.log_since(mark)
    );
    c
}

/// The two changes every fault is tried with, from a [`configured`] host, and what each
/// changes: the relay moved (rows, main.cf, sasl_passwd and its map) and the password alone
/// (its row, sasl_passwd and its map; main.cf as it was).
pub fn changes() -> [(&'static str, Value, Value); 2] {
    [
        (
            "relay moved (main.cf and sasl_passwd)",
            json!({"host": "127.0.0.1", "port": 2526, "tls": "none", "username": "other",
                   "password": NEW_PASSWORD}),
            json!(["rows", "main.cf", "sasl_passwd"]),
        ),
        (
            "password changed (sasl_passwd only)",
            relay(NEW_PASSWORD),
            json!(["rows", "sasl_passwd"]),
        ),
    ]
}

/// `apply` (with `--check` when `check`) as `launch` says: it must fail with `code`, exit 1,
/// change nothing and say so. Returns the message.
fn failing(c: &Case, launch: &Launch, args: &Value, check: bool, code: &str) -> String {
    let command: &[&str] = if check {
        &["apply", "--check"]
    } else {
        &["apply"]
    };
    let run = c.cli_with(launch, command, args);
    run.assert_no_secret(&[PASSWORD, NEW_PASSWORD]);
    let what = format!("{command:?}: {}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "{what}");
    assert_eq!(run.json["failed"], true, "{what}");
    assert_eq!(run.json["changed"], false, "{what}");
    assert_eq!(run.json["error"]["code"], code, "{what}");
    if check {
        assert_eq!(run.json["check_mode"], true, "{what}");
    }
    let msg = run.json["msg"].as_str().unwrap().to_string();
    assert!(
        run.json["restored"] == json!([]) && !msg.contains("restored"),
        "a failure before the first write has nothing to restore: {what}"
    );
    msg
}

/// What the message of `fault` must say: the command and the cause in Docker's words.
fn assert_names_the_cause(msg: &str, fault: Fault, c: &Case) {
    assert!(
        msg.starts_with("cannot reach Postfix: "),
        "{fault:?}: {msg}"
    );
    assert!(msg.contains(fault.cause()), "{fault:?}: {msg}");
    match fault {
        // The CLI itself cannot be started: it names the program and what to do.
        Fault::NoDockerCli => assert_eq!(
            msg,
            format!(
                "cannot reach Postfix: cannot run `docker` (of `docker exec {}`): No such file \
                 or directory (os error 2) (not installed, or not on PATH)",
                c.t.postfix_container
            )
        ),
        _ => {
            let prefix = format!(
                "cannot reach Postfix: `docker exec {} true` fails: {} (exit 1: ",
                c.t.postfix_container,
                fault.cause()
            );
            assert!(
                msg.starts_with(&prefix),
                "{fault:?}: {msg}\nexpected {prefix}…"
            );
            let docker_said = match fault {
                Fault::DaemonUnreachable => "Cannot connect to the Docker daemon at unix://",
                Fault::ContainerMissing => "No such container: hermes_postfix_dkim",
                Fault::ContainerStopped => "is not running",
                _ => unreachable!(),
            };
            assert!(msg.contains(docker_said), "{fault:?}: {msg}");
        }
    }
    for wrong in ["invalid_postfix_config", "postmap failed", "not valid"] {
        assert!(!msg.contains(wrong), "{fault:?}: {msg}");
    }
}

/// The container's log now, when there is a container to ask.
fn log_now(c: &Case) -> Option<String> {
    c.t.try_log()
}

/// Any sign of a reload: the `postfix reload` command's line or the master's.
pub fn reload_in(log: &str) -> bool {
    log.contains("refreshing the Postfix mail system") || log.contains("reload -- version")
}

fn assert_no_reload_since(c: &Case, before: Option<String>, what: &str) {
    if let (Some(before), Some(now)) = (before, log_now(c)) {
        let new = now.get(before.len()..).unwrap_or_default();
        assert!(!reload_in(new), "{what} reloaded Postfix:\n{new}");
    }
}

/// One way Postfix is unreachable: both changes fail `postfix_unreachable` in check mode and
/// in the real run, writing nothing; `reload` exits 1 with the same code; once the topology
/// is back, the map still answers the old credentials and the real run succeeds.
fn unreachable(fault: Fault) {
    let c = configured();
    let (launch, restore) = c.inflict(fault);
    let before = c.snapshot();
    let log = log_now(&c);
    for (name, change, _) in changes() {
        let args = c.args(change);
        for check in [true, false] {
            let msg = failing(&c, &launch, &args, check, "postfix_unreachable");
            assert_names_the_cause(&msg, fault, &c);
            assert_eq!(
                c.snapshot(),
                before,
                "{fault:?}, {name}, check {check}: something was written"
            );
        }
    }

    let reload = c.cli_with(&launch, &["reload"], &c.base);
    assert_eq!(reload.code, 1, "{}\n{}", reload.stdout, reload.stderr);
    reload.json.assert_failed("postfix_unreachable");
    assert_names_the_cause(reload.json["msg"].as_str().unwrap(), fault, &c);
    assert_eq!(c.snapshot(), before, "{fault:?}: reload wrote something");
    assert_no_reload_since(&c, log, &format!("{fault:?}"));

    drop(restore);
    assert_eq!(
        c.postmap_query(RELAY_KEY).as_deref(),
        Some(format!("{USER}:{PASSWORD}").as_str()),
        "{fault:?}: the map changed"
    );
    // Nothing was left half-done: the same change now goes through.
    let mark = c.log_mark();
    let out = c.apply(relay(NEW_PASSWORD));
    assert_eq!(out["changed"], true, "{out:#}");
    assert!(c.wait_reload(mark));
    assert_eq!(
        c.postmap_query(RELAY_KEY).as_deref(),
        Some(format!("{USER}:{NEW_PASSWORD}").as_str())
    );
}

#[test]
fn no_docker_cli_is_postfix_unreachable() {
    unreachable(Fault::NoDockerCli);
}

#[test]
fn docker_daemon_unreachable_is_postfix_unreachable() {
    unreachable(Fault::DaemonUnreachable);
}

#[test]
fn container_missing_is_postfix_unreachable() {
    unreachable(Fault::ContainerMissing);
}

#[test]
fn container_stopped_is_postfix_unreachable() {
    unreachable(Fault::ContainerStopped);
}

/// `postfix stop` in the stock container stops its master, which is PID 1 (`postfix
/// start-fg`): the container exits with it, so that state is "container not running". A
/// running container without Postfix (the idle one) is what "Postfix stopped inside a running
/// container" can be: `reload` skips with a warning and exits 0, and a change is applied
/// (files and rows) with the same warning, in check mode as in the real run, without a reload.
#[test]
fn postfix_stopped_inside_a_running_container_only_skips_the_reload() {
    let c = configured();
    let restore = Restore(c.t);

    // The stock container: `postfix stop` ends the container.
    let _ =
        c.t.docker()
            .args(["exec", &c.t.postfix_container, "postfix", "stop"])
            .output()
            .unwrap();
    let exited = crate::support::poll(crate::support::WAIT, || {
        let out = must(c.t.docker().args([
            "inspect",
            "--format",
            "{{.State.Running}}",
            &c.t.postfix_container,
        ]));
        (String::from_utf8_lossy(&out.stdout).trim() == "false").then_some(())
    });
    assert!(
        exited.is_some(),
        "the container still runs after `postfix stop` of its PID 1 master"
    );
    let reload = c.cli(&["reload"], &c.base);
    assert_eq!(reload.code, 1, "{}", reload.stdout);
    reload.json.assert_failed("postfix_unreachable");
    assert_names_the_cause(
        reload.json["msg"].as_str().unwrap(),
        Fault::ContainerStopped,
        &c,
    );

    // A running container whose Postfix does not run.
    let (launch, _same) = c.inflict(Fault::PostfixStopped);
    let reload = c.cli_with(&launch, &["reload"], &c.base);
    assert_eq!(reload.code, 0, "{}\n{}", reload.stdout, reload.stderr);
    let out = reload.json.assert_ok();
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(out["msg"], "Postfix not reloaded", "{out}");
    assert_eq!(
        out["warnings"],
        json!(["Postfix is not running: reload skipped"]),
        "{out}"
    );

    let skipped = json!(["Postfix is not running: reload skipped"]);
    let mut check_warnings = Vec::new();
    for (name, change, changed) in changes() {
        let args = c.args(change);
        let before = c.snapshot();
        let log = log_now(&c);
        let check = c.cli_with(&launch, &["apply", "--check"], &args);
        assert_eq!(check.code, 0, "{name}: {}\n{}", check.stdout, check.stderr);
        let out = check.json.assert_ok();
        assert_eq!(out["changed"], true, "{name}: {out:#}");
        assert_eq!(out["changes"], changed, "{name}: {out:#}");
        assert_eq!(c.snapshot(), before, "{name}: check mode wrote something");

        let real = c.cli_with(&launch, &["apply"], &args);
        assert_eq!(real.code, 0, "{name}: {}\n{}", real.stdout, real.stderr);
        let out = real.json.assert_ok();
        assert_eq!(out["changed"], true, "{name}: {out:#}");
        assert_eq!(out["changes"], changed, "{name}: {out:#}");
        assert_eq!(out["warnings"], skipped, "{name}: {out:#}");
        assert_no_reload_since(&c, log, name);
        // Check mode says what the real run will say (README "Check mode never lies").
        if check.json["warnings"] != out["warnings"] {
            check_warnings.push(format!(
                "{name}: check mode warned {}, the real run {}",
                check.json["warnings"], out["warnings"]
            ));
        }
        // Back to the configured relay for the next change.
        let back = c.cli_with(&launch, &["apply"], &c.args(relay(PASSWORD)));
        assert_eq!(back.code, 0, "{}", back.stdout);
    }
    drop(restore);
    assert_eq!(
        c.postmap_query(RELAY_KEY).as_deref(),
        Some(format!("{USER}:{PASSWORD}").as_str())
    );
    assert!(check_warnings.is_empty(), "{}", check_warnings.join("\n"));
}

/// Another copy of the Hermes layout (key, template, a configured Postfix dir), outside the
/// container's bind mount; returns its root.
pub fn mirror_root(c: &Case) -> std::path::PathBuf {
    let mirror = c.tmp.path().join("mirror");
    std::fs::create_dir_all(mirror.join("etc")).unwrap();
    must(
        Command::new("cp")
            .arg("-a")
            .arg(c.t.root.join("opt"))
            .arg(&mirror),
    );
    must(
        Command::new("cp")
            .arg("-a")
            .arg(&c.t.postfix_dir)
            .arg(mirror.join("etc")),
    );
    mirror
}

/// `root` names another copy of the layout: the Postfix dir the module writes is not the one
/// the container sees at /etc/postfix. Both changes fail `path_mismatch`, in check mode as in
/// the real run, before anything is written (in either dir, or the rows).
#[test]
fn postfix_dir_not_the_containers_is_path_mismatch() {
    let c = configured();
    let mirror = mirror_root(&c);
    let dir = mirror.join("etc/postfix");
    let before = c.snapshot_with(&[&mirror]);
    let log = log_now(&c);
    let mut wrong = Vec::new();
    for (name, change, _) in changes() {
        let mut args = c.args(change);
        args["root"] = json!(mirror);
        for check in [true, false] {
            let command: &[&str] = if check {
                &["apply", "--check"]
            } else {
                &["apply"]
            };
            let run = c.cli(command, &args);
            run.assert_no_secret(&[PASSWORD, NEW_PASSWORD]);
            let out = &run.json;
            let msg = out["msg"].as_str().unwrap_or_default();
            let expected = "postfix_exec_dir /etc/postfix is not postfix_dir as the Postfix \
                            commands (run through `docker exec hermes_postfix_dkim`) see it: they \
                            cannot open /etc/postfix/";
            if run.code != 1
                || out["failed"] != true
                || out["changed"] != false
                || out["error"]["code"] != "path_mismatch"
                || !msg.starts_with(expected)
                || !msg.contains("bind-mount the host's postfix_dir at postfix_exec_dir")
            {
                wrong.push(format!(
                    "{name}, {command:?}: exit {}, error.code {}, msg: {msg}",
                    run.code, out["error"]["code"]
                ));
            }
            // Whatever the verdict: nothing written, nothing left behind.
            assert_eq!(
                c.snapshot_with(&[&mirror]),
                before,
                "{name}, {command:?}: something was written: {}",
                run.stdout
            );
            assert_eq!(
                leftovers(&dir),
                Vec::<String>::new(),
                "{name}, {command:?}: left behind in {}",
                dir.display()
            );
        }
    }
    assert_no_reload_since(&c, log, "a path mismatch");
    assert!(
        wrong.is_empty(),
        "not path_mismatch (postfix_dir {}, the container's /etc/postfix is {}):\n{}",
        dir.display(),
        c.t.postfix_dir.display(),
        wrong.join("\n")
    );
}

/// The MariaDB container stopped: both changes fail `database_error`, naming where the run
/// connected, before anything else is touched; `reload` needs no database and still works.
#[test]
fn database_container_stopped_is_database_error() {
    let c = configured();
    let rows = c.dump();
    let files = c.files_with(&[]);
    let log = log_now(&c);
    let (launch, restore) = c.inflict(Fault::DatabaseStopped);
    for (name, change, _) in changes() {
        let args = c.args(change);
        for check in [true, false] {
            let msg = failing(&c, &launch, &args, check, "database_error");
            let target = format!("database: hermes@127.0.0.1:{}/{}: ", c.t.db_port, c.db);
            assert!(msg.starts_with(&target), "{name}, check {check}: {msg}");
            assert!(
                msg.contains("Connection refused"),
                "{name}, check {check}: {msg}"
            );
            assert_eq!(
                c.files_with(&[]),
                files,
                "{name}, check {check}: a file was written"
            );
        }
    }
    assert_no_reload_since(&c, log, "a run without its database");
    let reload = c.cli_with(&launch, &["reload"], &c.base);
    assert_eq!(reload.code, 0, "{}\n{}", reload.stdout, reload.stderr);
    assert_eq!(reload.json["msg"], "Postfix reloaded", "{}", reload.stdout);
    drop(restore);
    assert_eq!(c.dump(), rows, "the rows changed");
}
