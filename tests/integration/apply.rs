//! The save cascade end to end on the embedded store: rows as Hermes writes them, files,
//! idempotency, check mode, masking, credential keeping, absent, legacy migration.

use crate::common::{Hermes, Outcome, PASSWORD, ids, relay, row};
use serde_json::json;

/// The diff entry whose header ends with `name` (`sasl_passwd`, `main.cf`, `rows`).
fn diff_entry<'a>(out: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    out["diff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["after_header"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no diff for {name}: {out}"))
}

fn has_directive(main_cf: &str, name: &str) -> bool {
    main_cf
        .lines()
        .any(|l| l.split([' ', '=']).next() == Some(name))
}

#[test]
fn first_apply_writes_hermes_rows_and_files() {
    let h = Hermes::new();
    let out = h.run(relay());
    out.assert_ok();
    assert_eq!(out["changed"], true);
    assert_eq!(out["relayhost"], "[smtp.example.com]:587");

    let applied = |p: &str, name: Option<&str>| row(p, name, 1);
    assert_eq!(
        h.param(ids::RELAYHOST),
        applied("relayhost", Some("Relay Host"))
    );
    assert_eq!(
        h.param(ids::RELAYHOST_VALUE),
        applied("[smtp.example.com]:587", Some("smtp.example.com"))
    );
    assert_eq!(
        h.param(ids::SASL_AUTH),
        applied("smtp_sasl_auth_enable", None)
    );
    assert_eq!(h.param(ids::SASL_AUTH_VALUE), applied("yes", None));
    assert_eq!(
        h.param(ids::PASSWORD_MAPS),
        applied("smtp_sasl_password_maps", Some(""))
    );
    assert_eq!(
        h.param(ids::PASSWORD_MAPS_VALUE),
        applied("hash:/etc/postfix/sasl_passwd", None)
    );
    assert_eq!(
        h.param(ids::TLS_LEVEL),
        applied("smtp_tls_security_level", None)
    );
    assert_eq!(h.param(ids::TLS_LEVEL_VALUE), applied("may", None));
    assert_eq!(h.decrypted("relay_host_username"), "relayuser");
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);

    let dir = h.postfix_dir();
    let main_cf = h.file("main.cf").unwrap();
    for line in [
        "myhostname = hermes.example.test\n",
        "mynetworks = 127.0.0.0/8, 10.0.0.0/8\n",
        "relayhost = [smtp.example.com]:587\n",
        "smtp_sasl_auth_enable = yes\n",
        &format!(
            "smtp_sasl_password_maps = hash:{}/sasl_passwd\n",
            dir.display()
        ),
        "smtp_tls_security_level = may\n",
        "smtpd_banner = $myhostname ESMTP Hermes SEG\n",
    ] {
        assert!(main_cf.contains(line), "main.cf lacks {line:?}:\n{main_cf}");
    }
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!("[smtp.example.com]:587\trelayuser:{PASSWORD}\n")
    );
    assert_eq!(h.mode("sasl_passwd"), 0o600);
    assert_eq!(h.mode("sasl_passwd.db"), 0o600);
    assert_eq!(h.mode("main.cf"), 0o644);
    assert_eq!(
        h.postmap_query("[smtp.example.com]:587").unwrap(),
        format!("relayuser:{PASSWORD}")
    );
    // main.cf.HERMES is the write-time backup of the previous main.cf.
    let backup = h.file("main.cf.HERMES").unwrap();
    assert!(!has_directive(&backup, "relayhost"));
    assert!(backup.contains("inet_interfaces = loopback-only"));
}

#[test]
fn second_identical_apply_changes_and_touches_nothing() {
    let h = Hermes::new();
    assert_eq!(h.run(relay())["changed"], true);
    let before = h.snapshot();
    let out = h.run(relay());
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(out["msg"], "no change");
    assert_eq!(h.snapshot(), before, "a no-change run wrote something");
}

#[test]
fn no_change_run_creates_no_lock_file() {
    let h = Hermes::new();
    h.run(relay());
    std::fs::remove_file(h.postfix_dir().join(".hermes-relayhost.lock")).unwrap();
    assert_eq!(h.run(relay())["changed"], false);
    assert!(!h.postfix_dir().join(".hermes-relayhost.lock").exists());
}

#[test]
fn check_mode_reports_and_writes_nothing() {
    let h = Hermes::new();
    let before = h.snapshot();
    let out = h.run(json!({
        "host": "smtp.example.com", "port": 587, "username": "relayuser",
        "password": PASSWORD, "_ansible_check_mode": true, "_ansible_diff": true,
    }));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["check_mode"], true);
    assert!(out["msg"].as_str().unwrap().starts_with("would change"));
    assert_eq!(out["diff"].as_array().unwrap().len(), 3);
    assert_eq!(h.snapshot(), before, "check mode wrote something");
    assert!(!h.postfix_dir().join(".hermes-relayhost.lock").exists());
}

#[test]
fn diff_masks_passwords_everywhere() {
    let h = Hermes::new();
    h.run(relay());
    let mut args = h.args(json!({
        "host": "smtp.example.com", "port": 587, "username": "relayuser",
        "password": "N3w-s3cret!", "_ansible_diff": true,
    }));
    args["_ansible_check_mode"] = json!(true);
    let checked = h.run_raw(&args);
    args["_ansible_check_mode"] = json!(false);
    let applied = h.run_raw(&args);
    for run in [&checked, &applied] {
        run.assert_no_secret(&[PASSWORD, "N3w-s3cret!", "s3cret", "p@ss"]);
        let sasl = diff_entry(&run.json, "sasl_passwd");
        assert_eq!(
            sasl["before"],
            "[smtp.example.com]:587\trelayuser:******** (old)\n"
        );
        assert_eq!(
            sasl["after"],
            "[smtp.example.com]:587\trelayuser:******** (new)\n"
        );
        let rows = diff_entry(&run.json, "hermes database rows");
        assert!(
            rows["before"]
                .as_str()
                .unwrap()
                .contains("relay_host_password = ******** (old)")
        );
        assert!(
            rows["after"]
                .as_str()
                .unwrap()
                .contains("relay_host_password = ******** (new)")
        );
        assert_eq!(
            run.json["invocation"]["module_args"]["password"],
            "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        );
    }
    assert_eq!(h.decrypted("relay_host_password"), "N3w-s3cret!");
}

#[test]
fn cli_diff_on_stderr_is_masked_and_exit_code_gates_drift() {
    let h = Hermes::new();
    let args = h.args(relay());
    let run = |extra: &[&str]| {
        let out = assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
            .args(["apply", "--args-file", "-"])
            .args(extra)
            .write_stdin(serde_json::to_vec(&args).unwrap())
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
        (out.status.code().unwrap(), stdout, stderr)
    };
    let (code, stdout, stderr) = run(&["--check", "--diff", "--exit-code"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("+relayhost = [smtp.example.com]:587"),
        "{stderr}"
    );
    assert!(
        stderr.contains("+[smtp.example.com]:587\trelayuser:********"),
        "{stderr}"
    );
    let (code, ..) = run(&[]);
    assert_eq!(code, 0);
    let (code, stdout, _) = run(&["--check", "--exit-code"]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn blank_or_omitted_password_keeps_the_stored_one() {
    let h = Hermes::new();
    h.run(relay());
    let cipher = h.setting("relay_host_password").unwrap();
    for password in [json!(""), json!(null)] {
        let out = h.run(json!({
            "host": "smtp.example.com", "port": 587, "username": "relayuser",
            "password": password,
        }));
        assert_eq!(out["changed"], false, "{out}");
        assert_eq!(h.setting("relay_host_password").unwrap(), cipher);
    }
    // A new username with the password omitted keeps the password.
    let out = h.run(json!({"host": "smtp.example.com", "port": 587, "username": "other"}));
    assert_eq!(out["changed"], true);
    assert_eq!(h.decrypted("relay_host_username"), "other");
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!("[smtp.example.com]:587\tother:{PASSWORD}\n")
    );
}

#[test]
fn rotating_the_password_alone_keeps_the_rest() {
    let h = Hermes::new();
    h.run(relay());
    let main_cf = h.file("main.cf").unwrap();
    let out = h.run(json!({"host": "smtp.example.com", "port": 587, "password": "rotated-pw"}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["changes"], json!(["rows", "sasl_passwd"]));
    assert_eq!(h.decrypted("relay_host_username"), "relayuser");
    assert_eq!(h.decrypted("relay_host_password"), "rotated-pw");
    assert_eq!(h.file("main.cf").unwrap(), main_cf);
    assert_eq!(
        h.postmap_query("[smtp.example.com]:587").unwrap(),
        "relayuser:rotated-pw"
    );
}

#[test]
fn auth_false_clears_credentials_and_sasl_rows() {
    let h = Hermes::new();
    h.run(relay());
    let out = h.run(json!({"host": "smtp.example.com", "port": 587, "auth": "no", "tls": "none"}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(h.param(ids::SASL_AUTH).enabled, 0);
    assert_eq!(h.param(ids::SASL_AUTH_VALUE), row("no", None, 0));
    assert_eq!(h.param(ids::PASSWORD_MAPS).enabled, 0);
    assert_eq!(h.param(ids::PASSWORD_MAPS_VALUE).enabled, 0);
    assert_eq!(h.param(ids::TLS_LEVEL).enabled, 0);
    assert_eq!(
        h.param(ids::TLS_LEVEL_VALUE),
        row("may", None, 0),
        "tls none leaves the value row's value"
    );
    assert_eq!(h.setting("relay_host_username").unwrap(), "");
    assert_eq!(h.setting("relay_host_password").unwrap(), "");
    assert_eq!(h.file("sasl_passwd").unwrap(), "");
    let main_cf = h.file("main.cf").unwrap();
    assert!(main_cf.contains("relayhost = [smtp.example.com]:587\n"));
    for directive in [
        "smtp_sasl_auth_enable",
        "smtp_sasl_password_maps",
        "smtp_tls_security_level",
    ] {
        assert!(!has_directive(&main_cf, directive), "{directive} still set");
    }
}

#[test]
fn state_absent_disables_relaying_and_rebuilds_sasl_passwd() {
    let h = Hermes::new();
    h.add_transport(
        "partner.example",
        "mx1.partner.example",
        Some(""),
        "yes",
        "partneruser",
        "partnerpass",
    );
    h.run(
        json!({"host": "smtp.example.com", "port": 587, "username": "relayuser",
                 "password": PASSWORD, "tls": "encrypt"}),
    );
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!(
            "[smtp.example.com]:587\trelayuser:{PASSWORD}\n\
             [mx1.partner.example]:25\tpartneruser:partnerpass\n"
        )
    );
    let out = h.run(json!({"state": "absent"}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(
        h.param(ids::RELAYHOST),
        row("relayhost", Some("Relay Host"), 0)
    );
    assert_eq!(h.param(ids::RELAYHOST_VALUE), row("", Some(""), 0));
    assert_eq!(h.param(ids::SASL_AUTH).enabled, 0);
    assert_eq!(h.param(ids::SASL_AUTH_VALUE), row("no", None, 0));
    assert_eq!(
        h.param(ids::PASSWORD_MAPS),
        row("smtp_sasl_password_maps", Some(""), 0)
    );
    assert_eq!(h.param(ids::PASSWORD_MAPS_VALUE).enabled, 0);
    assert_eq!(h.param(ids::TLS_LEVEL).enabled, 0);
    assert_eq!(h.param(ids::TLS_LEVEL_VALUE).enabled, 0);
    assert_eq!(h.setting("relay_host_username").unwrap(), "");
    assert_eq!(h.setting("relay_host_password").unwrap(), "");
    // The stale relay line is gone; the per-domain line stays.
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        "[mx1.partner.example]:25\tpartneruser:partnerpass\n"
    );
    assert_eq!(h.postmap_query("[smtp.example.com]:587"), None);
    assert!(!has_directive(&h.file("main.cf").unwrap(), "relayhost"));
    assert_eq!(h.run(json!({"state": "absent"}))["changed"], false);
}

#[test]
fn legacy_plaintext_credentials_migrate_split_at_the_first_colon() {
    let h = Hermes::new();
    h.store_legacy_pair("olduser:old:pass:word");
    let out = h.run(json!({"host": "smtp.example.com", "port": 587}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(h.param(ids::PASSWORD_MAPS).name.as_deref(), Some(""));
    assert_eq!(h.decrypted("relay_host_username"), "olduser");
    assert_eq!(h.decrypted("relay_host_password"), "old:pass:word");
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        "[smtp.example.com]:587\tolduser:old:pass:word\n"
    );
    assert_eq!(
        h.run(json!({"host": "smtp.example.com", "port": 587}))["changed"],
        false
    );
}

#[test]
fn missing_credential_rows_are_created() {
    let h = Hermes::new();
    h.sql("DELETE FROM system_settings");
    let out = h.run(json!({"host": "smtp.example.com", "auth": false}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(h.setting("relay_host_username").as_deref(), Some(""));
    assert_eq!(h.setting("relay_host_password").as_deref(), Some(""));
    h.sql("DELETE FROM system_settings");
    h.run(relay());
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
}

#[test]
fn rows_left_pending_by_other_pages_are_applied_and_reported() {
    let h = Hermes::new();
    h.run(relay());
    h.sql("UPDATE parameters SET parameter = 'mail.example.test', applied = 2, action = 'APPLY' WHERE id = 11");
    let out = h.run(relay());
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(
        out["pending_applied"],
        json!(["parameters#11 mail.example.test"])
    );
    assert!(
        h.file("main.cf")
            .unwrap()
            .contains("myhostname = mail.example.test\n")
    );
    assert_eq!(h.param(11).applied, 1);
    assert_eq!(h.param(11).action, "NONE");
    assert_eq!(h.run(relay())["changed"], false);
}

#[test]
fn stored_ciphertext_is_hermes_compatible_openssl_ecb() {
    let h = Hermes::new();
    h.run(relay());
    let cipher = h.setting("relay_host_password").unwrap();
    assert_eq!(h.openssl_decrypt(&cipher), PASSWORD);
}

#[test]
fn tls_levels_and_port_strings() {
    let h = Hermes::new();
    h.run(json!({"host": "192.0.2.10", "port": "2525", "auth": false, "tls": "encrypt"}));
    assert_eq!(
        h.param(ids::RELAYHOST_VALUE),
        row("[192.0.2.10]:2525", Some("192.0.2.10"), 1)
    );
    assert_eq!(h.param(ids::TLS_LEVEL_VALUE), row("encrypt", None, 1));
    h.run(json!({"host": "2001:db8::25", "auth": false}));
    assert_eq!(
        h.param(ids::RELAYHOST_VALUE),
        row("[ipv6:2001:db8::25]:25", Some("2001:db8::25"), 1)
    );
    assert!(
        h.file("main.cf")
            .unwrap()
            .contains("relayhost = [ipv6:2001:db8::25]:25\n")
    );
}

#[test]
fn transport_lines_follow_the_relay_line_with_warnings_for_skips() {
    let h = Hermes::new();
    for (domain, destination, port, auth) in [
        ("a.example", "mx.a.example", Some("2525"), "YES"),
        ("b.example", "mx.b.example", None, "NO"),
        ("c.example", "smtp.example.com", Some("587"), "Yes"),
    ] {
        h.add_transport(domain, destination, port, auth, "du", "dp");
    }
    let out = h.run(relay());
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!("[smtp.example.com]:587\trelayuser:{PASSWORD}\n[mx.a.example]:2525\tdu:dp\n")
    );
    let warnings = out["warnings"].to_string();
    assert!(warnings.contains("transport#3 (c.example)"), "{warnings}");
}

#[test]
fn undecryptable_stored_value_fails_naming_the_row_and_changes_nothing() {
    let h = Hermes::new();
    h.add_transport_stored(
        "bad.example",
        "mx.bad.example",
        None,
        "YES",
        Some("AAAA"),
        Some("AAAA"),
    );
    let before = h.snapshot();
    let out = h.run(relay());
    out.assert_failed("decrypt_failed");
    assert!(
        out["msg"]
            .as_str()
            .unwrap()
            .contains("transport#1 (bad.example)"),
        "{out}"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn stored_values_never_leak_into_diffs_or_break_sasl_passwd() {
    // Legacy plaintext in the password_maps name: migrated, and the diff masks the old name.
    let h = Hermes::new();
    h.store_legacy_pair("legacyuser:L3gacySecret");
    h.sql(&format!(
        "UPDATE parameters SET enabled = 1 WHERE id IN ({}, {})",
        ids::RELAYHOST,
        ids::RELAYHOST_VALUE
    ));
    let run = h.run_raw(&h.args(json!({"host": "smtp.example.com", "_ansible_diff": true})));
    assert_eq!(run.json["changed"], true, "{}", run.stdout);
    run.assert_no_secret(&["L3gacySecret"]);
    assert!(
        run.stdout.contains("(legacy credentials)"),
        "{}",
        run.stdout
    );

    // A per-domain password with a line break (written by another tool) is skipped, named,
    // and no part of it reaches the diff or an extra map entry.
    let h = Hermes::new();
    h.add_transport(
        "x.example",
        "mx.x.example",
        None,
        "YES",
        "xu",
        "abc\nTOPSECRETTAIL",
    );
    let run = h.run_raw(&h.args(json!({"host": "smtp.example.com", "port": 587,
        "username": "relayuser", "password": PASSWORD, "_ansible_diff": true})));
    run.assert_ok();
    run.assert_no_secret(&["TOPSECRETTAIL"]);
    assert!(
        run.json["warnings"]
            .to_string()
            .contains("transport#1 (x.example): the password holds a line break")
    );
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!("[smtp.example.com]:587\trelayuser:{PASSWORD}\n")
    );

    // The same in the relay credentials is an error that says what to do.
    let h = Hermes::new();
    h.run(relay());
    h.sql(&format!(
        "UPDATE system_settings SET value = '{}' WHERE parameter = 'relay_host_password'",
        h.encrypt("two\nlines")
    ));
    let run =
        h.run_raw(&h.args(json!({"host": "smtp.example.com", "port": 587, "_ansible_diff": true})));
    assert_eq!(
        run.json["error"]["code"], "invalid_password",
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("lines"), "{}", run.stdout);
}

#[test]
fn a_new_user_and_password_together_still_show_the_rotation() {
    let h = Hermes::new();
    h.run(relay());
    let out = h.run(
        json!({"host": "smtp.example.com", "port": 587, "username": "someone",
                           "password": "another", "_ansible_diff": true}),
    );
    let sasl = diff_entry(&out, "sasl_passwd");
    assert_eq!(
        sasl["before"],
        "[smtp.example.com]:587\trelayuser:******** (old)\n"
    );
    assert_eq!(
        sasl["after"],
        "[smtp.example.com]:587\tsomeone:******** (new)\n"
    );
}
