//! Writing SVG text: escaped user text, coordinates rounded to one decimal, and the shapes of
//! the marks. Nothing here can write `NaN` or `inf`: a non-finite coordinate is written as 0.

use std::fmt;

/// Appends formatted text to a `String`.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        // Writing into a String cannot fail.
        std::fmt::Write::write_fmt($out, format_args!($($arg)*)).expect("writing to a String")
    };
}
pub(super) use put;

/// A coordinate, rounded to a tenth of a pixel: `12`, `12.5`, never `-0`, `NaN` or `inf`.
#[derive(Debug, Clone, Copy)]
pub struct C(pub f64);

impl fmt::Display for C {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10.0).round();
        // Adding 0.0 turns -0 into 0; the clamp keeps a stray value on the canvas's scale.
        let tenths = if tenths.is_finite() {
            tenths.clamp(-1e7, 1e7) + 0.0
        } else {
            0.0
        };
        let whole = (tenths / 10.0).trunc();
        let tenth = (tenths - whole * 10.0).abs();
        if tenth == 0.0 {
            write!(f, "{whole}")
        } else if tenths < 0.0 && whole == 0.0 {
            write!(f, "-0.{tenth}")
        } else {
            write!(f, "{whole}.{tenth}")
        }
    }
}

/// Text made safe for an XML text node or attribute: the five special characters become
/// references, line breaks and tabs become spaces (every text here is one line), and control
/// characters, which XML 1.0 cannot carry at all, become U+FFFD.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(|c: char| "&<>\"'".contains(c) || c.is_control()) {
            f.write_str(&rest[..i])?;
            let c = rest[i..]
                .chars()
                .next()
                .expect("find returned a char boundary");
            f.write_str(match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&apos;",
                '\t' | '\n' | '\r' => " ",
                _ => "\u{FFFD}",
            })?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `s` cut to at most `max` characters, the last one an ellipsis when cut, surrounding
/// whitespace trimmed.
pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// The kinds of shape a mark can take; the chart picks one per mark so that no two marks
/// differ by colour alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// A filled circle of this radius.
    Dot(f64),
    /// An open circle of this radius.
    Hollow(f64),
    /// An ×.
    Cross,
    /// A ◆.
    Diamond,
    /// A triangle pointing up (a value above the range), its tip at the given point.
    Up,
    /// A triangle pointing down (a value below the range), its tip at the given point.
    Down,
}

impl Shape {
    /// Opens the element of this shape at (x, y) with `class`, leaving the tag open for more
    /// attributes; returns the element's name, for `close`.
    pub fn open(self, out: &mut String, class: &str, x: f64, y: f64) -> &'static str {
        let (cx, cy) = (C(x), C(y));
        match self {
            Shape::Dot(r) | Shape::Hollow(r) => {
                put!(
                    out,
                    r#"<circle class="{class}" cx="{cx}" cy="{cy}" r="{}""#,
                    C(r)
                );
                "circle"
            }
            Shape::Cross => {
                let (x0, y0) = (C(x - 3.5), C(y - 3.5));
                put!(out, r#"<path class="{class}" d="M{x0} {y0}l7 7m0-7l-7 7""#);
                "path"
            }
            Shape::Diamond => {
                let top = C(y - 4.5);
                put!(
                    out,
                    r#"<path class="{class}" d="M{cx} {top}l4.5 4.5-4.5 4.5-4.5-4.5z""#
                );
                "path"
            }
            Shape::Up => {
                put!(out, r#"<path class="{class}" d="M{cx} {cy}l4.5 8h-9z""#);
                "path"
            }
            Shape::Down => {
                put!(out, r#"<path class="{class}" d="M{cx} {cy}l4.5-8h-9z""#);
                "path"
            }
        }
    }
}

/// Closes an element opened by `Shape::open`, with a tooltip when there is one.
pub fn close(out: &mut String, tag: &str, tooltip: Option<&str>) {
    match tooltip {
        Some(t) => put!(out, "><title>{}</title></{tag}>\n", Esc(t)),
        None => out.push_str("/>\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_short_and_always_finite() {
        let s = |v: f64| C(v).to_string();
        assert_eq!(s(12.0), "12");
        assert_eq!(s(12.46), "12.5");
        assert_eq!(s(-0.04), "0");
        assert_eq!(s(-0.06), "-0.1");
        assert_eq!(s(-3.25), "-3.3");
        assert_eq!(s(f64::NAN), "0");
        assert_eq!(s(f64::INFINITY), "0");
        assert_eq!(s(1e300), "1000000");
    }

    #[test]
    fn text_is_escaped_and_stays_one_line_of_legal_characters() {
        let e = Esc("<a href='x'>\"&\"</a>\nnext\u{1}\u{7f}").to_string();
        assert_eq!(
            e,
            "&lt;a href=&apos;x&apos;&gt;&quot;&amp;&quot;&lt;/a&gt; next\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("  short  ", 40), "short");
        assert_eq!(clip("ééééé", 4), "ééé…");
        assert_eq!(clip("ab cd", 4), "ab…");
    }
}
