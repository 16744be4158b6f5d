//! Ideas as families (`families`, `dead_family`) and the ideas `program.md` lists that no
//! summary mentions (`untried_idea`).
//!
//! A summary's family is, first, the family of a known term it contains (the usual knobs of a
//! training script: learning rate, batch size, warmup, dropout, optimizer...), the earliest
//! one, or the last of adjacent ones ("attention dropout" is about dropout, "layer norm" about
//! normalization, as the head of an English compound comes last). A summary with no known
//! term falls back on its most frequent significant word or pair of words among the other
//! such summaries (a pair wins a tie: it is the more specific), and on its first word when
//! none is shared.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::words::{Vocab, each_word};
use super::{Pattern, PatternKind, View, cap_runs, quote};
use crate::ledger::Status;

/// At most this many families are returned, the most tried first.
pub const FAMILIES_CAP: usize = 50;
/// A family tried this many times and never kept is a `dead_family`.
pub const DEAD_FAMILY_TRIES: usize = 5;
/// At most this many ideas of `program.md` are checked.
pub const IDEAS_CAP: usize = 100;

/// The known families, each with the words (or two-word phrases) that name it, singular and
/// lowercase as `words` makes them.
const KNOWN: &[(&str, &[&str])] = &[
    ("learning rate", &["learning rate"]),
    ("weight decay", &["weight decay"]),
    ("batch size", &["batch size", "batch"]),
    ("warmup", &["warmup", "warm"]),
    ("dropout", &["dropout"]),
    (
        "optimizer",
        &[
            "optimizer",
            "optimiser",
            "adam",
            "adamw",
            "sgd",
            "muon",
            "lion",
            "momentum",
        ],
    ),
    (
        "schedule",
        &["schedule", "scheduler", "cosine", "annealing", "decay"],
    ),
    ("attention", &["attention", "attn", "head"]),
    ("depth", &["layer", "depth"]),
    ("width", &["width", "hidden", "dim", "dims", "embd"]),
    ("embedding", &["embedding", "embed"]),
    (
        "activation",
        &["activation", "relu", "gelu", "silu", "swiglu", "tanh"],
    ),
    (
        "normalization",
        &[
            "norm",
            "layernorm",
            "rmsnorm",
            "batchnorm",
            "normalization",
            "normalisation",
        ],
    ),
    (
        "initialization",
        &["init", "initialization", "initialisation", "initializer"],
    ),
    ("gradient clipping", &["clip", "clipping"]),
    ("precision", &["precision", "bfloat16", "float16"]),
    ("sequence length", &["sequence length", "context", "seq"]),
    ("seed", &["seed"]),
    ("loss", &["loss"]),
    (
        "data",
        &["data", "dataset", "augmentation", "augment", "shuffle"],
    ),
    ("tokenizer", &["tokenizer", "vocab"]),
];

/// A family of ideas: experiments whose summaries are about the same thing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Family {
    /// The term that names it: a known family ("learning rate") or a word or pair of words.
    pub name: String,
    /// Experiments in it.
    pub tries: usize,
    /// Kept (and not retracted since).
    pub kept: usize,
    /// Crashed or timed out.
    pub failed: usize,
    /// `kept / tries`.
    pub keep_rate: f64,
    /// Its runs, ascending; at most `RUNS_CAP` (the first and the last halves).
    pub runs: Vec<u64>,
    pub first_run: u64,
    pub last_run: u64,
    /// `runs` as the human views name them, when one of them is another worker's (as
    /// `Pattern::labels`); omitted otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Family {
    /// `runs` as the human views name them: `#3`, or `#17@gpu-03` for another worker's.
    pub fn run_names(&self) -> Vec<String> {
        if self.labels.is_empty() {
            self.runs.iter().map(|r| format!("#{r}")).collect()
        } else {
            self.labels.clone()
        }
    }
}

/// A phrase of one or two word ids.
type Phrase = (u32, Option<u32>);

/// Group the experiments' summaries into families (most tried first, then by name), and add a
/// `dead_family` pattern for each one tried `DEAD_FAMILY_TRIES` times or more and never kept.
/// `summaries` holds the significant words of each experiment, as `view.experiments`.
pub(super) fn families(
    view: &View,
    vocab: &Vocab,
    summaries: &[Vec<(u32, u32)>],
    out: &mut Vec<Pattern>,
) -> Vec<Family> {
    let known = known_phrases(vocab);
    let mut names: Vec<Option<String>> = summaries
        .iter()
        .map(|words| known_family(words, &known).map(|k| KNOWN[k].0.to_string()))
        .collect();

    name_the_rest(vocab, summaries, &mut names);

    let mut acc: BTreeMap<String, (usize, usize, Vec<u64>)> = BTreeMap::new();
    for (pos, name) in names.into_iter().enumerate() {
        let Some(name) = name else { continue };
        let r = &view.records[view.experiments[pos]];
        let e = acc.entry(name).or_default();
        e.0 += usize::from(view.is_keep(r));
        e.1 += usize::from(matches!(r.status, Status::Crash | Status::Timeout));
        e.2.push(r.run);
    }
    let mut list: Vec<(Family, Vec<u64>)> = acc
        .into_iter()
        .map(|(name, (kept, failed, all))| {
            let (runs, tries) = cap_runs(all.clone());
            let family = Family {
                name,
                tries,
                kept,
                failed,
                keep_rate: kept as f64 / tries.max(1) as f64,
                first_run: runs.first().copied().unwrap_or(0),
                last_run: runs.last().copied().unwrap_or(0),
                labels: view.labels_of(&runs),
                runs,
            };
            (family, all)
        })
        .collect();
    list.sort_by(|a, b| {
        b.0.tries
            .cmp(&a.0.tries)
            .then_with(|| a.0.name.cmp(&b.0.name))
    });
    for (f, all) in &list {
        if f.tries >= DEAD_FAMILY_TRIES && f.kept == 0 {
            out.push(dead(view, f, all.clone()));
        }
    }
    list.into_iter().map(|(f, _)| f).collect()
}

/// Name each summary no known family took: by its most frequent word or pair among the other
/// unnamed ones (a pair before a word, then the earliest), else its first word.
fn name_the_rest(vocab: &Vocab, summaries: &[Vec<(u32, u32)>], names: &mut [Option<String>]) {
    let mut df: HashMap<Phrase, u32> = HashMap::new();
    let mut terms = Vec::new();
    for (words, name) in summaries.iter().zip(names.iter()) {
        if name.is_none() {
            terms_of(words, &mut terms);
            for t in &terms {
                *df.entry(*t).or_default() += 1;
            }
        }
    }
    for (words, name) in summaries.iter().zip(names.iter_mut()) {
        if name.is_some() || words.is_empty() {
            continue;
        }
        terms_of(words, &mut terms);
        let first = (words[0].0, None);
        let best = terms
            .iter()
            .map(|t| (df.get(t).copied().unwrap_or(0), *t))
            .filter(|(n, _)| *n >= 2)
            // Most frequent; a pair before a word; then the earliest (`terms` is in order).
            .fold(None::<(u32, Phrase)>, |acc, (n, t)| match acc {
                Some((bn, bt)) if bn > n || (bn == n && (bt.1.is_some() || t.1.is_none())) => {
                    Some((bn, bt))
                }
                _ => Some((n, t)),
            })
            .map_or(first, |(_, t)| t);
        *name = Some(match best {
            (a, Some(b)) => format!("{} {}", vocab.word(a), vocab.word(b)),
            (a, None) => vocab.word(a).to_string(),
        });
    }
}

fn dead(view: &View, f: &Family, runs: Vec<u64>) -> Pattern {
    let failed = if f.failed > 0 {
        format!(", {} crashed or timed out", f.failed)
    } else {
        String::new()
    };
    Pattern::new(
        PatternKind::DeadFamily,
        format!(
            "\"{}\": {} tries, none kept ({})",
            f.name,
            f.tries,
            view.run_list(&runs)
        ),
        format!(
            "Experiments whose summary is about {}: {} discarded{failed}.",
            f.name,
            f.tries - f.failed
        ),
        runs,
    )
}

/// The known phrases in ids (words never seen in a summary cannot match), by family index.
fn known_phrases(vocab: &Vocab) -> Vec<(usize, Phrase)> {
    let mut out = Vec::new();
    for (k, (_, phrases)) in KNOWN.iter().enumerate() {
        for p in *phrases {
            let mut ids = p.split(' ').map(|w| vocab.id(w));
            match (ids.next().flatten(), ids.next()) {
                (Some(a), None) => out.push((k, (a, None))),
                (Some(a), Some(Some(b))) => out.push((k, (a, Some(b)))),
                _ => {}
            }
        }
    }
    // Two-word phrases first: "weight decay" before "decay".
    out.sort_by_key(|(k, (_, b))| (b.is_none(), *k));
    out
}

/// The known family of a summary's words (id, raw position), if any: the earliest match, or
/// the last of a run of adjacent ones.
fn known_family(words: &[(u32, u32)], known: &[(usize, Phrase)]) -> Option<usize> {
    let mut i = 0;
    let mut found: Option<(usize, u32)> = None;
    while i < words.len() {
        let hit = known.iter().find_map(|(k, (a, b))| {
            if words[i].0 != *a {
                return None;
            }
            match b {
                None => Some((*k, 1)),
                Some(b) => (words.get(i + 1).map(|w| w.0) == Some(*b)).then_some((*k, 2)),
            }
        });
        let Some((k, len)) = hit else {
            if found.is_some() {
                break;
            }
            i += 1;
            continue;
        };
        let start = words[i].1;
        let end = words[i + len - 1].1;
        match found {
            None => found = Some((k, end)),
            Some((_, prev_end)) if start <= prev_end + 1 => found = Some((k, end)),
            Some(_) => break,
        }
        i += len;
    }
    found.map(|(k, _)| k)
}

/// The distinct words and adjacent pairs of a summary, in order of appearance.
fn terms_of(words: &[(u32, u32)], out: &mut Vec<Phrase>) {
    out.clear();
    for (i, (w, _)) in words.iter().enumerate() {
        out.push((*w, None));
        if let Some((next, _)) = words.get(i + 1)
            && next != w
        {
            out.push((*w, Some(*next)));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    out.retain(|t| seen.insert(*t));
}

/// An idea of `program.md` counts as tried when one summary holds at least this share of its
/// distinct significant words (rounded up, at least one): "cosine learning rate schedule" is
/// tried by "cosine schedule" and by "lower the learning rate". Lenient on purpose: calling a
/// tried idea untried would mislead more than missing one.
pub const IDEA_SHARE_NUM: usize = 1;
pub const IDEA_SHARE_DEN: usize = 2;

/// The ideas `program.md` lists (bullets under a heading or label that mentions "idea", or
/// every bullet when none does) that no experiment's summary matches.
pub(super) fn untried(
    program: &str,
    vocab: &Vocab,
    summaries: &[Vec<(u32, u32)>],
    out: &mut Vec<Pattern>,
) {
    let items = listed_ideas(program);
    // Each idea's distinct words, and their ids (a word no summary has is `None`).
    let ideas: Vec<(String, Vec<String>, Vec<u32>, usize)> = items
        .into_iter()
        .filter_map(|item| {
            let mut words: Vec<String> = Vec::new();
            each_word(&item, |w, _| {
                if !words.iter().any(|x| x == w) {
                    words.push(w.to_string());
                }
            });
            if words.is_empty() {
                return None;
            }
            let ids = words.iter().filter_map(|w| vocab.id(w)).collect();
            let need = (words.len() * IDEA_SHARE_NUM)
                .div_ceil(IDEA_SHARE_DEN)
                .max(1);
            Some((item, words, ids, need))
        })
        .collect();
    let mut by_word: HashMap<u32, Vec<usize>> = HashMap::new();
    for (k, (_, _, ids, _)) in ideas.iter().enumerate() {
        for id in ids {
            by_word.entry(*id).or_default().push(k);
        }
    }
    let mut tried = vec![false; ideas.len()];
    let mut left = ideas.len();
    let mut counts = vec![0usize; ideas.len()];
    let mut touched = Vec::new();
    let mut ids = Vec::new();
    for words in summaries {
        if left == 0 {
            break;
        }
        ids.clear();
        ids.extend(words.iter().map(|(id, _)| *id));
        ids.sort_unstable();
        ids.dedup();
        for id in &ids {
            for &k in by_word.get(id).map_or(&[][..], Vec::as_slice) {
                if counts[k] == 0 {
                    touched.push(k);
                }
                counts[k] += 1;
                if !tried[k] && counts[k] >= ideas[k].3 {
                    tried[k] = true;
                    left -= 1;
                }
            }
        }
        for k in touched.drain(..) {
            counts[k] = 0;
        }
    }
    for ((item, words, _, need), tried) in ideas.iter().zip(tried) {
        if tried {
            continue;
        }
        out.push(Pattern::new(
            PatternKind::UntriedIdea,
            format!("{} (program.md) matches no summary", quote(item, 80)),
            format!(
                "No summary of the {} experiments holds {} of its words ({}).",
                summaries.len(),
                if *need == 1 {
                    "any".to_string()
                } else {
                    format!("{need} or more")
                },
                words.join(", ")
            ),
            Vec::new(),
        ));
    }
}

/// The bullet items of `program.md` that are ideas: under a heading (or a label line such as
/// "Ideas to try:") that mentions "idea", or every bullet when no heading does. Checked boxes
/// (`- [x] ...`) are done and left out; fenced code is skipped. At most `IDEAS_CAP`.
fn listed_ideas(program: &str) -> Vec<String> {
    let (mut all, mut ideas) = (Vec::new(), Vec::new());
    let (mut in_fence, mut under_idea, mut any_idea_heading) = (false, false, false);
    for line in program.lines() {
        let t = line.trim();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || t.is_empty() {
            continue;
        }
        if let Some(item) = bullet(t) {
            let item = match item.strip_prefix("[ ]") {
                Some(rest) => rest.trim(),
                None if item.starts_with("[x]") || item.starts_with("[X]") => continue,
                None => item,
            };
            if item.is_empty() {
                continue;
            }
            all.push(item.to_string());
            if under_idea {
                ideas.push(item.to_string());
            }
            continue;
        }
        let label = t.starts_with('#') || t.ends_with(':') || t.ends_with(":**");
        if label || !line.starts_with([' ', '\t']) {
            // A heading or label opens a section; an unindented paragraph ends a list.
            under_idea = label && t.to_lowercase().contains("idea");
            any_idea_heading |= under_idea;
        }
    }
    let mut out = if any_idea_heading { ideas } else { all };
    out.truncate(IDEAS_CAP);
    out
}

/// The text of a bullet line (`- x`, `* x`, `+ x`, `1. x`, `1) x`), if it is one.
fn bullet(t: &str) -> Option<&str> {
    for mark in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(mark) {
            return Some(rest.trim());
        }
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &t[digits..];
    rest.strip_prefix(". ")
        .or_else(|| rest.strip_prefix(") "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideas_under_an_idea_heading() {
        let program = "# Goal\n\n- keep it fast\n\n## Ideas to try\n\n- cosine schedule\n* [ ] swiglu\n- [x] done already\n1. wider model\n\nNotes follow.\n- not an idea\n";
        assert_eq!(
            listed_ideas(program),
            ["cosine schedule", "swiglu", "wider model"]
        );
    }

    #[test]
    fn every_bullet_without_an_idea_heading() {
        assert_eq!(listed_ideas("- a b c\n  - nested\n"), ["a b c", "nested"]);
        assert_eq!(listed_ideas("```\n- code\n```\n"), Vec::<String>::new());
    }

    #[test]
    fn the_head_of_a_compound_names_the_family() {
        let mut vocab = Vocab::default();
        let cases = [
            ("attention dropout", "dropout"),
            ("layer norm", "normalization"),
            ("lr warmup 500 steps", "warmup"),
            ("weight decay on embeddings", "weight decay"),
            ("increase lr and batch size", "learning rate"),
        ];
        let words: Vec<_> = cases.iter().map(|(s, _)| vocab.intern(s)).collect();
        let known = known_phrases(&vocab);
        for ((summary, want), w) in cases.iter().zip(&words) {
            let got = known_family(w, &known).map(|k| KNOWN[k].0);
            assert_eq!(got, Some(*want), "{summary}");
        }
    }
}
