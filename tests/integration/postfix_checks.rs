//! Nothing we install can break Postfix: the new main.cf is checked by real `postconf -n`
//! before install, map types and modes are handled, extra directives take Hermes's dual-row
//! form, and the doctor reports what would make relaying fail.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::{Hermes, Outcome, PASSWORD, assert_no_secret, check, leftovers, relay};
use serde_json::{Value, json};

fn template(h: &Hermes) -> std::path::PathBuf {
    h.root.join("opt/hermes/conf_files/main.cf.HERMES")
}

#[test]
fn invalid_main_cf_is_rejected_before_install() {
    let h = Hermes::new();
    let path = template(&h);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("this line is not a parameter\n");
    fs::write(&path, text).unwrap();
    let before = h.snapshot();
    let out = h.run(relay());
    assert_eq!(out["error"]["code"], "invalid_postfix_config", "{out}");
    assert!(
        out["msg"].as_str().unwrap().contains("missing '='"),
        "{out}"
    );
    // A run that meant to change things took the lock; its empty lock file is all it leaves.
    let mut after = h.snapshot();
    after
        .files
        .remove(&h.postfix_dir().join(".hermes-relayhost.lock"));
    assert_eq!(after, before);
    let left = leftovers(&h.postfix_dir());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn wrapper_and_sasl_options_are_dual_rows_created_once() {
    let h = Hermes::new();
    let mut args = relay();
    args["port"] = json!(465);
    args["tls"] = json!("wrapper");
    args["sasl_security_options"] = json!("noanonymous");
    args["sasl_tls_security_options"] = json!("noanonymous, noplaintext");
    assert_eq!(h.run(args.clone())["changed"], true);
    let rows = h.db.rows(
        "SELECT p.id, p.parameter, p.enabled, v.parameter, v.parent_name, v.enabled \
         FROM parameters p JOIN parameters v ON v.parent = CAST(p.id AS TEXT) \
         WHERE p.child = 2 AND p.id > 369 ORDER BY p.id",
    );
    let names: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[1].clone().unwrap(), r[3].clone().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("smtp_tls_wrappermode".into(), "yes".into()),
            ("smtp_sasl_security_options".into(), "noanonymous".into()),
            (
                "smtp_sasl_tls_security_options".into(),
                "noanonymous, noplaintext".into()
            ),
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r[2].as_deref() == Some("1") && r[5].as_deref() == Some("1"))
    );
    assert!(
        rows.iter().all(|r| r[4] == r[1]),
        "parent_name names the directive"
    );
    let main_cf = h.file("main.cf").unwrap();
    for line in [
        "smtp_tls_security_level = encrypt\n",
        "smtp_tls_wrappermode = yes\n",
        "smtp_sasl_security_options = noanonymous\n",
        "smtp_sasl_tls_security_options = noanonymous, noplaintext\n",
    ] {
        assert!(main_cf.contains(line), "{line:?} missing:\n{main_cf}");
    }
    assert_eq!(h.run(args.clone())["changed"], false);

    // Back to STARTTLS: the wrapper rows are disabled, not deleted; SASL options stay.
    args["tls"] = json!("may");
    args["port"] = json!(587);
    args.as_object_mut()
        .unwrap()
        .remove("sasl_security_options");
    assert_eq!(h.run(args.clone())["changed"], true);
    let main_cf = h.file("main.cf").unwrap();
    assert!(!main_cf.contains("smtp_tls_wrappermode"));
    assert!(main_cf.contains("smtp_sasl_security_options = noanonymous\n"));
    assert_eq!(
        h.db.rows("SELECT id FROM parameters WHERE id > 369").len(),
        6
    );

    let out = h.run(json!({"host": "smtp.example.com", "sasl_security_options": "noanonymus"}));
    assert_eq!(out["error"]["code"], "invalid_args");
    assert!(out["msg"].as_str().unwrap().contains("noanonymus"));
}

#[test]
fn map_types_follow_the_password_maps_row() {
    for (map, file) in [("lmdb", Some("sasl_passwd.lmdb")), ("texthash", None)] {
        let h = Hermes::new();
        h.set_password_map(&format!("{map}:/etc/postfix/sasl_passwd"));
        // The hash map `init` built for its seed rows: not the one this row names.
        fs::remove_file(h.postfix_dir().join("sasl_passwd.db")).unwrap();
        let out = h.run(relay());
        out.assert_ok();
        assert!(
            h.file("main.cf")
                .unwrap()
                .contains(&format!("smtp_sasl_password_maps = {map}:")),
            "{map}"
        );
        assert!(!h.postfix_dir().join("sasl_passwd.db").exists(), "{map}");
        if let Some(file) = file {
            assert_eq!(h.mode(file), 0o600, "{map}");
        }
        assert_eq!(h.run(relay())["changed"], false, "{map}");
    }
}

#[test]
fn world_readable_map_is_made_private_again() {
    let h = Hermes::new();
    h.run(relay());
    let map = h.postfix_dir().join("sasl_passwd.db");
    fs::set_permissions(&map, fs::Permissions::from_mode(0o644)).unwrap();
    let out = h.run(relay());
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(out["changes"], json!(["sasl_passwd"]));
    assert_eq!(h.mode("sasl_passwd.db"), 0o600);
    assert_eq!(h.run(relay())["changed"], false);
}

fn doctor(h: &Hermes, extra: Value) -> Value {
    let mut args = h.args(extra);
    args["check_only"] = json!(true);
    h.run_raw(&args).json
}

#[test]
fn doctor_passes_a_healthy_host_and_writes_nothing() {
    let h = Hermes::new();
    h.run(relay());
    let before = h.snapshot();
    let out = doctor(&h, json!({}));
    out.assert_ok();
    assert_eq!(out["changed"], false);
    for name in [
        "key",
        "database",
        "credentials",
        "sasl_plugins",
        "map_type",
        "relay_key",
        "postfix_relayhost",
        "file_modes",
        "drift",
    ] {
        assert_eq!(check(&out, name)["ok"], true, "{name}: {out}");
    }
    assert_eq!(h.snapshot(), before);
    // With relay options, it says whether they are in place.
    let out = doctor(&h, json!({"host": "other.example.com", "auth": false}));
    assert_eq!(check(&out, "desired")["ok"], false, "{out}");
    assert_eq!(h.snapshot(), before);
    // The CLI form exits 1 on a failed check.
    let cli = assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
        .args(["doctor", "--args-file", "-"])
        .write_stdin(serde_json::to_vec(&h.args(json!({}))).unwrap())
        .output()
        .unwrap();
    assert_eq!(cli.status.code(), Some(0));
}

#[test]
fn doctor_finds_what_breaks_relaying() {
    let h = Hermes::new();
    h.run(relay());
    let dir = h.postfix_dir();
    fs::set_permissions(
        dir.join("sasl_passwd.db"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    fs::write(
        dir.join("sasl_passwd"),
        "smtp.example.com:587\trelayuser:x\n",
    )
    .unwrap();
    let mut main_cf = h.file("main.cf").unwrap();
    main_cf = main_cf.replace(
        "relayhost = [smtp.example.com]:587",
        "relayhost = smtp.example.com",
    );
    fs::write(dir.join("main.cf"), main_cf).unwrap();
    h.add_transport_stored(
        "x.example",
        "mx.x.example",
        None,
        "YES",
        None,
        Some("not-a-cipher"),
    );
    let out = doctor(&h, json!({}));
    assert_eq!(out["failed"], true);
    let failed = |name: &str| check(&out, name)["ok"] == false;
    assert!(failed("file_modes"), "{out}");
    assert!(failed("relay_key"), "{out}");
    assert!(failed("postfix_relayhost"), "{out}");
    assert!(failed("credentials"), "{out}");
    assert!(
        check(&out, "credentials")["detail"]
            .as_str()
            .unwrap()
            .contains("transport#1")
    );
    assert!(failed("drift"), "{out}");
    assert_no_secret(&out.to_string(), &[PASSWORD]);

    // cdb needs postfix-cdb, which the test machine does not have.
    h.set_password_map("cdb:/etc/postfix/sasl_passwd");
    let out = doctor(&h, json!({}));
    assert_eq!(check(&out, "map_type")["ok"], false, "{out}");
}

#[test]
fn doctor_reports_missing_sasl_plugins() {
    let h = Hermes::new();
    h.run(relay());
    // The plugins cannot be uninstalled under a running test: a wrapper hides them from the
    // listing (the one thing it fakes) and runs every other command for real.
    let wrapper = h.dir.path().join("no-plugins.sh");
    fs::write(
        &wrapper,
        "#!/bin/sh\n[ \"$1\" = sh ] && case \"$3\" in *sasl2*) exit 0;; esac\nexec \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let out = doctor(
        &h,
        json!({"postfix_exec": [wrapper], "postfix_exec_dir": h.postfix_dir()}),
    );
    assert_eq!(check(&out, "sasl_plugins")["ok"], false, "{out}");
    assert!(
        check(&out, "sasl_plugins")["detail"]
            .as_str()
            .unwrap()
            .contains("libsasl2-modules")
    );
    assert_eq!(check(&out, "map_type")["ok"], true, "{out}");
}

#[test]
fn a_map_older_than_sasl_passwd_is_rebuilt() {
    let h = Hermes::new();
    h.run(relay());
    // A crash between the two renames, or a hand edit: sasl_passwd newer than its map.
    let map = h.postfix_dir().join("sasl_passwd.db");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&map)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = h.run(relay());
    assert_eq!(out["changes"], json!(["sasl_passwd"]), "{out}");
    assert_eq!(h.run(relay())["changed"], false);
}

#[test]
fn a_fresh_init_is_healthy_for_doctor_and_info() {
    let h = Hermes::new();
    let out = doctor(&h, json!({}));
    out.assert_ok();
    assert_eq!(check(&out, "drift")["ok"], true, "{out}");
    let info = h.run_info(json!({})).json;
    assert_eq!(info["healthy"], true, "{info}");
}

#[test]
fn drift_names_each_file_and_what_differs_without_a_password() {
    let h = Hermes::new();
    h.run(relay()).assert_ok();
    let dir = h.postfix_dir();
    let old_map = fs::read(dir.join("sasl_passwd.db")).unwrap();
    let mut newer = relay();
    newer["password"] = json!("an-0ther-passw0rd");
    h.run(newer.clone()).assert_ok();
    // A map built from the old password, put back by hand; main.cf edited by hand.
    fs::write(dir.join("sasl_passwd.db"), &old_map).unwrap();
    let main_cf = h.file("main.cf").unwrap().replace(
        "relayhost = [smtp.example.com]:587",
        "relayhost = [old.example.com]:25",
    );
    fs::write(dir.join("main.cf"), main_cf).unwrap();

    let out = doctor(&h, json!({}));
    let detail = check(&out, "drift")["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains(
            "main.cf: relayhost is `[old.example.com]:25`, expected `[smtp.example.com]:587`"
        ),
        "{detail}"
    );
    assert!(
        detail.contains(
            "map: answers other credentials (an old password?) for `[smtp.example.com]:587`"
        ),
        "{detail}"
    );
    assert_no_secret(&out.to_string(), &[PASSWORD, "an-0ther-passw0rd"]);

    // A sasl_passwd line edited by hand is named by its key.
    fs::write(
        dir.join("sasl_passwd"),
        "[smtp.example.com]:587\trelayuser:typo-passw0rd\n",
    )
    .unwrap();
    let out = doctor(&h, json!({}));
    let detail = check(&out, "drift")["detail"].as_str().unwrap();
    assert!(
        detail.contains("sasl_passwd: line for `[smtp.example.com]:587` differs"),
        "{detail}"
    );
    assert_no_secret(
        &out.to_string(),
        &[PASSWORD, "an-0ther-passw0rd", "typo-passw0rd"],
    );
}

#[test]
fn file_modes_fails_when_the_map_is_missing_or_stale() {
    let h = Hermes::new();
    h.run(relay()).assert_ok();
    let map = h.postfix_dir().join("sasl_passwd.db");
    let saved = fs::read(&map).unwrap();
    fs::remove_file(&map).unwrap();
    let out = doctor(&h, json!({}));
    let modes = check(&out, "file_modes");
    assert_eq!(modes["ok"], false, "{out}");
    assert!(
        modes["detail"]
            .as_str()
            .unwrap()
            .contains("sasl_passwd.db is missing"),
        "{out}"
    );

    // Put back by hand: not the map the last run built (its stamp says so).
    fs::write(&map, saved).unwrap();
    fs::set_permissions(&map, fs::Permissions::from_mode(0o600)).unwrap();
    let out = doctor(&h, json!({}));
    let modes = check(&out, "file_modes");
    assert_eq!(modes["ok"], false, "{out}");
    assert!(modes["detail"].as_str().unwrap().contains("stale"), "{out}");
}

#[test]
fn doctor_reports_permission_denied_with_the_path_and_the_user() {
    let h = Hermes::new();
    h.run(relay()).assert_ok();
    fs::set_permissions(h.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(h.db_path(), fs::Permissions::from_mode(0o600)).unwrap();
    let args = h.dir.path().join("nobody-args.json");
    let mut a = h.args(json!({}));
    a["check_only"] = json!(true);
    fs::write(&args, a.to_string()).unwrap();
    fs::set_permissions(&args, fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg(&args)
        .output()
        .unwrap();
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    let database = check(&out, "database")["detail"].as_str().unwrap();
    assert!(
        database.starts_with("permission denied: cannot read ")
            && database.contains(&h.db_path().display().to_string())
            && database.contains("uid 65534"),
        "{database}"
    );
    assert!(!database.contains("does not exist"), "{database}");
}

#[test]
fn an_unreachable_postfix_is_not_reported_as_missing_plugins() {
    let h = Hermes::new();
    h.run(relay()).assert_ok();
    let out = doctor(
        &h,
        json!({"postfix_exec": ["false"], "postfix_exec_dir": h.postfix_dir()}),
    );
    let plugins = check(&out, "sasl_plugins")["detail"].as_str().unwrap();
    assert!(plugins.starts_with("cannot reach Postfix"), "{plugins}");
    assert!(!plugins.contains("libsasl2-modules"), "{plugins}");
}

#[test]
fn a_repair_says_what_it_repaired() {
    let h = Hermes::new();
    let file = h.dir.path().join("relay.json");
    fs::write(&file, h.args(relay()).to_string()).unwrap();
    let apply = || {
        assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
            .args(["apply", "--format", "human", "--args-file"])
            .arg(&file)
            .output()
            .unwrap()
    };
    assert!(apply().status.success());
    fs::set_permissions(
        h.postfix_dir().join("sasl_passwd.db"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = apply();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "sasl_passwd: same lines, rewritten to repair its mode, its map or its stamp"
        ),
        "{text}"
    );
    assert!(!text.contains("0 line(s) added, 0 removed"), "{text}");
    assert_eq!(h.mode("sasl_passwd.db"), 0o600);
}

#[test]
fn reload_tells_a_stopped_postfix_from_an_unreachable_one() {
    let h = Hermes::new();
    let reload = |extra: Value| {
        let file = h.dir.path().join("reload.json");
        fs::write(&file, h.args(extra).to_string()).unwrap();
        let out = assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
            .args(["reload", "--format", "json", "--args-file"])
            .arg(&file)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), json)
    };
    // Postfix installed here but not running: a warning, exit 0.
    let (code, out) = reload(json!({}));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out["warnings"][0], "Postfix is not running: reload skipped",
        "{out}"
    );
    // The exec prefix cannot run anything where Postfix lives: a failure, never "skipped".
    let (code, out) =
        reload(json!({"postfix_exec": ["false"], "postfix_exec_dir": h.postfix_dir()}));
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out["error"]["code"], "postfix_unreachable", "{out}");
}
