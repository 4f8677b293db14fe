//! Hermes's own store: MariaDB, MyISAM tables, no transactions. Atomicity comes from our side:
//! the three tables are locked (`LOCK TABLES … WRITE`) from the first read to the last write,
//! every write's before-image is kept, and a rollback writes those back — over a fresh
//! connection if the first one died.
//!
//! The store's version: what a verified record vouches for is the `transport` rows, which a
//! run that trusts it does not read, so they get a signal that costs no scan: MyISAM's
//! `UPDATE_TIME` (the data file's mtime, which every row write moves), with `CREATE_TIME` (a
//! table dropped and created again, a dump restored), `TABLE_ROWS`, `DATA_LENGTH`,
//! `AUTO_INCREMENT` and the live checksum when the table keeps one, read from
//! `information_schema` under the run's `LOCK TABLES`. The mtime has whole seconds, so a
//! version whose mtime is not [`RACY_SECONDS`] behind the server's clock is no version (as
//! git's racy index): a write later in that same second could leave every field as it was.
//! `parameters` and `system_settings`, which every run reads anyway, are named by `CHECKSUM
//! TABLE` (a few hundred rows): it does not care when they were written, so a run's own writes
//! to them leave a version the next run finds. What this cannot see: a server clock stepped
//! back by more than the window, and data files copied in by hand with the mtime of the
//! recorded second.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::model::{Change, Snapshot, TransportCreds};
use crate::store::sql::{self, Dialect, INSERT_PARENT, INSERT_VALUE, Side, SqlRef, SqlValue};
use crate::store::{Backend, Location, Open, Scope, Store};

/// `mysql://USER[:PW]@HOST[:PORT]/DB` or `mysql://USER@localhost/DB?socket=PATH` (`mariadb://`
/// too).
pub const BACKEND: Backend = Backend {
    usage: "mysql://USER[:PASSWORD]@HOST[:PORT]/DB",
    parse,
};

fn parse(url: &str, options_file: Option<&Path>) -> Option<Result<Location>> {
    let (scheme, _) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("mysql") && !scheme.eq_ignore_ascii_case("mariadb") {
        return None;
    }
    Some(MariadbConfig::from_url(url, options_file).map(|c| Location(Arc::new(c))))
}

impl Open for MariadbConfig {
    fn open(&self, writable: bool) -> Result<Box<dyn Store>> {
        Ok(Box::new(MariaStore::open(self, writable)?))
    }
}

/// Connection settings from the `database` URL and the option file. `Debug` hides the password.
#[derive(Clone)]
pub struct MariadbConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub socket: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub database: String,
}

impl std::fmt::Debug for MariadbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariadbConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("user", &self.user)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl MariadbConfig {
    /// The URL's parts; `options_file` fills what the URL leaves out.
    fn from_url(url: &str, options_file: Option<&Path>) -> Result<MariadbConfig> {
        let bad =
            |why: &str| Error::option("database", format!("{why} (expected {})", BACKEND.usage));
        // Never echo the URL: it may hold the DB password.
        let parsed = url::Url::parse(url).map_err(|_| bad("not a valid URL"))?;
        if parsed.scheme() != "mysql" && parsed.scheme() != "mariadb" {
            return Err(bad("unsupported scheme"));
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let database = decode(parsed.path().trim_start_matches('/'));
        if database.is_empty() || database.contains('/') {
            return Err(bad("the URL must name one database"));
        }
        let mut config = MariadbConfig {
            host: parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .map(str::to_string),
            port: parsed.port(),
            socket: parsed
                .query_pairs()
                .find(|(k, _)| k == "socket")
                .map(|(_, v)| v.into_owned()),
            user: Some(decode(parsed.username())).filter(|u| !u.is_empty()),
            password: parsed.password().map(|p| SecretString::from(decode(p))),
            database,
        };
        if let Some((key, _)) = parsed.query_pairs().find(|(k, _)| k != "socket") {
            return Err(bad(&format!("unknown URL parameter '{key}'")));
        }
        if let Some(file) = options_file {
            fill_from_option_file(&mut config, file)?;
        }
        Ok(config)
    }

    /// Where we connect, for messages (never with the password).
    fn target(&self) -> String {
        let who = self.user.as_deref().unwrap_or("(default user)");
        match (&self.socket, &self.host) {
            (Some(socket), _) => format!("{who}@{}?socket={socket}", self.database),
            (None, host) => format!(
                "{who}@{}:{}/{}",
                host.as_deref().unwrap_or("localhost"),
                self.port.unwrap_or(3306),
                self.database
            ),
        }
    }

    fn opts(&self) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some(
                self.host.clone().unwrap_or_else(|| "localhost".into()),
            ))
            .tcp_port(self.port.unwrap_or(3306))
            .socket(self.socket.clone())
            // Never switch a connection to the server's socket: a socket URL is one already,
            // and finding the socket costs every run a query.
            .prefer_socket(false)
            .user(self.user.clone())
            .pass(
                self.password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string()),
            )
            .db_name(Some(self.database.clone()))
            // The server enforces its own limit; asking for it costs every run a query.
            .max_allowed_packet(Some(1 << 30))
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .read_timeout(Some(Duration::from_secs(60)))
            .write_timeout(Some(Duration::from_secs(60)))
    }
}

/// Fills what the URL left out from the `[client]` group of a MySQL option file, as operators
/// keep them (`~/.my.cnf` style), so the DB password need not appear in a playbook.
pub fn fill_from_option_file(config: &mut MariadbConfig, path: &Path) -> Result<()> {
    let bad = |why: String| {
        Error::InvalidArgs(format!("database_options_file {}: {why}", path.display()))
    };
    // Read by us, bounded and regular-file only (a FIFO or /dev/zero must not block or fill
    // memory), then parsed from memory.
    let bytes = crate::files::read_bounded(path, crate::files::limits::OPTIONS)
        .map_err(|e| match e {
            e @ (Error::PermissionDenied { .. } | Error::UnsafeFile { .. }) => e,
            e => bad(e.to_string()),
        })?
        .ok_or_else(|| bad("No such file or directory".to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".to_string()))?;
    let ini = ini::Ini::load_from_str_opt(
        text,
        ini::ParseOption {
            enabled_quote: true,
            enabled_escape: false,
            ..ini::ParseOption::default()
        },
    )
    .map_err(|p| bad(format!("line {}: not an option file", p.line)))?;
    let Some(client) = ini.section(Some("client")) else {
        return Err(bad("no [client] group".to_string()));
    };
    for (key, value) in client.iter() {
        let value = value.trim().to_string();
        match key.replace('-', "_").as_str() {
            "user" if config.user.is_none() => config.user = Some(value),
            "password" if config.password.is_none() => {
                config.password = Some(SecretString::from(value));
            }
            "host" if config.host.is_none() => config.host = Some(value),
            "socket" if config.socket.is_none() => config.socket = Some(value),
            "port" if config.port.is_none() => {
                config.port = Some(
                    value
                        .parse()
                        .map_err(|_| bad("port is not a number".into()))?,
                );
            }
            _ => {}
        }
    }
    Ok(())
}

pub struct MariaStore {
    config: MariadbConfig,
    conn: Conn,
    locked: bool,
    /// Every change attempted since open, recorded before it is sent: a statement that fails
    /// halfway may have applied part of its rows (MyISAM), and writing a before-image that
    /// was never overwritten is harmless.
    journal: Vec<Change>,
    /// Ids of the rows this run inserted (`NewDirective`), deleted by a rollback.
    inserted: Vec<u64>,
    /// The version read under the lock before any write.
    loaded: Option<Option<String>>,
    /// Once the lock is released: the version taken under it after the last write (`None`
    /// after a rollback).
    committed: Option<Option<String>>,
}

/// utf8mb4, and UTC: the times a version is made of convert to one instant each (no
/// daylight-saving hour twice).
const SESSION: &str = "SET NAMES utf8mb4, time_zone = '+00:00'";
const LOCK_WRITE: &str = "LOCK TABLES parameters WRITE, system_settings WRITE, transport WRITE";
const LOCK_READ: &str = "LOCK TABLES parameters READ, system_settings READ, transport READ";
/// Statements that need every privilege a run's writes and its rollback need, and change
/// nothing (`WHERE 1 = 0`): a user who may read but not write fails here, before any lock or
/// write, in check mode as in the real run (a refused write would otherwise surface only
/// after the first one, with a rollback that is refused too).
const PROBE_WRITE: &str = "\
    UPDATE parameters SET id = id WHERE 1 = 0; DELETE FROM parameters WHERE 1 = 0; \
    INSERT INTO parameters (id) SELECT 0 FROM DUAL WHERE 1 = 0; \
    UPDATE system_settings SET value = value WHERE 1 = 0; \
    DELETE FROM system_settings WHERE 1 = 0; \
    INSERT INTO system_settings (parameter) SELECT '' FROM DUAL WHERE 1 = 0; \
    UPDATE transport SET id = id WHERE 1 = 0; DELETE FROM transport WHERE 1 = 0; \
    INSERT INTO transport (id) SELECT 0 FROM DUAL WHERE 1 = 0";
/// MariaDB's "command denied to user … for table …".
const ER_TABLEACCESS_DENIED: u16 = 1142;

impl MariaStore {
    pub fn open(config: &MariadbConfig, writable: bool) -> Result<MariaStore> {
        let conn = connect(config)?;
        let mut store = MariaStore {
            config: config.clone(),
            conn,
            locked: false,
            journal: Vec::new(),
            inserted: Vec::new(),
            loaded: None,
            committed: None,
        };
        store.lock(writable)?;
        Ok(store)
    }

    /// Sets the session up, checks the user may write, and takes the lock, in one round trip.
    fn lock(&mut self, writable: bool) -> Result<()> {
        let lock = if writable { LOCK_WRITE } else { LOCK_READ };
        query_sets(&mut self.conn, &format!("{SESSION}; {PROBE_WRITE}; {lock}")).map_err(|e| {
            match &e {
                mysql::Error::MySqlError(m) if m.code == ER_TABLEACCESS_DENIED => {
                    Error::Database(format!(
                        "{}: the user may not write the Hermes tables (a run needs SELECT, \
                         INSERT, UPDATE, DELETE and LOCK TABLES on parameters, \
                         system_settings and transport): {}",
                        self.config.target(),
                        m.message
                    ))
                }
                _ => self.db_err(e),
            }
        })?;
        self.locked = true;
        Ok(())
    }

    fn db_err(&self, e: mysql::Error) -> Error {
        db_error(&self.config, e)
    }

    fn unlock(&mut self) -> Result<()> {
        self.conn
            .query_drop("UNLOCK TABLES")
            .map_err(|e| self.db_err(e))?;
        self.locked = false;
        Ok(())
    }

    /// Reads the version now (one round trip); call it only under the lock.
    fn read_version(&mut self) -> Result<Option<String>> {
        let sets = query_sets(&mut self.conn, &format!("{TRANSPORT_VERSION}; {CHECKSUMS}"))
            .map_err(|e| self.db_err(e))?;
        let texts = |rows: &[mysql::Row]| -> Vec<Vec<Option<String>>> {
            rows.iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| row.as_ref(i).and_then(text_of))
                        .collect()
                })
                .collect()
        };
        let [transport, checksums] = sets.as_slice() else {
            return Ok(None);
        };
        let transport = texts(transport);
        Ok(version_of(
            &self.config.database,
            transport.first().map(Vec::as_slice),
            &texts(checksums),
        ))
    }

    fn write_one(
        conn: &mut Conn,
        inserted: &mut Vec<u64>,
        change: &Change,
        side: Side,
    ) -> mysql::Result<()> {
        match change {
            // Inserted rows are deleted by id in `undo`.
            Change::NewDirective { .. } if side == Side::Before => Ok(()),
            Change::NewDirective { name, value } => {
                conn.exec_drop(INSERT_PARENT, (name,))?;
                let parent = conn.last_insert_id();
                inserted.push(parent);
                conn.exec_drop(INSERT_VALUE, (value, parent.to_string(), name))?;
                inserted.push(conn.last_insert_id());
                Ok(())
            }
            other => match sql::statement(other, side) {
                Some((sql, params)) => conn.exec_drop(sql, to_mysql(&params)),
                None => Ok(()),
            },
        }
    }

    /// Writes changes in order; runs of `transport` updates go as multi-row statements, one
    /// round trip per [`TRANSPORT_BATCH`] rows (a key rotation touches every row).
    fn write_all<'a>(
        conn: &mut Conn,
        inserted: &mut Vec<u64>,
        changes: impl Iterator<Item = &'a Change>,
        side: Side,
    ) -> mysql::Result<()> {
        let mut batch: Vec<(i64, &TransportCreds)> = Vec::new();
        for change in changes {
            if let Change::Transport { id, before, after } = change {
                batch.push((*id, if side == Side::Before { before } else { after }));
                if batch.len() == TRANSPORT_BATCH {
                    write_transports(conn, &batch)?;
                    batch.clear();
                }
                continue;
            }
            write_transports(conn, &batch)?;
            batch.clear();
            Self::write_one(conn, inserted, change, side)?;
        }
        write_transports(conn, &batch)
    }

    /// Deletes the rows this run inserted, then writes every before-image, newest first.
    fn undo(&mut self) -> mysql::Result<()> {
        self.conn.exec_batch(
            "DELETE FROM parameters WHERE id = ?",
            self.inserted.iter().map(|id| (id,)),
        )?;
        Self::write_all(
            &mut self.conn,
            &mut Vec::new(),
            self.journal.iter().rev(),
            Side::Before,
        )
    }
}

const TRANSPORT_BATCH: usize = 500;

/// How many whole seconds `transport`'s `UPDATE_TIME` must lie behind the server's clock for
/// a version. `UPDATE_TIME` is the data file's mtime in whole seconds, stamped by the kernel
/// from a coarse clock that may lag the server's `NOW()` by a tick: only once the server's
/// clock is past the mtime's second by more than that lag does every later write get another
/// mtime. One second for the granularity, one for the lag (and a little skew between the
/// server's clock and the data files' storage).
const RACY_SECONDS: i64 = 2;

/// `transport`'s metadata, in the session's time zone (UTC, see [`SESSION`]).
const TRANSPORT_VERSION: &str = "SELECT ENGINE, TABLE_TYPE, CREATE_OPTIONS, \
     UNIX_TIMESTAMP(CREATE_TIME), UNIX_TIMESTAMP(UPDATE_TIME), TABLE_ROWS, DATA_LENGTH, \
     AUTO_INCREMENT, CHECKSUM, UNIX_TIMESTAMP(), @@myisam_use_mmap \
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'transport'";

const CHECKSUMS: &str = "CHECKSUM TABLE parameters, system_settings";

/// The version of the rows (see the module's documentation), from `transport`'s row of
/// [`TRANSPORT_VERSION`] and the rows of [`CHECKSUMS`]. `None` when `transport` is not a
/// plain MyISAM table whose data file's mtime tells (other engines keep no such time, or only
/// in memory; with `myisam_use_mmap` rows are written through a mapping, which moves the mtime
/// only now and then; a partitioned table has one per partition), or when that mtime is too
/// recent to tell.
fn version_of(
    database: &str,
    transport: Option<&[Option<String>]>,
    checksums: &[Vec<Option<String>>],
) -> Option<String> {
    let [
        engine,
        table_type,
        options,
        created,
        updated,
        rows,
        data_length,
        auto_increment,
        checksum,
        now,
        mmap,
    ] = transport?
    else {
        return None;
    };
    let number = |v: &Option<String>| v.as_deref()?.parse::<i64>().ok();
    let (created, updated, now) = (number(created)?, number(updated)?, number(now)?);
    if !engine.as_deref()?.eq_ignore_ascii_case("MyISAM")
        || table_type.as_deref() != Some("BASE TABLE")
        || options
            .as_deref()
            .is_some_and(|o| o.contains("partitioned"))
        || number(mmap) != Some(0)
        || now - updated < RACY_SECONDS
    {
        return None;
    }
    let or_dash = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
    let mut version = format!(
        "mariadb {database} transport {created} {updated} {} {} {} {}",
        or_dash(rows),
        or_dash(data_length),
        or_dash(auto_increment),
        or_dash(checksum)
    );
    let [params, settings] = checksums else {
        return None;
    };
    for row in [params, settings] {
        let [table, checksum] = row.as_slice() else {
            return None;
        };
        version += &format!(" {}={}", table.as_deref()?, checksum.as_deref()?);
    }
    Some(version)
}

/// Updates the credential columns of existing `transport` rows, all in one statement.
fn write_transports(conn: &mut Conn, rows: &[(i64, &TransportCreds)]) -> mysql::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, ?)"; rows.len()].join(", ");
    let sql = format!(
        "INSERT INTO transport (id, authentication, authentication_username, \
         authentication_password) VALUES {values} ON DUPLICATE KEY UPDATE \
         authentication = VALUES(authentication), \
         authentication_username = VALUES(authentication_username), \
         authentication_password = VALUES(authentication_password)"
    );
    let params: Vec<SqlValue> = rows
        .iter()
        .flat_map(|(id, c)| {
            // The shared order is the UPDATE's (creds, then id); this INSERT takes id first.
            let mut values = sql::transport_values(*id, c);
            values.rotate_right(1);
            values
        })
        .collect();
    conn.exec_drop(sql, to_mysql(&params))
}

/// A connection; [`MariaStore::lock`] sets its session up.
fn connect(config: &MariadbConfig) -> Result<Conn> {
    Conn::new(config.opts()).map_err(|e| db_error(config, e))
}

/// Runs `sql`, statements separated by `;`, in one round trip; the rows of each. An error in
/// any statement is returned (the driver's `query_drop` drops those after the first).
fn query_sets(conn: &mut Conn, sql: &str) -> mysql::Result<Vec<Vec<mysql::Row>>> {
    let mut result = conn.query_iter(sql)?;
    let mut sets = Vec::new();
    while let Some(set) = result.iter() {
        sets.push(set.collect::<mysql::Result<Vec<_>>>()?);
    }
    Ok(sets)
}

/// The server's words plus where we connected; the mysql crate never prints the password.
fn db_error(config: &MariadbConfig, e: mysql::Error) -> Error {
    Error::Database(format!("{}: {e}", config.target()))
}

fn to_mysql(params: &[SqlValue]) -> Vec<mysql::Value> {
    params
        .iter()
        .map(|v| match v {
            SqlValue::Null => mysql::Value::NULL,
            SqlValue::Int(i) => mysql::Value::Int(*i),
            SqlValue::Text(s) => mysql::Value::Bytes(s.clone().into_bytes()),
        })
        .collect()
}

/// A column of the text protocol as text.
fn text_of(v: &mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn from_mysql(v: &mysql::Value) -> SqlRef<'_> {
    match v {
        mysql::Value::NULL => SqlRef::Null,
        mysql::Value::Int(i) => SqlRef::Int(*i),
        mysql::Value::UInt(u) => i64::try_from(*u).map_or(SqlRef::Real(*u as f64), SqlRef::Int),
        mysql::Value::Float(f) => SqlRef::Real(f64::from(*f)),
        mysql::Value::Double(f) => SqlRef::Real(*f),
        mysql::Value::Bytes(b) => SqlRef::Text(
            std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b), Cow::Borrowed),
        ),
        other => SqlRef::Text(other.as_sql(true).trim_matches('\'').to_string().into()),
    }
}

/// Hands each row of a result to `each`, its values borrowed from the driver's row.
fn each_row<P: mysql::prelude::Protocol>(
    config: &MariadbConfig,
    rows: mysql::Result<mysql::QueryResult<'_, '_, '_, P>>,
    each: &mut dyn FnMut(&[SqlRef]) -> Result<()>,
) -> Result<()> {
    for row in rows.map_err(|e| db_error(config, e))? {
        let row = row.map_err(|e| db_error(config, e))?.unwrap();
        let values: Vec<SqlRef> = row.iter().map(from_mysql).collect();
        each(&values)?;
    }
    Ok(())
}

impl Dialect for MariaStore {
    const ORDER1_AS_FLOAT: &'static str = "CAST(order1 AS DOUBLE)";
    const PORT_AS_TEXT: &'static str = "port";

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        each: &mut dyn FnMut(&[SqlRef]) -> Result<()>,
    ) -> Result<()> {
        let config = &self.config;
        // Without parameters, the text protocol: one round trip where preparing takes two.
        if params.is_empty() {
            let rows = self.conn.query_iter(sql);
            each_row(config, rows, each)
        } else {
            let rows = self.conn.exec_iter(sql, to_mysql(params));
            each_row(config, rows, each)
        }
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<()> {
        self.conn
            .exec_drop(sql, to_mysql(params))
            .map_err(|e| self.db_err(e))
    }
}

impl Store for MariaStore {
    fn load(&mut self, scope: Scope) -> Result<Snapshot> {
        sql::load(self, scope)
    }

    /// Under the lock: before any write, read once; after writes, read again. After the
    /// commit: the one taken under the lock after the last write.
    fn version(&mut self) -> Result<Option<String>> {
        if let Some(committed) = &self.committed {
            return Ok(committed.clone());
        }
        if !self.locked {
            return Ok(None);
        }
        if !self.journal.is_empty() {
            return self.read_version();
        }
        if self.loaded.is_none() {
            self.loaded = Some(self.read_version()?);
        }
        Ok(self.loaded.clone().flatten())
    }

    fn write(&mut self, changes: &[Change]) -> Result<()> {
        self.journal.extend(changes.iter().cloned());
        Self::write_all(
            &mut self.conn,
            &mut self.inserted,
            changes.iter(),
            Side::After,
        )
        .map_err(|e| self.db_err(e))
    }

    fn commit(&mut self) -> Result<()> {
        // Taken before the lock goes: afterwards another writer may come in. The rows are
        // written either way, so a version that cannot be read only costs the record.
        let version = self.version().ok().flatten();
        self.unlock()?;
        self.committed = Some(version);
        Ok(())
    }

    /// MyISAM cannot roll back: write the before-images. If the connection died (the likely
    /// cause of the failure), reconnect, take the lock again, then restore.
    fn rollback(&mut self) -> Result<bool> {
        self.committed = Some(None);
        if self.journal.is_empty() {
            // Nothing to put back; a dead connection has released its lock already.
            let _ = self.unlock();
            return Ok(false);
        }
        if self.undo().is_err() {
            self.conn = connect(&self.config)?;
            self.lock(true)?;
            self.undo().map_err(|e| self.db_err(e))?;
        }
        self.journal.clear();
        self.inserted.clear();
        self.unlock()?;
        Ok(true)
    }
}

impl Drop for MariaStore {
    fn drop(&mut self) {
        if self.locked {
            let _ = self.conn.query_drop("UNLOCK TABLES");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c =
            MariadbConfig::from_url("mysql://hermes:p%40ss@db.example:3307/hermes", None).unwrap();
        assert_eq!(c.host.as_deref(), Some("db.example"));
        assert_eq!(c.port, Some(3307));
        assert_eq!(c.user.as_deref(), Some("hermes"));
        assert_eq!(c.password.unwrap().expose_secret(), "p@ss");
        assert_eq!(c.database, "hermes");
        let c = MariadbConfig::from_url(
            "mysql://root@localhost/hermes?socket=/run/mysqld/mysqld.sock",
            None,
        )
        .unwrap();
        assert_eq!(c.socket.as_deref(), Some("/run/mysqld/mysqld.sock"));
        assert!(c.password.is_none());
        assert!(parse("sqlite:/x.db", None).is_none());
        assert!(parse("MariaDB://u@h/db", None).is_some_and(|r| r.is_ok()));
    }

    #[test]
    fn a_version_only_from_myisam_metadata_older_than_the_racy_window() {
        let text = |v: &str| (v != "NULL").then(|| v.to_string());
        let meta = |engine: &str, updated: &str, now: i64, mmap: &str| {
            [
                engine,
                "BASE TABLE",
                "",
                "1000",
                updated,
                "5",
                "300",
                "6",
                "NULL",
                &now.to_string(),
                mmap,
            ]
            .map(text)
        };
        let sums =
            [["h.parameters", "11"], ["h.system_settings", "22"]].map(|r| r.map(text).to_vec());
        let of = |t: [Option<String>; 11]| version_of("h", Some(&t), &sums);
        assert_eq!(
            of(meta("MyISAM", "2000", 2000 + RACY_SECONDS, "0")).as_deref(),
            Some("mariadb h transport 1000 2000 5 300 6 - h.parameters=11 h.system_settings=22")
        );
        // Too recent: a later write in the same second could keep every field.
        assert_eq!(
            of(meta("MyISAM", "2000", 2000 + RACY_SECONDS - 1, "0")),
            None
        );
        // A clock that went back: never a version from the future.
        assert_eq!(of(meta("MyISAM", "2000", 1990, "0")), None);
        // Engines whose update time is not the data file's, or is kept in memory only.
        assert_eq!(of(meta("InnoDB", "2000", 3000, "0")), None);
        assert_eq!(of(meta("InnoDB", "NULL", 3000, "0")), None);
        assert_eq!(of(meta("MyISAM", "NULL", 3000, "0")), None);
        // Rows written through a mapping move the mtime only now and then.
        assert_eq!(of(meta("MyISAM", "2000", 3000, "1")), None);
        let mut view = meta("MyISAM", "2000", 3000, "0");
        view[1] = text("VIEW");
        assert_eq!(of(view), None);
        let mut partitioned = meta("MyISAM", "2000", 3000, "0");
        partitioned[2] = text("partitioned");
        assert_eq!(of(partitioned), None);
        assert_eq!(version_of("h", None, &sums), None);
        let t = meta("MyISAM", "2000", 3000, "0");
        assert_eq!(version_of("h", Some(&t), &sums[..1]), None);
        let no_sum =
            [["h.parameters", "11"], ["h.system_settings", "NULL"]].map(|r| r.map(text).to_vec());
        assert_eq!(version_of("h", Some(&t), &no_sum), None);
    }
}
