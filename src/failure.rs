//! Why a request failed and what was put back: the bookkeeping apply's and rotation's
//! rollbacks share.

use crate::error::Error;
use crate::store::Store;

#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    /// What was restored after a failure past the first write.
    pub restored: Vec<String>,
    /// Restore steps that failed themselves: the operator must look.
    pub restore_errors: Vec<String>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            error,
            restored: Vec::new(),
            restore_errors: Vec::new(),
        }
    }
}

impl Failure {
    /// Records one restore step: `what` when it worked, its error when not.
    pub fn restore_step(&mut self, what: impl Into<String>, result: Result<(), Error>) {
        match result {
            Ok(()) => self.restored.push(what.into()),
            Err(e) => self.restore_errors.push(e.to_string()),
        }
    }

    /// Rolls the store back, noting whether there were rows to put back.
    pub fn roll_back_store(&mut self, store: &mut dyn Store) {
        match store.rollback() {
            Ok(true) => self.restored.push("database rows".to_string()),
            Ok(false) => {}
            Err(e) => self.restore_errors.push(e.to_string()),
        }
    }
}
