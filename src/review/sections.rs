//! The data sections of the prompt besides the history: the config, `program.md`, the change
//! from the baseline to the best, and the patterns with the families of ideas.

use super::block::Section;
use super::{Change, Material};
use crate::analysis::{Analysis, Pattern, PatternKind};
use crate::git::CodeDiff;
use crate::text::count;

/// A pattern or family lists this many runs, then how many more.
const RUNS_SHOWN: usize = 10;

pub fn config(m: &Material) -> Section {
    Section {
        heading: "autoresearch.toml".to_string(),
        intro: match m.config_text {
            Some(_) => "The configuration, verbatim.".to_string(),
            None => "The configuration file could not be read.".to_string(),
        },
        lang: "toml",
        content: m.config_text.map(str::to_string),
    }
}

pub fn program(m: &Material) -> Section {
    Section {
        heading: "program.md".to_string(),
        intro: match m.program {
            Some(_) => "The research direction and the agent's notes, verbatim.".to_string(),
            None => "There is no `program.md`: the agent had no written direction.".to_string(),
        },
        lang: "text",
        content: m.program.map(str::to_string),
    }
}

pub fn change(m: &Material) -> Section {
    let heading = "The change from the baseline to the best".to_string();
    let d = match &m.change {
        Change::Missing(why) => {
            return Section {
                heading,
                intro: why.clone(),
                lang: "diff",
                content: None,
            };
        }
        Change::Diff(d) => d,
    };
    let cut = if d.patch_truncated {
        " (cut by the size limit)"
    } else {
        ""
    };
    let intro = format!(
        "From the baseline's commit `{}` to the best's `{}`: {} changed, {}, {}. The block lists each changed file (target, protected or other), then the \
         patch of the target files{cut}.",
        d.from.as_deref().unwrap_or("none"),
        d.to,
        count(d.files_changed, "file", "files"),
        count(d.insertions, "insertion", "insertions"),
        count(d.deletions, "deletion", "deletions")
    );
    Section {
        heading,
        intro,
        lang: "diff",
        content: Some(change_text(m, d)),
    }
}

/// Each file with its role and counts, then the target files' patch.
fn change_text(m: &Material, d: &CodeDiff) -> String {
    let cfg = m.config;
    let mut s = String::new();
    for f in &d.files {
        let role = if cfg.is_target(&f.path) {
            "target"
        } else if cfg
            .protected
            .iter()
            .any(|p| f.path == *p || f.path.starts_with(&format!("{p}/")))
        {
            "protected"
        } else {
            "other"
        };
        s.push_str(&format!(
            "{} | {role} | +{} -{}\n",
            f.path, f.insertions, f.deletions
        ));
    }
    if d.files.is_empty() {
        s.push_str("(no file differs)\n");
    }
    if let Some(patch) = &d.patch {
        let targets = target_patch(patch, d, |p| cfg.is_target(p));
        if !targets.is_empty() {
            s.push('\n');
            s.push_str(&targets);
        }
    }
    s
}

/// The parts of a unified patch that are about target files. The patch has one part per
/// changed file, each starting with `diff --git`, in the order of `d.files`.
fn target_patch(patch: &str, d: &CodeDiff, is_target: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut part = None::<usize>;
    let mut keep = false;
    for line in patch.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            let i = part.map_or(0, |i| i + 1);
            part = Some(i);
            keep = d.files.get(i).is_some_and(|f| is_target(&f.path));
        }
        if keep {
            out.push_str(line);
        }
    }
    out
}

/// The patterns as bare facts, and the families of ideas; `None` in a blind review.
pub fn patterns(m: &Material) -> Option<Section> {
    if m.blind {
        return None;
    }
    let a = m.analysis;
    let heading = "Patterns found by autoresearch".to_string();
    if a.patterns.is_empty() && a.families.is_empty() {
        return Some(Section {
            heading,
            intro: "The fixed rules of autoresearch found no pattern in these records.".to_string(),
            lang: "text",
            content: None,
        });
    }
    let intro = "Facts found in the records by fixed rules, not conclusions: they can be wrong \
                 or miss things. One per line: kind, what was found, the runs. Then the \
                 families of ideas, grouped by the words of their summaries."
        .to_string();
    Some(Section {
        heading,
        intro,
        lang: "text",
        content: Some(patterns_text(a, m.branch.is_none())),
    })
}

fn patterns_text(a: &Analysis, branches: bool) -> String {
    let mut s = String::new();
    let mut list: Vec<&Pattern> = a.patterns.iter().collect();
    // Integrity first: when the list is cut, the end goes first.
    list.sort_by_key(|p| priority(p.kind));
    for p in list {
        let branch = match (&p.branch, branches) {
            (Some(b), true) => format!(" [branch {b}]"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "{}: {} | {} | runs: {}{branch}\n",
            p.kind.as_str(),
            p.title,
            p.detail,
            runs(&p.run_names(), p.count)
        ));
    }
    for o in &a.omitted {
        s.push_str(&format!(
            "not listed: {} more {}\n",
            o.count,
            o.kind.as_str()
        ));
    }
    if !a.families.is_empty() {
        s.push_str(&format!(
            "\nfamilies of ideas ({} of {}): name | tries | kept | crashed or timed out | runs\n",
            a.families.len(),
            a.families_total
        ));
    }
    for f in &a.families {
        s.push_str(&format!(
            "{} | {} | {} | {} | {}\n",
            f.name,
            f.tries,
            f.kept,
            f.failed,
            runs(&f.run_names(), f.tries)
        ));
    }
    s
}

/// Integrity patterns first, then what costs experiments, then the rest.
fn priority(kind: PatternKind) -> u8 {
    use PatternKind::*;
    match kind {
        SuspiciousJump | MetricRepeated | ZeroVariance | DurationCollapsed | UntrackedInputs
        | HarnessChanged | KeptNotBetter | LeakedProcesses | Retracted | SeedOnlyKeep
        | KeepWithinNoise => 0,
        StuckStreak | Plateau | ExactRepeat | NearDuplicate | Reversal | CrashCluster
        | DeadFamily => 1,
        Simplification | UntriedIdea => 2,
    }
}

/// `#3, #5, #8`, at most `RUNS_SHOWN`, then `and 12 more`; `-` for none.
fn runs(runs: &[String], count: usize) -> String {
    if runs.is_empty() {
        return "-".to_string();
    }
    let mut s = runs
        .iter()
        .take(RUNS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let shown = runs.len().min(RUNS_SHOWN);
    if count > shown {
        s.push_str(&format!(" and {} more", count - shown));
    }
    s
}
