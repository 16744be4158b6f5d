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
    #[serde(default)]
    pub recheck: u64,
    #[serde(default)]
    pub retraction: u64,
}

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        match s {
            Status::Baseline => self.baseline,
            Status::Kept => self.kept,
            Status::Discarded => self.discarded,
            Status::Crash => self.crash,
            Status::Timeout => self.timeout,
            Status::Recheck => self.recheck,
            Status::Retraction => self.retraction,
        }
    }
    pub fn bump(&mut self, s: Status) {
        match s {
            Status::Baseline => self.baseline += 1,
            Status::Kept => self.kept += 1,
            Status::Discarded => self.discarded += 1,
            Status::Crash => self.crash += 1,
            Status::Timeout => self.timeout += 1,
            Status::Recheck => self.recheck += 1,
            Status::Retraction => self.retraction += 1,
        }
    }
}

/// What the fold needs from one record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts<'a> {
    pub run: u64,
    pub status: Status,
    pub metric: Option<f64>,
    pub samples: &'a [f64],
    pub code: Option<&'a str>,
    pub setup: Option<&'a str>,
    /// The reason is `interrupted`: not a failed idea, so not part of a no-keep streak.
    pub interrupted: bool,
    /// Flagged `simplification`: kept for removing code while tying the best.
    pub simplified: bool,
    /// For a `retraction`: the run it takes back.
    pub retracts: Option<u64>,
}

impl<'a> Facts<'a> {
    pub fn of(rec: &'a Record) -> Facts<'a> {
        Facts {
            run: rec.run,
            status: rec.status,
            metric: rec.metric,
            samples: &rec.samples,
            code: rec.code.as_deref(),
            setup: rec.setup.as_deref(),
            interrupted: rec.reason.as_deref() == Some(INTERRUPTED),
            simplified: rec.flags.iter().any(|f| f == SIMPLIFICATION),
            retracts: rec.retracts,
        }
    }

    /// The evidence key: `<setup>/<code>`, or `#<run>` for a record that does not say what code
    /// it measured (its own samples are then all the evidence there is for it).
    fn key(&self) -> String {
        match self.code {
            Some(code) => evidence_key(self.setup, code),
            None => format!("#{}", self.run),
        }
    }
}

/// The key of a code's evidence in a scope.
pub fn evidence_key(setup: Option<&str>, code: &str) -> String {
    format!("{}/{code}", setup.unwrap_or(""))
}

/// Everything measured of one code under one setup in a scope, since its baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub setup: Option<String>,
    /// `None`: a record that does not say what code it measured.
    pub code: Option<String>,
    /// The latest samples (at most `SAMPLE_CAP`), oldest first.
    pub samples: Vec<f64>,
    /// Samples ever added (the list may hold fewer).
    pub count: u64,
    /// Runs that measured this code.
    pub runs: Vec<u64>,
    /// The latest baseline or kept record of this code: it can be the best.
    pub record: Option<Record>,
    /// Records in the scope up to and including `record`.
    pub at: u64,
    /// Records in the scope when evidence was last added (for dropping the oldest).
    pub seen: u64,
}

impl Evidence {
    /// The code's level: the median of its samples.
    pub fn level(&self) -> Option<f64> {
        (!self.samples.is_empty()).then(|| crate::noise::median(&self.samples))
    }

    fn add(&mut self, samples: &[f64], run: u64, seen: u64) {
        self.samples.extend_from_slice(samples);
        let over = self.samples.len().saturating_sub(SAMPLE_CAP);
        self.samples.drain(..over);
        self.count += samples.len() as u64;
        if self.runs.last() != Some(&run) {
            self.runs.push(run);
            let over = self.runs.len().saturating_sub(RUNS_CAP);
            self.runs.drain(..over);
        }
        self.seen = seen;
    }
}

/// A code's evidence keeps its latest this many samples, and run numbers.
const SAMPLE_CAP: usize = 256;
const RUNS_CAP: usize = 64;
/// Evidence of codes that cannot be the best (discarded, re-checked) is kept for the latest
/// this many codes, so a retried edit is recognized; past `2 ×` the oldest half is dropped.
const OTHER_CODES: usize = 64;

/// The usual step of `suspicious_jump` is the median of the latest this many gains.
const GAINS_CAP: usize = 64;

/// Retracted runs are remembered (for `log`) up to this many, the latest.
const RETRACTED_CAP: usize = 256;

/// Keeps whose level is among this many of the best candidates' are held in full, so a
/// re-check that demotes the best finds its successor.
const TOP: usize = 8;

/// The flag of a run kept for removing code while tying the best.
pub const SIMPLIFICATION: &str = "simplification";

/// The fold of one scope (the whole ledger, or one branch).
///
/// The baseline is the latest `baseline` record. Every record with a metric adds its samples
/// to the evidence of its code (`Evidence`); the best is the baseline or kept code since that
/// baseline with the best level (the median of all its samples), so a re-check that pulls a
/// lucky best back moves the best back too. A keep flagged `simplification` becomes the best
/// (it tied it, with less code). With no baseline at all, the best is the best kept code.
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
    /// Runs since the last kept or baseline run (re-checks and interrupted runs not counted).
    pub since_keep: u64,
    /// Gains of the kept runs since the baseline that improved the best, for `suspicious_jump`
    /// (the latest 64).
    pub kept_gains: Vec<f64>,
    /// What was measured of each code since the baseline, by `evidence_key`.
    #[serde(default)]
    pub evidence: BTreeMap<String, Evidence>,
    /// The key of the best's evidence.
    #[serde(default)]
    pub best_key: Option<String>,
    /// Runs taken back by a `retraction`, with its summary (the latest 256).
    #[serde(default)]
    pub retracted: BTreeMap<u64, String>,
    /// The first baseline of the current comparison: the earliest baseline since which every
    /// later one was measured with the same setup (a `harness_changed` baseline starts anew).
    #[serde(default)]
    pub origin: Option<Record>,
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
        self.fold_parts(&Facts::of(rec), &mut || Some(rec.clone()), direction);
    }

    /// The fold from a record's facts; `full` makes the whole record, and is only called for a
    /// baseline or a keep (rarely: most runs are neither).
    pub(super) fn fold_parts(
        &mut self,
        f: &Facts,
        full: &mut dyn FnMut() -> Option<Record>,
        direction: Direction,
    ) {
        self.total += 1;
        self.counts.bump(f.status);
        let one;
        let samples = match (f.samples.is_empty(), f.metric) {
            (false, Some(_)) => f.samples,
            (true, Some(m)) => {
                one = [m];
                &one[..]
            }
            (_, None) => &[],
        };
        match (f.status, f.metric) {
            (Status::Baseline, Some(_)) => {
                let Some(rec) = full() else { return };
                self.evidence.clear();
                let key = f.key();
                let total = self.total;
                let e = self.add_evidence(&key, f, samples);
                e.record = Some(rec.clone());
                e.at = total;
                if self.origin.as_ref().is_none_or(|o| o.setup != rec.setup) {
                    self.origin = Some(rec.clone());
                }
                self.set_best(key, rec);
                self.baseline = self.best.clone();
                self.baseline_at = self.total;
                self.kept_gains.clear();
                self.since_keep = 0;
            }
            (Status::Kept, Some(m)) => {
                self.since_keep = 0;
                if f.code.is_none() {
                    self.fold_legacy_keep(f, m, samples, full, direction);
                } else {
                    self.fold_keep(f, samples, full, direction);
                }
                self.trim(direction);
            }
            (Status::Retraction, _) => {
                if let Some(run) = f.retracts {
                    let why = full().map(|r| r.summary).unwrap_or_default();
                    self.retract(run, why, direction);
                }
            }
            (Status::Recheck, Some(_)) => {
                let key = f.key();
                self.add_evidence(&key, f, samples);
                self.rejudge(&key, direction);
                self.trim_others();
            }
            (status, metric) => {
                if metric.is_some() && (f.code.is_some() || samples.len() > 1) {
                    let key = f.key();
                    self.add_evidence(&key, f, samples);
                    self.trim_others();
                }
                // Stopped by Ctrl-C or SIGTERM, or re-measuring code: not an idea that failed.
                if !(f.interrupted || status == Status::Recheck) {
                    self.since_keep += 1;
                }
            }
        }
    }

    /// A keep of code measured before (`code` set): its samples join its evidence; it is held
    /// in full (so it can be the best, now or after a re-check) when it is the best or close
    /// to it: among the `TOP` best levels of the candidates.
    fn fold_keep(
        &mut self,
        f: &Facts,
        samples: &[f64],
        full: &mut dyn FnMut() -> Option<Record>,
        direction: Direction,
    ) {
        let key = f.key();
        let total = self.total;
        let best = self.best_level();
        let Some(level) = self.add_evidence(&key, f, samples).level() else {
            return;
        };
        // Another keep of the best's own code (a `record` of the same commit): more evidence,
        // and the best stays the run it was (a tie does not become the best).
        if self.best_key.as_deref() == Some(key.as_str()) {
            return;
        }
        let better = best.is_none_or(|b| f.simplified || direction.better(level, b));
        let ahead = self
            .evidence
            .iter()
            .filter(|(k, e)| {
                k.as_str() != key
                    && e.record.is_some()
                    && e.level().is_some_and(|l| direction.better(l, level))
            })
            .count();
        if !(better || ahead < TOP) {
            return;
        }
        let Some(rec) = full() else { return };
        if let Some(e) = self.evidence.get_mut(&key) {
            e.record = Some(rec.clone());
            e.at = total;
        }
        if better {
            if let Some(b) = best.filter(|b| direction.better(level, *b)) {
                self.push_gain(direction.gain(level, b));
            }
            self.set_best(key, rec);
        }
    }

    /// A keep of a record that does not say what code it measured (hand-made, or an older
    /// version's): nothing can be added to its evidence later, so it only matters when it
    /// beats the best as it is folded, as before evidence existed.
    fn fold_legacy_keep(
        &mut self,
        f: &Facts,
        metric: f64,
        samples: &[f64],
        full: &mut dyn FnMut() -> Option<Record>,
        direction: Direction,
    ) {
        let best = self.best_level();
        if !best.is_none_or(|b| f.simplified || direction.better(metric, b)) {
            if samples.len() > 1 {
                // Still evidence of the noise.
                self.add_evidence(&f.key(), f, samples);
            }
            return;
        }
        let Some(rec) = full() else { return };
        let key = f.key();
        let total = self.total;
        let e = self.add_evidence(&key, f, samples);
        e.record = Some(rec.clone());
        e.at = total;
        if let Some(b) = best.filter(|b| direction.better(metric, *b)) {
            self.push_gain(direction.gain(metric, b));
        }
        self.set_best(key, rec);
    }

    /// A keep's gain over the best it beat; the latest `GAINS_CAP` are the usual step.
    fn push_gain(&mut self, gain: f64) {
        self.kept_gains.push(gain);
        let over = self.kept_gains.len().saturating_sub(GAINS_CAP);
        self.kept_gains.drain(..over);
    }

    fn add_evidence(&mut self, key: &str, f: &Facts, samples: &[f64]) -> &mut Evidence {
        let seen = self.total;
        let e = self
            .evidence
            .entry(key.to_string())
            .or_insert_with(|| Evidence {
                setup: f.setup.map(str::to_string),
                code: f.code.map(str::to_string),
                ..Evidence::default()
            });
        e.add(samples, f.run, seen);
        e
    }

    fn set_best(&mut self, key: String, rec: Record) {
        self.best_at = self.evidence.get(&key).map_or(self.total, |e| e.at);
        self.best = Some(rec);
        self.best_key = Some(key);
    }

    /// Take back the keep `run`: it is no longer a candidate, and when it was the best the
    /// best goes to the next candidate by level (at worst the baseline).
    fn retract(&mut self, run: u64, why: String, direction: Direction) {
        self.retracted.insert(run, why);
        while self.retracted.len() > RETRACTED_CAP {
            self.retracted.pop_first();
        }
        let held = self
            .evidence
            .iter()
            .find(|(_, e)| e.record.as_ref().is_some_and(|r| r.run == run))
            .map(|(k, _)| k.clone());
        if let Some(k) = &held
            && let Some(e) = self.evidence.get_mut(k)
        {
            e.record = None;
        }
        if self.best.as_ref().is_some_and(|b| b.run == run) {
            match self.best_candidate(direction) {
                Some((k, Some(rec))) => self.set_best(k, rec),
                _ => {
                    self.best = self.baseline.clone();
                    self.best_key = None;
                    self.best_at = self.baseline_at;
                }
            }
        }
    }

    /// After new samples of `key`'s code: the best may have changed hands.
    fn rejudge(&mut self, key: &str, direction: Direction) {
        let Some(best) = self.best_level() else {
            return;
        };
        if self.best_key.as_deref() == Some(key) {
            // The best re-measured: it stays only while no other candidate is better.
            if let Some((k, rec)) = self.best_candidate(direction)
                && k != key
                && let Some(rec) = rec
            {
                self.set_best(k, rec);
            }
            return;
        }
        let Some(e) = self.evidence.get(key) else {
            return;
        };
        if let (Some(rec), Some(level)) = (&e.record, e.level())
            && direction.better(level, best)
        {
            let rec = rec.clone();
            self.set_best(key.to_string(), rec);
        }
    }

    /// The candidate (a baseline or kept code) with the best level; ties go to the current
    /// best, then to the earlier candidate.
    fn best_candidate(&self, direction: Direction) -> Option<(String, Option<Record>)> {
        let mut out: Option<(&String, &Evidence, f64)> = None;
        for (k, e) in &self.evidence {
            let (Some(_), Some(l)) = (&e.record, e.level()) else {
                continue;
            };
            let better = match &out {
                None => true,
                Some((bk, be, bl)) => {
                    direction.better(l, *bl)
                        || (l == *bl
                            && self.best_key.as_deref() != Some(bk.as_str())
                            && (self.best_key.as_deref() == Some(k.as_str()) || e.at < be.at))
                }
            };
            if better {
                out = Some((k, e, l));
            }
        }
        out.map(|(k, e, _)| (k.clone(), e.record.clone()))
    }

    /// Keep the evidence bounded (it is cached in `summary.json`): past twice the limit, the
    /// oldest other codes go; past `TOP + 2` candidates held in full, the ones with the worst
    /// levels (never the best or the baseline) are no longer held: they stay as evidence, and
    /// one that does not say what code it measured, with a single sample, goes.
    fn trim(&mut self, direction: Direction) {
        // Counting is a walk over the evidence: only after a keep (the only thing that adds a
        // candidate held in full), and only when it could be over a bound.
        if self.evidence.len() > TOP + 2 {
            let held = self
                .evidence
                .values()
                .filter(|e| e.record.is_some())
                .count();
            if held > TOP + 2 {
                self.release_worst(held - TOP, direction);
            }
        }
        self.trim_others();
    }

    /// The other codes past twice their bound: the oldest go.
    fn trim_others(&mut self) {
        if self.evidence.len() <= 2 * OTHER_CODES {
            return;
        }
        let others = self
            .evidence
            .values()
            .filter(|e| e.record.is_none())
            .count();
        if others > 2 * OTHER_CODES {
            self.drop_oldest(others - OTHER_CODES);
        }
    }

    fn release_worst(&mut self, n: usize, direction: Direction) {
        let baseline = self.baseline.as_ref().map(|b| b.run);
        let mut held: Vec<(f64, String)> = self
            .evidence
            .iter()
            .filter(|(k, e)| {
                e.record.is_some()
                    && self.best_key.as_ref() != Some(*k)
                    && e.record.as_ref().map(|r| r.run) != baseline
            })
            .filter_map(|(k, e)| e.level().map(|l| (l, k.clone())))
            .collect();
        // Worst first.
        held.sort_by(|a, b| {
            if direction.better(a.0, b.0) {
                std::cmp::Ordering::Greater
            } else if direction.better(b.0, a.0) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Equal
            }
        });
        for (_, k) in held.into_iter().take(n) {
            let Some(e) = self.evidence.get_mut(&k) else {
                continue;
            };
            e.record = None;
            if e.code.is_none() && e.samples.len() < 2 {
                self.evidence.remove(&k);
            }
        }
    }

    fn drop_oldest(&mut self, n: usize) {
        let mut ages: Vec<(u64, String)> = self
            .evidence
            .iter()
            .filter(|(_, e)| e.record.is_none())
            .map(|(k, e)| (e.seen, k.clone()))
            .collect();
        ages.sort_unstable();
        for (_, k) in ages.into_iter().take(n) {
            self.evidence.remove(&k);
        }
    }

    /// The best's evidence.
    pub fn best_evidence(&self) -> Option<&Evidence> {
        self.best_key.as_ref().and_then(|k| self.evidence.get(k))
    }

    /// The best's level: the median of every sample of its code (its recorded metric when
    /// nothing else is known).
    pub fn best_level(&self) -> Option<f64> {
        self.best_evidence()
            .and_then(Evidence::level)
            .or_else(|| self.best_metric())
    }

    /// The evidence of a code under a setup, if it was measured since the baseline.
    pub fn evidence_of(&self, setup: Option<&str>, code: &str) -> Option<&Evidence> {
        self.evidence.get(&evidence_key(setup, code))
    }

    /// The noise under one setup: pooled over its codes measured two or more times.
    pub fn noise(&self, setup: Option<&str>) -> Option<crate::noise::Noise> {
        self.noise_with(setup, None, &[])
    }

    /// The noise under one setup with `extra` samples (not yet recorded) joined to the
    /// evidence of `key`, or forming a group of their own when `key` has none.
    pub fn noise_with(
        &self,
        setup: Option<&str>,
        key: Option<&str>,
        extra: &[f64],
    ) -> Option<crate::noise::Noise> {
        let mut joined: Option<Vec<f64>> = None;
        let mut groups: Vec<&[f64]> = Vec::new();
        for (k, e) in &self.evidence {
            if e.setup.as_deref() != setup {
                continue;
            }
            if Some(k.as_str()) == key {
                joined = Some([e.samples.as_slice(), extra].concat());
            } else {
                groups.push(&e.samples);
            }
        }
        let joined = joined.unwrap_or_else(|| extra.to_vec());
        groups.push(&joined);
        crate::noise::estimate(groups)
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
    /// The highest logical clock of any record (`Record::clock`; 0 before any): a new record
    /// of a syncing clone gets the next one.
    #[serde(default)]
    pub clock: u64,
    pub all: Scope,
    pub branches: BTreeMap<String, Scope>,
    /// Set by the reader, not cached: a torn last line is present.
    #[serde(skip)]
    pub torn_tail: Option<u64>,
}

impl Summary {
    /// The fold of an empty ledger.
    pub fn empty(direction: Direction, default_branch: &str) -> Summary {
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
            clock: 0,
            all: Scope::default(),
            branches: BTreeMap::new(),
            torn_tail: None,
        }
    }

    /// The fold of one parsed record, appended after what was folded: the reference the fast
    /// fold is tested against, and how `watch` follows a ledger as it grows.
    pub fn fold(&mut self, rec: Record) {
        self.valid += 1;
        self.clock = self.clock.max(rec.clock.unwrap_or(0));
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
        let facts = Facts {
            run: h.run,
            status: h.status,
            metric: h.metric,
            samples: &h.samples,
            code: h.code.as_deref(),
            setup: h.setup.as_deref(),
            interrupted: h.interrupted,
            simplified: h.simplified,
            retracts: h.retracts,
        };
        self.fold_fields(&facts, branch, &mut full);
        self.clock = self.clock.max(h.clock.unwrap_or(0));
        let first = no == 1;
        last.set(raw.clone(), first);
        lasts.all.set(raw, first);
    }

    /// The fold of one record from the facts it needs; `full` makes the whole record, and is
    /// only called for a baseline or a keep.
    pub(super) fn fold_fields(
        &mut self,
        f: &Facts,
        branch: &str,
        full: &mut dyn FnMut() -> Option<Record>,
    ) {
        self.valid += 1;
        match self.max_run {
            Some(m) if f.run <= m => self.out_of_order += 1,
            _ => self.max_run = Some(f.run),
        }
        self.all.fold_parts(f, full, self.direction);
        let scope = match self.branches.get_mut(branch) {
            Some(s) => s,
            None => self.branches.entry(branch.to_string()).or_default(),
        };
        scope.fold_parts(f, full, self.direction);
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

#[cfg(test)]
mod evidence_tests {
    use super::*;

    /// A run record of `code` with these samples (one sample: only the metric).
    fn rec(run: u64, status: Status, code: &str, samples: &[f64]) -> Record {
        let mut r = Record::blank(run, status, Some(crate::noise::median(samples)));
        if samples.len() > 1 {
            r.samples = samples.to_vec();
        }
        r.code = Some(code.to_string());
        r.setup = Some("s".to_string());
        r
    }

    fn fold(records: &[Record]) -> Scope {
        let mut s = Scope::default();
        for r in records {
            s.fold_owned(r.clone(), Direction::Lower);
        }
        s
    }

    #[test]
    fn a_lucky_best_is_pulled_back_by_rechecks_and_hands_the_best_back() {
        let mut records = vec![
            rec(0, Status::Baseline, "a", &[1.00, 1.02, 0.98]),
            rec(1, Status::Kept, "b", &[0.85, 0.86]),
            // A lucky draw of code c (truly ~0.88, worse than b).
            rec(2, Status::Kept, "c", &[0.78, 0.79]),
        ];
        let s = fold(&records);
        assert_eq!(s.best.as_ref().map(|b| b.run), Some(2));
        records.push(rec(3, Status::Recheck, "c", &[0.88, 0.89, 0.87]));
        records.push(rec(4, Status::Recheck, "c", &[0.88, 0.90, 0.89]));
        let s = fold(&records);
        assert_eq!(
            s.best.as_ref().map(|b| b.run),
            Some(1),
            "b is the best again"
        );
        assert_eq!(s.best_level(), Some(0.855));
        let c = s.evidence_of(Some("s"), "c").unwrap();
        assert_eq!((c.count, c.runs.clone()), (8, vec![2, 3, 4]));
        assert_eq!(c.level(), Some(0.88));
        // Re-checks are not failed ideas, and are counted on their own.
        assert_eq!((s.since_keep, s.counts.recheck), (0, 2));
        // The noise comes from every code measured twice or more; the two lucky draws of c
        // are far outside the usual spread and set aside.
        let n = s.noise(Some("s")).unwrap();
        assert_eq!((n.groups, n.samples, n.df), (3, 11, 8));
    }

    #[test]
    fn a_recheck_that_confirms_a_candidate_can_make_it_the_best() {
        let s = fold(&[
            rec(0, Status::Baseline, "a", &[1.0, 1.0, 1.0]),
            rec(1, Status::Kept, "b", &[0.90, 0.91]),
            rec(2, Status::Kept, "c", &[0.89, 0.90]),
            rec(3, Status::Recheck, "c", &[0.95, 0.96, 0.97]),
        ]);
        assert_eq!(s.best.as_ref().map(|b| b.run), Some(1));
        let s2 = {
            let mut s = s.clone();
            s.fold_owned(
                rec(4, Status::Recheck, "b", &[0.99, 0.99, 0.99, 0.99]),
                Direction::Lower,
            );
            s
        };
        // b now measures 0.99 over 6 samples; c 0.95 over 5: c is the best.
        assert_eq!(s2.best.as_ref().map(|b| b.run), Some(2));
        assert_eq!(
            s2.best_at, 3,
            "records to the best's record, not to the re-check"
        );
    }

    #[test]
    fn a_simplification_becomes_the_best_and_a_baseline_starts_over() {
        let mut simple = rec(2, Status::Kept, "c", &[0.905, 0.91]);
        simple.flags = vec![SIMPLIFICATION.to_string()];
        let s = fold(&[
            rec(0, Status::Baseline, "a", &[1.0, 1.0, 1.0]),
            rec(1, Status::Kept, "b", &[0.90, 0.90]),
            simple,
        ]);
        assert_eq!(s.best.as_ref().map(|b| b.run), Some(2));
        assert_eq!(s.kept_gains, vec![0.09999999999999998], "a tie is no gain");
        let s = fold(&[
            rec(0, Status::Baseline, "a", &[1.0, 1.0, 1.0]),
            rec(1, Status::Discarded, "x", &[1.1]),
            rec(2, Status::Baseline, "a", &[2.0, 2.0, 2.0]),
        ]);
        assert_eq!(s.evidence.len(), 1, "a baseline starts a new comparison");
        assert_eq!(s.best_level(), Some(2.0));
    }

    #[test]
    fn evidence_stays_bounded_and_keeps_the_best_and_the_baseline() {
        let mut records = vec![rec(0, Status::Baseline, "base", &[5.0, 5.0, 5.0])];
        records.push(rec(1, Status::Kept, "best", &[1.0, 1.0]));
        for i in 2..3000u64 {
            let status = if i % 7 == 0 {
                Status::Kept
            } else {
                Status::Discarded
            };
            records.push(rec(i, status, &format!("c{i}"), &[2.0 + i as f64]));
        }
        let s = fold(&records);
        let candidates = s.evidence.values().filter(|e| e.record.is_some()).count();
        let others = s.evidence.len() - candidates;
        assert!(candidates <= TOP + 2, "{candidates}");
        assert!(others <= 2 * OTHER_CODES, "{others}");
        assert_eq!(s.best.as_ref().map(|b| b.run), Some(1));
        assert!(s.evidence_of(Some("s"), "base").is_some());
        assert!(
            s.evidence_of(Some("s"), "c2999").is_some(),
            "the latest code is known"
        );
        // Keeps that each beat the best: the usual step is judged on the latest 64 gains.
        let mut falling = vec![rec(0, Status::Baseline, "base", &[5000.0; 3])];
        falling.extend(
            (1..200u64).map(|i| rec(i, Status::Kept, &format!("k{i}"), &[5000.0 - i as f64])),
        );
        assert_eq!(fold(&falling).kept_gains.len(), 64);
    }

    #[test]
    fn another_keep_of_the_best_code_adds_evidence_and_the_best_stays_put() {
        let s = fold(&[
            rec(0, Status::Baseline, "a", &[1.0, 1.0, 1.0]),
            rec(1, Status::Kept, "b", &[0.9, 0.9]),
            rec(2, Status::Kept, "b", &[0.7, 0.7]),
        ]);
        assert_eq!(s.best.as_ref().map(|b| b.run), Some(1));
        assert_eq!(s.best_evidence().map(|e| e.count), Some(4));
        assert_eq!(s.kept_gains.len(), 1, "no gain over itself");
    }

    #[test]
    fn records_without_a_code_stand_alone() {
        let mut old = Record::blank(1, Status::Kept, Some(0.5));
        old.samples = vec![0.4, 0.5, 0.6];
        let s = fold(&[Record::blank(0, Status::Baseline, Some(1.0)), old]);
        assert_eq!(s.best.as_ref().map(|b| b.run), Some(1));
        let n = s.noise(None).unwrap();
        assert_eq!((n.groups, n.samples), (1, 3));
    }
}
