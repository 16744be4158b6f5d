//! Where things live (docs/CONTRACT.md §3): the project root is the top of the git work tree
//! holding the current directory; `.autoresearch/` sits in the *main* worktree so every linked
//! worktree and fork writes one ledger; the config falls back to the main worktree's copy.

use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::error::{AppError, Code, Result};

pub const STATE_DIR: &str = ".autoresearch";
pub const PROGRAM_FILE: &str = "program.md";

/// Every file and ref autoresearch reads or writes, with what it is, for `agent-info`
/// (docs/CONTRACT.md §3).
pub const FILES: &[(&str, &str)] = &[
    ("autoresearch.toml", "the config, at the project root"),
    ("program.md", "the research direction the agent follows"),
    (
        ".autoresearch/experiments.jsonl",
        "the ledger, one JSON record per line (main worktree)",
    ),
    (
        ".autoresearch/experiments.lock",
        "the writers' flock; holds the holder's pid",
    ),
    (
        ".autoresearch/experiments.jsonl.torn",
        "torn tails moved aside by the next writer",
    ),
    (
        ".autoresearch/summary.json",
        "a cache of the ledger's fold; safe to delete",
    ),
    (
        ".autoresearch/runs/<run>.log",
        "the eval output of each run (repeats: `--- sample N ---` between samples)",
    ),
    (
        ".autoresearch/runs/doctor.log",
        "the eval output of the last `doctor`",
    ),
    (
        ".autoresearch/loops/branches/<branch>.json",
        "a branch's loop: pid, host, start, iteration, heartbeat, what its step owns (`/` in a branch name makes subdirectories)",
    ),
    (
        ".autoresearch/loops/branches/<branch>.lock",
        "a branch's loop flock, held by `run` for a whole step on that branch; holds the holder's pid",
    ),
    (
        ".autoresearch/loops/worktrees/<hash>.lock",
        "a work tree's loop flock (16 hex digits of a hash of its path), held by `run` for a whole step in it; holds the holder's pid",
    ),
    (
        ".autoresearch/loop.json",
        "legacy: the one loop state of earlier versions (with `loop.lock`, their flock), read as its branch's until that branch has its own; never written",
    ),
    (
        ".autoresearch/.gitignore",
        "contains `*`: the directory ignores itself",
    ),
    (
        ".autoresearch/report/",
        "what `report` writes by default: report.md, report.html, report.svg, report.json",
    ),
    (
        ".autoresearch/forks/<branch>.json",
        "how `fork` made a fork (start point, worktree) and the `--env` its evals get",
    ),
    (
        ".autoresearch/merge/",
        "scratch copies and worktrees `merge-best` evaluates in; removed when it ends",
    ),
    (
        "refs/autoresearch/runs/<run>",
        "git ref keeping each evaluated commit reachable",
    ),
    (
        ".autoresearch/worker",
        "this clone's worker id for `sync`, made by its first sync",
    ),
    (
        ".autoresearch/sync.lock",
        "`sync`'s flock: one sync of a clone at a time, a second waits",
    ),
    (
        "refs/autoresearch/ledger/<worker>",
        "a worker's own records, published by `sync` as a fast-forward chain of commits",
    ),
    (
        "refs/autoresearch/fetched/<remote>/<worker>",
        "each worker's chain as `sync` last fetched it from a remote",
    ),
    (
        "refs/autoresearch/commits/<worker>/<id>",
        "the commit each synced record evaluated, by the record's id",
    ),
    (
        ".autoresearch/installed.json",
        "what `install --project` wrote: paths, hashes, versions",
    ),
    (
        "$XDG_CONFIG_HOME/autoresearch/installed.json",
        "what `install --global` wrote (default ~/.config/autoresearch/)",
    ),
];

/// The loop files' directory in `.autoresearch/`, and its two parts.
pub const LOOPS_DIR: &str = "loops";
pub const BRANCH_LOOPS: &str = "branches";
pub const WORKTREE_LOOPS: &str = "worktrees";
/// The one loop state of earlier versions, for the whole repository.
pub const LEGACY_LOOP: &str = "loop.json";

/// One branch's loop files: its flock and its visible state.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchLoop {
    pub lock: PathBuf,
    pub state: PathBuf,
}

/// `<loops>/branches/<branch>.lock` and `.json`. A `/` in the name makes subdirectories, as in
/// git's own ref layout, so two branch names never share a file; and git's rules (no empty part,
/// none starting with `.`) keep every part a plain name. The branches a step runs on are the
/// configured one and its forks, whose last part `config::MAX_BRANCH_LAST_PART` keeps short
/// enough for a file name with either suffix.
pub fn branch_loop(loops_dir: &Path, branch: &str) -> BranchLoop {
    let mut base = loops_dir.join(BRANCH_LOOPS);
    base.extend(branch.split('/'));
    let name = base.file_name().unwrap_or_default().to_owned();
    let with = |ext: &str| {
        let mut n = name.clone();
        n.push(ext);
        base.with_file_name(n)
    };
    BranchLoop {
        lock: with(".lock"),
        state: with(".json"),
    }
}

/// `<loops>/worktrees/<16 hex digits>.lock`: the hash (xxh3) of the work tree's canonical path,
/// so the same work tree reached through a symlink is the same lock.
pub fn worktree_lock_path(loops_dir: &Path, root: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let hash = xxhash_rust::xxh3::xxh3_64(canonical.as_os_str().as_bytes());
    loops_dir
        .join(WORKTREE_LOOPS)
        .join(format!("{hash:016x}.lock"))
}

pub struct Project {
    pub repo: git2::Repository,
    /// Top of the work tree that contains the current directory.
    pub root: PathBuf,
    /// Top of the main worktree (equal to `root` outside linked worktrees).
    pub main_root: PathBuf,
}

impl Project {
    pub fn discover(cwd: &Path) -> Result<Project> {
        let repo = git2::Repository::discover(cwd).map_err(|_| not_git_repo(cwd))?;
        let root = repo
            .workdir()
            .ok_or_else(|| {
                AppError::new(
                    Code::NotGitRepo,
                    format!(
                        "`{}` is inside a bare git repository, which has no work tree.",
                        cwd.display()
                    ),
                    "Run autoresearch inside a clone with a work tree (`git clone <repo>`).",
                )
            })?
            .to_path_buf();
        let root = strip_trailing_sep(root);
        let main_root = if repo.is_worktree() {
            // commondir is the main repository's `.git`; its parent is the main work tree.
            let common = repo.commondir();
            let common = strip_trailing_sep(common.to_path_buf());
            common
                .parent()
                .map_or_else(|| root.clone(), Path::to_path_buf)
        } else {
            root.clone()
        };
        Ok(Project {
            repo,
            root,
            main_root,
        })
    }

    /// `autoresearch.toml` at the root, else the main worktree's copy.
    pub fn config_path(&self) -> PathBuf {
        self.fallback(config::FILE_NAME)
    }

    pub fn program_path(&self) -> PathBuf {
        self.fallback(PROGRAM_FILE)
    }

    fn fallback(&self, name: &str) -> PathBuf {
        let here = self.root.join(name);
        if here.exists() || self.main_root == self.root {
            return here;
        }
        let main = self.main_root.join(name);
        if main.exists() { main } else { here }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.main_root.join(STATE_DIR)
    }
    pub fn ledger_path(&self) -> PathBuf {
        self.state_dir().join("experiments.jsonl")
    }
    pub fn runs_dir(&self) -> PathBuf {
        self.state_dir().join("runs")
    }
    /// `.autoresearch/loops/`: every branch's and every work tree's loop files (CONTRACT §10).
    pub fn loops_dir(&self) -> PathBuf {
        self.state_dir().join(LOOPS_DIR)
    }
    /// The loop lock and state of `branch`.
    pub fn branch_loop(&self, branch: &str) -> BranchLoop {
        branch_loop(&self.loops_dir(), branch)
    }
    /// The loop lock of this work tree.
    pub fn worktree_lock_path(&self) -> PathBuf {
        worktree_lock_path(&self.loops_dir(), &self.root)
    }
    /// The one loop state of earlier versions (`.autoresearch/loop.json`), read, never written.
    pub fn legacy_loop_path(&self) -> PathBuf {
        self.state_dir().join(LEGACY_LOOP)
    }

    pub fn is_initialized(&self) -> bool {
        self.config_path().is_file()
    }

    /// Load and validate the config; `not_initialized` when there is none.
    pub fn load_config(&self) -> Result<(Config, Vec<String>)> {
        let path = self.config_path();
        if !path.is_file() {
            return Err(AppError::not_initialized(&self.root));
        }
        Config::load(&path)
    }

    /// Create `.autoresearch/` with its self-ignoring `.gitignore` (no user file is edited).
    pub fn ensure_state_dir(&self) -> Result<PathBuf> {
        let dir = self.state_dir();
        std::fs::create_dir_all(dir.join("runs")).map_err(|e| AppError::io(dir.display(), &e))?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            crate::fsutil::write_atomic(&ignore, b"*\n")?;
        }
        Ok(dir)
    }

    /// A path relative to the work-tree root, with `/` separators, for messages and git.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    }
}

fn strip_trailing_sep(p: PathBuf) -> PathBuf {
    let s = p.to_string_lossy();
    if s.len() > 1 && s.ends_with('/') {
        PathBuf::from(s.trim_end_matches('/'))
    } else {
        p
    }
}

fn not_git_repo(cwd: &Path) -> AppError {
    AppError::new(
        Code::NotGitRepo,
        format!("`{}` is not inside a git repository.", cwd.display()),
        "Run `git init && git add -A && git commit -m init` here first, or cd into your project.",
    )
}

/// A project with a valid config and its ledger: what most commands and the engine start from.
pub struct Loaded {
    pub project: Project,
    pub config: Config,
    pub ledger: crate::ledger::Ledger,
}

impl Loaded {
    /// Discover the project from `cwd`, load its config and open its ledger. Returns the
    /// config's warnings (unknown keys) beside it.
    pub fn open(cwd: &Path) -> Result<(Loaded, Vec<String>)> {
        let project = Project::discover(cwd)?;
        let (config, warnings) = project.load_config()?;
        let ledger = crate::ledger::Ledger::new(
            &project.state_dir(),
            config.metric_direction,
            &config.branch,
        );
        Ok((
            Loaded {
                project,
                config,
                ledger,
            },
            warnings,
        ))
    }
}

/// The repository files `eval_command` names, in order, each once: every shell word (see
/// [`crate::text::command_words`]), or the value of a `--flag=value` or `NAME=value` word, that is a path
/// relative to the root (where the eval runs) or an absolute path inside it, and names a file
/// git tracks or the work tree holds. Directories, `targets`, `autoresearch.toml` and anything
/// under `.git/` or `.autoresearch/` are left out. These are the harness an experiment must not
/// change: `init` protects them and `doctor` suggests them.
pub fn eval_files(project: &Project, eval_command: &str, targets: &[String]) -> Vec<String> {
    let index = project.repo.index().ok();
    let tracked = |rel: &str| {
        index.as_ref().is_some_and(|i| {
            i.get_path(Path::new(rel), 0)
                // A gitlink (submodule) is a directory.
                .is_some_and(|e| e.mode & 0o170000 != 0o160000)
        })
    };
    let root = project
        .root
        .canonicalize()
        .unwrap_or_else(|_| project.root.clone());
    let mut out: Vec<String> = Vec::new();
    for word in crate::text::command_words(eval_command) {
        let value = word.split_once('=').map(|(_, v)| v.to_string());
        for candidate in std::iter::once(word).chain(value) {
            let path = Path::new(&candidate);
            let rel = if path.is_absolute() {
                [&project.root, &root]
                    .iter()
                    .find_map(|r| path.strip_prefix(r).ok())
                    .and_then(|p| crate::config::normalize_rel_path(&p.to_string_lossy()))
            } else {
                crate::config::normalize_rel_path(&candidate)
            };
            let Some(rel) = rel else { continue };
            let first = rel.split('/').next().unwrap_or_default();
            if rel == crate::config::FILE_NAME
                || first == ".git"
                || first == STATE_DIR
                || crate::config::is_target_in(targets, &rel)
                || out.contains(&rel)
            {
                continue;
            }
            let full = project.root.join(&rel);
            if full.is_dir() {
                continue;
            }
            if full.is_file() || tracked(&rel) {
                out.push(rel);
            }
        }
    }
    out
}
