//! The Salt state `hermes_relay_host`, its execution module and the `hermes_relay` formula with
//! the real `salt-call --local` (pinned venv) and the binary under test: test mode previews
//! without writing, a real run changes, a re-run changes nothing, failures carry the binary's
//! message, warnings land in `warnings`, `watch` reloads a real Postfix, and a password kept
//! in pillar reaches no SLS, log, cache file, argv or return, not even partly.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{Hermes, PASSWORD, files_holding_fragments, fragments};
use crate::runners::{self as harness, Output, module_binary, run, venv_tool};
use crate::support::{PrivatePostfix, WAIT};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The masterless minion these tests (and `release.rs`) run; the container crate's too.
pub mod minion;

use minion::{Minion, arg_list, modules_src, state_returns};

/// Relay password kept in pillar: distinctive, so that any 6 characters of it in a place it
/// must not reach are a leak.
const PILLAR_SECRET: &str = "Qz7!kV9 mPx4-Rw2 hJ8";
/// Per-domain password kept in pillar, checked the same way.
const TRANSPORT_SECRET: &str = "Tn5?bW3 yLc6-Gd1 uF0";

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
/// and why secrets belong in pillar (`password_pillar`).
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
    // The binary's warning (this test's Postfix is not running) is a warning, not comment.
    assert_eq!(ret["comment"], "changed: rows, main.cf, sasl_passwd");
    assert_eq!(
        ret["warnings"],
        json!(["Postfix is not running: reload skipped"]),
        "{}",
        applied.all()
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
        assert!(ret.get("warnings").is_none(), "{}", again.all());
    }
    assert_eq!(h.snapshot(), before, "a no-change run wrote something");
    assert_no_password(&m, &[&preview, &applied]);
}

/// `host_type: postfix` from a state, the password from pillar: a Debian stock main.cf gets
/// the relay keys (a foreign line added between runs survives, the next run changes nothing),
/// the password is only in sasl_passwd, and the real Postfix relays with AUTH.
#[test]
fn state_configures_a_plain_postfix_host_from_pillar() {
    let (m, h) = (Minion::new(), Hermes::plain("debian-stock"));
    let pf = PrivatePostfix::start(&h);
    let sh = crate::support::Smarthost::start(
        h.dir.path(),
        "127.0.0.1",
        crate::support::Mode::StartTls,
        &[("relayuser", PASSWORD)],
    );
    m.pillar(&json!({"relay": {"password": PASSWORD}}));
    m.sls(
        "relay",
        "configured",
        h.args(json!({
            "host": "127.0.0.1",
            "port": sh.port,
            "tls": "encrypt",
            "username": "relayuser",
            "password_pillar": "relay:password",
            "sasl_security_options": "noanonymous",
        })),
    );
    let before = h.snapshot();
    let (preview, ret) = m.apply("relay", true, &[]);
    assert_eq!(ret["result"], Value::Null, "{}", preview.all());
    assert!(ret["changes"].get("rows").is_none(), "{ret:#}");
    assert_eq!(h.snapshot(), before, "test=True wrote something");

    let (applied, ret) = m.apply("relay", false, &[]);
    assert_eq!(ret["result"], true, "{}", applied.all());
    assert_eq!(ret["comment"], "changed: main.cf, sasl_passwd", "{ret:#}");
    let postconf = |args: &[&str]| {
        crate::support::must(
            Command::new("postconf")
                .arg("-c")
                .arg(h.postfix_dir())
                .args(args),
        )
    };
    postconf(&["-e", "message_size_limit = 20480000"]);
    let (again, ret) = m.apply("relay", false, &[]);
    assert_eq!(ret["changes"], json!({}), "{}", again.all());
    assert!(
        h.file("main.cf")
            .unwrap()
            .contains("message_size_limit = 20480000\n")
    );
    assert!(!h.root.join("hermes.sqlite").exists());

    pf.sendmail("sender@origin.invalid", "rcpt@remote.invalid", "salt-plain");
    let m2 = sh
        .wait_message("salt-plain", WAIT)
        .unwrap_or_else(|| panic!("not delivered:\n{}", pf.log()));
    assert_eq!(m2["auth_user"], "relayuser");
    assert_no_password(&m, &[&preview, &applied, &again]);
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
    let (m, h) = (
        Minion::with_config(json!({"hermes_relay_host.binary": null})),
        Hermes::new(),
    );
    let bin = m.path().join("bin");
    fs::create_dir(&bin).unwrap();
    symlink(module_binary(), bin.join("hermes-relayhost")).unwrap();
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
}

/// No binary: the execution module does not load and says why (`__virtual__` returns
/// `(False, reason)`); the state fails with that reason, or in test mode (the binary may be
/// installed earlier in the same run) reports it as pending.
#[test]
fn without_the_binary_the_module_does_not_load_and_says_why() {
    let h = Hermes::new();
    for (extra, reason) in [
        (
            json!({"hermes_relay_host.binary": null}),
            "hermes-relayhost not found: install it",
        ),
        (
            json!({"hermes_relay_host.binary": "/nonexistent/hermes-relayhost"}),
            "hermes-relayhost not found: /nonexistent/hermes-relayhost (the minion option \
             hermes_relay_host.binary) does not exist",
        ),
    ] {
        let m = Minion::with_config(extra);
        let out = run(m
            .salt_call()
            .env("PATH", "/usr/bin:/bin")
            .args(["hermes_relay_host.apply", "host=smtp.example.com"]));
        assert_ne!(out.code, 0, "{}", out.all());
        assert!(
            out.all().contains(&format!(
                "'hermes_relay_host' __virtual__ returned False: {reason}"
            )),
            "{}",
            out.all()
        );
        let (out, modules) = m.call(&["sys.list_modules"]);
        assert!(
            !modules.to_string().contains("hermes_relay_host"),
            "{}",
            out.all()
        );

        m.sls("relay", "configured", relay(&h));
        let before = h.snapshot();
        let (out, ret) = m.apply("relay", false, &[]);
        assert_eq!(ret["result"], false, "{}", out.all());
        assert!(
            ret["comment"].as_str().unwrap().contains(reason),
            "{}",
            out.all()
        );
        let (out, ret) = m.apply("relay", true, &[]);
        assert_eq!(ret["result"], Value::Null, "{}", out.all());
        assert!(
            ret["comment"].as_str().unwrap().contains(reason),
            "{}",
            out.all()
        );
        assert_eq!(h.snapshot(), before);
    }
}

/// `sys.doc` and `sys.state_doc` document every option the binary takes (but the rotation and
/// doctor ones, which have their own commands), the pillar options and the functions.
#[test]
fn every_option_is_documented_in_sys_doc_and_sys_state_doc() {
    let m = Minion::new();
    let schema = run(Command::new(module_binary()).arg("schema"));
    assert_eq!(schema.code, 0, "{}", schema.all());
    let schema: Value = serde_json::from_str(&schema.stdout).unwrap();
    let not_for_salt = [
        "state",
        "check_only",
        "rotate_key",
        "new_key_file",
        "new_cipher",
    ];
    let options: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|o| !not_for_salt.contains(o))
        .collect();
    assert!(options.len() > 15, "{options:?}");
    let documents = |doc: &Value, fun: &str, param: &str| {
        doc[fun]
            .as_str()
            .unwrap_or_else(|| panic!("no doc for {fun}: {doc}"))
            .contains(&format!("\n    {param}\n        "))
    };

    let (out, doc) = m.call(&["sys.state_doc", "hermes_relay_host"]);
    for option in options
        .iter()
        .chain(&["password_pillar", "transport_auth_pillar", "test"])
    {
        assert!(
            documents(&doc, "hermes_relay_host.configured", option),
            "sys.state_doc: configured does not document {option}:\n{}",
            out.all()
        );
    }
    for option in ["database", "root", "postfix_dir", "postfix_exec", "reload"] {
        for fun in ["absent", "mod_watch"] {
            assert!(
                documents(&doc, &format!("hermes_relay_host.{fun}"), option),
                "sys.state_doc: {fun} does not document {option}:\n{}",
                out.all()
            );
        }
    }

    let (out, doc) = m.call(&["sys.doc", "hermes_relay_host"]);
    for param in ["test", "password_pillar", "transport_auth_pillar"] {
        assert!(
            documents(&doc, "hermes_relay_host.apply", param),
            "sys.doc: apply does not document {param}:\n{}",
            out.all()
        );
    }
    assert!(
        documents(&doc, "hermes_relay_host.reload", "test"),
        "{}",
        out.all()
    );
}

/// The pillar of `pillar_secrets_reach_no_sls_log_cache_argv_or_return`.
fn secrets_pillar() -> Value {
    json!({"relay": {
        "password": PILLAR_SECRET,
        "transport": [{"domain": "a.example", "username": "ua", "password": TRANSPORT_SECRET}],
    }})
}

/// Passwords named by `password_pillar` / `transport_auth_pillar` are resolved on the minion:
/// the binary gets them, and no SLS, `state.show_sls` output, trace log, console output,
/// file in Salt's root dir (cachedir with `highstate.cache.p` and `sls.p`), returned
/// `changes`/comment or command line of any process holds any 6 characters of them.
#[test]
fn pillar_secrets_reach_no_sls_log_cache_argv_or_return() {
    // Trace: one level more than the contract promises; Salt logs rendered (pillar) files only
    // at `garbage`/`all`.
    let m = Minion::with_config(json!({"log_level_logfile": "trace"}));
    let h = Hermes::new();
    h.sql(
        "INSERT INTO transport (domain, destination, port, authentication, \
         authentication_username, authentication_password) \
         VALUES ('a.example', 'mx.a.example', '', 'YES', '', '')",
    );
    m.pillar(&secrets_pillar());
    let mut options = relay(&h);
    options.as_object_mut().unwrap().remove("password");
    options["password_pillar"] = json!("relay:password");
    options["transport_auth_pillar"] = json!("relay:transport");
    m.sls("relay", "configured", options);
    let secrets = [PILLAR_SECRET, TRANSPORT_SECRET];
    let verbose = ["-l", "trace"];
    let mut outs = Vec::new();

    let (out, shown) = m.call(&["state.show_sls", "relay"]);
    assert!(
        shown.to_string().contains("relay:password"),
        "{}",
        out.all()
    );
    outs.push(out);

    let before = h.snapshot();
    let (out, ret) = m.apply("relay", true, &verbose);
    assert_eq!(ret["result"], Value::Null, "{}", out.all());
    assert!(
        ret["changes"]["rows"]["new"]
            .as_str()
            .unwrap()
            .contains("relay_host_password = ******** (new)"),
        "{}",
        out.all()
    );
    assert_eq!(h.snapshot(), before, "test=True wrote something");
    outs.push(out);

    // The real run under strace: every command line Salt and the binary start.
    let trace = m.path().join("execve.trace");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=execve", "-s", "65535", "-o"])
        .arg(&trace)
        .arg(venv_tool("salt-call"))
        .args(m.salt_call().get_args())
        .args(verbose)
        .args(["state.apply", "relay"])
        .env("LC_ALL", "C.UTF-8");
    let out = run(&mut cmd);
    let states = state_returns(&out);
    let ret = &states["relay"];
    assert_eq!(ret["result"], true, "{}", out.all());
    assert!(
        ret["changes"]["sasl_passwd"]["new"]
            .as_str()
            .unwrap()
            .contains("[mx.a.example]:25\tua:********"),
        "{}",
        out.all()
    );
    outs.push(out);
    assert_eq!(h.decrypted("relay_host_password"), PILLAR_SECRET);
    let sasl = h.file("sasl_passwd").unwrap();
    assert!(
        sasl.contains(&format!("relayuser:{PILLAR_SECRET}\n"))
            && sasl.contains(&format!("ua:{TRANSPORT_SECRET}\n")),
        "the binary did not get the pillar values"
    );
    // The detector finds what is there (sasl_passwd holds the secrets by design).
    assert_eq!(fragments(sasl.as_bytes(), &secrets).len(), 30);
    let trace = fs::read_to_string(&trace).unwrap();
    assert!(
        trace.contains(&format!(
            "[\"{}\", \"apply\", \"--args-file\", \"-\", \"--format\", \"json\", \"--diff\"]",
            module_binary().display()
        )),
        "the binary's command line is not in the trace:\n{trace}"
    );
    assert_eq!(fragments(trace.as_bytes(), &secrets), Vec::<String>::new());

    let (out, ret) = m.apply("relay", false, &verbose);
    assert_eq!(ret["result"], true, "{}", out.all());
    assert_eq!(ret["changes"], json!({}), "{}", out.all());
    outs.push(out);

    for out in &outs {
        assert_eq!(
            fragments(out.all().as_bytes(), &secrets),
            Vec::<String>::new(),
            "salt-call printed part of a secret:\n{}",
            out.all()
        );
    }
    let sls = fs::read_to_string(m.path().join("srv/relay.sls")).unwrap();
    assert_eq!(fragments(sls.as_bytes(), &secrets), Vec::<String>::new());
    // What is scanned: the trace log and the cache files the state system writes.
    let log = m.log();
    assert!(log.contains("[TRACE   ]"), "the log is not at trace level");
    for cached in ["highstate.cache.p", "sls.p"] {
        assert!(m.cachedir().join(cached).exists(), "no {cached}");
    }
    assert_eq!(
        files_holding_fragments(&m.path().join("salt"), &secrets),
        Vec::<String>::new()
    );
}

/// A missing pillar key, or a password given both ways, fails before the binary runs.
#[test]
fn missing_pillar_key_or_both_ways_fails_and_writes_nothing() {
    let (m, h) = (Minion::new(), Hermes::new());
    m.pillar(&secrets_pillar());
    let before = h.snapshot();
    for (options, comment) in [
        (
            json!({"password_pillar": "relay:passwrod"}),
            "pillar key 'relay:passwrod' (option 'password_pillar') is missing on this minion",
        ),
        (
            json!({"transport_auth_pillar": "nope"}),
            "pillar key 'nope' (option 'transport_auth_pillar') is missing on this minion",
        ),
        (
            json!({"password_pillar": "relay:password", "password": PASSWORD}),
            "give 'password' or 'password_pillar', not both",
        ),
    ] {
        let mut args = relay(&h);
        args.as_object_mut().unwrap().remove("password");
        for (k, v) in options.as_object().unwrap() {
            args[k] = v.clone();
        }
        m.sls("relay", "configured", args);
        for test in [true, false] {
            let (out, ret) = m.apply("relay", test, &[]);
            assert_eq!(ret["result"], false, "{}", out.all());
            assert!(
                ret["comment"].as_str().unwrap().starts_with(comment),
                "{}",
                out.all()
            );
            assert_eq!(ret["changes"], json!({}));
            assert_eq!(
                fragments(out.all().as_bytes(), &[PILLAR_SECRET]),
                Vec::<String>::new()
            );
        }
    }
    assert_eq!(h.snapshot(), before, "a failed run wrote something");
}

/// `watch`: when the watched state changes and the relay state itself does not, `mod_watch`
/// reloads the running Postfix (seen in its log) and writes nothing; with no change nothing
/// is reloaded; `test=True` only says it would reload; `reload: false` does not reload.
#[test]
fn watch_reloads_postfix_when_a_watched_state_changes() {
    let h = Hermes::new();
    let pf = PrivatePostfix::start(&h);
    let m = Minion::new();
    let watched = m.path().join("watched.cf");
    let sls = |contents: &str, reload: bool| {
        let mut relay = arg_list(&relay(&h));
        let list = relay.as_array_mut().unwrap();
        list.push(json!({"reload": reload}));
        list.push(json!({"watch": [{"file": "watched"}]}));
        json!({
            "watched": {"file.managed": [{"name": watched}, {"contents": contents}]},
            "relay": {"hermes_relay_host.configured": relay},
        })
    };
    const RELOAD: &str = "reload -- version";

    // First run: the state itself changes and the binary reloads; mod_watch is not called.
    m.write_sls("watch", &sls("v1", true));
    let mark = pf.log_mark();
    let (out, states) = m.apply_all("watch", false, &[]);
    assert_eq!(states["watched"]["result"], true, "{}", out.all());
    let relay = &states["relay"];
    assert_eq!(relay["result"], true, "{}", out.all());
    assert_eq!(
        relay["comment"],
        "changed: rows, main.cf, sasl_passwd",
        "{}",
        out.all()
    );
    assert!(relay.get("warnings").is_none(), "{}", out.all());
    assert!(
        pf.wait_log(mark, RELOAD, WAIT).is_some(),
        "no reload:\n{}",
        pf.log_since(mark)
    );

    // Nothing changed: no reload.
    let mark = pf.log_mark();
    let (out, states) = m.apply_all("watch", false, &[]);
    assert_eq!(states["relay"]["changes"], json!({}), "{}", out.all());
    assert_eq!(states["relay"]["comment"], "no change", "{}", out.all());
    assert!(
        pf.wait_log(mark, RELOAD, Duration::from_secs(2)).is_none(),
        "reloaded without a change:\n{}",
        pf.log_since(mark)
    );

    // The watched file changes: reload, and no write of the relay's rows or files.
    let before = h.snapshot();
    m.write_sls("watch", &sls("v2", true));
    let (out, states) = m.apply_all("watch", false, &[]);
    assert!(
        states["watched"]["changes"]["diff"].is_string(),
        "{}",
        out.all()
    );
    let relay = &states["relay"];
    assert_eq!(relay["result"], true, "{}", out.all());
    assert_eq!(relay["comment"], "Postfix reloaded", "{}", out.all());
    assert_eq!(
        relay["changes"],
        json!({"postfix": {"old": null, "new": "reloaded"}})
    );
    assert!(
        pf.wait_log(mark, RELOAD, WAIT).is_some(),
        "mod_watch did not reload:\n{}",
        pf.log_since(mark)
    );
    assert_eq!(h.snapshot(), before, "mod_watch wrote something");

    // test=True: would reload, does not.
    m.write_sls("watch", &sls("v3", true));
    let mark = pf.log_mark();
    let (out, states) = m.apply_all("watch", true, &[]);
    let relay = &states["relay"];
    assert_eq!(relay["result"], Value::Null, "{}", out.all());
    assert_eq!(
        relay["comment"],
        "Postfix would be reloaded",
        "{}",
        out.all()
    );

    // reload: false: the watch does not reload either.
    m.write_sls("watch", &sls("v4", false));
    let (out, states) = m.apply_all("watch", false, &[]);
    let relay = &states["relay"];
    assert_eq!(relay["result"], true, "{}", out.all());
    assert_eq!(relay["changes"], json!({}), "{}", out.all());
    assert_eq!(
        relay["comment"],
        "reload: false: Postfix not reloaded",
        "{}",
        out.all()
    );
    assert!(
        pf.wait_log(mark, RELOAD, Duration::from_secs(2)).is_none(),
        "reloaded in test mode or with reload: false:\n{}",
        pf.log_since(mark)
    );
    assert_eq!(h.snapshot(), before, "a watch run wrote something");
}

/// A minion set up as the README says for the formula: the repo's `modules/salt` in
/// `file_roots` (formula, `_modules`, `_states`), `saltutil.sync_all`, the binary and its
/// .sha256 in the formula's `files/` (as `build.sh` places them, here in a second root), the
/// relay in pillar `hermes_relay`, the binary installed where `hermes_relay_host.binary` says.
struct Formula {
    m: Minion,
    bin: PathBuf,
}

impl Formula {
    fn new() -> Formula {
        let m = Minion::with_config(json!({
            "module_dirs": null,
            "states_dirs": null,
            "log_level_logfile": "debug",
        }));
        let bin = m.path().join("bin/hermes-relayhost");
        let srv = m.path().join("srv");
        m.set_config("hermes_relay_host.binary", json!(bin));
        m.set_config("file_roots", json!({"base": [srv, modules_src()]}));

        let files = srv.join("hermes_relay/files");
        fs::create_dir_all(&files).unwrap();
        fs::copy(module_binary(), files.join("hermes-relayhost")).unwrap();
        let sum = run(Command::new("sha256sum")
            .arg("hermes-relayhost")
            .current_dir(&files));
        assert_eq!(sum.code, 0, "{}", sum.all());
        fs::write(files.join("hermes-relayhost.sha256"), &sum.stdout).unwrap();

        m.sync_all();
        Formula { m, bin }
    }

    fn pillar(&self, h: &Hermes, host: &str) {
        let mut options = relay(h);
        options["host"] = json!(host);
        options.as_object_mut().unwrap().remove("password");
        self.m.pillar(&json!({"hermes_relay": {
            "options": options,
            "secrets": {"password": PILLAR_SECRET},
        }}));
    }
}

#[test]
fn formula_installs_the_binary_and_configures_the_relay_from_pillar() {
    let (f, h) = (Formula::new(), Hermes::new());
    let m = &f.m;
    f.pillar(&h, "smtp.example.com");
    let mut outs = Vec::new();

    let (out, shown) = m.call(&["state.show_sls", "hermes_relay"]);
    let relay = shown["hermes-relay-host"].to_string();
    assert!(
        relay.contains(r#"{"password_pillar":"hermes_relay:secrets:password"}"#),
        "{}",
        out.all()
    );
    outs.push(out);

    // Fresh minion, test=True: the binary would be installed; without it the relay cannot be
    // previewed, which the relay state says (result None), and nothing is written.
    let before = h.snapshot();
    let (out, states) = m.apply_all("hermes_relay", true, &[]);
    let binary = &states["hermes-relayhost-binary"];
    assert_eq!(binary["result"], Value::Null, "{}", out.all());
    assert!(binary["changes"]["newfile"].is_string(), "{}", out.all());
    let relay = &states["hermes-relay-host"];
    assert_eq!(relay["result"], Value::Null, "{}", out.all());
    assert!(
        relay["comment"]
            .as_str()
            .unwrap()
            .contains("hermes-relayhost not found"),
        "{}",
        out.all()
    );
    assert!(!f.bin.exists());
    assert_eq!(h.snapshot(), before);
    outs.push(out);

    // Apply: the binary is installed (checksum verified) and, the modules reloaded, used.
    let (out, states) = m.apply_all("hermes_relay", false, &["--retcode-passthrough"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(states["hermes-relayhost-binary"]["result"], true);
    assert_eq!(
        fs::read(&f.bin).unwrap(),
        fs::read(module_binary()).unwrap()
    );
    let relay = &states["hermes-relay-host"];
    assert_eq!(relay["result"], true, "{}", out.all());
    assert_eq!(relay["comment"], "changed: rows, main.cf, sasl_passwd");
    assert_eq!(h.decrypted("relay_host_password"), PILLAR_SECRET);
    outs.push(out);

    // Again: nothing changes anywhere.
    let before = h.snapshot();
    let (out, states) = m.apply_all("hermes_relay", false, &["--retcode-passthrough"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for (id, ret) in &states {
        assert_eq!(ret["result"], true, "{id}: {}", out.all());
        assert_eq!(ret["changes"], json!({}), "{id}: {}", out.all());
    }
    assert_eq!(h.snapshot(), before);
    outs.push(out);

    // A new host in pillar, test=True: the pending change, masked, and nothing written.
    f.pillar(&h, "smtp2.example.com");
    let (out, states) = m.apply_all("hermes_relay", true, &[]);
    assert_eq!(states["hermes-relayhost-binary"]["result"], true);
    let relay = &states["hermes-relay-host"];
    assert_eq!(relay["result"], Value::Null, "{}", out.all());
    assert!(
        relay["changes"]["sasl_passwd"]["new"]
            .as_str()
            .unwrap()
            .contains("[smtp2.example.com]:587\trelayuser:********"),
        "{}",
        out.all()
    );
    assert_eq!(h.snapshot(), before);
    outs.push(out);

    for out in &outs {
        assert_eq!(
            fragments(out.all().as_bytes(), &[PILLAR_SECRET]),
            Vec::<String>::new(),
            "{}",
            out.all()
        );
    }
    // The formula's templates read pillar `hermes_relay:secrets` (for its keys): still nothing
    // in the debug log or the cache.
    assert!(
        m.log().contains("[DEBUG   ]"),
        "the log is not at debug level"
    );
    assert_eq!(
        files_holding_fragments(&m.path().join("salt"), &[PILLAR_SECRET]),
        Vec::<String>::new()
    );
}

/// A password under `hermes_relay:options` would be rendered into the SLS: the formula
/// refuses to render.
#[test]
fn formula_refuses_a_password_in_its_options() {
    let (f, h) = (Formula::new(), Hermes::new());
    f.m.pillar(&json!({"hermes_relay": {"options": relay(&h)}}));
    let out = run(f.m.salt_call().args(["state.show_sls", "hermes_relay"]));
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.all().contains(
            "hermes_relay:options:password would be rendered into the SLS: \
             put it under hermes_relay:secrets:password"
        ),
        "{}",
        out.all()
    );
}

/// salt-lint (pinned in target/lint-venv) finds nothing in the formula; it does find the
/// faults of a bad file, so a clean result means something.
#[test]
fn formula_is_salt_lint_clean() {
    let lint = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lint-venv/bin/salt-lint");
    assert!(
        lint.exists(),
        "{} is missing: install salt-lint==0.9.2 into target/lint-venv",
        lint.display()
    );
    let formula = modules_src().join("hermes_relay");
    let out = run(Command::new(&lint)
        .arg(formula.join("init.sls"))
        .arg(formula.join("install.sls")));
    assert_eq!(out.code, 0, "{}", out.all());
    // Not state files, but Jinja and YAML all the same: every rule but the extension one.
    let out = run(Command::new(&lint)
        .args(["-x", "205"])
        .arg(formula.join("map.jinja"))
        .arg(formula.join("pillar.example")));
    assert_eq!(out.code, 0, "{}", out.all());

    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.sls");
    fs::write(&bad, "x:\n  file.managed:\n    - mode: 644\n").unwrap();
    let out = run(Command::new(&lint).arg(&bad));
    assert_ne!(out.code, 0, "salt-lint passed a bad file:\n{}", out.all());
    assert!(out.stdout.contains("[207]"), "{}", out.all());
}

/// A binary whose SHA-256 is not the expected one is not installed (Salt takes a `salt://`
/// file as the fileserver has it, so the formula checks it), and the relay state does not run.
#[test]
fn formula_refuses_a_binary_with_another_checksum() {
    let (f, h) = (Formula::new(), Hermes::new());
    f.pillar(&h, "smtp.example.com");
    let sums =
        f.m.path()
            .join("srv/hermes_relay/files/hermes-relayhost.sha256");
    let other = format!("{}  hermes-relayhost\n", "0".repeat(64));
    fs::write(&sums, other).unwrap();
    let before = h.snapshot();

    let (out, states) = f.m.apply_all("hermes_relay", false, &[]);
    let binary = &states["hermes-relayhost-binary"];
    assert_eq!(binary["result"], false, "{}", out.all());
    assert!(
        binary["comment"]
            .as_str()
            .unwrap()
            .contains("check_cmd execution failed"),
        "{}",
        out.all()
    );
    assert!(!f.bin.exists(), "installed a binary with another checksum");
    assert_eq!(
        states["hermes-relay-host"]["result"],
        false,
        "{}",
        out.all()
    );
    assert_eq!(h.snapshot(), before);
}

/// A fresh minion's first `test=True` (the formula's, or a state's of its own) says how to
/// install the binary, not Salt's "`__virtual__` returned False"; nothing is written.
#[test]
fn a_fresh_minion_in_test_mode_says_how_to_install_the_binary() {
    let (f, h) = (Formula::new(), Hermes::new());
    f.pillar(&h, "smtp.example.com");
    let before = h.snapshot();
    let (out, states) = f.m.apply_all("hermes_relay", true, &[]);
    let state = &states["hermes-relay-host"];
    assert_eq!(state["result"], Value::Null, "{}", out.all());
    let comment = state["comment"].as_str().unwrap();
    assert!(
        comment.contains("state.apply hermes_relay installs it")
            && comment.contains(&format!(
                "{} (the minion option hermes_relay_host.binary) does not exist",
                f.bin.display()
            ))
            && comment.contains("previewed once it is installed"),
        "{comment}"
    );
    assert!(!out.all().contains("__virtual__"), "{}", out.all());
    assert_eq!(h.snapshot(), before);

    // No formula, no binary anywhere: the same advice, and a real run fails with it.
    let m = Minion::with_config(json!({"hermes_relay_host.binary": null}));
    m.sls("relay", "configured", relay(&h));
    for test in [true, false] {
        let out = run(m
            .salt_call()
            .env("PATH", "/usr/bin:/bin")
            .args(["state.apply", "relay"])
            .args(test.then_some("test=True")));
        let states = state_returns(&out);
        let ret = &states["relay"];
        assert_eq!(
            ret["result"],
            if test { Value::Null } else { json!(false) },
            "{}",
            out.all()
        );
        let comment = ret["comment"].as_str().unwrap();
        assert!(
            comment.starts_with("hermes-relayhost not found: install it")
                && comment.contains("state.apply hermes_relay installs it"),
            "{comment}"
        );
        assert!(!out.all().contains("__virtual__"), "{}", out.all());
    }
    assert_eq!(h.snapshot(), before);
}
