//! Where `report` and `review` get what they analyze: the records of one branch or of every
//! branch, in ledger order, and each run's diff from git (its commit against its parent, the
//! target files only).

use crate::error::Result;
use crate::ledger::{Record, Summary};
use crate::project::Loaded;

/// Which records a report or a review is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Branches {
    /// One branch; records that name none count as the configured branch's.
    One(String),
    /// The experiment branch and every branch with records.
    All,
}

/// The records of `which`, in ledger order, as far as `summary` covers the ledger (appends
/// made meanwhile are for the next reader), with the readers' warnings.
pub fn records(
    loaded: &Loaded,
    summary: &Summary,
    which: &Branches,
) -> Result<(Vec<Record>, Vec<String>)> {
    let default = loaded.ledger.default_branch().to_string();
    let mut out = Vec::new();
    let warnings = loaded.ledger.for_each_upto(summary.offset, |_, r| {
        let keep = match which {
            Branches::All => true,
            Branches::One(b) => r.branch.as_deref().unwrap_or(&default) == b,
        };
        if keep {
            out.push(r);
        }
        true
    })?;
    Ok((out, warnings))
}

/// The unified diff of a run's commit against its parent (or the commit's first parent), the
/// target files only; `None` without a commit, or for one git no longer has.
pub fn diff_of(loaded: &Loaded, rec: &Record) -> Option<String> {
    let repo = &loaded.project.repo;
    let commit = repo
        .find_commit(git2::Oid::from_str(rec.commit.as_deref()?).ok()?)
        .ok()?;
    let parent = match rec
        .parent
        .as_deref()
        .and_then(|p| git2::Oid::from_str(p).ok())
    {
        Some(p) => repo.find_commit(p).ok()?,
        None => commit.parent(0).ok()?,
    };
    let (old, new) = (parent.tree().ok()?, commit.tree().ok()?);
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), None).ok()?;
    let mut text = String::new();
    let targets = &loaded.config;
    diff.print(git2::DiffFormat::Patch, |delta, _, line| {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if !targets.is_target(&path) {
            return true;
        }
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin());
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    })
    .ok()?;
    Some(text)
}
