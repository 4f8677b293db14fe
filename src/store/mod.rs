//! Where the Hermes rows live. One small trait so the pipeline does not care whether it is the
//! embedded SQLite copy or Hermes's own MariaDB.

mod mariadb;
mod sqlite;

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use secrecy::SecretString;

pub use mariadb::{MariaStore, MariadbConfig};
pub use sqlite::SqliteStore;

use crate::error::{Error, Result};
use crate::model::{Change, Snapshot};

/// Inserts a directive's parent row (`?1` = name), then its value row (`?1` = value,
/// `?2` = parent id as text, `?3` = name): Hermes's dual-row form, enabled and applied.
const INSERT_PARENT: &str = "INSERT INTO parameters (parameter, module, editable, conf_file, \
     child, enabled, applied, action) VALUES (?, 'postfix', 1, 'main.cf', 2, 1, 1, 'NONE')";
const INSERT_VALUE: &str = "INSERT INTO parameters (parameter, module, editable, conf_file, \
     parent, parent_name, child, order1, enabled, applied, action) \
     VALUES (?, 'postfix', 1, 'main.cf', ?, ?, 1, 1, 1, 1, 'NONE')";

pub trait Store {
    /// Reads every row the plan needs, under the store's lock (taken on open, held until
    /// `commit` or `rollback`), so that nothing changes between plan and write.
    fn load(&mut self) -> Result<Snapshot>;
    /// Performs the changes in order.
    fn write(&mut self, changes: &[Change]) -> Result<()>;
    /// Makes every write permanent and releases the lock.
    fn commit(&mut self) -> Result<()>;
    /// Puts back everything written since open (a write that failed halfway included) and
    /// releases the lock; true when there was something to put back.
    fn rollback(&mut self) -> Result<bool>;
}

/// The `database` option, parsed. Secrets (the DB password) stay in `SecretString`.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Mariadb(MariadbConfig),
}

impl Location {
    /// `sqlite:PATH`, `mysql://USER[:PW]@HOST[:PORT]/DB`, `mysql://USER@localhost/DB?socket=P`;
    /// `options_file` (a MySQL `[client]` option file) fills what the URL leaves out.
    pub fn parse(url: &str, options_file: Option<&Path>) -> Result<Location> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() || options_file.is_some() {
                return Err(Error::option(
                    "database",
                    "sqlite:PATH needs a path and takes no database_options_file",
                ));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        let bad = |why: &str| {
            Error::option(
                "database",
                format!("{why} (expected sqlite:PATH or mysql://USER[:PASSWORD]@HOST[:PORT]/DB)"),
            )
        };
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
            mariadb::fill_from_option_file(&mut config, file)?;
        }
        Ok(Location::Mariadb(config))
    }

    /// Opens the store for one run; `writable: false` for check mode.
    pub fn open(&self, writable: bool) -> Result<Box<dyn Store>> {
        Ok(match self {
            Location::Sqlite(path) => Box::new(SqliteStore::open(path, writable)?),
            Location::Mariadb(config) => Box::new(MariaStore::open(config, writable)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn maria(url: &str) -> MariadbConfig {
        match Location::parse(url, None).unwrap() {
            Location::Mariadb(c) => c,
            Location::Sqlite(_) => panic!("not mariadb"),
        }
    }

    #[test]
    fn urls() {
        let c = maria("mysql://hermes:p%40ss@db.example:3307/hermes");
        assert_eq!(c.host.as_deref(), Some("db.example"));
        assert_eq!(c.port, Some(3307));
        assert_eq!(c.user.as_deref(), Some("hermes"));
        assert_eq!(c.password.unwrap().expose_secret(), "p@ss");
        assert_eq!(c.database, "hermes");
        let c = maria("mysql://root@localhost/hermes?socket=/run/mysqld/mysqld.sock");
        assert_eq!(c.socket.as_deref(), Some("/run/mysqld/mysqld.sock"));
        assert!(c.password.is_none());
        assert!(matches!(
            Location::parse("sqlite:/x.db", None).unwrap(),
            Location::Sqlite(p) if p == Path::new("/x.db")
        ));
    }

    #[test]
    fn bad_urls_never_echo_the_password() {
        for url in [
            "postgres://u:s3cr3t@h/db",
            "mysql://u:s3cr3t@h/",
            "mysql://u:s3cr3t@h/db?sslmode=x",
            "mysql://u:s3cr3t@h:99999/db",
            "sqlite:",
        ] {
            let err = Location::parse(url, None).unwrap_err();
            assert_eq!(err.code(), "invalid_args", "{url}");
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
    }
}
