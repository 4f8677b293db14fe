//! The retry shape apply and key rotation share: read and plan without the Postfix dir's lock
//! file while it does not exist (a run that changes nothing creates nothing), and start again
//! when what was read cannot stand. The transitions are named here, not spelled as `continue`s.

use std::path::Path;

use crate::error::Error;
use crate::files::DirLock;

/// What one attempt asks for next.
pub enum Next<T> {
    /// Finished, with this result.
    Done(T),
    /// Read and plan again: what was read no longer holds (a verified record did not fit, or
    /// the probe ran with the database lock released).
    Again,
    /// The run will write but holds no lock: take it (creating the lock file), then read and
    /// plan again under it.
    Lock,
}

/// Runs `attempt` until it is done. `attempt` learns whether the lock is held; in check mode it
/// is only ever taken shared, and only when the lock file exists. Returns the result and the
/// lock, for a caller whose writes follow.
pub fn until_done<T, E: From<Error>>(
    dir: &Path,
    check: bool,
    mut attempt: impl FnMut(bool) -> Result<Next<T>, E>,
) -> Result<(T, Option<DirLock>), E> {
    let mut lock = DirLock::existing(dir, !check)?;
    loop {
        match attempt(lock.is_some())? {
            Next::Done(result) => return Ok((result, lock)),
            Next::Again => {}
            Next::Lock => lock = Some(DirLock::create(dir)?),
        }
    }
}
