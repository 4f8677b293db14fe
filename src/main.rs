use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hermes_relayhost::args::{self, RunMode};
use hermes_relayhost::cli::{Cli, Command};
use hermes_relayhost::diff::DiffEntry;
use hermes_relayhost::init;
use hermes_relayhost::request::{self, Entry, Outcome};
use zeroize::Zeroizing;

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hermes-relayhost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match (cli.command, cli.args_file) {
        (
            Some(Command::Apply {
                args_file,
                check,
                diff,
                exit_code,
            }),
            _,
        ) => {
            let outcome = request::handle(
                Entry::Apply(RunMode { check, diff }),
                &read_args(&args_file)?,
            );
            println!("{}", outcome.json);
            print_diff(&outcome.diff);
            Ok(if outcome.failed {
                ExitCode::FAILURE
            } else if check && exit_code && outcome.changed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        (Some(Command::Doctor { args_file }), _) => Ok(print_failed(request::handle(
            Entry::Doctor,
            &read_args(&args_file)?,
        ))),
        (Some(Command::RotateKey { args_file, check }), _) => Ok(print_failed(request::handle(
            Entry::RotateKey { check },
            &read_args(&args_file)?,
        ))),
        (Some(Command::Schema), _) => {
            println!("{}", serde_json::to_string_pretty(&args::schema())?);
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Init { root }), _) => {
            let module_args = init::init(&root)?;
            println!("{}", serde_json::to_string_pretty(&module_args)?);
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(path)) => {
            // Ansible reads `failed` from the JSON, not the exit code.
            let outcome = match read_args(&path) {
                Ok(text) => request::handle(Entry::Module, &text),
                Err(e) => Outcome::unreadable(format!("{e:#}")),
            };
            println!("{}", outcome.json);
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            anyhow::bail!("give a JSON args file (module mode) or a subcommand; see --help")
        }
    }
}

/// Prints the result; exit 1 when the request failed.
fn print_failed(outcome: Outcome) -> ExitCode {
    println!("{}", outcome.json);
    if outcome.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn read_args(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading args from stdin")?;
    } else {
        *text = std::fs::read_to_string(path)
            .with_context(|| format!("reading args file {}", path.display()))?;
    }
    Ok(text)
}

/// The masked diff as a unified diff, for people; stdout stays one JSON object.
fn print_diff(entries: &[DiffEntry]) {
    for entry in entries {
        let diff = similar::TextDiff::from_lines(&entry.before, &entry.after);
        eprint!(
            "{}",
            diff.unified_diff()
                .header(&entry.before_header, &entry.after_header)
        );
    }
}
