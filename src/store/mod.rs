//! Where the Hermes rows live. One small trait so the pipeline does not care whether it is the
//! embedded SQLite copy or Hermes's own MariaDB; each backend parses its own `database` URL and
//! shares the SQL of [`sql`].

mod mariadb;
mod postfix_host;
mod sql;
mod sqlite;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

pub use postfix_host::at as postfix_host_at;
#[cfg(test)]
pub(crate) use postfix_host::snapshot as postfix_host_snapshot;
pub use sqlite::{SqliteStore, at as sqlite_at};

use crate::error::{Error, Result};
use crate::model::{Change, Snapshot};

/// Every backend; a new one is a file in this directory, its `mod` line and a line here.
const BACKENDS: &[Backend] = &[sqlite::BACKEND, mariadb::BACKEND];

/// Which rows a load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Everything but `transport`, whose lines a [`crate::verified::Record`] vouches for.
    WithoutTransports,
}

pub trait Store {
    /// Reads the rows the plan needs, under the store's lock (taken on open, held until
    /// `commit` or `rollback`), so that nothing changes between plan and write.
    fn load(&mut self, scope: Scope) -> Result<Snapshot>;
    /// Names the stored rows as they are now, under the lock (after `commit`: as committed,
    /// or `None` when another writer may have come in between); any change to any row gives
    /// another name. `None`: this backend cannot tell, so its rows are always read.
    fn version(&mut self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Performs the changes in order.
    fn write(&mut self, changes: &[Change]) -> Result<()>;
    /// Makes every write permanent and releases the lock.
    fn commit(&mut self) -> Result<()>;
    /// Puts back everything written since open (a write that failed halfway included) and
    /// releases the lock; true when there was something to put back.
    fn rollback(&mut self) -> Result<bool>;
}

/// A backend: the URL form it takes (for messages) and its parser, which claims a URL of its
/// own (`Some`) or leaves it to the others (`None`).
pub struct Backend {
    pub usage: &'static str,
    pub parse: fn(url: &str, options_file: Option<&Path>) -> Option<Result<Location>>,
}

/// A parsed `database` option that can open a store. Secrets (a DB password) stay inside it.
pub trait Open: Debug + Send + Sync {
    /// Opens the store for one run; `writable: false` for check mode.
    fn open(&self, writable: bool) -> Result<Box<dyn Store>>;
    /// For check mode, which opens read-only: fails where a writing open would, creating
    /// nothing. Backends that cannot tell without writing say nothing.
    fn check_writable(&self) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Location(Arc<dyn Open>);

impl Location {
    pub(crate) fn new(open: impl Open + 'static) -> Location {
        Location(Arc::new(open))
    }

    /// The `database` URL, by the backend that claims it; `options_file` (a MySQL `[client]`
    /// option file) fills what the URL leaves out. Never echoes the URL: it may hold a password.
    pub fn parse(url: &str, options_file: Option<&Path>) -> Result<Location> {
        BACKENDS
            .iter()
            .find_map(|b| (b.parse)(url, options_file))
            .unwrap_or_else(|| {
                let usages: Vec<&str> = BACKENDS.iter().map(|b| b.usage).collect();
                Err(Error::option(
                    "database",
                    format!(
                        "unsupported database URL (expected {})",
                        usages.join(" or ")
                    ),
                ))
            })
    }

    /// Opens the store for one run; `writable: false` for check mode.
    pub fn open(&self, writable: bool) -> Result<Box<dyn Store>> {
        self.0.open(writable)
    }

    /// See [`Open::check_writable`].
    pub fn check_writable(&self) -> Result<()> {
        self.0.check_writable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_never_echo_the_password() {
        for url in [
            "postgres://u:s3cr3t@h/db",
            "mysql://u:s3cr3t@h/",
            "mysql://u:s3cr3t@h/db?sslmode=x",
            "mysql://u:s3cr3t@h:99999/db",
            "sqlite:",
            "u:s3cr3t@h",
        ] {
            let err = Location::parse(url, None).unwrap_err();
            assert_eq!(err.code(), "invalid_args", "{url}");
            assert!(err.to_string().starts_with("option 'database': "), "{err}");
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
        assert!(Location::parse("sqlite:/x.db", None).is_ok());
    }
}
