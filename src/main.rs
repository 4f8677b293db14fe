use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hermes_relayhost::args::{self, RunMode};
use hermes_relayhost::cli::{Cli, Command};
use hermes_relayhost::{doctor, info, init, protocol, rotate, run};
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
            let text = read_args(&args_file)?;
            let (result, changed) = module(&text, RunMode { check, diff });
            println!("{result}");
            if diff {
                print_diff(&result);
            }
            Ok(if result["failed"] == true {
                ExitCode::FAILURE
            } else if check && exit_code && changed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        (Some(Command::Doctor { args_file }), _) => {
            let text = read_args(&args_file)?;
            let input = args::parse(&text);
            let result = match input {
                Ok(input) => protocol::doctor_json(&doctor::doctor(input.args), Some(&input.echo)),
                Err(e) => protocol::doctor_json(&Err(e.into()), None),
            };
            println!("{result}");
            Ok(if result["failed"] == true {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        (Some(Command::RotateKey { args_file, check }), _) => {
            let text = read_args(&args_file)?;
            let mode = RunMode { check, diff: false };
            let result = match args::parse(&text) {
                Ok(input) => {
                    let mode = RunMode {
                        check: check || input.mode.check,
                        diff: false,
                    };
                    let outcome = rotate::rotate(input.args, mode);
                    protocol::rotation_json(&outcome, mode, Some(&input.echo))
                }
                Err(e) => protocol::rotation_json(&Err(e.into()), mode, None),
            };
            println!("{result}");
            Ok(if result["failed"] == true {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
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
            let result = match read_args(&path) {
                Ok(text) => match args::parse(&text) {
                    Ok(input)
                        if input
                            .module_name
                            .as_deref()
                            .is_some_and(|n| n.ends_with("relay_host_info")) =>
                    {
                        protocol::info_json(&info::info(input.args), Some(&input.echo))
                    }
                    _ => module(&text, RunMode::default()).0,
                },
                Err(e) => {
                    serde_json::json!({ "failed": true, "changed": false, "msg": format!("{e:#}") })
                }
            };
            println!("{result}");
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            anyhow::bail!("give a JSON args file (module mode) or a subcommand; see --help")
        }
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

/// Runs one module invocation; flags given on the command line add to those in the file.
fn module(text: &str, cli_mode: RunMode) -> (serde_json::Value, bool) {
    match args::parse(text) {
        Ok(input) if input.args.rotate_key.as_ref().is_some_and(|f| f.value()) => {
            let mode = RunMode {
                check: input.mode.check || cli_mode.check,
                diff: false,
            };
            let outcome = rotate::rotate(input.args, mode);
            let changed = outcome.as_ref().is_ok_and(|r| r.changed);
            (
                protocol::rotation_json(&outcome, mode, Some(&input.echo)),
                changed,
            )
        }
        Ok(input) if input.args.check_only.as_ref().is_some_and(|f| f.value()) => {
            let outcome = doctor::doctor(input.args);
            (protocol::doctor_json(&outcome, Some(&input.echo)), false)
        }
        Ok(input) => {
            let mode = RunMode {
                check: input.mode.check || cli_mode.check,
                diff: input.mode.diff || cli_mode.diff,
            };
            let outcome = run::run(input.args, mode);
            let changed = outcome.as_ref().is_ok_and(|r| r.changed);
            (
                protocol::result_json(&outcome, mode, Some(&input.echo)),
                changed,
            )
        }
        Err(e) => (protocol::result_json(&Err(e.into()), cli_mode, None), false),
    }
}

/// The masked diff as a unified diff, for people; stdout stays one JSON object.
fn print_diff(result: &serde_json::Value) {
    let Some(entries) = result["diff"].as_array() else {
        return;
    };
    for entry in entries {
        let text = |k: &str| entry[k].as_str().unwrap_or_default().to_string();
        let (before, after) = (text("before"), text("after"));
        let diff = similar::TextDiff::from_lines(&before, &after);
        eprint!(
            "{}",
            diff.unified_diff()
                .header(&text("before_header"), &text("after_header"))
        );
    }
}
