//! Coaching: the hints that tell an agent what to do next after an experiment, shared by
//! `record` and `run`, so an agent that reads nothing but envelopes still works the loop well.
//! The library decides and records; this turns its outcomes into next steps.

use autoresearch::engine::{
    DURATION_COLLAPSED, METRIC_REPEATED, RunOutput, SUSPICIOUS_JUMP, ZERO_VARIANCE,
};
use autoresearch::ledger::{INTERRUPTED, Record, SIMPLIFICATION, Scope, Status};

/// Hints, in the order they were thought of, without repeats.
#[derive(Default)]
pub struct Hints(Vec<String>);

impl Hints {
    fn add(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.0.contains(&text) {
            self.0.push(text);
        }
    }
}

impl IntoIterator for Hints {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The experiment branch was created by this step.
pub fn branch_created(branch: &str) -> String {
    format!("Created the experiment branch `{branch}` at HEAD and switched to it.")
}

/// Hints after a record was appended: stuck counters, integrity, periodic stock-taking.
/// `after` is the scope (branch) including the new record.
pub fn after_record(rec: &Record, after: &Scope, kept_not_better: bool) -> Hints {
    let mut h = Hints::default();
    status_hint(&mut h, rec, kept_not_better);
    if kept_not_better {
        h.add(
            "This kept run is not better than the best: keep only strict improvements, or record it as `discarded`.",
        );
    }
    stuck_hints(&mut h, after);
    h
}

/// Hints after `run` recorded an experiment: what happened to the code, where the output is,
/// what a flag means, then the same stuck counters as `record`. `targets` are the config's
/// target files: a reverted crash names the command that brings exactly them back.
pub fn after_run(out: &RunOutput, targets: &[String], no_revert: bool) -> Hints {
    let mut h = Hints::default();
    let (after, log) = (&out.scope, out.log.as_str());
    let reason = out.reason.as_deref().unwrap_or("");
    let parent = out.parent.as_deref().unwrap_or("<parent>");
    let flagged = |f: &str| out.flags.iter().any(|x| x == f);
    // The broken code is only worth bringing back when this step took it away: not when the
    // revert was skipped, stopped part-way or not asked for (the code is still there), nor when
    // nothing was committed (a re-check of HEAD).
    let restore = out.reverted.then(|| {
        format!(
            "git checkout {} -- {}",
            autoresearch::git::run_ref_name(out.run),
            autoresearch::text::shell_words(targets.iter().map(String::as_str))
        )
    });
    let undo = if out.reverted && reason == INTERRUPTED {
        " and reverted: the branch is back at the best, and your edit is in the work tree again, uncommitted".to_string()
    } else if out.reverted {
        " and reverted: the code is back at the best".to_string()
    } else if flagged("revert_skipped") || flagged("revert_incomplete") {
        "; NOT reverted (see the warning for the state left and how to undo it)".to_string()
    } else if no_revert {
        format!(
            "; not reverted (--no-revert): undo it with `git reset --keep {parent}` (your uncommitted notes stay), or build on it knowingly"
        )
    } else {
        String::new()
    };
    // Before anything that says "build on it".
    let suspicious = integrity_hints(&mut h, out);

    match out.status {
        Status::Discarded if reason.starts_with("within noise") => h.add(format!(
            "Discarded ({reason}){undo}: the gain may be real but noise explains it. If the idea matters, apply the same edit again: identical code is judged on all its samples, old and new. Otherwise try a bolder idea."
        )),
        Status::Discarded => h.add(format!(
            "Discarded ({reason}){undo}. Next: a different idea, then `autoresearch run -m \"<what and why>\"`."
        )),
        Status::Crash if reason == INTERRUPTED => h.add(format!(
            "Interrupted: the eval was stopped{undo}. Run `autoresearch run` again when ready (the interruption does not count as a failed idea)."
        )),
        Status::Crash | Status::Timeout if after.baseline.is_none() => h.add(format!(
            "The baseline did not run cleanly ({reason}): read `{log}`, fix the eval or the setup (`autoresearch doctor`), then `autoresearch run -m \"baseline\"` again."
        )),
        Status::Crash => h.add(match &restore {
            Some(cmd) => format!(
                "Crashed ({reason}){undo}. Read `log_tail` or `{log}`. If it is your slip (a typo, a wrong shape, a missing import), bring the code back with `{cmd}`, fix the slip and run again; if the idea itself fails (out of memory, divergence), drop it."
            ),
            None => format!(
                "Crashed ({reason}){undo}. Read `log_tail` or `{log}`; fix a trivial bug and retry once, otherwise drop the idea."
            ),
        }),
        Status::Timeout => h.add(format!(
            "Timed out{undo}. {TIMEOUT_CAUSES} The last lines of `log_tail` or `{log}` tell which. Too slow: make it cheaper or try another idea.{}",
            restore.as_ref().map_or_else(
                || " A hang: fix its cause, or drop the idea.".to_string(),
                |cmd| format!(" A hang from a slip: bring the code back with `{cmd}`, fix it and run again.")
            )
        )),
        Status::Recheck => recheck_hint(&mut h, out),
        Status::Kept if suspicious => h.add("Kept, but check it before building on it (see above)."),
        Status::Kept if flagged(SIMPLIFICATION) => h.add(
            "Kept as a simplification: it ties the best within the noise with less code. Build on it.",
        ),
        Status::Kept if noisy(out) => h.add(format!(
            "Kept: the new best. Before building on it, re-check it once: `autoresearch run --recheck -m \"recheck #{}\"`. The best's level then rests on more samples, so later wins are easier to prove, and a lucky keep is pulled back.",
            out.run
        )),
        status => status_hint_for(&mut h, status, false),
    }
    noise_hints(&mut h, out);
    if out.flags.iter().any(|f| f == "leaked_processes") {
        h.add(
            "The eval left processes running (they were killed): make the eval command wait for its children (e.g. `wait` in sh) and do not detach them (`setsid`, `nohup ... &`), so one run cannot disturb the next.",
        );
    }
    stuck_hints(&mut h, after);
    h
}

/// After a re-check: what the code measures now, and whether the best changed hands.
fn recheck_hint(h: &mut Hints, out: &RunOutput) {
    let Some(r) = &out.recheck else { return };
    let level = r.level.map_or_else(|| "-".to_string(), fmt_number);
    let what = match (r.recorded_run, r.recorded) {
        (Some(run), Some(m)) => format!(
            "#{run} recorded {}, re-measured {level} over {} samples",
            fmt_number(m),
            r.samples
        ),
        _ => format!("this code measures {level} over {} samples", r.samples),
    };
    let (before, after) = (out.best_before.as_ref(), out.best_after.as_ref());
    match (before, after) {
        (Some(b), Some(a)) if b.run != a.run => {
            let to = a.commit.as_deref().unwrap_or("<commit>");
            h.add(format!(
                "Re-check recorded (never kept): {what}. #{} is the best again, at {}; the branch still holds #{}'s code: go back with `git reset --keep {to}` unless you have reason to build on it.",
                a.run,
                metric_text(out.scope.best_level()),
                b.run
            ));
        }
        _ => h.add(format!(
            "Re-check recorded (never kept): {what}. Its samples now count in every decision against this code, and in the noise estimate."
        )),
    }
}

/// The hints of the integrity flags of a keep (`suspicious_jump` and the cheap tells), which
/// come before anything that says "build on it". Returns whether there was one.
fn integrity_hints(h: &mut Hints, out: &RunOutput) -> bool {
    let log = out.log.as_str();
    let flagged = |f: &str| out.flags.iter().any(|x| x == f);
    let suspicious = flagged(SUSPICIOUS_JUMP);
    if suspicious {
        h.add(format!(
            "Run #{} gained far more than the usual step and the noise (suspicious_jump). Before building on it, rule out the usual causes: work moved out of the measured region, caching between evaluations, fewer inputs evaluated, a metric printed rather than computed, a changed eval harness or data. Re-check it (`autoresearch run --recheck -m \"recheck #{}\"`) and read `{log}`; see `autoresearch guide integrity`.",
            out.run, out.run
        ));
    }
    let tells: Vec<&str> = TELLS
        .iter()
        .filter(|(flag, _)| flagged(flag))
        .map(|(_, what)| *what)
        .collect();
    if !tells.is_empty() {
        h.add(format!(
            "Run #{} was kept, but {}: the number may be made differently, not better. Read `{log}` and the change (`autoresearch diff {}`) before building on it; undo it with `git reset --keep {}` if it games the metric; see `autoresearch guide integrity`.",
            out.run,
            tells.join("; "),
            out.run,
            out.parent.as_deref().unwrap_or("<parent>")
        ));
    }
    suspicious || !tells.is_empty()
}

/// The cheap tells (`engine::tells`), and what each says in a hint.
const TELLS: &[(&str, &str)] = &[
    (
        METRIC_REPEATED,
        "the metric appears on more lines of its output than in the baseline's (does the target print it?)",
    ),
    (
        ZERO_VARIANCE,
        "its samples are all identical although this eval is noisy (a constant or a cached result?)",
    ),
    (
        DURATION_COLLAPSED,
        "its evaluation got far faster than its metric improved (work moved out of the measured region, fewer inputs?)",
    ),
];

/// The decision saw noise: a keep deserves a second look before it is built on.
fn noisy(out: &RunOutput) -> bool {
    out.decision
        .as_ref()
        .and_then(|d| d.noise)
        .is_some_and(|n| n.sd > 0.0)
}

/// When the decision could not rely on the noise, or the noise swamps the metric.
fn noise_hints(h: &mut Hints, out: &RunOutput) {
    let Some(d) = &out.decision else { return };
    match &d.noise {
        None => h.add(
            "The noise is not measured yet, so this decision may be noise: measure it once with `autoresearch run --recheck -m \"noise check\"` (evaluates HEAD several times; never kept).",
        ),
        Some(n) if d.best_level != 0.0 && n.sd > TOO_NOISY * d.best_level.abs() => h.add(format!(
            "The eval is very noisy: one sample varies by ±{} on a metric of {}. Decisions need many samples; raise `max_repeats` (or `repeats`) in autoresearch.toml and commit that change alone, or make the eval steadier (more data, fixed seeds, a quiet machine). If it stays this noisy, tell the human the metric cannot separate small changes; see `autoresearch guide noise`.",
            fmt_number(n.sd),
            fmt_number(d.best_level)
        )),
        Some(_) => {}
    }
}

/// One sample's noise above this share of the metric makes small changes unmeasurable.
const TOO_NOISY: f64 = 0.25;

fn fmt_number(v: f64) -> String {
    autoresearch::text::short_number(v)
}

fn metric_text(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), fmt_number)
}

/// Why an eval runs out of time: the hint must not assume it was only slow.
const TIMEOUT_CAUSES: &str = "The change made the eval slower than the budget, or made it hang (an infinite loop, a deadlock, waiting on input).";

/// After `record`: the caller reverts by hand, and its commit is pinned at the run ref (the
/// target files are not known here, so they stay a placeholder).
fn status_hint(h: &mut Hints, rec: &Record, kept_not_better: bool) {
    match rec.status {
        Status::Crash => h.add(match rec.commit {
            Some(_) => format!(
                "Crashed: read the end of the eval's output. If it is your slip (a typo, a wrong shape, a missing import), fix the slip and run again; once you have undone the commit, `git checkout {} -- <target file>` brings its code back. Otherwise drop the idea.",
                autoresearch::git::run_ref_name(rec.run)
            ),
            None => "Crashed: read the end of the eval's output; fix a trivial bug and retry once, otherwise drop the idea.".to_string(),
        }),
        Status::Timeout => h.add(format!(
            "Timed out. {TIMEOUT_CAUSES} The last lines of its output tell which. Too slow: make it cheaper or try another idea; a hang: fix its cause, or drop the idea."
        )),
        status => status_hint_for(h, status, kept_not_better),
    }
}

fn status_hint_for(h: &mut Hints, status: Status, kept_not_better: bool) {
    match status {
        Status::Baseline => h.add(
            "Baseline recorded. Next: form one hypothesis, edit only the target file, then `autoresearch run -m \"<what and why>\"`.",
        ),
        Status::Kept if !kept_not_better => h.add(
            "Kept: this is the new best. Build on it: the next idea starts from this commit.",
        ),
        // Crash and timeout: `after_run` and `status_hint` say what each knows of the state.
        _ => {}
    }
}

/// Stuck counters and periodic stock-taking, from the branch's scope after the record.
fn stuck_hints(h: &mut Hints, after: &Scope) {
    let n = after.since_keep;
    if n >= 8 {
        h.add(format!(
            "{n} runs in a row without a keep: step back. Re-read `program.md`, try a bolder or an opposite idea, combine two near-misses, or simplify; see `autoresearch guide stuck`."
        ));
    } else if n >= 5 {
        h.add(format!(
            "{n} runs in a row without a keep: change the kind of change you are making; see `autoresearch guide stuck`."
        ));
    } else if n >= 3 {
        h.add(format!(
            "{n} runs in a row without a keep: re-read the kept changes (`autoresearch best --patch`) and `program.md` before the next idea."
        ));
    }
    if after.total > 0 && after.total.is_multiple_of(20) {
        h.add(format!(
            "{} runs on this branch: take stock with `autoresearch review` (patterns: repeats, dead ends, keeps within the noise; `--raw` is a prompt for a second model) and `autoresearch report` (the chart and the summary), and write what you learned into `program.md`.",
            after.total
        ));
    }
}
