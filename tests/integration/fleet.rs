//! The fleet use case with the real ansible-playbook: examples/fleet-rotation/setup.sh makes
//! ten Hermes roots and their inventory, rotate.yml rotates the relay password in batches.
//! One host whose postmap is broken must be left exactly as it was and reported while the
//! others rotate; once repaired, a re-run changes that host alone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Hermes, Snapshot};
use crate::runners::{Ansible, Output, recap, run};
use serde_json::json;

const HOSTS: usize = 10;
const BROKEN: &str = "hermes06";
const OLD: &str = "0ld-relay Secret";
const NEW: &str = "n3w-relay Secret";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/fleet-rotation")
        .join(name)
}

struct Fleet {
    ansible: Ansible,
    dir: PathBuf,
    /// name → the fixture view of its root (rows, files, snapshots).
    hosts: Vec<(String, Hermes)>,
}

impl Fleet {
    fn new() -> Fleet {
        let ansible = Ansible::new();
        let dir = ansible.path().join("fleet");
        let out = run(Command::new("bash")
            .arg(example("setup.sh"))
            .arg(&dir)
            .arg(HOSTS.to_string())
            .env("HERMES_RELAYHOST", env!("CARGO_BIN_EXE_hermes-relayhost")));
        assert_eq!(out.code, 0, "{}", out.all());
        let hosts = (1..=HOSTS)
            .map(|i| {
                let name = format!("hermes{i:02}");
                let root = dir.join("hosts").join(&name);
                assert!(
                    root.join("hermes.sqlite").exists(),
                    "setup.sh made no {name}"
                );
                let h = Hermes::at(root);
                (name, h)
            })
            .collect();
        Fleet {
            ansible,
            dir,
            hosts,
        }
    }

    fn host(&self, name: &str) -> &Hermes {
        &self.hosts.iter().find(|(n, _)| n == name).unwrap().1
    }

    /// rotate.yml with `password` from a secrets file, as `-e @vault.yml` in real use.
    fn rotate(&self, password: &str, args: &[&str]) -> Output {
        let secrets = self.dir.join("secrets.yml");
        fs::write(&secrets, json!({ "relay_password": password }).to_string()).unwrap();
        let out = run(self
            .ansible
            .command("ansible-playbook")
            .arg("-i")
            .arg(self.dir.join("inventory.yml"))
            .arg(example("rotate.yml"))
            .arg(format!("-e@{}", secrets.display()))
            .args(args));
        for secret in [OLD, NEW] {
            assert!(
                !out.all().contains(secret),
                "the password leaked:\n{}",
                out.all()
            );
        }
        out
    }

    /// rotate-key.yml over the fleet.
    fn rotate_key(&self, args: &[&str]) -> Output {
        run(self
            .ansible
            .command("ansible-playbook")
            .arg("-i")
            .arg(self.dir.join("inventory.yml"))
            .arg(example("rotate-key.yml"))
            .args(args))
    }

    /// Hosts whose recap `counter` is non-zero.
    fn hosts_with(&self, out: &Output, counter: &str) -> Vec<String> {
        let recap = recap(&out.stdout);
        assert_eq!(recap.len(), HOSTS, "{}", out.all());
        recap
            .into_iter()
            .filter(|(_, c)| c[counter] > 0)
            .map(|(h, _)| h)
            .collect()
    }

    fn all_but(&self, name: &str) -> Vec<String> {
        self.hosts
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| n != name)
            .collect()
    }

    /// Gives `name` a `postfix_exec` wrapper whose postmap always fails (the one fault real
    /// Postfix will not produce on demand), through host_vars next to the inventory: the
    /// per-host override a real fleet would use.
    fn break_postmap(&self, name: &str) {
        let wrapper = self.dir.join("postmap-fails.sh");
        fs::write(
            &wrapper,
            "#!/bin/sh\n\
             if [ \"$1\" = postmap ]; then\n\
             \x20 echo 'postmap: fatal: injected failure' >&2; exit 75\n\
             fi\n\
             exec \"$@\"\n",
        )
        .unwrap();
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all(self.dir.join("host_vars")).unwrap();
        fs::write(
            self.host_vars(name),
            // A non-empty prefix means "Postfix sees another dir" unless told otherwise.
            json!({
                "relay_postfix_exec": [wrapper],
                "relay_postfix_exec_dir": self.host(name).postfix_dir(),
            })
            .to_string(),
        )
        .unwrap();
    }

    fn repair(&self, name: &str) {
        fs::remove_file(self.host_vars(name)).unwrap();
    }

    fn host_vars(&self, name: &str) -> PathBuf {
        self.dir.join(format!("host_vars/{name}.yml"))
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.hosts.iter().map(|(_, h)| h.snapshot()).collect()
    }

    fn assert_rotated(&self, name: &str, password: &str) {
        let h = self.host(name);
        assert_eq!(h.decrypted("relay_host_password"), password, "{name}: DB");
        assert_eq!(
            h.file("sasl_passwd").unwrap(),
            format!("[smtp.example.com]:587\trelayuser@example.com:{password}\n"),
            "{name}: sasl_passwd"
        );
        assert_eq!(
            h.postmap_query("[smtp.example.com]:587").unwrap(),
            format!("relayuser@example.com:{password}"),
            "{name}: map"
        );
    }
}

#[test]
fn fleet_rotation_in_batches_skips_a_broken_host_until_repaired() {
    let fleet = Fleet::new();
    let everyone = fleet.all_but("");

    // The fleet's starting point: every host relays with the old password.
    let out = fleet.rotate(OLD, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(fleet.hosts_with(&out, "changed"), everyone);

    fleet.break_postmap(BROKEN);
    let before = fleet.snapshots();

    // The preview tells the truth: the broken host fails as its real run will (check mode
    // builds the map too), every other host would change, both sides masked, nothing written.
    let out = fleet.rotate(NEW, &["--check", "--diff"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(fleet.hosts_with(&out, "failed"), [BROKEN]);
    assert_eq!(fleet.hosts_with(&out, "changed"), fleet.all_but(BROKEN));
    assert!(out.stdout.contains("postmap_failed"), "{}", out.all());
    for side in [
        "-system_settings.relay_host_password = ******** (old)",
        "+system_settings.relay_host_password = ******** (new)",
    ] {
        assert_eq!(out.stdout.matches(side).count(), HOSTS - 1, "{}", out.all());
    }
    assert!(fleet.snapshots() == before, "the preview wrote something");

    // The rotation: the broken host fails and is left as it was, the rollout goes on.
    let out = fleet.rotate(NEW, &[]);
    assert_eq!(
        out.code,
        2,
        "failed hosts make ansible-playbook exit 2:\n{}",
        out.all()
    );
    assert_eq!(fleet.hosts_with(&out, "failed"), [BROKEN]);
    assert_eq!(fleet.hosts_with(&out, "changed"), fleet.all_but(BROKEN));
    assert!(out.stdout.contains("postmap"), "{}", out.all());
    for (i, (name, h)) in fleet.hosts.iter().enumerate() {
        if name == BROKEN {
            assert!(
                h.snapshot() == before[i],
                "{name} was changed by its failed run"
            );
            fleet.assert_rotated(name, OLD);
        } else {
            fleet.assert_rotated(name, NEW);
        }
    }

    // Repaired, the same run finishes the job on that host alone.
    fleet.repair(BROKEN);
    let out = fleet.rotate(NEW, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(fleet.hosts_with(&out, "changed"), [BROKEN]);
    fleet.assert_rotated(BROKEN, NEW);

    // A failing canary (the first batch, one host) stops the rollout before any other host.
    fleet.break_postmap("hermes01");
    let before = fleet.snapshots();
    let out = fleet.rotate(OLD, &[]);
    assert_ne!(out.code, 0, "{}", out.all());
    let recap = recap(&out.stdout);
    assert_eq!(
        recap.keys().collect::<Vec<_>>(),
        ["hermes01"],
        "{}",
        out.all()
    );
    assert_eq!(recap["hermes01"]["failed"], 1);
    assert!(
        fleet.snapshots() == before,
        "a host changed after the canary failed"
    );
}

#[test]
fn fleet_key_rotation_reencrypts_every_host_with_its_own_key() {
    let fleet = Fleet::new();
    let everyone = fleet.all_but("");
    assert_eq!(fleet.rotate(OLD, &[]).code, 0);
    let keys = |f: &Fleet| -> Vec<String> {
        f.hosts
            .iter()
            .map(|(_, h)| fs::read_to_string(h.root.join("opt/hermes/keys/hermes.key")).unwrap())
            .collect()
    };
    let before_keys = keys(&fleet);
    let before = fleet.snapshots();

    let out = fleet.rotate_key(&["--check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(fleet.hosts_with(&out, "changed"), everyone);
    assert!(fleet.snapshots() == before, "the preview wrote something");

    let out = fleet.rotate_key(&[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(fleet.hosts_with(&out, "changed"), everyone);
    let after_keys = keys(&fleet);
    for (i, (name, h)) in fleet.hosts.iter().enumerate() {
        assert_ne!(after_keys[i], before_keys[i], "{name}: key not rotated");
        let backups: Vec<String> = fs::read_dir(h.root.join("opt/hermes/keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("hermes.key.bak-"))
            .collect();
        assert_eq!(backups.len(), 1, "{name}: {backups:?}");
        fleet.assert_rotated(name, OLD);
    }
    let mut unique = after_keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), HOSTS, "every host has its own key");
    // The relay play finds every credential readable and in place.
    let out = fleet.rotate(OLD, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        fleet.hosts_with(&out, "changed").is_empty(),
        "{}",
        out.all()
    );
}
