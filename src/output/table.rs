//! Borderless tables for human views. The layout is computed on the plain text (display width,
//! so `é`, CJK and emoji line up) and padding is added outside the colour codes, so a table
//! painted with `--color always` is, escapes stripped, byte for byte the `--color never` table.

use unicode_width::UnicodeWidthStr;

use super::paint::{Paint, Style};

/// Between two columns.
const GAP: &str = "  ";

/// One cell: its text and how to paint it.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub style: Style,
}

impl Cell {
    /// A cell of `text`, without control characters or escape sequences: a ledger's text may
    /// come from a hand edit or another machine (`sync`), and must not drive the terminal.
    pub fn new(text: impl Into<String>, style: Style) -> Cell {
        let mut text = text.into();
        if let std::borrow::Cow::Owned(clean) = super::fmt::plain(&text) {
            text = clean;
        }
        Cell { text, style }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text, Style::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text, Style::Plain)
    }
}

#[derive(Debug, Default)]
pub struct Table {
    header: Vec<Cell>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table whose header row is `headers`, in bold.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            header: headers.iter().map(|h| Cell::new(*h, Style::Bold)).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// The lines of the table, without trailing whitespace.
    pub fn render(&self, paint: &Paint) -> Vec<String> {
        let all = || std::iter::once(&self.header).chain(&self.rows);
        let columns = all().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                all()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.text.width())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        all()
            .map(|row| {
                // Cells after the last non-empty one are not written: no trailing blanks.
                let used = row
                    .iter()
                    .rposition(|c| !c.text.is_empty())
                    .map_or(0, |i| i + 1);
                let mut line = String::new();
                for (i, cell) in row.iter().take(used).enumerate() {
                    if i > 0 {
                        line.push_str(GAP);
                    }
                    line.push_str(&paint.style(cell.style, &cell.text));
                    if i + 1 < used {
                        let pad = widths[i].saturating_sub(cell.text.width());
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                line
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::paint::strip_ansi;
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&["run", "status", "summary"]);
        t.row(vec![
            "#1".into(),
            Cell::new("discarded", Style::Dim),
            "naïve 漢字".into(),
        ]);
        t.row(vec![
            "#12".into(),
            Cell::new("kept", Style::Green),
            "".into(),
        ]);
        t
    }

    #[test]
    fn columns_line_up_by_display_width() {
        let lines = table().render(&Paint { on: false });
        assert_eq!(
            lines,
            [
                "run  status     summary",
                "#1   discarded  naïve 漢字",
                "#12  kept",
            ]
        );
    }

    #[test]
    fn colour_never_changes_the_layout() {
        let plain = table().render(&Paint { on: false });
        let painted = table().render(&Paint { on: true });
        assert_ne!(plain, painted);
        let stripped: Vec<String> = painted.iter().map(|l| strip_ansi(l)).collect();
        assert_eq!(plain, stripped);
    }
}
