//! The real runners (ansible-core and salt, pinned in `target/test-venv` by
//! scripts/install-python-deps.sh; the oldest ansible-core the collection supports in
//! `target/ansible-oldest-venv`) and a private copy of the Ansible collection holding the
//! binary under test. A missing runner fails the test: skipping would let CI pass without
//! ever running the integration it claims to cover.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use tempfile::TempDir;

/// The collection's sources in the repo (without the binary, which build.sh places).
pub fn collection_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/ansible/ansible_collections")
}

/// The venv of the newest ansible-core the collection is tested with (and salt).
pub const NEWEST: &str = "target/test-venv";
/// The venv of the oldest ansible-core the collection claims (`requires_ansible`).
pub const OLDEST: &str = "target/ansible-oldest-venv";

/// A tool of the pinned venv; panics with the fix when it is missing.
pub fn venv_tool(name: &str) -> PathBuf {
    tool_in(NEWEST, name)
}

/// A tool of one of the pinned venvs; panics with the fix when it is missing.
pub fn tool_in(venv: &str, name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(venv)
        .join("bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps.sh (as root) to install the pinned \
         ansible-core and salt into {venv}",
        path.display()
    );
    path
}

/// The collection's binary for this host, as `uname -m` (and Ansible) names the architecture.
pub fn binary_in(collection: &Path) -> PathBuf {
    collection
        .join("files")
        .join(std::env::consts::ARCH)
        .join("hermes-relayhost")
}

/// The binary under test, stripped once per build: the debug build is ~130 MB and Ansible
/// copies a module into a temp dir for every task on every host.
pub fn module_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = Path::new(env!("CARGO_BIN_EXE_hermes-relayhost"));
        let meta = fs::metadata(exe).unwrap();
        let mtime = meta
            .modified()
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-binary");
        fs::create_dir_all(&dir).unwrap();
        let name = format!("relay_host-{}-{mtime}", meta.len());
        let path = dir.join(&name);
        if !path.exists() {
            // Another test process may do the same: build under a private name, then rename.
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            let stripped = Command::new("strip")
                .arg("-o")
                .arg(&tmp)
                .arg(exe)
                .status()
                .is_ok_and(|s| s.success());
            if !stripped {
                fs::copy(exe, &tmp).unwrap();
            }
            fs::rename(&tmp, &path).unwrap();
            for entry in fs::read_dir(&dir).unwrap().flatten() {
                let other = entry.file_name();
                if other != name.as_str() && other.to_string_lossy().starts_with("relay_host-") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        path
    })
}

/// Output of one runner invocation.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A work dir for Ansible with its own copy of the collection (binary included), config,
/// home (so the binary cache `~/.cache/hermes_seg.relay` too) and temp dirs, so runs neither
/// read nor write anything outside it.
pub struct Ansible {
    pub work: TempDir,
    /// The venv whose ansible-core runs ([`NEWEST`] or [`OLDEST`]).
    pub venv: &'static str,
}

impl Ansible {
    pub fn new() -> Ansible {
        Self::with_venv(NEWEST)
    }

    /// Runs the oldest ansible-core the collection supports.
    pub fn oldest() -> Ansible {
        Self::with_venv(OLDEST)
    }

    fn with_venv(venv: &'static str) -> Ansible {
        let a = Self::without_binary(venv);
        let binary = binary_in(&Self::collection_in(&a.collections()));
        fs::create_dir_all(binary.parent().unwrap()).unwrap();
        fs::copy(module_binary(), &binary).unwrap();
        a
    }

    /// The collection as the git tree has it: no binary.
    pub fn without_binary(venv: &'static str) -> Ansible {
        let work = TempDir::new().unwrap();
        let collections = work.path().join("collections");
        copy_tree(&collection_src(), &collections.join("ansible_collections"));
        fs::write(work.path().join("ansible.cfg"), "[defaults]\n").unwrap();
        fs::create_dir_all(work.path().join("home")).unwrap();
        Ansible { work, venv }
    }

    pub fn path(&self) -> &Path {
        self.work.path()
    }

    /// The `ANSIBLE_COLLECTIONS_PATH` of the private copy.
    pub fn collections(&self) -> PathBuf {
        self.path().join("collections")
    }

    /// The collection root (`…/ansible_collections/hermes_seg/relay`) under a collections path.
    pub fn collection_in(collections: &Path) -> PathBuf {
        collections.join("ansible_collections/hermes_seg/relay")
    }

    /// A venv tool (`ansible-playbook`, `ansible-doc`, …) set up to find the private copy.
    pub fn command(&self, tool: &str) -> Command {
        self.command_with(tool, &self.collections())
    }

    /// Same, with another collections path (an installed tarball).
    pub fn command_with(&self, tool: &str, collections: &Path) -> Command {
        let mut cmd = Command::new(tool_in(self.venv, tool));
        let work = self.path();
        cmd.current_dir(work)
            .env("HOME", work.join("home"))
            // The managed host is this one: its modules run on the venv's Python, not on
            // whatever interpreter discovery finds first (a pyenv shim may be broken).
            .env("ANSIBLE_PYTHON_INTERPRETER", tool_in(self.venv, "python"))
            .env("ANSIBLE_CONFIG", work.join("ansible.cfg"))
            .env("ANSIBLE_COLLECTIONS_PATH", collections)
            .env("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
            .env("ANSIBLE_HOME", work.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", work.join("tmp-local"))
            .env("ANSIBLE_REMOTE_TEMP", work.join("tmp-remote"))
            // Ansible expands its default (`~/.ansible_async`) with the passwd home, not HOME.
            .env("ANSIBLE_ASYNC_DIR", work.join("async"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            // ansible-core refuses to start under a non-UTF-8 locale (CI may have none set).
            .env("LC_ALL", "C.UTF-8");
        cmd
    }

    /// `ansible-playbook -i localhost, -c local PLAYBOOK ARGS…`
    pub fn playbook(&self, playbook: &Path, args: &[&str]) -> Output {
        run(on_localhost(
            &mut self.command("ansible-playbook"),
            playbook,
            args,
        ))
    }
}

/// `ansible-playbook` (`cmd`, as [`Ansible::command`] sets it up) against this host: `-i
/// localhost, -c local PLAY ARGS…`.
pub fn on_localhost<'a>(cmd: &'a mut Command, play: &Path, args: &[&str]) -> &'a mut Command {
    cmd.args(["-i", "localhost,", "-c", "local"])
        .arg(play)
        .args(args)
}

/// `PLAY RECAP` as host → counter → value (`ok`, `changed`, `failed`, …).
pub fn recap(stdout: &str) -> BTreeMap<String, BTreeMap<String, u32>> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter_map(|line| {
            let (host, counts) = line.split_once(" : ")?;
            let counts = counts
                .split_whitespace()
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect();
            Some((host.trim().to_string(), counts))
        })
        .collect()
}

/// One host's recap counters; panics with the whole output when the host is not there.
pub fn host_recap(out: &Output, host: &str) -> BTreeMap<String, u32> {
    recap(&out.stdout)
        .remove(host)
        .unwrap_or_else(|| panic!("no PLAY RECAP line for {host}:\n{}", out.all()))
}

/// Copies a source tree, leaving out the binaries a local build.sh may have placed (`files/`)
/// and Python caches.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.ends_with("hermes_seg/relay/files") || src.ends_with("__pycache__") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}
