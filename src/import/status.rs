//! The status table of `import` (docs/CONTRACT.md §7 "import"): what other tools write in their
//! status column, and what it becomes in the ledger. Also the metric placeholders they write
//! where there is no number.

use crate::ledger::Status;

/// Source statuses by the ledger status they become, compared after trimming, lowercasing and
/// reading `-` and spaces as `_`. The last three rows of `kept`/`discarded` are the statuses of
/// the changhanchen-moe log: its own `delta_vs_best` column shows that the run after a `repair`
/// was measured against it (it became the best), and against the best before a `tentative` or a
/// `support` run (they did not).
pub const TABLE: &[(Status, &[&str])] = &[
    (Status::Baseline, &["baseline", "base"]),
    (
        Status::Kept,
        &[
            "keep",
            "kept",
            "improved",
            "improvement",
            "accept",
            "accepted",
            "better",
            "new_best",
            "repair",
        ],
    ),
    (
        Status::Discarded,
        &[
            "discard",
            "discarded",
            "reject",
            "rejected",
            "worse",
            "revert",
            "reverted",
            "no_improvement",
            "tentative",
            "support",
        ],
    ),
    (
        Status::Crash,
        &[
            "crash", "crashed", "error", "errored", "fail", "failed", "failure", "oom",
        ],
    ),
    (Status::Timeout, &["timeout", "timed_out", "timedout"]),
];

/// The ledger status for a source's status text; `None` when the table does not know it (the
/// importer then records `discarded` and names it in one warning).
pub fn map(text: &str) -> Option<Status> {
    let key: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    TABLE
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
        .map(|(status, _)| *status)
}

/// What a tool writes where it has no number.
const PLACEHOLDERS: &[&str] = &["", "na", "n/a", "nan", "null", "none", "-", "?"];

/// A metric cell: `Ok(None)` for a placeholder, `Ok(Some(v))` for a finite number in the metric
/// grammar, `Err(())` for anything else (the line is then malformed).
#[allow(clippy::result_unit_err)]
pub fn metric_cell(text: &str) -> Result<Option<f64>, ()> {
    let t = text.trim();
    if PLACEHOLDERS.contains(&t.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    match crate::metric::parse_number(t) {
        Some(Ok(v)) => Ok(Some(v)),
        _ => Err(()),
    }
}

/// A crash or a timeout measured nothing: whatever the source wrote (`0`, `0.0`, `NA`, `nan`,
/// empty) becomes no metric.
pub fn measured(status: Status, metric: Option<f64>) -> Option<f64> {
    match status {
        Status::Crash | Status::Timeout => None,
        _ => metric,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_maps_what_real_logs_write() {
        for (text, want) in [
            ("keep", Status::Kept),
            ("KEEP", Status::Kept),
            (" kept ", Status::Kept),
            ("accepted", Status::Kept),
            ("new-best", Status::Kept),
            ("repair", Status::Kept),
            ("discard", Status::Discarded),
            ("Rejected", Status::Discarded),
            ("no improvement", Status::Discarded),
            ("tentative", Status::Discarded),
            ("support", Status::Discarded),
            ("crash", Status::Crash),
            ("OOM", Status::Crash),
            ("failed", Status::Crash),
            ("timed-out", Status::Timeout),
            ("baseline", Status::Baseline),
        ] {
            assert_eq!(map(text), Some(want), "{text}");
        }
        for unknown in ["", "maybe", "keeper", "k"] {
            assert_eq!(map(unknown), None, "{unknown}");
        }
        // No name is in two rows.
        let mut all: Vec<&str> = TABLE.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        let len = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), len);
    }

    #[test]
    fn placeholders_are_no_metric_and_crashes_measure_nothing() {
        for p in ["", " ", "NA", "n/a", "NaN", "nan", "null", "None", "-"] {
            assert_eq!(metric_cell(p), Ok(None), "{p:?}");
        }
        assert_eq!(metric_cell("0.000000"), Ok(Some(0.0)));
        assert_eq!(metric_cell(" 1.5e-3 "), Ok(Some(0.0015)));
        assert_eq!(metric_cell("-2"), Ok(Some(-2.0)));
        for bad in ["abc", "1,5", "inf", "1e999", "0x10"] {
            assert_eq!(metric_cell(bad), Err(()), "{bad}");
        }
        for status in [Status::Crash, Status::Timeout] {
            assert_eq!(measured(status, Some(0.0)), None);
        }
        assert_eq!(measured(Status::Discarded, Some(0.0)), Some(0.0));
        assert_eq!(measured(Status::Kept, None), None);
    }
}
