//! The manual loop (`autoresearch record`): the caller ran the eval itself and reports its
//! outcome. Same ledger, same numbering and the same run refs as the experiment step; the
//! only judgement made here is `kept_not_better`, a keep that does not beat the best.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{AppError, Result};
use crate::git;
use crate::ledger::{self, Brief, Record, Scope, Status};
use crate::project::Loaded;

/// What the caller measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: Status,
    /// `None` for a crash or timeout (the caller checked that the others have one).
    pub metric: Option<f64>,
    pub metrics: BTreeMap<String, f64>,
    pub summary: String,
    /// The evaluated commit (a revision `git rev-parse` accepts); HEAD when `None`.
    pub commit: Option<String>,
    /// The branch the run belongs to; the current one when `None` (required on a detached
    /// HEAD, where a record without a branch would silently count as the configured branch's).
    pub branch: Option<String>,
    pub duration_s: Option<f64>,
}

/// What was written, and the branch's best before and after it: `record`'s envelope data.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub record: Record,
    pub best_before: Option<Brief>,
    pub best_after: Option<Brief>,
    /// A `kept` run that does not beat the best before it (also a flag on the record).
    pub kept_not_better: bool,
    /// The ref that keeps the commit reachable, when there is a commit.
    pub run_ref: Option<String>,
    /// The branch's fold after the record (for coaching; not part of the envelope).
    #[serde(skip)]
    pub scope: Scope,
    /// Problems that did not stop the record (the envelope's warnings).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The evaluated commit (the one named, else HEAD) and its parent; `None` in a repository
/// without commits, with a warning.
fn evaluated(
    repo: &git2::Repository,
    rev: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Option<(git2::Oid, Option<String>)>> {
    let commit = match rev {
        Some(rev) => Some(git::resolve_commit(repo, rev)?),
        None => match git::head_oid(repo) {
            Some(oid) => repo.find_commit(oid).ok(),
            None => {
                warnings.push(
                    "The repository has no commits yet: the record names no commit.".to_string(),
                );
                None
            }
        },
    };
    Ok(commit.map(|c| (c.id(), c.parent_ids().next().map(|p| p.to_string()))))
}

/// The branch the run belongs to: the one named, else the current one; a detached HEAD without
/// `--branch` is refused (the record would silently count as the configured branch's).
fn branch_of(loaded: &Loaded, named: Option<&str>) -> Result<String> {
    named
        .map(str::to_string)
        .or_else(|| git::current_branch(&loaded.project.repo))
        .ok_or_else(|| {
            AppError::usage(
                "HEAD is detached, so this run belongs to no branch.",
                format!(
                    "Pass the branch it belongs to, e.g. `autoresearch record --branch {} ...`, or check out a branch first.",
                    loaded.config.branch
                ),
            )
        })
}

/// Append `report` to the ledger and pin its commit.
pub fn record(loaded: &Loaded, report: Report) -> Result<Recorded> {
    let repo = &loaded.project.repo;
    let mut warnings = Vec::new();
    let evaluated = evaluated(repo, report.commit.as_deref(), &mut warnings)?;
    let commit_id = evaluated.as_ref().map(|(c, _)| *c);
    let parent = evaluated.and_then(|(_, p)| p);
    let branch = branch_of(loaded, report.branch.as_deref())?;
    let scope_branch = branch.clone();
    loaded.project.ensure_state_dir()?;
    let direction = loaded.config.metric_direction;
    let Report {
        status,
        metric,
        metrics,
        summary,
        duration_s,
        ..
    } = report;
    let mut pinned = None;
    let ledger::Appended {
        record,
        before,
        warnings: moved,
    } = loaded.ledger.append_with_warnings(|run, summary_before| {
        // Pinned before the line is written: a recorded run always has its commit.
        pinned = commit_id.map(|oid| git::set_run_ref(repo, run, oid));
        let best = summary_before.scope(Some(&scope_branch)).best_metric();
        let mut flags = Vec::new();
        if status == Status::Kept
            && matches!((metric, best), (Some(m), Some(b)) if !direction.better(m, b))
        {
            flags.push("kept_not_better".to_string());
        }
        Ok(Record {
            id: ledger::new_id(),
            timestamp: ledger::now_timestamp(),
            metric,
            metrics,
            samples: Vec::new(),
            delta: metric.zip(best).map(|(m, b)| m - b),
            summary,
            commit: commit_id.map(|c| c.to_string()),
            parent,
            branch: Some(branch.clone()),
            duration_s,
            exit_code: None,
            reason: None,
            flags,
            source: "record".to_string(),
            // What was evaluated is the caller's to know (maybe uncommitted changes on top of
            // the commit): a manual record stands alone as evidence.
            code: None,
            setup: None,
            hardware: loaded.config.hardware.clone(),
            ..Record::new(run, status)
        })
    })?;
    warnings.extend(before.health_warnings("`experiments.jsonl`"));
    warnings.extend(moved);
    let run_ref = match pinned {
        Some(Ok(())) => Some(git::run_ref_name(record.run)),
        Some(Err(e)) => {
            warnings.push(format!("The record is saved, but {}", e.message));
            None
        }
        None => None,
    };
    let scope_before = before.scope(Some(&scope_branch));
    let best_before = scope_before.best.as_ref().map(Brief::from);
    let kept_not_better = record.flags.iter().any(|f| f == "kept_not_better");
    if kept_not_better {
        warnings.push(format!(
            "Run #{} is recorded as kept but is not better than the best (#{}).",
            record.run,
            best_before.as_ref().map_or(0, |b| b.run)
        ));
    }
    let mut scope = scope_before;
    scope.fold_owned(record.clone(), direction);
    Ok(Recorded {
        best_after: scope.best.as_ref().map(Brief::from),
        record,
        best_before,
        kept_not_better,
        run_ref,
        scope,
        warnings,
    })
}
