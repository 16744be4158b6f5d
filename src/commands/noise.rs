//! The noise as `status`, `best` and `log` show it: the standard deviation of one sample under
//! the best's setup, how it was measured, and the evidence behind the best's level.

use serde::Serialize;

use crate::output::fmt_approx;
use autoresearch::ledger::Scope;
use autoresearch::noise::Noise;

#[derive(Debug, Clone, Serialize)]
pub struct NoiseView {
    /// Standard deviation of one sample in metric units; null while unknown.
    pub sd: Option<f64>,
    /// Samples and codes it was pooled from (codes evaluated two or more times), and its
    /// degrees of freedom.
    pub samples: u64,
    pub groups: u64,
    pub df: u64,
    /// How it was measured, in words.
    pub measured: String,
    /// The best's level (the median of every sample of its code) and the samples behind it.
    pub best_level: Option<f64>,
    pub best_samples: u64,
}

impl NoiseView {
    /// The noise under the best's setup in this scope.
    pub fn of(scope: &Scope) -> NoiseView {
        let best = scope.best_evidence();
        let setup = best.and_then(|e| e.setup.as_deref());
        let noise = scope.noise(setup);
        NoiseView {
            sd: noise.map(|n| n.sd),
            samples: noise.map_or(0, |n| n.samples),
            groups: noise.map_or(0, |n| n.groups),
            df: noise.map_or(0, |n| n.df),
            measured: measured(noise.as_ref()),
            best_level: scope.best_level(),
            best_samples: best.map_or(u64::from(scope.best.is_some()), |e| e.count),
        }
    }

    /// `±0.012 (df 14)` or `unknown`.
    pub fn short(&self) -> String {
        match self.sd {
            Some(sd) => format!("±{} (df {})", fmt_approx(sd), self.df),
            None => "unknown".to_string(),
        }
    }
}

fn measured(n: Option<&Noise>) -> String {
    match n {
        Some(n) => format!(
            "from {} samples of {} code version(s) evaluated more than once since the baseline",
            n.samples, n.groups
        ),
        None => "unknown: no code was evaluated twice since the baseline; measure it with `autoresearch run --recheck -m \"noise check\"`".to_string(),
    }
}
