//! Forks (docs/CONTRACT.md §8): branches `<branch>-fork-<name>` that explore another direction
//! in parallel, each in its own scope of the one ledger.
//!
//! `fork` checks every name, the start point and every work-tree directory before it creates
//! anything, then creates the branches, the linked worktrees, each fork's settings
//! (`.autoresearch/forks/<branch>.json`: where it started, its environment) and, in one ledger
//! write, each fork's start record. A failure on the way takes back what was created, so a call
//! leaves all of its forks or none.
//!
//! The start record is a `baseline` with `source: "fork"`: the start code's evidence (its
//! samples in its own branch, under the same setup) copied into the fork's scope. So the
//! fork's first experiment is judged against where the fork started, not against a best it
//! may never have been measured beside. When the start code has no evidence under the current
//! setup (an unevaluated tip, a changed harness), there is no start record and the fork's
//! first `run` measures its own baseline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{AppError, Code, Result};
use crate::git;
use crate::ledger::{self, Record, Status};
use crate::project::{Loaded, Project};

pub use crate::forkfile::{Settings, env_of, settings, settings_path};

pub mod merge;
pub mod rank;

/// The `source` of a fork's start record.
pub const SOURCE: &str = "fork";
/// At most this many inputs missing from a new worktree are named.
const INPUTS_SHOWN: usize = 8;
/// Untracked top-level entries that are caches or build output, never an eval's input.
const NOT_INPUTS: &[&str] = &[
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    ".DS_Store",
    ".idea",
    ".vscode",
    "target",
    "build",
    "dist",
];

/// Where a fork starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Best,
    Baseline,
    Tip,
    Run(u64),
}

impl From {
    pub fn parse(s: &str) -> std::result::Result<From, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "best" => Ok(From::Best),
            "baseline" => Ok(From::Baseline),
            "tip" | "head" => Ok(From::Tip),
            other => other
                .trim_start_matches('#')
                .parse()
                .map(From::Run)
                .map_err(|_| format!("`{s}` is not best, baseline, tip or a run number")),
        }
    }

    fn label(self) -> String {
        match self {
            From::Best => "best".into(),
            From::Baseline => "baseline".into(),
            From::Tip => "tip".into(),
            From::Run(r) => r.to_string(),
        }
    }
}

/// What `fork` is asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub names: Vec<String>,
    pub from: From,
    /// No worktrees; worktrees beside the repository; worktrees under this directory.
    pub worktree: Worktrees,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worktrees {
    None,
    Sibling,
    Under(PathBuf),
}

/// Where the forks start, and what is known of that code.
#[derive(Debug, Clone, Serialize)]
pub struct Start {
    /// As asked: `best`, `baseline`, `tip` or the run number.
    pub from: String,
    /// The branch it is taken from.
    pub branch: String,
    pub commit: String,
    /// The recorded run of that code, when there is one.
    pub run: Option<u64>,
    pub status: Option<Status>,
    /// The code's level (the median of its samples) and how many samples it has, under the
    /// current setup; null when it has none (the fork's first `run` is then its baseline).
    pub level: Option<f64>,
    pub samples: usize,
    #[serde(skip)]
    evidence: Vec<f64>,
    #[serde(skip)]
    code: String,
    #[serde(skip)]
    setup: String,
    /// The hardware class of `setup`.
    #[serde(skip)]
    hardware: Option<String>,
    #[serde(skip)]
    record: Option<Record>,
}

impl Start {
    /// `#17`, or `#17@gpu-03` when the start is another worker's run (`Record::label`).
    pub fn run_label(&self) -> Option<String> {
        self.record.as_ref().map(Record::label)
    }
}

/// One fork to create.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub name: String,
    pub branch: String,
    pub worktree: Option<PathBuf>,
}

/// Everything checked, nothing created yet.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub start: Start,
    pub forks: Vec<Planned>,
    pub env: BTreeMap<String, String>,
}

/// Check every name, the start point, the environment and every worktree directory.
pub fn plan(loaded: &Loaded, req: &Request) -> Result<Plan> {
    let env = check_env(&req.env)?;
    let names = check_names(loaded, &req.names)?;
    let start = start_point(loaded, req.from)?;
    let forks = names
        .into_iter()
        .map(|name| {
            let branch = format!("{}-fork-{name}", loaded.config.branch);
            let worktree = worktree_dir(&loaded.project, &req.worktree, &name)?;
            Ok(Planned {
                name,
                branch,
                worktree,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for dir in forks.iter().filter_map(|f| f.worktree.as_ref()) {
        if !seen.insert(dir.clone()) {
            return Err(exists(format!(
                "Two forks would share the worktree `{}`.",
                dir.display()
            )));
        }
    }
    Ok(Plan { start, forks, env })
}

fn check_env(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for (k, v) in pairs {
        let valid = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(AppError::usage(
                format!("`{k}` is not an environment variable name."),
                "Use `--env NAME=VALUE` with a name of letters, digits and `_` that does not start with a digit, e.g. `--env CUDA_VISIBLE_DEVICES=1`.",
            ));
        }
        if k.starts_with("AUTORESEARCH_") {
            return Err(AppError::usage(
                format!("`{k}` is set by autoresearch itself for every eval."),
                "Pick another name; the `AUTORESEARCH_` prefix is reserved.",
            ));
        }
        if v.contains('\0') {
            return Err(AppError::usage(
                format!("The value of `{k}` contains a NUL byte."),
                "Pass a value without NUL bytes.",
            ));
        }
        if env.insert(k.clone(), v.clone()).is_some() {
            return Err(AppError::usage(
                format!("`--env {k}` is given twice."),
                "Give each variable once.",
            ));
        }
    }
    Ok(env)
}

fn check_names(loaded: &Loaded, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Err(AppError::usage(
            "`fork` needs at least one name.",
            "Name the new directions: `autoresearch fork wide-mlp moe`.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if let Err(why) = crate::names::valid_name(name) {
            return Err(AppError::new(
                Code::InvalidName,
                format!("Fork name {why}. Nothing was created."),
                "Use 1 to 50 letters, digits, `.`, `_` or `-`, starting with a letter or digit: `autoresearch fork wide-mlp`.",
            ));
        }
        if out.contains(name) {
            return Err(AppError::new(
                Code::InvalidName,
                format!("Fork name `{name}` is given twice. Nothing was created."),
                "Give each fork a different name.",
            ));
        }
        let branch = format!("{}-fork-{name}", loaded.config.branch);
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(AppError::new(
                Code::InvalidName,
                format!("`{branch}` is not a valid branch name. Nothing was created."),
                "Pick another fork name.",
            ));
        }
        if git::branch_exists(&loaded.project.repo, &branch) {
            return Err(exists(format!(
                "The branch `{branch}` already exists. Nothing was created."
            )));
        }
        out.push(name.clone());
    }
    Ok(out)
}

fn exists(message: String) -> AppError {
    AppError::new(
        Code::AlreadyExists,
        message,
        "Pick another fork name (see `git branch --list '*-fork-*'`), or another `--worktree` directory; autoresearch never deletes a branch or a worktree.",
    )
}

/// The start commit, and the evidence for its code under the current setup.
fn start_point(loaded: &Loaded, from: From) -> Result<Start> {
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    let summary = loaded.ledger.summary()?;
    let (branch, record, commit) = start_commit(loaded, &summary, from)?;
    let oid = git2::Oid::from_str(&commit)
        .ok()
        .filter(|o| repo.find_commit(*o).is_ok())
        .ok_or_else(|| {
            AppError::new(
                Code::RunNotFound,
                format!(
                    "The commit {commit} of the start point is not in this repository. Nothing was created."
                ),
                "Fork from another run (`autoresearch log` lists them), or fetch the commit first.",
            )
        })?;
    let code = git::paths_digest(repo, oid, &cfg.target_files, "code")?;
    let setup = crate::engine::setup_of(repo, oid, cfg)?;
    let evidence = start_evidence(
        &summary.scope(Some(&branch)),
        record.as_ref(),
        &code,
        &setup,
    );
    Ok(Start {
        from: from.label(),
        branch,
        commit,
        run: record.as_ref().map(|r| r.run),
        status: record.as_ref().map(|r| r.status),
        level: (!evidence.is_empty()).then(|| crate::noise::median(&evidence)),
        samples: evidence.len(),
        evidence,
        code,
        setup,
        hardware: cfg.hardware.clone(),
        record,
    })
}

/// The branch the start is taken from, its record (if it is a recorded run) and its commit.
fn start_commit(
    loaded: &Loaded,
    summary: &crate::ledger::Summary,
    from: From,
) -> Result<(String, Option<Record>, String)> {
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    let current = git::current_branch(repo);
    let here = summary.default_scope(current.as_deref(), |b| cfg.is_experiment_branch(b));
    match from {
        From::Best | From::Baseline => {
            let scope = summary.scope(Some(&here));
            let rec = if from == From::Best {
                scope.best
            } else {
                scope.baseline
            };
            let Some(rec) = rec else {
                return Err(AppError::new(
                    Code::NoExperiments,
                    format!(
                        "`{here}` has no {} yet: there is nothing to fork from.",
                        from.label()
                    ),
                    "Measure a baseline first (`autoresearch run -m \"baseline\"`), or fork the branch as it is with `--from tip`.",
                ));
            };
            let commit = rec.commit.clone().ok_or_else(|| no_commit(&rec))?;
            Ok((here, Some(rec), commit))
        }
        From::Tip => {
            let tip = git::branch_tip(repo, &here)
                .or_else(|| git::head_oid(repo))
                .ok_or_else(|| {
                    AppError::new(
                        Code::NoExperiments,
                        format!("`{here}` does not exist yet and HEAD has no commit."),
                        "Commit something first: `git add -A && git commit -m init`.",
                    )
                })?;
            Ok((here, None, tip.to_string()))
        }
        From::Run(run) => {
            let Some(rec) = loaded.ledger.find(run)? else {
                return Err(AppError::new(
                    Code::RunNotFound,
                    format!(
                        "No run #{run} in the ledger: there is nothing to fork from. Nothing was created."
                    ),
                    "See the runs with `autoresearch log`, then `autoresearch fork <name> --from <run>`.",
                ));
            };
            let commit = rec.commit.clone().ok_or_else(|| no_commit(&rec))?;
            let branch = rec.branch.clone().unwrap_or_else(|| cfg.branch.clone());
            Ok((branch, Some(rec), commit))
        }
    }
}

/// The start code's samples under the current setup: its evidence in `scope`, else the run's
/// own samples when its record names the same code and setup (its evidence was not kept this
/// long); none when it was never measured that way.
fn start_evidence(
    scope: &crate::ledger::Scope,
    record: Option<&Record>,
    code: &str,
    setup: &str,
) -> Vec<f64> {
    if let Some(e) = scope
        .evidence_of(Some(setup), code)
        .filter(|e| !e.samples.is_empty())
    {
        return e.samples.clone();
    }
    let Some(rec) = record else {
        return Vec::new();
    };
    if rec.code.as_deref() != Some(code) || rec.setup.as_deref() != Some(setup) {
        return Vec::new();
    }
    match (&rec.samples[..], rec.metric) {
        ([], Some(m)) => vec![m],
        (s, Some(_)) => s.to_vec(),
        (_, None) => Vec::new(),
    }
}

fn no_commit(rec: &Record) -> AppError {
    AppError::new(
        Code::RunNotFound,
        format!(
            "Run #{} has no commit (it was recorded by hand): a fork needs code to start from. Nothing was created.",
            rec.run
        ),
        "Fork from a run made by `autoresearch run` (`autoresearch log` shows their commits), or `--from tip`.",
    )
}

/// The worktree directory of fork `name`, checked: outside every work tree of the repository,
/// and absent or an empty directory.
fn worktree_dir(project: &Project, how: &Worktrees, name: &str) -> Result<Option<PathBuf>> {
    let dir = match how {
        Worktrees::None => return Ok(None),
        Worktrees::Sibling => {
            let base = project
                .main_root
                .file_name()
                .map_or_else(|| "repo".to_string(), |n| n.to_string_lossy().into_owned());
            let Some(parent) = project.main_root.parent() else {
                return Err(AppError::usage(
                    "The repository is at the file system's root: there is no directory beside it.",
                    "Name a directory for the worktrees: `--worktree ../forks`.",
                ));
            };
            parent.join(format!("{base}-{name}"))
        }
        Worktrees::Under(d) => d.join(name),
    };
    let full = absolute(&dir);
    let inside = worktree_roots(project)
        .into_iter()
        .find(|root| full.starts_with(root));
    if let Some(root) = inside {
        return Err(AppError::usage(
            format!(
                "`{}` is inside the work tree `{}`: its files would show up there as untracked.",
                full.display(),
                root.display()
            ),
            "Put the worktrees outside the repository: `--worktree ..` or leave the directory out for one beside it.",
        ));
    }
    match std::fs::read_dir(&full) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(exists(format!(
                    "The worktree directory `{}` exists and is not empty. Nothing was created.",
                    full.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(exists(format!(
                "The worktree directory `{}` cannot be used ({e}). Nothing was created.",
                full.display()
            )));
        }
    }
    Ok(Some(full))
}

/// `path` made absolute and free of `.`/`..`, resolving symlinks in the part that exists.
fn absolute(path: &Path) -> PathBuf {
    let path = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                existing = p;
            }
            _ => return path,
        }
    }
}

/// Every work tree of the repository, canonical.
fn worktree_roots(project: &Project) -> Vec<PathBuf> {
    let mut roots = vec![project.main_root.clone(), project.root.clone()];
    if let Ok(names) = project.repo.worktrees() {
        for name in names.iter().flatten() {
            if let Ok(wt) = project.repo.find_worktree(name) {
                roots.push(wt.path().to_path_buf());
            }
        }
    }
    roots
        .into_iter()
        .map(|r| r.canonicalize().unwrap_or(r))
        .collect()
}

/// One fork as created.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub name: String,
    pub branch: String,
    pub commit: String,
    pub worktree: Option<PathBuf>,
    /// The fork's start record, when the start code had evidence.
    pub start_run: Option<u64>,
    /// Untracked or ignored inputs of the parent's work tree that the new worktree lacks.
    pub missing_inputs: Vec<String>,
}

/// Create every fork of `plan`, or none: a failure takes back the branches, worktrees and
/// settings made before it. The ledger's start records are written last, in one append.
pub fn create(loaded: &Loaded, plan: &Plan) -> Result<Vec<Created>> {
    let mut undo = Undo::default();
    match create_all(loaded, plan, &mut undo) {
        Ok(out) => Ok(out),
        Err(e) => {
            undo.run(loaded);
            Err(e)
        }
    }
}

/// What a failed `create` takes back.
#[derive(Default)]
struct Undo {
    branches: Vec<String>,
    worktrees: Vec<String>,
    files: Vec<PathBuf>,
}

impl Undo {
    fn run(&self, loaded: &Loaded) {
        let repo = &loaded.project.repo;
        for name in self.worktrees.iter().rev() {
            if let Ok(wt) = repo.find_worktree(name) {
                let _ = wt.prune(Some(
                    git2::WorktreePruneOptions::new()
                        .valid(true)
                        .locked(true)
                        .working_tree(true),
                ));
            }
        }
        for branch in self.branches.iter().rev() {
            if let Ok(mut b) = repo.find_branch(branch, git2::BranchType::Local) {
                let _ = b.delete();
            }
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn create_all(loaded: &Loaded, plan: &Plan, undo: &mut Undo) -> Result<Vec<Created>> {
    let repo = &loaded.project.repo;
    let oid = git2::Oid::from_str(&plan.start.commit)
        .map_err(|e| AppError::git("reading the start commit", &e))?;
    let commit = repo
        .find_commit(oid)
        .map_err(|e| AppError::git("reading the start commit", &e))?;
    for f in &plan.forks {
        repo.branch(&f.branch, &commit, false)
            .map_err(|e| AppError::git(format!("creating branch `{}`", f.branch), &e))?;
        undo.branches.push(f.branch.clone());
    }
    for f in &plan.forks {
        if let Some(dir) = &f.worktree {
            add_worktree(loaded, &f.branch, dir, undo)?;
        }
    }
    let created_at = ledger::now_timestamp();
    loaded.project.ensure_state_dir()?;
    for f in &plan.forks {
        let path = settings_path(&loaded.project, &f.branch);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir.display(), &e))?;
        }
        let settings = Settings {
            branch: f.branch.clone(),
            parent: plan.start.branch.clone(),
            from: plan.start.from.clone(),
            from_run: plan.start.run,
            from_commit: plan.start.commit.clone(),
            start_run: None,
            env: plan.env.clone(),
            worktree: f.worktree.clone(),
            created_at: created_at.clone(),
        };
        write_settings(&path, &settings)?;
        undo.files.push(path);
    }
    let starts = write_starts(loaded, plan)?;
    // The start runs are known now: say so in the settings (best effort: the ledger is the truth).
    let mut out = Vec::new();
    for (f, start_run) in plan.forks.iter().zip(starts) {
        let path = settings_path(&loaded.project, &f.branch);
        if let Some(mut s) = settings(&loaded.project, &f.branch) {
            s.start_run = start_run;
            let _ = write_settings(&path, &s);
        }
        let missing_inputs = f
            .worktree
            .as_ref()
            .map(|dir| missing_inputs(&loaded.project.root, dir, &loaded.config.eval_command))
            .unwrap_or_default();
        out.push(Created {
            name: f.name.clone(),
            branch: f.branch.clone(),
            commit: plan.start.commit.clone(),
            worktree: f.worktree.clone(),
            start_run,
            missing_inputs,
        });
    }
    Ok(out)
}

fn write_settings(path: &Path, s: &Settings) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(s).map_err(AppError::internal)?;
    bytes.push(b'\n');
    crate::fsutil::write_atomic(path, &bytes)
}

/// A linked worktree at `dir` with `branch` checked out.
fn add_worktree(loaded: &Loaded, branch: &str, dir: &Path, undo: &mut Undo) -> Result<()> {
    let repo = &loaded.project.repo;
    let git_err =
        |e: git2::Error| AppError::git(format!("adding the worktree `{}`", dir.display()), &e);
    // git's name for it: the branch, readable and unique among the repository's worktrees.
    let taken: Vec<String> = repo
        .worktrees()
        .map(|w| w.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default();
    let base = branch.replace('/', "-");
    let name = (1..)
        .map(|i| {
            if i == 1 {
                base.clone()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|n| !taken.contains(n) && !repo.path().join("worktrees").join(n).exists())
        .unwrap_or(base);
    if dir.is_dir() {
        // Checked empty by `plan`; libgit2 wants to create it itself.
        std::fs::remove_dir(dir).map_err(|e| AppError::io(dir.display(), &e))?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| AppError::io(parent.display(), &e))?;
    }
    let reference = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .map_err(git_err)?;
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(&reference));
    repo.worktree(&name, dir, Some(&opts)).map_err(git_err)?;
    undo.worktrees.push(name);
    Ok(())
}

/// Append each fork's start record (one write), when the start code has evidence.
fn write_starts(loaded: &Loaded, plan: &Plan) -> Result<Vec<Option<u64>>> {
    let start = &plan.start;
    if start.evidence.is_empty() {
        return Ok(vec![None; plan.forks.len()]);
    }
    let loops = crate::loopfile::Loops::of(&loaded.project, &loaded.config.branch);
    let written = loaded.ledger.append_many_around(
        || loops.reserved(),
        |next, _| {
            plan.forks
                .iter()
                .map(|f| Ok(start_record(start, &f.branch, next()?)))
                .collect()
        },
    )?;
    Ok(written.records.iter().map(|r| Some(r.run)).collect())
}

fn start_record(start: &Start, branch: &str, run: u64) -> Record {
    // Another worker's run by its label (`run #17@gpu-03`): its number here means nothing there.
    let at = match (&start.record, start.run) {
        (Some(r), _) => format!("run {}", r.label()),
        (None, Some(r)) => format!("run #{r}"),
        (None, None) => format!("commit {}", &start.commit[..start.commit.len().min(12)]),
    };
    let what = start
        .record
        .as_ref()
        .map(|r| format!(": {}", r.summary))
        .unwrap_or_default();
    let (summary, _) = ledger::clean_summary(&format!("fork of {} from {at}{what}", start.branch));
    Record {
        id: ledger::new_id(),
        timestamp: ledger::now_timestamp(),
        metric: start.level,
        metrics: start
            .record
            .as_ref()
            .map(|r| r.metrics.clone())
            .unwrap_or_default(),
        samples: start.evidence.clone(),
        delta: None,
        summary,
        commit: Some(start.commit.clone()),
        parent: None,
        branch: Some(branch.to_string()),
        duration_s: None,
        exit_code: None,
        reason: None,
        flags: Vec::new(),
        source: SOURCE.to_string(),
        code: Some(start.code.clone()),
        setup: Some(start.setup.clone()),
        hardware: start.hardware.clone(),
        ..Record::new(run, Status::Baseline)
    }
}

/// Untracked or ignored entries at the top of work tree `from` that `to` lacks, and paths the
/// eval command names that exist in `from` but not in `to`: what an eval may need that a new
/// worktree does not have (a dataset, a virtual environment). Caches and build output are left
/// out. At most `INPUTS_SHOWN`, sorted.
pub fn missing_inputs(from: &Path, to: &Path, eval_command: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Ok(repo) = git2::Repository::open(from) {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true)
            .include_ignored(true)
            .recurse_untracked_dirs(false)
            .recurse_ignored_dirs(false)
            .exclude_submodules(true);
        if let Ok(statuses) = repo.statuses(Some(&mut opts)) {
            for entry in statuses.iter() {
                let s = entry.status();
                if !(s.is_wt_new() || s.is_ignored()) {
                    continue;
                }
                let Some(path) = entry.path() else { continue };
                let top = path.split('/').next().unwrap_or(path).to_string();
                if top.is_empty()
                    || top == crate::project::STATE_DIR
                    || NOT_INPUTS.contains(&top.as_str())
                    || top.ends_with(".pyc")
                    || out.contains(&top)
                {
                    continue;
                }
                out.push(top);
            }
        }
    }
    for word in crate::text::command_words(eval_command) {
        let value = word.split_once('=').map(|(_, v)| v.to_string());
        for w in std::iter::once(word).chain(value) {
            let Some(rel) = crate::config::normalize_rel_path(&w) else {
                continue;
            };
            let top = rel.split('/').next().unwrap_or_default().to_string();
            if !top.is_empty() && top != crate::project::STATE_DIR && !out.contains(&top) {
                out.push(top);
            }
        }
    }
    let mut missing: Vec<String> = out
        .into_iter()
        .filter(|t| from.join(t).exists() && !to.join(t).exists())
        .map(|t| {
            if from.join(&t).is_dir() {
                format!("{t}/")
            } else {
                t
            }
        })
        .collect();
    missing.sort();
    missing.truncate(INPUTS_SHOWN);
    missing
}

/// Every fork branch of `cfg.branch` in the repository, sorted.
pub fn fork_branches(loaded: &Loaded) -> Vec<String> {
    let prefix = format!("{}-fork-", loaded.config.branch);
    let mut out: Vec<String> = loaded
        .project
        .repo
        .branches(Some(git2::BranchType::Local))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|(b, _)| b.name().ok().flatten().map(str::to_string))
        .filter(|n| n.starts_with(&prefix) && loaded.config.is_experiment_branch(n))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_points_parse() {
        assert_eq!(From::parse("best"), Ok(From::Best));
        assert_eq!(From::parse(" Baseline "), Ok(From::Baseline));
        assert_eq!(From::parse("tip"), Ok(From::Tip));
        assert_eq!(From::parse("41"), Ok(From::Run(41)));
        assert_eq!(From::parse("#41"), Ok(From::Run(41)));
        for bad in ["", "-1", "last", "4x"] {
            assert!(From::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names_are_checked() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let ok = check_env(&[pair("CUDA_VISIBLE_DEVICES", "3"), pair("_X", "")]).unwrap();
        assert_eq!(ok.len(), 2);
        for bad in [
            vec![pair("1X", "1")],
            vec![pair("A-B", "1")],
            vec![pair("", "1")],
            vec![pair("AUTORESEARCH_RUN", "1")],
            vec![pair("A", "x\0y")],
            vec![pair("A", "1"), pair("A", "2")],
        ] {
            assert!(check_env(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_inputs_are_untracked_entries_the_new_tree_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&to).unwrap();
        let repo = git2::Repository::init(&from).unwrap();
        std::fs::write(from.join(".gitignore"), "data/\n.venv/\n__pycache__/\n").unwrap();
        for d in ["data", ".venv", "__pycache__", "shared"] {
            std::fs::create_dir_all(from.join(d)).unwrap();
            std::fs::write(from.join(d).join("f"), "x").unwrap();
        }
        std::fs::create_dir_all(to.join("shared")).unwrap();
        std::fs::write(from.join("weights.bin"), "w").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new(".gitignore")).unwrap();
        index.write().unwrap();
        let got = missing_inputs(&from, &to, "python train.py --data=cache/x.bin");
        assert_eq!(got, [".venv/", "data/", "weights.bin"]);
    }
}
