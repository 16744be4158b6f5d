//! `autoresearch record`: append one experiment whose eval the caller ran itself. Same ledger
//! and same number rules as `run`; also pins the commit at `refs/autoresearch/runs/<run>`.

use std::collections::BTreeMap;
use std::io::Read;

use clap::Args;
use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{AppError, Code, Result};
use crate::ledger::{self, Brief, Record, Status};
use crate::metric;
use crate::output::{Human, Printer};

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
    /// Wall time of the evaluation, in seconds (or a duration like 4m30s).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RecordOutput {
    pub record: Record,
    pub best_before: Option<Brief>,
    pub best_after: Option<Brief>,
    /// A `kept` run that does not beat the best before it.
    pub kept_not_better: bool,
    /// The ref that keeps the commit reachable, when there is a commit.
    pub run_ref: Option<String>,
}

impl super::Output for RecordOutput {}

impl Human for RecordOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let r = &self.record;
        let metric = r.metric.map_or_else(|| "—".to_string(), fmt_metric);
        let status = super::paint_status(&p.paint, r.status);
        p.line(format!(
            "Recorded run #{} {status} {metric}{}",
            r.run,
            r.delta
                .map(|d| format!(" (Δ {})", fmt_delta(d)))
                .unwrap_or_default()
        ))?;
        if let Some(b) = &self.best_after {
            p.kv(
                "best",
                6,
                format!(
                    "#{} {}",
                    b.run,
                    b.metric.map_or_else(|| "—".to_string(), fmt_metric)
                ),
            )?;
        }
        Ok(())
    }
}

/// Full precision, shortest round-trip form (`0.9979`, `1e-7`).
pub fn fmt_metric(v: f64) -> String {
    format!("{v}")
}

/// A difference for people: 12 significant digits, so float noise from the subtraction
/// (`0.30000000000000004`) does not show, while tiny metrics keep their digits. JSON carries
/// the exact value.
pub fn fmt_delta(v: f64) -> String {
    let v = crate::output::round_significant(v, 12);
    if v > 0.0 {
        format!("+{v}")
    } else {
        format!("{v}")
    }
}

/// A metric value from the command line, under the same grammar as eval output.
pub fn parse_metric_arg(text: &str, what: &str) -> Result<f64> {
    match metric::parse_number(text) {
        Some(Ok(v)) => Ok(v),
        Some(Err(_)) => Err(AppError::new(
            Code::InvalidMetric,
            format!("{what} `{text}` overflows to infinity; metrics must be finite."),
            "Pass a finite number such as `0.9979` or `-3.5e-2`.",
        )),
        None => Err(AppError::new(
            Code::InvalidMetric,
            format!("{what} `{text}` is not a number (nan, inf, hex, `_` and `,` are refused)."),
            "Pass a finite decimal number such as `0.9979`, `-12` or `3.5e-2`.",
        )),
    }
}

/// `-m/--summary` or `--summary-file <path|->`, shared by `record` and `run`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// What was tried and why (the ledger summary; for `run` also the commit message).
    #[arg(
        long,
        short = 'm',
        value_name = "TEXT",
        conflicts_with = "summary_file"
    )]
    pub summary: Option<String>,
    /// Read the summary from a file, or from stdin with `-`.
    #[arg(long, value_name = "PATH|-")]
    pub summary_file: Option<String>,
}

impl SummaryArgs {
    /// The summary as it will be stored: read, stripped of control sequences, capped at 4 KiB
    /// (with a warning when cut).
    pub fn read(&self, ctx: &Ctx) -> Result<String> {
        let raw = read_summary(self.summary.as_deref(), self.summary_file.as_deref())?;
        Ok(clean_summary(ctx, &raw))
    }
}

/// `--summary`, `--summary-file <path>` or `--summary-file -` (stdin).
fn read_summary(summary: Option<&str>, file: Option<&str>) -> Result<String> {
    if let Some(s) = summary {
        return Ok(s.to_string());
    }
    let Some(path) = file else {
        return Ok(String::new());
    };
    let mut bytes = Vec::new();
    let limit = (ledger::MAX_SUMMARY * 4) as u64;
    let res = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    res.map_err(|e| {
        AppError::new(
            Code::Usage,
            format!("Cannot read the summary from `{path}`: {e}."),
            "Pass an existing file to `--summary-file`, or `-` to read standard input.",
        )
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Clean and cap a summary, warning when it was cut.
fn clean_summary(ctx: &Ctx, raw: &str) -> String {
    let (s, cut) = ledger::clean_summary(raw);
    if cut {
        ctx.warn("The summary was longer than 4 KiB and was truncated.");
    }
    s
}

pub fn run(ctx: &Ctx, args: &RecordArgs) -> Result<RecordOutput> {
    let loaded = ctx.load()?;
    let status = Status::parse(&args.status).ok_or_else(|| {
        AppError::new(
            Code::InvalidStatus,
            format!("`{}` is not a status.", args.status),
            "Pass `--status baseline`, `kept`, `discarded`, `crash` or `timeout` (or `keep`/`discard`).",
        )
    })?;
    let metric = match (&args.metric, status) {
        (Some(m), Status::Crash | Status::Timeout) => {
            parse_metric_arg(m, "--metric")?;
            ctx.warn(format!(
                "`--metric` is ignored for a `{}` run: its metric is recorded as null.",
                status.as_str()
            ));
            None
        }
        (Some(m), _) => Some(parse_metric_arg(m, "--metric")?),
        (None, Status::Crash | Status::Timeout) => None,
        (None, s) => {
            return Err(AppError::new(
                Code::InvalidMetric,
                format!("`--metric` is required for a `{}` run.", s.as_str()),
                format!(
                    "Run `autoresearch record --metric <value> --status {}`, or use `--status crash` if the eval failed.",
                    s.as_str()
                ),
            ));
        }
    };
    let mut metrics = BTreeMap::new();
    for kv in &args.metrics {
        let Some((name, value)) = kv.split_once('=') else {
            return Err(AppError::new(
                Code::InvalidMetric,
                format!("`--metrics {kv}` is not `name=value`."),
                "Pass secondary metrics as `--metrics memory_gb=41.2`.",
            ));
        };
        let name = name.trim();
        if !crate::config::valid_metric_name(name) {
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
    let duration_s = match &args.duration {
        None => None,
        Some(d) => match metric::parse_number(d) {
            Some(Ok(v)) if v >= 0.0 => Some(v),
            _ => Some(
                crate::config::parse_duration(d)
                    .ok_or_else(|| {
                        AppError::usage(
                            format!("`--duration {d}` is not a number of seconds or a duration."),
                            "Pass e.g. `--duration 312.5` or `--duration 5m12s`.",
                        )
                    })?
                    .as_secs_f64(),
            ),
        },
    };
    let summary = args.summary.read(ctx)?;

    let repo = &loaded.project.repo;
    let commit = match &args.commit {
        Some(rev) => Some(crate::git::resolve_commit(repo, rev)?),
        None => match crate::git::head_oid(repo) {
            Some(oid) => repo.find_commit(oid).ok(),
            None => {
                ctx.warn("The repository has no commits yet: the record names no commit.");
                None
            }
        },
    };
    let commit_id = commit.as_ref().map(|c| c.id());
    let parent = commit
        .as_ref()
        .and_then(|c| c.parent_ids().next())
        .map(|p| p.to_string());
    let branch = crate::git::current_branch(repo);
    let scope_branch = branch
        .clone()
        .unwrap_or_else(|| loaded.config.branch.clone());

    loaded.project.ensure_state_dir()?;
    let direction = loaded.config.metric_direction;
    let (record, before) = loaded.ledger.append(|run, summary_before| {
        let scope = summary_before.scope(Some(&scope_branch));
        let delta = match (metric, scope.best_metric()) {
            (Some(m), Some(b)) => Some(m - b),
            _ => None,
        };
        let mut flags = Vec::new();
        if status == Status::Kept
            && matches!((metric, scope.best_metric()), (Some(m), Some(b)) if !direction.better(m, b))
        {
            flags.push("kept_not_better".to_string());
        }
        Ok(Record {
            run,
            id: ledger::new_id(),
            timestamp: ledger::now_timestamp(),
            status,
            metric,
            metrics,
            samples: Vec::new(),
            delta,
            summary,
            commit: commit_id.map(|c| c.to_string()),
            parent,
            branch: branch.clone(),
            duration_s,
            exit_code: None,
            reason: None,
            flags,
            source: "record".to_string(),
        })
    })?;
    ctx.warn_all(before.health_warnings("`experiments.jsonl`"));

    let run_ref = match commit_id {
        Some(oid) => match crate::git::set_run_ref(repo, record.run, oid) {
            Ok(()) => Some(crate::git::run_ref_name(record.run)),
            Err(e) => {
                ctx.warn(format!("The record is saved, but {}", e.message));
                None
            }
        },
        None => None,
    };

    let scope_before = before.scope(Some(&scope_branch));
    let best_before = scope_before.best.as_ref().map(Brief::from);
    let kept_not_better = record.flags.iter().any(|f| f == "kept_not_better");
    let mut scope_after = scope_before.clone();
    scope_after.fold_owned(record.clone(), direction);
    if kept_not_better {
        ctx.warn(format!(
            "Run #{} is recorded as kept but is not better than the best (#{}).",
            record.run,
            best_before.as_ref().map_or(0, |b| b.run)
        ));
    }
    crate::coach::after_record(ctx, &record, &scope_after, kept_not_better);
    // `record` means the caller runs the loop by hand: the next step is theirs, not `run`'s.
    ctx.hint(
        "Manual loop: edit the target and commit, run the eval within the time budget, compare with `autoresearch best`, then `autoresearch record` again; `autoresearch guide manual` has the steps.",
    );
    Ok(RecordOutput {
        best_after: scope_after.best.as_ref().map(Brief::from),
        record,
        best_before,
        kept_not_better,
        run_ref,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_hide_float_noise_but_keep_small_values() {
        assert_eq!(fmt_delta(1.5 - 1.2), "+0.3");
        assert_eq!(fmt_delta(-0.30000000000000004), "-0.3");
        assert_eq!(fmt_delta(1.23456789e-9), "+0.00000000123456789");
        assert_eq!(fmt_delta(0.0), "0");
    }
}
