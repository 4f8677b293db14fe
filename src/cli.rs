//! Command line: module mode (`hermes-relayhost ARGS.json`, as Ansible runs a binary module)
//! and the subcommands for people, CI and Salt. The man pages (with the JSON options from the
//! schema and the examples below) and the shell completions are generated from these
//! definitions.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "hermes-relayhost",
    version,
    about = "Configure the outbound relay host of a Hermes SEG or Postfix host",
    long_about = "Configure the outbound relay host of a Hermes SEG or Postfix host: the Hermes \
                  database rows, main.cf, sasl_passwd and its map, then a Postfix reload.\n\n\
                  Exit status: 0 ok; 1 failed; 2 changes pending (only with `apply --check \
                  --exit-code`); 64 command-line usage error.\n\n\
                  It writes /etc/postfix and the Hermes database and runs Postfix's tools (in \
                  the Hermes container by default): run it as root (sudo; `become: true` in \
                  Ansible).",
    after_long_help = MAIN_EXAMPLES,
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
    #[command(after_long_help = APPLY_EXAMPLES)]
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
    #[command(after_long_help = DOCTOR_EXAMPLES)]
    Doctor {
        #[command(flatten)]
        input: Input,
    },
    /// Re-encrypt every stored credential with a new key and install it (crash-safe; a
    /// re-run finishes a half-done rotation). Args: `key_file`, `new_key_file`, `cipher`,
    /// `new_cipher`, `database`, `root`; no relay options.
    #[command(after_long_help = ROTATE_KEY_EXAMPLES)]
    RotateKey {
        #[command(flatten)]
        input: Input,
        /// Report how many values would be re-encrypted; write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Reload Postfix through `postfix_exec` and `postfix_exec_dir` if it runs (a warning,
    /// not a failure, when it does not). Args: the location options only.
    #[command(after_long_help = RELOAD_EXAMPLES)]
    Reload {
        #[command(flatten)]
        input: Input,
    },
    /// Print the JSON schema of the module options.
    #[command(after_long_help = SCHEMA_EXAMPLES)]
    Schema,
    /// Create a local Hermes-like root (key, template, Postfix dir, SQLite DB) to try it on;
    /// prints the module options that point at it.
    #[command(after_long_help = INIT_EXAMPLES)]
    Init {
        /// Directory to create the root in (created if missing).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Output format [default: human when stdout is a terminal, else json: the module
        /// options, ready to be an args file].
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<Format>,
    },
    /// Print a shell completion script (e.g. `completions bash >
    /// /etc/bash_completion.d/hermes-relayhost`).
    #[command(after_long_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

// The examples of `--help` and of the man pages' EXAMPLES section (tests/integration/cli.rs
// renders them there): after the heading, a line indented by two spaces says what the
// command lines below it, indented by four, do.

const MAIN_EXAMPLES: &str = "\
Examples:
  Try it on a local Hermes-like root (no Hermes host needed):
    hermes-relayhost init --root demo
    hermes-relayhost apply --args-file examples/relay.json --check --diff
  Module mode, as Ansible runs it (one JSON result on stdout, exit 0):
    hermes-relayhost /tmp/args.json
  Install the shell completions (bash):
    hermes-relayhost completions bash > /etc/bash_completion.d/hermes-relayhost";

const APPLY_EXAMPLES: &str = "\
Examples:
  Preview the change with the masked diff, then make it:
    hermes-relayhost apply --args-file relay.json --check --diff
    sudo hermes-relayhost apply --args-file relay.json
  Options on stdin, so that no password is in a file or argv:
    sops -d relay.enc.json | sudo hermes-relayhost apply --args-file -
  A CI drift gate: exit 2 when the host is not as the args file says:
    hermes-relayhost apply --args-file relay.json --check --exit-code --format json";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  Check a Hermes host (its MariaDB through a socket):
    echo '{\"database\": \"mysql://hermes@localhost/hermes?socket=/run/mysqld/mysqld.sock\"}' | sudo hermes-relayhost doctor --args-file -
  The checks as JSON, for a monitoring script:
    sudo hermes-relayhost doctor --args-file location.json --format json";

const ROTATE_KEY_EXAMPLES: &str = "\
Examples:
  How many values would be re-encrypted:
    sudo hermes-relayhost rotate-key --args-file location.json --check
  Rotate to a fresh random key (the old one is kept as a backup):
    sudo hermes-relayhost rotate-key --args-file location.json";

const RELOAD_EXAMPLES: &str = "\
Examples:
  Reload the Postfix of the Hermes container:
    echo '{}' | sudo hermes-relayhost reload --args-file -
  Reload this host's Postfix:
    echo '{\"postfix_exec\": []}' | sudo hermes-relayhost reload --args-file -";

const SCHEMA_EXAMPLES: &str = "\
Examples:
  Validate an args file with any JSON Schema tool:
    hermes-relayhost schema > relay_host.schema.json";

const INIT_EXAMPLES: &str = "\
Examples:
  A local root and an args file that points at it:
    hermes-relayhost init --root demo --format json > demo.json";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  bash, zsh and fish:
    hermes-relayhost completions bash > /etc/bash_completion.d/hermes-relayhost
    hermes-relayhost completions zsh > /usr/local/share/zsh/site-functions/_hermes-relayhost
    hermes-relayhost completions fish > ~/.config/fish/completions/hermes-relayhost.fish";

/// How close a mistyped word must be to a subcommand to be suggested (clap's own threshold).
const SIMILAR: f64 = 0.7;

/// A first argument that is no subcommand, no option and no path, checked before clap parses
/// (which would take it as module mode's args file): `doctr` and `aplly --args-file x` are
/// usage errors that suggest the subcommand meant, never an args file to read. A word with a
/// `/` or a `.` is a path (Ansible passes absolute ones); a bare word is an args file only if
/// it exists and is like no subcommand.
pub fn unknown_subcommand(argv: &[OsString]) -> Option<clap::Error> {
    let word = argv.get(1)?.to_str()?;
    if word.starts_with('-') || word.contains(['/', '.']) {
        return None;
    }
    let mut cmd = Cli::command();
    cmd.build();
    let names: Vec<String> = cmd
        .get_subcommands()
        .flat_map(|sub| std::iter::once(sub.get_name()).chain(sub.get_all_aliases()))
        .map(str::to_string)
        .collect();
    if names.iter().any(|name| name == word) {
        return None;
    }
    let suggestion = names
        .iter()
        .map(|name| (strsim::jaro(word, name), name))
        .filter(|(score, _)| *score > SIMILAR)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.clone());
    if suggestion.is_none() && Path::new(word).exists() {
        return None;
    }
    let usage = cmd.render_usage();
    let mut err = clap::Error::new(ErrorKind::InvalidSubcommand).with_cmd(&cmd);
    err.insert(
        ContextKind::InvalidSubcommand,
        ContextValue::String(word.to_string()),
    );
    if let Some(name) = suggestion {
        err.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(vec![name]),
        );
    }
    err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
    Some(err)
}

/// The completion script for `shell`: the subcommands and their flags. Module mode's args file
/// is left out (Ansible passes it, no one types it): zsh would complete a subcommand as that
/// file and then offer no flag of it.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let cli = Cli::command();
    let mut cmd = clap::Command::new("hermes-relayhost")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommands(cli.get_subcommands().cloned());
    if let Some(about) = cli.get_about() {
        cmd = cmd.about(about.clone());
    }
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hermes-relayhost", &mut script);
    if shell == clap_complete::Shell::Fish {
        // clap_complete 4.6 completes no positional's values for fish (`completions <SHELL>`).
        for sub in cmd.get_subcommands() {
            for arg in sub.get_positionals().filter(|a| !a.is_hide_set()) {
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect();
                if !values.is_empty() {
                    script.extend_from_slice(
                        format!(
                            "complete -c hermes-relayhost -n \"__fish_hermes_relayhost_using_subcommand {}\" -f -a \"{}\"\n",
                            sub.get_name(),
                            values.join(" ")
                        )
                        .as_bytes(),
                    );
                }
            }
        }
    }
    if shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 names a subcommand's case `hermes__subcmd__relayhost__subcmd__X`
        // (it splits the binary's own `-` as it splits a subcommand path) while its parser
        // sets `hermes__relayhost__subcmd__X`, so no subcommand flag would ever complete.
        let text = String::from_utf8_lossy(&script).replace(
            "hermes__subcmd__relayhost__subcmd__",
            "hermes__relayhost__subcmd__",
        );
        script = text.into_bytes();
    }
    script
}
