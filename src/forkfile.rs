//! `.autoresearch/forks/<branch>.json` (docs/CONTRACT.md §8): how `fork` made a fork, and the
//! environment `run` passes to the evals on it. Written once by `fork`; read by `run` (through
//! the engine), `merge-best` and `doctor`. A branch made without `fork` has none.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::project::Project;

/// What `.autoresearch/forks/<branch>.json` holds: how a fork was made, and the environment
/// `run` passes to its eval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub branch: String,
    /// The branch it was forked from.
    pub parent: String,
    /// The start point as asked: `best`, `baseline`, `tip` or a run number.
    pub from: String,
    /// The run whose code it starts from, when it starts from a recorded run.
    pub from_run: Option<u64>,
    pub from_commit: String,
    /// The fork's start record in the ledger; null when its first `run` is its baseline.
    pub start_run: Option<u64>,
    /// Passed to the eval of every `run` on the fork.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The linked worktree made for it, if any.
    #[serde(default)]
    pub worktree: Option<PathBuf>,
    pub created_at: String,
}

/// Where a fork's settings live.
pub fn settings_path(project: &Project, branch: &str) -> PathBuf {
    project
        .state_dir()
        .join("forks")
        .join(format!("{branch}.json"))
}

/// A fork's settings; `None` for a branch made without `fork`, or a file that does not parse.
pub fn settings(project: &Project, branch: &str) -> Option<Settings> {
    let bytes = std::fs::read(settings_path(project, branch)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The environment `run` passes to the eval on `branch` (empty when it has none).
pub fn env_of(project: &Project, branch: &str) -> Vec<(String, String)> {
    settings(project, branch)
        .map(|s| {
            s.env
                .into_iter()
                .filter(|(k, _)| !k.starts_with("AUTORESEARCH_"))
                .collect()
        })
        .unwrap_or_default()
}
