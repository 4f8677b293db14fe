//! How the command line prints a request's outcome: the JSON result object (scripts, Salt, CI)
//! or, for people, a headline, a line per change, check or warning and the masked unified diff,
//! coloured when the stream is a terminal (the caller's `anstream` stream drops the colour
//! elsewhere and under `NO_COLOR`). Both render the one typed result ([`crate::protocol`]) and
//! the masked diff, so the human format can show no more than the JSON one.

use std::io::{self, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::args::{Opt, defaults};
use crate::cli::Format;
use crate::diff::DiffEntry;
use crate::protocol::Body;
use crate::request::Outcome;

const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();

/// Prints `outcome` to `out` (the result) and `err` (failures in the human format; the unified
/// diff in the JSON one, so stdout stays one JSON object).
pub fn print(
    outcome: &Outcome,
    format: Format,
    show_diff: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Json => {
            writeln!(out, "{}", outcome.json())?;
            if show_diff {
                for entry in outcome.diff() {
                    write!(err, "{}", unified(entry))?;
                }
            }
            Ok(())
        }
        Format::Human => human(outcome, show_diff, out, err),
    }
}

fn human(
    outcome: &Outcome,
    show_diff: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let report = &outcome.report;
    let msg = &report.msg;
    if let Body::Failed { error, .. } = &report.body {
        let hermes = error
            .hermes_code
            .map_or(String::new(), |c| format!(" (Hermes code {c})"));
        let red = RED.bold();
        return writeln!(err, "{red}error[{}]{red:#}: {msg}{hermes}", error.code);
    }
    let headline = if report.failed {
        RED.bold()
    } else if report.changed {
        YELLOW.bold()
    } else {
        GREEN.bold()
    };
    writeln!(out, "{headline}{msg}{headline:#}")?;
    match &report.body {
        Body::Apply {
            changes,
            pending_applied,
            relayhost,
            ..
        } => {
            for change in changes {
                writeln!(
                    out,
                    "  {YELLOW}~{YELLOW:#} {}",
                    change_line(change.as_str(), outcome.diff())
                )?;
            }
            if !pending_applied.is_empty() {
                writeln!(
                    out,
                    "  {YELLOW}~{YELLOW:#} {} row(s) other Hermes pages left pending are applied too",
                    pending_applied.len()
                )?;
            }
            if let Some(relayhost) = relayhost {
                writeln!(out, "  relay host: {relayhost}")?;
            }
        }
        Body::Doctor { checks } | Body::Info { checks, .. } => {
            for check in checks {
                let (name, detail) = (check.name, &check.detail);
                if check.ok {
                    writeln!(out, "  {GREEN}✓{GREEN:#} {BOLD}{name}{BOLD:#}: {detail}")?;
                } else {
                    writeln!(out, "  {RED}✗{RED:#} {BOLD}{name}{BOLD:#}: {detail}")?;
                }
            }
        }
        Body::Rotation {
            reencrypted,
            key_backup,
            ..
        } => {
            writeln!(out, "  re-encrypted values: {reencrypted}")?;
            if let Some(backup) = key_backup {
                writeln!(out, "  old key kept at: {}", backup.display())?;
            }
        }
        Body::Reload {} | Body::Failed { .. } => {}
    }
    for warning in &report.warnings {
        writeln!(out, "{YELLOW}warning{YELLOW:#}: {warning}")?;
    }
    if show_diff {
        for entry in outcome.diff() {
            coloured_diff(&unified(entry), out)?;
        }
    }
    Ok(())
}

/// `main.cf: 2 lines added, 1 removed (/etc/postfix/main.cf)`, `rows: 4 row writes`.
fn change_line(change: &str, diff: &[DiffEntry]) -> String {
    let Some(entry) = diff.iter().find(|e| e.after_header.ends_with(change)) else {
        return change.to_string();
    };
    if change == "rows" {
        let writes = entry.after.lines().count();
        return format!("rows: {writes} row write(s) in the Hermes database");
    }
    let text = TextDiff::from_lines(&entry.before, &entry.after);
    let count = |tag| text.iter_all_changes().filter(|c| c.tag() == tag).count();
    if count(ChangeTag::Insert) == 0 && count(ChangeTag::Delete) == 0 {
        return format!(
            "{change}: same lines, rewritten to repair its mode, its map or its stamp ({})",
            entry.after_header
        );
    }
    format!(
        "{change}: {} line(s) added, {} removed ({})",
        count(ChangeTag::Insert),
        count(ChangeTag::Delete),
        entry.after_header
    )
}

/// One diff entry as `--diff` prints it.
pub(crate) fn unified(entry: &DiffEntry) -> String {
    TextDiff::from_lines(&entry.before, &entry.after)
        .unified_diff()
        .header(&entry.before_header, &entry.after_header)
        .to_string()
}

fn coloured_diff(text: &str, out: &mut dyn Write) -> io::Result<()> {
    for line in text.lines() {
        let style = if line.starts_with("+++") || line.starts_with("---") {
            BOLD
        } else if line.starts_with("@@") {
            CYAN
        } else if line.starts_with('+') {
            GREEN
        } else if line.starts_with('-') {
            RED
        } else {
            Style::new()
        };
        writeln!(out, "{style}{line}{style:#}")?;
    }
    Ok(())
}

/// `init` for people: what it made, and how to point a run at it (`--format json` prints the
/// module options themselves, ready to be an args file).
pub fn init(module_args: &Value, asked: &Path, out: &mut dyn Write) -> io::Result<()> {
    let root = module_args[Opt::Root.name()].as_str().unwrap_or_default();
    writeln!(out, "{GREEN}{BOLD}initialized {root}{BOLD:#}{GREEN:#}")?;
    for (what, path) in [
        ("key", defaults::KEY_FILE),
        ("base template", defaults::TEMPLATE),
        ("Postfix dir", defaults::POSTFIX_DIR),
        ("database", defaults::SQLITE_FILE),
    ] {
        let path = defaults::under_root(Path::new(root), path);
        writeln!(out, "  {what:<14} {}", path.display())?;
    }
    writeln!(out, "  (what was there already is kept, never overwritten)")?;
    writeln!(out, "module options that point at it:")?;
    writeln!(out, "  {module_args}")?;
    let asked = asked.display();
    writeln!(
        out,
        "next: hermes-relayhost init --root {asked} --format json > args.json, add the relay \
         options (examples/relay.json), then hermes-relayhost apply --args-file args.json \
         --check --diff"
    )
}
