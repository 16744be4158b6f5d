//! `autoresearch merge-best`: rank the forks by their own records against the base's best,
//! say whether the winner is decisive, optionally measure the top ones side by side
//! (`--confirm N`) and bring the winner back (`--apply`) (docs/CONTRACT.md §9).

use clap::{Args, ValueEnum};
use serde::Serialize;

use autoresearch::engine::Event;
use autoresearch::error::{AppError, Result};
use autoresearch::forks::merge::{self, Applied, ApplyPlan, Confirmed, Strategy};
use autoresearch::forks::rank::{self, Ranking, Selection};
use autoresearch::text::shell_word;

use crate::ctx::Ctx;
use crate::output::{
    Human, Output, Printer, Spinner, fmt_approx, fmt_delta, fmt_level, metric_or_dash, stderr_line,
};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch merge-best                         # rank every fork against the base's best
  autoresearch merge-best --forks moe,wide --confirm 5
  autoresearch merge-best --apply --dry-run       # the plan, nothing moved
  autoresearch merge-best --apply                 # fast-forward, or port and evaluate")]
pub struct MergeBestArgs {
    /// The base branch the winner is brought back to (default: the configured branch).
    #[arg(long, value_name = "BASE")]
    pub into: Option<String>,
    /// The forks to rank, by name or branch, comma-separated (default: all of them).
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        conflicts_with = "all"
    )]
    pub forks: Vec<String>,
    /// Rank every fork (the default).
    #[arg(long)]
    pub all: bool,
    /// Re-evaluate the best commits of the base and the top 3 forks N times each, in turn,
    /// record them as re-checks and rank by the confirmed figures.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub confirm: Option<u32>,
    /// Bring the winner back: fast-forward when possible, else port and evaluate it.
    #[arg(long)]
    pub apply: bool,
    /// How `--apply` brings the winner back.
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto, requires = "apply")]
    pub strategy: StrategyArg,
    /// Show what `--confirm` and `--apply` would do; evaluate and move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply a winner that is not decisive, or whose best is flagged.
    #[arg(long, requires = "apply")]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Fast-forward when the base's tip is an ancestor of the winner's best, else port.
    Auto,
    /// Fast-forward only.
    Ff,
    /// Port the winner's target files onto the base and evaluate them there.
    Port,
}

#[derive(Debug, Serialize)]
pub struct MergeBestOutput {
    pub into: String,
    #[serde(flatten)]
    pub ranking: Ranking,
    pub dry_run: bool,
    /// The re-checks `--confirm` recorded (null without it, or in a dry run).
    pub confirmed: Option<Confirmed>,
    /// What `--apply` does or did.
    pub plan: Option<ApplyPlan>,
    pub applied: Option<Applied>,
    /// Commands that remove the forks once they are no longer needed (never run for you).
    pub cleanup: Vec<String>,
    /// Other workers' copies of the experiment branches (`sync`), ranked against the same
    /// base: shown, never the winner (measured on other machines; see `bring_in`).
    pub other_workers: Vec<rank::Contender>,
}

impl Output for MergeBestOutput {}

pub fn run(ctx: &Ctx, args: &MergeBestArgs) -> Result<MergeBestOutput> {
    autoresearch::eval::install_interrupt_handler();
    let loaded = ctx.load()?;
    let into = args
        .into
        .clone()
        .unwrap_or_else(|| loaded.config.branch.clone());
    if !autoresearch::git::branch_exists(&loaded.project.repo, &into) {
        return Err(AppError::new(
            autoresearch::error::Code::ForkNotFound,
            format!(
                "The base branch `{into}` does not exist: there is nothing to rank the forks against."
            ),
            match autoresearch::git::current_branch(&loaded.project.repo) {
                Some(here) if here != into => format!(
                    "Name the branch to bring the winner back to: `autoresearch merge-best --into {here}`."
                ),
                _ => "Name an existing branch with `--into <branch>`.".to_string(),
            },
        ));
    }
    let sel = if args.forks.is_empty() {
        Selection::All
    } else {
        Selection::Named(args.forks.clone())
    };
    let summary = ctx.summary(&loaded.ledger)?;
    let forks = rank::select(&loaded, &summary, &sel, &into)?;
    let mut ranking = rank::rank(&loaded, &summary, &into, &forks);
    let mut confirmed = None;
    if let Some(n) = args.confirm {
        let targets = merge::confirm_targets(&ranking);
        if args.dry_run {
            ctx.hint(format!(
                "`--confirm {n}` would evaluate {} {n} times each, in turn.",
                autoresearch::text::code_list(targets.iter().map(|c| c.branch.as_str()))
            ));
        } else if targets.len() < 2 {
            ctx.warn("Nothing to confirm: no fork has a best to measure beside the base's.");
        } else {
            let mut spinner = Spinner::new();
            let done = merge::confirm(&loaded, &targets, n, &mut |e| match e {
                Event::Warning(w) => ctx.warn(w),
                progress => spinner.follow("confirm", &progress),
            });
            spinner.finish();
            confirmed = Some(done?);
            let summary = loaded.ledger.summary()?;
            ranking = rank::rank(&loaded, &summary, &into, &forks);
        }
    }
    notes(ctx, &ranking);
    let other_workers = super::branches::other_workers(&loaded, &summary, &into);
    bring_in(ctx, &ranking, &other_workers);
    let mut out = MergeBestOutput {
        into,
        ranking,
        dry_run: args.dry_run,
        confirmed,
        plan: None,
        applied: None,
        cleanup: Vec::new(),
        other_workers,
    };
    if args.apply {
        apply(ctx, &loaded, args, &mut out)?;
    } else if out.ranking.winner.is_some() {
        ctx.hint(if out.ranking.decisive {
            "Bring the winner back with `autoresearch merge-best --apply` (`--dry-run` shows the plan first).".to_string()
        } else {
            "Not decisive: measure the top forks side by side with `autoresearch merge-best --confirm 5`, or let them run longer.".to_string()
        });
    }
    Ok(out)
}

fn apply(
    ctx: &Ctx,
    loaded: &autoresearch::project::Loaded,
    args: &MergeBestArgs,
    out: &mut MergeBestOutput,
) -> Result<()> {
    let strategy = match args.strategy {
        StrategyArg::Auto => Strategy::Auto,
        StrategyArg::Ff => Strategy::Ff,
        StrategyArg::Port => Strategy::Port,
    };
    let plan = merge::plan_apply(loaded, &out.ranking, strategy, args.force)?;
    if args.dry_run {
        out.plan = Some(plan);
        return Ok(());
    }
    if ctx.interactive() {
        stderr_line("plan:");
        for s in &plan.steps {
            stderr_line(&format!("  {s}"));
        }
    }
    let mut spinner = Spinner::new();
    let applied = merge::apply(loaded, &out.ranking, &plan, &mut |e| match e {
        Event::Warning(w) => ctx.warn(w),
        Event::BranchCreated(_) => {}
        progress => spinner.follow("port", &progress),
    });
    spinner.finish();
    let applied = applied?;
    if matches!(applied.outcome.as_str(), "fast_forwarded" | "kept") {
        out.cleanup = cleanup(loaded, &out.ranking);
        ctx.hint(format!(
            "`{}` now carries fork {}'s best. The forks stay until you remove them (see `cleanup`).",
            plan.into, plan.winner
        ));
    } else {
        ctx.hint(format!(
            "The port of fork {} was {} on `{}`: its gain did not carry over to the base, which is as it was. See `autoresearch log --branch {}`.",
            plan.winner,
            applied.outcome,
            plan.into,
            shell_word(&plan.into)
        ));
    }
    out.plan = Some(plan);
    out.applied = Some(applied);
    Ok(())
}

/// The commands that remove every ranked fork's worktree and branch.
fn cleanup(loaded: &autoresearch::project::Loaded, r: &Ranking) -> Vec<String> {
    let mut out = Vec::new();
    for c in r.groups.iter().flat_map(|g| &g.forks).filter(|c| c.exists) {
        if let Some(dir) = autoresearch::forks::settings(&loaded.project, &c.branch)
            .and_then(|s| s.worktree)
            .filter(|d| d.exists())
        {
            out.push(format!(
                "git worktree remove {}",
                shell_word(&dir.to_string_lossy())
            ));
        }
        out.push(format!("git branch -D {}", shell_word(&c.branch)));
    }
    out
}

/// How to bring in another worker's best that beats the base's: its number was made on another
/// machine, so it is measured here first, on a fork started from it.
fn bring_in(ctx: &Ctx, r: &Ranking, theirs: &[rank::Contender]) {
    let Some(c) = theirs.iter().find(|c| c.gain.is_some_and(|g| g > 0.0)) else {
        return;
    };
    let Some(best) = &c.best else { return };
    let (Some(run), Some(worker)) = (best.worker_run, best.worker.as_deref()) else {
        return;
    };
    // Already brought in: a fork holds that code.
    let ours = r.groups.iter().flat_map(|g| &g.forks);
    if ours
        .filter_map(|f| f.best.as_ref())
        .any(|b| b.commit.is_some() && b.commit == best.commit)
    {
        return;
    }
    let name: String = worker
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    let name = if autoresearch::names::valid_name(&name).is_ok() {
        name
    } else {
        "<name>".to_string()
    };
    ctx.hint(format!(
        "Worker `{worker}`'s best ({}) beats `{}`'s, measured on its machine: measure it here before bringing it back, on a fork that starts from it: `autoresearch fork {name} --from {run}@{worker}`, then `autoresearch run --recheck -m \"recheck {run}@{worker}\"` there.",
        best.label(),
        r.base.branch
    ));
}

/// Warnings about forks that cannot be compared with the base.
fn notes(ctx: &Ctx, r: &Ranking) {
    for g in r
        .groups
        .iter()
        .filter(|g| !g.comparable && !g.forks.is_empty())
    {
        let names: Vec<&str> = g.forks.iter().map(|c| c.name.as_str()).collect();
        let why = if r.base.setup.is_none() {
            "the base has no best to compare with".to_string()
        } else if g.setup.is_none() {
            "they have no best yet".to_string()
        } else if g.hardware != r.base.hardware {
            format!(
                "they were measured on {}, the base's best on {}",
                hardware_name(g.hardware.as_deref()),
                hardware_name(r.base.hardware.as_deref())
            )
        } else {
            "they were measured under another evaluation setup than the base's best (eval, metric, budget or protected files differ)".to_string()
        };
        ctx.warn(format!(
            "{} ranked apart and never the winner: {why}.",
            autoresearch::text::code_list(names.iter().copied())
        ));
    }
}

impl Human for MergeBestOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let r = &self.ranking;
        let base = match (&r.base.best, r.base.level) {
            (Some(b), Some(l)) => format!(
                "best #{} {} ({} samples)",
                b.run,
                fmt_level(Some(l)),
                r.base.samples
            ),
            _ => "no best yet".to_string(),
        };
        let noise = r.noise.map_or_else(
            || "noise unknown".to_string(),
            |n| format!("noise ±{} (df {})", fmt_approx(n.sd), n.df),
        );
        let on = on_hardware(r.base.hardware.as_deref(), " ·");
        p.line(format!(
            "merge-best into {} · {base}{on} · {noise}",
            self.into
        ))?;
        for g in &r.groups {
            p.line("")?;
            if !g.comparable {
                let setup = g.setup.as_deref().unwrap_or("none");
                let on = on_hardware(g.hardware.as_deref(), " on");
                p.line(p.paint.dim(&format!(
                    "measured differently (setup {setup}{on}): not comparable"
                )))?;
            }
            let t = if g.comparable {
                super::branches::table(Some(1), &g.forks, Some(&r.base))
            } else {
                super::branches::table(None, &g.forks, None)
            };
            p.table(&t)?;
        }
        other_workers(p, &self.other_workers)?;
        p.line("")?;
        p.kv("verdict", 8, verdict_line(r))?;
        if let Some(c) = &self.confirmed {
            let runs: Vec<String> = c
                .runs
                .iter()
                .map(|x| format!("#{} {}", x.run, x.branch))
                .collect();
            p.kv(
                "confirm",
                8,
                format!("{} samples each: {}", c.samples, runs.join(", ")),
            )?;
        }
        if let Some(plan) = &self.plan {
            let head = if self.applied.is_some() {
                "did"
            } else {
                "plan"
            };
            for (i, s) in plan.steps.iter().enumerate() {
                p.kv(if i == 0 { head } else { "" }, 8, s)?;
            }
        }
        if let Some(a) = &self.applied {
            let line = match &a.port {
                None => format!("fast-forwarded; recorded as run #{}", a.run),
                Some(run) => format!(
                    "port is run #{}: {} {}",
                    a.run,
                    run.status.as_str(),
                    metric_or_dash(run.metric)
                ),
            };
            p.kv("result", 8, line)?;
        }
        if !self.cleanup.is_empty() {
            p.line("")?;
            p.line("clean up when done (nothing was deleted):")?;
            for c in &self.cleanup {
                p.line(format!("  {c}"))?;
            }
        }
        Ok(())
    }
}

/// Other workers' branches, in a table of their own (nothing before any sync).
fn other_workers(p: &mut Printer, theirs: &[rank::Contender]) -> std::io::Result<()> {
    if theirs.is_empty() {
        return Ok(());
    }
    p.line("")?;
    p.line(
        p.paint
            .dim("other workers (sync): measured on their machines, shown and never merged"),
    )?;
    p.table(&super::branches::table(None, theirs, None))
}

/// ` on hardware a100` (`lead` first), or nothing without a class.
fn on_hardware(class: Option<&str>, lead: &str) -> String {
    class.map_or_else(String::new, |h| format!("{lead} hardware {h}"))
}

/// `hardware `a100``, or `no hardware class` when none was set.
fn hardware_name(class: Option<&str>) -> String {
    class.map_or_else(
        || "no hardware class".to_string(),
        |h| format!("hardware `{h}`"),
    )
}

fn verdict_line(r: &Ranking) -> String {
    let Some(w) = &r.winner else {
        return r.verdict.clone();
    };
    let lead = |l: &rank::Lead| {
        let nm = l.noise_margin.map_or_else(
            || "noise unknown".to_string(),
            |_| format!("> {} needed", fmt_approx(l.threshold)),
        );
        format!("{} over {} ({nm})", fmt_delta(l.gain), l.over)
    };
    let mut parts = vec![format!("{}: {w} leads", r.verdict)];
    if let Some(l) = &r.over_base {
        parts.push(lead(l));
    }
    if let Some(l) = &r.over_runner_up {
        parts.push(lead(l));
    }
    parts.join(" · ")
}
