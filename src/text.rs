//! Plain-text helpers shared by messages and views: shell quoting for suggested commands,
//! path lists, durations, significant digits and counted nouns. No styling, no output.

use std::time::Duration;

/// A path or word as one shell word, quoted only when it needs to be.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+@%:,=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Several shell words, space-separated, for a suggested command.
pub fn shell_words<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words
        .into_iter()
        .map(shell_word)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `` `a`, `b` ``: paths or names for a message.
pub fn code_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 file`, `2 files`: a count with its noun in the right number (`plural` for irregulars).
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// `v` rounded to `digits` significant digits: hides float noise from arithmetic
/// (`0.1 + 0.2`) in text meant for people; JSON always carries the exact value.
pub fn round_significant(v: f64, digits: usize) -> f64 {
    format!("{:.*e}", digits.saturating_sub(1), v)
        .parse()
        .unwrap_or(v)
}

/// A number in a message: at most 7 significant digits.
pub fn short_number(v: f64) -> String {
    format!("{}", round_significant(v, 7))
}

/// Human form of a duration: `250ms`, `30s`, `5m`, `1h30m`, `2m5.5s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let total = d.as_secs_f64();
    let h = (total / 3600.0).floor() as u64;
    let m = ((total - h as f64 * 3600.0) / 60.0).floor() as u64;
    let s = total - h as f64 * 3600.0 - m as f64 * 60.0;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s >= 0.0005 {
        let s = (s * 1000.0).round() / 1000.0;
        out.push_str(&format!("{s}s"));
    }
    out
}

/// The words of a shell command as `sh` reads them before expanding anything: quotes removed,
/// backslashes applied, comments and operators (`;`, `&`, `|`, `(`, `)`, `<`, `>`) dropped.
/// Left out as well: a word with an unquoted expansion or pattern (`$`, a backquote, `*`, `?`,
/// `[`, a leading `~`), whose meaning only the shell knows, and the word after `>`, a file the
/// command writes rather than reads. Good enough to find the files a command names; not a
/// parser of every shell construct (a here-document's lines are read as words).
pub fn command_words(cmd: &str) -> Vec<String> {
    let mut w = Words::default();
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => w.end(),
            ';' | '&' | '|' | '(' | ')' | '<' | '>' => {
                if matches!(c, '<' | '>') && w.word.bytes().all(|b| b.is_ascii_digit()) {
                    // `2>`: a file descriptor, not a word.
                    w.word.clear();
                    w.started = false;
                }
                w.end();
                w.written |= c == '>';
            }
            '#' if !w.started => while chars.next_if(|&c| c != '\n').is_some() {},
            '\'' => {
                w.started = true;
                while let Some(c) = chars.next_if(|&c| c != '\'') {
                    w.word.push(c);
                }
                chars.next();
            }
            '"' => {
                w.started = true;
                while let Some(c) = chars.next_if(|&c| c != '"') {
                    match c {
                        // Inside double quotes a backslash escapes only these.
                        '\\' => match chars.next() {
                            Some('\n') | None => {}
                            Some(e @ ('$' | '`' | '"' | '\\')) => w.word.push(e),
                            Some(e) => w.word.extend(['\\', e]),
                        },
                        '$' | '`' => w.expand(c),
                        c => w.word.push(c),
                    }
                }
                chars.next();
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(e) => {
                    w.started = true;
                    w.word.push(e);
                }
            },
            '$' | '`' | '*' | '?' | '[' => w.expand(c),
            '~' if !w.started => w.expand(c),
            c => {
                w.started = true;
                w.word.push(c);
            }
        }
    }
    w.end();
    w.out
}

/// The state of [`command_words`].
#[derive(Default)]
struct Words {
    out: Vec<String>,
    word: String,
    /// A word is in progress (`''` is a word, an empty one).
    started: bool,
    /// The word in progress expands: it is dropped.
    expands: bool,
    /// The next word is the target of `>`: it is dropped.
    written: bool,
}

impl Words {
    fn expand(&mut self, c: char) {
        self.started = true;
        self.expands = true;
        self.word.push(c);
    }

    fn end(&mut self) {
        let word = std::mem::take(&mut self.word);
        if self.started {
            if !self.expands && !self.written {
                self.out.push(word);
            }
            self.written = false;
        }
        self.started = false;
        self.expands = false;
    }
}

/// Text from the ledger as it may be printed: without control characters or escape sequences
/// (a hand edit or another machine's record must not drive the terminal), as
/// [`shown_line`] makes it. Borrowed when already plain, which is nearly always.
pub fn plain(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        shown_line(s, usize::MAX).into()
    } else {
        s.into()
    }
}

/// One line of output someone else wrote (an eval's log, a hook's stderr), made safe to show
/// in a terminal: what a carriage return drew over is dropped (a progress bar shows its last
/// state), escape sequences and other control characters are removed (an eval must not move
/// our cursor, retitle the window or hide text), tabs become spaces, and it is cut to `max`
/// characters.
pub fn shown_line(raw: &str, max: usize) -> String {
    let drawn = raw
        .trim_end_matches(['\r', '\n'])
        .rsplit('\r')
        .next()
        .unwrap_or_default();
    let mut out = String::with_capacity(drawn.len().min(max));
    let mut chars = drawn.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => skip_escape(&mut chars),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
        if out.chars().count() >= max {
            break;
        }
    }
    out
}

/// Skip the rest of an escape sequence: CSI (`ESC [ … final`), OSC and the other string
/// sequences (`ESC ] … BEL` or `ESC \\`), or one character.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
        Some(']' | 'P' | '_' | '^' | 'X') => {
            while let Some(c) = chars.next() {
                if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("src/a.py"), "src/a.py");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_words(["a", "b c"]), "a 'b c'");
    }

    #[test]
    fn counts_and_numbers() {
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(short_number(0.1 + 0.2), "0.3");
        assert_eq!(short_number(0.005000000000000004), "0.005");
        assert_eq!(short_number(12345678.0), "12345680");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
    }

    #[test]
    fn command_words_are_the_words_sh_reads() {
        let w = |cmd: &str| command_words(cmd);
        assert_eq!(
            w("python bench.py --fast"),
            ["python", "bench.py", "--fast"]
        );
        assert_eq!(w("uv run 'my bench.py'"), ["uv", "run", "my bench.py"]);
        assert_eq!(
            w(r#"sh "a \"b\".sh" x\ y.sh"#),
            ["sh", "a \"b\".sh", "x y.sh"]
        );
        assert_eq!(
            w("cd .&&sh eval.sh;true|cat<in.txt"),
            ["cd", ".", "sh", "eval.sh", "true", "cat", "in.txt"]
        );
        assert_eq!(
            w("sh a.sh # b.sh\n\tsh c.sh\\\n d.sh"),
            ["sh", "a.sh", "sh", "c.sh", "d.sh"]
        );
        // Expansions and patterns are the shell's to resolve; output files are written.
        assert_eq!(w("sh $DIR/a.sh \"$HOME\" '$x' *.py ~/b.sh"), ["sh", "$x"]);
        assert_eq!(w("sh run.sh > out.txt 2>&1 >>log.txt"), ["sh", "run.sh"]);
        assert_eq!(w("x=''"), ["x="]);
        assert_eq!(w("''"), [""]);
        assert!(w("").is_empty());
    }

    #[test]
    fn a_shown_line_has_no_control_left_and_keeps_what_a_carriage_return_drew_last() {
        assert_eq!(shown_line("10%\r50%\r90%", 80), "90%");
        assert_eq!(shown_line("done\r\n", 80), "done");
        assert_eq!(
            shown_line(
                "\x1b[31mred\x1b[0m \x1b]0;title\x07ok\x1b]8;;u\x1b\\x\tz\x07\u{9b}",
                80
            ),
            "red okx z"
        );
        assert_eq!(shown_line("abcdef", 3), "abc");
        assert_eq!(shown_line("\x1b[", 10), "");
    }
}
