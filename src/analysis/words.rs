//! The words of a summary, an idea or a crash reason, as the detectors compare them.
//!
//! A summary's *significant words* are its lowercase words of three letters or more (so bare
//! numbers and `1e-3` drop out), minus a small list of stop words (function words and the verbs
//! every summary uses: "try", "increase", "use"...), with a plural `s` taken off. The usual
//! abbreviations are spelled out first (`lr` is "learning rate"), so "lr 0.01" and "learning
//! rate 0.02" share their words. Words are interned as numbers: 100,000 summaries are
//! tokenized once and compared as sorted id lists.

use std::collections::HashMap;

/// Function words and the generic verbs and adjectives of summaries: they say how an idea was
/// changed, not what it is about. Sorted, for the binary search.
#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "about", "add", "added", "adding", "after", "again", "all", "also", "and", "any", "are",
    "back", "before", "better", "bigger", "bit", "both", "bump", "bumped", "but", "can",
    "change", "changed", "changing", "decrease", "decreased", "decreasing", "default",
    "disable", "disabled", "double", "doubled", "each", "enable", "enabled", "every",
    "experiment", "few", "fewer", "fix", "fixed", "for", "from", "half", "halve", "halved",
    "has", "have", "higher", "increase", "increased", "increasing", "instead", "into", "its",
    "just", "keep", "larger", "less", "like", "lot", "lower", "lowered", "make", "more", "most",
    "much", "new", "not", "now", "off", "old", "one", "only", "other", "over", "per", "raise",
    "raised", "reduce", "reduced", "reducing", "remove", "removed", "removing", "replace",
    "replaced", "retry", "revert", "reverted", "same", "set", "setting", "should", "slightly",
    "smaller", "some", "swap", "switch", "switched", "than", "that", "the", "then", "these",
    "this", "those", "three", "too", "tried", "try", "trying", "tune", "tuned", "tweak",
    "tweaked", "two", "use", "used", "using", "very", "via", "was", "were", "what", "when",
    "which", "while", "with", "without",
];

/// Abbreviations spelled out before anything else, so they count as the words they stand for.
const ABBREVIATIONS: &[(&str, &[&str])] = &[
    ("bs", &["batch", "size"]),
    ("lr", &["learning", "rate"]),
    ("lrs", &["learning", "rate"]),
    ("wd", &["weight", "decay"]),
];

/// Words shorter than this (in letters) are not significant.
const MIN_LETTERS: usize = 3;

/// What one raw word of a text becomes: nothing, a word, or two (an abbreviation).
#[derive(Debug, Clone, Copy)]
enum Meaning {
    Skip,
    One(u32),
    Two(u32, u32),
}

/// Interned words: an id per distinct word, in order of first sight, and what each raw word
/// seen so far means (so a word is lowercased, checked and singularized once, not once per
/// summary: 100,000 summaries take tens of milliseconds).
#[derive(Debug, Default)]
pub(super) struct Vocab {
    ids: HashMap<String, u32>,
    words: Vec<String>,
    raw: HashMap<String, Meaning>,
}

impl Vocab {
    /// The significant words of `text`, in order, interned (new words are added), each with
    /// the position of the raw word it came from (an abbreviation's words share one).
    pub fn intern(&mut self, text: &str) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut buf = String::new();
        for (pos, raw) in raw_words(text).enumerate() {
            let pos = u32::try_from(pos + 1).unwrap_or(u32::MAX);
            lowercase(raw, &mut buf);
            let meaning = match self.raw.get(buf.as_str()) {
                Some(m) => *m,
                None => {
                    let mut ids = Vec::new();
                    word_of(&buf, |w| ids.push(self.id_or_add(w)));
                    let m = match ids[..] {
                        [a] => Meaning::One(a),
                        [a, b, ..] => Meaning::Two(a, b),
                        [] => Meaning::Skip,
                    };
                    self.raw.insert(buf.clone(), m);
                    m
                }
            };
            match meaning {
                Meaning::Skip => {}
                Meaning::One(a) => out.push((a, pos)),
                Meaning::Two(a, b) => out.extend([(a, pos), (b, pos)]),
            }
        }
        out
    }

    fn id_or_add(&mut self, w: &str) -> u32 {
        if let Some(id) = self.ids.get(w) {
            return *id;
        }
        let id = u32::try_from(self.words.len()).unwrap_or(u32::MAX);
        self.ids.insert(w.to_string(), id);
        self.words.push(w.to_string());
        id
    }

    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    pub fn word(&self, id: u32) -> &str {
        self.words.get(id as usize).map_or("", String::as_str)
    }
}

/// The raw words of a text: its runs of letters and digits.
fn raw_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn lowercase(raw: &str, buf: &mut String) {
    buf.clear();
    if raw.is_ascii() {
        buf.push_str(raw);
        buf.make_ascii_lowercase();
    } else {
        buf.extend(raw.chars().flat_map(char::to_lowercase));
    }
}

/// Calls `f` with each significant word of `text` (lowercase, singular) and its raw position.
pub(super) fn each_word(text: &str, mut f: impl FnMut(&str, u32)) {
    let mut buf = String::new();
    for (pos, raw) in raw_words(text).enumerate() {
        let pos = u32::try_from(pos + 1).unwrap_or(u32::MAX);
        lowercase(raw, &mut buf);
        word_of(&buf, |w| f(w, pos));
    }
}

/// The significant words one lowercase raw word stands for: its abbreviation's words, or
/// itself made singular, or none (too few letters, a stop word).
fn word_of(lower: &str, mut f: impl FnMut(&str)) {
    if let Some((_, words)) = ABBREVIATIONS.iter().find(|(a, _)| *a == lower) {
        words.iter().for_each(|w| f(w));
        return;
    }
    if lower.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS || is_stop(lower) {
        return;
    }
    let w = singular(lower);
    if !is_stop(w) {
        f(w);
    }
}

fn is_stop(w: &str) -> bool {
    STOP_WORDS.binary_search(&w).is_ok()
}

/// A plural's singular, by the common English endings; good enough to match "layers" with
/// "layer" and "batches" with "batch", never worse than leaving the word as it is.
fn singular(w: &str) -> &str {
    let n = w.len();
    if n >= 6 && (w.ends_with("ches") || w.ends_with("shes") || w.ends_with("xes")) {
        return &w[..n - 2];
    }
    if n >= 5 && w.ends_with('s') && !(w.ends_with("ss") || w.ends_with("us") || w.ends_with("is"))
    {
        return &w[..n - 1];
    }
    w
}

/// The Jaccard similarity of two sorted, deduplicated id lists is at least `num / den`.
pub(super) fn jaccard_at_least(a: &[u32], b: &[u32], num: usize, den: usize) -> bool {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    union > 0 && inter * den >= union * num
}

/// A crash reason with what varies between occurrences of one cause taken out: paths become
/// `<path>`, hashes `<hex>`, numbers `#` (so "tried to allocate 2.3 GiB" and "... 4.1 GiB"
/// read the same). The number after `exit_code` or `signal` is kept: exit code 1 and a
/// SIGKILL (`signal 9`, the OOM killer) are different causes.
pub(super) fn normalize_reason(reason: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut prev = String::new();
    for word in reason.split_whitespace() {
        let lower = word.to_lowercase();
        let core = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != '\\');
        let keep_number = matches!(prev.as_str(), "exit_code" | "code" | "signal" | "status")
            && !core.is_empty()
            && core.chars().all(|c| c.is_ascii_digit());
        let norm = if keep_number {
            lower.clone()
        } else if core.len() > 1 && (core.contains('/') || core.contains('\\')) {
            lower.replace(core, "<path>")
        } else if is_hex(core) {
            lower.replace(core, "<hex>")
        } else {
            squash_numbers(&lower)
        };
        prev = core.to_string();
        out.push(norm);
    }
    out.join(" ")
}

/// A hash: seven or more hex digits (after an optional `0x`), with a digit among them.
fn is_hex(w: &str) -> bool {
    let h = w.strip_prefix("0x").unwrap_or(w);
    h.len() >= 7
        && h.chars().all(|c| c.is_ascii_hexdigit())
        && h.chars().any(|c| c.is_ascii_digit())
        && (h.len() != w.len() || h.chars().any(|c| c.is_ascii_alphabetic()))
}

/// Every run of digits (with the `.` or `,` inside a number) as one `#`.
fn squash_numbers(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let chars: Vec<char> = w.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || ((chars[i] == '.' || chars[i] == ',')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push('#');
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        each_word(text, |w, _| out.push(w.to_string()));
        out
    }

    #[test]
    fn stop_words_are_sorted() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn significant_words() {
        assert_eq!(
            words("Increase LR to 3e-4 and add 2 more Layers"),
            ["learning", "rate", "layer"]
        );
        assert_eq!(words("batches of heads, loss"), ["batch", "head", "loss"]);
        assert_eq!(words("fp16 gpt2 n_embd=768"), ["gpt2", "embd"]);
    }

    #[test]
    fn reasons_differ_only_in_numbers_paths_and_hashes() {
        let a = "exit_code 1: CUDA out of memory (tried to allocate 2.3 GiB)";
        let b = "exit_code 1: CUDA out of memory (tried to allocate 4.1 GiB)";
        assert_eq!(normalize_reason(a), normalize_reason(b));
        assert_ne!(
            normalize_reason("exit_code 1"),
            normalize_reason("exit_code 137")
        );
        assert_eq!(
            normalize_reason("File /tmp/a/b.py line 12, at 0xdeadbeef1"),
            normalize_reason("File /home/x/c.py line 7, at 0x1234abcd")
        );
    }

    #[test]
    fn jaccard() {
        assert!(jaccard_at_least(&[1, 2, 3], &[1, 2, 3], 7, 10));
        assert!(jaccard_at_least(&[1, 2, 3, 4], &[1, 2, 3, 4, 5], 7, 10));
        assert!(!jaccard_at_least(&[1, 2, 3], &[1, 2, 4], 7, 10));
        assert!(!jaccard_at_least(&[], &[], 7, 10));
    }
}
