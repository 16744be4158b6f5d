//! `autoresearch.toml` (docs/CONTRACT.md §4): a typed read with every value validated, each error
//! naming the file, line and column and saying what is allowed. Unknown keys are warnings, so a
//! config written by a newer version still loads.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use toml::de::{DeTable, DeValue};

use crate::error::{AppError, Code, Result};

pub const FILE_NAME: &str = "autoresearch.toml";
const MAX_BYTES: u64 = 1 << 20;

/// The keys a config must have.
pub const REQUIRED: &[&str] = &[
    "target_file",
    "eval_command",
    "metric_name",
    "metric_direction",
];

/// Every key this version understands, in the order the commented template writes them.
pub const KEYS: &[(&str, &str)] = &[
    (
        "target_file",
        "the file the agent may change; or a list of repo-relative paths, directories (`src/solver/`) or globs (`heuristics/*.py`)",
    ),
    (
        "eval_command",
        "run with `sh -c` at the project root; prints the metric",
    ),
    ("metric_name", "the name the eval prints before the metric"),
    ("metric_direction", "\"lower\" or \"higher\" is better"),
    (
        "time_budget",
        "per evaluation: 250ms, 30s, 5m, 1h30m; a bare number is seconds (default 5m)",
    ),
    (
        "branch",
        "experiments happen on this branch and its forks (default \"autoresearch\")",
    ),
    (
        "protected",
        "files an experiment may not change (list of repo-relative paths)",
    ),
    (
        "constraints",
        "secondary metrics that must hold, e.g. [\"memory_gb <= 44\"]",
    ),
    (
        "metrics",
        "secondary metrics to record for every run, e.g. [\"accuracy\", \"memory_gb\"]",
    ),
    (
        "repeats",
        "evaluations per experiment, or \"auto\": until the change is hopeless or has max_repeats samples (default \"auto\"); the metric is their median",
    ),
    (
        "max_repeats",
        "the most evaluations \"auto\" makes for one experiment (default 5)",
    ),
    (
        "baseline_repeats",
        "evaluations of a baseline, so the noise is known from the start (default 3; 2 when time_budget is over 10m)",
    ),
    (
        "min_improvement",
        "needed over the best to keep: a number, or a string like \"0.5%\" (default 0)",
    ),
    (
        "confidence",
        "how sure a keep must be that the gain is more than noise, from 0.5 to 0.999 (default 0.95)",
    ),
    (
        "kill_grace",
        "time between SIGTERM and SIGKILL for the eval's process group (default 5s)",
    ),
    (
        "cancel_command",
        "run with `sh -c` at the project root after an eval timed out or was interrupted, with the eval's environment: stops what the eval started elsewhere, e.g. \"scancel --name=ar-$AUTORESEARCH_ID\" (default: none)",
    ),
    (
        "cancel_timeout",
        "how long `cancel_command` may take before it is stopped (default 30s)",
    ),
    (
        "hardware",
        "the class of machine the eval measures on, e.g. \"a100-80g\" (letters, digits, `.`, `_`, `-`; at most 64): recorded on every run, and runs are compared only within one class; `AUTORESEARCH_HARDWARE` overrides it (default: none)",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Lower,
    Higher,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "lower" => Some(Direction::Lower),
            "higher" => Some(Direction::Higher),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Lower => "lower",
            Direction::Higher => "higher",
        }
    }

    /// Is `a` strictly better than `b`? A tie is not better.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Lower => a < b,
            Direction::Higher => a > b,
        }
    }

    /// The gain of `new` over `old` in the good direction (positive = better).
    pub fn gain(self, new: f64, old: f64) -> f64 {
        match self {
            Direction::Lower => old - new,
            Direction::Higher => new - old,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Le => value <= limit,
            Op::Lt => value < limit,
            Op::Ge => value >= limit,
            Op::Gt => value > limit,
            Op::Eq => value == limit,
        }
    }
}

/// `memory_gb <= 44`: a secondary metric read with the metric grammar, and its bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    pub metric: String,
    pub op: Op,
    pub value: f64,
    /// The text as written, used in `reason` (`constraint memory_gb <= 44`).
    pub text: String,
}

impl Constraint {
    pub fn parse(text: &str) -> std::result::Result<Constraint, String> {
        let t = text.trim();
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let Some((pos, sym, op)) = ops
            .iter()
            .filter_map(|(sym, op)| t.find(sym).map(|p| (p, *sym, *op)))
            .min_by_key(|(p, sym, _)| (*p, std::cmp::Reverse(sym.len())))
        else {
            return Err(format!(
                "constraint `{t}` has no comparison; write `<metric> <op> <number>` with <=, <, >=, > or =="
            ));
        };
        let name = t[..pos].trim();
        let number = t[pos + sym.len()..].trim();
        if !valid_metric_name(name) {
            return Err(format!(
                "constraint `{t}` names `{name}`, which is not a metric name (letters, digits, `_`, `.`, `-`, `/`; starting with a letter or `_`)"
            ));
        }
        let value = match crate::metric::parse_number(number) {
            Some(Ok(v)) => v,
            _ => {
                return Err(format!(
                    "constraint `{t}` compares with `{number}`, which is not a finite number"
                ));
            }
        };
        Ok(Constraint {
            metric: name.to_string(),
            op,
            value,
            text: format!("{name} {sym} {number}"),
        })
    }
}

/// The margin a new result needs over the best to be kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinImprovement {
    Absolute(f64),
    Percent(f64),
}

impl MinImprovement {
    /// The margin in metric units, given the current best.
    pub fn margin(self, best: f64) -> f64 {
        match self {
            MinImprovement::Absolute(v) => v,
            MinImprovement::Percent(p) => best.abs() * p / 100.0,
        }
    }

    pub fn parse(s: &str) -> Option<MinImprovement> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            match crate::metric::parse_number(p) {
                Some(Ok(v)) if v >= 0.0 => Some(MinImprovement::Percent(v)),
                _ => None,
            }
        } else {
            match crate::metric::parse_number(s) {
                Some(Ok(v)) if v >= 0.0 => Some(MinImprovement::Absolute(v)),
                _ => None,
            }
        }
    }
}

impl Serialize for MinImprovement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            MinImprovement::Absolute(v) => s.serialize_f64(*v),
            MinImprovement::Percent(p) => s.serialize_str(&format!("{p}%")),
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub target_files: Vec<String>,
    pub eval_command: String,
    pub metric_name: String,
    pub metric_direction: Direction,
    #[serde(serialize_with = "ser_secs")]
    pub time_budget: Duration,
    pub branch: String,
    pub protected: Vec<String>,
    pub constraints: Vec<Constraint>,
    /// Secondary metrics recorded for every run (constraint metrics are recorded anyway).
    pub metrics: Vec<String>,
    pub repeats: Repeats,
    pub max_repeats: u32,
    pub baseline_repeats: u32,
    pub min_improvement: MinImprovement,
    pub confidence: f64,
    #[serde(serialize_with = "ser_secs")]
    pub kill_grace: Duration,
    /// Run after an eval that timed out or was interrupted (a remote job's cancel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_command: Option<String>,
    #[serde(
        serialize_with = "ser_secs",
        skip_serializing_if = "is_default_cancel_timeout"
    )]
    pub cancel_timeout: Duration,
    /// The hardware class runs are measured on: `AUTORESEARCH_HARDWARE`, else the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
}

fn is_default_cancel_timeout(d: &Duration) -> bool {
    *d == DEFAULT_CANCEL_TIMEOUT
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

pub const DEFAULT_BUDGET: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_REPEATS: u32 = 5;
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// How many evaluations an experiment gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeats {
    /// Exactly this many.
    Fixed(u32),
    /// Until the decision is clear, at most `max_repeats` (docs/CONTRACT.md §7).
    Auto,
}

impl Repeats {
    /// `auto` or a whole number from 1 to 1000, as `--repeat` takes it.
    pub fn parse(s: &str) -> Option<Repeats> {
        match s.trim() {
            "auto" => Some(Repeats::Auto),
            n => n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .map(Repeats::Fixed),
        }
    }
}

impl Serialize for Repeats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Repeats::Fixed(n) => s.serialize_u32(*n),
            Repeats::Auto => s.serialize_str("auto"),
        }
    }
}

/// Baselines get 3 evaluations, or 2 when one takes over this long.
const LONG_BUDGET: Duration = Duration::from_secs(600);

/// The default `baseline_repeats` for a time budget.
pub fn default_baseline_repeats(budget: Duration) -> u32 {
    if budget > LONG_BUDGET { 2 } else { 3 }
}
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
pub const DEFAULT_CANCEL_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that sets the hardware class on one machine, over the config's
/// `hardware` (the config is committed and shared by every machine; the variable is not).
pub const HARDWARE_VAR: &str = "AUTORESEARCH_HARDWARE";

/// What the config reads from the environment, for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[(
    HARDWARE_VAR,
    "this machine's hardware class: replaces `hardware` in `autoresearch.toml` (an invalid value is `config_invalid`)",
)];

/// Why `class` cannot be a hardware class, or `None` when it can: 1 to 64 characters among
/// letters, digits, `.`, `_` and `-` (it is shown in reports and compared byte for byte).
pub fn hardware_problem(class: &str) -> Option<String> {
    if class.is_empty() {
        return Some("is empty".to_string());
    }
    if class.len() > 64 {
        return Some(format!(
            "is {} bytes long; at most 64 are allowed",
            class.len()
        ));
    }
    let c = class
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))?;
    Some(format!(
        "contains `{}`; use letters, digits, `.`, `_` and `-` (like `a100-80g`)",
        c.escape_debug()
    ))
}
pub const DEFAULT_BRANCH: &str = "autoresearch";

/// Metric names: a letter or `_` first, then letters, digits, `_`, `.`, `-` or `/`; at most 64.
/// (The metric grammar treats all of these as name characters, so `eval/loss` never matches
/// `loss`.)
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

/// The longest `branch`, in bytes (docs/CONTRACT.md §4).
pub const MAX_BRANCH: usize = 200;

/// The longest last `/`-part of `branch`. Git keeps a branch as a file named by that part, and
/// locks it as `<part>.lock`; a fork, `<branch>-fork-<name>` with a name of up to 50 bytes
/// (`names::valid_name`), must still fit in a file name (255 bytes on Linux and macOS).
pub const MAX_BRANCH_LAST_PART: usize = 255 - "-fork-".len() - 50 - ".lock".len();

/// A branch name git accepts that cannot be mistaken for a flag.
pub fn valid_branch_name(name: &str) -> bool {
    branch_name_problem(name).is_none()
}

/// Why `name` cannot be the experiment branch, or `None` when it can. The rules are those of
/// `git check-ref-format --branch` (refs.c: `check_refname_component`), checked here rather
/// than left to libgit2 because libgit2 accepts `HEAD` and `refs/...` as branch names and
/// panics on a NUL; plus our own: no leading `-` (it reads as an option in any git command a
/// user copies from a message), no `refs/` prefix, and room for the fork suffix.
pub fn branch_name_problem(name: &str) -> Option<String> {
    const GIT_REFUSES: &[char] = &[' ', '~', '^', ':', '?', '*', '[', '\\'];
    let last_part = name.rsplit('/').next().unwrap_or(name);
    let problem = if name.is_empty() {
        "is empty".to_string()
    } else if name.starts_with('-') {
        "starts with `-`, which reads as an option".to_string()
    } else if name == "HEAD" || name == "@" {
        format!("is `{name}`, which git reads as the current commit, not a branch")
    } else if name.starts_with("refs/") {
        "starts with `refs/`; write the branch name alone (`autoresearch`, not `refs/heads/autoresearch`)".to_string()
    } else if name.len() > MAX_BRANCH {
        format!(
            "is {} bytes long; at most {MAX_BRANCH} are allowed",
            name.len()
        )
    } else if let Some(c) = name.chars().find(|c| forbidden_char(*c, false)) {
        format!("contains {}", describe_char(c))
    } else if let Some(c) = name.chars().find(|c| GIT_REFUSES.contains(c)) {
        format!("contains `{c}`, which git refuses in a branch name")
    } else if let Some(seq) = ["..", "@{", "//"].into_iter().find(|s| name.contains(s)) {
        format!("contains `{seq}`, which git refuses in a branch name")
    } else if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') {
        "starts or ends with `/`, or ends with `.`; git refuses that".to_string()
    } else if name
        .split('/')
        .any(|p| p.starts_with('.') || p.ends_with(".lock"))
    {
        "has a `/`-part that starts with `.` or ends with `.lock`; git refuses that".to_string()
    } else if last_part.len() > MAX_BRANCH_LAST_PART {
        format!(
            "ends in a part of {} bytes; at most {MAX_BRANCH_LAST_PART} leave room for a fork `-fork-<name>` in a file name",
            last_part.len()
        )
    } else if !git2::Reference::is_valid_name(&format!("refs/heads/{name}")) {
        // Not reached by any name we know of: a net for a rule libgit2 has and we lack. The
        // NUL check above runs first, so this call cannot panic.
        "is not a name git accepts for a branch".to_string()
    } else {
        return None;
    };
    Some(problem)
}

/// Why `command` cannot be the `eval_command`, or `None` when it can: the config's rule, for
/// `init --eval-command`, which must refuse up front what the config it writes would refuse.
pub fn eval_command_problem(command: &str) -> Option<String> {
    let command = command.replace("\r\n", "\n");
    if command.trim().is_empty() {
        return Some("is empty".to_string());
    }
    let c = command.chars().find(|c| forbidden_char(*c, true))?;
    Some(format!(
        "contains {}; only tabs and line breaks may appear in a command",
        describe_char(c)
    ))
}

/// Characters a config string may not hold: control characters (`sh -c` and git take their
/// arguments as C strings, so a NUL cannot even be passed; the others are invisible in a
/// terminal, or rewrite it, and no path or name needs them) and the bidirectional overrides
/// and isolates, which make text display in another order than it runs. `multiline`: a shell
/// command may hold tabs and line breaks (a script of several lines).
fn forbidden_char(c: char, multiline: bool) -> bool {
    if multiline && matches!(c, '\t' | '\n') {
        return false;
    }
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `a NUL byte (U+0000)`, `the control character U+001B`: a character the reader cannot see.
fn describe_char(c: char) -> String {
    let code = format!("U+{:04X}", u32::from(c));
    match c {
        '\0' => format!("a NUL byte ({code})"),
        '\r' => format!("a carriage return ({code}) that does not end a line"),
        c if c.is_control() => format!("the control character {code}"),
        _ => format!("the bidirectional control {code}"),
    }
}

/// `text` with control characters (and bidi controls) written as Rust escapes (`\0`,
/// `\u{1b}`), for messages: a config value echoed into an error must not reach a terminal raw.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if forbidden_char(c, false) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// `250ms`, `30s`, `5m`, `1h30m`, `1.5s`, or a bare number of seconds. Must be positive.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    // "Above 0" is about the Duration, not the float: `1e-10` seconds rounds to 0 ns, an
    // eval budget no eval can meet (and a kill grace that is none).
    let positive = |secs: f64| {
        Some(secs)
            .filter(|s| *s > 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
            .filter(|d| !d.is_zero())
    };
    if let Some(Ok(secs)) = crate::metric::parse_number(s) {
        return positive(secs);
    }
    let mut total = 0f64;
    let mut rest = s;
    let mut last_unit_rank = usize::MAX;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let units = [
            ("ms", 0.001, 0),
            ("h", 3600.0, 3),
            ("m", 60.0, 2),
            ("s", 1.0, 1),
        ];
        let (unit, factor, rank) = units.iter().find(|(u, _, _)| rest.starts_with(u))?;
        // Units go from large to small, each at most once: `1h30m`, never `30m1h`.
        if *rank >= last_unit_rank {
            return None;
        }
        last_unit_rank = *rank;
        rest = &rest[unit.len()..];
        total += value * factor;
    }
    positive(total)
}

/// Byte offset → 1-based (line, column).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // A span from the TOML parser could end inside a character; slicing there would panic.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |p| before[p + 1..].chars().count())
        + 1;
    (line, col)
}

/// A value with its place in the file.
type Value<'i> = toml::Spanned<DeValue<'i>>;

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
}

impl Reader<'_> {
    fn err(&self, span: std::ops::Range<usize>, msg: impl std::fmt::Display) -> AppError {
        let (line, col) = line_col(self.text, span.start);
        AppError::new(
            Code::ConfigInvalid,
            format!("{}:{line}:{col}: {}", self.file, shown(&msg.to_string())),
            format!(
                "Edit `{}` at line {line}, column {col}, then run `autoresearch doctor --no-eval`.",
                self.file
            ),
        )
    }

    fn string(&self, v: &toml::Spanned<DeValue>, key: &str) -> Result<String> {
        match v.get_ref() {
            DeValue::String(s) => self.checked(v, key, s.to_string(), false),
            other => Err(self.err(
                v.span(),
                format!("`{key}` must be a string, found {}", other.type_str()),
            )),
        }
    }

    /// `s`, the string value `v`, refused when it holds a character no config string may
    /// (`forbidden_char`), with the position of that character in the file.
    fn checked(&self, v: &Value, key: &str, s: String, multiline: bool) -> Result<String> {
        let Some(c) = s.chars().find(|c| forbidden_char(*c, multiline)) else {
            return Ok(s);
        };
        let at = self.source_of_char(v.span(), multiline).unwrap_or(v.span());
        let allowed = if multiline {
            "only tabs and line breaks may appear in a command"
        } else {
            "control characters are not allowed here"
        };
        Err(self.err(
            at,
            format!("`{key}` contains {}; {allowed}", describe_char(c)),
        ))
    }

    /// Where, inside the TOML string at `span`, the first forbidden character is written: as
    /// itself, or as an escape (`\u0000`, `\e`, `\b`...). `None` when it cannot be found,
    /// and then the caller points at the string.
    fn source_of_char(
        &self,
        span: std::ops::Range<usize>,
        multiline: bool,
    ) -> Option<std::ops::Range<usize>> {
        let raw = self.text.get(span.clone())?;
        // Escapes exist only in basic strings (`"..."`, `"""..."""`), not literal ones.
        let escapes = raw.starts_with('"');
        let mut it = raw.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let decoded = if c == '\\' && escapes {
                match it.next() {
                    Some((_, 'u')) => hex_escape(&mut it, 4),
                    Some((_, 'U')) => hex_escape(&mut it, 8),
                    Some((_, 'x')) => hex_escape(&mut it, 2),
                    Some((_, 'b')) => Some('\u{8}'),
                    Some((_, 'f')) => Some('\u{c}'),
                    Some((_, 'e')) => Some('\u{1b}'),
                    Some((_, 'r')) => Some('\r'),
                    Some((_, 't')) => Some('\t'),
                    Some((_, 'n')) => Some('\n'),
                    _ => None,
                }
            } else if c == '\r' && multiline && it.peek().is_some_and(|(_, n)| *n == '\n') {
                // A CRLF line ending inside a multi-line command is read as `\n`.
                None
            } else {
                Some(c)
            };
            if decoded.is_some_and(|d| forbidden_char(d, multiline)) {
                return Some(span.start + i..span.start + i + 1);
            }
        }
        None
    }

    fn string_list(&self, v: &toml::Spanned<DeValue>, key: &str) -> Result<Vec<String>> {
        match v.get_ref() {
            DeValue::String(s) => Ok(vec![self.checked(v, key, s.to_string(), false)?]),
            DeValue::Array(items) => items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => self.checked(item, key, s.to_string(), false),
                    other => Err(self.err(
                        item.span(),
                        format!(
                            "`{key}` entries must be strings, found {}",
                            other.type_str()
                        ),
                    )),
                })
                .collect(),
            other => Err(self.err(
                v.span(),
                format!(
                    "`{key}` must be a string or a list of strings, found {}",
                    other.type_str()
                ),
            )),
        }
    }

    fn duration(&self, v: &toml::Spanned<DeValue>, key: &str) -> Result<Duration> {
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.as_str().replace('_', ""),
            DeValue::Float(f) => f.as_str().replace('_', ""),
            other => {
                return Err(self.err(
                    v.span(),
                    format!("`{key}` must be a duration, found {}", other.type_str()),
                ));
            }
        };
        parse_duration(&text).ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "`{key}` = `{text}` is not a positive duration; use e.g. \"250ms\", \"30s\", \"5m\", \"1h30m\" or a number of seconds"
                ),
            )
        })
    }

    /// Warnings for the keys this version does not know (a newer config still loads).
    fn unknown_keys(&self, table: &DeTable) -> Vec<String> {
        let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
        table
            .iter()
            .filter(|(k, _)| !known.contains(&k.get_ref().as_ref()))
            .map(|(k, _)| {
                let (line, col) = line_col(self.text, k.span().start);
                format!(
                    "{}:{line}:{col}: unknown key `{}` is ignored (known keys: {})",
                    self.file,
                    shown(k.get_ref()),
                    known.join(", ")
                )
            })
            .collect()
    }

    /// A repo-relative path inside the root, for `key`.
    fn rel_path(&self, v: &Value, key: &str, p: &str) -> Result<String> {
        normalize_rel_path(p).ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "`{key}` entry `{p}` must be a path relative to the project root, inside it (no leading `/`, no `..`, no spaces around a `/`-part)"
                ),
            )
        })
    }

    fn target_files(&self, v: &Value) -> Result<Vec<String>> {
        let list = self.string_list(v, "target_file")?;
        if list.is_empty() {
            return Err(self.err(v.span(), "`target_file` must name at least one file"));
        }
        let mut out = Vec::new();
        for p in list {
            let mut norm = self.rel_path(v, "target_file", &p)?;
            if p.trim().ends_with('/') {
                norm.push('/');
            }
            if norm.ends_with('/') && is_glob(&norm) {
                return Err(self.err(
                    v.span(),
                    format!("`target_file` entry `{norm}` is a directory with `*`, `?` or `[` in it; write the glob of its files instead (e.g. `{}**`)", norm),
                ));
            }
            if is_glob(&norm) && target_glob(&norm).is_none() {
                return Err(self.err(
                    v.span(),
                    format!("`target_file` entry `{norm}` is not a valid glob (`*`, `?`, `[abc]`, `**/`)"),
                ));
            }
            if let Some(hit) = STATE_SAMPLES.iter().find(|s| target_matches(&norm, s)) {
                return Err(self.err(
                    v.span(),
                    format!(
                        "`target_file` entry `{norm}` covers `{hit}`, which autoresearch owns; name the code's own directory or a narrower glob (e.g. `src/*.py`)"
                    ),
                ));
            }
            if !out.contains(&norm) {
                out.push(norm);
            }
        }
        Ok(out)
    }

    fn eval_command(&self, v: &Value) -> Result<String> {
        let DeValue::String(s) = v.get_ref() else {
            return self.string(v, "eval_command");
        };
        // A multi-line command in a file saved with CRLF endings keeps the `\r`s (TOML leaves
        // newline normalisation to the parser); `sh` would read each as part of a word
        // (`train.py\r`), so a CRLF is a line break here like anywhere else.
        let s = self.checked(v, "eval_command", s.replace("\r\n", "\n"), true)?;
        if s.trim().is_empty() {
            return Err(self.err(v.span(), "`eval_command` must not be empty"));
        }
        Ok(s)
    }

    fn cancel_command(&self, v: &Value) -> Result<String> {
        let DeValue::String(s) = v.get_ref() else {
            return self.string(v, "cancel_command");
        };
        // As `eval_command`: a CRLF is a line break.
        let s = self.checked(v, "cancel_command", s.replace("\r\n", "\n"), true)?;
        if s.trim().is_empty() {
            return Err(self.err(
                v.span(),
                "`cancel_command` must not be empty; remove the key to run no cancel command",
            ));
        }
        Ok(s)
    }

    fn hardware(&self, v: &Value) -> Result<String> {
        let s = self.string(v, "hardware")?;
        match hardware_problem(&s) {
            Some(problem) => Err(self.err(
                v.span(),
                format!("`hardware` = `{s}` is not a hardware class: it {problem}"),
            )),
            None => Ok(s),
        }
    }

    fn metric_name(&self, v: &Value) -> Result<String> {
        let s = self.string(v, "metric_name")?;
        if !valid_metric_name(&s) {
            return Err(self.err(
                v.span(),
                format!("`metric_name` = `{s}` is not a metric name: use letters, digits, `_`, `.`, `-` or `/`, starting with a letter or `_` (at most 64)"),
            ));
        }
        Ok(s)
    }

    /// `metrics`: valid metric names, each once, none of them the metric itself.
    fn metrics(&self, v: &Value, primary: &str) -> Result<Vec<String>> {
        let names = self.string_list(v, "metrics")?;
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let name = name.trim().to_string();
            if !valid_metric_name(&name) {
                return Err(self.err(
                    v.span(),
                    format!("`metrics` entry `{name}` is not a metric name: use letters, digits, `_`, `.`, `-` or `/`, starting with a letter or `_` (at most 64)"),
                ));
            }
            if name == primary {
                return Err(self.err(
                    v.span(),
                    format!(
                        "`metrics` lists `{name}`, the metric itself: list only secondary metrics"
                    ),
                ));
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn direction(&self, v: &Value) -> Result<Direction> {
        let s = self.string(v, "metric_direction")?;
        Direction::parse(&s).ok_or_else(|| {
            self.err(
                v.span(),
                format!("`metric_direction` must be \"lower\" or \"higher\", found \"{s}\""),
            )
        })
    }

    fn branch(&self, v: &Value) -> Result<String> {
        let s = self.string(v, "branch")?;
        if let Some(problem) = branch_name_problem(&s) {
            return Err(self.err(
                v.span(),
                format!("`branch` = `{s}` is not a valid git branch name: it {problem}"),
            ));
        }
        Ok(s)
    }

    fn protected(&self, v: &Value, targets: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for p in self.string_list(v, "protected")? {
            let norm = self.rel_path(v, "protected", &p)?;
            if targets.contains(&norm) {
                return Err(self.err(
                    v.span(),
                    format!("`{norm}` is both a target file and protected; it cannot be both"),
                ));
            }
            if let Some(t) = targets.iter().find(|t| target_matches(t, &norm)) {
                return Err(self.err(
                    v.span(),
                    format!(
                        "protected `{norm}` is inside the target `{t}`: an experiment could change it; narrow `target_file` (list the files or a glob that leaves `{norm}` out) or move `{norm}` outside `{t}`"
                    ),
                ));
            }
            out.push(norm);
        }
        Ok(out)
    }

    fn constraints(&self, v: &Value) -> Result<Vec<Constraint>> {
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.err(
                v.span(),
                "`constraints` must be a list of strings like [\"memory_gb <= 44\"]",
            ));
        };
        items
            .iter()
            .map(|item| {
                let s = self.string(item, "constraints")?;
                Constraint::parse(&s).map_err(|m| self.err(item.span(), m))
            })
            .collect()
    }

    fn repeats(&self, v: &Value) -> Result<Repeats> {
        match v.get_ref() {
            DeValue::String(s) if s.as_ref() == "auto" => Ok(Repeats::Auto),
            DeValue::Integer(_) => self.count(v, "repeats").map(Repeats::Fixed),
            other => Err(self.err(
                v.span(),
                format!(
                    "`repeats` must be a whole number from 1 to 1000 or \"auto\", found {}",
                    match other {
                        DeValue::String(s) => format!("\"{}\"", s.escape_debug()),
                        o => o.type_str().to_string(),
                    }
                ),
            )),
        }
    }

    /// A whole number from 1 to 1000.
    fn count(&self, v: &Value, key: &str) -> Result<u32> {
        let DeValue::Integer(i) = v.get_ref() else {
            return Err(self.err(
                v.span(),
                format!(
                    "`{key}` must be a whole number ≥ 1, found {}",
                    v.get_ref().type_str()
                ),
            ));
        };
        match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) if (1..=1000).contains(&n) => Ok(n as u32),
            _ => Err(self.err(
                v.span(),
                format!(
                    "`{key}` must be a whole number from 1 to 1000, found {}",
                    i.as_str()
                ),
            )),
        }
    }

    fn confidence(&self, v: &Value) -> Result<f64> {
        let parsed = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        parsed.filter(|c| (0.5..=0.999).contains(c)).ok_or_else(|| {
            self.err(
                v.span(),
                "`confidence` must be a number from 0.5 to 0.999, like 0.99",
            )
        })
    }

    fn min_improvement(&self, v: &Value) -> Result<MinImprovement> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => MinImprovement::parse(&i.as_str().replace('_', "")),
            DeValue::Float(f) => MinImprovement::parse(&f.as_str().replace('_', "")),
            DeValue::String(s) => MinImprovement::parse(s),
            _ => None,
        };
        parsed.ok_or_else(|| {
            self.err(
                v.span(),
                "`min_improvement` must be a number ≥ 0 or a percentage string like \"0.5%\"",
            )
        })
    }
}

/// The hardware class: `AUTORESEARCH_HARDWARE` when set (this machine's), else the config's.
/// A set but invalid variable is an error naming it, never silently ignored: runs would be
/// recorded under the wrong class.
fn hardware_override(
    var: Option<std::ffi::OsString>,
    configured: Option<String>,
) -> Result<Option<String>> {
    let Some(var) = var else {
        return Ok(configured);
    };
    let value = var.to_string_lossy();
    match hardware_problem(&value) {
        None => Ok(Some(value.into_owned())),
        Some(problem) => Err(AppError::new(
            Code::ConfigInvalid,
            format!(
                "`{HARDWARE_VAR}` = `{}` is not a hardware class: it {problem}.",
                shown(&value)
            ),
            format!(
                "Set `{HARDWARE_VAR}` to a class like `a100-80g`, or unset it to use `hardware` in `{FILE_NAME}`."
            ),
        )),
    }
}

/// The primary metric's name as written, for checks that only need to compare with it.
fn metric_name_of(v: Option<&Value>) -> String {
    match v.map(|v| v.get_ref()) {
        Some(DeValue::String(s)) => s.to_string(),
        _ => String::new(),
    }
}

/// The character of a `\u`/`\U`/`\x` escape whose `digits` hex digits follow in `it`.
fn hex_escape(
    it: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    digits: usize,
) -> Option<char> {
    let mut code = 0u32;
    for _ in 0..digits {
        let d = it.next_if(|(_, c)| c.is_ascii_hexdigit())?.1.to_digit(16)?;
        code = code.checked_mul(16)?.checked_add(d)?;
    }
    char::from_u32(code)
}

/// Paths a target directory or glob may not cover: the config and the state directory's files
/// (an experiment must not commit or revert them).
const STATE_SAMPLES: &[&str] = &[
    FILE_NAME,
    ".autoresearch/experiments.jsonl",
    ".autoresearch/loop.json",
    ".autoresearch/loops/branches/autoresearch.json",
    ".autoresearch/runs/1.log",
];

/// Is the `target_file` entry a glob (it holds `*`, `?` or `[`)?
pub fn is_glob(entry: &str) -> bool {
    entry.contains(['*', '?', '['])
}

/// The matcher of a glob entry: `*` and `?` stay within one `/`-part, `**/` crosses parts.
fn target_glob(entry: &str) -> Option<glob::Pattern> {
    glob::Pattern::new(entry).ok()
}

/// `*` and `?` stay within one `/`-part; `**` (a whole part) crosses parts; a leading dot is
/// matched like any character.
const GLOB_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Does the `target_file` entry `entry` cover the repo-relative `path`? A directory entry (it
/// ends with `/`) covers every path under it, a glob the paths it matches, a file itself.
pub fn target_matches(entry: &str, path: &str) -> bool {
    if entry.ends_with('/') {
        path.starts_with(entry)
    } else if is_glob(entry) {
        target_glob(entry).is_some_and(|g| g.matches_with(path, GLOB_OPTIONS))
    } else {
        path == entry
    }
}

/// Is `path` covered by one of `targets` (the entries of `target_file`)?
pub fn is_target_in(targets: &[String], path: &str) -> bool {
    targets.iter().any(|t| target_matches(t, path))
}

/// Normalise a repo-relative path as written in the config: `./a/b` → `a/b`, no absolute paths,
/// no `..` escaping the root. Spaces around the whole path are dropped as a typo; spaces around
/// a `/`-part refuse it: `train.py /` would otherwise name `train.py ` (a file the user did not
/// mean), and a normalised path must normalise to itself.
pub fn normalize_rel_path(p: &str) -> Option<String> {
    let p = p.trim();
    if p.is_empty() || p.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other if other.trim() != other => return None,
            other => parts.push(other),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Config {
    /// Read and validate `path`. Returns the config and warnings (unknown keys).
    pub fn load(path: &Path) -> Result<(Config, Vec<String>)> {
        let io = |e: std::io::Error| AppError::io(path.display(), &e);
        let name = path.file_name().map_or_else(
            || FILE_NAME.to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let too_big = |len: String| {
            AppError::new(
                Code::ConfigInvalid,
                format!("`{name}` is {len} bytes; a config over 1 MiB is refused."),
                format!("Restore `{name}` to the small TOML file `autoresearch init` writes."),
            )
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > MAX_BYTES {
            return Err(too_big(len.to_string()));
        }
        // Read at most one byte past the cap whatever the size said: a file that grows, a FIFO
        // or a link to `/dev/zero` must not fill memory.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_BYTES + 1), &mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(too_big("over 1048576".to_string()));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            AppError::new(
                Code::ConfigInvalid,
                format!(
                    "`{name}` is not valid UTF-8 (byte {}).",
                    e.utf8_error().valid_up_to()
                ),
                format!("Save `{name}` as UTF-8 and retry."),
            )
        })?;
        let (mut config, warnings) = Self::parse(&name, &text)?;
        config.hardware = hardware_override(std::env::var_os(HARDWARE_VAR), config.hardware)?;
        Ok((config, warnings))
    }

    /// Parse config text; `file` is only used in messages.
    pub fn parse(file: &str, text: &str) -> Result<(Config, Vec<String>)> {
        let r = Reader { file, text };
        let table = DeTable::parse(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().to_string();
            r.err(span, format!("invalid TOML: {msg}"))
        })?;
        let table = table.get_ref();
        let get = |key: &str| {
            table
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v)
        };
        let required = |key: &str, example: &str| {
            get(key).ok_or_else(|| {
                AppError::new(
                    Code::ConfigInvalid,
                    format!("{file}: required key `{key}` is missing."),
                    format!("Add `{key} = {example}` to `{file}`."),
                )
            })
        };
        let target_files = r.target_files(required("target_file", "\"train.py\"")?)?;
        let config = Config {
            eval_command: r.eval_command(required("eval_command", "\"python3 train.py\"")?)?,
            metric_name: r.metric_name(required("metric_name", "\"val_bpb\"")?)?,
            metric_direction: r.direction(required("metric_direction", "\"lower\"")?)?,
            time_budget: get("time_budget")
                .map_or(Ok(DEFAULT_BUDGET), |v| r.duration(v, "time_budget"))?,
            branch: get("branch")
                .map_or_else(|| Ok(DEFAULT_BRANCH.to_string()), |v| r.branch(v))?,
            protected: get("protected")
                .map_or(Ok(Vec::new()), |v| r.protected(v, &target_files))?,
            constraints: get("constraints").map_or(Ok(Vec::new()), |v| r.constraints(v))?,
            metrics: match get("metrics") {
                Some(v) => r.metrics(v, &metric_name_of(get("metric_name")))?,
                None => Vec::new(),
            },
            repeats: get("repeats").map_or(Ok(Repeats::Auto), |v| r.repeats(v))?,
            max_repeats: get("max_repeats")
                .map_or(Ok(DEFAULT_MAX_REPEATS), |v| r.count(v, "max_repeats"))?,
            baseline_repeats: match get("baseline_repeats") {
                Some(v) => r.count(v, "baseline_repeats")?,
                None => default_baseline_repeats(
                    get("time_budget")
                        .map_or(Ok(DEFAULT_BUDGET), |v| r.duration(v, "time_budget"))?,
                ),
            },
            min_improvement: get("min_improvement")
                .map_or(Ok(MinImprovement::Absolute(0.0)), |v| r.min_improvement(v))?,
            confidence: get("confidence").map_or(Ok(DEFAULT_CONFIDENCE), |v| r.confidence(v))?,
            kill_grace: get("kill_grace")
                .map_or(Ok(DEFAULT_GRACE), |v| r.duration(v, "kill_grace"))?,
            cancel_command: get("cancel_command")
                .map(|v| r.cancel_command(v))
                .transpose()?,
            cancel_timeout: get("cancel_timeout").map_or(Ok(DEFAULT_CANCEL_TIMEOUT), |v| {
                r.duration(v, "cancel_timeout")
            })?,
            hardware: get("hardware").map(|v| r.hardware(v)).transpose()?,
            target_files,
        };
        Ok((config, r.unknown_keys(table)))
    }

    /// Is `path` (repo-relative) part of the target: a target file, under a target directory
    /// or matched by a target glob? Scope checks, the commit, the revert and the code digest all
    /// ask this.
    pub fn is_target(&self, path: &str) -> bool {
        is_target_in(&self.target_files, path)
    }

    /// Is `branch` the experiment branch or one of its forks (`<branch>-fork-<name>`)?
    pub fn is_experiment_branch(&self, branch: &str) -> bool {
        branch == self.branch
            || branch
                .strip_prefix(&self.branch)
                .and_then(|rest| rest.strip_prefix("-fork-"))
                .is_some_and(|name| crate::names::valid_name(name).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
target_file = "train.py"
eval_command = "uv run train.py"
metric_name = "val_bpb"
metric_direction = "lower"
time_budget = "5m"
branch = "autoresearch"
"#;

    #[test]
    fn reads_the_six_first_generation_keys() {
        let (c, w) = Config::parse("autoresearch.toml", GOOD).expect("valid");
        assert!(w.is_empty());
        assert_eq!(c.target_files, vec!["train.py"]);
        assert_eq!(c.metric_direction, Direction::Lower);
        assert_eq!(c.time_budget, Duration::from_secs(300));
        assert_eq!(c.repeats, Repeats::Auto);
        assert_eq!((c.max_repeats, c.baseline_repeats), (5, 3));
        assert_eq!(c.confidence, 0.95);
        assert_eq!(c.kill_grace, DEFAULT_GRACE);
    }

    #[test]
    fn cancel_and_hardware_keys_are_read_and_checked() {
        let (c, w) = Config::parse("autoresearch.toml", GOOD).expect("valid");
        assert!(w.is_empty());
        assert_eq!(
            (c.cancel_command, c.cancel_timeout, c.hardware),
            (None, DEFAULT_CANCEL_TIMEOUT, None)
        );
        let text = format!(
            "{GOOD}cancel_command = \"scancel --name=ar-$AUTORESEARCH_ID\"\ncancel_timeout = \"10s\"\nhardware = \"a100-80g\"\n"
        );
        let (c, w) = Config::parse("autoresearch.toml", &text).expect("valid");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            c.cancel_command.as_deref(),
            Some("scancel --name=ar-$AUTORESEARCH_ID")
        );
        assert_eq!(c.cancel_timeout, Duration::from_secs(10));
        assert_eq!(c.hardware.as_deref(), Some("a100-80g"));
        for (bad, needle) in [
            ("hardware = \"\"", "is empty"),
            ("hardware = \"a100 80g\"", "contains ` `"),
            ("hardware = \"a/b\"", "contains `/`"),
            ("hardware = 100", "must be a string"),
            ("cancel_command = \" \"", "must not be empty"),
            ("cancel_timeout = \"0s\"", "cancel_timeout"),
        ] {
            let e = err_of(&format!("{GOOD}{bad}\n"));
            assert_eq!(e.code, Code::ConfigInvalid, "{bad}");
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
        assert!(hardware_problem(&"x".repeat(64)).is_none());
        assert!(hardware_problem(&"x".repeat(65)).is_some());
    }

    #[test]
    fn the_hardware_variable_wins_over_the_config() {
        let set = |v: &str| Some(std::ffi::OsString::from(v));
        let cfg = Some("a100".to_string());
        assert_eq!(hardware_override(None, cfg.clone()).unwrap(), cfg);
        assert_eq!(
            hardware_override(set("h100"), cfg.clone())
                .unwrap()
                .as_deref(),
            Some("h100")
        );
        assert_eq!(
            hardware_override(set("h100"), None).unwrap().as_deref(),
            Some("h100")
        );
        let e = hardware_override(set("h 100"), cfg).unwrap_err();
        assert_eq!(e.code, Code::ConfigInvalid);
        assert!(
            e.message.starts_with("`AUTORESEARCH_HARDWARE` = `h 100`"),
            "{}",
            e.message
        );
        assert!(hardware_override(set(""), None).is_err());
    }

    fn err_of(text: &str) -> AppError {
        Config::parse("autoresearch.toml", text).expect_err("should fail")
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = err_of(&GOOD.replace("\"lower\"", "\"down\""));
        assert_eq!(e.code, Code::ConfigInvalid);
        assert!(
            e.message.starts_with("autoresearch.toml:5:20:"),
            "{}",
            e.message
        );
        assert!(e.message.contains("\"lower\" or \"higher\""));
        let e = err_of("target_file = [\n");
        assert!(e.message.starts_with("autoresearch.toml:"), "{}", e.message);
        assert!(e.message.contains("invalid TOML"));
    }

    #[test]
    fn validates_every_value() {
        for (bad, needle) in [
            ("time_budget = \"5 parsecs\"", "time_budget"),
            ("time_budget = 0", "time_budget"),
            ("kill_grace = \"-1s\"", "kill_grace"),
            ("repeats = 0", "repeats"),
            ("repeats = 1.5", "repeats"),
            ("repeats = \"sometimes\"", "\"auto\""),
            ("max_repeats = 0", "max_repeats"),
            ("baseline_repeats = 1001", "baseline_repeats"),
            ("confidence = 1.0", "confidence"),
            ("confidence = 0.4", "confidence"),
            ("confidence = \"high\"", "confidence"),
            ("branch = \"-x\"", "branch"),
            ("branch = \"a..b\"", "branch"),
            ("constraints = [\"memory_gb\"]", "comparison"),
            ("constraints = [\"memory_gb <= lots\"]", "finite"),
            ("min_improvement = \"-1%\"", "min_improvement"),
            ("min_improvement = \"abc\"", "min_improvement"),
            ("protected = [\"train.py\"]", "both"),
            ("target_file = \"train.py /\"", "target_file"),
            ("target_file = \"./ a\"", "target_file"),
            ("protected = \"a/.. /b\"", "protected"),
        ] {
            let key = bad.split(' ').next().unwrap();
            let text: String = GOOD
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} ")))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                + bad
                + "\n";
            let e = err_of(&text);
            assert_eq!(e.code, Code::ConfigInvalid, "{bad}");
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
        let e = err_of(&GOOD.replace("val_bpb", "val bpb"));
        assert!(e.message.contains("metric_name"));
        let e = err_of("metric_name = \"x\"\n");
        assert!(e.message.contains("target_file"));
    }

    #[test]
    fn targets_may_be_directories_and_globs() {
        let with = |targets: &str, extra: &str| {
            GOOD.replace(
                "target_file = \"train.py\"",
                &format!("target_file = {targets}"),
            ) + extra
        };
        let (c, _) = Config::parse(
            "autoresearch.toml",
            &with(r#"["./src/solver/", "heur/*.py", "a.py"]"#, ""),
        )
        .expect("valid");
        assert_eq!(c.target_files, ["src/solver/", "heur/*.py", "a.py"]);
        for (path, yes) in [
            ("src/solver/x.rs", true),
            ("src/solver/deep/y.rs", true),
            ("src/solver", false),
            ("src/solverx/y.rs", false),
            ("heur/b.py", true),
            ("heur/sub/b.py", false),
            ("heur/b.pyc", false),
            ("a.py", true),
            ("b.py", false),
        ] {
            assert_eq!(c.is_target(path), yes, "{path}");
        }
        for (targets, extra, needle) in [
            (
                r#"["src/"]"#,
                "protected = [\"src/data.bin\"]\n",
                "inside the target `src/`",
            ),
            (
                r#"["*.py"]"#,
                "protected = [\"prepare.py\"]\n",
                "inside the target `*.py`",
            ),
            (r#"["*"]"#, "", "autoresearch.toml"),
            (r#"[".autoresearch/"]"#, "", ".autoresearch/"),
            (r#"[".autoresearch/*.jsonl"]"#, "", ".autoresearch/"),
            (r#"["src/*/"]"#, "", "src/*/**"),
            (r#"["src/[a"]"#, "", "not a valid glob"),
        ] {
            let e = err_of(&with(targets, extra));
            assert!(e.message.contains(needle), "{targets}: {}", e.message);
        }
    }

    #[test]
    fn unknown_keys_warn() {
        let (_, w) = Config::parse("autoresearch.toml", &format!("{GOOD}colour = 1\n")).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("unknown key `colour`"), "{}", w[0]);
    }

    #[test]
    fn optional_values() {
        let text = format!(
            "{GOOD}protected = [\"prepare.py\"]\nconstraints = [\"memory_gb <= 44\", \"mfu>0.3\"]\nrepeats = 3\nmin_improvement = \"0.5%\"\nkill_grace = \"250ms\"\n"
        );
        let (c, _) = Config::parse("autoresearch.toml", &text).unwrap();
        assert_eq!(c.protected, vec!["prepare.py"]);
        assert_eq!(c.constraints[1].op, Op::Gt);
        assert_eq!(c.constraints[1].text, "mfu > 0.3");
        assert_eq!(c.repeats, Repeats::Fixed(3));
        let auto = Config::parse(
            "autoresearch.toml",
            &format!(
                "{GOOD}repeats = \"auto\"\nmax_repeats = 9\nbaseline_repeats = 4\nconfidence = 0.95\n"
            ),
        );
        let (auto, _) = auto.expect("valid");
        assert_eq!(
            (auto.repeats, auto.max_repeats, auto.baseline_repeats),
            (Repeats::Auto, 9, 4)
        );
        assert_eq!(auto.confidence, 0.95);
        // A long budget makes the default baseline cheaper.
        let long = Config::parse(
            "autoresearch.toml",
            &GOOD.replace("time_budget = \"5m\"", "time_budget = \"1h\""),
        );
        assert_eq!(long.expect("valid").0.baseline_repeats, 2);
        assert_eq!(Repeats::parse("auto"), Some(Repeats::Auto));
        assert_eq!(Repeats::parse("7"), Some(Repeats::Fixed(7)));
        assert_eq!(Repeats::parse("0"), None);
        assert_eq!(c.min_improvement, MinImprovement::Percent(0.5));
        assert_eq!(c.kill_grace, Duration::from_millis(250));
        let (c, _) = Config::parse(
            "autoresearch.toml",
            &format!("{GOOD}min_improvement = 0.01\n"),
        )
        .unwrap();
        assert_eq!(c.min_improvement, MinImprovement::Absolute(0.01));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30m1h"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("0s"), None);
        // Above 0 once it is a Duration: less than a nanosecond is 0.
        assert_eq!(parse_duration("1e-10"), None);
        assert_eq!(parse_duration("0.0000000001s"), None);
        assert_eq!(parse_duration("1e-9"), Some(Duration::from_nanos(1)));
        let e = err_of(&with("time_budget", "time_budget = 5e-53"));
        assert!(e.message.contains("time_budget"), "{}", e.message);
    }

    #[test]
    fn experiment_branches() {
        let (c, _) = Config::parse("autoresearch.toml", GOOD).unwrap();
        assert!(c.is_experiment_branch("autoresearch"));
        assert!(c.is_experiment_branch("autoresearch-fork-wide"));
        assert!(!c.is_experiment_branch("autoresearch-fork-"));
        assert!(!c.is_experiment_branch("main"));
    }

    #[test]
    fn load_reads_no_more_than_the_cap() {
        // The size a file reports is not a bound: `/dev/zero` reports 0 and never ends. Without
        // a bounded read this test does not fail, it fills memory.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let e = Config::load(&path).expect_err("an endless file");
        assert_eq!(e.code, Code::ConfigInvalid);
        assert!(e.message.contains("1 MiB"), "{}", e.message);
    }

    /// `GOOD` without its `key` line, with `line` appended.
    fn with(key: &str, line: &str) -> String {
        GOOD.lines()
            .filter(|l| !l.starts_with(&format!("{key} ")))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + line
            + "\n"
    }

    /// The 1-based line and column of byte `offset` of `text`, counted independently of
    /// `line_col` (ASCII test inputs: a byte is a column).
    fn position(text: &str, offset: usize) -> (usize, usize) {
        let before = &text[..offset];
        let line = before.split('\n').count();
        let col = offset - before.rfind('\n').map_or(0, |p| p + 1) + 1;
        (line, col)
    }

    #[test]
    fn refuses_control_characters_in_every_string_key_at_their_position() {
        // A line, and the text in it the error must point at (the escape, or the raw byte).
        for (line, at) in [
            (r#"branch = "auto\u0000research""#, r"\u0000"),
            (r#"branch = "a\u001bb""#, r"\u001b"),
            (r#"target_file = "train\u0000.py""#, r"\u0000"),
            (r#"target_file = ["a.py", "b\u0000.py"]"#, r"\u0000"),
            (r#"target_file = "a	b.py""#, "\t"),
            (r#"protected = "p\u0000""#, r"\u0000"),
            (r#"protected = ["ok.py", "p\u001b[31m"]"#, r"\u001b"),
            (r#"eval_command = "python3\u0000 train.py""#, r"\u0000"),
            (r#"eval_command = "echo \u001b[2J""#, r"\u001b"),
            (r#"eval_command = "echo\b x""#, r"\b"),
            (r#"eval_command = "echo x\ry""#, r"\r"),
            (r#"eval_command = "echo \u007f""#, r"\u007f"),
            (r#"eval_command = "echo \U00000085""#, r"\U00000085"),
            (r#"eval_command = "echo \u202e gnp.exe""#, r"\u202e"),
            (
                "eval_command = \"\"\"\necho a\n\\u0000echo b\n\"\"\"",
                r"\u0000",
            ),
            (r#"eval_command = 'echo \u0000 is literal' # fine"#, ""),
            (r#"metric_name = "val\u0000bpb""#, r"\u0000"),
            (r#"metric_direction = "lower\u0000""#, r"\u0000"),
            (r#"constraints = ["mem\u0000 <= 1"]"#, r"\u0000"),
            (r#"constraints = ["mem <= 1", "x <= 1\u0000"]"#, r"\u0000"),
        ] {
            let key = line.split(' ').next().unwrap();
            let text = with(key, line);
            if at.is_empty() {
                Config::parse("autoresearch.toml", &text).expect("a literal string has no escapes");
                continue;
            }
            let e = err_of(&text);
            assert_eq!(e.code, Code::ConfigInvalid, "{line}");
            let offset = text.rfind(line).unwrap() + line.find(at).unwrap();
            let (l, c) = position(&text, offset);
            assert!(
                e.message
                    .starts_with(&format!("autoresearch.toml:{l}:{c}: `{key}` contains ")),
                "{line}: {}",
                e.message
            );
            assert!(e.message.contains("U+"), "{line}: {}", e.message);
            assert!(
                e.suggestion.contains(&format!("line {l}, column {c}")),
                "{line}: {}",
                e.suggestion
            );
        }
    }

    #[test]
    fn messages_never_echo_control_characters() {
        for line in [
            r#"time_budget = "5m\u0000""#,
            r#"kill_grace = "\u001b[2J""#,
            r#"min_improvement = "\u0000""#,
            r#"metric_direction = "\u001b]0;x\u0007""#,
        ] {
            let e = err_of(&with(line.split(' ').next().unwrap(), line));
            assert_eq!(e.code, Code::ConfigInvalid, "{line}");
            assert!(
                !e.message.chars().any(char::is_control),
                "{line}: {:?}",
                e.message
            );
        }
        let (_, w) = Config::parse(
            "autoresearch.toml",
            &format!("{GOOD}\"x\\u001b[31m\" = 1\n"),
        )
        .unwrap();
        assert!(w[0].contains(r"x\u{1b}[31m"), "{}", w[0]);
    }

    #[test]
    fn eval_command_may_be_a_script_of_several_lines() {
        let script = "eval_command = \"\"\"\nset -e\n\tpython3 train.py\t--fast\n\"\"\"";
        let (c, _) = Config::parse("autoresearch.toml", &with("eval_command", script)).unwrap();
        assert_eq!(c.eval_command, "set -e\n\tpython3 train.py\t--fast\n");
        // The same file saved with CRLF line endings runs the same script: no `\r` reaches sh.
        let crlf = with(
            "eval_command",
            "eval_command = \"\"\"\nset -e\n\tpython3 train.py\n\"\"\"",
        )
        .replace('\n', "\r\n");
        let (c, _) = Config::parse("autoresearch.toml", &crlf).unwrap();
        assert_eq!(c.eval_command, "set -e\n\tpython3 train.py\n");
    }

    #[test]
    fn eval_command_problem_is_the_config_rule() {
        for (command, ok) in [
            ("python3 train.py", true),
            ("set -e\n\tpython3 train.py\r\n", true),
            ("  ", false),
            ("echo \u{1b}[2J", false),
            ("echo a\rb", false),
            ("echo \u{0}", false),
            ("echo \u{202e}", false),
        ] {
            assert_eq!(eval_command_problem(command).is_none(), ok, "{command:?}");
            let line = format!("eval_command = {}", toml_string(command));
            let loaded = Config::parse("autoresearch.toml", &with("eval_command", &line));
            assert_eq!(loaded.is_ok(), ok, "{command:?}");
        }
    }

    #[test]
    fn branch_names_follow_git_check_ref_format_branch() {
        let long = "x".repeat(201);
        for bad in [
            "",
            "-x",
            "HEAD",
            "@",
            "refs/heads/x",
            "refs/x",
            "a..b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "a b",
            "a\u{1}b",
            "a\u{7f}",
            "a\u{85}",
            "a\u{202e}b",
            "x.lock",
            "x.lock/y",
            "x/y.lock",
            "x/",
            "/x",
            "a//b",
            "a.",
            ".a",
            "a/.b",
            "a@{1}",
            "@{-1}",
            &long,
        ] {
            assert!(!valid_branch_name(bad), "{bad:?} must be refused");
            let text = with("branch", &format!("branch = {}", toml_string(bad)));
            let e = err_of(&text);
            assert_eq!(e.code, Code::ConfigInvalid, "{bad:?}");
            assert!(e.message.contains("`branch`"), "{bad:?}: {}", e.message);
            assert!(!e.message.chars().any(char::is_control), "{:?}", e.message);
        }
        for good in [
            "autoresearch",
            "a",
            "exp/lr-sweep",
            "a@b",
            "@a",
            "a/@",
            "a.b",
            "a./b",
            "ü",
            "HEADS",
            "a-fork-b",
            "x/y/z",
            "a_b+c=d,e",
        ] {
            assert!(valid_branch_name(good), "{good:?} must be accepted");
            let text = with("branch", &format!("branch = {}", toml_string(good)));
            let (c, _) = Config::parse("autoresearch.toml", &text).expect(good);
            assert_eq!(c.branch, good);
        }
    }

    /// `s` as a TOML basic string, every control character escaped.
    fn toml_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn the_longest_accepted_branch_still_has_room_for_a_fork() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("T", "t@example.com").unwrap();
        let tree = repo
            .find_tree(repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        let commit = repo.commit(None, &sig, &sig, "c", &tree, &[]).unwrap();
        let commit = repo.find_commit(commit).unwrap();
        for prefix in ["", "dir/"] {
            let longest = (1..=300)
                .rev()
                .map(|n| format!("{prefix}{}", "x".repeat(n)))
                .find(|b| valid_branch_name(b))
                .unwrap();
            let fork = format!("{longest}-fork-{}", "y".repeat(50));
            assert!(crate::names::valid_name(&"y".repeat(50)).is_ok());
            repo.branch(&longest, &commit, false).expect("the branch");
            repo.branch(&fork, &commit, false)
                .unwrap_or_else(|e| panic!("the fork of a {}-byte branch: {e}", longest.len()));
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Branch names near the edge of git's rules: glued from pieces git treats specially.
        fn branch() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("a".to_string()),
                Just("autoresearch".to_string()),
                Just("/".to_string()),
                Just(".".to_string()),
                Just("-".to_string()),
                Just("@".to_string()),
                Just("{".to_string()),
                Just("lock".to_string()),
                Just("HEAD".to_string()),
                Just("refs".to_string()),
                Just("ü".to_string()),
                (0usize..120).prop_map(|n| "x".repeat(n)),
                any::<char>().prop_map(String::from),
            ];
            proptest::collection::vec(piece, 1..8).prop_map(|p| p.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
            /// Any branch the config accepts can be forked: `<branch>-fork-<name>` is a branch
            /// git accepts, fits in a file name, and counts as an experiment branch.
            #[test]
            fn every_accepted_branch_can_be_forked(b in branch(), name in "[a-z0-9]([a-z0-9_-]|\\.[a-z0-9]){0,24}") {
                prop_assert!(crate::names::valid_name(&name).is_ok(), "{}", name);
                let text = with("branch", &format!("branch = {}", toml_string(&b)));
                let Ok((c, _)) = Config::parse("autoresearch.toml", &text) else {
                    prop_assert!(!valid_branch_name(&b));
                    return Ok(());
                };
                prop_assert!(valid_branch_name(&b));
                let fork = format!("{b}-fork-{name}");
                prop_assert!(c.is_experiment_branch(&fork), "{}", fork);
                prop_assert!(git2::Reference::is_valid_name(&format!("refs/heads/{fork}")), "{}", fork);
                let last = fork.rsplit('/').next().unwrap();
                prop_assert!(last.len() + ".lock".len() <= 255, "{}", fork);
            }
        }
    }
}
