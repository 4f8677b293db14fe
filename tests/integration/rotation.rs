//! Key rotation (re-encrypt every credential, install the key, keep the old one), surviving a
//! crash at every step; the CBC format; per-domain credentials.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{Hermes, Outcome, PASSWORD, ids, relay};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hermes_relayhost::crypto::{Cipher, Key};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const KEY: &str = "opt/hermes/keys/hermes.key";

/// A relay with credentials and three per-domain rows, two of them authenticated.
fn populated(h: &Hermes) {
    h.run(relay()).assert_ok();
    for (domain, user, pass, auth) in [
        ("a.example", "ua", "pa", "YES"),
        ("b.example", "ub", "pb:with colon", "yes"),
        ("c.example", "", "", "NO"),
    ] {
        h.add_transport(domain, &format!("mx.{domain}"), Some(""), auth, user, pass);
    }
    assert_eq!(
        h.run(relay())["changed"],
        true,
        "sasl_passwd gains the domain lines"
    );
}

fn rotate(h: &Hermes, extra: Value) -> Value {
    let mut args = json!({"root": h.root, "rotate_key": true});
    if let Some(db) = h.base.get("database") {
        args["database"] = db.clone();
    }
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    h.run_raw(&args).json
}

/// Every stored credential, decrypted with `key` (panics if one does not decrypt).
fn plaintexts(h: &Hermes, key: &Key) -> Vec<String> {
    let mut stored = vec![
        h.setting("relay_host_username").unwrap(),
        h.setting("relay_host_password").unwrap(),
    ];
    for row in h
        .db
        .rows("SELECT authentication_username, authentication_password FROM transport ORDER BY id")
    {
        stored.extend(row.into_iter().map(Option::unwrap_or_default));
    }
    stored
        .iter()
        .map(|v| key.decrypt(v, "row").unwrap().expose_secret().to_string())
        .collect()
}

fn backups(h: &Hermes) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(h.root.join("opt/hermes/keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("hermes.key.bak-"))
        .collect();
    found.sort();
    found
}

#[test]
fn rotation_reencrypts_everything_and_keeps_the_old_key() {
    let h = Hermes::new();
    populated(&h);
    let old_key = fs::read_to_string(h.root.join(KEY)).unwrap();
    let before = plaintexts(&h, &h.key());
    let sasl = h.file("sasl_passwd").unwrap();

    let out = rotate(&h, json!({}));
    out.assert_ok();
    assert_eq!(out["changed"], true);
    assert_eq!(out["reencrypted"], 6, "{out}");
    let new_key = fs::read_to_string(h.root.join(KEY)).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(plaintexts(&h, &h.key()), before);
    let backup = backups(&h);
    assert_eq!(backup.len(), 1);
    assert_eq!(fs::read_to_string(&backup[0]).unwrap(), old_key);
    assert_eq!(
        fs::metadata(&backup[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(out["key_backup"], json!(backup[0]));
    assert!(!h.root.join("opt/hermes/keys/hermes.key.new").exists());

    // openssl decrypts what we wrote with the new key: still Hermes's ECB format.
    let cipher = h.setting("relay_host_password").unwrap();
    assert_eq!(h.openssl_decrypt(&cipher), PASSWORD);

    // Nothing else changed: the relay run finds everything in place.
    assert_eq!(h.file("sasl_passwd").unwrap(), sasl);
    assert_eq!(h.run(relay())["changed"], false);
    // Each rotation keeps its own backup.
    assert_eq!(rotate(&h, json!({}))["changed"], true);
    assert_eq!(backups(&h).len(), 2);
    assert_eq!(plaintexts(&h, &h.key()), before);
}

#[test]
fn check_mode_counts_and_writes_nothing() {
    let h = Hermes::new();
    populated(&h);
    let before = h.snapshot();
    let out = rotate(&h, json!({"_ansible_check_mode": true}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["reencrypted"], 6);
    assert!(out["msg"].as_str().unwrap().contains("would re-encrypt 6"));
    assert_eq!(
        h.snapshot(),
        before,
        "no row, key file, backup or staged key"
    );
}

#[test]
fn current_key_changes_nothing_and_a_given_key_is_installed() {
    let h = Hermes::new();
    populated(&h);
    let before = h.snapshot();
    let out = rotate(&h, json!({"new_key_file": h.root.join(KEY)}));
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(h.snapshot(), before);

    let given = h.dir.path().join("next.key");
    fs::write(&given, Key::generate().unwrap().to_file_text().as_bytes()).unwrap();
    let plain = plaintexts(&h, &h.key());
    assert_eq!(rotate(&h, json!({"new_key_file": given}))["changed"], true);
    assert_eq!(
        fs::read_to_string(h.root.join(KEY)).unwrap(),
        fs::read_to_string(&given).unwrap()
    );
    assert_eq!(plaintexts(&h, &h.key()), plain);
    assert_eq!(rotate(&h, json!({"new_key_file": given}))["changed"], false);
}

#[test]
fn undecryptable_value_stops_before_any_write() {
    let h = Hermes::new();
    populated(&h);
    h.sql("UPDATE transport SET authentication_password = 'Zm9vYmFyYmF6cXV4cXV1eA==' WHERE domain = 'b.example'");
    let before = h.snapshot();
    let out = rotate(&h, json!({}));
    assert_eq!(out["error"]["code"], "decrypt_failed", "{out}");
    assert!(
        out["msg"]
            .as_str()
            .unwrap()
            .contains("transport#2 (b.example).authentication_password"),
        "{out}"
    );
    assert_eq!(h.snapshot(), before);
}

#[test]
fn a_rotation_takes_no_relay_options() {
    let h = Hermes::new();
    let out = rotate(&h, json!({"host": "smtp.example.com"}));
    assert_eq!(out["error"]["code"], "conflicting_options");
    assert!(out["msg"].as_str().unwrap().contains("'host'"));
    let out = h.run(json!({"host": "smtp.example.com", "new_key_file": "/x"}));
    assert_eq!(out["error"]["code"], "conflicting_options");
}

#[test]
fn rotation_can_switch_to_cbc_and_back() {
    let h = Hermes::new();
    populated(&h);
    let plain = plaintexts(&h, &h.key());
    let out = rotate(&h, json!({"new_cipher": "cbc"}));
    out.assert_ok();
    let cbc = h.key().with_cipher(Cipher::Cbc);
    assert_eq!(plaintexts(&h, &cbc), plain);
    // CBC values carry an IV: 16 more bytes than ECB.
    let stored = h.setting("relay_host_username").unwrap();
    assert_eq!(B64.decode(&stored).unwrap().len(), 32);
    let mut args = relay();
    args["cipher"] = json!("cbc");
    assert_eq!(
        h.run(args)["changed"],
        false,
        "reading with the configured format"
    );
    assert_eq!(
        h.run(relay())["error"]["code"],
        "decrypt_failed",
        "no guessing"
    );
    let out = rotate(&h, json!({"cipher": "cbc", "new_cipher": "ecb"}));
    out.assert_ok();
    assert_eq!(plaintexts(&h, &h.key()), plain);
}

/// Runs a rotation under strace, killed (SIGKILL) when it reaches the `n`th `syscall`.
fn rotate_killed_at(h: &Hermes, syscall: &str, n: u32) {
    let args = h.dir.path().join("rotate.json");
    let mut json = json!({"root": h.root, "rotate_key": true});
    if let Some(db) = h.base.get("database") {
        json["database"] = db.clone();
    }
    fs::write(&args, json.to_string()).unwrap();
    let out = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e"])
        .arg(format!("inject={syscall}:signal=KILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&args)
        .output()
        .expect("strace (scripts/install-test-deps.sh installs it)");
    assert!(
        out.stdout.is_empty(),
        "the run was not killed at {syscall}#{n}: {out:?}"
    );
}

#[test]
fn a_crash_at_any_step_is_finished_by_the_next_run() {
    // Each step of the protocol, as the syscall that carries it out.
    for (step, syscall, n) in [
        ("staging the new key", "renameat", 1),
        ("committing the re-encrypted rows", "unlink", 1),
        ("writing the backup", "renameat", 2),
        ("installing the new key", "rename", 1),
    ] {
        let h = Hermes::new();
        populated(&h);
        let old_key = fs::read_to_string(h.root.join(KEY)).unwrap();
        let plain = plaintexts(&h, &h.key());
        rotate_killed_at(&h, syscall, n);
        let out = rotate(&h, json!({}));
        out.assert_ok();
        assert_eq!(
            plaintexts(&h, &h.key()),
            plain,
            "{step}: every value readable by the new key"
        );
        assert!(
            backups(&h)
                .iter()
                .any(|b| fs::read_to_string(b).unwrap() == old_key),
            "{step}: the old key is kept"
        );
        assert!(
            !h.root.join("opt/hermes/keys/hermes.key.new").exists(),
            "{step}"
        );
        assert_eq!(h.run(relay())["changed"], false, "{step}");
    }
}

#[test]
fn mariadb_half_done_rotation_is_detected_and_finished() {
    let h = Hermes::mariadb();
    populated(&h);
    let plain = plaintexts(&h, &h.key());
    // The state a crash between two row writes leaves: the new key staged, some values
    // already re-encrypted with it, the rest still under the old key.
    let staged = h.root.join("opt/hermes/keys/hermes.key.new");
    let new = Key::generate().unwrap();
    fs::write(&staged, new.to_file_text().as_bytes()).unwrap();
    let half = new
        .encrypt(&secrecy::SecretString::from("relayuser"))
        .unwrap();
    h.sql(&format!(
        "UPDATE system_settings SET value = '{half}' WHERE parameter = 'relay_host_username'"
    ));
    let ua = new.encrypt(&secrecy::SecretString::from("ua")).unwrap();
    h.sql(&format!(
        "UPDATE transport SET authentication_username = '{ua}' WHERE domain = 'a.example'"
    ));

    let out = rotate(&h, json!({"_ansible_check_mode": true}));
    assert_eq!(out["already_rotated"], 2, "{out}");
    assert_eq!(out["reencrypted"], 4);
    let out = rotate(&h, json!({}));
    out.assert_ok();
    assert!(out["msg"].as_str().unwrap().contains("half-done"), "{out}");
    assert_eq!(
        fs::read_to_string(h.root.join(KEY)).unwrap(),
        new.to_file_text().as_str()
    );
    assert_eq!(plaintexts(&h, &h.key()), plain);
    assert_eq!(h.run(relay())["changed"], false);
}

#[test]
fn mariadb_rotation_crash_before_install_is_finished() {
    let h = Hermes::mariadb();
    populated(&h);
    let plain = plaintexts(&h, &h.key());
    rotate_killed_at(&h, "rename", 1);
    assert!(h.root.join("opt/hermes/keys/hermes.key.new").exists());
    let out = rotate(&h, json!({}));
    assert_eq!(out["already_rotated"], 6, "{out}");
    assert_eq!(plaintexts(&h, &h.key()), plain);
}

#[test]
fn per_domain_credentials_are_set_masked_and_idempotent() {
    let h = Hermes::new();
    populated(&h);
    let mut args = relay();
    args["transport_auth"] = json!([
        {"domain": "c.example", "username": "uc", "password": "new secret c"},
        {"domain": "A.example", "username": "ua", "password": "pa"}
    ]);
    args["_ansible_diff"] = json!(true);
    let run = h.run_raw(&h.args(args.clone()));
    let out = &run.json;
    assert_eq!(out["changed"], true, "{out}");
    assert!(!run.stdout.contains("new secret c"));
    let auth = out["invocation"]["module_args"]["transport_auth"].to_string();
    assert!(
        auth.contains("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") && !auth.contains("\"pa\""),
        "{auth}"
    );
    let rows = out["diff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["after_header"] == "hermes database rows")
        .unwrap();
    assert!(
        rows["after"].as_str().unwrap().contains(
            "transport#3 (c.example) authentication=\"YES\" username=\"uc\" password=******** (new)"
        ),
        "{rows}"
    );
    let sasl = h.file("sasl_passwd").unwrap();
    assert!(
        sasl.ends_with("[mx.c.example]:25\tuc:new secret c\n"),
        "{sasl}"
    );
    assert_eq!(
        h.postmap_query("[mx.c.example]:25").unwrap(),
        "uc:new secret c"
    );
    assert_eq!(h.run(args)["changed"], false);

    // Only per-domain options: the relay settings are kept as they are.
    let out = h.run(json!({"transport_auth": [{"domain": "a.example", "username": "ua", "password": "rotated"}]}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(
        h.param(ids::RELAYHOST_VALUE).parameter.as_deref(),
        Some("[smtp.example.com]:587")
    );
    assert!(
        h.file("sasl_passwd")
            .unwrap()
            .contains("[mx.a.example]:25\tua:rotated\n")
    );

    let out = h.run(
        json!({"transport_auth": [{"domain": "nope.example", "username": "u", "password": "p"}]}),
    );
    assert_eq!(out["error"]["code"], "invalid_args");
    assert!(out["msg"].as_str().unwrap().contains("nope.example"));
    let out = h.run(json!({"transport_auth": [{"domain": "a.example", "username": "u", "password": "p".repeat(176)}]}));
    assert_eq!(out["error"]["code"], "invalid_password");
    assert!(out["msg"].as_str().unwrap().contains("175"));
}
