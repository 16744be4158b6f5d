//! The running-best lines: one step line per series, from its first baseline or kept point,
//! stepping once each time a baseline or kept point beats the series' best so far. Drawn as
//! `M x y` then `H x V y` per improvement, so a reader (or a test) counts the steps by the `V`s.

use std::collections::BTreeMap;

use super::svg::{C, put};
use crate::config::Direction;

/// The lines, by series.
#[derive(Debug, Default)]
pub struct Lines {
    pub by_series: BTreeMap<usize, Line>,
    /// The rightmost pixel any point of each series reached, where its line ends.
    ends: BTreeMap<usize, f64>,
}

/// One series' line, as it is built.
#[derive(Debug)]
pub struct Line {
    d: String,
    best: f64,
    last_x: f64,
}

impl Lines {
    /// A point of `series` was drawn at pixel column `x`: its line reaches at least there.
    pub fn reach(&mut self, series: usize, x: f64) {
        let end = self.ends.entry(series).or_insert(x);
        *end = end.max(x);
    }

    /// A baseline or kept point of `series` with value `v`, drawn at (`x`, `y`).
    pub fn add(&mut self, series: usize, x: f64, y: f64, v: f64, direction: Direction) {
        match self.by_series.get_mut(&series) {
            None => {
                let d = format!("M{} {}", C(x), C(y));
                self.by_series.insert(
                    series,
                    Line {
                        d,
                        best: v,
                        last_x: x,
                    },
                );
            }
            Some(line) if direction.better(v, line.best) => {
                put!(&mut line.d, "H{}V{}", C(x), C(y));
                line.best = v;
                line.last_x = x;
            }
            Some(_) => {}
        }
    }

    pub fn draw(&self, out: &mut String) {
        for (rank, (series, line)) in self.by_series.iter().enumerate() {
            let end = self.ends.get(series).copied().unwrap_or(line.last_x);
            let tail = if end > line.last_x + 0.05 {
                format!("H{}", C(end))
            } else {
                String::new()
            };
            put!(
                out,
                "<path class=\"best\" data-series=\"{series}\" {} d=\"{}{tail}\"/>\n",
                series_style(rank),
                line.d
            );
        }
    }
}

/// Line styles of the running-best lines by rank of series: colours that read on white and in
/// print, and dash patterns, so that two series never differ by colour alone (6 × 5 = 30
/// distinct pairs).
const SERIES_COLOURS: [&str; 6] = [
    "#1b7837", "#2166ac", "#762a83", "#b35806", "#01665e", "#c51b7d",
];
const SERIES_DASHES: [&str; 5] = ["", "7 3", "2 2", "8 3 2 3", "4 4"];

pub fn series_style(rank: usize) -> String {
    let dash = SERIES_DASHES[rank % SERIES_DASHES.len()];
    let dash = if dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{dash}""#)
    };
    format!(
        r#"stroke="{}"{dash}"#,
        SERIES_COLOURS[rank % SERIES_COLOURS.len()]
    )
}
