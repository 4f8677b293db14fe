//! Command line: module mode (`hermes-relayhost ARGS.json`, as Ansible runs a binary module)
//! and the subcommands for people, CI and Salt.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hermes-relayhost",
    version,
    about = "Configure the outbound relay host of a Hermes SEG or Postfix host",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Ansible module mode: a JSON args file; prints one JSON result object.
    pub args_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply module args from a JSON file (`-` reads stdin); prints the JSON result.
    Apply {
        /// JSON args file, or `-` for stdin (keeps secrets out of argv and files).
        #[arg(long, value_name = "FILE")]
        args_file: PathBuf,
        /// Report what would change; write nothing.
        #[arg(long)]
        check: bool,
        /// Add the masked diff to the result and print it to stderr.
        #[arg(long)]
        diff: bool,
        /// With --check: exit 2 when changes are pending (a CI drift gate).
        #[arg(long)]
        exit_code: bool,
    },
    /// Check a host without changing anything (SASL plugins, map type, key/relayhost match,
    /// file modes, drift between rows, files and Postfix); exit 1 when a check fails.
    Doctor {
        /// JSON args file (the module args; relay options optional), or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        args_file: PathBuf,
    },
    /// Re-encrypt every stored credential with a new key and install it (crash-safe; a
    /// re-run finishes a half-done rotation). Args: `key_file`, `new_key_file`, `cipher`,
    /// `new_cipher`, `database`, `root`; no relay options.
    RotateKey {
        /// JSON args file, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        args_file: PathBuf,
        /// Report how many values would be re-encrypted; write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Print the JSON schema of the module args.
    Schema,
    /// Create a local Hermes-like root (key, template, Postfix dir, SQLite DB) to try it on.
    Init {
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
    },
}
