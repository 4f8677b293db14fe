//! One module run: validate → load (under the locks) → plan → apply, or stop after the plan in
//! check mode or when there is nothing to do.

use crate::apply::{self, Target};
use crate::args::{Args, RunMode};
use crate::diff::{self, DiffEntry};
use crate::failure::Failure;
use crate::files::{self, DirLock};
use crate::load;
use crate::options::Request;
use crate::plan::{self, Changed, Inputs};
use crate::postfix::Postfix;
use crate::probe;
use crate::validate::{self, Wanted};

/// What a successful run did (or, in check mode, would do).
#[derive(Debug, Default)]
pub struct Report {
    pub changed: bool,
    pub changes: Vec<Changed>,
    pub diff: Vec<DiffEntry>,
    pub warnings: Vec<String>,
    pub pending_applied: Vec<String>,
    pub relayhost: Option<String>,
}

pub fn run(args: Args, mode: RunMode) -> Result<Report, Failure> {
    let (desired, settings) = validate::validate(args, Request::Apply)?;
    let base = load::base_template(&settings)?;
    let dir = settings.postfix_dir.as_path();
    let postfix = Postfix::new(&settings.postfix_exec, &settings.postfix_exec_dir);
    let mut lock = DirLock::existing(dir, !mode.check)?;
    let mut probed = false;
    loop {
        let mut store = settings.database.open(!mode.check)?;
        // Read under the locks: a key rotation may have installed a new key meanwhile.
        let key = load::key(&settings)?;
        let (snapshot, file_state) = load::current(store.as_mut(), dir)?;
        let inputs = Inputs {
            snapshot: &snapshot,
            files: &file_state,
            key: &key,
            base: &base,
            exec_dir: &settings.postfix_exec_dir,
            postfix_dir: dir,
        };
        let plan = plan::plan(&desired, &inputs)?;
        let leftovers = &file_state.leftovers;
        let mut report = Report {
            changed: !plan.is_noop() || !leftovers.is_empty(),
            relayhost: match &desired.relay {
                Wanted::Present(r) => Some(r.host.relay_literal(r.port)),
                Wanted::Absent | Wanted::Keep => None,
            },
            ..Report::default()
        };
        if !report.changed {
            report.warnings = plan.warnings;
            return Ok(report);
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
            probe::probe(relay, login, allowed)?;
            probed = true;
            continue;
        }
        if !mode.check && lock.is_none() {
            // The plan was made without the lock; take it and plan again under it.
            drop(store);
            lock = Some(DirLock::create(dir)?);
            continue;
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
        if !mode.check && !plan.is_noop() {
            let target = Target {
                dir,
                postfix: &postfix,
                reload: settings.reload,
            };
            let applied = apply::apply(&plan, store.as_mut(), &target)?;
            report.warnings.extend(applied);
        }
        report.warnings.splice(0..0, plan.warnings.iter().cloned());
        report.pending_applied = plan.pending;
        return Ok(report);
    }
}
