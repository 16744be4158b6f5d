//! `autoresearch run`: one experiment step (docs/CONTRACT.md §7) — commit the target change,
//! evaluate it under the budget, keep or revert, record. The step itself lives in `engine`; this
//! file is the command line, the spinner and the views. The `reason` strings and flags are listed
//! in the `engine` module header.
//!
//! Exit codes: 0 whatever the experiment's outcome (kept, discarded, crash, timeout are data);
//! 2 when the step is refused before anything is committed (`wrong_branch`, `out_of_scope`,
//! `protected_changed`, `no_changes`, `dirty_tree`, `config_invalid`...); 1 for `loop_running`,
//! `git_error`, `io_error`, `lock_timeout`, and for `interrupted`: Ctrl-C stops the eval, the
//! run is recorded as a crash and reverted, and the error envelope still carries it in `data`.

use clap::Args;

use autoresearch::config::Repeats;
use autoresearch::engine::{self, Decision, Event, Recheck, RunOutput, StepOptions};
use autoresearch::error::{AppError, Code, Result};
use autoresearch::ledger::{RunRef, Status};

use super::args::SummaryArgs;
use crate::coach;
use crate::ctx::Ctx;
use crate::output::{
    Human, Output, Printer, Spinner, fmt_approx, fmt_delta, fmt_metric, metric_or_dash,
};

#[derive(Debug, Args)]
#[command(after_long_help = "What it does:
  1. takes the loop locks (one `run` at a time per branch and per work tree; a dead holder
     on the branch is taken over)
  2. checks the branch (creates the configured one at HEAD if it does not exist)
  3. with no baseline on this branch, evaluates HEAD as the baseline
  4. otherwise refuses changes outside the target or to protected files
  5. commits the target change as `autoresearch #<run>: <summary>`
  6. runs the eval under the time budget (whole process group, stdin /dev/null): a baseline
     `baseline_repeats` times; a change `repeats` times, or with \"auto\" until it is
     hopeless or has `max_repeats` samples
  7. decides: timeout, crash, recheck (code measured before), discarded, or kept (the gain over
     the best must exceed both min_improvement and what the noise can explain)
  8. reverts a run that is not kept (the commit stays at refs/autoresearch/runs/<run>)
  9. records it in .autoresearch/experiments.jsonl

Examples:
  autoresearch run -m \"baseline\"
  autoresearch run -m \"halve the learning rate: loss plateaus early\"
  git diff | autoresearch run --summary-file -
  autoresearch run --recheck -m \"noise check\"      re-measure HEAD; never kept
  autoresearch run --recheck 12 -m \"is #12 real?\"
  autoresearch run --simplify -m \"drop the warmup branch\"
  autoresearch run --baseline -m \"new GPU driver\"")]
pub struct RunArgs {
    #[command(flatten)]
    pub summary: SummaryArgs,
    /// Evaluations for this run, 1 to 1000 or `auto` (overrides `repeats`); the metric is their
    /// median.
    #[arg(long, value_name = "N|auto", value_parser = parse_repeat)]
    pub repeat: Option<Repeats>,
    /// Evaluate HEAD even though the target has no changes (recorded as a re-check).
    #[arg(long)]
    pub allow_empty: bool,
    /// Re-evaluate HEAD's code (that RUN measured, when given; `RUN@WORKER` for another
    /// worker's run): recorded as `recheck`, never kept; its samples join the evidence for that
    /// code.
    #[arg(long, value_name = "RUN", num_args = 0..=1, value_parser = super::args::parse_run, conflicts_with_all = ["baseline", "simplify"])]
    pub recheck: Option<Option<RunRef>>,
    /// Keep the change on a tie with the best within the noise, when it removes more lines
    /// than it adds (flag `simplification`).
    #[arg(long)]
    pub simplify: bool,
    /// Do not revert a run that is not kept; leave the commit on the branch.
    #[arg(long)]
    pub no_revert: bool,
    /// Record a new baseline on the current commit (e.g. after the hardware changed).
    #[arg(long)]
    pub baseline: bool,
    /// Lines of output returned in `log_tail` when the run crashes or times out.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub tail: usize,
}

/// `gain 0.42 > 0.31 needed · noise ±0.18 (df 14) · 3 vs 5 samples · confident`
fn decision_line(d: &Decision) -> String {
    let cmp = if d.gain > d.threshold { ">" } else { "≤" };
    let noise = match &d.noise {
        Some(n) => format!("noise ±{} (df {})", fmt_approx(n.sd), n.df),
        None => "noise unknown".to_string(),
    };
    let stopped = d
        .stopped
        .as_deref()
        .map(|s| format!(", stopped: {s}"))
        .unwrap_or_default();
    format!(
        "gain {} {cmp} {} needed · {noise} · {} vs {} samples{stopped} · {}",
        fmt_delta(d.gain),
        fmt_approx(d.threshold),
        d.samples,
        d.best_samples,
        if d.confident {
            "confident"
        } else {
            "not confident"
        }
    )
}

/// `#20 recorded 0.785; now 0.88 over 6 samples (was 0.785)`
fn recheck_line(r: &Recheck) -> String {
    let level = metric_or_dash(r.level);
    match (r.recorded_run, r.recorded) {
        (Some(run), Some(m)) => format!(
            "#{run} recorded {}; its code now measures {level} over {} samples",
            fmt_metric(m),
            r.samples
        ),
        _ => format!("measures {level} over {} samples", r.samples),
    }
}

/// `--recheck RUN@WORKER` as this ledger's run number (the engine checks the code): a plain
/// number goes through as it is, so a missing one gets the engine's own error.
fn recheck_of(
    loaded: &autoresearch::project::Loaded,
    which: Option<&Option<RunRef>>,
) -> Result<Option<Option<u64>>> {
    Ok(match which {
        None => None,
        Some(None) => Some(None),
        Some(Some(RunRef::Local(run))) => Some(Some(*run)),
        Some(Some(r)) => {
            // Only a worker's run gets here: `missing` is for a local number.
            let missing = |run| {
                AppError::new(
                    Code::RunNotFound,
                    format!("No run #{run} in the ledger: nothing to re-check."),
                    "See the runs with `autoresearch log`.",
                )
            };
            Some(Some(super::args::find_run(&loaded.ledger, r, missing)?.run))
        }
    })
}

fn parse_repeat(s: &str) -> std::result::Result<Repeats, String> {
    Repeats::parse(s).ok_or_else(|| format!("`{s}` is not a whole number from 1 to 1000 or `auto`"))
}

impl Output for RunOutput {
    fn failure(&self) -> Option<AppError> {
        self.interrupted().then(|| {
            AppError::new(
                Code::Interrupted,
                format!(
                    "Interrupted: run #{} was stopped and recorded as a crash{}.",
                    self.run,
                    if self.reverted {
                        "; the branch is back where it was, and the edit is in the work tree again, uncommitted"
                    } else {
                        ""
                    }
                ),
                "Run `autoresearch run` again when you are ready.",
            )
        })
    }
}

pub fn run(ctx: &Ctx, args: &RunArgs) -> Result<RunOutput> {
    // Before anything else: from here on Ctrl-C stops the eval's group instead of killing us
    // and orphaning it.
    autoresearch::eval::install_interrupt_handler();
    let loaded = ctx.load()?;
    let summary = args.summary.read(ctx)?;
    if summary.is_empty() && !args.baseline {
        ctx.warn("No summary given: pass `-m \"<what was tried and why>\"` so the ledger says what each run was.");
    }
    let opts = StepOptions {
        summary,
        repeats: args.repeat,
        allow_empty: args.allow_empty,
        recheck: recheck_of(&loaded, args.recheck.as_ref())?,
        simplify: args.simplify,
        no_revert: args.no_revert,
        baseline: args.baseline,
        tail: args.tail,
    };
    let mut spinner = Spinner::new();
    let out = engine::step(&loaded, &opts, &mut |e| match e {
        Event::Warning(w) => ctx.warn(w),
        Event::BranchCreated(b) => ctx.hint(coach::branch_created(&b)),
        progress => spinner.follow("run", &progress),
    });
    spinner.finish();
    let out = out?;
    ctx.hints(coach::after_run(
        &out,
        &loaded.config.target_files,
        args.no_revert,
    ));
    Ok(out)
}

impl Human for RunOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let status = p.paint.status(self.status);
        let metric = metric_or_dash(self.metric);
        let delta = self
            .delta
            .map(|d| format!("  (Δ {})", fmt_delta(d)))
            .unwrap_or_default();
        p.line(format!("run #{} {status} {metric}{delta}", self.run))?;
        const W: usize = 8;
        if !self.summary.is_empty() {
            p.kv("summary", W, &self.summary)?;
        }
        if let Some(r) = &self.reason {
            p.kv("reason", W, r)?;
        }
        if !self.samples.is_empty() {
            let s: Vec<String> = self.samples.iter().map(|v| fmt_metric(*v)).collect();
            p.kv("samples", W, format!("{} (median decides)", s.join(", ")))?;
        }
        if !self.metrics.is_empty() {
            let m: Vec<String> = self
                .metrics
                .iter()
                .map(|(k, v)| format!("{k}={}", fmt_metric(*v)))
                .collect();
            p.kv("metrics", W, m.join("  "))?;
        }
        if let Some(d) = &self.decision {
            p.kv("decision", W, decision_line(d))?;
        }
        if let Some(r) = &self.recheck {
            p.kv("code", W, recheck_line(r))?;
        }
        if let Some(b) = &self.best_after {
            p.kv(
                "best",
                W,
                format!("#{} {}", b.run, metric_or_dash(b.metric)),
            )?;
        }
        if let Some(c) = &self.commit {
            let short = &c[..c.len().min(10)];
            let note = match (self.reverted, self.status) {
                (true, _) => format!(" (reverted; kept at refs/autoresearch/runs/{})", self.run),
                (false, Status::Kept) => " (on the branch)".to_string(),
                _ => String::new(),
            };
            p.kv("commit", W, format!("{short}{note}"))?;
        }
        if let Some(d) = self.duration_s {
            p.kv("time", W, format!("{d:.2}s"))?;
        }
        if !self.flags.is_empty() {
            let flags = p.paint.yellow(&self.flags.join(", "));
            p.kv("flags", W, flags)?;
        }
        p.kv("log", W, &self.log)?;
        if let Some(tail) = self.log_tail.as_deref().filter(|t| !t.is_empty()) {
            p.line(p.paint.dim("--- last lines of the output ---"))?;
            for l in tail.lines() {
                p.line(format!("  {l}"))?;
            }
        }
        Ok(())
    }
}
