//! The ledger, `.autoresearch/experiments.jsonl` (docs/CONTRACT.md §5, docs/RELIABILITY.md
//! 1–7).
//!
//! Writers take an exclusive `flock`, repair a torn tail, number the run under the lock and
//! append the whole line in one `write` followed by `fdatasync`. Readers stream, never panic and
//! skip what does not parse with a warning naming the line.
//!
//! Aggregates (counts, baseline, best, last run, per branch) are a fold over the ledger. To keep
//! `status`, `best` and `record` fast on 100,000 records the fold is cached in `summary.json`
//! with the byte offset it covers, a hash chained over the lines before it, and the ledger's
//! metadata: a cache the metadata vouches for is used without reading the ledger; otherwise a
//! cache whose prefix still hashes the same is extended with what was appended since; anything
//! else is folded again. A cold fold reads the file in large blocks and checks the lines our
//! writer produces with a dedicated scanner, leaving every other line to serde.
//!
//! This file holds the record types and line parsing; `store` the file itself (append, lock,
//! forward readers), `cache` when `summary.json` can be trusted, `stream` the block reader and
//! the prefix hash, `halves` a long fold on two threads, `tail` the backward reader, `fold` the
//! aggregates, `head` and `scan` the first read of a line the fold uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::config::Direction;
use crate::error::AppError;

mod cache;
#[cfg(test)]
mod cache_tests;
mod fold;
mod halves;
mod head;
mod scan;
mod store;
mod stream;
mod tail;
pub mod worker;
mod writer;

pub use fold::{Counts, Evidence, SIMPLIFICATION, Scope, Summary, evidence_key};
pub use store::{Appended, AppendedMany, TornTails};
pub use tail::Tail;
pub use writer::{RunRef, Writer};

/// The `reason` of a run stopped by Ctrl-C or SIGTERM: not a failed idea, so it does not
/// lengthen a no-keep streak.
pub const INTERRUPTED: &str = "interrupted";

/// The flags that question how a record's number was made (docs/CONTRACT.md §5): a reader
/// shows them as doubts about the result. The others say what was done (`simplification`) or
/// what git could not do (`revert_skipped`, `revert_incomplete`).
pub const INTEGRITY_FLAGS: &[&str] = &[
    "harness_changed",
    "suspicious_jump",
    "metric_repeated",
    "zero_variance",
    "duration_collapsed",
    "untracked_inputs",
    "leaked_processes",
    "kept_not_better",
];

/// Does `flag` question a record's number ([`INTEGRITY_FLAGS`])?
pub fn is_integrity_flag(flag: &str) -> bool {
    INTEGRITY_FLAGS.contains(&flag)
}

/// A record's line is at most this long (docs/CONTRACT.md §5); readers skip longer lines.
pub const MAX_LINE: usize = 64 * 1024;
/// Summaries are capped (docs/RELIABILITY.md 14).
pub const MAX_SUMMARY: usize = 4 * 1024;
/// Bumped whenever `summary.json`'s meaning changes: an older cache is then folded again.
const CACHE_FORMAT: u32 = 5;

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
    /// A re-evaluation of code already measured: never kept, never the best; its samples join
    /// the evidence for that code.
    Recheck,
    /// Takes back an earlier keep (`retracts`): that run no longer counts as kept or best.
    Retraction,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Baseline,
        Status::Kept,
        Status::Discarded,
        Status::Crash,
        Status::Timeout,
        Status::Recheck,
        Status::Retraction,
    ];

    /// Parse a status as typed by a user, with the first generation's aliases.
    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_ascii_lowercase().as_str() {
            "baseline" => Some(Status::Baseline),
            "kept" | "keep" => Some(Status::Kept),
            "discarded" | "discard" => Some(Status::Discarded),
            "crash" | "crashed" => Some(Status::Crash),
            "timeout" => Some(Status::Timeout),
            "recheck" => Some(Status::Recheck),
            "retraction" => Some(Status::Retraction),
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
            Status::Recheck => "recheck",
            Status::Retraction => "retraction",
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
    /// The code evaluated: a hash of the target files' contents (docs/CONTRACT.md §5). Records
    /// with the same `setup` and `code` measured the same thing.
    #[serde(default)]
    pub code: Option<String>,
    /// How the number was made: a hash of the eval command, the metric and the protected files.
    #[serde(default)]
    pub setup: Option<String>,
    /// The hardware class the run was measured on (`hardware`, `AUTORESEARCH_HARDWARE`).
    /// Written only when set, so a project without one keeps its lines' shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    /// The worker that wrote the record (`sync`, docs/CONTRACT.md §5): set on this clone's
    /// records once it has synced, and on every record `sync` brought from another worker.
    /// Written only then, so a clone that never syncs keeps its lines' shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// On a record `sync` brought from another worker: its run number there (`run` is this
    /// ledger's own numbering). Its presence is what marks a record as another worker's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_run: Option<u64>,
    /// The logical (Lamport) clock of the record: above every clock its writer had seen, so
    /// ordering by it never puts a record before one it could have depended on, whatever the
    /// machines' wall clocks say. Written once the clone has synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<u64>,
    /// For a `retraction`: the run it takes back. Written only then, so every other line keeps
    /// the shape the fast reader knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracts: Option<u64>,
    /// For a record written by `import`: where it came from. Written only then, like
    /// `retracts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// Where an imported record came from (`import`, docs/CONTRACT.md §5): the file, its line,
/// the format it was read as, the status the source wrote, and every column or field of the
/// source that has no place of its own in the record, as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub line: u64,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// A record of `run` with `status` and nothing else: no metric, every optional field
    /// absent. Writers fill in what they know (`Record { .., ..Record::new(run, status) }`), so
    /// a new optional field needs no change where records are made.
    pub fn new(run: u64, status: Status) -> Record {
        Record {
            run,
            id: String::new(),
            timestamp: String::new(),
            status,
            metric: None,
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
            code: None,
            setup: None,
            hardware: None,
            worker: None,
            worker_run: None,
            clock: None,
            retracts: None,
            imported: None,
        }
    }

    /// A record with only the decisive fields set, for unit tests.
    #[cfg(test)]
    pub fn blank(run: u64, status: Status, metric: Option<f64>) -> Record {
        Record {
            metric,
            ..Record::new(run, status)
        }
    }
}

impl Record {
    /// How a human view names the run: `#17`, or `#17@gpu-03` for run 17 of worker `gpu-03`
    /// brought by `sync` (its number here, `run`, is this ledger's alone).
    pub fn label(&self) -> String {
        writer::label(self.run, self.worker.as_deref(), self.worker_run)
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

/// A secondary metric's value: any JSON value is accepted, numbers kept, the rest dropped.
/// Numbers go through serde_json's number parser, which refuses one that overflows f64, so
/// `1e999` makes the whole record unreadable (the fast readers must agree: see `head`).
pub(crate) struct MaybeNumber(Option<f64>);

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

/// Secondary metrics: keep the finite numeric ones, drop nulls and non-numbers rather than the
/// record. A hand-written visitor: going through `serde_json::Value` doubled the read time.
fn de_metrics<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, f64>, D::Error> {
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

/// The ledger's fields in write order, with their types and meanings (docs/CONTRACT.md §5), for
/// `agent-info`. A test checks them against `Record`.
pub const FIELDS: &[(&str, &str, &str)] = &[
    (
        "run",
        "int >= 0",
        "unique in this ledger, assigned under the lock; the first is 0",
    ),
    ("id", "string", "globally unique (time + pid + randomness)"),
    ("timestamp", "string", "RFC 3339 UTC with milliseconds"),
    (
        "status",
        "string",
        "baseline | kept | discarded | crash | timeout",
    ),
    ("metric", "number | null", "null only for crash and timeout"),
    ("metrics", "object", "secondary metrics by name"),
    (
        "samples",
        "array",
        "every evaluation's metric when repeats > 1, else []",
    ),
    (
        "delta",
        "number | null",
        "metric minus the best metric before this run",
    ),
    ("summary", "string", "what was tried (at most 4 KiB)"),
    (
        "commit",
        "string | null",
        "full hash of the evaluated commit",
    ),
    ("parent", "string | null", "the commit it was based on"),
    ("branch", "string | null", "the branch it ran on"),
    (
        "duration_s",
        "number | null",
        "wall time of the evaluation(s)",
    ),
    ("exit_code", "int | null", "of the eval command"),
    (
        "reason",
        "string | null",
        "why a run was discarded, crashed or timed out",
    ),
    (
        "flags",
        "array",
        "suspicious_jump, metric_repeated, zero_variance, duration_collapsed, untracked_inputs, leaked_processes, kept_not_better, simplification, harness_changed, revert_skipped, revert_incomplete",
    ),
    (
        "source",
        "string",
        "which command wrote it: run, record, retract, fork, merge-best, import:<format>",
    ),
    (
        "code",
        "string | null",
        "hash of the target files' contents: the code evaluated",
    ),
    (
        "setup",
        "string | null",
        "hash of the eval command, the metric, the time budget, the hardware class when set and the protected files",
    ),
    (
        "hardware",
        "string, only when a hardware class is set",
        "the class of machine the run was measured on (`hardware`, `AUTORESEARCH_HARDWARE`); part of `setup`",
    ),
    (
        "worker",
        "string, only once the clone syncs",
        "the worker that wrote the record (`sync`): this clone's id on its records after its first sync, the writer's on records `sync` brought",
    ),
    (
        "worker_run",
        "int, only on another worker's record",
        "its run number on the worker that wrote it (`run` is this ledger's own); marks a record `sync` brought",
    ),
    (
        "clock",
        "int, only once the clone syncs",
        "a logical (Lamport) clock above every clock its writer had seen: the causal order, whatever the wall clocks say",
    ),
    (
        "retracts",
        "int, only on a retraction",
        "the run a retraction takes back; absent from every other record",
    ),
    (
        "imported",
        "object, only on an imported record",
        "where `import` read it: {file, line, format, status, fields}; absent from every other record",
    ),
];

/// Invisible formatting characters a summary must not carry (docs/RELIABILITY.md 14): each can
/// reorder the text around it or hide text, in a terminal or in whatever reads the ledger,
/// without showing itself.
/// - bidi controls, which reorder what follows on the line (the "Trojan Source" trick): the
///   embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069, and the implicit marks
///   U+200E, U+200F and U+061C (Arabic letter mark);
/// - zero-width characters that only hide or split words: U+200B (zero-width space), U+2060
///   (word joiner), U+FEFF (BOM / zero-width no-break space), U+180E (Mongolian vowel
///   separator), U+2061–U+2064 (invisible math operators);
/// - the deprecated format controls U+206A–U+206F (symmetric swapping, digit shapes);
/// - interlinear annotation U+FFF9–U+FFFB, whose annotation text most renderers hide;
/// - tag characters U+E0000–U+E007F, invisible ASCII lookalikes that an agent reading the
///   ledger still sees ("ASCII smuggling"). The cost: a subdivision flag such as England's
///   becomes a plain black flag.
///
/// Kept: U+200C and U+200D (zero-width non-joiner and joiner), which Persian and Indic scripts
/// and emoji sequences need and which cannot reorder or hide text; variation selectors; the
/// soft hyphen.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Keep text printable: strip control characters, escape sequences and invisible formatting
/// characters (docs/RELIABILITY.md 14) so a summary cannot inject terminal escapes into `log`
/// or reorder its line; cap it at 4 KiB on a char boundary.
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
            // U+2028 and U+2029 are line and paragraph separators: line breaks, like `\n`.
            '\n' | '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() || is_invisible_format(c) => {}
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
    /// The worker that wrote it, on a record `sync` brought from another worker (omitted
    /// otherwise), as on the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Its run number on that worker (omitted on this clone's own records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_run: Option<u64>,
}

impl From<&Record> for Brief {
    fn from(r: &Record) -> Brief {
        let foreign = r.worker_run.is_some();
        Brief {
            run: r.run,
            status: r.status,
            metric: r.metric,
            commit: r.commit.clone(),
            summary: r.summary.clone(),
            timestamp: r.timestamp.clone(),
            worker: r.worker.clone().filter(|_| foreign),
            worker_run: r.worker_run,
        }
    }
}

impl Brief {
    /// `#17`, or `#17@gpu-03`, as [`Record::label`].
    pub fn label(&self) -> String {
        writer::label(self.run, self.worker.as_deref(), self.worker_run)
    }
}

/// Improvement % from baseline to best, positive when best is better (docs/CONTRACT.md §5).
pub fn improvement_pct(direction: Direction, baseline: f64, best: f64) -> Option<f64> {
    if baseline == 0.0 {
        return None;
    }
    Some(direction.gain(best, baseline) / baseline.abs() * 100.0)
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
pub fn trim_line(raw: &[u8], first: bool) -> &[u8] {
    let mut bytes = raw;
    if first && bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes = &bytes[3..];
    }
    if bytes.last() == Some(&b'\r') {
        bytes = &bytes[..bytes.len() - 1];
    }
    bytes
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
    /// Only this worker's records (`--worker`).
    pub writer: Option<Writer>,
}

impl Filter {
    /// Does `r` pass? A record without a branch counts as `default_branch`'s.
    pub fn matches(&self, r: &Record, default_branch: &str) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self
                .branch
                .as_deref()
                .is_none_or(|b| r.branch.as_deref().unwrap_or(default_branch) == b)
            && self.writer.as_ref().is_none_or(|w| w.wrote(r))
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

    /// The branch records without one count as.
    pub fn default_branch(&self) -> &str {
        &self.default_branch
    }

    fn io_err(&self, e: &std::io::Error) -> AppError {
        AppError::io(format!("reading `{}`", self.path.display()), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn the_field_table_matches_the_record_type() {
        // The optional fields set, so that every field is written.
        let full = Record {
            hardware: Some("a100".into()),
            worker: Some("gpu-03".into()),
            worker_run: Some(17),
            clock: Some(4),
            retracts: Some(1),
            imported: Some(Imported::default()),
            ..Record::blank(0, Status::Kept, None)
        };
        let v = serde_json::to_value(full).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let listed: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
        assert_eq!(keys, listed);
    }
    use std::io::Write;

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
        assert_eq!(s.next_run(), Some(4));
        // The cache and a fresh fold agree.
        std::fs::remove_file(dir.path().join("summary.json")).unwrap();
        let fresh = l.summary().unwrap();
        assert_eq!(fresh.all.best, s.all.best);
        assert_eq!(fresh.offset, s.offset);
    }

    #[test]
    fn an_interrupted_run_is_not_part_of_a_no_keep_streak() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        append(&l, Status::Baseline, Some(1.0));
        append(&l, Status::Discarded, Some(2.0));
        l.append(|run, _| {
            Ok(Record {
                reason: Some(INTERRUPTED.into()),
                ..rec(run, Status::Crash, None)
            })
        })
        .unwrap();
        append(&l, Status::Crash, None);
        // The appender's fold, a cold fold and a fold of full records agree: two, not three.
        assert_eq!(l.summary().unwrap().all.since_keep, 2);
        std::fs::remove_file(dir.path().join("summary.json")).unwrap();
        let cold = l.summary().unwrap();
        assert_eq!(cold.all.since_keep, 2);
        assert_eq!(cold.all.counts.crash, 2, "it is still a crash");
        let mut full = Summary::empty(Direction::Lower, "autoresearch");
        l.for_each(|_, r| {
            full.fold(r);
            true
        })
        .unwrap();
        assert_eq!(full.all.since_keep, 2);
    }

    #[test]
    fn the_next_run_follows_the_highest_not_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        let line =
            |run: u64| serde_json::to_string(&rec(run, Status::Discarded, Some(1.0))).unwrap();
        std::fs::write(&l.path, format!("{}\n{}\n{}\n", line(0), line(5), line(2))).unwrap();
        assert_eq!(l.summary().unwrap().next_run(), Some(6));
        assert_eq!(append(&l, Status::Kept, Some(0.5)).run, 6);
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
        let t = l.read_tail(u64::MAX, 10, &Filter::default()).unwrap();
        assert!(t.torn && t.bad == 0, "{t:?}");
        assert!(t.health_warnings("L")[0].contains("torn"));
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

    /// The writer that moves a torn tail aside says so, and says whether the bytes were a whole
    /// record that only lacked its newline; `torn_tails` counts what the file holds.
    #[test]
    fn a_moved_torn_tail_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        assert_eq!(l.torn_tails().unwrap(), None);
        let a = l
            .append_with_warnings(|run, _| Ok(rec(run, Status::Baseline, Some(1.0))))
            .unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        // A writer killed mid-line.
        let mut f = OpenOptions::new().append(true).open(&l.path).unwrap();
        f.write_all(b"{\"run\":1,\"status\":\"ke").unwrap();
        drop(f);
        let a = l
            .append_with_warnings(|run, _| Ok(rec(run, Status::Kept, Some(0.9))))
            .unwrap();
        assert_eq!(a.record.run, 1);
        assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
        let w = &a.warnings[0];
        assert!(w.contains("line 2 was torn (21 bytes"), "{w}");
        assert!(w.contains("experiments.jsonl.torn"), "{w}");
        assert!(w.contains("No complete record was lost"), "{w}");
        // A whole record whose newline is missing (an editor, another tool).
        let whole = serde_json::to_string(&rec(2, Status::Kept, Some(0.8))).unwrap();
        let mut f = OpenOptions::new().append(true).open(&l.path).unwrap();
        f.write_all(whole.as_bytes()).unwrap();
        drop(f);
        let a = l
            .append_with_warnings(|run, _| Ok(rec(run, Status::Discarded, Some(0.95))))
            .unwrap();
        let w = &a.warnings[0];
        assert!(
            w.contains("line 3 was a complete record (run #2) without its final newline"),
            "{w}"
        );
        assert!(w.contains("no longer counts"), "{w}");
        // The next append has nothing to report.
        assert!(
            l.append_with_warnings(|run, _| Ok(rec(run, Status::Crash, None)))
                .unwrap()
                .warnings
                .is_empty()
        );
        let t = l.torn_tails().unwrap().unwrap();
        assert_eq!((t.tails, t.records, t.runs), (2, 1, vec![2]));
        assert_eq!(t.path, dir.path().join("experiments.jsonl.torn"));
    }

    /// Temp files of the cache that never reached their rename are removed by the next save,
    /// except those a live writer may still be filling.
    #[test]
    fn stale_cache_temps_are_removed_by_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        append(&l, Status::Baseline, Some(1.0));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let now = std::time::SystemTime::now();
        let secs = std::time::Duration::from_secs;
        let temp = |name: String, age: u64| {
            let p = dir.path().join(name);
            let f = std::fs::File::create(&p).unwrap();
            f.set_modified(now - secs(age)).unwrap();
            p
        };
        let dead_old = temp(format!("summary.json.tmp-{dead}-1"), 10);
        let dead_new = temp(format!("summary.json.tmp-{dead}-2"), 0);
        // Process 1 is always alive.
        let live_recent = temp("summary.json.tmp-1-3".to_string(), 10);
        let live_stale = temp("summary.json.tmp-1-4".to_string(), 120);
        let other = temp("summary.json.tmp-notes".to_string(), 120);
        // A reader that folds saves the cache.
        std::fs::remove_file(dir.path().join("summary.json")).unwrap();
        l.summary().unwrap();
        assert!(!dead_old.exists(), "a dead writer's temp file stays");
        assert!(!live_stale.exists(), "a temp file a minute old stays");
        assert!(dead_new.exists() && live_recent.exists() && other.exists());
        // The appender sweeps too.
        std::fs::File::options()
            .write(true)
            .open(&dead_new)
            .unwrap()
            .set_modified(now - secs(10))
            .unwrap();
        append(&l, Status::Kept, Some(0.5));
        assert!(!dead_new.exists());
        assert!(live_recent.exists() && other.exists());
    }

    /// The last run number there is: the append is refused, never numbered 0 by wrapping.
    #[test]
    fn a_run_number_at_the_maximum_is_refused_not_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(dir.path(), Direction::Lower, "autoresearch");
        let line = serde_json::to_string(&rec(u64::MAX, Status::Baseline, Some(1.0))).unwrap();
        std::fs::write(&l.path, format!("{line}\n")).unwrap();
        let before = std::fs::read(&l.path).unwrap();
        let e = l
            .append(|run, _| Ok(rec(run, Status::Kept, Some(0.5))))
            .unwrap_err();
        assert_eq!(e.code, crate::error::Code::IoError);
        assert!(e.message.contains("18446744073709551615"), "{}", e.message);
        assert!(
            e.suggestion.contains("experiments.jsonl"),
            "{}",
            e.suggestion
        );
        assert_eq!(std::fs::read(&l.path).unwrap(), before);
        // One below the maximum still gets the maximum.
        let line = serde_json::to_string(&rec(u64::MAX - 1, Status::Baseline, Some(1.0))).unwrap();
        std::fs::write(&l.path, format!("{line}\n")).unwrap();
        assert_eq!(append(&l, Status::Kept, Some(0.5)).run, u64::MAX);
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
        // The reader counts the lines it passes over; it only reads as far back as it needs.
        let t = l.read_tail(u64::MAX, 5000, &Filter::default()).unwrap();
        assert_eq!((t.bad, t.torn), (4, false));
        assert_eq!(l.read_tail(u64::MAX, 5, &Filter::default()).unwrap().bad, 0);
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

    /// A full disk (a 1 MiB tmpfs; needs root, else skipped with a note): the append says "no
    /// space left on device", leaves the ledger exactly as it was, and works once there is room.
    #[test]
    fn a_full_disk_fails_the_append_cleanly() {
        let Some(fs) = crate::fsutil::tiny_fs::TinyFs::mount() else {
            return;
        };
        let l = Ledger::new(fs.path(), Direction::Lower, "autoresearch");
        append(&l, Status::Baseline, Some(1.0));
        let before = std::fs::read(&l.path).unwrap();
        // Fill every free page; the ledger's last page keeps its slack, so the big record
        // below is written in part and then refused: a short write.
        let filler = fs.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
        let _ = f.write_all(&[0u8; 1]);
        drop(f);
        let e = l
            .append(|run, _| {
                let mut r = rec(run, Status::Kept, Some(0.5));
                r.summary = "s".repeat(MAX_SUMMARY);
                Ok(r)
            })
            .unwrap_err();
        assert_eq!(e.code, crate::error::Code::IoError);
        assert!(
            e.message.contains("no space left on device"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("failed fdatasync"), "{}", e.message);
        // tmpfs takes what fits in the last page, then refuses the rest: the short-write path.
        assert!(e.message.contains("a short write"), "{}", e.message);
        assert_eq!(std::fs::read(&l.path).unwrap(), before);
        std::fs::remove_file(&filler).unwrap();
        assert_eq!(append(&l, Status::Kept, Some(0.5)).run, 1);
    }

    #[test]
    fn clean_summary_strips_invisible_formatting() {
        // A right-to-left override would show `tfel` as `left`, and the rest of the line
        // reversed; isolates, marks, zero-width characters, a BOM and tags hide or reorder.
        let (s, _) = clean_summary(
            "a\u{202E}tfel\u{202C}b\u{2067}c\u{2069}\u{200B}d\u{FEFF}e\u{200E}f\u{200F}g\u{061C}h\u{2060}i\u{E0041}\u{E0042}j\u{206A}k\u{FFF9}l",
        );
        assert_eq!(s, "atfelbcdefghijkl");
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(
                clean_summary(&format!("x{c}y")).0,
                "xy",
                "U+{:04X}",
                c as u32
            );
        }
        // Line and paragraph separators are line breaks.
        assert_eq!(clean_summary("x\u{2028}y\u{2029}z").0, "x y z");
        // Joiners that real text needs stay: an emoji sequence, a Persian word.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(clean_summary(family).0, family);
        let persian = "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}";
        assert_eq!(clean_summary(persian).0, persian);
        assert_eq!(
            clean_summary("caf\u{0065}\u{0301} \u{2764}\u{FE0F}").0,
            "caf\u{0065}\u{0301} \u{2764}\u{FE0F}"
        );
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
