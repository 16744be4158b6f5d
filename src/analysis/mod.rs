//! Patterns in a history of experiments, for `report` and `review`: where the loop is stuck,
//! which ideas were retried, undone or kept on noise, which runs carry integrity flags, how
//! crashes cluster, and which families of ideas never paid off. Pure: it reads records (and,
//! through a closure, a bounded number of diffs) and returns data; the commands render it.
//!
//! Each detector lives with its kin: `progress` walks each branch in order (streaks, plateaus,
//! keeps within the noise, going back to an earlier state); `repeats` compares what was tried
//! (the same code again, similar summaries or diffs, undone diffs, seed-only keeps); `flags`
//! collects what the records say themselves (integrity flags, retractions, crash reasons);
//! `ideas` groups summaries into families and checks `program.md`'s ideas against them.
//! `words` and `diff` are how summaries and diffs are compared.
//!
//! Every detector is linear or `n log n` in the records. The pairwise one (similar summaries)
//! looks at the latest `NEAR_WINDOW` experiments only, through an index of their rarest
//! words; diffs are read for at most `DIFF_KEEPS` keeps and the latest `DIFF_RECENT`
//! experiments. Every list a pattern carries is capped (`RUNS_CAP`), and so is the number of
//! patterns of one kind (`PATTERNS_PER_KIND`, the rest counted in `omitted`).
//!
//! Titles and details state facts (runs, counts, metrics), never advice: what to do about a
//! pattern is for the commands and the agent to say.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::config::Direction;
use crate::ledger::{INTERRUPTED, Record, Status};

mod diff;
mod flags;
mod ideas;
mod progress;
mod repeats;
pub mod source;
mod words;

#[cfg(test)]
mod tests;

pub use ideas::Family;

/// A pattern lists at most this many runs: the first half and the last half of them, so the
/// start and the latest are both there; `count` has the true number.
pub const RUNS_CAP: usize = 50;
/// At most this many patterns of one kind, the largest (then the latest) first; the others are
/// counted in `Analysis::omitted`.
pub const PATTERNS_PER_KIND: usize = 20;
/// Diffs are read for the latest this many keeps...
pub const DIFF_KEEPS: usize = 500;
/// ...and the latest this many experiments, so a long ledger costs a bounded number of diffs.
pub const DIFF_RECENT: usize = 300;

/// The unified diff of a run's commit against its parent, target files only; `None` when it
/// cannot be had (no commit, a commit git no longer has).
pub type DiffOf<'a> = dyn Fn(&Record) -> Option<String> + 'a;

/// What to analyze: the records of one branch (or of every branch) in ledger order, and what
/// they are judged by.
pub struct Input<'a> {
    pub records: &'a [Record],
    pub direction: Direction,
    /// The standard deviation of one sample, when known (`ledger::Scope::noise`). The
    /// detectors that compare a gain with the noise stay silent without it.
    pub noise_sd: Option<f64>,
    /// The text of `program.md`, for the ideas it lists.
    pub program: Option<&'a str>,
    /// The unified diff of a run's commit against its parent (target files only), when it can
    /// be had. Called for at most `DIFF_KEEPS + DIFF_RECENT` records, once each.
    pub diff_of: Option<&'a DiffOf<'a>>,
    /// The branch of records that name none (the configured branch, docs/CONTRACT.md §5).
    pub default_branch: Option<&'a str>,
}

impl<'a> Input<'a> {
    /// Records and direction only: no noise, no program, no diffs.
    pub fn new(records: &'a [Record], direction: Direction) -> Input<'a> {
        Input {
            records,
            direction,
            noise_sd: None,
            program: None,
            diff_of: None,
            default_branch: None,
        }
    }
}

/// What a pattern is about. The order is the order of `Analysis::patterns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// Experiments in a row without a keep.
    StuckStreak,
    /// The best has not moved for many experiments, or its last keeps moved it by less than
    /// the noise.
    Plateau,
    /// Byte-identical target content evaluated again as a new experiment.
    ExactRepeat,
    /// Experiments with nearly the same summary, or the same changed lines.
    NearDuplicate,
    /// The target went back to an earlier state, or a keep undid an earlier keep's diff.
    Reversal,
    /// A keep whose gain over the best before it is smaller than the noise sd.
    KeepWithinNoise,
    /// A keep whose diff changes only lines that mention a random seed.
    SeedOnlyKeep,
    SuspiciousJump,
    MetricRepeated,
    ZeroVariance,
    DurationCollapsed,
    UntrackedInputs,
    LeakedProcesses,
    KeptNotBetter,
    HarnessChanged,
    Simplification,
    /// Keeps taken back by a `retraction` record.
    Retracted,
    /// Crashes and timeouts with the same reason, numbers, paths and hashes aside.
    CrashCluster,
    /// A family of ideas tried many times and never kept.
    DeadFamily,
    /// An idea listed in `program.md` that no summary mentions.
    UntriedIdea,
}

impl PatternKind {
    pub const ALL: [PatternKind; 20] = [
        PatternKind::StuckStreak,
        PatternKind::Plateau,
        PatternKind::ExactRepeat,
        PatternKind::NearDuplicate,
        PatternKind::Reversal,
        PatternKind::KeepWithinNoise,
        PatternKind::SeedOnlyKeep,
        PatternKind::SuspiciousJump,
        PatternKind::MetricRepeated,
        PatternKind::ZeroVariance,
        PatternKind::DurationCollapsed,
        PatternKind::UntrackedInputs,
        PatternKind::LeakedProcesses,
        PatternKind::KeptNotBetter,
        PatternKind::HarnessChanged,
        PatternKind::Simplification,
        PatternKind::Retracted,
        PatternKind::CrashCluster,
        PatternKind::DeadFamily,
        PatternKind::UntriedIdea,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PatternKind::StuckStreak => "stuck_streak",
            PatternKind::Plateau => "plateau",
            PatternKind::ExactRepeat => "exact_repeat",
            PatternKind::NearDuplicate => "near_duplicate",
            PatternKind::Reversal => "reversal",
            PatternKind::KeepWithinNoise => "keep_within_noise",
            PatternKind::SeedOnlyKeep => "seed_only_keep",
            PatternKind::SuspiciousJump => "suspicious_jump",
            PatternKind::MetricRepeated => "metric_repeated",
            PatternKind::ZeroVariance => "zero_variance",
            PatternKind::DurationCollapsed => "duration_collapsed",
            PatternKind::UntrackedInputs => "untracked_inputs",
            PatternKind::LeakedProcesses => "leaked_processes",
            PatternKind::KeptNotBetter => "kept_not_better",
            PatternKind::HarnessChanged => "harness_changed",
            PatternKind::Simplification => "simplification",
            PatternKind::Retracted => "retracted",
            PatternKind::CrashCluster => "crash_cluster",
            PatternKind::DeadFamily => "dead_family",
            PatternKind::UntriedIdea => "untried_idea",
        }
    }
}

/// One pattern, with the runs it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pattern {
    pub kind: PatternKind,
    /// One line of plain facts: "12 runs in a row without a keep (#40–#51)".
    pub title: String,
    /// One or two sentences of plain facts.
    pub detail: String,
    /// The runs, ascending; at most `RUNS_CAP` (the first and the last halves).
    pub runs: Vec<u64>,
    /// How many runs it rests on (0 for an untried idea).
    pub count: usize,
    /// The branch, for a pattern found in one branch's sequence of runs (a streak, a plateau,
    /// a keep within the noise, a return to an earlier state); null for patterns over all the
    /// records given, and for records with no branch when no default was given.
    pub branch: Option<String>,
    /// `runs` as the human views name them, when one of them is another worker's
    /// (`#17@gpu-03`, docs/CONTRACT.md §5); omitted otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Pattern {
    fn new(kind: PatternKind, title: String, detail: String, runs: Vec<u64>) -> Pattern {
        let (runs, count) = cap_runs(runs);
        Pattern {
            kind,
            title,
            detail,
            runs,
            count,
            branch: None,
            labels: Vec::new(),
        }
    }

    /// `runs` as the human views name them: `#3`, or `#17@gpu-03` for another worker's.
    pub fn run_names(&self) -> Vec<String> {
        if self.labels.is_empty() {
            self.runs.iter().map(|r| format!("#{r}")).collect()
        } else {
            self.labels.clone()
        }
    }

    fn on(mut self, branch: Option<&str>) -> Pattern {
        self.branch = branch.map(str::to_string);
        self
    }
}

/// Patterns left out because their kind had more than `PATTERNS_PER_KIND`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Omitted {
    pub kind: PatternKind,
    pub count: usize,
}

/// The analysis of a history.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Records read.
    pub records: usize,
    /// Experiments among them: kept, discarded, crash and timeout runs, interrupted runs aside.
    pub experiments: usize,
    /// Experiments kept (and not retracted since).
    pub kept: usize,
    /// By kind (in `PatternKind` order), then by first run.
    pub patterns: Vec<Pattern>,
    /// Patterns not listed, by kind.
    pub omitted: Vec<Omitted>,
    /// Families of ideas, most tried first; at most `ideas::FAMILIES_CAP`.
    pub families: Vec<Family>,
    /// Families found, listed or not.
    pub families_total: usize,
    /// Diffs asked for through `Input::diff_of`.
    pub diffs_read: usize,
}

/// The records in the shape the detectors share.
struct View<'a> {
    input: &'a Input<'a>,
    records: &'a [Record],
    /// Runs taken back by a `retraction`.
    retracted: HashSet<u64>,
    /// Each branch's records (indices), in ledger order; branches sorted by name.
    lanes: Vec<(Option<&'a str>, Vec<usize>)>,
    /// Indices of the experiments, in ledger order.
    experiments: Vec<usize>,
    /// How the patterns name another worker's runs (`#17@gpu-03`, `Record::label`), by run
    /// number here; this clone's runs are `#<run>`.
    labels: HashMap<u64, String>,
}

impl<'a> View<'a> {
    fn new(input: &'a Input<'a>) -> View<'a> {
        let records = input.records;
        let retracted = records
            .iter()
            .filter(|r| r.status == Status::Retraction)
            .filter_map(|r| r.retracts)
            .collect();
        let mut lanes: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let branch = r.branch.as_deref().or(input.default_branch);
            lanes.entry(branch).or_default().push(i);
        }
        let experiments = (0..records.len())
            .filter(|i| is_experiment(&records[*i]))
            .collect();
        let labels = records
            .iter()
            .filter(|r| r.worker_run.is_some())
            .map(|r| (r.run, r.label()))
            .collect();
        View {
            input,
            records,
            retracted,
            lanes: lanes.into_iter().collect(),
            experiments,
            labels,
        }
    }

    /// `#3`, or `#17@gpu-03` for another worker's run.
    fn run(&self, run: u64) -> String {
        self.labels
            .get(&run)
            .cloned()
            .unwrap_or_else(|| format!("#{run}"))
    }

    /// `runs` by their labels when one of them is another worker's, else nothing (the
    /// `labels` of a pattern or a family).
    fn labels_of(&self, runs: &[u64]) -> Vec<String> {
        if runs.iter().any(|r| self.labels.contains_key(r)) {
            runs.iter().map(|r| self.run(*r)).collect()
        } else {
            Vec::new()
        }
    }

    /// `#3, #7, #12` for at most `SHOWN` runs, then `and 4 more`.
    fn run_list(&self, runs: &[u64]) -> String {
        const SHOWN: usize = 5;
        let mut s = runs
            .iter()
            .take(SHOWN)
            .map(|r| self.run(*r))
            .collect::<Vec<_>>()
            .join(", ");
        if runs.len() > SHOWN {
            s.push_str(&format!(" and {} more", runs.len() - SHOWN));
        }
        s
    }

    /// `#40–#51`, or `#40` for one run.
    fn span(&self, first: u64, last: u64) -> String {
        if first == last {
            self.run(first)
        } else {
            format!("{}–{}", self.run(first), self.run(last))
        }
    }

    /// Kept, and not taken back since.
    fn is_keep(&self, r: &Record) -> bool {
        r.status == Status::Kept && !self.retracted.contains(&r.run)
    }
}

/// An idea tried: kept, discarded, crashed or timed out. Baselines and re-checks measure what
/// is there; a run stopped by Ctrl-C is not a failed idea; a retraction evaluates nothing.
fn is_experiment(r: &Record) -> bool {
    matches!(
        r.status,
        Status::Kept | Status::Discarded | Status::Crash | Status::Timeout
    ) && r.reason.as_deref() != Some(INTERRUPTED)
}

/// Written by commands that evaluate code already tried elsewhere (a fork's start, a
/// confirmation or fast-forward of `merge-best`): never a retry of an idea.
fn replays(r: &Record) -> bool {
    matches!(r.source.as_str(), "fork" | "merge-best")
}

fn has_flag(r: &Record, flag: &str) -> bool {
    r.flags.iter().any(|f| f == flag)
}

/// Find the patterns in a history. Deterministic: the same input gives the same output.
pub fn analyze(input: &Input) -> Analysis {
    let view = View::new(input);
    let mut patterns = Vec::new();
    let mut reversals = HashSet::new();
    for (branch, lane) in &view.lanes {
        progress::lane(&view, *branch, lane, &mut patterns, &mut reversals);
    }
    let (diffs, diffs_read) = read_diffs(&view);
    let mut vocab = words::Vocab::default();
    let summaries: Vec<Vec<(u32, u32)>> = view
        .experiments
        .iter()
        .map(|i| vocab.intern(&view.records[*i].summary))
        .collect();
    repeats::exact(&view, &reversals, &mut patterns);
    repeats::near(&view, &summaries, &diffs, &mut patterns);
    repeats::undone(&view, &diffs, &reversals, &mut patterns);
    repeats::seed_only(&view, &diffs, &mut patterns);
    flags::flags(&view, &mut patterns);
    flags::retracted(&view, &mut patterns);
    flags::crashes(&view, &mut patterns);
    let families = ideas::families(&view, &vocab, &summaries, &mut patterns);
    if let Some(program) = input.program {
        ideas::untried(program, &vocab, &summaries, &mut patterns);
    }
    let (mut patterns, omitted) = finish(patterns);
    for p in patterns.iter_mut() {
        p.labels = view.labels_of(&p.runs);
    }
    let families_total = families.len();
    Analysis {
        records: view.records.len(),
        experiments: view.experiments.len(),
        kept: view
            .experiments
            .iter()
            .filter(|i| view.is_keep(&view.records[**i]))
            .count(),
        patterns,
        omitted,
        families: families.into_iter().take(ideas::FAMILIES_CAP).collect(),
        families_total,
        diffs_read,
    }
}

/// The changes of the runs worth a diff (the latest `DIFF_KEEPS` keeps and `DIFF_RECENT`
/// experiments), by record index, and how many diffs were asked for.
fn read_diffs(view: &View) -> (BTreeMap<usize, diff::Change>, usize) {
    let mut out = BTreeMap::new();
    let Some(diff_of) = view.input.diff_of else {
        return (out, 0);
    };
    let mut wanted: Vec<usize> = view
        .experiments
        .iter()
        .rev()
        .filter(|i| view.records[**i].status == Status::Kept)
        .take(DIFF_KEEPS)
        .copied()
        .collect();
    wanted.extend(view.experiments.iter().rev().take(DIFF_RECENT));
    wanted.sort_unstable();
    wanted.dedup();
    for i in &wanted {
        if let Some(change) = diff_of(&view.records[*i]).and_then(|d| diff::parse(&d)) {
            out.insert(*i, change);
        }
    }
    (out, wanted.len())
}

/// The patterns in their order, at most `PATTERNS_PER_KIND` of a kind (the ones resting on
/// the most runs, then the latest), and what was left out.
fn finish(patterns: Vec<Pattern>) -> (Vec<Pattern>, Vec<Omitted>) {
    let mut by_kind: BTreeMap<PatternKind, Vec<Pattern>> = BTreeMap::new();
    for p in patterns {
        by_kind.entry(p.kind).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut omitted = Vec::new();
    for (kind, mut list) in by_kind {
        if list.len() > PATTERNS_PER_KIND {
            // Stable: ties keep the detector's order.
            list.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then(b.runs.last().cmp(&a.runs.last()))
            });
            omitted.push(Omitted {
                kind,
                count: list.len() - PATTERNS_PER_KIND,
            });
            list.truncate(PATTERNS_PER_KIND);
        }
        // Untried ideas have no runs: they stay in the order of `program.md`.
        list.sort_by_key(|p| p.runs.first().copied().unwrap_or(u64::MAX));
        out.extend(list);
    }
    (out, omitted)
}

/// Sorted, deduplicated, then the first and last `RUNS_CAP / 2`; with the true count.
fn cap_runs(mut runs: Vec<u64>) -> (Vec<u64>, usize) {
    runs.sort_unstable();
    runs.dedup();
    let count = runs.len();
    if count > RUNS_CAP {
        let half = RUNS_CAP / 2;
        runs.drain(half..count - half);
    }
    (runs, count)
}

/// A summary in a title: quoted, on one line, at most `max` characters.
fn quote(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        format!("\"{one_line}\"")
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("\"{}…\"", cut.trim_end())
    }
}

/// A metric value in a sentence.
fn num(v: f64) -> String {
    crate::text::short_number(v)
}

/// Records by run number (the last record of a run wins, as for `diff`).
fn by_run(records: &[Record]) -> HashMap<u64, usize> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.run, i))
        .collect()
}
