//! The release (scripts/release.sh, issue 24): one version everywhere, and each artifact in
//! `dist/` installed into a clean place the way its README says and run: the collection
//! tarball with `ansible-galaxy collection install` into an empty collections path and a
//! playbook task; the `.deb` with `dpkg --root` into an empty root, then its binary, man pages,
//! completions, changelog and copyright; the Salt tarball unpacked into an empty salt root and
//! applied by a fresh masterless minion; the aarch64 binary, in the collection and its own
//! `.deb`, under qemu-aarch64-static. The artifact tests need `scripts/release.sh x86_64
//! aarch64` to have run (scripts/test.sh runs it first); without `dist/` they fail and say so.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::ansible::plays::{self, FQCN};
use crate::common::{Hermes, PASSWORD, relay};
use crate::runners::on_localhost;
use crate::runners::{Ansible, NEWEST, Output, host_recap, run};
use crate::salt::minion::Minion;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `key: value` of a YAML-ish file's top level.
fn top_level(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
}

/// The binary, the collection, the Salt formula, the man pages and both changelogs carry
/// Cargo.toml's version; no placeholder repository URL is left.
#[test]
fn one_version_everywhere() {
    let collection = "modules/ansible/ansible_collections/hermes_seg/relay";
    let mut wrong = Vec::new();
    let mut expect = |what: &str, found: Option<String>| {
        if found.as_deref() != Some(VERSION) {
            wrong.push(format!("{what}: {found:?}"));
        }
    };
    expect(
        "galaxy.yml version",
        top_level(&read(&format!("{collection}/galaxy.yml")), "version"),
    );
    expect(
        "modules/salt/FORMULA version",
        top_level(&read("modules/salt/FORMULA"), "version"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_hermes-relayhost"))
        .arg("--version")
        .output()
        .unwrap();
    expect(
        "hermes-relayhost --version",
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .strip_prefix("hermes-relayhost ")
            .map(str::to_string),
    );
    let changelog = read("CHANGELOG.md");
    expect(
        "CHANGELOG.md's newest release",
        changelog
            .lines()
            .filter_map(|l| l.strip_prefix("## ["))
            .find(|l| !l.starts_with("Unreleased"))
            .and_then(|l| l.split(']').next())
            .map(str::to_string),
    );
    let releases = read(&format!("{collection}/changelogs/changelog.yaml"));
    expect(
        "the collection's changelog.yaml",
        releases
            .lines()
            .any(|l| l == format!("  {VERSION}:"))
            .then(|| VERSION.to_string()),
    );
    for page in fs::read_dir(repo("doc/man")).unwrap() {
        let path = page.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        expect(
            &format!("{} footer", path.display()),
            text.contains(&format!("\"hermes-relayhost {VERSION}\""))
                .then(|| VERSION.to_string()),
        );
    }
    assert!(wrong.is_empty(), "not version {VERSION}: {wrong:#?}");
    for file in ["Cargo.toml", &format!("{collection}/galaxy.yml")] {
        assert!(
            !read(file).contains("github.com/hermes-seg"),
            "{file}: a placeholder repository URL"
        );
    }
}

/// `dist/` as scripts/release.sh leaves it (`HERMES_DIST` names another).
fn dist() -> PathBuf {
    let dist = std::env::var_os("HERMES_DIST").map_or_else(|| repo("dist"), PathBuf::from);
    assert!(
        dist.join("SHA256SUMS").exists(),
        "{}/SHA256SUMS is missing: run scripts/release.sh first",
        dist.display()
    );
    dist
}

fn artifact(name: &str) -> PathBuf {
    let path = dist().join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/release.sh x86_64 aarch64 (version {VERSION})",
        path.display()
    );
    path
}

/// This host's binary in dist/, as the collection holds it.
fn deb_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no release for {other}"),
    }
}

#[test]
fn sha256sums_cover_every_artifact() {
    let dist = dist();
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let mut names: Vec<&str> = sums.lines().filter_map(|l| l.split("  ").nth(1)).collect();
    names.sort();
    for want in [
        format!("hermes_seg-relay-{VERSION}.tar.gz"),
        format!("hermes-relayhost_{VERSION}-1_{}.deb", deb_arch()),
        format!("hermes-relayhost_{VERSION}-1_arm64.deb"),
        format!("hermes_relay-{VERSION}.tar.gz"),
    ] {
        assert!(
            names.contains(&want.as_str()),
            "{want} not in SHA256SUMS: {names:?}"
        );
    }
    let out = run(Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&dist));
    assert_eq!(out.code, 0, "{}", out.all());
}

/// Runs aarch64 binaries on this x86_64 machine (scripts/install-test-deps.sh installs it).
const QEMU_AARCH64: &str = "qemu-aarch64-static";

/// The release binary (the one in the collection, the .deb and the Salt tarball), run directly
/// or under `runner`.
fn check_binary_runs(bin: &Path, runner: Option<&str>) {
    let command = || match runner {
        Some(runner) => {
            let mut command = Command::new(runner);
            command.arg(bin);
            command
        }
        None => Command::new(bin),
    };
    let out = run(command().arg("--version"));
    assert_eq!(
        out.stdout.trim(),
        format!("hermes-relayhost {VERSION}"),
        "{}",
        out.all()
    );
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("root");
    let out = run(command().arg("init").arg("--root").arg(&root));
    assert_eq!(out.code, 0, "{}", out.all());
    let mut args: Value = serde_json::from_str(&out.stdout).unwrap();
    for (k, v) in relay().as_object().unwrap() {
        args[k] = v.clone();
    }
    let file = dir.path().join("args.json");
    fs::write(&file, args.to_string()).unwrap();
    for changed in [true, false] {
        let out = run(command().arg(&file));
        let json: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
        assert_eq!(json["failed"], false, "{json}");
        assert_eq!(json["changed"], changed, "{json}");
    }
}

/// `ansible-galaxy collection install dist/hermes_seg-relay-VERSION.tar.gz` into an empty
/// collections path (no other step), then a playbook task of the installed collection.
#[test]
fn the_collection_tarball_installs_and_runs() {
    let tarball = artifact(&format!("hermes_seg-relay-{VERSION}.tar.gz"));
    let (a, h) = (Ansible::without_binary(NEWEST), Hermes::new());
    let installed = a.path().join("clean-collections");
    let out = run(a
        .command_with("ansible-galaxy", &installed)
        .args(["collection", "install", "--offline", "-p"])
        .arg(&installed)
        .arg(&tarball));
    assert_eq!(out.code, 0, "{}", out.all());
    // The collection keeps it 0644 (the action plugin copies it to a host and makes that copy
    // executable): run a copy.
    let shipped = Ansible::collection_in(&installed)
        .join("files")
        .join(std::env::consts::ARCH)
        .join("hermes-relayhost");
    let bin = a.path().join("hermes-relayhost");
    fs::copy(&shipped, &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    check_binary_runs(&bin, None);

    // Not beside the work dir's `collections/` (the source copy), which Ansible would search
    // as the playbook's own.
    let dir = a.path().join("plays");
    fs::create_dir(&dir).unwrap();
    let mut task = h.args(relay());
    task["password"] = json!("{{ relay_password }}");
    let play = plays::tasks(
        &dir,
        "play.yml",
        &json!({"relay_password": PASSWORD}),
        None,
        &[json!({"name": "relay", FQCN: task})],
    );
    let playbook = |args: &[&str]| -> Output {
        run(on_localhost(
            &mut a.command_with("ansible-playbook", &installed),
            &play,
            args,
        ))
    };
    let out = playbook(&[]);
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    let out = playbook(&[]);
    assert_eq!(host_recap(&out, "localhost")["changed"], 0, "{}", out.all());
    assert!(!out.all().contains(PASSWORD), "{}", out.all());
}

/// `dpkg --root` of `deb` into an empty root under `dir`; the root.
fn install_into_empty_root(deb: &Path, dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let admin = root.join("var/lib/dpkg");
    for sub in ["info", "updates"] {
        fs::create_dir_all(admin.join(sub)).unwrap();
    }
    for file in ["status", "available"] {
        fs::write(admin.join(file), "").unwrap();
    }
    // The empty root has no libc6 to satisfy Depends, and no architecture of its own.
    let out = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--log=/dev/null",
            "--force-depends",
            "--force-architecture",
            "--install",
        ])
        .arg(deb));
    assert_eq!(out.code, 0, "{}", out.all());
    root
}

/// aarch64: the collection tarball holds its binary and its `.deb` installs into an empty root;
/// each runs `--version`, `init` and an apply (changed, then not) under qemu-aarch64-static.
#[test]
fn the_aarch64_binary_ships_in_the_collection_and_its_deb() {
    let tarball = artifact(&format!("hermes_seg-relay-{VERSION}.tar.gz"));
    let dir = TempDir::new().unwrap();
    let member = "files/aarch64/hermes-relayhost";
    let out = run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.path())
        .arg(member));
    assert_eq!(out.code, 0, "{}", out.all());
    let bin = dir.path().join(member);
    let head = fs::read(&bin).unwrap();
    // ELF, e_machine 183 (EM_AARCH64).
    assert!(
        head.starts_with(b"\x7fELF") && head[18..20] == [183, 0],
        "not aarch64"
    );
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    check_binary_runs(&bin, Some(QEMU_AARCH64));

    let deb = artifact(&format!("hermes-relayhost_{VERSION}-1_arm64.deb"));
    let info = run(Command::new("dpkg-deb")
        .arg("--field")
        .arg(&deb)
        .arg("Architecture"));
    assert_eq!(info.stdout.trim(), "arm64", "{}", info.all());
    let root = install_into_empty_root(&deb, dir.path());
    let installed = root.join("usr/bin/hermes-relayhost");
    assert_eq!(
        fs::read(&installed).unwrap(),
        head,
        "the .deb's binary is the collection's"
    );
    check_binary_runs(&installed, Some(QEMU_AARCH64));
}

/// `dpkg --root` into an empty root: the package's fields and files, and its binary, man
/// pages and completions work from there.
#[test]
fn the_deb_installs_into_an_empty_root_and_runs() {
    let deb = artifact(&format!("hermes-relayhost_{VERSION}-1_{}.deb", deb_arch()));
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert_eq!(info.code, 0, "{}", info.all());
    for field in [
        "Package: hermes-relayhost".to_string(),
        format!("Version: {VERSION}-1"),
        format!("Architecture: {}", deb_arch()),
        "Depends: libc6 (>= 2.17)".to_string(),
    ] {
        assert!(info.stdout.contains(&field), "no {field}:\n{}", info.stdout);
    }

    let dir = TempDir::new().unwrap();
    let root = install_into_empty_root(&deb, dir.path());
    let listed = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--listfiles", "hermes-relayhost"]));
    assert_eq!(listed.code, 0, "{}", listed.all());
    for path in [
        "/usr/bin/hermes-relayhost",
        "/usr/share/man/man1/hermes-relayhost.1.gz",
        "/usr/share/man/man1/hermes-relayhost-apply.1.gz",
        "/usr/share/bash-completion/completions/hermes-relayhost",
        "/usr/share/zsh/vendor-completions/_hermes-relayhost",
        "/usr/share/fish/vendor_completions.d/hermes-relayhost.fish",
        "/usr/share/doc/hermes-relayhost/changelog.gz",
        "/usr/share/doc/hermes-relayhost/copyright",
    ] {
        assert!(
            listed.stdout.lines().any(|l| l == path),
            "{path} not in the package:\n{}",
            listed.stdout
        );
        assert!(root.join(&path[1..]).exists(), "{path} not installed");
    }
    check_binary_runs(&root.join("usr/bin/hermes-relayhost"), None);

    let page = run(Command::new("man")
        .arg("-l")
        .arg(root.join("usr/share/man/man1/hermes-relayhost-apply.1.gz"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100"));
    assert!(
        page.stdout.contains("JSON OPTIONS") && page.stdout.contains("EXAMPLES"),
        "{}",
        page.all()
    );
    let changelog =
        run(Command::new("zcat").arg(root.join("usr/share/doc/hermes-relayhost/changelog.gz")));
    assert!(
        changelog.stdout.contains(&format!("## [{VERSION}]")),
        "{}",
        changelog.all()
    );
    let copyright =
        fs::read_to_string(root.join("usr/share/doc/hermes-relayhost/copyright")).unwrap();
    assert!(copyright.contains("GPL-3.0-or-later"), "{copyright}");
    // The installed bash completion registers itself and completes a subcommand's flags.
    let script = root.join("usr/share/bash-completion/completions/hermes-relayhost");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(
            "source \"$1\"; spec=$(complete -p hermes-relayhost) || exit 1; fn=${spec#*-F }; \
         fn=${fn%% *}; COMP_WORDS=(hermes-relayhost apply --); COMP_CWORD=2; \
         \"$fn\" hermes-relayhost -- apply; printf '%s\\n' \"${COMPREPLY[@]}\"",
        )
        .arg("bash")
        .arg(&script));
    assert!(
        out.stdout.lines().any(|l| l == "--args-file"),
        "{}",
        out.all()
    );
}

/// The Salt tarball unpacked into an empty salt root (`tar -xzf … -C /srv/salt`), a fresh
/// minion: `saltutil.sync_all`, then the formula installs the binary (checksum checked) and
/// configures the relay from pillar; a second run changes nothing.
#[test]
fn the_salt_tarball_installs_into_a_fresh_salt_root() {
    let tarball = artifact(&format!("hermes_relay-{VERSION}.tar.gz"));
    let h = Hermes::new();
    // Only what the tarball brings: no modules from the repo, the binary where the formula
    // installs it.
    let m = Minion::with_config(json!({
        "id": "hermes-release",
        "log_level_logfile": null,
        "module_dirs": null,
        "states_dirs": null,
    }));
    let srv = m.path().join("srv");
    let out = run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&srv));
    assert_eq!(out.code, 0, "{}", out.all());
    let formula = srv.join("hermes_relay");
    assert_eq!(
        top_level(
            &fs::read_to_string(formula.join("FORMULA")).unwrap(),
            "version"
        )
        .as_deref(),
        Some(VERSION)
    );
    let bin = m.path().join("bin/hermes-relayhost");
    m.set_config("hermes_relay_host.binary", json!(bin));
    let mut options = relay();
    options.as_object_mut().unwrap().remove("password");
    for (k, v) in h.base.as_object().unwrap() {
        options[k] = v.clone();
    }
    m.pillar(&json!({"hermes_relay": {"options": options, "secrets": {"password": PASSWORD}}}));
    let (out, synced) = m.call(&["saltutil.sync_all"]);
    assert_eq!(
        synced["modules"],
        json!(["modules.hermes_relay_host"]),
        "{}",
        out.all()
    );
    let (out, states) = m.call(&["--retcode-passthrough", "state.apply", "hermes_relay"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for (id, ret) in states.as_object().unwrap() {
        assert_eq!(ret["result"], true, "{id}: {}", out.all());
    }
    assert_eq!(
        fs::read(&bin).unwrap(),
        fs::read(formula.join("files/hermes-relayhost")).unwrap()
    );
    check_binary_runs(&bin, None);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    let (out, states) = m.call(&["--retcode-passthrough", "state.apply", "hermes_relay"]);
    assert_eq!(out.code, 0, "{}", out.all());
    for (id, ret) in states.as_object().unwrap() {
        assert_eq!(ret["changes"], json!({}), "{id}: {}", out.all());
    }
    assert!(!out.all().contains(PASSWORD), "{}", out.all());
}
