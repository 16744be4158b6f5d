//! Steps 2–4 of the experiment (docs/CONTRACT.md §7): the branch the step runs on, whether it
//! is a baseline, and what changed — refused, before anything is committed, when the change is
//! out of scope. `doctor` asks the same questions through the same functions.

use git2::Oid;

use super::{Event, StepOptions, protect};
use crate::config::Config;
use crate::error::{AppError, Code, Result};
use crate::eval;
use crate::git;
use crate::loopfile::Left;
use crate::project::Loaded;
use crate::text::{code_list, shell_words};

/// What steps 2–4 decided.
pub(super) struct Plan {
    /// The branch the step runs on (created by `prepare` when it did not exist).
    pub branch: String,
    /// The step is a baseline: it evaluates HEAD as committed.
    pub baseline: bool,
    /// A new baseline over a setup that differs from the previous baseline's: the warning.
    pub harness_changed: Option<String>,
    /// Commits made by hand since the last step on this branch.
    pub hand: Option<Hand>,
    /// The branch's fold as the step started (the decision reads the ledger again after the
    /// eval).
    pub scope: crate::ledger::Scope,
    /// A target file changed: the step commits it (else it evaluates HEAD).
    pub target_changed: bool,
    /// HEAD before the step, and its parent.
    pub head: Oid,
    pub head_parent: Option<Oid>,
    /// The run number the step reserves (a concurrent `record` may still take it). `prepare`
    /// gives the ledger's next; `step` reserves the number under the ledger lock, past those
    /// that steps on other branches reserved.
    pub reserved: u64,
}

/// Check the branch and the change; create the experiment branch once every check passed.
/// `locked` is the branch whose loop lock the step holds: HEAD must still say that branch.
pub(super) fn prepare(
    loaded: &Loaded,
    opts: &StepOptions,
    locked: &str,
    left: Option<&Left>,
    on: &mut dyn FnMut(Event),
) -> Result<Plan> {
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    git::ensure_no_operation(repo)?;
    let head = git::head_commit(repo)?;
    let (branch, create) = experiment_branch(repo, cfg)?;
    if branch != locked {
        return Err(head_moved(locked, &branch));
    }
    let summary = loaded.ledger.summary()?;
    for w in summary.health_warnings("`experiments.jsonl`") {
        on(Event::Warning(w));
    }
    let scope = summary.scope(Some(&branch));
    let baseline = opts.baseline || scope.baseline.is_none();
    // Commits made by hand since the last step that change the target: part of this
    // experiment (see `Hand`). Commits of other files alone (a config change, notes) are not.
    let by_hand = (!baseline && opts.recheck.is_none())
        .then(|| hand_commits(repo, left, &branch, head.id(), &scope))
        .flatten();
    let hand = match by_hand {
        Some(h) => hand_scope(repo, cfg, h, head.id())?,
        None => None,
    };
    let target_changed = target_change(loaded, opts, baseline, hand.is_some(), by_hand, head.id())?;
    // 4b. How the number is made is the baseline's (a new baseline may change it).
    let harness_changed = setup_check(loaded, head.id(), &scope, baseline)?;
    if let Some(h) = &hand {
        on(Event::Warning(format!(
            "{} made by hand since the last run ({}..{}): {} evaluated with the change as one experiment; a discard returns the branch to {}.",
            crate::text::count(h.count, "commit was", "commits were"),
            h.base,
            head.id(),
            if h.count == 1 { "it is" } else { "they are" },
            h.base
        )));
    }
    if eval::interrupted() {
        return Err(interrupted_before());
    }
    // The number this step will record (and name its commit after); none after `u64::MAX`.
    let reserved = summary
        .next_run()
        .ok_or_else(|| loaded.ledger.numbers_exhausted())?;
    if create {
        git::create_and_switch(repo, &cfg.branch)?;
        on(Event::BranchCreated(cfg.branch.clone()));
    }
    Ok(Plan {
        branch,
        baseline,
        hand,
        scope,
        harness_changed,
        target_changed,
        head: head.id(),
        head_parent: head.parent_ids().next(),
        reserved,
    })
}

/// Does the work tree change the target (the experiment to commit)? A baseline needs a clean
/// tree; anything else a change within the targets, unless it may evaluate HEAD as it is (a
/// re-check, `--allow-empty`, or commits made by hand). A re-check refuses a changed target.
fn target_change(
    loaded: &Loaded,
    opts: &StepOptions,
    baseline: bool,
    has_hand: bool,
    by_hand: Option<Hand>,
    head: Oid,
) -> Result<bool> {
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    let changed = changes(repo, cfg)?.files;
    if baseline {
        if !changed.is_empty() {
            return Err(dirty_tree(&changed));
        }
        return Ok(false);
    }
    let empty_ok = opts.allow_empty || opts.recheck.is_some() || has_hand;
    let changed = check_scope(cfg, &changed, empty_ok).map_err(|mut e| {
        if let (Code::NoChanges, Some(h)) = (e.code, by_hand) {
            let (them, verb) = if h.count == 1 {
                ("it is", "changes")
            } else {
                ("they are", "change")
            };
            e.message.push_str(&format!(
                " The {} made by hand since the last run ({}..{head}) {verb} no target file, so {them} no experiment.",
                crate::text::count(h.count, "commit", "commits"),
                h.base,
            ));
        }
        e.message.push_str(" Nothing was committed or recorded.");
        e
    })?;
    if changed && opts.recheck.is_some() {
        return Err(recheck_dirty(cfg));
    }
    Ok(changed)
}

/// HEAD's evaluation setup against the branch baseline's: a refusal, unless this step is a
/// new baseline, which may change it (the warning that says so is returned).
fn setup_check(
    loaded: &Loaded,
    head: Oid,
    scope: &crate::ledger::Scope,
    baseline: bool,
) -> Result<Option<String>> {
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    let setup = protect::setup_of(repo, head, cfg)?;
    let change = scope
        .baseline
        .as_ref()
        .and_then(|b| Some((b, protect::change_since(repo, cfg, head, &setup, b)?)));
    match change {
        Some((b, change)) if !baseline => Err(protect::refusal(cfg, b, &change)),
        Some((b, change)) => Ok(Some(protect::rebaseline_warning(b, &change))),
        None => Ok(None),
    }
}

/// The branch this step runs on, and whether it must be created first: the current branch when
/// it is the experiment branch or a fork of it; the configured branch when it does not exist
/// yet; else `wrong_branch`. (`doctor` asks the same question.)
pub fn experiment_branch(repo: &git2::Repository, cfg: &Config) -> Result<(String, bool)> {
    let current = git::current_branch(repo);
    match current.as_deref() {
        Some(b) if cfg.is_experiment_branch(b) => Ok((b.to_string(), false)),
        _ if !git::branch_exists(repo, &cfg.branch) => Ok((cfg.branch.clone(), true)),
        other => Err(wrong_branch(cfg, other)),
    }
}

/// Commits on the branch after the one the last step left it at, all descending from it:
/// made by hand, never evaluated. The step evaluates them with any uncommitted change as one
/// experiment, records `base` as its parent, and a discard returns the branch to `base`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hand {
    pub base: Oid,
    pub count: usize,
}

/// At most this many commits are counted.
const HAND_LIMIT: usize = 10_000;

/// The hand commits on `branch`: HEAD descends from where the last step left it, and no
/// record was written since (a `record` by hand means the caller keeps the books).
fn hand_commits(
    repo: &git2::Repository,
    left: Option<&Left>,
    branch: &str,
    head: Oid,
    scope: &crate::ledger::Scope,
) -> Option<Hand> {
    let left = left.filter(|l| l.branch == branch)?;
    if scope.last.as_ref().map(|r| r.run) != Some(left.run) {
        return None;
    }
    let base = Oid::from_str(&left.commit).ok()?;
    if base == head || !repo.graph_descendant_of(head, base).ok()? {
        return None;
    }
    let mut walk = repo.revwalk().ok()?;
    walk.push(head).ok()?;
    walk.hide(base).ok()?;
    Some(Hand {
        base,
        count: walk.take(HAND_LIMIT).count(),
    })
}

/// Hand commits are an experiment when they change the target; then they may change nothing
/// else (a revert takes the whole range back). Commits that leave the target alone are
/// bookkeeping (a config change, notes) and no experiment: `None`.
fn hand_scope(
    repo: &git2::Repository,
    cfg: &Config,
    hand: Hand,
    head: Oid,
) -> Result<Option<Hand>> {
    let base = hand.base.to_string();
    let diff = git::diff_commits(repo, Some(&base), &head.to_string(), false, 0)?;
    let paths: Vec<String> = diff.files.into_iter().map(|f| f.path).collect();
    if !paths.iter().any(|p| cfg.is_target(p)) {
        return Ok(None);
    }
    let outside: Vec<&str> = paths
        .iter()
        .filter(|p| !cfg.is_target(p) && !notebook(cfg, p))
        .map(String::as_str)
        .collect();
    if outside.is_empty() {
        return Ok(Some(hand));
    }
    Err(AppError::new(
        Code::OutOfScope,
        format!(
            "Commits made by hand since the last run ({base}..{head}) change the target and files outside it: {}. An experiment may change only {}, and a revert would take both back. Nothing was committed or recorded.",
            code_list(outside.iter().copied()),
            code_list(cfg.target_files.iter().map(String::as_str))
        ),
        format!(
            "Separate them: `git reset --keep {base}` puts the branch back where the last run left it (the commits stay reachable by id); then commit the other files on their own, and leave the target change uncommitted for `autoresearch run`."
        ),
    ))
}

/// What differs from HEAD in the work tree, as a step sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The changed files that matter to a step: tracked files and new files that are targets
    /// (under a target directory or matched by a target glob too), minus the notebook.
    pub files: Vec<String>,
    /// The notebook (`program.md`) has notes that are not committed (they never are by a step).
    pub notebook: bool,
}

/// What changed, split into what a step would commit or refuse, and the notebook.
pub fn changes(repo: &git2::Repository, cfg: &Config) -> Result<Changes> {
    let (notes, files): (Vec<String>, Vec<String>) = git::changed_files(repo, &cfg.target_files)?
        .into_iter()
        .partition(|p| notebook(cfg, p));
    Ok(Changes {
        files,
        notebook: !notes.is_empty(),
    })
}

/// `program.md` changes are notes, not experiments (see the module header).
fn notebook(cfg: &Config, path: &str) -> bool {
    path == crate::project::PROGRAM_FILE
        && !cfg.protected.iter().any(|p| p == path)
        && !cfg.is_target(path)
}

/// Refuse a change that is out of scope; returns whether a target changed.
pub fn check_scope(cfg: &Config, changed: &[String], allow_empty: bool) -> Result<bool> {
    let protected: Vec<&String> = changed
        .iter()
        .filter(|p| cfg.protected.contains(p))
        .collect();
    if !protected.is_empty() {
        let list = code_list(protected.iter().map(|s| s.as_str()));
        return Err(AppError::new(
            Code::ProtectedChanged,
            format!("Protected files were changed: {list}."),
            format!(
                "Restore them with `git checkout HEAD -- {}`; the eval and its data must stay fixed.",
                shell_words(protected.iter().map(|s| s.as_str()))
            ),
        ));
    }
    let outside: Vec<&String> = changed.iter().filter(|p| !cfg.is_target(p)).collect();
    if !outside.is_empty() {
        let list = code_list(outside.iter().map(|s| s.as_str()));
        return Err(AppError::new(
            Code::OutOfScope,
            format!(
                "Files outside the target were changed: {list}. An experiment may change only {}.",
                code_list(cfg.target_files.iter().map(String::as_str))
            ),
            out_of_scope_suggestion(cfg, &outside),
        ));
    }
    let target_changed = !changed.is_empty();
    if !target_changed && !allow_empty {
        return Err(AppError::new(
            Code::NoChanges,
            format!(
                "{} has no changes to evaluate.",
                code_list(cfg.target_files.iter().map(String::as_str))
            ),
            "Edit the target file first, or re-measure HEAD with `autoresearch run --recheck -m \"<why>\"` (e.g. to measure the noise; never kept).",
        ));
    }
    Ok(target_changed)
}

/// Undo the edits; never suggest making the yardstick a target. The config, protected files and
/// files the eval command names (the harness) define how the metric is made: a deliberate change
/// to them is a commit of its own and a new baseline. Only other files may become targets, and
/// that is the human's call.
fn out_of_scope_suggestion(cfg: &Config, outside: &[&String]) -> String {
    let (fixed, other): (Vec<&str>, Vec<&str>) = outside
        .iter()
        .map(|s| s.as_str())
        .partition(|p| makes_the_metric(cfg, p));
    let mut s = format!(
        "Undo them with `git checkout HEAD -- {}`.",
        shell_words(outside.iter().map(|s| s.as_str()))
    );
    if !fixed.is_empty() {
        s.push_str(&format!(
            " {} {} how the metric is made (the config, a protected file or the eval harness) and must not change during experiments. A deliberate change, agreed with the human, is instead committed on its own (`git commit {} -m \"<why>\"`) and starts a new comparison: `autoresearch run --baseline -m \"<why>\"`.",
            code_list(fixed.iter().copied()),
            if fixed.len() == 1 { "defines" } else { "define" },
            shell_words(fixed.iter().copied())
        ));
    }
    if !other.is_empty() {
        s.push_str(&format!(
            " Whether experiments may change {} is the human's decision: only they widen `target_file` in autoresearch.toml.",
            code_list(other.iter().copied())
        ));
    }
    s
}

/// The config, a protected file, or a file the eval command names (`sh eval.sh`,
/// `--data=d.bin`; the words as `sh` reads them, `crate::text::command_words`).
fn makes_the_metric(cfg: &Config, path: &str) -> bool {
    path == crate::config::FILE_NAME
        || cfg.protected.iter().any(|p| p == path)
        || crate::text::command_words(&cfg.eval_command)
            .iter()
            .flat_map(|w| std::iter::once(w.as_str()).chain(w.split_once('=').map(|(_, v)| v)))
            .filter_map(crate::config::normalize_rel_path)
            .any(|w| w == path)
}

fn dirty_tree(changed: &[String]) -> AppError {
    AppError::new(
        Code::DirtyTree,
        format!(
            "A baseline measures HEAD as committed, but tracked files are modified: {}. Nothing was recorded.",
            code_list(changed.iter().map(String::as_str))
        ),
        "Set the change aside with `git stash`, run `autoresearch run -m \"baseline\"`, then `git stash pop`; or commit it if it belongs in the baseline.",
    )
}

fn recheck_dirty(cfg: &Config) -> AppError {
    AppError::new(
        Code::DirtyTree,
        format!(
            "`--recheck` re-evaluates HEAD as committed, but {} has uncommitted changes. Nothing was committed or recorded.",
            code_list(cfg.target_files.iter().map(String::as_str))
        ),
        format!(
            "Evaluate the change with `autoresearch run -m \"<what you tried>\"` first, or set it aside (`git stash`) and re-check, then `git stash pop`. Targets: {}.",
            shell_words(cfg.target_files.iter().map(String::as_str))
        ),
    )
}

fn wrong_branch(cfg: &Config, current: Option<&str>) -> AppError {
    let here = current.map_or_else(|| "a detached HEAD".to_string(), |b| format!("`{b}`"));
    AppError::new(
        Code::WrongBranch,
        format!(
            "HEAD is on {here}, not on the experiment branch `{}` or one of its forks (`{}-fork-<name>`).",
            cfg.branch, cfg.branch
        ),
        format!("Run `git switch {}`, then retry.", cfg.branch),
    )
}

/// HEAD moved to another branch between the loop lock and the checks (a `git switch` at that
/// moment): the step holds the wrong branch's lock.
fn head_moved(locked: &str, now: &str) -> AppError {
    AppError::new(
        Code::GitError,
        format!(
            "HEAD moved from `{locked}` to `{now}` while this `run` took the loop lock of `{locked}`. Nothing was committed or recorded."
        ),
        "Run `autoresearch run` again: it takes the lock of the branch HEAD is on.",
    )
}

fn interrupted_before() -> AppError {
    AppError::new(
        Code::Interrupted,
        "Interrupted before the eval started; nothing was committed or recorded.",
        "Run `autoresearch run` again when you are ready.",
    )
}
