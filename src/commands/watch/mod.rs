//! `autoresearch watch`: the loop, live. At a terminal, a full-screen dashboard; into a pipe
//! (or with `--json`), JSON Lines — one event per line, flushed as it happens — that an agent
//! can wait on (`--until`, `--timeout`) and resume (`--since`). `--on … --exec CMD` runs a
//! command per matching event. docs/CONTRACT.md §9 describes the events.
//!
//! It polls (one `stat` of the ledger, the loop states and the current log per interval) and
//! reads only what was appended: the library's [`Watcher`] does the reading and the folding;
//! this module waits, prints and runs hooks.

mod frame;
mod hooks;
mod screen;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::Serialize;

use autoresearch::config::{self, Config};
use autoresearch::error::{AppError, Result};
use autoresearch::ledger::Ledger;
use autoresearch::project::Project;
use autoresearch::watch::{AlertKind, Happening, LoopKind, Options, Since, Watcher, Which};

use crate::ctx::Ctx;
use crate::output::{Human, Mode, Output, Paint, Printer, Stdout, stderr_line};
use frame::{LogTail, Shown};
use screen::{Screen, Signals, Woken};

/// The version of the event lines (`v`): raised when a field changes meaning or goes away.
pub const EVENTS_VERSION: u32 = 1;
/// The shortest interval: below it a watch would cost more than it shows.
const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// A `heartbeat` event follows this long without any other.
const HEARTBEAT_AFTER: Duration = Duration::from_secs(30);
/// Records the dashboard keeps for its list of recent runs.
const RECENT: usize = 50;

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch watch                                 the dashboard (Ctrl-C to quit)
  autoresearch watch --json | jq -c 'select(.type==\"record\")'
  autoresearch watch --until record --timeout 30m    wait for the loop's next record (exit 1 on timeout)
  autoresearch watch --since <id> --until record     resume: what was recorded after that record
  autoresearch watch --on new-best,crash-streak,loop-dead --exec 'notify-send autoresearch \"$(jq -r .type)\"'

Events (JSON Lines, each with v, seq, time, type): hello, run_started, record, loop, alert,
heartbeat, end. See docs/CONTRACT.md §9.")]
pub struct WatchArgs {
    /// How often to look (at least 200ms): `500ms`, `1s`, `5s`.
    #[arg(short = 'i', long, value_name = "DUR", default_value = "1s")]
    pub interval: String,
    /// Look once: one frame (JSON: `hello`, then `end`), then exit.
    #[arg(long)]
    pub once: bool,
    /// Start after this record: its id or run number (`RUN@WORKER` for another worker's), its
    /// later records replayed first; or `now`.
    #[arg(long, value_name = "ID|RUN|now")]
    pub since: Option<String>,
    /// Exit 0 at the first record, the first new best, or once no step is in progress.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub until: Option<Until>,
    /// Give up after this long: an `end` event with reason `timeout`, exit 1.
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// The branch to watch (default: the current experiment branch, as `status` picks it).
    #[arg(long, value_name = "NAME", conflicts_with = "all_branches")]
    pub branch: Option<String>,
    /// Watch every branch: the experiment branch and each fork.
    #[arg(long)]
    pub all_branches: bool,
    /// Lines of the running eval's log the dashboard shows.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub tail: usize,
    /// Run `--exec` for these events (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "EVENTS",
        requires = "exec"
    )]
    pub on: Vec<HookOn>,
    /// A shell command run once per matching event, with the event's JSON line on its stdin
    /// and AUTORESEARCH_EVENT set to its name.
    #[arg(long, value_name = "CMD", requires = "on")]
    pub exec: Option<String>,
    /// How long one `--exec` may run before it is stopped (its whole process group).
    #[arg(long, value_name = "DUR", default_value = "30s")]
    pub exec_timeout: String,
}

/// What `--until` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Until {
    /// The next record of a watched branch.
    Record,
    /// The next record that makes a new best.
    NewBest,
    /// No step in progress on the watched branches (idle, dead or never started).
    Idle,
}

/// The events `--exec` can run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookOn {
    /// Every record.
    Record,
    /// A record that makes a new best.
    NewBest,
    /// A step took its run number.
    RunStarted,
    /// Ten runs (and each ten more) without a keep.
    Stuck,
    /// Three crashes or timeouts in a row (and each three more).
    CrashStreak,
    /// A record flagged as doubtful (`autoresearch guide integrity`).
    Flagged,
    /// A loop without a heartbeat for a minute.
    LoopStale,
    /// A loop whose process died mid-step.
    LoopDead,
}

impl HookOn {
    fn name(self) -> &'static str {
        match self {
            HookOn::Record => "record",
            HookOn::NewBest => "new-best",
            HookOn::RunStarted => "run-started",
            HookOn::Stuck => "stuck",
            HookOn::CrashStreak => "crash-streak",
            HookOn::Flagged => "flagged",
            HookOn::LoopStale => "loop-stale",
            HookOn::LoopDead => "loop-dead",
        }
    }

    /// The hook events a happening is (a new best is also a record).
    fn of(h: &Happening) -> Vec<HookOn> {
        match h {
            Happening::Record { new_best: true, .. } => vec![HookOn::Record, HookOn::NewBest],
            Happening::Record { .. } => vec![HookOn::Record],
            Happening::RunStarted { .. } => vec![HookOn::RunStarted],
            Happening::Loop { .. } => vec![],
            Happening::Alert { kind, .. } => match kind {
                AlertKind::Stuck => vec![HookOn::Stuck],
                AlertKind::CrashStreak => vec![HookOn::CrashStreak],
                AlertKind::Flagged => vec![HookOn::Flagged],
                AlertKind::LoopStale => vec![HookOn::LoopStale],
                AlertKind::LoopDead => vec![HookOn::LoopDead],
                AlertKind::LedgerReplaced => vec![],
            },
        }
    }
}

/// `watch` writes its own output; this only carries the exit code.
#[derive(Debug, Serialize)]
pub struct WatchOutput {
    #[serde(skip)]
    exit: u8,
}

impl Output for WatchOutput {
    fn printed(&self) -> bool {
        true
    }
    fn printed_exit(&self) -> u8 {
        self.exit
    }
}

impl Human for WatchOutput {
    fn human(&self, _: &mut Printer) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a watch ended.
#[derive(Debug)]
enum End {
    Until(Until),
    Timeout(Duration),
    Interrupted,
    Once,
    Failed(AppError),
}

impl End {
    fn reason(&self) -> &'static str {
        match self {
            End::Until(_) => "until",
            End::Timeout(_) => "timeout",
            End::Interrupted => "interrupted",
            End::Once => "once",
            End::Failed(_) => "error",
        }
    }

    /// 0 when it ended as asked (a condition met, one look, Ctrl-C on a watch without a
    /// condition); 1 when the condition was not met; an error's own code.
    fn exit(&self, until: Option<Until>) -> u8 {
        match self {
            End::Until(_) | End::Once => 0,
            End::Interrupted if until.is_none() => 0,
            End::Interrupted | End::Timeout(_) => 1,
            End::Failed(e) => e.exit_code(),
        }
    }

    fn message(&self, until: Option<Until>) -> Option<(String, String)> {
        let what = match until {
            Some(Until::Record) => "no record",
            Some(Until::NewBest) => "no new best",
            Some(Until::Idle) => "the loop did not go idle",
            None => return None,
        };
        match self {
            End::Timeout(d) => Some((
                format!("{what} within {}.", autoresearch::text::format_duration(*d)),
                "Wait again with a longer `--timeout`, or check the loop with `autoresearch status`.".to_string(),
            )),
            End::Interrupted => Some((
                format!("Interrupted: {what} yet."),
                "Run the same `autoresearch watch` again to go on waiting.".to_string(),
            )),
            _ => None,
        }
    }
}

/// The parsed and checked flags.
struct Plan {
    interval: Duration,
    timeout: Option<Duration>,
    exec_timeout: Duration,
    since: Since,
    until: Option<Until>,
    once: bool,
    tail: usize,
}

fn duration_flag(flag: &str, text: &str) -> Result<Duration> {
    config::parse_duration(text).ok_or_else(|| {
        AppError::usage(
            format!("`{flag} {text}` is not a duration."),
            format!("Pass a positive duration such as `500ms`, `5s` or `30m` to `{flag}`."),
        )
    })
}

impl Plan {
    fn of(args: &WatchArgs) -> Result<Plan> {
        let interval = config::parse_duration(&args.interval)
            .filter(|d| *d >= MIN_INTERVAL)
            .ok_or_else(|| {
                AppError::usage(
                    format!(
                        "`--interval {}` is not a duration of at least 200ms: a watch that looks more often costs more than it shows.",
                        args.interval
                    ),
                    "Pass `-i 1s` (the default) or any interval of at least `200ms`, such as `500ms` or `5s`.",
                )
            })?;
        let timeout = args
            .timeout
            .as_deref()
            .map(|t| duration_flag("--timeout", t))
            .transpose()?;
        Ok(Plan {
            interval,
            timeout,
            exec_timeout: duration_flag("--exec-timeout", &args.exec_timeout)?,
            since: args.since.as_deref().map_or(Since::Now, Since::parse),
            until: args.until,
            once: args.once,
            tail: args.tail.clamp(1, 200),
        })
    }
}

pub fn run(ctx: &Ctx, args: &WatchArgs) -> Result<WatchOutput> {
    let plan = Plan::of(args)?;
    let loaded = ctx.load()?;
    let ledger = Ledger::new(
        &loaded.project.state_dir(),
        loaded.config.metric_direction,
        &loaded.config.branch,
    );
    let summary = ctx.summary(&ledger)?;
    let current = autoresearch::git::current_branch(&loaded.project.repo);
    let shown = args.branch.clone().unwrap_or_else(|| {
        summary.default_scope(current.as_deref(), |b| {
            loaded.config.is_experiment_branch(b)
        })
    });
    let which = if args.all_branches {
        Which::All
    } else {
        Which::Branch(shown.clone())
    };
    let dashboard = ctx.mode() == Mode::Human;
    let (watcher, replay) = Watcher::open(
        &loaded.project,
        &loaded.config,
        Options {
            which: which.clone(),
            since: plan.since.clone(),
            history: dashboard,
            recent: RECENT,
        },
    )?;
    let signals =
        Signals::install().map_err(|e| AppError::io("setting up the signal handlers", &e))?;
    let hooks = args
        .exec
        .clone()
        .map(|cmd| hooks::Hooks::start(cmd, plan.exec_timeout));
    let mut session = Session {
        watcher,
        plan,
        which,
        shown,
        hooks,
        on: args.on.clone(),
        signals,
        started: Instant::now(),
        last_event: Instant::now(),
        hook_seq: 0,
    };
    // The config's and the ledger's warnings: in `hello`, or on stderr and among the alerts.
    let (_, warnings) = ctx.take_notes();
    let end = if dashboard {
        let paint = Paint {
            on: ctx.render.color.enabled(std::io::stdout().is_terminal()),
        };
        for w in &warnings {
            stderr_line(&format!("warning: {w}"));
        }
        session.dashboard(&loaded.project, &loaded.config, replay, paint, warnings)
    } else {
        let mut out = Lines::new();
        let status = super::status::status_for(
            &loaded.project,
            loaded.config.clone(),
            session.watcher.summary(),
            Some(&session.shown),
        );
        session.stream(&mut out, &status, replay, warnings)
    };
    Ok(WatchOutput { exit: end })
}

/// One watch in progress.
struct Session {
    watcher: Watcher,
    plan: Plan,
    which: Which,
    /// The branch whose numbers the dashboard shows.
    shown: String,
    hooks: Option<hooks::Hooks>,
    on: Vec<HookOn>,
    signals: Signals,
    started: Instant,
    last_event: Instant,
    /// The dashboard's count of events, for the lines its hooks receive.
    hook_seq: u64,
}

impl Session {
    /// Wait for the next look: the interval, cut short by a signal or the timeout. `None`:
    /// look again; `Some`: the watch is over.
    fn wait(&self, most: Duration) -> (Option<End>, Woken) {
        let left = self
            .plan
            .timeout
            .map(|t| t.saturating_sub(self.started.elapsed()));
        let nap = left.map_or(most, |l| l.min(most));
        let woken = self.signals.wait(nap);
        if woken == Woken::Closed {
            // Nobody reads what we would write: leave as a closed pipe does, quietly.
            std::process::exit(0);
        }
        if woken == Woken::Stop {
            return (Some(End::Interrupted), woken);
        }
        if let Some(t) = self.plan.timeout
            && self.started.elapsed() >= t
        {
            return (Some(End::Timeout(t)), woken);
        }
        (None, woken)
    }

    /// Does this happening end the watch (`--until`)?
    fn ends(&self, h: &Happening) -> bool {
        matches!(
            (self.plan.until, h),
            (Some(Until::Record), Happening::Record { .. })
                | (
                    Some(Until::NewBest),
                    Happening::Record { new_best: true, .. }
                )
        )
    }

    /// `--until idle`: no watched loop has a step in progress.
    fn idle(&self) -> bool {
        self.plan.until == Some(Until::Idle)
            && !self
                .watcher
                .loops()
                .filter(|l| self.which.covers(&l.branch))
                .any(|l| matches!(l.kind, LoopKind::Running | LoopKind::Stale))
    }

    /// Queue the hooks a happening matches, with its event line.
    fn hook(&self, h: &Happening, line: &str) {
        let Some(hooks) = &self.hooks else { return };
        for on in HookOn::of(h) {
            if self.on.contains(&on) {
                hooks.send(on.name(), line);
            }
        }
    }

    /// Stop the hooks: let the queued ones finish when the watch ended as asked, kill the one
    /// running on Ctrl-C. Returns the failures not yet reported.
    fn finish_hooks(&mut self, end: &End) -> Vec<String> {
        match (self.hooks.take(), end) {
            (Some(h), End::Interrupted) => {
                h.stop();
                Vec::new()
            }
            (Some(h), _) => h.finish(),
            (None, _) => Vec::new(),
        }
    }

    /// The JSON Lines stream.
    fn stream(
        &mut self,
        out: &mut Lines,
        status: &super::status::StatusOutput,
        replay: Vec<Happening>,
        warnings: Vec<String>,
    ) -> u8 {
        let watching = Watching {
            branches: match &self.which {
                Which::All => serde_json::json!("all"),
                Which::Branch(b) => serde_json::json!([b]),
            },
            since: self.plan.since_text(),
            until: self.plan.until,
            interval_s: self.plan.interval.as_secs_f64(),
        };
        out.emit(&Extra::Hello {
            watching,
            status,
            warnings,
        });
        let end = self.stream_until(out, replay);
        for f in self.finish_hooks(&end) {
            out.emit(&Extra::hook_failed(f));
        }
        let code = end.exit(self.plan.until);
        let (message, suggestion) = match &end {
            End::Failed(e) => (Some(e.message.clone()), Some(e.suggestion.clone())),
            other => other
                .message(self.plan.until)
                .map_or((None, None), |(m, s)| (Some(m), Some(s))),
        };
        out.emit(&Extra::End {
            reason: end.reason(),
            until: match end {
                End::Until(u) => Some(u),
                _ => None,
            },
            exit_code: code,
            message,
            suggestion,
        });
        code
    }

    fn stream_until(&mut self, out: &mut Lines, replay: Vec<Happening>) -> End {
        for h in replay {
            let line = out.emit_happening(&h);
            self.hook(&h, &line);
            if self.ends(&h) {
                return End::Until(self.plan.until.unwrap_or(Until::Record));
            }
        }
        if self.idle() {
            return End::Until(Until::Idle);
        }
        if self.plan.once {
            return End::Once;
        }
        loop {
            if let (Some(end), _) = self.wait(self.plan.interval) {
                return end;
            }
            let happened = match self.watcher.tick() {
                Ok(h) => h,
                Err(e) => return End::Failed(e),
            };
            for h in &happened {
                let line = out.emit_happening(h);
                self.last_event = Instant::now();
                self.hook(h, &line);
                if self.ends(h) {
                    return End::Until(self.plan.until.unwrap_or(Until::Record));
                }
            }
            if let Some(hooks) = &self.hooks {
                for f in hooks.failures() {
                    out.emit(&Extra::hook_failed(f));
                    self.last_event = Instant::now();
                }
            }
            if self.idle() {
                return End::Until(Until::Idle);
            }
            if self.last_event.elapsed() >= HEARTBEAT_AFTER {
                let loops = self
                    .watcher
                    .loops()
                    .filter(|l| self.which.covers(&l.branch))
                    .map(|l| LoopBrief {
                        branch: l.branch.clone(),
                        state: l.kind,
                        run: l.state.run,
                    })
                    .collect();
                out.emit(&Extra::Heartbeat {
                    quiet_s: self.last_event.elapsed().as_secs(),
                    loops,
                });
                self.last_event = Instant::now();
            }
        }
    }

    /// The dashboard (a terminal), or frames one after another (`--human` into a pipe).
    fn dashboard(
        &mut self,
        project: &Project,
        cfg: &Config,
        replay: Vec<Happening>,
        paint: Paint,
        warnings: Vec<String>,
    ) -> u8 {
        let tty = std::io::stdout().is_terminal() && !self.plan.once;
        let mut board = Board {
            root: project.root.display().to_string(),
            alerts: Vec::new(),
            log: None,
            drawn: Vec::new(),
        };
        for w in warnings {
            board.alert(w);
        }
        board.note_state(&self.watcher, &self.shown);
        for h in &replay {
            board.note(h);
            self.hook_seq += 1;
            self.hook(h, &Lines::line_of(self.hook_seq, h));
        }
        let screen = if tty {
            match Screen::enter() {
                Ok(s) => Some(s),
                Err(e) => {
                    stderr_line(&format!("error: cannot draw on the terminal: {e}"));
                    return 1;
                }
            }
        } else {
            None
        };
        let mut screen = screen;
        let end = self.board_until(&mut board, &mut screen, cfg, paint, replay);
        drop(screen);
        let failures = self.finish_hooks(&end);
        for f in failures {
            stderr_line(&format!("warning: {f}"));
        }
        let code = end.exit(self.plan.until);
        if let End::Failed(e) = &end {
            stderr_line(&format!("error: {}", e.message));
            stderr_line(&format!("  try: {}", e.suggestion));
        } else if let Some((m, s)) = end.message(self.plan.until) {
            stderr_line(&format!("watch: {m}"));
            stderr_line(&format!("  try: {s}"));
        }
        code
    }

    fn board_until(
        &mut self,
        board: &mut Board,
        screen: &mut Option<Screen>,
        cfg: &Config,
        paint: Paint,
        replay: Vec<Happening>,
    ) -> End {
        if let Some(end) = replay
            .iter()
            .find(|h| self.ends(h))
            .map(|_| End::Until(self.plan.until.unwrap_or(Until::Record)))
        {
            board.show(self, cfg, &paint, screen.as_mut(), true);
            return end;
        }
        board.show(self, cfg, &paint, screen.as_mut(), true);
        if self.idle() {
            return End::Until(Until::Idle);
        }
        if self.plan.once {
            return End::Once;
        }
        let mut next_look = Instant::now() + self.plan.interval;
        loop {
            // At a terminal the clock and the elapsed time move every second.
            let most = if screen.is_some() {
                next_look
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1))
            } else {
                next_look.saturating_duration_since(Instant::now())
            };
            let (end, woken) = self.wait(most);
            if let Some(end) = end {
                return end;
            }
            let mut changed = woken == Woken::Resized;
            if Instant::now() >= next_look {
                next_look = Instant::now() + self.plan.interval;
                let happened = match self.watcher.tick() {
                    Ok(h) => h,
                    Err(e) => return End::Failed(e),
                };
                for h in &happened {
                    board.note(h);
                    self.hook_seq += 1;
                    self.hook(h, &Lines::line_of(self.hook_seq, h));
                    changed = true;
                    if self.ends(h) {
                        board.show(self, cfg, &paint, screen.as_mut(), true);
                        return End::Until(self.plan.until.unwrap_or(Until::Record));
                    }
                }
                if let Some(hooks) = &self.hooks {
                    for f in hooks.failures() {
                        board.alert(f);
                        changed = true;
                    }
                }
                changed |= board.follow_log(&self.watcher, &self.shown, self.plan.tail);
                if self.idle() {
                    board.show(self, cfg, &paint, screen.as_mut(), true);
                    return End::Until(Until::Idle);
                }
            }
            board.show(self, cfg, &paint, screen.as_mut(), changed);
        }
    }
}

impl Plan {
    fn since_text(&self) -> String {
        match &self.since {
            Since::Now => "now".to_string(),
            Since::Run(r) => r.to_string(),
            Since::Id(id) => id.clone(),
        }
    }
}

/// What the dashboard keeps between frames.
struct Board {
    root: String,
    alerts: Vec<Shown>,
    log: Option<LogTail>,
    drawn: Vec<String>,
}

impl Board {
    fn alert(&mut self, message: String) {
        self.alerts.push(Shown {
            at: chrono::Local::now().format("%H:%M").to_string(),
            message,
        });
        if self.alerts.len() > 20 {
            self.alerts.remove(0);
        }
    }

    fn note(&mut self, h: &Happening) {
        if let Happening::Alert { message, .. } = h {
            self.alert(message.clone());
        }
    }

    /// The alerts that hold when the watch starts: a long stretch without a keep, a dead or
    /// stale loop, a flagged best.
    fn note_state(&mut self, w: &Watcher, shown: &str) {
        if let Some(s) = w.summary().branches.get(shown) {
            if s.since_keep >= autoresearch::watch::STUCK_AFTER {
                self.alert(format!(
                    "{} runs since the last keep on `{shown}`: see `autoresearch guide stuck`.",
                    s.since_keep
                ));
            }
            if let Some(b) = &s.best {
                let doubts: Vec<&str> = b
                    .flags
                    .iter()
                    .map(String::as_str)
                    .filter(|f| autoresearch::ledger::is_integrity_flag(f))
                    .collect();
                if !doubts.is_empty() {
                    self.alert(format!(
                        "The best (run #{}) is flagged {}: read its log before trusting it.",
                        b.run,
                        doubts.join(", ")
                    ));
                }
            }
        }
        for l in w.loops() {
            match l.kind {
                LoopKind::Dead => self.alert(format!(
                    "The `run` on `{}` died (pid {}); the next `autoresearch run` there cleans up.",
                    l.branch, l.state.pid
                )),
                LoopKind::Stale => self.alert(format!(
                    "The `run` on `{}` (pid {}) has no heartbeat for over a minute.",
                    l.branch, l.state.pid
                )),
                _ => {}
            }
        }
    }

    /// Follow the shown branch's running eval's log; whether what is shown changed.
    fn follow_log(&mut self, w: &Watcher, shown: &str, keep: usize) -> bool {
        let running = w
            .loops()
            .find(|l| l.branch == shown && l.kind == LoopKind::Running)
            .and_then(|l| l.state.run);
        match (running, &mut self.log) {
            (Some(run), Some(tail)) if tail.run == run => tail.update(),
            (Some(run), _) => {
                let mut tail = LogTail::new(run, &w.log_path(run), keep);
                tail.update();
                self.log = Some(tail);
                true
            }
            (None, Some(_)) => {
                self.log = None;
                true
            }
            (None, None) => false,
        }
    }

    /// Draw the frame when it differs from the last one (at a terminal), or print it when
    /// something happened (into a pipe).
    fn show(
        &mut self,
        s: &Session,
        cfg: &Config,
        paint: &Paint,
        screen: Option<&mut Screen>,
        changed: bool,
    ) {
        let w = &s.watcher;
        if changed {
            self.follow_log(w, &s.shown, s.plan.tail);
        }
        let view = frame::View {
            root: &self.root,
            cfg,
            branch: &s.shown,
            scope: w.summary().branches.get(&s.shown),
            loops: w.loops().collect(),
            series: w.series(&s.shown),
            recent: w.recent().collect(),
            log: self.log.as_ref(),
            alerts: &self.alerts,
            interval: s.plan.interval,
            clock: chrono::Local::now().format("%H:%M:%S").to_string(),
            all_branches: s.which == Which::All,
            live: screen.is_some(),
        };
        match screen {
            Some(screen) => {
                let (cols, rows) = screen::size();
                let lines = frame::render(&view, cols, rows, paint);
                if lines != self.drawn {
                    // A terminal that went away ends the watch like Ctrl-C would.
                    if screen.draw(&lines).is_err() {
                        std::process::exit(0);
                    }
                    self.drawn = lines;
                }
            }
            None if changed => {
                let lines = frame::render(&view, 100, 60, paint);
                let mut out = Stdout::new();
                for l in &lines {
                    let _ = out.write_all(l.as_bytes());
                    let _ = out.write_all(b"\n");
                }
                let _ = out.write_all(b"\n");
                let _ = out.flush();
            }
            None => {}
        }
    }
}

/// The event lines: a sequence number and the time on each, flushed one by one.
struct Lines {
    out: Stdout,
    seq: u64,
}

#[derive(Serialize)]
struct Watching {
    branches: serde_json::Value,
    since: String,
    until: Option<Until>,
    interval_s: f64,
}

#[derive(Serialize)]
struct LoopBrief {
    branch: String,
    state: LoopKind,
    run: Option<u64>,
}

/// The events that are the command's rather than the watcher's.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Extra<'a> {
    Hello {
        watching: Watching,
        /// What `status --json` says, for the watched branch.
        status: &'a super::status::StatusOutput,
        /// What did not stop the watch: the config's and the ledger's warnings.
        warnings: Vec<String>,
    },
    Heartbeat {
        quiet_s: u64,
        loops: Vec<LoopBrief>,
    },
    Alert {
        kind: &'static str,
        branch: Option<String>,
        run: Option<u64>,
        message: String,
    },
    End {
        reason: &'static str,
        /// With reason `until`: what was waited for.
        until: Option<Until>,
        exit_code: u8,
        message: Option<String>,
        suggestion: Option<String>,
    },
}

impl Extra<'_> {
    fn hook_failed(message: String) -> Extra<'static> {
        Extra::Alert {
            kind: "hook-failed",
            branch: None,
            run: None,
            message,
        }
    }
}

#[derive(Serialize)]
struct Stamped<'a, T: Serialize> {
    v: u32,
    seq: u64,
    time: String,
    #[serde(flatten)]
    event: &'a T,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            out: Stdout::new(),
            seq: 0,
        }
    }

    /// The line of an event, numbered `seq`.
    fn line_of<T: Serialize>(seq: u64, event: &T) -> String {
        let stamped = Stamped {
            v: EVENTS_VERSION,
            seq,
            time: autoresearch::ledger::now_timestamp(),
            event,
        };
        serde_json::to_string(&stamped).unwrap_or_default()
    }

    /// Write one event line and flush it (a closed pipe ends the process quietly).
    fn emit<T: Serialize>(&mut self, event: &T) -> String {
        let line = Lines::line_of(self.seq, event);
        self.seq += 1;
        let _ = self.out.write_all(line.as_bytes());
        let _ = self.out.write_all(b"\n");
        let _ = self.out.flush();
        line
    }

    fn emit_happening(&mut self, h: &Happening) -> String {
        self.emit(h)
    }
}
