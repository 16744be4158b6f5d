//! `autoresearch export`: every experiment, chronological, every field, full precision, as CSV,
//! TSV, a JSON array or JSON Lines. Streams the ledger; to stdout (the data itself,
//! docs/CONTRACT.md §1) or atomically to a file with `-o` (then an envelope with the path and
//! count).

use std::collections::BTreeSet;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use autoresearch::error::{AppError, Result};
use autoresearch::ledger::{Ledger, Record};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, Stdout};

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
    ///
    /// A symlink's target is replaced and the link kept; a FIFO or a device is written in
    /// place; `-o /dev/stdout` prints the data as without `-o`.
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

impl Output for ExportOutput {
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
    "code",
    "setup",
    "hardware",
    "worker",
    "worker_run",
    "clock",
    "retracts",
    "imported",
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
        r.code.clone().unwrap_or_default(),
        r.setup.clone().unwrap_or_default(),
        r.hardware.clone().unwrap_or_default(),
        r.worker.clone().unwrap_or_default(),
        r.worker_run.map(|n| n.to_string()).unwrap_or_default(),
        r.clock.map(|n| n.to_string()).unwrap_or_default(),
        r.retracts.map(|n| n.to_string()).unwrap_or_default(),
        // Where an imported record came from, as the compact JSON of the ledger's field.
        r.imported
            .as_ref()
            .and_then(|i| serde_json::to_string(i).ok())
            .unwrap_or_default(),
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

/// Writes records in one format: a header, each record, a footer.
trait Writer {
    fn begin(&mut self, _w: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
    fn record(&mut self, w: &mut dyn Write, r: &Record) -> std::io::Result<()>;
    fn end(&mut self, _w: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
}

/// CSV (RFC 4180 quoting) or TSV (backslash escapes): fixed columns, then one `metrics.<name>`
/// column per secondary metric found anywhere in the ledger.
struct Delimited {
    tsv: bool,
    metric_names: Vec<String>,
}

impl Delimited {
    fn line(&self, w: &mut dyn Write, cells: &[String]) -> std::io::Result<()> {
        let (sep, field): (&str, fn(&str) -> String) = if self.tsv {
            ("\t", tsv_field)
        } else {
            (",", csv_field)
        };
        let cells: Vec<String> = cells.iter().map(|c| field(c)).collect();
        writeln!(w, "{}", cells.join(sep))
    }
}

impl Writer for Delimited {
    fn begin(&mut self, w: &mut dyn Write) -> std::io::Result<()> {
        let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        header.extend(self.metric_names.iter().map(|n| format!("metrics.{n}")));
        self.line(w, &header)
    }
    fn record(&mut self, w: &mut dyn Write, r: &Record) -> std::io::Result<()> {
        self.line(w, &row(r, &self.metric_names))
    }
}

/// One JSON array, a record per line.
struct JsonArray {
    count: u64,
}

impl Writer for JsonArray {
    fn begin(&mut self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(b"[")
    }
    fn record(&mut self, w: &mut dyn Write, r: &Record) -> std::io::Result<()> {
        w.write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
        self.count += 1;
        serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)
    }
    fn end(&mut self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(b"\n]\n")
    }
}

/// JSON Lines: the ledger's own shape, normalised.
struct JsonLines;

impl Writer for JsonLines {
    fn record(&mut self, w: &mut dyn Write, r: &Record) -> std::io::Result<()> {
        serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    }
}

fn writer_for(format: Format, ledger: &Ledger) -> Result<Box<dyn Writer>> {
    Ok(match format {
        Format::Csv | Format::Tsv => {
            // Secondary metric names become columns: one streaming pass to collect them first.
            let mut names = BTreeSet::new();
            ledger.for_each(|_, r| {
                names.extend(r.metrics.into_keys());
                true
            })?;
            Box::new(Delimited {
                tsv: format == Format::Tsv,
                metric_names: names.into_iter().collect(),
            })
        }
        Format::Json => Box::new(JsonArray { count: 0 }),
        Format::Jsonl => Box::new(JsonLines),
    })
}

/// Stream every record through `writer` into `w`; returns the count and the reader's warnings.
fn write_all(
    ledger: &Ledger,
    writer: &mut dyn Writer,
    w: &mut dyn Write,
) -> std::io::Result<(u64, Vec<String>)> {
    writer.begin(w)?;
    let mut count = 0u64;
    let mut failed: Option<std::io::Error> = None;
    let warnings = ledger
        .for_each(|_, r| match writer.record(w, &r) {
            Ok(()) => {
                count += 1;
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        })
        .map_err(|e| std::io::Error::other(e.message))?;
    if let Some(e) = failed {
        return Err(e);
    }
    writer.end(w)?;
    w.flush()?;
    Ok((count, warnings))
}

pub fn run(ctx: &Ctx, args: &ExportArgs) -> Result<ExportOutput> {
    let loaded = ctx.load()?;
    let ledger = &loaded.ledger;
    let mut writer = writer_for(args.format, ledger)?;
    let file = match &args.output {
        Some(path) => Some(output_path(ctx, path)?),
        None => None,
    };
    let Some(abs) = file.filter(|p| !is_our_stdout(p)) else {
        let mut out = Stdout::new();
        let (count, warnings) = write_all(ledger, writer.as_mut(), &mut out).map_err(|e| {
            crate::output::quiet_exit_on_broken_pipe(&e);
            AppError::io("writing the export", &e)
        })?;
        // The data went to stdout; warnings go to stderr so they never corrupt it.
        for w in warnings {
            crate::output::stderr_line(&format!("warning: {w}"));
        }
        return Ok(ExportOutput {
            path: None,
            format: args.format,
            count,
            printed: true,
        });
    };
    let mut done = (0, Vec::new());
    // Atomic for a regular file; a symlink's target is replaced and the link kept; a FIFO or
    // a device is written in place (docs/RELIABILITY.md 7).
    autoresearch::fsutil::write_atomic_with(&abs, |w| {
        done = write_all(ledger, writer.as_mut(), w)?;
        Ok(())
    })?;
    ctx.warn_all(done.1);
    Ok(ExportOutput {
        path: Some(abs.display().to_string()),
        format: args.format,
        count: done.0,
        printed: false,
    })
}

/// `-o`'s path made absolute, refused (`usage`) when it cannot be a file to write: its
/// directory is missing, or it is a directory (or a link to one).
fn output_path(ctx: &Ctx, path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
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
    Ok(abs)
}

/// Is `path` the very file our stdout is (`-o /dev/stdout`, `-o /proc/self/fd/1`, or the file
/// stdout is redirected to)? Then the data goes to stdout as without `-o`: writing it there and
/// then printing the envelope on the same stream would mix the two.
fn is_our_stdout(path: &Path) -> bool {
    let Ok(target) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(ours) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    (target.dev(), target.ino()) == (ours.dev(), ours.ino())
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
