//! Key rotation, which Hermes does not have: re-encrypt every credential the key protects
//! (relay username/password, every `transport` row's) with a new key, then install the key.
//!
//! Crash-safe at any point: (1) the new key is written beside the old one as `hermes.key.new`;
//! (2) the values are re-encrypted; (3) the old key is kept as a `hermes.key.bak-…` backup;
//! (4) `hermes.key.new` is renamed over `hermes.key`. A later run finds a half-done rotation
//! (values that only the `.new` key decrypts, or a `.new` key with no old-key values left) and
//! finishes it with that key.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::SecretString;

use crate::args::{Args, RunMode};
use crate::attempt::{self, Next};
use crate::crypto::{Cipher, Key};
use crate::error::{Error, Result};
use crate::failure::Failure;
use crate::files::PostfixDir;
use crate::files::{self, FileId};
use crate::model::{
    Change, PASSWORD_SETTING, Snapshot, TRANSPORT_PASSWORD, TRANSPORT_USERNAME, TransportCreds,
    TransportRow, USERNAME_SETTING, setting_label,
};
use crate::options::Request;
use crate::store::Scope;
use crate::validate::{self, SETTING_COLUMN, TRANSPORT_COLUMN};
use crate::verified::{self, Record};

#[derive(Debug, Default)]
pub struct RotationReport {
    pub changed: bool,
    /// Values re-encrypted by this run (in check mode: that would be).
    pub reencrypted: usize,
    /// Values a crashed run had already re-encrypted.
    pub already_rotated: usize,
    pub backup: Option<PathBuf>,
    pub msg: String,
}

/// Where a stored credential lives; named only when a message needs it.
enum Row<'a> {
    Setting(&'static str),
    Transport(&'a TransportRow, &'static str),
}

impl Row<'_> {
    fn name(&self) -> String {
        match self {
            Row::Setting(parameter) => setting_label(parameter),
            Row::Transport(t, column) => t.column_label(column),
        }
    }
}

/// One stored credential: where it lives and its value.
struct Value<'a> {
    row: Row<'a>,
    stored: &'a str,
    column: usize,
    slot: Slot,
}

#[derive(Clone, Copy)]
enum Slot {
    Setting(&'static str),
    TransportUser(usize),
    TransportPass(usize),
}

/// The key in use and the one a rotation installs; `resuming` when a crashed rotation staged it.
struct Keys {
    old: Key,
    new: Key,
    resuming: bool,
}

pub fn rotate(args: Args, mode: RunMode) -> Result<RotationReport, Failure> {
    let settings = validate::settings(&args, Request::RotateKey)?;
    let old_cipher = settings.cipher;
    let new_cipher = args.new_cipher.unwrap_or(old_cipher);
    let key_file = settings.key_file.clone();
    let staged = sibling(&key_file, ".new");
    let given = args.new_key_file.as_deref().map(PathBuf::from);
    // The keys are read under the lock: a concurrent rotation may be installing a new one.
    // `None`: the given key is the current one.
    let read_keys = |locked: bool| -> Result<Next<Option<Keys>>, Failure> {
        let old = Key::load(&key_file)?.with_cipher(old_cipher);
        let resuming = given.is_none() && staged.exists();
        let new = match (&given, resuming) {
            (Some(path), _) => Key::load(path)?,
            (None, true) => Key::load(&staged)?,
            (None, false) => Key::generate()?,
        }
        .with_cipher(new_cipher);
        if given.is_some() && new.same_bytes(&old) && new_cipher == old_cipher {
            return Ok(Next::Done(None));
        }
        if mode.check || locked {
            return Ok(Next::Done(Some(Keys { old, new, resuming })));
        }
        // A change follows: read the keys again under the lock.
        Ok(Next::Lock)
    };
    let (keys, lock) = attempt::until_done(&settings.postfix_dir, mode.check, read_keys)?;
    let Some(Keys { old, new, resuming }) = keys else {
        return Ok(RotationReport {
            msg: "the key is already current: no change".to_string(),
            ..RotationReport::default()
        });
    };
    let mut store = settings.database.open(!mode.check)?;
    let snapshot = store.load(Scope::All)?;
    let dir = settings.postfix_dir.as_path();
    // New ciphertexts of the same credentials: what a record vouched for stays true.
    let record = verified::read(dir)?.filter(|r| {
        store
            .version()
            .is_ok_and(|v| r.vouches_for(v.as_deref(), &old))
            && FileId::of(&PostfixDir(dir).sasl_passwd()).is_ok_and(|id| id == r.sasl_passwd)
    });
    let (changes, already) = reencrypt(&snapshot, &old, &new)?;
    let mut report = RotationReport {
        changed: true,
        reencrypted: changes.iter().map(count).sum(),
        already_rotated: already,
        ..RotationReport::default()
    };
    if mode.check {
        // What the real run writes first, checked without writing: the lock file, the staged
        // key and its backup beside the key, the rows.
        if lock.is_none() {
            files::check_can_create(&settings.postfix_dir.join(files::LOCK_FILE))?;
        }
        files::check_can_create(&staged)?;
        settings.database.check_writable()?;
        report.msg = format!(
            "would re-encrypt {} credential(s) and install a new key",
            report.reencrypted
        );
        return Ok(report);
    }

    if !resuming {
        files::stage(&staged, new.to_file_text().as_bytes(), 0o600)?.install()?;
    }
    store
        .write(&changes)
        .and_then(|()| store.commit())
        .map_err(|error| {
            let mut failure = Failure::from(error);
            failure.roll_back_store(store.as_mut());
            failure
        })?;
    let backup = backup_path(&key_file);
    install_key(&old, &staged, &backup, &key_file)
        .map_err(|e| Error::RotationUnfinished(e.to_string()))?;
    if let (Some(record), Ok(Some(version))) = (record, store.version()) {
        let renewed = Record::new(version, &new, record.sasl_passwd, record.lines);
        // Only a cost if it fails: the next run reads every row.
        let _ = verified::write(dir, &renewed);
    }
    report.msg = format!(
        "re-encrypted {} credential(s){}; new key installed, previous key kept as {}",
        report.reencrypted,
        if already > 0 {
            format!(" (finished a half-done rotation: {already} were already done)")
        } else {
            String::new()
        },
        backup.display()
    );
    report.backup = Some(backup);
    Ok(report)
}

/// Keeps the old key as `backup`, then renames the staged key over `key_file`.
fn install_key(old: &Key, staged: &Path, backup: &Path, key_file: &Path) -> Result<()> {
    files::stage(backup, old.to_file_text().as_bytes(), 0o600)?.install()?;
    std::fs::rename(staged, key_file).map_err(|e| Error::io(key_file, e))?;
    files::sync_parent(key_file)
}

fn count(change: &Change) -> usize {
    match change {
        Change::Setting { .. } => 1,
        Change::Transport { before, after, .. } => {
            usize::from(before.username_cipher != after.username_cipher)
                + usize::from(before.password_cipher != after.password_cipher)
        }
        _ => 0,
    }
}

/// Every value the old key decrypts, encrypted with the new key. A value only the new key
/// decrypts was done by a crashed run; one that neither decrypts stops everything, named.
fn reencrypt(snap: &Snapshot, old: &Key, new: &Key) -> Result<(Vec<Change>, usize)> {
    let mut values = vec![
        Value {
            row: Row::Setting(USERNAME_SETTING),
            stored: snap.username_cipher.as_deref().unwrap_or(""),
            column: SETTING_COLUMN,
            slot: Slot::Setting(USERNAME_SETTING),
        },
        Value {
            row: Row::Setting(PASSWORD_SETTING),
            stored: snap.password_cipher.as_deref().unwrap_or(""),
            column: SETTING_COLUMN,
            slot: Slot::Setting(PASSWORD_SETTING),
        },
    ];
    for (i, t) in snap.transports.iter().enumerate() {
        values.push(Value {
            row: Row::Transport(t, TRANSPORT_USERNAME),
            stored: t.username_cipher.as_deref().unwrap_or(""),
            column: TRANSPORT_COLUMN,
            slot: Slot::TransportUser(i),
        });
        values.push(Value {
            row: Row::Transport(t, TRANSPORT_PASSWORD),
            stored: t.password_cipher.as_deref().unwrap_or(""),
            column: TRANSPORT_COLUMN,
            slot: Slot::TransportPass(i),
        });
    }
    let mut settings = Vec::new();
    let mut transports: Vec<Option<TransportCreds>> = vec![None; snap.transports.len()];
    let mut already = 0;
    for v in values.iter().filter(|v| !v.stored.is_empty()) {
        let plain: SecretString = match old.decrypt_as(v.stored, || v.row.name()) {
            Ok(plain) => plain,
            Err(_) if new.decrypt_as(v.stored, || v.row.name()).is_ok() => {
                already += 1;
                continue;
            }
            Err(e) => {
                return Err(Error::Decrypt {
                    row: v.row.name(),
                    reason: format!("neither the current nor the new key decrypts it ({e})"),
                });
            }
        };
        let cipher = new.encrypt(&plain)?;
        if cipher.len() > v.column {
            return Err(Error::InvalidArgs(format!(
                "{}: too long for {} in its column ({} bytes at most)",
                v.row.name(),
                cipher_name(new.cipher()),
                new.cipher().max_plain_bytes(v.column)
            )));
        }
        match v.slot {
            Slot::Setting(parameter) => settings.push(Change::Setting {
                parameter,
                before: Some(v.stored.to_string()),
                after: cipher,
            }),
            Slot::TransportUser(i) | Slot::TransportPass(i) => {
                let t = &snap.transports[i];
                let creds = transports[i].get_or_insert_with(|| t.creds());
                match v.slot {
                    Slot::TransportUser(_) => creds.username_cipher = Some(cipher),
                    _ => creds.password_cipher = Some(cipher),
                }
            }
        }
    }
    let mut changes = settings;
    for (t, after) in snap.transports.iter().zip(transports) {
        if let Some(after) = after {
            changes.push(Change::Transport {
                id: t.id,
                before: t.creds(),
                after,
            });
        }
    }
    Ok((changes, already))
}

fn cipher_name(cipher: Cipher) -> &'static str {
    match cipher {
        Cipher::Ecb => "AES-256-ECB",
        Cipher::Cbc => "AES-256-CBC",
    }
}

/// `hermes.key` → `hermes.key<suffix>` in the same directory.
fn sibling(key_file: &Path, suffix: &str) -> PathBuf {
    let mut name = key_file.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    key_file.with_file_name(name)
}

/// A backup name no earlier rotation used: `hermes.key.bak-<unix seconds>[-n]`.
fn backup_path(key_file: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut candidate = sibling(key_file, &format!(".bak-{secs}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = sibling(key_file, &format!(".bak-{secs}-{n}"));
        n += 1;
    }
    candidate
}
