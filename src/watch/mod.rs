//! Watching the loop live (`autoresearch watch`, docs/CONTRACT.md §9): what happened since the
//! last look, as typed events, from the ledger and every branch's loop state.
//!
//! A [`Watcher`] starts from the ledger's fold (the cached summary: nothing re-read) and then,
//! on each [`Watcher::tick`], reads only the lines appended since ([`follow`]), folds them into
//! its copy of the summary by the ledger's own rules, and compares each branch's loop state with
//! the previous tick's. What changed comes back as [`Happening`]s: a record (with the best after
//! it and whether it is a new best), a run that started, a loop that changed state, an alert.
//! It never prints and never sleeps: the caller decides how often to tick and how to show it.

pub mod follow;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Direction};
use crate::error::{AppError, Code, Result};
use crate::ledger::{self, Brief, Filter, Ledger, Line, Record, RunRef, Status, Summary};
use crate::loopfile::{LoopState, Loops};
use crate::project::Project;

use follow::{Follow, Polled};

/// Runs without a keep that make an alert (and each further multiple of it).
pub const STUCK_AFTER: u64 = 10;
/// Crashes or timeouts in a row that make an alert (and each further multiple of it).
pub const CRASH_STREAK: u64 = 3;
/// A step whose heartbeat is older than this is `stale`: alive, but no sign of progress.
/// A running step beats every two seconds, whatever its eval prints.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// The branches a watch follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    Branch(String),
    All,
}

impl Which {
    pub fn covers(&self, branch: &str) -> bool {
        match self {
            Which::Branch(b) => b == branch,
            Which::All => true,
        }
    }
}

/// Where the events start: after the record with this id or run number (another worker's as
/// `17@gpu-03`), or now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    Now,
    Run(RunRef),
    Id(String),
}

impl Since {
    /// `now`, a run number (or `RUN@WORKER`), or a record id: ids never hold an `@`.
    pub fn parse(text: &str) -> Since {
        let t = text.trim();
        if t.eq_ignore_ascii_case("now") {
            Since::Now
        } else if let Some(run) = RunRef::parse(t) {
            Since::Run(run)
        } else {
            Since::Id(t.to_string())
        }
    }

    fn is(&self, rec: &Record) -> bool {
        match self {
            Since::Now => false,
            Since::Run(r) => r.names(rec),
            Since::Id(id) => rec.id == *id,
        }
    }
}

/// What a watcher follows and keeps.
#[derive(Debug, Clone)]
pub struct Options {
    pub which: Which,
    pub since: Since,
    /// Keep each branch's running best (for a sparkline): folds the whole ledger once.
    pub history: bool,
    /// How many of the latest records (of the watched branches) to keep.
    pub recent: usize,
}

/// A loop's state as a watcher tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoopKind {
    /// A step is in progress and beating.
    Running,
    /// Between steps: the agent is thinking (or gone).
    Idle,
    /// A step is in progress, its process alive (or on another host), but no heartbeat for
    /// [`STALE_AFTER`]: stopped, suspended, or its host unreachable.
    Stale,
    /// A step was in progress and its process is gone (killed): the step was abandoned and the
    /// next `run` on the branch cleans it up. What `status` reports as `stale: true`.
    Dead,
}

impl LoopKind {
    pub fn of(s: &LoopState) -> LoopKind {
        if !s.active {
            LoopKind::Idle
        } else if s.stale() {
            LoopKind::Dead
        } else if heartbeat_age(&s.heartbeat_at).is_some_and(|a| a > STALE_AFTER) {
            LoopKind::Stale
        } else {
            LoopKind::Running
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LoopKind::Running => "running",
            LoopKind::Idle => "idle",
            LoopKind::Stale => "stale",
            LoopKind::Dead => "dead",
        }
    }
}

fn heartbeat_age(timestamp: &str) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(timestamp).ok()?;
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .to_std()
        .ok()
}

/// One branch's loop, now.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopNow {
    pub branch: String,
    pub kind: LoopKind,
    pub state: LoopState,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// [`STUCK_AFTER`] runs (or a multiple) without a keep.
    Stuck,
    /// [`CRASH_STREAK`] crashes or timeouts in a row (or a multiple).
    CrashStreak,
    /// A record carries a flag that questions its number.
    Flagged,
    /// A loop went stale.
    LoopStale,
    /// A loop's process died mid-step.
    LoopDead,
    /// The ledger was truncated or replaced; the watch read it again.
    LedgerReplaced,
}

impl AlertKind {
    pub const ALL: &'static [AlertKind] = &[
        AlertKind::Stuck,
        AlertKind::CrashStreak,
        AlertKind::Flagged,
        AlertKind::LoopStale,
        AlertKind::LoopDead,
        AlertKind::LedgerReplaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Stuck => "stuck",
            AlertKind::CrashStreak => "crash-streak",
            AlertKind::Flagged => "flagged",
            AlertKind::LoopStale => "loop-stale",
            AlertKind::LoopDead => "loop-dead",
            AlertKind::LedgerReplaced => "ledger-replaced",
        }
    }
}

/// The best of a branch after a record: the record in brief, and the level its evidence gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BestNow {
    #[serde(flatten)]
    pub brief: Brief,
    /// The median of its samples under its setup (the number decisions compare).
    pub level: Option<f64>,
}

/// What changed since the last tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Happening {
    /// A step of `run` took its run number.
    RunStarted {
        branch: String,
        run: u64,
        pid: u32,
        host: String,
        /// The run's log, growing while the eval runs.
        log: String,
    },
    /// A line was appended to the ledger.
    Record {
        branch: String,
        /// The ledger line as written.
        record: serde_json::Value,
        /// The branch's best after it.
        best: Option<BestNow>,
        /// It made a new best (a better level than the best before it; never a baseline).
        new_best: bool,
        /// Experiments since the branch's last keep, after it.
        runs_since_keep: u64,
    },
    /// A branch's loop changed state.
    Loop {
        branch: String,
        state: LoopKind,
        previous: Option<LoopKind>,
        run: Option<u64>,
        pid: u32,
    },
    Alert {
        kind: AlertKind,
        branch: Option<String>,
        run: Option<u64>,
        message: String,
    },
}

impl Happening {
    fn alert(kind: AlertKind, branch: &str, run: Option<u64>, message: String) -> Happening {
        Happening::Alert {
            kind,
            branch: Some(branch.to_string()),
            run,
            message,
        }
    }
}

/// Follows a project's ledger and loops; see the module header.
pub struct Watcher {
    ledger: Ledger,
    loops: Loops,
    runs_dir: PathBuf,
    direction: Direction,
    opts: Options,
    follow: Follow,
    summary: Summary,
    /// The id of the last record folded: where to resume after the ledger was replaced.
    last_id: Option<String>,
    recent: VecDeque<Record>,
    /// Each branch's running best as `(records in the branch, level)` at each change.
    series: BTreeMap<String, Vec<(u64, f64)>>,
    /// Crashes or timeouts in a row, by branch.
    streaks: BTreeMap<String, u64>,
    loops_now: BTreeMap<String, LoopNow>,
}

impl Watcher {
    /// Start watching. Returns the watcher and, with `since` a record, the records after it
    /// (oldest first) as `Record` happenings. `run_not_found` when `since` names none.
    pub fn open(
        project: &Project,
        cfg: &Config,
        opts: Options,
    ) -> Result<(Watcher, Vec<Happening>)> {
        let ledger = Ledger::new(&project.state_dir(), cfg.metric_direction, &cfg.branch);
        let mut w = Watcher {
            follow: Follow::from(&ledger.path, 0),
            summary: Summary::empty(cfg.metric_direction, &cfg.branch),
            ledger,
            loops: Loops::of(project, &cfg.branch),
            runs_dir: project.runs_dir(),
            direction: cfg.metric_direction,
            opts,
            last_id: None,
            recent: VecDeque::new(),
            series: BTreeMap::new(),
            streaks: BTreeMap::new(),
            loops_now: BTreeMap::new(),
        };
        let replay = if w.opts.since == Since::Now && !w.opts.history {
            w.start_from_summary()?;
            Vec::new()
        } else {
            w.start_from_scratch()?
        };
        w.loops_now = w.read_loops();
        Ok((w, replay))
    }

    /// The cached fold, and the latest records read backwards: no pass over the ledger.
    fn start_from_summary(&mut self) -> Result<()> {
        self.summary = self.ledger.summary()?;
        self.follow = Follow::from(&self.ledger.path, self.summary.offset);
        let filter = Filter {
            branch: match &self.opts.which {
                Which::Branch(b) => Some(b.clone()),
                Which::All => None,
            },
            ..Filter::default()
        };
        let latest = self
            .ledger
            .tail_upto(self.summary.offset, self.opts.recent, &filter)?;
        for rec in latest {
            self.track_streak(&rec);
            self.remember(rec);
        }
        self.last_id = self.summary.all.last.as_ref().map(|r| r.id.clone());
        Ok(())
    }

    /// Fold the whole ledger; the records after `since` come back as happenings.
    fn start_from_scratch(&mut self) -> Result<Vec<Happening>> {
        let since = self.opts.since.clone();
        let mut found = since == Since::Now;
        let mut replay = Vec::new();
        let lines = self.read_new()?.unwrap_or_default();
        for (rec, raw) in lines {
            let marker = since.is(&rec);
            let happened = self.fold(rec, raw);
            if found {
                replay.extend(
                    happened
                        .into_iter()
                        .filter(|h| matches!(h, Happening::Record { .. })),
                );
            }
            // The last record with that run number (or id) is the marker.
            if marker {
                found = true;
                replay.clear();
            }
        }
        if !found {
            return Err(not_found(&since));
        }
        Ok(replay)
    }

    /// The new complete lines of the ledger, parsed (a line that is not a record is passed
    /// over, as every reader does); `None` when the ledger was replaced.
    fn read_new(&mut self) -> Result<Option<Vec<(Record, serde_json::Value)>>> {
        let mut lines: Vec<(Record, serde_json::Value)> = Vec::new();
        let mut first = self.follow.offset() == 0;
        let polled = self.follow.poll(|raw| {
            if let Line::Record(rec) = ledger::parse_line(raw, first) {
                lines.push((*rec, line_value(raw)));
            }
            first = false;
        });
        match polled {
            Ok(Polled::Replaced) => Ok(None),
            Ok(_) => Ok(Some(lines)),
            Err(e) => Err(AppError::io(
                format!("reading `{}`", self.ledger.path.display()),
                &e,
            )),
        }
    }

    /// Look again: the records appended since the last tick, then the loops' changes.
    pub fn tick(&mut self) -> Result<Vec<Happening>> {
        let mut out = Vec::new();
        match self.read_new()? {
            Some(lines) => {
                for (rec, raw) in lines {
                    out.extend(self.fold(rec, raw));
                }
            }
            None => out.extend(self.reload()?),
        }
        out.extend(self.loop_changes());
        Ok(out)
    }

    /// The ledger was truncated or replaced: fold it again from the start, and report what
    /// follows the last record seen (all of it, when that record is gone).
    fn reload(&mut self) -> Result<Vec<Happening>> {
        let last = self.last_id.clone();
        self.summary = Summary::empty(self.direction, self.ledger.default_branch());
        self.follow = Follow::from(&self.ledger.path, 0);
        self.recent.clear();
        self.series.clear();
        self.streaks.clear();
        let lines = self.read_new()?.unwrap_or_default();
        let mut seen = last.is_none();
        let mut after = Vec::new();
        for (rec, raw) in lines {
            let marker = last.as_deref() == Some(rec.id.as_str());
            let happened = self.fold(rec, raw);
            if seen {
                after.extend(happened);
            }
            seen |= marker;
        }
        let mut out = vec![Happening::Alert {
            kind: AlertKind::LedgerReplaced,
            branch: None,
            run: None,
            message: format!(
                "`{}` was truncated or replaced; read again from its start{}.",
                self.ledger.path.display(),
                if seen {
                    ""
                } else {
                    " (the last record seen is gone)"
                }
            ),
        }];
        if seen {
            out.extend(after);
        }
        Ok(out)
    }

    /// Fold one record; what it means for its branch, when the branch is watched.
    fn fold(&mut self, rec: Record, raw: serde_json::Value) -> Vec<Happening> {
        let branch = rec
            .branch
            .clone()
            .unwrap_or_else(|| self.ledger.default_branch().to_string());
        let scope_of = |s: &Summary| {
            s.branches.get(&branch).map(|sc| {
                (
                    sc.best.as_ref().map(|b| b.id.clone()),
                    sc.best_level(),
                    sc.since_keep,
                )
            })
        };
        let (best_before, level_before, since_before) =
            scope_of(&self.summary).unwrap_or((None, None, 0));
        self.last_id = Some(rec.id.clone());
        self.summary.fold(rec.clone());
        let Some(scope) = self.summary.branches.get(&branch) else {
            return Vec::new();
        };
        let level = scope.best_level();
        if self.opts.history
            && let Some(l) = level
        {
            let series = self.series.entry(branch.clone()).or_default();
            if series.last().is_none_or(|(_, last)| *last != l) {
                series.push((scope.total, l));
            }
        }
        if !self.opts.which.covers(&branch) {
            return Vec::new();
        }
        let best = scope.best.as_ref().map(|b| BestNow {
            brief: Brief::from(b),
            level,
        });
        let new_best = match (&scope.best, level) {
            (Some(b), Some(now)) => {
                Some(&b.id) != best_before.as_ref()
                    && b.status != Status::Baseline
                    && level_before.is_none_or(|before| self.direction.better(now, before))
            }
            _ => false,
        };
        let since_keep = scope.since_keep;
        let mut out = vec![Happening::Record {
            branch: branch.clone(),
            record: raw,
            best,
            new_best,
            runs_since_keep: since_keep,
        }];
        out.extend(self.alerts_for(&rec, &branch, since_before, since_keep));
        self.remember(rec);
        out
    }

    /// The alerts one record raises: a flag, a crash streak, a stretch without a keep.
    fn alerts_for(
        &mut self,
        rec: &Record,
        branch: &str,
        since_before: u64,
        since_keep: u64,
    ) -> Vec<Happening> {
        let mut out = Vec::new();
        let doubts: Vec<&str> = rec
            .flags
            .iter()
            .map(String::as_str)
            .filter(|f| ledger::is_integrity_flag(f))
            .collect();
        if !doubts.is_empty() {
            out.push(Happening::alert(
                AlertKind::Flagged,
                branch,
                Some(rec.run),
                format!(
                    "Run #{} ({}) is flagged {}: read its log before trusting it (`autoresearch guide integrity`).",
                    rec.run,
                    rec.status.as_str(),
                    crate::text::code_list(doubts.iter().copied())
                ),
            ));
        }
        let streak = self.track_streak(rec);
        if streak > 0
            && streak.is_multiple_of(CRASH_STREAK)
            && matches!(rec.status, Status::Crash | Status::Timeout)
        {
            out.push(Happening::alert(
                AlertKind::CrashStreak,
                branch,
                Some(rec.run),
                format!(
                    "{streak} crashes or timeouts in a row on `{branch}` (last: run #{}): see `autoresearch guide crashes`.",
                    rec.run
                ),
            ));
        }
        if since_keep != since_before
            && since_keep >= STUCK_AFTER
            && since_keep.is_multiple_of(STUCK_AFTER)
        {
            out.push(Happening::alert(
                AlertKind::Stuck,
                branch,
                Some(rec.run),
                format!(
                    "{since_keep} runs since the last keep on `{branch}`: see `autoresearch guide stuck`."
                ),
            ));
        }
        out
    }

    /// Count a record into its branch's crash streak; returns the streak after it. A run
    /// stopped by Ctrl-C is neither a crash of the idea nor a success: it leaves the streak.
    fn track_streak(&mut self, rec: &Record) -> u64 {
        let branch = rec
            .branch
            .as_deref()
            .unwrap_or(self.ledger.default_branch())
            .to_string();
        let streak = self.streaks.entry(branch).or_default();
        match rec.status {
            Status::Crash | Status::Timeout
                if rec.reason.as_deref() == Some(ledger::INTERRUPTED) => {}
            Status::Crash | Status::Timeout => *streak += 1,
            Status::Retraction => {}
            _ => *streak = 0,
        }
        *streak
    }

    fn remember(&mut self, rec: Record) {
        let branch = rec
            .branch
            .as_deref()
            .unwrap_or(self.ledger.default_branch());
        if !self.opts.which.covers(branch) || self.opts.recent == 0 {
            return;
        }
        if self.recent.len() == self.opts.recent {
            self.recent.pop_front();
        }
        self.recent.push_back(rec);
    }

    /// Every branch's loop as its state file says now (a file that cannot be read is left out).
    fn read_loops(&self) -> BTreeMap<String, LoopNow> {
        self.loops
            .list()
            .into_iter()
            .filter_map(|b| {
                let state = b.state.ok()?;
                Some((
                    b.branch.clone(),
                    LoopNow {
                        branch: b.branch,
                        kind: LoopKind::of(&state),
                        state,
                    },
                ))
            })
            .collect()
    }

    /// The watched loops' changes since the last look: a new run, a new state.
    fn loop_changes(&mut self) -> Vec<Happening> {
        let now = self.read_loops();
        let mut out = Vec::new();
        for (branch, l) in &now {
            if !self.opts.which.covers(branch) {
                continue;
            }
            let before = self.loops_now.get(branch);
            let run_before = before
                .filter(|b| b.kind == LoopKind::Running)
                .and_then(|b| b.state.run);
            let pid_before = before.map(|b| b.state.pid);
            if let Some(run) = l.state.run.filter(|_| l.kind == LoopKind::Running)
                && (run_before != Some(run) || pid_before != Some(l.state.pid))
            {
                out.push(Happening::RunStarted {
                    branch: branch.clone(),
                    run,
                    pid: l.state.pid,
                    host: l.state.host.clone(),
                    log: self.log_path(run).display().to_string(),
                });
            }
            let previous = before.map(|b| b.kind);
            if previous == Some(l.kind) {
                continue;
            }
            out.push(Happening::Loop {
                branch: branch.clone(),
                state: l.kind,
                previous,
                run: l.state.run,
                pid: l.state.pid,
            });
            let run = l
                .state
                .run
                .map(|r| format!(" during run #{r}"))
                .unwrap_or_default();
            match l.kind {
                LoopKind::Dead => out.push(Happening::alert(
                    AlertKind::LoopDead,
                    branch,
                    l.state.run,
                    format!(
                        "The `run` of process {} on `{branch}` died{run}; the next `autoresearch run` on `{branch}` cleans up after it.",
                        l.state.pid
                    ),
                )),
                LoopKind::Stale => out.push(Happening::alert(
                    AlertKind::LoopStale,
                    branch,
                    l.state.run,
                    format!(
                        "The `run` of process {} on `{branch}` (host {}) has not beaten for over {}s{run}: stopped, suspended or unreachable.",
                        l.state.pid,
                        l.state.host,
                        STALE_AFTER.as_secs()
                    ),
                )),
                _ => {}
            }
        }
        self.loops_now = now;
        out
    }

    /// The log of run `run` (written while its eval runs).
    pub fn log_path(&self, run: u64) -> PathBuf {
        self.runs_dir.join(format!("{run}.log"))
    }

    /// The fold of everything read so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The latest records of the watched branches, oldest first.
    pub fn recent(&self) -> impl DoubleEndedIterator<Item = &Record> {
        self.recent.iter()
    }

    /// A branch's running best at each change, as `(records in the branch, level)` (with
    /// `history` only).
    pub fn series(&self, branch: &str) -> &[(u64, f64)] {
        self.series.get(branch).map_or(&[], Vec::as_slice)
    }

    /// Every branch's loop, by branch, as of the last tick.
    pub fn loops(&self) -> impl Iterator<Item = &LoopNow> {
        self.loops_now.values()
    }

    /// The ledger's path.
    pub fn ledger_path(&self) -> &Path {
        &self.ledger.path
    }
}

/// A ledger line as JSON, as written (a byte-order mark and `\r` aside).
fn line_value(raw: &[u8]) -> serde_json::Value {
    let trimmed = raw.strip_suffix(b"\r").unwrap_or(raw);
    let trimmed = trimmed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(trimmed);
    serde_json::from_slice(trimmed).unwrap_or(serde_json::Value::Null)
}

fn not_found(since: &Since) -> AppError {
    match since {
        Since::Run(r) => AppError::new(
            Code::RunNotFound,
            format!("`--since {r}`: the ledger has no run {}.", r.label()),
            "Pass a run number or record id from `autoresearch log`, or `--since now`.",
        ),
        Since::Id(id) => AppError::new(
            Code::RunNotFound,
            format!("`--since {id}`: no record has that id."),
            "Pass a record id (the `id` of a ledger line, as `watch` and `log --json` print it), a run number, or `now`.",
        ),
        Since::Now => AppError::new(Code::Usage, "unreachable", "unreachable"),
    }
}

#[cfg(test)]
mod tests;
