use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use hermes_relayhost::args::{self, RunMode};
use hermes_relayhost::cli::{Cli, Command, Format, Input};
use hermes_relayhost::request::{self, Entry, Outcome};
use hermes_relayhost::{init, output};
use zeroize::Zeroizing;

/// sysexits.h's EX_USAGE: a command-line mistake, never mistaken for drift (2) or failure (1).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    hermes_relayhost::process::forbid_core_dumps();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Ignored: a closed stdout or stderr leaves nothing to tell.
            let _ = e.print();
            // `--help` and `--version` are requests, not mistakes.
            return if e.use_stderr() {
                ExitCode::from(EX_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match real_main(cli) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing is left to tell it.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "hermes-relayhost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = anstream::stdout();
    match (cli.command, cli.args_file) {
        (
            Some(Command::Apply {
                input,
                check,
                diff,
                exit_code,
            }),
            _,
        ) => {
            let format = format(&input);
            // The human format's per-file summary counts the lines of the masked diff.
            let mode = RunMode {
                check,
                diff: diff || format == Format::Human,
            };
            let outcome = request::handle(Entry::Apply(mode), &read_args(&input.args_file)?);
            show(&outcome, format, diff)?;
            Ok(if outcome.failed {
                ExitCode::FAILURE
            } else if check && exit_code && outcome.changed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        (Some(Command::Doctor { input }), _) => run(Entry::Doctor, &input),
        (Some(Command::RotateKey { input, check }), _) => run(Entry::RotateKey { check }, &input),
        (Some(Command::Reload { input }), _) => run(Entry::Reload, &input),
        (Some(Command::Schema), _) => {
            let schema = serde_json::to_string_pretty(&args::schema())?;
            writeln!(stdout, "{schema}")?;
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Init { root }), _) => {
            let module_args = init::init(&root)?;
            writeln!(stdout, "{}", serde_json::to_string_pretty(&module_args)?)?;
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Completions { shell }), _) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hermes-relayhost", &mut script);
            stdout.write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(path)) => {
            // Ansible reads `failed` from the JSON, not the exit code.
            let outcome = match read_args(&path) {
                Ok(text) => request::handle(Entry::Module, &text),
                Err(e) => Outcome::unreadable(format!("{e:#}")),
            };
            writeln!(stdout, "{}", outcome.json)?;
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            let _ = writeln!(
                io::stderr(),
                "hermes-relayhost: give a JSON args file (module mode) or a subcommand; see --help"
            );
            Ok(ExitCode::from(EX_USAGE))
        }
    }
}

/// Runs a request that has no flags of its own; exit 1 when it failed.
fn run(entry: Entry, input: &Input) -> anyhow::Result<ExitCode> {
    let outcome = request::handle(entry, &read_args(&input.args_file)?);
    show(&outcome, format(input), false)?;
    Ok(if outcome.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Human on a terminal, JSON for pipes and files (what scripts read).
fn format(input: &Input) -> Format {
    input.format.unwrap_or(if io::stdout().is_terminal() {
        Format::Human
    } else {
        Format::Json
    })
}

fn show(outcome: &Outcome, format: Format, diff: bool) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    let mut err = anstream::stderr().lock();
    output::print(outcome, format, diff, &mut out, &mut err)?;
    out.flush()
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn read_args(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if path == Path::new("-") {
        io::stdin()
            .read_to_string(&mut text)
            .context("reading args from stdin")?;
    } else {
        *text = std::fs::read_to_string(path)
            .with_context(|| format!("reading args file {}", path.display()))?;
    }
    Ok(text)
}
