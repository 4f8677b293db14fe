//! The Salt state `hermes_relay_host` and its execution module with the real `salt-call
//! --local` (pinned venv): test mode previews without writing, a real run changes, a re-run
//! changes nothing, failures carry the binary's message, and neither Salt's output nor its
//! log (at the most verbose level) holds the password.

mod common;
mod runners;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::{Hermes, PASSWORD};
use runners::{Output, run, venv_tool};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A masterless minion: its config, state tree and log in one temp dir. Salt needs no keys
/// with `--local`, so a config per test is free and keeps the tests independent.
struct Minion {
    dir: TempDir,
}

impl Minion {
    /// Finds the binary through the minion option `hermes_relay_host.binary`.
    fn new() -> Minion {
        Minion::with_binary_option(true)
    }

    fn with_binary_option(option: bool) -> Minion {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/salt");
        fs::create_dir(d.join("srv")).unwrap();
        let mut config = json!({
            "id": "hermes-test",
            "file_client": "local",
            // Salt puts every path it owns under root_dir; the log is inside it on purpose.
            "root_dir": d.join("salt"),
            "log_file": d.join("salt/minion.log"),
            // The most verbose level: nothing of ours may log a secret at any level.
            "log_level_logfile": "all",
            "file_roots": {"base": [d.join("srv")]},
            "module_dirs": [modules.join("_modules")],
            "states_dirs": [modules.join("_states")],
        });
        if option {
            config["hermes_relay_host.binary"] = json!(env!("CARGO_BIN_EXE_hermes-relayhost"));
        }
        // JSON is YAML.
        fs::write(d.join("minion"), config.to_string()).unwrap();
        Minion { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn salt_call(&self) -> Command {
        let mut cmd = Command::new(venv_tool("salt-call"));
        cmd.arg("--local")
            .arg("-c")
            .arg(self.path())
            .arg("--out=json")
            .env("LC_ALL", "C.UTF-8");
        cmd
    }

    /// Writes `NAME.sls` with one state of `fun` taking `options`.
    fn sls(&self, name: &str, fun: &str, options: Value) {
        // An SLS argument list is a list of one-key mappings; JSON is YAML.
        let args: Vec<Value> = options
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| json!({ k: v }))
            .collect();
        let text = format!("relay:\n  hermes_relay_host.{fun}: {}\n", Value::from(args));
        fs::write(self.path().join(format!("srv/{name}.sls")), text).unwrap();
    }

    /// `state.apply NAME [test=True]`: the output and the one state's return.
    fn apply(&self, name: &str, test: bool, extra: &[&str]) -> (Output, Value) {
        let mut cmd = self.salt_call();
        cmd.args(extra).args(["state.apply", name]);
        if test {
            cmd.arg("test=True");
        }
        let out = run(&mut cmd);
        let ret = state_return(&out);
        (out, ret)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path().join("salt/minion.log")).unwrap_or_default()
    }
}

/// The return of the only state in a `--out=json` state run.
fn state_return(out: &Output) -> Value {
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("salt-call printed no JSON ({e}):\n{}", out.all()));
    let states = json["local"]
        .as_object()
        .unwrap_or_else(|| panic!("no state returns:\n{}", out.all()));
    assert_eq!(states.len(), 1, "{}", out.all());
    states.values().next().unwrap().clone()
}

/// The fixture's root, local Postfix tools and an authenticated relay.
fn relay(h: &Hermes) -> Value {
    h.args(json!({
        "host": "smtp.example.com",
        "port": 587,
        "username": "relayuser",
        "password": PASSWORD,
    }))
}

/// Log records holding `secret`, except Salt's own debug dump of each rendered SLS
/// ("Rendered data from file"), which shows whatever the SLS says: Salt's doing, not ours,
/// and why production minions keep `log_level_logfile` at `info` or above.
fn leaking_records(log: &str, secret: &str) -> Vec<String> {
    let is_start = |l: &str| {
        l.len() > 24 && l[..4].bytes().all(|b| b.is_ascii_digit()) && l.as_bytes()[4] == b'-'
    };
    let mut records: Vec<String> = Vec::new();
    for line in log.lines() {
        match records.last_mut() {
            Some(record) if !is_start(line) => {
                record.push('\n');
                record.push_str(line);
            }
            _ => records.push(line.to_string()),
        }
    }
    records
        .into_iter()
        .filter(|r| {
            r.contains(secret)
                && !r
                    .lines()
                    .next()
                    .unwrap()
                    .contains("Rendered data from file")
        })
        .collect()
}

fn assert_no_password(m: &Minion, outs: &[&Output]) {
    for out in outs {
        assert!(
            !out.all().contains(PASSWORD),
            "salt-call printed the password:\n{}",
            out.all()
        );
    }
    let log = m.log();
    assert!(
        log.contains("Rendered data from file"),
        "the log is not at debug level or below"
    );
    let leaks = leaking_records(&log, PASSWORD);
    assert!(
        leaks.is_empty(),
        "the minion log holds the password:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn state_apply_previews_then_applies_then_changes_nothing() {
    let (m, h) = (Minion::new(), Hermes::new());
    m.sls("relay", "configured", relay(&h));
    let before = h.snapshot();

    let (preview, ret) = m.apply("relay", true, &[]);
    assert_eq!(ret["result"], Value::Null, "{}", preview.all());
    let changes = &ret["changes"];
    assert_eq!(
        changes["sasl_passwd"],
        json!({"old": "", "new": "[smtp.example.com]:587\trelayuser:********"})
    );
    assert!(
        changes["main.cf"]["new"]
            .as_str()
            .unwrap()
            .contains("relayhost = [smtp.example.com]:587")
    );
    assert!(
        changes["rows"]["new"]
            .as_str()
            .unwrap()
            .contains("system_settings.relay_host_password = ******** (new)")
    );
    assert_eq!(ret["comment"], "would change: rows, main.cf, sasl_passwd");
    assert_eq!(h.snapshot(), before, "test=True wrote something");

    let (applied, ret) = m.apply("relay", false, &[]);
    assert_eq!(ret["result"], true, "{}", applied.all());
    assert_eq!(
        ret["changes"], *changes,
        "the real run differs from its preview"
    );
    assert!(
        ret["comment"]
            .as_str()
            .unwrap()
            .starts_with("changed: rows, main.cf, sasl_passwd")
    );
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert_eq!(
        h.param(203).parameter.as_deref(),
        Some("[smtp.example.com]:587")
    );

    let before = h.snapshot();
    for test in [false, true] {
        let (again, ret) = m.apply("relay", test, &[]);
        assert_eq!(ret["result"], true, "{}", again.all());
        assert_eq!(ret["changes"], json!({}));
        assert_eq!(ret["comment"], "no change");
    }
    assert_eq!(h.snapshot(), before, "a no-change run wrote something");
    assert_no_password(&m, &[&preview, &applied]);
}

#[test]
fn failure_is_result_false_with_the_binary_message() {
    let (m, h) = (Minion::new(), Hermes::new());
    let mut args = relay(&h);
    args["host"] = json!("bad host.example.com");
    m.sls("relay", "configured", args);
    let before = h.snapshot();

    let (out, ret) = m.apply("relay", false, &["--retcode-passthrough"]);
    assert_eq!(ret["result"], false, "{}", out.all());
    assert_eq!(
        ret["comment"],
        "option 'host': contains whitespace or a control character",
        "{}",
        out.all()
    );
    assert_eq!(ret["changes"], json!({}));
    // Salt's exit code for a failed state (salt.defaults.exitcodes.EX_STATE_FAILURE).
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(h.snapshot(), before);
    assert_no_password(&m, &[&out]);
}

#[test]
fn absent_disables_the_relay() {
    let (m, h) = (Minion::new(), Hermes::new());
    m.sls("relay", "configured", relay(&h));
    let (out, ret) = m.apply("relay", false, &[]);
    assert_eq!(ret["result"], true, "{}", out.all());

    m.sls("norelay", "absent", h.args(json!({})));
    let (out, ret) = m.apply("norelay", false, &[]);
    assert_eq!(ret["result"], true, "{}", out.all());
    assert!(
        ret["changes"]["rows"]["new"]
            .as_str()
            .unwrap()
            .contains("system_settings.relay_host_password = ''"),
        "{}",
        out.all()
    );
    assert_eq!(h.param(202).enabled, 0);
    assert_eq!(h.setting("relay_host_password").as_deref(), Some(""));
    assert_no_password(&m, &[&out]);
}

/// Without the minion option the binary is taken from PATH; the execution module is called
/// directly, as `salt-call hermes_relay_host.apply` would be from a shell.
#[test]
fn execution_module_finds_the_binary_on_path() {
    let (m, h) = (Minion::with_binary_option(false), Hermes::new());
    let bin = m.path().join("bin");
    fs::create_dir(&bin).unwrap();
    symlink(
        env!("CARGO_BIN_EXE_hermes-relayhost"),
        bin.join("hermes-relayhost"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut cmd = m.salt_call();
    cmd.env("PATH", &path)
        .arg("hermes_relay_host.apply")
        .arg("test=True");
    for (k, v) in h
        .args(json!({"host": "smtp.example.com", "port": 587}))
        .as_object()
        .unwrap()
    {
        cmd.arg(format!("{k}={v}"));
    }
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.all());
    let ret: Value = serde_json::from_str(&out.stdout).unwrap();
    let ret = &ret["local"];
    assert_eq!(ret["failed"], false, "{}", out.all());
    assert_eq!(ret["changed"], true);
    assert_eq!(ret["check_mode"], true);
    assert_eq!(ret["relayhost"], "[smtp.example.com]:587");
    assert_eq!(
        h.param(203).parameter.as_deref(),
        Some(""),
        "test=True wrote the row"
    );

    // Neither option nor PATH: a clear failure, not a traceback.
    let mut cmd = m.salt_call();
    cmd.env("PATH", "/usr/bin:/bin")
        .arg("hermes_relay_host.apply")
        .arg("host=smtp.example.com");
    let out = run(&mut cmd);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("hermes-relayhost not found"),
        "{}",
        out.all()
    );
}
