//! How noisy the metric is, and what a gain must exceed to be more than noise
//! (docs/CONTRACT.md §7, "The decision rule").
//!
//! - **Evidence.** Every evaluation of the same code under the same setup (same `code` and
//!   `setup` on the record) measured the same true value: the samples of a run with repeats, a
//!   re-check, a baseline evaluated several times. A code's *level* is the median of all its
//!   samples.
//! - **Noise.** The standard deviation of one sample, pooled over every group of two or more
//!   samples of one code (Σ of squared deviations from each group's mean over Σ(nᵢ − 1), its
//!   degrees of freedom), after setting aside wild samples: those more than 4 robust widths
//!   from their group's median, where the robust width is, over the codes (one vote each), the
//!   median of each code's median absolute difference between two of its samples over
//!   √2·Φ⁻¹(¾) ≈ 0.9539 (σ for normal noise). So one wild sample does not inflate it, and for
//!   ordinary noise it is the textbook pooled estimate the t quantile is exact for. A code
//!   whose samples never differ while others' do is left out (a printed constant says nothing
//!   about the noise, and must not shrink it); when no code's samples differ, the noise is 0.
//! - **Threshold.** A candidate's gain over the best must exceed both `min_improvement` and
//!   t(confidence, df) · √(se_c² + se_b²), where se of a level from n samples is σ/√n for n ≤ 2
//!   and 1.2533·σ/√n (the median's large-sample factor √(π/2)) for n ≥ 3: the one-sided test
//!   that the candidate's true value is better than the best's.

use serde::{Deserialize, Serialize};

/// σ = median |xᵢ − xⱼ| / this, for normal noise (√2 · Φ⁻¹(0.75)).
const PAIR_MEDIAN_TO_SD: f64 = 0.953_872_552_417_7;
/// At most this many samples of one group enter the estimate (the latest), so a code
/// re-measured a thousand times does not cost a million differences.
const GROUP_CAP: usize = 64;

/// The noise of one sample, and how it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// Standard deviation of one sample, in metric units.
    pub sd: f64,
    /// Samples in groups of two or more.
    pub samples: u64,
    /// Groups (codes evaluated two or more times).
    pub groups: u64,
    /// Degrees of freedom: Σ(nᵢ − 1).
    pub df: u64,
}

/// A sample further than this many robust widths from its code's median is set aside as wild.
const WILD: f64 = 4.0;

/// The pooled noise of these groups of samples (each group: one code under one setup); `None`
/// when no group has two samples. See the module header.
pub fn estimate<'a>(groups: impl IntoIterator<Item = &'a [f64]>) -> Option<Noise> {
    let groups: Vec<&[f64]> = groups
        .into_iter()
        .filter(|g| g.len() >= 2)
        .map(|g| &g[g.len().saturating_sub(GROUP_CAP)..])
        .collect();
    if groups.is_empty() {
        return None;
    }
    // A code whose samples never differ, while others' do, was not measured by the same noisy
    // process (a printed constant, a cached result): it says nothing about the noise. When no
    // code's samples differ, the eval is deterministic and the noise is 0.
    let varying: Vec<&[f64]> = groups
        .iter()
        .copied()
        .filter(|g| g.iter().any(|x| *x != g[0]))
        .collect();
    if varying.is_empty() {
        let df: u64 = groups.iter().map(|g| g.len() as u64 - 1).sum();
        return Some(Noise {
            sd: 0.0,
            samples: groups.iter().map(|g| g.len() as u64).sum(),
            groups: groups.len() as u64,
            df,
        });
    }
    let width = robust_width(&varying);
    let (mut squares, mut samples, mut count, mut df) = (0.0, 0u64, 0u64, 0u64);
    for g in &varying {
        // Deviations from the median, not the values: identical samples then give exactly 0
        // (a mean of equal values can be off by a rounding unit, which is not noise).
        let center = median(g);
        let kept: Vec<f64> = g
            .iter()
            .map(|x| x - center)
            .filter(|d| d.abs() <= WILD * width)
            .collect();
        if kept.len() < 2 {
            continue;
        }
        let mean = kept.iter().sum::<f64>() / kept.len() as f64;
        squares += kept.iter().map(|d| (d - mean).powi(2)).sum::<f64>();
        samples += kept.len() as u64;
        count += 1;
        df += kept.len() as u64 - 1;
    }
    (df > 0).then(|| Noise {
        sd: (squares / df as f64).sqrt(),
        samples,
        groups: count,
        df,
    })
}

/// The robust width: for each code, the median absolute difference between two of its samples
/// over √2·Φ⁻¹(¾) (σ for normal noise); then the median over the codes, each one vote, so no
/// single code measured many times sets it alone.
fn robust_width(groups: &[&[f64]]) -> f64 {
    let mut widths: Vec<f64> = groups
        .iter()
        .map(|g| {
            let mut diffs: Vec<f64> = Vec::new();
            for (i, a) in g.iter().enumerate() {
                diffs.extend(g[i + 1..].iter().map(|b| (a - b).abs()));
            }
            median_of(&mut diffs) / PAIR_MEDIAN_TO_SD
        })
        .collect();
    median_of(&mut widths)
}

/// The median of some values (reorders them); NaN-free input.
fn median_of(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, hi, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo + hi) / 2.0
}

/// The median; the mean of the middle two for an even count; NaN for none.
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    median_of(&mut samples.to_vec())
}

/// The standard error of a level (the median of `n` samples) in units of σ.
pub fn level_se(n: usize) -> f64 {
    let n = n.max(1) as f64;
    let factor = if n <= 2.0 {
        1.0
    } else {
        std::f64::consts::FRAC_PI_2.sqrt()
    };
    factor / n.sqrt()
}

/// What noise alone can explain of a gain between a level from `a` samples and one from `b`:
/// t(confidence, df) · σ · √(se_a² + se_b²).
pub fn noise_margin(noise: &Noise, a: usize, b: usize, confidence: f64) -> f64 {
    let se = (level_se(a).powi(2) + level_se(b).powi(2)).sqrt();
    t_quantile(confidence, noise.df) * noise.sd * se
}

/// The standard normal quantile Φ⁻¹(p), 0 < p < 1 (Acklam's rational approximation, relative
/// error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.024_25;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Student's t quantile for `df` degrees of freedom (`df` = 0: treated as 1): exact for 1 and 2,
/// else the Cornish–Fisher expansion around the normal quantile (Abramowitz & Stegun 26.7.5,
/// within 0.5 % from 3 degrees of freedom at the confidences allowed).
pub fn t_quantile(p: f64, df: u64) -> f64 {
    match df {
        0 | 1 => (std::f64::consts::PI * (p - 0.5)).tan(),
        2 => (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt(),
        _ => {
            let z = normal_quantile(p);
            let v = df as f64;
            let z2 = z * z;
            let g1 = (z2 + 1.0) * z / 4.0;
            let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
            let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
            let g4 =
                ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
            z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v)
        }
    }
}

/// Samples of N(mean, sd²) from a seeded generator (Box–Muller over a xorshift), for tests.
#[cfg(test)]
pub(crate) fn normal_draws(seed: u64, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn quantiles_match_the_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_552),
            (0.95, 1.644_854),
            (0.99, 2.326_348),
        ] {
            assert!(close(normal_quantile(p), z, 1e-6), "Φ⁻¹({p})");
        }
        assert!(close(normal_quantile(0.001), -3.090_232, 1e-6));
        // t tables (one-sided).
        for (p, df, t) in [
            (0.95, 1, 6.313_752),
            (0.95, 2, 2.919_986),
            (0.95, 3, 2.353_363),
            (0.95, 5, 2.015_048),
            (0.95, 30, 1.697_261),
            (0.99, 3, 4.540_703),
            (0.99, 10, 2.763_769),
            (0.99, 100, 2.364_217),
        ] {
            let got = t_quantile(p, df);
            assert!(close(got, t, 5e-3), "t({p}, {df}) = {got}, want {t}");
        }
    }

    #[test]
    fn the_estimate_recovers_a_known_sd_and_shrugs_off_an_outlier() {
        let draws = normal_draws(42, 400, 10.0, 2.0);
        let mut groups: Vec<Vec<f64>> = draws.chunks(4).map(<[f64]>::to_vec).collect();
        let n = estimate(groups.iter().map(Vec::as_slice)).unwrap();
        assert!((n.sd - 2.0).abs() < 0.2, "sd {}", n.sd);
        assert_eq!((n.groups, n.samples, n.df), (100, 400, 300));
        groups[0][0] = 1e9;
        let wild = estimate(groups.iter().map(Vec::as_slice)).unwrap();
        assert!(
            (wild.sd - n.sd).abs() < 0.05,
            "one wild sample moved it to {}",
            wild.sd
        );
        assert_eq!(
            (wild.samples, wild.df),
            (399, 299),
            "the wild sample is set aside"
        );
    }

    #[test]
    fn single_samples_say_nothing_about_noise() {
        assert_eq!(estimate([&[1.0][..], &[2.0][..]]), None);
        assert_eq!(estimate(std::iter::empty()), None);
        let zero = estimate([&[3.0, 3.0, 3.0][..]]).unwrap();
        assert_eq!((zero.sd, zero.df), (0.0, 2));
        // Exactly 0 for repeats that never differ, whatever rounding a mean would add.
        let three = [1.6568; 3];
        let sum: f64 = three.iter().sum();
        assert_ne!(sum / 3.0, 1.6568, "the case this guards against");
        assert_eq!(estimate([&three[..], &[0.1; 3][..]]).unwrap().sd, 0.0);
    }

    #[test]
    fn a_code_that_never_varies_does_not_shrink_the_noise_of_one_that_does() {
        let noisy = [10.0, 10.5, 9.5];
        let alone = estimate([&noisy[..]]).unwrap();
        let with_constant = estimate([&noisy[..], &[8.5; 5][..], &[8.5; 64][..]]).unwrap();
        assert_eq!(with_constant, alone, "the constants are left out");
        assert_eq!((alone.sd, alone.groups, alone.df), (0.5, 1, 2));
    }

    #[test]
    fn more_samples_narrow_the_margin() {
        let noise = Noise {
            sd: 1.0,
            samples: 10,
            groups: 3,
            df: 20,
        };
        let one = noise_margin(&noise, 1, 1, 0.95);
        let five = noise_margin(&noise, 5, 5, 0.95);
        assert!(close(one, t_quantile(0.95, 20) * 2f64.sqrt(), 1e-9));
        assert!(five < one / 1.5, "{five} vs {one}");
        assert!(noise_margin(&noise, 1, 1, 0.99) > one);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
