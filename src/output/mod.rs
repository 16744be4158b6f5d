//! The output layer (docs/CONTRACT.md §1–2): which mode a call is in, the colour policy, the
//! JSON envelopes, the human renderers' trait and helpers, and a stdout for which a closed pipe
//! is a quiet exit.
//!
//! Commands never print. They return data; this module turns it into exactly one JSON document
//! or a human view, so "every stdout path respects the format" holds by construction.

mod fmt;
mod paint;
mod spinner;
mod stdout;
mod table;

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use autoresearch::error::AppError;
use autoresearch::git::CodeDiff;

pub use fmt::{
    DASH, age, fmt_approx, fmt_delta, fmt_level, fmt_metric, metric_or_dash, run_line, shorten,
};
#[cfg(test)]
pub use paint::strip_ansi;
pub use paint::{ColorChoice, Paint, Style};
pub use spinner::Spinner;
pub use stdout::{Stdout, quiet_exit_on_broken_pipe, stderr_line};
pub use table::{Cell, Table};

/// The environment the output layer reads, for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "AUTORESEARCH_FORMAT",
        "json or human: the default output mode",
    ),
    ("NO_COLOR", "set: no colour in human output"),
    (
        "CLICOLOR_FORCE",
        "set, non-empty and not `0`: colour in human output even into a pipe (`--color` and `NO_COLOR` win)",
    ),
];

/// The envelope's rules, for `agent-info` (docs/CONTRACT.md §1–2).
pub const ENVELOPE_RULES: &[&str] = &[
    "JSON mode with --json, or when stdout is not a terminal; --human forces tables; AUTORESEARCH_FORMAT=json|human sets the default",
    "exactly one JSON document per call on stdout, one line, keys in a stable order",
    "exceptions: `export` writes the data itself; `review --raw` prints the prompt alone; `watch` writes JSON Lines events (hello, run_started, record, loop, alert, heartbeat, end), one per line; `completions` and `man` print their script or page in either mode; `guide` in human mode prints plain text",
    "install results per path: created, updated, unchanged, kept-modified, skipped, replaced; uninstall: removed, kept-modified, not-installed, skipped",
    "hints: coaching for the next step; warnings: problems that did not stop the command; both always arrays",
    "error.suggestion is a literal next step, usually a runnable command",
    "a doctor failure also carries its checks in `data`",
];

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

/// How this call writes: its mode and its colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Render {
    pub mode: Mode,
    pub color: ColorChoice,
}

impl Render {
    fn paint_stdout(self) -> Paint {
        Paint {
            on: self.color.enabled(io::stdout().is_terminal()),
        }
    }
    fn paint_stderr(self) -> Paint {
        Paint {
            on: self.color.enabled(io::stderr().is_terminal()),
        }
    }
}

/// What a command returns. Most always succeed when they return; `doctor` can return its
/// findings *and* a failure, so the agent sees the checks and a non-zero exit together.
pub trait Output: Serialize + Human {
    fn failure(&self) -> Option<AppError> {
        None
    }
    /// The command already wrote its data to stdout (`export`): print no envelope.
    fn printed(&self) -> bool {
        false
    }
    /// Text to print as it is instead of the envelope or the view, in either mode
    /// (`review --raw`): no envelope, no hints; warnings go to stderr.
    fn raw(&self) -> Option<&str> {
        None
    }
    /// The exit code of a command that wrote its own output (`watch`).
    fn printed_exit(&self) -> u8 {
        0
    }
}

/// Where a human view is written, with the colour policy for stdout.
pub struct Printer {
    pub out: Stdout,
    pub paint: Paint,
}

impl Printer {
    pub fn new(paint: Paint) -> Self {
        Printer {
            out: Stdout::new(),
            paint,
        }
    }

    pub fn line(&mut self, text: impl AsRef<str>) -> io::Result<()> {
        self.out.write_all(text.as_ref().as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// `key  value` with the key padded to `width` (then dimmed): the shape of summary views.
    pub fn kv(&mut self, key: &str, width: usize, value: impl AsRef<str>) -> io::Result<()> {
        let padded = format!("{key:<width$}");
        let key = self.paint.dim(&padded);
        self.line(format!("{key}  {}", value.as_ref()))
    }

    /// `improvement  +0.3 (20.000%)` in the summary views of `status` and `best`.
    pub fn improvement(
        &mut self,
        width: usize,
        improvement: Option<f64>,
        pct: Option<f64>,
    ) -> io::Result<()> {
        let Some(imp) = improvement else {
            return Ok(());
        };
        let pct = pct.map(|v| format!(" ({v:.3}%)")).unwrap_or_default();
        let text = self.paint.green(&format!("{}{pct}", fmt_delta(imp)));
        self.kv("improvement", width, text)
    }

    /// A code change as `best` and `diff` show it: the stat, then the patch when there is one.
    pub fn code_diff(&mut self, code: &CodeDiff) -> io::Result<()> {
        self.line("")?;
        for l in fmt::stat_lines(code) {
            self.line(l)?;
        }
        if let Some(patch) = &code.patch {
            self.line("")?;
            self.out.write_all_str(patch)?;
            if code.patch_truncated {
                let note = self.paint.dim("… (patch cut; raise --max-patch-bytes)");
                self.line(note)?;
            }
        }
        Ok(())
    }

    /// Every line of a table.
    pub fn table(&mut self, table: &Table) -> io::Result<()> {
        for line in table.render(&self.paint) {
            self.line(line)?;
        }
        Ok(())
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

/// The hints and warnings a call collected, for its envelope.
pub struct Notes<'a> {
    pub hints: &'a [String],
    pub warnings: &'a [String],
}

/// One JSON document on stdout, streamed (a data type may serialize lazily, as `log --all`
/// does), then a newline.
fn write_json(value: &impl Serialize) -> io::Result<()> {
    let mut out = Stdout::new();
    serde_json::to_writer(&mut out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Write a success: the envelope in JSON mode, the view plus notes in human mode.
pub fn emit_success<T: Serialize + Human>(
    render: Render,
    command: &str,
    data: &T,
    notes: Notes,
) -> io::Result<()> {
    match render.mode {
        Mode::Json => write_json(&SuccessEnvelope {
            status: "success",
            command,
            data,
            hints: notes.hints,
            warnings: notes.warnings,
        }),
        Mode::Human => {
            human_notes(render, notes.warnings, &[]);
            let mut p = Printer::new(render.paint_stdout());
            data.human(&mut p)?;
            p.out.flush()?;
            human_notes(render, &[], notes.hints);
            Ok(())
        }
    }
}

/// Write text as it is (`review --raw`), then the warnings on stderr as `warning:` lines so
/// they never mix with it. No hints: whoever reads a raw pipe wants the text alone.
pub fn emit_raw(render: Render, text: &str, notes: Notes) -> io::Result<()> {
    let mut out = Stdout::new();
    out.write_all_str(text)?;
    out.flush()?;
    human_notes(render, notes.warnings, &[]);
    Ok(())
}

/// Write a failure: the error envelope on stdout in JSON mode; `error:` / `try:` on stderr.
/// `data`, when given, is carried in the envelope and shown before the error in human mode.
pub fn emit_error<T: Serialize + Human>(
    render: Render,
    command: &str,
    err: &AppError,
    data: Option<&T>,
    notes: Notes,
) -> io::Result<()> {
    match render.mode {
        Mode::Json => write_json(&ErrorEnvelope {
            status: "error",
            command,
            error: ErrorBody {
                code: err.code.as_str(),
                message: &err.message,
                suggestion: &err.suggestion,
            },
            data,
            hints: notes.hints,
            warnings: notes.warnings,
        }),
        Mode::Human => {
            human_notes(render, notes.warnings, &[]);
            if let Some(data) = data {
                let mut p = Printer::new(render.paint_stdout());
                data.human(&mut p)?;
                p.out.flush()?;
            }
            let paint = render.paint_stderr();
            stderr_line(&format!("{} {}", paint.red("error:"), err.message));
            stderr_line(&format!("  {} {}", paint.dim("try:"), err.suggestion));
            human_notes(render, &[], notes.hints);
            Ok(())
        }
    }
}

/// Warnings and hints in human mode go to stderr so stdout stays the view alone.
fn human_notes(render: Render, warnings: &[String], hints: &[String]) {
    let paint = render.paint_stderr();
    for w in warnings {
        stderr_line(&format!("{} {w}", paint.yellow("warning:")));
    }
    for h in hints {
        stderr_line(&format!("{} {h}", paint.cyan("hint:")));
    }
}
