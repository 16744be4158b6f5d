//! Step 7 of the experiment (docs/CONTRACT.md §7): from what was measured, the status, the
//! reason and the flags — timeout; crash; baseline or recheck as measured; discarded (a
//! constraint, not better than the best, below `min_improvement`, within the noise); else
//! kept. And the adaptive-repeats rule that decides whether another sample is needed. Pure
//! functions of their inputs; the statistics are in `crate::noise`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::measure::{Measured, Secondary};
use crate::config::{Config, Constraint, MinImprovement};
use crate::ledger::{INTERRUPTED, SIMPLIFICATION, Scope, Status};
use crate::metric::MetricRead;
use crate::noise::{self, Noise, median};
use crate::text::short_number;

/// What a step is, for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new reference: recorded as measured.
    Baseline,
    /// Code measured before, evaluated again: never kept; its samples join its evidence.
    Recheck,
    /// A change. `simplify`: it removes more lines than it adds, and a tie within the noise
    /// keeps it.
    Candidate { simplify: bool },
}

/// The outcome of a step before it is written down.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verdict {
    pub status: Status,
    pub metric: Option<f64>,
    pub reason: Option<String>,
    pub flags: Vec<String>,
}

/// How a candidate compared with the best: every number the decision used (docs/CONTRACT.md
/// §7, "The decision rule"). In `run`'s envelope as `decision`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The candidate's level over the best's, positive when better (metric units).
    pub gain: f64,
    /// What the gain had to exceed: the larger of `min_improvement` and `noise_margin` (with
    /// `--simplify`: minus `noise_margin`, a tie within the noise).
    pub threshold: f64,
    /// `min_improvement` in metric units.
    pub min_improvement: f64,
    /// What noise alone can explain at `confidence`, given the samples on each side; null
    /// while the noise is unknown.
    pub noise_margin: Option<f64>,
    /// The noise of one sample under this setup, and how it was measured; null when unknown.
    pub noise: Option<Noise>,
    pub confidence: f64,
    /// Samples of the candidate, and behind the best's level.
    pub samples: usize,
    pub best_samples: usize,
    /// The best's level: the median of every sample of its code.
    pub best_level: f64,
    /// The decision holds at `confidence`: a keep is beyond the noise, a discard is clearly
    /// short of the threshold. False while the noise is unknown or the gain is inside it.
    pub confident: bool,
    /// Under `repeats = "auto"`: why sampling stopped (`clear`, `hopeless`, `max_repeats`);
    /// null with a fixed number of repeats.
    pub stopped: Option<String>,
}

/// The evidence a candidate is judged against: the best's samples and the noise groups of
/// its setup, with the candidate's own samples added to its code's group.
pub(super) struct Against<'a> {
    pub scope: &'a Scope,
    pub setup: Option<&'a str>,
    /// The candidate's evidence key (`None`: its code is unknown).
    pub key: Option<&'a str>,
    /// Earlier samples of the candidate's code (a retried edit), judged with the new ones.
    pub prior: &'a [f64],
}

impl Against<'_> {
    /// The noise with `own` samples joined to the candidate's group.
    pub fn noise(&self, own: &[f64]) -> Option<Noise> {
        self.scope.noise_with(self.setup, self.key, own)
    }

    /// The best: its run, level and the samples behind it.
    pub fn best(&self) -> Option<(u64, f64, Vec<f64>)> {
        let best = self.scope.best.as_ref()?;
        let level = self.scope.best_level()?;
        let samples = match self.scope.best_evidence() {
            Some(e) if !e.samples.is_empty() => e.samples.clone(),
            _ => vec![best.metric?],
        };
        Some((best.run, level, samples))
    }

    /// Compare the candidate (its `prior` samples and these `new` ones) with the best.
    pub fn compare(&self, new: &[f64], cfg: &Config, simplify: bool) -> Option<Decision> {
        let (_, best_level, best) = self.best()?;
        let own = [self.prior, new].concat();
        let level = median(&own);
        let gain = cfg.metric_direction.gain(level, best_level);
        let margin = cfg.min_improvement.margin(best_level);
        let noise = self.noise(new);
        let noise_margin =
            noise.map(|n| noise::noise_margin(&n, own.len(), best.len(), cfg.confidence));
        let nm = noise_margin.unwrap_or(0.0);
        let threshold = if simplify { -nm } else { margin.max(nm) };
        let kept = passes(gain, threshold, simplify);
        Some(Decision {
            gain,
            threshold,
            min_improvement: margin,
            noise_margin,
            noise,
            confidence: cfg.confidence,
            samples: own.len(),
            best_samples: best.len(),
            best_level,
            confident: noise_margin.is_some() && (kept || gain + nm <= threshold),
            stopped: None,
        })
    }
}

/// The rule: a change is kept when its gain exceeds the threshold (a tie is not a win); a
/// simplification when it is not worse than the threshold.
fn passes(gain: f64, threshold: f64, simplify: bool) -> bool {
    if simplify {
        gain >= threshold
    } else {
        gain > threshold && gain > 0.0
    }
}

/// Adaptive repeats: after these samples, is another one needed?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Take another sample.
    More,
    /// Repeats never differ (the noise is exactly 0): one sample says it all.
    Clear,
    /// Even at the optimistic end of the noise it falls short.
    Hopeless,
}

/// The adaptive rule after each sample (docs/CONTRACT.md §7, "Repeats"): stop when the
/// candidate is hopeless; otherwise sample on, up to `max_repeats`, so that a keep is decided
/// on its full evidence (a lucky first sample regresses; the new best's level rests on every
/// sample). Only a metric whose repeats never differ is decided on one sample.
pub(super) fn next_sample(d: &Decision, simplify: bool) -> Next {
    let Some(nm) = d.noise_margin else {
        // The noise is unknown until a second sample: take it.
        return Next::More;
    };
    if d.gain + nm <= d.threshold && !(simplify && d.gain >= d.threshold) {
        return Next::Hopeless;
    }
    if d.noise.is_some_and(|n| n.sd == 0.0) {
        return Next::Clear;
    }
    Next::More
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

/// The status of a run whose eval did not give a metric, if it did not.
fn failed(m: &Measured) -> Option<(Status, String)> {
    if m.interrupted {
        return Some((Status::Crash, INTERRUPTED.into()));
    }
    if m.timed_out {
        return Some((Status::Timeout, "timeout".into()));
    }
    match (m.exit_code, m.signal) {
        (Some(0), _) => {}
        (Some(code), _) => return Some((Status::Crash, format!("exit_code {code}"))),
        (None, Some(sig)) => return Some((Status::Crash, format!("signal {sig}"))),
        (None, None) => return Some((Status::Crash, "exit_code unknown".into())),
    }
    match m.unreadable {
        Some(MetricRead::NonFinite) => Some((Status::Crash, "non_finite_metric".into())),
        Some(_) => Some((Status::Crash, "no_metric".into())),
        None => None,
    }
}

/// docs/CONTRACT.md §7 step 7: timeout; crash; a baseline or a re-check as measured;
/// discarded (a constraint, not better than the best, below `min_improvement`, within the
/// noise); else kept. Returns the comparison with the best when there was one.
pub(super) fn decide(
    m: &Measured,
    cfg: &Config,
    kind: Kind,
    against: &Against,
) -> (Verdict, Option<Decision>) {
    let mut flags = Vec::new();
    if m.leaked {
        flags.push("leaked_processes".to_string());
    }
    if let Some((status, reason)) = failed(m) {
        let v = Verdict {
            status,
            metric: None,
            reason: Some(reason),
            flags,
        };
        return (v, None);
    }
    let metric = median(&m.samples);
    let verdict = |status: Status, reason: Option<String>, flags: Vec<String>| Verdict {
        status,
        metric: Some(metric),
        reason,
        flags,
    };
    let simplify = match kind {
        Kind::Baseline => return (verdict(Status::Baseline, None, flags), None),
        Kind::Recheck => return (verdict(Status::Recheck, None, flags), None),
        Kind::Candidate { simplify } => simplify,
    };
    if let Some(c) = violated(&cfg.constraints, &m.metrics) {
        let d = against.compare(&m.samples, cfg, simplify);
        return (
            verdict(Status::Discarded, Some(constraint_reason(c, m)), flags),
            d,
        );
    }
    let Some(d) = against.compare(&m.samples, cfg, simplify) else {
        // No best to beat (only possible with a hand-edited ledger): the run is the best.
        return (verdict(Status::Kept, None, flags), None);
    };
    if passes(d.gain, d.threshold, simplify) {
        if simplify {
            flags.push(SIMPLIFICATION.to_string());
        }
        if suspicious_jump(&Jump {
            metric,
            best: d.best_level,
            gain: d.gain,
            earlier: &against.scope.kept_gains,
            noise: d.noise.map(|n| n.sd),
        }) {
            flags.push(SUSPICIOUS_JUMP.to_string());
        }
        return (verdict(Status::Kept, None, flags), Some(d));
    }
    let reason = discard_reason(&d, cfg, against, simplify);
    (verdict(Status::Discarded, Some(reason), flags), Some(d))
}

/// Why a candidate that ran cleanly was not kept.
fn discard_reason(d: &Decision, cfg: &Config, against: &Against, simplify: bool) -> String {
    let best_run = against.best().map_or(0, |b| b.0);
    let nm = d.noise_margin.unwrap_or(0.0);
    let pct = short_number(cfg.confidence * 100.0);
    if simplify {
        return format!(
            "worse than best beyond the noise (gain {} < -{} at {pct}% confidence)",
            short_number(d.gain),
            short_number(nm)
        );
    }
    if d.gain <= 0.0 {
        return format!(
            "not better than best (#{best_run} {})",
            short_number(d.best_level)
        );
    }
    if d.gain <= d.min_improvement && d.min_improvement >= nm {
        let of = match cfg.min_improvement {
            MinImprovement::Percent(p) => {
                format!(
                    "{p}% of {} = {}",
                    short_number(d.best_level),
                    short_number(d.min_improvement)
                )
            }
            MinImprovement::Absolute(_) => short_number(d.min_improvement),
        };
        return format!(
            "below min_improvement (gain {} < {of})",
            short_number(d.gain)
        );
    }
    format!(
        "within noise (gain {} <= {} at {pct}% confidence)",
        short_number(d.gain),
        short_number(nm)
    )
}

/// The flag of a keep that looks too good.
pub const SUSPICIOUS_JUMP: &str = "suspicious_jump";

/// A kept gain, and what it is measured against.
#[derive(Debug, Clone, Copy)]
pub struct Jump<'a> {
    pub metric: f64,
    /// The best's level before the keep.
    pub best: f64,
    /// The gain (positive).
    pub gain: f64,
    /// Gains of the earlier keeps since the baseline that improved the best.
    pub earlier: &'a [f64],
    /// The noise of one sample, when known.
    pub noise: Option<f64>,
}

/// A one-step gain of at least this share of the best's magnitude is suspicious anyway.
const JUMP_SHARE: f64 = 0.5;
/// ...and one of at least this share, when it is also `JUMP_FACTOR` times the usual step.
const JUMP_SHARE_MIN: f64 = 0.2;
const JUMP_FACTOR: f64 = 10.0;
/// The usual step is the median of at least this many earlier gains.
const JUMP_MIN_KEEPS: usize = 3;

/// Too good to be true: a perfect score out of nowhere; a gain of half the metric in one step;
/// or a gain of a fifth of it that is also ten times the usual step, where the usual step is
/// the larger of the median earlier gain and the noise (tiny earlier gains inside the noise
/// are no yardstick). Often work moved out of the measured region, caching, fewer inputs, a
/// printed metric or a changed harness, rather than a breakthrough.
pub fn suspicious_jump(j: &Jump) -> bool {
    if j.metric == 0.0 && j.best != 0.0 {
        return true;
    }
    let share = if j.best == 0.0 {
        return false;
    } else {
        j.gain / j.best.abs()
    };
    if share >= JUMP_SHARE {
        return true;
    }
    let typical = (j.earlier.len() >= JUMP_MIN_KEEPS)
        .then(|| median(j.earlier))
        .into_iter()
        .chain(j.noise)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    share >= JUMP_SHARE_MIN && typical.is_some_and(|t| t > 0.0 && j.gain > JUMP_FACTOR * t)
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

    /// A scope whose baseline (run `run`, code `base`) measured `best` three times: noise
    /// known and zero, so only `min_improvement` separates keeps from discards.
    fn scope_with_best(run: u64, best: f64, gains: &[f64]) -> Scope {
        let mut rec = Record::blank(run, Status::Baseline, Some(best));
        rec.samples = vec![best; 3];
        rec.code = Some("base".into());
        rec.setup = Some("s".into());
        let mut s = Scope::default();
        s.fold_owned(rec, crate::config::Direction::Lower);
        s.kept_gains = gains.to_vec();
        s
    }

    fn against(s: &Scope) -> Against<'_> {
        Against {
            scope: s,
            setup: Some("s"),
            key: Some("s/new"),
            prior: &[],
        }
    }

    const CANDIDATE: Kind = Kind::Candidate { simplify: false };

    fn dec(m: &Measured, c: &Config, kind: Kind, s: &Scope) -> Verdict {
        decide(m, c, kind, &against(s)).0
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
        let v = dec(&m, &c, CANDIDATE, &s);
        assert_eq!(
            (v.status, v.reason.as_deref()),
            (Status::Crash, Some("interrupted"))
        );
        assert_eq!(v.flags, ["leaked_processes"]);
        assert_eq!(v.metric, None);
        m.interrupted = false;
        assert_eq!(dec(&m, &c, CANDIDATE, &s).status, Status::Timeout);
        m.timed_out = false;
        m.exit_code = Some(3);
        assert_eq!(
            dec(&m, &c, CANDIDATE, &s).reason.as_deref(),
            Some("exit_code 3")
        );
        m.exit_code = None;
        m.signal = Some(9);
        assert_eq!(
            dec(&m, &c, CANDIDATE, &s).reason.as_deref(),
            Some("signal 9")
        );
        let mut m = ok(&[]);
        m.unreadable = Some(MetricRead::Missing);
        assert_eq!(
            dec(&m, &c, CANDIDATE, &s).reason.as_deref(),
            Some("no_metric")
        );
        m.unreadable = Some(MetricRead::NonFinite);
        assert_eq!(
            dec(&m, &c, CANDIDATE, &s).reason.as_deref(),
            Some("non_finite_metric")
        );
    }

    #[test]
    fn keep_discard_and_margins() {
        let s = scope_with_best(4, 1.0, &[]);
        let c = cfg("");
        assert_eq!(dec(&ok(&[0.9]), &c, CANDIDATE, &s).status, Status::Kept);
        let v = dec(&ok(&[1.0]), &c, CANDIDATE, &s);
        assert_eq!(v.status, Status::Discarded);
        assert_eq!(v.reason.as_deref(), Some("not better than best (#4 1)"));
        assert_eq!(v.metric, Some(1.0));
        assert_eq!(
            dec(&ok(&[0.9]), &c, Kind::Baseline, &s).status,
            Status::Baseline
        );

        let c = cfg("min_improvement = \"1%\"\n");
        assert_eq!(c.min_improvement, MinImprovement::Percent(1.0));
        let v = dec(&ok(&[0.995]), &c, CANDIDATE, &s);
        assert_eq!(v.status, Status::Discarded);
        assert_eq!(
            v.reason.as_deref(),
            Some("below min_improvement (gain 0.005 < 1% of 1 = 0.01)")
        );
        assert_eq!(dec(&ok(&[0.99]), &c, CANDIDATE, &s).status, Status::Kept);
        let c = cfg("min_improvement = 0.2\n");
        let v = dec(&ok(&[0.9]), &c, CANDIDATE, &s);
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
        let v = dec(&m, &c, CANDIDATE, &s);
        assert_eq!(v.status, Status::Discarded);
        assert_eq!(v.reason.as_deref(), Some("constraint memory_gb <= 44"));
        m.metrics.insert("memory_gb".into(), 44.0);
        assert_eq!(dec(&m, &c, CANDIDATE, &s).status, Status::Kept);
        m.metrics.clear();
        m.unread.insert("memory_gb".into(), Secondary::Missing);
        let v = dec(&m, &c, CANDIDATE, &s);
        assert_eq!(
            v.reason.as_deref(),
            Some("constraint memory_gb <= 44 (not found)")
        );
        // A baseline is the reference: recorded whatever the constraint says.
        assert_eq!(dec(&m, &c, Kind::Baseline, &s).status, Status::Baseline);
    }

    fn jump(metric: f64, best: f64, earlier: &[f64], noise: Option<f64>) -> bool {
        suspicious_jump(&Jump {
            metric,
            best,
            gain: best - metric,
            earlier,
            noise,
        })
    }

    #[test]
    fn suspicious_jumps() {
        // Tiny earlier gains are no yardstick for an ordinary 10 % step.
        assert!(!jump(8.94, 10.0, &[0.01, 0.02, 0.01], None));
        // A fifth of the metric at ten times the usual step is.
        assert!(jump(7.9, 10.0, &[0.1, 0.2, 0.1], None));
        // ...unless the noise is that large: then the step is not unusual.
        assert!(!jump(7.9, 10.0, &[0.1, 0.2, 0.1], Some(0.5)));
        // The noise alone is a yardstick too.
        assert!(jump(7.9, 10.0, &[], Some(0.1)));
        assert!(
            !jump(7.9, 10.0, &[0.1, 0.1], None),
            "fewer than 3 earlier gains"
        );
        // Half the metric in one step, or a perfect score.
        assert!(jump(5.0, 10.0, &[], None));
        assert!(jump(0.0, 0.3, &[], None));
        assert!(!jump(0.0, 0.0, &[], None));
        // Through `decide`: the flag on a keep.
        let c = cfg("");
        let s = scope_with_best(0, 10.0, &[0.1, 0.2, 0.1]);
        assert!(dec(&ok(&[9.6]), &c, CANDIDATE, &s).flags.is_empty());
        assert_eq!(dec(&ok(&[7.9]), &c, CANDIDATE, &s).flags, [SUSPICIOUS_JUMP]);
    }

    fn normal(seed: u64, n: usize, mean: f64, sd: f64) -> Vec<f64> {
        crate::noise::normal_draws(seed, n, mean, sd)
    }

    /// A scope whose baseline measured N(level, sd²) `n` times, after which 12 worse changes
    /// were discarded on 2 samples each: a session's worth of noise evidence (df n + 11).
    fn noisy_scope(seed: u64, level: f64, sd: f64, n: usize) -> Scope {
        let record = |run: u64, status: Status, code: String, samples: Vec<f64>| {
            let mut rec = Record::blank(run, status, Some(median(&samples)));
            rec.samples = samples;
            rec.code = Some(code);
            rec.setup = Some("s".into());
            rec
        };
        let mut s = Scope::default();
        let direction = crate::config::Direction::Lower;
        let base = normal(seed, n, level, sd);
        s.fold_owned(record(0, Status::Baseline, "base".into(), base), direction);
        for i in 1..=12 {
            let worse = normal(seed * 100 + i, 2, level + 3.0 * sd, sd);
            s.fold_owned(
                record(i, Status::Discarded, format!("d{i}"), worse),
                direction,
            );
        }
        s
    }

    #[test]
    fn a_gain_inside_the_noise_is_not_kept_and_says_so() {
        let c = cfg("");
        let s = noisy_scope(1, 10.0, 1.0, 5);
        let (v, d) = decide(&ok(&[9.5]), &c, CANDIDATE, &against(&s));
        let d = d.unwrap();
        assert_eq!(v.status, Status::Discarded);
        assert!(
            v.reason
                .as_deref()
                .unwrap()
                .starts_with("within noise (gain "),
            "{v:?}"
        );
        assert!(d.noise_margin.unwrap() > 1.0 && d.threshold == d.noise_margin.unwrap());
        assert!(!d.confident);
        assert_eq!((d.samples, d.best_samples), (1, 5));
    }

    #[test]
    fn a_real_small_win_is_kept_under_repeats() {
        // True effect 3 sd; with 5 samples a side it clears the 95 % margin in most seeds.
        let c = cfg("");
        let kept = (0..50)
            .filter(|&seed| {
                let s = noisy_scope(seed, 10.0, 1.0, 5);
                let m = ok(&normal(seed + 1000, 5, 7.0, 1.0));
                dec(&m, &c, CANDIDATE, &s).status == Status::Kept
            })
            .count();
        assert!(kept >= 40, "kept {kept} of 50");
    }

    #[test]
    fn a_neutral_change_is_rarely_kept_under_auto() {
        let c = cfg("");
        let mut keeps = 0;
        for seed in 0..400 {
            let s = noisy_scope(seed, 10.0, 1.0, 3);
            let draws = normal(seed + 7777, 5, 10.0, 1.0);
            let a = against(&s);
            let mut n = 1;
            while n < 5 {
                let d = a.compare(&draws[..n], &c, false).unwrap();
                if next_sample(&d, false) != Next::More {
                    break;
                }
                n += 1;
            }
            if dec(&ok(&draws[..n]), &c, CANDIDATE, &s).status == Status::Kept {
                keeps += 1;
            }
        }
        // At most the 5 % the confidence allows (20 of 400), with 1.5 standard deviations of
        // sampling slack: stopping early only when hopeless adds no second chance to a keep.
        assert!(keeps <= 26, "{keeps} of 400 neutral changes kept");
    }

    #[test]
    fn adaptive_repeats_stop_early_on_a_hopeless_candidate_and_go_on_when_open() {
        let c = cfg("");
        let s = noisy_scope(3, 10.0, 1.0, 3);
        let a = against(&s);
        let hopeless = a.compare(&[14.0], &c, false).unwrap();
        assert_eq!(next_sample(&hopeless, false), Next::Hopeless);
        let open = a.compare(&[9.0], &c, false).unwrap();
        assert_eq!(next_sample(&open, false), Next::More);
        let promising = a.compare(&[4.0, 4.2], &c, false).unwrap();
        assert_eq!(
            next_sample(&promising, false),
            Next::More,
            "a keep is decided on every sample it may take"
        );
        // Unknown noise: another sample, whatever the gain.
        let blind = Scope {
            best: Some(Record::blank(0, Status::Baseline, Some(10.0))),
            ..Scope::default()
        };
        let d = against(&blind).compare(&[14.0], &c, false).unwrap();
        assert_eq!((d.noise, next_sample(&d, false)), (None, Next::More));
        // A metric that never varies needs one sample.
        let exact = scope_with_best(0, 10.0, &[]);
        let d = against(&exact).compare(&[9.0], &c, false).unwrap();
        assert_eq!(next_sample(&d, false), Next::Clear);
    }

    #[test]
    fn a_simplification_ties_within_the_noise_and_a_recheck_is_never_kept() {
        let c = cfg("");
        let s = noisy_scope(5, 10.0, 1.0, 5);
        let simplify = Kind::Candidate { simplify: true };
        let v = dec(&ok(&[10.3, 10.2]), &c, simplify, &s);
        assert_eq!(
            (v.status, v.flags.clone()),
            (Status::Kept, vec![SIMPLIFICATION.to_string()])
        );
        let v = dec(&ok(&[10.3, 10.2]), &c, CANDIDATE, &s);
        assert_eq!(v.status, Status::Discarded);
        let v = dec(&ok(&[16.0, 15.0]), &c, simplify, &s);
        assert!(
            v.reason
                .unwrap()
                .starts_with("worse than best beyond the noise")
        );
        let v = dec(&ok(&[1.0, 1.0, 1.0]), &c, Kind::Recheck, &s);
        assert_eq!((v.status, v.metric), (Status::Recheck, Some(1.0)));
    }

    #[test]
    fn a_retried_edit_is_judged_on_all_its_samples() {
        let c = cfg("");
        let s = noisy_scope(9, 10.0, 1.0, 5);
        let lucky = [7.0, 7.2];
        let fresh = dec(&ok(&lucky), &c, CANDIDATE, &s);
        assert_eq!(fresh.status, Status::Kept);
        let a = Against {
            prior: &[10.5, 10.1, 9.9, 10.2],
            ..against(&s)
        };
        let (v, d) = decide(&ok(&lucky), &c, CANDIDATE, &a);
        assert_eq!(v.status, Status::Discarded, "{v:?}");
        assert_eq!(d.unwrap().samples, 6);
    }
}
