//! The history table of the prompt: one line per record, and, when the rows do not all fit,
//! a chosen few with a note saying how many were left out.
//!
//! Rows are made only when they are looked at: a ledger of 100,000 records costs a scan for
//! its important rows and as many rows as fit, never the whole table. When the rows do not all
//! fit, they are taken in this order while they fit: the first `FIRST_ROWS`, the latest
//! `LATEST_ROWS`, the baseline, kept, retraction and flagged records (the latest first), then
//! more of the latest. They are shown in ledger order.

use std::collections::BTreeSet;

use super::block::{longest_backtick_run, minimal};
use crate::ledger::{Record, Status};
use crate::text::short_number;

/// The first rows of the ledger are wanted first: where the night started.
pub const FIRST_ROWS: usize = 3;
/// Then the latest rows: where it stands.
pub const LATEST_ROWS: usize = 10;
/// A summary is cut at this many characters.
pub const SUMMARY_CHARS: usize = 100;
/// A reason is cut at this many characters.
const REASON_CHARS: usize = 40;

pub struct History<'a> {
    records: &'a [Record],
    /// A branch column, when the records are of every branch.
    branches: bool,
    fence: String,
    /// Baseline, kept, retraction and flagged records, by index, in ledger order.
    important: Vec<usize>,
}

impl<'a> History<'a> {
    pub fn new(records: &'a [Record], branches: bool) -> History<'a> {
        let mut longest = 0;
        let mut important = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let texts = [
                &r.summary,
                r.reason.as_deref().unwrap_or(""),
                r.branch.as_deref().unwrap_or(""),
            ];
            for t in texts.into_iter().chain(r.flags.iter().map(String::as_str)) {
                longest = longest.max(longest_backtick_run(t));
            }
            if is_important(r) {
                important.push(i);
            }
        }
        History {
            records,
            branches,
            fence: "`".repeat(longest.max(2) + 1),
            important,
        }
    }

    /// The whole section's length, or a number above `limit` as soon as it is sure to be.
    pub fn full_len(&self, limit: usize) -> usize {
        let mut n = self.frame("", "").len();
        for r in self.records {
            n += self.row(r).len() + 1;
            if n > limit {
                break;
            }
        }
        n
    }

    /// The section in at most `budget` bytes when `budget` is at least [`History::min_len`],
    /// and whether rows were left out.
    pub fn render(&self, budget: usize) -> (String, bool) {
        if self.full_len(budget) <= budget {
            let rows: String = self.records.iter().map(|r| self.row(r) + "\n").collect();
            return (self.frame(&rows, ""), false);
        }
        let n = self.records.len();
        let overhead = self.frame("", &note_text(n, n, n, n, n, n)).len();
        if budget <= overhead {
            return (self.minimal(), true);
        }
        let chosen = self.choose(budget - overhead);
        let rows: String = chosen
            .iter()
            .map(|i| self.row(&self.records[*i]) + "\n")
            .collect();
        (self.frame(&rows, &self.note(&chosen)), true)
    }

    /// The section at its smallest: no row, and a note saying so.
    pub fn min_len(&self) -> usize {
        self.minimal().len()
    }

    fn minimal(&self) -> String {
        let n = self.records.len();
        minimal("History", &crate::text::count(n, "record", "records"))
    }

    /// The rows to show within `budget` bytes, by index, ascending.
    fn choose(&self, budget: usize) -> Vec<usize> {
        let n = self.records.len();
        let mut chosen = BTreeSet::new();
        let mut left = budget;
        let phases: [Box<dyn Iterator<Item = usize> + '_>; 4] = [
            Box::new(0..FIRST_ROWS.min(n)),
            Box::new((0..n).rev().take(LATEST_ROWS)),
            Box::new(self.important.iter().rev().copied()),
            Box::new((0..n).rev()),
        ];
        for phase in phases {
            for i in phase {
                if chosen.contains(&i) {
                    continue;
                }
                let cost = self.row(&self.records[i]).len() + 1;
                if cost > left {
                    break;
                }
                left -= cost;
                chosen.insert(i);
            }
        }
        chosen.into_iter().collect()
    }

    /// What was left out, and what was kept.
    fn note(&self, chosen: &[usize]) -> String {
        let n = self.records.len();
        let first = chosen
            .iter()
            .enumerate()
            .take_while(|(k, i)| k == *i)
            .count();
        let latest = chosen
            .iter()
            .rev()
            .enumerate()
            .take_while(|(k, i)| n - 1 - k == **i)
            .count();
        let set: BTreeSet<usize> = chosen.iter().copied().collect();
        let important = self.important.iter().filter(|i| set.contains(i)).count();
        note_text(
            n - chosen.len(),
            n,
            first,
            latest,
            important,
            self.important.len(),
        )
    }

    fn header(&self) -> &'static str {
        if self.branches {
            "run | branch | status | metric | Δ | flags | summary"
        } else {
            "run | status | metric | Δ | flags | summary"
        }
    }

    /// One record on one line.
    fn row(&self, r: &Record) -> String {
        let mut status = r.status.as_str().to_string();
        if let Some(reason) = r.reason.as_deref().filter(|s| !s.trim().is_empty()) {
            status.push_str(&format!(" ({})", one_line(reason, REASON_CHARS)));
        }
        let metric = r
            .metric
            .map_or_else(|| "-".to_string(), |m| format!("{m:?}"));
        // Rounded: a difference of two recorded metrics carries float noise (0.09999999999999998).
        let delta = r.delta.map_or_else(|| "-".to_string(), signed);
        let flags = if r.flags.is_empty() {
            "-".to_string()
        } else {
            r.flags.join(",")
        };
        let branch = if self.branches {
            format!(" | {}", r.branch.as_deref().unwrap_or("-"))
        } else {
            String::new()
        };
        let summary = one_line(&r.summary, SUMMARY_CHARS);
        format!(
            "{}{branch} | {status} | {metric} | {delta} | {flags} | {summary}",
            r.label()
        )
    }

    fn frame(&self, rows: &str, note: &str) -> String {
        let f = &self.fence;
        format!(
            "## History\n\n\
             The records in ledger order, one per line: run, {}status (with its reason), metric, \
             Δ (the metric minus the branch's best before it), flags, and the summary the agent \
             wrote (cut at {SUMMARY_CHARS} characters).\n\n\
             {f}text\n{}\n{rows}{f}\n{note}\n",
            if self.branches { "branch, " } else { "" },
            self.header()
        )
    }
}

/// Baselines, keeps, retractions and flagged records: the rows a reviewer needs most.
fn is_important(r: &Record) -> bool {
    matches!(
        r.status,
        Status::Baseline | Status::Kept | Status::Retraction
    ) || !r.flags.is_empty()
}

fn note_text(
    left: usize,
    total: usize,
    first: usize,
    latest: usize,
    important: usize,
    important_total: usize,
) -> String {
    format!(
        "[{left} of {total} records left out here to fit the size limit. Shown: the first {first}, \
         the latest {latest}, and {important} of the {important_total} baseline, kept, \
         retraction and flagged records.]\n"
    )
}

/// `+0.1`, `-0.25`, `0`: at most 7 significant digits, with its sign.
fn signed(d: f64) -> String {
    let s = short_number(d);
    if d > 0.0 { format!("+{s}") } else { s }
}

/// `text` on one line (runs of whitespace made one space), at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max {
        return joined;
    }
    let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
