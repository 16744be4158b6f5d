//! The review of a night's work by a second model: a prompt, built deterministically from the
//! config, `program.md`, the history, the change from the baseline to the best and the
//! patterns `analysis` found, for another agent's CLI to answer (`autoresearch review`,
//! docs/CONTRACT.md §9).
//!
//! The prompt, in order: the title, the reviewer's role, the rule that data is not
//! instructions, the project's facts, `autoresearch.toml`, `program.md`, the history, the
//! change, the patterns (left out of a blind review, which then never mentions them), the
//! checklist and the answer format. Everything read from the repository or the ledger is in a
//! fenced block whose fence is longer than any run of backticks inside it, and the prompt says
//! that such text is data: a summary saying "ignore your instructions" is evidence, not an
//! order.
//!
//! The prompt is capped at `max_bytes`. What never shrinks: the role, the rules, the facts,
//! the checklist and the answer format; a cap below them is a `usage` error. The rest shrinks
//! in this order until the whole fits: the history (rows left out, `history`), the change, the
//! patterns, `program.md`, the config (each cut at a line end, with a note saying how much was
//! left out). Nothing in it depends on the time it is built.

mod block;
mod fixed;
mod gather;
mod history;
mod sections;

#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::analysis::Analysis;
use crate::config::Config;
use crate::error::{AppError, Result};
use crate::git::CodeDiff;
use crate::ledger::Record;

pub use crate::ledger::INTEGRITY_FLAGS;
pub use gather::{Options, Review, review};

use block::Section;
use history::History;

/// The cap on the prompt unless told otherwise: 32 KiB.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024;

/// The code change a review shows.
pub enum Change<'a> {
    /// From the baseline's commit to the best's (`git::diff_commits`, with its patch).
    Diff(&'a CodeDiff),
    /// Why there is none to show.
    Missing(String),
}

/// What a prompt is built from, all of it read beforehand: building is pure.
pub struct Material<'a> {
    pub config: &'a Config,
    /// `autoresearch.toml` as it is on disk; `None` when it could not be read.
    pub config_text: Option<&'a str>,
    /// `program.md`; `None` when there is none.
    pub program: Option<&'a str>,
    /// The records reviewed, in ledger order.
    pub records: &'a [Record],
    /// The branch they are of; `None`: every branch.
    pub branch: Option<&'a str>,
    /// The branch the baseline, the best and the noise are of.
    pub scope_branch: &'a str,
    pub baseline: Option<&'a Record>,
    pub best: Option<&'a Record>,
    /// The noise sd of one sample under the best's setup, when known.
    pub noise_sd: Option<f64>,
    pub change: Change<'a>,
    /// The analysis of `records`: its counts always, its patterns unless `blind`.
    pub analysis: &'a Analysis,
    /// Leave the patterns out, so the reviewer is not led.
    pub blind: bool,
}

/// The prompt and whether anything was cut to fit the cap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prompt {
    pub text: String,
    pub truncated: bool,
}

/// A part of the prompt that can shrink.
trait Part {
    /// Its whole length, or a number above `limit` as soon as it is sure to be.
    fn full_len(&self, limit: usize) -> usize;
    /// Its smallest form.
    fn min_len(&self) -> usize;
    /// At most `budget` bytes when `budget >= min_len()`, and whether anything was left out.
    fn render(&self, budget: usize) -> (String, bool);
}

impl Part for Section {
    fn full_len(&self, _: usize) -> usize {
        self.render(usize::MAX).0.len()
    }
    fn min_len(&self) -> usize {
        Section::min_len(self)
    }
    fn render(&self, budget: usize) -> (String, bool) {
        Section::render(self, budget)
    }
}

impl Part for History<'_> {
    fn full_len(&self, limit: usize) -> usize {
        History::full_len(self, limit)
    }
    fn min_len(&self) -> usize {
        History::min_len(self)
    }
    fn render(&self, budget: usize) -> (String, bool) {
        History::render(self, budget)
    }
}

/// The review prompt, at most `max_bytes` long; `usage` when `max_bytes` cannot hold the parts
/// that never shrink.
pub fn prompt(m: &Material, max_bytes: usize) -> Result<Prompt> {
    let head = format!(
        "{}{}{}{}",
        fixed::TITLE,
        fixed::ROLE,
        fixed::RULES,
        fixed::project(m)
    );
    let tail = format!("{}{}", fixed::checklist(m), fixed::SCHEMA);
    let history = History::new(m.records, m.branch.is_none());
    let change = sections::change(m);
    let patterns = sections::patterns(m);
    let (config, program) = (sections::config(m), sections::program(m));
    // In the order they shrink.
    let mut parts: Vec<&dyn Part> = vec![&history, &change];
    if let Some(p) = &patterns {
        parts.push(p);
    }
    parts.extend([&program as &dyn Part, &config]);

    let fixed_len = head.len() + tail.len();
    let mins: Vec<usize> = parts.iter().map(|p| p.min_len()).collect();
    let needed = fixed_len + mins.iter().sum::<usize>();
    if needed > max_bytes {
        return Err(AppError::usage(
            format!(
                "`--max-bytes {max_bytes}` is too small: the role, rules, facts, checklist and answer format of this review need {needed} bytes."
            ),
            format!("Pass `--max-bytes {needed}` or more, or leave it out (32768 bytes)."),
        ));
    }
    let sizes = budgets(&parts, &mins, max_bytes - fixed_len);
    let mut truncated = matches!(m.change, Change::Diff(d) if d.patch_truncated);
    let mut rendered = parts.iter().zip(sizes).map(|(p, size)| {
        let (text, cut) = p.render(size);
        truncated |= cut;
        text
    });
    // Rendered in the order they shrink, put back in reading order.
    let history_text = rendered.next().unwrap_or_default();
    let change_text = rendered.next().unwrap_or_default();
    let patterns_text = patterns.as_ref().and_then(|_| rendered.next());
    let program_text = rendered.next().unwrap_or_default();
    let config_text = rendered.next().unwrap_or_default();
    drop(rendered);
    let text = [head, config_text, program_text, history_text, change_text]
        .into_iter()
        .chain(patterns_text)
        .chain([tail])
        .collect::<String>();
    debug_assert!(text.len() <= max_bytes, "{} > {max_bytes}", text.len());
    Ok(Prompt { text, truncated })
}

/// Each part's budget within `room` bytes: its whole length, less what must go, taken from the
/// first parts first and never below a part's minimum. The caller made sure the minimums fit.
fn budgets(parts: &[&dyn Part], mins: &[usize], room: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = parts
        .iter()
        .zip(mins)
        .map(|(p, min)| p.full_len(room).max(*min))
        .collect();
    let mut excess = sizes.iter().sum::<usize>().saturating_sub(room);
    for (size, min) in sizes.iter_mut().zip(mins) {
        let cut = excess.min(*size - min);
        *size -= cut;
        excess -= cut;
    }
    sizes
}
