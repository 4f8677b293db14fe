//! The masked presentation of a plan, as Ansible's `--diff` shows it: main.cf, sasl_passwd and
//! the row writes, with every password replaced by the mask (`(old)`/`(new)` when it changes).

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::files::PostfixDir;
use crate::model::{
    Change, PASSWORD_MAPS, ParamRow, TransportCreds, TransportRow, USERNAME_SETTING, setting_label,
};
use crate::plan::{Creds, Inputs, Plan};
use crate::render::{self, MASK};

#[derive(Debug, Clone, Serialize)]
pub struct DiffEntry {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// The diff as Ansible shows it: main.cf, sasl_passwd and the rows, secrets masked.
pub fn diff(plan: &Plan, inputs: &Inputs) -> Vec<DiffEntry> {
    let none = Creds {
        user: SecretString::from(""),
        pass: SecretString::from(""),
    };
    let stored = plan.stored_creds.as_ref().unwrap_or(&none);
    let new = plan.new_creds.as_ref();
    let mut out = Vec::new();
    let dir = inputs.postfix_dir;
    if let Some(after) = &plan.main_cf {
        let path = PostfixDir(dir).main_cf().display().to_string();
        out.push(DiffEntry {
            before_header: path.clone(),
            after_header: path,
            before: inputs.files.main_cf.clone().unwrap_or_default(),
            after: after.clone(),
        });
    }
    if let Some(sasl) = &plan.sasl {
        let path = PostfixDir(dir).sasl_passwd().display().to_string();
        let before = inputs
            .files
            .sasl_passwd
            .as_deref()
            .map_or("", String::as_str);
        out.push(DiffEntry {
            before_header: path.clone(),
            after_header: path,
            before: render::mask_sasl(before, &sasl.text, "(old)"),
            after: render::mask_sasl(&sasl.text, before, "(new)"),
        });
    }
    if !plan.edits.is_empty() {
        let mut before = String::new();
        let mut after = String::new();
        for change in &plan.edits {
            match change {
                Change::Param {
                    before: b,
                    after: a,
                } => {
                    before.push_str(&row_line(b));
                    after.push_str(&row_line(a));
                }
                Change::Transport {
                    id,
                    before: b,
                    after: a,
                } => {
                    let (old, new) = transport_lines(*id, b, a, inputs);
                    before.push_str(&old);
                    after.push_str(&new);
                }
                Change::NewDirective { name, value } => {
                    before.push_str(&format!("parameters (no {name} rows)\n"));
                    after.push_str(&format!(
                        "parameters#new (directive) parameter={name:?} enabled=1, value {value:?} enabled=1\n"
                    ));
                }
                Change::Setting {
                    parameter,
                    before: b,
                    ..
                } => {
                    let (old, new) = setting_lines(parameter, b.is_some(), stored, new);
                    before.push_str(&old);
                    after.push_str(&new);
                }
            }
        }
        out.push(DiffEntry {
            before_header: "hermes database rows".to_string(),
            after_header: "hermes database rows".to_string(),
            before,
            after,
        });
    }
    out
}

/// A per-domain credential change: the username in clear, the password only as the mask.
fn transport_lines(
    id: i64,
    before: &TransportCreds,
    after: &TransportCreds,
    inputs: &Inputs,
) -> (String, String) {
    let label = inputs
        .snapshot
        .transports
        .iter()
        .find(|t| t.id == id)
        .map_or_else(|| format!("transport#{id}"), TransportRow::label);
    let user = |c: &TransportCreds| {
        inputs
            .key
            .decrypt(c.username_cipher.as_deref().unwrap_or(""), "transport")
            .map(|u| format!("{:?}", u.expose_secret()))
            .unwrap_or_else(|_| "(unreadable)".to_string())
    };
    let pass = |c: &TransportCreds, tag: &str| match c.password_cipher.as_deref() {
        None | Some("") => "''".to_string(),
        Some(_) if before.password_cipher == after.password_cipher => MASK.to_string(),
        Some(_) => format!("{MASK} {tag}"),
    };
    let line = |c: &TransportCreds, tag: &str| {
        format!(
            "{label} authentication={:?} username={} password={}\n",
            c.authentication.as_deref().unwrap_or(""),
            user(c),
            pass(c, tag)
        )
    };
    (line(before, "(old)"), line(after, "(new)"))
}

fn row_line(r: &ParamRow) -> String {
    let kind = if r.is_parent() { "directive" } else { "value" };
    let name = r.name.as_deref().unwrap_or("");
    // The password_maps directive's name once held the plaintext `user:pass` (legacy).
    let name = if r.is_parent() && r.param() == PASSWORD_MAPS && !name.is_empty() {
        format!("{MASK} (legacy credentials)")
    } else {
        format!("{name:?}")
    };
    format!(
        "parameters#{} ({kind}) parameter={:?} name={name} enabled={}\n",
        r.id,
        r.param(),
        r.enabled
    )
}

/// Username shown in clear (Hermes shows it too); passwords only as the mask.
fn setting_lines(
    parameter: &str,
    existed: bool,
    stored: &Creds,
    new: Option<&Creds>,
) -> (String, String) {
    let empty = SecretString::from(String::new());
    let (old, new) = match (parameter, new) {
        (USERNAME_SETTING, n) => (&stored.user, n.map_or(&empty, |c| &c.user)),
        (_, n) => (&stored.pass, n.map_or(&empty, |c| &c.pass)),
    };
    let show = |v: &SecretString, tag: &str| -> String {
        if v.expose_secret().is_empty() {
            "''".to_string()
        } else if parameter == USERNAME_SETTING {
            format!("{:?}", v.expose_secret())
        } else if old.expose_secret() != new.expose_secret() {
            format!("{MASK} {tag}")
        } else {
            MASK.to_string()
        }
    };
    let before = if existed {
        format!("{} = {}\n", setting_label(parameter), show(old, "(old)"))
    } else {
        format!("{} (no row)\n", setting_label(parameter))
    };
    (
        before,
        format!("{} = {}\n", setting_label(parameter), show(new, "(new)")),
    )
}
