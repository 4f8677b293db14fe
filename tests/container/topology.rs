//! The topology `scripts/topology.sh up` started (read from the env file named by
//! `HERMES_TOPOLOGY`) and `Case`, one scenario's hold on it.
//!
//! One Postfix container with one bind mount means one host Postfix dir: scenarios run one at a
//! time (`Case` holds a lock) and each starts from the dir as the topology seeded it, a fresh
//! `init`-made key and template, an empty mail queue and a database of its own.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use hermes_relayhost::crypto::Key;
use mysql::prelude::Queryable;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{Row, Run, mariadb::SCHEMA, text_rows};
use crate::support::{WAIT, poll, set_params};

pub const BIN: &str = env!("CARGO_BIN_EXE_hermes-relayhost");

/// What `scripts/topology.sh up` wrote into its env file.
pub struct Topology {
    pub docker_host: String,
    /// The Hermes root on the host; `root/etc/postfix` is the container's /etc/postfix.
    pub root: PathBuf,
    pub postfix_dir: PathBuf,
    /// The Postfix dir as the topology seeded it.
    seed: PathBuf,
    /// The container's private settings (`key = value`), merged into the base template.
    instance: Vec<(String, String)>,
    pub db_port: u16,
    pub db_name: String,
    db_user: String,
    db_password: String,
    pub options_file: PathBuf,
    pub postfix_container: String,
    pub db_container: String,
}

static TOPOLOGY: OnceLock<Topology> = OnceLock::new();

pub fn topology() -> &'static Topology {
    TOPOLOGY.get_or_init(Topology::read)
}

impl Topology {
    fn read() -> Topology {
        let Some(path) = std::env::var_os("HERMES_TOPOLOGY") else {
            panic!(
                "HERMES_TOPOLOGY is not set: the container tests need a running topology. Run \
                 `scripts/topology.sh up DIR` (as root), then \
                 `HERMES_TOPOLOGY=DIR/topology.env cargo test --test container`, and \
                 `scripts/topology.sh down DIR` (scripts/test.sh does all three)"
            )
        };
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "HERMES_TOPOLOGY={}: {e} (start the topology with `scripts/topology.sh up DIR`)",
                Path::new(&path).display()
            )
        });
        let env: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |key: &str| -> String {
            env.get(key)
                .unwrap_or_else(|| panic!("{key} missing in {}", Path::new(&path).display()))
                .to_string()
        };
        let options_file = PathBuf::from(get("HERMES_DB_OPTIONS_FILE"));
        let client = fs::read_to_string(&options_file).unwrap();
        let db_password = client
            .lines()
            .find_map(|l| l.strip_prefix("password="))
            .expect("password in the option file")
            .to_string();
        let instance = fs::read_to_string(get("HERMES_INSTANCE_CF"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Topology {
            docker_host: get("DOCKER_HOST"),
            root: get("HERMES_ROOT").into(),
            postfix_dir: get("HERMES_POSTFIX_DIR").into(),
            seed: get("HERMES_POSTFIX_SEED").into(),
            instance,
            db_port: get("HERMES_DB_PORT").parse().unwrap(),
            db_name: get("HERMES_DB_NAME"),
            db_user: get("HERMES_DB_USER"),
            db_password,
            options_file,
            postfix_container: get("HERMES_POSTFIX_CONTAINER"),
            db_container: get("HERMES_DB_CONTAINER"),
        }
    }

    /// `docker ARGS` against the topology's daemon.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", &self.docker_host)
            .stdin(Stdio::null());
        cmd
    }

    /// `docker exec hermes_postfix_dkim ARGS`, which must succeed; its stdout.
    pub fn in_postfix(&self, args: &[&str]) -> String {
        let out = must(
            self.docker()
                .args(["exec", &self.postfix_container])
                .args(args),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A connection to `database` as the Hermes user, over TCP as the module connects.
    pub fn conn(&self, database: &str) -> mysql::Conn {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.db_port)
            .user(Some(self.db_user.clone()))
            .pass(Some(self.db_password.clone()))
            .db_name(Some(database));
        mysql::Conn::new(opts).unwrap()
    }

    /// The module's `database` URL: no password in it, that is in the option file.
    pub fn url(&self, database: &str) -> String {
        format!(
            "mysql://{}@127.0.0.1:{}/{database}",
            self.db_user, self.db_port
        )
    }

    /// The container's log (Postfix logs to /dev/stdout).
    pub fn log(&self) -> String {
        let out = must(
            self.docker()
                .args(["logs", &self.postfix_container])
                .stderr(Stdio::null()),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container's log, or `None` when there is no container to ask.
    pub fn try_log(&self) -> Option<String> {
        let out = self
            .docker()
            .args(["logs", &self.postfix_container])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `docker exec -i hermes_db_server mariadb`: `sql` run as the server's root (unix socket
    /// auth inside the container), for what the Hermes user may not do (users, grants).
    pub fn db_root_sql(&self, sql: &str) {
        let mut child = self
            .docker()
            .args(["exec", "-i", &self.db_container, "mariadb"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "mariadb as root failed: {}\n{sql}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The image `up` built the Postfix container from (`hermes-topology/postfix:DIGEST`).
    fn postfix_image(&self) -> String {
        let out = must(self.docker().args([
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "hermes-topology/postfix",
        ]));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut images = text.lines().filter(|l| !l.trim().is_empty());
        let image = images
            .next()
            .expect("no hermes-topology/postfix image: was the topology started by topology.sh?")
            .trim()
            .to_string();
        assert!(
            images.next().is_none(),
            "more than one Postfix image: {text}"
        );
        image
    }

    /// A container's state: `None` when it does not exist, else whether it runs and its entry
    /// point (`["sleep"]` for the idle Postfix container).
    fn container_state(&self, name: &str) -> Option<(bool, String)> {
        let out = self
            .docker()
            .args([
                "inspect",
                "--format",
                "{{.State.Running}} {{json .Config.Entrypoint}}",
                name,
            ])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (running, entry) = text.trim().split_once(' ')?;
        out.status
            .success()
            .then(|| (running == "true", entry.to_string()))
    }

    /// `docker stop hermes_postfix_dkim`: the container exists, nothing runs in it.
    pub fn stop_postfix(&self) {
        must(self.docker().args(["stop", &self.postfix_container]));
    }

    /// `docker start hermes_postfix_dkim`, then waits until its Postfix answers.
    pub fn start_postfix(&self) {
        must(self.docker().args(["start", &self.postfix_container]));
        self.wait_postfix();
    }

    /// `docker rm -f hermes_postfix_dkim`: no such container any more.
    pub fn remove_postfix(&self) {
        must(self.docker().args(["rm", "-f", &self.postfix_container]));
    }

    /// Replaces the Postfix container by a new one from the same image, with the same name,
    /// network and bind mount (the host's Postfix dir at /etc/postfix), as `up` runs it. An
    /// idle one runs `sleep infinity` instead of Postfix: a running container whose Postfix
    /// is stopped (the stock one cannot be that: its master is PID 1, so `postfix stop` ends
    /// the container). Waits until the new container's Postfix answers (not when idle).
    pub fn recreate_postfix(&self, idle: bool) {
        let image = self.postfix_image();
        let _ = self
            .docker()
            .args(["rm", "-f", &self.postfix_container])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let mount = format!("{}:/etc/postfix", self.postfix_dir.display());
        let mut run = self.docker();
        run.args(["run", "-d", "--name", &self.postfix_container])
            .args(["--network", "host", "-v", &mount]);
        if idle {
            run.args(["--entrypoint", "sleep", &image, "infinity"]);
        } else {
            run.arg(&image);
        }
        must(&mut run);
        if !idle {
            self.wait_postfix();
        }
    }

    /// Waits until `postfix status` succeeds in the Postfix container.
    fn wait_postfix(&self) {
        let up = poll(WAIT, || {
            self.docker()
                .args(["exec", &self.postfix_container, "postfix", "status"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
                .then_some(())
        });
        assert!(
            up.is_some(),
            "Postfix did not start in {}:\n{}",
            self.postfix_container,
            self.try_log().unwrap_or_default()
        );
    }

    /// `docker stop hermes_db_server`: nothing answers on the database port.
    pub fn stop_db(&self) {
        must(self.docker().args(["stop", &self.db_container]));
    }

    /// `docker start hermes_db_server` (its data kept in the container), then waits until the
    /// Hermes user can connect over TCP.
    pub fn start_db(&self) {
        must(self.docker().args(["start", &self.db_container]));
        self.wait_db();
    }

    fn wait_db(&self) {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.db_port)
            .user(Some(self.db_user.clone()))
            .pass(Some(self.db_password.clone()))
            .db_name(Some(self.db_name.clone()));
        let up = poll(Duration::from_secs(60), || {
            mysql::Conn::new(opts.clone()).ok().map(drop)
        });
        assert!(
            up.is_some(),
            "MariaDB did not come back in {}",
            self.db_container
        );
    }

    /// Puts both containers back as `up` left them, whatever a scenario (or its panic) did:
    /// the database server running, the Postfix container running Postfix with its own entry
    /// point. Cheap when nothing is wrong (two `docker inspect`s).
    pub fn heal(&self) {
        match self.container_state(&self.db_container) {
            Some((true, _)) => {}
            Some((false, _)) => self.start_db(),
            None => panic!(
                "{} is gone: its data cannot be recreated; run `scripts/topology.sh up` again",
                self.db_container
            ),
        }
        match self.container_state(&self.postfix_container) {
            Some((true, entry)) if entry.contains("entrypoint") => {}
            Some((false, entry)) if entry.contains("entrypoint") => self.start_postfix(),
            // Missing, or the idle one.
            _ => self.recreate_postfix(false),
        }
    }
}

/// Puts the containers back as `up` left them when dropped, also when the scenario panics, so
/// that the next scenario starts clean (`Case::new` heals too, should this fail).
pub struct Restore(pub &'static Topology);

impl Drop for Restore {
    fn drop(&mut self) {
        let t = self.0;
        // A panic while unwinding would abort every other test: report it instead.
        if let Err(e) = std::panic::catch_unwind(|| t.heal()) {
            eprintln!("restoring the topology failed: {e:?}");
        }
    }
}

/// A way the topology is broken for a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The binary finds no `docker` CLI on its PATH.
    NoDockerCli,
    /// The binary's `DOCKER_HOST` names a socket no daemon listens on.
    DaemonUnreachable,
    /// `docker rm -f hermes_postfix_dkim`.
    ContainerMissing,
    /// `docker stop hermes_postfix_dkim`.
    ContainerStopped,
    /// The Postfix container runs, its Postfix does not (the idle container).
    PostfixStopped,
    /// `docker stop hermes_db_server`.
    DatabaseStopped,
}

impl Fault {
    /// The cause the binary's message names for this fault.
    pub fn cause(self) -> &'static str {
        match self {
            Fault::NoDockerCli => "cannot run `docker`",
            Fault::DaemonUnreachable => "the Docker daemon is not reachable",
            Fault::ContainerMissing => "the container does not exist",
            Fault::ContainerStopped => "the container is not running",
            Fault::PostfixStopped => "Postfix is not running",
            Fault::DatabaseStopped => "database",
        }
    }
}

/// How the binary is started: a command in front of it, and environment variables (set after
/// the topology's `DOCKER_HOST`, so they may replace it).
#[derive(Clone, Debug, Default)]
pub struct Launch {
    pub prefix: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// As `nobody:nogroup` without supplementary groups.
    pub fn nobody() -> Launch {
        Launch {
            prefix: [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ]
            .map(String::from)
            .to_vec(),
            env: Vec::new(),
        }
    }

    /// Under strace, every fsync/fdatasync of the binary (and its children) failing with
    /// ENOSPC: a full disk at writeback.
    pub fn disk_full() -> Launch {
        Launch {
            prefix: crate::common::DISK_FULL.map(String::from).to_vec(),
            env: Vec::new(),
        }
    }

    fn with_env(key: &str, value: String) -> Launch {
        Launch {
            prefix: Vec::new(),
            env: vec![(key.to_string(), value)],
        }
    }
}

pub use crate::support::must;

/// One scenario at a time on the shared containers.
static SERIAL: Mutex<()> = Mutex::new(());
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// One scenario's hold on the topology: its own database, a freshly reset Hermes root.
pub struct Case {
    pub t: &'static Topology,
    pub db: String,
    /// Module args every run gets: root, database, option file, template vars.
    pub base: Value,
    pub tmp: TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Case {
    pub fn new() -> Case {
        // A failed scenario must not fail every later one: each resets the state anyway.
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let t = topology();
        crate::support::python(); // fail fast, with the fix, when the venv is missing
        reset(t);

        // `init` on the Hermes root: the key, the base template (the Postfix dir's main.cf
        // and master.cf exist, so init keeps them, as on a host whose Postfix already runs).
        let out = must(Command::new(BIN).args(["init", "--root"]).arg(&t.root));
        let init: Value = serde_json::from_slice(&out.stdout).unwrap();
        fs::remove_file(t.root.join("hermes.sqlite")).unwrap();
        let template = t.root.join("opt/hermes/conf_files/main.cf.HERMES");
        let params: Vec<(&str, String)> = t
            .instance
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let text = fs::read_to_string(&template).unwrap();
        fs::write(&template, set_params(&text, &params)).unwrap();

        let db = format!(
            "hermes_ct_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = t.conn(&t.db_name);
        conn.query_drop(format!("CREATE DATABASE `{db}` CHARACTER SET latin1"))
            .unwrap();
        t.conn(&db).query_drop(SCHEMA).unwrap();

        let base = json!({
            "root": t.root,
            "database": t.url(&db),
            "database_options_file": t.options_file,
            "vars": init["vars"],
        });
        Case {
            t,
            db,
            base,
            tmp: TempDir::new().unwrap(),
            _serial: serial,
        }
    }

    /// The base args merged with `extra` (a JSON object).
    pub fn args(&self, extra: Value) -> Value {
        let mut args = self.base.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    }

    /// `hermes-relayhost SUBCOMMAND… --args-file - --format json`, the args on stdin (as Salt
    /// passes them: no secret in argv).
    pub fn cli(&self, command: &[&str], args: &Value) -> Run {
        self.cli_with(&Launch::default(), command, args)
    }

    /// [`Case::cli`], started as `launch` says.
    pub fn cli_with(&self, launch: &Launch, command: &[&str], args: &Value) -> Run {
        let mut cmd = match launch.prefix.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(BIN);
                cmd
            }
            None => Command::new(BIN),
        };
        cmd.env("DOCKER_HOST", &self.t.docker_host);
        for (key, value) in &launch.env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .args(command)
            .args(["--args-file", "-", "--format", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&serde_json::to_vec(args).unwrap())
            .unwrap();
        finish(child.wait_with_output().unwrap())
    }

    /// `apply` with the base args plus `extra`; it must exit 0.
    pub fn apply(&self, extra: Value) -> Value {
        let run = self.cli(&["apply"], &self.args(extra));
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        run.json
    }

    /// Module mode (`hermes-relayhost ARGS.json`, as Ansible runs it) with exactly `args`.
    pub fn module(&self, args: &Value) -> Run {
        let file = self.tmp.path().join("args.json");
        fs::write(&file, serde_json::to_vec(args).unwrap()).unwrap();
        let out = Command::new(BIN)
            .arg(&file)
            .env("DOCKER_HOST", &self.t.docker_host)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        fs::remove_file(&file).unwrap();
        finish(out)
    }

    /// Every row of a query in this case's database, each value as text.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        text_rows(self.t.conn(&self.db).query(sql).unwrap())
    }

    /// The three Hermes tables, row by row.
    pub fn dump(&self) -> Vec<String> {
        let mut out = Vec::new();
        for table in ["parameters", "system_settings", "transport"] {
            for row in self.rows(&format!("SELECT * FROM {table} ORDER BY 1")) {
                out.push(format!("{table}: {row:?}"));
            }
        }
        out
    }

    pub fn param(&self, id: i64) -> Row {
        Row::of(&self.rows(&Row::select(id)))
    }

    pub fn setting(&self, parameter: &str) -> String {
        self.rows(&format!(
            "SELECT value FROM system_settings WHERE parameter = '{parameter}'"
        ))[0][0]
            .clone()
            .unwrap_or_default()
    }

    pub fn key(&self) -> Key {
        Key::load(&self.t.root.join("opt/hermes/keys/hermes.key")).unwrap()
    }

    /// A stored credential decrypted with the root's current key, as the Hermes UI reads it.
    pub fn decrypted(&self, parameter: &str) -> String {
        self.key()
            .decrypt(&self.setting(parameter), parameter)
            .unwrap()
            .expose_secret()
            .to_string()
    }

    pub fn file(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.t.postfix_dir.join(name)).ok()
    }

    pub fn mode(&self, name: &str) -> u32 {
        fs::metadata(self.t.postfix_dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// Looks a key up in the built map with the container's postmap.
    pub fn postmap_query(&self, key: &str) -> Option<String> {
        let out = must(self.t.docker().args([
            "exec",
            &self.t.postfix_container,
            "sh",
            "-c",
            // Exit 1 = not found; anything else is an error.
            "postmap -c /etc/postfix -q \"$1\" hash:/etc/postfix/sasl_passwd; \
             rc=$?; [ $rc -le 1 ] && echo \"rc=$rc\"",
            "sh",
            key,
        ]));
        let text = String::from_utf8(out.stdout).unwrap();
        let (value, rc) = text.trim_end().rsplit_once("rc=").unwrap();
        (rc == "0").then(|| value.trim_end().to_string())
    }

    /// Byte length of the container's log now: pass it to `wait_log`/`log_since`.
    pub fn log_mark(&self) -> usize {
        self.t.log().len()
    }

    pub fn log_since(&self, mark: usize) -> String {
        self.t.log().get(mark..).unwrap_or_default().to_string()
    }

    /// Waits for a log line after `mark` containing `needle`.
    pub fn wait_log(&self, mark: usize, needle: &str) -> Option<String> {
        poll(WAIT, || {
            self.log_since(mark)
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string)
        })
    }

    /// Waits until the log after `mark` shows a reload carried out (see [`reloaded_in`]).
    pub fn wait_reload(&self, mark: usize) -> bool {
        poll(WAIT, || reloaded_in(&self.log_since(mark)).then_some(())).is_some()
    }

    /// `sendmail -f FROM TO` inside the Postfix container, with a small message.
    pub fn sendmail(&self, from: &str, to: &str, subject: &str) {
        let mut child = self
            .t
            .docker()
            .args(["exec", "-i", &self.t.postfix_container])
            .args(["sendmail", "-f", from, to])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        write!(
            child.stdin.take().unwrap(),
            "From: {from}\nTo: {to}\nSubject: {subject}\n\nhermes-relayhost container test\n"
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "sendmail failed: {out:?}");
    }

    /// The container's mail queue listing.
    pub fn queue(&self) -> String {
        self.t.in_postfix(&["postqueue", "-p"])
    }

    /// The master's pid inside the container (1 while Postfix runs as the entry point).
    pub fn master_pid(&self) -> String {
        self.t
            .in_postfix(&["cat", "/var/spool/postfix/pid/master.pid"])
            .trim()
            .to_string()
    }

    /// Everything a run could touch: every file under the root (content, mode, mtime), the
    /// rows, and the map as the container's Postfix reads it.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_with(&[])
    }

    /// [`Case::snapshot`], also of every file under `dirs` (another root a scenario made).
    pub fn snapshot_with(&self, dirs: &[&Path]) -> Snapshot {
        Snapshot {
            files: self.files_with(dirs),
            rows: self.dump(),
        }
    }

    /// The files part of a snapshot alone: what can be read while the database is down.
    pub fn files_with(&self, dirs: &[&Path]) -> BTreeMap<PathBuf, FileState> {
        let mut files = BTreeMap::new();
        walk(&self.t.root, &mut files);
        for dir in dirs {
            walk(dir, &mut files);
        }
        files
    }

    /// Breaks the topology as `fault` says. Returns how to start the binary in that state
    /// (the faults of the binary's own environment are in it) and the guard that puts the
    /// containers back when dropped.
    pub fn inflict(&self, fault: Fault) -> (Launch, Restore) {
        let restore = Restore(self.t);
        let launch = match fault {
            Fault::NoDockerCli => {
                // A PATH with no `docker` on it (there is one in /usr/bin and /usr/local/bin).
                let empty = self.tmp.path().join("empty-path");
                fs::create_dir_all(&empty).unwrap();
                Launch::with_env("PATH", empty.display().to_string())
            }
            Fault::DaemonUnreachable => Launch::with_env(
                "DOCKER_HOST",
                format!("unix://{}/no-daemon.sock", self.tmp.path().display()),
            ),
            Fault::ContainerMissing => {
                self.t.remove_postfix();
                Launch::default()
            }
            Fault::ContainerStopped => {
                self.t.stop_postfix();
                Launch::default()
            }
            Fault::PostfixStopped => {
                self.t.recreate_postfix(true);
                Launch::default()
            }
            Fault::DatabaseStopped => {
                self.t.stop_db();
                Launch::default()
            }
        };
        (launch, restore)
    }
}

/// A file's content hash, length, mode and mtime.
pub use crate::common::{FileState, walk};

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// path → (content hash, length, mode, mtime)
    pub files: BTreeMap<PathBuf, FileState>,
    pub rows: Vec<String>,
}

fn finish(out: Output) -> Run {
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}\n{stderr}"));
    Run {
        json,
        stdout,
        stderr,
        code: out.status.code().unwrap_or(-1),
    }
}

/// Back to the topology as `up` left it: both containers running as `up` started them, the
/// Postfix dir as seeded (what a scenario added is removed, main.cf and master.cf restored),
/// no key or template, an empty queue, and the running Postfix reloaded onto that config.
fn reset(t: &Topology) {
    // Containers a failed scenario left broken come back first.
    t.heal();
    for entry in fs::read_dir(&t.postfix_dir).unwrap() {
        let path = entry.unwrap().path();
        if !t.seed.join(path.file_name().unwrap()).exists() {
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                fs::remove_dir_all(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        }
    }
    for name in ["main.cf", "master.cf"] {
        let target = t.postfix_dir.join(name);
        let _ = fs::remove_file(&target);
        fs::copy(t.seed.join(name), &target).unwrap();
    }
    for leftover in ["opt", "hermes.sqlite"] {
        let path = t.root.join(leftover);
        if path.is_dir() {
            fs::remove_dir_all(&path).unwrap();
        } else if path.exists() {
            fs::remove_file(&path).unwrap();
        }
    }
    // Postfix re-reads a main.cf younger than a second until it is a second old (~2 s for
    // every command here): backdate it first.
    let past = SystemTime::now() - Duration::from_secs(2);
    fs::File::options()
        .write(true)
        .open(t.postfix_dir.join("main.cf"))
        .and_then(|f| f.set_modified(past))
        .unwrap();
    t.in_postfix(&["postsuper", "-d", "ALL"]);
    // Wait for its log line, so that no later scenario step takes it for its own reload.
    let mark = t.log().len();
    t.in_postfix(&["postfix", "reload"]);
    let reloaded = poll(WAIT, || {
        t.log().get(mark..).is_some_and(reloaded_in).then_some(())
    });
    assert!(reloaded.is_some(), "Postfix did not reload after the reset");
}

/// Whether `log` (the part after a mark) shows a `postfix reload` carried out: the master's
/// `reload -- version` line AFTER the last `refreshing` line that the `postfix reload` command
/// logs before it signals the master. The master's line of an earlier reload can show up in
/// `docker logs` after a later mark; it comes before that reload's own `refreshing` line, so it
/// is not taken for the reload awaited.
pub fn reloaded_in(log: &str) -> bool {
    log.rfind("refreshing the Postfix mail system")
        .is_some_and(|at| log[at..].contains("reload -- version"))
}
