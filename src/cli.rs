//! Command line: module mode (`hermes-relayhost ARGS.json`, as Ansible runs a binary module)
//! and the subcommands for people, CI and Salt. The man page and the shell completions are
//! generated from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hermes-relayhost",
    version,
    about = "Configure the outbound relay host of a Hermes SEG or Postfix host",
    long_about = "Configure the outbound relay host of a Hermes SEG or Postfix host: the Hermes \
                  database rows, main.cf, sasl_passwd and its map, then a Postfix reload.\n\n\
                  Exit status: 0 ok; 1 failed; 2 changes pending (only with `apply --check \
                  --exit-code`); 64 command-line usage error.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Ansible module mode: a JSON args file; prints one JSON result object and exits 0.
    pub args_file: Option<PathBuf>,
}

/// How a result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A line per change, check or warning and the masked diff, coloured on a terminal.
    Human,
    /// The JSON result object (the module's), one line; what scripts, Salt and CI read.
    Json,
}

/// The options every request-running subcommand shares.
#[derive(Debug, Args)]
pub struct Input {
    /// JSON args file (the module options), or `-` for stdin (keeps secrets out of argv).
    #[arg(long, value_name = "FILE")]
    pub args_file: PathBuf,
    /// Output format [default: human when stdout is a terminal, else json].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the module options from a JSON args file: rows, main.cf, sasl_passwd, reload.
    Apply {
        #[command(flatten)]
        input: Input,
        /// Report what would change; write nothing.
        #[arg(long)]
        check: bool,
        /// Show the masked diff (json format: in the result and as a unified diff on stderr).
        #[arg(long)]
        diff: bool,
        /// With --check: exit 2 when changes are pending (a CI drift gate).
        #[arg(long, requires = "check")]
        exit_code: bool,
    },
    /// Check a host without changing anything (SASL plugins, map type, key/relayhost match,
    /// file modes, drift between rows, files and Postfix); exit 1 when a check fails.
    Doctor {
        #[command(flatten)]
        input: Input,
    },
    /// Re-encrypt every stored credential with a new key and install it (crash-safe; a
    /// re-run finishes a half-done rotation). Args: `key_file`, `new_key_file`, `cipher`,
    /// `new_cipher`, `database`, `root`; no relay options.
    RotateKey {
        #[command(flatten)]
        input: Input,
        /// Report how many values would be re-encrypted; write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Reload Postfix through `postfix_exec` and `postfix_exec_dir` if it runs (a warning,
    /// not a failure, when it does not). Args: the location options only.
    Reload {
        #[command(flatten)]
        input: Input,
    },
    /// Print the JSON schema of the module options.
    Schema,
    /// Create a local Hermes-like root (key, template, Postfix dir, SQLite DB) to try it on;
    /// prints the module options that point at it.
    Init {
        /// Directory to create the root in (created if missing).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
    },
    /// Print a shell completion script (e.g. `completions bash >
    /// /etc/bash_completion.d/hermes-relayhost`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}
