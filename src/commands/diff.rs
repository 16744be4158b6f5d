//! `autoresearch diff <a> <b>`: two experiments side by side — metric, secondary metrics,
//! status, summary — and the code diff between their commits (kept at
//! `refs/autoresearch/runs/<run>`, so discarded runs compare too).

use clap::Args;
use serde::Serialize;

use autoresearch::error::{AppError, Code, Result};
use autoresearch::git::{self, CodeDiff};
use autoresearch::ledger::{Ledger, Record, Summary};

use super::args::DEFAULT_PATCH_BYTES;
use crate::ctx::Ctx;
use crate::output::{
    Cell, Human, Output, Printer, Style, Table, fmt_delta, metric_or_dash, shorten,
};

#[derive(Debug, Args)]
#[command(
    after_long_help = "Runs are numbers, another worker's run as `17@gpu-03`, or `best`, `baseline`, `last`.
Examples:
  autoresearch diff 3 7
  autoresearch diff baseline best --stat
  autoresearch diff 12 last --max-patch-bytes 1000000
  autoresearch diff best 17@gpu-03        against run 17 of worker gpu-03 (after `sync`)"
)]
pub struct DiffArgs {
    /// The first run (number, `RUN@WORKER`, `best`, `baseline` or `last`).
    pub a: String,
    /// The second run.
    pub b: String,
    /// Only the diff stat, not the patch.
    #[arg(long)]
    pub stat: bool,
    /// Cut the patch after this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_PATCH_BYTES)]
    pub max_patch_bytes: usize,
}

#[derive(Debug, Serialize)]
pub struct MetricRow {
    pub name: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub delta: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct DiffOutput {
    pub a: Record,
    pub b: Record,
    /// `b.metric − a.metric`.
    pub metric_delta: Option<f64>,
    /// Is b better than a by the configured direction?
    pub b_better: Option<bool>,
    pub metrics: Vec<MetricRow>,
    pub code: Option<CodeDiff>,
}

impl Output for DiffOutput {}

/// Resolve `3`, `best`, `baseline` or `last` to a record.
fn resolve(ledger: &Ledger, summary: &Summary, scope_branch: &str, which: &str) -> Result<Record> {
    let scope = summary.scope(Some(scope_branch));
    let named = match which {
        "best" => Some(scope.best.clone()),
        "baseline" => Some(scope.baseline.clone()),
        "last" => Some(summary.all.last.clone()),
        _ => None,
    };
    if let Some(found) = named {
        return found.ok_or_else(|| {
            AppError::new(
                Code::NoExperiments,
                format!("There is no `{which}` experiment yet."),
                "Run `autoresearch log --all` to list run numbers.",
            )
        });
    }
    let run = super::args::parse_run(which).map_err(|_| {
        AppError::usage(
            format!("`{which}` is not a run number."),
            "Pass run numbers (see `autoresearch log --all`), another worker's run as `17@gpu-03`, or `best`, `baseline`, `last`.",
        )
    })?;
    super::args::find_run(ledger, &run, |run| {
        AppError::new(
            Code::RunNotFound,
            format!("No experiment has run number {run}."),
            "Run `autoresearch log --all` to list run numbers.",
        )
    })
}

pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<DiffOutput> {
    let loaded = ctx.load()?;
    let summary = ctx.summary(&loaded.ledger)?;
    let scope_branch = super::args::report_branch(&loaded, &summary, None, None);
    let a = resolve(&loaded.ledger, &summary, &scope_branch, &args.a)?;
    let b = resolve(&loaded.ledger, &summary, &scope_branch, &args.b)?;
    let direction = loaded.config.metric_direction;
    let (metric_delta, b_better) = match (a.metric, b.metric) {
        (Some(x), Some(y)) => (Some(y - x), Some(direction.better(y, x))),
        _ => (None, None),
    };
    let mut names: Vec<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
    names.sort();
    names.dedup();
    let metrics = names
        .into_iter()
        .map(|n| {
            let (x, y) = (a.metrics.get(n).copied(), b.metrics.get(n).copied());
            MetricRow {
                name: n.clone(),
                a: x,
                b: y,
                delta: x.zip(y).map(|(x, y)| y - x),
            }
        })
        .collect();
    // Prefer the run ref: it is what keeps a discarded experiment's commit alive.
    let commit_of = |r: &Record| -> Option<String> {
        let by_ref = loaded
            .project
            .repo
            .find_reference(&git::run_ref_name(r.run))
            .ok()
            .and_then(|x| x.target())
            .map(|o| o.to_string());
        match (&r.commit, by_ref) {
            (Some(c), Some(rf)) if *c == rf => Some(c.clone()),
            (Some(c), _) => Some(c.clone()),
            (None, rf) => rf,
        }
    };
    let code = match (commit_of(&a), commit_of(&b)) {
        (Some(x), Some(y)) => match git::diff_commits(
            &loaded.project.repo,
            Some(&x),
            &y,
            !args.stat,
            args.max_patch_bytes,
        ) {
            Ok(d) => Some(d),
            Err(e) => {
                ctx.warn(e.message);
                None
            }
        },
        _ => {
            ctx.warn("One of the runs names no commit, so there is no code diff.");
            None
        }
    };
    if code.as_ref().is_some_and(|c| c.patch_truncated) {
        ctx.hint(format!(
            "The patch was cut at {} bytes; pass `--max-patch-bytes <bytes>` to see more.",
            args.max_patch_bytes
        ));
    }
    Ok(DiffOutput {
        a,
        b,
        metric_delta,
        b_better,
        metrics,
        code,
    })
}

impl Human for DiffOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let (a, b) = (&self.a, &self.b);
        let mut t = Table::new(&["", &a.label(), &b.label(), "Δ"]);
        let status = |r: &Record| Cell::new(r.status.as_str(), Style::of_status(r.status));
        t.row(vec!["status".into(), status(a), status(b)]);
        let delta_style = match self.b_better {
            Some(true) => Style::Green,
            Some(false) => Style::Red,
            None => Style::Plain,
        };
        t.row(vec![
            "metric".into(),
            metric_or_dash(a.metric).into(),
            metric_or_dash(b.metric).into(),
            Cell::new(
                self.metric_delta.map(fmt_delta).unwrap_or_default(),
                delta_style,
            ),
        ]);
        for row in &self.metrics {
            t.row(vec![
                row.name.as_str().into(),
                metric_or_dash(row.a).into(),
                metric_or_dash(row.b).into(),
                row.delta.map(fmt_delta).unwrap_or_default().into(),
            ]);
        }
        let short = |c: &Option<String>| -> Cell {
            c.as_deref()
                .map_or_else(|| metric_or_dash(None), |c| c.chars().take(10).collect())
                .into()
        };
        t.row(vec!["commit".into(), short(&a.commit), short(&b.commit)]);
        t.row(vec![
            "summary".into(),
            shorten(&a.summary, 40).into(),
            shorten(&b.summary, 40).into(),
        ]);
        p.table(&t)?;
        if let Some(code) = &self.code {
            p.code_diff(code)?;
        }
        Ok(())
    }
}
