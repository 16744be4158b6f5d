//! `autoresearch log`: the experiments, oldest first, the last 20 by default.
//!
//! `log -n N` reads the ledger backwards from its end and never folds it, so it costs the same
//! on 100 records as on 100,000; its totals come from the cached summary when that is current.
//! `log --all` streams: the envelope is written while the records are read, so memory stays
//! flat however long the ledger is.

use std::collections::BTreeMap;

use clap::Args;
use serde::{Serialize, Serializer};

use autoresearch::error::{AppError, Code, Result};
use autoresearch::ledger::{Filter, Ledger, Record, Status, Summary, Writer};
use autoresearch::noise;
use autoresearch::project::Loaded;

use super::args::{WorkerArgs, report_branch};
use super::best::SinceFirst;
use super::noise::NoiseView;
use crate::ctx::Ctx;
use crate::output::{
    Cell, DASH, Human, Output, Printer, Style, Table, age, fmt_approx, fmt_delta, fmt_metric,
    shorten,
};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch log                       the last 20 experiments
  autoresearch log -n 5 --status kept    the last 5 keeps
  autoresearch log --all --reverse       everything, newest first
  autoresearch log --status crash,timeout --branch autoresearch-fork-wide
  autoresearch log --worker gpu-03       the runs `sync` brought from worker gpu-03")]
pub struct LogArgs {
    /// How many experiments to show (the most recent ones).
    #[arg(short = 'n', long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// Show every experiment (overrides --limit).
    #[arg(long)]
    pub all: bool,
    /// Only these statuses, comma-separated: baseline,kept,discarded,crash,timeout,recheck,
    /// retraction.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub status: Vec<String>,
    /// Only experiments run on this branch.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Also one line per branch: the experiment branch and each fork, against its best.
    #[arg(long, conflicts_with = "branch")]
    pub all_branches: bool,
    /// Newest first.
    #[arg(long)]
    pub reverse: bool,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

#[derive(Debug, Serialize)]
pub struct LogOutput {
    /// How many experiments match the filters in the whole ledger; null when that is not known
    /// without reading the whole ledger (`log -n` with no current summary cache).
    pub total: Option<u64>,
    /// How many are in `records`.
    pub shown: u64,
    /// What the branch's fold says about the rows (all null without the summary).
    #[serde(flatten)]
    pub branch: BranchView,
    /// With `--all-branches`: every branch's figures (null otherwise).
    pub branches: Option<super::branches::BranchesView>,
    pub records: Records,
    /// The secondary metrics declared in `metrics`: a column each in the human view.
    #[serde(skip)]
    pub columns: Vec<String>,
}

/// What the summary says of the branch a log is for.
#[derive(Debug, Default, Serialize)]
pub struct BranchView {
    /// The best metric the `Δ best` column is measured against (null when not known).
    pub best_metric: Option<f64>,
    /// The noise of one sample on the branch, as `status` shows it (null when the summary is
    /// not at hand: `log -n` with no current cache).
    pub noise: Option<NoiseView>,
    /// The best against the first baseline of the comparison, when a later baseline replaced
    /// it (null otherwise, or when the summary is not at hand).
    pub since_first_baseline: Option<SinceFirst>,
    /// Keeps taken back by `retract` on the branch, with why (null when the summary is not at
    /// hand); the human view marks their rows.
    pub retracted: Option<BTreeMap<u64, String>>,
}

impl Output for LogOutput {}

/// The records a log shows: read already, or streamed from the ledger while the envelope is
/// written (`--all`), up to the offset the summary that counted them covered.
pub enum Records {
    Read(Vec<Record>),
    Streamed {
        ledger: Ledger,
        filter: Filter,
        /// Bytes of the ledger to read: exactly what `total` counted.
        upto: u64,
    },
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Records::Read(r) => f.debug_tuple("Read").field(&r.len()).finish(),
            Records::Streamed { upto, .. } => {
                f.debug_struct("Streamed").field("upto", upto).finish()
            }
        }
    }
}

impl Records {
    /// Visit every record in order; `f` returns false to stop.
    fn each(&self, mut f: impl FnMut(&Record) -> bool) -> Result<()> {
        match self {
            Records::Read(records) => {
                for r in records {
                    if !f(r) {
                        break;
                    }
                }
                Ok(())
            }
            Records::Streamed {
                ledger,
                filter,
                upto,
            } => {
                let default_branch = ledger.default_branch().to_string();
                ledger
                    .for_each_upto(*upto, |_, r| !filter.matches(&r, &default_branch) || f(&r))
                    .map(|_| ())
            }
        }
    }
}

impl Serialize for Records {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        self.each(|r| match seq.serialize_element(r) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        })
        .map_err(|e| S::Error::custom(e.message))?;
        match failed {
            Some(e) => Err(e),
            None => seq.end(),
        }
    }
}

pub fn parse_statuses(list: &[String]) -> Result<Vec<Status>> {
    list.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                AppError::new(
                    Code::InvalidStatus,
                    format!("`{s}` is not a status."),
                    "Use a comma-separated list of baseline, kept, discarded, crash, timeout, recheck, retraction, e.g. `--status kept,crash`.",
                )
            })
        })
        .collect()
}

pub fn run(ctx: &Ctx, args: &LogArgs) -> Result<LogOutput> {
    let loaded = ctx.load()?;
    let branches = if args.all_branches {
        let summary = ctx.summary(&loaded.ledger)?;
        Some(super::branches::BranchesView::of(&loaded, &summary))
    } else {
        None
    };
    let mut out = list(ctx, loaded, args, true)?;
    out.branches = branches;
    hints(ctx, args, &out);
    Ok(out)
}

/// The log `args` ask for; `--all` streams when `stream` is set (else its records are read
/// now, for a caller that outlives the ledger, as `demo` does).
pub fn list(ctx: &Ctx, loaded: Loaded, args: &LogArgs, stream: bool) -> Result<LogOutput> {
    let loaded_columns = loaded.config.metrics.clone();
    let statuses = parse_statuses(&args.status)?;
    if args.worker.worker.is_some() {
        return by_writer(ctx, loaded, args, statuses);
    }
    let filter = Filter {
        statuses,
        branch: args.branch.clone(),
        writer: None,
    };
    if args.all {
        let summary = ctx.summary(&loaded.ledger)?;
        let total = matching(&summary, &filter);
        let branch = branch_view(&loaded, &summary, args.branch.as_deref(), None);
        let records = if stream && !args.reverse {
            Records::Streamed {
                ledger: loaded.ledger,
                filter,
                upto: summary.offset,
            }
        } else {
            let mut all = loaded.ledger.tail(usize::MAX, &filter)?;
            if args.reverse {
                all.reverse();
            }
            Records::Read(all)
        };
        return Ok(LogOutput {
            total: Some(total),
            shown: total,
            branch,
            branches: None,
            records,
            columns: loaded_columns,
        });
    }
    // The summary only if it is current without reading the ledger: `-n N` never folds.
    let summary = loaded.ledger.cached_summary();
    let end = summary.as_ref().map_or(u64::MAX, |s| s.offset);
    let tail = loaded.ledger.read_tail(end, args.limit, &filter)?;
    ctx.warn_all(match &summary {
        Some(s) => s.health_warnings("`experiments.jsonl`"),
        None => tail.health_warnings("`experiments.jsonl`"),
    });
    let records = tail.records;
    let total = match &summary {
        Some(s) => Some(matching(s, &filter)),
        // Fewer than asked for: the tail reader reached the start of the ledger.
        None if records.len() < args.limit => Some(records.len() as u64),
        None => None,
    };
    let branch = summary.as_ref().map_or_else(BranchView::default, |s| {
        branch_view(&loaded, s, args.branch.as_deref(), None)
    });
    Ok(read_output(
        records,
        total,
        branch,
        args.reverse,
        loaded_columns,
    ))
}

/// The output of records read from the ledger (not streamed), oldest first unless `reverse`.
fn read_output(
    mut records: Vec<Record>,
    total: Option<u64>,
    branch: BranchView,
    reverse: bool,
    columns: Vec<String>,
) -> LogOutput {
    if reverse {
        records.reverse();
    }
    LogOutput {
        total,
        shown: records.len() as u64,
        branch,
        branches: None,
        records: Records::Read(records),
        columns,
    }
}

/// The log of one worker's records (`--worker`): the fold has no count per worker, so the
/// records are read (all of them for `--all`, else the last `--limit`) and counted here.
fn by_writer(
    ctx: &Ctx,
    loaded: Loaded,
    args: &LogArgs,
    statuses: Vec<Status>,
) -> Result<LogOutput> {
    let summary = ctx.summary(&loaded.ledger)?;
    let writer = args.worker.writer(&loaded, &summary)?;
    // Another worker's records sit on its copies of the branches: `--branch X` is `X@W`.
    let branch = match (&writer, &args.branch) {
        (Some(Writer::Other(w)), Some(b)) => Some(super::args::worker_scope(b, w)),
        _ => args.branch.clone(),
    };
    let filter = Filter {
        statuses,
        branch,
        writer,
    };
    let limit = if args.all { usize::MAX } else { args.limit };
    let records = loaded.ledger.tail(limit, &filter)?;
    let total = (records.len() < limit).then_some(records.len() as u64);
    let branch = branch_view(
        &loaded,
        &summary,
        args.branch.as_deref(),
        filter.writer.as_ref(),
    );
    let columns = loaded.config.metrics.clone();
    Ok(read_output(records, total, branch, args.reverse, columns))
}

/// How many records in the ledger pass `filter`.
fn matching(summary: &Summary, filter: &Filter) -> u64 {
    let scope = summary.scope(filter.branch.as_deref());
    if filter.statuses.is_empty() {
        scope.total
    } else {
        filter.statuses.iter().map(|s| scope.counts.get(*s)).sum()
    }
}

/// The best metric, the noise, the improvement since the first baseline and the retracted
/// keeps of the branch asked for, else of the branch `status` would report on.
fn branch_view(
    loaded: &Loaded,
    summary: &Summary,
    branch: Option<&str>,
    writer: Option<&Writer>,
) -> BranchView {
    let scope = summary.scope(Some(&report_branch(loaded, summary, branch, writer)));
    BranchView {
        best_metric: scope.best_metric(),
        noise: scope.best.is_some().then(|| NoiseView::of(&scope)),
        since_first_baseline: SinceFirst::of(&scope, loaded.config.metric_direction),
        retracted: Some(scope.retracted),
    }
}

fn hints(ctx: &Ctx, args: &LogArgs, out: &LogOutput) {
    let filtered = !args.status.is_empty() || args.branch.is_some() || args.worker.worker.is_some();
    if out.shown == 0 {
        ctx.hint(if filtered {
            "Nothing matches these filters; run `autoresearch log --all` to see every experiment."
        } else {
            "No experiments yet. Run `autoresearch run -m \"baseline\"` to record the baseline."
        });
        return;
    }
    if out.total.is_none_or(|t| out.shown < t) {
        ctx.hint(format!(
            "Showing the last {}; `autoresearch log --all` shows every one.",
            out.shown
        ));
    }
    ctx.hint(
        "Next: one hypothesis these results suggest, edit only the target, then `autoresearch run -m \"<what and why>\"`.",
    );
}

impl Human for LogOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let mut head: Vec<&str> = vec!["run", "status", "metric"];
        head.extend(self.columns.iter().map(String::as_str));
        head.extend(["Δ best", "summary", "age"]);
        let mut t = Table::new(&head);
        let mut rows = 0u64;
        self.records
            .each(|r| {
                rows += 1;
                let sd = self.branch.noise.as_ref().and_then(|n| n.sd);
                let retracted = self
                    .branch
                    .retracted
                    .as_ref()
                    .is_some_and(|m| m.contains_key(&r.run));
                t.row(row(
                    r,
                    self.branch.best_metric,
                    sd,
                    &self.columns,
                    retracted,
                ));
                true
            })
            .map_err(|e| std::io::Error::other(e.message))?;
        if rows == 0 {
            return p.line("No experiments to show.");
        }
        p.table(&t)?;
        match self.total {
            Some(total) if rows < total => {
                let note = p.paint.dim(&format!("{rows} of {total} shown"));
                p.line(note)?
            }
            None => p.line(p.paint.dim(&format!("last {rows} shown")))?,
            _ => {}
        }
        if let Some(s) = &self.branch.since_first_baseline {
            p.line(p.paint.dim(&format!("best: {}", s.line())))?;
        }
        if let Some(n) = self.branch.noise.as_ref().filter(|n| n.sd.is_some()) {
            p.line(p.paint.dim(&format!(
                "± is what noise alone can move a metric: {} per sample, less with more samples",
                n.short()
            )))?;
        }
        if let Some(b) = &self.branches {
            p.line("")?;
            b.human(p)?;
        }
        Ok(())
    }
}

fn row(
    r: &Record,
    best: Option<f64>,
    sd: Option<f64>,
    columns: &[String],
    retracted: bool,
) -> Vec<Cell> {
    let delta = match (r.metric, best) {
        (Some(m), Some(b)) if m == b => "best".to_string(),
        (Some(m), Some(b)) => fmt_delta(m - b),
        _ => String::new(),
    };
    let samples = r.samples.len().max(1);
    let metric = r.metric.map_or_else(
        || r.reason.clone().unwrap_or_else(|| DASH.to_string()),
        |m| match sd {
            Some(sd) if sd > 0.0 => format!(
                "{} ±{}",
                fmt_metric(m),
                fmt_approx(sd * noise::level_se(samples))
            ),
            _ => fmt_metric(m),
        },
    );
    let mut cells: Vec<Cell> = vec![
        r.label().into(),
        if retracted {
            Cell::new("kept, retracted", Style::Dim)
        } else {
            Cell::new(r.status.as_str(), Style::of_status(r.status))
        },
        metric.into(),
    ];
    cells.extend(columns.iter().map(|c| {
        r.metrics
            .get(c)
            .map_or_else(|| DASH.to_string(), |v| fmt_metric(*v))
            .into()
    }));
    cells.extend([
        delta.into(),
        shorten(&r.summary, 60).into(),
        age(&r.timestamp).into(),
    ]);
    cells
}
