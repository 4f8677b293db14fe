//! One error type for the library. Each variant has a stable snake_case `code()` that playbooks
//! and CI gates can match on, and, where the Hermes page has one, its `hermes_code()` (1–6).
//! Messages name the option or row at fault and never carry a secret value.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgs(String),
    /// One option's value is wrong; the message starts with the option's name, and the code
    /// names the option where the contract has one (`invalid_host`, …).
    #[error("option '{option}': {reason}")]
    InvalidOption { option: String, reason: String },
    #[error("option 'host' is required when state is present")]
    HostMissing,
    #[error("option 'port' is empty")]
    PortMissing,
    #[error("authentication is on but no username is given or stored (option 'username')")]
    UsernameMissing,
    #[error("authentication is on but no password is given and none is stored (option 'password')")]
    PasswordMissing,
    #[error("{0}")]
    ConflictingOptions(String),
    #[error("key file {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("no randomness available (for a new key or an IV): {0}")]
    Random(String),
    #[error("{row}: the stored value does not decrypt with the key ({reason})")]
    Decrypt { row: String, reason: String },
    #[error("database: {0}")]
    Database(String),
    #[error("the database is not laid out as Hermes lays it out: {0}")]
    DatabaseLayout(String),
    #[error("template {path}: {reason}")]
    Template { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("postmap failed: {0}")]
    Postmap(String),
    #[error("postfix reload failed: {0}")]
    Reload(String),
    #[error("{0}")]
    Postfix(String),
    /// The Postfix commands cannot be started where Postfix runs: no `docker` CLI, the daemon
    /// unreachable, the container missing or stopped, or the tools not installed. Never a
    /// verdict on the configuration.
    #[error("cannot reach Postfix: {0}")]
    PostfixUnreachable(String),
    /// `postfix_exec_dir` is not `postfix_dir` as the Postfix commands see it.
    #[error("{0}")]
    PathMismatch(String),
    /// A file we read or replace is not what it must be: not a regular file (a FIFO would
    /// block the run), larger than its purpose allows, or hard-linked elsewhere (its bytes
    /// would go into the diff and the backup).
    #[error("{path}: {reason}")]
    UnsafeFile { path: PathBuf, reason: String },
    /// The OS refused an operation on a path (EACCES, EPERM, EROFS): one code whatever the
    /// step, so a run without root reads as that.
    #[error(
        "permission denied: cannot {operation} {path} as {user}: {source} (run as root: `become: true` in Ansible, the Salt minion's user root)"
    )]
    PermissionDenied {
        path: PathBuf,
        operation: &'static str,
        user: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the new Postfix configuration is not valid: {0}")]
    PostfixConfig(String),
    /// A stored row that cannot be written as one safe line, or that contradicts another.
    #[error("{0}")]
    UnsafeRow(String),
    #[error("probe of the relay host failed, nothing changed: {0}")]
    Probe(String),
    #[error(
        "the credentials are re-encrypted but the new key is not installed ({0}); run the \
         rotation again to finish it"
    )]
    RotationUnfinished(String),
}

impl Error {
    /// Stable identifier for scripts; never renamed once released.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgs(_) => "invalid_args",
            Error::InvalidOption { option, .. } => match option.as_str() {
                "host" => "invalid_host",
                "port" => "invalid_port",
                "username" => "invalid_username",
                "password" => "invalid_password",
                _ => "invalid_args",
            },
            Error::HostMissing => "host_missing",
            Error::PortMissing => "port_missing",
            Error::UsernameMissing => "username_missing",
            Error::PasswordMissing => "password_missing",
            Error::ConflictingOptions(_) => "conflicting_options",
            Error::Key { .. } => "key_error",
            Error::Random(_) => "random_failed",
            Error::Decrypt { .. } => "decrypt_failed",
            Error::Database(_) => "database_error",
            Error::DatabaseLayout(_) => "database_layout",
            Error::Template { .. } => "template_error",
            Error::Io { .. } => "io_error",
            Error::Lock { .. } => "lock_error",
            Error::Postmap(_) => "postmap_failed",
            Error::Reload(_) => "reload_failed",
            Error::Postfix(_) => "postfix_error",
            Error::PostfixUnreachable(_) => "postfix_unreachable",
            Error::PathMismatch(_) => "path_mismatch",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::UnsafeFile { .. } => "unsafe_file",
            Error::PostfixConfig(_) => "invalid_postfix_config",
            Error::UnsafeRow(_) => "unsafe_row",
            Error::Probe(_) => "probe_failed",
            Error::RotationUnfinished(_) => "rotation_unfinished",
        }
    }

    /// The `session.m` code the Hermes page shows for the same mistake.
    pub fn hermes_code(&self) -> Option<u8> {
        match self {
            Error::HostMissing => Some(1),
            Error::InvalidOption { option, .. } if option == "host" => Some(2),
            Error::PortMissing => Some(3),
            Error::InvalidOption { option, .. } if option == "port" => Some(4),
            Error::UsernameMissing => Some(5),
            Error::PasswordMissing => Some(6),
            _ => None,
        }
    }

    pub(crate) fn option(option: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            option: option.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::io_op(path, "access", source)
    }

    /// An I/O error on `path` while doing `operation` ("read", "write in", …): a refusal by
    /// the OS becomes [`Error::PermissionDenied`], anything else [`Error::Io`].
    pub(crate) fn io_op(
        path: impl Into<PathBuf>,
        operation: &'static str,
        source: std::io::Error,
    ) -> Self {
        if is_denied(&source) {
            Error::PermissionDenied {
                path: path.into(),
                operation,
                user: current_user(),
                source,
            }
        } else {
            Error::Io {
                path: path.into(),
                source,
            }
        }
    }
}

/// EACCES, EPERM or EROFS: the OS refused, as opposed to a missing or broken file.
pub(crate) fn is_denied(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// The user this process runs as, for a permission message: `name (uid N)`.
fn current_user() -> String {
    let uid = rustix::process::geteuid().as_raw();
    match std::env::var("USER") {
        Ok(name) if !name.is_empty() => format!("user {name} (uid {uid})"),
        _ => format!("uid {uid}"),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are an interface: each variant keeps its code (and Hermes code) for good.
    macro_rules! stable {
        ($($name:ident: $error:expr => $code:literal, $hermes:expr;)*) => {$(
            #[test]
            fn $name() {
                let error: Error = $error;
                assert_eq!(error.code(), $code);
                assert_eq!(error.hermes_code(), $hermes);
            }
        )*};
    }

    fn denied() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::PermissionDenied)
    }

    stable! {
        host_missing: Error::HostMissing => "host_missing", Some(1);
        invalid_host: Error::option("host", "x") => "invalid_host", Some(2);
        port_missing: Error::PortMissing => "port_missing", Some(3);
        invalid_port: Error::option("port", "x") => "invalid_port", Some(4);
        username_missing: Error::UsernameMissing => "username_missing", Some(5);
        password_missing: Error::PasswordMissing => "password_missing", Some(6);
        invalid_username: Error::option("username", "x") => "invalid_username", None;
        invalid_password: Error::option("password", "x") => "invalid_password", None;
        other_option: Error::option("tls", "x") => "invalid_args", None;
        unreachable: Error::PostfixUnreachable("x".into()) => "postfix_unreachable", None;
        mismatch: Error::PathMismatch("x".into()) => "path_mismatch", None;
        unsafe_file: Error::UnsafeFile { path: "p".into(), reason: "r".into() } => "unsafe_file", None;
        io_denied: Error::io("p", denied()) => "permission_denied", None;
        io_read_only_fs: Error::io("p", std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem)) => "permission_denied", None;
        io_other: Error::io("p", std::io::Error::from(std::io::ErrorKind::NotFound)) => "io_error", None;
        config: Error::PostfixConfig("x".into()) => "invalid_postfix_config", None;
        postmap: Error::Postmap("x".into()) => "postmap_failed", None;
    }

    #[test]
    fn permission_denied_names_path_operation_and_user() {
        let text = Error::io_op("/etc/postfix/main.cf", "write", denied()).to_string();
        assert!(
            text.starts_with("permission denied: cannot write /etc/postfix/main.cf as ")
                && text.contains("uid ")
                && text.contains("become: true"),
            "{text}"
        );
    }
}
