//! The one error type at the boundary: every failure a user or agent can see is an `AppError`
//! with a stable code (docs/CONTRACT.md §2), an exit code derived from that code, a message saying
//! what happened and a literal suggestion saying what to do next.

use std::fmt;

/// What an agent should do about an error: its exit code (docs/CONTRACT.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit 1: may pass on retry or once the environment changes.
    Retry,
    /// Exit 2: a config or usage error; retrying the same call cannot help.
    Fix,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Retry => 1,
            Exit::Fix => 2,
        }
    }
}

/// The exit codes with their meaning and what an agent should do, for `agent-info` and the
/// README (a test keeps the README's table in step).
pub const EXIT_CODES: &[(u8, &str, &str)] = &[
    (
        0,
        "success, including a run whose experiment was discarded, crashed or timed out",
        "continue",
    ),
    (
        1,
        "runtime error: may pass on retry or once the environment changes",
        "retry or wait",
    ),
    (
        2,
        "config or usage error: retrying the same call cannot help",
        "fix the call or the config; do not retry unchanged",
    ),
];

/// The one table of error codes: the enum, its stable string, its exit code and its meaning
/// all come from here, so a code cannot be added without an exit code, and nothing falls
/// through a wildcard.
macro_rules! codes {
    ($($variant:ident = $name:literal, $exit:ident, $meaning:literal;)+) => {
        /// Stable error codes. The string form is part of the public contract: never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($variant,)+
        }

        impl Code {
            /// Every code, in the order `agent-info` lists them.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)+
                }
            }

            pub fn exit(self) -> Exit {
                match self {
                    $(Code::$variant => Exit::$exit,)+
                }
            }

            /// One line for `agent-info`: when the code is returned.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)+
                }
            }
        }
    };
}

codes! {
    Usage = "usage", Fix, "bad command-line arguments or flag values";
    NotGitRepo = "not_git_repo", Fix, "the current directory is not inside a git work tree";
    NotInitialized = "not_initialized", Fix, "no autoresearch.toml at the project root";
    ConfigInvalid = "config_invalid", Fix, "autoresearch.toml is malformed or has an invalid value";
    AlreadyInitialized = "already_initialized", Fix, "init found an existing autoresearch.toml (use --force)";
    InvalidMetric = "invalid_metric", Fix, "a metric value is not a finite number in the metric grammar";
    InvalidStatus = "invalid_status", Fix, "a status is not baseline|kept|discarded|crash|timeout|recheck";
    RunNotFound = "run_not_found", Fix, "no experiment has that run number";
    NoExperiments = "no_experiments", Retry, "the ledger has no experiments (or none of the kind asked)";
    InvalidName = "invalid_name", Fix, "a branch or fork name breaks the naming rules";
    AlreadyExists = "already_exists", Fix, "a fork's branch or worktree directory already exists";
    ForkNotFound = "fork_not_found", Fix, "`merge-best --forks`: no fork branch or records by that name";
    NotDecisive = "not_decisive", Fix, "`merge-best --apply`: no winner beyond the noise (or its best is flagged); nothing was applied";
    PortConflict = "port_conflict", Fix, "`merge-best --apply`: the winner's target files conflict with the base's; nothing was applied";
    WrongBranch = "wrong_branch", Fix, "HEAD is not on the experiment branch or one of its forks";
    OutOfScope = "out_of_scope", Fix, "tracked files outside target_file were changed";
    ProtectedChanged = "protected_changed", Fix, "a protected file was changed, in the work tree or since the baseline";
    NoChanges = "no_changes", Fix, "the target file has no changes to evaluate";
    DirtyTree = "dirty_tree", Fix, "tracked files are modified where a clean tree is needed";
    SetupChanged = "setup_changed", Fix, "the eval command, metric, direction, time budget, protected list or hardware class differs from the baseline's";
    NotRetractable = "not_retractable", Fix, "`retract RUN`: that run is not a keep that stands (not kept, or already retracted)";
    RecheckMismatch = "recheck_mismatch", Fix, "`run --recheck RUN`: HEAD does not hold the code that run measured, under the same setup";
    ImportInvalid = "import_invalid", Fix, "`import`: a file is not in a format it reads, has a malformed line, or names another metric or direction than the config; nothing was imported";
    OperationInProgress = "operation_in_progress", Fix, "a merge, rebase, cherry-pick, revert, bisect or am is in progress in the repository";
    LoopRunning = "loop_running", Retry, "another `autoresearch run` holds the loop lock of this branch or of this work tree";
    LockTimeout = "lock_timeout", Retry, "the ledger lock was held for more than 30 s";
    Interrupted = "interrupted", Retry, "the command was interrupted by a signal";
    SyncRejected = "sync_rejected", Retry, "`sync`: the remote refused this worker's ledger chain (another clone publishes under the same worker id, or this clone's chain was reset); nothing changed on the remote";
    GitError = "git_error", Retry, "a git operation failed";
    IoError = "io_error", Retry, "reading or writing a file failed";
    EvalFailed = "eval_failed", Retry, "the eval command failed under `doctor`";
    Internal = "internal", Retry, "an unexpected internal error (a bug: please report it)";
}

impl Code {
    /// 1 = may pass on retry or once the environment changes; 2 = retrying cannot help.
    pub fn exit_code(self) -> u8 {
        self.exit().code()
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
            "Run `autoresearch init --target-file <file> --eval-command '<cmd>' --metric-name <name> --metric-direction lower|higher --protected <eval-script>` to create one.",
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
