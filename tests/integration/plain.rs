//! `host_type: postfix` on the main.cf layouts people already have (Debian's stock file, the
//! Oefenweb role's, debops' shape: `tests/integration/data/plain/`), and `tls: verify` /
//! `secure` on both kinds of host. A private running Postfix relays to the aiosmtpd smarthost;
//! a private CA signs the smarthost's certificate. Needs what e2e.rs needs (root, postfix,
//! openssl, the test venv).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Hermes, Outcome, PASSWORD, files_holding, ids};
use crate::support::ca::TestCa;
use crate::support::{Mode, PrivatePostfix, Smarthost, WAIT, must};

const USER: &str = "relayuser";
const FROM: &str = "sender@origin.invalid";
const TO: &str = "rcpt@remote.invalid";
/// The smarthost's certificate name (it listens on 127.0.0.1).
const RELAY_NAME: &str = "relay.example.test";

/// The main.cf keys `host_type: postfix` owns (the README's list).
const OWNED: [&str; 8] = [
    "relayhost",
    "smtp_sasl_auth_enable",
    "smtp_sasl_password_maps",
    "smtp_sasl_security_options",
    "smtp_sasl_tls_security_options",
    "smtp_tls_security_level",
    "smtp_tls_wrappermode",
    "smtp_tls_policy_maps",
];

/// A plain host with a running Postfix and a smarthost. Drops smarthost, Postfix, then files.
struct Plain {
    sh: Smarthost,
    pf: PrivatePostfix,
    h: Hermes,
}

impl Plain {
    fn new(fixture: &str, mode: Mode) -> Plain {
        crate::support::python();
        let h = Hermes::plain(fixture);
        let pf = PrivatePostfix::start(&h);
        let sh = Smarthost::start(h.dir.path(), "127.0.0.1", mode, &[(USER, PASSWORD)]);
        Plain { sh, pf, h }
    }

    /// With a smarthost whose certificate the returned CA issued for [`RELAY_NAME`], valid
    /// `days`; the CA is copied to the Postfix dir as `relay-ca.pem`.
    fn verified(h: Hermes, days: u32) -> (Plain, TestCa) {
        crate::support::python();
        // Postfix's smtp client reads the CA as `postfix`; `init` makes a root private.
        fs::set_permissions(&h.root, fs::Permissions::from_mode(0o755)).unwrap();
        let pf = PrivatePostfix::start(&h);
        let ca = TestCa::new(&h.dir.path().join("ca"));
        let (cert, key) = ca.issue("relay", RELAY_NAME, days);
        fs::copy(&ca.cert, h.postfix_dir().join("relay-ca.pem")).unwrap();
        let sh = Smarthost::start_with_cert(
            h.dir.path(),
            "127.0.0.1",
            Mode::StartTls,
            &[(USER, PASSWORD)],
            &cert,
            &key,
        );
        let p = Plain { sh, pf, h };
        // A foreign setting, so the maillog says whether a session was verified.
        p.postconf(&["-e", "smtp_tls_loglevel = 1"]);
        (p, ca)
    }

    fn relay(&self, tls: &str) -> Value {
        json!({
            "host": self.sh.host,
            "port": self.sh.port,
            "tls": tls,
            "username": USER,
            "password": PASSWORD,
            "sasl_security_options": "noanonymous",
        })
    }

    fn main_cf(&self) -> String {
        self.h.file("main.cf").unwrap()
    }

    fn postconf(&self, args: &[&str]) -> String {
        let out = must(
            Command::new("postconf")
                .arg("-c")
                .arg(self.h.postfix_dir())
                .args(args),
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn deliver(&self, subject: &str) -> Value {
        self.pf.sendmail(FROM, TO, subject);
        self.sh.wait_message(subject, WAIT).unwrap_or_else(|| {
            panic!(
                "{subject}: not delivered\n--- maillog\n{}--- queue\n{}",
                self.pf.log(),
                self.pf.queue()
            )
        })
    }
}

/// main.cf without the logical lines of the owned keys: what the module must leave as it was.
fn foreign(main_cf: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in main_cf.split_inclusive('\n') {
        let blank_or_comment = line.trim().is_empty() || line.trim_start().starts_with('#');
        if line.starts_with([' ', '\t']) && !blank_or_comment {
            if !skipping {
                out.push_str(line);
            }
            continue;
        }
        if !blank_or_comment {
            let key = line.split(['=', ' ', '\t']).next().unwrap_or("");
            skipping = OWNED.contains(&key);
        }
        if !skipping || blank_or_comment {
            out.push_str(line);
        }
    }
    out
}

/// The anchor's walk: check mode touches nothing; the apply edits only owned lines, relays
/// with AUTH and needs no second run; a foreign `postconf -e` survives the next run, which
/// changes nothing; the password is only in sasl_passwd and its map; doctor passes.
fn anchor_layout(fixture: &str) {
    let p = Plain::new(fixture, Mode::StartTls);
    let before = p.main_cf();
    let snapshot = p.h.snapshot();
    let mut check = p.relay("encrypt");
    check["_ansible_check_mode"] = json!(true);
    let out = p.h.run(check);
    out.assert_ok();
    assert_eq!(out["changed"], true, "{out:#}");
    assert_eq!(p.h.snapshot().files, snapshot.files, "check mode wrote");

    let out = p.h.run(p.relay("encrypt"));
    out.assert_ok();
    assert_eq!(out["changes"], json!(["main.cf", "sasl_passwd"]), "{out:#}");
    let after = p.main_cf();
    assert_eq!(foreign(&after), foreign(&before), "a foreign line changed");
    let postconf = p.postconf(&["-n"]);
    assert!(
        postconf.contains(&format!("relayhost = [127.0.0.1]:{}\n", p.sh.port)),
        "{postconf}"
    );
    assert!(postconf.contains("smtp_tls_security_level = encrypt\n"));
    assert!(!p.h.root.join("etc/postfix/main.cf.HERMES").exists());
    let dir = p.h.postfix_dir();
    assert_eq!(
        files_holding(&p.h.root, PASSWORD),
        [dir.join("sasl_passwd"), dir.join("sasl_passwd.db")]
    );
    assert_eq!(p.h.mode("sasl_passwd"), 0o600);
    assert_eq!(p.h.mode("sasl_passwd.db"), 0o600);

    let m = p.deliver(&format!("{fixture}-1"));
    assert_eq!(m["auth_user"], USER);
    assert_eq!(m["tls"], true);

    let mark = p.pf.log_mark();
    let again = p.h.run(p.relay("encrypt"));
    assert_eq!(again["changed"], false, "{again:#}");
    p.postconf(&["-e", "message_size_limit = 20480000"]);
    p.postconf(&["-e", "smtpd_banner = $myhostname ESMTP relay test"]);
    let edited = p.main_cf();
    let mut without_password = p.relay("encrypt");
    without_password.as_object_mut().unwrap().remove("password");
    let out = p.h.run(without_password);
    assert_eq!(out["changed"], false, "{out:#}");
    assert_eq!(p.main_cf(), edited, "the foreign change was touched");
    assert!(
        !p.pf.log_since(mark).contains("reload"),
        "a run with nothing to change reloaded Postfix:\n{}",
        p.pf.log_since(mark)
    );
    assert!(edited.contains("message_size_limit = 20480000\n"));

    let doctor = p.h.run(json!({"check_only": true}));
    assert_eq!(doctor["failed"], false, "{doctor:#}");
    assert_eq!(p.deliver(&format!("{fixture}-2"))["auth_user"], USER);
}

#[test]
fn debian_stock_main_cf() {
    anchor_layout("debian-stock");
}

#[test]
fn oefenweb_role_main_cf() {
    anchor_layout("oefenweb");
}

#[test]
fn debops_shaped_main_cf() {
    anchor_layout("debops");
}

/// A new password goes to sasl_passwd only; `state: absent` removes the relay's lines of
/// main.cf and sasl_passwd, and leaves every other line and a `transport_auth` entry.
#[test]
fn password_rotation_and_absent_edit_only_what_the_module_owns() {
    let p = Plain::new("debian-stock", Mode::StartTls);
    let before = p.main_cf();
    p.h.run(p.relay("may")).assert_ok();
    let out = p.h.run(json!({
        "transport_auth": [{"domain": "[mx.other.example]:587", "username": "other", "password": "other-secret"}]
    }));
    assert_eq!(out["changes"], json!(["sasl_passwd"]), "{out:#}");
    assert_eq!(
        p.h.postmap_query("[mx.other.example]:587").as_deref(),
        Some("other:other-secret")
    );
    let mut rotated = p.relay("may");
    rotated["password"] = json!("n3w-secret value");
    let out = p.h.run(rotated);
    assert_eq!(out["changes"], json!(["sasl_passwd"]), "{out:#}");
    assert_eq!(
        p.h.postmap_query(&format!("[127.0.0.1]:{}", p.sh.port))
            .as_deref(),
        Some("relayuser:n3w-secret value")
    );
    assert!(files_holding(&p.h.root, PASSWORD).is_empty());

    let out = p.h.run(json!({"state": "absent"}));
    assert_eq!(out["changes"], json!(["main.cf", "sasl_passwd"]), "{out:#}");
    let main_cf = p.main_cf();
    assert_eq!(foreign(&main_cf), foreign(&before));
    // The SASL security options stay, as on a Hermes host, and the TLS level too: on a plain
    // host it governs direct delivery as well.
    for key in [
        "relayhost",
        "smtp_sasl_auth_enable",
        "smtp_sasl_password_maps",
    ] {
        assert!(
            !main_cf.contains(&format!("\n{key} ")),
            "{key} left: {main_cf}"
        );
    }
    assert!(
        main_cf.contains("\nsmtp_tls_security_level=may\n"),
        "{main_cf}"
    );
    assert!(main_cf.contains("\nsmtp_sasl_security_options = noanonymous\n"));
    assert_eq!(
        p.h.file("sasl_passwd").unwrap(),
        "[mx.other.example]:587\tother:other-secret\n"
    );
    assert_eq!(p.h.run(json!({"state": "absent"}))["changed"], false);
}

/// Hermes-only options are refused on a plain host, before anything is read.
#[test]
fn hermes_options_are_refused_on_a_plain_host() {
    let h = Hermes::plain("debian-stock");
    let snapshot = h.snapshot();
    for extra in [
        json!({"database": "sqlite:/x.db"}),
        json!({"key_file": "/k"}),
        json!({"rotate_key": true}),
    ] {
        let out = h.run(extra.clone());
        assert_eq!(out["failed"], true, "{extra}");
        assert_eq!(out["error"]["code"], "conflicting_options", "{out:#}");
        assert!(out["msg"].as_str().unwrap().contains("host_type 'postfix'"));
    }
    assert_eq!(h.snapshot().files, snapshot.files);
}

fn verify_args(p: &Plain, with_ca: bool) -> Value {
    let mut args = p.relay("verify");
    args["tls_name"] = json!(RELAY_NAME);
    if with_ca {
        args["tls_ca_file"] = json!("/etc/postfix/relay-ca.pem");
    }
    args
}

/// `tls: verify` with the private CA: the probe reports a valid chain, the name match and the
/// days left; Postfix delivers over the verified session. Without the CA file the probe fails
/// before anything is written, and Postfix (told to verify, no probe) defers the mail.
#[test]
fn verify_passes_with_the_ca_file_and_fails_clearly_without_it() {
    let (p, _ca) = Plain::verified(Hermes::plain("debian-stock"), 30);
    // Debian chroots the SMTP client (the private instance does not): the CA must still be
    // read, as Postfix reads smtp_tls_CAfile before it enters the chroot.
    p.postconf(&["-F", "smtp/unix/chroot = y"]);
    let before = p.h.snapshot();
    let mut no_ca = verify_args(&p, false);
    no_ca["probe"] = json!(true);
    let out = p.h.run(no_ca);
    assert_eq!(out["failed"], true, "{out:#}");
    assert_eq!(out["error"]["code"], "probe_failed");
    let msg = out["msg"].as_str().unwrap();
    assert!(
        msg.contains("not signed by a trusted CA") && msg.contains("password was not sent"),
        "{msg}"
    );
    assert_eq!(p.h.snapshot().files, before.files, "a failed probe wrote");
    assert!(p.sh.failed_logins().is_empty());

    let mut args = verify_args(&p, true);
    args["probe"] = json!(true);
    let out = p.h.run(args);
    out.assert_ok();
    let cert = &out["relay_certificate"];
    assert_eq!(cert["chain_valid"], true, "{out:#}");
    assert_eq!(cert["name_matches"], true);
    assert_eq!(cert["name"], RELAY_NAME);
    assert!(
        matches!(cert["days_left"].as_i64(), Some(28..=30)),
        "{cert}"
    );
    let policy = p.postconf(&["-h", "smtp_tls_policy_maps"]);
    assert_eq!(
        policy.trim(),
        format!(
            "inline:{{ {{ [127.0.0.1]:{} = verify match={RELAY_NAME} }} }}",
            p.sh.port
        )
    );
    let ca = p.postconf(&["-h", "smtp_tls_CAfile"]);
    assert_eq!(
        ca.trim(),
        p.h.postfix_dir().join("relay-ca.pem").display().to_string()
    );
    let m = p.deliver("verified");
    assert_eq!(
        (m["auth_user"].as_str(), m["tls"].as_bool()),
        (Some(USER), Some(true))
    );
    assert!(
        p.pf.log().contains(&format!(
            "Verified TLS connection established to 127.0.0.1[127.0.0.1]:{}",
            p.sh.port
        )),
        "{}",
        p.pf.log()
    );
    assert_eq!(p.h.run(verify_args(&p, true))["changed"], false);
    let info = p.h.run_info(json!({}));
    assert_eq!(info.json["relay"]["tls"], "verify", "{:#}", info.json);

    // The CA stays trusted when tls_ca_file is left out (another destination may need it).
    // Without it (taken out by hand), Postfix refuses the certificate and keeps the mail.
    assert_eq!(p.h.run(verify_args(&p, false))["changed"], false);
    p.postconf(&["-X", "smtp_tls_CAfile"]);
    must(
        Command::new("postfix")
            .arg("-c")
            .arg(p.h.postfix_dir())
            .arg("reload"),
    );
    let mark = p.pf.log_mark();
    p.pf.sendmail(FROM, TO, "unverified");
    let refused = p.pf.wait_log(mark, "Server certificate not verified", WAIT);
    assert!(refused.is_some(), "{}", p.pf.log_since(mark));
    assert!(
        p.sh.wait_message("unverified", std::time::Duration::from_secs(2))
            .is_none()
    );
}

/// A certificate for another name fails the probe, named; `secure` writes its own level.
#[test]
fn a_wrong_name_fails_the_probe_and_secure_is_its_own_level() {
    let (p, _ca) = Plain::verified(Hermes::plain("debops"), 30);
    let mut args = verify_args(&p, true);
    args["tls_name"] = json!("other.example.test");
    args["probe"] = json!(true);
    let out = p.h.run(args);
    assert_eq!(out["error"]["code"], "probe_failed", "{out:#}");
    assert!(
        out["msg"]
            .as_str()
            .unwrap()
            .contains("name other.example.test does not match"),
        "{out:#}"
    );
    let mut secure = verify_args(&p, true);
    secure["tls"] = json!("secure");
    p.h.run(secure).assert_ok();
    assert!(
        p.postconf(&["-h", "smtp_tls_policy_maps"])
            .contains(" = secure match=")
    );
    assert_eq!(p.deliver("secure")["tls"], true);
    let out = p.h.run(p.relay("may"));
    assert_eq!(out["changes"], json!(["main.cf"]), "{out:#}");
    assert!(
        !p.main_cf().contains("smtp_tls_policy_maps"),
        "{}",
        p.main_cf()
    );
}

/// Doctor checks the relay's certificate and warns under 14 days, without failing.
#[test]
fn doctor_warns_when_the_relay_certificate_expires_soon() {
    let (p, _ca) = Plain::verified(Hermes::plain("debian-stock"), 10);
    p.h.run(verify_args(&p, true)).assert_ok();
    let doctor = p.h.run(json!({"check_only": true}));
    assert_eq!(doctor["failed"], false, "{doctor:#}");
    let check = crate::common::check(&doctor, "relay_certificate");
    assert_eq!(check["ok"], true);
    assert_eq!(check["warning"], true, "{check}");
    let warnings = doctor["warnings"].to_string();
    assert!(warnings.contains("under 14 days"), "{warnings}");
    assert!(warnings.contains("expires in 9 days") || warnings.contains("expires in 10 days"));
}

/// Hermes mode: `verify` is stored as the page's `encrypt` level plus a policy directive, so
/// the Relay Host page still loads its three levels; mail goes out verified.
#[test]
fn hermes_mode_verify_keeps_the_page_levels() {
    let (p, _ca) = Plain::verified(Hermes::new(), 30);
    let out = p.h.run(verify_args(&p, true));
    out.assert_ok();
    assert_eq!(
        p.h.param(ids::TLS_LEVEL_VALUE).parameter.as_deref(),
        Some("encrypt")
    );
    let policy = p.h.db.rows(
        "SELECT v.parameter FROM parameters v JOIN parameters d ON v.parent = CAST(d.id AS TEXT) \
         WHERE d.parameter = 'smtp_tls_policy_maps' AND d.enabled = 1 AND v.enabled = 1",
    );
    assert_eq!(policy.len(), 1, "{policy:?}");
    let value = policy[0][0].clone().unwrap();
    assert!(
        value
            == format!(
                "inline:{{ {{ [127.0.0.1]:{} = verify match={RELAY_NAME} }} }}",
                p.sh.port
            ),
        "{value}"
    );
    // Rows keep Postfix's view of the path, as Hermes writes them.
    let ca = p.h.db.rows(
        "SELECT v.parameter FROM parameters v JOIN parameters d ON v.parent = CAST(d.id AS TEXT) \
         WHERE d.parameter = 'smtp_tls_CAfile' AND d.enabled = 1 AND v.enabled = 1",
    );
    assert_eq!(ca, [[Some("/etc/postfix/relay-ca.pem".to_string())]]);
    assert_eq!(p.deliver("hermes-verified")["tls"], true);
    assert_eq!(p.h.run(verify_args(&p, true))["changed"], false);
    let out = p.h.run(p.relay("encrypt"));
    out.assert_ok();
    assert!(!p.main_cf().contains("smtp_tls_policy_maps"));
}

/// README's "Any Postfix host" sample is what the binary prints for
/// `examples/plain-postfix.json` on Debian's stock main.cf (run in `/srv` there).
#[test]
fn the_readme_sample_is_real_output() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(repo.join("README.md")).unwrap();
    let check_cmd = "$ hermes-relayhost apply --args-file examples/plain-postfix.json --check --diff --format human\n";
    let real_cmd =
        "$ hermes-relayhost apply --args-file examples/plain-postfix.json --format human\n";
    let start = readme.find(check_cmd).expect("README lacks the sample") + check_cmd.len();
    let len = readme[start..].find(real_cmd).unwrap();
    let sample = &readme[start..start + len];

    let h = Hermes::plain("debian-stock");
    let top = h.dir.path().join("srv");
    let conf = top.join("demo/etc/postfix");
    fs::create_dir_all(&conf).unwrap();
    for file in ["main.cf", "master.cf"] {
        fs::copy(h.postfix_dir().join(file), conf.join(file)).unwrap();
    }
    let example = repo.join("examples/plain-postfix.json");
    let apply = |extra: &[&str]| {
        let out = assert_cmd::cargo::cargo_bin_cmd!("hermes-relayhost")
            .current_dir(&top)
            .args(["apply", "--args-file"])
            .arg(&example)
            .args(extra)
            .args(["--format", "human"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let shown = apply(&["--check", "--diff"])
        .replace(
            &h.root.join("etc/mailname").display().to_string(),
            "/etc/mailname",
        )
        .replace(&top.display().to_string(), "/srv");
    assert_eq!(shown, sample);
    assert!(apply(&[]).starts_with("changed: main.cf, sasl_passwd\n"));
    must(
        Command::new("postconf")
            .arg("-c")
            .arg(&conf)
            .args(["-e", "message_size_limit=20480000"]),
    );
    assert_eq!(
        apply(&[]),
        "no change\n  relay host: [smtp.example.com]:587\n"
    );
}

/// A reload that fails after the new files are in place puts main.cf, sasl_passwd and its map
/// back byte for byte, as on a Hermes host (the wrapper runs the real Postfix tools and fails
/// only the reload, a fault real Postfix will not produce on demand).
#[test]
fn a_failed_reload_restores_main_cf_and_sasl_passwd() {
    let h = Hermes::plain("oefenweb");
    let mut args = json!({
        "host": "smtp.example.com",
        "port": 587,
        "tls": "encrypt",
        "username": USER,
        "password": PASSWORD,
    });
    h.run(args.clone()).assert_ok();
    let before = h.snapshot();
    args["password"] = json!("n3w-secret value");
    args["port"] = json!(2525);
    // With a prefix, Postfix's view of the config dir must be given (else `/etc/postfix`).
    args["postfix_exec"] = h.failing_exec("reload");
    args["postfix_exec_dir"] = json!(h.postfix_dir());
    let out = h.run(args);
    assert_eq!(out["failed"], true, "{out:#}");
    assert_eq!(out["error"]["code"], "reload_failed", "{out:#}");
    let after = h.snapshot();
    for name in ["main.cf", "sasl_passwd", "sasl_passwd.db"] {
        let path = h.postfix_dir().join(name);
        assert_eq!(
            after.files[&path].0, before.files[&path].0,
            "{name} was not restored"
        );
    }
    assert_eq!(
        h.postmap_query("[smtp.example.com]:587").as_deref(),
        Some(format!("{USER}:{PASSWORD}").as_str())
    );
}

/// Check mode and the real run agree on a plain host, whatever state it is in: the verdict
/// (failed, code, changed, changes) is the same, and check mode leaves every file as it was.
#[test]
fn check_mode_and_the_real_run_agree_on_a_plain_host() {
    let relay = json!({
        "host": "smtp.example.com", "port": 587, "username": USER, "password": PASSWORD,
        "sasl_security_options": "noanonymous",
    });
    type Setup = fn(&Hermes);
    let states: [(&str, Setup, Value, Option<&str>); 6] = [
        ("fresh", |_| {}, relay.clone(), None),
        (
            "configured",
            |h| {
                let args = json!({"host": "smtp.example.com", "port": 587, "username": USER,
                    "password": PASSWORD, "sasl_security_options": "noanonymous"});
                h.run(args).assert_ok();
            },
            relay.clone(),
            None,
        ),
        (
            "no main.cf",
            |h| fs::remove_file(h.postfix_dir().join("main.cf")).unwrap(),
            relay.clone(),
            Some("io_error"),
        ),
        (
            "main.cf Postfix refuses",
            |h| {
                let path = h.postfix_dir().join("main.cf");
                let text = fs::read_to_string(&path).unwrap();
                fs::write(path, format!("{text}not a directive line\n")).unwrap();
            },
            relay.clone(),
            Some("invalid_postfix_config"),
        ),
        (
            "no Postfix tools",
            |_| {},
            {
                let mut args = relay.clone();
                args["postfix_exec"] = json!(["/nonexistent/bin/env"]);
                args["postfix_exec_dir"] = json!("/etc/postfix");
                args
            },
            Some("postfix_unreachable"),
        ),
        (
            "a CA file Postfix cannot read",
            |h| {
                let ca = h.postfix_dir().join("relay-ca.pem");
                let cert = crate::support::self_signed_cert(h.dir.path()).0;
                fs::copy(cert, &ca).unwrap();
                fs::set_permissions(ca, fs::Permissions::from_mode(0o600)).unwrap();
            },
            {
                let mut args = relay.clone();
                args["tls"] = json!("verify");
                args["tls_ca_file"] = json!("/etc/postfix/relay-ca.pem");
                args
            },
            Some("invalid_args"),
        ),
    ];
    for (name, setup, args, code) in states {
        let (checked, real) = (Hermes::plain("debops"), Hermes::plain("debops"));
        setup(&checked);
        setup(&real);
        let before = checked.snapshot();
        let mut check_args = args.clone();
        check_args["_ansible_check_mode"] = json!(true);
        let preview = checked.run(check_args);
        assert_eq!(
            checked.snapshot().files,
            before.files,
            "{name}: check mode wrote"
        );
        let out = real.run(args);
        assert_eq!(
            crate::common::verdict(&preview),
            crate::common::verdict(&out),
            "{name}: check mode said {preview:#}, the real run {out:#}"
        );
        assert_eq!(out["error"]["code"].as_str(), code, "{name}: {out:#}");
    }
}
