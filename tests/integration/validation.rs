//! Every validation rule through the args-file protocol: its stable code, its Hermes code,
//! a message naming the option, and nothing written.

use crate::common::{Hermes, Outcome, PASSWORD, relay};
use serde_json::{Value, json};

/// (args, code, hermes_code, words the message must contain)
fn cases() -> Vec<(Value, &'static str, Option<u8>, &'static str)> {
    // One per code: every rule has its unit test beside the code (validate.rs `rules`); these
    // prove the protocol path (module mode, exit 0, nothing written, no value echoed).
    vec![
        (json!({"port": 587}), "host_missing", Some(1), "host"),
        (
            json!({"host": "not a host"}),
            "invalid_host",
            Some(2),
            "whitespace",
        ),
        (
            json!({"host": "smtp.example.com", "port": ""}),
            "port_missing",
            Some(3),
            "port",
        ),
        (
            json!({"host": "smtp.example.com", "port": 0}),
            "invalid_port",
            Some(4),
            "65535",
        ),
        (
            json!({"host": "smtp.example.com", "auth": true}),
            "username_missing",
            Some(5),
            "username",
        ),
        (
            json!({"host": "smtp.example.com", "username": "u"}),
            "password_missing",
            Some(6),
            "password",
        ),
        (
            json!({"host": "smtp.example.com", "username": "a b", "password": "p"}),
            "invalid_username",
            None,
            "whitespace",
        ),
        (
            json!({"host": "smtp.example.com", "username": "u", "password": "trailing "}),
            "invalid_password",
            None,
            "whitespace",
        ),
        (
            json!({"host": "smtp.example.com", "username": "u", "password": "two\nlines"}),
            "invalid_password",
            None,
            "LF",
        ),
        (
            json!({"state": "absent", "host": "smtp.example.com"}),
            "conflicting_options",
            None,
            "'host'",
        ),
        (
            json!({"host": "smtp.example.com", "hostname": "x"}),
            "invalid_args",
            None,
            "hostname",
        ),
    ]
}

#[test]
fn every_rule_has_its_code_and_writes_nothing() {
    let h = Hermes::new();
    let before = h.snapshot();
    for (extra, code, hermes_code, words) in cases() {
        let run = h.run_raw(&h.args(extra.clone()));
        let out = &run.json;
        assert_eq!(out["failed"], true, "{extra}: {out}");
        assert_eq!(out["changed"], false);
        assert_eq!(out["error"]["code"], code, "{extra}: {out}");
        assert_eq!(out["error"]["hermes_code"], json!(hermes_code), "{extra}");
        let msg = out["msg"].as_str().unwrap();
        assert!(msg.contains(words), "{extra}: {msg:?} lacks {words:?}");
        assert!(!run.stdout.contains("trailing ") && !run.stdout.contains("two\\nlines"));
        assert_eq!(run.code, 0, "module mode exits 0; Ansible reads `failed`");
    }
    assert_eq!(h.snapshot(), before, "a rejected run wrote something");
}

#[test]
fn stored_password_satisfies_code_6_once_present() {
    let h = Hermes::new();
    h.run(relay());
    let out = h.run(json!({"host": "smtp.example.com", "port": 587, "username": "relayuser"}));
    out.assert_ok();
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
}

#[test]
fn broken_environment_is_a_clear_error_that_writes_nothing() {
    let h = Hermes::new();
    let before = h.snapshot();
    let key = h.root.join("opt/hermes/keys/hermes.key");
    let saved = std::fs::read(&key).unwrap();

    std::fs::write(&key, "not base64 at all\n").unwrap();
    let out = h.run(relay());
    assert_eq!(out["error"]["code"], "key_error");
    assert!(out["msg"].as_str().unwrap().contains("hermes.key"));
    std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODw==\n").unwrap();
    assert!(h.run(relay())["msg"].as_str().unwrap().contains("32-byte"));
    std::fs::remove_file(&key).unwrap();
    assert!(h.run(relay())["msg"].as_str().unwrap().contains("missing"));
    std::fs::write(&key, &saved).unwrap();

    let out =
        h.run(json!({"host": "smtp.example.com", "database": "sqlite:/nonexistent/x.sqlite"}));
    assert_eq!(out["error"]["code"], "database_error");
    assert!(!std::path::Path::new("/nonexistent/x.sqlite").exists());

    let out = h.run(json!({"host": "smtp.example.com", "auth": false, "vars": {"banner": "x"}}));
    assert_eq!(out["error"]["code"], "template_error", "{out}");
    assert!(
        out["msg"].as_str().unwrap().contains("inet_interfaces"),
        "{out}"
    );

    h.sql("DELETE FROM parameters WHERE id IN (204, 369)");
    let out = h.run(relay());
    assert_eq!(out["error"]["code"], "database_layout");
    let msg = out["msg"].as_str().unwrap();
    assert!(
        msg.contains("smtp_sasl_auth_enable (parent row")
            && msg.contains("smtp_tls_security_level (value row"),
        "{msg}"
    );
    h.sql(
        "INSERT INTO parameters (id, parameter, module, conf_file, child, enabled, applied, action) \
         VALUES (204, 'smtp_sasl_auth_enable', 'postfix', 'main.cf', 2, 0, 1, 'NONE'); \
         INSERT INTO parameters (id, parameter, module, conf_file, parent, parent_name, child, enabled, applied, action) \
         VALUES (369, 'encrypt', 'postfix', 'main.cf', '368', 'smtp_tls_security_level', 1, 0, 1, 'NONE');",
    );
    // The test itself rewrote the key and rows: compare everything else.
    let mut after = h.snapshot();
    let mut before = before;
    for snap in [&mut before, &mut after] {
        snap.files.remove(&h.db_path());
        snap.files.remove(&key);
        snap.rows.clear();
    }
    assert_eq!(after, before);
}

#[test]
fn unreadable_args_file_is_reported_as_json() {
    let out = assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
        .arg("/nonexistent/args.json")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["failed"], true);
    let out = assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
        .args(["apply", "--args-file", "-"])
        .write_stdin("{not json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "invalid_args");
}

#[test]
fn checked_in_schema_matches_the_types() {
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schema/relay_host.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        shipped,
        hermes_relayhost::args::schema(),
        "schema/relay_host.schema.json is stale: run `hermes-relayhost schema > schema/relay_host.schema.json`"
    );
}
