//! A masterless Salt minion (`salt-call --local`, the pinned venv's) in a temp dir: its config,
//! state and pillar trees and log in one place. Salt needs no keys with `--local`, so a minion
//! per test is free and keeps the tests independent.
//!
//! Shared by the integration crate (`salt.rs`, `release.rs`) and the container crate, each of
//! which includes this file as a child of a module that names the runner helpers (the pinned
//! venv, `run`, the binary under test) `harness`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::harness::{Output, module_binary, run, venv_tool};

/// The repo's Salt sources: the `_modules`, `_states` and the `hermes_relay` formula.
pub fn modules_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/salt")
}

pub struct Minion {
    dir: TempDir,
    /// Set for every `salt-call`.
    env: Vec<(OsString, OsString)>,
}

impl Minion {
    /// Loads the modules from the repo and finds the binary under test through the minion
    /// option `hermes_relay_host.binary`; logs everything (`all`).
    pub fn new() -> Minion {
        Minion::with_config(json!({}))
    }

    /// The default config with `extra` merged in; a `null` removes a key.
    pub fn with_config(extra: Value) -> Minion {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        let modules = modules_src();
        fs::create_dir(d.join("srv")).unwrap();
        fs::create_dir(d.join("pillar")).unwrap();
        let mut config = json!({
            "id": "hermes-test",
            "file_client": "local",
            // Salt puts every path it owns under root_dir (cachedir included); the log too.
            "root_dir": d.join("salt"),
            "log_file": d.join("salt/minion.log"),
            // The most verbose level: nothing of ours may log a secret at any level.
            "log_level_logfile": "all",
            "file_roots": {"base": [d.join("srv")]},
            "pillar_roots": {"base": [d.join("pillar")]},
            "module_dirs": [modules.join("_modules")],
            "states_dirs": [modules.join("_states")],
            "hermes_relay_host.binary": module_binary(),
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                config.as_object_mut().unwrap().remove(k);
            } else {
                config[k] = v.clone();
            }
        }
        // JSON is YAML.
        fs::write(d.join("minion"), config.to_string()).unwrap();
        Minion {
            dir,
            env: Vec::new(),
        }
    }

    /// The same minion with `key=value` in the environment of every `salt-call` (the container
    /// crate's `DOCKER_HOST`).
    #[allow(dead_code)]
    pub fn with_env(mut self, key: &str, value: &str) -> Minion {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sets one key of the minion config.
    pub fn set_config(&self, key: &str, value: Value) {
        let file = self.path().join("minion");
        let mut config: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        config[key] = value;
        fs::write(file, config.to_string()).unwrap();
    }

    pub fn cachedir(&self) -> PathBuf {
        self.path().join("salt/var/cache/salt/minion")
    }

    pub fn salt_call(&self) -> Command {
        let mut cmd = Command::new(venv_tool("salt-call"));
        cmd.arg("--local")
            .arg("-c")
            .arg(self.path())
            .arg("--out=json")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null());
        cmd
    }

    /// `salt-call ARGS…` and its `local` return.
    pub fn call(&self, args: &[&str]) -> (Output, Value) {
        let out = run(self.salt_call().args(args));
        let json: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("salt-call printed no JSON ({e}):\n{}", out.all()));
        let ret = json["local"].clone();
        (out, ret)
    }

    /// `saltutil.sync_all`: the execution and state modules `hermes_relay_host` (from
    /// `file_roots`) are synced.
    pub fn sync_all(&self) {
        let (out, synced) = self.call(&["saltutil.sync_all"]);
        assert_eq!(
            synced["modules"],
            json!(["modules.hermes_relay_host"]),
            "{}",
            out.all()
        );
        assert_eq!(
            synced["states"],
            json!(["states.hermes_relay_host"]),
            "{}",
            out.all()
        );
    }

    /// Writes `NAME.sls` from a JSON document (JSON is YAML).
    pub fn write_sls(&self, name: &str, sls: &Value) {
        fs::write(self.path().join(format!("srv/{name}.sls")), sls.to_string()).unwrap();
    }

    /// Writes `NAME.sls` with one state `relay` of `fun` taking `options`.
    pub fn sls(&self, name: &str, fun: &str, options: Value) {
        let state = format!("hermes_relay_host.{fun}");
        self.write_sls(name, &json!({"relay": {state: arg_list(&options)}}));
    }

    /// The pillar every state run of this minion sees.
    pub fn pillar(&self, data: &Value) {
        let dir = self.path().join("pillar");
        fs::write(
            dir.join("top.sls"),
            json!({"base": {"*": ["data"]}}).to_string(),
        )
        .unwrap();
        fs::write(dir.join("data.sls"), data.to_string()).unwrap();
    }

    /// `salt-call EXTRA… state.apply NAME [test=True]`: the output and the one state's return.
    pub fn apply(&self, name: &str, test: bool, extra: &[&str]) -> (Output, Value) {
        let (out, states) = self.apply_all(name, test, extra);
        assert_eq!(states.len(), 1, "{}", out.all());
        let ret = states.into_values().next().unwrap();
        (out, ret)
    }

    /// `salt-call EXTRA… state.apply NAME [test=True]`: the output and each state's return by
    /// state ID.
    pub fn apply_all(
        &self,
        name: &str,
        test: bool,
        extra: &[&str],
    ) -> (Output, BTreeMap<String, Value>) {
        let mut cmd = self.salt_call();
        cmd.args(extra).args(["state.apply", name]);
        if test {
            cmd.arg("test=True");
        }
        let out = run(&mut cmd);
        let states = state_returns(&out);
        (out, states)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path().join("salt/minion.log")).unwrap_or_default()
    }
}

/// An SLS argument list: a list of one-key mappings.
pub fn arg_list(options: &Value) -> Value {
    options
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| json!({ k: v }))
        .collect()
}

/// The state returns of a `--out=json` state run, by state ID.
pub fn state_returns(out: &Output) -> BTreeMap<String, Value> {
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("salt-call printed no JSON ({e}):\n{}", out.all()));
    let states = json["local"]
        .as_object()
        .unwrap_or_else(|| panic!("no state returns:\n{}", out.all()));
    states
        .values()
        .map(|ret| (ret["__id__"].as_str().unwrap().to_string(), ret.clone()))
        .collect()
}
