//! The karpathy `results.tsv` family: a header row, then one tab-separated row per experiment.
//! Columns: `commit`, the metric (named as in the config), `status`, `description`, and any
//! others; a column whose every value is a number (or a placeholder) is a secondary metric,
//! the rest are kept as text in `imported.fields`.

use super::{Read, Row, Want, bad_line, import_error, status};
use crate::error::Result;

const COMMIT: &[&str] = &["commit", "hash"];
const SUMMARY: &[&str] = &["description", "summary", "message"];

fn find(header: &[&str], names: &[&str]) -> Option<usize> {
    header
        .iter()
        .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}

pub fn read(label: &str, text: &str, want: &Want) -> Result<Read> {
    let (header_no, header, rows) = table(label, text)?;
    let Some(status_col) = find(&header, &["status"]) else {
        return Err(bad_line(
            label,
            header_no,
            "the header row has no `status` column",
        ));
    };
    let numeric = |c: usize| {
        rows.iter()
            .all(|(_, cells)| status::metric_cell(cells[c]).is_ok())
    };
    let metric_col = metric_column(label, &header, &rows, want, status_col)?;
    let cols = Columns {
        metric: metric_col,
        status: status_col,
        commit: find(&header, COMMIT),
        summary: find(&header, SUMMARY),
        numbers: Vec::new(),
    };
    let numbers = (0..header.len())
        .map(|c| {
            c != cols.metric
                && c != cols.status
                && Some(c) != cols.commit
                && Some(c) != cols.summary
                && numeric(c)
        })
        .collect();
    let cols = Columns { numbers, ..cols };
    let mut out = Read::default();
    for (i, (no, cells)) in rows.iter().enumerate() {
        out.rows
            .push(row(label, &header, &cols, i == 0, *no, cells)?);
    }
    Ok(out)
}

/// Rows of cells, each with its line number.
type Lines<'t> = Vec<(u64, Vec<&'t str>)>;

/// Which column holds what.
struct Columns {
    metric: usize,
    status: usize,
    commit: Option<usize>,
    summary: Option<usize>,
    /// Secondary metrics: every value a number or a placeholder.
    numbers: Vec<bool>,
}

/// The header row's line and cells, and every other non-blank row's line and cells, each with
/// as many cells as the header.
fn table<'t>(label: &str, text: &'t str) -> Result<(u64, Vec<&'t str>, Lines<'t>)> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_no, header_line)) = lines.next() else {
        return Err(import_error(
            format!("`{label}` is empty. Nothing was imported."),
            format!("Check `{label}`: a results TSV starts with a header row."),
        ));
    };
    let header: Vec<&str> = header_line.split('\t').map(str::trim).collect();
    let rows: Lines = lines
        .map(|(no, l)| (no, l.split('\t').collect::<Vec<_>>()))
        .collect();
    for (no, cells) in &rows {
        if cells.len() != header.len() {
            return Err(bad_line(
                label,
                *no,
                &format!(
                    "{} tab-separated columns where the header has {}",
                    cells.len(),
                    header.len()
                ),
            ));
        }
    }
    Ok((header_no, header, rows))
}

/// The metric's column, or an error naming the columns and the rename that would fit.
fn metric_column(
    label: &str,
    header: &[&str],
    rows: &[(u64, Vec<&str>)],
    want: &Want,
    status_col: usize,
) -> Result<usize> {
    if let Some(c) = find(header, &[want.metric]) {
        return Ok(c);
    }
    let numeric = |c: usize| {
        rows.iter()
            .all(|(_, cells)| status::metric_cell(cells[c]).is_ok())
    };
    let guess = (0..header.len())
        .find(|&c| {
            c != status_col && find(header, COMMIT) != Some(c) && numeric(c) && !rows.is_empty()
        })
        .map_or("<column>", |c| header[c]);
    Err(import_error(
        format!(
            "`{label}` has no `{}` column (its columns: {}). Nothing was imported.",
            want.metric,
            header.join(", ")
        ),
        format!(
            "Name the column that holds the metric: `--rename-metric {guess}={}`.",
            want.config_metric
        ),
    ))
}

/// One experiment from its cells.
fn row(
    label: &str,
    header: &[&str],
    cols: &Columns,
    first: bool,
    no: u64,
    cells: &[&str],
) -> Result<Row> {
    let status_text = cells[cols.status].trim().to_string();
    let mapped = status::map(&status_text);
    let metric = status::metric_cell(cells[cols.metric]).map_err(|()| {
        bad_line(
            label,
            no,
            &format!(
                "`{}` in the `{}` column is not a number",
                cells[cols.metric].trim(),
                header[cols.metric]
            ),
        )
    })?;
    let mut row = Row::at(no, status_text, mapped, metric, first);
    let failed = row.failed();
    for (c, cell) in cells.iter().enumerate() {
        let cell = cell.trim();
        if c == cols.metric || c == cols.status {
            continue;
        }
        if Some(c) == cols.commit {
            row.commit = (!cell.is_empty()).then(|| cell.to_string());
        } else if Some(c) == cols.summary {
            row.summary = cell.to_string();
        } else if cols.numbers[c] && !failed {
            // A crash measured nothing: its zeros stay text, not metrics.
            if let Ok(Some(v)) = status::metric_cell(cell) {
                row.metrics.insert(header[c].to_string(), v);
            }
        } else if !cell.is_empty() {
            row.fields.insert(header[c].to_string(), cell.to_string());
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Status;

    fn want() -> Want<'static> {
        Want {
            metric: "val_bpb",
            config_metric: "val_bpb",
        }
    }

    #[test]
    fn columns_become_metric_metrics_and_fields() {
        let text = "commit\tval_bpb\tmemory_gb\tstatus\tnote\tdescription\r\n\
                    abc1234\t1.5\t10.0\tkeep\tfirst\tbaseline run\r\n\
                    \n\
                    def5678\t0.000000\t0.0\tcrash\t\tOOM\r\n\
                    0123abc\tNA\tNA\tdiscard\tx\tno number\n";
        let r = read("r.tsv", text, &want()).unwrap();
        assert_eq!(r.rows.len(), 3);
        let first = &r.rows[0];
        assert!(first.starts);
        assert_eq!((first.line, first.metric), (2, Some(1.5)));
        assert_eq!(first.metrics.get("memory_gb"), Some(&10.0));
        assert_eq!(first.fields.get("note").map(String::as_str), Some("first"));
        assert_eq!(first.commit.as_deref(), Some("abc1234"));
        assert_eq!(first.summary, "baseline run");
        let crash = &r.rows[1];
        assert_eq!((crash.line, crash.status), (4, Some(Status::Crash)));
        assert!(crash.metrics.is_empty(), "a crash's zeros are not metrics");
        assert_eq!(
            crash.fields.get("memory_gb").map(String::as_str),
            Some("0.0")
        );
        assert_eq!(r.rows[2].metric, None, "a placeholder is no metric");
        assert!(r.rows[2].metrics.is_empty());
    }

    #[test]
    fn malformed_lines_and_missing_columns_are_refused_with_their_line() {
        let e = read(
            "r.tsv",
            "commit\tval_bpb\tstatus\na\t1\tkeep\nb\t2\n",
            &want(),
        )
        .unwrap_err();
        assert!(e.message.contains("`r.tsv` line 3"), "{}", e.message);
        let e = read("r.tsv", "commit\tval_bpb\tstatus\na\tfast\tkeep\n", &want()).unwrap_err();
        assert!(e.message.contains("line 2") && e.message.contains("`fast`"));
        let e = read("r.tsv", "commit\tval_rmse\tstatus\na\t1\tkeep\n", &want()).unwrap_err();
        assert!(e.message.contains("no `val_bpb` column"), "{}", e.message);
        assert!(
            e.suggestion.contains("--rename-metric val_rmse=val_bpb"),
            "{}",
            e.suggestion
        );
    }
}
