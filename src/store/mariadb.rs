//! Hermes's own store: MariaDB, MyISAM tables, no transactions. Atomicity comes from our side:
//! the three tables are locked (`LOCK TABLES … WRITE`) from the first read to the last write,
//! every write's before-image is kept, and a rollback writes those back — over a fresh
//! connection if the first one died.

use std::path::Path;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, params};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::model::{
    Change, PASSWORD_SETTING, ParamRow, Snapshot, TransportCreds, TransportRow, USERNAME_SETTING,
};
use crate::store::{INSERT_PARENT, INSERT_VALUE, Store};

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

    fn settings(&mut self) -> Result<(Option<String>, Option<String>)> {
        let rows: Vec<(String, Option<String>)> = self
            .conn
            .exec(
                "SELECT parameter, value FROM system_settings WHERE parameter IN (?, ?)",
                (USERNAME_SETTING, PASSWORD_SETTING),
            )
            .map_err(|e| self.db_err(e))?;
        let get = |name: &str| {
            rows.iter()
                .find(|(p, _)| p == name)
                .map(|(_, v)| v.clone().unwrap_or_default())
        };
        Ok((get(USERNAME_SETTING), get(PASSWORD_SETTING)))
    }

    fn write_one(
        conn: &mut Conn,
        inserted: &mut Vec<u64>,
        change: &Change,
        undo: bool,
    ) -> mysql::Result<()> {
        match change {
            Change::Transport { id, before, after } => {
                write_transports(conn, &[(*id, if undo { before } else { after })])
            }
            // Inserted rows are deleted by id in `undo`.
            Change::NewDirective { .. } if undo => Ok(()),
            Change::NewDirective { name, value } => {
                conn.exec_drop(INSERT_PARENT, (name,))?;
                let parent = conn.last_insert_id();
                inserted.push(parent);
                conn.exec_drop(INSERT_VALUE, (value, parent.to_string(), name))?;
                inserted.push(conn.last_insert_id());
                Ok(())
            }
            Change::Param { before, after } => {
                let row = if undo { before } else { after };
                conn.exec_drop(
                    "UPDATE parameters SET parameter = :parameter, name = :name, \
                     enabled = :enabled, applied = :applied, action = :action WHERE id = :id",
                    params! {
                        "parameter" => &row.parameter,
                        "name" => &row.name,
                        "enabled" => row.enabled,
                        "applied" => row.applied,
                        "action" => &row.action,
                        "id" => row.id,
                    },
                )
            }
            Change::Setting {
                parameter, before, ..
            } if undo => match before {
                None => conn.exec_drop(
                    "DELETE FROM system_settings WHERE parameter = ?",
                    (parameter,),
                ),
                Some(value) => conn.exec_drop(
                    "UPDATE system_settings SET value = ? WHERE parameter = ?",
                    (value, parameter),
                ),
            },
            Change::Setting {
                parameter,
                before: None,
                after,
            } => conn.exec_drop(
                "INSERT INTO system_settings (parameter, value) VALUES (?, ?)",
                (parameter, after),
            ),
            Change::Setting {
                parameter, after, ..
            } => conn.exec_drop(
                "UPDATE system_settings SET value = ? WHERE parameter = ?",
                (after, parameter),
            ),
        }
    }

    /// Writes changes in order; runs of `transport` updates go as multi-row statements, one
    /// round trip per [`TRANSPORT_BATCH`] rows (a key rotation touches every row).
    fn write_all<'a>(
        conn: &mut Conn,
        inserted: &mut Vec<u64>,
        changes: impl Iterator<Item = &'a Change>,
        undo: bool,
    ) -> mysql::Result<()> {
        let mut batch: Vec<(i64, &TransportCreds)> = Vec::new();
        for change in changes {
            if let Change::Transport { id, before, after } = change {
                batch.push((*id, if undo { before } else { after }));
                if batch.len() == TRANSPORT_BATCH {
                    write_transports(conn, &batch)?;
                    batch.clear();
                }
                continue;
            }
            write_transports(conn, &batch)?;
            batch.clear();
            Self::write_one(conn, inserted, change, undo)?;
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
            true,
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
    let params: Vec<mysql::Value> = rows
        .iter()
        .flat_map(|(id, c)| {
            [
                mysql::Value::from(id),
                mysql::Value::from(c.authentication.clone()),
                mysql::Value::from(c.username_cipher.clone()),
                mysql::Value::from(c.password_cipher.clone()),
            ]
        })
        .collect();
    conn.exec_drop(sql, params)
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

impl Store for MariaStore {
    fn load(&mut self) -> Result<Snapshot> {
        let params = self
            .conn
            .query_map(
                "SELECT id, parameter, name, parent, child, CAST(order1 AS DOUBLE), \
                 COALESCE(enabled, 0), applied, action FROM parameters \
                 WHERE module = 'postfix' AND conf_file = 'main.cf' ORDER BY id",
                |(id, parameter, name, parent, child, order1, enabled, applied, action)| ParamRow {
                    id,
                    parameter,
                    name,
                    parent,
                    child,
                    order1,
                    enabled,
                    applied,
                    action,
                },
            )
            .map_err(|e| self.db_err(e))?;
        let transports = self
            .conn
            .query_map(
                "SELECT id, domain, destination, port, authentication, authentication_username, \
                 authentication_password FROM transport ORDER BY id",
                |(
                    id,
                    domain,
                    destination,
                    port,
                    authentication,
                    username_cipher,
                    password_cipher,
                )| {
                    TransportRow {
                        id,
                        domain,
                        destination,
                        port,
                        authentication,
                        username_cipher,
                        password_cipher,
                    }
                },
            )
            .map_err(|e| self.db_err(e))?;
        let (username_cipher, password_cipher) = self.settings()?;
        Ok(Snapshot {
            params,
            username_cipher,
            password_cipher,
            transports,
        })
    }

    fn write(&mut self, changes: &[Change]) -> Result<()> {
        self.journal.extend(changes.iter().cloned());
        Self::write_all(&mut self.conn, &mut self.inserted, changes.iter(), false)
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
