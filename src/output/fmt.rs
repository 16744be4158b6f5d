//! How numbers, times and long text look in human views. JSON always carries exact values;
//! these only shape what people read.

use autoresearch::git::CodeDiff;
use autoresearch::text::{count, round_significant};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Shown where a value is missing (a crash has no metric, a record no commit).
pub const DASH: &str = "—";

/// Full precision, shortest round-trip form (`0.9979`, `1e-7`).
pub fn fmt_metric(v: f64) -> String {
    format!("{v}")
}

/// A statistical estimate (a noise, a margin): three significant digits, more would be noise.
pub fn fmt_approx(v: f64) -> String {
    format!("{}", round_significant(v, 3))
}

/// A level (a median, maybe the mean of the middle two): 12 significant digits, so float noise
/// from the mean (`5.0081500000000005`) does not show.
pub fn fmt_level(v: Option<f64>) -> String {
    v.map_or_else(
        || DASH.to_string(),
        |v| format!("{}", round_significant(v, 12)),
    )
}

/// A metric, or the dash.
pub fn metric_or_dash(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_string(), fmt_metric)
}

/// A difference for people: 12 significant digits, so float noise from the subtraction
/// (`0.30000000000000004`) does not show, while tiny metrics keep their digits.
pub fn fmt_delta(v: f64) -> String {
    let v = round_significant(v, 12);
    if v > 0.0 {
        format!("+{v}")
    } else {
        format!("{v}")
    }
}

/// At most `max` terminal columns (a CJK character takes two), with an ellipsis when cut.
pub fn shorten(s: &str, max: usize) -> String {
    let s = &*plain(s);
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max.saturating_sub(1) {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// "5m ago" from an RFC 3339 timestamp; empty when it does not parse.
pub fn age(timestamp: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(timestamp) else {
        return String::new();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    match secs {
        s if s < 0 => "just now".to_string(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// `#3 0.9979  halve the warmup`: a run as one line of a summary view, named by its label
/// (`#3`, or `#3@gpu-03` for another worker's run).
pub fn run_line(label: &str, metric: Option<f64>, summary: &str) -> String {
    format!("{label} {}  {}", metric_or_dash(metric), plain(summary))
}

pub use autoresearch::text::plain;

/// A diff stat like `git diff --stat`: a line per file, then the totals in words, with zero
/// parts left out as git does (`1 file changed, 2 insertions(+)`).
pub fn stat_lines(d: &CodeDiff) -> Vec<String> {
    let width = d.files.iter().map(|f| f.path.len()).max().unwrap_or(0);
    let mut out: Vec<String> = d
        .files
        .iter()
        .map(|f| format!(" {:<width$} | +{} -{}", f.path, f.insertions, f.deletions))
        .collect();
    let mut total = vec![format!(
        "{} changed",
        count(d.files_changed, "file", "files")
    )];
    if d.insertions > 0 {
        total.push(format!(
            "{}(+)",
            count(d.insertions, "insertion", "insertions")
        ));
    }
    if d.deletions > 0 {
        total.push(format!(
            "{}(-)",
            count(d.deletions, "deletion", "deletions")
        ));
    }
    out.push(format!(" {}", total.join(", ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_hide_float_noise_but_keep_small_values() {
        assert_eq!(fmt_delta(1.5 - 1.2), "+0.3");
        assert_eq!(fmt_delta(-0.30000000000000004), "-0.3");
        assert_eq!(fmt_delta(1.23456789e-9), "+0.00000000123456789");
        assert_eq!(fmt_delta(0.0), "0");
    }

    #[test]
    fn diff_stats_read_like_git() {
        let diff = |files: usize, insertions: usize, deletions: usize| CodeDiff {
            from: None,
            to: String::new(),
            files_changed: files,
            insertions,
            deletions,
            files: Vec::new(),
            patch: None,
            patch_truncated: false,
        };
        let total = |d: &CodeDiff| stat_lines(d).pop().unwrap();
        assert_eq!(total(&diff(1, 2, 0)), " 1 file changed, 2 insertions(+)");
        assert_eq!(
            total(&diff(2, 1, 1)),
            " 2 files changed, 1 insertion(+), 1 deletion(-)"
        );
        assert_eq!(total(&diff(0, 0, 0)), " 0 files changed");
    }

    #[test]
    fn shortening_counts_columns() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("éé", 2), "éé");
        // Wide characters count twice: 漢字漢 is 6 columns, so 5 columns keep 漢字 and the cut.
        assert_eq!(shorten("漢字漢", 5), "漢字…");
        assert_eq!(shorten("漢字漢", 6), "漢字漢");
    }
}
