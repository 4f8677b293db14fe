//! Shared fixture: a temp Hermes root made by `init`, module runs through the args-file
//! protocol, and readers for rows and files, so each test reads as the scenario it checks.

pub mod mariadb;

use std::collections::BTreeMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use assert_cmd::cargo::cargo_bin_cmd;
use hermes_relayhost::crypto::Key;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const PASSWORD: &str = "p@ss:w0rd with spaces";

/// Hermes's seed ids of the Relay Host page's rows: each directive's parent and value row.
pub mod ids {
    pub const RELAYHOST: i64 = 202;
    pub const RELAYHOST_VALUE: i64 = 203;
    pub const SASL_AUTH: i64 = 204;
    pub const SASL_AUTH_VALUE: i64 = 205;
    pub const PASSWORD_MAPS: i64 = 206;
    pub const PASSWORD_MAPS_VALUE: i64 = 207;
    pub const TLS_LEVEL: i64 = 368;
    pub const TLS_LEVEL_VALUE: i64 = 369;
}

/// Checks on a module result, so a test reads as what it expects.
pub trait Outcome {
    fn result(&self) -> &Value;

    /// The run succeeded (changed or not); returns the result for further checks.
    fn assert_ok(&self) -> &Value {
        let out = self.result();
        assert_eq!(out["failed"], false, "{out}");
        out
    }

    /// The run failed with error code `code` and reports no change.
    fn assert_failed(&self, code: &str) -> &Value {
        let out = self.result();
        assert_eq!(out["failed"], true, "{out}");
        assert_eq!(out["changed"], false, "{out}");
        assert_eq!(out["error"]["code"], code, "{out}");
        out
    }
}

impl Outcome for Value {
    fn result(&self) -> &Value {
        self
    }
}

impl Outcome for Run {
    fn result(&self) -> &Value {
        &self.json
    }

    /// Also: module mode exits 0 on failure, since Ansible reads `failed`.
    fn assert_failed(&self, code: &str) -> &Value {
        assert_eq!(self.code, 0, "module mode exits 0 even on failure");
        let out = &self.json;
        assert_eq!(out["failed"], true, "{out}");
        assert_eq!(out["changed"], false, "{out}");
        assert_eq!(out["error"]["code"], code, "{out}");
        out
    }
}

/// strace's prefix for a full disk at writeback: every fsync of the binary fails with ENOSPC.
pub const DISK_FULL: [&str; 8] = [
    "strace",
    "-f",
    "-o",
    "/dev/null",
    "-e",
    "trace=fsync,fdatasync",
    "-e",
    "inject=fsync,fdatasync:error=ENOSPC",
];

/// What check mode and the real run must agree on (README "Check mode never lies").
pub fn verdict(out: &Value) -> Value {
    json!({
        "failed": out["failed"],
        "code": out["error"]["code"],
        "changed": out["changed"],
        "changes": out["changes"],
    })
}

/// The doctor's check `name` in a result (`checks`: `{name, ok, detail}`).
pub fn check<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {out}"))
}

/// `text` shows none of `secrets`, not even partly: a secret of 10 or more characters must
/// not show its first or second half either.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        let mut parts = vec![*secret];
        if secret.chars().count() >= 10 {
            let half = secret
                .char_indices()
                .nth(secret.chars().count() / 2)
                .unwrap()
                .0;
            parts.extend([&secret[..half], &secret[half..]]);
        }
        for part in parts {
            assert!(
                !text.contains(part),
                "{part:?} (of a secret) shows in: {text}"
            );
        }
    }
}

/// Every file under `dir` that holds `secret` whole (the map is binary: searched as bytes),
/// sorted.
pub fn files_holding(dir: &Path, secret: &str) -> Vec<PathBuf> {
    let whole = |bytes: &[u8]| contains(bytes, secret.as_bytes()).then_some(());
    files_with(dir, &whole)
        .into_iter()
        .map(|(path, ())| path)
        .collect()
}

/// Every file under `dir` that holds any 6 characters of any of `secrets` (see [`fragments`]),
/// as `PATH: [PIECES]`, sorted.
pub fn files_holding_fragments(dir: &Path, secrets: &[&str]) -> Vec<String> {
    let pieces = |bytes: &[u8]| Some(fragments(bytes, secrets)).filter(|f| !f.is_empty());
    files_with(dir, &pieces)
        .into_iter()
        .map(|(path, found)| format!("{}: {found:?}", path.display()))
        .collect()
}

/// Each 6-character piece of each of `secrets` found in `hay`: a partial leak counts.
pub fn fragments(hay: &[u8], secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in secrets {
        for piece in secret.as_bytes().windows(6) {
            if contains(hay, piece) {
                found.push(String::from_utf8_lossy(piece).into_owned());
            }
        }
    }
    found
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir` (links not followed) in which `find` finds something, with
/// what it found, sorted by path.
fn files_with<T>(dir: &Path, find: &dyn Fn(&[u8]) -> Option<T>) -> Vec<(PathBuf, T)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.extend(files_with(&path, find));
        } else if meta.is_file()
            && let Some(what) = find(&fs::read(&path).unwrap())
        {
            found.push((path, what));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The temp files and dirs our own writes left in `dir` (a Postfix dir), by the names the
/// binary gives them ([`hermes_relayhost::files::TEMP_PREFIXES`]), sorted: a run that finished
/// leaves none.
pub fn leftovers(dir: &Path) -> Vec<String> {
    let mut left: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            hermes_relayhost::files::TEMP_PREFIXES
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    left.sort();
    left
}

pub struct Hermes {
    pub dir: TempDir,
    pub root: PathBuf,
    /// Args every run gets: root, local Postfix tools, template vars (and the database URL).
    pub base: Value,
    pub db: Db,
}

/// The store under test, reachable from the test itself.
pub enum Db {
    Sqlite(PathBuf),
    Mariadb(String),
}

impl Db {
    /// Every row of a query, each value as text (numbers normalized, so SQLite's REAL 1.0 and
    /// MariaDB's DECIMAL 1.000 read the same).
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            Db::Sqlite(path) => {
                let conn = Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let n = stmt.column_count();
                let mut q = stmt.query([]).unwrap();
                let mut out = Vec::new();
                while let Some(r) = q.next().unwrap() {
                    out.push(
                        (0..n)
                            .map(|i| match r.get_ref(i).unwrap() {
                                ValueRef::Null => None,
                                ValueRef::Integer(v) => Some(v.to_string()),
                                ValueRef::Real(v) => Some(v.to_string()),
                                ValueRef::Text(t) | ValueRef::Blob(t) => {
                                    Some(String::from_utf8_lossy(t).into_owned())
                                }
                            })
                            .map(normalize)
                            .collect(),
                    );
                }
                out
            }
            Db::Mariadb(name) => {
                use mysql::prelude::Queryable;
                let mut conn = mariadb::server().conn(Some(name));
                text_rows(conn.query(sql).unwrap())
                    .into_iter()
                    .map(|row| row.into_iter().map(normalize).collect())
                    .collect()
            }
        }
    }

    pub fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite(path) => Connection::open(path).unwrap().execute_batch(sql).unwrap(),
            Db::Mariadb(name) => {
                use mysql::prelude::Queryable;
                mariadb::server().conn(Some(name)).query_drop(sql).unwrap()
            }
        }
    }

    fn has_table(&self, table: &str) -> bool {
        let sql = match self {
            Db::Sqlite(_) => format!("SELECT name FROM sqlite_master WHERE name = '{table}'"),
            Db::Mariadb(_) => format!("SHOW TABLES LIKE '{table}'"),
        };
        !self.rows(&sql).is_empty()
    }

    /// The three tables (those that exist), row by row, as comparable text.
    pub fn dump(&self) -> Vec<String> {
        let mut out = Vec::new();
        // A plain Postfix host has no database: opening one would create the file.
        if let Db::Sqlite(path) = self
            && !path.exists()
        {
            return out;
        }
        for (table, cols) in [
            (
                "parameters",
                "id, parameter, name, module, parent, parent_name, child, order1, enabled, applied, action",
            ),
            ("system_settings", "parameter, value"),
            (
                "transport",
                "id, domain, destination, port, authentication, authentication_username, authentication_password",
            ),
        ] {
            if !self.has_table(table) {
                continue;
            }
            for row in self.rows(&format!("SELECT {cols} FROM {table} ORDER BY id")) {
                out.push(format!("{table}: {row:?}"));
            }
        }
        out
    }
}

/// MariaDB rows with each value as text (`NULL` as `None`), as the SQLite side reads them.
pub fn text_rows(rows: Vec<mysql::Row>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| {
            row.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql::Value::NULL => None,
                    mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    other => Some(other.as_sql(true).trim_matches('\'').to_string()),
                })
                .collect()
        })
        .collect()
}

fn normalize(v: Option<String>) -> Option<String> {
    v.map(|s| match s.parse::<f64>() {
        Ok(f)
            if s.contains('.')
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
        {
            f.to_string()
        }
        _ => s,
    })
}

/// A `parameters` row's editable state.
#[derive(Debug, PartialEq, Clone)]
pub struct Row {
    pub parameter: Option<String>,
    pub name: Option<String>,
    pub enabled: i64,
    pub applied: i64,
    pub action: String,
}

impl Row {
    /// The SELECT whose result [`Row::of`] reads: parameters row `id`.
    pub fn select(id: i64) -> String {
        format!("SELECT parameter, name, enabled, applied, action FROM parameters WHERE id = {id}")
    }

    pub fn of(rows: &[Vec<Option<String>>]) -> Row {
        let r = &rows[0];
        let int = |v: &Option<String>| v.as_deref().unwrap().parse().unwrap();
        Row {
            parameter: r[0].clone(),
            name: r[1].clone(),
            enabled: int(&r[2]),
            applied: int(&r[3]),
            action: r[4].clone().unwrap(),
        }
    }
}

pub fn row(parameter: &str, name: Option<&str>, enabled: i64) -> Row {
    Row {
        parameter: Some(parameter.to_string()),
        name: name.map(str::to_string),
        enabled,
        applied: 1,
        action: "NONE".to_string(),
    }
}

/// Output of one binary run.
pub struct Run {
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// Neither stdout nor stderr shows any of `secrets`, not even partly.
    pub fn assert_no_secret(&self, secrets: &[&str]) {
        assert_no_secret(&self.stdout, secrets);
        assert_no_secret(&self.stderr, secrets);
    }
}

impl Hermes {
    /// A root made by `init`, on the embedded SQLite store.
    pub fn new() -> Hermes {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("root");
        let out = cargo_bin_cmd!("hermes-relayhost")
            .args(["init", "--root"])
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success(), "init failed: {out:?}");
        let base: Value = serde_json::from_slice(&out.stdout).unwrap();
        let db = Db::Sqlite(root.join("hermes.sqlite"));
        Hermes {
            dir,
            root,
            base,
            db,
        }
    }

    /// A fixture over a root someone else made (e.g. an example's setup script), on SQLite.
    pub fn at(root: PathBuf) -> Hermes {
        Hermes {
            dir: TempDir::new().unwrap(),
            db: Db::Sqlite(root.join("hermes.sqlite")),
            root,
            base: json!({}),
        }
    }

    /// A plain Postfix host (`host_type: postfix`, no database, key or template) whose main.cf
    /// is `tests/integration/data/plain/<fixture>.main.cf` (a stock file of Debian or of a
    /// role), with the repo's master.cf. Paths outside the root that the fixture names and a
    /// test host lacks (`/etc/mailname`) point at a copy inside the root.
    pub fn plain(fixture: &str) -> Hermes {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("root");
        let conf = root.join("etc/postfix");
        fs::create_dir_all(&conf).unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = fs::read_to_string(
            manifest.join(format!("tests/integration/data/plain/{fixture}.main.cf")),
        )
        .unwrap();
        let mailname = root.join("etc/mailname");
        fs::write(&mailname, "mail.example.test\n").unwrap();
        let text = text.replace("/etc/mailname", &mailname.display().to_string());
        fs::write(conf.join("main.cf"), text).unwrap();
        fs::copy(manifest.join("templates/master.cf"), conf.join("master.cf")).unwrap();
        Hermes {
            base: json!({"host_type": "postfix", "root": root}),
            db: Db::Sqlite(root.join("no-database")),
            root,
            dir,
        }
    }

    /// The same root, but the rows in a fresh database of the private MariaDB server loaded
    /// with Hermes's own schema.sql and seed rows.
    pub fn mariadb() -> Hermes {
        let mut h = Hermes::new();
        fs::remove_file(h.root.join("hermes.sqlite")).unwrap();
        // What `init` recorded of the SQLite rows it wrote the files from.
        fs::remove_file(h.postfix_dir().join(".hermes-relayhost.verified")).unwrap();
        let server = mariadb::server();
        let name = server.create_hermes_db();
        h.base["database"] = json!(server.socket_url(&name));
        h.db = Db::Mariadb(name);
        h
    }

    pub fn postfix_dir(&self) -> PathBuf {
        self.root.join("etc/postfix")
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("hermes.sqlite")
    }

    pub fn key(&self) -> Key {
        Key::load(&self.root.join("opt/hermes/keys/hermes.key")).unwrap()
    }

    /// The base args merged with `extra` (a JSON object).
    pub fn args(&self, extra: Value) -> Value {
        let mut args = self.base.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    }

    /// Runs module mode (`hermes-relayhost ARGS.json`) with the base args plus `extra`.
    pub fn run(&self, extra: Value) -> Value {
        self.run_raw(&self.args(extra)).json
    }

    /// Module mode with exactly these args.
    pub fn run_raw(&self, args: &Value) -> Run {
        let file = self.dir.path().join("args.json");
        fs::write(&file, serde_json::to_vec(args).unwrap()).unwrap();
        let out = cargo_bin_cmd!("hermes-relayhost")
            .arg(&file)
            .output()
            .unwrap();
        fs::remove_file(&file).unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let json = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"));
        Run {
            json,
            stdout,
            stderr: String::from_utf8(out.stderr).unwrap(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Runs the binary as Ansible runs `hermes_seg.relay.relay_host_info` (module mode, the
    /// module name in `_ansible_module_name`) with the base args plus `extra`.
    pub fn run_info(&self, extra: Value) -> Run {
        let mut args = self.args(extra);
        args["_ansible_module_name"] = json!("hermes_seg.relay.relay_host_info");
        self.run_raw(&args)
    }

    pub fn param(&self, id: i64) -> Row {
        Row::of(&self.db.rows(&Row::select(id)))
    }

    /// A `transport` row (the Domains page's per-domain relay) with these credentials,
    /// encrypted with the root's key as Hermes stores them; returns its id.
    pub fn add_transport(
        &self,
        domain: &str,
        destination: &str,
        port: Option<&str>,
        authentication: &str,
        username: &str,
        password: &str,
    ) -> i64 {
        let (user, pass) = (self.encrypt(username), self.encrypt(password));
        self.add_transport_stored(
            domain,
            destination,
            port,
            authentication,
            Some(&user),
            Some(&pass),
        )
    }

    /// A `transport` row with the credential columns exactly as given (a value the key cannot
    /// read, a missing one); returns its id.
    pub fn add_transport_stored(
        &self,
        domain: &str,
        destination: &str,
        port: Option<&str>,
        authentication: &str,
        username_cipher: Option<&str>,
        password_cipher: Option<&str>,
    ) -> i64 {
        let sql = |v: Option<&str>| v.map_or("NULL".to_string(), |v| format!("'{v}'"));
        self.sql(&format!(
            "INSERT INTO transport (domain, destination, port, authentication, \
             authentication_username, authentication_password) \
             VALUES ('{domain}', '{destination}', {}, '{authentication}', {}, {})",
            sql(port),
            sql(username_cipher),
            sql(password_cipher)
        ));
        self.db.rows("SELECT MAX(id) FROM transport")[0][0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Hermes's legacy form: the plaintext `user:pass` pair in the password_maps parent's
    /// `name`, with SASL switched on and no encrypted credentials stored.
    pub fn store_legacy_pair(&self, pair: &str) {
        self.sql(&format!(
            "UPDATE parameters SET name = '{pair}' WHERE id = {maps}; \
             UPDATE parameters SET enabled = 1 WHERE id IN ({auth}, {auth_value}, {maps}, {maps_value}); \
             UPDATE parameters SET parameter = 'yes' WHERE id = {auth_value};",
            maps = ids::PASSWORD_MAPS,
            maps_value = ids::PASSWORD_MAPS_VALUE,
            auth = ids::SASL_AUTH,
            auth_value = ids::SASL_AUTH_VALUE,
        ));
    }

    /// Sets the password_maps value row, e.g. to `lmdb:/etc/postfix/sasl_passwd`.
    pub fn set_password_map(&self, map: &str) {
        self.sql(&format!(
            "UPDATE parameters SET parameter = '{map}' WHERE id = {}",
            ids::PASSWORD_MAPS_VALUE
        ));
    }

    pub fn setting(&self, parameter: &str) -> Option<String> {
        self.db
            .rows(&format!(
                "SELECT value FROM system_settings WHERE parameter = '{parameter}'"
            ))
            .first()
            .map(|r| r[0].clone().unwrap_or_default())
    }

    /// A credential as the Hermes UI would read it back.
    pub fn decrypted(&self, parameter: &str) -> String {
        let stored = self.setting(parameter).unwrap();
        self.key()
            .decrypt(&stored, parameter)
            .unwrap()
            .expose_secret()
            .to_string()
    }

    /// A stored value decrypted by `openssl enc -d -aes-256-ecb` with the root's current key:
    /// proof that what we write is Hermes's format, independent of our own crypto code.
    pub fn openssl_decrypt(&self, stored: &str) -> String {
        use base64::Engine;
        let key = fs::read_to_string(self.root.join("opt/hermes/keys/hermes.key")).unwrap();
        let key_hex: String = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf %s '{stored}' | base64 -d | openssl enc -d -aes-256-ecb -K {key_hex}"
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn encrypt(&self, plain: &str) -> String {
        self.key()
            .encrypt(&SecretString::from(plain.to_string()))
            .unwrap()
    }

    pub fn file(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.postfix_dir().join(name)).ok()
    }

    pub fn mode(&self, name: &str) -> u32 {
        fs::metadata(self.postfix_dir().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    /// Looks a key up in the built map with the real postmap.
    pub fn postmap_query(&self, key: &str) -> Option<String> {
        let dir = self.postfix_dir();
        let out = std::process::Command::new("postmap")
            .arg("-c")
            .arg(&dir)
            .arg("-q")
            .arg(key)
            .arg(format!("hash:{}", dir.join("sasl_passwd").display()))
            .output()
            .unwrap();
        out.status.success().then(|| {
            String::from_utf8(out.stdout)
                .unwrap()
                .trim_end()
                .to_string()
        })
    }

    /// Everything a run could touch: every file under the root (content, mode, mtime) and
    /// every row of the three tables.
    pub fn snapshot(&self) -> Snapshot {
        let mut files = BTreeMap::new();
        walk(&self.root, &mut files);
        let rows = self.db.dump();
        Snapshot { files, rows }
    }

    pub fn sql(&self, sql: &str) {
        self.db.exec(sql);
    }

    /// A `postfix_exec` wrapper that runs the real commands but fails the first `tool` call
    /// (`postmap`, `reload`, …): the one fault real Postfix will not produce on demand. Until
    /// then it answers `status` with "running", so the reload path is taken; afterwards the
    /// real `postfix status` answers (not running), as after a crash of the new config.
    pub fn failing_exec(&self, tool: &str) -> Value {
        self.fault_exec(
            tool,
            &format!("echo \"injected {tool} failure\" >&2; exit 75"),
            true,
        )
    }

    /// A `postfix_exec` wrapper that runs the shell `action` the first time an argument is
    /// `step`, then the real command (unless `action` exits). With `pretend_running`, it
    /// answers `status` with "running" until then.
    pub fn fault_exec(&self, step: &str, action: &str, pretend_running: bool) -> Value {
        let path = self.dir.path().join(format!("fault-{step}.sh"));
        let marker = self.dir.path().join(format!("fault-{step}.done"));
        let marker = marker.display();
        let pretend = if pretend_running {
            "    [ \"$a\" = status ] && exit 0\n"
        } else {
            ""
        };
        fs::write(
            &path,
            format!(
                "#!/bin/sh\n\
                 if [ ! -e {marker} ]; then\n\
                 \x20 for a in \"$@\"; do\n\
                 \x20   if [ \"$a\" = {step} ]; then\n\
                 \x20     touch {marker}\n\
                 \x20     {action}\n\
                 \x20     break\n\
                 \x20   fi\n\
                 {pretend}\
                 \x20 done\n\
                 fi\n\
                 exec \"$@\"\n"
            ),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        json!([path])
    }
}

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// path → (content hash, length, mode, mtime)
    pub files: BTreeMap<PathBuf, (u64, usize, u32, SystemTime)>,
    pub rows: Vec<String>,
}

/// What a snapshot keeps of a file: content hash, length, mode, mtime.
pub type FileState = (u64, usize, u32, SystemTime);

/// Every file under `dir` (a symlink by its target's name, not followed).
pub fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, FileState>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            walk(&path, out);
        } else {
            let bytes = if meta.is_symlink() {
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                fs::read(&path).unwrap()
            };
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            out.insert(
                path.clone(),
                (
                    hasher.finish(),
                    bytes.len(),
                    meta.permissions().mode(),
                    meta.modified().unwrap(),
                ),
            );
        }
    }
}

/// The args of a typical authenticated relay.
pub fn relay() -> Value {
    json!({
        "host": "smtp.example.com",
        "port": 587,
        "username": "relayuser",
        "password": PASSWORD,
    })
}
