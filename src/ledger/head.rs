//! A zero-copy first read of a ledger line, for the fold behind `status`, `best` and `record`.
//!
//! Deserializing a whole `Record` allocates a dozen strings and maps per line, which made a
//! cold fold of 100,000 records take ~150 ms. `Head` accepts exactly the lines `Record` accepts
//! (same fields, aliases and value types; strings borrowed, containers other than `samples`
//! checked but not kept) and keeps only what the fold needs; the full record is parsed only
//! when it becomes a baseline, a best or a last run. A unit test pins the equivalence on
//! awkward lines.
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
use super::{MaybeNumber, SIMPLIFICATION, Status};

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

/// Checks `flags` as `Vec<String>` would, keeping only whether `simplification` is among them.
#[derive(Default)]
struct Flags {
    simplified: bool,
}

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Flags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Flags, A::Error> {
                let mut simplified = false;
                while let Some(flag) = a.next_element::<Str>()? {
                    simplified |= flag.0 == SIMPLIFICATION;
                }
                Ok(Flags { simplified })
            }
        }
        d.deserialize_seq(V)
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

/// What the fold needs from one line: `run`, `status`, `metric`, `branch`, whether the reason
/// is `interrupted`, the samples, `code`, `setup`, and whether it was a simplification.
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
    /// Every sample, in order (`[]` allocates nothing).
    pub samples: Vec<f64>,
    /// The code evaluated (`Record::code`), borrowed unless it had escapes.
    pub code: Option<Cow<'a, str>>,
    /// How the number was made (`Record::setup`), borrowed unless it had escapes.
    pub setup: Option<Cow<'a, str>>,
    /// `flags` holds `simplification`.
    pub simplified: bool,
    /// For a `retraction`: the run it takes back (only the serde road reads these lines).
    pub retracts: Option<u64>,
    /// The record's logical clock (`Record::clock`).
    pub clock: Option<u64>,
}

/// Mirrors `Record` field for field; what `Head` needs is kept, the rest only checked.
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
    samples: Vec<f64>,
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
    #[serde(default)]
    flags: Flags,
    #[serde(default, borrow)]
    source: Str<'a>,
    #[serde(default, borrow)]
    code: Option<Str<'a>>,
    #[serde(default, borrow)]
    setup: Option<Str<'a>>,
    #[serde(default, borrow)]
    hardware: Option<Str<'a>>,
    #[serde(default, borrow)]
    worker: Option<Str<'a>>,
    #[serde(default)]
    worker_run: Option<u64>,
    #[serde(default)]
    clock: Option<u64>,
    #[serde(default)]
    retracts: Option<u64>,
    /// Checked with `Record`'s own type: only imported lines have it, so the allocation is rare.
    #[serde(default)]
    imported: Option<super::Imported>,
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
            samples: f.samples,
            code: f.code.map(Cow::Borrowed),
            setup: f.setup.map(Cow::Borrowed),
            simplified: f.simplified,
            retracts: None,
            clock: f.clock,
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
                samples: h.samples,
                code: h.code.map(|s| s.0),
                setup: h.setup.map(|s| s.0),
                simplified: h.flags.simplified,
                retracts: h.retracts,
                clock: h.clock,
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

    /// How one road read a line, comparable across roads (numbers by their bits, so `-0.0`
    /// and `0.0` differ).
    #[derive(Debug, PartialEq)]
    enum Seen {
        Blank,
        Bad,
        Rec(Fields),
    }

    #[derive(Debug, PartialEq)]
    struct Fields {
        run: u64,
        status: Status,
        metric: Option<u64>,
        branch: Option<String>,
        interrupted: bool,
        samples: Vec<u64>,
        code: Option<String>,
        setup: Option<String>,
        simplified: bool,
    }

    fn bits(samples: &[f64]) -> Vec<u64> {
        samples.iter().map(|s| s.to_bits()).collect()
    }

    fn by_record(line: &[u8]) -> Seen {
        match parse_line(line, false) {
            Line::Blank => Seen::Blank,
            Line::Bad => Seen::Bad,
            Line::Record(r) => Seen::Rec(Fields {
                run: r.run,
                status: r.status,
                metric: r.metric.map(f64::to_bits),
                interrupted: r.reason.as_deref() == Some(crate::ledger::INTERRUPTED),
                samples: bits(&r.samples),
                simplified: r.flags.iter().any(|f| f == SIMPLIFICATION),
                branch: r.branch,
                code: r.code,
                setup: r.setup,
            }),
        }
    }

    fn by_head(h: HeadLine) -> Seen {
        match h {
            HeadLine::Blank => Seen::Blank,
            HeadLine::Bad => Seen::Bad,
            HeadLine::Head(h, _) => Seen::Rec(Fields {
                run: h.run,
                status: h.status,
                metric: h.metric.map(f64::to_bits),
                branch: h.branch.map(|b| String::from_utf8_lossy(&b).into_owned()),
                interrupted: h.interrupted,
                samples: bits(&h.samples),
                code: h.code.map(Cow::into_owned),
                setup: h.setup.map(Cow::into_owned),
                simplified: h.simplified,
            }),
        }
    }

    /// The scanner's verdict: `None` when it does not know.
    fn by_scan(line: &[u8]) -> Option<Seen> {
        scan(line).map(|f| {
            Seen::Rec(Fields {
                run: f.run,
                status: f.status,
                metric: f.metric.map(f64::to_bits),
                branch: f.branch.map(|b| String::from_utf8_lossy(b).into_owned()),
                interrupted: f.interrupted,
                samples: bits(&f.samples),
                code: f.code.map(str::to_owned),
                setup: f.setup.map(str::to_owned),
                simplified: f.simplified,
            })
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
    /// Today's writer: `code` and `setup` after `source`.
    const NEW_TEMPLATE: &str = r#"{"run":3,"id":"a-b","timestamp":"2026-01-01T00:00:00.000Z","status":"kept","metric":0.5,"metrics":{"m":1},"samples":[0.5,0.6],"delta":-0.1,"summary":"s \"q\"","commit":"c","parent":null,"branch":"b","duration_s":1.5,"exit_code":0,"reason":null,"flags":["x"],"source":"run","code":"ab12","setup":"cd34"}"#;

    /// The fast readers and the full reader accept exactly the same lines, with the same values.
    #[test]
    fn head_and_record_agree() {
        let lines: &[&str] = &[
            r#"{"run":0,"status":"kept","metric":1}"#,
            r#"{"run":4,"status":"retraction","retracts":3}"#,
            r#"{"run":4,"status":"retraction","retracts":"3"}"#,
            r#"{"run":4,"status":"retraction","retracts":-1}"#,
            r#"{"run":0,"status":"kept","metric":1,"imported":{"file":"r.tsv","line":2,"format":"tsv","status":"keep","fields":{"commit":"abc"}}}"#,
            r#"{"run":0,"status":"kept","imported":{}}"#,
            r#"{"run":0,"status":"kept","imported":null}"#,
            r#"{"run":0,"status":"kept","imported":{"line":-1}}"#,
            r#"{"run":0,"status":"kept","imported":{"fields":{"a":1}}}"#,
            r#"{"run":0,"status":"kept","imported":{"fields":null}}"#,
            r#"{"run":0,"status":"kept","imported":{"x":[1]}}"#,
            r#"{"run":0,"status":"kept","imported":"tsv"}"#,
            r#"{"run":0,"status":"kept","imported":[1]}"#,
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
            r#"{"run":0,"status":"kept","code":"a","setup":"b"}"#,
            r#"{"run":0,"status":"kept","setup":"b","code":"a"}"#,
            r#"{"run":0,"status":"kept","code":null,"setup":null}"#,
            r#"{"run":0,"status":"kept","code":"a\/b","setup":"\u0062"}"#,
            r#"{"run":0,"status":"kept","code":5}"#,
            r#"{"run":0,"status":"kept","setup":["x"]}"#,
            r#"{"run":0,"status":"kept","code":"a","code":"b"}"#,
            r#"{"run":0,"status":"kept","samples":[-0,-0.0,1e-400,1E+2,2.5e-308]}"#,
            r#"{"run":0,"status":"kept","samples":[0.30000000000000004,1e23]}"#,
            r#"{"run":0,"status":"kept","samples":[123456789012345678901234567890]}"#,
            r#"{"run":0,"status":"kept","samples":[1,[2]]}"#,
            r#"{"run":0,"status":"kept","samples":[true]}"#,
            r#"{"run":0,"status":"kept","flags":["simplification"]}"#,
            r#"{"run":0,"status":"kept","flags":["simplification "]}"#,
            r#"{"run":0,"status":"kept","flags":["simplific\u0061tion"]}"#,
            r#"{"run":0,"status":"kept","flags":["x","simplification",1]}"#,
            r#"{"run":0,"status":"kept","flags":"simplification"}"#,
            r#"{"run":0,"status":"kept","flags":null}"#,
            r#"[1,2]"#,
            "garbage",
            "   ",
        ];
        for line in lines {
            check(line.as_bytes()).unwrap();
        }
        // The writer's shapes, with awkward values the scanner must read as serde does or leave.
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
            (r#""samples":[0.5,0.6]"#, r#""samples":null"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":["x"]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[true]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[[0.5]]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[0.5,]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[0.5, 0.6]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[-0,-0.0,0]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[1e-400,-1e-400]"#),
            (
                r#""samples":[0.5,0.6]"#,
                r#""samples":[1.7976931348623157e308,4.9e-324,2.5e-308]"#,
            ),
            (r#""samples":[0.5,0.6]"#, r#""samples":[1e308,1e309]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[1e0001]"#),
            (
                r#""samples":[0.5,0.6]"#,
                r#""samples":[-1E-7,5e+3,1e22,1e23]"#,
            ),
            (
                r#""samples":[0.5,0.6]"#,
                r#""samples":[0.30000000000000004,0.1000000000000000055511151231257827]"#,
            ),
            (
                r#""samples":[0.5,0.6]"#,
                r#""samples":[9007199254740993,123456789012345678,123456789012345678901234567890]"#,
            ),
            (
                r#""samples":[0.5,0.6]"#,
                r#""samples":[-9223372036854775808,18446744073709551615,18446744073709551616]"#,
            ),
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
            (r#""flags":["x"]"#, r#""flags":null"#),
            (r#""flags":["x"]"#, r#""flags":["simplification"]"#),
            (r#""flags":["x"]"#, r#""flags":["x","simplification"]"#),
            (
                r#""flags":["x"]"#,
                r#""flags":["simplification","simplification"]"#,
            ),
            (r#""flags":["x"]"#, r#""flags":["simplification "]"#),
            (r#""flags":["x"]"#, r#""flags":[" simplification"]"#),
            (r#""flags":["x"]"#, r#""flags":["Simplification"]"#),
            (r#""flags":["x"]"#, r#""flags":["simplific\u0061tion"]"#),
            (r#""flags":["x"]"#, r#""flags":["simplification\n"]"#),
            (r#""flags":["x"]"#, r#""flags":["simpl\/ification"]"#),
            (r#""flags":["x"]"#, r#""flags":["simplification",5]"#),
            (
                r#""flags":["x"]"#,
                r#""flags":["simplification"],"flags":[]"#,
            ),
            (
                r#""timestamp":"2026-01-01T00:00:00.000Z""#,
                r#""timestamp":null"#,
            ),
        ];
        // The shape before `code` and `setup`, and today's.
        let old: &[(&str, &str)] = &[
            (r#""source":"run"}"#, r#""source":"run"}  "#),
            (r#""source":"run"}"#, r#""source":"run","metric":2}"#),
            (r#""source":"run"}"#, r#""source":"run","score":2}"#),
            (r#""source":"run"}"#, r#""source":"run","code":"a"}"#),
            (r#""source":"run"}"#, r#""source":"run","setup":"a"}"#),
            (r#""source":"run"}"#, r#""source":"run","code":null}"#),
            (r#""source":"run"}"#, r#""source":"run","code":5}"#),
        ];
        let new: &[(&str, &str)] = &[
            (r#""code":"ab12""#, r#""code":null"#),
            (r#""setup":"cd34""#, r#""setup":null"#),
            (
                r#""code":"ab12","setup":"cd34""#,
                r#""code":null,"setup":null"#,
            ),
            (r#""code":"ab12""#, r#""code":"""#),
            (r#""code":"ab12""#, r#""code":"é-ß""#),
            (r#""code":"ab12""#, r#""code":"a\/b""#),
            (r#""code":"ab12""#, r#""code":"a\"b\\""#),
            (r#""code":"ab12""#, r#""code":"\u0061b12""#),
            (r#""code":"ab12""#, r#""code":"\ud800""#),
            (r#""setup":"cd34""#, r#""setup":"c\nd""#),
            (r#""setup":"cd34""#, "\"setup\":\"c\td\""),
            (r#""code":"ab12""#, r#""code":5"#),
            (r#""code":"ab12""#, r#""code":["ab12"]"#),
            (r#""setup":"cd34""#, r#""setup":{}"#),
            (r#""setup":"cd34""#, r#""setup":nul"#),
            (r#","setup":"cd34""#, ""),
            (r#""code":"ab12","#, ""),
            (
                r#""code":"ab12","setup":"cd34""#,
                r#""setup":"cd34","code":"ab12""#,
            ),
            (r#""cd34"}"#, r#""cd34","code":"x"}"#),
            (r#""cd34"}"#, r#""cd34","code":null}"#),
            (r#""cd34"}"#, r#""cd34","x":1}"#),
            (
                r#""cd34"}"#,
                r#""cd34","imported":{"file":"r.tsv","line":2,"format":"tsv","status":"keep","fields":{"commit":"abc"}}}"#,
            ),
            (r#""cd34"}"#, r#""cd34","imported":"tsv"}"#),
            (r#""cd34"}"#, r#""cd34","imported":{"line":"2"}}"#),
            (r#""cd34"}"#, r#""cd34","score":2}"#),
            (r#""cd34"}"#, r#""cd34","hardware":"a100-80g"}"#),
            (r#""cd34"}"#, r#""cd34","hardware":"a\"b"}"#),
            (r#""cd34"}"#, r#""cd34","hardware":null}"#),
            (r#""cd34"}"#, r#""cd34","hardware":5}"#),
            (r#""cd34"}"#, r#""cd34","hardware":"a","x":1}"#),
            (r#""cd34"}"#, r#""cd34","hardware":"a","hardware":"b"}"#),
            (r#""cd34"}"#, r#""cd34","worker":"gpu-03-ab12","clock":7}"#),
            (
                r#""cd34"}"#,
                r#""cd34","hardware":"a","worker":"w","worker_run":17,"clock":9}"#,
            ),
            (r#""cd34"}"#, r#""cd34","clock":7,"worker":"w"}"#),
            (r#""cd34"}"#, r#""cd34","worker_run":-1}"#),
            (r#""cd34"}"#, r#""cd34","clock":1.5}"#),
            (r#""cd34"}"#, r#""cd34","clock":18446744073709551616}"#),
            (r#""cd34"}"#, r#""cd34","worker":null,"clock":2}"#),
            (r#""cd34"}"#, r#""cd34","worker":"w","worker":"v"}"#),
            (r#""cd34"}"#, r#""cd34","clock":3,"retracts":2}"#),
            (r#""cd34"}"#, r#""cd34"}  "#),
            (r#""cd34"}"#, r#""cd34"},"#),
            (r#""cd34"}"#, r#""cd34""#),
            (r#""run","code""#, r#""run" ,"code""#),
        ];
        for (template, own) in [(TEMPLATE, old), (NEW_TEMPLATE, new)] {
            for (from, to) in variants.iter().chain(own) {
                let line = template.replacen(from, to, 1);
                assert!(from.is_empty() || line != template, "{to}");
                check(line.as_bytes()).unwrap();
            }
            // The writer's own output always takes the fast road.
            assert!(scan(template.as_bytes()).is_some());
        }
        // With its values.
        let HeadLine::Head(h, _) = parse_head(NEW_TEMPLATE.as_bytes(), false) else {
            panic!("today's shape reads")
        };
        assert_eq!(
            (h.samples, h.code, h.setup, h.simplified),
            (
                vec![0.5, 0.6],
                Some("ab12".into()),
                Some("cd34".into()),
                false
            )
        );
        // A hardware class keeps a line on the fast road.
        let with = NEW_TEMPLATE.replacen(r#""cd34"}"#, r#""cd34","hardware":"a100-80g"}"#, 1);
        assert!(scan(with.as_bytes()).is_some());
        // So do a synced record's writer, its run there and its clock, which the fold reads.
        let synced = NEW_TEMPLATE.replacen(
            r#""cd34"}"#,
            r#""cd34","worker":"gpu-03-ab12","worker_run":17,"clock":42}"#,
            1,
        );
        assert_eq!(scan(synced.as_bytes()).map(|f| f.clock), Some(Some(42)));
    }

    /// Invalid UTF-8 inside a string: serde refuses it, so the scanner must not vouch for it.
    #[test]
    fn invalid_utf8_is_refused_by_every_road() {
        for (template, inside) in [
            (TEMPLATE, "s \\\"q"),
            (NEW_TEMPLATE, "ab12"),
            (NEW_TEMPLATE, "cd34"),
        ] {
            let at = template.find(inside).unwrap();
            for bad in [
                &[0xffu8][..],
                &[0xc3],
                &[0xed, 0xa0, 0x80],
                &[0xe2, 0x28, 0xa1],
            ] {
                let mut line = template.as_bytes().to_vec();
                line.splice(at..at + 1, bad.iter().copied());
                check(&line).unwrap();
                assert_eq!(by_record(&line), Seen::Bad);
            }
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn template(new: bool) -> &'static str {
            if new { NEW_TEMPLATE } else { TEMPLATE }
        }

        fn mutate(new: bool, edits: Vec<(usize, &str)>) -> String {
            let mut line = template(new).to_string();
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
                new in any::<bool>(),
                edits in proptest::collection::vec((0usize..400, proptest::sample::select(vec!["", "{", "}", "[", "]", "\"", ":", ",", "0", "-", "1e9", "null", "true", "\\", "x", " ", ".", "e", "E", "+", "9", "\\u0041", "\\n", "é", "\t", "\"metric\":1,", "\"score\":1,", "\"x\":[1],", "\"code\":\"c\",", ",\"setup\":null", "\"simplification\",", "0.30000000000000004", "1e-400,"])), 1..4)
            ) {
                let line = mutate(new, edits);
                prop_assert!(check(line.as_bytes()).is_ok(), "{}", check(line.as_bytes()).unwrap_err());
            }

            /// Single bytes anywhere, including invalid UTF-8 and control bytes.
            #[test]
            fn readers_agree_on_byte_edits(new in any::<bool>(), pos in 0usize..400, byte in any::<u8>(), replace in any::<bool>()) {
                let mut line = template(new).as_bytes().to_vec();
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
                samples in proptest::collection::vec(prop_oneof![
                    -1e300f64..1e300,
                    -10f64..10.0,
                    any::<f64>().prop_filter("finite", |s| s.is_finite()),
                ], 0..4),
                exit in proptest::option::of(any::<i32>()),
                branch in proptest::option::of("[a-z/é\"\\\\-]{0,12}"),
                summary in "\\PC{0,30}",
                metrics in proptest::collection::btree_map("[a-z_]{1,8}", -1e9f64..1e9, 0..3),
                code in proptest::option::of("[0-9a-fé\"\\\\/]{0,16}"),
                setup in proptest::option::of("[0-9a-f]{0,16}"),
                flags in proptest::sample::subsequence(vec!["suspicious_jump", "simplification", "simplification "], 0..=3),
            ) {
                let mut r = Record::blank(run, Status::Kept, metric);
                r.samples = samples;
                r.exit_code = exit;
                r.branch = branch;
                r.summary = summary;
                r.metrics = metrics;
                r.flags = flags.into_iter().map(String::from).collect();
                r.code = code;
                r.setup = setup;
                let line = serde_json::to_vec(&r).unwrap();
                prop_assert!(check(&line).is_ok(), "{}", check(&line).unwrap_err());
                let plain = |s: &Option<String>| s.as_deref().is_none_or(|b| !b.contains(['"', '\\']));
                if plain(&r.branch) && plain(&r.code) && !line.windows(2).any(|w| w == b"\\u") {
                    prop_assert!(scan(&line).is_some(), "{}", String::from_utf8_lossy(&line));
                }
            }
        }
    }
}
