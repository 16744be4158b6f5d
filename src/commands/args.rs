//! Argument groups and value parsers that several commands share.

use std::io::Read;

use autoresearch::error::{AppError, Code, Result};
use autoresearch::ledger;
use autoresearch::metric;

use autoresearch::ledger::Summary;
use autoresearch::project::Loaded;

use crate::ctx::Ctx;

/// `best` and `diff` cut their patch after this many bytes unless told otherwise.
pub const DEFAULT_PATCH_BYTES: usize = 100_000;

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

/// The branch a reader reports on: the one named, else the current branch when it is an
/// experiment branch or has records, else the configured one (`Summary::default_scope`).
pub fn report_branch(loaded: &Loaded, summary: &Summary, named: Option<&str>) -> String {
    match named {
        Some(b) => b.to_string(),
        None => {
            let current = autoresearch::git::current_branch(&loaded.project.repo);
            summary.default_scope(current.as_deref(), |b| {
                loaded.config.is_experiment_branch(b)
            })
        }
    }
}
