//! `autoresearch retract RUN -m "why"`: take back a keep that should not stand (a hack undone
//! by hand, a result that did not reproduce). The ledger stays append-only: a `retraction`
//! record names the run, which from then on counts neither as kept nor as the best, and the
//! envelope says whether its change is still in the code and how to take it out.

use clap::Args;
use serde::Serialize;

use autoresearch::error::{AppError, Code, Result};
use autoresearch::git;
use autoresearch::ledger::{self, Brief, Record, RunRef, Status};
use autoresearch::project::Loaded;

use super::args::SummaryArgs;
use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, metric_or_dash};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch retract 12 -m \"cached the eval inputs: not a real gain\"
  autoresearch retract 7 --summary-file why.txt")]
pub struct RetractArgs {
    /// The kept run to take back (`RUN@WORKER` names another worker's run, which only that
    /// worker can retract).
    #[arg(value_name = "RUN", value_parser = super::args::parse_run)]
    pub run: RunRef,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

#[derive(Debug, Serialize)]
pub struct RetractOutput {
    /// The retraction's own run number.
    pub run: u64,
    /// The run taken back, as it was recorded.
    pub retracted: Brief,
    pub summary: String,
    pub branch: String,
    pub best_before: Option<Brief>,
    pub best_after: Option<Brief>,
    /// The retracted commit is still in the branch's history: its change is in the code.
    pub in_code: bool,
    /// How to take the change out of the code, when it is in it.
    pub undo: Option<String>,
}

impl Output for RetractOutput {}

impl Human for RetractOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        p.line(format!(
            "Retracted run #{} ({} {}) as run #{}",
            self.retracted.run,
            self.retracted.status.as_str(),
            metric_or_dash(self.retracted.metric),
            self.run
        ))?;
        const W: usize = 8;
        p.kv("why", W, &self.summary)?;
        if let Some(b) = &self.best_after {
            p.kv(
                "best",
                W,
                format!("#{} {}", b.run, metric_or_dash(b.metric)),
            )?;
        }
        let code = match &self.undo {
            Some(u) => format!("its change is still in the code: `{u}`"),
            None => "its change is not in the branch's code".to_string(),
        };
        p.kv("code", W, code)
    }
}

pub fn run(ctx: &Ctx, args: &RetractArgs) -> Result<RetractOutput> {
    let loaded = ctx.load()?;
    let why = args.summary.read(ctx)?;
    if why.is_empty() {
        return Err(AppError::usage(
            "A retraction needs a reason.",
            format!(
                "Say why run #{} does not stand: `autoresearch retract {} -m \"<why>\"`.",
                args.run, args.run
            ),
        ));
    }
    let out = retract(&loaded, &args.run, why)?;
    if let Some(u) = &out.undo {
        ctx.hint(format!(
            "Run #{}'s change is still in the code: take it out with `{u}`, then let the next `autoresearch run` evaluate the result.",
            out.retracted.run
        ));
    }
    Ok(out)
}

/// Append the retraction of `target`, after checking it is a keep not yet retracted.
fn retract(loaded: &Loaded, target: &RunRef, why: String) -> Result<RetractOutput> {
    let rec = super::args::find_run(&loaded.ledger, target, |target| {
        AppError::new(
            Code::RunNotFound,
            format!("No run #{target} in the ledger: nothing to retract."),
            "See the keeps with `autoresearch log --status kept`.",
        )
    })?;
    let target = rec.run;
    if let (Some(their_run), worker) = (rec.worker_run, &rec.worker) {
        let worker = worker.as_deref().unwrap_or("another worker");
        return Err(AppError::new(
            Code::NotRetractable,
            format!(
                "Run #{target} is run #{their_run} of worker `{worker}`, brought here by `sync`: only the worker that wrote a record can retract it."
            ),
            format!(
                "Retract it on `{worker}` with `autoresearch retract {their_run} --why ...`; its retraction arrives here with the next `autoresearch sync`."
            ),
        ));
    }
    let branch = rec
        .branch
        .clone()
        .unwrap_or_else(|| loaded.ledger.default_branch().to_string());
    let before = loaded.ledger.summary()?.scope(Some(&branch));
    if rec.status != Status::Kept || before.retracted.contains_key(&target) {
        let what = if rec.status == Status::Kept {
            "already retracted".to_string()
        } else {
            format!("`{}`, not `kept`", rec.status.as_str())
        };
        return Err(AppError::new(
            Code::NotRetractable,
            format!("Run #{target} is {what}: only a keep that stands can be retracted."),
            "See the keeps with `autoresearch log --status kept`; a baseline is replaced with `autoresearch run --baseline`, not retracted.",
        ));
    }
    let appended = loaded.ledger.append_with_warnings(|run, _| {
        Ok(Record {
            id: ledger::new_id(),
            timestamp: ledger::now_timestamp(),
            metric: None,
            metrics: Default::default(),
            samples: Vec::new(),
            delta: None,
            summary: why.clone(),
            commit: rec.commit.clone(),
            parent: rec.parent.clone(),
            branch: Some(branch.clone()),
            duration_s: None,
            exit_code: None,
            reason: Some(format!("retracts #{target}")),
            flags: Vec::new(),
            source: "retract".to_string(),
            code: rec.code.clone(),
            setup: rec.setup.clone(),
            hardware: rec.hardware.clone(),
            retracts: Some(target),
            ..Record::new(run, Status::Retraction)
        })
    })?;
    let mut after = appended.before.scope(Some(&branch));
    after.fold_owned(appended.record.clone(), loaded.config.metric_direction);
    let (in_code, undo) = still_in_code(loaded, &rec, &branch);
    Ok(RetractOutput {
        run: appended.record.run,
        retracted: Brief::from(&rec),
        summary: why,
        branch,
        best_before: before.best.as_ref().map(Brief::from),
        best_after: after.best.as_ref().map(Brief::from),
        in_code,
        undo,
    })
}

/// Is the retracted commit in the branch's history, and how is its change taken out: the tip
/// goes back to its parent (uncommitted notes stay); a commit further down is reverted.
fn still_in_code(loaded: &Loaded, rec: &Record, branch: &str) -> (bool, Option<String>) {
    let repo = &loaded.project.repo;
    let (Some(tip), Some(commit)) = (
        git::branch_tip(repo, branch),
        rec.commit
            .as_deref()
            .and_then(|c| git2::Oid::from_str(c).ok()),
    ) else {
        return (false, None);
    };
    let inside = tip == commit || repo.graph_descendant_of(tip, commit).unwrap_or(false);
    if !inside {
        return (false, None);
    }
    let undo = match (&rec.parent, tip == commit) {
        (Some(parent), true) => format!("git reset --keep {parent}"),
        _ => format!("git revert --no-edit {commit}"),
    };
    (true, Some(undo))
}
