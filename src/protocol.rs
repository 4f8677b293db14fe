//! The result object every interface prints: Ansible's module return keys (`changed`,
//! `failed`, `msg`, `warnings`, `diff`, `invocation`) plus ours. Salt and the CLI read the same.

use serde_json::{Map, Value, json};

use crate::apply::Failure;
use crate::args::RunMode;
use crate::run::Report;

pub fn result_json(
    outcome: &Result<Report, Failure>,
    mode: RunMode,
    echo: Option<&Map<String, Value>>,
) -> Value {
    let mut out = match outcome {
        Ok(report) => {
            let msg = match (report.changed, mode.check) {
                (false, _) => "no change".to_string(),
                (true, true) => format!("would change: {}", report.changes.join(", ")),
                (true, false) => format!("changed: {}", report.changes.join(", ")),
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
            out
        }
        Err(failure) => {
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
    };
    out["check_mode"] = json!(mode.check);
    if let Some(echo) = echo {
        out["invocation"] = json!({ "module_args": echo });
    }
    out
}
