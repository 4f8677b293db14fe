//! Which request a run is (apply, doctor, key rotation, info) from how the binary was called and
//! the options given, and its typed outcome: the result and the diff to show.

use serde_json::Value;

use crate::args::{self, Input, RunMode};
use crate::diff::DiffEntry;
use crate::options::Request;
use crate::protocol::{Body, Report};
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

/// What a request did: its result, which the exit code is made of too.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
}

impl Outcome {
    /// The args file could not be read: a result object all the same.
    pub fn unreadable(msg: String) -> Outcome {
        Outcome {
            report: protocol::unreadable(msg),
        }
    }

    pub fn failed(&self) -> bool {
        self.report.failed
    }

    pub fn changed(&self) -> bool {
        self.report.changed
    }

    /// The result object as JSON.
    pub fn json(&self) -> Value {
        self.report.json()
    }

    /// The masked diff (diff mode), for a unified diff on the terminal.
    pub fn diff(&self) -> &[DiffEntry] {
        match &self.report.body {
            Body::Apply {
                diff: Some(diff), ..
            } => diff,
            _ => &[],
        }
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
            let report = protocol::failed_early(&e.into(), check_mode, None);
            return Outcome { report };
        }
    };
    let echo = Some(&input.echo);
    let report = match Chosen::of(entry, &input) {
        Chosen::Apply(mode) => protocol::apply(run::run(input.args, mode), mode, echo),
        Chosen::Doctor => protocol::doctor(doctor::doctor(input.args), echo),
        Chosen::Rotate(mode) => protocol::rotation(rotate::rotate(input.args, mode), mode, echo),
        Chosen::Reload => protocol::reload(reload::reload(input.args).map_err(Into::into), echo),
        Chosen::Info => protocol::info(info::info(input.args), echo),
    };
    Outcome { report }
}
