//! (a) A Hermes host's first relay setup through the container topology: rows in MariaDB,
//! sasl_passwd and its map on the host, built and reloaded inside the container, and mail sent
//! into the container's Postfix relayed with AUTH to a smarthost on the host.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use mysql::prelude::Queryable;
use serde_json::{Value, json};

use crate::common::{Outcome, PASSWORD, assert_no_secret, ids, row};
use crate::support::{Mode, Smarthost, WAIT};
use crate::topology::{Case, topology};

pub const USER: &str = "relayuser";
pub const FROM: &str = "sender@origin.invalid";
pub const TO: &str = "rcpt@remote.invalid";

/// A case with a smarthost on the host's loopback that knows `users`.
pub struct World {
    pub sh: Smarthost,
    pub c: Case,
}

impl World {
    pub fn new(users: &[(&str, &str)]) -> World {
        let c = Case::new();
        let sh = Smarthost::start(c.tmp.path(), "127.0.0.1", Mode::Plain, users);
        World { sh, c }
    }

    /// The relay args for this smarthost.
    pub fn relay(&self, password: &str) -> Value {
        json!({
            "host": "127.0.0.1",
            "port": self.sh.port,
            "tls": "none",
            "username": USER,
            "password": password,
            "sasl_security_options": "noanonymous",
        })
    }

    /// `apply` that must change something and reload the container's Postfix.
    pub fn apply(&self, extra: Value) -> Value {
        let mark = self.c.log_mark();
        let out = self.c.apply(extra);
        out.assert_ok();
        assert_eq!(out["changed"], true, "{out:#}");
        assert!(
            !out["warnings"].to_string().contains("not running"),
            "the module did not see the container's Postfix: {out:#}"
        );
        assert!(
            self.c.wait_log(mark, "reload -- version").is_some(),
            "no reload in `docker logs` after the apply:\n{}",
            self.c.log_since(mark)
        );
        out
    }

    /// Sends a message in the container and waits until the smarthost logged it.
    pub fn deliver(&self, subject: &str) -> Value {
        self.c.sendmail(FROM, TO, subject);
        self.sh
            .wait_message(subject, WAIT)
            .unwrap_or_else(|| panic!("{subject}: not delivered to the smarthost\n{}", self.why()))
    }

    /// What explains a failure: the container's log, its queue, the smarthost's records.
    pub fn why(&self) -> String {
        let log = self.c.t.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!(
            "--- docker logs (last 40 lines)\n{}\n--- queue\n{}--- smarthost log\n{:#?}\n--- smarthost stderr\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            self.c.queue(),
            self.sh.records(),
            self.sh.stderr()
        )
    }
}

/// The topology's own `hermes` database holds Hermes's schema and seed rows, reachable with
/// the credentials of the 0600 option file only.
#[test]
fn topology_has_the_hermes_database() {
    let t = topology();
    let mode = fs::metadata(&t.options_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let ids: Vec<i64> = t
        .conn(&t.db_name)
        .query("SELECT id FROM parameters WHERE id IN (202, 203, 204) ORDER BY id")
        .unwrap();
    assert_eq!(ids, [202, 203, 204]);
}

#[test]
fn apply_relays_mail_with_auth_through_the_container() {
    let w = World::new(&[(USER, PASSWORD)]);
    let c = &w.c;
    let key = format!("[127.0.0.1]:{}", w.sh.port);

    let mark = c.log_mark();
    let run = c.cli(&["apply"], &c.args(w.relay(PASSWORD)));
    run.assert_no_secret(&[PASSWORD]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json.assert_ok();
    assert_eq!(run.json["changed"], true, "{}", run.stdout);
    assert_eq!(run.json["warnings"], json!([]), "{}", run.stdout);

    // The rows in the MariaDB container, the files on the host, the map built by the
    // container's postmap, the container's Postfix reading the module's config.
    assert_relay_configured(&w);
    let main_cf = c.file("main.cf").unwrap();
    assert!(
        main_cf.contains(&format!("relayhost = {key}\n")),
        "{main_cf}"
    );
    assert!(
        main_cf.contains("smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n"),
        "{main_cf}"
    );
    assert!(
        c.wait_log(mark, "reload -- version").is_some(),
        "no reload in `docker logs` after the apply:\n{}",
        c.log_since(mark)
    );

    let m = w.deliver("container-a");
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert_eq!(m["mail_from"], FROM);
    assert_eq!(m["rcpt_tos"], json!([TO]));
    assert!(w.sh.failed_logins().is_empty(), "{}", w.why());

    // The same run again: nothing to do, nothing written, no reload.
    let before = c.snapshot();
    let mark = c.log_mark();
    let again = c.apply(w.relay(PASSWORD));
    again.assert_ok();
    assert_eq!(again["changed"], false, "{again:#}");
    assert_eq!(c.snapshot(), before, "a no-change run wrote something");
    assert!(
        !c.log_since(mark).contains("reload"),
        "a no-change run reloaded Postfix"
    );
    assert_no_secret(&again.to_string(), &[PASSWORD]);
}

/// The relay key Postfix uses for the World's smarthost.
pub fn relay_key(w: &World) -> String {
    format!("[127.0.0.1]:{}", w.sh.port)
}

/// What a first relay setup leaves behind, wherever it ran: the Relay Host page's rows in the
/// MariaDB container, the credentials encrypted with the root's key, sasl_passwd (0600) in the
/// host's Postfix dir with the map the container's postmap answers from, the container's
/// Postfix reading the new relayhost.
pub fn assert_relay_configured(w: &World) {
    let c = &w.c;
    let key = relay_key(w);
    let on = |p: &str, name: Option<&str>| row(p, name, 1);
    assert_eq!(c.param(ids::RELAYHOST), on("relayhost", Some("Relay Host")));
    assert_eq!(c.param(ids::RELAYHOST_VALUE), on(&key, Some("127.0.0.1")));
    assert_eq!(c.param(ids::SASL_AUTH_VALUE), on("yes", None));
    assert_eq!(
        c.param(ids::PASSWORD_MAPS_VALUE),
        on("hash:/etc/postfix/sasl_passwd", None)
    );
    assert_eq!(c.decrypted("relay_host_username"), USER);
    assert_eq!(c.decrypted("relay_host_password"), PASSWORD);
    assert_eq!(
        c.file("sasl_passwd").as_deref(),
        Some(format!("{key}\t{USER}:{PASSWORD}\n").as_str())
    );
    assert_eq!(c.mode("sasl_passwd"), 0o600);
    assert_eq!(c.mode("sasl_passwd.db"), 0o600);
    assert_eq!(
        c.postmap_query(&key).as_deref(),
        Some(format!("{USER}:{PASSWORD}").as_str()),
        "the container's postmap does not answer from the map"
    );
    let relayhost = c.t.in_postfix(&["postconf", "-h", "relayhost"]);
    assert_eq!(relayhost.trim(), key);
}

/// `tls: verify` on the Hermes topology: the page's `encrypt` level row, the relay's policy
/// entry and the CA as `smtp_tls_CAfile`, as Postfix sees it inside the container, whose
/// Debian master.cf chroots the SMTP client. The probe judges the certificate from the host;
/// the container's Postfix relays over a verified session.
#[test]
fn verify_with_a_private_ca_through_the_container() {
    let c = Case::new();
    let ca = crate::support::ca::TestCa::new(&c.tmp.path().join("ca"));
    let (cert, key) = ca.issue("relay", "relay.example.test", 30);
    let sh = Smarthost::start_with_cert(
        c.tmp.path(),
        "127.0.0.1",
        Mode::StartTls,
        &[(USER, PASSWORD)],
        &cert,
        &key,
    );
    let target = c.t.postfix_dir.join("relay-ca.pem");
    fs::copy(&ca.cert, &target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    let args = json!({
        "host": "127.0.0.1",
        "port": sh.port,
        "tls": "verify",
        "tls_name": "relay.example.test",
        "tls_ca_file": "/etc/postfix/relay-ca.pem",
        "username": USER,
        "password": PASSWORD,
        "sasl_security_options": "noanonymous",
        "probe": true,
    });
    let mark = c.log_mark();
    let out = c.apply(args.clone());
    out.assert_ok();
    assert_eq!(out["relay_certificate"]["chain_valid"], true, "{out:#}");
    assert_eq!(out["relay_certificate"]["name_matches"], true, "{out:#}");
    assert!(c.wait_log(mark, "reload -- version").is_some());
    let postconf =
        c.t.in_postfix(&["postconf", "-h", "smtp_tls_policy_maps", "smtp_tls_CAfile"]);
    assert_eq!(
        postconf,
        format!(
            "inline:{{ {{ [127.0.0.1]:{} = verify match=relay.example.test }} }}\n\
             /etc/postfix/relay-ca.pem\n",
            sh.port
        )
    );
    let level: Vec<String> =
        c.t.conn(&c.db)
            .query(format!(
                "SELECT parameter FROM parameters WHERE id = {}",
                ids::TLS_LEVEL_VALUE
            ))
            .unwrap();
    assert_eq!(level, ["encrypt"], "the Hermes page's level row");

    c.sendmail(FROM, TO, "container-verified");
    let m = sh
        .wait_message("container-verified", WAIT)
        .unwrap_or_else(|| panic!("not delivered:\n{}", c.log_since(mark)));
    assert_eq!(
        (m["auth_user"].as_str(), m["tls"].as_bool()),
        (Some(USER), Some(true))
    );
    let mut again = args;
    again.as_object_mut().unwrap().remove("probe");
    assert_eq!(c.apply(again)["changed"], false);
}
