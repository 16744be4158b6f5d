//! `autoresearch export`: every experiment, chronological, every field, full precision, as CSV,
//! TSV, a JSON array or JSON Lines. Streams the ledger; to stdout (the data itself, CONTRACT §1)
//! or atomically to a file with `-o` (then an envelope with the path and count).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{AppError, Result};
use crate::ledger::Record;
use crate::output::{Human, Printer, Stdout};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Jsonl,
}

#[derive(Debug, Args)]
#[command(
    after_long_help = "Secondary metrics become `metrics.<name>` columns in CSV/TSV; samples and flags
are `;`-separated. Examples:
  autoresearch export > experiments.csv
  autoresearch export --format jsonl -o all.jsonl
  autoresearch export --format tsv | column -t -s $'\\t'"
)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Write to this file (atomically) instead of stdout, and print an envelope.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct ExportOutput {
    /// Where the data went (null: stdout).
    pub path: Option<String>,
    pub format: Format,
    pub count: u64,
    #[serde(skip)]
    printed: bool,
}

impl super::Output for ExportOutput {
    fn printed(&self) -> bool {
        self.printed
    }
}

impl Human for ExportOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        match &self.path {
            Some(path) => p.line(format!("Exported {} experiments to {path}", self.count)),
            None => Ok(()),
        }
    }
}

const COLUMNS: &[&str] = &[
    "run",
    "id",
    "timestamp",
    "status",
    "metric",
    "delta",
    "summary",
    "commit",
    "parent",
    "branch",
    "duration_s",
    "exit_code",
    "reason",
    "flags",
    "samples",
    "source",
];

fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

fn joined(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn row(r: &Record, metric_names: &[String]) -> Vec<String> {
    let mut out = vec![
        r.run.to_string(),
        r.id.clone(),
        r.timestamp.clone(),
        r.status.as_str().to_string(),
        num(r.metric),
        num(r.delta),
        r.summary.clone(),
        r.commit.clone().unwrap_or_default(),
        r.parent.clone().unwrap_or_default(),
        r.branch.clone().unwrap_or_default(),
        num(r.duration_s),
        r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        r.reason.clone().unwrap_or_default(),
        r.flags.join(";"),
        joined(&r.samples),
        r.source.clone(),
    ];
    out.extend(metric_names.iter().map(|n| num(r.metrics.get(n).copied())));
    out
}

/// RFC 4180: quote a field holding a comma, quote or line break; double inner quotes.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// TSV has no quoting: escape backslash, tab and line breaks so every row stays one line.
fn tsv_field(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

pub fn run(ctx: &Ctx, args: &ExportArgs) -> Result<ExportOutput> {
    let loaded = ctx.load()?;
    let ledger = &loaded.ledger;
    // Secondary metric names become columns: one streaming pass to collect them first.
    let mut names = BTreeSet::new();
    if matches!(args.format, Format::Csv | Format::Tsv) {
        ledger.for_each(|_, r| {
            names.extend(r.metrics.into_keys());
            true
        })?;
    }
    let names: Vec<String> = names.into_iter().collect();
    let mut count = 0u64;
    let mut write = |w: &mut dyn Write| -> std::io::Result<Vec<String>> {
        let sep = if args.format == Format::Tsv {
            "\t"
        } else {
            ","
        };
        let field = |s: &str| {
            if args.format == Format::Tsv {
                tsv_field(s)
            } else {
                csv_field(s)
            }
        };
        if matches!(args.format, Format::Csv | Format::Tsv) {
            let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
            header.extend(names.iter().map(|n| format!("metrics.{n}")));
            let header: Vec<String> = header.iter().map(|h| field(h)).collect();
            writeln!(w, "{}", header.join(sep))?;
        }
        if args.format == Format::Json {
            w.write_all(b"[")?;
        }
        let mut err: Option<std::io::Error> = None;
        let warnings = ledger
            .for_each(|_, r| {
                let res = match args.format {
                    Format::Csv | Format::Tsv => {
                        let cells: Vec<String> = row(&r, &names).iter().map(|c| field(c)).collect();
                        writeln!(w, "{}", cells.join(sep))
                    }
                    Format::Jsonl => serde_json::to_writer(&mut *w, &r)
                        .map_err(std::io::Error::other)
                        .and_then(|_| w.write_all(b"\n")),
                    Format::Json => (if count > 0 {
                        w.write_all(b",\n")
                    } else {
                        w.write_all(b"\n")
                    })
                    .and_then(|_| {
                        serde_json::to_writer(&mut *w, &r).map_err(std::io::Error::other)
                    }),
                };
                count += 1;
                match res {
                    Ok(()) => true,
                    Err(e) => {
                        err = Some(e);
                        false
                    }
                }
            })
            .map_err(|e| std::io::Error::other(e.message))?;
        if let Some(e) = err {
            return Err(e);
        }
        if args.format == Format::Json {
            w.write_all(b"\n]\n")?;
        }
        w.flush()?;
        Ok(warnings)
    };
    match &args.output {
        Some(path) => {
            let abs = if path.is_absolute() {
                path.clone()
            } else {
                ctx.cwd.join(path)
            };
            let parent = abs.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) || abs.is_dir() {
                return Err(AppError::usage(
                    format!(
                        "Cannot write `{}`: its directory does not exist or it is a directory.",
                        abs.display()
                    ),
                    "Pass `-o` a file path in an existing directory, e.g. `-o experiments.csv`.",
                ));
            }
            let mut warnings = Vec::new();
            crate::fsutil::write_atomic_with(&abs, |w| {
                warnings = write(w)?;
                Ok(())
            })?;
            ctx.warn_all(warnings);
            Ok(ExportOutput {
                path: Some(abs.display().to_string()),
                format: args.format,
                count,
                printed: false,
            })
        }
        None => {
            let mut out = Stdout::new();
            let warnings = write(&mut out).map_err(|e| {
                crate::output::quiet_exit_on_broken_pipe(&e);
                AppError::io("writing the export", &e)
            })?;
            // The data went to stdout; warnings go to stderr so they never corrupt it.
            for w in warnings {
                crate::output::stderr_line(&format!("warning: {w}"));
            }
            Ok(ExportOutput {
                path: None,
                format: args.format,
                count,
                printed: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(tsv_field("a\tb\nc\\"), "a\\tb\\nc\\\\");
    }
}
