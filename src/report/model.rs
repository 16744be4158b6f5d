//! What a report says, as data: built once from the ledger, the config and git, then written
//! as markdown, HTML and JSON by `markdown` and `html`, with the chart from `chart`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::chart::{self, ChartSpec, Mark, Point};
use crate::analysis::{self, Analysis, Pattern, PatternKind, source::Branches};
use crate::config::{Config, Direction};
use crate::error::Result;
use crate::git::CodeDiff;
use crate::ledger::{Brief, Counts, Record, Status, Summary};
use crate::noise::Noise;
use crate::project::Loaded;

/// The patch from the baseline to the best is cut at this many bytes (the HTML shows it).
pub const PATCH_BYTES: usize = 64 * 1024;
/// The markdown lists at most this many log rows unless `full`.
pub const LOG_ROWS_MD: usize = 100;
/// The HTML lists at most this many log rows unless `full`.
pub const LOG_ROWS_HTML: usize = 2000;
/// Near misses and failure groups listed.
const LISTED: usize = 10;

/// What to report on, and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub branches: Branches,
    /// x = hours elapsed instead of the run number.
    pub x_time: bool,
    /// Keeps labelled on the chart and listed first in "what worked".
    pub top: usize,
    /// Every log row.
    pub full: bool,
    pub title: Option<String>,
    /// When the report was made (RFC 3339): `SOURCE_DATE_EPOCH` when set, for reproducible
    /// output.
    pub generated_at: String,
}

/// One kept run and what it added.
#[derive(Debug, Clone, Serialize)]
pub struct Worked {
    pub run: u64,
    /// `#17`, or `#17@gpu-03` for another worker's run (`sync`).
    pub label: String,
    pub branch: String,
    pub metric: Option<f64>,
    /// Its gain over the running best before it (direction-aware, positive is better).
    pub step_gain: f64,
    /// Its share of all step gains, in percent.
    pub share_pct: Option<f64>,
    pub summary: String,
    pub flags: Vec<String>,
}

/// A discarded run that came close to the best of its time.
#[derive(Debug, Clone, Serialize)]
pub struct NearMiss {
    pub run: u64,
    /// `#17`, or `#17@gpu-03` for another worker's run (`sync`).
    pub label: String,
    pub metric: f64,
    /// How far it fell short of the best before it (metric units, ≥ 0).
    pub short_by: f64,
    pub summary: String,
}

/// Crashes and timeouts with one reason.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub reason: String,
    pub count: usize,
    pub runs: Vec<u64>,
}

/// A run with flags.
#[derive(Debug, Clone, Serialize)]
pub struct Flagged {
    pub run: u64,
    /// `#17`, or `#17@gpu-03` for another worker's run (`sync`).
    pub label: String,
    pub status: Status,
    pub flags: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// Every run that carries a flag.
    pub flagged: Vec<Flagged>,
    /// Keeps whose gain over the best before them was within one noise sd.
    pub keeps_within_noise: Vec<u64>,
    /// Keeps taken back, with why.
    pub retracted: BTreeMap<u64, String>,
}

/// The numbers of the summary table.
#[derive(Debug, Clone, Serialize)]
pub struct Numbers {
    pub records: usize,
    pub counts: Counts,
    /// Kept, discarded, crash and timeout runs.
    pub experiments: u64,
    /// Kept / experiments, in percent.
    pub keep_rate_pct: Option<f64>,
    pub baseline: Option<Brief>,
    pub best: Option<Brief>,
    /// The best's level against the baseline's (direction-aware, positive is better).
    pub change: Option<f64>,
    pub change_pct: Option<f64>,
    pub runs_to_best: Option<u64>,
    /// From the first record to the last, and the sum of the evals' durations.
    pub elapsed_s: Option<f64>,
    pub eval_s: f64,
    pub runs_per_hour: Option<f64>,
    pub noise: Option<Noise>,
    /// How the noise was measured, in words.
    pub noise_measured: String,
}

/// How the numbers were made.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub config: Config,
    /// The branches the report covers.
    pub branches: Vec<String>,
    pub tool_version: String,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
    pub baseline_commit: Option<String>,
    pub best_commit: Option<String>,
    /// The hardware classes the records were measured on, in order of first appearance (none
    /// when no class was ever set). Runs are compared only within one class.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hardware: Vec<HardwareRuns>,
    /// The class the best was measured on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_hardware: Option<String>,
}

/// One hardware class and how many of the records were measured on it.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareRuns {
    pub class: String,
    pub records: usize,
}

/// A log row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub run: u64,
    /// `#17`, or `#17@gpu-03` for another worker's run (`sync`).
    pub label: String,
    pub branch: String,
    pub status: Status,
    pub metric: Option<f64>,
    pub delta: Option<f64>,
    pub flags: Vec<String>,
    pub summary: String,
    pub timestamp: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub title: String,
    pub generated_at: String,
    /// `val_bpb 0.9979 → 0.9773 (−2.06 %, lower is better) · 83 runs · 15 kept · ...`
    pub headline: String,
    /// The branch reported on, or `all`.
    pub scope: String,
    pub setup: Provenance,
    pub numbers: Numbers,
    /// Keeps, best step first; the first `top` are labelled on the chart.
    pub worked: Vec<Worked>,
    pub near_misses: Vec<NearMiss>,
    pub failures: Vec<Failure>,
    pub integrity: Integrity,
    pub analysis: Analysis,
    /// Baseline to best: the stat, and the patch (cut at `PATCH_BYTES`).
    pub change: Option<CodeDiff>,
    /// Commands that reproduce the best.
    pub reproduce: Vec<String>,
    /// Every record, in ledger order (the writers cap what they show).
    pub log: Vec<Row>,
    /// Show every log row.
    #[serde(skip)]
    pub full: bool,
    /// The chart, as an SVG document.
    #[serde(skip)]
    pub svg: String,
    /// The labels of another worker's runs (`#17@gpu-03`), by run number here: for the lists
    /// that hold bare numbers (crash groups, retractions).
    #[serde(skip)]
    pub labels: BTreeMap<u64, String>,
}

/// Build the report for `opts` from the project, its ledger's fold and its records.
pub fn build(loaded: &Loaded, summary: &Summary, opts: &Options) -> Result<(Report, Vec<String>)> {
    let cfg = &loaded.config;
    let (records, warnings) = analysis::source::records(loaded, summary, &opts.branches)?;
    let scope_branch = match &opts.branches {
        Branches::One(b) => b.clone(),
        Branches::All => cfg.branch.clone(),
    };
    let scope = summary.scope(Some(&scope_branch));
    let noise = scope.noise(scope.best.as_ref().and_then(|b| b.setup.as_deref()));
    let analysis = analyze(loaded, &records, noise);

    let branch_of = |r: &Record| r.branch.clone().unwrap_or_else(|| cfg.branch.clone());
    let mut branches: Vec<String> = Vec::new();
    for r in &records {
        let b = branch_of(r);
        if !branches.contains(&b) {
            branches.push(b);
        }
    }
    let retracted: BTreeMap<u64, String> = records
        .iter()
        .filter(|r| r.status == Status::Retraction)
        .filter_map(|r| r.retracts.map(|t| (t, r.summary.clone())))
        .collect();
    let (worked, near_misses) = steps(
        &records,
        cfg.metric_direction,
        noise,
        &retracted,
        &branch_of,
    );
    let numbers = numbers(&records, &scope, noise, cfg.metric_direction);
    let change = change(loaded, &numbers);
    let title = opts.title.clone().unwrap_or_else(|| {
        format!(
            "autoresearch: {} on {}",
            cfg.metric_name,
            scope_words(&opts.branches)
        )
    });
    let (hardware, best_hardware) = hardware_runs(&records, numbers.best.as_ref());
    let mut report = Report {
        headline: headline(cfg, &numbers, &hardware, best_hardware.as_deref()),
        title,
        generated_at: opts.generated_at.clone(),
        scope: scope_label(&opts.branches),
        setup: Provenance {
            config: cfg.clone(),
            branches: branches.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            first_at: records.first().map(|r| r.timestamp.clone()),
            last_at: records.last().map(|r| r.timestamp.clone()),
            baseline_commit: numbers.baseline.as_ref().and_then(|b| b.commit.clone()),
            best_commit: numbers.best.as_ref().and_then(|b| b.commit.clone()),
            hardware,
            best_hardware,
        },
        reproduce: reproduce(cfg, numbers.best.as_ref()),
        failures: failures(&records),
        integrity: integrity(&records, &analysis, retracted),
        numbers,
        near_misses,
        change,
        log: records.iter().map(|r| Row::of(r, branch_of(r))).collect(),
        full: opts.full,
        svg: String::new(),
        labels: records
            .iter()
            .filter(|r| r.worker_run.is_some())
            .map(|r| (r.run, r.label()))
            .collect(),
        analysis,
        worked,
    };
    report.svg = render_chart(cfg, &records, &report, opts, &branches, &branch_of);
    Ok((report, warnings))
}

impl Row {
    /// The log's row of `r`, on `branch` (its branch, or the configured one).
    fn of(r: &Record, branch: String) -> Row {
        Row {
            run: r.run,
            label: r.label(),
            branch,
            status: r.status,
            metric: r.metric,
            delta: r.delta,
            flags: r.flags.clone(),
            summary: r.summary.clone(),
            timestamp: r.timestamp.clone(),
        }
    }
}

/// The hardware classes of `records`, in order of first appearance, with their counts; and the
/// class of the best.
fn hardware_runs(records: &[Record], best: Option<&Brief>) -> (Vec<HardwareRuns>, Option<String>) {
    let best = best.and_then(|b| {
        records
            .iter()
            .find(|r| r.run == b.run)
            .and_then(|r| r.hardware.clone())
    });
    let mut out: Vec<HardwareRuns> = Vec::new();
    for class in records.iter().filter_map(|r| r.hardware.as_deref()) {
        match out.iter_mut().find(|h| h.class == class) {
            Some(h) => h.records += 1,
            None => out.push(HardwareRuns {
                class: class.to_string(),
                records: 1,
            }),
        }
    }
    (out, best)
}

/// `on a100`, or `3 hardware classes, best on h100`, for the headline; `None` without a class.
fn hardware_words(classes: &[HardwareRuns], best: Option<&str>) -> Option<String> {
    match (classes, best) {
        ([], _) => None,
        ([one], _) => Some(format!("on {}", one.class)),
        (many, Some(b)) => Some(format!("{} hardware classes, best on {b}", many.len())),
        (many, None) => Some(format!("{} hardware classes", many.len())),
    }
}

/// The setup's `hardware` row: each class with its records, and with several, that they are
/// never compared.
pub fn hardware_text(p: &Provenance) -> Option<String> {
    let list: Vec<String> = p
        .hardware
        .iter()
        .map(|h| {
            format!(
                "{} ({})",
                h.class,
                crate::text::count(h.records, "record", "records")
            )
        })
        .collect();
    match list.len() {
        0 => None,
        1 => Some(list.join("")),
        _ => Some(format!(
            "{}: runs are compared only within one class{}",
            list.join(", "),
            p.best_hardware
                .as_deref()
                .map_or_else(String::new, |b| format!(", the best is on {b}"))
        )),
    }
}

/// The patterns of `records`, with `program.md`'s ideas and the runs' diffs from git.
fn analyze(loaded: &Loaded, records: &[Record], noise: Option<Noise>) -> Analysis {
    let cfg = &loaded.config;
    let program = std::fs::read_to_string(loaded.project.program_path()).ok();
    let diff = |r: &Record| analysis::source::diff_of(loaded, r);
    let mut input = analysis::Input::new(records, cfg.metric_direction);
    input.noise_sd = noise.map(|n| n.sd);
    input.program = program.as_deref();
    input.diff_of = Some(&diff);
    input.default_branch = Some(&cfg.branch);
    analysis::analyze(&input)
}

/// Baseline to best: the stat and the patch, when they are two commits.
fn change(loaded: &Loaded, numbers: &Numbers) -> Option<CodeDiff> {
    let (b, best) = (numbers.baseline.as_ref()?, numbers.best.as_ref()?);
    if b.run == best.run {
        return None;
    }
    crate::git::diff_commits(
        &loaded.project.repo,
        b.commit.as_deref(),
        best.commit.as_deref()?,
        true,
        PATCH_BYTES,
    )
    .ok()
}

fn integrity(
    records: &[Record],
    analysis: &Analysis,
    retracted: BTreeMap<u64, String>,
) -> Integrity {
    Integrity {
        flagged: records
            .iter()
            .filter(|r| !r.flags.is_empty())
            .map(|r| Flagged {
                run: r.run,
                label: r.label(),
                status: r.status,
                flags: r.flags.clone(),
                summary: r.summary.clone(),
            })
            .collect(),
        keeps_within_noise: analysis
            .patterns
            .iter()
            .filter(|p| p.kind == PatternKind::KeepWithinNoise)
            .flat_map(|p| p.runs.iter().copied())
            .collect(),
        retracted,
    }
}

fn scope_label(b: &Branches) -> String {
    match b {
        Branches::One(b) => b.clone(),
        Branches::All => "all".to_string(),
    }
}

/// `autoresearch` or `every branch`, for the title.
fn scope_words(b: &Branches) -> String {
    match b {
        Branches::One(b) => b.clone(),
        Branches::All => "every branch".to_string(),
    }
}

/// Each branch walked in order with its running best (the recorded metrics of its baselines
/// and keeps, retracted keeps aside): every keep's step gain, best first; and the discarded
/// runs that fell short of the best of their time by less than the noise, closest first.
fn steps(
    records: &[Record],
    direction: Direction,
    noise: Option<Noise>,
    retracted: &BTreeMap<u64, String>,
    branch_of: &dyn Fn(&Record) -> String,
) -> (Vec<Worked>, Vec<NearMiss>) {
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    let (mut worked, mut near) = (Vec::new(), Vec::new());
    for r in records {
        let (Some(m), b) = (r.metric, branch_of(r)) else {
            continue;
        };
        match r.status {
            Status::Baseline => {
                best.insert(b, m);
            }
            Status::Kept if !retracted.contains_key(&r.run) => {
                let before = best.get(&b).copied();
                let gain = before.map_or(0.0, |p| direction.gain(m, p));
                if before.is_none_or(|p| direction.better(m, p)) {
                    best.insert(b.clone(), m);
                }
                worked.push(Worked {
                    run: r.run,
                    label: r.label(),
                    branch: b,
                    metric: Some(m),
                    step_gain: gain,
                    share_pct: None,
                    summary: r.summary.clone(),
                    flags: r.flags.clone(),
                });
            }
            Status::Discarded => {
                let (Some(p), Some(n)) = (best.get(&b), noise) else {
                    continue;
                };
                let short = -direction.gain(m, *p);
                if short >= 0.0 && short <= n.sd {
                    near.push(NearMiss {
                        run: r.run,
                        label: r.label(),
                        metric: m,
                        short_by: short,
                        summary: r.summary.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    let total: f64 = worked.iter().map(|w| w.step_gain.max(0.0)).sum();
    for w in &mut worked {
        w.share_pct = (total > 0.0).then(|| w.step_gain.max(0.0) / total * 100.0);
    }
    worked.sort_by(|a, b| b.step_gain.total_cmp(&a.step_gain).then(a.run.cmp(&b.run)));
    near.sort_by(|a, b| a.short_by.total_cmp(&b.short_by).then(a.run.cmp(&b.run)));
    near.truncate(LISTED);
    (worked, near)
}

fn numbers(
    records: &[Record],
    scope: &crate::ledger::Scope,
    noise: Option<Noise>,
    direction: Direction,
) -> Numbers {
    let mut counts = Counts::default();
    for r in records {
        counts.bump(r.status);
    }
    let experiments = counts.kept + counts.discarded + counts.crash + counts.timeout;
    let kept = counts.kept;
    let time = |r: Option<&Record>| {
        r.and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.timestamp).ok())
    };
    let elapsed_s = match (time(records.first()), time(records.last())) {
        (Some(a), Some(b)) => Some((b - a).num_milliseconds().max(0) as f64 / 1000.0),
        _ => None,
    };
    let eval_s: f64 = records.iter().filter_map(|r| r.duration_s).sum();
    let base = scope.baseline.as_ref().and_then(|b| b.metric);
    let best = scope.best_level();
    let change = base.zip(best).map(|(a, b)| direction.gain(b, a));
    Numbers {
        records: records.len(),
        counts,
        experiments,
        keep_rate_pct: (experiments > 0).then(|| kept as f64 / experiments as f64 * 100.0),
        baseline: scope.baseline.as_ref().map(Brief::from),
        best: scope.best.as_ref().map(Brief::from),
        change,
        change_pct: base
            .zip(best)
            .and_then(|(a, b)| crate::ledger::improvement_pct(direction, a, b)),
        runs_to_best: scope.runs_to_best(),
        runs_per_hour: elapsed_s
            .filter(|s| *s > 0.0)
            .map(|s| experiments as f64 / (s / 3600.0)),
        elapsed_s,
        eval_s,
        noise,
        noise_measured: noise.map_or_else(
            || "not measured yet: no code was evaluated twice".to_string(),
            |n| {
                format!(
                    "pooled over {} samples of {} code versions evaluated more than once (df {})",
                    n.samples, n.groups, n.df
                )
            },
        ),
    }
}

/// `val_bpb 0.9979 → 0.9773 (−2.06 %, lower is better) · 83 runs · 15 kept · 7h32m elapsed ·
/// 6h55m of evaluation`
fn headline(cfg: &Config, n: &Numbers, classes: &[HardwareRuns], best: Option<&str>) -> String {
    let num = |v: f64| format!("{}", crate::text::round_significant(v, 6));
    let mut parts = Vec::new();
    let better = format!("{} is better", cfg.metric_direction.as_str());
    parts.push(
        match (n.baseline.as_ref().and_then(|b| b.metric), &n.best) {
            (Some(b), Some(best)) => {
                let level = best.metric.unwrap_or(b);
                let pct = n
                    .change_pct
                    .map(|p| format!("{:+.2} %, ", signed_change(cfg.metric_direction, p)))
                    .unwrap_or_default();
                format!(
                    "{} {} → {} ({pct}{better})",
                    cfg.metric_name,
                    num(b),
                    num(level)
                )
            }
            _ => format!("{} ({better}): no baseline yet", cfg.metric_name),
        },
    );
    parts.push(crate::text::count(n.experiments as usize, "run", "runs"));
    parts.push(format!("{} kept", n.counts.kept));
    if let Some(e) = n.elapsed_s {
        parts.push(format!("{} elapsed", duration(e)));
    }
    if n.eval_s > 0.0 {
        parts.push(format!("{} of evaluation", duration(n.eval_s)));
    }
    parts.extend(hardware_words(classes, best));
    parts.join(" · ")
}

/// The change in percent as the metric moved (negative when it went down): `improvement_pct`
/// is positive when better, whatever the direction.
fn signed_change(direction: Direction, pct: f64) -> f64 {
    match direction {
        Direction::Lower => -pct,
        Direction::Higher => pct,
    }
}

/// `7h32m`, `4m10s`, `12s`.
pub fn duration(secs: f64) -> String {
    crate::text::format_duration(std::time::Duration::from_secs_f64(secs.max(0.0)))
}

fn reproduce(cfg: &Config, best: Option<&Brief>) -> Vec<String> {
    let Some(commit) = best.and_then(|b| b.commit.as_deref()) else {
        return Vec::new();
    };
    vec![
        format!("git checkout {commit}"),
        cfg.eval_command.clone(),
        format!(
            "autoresearch run --recheck {} -m \"reproduce the best\"   # on the experiment branch, at that commit",
            best.map_or(0, |b| b.run)
        ),
    ]
}

/// Crashes and timeouts grouped by reason, digits aside, most frequent first.
fn failures(records: &[Record]) -> Vec<Failure> {
    let mut groups: BTreeMap<String, (String, Vec<u64>)> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| matches!(r.status, Status::Crash | Status::Timeout))
    {
        let reason = r
            .reason
            .clone()
            .unwrap_or_else(|| r.status.as_str().to_string());
        let key: String = reason
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        groups
            .entry(key)
            .or_insert_with(|| (reason, Vec::new()))
            .1
            .push(r.run);
    }
    let mut out: Vec<Failure> = groups
        .into_values()
        .map(|(reason, runs)| Failure {
            reason,
            count: runs.len(),
            runs: runs.into_iter().take(analysis::RUNS_CAP).collect(),
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.runs.cmp(&b.runs)));
    out.truncate(LISTED);
    out
}

/// The chart's points and the SVG.
fn render_chart(
    cfg: &Config,
    records: &[Record],
    report: &Report,
    opts: &Options,
    branches: &[String],
    branch_of: &dyn Fn(&Record) -> String,
) -> String {
    let labelled: Vec<u64> = report.worked.iter().take(opts.top).map(|w| w.run).collect();
    let start = records
        .first()
        .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.timestamp).ok());
    let hours = |r: &Record| {
        let t = chrono::DateTime::parse_from_rfc3339(&r.timestamp).ok()?;
        Some((t - start?).num_milliseconds() as f64 / 3_600_000.0)
    };
    let points: Vec<Point> = records
        .iter()
        .filter_map(|r| {
            let retracted = report.integrity.retracted.contains_key(&r.run);
            let mark = match r.status {
                Status::Baseline => Mark::Baseline,
                Status::Kept if retracted => Mark::Discarded,
                Status::Kept => Mark::Kept,
                Status::Discarded => Mark::Discarded,
                Status::Recheck => Mark::Recheck,
                Status::Crash => Mark::Crash,
                Status::Timeout => Mark::Timeout,
                Status::Retraction => return None,
            };
            let x = if opts.x_time { hours(r)? } else { r.run as f64 };
            Some(Point {
                run: r.run,
                x,
                metric: r.metric,
                mark,
                flagged: retracted || r.flags.iter().any(|f| is_integrity_flag(f)),
                label: labelled
                    .contains(&r.run)
                    .then(|| r.summary.clone())
                    .filter(|s| !s.is_empty()),
                series: branches
                    .iter()
                    .position(|b| *b == branch_of(r))
                    .unwrap_or(0),
            })
        })
        .collect();
    let baseline = report.numbers.baseline.as_ref().and_then(|b| b.metric);
    let (width, height) = chart::DEFAULT_SIZE;
    chart::render(&ChartSpec {
        points: &points,
        direction: cfg.metric_direction,
        metric_name: &cfg.metric_name,
        baseline,
        series_names: branches,
        x_label: if opts.x_time { "hours elapsed" } else { "run" },
        title: Some(&report.title),
        width,
        height,
    })
}

/// Flags that question a result (not the git conditions `revert_skipped`/`revert_incomplete`).
pub fn is_integrity_flag(flag: &str) -> bool {
    !matches!(flag, "revert_skipped" | "revert_incomplete")
}

/// `auto` or the number.
pub fn repeats_text(r: crate::config::Repeats) -> String {
    match r {
        crate::config::Repeats::Auto => "auto".to_string(),
        crate::config::Repeats::Fixed(n) => n.to_string(),
    }
}

/// `0.001` or `0.5%`.
pub fn min_improvement_text(m: crate::config::MinImprovement) -> String {
    match m {
        crate::config::MinImprovement::Absolute(v) => format!("{v}"),
        crate::config::MinImprovement::Percent(p) => format!("{p}%"),
    }
}

impl Report {
    /// `#3`, or `#17@gpu-03` for another worker's run.
    pub fn run_label(&self, run: u64) -> String {
        self.labels
            .get(&run)
            .cloned()
            .unwrap_or_else(|| format!("#{run}"))
    }

    /// The patterns about the truth of results (listed under "Integrity"), and the others
    /// (under "What did not work").
    pub fn patterns_split(&self) -> (Vec<&Pattern>, Vec<&Pattern>) {
        self.analysis
            .patterns
            .iter()
            .partition(|p| is_integrity_pattern(p))
    }

    /// Nothing to say under "Integrity".
    pub fn integrity_clean(&self) -> bool {
        let i = &self.integrity;
        i.flagged.is_empty() && i.retracted.is_empty() && self.patterns_split().0.is_empty()
    }

    /// The log rows a writer shows: all with `full`, else the latest `cap`.
    pub fn log_shown(&self, cap: usize) -> &[Row] {
        let shown = if self.full {
            self.log.len()
        } else {
            self.log.len().min(cap)
        };
        &self.log[self.log.len() - shown..]
    }
}

/// Patterns about the truth of results go under "Integrity".
pub fn is_integrity_pattern(p: &Pattern) -> bool {
    use crate::analysis::PatternKind as K;
    matches!(
        p.kind,
        K::KeepWithinNoise
            | K::SeedOnlyKeep
            | K::SuspiciousJump
            | K::MetricRepeated
            | K::ZeroVariance
            | K::DurationCollapsed
            | K::UntrackedInputs
            | K::LeakedProcesses
            | K::KeptNotBetter
            | K::HarnessChanged
            | K::Retracted
    )
}

/// A metric for people: six significant digits, or the dash.
pub fn fmt_num(v: Option<f64>) -> String {
    v.map_or_else(
        || "—".to_string(),
        |v| format!("{}", crate::text::round_significant(v, 6)),
    )
}

/// A gain for people, with its sign.
pub fn fmt_signed(v: f64) -> String {
    let v = crate::text::round_significant(v, 6);
    if v > 0.0 {
        format!("+{v}")
    } else {
        format!("{v}")
    }
}
