//! Step 4b of the experiment (docs/CONTRACT.md §7): how the number is made must not change
//! between the baseline and the runs compared with it. The evaluation setup of a commit is a
//! digest of the eval command, the metric, its direction, the time budget and the protected
//! files' content in that commit (the record's `setup`). Every run but an explicit baseline is
//! refused when HEAD's setup is not the branch baseline's: protection holds against history
//! (a harness change committed by hand), not only against the work tree. A new baseline over
//! a changed setup is allowed, flagged `harness_changed`, and starts a new comparison.

use git2::{Oid, Repository};

use crate::config::Config;
use crate::error::{AppError, Code, Result};
use crate::git;
use crate::ledger::{Record, Scope};
use crate::text::{code_list, shell_words};

/// The flag of a baseline measured under a different setup than the one before it.
pub const HARNESS_CHANGED: &str = "harness_changed";

/// How many commits back to look for the one that changed a protected file.
const WALK_LIMIT: usize = 10_000;

/// The digest of what, besides the protected files, makes the number. The hardware class is
/// in it only when one is set, so a project without one keeps the digests it always had.
fn salt(cfg: &Config) -> String {
    let mut salt = format!(
        "setup\0{}\0{}\0{}\0{}",
        cfg.eval_command,
        cfg.metric_name,
        cfg.metric_direction.as_str(),
        cfg.time_budget.as_millis()
    );
    if let Some(class) = &cfg.hardware {
        salt.push_str("\0hardware\0");
        salt.push_str(class);
    }
    salt
}

/// The evaluation setup of `commit` under `cfg` (the record's `setup`).
pub fn setup_of(repo: &Repository, commit: Oid, cfg: &Config) -> Result<String> {
    git::paths_digest(repo, commit, &cfg.protected, &salt(cfg))
}

/// What differs between a baseline's setup and HEAD's.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SetupChange {
    /// Protected files whose content differs from the baseline commit's.
    pub files: Vec<String>,
    /// The newest commit between the baseline and HEAD that changed one of them.
    pub culprit: Option<(Oid, String)>,
    /// The config part differs (eval command, metric, direction, time budget or the
    /// protected list itself).
    pub config: bool,
    /// The baseline's commit, when it is in the repository.
    pub base_commit: Option<Oid>,
    /// The hardware class differs: the baseline's, then this machine's.
    pub hardware: Option<(Option<String>, Option<String>)>,
}

/// How HEAD's setup differs from `baseline`'s, if it does. A baseline recorded without a
/// setup (by hand, or by an older version) is compared by its protected files alone.
pub(super) fn change_since(
    repo: &Repository,
    cfg: &Config,
    head: Oid,
    setup: &str,
    baseline: &Record,
) -> Option<SetupChange> {
    if baseline.setup.as_deref() == Some(setup) {
        return None;
    }
    let base_commit = baseline
        .commit
        .as_deref()
        .and_then(|c| Oid::from_str(c).ok())
        .filter(|o| repo.find_commit(*o).is_ok());
    let files = base_commit
        .map(|b| differing(repo, b, head, &cfg.protected))
        .unwrap_or_default();
    // With the baseline's files, would the digest match? Then only the files differ.
    let config = match (&baseline.setup, base_commit) {
        (Some(s), Some(b)) => setup_of(repo, b, cfg).ok().as_ref() != Some(s),
        (Some(_), None) => files.is_empty(),
        (None, _) => false,
    };
    // A baseline without a class differs in class only if its setup says so (a baseline from
    // before classes existed, recorded by hand, says nothing).
    let hardware = (baseline.hardware != cfg.hardware && (config || baseline.hardware.is_some()))
        .then(|| (baseline.hardware.clone(), cfg.hardware.clone()));
    if files.is_empty() && !config && hardware.is_none() {
        return None;
    }
    let culprit = base_commit.and_then(|b| culprit(repo, b, head, &files));
    Some(SetupChange {
        files,
        culprit,
        config,
        base_commit,
        hardware,
    })
}

/// The paths among `paths` whose entry differs between two commits (absent counts).
fn differing(repo: &Repository, a: Oid, b: Oid, paths: &[String]) -> Vec<String> {
    let ids = |c: Oid| -> Option<Vec<Option<Oid>>> {
        let tree = repo.find_commit(c).ok()?.tree().ok()?;
        Some(
            paths
                .iter()
                .map(|p| tree.get_path(std::path::Path::new(p)).ok().map(|e| e.id()))
                .collect(),
        )
    };
    match (ids(a), ids(b)) {
        (Some(x), Some(y)) => paths
            .iter()
            .zip(x.iter().zip(&y))
            .filter(|(_, (p, q))| p != q)
            .map(|(path, _)| path.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// The newest commit reachable from `head` but not from `base` that changed one of `files`
/// (compared with its first parent), with its subject.
fn culprit(repo: &Repository, base: Oid, head: Oid, files: &[String]) -> Option<(Oid, String)> {
    if files.is_empty() {
        return None;
    }
    let mut walk = repo.revwalk().ok()?;
    walk.push(head).ok()?;
    walk.hide(base).ok()?;
    for oid in walk.take(WALK_LIMIT).flatten() {
        let commit = repo.find_commit(oid).ok()?;
        let parent = commit.parent_id(0).ok();
        let changed = match parent {
            Some(p) => !differing(repo, p, oid, files).is_empty(),
            None => true,
        };
        if changed {
            let subject = commit.summary().unwrap_or("").to_string();
            return Some((oid, subject));
        }
    }
    None
}

/// What `run` would refuse, other than for a baseline, about HEAD's setup against `scope`'s
/// baseline (`doctor` asks the same question).
pub fn setup_refusal(repo: &Repository, cfg: &Config, scope: &Scope) -> Result<Option<AppError>> {
    let Some(baseline) = &scope.baseline else {
        return Ok(None);
    };
    let head = git::head_commit(repo)?.id();
    let setup = setup_of(repo, head, cfg)?;
    Ok(change_since(repo, cfg, head, &setup, baseline).map(|c| refusal(cfg, baseline, &c)))
}

/// The refusal of a run whose setup is not its baseline's (docs/CONTRACT.md §7 step 4b).
pub(super) fn refusal(cfg: &Config, baseline: &Record, change: &SetupChange) -> AppError {
    let at = |o: Option<Oid>| o.map_or_else(String::new, |o| format!(" at {o}"));
    let base = format!("the baseline (#{}{})", baseline.run, at(change.base_commit));
    let by = change
        .culprit
        .as_ref()
        .map(|(oid, subject)| format!(" (changed by commit {oid} \"{subject}\")"))
        .unwrap_or_default();
    let new_baseline = "or, if the change is deliberate (the human's decision), start a new comparison with `autoresearch run --baseline -m \"<what changed and why>\"`.";
    if let Some((was, now)) = &change.hardware {
        return hardware_refusal(&base, was.as_deref(), now.as_deref());
    }
    if !change.files.is_empty() {
        let files = shell_words(change.files.iter().map(String::as_str));
        let restore = match change.base_commit {
            Some(b) => format!(
                "Restore them as they were at the baseline, in a commit of their own: `git checkout {b} -- {files} && git commit -m \"restore the eval harness\" -- {files}`; "
            ),
            None => format!("Restore {files} as they were at the baseline and commit that; "),
        };
        return AppError::new(
            Code::ProtectedChanged,
            format!(
                "Protected files differ from {base}: {}{by}. Runs compared with that baseline must be measured the same way. Nothing was committed or recorded.",
                code_list(change.files.iter().map(String::as_str))
            ),
            format!("{restore}{new_baseline}"),
        );
    }
    let config = crate::config::FILE_NAME;
    let restore = match change.base_commit {
        Some(b) => format!(
            "Restore `{config}` as it was at the baseline (`git show {b}:{config}` shows it) and commit that; "
        ),
        None => format!("Restore `{config}` as it was at the baseline and commit that; "),
    };
    AppError::new(
        Code::SetupChanged,
        format!(
            "The evaluation setup differs from {base}: the eval command, the metric, its direction, the time budget or the list of protected files in `{config}` changed{}. Runs compared with that baseline must be measured the same way (now: eval `{}`, metric `{}`, {} is better). Nothing was committed or recorded.",
            if change.base_commit.is_none() {
                " (or a protected file: the baseline's commit is not in this repository to compare)"
            } else {
                ""
            },
            cfg.eval_command,
            cfg.metric_name,
            cfg.metric_direction.as_str()
        ),
        format!("{restore}{new_baseline}"),
    )
}

/// `hardware `a100``, or `no hardware class` when none was set.
fn class(class: Option<&str>) -> String {
    class.map_or_else(
        || "no hardware class".to_string(),
        |c| format!("hardware `{c}`"),
    )
}

/// The refusal of a run on another hardware class than its baseline's: results are compared
/// only within one class.
fn hardware_refusal(base: &str, was: Option<&str>, now: Option<&str>) -> AppError {
    let var = crate::config::HARDWARE_VAR;
    let this = match now {
        Some(c) => format!("this machine is `{c}`"),
        None => format!(
            "this machine has no class (neither `hardware` in `{}` nor `{var}` is set)",
            crate::config::FILE_NAME
        ),
    };
    AppError::new(
        Code::SetupChanged,
        format!(
            "The evaluation setup differs from {base}: it was measured on {}, {this}. Runs are compared only with runs measured on the same hardware. Nothing was committed or recorded.",
            class(was)
        ),
        format!(
            "Run this branch where the baseline was measured ({}; `{var}` sets a machine's class), or start a comparison on this hardware with `autoresearch run --baseline -m \"baseline on {}\"`, best on a fork of its own (`autoresearch fork <name>`).",
            class(was),
            now.unwrap_or("this machine")
        ),
    )
}

/// The warning of a new baseline over a changed setup.
pub(super) fn rebaseline_warning(baseline: &Record, change: &SetupChange) -> String {
    let what = if let Some((was, now)) = &change.hardware {
        format!(
            "the hardware class ({} before, {} now)",
            class(was.as_deref()),
            class(now.as_deref())
        )
    } else if change.files.is_empty() {
        "the eval command, the metric, its direction, the time budget or the protected list"
            .to_string()
    } else {
        code_list(change.files.iter().map(String::as_str))
    };
    format!(
        "The evaluation setup changed since the previous baseline (#{}): {what}. This baseline starts a new comparison (flag `{HARNESS_CHANGED}`); no improvement is computed across the two.",
        baseline.run
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Config {
        let toml = format!(
            "target_file = \"t.py\"\neval_command = \"python3 t.py\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\n{extra}"
        );
        Config::parse("autoresearch.toml", &toml).expect("config").0
    }

    #[test]
    fn the_hardware_class_is_in_the_setup_only_when_set() {
        // Without a class, the salt is what it always was: existing digests do not change.
        assert_eq!(
            salt(&cfg("")),
            "setup\0python3 t.py\0score\0lower\x00300000"
        );
        assert_eq!(
            salt(&cfg("hardware = \"a100-80g\"")),
            "setup\0python3 t.py\0score\0lower\x00300000\0hardware\0a100-80g"
        );
        assert_ne!(
            salt(&cfg("hardware = \"a100\"")),
            salt(&cfg("hardware = \"h100\""))
        );
    }

    #[test]
    fn a_hardware_refusal_names_both_classes() {
        let e = hardware_refusal("the baseline (#0)", Some("a100"), Some("h100"));
        assert_eq!(e.code, Code::SetupChanged);
        assert!(
            e.message
                .contains("it was measured on hardware `a100`, this machine is `h100`"),
            "{}",
            e.message
        );
        assert!(
            e.suggestion
                .contains("`autoresearch run --baseline -m \"baseline on h100\"`"),
            "{}",
            e.suggestion
        );
        let e = hardware_refusal("the baseline (#0)", Some("a100"), None);
        assert!(
            e.message.contains("this machine has no class"),
            "{}",
            e.message
        );
        let e = hardware_refusal("the baseline (#0)", None, Some("h100"));
        assert!(
            e.message
                .contains("measured on no hardware class, this machine is `h100`"),
            "{}",
            e.message
        );
    }
}
