//! `autoresearch fork NAME...`: new directions in parallel, each on its own branch
//! `<branch>-fork-<name>` (and, with `--worktree`, in its own linked worktree), all created or
//! none (docs/CONTRACT.md §8).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use autoresearch::error::{AppError, Code, Result};
use autoresearch::forks::{self, Created, From, Plan, Request, Start, Worktrees};
use autoresearch::ledger::RunRef;
use autoresearch::text::shell_word;

use crate::ctx::Ctx;
use crate::output::{Cell, Human, Output, Printer, Style, Table, metric_or_dash};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch fork wide-mlp moe                       # two branches from the current best
  autoresearch fork moe --from 41 --worktree           # from run 41, in ../<repo>-moe
  autoresearch fork gpu1 gpu2 --worktree ../forks --env CUDA_VISIBLE_DEVICES=1
  autoresearch fork bold --from baseline --dry-run")]
pub struct ForkArgs {
    /// Fork names: each becomes the branch `<branch>-fork-<name>`.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
    /// Where the forks start: best (default), baseline, tip (the branch as it is) or a run
    /// number (any recorded run, discarded ones too; `RUN@WORKER` for another worker's).
    #[arg(long, value_name = "FROM", default_value = "best", value_parser = parse_from)]
    pub from: FromArg,
    /// Add a linked worktree per fork: `DIR/<name>`, or `../<repo>-<name>` without DIR.
    #[arg(long, value_name = "DIR")]
    #[allow(clippy::option_option)]
    pub worktree: Option<Option<PathBuf>>,
    /// Environment for every eval on the new forks (repeatable), e.g. CUDA_VISIBLE_DEVICES=1.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Check everything and show the plan; create nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--from`: a start point, or another worker's run, which only the ledger can number.
#[derive(Debug, Clone)]
pub enum FromArg {
    Start(From),
    Worker(RunRef),
}

fn parse_from(s: &str) -> std::result::Result<FromArg, String> {
    if s.contains('@') {
        return super::args::parse_run(s).map(FromArg::Worker);
    }
    From::parse(s).map(FromArg::Start)
}

impl FromArg {
    /// The start point, another worker's run as this ledger numbers it.
    fn resolve(&self, loaded: &autoresearch::project::Loaded) -> Result<From> {
        match self {
            FromArg::Start(from) => Ok(*from),
            FromArg::Worker(r) => {
                // Only a worker's run gets here: `missing` is for a local number.
                let missing = |run| {
                    AppError::new(
                        Code::RunNotFound,
                        format!("No run #{run} in the ledger. Nothing was created."),
                        "See the runs with `autoresearch log`.",
                    )
                };
                Ok(From::Run(
                    super::args::find_run(&loaded.ledger, r, missing)?.run,
                ))
            }
        }
    }
}

fn parse_env(s: &str) -> Result<(String, String)> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| {
            AppError::usage(
                format!("`--env {s}` is not KEY=VALUE. Nothing was created."),
                "Pass each variable as `--env NAME=VALUE`, e.g. `--env CUDA_VISIBLE_DEVICES=1`.",
            )
        })
}

#[derive(Debug, Serialize)]
pub struct ForkOutput {
    pub dry_run: bool,
    /// Where every fork starts.
    pub start: Start,
    /// The environment each fork's evals get.
    pub env: std::collections::BTreeMap<String, String>,
    pub forks: Vec<ForkView>,
}

#[derive(Debug, Serialize)]
pub struct ForkView {
    #[serde(flatten)]
    pub fork: Created,
    /// The commands that start work on it.
    pub next: Vec<String>,
}

impl Output for ForkOutput {}

impl Human for ForkOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let verb = if self.dry_run {
            "Would create"
        } else {
            "Created"
        };
        let n = self.forks.len();
        let s = &self.start;
        let at = match (s.run_label(), s.run) {
            (Some(label), _) => format!("run {label}"),
            (None, Some(r)) => format!("run #{r}"),
            (None, None) => format!("commit {}", &s.commit[..s.commit.len().min(10)]),
        };
        // `from best run #7`, but `from run #7` (not `from 7 run #7`) when a run was named.
        let from = if s.run.is_some_and(|r| s.from == r.to_string()) {
            String::new()
        } else {
            format!("{} ", s.from)
        };
        p.line(format!(
            "{verb} {} from {from}{at} on {}",
            autoresearch::text::count(n, "fork", "forks"),
            s.branch
        ))?;
        let start = match s.level {
            Some(l) => format!(
                "{} ({}): the first experiment on each fork is judged against it",
                metric_or_dash(Some(l)),
                autoresearch::text::count(s.samples, "sample", "samples")
            ),
            None => {
                "not measured under this setup: each fork's first run is its baseline".to_string()
            }
        };
        p.kv("start", 8, start)?;
        if !self.env.is_empty() {
            let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            p.kv("env", 8, env.join(" "))?;
        }
        p.line("")?;
        let mut t = Table::new(&["fork", "branch", "worktree", "start"]);
        for f in &self.forks {
            t.row(vec![
                Cell::new(&f.fork.name, Style::Bold),
                Cell::from(f.fork.branch.as_str()),
                Cell::from(
                    f.fork
                        .worktree
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |w| w.display().to_string()),
                ),
                Cell::from(
                    f.fork
                        .start_run
                        .map_or_else(|| "-".to_string(), |r| format!("#{r}")),
                ),
            ]);
        }
        p.table(&t)?;
        for f in &self.forks {
            p.line("")?;
            p.line(format!("{}:", f.fork.name))?;
            for c in &f.next {
                p.line(format!("  {c}"))?;
            }
        }
        Ok(())
    }
}

pub fn run(ctx: &Ctx, args: &ForkArgs) -> Result<ForkOutput> {
    let loaded = ctx.load()?;
    let worktree = match &args.worktree {
        None => Worktrees::None,
        Some(None) => Worktrees::Sibling,
        Some(Some(d)) => Worktrees::Under(ctx.cwd.join(d)),
    };
    let req = Request {
        names: args.names.clone(),
        from: args.from.resolve(&loaded)?,
        worktree,
        env: args
            .env
            .iter()
            .map(|e| parse_env(e))
            .collect::<Result<Vec<_>>>()?,
    };
    let plan = forks::plan(&loaded, &req)?;
    let created = if args.dry_run {
        planned(&plan)
    } else {
        forks::create(&loaded, &plan)?
    };
    let forks: Vec<ForkView> = created.into_iter().map(view).collect();
    for f in &forks {
        if !f.fork.missing_inputs.is_empty() {
            let dir = f.fork.worktree.as_ref().map(|w| w.display().to_string());
            ctx.warn(format!(
                "The worktree of `{}` lacks untracked or ignored files the main work tree has: {}. If the eval needs them, link them in: {}",
                f.fork.name,
                autoresearch::text::code_list(f.fork.missing_inputs.iter().map(String::as_str)),
                link_commands(&loaded.project.root, dir.as_deref().unwrap_or("."), &f.fork.missing_inputs)
            ));
        }
    }
    if plan.start.level.is_none() && !args.dry_run {
        ctx.hint("The start code was never measured under the current setup: each fork's first `autoresearch run` measures its baseline.".to_string());
    }
    ctx.hint(
        "One agent per fork, each in its own worktree; when they have run, `autoresearch merge-best` ranks them and brings the winner back (`autoresearch guide forks`).".to_string(),
    );
    Ok(ForkOutput {
        dry_run: args.dry_run,
        start: plan.start,
        env: plan.env,
        forks,
    })
}

/// A dry run's forks: as they would be created.
fn planned(plan: &Plan) -> Vec<Created> {
    plan.forks
        .iter()
        .map(|f| Created {
            name: f.name.clone(),
            branch: f.branch.clone(),
            commit: plan.start.commit.clone(),
            worktree: f.worktree.clone(),
            start_run: None,
            missing_inputs: Vec::new(),
        })
        .collect()
}

fn view(c: Created) -> ForkView {
    let next = match &c.worktree {
        Some(dir) => vec![
            format!("cd {}", shell_word(&dir.to_string_lossy())),
            "autoresearch run -m \"<what this fork tries first>\"".to_string(),
        ],
        None => vec![
            format!("git switch {}", shell_word(&c.branch)),
            "autoresearch run -m \"<what this fork tries first>\"".to_string(),
        ],
    };
    ForkView { fork: c, next }
}

/// `ln -s` commands that link each missing input of `root` into `dir`.
fn link_commands(root: &std::path::Path, dir: &str, inputs: &[String]) -> String {
    inputs
        .iter()
        .map(|i| {
            let name = i.trim_end_matches('/');
            format!(
                "`ln -s {} {}`",
                shell_word(&root.join(name).to_string_lossy()),
                shell_word(&format!("{dir}/{name}"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
