//! (d) The real runners and the portable release binary on the container topology: the same
//! relay change through `ansible-playbook` (the repo's collection, connection local to the
//! container host) and through `salt-call --local` (the state `hermes_relay_host`, the password
//! from pillar), both with the DEFAULT location options (`docker exec hermes_postfix_dkim`, so
//! only `DOCKER_HOST` in their environment reaches the container) and previewed first; and the
//! portable build (`target/dist/x86_64/hermes-relayhost`, glibc 2.17) doing a full apply from
//! inside the bullseye container (glibc 2.31), which the host build cannot even start in.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::{Outcome, PASSWORD, assert_no_secret, ids};
use crate::relay::{USER, World, assert_relay_configured, relay_key};
use crate::topology::{Case, Topology, must};

/// The integration crate's runner helpers: the pinned venv, the private copy of the collection
/// with the (stripped) binary under test, `ansible-playbook` and its PLAY RECAP.
#[allow(dead_code)]
#[path = "../integration/runners/mod.rs"]
mod harness;

use harness::on_localhost;
use harness::{Ansible, host_recap, module_binary};
use minion::Minion;
use plays::{FQCN, INFO};

/// The integration crate's playbooks: written as its tests write them, run against this host.
#[allow(dead_code)]
#[path = "../integration/ansible/plays.rs"]
mod plays;

/// Mail sent into the container's Postfix reaches the smarthost, authenticated as `USER`, with
/// no rejected login on the way.
fn assert_relays_with_auth(w: &World, subject: &str) {
    let m = w.deliver(subject);
    assert_eq!(m["auth_user"], USER, "{}", w.why());
    assert_eq!(m["rcpt_tos"], json!([crate::relay::TO]), "{}", w.why());
    assert!(w.sh.failed_logins().is_empty(), "{}", w.why());
}

/// Nothing of the relay written yet: no relay rows or credentials, sasl_passwd and its map as
/// `init` left them (empty), the container's Postfix without a relayhost.
fn assert_nothing_configured(w: &World) {
    let c = &w.c;
    assert_eq!(c.param(ids::RELAYHOST_VALUE).parameter.as_deref(), Some(""));
    assert_eq!(c.setting("relay_host_password"), "");
    assert_eq!(c.file("sasl_passwd").unwrap_or_default(), "");
    assert_eq!(c.postmap_query(&relay_key(w)), None);
    let relayhost = c.t.in_postfix(&["postconf", "-h", "relayhost"]);
    assert_eq!(relayhost.trim(), "");
}

fn assert_no_reload(c: &Case, mark: usize, what: &str) {
    let log = c.log_since(mark);
    assert!(!log.contains("reload"), "{what} reloaded Postfix:\n{log}");
}

fn assert_reloaded(c: &Case, mark: usize, what: &str) {
    assert!(
        c.wait_log(mark, "reload -- version").is_some(),
        "no reload in `docker logs` after {what}:\n{}",
        c.log_since(mark)
    );
}

// ---------------------------------------------------------------------------------------------
// Ansible

/// `ansible-playbook -i localhost, -c local PLAY ARGS…` with `DOCKER_HOST` of the topology and
/// the venv's Python as the managed host's interpreter (the harness sets it; discovery may pick
/// a broken pyenv shim).
fn playbook(a: &Ansible, t: &Topology, play: &Path, args: &[&str]) -> harness::Output {
    harness::run(on_localhost(
        a.command("ansible-playbook")
            .env("DOCKER_HOST", &t.docker_host),
        play,
        args,
    ))
}

/// A play whose location options are only the case's (`root`, `database`,
/// `database_options_file`, the template `vars`) in `module_defaults` for the action group, the
/// password from a vars file (as from a vault: never in the playbook Ansible may quote).
fn write_play(a: &Ansible, c: &Case, name: &str, password: &str, tasks: &[Value]) -> PathBuf {
    let vars = json!({ "relay_password": password });
    plays::tasks(a.path(), name, &vars, Some(&c.base), tasks)
}

/// The `relay_host` task for the World's smarthost, its password a vars-file variable.
fn relay_task(w: &World) -> Value {
    let mut options = w.relay(PASSWORD);
    options["password"] = json!("{{ relay_password }}");
    json!({"name": "relay host", FQCN: options})
}

/// The object a `debug: var=report` task printed.
fn report(out: &harness::Output) -> Value {
    let at = out
        .stdout
        .find("\"report\": ")
        .unwrap_or_else(|| panic!("no report:\n{}", out.all()));
    let text = &out.stdout[at + "\"report\": ".len()..];
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap()
}

/// Neither the password nor any half of it in what a runner printed.
fn assert_no_password(all: &str) {
    assert_no_secret(all, &[PASSWORD]);
}

#[test]
fn ansible_playbook_configures_the_relay_through_the_container() {
    let w = World::new(&[(USER, PASSWORD)]);
    let c = &w.c;
    let a = Ansible::new();
    let key = relay_key(&w);
    let play = write_play(&a, c, "relay.yml", PASSWORD, &[relay_task(&w)]);

    // --check --diff: the pending change, masked, and nothing written or reloaded.
    let before = c.snapshot();
    let mark = c.log_mark();
    let out = playbook(&a, c.t, &play, &["--check", "--diff", "-vvv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let recap = host_recap(&out, "localhost");
    assert_eq!((recap["changed"], recap["failed"]), (1, 0), "{}", out.all());
    for shown in [
        format!("+relayhost = {key}"),
        format!("+{key}\t{USER}:********"),
        "+system_settings.relay_host_password = ******** (new)".to_string(),
    ] {
        assert!(
            out.stdout.contains(&shown),
            "the diff lacks {shown:?}:\n{}",
            out.all()
        );
    }
    assert_no_password(&out.all());
    assert_eq!(c.snapshot(), before, "check mode wrote something");
    assert_nothing_configured(&w);
    assert_no_reload(c, mark, "check mode");

    // The real run: rows, files, the map built and Postfix reloaded in the container.
    let mark = c.log_mark();
    let out = playbook(&a, c.t, &play, &["--diff", "-vvv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let recap = host_recap(&out, "localhost");
    assert_eq!((recap["changed"], recap["failed"]), (1, 0), "{}", out.all());
    // -vvv prints the module's invocation: the password masked as Ansible masks no_log options.
    assert!(
        out.stdout.contains("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"),
        "{}",
        out.all()
    );
    assert!(
        !out.stdout.contains("not running"),
        "the module did not see the container's Postfix:\n{}",
        out.all()
    );
    assert_no_password(&out.all());
    assert_relay_configured(&w);
    assert_reloaded(c, mark, "ansible-playbook");
    assert_relays_with_auth(&w, "container-ansible");

    // Again, with relay_host_info: ok, changed=0, nothing written, the host healthy.
    let play = write_play(
        &a,
        c,
        "again.yml",
        PASSWORD,
        &[
            relay_task(&w),
            json!({"name": "info", INFO: {}, "register": "info"}),
            json!({"name": "report", "ansible.builtin.debug": {"var": "report"},
                   "vars": {"report": "{{ info }}"}}),
        ],
    );
    let before = c.snapshot();
    let mark = c.log_mark();
    let out = playbook(&a, c.t, &play, &["-v"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let recap = host_recap(&out, "localhost");
    assert_eq!(
        (recap["ok"], recap["changed"], recap["failed"]),
        (3, 0, 0),
        "{}",
        out.all()
    );
    assert_no_password(&out.all());
    assert_eq!(c.snapshot(), before, "a no-change run wrote something");
    assert_no_reload(c, mark, "a no-change run");
    let info = report(&out);
    assert_eq!(info["failed"], false, "{info:#}");
    assert_eq!(info["changed"], false, "{info:#}");
    assert_eq!(info["healthy"], true, "{info:#}");
    assert_eq!(
        info["relay"],
        json!({"state": "present", "host": "127.0.0.1", "port": w.sh.port, "tls": "none",
               "auth": true, "username": USER}),
        "{info:#}"
    );
    let checks = info["checks"].as_array().unwrap();
    assert!(!checks.is_empty(), "{info:#}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{info:#}");
}

// ---------------------------------------------------------------------------------------------
// Salt

/// The integration crate's masterless minion (`salt-call --local` in a temp dir).
#[allow(dead_code)]
#[path = "../integration/salt/minion.rs"]
mod minion;

/// A masterless minion set up as a Hermes host would be: the repo's `modules/salt` in
/// `file_roots` and its `_modules`/`_states` synced with `saltutil.sync_all`, the binary where
/// the minion option `hermes_relay_host.binary` says, the relay password in pillar, the
/// topology's `DOCKER_HOST` in salt-call's environment.
fn minion(t: &Topology) -> Minion {
    let m = Minion::with_config(json!({
        "id": "hermes-container",
        "log_level_logfile": "debug",
        "module_dirs": null,
        "states_dirs": null,
    }))
    .with_env("DOCKER_HOST", &t.docker_host);
    m.set_config(
        "file_roots",
        json!({"base": [m.path().join("srv"), minion::modules_src()]}),
    );
    m.sync_all();
    m
}

#[test]
fn salt_state_configures_the_relay_through_the_container() {
    let w = World::new(&[(USER, PASSWORD)]);
    let c = &w.c;
    let m = minion(c.t);
    let key = relay_key(&w);
    m.pillar(&json!({"hermes_relay": {"password": PASSWORD}}));
    let mut options = c.args(w.relay(PASSWORD));
    options.as_object_mut().unwrap().remove("password");
    options["password_pillar"] = json!("hermes_relay:password");
    m.sls("relay", "configured", options);
    let mut outs = Vec::new();

    // test=True: result None with the pending changes, masked; nothing written or reloaded.
    let before = c.snapshot();
    let mark = c.log_mark();
    let (out, preview) = m.apply("relay", true, &["--retcode-passthrough"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(preview["result"], Value::Null, "{}", out.all());
    assert_eq!(
        preview["comment"],
        "would change: rows, main.cf, sasl_passwd",
        "{}",
        out.all()
    );
    let changes = preview["changes"].clone();
    assert_eq!(
        changes["sasl_passwd"],
        json!({"old": "", "new": format!("{key}\t{USER}:********")}),
        "{}",
        out.all()
    );
    assert!(
        changes["rows"]["new"]
            .as_str()
            .unwrap()
            .contains("system_settings.relay_host_password = ******** (new)"),
        "{}",
        out.all()
    );
    assert_eq!(c.snapshot(), before, "test=True wrote something");
    assert_nothing_configured(&w);
    assert_no_reload(c, mark, "test=True");
    outs.push(out);

    // The real run does what the preview said; the container's Postfix is running, so the
    // reload is no warning.
    let mark = c.log_mark();
    let (out, ret) = m.apply("relay", false, &["--retcode-passthrough"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(ret["result"], true, "{}", out.all());
    assert_eq!(
        ret["comment"],
        "changed: rows, main.cf, sasl_passwd",
        "{}",
        out.all()
    );
    assert_eq!(
        ret["changes"], changes,
        "the real run differs from its preview"
    );
    assert!(ret.get("warnings").is_none(), "{}", out.all());
    assert_relay_configured(&w);
    assert_reloaded(c, mark, "state.apply");
    assert_relays_with_auth(&w, "container-salt");
    outs.push(out);

    // Idempotent: no change, nothing written, no reload.
    let before = c.snapshot();
    let mark = c.log_mark();
    let (out, ret) = m.apply("relay", false, &["--retcode-passthrough"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(ret["result"], true, "{}", out.all());
    assert_eq!(ret["changes"], json!({}), "{}", out.all());
    assert_eq!(ret["comment"], "no change", "{}", out.all());
    assert_eq!(c.snapshot(), before, "a no-change run wrote something");
    assert_no_reload(c, mark, "a no-change run");
    outs.push(out);

    for out in &outs {
        assert_no_password(&out.all());
    }
    let log = m.log();
    assert!(log.contains("[DEBUG   ]"), "the log is not at debug level");
    assert_no_password(&log);
    let sls = fs::read_to_string(m.path().join("srv/relay.sls")).unwrap();
    assert_no_password(&sls);
}

// ---------------------------------------------------------------------------------------------
// The portable release binary inside the container

/// The portable build (scripts/build-release.sh; scripts/check-release.sh in scripts/test.sh
/// makes it before this tier runs).
fn portable_binary() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dist/x86_64/hermes-relayhost")
}

/// Where the test puts things in the container: the binaries, Hermes's /opt/hermes (key,
/// template, the database option file) and the args file. Removed again when dropped, so the
/// container is as the topology started it for the next scenario.
const IN_BIN: &str = "/usr/local/bin/hermes-relayhost";
const IN_HOST_BUILD: &str = "/tmp/hermes-relayhost-host-build";
const IN_OPT: &str = "/opt/hermes";
const IN_OPTIONS_FILE: &str = "/opt/hermes/client.cnf";
const IN_ARGS: &str = "/opt/hermes/args.json";

struct InContainer<'a> {
    t: &'a Topology,
}

impl<'a> InContainer<'a> {
    fn new(t: &'a Topology) -> InContainer<'a> {
        let me = InContainer { t };
        me.clean();
        me
    }

    fn clean(&self) {
        let _ = self
            .t
            .docker()
            .args(["exec", &self.t.postfix_container, "rm", "-rf"])
            .args([IN_BIN, IN_HOST_BUILD, IN_OPT])
            .output();
    }

    /// `docker cp FROM CONTAINER:TO`.
    fn copy_in(&self, from: &Path, to: &str) {
        must(
            self.t
                .docker()
                .arg("cp")
                .arg(from)
                .arg(format!("{}:{to}", self.t.postfix_container)),
        );
    }

    /// `docker exec -i CONTAINER ARGS…` with `stdin`, whatever its exit status.
    fn exec(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .t
            .docker()
            .args(["exec", "-i", &self.t.postfix_container])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// The binary's one JSON result object from a run inside the container.
    fn json(out: &Output) -> Value {
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "no JSON result ({e}, {}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

impl Drop for InContainer<'_> {
    fn drop(&mut self) {
        self.clean();
    }
}

/// The host's glibc as (major, minor), from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[test]
fn portable_binary_applies_from_inside_the_bullseye_container() {
    let bin = portable_binary();
    if !bin.exists() {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED portable_binary_applies_from_inside_the_bullseye_container: \
             {} is missing. Build it with `bash scripts/build-release.sh` (cargo-zigbuild, \
             glibc 2.17; scripts/test.sh runs scripts/check-release.sh before this tier). \
             !!!!!!!!\n",
            bin.display()
        );
        return;
    }
    let w = World::new(&[(USER, PASSWORD)]);
    let c = &w.c;
    let t = c.t;
    let inside = InContainer::new(t);

    // The container is Debian bullseye: glibc 2.31, older than the one the host build needs.
    let ldd = inside.exec(&["ldd", "--version"], b"");
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    assert!(
        ldd.lines().next().unwrap_or("").ends_with(" 2.31"),
        "not the bullseye container: {ldd}"
    );

    // A Hermes layout at the default paths inside the container: the case's key and template
    // (its instance settings merged in) in /opt/hermes, the database option file beside them,
    // /etc/postfix the running Postfix's own (the host's dir, bind-mounted). Every location
    // option but `database`, its option file and the template `vars` is the default; Postfix's
    // tools run right there (`postfix_exec: []`).
    inside.copy_in(&bin, IN_BIN);
    inside.copy_in(&t.root.join("opt/hermes"), IN_OPT);
    inside.copy_in(&t.options_file, IN_OPTIONS_FILE);
    let mut args = w.relay(PASSWORD);
    for (k, v) in [
        ("database", json!(t.url(&c.db))),
        ("database_options_file", json!(IN_OPTIONS_FILE)),
        ("vars", c.base["vars"].clone()),
        ("postfix_exec", json!([])),
    ] {
        args[k] = v;
    }
    let args = serde_json::to_vec(&args).unwrap();

    // Module mode, as Ansible runs a binary module: the args in a 0600 file.
    let before = c.snapshot();
    let mark = c.log_mark();
    let wrote = inside.exec(
        &["sh", "-c", "umask 077 && cat > \"$1\"", "sh", IN_ARGS],
        &args,
    );
    assert!(wrote.status.success(), "{wrote:?}");
    let out = inside.exec(&["hermes-relayhost", IN_ARGS], b"");
    let _ = inside.exec(&["rm", "-f", IN_ARGS], b"");
    assert_no_secret(&String::from_utf8_lossy(&out.stdout), &[PASSWORD]);
    assert_no_secret(&String::from_utf8_lossy(&out.stderr), &[PASSWORD]);
    assert!(out.status.success(), "{out:?}");
    let result = InContainer::json(&out);
    result.assert_ok();
    assert_eq!(result["changed"], true, "{result:#}");
    assert_eq!(result["warnings"], json!([]), "{result:#}");
    assert_ne!(c.snapshot(), before);
    assert_relay_configured(&w);
    assert_reloaded(c, mark, "the apply inside the container");
    assert_relays_with_auth(&w, "container-portable");

    // The CLI inside, args on stdin as Salt passes them: nothing left to do, nothing written.
    let before = c.snapshot();
    let mark = c.log_mark();
    let out = inside.exec(
        &[
            "hermes-relayhost",
            "apply",
            "--args-file",
            "-",
            "--format",
            "json",
        ],
        &args,
    );
    assert!(out.status.success(), "{out:?}");
    let again = InContainer::json(&out);
    again.assert_ok();
    assert_eq!(again["changed"], false, "{again:#}");
    assert_eq!(c.snapshot(), before, "a no-change run wrote something");
    assert_no_reload(c, mark, "a no-change run");

    // The host build cannot start there when it was linked against glibc 2.34 or newer (as
    // every build on this kind of machine is): what the portable build is for.
    match host_glibc() {
        Some(version) if version >= (2, 34) => {
            inside.copy_in(module_binary(), IN_HOST_BUILD);
            let out = inside.exec(&[IN_HOST_BUILD, "--version"], b"");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success()
                    && stderr.contains("GLIBC_2.3")
                    && stderr.contains("not found"),
                "the host build (glibc {version:?}) ran inside bullseye: {out:?}"
            );
        }
        version => {
            eprintln!("host glibc {version:?}: the host build may run inside bullseye; not checked")
        }
    }
}
