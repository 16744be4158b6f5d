//! The dashboard `watch` draws at a terminal: a pure function of what the watcher knows and
//! the terminal's size, so it is tested without one. Every line fits the width (cut by display
//! columns, then painted); sections give way from the bottom when the height is short.

use std::collections::VecDeque;
use std::time::Duration;

use unicode_width::UnicodeWidthStr;

use autoresearch::config::{Config, Direction};
use autoresearch::ledger::{self, Record, Scope, Status};
use autoresearch::text::format_duration;
use autoresearch::watch::follow::Follow;
use autoresearch::watch::{LoopKind, LoopNow};

use crate::commands::noise::NoiseView;
use crate::output::{Paint, Style, fmt_delta, fmt_level, shorten};

/// How much of a log's end is read when it is first shown, or after it ran far ahead.
const TAIL_BYTES: u64 = 64 * 1024;
/// A log that grew by more than this since the last look is read again from near its end.
const SKIP_AHEAD: u64 = 1024 * 1024;

/// The last lines of the current run's log, followed as it grows.
pub struct LogTail {
    pub run: u64,
    follow: Follow,
    pub lines: VecDeque<String>,
    keep: usize,
    /// Bytes of output passed over to keep up (shown in the log's heading).
    pub skipped: u64,
}

impl LogTail {
    pub fn new(run: u64, path: &std::path::Path, keep: usize) -> LogTail {
        LogTail {
            run,
            follow: Follow::tail_of(path, TAIL_BYTES),
            lines: VecDeque::new(),
            keep: keep.max(1),
            skipped: 0,
        }
    }

    /// Read what was appended; whether anything shown changed. A log that grew by more than
    /// [`SKIP_AHEAD`] since the last look is read from near its end: only its last lines show,
    /// and an eval printing megabytes a second must not make the watch read them all.
    pub fn update(&mut self) -> bool {
        let behind = std::fs::metadata(self.follow.path())
            .map(|m| m.len().saturating_sub(self.follow.offset()))
            .unwrap_or(0);
        if behind > SKIP_AHEAD {
            let path = self.follow.path().to_path_buf();
            let from = self.follow.offset();
            self.follow = Follow::tail_of(&path, TAIL_BYTES);
            self.skipped += self.follow.offset().saturating_sub(from);
            self.lines.clear();
        }
        let before = self.follow.partial().to_vec();
        let mut got = Vec::new();
        let polled = self
            .follow
            .poll(|l| got.push(String::from_utf8_lossy(l).into_owned()));
        if matches!(polled, Ok(autoresearch::watch::follow::Polled::Replaced)) {
            self.lines.clear();
            return true;
        }
        for l in got.iter() {
            if self.lines.len() == self.keep {
                self.lines.pop_front();
            }
            self.lines.push_back(autoresearch::text::shown_line(l, 400));
        }
        !got.is_empty() || self.follow.partial() != before.as_slice()
    }

    /// The shown lines, the unfinished last one (a progress bar) included.
    fn shown(&self) -> Vec<String> {
        let mut out: Vec<String> = self.lines.iter().cloned().collect();
        let partial = String::from_utf8_lossy(self.follow.partial());
        let partial = autoresearch::text::shown_line(&partial, 400);
        if !partial.trim().is_empty() {
            out.push(partial);
        }
        out
    }
}

/// An alert as the dashboard lists it: when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub at: String,
    pub message: String,
}

/// Everything one frame shows.
pub struct View<'a> {
    pub root: &'a str,
    pub cfg: &'a Config,
    /// The branch whose numbers are shown.
    pub branch: &'a str,
    pub scope: Option<&'a Scope>,
    pub loops: Vec<&'a LoopNow>,
    pub series: &'a [(u64, f64)],
    pub recent: Vec<&'a Record>,
    pub log: Option<&'a LogTail>,
    pub alerts: &'a [Shown],
    pub interval: Duration,
    pub clock: String,
    /// Every branch is watched: label each recent run with its branch.
    pub all_branches: bool,
    /// Redrawn until Ctrl-C (not one frame of `--once`, nor a pipe's).
    pub live: bool,
}

/// A line made of styled pieces, cut to a width before it is painted.
#[derive(Default)]
struct Line(Vec<(Style, String)>);

impl Line {
    fn new() -> Line {
        Line::default()
    }
    fn with(mut self, style: Style, text: impl Into<String>) -> Line {
        self.0.push((style, text.into()));
        self
    }
    fn plain(self, text: impl Into<String>) -> Line {
        self.with(Style::Plain, text)
    }
    fn key(self, key: &str) -> Line {
        self.with(Style::Dim, format!("{key:<10}"))
    }
    fn render(&self, width: usize, paint: &Paint) -> String {
        let mut out = String::new();
        let mut left = width;
        for (style, text) in &self.0 {
            if left == 0 {
                break;
            }
            let w = text.width();
            let piece = if w > left {
                shorten(text, left)
            } else {
                text.clone()
            };
            left = left.saturating_sub(piece.width());
            out.push_str(&paint.style(*style, &piece));
        }
        out
    }
}

/// The frame's lines for a terminal of `width` × `height`.
pub fn render(v: &View, width: usize, height: usize, paint: &Paint) -> Vec<String> {
    let width = width.max(20);
    let height = height.max(3);
    let mut top = vec![header(v)];
    top.extend(summary(v));
    let current = current_loop(v);
    let log = v
        .log
        .filter(|_| current.is_some())
        .map(LogTail::shown)
        .unwrap_or_default();
    let others = other_loops(v);
    let alerts: Vec<Line> = v
        .alerts
        .iter()
        .rev()
        .take(3)
        .map(|a| {
            Line::new()
                .with(Style::Yellow, "! ")
                .with(Style::Dim, format!("{} ", a.at))
                .plain(&a.message)
        })
        .collect();
    let footer = Line::new().with(
        Style::Dim,
        if v.live {
            format!("refresh {} · Ctrl-C to quit", format_duration(v.interval))
        } else {
            format!("as of {}", v.clock)
        },
    );
    // What must show, then what fills the rest: the log and the recent runs share it.
    let mut fixed = top.len() + 1;
    if !others.is_empty() {
        fixed += others.len() + 2;
    }
    if !alerts.is_empty() {
        fixed += alerts.len() + 2;
    }
    let room = height.saturating_sub(fixed);
    let (log_n, recent_n) = share(room, log.len(), v.recent.len(), current.is_some());
    let mut lines = top;
    if let Some((run, path)) = &current
        && log_n > 0
    {
        lines.push(Line::new());
        let skipped = v
            .log
            .filter(|t| t.skipped > 0)
            .map(|t| format!("  ({} of output skipped to keep up)", bytes(t.skipped)))
            .unwrap_or_default();
        lines.push(
            Line::new()
                .with(Style::Bold, format!("run #{run} log"))
                .with(Style::Dim, format!("  {path}{skipped}")),
        );
        for l in &log[log.len() - (log_n - 2)..] {
            lines.push(Line::new().plain("  ").plain(l));
        }
    }
    if recent_n > 0 {
        lines.push(Line::new());
        lines.push(Line::new().with(Style::Bold, "recent"));
        lines.extend(recent(v, recent_n - 2));
    }
    if !others.is_empty() {
        lines.push(Line::new());
        lines.push(Line::new().with(Style::Bold, "loops"));
        lines.extend(others);
    }
    if !alerts.is_empty() {
        lines.push(Line::new());
        lines.push(Line::new().with(Style::Bold, "alerts"));
        lines.extend(alerts);
    }
    lines.truncate(height - 1);
    lines.push(footer);
    lines.iter().map(|l| l.render(width, paint)).collect()
}

/// Rows for the log and for the recent runs (each with its blank line and heading, so 0 or at
/// least 3) out of `room`: the log first, but 5 rows kept for the runs when they fit.
fn share(room: usize, log: usize, recent: usize, running: bool) -> (usize, usize) {
    let want_log = if running && log > 0 { log + 2 } else { 0 };
    let want_recent = if recent > 0 { recent + 2 } else { 0 };
    let recent_min = want_recent.min(5);
    let log_n = want_log.min(room.saturating_sub(recent_min));
    let log_n = if log_n < 3 { 0 } else { log_n };
    let recent_n = want_recent.min(room - log_n);
    let recent_n = if recent_n < 3 { 0 } else { recent_n };
    (log_n, recent_n)
}

fn header(v: &View) -> Line {
    let scope = if v.all_branches {
        format!("all branches (numbers for {})", v.branch)
    } else {
        v.branch.to_string()
    };
    Line::new()
        .with(Style::Bold, "autoresearch watch")
        .plain(format!("  {}  ", v.root))
        .with(Style::Dim, format!("{scope}  {}", v.clock))
}

/// The loop line, the metric, baseline, best, counts and the running best.
fn summary(v: &View) -> Vec<Line> {
    let mut out = vec![loop_line(v)];
    let c = v.cfg;
    out.push(Line::new().key("metric").plain(format!(
        "{} ({} is better) · target {} · budget {}{}",
        c.metric_name,
        c.metric_direction.as_str(),
        c.target_files.join(", "),
        format_duration(c.time_budget),
        c.hardware
            .as_deref()
            .map(|h| format!(" · hardware {h}"))
            .unwrap_or_default()
    )));
    let Some(s) = v.scope else {
        out.push(
            Line::new()
                .key("runs")
                .plain("none yet: the first `autoresearch run` measures the baseline"),
        );
        return out;
    };
    let run = |r: &Record| format!("{} {}  {}", r.label(), fmt_level(r.metric), r.summary);
    out.push(
        Line::new()
            .key("baseline")
            .plain(s.baseline.as_ref().map_or("—".into(), run)),
    );
    let mut best = Line::new().key("best");
    if let Some(b) = &s.best {
        let level = s.best_level().or(b.metric);
        best = best.plain(format!("{} {}", b.label(), fmt_level(level)));
        let base = s
            .baseline
            .as_ref()
            .filter(|r| r.run != b.run)
            .and_then(|r| r.metric);
        if let (Some(base), Some(level)) = (base, level) {
            let gain = c.metric_direction.gain(level, base);
            let pct = ledger::improvement_pct(c.metric_direction, base, level)
                .map(|p| format!(" ({p:+.2}%)"))
                .unwrap_or_default();
            let style = if gain > 0.0 {
                Style::Green
            } else {
                Style::Plain
            };
            best = best
                .plain("  ")
                .with(style, format!("{}{pct}", fmt_delta(gain)));
        }
        best = best.with(Style::Dim, format!("  noise {}", NoiseView::of(s).short()));
        best = best.plain(format!("  {}", b.summary));
    } else {
        best = best.plain("—");
    }
    out.push(best);
    out.push(counts_line(s));
    if let Some(spark) = sparkline(v.series, c.metric_direction, 48) {
        out.push(Line::new().key("progress").with(Style::Green, spark).with(
            Style::Dim,
            format!("  running best over {} records", s.total),
        ));
    }
    out
}

fn counts_line(s: &Scope) -> Line {
    let k = &s.counts;
    let tried = k.kept + k.discarded + k.crash + k.timeout;
    let rate = if tried > 0 {
        format!("keep rate {:.0}%", 100.0 * k.kept as f64 / tried as f64)
    } else {
        "keep rate —".to_string()
    };
    let since = if s.since_keep >= autoresearch::watch::STUCK_AFTER {
        Style::Yellow
    } else {
        Style::Plain
    };
    Line::new()
        .key("runs")
        .plain(format!("{} · ", s.total))
        .with(Style::Green, format!("{} kept", k.kept))
        .plain(format!(" · {} discarded · ", k.discarded))
        .with(
            if k.crash + k.timeout > 0 {
                Style::Red
            } else {
                Style::Plain
            },
            format!("{} crash · {} timeout", k.crash, k.timeout),
        )
        .plain(format!(" · {rate} · "))
        .with(since, format!("{} since keep", s.since_keep))
}

/// The shown branch's loop: running (with the run's time against the budget), idle, stale,
/// dead, or not started.
fn loop_line(v: &View) -> Line {
    let l = Line::new().key("loop");
    let Some(now) = v.loops.iter().find(|l| l.branch == v.branch) else {
        return l.with(Style::Dim, "not started");
    };
    let run = now
        .state
        .run
        .map(|r| format!(" run #{r}"))
        .unwrap_or_default();
    match now.kind {
        LoopKind::Running => l
            .with(Style::Green, format!("● running{run}"))
            .plain(format!(
                "  {} elapsed (budget {} per sample)  pid {}",
                elapsed(&now.state.started_at),
                format_duration(v.cfg.time_budget),
                now.state.pid
            )),
        LoopKind::Idle => l
            .with(Style::Dim, format!("○ idle after{run}"))
            .plain(format!(
                "  since {}",
                crate::output::age(&now.state.heartbeat_at)
            )),
        LoopKind::Stale => l
            .with(Style::Yellow, format!("◌ stale{run}"))
            .plain(format!(
                "  pid {} on {}: no heartbeat since {}",
                now.state.pid,
                now.state.host,
                crate::output::age(&now.state.heartbeat_at)
            )),
        LoopKind::Dead => l.with(Style::Red, format!("✗ dead{run}")).plain(format!(
            "  pid {} is gone; the next `autoresearch run` cleans up",
            now.state.pid
        )),
    }
}

/// The running run of the shown branch: its number and log path.
fn current_loop(v: &View) -> Option<(u64, String)> {
    let now = v.loops.iter().find(|l| l.branch == v.branch)?;
    let run = now.state.run.filter(|_| now.kind == LoopKind::Running)?;
    v.log.filter(|t| t.run == run)?;
    Some((run, format!(".autoresearch/runs/{run}.log")))
}

/// Every other branch's loop, one line each (only those that ever ran).
fn other_loops(v: &View) -> Vec<Line> {
    v.loops
        .iter()
        .filter(|l| l.branch != v.branch)
        .map(|l| {
            let run = l
                .state
                .run
                .map(|r| format!(" run #{r}"))
                .unwrap_or_default();
            let (style, what) = match l.kind {
                LoopKind::Running => (
                    Style::Green,
                    format!("running{run} · {}", elapsed(&l.state.started_at)),
                ),
                LoopKind::Idle => (Style::Dim, format!("idle after{run}")),
                LoopKind::Stale => (Style::Yellow, format!("stale{run}")),
                LoopKind::Dead => (Style::Red, format!("dead{run}")),
            };
            Line::new()
                .plain(format!("  {:<28} ", l.branch))
                .with(style, what)
        })
        .collect()
}

/// The `n` most recent runs, newest first, their labels (`#17`, `#17@gpu-03`) in one column as
/// wide as the widest shown.
fn recent(v: &View, n: usize) -> Vec<Line> {
    let shown: Vec<&Record> = v.recent.iter().rev().take(n).copied().collect();
    let width = shown
        .iter()
        .map(|r| r.label().len())
        .max()
        .unwrap_or(0)
        .max(6);
    shown
        .into_iter()
        .map(|r| recent_line(r, v.all_branches.then(|| short_branch(r, v.cfg)), width))
        .collect()
}

/// A record's branch as the recent runs label it: a fork by its name, others in full.
fn short_branch(r: &Record, cfg: &Config) -> String {
    let branch = r.branch.as_deref().unwrap_or(&cfg.branch);
    branch
        .strip_prefix(cfg.branch.as_str())
        .and_then(|rest| rest.strip_prefix("-fork-"))
        .unwrap_or(branch)
        .to_string()
}

fn recent_line(r: &Record, branch: Option<String>, width: usize) -> Line {
    let status = r.status.as_str();
    let delta = r.delta.map(fmt_delta).unwrap_or_default();
    let flags: Vec<&str> = r
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| ledger::is_integrity_flag(f))
        .collect();
    let mut l = Line::new()
        .plain(format!("  {:<width$} ", r.label()))
        .with(Style::of_status(r.status), format!("{status:<10}"))
        .plain(format!("{:>10} {:>9}  ", fmt_level(r.metric), delta));
    if let Some(b) = branch {
        l = l.with(Style::Cyan, format!("{b}  "));
    }
    if !flags.is_empty() {
        l = l.with(Style::Yellow, format!("[{}] ", flags.join(",")));
    }
    if let Some(reason) = r
        .reason
        .as_ref()
        .filter(|_| matches!(r.status, Status::Crash | Status::Timeout))
    {
        l = l.with(Style::Dim, format!("({reason}) "));
    }
    l.plain(&r.summary)
}

/// `3.1 MB`, `640 KB`.
fn bytes(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{} KB", n.div_ceil(1000))
    }
}

/// `12s`, `3m04s`: how long ago an RFC 3339 time was.
fn elapsed(started: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(started)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .map(|d| match d.as_secs() {
            s if s < 60 => format!("{s}s"),
            s => format_duration(Duration::from_secs(s)),
        })
        .unwrap_or_else(|| "?".to_string())
}

/// The running best as a line of block characters, higher where it is better; `None` with
/// fewer than two points.
pub fn sparkline(series: &[(u64, f64)], direction: Direction, columns: usize) -> Option<String> {
    if series.len() < 2 || columns == 0 {
        return None;
    }
    let last_x = series[series.len() - 1].0;
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = series
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let first_x = series[0].0;
    let span = last_x.saturating_sub(first_x).max(1);
    let cols = columns.min(span as usize + 1);
    let mut out = String::with_capacity(cols * 3);
    let mut i = 0;
    for c in 0..cols {
        let x = first_x + span * c as u64 / (cols as u64 - 1).max(1);
        while i + 1 < series.len() && series[i + 1].0 <= x {
            i += 1;
        }
        let v = series[i].1;
        let good = if hi > lo {
            match direction {
                Direction::Lower => (hi - v) / (hi - lo),
                Direction::Higher => (v - lo) / (hi - lo),
            }
        } else {
            0.5
        };
        out.push(BARS[((good * 7.0).round() as usize).min(7)]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::strip_ansi;
    use autoresearch::loopfile::{LoopState, Owned};

    fn config() -> Config {
        Config::parse(
            "autoresearch.toml",
            "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"val_bpb\"\nmetric_direction = \"lower\"\n",
        )
        .unwrap()
        .0
    }

    fn record(run: u64, status: &str, metric: f64, summary: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "run": run, "status": status, "metric": metric, "samples": [metric],
            "summary": summary, "branch": "autoresearch", "code": format!("c{run}"), "setup": "s",
            "flags": if run == 38 { vec!["suspicious_jump"] } else { vec![] },
        }))
        .unwrap()
    }

    struct Parts {
        cfg: Config,
        scope: Scope,
        records: Vec<Record>,
        loops: Vec<LoopNow>,
        alerts: Vec<Shown>,
        series: Vec<(u64, f64)>,
    }

    fn parts() -> Parts {
        let cfg = config();
        let mut scope = Scope::default();
        let mut records = Vec::new();
        for run in 0..40 {
            let status = match run {
                0 => "baseline",
                r if r % 7 == 3 => "kept",
                r if r % 11 == 5 => "crash",
                _ => "discarded",
            };
            let r = record(
                run,
                status,
                1.0 - run as f64 / 100.0,
                &"a long summary of what was tried and why ".repeat(3),
            );
            scope.fold_owned(r.clone(), Direction::Lower);
            records.push(r);
        }
        let state = LoopState {
            pid: 42,
            host: "here".into(),
            started_at: autoresearch::ledger::now_timestamp(),
            iteration: 3,
            heartbeat_at: autoresearch::ledger::now_timestamp(),
            active: true,
            run: Some(40),
            owns: Owned::default(),
            left: None,
        };
        let loops = vec![
            LoopNow {
                branch: "autoresearch".into(),
                kind: LoopKind::Running,
                state: state.clone(),
            },
            LoopNow {
                branch: "autoresearch-fork-wide-and-deep-with-a-long-name".into(),
                kind: LoopKind::Dead,
                state,
            },
        ];
        let alerts = (0..5)
            .map(|i| Shown {
                at: "03:00".into(),
                message: format!("alert {i}: {}", "x".repeat(150)),
            })
            .collect();
        Parts {
            cfg,
            scope,
            records,
            loops,
            alerts,
            series: vec![(1, 1.0), (4, 0.97), (11, 0.9), (40, 0.8)],
        }
    }

    fn view<'a>(p: &'a Parts, log: Option<&'a LogTail>) -> View<'a> {
        View {
            root: "/home/someone/projects/a-rather-long-project-name",
            cfg: &p.cfg,
            branch: "autoresearch",
            scope: Some(&p.scope),
            loops: p.loops.iter().collect(),
            series: &p.series,
            recent: p.records.iter().collect(),
            log,
            alerts: &p.alerts,
            interval: Duration::from_secs(1),
            clock: "03:04:05".into(),
            all_branches: true,
            live: true,
        }
    }

    fn log_tail(dir: &std::path::Path) -> LogTail {
        let path = dir.join("40.log");
        let text: String = (0..50)
            .map(|i| format!("step {i} loss 2.{i}\t\x1b[31mred\x1b[0m\n"))
            .collect();
        std::fs::write(&path, format!("{text}epoch 3 10%\repoch 3 40%")).unwrap();
        let mut t = LogTail::new(40, &path, 8);
        t.update();
        t
    }

    #[test]
    fn every_frame_fits_the_terminal_and_keeps_its_head_and_foot() {
        let dir = tempfile::tempdir().unwrap();
        let p = parts();
        let tail = log_tail(dir.path());
        let v = view(&p, Some(&tail));
        for (w, h) in [(20, 3), (40, 10), (80, 24), (132, 50), (300, 100)] {
            let lines = render(&v, w, h, &Paint { on: true });
            assert!(lines.len() <= h, "{w}x{h}: {} lines", lines.len());
            for l in &lines {
                assert!(strip_ansi(l).width() <= w, "{w}x{h}: {l:?}");
            }
            assert!(
                strip_ansi(&lines[0]).starts_with("autoresearch"),
                "{lines:?}"
            );
            assert!(
                strip_ansi(lines.last().unwrap()).contains("Ctrl-C"),
                "{lines:?}"
            );
        }
        let big: Vec<String> = render(&v, 200, 60, &Paint { on: false });
        let text = big.join("\n");
        for part in [
            "● running run #40",
            "run #40 log",
            "epoch 3 40%",
            "step 49 loss",
            "recent",
            "[suspicious_jump]",
            "loops",
            "dead",
            "alerts",
            "keep rate",
        ] {
            assert!(text.contains(part), "no {part:?} in\n{text}");
        }
        assert!(
            !text.contains('\u{1b}'),
            "no escape with colour off, none from the log"
        );
        assert!(
            !text.contains("epoch 3 10%"),
            "a carriage return draws over"
        );
    }

    #[test]
    fn another_workers_runs_are_labelled_run_at_worker() {
        let mut p = parts();
        let mut theirs = record(40, "kept", 0.5, "from the cluster");
        theirs.worker = Some("gpu-03".into());
        theirs.worker_run = Some(17);
        theirs.branch = Some("autoresearch@gpu-03".into());
        p.scope.fold_owned(theirs.clone(), Direction::Lower);
        p.records.push(theirs);
        let text = render(&view(&p, None), 200, 60, &Paint { on: false }).join("\n");
        assert!(
            text.contains("#17@gpu-03 0.5"),
            "the best names it:\n{text}"
        );
        assert!(
            text.contains("  #17@gpu-03 kept"),
            "so does its row:\n{text}"
        );
        // One column: every row's status starts where the widest label's does.
        let at = |label: &str| {
            let row = text
                .lines()
                .find(|l| l.starts_with(&format!("  {label} ")))
                .unwrap_or_else(|| panic!("no row {label}:\n{text}"));
            row.len() - row[2 + label.len()..].trim_start().len()
        };
        assert_eq!(at("#39"), at("#17@gpu-03"), "own rows align:\n{text}");
    }

    #[test]
    fn a_log_that_ran_far_ahead_is_read_from_near_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.log");
        std::fs::write(&path, "start\n").unwrap();
        let mut t = LogTail::new(1, &path, 3);
        t.update();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let line = format!("{}\n", "x".repeat(999));
        for _ in 0..3000 {
            std::io::Write::write_all(&mut f, line.as_bytes()).unwrap();
        }
        std::io::Write::write_all(&mut f, b"last line\n").unwrap();
        assert!(t.update());
        assert_eq!(t.lines.back().map(String::as_str), Some("last line"));
        assert!(t.skipped > 2_900_000, "it skipped what no one will see");
    }

    #[test]
    fn the_running_best_rises_as_it_gets_better_in_either_direction() {
        let lower = sparkline(&[(1, 1.0), (5, 0.5), (10, 0.2)], Direction::Lower, 10).unwrap();
        assert!(lower.starts_with('▁') && lower.ends_with('█'), "{lower}");
        let higher = sparkline(&[(1, 0.2), (10, 0.9)], Direction::Higher, 4).unwrap();
        assert!(higher.starts_with('▁') && higher.ends_with('█'), "{higher}");
        assert_eq!(sparkline(&[(1, 1.0)], Direction::Lower, 10), None);
        assert_eq!(lower.chars().count(), 10);
    }
}
