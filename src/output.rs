//! How the command line prints a request's outcome: the JSON result object (scripts, Salt, CI)
//! or, for people, a headline, a line per change, check or warning and the masked unified diff,
//! coloured when the stream is a terminal (the caller's `anstream` stream drops the colour
//! elsewhere and under `NO_COLOR`). Both render the one typed result ([`crate::protocol`]) and
//! the masked diff, so the human format can show no more than the JSON one.

use std::io::{self, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use similar::algorithms::{Capture, Compact, Replace, myers};
use similar::udiff::UnifiedHunkHeader;
use similar::{ChangeTag, DiffOp, DiffableStr};

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
    let (before, after) = (entry.before.tokenize_lines(), entry.after.tokenize_lines());
    let ops = line_ops(&before, &after);
    let count = |tag| {
        ops.iter()
            .flat_map(|op| op.iter_changes(&before, &after))
            .filter(|c| c.tag() == tag)
            .count()
    };
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

/// One diff entry as `--diff` prints it: what `TextDiff::from_lines(..).unified_diff()` prints
/// (3 lines of context), from the same hooks and Myers called directly. `TextDiff` picks its
/// algorithm at run time, so it links all six of similar's, each in several instantiations
/// (bench/README.md "Size").
pub(crate) fn unified(entry: &DiffEntry) -> String {
    let (before, after) = (entry.before.tokenize_lines(), entry.after.tokenize_lines());
    let mut text = String::new();
    for hunk in similar::group_diff_ops(line_ops(&before, &after), 3) {
        if hunk.is_empty() {
            continue;
        }
        if text.is_empty() {
            text = format!("--- {}\n+++ {}\n", entry.before_header, entry.after_header);
        }
        text.push_str(&format!("{}\n", UnifiedHunkHeader::new(&hunk)));
        for change in hunk.iter().flat_map(|op| op.iter_changes(&before, &after)) {
            text.push_str(&format!("{}{}", change.tag(), change.value()));
            if change.missing_newline() {
                text.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    text
}

/// The line diff as `TextDiff` makes it: Myers, then compacted, deletions and insertions of
/// the same place paired as replacements.
fn line_ops(before: &[&str], after: &[&str]) -> Vec<DiffOp> {
    let mut hook = Compact::new(Replace::new(Capture::new()), before, after);
    let Ok(()) = myers::diff(&mut hook, before, 0..before.len(), after, 0..after.len());
    hook.into_inner().into_inner().into_ops()
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(before: &str, after: &str) -> DiffEntry {
        DiffEntry {
            before: before.to_string(),
            after: after.to_string(),
            before_header: "main.cf (before)".to_string(),
            after_header: "/etc/postfix/main.cf".to_string(),
        }
    }

    /// The unified diff of `TextDiff` itself, which only the tests link.
    fn text_diff(e: &DiffEntry) -> String {
        similar::TextDiff::from_lines(&e.before, &e.after)
            .unified_diff()
            .header(&e.before_header, &e.after_header)
            .to_string()
    }

    #[test]
    fn a_changed_line_in_context() {
        let e = entry("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\nnew");
        let shown = unified(&e);
        assert_eq!(
            shown,
            "--- main.cf (before)\n+++ /etc/postfix/main.cf\n@@ -2,7 +2,8 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n+new\n\\ No newline at end of file\n"
        );
        assert_eq!(shown, text_diff(&e));
        assert_eq!(unified(&entry("same\n", "same\n")), "");
    }

    proptest! {
        /// A file, and the same file after a few edits (replaced, inserted and removed lines,
        /// maybe no final newline), so that hunks have context and sometimes merge.
        #[test]
        fn prints_what_text_diff_prints(
            before in proptest::collection::vec("[a-e]{1,3}\r?\n", 0..60),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[a-e]{1,3}\n"), 0..6),
            cut_newline in any::<bool>(),
        ) {
            let mut after = before.clone();
            for (at, op, line) in edits {
                match op {
                    0 if !after.is_empty() => {
                        let at = at.index(after.len());
                        after[at] = line;
                    }
                    1 => {
                        let at = at.index(after.len() + 1);
                        after.insert(at, line);
                    }
                    _ if !after.is_empty() => {
                        let at = at.index(after.len());
                        after.remove(at);
                    }
                    _ => {}
                }
            }
            let mut after = after.concat();
            if cut_newline {
                after.pop();
            }
            let e = entry(&before.concat(), &after);
            prop_assert_eq!(unified(&e), text_diff(&e));
        }
    }
}
