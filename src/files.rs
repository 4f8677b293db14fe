//! Atomic file writes (temp file in the same directory, fsync, rename, fsync the directory),
//! the saved copies a failed run puts back, and the flock that serializes runs per Postfix dir.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::TempPath;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".hermes-relayhost.lock";
/// A Postfix config dir as this host writes it, and the files in it the module manages: their
/// names are written once, here.
#[derive(Debug, Clone, Copy)]
pub struct PostfixDir<'a>(pub &'a Path);

impl PostfixDir<'_> {
    pub const MAIN_CF: &'static str = "main.cf";
    pub const MASTER_CF: &'static str = "master.cf";
    pub const SASL_PASSWD: &'static str = "sasl_passwd";
    /// Hermes's generator copies the old main.cf here first; so does a Hermes-mode run.
    pub const BACKUP: &'static str = "main.cf.HERMES";

    pub fn main_cf(self) -> PathBuf {
        self.0.join(Self::MAIN_CF)
    }

    pub fn master_cf(self) -> PathBuf {
        self.0.join(Self::MASTER_CF)
    }

    pub fn sasl_passwd(self) -> PathBuf {
        self.0.join(Self::SASL_PASSWD)
    }

    pub fn backup(self) -> PathBuf {
        self.0.join(Self::BACKUP)
    }
}

/// What the installed sasl_passwd and map were built as; written after both are in place.
pub const STAMP_FILE: &str = ".hermes-relayhost.stamp";

/// Name prefixes of what our own writes put in the Postfix dir before renaming (temp files,
/// postmap's map beside a staged source, the staged-config scratch dir): anything left under
/// them was left by a run that died.
pub const TEMP_PREFIXES: [&str; 6] = [
    ".sasl_passwd.",
    // Berkeley DB's temp name for the map postmap builds from our staged `.sasl_passwd.*`.
    "__db..sasl_passwd.",
    ".main.cf.",
    ".hermes-relayhost.check.",
    "..hermes-relayhost.stamp.",
    "..hermes-relayhost.verified.",
];

/// The most bytes a read of ours takes, each fitting what the file holds: a path pointed at
/// `/dev/zero` or a huge file fails clearly instead of reading gigabytes.
pub mod limits {
    /// Base64 of 32 bytes and a newline; generous for whitespace.
    pub const KEY: u64 = 4 << 10;
    pub const TEMPLATE: u64 = 1 << 20;
    /// The args file.
    pub const ARGS: u64 = 16 << 20;
    /// A MySQL option file (`[client]` user, password, host, socket).
    pub const OPTIONS: u64 = 64 << 10;
    pub const STAMP: u64 = 4 << 10;
    pub const RECORD: u64 = 64 << 20;
    /// main.cf, master.cf, sasl_passwd (a million domains is ~600 MB).
    pub const MANAGED: u64 = 1 << 30;
}

/// Opens a file for reading without following a symlink (`O_NOFOLLOW`: a managed file linked
/// elsewhere, the key say, would end up in the diff and the backup) and without blocking on a
/// FIFO (`O_NONBLOCK`); anything but a regular file is refused.
pub(crate) fn open_nofollow(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", kind_name(kind)),
        ));
    }
    Ok(file)
}

/// What a non-regular file is, for a message.
fn kind_name(kind: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_symlink() {
        "a symlink"
    } else {
        "not a file"
    }
}

/// A file's bytes; `None` when it does not exist. A symlink is refused ([`open_nofollow`]).
pub(crate) fn read_optional(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    Ok(read_identified(path, None)?.map(|(bytes, _)| bytes))
}

/// At most `max` bytes of a regular file; `None` when it does not exist; larger is an error.
pub fn read_bounded(path: &Path, max: u64) -> Result<Option<Zeroizing<Vec<u8>>>> {
    Ok(read_within(path, None, max)?.map(|(bytes, _)| bytes))
}

/// A file's bytes (the first `limit` of them, if given) and the identity of what was read
/// (`fstat` of the same descriptor); `None` when it does not exist. The buffer is sized once:
/// a grown one would leave freed copies behind.
pub(crate) fn read_identified(
    path: &Path,
    limit: Option<u64>,
) -> Result<Option<(Zeroizing<Vec<u8>>, FileId)>> {
    read_within(path, limit, limits::MANAGED)
}

fn read_within(
    path: &Path,
    limit: Option<u64>,
    max: u64,
) -> Result<Option<(Zeroizing<Vec<u8>>, FileId)>> {
    let file = match open_nofollow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(Error::UnsafeFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
        Err(e) => return Err(Error::io_op(path, "read", e)),
    };
    let io = |e| Error::io_op(path, "read", e);
    let id = FileId::of_meta(&file.metadata().map_err(io)?);
    let len = limit.map_or(id.size, |l| l.min(id.size));
    if len > max {
        return Err(too_big(path, id.size, max));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(usize::try_from(len).unwrap_or(0)));
    // One byte more than allowed: a file growing while read is caught too.
    file.take(len.min(max) + u64::from(limit.is_none()))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_big(path, bytes.len() as u64, max));
    }
    Ok(Some((bytes, id)))
}

fn too_big(path: &Path, size: u64, max: u64) -> Error {
    Error::UnsafeFile {
        path: path.to_path_buf(),
        reason: format!("{size} bytes or more, larger than the {max} bytes this file may have"),
    }
}

/// A file's permission bits (of the link itself for a symlink); `None` when it does not exist.
pub(crate) fn mode_of(path: &Path) -> Result<Option<u32>> {
    match fs::symlink_metadata(path) {
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
    stage_with(target, mode, |file| file.write_all(bytes))
}

/// [`stage`] with the content written by `write`.
pub fn stage_with(
    target: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<Staged> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)
        .map_err(|e| Error::io_op(dir, "create a file in", e))?;
    let io = |e| Error::io_op(target, "write", e);
    write(tmp.as_file_mut()).map_err(io)?;
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
            .map_err(|e| Error::io_op(&target, "replace", e.error))?;
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
    before: Before,
}

enum Before {
    Missing,
    /// A hard link to the old file beside it, under a temp-file name (removed on drop, found as
    /// a leftover if the run dies): sasl_passwd and its map are megabytes at 100,000 domains,
    /// and a link costs nothing to make and is put back with one atomic rename.
    Link(TempPath),
    /// The old bytes and mode, where the filesystem makes no hard links.
    Bytes(Zeroizing<Vec<u8>>, u32),
}

impl Saved {
    pub fn capture(path: &Path) -> Result<Saved> {
        let before = match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Before::Missing,
            Err(e) => return Err(Error::io(path, e)),
            Ok(meta) => match meta.is_file().then(|| link_beside(path)) {
                Some(Ok(link)) => Before::Link(link),
                // A symlink is refused here as `read_optional` refuses it.
                _ => match (read_optional(path)?, mode_of(path)?) {
                    (Some(bytes), Some(mode)) => Before::Bytes(bytes, mode),
                    _ => Before::Missing,
                },
            },
        };
        Ok(Saved {
            path: path.to_path_buf(),
            before,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Atomically puts the old file back, or removes a file that did not exist.
    pub fn restore(&self) -> Result<()> {
        match &self.before {
            Before::Link(link) => fs::rename(link, &self.path)
                .map_err(|e| Error::io(&self.path, e))
                .and_then(|()| sync_parent(&self.path)),
            Before::Bytes(bytes, mode) => stage(&self.path, bytes, *mode)?.install(),
            Before::Missing => match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
                _ => sync_parent(&self.path),
            },
        }
    }
}

/// A hard link to `path` in its directory, named like our temp files (`.NAME.XXXXXX`).
fn link_beside(path: &Path) -> std::io::Result<TempPath> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy());
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .make_in(dir, |link| fs::hard_link(path, link))
        .map(tempfile::NamedTempFile::into_temp_path)
}

/// The temp files and dirs an interrupted run left in `dir` (they may hold a password).
pub fn leftovers(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io_op(dir, "list", e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if TEMP_PREFIXES.iter().any(|p| name.starts_with(p)) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Refuses a managed file with another name elsewhere (a hard link to the key, say): its
/// bytes would go into the diff and the backup. The links our own interrupted runs left
/// beside it (saved copies, found among `leftovers`) do not count.
pub fn check_single_links(dir: &Path, names: &[String], leftovers: &[PathBuf]) -> Result<()> {
    for name in names {
        let path = dir.join(name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        if !meta.is_file() {
            if meta.file_type().is_symlink() {
                // Refused where it is read (O_NOFOLLOW), with the error that says so.
                continue;
            }
            return Err(Error::UnsafeFile {
                path,
                reason: format!(
                    "not a regular file ({}): remove it",
                    kind_name(meta.file_type())
                ),
            });
        }
        if meta.nlink() <= 1 {
            continue;
        }
        let ours = leftovers
            .iter()
            .filter_map(|p| fs::symlink_metadata(p).ok())
            .filter(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
            .count() as u64;
        if meta.nlink() > 1 + ours {
            return Err(Error::UnsafeFile {
                path,
                reason: format!(
                    "has {} hard links: another name shares its bytes, which would go into \
                     the diff and the backup; make it a file of its own (cp, then mv)",
                    meta.nlink() - ours
                ),
            });
        }
    }
    Ok(())
}

/// Removes what [`leftovers`] found; call it only under the exclusive [`DirLock`], which every
/// writer holds while its temp files exist. A symlink is removed, never followed.
pub fn remove_leftovers(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        let removed = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(path, e));
            }
            _ => {}
        }
    }
    if let Some(first) = paths.first() {
        sync_parent(first)?;
    }
    Ok(())
}

/// Which file this is, cheap to compare on every run: a rewrite (ours are renames) gets a new
/// inode, an edit in place a new mtime or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    /// An edit in place that keeps the size and puts the mtime back (`touch -r`) still moves
    /// the ctime, which no user can set. A rename moves it too: take it after the rename.
    pub ctime_ns: i128,
}

impl FileId {
    pub fn of_meta(meta: &fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: mtime_ns(meta),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }

    /// The identity of the file at `path` (not of a symlink's target).
    pub fn of(path: &Path) -> Result<FileId> {
        fs::symlink_metadata(path)
            .map(|meta| FileId::of_meta(&meta))
            .map_err(|e| Error::io(path, e))
    }
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// The stamp's text for files about to be installed: `(live name, staged path)` pairs, each
/// line `name inode size mtime_ns`. A rename keeps the inode and mtime, so the staged file's
/// identity is the installed one's; a restore puts the old inode back (a hard link).
pub fn stamp_text(files: &[(String, &Path)]) -> Result<String> {
    let mut text = String::new();
    for (name, path) in files {
        let id = FileId::of(path)?;
        text.push_str(&format!("{name} {} {} {}\n", id.ino, id.size, id.mtime_ns));
    }
    Ok(text)
}

/// Whether the stamp in `dir` vouches for every named file as it is now. A missing or
/// unreadable stamp vouches for nothing: a run torn between renames (or before the stamp)
/// leaves files the stamp does not describe, and the next run rebuilds them. A file with
/// another identity but the same bytes (restored from a copy) is rebuilt once too: the stamp
/// keeps no digest of files that hold passwords (an older stamp's fifth field is ignored).
pub fn stamp_matches(dir: &Path, names: &[String]) -> Result<bool> {
    let Some(text) = read_bounded(&dir.join(STAMP_FILE), limits::STAMP)? else {
        return Ok(false);
    };
    let text = String::from_utf8_lossy(&text);
    let mut built = std::collections::HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if let [name, ino, size, mtime, ..] = fields[..]
            && fields.len() <= 5
            && let (Ok(ino), Ok(size), Ok(mtime_ns)) = (ino.parse(), size.parse(), mtime.parse())
        {
            built.insert(name, (ino, size, mtime_ns));
        }
    }
    for name in names {
        let now = match fs::symlink_metadata(dir.join(name)) {
            Ok(meta) if meta.is_file() => FileId::of_meta(&meta),
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(dir.join(name), e)),
        };
        if built.get(name.as_str()) != Some(&(now.ino, now.size, now.mtime_ns)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `path` could be created (its directory writable by us), creating nothing: an
/// unnamed temp file (`O_TMPFILE`) in its directory, gone when closed.
pub fn check_can_create(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    tempfile::tempfile_in(dir)
        .map(drop)
        .map_err(|e| Error::io_op(path, "create", e))
}

/// The per-Postfix-directory flock. Held for the whole run; released on drop.
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock only if the lock file exists: a run that changes nothing creates nothing.
    pub fn existing(dir: &Path, exclusive: bool) -> Result<Option<DirLock>> {
        let path = dir.join(LOCK_FILE);
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path);
        match opened {
            Ok(file) => Self::take(file, &path, exclusive).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if crate::error::is_denied(&e) => Err(Error::io_op(path, "open", e)),
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
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ENXIO) {
                    // A FIFO with no reader, opened for writing without blocking.
                    Error::UnsafeFile {
                        path: path.clone(),
                        reason: "not a regular file (a FIFO): remove it".into(),
                    }
                } else if crate::error::is_denied(&e) {
                    Error::io_op(path.clone(), "create", e)
                } else {
                    Error::Lock {
                        path: path.clone(),
                        source: e,
                    }
                }
            })?;
        Self::take(file, &path, true)
    }

    fn take(file: File, path: &Path, exclusive: bool) -> Result<DirLock> {
        let kind = file.metadata().map_err(|e| Error::io(path, e))?.file_type();
        if !kind.is_file() {
            return Err(Error::UnsafeFile {
                path: path.to_path_buf(),
                reason: format!("not a regular file ({}): remove it", kind_name(kind)),
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_bounded(&dir.path().join("gone"), 10)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_file_over_its_bound_is_unsafe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        fs::write(&path, "12345678901").unwrap();
        let err = read_bounded(&path, 10).unwrap_err();
        assert_eq!(err.code(), "unsafe_file");
        assert!(
            err.to_string().contains("larger than the 10 bytes"),
            "{err}"
        );
        assert_eq!(&*read_bounded(&path, 11).unwrap().unwrap(), b"12345678901");
    }

    #[test]
    fn a_head_read_stops_at_its_limit_whatever_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "line one\nline two\n").unwrap();
        let (head, id) = read_identified(&path, Some(4)).unwrap().unwrap();
        assert_eq!(&*head, b"line");
        assert_eq!(id.size, 18);
    }

    #[test]
    fn a_symlink_or_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, "x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(read_bounded(&link, 10).is_err());
        let err = read_bounded(dir.path(), 10).unwrap_err();
        assert_eq!(err.code(), "unsafe_file");
        assert!(err.to_string().contains("a directory"), "{err}");
    }

    #[test]
    fn the_identity_moves_with_an_edit_that_restores_the_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sasl_passwd");
        fs::write(&path, "aaaa").unwrap();
        let before = FileId::of(&path).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&path, "bbbb").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let after = FileId::of(&path).unwrap();
        assert_eq!((after.size, after.mtime_ns), (before.size, before.mtime_ns));
        assert_ne!(after, before, "only the ctime tells");
    }

    #[test]
    fn our_temp_names_are_leftovers_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".sasl_passwd.Ab12",
            "__db..sasl_passwd.Ab12.db",
            ".main.cf.Ab12",
            "__db.sasl_passwd.db",
            "sasl_passwd",
        ] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let found: Vec<String> = leftovers(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            found,
            [
                ".main.cf.Ab12",
                ".sasl_passwd.Ab12",
                "__db..sasl_passwd.Ab12.db"
            ]
        );
    }
}
