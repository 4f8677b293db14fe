//! Where the Hermes rows live. One small trait so the pipeline does not care whether it is the
//! embedded SQLite copy or Hermes's own MariaDB.

mod sqlite;

pub use sqlite::SqliteStore;

use crate::error::Result;
use crate::model::{Change, Snapshot};

pub trait Store {
    /// Reads every row the plan needs, under the store's lock (taken on open, held until
    /// `commit` or `rollback`), so that nothing changes between plan and write.
    fn load(&mut self) -> Result<Snapshot>;
    /// Performs the changes in order.
    fn write(&mut self, changes: &[Change]) -> Result<()>;
    /// Makes every write permanent and releases the lock.
    fn commit(&mut self) -> Result<()>;
    /// Puts back what `written` changed (those writes, in the order they were made) and
    /// releases the lock.
    fn rollback(&mut self, written: &[Change]) -> Result<()>;
}
