//! `autoresearch status`: where the project stands and what to do next. Works before `init`
//! (it then says how to start), so it is the first command an agent runs.

use clap::Args;
use serde::Serialize;

use autoresearch::config::{self, Config};
use autoresearch::error::Result;
use autoresearch::ledger::{self, Brief, Counts, Ledger, Summary, Writer};
use autoresearch::loopfile::{LoopState, Loops};
use autoresearch::project::Project;
use autoresearch::skills::{self, InstalledSkill};
use autoresearch::text::{count, format_duration};

use super::best::SinceFirst;
use super::noise::NoiseView;
use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, age, metric_or_dash, run_line};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch status
  autoresearch status --branch autoresearch-fork-wide
  autoresearch status --all-branches        one line per branch: the experiment branch and its forks
  autoresearch status --worker gpu-03       worker gpu-03's branch, brought by `sync`")]
pub struct StatusArgs {
    /// The branch the numbers are for (default: the current experiment branch).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Also one line per branch: the experiment branch and each fork, against its best.
    #[arg(long, conflicts_with = "branch")]
    pub all_branches: bool,
    #[command(flatten)]
    pub worker: super::args::WorkerArgs,
}

#[derive(Debug, Serialize)]
pub struct ConfigBrief {
    pub target_files: Vec<String>,
    pub eval_command: String,
    pub metric_name: String,
    pub metric_direction: config::Direction,
    pub time_budget_s: f64,
    pub branch: String,
    pub repeats: config::Repeats,
    pub max_repeats: u32,
    pub baseline_repeats: u32,
    pub confidence: f64,
}

#[derive(Debug, Serialize)]
pub struct LoopView {
    pub running: bool,
    pub stale: bool,
    pub pid: u32,
    pub host: String,
    pub iteration: u64,
    pub started_at: String,
    pub heartbeat_at: String,
    pub run: Option<u64>,
    /// A stale step's experiment commit, never evaluated nor recorded (null otherwise).
    pub abandoned_commit: Option<String>,
}

/// One branch's loop, in `loops`: the fields of `loop`, for that branch.
#[derive(Debug, Serialize)]
pub struct BranchLoopView {
    pub branch: String,
    #[serde(flatten)]
    pub state: LoopView,
}

impl LoopView {
    fn of(l: &LoopState) -> LoopView {
        LoopView {
            abandoned_commit: l.owns.commit.clone().filter(|_| l.stale()),
            running: l.running(),
            stale: l.stale(),
            pid: l.pid,
            host: l.host.clone(),
            iteration: l.iteration,
            started_at: l.started_at.clone(),
            heartbeat_at: l.heartbeat_at.clone(),
            run: l.run,
        }
    }
}

impl BranchLoopView {
    fn of(branch: &str, l: &LoopState) -> BranchLoopView {
        BranchLoopView {
            branch: branch.to_string(),
            state: LoopView::of(l),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LedgerHealth {
    pub path: String,
    pub lines: u64,
    pub records: u64,
    pub bad_lines: u64,
    pub torn_tail: bool,
    pub out_of_order_runs: u64,
}

#[derive(Debug, Serialize)]
pub struct StatusOutput {
    pub initialized: bool,
    pub root: String,
    pub config: Option<ConfigBrief>,
    /// The branch HEAD is on (null when detached).
    pub branch: Option<String>,
    pub on_experiment_branch: bool,
    /// The branch the numbers below are for: the current one when it is the experiment branch,
    /// a fork of it, or has records; else the configured branch.
    pub scope_branch: Option<String>,
    pub total: u64,
    pub counts: Counts,
    pub baseline: Option<Brief>,
    pub best: Option<Brief>,
    pub improvement: Option<f64>,
    pub improvement_pct: Option<f64>,
    pub runs_to_best: Option<u64>,
    /// Against the first baseline of the comparison, when a later one replaced it.
    pub since_first_baseline: Option<SinceFirst>,
    /// The noise of one sample under the best's setup, and how it was measured.
    pub noise: Option<NoiseView>,
    pub last_run: Option<Brief>,
    pub runs_since_keep: u64,
    /// The loop of the scope branch.
    #[serde(rename = "loop")]
    pub loop_state: Option<LoopView>,
    /// Every branch's loop, by branch (each branch runs its own, docs/CONTRACT.md §10).
    pub loops: Vec<BranchLoopView>,
    pub ledger: LedgerHealth,
    /// Copies of the agent skill found for this project and for the user.
    pub skills: Vec<InstalledSkill>,
    /// With `--all-branches`: every branch's figures (null otherwise).
    pub branches: Option<super::branches::BranchesView>,
}

impl Output for StatusOutput {}

pub fn run(ctx: &Ctx, args: &StatusArgs) -> Result<StatusOutput> {
    let project = ctx.project()?;
    if !project.is_initialized() {
        let out = StatusOutput::empty(&project);
        ctx.hint(
            "Not set up yet. Run `autoresearch init --target-file <file> --eval-command '<cmd>' --metric-name <name> --metric-direction lower|higher --protected <eval-script>` (the eval must print `<name>: <number>`; `--protected` keeps experiments off the harness and its data).",
        );
        ctx.hint(
            "`autoresearch guide setup` explains each value and what makes a good eval command.",
        );
        skill_hints(ctx, &out.skills);
        return Ok(out);
    }
    let (cfg, warnings) = project.load_config()?;
    ctx.warn_all(warnings);
    let ledger = Ledger::new(&project.state_dir(), cfg.metric_direction, &cfg.branch);
    let summary = ctx.summary(&ledger)?;
    let loops = Loops::of(&project, &cfg.branch);
    let loaded = autoresearch::project::Loaded {
        project,
        config: cfg,
        ledger,
    };
    let writer = args.worker.writer(&loaded, &summary)?;
    let scope =
        super::args::report_branch(&loaded, &summary, args.branch.as_deref(), writer.as_ref());
    let mut out = status_for(
        &loaded.project,
        loaded.config.clone(),
        &summary,
        Some(&scope),
    );
    if args.all_branches {
        out.branches = Some(super::branches::BranchesView::of(&loaded, &summary));
    }
    for listed in loops.list() {
        match listed.state {
            Err(why) => ctx.warn(why),
            Ok(l) if l.stale() => ctx.warn(stale_warning(&listed.branch, &l)),
            Ok(_) => {}
        }
    }
    match &writer {
        // Another worker's numbers: nothing to run on them here, so no next step for them.
        Some(Writer::Other(w)) => ctx.hint(format!(
            "These are worker `{w}`'s runs on `{scope}`, brought by `sync`: read-only here. `autoresearch diff best <RUN>@{w}` compares one of them with your best."
        )),
        _ => next_step_hints(ctx, &out),
    }
    skill_hints(ctx, &out.skills);
    Ok(out)
}

/// A loop whose `run` died mid-step, and what the next `run` on its branch does about it.
fn stale_warning(branch: &str, l: &LoopState) -> String {
    let run = l
        .run
        .map(|r| format!(" during run #{r}"))
        .unwrap_or_default();
    let commit = l.owns.commit.as_ref().map_or_else(String::new, |c| {
        format!("; its commit {c} was never evaluated: the next `autoresearch run` on `{branch}` puts the branch back and records it as a crash (`abandoned`)")
    });
    format!(
        "The `run` of process {} on `{branch}` stopped{run} and is gone{commit}; the next `autoresearch run` on `{branch}` takes its loop over.",
        l.pid
    )
}

impl StatusOutput {
    /// What `status` says before `init`.
    fn empty(project: &Project) -> StatusOutput {
        StatusOutput {
            initialized: false,
            root: project.root.display().to_string(),
            config: None,
            branch: autoresearch::git::current_branch(&project.repo),
            on_experiment_branch: false,
            scope_branch: None,
            total: 0,
            counts: Counts::default(),
            baseline: None,
            best: None,
            improvement: None,
            improvement_pct: None,
            runs_to_best: None,
            since_first_baseline: None,
            noise: None,
            last_run: None,
            runs_since_keep: 0,
            loop_state: None,
            loops: Vec::new(),
            ledger: LedgerHealth {
                path: project.ledger_path().display().to_string(),
                lines: 0,
                records: 0,
                bad_lines: 0,
                torn_tail: false,
                out_of_order_runs: 0,
            },
            skills: skills::installed(Some(&project.root)),
            branches: None,
        }
    }
}

/// Where an initialized project stands, from its config and the ledger's fold.
pub fn status(project: &Project, cfg: Config, summary: &Summary) -> StatusOutput {
    status_for(project, cfg, summary, None)
}

/// [`status`] with the numbers for branch `named` (default: the default scope).
pub fn status_for(
    project: &Project,
    cfg: Config,
    summary: &Summary,
    named: Option<&str>,
) -> StatusOutput {
    let mut out = StatusOutput::empty(project);
    out.initialized = true;
    out.on_experiment_branch = out
        .branch
        .as_deref()
        .is_some_and(|b| cfg.is_experiment_branch(b));
    let scope_branch = named.map_or_else(
        || summary.default_scope(out.branch.as_deref(), |b| cfg.is_experiment_branch(b)),
        str::to_string,
    );
    let scope = summary.scope(Some(&scope_branch));
    out.total = scope.total;
    out.counts = scope.counts.clone();
    out.baseline = scope.baseline.as_ref().map(Brief::from);
    out.best = scope.best.as_ref().map(Brief::from);
    if let (Some(base), Some(best)) = (
        scope.baseline.as_ref().and_then(|b| b.metric),
        scope.best_metric(),
    ) {
        out.improvement = Some(cfg.metric_direction.gain(best, base));
        out.improvement_pct = ledger::improvement_pct(cfg.metric_direction, base, best);
    }
    out.runs_to_best = scope.runs_to_best();
    out.since_first_baseline = SinceFirst::of(&scope, cfg.metric_direction);
    out.noise = scope.best.is_some().then(|| NoiseView::of(&scope));
    out.last_run = scope.last.as_ref().map(Brief::from);
    out.runs_since_keep = scope.since_keep;

    out.ledger.lines = summary.lines + u64::from(summary.torn_tail.is_some());
    out.ledger.records = summary.valid;
    out.ledger.bad_lines = summary.bad_count;
    out.ledger.torn_tail = summary.torn_tail.is_some();
    out.ledger.out_of_order_runs = summary.out_of_order;
    for listed in Loops::of(project, &cfg.branch).list() {
        let Ok(l) = &listed.state else { continue };
        if listed.branch == scope_branch {
            out.loop_state = Some(LoopView::of(l));
        }
        out.loops.push(BranchLoopView::of(&listed.branch, l));
    }
    out.scope_branch = Some(scope_branch);
    out.config = Some(ConfigBrief {
        target_files: cfg.target_files,
        eval_command: cfg.eval_command,
        metric_name: cfg.metric_name,
        metric_direction: cfg.metric_direction,
        time_budget_s: cfg.time_budget.as_secs_f64(),
        branch: cfg.branch,
        repeats: cfg.repeats,
        max_repeats: cfg.max_repeats,
        baseline_repeats: cfg.baseline_repeats,
        confidence: cfg.confidence,
    });
    out
}

fn next_step_hints(ctx: &Ctx, out: &StatusOutput) {
    let Some(cfg) = &out.config else { return };
    if let Some(b) = out
        .scope_branch
        .as_ref()
        .filter(|_| out.loop_state.as_ref().is_some_and(|l| l.running))
    {
        ctx.hint(format!(
            "An `autoresearch run` is in progress on `{b}`; wait for it before starting another on that branch or in its work tree (a fork checked out in a worktree of its own runs at the same time)."
        ));
    }
    if !out.on_experiment_branch && out.branch.is_some() {
        ctx.hint(format!(
            "You are not on the experiment branch; `autoresearch run` creates `{}` at HEAD if it does not exist, or switch to it with `git switch {}`.",
            cfg.branch, cfg.branch
        ));
    }
    if out.baseline.is_none() {
        ctx.hint("No baseline yet. Run `autoresearch doctor`, then `autoresearch run -m \"baseline\"` to measure the unchanged code.");
    } else {
        ctx.hint(format!(
            "Next: one hypothesis, edit only `{}`, then `autoresearch run -m \"<what and why>\"`.",
            cfg.target_files.join("`, `")
        ));
        if out.noise.as_ref().is_some_and(|n| n.sd.is_none()) {
            ctx.hint("The noise is not measured yet, so a small gain cannot be told from luck: measure it once with `autoresearch run --recheck -m \"noise check\"` (re-evaluates HEAD; never kept).");
        }
        if out.runs_since_keep >= 3 {
            ctx.hint(format!(
                "{} runs since the last keep: see `autoresearch guide stuck`.",
                out.runs_since_keep
            ));
        }
    }
}

/// An installed skill older than this binary teaches an older CLI: say how to update it.
fn skill_hints(ctx: &Ctx, skills: &[InstalledSkill]) {
    use autoresearch::skills::Scope;
    for scope in [Scope::Project, Scope::Global] {
        let old: Vec<&InstalledSkill> = skills
            .iter()
            .filter(|s| s.scope == scope && s.outdated)
            .collect();
        if old.is_empty() {
            continue;
        }
        let mut targets: Vec<&str> = Vec::new();
        for s in &old {
            for t in &s.targets {
                if !targets.contains(t) {
                    targets.push(t);
                }
            }
        }
        let files: Vec<String> = old
            .iter()
            .map(|s| format!("`{}` ({})", s.path, s.version.as_deref().unwrap_or("?")))
            .collect();
        let flag = if scope == Scope::Project {
            "--project"
        } else {
            "--global"
        };
        ctx.hint(format!(
            "The installed skill is older than this autoresearch ({}): {}. Update it with `autoresearch install {} {flag}` (your edits are kept).",
            skills::VERSION,
            files.join(", "),
            targets.join(" ")
        ));
    }
}

/// `claude-code, codex (project); cursor (global, 0.0.9: outdated)` or `not installed`.
fn skills_line(skills: &[InstalledSkill]) -> String {
    use autoresearch::skills::Kind;
    let parts: Vec<String> = skills
        .iter()
        .filter(|s| s.kind == Kind::Skill)
        .map(|s| {
            let scope = match s.scope {
                skills::Scope::Project => "project",
                skills::Scope::Global => "global",
            };
            let note = if s.outdated {
                format!(", {}: outdated", s.version.as_deref().unwrap_or("?"))
            } else {
                String::new()
            };
            format!("{} ({scope}{note})", s.targets.join("+"))
        })
        .collect();
    if parts.is_empty() {
        "not installed (`autoresearch install <agent>`)".to_string()
    } else {
        parts.join(", ")
    }
}

/// `±0.012 per sample (df 14, 9 samples of 3 codes); best level 0.981 over 4 samples`
pub fn noise_line(n: &NoiseView) -> String {
    let level = n
        .best_level
        .map(|l| {
            format!(
                "; best measures {} over {}",
                metric_or_dash(Some(l)),
                count(n.best_samples as usize, "sample", "samples")
            )
        })
        .unwrap_or_default();
    match n.sd {
        Some(_) => format!(
            "{} per sample ({} of {}){level}",
            n.short(),
            count(n.samples as usize, "sample", "samples"),
            count(n.groups as usize, "code version", "code versions")
        ),
        None => {
            format!("unknown (measure it: `autoresearch run --recheck -m \"noise check\"`){level}")
        }
    }
}

/// `running run #4 (pid 123, heartbeat 1s ago)`, `stale lock from pid 123`, `idle after run #3`.
fn state_line(running: bool, stale: bool, pid: u32, run: Option<u64>, heartbeat: &str) -> String {
    let run = run.map(|r| format!(" run #{r}")).unwrap_or_default();
    if running {
        format!("running{run} (pid {pid}, heartbeat {})", age(heartbeat))
    } else if stale {
        format!("stale lock from pid {pid}")
    } else if run.is_empty() {
        "idle".to_string()
    } else {
        format!("idle after{run}")
    }
}

fn branch_loop_line(l: &BranchLoopView) -> String {
    let s = &l.state;
    state_line(s.running, s.stale, s.pid, s.run, &s.heartbeat_at)
}

/// Width of the keys in the status view.
const W: usize = 12;

impl Human for StatusOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let Some(c) = &self.config else {
            p.line(format!(
                "{} not initialized in {}",
                p.paint.bold("autoresearch"),
                self.root
            ))?;
            return Ok(());
        };
        p.line(format!("{} {}", p.paint.bold("autoresearch"), self.root))?;
        self.setup(p, c)?;
        p.line("")?;
        self.progress(p)?;
        p.kv("loop", W, self.loop_line())?;
        // The loops running (or left stale) on other branches, one line each.
        for l in &self.loops {
            if (l.state.running || l.state.stale) && self.scope_branch.as_ref() != Some(&l.branch) {
                p.kv("", W, format!("{}: {}", l.branch, branch_loop_line(l)))?;
            }
        }
        p.kv("skill", W, skills_line(&self.skills))?;
        p.kv("ledger", W, self.ledger_line())?;
        if let Some(b) = &self.branches {
            p.line("")?;
            b.human(p)?;
        }
        Ok(())
    }
}

impl StatusOutput {
    /// What the loop works on: target, metric, eval, budget, branch.
    fn setup(&self, p: &mut Printer, c: &ConfigBrief) -> std::io::Result<()> {
        p.kv("target", W, c.target_files.join(", "))?;
        p.kv(
            "metric",
            W,
            format!(
                "{} ({} is better)",
                c.metric_name,
                c.metric_direction.as_str()
            ),
        )?;
        p.kv("eval", W, &c.eval_command)?;
        p.kv(
            "budget",
            W,
            format_duration(std::time::Duration::from_secs_f64(c.time_budget_s)),
        )?;
        let branch = match (&self.branch, self.on_experiment_branch) {
            (Some(b), true) => b.clone(),
            (Some(b), false) => format!("{b} (experiments run on {})", c.branch),
            (None, _) => format!("detached HEAD (experiments run on {})", c.branch),
        };
        p.kv("branch", W, branch)?;
        match &self.scope_branch {
            Some(s) if self.branch.as_ref() != Some(s) => p.kv("numbers for", W, s),
            _ => Ok(()),
        }
    }

    /// How far the experiments got: counts, baseline, best, the last run.
    fn progress(&self, p: &mut Printer) -> std::io::Result<()> {
        let k = &self.counts;
        p.kv(
            "runs",
            W,
            format!(
                "{} — {} kept, {} discarded, {} crash, {} timeout, {}{} baseline",
                self.total,
                k.kept,
                k.discarded,
                k.crash,
                k.timeout,
                if k.recheck > 0 {
                    format!("{} recheck, ", k.recheck)
                } else {
                    String::new()
                },
                k.baseline
            ),
        )?;
        let brief = |b: &Option<Brief>| {
            b.as_ref().map_or_else(
                || metric_or_dash(None),
                |b| run_line(&b.label(), b.metric, &b.summary),
            )
        };
        p.kv("baseline", W, brief(&self.baseline))?;
        p.kv("best", W, brief(&self.best))?;
        p.improvement(W, self.improvement, self.improvement_pct)?;
        if let Some(s) = &self.since_first_baseline {
            p.kv("since first", W, s.line())?;
        }
        if let Some(n) = &self.noise {
            p.kv("noise", W, noise_line(n))?;
        }
        if let Some(last) = &self.last_run {
            let status = p.paint.status(last.status);
            p.kv(
                "last run",
                W,
                format!(
                    "{} {status} {}  {}",
                    last.label(),
                    metric_or_dash(last.metric),
                    age(&last.timestamp)
                ),
            )?;
        }
        p.kv("since keep", W, self.runs_since_keep.to_string())
    }

    /// `running run #4 (pid 123, heartbeat 1s ago)`, `idle after run #3`, ...
    fn loop_line(&self) -> String {
        self.loop_state.as_ref().map_or_else(
            || "not started".to_string(),
            |l| state_line(l.running, l.stale, l.pid, l.run, &l.heartbeat_at),
        )
    }

    fn ledger_line(&self) -> String {
        let l = &self.ledger;
        let records = count(l.records as usize, "record", "records");
        if l.bad_lines == 0 && !l.torn_tail {
            return format!("{records}, healthy");
        }
        let torn = if l.torn_tail { ", torn tail" } else { "" };
        format!(
            "{records}, {}{torn}",
            count(l.bad_lines as usize, "bad line", "bad lines")
        )
    }
}
