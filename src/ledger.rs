//! The ledger, `.autoresearch/experiments.jsonl` (CONTRACT §5, RELIABILITY 1–7).
//!
//! Writers take an exclusive `flock`, repair a torn tail, number the run under the lock and
//! append the whole line in one `write` followed by `fdatasync`. Readers stream, never panic and
//! skip what does not parse with a warning naming the line.
//!
//! Aggregates (counts, baseline, best, last run, per branch) are a fold over the ledger. To keep
//! `status`, `best` and `record` fast on 100,000 records the fold is cached in `summary.json`
//! with the byte offset it covers and a hash of the bytes just before that offset; the next
//! reader folds only what was appended since. A cache that does not match the file is rebuilt.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize};

use crate::config::Direction;
use crate::error::{AppError, Code, Result};

mod head;
use head::{HeadLine, parse_head};

/// A record's line is at most this long (CONTRACT §5); longer lines are skipped by readers.
pub const MAX_LINE: usize = 64 * 1024;
/// Summaries are capped (RELIABILITY 14).
pub const MAX_SUMMARY: usize = 4 * 1024;
const CACHE_FORMAT: u32 = 1;
const TAIL_HASH_BYTES: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Baseline,
    #[serde(alias = "keep")]
    Kept,
    #[serde(alias = "discard")]
    Discarded,
    Crash,
    Timeout,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Baseline,
        Status::Kept,
        Status::Discarded,
        Status::Crash,
        Status::Timeout,
    ];

    /// Parse a status as typed by a user, with the first generation's aliases.
    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_ascii_lowercase().as_str() {
            "baseline" => Some(Status::Baseline),
            "kept" | "keep" => Some(Status::Kept),
            "discarded" | "discard" => Some(Status::Discarded),
            "crash" | "crashed" => Some(Status::Crash),
            "timeout" => Some(Status::Timeout),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Baseline => "baseline",
            Status::Kept => "kept",
            Status::Discarded => "discarded",
            Status::Crash => "crash",
            Status::Timeout => "timeout",
        }
    }

    /// Baseline and kept runs are the ones a best can come from.
    pub fn counts_for_best(self) -> bool {
        matches!(self, Status::Baseline | Status::Kept)
    }
}

fn default_source() -> String {
    "record".to_string()
}

/// One experiment. Field order is the ledger's column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub run: u64,
    #[serde(default)]
    pub id: String,
    #[serde(default, alias = "time", deserialize_with = "de_timestamp")]
    pub timestamp: String,
    pub status: Status,
    #[serde(default, alias = "value", alias = "score")]
    pub metric: Option<f64>,
    #[serde(default, deserialize_with = "de_metrics")]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub samples: Vec<f64>,
    #[serde(default)]
    pub delta: Option<f64>,
    #[serde(default, alias = "description", alias = "message")]
    pub summary: String,
    #[serde(default, alias = "hash")]
    pub commit: Option<String>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default = "default_source")]
    pub source: String,
}

#[cfg(test)]
impl Record {
    /// A record with only the decisive fields set, for unit tests.
    pub fn blank(run: u64, status: Status, metric: Option<f64>) -> Record {
        Record {
            run,
            id: String::new(),
            timestamp: String::new(),
            status,
            metric,
            metrics: BTreeMap::new(),
            samples: vec![],
            delta: None,
            summary: String::new(),
            commit: None,
            parent: None,
            branch: None,
            duration_s: None,
            exit_code: None,
            reason: None,
            flags: vec![],
            source: String::new(),
        }
    }
}

/// Timestamps are RFC 3339 strings; tolerate epoch milliseconds from other tools. A visitor,
/// not an untagged enum: untagged buffering was the most expensive part of reading a line.
fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an RFC 3339 string or epoch milliseconds")
        }
        fn visit_str<E>(self, v: &str) -> std::result::Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E>(self, v: String) -> std::result::Result<String, E> {
            Ok(v)
        }
        fn visit_i64<E>(self, v: i64) -> std::result::Result<String, E> {
            Ok(millis_to_rfc3339(v))
        }
        fn visit_u64<E>(self, v: u64) -> std::result::Result<String, E> {
            Ok(millis_to_rfc3339(i64::try_from(v).unwrap_or(i64::MAX)))
        }
        fn visit_f64<E>(self, v: f64) -> std::result::Result<String, E> {
            Ok(millis_to_rfc3339(v as i64))
        }
        fn visit_unit<E>(self) -> std::result::Result<String, E> {
            Ok(String::new())
        }
        fn visit_none<E>(self) -> std::result::Result<String, E> {
            Ok(String::new())
        }
    }
    d.deserialize_any(V)
}

fn millis_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Secondary metrics: keep the finite numeric ones, drop nulls and non-numbers rather than the
/// record. A hand-written visitor: going through `serde_json::Value` doubled the read time.
fn de_metrics<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, f64>, D::Error> {
    struct MaybeNumber(Option<f64>);
    impl<'de> Deserialize<'de> for MaybeNumber {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = MaybeNumber;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("any value")
                }
                fn visit_f64<E>(self, v: f64) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(v.is_finite().then_some(v)))
                }
                fn visit_i64<E>(self, v: i64) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(Some(v as f64)))
                }
                fn visit_u64<E>(self, v: u64) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(Some(v as f64)))
                }
                fn visit_bool<E>(self, _: bool) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(None))
                }
                fn visit_str<E>(self, _: &str) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(None))
                }
                fn visit_unit<E>(self) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(None))
                }
                fn visit_none<E>(self) -> std::result::Result<MaybeNumber, E> {
                    Ok(MaybeNumber(None))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut a: A,
                ) -> std::result::Result<MaybeNumber, A::Error> {
                    while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(MaybeNumber(None))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut a: A,
                ) -> std::result::Result<MaybeNumber, A::Error> {
                    while a
                        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                        .is_some()
                    {}
                    Ok(MaybeNumber(None))
                }
            }
            d.deserialize_any(V)
        }
    }
    let raw: Option<BTreeMap<String, MaybeNumber>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.0.map(|f| (k, f)))
        .collect())
}

/// Now, as the ledger writes timestamps: RFC 3339 UTC with milliseconds and `Z`.
pub fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Globally unique: time, pid and randomness.
pub fn new_id() -> String {
    let ms = chrono::Utc::now().timestamp_millis();
    format!(
        "{ms:011x}-{:05x}-{:016x}",
        std::process::id(),
        crate::fsutil::nonce()
    )
}

/// Keep text printable: strip control characters and escape sequences (RELIABILITY 14) so a
/// summary cannot inject terminal escapes into `log`; cap it at 4 KiB on a char boundary.
/// Returns the clean text and whether it was truncated.
pub fn clean_summary(raw: &str) -> (String, bool) {
    let mut out = String::with_capacity(raw.len().min(MAX_SUMMARY));
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // Skip an escape sequence: CSI `ESC [ … final`, OSC `ESC ] … BEL/ST`, or ESC x.
                match chars.next() {
                    Some('[') => {
                        for n in chars.by_ref() {
                            if ('@'..='~').contains(&n) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        while let Some(n) = chars.next() {
                            if n == '\u{7}' {
                                break;
                            }
                            if n == '\u{1b}' && chars.peek() == Some(&'\\') {
                                chars.next();
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    let trimmed = out.trim();
    if trimmed.len() <= MAX_SUMMARY {
        return (trimmed.to_string(), false);
    }
    let mut end = MAX_SUMMARY;
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    (trimmed[..end].to_string(), true)
}

/// A record in brief, for `best_before`/`best_after` and summaries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Brief {
    pub run: u64,
    pub status: Status,
    pub metric: Option<f64>,
    pub commit: Option<String>,
    pub summary: String,
    pub timestamp: String,
}

impl From<&Record> for Brief {
    fn from(r: &Record) -> Brief {
        Brief {
            run: r.run,
            status: r.status,
            metric: r.metric,
            commit: r.commit.clone(),
            summary: r.summary.clone(),
            timestamp: r.timestamp.clone(),
        }
    }
}

/// Improvement % from baseline to best, positive when best is better (CONTRACT §5).
pub fn improvement_pct(direction: Direction, baseline: f64, best: f64) -> Option<f64> {
    if baseline == 0.0 {
        return None;
    }
    Some(direction.gain(best, baseline) / baseline.abs() * 100.0)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub baseline: u64,
    pub kept: u64,
    pub discarded: u64,
    pub crash: u64,
    pub timeout: u64,
}

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        match s {
            Status::Baseline => self.baseline,
            Status::Kept => self.kept,
            Status::Discarded => self.discarded,
            Status::Crash => self.crash,
            Status::Timeout => self.timeout,
        }
    }
    fn bump(&mut self, s: Status) {
        match s {
            Status::Baseline => self.baseline += 1,
            Status::Kept => self.kept += 1,
            Status::Discarded => self.discarded += 1,
            Status::Crash => self.crash += 1,
            Status::Timeout => self.timeout += 1,
        }
    }
}

/// The fold of one scope (the whole ledger, or one branch).
///
/// The baseline is the latest `baseline` record; the best is the best metric among that baseline
/// and the `kept` runs after it, so `run --baseline` (after a hardware change, say) starts a new
/// comparison. With no baseline at all, the best is the best `kept` run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scope {
    pub total: u64,
    pub counts: Counts,
    pub baseline: Option<Record>,
    pub best: Option<Record>,
    pub last: Option<Record>,
    /// Records in this scope up to and including the baseline / the best.
    pub baseline_at: u64,
    pub best_at: u64,
    /// Runs since the last kept or baseline run.
    pub since_keep: u64,
    /// Gains of the kept runs since the baseline that improved the best, for `suspicious_jump`.
    pub kept_gains: Vec<f64>,
}

impl Scope {
    /// Add one record of this scope, in ledger order.
    pub fn fold_owned(&mut self, rec: Record, direction: Direction) {
        self.fold(&rec, direction);
        self.last = Some(rec);
    }

    /// Add one record of this scope, in ledger order; `last` is left to the caller so a record
    /// folded into several scopes is cloned once, not once per scope.
    fn fold(&mut self, rec: &Record, direction: Direction) {
        self.fold_parts(rec.status, rec.metric, &mut || Some(rec.clone()), direction);
    }

    /// The fold from a record's status and metric; `full` makes the whole record, and is only
    /// called when it becomes the baseline or the best (rarely: most runs are neither).
    fn fold_parts(
        &mut self,
        status: Status,
        metric: Option<f64>,
        full: &mut dyn FnMut() -> Option<Record>,
        direction: Direction,
    ) {
        self.total += 1;
        self.counts.bump(status);
        match (status, metric) {
            (Status::Baseline, Some(_)) => {
                let Some(rec) = full() else { return };
                self.baseline = Some(rec.clone());
                self.best = Some(rec);
                self.baseline_at = self.total;
                self.best_at = self.total;
                self.kept_gains.clear();
                self.since_keep = 0;
            }
            (Status::Kept, Some(m)) => {
                match self.best.as_ref().and_then(|b| b.metric) {
                    Some(b) if !direction.better(m, b) => {}
                    prev => {
                        let Some(rec) = full() else { return };
                        if let Some(b) = prev {
                            self.kept_gains.push(direction.gain(m, b));
                        }
                        self.best = Some(rec);
                        self.best_at = self.total;
                    }
                }
                self.since_keep = 0;
            }
            _ => self.since_keep += 1,
        }
    }

    pub fn best_metric(&self) -> Option<f64> {
        self.best.as_ref().and_then(|b| b.metric)
    }

    /// Experiments from the baseline to the best (0 when the baseline is the best).
    pub fn runs_to_best(&self) -> Option<u64> {
        (self.baseline.is_some() && self.best.is_some())
            .then(|| self.best_at.saturating_sub(self.baseline_at))
    }
}

/// Everything readers need without a second pass, plus ledger health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    format: u32,
    direction: Direction,
    default_branch: String,
    /// Bytes of the ledger folded (always just after a newline).
    pub offset: u64,
    tail_hash: u64,
    /// Complete lines read (blank lines included).
    pub lines: u64,
    pub valid: u64,
    pub bad_count: u64,
    /// The first bad line numbers, for warnings and `doctor`.
    pub bad_lines: Vec<u64>,
    pub max_run: Option<u64>,
    /// Records whose run number is not above every earlier one (duplicates or hand edits).
    pub out_of_order: u64,
    pub all: Scope,
    pub branches: BTreeMap<String, Scope>,
    /// Set by the reader, not cached: a torn last line is present.
    #[serde(skip)]
    pub torn_tail: Option<u64>,
}

impl Summary {
    fn empty(direction: Direction, default_branch: &str) -> Summary {
        Summary {
            format: CACHE_FORMAT,
            direction,
            default_branch: default_branch.to_string(),
            offset: 0,
            tail_hash: 0,
            lines: 0,
            valid: 0,
            bad_count: 0,
            bad_lines: Vec::new(),
            max_run: None,
            out_of_order: 0,
            all: Scope::default(),
            branches: BTreeMap::new(),
            torn_tail: None,
        }
    }

    fn fold(&mut self, rec: Record) {
        self.valid += 1;
        match self.max_run {
            Some(m) if rec.run <= m => self.out_of_order += 1,
            _ => self.max_run = Some(rec.run),
        }
        self.all.fold(&rec, self.direction);
        let branch = rec.branch.as_ref().unwrap_or(&self.default_branch);
        let scope = match self.branches.get_mut(branch) {
            Some(s) => s,
            None => self.branches.entry(branch.clone()).or_default(),
        };
        scope.fold(&rec, self.direction);
        scope.last = Some(rec.clone());
        self.all.last = Some(rec);
    }

    /// `fold` for the fast reader: the record is parsed in full only when a scope needs it;
    /// the last records are remembered as bytes in `lasts` and parsed once at the end.
    fn fold_head(&mut self, h: &head::Head, bytes: &[u8], lasts: &mut Lasts) {
        self.valid += 1;
        match self.max_run {
            Some(m) if h.run <= m => self.out_of_order += 1,
            _ => self.max_run = Some(h.run),
        }
        let mut parsed: Option<Record> = None;
        let mut full = || {
            if parsed.is_none() {
                parsed = serde_json::from_slice::<Record>(bytes).ok();
            }
            parsed.clone()
        };
        self.all
            .fold_parts(h.status, h.metric, &mut full, self.direction);
        let branch: &str = h
            .branch
            .as_ref()
            .map_or(self.default_branch.as_str(), |b| b.0.as_ref());
        let scope = match self.branches.get_mut(branch) {
            Some(s) => s,
            None => self.branches.entry(branch.to_string()).or_default(),
        };
        scope.fold_parts(h.status, h.metric, &mut full, self.direction);
        lasts.all.clear();
        lasts.all.extend_from_slice(bytes);
        match lasts.by_branch.get_mut(branch) {
            Some(buf) => {
                buf.clear();
                buf.extend_from_slice(bytes);
            }
            None => {
                lasts.by_branch.insert(branch.to_string(), bytes.to_vec());
            }
        }
    }

    /// Set each scope's `last` from the bytes the fast fold remembered.
    fn finish_lasts(&mut self, lasts: Lasts) {
        let parse = |b: &[u8]| serde_json::from_slice::<Record>(b).ok();
        if !lasts.all.is_empty() {
            self.all.last = parse(&lasts.all);
        }
        for (branch, bytes) in lasts.by_branch {
            if let Some(scope) = self.branches.get_mut(&branch) {
                scope.last = parse(&bytes);
            }
        }
    }

    fn bad(&mut self, line: u64) {
        self.bad_count += 1;
        if self.bad_lines.len() < 20 {
            self.bad_lines.push(line);
        }
    }

    /// The scope for a branch filter: the whole ledger when `None`.
    pub fn scope(&self, branch: Option<&str>) -> Scope {
        match branch {
            None => self.all.clone(),
            Some(b) => self.branches.get(b).cloned().unwrap_or_default(),
        }
    }

    /// The branch a reader's numbers are for when none is named: the current branch when it is
    /// an experiment branch or already has records, else the configured branch.
    pub fn default_scope(
        &self,
        current: Option<&str>,
        is_experiment: impl Fn(&str) -> bool,
    ) -> String {
        match current {
            Some(b) if is_experiment(b) || self.branches.contains_key(b) => b.to_string(),
            _ => self.default_branch.clone(),
        }
    }

    /// The run number the next append gets: last valid run + 1 (CONTRACT §5).
    pub fn next_run(&self) -> u64 {
        self.all.last.as_ref().map_or(0, |r| r.run + 1)
    }

    /// Warnings a reader reports about the file's health.
    pub fn health_warnings(&self, path_label: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.bad_count > 0 {
            let list: Vec<String> = self.bad_lines.iter().map(u64::to_string).collect();
            let more = if self.bad_count > self.bad_lines.len() as u64 {
                format!(" and {} more", self.bad_count - self.bad_lines.len() as u64)
            } else {
                String::new()
            };
            out.push(format!(
                "{path_label}: skipped {} line(s) that do not parse as records (line {}{more})",
                self.bad_count,
                list.join(", ")
            ));
        }
        if let Some(line) = self.torn_tail {
            out.push(format!(
                "{path_label}: line {line} is torn (no trailing newline) and was ignored; the next write moves it to experiments.jsonl.torn"
            ));
        }
        out
    }
}

/// The last record's bytes per scope, kept while folding (copying bytes is far cheaper than
/// building a `Record` for every line).
#[derive(Default)]
struct Lasts {
    all: Vec<u8>,
    by_branch: std::collections::HashMap<String, Vec<u8>>,
}

/// How one line read.
pub enum Line {
    Blank,
    Record(Box<Record>),
    Bad,
}

/// Parse one complete line (without its `\n`).
pub fn parse_line(raw: &[u8], first: bool) -> Line {
    let bytes = trim_line(raw, first);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Line::Blank;
    }
    if bytes.len() > MAX_LINE {
        return Line::Bad;
    }
    match serde_json::from_slice::<Record>(bytes) {
        Ok(rec) if rec.metric.is_none_or(f64::is_finite) => Line::Record(Box::new(rec)),
        _ => Line::Bad,
    }
}

/// A line without the BOM (first line only) and a CRLF's `\r`.
fn trim_line(raw: &[u8], first: bool) -> &[u8] {
    let mut bytes = raw;
    if first && bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes = &bytes[3..];
    }
    if bytes.last() == Some(&b'\r') {
        bytes = &bytes[..bytes.len() - 1];
    }
    bytes
}

/// Reads lines with a cap: a huge garbage line costs no more than `MAX_LINE` of memory.
struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Offset of the next byte to read.
    pos: u64,
}

enum Next {
    /// A complete line: its bytes (possibly cut at the cap, then `too_long`), start, end.
    Line {
        too_long: bool,
        end: u64,
    },
    /// Bytes after the last newline: a torn tail.
    Torn,
    Eof,
}

impl<R: BufRead> LineReader<R> {
    fn next(&mut self) -> std::io::Result<Next> {
        self.buf.clear();
        let mut too_long = false;
        let mut read = 0u64;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.pos += read;
                return Ok(if read == 0 { Next::Eof } else { Next::Torn });
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = (MAX_LINE + 2).saturating_sub(self.buf.len());
            if take > room {
                too_long = true;
            }
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            self.inner.consume(take);
            read += take as u64;
            if done {
                self.pos += read;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                }
                return Ok(Next::Line {
                    too_long,
                    end: self.pos,
                });
            }
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Hash of the bytes just before `offset`: the cache's check that the prefix is unchanged.
fn tail_hash(file: &mut File, offset: u64) -> std::io::Result<u64> {
    let start = offset.saturating_sub(TAIL_HASH_BYTES);
    let mut buf = vec![0u8; (offset - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut buf)?;
    Ok(fnv1a(&buf))
}

pub struct Ledger {
    pub path: PathBuf,
    lock_path: PathBuf,
    cache_path: PathBuf,
    torn_path: PathBuf,
    direction: Direction,
    /// Records without a branch (first-generation ledgers) count as this branch's.
    default_branch: String,
}

/// A filter for listing records.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub statuses: Vec<Status>,
    pub branch: Option<String>,
}

impl Filter {
    /// Does `r` pass? A record without a branch counts as `default_branch`'s.
    pub fn matches(&self, r: &Record, default_branch: &str) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self
                .branch
                .as_deref()
                .is_none_or(|b| r.branch.as_deref().unwrap_or(default_branch) == b)
    }
}

impl Ledger {
    /// The ledger in `state_dir` (`.autoresearch/`); `direction` decides what "best" means;
    /// records that name no branch belong to `default_branch` (the configured one).
    pub fn new(state_dir: &Path, direction: Direction, default_branch: &str) -> Ledger {
        Ledger {
            path: state_dir.join("experiments.jsonl"),
            lock_path: state_dir.join("experiments.lock"),
            cache_path: state_dir.join("summary.json"),
            torn_path: state_dir.join("experiments.jsonl.torn"),
            direction,
            default_branch: default_branch.to_string(),
        }
    }

    fn io_err(&self, e: &std::io::Error) -> AppError {
        AppError::io(format!("reading `{}`", self.path.display()), e)
    }

    /// The fold of the whole ledger, incrementally from the cache when it still matches.
    pub fn summary(&self) -> Result<Summary> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Summary::empty(self.direction, &self.default_branch));
            }
            Err(e) => return Err(self.io_err(&e)),
        };
        self.summary_of(&mut file, true)
            .map_err(|e| self.io_err(&e))
    }

    fn load_cache(&self, file: &mut File, len: u64) -> Option<Summary> {
        let bytes = std::fs::read(&self.cache_path).ok()?;
        let s: Summary = serde_json::from_slice(&bytes).ok()?;
        if s.format != CACHE_FORMAT
            || s.direction != self.direction
            || s.default_branch != self.default_branch
            || s.offset > len
        {
            return None;
        }
        (tail_hash(file, s.offset).ok()? == s.tail_hash).then_some(s)
    }

    fn save_cache(&self, s: &Summary) {
        // Best effort and without fsync: a lost or stale cache is only rebuilt, never trusted
        // blindly (offset + tail hash are checked on every load).
        let Ok(bytes) = serde_json::to_vec(s) else {
            return;
        };
        let tmp = self.cache_path.with_extension(format!(
            "json.tmp-{}-{}",
            std::process::id(),
            crate::fsutil::nonce()
        ));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &self.cache_path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn summary_of(&self, file: &mut File, save: bool) -> std::io::Result<Summary> {
        let len = file.metadata()?.len();
        let mut s = self
            .load_cache(file, len)
            .unwrap_or_else(|| Summary::empty(self.direction, &self.default_branch));
        let start = s.offset;
        file.seek(SeekFrom::Start(start))?;
        let mut reader = LineReader {
            inner: BufReader::with_capacity(256 * 1024, &mut *file),
            buf: Vec::new(),
            pos: start,
        };
        let mut lasts = Lasts::default();
        loop {
            match reader.next()? {
                Next::Eof => break,
                Next::Torn => {
                    s.torn_tail = Some(s.lines + 1);
                    break;
                }
                Next::Line { too_long, end } => {
                    s.lines += 1;
                    let line_no = s.lines;
                    if too_long {
                        s.bad(line_no);
                    } else {
                        match parse_head(&reader.buf, line_no == 1) {
                            HeadLine::Blank => {}
                            HeadLine::Head(h, bytes) => s.fold_head(&h, bytes, &mut lasts),
                            HeadLine::Bad => s.bad(line_no),
                        }
                    }
                    s.offset = end;
                }
            }
        }
        s.finish_lasts(lasts);
        if s.offset != start || (start == 0 && s.lines == 0) {
            drop(reader);
            s.tail_hash = tail_hash(file, s.offset)?;
            if save && s.offset != start {
                self.save_cache(&s);
            }
        }
        Ok(s)
    }

    /// Stream every record in order; `f` returns false to stop. Returns the health summary
    /// of what was read (bad line numbers, torn tail) as warnings.
    pub fn for_each(&self, mut f: impl FnMut(u64, Record) -> bool) -> Result<Vec<String>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let mut reader = LineReader {
            inner: BufReader::with_capacity(256 * 1024, file),
            buf: Vec::new(),
            pos: 0,
        };
        let mut health = Summary::empty(self.direction, &self.default_branch);
        let mut line_no = 0u64;
        loop {
            match reader.next().map_err(|e| self.io_err(&e))? {
                Next::Eof => break,
                Next::Torn => {
                    health.torn_tail = Some(line_no + 1);
                    break;
                }
                Next::Line { too_long, .. } => {
                    line_no += 1;
                    if too_long {
                        health.bad(line_no);
                        continue;
                    }
                    match parse_line(&reader.buf, line_no == 1) {
                        Line::Blank => {}
                        Line::Record(rec) => {
                            if !f(line_no, *rec) {
                                break;
                            }
                        }
                        Line::Bad => health.bad(line_no),
                    }
                }
            }
        }
        Ok(health.health_warnings(&self.label()))
    }

    /// The last `n` records matching `filter`, oldest first, read backwards from the end so
    /// the cost does not grow with the ledger.
    pub fn tail(&self, n: usize, filter: &Filter) -> Result<Vec<Record>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        let mut out: Vec<Record> = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        const CHUNK: u64 = 64 * 1024;
        // Invariant: `buf` holds the bytes [start, boundary) and ends with `\n` (or is empty);
        // complete lines are popped from its end, a partial first line waits for more bytes.
        let mut start = len;
        let mut buf: Vec<u8> = Vec::new();
        let mut first_read = true;
        // Inside a line longer than MAX_LINE: drop bytes until its start is found.
        let mut skipping = false;
        'read: while out.len() < n {
            if start == 0 {
                break;
            }
            let from = start.saturating_sub(CHUNK);
            let mut chunk = vec![0u8; (start - from) as usize];
            file.seek(SeekFrom::Start(from))
                .and_then(|_| file.read_exact(&mut chunk))
                .map_err(|e| self.io_err(&e))?;
            start = from;
            if first_read {
                first_read = false;
                // A torn tail (no trailing newline) is not a record.
                match chunk.iter().rposition(|&b| b == b'\n') {
                    Some(p) => chunk.truncate(p + 1),
                    None => {
                        skipping = true;
                        continue;
                    }
                }
            }
            if skipping {
                match chunk.iter().rposition(|&b| b == b'\n') {
                    Some(p) => {
                        chunk.truncate(p + 1);
                        skipping = false;
                    }
                    None => continue,
                }
            }
            chunk.extend_from_slice(&buf);
            buf = chunk;
            while let Some(body_end) = buf.len().checked_sub(1) {
                let line_start = match buf[..body_end].iter().rposition(|&b| b == b'\n') {
                    Some(q) => q + 1,
                    None if start == 0 => 0,
                    None => {
                        if buf.len() > MAX_LINE + 2 {
                            buf.clear();
                            skipping = true;
                        }
                        continue 'read;
                    }
                };
                if let Line::Record(rec) =
                    parse_line(&buf[line_start..body_end], line_start == 0 && start == 0)
                    && filter.matches(&rec, &self.default_branch)
                {
                    out.push(*rec);
                    if out.len() == n {
                        break 'read;
                    }
                }
                buf.truncate(line_start);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Find one record by run number (streams; the last match wins if a run repeats).
    pub fn find(&self, run: u64) -> Result<Option<Record>> {
        let mut found = None;
        self.for_each(|_, r| {
            if r.run == run {
                found = Some(r);
            }
            true
        })?;
        Ok(found)
    }

    fn label(&self) -> String {
        format!(
            "`{}`",
            self.path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        )
    }

    /// Append one record under the lock. `build` gets the next run number and the summary as it
    /// stood before this record, and returns the record to write. Returns the record as written
    /// and that summary.
    pub fn append(
        &self,
        build: impl FnOnce(u64, &Summary) -> Result<Record>,
    ) -> Result<(Record, Summary)> {
        let _lock = self.lock()?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io_err(&e))?;
        self.repair_torn_tail(&mut file)?;
        let summary = self
            .summary_of(&mut file, false)
            .map_err(|e| self.io_err(&e))?;
        let record = build(summary.next_run(), &summary)?;
        let mut line = serde_json::to_vec(&record).map_err(AppError::internal)?;
        line.push(b'\n');
        if line.len() > MAX_LINE {
            return Err(AppError::usage(
                format!(
                    "The record would be {} bytes; a ledger line is at most 64 KiB.",
                    line.len()
                ),
                "Shorten the summary or pass fewer `--metrics`.",
            ));
        }
        let old_len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        if let Ok(ms) = std::env::var("AUTORESEARCH_TEST_PAUSE_IN_LOCK_MS")
            && let Ok(ms) = ms.parse::<u64>()
        {
            // Test hook: hold the lock so a test can SIGKILL a writer inside it.
            std::thread::sleep(Duration::from_millis(ms));
        }
        // One write call: a record must never be split across syscalls (RELIABILITY 3).
        let written = file.write(&line);
        let ok = matches!(written, Ok(n) if n == line.len());
        let synced = ok && file.sync_data().is_ok();
        if !synced {
            // No fragment may stay behind (RELIABILITY 5).
            let _ = file.set_len(old_len);
            let _ = file.sync_data();
            let err = match written {
                Err(e) => e,
                Ok(_) => std::io::Error::other("short write or failed fdatasync"),
            };
            return Err(AppError::io(
                format!("appending to `{}`", self.path.display()),
                &err,
            ));
        }
        let mut after = summary.clone();
        after.lines += 1;
        after.fold(record.clone());
        after.offset = old_len + line.len() as u64;
        if let Ok(h) = tail_hash(&mut file, after.offset) {
            after.tail_hash = h;
            self.save_cache(&after);
        }
        Ok((record, summary))
    }

    /// Move bytes after the last newline to `experiments.jsonl.torn` and truncate them away.
    fn repair_torn_tail(&self, file: &mut File) -> Result<()> {
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        if len == 0 {
            return Ok(());
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| self.io_err(&e))?;
        if last[0] == b'\n' {
            return Ok(());
        }
        // Find the last newline, reading backwards in chunks.
        let mut cut = 0u64;
        let mut end = len;
        'outer: while end > 0 {
            let start = end.saturating_sub(64 * 1024);
            let mut buf = vec![0u8; (end - start) as usize];
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| self.io_err(&e))?;
            if let Some(p) = buf.iter().rposition(|&b| b == b'\n') {
                cut = start + p as u64 + 1;
                break 'outer;
            }
            end = start;
        }
        let mut torn = vec![0u8; (len - cut) as usize];
        file.seek(SeekFrom::Start(cut))
            .and_then(|_| file.read_exact(&mut torn))
            .map_err(|e| self.io_err(&e))?;
        torn.push(b'\n');
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.torn_path)
            .map_err(|e| AppError::io(self.torn_path.display(), &e))?;
        out.write_all(&torn)
            .and_then(|_| out.sync_data())
            .map_err(|e| AppError::io(self.torn_path.display(), &e))?;
        file.set_len(cut)
            .and_then(|_| file.sync_data())
            .map_err(|e| self.io_err(&e))?;
        Ok(())
    }

    /// The writers' lock: `flock` on `experiments.lock`, which dies with its holder.
    fn lock(&self) -> Result<File> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map_err(|e| AppError::io(self.lock_path.display(), &e))?;
        let timeout = std::env::var("AUTORESEARCH_LOCK_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(30), Duration::from_millis);
        let deadline = Instant::now() + timeout;
        let mut wait = Duration::from_millis(1);
        loop {
            match f.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = f.read_to_string(&mut holder);
                        let holder = holder.trim();
                        let who = if holder.is_empty() {
                            "another process".to_string()
                        } else {
                            format!("process {holder}")
                        };
                        return Err(AppError::new(
                            Code::LockTimeout,
                            format!(
                                "The ledger lock `{}` has been held by {who} for more than {} s.",
                                self.lock_path.display(),
                                timeout.as_secs()
                            ),
                            format!(
                                "Wait for {who} to finish (check it with `ps -p {}`), then retry.",
                                if holder.is_empty() { "<pid>" } else { holder }
                            ),
                        ));
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(AppError::io(
                        format!("locking `{}`", self.lock_path.display()),
                        &e,
                    ));
                }
            }
        }
        // Name the holder for anyone who times out waiting.
        let _ = f.set_len(0);
        let _ = f.seek(SeekFrom::Start(0));
        let _ = f.write_all(format!("{}\n", std::process::id()).as_bytes());
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(run: u64, status: Status, metric: Option<f64>) -> Record {
        Record {
            id: new_id(),
            timestamp: now_timestamp(),
            summary: format!("run {run}"),
            branch: Some("autoresearch".into()),
            source: "record".into(),
            ..Record::blank(run, status, metric)
        }
    }

    fn append(l: &Ledger, status: Status, metric: Option<f64>) -> Record {
        l.append(|run, _| Ok(rec(run, status, metric))).unwrap().0
    }

    #[test]
    fn appends_number_runs_and_fold() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        assert_eq!(append(&l, Status::Baseline, Some(1.0)).run, 0);
        append(&l, Status::Kept, Some(0.9));
        append(&l, Status::Discarded, Some(0.95));
        append(&l, Status::Crash, None);
        let s = l.summary().unwrap();
        assert_eq!(s.valid, 4);
        assert_eq!(s.all.best_metric(), Some(0.9));
        assert_eq!(s.all.counts.crash, 1);
        assert_eq!(s.all.since_keep, 2);
        assert_eq!(s.all.runs_to_best(), Some(1));
        assert_eq!(s.next_run(), 4);
        // The cache and a fresh fold agree.
        std::fs::remove_file(dir.path().join("summary.json")).unwrap();
        let fresh = l.summary().unwrap();
        assert_eq!(fresh.all.best, s.all.best);
        assert_eq!(fresh.offset, s.offset);
    }

    #[test]
    fn cache_is_rebuilt_when_the_file_changes_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        append(&l, Status::Baseline, Some(1.0));
        append(&l, Status::Kept, Some(0.5));
        l.summary().unwrap();
        // Rewrite the file by hand with the same length but a different best.
        let text = std::fs::read_to_string(&l.path).unwrap();
        std::fs::write(&l.path, text.replace("0.5,", "0.7,")).unwrap();
        assert_eq!(l.summary().unwrap().all.best_metric(), Some(0.7));
    }

    #[test]
    fn new_baseline_starts_a_new_comparison() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Higher, "autoresearch");
        append(&l, Status::Baseline, Some(10.0));
        append(&l, Status::Kept, Some(20.0));
        append(&l, Status::Baseline, Some(5.0));
        let s = l.summary().unwrap();
        assert_eq!(s.all.best_metric(), Some(5.0));
        assert_eq!(s.all.baseline.as_ref().unwrap().run, 2);
    }

    #[test]
    fn torn_tail_is_skipped_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        append(&l, Status::Baseline, Some(1.0));
        append(&l, Status::Kept, Some(0.5));
        let mut f = OpenOptions::new().append(true).open(&l.path).unwrap();
        f.write_all(b"{\"run\":2,\"status\":\"ke").unwrap();
        let s = l.summary().unwrap();
        assert_eq!(s.valid, 2);
        assert_eq!(s.torn_tail, Some(3));
        assert_eq!(l.tail(10, &Filter::default()).unwrap().len(), 2);
        let r = append(&l, Status::Discarded, Some(0.7));
        assert_eq!(r.run, 2);
        let text = std::fs::read_to_string(&l.path).unwrap();
        assert_eq!(text.lines().count(), 3);
        for line in text.lines() {
            assert!(matches!(
                parse_line(line.as_bytes(), false),
                Line::Record(_)
            ));
        }
        let torn = std::fs::read_to_string(dir.path().join("experiments.jsonl.torn")).unwrap();
        assert_eq!(torn, "{\"run\":2,\"status\":\"ke\n");
    }

    #[test]
    fn tail_reads_backwards_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        let mut text = String::new();
        for i in 0..2000u64 {
            let mut r = rec(i, Status::Discarded, Some(i as f64));
            r.summary = "x".repeat((i % 97) as usize);
            text.push_str(&serde_json::to_string(&r).unwrap());
            text.push('\n');
            if i % 500 == 0 {
                text.push_str("garbage line\n");
            }
        }
        std::fs::write(&l.path, text).unwrap();
        let last = l.tail(20, &Filter::default()).unwrap();
        let runs: Vec<u64> = last.iter().map(|r| r.run).collect();
        assert_eq!(runs, (1980..2000).collect::<Vec<_>>());
        let all = l.tail(5000, &Filter::default()).unwrap();
        assert_eq!(all.len(), 2000);
        assert!(all.windows(2).all(|w| w[0].run + 1 == w[1].run));
    }

    #[test]
    fn reads_first_generation_records() {
        let line = br#"{"delta":null,"hash":"02404f12ac87e6a225e348f4b7c34f793c1fc5a9","metric":1.0,"run":0,"short_hash":"02404f1","status":"keep","description":"Initial","time":"2026-11-26T00:01:13.460267045+00:00"}"#;
        let Line::Record(r) = parse_line(line, true) else {
            panic!("should parse")
        };
        assert_eq!(r.status, Status::Kept);
        assert_eq!(
            r.commit.as_deref(),
            Some("02404f12ac87e6a225e348f4b7c34f793c1fc5a9")
        );
        assert_eq!(r.summary, "Initial");
        assert_eq!(r.timestamp, "2026-11-26T00:01:13.460267045+00:00");
        let Line::Record(r) = parse_line(
            br#"{"run":3,"status":"discard","score":2.5,"message":"m","timestamp":1773348490227}"#,
            false,
        ) else {
            panic!("should parse")
        };
        assert_eq!(r.metric, Some(2.5));
        assert_eq!(r.summary, "m");
        assert_eq!(r.timestamp, "2026-03-12T20:48:10.227Z");
    }

    #[test]
    fn clean_summary_strips_escapes_and_caps() {
        let (s, cut) = clean_summary("a\x1b[31mred\x1b[0m\x07 b\nc\x1b]0;title\x07d");
        assert_eq!(s, "ared b cd");
        assert!(!cut);
        let (s, cut) = clean_summary(&"é".repeat(3000));
        assert!(cut);
        assert!(s.len() <= MAX_SUMMARY);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Piece {
            Rec(f64, String),
            Garbage(Vec<u8>),
        }

        fn piece() -> impl Strategy<Value = Piece> {
            prop_oneof![
                (-1e12f64..1e12, ".{0,40}").prop_map(|(m, s)| Piece::Rec(m, s)),
                proptest::collection::vec(
                    any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
                    0..80
                )
                .prop_map(Piece::Garbage),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
            #[test]
            fn valid_records_survive_interleaved_garbage(pieces in proptest::collection::vec(piece(), 0..40), torn in proptest::collection::vec(any::<u8>(), 0..30)) {
                let dir = tempfile::tempdir().unwrap();
                let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
                let mut bytes = Vec::new();
                let mut expected = Vec::new();
                for (i, p) in pieces.iter().enumerate() {
                    match p {
                        Piece::Rec(m, s) => {
                            let mut r = rec(i as u64, Status::Discarded, Some(*m));
                            r.summary = s.clone();
                            bytes.extend(serde_json::to_vec(&r).unwrap());
                            expected.push((i as u64, *m));
                        }
                        Piece::Garbage(g) => {
                            prop_assume!(!matches!(parse_line(g, false), Line::Record(_)));
                            bytes.extend(g);
                        }
                    }
                    bytes.push(b'\n');
                }
                // A torn tail without a newline is never read as a record.
                let torn: Vec<u8> = torn.into_iter().filter(|b| *b != b'\n').collect();
                bytes.extend(&torn);
                std::fs::write(&l.path, &bytes).unwrap();
                let s = l.summary().unwrap();
                prop_assert_eq!(s.valid, expected.len() as u64);
                let tail: Vec<(u64, f64)> = l.tail(usize::MAX, &Filter::default()).unwrap().iter().map(|r| (r.run, r.metric.unwrap())).collect();
                prop_assert_eq!(&tail, &expected);
                let mut streamed = Vec::new();
                l.for_each(|_, r| { streamed.push((r.run, r.metric.unwrap())); true }).unwrap();
                prop_assert_eq!(&streamed, &expected);
                // The fast fold agrees with a fold over fully parsed records.
                let mut reference = Summary::empty(Direction::Lower, "autoresearch");
                l.for_each(|_, r| { reference.fold(r); true }).unwrap();
                prop_assert_eq!(&s.all.best, &reference.all.best);
                prop_assert_eq!(&s.all.last, &reference.all.last);
                prop_assert_eq!(&s.all.counts, &reference.all.counts);
                prop_assert_eq!(s.branches.len(), reference.branches.len());
                // The next append repairs the tail and keeps every valid record.
                l.append(|run, _| Ok(rec(run, Status::Kept, Some(0.0)))).unwrap();
                prop_assert_eq!(l.summary().unwrap().valid, expected.len() as u64 + 1);
            }
        }
    }
}
