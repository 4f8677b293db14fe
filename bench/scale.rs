//! Scale benchmark of hermes-relayhost (issue 7): N `transport` rows with authentication
//! (default N = 100000), on SQLite and on a private MariaDB server; see bench/README.md.
//!
//! `cargo bench --bench scale` (a `harness = false` bench: this `main` is the whole program).
//! It builds the release binary as bench/run.sh does (`cargo build --release --locked`, or
//! `BENCH_PROFILE`, or measures `BENCH_BIN` as is) and, for each store, times:
//!   - the first apply (rows, main.cf, sasl_passwd + map) and one no-change apply, for context;
//!   - rebuilding sasl_passwd: a changed apply whose relay password alternates, so every run
//!     rewrites the rows, sasl_passwd (N + 1 lines) and its postmap'ed map, but not main.cf;
//!   - key rotation: `hermes-relayhost rotate-key --args-file F` ({"root", "rotate_key": true}
//!     and, for MariaDB, the socket URL). After each rotation it checks `reencrypted` = 2N + 2
//!     and that a no-change apply still reports changed=false (every value still decrypts).
//!
//! and the peak RSS of those runs (GNU time %M: the binary and the postmap/postfix it waited
//! for; for MariaDB not the server). Then the goal table (bench/pair.py, shared with
//! bench/run.sh): per store, no change at N, 10 and 10000 rows vs one `postconf -n`, a
//! password change at N rows vs one `postmap` of the same file (issue 13 for SQLite, issue 19
//! item 5 for MariaDB), and a main.cf change with Postfix running (SQLite, root only).
//!
//! The MariaDB server is the integration tests' own (tests/integration/common/mariadb.rs): one
//! private server in a temp dir, stopped by its watchdog once this process is gone.
//!
//! Prints a table on stdout; build output and progress go to stderr. Nothing is asserted about
//! the figures; the program fails only if a run fails or reports something unexpected.
//!
//! Environment: BENCH_ROWS (default 100000), BENCH_STORES ("sqlite mariadb"),
//! BENCH_REBUILD_RUNS (5), BENCH_ROTATE_RUNS (3), BENCH_GOALS (1; 0 skips the small and live
//! roots), BENCH_GOAL_NOCHANGE_RUNS (11), BENCH_GOAL_REBUILD_RUNS (7), BENCH_GOAL_SMALL_RUNS
//! (21), BENCH_GOAL_LIVE_RUNS (5), BENCH_BIN / BENCH_PROFILE (the binary), BENCH_KEEP_TMP=1
//! keeps the temp dir (the MariaDB server and its data dir go either way).

// The tests use more of the helper than this program does.
#[allow(dead_code)]
#[path = "../tests/integration/support/main_cf.rs"]
mod main_cf;
#[path = "../tests/integration/common/mariadb.rs"]
mod mariadb;

use std::ffi::CString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mysql::prelude::Queryable;
use serde_json::{Value, json};

const GNU_TIME: &str = "/usr/bin/time";
const PORTS: [&str; 4] = ["587", "25", "", "465"];
const COLUMNS: &str = "domain, transport, destination, port, authentication, \
                       authentication_username, authentication_password";

/// The signal (SIGINT, SIGTERM) that asked this program to stop, or 0.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    INTERRUPTED.store(signal, Ordering::SeqCst);
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` would run this program in test
    // mode, which must not start a multi-minute benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("bench: scale: run it with `cargo bench --bench scale` (see bench/README.md)");
        return ExitCode::SUCCESS;
    }
    // Ctrl-C or a TERM ends the run in progress (the children get it from the terminal) and
    // then this program, through the cleanup below (temp dir, private Postfix).
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores into an atomic.
        unsafe {
            libc::signal(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let result = Bench::new().and_then(|mut bench| bench.main());
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => {}
        signal => {
            eprintln!("bench: interrupted");
            return ExitCode::from(128 + signal as u8);
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn env_num(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name} must be a number, not {v:?}")),
    }
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) != 0 {
        bail!("interrupted");
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| fs::metadata(dir.join(tool)).is_ok_and(|m| is_executable(&m)))
    })
}

fn is_executable(m: &fs::Metadata) -> bool {
    m.is_file() && m.permissions().mode() & 0o111 != 0
}

/// Stdout of a child process that goes to our stderr (progress, not the table).
fn to_stderr() -> Stdio {
    io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn path_str(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("not UTF-8: {}", path.display()))
}

/// Runs a command that must succeed; returns its stdout.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    check_interrupted()?;
    ensure!(out.status.success(), "{cmd:?}: {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command that must succeed, its stdout to stderr.
fn status(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(to_stderr())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    check_interrupted()?;
    ensure!(status.success(), "{cmd:?}: {status}");
    Ok(())
}

/// atime and mtime of `path` one hour ago (`touch -d '1 hour ago'`), as on a real host:
/// Postfix (dict_load_file) re-reads a main.cf every 0.3 s until its mtime is ~2 s old.
fn age(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: plain syscall wrapper; `c` outlives the call.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    let then = libc::timespec {
        tv_sec: now - 3600,
        tv_nsec: 0,
    };
    let times = [then, then];
    // SAFETY: `c` is a valid C string, `times` two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("aging {}", path.display()));
    }
    Ok(())
}

/// Every regular file under `dir` aged (`find DIR -type f -exec touch -d '1 hour ago'`).
fn age_tree(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            age_tree(&entry.path())?;
        } else if kind.is_file() {
            age(&entry.path())?;
        }
    }
    Ok(())
}

/// Base64 of AES-256-ECB/PKCS#7 of `plain` under the hex key, as Hermes stores credentials;
/// made with openssl (as bench/lib.sh does), not with the code under test.
fn encrypt(keyhex: &str, plain: &str) -> Result<String> {
    let mut child = Command::new("openssl")
        .args(["enc", "-aes-256-ecb", "-K", keyhex])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("running openssl")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(plain.as_bytes())?;
    let mut cipher = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut cipher)?;
    let status = child.wait()?;
    ensure!(status.success(), "openssl enc: {status}");
    Ok(B64.encode(cipher))
}

/// `key = value` lines set in a main.cf, as the tests set them for their private Postfix.
fn set_params(path: &Path, params: &[(&str, String)]) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    fs::write(path, main_cf::set_params(&text, params))
        .with_context(|| format!("writing {}", path.display()))
}

/// What a module run must report.
#[derive(Default)]
struct Expect<'a> {
    changed: bool,
    require: Option<&'a str>,
    forbid: Option<&'a str>,
    reencrypted: Option<usize>,
}

fn changed() -> Expect<'static> {
    Expect {
        changed: true,
        ..Expect::default()
    }
}

fn unchanged() -> Expect<'static> {
    Expect::default()
}

/// The checks of one module run's output (the script's `helper check`).
fn check(what: &str, stdout: &[u8], code: Option<i32>, expect: &Expect) -> Result<()> {
    let result: Value = serde_json::from_slice(stdout).map_err(|_| {
        let text = String::from_utf8_lossy(stdout);
        anyhow!(
            "{what}: output is not JSON (exit {code:?}): {:?}",
            text.chars().take(500).collect::<String>()
        )
    })?;
    let short: String = result.to_string().chars().take(2000).collect();
    ensure!(
        code == Some(0) && result["failed"] == false,
        "{what}: run failed (exit {code:?}): {short}"
    );
    ensure!(
        result["changed"] == expect.changed,
        "{what}: expected changed={}, got {short}",
        expect.changed
    );
    let changes: Vec<&str> = result["changes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(require) = expect.require {
        ensure!(
            changes.contains(&require),
            "{what}: expected a change of {require}, got {short}"
        );
    }
    if let Some(forbid) = expect.forbid {
        ensure!(
            !changes.contains(&forbid),
            "{what}: expected no change of {forbid}, got {short}"
        );
    }
    if let Some(n) = expect.reencrypted {
        ensure!(
            result["reencrypted"] == n && result["already_rotated"] == 0,
            "{what}: expected reencrypted={n}, already_rotated=0, got {short}"
        );
        ensure!(
            result["key_backup"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: no key_backup reported: {short}"
        );
    }
    Ok(())
}

/// One timed run of the runs table.
struct Timed {
    store: String,
    op: &'static str,
    ms: f64,
    rss_kib: u64,
}

/// A private Postfix started for the live row; stopped on drop (also on error or panic).
struct LivePostfix(PathBuf);

impl Drop for LivePostfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.0)
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(to_stderr())
            .status();
    }
}

/// The temp dir: removed on drop unless BENCH_KEEP_TMP=1.
struct Tmp {
    path: PathBuf,
    keep: bool,
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// One root under the temp dir: `init`'s root, its args files and credentials.
struct Root {
    dir: PathBuf,
    /// `mysql://…` for a MariaDB store.
    database: Option<String>,
}

impl Root {
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn postfix_dir(&self) -> PathBuf {
        self.dir.join("root/etc/postfix")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn args(&self, tag: &str) -> PathBuf {
        self.dir.join(format!("args{tag}.json"))
    }

    fn creds(&self) -> Result<Vec<(String, String)>> {
        let text = fs::read_to_string(self.file("creds.txt"))?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?.to_string(), it.next()?.to_string()))
            })
            .collect())
    }

    fn base(&self) -> Result<serde_json::Map<String, Value>> {
        let text = fs::read_to_string(self.file("base.json"))?;
        match serde_json::from_str(&text)? {
            Value::Object(map) => Ok(map),
            other => bail!("init printed {other}, not an object"),
        }
    }

    /// argsA/argsB (apply; they differ in the relay password only), argsA-full/argsB-full
    /// (the same in diff mode, which reads every row whatever the verified record says) and
    /// rotate.json.
    fn write_args(&self) -> Result<()> {
        let mut base = self.base()?;
        if let Some(db) = &self.database {
            base.insert("database".into(), json!(db));
        }
        for (tag, password) in [("A", "Bench-pass-A1"), ("B", "Bench-pass-B2")] {
            let mut args = base.clone();
            args.insert("host".into(), json!("smtp.example.com"));
            args.insert("port".into(), json!(587));
            args.insert("username".into(), json!("relayuser"));
            args.insert("password".into(), json!(password));
            fs::write(self.args(tag), Value::Object(args.clone()).to_string())?;
            args.insert("_ansible_diff".into(), json!(true));
            fs::write(
                self.args(&format!("{tag}-full")),
                Value::Object(args).to_string(),
            )?;
        }
        let mut rotate = json!({"root": base["root"], "rotate_key": true});
        if let Some(db) = &self.database {
            rotate["database"] = json!(db);
        }
        fs::write(self.file("rotate.json"), rotate.to_string())?;
        Ok(())
    }

    /// argsP1/argsP2: the relay port alternates, so every run rewrites main.cf.
    fn write_port_args(&self) -> Result<()> {
        let base = self.base()?;
        for (tag, port) in [("P1", 587), ("P2", 2525)] {
            let mut args = base.clone();
            args.insert("host".into(), json!("smtp.example.com"));
            args.insert("port".into(), json!(port));
            args.insert("username".into(), json!("relayuser"));
            args.insert("password".into(), json!("Bench-pass-A1"));
            fs::write(self.args(tag), Value::Object(args).to_string())?;
        }
        Ok(())
    }

    /// N transport rows with authentication, each with its own destination (as bench/run.sh);
    /// the creds are reused from the ten openssl-made ciphertexts under the root's key.
    fn rows(&self, n: usize) -> Result<Vec<[String; 7]>> {
        let creds = self.creds()?;
        ensure!(
            !creds.is_empty(),
            "no credentials in {}",
            self.dir.display()
        );
        Ok((0..n)
            .map(|i| {
                let (user, pw) = &creds[i % creds.len()];
                [
                    format!("d{i}.example.org"),
                    format!("smtp:[relay{i}.example.net]"),
                    format!("relay{i}.example.net"),
                    PORTS[i % PORTS.len()].to_string(),
                    "YES".to_string(),
                    user.clone(),
                    pw.clone(),
                ]
            })
            .collect())
    }

    fn seed_sqlite(&self, n: usize) -> Result<()> {
        let rows = self.rows(n)?;
        let mut con = rusqlite::Connection::open(self.root().join("hermes.sqlite"))?;
        let tx = con.transaction()?;
        {
            let mut insert = tx.prepare(&format!(
                "INSERT INTO transport ({COLUMNS}) VALUES (?,?,?,?,?,?,?)"
            ))?;
            for row in &rows {
                insert.execute(rusqlite::params_from_iter(row.iter()))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A fresh database on the private server (started if need be) with Hermes's schema and
    /// N transport rows, loaded in 1000-row INSERTs; sets `database` to its socket URL. The
    /// rows are then left alone for the store's racy window (src/store/mariadb.rs,
    /// RACY_SECONDS = 2): a version whose `transport` was written less than 2 s ago is no
    /// version, so without the wait the first apply would leave no record. On a real host the
    /// rows are older than that.
    fn seed_mariadb(&mut self, n: usize) -> Result<()> {
        let server = mariadb_server();
        fs::remove_file(self.root().join("hermes.sqlite"))?;
        let db = server.create_hermes_db();
        let mut conn = server.conn(Some(&db));
        conn.query_drop("LOCK TABLES transport WRITE")?;
        let rows = self.rows(n)?;
        for chunk in rows.chunks(1000) {
            let mut sql = format!("INSERT INTO transport ({COLUMNS}) VALUES\n");
            for (i, row) in chunk.iter().enumerate() {
                // Plain ASCII (names, digits, Base64): no quoting issues.
                ensure!(row.iter().all(|v| !v.contains(['\'', '\\'])));
                let values: Vec<String> = row.iter().map(|v| format!("'{v}'")).collect();
                let sep = if i == 0 { "" } else { ",\n" };
                let _ = write!(sql, "{sep}({})", values.join(","));
            }
            conn.query_drop(sql)?;
        }
        conn.query_drop("UNLOCK TABLES")?;
        let count: Option<u64> =
            conn.query_first("SELECT COUNT(*) FROM transport WHERE authentication = 'YES'")?;
        ensure!(
            count == Some(n as u64),
            "{count:?} rows loaded, expected {n}"
        );
        self.database = Some(server.socket_url(&db));
        std::thread::sleep(Duration::from_millis(2100));
        Ok(())
    }
}

/// The tests' private MariaDB server, started on first use.
fn mariadb_server() -> &'static mariadb::Server {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| eprintln!("bench: starting MariaDB (tests/integration/common/mariadb.rs)"));
    let server = mariadb::server();
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        eprintln!(
            "bench: MariaDB on 127.0.0.1:{} and {}",
            server.port,
            server.socket.display()
        )
    });
    server
}

/// What a row of the goal table says about a store: its label prefix and its goals.
struct Goals {
    label: &'static str,
    big_nochange: Value,
    big_rss: Option<u64>,
    rebuild: Value,
}

fn goals_of(store: &str) -> Goals {
    if store == "mariadb" {
        Goals {
            label: "MariaDB: ",
            big_nochange: json!({"ratio": 1}),
            big_rss: None,
            rebuild: json!({"ratio": 1.5}),
        }
    } else {
        Goals {
            label: "",
            big_nochange: json!({"ratio": 10}),
            big_rss: Some(46875),
            rebuild: json!({"ratio": 2}),
        }
    }
}

/// One row of the goal table (bench/pair.py).
struct PairRow<'a> {
    label: String,
    runs: usize,
    /// The module run's `changed`.
    expect: bool,
    /// The floor's `changed` when it is a module run too.
    floor_expect: Option<bool>,
    goal: Value,
    rss_goal_kib: Option<u64>,
    floor: Vec<Vec<&'a str>>,
    subject: Vec<Vec<&'a str>>,
}

fn other(tag: &str) -> &'static str {
    if tag == "A" { "B" } else { "A" }
}

struct Bench {
    repo: PathBuf,
    rows: usize,
    stores: Vec<String>,
    rebuild_runs: usize,
    rotate_runs: usize,
    goals: bool,
    goal_nochange_runs: usize,
    goal_rebuild_runs: usize,
    goal_small_runs: usize,
    goal_live_runs: usize,
    start: Instant,
    bin: PathBuf,
    bin_str: String,
    build: String,
    timed: Vec<Timed>,
    pairs: PathBuf,
    /// Last: removed after everything else is dropped.
    tmp: Tmp,
}

impl Bench {
    fn new() -> Result<Bench> {
        let start = Instant::now();
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let rows_text = env_or("BENCH_ROWS", "100000");
        let rows: usize = rows_text
            .parse()
            .ok()
            .filter(|&n| n > 0 && !rows_text.starts_with(['0', '+']))
            .ok_or_else(|| anyhow!("BENCH_ROWS must be a positive number"))?;
        let stores: Vec<String> = env_or("BENCH_STORES", "sqlite mariadb")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for store in &stores {
            ensure!(
                store == "sqlite" || store == "mariadb",
                "unknown store {store}"
            );
        }
        let mut need = vec!["python3", "openssl", "postmap", "postconf"];
        if stores.iter().any(|s| s == "mariadb") {
            need.extend(["mariadb-install-db", "mariadbd", "mariadb-admin"]);
        }
        for tool in need {
            ensure!(on_path(tool), "'{tool}' is required");
        }
        let gnu = Command::new(GNU_TIME).arg("--version").output();
        ensure!(
            gnu.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("GNU")
                || String::from_utf8_lossy(&o.stderr).contains("GNU")),
            "GNU time ({GNU_TIME}) is required for the peak RSS"
        );
        let (bin, build) = build_release(&repo)?;
        let tmp = tempfile::Builder::new()
            .prefix("hermes-relayhost-scale.")
            .tempdir()?
            .keep();
        let tmp = Tmp {
            path: tmp,
            keep: std::env::var("BENCH_KEEP_TMP").is_ok_and(|v| v == "1"),
        };
        let pairs = tmp.path.join("pairs.jsonl");
        fs::write(&pairs, "")?;
        Ok(Bench {
            repo,
            rows,
            stores,
            rebuild_runs: env_num("BENCH_REBUILD_RUNS", 5)?,
            rotate_runs: env_num("BENCH_ROTATE_RUNS", 3)?,
            goals: env_or("BENCH_GOALS", "1") == "1",
            goal_nochange_runs: env_num("BENCH_GOAL_NOCHANGE_RUNS", 11)?,
            goal_rebuild_runs: env_num("BENCH_GOAL_REBUILD_RUNS", 7)?,
            goal_small_runs: env_num("BENCH_GOAL_SMALL_RUNS", 21)?,
            goal_live_runs: env_num("BENCH_GOAL_LIVE_RUNS", 5)?,
            start,
            bin_str: path_str(&bin)?,
            bin,
            build,
            timed: Vec::new(),
            pairs,
            tmp,
        })
    }

    fn main(&mut self) -> Result<()> {
        let stores = self.stores.clone();
        for store in &stores {
            self.bench_store(store)?;
        }
        if self.goals {
            for store in &stores {
                for n in [10, 10000] {
                    self.goal_row_small(store, n)?;
                }
            }
            self.goal_row_live()?;
        }
        self.print_tables()
    }

    /// A fresh root from `init` in DIR/root (base args in DIR/base.json), aged, and ten
    /// credential pairs encrypted under its key in DIR/creds.txt (bench/lib.sh make_root).
    fn make_root(&self, dir: &Path) -> Result<Root> {
        fs::create_dir_all(dir)?;
        let root = Root {
            dir: dir.to_path_buf(),
            database: None,
        };
        let base = output(
            Command::new(&self.bin)
                .arg("init")
                .arg("--root")
                .arg(root.root()),
        )?;
        fs::write(root.file("base.json"), base)?;
        age_tree(&root.root())?;
        let key_file = root.root().join("opt/hermes/keys/hermes.key");
        let key = B64
            .decode(fs::read_to_string(&key_file)?.trim())
            .with_context(|| format!("decoding {}", key_file.display()))?;
        ensure!(
            key.len() == 32,
            "unexpected key in {}",
            root.root().display()
        );
        let keyhex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let mut creds = String::new();
        for i in 0..10 {
            let user = encrypt(&keyhex, &format!("user{i}@example.net"))?;
            let pw = encrypt(&keyhex, &format!("pw-{i}-Secret"))?;
            let _ = writeln!(creds, "{user} {pw}");
        }
        fs::write(root.file("creds.txt"), creds)?;
        Ok(root)
    }

    /// A root with N rows in STORE, its args files written.
    fn seeded_root(&self, store: &str, dir: &Path, n: usize) -> Result<Root> {
        let mut root = self.make_root(dir)?;
        match store {
            "sqlite" => root.seed_sqlite(n)?,
            _ => root.seed_mariadb(n)?,
        }
        root.write_args()?;
        Ok(root)
    }

    /// One run of the binary under GNU time, its JSON checked; with `op`, a row of the runs
    /// table (wall time around GNU time, its %M).
    fn run(
        &mut self,
        store: &str,
        op: Option<&'static str>,
        what: &str,
        expect: Expect,
        args: &[&Path],
    ) -> Result<()> {
        let rss_file = self.tmp.path.join("rss.txt");
        let mut cmd = Command::new(GNU_TIME);
        cmd.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(&self.bin)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let t0 = Instant::now();
        let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
        let elapsed = t0.elapsed();
        check_interrupted()?;
        check(
            &format!("{store}: {what}"),
            &out.stdout,
            out.status.code(),
            &expect,
        )?;
        if let Some(op) = op {
            let rss = fs::read_to_string(&rss_file)?;
            let rss_kib = rss
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .ok_or_else(|| anyhow!("GNU time wrote {rss:?}"))?;
            self.timed.push(Timed {
                store: store.to_string(),
                op,
                ms: elapsed.as_secs_f64() * 1000.0,
                rss_kib,
            });
        }
        Ok(())
    }

    fn sasl_lines(&self, root: &Root) -> Result<()> {
        let text = fs::read(root.postfix_dir().join("sasl_passwd"))?;
        let lines = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        ensure!(
            lines == self.rows + 1,
            "sasl_passwd has {lines} lines, expected {}",
            self.rows + 1
        );
        Ok(())
    }

    fn bench_store(&mut self, store: &str) -> Result<()> {
        let rows = self.rows;
        eprintln!("bench: {store}: init, seeding {rows} transport rows");
        let root = self.seeded_root(store, &self.tmp.path.join(store), rows)?;

        eprintln!("bench: {store}: measuring");
        let first = Expect {
            require: Some("sasl_passwd"),
            ..changed()
        };
        let args_a = root.args("A");
        self.run(
            store,
            Some("first apply (+ main.cf)"),
            "first apply",
            first,
            &[&args_a],
        )?;
        self.sasl_lines(&root)?;
        // Age the new main.cf as on a real host: otherwise the next postmap waits ~1.5 s for it
        // to settle (see bench/README.md), which is not the cost of rebuilding sasl_passwd.
        age(&root.postfix_dir().join("main.cf"))?;
        self.run(store, None, "no-change warm-up", unchanged(), &[&args_a])?;
        self.run(
            store,
            Some("no-change apply"),
            "no-change apply",
            unchanged(),
            &[&args_a],
        )?;

        let mut current = "A";
        for _ in 0..self.rebuild_runs {
            let next = other(current);
            let expect = Expect {
                require: Some("sasl_passwd"),
                forbid: Some("main.cf"),
                ..changed()
            };
            self.run(
                store,
                Some("rebuild sasl_passwd (password)"),
                &format!("changed apply ({next})"),
                expect,
                &[&root.args(next)],
            )?;
            current = next;
        }
        self.sasl_lines(&root)?;
        current = self.goal_rows_big(store, &root, current)?;

        let rotate = root.file("rotate.json");
        for i in 1..=self.rotate_runs {
            let expect = Expect {
                reencrypted: Some(2 * rows + 2),
                ..changed()
            };
            self.run(
                store,
                Some("rotate-key"),
                &format!("rotate-key #{i}"),
                expect,
                &[Path::new("rotate-key"), Path::new("--args-file"), &rotate],
            )?;
            // Every value must still decrypt under the new key: nothing to change.
            self.run(
                store,
                Some("no-change apply after rotation"),
                &format!("no-change apply after rotation #{i}"),
                unchanged(),
                &[&root.args(current)],
            )?;
        }
        let backups = fs::read_dir(root.root().join("opt/hermes/keys"))?
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("hermes.key.bak-")
            })
            .count();
        ensure!(
            backups == self.rotate_runs,
            "{store}: {backups} key backups, expected {}",
            self.rotate_runs
        );
        Ok(())
    }

    /// One row of the goal table, appended to pairs.jsonl by bench/pair.py.
    fn pair_row(&self, row: PairRow) -> Result<()> {
        let mut spec = json!({
            "label": row.label,
            "runs": row.runs,
            "expect": row.expect,
            "floor_expect": row.floor_expect,
            "goal": row.goal,
            "floor": row.floor,
            "subject": row.subject,
        });
        if let Some(kib) = row.rss_goal_kib {
            spec["rss_goal_kib"] = json!(kib);
        }
        let spec_file = self.tmp.path.join("pair-spec.json");
        fs::write(&spec_file, spec.to_string())?;
        status(
            Command::new("python3")
                .arg(self.repo.join("bench/pair.py"))
                .arg("run")
                .arg(&spec_file)
                .arg(&self.pairs),
        )
    }

    /// Rows "no change" and "password changed" on the big root of STORE; returns the args
    /// tag the state matches afterwards.
    fn goal_rows_big(
        &self,
        store: &str,
        root: &Root,
        current: &'static str,
    ) -> Result<&'static str> {
        let g = goals_of(store);
        let rows = self.rows;
        let next = other(current);
        let pf = path_str(&root.postfix_dir())?;
        let bin = self.bin_str.as_str();
        let args_cur = path_str(&root.args(current))?;
        let args_cur_full = path_str(&root.args(&format!("{current}-full")))?;
        let args_next = path_str(&root.args(next))?;
        let postconf = vec!["postconf", "-c", &pf, "-n"];
        self.pair_row(PairRow {
            label: format!("{}no change, {rows} rows, vs one postconf -n", g.label),
            runs: self.goal_nochange_runs,
            expect: false,
            floor_expect: None,
            goal: g.big_nochange,
            rss_goal_kib: g.big_rss,
            floor: vec![postconf.clone()],
            subject: vec![vec![bin, &args_cur]],
        })?;
        self.pair_row(PairRow {
            label: "  the same, every row read (diff mode)".into(),
            runs: self.goal_nochange_runs,
            expect: false,
            floor_expect: None,
            goal: json!({}),
            rss_goal_kib: None,
            floor: vec![postconf],
            subject: vec![vec![bin, &args_cur_full]],
        })?;
        let floor_dir = root.file("floor");
        fs::create_dir_all(&floor_dir)?;
        fs::copy(
            root.postfix_dir().join("sasl_passwd"),
            floor_dir.join("sasl_passwd"),
        )?;
        let map_type =
            output(Command::new("postconf").args(["-c", &pf, "-h", "smtp_sasl_password_maps"]))?;
        let map_type = map_type.trim().split(':').next().unwrap_or("hash");
        let map = format!("{map_type}:{}", path_str(&floor_dir.join("sasl_passwd"))?);
        self.pair_row(PairRow {
            label: format!(
                "{}password changed, {rows} rows, vs one postmap of that file",
                g.label
            ),
            runs: self.goal_rebuild_runs,
            expect: true,
            floor_expect: None,
            goal: g.rebuild,
            rss_goal_kib: None,
            floor: vec![vec!["postmap", "-c", &pf, &map]],
            subject: vec![vec![bin, &args_next], vec![bin, &args_cur]],
        })?;
        // pair.py runs subject[0] once, then subject[1], subject[0], … (runs times).
        Ok(if self.goal_rebuild_runs.is_multiple_of(2) {
            next
        } else {
            current
        })
    }

    /// Row "no change, N rows" on a small root of STORE.
    fn goal_row_small(&mut self, store: &str, n: usize) -> Result<()> {
        let g = goals_of(store);
        eprintln!("bench: {store}: small root with {n} rows");
        let dir = self.tmp.path.join(format!("small-{store}-{n}"));
        let root = self.seeded_root(store, &dir, n)?;
        let first = Expect {
            require: Some("sasl_passwd"),
            ..changed()
        };
        self.run(
            store,
            None,
            &format!("first apply ({n} rows)"),
            first,
            &[&root.args("A")],
        )?;
        age(&root.postfix_dir().join("main.cf"))?;
        let pf = path_str(&root.postfix_dir())?;
        let bin = self.bin_str.as_str();
        let args_a = path_str(&root.args("A"))?;
        let args_a_full = path_str(&root.args("A-full"))?;
        let postconf = vec!["postconf", "-c", &pf, "-n"];
        self.pair_row(PairRow {
            label: format!("{}no change, {n} rows, vs one postconf -n", g.label),
            runs: self.goal_small_runs,
            expect: false,
            floor_expect: None,
            goal: json!({"ratio": 1}),
            rss_goal_kib: None,
            floor: vec![postconf.clone()],
            subject: vec![vec![bin, &args_a]],
        })?;
        self.pair_row(PairRow {
            label: "  the same, every row read (diff mode)".into(),
            runs: self.goal_small_runs,
            expect: false,
            floor_expect: None,
            goal: json!({}),
            rss_goal_kib: None,
            floor: vec![postconf],
            subject: vec![vec![bin, &args_a_full]],
        })
    }

    /// Row "a change that rewrites main.cf while Postfix runs": two 10-row roots with the
    /// settings of a private Postfix instance (own queue, loopback only, no smtp listener, as
    /// tests/integration/support), one started; the relay port alternates on both.
    fn goal_row_live(&mut self) -> Result<()> {
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("bench: not root: no private Postfix, the live-Postfix row is skipped");
            return Ok(());
        }
        let tmp = self.tmp.path.clone();
        let mut roots = Vec::new();
        for kind in ["stopped", "live"] {
            let root = self.make_root(&tmp.join(kind))?;
            root.seed_sqlite(10)?;
            root.write_port_args()?;
            let pf = root.postfix_dir();
            let inst = root.file("instance");
            for sub in ["queue", "data", "log"] {
                fs::create_dir_all(inst.join(sub))?;
            }
            // Daemons run as postfix and reach data_directory by absolute path.
            for path in [
                tmp.clone(),
                root.dir.clone(),
                inst.clone(),
                inst.join("queue"),
                inst.join("log"),
            ] {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
            }
            status(Command::new("chown").arg("postfix:").arg(inst.join("data")))?;
            let inst_s = path_str(&inst)?;
            let params = [
                ("compatibility_level", "3.6".to_string()),
                ("queue_directory", format!("{inst_s}/queue")),
                ("data_directory", format!("{inst_s}/data")),
                ("inet_interfaces", "loopback-only".to_string()),
                ("inet_protocols", "ipv4".to_string()),
                ("smtp_dns_support_level", "disabled".to_string()),
                ("mydestination", String::new()),
                ("alias_maps", String::new()),
                ("maillog_file", format!("{inst_s}/log/maillog")),
                (
                    "maillog_file_prefixes",
                    format!("/var, /dev/stdout, {inst_s}/log"),
                ),
            ];
            for file in [
                root.root().join("opt/hermes/conf_files/main.cf.HERMES"),
                pf.join("main.cf"),
            ] {
                set_params(&file, &params)?;
                age(&file)?;
            }
            status(
                Command::new("postconf")
                    .arg("-c")
                    .arg(&pf)
                    .args(["-F", "*/*/chroot = n"]),
            )?;
            status(
                Command::new("postconf")
                    .arg("-c")
                    .arg(&pf)
                    .args(["-M#", "smtp/inet"]),
            )?;
            age(&pf.join("main.cf"))?;
            age(&pf.join("master.cf"))?;
            roots.push(root);
        }
        let (stopped, live) = (&roots[0], &roots[1]);
        let live_pf = live.postfix_dir();
        status(Command::new("postfix").arg("-c").arg(&live_pf).arg("start"))?;
        let _running = LivePostfix(live_pf.clone());
        status(
            Command::new("postfix")
                .arg("-c")
                .arg(&live_pf)
                .arg("status"),
        )?;
        let bin = self.bin_str.as_str();
        let s1 = path_str(&stopped.args("P1"))?;
        let s2 = path_str(&stopped.args("P2"))?;
        let l1 = path_str(&live.args("P1"))?;
        let l2 = path_str(&live.args("P2"))?;
        self.pair_row(PairRow {
            label: "main.cf change, Postfix running, vs the same with it stopped".into(),
            runs: self.goal_live_runs,
            expect: true,
            floor_expect: Some(true),
            goal: json!({"diff_ms": 300}),
            rss_goal_kib: None,
            floor: vec![vec![bin, &s1], vec![bin, &s2]],
            subject: vec![vec![bin, &l1], vec![bin, &l2]],
        })?;
        let maillog = fs::read_to_string(live.file("instance/log/maillog")).unwrap_or_default();
        eprintln!(
            "bench: live Postfix: {} reloads logged",
            maillog
                .lines()
                .filter(|l| l.contains("reload -- version"))
                .count()
        );
        Ok(())
    }

    fn print_tables(&self) -> Result<()> {
        let cpu = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let quiet = |cmd: &mut Command| -> Option<String> {
            let out = cmd
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let git = |args: &[&str]| {
            // GIT_OPTIONAL_LOCKS=0: `git status` must not refresh the index.
            quiet(
                Command::new("git")
                    .arg("-C")
                    .arg(&self.repo)
                    .args(args)
                    .env("GIT_OPTIONAL_LOCKS", "0"),
            )
        };
        let mut rev = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
        if git(&[
            "status",
            "--porcelain",
            "--",
            "src",
            "Cargo.toml",
            "Cargo.lock",
            "templates",
        ])
        .is_some_and(|s| !s.is_empty())
        {
            rev.push_str("+dirty");
        }
        if std::env::var_os("BENCH_BIN").is_some() {
            rev = "unknown (BENCH_BIN)".into();
        }
        let nproc = quiet(&mut Command::new("nproc")).unwrap_or_else(|| "?".into());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        let postfix = quiet(Command::new("postconf").args(["-d", "-h", "mail_version"]))
            .unwrap_or_else(|| "?".into());
        let mariadb = quiet(Command::new("mariadbd").arg("--version"))
            .and_then(|v| {
                v.split_once("Ver ")
                    .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
            })
            .unwrap_or_else(|| "?".into());
        println!(
            "machine: nproc={nproc}, cpu={cpu}, kernel={kernel}, postfix={postfix}, \
             mariadb={mariadb}, commit={rev}, binary: {}",
            self.build
        );
        println!(
            "timer: Rust Instant around GNU time; peak RSS: GNU time %M (the binary and the \
             postmap/postfix it runs; not the MariaDB server)"
        );
        println!(
            "{:<8} {:<34} {:>7} {:>4} {:>9} {:>9} {:>13}",
            "store", "operation", "rows", "runs", "mean ms", "min ms", "peak RSS KiB"
        );
        let mut groups: Vec<(&str, &str, Vec<&Timed>)> = Vec::new();
        for t in &self.timed {
            match groups
                .iter_mut()
                .find(|(s, o, _)| *s == t.store && *o == t.op)
            {
                Some(group) => group.2.push(t),
                None => groups.push((&t.store, t.op, vec![t])),
            }
        }
        for (store, op, runs) in &groups {
            let mean = runs.iter().map(|t| t.ms).sum::<f64>() / runs.len() as f64;
            let min = runs.iter().map(|t| t.ms).fold(f64::INFINITY, f64::min);
            let rss = runs.iter().map(|t| t.rss_kib).max().unwrap_or(0);
            println!(
                "{store:<8} {op:<34} {:>7} {:>4} {mean:>9.1} {min:>9.1} {rss:>13}",
                self.rows,
                runs.len()
            );
        }
        println!();
        println!(
            "goals (issue 13: SQLite rows; issue 19 item 5: MariaDB rows; module run vs its \
             floor command, alternating, median of each):"
        );
        io::stdout().flush()?;
        let mut table = Command::new("python3");
        table
            .arg(self.repo.join("bench/pair.py"))
            .arg("table")
            .arg(&self.pairs)
            .stdin(Stdio::null());
        let code = table
            .status()
            .with_context(|| format!("running {table:?}"))?;
        ensure!(code.success(), "{table:?}: {code}");
        println!(
            "total bench time: {} ms (including the build)",
            self.start.elapsed().as_millis()
        );
        Ok(())
    }
}

/// The binary to measure, as bench/lib.sh's build_release: BENCH_BIN=PATH as is, otherwise
/// `cargo build --profile NAME --locked` (BENCH_PROFILE, default release) and its output.
fn build_release(repo: &Path) -> Result<(PathBuf, String)> {
    if let Some(bin) = std::env::var_os("BENCH_BIN") {
        let bin = PathBuf::from(bin);
        ensure!(
            fs::metadata(&bin).is_ok_and(|m| is_executable(&m)),
            "BENCH_BIN={} is not executable",
            bin.display()
        );
        let build = format!("BENCH_BIN={}", bin.display());
        return Ok((bin, build));
    }
    let profile = env_or("BENCH_PROFILE", "release");
    eprintln!("bench: building the {profile} profile");
    // The cargo running this bench (`cargo bench` sets CARGO).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--profile", &profile, "--locked"])
        .current_dir(repo);
    // Without the variables cargo set for this bench (CARGO_PKG_NAME, CARGO_MANIFEST_DIR,
    // OUT_DIR …): build scripts that watch them (ring's `rerun-if-env-changed`) would see them
    // change and rebuild here, and again in the next plain `cargo build --release`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            build.env_remove(name.as_ref());
        }
    }
    status(&mut build)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "target".into());
    let target_dir = repo.join(target_dir); // an absolute CARGO_TARGET_DIR stays as it is
    let dir = if profile == "dev" { "debug" } else { &profile };
    let bin = target_dir.join(dir).join("hermes-relayhost");
    ensure!(bin.is_file(), "no binary at {}", bin.display());
    Ok((bin, format!("cargo profile {profile}")))
}
