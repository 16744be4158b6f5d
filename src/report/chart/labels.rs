//! Labels beside the kept points the caller chose: cut to `LABEL_CHARS`, escaped, and placed
//! without overlapping each other or the baseline and kept dots. Left to right, each label
//! takes the first of eight spots around its point (right or left of it, just above or below,
//! then further) whose box is inside the plot and clear of the labels already placed and of
//! the dots; a label with no free spot is left out (its text stays in the point's tooltip) and
//! counted. The cheap answer to crowding, not a layout engine: only labels whose points lie
//! within `REACH` pixels to the left can collide, and the dots are found by binary search in
//! x, so each label looks at a neighbourhood bounded by the plot's area, however many there are.

use super::Frame;
use super::svg::{C, Esc, put};

/// The width of a character of the labels' 10 px font, about.
const CHAR_WIDTH: f64 = 5.6;
/// The gap between a point and its label.
const GAP: f64 = 7.0;
/// Text baselines relative to the point, in the order tried: just above, just below, further.
const OFFSETS: [f64; 4] = [-7.0, 15.0, -19.0, 27.0];
/// How far left a label's point can be and its box still reach a label to its right: two of
/// the widest labels and their gaps.
const REACH: f64 = 2.0 * (super::LABEL_CHARS as f64 * CHAR_WIDTH + GAP);

/// A placed label's box, and its point's x.
#[derive(Debug, Clone, Copy)]
struct Placed {
    point_x: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

/// The radius of a dot, as an obstacle.
const DOT: f64 = 5.0;

/// Draws the labels, given as (x, y, text) of their points, clear of the `dots` (x, y);
/// returns how many were left out.
pub fn draw(
    out: &mut String,
    frame: &Frame,
    mut labels: Vec<(f64, f64, String)>,
    mut dots: Vec<(f64, f64)>,
) -> usize {
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    dots.sort_by(|a, b| a.0.total_cmp(&b.0));
    let covers_a_dot = |b: &Placed| {
        let first = dots.partition_point(|d| d.0 < b.x0 - DOT);
        dots[first..]
            .iter()
            .take_while(|d| d.0 <= b.x1 + DOT)
            .any(|d| d.1 > b.y0 - DOT && d.1 < b.y1 + DOT)
    };
    let mut placed: Vec<Placed> = Vec::new();
    let mut left_out = 0;
    for (x, y, text) in labels {
        let width = text.chars().count() as f64 * CHAR_WIDTH;
        let candidates = [0, 1].into_iter().flat_map(|far| {
            [true, false].into_iter().flat_map(move |right| {
                [OFFSETS[2 * far], OFFSETS[2 * far + 1]].map(|dy| (right, dy))
            })
        });
        let spot = candidates
            .map(|(right, dy)| {
                let x0 = if right { x + GAP } else { x - GAP - width };
                let baseline = y + dy;
                let b = Placed {
                    point_x: x,
                    x0,
                    x1: x0 + width,
                    y0: baseline - 9.0,
                    y1: baseline + 2.0,
                };
                (right, baseline, b)
            })
            .find(|(_, _, b)| {
                let inside = b.x0 >= frame.left + 2.0
                    && b.x1 <= frame.right - 2.0
                    && b.y0 >= frame.top
                    && b.y1 <= frame.bottom;
                inside
                    && !covers_a_dot(b)
                    && !placed
                        .iter()
                        .rev()
                        .take_while(|p| p.point_x >= x - REACH)
                        .any(|p| p.x0 < b.x1 && b.x0 < p.x1 && p.y0 < b.y1 && b.y0 < p.y1)
            });
        let Some((right, baseline, b)) = spot else {
            left_out += 1;
            continue;
        };
        placed.push(b);
        let (text_x, anchor) = if right {
            (b.x0, "start")
        } else {
            (b.x1, "end")
        };
        put!(
            out,
            "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>\n",
            C(text_x),
            C(baseline),
            Esc(&text)
        );
    }
    left_out
}
