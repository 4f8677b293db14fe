//! Atomic file writes (temp file in the same directory, fsync, rename, fsync the directory),
//! the saved copies a failed run puts back, and the flock that serializes runs per Postfix dir.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempPath;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".hermes-relayhost.lock";

/// A file's bytes; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A file's permission bits; `None` when it does not exist.
pub(crate) fn mode_of(path: &Path) -> Result<Option<u32>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.permissions().mode() & 0o7777)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A file written and synced next to its target, not yet visible under the target name;
/// removed on drop unless installed.
pub struct Staged {
    tmp: TempPath,
    target: PathBuf,
}

/// Writes `bytes` to a temp file beside `target` (0600 from creation, then `mode`).
pub fn stage(target: &Path, bytes: &[u8], mode: u32) -> Result<Staged> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let io = |e| Error::io(target, e);
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok(Staged {
        tmp: tmp.into_temp_path(),
        target: target.to_path_buf(),
    })
}

impl Staged {
    /// Takes over a file another program made (postmap's map beside a staged source): made
    /// private and synced, removed unless installed.
    pub fn adopt(made: PathBuf, target: PathBuf) -> Result<Staged> {
        let tmp = TempPath::try_from_path(made).map_err(|e| Error::io(&target, e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(tmp.to_path_buf(), e))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(tmp.to_path_buf(), e))?;
        Ok(Staged { tmp, target })
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the staged file over its target and syncs the directory entry.
    pub fn install(self) -> Result<()> {
        let target = self.target;
        self.tmp
            .persist(&target)
            .map_err(|e| Error::io(&target, e.error))?;
        sync_parent(&target)
    }
}

/// fsync the directory holding `path`, so a rename in it survives a crash.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// A file as it was before the run, to put back if a later step fails.
pub struct Saved {
    path: PathBuf,
    before: Option<(Zeroizing<Vec<u8>>, u32)>,
}

impl Saved {
    pub fn capture(path: &Path) -> Result<Saved> {
        let before = match (read_optional(path)?, mode_of(path)?) {
            (Some(bytes), Some(mode)) => Some((bytes, mode)),
            _ => None,
        };
        Ok(Saved {
            path: path.to_path_buf(),
            before,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn content(&self) -> Option<&[u8]> {
        self.before.as_ref().map(|(bytes, _)| bytes.as_slice())
    }

    /// Atomically writes the old content back, or removes a file that did not exist.
    pub fn restore(&self) -> Result<()> {
        match &self.before {
            Some((bytes, mode)) => stage(&self.path, bytes, *mode)?.install(),
            None => match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
                _ => sync_parent(&self.path),
            },
        }
    }
}

/// The per-Postfix-directory flock. Held for the whole run; released on drop.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock only if the lock file exists: a run that changes nothing creates nothing.
    pub fn existing(dir: &Path, exclusive: bool) -> Result<Option<DirLock>> {
        let path = dir.join(LOCK_FILE);
        match File::open(&path) {
            Ok(file) => Self::take(file, &path, exclusive).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Lock { path, source: e }),
        }
    }

    pub fn create(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::Lock {
                path: path.clone(),
                source: e,
            })?;
        Self::take(file, &path, true)
    }

    fn take(file: File, path: &Path, exclusive: bool) -> Result<DirLock> {
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| Error::Lock {
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(DirLock { _file: file })
    }
}
