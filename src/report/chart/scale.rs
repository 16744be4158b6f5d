//! The numbers behind the chart's axes: the ranges (the y-range rule of the module header),
//! "nice" ticks (1, 2 or 5 × 10^k) and the text of numbers. Every function here returns finite
//! values for any input, so nothing downstream can write `NaN` or `inf` into the SVG.

/// Magnitudes are clamped to this before any range arithmetic: a span or a padding of two
/// clamped values stays finite (2e300 · 1.5 < f64::MAX).
const LIMIT: f64 = 1e300;
/// A span narrower than this fraction of its midpoint is float noise, drawn as a flat band
/// (a tick step must stay far above the spacing of floats near the midpoint, ~2e-16 of it).
const RELATIVE_FLOOR: f64 = 1e-12;
/// The narrowest span at all, so that a midpoint of zero or a subnormal still gets a band.
const ABSOLUTE_FLOOR: f64 = 1e-300;
/// Half the band of a flat history, as a fraction of its level.
const FLAT_BAND: f64 = 0.05;
/// The share of the gap between the best and the baseline added beyond each (karpathy's 15 %).
const GAP_MARGIN: f64 = 0.15;
/// The share of the points' values that may fall outside the range at each end (the rest, the
/// "most points", is always inside).
const TAIL: f64 = 0.05;
/// Padding around the whole range, as a fraction of its span, so that no dot sits on an edge.
const PAD: f64 = 0.04;

/// A finite interval with `lo < hi` and a span of at least `ABSOLUTE_FLOOR`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    /// `[lo, hi]` made safe to draw: non-finite ends become 0, magnitudes are clamped to
    /// `LIMIT`, the ends are ordered, and a span that is float noise (or zero: a flat history, a
    /// single run) becomes a band of ±5 % around its middle (±1 around 0).
    pub fn sane(lo: f64, hi: f64) -> Range {
        let clamp = |v: f64| {
            if v.is_finite() {
                v.clamp(-LIMIT, LIMIT)
            } else {
                0.0
            }
        };
        let (lo, hi) = (clamp(lo).min(clamp(hi)), clamp(lo).max(clamp(hi)));
        let mid = lo / 2.0 + hi / 2.0;
        if hi - lo >= (mid.abs() * RELATIVE_FLOOR).max(ABSOLUTE_FLOOR) {
            return Range { lo, hi };
        }
        let half = if mid == 0.0 {
            1.0
        } else {
            (mid.abs() * FLAT_BAND).max(ABSOLUTE_FLOOR)
        };
        Range {
            lo: mid - half,
            hi: mid + half,
        }
    }

    pub fn span(self) -> f64 {
        self.hi - self.lo
    }

    /// Where `v` lies, 0 at `lo` and 1 at `hi` (outside [0, 1] when `v` is out of range).
    pub fn fraction(self, v: f64) -> f64 {
        let f = (v.clamp(-LIMIT, LIMIT) - self.lo) / self.span();
        if f.is_finite() { f } else { 0.5 }
    }

    pub fn contains(self, v: f64) -> bool {
        v >= self.lo && v <= self.hi
    }

    /// This range with `share` of its span added at each end.
    fn padded(self, share: f64) -> Range {
        let pad = self.span() * share;
        Range::sane(self.lo - pad, self.hi + pad)
    }
}

/// The x-range: all positions, padded so the first and last dots clear the axes.
pub fn x_range(xs: impl Iterator<Item = f64>) -> Range {
    let (lo, hi) = xs
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    if lo > hi {
        return Range { lo: 0.0, hi: 1.0 };
    }
    Range::sane(lo, hi).padded(0.03)
}

/// The y-range (module header): the anchors (the baseline level and every baseline or kept
/// value) plus 15 % of their spread at each end, widened to the central 90 % of all `values`,
/// padded by 4 %. The anchors' spread is the gap between the best and the baseline in
/// karpathy's rule, whatever the direction. `values` is reordered.
pub fn y_range(anchors: &[f64], values: &mut [f64]) -> Range {
    let finite = |v: &&f64| v.is_finite();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &a in anchors.iter().filter(finite) {
        let a = a.clamp(-LIMIT, LIMIT);
        lo = lo.min(a);
        hi = hi.max(a);
    }
    if lo <= hi {
        let gap = hi - lo;
        lo -= gap * GAP_MARGIN;
        hi += gap * GAP_MARGIN;
    }
    if !values.is_empty() {
        let last = values.len() - 1;
        let low = (TAIL * last as f64).floor() as usize;
        let high = ((1.0 - TAIL) * last as f64).ceil() as usize;
        // Two selections, not a sort: linear in the number of points.
        let (_, &mut q_low, _) = values.select_nth_unstable_by(low, f64::total_cmp);
        let (_, &mut q_high, _) = values.select_nth_unstable_by(high, f64::total_cmp);
        lo = lo.min(q_low.clamp(-LIMIT, LIMIT));
        hi = hi.max(q_high.clamp(-LIMIT, LIMIT));
    }
    if lo > hi {
        // Nothing measured: an empty axis from 0 to 1.
        return Range { lo: 0.0, hi: 1.0 };
    }
    Range::sane(lo, hi).padded(PAD)
}

/// A tick step, m × 10^k with m ∈ {1, 2, 5}.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    m: u8,
    k: i32,
}

impl Step {
    /// The nice step nearest to `raw` (> 0) on a log scale: the cuts between 1, 2, 5 and 10
    /// are their geometric means (√2, √10, √50), so an axis gets between about 0.7 and 1.4
    /// times the ticks asked for.
    fn near(raw: f64) -> Step {
        let raw = if raw.is_finite() && raw > 0.0 {
            raw
        } else {
            1.0
        };
        let mut k = raw.log10().floor() as i32;
        // log10 can be a hair off at powers of ten; settle k so that 10^k ≤ raw < 10^(k+1).
        if pow10(k) > raw {
            k -= 1;
        } else if pow10(k + 1) <= raw {
            k += 1;
        }
        match raw / pow10(k) {
            f if f < std::f64::consts::SQRT_2 => Step { m: 1, k },
            f if f < 10f64.sqrt() => Step { m: 2, k },
            f if f < 50f64.sqrt() => Step { m: 5, k },
            _ => Step { m: 1, k: k + 1 },
        }
    }

    pub fn value(self) -> f64 {
        f64::from(self.m) * pow10(self.k)
    }
}

fn pow10(k: i32) -> f64 {
    10f64.powi(k)
}

/// Ticks of an axis: their values and the step that spaced them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub values: Vec<f64>,
    pub step: Step,
}

/// About `target` nice ticks inside `range`; with `integral`, the step is at least 1 (run
/// indexes have no half runs).
pub fn ticks(range: Range, target: usize, integral: bool) -> Ticks {
    let mut step = Step::near(range.span() / target.max(1) as f64);
    if integral && step.k < 0 {
        step = Step { m: 1, k: 0 };
    }
    let s = step.value();
    let first = (range.lo / s).ceil();
    let last = (range.hi / s).floor();
    let mut values = Vec::new();
    if first.is_finite() && last.is_finite() && last >= first && last - first <= 4.0 * target as f64
    {
        let mut i = first;
        while i <= last {
            let v = i * s;
            // 0 is 0, not 1e-17 left over from the multiplication.
            values.push(if v.abs() < s * 1e-9 { 0.0 } else { v });
            i += 1.0;
        }
    }
    Ticks { values, step }
}

/// The labels of ticks: all in fixed notation with the step's decimals (`0.96`, `-1.50`), or,
/// when the largest is at least 1e6 or below 1e-3, in scientific notation with the digits the
/// step needs and no trailing zeros (`9.6e-10`, `1e12`).
pub fn tick_labels(ticks: &Ticks) -> Vec<String> {
    let largest = ticks.values.iter().fold(0f64, |m, v| m.max(v.abs()));
    let scientific = largest >= 1e6 || (largest > 0.0 && largest < 1e-3);
    ticks
        .values
        .iter()
        .map(|&v| {
            if v == 0.0 {
                "0".to_string()
            } else if scientific {
                let digits = (exponent(v) - ticks.step.k).max(0) as usize;
                trim_mantissa(&format!("{v:.digits$e}"))
            } else {
                let decimals = (-ticks.step.k).max(0) as usize;
                format!("{v:.decimals$}")
            }
        })
        .collect()
}

/// The decimal exponent of `v` as Rust's shortest scientific form writes it (exact, unlike
/// `log10` near powers of ten).
fn exponent(v: f64) -> i32 {
    let s = format!("{v:e}");
    s.split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0)
}

/// `1.50e-9` → `1.5e-9`, `1.0e12` → `1e12`.
fn trim_mantissa(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{e}")
        }
        _ => s.to_string(),
    }
}

/// A value in text (a tooltip, the baseline's label, the description): six significant digits,
/// scientific outside [1e-4, 1e6), never `NaN` or `inf`.
pub fn value(v: f64) -> String {
    if !v.is_finite() {
        return "?".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let rounded = format!("{v:.5e}");
    let e = rounded
        .split_once('e')
        .and_then(|(_, e)| e.parse::<i32>().ok())
        .unwrap_or(0);
    if (-4..6).contains(&e) {
        let decimals = (5 - e).max(0) as usize;
        let fixed = format!("{v:.decimals$}");
        if fixed.contains('.') {
            fixed
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            fixed
        }
    } else {
        trim_mantissa(&rounded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_or_broken_range_becomes_a_visible_band() {
        assert_eq!(Range::sane(0.0, 0.0), Range { lo: -1.0, hi: 1.0 });
        let r = Range::sane(2.0, 2.0);
        assert!((r.lo - 1.9).abs() < 1e-12 && (r.hi - 2.1).abs() < 1e-12);
        let r = Range::sane(-1e-9, -1e-9);
        assert!(r.lo < -1e-9 && r.hi > -1e-9 && r.hi < 0.0);
        for (lo, hi) in [
            (f64::NAN, 1.0),
            (f64::NEG_INFINITY, f64::INFINITY),
            (-f64::MAX, f64::MAX),
            (5e-324, 5e-324),
            (1e15, 1e15 + 0.125),
        ] {
            let r = Range::sane(lo, hi);
            assert!(r.lo.is_finite() && r.hi.is_finite() && r.span().is_finite());
            assert!(r.span() > 0.0, "{lo} {hi} gave {r:?}");
            let t = ticks(r, 5, false);
            assert!(!t.values.is_empty(), "{lo} {hi} gave no ticks");
        }
    }

    #[test]
    fn the_y_range_holds_the_anchors_with_a_margin_and_most_values() {
        // Lower is better: baseline 1.0, best 0.9; a discarded tail up to 1.3.
        let mut values: Vec<f64> = (0..100).map(|i| 0.95 + f64::from(i) * 0.003).collect();
        values.push(50.0);
        let r = y_range(&[1.0, 0.95, 0.9], &mut values);
        assert!(r.lo < 0.9 - 0.015 && r.lo > 0.85, "{r:?}");
        assert!(r.hi > 1.2 && r.hi < 2.0, "the outlier 50 stays out: {r:?}");
        // Nothing measured.
        assert_eq!(y_range(&[], &mut []), Range { lo: 0.0, hi: 1.0 });
        // Only a baseline level.
        let r = y_range(&[0.0], &mut []);
        assert!(r.lo < 0.0 && r.hi > 0.0);
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        for (raw, want) in [
            (0.3, 0.2),
            (1.0, 1.0),
            (1.01, 1.0),
            (4.0, 5.0),
            (7.0, 5.0),
            (7.5, 10.0),
            (2e-10, 2e-10),
            (1.3e11, 1e11),
            (1e-9, 1e-9),
        ] {
            let got = Step::near(raw).value();
            assert!((got - want).abs() <= want * 1e-12, "{raw}: {got} != {want}");
        }
    }

    #[test]
    fn tick_labels_are_compact_and_exact() {
        let labels = |lo: f64, hi: f64| tick_labels(&ticks(Range { lo, hi }, 5, false));
        assert_eq!(
            labels(0.9, 1.01),
            ["0.90", "0.92", "0.94", "0.96", "0.98", "1.00"]
        );
        assert_eq!(labels(-3.0, 1.0), ["-3", "-2", "-1", "0", "1"]);
        assert_eq!(labels(-0.35, 0.1), ["-0.3", "-0.2", "-0.1", "0", "0.1"]);
        assert_eq!(
            labels(0.0, 1e12),
            ["0", "2e11", "4e11", "6e11", "8e11", "1e12"]
        );
        assert_eq!(
            labels(9.5e-10, 1.05e-9),
            ["9.6e-10", "9.8e-10", "1e-9", "1.02e-9", "1.04e-9"]
        );
        assert_eq!(
            labels(-2e-9, -1e-9),
            ["-2e-9", "-1.8e-9", "-1.6e-9", "-1.4e-9", "-1.2e-9", "-1e-9"]
        );
        assert_eq!(
            tick_labels(&ticks(Range { lo: -0.4, hi: 3.2 }, 5, true)),
            ["0", "1", "2", "3"]
        );
    }

    #[test]
    fn values_in_text_keep_six_significant_digits() {
        assert_eq!(value(0.998_123_456), "0.998123");
        assert_eq!(value(-2.5), "-2.5");
        assert_eq!(value(1e12), "1e12");
        assert_eq!(value(1.234_567e-9), "1.23457e-9");
        assert_eq!(value(123_456.0), "123456");
        assert_eq!(value(0.0), "0");
        assert_eq!(value(f64::NAN), "?");
    }
}
