//! The one error type at the boundary: every failure a user or agent can see is an `AppError`
//! with a stable code (CONTRACT §2), an exit code derived from that code, a message saying what
//! happened and a literal suggestion saying what to do next.

use std::fmt;

/// Stable error codes. The string form is part of the public contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Usage,
    NotGitRepo,
    NotInitialized,
    ConfigInvalid,
    AlreadyInitialized,
    InvalidMetric,
    InvalidStatus,
    RunNotFound,
    NoExperiments,
    InvalidName,
    WrongBranch,
    OutOfScope,
    ProtectedChanged,
    NoChanges,
    DirtyTree,
    LoopRunning,
    LockTimeout,
    Interrupted,
    GitError,
    IoError,
    EvalFailed,
    Internal,
}

impl Code {
    /// Every code, in the order `agent-info` lists them.
    pub const ALL: &'static [Code] = &[
        Code::Usage,
        Code::NotGitRepo,
        Code::NotInitialized,
        Code::ConfigInvalid,
        Code::AlreadyInitialized,
        Code::InvalidMetric,
        Code::InvalidStatus,
        Code::RunNotFound,
        Code::NoExperiments,
        Code::InvalidName,
        Code::WrongBranch,
        Code::OutOfScope,
        Code::ProtectedChanged,
        Code::NoChanges,
        Code::DirtyTree,
        Code::LoopRunning,
        Code::LockTimeout,
        Code::Interrupted,
        Code::GitError,
        Code::IoError,
        Code::EvalFailed,
        Code::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Usage => "usage",
            Code::NotGitRepo => "not_git_repo",
            Code::NotInitialized => "not_initialized",
            Code::ConfigInvalid => "config_invalid",
            Code::AlreadyInitialized => "already_initialized",
            Code::InvalidMetric => "invalid_metric",
            Code::InvalidStatus => "invalid_status",
            Code::RunNotFound => "run_not_found",
            Code::NoExperiments => "no_experiments",
            Code::InvalidName => "invalid_name",
            Code::WrongBranch => "wrong_branch",
            Code::OutOfScope => "out_of_scope",
            Code::ProtectedChanged => "protected_changed",
            Code::NoChanges => "no_changes",
            Code::DirtyTree => "dirty_tree",
            Code::LoopRunning => "loop_running",
            Code::LockTimeout => "lock_timeout",
            Code::Interrupted => "interrupted",
            Code::GitError => "git_error",
            Code::IoError => "io_error",
            Code::EvalFailed => "eval_failed",
            Code::Internal => "internal",
        }
    }

    /// 1 = may pass on retry or once the environment changes; 2 = retrying cannot help.
    pub fn exit_code(self) -> u8 {
        match self {
            Code::NoExperiments
            | Code::LoopRunning
            | Code::LockTimeout
            | Code::Interrupted
            | Code::GitError
            | Code::IoError
            | Code::EvalFailed
            | Code::Internal => 1,
            _ => 2,
        }
    }

    /// One line for `agent-info`: when the code is returned.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Usage => "bad command-line arguments or flag values",
            Code::NotGitRepo => "the current directory is not inside a git work tree",
            Code::NotInitialized => "no autoresearch.toml at the project root",
            Code::ConfigInvalid => "autoresearch.toml is malformed or has an invalid value",
            Code::AlreadyInitialized => "init found an existing autoresearch.toml (use --force)",
            Code::InvalidMetric => "a metric value is not a finite number in the metric grammar",
            Code::InvalidStatus => "a status is not baseline|kept|discarded|crash|timeout",
            Code::RunNotFound => "no experiment has that run number",
            Code::NoExperiments => "the ledger has no experiments (or none of the kind asked)",
            Code::InvalidName => "a branch or fork name breaks the naming rules",
            Code::WrongBranch => "HEAD is not on the experiment branch or one of its forks",
            Code::OutOfScope => "tracked files outside target_file were changed",
            Code::ProtectedChanged => "a protected file was changed",
            Code::NoChanges => "the target file has no changes to evaluate",
            Code::DirtyTree => "tracked files are modified where a clean tree is needed",
            Code::LoopRunning => "another `autoresearch run` holds the loop lock",
            Code::LockTimeout => "the ledger lock was held for more than 30 s",
            Code::Interrupted => "the command was interrupted by a signal",
            Code::GitError => "a git operation failed",
            Code::IoError => "reading or writing a file failed",
            Code::EvalFailed => "the eval command failed under `doctor`",
            Code::Internal => "an unexpected internal error (a bug: please report it)",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with everything the envelope needs.
#[derive(Debug)]
pub struct AppError {
    pub code: Code,
    pub message: String,
    pub suggestion: String,
}

impl AppError {
    pub fn new(code: Code, message: impl Into<String>, suggestion: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            suggestion: suggestion.into(),
        }
    }

    pub fn usage(message: impl Into<String>, suggestion: impl Into<String>) -> Self {
        Self::new(Code::Usage, message, suggestion)
    }

    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Self {
        Self::new(
            Code::IoError,
            format!("{what}: {err}"),
            "Check the path's permissions and free disk space, then run the command again.",
        )
    }

    pub fn git(what: impl fmt::Display, err: &git2::Error) -> Self {
        Self::new(
            Code::GitError,
            format!("{what}: {}", err.message()),
            "Run `git status` to inspect the repository, fix what it reports, then retry.",
        )
    }

    pub fn internal(what: impl fmt::Display) -> Self {
        Self::new(
            Code::Internal,
            format!("internal error: {what}"),
            "This is a bug in autoresearch; rerun with the same arguments and report the output.",
        )
    }

    pub fn not_initialized(root: &std::path::Path) -> Self {
        Self::new(
            Code::NotInitialized,
            format!("No `autoresearch.toml` found at `{}`.", root.display()),
            "Run `autoresearch init --target-file <file> --eval-command '<cmd>' --metric-name <name> --metric-direction lower|higher` to create one.",
        )
    }

    pub fn exit_code(&self) -> u8 {
        self.code.exit_code()
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for AppError {}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        match err.downcast::<AppError>() {
            Ok(app) => app,
            Err(other) => AppError::internal(format!("{other:#}")),
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        }
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Code::Usage.exit_code(), 2);
        assert_eq!(Code::RunNotFound.exit_code(), 2);
        assert_eq!(Code::LoopRunning.exit_code(), 1);
        assert_eq!(Code::NoExperiments.exit_code(), 1);
        assert_eq!(Code::Internal.exit_code(), 1);
    }
}
