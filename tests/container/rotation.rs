//! (b) Rotations on the container topology: a new relay password is installed and used by the
//! running Postfix (reloaded, not restarted); a key rotation re-encrypts the stored credentials
//! and leaves the relay working; `doctor` and `relay_host_info` find the host healthy.

use std::fs;

use serde_json::json;

use crate::common::{Outcome, PASSWORD, check};
use crate::relay::{USER, World};

/// `doctor` and `relay_host_info` both report every check passed, and write nothing.
fn assert_healthy(w: &World) {
    let c = &w.c;
    let before = c.snapshot();

    let doctor = c.cli(&["doctor"], &c.base);
    doctor.assert_no_secret(&[PASSWORD]);
    assert_eq!(doctor.code, 0, "{}\n{}", doctor.stdout, doctor.stderr);
    let out = doctor.json.assert_ok();
    let checks = out["checks"].as_array().unwrap();
    assert!(!checks.is_empty(), "{out}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{out:#}");
    assert_eq!(out["msg"], "doctor: all checks passed", "{out}");

    let mut args = c.base.clone();
    args["_ansible_module_name"] = json!("relay_host_info");
    let info = c.module(&args);
    info.assert_no_secret(&[PASSWORD]);
    assert_eq!(info.code, 0);
    let out = info.json.assert_ok();
    assert_eq!(out["changed"], false, "{out}");
    assert_eq!(out["healthy"], true, "{out:#}");
    assert_eq!(
        out["relay"],
        json!({"state": "present", "host": "127.0.0.1", "port": w.sh.port, "tls": "none",
               "auth": true, "username": USER}),
        "{out}"
    );
    for name in ["key", "database", "credentials", "file_modes", "drift"] {
        assert_eq!(check(out, name)["ok"], true, "{name}: {out:#}");
    }

    assert_eq!(
        c.snapshot(),
        before,
        "doctor or relay_host_info wrote something"
    );
}

#[test]
fn password_rotation_authenticates_with_the_new_password() {
    let old = "old-secret 1";
    let new = "new-secret 2";
    let w = World::new(&[(USER, old)]);
    w.apply(w.relay(old));
    assert_eq!(w.deliver("container-b-before")["auth_user"], USER);
    let pid = w.c.master_pid();

    w.sh.set_users(&[(USER, new)]);
    let out = w.apply(w.relay(new));
    assert!(
        !out.to_string().contains(new),
        "the new password leaked into the result"
    );
    assert_eq!(w.c.decrypted("relay_host_password"), new);
    let key = format!("[127.0.0.1]:{}", w.sh.port);
    assert_eq!(
        w.c.postmap_query(&key).as_deref(),
        Some(format!("{USER}:{new}").as_str())
    );
    let m = w.deliver("container-b-after");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert!(
        w.sh.failed_logins().is_empty(),
        "Postfix tried the old password: {}",
        w.why()
    );
    assert_eq!(w.c.master_pid(), pid, "Postfix was restarted, not reloaded");
}

#[test]
fn key_rotation_keeps_the_relay_and_the_host_healthy() {
    let w = World::new(&[(USER, PASSWORD)]);
    let c = &w.c;
    w.apply(w.relay(PASSWORD));
    assert_healthy(&w);

    let key_file = c.t.root.join("opt/hermes/keys/hermes.key");
    let old_key = fs::read_to_string(&key_file).unwrap();
    let old_cipher = c.setting("relay_host_password");
    let sasl = c.file("sasl_passwd").unwrap();

    let run = c.cli(&["rotate-key"], &c.base);
    run.assert_no_secret(&[PASSWORD]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = run.json.assert_ok();
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["reencrypted"], 2, "{out}");

    let new_key = fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    let backup = out["key_backup"].as_str().expect("a key backup");
    assert_eq!(fs::read_to_string(backup).unwrap(), old_key);
    assert_ne!(c.setting("relay_host_password"), old_cipher);
    assert_eq!(c.decrypted("relay_host_username"), USER);
    assert_eq!(c.decrypted("relay_host_password"), PASSWORD);
    assert_eq!(c.file("sasl_passwd").unwrap(), sasl);

    // The relay run finds everything in place under the new key, and mail still goes out.
    let again = c.apply(w.relay(PASSWORD));
    again.assert_ok();
    assert_eq!(again["changed"], false, "{again:#}");
    assert_eq!(
        w.deliver("container-b-key")["auth_user"],
        USER,
        "{}",
        w.why()
    );
    assert_healthy(&w);
}
