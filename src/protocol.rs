//! The result object every interface prints, as one typed [`Report`]: Ansible's module return
//! keys (`changed`, `failed`, `msg`, `warnings`, `diff`, `invocation`) plus ours, and a body per
//! request. The JSON is its serialization; the human format renders the same value
//! ([`crate::output`]), so neither reads the other back by key. Salt and the CLI read the JSON.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::args::RunMode;
use crate::certificate;
use crate::diff::DiffEntry;
use crate::doctor::Check;
use crate::failure::Failure;
use crate::info::{InfoReport, RelayInfo};
use crate::plan::Changed;
use crate::reload::ReloadReport;
use crate::rotate::RotationReport;
use crate::run;

/// One request's result.
#[derive(Debug, Serialize)]
pub struct Report {
    pub changed: bool,
    pub failed: bool,
    pub msg: String,
    pub warnings: Vec<String>,
    /// Apply and key rotation (and a failure before either could start) say whether they ran
    /// in check mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_mode: Option<bool>,
    #[serde(flatten)]
    pub body: Body,
    /// The options as given, secrets masked (Ansible's `invocation.module_args`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
}

#[derive(Debug, Serialize)]
pub struct Invocation {
    pub module_args: Map<String, Value>,
}

/// What a request reports besides the envelope.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Body {
    Apply {
        changes: Vec<Changed>,
        pending_applied: Vec<String>,
        relayhost: Option<String>,
        /// Diff mode, when something changed.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<Vec<DiffEntry>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        relay_certificate: Option<certificate::Report>,
    },
    Doctor {
        checks: Vec<Check>,
    },
    Info {
        relay: RelayInfo,
        checks: Vec<Check>,
        healthy: bool,
    },
    Rotation {
        reencrypted: usize,
        already_rotated: usize,
        key_backup: Option<PathBuf>,
    },
    Reload {},
    Failed {
        error: ErrorInfo,
        restored: Vec<String>,
    },
}

/// `error` of a failed result: the stable code users match on, and Hermes's page code.
#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub hermes_code: Option<u8>,
}

impl Report {
    /// The JSON result object; keys sorted, as every release has printed them.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).expect("a report always serializes")
    }

    fn with_invocation(mut self, echo: Option<&Map<String, Value>>) -> Report {
        self.invocation = echo.map(|module_args| Invocation {
            module_args: module_args.clone(),
        });
        self
    }
}

pub fn apply(
    outcome: Result<run::Report, Failure>,
    mode: RunMode,
    echo: Option<&Map<String, Value>>,
) -> Report {
    let mut report = match outcome {
        Ok(report) => {
            let changes: Vec<&str> = report.changes.iter().map(|c| c.as_str()).collect();
            let msg = match (report.changed, mode.check) {
                (false, _) => "no change".to_string(),
                // Only the leftovers of an interrupted run (the warning says how many).
                (true, check) if changes.is_empty() => format!(
                    "{} temp files an interrupted run left",
                    if check { "would remove" } else { "removed" }
                ),
                (true, true) => format!("would change: {}", changes.join(", ")),
                (true, false) => format!("changed: {}", changes.join(", ")),
            };
            let show_diff = mode.diff && report.changed;
            Report {
                changed: report.changed,
                failed: false,
                msg,
                warnings: report.warnings,
                check_mode: None,
                body: Body::Apply {
                    changes: report.changes,
                    pending_applied: report.pending_applied,
                    relayhost: report.relayhost,
                    diff: show_diff.then_some(report.diff),
                    relay_certificate: report.certificate,
                },
                invocation: None,
            }
        }
        Err(failure) => failed(&failure),
    };
    report.check_mode = Some(mode.check);
    report.with_invocation(echo)
}

/// The doctor's report in the same envelope: `failed` when any check failed.
pub fn doctor(outcome: Result<Vec<Check>, Failure>, echo: Option<&Map<String, Value>>) -> Report {
    let report = match outcome {
        Ok(checks) => {
            let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
            let msg = if failed.is_empty() {
                "doctor: all checks passed".to_string()
            } else {
                format!("doctor: failed checks: {}", failed.join(", "))
            };
            Report {
                changed: false,
                failed: !failed.is_empty(),
                msg,
                warnings: checks
                    .iter()
                    .filter(|c| c.warning)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect(),
                check_mode: None,
                body: Body::Doctor { checks },
                invocation: None,
            }
        }
        Err(failure) => failed(&failure),
    };
    report.with_invocation(echo)
}

/// `relay_host_info`: the stored relay settings and the doctor's checks; a failed check makes
/// the host unhealthy, not the task failed.
pub fn info(outcome: Result<InfoReport, Failure>, echo: Option<&Map<String, Value>>) -> Report {
    let report = match outcome {
        Ok(report) => {
            let relay = &report.relay;
            let failed: Vec<&str> = report
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect();
            let relay_msg = match &relay.host {
                Some(host) => format!(
                    "relay host {host}:{} (tls {}, auth {})",
                    relay.port.map_or("?".to_string(), |p| p.to_string()),
                    relay.tls.as_str(),
                    if relay.auth { "on" } else { "off" }
                ),
                None => "no relay host (direct delivery)".to_string(),
            };
            let checks_msg = if failed.is_empty() {
                "all checks passed".to_string()
            } else {
                format!("failed checks: {}", failed.join(", "))
            };
            let healthy = report.healthy();
            Report {
                changed: false,
                failed: false,
                msg: format!("{relay_msg}; {checks_msg}"),
                warnings: Vec::new(),
                check_mode: None,
                body: Body::Info {
                    relay: report.relay,
                    checks: report.checks,
                    healthy,
                },
                invocation: None,
            }
        }
        Err(failure) => failed(&failure),
    };
    report.with_invocation(echo)
}

/// A key rotation's result: how many values were (or would be) re-encrypted, the backup.
pub fn rotation(
    outcome: Result<RotationReport, Failure>,
    mode: RunMode,
    echo: Option<&Map<String, Value>>,
) -> Report {
    let mut report = match outcome {
        Ok(report) => Report {
            changed: report.changed,
            failed: false,
            msg: report.msg,
            warnings: Vec::new(),
            check_mode: None,
            body: Body::Rotation {
                reencrypted: report.reencrypted,
                already_rotated: report.already_rotated,
                key_backup: report.backup,
            },
            invocation: None,
        },
        Err(failure) => failed(&failure),
    };
    report.check_mode = Some(mode.check);
    report.with_invocation(echo)
}

/// A Postfix reload: `changed` when Postfix was reloaded.
pub fn reload(outcome: Result<ReloadReport, Failure>, echo: Option<&Map<String, Value>>) -> Report {
    let report = match outcome {
        Ok(report) => Report {
            changed: report.reloaded,
            failed: false,
            msg: if report.reloaded {
                "Postfix reloaded"
            } else {
                "Postfix not reloaded"
            }
            .to_string(),
            warnings: report.warnings,
            check_mode: None,
            body: Body::Reload {},
            invocation: None,
        },
        Err(failure) => failed(&failure),
    };
    report.with_invocation(echo)
}

/// A request that failed before it could start (unreadable arguments); `check_mode` for the
/// requests whose results carry it.
pub fn failed_early(
    failure: &Failure,
    check_mode: Option<bool>,
    echo: Option<&Map<String, Value>>,
) -> Report {
    let mut report = failed(failure);
    report.check_mode = check_mode;
    report.with_invocation(echo)
}

/// Any failure: the error's message with what was restored (and what could not be).
pub fn failed(failure: &Failure) -> Report {
    let mut msg = failure.error.to_string();
    if !failure.restored.is_empty() {
        msg.push_str(&format!("; restored: {}", failure.restored.join(", ")));
    }
    if !failure.restore_errors.is_empty() {
        msg.push_str(&format!(
            "; RESTORE FAILED, check by hand: {}",
            failure.restore_errors.join("; ")
        ));
    }
    failure_report(
        msg,
        ErrorInfo {
            code: failure.error.code(),
            hermes_code: failure.error.hermes_code(),
        },
        failure.restored.clone(),
    )
}

/// The args file could not be read: a result object all the same, with a stable code to match
/// on like every other failure.
pub fn unreadable(msg: String) -> Report {
    failure_report(
        msg,
        ErrorInfo {
            code: "args_unreadable",
            hermes_code: None,
        },
        Vec::new(),
    )
}

fn failure_report(msg: String, error: ErrorInfo, restored: Vec<String>) -> Report {
    Report {
        changed: false,
        failed: true,
        msg,
        warnings: Vec::new(),
        check_mode: None,
        body: Body::Failed { error, restored },
        invocation: None,
    }
}
