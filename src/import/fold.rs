//! The fold of `import`: each file's rows become records in order, with the ids that make a
//! second import add nothing, the baseline of each file or segment, deltas against the best
//! before, and the flags `run` and `record` would give, over the ledger's own `Scope`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use super::{Format, Row, status};
use crate::config::Direction;
use crate::engine::{Jump, SUSPICIOUS_JUMP, suspicious_jump};
use crate::error::Result;
use crate::ledger::{self, Imported, Record, Scope, Status};

/// A run and its metric, in the envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub run: u64,
    pub metric: Option<f64>,
}

/// Rows by the status they were imported with.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ByStatus {
    pub baseline: u64,
    pub kept: u64,
    pub discarded: u64,
    pub crash: u64,
    pub timeout: u64,
}

impl ByStatus {
    fn bump(&mut self, s: Status) {
        match s {
            Status::Baseline => self.baseline += 1,
            Status::Kept => self.kept += 1,
            Status::Crash => self.crash += 1,
            Status::Timeout => self.timeout += 1,
            Status::Discarded | Status::Recheck | Status::Retraction => self.discarded += 1,
        }
    }
}

/// One file's import.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub format: &'static str,
    /// Rows read (records in the file).
    pub rows: u64,
    /// Records added to the ledger (or that would be, with `--dry-run`).
    pub added: u64,
    /// Rows already in the ledger from an earlier import.
    pub skipped_existing: u64,
    pub by_status: ByStatus,
    /// Source statuses the table does not know (imported as `discarded`), with their counts.
    pub unknown_statuses: BTreeMap<String, u64>,
    /// The latest baseline of the file, as imported.
    pub baseline: Option<Point>,
    /// The best after the file, by the ledger's rules.
    pub best: Option<Point>,
    /// Runs flagged `suspicious_jump`.
    pub flagged: Vec<u64>,
}

/// A file read and checked, ready to become records.
pub(super) struct Source {
    pub label: String,
    pub format: Format,
    pub rows: Vec<Row>,
    /// Each line's hash chained over the lines before it, by 0-based line index.
    pub chain: Vec<u64>,
    /// The commit each row names, when this repository has it: (full hash, parent).
    pub commits: Vec<Option<(git2::Oid, Option<String>)>>,
}

/// Each line's hash chained over the lines before it: a row's id depends on its own line and
/// every line above it, so a log that grows keeps the ids of its earlier rows.
pub(super) fn chain(text: &str) -> Vec<u64> {
    let mut h = 0u64;
    text.split('\n')
        .map(|line| {
            h = xxh3_64_with_seed(line.as_bytes(), h);
            h
        })
        .collect()
}

/// `import-` and 16 hex digits: xxh3 of the format and the chained hash of the row's line.
pub fn row_id(format: Format, chained: u64) -> String {
    let key = format!("{}\n{chained:016x}", format.as_str());
    format!("import-{:016x}", xxh3_64(key.as_bytes()))
}

/// The ids of the records earlier imports wrote, with their runs.
pub(super) fn existing_ids(l: &ledger::Ledger) -> Result<HashMap<String, u64>> {
    let mut ids = HashMap::new();
    l.for_each(|_, r| {
        if r.id.starts_with("import-") {
            ids.insert(r.id, r.run);
        }
        true
    })?;
    Ok(ids)
}

/// The records to append, in order, and each file's report: a fold over each file's rows.
pub(super) fn plan(
    sources: &[Source],
    existing: &HashMap<String, u64>,
    next: &mut dyn FnMut() -> Result<u64>,
    direction: Direction,
    branch: &str,
    pin: &mut dyn FnMut(u64, git2::Oid),
) -> Result<(Vec<Record>, Vec<FileReport>)> {
    let mut records = Vec::new();
    let mut reports = Vec::new();
    // The ids written by this call too: a file named twice is imported once.
    let mut existing = existing.clone();
    for src in sources {
        let mut fold = FileFold {
            src,
            direction,
            branch,
            existing: &mut existing,
            records: &mut records,
        };
        reports.push(fold.run(next, pin)?);
    }
    Ok((records, reports))
}

/// One file's rows folded into records: the state `plan` threads through them.
struct FileFold<'a> {
    src: &'a Source,
    direction: Direction,
    branch: &'a str,
    existing: &'a mut HashMap<String, u64>,
    records: &'a mut Vec<Record>,
}

impl FileFold<'_> {
    /// Fold every row; new records go to `records` (their commits pinned), and the file's
    /// report comes back.
    fn run(
        &mut self,
        next: &mut dyn FnMut() -> Result<u64>,
        pin: &mut dyn FnMut(u64, git2::Oid),
    ) -> Result<FileReport> {
        let src = self.src;
        let mut scope = Scope::default();
        let mut report = FileReport {
            path: src.label.clone(),
            format: src.format.as_str(),
            rows: src.rows.len() as u64,
            added: 0,
            skipped_existing: 0,
            by_status: ByStatus::default(),
            unknown_statuses: BTreeMap::new(),
            baseline: None,
            best: None,
            flagged: Vec::new(),
        };
        for (row, commit) in src.rows.iter().zip(&src.commits) {
            let chained = src.chain.get(row.line as usize - 1).copied().unwrap_or(0);
            let id = row_id(src.format, chained);
            if row.status.is_none() {
                *report
                    .unknown_statuses
                    .entry(row.status_text.clone())
                    .or_default() += 1;
            }
            let status = if row.starts {
                Status::Baseline
            } else {
                row.status.unwrap_or(Status::Discarded)
            };
            report.by_status.bump(status);
            let (run, new) = match self.existing.get(&id) {
                Some(run) => (*run, false),
                None => (next()?, true),
            };
            let record = self.record_of(row, commit, &scope, run, id, status);
            if record.flags.iter().any(|f| f == SUSPICIOUS_JUMP) {
                report.flagged.push(run);
            }
            if status == Status::Baseline && record.metric.is_some() {
                report.baseline = Some(Point {
                    run,
                    metric: record.metric,
                });
            }
            scope.fold_owned(record.clone(), self.direction);
            if new {
                self.existing.insert(record.id.clone(), run);
                if let Some((oid, _)) = commit {
                    pin(run, *oid);
                }
                report.added += 1;
                self.records.push(record);
            } else {
                report.skipped_existing += 1;
            }
        }
        report.best = scope.best.as_ref().map(|b| Point {
            run: b.run,
            metric: b.metric,
        });
        Ok(report)
    }

    /// The record of one row, judged against the file's history so far (`scope`).
    fn record_of(
        &self,
        row: &Row,
        commit: &Option<(git2::Oid, Option<String>)>,
        scope: &Scope,
        run: u64,
        id: String,
        status: Status,
    ) -> Record {
        let metric = status::measured(status, row.metric);
        let (timestamp, imported) = provenance(self.src, row, commit.is_some());
        Record {
            id,
            timestamp,
            metric,
            metrics: row.metrics.clone(),
            samples: if metric.is_some() {
                row.samples.clone()
            } else {
                Vec::new()
            },
            delta: metric.zip(scope.best_metric()).map(|(m, b)| m - b),
            summary: ledger::clean_summary(&row.summary).0,
            commit: commit.as_ref().map(|(oid, _)| oid.to_string()),
            parent: commit.as_ref().and_then(|(_, p)| p.clone()),
            branch: Some(self.branch.to_string()),
            duration_s: row.duration_s,
            exit_code: row.exit_code,
            reason: row.reason.clone(),
            flags: flags_for(scope, status, metric, self.direction),
            source: format!("import:{}", self.src.format.as_str()),
            code: None,
            setup: None,
            imported: Some(imported),
            ..Record::new(run, status)
        }
    }
}

/// Where a row came from (its file, line, format, status as written, and every column the
/// record has no field for: a commit this repository lacks, a time that does not read), and
/// its timestamp when it reads as one.
fn provenance(src: &Source, row: &Row, pinned: bool) -> (String, Imported) {
    let mut fields = row.fields.clone();
    if let (false, Some(c)) = (pinned, &row.commit) {
        fields.insert("commit".to_string(), c.clone());
    }
    let timestamp = rfc3339_utc(&row.timestamp).unwrap_or_else(|| {
        // Not a time we can read: kept as the source wrote it.
        fields.insert("timestamp".to_string(), row.timestamp.clone());
        String::new()
    });
    let imported = Imported {
        file: src.label.clone(),
        line: row.line,
        format: src.format.as_str().to_string(),
        status: row.status_text.clone(),
        fields: fields
            .into_iter()
            .map(|(k, v)| (k, ledger::clean_summary(&v).0))
            .collect(),
    };
    (timestamp, imported)
}

/// Flags by our rules: a keep that beats the best by too much is a `suspicious_jump` (the
/// rule `run` applies, against the keeps since the baseline and the noise); a keep that does
/// not beat it is `kept_not_better` (as `record` flags it).
fn flags_for(
    scope: &Scope,
    status: Status,
    metric: Option<f64>,
    direction: Direction,
) -> Vec<String> {
    let mut flags = Vec::new();
    let (Status::Kept, Some(m), Some(best)) = (status, metric, scope.best_level()) else {
        return flags;
    };
    if direction.better(m, best) {
        if suspicious_jump(&Jump {
            metric: m,
            best,
            gain: direction.gain(m, best),
            earlier: &scope.kept_gains,
            noise: scope.noise(None).map(|n| n.sd),
        }) {
            flags.push(SUSPICIOUS_JUMP.to_string());
        }
    } else {
        flags.push("kept_not_better".to_string());
    }
    flags
}

/// A source's time as the ledger writes times: RFC 3339, UTC, milliseconds, `Z`; empty stays
/// empty; `None` when it does not read as RFC 3339.
fn rfc3339_utc(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some(String::new());
    }
    let t = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_the_rows_above_and_the_format() {
        let a = chain("h\nr1\nr2\n");
        let b = chain("h\nr1\nr2\nr3\n");
        let c = chain("h\nrX\nr2\n");
        assert_eq!(a[..3], b[..3], "a log that grows keeps its ids");
        assert_ne!(a[2], c[2], "a different row above changes the id");
        assert_ne!(row_id(Format::Tsv, a[1]), row_id(Format::Jsonl, a[1]));
        let id = row_id(Format::Tsv, a[1]);
        assert!(id.starts_with("import-") && id.len() == 23, "{id}");
    }

    #[test]
    fn times_are_written_as_the_ledger_writes_them() {
        assert_eq!(
            rfc3339_utc("2026-11-26T00:01:16.027367729+00:00").as_deref(),
            Some("2026-11-26T00:01:16.027Z")
        );
        assert_eq!(
            rfc3339_utc("2026-01-01T02:00:00+02:00").as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(rfc3339_utc("").as_deref(), Some(""));
        assert_eq!(rfc3339_utc("yesterday"), None);
    }
}
