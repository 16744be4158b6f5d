//! `autoresearch import FILE...`: other tools' experiment logs (a karpathy `results.tsv`, a
//! pi-autoresearch `autoresearch.jsonl`, a first-generation ledger) become ledger records, so a
//! project keeps its history and `report`/`review` work on it. All files or none; importing a
//! file again adds nothing. The work is `autoresearch::import`; this file parses and renders.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use autoresearch::error::{AppError, Result};
use autoresearch::import::{self, Format, Options, Outcome};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, metric_or_dash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Detect from the first line.
    Auto,
    /// A header row with a `status` column, tab-separated (karpathy's `results.tsv`).
    Tsv,
    /// JSON Lines with `{"type":"config",...}` lines (pi-autoresearch's `autoresearch.jsonl`).
    Jsonl,
    /// Ledger records, ours or the first generation's.
    Ledger,
}

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch import results.tsv
  autoresearch import results.tsv --rename-metric val_rmse=val_bpb --dry-run
  autoresearch import autoresearch.jsonl --rename-metric combined_µs=combined_us
  autoresearch import old/.autoresearch/experiments.jsonl --branch autoresearch

The first row of each file (of each segment of a JSON Lines log) becomes the baseline; statuses
go through the table in the README; crashes get a null metric; other columns are kept in the
record's `imported` field. Importing the same file again adds nothing.")]
pub struct ImportArgs {
    /// The logs to import, in order.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The files' format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto, value_name = "FORMAT")]
    pub format: FormatArg,
    /// The branch the records belong to (default: the configured branch).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// The metric's name in the files, mapped to the config's: `FROM=TO`.
    #[arg(long, value_name = "FROM=TO")]
    pub rename_metric: Option<String>,
    /// Read and check everything, say what would be added, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `import`'s data.
pub type ImportOutput = Outcome;

impl Output for ImportOutput {}

impl Human for ImportOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        for f in &self.files {
            let b = &f.by_status;
            let point = |x: &Option<import::Point>| {
                x.as_ref().map_or("-".to_string(), |x| {
                    format!("#{} {}", x.run, metric_or_dash(x.metric))
                })
            };
            let flagged = if f.flagged.is_empty() {
                String::new()
            } else {
                p.paint.yellow(&format!(", {} flagged", f.flagged.len()))
            };
            p.line(format!(
                "{} ({}): {} rows, {} added, {} already there; {} baseline, {} kept, {} discarded, {} crash, {} timeout; baseline {} → best {}{flagged}",
                p.paint.bold(&f.path),
                f.format,
                f.rows,
                f.added,
                f.skipped_existing,
                b.baseline,
                b.kept,
                b.discarded,
                b.crash,
                b.timeout,
                point(&f.baseline),
                point(&f.best),
            ))?;
        }
        let verb = if self.dry_run { "Would add" } else { "Added" };
        p.line(format!("{verb} {} records.", self.added))
    }
}

pub fn run(ctx: &Ctx, args: &ImportArgs) -> Result<ImportOutput> {
    let loaded = ctx.load()?;
    let rename = args
        .rename_metric
        .as_deref()
        .map(|r| match r.split_once('=') {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                Ok((from.trim().to_string(), to.trim().to_string()))
            }
            _ => Err(AppError::usage(
                format!("`--rename-metric {r}` is not `FROM=TO`."),
                format!(
                    "Pass the name in the file and the config's: `--rename-metric val_bpb={}`.",
                    loaded.config.metric_name
                ),
            )),
        })
        .transpose()?;
    let format = match args.format {
        FormatArg::Auto => None,
        FormatArg::Tsv => Some(Format::Tsv),
        FormatArg::Jsonl => Some(Format::Jsonl),
        FormatArg::Ledger => Some(Format::Ledger),
    };
    let mut out = import::import(
        &loaded,
        &Options {
            files: args.files.clone(),
            format,
            branch: args.branch.clone(),
            rename,
            dry_run: args.dry_run,
        },
    )?;
    ctx.warn_all(std::mem::take(&mut out.warnings));
    if out.dry_run {
        ctx.hint("Nothing was written: run the same command without `--dry-run` to import.");
    } else if out.added > 0 {
        ctx.hint(
            "The history is in the ledger: `autoresearch report` and `autoresearch review` work on it now; `autoresearch status` shows the baseline and best.",
        );
    } else {
        ctx.hint("Every row was already in the ledger: nothing to add.");
    }
    Ok(out)
}
