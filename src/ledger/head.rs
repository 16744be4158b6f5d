//! A zero-copy first read of a ledger line, for the fold behind `status`, `best` and `record`.
//!
//! Deserializing a whole `Record` allocates a dozen strings and maps per line, which made a
//! cold fold of 100,000 records take ~150 ms. `Head` accepts exactly the lines `Record` accepts
//! (same fields, aliases and value types; strings borrowed, containers checked but not kept)
//! and keeps only what the fold needs; the full record is parsed only when it becomes a
//! baseline, a best or a last run. A unit test pins the equivalence on awkward lines.
//!
//! Lines in the writer's own shape take a faster road still: `scan` checks them without serde
//! and answers "don't know" for anything else, which then comes here. Tests pin that the two
//! roads accept the same lines with the same values.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

use super::scan::scan;
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

/// What the fold needs from one line: `run`, `status`, `metric` and `branch`.
#[derive(Debug, PartialEq)]
pub struct Head<'a> {
    pub run: u64,
    pub status: Status,
    pub metric: Option<f64>,
    /// The branch name's text (valid UTF-8), as bytes: the fold compares it with the previous
    /// line's before it needs it as a string.
    pub branch: Option<Cow<'a, [u8]>>,
    /// The reason is `interrupted` (not a failed idea: it does not lengthen a no-keep streak).
    pub interrupted: bool,
}

/// Mirrors `Record` field for field; only `run`, `status`, `metric` and `branch` are kept.
#[derive(Deserialize)]
#[allow(dead_code)] // the checked-only fields exist for validation, not to be read
struct SerdeHead<'a> {
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
    Head(Head<'a>, &'a [u8]),
    Bad,
}

/// Read one complete line (without its `\n`) as the fold sees it; the same trimming, caps and
/// acceptance as `parse_line`. Returns the record's bytes with the head, for a full parse.
pub fn parse_head(raw: &[u8], first: bool) -> HeadLine<'_> {
    let bytes = super::trim_line(raw, first);
    if bytes.len() <= super::MAX_LINE
        && let Some(f) = scan(bytes)
    {
        let head = Head {
            run: f.run,
            status: f.status,
            metric: f.metric,
            branch: f.branch.map(Cow::Borrowed),
            interrupted: f.interrupted,
        };
        return HeadLine::Head(head, bytes);
    }
    serde_head(bytes)
}

/// The serde road: every line the scanner does not vouch for.
fn serde_head(bytes: &[u8]) -> HeadLine<'_> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return HeadLine::Blank;
    }
    if bytes.len() > super::MAX_LINE {
        return HeadLine::Bad;
    }
    match serde_json::from_slice::<SerdeHead>(bytes) {
        Ok(h) if h.metric.is_none_or(f64::is_finite) => HeadLine::Head(
            Head {
                run: h.run,
                status: h.status,
                metric: h.metric,
                branch: h.branch.map(|b| match b.0 {
                    Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                    Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                }),
                interrupted: h.reason.is_some_and(|r| r.0 == super::INTERRUPTED),
            },
            bytes,
        ),
        _ => HeadLine::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Line, Record, parse_line};

    /// How one road read a line, comparable across roads (the metric by its bits, so `-0.0`
    /// and `0.0` differ).
    #[derive(Debug, PartialEq)]
    enum Seen {
        Blank,
        Bad,
        Rec(u64, Status, Option<u64>, Option<String>, bool),
    }

    fn by_record(line: &[u8]) -> Seen {
        match parse_line(line, false) {
            Line::Blank => Seen::Blank,
            Line::Bad => Seen::Bad,
            Line::Record(r) => Seen::Rec(
                r.run,
                r.status,
                r.metric.map(f64::to_bits),
                r.branch,
                r.reason.as_deref() == Some(crate::ledger::INTERRUPTED),
            ),
        }
    }

    fn by_head(h: HeadLine) -> Seen {
        match h {
            HeadLine::Blank => Seen::Blank,
            HeadLine::Bad => Seen::Bad,
            HeadLine::Head(h, _) => Seen::Rec(
                h.run,
                h.status,
                h.metric.map(f64::to_bits),
                h.branch.map(|b| String::from_utf8_lossy(&b).into_owned()),
                h.interrupted,
            ),
        }
    }

    /// The scanner's verdict: `None` when it does not know.
    fn by_scan(line: &[u8]) -> Option<Seen> {
        scan(line).map(|f| {
            Seen::Rec(
                f.run,
                f.status,
                f.metric.map(f64::to_bits),
                f.branch.map(|b| String::from_utf8_lossy(b).into_owned()),
                f.interrupted,
            )
        })
    }

    /// All three readers agree; the scanner may only abstain.
    fn check(line: &[u8]) -> Result<(), String> {
        let full = by_record(line);
        let serde = by_head(serde_head(line));
        let head = by_head(parse_head(line, false));
        let text = String::from_utf8_lossy(line);
        if serde != full || head != full {
            return Err(format!(
                "{text}: record {full:?}, serde head {serde:?}, head {head:?}"
            ));
        }
        if let Some(fast) = by_scan(line)
            && fast != full
        {
            return Err(format!("{text}: record {full:?}, scanner {fast:?}"));
        }
        Ok(())
    }

    const TEMPLATE: &str = r#"{"run":3,"id":"a-b","timestamp":"2026-01-01T00:00:00.000Z","status":"kept","metric":0.5,"metrics":{"m":1},"samples":[0.5,0.6],"delta":-0.1,"summary":"s \"q\"","commit":"c","parent":null,"branch":"b","duration_s":1.5,"exit_code":0,"reason":null,"flags":["x"],"source":"run"}"#;

    /// The fast readers and the full reader accept exactly the same lines, with the same values.
    #[test]
    fn head_and_record_agree() {
        let lines: &[&str] = &[
            r#"{"run":0,"status":"kept","metric":1}"#,
            r#"{"run":0,"status":"keep","score":1,"hash":"abc","description":"d","time":"t"}"#,
            r#"{"run":0,"status":"kept","metric":null,"summary":null}"#,
            r#"{"run":0,"status":"kept","id":null}"#,
            r#"{"run":0,"status":"kept","source":null}"#,
            r#"{"run":0,"status":"kept","branch":null,"commit":null,"reason":null}"#,
            r#"{"run":0,"status":"crash","reason":"interrupted"}"#,
            r#"{"run":0,"status":"crash","reason":"interr\u0075pted"}"#,
            r#"{"run":0,"status":"crash","reason":"interrupted "}"#,
            r#"{"run":0,"status":"crash","reason":5}"#,
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
            "   ",
        ];
        for line in lines {
            check(line.as_bytes()).unwrap();
        }
        // The writer's shape, with awkward values the scanner must read as serde does or leave.
        let variants: &[(&str, &str)] = &[
            ("", ""),
            (r#""run":3"#, r#""run":0"#),
            (r#""run":3"#, r#""run":18446744073709551615"#),
            (r#""run":3"#, r#""run":18446744073709551616"#),
            (r#""run":3"#, r#""run":-0"#),
            (r#""run":3"#, r#""run":3e0"#),
            (r#""metric":0.5"#, r#""metric":-0"#),
            (r#""metric":0.5"#, r#""metric":-0.0"#),
            (r#""metric":0.5"#, r#""metric":1e308"#),
            (r#""metric":0.5"#, r#""metric":1e309"#),
            (r#""metric":0.5"#, r#""metric":1e-400"#),
            (
                r#""metric":0.5"#,
                r#""metric":123456789012345678901234567890"#,
            ),
            (r#""metric":0.5"#, r#""metric":9007199254740993"#),
            (
                r#""metric":0.5"#,
                r#""metric":0.1000000000000000055511151231257827"#,
            ),
            (r#""metric":0.5"#, r#""metric":null"#),
            (r#""metric":0.5"#, r#""metric":true"#),
            (r#""metrics":{"m":1}"#, r#""metrics":{}"#),
            (r#""metrics":{"m":1}"#, r#""metrics":null"#),
            (r#""metrics":{"m":1}"#, r#""metrics":{"m":1,"m":2}"#),
            (
                r#""metrics":{"m":1}"#,
                r#""metrics":{"m":"x","n":null,"o":true,"p":false}"#,
            ),
            (r#""metrics":{"m":1}"#, r#""metrics":{"m":1e999}"#),
            (r#""metrics":{"m":1}"#, r#""metrics":{"m\"":1}"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[1e999]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[null]"#),
            (r#""delta":-0.1"#, r#""delta":-1E-7"#),
            (r#""exit_code":0"#, r#""exit_code":-2147483648"#),
            (r#""exit_code":0"#, r#""exit_code":2147483647"#),
            (r#""exit_code":0"#, r#""exit_code":-2147483649"#),
            (r#""exit_code":0"#, r#""exit_code":-0"#),
            (r#""exit_code":0"#, r#""exit_code":null"#),
            (r#""branch":"b""#, r#""branch":null"#),
            (r#""branch":"b""#, r#""branch":"é-ß""#),
            (r#""branch":"b""#, r#""branch":"a\/b""#),
            (r#""branch":"b""#, r#""branch":"\ud83d\ude00""#),
            (r#""summary":"s \"q\"""#, r#""summary":"\b\f\n\r\t\\\/""#),
            (r#""summary":"s \"q\"""#, r#""summary":"\ud800""#),
            (r#""summary":"s \"q\"""#, "\"summary\":\"tab\there\""),
            (r#""summary":"s \"q\"""#, "\"summary\":\"del\x7fhere\""),
            (r#""summary":"s \"q\"""#, "\"summary\":\"nul\0here\""),
            (r#""summary":"s \"q\"""#, r#""summary":null"#),
            (r#""status":"kept""#, r#""status":"discard""#),
            (r#""status":"kept""#, r#""status":"crashed""#),
            (r#""flags":["x"]"#, r#""flags":[]"#),
            (r#""flags":["x"]"#, r#""flags":["x",null]"#),
            (
                r#""timestamp":"2026-01-01T00:00:00.000Z""#,
                r#""timestamp":null"#,
            ),
            (r#""source":"run"}"#, r#""source":"run"}  "#),
            (r#""source":"run"}"#, r#""source":"run","metric":2}"#),
            (r#""source":"run"}"#, r#""source":"run","score":2}"#),
        ];
        for (from, to) in variants {
            let line = TEMPLATE.replacen(from, to, 1);
            assert!(from.is_empty() || line != TEMPLATE, "{to}");
            check(line.as_bytes()).unwrap();
        }
        // The writer's own output always takes the fast road.
        assert!(scan(TEMPLATE.as_bytes()).is_some());
    }

    /// Invalid UTF-8 inside a string: serde refuses it, so the scanner must not vouch for it.
    #[test]
    fn invalid_utf8_is_refused_by_every_road() {
        let at = TEMPLATE.find("s \\\"q").unwrap();
        for bad in [
            &[0xffu8][..],
            &[0xc3],
            &[0xed, 0xa0, 0x80],
            &[0xe2, 0x28, 0xa1],
        ] {
            let mut line = TEMPLATE.as_bytes().to_vec();
            line.splice(at..at + 1, bad.iter().copied());
            check(&line).unwrap();
            assert_eq!(by_record(&line), Seen::Bad);
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn mutate(edits: Vec<(usize, &str)>) -> String {
            let mut line = TEMPLATE.to_string();
            for (pos, ins) in edits {
                let mut pos = pos % (line.len() + 1);
                while !line.is_char_boundary(pos) {
                    pos -= 1;
                }
                if ins.is_empty() {
                    if pos < line.len() {
                        line.remove(pos);
                    }
                } else {
                    line.insert_str(pos, ins);
                }
            }
            line
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
            /// Mutations of a valid line: every road agrees on acceptance and values, and the
            /// scanner never vouches for a line serde refuses.
            #[test]
            fn readers_agree_on_mutated_lines(
                edits in proptest::collection::vec((0usize..400, proptest::sample::select(vec!["", "{", "}", "[", "]", "\"", ":", ",", "0", "-", "1e9", "null", "true", "\\", "x", " ", ".", "e", "E", "+", "9", "\\u0041", "\\n", "é", "\t", "\"metric\":1,", "\"score\":1,", "\"x\":[1],"])), 1..4)
            ) {
                let line = mutate(edits);
                prop_assert!(check(line.as_bytes()).is_ok(), "{}", check(line.as_bytes()).unwrap_err());
            }

            /// Single bytes anywhere, including invalid UTF-8 and control bytes.
            #[test]
            fn readers_agree_on_byte_edits(pos in 0usize..400, byte in any::<u8>(), replace in any::<bool>()) {
                let mut line = TEMPLATE.as_bytes().to_vec();
                let pos = pos % line.len();
                if replace {
                    line[pos] = byte;
                } else {
                    line.insert(pos, byte);
                }
                prop_assert!(check(&line).is_ok(), "{}", check(&line).unwrap_err());
            }

            /// Records as the writer writes them: the scanner reads them (unless a string needs a
            /// `\u` escape) with the values serde reads.
            #[test]
            fn scanner_reads_what_the_writer_wrote(
                run in any::<u64>(),
                metric in proptest::option::of(any::<f64>().prop_filter("finite", |m| m.is_finite())),
                samples in proptest::collection::vec(-1e300f64..1e300, 0..3),
                exit in proptest::option::of(any::<i32>()),
                branch in proptest::option::of("[a-z/é\"\\\\-]{0,12}"),
                summary in "\\PC{0,30}",
                metrics in proptest::collection::btree_map("[a-z_]{1,8}", -1e9f64..1e9, 0..3),
            ) {
                let mut r = Record::blank(run, Status::Kept, metric);
                r.samples = samples;
                r.exit_code = exit;
                r.branch = branch;
                r.summary = summary;
                r.metrics = metrics;
                r.flags = vec!["suspicious_jump".into()];
                let line = serde_json::to_vec(&r).unwrap();
                prop_assert!(check(&line).is_ok(), "{}", check(&line).unwrap_err());
                let plain_branch = r.branch.as_deref().is_none_or(|b| !b.contains(['"', '\\']));
                if plain_branch && !line.windows(2).any(|w| w == b"\\u") {
                    prop_assert!(scan(&line).is_some(), "{}", String::from_utf8_lossy(&line));
                }
            }
        }
    }
}
