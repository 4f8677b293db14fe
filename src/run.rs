//! One module run: validate → load (under the locks) → plan → apply, or stop after the plan in
//! check mode or when there is nothing to do.

use std::path::Path;

use crate::apply::{self, Target};
use crate::args::{Args, RunMode};
use crate::attempt::{self, Next};
use crate::crypto::Key;
use crate::diff::{self, DiffEntry};
use crate::failure::Failure;
use crate::files::{self, FileId};
use crate::load;
use crate::options::Request;
use crate::plan::{self, Changed, Inputs, Plan};
use crate::postfix::Postfix;
use crate::probe;
use crate::store::Store;
use crate::validate::{self, Desired, Settings, Wanted};
use crate::verified::{self, Record};

/// What a successful run did (or, in check mode, would do).
#[derive(Debug, Default)]
pub struct Report {
    pub changed: bool,
    pub changes: Vec<Changed>,
    pub diff: Vec<DiffEntry>,
    pub warnings: Vec<String>,
    pub pending_applied: Vec<String>,
    pub relayhost: Option<String>,
    /// The relay's certificate, when a probe at `tls: verify`/`secure` judged it.
    pub certificate: Option<crate::certificate::Report>,
}

pub fn run(args: Args, mode: RunMode) -> Result<Report, Failure> {
    let (desired, settings) = validate::validate(args, Request::Apply)?;
    run_validated(&desired, &settings, mode)
}

/// The run after validation; `init` calls it to write the files its rows describe.
pub fn run_validated(
    desired: &Desired,
    settings: &Settings,
    mode: RunMode,
) -> Result<Report, Failure> {
    let base = load::base_template(settings)?;
    let dir = settings.postfix_dir.as_path();
    let postfix = Postfix::new(&settings.postfix_exec, &settings.postfix_exec_dir);
    let mut probed = false;
    let mut certificate = None;
    // Diff mode shows sasl_passwd line by line, and `transport_auth` edits the rows a record
    // vouches for: both read every row.
    let mut trust_record = !mode.diff && desired.transport_auth.is_empty();
    let attempt = |locked: bool| -> Result<Next<Report>, Failure> {
        let mut store = settings.database.open(!mode.check)?;
        if mode.check {
            settings.database.check_writable()?;
        }
        // Read under the locks: a key rotation may have installed a new key meanwhile.
        let key = load::key(settings)?;
        // Also taken when the record is not trusted: the commit's version is judged against it.
        let version = store.version()?;
        let record = if trust_record {
            verified::read(dir)?.filter(|r| r.vouches_for(version.as_deref(), &key))
        } else {
            None
        };
        let (snapshot, file_state) = load::current(store.as_mut(), dir, record.as_ref())?;
        let inputs = Inputs {
            snapshot: &snapshot,
            files: &file_state,
            key: &key,
            base: &base,
            exec_dir: &settings.postfix_exec_dir,
            postfix_dir: dir,
            edit_in_place: settings.host_type == crate::args::HostType::Postfix,
        };
        let plan = match &record {
            None => plan::plan(desired, &inputs)?,
            Some(record) => match plan::plan_verified(desired, &inputs, record)? {
                Some(plan) => plan,
                None => {
                    trust_record = false;
                    return Ok(Next::Again);
                }
            },
        };
        let leftovers = &file_state.leftovers;
        let mut report = Report {
            changed: !plan.is_noop() || !leftovers.is_empty(),
            relayhost: match &desired.relay {
                Wanted::Present(r) => Some(r.host.relay_literal(r.port)),
                Wanted::Absent | Wanted::Keep => None,
            },
            certificate: certificate.clone(),
            ..Report::default()
        };
        if !report.changed {
            report.warnings = plan.warnings;
            return Ok(Next::Done(report));
        }
        if settings.probe
            && !plan.is_noop()
            && !probed
            && let (Wanted::Present(relay), Some(login)) = (&desired.relay, &plan.login)
        {
            // No database lock is held while talking to the network; plan again after.
            drop(store);
            let main_cf = plan.main_cf.as_deref().or(file_state.main_cf.as_deref());
            let allowed = probe::plaintext_allowed(main_cf.unwrap_or(&base));
            certificate = probe::probe(relay, login, allowed)?;
            probed = true;
            return Ok(Next::Again);
        }
        if !mode.check && !locked {
            // The plan was made without the lock; plan again under it.
            drop(store);
            return Ok(Next::Lock);
        }
        if !leftovers.is_empty() {
            if !mode.check {
                files::remove_leftovers(leftovers)?;
            }
            report.warnings.push(format!(
                "{} {} temp file(s) an interrupted run left in {}",
                if mode.check {
                    "would remove"
                } else {
                    "removed"
                },
                leftovers.len(),
                dir.display()
            ));
        }
        report.changes = plan.changes();
        if mode.diff {
            // Built only in diff mode: it costs a pass over sasl_passwd.
            report.diff = diff::diff(&plan, &inputs);
        }
        let target = Target {
            dir,
            postfix: &postfix,
            reload: settings.reload,
            backup: settings.host_type == crate::args::HostType::Hermes,
        };
        if mode.check && !plan.is_noop() {
            if !locked {
                files::check_can_create(&dir.join(files::LOCK_FILE))?;
            }
            report.warnings.extend(apply::preflight(&plan, &target)?);
        }
        if !mode.check && !plan.is_noop() {
            let applied = apply::apply(&plan, store.as_mut(), &target)?;
            report.warnings.extend(applied.warnings);
            let sasl_passwd = applied.sasl_passwd.or(file_state.sasl_id);
            report.warnings.extend(record_verified(
                dir,
                store.as_mut(),
                &key,
                &plan,
                sasl_passwd,
            ));
        }
        report.warnings.splice(0..0, plan.warnings.iter().cloned());
        report.pending_applied = plan.pending;
        Ok(Next::Done(report))
    };
    Ok(attempt::until_done(dir, mode.check, attempt)?.0)
}

/// After the commit: records what this run wrote or verified, so that the next run need not
/// read the `transport` rows (see [`verified`]). Failing costs only that, and a warning.
fn record_verified(
    dir: &Path,
    store: &mut dyn Store,
    key: &Key,
    plan: &Plan,
    sasl_passwd: Option<FileId>,
) -> Option<String> {
    let (Ok(Some(version)), Some(sasl_passwd)) = (store.version(), sasl_passwd) else {
        return None;
    };
    let record = Record::new(version, key, sasl_passwd, plan.domain_lines.clone());
    verified::write(dir, &record)
        .err()
        .map(|e| format!("the next run reads every row again: {e}"))
}
