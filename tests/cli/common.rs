//! The sandbox every test runs in: a temp dir holding a git repository (made with git2, no
//! user git config involved) and a HOME of its own.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_autoresearch");

/// `init` with the sandbox's defaults: target `train.py`, eval `sh eval.sh`, metric `score`,
/// lower is better, budget 10s.
pub const INIT: &[&str] = &[
    "init",
    "--target-file",
    "train.py",
    "--eval-command",
    "sh eval.sh",
    "--metric-name",
    "score",
    "--metric-direction",
    "lower",
    "--time-budget",
    "10s",
];

pub struct Sandbox {
    _dir: tempfile::TempDir,
    /// The repository's work tree.
    pub root: PathBuf,
    pub home: PathBuf,
}

/// What a call printed, with the envelope parsed when stdout is JSON.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The one JSON document on stdout; panics (failing the test) when there is not exactly one.
    pub fn json(&self) -> Value {
        assert!(
            self.stdout.ends_with('\n') && self.stdout.trim_end().lines().count() == 1,
            "stdout must be exactly one JSON line, got: {:?}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.stdout))
    }
    pub fn data(&self) -> Value {
        let v = self.json();
        assert_eq!(v["status"], "success", "expected success: {v}");
        v["data"].clone()
    }
    /// Asserts an error envelope with this code and exit code; returns the envelope.
    pub fn err(&self, code: &str, exit: i32) -> Value {
        let v = self.json();
        assert_eq!(v["status"], "error", "expected an error: {v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert_eq!(self.code, exit, "exit code for {code}: {v}");
        assert!(
            !v["error"]["suggestion"].as_str().unwrap_or("").is_empty(),
            "every error needs a suggestion: {v}"
        );
        v
    }
    pub fn ok(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "exit code; stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.data()
    }
}

impl Sandbox {
    /// A repository with one commit holding `train.py` and an `eval.sh` that prints
    /// `score: <the number in train.py>`.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("repo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let sb = Sandbox {
            _dir: dir,
            root,
            home,
        };
        git2::Repository::init(&sb.root).expect("git init");
        sb.write("train.py", "x = 1\n");
        sb.write(
            "eval.sh",
            "#!/bin/sh\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n",
        );
        sb.commit_all("initial");
        sb
    }

    /// An empty repository (no commits).
    pub fn empty() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("repo");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        git2::Repository::init(&root).expect("git init");
        Sandbox {
            _dir: dir,
            root,
            home,
        }
    }

    /// A directory that is not a git repository.
    pub fn no_git() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("plain");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Sandbox {
            _dir: dir,
            root,
            home,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }

    pub fn repo(&self) -> git2::Repository {
        git2::Repository::open(&self.root).unwrap()
    }

    /// Stage everything and commit on the current branch; returns the commit hash.
    pub fn commit_all(&self, msg: &str) -> String {
        let repo = self.repo();
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree_id = index.write_tree().unwrap();
        let tree = repo.find_tree(tree_id).unwrap();
        let sig = git2::Signature::now("Test", "test@example.com").unwrap();
        let parents: Vec<git2::Commit> = repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|oid| vec![repo.find_commit(oid).unwrap()])
            .unwrap_or_default();
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parent_refs)
            .unwrap()
            .to_string()
    }

    /// Where `branch` points.
    pub fn tip(&self, branch: &str) -> String {
        self.repo()
            .find_branch(branch, git2::BranchType::Local)
            .unwrap()
            .get()
            .target()
            .unwrap()
            .to_string()
    }

    /// Check out `branch` in the main work tree (its files follow).
    pub fn switch(&self, branch: &str) {
        let repo = self.repo();
        repo.set_head(&format!("refs/heads/{branch}")).unwrap();
        repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .unwrap();
    }

    pub fn head(&self) -> String {
        self.repo().head().unwrap().target().unwrap().to_string()
    }

    /// A command for the binary in this sandbox: cwd = root, hermetic environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(&self.root, args)
    }

    pub fn cmd_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(cwd)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env_remove("AUTORESEARCH_FORMAT")
            .env_remove("AUTORESEARCH_HARDWARE")
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("CODEX_HOME")
            .env_remove("GEMINI_CLI_HOME")
            .env_remove("OPENCODE_CONFIG_DIR")
            .env_remove("COPILOT_HOME")
            .stdin(Stdio::null());
        // Set when the suite runs inside a coding agent; they change `doctor`'s advice.
        for v in autoresearch::skills::detect::variables() {
            c.env_remove(v);
        }
        c
    }

    /// Run with `--json` appended semantics: the caller passes the mode flag explicitly.
    pub fn run(&self, args: &[&str]) -> Out {
        run_cmd(self.cmd(args))
    }

    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Out {
        run_cmd(self.cmd_in(cwd, args))
    }

    /// `init` with the sandbox's defaults ([`INIT`]), then commit the setup.
    pub fn init(&self) {
        let mut args = vec!["--json"];
        args.extend_from_slice(INIT);
        self.run(&args).ok();
        self.commit_all("autoresearch setup");
    }

    /// `record` with JSON output; returns the data.
    pub fn record(&self, status: &str, metric: Option<&str>, summary: &str) -> Value {
        let mut args = vec!["--json", "record", "--status", status, "--summary", summary];
        if let Some(m) = metric {
            args.extend(["--metric", m]);
        }
        self.run(&args).ok()
    }

    pub fn ledger_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.root.join(".autoresearch/experiments.jsonl"))
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("ledger line parses"))
            .collect()
    }
}

/// The loop state of `branch` (docs/CONTRACT.md §10), relative to the root.
pub fn loop_state(branch: &str) -> String {
    format!(".autoresearch/loops/branches/{branch}.json")
}

/// The loop state of the configured branch, `autoresearch`.
pub const LOOP_STATE: &str = ".autoresearch/loops/branches/autoresearch.json";

/// `--json run` with these arguments.
pub fn run(sb: &Sandbox, args: &[&str]) -> Out {
    let mut all = vec!["--json", "run"];
    all.extend_from_slice(args);
    sb.run(&all)
}

/// `train.py` becomes `x = <x>`: what the sandbox's evals read.
pub fn set_x(sb: &Sandbox, x: &str) {
    sb.write("train.py", &format!("x = {x}\n"));
}

pub fn run_cmd(mut c: Command) -> Out {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("spawn autoresearch");
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A directory of the shared test data (`../shared/testdata/<name>`), beside the repository.
/// The published crate has no `../shared`: without it the test is skipped with a note, except
/// under CI (the `CI` variable set), where a missing input must fail the test, not pass it.
pub fn shared_testdata(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata")
        .join(name);
    if dir.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing, and CI is set: the test would pass without its input",
        dir.display()
    );
    // Not a silent pass: say on the test's output that nothing was checked.
    std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {} is not here\n", dir.display()).as_bytes(),
    )
    .ok();
    None
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}
