//! postmap and postfix, run through the `postfix_exec` prefix (`docker exec hermes_postfix_dkim`
//! on Hermes, nothing on a plain host) and always with `-c <postfix_exec_dir>`, so they act on
//! the config directory we manage and never on a default one.

use std::process::{Command, Output};
use std::time::Duration;

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
    fn run(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let mut argv = vec![tool, "-c", &self.config_dir];
        argv.extend(args);
        self.output(&argv)
    }

    /// Builds `<file>.<suffix>` from `file` (a name inside the config directory).
    pub fn postmap(&self, map_type: &str, file_name: &str) -> Result<()> {
        let target = format!("{map_type}:{}", self.path_of(file_name));
        let out = self.run("postmap", &[&target])?;
        if out.status.success() {
            Ok(())
        } else {
            let error = Error::Postmap(describe(&out));
            Err(self.diagnose(self.mismatch_if_unseen(&out, &self.path_of(file_name), error)))
        }
    }

    /// `postconf -n` on a staged config directory (a name inside the managed one): a fatal, or
    /// an "unused parameter" warning for a directive we manage (postconf exits 0 on those),
    /// rejects the config before anything is installed.
    pub fn check_config(&self, staged_dir_name: &str, managed: &[&str]) -> Result<()> {
        let dir = self.path_of(staged_dir_name);
        let out = self.output(&["postconf", "-c", &dir, "-n"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if stderr.contains(&format!("open {dir}/main.cf")) {
                return Err(self.diagnose(self.mismatch(&format!("{dir}/main.cf"))));
            }
            return Err(self.diagnose(Error::PostfixConfig(format!(
                "postconf -n: {}",
                describe(&out)
            ))));
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
        let out = self.run("postmap", &["-q", key, &target])?;
        let stdout = Zeroizing::new(out.stdout);
        match out.status.code() {
            Some(0) => Ok(Some(Zeroizing::new(
                String::from_utf8_lossy(&stdout).trim_end().to_string(),
            ))),
            Some(1) => Ok(None),
            _ => Err(self.diagnose(Error::Postmap(describe(&Output {
                status: out.status,
                stdout: Vec::new(),
                stderr: out.stderr,
            })))),
        }
    }

    /// A shell command where Postfix runs (inside the container with a prefix); its stdout.
    /// A failure of the prefix itself is an error, not an empty answer.
    pub fn shell(&self, script: &str) -> Result<String> {
        let out = self.output(&["sh", "-c", script])?;
        if !out.status.success()
            && let Some(unreachable) = self.unreachable()
        {
            return Err(unreachable);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `postconf -m`: the lookup table types this Postfix supports.
    pub fn map_types(&self) -> Result<Vec<String>> {
        let out = self.run("postconf", &["-m"])?;
        if !out.status.success() {
            return Err(self.diagnose(Error::Postfix(format!("postconf -m: {}", describe(&out)))));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// `postconf -h NAME`: the value Postfix reads from the installed main.cf.
    pub fn parameter(&self, name: &str) -> Result<String> {
        let out = self.run("postconf", &["-h", name])?;
        if !out.status.success() {
            return Err(self.diagnose(Error::Postfix(format!(
                "postconf -h {name}: {}",
                describe(&out)
            ))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `postfix status` exits 0 only while the master daemon runs; an error when Postfix
    /// cannot be reached at all (a stopped container is not a stopped Postfix).
    pub fn is_running(&self) -> Result<bool> {
        self.start_status().is_running()
    }

    /// Starts `postfix status` without waiting for it: a shell script that runs postconf and
    /// `master -t` (~0.1 s), so a changing run asks it beside its staging and postmap.
    pub fn start_status(&self) -> StatusCheck<'_> {
        let mut command = self.command(&["postfix", "-c", &self.config_dir, "status"]);
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        StatusCheck {
            postfix: self,
            child: Some(
                command
                    .spawn()
                    .map_err(|e| self.spawn_error(Some("postfix"), &e)),
            ),
        }
    }

    pub fn reload(&self) -> Result<()> {
        let out = self.run("postfix", &["reload"])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.diagnose(Error::Reload(describe(&out))))
        }
    }

    /// Runs a command line (exec prefix first); a program that cannot be started means
    /// Postfix cannot be reached.
    fn output(&self, argv: &[&str]) -> Result<Output> {
        output_within(self.command(argv), TOOL_TIMEOUT)
            .map_err(|e| self.spawn_error(argv.first().copied(), &e))
    }

    /// `program`: the Postfix tool, when there is no exec prefix to name.
    fn spawn_error(&self, program: Option<&str>, e: &std::io::Error) -> Error {
        let program = self
            .exec
            .first()
            .map(String::as_str)
            .or(program)
            .unwrap_or("postfix");
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (not installed, or not on PATH)"
        } else {
            ""
        };
        let of = if self.exec.len() > 1 {
            format!(" (of `{}`)", self.exec.join(" "))
        } else {
            String::new()
        };
        Error::PostfixUnreachable(format!("cannot run `{program}`{of}: {e}{hint}"))
    }

    /// A tool failed: if the exec prefix itself cannot run a command where Postfix lives
    /// (a missing or stopped container, an unreachable daemon), that is the cause, not the
    /// tool's verdict. Costs one `PREFIX true`, only on a failure.
    fn diagnose(&self, error: Error) -> Error {
        self.unreachable().unwrap_or(error)
    }

    /// `Some` when `PREFIX true` fails: the prefix cannot run commands where Postfix lives.
    fn unreachable(&self) -> Option<Error> {
        if self.exec.is_empty() {
            return None;
        }
        match self.command(&["true"]).output() {
            Err(e) => Some(self.spawn_error(None, &e)),
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(Error::PostfixUnreachable(format!(
                "`{} true` fails: {}",
                self.exec.join(" "),
                unreachable_cause(&describe(&out))
            ))),
        }
    }

    /// `path` (as the tools see it) names a file this run just wrote into postfix_dir: if the
    /// tool could not open it, postfix_exec_dir is not postfix_dir as the tools see it.
    fn mismatch_if_unseen(&self, out: &Output, path: &str, error: Error) -> Error {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains(&format!("open {path}")) && stderr.contains("No such file") {
            self.mismatch(path)
        } else {
            error
        }
    }

    /// A file the managed directory holds is not where `-c` told the tools to look.
    fn mismatch(&self, path: &str) -> Error {
        Error::PathMismatch(format!(
            "postfix_exec_dir {managed} is not postfix_dir as the Postfix commands{prefix} see \
             it: they cannot open {path}, written into postfix_dir (bind-mount the host's \
             postfix_dir at postfix_exec_dir, or set postfix_exec_dir to where they see it)",
            managed = self.managed_dir,
            prefix = if self.exec.is_empty() {
                String::new()
            } else {
                format!(" (run through `{}`)", self.exec.join(" "))
            },
        ))
    }
}

/// How long a Postfix tool may take: postmap of a million lines takes seconds; a tool that
/// blocks (a FIFO where a config file should be, a hung `docker exec`) must not hang the run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// `command.output()`, killed after `limit`. A thread waits for the child (draining both
/// pipes), so nothing polls; on timeout the child is killed before it is reaped, so its pid
/// cannot have been reused.
fn output_within(mut command: Command, limit: Duration) -> std::io::Result<Output> {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = rustix::process::Pid::from_child(&child);
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match result.recv_timeout(limit) {
        Ok(output) => output,
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = result.recv();
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer in {} s", limit.as_secs()),
            ))
        }
    }
}

/// The cause in the prefix's own words, with what it means when Docker said it.
fn unreachable_cause(said: &str) -> String {
    let meaning = if said.contains("Cannot connect to the Docker daemon") {
        Some("the Docker daemon is not reachable")
    } else if said.contains("No such container") {
        Some("the container does not exist")
    } else if said.contains("is not running") || said.contains("is paused") {
        Some("the container is not running")
    } else {
        None
    };
    match meaning {
        Some(meaning) => format!("{meaning} ({said})"),
        None => said.to_string(),
    }
}

/// A `postfix status` under way; waited for on drop, so none outlives the run.
pub struct StatusCheck<'a> {
    postfix: &'a Postfix,
    child: Option<Result<std::process::Child>>,
}

impl StatusCheck<'_> {
    /// Whether the master daemon runs. A status that fails is asked why: Postfix stopped
    /// (`false`), or Postfix not reachable (an error).
    pub fn is_running(mut self) -> Result<bool> {
        let Some(child) = self.child.take() else {
            return Ok(false);
        };
        let child = child?;
        let status = child
            .wait_with_output()
            .map_err(|e| self.postfix.spawn_error(Some("postfix"), &e))?
            .status;
        if status.success() {
            return Ok(true);
        }
        match self.postfix.unreachable() {
            Some(error) => Err(error),
            None => Ok(false),
        }
    }
}

impl Drop for StatusCheck<'_> {
    fn drop(&mut self) {
        if let Some(Ok(mut child)) = self.child.take() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_that_blocks_is_killed_at_the_limit() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let err = output_within(sleeper, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output_within(echo, Duration::from_secs(30)).unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn docker_words_name_the_cause() {
        for (said, meaning) in [
            (
                "exit 1: Cannot connect to the Docker daemon at unix:///x.sock",
                "the Docker daemon is not reachable",
            ),
            (
                "exit 1: Error: No such container: hermes_postfix_dkim",
                "the container does not exist",
            ),
            (
                "exit 1: Error response from daemon: Container abc is not running",
                "the container is not running",
            ),
        ] {
            assert!(unreachable_cause(said).starts_with(meaning), "{said}");
        }
        assert_eq!(unreachable_cause("exit 5: other"), "exit 5: other");
    }
}
