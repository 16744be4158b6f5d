//! Ledgers: ours from another clone, or the first generation's (`hash`, `description`, `keep`,
//! epoch-ms `time`), read by `Record`'s own serde. Run numbers are given anew; the source's
//! `run`, `delta`, `flags`, `source`, `code`, `setup` and unknown keys go to `imported.fields`.
//! The metric name and direction come from an `autoresearch.toml` beside the file, if any.

use serde_json::Value;

use super::{Read, Row, bad_line, text_of};
use crate::error::Result;
use crate::ledger::{self, Line, Status};

/// Keys (with their aliases) that have a place of their own in the imported record.
const MAPPED: &[&str] = &[
    "timestamp",
    "time",
    "status",
    "metric",
    "value",
    "score",
    "metrics",
    "samples",
    "summary",
    "description",
    "message",
    "commit",
    "hash",
    "duration_s",
    "exit_code",
    "reason",
];

pub fn read(label: &str, text: &str) -> Result<Read> {
    let mut out = Read::default();
    for (i, line) in text.split('\n').enumerate() {
        let no = i as u64 + 1;
        let rec = match ledger::parse_line(line.as_bytes(), i == 0) {
            Line::Blank => continue,
            Line::Bad => return Err(bad_line(label, no, "not a ledger record")),
            Line::Record(r) => r,
        };
        let raw: serde_json::Map<String, Value> =
            serde_json::from_str(line.trim_end_matches('\r')).unwrap_or_default();
        let status_text = raw
            .get("status")
            .map(text_of)
            .unwrap_or_else(|| rec.status.as_str().to_string());
        // A re-check or a retraction refers to runs and code of the source ledger: imported as
        // a plain discarded record, its status kept in `imported.status`.
        let status = match rec.status {
            Status::Recheck | Status::Retraction => Status::Discarded,
            s => s,
        };
        let fields = raw
            .iter()
            .filter(|(k, _)| !MAPPED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), text_of(v)))
            .collect();
        out.rows.push(Row {
            line: no,
            status_text,
            status: Some(status),
            metric: rec.metric,
            metrics: rec.metrics.clone(),
            summary: rec.summary.clone(),
            commit: rec.commit.clone(),
            timestamp: rec.timestamp.clone(),
            fields,
            starts: out.rows.is_empty(),
            samples: rec.samples.clone(),
            duration_s: rec.duration_s,
            exit_code: rec.exit_code,
            reason: rec.reason.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_generation_records_read_with_their_extras_kept() {
        let text = "{\"run\":0,\"hash\":\"02404f1\",\"metric\":1.0,\"short_hash\":\"02404f1\",\"status\":\"keep\",\"description\":\"d\",\"time\":1773348490227}\n\n{\"run\":1,\"status\":\"discard\",\"value\":2}\n";
        let r = read("e.jsonl", text).unwrap();
        assert_eq!(r.rows.len(), 2);
        let a = &r.rows[0];
        assert!(a.starts);
        assert_eq!(a.status_text, "keep");
        assert_eq!(a.status, Some(Status::Kept));
        assert_eq!(a.summary, "d");
        assert_eq!(a.commit.as_deref(), Some("02404f1"));
        assert_eq!(a.timestamp, "2026-03-12T20:48:10.227Z");
        assert_eq!(a.fields.keys().collect::<Vec<_>>(), ["run", "short_hash"]);
        assert_eq!((r.rows[1].line, r.rows[1].metric), (3, Some(2.0)));
        let e = read("e.jsonl", "{\"run\":0,\"status\":\"kept\"}\n{\"run\":\n").unwrap_err();
        assert!(e.message.contains("`e.jsonl` line 2"), "{}", e.message);
    }
}
