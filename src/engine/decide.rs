//! Step 7 of the experiment (docs/CONTRACT.md §7): from what was measured, the status, the
//! reason and the flags — timeout; crash; discarded (a constraint, not better than the best,
//! below `min_improvement`); else kept or baseline. A pure function of its inputs.

use std::collections::BTreeMap;

use super::measure::{Measured, Secondary, median};
use crate::config::{Config, Constraint, MinImprovement};
use crate::ledger::{INTERRUPTED, Scope, Status};
use crate::metric::MetricRead;
use crate::text::short_number;

/// A gain this many times the median earlier gain is suspicious.
const JUMP_FACTOR: f64 = 5.0;
/// ...once there are at least this many earlier gains to compare with.
const JUMP_MIN_KEEPS: usize = 3;

/// The outcome of a step before it is written down.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verdict {
    pub status: Status,
    pub metric: Option<f64>,
    pub reason: Option<String>,
    pub flags: Vec<String>,
}

/// The first constraint that does not hold (or cannot be checked) with these metrics.
pub(super) fn violated<'c>(
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
pub(super) fn constraint_reason(c: &Constraint, m: &Measured) -> String {
    let why = match m.unread.get(&c.metric) {
        Some(Secondary::NonFinite) => " (non-finite)",
        Some(Secondary::Missing) => " (not found)",
        None => "",
    };
    format!("constraint {}{why}", c.text)
}

/// docs/CONTRACT.md §7 step 7: timeout; crash; discarded; else kept (or baseline).
pub(super) fn decide(m: &Measured, cfg: &Config, baseline: bool, scope: &Scope) -> Verdict {
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
        return fail(Status::Crash, INTERRUPTED.into(), flags);
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
            MinImprovement::Percent(p) => {
                format!("{p}% of {best_metric} = {}", short_number(margin))
            }
            MinImprovement::Absolute(_) => short_number(margin),
        };
        return verdict(
            Status::Discarded,
            Some(format!(
                "below min_improvement (gain {} < {of})",
                short_number(gain)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Record;

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
}
