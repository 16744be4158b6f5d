//! `autoresearch record`: append one experiment whose eval the caller ran itself. Same ledger
//! and same number rules as `run`; also pins the commit at `refs/autoresearch/runs/<run>`.

use std::collections::BTreeMap;

use clap::Args;

use autoresearch::engine::manual::{self, Recorded, Report};
use autoresearch::error::{AppError, Code, Result};
use autoresearch::ledger::Status;
use autoresearch::metric;

use super::args::{SummaryArgs, parse_metric_arg};
use crate::coach;
use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, fmt_delta, metric_or_dash};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch record --metric 0.9979 --status baseline --summary 'baseline'
  autoresearch record --metric 0.9912 --status kept -m 'halve the learning rate' --metrics memory_gb=41.2
  autoresearch record --status crash --summary 'OOM with batch 512'
  git diff HEAD~1 | autoresearch record --metric -3.5 --status discarded --summary-file -")]
pub struct RecordArgs {
    /// The metric value (a finite number; negative values work). Optional for crash/timeout.
    #[arg(long, allow_hyphen_values = true, value_name = "VALUE")]
    pub metric: Option<String>,
    /// baseline, kept, discarded, crash or timeout (aliases: keep, discard).
    #[arg(long, value_name = "STATUS")]
    pub status: String,
    #[command(flatten)]
    pub summary: SummaryArgs,
    /// A secondary metric, `name=value` (repeatable).
    #[arg(
        long = "metrics",
        value_name = "NAME=VALUE",
        allow_hyphen_values = true
    )]
    pub metrics: Vec<String>,
    /// The commit that was evaluated (default: HEAD).
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    /// The branch the run belongs to (default: the current one; required on a detached HEAD).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Wall time of the evaluation, in seconds (or a duration like 4m30s).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<String>,
}

/// `record`'s data: the record as written and the best before and after it.
pub type RecordOutput = Recorded;

impl Output for RecordOutput {}

impl Human for RecordOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let r = &self.record;
        let delta = r
            .delta
            .map(|d| format!(" (Δ {})", fmt_delta(d)))
            .unwrap_or_default();
        p.line(format!(
            "Recorded run #{} {} {}{delta}",
            r.run,
            p.paint.status(r.status),
            metric_or_dash(r.metric)
        ))?;
        if let Some(b) = &self.best_after {
            p.kv(
                "best",
                6,
                format!("#{} {}", b.run, metric_or_dash(b.metric)),
            )?;
        }
        Ok(())
    }
}

pub fn run(ctx: &Ctx, args: &RecordArgs) -> Result<RecordOutput> {
    let loaded = ctx.load()?;
    let status = parse_status(&args.status)?;
    let metric = metric_for(ctx, args.metric.as_deref(), status)?;
    let metrics = secondary_metrics(&args.metrics)?;
    let duration_s = args.duration.as_deref().map(parse_duration_s).transpose()?;
    if let Some(b) = &args.branch
        && !autoresearch::config::valid_branch_name(b)
    {
        return Err(AppError::new(
            Code::InvalidName,
            format!("`{b}` is not a valid branch name."),
            "Pass the name of the branch the run belongs to, e.g. `--branch autoresearch`.",
        ));
    }
    let summary = args.summary.read(ctx)?;
    let mut done = manual::record(
        &loaded,
        Report {
            status,
            metric,
            metrics,
            summary,
            commit: args.commit.clone(),
            branch: args.branch.clone(),
            duration_s,
        },
    )?;
    ctx.warn_all(std::mem::take(&mut done.warnings));
    ctx.hints(coach::after_record(
        &done.record,
        &done.scope,
        done.kept_not_better,
    ));
    // `record` means the caller runs the loop by hand: the next step is theirs, not `run`'s.
    ctx.hint(
        "Manual loop: edit the target and commit, run the eval within the time budget, compare with `autoresearch best`, then `autoresearch record` again; `autoresearch guide manual` has the steps.",
    );
    Ok(done)
}

fn parse_status(text: &str) -> Result<Status> {
    const SUGGESTION: &str = "Pass `--status baseline`, `kept`, `discarded`, `crash` or `timeout` (or `keep`/`discard`).";
    match Status::parse(text) {
        // A re-check is only a re-check when the code measured is known to be the same.
        Some(Status::Recheck) => Err(AppError::new(
            Code::InvalidStatus,
            "`recheck` cannot be recorded by hand: only `autoresearch run --recheck` knows the code it measured is the code measured before.",
            format!(
                "Re-measure with `autoresearch run --recheck -m \"<why>\"`, or record this evaluation as a normal run. {SUGGESTION}"
            ),
        )),
        Some(Status::Retraction) => Err(AppError::new(
            Code::InvalidStatus,
            "A retraction is not recorded by hand: it names the run it takes back.",
            format!("Use `autoresearch retract <run> -m \"<why>\"`. {SUGGESTION}"),
        )),
        Some(s) => Ok(s),
        None => Err(AppError::new(
            Code::InvalidStatus,
            format!("`{text}` is not a status."),
            SUGGESTION,
        )),
    }
}

/// `--metric`: required unless the run crashed or timed out (then it is checked and ignored).
fn metric_for(ctx: &Ctx, text: Option<&str>, status: Status) -> Result<Option<f64>> {
    match (text, status) {
        (Some(m), Status::Crash | Status::Timeout) => {
            parse_metric_arg(m, "--metric")?;
            ctx.warn(format!(
                "`--metric` is ignored for a `{}` run: its metric is recorded as null.",
                status.as_str()
            ));
            Ok(None)
        }
        (Some(m), _) => Ok(Some(parse_metric_arg(m, "--metric")?)),
        (None, Status::Crash | Status::Timeout) => Ok(None),
        (None, s) => Err(AppError::new(
            Code::InvalidMetric,
            format!("`--metric` is required for a `{}` run.", s.as_str()),
            format!(
                "Run `autoresearch record --metric <value> --status {}`, or use `--status crash` if the eval failed.",
                s.as_str()
            ),
        )),
    }
}

/// `--metrics name=value`, each checked like the metric itself.
fn secondary_metrics(pairs: &[String]) -> Result<BTreeMap<String, f64>> {
    let mut metrics = BTreeMap::new();
    for kv in pairs {
        let Some((name, value)) = kv.split_once('=') else {
            return Err(AppError::new(
                Code::InvalidMetric,
                format!("`--metrics {kv}` is not `name=value`."),
                "Pass secondary metrics as `--metrics memory_gb=41.2`.",
            ));
        };
        let name = name.trim();
        if !autoresearch::config::valid_metric_name(name) {
            return Err(AppError::new(
                Code::InvalidMetric,
                format!("`{name}` in `--metrics {kv}` is not a metric name."),
                "Use letters, digits, `_`, `.`, `-` or `/`, starting with a letter or `_`.",
            ));
        }
        metrics.insert(
            name.to_string(),
            parse_metric_arg(value.trim(), &format!("--metrics {name}"))?,
        );
    }
    Ok(metrics)
}

/// `--duration`: seconds, or a duration like `4m30s`.
fn parse_duration_s(text: &str) -> Result<f64> {
    if let Some(Ok(v)) = metric::parse_number(text)
        && v >= 0.0
    {
        return Ok(v);
    }
    autoresearch::config::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| {
            AppError::usage(
                format!("`--duration {text}` is not a number of seconds or a duration."),
                "Pass e.g. `--duration 312.5` or `--duration 5m12s`.",
            )
        })
}
