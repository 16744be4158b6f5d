//! Colour: the policy (`--color`, `NO_COLOR`, `CLICOLOR_FORCE`, a terminal) and ANSI styling
//! that collapses to plain text when colour is off. Styling never changes layout: callers pad
//! a cell to its width first and paint it afterwards (`table` does this for every table).

use autoresearch::ledger::Status;

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set; `CLICOLOR_FORCE` forces it on.
    #[default]
    Auto,
    /// Colour even into a pipe or a file.
    Always,
    /// No colour.
    Never,
}

impl ColorChoice {
    /// Is colour on for a stream? The flag wins; then `NO_COLOR` (set and non-empty: off);
    /// then `CLICOLOR_FORCE` (set, non-empty and not `0`: on); then whether it is a terminal.
    pub fn enabled(self, stream_is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
                if set("NO_COLOR").is_some() {
                    return false;
                }
                if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                    return true;
                }
                stream_is_terminal
            }
        }
    }
}

/// A style a piece of human output may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Plain,
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
    Cyan,
}

impl Style {
    fn code(self) -> Option<&'static str> {
        match self {
            Style::Plain => None,
            Style::Bold => Some("1"),
            Style::Dim => Some("2"),
            Style::Red => Some("31"),
            Style::Green => Some("32"),
            Style::Yellow => Some("33"),
            Style::Cyan => Some("36"),
        }
    }

    /// The colour of a status word: kept green, crash red, and so on.
    pub fn of_status(s: Status) -> Style {
        match s {
            Status::Kept => Style::Green,
            Status::Baseline => Style::Cyan,
            Status::Discarded | Status::Recheck | Status::Retraction => Style::Dim,
            Status::Crash | Status::Timeout => Style::Red,
        }
    }
}

/// ANSI styling that collapses to plain text when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    /// `text` in `style`; the text itself when colour is off or the style is plain.
    pub fn style(&self, style: Style, text: &str) -> String {
        match style.code() {
            Some(code) if self.on => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }
    pub fn bold(&self, t: &str) -> String {
        self.style(Style::Bold, t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.style(Style::Dim, t)
    }
    pub fn red(&self, t: &str) -> String {
        self.style(Style::Red, t)
    }
    pub fn green(&self, t: &str) -> String {
        self.style(Style::Green, t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.style(Style::Yellow, t)
    }
    pub fn cyan(&self, t: &str) -> String {
        self.style(Style::Cyan, t)
    }
    /// A status word in its colour.
    pub fn status(&self, s: Status) -> String {
        self.style(Style::of_status(s), s.as_str())
    }
}

/// Strip ANSI CSI sequences (what `Paint` writes): for tests comparing colour and plain views.
#[cfg(test)]
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_off_is_plain() {
        let p = Paint { on: false };
        assert_eq!(p.red("x"), "x");
        let p = Paint { on: true };
        assert_eq!(p.red("x"), "\x1b[31mx\x1b[0m");
        assert_eq!(p.style(Style::Plain, "x"), "x");
        assert_eq!(strip_ansi(&p.status(Status::Kept)), "kept");
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        assert!(ColorChoice::Always.enabled(false));
        assert!(!ColorChoice::Never.enabled(true));
    }
}
