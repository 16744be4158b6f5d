//! The fold behind `status`, `best`, `record` and `run`: counts, baseline, best and last run,
//! for the whole ledger and per branch, plus the ledger's health. Serializable, because it is
//! cached in `summary.json` (see `cache`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::cache::Stamp;
use super::head::{Head, HeadLine, parse_head};
use super::stream::Visit;
use super::{CACHE_FORMAT, INTERRUPTED, Line, Record, Status, parse_line};
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
        let interrupted = rec.reason.as_deref() == Some(INTERRUPTED);
        self.fold_parts(
            rec.status,
            rec.metric,
            interrupted,
            &mut || Some(rec.clone()),
            direction,
        );
    }

    /// The fold from a record's status and metric; `full` makes the whole record, and is only
    /// called when it becomes the baseline or the best (rarely: most runs are neither).
    fn fold_parts(
        &mut self,
        status: Status,
        metric: Option<f64>,
        interrupted: bool,
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
            // Stopped by Ctrl-C or SIGTERM: not an idea that failed, so not part of a streak.
            _ if interrupted => {}
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
    /// The chained hash of the lines in `[0, offset)` (`stream::chain`): a cache whose prefix
    /// still hashes the same describes those bytes, whatever their timestamps say.
    pub(super) prefix_hash: u64,
    /// The ledger as it was stat'ed for this fold, and the fence taken before that stat: lets a
    /// reader trust the cache without reading the ledger (`cache`). `None`: check the hash.
    pub(super) stamp: Option<Stamp>,
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
            prefix_hash: 0,
            stamp: None,
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

    /// The fold of one parsed record: the reference the fast fold is tested against.
    #[cfg(test)]
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
    /// the last records are remembered as the line's place in the block (`lasts`) and parsed
    /// once at the end. `bytes` is the trimmed line inside `block[raw]`.
    fn fold_head(&mut self, h: &Head, bytes: &[u8], raw: Range<usize>, no: u64, lasts: &mut Lasts) {
        let mut parsed: Option<Record> = None;
        let mut full = || {
            if parsed.is_none() {
                parsed = serde_json::from_slice::<Record>(bytes).ok();
            }
            parsed.clone()
        };
        let name = h
            .branch
            .as_deref()
            .unwrap_or(self.default_branch.as_bytes());
        let (branch, last) = lasts.branch(name);
        self.fold_fields(h.run, h.status, h.metric, h.interrupted, branch, &mut full);
        let first = no == 1;
        last.set(raw.clone(), first);
        lasts.all.set(raw, first);
    }

    /// The fold of one record from the fields it needs; `full` makes the whole record, and is
    /// only called when it becomes a baseline or a best.
    #[allow(clippy::too_many_arguments)] // the fields of a line, as the readers have them
    pub(super) fn fold_fields(
        &mut self,
        run: u64,
        status: Status,
        metric: Option<f64>,
        interrupted: bool,
        branch: &str,
        full: &mut dyn FnMut() -> Option<Record>,
    ) {
        self.valid += 1;
        match self.max_run {
            Some(m) if run <= m => self.out_of_order += 1,
            _ => self.max_run = Some(run),
        }
        self.all
            .fold_parts(status, metric, interrupted, full, self.direction);
        let scope = match self.branches.get_mut(branch) {
            Some(s) => s,
            None => self.branches.entry(branch.to_string()).or_default(),
        };
        scope.fold_parts(status, metric, interrupted, full, self.direction);
    }

    /// Set the `last` of the whole ledger, or of `branch`, from a line's bytes.
    pub(super) fn set_last(&mut self, branch: Option<&str>, bytes: &[u8], first: bool) {
        let rec = match parse_line(bytes, first) {
            Line::Record(r) => Some(*r),
            _ => None,
        };
        match branch {
            None => self.all.last = rec,
            Some(b) => {
                if let Some(scope) = self.branches.get_mut(b) {
                    scope.last = rec;
                }
            }
        }
    }

    /// Set each scope's `last` from the lines the fast fold remembered.
    fn finish_lasts(&mut self, lasts: Lasts) {
        if let Some((bytes, first)) = &lasts.all.kept {
            self.set_last(None, bytes, *first);
        }
        for (branch, last) in &lasts.branches {
            if let Some((bytes, first)) = &last.kept {
                self.set_last(Some(branch), bytes, *first);
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

    /// The run number the next append gets: the highest valid run + 1 (docs/CONTRACT.md §5).
    /// The highest, not the last: after a hand edit or a duplicated line, the last record's
    /// number may already be taken. `None` after `u64::MAX`: numbers never wrap to 0.
    pub fn next_run(&self) -> Option<u64> {
        match self.max_run {
            None => Some(0),
            Some(m) => m.checked_add(1),
        }
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

/// Folds the lines a `stream` hands out into a summary; `finish` when the stream ends.
pub(super) struct Folder<'s> {
    pub s: &'s mut Summary,
    lasts: Lasts,
}

impl<'s> Folder<'s> {
    pub fn new(s: &'s mut Summary) -> Folder<'s> {
        Folder {
            s,
            lasts: Lasts::default(),
        }
    }

    pub fn finish(self) {
        self.s.finish_lasts(self.lasts);
    }
}

impl Visit for Folder<'_> {
    fn line(&mut self, block: &[u8], range: Option<Range<usize>>, no: u64) -> bool {
        self.s.lines += 1;
        let Some(raw) = range else {
            self.s.bad(no);
            return true;
        };
        match parse_head(&block[raw.clone()], no == 1) {
            HeadLine::Blank => {}
            HeadLine::Head(h, bytes) => self.s.fold_head(&h, bytes, raw, no, &mut self.lasts),
            HeadLine::Bad => self.s.bad(no),
        }
        true
    }

    fn flush(&mut self, block: &[u8]) {
        self.lasts.all.flush(block);
        for (_, last) in &mut self.lasts.branches {
            last.flush(block);
        }
    }
}

/// The last line of each scope while folding: its place in the current block, copied out only
/// when the block is about to be reused (copying every line was a tenth of the fold).
#[derive(Default)]
struct Lasts {
    all: Last,
    branches: Vec<(String, Last)>,
    index: HashMap<String, usize>,
    /// The branch of the previous line: consecutive lines are nearly always on one branch.
    current: usize,
}

impl Lasts {
    /// The entry of the branch named `name` (valid UTF-8: the line was checked).
    fn branch(&mut self, name: &[u8]) -> (&str, &mut Last) {
        if self
            .branches
            .get(self.current)
            .is_none_or(|(b, _)| b.as_bytes() != name)
        {
            let name = String::from_utf8_lossy(name);
            self.current = match self.index.get(name.as_ref()) {
                Some(&i) => i,
                None => {
                    self.index.insert(name.to_string(), self.branches.len());
                    self.branches.push((name.into_owned(), Last::default()));
                    self.branches.len() - 1
                }
            };
        }
        let (name, last) = &mut self.branches[self.current];
        (name, last)
    }
}

/// The last line of a scope while streaming: where it is in the current block until the block
/// is reused, then a copy.
#[derive(Default)]
pub(super) struct Last {
    /// The line's range in the current block, and whether it is the file's first line.
    pending: Option<(Range<usize>, bool)>,
    /// Its bytes, and whether it is the file's first line.
    pub kept: Option<(Vec<u8>, bool)>,
}

impl Last {
    pub fn set(&mut self, range: Range<usize>, first: bool) {
        self.pending = Some((range, first));
    }

    pub fn flush(&mut self, block: &[u8]) {
        if let Some((range, first)) = self.pending.take() {
            let (bytes, was_first) = self.kept.get_or_insert_with(Default::default);
            bytes.clear();
            bytes.extend_from_slice(&block[range]);
            *was_first = first;
        }
    }
}
