//! Check mode never lies, on the container topology (issue 20; the directory-root version is
//! tests/integration/check_truth.rs): for each host state, `apply --check` and then `apply`
//! with the same args and the DEFAULT location options (`docker exec hermes_postfix_dkim`,
//! /etc/postfix, the MariaDB container), the check leaves the host as it found it (rows,
//! files under the root including the map, no reload in `docker logs`), both runs give the same
//! verdict (`failed`, `error.code`, `changed`, `changes`), and that verdict is the state's
//! expected one. Every disagreement is collected; the test fails listing all of them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mysql::prelude::Queryable;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Run, ids, verdict};
use crate::errors::{NEW_PASSWORD, changes, configured, mirror_root, relay, reload_in};
use crate::topology::{Case, Fault, Launch, Restore, must};

/// What a state's setup leaves for the two runs.
struct Setup {
    args: Value,
    launch: Launch,
    /// `--diff` on both runs.
    diff: bool,
    /// Another root the runs are pointed at, snapshotted with the topology's.
    dirs: Vec<PathBuf>,
    /// The database server is down: rows are compared once it is back.
    db_down: bool,
    /// Puts the containers back after the state.
    restore: Option<Restore>,
}

impl Setup {
    fn new(args: Value) -> Setup {
        Setup {
            args,
            launch: Launch::default(),
            diff: false,
            dirs: Vec::new(),
            db_down: false,
            restore: None,
        }
    }

    fn launch(mut self, launch: Launch) -> Setup {
        self.launch = launch;
        self
    }

    /// The topology broken as `fault` says (restored after the state).
    fn fault(mut self, c: &Case, fault: Fault) -> Setup {
        let (launch, restore) = c.inflict(fault);
        self.launch = launch;
        self.restore = Some(restore);
        self.db_down = fault == Fault::DatabaseStopped;
        self
    }
}

struct State {
    name: &'static str,
    /// The error code both runs must report, or `ok`.
    expect: &'static str,
    /// Configure the host with [`relay`]`(PASSWORD)` before the setup.
    configured: bool,
    setup: fn(&Case) -> Setup,
}

/// The args of a pending change that rewrites main.cf and sasl_passwd: the relay moved.
fn moved(c: &Case) -> Value {
    c.args(changes()[0].1.clone())
}

/// The args of a sasl_passwd-only change: a new password.
fn new_password(c: &Case) -> Value {
    c.args(relay(NEW_PASSWORD))
}

fn with(c: &Case, extra: Value) -> Value {
    let mut args = moved(c);
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    args
}

fn sql(c: &Case, sql: &str) {
    c.t.conn(&c.db).query_drop(sql).unwrap();
}

fn key_path(c: &Case) -> PathBuf {
    c.t.root.join("opt/hermes/keys/hermes.key")
}

fn template_path(c: &Case) -> PathBuf {
    c.t.root.join("opt/hermes/conf_files/main.cf.HERMES")
}

fn chown(owner: &str, path: &Path) {
    must(Command::new("chown").args(["-R", owner]).arg(path));
}

/// A MariaDB user of this case's database with only `privileges`, and an option file with its
/// credentials (readable by root only); the args use them instead of the Hermes user's.
fn limited_user(c: &Case, privileges: &str) -> Value {
    let user = format!("ro_{}", c.db.trim_start_matches("hermes_ct_"));
    let password = "read-only-pw";
    c.t.db_root_sql(&format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';
         GRANT {privileges} ON `{db}`.* TO '{user}'@'127.0.0.1';",
        db = c.db
    ));
    let file = c.tmp.path().join("limited.cnf");
    fs::write(
        &file,
        format!(
            "[client]\nuser={user}\npassword={password}\nhost=127.0.0.1\nport={}\n",
            c.t.db_port
        ),
    )
    .unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    // No user in the URL: the option file names it.
    with(
        c,
        json!({
            "database": format!("mysql://127.0.0.1:{}/{}", c.t.db_port, c.db),
            "database_options_file": file,
        }),
    )
}

const HOSTILE_ROWS: &str = "INSERT INTO parameters (id, parameter, module, conf_file, parent, child, order1, enabled, applied, action) VALUES
   (9001, 'smtpd_banner', 'postfix', 'main.cf', NULL, 2, NULL, 1, 1, 'NONE'),
   (9002, 'hi
relayhost = [mx.attacker.example]:25', 'postfix', 'main.cf', '9001', 1, 1.0, 1, 1, 'NONE');";

fn states() -> Vec<State> {
    let s = |name, expect, configured, setup| State {
        name,
        expect,
        configured,
        setup,
    };
    vec![
        s("clean, first setup", "ok", false, |c| Setup::new(moved(c))),
        s(
            "clean, pending change on a configured host",
            "ok",
            true,
            |c| Setup::new(moved(c)),
        ),
        s("clean, password change only", "ok", true, |c| {
            Setup::new(new_password(c))
        }),
        s("clean, no change", "ok", true, |c| {
            Setup::new(c.args(relay(PASSWORD)))
        }),
        s("clean, state absent", "ok", true, |c| {
            Setup::new(c.args(json!({"state": "absent"})))
        }),
        s("clean, no reload", "ok", true, |c| {
            Setup::new(with(c, json!({"reload": false})))
        }),
        s("clean, diff mode", "ok", true, |c| Setup {
            diff: true,
            ..Setup::new(moved(c))
        }),
        s("leftover temp file, no other change", "ok", true, |c| {
            fs::write(c.t.postfix_dir.join(".sasl_passwd.abc123"), "x").unwrap();
            Setup::new(c.args(relay(PASSWORD)))
        }),
        s("rows another page left pending", "ok", true, |c| {
            sql(
                c,
                &format!(
                    "UPDATE parameters SET applied = 2 WHERE id = {}",
                    ids::TLS_LEVEL
                ),
            );
            Setup::new(c.args(relay(PASSWORD)))
        }),
        s("no docker CLI", "postfix_unreachable", true, |c| {
            Setup::new(moved(c)).fault(c, Fault::NoDockerCli)
        }),
        s(
            "no docker CLI, password change only",
            "postfix_unreachable",
            true,
            |c| Setup::new(new_password(c)).fault(c, Fault::NoDockerCli),
        ),
        s(
            "Docker daemon unreachable",
            "postfix_unreachable",
            true,
            |c| Setup::new(moved(c)).fault(c, Fault::DaemonUnreachable),
        ),
        s(
            "Docker daemon unreachable, password change only",
            "postfix_unreachable",
            true,
            |c| Setup::new(new_password(c)).fault(c, Fault::DaemonUnreachable),
        ),
        s("container stopped", "postfix_unreachable", true, |c| {
            Setup::new(moved(c)).fault(c, Fault::ContainerStopped)
        }),
        s("container missing", "postfix_unreachable", true, |c| {
            Setup::new(moved(c)).fault(c, Fault::ContainerMissing)
        }),
        s(
            "Postfix stopped in a running container (reload skipped)",
            "ok",
            true,
            |c| Setup::new(moved(c)).fault(c, Fault::PostfixStopped),
        ),
        s(
            "path mapping wrong (root at a copy of the layout)",
            "path_mismatch",
            true,
            |c| {
                let mirror = mirror_root(c);
                let mut args = moved(c);
                args["root"] = json!(mirror);
                Setup {
                    dirs: vec![mirror],
                    ..Setup::new(args)
                }
            },
        ),
        s(
            "path mapping wrong, password change only",
            "path_mismatch",
            true,
            |c| {
                let mirror = mirror_root(c);
                let mut args = new_password(c);
                args["root"] = json!(mirror);
                Setup {
                    dirs: vec![mirror],
                    ..Setup::new(args)
                }
            },
        ),
        s("template variable missing", "template_error", true, |c| {
            Setup::new(with(c, json!({"vars": {}})))
        }),
        s(
            "template invalid for Postfix",
            "invalid_postfix_config",
            true,
            |c| {
                let t = template_path(c);
                let text = fs::read_to_string(&t).unwrap();
                fs::write(&t, format!("{text}\nthis line has no equals sign\n")).unwrap();
                Setup::new(moved(c))
            },
        ),
        s("template missing", "template_error", true, |c| {
            fs::remove_file(template_path(c)).unwrap();
            Setup::new(moved(c))
        }),
        s("key missing", "key_error", true, |c| {
            fs::remove_file(key_path(c)).unwrap();
            Setup::new(moved(c))
        }),
        s("key of the wrong length", "key_error", true, |c| {
            fs::write(key_path(c), "c2hvcnQ=\n").unwrap();
            Setup::new(moved(c))
        }),
        s("key unreadable (a directory)", "unsafe_file", true, |c| {
            fs::remove_file(key_path(c)).unwrap();
            fs::create_dir(key_path(c)).unwrap();
            Setup::new(moved(c))
        }),
        s(
            "database unreachable (its container stopped)",
            "database_error",
            true,
            |c| Setup::new(moved(c)).fault(c, Fault::DatabaseStopped),
        ),
        s(
            "database user with SELECT only",
            "database_error",
            true,
            |c| Setup::new(limited_user(c, "SELECT")),
        ),
        s(
            "database user with SELECT and LOCK TABLES, no write",
            "database_error",
            true,
            |c| Setup::new(limited_user(c, "SELECT, LOCK TABLES")),
        ),
        s(
            "Postfix dir read-only for a non-root user",
            "permission_denied",
            true,
            |c| {
                // Everything else readable by nobody: key, template, an option file.
                fs::set_permissions(c.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
                chown("nobody:nogroup", &c.t.root.join("opt"));
                let file = c.tmp.path().join("nobody.cnf");
                fs::copy(&c.t.options_file, &file).unwrap();
                chown("nobody:nogroup", &file);
                Setup::new(with(c, json!({"database_options_file": file}))).launch(Launch::nobody())
            },
        ),
        s("non-root user", "permission_denied", true, |c| {
            Setup::new(moved(c)).launch(Launch::nobody())
        }),
        s("hostile parameters rows", "unsafe_row", true, |c| {
            sql(c, HOSTILE_ROWS);
            Setup::new(moved(c))
        }),
        s(
            "a second enabled relayhost value row",
            "unsafe_row",
            true,
            |c| {
                sql(
                    c,
                    &format!(
                        "INSERT INTO parameters (id, parameter, name, module, conf_file, parent, \
                         child, order1, enabled, applied, action) VALUES (9003, \
                         '[mx.other.example]:25', 'mx.other.example', 'postfix', 'main.cf', \
                         '{}', 1, 2.0, 1, 1, 'NONE')",
                        ids::RELAYHOST
                    ),
                );
                Setup::new(moved(c))
            },
        ),
        s(
            "map type Postfix does not support (cdb)",
            "postmap_failed",
            true,
            |c| {
                sql(
                    c,
                    &format!(
                        "UPDATE parameters SET parameter = 'cdb:/etc/postfix/sasl_passwd' \
                         WHERE id = {}",
                        ids::PASSWORD_MAPS_VALUE
                    ),
                );
                Setup::new(moved(c))
            },
        ),
        s("disk full (ENOSPC on fsync)", "io_error", true, |c| {
            Setup::new(moved(c)).launch(Launch::disk_full())
        }),
        s("invalid host", "invalid_host", true, |c| {
            Setup::new(with(c, json!({"host": "bad host"})))
        }),
    ]
}

/// Whether a real run that gave `out` reloaded Postfix: it installed a file, with `reload`
/// on, and Postfix ran.
fn reloads(setup: &Setup, out: &Value) -> bool {
    let installed = out["changes"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c != "rows"));
    out["failed"] == false
        && installed
        && setup.args["reload"] != false
        && !out["warnings"].to_string().contains("reload skipped")
}

fn run(c: &Case, setup: &Setup, check: bool) -> Run {
    let mut command = vec!["apply"];
    if check {
        command.push("--check");
    }
    if setup.diff {
        command.push("--diff");
    }
    let run = c.cli_with(&setup.launch, &command, &setup.args);
    run.assert_no_secret(&[PASSWORD, NEW_PASSWORD]);
    // The CLI's exit code follows `failed`.
    let failed = run.json["failed"] == true;
    assert_eq!(
        run.code,
        i32::from(failed),
        "{command:?}: {}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

#[test]
fn check_mode_agrees_with_the_real_run_in_every_container_state() {
    let started = Instant::now();
    let mut disagreements = Vec::new();
    let mut count = 0;
    let mut timings = Vec::new();
    for state in states() {
        let t0 = Instant::now();
        let c = if state.configured {
            configured()
        } else {
            Case::new()
        };
        let rows_before_setup = c.dump();
        let setup = (state.setup)(&c);
        let dirs: Vec<&Path> = setup.dirs.iter().map(PathBuf::as_path).collect();
        let files = c.files_with(&dirs);
        let rows = if setup.db_down {
            rows_before_setup
        } else {
            c.dump()
        };
        let log = c.t.try_log();

        let check = run(&c, &setup, true);
        let what = format!("{}: check mode {}", state.name, check.stdout);
        assert_eq!(c.files_with(&dirs), files, "{what}: changed a file");
        if !setup.db_down {
            assert_eq!(c.dump(), rows, "{what}: changed a row");
        }
        if let (Some(before), Some(now)) = (&log, c.t.try_log()) {
            let new = now.get(before.len()..).unwrap_or_default();
            assert!(!reload_in(new), "{what}: reloaded Postfix:\n{new}");
        }

        let mark = log.as_ref().map(String::len);
        let real = run(&c, &setup, false);
        count += 1;
        if let Some(mark) = mark.filter(|_| reloads(&setup, &real.json)) {
            // Also so that no later step takes this reload's late log line for its own.
            assert!(
                c.wait_reload(mark),
                "{}: the real run did not reload Postfix: {}",
                state.name,
                real.stdout
            );
        }
        let code = real.json["error"]["code"].as_str().unwrap_or("ok");
        if code != state.expect {
            disagreements.push(format!(
                "{}: the real run gave {code}, expected {}: {}",
                state.name, state.expect, real.json["msg"]
            ));
        }
        if verdict(&check.json) != verdict(&real.json) {
            disagreements.push(format!(
                "{}:\n  check {}\n  real  {}\n  check msg: {}\n  real msg:  {}",
                state.name,
                verdict(&check.json),
                verdict(&real.json),
                check.json["msg"],
                real.json["msg"]
            ));
        }
        let failed = real.json["failed"] == true;
        drop(setup.restore);
        if setup.db_down {
            assert_eq!(c.dump(), rows, "{}: a row changed", state.name);
        }
        if failed {
            // A failed run writes nothing either (or puts it all back).
            assert_eq!(c.files_with(&dirs), files, "{}: real run", state.name);
            assert_eq!(c.dump(), rows, "{}: real run", state.name);
        }
        timings.push(format!(
            "{:>5.1} s  {}",
            t0.elapsed().as_secs_f64(),
            state.name
        ));
    }
    eprintln!(
        "{count} states in {:.1} s (wall time, including other tests holding the topology):\n{}",
        started.elapsed().as_secs_f64(),
        timings.join("\n")
    );
    assert!(count >= 25, "{count} states");
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s) in {count} states:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
