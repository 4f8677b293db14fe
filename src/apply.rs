//! Carries out a plan all-or-nothing: stage every file (postmap included) before the first
//! write, then rows, files, reload, applied marks; on any failure after the first write put
//! back the rows and files as they were and reload the old config if the new one was loaded.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::Error;
use crate::failure::Failure;
use crate::files::PostfixDir;
use crate::files::{self, FileId, Saved, Staged, stage};
use crate::model;
use crate::plan::{Plan, Tail};
use crate::postfix::{Postfix, StatusCheck};
use crate::store::Store;

pub struct Target<'a> {
    pub dir: &'a Path,
    pub postfix: &'a Postfix,
    pub reload: bool,
    /// Copy the old main.cf to `main.cf.HERMES` first, as Hermes's generator does (a Hermes
    /// host); a plain Postfix host gets no file it did not have.
    pub backup: bool,
}

/// A file ready to be renamed into place, with the copy to put back.
struct Install {
    saved: Saved,
    staged: Staged,
}

/// What a successful apply did besides the plan.
pub struct Applied {
    pub warnings: Vec<String>,
    /// The identity of the sasl_passwd it installed.
    pub sasl_passwd: Option<FileId>,
}

pub fn apply(plan: &Plan, store: &mut dyn Store, target: &Target) -> Result<Applied, Failure> {
    let (installs, mut sasl_passwd, running) = prepare(plan, target)?;
    let mut installed: Vec<Saved> = Vec::new();
    let mut reloaded = false;
    let mut warnings = Vec::new();
    let result = (|| {
        store.write(&plan.edits)?;
        for install in installs {
            // Put back even when only the directory fsync after the rename failed.
            installed.push(install.saved);
            install.staged.install()?;
        }
        if sasl_passwd.is_some() {
            // The rename moved its ctime: the identity a record keeps is the installed one's.
            sasl_passwd = Some(FileId::of(&PostfixDir(target.dir).sasl_passwd())?);
        }
        if !installed.is_empty() && target.reload && running {
            reloaded = true;
            target.postfix.reload()?;
        }
        warnings.extend(reload_warning(
            !installed.is_empty(),
            target.reload,
            running,
        ));
        store.write(&plan.marks)?;
        store.commit()
    })();
    match result {
        Ok(()) => Ok(Applied {
            warnings,
            sasl_passwd,
        }),
        Err(error) => Err(roll_back(error, store, &installed, reloaded, target)),
    }
}

/// Check mode: every step the real run takes before its first write (the staged config
/// checked through `postfix_exec`, the map built and queried, Postfix asked whether it runs),
/// so that its verdict and warnings (a reload it would skip) are the real run's. What it
/// staged is removed on return.
pub fn preflight(plan: &Plan, target: &Target) -> Result<Vec<String>, Error> {
    let (installs, _, running) = prepare(plan, target)?;
    Ok(reload_warning(!installs.is_empty(), target.reload, running)
        .into_iter()
        .collect())
}

/// The warning of a run that installs files and would reload a Postfix that does not run.
fn reload_warning(installs: bool, reload: bool, running: bool) -> Option<String> {
    (installs && reload && !running).then(|| "Postfix is not running: reload skipped".to_string())
}

/// Everything before the first write: the files staged and whether Postfix runs (asked only
/// when a file changes and a reload may follow; an unreachable Postfix is an error here).
fn prepare(plan: &Plan, target: &Target) -> Result<(Vec<Install>, Option<FileId>, bool), Error> {
    // Asked before main.cf is replaced (Postfix commands wait for a main.cf younger than ~2 s
    // to settle, which would slow every changing run), and while the files are staged.
    let touches_files = plan.main_cf.is_some() || plan.sasl.is_some();
    let status = (target.reload && touches_files).then(|| target.postfix.start_status());
    let (installs, sasl_passwd) = stage_all(plan, target)?;
    let running = status
        .map(StatusCheck::is_running)
        .transpose()?
        .unwrap_or(false);
    Ok((installs, sasl_passwd, running))
}

/// Writes every new file beside its target and builds the map from the staged sasl_passwd, so
/// a postmap failure happens before anything is touched (Postfix's DATABASE_README: build a
/// new map, then rename it into place). Also returns the staged sasl_passwd's identity, which
/// the rename keeps.
fn stage_all(plan: &Plan, target: &Target) -> Result<(Vec<Install>, Option<FileId>), Error> {
    let dir = target.dir;
    let mut installs = Vec::new();
    // Kept until the map is built: postmap reads the checked new config, not the live one.
    let mut checked = None;
    if let Some(main_cf) = &plan.main_cf {
        checked = Some(check_staged_config(main_cf, target)?);
        let live = PostfixDir(dir).main_cf();
        let old = Saved::capture(&live)?;
        let backup = PostfixDir(dir).backup();
        if target.backup
            && let Some((bytes, _)) = files::read_identified(&live, None)?
        {
            // Never wider than the file it copies.
            let mode = files::mode_of(&live)?.unwrap_or(0o600) & 0o644;
            installs.push(Install {
                staged: stage(&backup, &bytes, mode)?,
                saved: Saved::capture(&backup)?,
            });
        }
        let staged = stage(&live, main_cf.as_bytes(), 0o644)?;
        settle(staged.path())?;
        installs.push(Install { staged, saved: old });
    }
    let staged_tools = checked
        .as_ref()
        .map(|(_, name)| target.postfix.with_staged_config(name));
    let tools = staged_tools.as_ref().unwrap_or(target.postfix);
    let mut sasl_id = None;
    if let Some(sasl) = &plan.sasl {
        let live = PostfixDir(dir).sasl_passwd();
        let source = files::stage_with(&live, 0o600, |file| {
            file.write_all(sasl.text.as_bytes())?;
            match &sasl.tail {
                Some(tail) => copy_tail(&live, tail, file),
                None => Ok(()),
            }
        })?;
        sasl_id = Some(FileId::of(source.path())?);
        if let Some(suffix) = sasl.map_suffix {
            let tmp_name = source
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let made = source.path().with_file_name(format!("{tmp_name}{suffix}"));
            let map_live = dir.join(format!("sasl_passwd{suffix}"));
            let postmapped = tools.postmap(&sasl.map_type, &tmp_name);
            let map = Staged::adopt(made, map_live.clone());
            postmapped?;
            if let Some((key, expected)) = &sasl.relay_entry {
                let answer = tools.query(&sasl.map_type, &tmp_name, key)?;
                if answer.as_deref().map(String::as_str) != Some(expected.as_str()) {
                    return Err(Error::Postmap(format!(
                        "the built map does not answer {key} with the relay credentials"
                    )));
                }
            }
            let map = map?;
            let stamp = files::stamp_text(&[
                (PostfixDir::SASL_PASSWD.to_string(), source.path()),
                (format!("sasl_passwd{suffix}"), map.path()),
            ])?;
            installs.push(Install {
                staged: map,
                saved: Saved::capture(&map_live)?,
            });
            installs.push(Install {
                staged: source,
                saved: Saved::capture(&live)?,
            });
            // Last: until it is in place the stamp describes the old files, so a run torn
            // between the renames leaves a map the next run and doctor see as stale.
            let stamp_live = dir.join(files::STAMP_FILE);
            installs.push(Install {
                staged: stage(&stamp_live, stamp.as_bytes(), 0o600)?,
                saved: Saved::capture(&stamp_live)?,
            });
        } else {
            installs.push(Install {
                staged: source,
                saved: Saved::capture(&live)?,
            });
        }
    }
    Ok((installs, sasl_id))
}

/// Appends the installed sasl_passwd from `tail.from` (the per-domain lines a record vouches
/// for), if it still is the file the record describes. A kernel copy: the lines never pass
/// through this process.
fn copy_tail(live: &Path, tail: &Tail, out: &mut File) -> std::io::Result<()> {
    let mut file = files::open_nofollow(live)?;
    if FileId::of_meta(&file.metadata()?) != tail.file {
        return Err(std::io::Error::other(
            "changed since this run read it; run again",
        ));
    }
    file.seek(SeekFrom::Start(tail.from))?;
    std::io::copy(&mut file, out).map(drop)
}

/// `postconf -n` on the new main.cf next to the current master.cf, in a scratch directory
/// inside the managed one (so a container prefix sees it too), before anything is installed.
/// Returns the scratch directory (removed on drop) and its name.
fn check_staged_config(
    main_cf: &str,
    target: &Target,
) -> Result<(tempfile::TempDir, String), Error> {
    let scratch = tempfile::Builder::new()
        .prefix(".hermes-relayhost.check.")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(target.dir)
        .map_err(|e| Error::io(target.dir, e))?;
    let staged = PostfixDir(scratch.path()).main_cf();
    std::fs::write(&staged, main_cf).map_err(|e| Error::io(&staged, e))?;
    settle(&staged)?;
    let master = PostfixDir(target.dir).master_cf();
    if let Some(bytes) = files::read_optional(&master)? {
        let copy = PostfixDir(scratch.path()).master_cf();
        std::fs::write(&copy, &bytes).map_err(|e| Error::io(&copy, e))?;
    }
    let name = scratch
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.postfix.check_config(&name, &model::MANAGED)?;
    Ok((scratch, name))
}

/// Gives a staged main.cf an mtime in the past. Every Postfix command that reads a main.cf
/// modified within about the last second (postconf, postmap, `postfix status`, and `postfix
/// reload`'s own postconf/postsuper) re-reads it every 300 ms until it is that old
/// (`dict_load_file_xt`), so that it never parses a half-written file: ~1.5-2 s per changing
/// run. Our file is written in full and fsynced before it is renamed into place, so there is
/// nothing to settle. The master picks up the new file on the reload signal, not by its
/// mtime (the e2e tests reload a live Postfix after every apply and deliver through the new
/// relay settings).
fn settle(path: &Path) -> Result<(), Error> {
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .map_err(|e| Error::io(path, e))
}

fn roll_back(
    error: Error,
    store: &mut dyn Store,
    installed: &[Saved],
    reloaded: bool,
    target: &Target,
) -> Failure {
    let mut failure = Failure::from(error);
    for saved in installed.iter().rev() {
        failure.restore_step(saved.path().display().to_string(), saved.restore());
    }
    failure.roll_back_store(store);
    if reloaded && target.postfix.is_running().unwrap_or(false) {
        failure.restore_step(
            "postfix reloaded with the previous config",
            target.postfix.reload(),
        );
    }
    failure
}
