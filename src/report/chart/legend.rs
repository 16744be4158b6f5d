//! The legend, in the column right of the plot: a row per running-best line, the baseline
//! level, a count per mark, the flagged runs, the runs beyond the range, and what was left out.
//! Its swatches are drawn with the chart's shapes and classes, prefixed `sw-`, so that counting
//! a mark's class counts only the data.

use super::best::{Lines, series_style};
use super::svg::{self, C, Esc, Shape, clip, put};
use super::{Chart, Mark, Tally, scale};

impl Chart<'_, '_> {
    /// The legend, in the column right of the plot: the lines, then a count per mark.
    pub(super) fn legend(&self, out: &mut String, tally: &Tally, lines: &Lines) {
        let f = &self.frame;
        let mut rows: Vec<(Swatch, String)> = Vec::new();
        let names = |s: usize| {
            self.spec
                .series_names
                .get(s)
                .map_or_else(|| format!("series {s}"), |n| clip(n, 22))
        };
        if lines.by_series.len() == 1 {
            rows.push((Swatch::Line(0), "running best".to_string()));
        } else {
            for (rank, s) in lines.by_series.keys().enumerate() {
                rows.push((Swatch::Line(rank), format!("best: {}", names(*s))));
            }
        }
        if let Some(b) = self.spec.baseline.filter(|b| b.is_finite()) {
            rows.push((Swatch::Level, format!("baseline {}", scale::value(b))));
        }
        for m in Mark::ALL {
            let n = tally.marks[m.index()];
            if n > 0 {
                let binned = matches!(m, Mark::Discarded | Mark::Recheck) && self.binned;
                let swatch = if binned {
                    Swatch::Bin(m)
                } else {
                    Swatch::Mark(m)
                };
                let text = m.counted(n) + if binned { " (binned)" } else { "" };
                rows.push((swatch, text));
            }
        }
        let extra = [
            (Swatch::Ring, tally.flagged, "flagged"),
            (Swatch::Edge(true), tally.above, "above the range"),
            (Swatch::Edge(false), tally.below, "below the range"),
            (Swatch::None, tally.lost, "not drawn (no position)"),
            (Swatch::None, tally.unlabelled, "labels left out"),
        ];
        for (swatch, n, what) in extra {
            if n > 0 {
                rows.push((swatch, format!("{n} {what}")));
            }
        }
        // Rows that do not fit become one "more" row, rather than text off the canvas.
        let fit = (((f.height - f.top) / 18.0) as usize).max(2);
        if rows.len() > fit {
            let more = rows.len() - (fit - 1);
            rows.truncate(fit - 1);
            rows.push((Swatch::None, format!("{more} more not listed")));
        }
        out.push_str("<g class=\"legend\">\n");
        let max = ((f.width - f.legend_x - 36.0) / 6.6) as usize;
        for (i, (swatch, text)) in rows.iter().enumerate() {
            let y = f.top + 10.0 + 18.0 * i as f64;
            swatch.draw(out, f.legend_x + 11.0, y);
            put!(
                out,
                r#"<text x="{}" y="{}">{}</text>"#,
                C(f.legend_x + 28.0),
                C(y + 4.0),
                Esc(&clip(text, max))
            );
            out.push('\n');
        }
        out.push_str("</g>\n");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swatch {
    /// The running-best line of the series of this rank.
    Line(usize),
    /// The baseline level's dashed line.
    Level,
    /// One run of this mark.
    Mark(Mark),
    /// A bin of runs of this mark.
    Bin(Mark),
    /// A flag's ring.
    Ring,
    /// An edge marker: up (above the range) or down.
    Edge(bool),
    None,
}

impl Swatch {
    /// Draws the swatch centred on (x, y).
    pub fn draw(self, out: &mut String, x: f64, y: f64) {
        let (x0, cy) = (C(x - 10.0), C(y));
        let (shape, class, y) = match self {
            Swatch::Line(rank) => {
                put!(
                    out,
                    r#"<path class="best" {} d="M{x0} {cy}h20"/>"#,
                    series_style(rank)
                );
                return;
            }
            Swatch::Level => {
                put!(out, r#"<path class="level" d="M{x0} {cy}h20"/>"#);
                return;
            }
            Swatch::Bin(_) => {
                put!(
                    out,
                    r#"<path class="bin" d="M{} {}v14"/>"#,
                    C(x),
                    C(y - 7.0)
                );
                return;
            }
            Swatch::None => return,
            Swatch::Mark(m) => (m.shape(), format!("sw-{}", m.class()), y),
            Swatch::Ring => (Shape::Hollow(6.0), "sw-ring".to_string(), y),
            Swatch::Edge(true) => (Shape::Up, "sw-discarded".to_string(), y - 4.0),
            Swatch::Edge(false) => (Shape::Down, "sw-discarded".to_string(), y + 4.0),
        };
        let tag = shape.open(out, &class, x, y);
        svg::close(out, tag, None);
    }
}
