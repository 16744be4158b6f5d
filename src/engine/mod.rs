//! The experiment step (docs/CONTRACT.md §7): take the loop locks (the work tree's and the
//! branch's), check the branch and the change, commit it, evaluate it under the budget, decide, revert what is not kept, record.
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
//! - **Run numbers.** The commit message, the log file and `AUTORESEARCH_RUN` need `#<run>`
//!   before the ledger assigns it under its lock. Steps on other branches run at the same time,
//!   so the number is reserved under the ledger lock, past the numbers the steps in progress
//!   reserved (their loop states say which), and every append of a step skips those too: two
//!   steps never share a number, a log file or a commit label. A concurrent `record` can still
//!   take the number, and a step that finishes after one that started later finds its number
//!   below the ledger's last; then the ledger and `refs/autoresearch/runs/<run>` tell the
//!   truth, the log is renamed to the real number (free: no step in progress reserved it), and
//!   a warning says the commit message carries the reserved one (rewriting the commit would
//!   change the hash that was evaluated).
//! - **`program.md`** is the agent's notebook (the hints ask it to write down what it learned):
//!   a change to it is not refused, not committed (unless staged) and never reverted in the work
//!   tree — unless it is protected or a target, when the usual rules apply.
//! - **`--allow-empty`** with nothing changed evaluates HEAD itself; no commit is made, so there
//!   is nothing to revert. A baseline also evaluates HEAD. For both, `parent` is HEAD's parent.
//! - **Repeats** stop at the first sample that crashes or times out; the run takes that status.
//!   Secondary metrics are the median over the samples, like the metric.
//! - **A baseline** is recorded even if it violates a constraint (with a warning): it is the

mod cancel;
mod decide;
pub mod manual;
mod measure;
mod prepare;
mod protect;
mod record;
mod recover;
mod tells;

use std::collections::BTreeMap;
use std::time::Duration;

use git2::Oid;
use serde::Serialize;

pub use decide::{Decision, Jump, Kind, SUSPICIOUS_JUMP, suspicious_jump};
pub use measure::{Measured, StepId, measure};
pub use prepare::{Changes, changes, check_scope, experiment_branch};
pub use protect::{setup_of, setup_refusal};
pub use recover::ABANDONED;
pub use tells::{DURATION_COLLAPSED, METRIC_REPEATED, ZERO_VARIANCE};

use crate::config::Repeats;
use crate::error::{AppError, Code, Result};
use crate::git;
use crate::ledger::{Brief, INTERRUPTED, Scope, Status, evidence_key};
use crate::loopfile::{self, LoopLock};
use crate::project::Loaded;

/// The environment the eval gets from a step (and from `doctor`), for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "AUTORESEARCH_RUN",
        "set for the eval by `run`: the run number being evaluated",
    ),
    (
        "AUTORESEARCH_SAMPLE",
        "set for the eval by `run` and `doctor`: the evaluation's number within the run, from 1",
    ),
    (
        "AUTORESEARCH_STEP",
        "set for the eval by `run`: a token unique to the step, by which the next `run` finds what a dead step's eval left running",
    ),
    (
        "AUTORESEARCH_ID",
        "set for the eval by `run` and `merge-best --confirm`: the `id` of the record the evaluation will have (globally unique; name a remote job after it)",
    ),
    (
        "AUTORESEARCH_BRANCH",
        "set for the eval by `run`, `merge-best --confirm` and `doctor`: the branch evaluated",
    ),
    (
        "AUTORESEARCH_COMMIT",
        "set for the eval by `run`, `merge-best --confirm` and `doctor`: the full hash of the commit evaluated (a remote machine checks it out to run exactly this code)",
    ),
    (
        "AUTORESEARCH_WORKTREE",
        "set for the eval by `run`, `merge-best --confirm` and `doctor`: the absolute path of the work tree the eval runs in",
    ),
];

/// What the caller asks of one step.
#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// What was tried (already cleaned).
    pub summary: String,
    /// Evaluations for this step, overriding `repeats` (or `baseline_repeats`) in the config.
    pub repeats: Option<Repeats>,
    /// Evaluate HEAD when the target has no changes.
    pub allow_empty: bool,
    /// Leave a run that is not kept on the branch; the caller decides.
    pub no_revert: bool,
    /// Start a new baseline on the current commit.
    pub baseline: bool,
    /// Re-evaluate HEAD's code, measured before (by this run, when given): recorded as
    /// `recheck`, never kept.
    pub recheck: Option<Option<u64>>,
    /// Keep the change on a tie within the noise when it removes more lines than it adds.
    pub simplify: bool,
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
    /// How the run compared with the best: gain, threshold, noise, samples on each side
    /// (null for a baseline, a failed eval, or with no best).
    pub decision: Option<Decision>,
    /// For a re-check: what is now known of the code it re-measured.
    pub recheck: Option<Recheck>,
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

/// What a re-check found: the evidence for its code before and after it.
#[derive(Debug, Clone, Serialize)]
pub struct Recheck {
    /// The earlier runs that measured this code (the latest 64).
    pub runs: Vec<u64>,
    /// The baseline or kept run of this code, and the metric it recorded, if it is one.
    pub recorded_run: Option<u64>,
    pub recorded: Option<f64>,
    /// The code's level (the median of all its samples) before this run, and now.
    pub level_before: Option<f64>,
    pub level: Option<f64>,
    /// All samples of this code now.
    pub samples: u64,
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

    // 1. The loop locks of this work tree and of the branch the step will run on, for the
    // whole step; and a step that died before on that branch, cleaned up.
    let (branch, _) = prepare::experiment_branch(&loaded.project.repo, &loaded.config)?;
    let loops = loopfile::Loops::of(&loaded.project, &loaded.config.branch);
    let (mut lock, taken) = loops.acquire(&loaded.project.root, &branch)?;
    if let Some(w) = taken.warning {
        on(Event::Warning(w));
    }
    // The run numbers that steps in progress on other branches reserved: no record of this
    // step takes one.
    let others = || loops.reserved_by_others(&branch);
    if let Some(dead) = &taken.abandoned {
        recover::recover(loaded, &branch, dead, &others, on)?;
    }

    // 2–4. The branch (the one locked), baseline or experiment, and what changed.
    let left = lock.left().cloned();
    let mut plan = prepare::prepare(loaded, opts, &branch, left.as_ref(), on)?;
    if let Some(w) = &plan.harness_changed {
        on(Event::Warning(w.clone()));
    }
    // The run number, reserved and marked in the branch's loop state under the ledger lock, so
    // that a step starting on another branch at the same moment reserves another one.
    plan.reserved = loaded.ledger.reserve(others, |run| lock.start(run))?;

    // 5. Commit the change, under the reserved run number.
    let (commit, parent) = commit(loaded, &plan, &opts.summary, &mut lock)?;
    // What a revert would put back: a commit this step made, and the commits made by hand
    // since the last step (the experiment then starts where that step left the branch).
    // On an error before the eval ends, only the commit this step made is taken back.
    let made = plan.target_changed.then_some(plan.head);
    let parent = plan.hand.map(|h| h.base).or(parent);
    let undo = if plan.hand.is_some() { parent } else { made };

    // An error from here to the end of the eval gives the agent its edit back.
    let give_back = |e: AppError, on: &mut dyn FnMut(Event)| {
        if let Some(p) = made {
            let _ = revert(loaded, &plan.branch, commit, p, true, on);
        }
        e
    };

    // What is evaluated, and what kind of step that makes it.
    let who = identify(loaded, &plan, opts, commit, parent, on).map_err(|e| give_back(e, on))?;

    // 6. Evaluate, under the id the record will have.
    let what = Evaluated::of(loaded, plan.reserved, &lock, commit);
    let (measured, stopped) =
        evaluate(loaded, &plan, &who, &what, &mut lock, on).map_err(|e| give_back(e, on))?;

    // 7. Decide, against the ledger as it is now, not as it was before a long eval.
    let (mut verdict, mut decision) = judge(loaded, &plan, &who, &measured, on)?;
    if let Some(d) = &mut decision {
        d.stopped = stopped.map(str::to_string);
    }

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
        id: what.id,
        verdict: &verdict,
        measured: &measured,
        plan: &plan,
        summary: &opts.summary,
        commit,
        parent,
        code: &who.code,
        setup: &who.setup,
        reserved: plan.reserved,
        others: &others,
        log_path: what.log_path,
    };
    let written = record::write(loaded, &draft, on)?;
    finish(loaded, lock, &plan.branch, written.record.run, on);

    // 10. Report.
    Ok(record::report(
        loaded, written, reverted, decision, opts.tail,
    ))
}

/// The step is over: the branch's loop state says the loop is idle, which run it recorded, and
/// where it left the branch (so the next step can tell commits made by hand since).
fn finish(loaded: &Loaded, mut lock: LoopLock, branch: &str, run: u64, on: &mut dyn FnMut(Event)) {
    let tip = git::branch_tip(&loaded.project.repo, branch).map(|tip| loopfile::Left {
        branch: branch.to_string(),
        commit: tip.to_string(),
        run,
    });
    if let Err(e) = lock.finish_at(run, tip) {
        on(Event::Warning(format!(
            "The loop state of `{branch}` could not be updated: {}",
            e.message
        )));
    }
}

/// What a step evaluates: its code and setup (the record's `code` and `setup`), what kind of
/// step that makes it, and how many samples it may take.
struct Identity {
    pub code: String,
    pub setup: String,
    pub kind: Kind,
    /// Earlier samples of this code (a retried edit): a candidate is judged on them too.
    pub prior: Vec<f64>,
    /// At most this many samples; `auto`: stop when the decision is clear.
    pub repeats: u32,
    pub auto: bool,
    /// `evidence_key` of the setup and the code.
    pub key: String,
}

impl Identity {
    /// The evidence this step is judged against, in `scope`.
    fn against<'a>(&'a self, scope: &'a Scope) -> decide::Against<'a> {
        decide::Against {
            scope,
            setup: Some(&self.setup),
            key: Some(&self.key),
            prior: &self.prior,
        }
    }
}

/// The code and setup of `commit`, and the kind of step: a baseline; a re-check (asked for,
/// nothing changed, or code measured before on this branch); else a candidate.
fn identify(
    loaded: &Loaded,
    plan: &prepare::Plan,
    opts: &StepOptions,
    commit: Oid,
    parent: Option<Oid>,
    on: &mut dyn FnMut(Event),
) -> Result<Identity> {
    let (cfg, repo) = (&loaded.config, &loaded.project.repo);
    let code = git::paths_digest(repo, commit, &cfg.target_files, "code")?;
    let setup = protect::setup_of(repo, commit, cfg)?;
    if let Some(Some(run)) = opts.recheck {
        check_recheck_of(loaded, run, &code, &setup)?;
    }
    let scope = &plan.scope;
    let known = scope.evidence.get(&evidence_key(Some(&setup), &code));
    let kind = if plan.baseline {
        Kind::Baseline
    } else if opts.recheck.is_some() || (!plan.target_changed && plan.hand.is_none()) {
        Kind::Recheck
    } else if let Some(e) = known.filter(|e| e.record.is_some()) {
        on(Event::Warning(format!(
            "This code is already a baseline or a keep ({}): the run is a re-check, never kept; its samples join that code's.",
            runs_list(&e.runs)
        )));
        Kind::Recheck
    } else {
        if let Some(e) = known {
            on(Event::Warning(format!(
                "This exact code was measured before ({}): it is judged on its {} earlier sample(s) and this run's together, not on this run's alone.",
                runs_list(&e.runs),
                e.samples.len()
            )));
        }
        Kind::Candidate {
            simplify: opts.simplify && simplifies(loaded, commit, parent, on),
        }
    };
    let prior = match (kind, known) {
        (Kind::Candidate { .. }, Some(e)) => e.samples.clone(),
        _ => Vec::new(),
    };
    let (repeats, auto) = match (opts.repeats, kind) {
        (Some(Repeats::Fixed(n)), _) => (n, false),
        (Some(Repeats::Auto), Kind::Candidate { .. }) => (cfg.max_repeats, true),
        (None, Kind::Candidate { .. }) => match cfg.repeats {
            Repeats::Fixed(n) => (n, false),
            Repeats::Auto => (cfg.max_repeats, true),
        },
        (_, Kind::Baseline) => (cfg.baseline_repeats, false),
        (_, Kind::Recheck) => match cfg.repeats {
            Repeats::Fixed(n) => (n.max(cfg.baseline_repeats), false),
            Repeats::Auto => (cfg.baseline_repeats, false),
        },
    };
    Ok(Identity {
        key: evidence_key(Some(&setup), &code),
        code,
        setup,
        kind,
        prior,
        repeats: repeats.max(1),
        auto,
    })
}

/// `#3, #7`, the latest few.
fn runs_list(runs: &[u64]) -> String {
    let shown: Vec<String> = runs
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|r| format!("#{r}"))
        .collect();
    let more = if runs.len() > 5 { " and earlier" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// `--recheck RUN`: HEAD's code must be what RUN measured, under the same setup.
fn check_recheck_of(loaded: &Loaded, run: u64, code: &str, setup: &str) -> Result<()> {
    let Some(rec) = loaded.ledger.find(run)? else {
        return Err(AppError::new(
            Code::RunNotFound,
            format!("No run #{run} in the ledger: nothing to re-check."),
            "See the runs with `autoresearch log`, then `autoresearch run --recheck <run>`; or omit the number to re-check HEAD.",
        ));
    };
    let head = git::head_oid(&loaded.project.repo).map_or_else(String::new, |o| o.to_string());
    let checkout = rec.commit.as_deref().map_or_else(
        || "check out its code".to_string(),
        |c| {
            format!(
                "check out its code first (`git checkout {c} -- {}`, then commit it)",
                crate::text::shell_words(loaded.config.target_files.iter().map(String::as_str))
            )
        },
    );
    match (rec.code.as_deref(), rec.setup.as_deref()) {
        (Some(c), Some(s)) if c == code && s == setup => Ok(()),
        (Some(c), _) if c == code => Err(AppError::new(
            Code::RecheckMismatch,
            format!(
                "Run #{run} measured this code under another setup (the eval command, the metric or a protected file differs): its samples cannot be compared."
            ),
            "Re-check without a run number to measure HEAD under the current setup, or start a new baseline with `autoresearch run --baseline -m \"<why>\"`.",
        )),
        (Some(_), _) => Err(AppError::new(
            Code::RecheckMismatch,
            format!(
                "HEAD ({}) does not hold the code run #{run} measured.",
                short(&head)
            ),
            format!("Re-check HEAD without a run number, or {checkout}."),
        )),
        (None, _) => Err(AppError::new(
            Code::RecheckMismatch,
            format!(
                "Run #{run} does not say what code it measured (it was recorded by hand or by an older version)."
            ),
            "Re-check HEAD without a run number: `autoresearch run --recheck -m \"recheck\"`.",
        )),
    }
}

fn short(oid: &str) -> &str {
    &oid[..oid.len().min(12)]
}

/// Does the experiment commit remove more lines than it adds? When asked to simplify and it
/// does not, a warning says the usual rule applies.
fn simplifies(
    loaded: &Loaded,
    commit: Oid,
    parent: Option<Oid>,
    on: &mut dyn FnMut(Event),
) -> bool {
    let from = parent.map(|p| p.to_string());
    let stat = git::diff_commits(
        &loaded.project.repo,
        from.as_deref(),
        &commit.to_string(),
        false,
        0,
    );
    match stat {
        Ok(d) if d.deletions > d.insertions => true,
        Ok(d) => {
            on(Event::Warning(format!(
                "`--simplify` ignored: the change adds {} line(s) and removes {}, so it must beat the best like any other.",
                d.insertions, d.deletions
            )));
            false
        }
        Err(e) => {
            on(Event::Warning(format!(
                "`--simplify` ignored: {}",
                e.message
            )));
            false
        }
    }
}

/// Step 5: the experiment commit and its parent. With a target change: written, recorded in
/// the loop state as owned, then put on the branch by compare-and-swap (so a process killed in
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

/// What a step evaluates, besides its code: the id its record will have, the commit, the log.
struct Evaluated {
    id: String,
    commit: Oid,
    log_path: std::path::PathBuf,
}

impl Evaluated {
    /// The id is the step's token, known before the eval (which gets it as `AUTORESEARCH_ID`),
    /// so that a dead step's record, written by the next step, has it too.
    fn of(loaded: &Loaded, run: u64, lock: &LoopLock, commit: Oid) -> Evaluated {
        Evaluated {
            id: lock
                .step_token()
                .map_or_else(crate::ledger::new_id, str::to_string),
            commit,
            log_path: loaded.project.runs_dir().join(format!("{run}.log")),
        }
    }
}

/// Step 6: the evaluations, with the eval's process group owned in the loop state while it runs
/// (if this process dies, the next step kills it) and the heartbeat kept up. Under `auto`,
/// after each sample the adaptive rule says whether another is needed; returns why sampling
/// stopped early (`clear`, `hopeless`), or `max_repeats` when the last was needed.
fn evaluate(
    loaded: &Loaded,
    plan: &prepare::Plan,
    who: &Identity,
    what: &Evaluated,
    lock: &mut LoopLock,
    on: &mut dyn FnMut(Event),
) -> Result<(Measured, Option<&'static str>)> {
    let token = lock.step_token().map(str::to_string);
    let env = crate::forkfile::env_of(&loaded.project, &plan.branch);
    let commit = what.commit.to_string();
    let step = StepId {
        run: Some(plan.reserved),
        id: Some(&what.id),
        token: token.as_deref(),
        branch: Some(&plan.branch),
        commit: Some(&commit),
        env: &env,
    };
    let cfg = &loaded.config;
    // The evidence as it was before the eval: enough to tell a clear case from an open one.
    let scope = who.auto.then_some(&plan.scope);
    let mut stopped = None;
    let mut more = |samples: &[f64]| -> bool {
        let (Some(scope), Kind::Candidate { simplify }) = (&scope, who.kind) else {
            return true;
        };
        let Some(d) = who.against(scope).compare(samples, cfg, simplify) else {
            stopped = Some("clear");
            return false;
        };
        match decide::next_sample(&d, simplify) {
            decide::Next::More => true,
            decide::Next::Clear => {
                stopped = Some("clear");
                false
            }
            decide::Next::Hopeless => {
                stopped = Some("hopeless");
                false
            }
        }
    };
    let measured = measure::measure(
        cfg,
        &loaded.project.root,
        &what.log_path,
        Some(step),
        who.repeats,
        &mut |e| {
            match &e {
                Event::EvalSpawned { pgid } => {
                    let _ = lock.own_eval(Some(*pgid));
                }
                _ => lock.beat(),
            }
            on(e);
        },
        &mut more,
    );
    // The group is gone (reaped, or killed by the runner): nothing left to own.
    let _ = lock.own_eval(None);
    let measured = measured?;
    if who.auto && stopped.is_none() && measured.samples.len() as u32 == who.repeats {
        stopped = Some("max_repeats");
    }
    Ok((measured, stopped))
}

/// Step 7: the verdict and the comparison, against the ledger as it is now; and the warnings
/// a person should see about it (a metric value the grammar refuses; a baseline that breaks
/// a constraint).
fn judge(
    loaded: &Loaded,
    plan: &prepare::Plan,
    who: &Identity,
    measured: &Measured,
    on: &mut dyn FnMut(Event),
) -> Result<(decide::Verdict, Option<Decision>)> {
    let cfg = &loaded.config;
    let now = loaded.ledger.summary()?;
    let scope = now.scope(Some(&plan.branch));
    let (mut verdict, decision) = decide::decide(measured, cfg, who.kind, &who.against(&scope));
    if verdict.status == Status::Baseline && plan.harness_changed.is_some() {
        verdict.flags.push(protect::HARNESS_CHANGED.to_string());
    }
    if verdict.status == Status::Kept {
        let baseline_log = scope
            .baseline
            .as_ref()
            .map(|b| loaded.project.runs_dir().join(format!("{}.log", b.run)));
        let ctx = tells::Context {
            direction: cfg.metric_direction,
            best: scope.best.as_ref().zip(scope.best_level()),
            baseline_lines: baseline_log
                .and_then(|p| tells::first_sample_lines(&p, &cfg.metric_name)),
            noise_sd: decision.as_ref().and_then(|d| d.noise).map(|n| n.sd),
        };
        let found = tells::tells(measured, &ctx);
        verdict.flags.extend(found.into_iter().map(str::to_string));
        if let Some(w) = tells::untracked_inputs(&loaded.project.repo, &cfg.target_files) {
            verdict.flags.push(tells::UNTRACKED_INPUTS.to_string());
            on(Event::Warning(w));
        }
    }
    if verdict.reason.as_deref() == Some("no_metric")
        && let Some(u) = &measured.unreadable_value
    {
        on(Event::Warning(format!("No metric: {u}.")));
    }
    let unread: Vec<&str> = cfg
        .metrics
        .iter()
        .filter(|n| verdict.metric.is_some() && !measured.metrics.contains_key(*n))
        .map(String::as_str)
        .collect();
    if !unread.is_empty() {
        on(Event::Warning(format!(
            "Declared in `metrics` but not read from every sample: {} (recorded only when every sample prints a finite value). Check the names against the eval's output (`autoresearch doctor`).",
            crate::text::code_list(unread.iter().copied())
        )));
    }
    if verdict.status == Status::Baseline
        && let Some(c) = decide::violated(&cfg.constraints, &measured.metrics)
    {
        on(Event::Warning(format!(
            "The baseline fails {}: every later experiment is held to it; check the constraint or the code.",
            decide::constraint_reason(c, measured)
        )));
    }
    Ok((verdict, decision))
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
