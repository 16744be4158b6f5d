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
}
