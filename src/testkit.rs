//! For unit tests: a "current state + args" builder. A fresh Hermes state is the seed rows of
//! the embedded schema (read through the real SQLite store from a temp file), a fixed key, the
//! shipped base template and no files yet; [`Scenario::plan`] runs the pure steps (args,
//! validate, plan) on it and [`Scenario::applied`] moves the state past a plan, so a test reads
//! as "given this host, these args give that plan".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tempfile::TempDir;
use zeroize::Zeroizing;

use crate::args::defaults;
use crate::crypto::Key;
use crate::error::Result;
use crate::load::FileState;
use crate::model::Snapshot;
use crate::options::Request;
use crate::plan::{self, Inputs, Plan};
use crate::store::{Scope, SqliteStore, Store};
use crate::validate::{self, Desired, Settings};

const TEMPLATE: &str = include_str!("../templates/main.cf.HERMES");

pub(crate) struct Scenario {
    dir: TempDir,
    pub snapshot: Snapshot,
    pub files: FileState,
    pub key: Key,
    pub base: String,
    /// A plain Postfix host (`host_type: postfix`).
    plain: bool,
}

impl Scenario {
    /// A host `init` just made: seed rows, no main.cf or sasl_passwd yet.
    pub fn fresh() -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(defaults::SQLITE_FILE);
        SqliteStore::create(&db).unwrap();
        let snapshot = SqliteStore::open(&db, false)
            .unwrap()
            .load(Scope::All)
            .unwrap();
        let vars = BTreeMap::from([
            ("banner".to_string(), "Hermes SEG".to_string()),
            ("inet_interfaces".to_string(), "loopback-only".to_string()),
        ]);
        let base = crate::render::base(Path::new("main.cf.HERMES"), TEMPLATE, &vars).unwrap();
        Scenario {
            dir,
            snapshot,
            files: FileState::default(),
            key: Key::from_bytes([7; 32]),
            base,
            plain: false,
        }
    }

    /// A plain Postfix host with this main.cf and sasl_passwd (read as its store reads them).
    pub fn plain(main_cf: &str, sasl_passwd: Option<&str>) -> Scenario {
        let key = Key::from_bytes([7; 32]);
        Scenario {
            dir: tempfile::tempdir().unwrap(),
            snapshot: crate::store::postfix_host_snapshot(
                main_cf,
                sasl_passwd,
                "/etc/postfix",
                &key,
            )
            .unwrap(),
            files: FileState {
                main_cf: Some(main_cf.to_string()),
                sasl_passwd: sasl_passwd.map(|s| Zeroizing::new(s.to_string())),
                sasl_mode: sasl_passwd.map(|_| 0o600),
                map_mode: sasl_passwd.map(|_| 0o600),
                ..FileState::default()
            },
            key,
            base: String::new(),
            plain: true,
        }
    }

    /// The args a test gives, with the location options pointing into the scenario.
    pub fn args(&self, extra: Value) -> Value {
        // Postfix's view of its config dir is the one `inputs` gives: main.cf names the map
        // there, whatever temp dir the scenario lives in.
        let mut args = json!({
            "root": self.dir.path(),
            "postfix_exec": [],
            "postfix_exec_dir": self.postfix_dir(),
        });
        if self.plain {
            args["host_type"] = json!("postfix");
        }
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    }

    /// Parses and validates `extra` as an apply request.
    pub fn request(&self, extra: Value) -> Result<(Desired, Settings)> {
        let input = crate::args::parse(&self.args(extra).to_string())?;
        validate::validate(input.args, Request::Apply)
    }

    /// The plan `extra` gives on this state.
    pub fn plan(&self, extra: Value) -> Result<Plan> {
        let (desired, settings) = self.request(extra)?;
        plan::plan(&desired, &self.inputs(&settings))
    }

    /// What `extra` would change on this state, as a user's `--diff` shows it (secrets masked):
    /// the changes, then each diff entry as a unified diff. The text of a snapshot assertion.
    pub fn shown(&self, extra: Value) -> String {
        let (desired, settings) = self.request(extra).unwrap();
        let inputs = self.inputs(&settings);
        let plan = plan::plan(&desired, &inputs).unwrap();
        let changes: Vec<&str> = plan.changes().iter().map(|c| c.as_str()).collect();
        let mut text = format!("changes: [{}]\n", changes.join(", "));
        for warning in &plan.warnings {
            text.push_str(&format!("warning: {warning}\n"));
        }
        for entry in crate::diff::diff(&plan, &inputs) {
            text.push_str(&crate::output::unified(&entry));
        }
        text
    }

    pub fn inputs<'a>(&'a self, settings: &'a Settings) -> Inputs<'a> {
        Inputs {
            snapshot: &self.snapshot,
            files: &self.files,
            key: &self.key,
            base: &self.base,
            exec_dir: &settings.postfix_exec_dir,
            postfix_dir: self.postfix_dir(),
            edit_in_place: self.plain,
        }
    }

    fn postfix_dir(&self) -> &Path {
        Path::new("/etc/postfix")
    }

    /// The state after `extra` was applied: its row writes made in the store, its files as
    /// the plan wrote them (modes 0600, a fresh map).
    pub fn applied(mut self, extra: Value) -> Scenario {
        let plan = self.plan(extra).unwrap();
        let db = self.db();
        let mut store = SqliteStore::open(&db, true).unwrap();
        store.load(Scope::All).unwrap();
        store.write(&plan.edits).unwrap();
        store.write(&plan.marks).unwrap();
        store.commit().unwrap();
        self.snapshot = SqliteStore::open(&db, false)
            .unwrap()
            .load(Scope::All)
            .unwrap();
        if let Some(main_cf) = plan.main_cf {
            self.files.main_cf = Some(main_cf);
        }
        if let Some(sasl) = plan.sasl {
            self.files.sasl_passwd = Some(Zeroizing::new(sasl.text.to_string()));
            self.files.sasl_mode = Some(0o600);
            self.files.map_mode = sasl.map_suffix.map(|_| 0o600);
            self.files.map_stale = false;
        }
        self
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join(defaults::SQLITE_FILE)
    }

    /// The state after an SQL statement another program (a Hermes page) ran.
    pub fn with_sql(mut self, sql: &str) -> Scenario {
        rusqlite::Connection::open(self.db())
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        self.snapshot = SqliteStore::open(&self.db(), false)
            .unwrap()
            .load(Scope::All)
            .unwrap();
        self
    }

    /// A `transport` row of Hermes's Domains page with credentials encrypted by the key.
    pub fn with_transport(
        self,
        domain: &str,
        destination: &str,
        user: &str,
        pass: &str,
    ) -> Scenario {
        let encrypt = |v: &str| {
            self.key
                .encrypt(&secrecy::SecretString::from(v.to_string()))
                .unwrap()
        };
        let sql = format!(
            "INSERT INTO transport (domain, destination, port, authentication, \
             authentication_username, authentication_password) \
             VALUES ('{domain}', '{destination}', '587', 'YES', '{}', '{}')",
            encrypt(user),
            encrypt(pass)
        );
        self.with_sql(&sql)
    }
}
