//! Cheap tells of a number made differently (docs/CONTRACT.md §7, flags): checks on a keep
//! that cost nothing and catch the usual ways an optimiser games its metric without touching a
//! protected file. Each is a flag with a hint, never a refusal: an honest change can trip one.
//!
//! - `metric_repeated`: the metric appears on more lines of a sample's output than in the
//!   baseline's first sample (the target printing the number itself, which then wins as the
//!   last match);
//! - `zero_variance`: every sample identical (three or more) while the same setup's noise is
//!   not zero (a constant printed, a cached result);
//! - `duration_collapsed`: the evaluation got more than 5 times faster per sample than the
//!   best's, and at least twice as much faster as the metric improved (work moved out of the
//!   measured region, fewer inputs).

use std::path::Path;

use super::measure::{Measured, SCAN_BYTES};
use crate::config::Direction;
use crate::ledger::Record;
use crate::metric;

pub const METRIC_REPEATED: &str = "metric_repeated";
pub const UNTRACKED_INPUTS: &str = "untracked_inputs";
pub const ZERO_VARIANCE: &str = "zero_variance";
pub const DURATION_COLLAPSED: &str = "duration_collapsed";

/// A sample this many times faster than the best's is a collapse...
const COLLAPSE: f64 = 5.0;
/// ...when the eval sped up at least this many times more than the metric improved.
const COLLAPSE_OVER_METRIC: f64 = 2.0;
/// Identical samples are telling from this many on.
const ZERO_VARIANCE_SAMPLES: usize = 3;

/// What a keep is compared with.
pub(super) struct Context<'a> {
    pub direction: Direction,
    /// The best before this run, and its level.
    pub best: Option<(&'a Record, f64)>,
    /// Lines of the baseline's first sample that hold the metric, if its log is still there.
    pub baseline_lines: Option<usize>,
    /// The setup's noise, when known.
    pub noise_sd: Option<f64>,
}

/// The tells of a kept run's measurements.
pub(super) fn tells(m: &Measured, ctx: &Context) -> Vec<&'static str> {
    let mut out = Vec::new();
    let most = m.metric_lines.iter().copied().max().unwrap_or(0);
    if ctx.baseline_lines.is_some_and(|b| b > 0 && most > b) {
        out.push(METRIC_REPEATED);
    }
    if m.samples.len() >= ZERO_VARIANCE_SAMPLES
        && m.samples.iter().all(|s| *s == m.samples[0])
        && ctx.noise_sd.is_some_and(|sd| sd > 0.0)
    {
        out.push(ZERO_VARIANCE);
    }
    if collapsed(m, ctx) {
        out.push(DURATION_COLLAPSED);
    }
    out
}

/// Per-sample time against the best's, and the metric's ratio over the same change.
fn collapsed(m: &Measured, ctx: &Context) -> bool {
    let Some((best, best_level)) = ctx.best else {
        return false;
    };
    let Some(best_s) = best.duration_s.filter(|_| !m.samples.is_empty()) else {
        return false;
    };
    let level = crate::noise::median(&m.samples);
    let best_n = best.samples.len().max(1) as f64;
    let now_n = m.samples.len().max(1) as f64;
    let (before, after) = (best_s / best_n, m.duration.as_secs_f64() / now_n);
    if before <= 0.0 || after <= 0.0 || after * COLLAPSE > before {
        return false;
    }
    // How many times better the metric got (≥ 1 for a gain); a sign change or a zero makes
    // the ratio meaningless, and the duration alone then decides.
    let improved = match ctx.direction {
        Direction::Lower if level > 0.0 && best_level > 0.0 => best_level / level,
        Direction::Higher if level > 0.0 && best_level > 0.0 => level / best_level,
        _ => 1.0,
    };
    before / after > COLLAPSE_OVER_METRIC * improved.max(1.0)
}

/// At most this many untracked files are named.
const UNTRACKED_SHOWN: usize = 8;

/// Untracked files outside the targets when a run is kept (the notebook aside): if the target
/// reads them, the result will not reproduce from its commit. The warning naming them, if any.
pub(super) fn untracked_inputs(repo: &git2::Repository, targets: &[String]) -> Option<String> {
    let (files, more) =
        crate::git::untracked_files(repo, UNTRACKED_SHOWN + targets.len() + 1).ok()?;
    let files: Vec<&String> = files
        .iter()
        .filter(|f| {
            !crate::config::is_target_in(targets, f) && f.as_str() != crate::project::PROGRAM_FILE
        })
        .collect();
    if files.is_empty() {
        return None;
    }
    let shown = crate::text::code_list(files.iter().take(UNTRACKED_SHOWN).map(|f| f.as_str()));
    let more = if more || files.len() > UNTRACKED_SHOWN {
        " and more"
    } else {
        ""
    };
    Some(format!(
        "Untracked files exist outside the targets: {shown}{more} (flag `{UNTRACKED_INPUTS}`). If the target reads any of them, this result will not reproduce from its commit: commit them on their own (and protect them if they are data), make the target self-contained, or ignore them in `.gitignore` if they are scratch."
    ))
}

/// Lines of the first sample of a run's log that hold the metric; `None` when the log is gone,
/// or too long to hold its first sample whole in the window read.
pub(super) fn first_sample_lines(log: &Path, name: &str) -> Option<usize> {
    if std::fs::metadata(log).ok()?.len() > SCAN_BYTES {
        return None;
    }
    let text = metric::read_log_range(log, 0, SCAN_BYTES).ok()?;
    let first = text.split("\n--- sample 2 ---").next().unwrap_or_default();
    let first = first
        .split("\n--- autoresearch:")
        .next()
        .unwrap_or_default();
    Some(metric::matching_lines(first, name))
}
