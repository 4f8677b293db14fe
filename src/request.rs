//! Which request a run is (apply, doctor, key rotation, info) from how the binary was called and
//! the options given, and its typed outcome: the JSON result plus what the exit code needs.

use serde_json::{Value, json};

use crate::args::{self, Input, RunMode};
use crate::diff::DiffEntry;
use crate::options::Request;
use crate::{doctor, info, protocol, reload, rotate, run};

/// How the binary was called.
#[derive(Debug, Clone, Copy)]
pub enum Entry {
    /// `hermes-relayhost ARGS.json`, as Ansible runs a binary module.
    Module,
    /// `apply --args-file`, with the flags of the command line.
    Apply(RunMode),
    Doctor,
    RotateKey {
        check: bool,
    },
    Reload,
}

/// What a request did: the result object and the facts the exit code is made of.
#[derive(Debug)]
pub struct Outcome {
    pub json: Value,
    pub failed: bool,
    pub changed: bool,
    /// The masked diff (diff mode), for a unified diff on the terminal.
    pub diff: Vec<DiffEntry>,
}

impl Outcome {
    fn new(json: Value, failed: bool, changed: bool) -> Outcome {
        Outcome {
            json,
            failed,
            changed,
            diff: Vec::new(),
        }
    }

    /// The args file could not be read: a result object all the same.
    pub fn unreadable(msg: String) -> Outcome {
        Outcome::new(
            json!({
                "failed": true,
                "changed": false,
                "msg": msg,
                // Like every other failure: a stable code to match on.
                "error": { "code": "args_unreadable", "hermes_code": null },
            }),
            true,
            false,
        )
    }
}

/// The request with its run mode (flags on the command line add to those in the file).
enum Chosen {
    Apply(RunMode),
    Doctor,
    Rotate(RunMode),
    Info,
    Reload,
}

impl Chosen {
    fn of(entry: Entry, input: &Input) -> Chosen {
        let file = input.mode;
        let cli = match entry {
            Entry::Doctor => return Chosen::Doctor,
            Entry::Reload => return Chosen::Reload,
            Entry::RotateKey { check } => {
                return Chosen::Rotate(RunMode {
                    check: check || file.check,
                    diff: false,
                });
            }
            Entry::Module
                if input
                    .module_name
                    .as_deref()
                    .is_some_and(|n| n.ends_with("relay_host_info")) =>
            {
                return Chosen::Info;
            }
            Entry::Module => RunMode::default(),
            Entry::Apply(mode) => mode,
        };
        match Request::of(&input.args) {
            Request::RotateKey => Chosen::Rotate(RunMode {
                check: file.check || cli.check,
                diff: false,
            }),
            Request::Doctor => Chosen::Doctor,
            Request::Info => Chosen::Info,
            Request::Reload => Chosen::Reload,
            Request::Apply => Chosen::Apply(RunMode {
                check: file.check || cli.check,
                diff: file.diff || cli.diff,
            }),
        }
    }
}

/// Runs the request the args file's text and the entry point ask for.
pub fn handle(entry: Entry, text: &str) -> Outcome {
    let input = match args::parse(text) {
        Ok(input) => input,
        Err(e) => {
            let check_mode = match entry {
                Entry::Doctor | Entry::Reload => None,
                Entry::RotateKey { check } => Some(check),
                Entry::Module => Some(false),
                Entry::Apply(mode) => Some(mode.check),
            };
            let json = protocol::failed(&e.into(), check_mode, None);
            return Outcome::new(json, true, false);
        }
    };
    let echo = Some(&input.echo);
    match Chosen::of(entry, &input) {
        Chosen::Apply(mode) => {
            let outcome = run::run(input.args, mode);
            let json = protocol::result_json(&outcome, mode, echo);
            match outcome {
                Ok(report) => Outcome {
                    json,
                    failed: false,
                    changed: report.changed,
                    diff: if mode.diff && report.changed {
                        report.diff
                    } else {
                        Vec::new()
                    },
                },
                Err(_) => Outcome::new(json, true, false),
            }
        }
        Chosen::Doctor => {
            let outcome = doctor::doctor(input.args);
            let failed = outcome
                .as_ref()
                .map_or(true, |checks| checks.iter().any(|c| !c.ok));
            Outcome::new(protocol::doctor_json(&outcome, echo), failed, false)
        }
        Chosen::Rotate(mode) => {
            let outcome = rotate::rotate(input.args, mode);
            let changed = outcome.as_ref().is_ok_and(|r| r.changed);
            let json = protocol::rotation_json(&outcome, mode, echo);
            Outcome::new(json, outcome.is_err(), changed)
        }
        Chosen::Reload => {
            let outcome = reload::reload(input.args).map_err(Into::into);
            let changed = outcome.as_ref().is_ok_and(|r| r.reloaded);
            let json = protocol::reload_json(&outcome, echo);
            Outcome::new(json, outcome.is_err(), changed)
        }
        Chosen::Info => {
            let outcome = info::info(input.args);
            let json = protocol::info_json(&outcome, echo);
            Outcome::new(json, outcome.is_err(), false)
        }
    }
}
