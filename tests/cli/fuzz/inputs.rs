//! The inputs the properties in `fuzz` feed the readers, near-valid and arbitrary: characters
//! and text that break readers, config documents and ledger lines. Each is a function of the
//! random source (see `draw`).

use autoresearch::config;
use autoresearch::ledger::{Record, Status};
use proptest::prelude::*;
use proptest::test_runner::TestRng;

use super::draw::Bytes;

pub fn pick<T: Copy>(rng: &mut TestRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Characters that break readers: NUL and other controls, line breaks, escapes and their 8-bit
/// forms, quotes, bidi controls, a BOM, multi-byte text; mostly printable ASCII.
pub fn tricky_char(rng: &mut TestRng) -> char {
    match rng.random_range(0..11) {
        0..8 => char::from(rng.random_range(0x20u8..0x7f)),
        8 | 9 => pick(
            rng,
            &[
                '\0', '\t', '\n', '\r', '\u{7}', '\u{8}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}',
                '\u{9c}', '\u{9d}', '\u{202e}', '\u{2066}', '\u{feff}', '"', '\'', '\\', '{', '}',
                '[', ']', '=', ':', ',', '#', 'é', '😀',
            ],
        ),
        _ => rng.random(),
    }
}

pub fn tricky_text(rng: &mut TestRng, max: usize) -> String {
    let n = rng.random_range(0..=max);
    (0..n).map(|_| tricky_char(rng)).collect()
}

/// Text glued from `pieces` and tricky characters: near the edges of a rule.
pub fn glued(rng: &mut TestRng, pieces: &[&str], max: usize) -> String {
    let n = rng.random_range(1..=max);
    let mut out = String::new();
    for _ in 0..n {
        match rng.random_range(0..6) {
            0..4 => out.push_str(pick(rng, pieces)),
            4 => out.push(tricky_char(rng)),
            _ => out.push_str(&"x".repeat(rng.random_range(0..120))),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// autoresearch.toml

/// `s` as a TOML string in one of its spellings (basic, literal, multi-line basic or literal;
/// escapes as `\uXXXX`, `\UXXXXXXXX`, the short forms or raw tabs). A spelling that cannot
/// hold `s` falls back to a basic string.
pub fn toml_str(rng: &mut TestRng, s: &str) -> String {
    let style: u8 = rng.random();
    let raw_ok = |c: char, lines: bool| !c.is_control() || c == '\t' || (lines && c == '\n');
    match style % 4 {
        1 if !s.contains('\'') && s.chars().all(|c| raw_ok(c, false)) => format!("'{s}'"),
        2 if !s.contains("''") && !s.ends_with('\'') && s.chars().all(|c| raw_ok(c, true)) => {
            format!("'''{s}'''")
        }
        3 => format!("\"\"\"{}\"\"\"", escape(s, style, true)),
        _ => format!("\"{}\"", escape(s, style, false)),
    }
}

fn escape(s: &str, style: u8, lines: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' if lines => out.push('\n'),
            '\t' if style & 8 != 0 => out.push('\t'),
            '\u{8}' | '\t' | '\n' | '\u{c}' | '\r' | '\u{1b}' if style & 16 != 0 => {
                out.push_str(match c {
                    '\u{8}' => "\\b",
                    '\t' => "\\t",
                    '\n' => "\\n",
                    '\u{c}' => "\\f",
                    '\r' => "\\r",
                    _ => "\\e",
                })
            }
            c if c.is_control() && style & 4 != 0 => {
                out.push_str(&format!("\\U{:08X}", u32::from(c)))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Any TOML value, nested up to `depth`: the wrong type for most keys.
pub fn any_value(rng: &mut TestRng, depth: u32) -> String {
    match rng.random_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => {
            let s = tricky_text(rng, 12);
            toml_str(rng, &s)
        }
        1 => rng.random::<i64>().to_string(),
        2 => pick(
            rng,
            &["0x7f", "0o17", "0b101", "1_000", "+5", "-0", "1e400", "07"],
        )
        .into(),
        3 => {
            let f = f64::from_bits(rng.random());
            match f {
                f if f.is_nan() => "nan".into(),
                f if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
                f => format!("{f:?}"),
            }
        }
        4 => rng.random::<bool>().to_string(),
        5 => "1979-05-27T07:32:00Z".into(),
        6 => {
            let items: Vec<String> = (0..rng.random_range(0..4))
                .map(|_| any_value(rng, depth - 1))
                .collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let items: Vec<String> = (0..rng.random_range(0..3))
                .map(|i| format!("k{i} = {}", any_value(rng, depth - 1)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

const PATHS: &[&str] = &[
    "train.py", "./", "../", "/", "a", ".", "..", "//", "dir/", " ", "~", "\0",
];
const BRANCHES: &[&str] = &[
    "autoresearch",
    "a",
    "/",
    ".",
    "..",
    "-",
    "@",
    "{",
    "@{",
    ".lock",
    "HEAD",
    "refs/",
    "~",
    "^",
    ":",
    "?",
    "*",
    "[",
    "\\",
    " ",
    "ü",
    "-fork-",
    "\0",
    "\u{1b}",
];
const DURATIONS: &[&str] = &[
    "5", "m", "1h", "30m", "250ms", "1.5", "s", "0", "-", "e400", ".", " ",
];
const CONSTRAINT_PARTS: &[&str] = &[
    "mem", "_x", "a/b", " ", "<=", "<", ">=", ">", "==", "=", "1", "-2.5", "1e400", "nan", "%",
];
const NAME_START: &[u8] = b"abcxyz_";
const NAME_REST: &[u8] = b"abcxyz019_./-";

/// A metric name: `[a-z_][a-z0-9_./-]{0,max}` from a few letters, so names collide.
pub fn metric_name(rng: &mut TestRng, max: usize) -> String {
    let mut s = String::from(char::from(pick(rng, NAME_START)));
    for _ in 0..rng.random_range(0..=max) {
        s.push(char::from(pick(rng, NAME_REST)));
    }
    s
}

/// A value for `key`: usually one a user could mean, sometimes of another type.
fn value_for(rng: &mut TestRng, key: &str) -> String {
    if rng.random_ratio(1, 6) {
        return any_value(rng, 2);
    }
    let text = match key {
        "target_file" | "protected" if rng.random() => {
            let items: Vec<String> = (0..rng.random_range(0..4))
                .map(|_| {
                    let p = glued(rng, PATHS, 4);
                    toml_str(rng, &p)
                })
                .collect();
            return format!("[{}]", items.join(", "));
        }
        "target_file" | "protected" => glued(rng, PATHS, 4),
        "eval_command" if rng.random() => "python3 train.py".into(),
        "eval_command" => tricky_text(rng, 24),
        "metric_name" if rng.random() => metric_name(rng, 8),
        "metric_name" => tricky_text(rng, 8),
        "metric_direction" => glued(rng, &["lower", "higher", "Lower", " "], 2),
        "time_budget" | "kill_grace" => match rng.random_range(0..3) {
            0 => glued(rng, DURATIONS, 4),
            1 => return rng.random::<i64>().to_string(),
            _ => return format!("{:?}", rng.random_range(0.0f64..2e9)),
        },
        "branch" => glued(rng, BRANCHES, 6),
        "constraints" => {
            let items: Vec<String> = (0..rng.random_range(0..3))
                .map(|_| {
                    let c = glued(rng, CONSTRAINT_PARTS, 6);
                    toml_str(rng, &c)
                })
                .collect();
            return format!("[{}]", items.join(", "));
        }
        "repeats" => return rng.random_range(-2i64..1003).to_string(),
        _ if rng.random() => return format!("{:?}", rng.random_range(-1.0f64..10.0)),
        _ => glued(rng, &["0.5", "%", "-", "1e400", " ", "abc"], 3),
    };
    toml_str(rng, &text)
}

/// The value a key has in a config that loads in the sandbox.
fn valid_value(key: &str) -> &'static str {
    match key {
        "target_file" => "\"train.py\"",
        "eval_command" => "\"sh eval.sh\"",
        "metric_name" => "\"score\"",
        "metric_direction" => "\"lower\"",
        "time_budget" => "\"10s\"",
        "branch" => "\"autoresearch\"",
        "repeats" => "1",
        "min_improvement" => "0",
        "kill_grace" => "\"5s\"",
        _ => "[]",
    }
}

/// The lines of a config: each known key present or not (required ones nearly always), its
/// value valid or, `fuzz` times out of 10, fuzzed; unknown keys and a table among them; in any
/// order; sometimes one character inserted or deleted.
pub fn config_lines(rng: &mut TestRng, fuzz: u32) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, _) in config::KEYS {
        let present = if config::REQUIRED.contains(key) {
            39
        } else {
            20
        };
        if rng.random_ratio(present, 40) {
            let value = if rng.random_ratio(fuzz, 10) {
                value_for(rng, key)
            } else {
                valid_value(key).to_string()
            };
            lines.push(format!("{key} = {value}"));
        }
    }
    let extra = if rng.random_ratio(1, 3) {
        rng.random_range(1..3)
    } else {
        0
    };
    for _ in 0..extra {
        lines.push(match rng.random_range(0..4) {
            0 => {
                let k = tricky_text(rng, 6);
                format!("{} = {}", toml_str(rng, &k), any_value(rng, 2))
            }
            1 => format!(
                "{} = {}",
                metric_name(rng, 6).replace(['.', '/'], "_"),
                any_value(rng, 2)
            ),
            2 => "[table]".into(),
            _ => "branch = \"again\"".into(),
        });
    }
    // Shuffle: a key's place must not matter.
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.random_range(0..=i));
    }
    if !lines.is_empty() && rng.random_ratio(1, 8) {
        let line = rng.random_range(0..lines.len());
        let mut at = rng.random_range(0..=lines[line].len());
        while !lines[line].is_char_boundary(at) {
            at -= 1;
        }
        if rng.random() {
            lines[line].insert(at, tricky_char(rng));
        } else if at < lines[line].len() {
            lines[line].remove(at);
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// experiments.jsonl

const STATUSES: &[Status] = &[
    Status::Baseline,
    Status::Kept,
    Status::Discarded,
    Status::Crash,
    Status::Timeout,
];

fn any_f64(rng: &mut TestRng) -> f64 {
    match rng.random_range(0..4) {
        0 => f64::from_bits(rng.random()),
        1 => f64::from(rng.random_range(-3i8..3)),
        _ => rng.random_range(-10.0..10.0),
    }
}

/// A record as our writer writes it: the line the fast scanner reads.
fn written_record(rng: &mut TestRng) -> Vec<u8> {
    let run = if rng.random_ratio(1, 10) {
        rng.random()
    } else {
        rng.random_range(0..40)
    };
    let rec = Record {
        run,
        id: format!("id-{run}"),
        timestamp: "2026-01-01T00:00:00.000Z".into(),
        status: pick(rng, STATUSES),
        metric: (!rng.random_ratio(1, 10)).then(|| any_f64(rng)),
        metrics: (0..rng.random_range(0..3))
            .map(|_| (metric_name(rng, 3), any_f64(rng)))
            .collect(),
        samples: (0..rng.random_range(0..3)).map(|_| any_f64(rng)).collect(),
        delta: rng.random::<bool>().then(|| any_f64(rng)),
        summary: tricky_text(rng, 12),
        commit: Some("0".repeat(40)),
        parent: None,
        branch: match rng.random_range(0..7) {
            0 => None,
            1 => Some("autoresearch-fork-a".into()),
            2 => Some("other".into()),
            3 => Some(String::new()),
            4 => Some(tricky_text(rng, 4)),
            _ => Some("autoresearch".into()),
        },
        duration_s: Some(1.5),
        exit_code: rng.random::<bool>().then(|| rng.random()),
        reason: None,
        flags: Vec::new(),
        source: "run".into(),
        code: None,
        setup: None,
        hardware: rng.random_ratio(1, 4).then(|| "a100-80g".into()),
        worker: rng.random_ratio(1, 4).then(|| "gpu-03-ab12".into()),
        worker_run: rng.random_ratio(1, 5).then(|| rng.random_range(0..1000)),
        clock: rng
            .random_ratio(1, 3)
            .then(|| rng.random_range(1..1_000_000)),
        retracts: None,
        imported: None,
    };
    serde_json::to_vec(&rec).unwrap_or_default()
}

/// A record another tool (or a hand) wrote: aliases, odd numbers, wrong types, repeated keys,
/// deep nesting, whitespace.
fn odd_record(rng: &mut TestRng) -> Vec<u8> {
    const KEYS: &[&str] = &[
        "run",
        "run",
        "status",
        "status",
        "metric",
        "value",
        "score",
        "metrics",
        "samples",
        "delta",
        "summary",
        "description",
        "hash",
        "commit",
        "branch",
        "timestamp",
        "time",
        "exit_code",
        "flags",
        "source",
        "duration_s",
        "other",
    ];
    const VALUES: &[&str] = &[
        "0",
        "1",
        "-1",
        "1.5",
        "1e400",
        "-1e400",
        "1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "-0",
        "null",
        "true",
        "[]",
        "{}",
        "\"kept\"",
        "\"keep\"",
        "\"baseline\"",
        "\"discard\"",
        "\"crash\"",
        "\"x\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "[1, null, \"x\"]",
        "{\"a\": 1, \"b\": 1e400}",
        "9223372036854775807",
        "-9223372036854775808",
        "1773348490227",
        "1e19",
        "0.1e1",
        "1E2",
        "01",
    ];
    let ws = pick(rng, &["", " ", "\t"]);
    let fields: Vec<String> = (0..rng.random_range(0..8))
        .map(|_| {
            let value = match rng.random_range(0..6) {
                0..3 => pick(rng, VALUES).to_string(),
                3 => {
                    let n = rng.random_range(1..200);
                    format!("{}{}", "[".repeat(n), "]".repeat(n))
                }
                4 => format!("{:?}", any_f64(rng)),
                _ => serde_json::to_string(&tricky_text(rng, 8)).unwrap_or_default(),
            };
            format!("\"{}\":{ws}{value}", pick(rng, KEYS))
        })
        .collect();
    format!("{{{ws}{}{ws}}}", fields.join(&format!(",{ws}"))).into_bytes()
}

/// One line of a ledger with its line break (`\n` or `\r\n`), sometimes damaged: a byte set,
/// inserted or removed, or the line cut (a torn write).
pub fn ledger_line(rng: &mut TestRng) -> Bytes {
    let mut line = match rng.random_range(0..11) {
        0..6 => written_record(rng),
        6..9 => odd_record(rng),
        9 => tricky_text(rng, 40).into_bytes(),
        _ => pick(rng, &["", " ", "\r", "\u{feff}", "{}", "[]", "null"]).into(),
    };
    line.extend_from_slice(pick(rng, &[&b"\n"[..], b"\n", b"\n", b"\r\n"]));
    if rng.random_ratio(1, 8) {
        const BYTES: &[u8] = b"\n\r{}[]\":,\\0-e. \xef\xbb\xbf\xff\x00";
        let at = rng.random_range(0..=line.len());
        match rng.random_range(0..4) {
            0 if at < line.len() => line[at] = pick(rng, BYTES),
            1 => line.insert(at, pick(rng, BYTES)),
            2 if at < line.len() => {
                line.remove(at);
            }
            _ => line.truncate(at),
        }
    }
    Bytes(line)
}

pub fn byte(rng: &mut TestRng) -> u8 {
    rng.random()
}
