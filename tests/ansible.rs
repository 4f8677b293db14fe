//! The Ansible collection `hermes_seg.relay` with the real ansible-core (pinned venv): the
//! documentation sidecar cannot drift from the JSON schema, the collection builds and installs
//! with ansible-galaxy, and `ansible-playbook` check mode, diff, idempotency, failures and
//! verbose output behave as the contract says, passwords never shown.

mod common;
mod runners;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use common::{Hermes, PASSWORD};
use runners::{Ansible, Output, host_recap, module_binary, run};
use serde_json::{Value, json};

const FQCN: &str = "hermes_seg.relay.relay_host";

/// A distinctive part of the password: even a partial leak must be caught.
const PASSWORD_PART: &str = "w0rd";

fn assert_no_password(out: &Output) {
    let all = out.all();
    assert!(
        !all.contains(PASSWORD) && !all.contains(PASSWORD_PART),
        "the password leaked:\n{all}"
    );
}

/// A one-task playbook against the fixture's root. The password comes from a vars file, as
/// from a vault in real use: a failing task makes ansible-core quote the playbook lines
/// around it, so a secret written inline there would be printed by Ansible itself.
fn playbook(a: &Ansible, h: &Hermes, name: &str, options: Value) -> PathBuf {
    let mut args = h.args(options);
    let mut vars = json!({});
    if let Some(password) = args.get("password").cloned() {
        vars["relay_password"] = password;
        args["password"] = json!("{{ relay_password }}");
    }
    let secrets = a.path().join(format!("{name}.secrets.yml"));
    fs::write(&secrets, vars.to_string()).unwrap();
    // JSON is YAML: flow mappings keep the generated playbook exact.
    let yaml = format!(
        "- hosts: all\n  gather_facts: false\n  vars_files: [{secrets:?}]\n  tasks:\n    \
         - name: relay host\n      {FQCN}: {args}\n"
    );
    let path = a.path().join(name);
    fs::write(&path, yaml).unwrap();
    path
}

fn relay_options(password: &str) -> Value {
    json!({"host": "smtp.example.com", "port": 587, "username": "relayuser", "password": password})
}

#[test]
fn check_diff_shows_the_masked_diff_and_changes_nothing() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));
    let before = h.snapshot();

    let out = a.playbook(&play, &["--check", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let recap = host_recap(&out, "localhost");
    assert_eq!((recap["changed"], recap["failed"]), (1, 0), "{}", out.all());
    for shown in [
        "+relayhost = [smtp.example.com]:587",
        "+[smtp.example.com]:587\trelayuser:********",
        "+system_settings.relay_host_password = ******** (new)",
    ] {
        assert!(
            out.stdout.contains(shown),
            "diff lacks {shown:?}:\n{}",
            out.all()
        );
    }
    assert_no_password(&out);
    assert_eq!(h.snapshot(), before, "check mode wrote something");
}

#[test]
fn real_run_changes_rerun_is_idempotent_and_verbose_output_is_masked() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));

    // -vvv prints the module's whole result, its invocation and the command lines.
    let out = a.playbook(&play, &["-vvv", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert!(out.stdout.contains("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"));
    assert_no_password(&out);
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert_eq!(
        h.file("sasl_passwd").unwrap(),
        format!("[smtp.example.com]:587\trelayuser:{PASSWORD}\n")
    );

    let before = h.snapshot();
    let out = a.playbook(&play, &["-vvv"]);
    let recap = host_recap(&out, "localhost");
    assert_eq!((recap["ok"], recap["changed"]), (1, 0), "{}", out.all());
    assert_no_password(&out);
    assert_eq!(h.snapshot(), before, "a no-change run wrote something");

    // A rotation preview names both sides, masked, and still writes nothing.
    let rotate = playbook(&a, &h, "rotate.yml", relay_options("n3w-secret-Rotated"));
    let out = a.playbook(&rotate, &["--check", "--diff"]);
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("-system_settings.relay_host_password = ******** (old)")
            && out
                .stdout
                .contains("+system_settings.relay_host_password = ******** (new)"),
        "{}",
        out.all()
    );
    assert!(!out.all().contains("n3w-secret"), "{}", out.all());
    assert_eq!(h.snapshot(), before);
}

#[test]
fn validation_error_fails_the_task_with_the_clear_message() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let mut options = relay_options(PASSWORD);
    options["host"] = json!("bad host.example.com");
    let play = playbook(&a, &h, "play.yml", options);
    let before = h.snapshot();

    let out = a.playbook(&play, &["-vvv"]);
    assert_eq!(
        out.code,
        2,
        "a failed task makes ansible-playbook exit 2:\n{}",
        out.all()
    );
    assert_eq!(host_recap(&out, "localhost")["failed"], 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("option 'host': contains whitespace or a control character")
            && out.stdout.contains("invalid_host"),
        "{}",
        out.all()
    );
    assert_no_password(&out);
    assert_eq!(h.snapshot(), before);
}

#[test]
fn galaxy_build_and_install_give_a_working_module() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let src = Ansible::collection_in(&a.collections());
    let out = run(a
        .command("ansible-galaxy")
        .args(["collection", "build", "--output-path"])
        .arg(a.path())
        .arg(&src));
    assert_eq!(out.code, 0, "{}", out.all());
    let version = fs::read_to_string(src.join("galaxy.yml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("version: ").map(str::to_string))
        .expect("galaxy.yml has a version");
    let tarball = a.path().join(format!("hermes_seg-relay-{version}.tar.gz"));
    assert!(tarball.exists(), "{}", out.all());

    let installed = a.path().join("installed");
    // Installing with the private copy on the collections path would find it "already installed".
    let out = run(a
        .command_with("ansible-galaxy", &installed)
        .args(["collection", "install", "--offline", "-p"])
        .arg(&installed)
        .arg(&tarball));
    assert_eq!(out.code, 0, "{}", out.all());
    let module = Ansible::collection_in(&installed).join("plugins/modules/relay_host");
    assert_eq!(
        fs::read(&module).unwrap(),
        fs::read(module_binary()).unwrap(),
        "the installed module is not the built binary"
    );

    let play = playbook(&a, &h, "play.yml", relay_options(PASSWORD));
    let out = run(a
        .command_with("ansible-playbook", &installed)
        .args(["-i", "localhost,", "-c", "local"])
        .arg(&play));
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert_eq!(
        h.param(203).parameter.as_deref(),
        Some("[smtp.example.com]:587")
    );
}

#[test]
fn ansible_doc_shows_the_module_and_agrees_with_the_schema() {
    let a = Ansible::new();
    let out = run(a.command("ansible-doc").arg(FQCN));
    assert_eq!(out.code, 0, "{}", out.all());
    for section in [
        "OPTIONS",
        "password",
        "no_log: true",
        "EXAMPLES",
        "RETURN VALUES",
    ] {
        assert!(
            out.stdout.contains(section),
            "ansible-doc lacks {section:?}:\n{}",
            out.all()
        );
    }

    let out = run(a.command("ansible-doc").args(["--json", FQCN]));
    assert_eq!(out.code, 0, "{}", out.all());
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let doc = &doc[FQCN];
    for key in ["changed", "msg", "diff", "warnings", "changes", "relayhost"] {
        assert!(doc["return"].get(key).is_some(), "RETURN lacks {key}");
    }
    for key in ["pending_applied", "error", "restored", "check_mode"] {
        assert!(doc["return"].get(key).is_some(), "RETURN lacks {key}");
    }
    assert!(doc["examples"].as_str().unwrap().contains(FQCN));

    let schema = run(std::process::Command::new(module_binary()).arg("schema"));
    assert_eq!(schema.code, 0, "{}", schema.all());
    let schema: Value = serde_json::from_str(&schema.stdout).unwrap();
    let problems = disagreements(&schema, &doc["doc"]["options"]);
    assert!(
        problems.is_empty(),
        "plugins/modules/relay_host.yml disagrees with `hermes-relayhost schema`:\n  {}",
        problems.join("\n  ")
    );
}

/// The drift check itself: each kind of disagreement is reported, so a passing
/// `ansible_doc_…_agrees_with_the_schema` means agreement, not a blind checker.
#[test]
fn drift_check_reports_every_kind_of_disagreement() {
    let schema = json!({
        "$defs": {
            "Mode": {"type": "string", "enum": ["a", "b"]},
            "Cipher": {"oneOf": [{"type": "string", "const": "x"}, {"type": "string", "const": "y"}]},
            "Pair": {"type": "object", "required": ["key", "secret"], "properties": {
                "key": {"type": "string"},
                "secret": {"type": "string", "writeOnly": true}
            }}
        },
        "properties": {
            "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}]},
            "cipher": {"anyOf": [{"$ref": "#/$defs/Cipher"}, {"type": "null"}]},
            "port": {"anyOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]},
                               {"type": "null"}]},
            "flag": {"anyOf": [{"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]},
                                          {"type": "string"}]}, {"type": "null"}]},
            "secret": {"type": ["string", "null"], "writeOnly": true},
            "list": {"type": ["array", "null"], "items": {"type": "string"}},
            "map": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
            "pairs": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Pair"}}
        }
    });
    let good = json!({
        "mode": {"type": "str", "choices": ["b", "a"]},
        "cipher": {"type": "str", "choices": ["x", "y"]},
        "port": {"type": "int"},
        "flag": {"type": "bool"},
        "secret": {"type": "str", "no_log": true},
        "list": {"type": "list", "elements": "str"},
        "map": {"type": "dict"},
        "pairs": {"type": "list", "elements": "dict", "suboptions": {
            "key": {"type": "str", "required": true},
            "secret": {"type": "str", "required": true, "no_log": true}
        }}
    });
    assert_eq!(disagreements(&schema, &good), Vec::<String>::new());

    let mutations: [(&str, Value); 10] = [
        ("/mode/choices", json!(["a"])),
        ("/cipher/choices", json!(["x", "z"])),
        ("/port/type", json!("str")),
        ("/flag/type", json!("str")),
        ("/secret/no_log", json!(false)),
        ("/list/elements", json!("int")),
        ("/extra", json!({"type": "str"})),
        ("/pairs/suboptions/secret/no_log", json!(false)),
        ("/pairs/suboptions/key/required", json!(false)),
        ("/map/suboptions", json!({"a": {"type": "str"}})),
    ];
    for (pointer, value) in mutations {
        let mut doc = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent).unwrap()[key] = value;
        assert!(
            !disagreements(&schema, &doc).is_empty(),
            "{pointer} changed but no disagreement found"
        );
    }
    for pointer in ["", "/pairs/suboptions"] {
        let mut doc = good.clone();
        let options = doc.pointer_mut(pointer).unwrap().as_object_mut().unwrap();
        let first = options.keys().next().unwrap().clone();
        options.remove(&first);
        assert!(
            !disagreements(&schema, &doc).is_empty(),
            "a missing option under {pointer:?} went unnoticed"
        );
    }
}

/// What the docs must say of one option (its suboptions are compared on their own).
#[derive(Debug, PartialEq)]
struct OptionDoc {
    kind: String,
    elements: Option<String>,
    choices: Option<BTreeSet<String>>,
    no_log: bool,
    required: bool,
}

/// Every way the sidecar's options differ from the schema's properties.
fn disagreements(schema: &Value, doc_options: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    compare(schema, schema, doc_options, "", &mut problems);
    problems
}

/// Compares the properties of `object` (the schema or a nested object) with `doc_options`,
/// recursing into suboptions; problems are named by their dotted path.
fn compare(schema: &Value, object: &Value, doc_options: &Value, path: &str, out: &mut Vec<String>) {
    let empty = serde_json::Map::new();
    let props = object["properties"]
        .as_object()
        .expect("schema has properties");
    let docs = doc_options.as_object().unwrap_or(&empty);
    let required: BTreeSet<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in props.keys().filter(|n| !docs.contains_key(*n)) {
        out.push(format!("{path}{name}: in the schema, not documented"));
    }
    for name in docs.keys().filter(|n| !props.contains_key(*n)) {
        out.push(format!("{path}{name}: documented, not in the schema"));
    }
    for (name, prop) in props {
        let Some(doc) = docs.get(name) else { continue };
        let expected = schema_option(schema, prop, required.contains(name.as_str()));
        let documented = doc_option(doc);
        if documented != expected {
            out.push(format!(
                "{path}{name}: schema says {expected:?}, docs say {documented:?}"
            ));
        }
        if let Some(default) = prop.get("default").filter(|d| !d.is_null())
            && doc.get("default") != Some(default)
        {
            out.push(format!(
                "{path}{name}: schema default {default}, docs {:?}",
                doc.get("default")
            ));
        }
        match sub_object(schema, prop) {
            Some(sub) => compare(
                schema,
                &sub,
                &doc["suboptions"],
                &format!("{path}{name}."),
                out,
            ),
            None if doc.get("suboptions").is_some() => out.push(format!(
                "{path}{name}: documents suboptions the schema lacks"
            )),
            None => {}
        }
    }
}

/// The schema's alternatives for a property, `$ref`s resolved and `null` (omitted) dropped.
fn alternatives(schema: &Value, prop: &Value) -> Vec<Value> {
    if let Some(reference) = prop["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        return alternatives(schema, schema.pointer(pointer).expect("$ref resolves"));
    }
    if let Some(any) = prop["anyOf"].as_array().or(prop["oneOf"].as_array()) {
        return any
            .iter()
            .flat_map(|alt| alternatives(schema, alt))
            .collect();
    }
    match &prop["type"] {
        Value::Array(types) => types
            .iter()
            .filter(|t| *t != "null")
            .map(|t| {
                let mut alt = prop.clone();
                alt["type"] = t.clone();
                alt
            })
            .collect(),
        Value::String(t) if t == "null" => vec![],
        _ => vec![prop.clone()],
    }
}

/// The object whose properties are this option's suboptions: the option's own (a `dict`) or
/// its items' (a `list` of `dict`s). A string map (`vars`) has none.
fn sub_object(schema: &Value, prop: &Value) -> Option<Value> {
    let alts = alternatives(schema, prop);
    let array_items = alts
        .iter()
        .filter(|a| a["type"] == "array")
        .flat_map(|a| alternatives(schema, &a["items"]))
        .collect::<Vec<_>>();
    alts.into_iter()
        .chain(array_items)
        .find(|a| a["type"] == "object" && a.get("properties").is_some())
}

/// Ansible's view of a schema property: a boolean alternative makes it `bool` (Ansible's
/// boolean strings are the other alternatives), an integer one `int` (digit strings allowed).
fn schema_option(schema: &Value, prop: &Value, required: bool) -> OptionDoc {
    let alts = alternatives(schema, prop);
    let has = |t: &str| alts.iter().any(|a| a["type"] == t);
    let ansible = |t: &Value| match t.as_str() {
        Some("string") => "str",
        Some("integer") => "int",
        Some("boolean") => "bool",
        Some("array") => "list",
        Some("object") => "dict",
        other => panic!("unmapped schema type {other:?}"),
    };
    let kind = if has("boolean") {
        "bool"
    } else if has("integer") {
        "int"
    } else {
        let kinds: BTreeSet<_> = alts.iter().map(|a| ansible(&a["type"])).collect();
        assert_eq!(kinds.len(), 1, "unmapped alternatives {alts:?}");
        kinds.into_iter().next().unwrap()
    };
    let elements = alts.iter().find(|a| a["type"] == "array").map(|a| {
        let items = alternatives(schema, &a["items"]);
        ansible(&items[0]["type"]).to_string()
    });
    // Choices: an enum, or one `const` per alternative (a documented enum).
    let choices: BTreeSet<String> = alts
        .iter()
        .flat_map(|a| {
            let listed = a["enum"].as_array().cloned().unwrap_or_default();
            listed.into_iter().chain(a.get("const").cloned())
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    OptionDoc {
        kind: kind.to_string(),
        elements,
        choices: (kind == "str" && !choices.is_empty()).then_some(choices),
        no_log: prop["writeOnly"] == true,
        required,
    }
}

fn doc_option(doc: &Value) -> OptionDoc {
    OptionDoc {
        // Ansible's default option type is `str`.
        kind: doc["type"].as_str().unwrap_or("str").to_string(),
        elements: doc["elements"].as_str().map(str::to_string),
        choices: doc["choices"].as_array().map(|c| {
            c.iter()
                .map(|v| v.as_str().unwrap_or("?").to_string())
                .collect()
        }),
        no_log: doc["no_log"] == true,
        required: doc["required"] == true,
    }
}
