//! `merge-best`'s actions (docs/CONTRACT.md §9): re-evaluating the top contenders side by side
//! (`--confirm`), and bringing the winner back onto the base (`--apply`).
//!
//! A confirmation evaluates each contender's best commit in a directory of its own under
//! `.autoresearch/merge/` (the commit's files, checked out without touching any index or
//! branch, with the untracked inputs of the main work tree linked in), one sample each in
//! turn, and appends one `recheck` per contender on its own branch: its samples join that
//! code's evidence, so the ranking that follows rests on them.
//!
//! Applying either fast-forwards the base to the winner's best commit (when the base's tip is
//! an ancestor of it) and records the winner's evidence there as a keep, or *ports* it: the
//! winner's target files, merged with the base's, are evaluated on the base as an ordinary
//! experiment (`engine::step`), kept only if they beat the base's best. A conflict refuses the
//! port before anything moves; a losing port is reverted like any discard.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::rank::{Contender, Ranking};
use crate::config::Config;
use crate::engine::{self, Event, RunOutput, StepId, StepOptions};
use crate::error::{AppError, Code, Result};
use crate::git;
use crate::ledger::{self, Record, Status};
use crate::project::{Loaded, Project};

/// The `source` of the records `merge-best` writes.
pub const SOURCE: &str = "merge-best";
/// At most this many forks are confirmed, besides the base's best.
pub const CONFIRM_TOP: usize = 3;

/// Does `flag` keep a winner from being applied without `--force`? The integrity flags
/// (`ledger::INTEGRITY_FLAGS`) but `harness_changed` and `kept_not_better`: a best under
/// another setup never wins (it ranks in a group of its own), and a hand-recorded keep is
/// judged by its level.
fn doubtful(flag: &str) -> bool {
    crate::ledger::is_integrity_flag(flag) && !matches!(flag, "harness_changed" | "kept_not_better")
}

/// What a confirmation measured.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmed {
    /// Samples asked of each contender.
    pub samples: u32,
    /// The re-check records written, one per contender.
    pub runs: Vec<ConfirmedRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfirmedRun {
    pub branch: String,
    pub run: u64,
    pub commit: String,
    pub samples: Vec<f64>,
    /// Samples that failed (a crash, a timeout, no metric).
    pub failed: u32,
}

/// The contenders a confirmation re-evaluates: the base's best and the top comparable forks.
/// Each code once: a fork whose best is the code of the base's best (or of a fork before it)
/// adds nothing to measure.
pub fn confirm_targets(r: &Ranking) -> Vec<&Contender> {
    let mut out: Vec<&Contender> = Vec::new();
    if r.base.best.as_ref().is_some_and(|b| b.commit.is_some()) {
        out.push(&r.base);
    }
    let forks = r
        .comparable()
        .iter()
        .filter(|c| c.level.is_some() && c.best.as_ref().is_some_and(|b| b.commit.is_some()));
    let mut taken = 0;
    for c in forks {
        if taken == CONFIRM_TOP {
            break;
        }
        if out.iter().any(|o| o.key.is_some() && o.key == c.key) {
            continue;
        }
        out.push(c);
        taken += 1;
    }
    out
}

/// Re-evaluate each target's best commit `n` times, in turn (A, B, C, A, B, C, ...), and
/// record one `recheck` per target.
pub fn confirm(
    loaded: &Loaded,
    targets: &[&Contender],
    n: u32,
    on: &mut dyn FnMut(Event),
) -> Result<Confirmed> {
    let cfg = &loaded.config;
    loaded.project.ensure_state_dir()?;
    let scratch = Scratch::new(&loaded.project)?;
    let mut measured = Vec::new();
    for (i, c) in targets.iter().enumerate() {
        let commit = best_commit(c)?;
        let dir = scratch.dir.join(format!("{i}"));
        export_commit(&loaded.project.repo, commit, &dir)?;
        link_inputs(&loaded.project.main_root, &dir, &cfg.eval_command);
        measured.push(Measured::new(commit, dir));
    }
    for round in 0..n {
        for (i, c) in targets.iter().enumerate() {
            let log = scratch.dir.join(format!("{i}-{round}.log"));
            measured[i].sample(loaded, c, log, on)?;
        }
    }
    let records = |next: &mut dyn FnMut() -> Result<u64>, _: &ledger::Summary| {
        targets
            .iter()
            .zip(&measured)
            .map(|(c, m)| recheck_record(loaded, c, m, next()?))
            .collect::<Result<Vec<_>>>()
    };
    let loops = crate::loopfile::Loops::of(&loaded.project, &cfg.branch);
    let written = loaded
        .ledger
        .append_many_around(|| loops.reserved(), records)?;
    let mut runs = Vec::new();
    for ((rec, m), c) in written.records.iter().zip(&measured).zip(targets) {
        keep_logs(&loaded.project, &m.logs, rec.run);
        runs.push(ConfirmedRun {
            branch: c.branch.clone(),
            run: rec.run,
            commit: m.commit.to_string(),
            samples: m.samples.clone(),
            failed: m.failed,
        });
    }
    Ok(Confirmed { samples: n, runs })
}

/// What a confirmation measured of one target.
struct Measured {
    /// The id of its `recheck` record, known before its evaluations (`AUTORESEARCH_ID`).
    id: String,
    commit: git2::Oid,
    /// Where its best commit was written.
    dir: PathBuf,
    samples: Vec<f64>,
    failed: u32,
    secs: f64,
    logs: Vec<PathBuf>,
}

impl Measured {
    fn new(commit: git2::Oid, dir: PathBuf) -> Measured {
        Measured {
            id: ledger::new_id(),
            commit,
            dir,
            samples: Vec::new(),
            failed: 0,
            secs: 0.0,
            logs: Vec::new(),
        }
    }

    /// One evaluation of `c`'s best commit, into `log`; an interrupt ends the confirmation.
    fn sample(
        &mut self,
        loaded: &Loaded,
        c: &Contender,
        log: PathBuf,
        on: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let env = super::env_of(&loaded.project, &c.branch);
        let commit = self.commit.to_string();
        let step = StepId {
            id: Some(&self.id),
            branch: Some(&c.branch),
            commit: Some(&commit),
            env: &env,
            ..StepId::default()
        };
        let m = engine::measure(
            &loaded.config,
            &self.dir,
            &log,
            Some(step),
            1,
            on,
            &mut |_| true,
        )?;
        self.logs.push(log);
        self.secs += m.duration.as_secs_f64();
        match m.samples.first() {
            Some(v) if m.clean() => self.samples.push(*v),
            _ => self.failed += 1,
        }
        if m.interrupted {
            return Err(AppError::new(
                Code::Interrupted,
                "The confirmation was interrupted; nothing was recorded.",
                "Run `autoresearch merge-best --confirm N` again.",
            ));
        }
        Ok(())
    }
}

fn best_commit(c: &Contender) -> Result<git2::Oid> {
    c.best
        .as_ref()
        .and_then(|b| b.commit.as_deref())
        .and_then(|s| git2::Oid::from_str(s).ok())
        .ok_or_else(|| {
            AppError::new(
                Code::NoExperiments,
                format!("`{}` has no best commit to evaluate.", c.branch),
                "Leave it out with `--forks`, or let it run first.",
            )
        })
}

fn recheck_record(loaded: &Loaded, c: &Contender, m: &Measured, run: u64) -> Result<Record> {
    let (commit, samples, failed, secs) = (m.commit, &m.samples, m.failed, m.secs);
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    let code = git::paths_digest(repo, commit, &cfg.target_files, "code")?;
    let setup = engine::setup_of(repo, commit, cfg)?;
    let of = c
        .best
        .as_ref()
        .map_or(String::new(), |b| format!(" (run #{})", b.run));
    Ok(Record {
        id: m.id.clone(),
        timestamp: ledger::now_timestamp(),
        metric: (!samples.is_empty()).then(|| crate::noise::median(samples)),
        metrics: Default::default(),
        samples: samples.to_vec(),
        delta: None,
        summary: format!(
            "merge-best --confirm: re-check of the best of {}{of}",
            c.branch
        ),
        commit: Some(commit.to_string()),
        parent: None,
        branch: Some(c.branch.clone()),
        duration_s: Some(secs),
        exit_code: None,
        reason: (failed > 0).then(|| format!("{failed} sample(s) failed")),
        flags: Vec::new(),
        source: SOURCE.to_string(),
        code: Some(code),
        setup: Some(setup),
        hardware: cfg.hardware.clone(),
        ..Record::new(run, Status::Recheck)
    })
}

/// The samples' logs, joined into the record's `runs/<run>.log`.
fn keep_logs(project: &Project, logs: &[PathBuf], run: u64) {
    let mut all = Vec::new();
    for (i, l) in logs.iter().enumerate() {
        all.extend_from_slice(format!("--- sample {} ---\n", i + 1).as_bytes());
        all.extend(std::fs::read(l).unwrap_or_default());
    }
    let _ = std::fs::write(project.runs_dir().join(format!("{run}.log")), all);
}

/// A directory of `.autoresearch/merge/`, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(project: &Project) -> Result<Scratch> {
        let dir = project
            .state_dir()
            .join("merge")
            .join(format!("{:016x}", crate::fsutil::nonce()));
        std::fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), &e))?;
        Ok(Scratch { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Write `commit`'s files into `dir` (no index, no branch, no HEAD is touched).
fn export_commit(repo: &git2::Repository, commit: git2::Oid, dir: &Path) -> Result<()> {
    let git_err =
        |e: git2::Error| AppError::git(format!("checking out {commit} for evaluation"), &e);
    std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir.display(), &e))?;
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(git_err)?;
    let mut co = git2::build::CheckoutBuilder::new();
    co.target_dir(dir)
        .update_index(false)
        .force()
        .recreate_missing(true);
    repo.checkout_tree(tree.as_object(), Some(&mut co))
        .map_err(git_err)
}

/// Link the untracked inputs of work tree `from` (datasets, environments) into `to`.
fn link_inputs(from: &Path, to: &Path, eval_command: &str) {
    for entry in super::missing_inputs(from, to, eval_command) {
        let name = entry.trim_end_matches('/');
        let _ = std::os::unix::fs::symlink(from.join(name), to.join(name));
    }
}

/// How to bring the winner back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Auto,
    Ff,
    Port,
}

/// What `--apply` will do, checked before anything moves.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyPlan {
    /// `ff` or `port`.
    pub strategy: Strategy,
    pub into: String,
    pub winner: String,
    pub winner_branch: String,
    /// The winner's best run and commit.
    pub run: u64,
    pub commit: String,
    /// Where the base points now.
    pub base_tip: Option<String>,
    /// The work tree where the base is checked out, if any (updated by a fast-forward; a
    /// port is evaluated there).
    pub worktree: Option<PathBuf>,
    /// The steps, in words.
    pub steps: Vec<String>,
}

/// Check that the winner can be applied, and how.
pub fn plan_apply(
    loaded: &Loaded,
    r: &Ranking,
    strategy: Strategy,
    force: bool,
) -> Result<ApplyPlan> {
    let w = applicable(r, force)?;
    let commit = best_commit(w)?;
    let run = w.best.as_ref().map_or(0, |b| b.run);
    let base_tip = git::branch_tip(&loaded.project.repo, &r.base.branch).ok_or_else(|| {
        AppError::new(
            Code::NoExperiments,
            format!("The base branch `{}` does not exist.", r.base.branch),
            "Name an existing branch with `--into`.",
        )
    })?;
    let strategy = match strategy {
        Strategy::Auto if w.can_fast_forward => Strategy::Ff,
        Strategy::Auto => Strategy::Port,
        Strategy::Ff if !w.can_fast_forward => {
            return Err(AppError::usage(
                format!(
                    "`{}` cannot be fast-forwarded to run #{run}'s commit: it is not a descendant of the base's tip.",
                    r.base.branch
                ),
                "Use `--strategy port` (or `auto`): the winner's target files are then evaluated on the base.",
            ));
        }
        s => s,
    };
    let worktree = checked_out_at(loaded, &r.base.branch);
    if let Some(dir) = &worktree {
        check_clean(dir, &r.base.branch)?;
    }
    let (base, short) = (&r.base.branch, &commit.to_string()[..10]);
    let steps = match strategy {
        Strategy::Ff => vec![
            format!(
                "fast-forward `{base}` to {short} (run #{run} on `{}`)",
                w.branch
            ),
            format!("record run #{run}'s evidence on `{base}` as a keep"),
        ],
        _ => vec![
            format!("merge run #{run}'s target files with `{base}`'s (refused on a conflict)"),
            format!(
                "evaluate them on `{base}` as an experiment: kept only if it beats the base's best, else reverted"
            ),
        ],
    };
    Ok(ApplyPlan {
        strategy,
        into: base.clone(),
        winner: w.name.clone(),
        winner_branch: w.branch.clone(),
        run,
        commit: commit.to_string(),
        base_tip: Some(base_tip.to_string()),
        worktree,
        steps,
    })
}

/// The winner, if it may be applied: decisive and not flagged as doubtful, unless forced.
fn applicable(r: &Ranking, force: bool) -> Result<&Contender> {
    let Some(w) = r.winner() else {
        return Err(AppError::new(
            Code::NotDecisive,
            format!("Nothing to apply: {}.", r.verdict),
            "Let the forks run longer, or rank again with `autoresearch merge-best`.",
        ));
    };
    if !r.decisive && !force {
        return Err(AppError::new(
            Code::NotDecisive,
            format!(
                "`{}` leads, but the ranking is not decisive ({}): nothing was applied.",
                w.name, r.verdict
            ),
            "Measure the top forks side by side first: `autoresearch merge-best --confirm 5`; or apply anyway with `--apply --force` (a port is still evaluated before it is kept).",
        ));
    }
    let doubtful: Vec<&str> = w
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| doubtful(f))
        .collect();
    if !doubtful.is_empty() && !force {
        return Err(AppError::new(
            Code::NotDecisive,
            format!(
                "The winner's best (run #{}) is flagged {}: it is not applied without a closer look.",
                w.best.as_ref().map_or(0, |b| b.run),
                crate::text::code_list(doubtful.iter().copied())
            ),
            "Re-check it (`autoresearch merge-best --confirm 5`) and read its log; see `autoresearch guide integrity`. Apply anyway with `--apply --force`.",
        ));
    }
    Ok(w)
}

/// The work tree where `branch` is checked out, if any.
pub fn checked_out_at(loaded: &Loaded, branch: &str) -> Option<PathBuf> {
    let refname = format!("refs/heads/{branch}");
    let mut roots = vec![loaded.project.main_root.clone()];
    if let Ok(names) = loaded.project.repo.worktrees() {
        for n in names.iter().flatten() {
            if let Ok(wt) = loaded.project.repo.find_worktree(n) {
                roots.push(wt.path().to_path_buf());
            }
        }
    }
    roots.into_iter().find(|root| {
        git2::Repository::open(root)
            .ok()
            .and_then(|r| {
                r.find_reference("HEAD")
                    .ok()
                    .and_then(|h| h.symbolic_target().map(str::to_string))
            })
            .is_some_and(|t| t == refname)
    })
}

/// A work tree with tracked changes cannot take the base's new code.
fn check_clean(dir: &Path, branch: &str) -> Result<()> {
    let repo = git2::Repository::open(dir)
        .map_err(|e| AppError::git("opening the base's work tree", &e))?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| AppError::git("reading the base's work tree", &e))?;
    let dirty: Vec<String> = statuses
        .iter()
        .filter(|s| s.status() != git2::Status::CURRENT)
        .filter_map(|s| s.path().map(str::to_string))
        .take(5)
        .collect();
    if dirty.is_empty() {
        return Ok(());
    }
    Err(AppError::new(
        Code::DirtyTree,
        format!(
            "`{branch}` is checked out in `{}` with changes to tracked files ({}): nothing was applied.",
            dir.display(),
            crate::text::code_list(dirty.iter().map(String::as_str))
        ),
        format!(
            "Commit or discard them there first (`git -C {} status`), then retry.",
            crate::text::shell_word(&dir.to_string_lossy())
        ),
    ))
}

/// What `--apply` did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// `fast_forwarded`, or the port's status: `kept`, `discarded`, `crash`, `timeout`.
    pub outcome: String,
    /// The record written on the base.
    pub run: u64,
    /// Where the base points now.
    pub base_tip: Option<String>,
    /// The port's experiment, as `run` reports it.
    pub port: Option<RunOutput>,
}

/// Carry out `plan`.
pub fn apply(
    loaded: &Loaded,
    r: &Ranking,
    plan: &ApplyPlan,
    on: &mut dyn FnMut(Event),
) -> Result<Applied> {
    match plan.strategy {
        Strategy::Ff => fast_forward(loaded, r, plan),
        _ => port(loaded, plan, on),
    }
}

fn oid(s: &str) -> Result<git2::Oid> {
    git2::Oid::from_str(s).map_err(|e| AppError::git("reading a commit id", &e))
}

fn fast_forward(loaded: &Loaded, r: &Ranking, plan: &ApplyPlan) -> Result<Applied> {
    let repo = &loaded.project.repo;
    let to = oid(&plan.commit)?;
    let from = oid(plan.base_tip.as_deref().unwrap_or_default())?;
    let w = r
        .winner()
        .ok_or_else(|| AppError::internal("the winner is gone"))?;
    // Under the base's loop locks: no `run` moves it, or evaluates in its work tree, meanwhile.
    let loops = crate::loopfile::Loops::of(&loaded.project, &loaded.config.branch);
    let (_lock, taken) = loops.acquire_in(plan.worktree.as_deref(), &plan.into)?;
    if taken.abandoned.is_some() {
        return Err(AppError::new(
            Code::LoopRunning,
            format!(
                "A `run` on `{}` died during its step; its leftovers are cleaned up by the next `run` there.",
                plan.into
            ),
            format!(
                "Run `autoresearch run --allow-empty -m \"recheck\"` on `{}` once, then `autoresearch merge-best --apply` again.",
                plan.into
            ),
        ));
    }
    // The work tree first (refused on any conflict with what is there), then the branch by
    // compare-and-swap; if the branch moved meanwhile, the work tree goes back.
    let checkout = |dir: &Path, commit: git2::Oid| -> Result<()> {
        let wt = git2::Repository::open(dir)
            .map_err(|e| AppError::git("opening the base's work tree", &e))?;
        let tree = wt
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| AppError::git("reading the winner's commit", &e))?;
        let mut co = git2::build::CheckoutBuilder::new();
        co.safe();
        wt.checkout_tree(tree.as_object(), Some(&mut co))
            .map_err(|e| AppError::git(format!("updating `{}`", dir.display()), &e))
    };
    if let Some(dir) = &plan.worktree {
        checkout(dir, to)?;
    }
    if let Err(e) = git::advance_branch(repo, &plan.into, from, to) {
        if let Some(dir) = &plan.worktree {
            let _ = checkout(dir, from);
        }
        return Err(e);
    }
    let written = loaded.ledger.append_with_warnings(|run, _| {
        Ok(Record {
            id: ledger::new_id(),
            timestamp: ledger::now_timestamp(),
            metric: w.level,
            metrics: Default::default(),
            samples: w.evidence.clone(),
            delta: match (w.level, r.base.level) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            },
            summary: format!(
                "merge-best: fast-forward to fork {} (run #{})",
                w.name, plan.run
            ),
            commit: Some(plan.commit.clone()),
            parent: Some(from.to_string()),
            branch: Some(plan.into.clone()),
            duration_s: None,
            exit_code: None,
            reason: None,
            flags: w.flags.clone(),
            source: SOURCE.to_string(),
            code: winner_code(loaded, to).ok(),
            setup: w.setup.clone(),
            hardware: w.hardware.clone(),
            ..Record::new(run, Status::Kept)
        })
    })?;
    Ok(Applied {
        outcome: "fast_forwarded".into(),
        run: written.record.run,
        base_tip: Some(plan.commit.clone()),
        port: None,
    })
}

fn winner_code(loaded: &Loaded, commit: git2::Oid) -> Result<String> {
    git::paths_digest(
        &loaded.project.repo,
        commit,
        &loaded.config.target_files,
        "code",
    )
}

/// Merge the winner's target files with the base's and evaluate them on the base.
fn port(loaded: &Loaded, plan: &ApplyPlan, on: &mut dyn FnMut(Event)) -> Result<Applied> {
    let repo = &loaded.project.repo;
    let cfg = &loaded.config;
    let theirs = oid(&plan.commit)?;
    let ours = oid(plan.base_tip.as_deref().unwrap_or_default())?;
    let files = ported_files(repo, cfg, ours, theirs, plan)?;
    if files.is_empty() {
        return Err(AppError::new(
            Code::NoChanges,
            format!(
                "Run #{}'s target files are already what `{}` holds: there is nothing to port.",
                plan.run, plan.into
            ),
            "Nothing to do; the base already carries the winner's code.",
        ));
    }
    // Where the experiment runs: the base's own work tree, else a temporary one.
    let temp;
    let dir = match &plan.worktree {
        Some(d) => d.clone(),
        None => {
            temp = TempWorktree::add(loaded, &plan.into)?;
            temp.dir.clone()
        }
    };
    for (path, content) in &files {
        let full = dir.join(path);
        match content {
            Some(bytes) => {
                if let Some(p) = full.parent() {
                    std::fs::create_dir_all(p).map_err(|e| AppError::io(p.display(), &e))?;
                }
                crate::fsutil::write_atomic(&full, bytes)?;
            }
            None => {
                let _ = std::fs::remove_file(&full);
            }
        }
    }
    let (there, warnings) = Loaded::open(&dir)?;
    for w in warnings {
        on(Event::Warning(w));
    }
    let opts = StepOptions {
        summary: format!(
            "merge-best: port fork {} (run #{}) onto {}",
            plan.winner, plan.run, plan.into
        ),
        repeats: None,
        allow_empty: false,
        no_revert: false,
        baseline: false,
        recheck: None,
        simplify: false,
        tail: 20,
    };
    let out = engine::step(&there, &opts, on)?;
    Ok(Applied {
        outcome: out.status.as_str().to_string(),
        run: out.run,
        base_tip: git::branch_tip(repo, &plan.into).map(|t| t.to_string()),
        port: Some(out),
    })
}

/// The target files a port changes on the base: the three-way merge of the base's tip and the
/// winner's commit (their common ancestor as the base), each path with its merged content, or
/// `None` to delete it. A conflict in any of them is `port_conflict`.
fn ported_files(
    repo: &git2::Repository,
    cfg: &Config,
    ours: git2::Oid,
    theirs: git2::Oid,
    plan: &ApplyPlan,
) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let git_err = |e: git2::Error| AppError::git("merging the winner's files", &e);
    let ancestor = repo.merge_base(ours, theirs).map_err(git_err)?;
    let tree = |o: git2::Oid| repo.find_commit(o).and_then(|c| c.tree()).map_err(git_err);
    let (a, o, t) = (tree(ancestor)?, tree(ours)?, tree(theirs)?);
    let index = repo.merge_trees(&a, &o, &t, None).map_err(git_err)?;
    let mut conflicts = Vec::new();
    if index.has_conflicts() {
        for c in index.conflicts().map_err(git_err)?.flatten() {
            let path = [&c.our, &c.their, &c.ancestor]
                .into_iter()
                .flatten()
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .next()
                .unwrap_or_default();
            if cfg.is_target(&path) {
                conflicts.push(path);
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(AppError::new(
            Code::PortConflict,
            format!(
                "Run #{}'s changes to {} conflict with what `{}` changed since the fork started: nothing was applied, `{}` is as it was.",
                plan.run,
                crate::text::code_list(conflicts.iter().map(String::as_str)),
                plan.into,
                plan.into
            ),
            format!(
                "Port it by hand as an experiment: on `{}`, bring in the idea of run #{} (`git diff {}..{} -- <target>` shows it), then `autoresearch run -m \"port fork {}\"`.",
                plan.into,
                plan.run,
                &ancestor.to_string()[..10],
                &plan.commit[..10],
                plan.winner
            ),
        ));
    }
    let mut out = Vec::new();
    let mut merged: std::collections::BTreeMap<String, git2::Oid> = Default::default();
    for e in index.iter() {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        if cfg.is_target(&path) {
            merged.insert(path, e.id);
        }
    }
    let mut ours_paths: std::collections::BTreeMap<String, git2::Oid> = Default::default();
    o.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let path = format!("{dir}{}", entry.name().unwrap_or_default());
            if cfg.is_target(&path) {
                ours_paths.insert(path, entry.id());
            }
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(git_err)?;
    for (path, id) in &merged {
        if ours_paths.get(path) != Some(id) {
            let blob = repo.find_blob(*id).map_err(git_err)?;
            out.push((path.clone(), Some(blob.content().to_vec())));
        }
    }
    for path in ours_paths.keys() {
        if !merged.contains_key(path) {
            out.push((path.clone(), None));
        }
    }
    Ok(out)
}

/// A linked worktree with `branch` checked out under `.autoresearch/merge/`, removed (with its
/// administrative files) when dropped. The branch itself stays.
struct TempWorktree {
    repo_path: PathBuf,
    name: String,
    dir: PathBuf,
}

impl TempWorktree {
    fn add(loaded: &Loaded, branch: &str) -> Result<TempWorktree> {
        let repo = &loaded.project.repo;
        let git_err =
            |e: git2::Error| AppError::git("adding a temporary worktree for the port", &e);
        let name = format!(
            "autoresearch-merge-{:012x}",
            crate::fsutil::nonce() & 0xffff_ffff_ffff
        );
        let dir = loaded.project.state_dir().join("merge").join(&name);
        if let Some(p) = dir.parent() {
            std::fs::create_dir_all(p).map_err(|e| AppError::io(p.display(), &e))?;
        }
        let reference = repo
            .find_reference(&format!("refs/heads/{branch}"))
            .map_err(git_err)?;
        let mut opts = git2::WorktreeAddOptions::new();
        opts.reference(Some(&reference));
        repo.worktree(&name, &dir, Some(&opts)).map_err(git_err)?;
        link_inputs(&loaded.project.main_root, &dir, &loaded.config.eval_command);
        Ok(TempWorktree {
            repo_path: repo.path().to_path_buf(),
            name,
            dir,
        })
    }
}

impl Drop for TempWorktree {
    fn drop(&mut self) {
        if let Ok(repo) = git2::Repository::open(&self.repo_path)
            && let Ok(wt) = repo.find_worktree(&self.name)
        {
            let _ = wt.prune(Some(
                git2::WorktreePruneOptions::new()
                    .valid(true)
                    .locked(true)
                    .working_tree(true),
            ));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

#[cfg(test)]
mod flag_tests {
    #[test]
    fn a_changed_harness_or_a_hand_kept_record_does_not_block_a_merge_other_flags_do() {
        assert!(super::doubtful("suspicious_jump") && super::doubtful("leaked_processes"));
        for f in [
            "harness_changed",
            "kept_not_better",
            "simplification",
            "revert_skipped",
        ] {
            assert!(!super::doubtful(f), "{f}");
        }
    }
}
