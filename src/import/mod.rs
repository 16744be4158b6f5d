//! `import`: other tools' experiment logs become ledger records (docs/CONTRACT.md §7 "import").
//!
//! Every file is read and checked first (`tsv`, `jsonl`, `ledger_fmt`: one reader per format,
//! each returning rows); only then are the new records appended, in one write under the ledger
//! lock, so a file that does not parse anywhere writes nothing. Statuses go through one table
//! (`status`). The first row of a file (of each segment of a JSON Lines log) becomes a baseline;
//! deltas and flags are recomputed by a fold of the imported rows, with the same
//! `suspicious_jump` rule `run` applies. Each record's `id` is derived from the file's content,
//! so importing a file again adds nothing.

mod fold;
pub mod jsonl;
pub mod ledger_fmt;
pub mod status;
pub mod tsv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Direction;
use crate::error::{AppError, Code, Result};
use crate::git;
use crate::ledger::{self, Status};

use crate::project::Loaded;
pub use fold::{ByStatus, FileReport, Point, row_id};
use fold::{Source, chain, existing_ids, plan};

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The karpathy `results.tsv` family: a header row with a `status` column.
    Tsv,
    /// JSON Lines with `{"type":"config",...}` header lines (the pi-autoresearch log).
    Jsonl,
    /// Ledger records, ours or the first generation's.
    Ledger,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Tsv => "tsv",
            Format::Jsonl => "jsonl",
            Format::Ledger => "ledger",
        }
    }
}

/// One row of a source, as a reader found it.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// 1-based line in the file.
    pub line: u64,
    /// The status as the source wrote it.
    pub status_text: String,
    /// What it maps to; `None` when the table does not know it.
    pub status: Option<Status>,
    pub metric: Option<f64>,
    pub metrics: BTreeMap<String, f64>,
    pub summary: String,
    /// The commit as the source wrote it (often abbreviated).
    pub commit: Option<String>,
    /// RFC 3339, or empty when the source has no time.
    pub timestamp: String,
    /// Everything else, as text.
    pub fields: BTreeMap<String, String>,
    /// The first row of a file or of a segment: it becomes a baseline.
    pub starts: bool,
    /// Ledger records carry these over.
    pub samples: Vec<f64>,
    pub duration_s: Option<f64>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

impl Row {
    /// A row as the table readers start it: its line, status (as written and mapped), metric,
    /// and whether it starts a file or segment.
    pub fn at(
        line: u64,
        status_text: String,
        status: Option<Status>,
        metric: Option<f64>,
        starts: bool,
    ) -> Row {
        Row {
            line,
            status_text,
            status,
            metric,
            starts,
            ..Row::default()
        }
    }

    /// A crash or a timeout: its numbers are placeholders, not measurements.
    pub fn failed(&self) -> bool {
        matches!(self.status, Some(Status::Crash | Status::Timeout))
    }
}

/// What a reader returns: the rows, and the metric names and directions the file declares.
#[derive(Debug, Default)]
pub struct Read {
    pub rows: Vec<Row>,
    /// Metric names the file names (a JSON Lines config line, a ledger's `autoresearch.toml`),
    /// with the line that names them.
    pub metric_names: Vec<(u64, String)>,
    /// Directions the file declares, as written, with their line.
    pub directions: Vec<(u64, String)>,
}

/// What the readers look for.
#[derive(Debug, Clone)]
pub struct Want<'a> {
    /// The metric's name in the source: the config's, or `FROM` of `--rename-metric`.
    pub metric: &'a str,
    /// The config's metric name.
    pub config_metric: &'a str,
}

/// The call: files, format (`None`: detect), branch, rename, dry run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub format: Option<Format>,
    pub branch: Option<String>,
    /// `--rename-metric FROM=TO`.
    pub rename: Option<(String, String)>,
    pub dry_run: bool,
}

/// `import`'s data.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub files: Vec<FileReport>,
    /// Records added over all files.
    pub added: u64,
    pub dry_run: bool,
    /// Problems that did not stop the import (the envelope's warnings).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

pub fn import_error(message: impl Into<String>, suggestion: impl Into<String>) -> AppError {
    AppError::new(Code::ImportInvalid, message, suggestion)
}

/// A line that does not read: names the file and the line.
pub fn bad_line(label: &str, line: u64, what: &str) -> AppError {
    import_error(
        format!("`{label}` line {line}: {what}. Nothing was imported."),
        format!("Fix or remove line {line} of `{label}` and run `autoresearch import` again."),
    )
}

/// Read, check and append: the whole of `import`.
pub fn import(loaded: &Loaded, opts: &Options) -> Result<Outcome> {
    let cfg = &loaded.config;
    let (branch, want) = check_options(cfg, opts)?;
    let mut warnings = Vec::new();
    let mut sources = Vec::new();
    for path in &opts.files {
        sources.push(read_source(loaded, path, opts.format, &want)?);
    }
    let direction = cfg.metric_direction;
    let repo = &loaded.project.repo;
    let (files, added) = if opts.dry_run {
        let existing = existing_ids(&loaded.ledger)?;
        let summary = loaded.ledger.summary()?;
        // The numbers the write would give: past the ones `run` steps in progress reserved.
        let reserved = crate::loopfile::Loops::of(&loaded.project, &cfg.branch).reserved();
        let mut run = summary.next_run();
        let mut next = || -> Result<u64> {
            loop {
                let r = run.ok_or_else(|| loaded.ledger.numbers_exhausted())?;
                run = r.checked_add(1);
                if !reserved.contains(&r) {
                    return Ok(r);
                }
            }
        };
        let (records, files) = plan(
            &sources,
            &existing,
            &mut next,
            direction,
            &branch,
            &mut |_, _| {},
        )?;
        (files, records.len() as u64)
    } else {
        loaded.project.ensure_state_dir()?;
        let loops = crate::loopfile::Loops::of(&loaded.project, &cfg.branch);
        let mut files = Vec::new();
        let mut pin_failures = Vec::new();
        let written = loaded.ledger.append_many_around(
            || loops.reserved(),
            |next, _| {
                // Under the lock: no other import can add the same ids meanwhile.
                let existing = existing_ids(&loaded.ledger)?;
                let mut pin = |run: u64, oid: git2::Oid| {
                    // Pinned before the line is written, as `record` does.
                    if let Err(e) = git::set_run_ref(repo, run, oid) {
                        pin_failures.push(format!("The record is saved, but {}", e.message));
                    }
                };
                let (records, f) = plan(&sources, &existing, next, direction, &branch, &mut pin)?;
                files = f;
                Ok(records)
            },
        )?;
        warnings.extend(written.warnings);
        warnings.extend(pin_failures);
        (files, written.records.len() as u64)
    };
    warnings.extend(files.iter().filter_map(unknown_statuses));
    Ok(Outcome {
        files,
        added,
        dry_run: opts.dry_run,
        warnings,
    })
}

/// The branch the records go to and the metric to read, checked against the config.
fn check_options<'c>(
    cfg: &'c crate::config::Config,
    opts: &'c Options,
) -> Result<(String, Want<'c>)> {
    if let Some((_, to)) = &opts.rename
        && to != &cfg.metric_name
    {
        return Err(AppError::usage(
            format!(
                "`--rename-metric` renames to `{to}`, but the config's metric is `{}`.",
                cfg.metric_name
            ),
            format!(
                "Pass `--rename-metric <name in the file>={}`.",
                cfg.metric_name
            ),
        ));
    }
    let branch = opts.branch.clone().unwrap_or_else(|| cfg.branch.clone());
    if !crate::config::valid_branch_name(&branch) {
        return Err(AppError::new(
            Code::InvalidName,
            format!("`{branch}` is not a valid branch name."),
            "Pass the branch the records belong to, e.g. `--branch autoresearch`.",
        ));
    }
    let want = Want {
        metric: opts
            .rename
            .as_ref()
            .map_or(&cfg.metric_name, |(from, _)| from),
        config_metric: &cfg.metric_name,
    };
    Ok((branch, want))
}

/// The one warning about a file's statuses `import` does not know, if it has any.
fn unknown_statuses(f: &FileReport) -> Option<String> {
    if f.unknown_statuses.is_empty() {
        return None;
    }
    let n: u64 = f.unknown_statuses.values().sum();
    let list: Vec<String> = f
        .unknown_statuses
        .iter()
        .map(|(s, c)| format!("`{s}` ({c})"))
        .collect();
    Some(format!(
        "`{}`: {n} row(s) with a status `import` does not know, imported as `discarded`: {}.",
        f.path,
        list.join(", ")
    ))
}

/// Read one file, detect or check its format, read its rows and check its metric and
/// direction against the config.
fn read_source(
    loaded: &Loaded,
    path: &Path,
    format: Option<Format>,
    want: &Want,
) -> Result<Source> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| crate::fsutil::io_error(format!("reading `{label}`"), path, &e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        import_error(
            format!(
                "`{label}` is not UTF-8 text (byte {}). Nothing was imported.",
                e.utf8_error().valid_up_to()
            ),
            format!("Convert `{label}` to UTF-8 and run `autoresearch import` again."),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let format = match format {
        Some(f) => f,
        None => detect(text).ok_or_else(|| {
            import_error(
                format!(
                    "`{label}` is not a log `import` reads: expected a TSV whose header row has a `status` column, JSON Lines that start with a `{{\"type\":\"config\",...}}` line, or ledger records (`{{\"run\":0,\"status\":\"kept\",...}}`). Nothing was imported."
                ),
                format!(
                    "Check the file, or name its format: `autoresearch import {label} --format tsv|jsonl|ledger`."
                ),
            )
        })?,
    };
    let mut read = match format {
        Format::Tsv => tsv::read(&label, text, want)?,
        Format::Jsonl => jsonl::read(&label, text, want)?,
        Format::Ledger => ledger_fmt::read(&label, text)?,
    };
    if format == Format::Ledger {
        sibling_config(path, &mut read);
    }
    check_declared(&label, &read, want, loaded.config.metric_direction)?;
    let chain = chain(text);
    let commits = read
        .rows
        .iter()
        .map(|r| {
            r.commit
                .as_deref()
                .and_then(|c| in_repo(&loaded.project.repo, c))
        })
        .collect();
    Ok(Source {
        label,
        format,
        rows: read.rows,
        chain,
        commits,
    })
}

/// The format, from the first non-blank line.
pub fn detect(text: &str) -> Option<Format> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let first = first.trim_end_matches('\r');
    if first.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(first).ok()?;
        if v.get("type").and_then(|t| t.as_str()) == Some("config") {
            return Some(Format::Jsonl);
        }
        return matches!(
            ledger::parse_line(first.as_bytes(), false),
            ledger::Line::Record(_)
        )
        .then_some(Format::Ledger);
    }
    let has_status = first
        .split('\t')
        .any(|c| c.trim().eq_ignore_ascii_case("status"));
    (first.contains('\t') && has_status).then_some(Format::Tsv)
}

/// A first-generation ledger sits beside its `autoresearch.toml`: its metric and direction are
/// the ledger's.
fn sibling_config(path: &Path, read: &mut Read) {
    let Some(dir) = path.parent() else { return };
    let Ok(text) = std::fs::read_to_string(dir.join("autoresearch.toml")) else {
        return;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return;
    };
    if let Some(name) = table.get("metric_name").and_then(|v| v.as_str()) {
        read.metric_names.push((0, name.to_string()));
    }
    if let Some(d) = table.get("metric_direction").and_then(|v| v.as_str()) {
        read.directions.push((0, d.to_string()));
    }
}

/// A direction as other tools write it.
pub fn parse_direction(text: &str) -> Option<Direction> {
    match text.trim().to_ascii_lowercase().as_str() {
        "lower" | "min" | "minimize" | "minimise" | "lower_is_better" | "down" => {
            Some(Direction::Lower)
        }
        "higher" | "max" | "maximize" | "maximise" | "higher_is_better" | "up" => {
            Some(Direction::Higher)
        }
        _ => None,
    }
}

fn place(label: &str, line: u64) -> String {
    if line == 0 {
        format!("`{label}` (its `autoresearch.toml`)")
    } else {
        format!("`{label}` line {line}")
    }
}

/// The metric names and directions a file declares must be the config's.
fn check_declared(label: &str, read: &Read, want: &Want, direction: Direction) -> Result<()> {
    for (line, name) in &read.metric_names {
        if name != want.metric {
            return Err(metric_mismatch(&place(label, *line), name, want));
        }
    }
    for (line, text) in &read.directions {
        let at = place(label, *line);
        match parse_direction(text) {
            None => {
                return Err(import_error(
                    format!(
                        "{at} declares the direction `{text}`, which `import` cannot read as lower or higher is better. Nothing was imported."
                    ),
                    "Change it to `lower` or `higher` in the file and run `autoresearch import` again.",
                ));
            }
            Some(d) if d != direction => {
                return Err(import_error(
                    format!(
                        "{at} says {} is better, but `autoresearch.toml` says `metric_direction = \"{}\"`. Nothing was imported.",
                        d.as_str(),
                        direction.as_str()
                    ),
                    "Import into a project whose `metric_direction` matches the log, or fix the log's direction.",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The file's metric is not the config's.
pub fn metric_mismatch(at: &str, found: &str, want: &Want) -> AppError {
    import_error(
        format!(
            "{at} measures `{found}`, but the config's metric is `{}`. Nothing was imported.",
            want.config_metric
        ),
        format!(
            "If `{found}` is the same measurement, pass `--rename-metric {found}={}`; otherwise import into a project whose `metric_name` is `{found}`.",
            want.config_metric
        ),
    )
}

/// The commit a source names, when this repository has it.
fn in_repo(repo: &git2::Repository, text: &str) -> Option<(git2::Oid, Option<String>)> {
    let t = text.trim();
    if !(4..=40).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let commit = repo.revparse_single(t).ok()?.peel_to_commit().ok()?;
    Some((
        commit.id(),
        commit.parent_ids().next().map(|p| p.to_string()),
    ))
}

/// A JSON value as text for `imported.fields`: strings as they are, the rest as compact JSON.
pub fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_the_first_line() {
        assert_eq!(
            detect("commit\tval_bpb\tstatus\tdescription\nabc\t1\tkeep\tx\n"),
            Some(Format::Tsv)
        );
        assert_eq!(
            detect("\n{\"type\":\"config\",\"metricName\":\"m\"}\n"),
            Some(Format::Jsonl)
        );
        assert_eq!(
            detect("{\"run\":0,\"status\":\"keep\",\"metric\":1}\n"),
            Some(Format::Ledger)
        );
        assert_eq!(detect("commit,val_bpb,status\n"), None);
        assert_eq!(detect("a\tb\n"), None);
        assert_eq!(detect("{\"x\":1}\n"), None);
        assert_eq!(detect(""), None);
    }

    #[test]
    fn directions_read_as_other_tools_write_them() {
        assert_eq!(parse_direction("lower"), Some(Direction::Lower));
        assert_eq!(parse_direction("Maximize"), Some(Direction::Higher));
        assert_eq!(parse_direction("sideways"), None);
    }
}
