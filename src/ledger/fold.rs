//! The fold behind `status`, `best`, `record` and `run`: counts, baseline, best and last run,
//! for the whole ledger and per branch, plus the ledger's health. Serializable, because it is
//! cached in `summary.json` (see `store`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::head::Head;
use super::{CACHE_FORMAT, Record, Status};
use crate::config::Direction;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub baseline: u64,
    pub kept: u64,
    pub discarded: u64,
    pub crash: u64,
    pub timeout: u64,
}

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        match s {
            Status::Baseline => self.baseline,
            Status::Kept => self.kept,
            Status::Discarded => self.discarded,
            Status::Crash => self.crash,
            Status::Timeout => self.timeout,
        }
    }
    fn bump(&mut self, s: Status) {
        match s {
            Status::Baseline => self.baseline += 1,
            Status::Kept => self.kept += 1,
            Status::Discarded => self.discarded += 1,
            Status::Crash => self.crash += 1,
            Status::Timeout => self.timeout += 1,
        }
    }
}

/// The fold of one scope (the whole ledger, or one branch).
///
/// The baseline is the latest `baseline` record; the best is the best metric among that baseline
/// and the `kept` runs after it, so `run --baseline` (after a hardware change, say) starts a new
/// comparison. With no baseline at all, the best is the best `kept` run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scope {
    pub total: u64,
    pub counts: Counts,
    pub baseline: Option<Record>,
    pub best: Option<Record>,
    pub last: Option<Record>,
    /// Records in this scope up to and including the baseline / the best.
    pub baseline_at: u64,
    pub best_at: u64,
    /// Runs since the last kept or baseline run.
    pub since_keep: u64,
    /// Gains of the kept runs since the baseline that improved the best, for `suspicious_jump`.
    pub kept_gains: Vec<f64>,
}

impl Scope {
    /// Add one record of this scope, in ledger order.
    pub fn fold_owned(&mut self, rec: Record, direction: Direction) {
        self.fold(&rec, direction);
        self.last = Some(rec);
    }

    /// Add one record of this scope, in ledger order; `last` is left to the caller so a record
    /// folded into several scopes is cloned once, not once per scope.
    fn fold(&mut self, rec: &Record, direction: Direction) {
        self.fold_parts(rec.status, rec.metric, &mut || Some(rec.clone()), direction);
    }

    /// The fold from a record's status and metric; `full` makes the whole record, and is only
    /// called when it becomes the baseline or the best (rarely: most runs are neither).
    fn fold_parts(
        &mut self,
        status: Status,
        metric: Option<f64>,
        full: &mut dyn FnMut() -> Option<Record>,
        direction: Direction,
    ) {
        self.total += 1;
        self.counts.bump(status);
        match (status, metric) {
            (Status::Baseline, Some(_)) => {
                let Some(rec) = full() else { return };
                self.baseline = Some(rec.clone());
                self.best = Some(rec);
                self.baseline_at = self.total;
                self.best_at = self.total;
                self.kept_gains.clear();
                self.since_keep = 0;
            }
            (Status::Kept, Some(m)) => {
                match self.best.as_ref().and_then(|b| b.metric) {
                    Some(b) if !direction.better(m, b) => {}
                    prev => {
                        let Some(rec) = full() else { return };
                        if let Some(b) = prev {
                            self.kept_gains.push(direction.gain(m, b));
                        }
                        self.best = Some(rec);
                        self.best_at = self.total;
                    }
                }
                self.since_keep = 0;
            }
            _ => self.since_keep += 1,
        }
    }

    pub fn best_metric(&self) -> Option<f64> {
        self.best.as_ref().and_then(|b| b.metric)
    }

    /// Experiments from the baseline to the best (0 when the baseline is the best).
    pub fn runs_to_best(&self) -> Option<u64> {
        (self.baseline.is_some() && self.best.is_some())
            .then(|| self.best_at.saturating_sub(self.baseline_at))
    }
}

/// Everything readers need without a second pass, plus ledger health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub(super) format: u32,
    pub(super) direction: Direction,
    pub(super) default_branch: String,
    /// Bytes of the ledger folded (always just after a newline).
    pub offset: u64,
    pub(super) tail_hash: u64,
    /// Complete lines read (blank lines included).
    pub lines: u64,
    pub valid: u64,
    pub bad_count: u64,
    /// The first bad line numbers, for warnings and `doctor`.
    pub bad_lines: Vec<u64>,
    pub max_run: Option<u64>,
    /// Records whose run number is not above every earlier one (duplicates or hand edits).
    pub out_of_order: u64,
    pub all: Scope,
    pub branches: BTreeMap<String, Scope>,
    /// Set by the reader, not cached: a torn last line is present.
    #[serde(skip)]
    pub torn_tail: Option<u64>,
}

impl Summary {
    pub(super) fn empty(direction: Direction, default_branch: &str) -> Summary {
        Summary {
            format: CACHE_FORMAT,
            direction,
            default_branch: default_branch.to_string(),
            offset: 0,
            tail_hash: 0,
            lines: 0,
            valid: 0,
            bad_count: 0,
            bad_lines: Vec::new(),
            max_run: None,
            out_of_order: 0,
            all: Scope::default(),
            branches: BTreeMap::new(),
            torn_tail: None,
        }
    }

    pub(super) fn fold(&mut self, rec: Record) {
        self.valid += 1;
        match self.max_run {
            Some(m) if rec.run <= m => self.out_of_order += 1,
            _ => self.max_run = Some(rec.run),
        }
        self.all.fold(&rec, self.direction);
        let branch = rec.branch.as_ref().unwrap_or(&self.default_branch);
        let scope = match self.branches.get_mut(branch) {
            Some(s) => s,
            None => self.branches.entry(branch.clone()).or_default(),
        };
        scope.fold(&rec, self.direction);
        scope.last = Some(rec.clone());
        self.all.last = Some(rec);
    }

    /// `fold` for the fast reader: the record is parsed in full only when a scope needs it;
    /// the last records are remembered as bytes in `lasts` and parsed once at the end.
    pub(super) fn fold_head(&mut self, h: &Head, bytes: &[u8], lasts: &mut Lasts) {
        self.valid += 1;
        match self.max_run {
            Some(m) if h.run <= m => self.out_of_order += 1,
            _ => self.max_run = Some(h.run),
        }
        let mut parsed: Option<Record> = None;
        let mut full = || {
            if parsed.is_none() {
                parsed = serde_json::from_slice::<Record>(bytes).ok();
            }
            parsed.clone()
        };
        self.all
            .fold_parts(h.status, h.metric, &mut full, self.direction);
        let branch: &str = h
            .branch
            .as_ref()
            .map_or(self.default_branch.as_str(), |b| b.0.as_ref());
        let scope = match self.branches.get_mut(branch) {
            Some(s) => s,
            None => self.branches.entry(branch.to_string()).or_default(),
        };
        scope.fold_parts(h.status, h.metric, &mut full, self.direction);
        lasts.all.clear();
        lasts.all.extend_from_slice(bytes);
        match lasts.by_branch.get_mut(branch) {
            Some(buf) => {
                buf.clear();
                buf.extend_from_slice(bytes);
            }
            None => {
                lasts.by_branch.insert(branch.to_string(), bytes.to_vec());
            }
        }
    }

    /// Set each scope's `last` from the bytes the fast fold remembered.
    pub(super) fn finish_lasts(&mut self, lasts: Lasts) {
        let parse = |b: &[u8]| serde_json::from_slice::<Record>(b).ok();
        if !lasts.all.is_empty() {
            self.all.last = parse(&lasts.all);
        }
        for (branch, bytes) in lasts.by_branch {
            if let Some(scope) = self.branches.get_mut(&branch) {
                scope.last = parse(&bytes);
            }
        }
    }

    pub(super) fn bad(&mut self, line: u64) {
        self.bad_count += 1;
        if self.bad_lines.len() < 20 {
            self.bad_lines.push(line);
        }
    }

    /// The scope for a branch filter: the whole ledger when `None`.
    pub fn scope(&self, branch: Option<&str>) -> Scope {
        match branch {
            None => self.all.clone(),
            Some(b) => self.branches.get(b).cloned().unwrap_or_default(),
        }
    }

    /// The branch a reader's numbers are for when none is named: the current branch when it is
    /// an experiment branch or already has records, else the configured branch.
    pub fn default_scope(
        &self,
        current: Option<&str>,
        is_experiment: impl Fn(&str) -> bool,
    ) -> String {
        match current {
            Some(b) if is_experiment(b) || self.branches.contains_key(b) => b.to_string(),
            _ => self.default_branch.clone(),
        }
    }

    /// The run number the next append gets: last valid run + 1 (CONTRACT §5).
    pub fn next_run(&self) -> u64 {
        self.all.last.as_ref().map_or(0, |r| r.run + 1)
    }

    /// Warnings a reader reports about the file's health.
    pub fn health_warnings(&self, path_label: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.bad_count > 0 {
            let list: Vec<String> = self.bad_lines.iter().map(u64::to_string).collect();
            let more = if self.bad_count > self.bad_lines.len() as u64 {
                format!(" and {} more", self.bad_count - self.bad_lines.len() as u64)
            } else {
                String::new()
            };
            out.push(format!(
                "{path_label}: skipped {} line(s) that do not parse as records (line {}{more})",
                self.bad_count,
                list.join(", ")
            ));
        }
        if let Some(line) = self.torn_tail {
            out.push(format!(
                "{path_label}: line {line} is torn (no trailing newline) and was ignored; the next write moves it to experiments.jsonl.torn"
            ));
        }
        out
    }
}

/// The last record's bytes per scope, kept while folding (copying bytes is far cheaper than
/// building a `Record` for every line).
#[derive(Default)]
pub(super) struct Lasts {
    all: Vec<u8>,
    by_branch: std::collections::HashMap<String, Vec<u8>>,
}
