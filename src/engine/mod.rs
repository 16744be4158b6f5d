//! The experiment step (docs/CONTRACT.md §7): take the loop lock, check the branch and the
//! change, commit it, evaluate it under the budget, decide, revert what is not kept, record.
//! One function, [`step`], serves `autoresearch run` and `autoresearch demo`; it is a sequence
//! of named phases, one file each: `prepare` (steps 2–4), `measure` (6), `decide` (7) and
//! `record` (9), with the commit (5) and the revert (8) here.
//!
//! The step never prints and never coaches: what happens along the way reaches the caller as
//! [`Event`]s (warnings, a created branch, eval progress), and the result is a [`RunOutput`]
//! the caller renders and turns into hints.
//!
//! Reasons (the `reason` field; short and stable, agents match on their first word):
//! - `interrupted` — SIGINT/SIGTERM stopped the eval (status `crash`);
//! - `timeout` — the budget ran out (status `timeout`);
//! - `exit_code <n>` — the eval exited non-zero; `signal <n>` — it was killed by a signal;
//! - `no_metric` — no match for the metric; `non_finite_metric` — nan, inf or an overflow;
//! - `constraint <metric> <op> <value>` — a constraint is violated (status `discarded`); with
//!   ` (not found)` or ` (non-finite)` appended when the secondary metric could not be read;
//! - `not better than best (#<run> <metric>)` — a tie is not better;
//! - `below min_improvement (gain <g> < <margin>)`.
//!
//! Flags: `leaked_processes` (the eval left processes behind; they were killed) and
//! `suspicious_jump` (a kept gain over 5× the median of at least 3 earlier kept gains on this
//! branch, or a kept metric of exactly 0 after a non-zero best).
//!
//! Decisions the contract leaves open:
//! - **Run numbers.** The commit message needs `#<run>` before the ledger assigns it under its
//!   lock. The loop lock rules out a second `run`, but a concurrent `record` can still take the
//!   number. The number is reserved as "last run + 1" before the eval; if the append assigns
//!   another, the ledger and `refs/autoresearch/runs/<run>` tell the truth, the log is renamed
//!   to the real number, and a warning says the commit message carries the reserved one
//!   (rewriting the commit would change the hash that was evaluated).
//! - **`program.md`** is the agent's notebook (the hints ask it to write down what it learned):
//!   a change to it is not refused, not committed (unless staged) and never reverted in the work
//!   tree — unless it is protected or a target, when the usual rules apply.
//! - **`--allow-empty`** with nothing changed evaluates HEAD itself; no commit is made, so there
//!   is nothing to revert. A baseline also evaluates HEAD. For both, `parent` is HEAD's parent.
//! - **Repeats** stop at the first sample that crashes or times out; the run takes that status.
//!   Secondary metrics are the median over the samples, like the metric.
//! - **A baseline** is recorded even if it violates a constraint (with a warning): it is the

mod decide;
pub mod manual;
mod measure;
mod prepare;
mod record;
mod recover;

use std::collections::BTreeMap;
use std::time::Duration;

use git2::Oid;
use serde::Serialize;

pub use measure::{Measured, StepId, measure};
pub use prepare::{Changes, changes, check_scope, experiment_branch};
pub use recover::ABANDONED;

use crate::error::Result;
use crate::git;
use crate::ledger::{Brief, INTERRUPTED, Scope, Status};
use crate::loopfile::LoopLock;
use crate::project::Loaded;

/// The environment the eval gets from a step (and from `doctor`), for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "AUTORESEARCH_RUN",
        "set for the eval by `run`: the run number being evaluated",
    ),
    (
        "AUTORESEARCH_SAMPLE",
        "set for the eval by `run` and `doctor`: the evaluation's number, 1..repeats",
    ),
    (
        "AUTORESEARCH_STEP",
        "set for the eval by `run`: a token unique to the step, by which the next `run` finds what a dead step's eval left running",
    ),
];

/// What the caller asks of one step.
#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// What was tried (already cleaned).
    pub summary: String,
    /// Evaluations for this step, overriding `repeats` in the config.
    pub repeats: Option<u32>,
    /// Evaluate HEAD when the target has no changes.
    pub allow_empty: bool,
    /// Leave a run that is not kept on the branch; the caller decides.
    pub no_revert: bool,
    /// Start a new baseline on the current commit.
    pub baseline: bool,
    /// Lines of output returned in `log_tail` for a crash or timeout.
    pub tail: usize,
}

/// What happens during a step, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// Something went wrong that does not stop the step (a taken-over loop, a skipped ledger
    /// line, a revert that failed...).
    Warning(String),
    /// The configured experiment branch did not exist: it was created at HEAD and checked out.
    BranchCreated(String),
    /// Sample `sample` of `samples` of run `run` starts (`None`: not a numbered run).
    EvalStarted {
        run: Option<u64>,
        sample: u32,
        samples: u32,
        budget: Duration,
    },
    /// The eval's process group exists (the step writes down that it owns it).
    EvalSpawned { pgid: i32 },
    /// About every 100 ms: time since the sample started and the latest output line.
    Tick {
        elapsed: Duration,
        line: Option<&'a str>,
    },
}

/// The result of one step (docs/CONTRACT.md §7 step 10).
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    pub run: u64,
    pub status: Status,
    pub metric: Option<f64>,
    pub metrics: BTreeMap<String, f64>,
    pub samples: Vec<f64>,
    pub delta: Option<f64>,
    pub best_before: Option<Brief>,
    pub best_after: Option<Brief>,
    pub commit: Option<String>,
    pub reverted: bool,
    pub duration_s: Option<f64>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub flags: Vec<String>,
    /// The run's log, relative to the project root when inside it.
    pub log: String,
    pub log_tail: Option<String>,
    /// The summary as recorded (for views; not part of the envelope).
    #[serde(skip)]
    pub summary: String,
    /// The commit the experiment was based on (for coaching; not part of the envelope).
    #[serde(skip)]
    pub parent: Option<String>,
    /// The branch's fold after this record (for coaching; not part of the envelope).
    #[serde(skip)]
    pub scope: Scope,
}

impl RunOutput {
    /// Was the eval stopped by SIGINT/SIGTERM? `run` then exits non-zero.
    pub fn interrupted(&self) -> bool {
        self.reason.as_deref() == Some(INTERRUPTED)
    }
}

/// One experiment, start to finish. See the module header.
pub fn step(loaded: &Loaded, opts: &StepOptions, on: &mut dyn FnMut(Event)) -> Result<RunOutput> {
    loaded.project.ensure_state_dir()?;

    // 1. The loop lock, for the whole step; and a step that died before, cleaned up.
    let (mut lock, taken) = LoopLock::acquire(&loaded.project.state_dir())?;
    if let Some(w) = taken.warning {
        on(Event::Warning(w));
    }
    if let Some(dead) = &taken.abandoned {
        recover::recover(loaded, dead, on)?;
    }

    // 2–4. The branch, baseline or experiment, and what changed.
    let plan = prepare::prepare(loaded, opts, on)?;
    lock.start(plan.reserved)?;

    // 5. Commit the change, under the reserved run number.
    let (commit, parent) = commit(loaded, &plan, &opts.summary, &mut lock)?;
    // What a revert would put back: only a commit this step made.
    let undo = plan.target_changed.then_some(parent).flatten();

    // 6. Evaluate. A failure to even start the eval gives the agent its edit back.
    let log_path = loaded
        .project
        .runs_dir()
        .join(format!("{}.log", plan.reserved));
    let repeats = opts.repeats.unwrap_or(loaded.config.repeats).max(1);
    let measured = match evaluate(loaded, &plan, &log_path, repeats, &mut lock, on) {
        Ok(m) => m,
        Err(e) => {
            if let Some(p) = undo {
                let _ = revert(loaded, &plan.branch, commit, p, true, on);
            }
            return Err(e);
        }
    };

    // 7. Decide, against the ledger as it is now, not as it was before a long eval.
    let mut verdict = judge(loaded, &plan, &measured, on)?;

    // 8. Revert what is not kept. An interrupted step gives the agent its edit back.
    let reverted = match undo {
        Some(p) if !verdict.status.counts_for_best() && !opts.no_revert => {
            let keep = verdict.reason.as_deref() == Some(INTERRUPTED);
            let (reverted, flag) = revert(loaded, &plan.branch, commit, p, keep, on);
            verdict.flags.extend(flag.map(str::to_string));
            reverted
        }
        _ => false,
    };

    // 9. Record, pin the commit, say the loop is idle.
    let draft = record::Draft {
        verdict: &verdict,
        measured: &measured,
        plan: &plan,
        summary: &opts.summary,
        repeats,
        commit,
        parent,
        reserved: plan.reserved,
        log_path,
    };
    let written = record::write(loaded, &draft, on)?;
    if let Err(e) = lock.finish(written.record.run) {
        on(Event::Warning(format!(
            "`loop.json` could not be updated: {}",
            e.message
        )));
    }
    drop(lock);

    // 10. Report.
    Ok(record::report(loaded, written, reverted, opts.tail))
}

/// Step 5: the experiment commit and its parent. With a target change: written, recorded in
/// `loop.json` as owned, then put on the branch by compare-and-swap (so a process killed in
/// between leaves nothing on the branch the next step does not know about). Without one: HEAD.
fn commit(
    loaded: &Loaded,
    plan: &prepare::Plan,
    summary: &str,
    lock: &mut LoopLock,
) -> Result<(Oid, Option<Oid>)> {
    if !plan.target_changed {
        return Ok((plan.head, plan.head_parent));
    }
    let repo = &loaded.project.repo;
    let message = commit_message(plan.reserved, summary);
    let oid = git::write_experiment(repo, &loaded.config.target_files, plan.head, &message)?;
    lock.own_commit(&plan.branch, &oid.to_string(), &plan.head.to_string())?;
    git::advance_branch(repo, &plan.branch, plan.head, oid)?;
    Ok((oid, Some(plan.head)))
}

/// Step 6: the evaluations, with the eval's process group owned in `loop.json` while it runs
/// (if this process dies, the next step kills it) and the heartbeat kept up.
fn evaluate(
    loaded: &Loaded,
    plan: &prepare::Plan,
    log_path: &std::path::Path,
    repeats: u32,
    lock: &mut LoopLock,
    on: &mut dyn FnMut(Event),
) -> Result<Measured> {
    let token = lock.step_token().map(str::to_string);
    let step = StepId {
        run: plan.reserved,
        token: token.as_deref(),
    };
    let cfg = &loaded.config;
    let measured = measure::measure(
        cfg,
        &loaded.project.root,
        log_path,
        Some(step),
        repeats,
        &mut |e| {
            match &e {
                Event::EvalSpawned { pgid } => {
                    let _ = lock.own_eval(Some(*pgid));
                }
                _ => lock.beat(),
            }
            on(e);
        },
    );
    // The group is gone (reaped, or killed by the runner): nothing left to own.
    let _ = lock.own_eval(None);
    measured
}

/// Step 7: the verdict, against the ledger as it is now; and the warnings a person should see
/// about it (a metric value the grammar refuses; a baseline that breaks a constraint).
fn judge(
    loaded: &Loaded,
    plan: &prepare::Plan,
    measured: &Measured,
    on: &mut dyn FnMut(Event),
) -> Result<decide::Verdict> {
    let cfg = &loaded.config;
    let now = loaded.ledger.summary()?;
    let verdict = decide::decide(measured, cfg, plan.baseline, &now.scope(Some(&plan.branch)));
    if verdict.reason.as_deref() == Some("no_metric")
        && let Some(u) = &measured.unreadable_value
    {
        on(Event::Warning(format!("No metric: {u}.")));
    }
    if verdict.status == Status::Baseline
        && let Some(c) = decide::violated(&cfg.constraints, &measured.metrics)
    {
        on(Event::Warning(format!(
            "The baseline fails {}: every later experiment is held to it; check the constraint or the code.",
            decide::constraint_reason(c, measured)
        )));
    }
    Ok(verdict)
}

/// Step 8: undo the experiment commit, by compare-and-swap (`git::undo_experiment`). Returns
/// whether the branch went back, and the flag to put on the record when the revert was skipped
/// or left part-way; a warning says exactly what state was left.
fn revert(
    loaded: &Loaded,
    branch: &str,
    experiment: Oid,
    parent: Oid,
    keep_worktree: bool,
    on: &mut dyn FnMut(Event),
) -> (bool, Option<&'static str>) {
    let spec = git::UndoSpec {
        branch,
        experiment,
        parent,
        targets: &loaded.config.target_files,
        keep_worktree,
    };
    match git::undo_experiment(&loaded.project.repo, &spec) {
        Ok(git::Undo::Done) => (true, None),
        Ok(git::Undo::BranchOnly { head }) => {
            let head = head.map_or_else(|| "a detached HEAD".to_string(), |h| format!("`{h}`"));
            on(Event::Warning(format!(
                "`{branch}` was moved back to {parent}, but HEAD is now on {head}: the work tree and the index were not touched."
            )));
            (true, None)
        }
        Ok(git::Undo::Skipped { branch_at }) => {
            let at =
                branch_at.map_or_else(|| "nowhere (it was deleted)".to_string(), |o| o.to_string());
            on(Event::Warning(format!(
                "Not reverted: `{branch}` moved during the eval (it points at {at}, not at the experiment commit {experiment}), so nothing was changed. The run is recorded and its commit pinned; undo it yourself if it is on the branch."
            )));
            (false, Some("revert_skipped"))
        }
        Err(e) => {
            on(Event::Warning(format!(
                "The run is recorded, but the revert did not finish: {} {}",
                e.message, e.suggestion
            )));
            (false, Some("revert_incomplete"))
        }
    }
}

fn commit_message(run: u64, summary: &str) -> String {
    if summary.is_empty() {
        format!("autoresearch #{run}")
    } else {
        format!("autoresearch #{run}: {summary}")
    }
}
