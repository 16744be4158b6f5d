//! What the records say about themselves: integrity flags (one pattern per flag), retracted
//! keeps, and crashes grouped by reason (`crash_cluster`).

use std::collections::BTreeMap;

use super::words::normalize_reason;
use super::{Pattern, PatternKind, View, by_run, quote};
use crate::ledger::{INTERRUPTED, Status};

/// The integrity flags, their pattern and what each says (docs/CONTRACT.md §7, flags).
/// `revert_skipped` and `revert_incomplete` are about git, not about a number, and are not
/// patterns.
const FLAGS: &[(&str, PatternKind, &str)] = &[
    (
        "suspicious_jump",
        PatternKind::SuspiciousJump,
        "kept with a gain far above the usual step, or a perfect score",
    ),
    (
        "metric_repeated",
        PatternKind::MetricRepeated,
        "kept while the metric appeared on more output lines than in the baseline's",
    ),
    (
        "zero_variance",
        PatternKind::ZeroVariance,
        "kept with three or more identical samples while the setup's noise is not zero",
    ),
    (
        "duration_collapsed",
        PatternKind::DurationCollapsed,
        "kept with an evaluation more than 5 times faster per sample than the best's",
    ),
    (
        "untracked_inputs",
        PatternKind::UntrackedInputs,
        "kept while untracked files existed outside the targets",
    ),
    (
        "leaked_processes",
        PatternKind::LeakedProcesses,
        "processes of the eval were still alive after it exited, and were killed",
    ),
    (
        "kept_not_better",
        PatternKind::KeptNotBetter,
        "recorded as kept with a metric not better than the best's",
    ),
    (
        "harness_changed",
        PatternKind::HarnessChanged,
        "a baseline whose evaluation setup differs from the previous baseline's",
    ),
    (
        "simplification",
        PatternKind::Simplification,
        "kept for removing more lines than it adds while tying the best within the noise",
    ),
];

/// One pattern per integrity flag found, with every run that carries it.
pub(super) fn flags(view: &View, out: &mut Vec<Pattern>) {
    let mut found: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for r in view.records {
        for f in &r.flags {
            if let Some(k) = FLAGS.iter().position(|(name, _, _)| name == f) {
                found.entry(k).or_default().push(r.run);
            }
        }
    }
    for (k, runs) in found {
        let (name, kind, meaning) = FLAGS[k];
        out.push(Pattern::new(
            kind,
            format!(
                "`{name}` on {} ({})",
                crate::text::count(runs.len(), "run", "runs"),
                view.run_list(&runs)
            ),
            format!("`{name}`: {meaning}."),
            runs,
        ));
    }
}

/// The keeps taken back by `retraction` records, with the first reasons given.
pub(super) fn retracted(view: &View, out: &mut Vec<Pattern>) {
    let takes: Vec<(u64, u64, &str)> = view
        .records
        .iter()
        .filter(|r| r.status == Status::Retraction)
        .filter_map(|r| r.retracts.map(|t| (t, r.run, r.summary.as_str())))
        .collect();
    if takes.is_empty() {
        return;
    }
    let index = by_run(view.records);
    let runs: Vec<u64> = takes.iter().map(|(t, _, _)| *t).collect();
    const SHOWN: usize = 3;
    let mut why = takes
        .iter()
        .take(SHOWN)
        .map(|(t, by, s)| {
            let what = index
                .get(t)
                .map(|i| format!(" ({})", quote(&view.records[*i].summary, 40)))
                .unwrap_or_default();
            format!(
                "{}{what} by {}: {}",
                view.run(*t),
                view.run(*by),
                quote(s, 60)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if takes.len() > SHOWN {
        why.push_str(&format!("; and {} more", takes.len() - SHOWN));
    }
    out.push(Pattern::new(
        PatternKind::Retracted,
        format!(
            "{} retracted ({})",
            crate::text::count(runs.len(), "keep", "keeps"),
            view.run_list(&runs)
        ),
        format!("{why}."),
        runs,
    ));
}

/// A crash cluster needs this many crashes or timeouts with one reason.
pub const CRASH_CLUSTER_MIN: usize = 2;

/// Crashes and timeouts grouped by their reason with numbers, paths and hashes taken out
/// (`words::normalize_reason`); runs stopped by Ctrl-C are not failures and are left out.
pub(super) fn crashes(view: &View, out: &mut Vec<Pattern>) {
    let mut by_reason: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &view.experiments {
        let r = &view.records[i];
        if !matches!(r.status, Status::Crash | Status::Timeout)
            || r.reason.as_deref() == Some(INTERRUPTED)
        {
            continue;
        }
        let key = match r.reason.as_deref().map(str::trim) {
            Some(reason) if !reason.is_empty() => normalize_reason(reason),
            _ => r.status.as_str().to_string(),
        };
        by_reason.entry(key).or_default().push(i);
    }
    for (_, list) in by_reason {
        if list.len() < CRASH_CLUSTER_MIN {
            continue;
        }
        let recs: Vec<_> = list.iter().map(|i| &view.records[*i]).collect();
        let crashes = recs.iter().filter(|r| r.status == Status::Crash).count();
        let what = match (crashes, recs.len() - crashes) {
            (c, 0) => crate::text::count(c, "crash", "crashes"),
            (0, t) => crate::text::count(t, "timeout", "timeouts"),
            (c, t) => format!(
                "{} and {}",
                crate::text::count(c, "crash", "crashes"),
                crate::text::count(t, "timeout", "timeouts")
            ),
        };
        let latest = recs[recs.len() - 1];
        let reason = latest.reason.as_deref().unwrap_or(latest.status.as_str());
        let first = recs[0].reason.as_deref().unwrap_or(recs[0].status.as_str());
        let runs: Vec<u64> = recs.iter().map(|r| r.run).collect();
        let detail = if recs.iter().all(|r| r.reason == latest.reason) {
            format!(
                "Every one gave this reason, from {} to {}.",
                view.run(recs[0].run),
                view.run(latest.run)
            )
        } else {
            format!(
                "Their reasons differ only in numbers, paths or hashes; the first ({}): {}.",
                view.run(recs[0].run),
                quote(first, 100)
            )
        };
        out.push(Pattern::new(
            PatternKind::CrashCluster,
            format!(
                "{what} with the reason {} ({})",
                quote(reason, 80),
                view.run_list(&runs)
            ),
            detail,
            runs,
        ));
    }
}
