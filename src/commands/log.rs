//! `autoresearch log`: the experiments, oldest first, the last 20 by default. Reads the ledger
//! backwards, so `log -n 20` costs the same on 100 records as on 100,000.

use clap::Args;
use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{AppError, Code, Result};
use crate::ledger::{Filter, Record, Status};
use crate::output::{self, Human, Printer};

use super::record::{fmt_delta, fmt_metric};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch log                       the last 20 experiments
  autoresearch log -n 5 --status kept    the last 5 keeps
  autoresearch log --all --reverse       everything, newest first
  autoresearch log --status crash,timeout --branch autoresearch-fork-wide")]
pub struct LogArgs {
    /// How many experiments to show (the most recent ones).
    #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Show every experiment (overrides --limit).
    #[arg(long)]
    pub all: bool,
    /// Only these statuses, comma-separated: baseline,kept,discarded,crash,timeout.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub status: Vec<String>,
    /// Only experiments run on this branch.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Newest first.
    #[arg(long)]
    pub reverse: bool,
}

#[derive(Debug, Serialize)]
pub struct LogOutput {
    /// How many experiments match the filters in the whole ledger.
    pub total: u64,
    /// How many are in `records`.
    pub shown: usize,
    /// The best metric the `delta_to_best` column is measured against.
    pub best_metric: Option<f64>,
    pub records: Vec<Record>,
}

impl super::Output for LogOutput {}

pub fn parse_statuses(list: &[String]) -> Result<Vec<Status>> {
    list.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                AppError::new(
                    Code::InvalidStatus,
                    format!("`{s}` is not a status."),
                    "Use a comma-separated list of baseline, kept, discarded, crash, timeout, e.g. `--status kept,crash`.",
                )
            })
        })
        .collect()
}

pub fn run(ctx: &Ctx, args: &LogArgs) -> Result<LogOutput> {
    let loaded = ctx.load()?;
    let statuses = parse_statuses(&args.status)?;
    let filter = Filter {
        statuses: statuses.clone(),
        branch: args.branch.clone(),
    };
    let summary = ctx.summary(&loaded.ledger)?;
    let scope = match &args.branch {
        Some(b) => summary.scope(Some(b)),
        None => summary.all.clone(),
    };
    let total = if statuses.is_empty() {
        scope.total
    } else {
        statuses.iter().map(|s| scope.counts.get(*s)).sum()
    };
    let best_scope = match &args.branch {
        Some(b) => summary.scope(Some(b)),
        None => {
            let current = crate::git::current_branch(&loaded.project.repo);
            let b = summary.default_scope(current.as_deref(), |b| {
                loaded.config.is_experiment_branch(b)
            });
            summary.scope(Some(&b))
        }
    };
    let limit = if args.all { usize::MAX } else { args.limit };
    let mut records = loaded.ledger.tail(limit, &filter)?;
    if args.reverse {
        records.reverse();
    }
    if total == 0 {
        if summary.valid == 0 {
            ctx.hint("No experiments yet. Run `autoresearch run -m \"baseline\"` to record the baseline.");
        } else {
            ctx.hint("Nothing matches these filters; run `autoresearch log --all` to see every experiment.");
        }
    } else {
        if (records.len() as u64) < total {
            ctx.hint(format!(
                "Showing {} of {total}; `autoresearch log --all` shows every one.",
                records.len()
            ));
        }
        ctx.hint(
            "Next: one hypothesis these results suggest, edit only the target, then `autoresearch run -m \"<what and why>\"`.",
        );
    }
    Ok(LogOutput {
        total,
        shown: records.len(),
        best_metric: best_scope.best_metric(),
        records,
    })
}

/// "5m ago" from an RFC 3339 timestamp; empty when it does not parse.
pub fn age(timestamp: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(timestamp) else {
        return String::new();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    match secs {
        s if s < 0 => "just now".to_string(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

impl Human for LogOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        if self.records.is_empty() {
            return p.line("No experiments to show.");
        }
        let mut t = output::table(&["run", "status", "metric", "Δ best", "summary", "age"]);
        for r in &self.records {
            let delta = match (r.metric, self.best_metric) {
                (Some(m), Some(b)) if m == b => "best".to_string(),
                (Some(m), Some(b)) => fmt_delta(m - b),
                _ => String::new(),
            };
            let metric = r.metric.map_or_else(
                || r.reason.clone().unwrap_or_else(|| "—".to_string()),
                fmt_metric,
            );
            t.add_row(vec![
                format!("#{}", r.run),
                super::paint_status(&p.paint, r.status),
                metric,
                delta,
                output::shorten(&r.summary, 60),
                age(&r.timestamp),
            ]);
        }
        p.line(t.to_string())?;
        if (self.shown as u64) < self.total {
            let note = p
                .paint
                .dim(&format!("{} of {} shown", self.shown, self.total));
            p.line(note)?;
        }
        Ok(())
    }
}
