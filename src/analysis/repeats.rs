//! The detectors that compare what was tried: `exact_repeat` (the same code again),
//! `near_duplicate` (similar summaries, or the same changed lines), the diff half of
//! `reversal` (a keep that undoes an earlier keep's change) and `seed_only_keep`.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::diff::Change;
use super::words::jaccard_at_least;
use super::{Pattern, PatternKind, View, is_experiment, quote, replays};
use crate::ledger::{INTERRUPTED, Status};

/// Similar summaries are looked for among the latest this many experiments.
pub const NEAR_WINDOW: usize = 2_000;
/// Two summaries are similar when the Jaccard similarity of their significant-word sets is at
/// least `NEAR_NUM / NEAR_DEN` (0.7)...
pub const NEAR_NUM: usize = 7;
pub const NEAR_DEN: usize = 10;
/// ...and each has at least this many significant words (one shared word is not an idea).
pub const NEAR_MIN_WORDS: usize = 2;

/// Records that evaluated the same `code` (byte-identical targets) where a later one is a new
/// experiment: an idea retried verbatim. Re-checks measure code on purpose and are left out;
/// a return to an earlier kept state is a `reversal`, not a retry; a fork's start and
/// `merge-best`'s records replay code by design. The setup is not part of the key: the same
/// edit under a changed harness is still the same edit.
pub(super) fn exact(view: &View, reversals: &HashSet<usize>, out: &mut Vec<Pattern>) {
    let records = view.records;
    // The first evaluation of each code, and the later ones (allocated only on a repeat).
    let mut by_code: HashMap<&str, (usize, Vec<usize>)> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if matches!(r.status, Status::Recheck | Status::Retraction)
            || r.reason.as_deref() == Some(INTERRUPTED)
        {
            continue;
        }
        let Some(code) = r.code.as_deref() else {
            continue;
        };
        by_code
            .entry(code)
            .and_modify(|(_, later)| later.push(i))
            .or_insert((i, Vec::new()));
    }
    let mut groups: Vec<(usize, Vec<usize>)> = by_code
        .into_values()
        .filter(|(_, later)| {
            later.iter().any(|i| {
                let r = &records[*i];
                is_experiment(r) && !replays(r) && !reversals.contains(i)
            })
        })
        .collect();
    groups.sort_unstable_by_key(|(first, _)| *first);
    for (first, later) in groups {
        let f = &records[first];
        let again: Vec<u64> = later.iter().map(|i| records[*i].run).collect();
        let kept = std::iter::once(first)
            .chain(later.iter().copied())
            .filter(|i| records[*i].status == Status::Kept)
            .count();
        let mut runs = vec![f.run];
        runs.extend(&again);
        let title = format!(
            "The same target content evaluated {} times ({})",
            runs.len(),
            view.run_list(&runs)
        );
        let what = if f.summary.trim().is_empty() {
            String::new()
        } else {
            format!(", {}", quote(&f.summary, 60))
        };
        let detail = format!(
            "Code {}: first as {} ({}{what}), again as {}; {} of them kept.",
            f.code.as_deref().unwrap_or(""),
            view.run(f.run),
            f.status.as_str(),
            view.run_list(&again),
            kept
        );
        out.push(Pattern::new(PatternKind::ExactRepeat, title, detail, runs));
    }
}

/// Union-find over experiment positions.
struct Groups {
    parent: Vec<u32>,
}

impl Groups {
    fn new(n: usize) -> Groups {
        Groups {
            parent: (0..n as u32).collect(),
        }
    }

    fn root(&mut self, mut x: usize) -> usize {
        while self.parent[x] as usize != x {
            let up = self.parent[self.parent[x] as usize];
            self.parent[x] = up;
            x = up as usize;
        }
        x
    }

    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            // The earlier one is the root, so a group's root is its first experiment.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo as u32;
        }
    }
}

/// Experiments with similar summaries (among the latest `NEAR_WINDOW`) or the same changed
/// lines (among the diffs read), grouped transitively. A group whose runs all evaluated one
/// code is an `exact_repeat` and left out here.
///
/// Similar summaries are found without comparing every pair: each word set is sorted rarest
/// word first, and two sets with Jaccard ≥ t must share a word among the first
/// `len − ⌈t·len⌉ + 1` of each (prefix filtering); only those pairs are compared.
pub(super) fn near(
    view: &View,
    summaries: &[Vec<(u32, u32)>],
    diffs: &BTreeMap<usize, Change>,
    out: &mut Vec<Pattern>,
) {
    let mut groups = Groups::new(view.experiments.len());
    let linked_words = link_summaries(summaries, &mut groups);
    let linked_diffs = link_diffs(view, diffs, &mut groups);
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for pos in linked_words.iter().chain(&linked_diffs) {
        let root = groups.root(*pos);
        members.entry(root).or_default().push(*pos);
    }
    for (_, mut list) in members {
        list.sort_unstable();
        list.dedup();
        if list.len() >= 2 {
            let by_words = list.iter().any(|p| linked_words.contains(p));
            let by_diffs = list.iter().any(|p| linked_diffs.contains(p));
            out.extend(near_pattern(view, &list, by_words, by_diffs));
        }
    }
}

/// Join the recent experiments whose summaries have the same or similar significant words;
/// returns the positions joined.
fn link_summaries(summaries: &[Vec<(u32, u32)>], groups: &mut Groups) -> HashSet<usize> {
    let mut linked = HashSet::new();
    // Identical word sets first: one representative each.
    let start = summaries.len().saturating_sub(NEAR_WINDOW);
    let mut distinct: Vec<(usize, Vec<u32>)> = Vec::new();
    let mut seen: HashMap<Vec<u32>, usize> = HashMap::new();
    for (pos, words) in summaries.iter().enumerate().skip(start) {
        let mut set: Vec<u32> = words.iter().map(|(id, _)| *id).collect();
        set.sort_unstable();
        set.dedup();
        if set.len() < NEAR_MIN_WORDS {
            continue;
        }
        match seen.get(&set) {
            Some(&rep) => {
                groups.join(rep, pos);
                linked.insert(rep);
                linked.insert(pos);
            }
            None => {
                seen.insert(set.clone(), pos);
                distinct.push((pos, set));
            }
        }
    }
    similar_sets(&distinct, groups, &mut linked);
    linked
}

/// Join the experiments whose diffs change the same lines; returns the positions joined.
fn link_diffs(view: &View, diffs: &BTreeMap<usize, Change>, groups: &mut Groups) -> HashSet<usize> {
    let mut linked = HashSet::new();
    let mut by_change: BTreeMap<(&[String], &[String]), usize> = BTreeMap::new();
    for (i, change) in diffs {
        let Ok(pos) = view.experiments.binary_search(i) else {
            continue;
        };
        let key = (change.added.as_slice(), change.removed.as_slice());
        match by_change.get(&key) {
            Some(&other) => {
                groups.join(other, pos);
                linked.insert(other);
                linked.insert(pos);
            }
            None => {
                by_change.insert(key, pos);
            }
        }
    }
    linked
}

/// The pattern of one group of similar experiments (positions `list`, sorted), unless they all
/// measured one code (that is an exact repeat, reported elsewhere).
fn near_pattern(view: &View, list: &[usize], by_words: bool, by_diffs: bool) -> Option<Pattern> {
    let recs: Vec<_> = list
        .iter()
        .map(|p| &view.records[view.experiments[*p]])
        .collect();
    if recs[0].code.is_some() && recs.iter().all(|r| r.code == recs[0].code) {
        return None;
    }
    let runs: Vec<u64> = recs.iter().map(|r| r.run).collect();
    let kept = recs.iter().filter(|r| view.is_keep(r)).count();
    let how = match (by_words, by_diffs) {
        (true, true) => {
            "Their summaries share at least 70% of their significant words, or their diffs change the same lines"
        }
        (true, false) => "Their summaries share at least 70% of their significant words",
        _ => "Their diffs change the same lines",
    };
    Some(Pattern::new(
        PatternKind::NearDuplicate,
        format!(
            "{} similar experiments: {} ({})",
            runs.len(),
            quote(&recs[0].summary, 60),
            view.run_list(&runs)
        ),
        format!("{how}; {kept} of them kept."),
        runs,
    ))
}

/// Join the distinct word sets (position, sorted ids) whose Jaccard similarity is at least
/// 0.7, through prefix filtering on the rarest words.
fn similar_sets(distinct: &[(usize, Vec<u32>)], groups: &mut Groups, linked: &mut HashSet<usize>) {
    let mut df: HashMap<u32, u32> = HashMap::new();
    for (_, set) in distinct {
        for id in set {
            *df.entry(*id).or_default() += 1;
        }
    }
    let mut index: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut marked = vec![usize::MAX; distinct.len()];
    for (k, (pos, set)) in distinct.iter().enumerate() {
        let mut rare = set.clone();
        rare.sort_unstable_by_key(|id| (df.get(id).copied().unwrap_or(0), *id));
        let need = (NEAR_NUM * set.len()).div_ceil(NEAR_DEN);
        let prefix = &rare[..set.len() - need + 1];
        for id in prefix {
            let Some(cands) = index.get(id) else {
                continue;
            };
            for &c in cands {
                if marked[c] == k {
                    continue;
                }
                marked[c] = k;
                let (other_pos, other) = &distinct[c];
                let (small, large) = (set.len().min(other.len()), set.len().max(other.len()));
                if small * NEAR_DEN >= large * NEAR_NUM
                    && jaccard_at_least(set, other, NEAR_NUM, NEAR_DEN)
                {
                    groups.join(*other_pos, *pos);
                    linked.insert(*other_pos);
                    linked.insert(*pos);
                }
            }
        }
        for id in prefix {
            index.entry(*id).or_default().push(k);
        }
    }
}

/// A keep whose diff is the inverse of an earlier keep's (it removes the lines that one added
/// and adds back the ones it removed): a change and its undo, with other keeps in between (a
/// direct undo is found by its code, in `progress`, and not repeated here).
pub(super) fn undone(
    view: &View,
    diffs: &BTreeMap<usize, Change>,
    reversals: &HashSet<usize>,
    out: &mut Vec<Pattern>,
) {
    let mut kept: HashMap<(&[String], &[String]), u64> = HashMap::new();
    for (i, change) in diffs {
        let r = &view.records[*i];
        if r.status != Status::Kept {
            continue;
        }
        let inverse = (change.removed.as_slice(), change.added.as_slice());
        if let Some(&earlier) = kept.get(&inverse)
            && !reversals.contains(i)
        {
            out.push(Pattern::new(
                PatternKind::Reversal,
                format!(
                    "{}'s change undoes {}'s",
                    view.run(r.run),
                    view.run(earlier)
                ),
                format!(
                    "{} (kept) removes the lines {} (kept) added and adds back the ones it removed.",
                    view.run(r.run),
                    view.run(earlier)
                ),
                vec![earlier, r.run],
            ));
        }
        kept.entry((change.added.as_slice(), change.removed.as_slice()))
            .or_insert(r.run);
    }
}

/// Keeps whose diff changes only lines that mention a random seed: the gain came from another
/// draw of the noise, not from the method.
pub(super) fn seed_only(view: &View, diffs: &BTreeMap<usize, Change>, out: &mut Vec<Pattern>) {
    let hits: Vec<(u64, &Change)> = diffs
        .iter()
        .filter(|(i, c)| view.records[**i].status == Status::Kept && c.seed_only)
        .map(|(i, c)| (view.records[*i].run, c))
        .collect();
    let Some((first, change)) = hits.first() else {
        return;
    };
    let example = change
        .added
        .first()
        .map(|l| format!("+{}", line_of(l)))
        .or_else(|| change.removed.first().map(|l| format!("-{}", line_of(l))))
        .unwrap_or_default();
    let runs: Vec<u64> = hits.iter().map(|(r, _)| *r).collect();
    out.push(Pattern::new(
        PatternKind::SeedOnlyKeep,
        format!(
            "{} changed only lines that set a random seed ({})",
            crate::text::count(runs.len(), "keep", "keeps"),
            view.run_list(&runs)
        ),
        format!(
            "Every line their diffs add or remove mentions a seed or a random generator; {}: `{example}`.",
            view.run(*first)
        ),
        runs,
    ));
}

/// The line of a `path` NUL `line` entry.
fn line_of(entry: &str) -> &str {
    entry.split_once('\0').map_or(entry, |(_, l)| l)
}
