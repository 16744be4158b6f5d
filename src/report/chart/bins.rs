//! Binning for many runs: the plot's width split into columns (one per pixel, at most
//! `MAX_COLUMNS`); per column and mark, one grey bar from the lowest to the highest value in
//! range, one triangle for those above and one for those below the range, one mark in the strip
//! for those without a metric. Each carries `data-n`, the runs it stands for, so the counts stay
//! exact. Memory and time are linear: a fixed grid of cells, one visit per point.

use super::svg::{C, Shape, close, put};
use super::{Frame, MAX_COLUMNS, Mark, Spot, scale};

/// Where a binned run sits: in range, above, below, or in the strip.
const PLACES: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Cell {
    n: u32,
    lo: f64,
    hi: f64,
}

#[derive(Debug)]
pub struct Bins {
    frame: Frame,
    columns: usize,
    /// By place, then mark, then column; allocated on the first binned run.
    cells: Vec<Cell>,
}

impl Bins {
    pub fn new(frame: &Frame) -> Bins {
        let columns = ((frame.right - frame.left).round() as usize).clamp(1, MAX_COLUMNS);
        Bins {
            frame: *frame,
            columns,
            cells: Vec::new(),
        }
    }

    fn width(&self) -> f64 {
        (self.frame.right - self.frame.left) / self.columns as f64
    }

    /// One run of `mark` drawn at `spot`, with value `v` when in range.
    pub fn add(&mut self, mark: Mark, spot: Spot, v: Option<f64>) {
        let (place, x) = match spot {
            Spot::In(x, _) => (0, x),
            Spot::Above(x) => (1, x),
            Spot::Below(x) => (2, x),
            Spot::Strip(x) => (3, x),
            Spot::Lost => return,
        };
        if self.cells.is_empty() {
            let empty = Cell {
                n: 0,
                lo: f64::INFINITY,
                hi: f64::NEG_INFINITY,
            };
            self.cells = vec![empty; PLACES * Mark::ALL.len() * self.columns];
        }
        let column = ((x - self.frame.left) / self.width()).floor();
        let column = if column.is_finite() {
            (column.max(0.0) as usize).min(self.columns - 1)
        } else {
            0
        };
        let i = (place * Mark::ALL.len() + mark.index()) * self.columns + column;
        let cell = &mut self.cells[i];
        cell.n += 1;
        if let Some(v) = v {
            cell.lo = cell.lo.min(v);
            cell.hi = cell.hi.max(v);
        }
    }

    /// The bins, through `py` from a value to its pixel row.
    pub fn draw(&self, out: &mut String, py: impl Fn(f64) -> f64) {
        let f = &self.frame;
        for (i, cell) in self.cells.iter().enumerate().filter(|(_, c)| c.n > 0) {
            let column = i % self.columns;
            let mark = Mark::ALL[(i / self.columns) % Mark::ALL.len()];
            let place = i / self.columns / Mark::ALL.len();
            let x = f.left + (column as f64 + 0.5) * self.width();
            let class = mark.class();
            let n = cell.n;
            let (tag, tip) = match place {
                0 => {
                    // Highest value on top; a bar at least a pixel long.
                    let (top, bottom) = (py(cell.hi), py(cell.lo));
                    let (top, bottom) = if bottom - top < 1.0 {
                        let mid = (top + bottom) / 2.0;
                        (mid - 0.5, mid + 0.5)
                    } else {
                        (top, bottom)
                    };
                    put!(
                        out,
                        r#"<path class="{class} bin" d="M{} {}V{}""#,
                        C(x),
                        C(top),
                        C(bottom)
                    );
                    let range = if cell.lo == cell.hi {
                        scale::value(cell.lo)
                    } else {
                        format!("{} to {}", scale::value(cell.lo), scale::value(cell.hi))
                    };
                    ("path", format!("{} {class}: {range}", n))
                }
                1 => {
                    let tag = Shape::Up.open(out, &format!("{class} edge"), x, f.top + 1.0);
                    (tag, format!("{n} {class} above the range"))
                }
                2 => {
                    let tag = Shape::Down.open(out, &format!("{class} edge"), x, f.bottom - 1.0);
                    (tag, format!("{n} {class} below the range"))
                }
                _ => {
                    let tag = mark.shape().open(out, class, x, f.strip + mark.strip_row());
                    (tag, mark.counted(n as usize))
                }
            };
            put!(out, r#" data-n="{n}""#);
            close(out, tag, Some(&tip));
        }
    }
}
