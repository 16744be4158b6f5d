//! A run's change as the detectors compare it: the lines its unified diff adds and removes.
//!
//! Lines are taken per file with their whitespace collapsed and blank lines dropped, so two
//! diffs that make the same edit on different surroundings (other context, other line
//! numbers, other code elsewhere in the file) compare equal, and a change is the inverse of
//! another when it adds what the other removed and removes what it added.

/// The lines one change adds and removes, each as `path` NUL `line`, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Every changed line mentions a random seed (and there is at least one).
    pub seed_only: bool,
}

/// The change a unified diff makes, or `None` when it changes no non-blank line.
///
/// Reads `git diff` output (headers, `@@` hunks, `+`/`-`/space lines) and plain unified diffs.
/// A line is a header until the first `@@` after a `diff --git` or at the start, so a removed
/// line that reads `-- x` is not mistaken for a `---` header inside a hunk.
pub(super) fn parse(patch: &str) -> Option<Change> {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut seed_only = true;
    let mut in_hunk = false;
    let (mut old_path, mut path) = (String::new(), String::new());
    for line in patch.lines() {
        if line.starts_with("diff ") {
            in_hunk = false;
            continue;
        }
        if line.starts_with("@@") {
            in_hunk = true;
            continue;
        }
        if !in_hunk {
            if let Some(p) = line.strip_prefix("--- ") {
                old_path = strip_side(p, "a/");
            } else if let Some(p) = line.strip_prefix("+++ ") {
                path = strip_side(p, "b/");
                if path == "/dev/null" {
                    path = old_path.clone();
                }
            }
            continue;
        }
        let (sign, text) = match line.as_bytes().first() {
            Some(b'+') => ('+', &line[1..]),
            Some(b'-') => ('-', &line[1..]),
            Some(b' ') | Some(b'\\') => continue,
            // Anything else ends the hunk (a header of the next file without `diff`).
            _ => {
                in_hunk = false;
                continue;
            }
        };
        let norm = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if norm.is_empty() {
            continue;
        }
        seed_only &= mentions_seed(&norm);
        let entry = format!("{path}\0{norm}");
        if sign == '+' {
            added.push(entry);
        } else {
            removed.push(entry);
        }
    }
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    added.sort_unstable();
    removed.sort_unstable();
    Some(Change {
        added,
        removed,
        seed_only,
    })
}

/// `a/x.py` → `x.py` (the side prefix git adds), tab-separated timestamps dropped.
fn strip_side(p: &str, side: &str) -> String {
    let p = p.split('\t').next().unwrap_or(p).trim();
    p.strip_prefix(side).unwrap_or(p).to_string()
}

/// Does a line name a random seed or generator: `seed` in an identifier (`manual_seed`,
/// `np.random.seed`, `set_seed`, `SEED`), `random_state`, or an `rng`/`PRNGKey`?
pub(super) fn mentions_seed(line: &str) -> bool {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .any(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("seed")
                || t.contains("random_state")
                || t.contains("randomstate")
                || t.contains("prng")
                || t == "rng"
                || t.starts_with("rng_")
                || t.ends_with("_rng")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT: &str = "diff --git a/train.py b/train.py\nindex 1..2 100644\n--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n import torch\n-torch.manual_seed(42)\n+torch.manual_seed(1337)\n \n";

    #[test]
    fn reads_a_git_diff() {
        let c = parse(GIT).expect("a change");
        assert_eq!(c.added, ["train.py\0torch.manual_seed(1337)"]);
        assert_eq!(c.removed, ["train.py\0torch.manual_seed(42)"]);
        assert!(c.seed_only);
    }

    #[test]
    fn a_removed_sql_comment_is_not_a_header() {
        let d = "--- a/q.sql\n+++ b/q.sql\n@@ -1 +1 @@\n--- old comment\n+-- new comment\n";
        let c = parse(d).expect("a change");
        assert_eq!(c.removed, ["q.sql\0-- old comment"]);
        assert!(!c.seed_only);
    }

    #[test]
    fn seeds() {
        for l in [
            "np.random.seed(0)",
            "SEED = 3",
            "rng = np.random.default_rng(7)",
            "key = jax.random.PRNGKey(0)",
            "model = Forest(random_state=1)",
        ] {
            assert!(mentions_seed(l), "{l}");
        }
        for l in ["lr = 0.01", "strings = []", "for x in range(3):"] {
            assert!(!mentions_seed(l), "{l}");
        }
    }

    #[test]
    fn blank_changes_are_no_change() {
        assert_eq!(parse("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-\n+   \n"), None);
        assert_eq!(parse(""), None);
    }
}
