//! The embedded store: a SQLite copy of the Hermes tables. Every run is one transaction
//! (`BEGIN IMMEDIATE` for a writing run), so a rollback is SQLite's own.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use crate::error::{Error, Result};
use crate::model::{Change, PASSWORD_SETTING, ParamRow, Snapshot, TransportRow, USERNAME_SETTING};
use crate::store::{INSERT_PARENT, INSERT_VALUE, Store};

/// The Hermes schema and seed rows, for `init`.
pub const SCHEMA: &str = include_str!("hermes.sqlite.sql");

pub struct SqliteStore {
    conn: Connection,
    wrote: bool,
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Database(e.to_string())
}

impl SqliteStore {
    /// Opens an existing database (never creates one: a wrong path must not yield an empty
    /// Hermes). Read-only for check mode; a writing run takes SQLite's write lock at once.
    pub fn open(path: &Path, writable: bool) -> Result<SqliteStore> {
        if !path.is_file() {
            return Err(Error::Database(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let flags = if writable {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        };
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| Error::Database(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
        conn.execute_batch(if writable { "BEGIN IMMEDIATE" } else { "BEGIN" })
            .map_err(db_err)?;
        Ok(SqliteStore { conn, wrote: false })
    }

    /// Creates a database with the Hermes schema and seed rows.
    pub fn create(path: &Path) -> Result<()> {
        let conn = Connection::open(path)
            .map_err(|e| Error::Database(format!("{}: {e}", path.display())))?;
        conn.execute_batch(&format!("BEGIN; {SCHEMA} COMMIT;"))
            .map_err(db_err)
    }

    fn setting(&self, parameter: &str) -> Result<Option<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM system_settings WHERE parameter = ?1")
            .map_err(db_err)?;
        let mut rows = stmt.query([parameter]).map_err(db_err)?;
        match rows.next().map_err(db_err)? {
            Some(row) => Ok(Some(
                row.get::<_, Option<String>>(0)
                    .map_err(db_err)?
                    .unwrap_or_default(),
            )),
            None => Ok(None),
        }
    }

    fn write_one(&self, change: &Change) -> Result<()> {
        match change {
            Change::Transport { id, after, .. } => self
                .conn
                .prepare_cached(
                    "UPDATE transport SET authentication = ?1, authentication_username = ?2, \
                     authentication_password = ?3 WHERE id = ?4",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        after.authentication,
                        after.username_cipher,
                        after.password_cipher,
                        id
                    ])
                }),
            Change::NewDirective { name, value } => {
                self.conn
                    .execute(INSERT_PARENT, params![name])
                    .map_err(db_err)?;
                let parent = self.conn.last_insert_rowid().to_string();
                self.conn
                    .execute(INSERT_VALUE, params![value, parent, name])
            }
            Change::Param { after, .. } => self.conn.execute(
                "UPDATE parameters SET parameter = ?1, name = ?2, enabled = ?3, applied = ?4, \
                 action = ?5 WHERE id = ?6",
                params![
                    after.parameter,
                    after.name,
                    after.enabled,
                    after.applied,
                    after.action,
                    after.id
                ],
            ),
            Change::Setting {
                parameter,
                before: None,
                after,
            } => self.conn.execute(
                "INSERT INTO system_settings (parameter, value) VALUES (?1, ?2)",
                params![parameter, after],
            ),
            Change::Setting {
                parameter, after, ..
            } => self.conn.execute(
                "UPDATE system_settings SET value = ?1 WHERE parameter = ?2",
                params![after, parameter],
            ),
        }
        .map(drop)
        .map_err(db_err)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, parameter, name, parent, child, CAST(order1 AS REAL), \
                 COALESCE(enabled, 0), applied, action FROM parameters \
                 WHERE module = 'postfix' AND conf_file = 'main.cf' ORDER BY id",
            )
            .map_err(db_err)?;
        let params = stmt
            .query_map([], |r| {
                Ok(ParamRow {
                    id: r.get(0)?,
                    parameter: r.get(1)?,
                    name: r.get(2)?,
                    parent: r.get(3)?,
                    child: r.get(4)?,
                    order1: r.get(5)?,
                    enabled: r.get(6)?,
                    applied: r.get(7)?,
                    action: r.get(8)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, domain, destination, CAST(port AS TEXT), authentication, \
                 authentication_username, \
                 authentication_password FROM transport ORDER BY id",
            )
            .map_err(db_err)?;
        let transports = stmt
            .query_map([], |r| {
                Ok(TransportRow {
                    id: r.get(0)?,
                    domain: r.get(1)?,
                    destination: r.get(2)?,
                    port: r.get(3)?,
                    authentication: r.get(4)?,
                    username_cipher: r.get(5)?,
                    password_cipher: r.get(6)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok(Snapshot {
            params,
            username_cipher: self.setting(USERNAME_SETTING)?,
            password_cipher: self.setting(PASSWORD_SETTING)?,
            transports,
        })
    }

    fn write(&mut self, changes: &[Change]) -> Result<()> {
        self.wrote |= !changes.is_empty();
        changes.iter().try_for_each(|c| self.write_one(c))
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(db_err)
    }

    fn rollback(&mut self) -> Result<bool> {
        self.conn.execute_batch("ROLLBACK").map_err(db_err)?;
        Ok(self.wrote)
    }
}
