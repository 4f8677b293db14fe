//! The Ansible collection `hermes_seg.relay` with the real ansible-core, the newest and the
//! oldest it claims (pinned venvs): the action plugin brings the binary to each host once, into
//! a private cache; check mode, diff, no_log, async, module_defaults for the action group,
//! `relay_host_info` and the `relay_host` role work as the contract says, passwords never
//! shown; a collection without a binary (the git tree) or for another architecture resolves the
//! modules and fails with how to build one; the docs cannot drift from the JSON schema.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Hermes, PASSWORD};
use crate::runners::{Ansible, Output, binary_in, host_recap, module_binary, run};
use crate::support::{PrivatePostfix, WAIT, must};
use serde_json::{Value, json};

/// How these tests (and `plugin.rs`, `release.rs`, the container crate's) write and run a
/// playbook.
pub mod plays;

use crate::runners::on_localhost;
use plays::{FQCN, INFO};

/// A distinctive part of the password: even a partial leak must be caught.
const PASSWORD_PART: &str = "w0rd";

fn assert_no_password(out: &Output) {
    let all = out.all();
    assert!(
        !all.contains(PASSWORD) && !all.contains(PASSWORD_PART),
        "the password leaked:\n{all}"
    );
}

/// A play against the fixture's root: its location options (root, postfix_exec, vars) once
/// in `module_defaults` for the action group, then `tasks`. A task's `password` is moved to
/// the vars file, as from a vault in real use.
fn play(a: &Ansible, h: &Hermes, name: &str, tasks: &[Value]) -> PathBuf {
    let mut vars = json!({});
    let tasks: Vec<Value> = tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let mut task = task.clone();
            for module in [FQCN, INFO] {
                if let Some(password) = task[module].get("password").cloned() {
                    vars[format!("relay_password_{i}")] = password;
                    task[module]["password"] = json!(format!("{{{{ relay_password_{i} }}}}"));
                }
            }
            task
        })
        .collect();
    plays::tasks(a.path(), name, &vars, Some(&h.base), &tasks)
}

/// A one-task play of `relay_host` with these options.
fn playbook(a: &Ansible, h: &Hermes, name: &str, options: Value) -> PathBuf {
    play(a, h, name, &[json!({"name": "relay host", FQCN: options})])
}

fn relay_options(password: &str) -> Value {
    json!({"host": "smtp.example.com", "port": 587, "username": "relayuser", "password": password})
}

/// How often `-vvv` output shows the collection's binary being copied to a host.
fn binary_transfers(out: &Output) -> usize {
    out.stdout
        .lines()
        .filter(|l| {
            l.contains("PUT ") && l.contains("/files/") && l.contains("hermes-relayhost TO")
        })
        .count()
}

/// The result object ansible-playbook printed for a task (`-v` and up), found by a key that
/// only that result has.
fn task_result(out: &Output, key: &str) -> Value {
    let start = out
        .stdout
        .find(&format!("\"{key}\""))
        .and_then(|at| out.stdout[..at].rfind("=> {"))
        .unwrap_or_else(|| panic!("no result with {key:?}:\n{}", out.all()));
    let text = &out.stdout[start + 3..];
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Check mode and diff, a real run, its idempotent re-run and a rotation preview, with one
/// binary transfer in all: the flow every supported ansible-core must run.
fn core_flow(a: &Ansible) {
    let h = Hermes::new();
    let play = playbook(a, &h, "play.yml", relay_options(PASSWORD));
    let before = h.snapshot();

    let out = a.playbook(&play, &["--check", "--diff", "-vvv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let recap = host_recap(&out, "localhost");
    assert_eq!((recap["changed"], recap["failed"]), (1, 0), "{}", out.all());
    for shown in [
        "+relayhost = [smtp.example.com]:587",
        "+[smtp.example.com]:587\trelayuser:********",
        "+system_settings.relay_host_password = ******** (new)",
    ] {
        assert!(
            out.stdout.contains(shown),
            "diff lacks {shown:?}:\n{}",
            out.all()
        );
    }
    assert_no_password(&out);
    assert_eq!(h.snapshot(), before, "check mode wrote something");
    let mut transfers = binary_transfers(&out);

    // -vvv prints the module's whole result, its invocation and the command lines.
    let out = a.playbook(&play, &["-vvv", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert!(out.stdout.contains("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"));
    assert_no_password(&out);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!("[smtp.example.com]:587\trelayuser:{PASSWORD}\n")
    );
    transfers += binary_transfers(&out);

    let before = h.snapshot();
    let out = a.playbook(&play, &["-vvv"]);
    let recap = host_recap(&out, "localhost");
    assert_eq!((recap["ok"], recap["changed"]), (1, 0), "{}", out.all());
    assert_no_password(&out);
    assert_eq!(h.snapshot(), before, "a no-change run wrote something");
    transfers += binary_transfers(&out);

    // A rotation preview names both sides, masked, and still writes nothing.
    let rotate = playbook(a, &h, "rotate.yml", relay_options("n3w-secret-Rotated"));
    let out = a.playbook(&rotate, &["--check", "--diff", "-vvv"]);
    assert_rotation_previewed(&out);
    assert!(!out.all().contains("n3w-secret"), "{}", out.all());
    assert_eq!(h.snapshot(), before);
    transfers += binary_transfers(&out);
    assert_eq!(
        transfers, 1,
        "the binary must reach the host once in four runs"
    );
}

/// A `--check --diff` run of a password rotation on localhost: one change, whose diff names
/// the stored password's old and new value, both masked.
pub fn assert_rotation_previewed(out: &Output) {
    assert_eq!(host_recap(out, "localhost")["changed"], 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("-system_settings.relay_host_password = ******** (old)")
            && out
                .stdout
                .contains("+system_settings.relay_host_password = ******** (new)"),
        "{}",
        out.all()
    );
}

#[test]
fn core_flow_on_the_newest_ansible_core() {
    core_flow(&Ansible::new());
}

#[test]
fn core_flow_on_the_oldest_ansible_core() {
    let a = Ansible::oldest();
    let version = run(a.command("ansible").arg("--version"));
    assert!(version.stdout.contains("core 2.16."), "{}", version.all());
    core_flow(&a);
}

#[test]
fn validation_error_fails_the_task_with_the_clear_message() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let mut options = relay_options(PASSWORD);
    options["host"] = json!("bad host.example.com");
    let play = playbook(&a, &h, "play.yml", options);
    let before = h.snapshot();

    let out = a.playbook(&play, &["-vvv"]);
    assert_eq!(
        out.code,
        2,
        "a failed task makes ansible-playbook exit 2:\n{}",
        out.all()
    );
    assert_eq!(host_recap(&out, "localhost")["failed"], 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("option 'host': contains whitespace or a control character")
            && out.stdout.contains("invalid_host"),
        "{}",
        out.all()
    );
    assert_no_password(&out);
    assert_eq!(h.snapshot(), before);
}

/// Two hosts (each its own root and cache dir, as two machines would have), two tasks each:
/// the binary is copied once per host, into a 0700 dir as a 0700 file, and takes its options
/// on stdin (no args file), the first run included. A new binary in the collection is copied
/// once more and replaces the old copy.
#[test]
fn the_binary_reaches_each_host_once_into_a_private_cache() {
    let a = Ansible::new();
    let hosts = [Hermes::new(), Hermes::new()];
    let mut inventory = String::from("all:\n  hosts:\n");
    for (i, h) in hosts.iter().enumerate() {
        // The wrapper records where the binary took its options from (its argv[1]): `-`
        // (stdin) or an args file's mode.
        let record = h.dir.path().join("args-mode");
        let exec = h.fault_exec(
            "postconf",
            &format!(
                "a=$(tr '\\0' '\\n' </proc/$PPID/cmdline | sed -n 2p); \
                 if [ \"$a\" = - ]; then echo stdin; else stat -c %a \"$a\"; fi > {}",
                record.display()
            ),
            false,
        );
        let vars = json!({
            "ansible_connection": "local",
            "hermes_relay_cache_dir": a.path().join(format!("cache-{i}")),
            "relay_root": h.root,
            "relay_exec": exec,
            "relay_exec_dir": h.postfix_dir(),
        });
        inventory.push_str(&format!("    host{i}: {vars}\n"));
    }
    fs::write(a.path().join("hosts.yml"), inventory).unwrap();
    // Each host's own location, from its inventory variables.
    let location = json!({
        "root": "{{ relay_root }}",
        "postfix_exec": "{{ relay_exec }}",
        "postfix_exec_dir": "{{ relay_exec_dir }}",
        "vars": hosts[0].base["vars"],
    });
    let playbook = plays::tasks(
        a.path(),
        "play.yml",
        &json!({}),
        Some(&location),
        &[
            json!({"name": "relay", FQCN: {"host": "smtp.example.com", "port": 587}}),
            json!({"name": "info", INFO: {}, "register": "info"}),
        ],
    );
    let ansible = |extra: &[&str]| {
        run(a
            .command("ansible-playbook")
            .args(["-i", "hosts.yml", "-vvv"])
            .arg(&playbook)
            .args(extra))
    };

    let out = ansible(&[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(binary_transfers(&out), 2, "one per host:\n{}", out.all());
    for (i, h) in hosts.iter().enumerate() {
        let counts = host_recap(&out, &format!("host{i}"));
        assert_eq!((counts["ok"], counts["changed"]), (2, 1), "{}", out.all());
        assert_eq!(
            h.param(203).parameter.as_deref(),
            Some("[smtp.example.com]:587")
        );
        let cache = a.path().join(format!("cache-{i}"));
        assert_eq!(mode(&cache), 0o700);
        let cached: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(cached.len(), 1, "{cached:?}");
        assert_eq!(mode(&cached[0]), 0o700);
        assert_eq!(
            fs::read(&cached[0]).unwrap(),
            fs::read(module_binary()).unwrap()
        );
        let args_mode = fs::read_to_string(h.dir.path().join("args-mode")).unwrap();
        assert_eq!(args_mode.trim(), "stdin", "where the options came from");
    }
    // Ansible's per-task temp dirs, and the args files in them, are gone.
    let leftovers: Vec<_> = fs::read_dir(a.path().join("tmp-remote"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let inode = |i: usize| {
        let cache = a.path().join(format!("cache-{i}"));
        let file = fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        (file.clone(), fs::metadata(&file).unwrap().ino())
    };
    let before = [inode(0), inode(1)];
    let out = ansible(&["--check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(binary_transfers(&out), 0, "{}", out.all());
    assert_eq!(
        [inode(0), inode(1)],
        before,
        "the cached copies were rewritten"
    );

    // A new build of the binary in the collection reaches each host once more.
    let binary = binary_in(&Ansible::collection_in(&a.collections()));
    fs::OpenOptions::new()
        .append(true)
        .open(&binary)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"\0new build"))
        .unwrap();
    let out = ansible(&["--check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(binary_transfers(&out), 2, "{}", out.all());
    for (i, old) in before.iter().enumerate() {
        let (now, _) = inode(i);
        assert_ne!(now, old.0, "the new build has its own name");
        assert!(!old.0.exists(), "the old build was not removed");
        assert_eq!(fs::read(&now).unwrap(), fs::read(&binary).unwrap());
    }
}

/// Async tasks run the Python module, which gives the binary its options in a 0600 args file
/// (recorded by a wrapper around the real binary), gone afterwards.
#[test]
fn async_tasks_run_the_binary_in_the_background() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let record = a.path().join("args-modes");
    wrap_binary(&a, |real| {
        format!(
            "#!/bin/sh
[ \"$1\" = - ] || stat -c %a \"$1\" >> {record:?}
exec {real:?} \"$@\"
"
        )
    });
    let play = play(
        &a,
        &h,
        "play.yml",
        &[
            json!({"name": "waited for", FQCN: relay_options(PASSWORD), "async": 120, "poll": 1}),
            json!({"name": "fire and forget", INFO: {}, "async": 120, "poll": 0,
                   "register": "job"}),
            json!({"name": "collect", "ansible.builtin.async_status": {"jid": "{{ job.ansible_job_id }}"},
                   "register": "done", "until": "done.finished", "retries": 60, "delay": 1}),
            report(json!({"changed": "{{ done.changed }}", "relay": "{{ done.relay }}"})),
        ],
    );
    let out = a.playbook(&play, &["-v"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // The relay change, and Ansible's "started" for the `poll: 0` job.
    assert_eq!(host_recap(&out, "localhost")["changed"], 2, "{}", out.all());
    assert!(
        out.stdout.contains("ASYNC OK on localhost"),
        "{}",
        out.all()
    );
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    let report = &task_result(&out, "report")["report"];
    assert_eq!(report["relay"]["host"], "smtp.example.com", "{}", out.all());
    assert_eq!(report["changed"], false, "{}", out.all());
    assert_no_password(&out);
    let modes = fs::read_to_string(&record).unwrap();
    assert_eq!(modes, "600\n600\n", "the args files' modes");
    // Async's wrapper removes its temp dir (the AnsiballZ file holds the options) once the
    // job has finished, maybe after the play ended.
    let tmp = a.path().join("tmp-remote");
    let gone = crate::support::poll(WAIT, || {
        fs::read_dir(&tmp)
            .map_or(true, |mut d| d.next().is_none())
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "{:?}",
        fs::read_dir(&tmp).unwrap().collect::<Vec<_>>()
    );
}

/// Puts the script `wrapper(real)` in place of the collection's binary, which it moves to
/// `real`: a fault wrapped around the real binary.
pub fn wrap_binary(a: &Ansible, wrapper: impl FnOnce(&Path) -> String) {
    let binary = binary_in(&Ansible::collection_in(&a.collections()));
    let real = a.path().join("real-hermes-relayhost");
    fs::rename(&binary, &real).unwrap();
    fs::write(&binary, wrapper(&real)).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Were the binary ever to print the password, Ansible would mask it: the module declares it
/// no_log. The fault (a binary that leaks) is a wrapper around the real one.
#[test]
fn ansible_masks_the_password_even_if_the_binary_printed_it() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let python = crate::runners::tool_in(crate::runners::NEWEST, "python");
    // The options come on stdin (`-`) or in an args file (the module's, for async and su).
    wrap_binary(&a, |real| {
        format!(
            "#!{}\nimport json, subprocess, sys\n\
             text = sys.stdin.read() if sys.argv[1] == '-' else open(sys.argv[1]).read()\n\
             out = subprocess.run([{real:?}, '-'], input=text, capture_output=True, text=True).stdout\n\
             result = json.loads(out)\n\
             result['msg'] += ' leaked: ' + json.loads(text)['password']\n\
             print(json.dumps(result))\n",
            python.display()
        )
    });

    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));
    let out = a.playbook(&play, &["-v"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("leaked: ********"),
        "the fault did not fire:\n{}",
        out.all()
    );
    assert_no_password(&out);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
}

#[test]
fn relay_host_info_reports_the_settings_and_checks_without_secrets() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let playbook = play(
        &a,
        &h,
        "play.yml",
        &[
            json!({"name": "before", INFO: {}, "register": "before"}),
            json!({"name": "relay", FQCN: relay_options(PASSWORD)}),
            json!({"name": "after", INFO: {}, "register": "after"}),
            report(json!({"before": "{{ before }}", "after": "{{ after }}"})),
        ],
    );
    let out = a.playbook(&playbook, &["-v"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert_no_password(&out);
    let shown = task_result(&out, "report")["report"].clone();
    assert_eq!(shown["before"]["relay"]["state"], "absent", "{shown}");
    assert_eq!(shown["before"]["changed"], false);
    let after = &shown["after"];
    assert_eq!(
        after["relay"],
        json!({"state": "present", "host": "smtp.example.com", "port": 587, "tls": "may",
               "auth": true, "username": "relayuser"}),
        "{after}"
    );
    assert_eq!(after["changed"], false);
    let checks = after["checks"].as_array().unwrap();
    assert!(!checks.is_empty(), "{after}");
    assert_eq!(
        after["healthy"],
        json!(checks.iter().all(|c| c["ok"] == true)),
        "{after}"
    );

    // Check mode reads the same and writes nothing.
    let before = h.snapshot();
    let info = play(
        &a,
        &h,
        "info.yml",
        &[
            json!({"name": "info", INFO: {}, "register": "info"}),
            report(json!("{{ info }}")),
        ],
    );
    let out = a.playbook(&info, &["--check", "-v"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        task_result(&out, "report")["report"]["relay"],
        after["relay"]
    );
    assert_eq!(h.snapshot(), before);

    // Settings it cannot read fail the task, with the error code.
    fs::remove_file(h.db_path()).unwrap();
    let out = a.playbook(&info, &["-v"]);
    assert_eq!(host_recap(&out, "localhost")["failed"], 1, "{}", out.all());
    assert!(out.stdout.contains("\"code\""), "{}", out.all());
}

/// A task that prints `value` as `"report": …` for [`task_result`].
fn report(value: Value) -> Value {
    json!({"name": "report", "ansible.builtin.debug": {"var": "report"}, "vars": {"report": value}})
}

/// The git tree holds no binary: the modules resolve (ansible-doc, a playbook) and fail at run
/// time saying how to get one, also when built and installed with ansible-galaxy.
#[test]
fn a_collection_without_the_binary_fails_saying_how_to_build_it() {
    let a = Ansible::without_binary(crate::runners::NEWEST);
    let h = Hermes::new();
    let out = run(a.command("ansible-doc").arg(FQCN));
    assert!(
        out.code == 0 && out.stdout.contains("relay_host") && out.stdout.contains("OPTIONS"),
        "{}",
        out.all()
    );
    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));
    let expect = |out: &Output| {
        assert_eq!(host_recap(out, "localhost")["failed"], 1, "{}", out.all());
        assert!(
            out.stdout.contains("holds no hermes-relayhost binary")
                && out.stdout.contains("modules/ansible/build.sh")
                && out.stdout.contains("ansible-galaxy collection install"),
            "{}",
            out.all()
        );
        assert!(!out.all().contains("Cannot resolve"), "{}", out.all());
    };
    expect(&a.playbook(&play, &[]));

    let installed = galaxy_install(&a);
    expect(&run(on_localhost(
        &mut a.command_with("ansible-playbook", &installed),
        &play,
        &[],
    )));
}

#[test]
fn a_target_of_another_architecture_fails_saying_how_to_build_for_it() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let binary = binary_in(&Ansible::collection_in(&a.collections()));
    let other = if std::env::consts::ARCH == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    };
    let elsewhere = binary.parent().unwrap().with_file_name(other);
    fs::rename(binary.parent().unwrap(), &elsewhere).unwrap();

    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));
    let out = a.playbook(&play, &[]);
    assert_eq!(host_recap(&out, "localhost")["failed"], 1, "{}", out.all());
    let arch = std::env::consts::ARCH;
    assert!(
        out.stdout
            .contains(&format!("the target runs Linux on {arch}"))
            && out.stdout.contains(&format!("for Linux on {other} only"))
            && out
                .stdout
                .contains(&format!("modules/ansible/build.sh {arch}")),
        "{}",
        out.all()
    );
}

/// `ansible-galaxy collection build` of the private copy, installed into `installed/` from a
/// requirements.yml.
fn galaxy_install(a: &Ansible) -> PathBuf {
    let src = Ansible::collection_in(&a.collections());
    let out = run(a
        .command("ansible-galaxy")
        .args(["collection", "build", "--output-path"])
        .arg(a.path())
        .arg(&src));
    assert_eq!(out.code, 0, "{}", out.all());
    let version = fs::read_to_string(src.join("galaxy.yml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("version: ").map(str::to_string))
        .expect("galaxy.yml has a version");
    let tarball = a.path().join(format!("hermes_seg-relay-{version}.tar.gz"));
    assert!(tarball.exists(), "{}", out.all());

    let installed = a.path().join("installed");
    // As the README says: a requirements.yml naming the release tarball.
    let requirements = a.path().join("requirements.yml");
    fs::write(
        &requirements,
        format!("collections:\n  - name: {tarball:?}\n    type: file\n"),
    )
    .unwrap();
    // Installing with the private copy on the collections path would find it "already installed".
    let out = run(a
        .command_with("ansible-galaxy", &installed)
        .args(["collection", "install", "--offline", "-p"])
        .arg(&installed)
        .arg("-r")
        .arg(&requirements));
    assert_eq!(out.code, 0, "{}", out.all());
    installed
}

#[test]
fn galaxy_build_and_install_give_a_working_module() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let installed = galaxy_install(&a);
    assert_eq!(
        fs::read(binary_in(&Ansible::collection_in(&installed))).unwrap(),
        fs::read(module_binary()).unwrap(),
        "the installed collection does not hold the built binary"
    );

    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));
    let out = run(on_localhost(
        &mut a.command_with("ansible-playbook", &installed),
        &play,
        &[],
    ));
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert_eq!(
        h.param(203).parameter.as_deref(),
        Some("[smtp.example.com]:587")
    );
}

/// The role's variables for an authenticated relay over `encrypt` to smtp.example.com:587,
/// with `extra` merged in.
fn role_vars(extra: Value) -> Value {
    let mut vars = json!({
        "hermes_relay_host": "smtp.example.com",
        "hermes_relay_port": 587,
        "hermes_relay_tls": "encrypt",
        "hermes_relay_username": "relayuser",
        "hermes_relay_password": PASSWORD,
    });
    for (k, v) in extra.as_object().unwrap() {
        vars[k] = v.clone();
    }
    vars
}

/// The role with Oefenweb-style variables; `hermes_relay_reload: false` leaves the reload to
/// its handler, which reloads a real running Postfix once at the end of the play.
#[test]
fn the_role_configures_the_relay_and_its_handler_reloads_postfix() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let mut postfix = PrivatePostfix::start(&h);
    let vars = role_vars(json!({
        "hermes_relay_reload": false,
        "hermes_relay_root": h.root,
        "hermes_relay_postfix_exec": [],
        "hermes_relay_postfix_exec_dir": h.postfix_dir(),
        "hermes_relay_template_vars": h.base["vars"],
    }));
    let playbook = plays::role(a.path(), "role.yml", &vars, None);

    let mark = postfix.log_mark();
    let out = a.playbook(&playbook, &["--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_no_password(&out);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert!(
        h.file("main.cf")
            .unwrap()
            .contains("\nsmtp_sasl_security_options = noanonymous\n"),
        "the role's default sasl_security_options"
    );
    let handler = out
        .stdout
        .split("RUNNING HANDLER")
        .filter(|s| s.contains("Reload Postfix"))
        .count();
    assert_eq!(handler, 1, "{}", out.all());
    assert!(
        postfix.wait_log(mark, "reload", WAIT).is_some(),
        "Postfix was not reloaded:\n{}",
        postfix.log_since(mark)
    );
    let counts = host_recap(&out, "localhost");
    assert_eq!(counts["failed"], 0, "{}", out.all());

    // Nothing to change: no handler.
    let before = h.snapshot();
    let out = a.playbook(&playbook, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 0, "{}", out.all());
    assert!(!out.stdout.contains("RUNNING HANDLER"), "{}", out.all());
    assert_eq!(h.snapshot(), before);

    // meta/argument_specs.yml checks the variables before anything runs.
    let out = a.playbook(&playbook, &["-e", "hermes_relay_tls=bogus"]);
    assert_eq!(host_recap(&out, "localhost")["failed"], 1, "{}", out.all());
    assert!(
        out.stdout.contains("hermes_relay_tls") && out.stdout.contains("bogus"),
        "{}",
        out.all()
    );
    assert_eq!(h.snapshot(), before);
    postfix.stop();
}

/// The role with `hermes_relay_host_type: postfix` on a Debian stock main.cf: the relay keys
/// are set, a foreign `postconf -e` between runs survives a run that changes nothing, the
/// handler reloads the host's own Postfix (no container prefix) and mail relays with AUTH.
#[test]
fn the_role_configures_a_plain_postfix_host() {
    let (a, h) = (Ansible::new(), Hermes::plain("debian-stock"));
    let postfix = PrivatePostfix::start(&h);
    let sh = crate::support::Smarthost::start(
        h.dir.path(),
        "127.0.0.1",
        crate::support::Mode::StartTls,
        &[("relayuser", PASSWORD)],
    );
    let vars = role_vars(json!({
        "hermes_relay_host_type": "postfix",
        "hermes_relay_host": "127.0.0.1",
        "hermes_relay_port": sh.port,
        "hermes_relay_reload": false,
        "hermes_relay_root": h.root,
    }));
    let playbook = plays::role(a.path(), "plain.yml", &vars, None);
    let before = h.file("main.cf").unwrap();
    let out = a.playbook(&playbook, &["--check", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(h.file("main.cf").unwrap(), before, "check mode wrote");

    let mark = postfix.log_mark();
    let out = a.playbook(&playbook, &["--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_no_password(&out);
    assert_eq!(host_recap(&out, "localhost")["changed"], 2, "{}", out.all());
    assert!(
        postfix.wait_log(mark, "reload", WAIT).is_some(),
        "the handler did not reload the host's Postfix:\n{}",
        postfix.log_since(mark)
    );
    let main_cf = h.file("main.cf").unwrap();
    assert!(main_cf.contains(&format!("\nrelayhost = [127.0.0.1]:{}\n", sh.port)));
    assert!(main_cf.contains("\nsmtp_sasl_security_options = noanonymous\n"));
    assert!(!h.root.join("hermes.sqlite").exists());

    must(
        Command::new("postconf")
            .arg("-c")
            .arg(h.postfix_dir())
            .args(["-e", "message_size_limit = 20480000"]),
    );
    let out = a.playbook(&playbook, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 0, "{}", out.all());
    assert!(
        h.file("main.cf")
            .unwrap()
            .contains("message_size_limit = 20480000\n")
    );

    postfix.sendmail(
        "sender@origin.invalid",
        "rcpt@remote.invalid",
        "ansible-plain",
    );
    let m = sh
        .wait_message("ansible-plain", WAIT)
        .unwrap_or_else(|| panic!("not delivered:\n{}", postfix.log()));
    assert_eq!(m["auth_user"], "relayuser");
}

/// What `python -c` prints for the argument_spec of a module of the private copy.
fn argument_spec(a: &Ansible, module: &str) -> Value {
    let python = crate::runners::tool_in(a.venv, "python");
    let out = run(Command::new(python)
        .env("PYTHONPATH", a.collections())
        .arg("-c")
        .arg(format!(
            "import json\n\
             from ansible_collections.hermes_seg.relay.plugins.modules import {module} as m\n\
             print(json.dumps(m.ARGUMENT_SPEC))"
        )));
    assert_eq!(out.code, 0, "{}", out.all());
    serde_json::from_str(&out.stdout).unwrap()
}

/// The documented options with `no_log` taken from the argument_spec (Ansible's docs cannot
/// carry it), recursively.
fn with_no_log(doc_options: &Value, spec: &Value) -> Value {
    let mut options = doc_options.clone();
    for (name, doc) in options.as_object_mut().unwrap() {
        let spec = &spec[name.as_str()];
        doc["no_log"] = json!(spec["no_log"] == true);
        if let Some(sub) = doc.get("suboptions").cloned() {
            doc["suboptions"] = with_no_log(&sub, &spec["options"]);
        }
    }
    options
}

#[test]
fn ansible_doc_shows_the_modules_and_agrees_with_the_schema() {
    let a = Ansible::new();
    let out = run(a.command("ansible-doc").arg(FQCN));
    assert_eq!(out.code, 0, "{}", out.all());
    for section in [
        "OPTIONS",
        "password",
        "Never logged",
        "EXAMPLES",
        "RETURN VALUES",
        "group/hermes_seg.relay.relay",
    ] {
        assert!(
            out.stdout.contains(section),
            "ansible-doc lacks {section:?}:\n{}",
            out.all()
        );
    }

    let out = run(a.command("ansible-doc").args(["--json", FQCN, INFO]));
    assert_eq!(out.code, 0, "{}", out.all());
    let docs: Value = serde_json::from_str(&out.stdout).unwrap();
    let doc = &docs[FQCN];
    for key in ["changed", "msg", "diff", "warnings", "changes", "relayhost"] {
        assert!(doc["return"].get(key).is_some(), "RETURN lacks {key}");
    }
    for key in ["pending_applied", "error", "restored", "check_mode"] {
        assert!(doc["return"].get(key).is_some(), "RETURN lacks {key}");
    }
    assert!(doc["examples"].as_str().unwrap().contains(FQCN));
    let info = &docs[INFO];
    for key in ["relay", "checks", "healthy", "error"] {
        assert!(
            info["return"].get(key).is_some(),
            "{INFO} RETURN lacks {key}"
        );
    }

    let schema = run(Command::new(module_binary()).arg("schema"));
    assert_eq!(schema.code, 0, "{}", schema.all());
    let schema: Value = serde_json::from_str(&schema.stdout).unwrap();
    let options = with_no_log(&doc["doc"]["options"], &argument_spec(&a, "relay_host"));
    let problems = disagreements(&schema, &options);
    assert!(
        problems.is_empty(),
        "plugins/modules/relay_host.py disagrees with `hermes-relayhost schema`:\n  {}",
        problems.join("\n  ")
    );

    // relay_host_info takes exactly the location options, documented as relay_host does.
    let location = hermes_relayhost::options::LOCATION.map(|o| o.name());
    let mut subset = schema.clone();
    subset["properties"]
        .as_object_mut()
        .unwrap()
        .retain(|name, _| location.contains(&name.as_str()));
    let options = with_no_log(
        &info["doc"]["options"],
        &argument_spec(&a, "relay_host_info"),
    );
    let problems = disagreements(&subset, &options);
    assert!(
        problems.is_empty(),
        "plugins/modules/relay_host_info.py disagrees with the schema:\n  {}",
        problems.join("\n  ")
    );
}

/// The drift check itself: each kind of disagreement is reported, so a passing
/// `ansible_doc_…_agrees_with_the_schema` means agreement, not a blind checker.
#[test]
fn drift_check_reports_every_kind_of_disagreement() {
    let schema = json!({
        "$defs": {
            "Mode": {"type": "string", "enum": ["a", "b"]},
            "Cipher": {"oneOf": [{"type": "string", "const": "x"}, {"type": "string", "const": "y"}]},
            "Pair": {"type": "object", "required": ["key", "secret"], "properties": {
                "key": {"type": "string"},
                "secret": {"type": "string", "writeOnly": true}
            }}
        },
        "properties": {
            "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}]},
            "cipher": {"anyOf": [{"$ref": "#/$defs/Cipher"}, {"type": "null"}]},
            "port": {"anyOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]},
                               {"type": "null"}]},
            "flag": {"anyOf": [{"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]},
                                          {"type": "string"}]}, {"type": "null"}]},
            "secret": {"type": ["string", "null"], "writeOnly": true},
            "list": {"type": ["array", "null"], "items": {"type": "string"}},
            "map": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
            "pairs": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Pair"}}
        }
    });
    let good = json!({
        "mode": {"type": "str", "choices": ["b", "a"]},
        "cipher": {"type": "str", "choices": ["x", "y"]},
        "port": {"type": "int"},
        "flag": {"type": "bool"},
        "secret": {"type": "str", "no_log": true},
        "list": {"type": "list", "elements": "str"},
        "map": {"type": "dict"},
        "pairs": {"type": "list", "elements": "dict", "suboptions": {
            "key": {"type": "str", "required": true},
            "secret": {"type": "str", "required": true, "no_log": true}
        }}
    });
    assert_eq!(disagreements(&schema, &good), Vec::<String>::new());

    let mutations: [(&str, Value); 10] = [
        ("/mode/choices", json!(["a"])),
        ("/cipher/choices", json!(["x", "z"])),
        ("/port/type", json!("str")),
        ("/flag/type", json!("str")),
        ("/secret/no_log", json!(false)),
        ("/list/elements", json!("int")),
        ("/extra", json!({"type": "str"})),
        ("/pairs/suboptions/secret/no_log", json!(false)),
        ("/pairs/suboptions/key/required", json!(false)),
        ("/map/suboptions", json!({"a": {"type": "str"}})),
    ];
    for (pointer, value) in mutations {
        let mut doc = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent).unwrap()[key] = value;
        assert!(
            !disagreements(&schema, &doc).is_empty(),
            "{pointer} changed but no disagreement found"
        );
    }
    for pointer in ["", "/pairs/suboptions"] {
        let mut doc = good.clone();
        let options = doc.pointer_mut(pointer).unwrap().as_object_mut().unwrap();
        let first = options.keys().next().unwrap().clone();
        options.remove(&first);
        assert!(
            !disagreements(&schema, &doc).is_empty(),
            "a missing option under {pointer:?} went unnoticed"
        );
    }
    // no_log comes from the argument_spec, suboptions included.
    let spec =
        json!({"secret": {"no_log": true}, "pairs": {"options": {"secret": {"no_log": true}}}});
    let mut undocumented = good.clone();
    undocumented["secret"]
        .as_object_mut()
        .unwrap()
        .remove("no_log");
    undocumented["pairs"]["suboptions"]["secret"]
        .as_object_mut()
        .unwrap()
        .remove("no_log");
    assert_eq!(
        disagreements(&schema, &with_no_log(&undocumented, &spec)),
        Vec::<String>::new()
    );
    assert!(!disagreements(&schema, &with_no_log(&undocumented, &json!({}))).is_empty());
}

/// What the docs must say of one option (its suboptions are compared on their own).
#[derive(Debug, PartialEq)]
struct OptionDoc {
    kind: String,
    elements: Option<String>,
    choices: Option<BTreeSet<String>>,
    no_log: bool,
    required: bool,
}

/// Every way the documented options differ from the schema's properties.
fn disagreements(schema: &Value, doc_options: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    compare(schema, schema, doc_options, "", &mut problems);
    problems
}

/// Compares the properties of `object` (the schema or a nested object) with `doc_options`,
/// recursing into suboptions; problems are named by their dotted path.
fn compare(schema: &Value, object: &Value, doc_options: &Value, path: &str, out: &mut Vec<String>) {
    let empty = serde_json::Map::new();
    let props = object["properties"]
        .as_object()
        .expect("schema has properties");
    let docs = doc_options.as_object().unwrap_or(&empty);
    let required: BTreeSet<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in props.keys().filter(|n| !docs.contains_key(*n)) {
        out.push(format!("{path}{name}: in the schema, not documented"));
    }
    for name in docs.keys().filter(|n| !props.contains_key(*n)) {
        out.push(format!("{path}{name}: documented, not in the schema"));
    }
    for (name, prop) in props {
        let Some(doc) = docs.get(name) else { continue };
        let expected = schema_option(schema, prop, required.contains(name.as_str()));
        let documented = doc_option(doc);
        if documented != expected {
            out.push(format!(
                "{path}{name}: schema says {expected:?}, docs say {documented:?}"
            ));
        }
        if let Some(default) = prop.get("default").filter(|d| !d.is_null())
            && doc.get("default") != Some(default)
        {
            out.push(format!(
                "{path}{name}: schema default {default}, docs {:?}",
                doc.get("default")
            ));
        }
        match sub_object(schema, prop) {
            Some(sub) => compare(
                schema,
                &sub,
                &doc["suboptions"],
                &format!("{path}{name}."),
                out,
            ),
            None if doc.get("suboptions").is_some() => out.push(format!(
                "{path}{name}: documents suboptions the schema lacks"
            )),
            None => {}
        }
    }
}

/// The schema's alternatives for a property, `$ref`s resolved and `null` (omitted) dropped.
fn alternatives(schema: &Value, prop: &Value) -> Vec<Value> {
    if let Some(reference) = prop["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        return alternatives(schema, schema.pointer(pointer).expect("$ref resolves"));
    }
    if let Some(any) = prop["anyOf"].as_array().or(prop["oneOf"].as_array()) {
        return any
            .iter()
            .flat_map(|alt| alternatives(schema, alt))
            .collect();
    }
    match &prop["type"] {
        Value::Array(types) => types
            .iter()
            .filter(|t| *t != "null")
            .map(|t| {
                let mut alt = prop.clone();
                alt["type"] = t.clone();
                alt
            })
            .collect(),
        Value::String(t) if t == "null" => vec![],
        _ => vec![prop.clone()],
    }
}

/// The object whose properties are this option's suboptions: the option's own (a `dict`) or
/// its items' (a `list` of `dict`s). A string map (`vars`) has none.
fn sub_object(schema: &Value, prop: &Value) -> Option<Value> {
    let alts = alternatives(schema, prop);
    let array_items = alts
        .iter()
        .filter(|a| a["type"] == "array")
        .flat_map(|a| alternatives(schema, &a["items"]))
        .collect::<Vec<_>>();
    alts.into_iter()
        .chain(array_items)
        .find(|a| a["type"] == "object" && a.get("properties").is_some())
}

/// Ansible's view of a schema property: a boolean alternative makes it `bool` (Ansible's
/// boolean strings are the other alternatives), an integer one `int` (digit strings allowed).
fn schema_option(schema: &Value, prop: &Value, required: bool) -> OptionDoc {
    let alts = alternatives(schema, prop);
    let has = |t: &str| alts.iter().any(|a| a["type"] == t);
    let ansible = |t: &Value| match t.as_str() {
        Some("string") => "str",
        Some("integer") => "int",
        Some("boolean") => "bool",
        Some("array") => "list",
        Some("object") => "dict",
        other => panic!("unmapped schema type {other:?}"),
    };
    let kind = if has("boolean") {
        "bool"
    } else if has("integer") {
        "int"
    } else {
        let kinds: BTreeSet<_> = alts.iter().map(|a| ansible(&a["type"])).collect();
        assert_eq!(kinds.len(), 1, "unmapped alternatives {alts:?}");
        kinds.into_iter().next().unwrap()
    };
    let elements = alts.iter().find(|a| a["type"] == "array").map(|a| {
        let items = alternatives(schema, &a["items"]);
        ansible(&items[0]["type"]).to_string()
    });
    // Choices: an enum, or one `const` per alternative (a documented enum).
    let choices: BTreeSet<String> = alts
        .iter()
        .flat_map(|a| {
            let listed = a["enum"].as_array().cloned().unwrap_or_default();
            listed.into_iter().chain(a.get("const").cloned())
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    OptionDoc {
        kind: kind.to_string(),
        elements,
        choices: (kind == "str" && !choices.is_empty()).then_some(choices),
        no_log: prop["writeOnly"] == true,
        required,
    }
}

fn doc_option(doc: &Value) -> OptionDoc {
    OptionDoc {
        // Ansible's default option type is `str`.
        kind: doc["type"].as_str().unwrap_or("str").to_string(),
        elements: doc["elements"].as_str().map(str::to_string),
        choices: doc["choices"].as_array().map(|c| {
            c.iter()
                .map(|v| v.as_str().unwrap_or("?").to_string())
                .collect()
        }),
        no_log: doc["no_log"] == true,
        required: doc["required"] == true,
    }
}

/// The role leaves out what its variables leave unset, so the play's `module_defaults` for
/// the action group apply: here the location (`root`, `postfix_exec: []`, `vars`) comes only
/// from there (the role used to pass its own `postfix_exec` over it). The variables reach the
/// options the role used to miss; the module reloads the real Postfix itself.
fn role_with_module_defaults(a: &Ansible) {
    let h = Hermes::new();
    let mut postfix = PrivatePostfix::start(&h);
    h.add_transport("a.example", "mx.a.example", None, "YES", "ua", "old-a");
    let transport_secret = "r0le-Secret-A";
    let vars = role_vars(json!({
        "hermes_relay_sasl_tls_security_options": "noanonymous",
        "hermes_relay_transport_auth": [
            {"domain": "a.example", "username": "ua", "password": transport_secret}
        ],
        "hermes_relay_probe": false,
        "hermes_relay_key_file": "/opt/hermes/keys/hermes.key",
        "hermes_relay_postfix_dir": "/etc/postfix",
        "hermes_relay_template": "/opt/hermes/conf_files/main.cf.HERMES",
        "hermes_relay_cipher": "ecb",
    }));
    let playbook = plays::role(a.path(), "role-defaults.yml", &vars, Some(&h.base));

    let mark = postfix.log_mark();
    let out = a.playbook(&playbook, &["-vvv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_no_password(&out);
    assert!(!out.all().contains(transport_secret), "{}", out.all());
    let args = &task_result(&out, "invocation")["invocation"]["module_args"];
    for (option, want) in [
        ("root", json!(h.root)),
        ("postfix_exec", json!([])),
        ("vars", h.base["vars"].clone()),
        ("sasl_security_options", json!("noanonymous")),
        ("sasl_tls_security_options", json!("noanonymous")),
        ("probe", json!(false)),
        ("key_file", json!("/opt/hermes/keys/hermes.key")),
        ("postfix_dir", json!("/etc/postfix")),
        ("template", json!("/opt/hermes/conf_files/main.cf.HERMES")),
        ("cipher", json!("ecb")),
    ] {
        assert_eq!(args[option], want, "{option}: {args}");
    }
    assert_eq!(args["transport_auth"][0]["domain"], "a.example", "{args}");
    for unset in ["postfix_exec_dir", "reload", "state", "database"] {
        assert!(
            args.get(unset).is_none_or(Value::is_null),
            "{unset} passed though not set: {args}"
        );
    }
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    let main_cf = h.file("main.cf").unwrap();
    assert!(
        main_cf.contains("\nsmtp_sasl_tls_security_options = noanonymous\n"),
        "{main_cf}"
    );
    assert_eq!(
        h.postmap_query("[mx.a.example]:25").as_deref(),
        Some(format!("ua:{transport_secret}").as_str())
    );
    // The module reloaded; the handler's reload (for hermes_relay_reload: false) is skipped.
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert!(
        postfix.wait_log(mark, "reload", WAIT).is_some(),
        "Postfix was not reloaded:\n{}",
        postfix.log_since(mark)
    );

    // Again: nothing changes.
    let before = h.snapshot();
    let out = a.playbook(&playbook, &[]);
    assert_eq!(host_recap(&out, "localhost")["changed"], 0, "{}", out.all());
    assert_eq!(h.snapshot(), before);

    // state: absent through the role: the relay variables are left out, the location still
    // comes from module_defaults.
    let out = a.playbook(&playbook, &["-e", "hermes_relay_state=absent"]);
    assert_eq!(host_recap(&out, "localhost")["failed"], 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    postfix.stop();
}

#[test]
fn the_role_honours_module_defaults_on_the_newest_ansible_core() {
    role_with_module_defaults(&Ansible::new());
}

#[test]
fn the_role_honours_module_defaults_on_the_oldest_ansible_core() {
    role_with_module_defaults(&Ansible::oldest());
}

/// A YAML file of the private copy's role as JSON (the venv's PyYAML reads it).
fn role_yaml(a: &Ansible, path: &str) -> Value {
    let file = Ansible::collection_in(&a.collections())
        .join("roles/relay_host")
        .join(path);
    let out = run(Command::new(crate::runners::tool_in(a.venv, "python"))
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(&file));
    assert_eq!(out.code, 0, "{}", out.all());
    serde_json::from_str(&out.stdout).unwrap()
}

/// Every option of the module but the rotation and doctor ones has a role variable, declared
/// in meta/argument_specs.yml with the default of defaults/main.yml (none: not defined there,
/// so not passed), and the task passes it; no `omit` (which would remove the option from the
/// play's module_defaults too).
#[test]
fn the_role_reaches_every_module_option() {
    let a = Ansible::new();
    let spec = argument_spec(&a, "relay_host");
    let specs = role_yaml(&a, "meta/argument_specs.yml");
    let options = &specs["argument_specs"]["main"]["options"];
    let defaults = role_yaml(&a, "defaults/main.yml");
    let tasks = role_yaml(&a, "tasks/main.yml");
    assert_eq!(
        tasks[0][FQCN],
        json!({}),
        "the task takes its options as module_defaults"
    );
    let passed = role_yaml(&a, "vars/main.yml")["hermes_relay_module_args"]
        .as_str()
        .unwrap()
        .to_string();
    let mut missing = Vec::new();
    for option in spec.as_object().unwrap().keys() {
        if ["rotate_key", "new_key_file", "new_cipher", "check_only"].contains(&option.as_str()) {
            continue;
        }
        let var = if option == "vars" {
            "hermes_relay_template_vars".to_string()
        } else {
            format!("hermes_relay_{option}")
        };
        if !passed.contains(&format!("'{option}': {var} | default(none")) {
            missing.push(format!("vars/main.yml does not pass {option} from {var}"));
        }
        match options.get(&var) {
            None => missing.push(format!("meta/argument_specs.yml has no {var}")),
            Some(doc) => {
                let default = doc.get("default");
                if defaults.get(&var) != default {
                    missing.push(format!(
                        "{var}: argument_specs default {default:?}, defaults/main.yml {:?}",
                        defaults.get(&var)
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    for file in ["tasks/main.yml", "vars/main.yml"] {
        let text = fs::read_to_string(
            Ansible::collection_in(&a.collections())
                .join("roles/relay_host")
                .join(file),
        )
        .unwrap();
        assert!(!text.contains("omit"), "{file}: {text}");
    }
}
