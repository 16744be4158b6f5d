//! `--all-branches` of `status`, `log` and `best`: one row per branch (the experiment branch and
//! each fork, then other workers' copies of them brought by `sync`), from each branch's own
//! records, in `merge-best`'s terms; and the table both draw.

use serde::Serialize;

use autoresearch::forks::rank;
use autoresearch::ledger::Summary;
use autoresearch::noise::Noise;
use autoresearch::project::Loaded;

use crate::output::{Cell, Printer, Style, Table, age, fmt_delta, fmt_level};

/// Every branch's figures: the experiment branch first, then its forks, best first (those
/// measured under another setup last).
#[derive(Debug, Serialize)]
pub struct BranchesView {
    /// The experiment branch, the forks' base.
    pub base: String,
    /// The noise under the base's setup, pooled over the base and its forks.
    pub noise: Option<Noise>,
    pub branches: Vec<rank::Contender>,
}

impl BranchesView {
    pub fn of(loaded: &Loaded, summary: &Summary) -> BranchesView {
        let base = loaded.config.branch.clone();
        let all = rank::select(loaded, summary, &rank::Selection::All, &base).unwrap_or_default();
        let r = rank::rank(loaded, summary, &base, &all);
        let mut branches = vec![r.base];
        branches.extend(r.groups.into_iter().flat_map(|g| g.forks));
        branches.extend(other_workers(loaded, summary, &base));
        BranchesView {
            base,
            noise: r.noise,
            branches,
        }
    }

    pub fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let (base, forks) = self
            .branches
            .split_first()
            .map_or((None, &[][..]), |(b, f)| (Some(b), f));
        let workers = forks.iter().filter(|c| c.branch.contains('@')).count();
        let theirs = match workers {
            0 => String::new(),
            n => format!(
                ", {} of other workers",
                autoresearch::text::count(n, "branch", "branches")
            ),
        };
        p.line(p.paint.bold(&format!(
            "{} and {}{theirs}",
            self.base,
            autoresearch::text::count(forks.len() - workers, "fork", "forks")
        )))?;
        p.table(&table(None, forks, base))
    }
}

/// Other workers' copies of the experiment branches (`<branch>@<worker>`, brought by `sync`),
/// ranked among themselves against `base`'s best: read-only here, so `merge-best` (whose
/// `select` keeps to local branches) shows them and never applies one.
pub fn other_workers(loaded: &Loaded, summary: &Summary, base: &str) -> Vec<rank::Contender> {
    let theirs: Vec<String> = summary
        .branches
        .keys()
        .filter(|b| {
            !loaded.config.is_experiment_branch(b) && rank::is_experiment_scope(&loaded.config, b)
        })
        .cloned()
        .collect();
    if theirs.is_empty() {
        return Vec::new();
    }
    let r = rank::rank(loaded, summary, base, &theirs);
    r.groups.into_iter().flat_map(|g| g.forks).collect()
}

/// The table of `forks` (ranked when `ranked` says from which rank they start), with the
/// base's row last when given.
pub fn table(
    ranked: Option<usize>,
    forks: &[rank::Contender],
    base: Option<&rank::Contender>,
) -> Table {
    let mut headers = Vec::new();
    if ranked.is_some() {
        headers.push("rank");
    }
    headers.extend([
        "branch", "runs", "kept", "crash", "best", "vs base", "%", "σ", "ff", "last", "flags",
    ]);
    let mut t = Table::new(&headers);
    let best = |c: &rank::Contender| {
        c.best.as_ref().map_or_else(
            || "-".to_string(),
            |b| format!("{} {}", b.label(), fmt_level(c.level)),
        )
    };
    for (i, c) in forks.iter().enumerate() {
        let mut row = Vec::new();
        if let Some(from) = ranked {
            row.push(Cell::from(format!("{}", from + i)));
        }
        row.extend([
            Cell::new(
                &c.name,
                if ranked.is_some() && i == 0 {
                    Style::Bold
                } else {
                    Style::Plain
                },
            ),
            Cell::from(c.runs.to_string()),
            Cell::from(c.kept.to_string()),
            Cell::from(c.crashes.to_string()),
            Cell::from(best(c)),
            Cell::from(c.gain.map_or_else(|| "-".into(), fmt_delta)),
            Cell::from(
                c.gain_pct
                    .map_or_else(|| "-".into(), |g| format!("{g:+.2}")),
            ),
            Cell::from(
                c.gain_noise
                    .map_or_else(|| "-".into(), |g| format!("{g:+.1}")),
            ),
            Cell::from(if c.can_fast_forward { "yes" } else { "no" }),
            Cell::from(c.last_activity.as_deref().map_or_else(|| "-".into(), age)),
            Cell::new(c.flags.join(","), Style::Yellow),
        ]);
        t.row(row);
    }
    if let Some(b) = base {
        let mut row = Vec::new();
        if ranked.is_some() {
            row.push(Cell::from(""));
        }
        row.extend([
            Cell::new(format!("{} (base)", b.branch), Style::Dim),
            Cell::from(b.runs.to_string()),
            Cell::from(b.kept.to_string()),
            Cell::from(b.crashes.to_string()),
            Cell::from(best(b)),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
            Cell::from(""),
            Cell::from(b.last_activity.as_deref().map_or_else(|| "-".into(), age)),
            Cell::new(b.flags.join(","), Style::Yellow),
        ]);
        t.row(row);
    }
    t
}
