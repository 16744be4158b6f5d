//! The fast path of the fold's first read: a scanner for the line shapes our own writer
//! produces (`serde_json::to_vec(&Record)`: every field, in `Record`'s declared order, no
//! whitespace), today's and the one before `code` and `setup` existed (ending at `source`). It
//! either accepts a line it has checked completely, or answers "don't know" and leaves the line
//! to the serde reader in `head`. It never rejects.
//!
//! Soundness rests on accepting only what `Record` accepts, with the same values: the keys are
//! the canonical names in the canonical order (so no key repeats, no alias can collide, nothing
//! is unknown), and each value is checked against the type `Record` gives it, with serde_json's
//! grammar. Anything unusual is left to serde: `\u` escapes, whitespace, numbers with long
//! exponents or more digits than fit an integer, nested values in `metrics`, non-string
//! timestamps, escapes in the branch name, `code` or `setup`. The tests in `head` pin the
//! agreement.

use super::SIMPLIFICATION;
use super::Status;

/// What the fold needs from a line the scanner accepted.
#[derive(Debug, PartialEq)]
pub struct Fast<'a> {
    pub run: u64,
    pub status: Status,
    pub metric: Option<f64>,
    /// Valid UTF-8 without escapes (the whole line was checked).
    pub branch: Option<&'a [u8]>,
    /// The reason is `interrupted`: the run is not a failed idea (see `Scope::fold_parts`).
    pub interrupted: bool,
    /// Every sample, in order, with serde_json's values; `[]` allocates nothing.
    pub samples: Vec<f64>,
    /// Text without escapes (valid UTF-8: the whole line was checked); `None` for `null` and
    /// for a line from before the field existed.
    pub code: Option<&'a str>,
    /// As `code`.
    pub setup: Option<&'a str>,
    /// `flags` holds `simplification`.
    pub simplified: bool,
    /// The record's logical clock (`Record::clock`).
    pub clock: Option<u64>,
}

/// Scan one line (already trimmed of BOM and `\r`, at most `MAX_LINE` long). `Some` only when
/// `Record` accepts the line with exactly these values; `None` means "ask serde".
pub fn scan(line: &[u8]) -> Option<Fast<'_>> {
    if !plain_text(line) {
        return None;
    }
    let mut c = Cursor::new(line);
    c.lit(b"{\"run\":")?;
    let run = c.run()?;
    c.lit(b",\"id\":")?;
    c.string()?;
    c.lit(b",\"timestamp\":")?;
    c.string()?;
    c.lit(b",\"status\":")?;
    let status = c.status()?;
    c.lit(b",\"metric\":")?;
    let metric = c.opt_number()?;
    c.lit(b",\"metrics\":")?;
    c.metrics()?;
    c.lit(b",\"samples\":")?;
    let samples = c.samples()?;
    c.lit(b",\"delta\":")?;
    c.opt_number_checked()?;
    c.lit(b",\"summary\":")?;
    c.string()?;
    c.lit(b",\"commit\":")?;
    c.opt(Cursor::string)?;
    c.lit(b",\"parent\":")?;
    c.opt(Cursor::string)?;
    c.lit(b",\"branch\":")?;
    let branch = c.opt(Cursor::plain_string)?;
    c.lit(b",\"duration_s\":")?;
    c.opt_number_checked()?;
    c.lit(b",\"exit_code\":")?;
    c.opt(Cursor::exit_code)?;
    c.lit(b",\"reason\":")?;
    let reason = c.opt(Cursor::string)?;
    c.lit(b",\"flags\":")?;
    let mut simplified = false;
    c.array(|c| {
        // Raw bytes, as for the reason below.
        simplified |= c.string()? == SIMPLIFICATION.as_bytes();
        Some(())
    })?;
    c.lit(b",\"source\":")?;
    c.string()?;
    // A line written before `code` and `setup` existed ends here; `Record` reads them as null.
    let (code, setup) = if c.peek()? == b',' {
        c.lit(b",\"code\":")?;
        let code = c.opt(Cursor::plain_str)?;
        c.lit(b",\"setup\":")?;
        (code, c.opt(Cursor::plain_str)?)
    } else {
        (None, None)
    };
    let clock = c.optional_tail()?;
    c.lit(b"}")?;
    (c.i == line.len()).then_some(Fast {
        run,
        status,
        metric,
        branch,
        // Raw bytes: with an escape in it, the text could not equal the literal anyway.
        interrupted: reason == Some(super::INTERRUPTED.as_bytes()),
        samples,
        code,
        setup,
        simplified,
        clock,
    })
}

/// No control byte anywhere (serde_json rejects them inside strings, and outside strings the
/// canonical shape has no room for one) and valid UTF-8 (serde_json checks every string).
/// One pass the compiler vectorizes; the UTF-8 check only runs on non-ASCII lines.
fn plain_text(b: &[u8]) -> bool {
    let (lo, hi) = b
        .iter()
        .fold((u8::MAX, 0u8), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    lo >= 0x20 && (hi < 0x80 || std::str::from_utf8(b).is_ok())
}

/// Powers of ten that f64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A number's value when its digits (as an integer, below 2^53) and the power of ten that
/// scales them are both exact in f64: one IEEE multiplication or division is then correctly
/// rounded, the value any correct decimal parser gives (the classic fast path of decimal to
/// binary conversion). `-0` stays negative, as in serde_json.
fn decimal(n: &Num) -> Option<f64> {
    let d = n.digits? as f64;
    let v = if n.pow10 >= 0 {
        d * POW10.get(usize::try_from(n.pow10).ok()?)?
    } else {
        d / POW10.get(usize::try_from(-n.pow10).ok()?)?
    };
    Some(if n.negative { -v } else { v })
}

/// A number in JSON's grammar, as read by `Cursor::number_text`.
struct Num<'a> {
    text: &'a [u8],
    negative: bool,
    /// The significant digits as an integer, when there are at most 15 of them.
    digits: Option<u64>,
    /// The value is `digits × 10^pow10`.
    pow10: i32,
    /// Digits before the point, and the exponent (0 without one).
    int_len: usize,
    exp: i32,
}

/// The index of the next `"` or `\` in `b` from `i`, eight bytes at a time: strings here are
/// short, where a general search's setup costs more than the search.
fn quote_or_backslash(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("an 8-byte slice"));
        let q = w ^ (ONES * u64::from(b'"'));
        let s = w ^ (ONES * u64::from(b'\\'));
        // A zero byte in q or s is a match. The test can also flag a byte just above a match
        // (a borrow), never one below it: the lowest flagged byte is the first match.
        let hit = (q.wrapping_sub(ONES) & !q | s.wrapping_sub(ONES) & !s) & HIGHS;
        if hit != 0 {
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| i + p)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { b, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The fields written only when they apply, in `Record`'s order; `Some(clock)` when the
    /// ones present are well-formed. `hardware` when a class is set (the fold does not need
    /// it); once the clone syncs, the writer, its run number there on another worker's record,
    /// and the logical clock, which the fold keeps the highest of.
    fn optional_tail(&mut self) -> Option<Option<u64>> {
        if self.peek_key(b"hardware") {
            self.lit(b",\"hardware\":")?;
            self.string()?;
        }
        if self.peek_key(b"worker") {
            self.lit(b",\"worker\":")?;
            self.string()?;
        }
        if self.peek_key(b"worker_run") {
            self.lit(b",\"worker_run\":")?;
            self.run()?;
        }
        if !self.peek_key(b"clock") {
            return Some(None);
        }
        self.lit(b",\"clock\":")?;
        Some(Some(self.run()?))
    }

    /// The next text is `,"<name>":` (an optional field's start).
    fn peek_key(&self, name: &[u8]) -> bool {
        let rest = self.b.get(self.i..).unwrap_or_default();
        rest.starts_with(b",\"")
            && rest[2..].starts_with(name)
            && rest[2 + name.len()..].starts_with(b"\":")
    }

    /// A fixed piece of text. Compared as an array, which compiles to a few word compares.
    fn lit<const N: usize>(&mut self, s: &[u8; N]) -> Option<()> {
        let here: &[u8; N] = self.b.get(self.i..self.i + N)?.try_into().ok()?;
        if here == s {
            self.i += N;
            Some(())
        } else {
            None
        }
    }

    /// `null`, or what `f` reads.
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.lit(b"null")?;
            Some(None)
        } else {
            f(self).map(Some)
        }
    }

    /// A string with at most the short escapes (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`);
    /// `\u` is left to serde (surrogate pairs). Returns the raw bytes between the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut i = start;
        loop {
            i = quote_or_backslash(self.b, i)?;
            if self.b[i] == b'"' {
                self.i = i + 1;
                return Some(&self.b[start..i]);
            }
            match self.b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                _ => return None,
            }
        }
    }

    /// A string without any escape: its text is its bytes (valid UTF-8: `plain_text`).
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        let raw = self.string()?;
        (!raw.contains(&b'\\')).then_some(raw)
    }

    /// `plain_string` as text: the bytes between two quotes of a line of valid UTF-8 are valid
    /// UTF-8 (the check is a short ASCII pass).
    fn plain_str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.plain_string()?).ok()
    }

    fn status(&mut self) -> Option<Status> {
        Some(match self.string()? {
            b"baseline" => Status::Baseline,
            b"kept" | b"keep" => Status::Kept,
            b"discarded" | b"discard" => Status::Discarded,
            b"crash" => Status::Crash,
            b"timeout" => Status::Timeout,
            b"recheck" => Status::Recheck,
            b"retraction" => Status::Retraction,
            _ => return None,
        })
    }

    /// The digits of an integer without sign: `0` or no leading zero. Returns them.
    fn digits(&mut self) -> Option<&'a [u8]> {
        let d = self.skip_digits();
        (!d.is_empty() && (d[0] != b'0' || d.len() == 1)).then_some(d)
    }

    /// Any run of digits (possibly empty).
    fn skip_digits(&mut self) -> &'a [u8] {
        let rest = &self.b[self.i..];
        let n = rest
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        self.i += n;
        &rest[..n]
    }

    /// `run`: a JSON integer that fits u64 (serde_json reads a fraction or exponent as f64,
    /// which `u64` refuses).
    fn run(&mut self) -> Option<u64> {
        let d = self.digits()?;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        d.iter().try_fold(0u64, |n, &c| {
            n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        })
    }

    /// `exit_code`: an integer that fits i32. `-0` is left to serde, which reads it as a
    /// float and refuses it.
    fn exit_code(&mut self) -> Option<i32> {
        let neg = self.peek()? == b'-';
        if neg {
            self.i += 1;
        }
        let d = self.digits()?;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) || d.len() > 10 || (neg && d == b"0") {
            return None;
        }
        let n = d.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'));
        i32::try_from(if neg { -n } else { n }).ok()
    }

    /// A JSON number as serde_json reads it into f64 (it refuses one that overflows), or
    /// `None` for "ask serde". The value is exact: see `decimal`.
    fn number(&mut self) -> Option<f64> {
        let n = self.number_text()?;
        if let Some(v) = decimal(&n) {
            return Some(v);
        }
        let v: f64 = std::str::from_utf8(n.text).ok()?.parse().ok()?;
        v.is_finite().then_some(v)
    }

    /// A JSON number whose value is not needed, only serde_json's acceptance (it refuses one
    /// that overflows f64): below 10^300 needs no parse.
    fn number_checked(&mut self) -> Option<()> {
        let at = self.i;
        let n = self.number_text()?;
        if (n.int_len as i64) + i64::from(n.exp) < 300 {
            return Some(());
        }
        self.i = at;
        self.number().map(drop)
    }

    /// A number in JSON's grammar. Leaves to serde the numbers that take serde_json's special
    /// paths: exponents of more than three digits, integers too long for i64/u64.
    fn number_text(&mut self) -> Option<Num<'a>> {
        let start = self.i;
        let negative = self.peek()? == b'-';
        if negative {
            self.i += 1;
        }
        let int = self.digits()?;
        let mut frac: &[u8] = &[];
        if self.peek() == Some(b'.') {
            self.i += 1;
            frac = self.skip_digits();
            if frac.is_empty() {
                return None;
            }
        }
        let mut exp = 0i32;
        let mut has_exp = false;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            has_exp = true;
            let minus = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let e = self.skip_digits();
            if e.is_empty() || e.len() > 3 {
                return None;
            }
            exp = e.iter().fold(0i32, |n, &d| n * 10 + i32::from(d - b'0'));
            if minus {
                exp = -exp;
            }
        }
        if !has_exp && frac.is_empty() && int.len() > 18 {
            return None;
        }
        let digits = (int.len() + frac.len() <= 15).then(|| {
            int.iter()
                .chain(frac)
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
        });
        Some(Num {
            text: &self.b[start..self.i],
            negative,
            digits,
            pow10: exp - frac.len() as i32,
            int_len: int.len(),
            exp,
        })
    }

    fn opt_number(&mut self) -> Option<Option<f64>> {
        self.opt(Cursor::number)
    }

    fn opt_number_checked(&mut self) -> Option<()> {
        self.opt(Cursor::number_checked).map(drop)
    }

    /// `samples`: `[]` (no allocation) or numbers, each with the value serde_json gives it.
    fn samples(&mut self) -> Option<Vec<f64>> {
        let mut v = Vec::new();
        self.array(|c| {
            v.push(c.number()?);
            Some(())
        })?;
        Some(v)
    }

    /// `[]` or `[x,y,…]` of what `item` reads.
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<()> {
        self.lit(b"[")?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `metrics`: `null`, or an object of string keys to scalars (`Record` keeps the numbers
    /// and drops the rest; a repeated key is fine for a map). Nested values go to serde.
    fn metrics(&mut self) -> Option<()> {
        if self.peek()? == b'n' {
            return self.lit(b"null");
        }
        self.lit(b"{")?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.string()?;
            self.lit(b":")?;
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'n' => self.lit(b"null")?,
                b't' => self.lit(b"true")?,
                b'f' => self.lit(b"false")?,
                _ => self.number_checked()?,
            }
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"run":3,"id":"a-b","timestamp":"2026-01-01T00:00:00.000Z","status":"kept","metric":0.5,"metrics":{"m":1},"samples":[0.5,0.6],"delta":-0.1,"summary":"s \"q\"","commit":"c","parent":null,"branch":"b","duration_s":1.5,"exit_code":0,"reason":null,"flags":["x"],"source":"run"}"#;

    /// Today's shape: `code` and `setup` after `source`.
    fn new_line() -> String {
        LINE.replacen(
            r#""source":"run"}"#,
            r#""source":"run","code":"ab12","setup":"cd34"}"#,
            1,
        )
    }

    #[test]
    fn accepts_the_writers_shape() {
        let f = scan(LINE.as_bytes()).expect("canonical line");
        assert_eq!(
            f,
            Fast {
                run: 3,
                status: Status::Kept,
                metric: Some(0.5),
                branch: Some(&b"b"[..]),
                interrupted: false,
                samples: vec![0.5, 0.6],
                code: None,
                setup: None,
                simplified: false,
                clock: None,
            }
        );
        let line = new_line().replacen(r#"["x"]"#, r#"["x","simplification"]"#, 1);
        let f = scan(line.as_bytes()).expect("today's canonical line");
        assert_eq!(
            (f.samples, f.code, f.setup, f.simplified),
            (vec![0.5, 0.6], Some("ab12"), Some("cd34"), true)
        );
        let line = new_line()
            .replacen(r#""ab12""#, "null", 1)
            .replacen(r#""cd34""#, r#""é""#, 1)
            .replacen("[0.5,0.6]", "[]", 1);
        let f = scan(line.as_bytes()).expect("null code");
        assert_eq!(
            (f.samples.capacity(), f.code, f.setup),
            (0, None, Some("é"))
        );
    }

    #[test]
    fn leaves_the_unusual_to_serde() {
        for (from, to) in [
            (r#""run":3"#, r#""run": 3"#),
            (r#""run":3"#, r#""run":03"#),
            (r#""run":3"#, r#""run":3.0"#),
            (r#""run":3"#, r#""run":18446744073709551616"#),
            (r#""metric":0.5"#, r#""metric":1e999"#),
            (r#""metric":0.5"#, r#""metric":1e0001"#),
            (r#""metric":0.5"#, r#""metric":.5"#),
            (r#""metric":0.5"#, r#""metric":5."#),
            (r#""metric":0.5"#, r#""metric":+5"#),
            (r#""metric":0.5"#, r#""metric":"0.5""#),
            (r#""metric":0.5"#, r#""value":0.5"#),
            (r#""exit_code":0"#, r#""exit_code":-0"#),
            (r#""exit_code":0"#, r#""exit_code":2147483648"#),
            (r#""exit_code":0"#, r#""exit_code":1.0"#),
            (r#""branch":"b""#, r#""branch":"b\n""#),
            (r#""summary":"s"#, r#""summary":"\u0041"#),
            (r#""summary":"s"#, r#""summary":"\x"#),
            (r#""metrics":{"m":1}"#, r#""metrics":{"m":[1]}"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[0.5,]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":null"#),
            (r#""status":"kept""#, r#""status":"Kept""#),
            (r#""source":"run"}"#, r#""source":"run"} "#),
            (r#""source":"run"}"#, r#""source":"run","x":1}"#),
        ] {
            let line = LINE.replacen(from, to, 1);
            assert_ne!(line, LINE, "{to}");
            assert!(scan(line.as_bytes()).is_none(), "{line}");
        }
        let new = new_line();
        assert!(scan(new.as_bytes()).is_some());
        for (from, to) in [
            (r#""code":"ab12""#, r#""code":"a\/b""#),
            (r#""code":"ab12""#, r#""code":"\u0061""#),
            (r#""code":"ab12""#, r#""code":5"#),
            (r#""code":"ab12""#, r#""code": "ab12""#),
            (r#""setup":"cd34""#, r#""setup":"c\"d""#),
            (r#""setup":"cd34""#, r#""setup":nul"#),
            (r#","setup":"cd34""#, ""),
            (r#""code":"ab12","#, ""),
            (
                r#""code":"ab12","setup":"cd34""#,
                r#""setup":"cd34","code":"ab12""#,
            ),
            (r#""cd34"}"#, r#""cd34","x":1}"#),
            (r#""cd34"}"#, r#""cd34"} "#),
            (r#""cd34"}"#, r#""cd34","code":"ab12"}"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[0.5,1e999]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[0.5,null]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":["0.5"]"#),
            (r#""samples":[0.5,0.6]"#, r#""samples":[1e0001]"#),
        ] {
            let line = new.replacen(from, to, 1);
            assert_ne!(line, new, "{to}");
            assert!(scan(line.as_bytes()).is_none(), "{line}");
        }
        let ctl = LINE.replacen("s \\\"q", "s \t", 1);
        assert!(scan(ctl.as_bytes()).is_none());
        let mut bad_utf8 = LINE.as_bytes().to_vec();
        let at = LINE.find("s \\\"q").unwrap();
        bad_utf8[at] = 0xff;
        assert!(scan(&bad_utf8).is_none());
    }

    #[test]
    fn numbers_read_as_serde_reads_them() {
        for n in [
            "0",
            "-0",
            "-0.0",
            "1",
            "-1",
            "123456789012345678",
            "9007199254740993",
            "0.1",
            "1e-5",
            "1E+5",
            "2.5e-308",
            "4.9e-324",
            "1e-400",
            "1.7976931348623157e308",
            "0.30000000000000004",
            "-123.456e-7",
            "1e23",
            "8.98846567431158e307",
        ] {
            let json: f64 = serde_json::from_str(n).unwrap();
            let mut c = Cursor::new(n.as_bytes());
            let ours = c.number().expect(n);
            assert_eq!(ours.to_bits(), json.to_bits(), "{n}");
            assert_eq!(c.i, n.len());
        }
        for n in ["1e309", "-1e999", "01", "1.", "-", "1e", "1e+"] {
            let mut c = Cursor::new(n.as_bytes());
            assert!(c.number().is_none() || c.i != n.len(), "{n}");
        }
    }
}
