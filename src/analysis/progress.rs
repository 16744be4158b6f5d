//! The detectors that follow one branch's runs in order: `stuck_streak`, `plateau`,
//! `keep_within_noise` and the code half of `reversal`.
//!
//! The running best here is the recorded metric of the latest baseline, then of each keep that
//! beats it (direction-aware): the numbers an agent sees run by run. The ledger's own best
//! rests on levels (medians of every sample of a code, docs/CONTRACT.md §5), which a re-check
//! can move; these detectors ask a simpler question of the history as it was written. A keep
//! flagged `simplification` becomes the best as the fold does (it tied it with less code);
//! one flagged `kept_not_better` and a retracted one never do.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Pattern, PatternKind, View, has_flag, is_experiment, num, replays};
use crate::ledger::{Record, SIMPLIFICATION, Status};

/// A streak is a pattern from this many experiments without a keep.
pub const STUCK_MIN: usize = 5;
/// The best not improving over this many experiments, some of them kept, is a plateau. (With
/// none kept, the stuck streak says it.)
pub const PLATEAU_RUNS: usize = 30;
/// The latest this many keeps since the baseline, together gaining less than one noise sd,
/// are a plateau.
pub const PLATEAU_KEEPS: usize = 3;
/// A keep whose gain over the best before it is below this many noise sds is within the
/// noise. One sd: the spread of a single sample, so the gain is smaller than what one
/// evaluation varies by. The decision rule can still keep it rightly when both sides have many
/// samples (its margin shrinks with √n); the pattern states the fact, the samples decide.
pub const KEEP_NOISE_SDS: f64 = 1.0;

const KEPT_NOT_BETTER: &str = "kept_not_better";

/// A no-keep streak, the run before it that was kept (or the baseline), and the one that ended
/// it.
#[derive(Default)]
struct Streak {
    runs: Vec<u64>,
    after: Option<u64>,
    ended_by: Option<(u64, Status)>,
}

/// The best as the run-by-run numbers say: its metric and run.
type Best = Option<(f64, u64)>;

#[derive(Default)]
struct Walk<'a> {
    current: Streak,
    longest: Streak,
    best: Best,
    /// Experiments since the best last improved (or since the baseline), and the keeps among
    /// them.
    since_best: Vec<u64>,
    kept_since_best: Vec<u64>,
    /// The latest keeps since the baseline, with the best before each.
    last_keeps: VecDeque<(u64, Best)>,
    /// Keeps within the noise: run and gain.
    within: Vec<(u64, f64)>,
    /// The code of each state the target was in, with the ordinal of that state; the run that
    /// made each state (index + 1 = ordinal); the current state's code.
    states: HashMap<&'a str, usize>,
    state_runs: Vec<u64>,
    current_code: Option<&'a str>,
}

impl<'a> Walk<'a> {
    fn end_streak(&mut self, by: &Record) {
        let mut done = std::mem::take(&mut self.current);
        done.ended_by = Some((by.run, by.status));
        if done.runs.len() > self.longest.runs.len() {
            self.longest = done;
        }
        self.current.after = Some(by.run);
    }

    /// The target is now in the state `r` evaluated.
    fn set_state(&mut self, r: &'a Record) {
        match r.code.as_deref() {
            Some(c) if self.current_code == Some(c) => {}
            Some(c) => {
                self.state_runs.push(r.run);
                self.states.insert(c, self.state_runs.len());
                self.current_code = Some(c);
            }
            None if r.status == Status::Kept => {
                self.state_runs.push(r.run);
                self.current_code = None;
            }
            None => {}
        }
    }
}

/// One branch's records (indices into `view.records`), in ledger order. Experiments that went
/// back to an earlier state are added to `reversals`, so `exact_repeat` does not count them
/// twice.
pub(super) fn lane(
    view: &View,
    branch: Option<&str>,
    lane: &[usize],
    out: &mut Vec<Pattern>,
    reversals: &mut HashSet<usize>,
) {
    let dir = view.input.direction;
    let sd = view.input.noise_sd.filter(|s| s.is_finite() && *s > 0.0);
    let mut w = Walk::default();
    let mut found = Vec::new();
    for &i in lane {
        let r = &view.records[i];
        if r.status == Status::Baseline {
            let Some(m) = r.metric else { continue };
            w.end_streak(r);
            w.best = Some((m, r.run));
            w.since_best.clear();
            w.kept_since_best.clear();
            w.last_keeps.clear();
            w.set_state(r);
            continue;
        }
        if !is_experiment(r) {
            continue;
        }
        if let Some(c) = r.code.as_deref()
            && !replays(r)
            && w.current_code != Some(c)
            && let Some(&state) = w.states.get(c)
            && state < w.state_runs.len()
        {
            reversals.insert(i);
            found.push(
                reversal(view, r, w.state_runs[state - 1], &w.state_runs[state..]).on(branch),
            );
        }
        if view.is_keep(r) {
            w.end_streak(r);
            if let Some(m) = r.metric {
                keep(&mut w, r, m, dir, sd);
            }
        } else {
            w.current.runs.push(r.run);
            w.since_best.push(r.run);
        }
        if r.status == Status::Kept {
            // Retracted or not, a keep moved the branch.
            w.set_state(r);
        }
    }
    streaks(view, &w, out, branch);
    plateaus(view, &w, out, branch, dir, sd);
    if let (Some(sd), false) = (sd, w.within.is_empty()) {
        out.push(within(view, &w.within, sd).on(branch));
    }
    out.extend(found);
}

/// A keep with a metric: its gain against the best before it, and the best after it.
fn keep(w: &mut Walk, r: &Record, m: f64, dir: crate::config::Direction, sd: Option<f64>) {
    let simplified = has_flag(r, SIMPLIFICATION);
    let not_better = has_flag(r, KEPT_NOT_BETTER);
    let before = w.best;
    if let (Some((b, _)), Some(sd), false) = (before, sd, simplified || not_better) {
        let gain = dir.gain(m, b);
        if gain < KEEP_NOISE_SDS * sd {
            w.within.push((r.run, gain));
        }
    }
    w.last_keeps.push_back((r.run, before));
    if w.last_keeps.len() > PLATEAU_KEEPS {
        w.last_keeps.pop_front();
    }
    let improved = !not_better && before.is_none_or(|(b, _)| dir.better(m, b));
    if improved || (simplified && !not_better) {
        w.best = Some((m, r.run));
    }
    if improved {
        w.since_best.clear();
        w.kept_since_best.clear();
    } else {
        w.since_best.push(r.run);
        w.kept_since_best.push(r.run);
    }
}

fn streaks(view: &View, w: &Walk, out: &mut Vec<Pattern>, branch: Option<&str>) {
    let current = &w.current;
    let longest = &w.longest;
    if longest.runs.len() >= STUCK_MIN && longest.runs.len() > current.runs.len() {
        let ended = match longest.ended_by {
            Some((run, Status::Baseline)) => format!("the baseline {} ended it", view.run(run)),
            Some((run, _)) => format!("the keep {} ended it", view.run(run)),
            None => String::new(),
        };
        let since = match longest.after {
            Some(run) => format!(
                "The longest such streak: it followed {}, and {ended}.",
                view.run(run)
            ),
            None => format!("The longest such streak: it started the branch, and {ended}."),
        };
        out.push(streak(view, &longest.runs, since).on(branch));
    }
    if current.runs.len() >= STUCK_MIN {
        let longest_too = if current.runs.len() >= longest.runs.len() {
            ", and the longest"
        } else {
            ""
        };
        let since = match current.after {
            Some(run) => format!(
                "The current streak{longest_too}: nothing kept since {}.",
                view.run(run)
            ),
            None => format!("The current streak{longest_too}: nothing kept on this branch yet."),
        };
        out.push(streak(view, &current.runs, since).on(branch));
    }
}

fn streak(view: &View, runs: &[u64], detail: String) -> Pattern {
    let (first, last) = (runs[0], runs[runs.len() - 1]);
    Pattern::new(
        PatternKind::StuckStreak,
        format!(
            "{} experiments in a row without a keep ({})",
            runs.len(),
            view.span(first, last)
        ),
        detail,
        runs.to_vec(),
    )
}

fn plateaus(
    view: &View,
    w: &Walk,
    out: &mut Vec<Pattern>,
    branch: Option<&str>,
    dir: crate::config::Direction,
    sd: Option<f64>,
) {
    if let Some((best, best_run)) = w.best
        && w.since_best.len() >= PLATEAU_RUNS
        && !w.kept_since_best.is_empty()
    {
        let runs = &w.since_best;
        let kept = &w.kept_since_best;
        let mut all = vec![best_run];
        all.extend(runs);
        out.push(
            Pattern::new(
                PatternKind::Plateau,
                format!(
                    "The best ({}, {}) has not improved over the last {} experiments ({})",
                    view.run(best_run),
                    num(best),
                    runs.len(),
                    view.span(runs[0], runs[runs.len() - 1])
                ),
                format!(
                    "{} of them {} kept ({}) with a metric no better than {}.",
                    kept.len(),
                    if kept.len() == 1 { "was" } else { "were" },
                    view.run_list(kept),
                    num(best)
                ),
                all,
            )
            .on(branch),
        );
    }
    let (Some(sd), Some((now, now_run))) = (sd, w.best) else {
        return;
    };
    if w.last_keeps.len() < PLATEAU_KEEPS {
        return;
    }
    let Some((_, Some((from, from_run)))) = w.last_keeps.front().copied() else {
        return;
    };
    let gain = dir.gain(now, from);
    if gain < sd {
        let keeps: Vec<u64> = w.last_keeps.iter().map(|(r, _)| *r).collect();
        out.push(
            Pattern::new(
                PatternKind::Plateau,
                format!(
                    "The last {} keeps together gained {}, less than the noise sd {} ({})",
                    keeps.len(),
                    num(gain),
                    num(sd),
                    view.run_list(&keeps)
                ),
                format!(
                    "The best went from {} ({}) to {} ({}).",
                    num(from),
                    view.run(from_run),
                    num(now),
                    view.run(now_run)
                ),
                keeps,
            )
            .on(branch),
        );
    }
}

fn within(view: &View, list: &[(u64, f64)], sd: f64) -> Pattern {
    const SHOWN: usize = 5;
    let mut gains = list
        .iter()
        .take(SHOWN)
        .map(|(run, g)| {
            let sign = if *g >= 0.0 { "+" } else { "" };
            format!("{} {sign}{}", view.run(*run), num(*g))
        })
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        gains.push_str(&format!(" and {} more", list.len() - SHOWN));
    }
    let runs: Vec<u64> = list.iter().map(|(r, _)| *r).collect();
    Pattern::new(
        PatternKind::KeepWithinNoise,
        format!(
            "{} gained less than the noise sd {} ({})",
            crate::text::count(list.len(), "keep", "keeps"),
            num(sd),
            view.run_list(&runs)
        ),
        format!("Gain over the best before each, by recorded metric: {gains}."),
        runs,
    )
}

/// `r` evaluated the code of the state `state_run` made; `undone` were kept after it.
fn reversal(view: &View, r: &Record, state_run: u64, undone: &[u64]) -> Pattern {
    let mut runs = vec![state_run, r.run];
    runs.extend(undone);
    let title = format!(
        "{} went back to the target of {}, undoing {} ({})",
        view.run(r.run),
        view.run(state_run),
        crate::text::count(undone.len(), "keep", "keeps"),
        view.run_list(undone)
    );
    let detail = format!(
        "{} ({}) evaluated the same target content (code {}) as {}, the state before {} kept.",
        view.run(r.run),
        r.status.as_str(),
        r.code.as_deref().unwrap_or(""),
        view.run(state_run),
        if undone.len() == 1 {
            format!("{} was", view.run(undone[0]))
        } else {
            format!("{} were", view.run_list(undone))
        }
    );
    Pattern::new(PatternKind::Reversal, title, detail, runs)
}
