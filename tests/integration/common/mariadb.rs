//! A private MariaDB server for the tests of one test binary: installed into a temp dir,
//! listening on a loopback port and a socket, stopped by a watchdog when the test process
//! exits (statics are never dropped, so the server cannot be stopped from Rust).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

pub struct Server {
    pub socket: PathBuf,
    pub port: u16,
    /// Kept, never waited for: it ends after this process does.
    _watchdog: std::process::Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

pub const SCHEMA: &str = include_str!("../data/hermes-schema.mysql.sql");

pub fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

fn start() -> Server {
    let dir = tempfile::Builder::new()
        .prefix("hermes-mariadb.")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    let socket = dir.join("mysqld.sock");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ])
        .output()
        .expect("mariadb-install-db (install mariadb-server: scripts/install-test-deps.sh)");
    assert!(out.status.success(), "mariadb-install-db: {out:?}");
    let daemon = format!(
        "mariadbd --no-defaults --datadir={data} --socket={socket} --port={port} \
         --bind-address=127.0.0.1 --user=root --skip-log-bin --tmpdir={dir} \
         --pid-file={dir}/mysqld.pid --log-error={dir}/error.log",
        data = data.display(),
        socket = socket.display(),
        dir = dir.display(),
    );
    // The watchdog outlives nothing: it stops the server once this test process is gone. Its
    // own process group keeps a Ctrl-C at the terminal (sent to the whole foreground group)
    // from ending the shell, which may exit on SIGINT, while the server it started with `&`
    // ignores SIGINT and would be left running (bench/scale.rs shares this file).
    let watchdog = Command::new("sh")
        .process_group(0)
        .arg("-c")
        .arg(format!(
            "{daemon} & pid=$!; while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
             kill $pid; wait $pid; rm -rf {dir}",
            parent = std::process::id(),
            dir = dir.display(),
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !socket.exists()
        || Command::new("mariadb-admin")
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-uroot", "ping"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "MariaDB did not start: see {}/error.log",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        socket,
        port,
        _watchdog: watchdog,
    }
}

impl Server {
    pub fn conn(&self, database: Option<&str>) -> mysql::Conn {
        let opts = mysql::OptsBuilder::new()
            .socket(Some(self.socket.to_string_lossy()))
            .prefer_socket(true)
            .user(Some("root"))
            .db_name(database);
        mysql::Conn::new(opts).unwrap()
    }

    /// A fresh database with Hermes's schema and seed rows; returns its name.
    pub fn create_hermes_db(&self) -> String {
        let name = format!(
            "hermes_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = self.conn(None);
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET latin1"))
            .unwrap();
        let mut conn = self.conn(Some(&name));
        conn.query_drop(SCHEMA).unwrap();
        name
    }

    /// The URL the module gets: socket form.
    pub fn socket_url(&self, database: &str) -> String {
        format!(
            "mysql://root@localhost/{database}?socket={}",
            self.socket.display()
        )
    }
}
