//! The result object every interface prints: Ansible's module return keys (`changed`,
//! `failed`, `msg`, `warnings`, `diff`, `invocation`) plus ours. Salt and the CLI read the same.

use serde_json::{Map, Value, json};

use crate::args::RunMode;
use crate::doctor::Check;
use crate::failure::Failure;
use crate::info::InfoReport;
use crate::reload::ReloadReport;
use crate::rotate::RotationReport;
use crate::run::Report;

pub fn result_json(
    outcome: &Result<Report, Failure>,
    mode: RunMode,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let mut out = match outcome {
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
            let mut out = json!({
                "changed": report.changed,
                "failed": false,
                "msg": msg,
                "warnings": report.warnings,
                "changes": report.changes,
                "pending_applied": report.pending_applied,
                "relayhost": report.relayhost,
            });
            if mode.diff && report.changed {
                out["diff"] = json!(report.diff);
            }
            if let Some(certificate) = &report.certificate {
                out["relay_certificate"] = json!(certificate);
            }
            out
        }
        Err(failure) => failure_json(failure),
    };
    out["check_mode"] = json!(mode.check);
    with_invocation(out, echo)
}

/// The doctor's report in the same envelope: `failed` when any check failed.
pub fn doctor_json(
    outcome: &Result<Vec<Check>, Failure>,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let out = match outcome {
        Ok(checks) => {
            let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
            let msg = if failed.is_empty() {
                "doctor: all checks passed".to_string()
            } else {
                format!("doctor: failed checks: {}", failed.join(", "))
            };
            json!({
                "changed": false,
                "failed": !failed.is_empty(),
                "msg": msg,
                "checks": checks,
                "warnings": checks
                    .iter()
                    .filter(|c| c.warning)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect::<Vec<_>>(),
            })
        }
        Err(failure) => failure_json(failure),
    };
    with_invocation(out, echo)
}

/// `relay_host_info`: the stored relay settings and the doctor's checks; a failed check makes
/// the host unhealthy, not the task failed.
pub fn info_json(
    outcome: &Result<InfoReport, Failure>,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let out = match outcome {
        Ok(report) => {
            let relay = &report.relay;
            let failed: Vec<&str> = report
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect();
            let relay_msg = match &relay.host {
                Some(_) => format!(
                    "relay host {}:{} (tls {}, auth {})",
                    relay.host.as_deref().unwrap_or_default(),
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
            json!({
                "changed": false,
                "failed": false,
                "msg": format!("{relay_msg}; {checks_msg}"),
                "relay": relay,
                "checks": report.checks,
                "healthy": report.healthy(),
                "warnings": [],
            })
        }
        Err(failure) => failure_json(failure),
    };
    with_invocation(out, echo)
}

/// A key rotation's result: how many values were (or would be) re-encrypted, the backup.
pub fn rotation_json(
    outcome: &Result<RotationReport, Failure>,
    mode: RunMode,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let mut out = match outcome {
        Ok(report) => json!({
            "changed": report.changed,
            "failed": false,
            "msg": report.msg,
            "warnings": [],
            "reencrypted": report.reencrypted,
            "already_rotated": report.already_rotated,
            "key_backup": report.backup,
        }),
        Err(failure) => failure_json(failure),
    };
    out["check_mode"] = json!(mode.check);
    with_invocation(out, echo)
}

/// A Postfix reload: `changed` when Postfix was reloaded.
pub fn reload_json(
    outcome: &Result<ReloadReport, Failure>,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let out = match outcome {
        Ok(report) => json!({
            "changed": report.reloaded,
            "failed": false,
            "msg": if report.reloaded { "Postfix reloaded" } else { "Postfix not reloaded" },
            "warnings": report.warnings,
        }),
        Err(failure) => failure_json(failure),
    };
    with_invocation(out, echo)
}

/// A request that failed before it could start (unreadable arguments); `check_mode` for the
/// requests whose results carry it.
pub fn failed(
    failure: &Failure,
    check_mode: Option<bool>,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let mut out = failure_json(failure);
    if let Some(check) = check_mode {
        out["check_mode"] = json!(check);
    }
    with_invocation(out, echo)
}

fn failure_json(failure: &Failure) -> Value {
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
    json!({
        "changed": false,
        "failed": true,
        "msg": msg,
        "warnings": [],
        "error": {
            "code": failure.error.code(),
            "hermes_code": failure.error.hermes_code(),
        },
        "restored": failure.restored,
    })
}

fn with_invocation(mut out: Value, echo: Option<&Map<String, Value>>) -> Value {
    if let Some(echo) = echo {
        out["invocation"] = json!({ "module_args": echo });
    }
    out
}
