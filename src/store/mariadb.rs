//! Hermes's own store: MariaDB, MyISAM tables, no transactions. Atomicity comes from our side:
//! the three tables are locked (`LOCK TABLES … WRITE`) from the first read to the last write,
//! every write's before-image is kept, and a rollback writes those back — over a fresh
//! connection if the first one died.

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
            .prefer_socket(self.socket.is_some())
            .user(self.user.clone())
            .pass(
                self.password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string()),
            )
            .db_name(Some(self.database.clone()))
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
    let ini = ini::Ini::load_from_file_opt(
        path,
        ini::ParseOption {
            enabled_quote: true,
            enabled_escape: false,
            ..ini::ParseOption::default()
        },
    )
    .map_err(|e| match e {
        ini::Error::Io(io) => bad(io.to_string()),
        ini::Error::Parse(p) => bad(format!("line {}: not an option file", p.line)),
    })?;
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
}

const LOCK_WRITE: &str = "LOCK TABLES parameters WRITE, system_settings WRITE, transport WRITE";
const LOCK_READ: &str = "LOCK TABLES parameters READ, system_settings READ, transport READ";

impl MariaStore {
    pub fn open(config: &MariadbConfig, writable: bool) -> Result<MariaStore> {
        let conn = connect(config)?;
        let mut store = MariaStore {
            config: config.clone(),
            conn,
            locked: false,
            journal: Vec::new(),
            inserted: Vec::new(),
        };
        store.lock(writable)?;
        Ok(store)
    }

    fn lock(&mut self, writable: bool) -> Result<()> {
        self.conn
            .query_drop(if writable { LOCK_WRITE } else { LOCK_READ })
            .map_err(|e| self.db_err(e))?;
        self.locked = true;
        Ok(())
    }

    fn db_err(&self, e: mysql::Error) -> Error {
        db_error(&self.config, e)
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

fn connect(config: &MariadbConfig) -> Result<Conn> {
    let mut conn = Conn::new(config.opts()).map_err(|e| db_error(config, e))?;
    conn.query_drop("SET NAMES utf8mb4")
        .map_err(|e| db_error(config, e))?;
    Ok(conn)
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
        let rows = self
            .conn
            .exec_iter(sql, to_mysql(params))
            .map_err(|e| db_error(config, e))?;
        for row in rows {
            let row = row.map_err(|e| db_error(config, e))?.unwrap();
            let values: Vec<SqlRef> = row.iter().map(from_mysql).collect();
            each(&values)?;
        }
        Ok(())
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
        self.conn
            .query_drop("UNLOCK TABLES")
            .map_err(|e| self.db_err(e))?;
        self.locked = false;
        Ok(())
    }

    /// MyISAM cannot roll back: write the before-images. If the connection died (the likely
    /// cause of the failure), reconnect, take the lock again, then restore.
    fn rollback(&mut self) -> Result<bool> {
        if self.journal.is_empty() {
            // Nothing to put back; a dead connection has released its lock already.
            let _ = self.commit();
            return Ok(false);
        }
        if self.undo().is_err() {
            self.conn = connect(&self.config)?;
            self.lock(true)?;
            self.undo().map_err(|e| self.db_err(e))?;
        }
        self.journal.clear();
        self.inserted.clear();
        self.commit()?;
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
}
