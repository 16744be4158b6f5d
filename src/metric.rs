//! The metric grammar (docs/CONTRACT.md §6): how a number is read out of an eval's output.
//!
//! This module owns:
//! - the strict number grammar `[+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?` ([`parse_number`]);
//! - finding the last match of a metric in the output ([`find_metric`]) in its three forms
//!   (`<name><sep><number>`, `METRIC <name>=<number>`, a JSON-object line);
//! - turning raw terminal output into matchable text ([`clean_output`]);
//! - bounded reads of a log ([`read_log_tail`], docs/RELIABILITY.md 12) and of its tail for the
//!   envelope ([`tail_lines`]).
//!
//! Rust's own `f64` parser is never applied to untrusted text directly: it accepts `nan`, `inf`
//! and `+Infinity` and silently turns `1e400` into infinity (docs/RELIABILITY.md 13). Text is first
//! checked against the grammar, and only then handed to `str::parse`.
//!
//! Decisions the contract leaves open (kept in one place so callers and docs agree):
//! - **Name characters.** A name must not be preceded by a character that can be part of a
//!   name. Those are `[A-Za-z0-9_]` plus `.`, `-` and `/`, *always* (not only when the metric's
//!   own name contains them): `train/loss`, `eval.loss` and `--loss` are other names (or a
//!   command-line echo), never `loss`. Non-ASCII characters are boundaries.
//! - **Spaces** in a separator are spaces or tabs.
//! - **After the number** comes the end of the line or a character that cannot continue a
//!   number: not `[A-Za-z0-9_.+-/]`, and not `,` or `:` followed by a digit. So `1.2.3`,
//!   `12abc`, `0x10`, `1_000`, `1,000`, `12:30`, `3/10` and `2024-01-01` are not read, while
//!   `0.99 (best)`, `0.5,` and `95%` are.
//! - **Line breaks.** A bare `\r` is a line break (progress bars overwrite a line with `\r`; each
//!   overwritten segment is its own line, and the last one is the latest value).
//! - **JSON lines.** A line that is a JSON object is read as JSON first: if it has the key at
//!   the top level, that value is the line's match (a repeated key: the last one). `NaN`,
//!   `Infinity`, `-Infinity` (what Python's `json.dumps` writes) and `null` (what serde_json
//!   writes for NaN) are non-finite. Other values (strings, objects) are not a match.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The number was well-formed but does not fit in a finite `f64` (e.g. `1e400`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFinite;

/// What [`find_metric`] read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricRead {
    /// The last match was a finite number.
    Found(f64),
    /// The last match was `nan`, `inf`, `infinity` (any case or sign), a JSON `null`, or a
    /// number that overflows.
    NonFinite,
    /// Nothing matched.
    Missing,
}

/// Strict number grammar `[+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?` over the WHOLE string (after
/// trimming ASCII whitespace).
///
/// Returns `None` for anything else (`nan`, `inf`, `1_000`, `0x10`, `"1,000"`, empty, ...).
/// A value that overflows to ±inf returns `Some(Err(NonFinite))`.
pub fn parse_number(s: &str) -> Option<Result<f64, NonFinite>> {
    let s = s.trim_ascii();
    if s.is_empty() || number_prefix_len(s.as_bytes()) != s.len() {
        return None;
    }
    Some(convert_checked(s))
}

/// Converts text that already matched the grammar.
fn convert_checked(s: &str) -> Result<f64, NonFinite> {
    // The grammar is a subset of what `f64::from_str` accepts, so a failure here would be a
    // bug in `number_prefix_len`; report it as non-finite rather than panic on untrusted input.
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(NonFinite),
    }
}

/// Length of the longest prefix of `b` that matches the number grammar, or 0.
///
/// Greedy and without backtracking except for the exponent: `1e` and `1e+` are the number `1`
/// followed by other text (which the caller then rejects as a continuation).
fn number_prefix_len(b: &[u8]) -> usize {
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_digits = digits(i);
    i += int_digits;
    if int_digits > 0 {
        if b.get(i) == Some(&b'.') {
            i += 1;
            i += digits(i);
        }
    } else {
        // `.d+`: a bare `.` or a sign alone is not a number.
        if b.get(i) != Some(&b'.') {
            return 0;
        }
        let frac = digits(i + 1);
        if frac == 0 {
            return 0;
        }
        i += 1 + frac;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_digits = digits(j);
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    i
}

/// Length of a `nan` / `inf` / `infinity` word (any case, optional sign) at the start of `b`,
/// or 0. `infinity` is tried first so that it is not read as `inf` followed by `inity`.
fn non_finite_word_len(b: &[u8]) -> usize {
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let rest = &b[sign..];
    for word in [&b"infinity"[..], b"inf", b"nan"] {
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word) {
            return sign + word.len();
        }
    }
    0
}

/// Characters that make a name longer: a name is not matched right after one of them.
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/')
}

/// True when the text after a number (or a non-finite word) does not continue it.
fn ends_value(after: &[u8]) -> bool {
    match after.first() {
        None => true,
        Some(&c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'+' | b'-' | b'/') => {
            false
        }
        // `1,000` and `12:30` are one token to a human, not the number before the mark.
        Some(b',' | b':') => !after.get(1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// Reads a value (number or non-finite word) at the start of `b` that is properly ended.
fn read_value(b: &[u8]) -> Option<MetricRead> {
    let n = number_prefix_len(b);
    if n > 0 {
        if !ends_value(&b[n..]) {
            return None;
        }
        // The prefix is ASCII by construction, so it is valid UTF-8.
        let text = std::str::from_utf8(&b[..n]).ok()?;
        return Some(match convert_checked(text) {
            Ok(v) => MetricRead::Found(v),
            Err(NonFinite) => MetricRead::NonFinite,
        });
    }
    let w = non_finite_word_len(b);
    if w > 0 && ends_value(&b[w..]) {
        return Some(MetricRead::NonFinite);
    }
    None
}

/// Tries `<name><sep><value>` with the name starting at byte `pos` of `line`.
fn text_match_at(line: &[u8], pos: usize, name_len: usize) -> Option<MetricRead> {
    if pos > 0 && is_name_byte(line[pos - 1]) {
        return None;
    }
    let rest = &line[pos + name_len..];
    let is_space = |c: &&u8| matches!(**c, b' ' | b'\t');
    let lead = rest.iter().take_while(is_space).count();
    let after_sep = match rest.get(lead) {
        Some(b':' | b'=') => {
            let after_mark = &rest[lead + 1..];
            &after_mark[after_mark.iter().take_while(is_space).count()..]
        }
        // `<name> <number>`: one or more spaces are a separator on their own.
        _ if lead > 0 => &rest[lead..],
        _ => return None,
    };
    read_value(after_sep)
}

/// The last match of `name` in one line (no line breaks inside), in any of the three forms.
///
/// `METRIC <name>=<number>` needs no code of its own: `METRIC ` ends with a space, which is a
/// name boundary, and `=` is a separator, so it is a case of `<name><sep><number>`.
fn last_match_in_line(line: &str, name: &str) -> Option<MetricRead> {
    let trimmed = line.trim_ascii();
    if trimmed.starts_with('{')
        && trimmed.ends_with('}')
        && let Some(read) = json_line_value(trimmed, name)
    {
        return Some(read);
    }
    let bytes = line.as_bytes();
    occurrences(line, name)
        .filter_map(|pos| text_match_at(bytes, pos, name.len()))
        .last()
}

/// Every position of `name` in `line`, overlapping ones included (name `aa` in `aaa`), left to
/// right.
fn occurrences<'a>(line: &'a str, name: &'a str) -> impl Iterator<Item = usize> + 'a {
    let step = name.chars().next().map_or(1, char::len_utf8);
    let mut from = 0;
    std::iter::from_fn(move || {
        let pos = from + line.get(from..)?.find(name)?;
        from = pos + step;
        Some(pos)
    })
}

/// How many lines of `output` hold a match of metric `name` (a target that prints the metric
/// itself adds one).
pub fn matching_lines(output: &str, name: &str) -> usize {
    if name.is_empty() {
        return 0;
    }
    output
        .split(['\n', '\r'])
        .filter(|line| last_match_in_line(line, name).is_some())
        .count()
}

/// Finds the LAST match of metric `name` in `output` (already cleaned), per docs/CONTRACT.md §6 and
/// the decisions in the module header. Last match wins across all forms, by position.
pub fn find_metric(output: &str, name: &str) -> MetricRead {
    if name.is_empty() {
        return MetricRead::Missing;
    }
    // `\r` is split on too, so uncleaned output still treats overwritten segments as lines.
    output
        .rsplit(['\n', '\r'])
        .find_map(|line| last_match_in_line(line, name))
        .unwrap_or(MetricRead::Missing)
}

/// A tiny JSON scanner for one line: reads the top-level object, and returns the value of `key`
/// when it is a number (or a non-finite spelling). `None` when the line is not a JSON object or
/// has no such key. Nested values are skipped without full validation: only the top level
/// matters, and the scan is iterative so hostile nesting cannot overflow the stack.
fn json_line_value(line: &str, key: &str) -> Option<MetricRead> {
    let mut p = JsonScan {
        b: line.as_bytes(),
        i: 0,
    };
    p.ws();
    p.eat(b'{')?;
    let mut found = None;
    p.ws();
    if !p.eat_if(b'}') {
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let v = p.value(k == key)?;
            if k == key {
                // A repeated key: the last one wins, as in most JSON readers.
                found = v;
            }
            p.ws();
            if p.eat_if(b',') {
                continue;
            }
            p.eat(b'}')?;
            break;
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return None;
    }
    found
}

struct JsonScan<'a> {
    b: &'a [u8],
    i: usize,
}

impl JsonScan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat_if(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.eat_if(c).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let hit = self.b[self.i..].starts_with(word);
        if hit {
            self.i += word.len();
        }
        hit
    }

    /// A JSON string, decoded (escapes included), the cursor on the opening quote.
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = String::new();
        let mut units: Vec<u16> = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    let simple = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            // Collect consecutive \u escapes so surrogate pairs decode together.
                            units.clear();
                            units.push(self.hex4()?);
                            while self.b[self.i..].starts_with(b"\\u") {
                                self.i += 2;
                                units.push(self.hex4()?);
                            }
                            for ch in char::decode_utf16(units.iter().copied()) {
                                out.push(ch.ok()?);
                            }
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(simple);
                }
                _ => {
                    // Copy a run of plain bytes at once; the input is a &str, so any run that
                    // stops at an ASCII `"` or `\` is on a char boundary.
                    let start = self.i - 1;
                    while self.peek().is_some_and(|c| c != b'"' && c != b'\\') {
                        self.i += 1;
                    }
                    out.push_str(std::str::from_utf8(&self.b[start..self.i]).ok()?);
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        let v = u16::from_str_radix(text, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    /// Consumes one value. With `want`, returns what it means as a metric (`Some(None)`: a
    /// valid value that is not a number); without, just skips it. `None`: malformed.
    fn value(&mut self, want: bool) -> Option<Option<MetricRead>> {
        match self.peek()? {
            b'"' => self.string().map(|_| None),
            b'{' | b'[' => self.skip_nested().map(|()| None),
            b't' if self.literal(b"true") => Some(None),
            b'f' if self.literal(b"false") => Some(None),
            b'n' if self.literal(b"null") => Some(want.then_some(MetricRead::NonFinite)),
            b'N' if self.literal(b"NaN") => Some(want.then_some(MetricRead::NonFinite)),
            b'I' if self.literal(b"Infinity") => Some(want.then_some(MetricRead::NonFinite)),
            b'-' if self.literal(b"-Infinity") => Some(want.then_some(MetricRead::NonFinite)),
            _ => {
                // A number token, checked against our grammar (a superset of JSON's).
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E')
                }) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                match parse_number(text)? {
                    Ok(v) => Some(want.then_some(MetricRead::Found(v))),
                    Err(NonFinite) => Some(want.then_some(MetricRead::NonFinite)),
                }
            }
        }
    }

    /// Skips a nested object or array by counting brackets outside strings.
    fn skip_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }
}

/// Strips ANSI escape sequences and turns `\r` into line breaks.
///
/// - CSI `ESC [ params intermediates final` (and the 8-bit `U+009B`);
/// - OSC `ESC ] ... BEL|ESC \` and the other string sequences (`ESC P`, `ESC X`, `ESC ^`,
///   `ESC _`, and their 8-bit forms), ended by BEL, ST, or — defensively — a line break, so a
///   broken sequence cannot swallow the rest of the output (and the metric with it);
/// - other escapes: `ESC` + intermediates (`0x20..=0x2F`) + one final byte (e.g. `ESC ( B`,
///   `ESC 7`); a lone `ESC` is dropped.
///
/// `\r\n` becomes `\n`; a bare `\r` becomes `\n` too, so each segment a progress bar overwrote
/// is its own line and the last one (the latest) is what a "last match" search sees first.
pub fn clean_output(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut it = raw.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.peek().copied() {
                Some('[') => {
                    it.next();
                    skip_csi(&mut it);
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    it.next();
                    skip_string_sequence(&mut it);
                }
                Some('\u{20}'..='\u{2f}') => {
                    while it.next_if(|c| ('\u{20}'..='\u{2f}').contains(c)).is_some() {}
                    it.next_if(|c| ('\u{30}'..='\u{7e}').contains(c));
                }
                Some('\u{30}'..='\u{7e}') => {
                    it.next();
                }
                // A lone ESC (end of text, a line break, another ESC): drop just the ESC.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut it),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string_sequence(&mut it),
            '\r' => {
                it.next_if_eq(&'\n');
                out.push('\n');
            }
            _ => out.push(c),
        }
    }
    out
}

/// After `ESC [`: parameters `0x30..=0x3F`, intermediates `0x20..=0x2F`, one final
/// `0x40..=0x7E`. A malformed sequence ends at the first other character, which is kept.
fn skip_csi(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while it.next_if(|c| ('\u{30}'..='\u{3f}').contains(c)).is_some() {}
    while it.next_if(|c| ('\u{20}'..='\u{2f}').contains(c)).is_some() {}
    it.next_if(|c| ('\u{40}'..='\u{7e}').contains(c));
}

/// After an OSC/DCS/SOS/PM/APC introducer: up to BEL, `ESC \`, 8-bit ST, or a line break
/// (which is kept).
fn skip_string_sequence(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&c) = it.peek() {
        match c {
            '\n' | '\r' => return,
            '\u{7}' | '\u{9c}' => {
                it.next();
                return;
            }
            '\u{1b}' => {
                it.next();
                it.next_if_eq(&'\\');
                return;
            }
            _ => {
                it.next();
            }
        }
    }
}

/// Reads the last `max_bytes` of a log file (callers use 1 MiB), lossily as UTF-8, starting at
/// the next line break if the cut fell inside a line, then [`clean_output`]s it.
///
/// A cut line is dropped rather than kept: its start could look like a name boundary
/// (`my_val_bpb` cut to `val_bpb`). If the whole window is one unbroken line, the result is
/// empty. Only `max_bytes` (+1 to look at the byte before the cut) are ever read, and never
/// past the length the file had when the read began: not what is appended meanwhile, and not
/// the endless zeros of a device (a log linked to `/dev/full` says its length is 0).
pub fn read_log_tail(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    read_log_range(path, 0, max_bytes)
}

/// [`read_log_tail`] of the part of the log from byte `from` on: one sample's output when
/// repeats append to the same log. The window never reaches before `from`, and a cut at
/// `from` itself is not a cut (the caller knows a line starts there).
pub fn read_log_range(path: &Path, from: u64, max_bytes: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let from = from.min(len);
    let cut = len - from > max_bytes;
    let start = if cut { len - max_bytes - 1 } else { from };
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(len - start).read_to_end(&mut buf)?;
    let body: &[u8] = if cut {
        // `buf[0]` is the byte just before the window: a line break there means no line was cut.
        match buf.iter().position(|&c| c == b'\n' || c == b'\r') {
            Some(p) => &buf[p + 1..],
            None => &[],
        }
    } else {
        &buf
    };
    Ok(clean_output(&String::from_utf8_lossy(body)))
}

/// The last `lines` lines of `text` (trailing line breaks ignored), capped at `max_bytes` bytes
/// (callers use 8 KiB) keeping the END, cut on a char boundary.
pub fn tail_lines(text: &str, lines: usize, max_bytes: usize) -> String {
    if lines == 0 {
        return String::new();
    }
    let text = text.trim_end_matches(['\n', '\r']);
    let start = text
        .rmatch_indices('\n')
        .nth(lines - 1)
        .map_or(0, |(i, _)| i + 1);
    let mut tail = &text[start..];
    if tail.len() > max_bytes {
        let mut cut = tail.len() - max_bytes;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = &tail[cut..];
    }
    tail.to_string()
}

/// A value after `<name><sep>` that is not a number in the grammar: why a metric the output
/// plainly holds still reads as missing (`loss: 1,234`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub name: String,
    /// What follows the separator, up to the next space (at most 40 characters).
    pub text: String,
    /// The rule it breaks, when it is a common one.
    pub rule: Option<&'static str>,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is followed by `{}`, which is not a number in the metric grammar",
            self.name, self.text
        )?;
        match self.rule {
            Some(rule) => write!(f, " ({rule})"),
            None => Ok(()),
        }
    }
}

/// Why [`find_metric`] found no `name` in `output` (already cleaned) although the name is
/// there: the value after its last occurrence with a separator, when that value is not a
/// number. After `:` or `=` any value counts (`loss: None`); after spaces alone only one that
/// starts like a number, since `loss improved` is prose, not a value. `None` when there is no
/// such occurrence. Meant for after `find_metric` returned [`MetricRead::Missing`]; it does not
/// change what is read.
pub fn unreadable_value(output: &str, name: &str) -> Option<Unreadable> {
    if name.is_empty() {
        return None;
    }
    output
        .rsplit(['\n', '\r'])
        .find_map(|line| unreadable_in_line(line, name))
}

/// The last occurrence of `<name><sep><value>` in `line` whose value is not a number.
fn unreadable_in_line(line: &str, name: &str) -> Option<Unreadable> {
    let bytes = line.as_bytes();
    let mut last = None;
    for pos in occurrences(line, name) {
        if pos > 0 && is_name_byte(bytes[pos - 1]) {
            continue;
        }
        // The separator, as `text_match_at` reads it: spaces, then `:` or `=` and spaces, or
        // spaces alone. Only ASCII is skipped, so `at` stays on a char boundary.
        let is_space = |c: &u8| matches!(*c, b' ' | b'\t');
        let mut at = pos + name.len();
        let lead = bytes[at..].iter().take_while(|c| is_space(c)).count();
        at += lead;
        let mark = matches!(bytes.get(at), Some(b':' | b'='));
        if mark {
            at += 1;
            at += bytes[at..].iter().take_while(|c| is_space(c)).count();
        } else if lead == 0 {
            continue;
        }
        let rest = &line[at..];
        let text = &rest[..rest.find([' ', '\t']).unwrap_or(rest.len())];
        let numeric_start = {
            let t = text.trim_start_matches(['+', '-', '.']);
            t.starts_with(|c: char| c.is_ascii_digit())
        };
        if text.is_empty() || (!mark && !numeric_start) || read_value(rest.as_bytes()).is_some() {
            continue;
        }
        last = Some(Unreadable {
            name: name.to_string(),
            text: text.chars().take(40).collect(),
            rule: broken_rule(text),
        });
    }
    last
}

/// The common ways a number breaks the grammar, in words.
fn broken_rule(text: &str) -> Option<&'static str> {
    let b = text.as_bytes();
    let digit_mark_digit = |mark: u8| {
        b.windows(3)
            .any(|w| w[0].is_ascii_digit() && w[1] == mark && w[2].is_ascii_digit())
    };
    let unsigned = text.trim_start_matches(['+', '-']);
    if digit_mark_digit(b',') {
        // `1,234` and `12,345,678.5` group thousands; `0,5` is a decimal comma.
        let int = unsigned.split(['.', 'e', 'E']).next().unwrap_or("");
        let groups: Vec<&str> = int.split(',').collect();
        let grouped = groups.len() > 1
            && (1..=3).contains(&groups[0].len())
            && groups[1..].iter().all(|g| g.len() == 3)
            && groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_digit()));
        return Some(if grouped {
            "no thousands separators"
        } else {
            "the decimal mark is `.`, not `,`"
        });
    }
    if digit_mark_digit(b'_') {
        return Some("no `_` between digits");
    }
    if unsigned.starts_with("0x") || unsigned.starts_with("0X") {
        return Some("no hexadecimal");
    }
    None
}

#[cfg(test)]
mod unreadable_tests {
    use super::*;

    fn why(output: &str, name: &str) -> Option<String> {
        unreadable_value(&clean_output(output), name).map(|u| u.to_string())
    }

    #[test]
    fn a_number_with_thousands_separators_is_named_as_the_problem() {
        let out = "epoch 3\nloss: 1,234\n";
        assert_eq!(find_metric(out, "loss"), MetricRead::Missing);
        assert_eq!(
            why(out, "loss").as_deref(),
            Some(
                "`loss` is followed by `1,234`, which is not a number in the metric grammar (no thousands separators)"
            )
        );
        for (out, text, rule) in [
            (
                "loss=12,345,678.5 ok",
                "12,345,678.5",
                Some("no thousands separators"),
            ),
            ("loss 0,5", "0,5", Some("the decimal mark is `.`, not `,`")),
            ("loss: 1_000", "1_000", Some("no `_` between digits")),
            ("loss: 0x10", "0x10", Some("no hexadecimal")),
            ("loss: None", "None", None),
            ("loss: 12:30", "12:30", None),
            ("METRIC loss=1.2.3", "1.2.3", None),
        ] {
            assert_eq!(find_metric(out, "loss"), MetricRead::Missing, "{out}");
            let u = unreadable_value(out, "loss").unwrap_or_else(|| panic!("{out}"));
            assert_eq!((u.text.as_str(), u.rule), (text, rule), "{out}");
        }
        // The last occurrence is named; a long value is cut.
        let u = unreadable_value(&format!("loss: 1,0\nloss: {}", "9,".repeat(50)), "loss").unwrap();
        assert_eq!(u.text.chars().count(), 40);
    }

    #[test]
    fn nothing_is_blamed_without_a_value() {
        for out in [
            "",
            "hello",
            "loss improved a lot",
            "val_loss: 1,234",
            "loss:",
            "{\"loss\": \"1,234\"}",
        ] {
            assert_eq!(unreadable_value(out, "loss"), None, "{out}");
        }
        assert_eq!(unreadable_value("loss: 1,2", ""), None);
    }
}

/// The grammar in words, for `agent-info` (docs/CONTRACT.md §6).
pub const GRAMMAR: &[&str] = &[
    "the eval's stdout and stderr go to .autoresearch/runs/<run>.log; ANSI escapes are stripped and \\r ends a line",
    "the metric is the LAST match in the output of any of these forms:",
    "`<name><sep><number>`: name at line start or after a non-name character; sep is optional spaces then `:` or `=`, or one or more spaces; anything may follow after whitespace",
    "`METRIC <name>=<number>`",
    "a line that is a JSON object with key <name> whose value is a number",
    "number: [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?, no thousands separators, no hex, no `_`",
    "nan, inf or an overflow => crash with reason non_finite_metric; no match => crash with reason no_metric",
    "name characters are letters, digits, `_`, `.`, `-` and `/`",
    "constraints read secondary metrics with the same grammar",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn found(output: &str, name: &str) -> MetricRead {
        find_metric(&clean_output(output), name)
    }

    #[test]
    fn number_grammar_accepts() {
        for (s, v) in [
            ("0", 0.0),
            ("1", 1.0),
            ("-3.5e-2", -0.035),
            ("+.5", 0.5),
            ("1.", 1.0),
            (".25", 0.25),
            ("  7.5\t", 7.5),
            ("1E3", 1000.0),
            ("1e+3", 1000.0),
            ("-0", -0.0),
            ("1e-400", 0.0),
            ("000123.4500", 123.45),
        ] {
            assert_eq!(parse_number(s), Some(Ok(v)), "{s:?}");
        }
    }

    #[test]
    fn number_grammar_rejects() {
        for s in [
            "",
            " ",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "+Infinity",
            "infinity",
            "1_000",
            "0x10",
            "1,000",
            "1.2.3",
            "12abc",
            ".",
            "+",
            "-.",
            "e5",
            "1e",
            "1e+",
            "--1",
            "+-1",
            "1 2",
            "١",
            "0b1",
            "1f",
            "1.0f64",
        ] {
            assert_eq!(parse_number(s), None, "{s:?}");
        }
    }

    #[test]
    fn number_overflow_is_non_finite() {
        assert_eq!(parse_number("1e400"), Some(Err(NonFinite)));
        assert_eq!(parse_number("-1e400"), Some(Err(NonFinite)));
        let huge = format!("1{}", "0".repeat(400));
        assert_eq!(parse_number(&huge), Some(Err(NonFinite)));
    }

    #[test]
    fn brief_examples_match() {
        for (out, name, v) in [
            ("val_bpb:          0.997900", "val_bpb", 0.9979),
            ("val_bpb=0.9979", "val_bpb", 0.9979),
            ("step 500 val_bpb 0.99 (best)", "val_bpb", 0.99),
            ("METRIC val_bpb=0.5", "val_bpb", 0.5),
            ("{\"val_bpb\": 0.98, \"x\": 1}", "val_bpb", 0.98),
            ("score: -3.5e-2", "score", -0.035),
            ("score = +.5", "score", 0.5),
            ("  score:1.", "score", 1.0),
            ("score :1", "score", 1.0),
            ("score\t=\t2", "score", 2.0),
            ("loss: 0.5, acc: 0.9", "loss", 0.5),
            ("loss: 0.5, acc: 0.9", "acc", 0.9),
            ("acc: 95%", "acc", 95.0),
            ("epoch 3 | val_bpb: 0.99 | lr 1e-3", "val_bpb", 0.99),
            ("[val] val_bpb=0.7;", "val_bpb", 0.7),
            ("— score 4", "score", 4.0),
            ("memory_gb: 43.5", "memory_gb", 43.5),
            ("score: 1,", "score", 1.0),
        ] {
            assert_eq!(found(out, name), MetricRead::Found(v), "{out:?}");
        }
    }

    #[test]
    fn non_matches() {
        for (out, name) in [
            ("my_val_bpb: 1", "val_bpb"),
            ("val_bpbx: 1", "val_bpb"),
            ("train/val_bpb: 1", "val_bpb"),
            ("eval.val_bpb: 1", "val_bpb"),
            ("--val_bpb 1", "val_bpb"),
            ("score: 1,000", "score"),
            ("score: 0x10", "score"),
            ("score: 1_000", "score"),
            ("score 1.2.3", "score"),
            ("score 12abc", "score"),
            ("score: 1.5ms", "score"),
            ("score: 12:30", "score"),
            ("score 3/10", "score"),
            ("score 2024-01-01", "score"),
            ("score: information", "score"),
            ("score: nano", "score"),
            ("score improved to 0.9", "score"),
            ("score", "score"),
            ("score:", "score"),
            ("score1", "score"),
            ("score: e5", "score"),
            ("'score': 0.5", "score"),
            ("METRIC val_bpb=abc", "val_bpb"),
            ("{\"val_bpb\": \"0.5\"}", "val_bpb"),
            ("{\"other\": 0.5}", "val_bpb"),
            ("anything", ""),
        ] {
            assert_eq!(found(out, name), MetricRead::Missing, "{out:?}");
        }
    }

    #[test]
    fn non_finite_values() {
        for out in [
            "score: nan",
            "score: NaN",
            "score: -inf",
            "score = +Infinity",
            "score: inf (diverged)",
            "score: 1e400",
            "score -1e400",
            "{\"score\": NaN}",
            "{\"score\": -Infinity}",
            "{\"score\": null}",
            "{\"score\": 1e400}",
        ] {
            assert_eq!(found(out, "score"), MetricRead::NonFinite, "{out:?}");
        }
    }

    #[test]
    fn last_match_wins_across_forms() {
        assert_eq!(found("score: 1\nscore: 2", "score"), MetricRead::Found(2.0));
        assert_eq!(
            found("score: 1\nscore: 2\n\n", "score"),
            MetricRead::Found(2.0)
        );
        assert_eq!(
            found("score: 1\n{\"score\": 2}\nnoise\n", "score"),
            MetricRead::Found(2.0)
        );
        assert_eq!(
            found("{\"score\": 2}\nMETRIC score=3\n", "score"),
            MetricRead::Found(3.0)
        );
        assert_eq!(found("score: 1 score: 2", "score"), MetricRead::Found(2.0));
        // A non-finite value last makes the run non-finite, even after good values...
        assert_eq!(
            found("score: 1\nscore: nan", "score"),
            MetricRead::NonFinite
        );
        // ...and a finite value after a non-finite one wins.
        assert_eq!(
            found("score: nan\nscore: 1", "score"),
            MetricRead::Found(1.0)
        );
        // A later line that mentions the name without a value does not hide the match.
        assert_eq!(
            found("score: 1\nbest score so far\n", "score"),
            MetricRead::Found(1.0)
        );
        // Overlapping occurrences: the second `aa` in `aaa` is preceded by a name char.
        assert_eq!(found("aaa: 1\naa: 2\naaa 3", "aa"), MetricRead::Found(2.0));
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            found("  {\"a\": {\"score\": 9}, \"score\": 0.5}  ", "score"),
            MetricRead::Found(0.5)
        );
        // Nested keys are not top-level keys.
        assert_eq!(
            found("{\"a\": {\"score\": 9}}", "score"),
            MetricRead::Missing
        );
        // Escaped key, duplicate key (the last wins), arrays and strings with brackets.
        assert_eq!(
            found(
                r#"{"s\u0063ore": 1, "l": [1, "]", {"x": "}"}], "score": -2e1, "t": true}"#,
                "score"
            ),
            MetricRead::Found(-20.0)
        );
        // Not an object (trailing text) → the text forms apply; none match here.
        assert_eq!(found("{\"score\": 1} extra", "score"), MetricRead::Missing);
        // Malformed JSON falls back to the text forms.
        assert_eq!(found("{score: 3}", "score"), MetricRead::Found(3.0));
        assert_eq!(found("{}", "score"), MetricRead::Missing);
        // Unicode in strings and keys.
        assert_eq!(
            found("{\"é\": \"ü\\ud83d\\ude00\", \"score\": 4}", "score"),
            MetricRead::Found(4.0)
        );
    }

    #[test]
    fn ansi_and_carriage_returns_are_cleaned() {
        let raw = "\u{1b}[1;32mval_bpb\u{1b}[0m: \u{1b}[33m0.75\u{1b}[0m\n";
        assert_eq!(clean_output(raw), "val_bpb: 0.75\n");
        assert_eq!(found(raw, "val_bpb"), MetricRead::Found(0.75));
        // OSC title with BEL, OSC hyperlink with ST, charset selection, keypad mode.
        let raw = "\u{1b}]0;title\u{7}a\u{1b}]8;;http://x\u{1b}\\b\u{1b}(Bc\u{1b}=d";
        assert_eq!(clean_output(raw), "abcd");
        // An unterminated OSC stops at the line break instead of eating the metric.
        assert_eq!(
            found("\u{1b}]0;broken\nscore: 1\n", "score"),
            MetricRead::Found(1.0)
        );
        // 8-bit CSI, a lone ESC at the end.
        assert_eq!(clean_output("a\u{9b}2Kb\u{1b}"), "ab");
        // Progress bars: each `\r` segment is a line; the last one counts.
        let raw = "\rstep 1 score 0.5\rstep 2 score 0.4\r\nnext";
        assert_eq!(
            clean_output(raw),
            "\nstep 1 score 0.5\nstep 2 score 0.4\nnext"
        );
        assert_eq!(found(raw, "score"), MetricRead::Found(0.4));
        // Uncleaned input still splits on \r.
        assert_eq!(
            find_metric("score 1\rscore 2", "score"),
            MetricRead::Found(2.0)
        );
    }

    #[test]
    fn tail_lines_keeps_the_end() {
        assert_eq!(tail_lines("a\nb\nc\n", 2, 100), "b\nc");
        assert_eq!(tail_lines("a\nb\nc", 5, 100), "a\nb\nc");
        assert_eq!(tail_lines("a\nb\nc", 0, 100), "");
        assert_eq!(tail_lines("", 3, 100), "");
        assert_eq!(tail_lines("abcdef", 1, 3), "def");
        // Multi-byte chars are never split: "é" is 2 bytes.
        assert_eq!(tail_lines("éééé", 1, 3), "é");
        let big = "x".repeat(20_000);
        assert_eq!(tail_lines(&big, 10, 8192).len(), 8192);
    }

    #[test]
    fn log_tail_reads_only_the_tail_of_a_big_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.log");
        let mut f = File::create(&path).expect("create log");
        writeln!(f, "score: 1").expect("write");
        let filler = format!("{}\n", "-".repeat(99));
        for _ in 0..(5 << 20) / filler.len() {
            f.write_all(filler.as_bytes()).expect("write");
        }
        f.flush().expect("flush");
        let tail = read_log_tail(&path, 1 << 20).expect("read tail");
        assert!(tail.len() <= 1 << 20);
        assert!(tail.len() > (1 << 20) - 200);
        // The head of the file (with the only metric) is out of the window.
        assert_eq!(find_metric(&tail, "score"), MetricRead::Missing);
        // Every line kept is whole: the cut line was dropped.
        assert!(tail.lines().all(|l| l.len() == 99));

        writeln!(f, "\u{1b}[1mscore\u{1b}[0m: 2").expect("write");
        let tail = read_log_tail(&path, 1 << 20).expect("read tail");
        assert_eq!(find_metric(&tail, "score"), MetricRead::Found(2.0));
    }

    #[test]
    fn log_tail_edges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.log");
        // Window that starts exactly on a line boundary keeps its first line.
        std::fs::write(&path, "aaaa\nbb: 1\n").expect("write");
        assert_eq!(read_log_tail(&path, 6).expect("read"), "bb: 1\n");
        // Window that cuts a line drops the fragment (`my_val: 5` must not read as `val: 5`).
        std::fs::write(&path, "my_val: 5\nval: 6\n").expect("write");
        assert_eq!(read_log_tail(&path, 12).expect("read"), "val: 6\n");
        assert_eq!(read_log_tail(&path, 13).expect("read"), "val: 6\n");
        // Invalid UTF-8 is replaced, not fatal.
        std::fs::write(&path, b"\xff\xfescore: 3\n").expect("write");
        let t = read_log_tail(&path, 1 << 20).expect("read");
        assert_eq!(find_metric(&t, "score"), MetricRead::Found(3.0));
        // Small file, empty file.
        std::fs::write(&path, "").expect("write");
        assert_eq!(read_log_tail(&path, 1 << 20).expect("read"), "");
        assert!(read_log_tail(&dir.path().join("missing"), 10).is_err());
    }

    #[test]
    fn log_range_reads_one_sample_of_an_appended_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.log");
        std::fs::write(
            &path,
            "--- sample 1 ---\nscore: 5\n--- sample 2 ---\nsteps\n",
        )
        .expect("write");
        let from = "--- sample 1 ---\nscore: 5\n--- sample 2 ---\n".len() as u64;
        let t = read_log_range(&path, from, 1 << 20).expect("read");
        assert_eq!(t, "steps\n");
        assert_eq!(find_metric(&t, "score"), MetricRead::Missing);
        // The window is bounded, and a cut line inside the range is dropped.
        assert_eq!(read_log_range(&path, 0, 10).expect("read"), "steps\n");
        // Past the end: nothing.
        assert_eq!(read_log_range(&path, 1000, 10).expect("read"), "");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_log_that_is_a_device_reads_as_its_length_says() {
        assert_eq!(
            read_log_tail(Path::new("/dev/full"), 1 << 20).expect("read"),
            ""
        );
        assert_eq!(
            read_log_tail(Path::new("/dev/zero"), 1 << 20).expect("read"),
            ""
        );
    }
}
