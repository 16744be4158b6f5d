//! The frame of the plot: grid lines, ticks and their labels, the axes and their labels, the
//! strip for runs without a metric, the baseline level, and a note when there is nothing to plot.

use super::scale;
use super::svg::{C, Esc, clip, put};
use super::{Chart, Tally};
use crate::config::Direction;

impl Chart<'_, '_> {
    /// Grid, ticks, tick labels, the axes and their labels, and the strip's band.
    pub(super) fn axes(&self, out: &mut String, strip: bool) {
        let f = &self.frame;
        let (l, r, t, b) = (C(f.left), C(f.right), C(f.top), C(f.bottom));
        for (v, label) in self.y_ticks.values.iter().zip(&self.y_labels) {
            let y = C(self.py(*v));
            put!(out, r#"<path class="grid" d="M{l} {y}H{r}"/>"#);
            put!(
                out,
                r#"<text class="tick" x="{}" y="{}" text-anchor="end">{label}</text>"#,
                C(f.left - 6.0),
                C(self.py(*v) + 4.0)
            );
            out.push('\n');
        }
        let x_labels = scale::tick_labels(&self.x_ticks);
        for (v, label) in self.x_ticks.values.iter().zip(&x_labels) {
            let x = C(self.px(*v));
            put!(
                out,
                r#"<path class="grid" d="M{x} {t}V{b}"/><path class="axis" d="M{x} {b}v24"/>"#
            );
            put!(
                out,
                r#"<text class="tick" x="{x}" y="{}" text-anchor="middle">{label}</text>"#,
                C(f.bottom + 38.0)
            );
            out.push('\n');
        }
        if strip {
            put!(
                out,
                r#"<rect class="strip" x="{l}" y="{}" width="{}" height="18"/>"#,
                C(f.strip - 9.0),
                C(f.right - f.left)
            );
            put!(
                out,
                r#"<text class="tick" x="{}" y="{}" text-anchor="end">no metric</text>"#,
                C(f.left - 6.0),
                C(f.strip + 3.5)
            );
            out.push('\n');
        }
        put!(out, r#"<path class="axis" d="M{l} {t}V{b}H{r}"/>"#);
        out.push('\n');
        let mid_y = C((f.top + f.bottom) / 2.0);
        let max = ((f.bottom - f.top) / 6.5) as usize;
        let better = match self.spec.direction {
            Direction::Lower => "lower is better",
            Direction::Higher => "higher is better",
        };
        let y_label = clip(
            &format!("{} ({better})", clip(self.spec.metric_name, 60)),
            max,
        );
        put!(
            out,
            r#"<text class="axis-label" transform="translate(16 {mid_y}) rotate(-90)" text-anchor="middle">{}</text>"#,
            Esc(&y_label)
        );
        let max = ((f.right - f.left) / 7.0) as usize;
        put!(
            out,
            r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            C((f.left + f.right) / 2.0),
            C(f.height - 8.0),
            Esc(&clip(self.spec.x_label, max))
        );
        out.push('\n');
    }

    /// The baseline level: a dashed line across the plot, labelled at its right end.
    pub(super) fn baseline(&self, out: &mut String) {
        let Some(b) = self
            .spec
            .baseline
            .filter(|b| b.is_finite() && self.y.contains(*b))
        else {
            return;
        };
        let f = &self.frame;
        let y = self.py(b);
        put!(
            out,
            r#"<path class="level" d="M{} {}H{}"/>"#,
            C(f.left),
            C(y),
            C(f.right)
        );
        put!(
            out,
            r#"<text class="level-label" x="{}" y="{}" text-anchor="end">baseline {}</text>"#,
            C(f.right - 4.0),
            C(y - 4.0),
            scale::value(b)
        );
        out.push('\n');
    }

    /// A line in the middle of an empty plot.
    pub(super) fn note(&self, out: &mut String, tally: &Tally) {
        let text = if self.spec.points.is_empty() {
            "no runs yet"
        } else if tally.measured == 0 {
            "no run has a metric yet"
        } else {
            return;
        };
        let f = &self.frame;
        put!(
            out,
            r#"<text class="note" x="{}" y="{}" text-anchor="middle">{text}</text>"#,
            C((f.left + f.right) / 2.0),
            C((f.top + f.bottom) / 2.0)
        );
        out.push('\n');
    }
}
