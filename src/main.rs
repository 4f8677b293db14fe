use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use hermes_relayhost::args::{self, RunMode};
use hermes_relayhost::cli::{self, Cli, Command, Format, Input};
use hermes_relayhost::options::Request;
use hermes_relayhost::request::{self, Outcome};
use hermes_relayhost::{init, output};
use zeroize::Zeroizing;

/// sysexits.h's EX_USAGE: a command-line mistake, never mistaken for drift (2) or failure (1).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    hermes_relayhost::process::forbid_core_dumps();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let parsed = match cli::unknown_subcommand(&argv) {
        Some(e) => Err(e),
        None => Cli::try_parse_from(&argv),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's message (and its did-you-mean), as `error[usage]: …` like every error.
            let text = e.render().to_string();
            let text = text.strip_prefix("error:").unwrap_or(&text);
            // Ignored: a closed stderr leaves nothing to tell.
            let _ = write!(io::stderr(), "error[usage]:{text}");
            return ExitCode::from(EX_USAGE);
        }
        // `--help` and `--version` are requests, not mistakes.
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match real_main(cli) {
        Ok(code) => code,
        // The reader went away (`| head`): nothing is left to tell it.
        Err(e) if broken_pipe(&e.error) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error[{}]: {:#}", e.code, e.error);
            ExitCode::FAILURE
        }
    }
}

/// A failure of the command line itself (a request's own failures are in its `Outcome`): a
/// stable code, as the result objects have, and the message.
struct Failure {
    code: &'static str,
    error: anyhow::Error,
}

impl From<io::Error> for Failure {
    /// Writing the output failed.
    fn from(error: io::Error) -> Failure {
        Failure {
            code: "io_error",
            error: error.into(),
        }
    }
}

impl From<serde_json::Error> for Failure {
    fn from(error: serde_json::Error) -> Failure {
        Failure {
            code: "io_error",
            error: error.into(),
        }
    }
}

impl From<hermes_relayhost::Error> for Failure {
    fn from(error: hermes_relayhost::Error) -> Failure {
        Failure {
            code: error.code(),
            // Its message names the cause already: not again as a chain.
            error: anyhow::anyhow!(error.to_string()),
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode, Failure> {
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
            let outcome =
                request::handle(Some((Request::Apply, mode)), &read_args(&input.args_file)?);
            show(&outcome, format, diff)?;
            Ok(if outcome.failed() {
                ExitCode::FAILURE
            } else if check && exit_code && outcome.changed() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        (Some(Command::Doctor { input }), _) => run(Request::Doctor, RunMode::default(), &input),
        (Some(Command::RotateKey { input, check }), _) => {
            let mode = RunMode { check, diff: false };
            run(Request::RotateKey, mode, &input)
        }
        (Some(Command::Reload { input }), _) => run(Request::Reload, RunMode::default(), &input),
        (Some(Command::Schema), _) => {
            let schema = serde_json::to_string_pretty(&args::schema())?;
            writeln!(stdout, "{schema}")?;
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Init { root, format }), _) => {
            let module_args = init::init(&root)?;
            match format.unwrap_or_else(terminal_format) {
                Format::Json => {
                    writeln!(stdout, "{}", serde_json::to_string_pretty(&module_args)?)?
                }
                Format::Human => output::init(&module_args, &root, &mut stdout)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Completions { shell }), _) => {
            stdout.write_all(&cli::completions(shell))?;
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(path)) => {
            // Ansible reads `failed` from the JSON, not the exit code.
            let outcome = match read_args(&path) {
                Ok(text) => request::handle(None, &text),
                Err(e) => Outcome::unreadable(format!("{:#}", e.error)),
            };
            writeln!(stdout, "{}", outcome.json())?;
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            let _ = writeln!(
                io::stderr(),
                "error[usage]: give a JSON args file (module mode) or a subcommand; see --help"
            );
            Ok(ExitCode::from(EX_USAGE))
        }
    }
}

/// Runs a request that has no flags of its own; exit 1 when it failed.
fn run(request: Request, mode: RunMode, input: &Input) -> Result<ExitCode, Failure> {
    let outcome = request::handle(Some((request, mode)), &read_args(&input.args_file)?);
    show(&outcome, format(input), false)?;
    Ok(if outcome.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Human on a terminal, JSON for pipes and files (what scripts read).
fn format(input: &Input) -> Format {
    input.format.unwrap_or_else(terminal_format)
}

fn terminal_format() -> Format {
    if io::stdout().is_terminal() {
        Format::Human
    } else {
        Format::Json
    }
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

fn read_args(path: &Path) -> Result<Zeroizing<String>, Failure> {
    // Bounded, and a FIFO or device refused: `/dev/zero` as the args file must not fill memory.
    let limit = hermes_relayhost::files::limits::ARGS;
    let mut text = Zeroizing::new(String::new());
    let read = if path == Path::new("-") {
        io::stdin()
            .take(limit + 1)
            .read_to_string(&mut text)
            .context("reading args from stdin")
            .and_then(|n| {
                if n as u64 > limit {
                    Err(anyhow::anyhow!("args on stdin: more than {limit} bytes"))
                } else {
                    Ok(())
                }
            })
    } else {
        hermes_relayhost::files::read_bounded(path, limit)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| bytes.ok_or_else(|| anyhow::anyhow!("No such file or directory")))
            .and_then(|bytes| {
                *text = String::from_utf8(bytes.to_vec()).context("not UTF-8")?;
                Ok(())
            })
            .with_context(|| format!("reading args file {}", path.display()))
    };
    // The code module mode gives the same failure.
    read.map_err(|error| Failure {
        code: "args_unreadable",
        error,
    })?;
    Ok(text)
}
