//! Output policy (CONTRACT §1–2): which mode a call is in, the JSON envelopes, the human
//! renderers' trait, colour, and a stdout writer for which a closed pipe is a quiet exit.
//!
//! Commands never print. They return data; this module turns it into exactly one JSON document
//! or a human view, so "every stdout path respects the format" holds by construction.

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Json,
    Human,
}

impl Mode {
    /// `--json` / `--human` win, then `AUTORESEARCH_FORMAT`, then "is stdout a terminal?".
    pub fn detect(json: bool, human: bool) -> Mode {
        if json {
            return Mode::Json;
        }
        if human {
            return Mode::Human;
        }
        match std::env::var("AUTORESEARCH_FORMAT").ok().as_deref() {
            Some("json") => Mode::Json,
            Some("human") => Mode::Human,
            _ if io::stdout().is_terminal() => Mode::Human,
            _ => Mode::Json,
        }
    }
}

/// Colour only on a terminal and never with `NO_COLOR` set (to anything non-empty).
pub fn color_enabled(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A closed stdout ends the process quietly: no panic, no exit 101, no error message.
pub fn quiet_exit_on_broken_pipe(err: &io::Error) {
    if err.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// Buffered, locked stdout whose writes end the process quietly on a broken pipe.
pub struct Stdout {
    inner: io::BufWriter<io::StdoutLock<'static>>,
}

impl Stdout {
    pub fn new() -> Self {
        Stdout {
            inner: io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }
}

impl Stdout {
    pub fn write_all_str(&mut self, s: &str) -> io::Result<()> {
        self.write_all(s.as_bytes())
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(quiet_exit_on_broken_pipe)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner
            .write_all(buf)
            .inspect_err(quiet_exit_on_broken_pipe)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(quiet_exit_on_broken_pipe)
    }
}

/// Best-effort stderr line: unlike `eprintln!`, never panics when stderr is gone.
pub fn stderr_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
}

/// ANSI styling that collapses to plain text when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.wrap("2", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    pub fn green(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    pub fn cyan(&self, t: &str) -> String {
        self.wrap("36", t)
    }
}

/// Where a human view is written, with the colour policy for stdout.
pub struct Printer {
    pub out: Stdout,
    pub paint: Paint,
}

impl Printer {
    pub fn new() -> Self {
        Printer {
            out: Stdout::new(),
            paint: Paint {
                on: color_enabled(io::stdout().is_terminal()),
            },
        }
    }

    pub fn line(&mut self, text: impl AsRef<str>) -> io::Result<()> {
        self.out.write_all(text.as_ref().as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// `key: value` with the key padded to `width`, the common shape of summary views.
    pub fn kv(&mut self, key: &str, width: usize, value: impl AsRef<str>) -> io::Result<()> {
        let padded = format!("{key:<width$}");
        let key = self.paint.dim(&padded);
        self.line(format!("{key}  {}", value.as_ref()))
    }
}

impl Default for Printer {
    fn default() -> Self {
        Self::new()
    }
}

/// A command's result as a person reads it.
pub trait Human {
    fn human(&self, p: &mut Printer) -> io::Result<()>;
}

impl Human for () {
    fn human(&self, _: &mut Printer) -> io::Result<()> {
        Ok(())
    }
}

/// A spinner on stderr while an eval runs: a label, elapsed time against the budget and the
/// latest output line. Drawn only when stderr is a terminal (CONTRACT §1); otherwise every call
/// is a no-op, so callers need no checks of their own.
pub struct Spinner {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    budget: String,
}

impl Spinner {
    pub fn new() -> Spinner {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        Spinner {
            bar,
            label: String::new(),
            budget: String::new(),
        }
    }

    /// A new evaluation starts.
    pub fn start(&mut self, label: String, budget: std::time::Duration) {
        self.label = label;
        self.budget = crate::config::format_duration(budget);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}  0s / {}", self.label, self.budget));
        }
    }

    /// Called about every 100 ms while it runs.
    pub fn tick(&mut self, elapsed: std::time::Duration, line: Option<&str>) {
        if let Some(bar) = &self.bar {
            let line = line.map(|l| shorten(l, 60)).unwrap_or_default();
            bar.set_message(format!(
                "{}  {:.1}s / {}  {line}",
                self.label,
                elapsed.as_secs_f64(),
                self.budget
            ));
            bar.tick();
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Default for Spinner {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `v` rounded to `digits` significant digits: hides float noise from arithmetic
/// (`0.1 + 0.2`) in text meant for people; JSON always carries the exact value.
pub fn round_significant(v: f64, digits: usize) -> f64 {
    format!("{:.*e}", digits.saturating_sub(1), v)
        .parse()
        .unwrap_or(v)
}

/// At most `max` characters, with an ellipsis when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A fresh table in the house style: no borders, header row, dynamic width.
pub fn table(headers: &[&str]) -> comfy_table::Table {
    use comfy_table::{ContentArrangement, Table, presets};
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().copied());
    t
}

#[derive(Serialize)]
struct SuccessEnvelope<'a, T: Serialize> {
    status: &'static str,
    command: &'a str,
    data: &'a T,
    hints: &'a [String],
    warnings: &'a [String],
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
    suggestion: &'a str,
}

#[derive(Serialize)]
struct ErrorEnvelope<'a, T: Serialize> {
    status: &'static str,
    command: &'a str,
    error: ErrorBody<'a>,
    /// Only for commands whose findings matter even when they fail (`doctor`'s checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
    hints: &'a [String],
    warnings: &'a [String],
}

/// Write a success: the envelope in JSON mode, the view plus notes in human mode.
pub fn emit_success<T: Serialize + Human>(
    mode: Mode,
    command: &str,
    data: &T,
    hints: &[String],
    warnings: &[String],
) -> io::Result<()> {
    match mode {
        Mode::Json => {
            let mut out = Stdout::new();
            let env = SuccessEnvelope {
                status: "success",
                command,
                data,
                hints,
                warnings,
            };
            serde_json::to_writer(&mut out, &env).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
            out.flush()
        }
        Mode::Human => {
            human_notes(warnings, &[]);
            let mut p = Printer::new();
            data.human(&mut p)?;
            p.out.flush()?;
            human_notes(&[], hints);
            Ok(())
        }
    }
}

/// Write a failure: the error envelope on stdout in JSON mode; `error:` / `try:` on stderr.
/// `data`, when given, is carried in the envelope and shown before the error in human mode.
pub fn emit_error<T: Serialize + Human>(
    mode: Mode,
    command: &str,
    err: &AppError,
    data: Option<&T>,
    hints: &[String],
    warnings: &[String],
) -> io::Result<()> {
    match mode {
        Mode::Json => {
            let mut out = Stdout::new();
            let env = ErrorEnvelope {
                status: "error",
                command,
                error: ErrorBody {
                    code: err.code.as_str(),
                    message: &err.message,
                    suggestion: &err.suggestion,
                },
                data,
                hints,
                warnings,
            };
            serde_json::to_writer(&mut out, &env).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
            out.flush()
        }
        Mode::Human => {
            human_notes(warnings, &[]);
            if let Some(data) = data {
                let mut p = Printer::new();
                data.human(&mut p)?;
                p.out.flush()?;
            }
            let paint = Paint {
                on: color_enabled(io::stderr().is_terminal()),
            };
            stderr_line(&format!("{} {}", paint.red("error:"), err.message));
            stderr_line(&format!("  {} {}", paint.dim("try:"), err.suggestion));
            human_notes(&[], hints);
            Ok(())
        }
    }
}

/// Warnings and hints in human mode go to stderr so stdout stays the view alone.
fn human_notes(warnings: &[String], hints: &[String]) {
    let paint = Paint {
        on: color_enabled(io::stderr().is_terminal()),
    };
    for w in warnings {
        stderr_line(&format!("{} {w}", paint.yellow("warning:")));
    }
    for h in hints {
        stderr_line(&format!("{} {h}", paint.cyan("hint:")));
    }
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
    }
}
