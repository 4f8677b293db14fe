//! Which request a run is (apply, doctor, key rotation, info) from how the binary was called and
//! the options given, and its typed outcome: the result and the diff to show.

use serde_json::Value;

use crate::args::{self, Input, RunMode};
use crate::diff::DiffEntry;
use crate::options::Request;
use crate::protocol::{Body, Report};
use crate::{doctor, info, protocol, reload, rotate, run};

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

/// The request and run mode a call asks for: the command line's (its flags add to those in
/// the file), or in module mode (`asked` is `None`) what `_ansible_module_name` and the
/// `rotate_key` / `check_only` flags say.
fn choose(asked: Option<(Request, RunMode)>, input: &Input) -> (Request, RunMode) {
    let file = input.mode;
    let both = |cli: RunMode, diff: bool| RunMode {
        check: file.check || cli.check,
        diff: diff && (file.diff || cli.diff),
    };
    let cli = match asked {
        Some((request @ (Request::Doctor | Request::Info | Request::Reload), _)) => {
            return (request, RunMode::default());
        }
        Some((Request::RotateKey, cli)) => return (Request::RotateKey, both(cli, false)),
        Some((Request::Apply, cli)) => cli,
        None if input
            .module_name
            .as_deref()
            .is_some_and(|n| n.ends_with("relay_host_info")) =>
        {
            return (Request::Info, RunMode::default());
        }
        None => RunMode::default(),
    };
    match Request::of(&input.args) {
        Request::RotateKey => (Request::RotateKey, both(cli, false)),
        Request::Apply => (Request::Apply, both(cli, true)),
        request => (request, RunMode::default()),
    }
}

/// Runs the request a call asks for (`None`: module mode, the args decide) on the args file's
/// text.
pub fn handle(asked: Option<(Request, RunMode)>, text: &str) -> Outcome {
    let input = match args::parse(text) {
        Ok(input) => input,
        Err(e) => {
            let check_mode = match asked {
                Some((Request::Doctor | Request::Info | Request::Reload, _)) => None,
                Some((Request::Apply | Request::RotateKey, mode)) => Some(mode.check),
                None => Some(false),
            };
            let report = protocol::failed_early(&e.into(), check_mode, None);
            return Outcome { report };
        }
    };
    let echo = Some(&input.echo);
    let report = match choose(asked, &input) {
        (Request::Apply, mode) => protocol::apply(run::run(input.args, mode), mode, echo),
        (Request::Doctor, _) => protocol::doctor(doctor::doctor(input.args), echo),
        (Request::RotateKey, mode) => {
            protocol::rotation(rotate::rotate(input.args, mode), mode, echo)
        }
        (Request::Reload, _) => {
            protocol::reload(reload::reload(input.args).map_err(Into::into), echo)
        }
        (Request::Info, _) => protocol::info(info::info(input.args), echo),
    };
    Outcome { report }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(asked: Option<(Request, RunMode)>, json: &str) -> (Request, bool, bool) {
        let input = args::parse(json).unwrap();
        let (request, mode) = choose(asked, &input);
        (request, mode.check, mode.diff)
    }

    const CHECK: RunMode = RunMode {
        check: true,
        diff: false,
    };

    #[test]
    fn module_mode_lets_the_args_choose() {
        use Request::*;
        assert_eq!(chosen(None, "{}"), (Apply, false, false));
        assert_eq!(
            chosen(None, r#"{"_ansible_check_mode":true,"_ansible_diff":true}"#),
            (Apply, true, true)
        );
        assert_eq!(
            chosen(None, r#"{"check_only":true}"#),
            (Doctor, false, false)
        );
        assert_eq!(
            chosen(None, r#"{"rotate_key":true,"_ansible_diff":true}"#),
            (RotateKey, false, false)
        );
        assert_eq!(
            chosen(
                None,
                r#"{"_ansible_module_name":"hermes_seg.relay.relay_host_info"}"#
            ),
            (Info, false, false)
        );
    }

    #[test]
    fn the_command_line_adds_its_flags_to_the_files() {
        use Request::*;
        assert_eq!(chosen(Some((Apply, CHECK)), "{}"), (Apply, true, false));
        assert_eq!(
            chosen(
                Some((Apply, RunMode::default())),
                r#"{"_ansible_diff":true}"#
            ),
            (Apply, false, true)
        );
        assert_eq!(
            chosen(Some((Apply, CHECK)), r#"{"rotate_key":true}"#),
            (RotateKey, true, false)
        );
        assert_eq!(
            chosen(Some((Doctor, CHECK)), r#"{"_ansible_check_mode":true}"#),
            (Doctor, false, false)
        );
    }
}
