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

/// The shipped completions and man pages are what this build generates; regenerate with
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
    let pages = man_pages();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"hermes-relayhost-apply.1"), "{names:?}");
    for (name, text) in &pages {
        check(&format!("doc/man/{name}"), text.clone().into_bytes());
    }
    let shipped = std::fs::read_dir(repo("doc/man")).map_or(0, |d| d.count());
    assert!(
        regenerate || shipped == pages.len(),
        "extra pages in doc/man"
    );
    assert!(
        stale.is_empty(),
        "stale, regenerate with HERMES_REGENERATE=1 cargo test --test integration \
         cli::shipped: {stale:?}"
    );
}

/// The man pages: clap_mangen's page of each command, its version in the footer, then the
/// options of the JSON args file from the schema (for the commands that read one) and the
/// command's examples (its `after_long_help`) as an EXAMPLES section.
fn man_pages() -> Vec<(String, String)> {
    let mut cmd = hermes_relayhost::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let schema = hermes_relayhost::args::schema();
    let mut pages = vec![man_page(&cmd, &schema)];
    for sub in cmd.get_subcommands() {
        pages.push(man_page(sub, &schema));
    }
    pages.sort();
    pages
}

fn man_page(cmd: &clap::Command, schema: &Value) -> (String, String) {
    let man = clap_mangen::Man::new(cmd.clone())
        .source(concat!("hermes-relayhost ", env!("CARGO_PKG_VERSION")));
    let mut roff = Vec::new();
    man.render(&mut roff).unwrap();
    let mut text = String::from_utf8(roff).unwrap();
    // clap_mangen's EXTRA section is the examples: ours replaces it.
    let examples = cmd
        .get_after_long_help()
        .map(|help| examples_section(&help.to_string()));
    if let Some(start) = text.find(".SH EXTRA\n") {
        let end = text[start + 1..]
            .find("\n.SH ")
            .map_or(text.len(), |at| start + at + 2);
        text.replace_range(start..end, "");
    }
    let mut sections = String::new();
    let takes_args = cmd.get_name() == "hermes-relayhost"
        || cmd.get_arguments().any(|a| a.get_id() == "args_file");
    if takes_args {
        sections.push_str(&json_options_section(cmd.get_name(), schema));
    }
    sections.push_str(&examples.unwrap_or_default());
    let at = text.find(".SH VERSION\n").unwrap_or(text.len());
    text.insert_str(at, &sections);
    (man.get_filename(), text)
}

/// roff text: backslashes, hyphens (so that man shows `-`, not a hyphen) and a leading `.` or
/// `'` escaped.
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// `Examples:`, then per example a description (two spaces in) and its command lines (four).
fn examples_section(help: &str) -> String {
    let mut out = String::from(".SH EXAMPLES\n");
    for line in help.lines().skip(1) {
        if let Some(command) = line.strip_prefix("    ") {
            // Unfilled: a command line is not wrapped or justified.
            out.push_str(&format!(
                ".RS 4\n.nf\n\\fB{}\\fR\n.fi\n.RE\n",
                roff_text(command)
            ));
        } else if let Some(what) = line.strip_prefix("  ") {
            out.push_str(&format!(".PP\n{}\n", roff_text(what)));
        }
    }
    out
}

/// The JSON OPTIONS section: every option the command's args file takes, from the schema.
fn json_options_section(command: &str, schema: &Value) -> String {
    let location = hermes_relayhost::options::LOCATION.map(|o| o.name());
    let props = schema["properties"].as_object().unwrap();
    let rotation = ["rotate_key", "new_key_file", "new_cipher"];
    let relay: Vec<&str> = props
        .keys()
        .map(String::as_str)
        .filter(|k| !location.contains(k) && !rotation.contains(k))
        .collect();
    let groups: Vec<(&str, Vec<&str>)> = match command {
        "reload" => vec![("Where the host's state is", location.to_vec())],
        "rotate-key" => vec![
            ("Where the host's state is", location.to_vec()),
            ("Key rotation", rotation.to_vec()),
        ],
        _ => vec![
            ("The relay", relay),
            ("Where the host's state is", location.to_vec()),
            ("Key rotation", rotation.to_vec()),
        ],
    };
    let mut out = String::from(
        ".SH JSON OPTIONS\nThe args file is one JSON object with these keys (\\fBhermes\\-relayhost \
         schema\\fR prints its JSON schema); a \\fBnull\\fR value is as if the key were \
         omitted, and an unknown key is an error.\n",
    );
    for (heading, keys) in groups {
        out.push_str(&format!(".SS \"{heading}\"\n"));
        for key in keys {
            let prop = &props[key];
            let mut line = roff_text(prop["description"].as_str().unwrap_or_default());
            line = line.replace('\n', " ");
            if let Some(default) = prop.get("default")
                && !line.contains("default")
            {
                line.push_str(&format!(" Default: {}.", roff_text(&default.to_string())));
            }
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR \\fI{}\\fR\n{line}\n",
                roff_text(key),
                roff_text(&kind(schema, prop))
            ));
        }
    }
    out
}

/// What a schema property takes, in words: `string`, `boolean`, `integer 1-65535`, a choice
/// `none|may|encrypt|wrapper`, `list of strings`, ...
fn kind(schema: &Value, prop: &Value) -> String {
    if let Some(reference) = prop["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return kind(schema, &schema["$defs"][name]);
    }
    if let Some(values) = prop["enum"].as_array() {
        return values
            .iter()
            .map(|v| v.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join("|");
    }
    if let Some(choices) = prop["oneOf"].as_array() {
        return choices
            .iter()
            .map(|c| c["const"].as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join("|");
    }
    if let Some(any) = prop["anyOf"].as_array() {
        let kinds: Vec<String> = any
            .iter()
            .filter(|alt| alt["type"] != "null")
            .map(|alt| kind(schema, alt))
            .collect();
        if kinds.iter().any(|k| k == "boolean") {
            return "boolean".into();
        }
        return kinds.into_iter().next().unwrap_or_default();
    }
    let types: Vec<&str> = match &prop["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    match types.first().copied() {
        Some("integer") => match (prop["minimum"].as_i64(), prop["maximum"].as_i64()) {
            (Some(min), Some(max)) => format!("integer {min}-{max}"),
            _ => "integer".into(),
        },
        Some("array") => {
            let items = &prop["items"];
            if items["$ref"].is_string() {
                let name = items["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                let fields: Vec<&str> = schema["$defs"][name]["properties"]
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                format!("list of {{{}}}", fields.join(", "))
            } else {
                format!("list of {}s", kind(schema, items))
            }
        }
        Some("object") => "map of strings".into(),
        Some(other) => other.into(),
        None => "any".into(),
    }
}

/// A mistyped subcommand is a usage error that names the one meant, never module mode's args
/// file (not even when a file of that name exists); a path stays module mode.
#[test]
fn a_mistyped_subcommand_is_a_usage_error_with_a_suggestion() {
    let dir = tempfile::TempDir::new().unwrap();
    // A file named like the typo: still not read.
    std::fs::write(dir.path().join("doctr"), "{}").unwrap();
    let run = |args: &[&str]| {
        done(
            Command::new(bin())
                .args(args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        )
    };
    for (argv, meant) in [
        (&["doctr"][..], Some("doctor")),
        (&["aplly", "--args-file", "x"], Some("apply")),
        (&["rotatekey", "--args-file", "-"], Some("rotate-key")),
        (&["scheme"], Some("schema")),
        (&["frobnicate"], None),
    ] {
        let out = run(argv);
        assert_eq!(out.code, 64, "{argv:?}: {}{}", out.stdout, out.stderr);
        assert_eq!(out.stdout, "", "{argv:?}: read as an args file");
        assert!(
            out.stderr.starts_with(&format!(
                "error[usage]: unrecognized subcommand '{}'",
                argv[0]
            )),
            "{argv:?}: {}",
            out.stderr
        );
        match meant {
            Some(name) => assert!(
                out.stderr
                    .contains(&format!("tip: a similar subcommand exists: '{name}'")),
                "{argv:?}: {}",
                out.stderr
            ),
            None => assert!(!out.stderr.contains("tip:"), "{}", out.stderr),
        }
    }
    // Module mode takes a path, as Ansible gives it, or an existing file of any other name.
    std::fs::write(dir.path().join("args"), "{\"prot\": 1}").unwrap();
    for arg in ["args", "./doctr", "missing.json"] {
        let out = run(&[arg]);
        assert_eq!(out.code, 0, "{arg}: {}", out.stderr);
        let json: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(json["failed"], true, "{arg}: {json}");
    }
}

/// In the human format every error starts `error[CODE]: `: a failed request, an args file
/// that cannot be read, a command-line mistake.
#[test]
fn every_human_error_has_a_code() {
    let h = Hermes::new();
    let bad = args_file(&h, json!({"host": "bad host!"}));
    for (argv, code) in [
        (vec!["apply", "--args-file", bad.as_str()], "invalid_host"),
        (
            vec!["doctor", "--args-file", "/nonexistent/args.json"],
            "args_unreadable",
        ),
        (
            vec!["apply", "--args-file", "/nonexistent/args.json", "--check"],
            "args_unreadable",
        ),
        (vec!["apply", "--chek"], "usage"),
        (vec!["doctr"], "usage"),
        (vec![], "usage"),
        (vec!["init"], "usage"),
        (vec!["completions", "tcsh"], "usage"),
    ] {
        // On a terminal (human by default; stdout and stderr are one stream there) and
        // through pipes with `--format human` where the command takes it.
        let mut human = argv.clone();
        if code != "usage" {
            human.extend(["--format", "human"]);
        }
        for (out, text) in [
            {
                let out = on_terminal(&argv, &[("NO_COLOR", "1")]);
                let text = out.stdout.clone();
                (out, text)
            },
            {
                let out = piped(&human, b"", &[]);
                let text = out.stderr.clone();
                (out, text)
            },
        ] {
            assert!(
                text.starts_with(&format!("error[{code}]: ")),
                "{argv:?}: {text}"
            );
            assert_ne!(out.code, 0, "{argv:?}");
        }
    }
    // `init` where it cannot create the root: the library's own code.
    let out = piped(&["init", "--root", "/proc/hermes-init"], b"", &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error[io_error]: "),
        "{}",
        out.stderr
    );
}

/// `init` tells a person what it made; piped (or `--format json`) it prints the module options.
#[test]
fn init_prints_text_on_a_terminal_and_json_elsewhere() {
    let dir = tempfile::TempDir::new().unwrap();
    let root = dir.path().join("demo");
    let root_arg = root.display().to_string();
    let out = on_terminal(&["init", "--root", &root_arg], &[("NO_COLOR", "1")]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.starts_with(&format!("initialized {root_arg}\n")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "  key            {root_arg}/opt/hermes/keys/hermes.key\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--format json > args.json"),
        "{}",
        out.stdout
    );
    let other = dir.path().join("other").display().to_string();
    let out = piped(&["init", "--root", &other], b"", &[]);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["root"], json!(other));
    let again = dir.path().join("again").display().to_string();
    let out = on_terminal(&["init", "--root", &again, "--format", "json"], &[]);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["postfix_exec"], json!([]));
}

/// The shipped completion scripts, sourced by the real bash, zsh and fish (Debian's, from
/// scripts/install-test-deps.sh), complete subcommands, their flags and flag values.
#[test]
fn completions_work_in_bash_zsh_and_fish() {
    let cases: &[(&str, &[&str])] = &[
        (
            "hermes-relayhost ",
            &["apply", "doctor", "rotate-key", "reload", "init"],
        ),
        (
            "hermes-relayhost apply --",
            &[
                "--args-file",
                "--check",
                "--diff",
                "--exit-code",
                "--format",
            ],
        ),
        ("hermes-relayhost apply --format ", &["human", "json"]),
        (
            "hermes-relayhost rotate-key --",
            &["--args-file", "--check"],
        ),
        ("hermes-relayhost doctor --args-file x --f", &["--format"]),
        ("hermes-relayhost init --", &["--root", "--format"]),
        ("hermes-relayhost completions ", &["bash", "zsh", "fish"]),
    ];
    let dir = tempfile::TempDir::new().unwrap();
    let zfunc = dir.path().join("zfunc");
    std::fs::create_dir(&zfunc).unwrap();
    std::fs::copy(
        repo("doc/completions/_hermes-relayhost"),
        zfunc.join("_hermes-relayhost"),
    )
    .unwrap();
    let capture = dir.path().join("capture.zsh");
    std::fs::write(&capture, ZSH_CAPTURE).unwrap();
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            Command::new(shell).arg("-c").arg("true").status().is_ok(),
            "{shell} is missing: run scripts/install-test-deps.sh (as root)"
        );
    }
    for (line, wanted) in cases {
        let bash = shell_words(
            Command::new("bash").args([
                "-c",
                BASH_CAPTURE,
                "capture",
                &repo("doc/completions/hermes-relayhost.bash")
                    .display()
                    .to_string(),
                line,
            ]),
        );
        let fish = shell_words(Command::new("fish").args([
            "--no-config",
            "-c",
            &format!(
                "source {}; complete -C {}",
                shell_quote(&repo("doc/completions/hermes-relayhost.fish").display().to_string()),
                shell_quote(line)
            ),
        ]));
        let zsh = shell_words(
            Command::new("zsh")
                .args(["-f"])
                .arg(&capture)
                .arg(&zfunc)
                .arg(line)
                .env("HOME", dir.path()),
        );
        for (shell, got) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
            for want in *wanted {
                assert!(
                    got.iter().any(|w| w == want),
                    "{shell} does not complete {want:?} after {line:?}: {got:?}"
                );
            }
        }
    }
}

/// The first word of each line a shell printed (fish adds a TAB and the description).
fn shell_words(cmd: &mut Command) -> Vec<String> {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(['\t', ' ']).next())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// bash: source the script, then call the function it registered for hermes-relayhost with
/// the words of the line, as readline does on TAB; print COMPREPLY.
const BASH_CAPTURE: &str = r#"
source "$1"
spec=$(complete -p hermes-relayhost) || exit 1
fn=${spec#*-F }; fn=${fn%% *}
line=$2
read -ra COMP_WORDS <<<"$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=$line; COMP_POINT=${#line}; COMPREPLY=()
"$fn" hermes-relayhost "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;

/// zsh: an interactive zsh on a pseudo-terminal (zpty) with the function dir on fpath and
/// compinit, TAB typed after the line; `compadd` wrapped to print what it is given.
const ZSH_CAPTURE: &str = r#"
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "fpath=($1 \$fpath)"
zpty -w z 'PROMPT=; autoload -Uz compinit; compinit -u -d "$HOME/.zcompdump"'
zpty -w z 'bindkey "^I" complete-word; null-line() { echo -E - $'"'"'\0'"'"' }; compprefuncs=(null-line); comppostfuncs=(null-line exit)'
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" menu no'
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a __hits; builtin compadd -A __hits "$@"; (( $#__hits )) || return; local h; for h in $__hits; do echo -E - "HIT:$h"; done; builtin compadd "$@" }'
zpty -w z "$2"$'\t'
integer tog=0
local line
while zpty -r z line; do
  [[ $line == *$'\0'* ]] && { (( tog++ )) && break || continue }
  (( tog )) && [[ $line == HIT:* ]] && print -r -- ${${line#HIT:}%$'\r'}
done
zpty -d z
"#;

/// The man pages list every option of the args file (main page and `apply`: all of them) and
/// show examples; man renders them without a warning.
#[test]
fn man_pages_list_every_json_option_and_examples() {
    let schema = hermes_relayhost::args::schema();
    let options: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    for (name, text) in man_pages() {
        assert!(text.contains("\n.SH EXAMPLES\n"), "{name}: no EXAMPLES");
        if name == "hermes-relayhost.1" || name == "hermes-relayhost-apply.1" {
            for option in &options {
                let entry = format!("\n\\fB{}\\fR \\fI", option.replace('-', "\\-"));
                assert!(text.contains(&entry), "{name}: no option {option}");
            }
        }
        if name == "hermes-relayhost-reload.1" {
            assert!(text.contains("\\fBpostfix_exec\\fR"), "{name}");
            assert!(
                !text.contains("\\fBhost\\fR"),
                "{name}: reload takes no host"
            );
        }
    }
    let main = std::fs::read_to_string(repo("doc/man/hermes-relayhost.1")).unwrap();
    assert!(
        main.contains("`become: true` in Ansible"),
        "become is not documented"
    );
    for page in std::fs::read_dir(repo("doc/man")).unwrap() {
        let path = page.unwrap().path();
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
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
