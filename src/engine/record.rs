//! Steps 9–10 of the experiment (docs/CONTRACT.md §7): append the record under the ledger lock,
//! pin its commit at `refs/autoresearch/runs/<run>`, and shape what the step returns.

use std::path::PathBuf;
use std::time::Duration;

use git2::Oid;

use super::decide::{Decision, Verdict};
use super::measure::{Measured, SCAN_BYTES};
use super::prepare::Plan;
use super::{Event, Recheck, RunOutput};
use crate::error::Result;
use crate::git;
use crate::ledger::{self, Brief, Evidence, Record, Scope, Status, Summary, evidence_key};
use crate::metric;
use crate::project::Loaded;

/// `log_tail` is at most this long.
const TAIL_BYTES: usize = 8 * 1024;

/// Everything the record is made of.
pub(super) struct Draft<'a> {
    /// The id the eval was given as `AUTORESEARCH_ID`.
    pub id: String,
    pub verdict: &'a Verdict,
    pub measured: &'a Measured,
    pub plan: &'a Plan,
    pub summary: &'a str,
    pub commit: Oid,
    pub parent: Option<Oid>,
    pub code: &'a str,
    pub setup: &'a str,
    /// The run number the step reserved (and named its commit and log after).
    pub reserved: u64,
    /// The run numbers steps in progress on other branches reserved: the record skips them.
    pub others: &'a dyn Fn() -> Vec<u64>,
    pub log_path: PathBuf,
}

/// The record as written, the ledger's fold just before it, and where its log is.
pub(super) struct Written {
    pub record: Record,
    pub before: Summary,
    pub log_path: PathBuf,
}

/// Append the record, pin its commit and name its log after its real run number.
pub(super) fn write(loaded: &Loaded, d: &Draft, on: &mut dyn FnMut(Event)) -> Result<Written> {
    let branch = &d.plan.branch;
    let summary = if d.summary.is_empty() && d.verdict.status == Status::Baseline {
        "baseline".to_string()
    } else {
        d.summary.to_string()
    };
    let mut pin_failed = None;
    let ledger::Appended {
        record,
        before,
        warnings,
    } = loaded
        .ledger
        .append_around(d.others, |run, sb| {
            // Pinned before the line is written: a recorded run always has its commit.
            pin_failed = git::set_run_ref(&loaded.project.repo, run, d.commit).err();
            let best = best_on_this_class(sb, branch, &loaded.config.hardware);
            Ok(Record {
                id: d.id.clone(),
                timestamp: ledger::now_timestamp(),
                metric: d.verdict.metric,
                metrics: d.measured.metrics.clone(),
                samples: if d.measured.samples.len() > 1 {
                    d.measured.samples.clone()
                } else {
                    Vec::new()
                },
                delta: d.verdict.metric.zip(best).map(|(m, b)| m - b),
                summary: summary.clone(),
                commit: Some(d.commit.to_string()),
                parent: d.parent.map(|p| p.to_string()),
                branch: Some(branch.clone()),
                duration_s: Some(round_ms(d.measured.duration)),
                exit_code: d.measured.exit_code,
                reason: d.verdict.reason.clone(),
                flags: d.verdict.flags.clone(),
                source: "run".to_string(),
                code: Some(d.code.to_string()),
                setup: Some(d.setup.to_string()),
                hardware: loaded.config.hardware.clone(),
                ..Record::new(run, d.verdict.status)
            })
        })
        .map_err(|mut e| {
            // The eval's result is lost with the record; at least say where its code is.
            e.message.push_str(&format!(
                " The evaluated commit {} was not recorded ({}).",
                d.commit,
                d.verdict.status.as_str()
            ));
            e
        })?;
    for w in before
        .health_warnings("`experiments.jsonl`")
        .into_iter()
        .chain(warnings)
    {
        on(Event::Warning(w));
    }
    if let Err(e) = git::set_run_ref(&loaded.project.repo, record.run, d.commit) {
        on(Event::Warning(format!(
            "The run is recorded, but {}",
            e.message
        )));
    }
    let mut log_path = d.log_path.clone();
    if record.run != d.reserved {
        let real = loaded
            .project
            .runs_dir()
            .join(format!("{}.log", record.run));
        if std::fs::rename(&log_path, &real).is_ok() {
            log_path = real;
        }
        on(Event::Warning(format!(
            "Run #{} was taken meanwhile (by a concurrent `record`, or by a `run` on another branch that started later and finished first): this run is #{}, though its commit message says #{}.",
            d.reserved, record.run, d.reserved
        )));
    }
    Ok(Written {
        record,
        before,
        log_path,
    })
}

/// What the step returns: the record with the best before and after it on its branch.
pub(super) fn report(
    loaded: &Loaded,
    w: Written,
    reverted: bool,
    decision: Option<Decision>,
    tail: usize,
) -> RunOutput {
    let Written {
        record,
        before,
        log_path,
    } = w;
    let branch = record.branch.clone();
    let scope_before = before.scope(branch.as_deref());
    let mut scope = scope_before.clone();
    scope.fold_owned(record.clone(), loaded.config.metric_direction);
    let recheck =
        (record.status == Status::Recheck).then(|| recheck(&record, &scope_before, &scope));
    let log_tail = matches!(record.status, Status::Crash | Status::Timeout).then(|| {
        metric::read_log_tail(&log_path, SCAN_BYTES)
            .map(|t| metric::tail_lines(&t, tail, TAIL_BYTES))
            .unwrap_or_default()
    });
    RunOutput {
        run: record.run,
        status: record.status,
        metric: record.metric,
        metrics: record.metrics,
        samples: record.samples,
        delta: record.delta,
        best_before: scope_before.best.as_ref().map(Brief::from),
        best_after: scope.best.as_ref().map(Brief::from),
        commit: record.commit,
        reverted,
        duration_s: record.duration_s,
        exit_code: record.exit_code,
        reason: record.reason,
        flags: record.flags,
        decision,
        recheck,
        log: loaded.project.rel(&log_path),
        log_tail,
        summary: record.summary,
        parent: record.parent,
        scope,
    }
}

/// What a re-check's code is known to measure, before and after it.
fn recheck(record: &Record, before: &Scope, after: &Scope) -> Recheck {
    let key = record
        .code
        .as_deref()
        .map(|c| evidence_key(record.setup.as_deref(), c));
    let was = key.as_ref().and_then(|k| before.evidence.get(k));
    let now = key.as_ref().and_then(|k| after.evidence.get(k));
    let recorded = was.and_then(|e| e.record.as_ref());
    Recheck {
        runs: was.map(|e| e.runs.clone()).unwrap_or_default(),
        recorded_run: recorded.map(|r| r.run),
        recorded: recorded.and_then(|r| r.metric),
        level_before: was.and_then(Evidence::level),
        level: now.and_then(Evidence::level),
        samples: now.map_or(0, |e| e.count),
    }
}

/// The metric of the branch's best, when it was measured on `class`: no delta is computed
/// across hardware classes, which are never compared (a new baseline on another class follows
/// a best measured on the old one).
fn best_on_this_class(sb: &Summary, branch: &str, class: &Option<String>) -> Option<f64> {
    sb.scope(Some(branch))
        .best
        .filter(|b| &b.hardware == class)
        .and_then(|b| b.metric)
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
