//! postmap and postfix, run through the `postfix_exec` prefix (`docker exec hermes_postfix_dkim`
//! on Hermes, nothing on a plain host) and always with `-c <postfix_exec_dir>`, so they act on
//! the config directory we manage and never on a default one.

use std::process::{Command, Output};

use crate::error::{Error, Result};

pub struct Postfix {
    exec: Vec<String>,
    config_dir: String,
}

impl Postfix {
    pub fn new(exec: &[String], config_dir: &str) -> Postfix {
        Postfix {
            exec: exec.to_vec(),
            config_dir: config_dir.trim_end_matches('/').to_string(),
        }
    }

    /// A file of the managed directory as the Postfix commands see it.
    pub fn path_of(&self, file_name: &str) -> String {
        format!("{}/{file_name}", self.config_dir)
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::io::Result<Output> {
        let mut argv: Vec<&str> = self.exec.iter().map(String::as_str).collect();
        argv.extend([tool, "-c", &self.config_dir]);
        argv.extend(args);
        Command::new(argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .output()
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

    /// `postfix status` exits 0 only while the master daemon runs.
    pub fn is_running(&self) -> bool {
        self.run("postfix", &["status"])
            .is_ok_and(|out| out.status.success())
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
