//! `autoresearch best`: the best experiment against the baseline, the improvement, and the code
//! change between them (a stat, or the patch with `--patch`).

use clap::Args;
use serde::Serialize;

use autoresearch::config::Direction;
use autoresearch::error::{AppError, Code, Result};
use autoresearch::git::{self, CodeDiff};
use autoresearch::ledger::{self, Brief, Record, Scope, Summary};
use autoresearch::project::Loaded;

use super::args::{DEFAULT_PATCH_BYTES, WorkerArgs};
use super::noise::NoiseView;
use super::status::noise_line;
use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, fmt_delta, metric_or_dash, run_line};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch best                 best vs baseline, with a diff stat
  autoresearch best --patch         ...and the full patch
  autoresearch best --branch autoresearch-fork-wide
  autoresearch best --worker gpu-03    worker gpu-03's best, brought by `sync`")]
pub struct BestArgs {
    /// Include the unified patch from the baseline to the best.
    #[arg(long)]
    pub patch: bool,
    /// The branch to report on (default: the current experiment branch).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Also one line per branch: the experiment branch and each fork, against its best.
    #[arg(long, conflicts_with = "branch")]
    pub all_branches: bool,
    /// Cut the patch after this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_PATCH_BYTES)]
    pub max_patch_bytes: usize,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

/// The improvement since the first baseline of the current comparison, when a later baseline
/// (same setup: new hardware, say) replaced it: the night's work stays visible.
#[derive(Debug, Clone, Serialize)]
pub struct SinceFirst {
    pub baseline: Brief,
    /// From that baseline to the best, in metric units, positive when better.
    pub improvement: Option<f64>,
    pub improvement_pct: Option<f64>,
}

impl SinceFirst {
    /// `None` when the current baseline is the first one.
    pub fn of(scope: &Scope, direction: Direction) -> Option<SinceFirst> {
        let origin = scope.origin.as_ref()?;
        if scope.baseline.as_ref().is_none_or(|b| b.run == origin.run) {
            return None;
        }
        let (improvement, improvement_pct) = match (origin.metric, scope.best_metric()) {
            (Some(o), Some(b)) => (
                Some(direction.gain(b, o)),
                ledger::improvement_pct(direction, o, b),
            ),
            _ => (None, None),
        };
        Some(SinceFirst {
            baseline: Brief::from(origin),
            improvement,
            improvement_pct,
        })
    }

    /// `+0.3 (20.000%) since #0`
    pub fn line(&self) -> String {
        let imp = self.improvement.map_or_else(|| "-".to_string(), fmt_delta);
        let pct = self
            .improvement_pct
            .map(|v| format!(" ({v:.3}%)"))
            .unwrap_or_default();
        format!(
            "{imp}{pct} since the first baseline {}",
            self.baseline.label()
        )
    }
}

#[derive(Debug, Serialize)]
pub struct BestOutput {
    pub branch: String,
    pub baseline: Option<Record>,
    pub best: Record,
    /// Gain from baseline to best in metric units, positive when better.
    pub improvement: Option<f64>,
    pub improvement_pct: Option<f64>,
    /// Experiments from the baseline to the best.
    pub runs_to_best: Option<u64>,
    /// Against the first baseline of the comparison, when a later one replaced it (null
    /// otherwise).
    pub since_first_baseline: Option<SinceFirst>,
    /// The noise of one sample under the best's setup, how it was measured, and the best's
    /// level over all its samples (re-checks included).
    pub noise: NoiseView,
    /// The code change from the baseline's commit to the best's.
    pub code: Option<CodeDiff>,
    /// With `--all-branches`: every branch's figures (null otherwise).
    pub branches: Option<super::branches::BranchesView>,
}

impl Output for BestOutput {}

pub fn run(ctx: &Ctx, args: &BestArgs) -> Result<BestOutput> {
    let loaded = ctx.load()?;
    let summary = ctx.summary(&loaded.ledger)?;
    let (out, warnings) = best(&loaded, &summary, args)?;
    ctx.warn_all(warnings);
    if out.code.as_ref().is_some_and(|c| c.patch_truncated) {
        ctx.hint(format!(
            "The patch was cut at {} bytes; pass `--max-patch-bytes <bytes>` to see more.",
            args.max_patch_bytes
        ));
    }
    let gained_before = out
        .since_first_baseline
        .as_ref()
        .filter(|s| s.improvement.is_some_and(|i| i > 0.0));
    if out.baseline.as_ref().is_some_and(|b| b.run == out.best.run) {
        if let Some(s) = gained_before {
            ctx.hint(format!(
                "Nothing beats the new baseline yet, and the work before it stands: {}. Next: one hypothesis, then `autoresearch run -m \"<what and why>\"`.",
                s.line()
            ));
        } else {
            ctx.hint("The baseline is still the best: try a different kind of change; see `autoresearch guide strategy`.");
        }
    } else if !args.patch {
        let worker = args
            .worker
            .worker
            .as_deref()
            .map_or_else(String::new, |w| format!(" --worker {w}"));
        ctx.hint(format!(
            "See the winning change with `autoresearch best --patch{worker}`."
        ));
    }
    Ok(out)
}

/// The best run of the branch asked for (else the branch `status` reports on) against its
/// baseline, with the code change between them. Returns the problems that did not stop it.
pub fn best(
    loaded: &Loaded,
    summary: &Summary,
    args: &BestArgs,
) -> Result<(BestOutput, Vec<String>)> {
    let writer = args.worker.writer(loaded, summary)?;
    let branch =
        super::args::report_branch(loaded, summary, args.branch.as_deref(), writer.as_ref());
    let scope = summary.scope(Some(&branch));
    let Some(best) = scope.best.clone() else {
        let msg = if scope.total == 0 {
            format!("No experiments on branch `{branch}` yet.")
        } else {
            format!("No baseline or kept experiment with a metric on branch `{branch}`.")
        };
        return Err(AppError::new(
            Code::NoExperiments,
            msg,
            "Run `autoresearch run -m \"baseline\"` to record the baseline (or `autoresearch log --all` to see other branches).",
        ));
    };
    let baseline = scope.baseline.clone();
    let direction = loaded.config.metric_direction;
    let (improvement, improvement_pct) =
        match (baseline.as_ref().and_then(|b| b.metric), best.metric) {
            (Some(b), Some(m)) => (
                Some(direction.gain(m, b)),
                ledger::improvement_pct(direction, b, m),
            ),
            _ => (None, None),
        };
    let mut warnings = Vec::new();
    let code = match (
        baseline.as_ref().and_then(|b| b.commit.as_deref()),
        best.commit.as_deref(),
    ) {
        (Some(from), Some(to)) => git::diff_commits(
            &loaded.project.repo,
            Some(from),
            to,
            args.patch,
            args.max_patch_bytes,
        )
        .map_err(|e| warnings.push(e.message))
        .ok(),
        _ => None,
    };
    let out = BestOutput {
        branch,
        runs_to_best: scope.runs_to_best(),
        since_first_baseline: SinceFirst::of(&scope, direction),
        noise: NoiseView::of(&scope),
        baseline,
        best,
        improvement,
        improvement_pct,
        code,
        branches: args
            .all_branches
            .then(|| super::branches::BranchesView::of(loaded, summary)),
    };
    Ok((out, warnings))
}

impl Human for BestOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        const W: usize = 12;
        let line = |r: &Record| run_line(&r.label(), r.metric, &r.summary);
        let best = p.paint.bold(&line(&self.best));
        p.kv("best", W, best)?;
        p.kv(
            "baseline",
            W,
            self.baseline
                .as_ref()
                .map_or_else(|| metric_or_dash(None), line),
        )?;
        p.improvement(W, self.improvement, self.improvement_pct)?;
        if let Some(s) = &self.since_first_baseline {
            p.kv("since first", W, s.line())?;
        }
        if let Some(n) = self.runs_to_best {
            p.kv("runs to best", W, n.to_string())?;
        }
        p.kv("noise", W, noise_line(&self.noise))?;
        p.kv("branch", W, &self.branch)?;
        if let Some(code) = &self.code {
            p.code_diff(code)?;
        }
        if let Some(b) = &self.branches {
            p.line("")?;
            b.human(p)?;
        }
        Ok(())
    }
}
