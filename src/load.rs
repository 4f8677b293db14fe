//! The "load current state" step every request shares: the rendered base template, the key,
//! the rows (read under the store's lock) and the files they describe. Reads only.

use std::fs;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::args::HostType;
use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::files::PostfixDir;
use crate::files::{self, FileId, mode_of, read_optional};
use crate::model::Snapshot;
use crate::render;
use crate::store::{Scope, Store};
use crate::validate::Settings;
use crate::verified::Record;

/// What is on disk now. `None` means the file does not exist.
#[derive(Default)]
pub struct FileState {
    pub main_cf: Option<String>,
    /// The whole file, or only the relay line when a verified record vouches for the rest.
    pub sasl_passwd: Option<Zeroizing<String>>,
    /// The identity of the sasl_passwd that was read.
    pub sasl_id: Option<FileId>,
    pub sasl_mode: Option<u32>,
    pub map_mode: Option<u32>,
    /// The map may not hold what sasl_passwd says: older than it (Postfix warns about it too),
    /// or not what the stamp of the last install describes (a run torn between the renames).
    pub map_stale: bool,
    /// Temp files an interrupted run left beside the managed ones.
    pub leftovers: Vec<PathBuf>,
}

/// The base main.cf rendered with `vars`; also checks that the Postfix dir exists. A plain
/// Postfix host has none: its main.cf is edited, not rendered (empty).
pub fn base_template(settings: &Settings) -> Result<String> {
    if settings.host_type == HostType::Postfix {
        check_postfix_dir(settings)?;
        return Ok(String::new());
    }
    let template_err = |reason: String| Error::Template {
        path: settings.template.clone(),
        reason,
    };
    let bytes = match files::read_bounded(&settings.template, files::limits::TEMPLATE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(template_err("No such file or directory".into())),
        Err(e @ (Error::PermissionDenied { .. } | Error::UnsafeFile { .. })) => return Err(e),
        Err(e) => return Err(template_err(e.to_string())),
    };
    let template =
        String::from_utf8(bytes.to_vec()).map_err(|_| template_err("not valid UTF-8".into()))?;
    check_postfix_dir(settings)?;
    render::base(&settings.template, &template, &settings.vars)
}

fn check_postfix_dir(settings: &Settings) -> Result<()> {
    let dir = settings.postfix_dir.as_path();
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "postfix_dir is not a directory",
            ),
        ));
    }
    Ok(())
}

/// The key file, used with the configured cipher; a plain Postfix host's run key.
pub fn key(settings: &Settings) -> Result<Key> {
    if let Some(key) = &settings.session_key {
        return Ok(key.as_ref().clone());
    }
    Ok(Key::load(&settings.key_file)?.with_cipher(settings.cipher))
}

/// The rows and the files they describe, read while the store holds its lock. With a
/// `verified` record, neither the `transport` rows nor sasl_passwd past the relay line are read.
pub fn current(
    store: &mut dyn Store,
    dir: &Path,
    verified: Option<&Record>,
) -> Result<(Snapshot, FileState)> {
    let scope = match verified {
        Some(_) => Scope::WithoutTransports,
        None => Scope::All,
    };
    let snapshot = store.load(scope)?;
    let files = files(&snapshot, dir, verified.map(|r| r.lines.head_len))?;
    Ok((snapshot, files))
}

/// main.cf, sasl_passwd (its first `sasl_head` bytes, if given) and the modes of sasl_passwd
/// and the map its map type makes.
pub fn files(snapshot: &Snapshot, dir: &Path, sasl_head: Option<u64>) -> Result<FileState> {
    let map_suffix = render::map_suffix(snapshot.password_map().unwrap_or_default())?;
    let leftovers = files::leftovers(dir)?;
    // master.cf too: we copy it beside the staged main.cf, and Postfix tools hang on a FIFO.
    let mut managed = [
        PostfixDir::MAIN_CF,
        PostfixDir::BACKUP,
        PostfixDir::MASTER_CF,
        PostfixDir::SASL_PASSWD,
    ]
    .map(String::from)
    .to_vec();
    managed.extend(map_suffix.map(|suffix| format!("sasl_passwd{suffix}")));
    files::check_single_links(dir, &managed, &leftovers)?;
    let main_cf = read_optional(&PostfixDir(dir).main_cf())?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let sasl_path = PostfixDir(dir).sasl_passwd();
    let sasl = files::read_identified(&sasl_path, sasl_head)?;
    let sasl_id = sasl.as_ref().map(|(_, id)| *id);
    // Taken out of the read buffer, not copied: the file may be megabytes of secrets.
    let sasl_passwd = sasl.map(|(mut bytes, _)| {
        Zeroizing::new(
            String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_else(|e| {
                let bytes = Zeroizing::new(e.into_bytes());
                String::from_utf8_lossy(&bytes).into_owned()
            }),
        )
    });
    let map = map_suffix.map(|suffix| dir.join(format!("sasl_passwd{suffix}")));
    let map_mode = match &map {
        Some(path) => mode_of(path)?,
        None => None,
    };
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
    let map_stale = match (map.as_deref().and_then(modified), modified(&sasl_path)) {
        (Some(map_time), Some(source)) => {
            let names = [sasl_path.as_path(), map.as_deref().unwrap_or(&sasl_path)].map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            });
            map_time < source || !files::stamp_matches(dir, &names)?
        }
        _ => false,
    };
    Ok(FileState {
        main_cf,
        sasl_passwd,
        sasl_id,
        sasl_mode: mode_of(&sasl_path)?,
        map_mode,
        map_stale,
        leftovers,
    })
}
