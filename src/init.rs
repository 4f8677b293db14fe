//! `init --root DIR`: a self-contained Hermes-like tree (key, base template, Postfix dir,
//! SQLite database) to run the module against without a Hermes host. Never overwrites.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use serde_json::{Value, json};

use crate::args::{Opt, RunMode, defaults};
use crate::crypto::Key;
use crate::error::{Error, Result};
use crate::files::PostfixDir;
use crate::options::Request;
use crate::store::SqliteStore;

const TEMPLATE: &str = include_str!("../templates/main.cf.HERMES");
const MASTER_CF: &str = include_str!("../templates/master.cf");

/// Creates what is missing under `root` and returns the module args that point at it.
pub fn init(root: &Path) -> Result<Value> {
    let root = std::path::absolute(root).map_err(|e| Error::io(root, e))?;
    let key_file = defaults::under_root(&root, defaults::KEY_FILE);
    let template = defaults::under_root(&root, defaults::TEMPLATE);
    let postfix = defaults::under_root(&root, defaults::POSTFIX_DIR);
    let keys = key_file.parent().unwrap_or(&root);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(keys)
        .map_err(|e| Error::io(keys, e))?;
    for dir in [template.parent().unwrap_or(&root), &postfix] {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let key = Key::generate()?;
    write_new(&key_file, key.to_file_text().as_bytes(), 0o600)?;
    write_new(&template, TEMPLATE.as_bytes(), 0o644)?;
    write_new(
        &PostfixDir(&postfix).master_cf(),
        MASTER_CF.as_bytes(),
        0o644,
    )?;
    let vars = BTreeMap::from([
        ("banner".to_string(), "Hermes SEG".to_string()),
        ("inet_interfaces".to_string(), "loopback-only".to_string()),
    ]);
    let database = root.join(defaults::SQLITE_FILE);
    if !database.exists() {
        SqliteStore::create(&database)?;
    }
    let module_args = json!({
        Opt::Root.name(): root,
        Opt::PostfixExec.name(): [],
        Opt::Vars.name(): vars,
    });
    sync(&module_args)?;
    Ok(module_args)
}

/// Writes main.cf, sasl_passwd and its map as the seed rows describe them, through the same
/// pipeline a run takes (no reload), so that `doctor` finds a fresh tree healthy. Needs the
/// Postfix tools on this host (postconf, postmap), as every run with `postfix_exec: []` does.
fn sync(module_args: &Value) -> Result<()> {
    let input = crate::args::parse(&module_args.to_string())?;
    let (desired, mut settings) = crate::validate::validate(input.args, Request::Doctor)?;
    settings.reload = false;
    let mode = RunMode {
        check: false,
        diff: false,
    };
    crate::run::run_validated(&desired, &settings, mode).map_err(|failure| failure.error)?;
    // No one else uses a tree this young: it starts as a tree no run has changed, without a
    // lock file (a run that changes nothing creates none).
    let lock = settings.postfix_dir.join(crate::files::LOCK_FILE);
    match fs::remove_file(&lock) {
        // A second init on the same tree changed nothing, so it made no lock file.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&lock, e)),
        _ => Ok(()),
    }
}

/// Creates `path` with `bytes` unless it exists (`O_EXCL`, so a second init keeps the key).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(mut file) => file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
