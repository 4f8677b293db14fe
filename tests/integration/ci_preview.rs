//! examples/ci-preview/preview.sh, the CI drift gate: drift exits 2 and prints the masked
//! diff, a host that matches exits 0, a broken preview exits 1 with the message; the preview
//! never writes and never shows the password, from a file or from stdin.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Hermes, PASSWORD, relay};
use serde_json::{Value, json};

struct Gate {
    code: i32,
    stdout: String,
    stderr: String,
    result: Value,
}

/// Runs the gate on `args`, written to a file or (`stdin`) piped in as a pipeline would pipe
/// in its secret.
fn gate(h: &Hermes, args: &Value, stdin: bool) -> Gate {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci-preview/preview.sh");
    let result = h.dir.path().join("preview-result.json");
    let file: PathBuf = h.dir.path().join("relay.json");
    std::fs::write(&file, args.to_string()).unwrap();
    let mut child = Command::new("sh")
        .arg(script)
        .arg(if stdin { Path::new("-") } else { &file })
        .env("HERMES_RELAYHOST", env!("CARGO_BIN_EXE_hermes-relayhost"))
        .env("PREVIEW_RESULT", &result)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if stdin {
        input.write_all(args.to_string().as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let gate = Gate {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        result: serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap(),
    };
    let shown = format!("{}{}{}", gate.stdout, gate.stderr, gate.result);
    assert!(!shown.contains(PASSWORD), "the password leaked:\n{shown}");
    gate
}

#[test]
fn drift_fails_the_gate_with_a_masked_diff_until_applied() {
    let h = Hermes::new();
    let args = h.args(relay());
    let before = h.snapshot();

    let g = gate(&h, &args, false);
    assert_eq!(g.code, 2, "{}{}", g.stdout, g.stderr);
    for shown in [
        "+relayhost = [smtp.example.com]:587",
        "+[smtp.example.com]:587\trelayuser:********",
        "+system_settings.relay_host_password = ******** (new)",
        "DRIFT",
    ] {
        assert!(g.stderr.contains(shown), "lacks {shown:?}:\n{}", g.stderr);
    }
    assert_eq!(g.result["changed"], true);
    assert_eq!(g.result["check_mode"], true);
    assert_eq!(h.snapshot(), before, "the preview wrote something");

    let applied = h.run(relay());
    assert_eq!(applied["changed"], true, "{applied}");
    let g = gate(&h, &args, false);
    assert_eq!(g.code, 0, "{}{}", g.stdout, g.stderr);
    assert!(g.stdout.contains("no drift"), "{}", g.stdout);
    assert_eq!(g.stderr, "");

    // A rotated secret from the pipeline (stdin) is drift again, shown only as old/new.
    let mut rotated = args.clone();
    rotated["password"] = json!("rotated-in-CI secret");
    let g = gate(&h, &rotated, true);
    assert_eq!(g.code, 2, "{}{}", g.stdout, g.stderr);
    assert!(
        g.stderr
            .contains("-system_settings.relay_host_password = ******** (old)")
    );
    assert!(!g.stderr.contains("rotated-in-CI"), "{}", g.stderr);
}

#[test]
fn a_broken_preview_fails_the_gate_with_the_message() {
    let h = Hermes::new();
    let mut args = h.args(relay());
    args["port"] = json!(0);
    let g = gate(&h, &args, true);
    assert_eq!(g.code, 1, "{}{}", g.stdout, g.stderr);
    assert!(g.stderr.contains("preview failed"), "{}", g.stderr);
    assert!(g.stderr.contains("invalid_port"), "{}", g.stderr);
    assert_eq!(g.result["failed"], true);
}
