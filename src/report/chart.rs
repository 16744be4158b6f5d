//! The progress chart: a self-contained SVG of every experiment in a ledger, one pure function
//! from points to text (`render`). It draws, prints and reads nothing else.
//!
//! **The encoding** (karpathy's `progress.png`, kept honest for any metric): x is the run's
//! position (its index or the hours elapsed), y its metric. Discarded runs are small grey dots,
//! re-checks small open circles; the baseline and kept runs larger green dots with a dark edge.
//! A dashed line marks the baseline level. Each branch (series) gets a running-best step line
//! from its first baseline or kept point, stepping once per kept or baseline point better than
//! its best so far, so it only moves in the good direction. Runs without a metric (crashes ×,
//! timeouts ◆, and any other run that has none) sit in a strip under the x-axis at their x,
//! neither dropped nor given a fake value. Flagged runs get an amber ring; kept runs the
//! caller chose get their description as a label. Every mark carries a class named after its
//! kind (`kept`, `discarded`, …) and, when it stands for several runs, `data-n`.
//!
//! **The y-range**: the anchors (the baseline level and every baseline or kept value, so the
//! best and the baseline) plus 15 % of their spread beyond each end — karpathy's "best minus
//! 15 % of the gap to the baseline, to the baseline plus 15 %", whatever the direction —
//! widened to hold the central 90 % of all values, then padded by 4 %. A flat history (one run,
//! equal values, a spread below 1e-12 of the level) gets a band of ±5 % of its level (±1 around
//! 0). Values outside the range are drawn as triangles on the edge they fall beyond, and the
//! legend counts them. `scale.rs` holds the arithmetic; everything it returns is finite.
//!
//! **Many runs**: above `BIN_ABOVE` points, discarded runs and re-checks are binned into one
//! column per pixel of plot width (at most `MAX_COLUMNS`): a grey bar from the lowest to the
//! highest value in the column, and one edge triangle per column for those out of range. Runs
//! without a metric are binned into the strip the same way above `STRIP_BIN_ABOVE`. Baseline
//! and kept runs, the running-best lines, the rings and the labels stay exact. Every step is
//! linear in the number of points (the range takes two selections, not a sort).
//!
//! The output is deterministic (no ids, no clock, fixed float formatting) and self-contained
//! (one `<style>`, no scripts, no links).

mod axes;
mod best;
mod bins;
mod head;
mod labels;
mod legend;
mod scale;
mod svg;
#[cfg(test)]
mod tests;

use crate::config::Direction;
use crate::text::count;
use best::Lines;
use bins::Bins;
use scale::{Range, Ticks};
use svg::{C, Shape, clip, close, put};

/// Above this many points, discarded runs and re-checks are binned by column.
pub const BIN_ABOVE: usize = 3000;
/// Above this many runs without a metric, the strip is binned by column too.
pub const STRIP_BIN_ABOVE: usize = 1000;
/// The most columns binning uses (one per pixel of plot width up to this).
pub const MAX_COLUMNS: usize = 1000;
/// The size `render` is usually asked for, in pixels.
pub const DEFAULT_SIZE: (u32, u32) = (960, 540);
/// Labels longer than this many characters are cut, with an ellipsis.
pub const LABEL_CHARS: usize = 40;

/// What a point is: how the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A baseline measurement: an anchor of the running best.
    Baseline,
    /// A change that was kept.
    Kept,
    /// A change that was measured and thrown away.
    Discarded,
    /// A re-measurement of code already measured.
    Recheck,
    /// The eval failed: no metric.
    Crash,
    /// The eval ran out of time: no metric.
    Timeout,
}

impl Mark {
    /// Every mark, in the order of the legend.
    pub const ALL: [Mark; 6] = [
        Mark::Baseline,
        Mark::Kept,
        Mark::Discarded,
        Mark::Recheck,
        Mark::Crash,
        Mark::Timeout,
    ];

    /// The class of this mark's elements in the SVG.
    pub fn class(self) -> &'static str {
        match self {
            Mark::Baseline => "baseline",
            Mark::Kept => "kept",
            Mark::Discarded => "discarded",
            Mark::Recheck => "recheck",
            Mark::Crash => "crash",
            Mark::Timeout => "timeout",
        }
    }

    /// `3 crashes`: a count of this mark for the legend.
    fn counted(self, n: usize) -> String {
        match self {
            Mark::Baseline => count(n, "baseline", "baselines"),
            Mark::Kept => format!("{n} kept"),
            Mark::Discarded => format!("{n} discarded"),
            Mark::Recheck => count(n, "re-check", "re-checks"),
            Mark::Crash => count(n, "crash", "crashes"),
            Mark::Timeout => count(n, "timeout", "timeouts"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Baseline and kept runs anchor the running best and are always drawn one by one.
    fn is_anchor(self) -> bool {
        matches!(self, Mark::Baseline | Mark::Kept)
    }

    /// Where in the strip a run of this mark sits, from its middle: crashes and timeouts on
    /// rows of their own, so that a bin of each in one column shows both.
    fn strip_row(self) -> f64 {
        match self {
            Mark::Crash => -3.5,
            Mark::Timeout => 3.5,
            _ => 0.0,
        }
    }

    /// The shape of one run of this mark.
    fn shape(self) -> Shape {
        match self {
            Mark::Baseline | Mark::Kept => Shape::Dot(4.5),
            Mark::Discarded => Shape::Dot(2.2),
            Mark::Recheck => Shape::Hollow(2.8),
            Mark::Crash => Shape::Cross,
            Mark::Timeout => Shape::Diamond,
        }
    }
}

/// One run on the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The run number (shown in the tooltip).
    pub run: u64,
    /// The position on the x-axis: the run's index or the hours elapsed. A non-finite x
    /// cannot be placed: such a point is left out and the legend says how many were.
    pub x: f64,
    /// The metric; `None` (or a non-finite value) puts the run in the strip under the x-axis.
    /// Crashes and timeouts are always there, whatever their metric.
    pub metric: Option<f64>,
    pub mark: Mark,
    /// The run has an integrity flag: it gets a ring.
    pub flagged: bool,
    /// A short description, drawn beside baseline and kept points (ignored on the others, too
    /// many to label); cut to `LABEL_CHARS` characters. The caller picks which points get one.
    pub label: Option<String>,
    /// The branch: 0 is the main one, 1.. are forks. Each gets its own running-best line.
    pub series: usize,
}

/// Everything the chart shows.
#[derive(Debug, Clone, Copy)]
pub struct ChartSpec<'a> {
    /// The runs, in ledger order (the running best follows this order).
    pub points: &'a [Point],
    pub direction: Direction,
    /// The metric's name, for the y-axis label.
    pub metric_name: &'a str,
    /// The baseline level: a dashed horizontal line, labelled.
    pub baseline: Option<f64>,
    /// The names of the series, by `Point::series` (`series N` where missing).
    pub series_names: &'a [String],
    /// The x-axis label, such as `experiment` or `hours elapsed`.
    pub x_label: &'a str,
    pub title: Option<&'a str>,
    /// The size in pixels; clamped to 320–8000 × 200–8000.
    pub width: u32,
    pub height: u32,
}

/// The chart as a whole SVG document (see the module header for what it draws).
pub fn render(spec: &ChartSpec) -> String {
    Chart::new(spec).draw()
}

/// The value a point has on the y-axis: its metric when finite, never for a crash or timeout.
fn level(p: &Point) -> Option<f64> {
    match p.mark {
        Mark::Crash | Mark::Timeout => None,
        _ => p.metric.filter(|v| v.is_finite()),
    }
}

/// Where the parts of the chart go, in pixels.
#[derive(Debug, Clone, Copy)]
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// The middle of the strip for runs without a metric, under the x-axis.
    strip: f64,
    legend_x: f64,
}

/// Where one point is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spot {
    /// Inside the plot, at (x, y).
    In(f64, f64),
    /// Above the range: a triangle on the top edge at x.
    Above(f64),
    /// Below the range: a triangle on the bottom edge at x.
    Below(f64),
    /// No metric: in the strip at x.
    Strip(f64),
    /// No finite x: not drawn.
    Lost,
}

/// The chart, measured: ranges, ticks and frame, ready to draw.
struct Chart<'s, 'a> {
    spec: &'s ChartSpec<'a>,
    frame: Frame,
    x: Range,
    y: Range,
    x_ticks: Ticks,
    y_ticks: Ticks,
    y_labels: Vec<String>,
    /// Discarded runs and re-checks are binned.
    binned: bool,
    /// Runs without a metric (but the anchors) are binned in the strip.
    strip_binned: bool,
}

impl<'s, 'a> Chart<'s, 'a> {
    fn new(spec: &'s ChartSpec<'a>) -> Self {
        let width = f64::from(spec.width.clamp(320, 8000));
        let height = f64::from(spec.height.clamp(200, 8000));
        let points = spec.points;

        let mut anchors: Vec<f64> = spec.baseline.into_iter().collect();
        anchors.extend(
            points
                .iter()
                .filter(|p| p.mark.is_anchor())
                .filter_map(level),
        );
        let mut values: Vec<f64> = points.iter().filter_map(level).collect();
        let y = scale::y_range(&anchors, &mut values);
        let integral = points.iter().all(|p| p.x.fract() == 0.0);
        let x = scale::x_range(points.iter().map(|p| p.x));

        let top = if spec.title.is_some() { 44.0 } else { 18.0 };
        let bottom = height - 62.0;
        let y_ticks = scale::ticks(y, ((bottom - top) / 70.0).round().max(2.0) as usize, false);
        let y_labels = scale::tick_labels(&y_ticks);
        let widest = y_labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1);
        let left = (34.0 + widest as f64 * 6.6).clamp(66.0, 170.0);
        let legend_x = width - (width * 0.22).clamp(120.0, 220.0);
        let right = legend_x - 16.0;
        let x_ticks = scale::ticks(
            x,
            ((right - left) / 110.0).round().max(2.0) as usize,
            integral,
        );
        let strip_runs = points.iter().filter(|p| level(p).is_none()).count();
        Chart {
            spec,
            frame: Frame {
                width,
                height,
                left,
                right,
                top,
                bottom,
                strip: bottom + 13.0,
                legend_x,
            },
            x,
            y,
            x_ticks,
            y_ticks,
            y_labels,
            binned: points.len() > BIN_ABOVE,
            strip_binned: strip_runs > STRIP_BIN_ABOVE,
        }
    }

    fn px(&self, x: f64) -> f64 {
        let f = &self.frame;
        f.left + self.x.fraction(x) * (f.right - f.left)
    }

    /// The pixel row of a value, held inside the plot.
    fn py(&self, v: f64) -> f64 {
        let f = &self.frame;
        let y = f.bottom - self.y.fraction(v) * (f.bottom - f.top);
        y.clamp(f.top, f.bottom)
    }

    fn spot(&self, p: &Point) -> Spot {
        if !p.x.is_finite() {
            return Spot::Lost;
        }
        let x = self.px(p.x);
        match level(p) {
            None => Spot::Strip(x),
            Some(v) if v > self.y.hi => Spot::Above(x),
            Some(v) if v < self.y.lo => Spot::Below(x),
            Some(v) => Spot::In(x, self.py(v)),
        }
    }

    fn draw(&self) -> String {
        let spec = self.spec;
        let mut tally = Tally::default();
        let mut layers = Layers::default();
        let mut bins = Bins::new(&self.frame);
        let mut lines = Lines::default();
        let mut labels = Vec::new();
        let mut dots = Vec::new();
        for p in spec.points {
            let spot = self.spot(p);
            tally.add(p, spot, spec.direction);
            if spot == Spot::Lost {
                continue;
            }
            let exact = p.mark.is_anchor()
                || match spot {
                    Spot::Strip(_) => !self.strip_binned,
                    _ => !self.binned,
                };
            if exact {
                self.mark(&mut layers, p, spot);
            } else {
                bins.add(p.mark, spot, level(p));
            }
            if p.flagged {
                self.ring(&mut layers.rings, p, spot);
            }
            let (x, _) = self.center(spot);
            lines.reach(p.series, x);
            if let (true, Some(v)) = (p.mark.is_anchor(), level(p)) {
                lines.add(p.series, x, self.py(v), v, spec.direction);
            }
            if let (true, Spot::In(x, y)) = (p.mark.is_anchor(), spot) {
                dots.push((x, y));
            }
            if let (true, Some(text), Spot::In(..) | Spot::Above(_) | Spot::Below(_)) =
                (p.mark.is_anchor(), &p.label, spot)
            {
                let (x, y) = self.center(spot);
                labels.push((x, y, clip(text, LABEL_CHARS)));
            }
        }
        let mut out = String::with_capacity(64 * 1024 + layers.len());
        self.open(&mut out, &tally);
        self.axes(&mut out, tally.strip > 0);
        self.baseline(&mut out);
        self.note(&mut out, &tally);
        bins.draw(&mut out, |v| self.py(v));
        out.push_str(&layers.crowd);
        lines.draw(&mut out);
        out.push_str(&layers.anchors);
        out.push_str(&layers.rings);
        tally.unlabelled = labels::draw(&mut out, &self.frame, labels, dots);
        self.legend(&mut out, &tally, &lines);
        out.push_str("</svg>\n");
        out
    }

    /// The pixel a point's ring and label centre on.
    fn center(&self, spot: Spot) -> (f64, f64) {
        let f = &self.frame;
        match spot {
            Spot::In(x, y) => (x, y),
            Spot::Above(x) => (x, f.top + 5.0),
            Spot::Below(x) => (x, f.bottom - 5.0),
            Spot::Strip(x) => (x, f.strip),
            Spot::Lost => (f.left, f.bottom),
        }
    }

    /// The ring of a flagged run, just outside its mark: a big ring on every small dot would
    /// bury a crowded chart.
    fn ring(&self, out: &mut String, p: &Point, spot: Spot) {
        let (x, y) = self.center(spot);
        let r = match (spot, p.mark.shape()) {
            (Spot::In(..), Shape::Dot(r) | Shape::Hollow(r)) => r + 3.0,
            _ => 7.0,
        };
        put!(
            out,
            "<circle class=\"ring\" cx=\"{}\" cy=\"{}\" r=\"{}\"/>\n",
            C(x),
            C(y),
            C(r)
        );
    }

    /// One run's mark, with its tooltip.
    fn mark(&self, layers: &mut Layers, p: &Point, spot: Spot) {
        let f = &self.frame;
        let out = if p.mark.is_anchor() {
            &mut layers.anchors
        } else {
            &mut layers.crowd
        };
        let class = p.mark.class();
        let tag = match spot {
            Spot::In(x, y) => p.mark.shape().open(out, class, x, y),
            Spot::Above(x) => Shape::Up.open(out, &format!("{class} edge"), x, f.top + 1.0),
            Spot::Below(x) => Shape::Down.open(out, &format!("{class} edge"), x, f.bottom - 1.0),
            Spot::Strip(x) => p
                .mark
                .shape()
                .open(out, class, x, f.strip + p.mark.strip_row()),
            Spot::Lost => return,
        };
        let mut tip = format!("run {} {}", p.run, class);
        if let Some(v) = level(p) {
            put!(&mut tip, " {}", scale::value(v));
        }
        if p.flagged {
            tip.push_str(" (flagged)");
        }
        if let Some(label) = p.label.as_deref().filter(|_| p.mark.is_anchor()) {
            put!(&mut tip, ": {}", clip(label, 200));
        }
        close(out, tag, Some(&tip));
    }
}

/// The marks drawn one by one, by layer (bottom to top).
#[derive(Debug, Default)]
struct Layers {
    /// Discarded runs, re-checks, crashes and timeouts.
    crowd: String,
    /// Baseline and kept runs, above the running-best lines.
    anchors: String,
    rings: String,
}

impl Layers {
    fn len(&self) -> usize {
        self.crowd.len() + self.anchors.len() + self.rings.len()
    }
}

/// The counts the legend and the description show.
#[derive(Debug, Default)]
struct Tally {
    marks: [usize; 6],
    measured: usize,
    strip: usize,
    above: usize,
    below: usize,
    flagged: usize,
    lost: usize,
    /// The best anchor value and its run (over all series).
    best: Option<(u64, f64)>,
    /// Labels left out for want of room.
    unlabelled: usize,
}

impl Tally {
    fn add(&mut self, p: &Point, spot: Spot, direction: Direction) {
        self.marks[p.mark.index()] += 1;
        if let (true, Some(v)) = (p.mark.is_anchor(), level(p))
            && self.best.is_none_or(|(_, b)| direction.better(v, b))
        {
            self.best = Some((p.run, v));
        }
        self.flagged += usize::from(p.flagged);
        match spot {
            Spot::In(..) => self.measured += 1,
            Spot::Above(_) => (self.measured, self.above) = (self.measured + 1, self.above + 1),
            Spot::Below(_) => (self.measured, self.below) = (self.measured + 1, self.below + 1),
            Spot::Strip(_) => self.strip += 1,
            Spot::Lost => self.lost += 1,
        }
    }
}
