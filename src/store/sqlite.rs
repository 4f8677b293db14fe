//! The embedded store: a SQLite copy of the Hermes tables. Every run is one transaction
//! (`BEGIN IMMEDIATE` for a writing run), so a rollback is SQLite's own.

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, params_from_iter};

use crate::error::{Error, Result};
use crate::files::{self, FileId};
use crate::model::{Change, Snapshot};
use crate::store::sql::{self, Dialect, INSERT_PARENT, INSERT_VALUE, Side, SqlRef, SqlValue};
use crate::store::{Backend, Location, Open, Scope, Store};

/// The Hermes schema and seed rows, for `init`.
pub const SCHEMA: &str = include_str!("hermes.sqlite.sql");

/// `sqlite:PATH`.
pub const BACKEND: Backend = Backend {
    usage: "sqlite:PATH",
    parse,
};

fn parse(url: &str, options_file: Option<&Path>) -> Option<Result<Location>> {
    let path = url.strip_prefix("sqlite:")?;
    if path.is_empty() || options_file.is_some() {
        return Some(Err(Error::option(
            "database",
            "sqlite:PATH needs a path and takes no database_options_file",
        )));
    }
    Some(Ok(at(PathBuf::from(path))))
}

/// The SQLite database at `path`.
pub fn at(path: PathBuf) -> Location {
    Location(Arc::new(SqliteFile(path)))
}

#[derive(Debug)]
struct SqliteFile(PathBuf);

impl Open for SqliteFile {
    fn open(&self, writable: bool) -> Result<Box<dyn Store>> {
        Ok(Box::new(SqliteStore::open(&self.0, writable)?))
    }

    fn check_writable(&self) -> Result<()> {
        writable_by_us(&self.0)
    }
}

pub struct SqliteStore {
    conn: Connection,
    wrote: bool,
    /// Our own descriptor on the database file, for its header. POSIX locks belong to the
    /// process, and closing any descriptor of the file drops every one SQLite holds on it: this
    /// one is opened before the connection and, declared after it, closed after it.
    file: File,
    /// The header once read under the lock; after a commit, the committed one (`None`: it
    /// cannot be told apart from another writer's).
    loaded: Option<Header>,
    committed: Option<Option<Header>>,
}

/// What [`Store::version`] is made of: the file's identity and the header's change counter,
/// which SQLite increments with every transaction that changes the database ("file change
/// counter", offset 24 of the file format). In WAL mode the counter is not kept: no version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    id: FileId,
    counter: u32,
}

impl Header {
    fn read(file: &File) -> Result<Option<Header>> {
        let mut bytes = [0u8; 100];
        let io = |e| Error::Database(format!("reading the database header: {e}"));
        let id = FileId::of_meta(&file.metadata().map_err(io)?);
        if id.size < 100 {
            return Ok(None);
        }
        file.read_exact_at(&mut bytes, 0).map_err(io)?;
        let legacy = bytes[18] == 1 && bytes[19] == 1;
        if !bytes.starts_with(b"SQLite format 3\0") || !legacy {
            return Ok(None);
        }
        let counter = u32::from_be_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
        Ok(Some(Header { id, counter }))
    }

    fn version(&self) -> String {
        let FileId {
            dev,
            ino,
            size,
            mtime_ns,
            // The change counter covers an edit in place; our own commit moves the ctime.
            ..
        } = self.id;
        format!("sqlite {dev}:{ino} {size} {mtime_ns} {}", self.counter)
    }
}

/// An I/O failure on the database file: a refusal is `permission_denied`, naming the path.
fn db_io(path: &Path, operation: &'static str, e: std::io::Error) -> Error {
    if crate::error::is_denied(&e) {
        Error::io_op(path, operation, e)
    } else {
        Error::Database(format!("{}: {e}", path.display()))
    }
}

/// `access(W_OK)` on the database file and its directory, as the process's real ids.
pub(super) fn writable_by_us(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    for p in [Some(path), dir].into_iter().flatten() {
        rustix::fs::access(p, rustix::fs::Access::WRITE_OK)
            .map_err(|e| db_io(p, "write", e.into()))?;
    }
    Ok(())
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Database(e.to_string())
}

impl SqliteStore {
    /// Opens an existing database (never creates one: a wrong path must not yield an empty
    /// Hermes). Read-only for check mode; a writing run takes SQLite's write lock at once.
    pub fn open(path: &Path, writable: bool) -> Result<SqliteStore> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(Error::Database(format!("{} is not a file", path.display())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Database(format!(
                    "{} does not exist",
                    path.display()
                )));
            }
            Err(e) => return Err(db_io(path, "read", e)),
        }
        let file = files::open_nofollow(path).map_err(|e| db_io(path, "read", e))?;
        if writable {
            // SQLite would open an unwritable file read-only without a word, and fail only
            // at the first write.
            writable_by_us(path)?;
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
        Ok(SqliteStore {
            conn,
            wrote: false,
            file,
            loaded: None,
            committed: None,
        })
    }

    /// Creates a database with the Hermes schema and seed rows.
    pub fn create(path: &Path) -> Result<()> {
        let conn = Connection::open(path)
            .map_err(|e| Error::Database(format!("{}: {e}", path.display())))?;
        conn.execute_batch(&format!("BEGIN; {SCHEMA} COMMIT;"))
            .map_err(db_err)
    }

    fn write_one(&mut self, change: &Change) -> Result<()> {
        if let Change::NewDirective { name, value } = change {
            self.execute(INSERT_PARENT, &[name.as_str().into()])?;
            let parent = self.conn.last_insert_rowid().to_string();
            return self.execute(
                INSERT_VALUE,
                &[
                    value.as_str().into(),
                    parent.as_str().into(),
                    name.as_str().into(),
                ],
            );
        }
        match sql::statement(change, Side::After) {
            Some((sql, params)) => self.execute(sql, &params),
            None => Ok(()),
        }
    }
}

fn to_sqlite(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Text(s) => Value::Text(s.clone()),
    }
}

/// The most columns a SELECT of ours has.
const MAX_COLUMNS: usize = 16;

fn from_sqlite(v: ValueRef) -> SqlRef {
    match v {
        ValueRef::Null => SqlRef::Null,
        ValueRef::Integer(i) => SqlRef::Int(i),
        ValueRef::Real(f) => SqlRef::Real(f),
        // `from_utf8` first: the lossy path walks the text in chunks and is several times
        // slower on the valid UTF-8 that nearly every value is.
        ValueRef::Text(t) | ValueRef::Blob(t) => SqlRef::Text(
            std::str::from_utf8(t).map_or_else(|_| String::from_utf8_lossy(t), Cow::Borrowed),
        ),
    }
}

impl Dialect for SqliteStore {
    const ORDER1_AS_FLOAT: &'static str = "CAST(order1 AS REAL)";
    const PORT_AS_TEXT: &'static str = "CAST(port AS TEXT)";

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        each: &mut dyn FnMut(&[SqlRef]) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        let n = stmt.column_count();
        let mut rows = stmt
            .query(params_from_iter(params.iter().map(to_sqlite)))
            .map_err(db_err)?;
        // The values of one row, borrowed from it, on the stack: no allocation per row.
        if n > MAX_COLUMNS {
            return Err(Error::DatabaseLayout(format!("a SELECT of {n} columns")));
        }
        while let Some(row) = rows.next().map_err(db_err)? {
            let mut row_values: [SqlRef; MAX_COLUMNS] = std::array::from_fn(|_| SqlRef::Null);
            for (i, slot) in row_values.iter_mut().take(n).enumerate() {
                *slot = from_sqlite(row.get_ref(i).map_err(db_err)?);
            }
            each(&row_values[..n])?;
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params_from_iter(params.iter().map(to_sqlite))))
            .map(drop)
            .map_err(db_err)
    }
}

impl Store for SqliteStore {
    fn load(&mut self, scope: Scope) -> Result<Snapshot> {
        sql::load(self, scope)
    }

    fn version(&mut self) -> Result<Option<String>> {
        if let Some(committed) = self.committed {
            return Ok(committed.map(|h| h.version()));
        }
        if self.loaded.is_none() {
            // A read takes SQLite's shared lock (and rolls back a crashed writer's journal)
            // first, so the header is the one of the rows this transaction reads.
            self.conn
                .query_row("PRAGMA schema_version", [], |_| Ok(()))
                .map_err(db_err)?;
            self.loaded = Header::read(&self.file)?;
        }
        Ok(self.loaded.map(|h| h.version()))
    }

    fn write(&mut self, changes: &[Change]) -> Result<()> {
        self.wrote |= !changes.is_empty();
        changes.iter().try_for_each(|c| self.write_one(c))
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(db_err)?;
        // The lock is gone: the header is ours only if it counts exactly our one transaction.
        // The rows are committed, so an unreadable header only costs the version, not the run.
        self.committed = Some(match (self.loaded, self.wrote) {
            (loaded, false) => loaded,
            (Some(loaded), true) => Header::read(&self.file).ok().flatten().filter(|now| {
                now.id.dev == loaded.id.dev
                    && now.id.ino == loaded.id.ino
                    && now.counter == loaded.counter.wrapping_add(1)
            }),
            (None, true) => None,
        });
        Ok(())
    }

    fn rollback(&mut self) -> Result<bool> {
        // SQLite rolls the transaction back itself after an I/O error or a full disk; then
        // the rows are already as they were.
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(db_err)?;
        }
        Ok(self.wrote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled SQLite is compiled with .cargo/config.toml's `LIBSQLITE3_FLAGS`, in the
    /// tests as in the release build: without the extensions the store does not use.
    #[test]
    fn compile_options() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for set in [
            "OMIT_LOAD_EXTENSION",
            "OMIT_JSON",
            "OMIT_DEPRECATED",
            "DEFAULT_FOREIGN_KEYS",
        ] {
            assert!(options.iter().any(|o| o == set), "{set} not in {options:?}");
        }
        for unset in ["ENABLE_FTS3", "ENABLE_FTS5", "ENABLE_RTREE", "ENABLE_STAT4"] {
            assert!(
                !options.iter().any(|o| o == unset),
                "{unset} in {options:?}"
            );
        }
    }
}
