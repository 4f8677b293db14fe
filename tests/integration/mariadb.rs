//! The module against a real MariaDB (a private server started by the fixture) loaded with
//! Hermes's own schema.sql: the same scenarios as on SQLite give the same rows, files and
//! outputs; faults at every step leave rows and files as they were; errors are clear.

use std::fs;

use crate::common::{Hermes, Outcome, PASSWORD, assert_no_secret, ids, mariadb, relay, row};
use serde_json::{Value, json};

/// The output with what legitimately differs between two fixtures (paths, the URL) removed.
fn comparable(out: &Value, h: &Hermes) -> String {
    let mut out = out.clone();
    if let Some(args) = out["invocation"]["module_args"].as_object_mut() {
        args.remove("database");
        args.remove("root");
    }
    out.to_string()
        .replace(&h.root.display().to_string(), "<root>")
}

fn postfix_files(h: &Hermes) -> Vec<(String, String)> {
    ["main.cf", "main.cf.HERMES", "sasl_passwd"]
        .iter()
        .map(|f| {
            let text = h.file(f).unwrap_or_default();
            (
                f.to_string(),
                text.replace(&h.root.display().to_string(), "<root>"),
            )
        })
        .collect()
}

#[test]
fn conformance_same_scenarios_same_rows_files_and_outputs() {
    let lite = Hermes::new();
    let maria = Hermes::mariadb();
    // One key for both, so that ciphertexts (deterministic ECB) must match too.
    let key = "opt/hermes/keys/hermes.key";
    fs::copy(lite.root.join(key), maria.root.join(key)).unwrap();
    for h in [&lite, &maria] {
        h.add_transport(
            "partner.example",
            "mx.partner.example",
            Some("2525"),
            "YES",
            "partner",
            "partner-pw",
        );
    }
    let steps = [
        json!({"host": "smtp.example.com", "port": 587, "username": "relayuser",
               "password": PASSWORD, "_ansible_diff": true}),
        json!({"host": "smtp.example.com", "port": 587, "username": "relayuser",
               "password": PASSWORD, "_ansible_diff": true}),
        json!({"host": "smtp.example.com", "port": "587", "password": "rotated",
               "_ansible_check_mode": true, "_ansible_diff": true}),
        json!({"host": "smtp.example.com", "port": "587", "password": "rotated"}),
        json!({"host": "2001:db8::1", "tls": "none", "auth": "off"}),
        json!({"host": "192.0.2.7", "tls": "encrypt", "username": "second", "password": "pw2"}),
        json!({"host": "bad host"}),
        json!({"state": "absent", "_ansible_diff": true}),
        json!({"state": "absent"}),
    ];
    for (i, step) in steps.iter().enumerate() {
        let a = lite.run(step.clone());
        let b = maria.run(step.clone());
        assert_eq!(
            comparable(&a, &lite),
            comparable(&b, &maria),
            "step {i}: outputs differ"
        );
        assert_eq!(lite.db.dump(), maria.db.dump(), "step {i}: rows differ");
        assert_eq!(
            postfix_files(&lite),
            postfix_files(&maria),
            "step {i}: files differ"
        );
    }
}

#[test]
fn hermes_seed_rows_get_exactly_what_the_page_writes() {
    let h = Hermes::mariadb();
    let out = h.run(
        json!({"host": " smtp.example.com ", "port": "587", "tls": "encrypt",
                           "username": "relayuser", "password": PASSWORD}),
    );
    out.assert_ok();
    let on = |p: &str, name: Option<&str>| row(p, name, 1);
    assert_eq!(h.param(ids::RELAYHOST), on("relayhost", Some("Relay Host")));
    assert_eq!(
        h.param(ids::RELAYHOST_VALUE),
        on("[smtp.example.com]:587", Some("smtp.example.com"))
    );
    assert_eq!(h.param(ids::SASL_AUTH), on("smtp_sasl_auth_enable", None));
    assert_eq!(h.param(ids::SASL_AUTH_VALUE), on("yes", None));
    assert_eq!(
        h.param(ids::PASSWORD_MAPS),
        on("smtp_sasl_password_maps", Some(""))
    );
    assert_eq!(
        h.param(ids::PASSWORD_MAPS_VALUE),
        on("hash:/etc/postfix/sasl_passwd", None)
    );
    assert_eq!(h.param(ids::TLS_LEVEL), on("smtp_tls_security_level", None));
    assert_eq!(h.param(ids::TLS_LEVEL_VALUE), on("encrypt", None));
    assert_eq!(
        h.setting("relay_host_username").unwrap(),
        h.encrypt("relayuser")
    );
    assert_eq!(
        h.setting("relay_host_password").unwrap(),
        h.encrypt(PASSWORD)
    );
    assert_eq!(
        h.run(relay())["changed"],
        true,
        "port/tls differ from the first form"
    );
}

#[test]
fn older_installs_and_legacy_credentials() {
    let h = Hermes::mariadb();
    h.sql("DELETE FROM system_settings");
    h.store_legacy_pair("legacy:pa:ss");
    let out = h.run(json!({"host": "smtp.example.com", "port": 587}));
    assert_eq!(out["changed"], true, "{out}");
    assert_eq!(h.decrypted("relay_host_username"), "legacy");
    assert_eq!(h.decrypted("relay_host_password"), "pa:ss");
    assert_eq!(h.param(ids::PASSWORD_MAPS).name.as_deref(), Some(""));
    assert_eq!(
        h.run(json!({"host": "smtp.example.com", "port": 587}))["changed"],
        false
    );
}

#[test]
fn longest_credentials_fit_their_columns_exactly() {
    let h = Hermes::mariadb();
    let user = "u".repeat(767);
    let pass = "é".repeat(383) + "x";
    assert_eq!(pass.len(), 767);
    let out = h.run(json!({"host": "smtp.example.com", "username": user, "password": pass}));
    out.assert_ok();
    assert_eq!(h.decrypted("relay_host_username"), user);
    assert_eq!(h.decrypted("relay_host_password"), pass);
    assert_eq!(h.setting("relay_host_password").unwrap().len(), 1024);
}

/// A `postfix_exec` wrapper that kills the module's DB connection when the Postfix command
/// `step` runs, then runs the real command. `status` comes before the first row write;
/// `reload` after the rows are written, so the restore needs a new connection. For `reload`
/// it answers `status` with "running" so that the reload is attempted.
fn killing_exec(h: &Hermes, step: &str) -> Value {
    let crate::common::Db::Mariadb(name) = &h.db else {
        unreachable!()
    };
    let socket = mariadb::server().socket.display().to_string();
    let kill = format!(
        "for id in $(mariadb --no-defaults -S {socket} -uroot -N -e \
         \"SELECT id FROM information_schema.processlist WHERE db = '{name}' AND id <> CONNECTION_ID()\"); do \
         mariadb --no-defaults -S {socket} -uroot -e \"KILL CONNECTION $id\"; done"
    );
    h.fault_exec(step, &kill, step == "reload")
}

#[test]
fn faults_at_every_step_restore_rows_and_files() {
    type Fault = (&'static str, fn(&Hermes) -> Value);
    let cases: [Fault; 4] = [
        ("postmap_failed", |h| h.failing_exec("postmap")),
        ("reload_failed", |h| h.failing_exec("reload")),
        ("database_error", |h| killing_exec(h, "status")),
        ("reload_failed", |h| killing_exec(h, "reload")),
    ];
    for (code, exec) in cases {
        let h = Hermes::mariadb();
        h.run(relay()).assert_ok();
        let rows = h.db.dump();
        let files = postfix_files(&h);
        let map = h.postmap_query("[smtp.example.com]:587");
        let out = h.run(
            json!({"host": "smtp.example.com", "port": 2525, "username": "relayuser",
                               "password": "new-secret", "postfix_exec": exec(&h),
                               "postfix_exec_dir": h.postfix_dir()}),
        );
        out.assert_failed(code);
        assert_no_secret(&out.to_string(), &["new-secret"]);
        assert_eq!(h.db.dump(), rows, "{code}: rows not restored");
        assert_eq!(postfix_files(&h), files, "{code}: files not restored");
        assert_eq!(
            h.postmap_query("[smtp.example.com]:587"),
            map,
            "{code}: map not restored"
        );
        assert!(
            !out["msg"].as_str().unwrap().contains("RESTORE FAILED"),
            "{code}: {out}"
        );
    }
}

#[test]
fn database_errors_are_clear_and_touch_nothing() {
    let h = Hermes::mariadb();
    let before = h.snapshot();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            format!("mysql://hermes:s3cr3t-db@127.0.0.1:{closed_port}/hermes"),
            "database_error",
            "127.0.0.1",
        ),
        (
            format!(
                "mysql://nobody:s3cr3t-db@127.0.0.1:{}/hermes",
                mariadb::server().port
            ),
            "database_error",
            "nobody",
        ),
        (
            mariadb::server().socket_url("no_such_db"),
            "database_error",
            "no_such_db",
        ),
    ];
    for (url, code, words) in cases {
        let run =
            h.run_raw(&h.args(json!({"host": "smtp.example.com", "auth": false, "database": url})));
        assert_eq!(run.json["error"]["code"], code, "{}", run.stdout);
        let msg = run.json["msg"].as_str().unwrap();
        assert!(msg.contains(words), "{msg}");
        assert!(!run.stdout.contains("s3cr3t-db") && !run.stderr.contains("s3cr3t-db"));
        assert!(
            !run.json["invocation"]["module_args"]["database"]
                .as_str()
                .unwrap()
                .contains("s3cr3t")
        );
    }
    h.sql("DROP TABLE transport");
    let out = h.run(relay());
    assert_eq!(out["error"]["code"], "database_error");
    assert!(out["msg"].as_str().unwrap().contains("transport"), "{out}");
    let mut after = h.snapshot();
    let mut before = before;
    for snap in [&mut after, &mut before] {
        snap.rows.retain(|r| !r.starts_with("transport"));
    }
    assert_eq!(after, before);

    let h = Hermes::mariadb();
    h.sql("DELETE FROM parameters WHERE id IN (202, 207)");
    let out = h.run(relay());
    assert_eq!(out["error"]["code"], "database_layout");
    let msg = out["msg"].as_str().unwrap();
    assert!(
        msg.contains("relayhost (parent row") && msg.contains("smtp_sasl_password_maps (value row"),
        "{msg}"
    );
}

#[test]
fn tcp_url_and_option_file_reach_the_same_database() {
    let h = Hermes::mariadb();
    let crate::common::Db::Mariadb(name) = &h.db else {
        unreachable!()
    };
    let server = mariadb::server();
    let tcp = format!("mysql://root@127.0.0.1:{}/{name}", server.port);
    assert_eq!(
        h.run(json!({"host": "smtp.example.com", "auth": false, "database": tcp}))["changed"],
        true
    );

    let cnf = h.dir.path().join("hermes.cnf");
    fs::write(
        &cnf,
        format!(
            "# as operators keep them\n[client]\nuser = root\nsocket = \"{}\"\n",
            server.socket.display()
        ),
    )
    .unwrap();
    let out = h.run(json!({"host": "smtp.example.com", "auth": false,
                           "database": format!("mysql:///{name}"),
                           "database_options_file": cnf}));
    out.assert_ok();
    assert_eq!(out["changed"], false);
    let mut args = h.args(json!({"host": "smtp.example.com", "auth": false,
                                 "database_options_file": cnf}));
    args.as_object_mut().unwrap().remove("database");
    assert_eq!(h.run_raw(&args).json["error"]["code"], "invalid_args");
}

/// MyISAM has no transactions: a statement that fails after earlier ones succeeded (here a
/// trigger refuses the password row once, as a full disk or a crashed table would) must still
/// see every earlier row put back.
#[test]
fn a_write_failing_halfway_puts_back_the_earlier_rows() {
    let h = Hermes::mariadb();
    h.run(relay()).assert_ok();
    h.sql(
        "CREATE TABLE fault (n INT) ENGINE=MyISAM; \
         CREATE TRIGGER refuse_once BEFORE UPDATE ON system_settings FOR EACH ROW \
         BEGIN \
           IF NEW.parameter = 'relay_host_password' AND (SELECT COUNT(*) FROM fault) = 0 THEN \
             INSERT INTO fault VALUES (1); \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected write failure'; \
           END IF; \
         END",
    );
    let rows = h.db.dump();
    let files = postfix_files(&h);
    let out = h.run(
        json!({"host": "smtp.example.com", "port": 2525, "username": "other",
                           "password": "new-secret"}),
    );
    assert_eq!(out["error"]["code"], "database_error", "{out}");
    assert!(
        out["msg"]
            .as_str()
            .unwrap()
            .contains("injected write failure")
    );
    assert_eq!(out["restored"], json!(["database rows"]), "{out}");
    assert_eq!(
        h.db.dump(),
        rows,
        "the rows written before the failure were not put back"
    );
    assert_eq!(postfix_files(&h), files);
}
