//! The command line as people and scripts meet it: the human format under a real
//! pseudo-terminal (util-linux `script`), JSON through pipes, `NO_COLOR`, every exit code, a
//! closed pipe, `reload` against a private Postfix, and the shipped completions and man page.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use clap::CommandFactory;
use serde_json::{Value, json};

use crate::common::{Hermes, PASSWORD, assert_no_secret, relay};
use crate::support::PrivatePostfix;

const ESC: &str = "\x1b[";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hermes-relayhost"))
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

struct Cli {
    code: i32,
    stdout: String,
    stderr: String,
}

fn done(out: Output) -> Cli {
    Cli {
        code: out.status.code().expect("killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The binary with `args`, stdout and stderr piped, `stdin` on stdin.
fn piped(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Cli {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    // A usage error exits before reading stdin: the write may then meet a closed pipe.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    done(child.wait_with_output().unwrap())
}

/// The binary with `args` on a pseudo-terminal (`script -qec`), as a person runs it: stdout
/// and stderr both reach the terminal; the exit code is the binary's.
fn on_terminal(args: &[&str], env: &[(&str, &str)]) -> Cli {
    let line = std::iter::once(bin().display().to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut cli = done(out);
    cli.stdout = cli.stdout.replace("\r\n", "\n");
    cli
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The fixture's args plus `extra`, in a file of the fixture (the terminal runs cannot pipe).
fn args_file(h: &Hermes, extra: Value) -> String {
    let path = h.dir.path().join("cli-args.json");
    std::fs::write(&path, serde_json::to_vec(&h.args(extra)).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn human_format_on_a_terminal_is_coloured_and_masked() {
    let h = Hermes::new();
    let file = args_file(&h, relay());
    let out = on_terminal(&["apply", "--args-file", &file, "--check", "--diff"], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_no_secret(&out.stdout, &[PASSWORD]);
    let plain = strip(&out.stdout);
    assert!(
        plain.starts_with("would change: rows, main.cf, sasl_passwd\n"),
        "{plain}"
    );
    assert!(
        plain.contains("  ~ main.cf: 4 line(s) added, 0 removed ("),
        "{plain}"
    );
    assert!(plain.contains("  ~ rows: "), "{plain}");
    assert!(
        plain.contains("  relay host: [smtp.example.com]:587"),
        "{plain}"
    );
    assert!(
        plain.contains("+[smtp.example.com]:587\trelayuser:********"),
        "{plain}"
    );
    // Coloured: the headline yellow, added lines green.
    assert!(
        out.stdout.contains("\x1b[33mwould change"),
        "{:?}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("\x1b[32m+relayhost = [smtp.example.com]:587"),
        "{:?}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("\"changed\""),
        "JSON on a terminal: {}",
        out.stdout
    );

    // NO_COLOR: the same text, no escapes.
    let out = on_terminal(
        &["apply", "--args-file", &file, "--check", "--diff"],
        &[("NO_COLOR", "1")],
    );
    assert!(!out.stdout.contains(ESC), "{:?}", out.stdout);
    assert_eq!(out.stdout, plain);

    // Nothing written in check mode; then applied, a second run is "no change" in green.
    let out = on_terminal(&["apply", "--args-file", &file], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(strip(&out.stdout).starts_with("changed: rows, main.cf, sasl_passwd\n"));
    let out = on_terminal(&["apply", "--args-file", &file], &[]);
    assert_eq!(
        strip(&out.stdout),
        "no change\n  relay host: [smtp.example.com]:587\n"
    );
    assert!(out.stdout.contains("\x1b[32m"), "{:?}", out.stdout);

    // --format json on a terminal: the result object, no colour.
    let out = on_terminal(&["apply", "--args-file", &file, "--format", "json"], &[]);
    let json: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["changed"], false);
}

#[test]
fn pipes_get_json_and_human_is_plain_text_there() {
    let h = Hermes::new();
    let args = serde_json::to_vec(&h.args(relay())).unwrap();
    let out = piped(&["apply", "--args-file", "-", "--check"], &args, &[]);
    assert_eq!(out.code, 0);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["changed"], true);
    assert_eq!(json["check_mode"], true);

    // Asked for, the human format goes through a pipe without escapes.
    let out = piped(
        &["apply", "--args-file", "-", "--check", "--format", "human"],
        &args,
        &[],
    );
    assert!(!out.stdout.contains(ESC), "{:?}", out.stdout);
    assert!(out.stdout.starts_with("would change: "), "{}", out.stdout);

    // doctor and rotate-key speak both formats.
    h.run(relay());
    let out = piped(
        &["doctor", "--args-file", "-", "--format", "human"],
        &args,
        &[],
    );
    assert!(out.stdout.starts_with("doctor: "), "{}", out.stdout);
    assert!(out.stdout.contains("  ✓ "), "{}", out.stdout);
    let out = piped(&["doctor", "--args-file", "-"], &args, &[]);
    assert!(serde_json::from_str::<Value>(&out.stdout).unwrap()["checks"].is_array());

    let rotation = serde_json::to_vec(&json!({"root": h.root})).unwrap();
    let out = piped(
        &[
            "rotate-key",
            "--args-file",
            "-",
            "--check",
            "--format",
            "human",
        ],
        &rotation,
        &[],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("  re-encrypted values: 2"),
        "{}",
        out.stdout
    );
}

#[test]
fn exit_codes_follow_the_contract() {
    let h = Hermes::new();
    let args = serde_json::to_vec(&h.args(relay())).unwrap();
    let apply = |extra: &[&str]| {
        let mut argv = vec!["apply", "--args-file", "-"];
        argv.extend(extra);
        piped(&argv, &args, &[])
    };
    // 2: drift, only with --check --exit-code.
    assert_eq!(apply(&["--check", "--exit-code"]).code, 2);
    assert_eq!(apply(&["--check"]).code, 0);
    // 64: a usage error, with clap's suggestion; --exit-code needs --check.
    let out = apply(&["--chek"]);
    assert_eq!(out.code, 64);
    assert!(
        out.stderr
            .contains("tip: a similar argument exists: '--check'"),
        "{}",
        out.stderr
    );
    let out = apply(&["--exit-code"]);
    assert_eq!(out.code, 64);
    assert!(out.stderr.contains("--check"), "{}", out.stderr);
    let out = piped(
        &["apply", "--args-file", "-", "--format", "yaml"],
        &args,
        &[],
    );
    assert_eq!(out.code, 64);
    assert!(
        out.stderr.contains("[possible values: human, json]"),
        "{}",
        out.stderr
    );
    assert_eq!(piped(&[], b"", &[]).code, 64);
    // 0: help and version are answers, not mistakes.
    let out = piped(&["apply", "--help"], b"", &[]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--format <FORMAT>"), "{}", out.stdout);
    let out = piped(&["--version"], b"", &[]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, concat!("hermes-relayhost ", env!("CARGO_PKG_VERSION")))
    );
    // Applied: no drift any more.
    assert_eq!(apply(&[]).code, 0);
    assert_eq!(apply(&["--check", "--exit-code"]).code, 0);
    // 1: a failed run, with its stable code in both formats.
    let bad = serde_json::to_vec(&h.args(json!({"host": "bad host!"}))).unwrap();
    let out = piped(&["apply", "--args-file", "-"], &bad, &[]);
    assert_eq!(out.code, 1);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "invalid_host");
    let out = piped(
        &["apply", "--args-file", "-", "--format", "human"],
        &bad,
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("error[invalid_host]: option 'host': ")
            && out.stderr.contains("(Hermes code 2)"),
        "{}",
        out.stderr
    );
    // 1: an args file that cannot be read.
    let out = piped(
        &["doctor", "--args-file", "/nonexistent/args.json"],
        b"",
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("reading args file /nonexistent/args.json"),
        "{}",
        out.stderr
    );
    // Module mode stays exit 0 with `failed` in the JSON, as Ansible reads it.
    let run = h.run_raw(&h.args(json!({"host": "bad host!"})));
    assert_eq!((run.code, &run.json["failed"]), (0, &json!(true)));
}

#[test]
fn errors_are_written_for_people_and_keep_their_code() {
    let h = Hermes::new();
    let out = h.run(json!({"prot": 587}));
    assert_eq!(out["error"]["code"], "invalid_args");
    assert_eq!(out["msg"], "unknown option 'prot': did you mean 'port'?");

    let template = h.root.join("opt/hermes/conf_files/main.cf.HERMES");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(
        &template,
        format!("{text}smtpd_banner = {{{{vars.motd}}}}\n"),
    )
    .unwrap();
    let line = text.lines().count() + 1;
    let out = h.run(relay());
    assert_eq!(out["error"]["code"], "template_error");
    let msg = out["msg"].as_str().unwrap();
    assert!(
        msg.ends_with(&format!(
            "line {line}, column 16: variable 'motd' ({{{{vars.motd}}}}) has no value: pass it \
             in the 'vars' option, e.g. vars: {{motd: ...}}"
        )),
        "{msg}"
    );
    assert!(!msg.contains("Some("), "{msg}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    for argv in [&["schema"][..], &["completions", "bash"]] {
        // `| head -c1`: the reader takes a byte and goes away.
        let line = format!(
            "{} {} | head -c1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            bin().display(),
            argv.join(" ")
        );
        let out = Command::new("bash").args(["-c", &line]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
    }
}

#[test]
fn reload_uses_the_location_options_and_tells_when_postfix_is_down() {
    let h = Hermes::new();
    let location = serde_json::to_vec(&json!({"root": h.root, "postfix_exec": []})).unwrap();
    let out = piped(&["reload", "--args-file", "-"], &location, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["changed"], false);
    assert_eq!(
        json["warnings"],
        json!(["Postfix is not running: reload skipped"])
    );

    let refused = serde_json::to_vec(&h.args(relay())).unwrap();
    let out = piped(&["reload", "--args-file", "-"], &refused, &[]);
    assert_eq!(out.code, 1);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "invalid_args");
    assert!(
        json["msg"]
            .as_str()
            .unwrap()
            .starts_with("reload takes no 'host' option")
    );
    assert_no_secret(&out.stdout, &[PASSWORD]);

    let pf = PrivatePostfix::start(&h);
    let mark = pf.log_mark();
    let out = piped(
        &["reload", "--args-file", "-", "--format", "human"],
        &location,
        &[],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Postfix reloaded\n"),
        "{}",
        out.stderr
    );
    assert!(
        pf.wait_log(mark, "reload -- version", Duration::from_secs(20))
            .is_some(),
        "no reload in the log:\n{}",
        pf.log_since(mark)
    );
}

/// The shipped completions and man page are what this build generates; regenerate with
/// `HERMES_REGENERATE=1 cargo test --test integration cli::shipped`.
#[test]
fn shipped_completions_and_man_page_are_fresh() {
    let regenerate = std::env::var_os("HERMES_REGENERATE").is_some();
    let mut stale = Vec::new();
    let mut check = |path: &str, generated: Vec<u8>| {
        let path = repo(path);
        if regenerate {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(generated.as_slice()) {
            stale.push(path.display().to_string());
        }
    };
    for (shell, file) in [
        ("bash", "doc/completions/hermes-relayhost.bash"),
        ("zsh", "doc/completions/_hermes-relayhost"),
        ("fish", "doc/completions/hermes-relayhost.fish"),
    ] {
        let out = piped(&["completions", shell], b"", &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("rotate-key"), "{shell}: {}", out.stdout);
        check(file, out.stdout.into_bytes());
    }
    // One page per command, as `man hermes-relayhost-apply` expects.
    let pages = tempfile::TempDir::new().unwrap();
    clap_mangen::generate_to(hermes_relayhost::cli::Cli::command(), pages.path()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(pages.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(
        names.contains(&"hermes-relayhost-apply.1".to_string()),
        "{names:?}"
    );
    for name in &names {
        check(
            &format!("doc/man/{name}"),
            std::fs::read(pages.path().join(name)).unwrap(),
        );
    }
    let shipped = std::fs::read_dir(repo("doc/man")).map_or(0, |d| d.count());
    assert!(
        regenerate || shipped == names.len(),
        "extra pages in doc/man"
    );
    assert!(
        stale.is_empty(),
        "stale, regenerate with HERMES_REGENERATE=1 cargo test --test integration \
         cli::shipped: {stale:?}"
    );
}

#[test]
fn every_subcommand_and_flag_has_help() {
    let mut cmd = hermes_relayhost::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    for sub in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
        if sub.get_about().is_none() {
            missing.push(sub.get_name().to_string());
        }
        for arg in sub.get_arguments() {
            if arg.get_help().is_none() {
                missing.push(format!("{} {}", sub.get_name(), arg.get_id()));
            }
        }
    }
    assert!(missing.is_empty(), "no help text: {missing:?}");
}

/// The text without its ANSI colour escapes.
fn strip(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}
