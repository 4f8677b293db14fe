//! `relay_host_info` through the real binary: the stored relay settings without secrets, the
//! doctor's checks, and nothing written, not even the lock file.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{Hermes, Outcome, PASSWORD, check, relay};
use serde_json::{Value, json};

const TRANSPORT_PASSWORD: &str = "tr@nsport:pw";

/// A configured host.
fn configured(extra: Value) -> Hermes {
    let h = Hermes::new();
    let mut args = relay();
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    let out = h.run(args);
    assert_eq!(out["changed"], true, "{out}");
    h
}

/// An info run that must succeed and leave everything as it was; the lock file is removed
/// first, so creating it would show too.
fn info_ok(h: &Hermes, extra: Value) -> Value {
    let lock = h.postfix_dir().join(".hermes-relayhost.lock");
    if lock.exists() {
        fs::remove_file(&lock).unwrap();
    }
    let before = h.snapshot();
    let run = h.run_info(extra);
    assert_eq!(h.snapshot(), before, "relay_host_info wrote something");
    run.assert_no_secret(SECRETS);
    assert_eq!(run.code, 0);
    let out = run.assert_ok();
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(out["warnings"], json!([]));
    out.clone()
}

const SECRETS: &[&str] = &[PASSWORD, "p@ss", "w0rd", TRANSPORT_PASSWORD, "nsport"];

#[test]
fn present_relay_with_auth_is_reported_without_the_password() {
    let h = configured(json!({}));
    h.add_transport(
        "x.example",
        "mx.x.example",
        Some(""),
        "YES",
        "domainuser",
        TRANSPORT_PASSWORD,
    );
    let out = info_ok(&h, json!({"_ansible_check_mode": true}));
    assert_eq!(
        out["relay"],
        json!({
            "state": "present", "host": "smtp.example.com", "port": 587, "tls": "may",
            "auth": true, "username": "relayuser",
        }),
        "{out}"
    );
    assert_eq!(check(&out, "credentials")["ok"], true, "{out}");
    let names: Vec<&str> = out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in ["key", "database", "credentials", "file_modes", "drift"] {
        assert!(names.contains(&name), "{name}: {out}");
    }
    assert!(
        out["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["detail"].is_string())
    );
    let all_ok = out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true);
    assert_eq!(out["healthy"], all_ok, "{out}");
    assert_eq!(out["invocation"]["module_args"]["root"], h.base["root"]);
    assert!(
        out["msg"].as_str().unwrap().contains("smtp.example.com"),
        "{out}"
    );
    assert!(out.get("diff").is_none());
}

#[test]
fn healthy_host_reports_healthy() {
    let h = configured(json!({}));
    let out = info_ok(&h, json!({}));
    assert_eq!(out["healthy"], true, "{out}");
    assert!(
        out["msg"].as_str().unwrap().contains("all checks passed"),
        "{out}"
    );
}

#[test]
fn ipv6_and_no_auth_are_reported() {
    let h = Hermes::new();
    let out = h.run(json!({"host": "2001:db8::1", "auth": false, "tls": "encrypt"}));
    assert_eq!(out["changed"], true, "{out}");
    let out = info_ok(&h, json!({}));
    assert_eq!(
        out["relay"],
        json!({
            "state": "present", "host": "2001:db8::1", "port": 25, "tls": "encrypt",
            "auth": false, "username": null,
        }),
        "{out}"
    );
}

#[test]
fn absent_relay_is_reported() {
    let fresh = Hermes::new();
    let out = info_ok(&fresh, json!({}));
    let absent = json!({
        "state": "absent", "host": null, "port": null, "tls": "none", "auth": false,
        "username": null,
    });
    assert_eq!(out["relay"], absent, "the seed rows: {out}");

    let h = configured(json!({}));
    assert_eq!(h.run(json!({"state": "absent"}))["changed"], true);
    let out = info_ok(&h, json!({}));
    assert_eq!(out["relay"], absent, "{out}");
}

#[test]
fn wrapper_tls_is_reported() {
    let h = configured(json!({"port": 465, "tls": "wrapper"}));
    let out = info_ok(&h, json!({}));
    assert_eq!(out["relay"]["tls"], "wrapper", "{out}");
    assert_eq!(out["relay"]["port"], 465, "{out}");
    assert_eq!(out["relay"]["state"], "present");
}

#[test]
fn a_failing_check_makes_the_host_unhealthy_not_the_task_failed() {
    let h = configured(json!({}));
    let map = h.postfix_dir().join("sasl_passwd.db");
    fs::set_permissions(&map, fs::Permissions::from_mode(0o644)).unwrap();
    let out = info_ok(&h, json!({}));
    assert_eq!(out["healthy"], false, "{out}");
    assert_eq!(check(&out, "file_modes")["ok"], false, "{out}");
    assert!(out["msg"].as_str().unwrap().contains("file_modes"), "{out}");
    assert_eq!(out["relay"]["state"], "present");
    assert!(out.get("error").is_none());
}

#[test]
fn relay_rotation_and_unknown_options_are_errors() {
    let h = configured(json!({}));
    for (extra, named) in [
        (json!({"host": "smtp.example.com"}), "host"),
        (json!({"password": PASSWORD}), "password"),
        (json!({"state": "absent"}), "state"),
        (json!({"rotate_key": true}), "rotate_key"),
        (json!({"check_only": true}), "check_only"),
        (json!({"hots": "x"}), "hots"),
    ] {
        let before = h.snapshot();
        let run = h.run_info(extra);
        assert_eq!(h.snapshot(), before);
        run.assert_no_secret(SECRETS);
        let out = run.assert_failed("invalid_args");
        assert!(out["msg"].as_str().unwrap().contains(named), "{out}");
    }
}

#[test]
fn unreadable_settings_fail_with_a_code() {
    let h = configured(json!({}));
    let missing = h.root.join("nowhere.sqlite");
    let run = h.run_info(json!({"database": format!("sqlite:{}", missing.display())}));
    run.assert_failed("database_error");
    assert!(!missing.exists());
}

#[test]
fn the_apply_module_name_still_applies() {
    let h = Hermes::new();
    let mut args = h.args(relay());
    args["_ansible_module_name"] = json!("hermes_seg.relay.relay_host");
    let out = h.run_raw(&args).json;
    assert_eq!(out["changed"], true, "{out}");
}
