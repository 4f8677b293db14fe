//! Playbooks as the tests write and run them: one play for `hosts: all` without facts, its
//! variables in a vars file (as from a vault: a failing task makes ansible-core quote the
//! playbook lines around it, so a secret written inline there would be printed by Ansible
//! itself), the location options once as `module_defaults` for the action group, then tasks
//! (JSON objects, which are YAML flow mappings) or the role; run against this host.
//!
//! Shared by the integration crate (`ansible.rs`, `plugin.rs`, `release.rs`) and the container
//! crate, which includes this file.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub const FQCN: &str = "hermes_seg.relay.relay_host";
pub const INFO: &str = "hermes_seg.relay.relay_host_info";
pub const GROUP: &str = "group/hermes_seg.relay.relay";
pub const ROLE: &str = "hermes_seg.relay.relay_host";

/// Writes playbook `dir/NAME` running `tasks` with `vars` (in `dir/NAME.vars.yml`) and, when
/// given, the location options `defaults`.
pub fn tasks(
    dir: &Path,
    name: &str,
    vars: &Value,
    defaults: Option<&Value>,
    tasks: &[Value],
) -> PathBuf {
    let lines: String = tasks.iter().map(|t| format!("    - {t}\n")).collect();
    write(dir, name, vars, defaults, &format!("  tasks:\n{lines}"))
}

/// Writes playbook `dir/NAME` running the collection's role, its variables `vars` (in
/// `dir/NAME.vars.yml`) and, when given, the location options `defaults`.
pub fn role(dir: &Path, name: &str, vars: &Value, defaults: Option<&Value>) -> PathBuf {
    write(
        dir,
        name,
        vars,
        defaults,
        &format!("  roles:\n    - {ROLE}\n"),
    )
}

fn write(dir: &Path, name: &str, vars: &Value, defaults: Option<&Value>, body: &str) -> PathBuf {
    let vars_file = dir.join(format!("{name}.vars.yml"));
    fs::write(&vars_file, vars.to_string()).unwrap();
    let defaults = defaults
        .map(|d| format!("  module_defaults: {}\n", json!({ GROUP: d })))
        .unwrap_or_default();
    let path = dir.join(name);
    fs::write(
        &path,
        format!(
            "- hosts: all\n  gather_facts: false\n  vars_files: [{vars_file:?}]\n{defaults}{body}"
        ),
    )
    .unwrap();
    path
}
