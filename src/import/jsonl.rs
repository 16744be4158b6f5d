//! JSON Lines logs in the shape of pi-autoresearch's `autoresearch.jsonl` (Shopify/liquid): a
//! config line `{"type":"config","metricName":..,"bestDirection":..}` opens a segment, then one
//! object per experiment with `metric`, `metrics`, `status`, `description`, `commit` and a
//! `timestamp` in epoch milliseconds. Each segment's first record becomes a baseline.

use serde_json::{Map, Value};

use super::{Read, Row, Want, bad_line, metric_mismatch, status, text_of};
use crate::error::Result;

/// Keys with a place of their own in the record.
const MAPPED: &[&str] = &[
    "metric",
    "metrics",
    "status",
    "description",
    "commit",
    "timestamp",
];

pub fn read(label: &str, text: &str, want: &Want) -> Result<Read> {
    let mut out = Read::default();
    let mut starts = true;
    // The config line's other keys (`name`, `metricUnit`), for the segment's first record.
    let mut header: Vec<(String, String)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let no = i as u64 + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let obj: Map<String, Value> = match serde_json::from_str(line) {
            Ok(Value::Object(o)) => o,
            _ => return Err(bad_line(label, no, "not a JSON object")),
        };
        if obj.get("type").and_then(Value::as_str) == Some("config") {
            if let Some(name) = obj.get("metricName").and_then(Value::as_str) {
                if name != want.metric {
                    return Err(metric_mismatch(&format!("`{label}` line {no}"), name, want));
                }
                out.metric_names.push((no, name.to_string()));
            }
            if let Some(d) = obj.get("bestDirection") {
                out.directions.push((no, text_of(d)));
            }
            header = obj
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "type" | "metricName" | "bestDirection"))
                .map(|(k, v)| (format!("config.{k}"), text_of(v)))
                .collect();
            starts = true;
            continue;
        }
        let row = record(label, no, &obj, starts, std::mem::take(&mut header))?;
        starts = false;
        out.rows.push(row);
    }
    Ok(out)
}

fn record(
    label: &str,
    no: u64,
    obj: &Map<String, Value>,
    starts: bool,
    header: Vec<(String, String)>,
) -> Result<Row> {
    let status_text = match obj.get("status") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(bad_line(label, no, "no `status` string")),
    };
    let mapped = status::map(&status_text);
    let metric = match obj.get("metric") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()),
        Some(Value::String(s)) => status::metric_cell(s)
            .map_err(|()| bad_line(label, no, &format!("`metric` `{s}` is not a number")))?,
        Some(other) => {
            return Err(bad_line(
                label,
                no,
                &format!("`metric` {other} is not a number"),
            ));
        }
    };
    let mut row = Row {
        fields: header.into_iter().collect(),
        ..Row::at(no, status_text, mapped, metric, starts)
    };
    let failed = row.failed();
    if let Some(Value::Object(m)) = obj.get("metrics") {
        for (k, v) in m {
            match v.as_f64().filter(|v| v.is_finite()) {
                // A crash measured nothing: its zeros stay text.
                Some(x) if !failed => {
                    row.metrics.insert(k.clone(), x);
                }
                _ => {
                    row.fields.insert(format!("metrics.{k}"), text_of(v));
                }
            }
        }
    }
    row.summary = obj.get("description").map(text_of).unwrap_or_default();
    row.commit = obj
        .get("commit")
        .and_then(Value::as_str)
        .map(str::to_string);
    row.timestamp = match obj.get("timestamp") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    for (k, v) in obj {
        if !MAPPED.contains(&k.as_str()) {
            row.fields.insert(k.clone(), text_of(v));
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANT: Want = Want {
        metric: "t_us",
        config_metric: "t_us",
    };

    #[test]
    fn segments_start_with_a_baseline_and_crashes_lose_their_zeros() {
        let text = r#"{"type":"config","name":"n","metricName":"t_us","bestDirection":"lower"}
{"run":1,"commit":"c0","metric":10,"metrics":{"a":1},"status":"keep","description":"base","timestamp":1773348490227}
{"run":2,"metric":0,"metrics":{"a":0},"status":"crash","description":"boom","timestamp":1773348738557,"segment":0}
{"type":"config","metricName":"t_us","bestDirection":"lower"}
{"run":3,"metric":9,"status":"discard","description":"again"}
"#;
        let r = read("a.jsonl", text, &WANT).unwrap();
        assert_eq!(r.rows.len(), 3);
        assert!(r.rows[0].starts && !r.rows[1].starts && r.rows[2].starts);
        assert_eq!(r.rows[0].timestamp, "2026-03-12T20:48:10.227Z");
        assert_eq!(r.rows[0].metrics.get("a"), Some(&1.0));
        assert_eq!(
            r.rows[0].fields.get("config.name").map(String::as_str),
            Some("n")
        );
        assert_eq!(r.rows[0].fields.get("run").map(String::as_str), Some("1"));
        assert!(r.rows[1].metrics.is_empty());
        assert_eq!(
            r.rows[1].fields.get("metrics.a").map(String::as_str),
            Some("0")
        );
        assert_eq!(r.directions.len(), 2);
        let e = read("a.jsonl", &text.replace("t_us", "other"), &WANT).unwrap_err();
        assert!(
            e.message.contains("`a.jsonl` line 1 measures `other`"),
            "{}",
            e.message
        );
        let e = read("a.jsonl", "{\"type\":\"config\"}\n{\"run\":1}\n", &WANT).unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
    }
}
