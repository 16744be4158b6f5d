//! A zero-copy first read of a ledger line, for the fold behind `status`, `best` and `record`.
//!
//! Deserializing a whole `Record` allocates a dozen strings and maps per line, which made a
//! cold fold of 100,000 records take ~150 ms. `Head` accepts exactly the lines `Record` accepts
//! (same fields, aliases and value types; strings borrowed, containers checked but not kept)
//! and keeps only what the fold needs; the full record is parsed only when it becomes a
//! baseline, a best or a last run. A unit test pins the equivalence on awkward lines.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::{MaybeNumber, Status};

/// A string, borrowed from the line unless it had escapes.
#[derive(Debug, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// Checks a JSON array of `T` (as `Vec<T>` would) without keeping it.
struct SeqOf<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SeqOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = SeqOf<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<SeqOf<T>, A::Error> {
                while a.next_element::<T>()?.is_some() {}
                Ok(SeqOf(PhantomData))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

impl<T> Default for SeqOf<T> {
    fn default() -> Self {
        SeqOf(PhantomData)
    }
}

/// Checks `metrics` as `de_metrics` would: values through `MaybeNumber`, not `IgnoredAny`,
/// which skips a number without parsing it and so accepted `1e999` that `Record` refuses.
#[derive(Default)]
struct AnyMap;

impl<'de> Deserialize<'de> for AnyMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<AnyMap, A::Error> {
                while a.next_entry::<Str, MaybeNumber>()?.is_some() {}
                Ok(AnyMap)
            }
        }
        d.deserialize_map(V)
    }
}

/// Checks a timestamp as `de_timestamp` would: a string, a number, or null.
#[derive(Default)]
struct AnyTimestamp;

impl<'de> Deserialize<'de> for AnyTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyTimestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 string or epoch milliseconds")
            }
            fn visit_str<E>(self, _: &str) -> Result<AnyTimestamp, E> {
                Ok(AnyTimestamp)
            }
            fn visit_i64<E>(self, _: i64) -> Result<AnyTimestamp, E> {
                Ok(AnyTimestamp)
            }
            fn visit_u64<E>(self, _: u64) -> Result<AnyTimestamp, E> {
                Ok(AnyTimestamp)
            }
            fn visit_f64<E>(self, _: f64) -> Result<AnyTimestamp, E> {
                Ok(AnyTimestamp)
            }
            fn visit_unit<E>(self) -> Result<AnyTimestamp, E> {
                Ok(AnyTimestamp)
            }
            fn visit_none<E>(self) -> Result<AnyTimestamp, E> {
                Ok(AnyTimestamp)
            }
        }
        d.deserialize_any(V)
    }
}

/// Mirrors `Record` field for field; only `run`, `status`, `metric` and `branch` are kept.
#[derive(Deserialize)]
#[allow(dead_code)] // the checked-only fields exist for validation, not to be read
pub struct Head<'a> {
    pub run: u64,
    #[serde(default, borrow)]
    id: Str<'a>,
    #[serde(default, alias = "time")]
    timestamp: AnyTimestamp,
    pub status: Status,
    #[serde(default, alias = "value", alias = "score")]
    pub metric: Option<f64>,
    #[serde(default)]
    metrics: Option<AnyMap>,
    #[serde(default)]
    samples: SeqOf<f64>,
    #[serde(default)]
    delta: Option<f64>,
    #[serde(default, alias = "description", alias = "message", borrow)]
    summary: Str<'a>,
    #[serde(default, alias = "hash", borrow)]
    commit: Option<Str<'a>>,
    #[serde(default, borrow)]
    parent: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub branch: Option<Str<'a>>,
    #[serde(default)]
    duration_s: Option<f64>,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default, borrow)]
    reason: Option<Str<'a>>,
    #[serde(default, borrow)]
    flags: SeqOf<Str<'a>>,
    #[serde(default, borrow)]
    source: Str<'a>,
}

pub enum HeadLine<'a> {
    Blank,
    Head(Box<Head<'a>>, &'a [u8]),
    Bad,
}

/// Read one complete line (without its `\n`) as the fold sees it; the same trimming, caps and
/// acceptance as `parse_line`. Returns the record's bytes with the head, for a full parse.
pub fn parse_head(raw: &[u8], first: bool) -> HeadLine<'_> {
    let bytes = super::trim_line(raw, first);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return HeadLine::Blank;
    }
    if bytes.len() > super::MAX_LINE {
        return HeadLine::Bad;
    }
    match serde_json::from_slice::<Head>(bytes) {
        Ok(h) if h.metric.is_none_or(f64::is_finite) => HeadLine::Head(Box::new(h), bytes),
        _ => HeadLine::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Line, parse_line};

    /// The fast reader and the full reader accept exactly the same lines.
    #[test]
    fn head_and_record_agree() {
        let lines: &[&str] = &[
            r#"{"run":0,"status":"kept","metric":1}"#,
            r#"{"run":0,"status":"keep","score":1,"hash":"abc","description":"d","time":"t"}"#,
            r#"{"run":0,"status":"kept","metric":null,"summary":null}"#,
            r#"{"run":0,"status":"kept","id":null}"#,
            r#"{"run":0,"status":"kept","source":null}"#,
            r#"{"run":0,"status":"kept","branch":null,"commit":null,"reason":null}"#,
            r#"{"run":0,"status":"kept","metrics":null}"#,
            r#"{"run":0,"status":"kept","metrics":[1]}"#,
            r#"{"run":0,"status":"kept","metrics":{"a":"x","b":[1],"c":1}}"#,
            r#"{"run":0,"status":"kept","metrics":{"a":1e999}}"#,
            r#"{"run":0,"status":"kept","metrics":{"a":[1e999]}}"#,
            r#"{"run":0,"status":"kept","samples":null}"#,
            r#"{"run":0,"status":"kept","samples":[1,"x"]}"#,
            r#"{"run":0,"status":"kept","samples":[1,2.5]}"#,
            r#"{"run":0,"status":"kept","flags":["a",1]}"#,
            r#"{"run":0,"status":"kept","flags":["a\n"]}"#,
            r#"{"run":0,"status":"kept","timestamp":12345}"#,
            r#"{"run":0,"status":"kept","timestamp":[1]}"#,
            r#"{"run":0,"status":"kept","timestamp":true}"#,
            r#"{"run":0,"status":"kept","exit_code":1.5}"#,
            r#"{"run":0,"status":"kept","exit_code":99999999999}"#,
            r#"{"run":-1,"status":"kept"}"#,
            r#"{"run":0,"status":"nope"}"#,
            r#"{"run":0}"#,
            r#"{"status":"kept"}"#,
            r#"{"run":0,"status":"kept","metric":1,"metric":2}"#,
            r#"{"run":0,"status":"kept","metric":1,"score":2}"#,
            r#"{"run":0,"status":"kept","summary":"a\"b\u00e9"}"#,
            r#"{"run":0,"status":"kept","summary":5}"#,
            r#"{"run":0,"status":"kept","extra":{"deep":[null]}}"#,
            r#"{"run":0,"status":"kept","metric":1e999}"#,
            r#"{"run":0,"status":"kept"} trailing"#,
            r#"[1,2]"#,
            "garbage",
        ];
        for line in lines {
            let full = matches!(parse_line(line.as_bytes(), false), Line::Record(_));
            let head = matches!(parse_head(line.as_bytes(), false), HeadLine::Head(..));
            assert_eq!(full, head, "{line}");
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        const TEMPLATE: &str = r#"{"run":3,"id":"a-b","timestamp":"2026-01-01T00:00:00.000Z","status":"kept","metric":0.5,"metrics":{"m":1},"samples":[0.5,0.6],"delta":-0.1,"summary":"s \"q\"","commit":"c","parent":null,"branch":"b","duration_s":1.5,"exit_code":0,"reason":null,"flags":["x"],"source":"run"}"#;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
            /// Mutations of a valid line: both readers always agree on acceptance.
            #[test]
            fn readers_agree_on_mutated_lines(
                edits in proptest::collection::vec((0usize..400, proptest::sample::select(vec!["", "{", "}", "[", "]", "\"", ":", ",", "0", "-", "1e9", "null", "true", "\\", "x", " "])), 1..4)
            ) {
                let mut line = TEMPLATE.to_string();
                for (pos, ins) in edits {
                    let pos = pos % (line.len() + 1);
                    if ins.is_empty() {
                        if pos < line.len() {
                            line.remove(pos);
                        }
                    } else {
                        line.insert_str(pos, ins);
                    }
                }
                let full = matches!(parse_line(line.as_bytes(), false), Line::Record(_));
                let head = matches!(parse_head(line.as_bytes(), false), HeadLine::Head(..));
                prop_assert_eq!(full, head, "{}", line);
            }
        }
    }
}
