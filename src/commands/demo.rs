//! `autoresearch demo`: the whole loop on a toy project, no agent needed, in a few seconds.
//!
//! It builds a git repository whose target file holds three hyper-parameters and whose eval is
//! a POSIX `sh` script (sed + awk, no Python) printing a validation loss and the memory it
//! "used". Then, in-process and through the very function `run` uses (`engine::step`), it
//! runs `init`, `doctor`, the baseline and a scripted series of edits — some improve, some
//! regress, one crashes, one runs over the budget, one breaks a constraint — and ends with
//! `log`, the best result with its patch, and `status`. What each step reported (its warnings,
//! and the hints an agent would have been given) is kept in the output, not thrown away.
//!
//! The project lives in a fresh temporary directory (or `--dir`) and is removed at the end
//! unless `--keep` is given.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use autoresearch::engine::{self, Event, StepOptions};
use autoresearch::error::{AppError, Code, Result};
use autoresearch::ledger::Status;
use autoresearch::project::{Loaded, Project};

use crate::coach;
use crate::ctx::Ctx;
use crate::output::{self, Cell, Human, Mode, Output, Printer, Style, Table, metric_or_dash};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch demo                       watch it run, then clean up
  autoresearch demo --keep                keep the project; cd into it and try `autoresearch log`
  autoresearch demo --dir ./toy --keep    build it in ./toy (must be empty or not exist)
  autoresearch demo --forks               then two forks, ranked, and the winner merged back")]
pub struct DemoArgs {
    /// Build the example project here (an empty or new directory) instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the project afterwards to explore it (`autoresearch log`, `git log`, the run logs).
    #[arg(long)]
    pub keep: bool,
    /// After the first six experiments, fork two directions from the best, run one experiment
    /// on each, rank them with `merge-best` and bring the winner back.
    #[arg(long)]
    pub forks: bool,
}

/// The target file: what the "agent" edits.
const PARAMS: &str = "\
# Hyper-parameters of a toy model. Experiments may change only this file.
learning_rate = 0.1
batch_size = 32
warmup_steps = 0
";

/// The eval: a pretend training run. The loss is smallest at learning_rate 0.03 and
/// batch_size 128; memory grows with the batch; a huge batch runs out of memory; a long warmup
/// takes longer than the budget.
const TRAIN: &str = r#"#!/bin/sh
# A pretend training run: reads params.txt, prints progress, the validation loss and memory.
param() { sed -n "s/^$1 *= *//p" params.txt; }
lr=$(param learning_rate)
bs=$(param batch_size)
warmup=$(param warmup_steps)
if [ "$bs" -gt 256 ]; then
  echo "allocating batch of $bs"
  echo "error: out of memory (batch_size $bs needs $((bs / 4)) GB)" >&2
  exit 1
fi
if [ "$warmup" -gt 0 ]; then
  echo "warming up for $warmup steps"
  sleep 5
fi
for step in 1 2 3; do
  echo "step $step/3"
  sleep 0.1
done
awk -v lr="$lr" -v bs="$bs" 'BEGIN {
  loss = 1 + 40 * (lr - 0.03) ^ 2 + (bs - 128) ^ 2 / 20000
  printf "val_loss: %.4f\nmemory_gb: %.1f\n", loss, bs / 4
}'
"#;

const PROGRAM: &str = "\
# Research program

## Goal

Make `val_loss` lower (measured by `sh train.sh`), by changing only `params.txt`.

## Ideas to try

- Tune the learning rate; then the batch size.
- Warmup might help stability.

## Constraints

- `memory_gb <= 40` (the GPU has 40 GB); `train.sh` is the eval and must not change.
";

/// With `--forks`: the main branch runs this many of the scripted experiments first.
const BEFORE_FORKS: usize = 6;

/// With `--forks`: (fork name, parameter, new value, summary), one experiment on each fork.
const FORK_SCRIPT: &[(&str, &str, &str, &str)] = &[
    (
        "lr",
        "learning_rate",
        "0.03",
        "fork lr: the learning rate alone, down to 0.03",
    ),
    (
        "batch",
        "batch_size",
        "128",
        "fork batch: the batch size alone, up to 128",
    ),
];

/// The scripted experiments: (parameter, new value, summary).
const SCRIPT: &[(&str, &str, &str)] = &[
    (
        "learning_rate",
        "0.05",
        "lower the learning rate: the loss looks noisy",
    ),
    ("learning_rate", "0.2", "try a much higher learning rate"),
    (
        "batch_size",
        "64",
        "double the batch size for smoother gradients",
    ),
    ("batch_size", "512", "a huge batch for throughput"),
    ("warmup_steps", "1000", "add a long warmup"),
    ("batch_size", "176", "a larger batch of 176"),
    (
        "learning_rate",
        "0.03",
        "fine-tune the learning rate down to 0.03",
    ),
    ("batch_size", "128", "batch 128: still within memory"),
];

#[derive(Debug, Serialize)]
pub struct DemoStep {
    pub run: u64,
    /// The edit, e.g. `learning_rate 0.1 -> 0.05` (empty for the baseline).
    pub edit: String,
    pub summary: String,
    pub status: Status,
    pub metric: Option<f64>,
    pub delta: Option<f64>,
    pub reason: Option<String>,
    pub flags: Vec<String>,
    pub reverted: bool,
    pub duration_s: Option<f64>,
    /// What the step warned about.
    pub warnings: Vec<String>,
    /// The hints an agent would have been given after this step.
    pub hints: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DoctorBrief {
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Debug, Serialize)]
pub struct DemoOutput {
    /// Where the project was built.
    pub dir: String,
    /// Whether it is still there (`--keep`).
    pub kept: bool,
    pub duration_s: f64,
    pub doctor: DoctorBrief,
    pub experiments: Vec<DemoStep>,
    /// With `--forks`: the forks, their experiments, the ranking and the merge (null otherwise).
    pub forks: Option<DemoForks>,
    /// What `autoresearch log --all`, `best --patch` and `status` say at the end.
    pub log: super::log::LogOutput,
    pub best: super::best::BestOutput,
    pub status: super::status::StatusOutput,
}

impl Output for DemoOutput {}

/// The forks part of `demo --forks`.
#[derive(Debug, Serialize)]
pub struct DemoForks {
    /// As `fork` reports them.
    pub created: Vec<autoresearch::forks::Created>,
    /// One experiment on each fork, in order.
    pub experiments: Vec<DemoStep>,
    /// What `merge-best` found.
    pub ranking: autoresearch::forks::rank::Ranking,
    /// What `merge-best --apply` did.
    pub applied: autoresearch::forks::merge::Applied,
}

/// Removes the project at the end unless it is to be kept.
struct Cleanup {
    dir: PathBuf,
    created: bool,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if self.created {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else if let Ok(entries) = std::fs::read_dir(&self.dir) {
            // A directory the user gave us: empty it, leave it.
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
}

pub fn run(ctx: &Ctx, args: &DemoArgs) -> Result<DemoOutput> {
    autoresearch::eval::install_interrupt_handler();
    let started = Instant::now();
    let (dir, created) = prepare_dir(ctx, args.dir.as_deref())?;
    let cleanup = Cleanup {
        dir: dir.clone(),
        created,
        keep: args.keep,
    };
    let say = |text: String| {
        if ctx.mode() == Mode::Human {
            output::stderr_line(&text);
        }
    };
    say(format!("Building a toy project in {}", dir.display()));
    build_project(&dir)?;
    setup(&dir)?;
    say("  init      target params.txt, eval `sh train.sh`, metric val_loss (lower), budget 1s, constraint memory_gb <= 40".into());
    let doctor = doctor(&dir)?;
    say(format!(
        "  doctor    {} passed, {}, {} failed",
        doctor.passed,
        autoresearch::text::count(doctor.warned, "warning", "warnings"),
        doctor.failed
    ));
    let script = if args.forks {
        &SCRIPT[..BEFORE_FORKS]
    } else {
        SCRIPT
    };
    let experiments = experiments(&dir, script, &say)?;
    let forks = if args.forks {
        Some(fork_part(&dir, &say)?)
    } else {
        None
    };

    let (loaded, _) = Loaded::open(&dir)?;
    let summary = ctx.summary(&loaded.ledger)?;
    let best_args = super::best::BestArgs {
        patch: true,
        branch: None,
        all_branches: false,
        max_patch_bytes: 8 * 1024,
        worker: Default::default(),
    };
    let (best, warnings) = super::best::best(&loaded, &summary, &best_args)?;
    ctx.warn_all(warnings);
    let status = super::status::status(&loaded.project, loaded.config.clone(), &summary);
    let log_args = super::log::LogArgs {
        limit: 20,
        all: true,
        status: Vec::new(),
        branch: None,
        all_branches: false,
        reverse: false,
        worker: Default::default(),
    };
    // Read now, not streamed: the project may be gone by the time the envelope is written.
    let log = super::log::list(ctx, loaded, &log_args, false)?;
    if args.keep {
        ctx.hint(format!(
            "The project is kept: `cd {}` and try `autoresearch log`, `autoresearch status`, `git log --oneline`.",
            dir.display()
        ));
    } else {
        ctx.hint("Run `autoresearch demo --keep` to keep the project and explore it.");
    }
    ctx.hint("Set up your own project: `autoresearch init`, then `autoresearch doctor`.");
    drop(cleanup);
    Ok(DemoOutput {
        dir: dir.display().to_string(),
        kept: args.keep,
        duration_s: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        doctor,
        experiments,
        forks,
        log,
        best,
        status,
    })
}

/// `init` with the demo's answers, a constraint and a short kill grace, then commit the setup.
fn setup(dir: &Path) -> Result<()> {
    let project = Project::discover(dir)?;
    super::init::create(
        dir,
        &project,
        &super::init::Answers {
            target_files: vec!["params.txt".into()],
            eval_command: "sh train.sh".into(),
            metric_name: "val_loss".into(),
            metric_direction: "lower".into(),
            time_budget: "1s".into(),
            branch: autoresearch::config::DEFAULT_BRANCH.into(),
            protected: vec!["train.sh".into()],
        },
    )?;
    let config_path = dir.join(autoresearch::config::FILE_NAME);
    let mut config = std::fs::read_to_string(&config_path)
        .map_err(|e| AppError::io(config_path.display(), &e))?;
    config.push_str(
        "\n# Added by the demo.\nconstraints = [\"memory_gb <= 40\"]\nkill_grace = \"500ms\"\n",
    );
    autoresearch::fsutil::write_atomic(&config_path, config.as_bytes())?;
    autoresearch::fsutil::write_atomic(&dir.join("program.md"), PROGRAM.as_bytes())?;
    commit_all(dir, "autoresearch setup")
}

/// The doctor's verdict on the toy project; it must pass.
fn doctor(dir: &Path) -> Result<DoctorBrief> {
    let (doc, _) = super::doctor::check(dir, &super::doctor::DoctorArgs { no_eval: false })?;
    if doc.failed > 0 {
        return Err(AppError::internal(format!(
            "the demo project failed its own doctor check: {}",
            doc.next
        )));
    }
    Ok(DoctorBrief {
        passed: doc.passed,
        warned: doc.warned,
        failed: doc.failed,
        skipped: doc.skipped,
    })
}

/// The baseline, then every edit of `script`, each through `engine::step`.
fn experiments(
    dir: &Path,
    script: &[(&str, &str, &str)],
    say: &dyn Fn(String),
) -> Result<Vec<DemoStep>> {
    let (loaded, _) = Loaded::open(dir)?;
    let mut steps = Vec::new();
    for item in std::iter::once(None).chain(script.iter().map(Some)) {
        steps.push(step(&loaded, dir, item.map(|(k, v, s)| (*k, *v, *s)), say)?);
    }
    Ok(steps)
}

/// Fork two directions from the best, one experiment on each (switching the work tree between
/// them, as one agent would), then `merge-best` and `--apply`.
fn fork_part(dir: &Path, say: &dyn Fn(String)) -> Result<DemoForks> {
    use autoresearch::forks::{self, merge, rank};
    let (loaded, _) = Loaded::open(dir)?;
    let req = forks::Request {
        names: FORK_SCRIPT.iter().map(|f| f.0.to_string()).collect(),
        from: forks::From::Best,
        worktree: forks::Worktrees::None,
        env: Vec::new(),
    };
    let plan = forks::plan(&loaded, &req)?;
    let created = forks::create(&loaded, &plan)?;
    say(format!(
        "  fork      {} from the best (#{})",
        created
            .iter()
            .map(|c| c.branch.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        plan.start.run.unwrap_or_default()
    ));
    let mut experiments = Vec::new();
    for (f, (_, key, value, summary)) in created.iter().zip(FORK_SCRIPT) {
        switch(dir, &f.branch)?;
        experiments.push(step(&loaded, dir, Some((key, value, summary)), say)?);
    }
    switch(dir, &loaded.config.branch)?;
    let summary = loaded.ledger.summary()?;
    let base = loaded.config.branch.clone();
    let all = rank::select(&loaded, &summary, &rank::Selection::All, &base)?;
    let ranking = rank::rank(&loaded, &summary, &base, &all);
    say(format!(
        "  merge-best  {}: {} leads",
        ranking.verdict,
        ranking.winner.as_deref().unwrap_or("nobody")
    ));
    let plan = merge::plan_apply(&loaded, &ranking, merge::Strategy::Auto, false)?;
    let applied = merge::apply(&loaded, &ranking, &plan, &mut |_| {})?;
    say(format!(
        "  --apply   {} `{}` to fork {}'s best (run #{}), recorded as run #{}",
        applied.outcome.replace('_', "-"),
        base,
        plan.winner,
        plan.run,
        applied.run
    ));
    Ok(DemoForks {
        created,
        experiments,
        ranking,
        applied,
    })
}

/// Check out `branch` in the demo's work tree (clean between steps).
fn switch(dir: &Path, branch: &str) -> Result<()> {
    let git_err = |e: git2::Error| AppError::git(format!("switching the demo to `{branch}`"), &e);
    let repo = git2::Repository::open(dir).map_err(git_err)?;
    let refname = format!("refs/heads/{branch}");
    let tree = repo
        .find_reference(&refname)
        .and_then(|r| r.peel_to_tree())
        .map_err(git_err)?;
    repo.checkout_tree(
        tree.as_object(),
        Some(git2::build::CheckoutBuilder::new().safe()),
    )
    .map_err(git_err)?;
    repo.set_head(&refname).map_err(git_err)
}

/// One experiment: set `key = value` (none: the baseline) and run the step.
fn step(
    loaded: &Loaded,
    dir: &Path,
    item: Option<(&str, &str, &str)>,
    say: &dyn Fn(String),
) -> Result<DemoStep> {
    let params = dir.join("params.txt");
    let (edit, summary) = match item {
        None => (String::new(), "baseline".to_string()),
        Some((key, value, summary)) => {
            let old = set_param(&params, key, value)?;
            (format!("{key} {old} -> {value}"), summary.to_string())
        }
    };
    let opts = StepOptions {
        summary,
        tail: 5,
        ..StepOptions::default()
    };
    let (mut warnings, mut hints) = (Vec::new(), Vec::new());
    let out = engine::step(loaded, &opts, &mut |e| match e {
        Event::Warning(w) => warnings.push(w),
        Event::BranchCreated(b) => hints.push(coach::branch_created(&b)),
        Event::EvalStarted { .. } | Event::EvalSpawned { .. } | Event::Tick { .. } => {}
    })?;
    hints.extend(coach::after_run(&out, &loaded.config.target_files, false));
    say(step_line(&out, &edit));
    let interrupted = out.interrupted();
    let done = DemoStep {
        run: out.run,
        edit,
        summary: out.summary,
        status: out.status,
        metric: out.metric,
        delta: out.delta,
        reason: out.reason,
        flags: out.flags,
        reverted: out.reverted,
        duration_s: out.duration_s,
        warnings,
        hints,
    };
    if interrupted {
        return Err(AppError::new(
            Code::Interrupted,
            "The demo was interrupted.",
            "Run `autoresearch demo` again to see the whole loop.",
        ));
    }
    Ok(done)
}

/// A fresh temporary directory, or the user's, which must be empty or not exist. Returns it
/// and whether we created it.
fn prepare_dir(ctx: &Ctx, dir: Option<&Path>) -> Result<(PathBuf, bool)> {
    let Some(dir) = dir else {
        for _ in 0..10 {
            let d = std::env::temp_dir().join(format!(
                "autoresearch-demo-{}-{:08x}",
                std::process::id(),
                autoresearch::fsutil::nonce() as u32
            ));
            match std::fs::create_dir(&d) {
                Ok(()) => return Ok((d, true)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(AppError::io(d.display(), &e)),
            }
        }
        return Err(AppError::internal("could not create a temporary directory"));
    };
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        ctx.cwd.join(dir)
    };
    match std::fs::read_dir(&dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(AppError::usage(
                    format!("`{}` is not empty.", dir.display()),
                    "Pass `--dir` a new or empty directory, or leave it out to use a temporary one.",
                ));
            }
            Ok((dir, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), &e))?;
            Ok((dir, true))
        }
        Err(e) => Err(AppError::io(dir.display(), &e)),
    }
}

fn build_project(dir: &Path) -> Result<()> {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| AppError::io(p.display(), &e))
    };
    write("params.txt", PARAMS)?;
    write("train.sh", TRAIN)?;
    write(
        "README.md",
        "A toy project made by `autoresearch demo`. Try `autoresearch log` and `git log --oneline`.\n",
    )?;
    git2::Repository::init(dir).map_err(|e| AppError::git("creating the demo repository", &e))?;
    commit_all(dir, "toy project")
}

/// Stage every file (ignored ones excepted) and commit on the current branch.
fn commit_all(dir: &Path, message: &str) -> Result<()> {
    let git_err = |e: git2::Error| AppError::git("committing in the demo repository", &e);
    let repo = git2::Repository::open(dir).map_err(git_err)?;
    let mut index = repo.index().map_err(git_err)?;
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .map_err(git_err)?;
    index.write().map_err(git_err)?;
    let tree = repo
        .find_tree(index.write_tree().map_err(git_err)?)
        .map_err(git_err)?;
    let sig = autoresearch::git::signature(&repo);
    let parent = autoresearch::git::head_oid(&repo).and_then(|o| repo.find_commit(o).ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .map_err(git_err)?;
    Ok(())
}

/// Set `key = value` in the params file; returns the old value.
fn set_param(path: &Path, key: &str, value: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| AppError::io(path.display(), &e))?;
    let mut old = String::new();
    let lines: Vec<String> = text
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if k.trim() == key => {
                old = v.trim().to_string();
                format!("{key} = {value}")
            }
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").map_err(|e| AppError::io(path.display(), &e))?;
    Ok(old)
}

/// One line of progress: `#3 kept       1.2208  batch_size 32 -> 64`.
fn step_line(out: &engine::RunOutput, edit: &str) -> String {
    let metric = metric_or_dash(out.metric);
    let what = if edit.is_empty() {
        "the unchanged code"
    } else {
        edit
    };
    // For a crash, the last line of its output says what went wrong (above our footer).
    let last = out
        .log_tail
        .as_deref()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty() && !l.starts_with("--- autoresearch:"))
        })
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    let reason = out
        .reason
        .as_ref()
        .map(|r| format!("  ({r}{last})"))
        .unwrap_or_default();
    format!(
        "  #{:<2} {:<9} {:<8} {what}{reason}",
        out.run,
        out.status.as_str(),
        metric
    )
}

impl Human for DemoOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        p.line(p.paint.bold("The experiments (autoresearch log)"))?;
        let mut t = Table::new(&["run", "status", "val_loss", "change", "reason"]);
        for e in &self.experiments {
            let change = if e.edit.is_empty() {
                "baseline"
            } else {
                e.edit.as_str()
            };
            t.row(vec![
                format!("#{}", e.run).into(),
                Cell::new(e.status.as_str(), Style::of_status(e.status)),
                metric_or_dash(e.metric).into(),
                change.into(),
                e.reason.clone().unwrap_or_default().into(),
            ]);
        }
        p.table(&t)?;
        if let Some(f) = &self.forks {
            p.line("")?;
            p.line(
                p.paint
                    .bold("Forks (autoresearch fork, merge-best --apply)"),
            )?;
            let mut t = Table::new(&["run", "branch", "status", "val_loss", "change"]);
            for (c, e) in f.created.iter().zip(&f.experiments) {
                t.row(vec![
                    format!("#{}", e.run).into(),
                    c.branch.as_str().into(),
                    Cell::new(e.status.as_str(), Style::of_status(e.status)),
                    metric_or_dash(e.metric).into(),
                    e.edit.as_str().into(),
                ]);
            }
            p.table(&t)?;
            let r = &f.ranking;
            p.kv(
                "verdict",
                8,
                format!(
                    "{}: {} leads",
                    r.verdict,
                    r.winner.as_deref().unwrap_or("nobody")
                ),
            )?;
            p.kv(
                "merged",
                8,
                format!(
                    "{} (recorded as run #{})",
                    f.applied.outcome.replace('_', "-"),
                    f.applied.run
                ),
            )?;
        }
        p.line("")?;
        p.line(p.paint.bold("The best result (autoresearch best --patch)"))?;
        self.best.human(p)?;
        p.line("")?;
        p.line(p.paint.bold("Where it stands (autoresearch status)"))?;
        self.status.human(p)?;
        p.line("")?;
        let place = if self.kept {
            format!("kept in {}", self.dir)
        } else {
            "removed (use --keep to explore it)".to_string()
        };
        p.line(format!(
            "{} experiments in {:.1}s; the project was {place}.",
            self.experiments.len(),
            self.duration_s
        ))
    }
}
