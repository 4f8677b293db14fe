//! postmap and postfix, run through the `postfix_exec` prefix (`docker exec hermes_postfix_dkim`
//! on Hermes, nothing on a plain host) and always with `-c <postfix_exec_dir>`, so they act on
//! the config directory we manage and never on a default one.

use std::process::{Command, Output};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub struct Postfix {
    exec: Vec<String>,
    /// The managed directory as the Postfix commands see it.
    managed_dir: String,
    /// What `-c` names: the managed directory, or a checked staged config inside it.
    config_dir: String,
}

impl Postfix {
    pub fn new(exec: &[String], config_dir: &str) -> Postfix {
        let dir = config_dir.trim_end_matches('/').to_string();
        Postfix {
            exec: exec.to_vec(),
            managed_dir: dir.clone(),
            config_dir: dir,
        }
    }

    /// The same tools reading the staged config in `staged_dir_name` (inside the managed
    /// directory) that `check_config` passed: a broken live main.cf cannot stop the run that
    /// replaces it.
    pub fn with_staged_config(&self, staged_dir_name: &str) -> Postfix {
        Postfix {
            exec: self.exec.clone(),
            managed_dir: self.managed_dir.clone(),
            config_dir: self.path_of(staged_dir_name),
        }
    }

    /// A file of the managed directory as the Postfix commands see it.
    pub fn path_of(&self, file_name: &str) -> String {
        format!("{}/{file_name}", self.managed_dir)
    }

    /// The one place a command line is built: the exec prefix, then `argv`, no stdin.
    fn command(&self, argv: &[&str]) -> Command {
        let mut words = self
            .exec
            .iter()
            .map(String::as_str)
            .chain(argv.iter().copied());
        let mut command = Command::new(words.next().unwrap_or_default());
        command.args(words).stdin(std::process::Stdio::null());
        command
    }

    /// A Postfix tool on the managed config directory.
    fn run(&self, tool: &str, args: &[&str]) -> std::io::Result<Output> {
        let mut argv = vec![tool, "-c", &self.config_dir];
        argv.extend(args);
        self.command(&argv).output()
    }

    /// Builds `<file>.<suffix>` from `file` (a name inside the config directory).
    pub fn postmap(&self, map_type: &str, file_name: &str) -> Result<()> {
        let target = format!("{map_type}:{}", self.path_of(file_name));
        let out = self
            .run("postmap", &[&target])
            .map_err(|e| Error::Postmap(self.spawn_error(e)))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Postmap(describe(&out)))
        }
    }

    /// `postconf -n` on a staged config directory (a name inside the managed one): a fatal, or
    /// an "unused parameter" warning for a directive we manage (postconf exits 0 on those),
    /// rejects the config before anything is installed.
    pub fn check_config(&self, staged_dir_name: &str, managed: &[&str]) -> Result<()> {
        let dir = self.path_of(staged_dir_name);
        let out = self
            .command(&["postconf", "-c", &dir, "-n"])
            .output()
            .map_err(|e| Error::Postfix(self.spawn_error(e)))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(Error::PostfixConfig(format!(
                "postconf -n: {}",
                describe(&out)
            )));
        }
        for line in stderr.lines() {
            if let Some((_, rest)) = line.split_once("unused parameter: ") {
                let name = rest.split('=').next().unwrap_or("").trim();
                if managed.contains(&name) {
                    return Err(Error::PostfixConfig(format!(
                        "postconf does not know '{name}': {line}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// What the map at `file_name` (in the config dir) answers for `key`; `None` when absent.
    pub fn query(
        &self,
        map_type: &str,
        file_name: &str,
        key: &str,
    ) -> Result<Option<Zeroizing<String>>> {
        let target = format!("{map_type}:{}", self.path_of(file_name));
        let out = self
            .run("postmap", &["-q", key, &target])
            .map_err(|e| Error::Postmap(self.spawn_error(e)))?;
        let stdout = Zeroizing::new(out.stdout);
        match out.status.code() {
            Some(0) => Ok(Some(Zeroizing::new(
                String::from_utf8_lossy(&stdout).trim_end().to_string(),
            ))),
            Some(1) => Ok(None),
            _ => Err(Error::Postmap(describe(&Output {
                status: out.status,
                stdout: Vec::new(),
                stderr: out.stderr,
            }))),
        }
    }

    /// A shell command where Postfix runs (inside the container with a prefix); its stdout.
    pub fn shell(&self, script: &str) -> Result<String> {
        let out = self
            .command(&["sh", "-c", script])
            .output()
            .map_err(|e| Error::Postfix(self.spawn_error(e)))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `postconf -m`: the lookup table types this Postfix supports.
    pub fn map_types(&self) -> Result<Vec<String>> {
        let out = self
            .run("postconf", &["-m"])
            .map_err(|e| Error::Postfix(self.spawn_error(e)))?;
        if !out.status.success() {
            return Err(Error::Postfix(format!("postconf -m: {}", describe(&out))));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// `postconf -h NAME`: the value Postfix reads from the installed main.cf.
    pub fn parameter(&self, name: &str) -> Result<String> {
        let out = self
            .run("postconf", &["-h", name])
            .map_err(|e| Error::Postfix(self.spawn_error(e)))?;
        if !out.status.success() {
            return Err(Error::Postfix(format!(
                "postconf -h {name}: {}",
                describe(&out)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `postfix status` exits 0 only while the master daemon runs.
    pub fn is_running(&self) -> bool {
        self.start_status().is_running()
    }

    /// Starts `postfix status` without waiting for it: a shell script that runs postconf and
    /// `master -t` (~0.1 s), so a changing run asks it beside its staging and postmap.
    pub fn start_status(&self) -> StatusCheck {
        let mut command = self.command(&["postfix", "-c", &self.config_dir, "status"]);
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        StatusCheck(command.spawn().ok())
    }

    pub fn reload(&self) -> Result<()> {
        let out = self
            .run("postfix", &["reload"])
            .map_err(|e| Error::Reload(self.spawn_error(e)))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Reload(describe(&out)))
        }
    }

    fn spawn_error(&self, e: std::io::Error) -> String {
        let program = self.exec.first().map_or("postfix tools", String::as_str);
        format!("cannot run {program}: {e}")
    }
}

/// A `postfix status` under way; waited for on drop, so none outlives the run.
pub struct StatusCheck(Option<std::process::Child>);

impl StatusCheck {
    /// Whether the master daemon runs (a status that could not be started or asked: no).
    pub fn is_running(mut self) -> bool {
        self.0
            .take()
            .and_then(|mut child| child.wait().ok())
            .is_some_and(|status| status.success())
    }
}

impl Drop for StatusCheck {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.wait();
        }
    }
}

/// The tool's own words, shortened; Postfix names keys and files, never map values.
fn describe(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text: String = stderr.trim().chars().take(600).collect();
    let status = out
        .status
        .code()
        .map_or("killed by a signal".to_string(), |c| format!("exit {c}"));
    if text.is_empty() {
        status
    } else {
        format!("{status}: {text}")
    }
}
