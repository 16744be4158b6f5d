//! The experiment step (CONTRACT §7): take the loop lock, check the branch and the change,
//! commit it, evaluate it under the budget, decide, revert what is not kept, record. One
//! function, [`step`], serves `autoresearch run` and `autoresearch demo`.
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
//!   reference, not a candidate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Constraint, MinImprovement};
use crate::ctx::{Ctx, Loaded};
use crate::error::{AppError, Code, Result};
use crate::eval::{self, EvalOutcome, EvalSpec};
use crate::git;
use crate::ledger::{self, Brief, Record, Scope, Status};
use crate::loopfile::LoopLock;
use crate::metric::{self, MetricRead};

/// The metric is searched for in at most this much of each sample's output (RELIABILITY 12).
const SCAN_BYTES: u64 = 1 << 20;
/// `log_tail` is at most this long.
const TAIL_BYTES: usize = 8 * 1024;
/// A gain this many times the median earlier gain is suspicious.
const JUMP_FACTOR: f64 = 5.0;
/// ...once there are at least this many earlier gains to compare with.
const JUMP_MIN_KEEPS: usize = 3;

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

/// What the step reports while the eval runs.
pub enum Progress<'a> {
    /// Sample `sample` of `samples` of run `run` starts (`None`: not a numbered run).
    Eval {
        run: Option<u64>,
        sample: u32,
        samples: u32,
        budget: Duration,
    },
    /// About every 100 ms: time since the sample started and the latest output line.
    Tick {
        elapsed: Duration,
        line: Option<&'a str>,
    },
}

/// The result of one step (CONTRACT §7 step 10).
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
}

impl RunOutput {
    /// Was the eval stopped by SIGINT/SIGTERM? `run` then exits non-zero.
    pub fn interrupted(&self) -> bool {
        self.reason.as_deref() == Some("interrupted")
    }
}

/// One experiment, start to finish. See the module header.
pub fn step(
    ctx: &Ctx,
    loaded: &Loaded,
    opts: &StepOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunOutput> {
    let cfg = &loaded.config;
    let project = &loaded.project;
    let repo = &project.repo;
    project.ensure_state_dir()?;

    // 1. The loop lock, for the whole step.
    let (mut lock, takeover) = LoopLock::acquire(&project.state_dir())?;
    if let Some(w) = takeover {
        ctx.warn(w);
    }

    // 2. The branch. Created (below, once every check passed) if it does not exist yet.
    let head = git::head_commit(repo)?;
    let (branch, create) = experiment_branch(repo, cfg)?;

    // 3–4. Baseline or experiment, and what changed.
    let summary = ctx.summary(&loaded.ledger)?;
    let scope = summary.scope(Some(&branch));
    let baseline = opts.baseline || scope.baseline.is_none();
    let changed = changes(repo, cfg)?;
    let target_changed = if baseline {
        if !changed.is_empty() {
            return Err(dirty_tree(&changed));
        }
        false
    } else {
        check_scope(cfg, &changed, opts.allow_empty).map_err(|mut e| {
            e.message.push_str(" Nothing was committed or recorded.");
            e
        })?
    };
    if eval::interrupted() {
        return Err(interrupted_before());
    }
    if create {
        git::create_and_switch(repo, &cfg.branch)?;
        ctx.hint(format!(
            "Created the experiment branch `{}` at HEAD and switched to it.",
            cfg.branch
        ));
    }

    // 5. Commit the change, under the reserved run number.
    let reserved = summary.next_run();
    lock.start(reserved)?;
    let (commit, parent) = if target_changed {
        let message = commit_message(reserved, &opts.summary);
        let oid = git::commit_targets(repo, &cfg.target_files, &message)?;
        (oid, Some(head.id()))
    } else {
        (head.id(), head.parent_ids().next())
    };

    // 6–7. Evaluate and decide. A failure to even start the eval undoes the commit.
    let log_path = project.runs_dir().join(format!("{reserved}.log"));
    let repeats = opts.repeats.unwrap_or(cfg.repeats).max(1);
    let measured = {
        let mut on_progress = |p: Progress| {
            lock.beat();
            progress(p);
        };
        measure(
            cfg,
            &project.root,
            &log_path,
            Some(reserved),
            repeats,
            &mut on_progress,
        )
    };
    let measured = match measured {
        Ok(m) => m,
        Err(e) => {
            if target_changed && let Some(p) = parent {
                let _ = git::revert_to(repo, p, &cfg.target_files);
            }
            return Err(e);
        }
    };
    // Decide against the ledger as it is now, not as it was before a long eval.
    let scope_now = ctx.summary(&loaded.ledger)?.scope(Some(&branch));
    let verdict = decide(&measured, cfg, baseline, &scope_now);
    if verdict.status == Status::Baseline
        && let Some(c) = violated(&cfg.constraints, &measured.metrics)
    {
        ctx.warn(format!(
            "The baseline fails {}: every later experiment is held to it; check the constraint or the code.",
            constraint_reason(c, &measured)
        ));
    }

    // 8. Revert what is not kept.
    let mut reverted = false;
    if target_changed
        && !verdict.status.counts_for_best()
        && !opts.no_revert
        && let Some(p) = parent
    {
        match git::revert_to(repo, p, &cfg.target_files) {
            Ok(()) => reverted = true,
            Err(e) => ctx.warn(format!(
                "The run is recorded but could not be reverted: {} Run `git reset --hard HEAD~1` to undo it.",
                e.message
            )),
        }
    }

    // 9. Record.
    let summary_text = if opts.summary.is_empty() && verdict.status == Status::Baseline {
        "baseline".to_string()
    } else {
        opts.summary.clone()
    };
    let (record, before) = loaded
        .ledger
        .append(|run, sb| {
            let scope = sb.scope(Some(&branch));
            Ok(Record {
                run,
                id: ledger::new_id(),
                timestamp: ledger::now_timestamp(),
                status: verdict.status,
                metric: verdict.metric,
                metrics: measured.metrics.clone(),
                samples: if repeats > 1 {
                    measured.samples.clone()
                } else {
                    Vec::new()
                },
                delta: verdict.metric.zip(scope.best_metric()).map(|(m, b)| m - b),
                summary: summary_text.clone(),
                commit: Some(commit.to_string()),
                parent: parent.map(|p| p.to_string()),
                branch: Some(branch.clone()),
                duration_s: Some(round_ms(measured.duration)),
                exit_code: measured.exit_code,
                reason: verdict.reason.clone(),
                flags: verdict.flags.clone(),
                source: "run".to_string(),
            })
        })
        .map_err(|mut e| {
            // The eval's result is lost with the record; at least say where its code is.
            e.message.push_str(&format!(
                " The evaluated commit {commit} was not recorded ({}).",
                verdict.status.as_str()
            ));
            e
        })?;
    ctx.warn_all(before.health_warnings("`experiments.jsonl`"));
    if let Err(e) = git::set_run_ref(repo, record.run, commit) {
        ctx.warn(format!("The run is recorded, but {}", e.message));
    }
    let mut log_path = log_path;
    if record.run != reserved {
        let real = project.runs_dir().join(format!("{}.log", record.run));
        if std::fs::rename(&log_path, &real).is_ok() {
            log_path = real;
        }
        ctx.warn(format!(
            "A concurrent `record` took run #{reserved}: this run is #{}, though its commit message says #{reserved}.",
            record.run
        ));
    }
    if let Err(e) = lock.finish(record.run) {
        ctx.warn(format!("`loop.json` could not be updated: {}", e.message));
    }
    drop(lock);

    // 10. Report.
    let scope_before = before.scope(Some(&branch));
    let mut scope_after = scope_before.clone();
    scope_after.fold_owned(record.clone(), cfg.metric_direction);
    let log = project.rel(&log_path);
    let log_tail = matches!(record.status, Status::Crash | Status::Timeout).then(|| {
        metric::read_log_tail(&log_path, SCAN_BYTES)
            .map(|t| metric::tail_lines(&t, opts.tail, TAIL_BYTES))
            .unwrap_or_default()
    });
    crate::coach::after_run(ctx, &record, &scope_after, &log, reverted, opts.no_revert);
    Ok(RunOutput {
        run: record.run,
        status: record.status,
        metric: record.metric,
        metrics: record.metrics.clone(),
        samples: record.samples.clone(),
        delta: record.delta,
        best_before: scope_before.best.as_ref().map(Brief::from),
        best_after: scope_after.best.as_ref().map(Brief::from),
        commit: record.commit.clone(),
        reverted,
        duration_s: record.duration_s,
        exit_code: record.exit_code,
        reason: record.reason.clone(),
        flags: record.flags.clone(),
        log,
        log_tail,
        summary: record.summary,
    })
}

/// The branch this step runs on, and whether it must be created first: the current branch when
/// it is the experiment branch or a fork of it; the configured branch when it does not exist
/// yet; else `wrong_branch`. (`doctor` asks the same question.)
pub(crate) fn experiment_branch(repo: &git2::Repository, cfg: &Config) -> Result<(String, bool)> {
    let current = git::current_branch(repo);
    match current.as_deref() {
        Some(b) if cfg.is_experiment_branch(b) => Ok((b.to_string(), false)),
        _ if !git::branch_exists(repo, &cfg.branch) => Ok((cfg.branch.clone(), true)),
        other => Err(wrong_branch(cfg, other)),
    }
}

/// The changed files that matter to a step: tracked files and new targets, minus the notebook.
pub(crate) fn changes(repo: &git2::Repository, cfg: &Config) -> Result<Vec<String>> {
    Ok(git::changed_files(repo, &cfg.target_files)?
        .into_iter()
        .filter(|p| !notebook(cfg, p))
        .collect())
}

/// `program.md` changes are notes, not experiments (see the module header).
fn notebook(cfg: &Config, path: &str) -> bool {
    path == crate::project::PROGRAM_FILE
        && !cfg.protected.iter().any(|p| p == path)
        && !cfg.target_files.iter().any(|t| t == path)
}

/// Refuse a change that is out of scope; returns whether a target changed.
pub(crate) fn check_scope(cfg: &Config, changed: &[String], allow_empty: bool) -> Result<bool> {
    let protected: Vec<&String> = changed
        .iter()
        .filter(|p| cfg.protected.contains(p))
        .collect();
    if !protected.is_empty() {
        let list = join_paths(protected.iter().map(|s| s.as_str()));
        return Err(AppError::new(
            Code::ProtectedChanged,
            format!("Protected files were changed: {list}."),
            format!(
                "Restore them with `git checkout HEAD -- {}`; the eval and its data must stay fixed.",
                shell_paths(protected.iter().map(|s| s.as_str()))
            ),
        ));
    }
    let outside: Vec<&String> = changed
        .iter()
        .filter(|p| !cfg.target_files.contains(p))
        .collect();
    if !outside.is_empty() {
        let list = join_paths(outside.iter().map(|s| s.as_str()));
        return Err(AppError::new(
            Code::OutOfScope,
            format!(
                "Files outside the target were changed: {list}. An experiment may change only {}.",
                join_paths(cfg.target_files.iter().map(String::as_str))
            ),
            format!(
                "Undo them with `git checkout HEAD -- {}`, or add them to `target_file` in autoresearch.toml if the agent may change them.",
                shell_paths(outside.iter().map(|s| s.as_str()))
            ),
        ));
    }
    let target_changed = !changed.is_empty();
    if !target_changed && !allow_empty {
        return Err(AppError::new(
            Code::NoChanges,
            format!(
                "{} has no changes to evaluate.",
                join_paths(cfg.target_files.iter().map(String::as_str))
            ),
            "Edit the target file first, or run `autoresearch run --allow-empty -m \"<why>\"` to re-evaluate HEAD (e.g. to measure noise).",
        ));
    }
    Ok(target_changed)
}

fn join_paths<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    paths
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Paths as shell words for a suggested command.
fn shell_paths<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    paths
        .map(|p| {
            if p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
            {
                p.to_string()
            } else {
                format!("'{}'", p.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn dirty_tree(changed: &[String]) -> AppError {
    AppError::new(
        Code::DirtyTree,
        format!(
            "A baseline measures HEAD as committed, but tracked files are modified: {}. Nothing was recorded.",
            join_paths(changed.iter().map(String::as_str))
        ),
        "Set the change aside with `git stash`, run `autoresearch run -m \"baseline\"`, then `git stash pop`; or commit it if it belongs in the baseline.",
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

fn interrupted_before() -> AppError {
    AppError::new(
        Code::Interrupted,
        "Interrupted before the eval started; nothing was committed or recorded.",
        "Run `autoresearch run` again when you are ready.",
    )
}

fn commit_message(run: u64, summary: &str) -> String {
    if summary.is_empty() {
        format!("autoresearch #{run}")
    } else {
        format!("autoresearch #{run}: {summary}")
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// A secondary metric over the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Secondary {
    Missing,
    NonFinite,
}

/// What the evaluations measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Measured {
    pub interrupted: bool,
    pub timed_out: bool,
    /// Of the last sample evaluated.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// The metric of the last sample evaluated, when it was not a finite number.
    pub unreadable: Option<MetricRead>,
    /// The finite metric of every sample evaluated.
    pub samples: Vec<f64>,
    /// Secondary metrics (median over samples) that were read.
    pub metrics: BTreeMap<String, f64>,
    /// Secondary metrics that could not be read in some sample.
    unread: BTreeMap<String, Secondary>,
    pub leaked: bool,
    pub duration: Duration,
}

impl Measured {
    /// The metric as read: the median of the samples, or why there is none.
    pub fn primary(&self) -> MetricRead {
        match self.unreadable {
            Some(r) => r,
            None if self.samples.is_empty() => MetricRead::Missing,
            None => MetricRead::Found(median(&self.samples)),
        }
    }

    /// A secondary metric as read (the median over the samples).
    pub fn secondary(&self, name: &str) -> MetricRead {
        match (self.metrics.get(name), self.unread.get(name)) {
            (Some(v), _) => MetricRead::Found(*v),
            (None, Some(Secondary::NonFinite)) => MetricRead::NonFinite,
            _ => MetricRead::Missing,
        }
    }

    /// Did the last sample end cleanly with a finite metric?
    fn clean(&self) -> bool {
        !self.interrupted
            && !self.timed_out
            && self.exit_code == Some(0)
            && self.unreadable.is_none()
    }
}

/// Evaluate `repeats` times into one log (truncated first), stopping at the first sample that
/// does not end cleanly. `run` is passed to the eval as `AUTORESEARCH_RUN` when given.
pub(crate) fn measure(
    cfg: &Config,
    root: &Path,
    log_path: &Path,
    run: Option<u64>,
    repeats: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<Measured> {
    let io =
        |e: std::io::Error| AppError::io(format!("running the eval (`{}`)", cfg.eval_command), &e);
    std::fs::write(log_path, b"").map_err(|e| AppError::io(log_path.display(), &e))?;
    let names: Vec<&str> = unique_constraint_metrics(&cfg.constraints);
    let mut m = Measured::default();
    let mut secondary: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for sample in 1..=repeats {
        if repeats > 1 {
            append_line(log_path, &format!("--- sample {sample} ---"))
                .map_err(|e| AppError::io(log_path.display(), &e))?;
        }
        let from = std::fs::metadata(log_path).map(|md| md.len()).unwrap_or(0);
        let mut env = vec![("AUTORESEARCH_SAMPLE".to_string(), sample.to_string())];
        if let Some(run) = run {
            env.push(("AUTORESEARCH_RUN".to_string(), run.to_string()));
        }
        let spec = EvalSpec {
            command: &cfg.eval_command,
            cwd: root,
            budget: cfg.time_budget,
            grace: cfg.kill_grace,
            log_path,
            append: true,
            env: &env,
        };
        progress(Progress::Eval {
            run,
            sample,
            samples: repeats,
            budget: cfg.time_budget,
        });
        let outcome: EvalOutcome = eval::run_eval(&spec, &mut |elapsed, line| {
            progress(Progress::Tick { elapsed, line })
        })
        .map_err(io)?;
        m.duration += outcome.duration;
        m.leaked |= outcome.leaked_processes;
        m.interrupted = outcome.interrupted;
        m.timed_out = outcome.timed_out;
        m.exit_code = outcome.exit_code;
        m.signal = outcome.signal;
        let text = metric::read_log_range(log_path, from, SCAN_BYTES).unwrap_or_default();
        match metric::find_metric(&text, &cfg.metric_name) {
            MetricRead::Found(v) => {
                m.unreadable = None;
                m.samples.push(v);
            }
            other => m.unreadable = Some(other),
        }
        for name in &names {
            match metric::find_metric(&text, name) {
                MetricRead::Found(v) => secondary.entry(name.to_string()).or_default().push(v),
                MetricRead::NonFinite => {
                    m.unread.insert(name.to_string(), Secondary::NonFinite);
                }
                MetricRead::Missing => {
                    m.unread
                        .entry(name.to_string())
                        .or_insert(Secondary::Missing);
                }
            }
        }
        if !m.clean() {
            break;
        }
    }
    for (name, values) in secondary {
        if !m.unread.contains_key(&name) {
            m.metrics.insert(name, median(&values));
        }
    }
    Ok(m)
}

fn unique_constraint_metrics(constraints: &[Constraint]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for c in constraints {
        if !names.contains(&c.metric.as_str()) {
            names.push(&c.metric);
        }
    }
    names
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// The median; the mean of the middle two for an even count. `values` is never empty here.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The outcome of a step before it is written down.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub status: Status,
    pub metric: Option<f64>,
    pub reason: Option<String>,
    pub flags: Vec<String>,
}

/// The first constraint that does not hold (or cannot be checked) with these metrics.
fn violated<'c>(
    constraints: &'c [Constraint],
    metrics: &BTreeMap<String, f64>,
) -> Option<&'c Constraint> {
    constraints.iter().find(|c| {
        metrics
            .get(&c.metric)
            .is_none_or(|v| !c.op.holds(*v, c.value))
    })
}

/// `constraint memory_gb <= 44`, saying why when the metric could not be read.
fn constraint_reason(c: &Constraint, m: &Measured) -> String {
    let why = match m.unread.get(&c.metric) {
        Some(Secondary::NonFinite) => " (non-finite)",
        Some(Secondary::Missing) => " (not found)",
        None => "",
    };
    format!("constraint {}{why}", c.text)
}

/// CONTRACT §7 step 7: timeout; crash; discarded; else kept (or baseline).
pub(crate) fn decide(m: &Measured, cfg: &Config, baseline: bool, scope: &Scope) -> Verdict {
    let mut flags = Vec::new();
    if m.leaked {
        flags.push("leaked_processes".to_string());
    }
    let fail = |status: Status, reason: String, flags: Vec<String>| Verdict {
        status,
        metric: None,
        reason: Some(reason),
        flags,
    };
    if m.interrupted {
        return fail(Status::Crash, "interrupted".into(), flags);
    }
    if m.timed_out {
        return fail(Status::Timeout, "timeout".into(), flags);
    }
    match (m.exit_code, m.signal) {
        (Some(0), _) => {}
        (Some(code), _) => return fail(Status::Crash, format!("exit_code {code}"), flags),
        (None, Some(sig)) => return fail(Status::Crash, format!("signal {sig}"), flags),
        (None, None) => return fail(Status::Crash, "exit_code unknown".into(), flags),
    }
    match m.unreadable {
        Some(MetricRead::NonFinite) => {
            return fail(Status::Crash, "non_finite_metric".into(), flags);
        }
        Some(_) => return fail(Status::Crash, "no_metric".into(), flags),
        None => {}
    }
    let metric = median(&m.samples);
    let verdict = |status: Status, reason: Option<String>, flags: Vec<String>| Verdict {
        status,
        metric: Some(metric),
        reason,
        flags,
    };
    if baseline {
        return verdict(Status::Baseline, None, flags);
    }
    if let Some(c) = violated(&cfg.constraints, &m.metrics) {
        return verdict(Status::Discarded, Some(constraint_reason(c, m)), flags);
    }
    let direction = cfg.metric_direction;
    let Some(best) = scope
        .best
        .as_ref()
        .and_then(|b| b.metric.map(|v| (b.run, v)))
    else {
        // No best to beat (only possible with a hand-edited ledger): the run is the best.
        return verdict(Status::Kept, None, flags);
    };
    let (best_run, best_metric) = best;
    if !direction.better(metric, best_metric) {
        return verdict(
            Status::Discarded,
            Some(format!("not better than best (#{best_run} {best_metric})")),
            flags,
        );
    }
    let gain = direction.gain(metric, best_metric);
    let margin = cfg.min_improvement.margin(best_metric);
    if gain < margin {
        let of = match cfg.min_improvement {
            MinImprovement::Percent(p) => format!("{p}% of {best_metric} = {}", short(margin)),
            MinImprovement::Absolute(_) => short(margin),
        };
        return verdict(
            Status::Discarded,
            Some(format!(
                "below min_improvement (gain {} < {of})",
                short(gain)
            )),
            flags,
        );
    }
    if suspicious(metric, best_metric, gain, &scope.kept_gains) {
        flags.push("suspicious_jump".to_string());
    }
    verdict(Status::Kept, None, flags)
}

/// A gain far above the usual, or a perfect score out of nowhere: often a leak or a broken
/// eval rather than a breakthrough.
fn suspicious(metric: f64, best: f64, gain: f64, earlier: &[f64]) -> bool {
    if metric == 0.0 && best != 0.0 {
        return true;
    }
    earlier.len() >= JUMP_MIN_KEEPS && {
        let typical = median(earlier);
        typical > 0.0 && gain > JUMP_FACTOR * typical
    }
}

/// Numbers in reasons: at most 7 significant digits, so float noise does not leak into text.
fn short(v: f64) -> String {
    format!("{}", crate::output::round_significant(v, 7))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, MinImprovement};

    fn cfg(extra: &str) -> Config {
        let text = format!(
            "target_file = \"t.py\"\neval_command = \"true\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\n{extra}"
        );
        Config::parse("autoresearch.toml", &text).expect("config").0
    }

    fn scope_with_best(run: u64, best: f64, gains: &[f64]) -> Scope {
        let rec = Record {
            source: "run".into(),
            ..Record::blank(run, Status::Baseline, Some(best))
        };
        Scope {
            best: Some(rec.clone()),
            baseline: Some(rec),
            kept_gains: gains.to_vec(),
            ..Scope::default()
        }
    }

    fn ok(samples: &[f64]) -> Measured {
        Measured {
            exit_code: Some(0),
            samples: samples.to_vec(),
            ..Measured::default()
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[5.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[-1.0]), -1.0);
    }

    #[test]
    fn crash_reasons_in_order() {
        let c = cfg("");
        let s = scope_with_best(0, 1.0, &[]);
        let mut m = ok(&[0.5]);
        m.leaked = true;
        m.timed_out = true;
        m.interrupted = true;
        let v = decide(&m, &c, false, &s);
        assert_eq!(
            (v.status, v.reason.as_deref()),
            (Status::Crash, Some("interrupted"))
        );
        assert_eq!(v.flags, ["leaked_processes"]);
        assert_eq!(v.metric, None);
        m.interrupted = false;
        assert_eq!(decide(&m, &c, false, &s).status, Status::Timeout);
        m.timed_out = false;
        m.exit_code = Some(3);
        assert_eq!(
            decide(&m, &c, false, &s).reason.as_deref(),
            Some("exit_code 3")
        );
        m.exit_code = None;
        m.signal = Some(9);
        assert_eq!(
            decide(&m, &c, false, &s).reason.as_deref(),
            Some("signal 9")
        );
        let mut m = ok(&[]);
        m.unreadable = Some(MetricRead::Missing);
        assert_eq!(
            decide(&m, &c, false, &s).reason.as_deref(),
            Some("no_metric")
        );
        m.unreadable = Some(MetricRead::NonFinite);
        assert_eq!(
            decide(&m, &c, false, &s).reason.as_deref(),
            Some("non_finite_metric")
        );
    }

    #[test]
    fn keep_discard_and_margins() {
        let s = scope_with_best(4, 1.0, &[]);
        let c = cfg("");
        assert_eq!(decide(&ok(&[0.9]), &c, false, &s).status, Status::Kept);
        let v = decide(&ok(&[1.0]), &c, false, &s);
        assert_eq!(v.status, Status::Discarded);
        assert_eq!(v.reason.as_deref(), Some("not better than best (#4 1)"));
        assert_eq!(v.metric, Some(1.0));
        assert_eq!(decide(&ok(&[0.9]), &c, true, &s).status, Status::Baseline);

        let c = cfg("min_improvement = \"1%\"\n");
        assert_eq!(c.min_improvement, MinImprovement::Percent(1.0));
        let v = decide(&ok(&[0.995]), &c, false, &s);
        assert_eq!(v.status, Status::Discarded);
        assert_eq!(
            v.reason.as_deref(),
            Some("below min_improvement (gain 0.005 < 1% of 1 = 0.01)")
        );
        assert_eq!(decide(&ok(&[0.99]), &c, false, &s).status, Status::Kept);
        let c = cfg("min_improvement = 0.2\n");
        let v = decide(&ok(&[0.9]), &c, false, &s);
        assert_eq!(
            v.reason.as_deref(),
            Some("below min_improvement (gain 0.1 < 0.2)")
        );
    }

    #[test]
    fn constraints_discard_with_their_text() {
        let s = scope_with_best(0, 1.0, &[]);
        let c = cfg("constraints = [\"memory_gb <= 44\"]\n");
        let mut m = ok(&[0.5]);
        m.metrics.insert("memory_gb".into(), 45.0);
        let v = decide(&m, &c, false, &s);
        assert_eq!(v.status, Status::Discarded);
        assert_eq!(v.reason.as_deref(), Some("constraint memory_gb <= 44"));
        m.metrics.insert("memory_gb".into(), 44.0);
        assert_eq!(decide(&m, &c, false, &s).status, Status::Kept);
        m.metrics.clear();
        m.unread.insert("memory_gb".into(), Secondary::Missing);
        let v = decide(&m, &c, false, &s);
        assert_eq!(
            v.reason.as_deref(),
            Some("constraint memory_gb <= 44 (not found)")
        );
        // A baseline is the reference: recorded whatever the constraint says.
        assert_eq!(decide(&m, &c, true, &s).status, Status::Baseline);
    }

    #[test]
    fn suspicious_jumps() {
        let c = cfg("");
        let s = scope_with_best(0, 10.0, &[0.1, 0.2, 0.1]);
        assert_eq!(
            decide(&ok(&[9.6]), &c, false, &s).flags,
            Vec::<String>::new()
        );
        assert_eq!(
            decide(&ok(&[9.0]), &c, false, &s).flags,
            ["suspicious_jump"]
        );
        // Fewer than 3 earlier keeps: no judgement.
        let s = scope_with_best(0, 10.0, &[0.1, 0.1]);
        assert!(decide(&ok(&[5.0]), &c, false, &s).flags.is_empty());
        // An exact zero after non-zero values.
        assert_eq!(
            decide(&ok(&[0.0]), &c, false, &s).flags,
            ["suspicious_jump"]
        );
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(0.1 + 0.2), "0.3");
        assert_eq!(short(0.005000000000000004), "0.005");
        assert_eq!(short(12345678.0), "12345680");
    }
}
