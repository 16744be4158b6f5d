//! Ranking forks (docs/CONTRACT.md §9 `merge-best`): each fork by its own records in the
//! ledger, against the base branch's best, never by reading the branches' files.
//!
//! Forks are compared only under one evaluation setup: those measured like the base's best
//! are ranked together; any other setup is a group of its own, reported and never a winner.
//! The winner is the fork with the best level; it is *decisive* when it beats the base's best
//! by more than the threshold a keep needs (the noise margin and `min_improvement`), and the
//! runner-up (the next fork) by more than the noise margin. The noise is pooled over every
//! code measured under that setup on the base and the forks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::error::{AppError, Code, Result};
use crate::git;
use crate::ledger::{Brief, Scope, Summary};
use crate::noise::{self, Noise};
use crate::project::Loaded;

/// Which forks to rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Named(Vec<String>),
}

/// One branch as `merge-best` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Contender {
    /// The fork's name (`wide` of `autoresearch-fork-wide`); the branch for the base.
    pub name: String,
    pub branch: String,
    /// Whether the branch exists in git (its records stay in the ledger after it is deleted).
    pub exists: bool,
    /// Experiments (kept, discarded, crash, timeout); baselines and re-checks are not counted.
    pub runs: u64,
    pub kept: u64,
    /// Crashes and timeouts.
    pub crashes: u64,
    pub rechecks: u64,
    /// The branch's best, and its level with the samples behind it.
    pub best: Option<Brief>,
    pub level: Option<f64>,
    pub samples: usize,
    /// Against the base's best: in metric units (positive is better), percent, and noise units
    /// (the gain over one sample's standard deviation).
    pub gain: Option<f64>,
    pub gain_pct: Option<f64>,
    pub gain_noise: Option<f64>,
    /// The fork's own gain: its best against its baseline (where it started).
    pub own_gain: Option<f64>,
    /// When its last record was written.
    pub last_activity: Option<String>,
    /// Flags on its best record (`suspicious_jump`, ...).
    pub flags: Vec<String>,
    /// The base can be fast-forwarded to its best commit.
    pub can_fast_forward: bool,
    /// The setup its best was measured under.
    pub setup: Option<String>,
    /// The hardware class its best was measured on, when one was set (part of `setup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    #[serde(skip)]
    pub evidence: Vec<f64>,
    /// The evidence key of its best's code (`setup` and `code`).
    #[serde(skip)]
    pub key: Option<String>,
}

/// Forks measured under one setup.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub setup: Option<String>,
    /// The hardware class of that setup, when one was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    /// Measured like the base's best: comparable with it, and with each other.
    pub comparable: bool,
    /// Best first.
    pub forks: Vec<Contender>,
}

/// How far the winner leads.
#[derive(Debug, Clone, Serialize)]
pub struct Lead {
    /// `base` or the runner-up fork's name.
    pub over: String,
    pub gain: f64,
    /// What noise alone can explain of that gain (null while the noise is unknown).
    pub noise_margin: Option<f64>,
    /// The threshold the lead had to beat: the noise margin, and over the base also
    /// `min_improvement`.
    pub threshold: f64,
    pub beyond: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    /// The base branch and its best.
    pub base: Contender,
    /// The noise under the base's setup, pooled over the base and the comparable forks.
    pub noise: Option<Noise>,
    pub groups: Vec<Group>,
    /// The best comparable fork, if it beats the base's best at all.
    pub winner: Option<String>,
    pub decisive: bool,
    /// `decisive`, `tie within noise`, `not beyond the base`, `no fork beats the base`,
    /// `noise unknown` or `no forks`.
    pub verdict: String,
    /// The winner's lead over the base and over the runner-up.
    pub over_base: Option<Lead>,
    pub over_runner_up: Option<Lead>,
}

impl Ranking {
    /// The comparable group, best first.
    pub fn comparable(&self) -> &[Contender] {
        self.groups
            .iter()
            .find(|g| g.comparable)
            .map_or(&[], |g| &g.forks)
    }

    pub fn winner(&self) -> Option<&Contender> {
        let w = self.winner.as_deref()?;
        self.comparable().iter().find(|c| c.name == w)
    }
}

/// The fork branches to rank: every fork of `cfg.branch` with a branch or records, or the named
/// ones (a name or a whole branch name); `fork_not_found` for a name that is neither.
pub fn select(
    loaded: &Loaded,
    summary: &Summary,
    sel: &Selection,
    into: &str,
) -> Result<Vec<String>> {
    let cfg = &loaded.config;
    let mut all: Vec<String> = super::fork_branches(loaded);
    for b in summary.branches.keys() {
        if cfg.is_experiment_branch(b) && b != &cfg.branch && !all.contains(b) {
            all.push(b.clone());
        }
    }
    all.retain(|b| b != into);
    all.sort();
    match sel {
        Selection::All => Ok(all),
        Selection::Named(names) => {
            let mut out = Vec::new();
            for n in names {
                let full = format!("{}-fork-{n}", cfg.branch);
                let b = [n, &full].into_iter().find(|b| all.contains(b)).ok_or_else(|| {
                    AppError::new(
                        Code::ForkNotFound,
                        format!("No fork `{n}`: no branch `{full}` and no records on it."),
                        format!(
                            "The forks are: {}. Name them as `--forks a,b` or leave the flag out to rank all.",
                            if all.is_empty() { "none yet".to_string() } else { crate::text::code_list(all.iter().map(|b| fork_name(cfg, b))) }
                        ),
                    )
                })?;
                if !out.contains(b) {
                    out.push(b.clone());
                }
            }
            Ok(out)
        }
    }
}

/// Is `scope` a branch scope of the experiment: an experiment branch, or another worker's copy
/// of one (`<branch>@<worker>`, as `sync` files it)? `--all-branches` lists these; `select`,
/// and so `merge-best`, keeps to the experiment branches, the ones this clone can run on and
/// apply to ([`Config::is_experiment_branch`], which also gates `run`).
pub fn is_experiment_scope(cfg: &Config, scope: &str) -> bool {
    cfg.is_experiment_branch(scope)
        || scope.rsplit_once('@').is_some_and(|(branch, worker)| {
            crate::sync::worker::valid(worker) && cfg.is_experiment_branch(branch)
        })
}

/// `wide` for `autoresearch-fork-wide`.
pub fn fork_name<'a>(cfg: &Config, branch: &'a str) -> &'a str {
    branch
        .strip_prefix(cfg.branch.as_str())
        .and_then(|r| r.strip_prefix("-fork-"))
        .unwrap_or(branch)
}

/// Rank `forks` against the base branch `into`.
pub fn rank(loaded: &Loaded, summary: &Summary, into: &str, forks: &[String]) -> Ranking {
    let cfg = &loaded.config;
    let repo = &loaded.project.repo;
    let base_tip = git::branch_tip(repo, into);
    let base_scope = summary.scope(Some(into));
    let mut base = contender(loaded, into, into, &base_scope, base_tip);
    base.can_fast_forward = false;
    let base_setup = base.setup.clone();
    let mut by_setup: BTreeMap<Option<String>, Vec<Contender>> = BTreeMap::new();
    let scopes: Vec<(String, Scope)> = forks
        .iter()
        .map(|b| (b.clone(), summary.scope(Some(b))))
        .collect();
    let mut forks_found: Vec<Contender> = scopes
        .iter()
        .map(|(b, scope)| contender(loaded, fork_name(cfg, b), b, scope, base_tip))
        .collect();
    {
        let all: Vec<&Scope> = std::iter::once(&base_scope)
            .chain(scopes.iter().map(|(_, s)| s))
            .collect();
        let mut each: Vec<&mut Contender> = std::iter::once(&mut base)
            .chain(forks_found.iter_mut())
            .collect();
        unify(&mut each, &all);
    }
    for c in forks_found {
        by_setup.entry(c.setup.clone()).or_default().push(c);
    }
    // The noise: every code measured under the base's setup, on the base and on the forks,
    // each code once (the copy with the most samples: a fork's start record repeats them).
    let mut pooled: BTreeMap<String, &[f64]> = BTreeMap::new();
    for scope in std::iter::once(&base_scope).chain(scopes.iter().map(|(_, s)| s)) {
        for (k, e) in &scope.evidence {
            if e.setup == base_setup && pooled.get(k).is_none_or(|p| p.len() < e.samples.len()) {
                pooled.insert(k.clone(), &e.samples);
            }
        }
    }
    let noise = noise::estimate(pooled.values().copied());
    let dir = cfg.metric_direction;
    let mut groups: Vec<Group> = by_setup
        .into_iter()
        .map(|(setup, mut forks)| {
            forks.sort_by(|a, b| match (a.level, b.level) {
                (Some(x), Some(y)) if dir.better(x, y) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) if dir.better(y, x) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                _ => a.name.cmp(&b.name),
            });
            Group {
                comparable: setup == base_setup && base_setup.is_some(),
                hardware: forks.iter().find_map(|f| f.hardware.clone()),
                setup,
                forks,
            }
        })
        .collect();
    groups.sort_by_key(|g| !g.comparable);
    let mut r = Ranking {
        base,
        noise,
        groups,
        winner: None,
        decisive: false,
        verdict: String::new(),
        over_base: None,
        over_runner_up: None,
    };
    judge(&mut r, cfg);
    r
}

/// A branch's figures from its scope.
fn contender(
    loaded: &Loaded,
    name: &str,
    branch: &str,
    scope: &Scope,
    base_tip: Option<git2::Oid>,
) -> Contender {
    let repo = &loaded.project.repo;
    let c = &scope.counts;
    let best = scope.best.as_ref();
    let evidence = match scope.best_evidence() {
        Some(e) if !e.samples.is_empty() => e.samples.clone(),
        _ => best.and_then(|b| b.metric).into_iter().collect(),
    };
    let level = scope.best_level();
    let own_gain = match (level, scope.baseline.as_ref().and_then(|b| b.metric)) {
        (Some(l), Some(b)) => Some(loaded.config.metric_direction.gain(l, b)),
        _ => None,
    };
    let commit = best
        .and_then(|b| b.commit.as_deref())
        .and_then(|c| git2::Oid::from_str(c).ok());
    let can_fast_forward = match (base_tip, commit) {
        (Some(t), Some(c)) => t != c && repo.graph_descendant_of(c, t).unwrap_or(false),
        _ => false,
    };
    Contender {
        name: name.to_string(),
        branch: branch.to_string(),
        exists: git::branch_exists(repo, branch),
        runs: c.kept + c.discarded + c.crash + c.timeout,
        kept: c.kept,
        crashes: c.crash + c.timeout,
        rechecks: c.recheck,
        best: best.map(Brief::from),
        level,
        samples: evidence.len(),
        gain: None,
        gain_pct: None,
        gain_noise: None,
        own_gain,
        last_activity: scope.last.as_ref().map(|r| r.timestamp.clone()),
        flags: best.map(|b| b.flags.clone()).unwrap_or_default(),
        can_fast_forward,
        setup: best.and_then(|b| b.setup.clone()),
        hardware: best.and_then(|b| b.hardware.clone()),
        evidence,
        key: scope.best_key.clone(),
    }
}

/// One code measured on several branches is one code: every contender whose best is that code
/// gets the copy of its evidence with the most samples among the branches (a fork's start
/// record repeats its parent's samples, so copies are not added up). Same code, same level.
fn unify(contenders: &mut [&mut Contender], scopes: &[&Scope]) {
    let mut fullest: BTreeMap<&str, &[f64]> = BTreeMap::new();
    for scope in scopes {
        for (k, e) in &scope.evidence {
            if fullest
                .get(k.as_str())
                .is_none_or(|p| p.len() < e.samples.len())
            {
                fullest.insert(k, &e.samples);
            }
        }
    }
    for c in contenders.iter_mut() {
        let Some(samples) = c.key.as_deref().and_then(|k| fullest.get(k)) else {
            continue;
        };
        if samples.len() > c.evidence.len() {
            c.evidence = samples.to_vec();
            c.samples = samples.len();
            c.level = Some(noise::median(samples));
        }
    }
}

/// Winner, leads and verdict.
fn judge(r: &mut Ranking, cfg: &Config) {
    let dir = cfg.metric_direction;
    let base_level = r.base.level;
    // Gains over the base, now that the direction is known; none across hardware classes,
    // which are never compared.
    let sd = r.noise.map(|n| n.sd);
    let base_hardware = r.base.hardware.clone();
    for g in &mut r.groups {
        for c in g.forks.iter_mut().filter(|c| c.hardware == base_hardware) {
            if let (Some(l), Some(b)) = (c.level, base_level) {
                let gain = dir.gain(l, b);
                c.gain = Some(gain);
                c.gain_pct = (b != 0.0).then(|| gain / b.abs() * 100.0);
                c.gain_noise = sd.filter(|s| *s > 0.0).map(|s| gain / s);
            }
        }
    }
    let forks = r.comparable().to_vec();
    let Some(first) = forks.first().filter(|c| c.level.is_some()) else {
        r.verdict = if r.groups.iter().all(|g| g.forks.is_empty()) {
            "no forks".into()
        } else {
            "no fork beats the base".into()
        };
        return;
    };
    let (Some(level), Some(base_level)) = (first.level, base_level) else {
        r.verdict = "no fork beats the base".into();
        return;
    };
    let gain = dir.gain(level, base_level);
    if gain <= 0.0 {
        r.verdict = "no fork beats the base".into();
        return;
    }
    r.winner = Some(first.name.clone());
    let margin = |n: usize, m: usize| {
        r.noise
            .map(|nz| noise::noise_margin(&nz, n, m, cfg.confidence))
    };
    let nm = margin(first.samples, r.base.samples);
    let threshold = cfg
        .min_improvement
        .margin(base_level)
        .max(nm.unwrap_or(0.0));
    let over_base = Lead {
        over: "base".into(),
        gain,
        noise_margin: nm,
        threshold,
        beyond: nm.is_some() && gain > threshold,
    };
    let over_runner_up = forks.get(1).and_then(|second| {
        let l2 = second.level?;
        let lead = dir.gain(level, l2);
        let nm = margin(first.samples, second.samples);
        Some(Lead {
            over: second.name.clone(),
            gain: lead,
            noise_margin: nm,
            threshold: nm.unwrap_or(0.0),
            beyond: nm.is_some() && lead > nm.unwrap_or(0.0),
        })
    });
    r.decisive = over_base.beyond && over_runner_up.as_ref().is_none_or(|l| l.beyond);
    r.verdict = if r.decisive {
        "decisive".into()
    } else if r.noise.is_none() {
        "noise unknown".into()
    } else if !over_base.beyond {
        "not beyond the base".into()
    } else {
        "tie within noise".into()
    };
    r.over_base = Some(over_base);
    r.over_runner_up = over_runner_up;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_workers_copies_of_experiment_branches_are_scopes_not_branches() {
        let (cfg, _) = Config::parse(
            "autoresearch.toml",
            "target_file = \"t.py\"\neval_command = \"sh e.sh\"\nmetric_name = \"m\"\nmetric_direction = \"lower\"\n",
        )
        .expect("valid");
        for yes in [
            "autoresearch",
            "autoresearch-fork-wide",
            "autoresearch@gpu-03",
            "autoresearch-fork-wide@vm-1",
        ] {
            assert!(is_experiment_scope(&cfg, yes), "{yes}");
        }
        for no in [
            "main",
            "main@gpu-03",
            "autoresearch@",
            "autoresearch@GPU",
            "autoresearch@a@b",
        ] {
            assert!(!is_experiment_scope(&cfg, no), "{no}");
        }
        assert!(!cfg.is_experiment_branch("autoresearch@gpu-03"));
    }
}
