//! `autoresearch report`: the morning report of what the night found — markdown, a
//! self-contained HTML page and the SVG chart, written to a directory whether or not stdout is
//! a terminal, with an envelope of the paths and the numbers (docs/CONTRACT.md §9).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use autoresearch::analysis::source::Branches;
use autoresearch::error::{AppError, Code, Result};
use autoresearch::report::model::{self, Numbers, Options, Report};
use autoresearch::report::{html, markdown};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, Stdout};

/// What `report` reads from the environment, for `agent-info` and the docs.
pub const ENVIRONMENT: &[(&str, &str)] = &[(
    "SOURCE_DATE_EPOCH",
    "report: the time written into the report (seconds since 1970), so the same ledger gives byte-identical files",
)];

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch report                         # .autoresearch/report/report.{md,html,svg,json}
  autoresearch report -o out                  # into ./out
  autoresearch report --format md > PR.md     # the markdown itself, on stdout
  autoresearch report --all-branches --x time # every fork's running best, against hours
  autoresearch report --worker gpu-03         # worker gpu-03's branch, brought by `sync`")]
pub struct ReportArgs {
    /// The directory to write into (default: .autoresearch/report/); created if needed.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// What to write: md (with the SVG beside it), html, json, or all of them.
    #[arg(long, value_enum, default_value_t = Format::All)]
    pub format: Format,
    /// The branch to report on (default: the current experiment branch).
    #[arg(long, value_name = "NAME", conflicts_with = "all_branches")]
    pub branch: Option<String>,
    /// Every branch: one running-best line per fork on the chart.
    #[arg(long, conflicts_with = "worker")]
    pub all_branches: bool,
    /// The chart's x axis: the run number, or hours since the first record.
    #[arg(long, value_enum, default_value_t = XAxis::Run)]
    pub x: XAxis,
    /// Label this many of the keeps that gained most on the chart.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// List every record in the log section (the markdown lists the latest 100 otherwise).
    #[arg(long)]
    pub full: bool,
    /// The report's title.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
    #[command(flatten)]
    pub worker: super::args::WorkerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Md,
    Html,
    Json,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XAxis {
    Run,
    Time,
}

/// The files written.
#[derive(Debug, Default, Serialize)]
pub struct Files {
    pub markdown: Option<String>,
    pub html: Option<String>,
    pub svg: Option<String>,
    pub json: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReportOutput {
    /// The directory written into (null when the markdown went to stdout).
    pub dir: Option<String>,
    pub files: Files,
    pub title: String,
    pub headline: String,
    /// The branch reported on, or `all`.
    pub scope: String,
    pub numbers: Numbers,
    /// Patterns found (`review` lists them).
    pub patterns: usize,
    #[serde(skip)]
    printed: bool,
}

impl Output for ReportOutput {
    fn printed(&self) -> bool {
        self.printed
    }
}

impl Human for ReportOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        p.line(p.paint.bold(&self.headline))?;
        if let Some(dir) = &self.dir {
            p.line(format!("Wrote the report to {dir}:"))?;
        }
        for f in [
            &self.files.html,
            &self.files.markdown,
            &self.files.svg,
            &self.files.json,
        ]
        .into_iter()
        .flatten()
        {
            p.line(format!("  {f}"))?;
        }
        Ok(())
    }
}

pub fn run(ctx: &Ctx, args: &ReportArgs) -> Result<ReportOutput> {
    let loaded = ctx.load()?;
    let summary = ctx.summary(&loaded.ledger)?;
    let branches = if args.all_branches {
        Branches::All
    } else {
        let writer = args.worker.writer(&loaded, &summary)?;
        Branches::One(super::args::report_branch(
            &loaded,
            &summary,
            args.branch.as_deref(),
            writer.as_ref(),
        ))
    };
    let opts = Options {
        branches: branches.clone(),
        x_time: args.x == XAxis::Time,
        top: args.top,
        full: args.full,
        title: args.title.clone(),
        generated_at: generated_at()?,
    };
    let (report, warnings) = model::build(&loaded, &summary, &opts)?;
    ctx.warn_all(warnings);
    if report.log.is_empty() {
        let what = match &branches {
            Branches::One(b) => format!("on `{b}`"),
            Branches::All => "in the ledger".to_string(),
        };
        return Err(AppError::new(
            Code::NoExperiments,
            format!("No experiments {what}: there is nothing to report."),
            "Run the loop first: `autoresearch run -m \"baseline\"`; or name another branch with `--branch` (`autoresearch status --all-branches` lists them).",
        ));
    }
    if args.format == Format::Md && args.output.is_none() {
        let mut out = Stdout::new();
        out.write_all(markdown::render(&report, "report.svg").as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| {
                crate::output::quiet_exit_on_broken_pipe(&e);
                AppError::io("writing the report", &e)
            })?;
        ctx.hint(
            "The markdown links `report.svg`: write it beside with `autoresearch report -o <dir>`."
                .to_string(),
        );
        return Ok(output(&report, None, Files::default(), true));
    }
    let dir = match &args.output {
        Some(d) => ctx.cwd.join(d),
        None => loaded.project.state_dir().join("report"),
    };
    std::fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), &e))?;
    let files = write(&dir, &report, args.format)?;
    if let Some(h) = &files.html {
        ctx.hint(format!("Open the report: {h}"));
    }
    Ok(output(&report, Some(&dir), files, false))
}

fn output(report: &Report, dir: Option<&Path>, files: Files, printed: bool) -> ReportOutput {
    ReportOutput {
        dir: dir.map(|d| d.display().to_string()),
        files,
        title: report.title.clone(),
        headline: report.headline.clone(),
        scope: report.scope.clone(),
        numbers: report.numbers.clone(),
        patterns: report.analysis.patterns.len(),
        printed,
    }
}

/// Write the files `format` asks for into `dir`, each atomically.
fn write(dir: &Path, report: &Report, format: Format) -> Result<Files> {
    let mut files = Files::default();
    let put = |name: &str, bytes: &[u8]| -> Result<String> {
        let path = dir.join(name);
        autoresearch::fsutil::write_atomic(&path, bytes)?;
        Ok(path.display().to_string())
    };
    if matches!(format, Format::Md | Format::All) {
        files.svg = Some(put("report.svg", report.svg.as_bytes())?);
        files.markdown = Some(put(
            "report.md",
            markdown::render(report, "report.svg").as_bytes(),
        )?);
    }
    if matches!(format, Format::Html | Format::All) {
        files.html = Some(put(
            "report.html",
            html::render(report, &report.svg).as_bytes(),
        )?);
    }
    if matches!(format, Format::Json | Format::All) {
        let mut json = serde_json::to_vec_pretty(report).map_err(AppError::internal)?;
        json.push(b'\n');
        files.json = Some(put("report.json", &json)?);
    }
    Ok(files)
}

/// `SOURCE_DATE_EPOCH` (seconds) as RFC 3339, else now.
fn generated_at() -> Result<String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let secs: i64 = v.trim().parse().map_err(|_| {
                AppError::usage(
                    format!("SOURCE_DATE_EPOCH is `{v}`, not a number of seconds."),
                    "Set it to whole seconds since 1970 (e.g. `SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)`), or unset it.",
                )
            })?;
            chrono::DateTime::from_timestamp(secs, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .ok_or_else(|| {
                    AppError::usage(
                        format!("SOURCE_DATE_EPOCH is `{v}`, out of range."),
                        "Set it to whole seconds since 1970, or unset it.",
                    )
                })
        }
        _ => Ok(autoresearch::ledger::now_timestamp()),
    }
}
