//! The thin git2 layer: branches, commits, run refs and diffs. No `git` subprocess anywhere
//! (docs/CONTRACT.md §3): behaviour must not depend on the user's git version or aliases.

use git2::{Oid, Repository};
use serde::Serialize;

use crate::error::{AppError, Code, Result};

/// The environment the git layer reads, for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[(
    "GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL",
    "commit identity when git config has none",
)];

/// The ref that keeps an evaluated commit reachable, whatever the run's status.
pub fn run_ref_name(run: u64) -> String {
    format!("refs/autoresearch/runs/{run}")
}

/// The branch HEAD points at, `None` when detached or unborn-without-name.
pub fn current_branch(repo: &Repository) -> Option<String> {
    match repo.head() {
        Ok(head) if head.is_branch() => head.shorthand().map(str::to_string),
        Ok(_) => None,
        Err(_) => {
            // Unborn branch: HEAD is a symbolic ref to a branch with no commits yet.
            let head = repo.find_reference("HEAD").ok()?;
            head.symbolic_target()
                .and_then(|t| t.strip_prefix("refs/heads/"))
                .map(str::to_string)
        }
    }
}

/// The commit HEAD points at, `None` in a repository with no commits.
pub fn head_oid(repo: &Repository) -> Option<Oid> {
    repo.head().ok().and_then(|h| h.target())
}

/// Resolve a revision (hash, abbreviated hash, branch, `HEAD~1`...) to a commit.
pub fn resolve_commit<'r>(repo: &'r Repository, rev: &str) -> Result<git2::Commit<'r>> {
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| {
            AppError::usage(
                format!("`{rev}` does not name a commit in this repository."),
                "Pass a commit hash or branch name that `git rev-parse` accepts, or omit `--commit` to use HEAD.",
            )
        })
}

/// Pin `oid` at `refs/autoresearch/runs/<run>`, before the record is written: the writers call
/// it under the ledger lock, for the number the append is about to take, which no record owns
/// (numbers follow the highest run). A ref already there is a leftover of a writer killed
/// between pinning and writing, and is replaced; a ref owned by a record is never touched.
pub fn set_run_ref(repo: &Repository, run: u64, oid: Oid) -> Result<()> {
    let name = run_ref_name(run);
    with_lock_retry(&ref_lock(repo, &name), || {
        repo.reference(&name, oid, true, &format!("autoresearch: run {run}"))
    })
    .map(|_| ())
    .map_err(|e| AppError::git(format!("creating `{name}`"), &e))
}

/// The identity for commits: the repository's configured one, else `GIT_AUTHOR_*`, else
/// `autoresearch <autoresearch@localhost>`.
pub fn signature(repo: &Repository) -> git2::Signature<'static> {
    if let Ok(sig) = repo.signature() {
        return sig.to_owned();
    }
    let name = std::env::var("GIT_AUTHOR_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let email = std::env::var("GIT_AUTHOR_EMAIL")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let name = name.unwrap_or_else(|| "autoresearch".to_string());
    let email = email.unwrap_or_else(|| "autoresearch@localhost".to_string());
    git2::Signature::now(&name, &email).unwrap_or_else(|_| {
        git2::Signature::now("autoresearch", "autoresearch@localhost")
            .expect("a constant ASCII name and email always make a signature")
    })
}

/// Where the identity for commits comes from, for `doctor`.
pub fn identity_source(repo: &Repository) -> &'static str {
    if repo.signature().is_ok() {
        "git config"
    } else if std::env::var("GIT_AUTHOR_NAME").is_ok_and(|s| !s.trim().is_empty()) {
        "GIT_AUTHOR_* environment"
    } else {
        "fallback autoresearch <autoresearch@localhost>"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileStat {
    pub path: String,
    pub insertions: usize,
    pub deletions: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeDiff {
    pub from: Option<String>,
    pub to: String,
    pub files_changed: usize,
    pub insertions: usize,
    pub deletions: usize,
    pub files: Vec<FileStat>,
    /// The unified patch, when asked for; cut at the byte bound.
    pub patch: Option<String>,
    pub patch_truncated: bool,
}

/// The code change between two commits (`from = None`: against the empty tree).
pub fn diff_commits(
    repo: &Repository,
    from: Option<&str>,
    to: &str,
    with_patch: bool,
    max_patch_bytes: usize,
) -> Result<CodeDiff> {
    let git_err = |e: git2::Error| AppError::git("computing the diff", &e);
    let to_commit = resolve_stored_commit(repo, to)?;
    let from_tree = match from {
        Some(f) => Some(resolve_stored_commit(repo, f)?.tree().map_err(git_err)?),
        None => None,
    };
    let to_tree = to_commit.tree().map_err(git_err)?;
    let diff = repo
        .diff_tree_to_tree(from_tree.as_ref(), Some(&to_tree), None)
        .map_err(git_err)?;
    let mut files = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (ins, del) = git2::Patch::from_diff(&diff, i)
            .ok()
            .flatten()
            .and_then(|p| p.line_stats().ok())
            .map_or((0, 0), |(_, a, d)| (a, d));
        files.push(FileStat {
            path,
            insertions: ins,
            deletions: del,
        });
    }
    let (mut patch, mut truncated) = (None, false);
    if with_patch {
        let mut text = String::new();
        let _ = diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if text.len() >= max_patch_bytes {
                truncated = true;
                return false;
            }
            let origin = line.origin();
            if matches!(origin, '+' | '-' | ' ') {
                text.push(origin);
            }
            text.push_str(&String::from_utf8_lossy(line.content()));
            true
        });
        if text.len() > max_patch_bytes {
            let mut end = max_patch_bytes;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            truncated = true;
        }
        patch = Some(text);
    }
    Ok(CodeDiff {
        from: from.map(str::to_string),
        to: to.to_string(),
        files_changed: files.len(),
        insertions: files.iter().map(|f| f.insertions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        files,
        patch,
        patch_truncated: truncated,
    })
}

/// A short, stable digest of what `paths` hold in `commit` (their git object ids; a path
/// that is absent counts as absent), salted with `salt`: two commits get the same digest
/// exactly when those paths are byte-identical in both. 16 hex digits.
pub fn paths_digest(
    repo: &Repository,
    commit: Oid,
    paths: &[String],
    salt: &str,
) -> Result<String> {
    let git_err = |e: git2::Error| AppError::git("reading the evaluated commit", &e);
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(git_err)?;
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut text = format!("{salt}\n");
    for p in sorted {
        if crate::config::is_glob(p) && !p.ends_with('/') {
            // A glob: every path it matches, with its blob id (none matched: an empty list).
            text.push_str(&format!("{p}\0glob\n"));
            for (path, id) in tree_paths(&tree, |q| crate::config::target_matches(p, q)) {
                text.push_str(&format!("  {path}\0{id}\n"));
            }
            continue;
        }
        // A file's blob id; a directory's (`src/solver/`) tree id covers every file under it.
        let id = tree
            .get_path(std::path::Path::new(p.trim_end_matches('/')))
            .map_or_else(|_| "absent".to_string(), |e| e.id().to_string());
        text.push_str(&format!("{p}\0{id}\n"));
    }
    let oid = Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()).map_err(git_err)?;
    Ok(oid.to_string()[..16].to_string())
}

/// Where branch `name` points, if it exists.
pub fn branch_tip(repo: &Repository, name: &str) -> Option<Oid> {
    repo.find_branch(name, git2::BranchType::Local)
        .ok()?
        .get()
        .target()
}

/// Untracked files that git does not ignore, repo-relative, sorted (at most `limit`, and
/// whether there were more).
pub fn untracked_files(repo: &Repository, limit: usize) -> Result<(Vec<String>, bool)> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| AppError::git("listing untracked files", &e))?;
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|e| e.status().is_wt_new())
        .filter_map(|e| e.path().map(str::to_string))
        .collect();
    out.sort();
    let more = out.len() > limit;
    out.truncate(limit);
    Ok((out, more))
}

/// A commit the ledger names; a clear error when it is gone (e.g. garbage-collected).
fn resolve_stored_commit<'r>(repo: &'r Repository, hash: &str) -> Result<git2::Commit<'r>> {
    repo.revparse_single(hash)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| {
            AppError::new(
                Code::GitError,
                format!("Commit `{hash}` from the ledger is not in this repository."),
                "The commit may have been garbage-collected or the ledger copied from elsewhere; fetch it or compare other runs (`autoresearch log`).",
            )
        })
}

/// The files an experiment would commit or a baseline would find dirty: tracked files that
/// differ from HEAD in the index or the work tree, plus new (untracked) files that are targets
/// (a target file, or a file under a target directory or matched by a target glob),
/// repo-relative with `/`. Other untracked files never count (docs/CONTRACT.md §7 step 4), and
/// ignored ones (`.autoresearch/` among them) are not even looked at.
pub fn changed_files(repo: &Repository, targets: &[String]) -> Result<Vec<String>> {
    let git_err = |e: git2::Error| AppError::git("reading the working tree status", &e);
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .renames_head_to_index(false)
        .renames_index_to_workdir(false);
    let statuses = repo.statuses(Some(&mut opts)).map_err(git_err)?;
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|e| e.status() != git2::Status::CURRENT && !e.status().is_ignored())
        .filter_map(|e| e.path().map(str::to_string))
        .filter(|p| !only_untracked_submodule_content(repo, p))
        .collect();
    // New files under a target directory or matched by a glob: only then list untracked files
    // (a walk of the whole tree, which plain file targets do not need).
    if targets.iter().any(|t| !is_plain(t)) {
        let (new, _) = untracked_files(repo, usize::MAX)?;
        out.extend(
            new.into_iter()
                .filter(|p| crate::config::is_target_in(targets, p)),
        );
    }
    for t in targets.iter().filter(|t| is_plain(t)) {
        if out.contains(t) {
            continue;
        }
        // `status_file` fails for a path git knows nothing about and that does not exist:
        // nothing changed there.
        if let Ok(s) = repo.status_file(std::path::Path::new(t))
            && s.is_wt_new()
        {
            out.push(t.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A `target_file` entry that names one file (not a directory, not a glob).
fn is_plain(entry: &str) -> bool {
    !entry.ends_with('/') && !crate::config::is_glob(entry)
}

/// The paths `tree` holds (blobs and submodules, recursively) that `keep` accepts, sorted,
/// with their object ids.
fn tree_paths(tree: &git2::Tree, keep: impl Fn(&str) -> bool) -> Vec<(String, Oid)> {
    let mut out = Vec::new();
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(git2::ObjectType::Tree)
            && let Some(name) = entry.name()
        {
            let path = format!("{dir}{name}");
            if keep(&path) {
                out.push((path, entry.id()));
            }
        }
        git2::TreeWalkResult::Ok
    });
    out.sort();
    out
}

/// Is `path` a submodule whose only change is untracked content? Untracked files never count
/// (docs/CONTRACT.md §7 step 4), inside a submodule no more than outside. A submodule at another
/// commit, or with modified tracked files, still counts.
fn only_untracked_submodule_content(repo: &Repository, path: &str) -> bool {
    if repo.find_submodule(path).is_err() {
        return false;
    }
    repo.submodule_status(path, git2::SubmoduleIgnore::Untracked)
        .is_ok_and(|s| {
            use git2::SubmoduleStatus as S;
            let changed = S::INDEX_ADDED
                | S::INDEX_DELETED
                | S::INDEX_MODIFIED
                | S::WD_ADDED
                | S::WD_DELETED
                | S::WD_MODIFIED
                | S::WD_INDEX_MODIFIED
                | S::WD_WD_MODIFIED;
            !s.intersects(changed)
        })
}

/// The commit HEAD points at, or a clear error in a repository without commits.
pub fn head_commit(repo: &Repository) -> Result<git2::Commit<'_>> {
    head_oid(repo)
        .and_then(|oid| repo.find_commit(oid).ok())
        .ok_or_else(|| {
            AppError::new(
                Code::GitError,
                "The repository has no commits yet; an experiment needs a commit to start from.",
                "Commit your project first: `git add -A && git commit -m \"initial\"`.",
            )
        })
}

/// Write the experiment commit: the target files as they are in the work tree (a deleted target
/// is committed as a deletion) on top of `parent`. No ref moves yet: the caller records that it
/// owns the commit first, then moves the branch with [`advance_branch`], so a process killed in
/// between leaves nothing on the branch it did not write down. Only the targets are staged: the
/// caller has checked that nothing else differs from HEAD.
pub fn write_experiment(
    repo: &Repository,
    targets: &[String],
    parent: Oid,
    message: &str,
) -> Result<Oid> {
    let git_err = |e: git2::Error| AppError::git("committing the experiment", &e);
    let workdir = repo.workdir().ok_or_else(|| {
        AppError::new(
            Code::GitError,
            "The repository has no work tree.",
            "Run autoresearch inside a clone with a work tree.",
        )
    })?;
    // Plain target files, and every changed path under a target directory or glob (new files
    // and deletions included).
    let mut paths: Vec<String> = targets.iter().filter(|t| is_plain(t)).cloned().collect();
    if targets.iter().any(|t| !is_plain(t)) {
        paths.extend(
            changed_files(repo, targets)?
                .into_iter()
                .filter(|p| crate::config::is_target_in(targets, p)),
        );
        paths.sort();
        paths.dedup();
    }
    let mut index = repo.index().map_err(git_err)?;
    for t in &paths {
        let path = std::path::Path::new(t);
        if workdir.join(path).symlink_metadata().is_ok() {
            index.add_path(path).map_err(git_err)?;
        } else if index.get_path(path, 0).is_some() {
            index.remove_path(path).map_err(git_err)?;
        }
    }
    with_index_retry(repo, || index.write()).map_err(|e| index_error(repo, e))?;
    let tree = repo
        .find_tree(index.write_tree().map_err(git_err)?)
        .map_err(git_err)?;
    let parent = repo.find_commit(parent).map_err(git_err)?;
    let sig = signature(repo);
    repo.commit(None, &sig, &sig, message, &tree, &[&parent])
        .map_err(git_err)
}

/// Move `refs/heads/<branch>` from `from` to `to`, only if it still points at `from`.
pub fn advance_branch(repo: &Repository, branch: &str, from: Oid, to: Oid) -> Result<()> {
    let refname = format!("refs/heads/{branch}");
    with_lock_retry(&ref_lock(repo, &refname), || {
        repo.reference_matching(&refname, to, true, from, &format!("autoresearch: {to}"))
    })
    .map(|_| ())
        .map_err(|e| {
            AppError::new(
                Code::GitError,
                format!(
                    "`{branch}` moved while the experiment was being committed ({}); nothing was evaluated.",
                    e.message()
                ),
                format!(
                    "Check `git log {branch}`; the experiment is commit {to}, on top of {from}. Retry when the branch is yours again."
                ),
            )
        })
}

/// How an experiment was undone (docs/CONTRACT.md §7 step 8).
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// The branch, the index and (unless asked to keep it) the targets in the work tree are
    /// back at the parent.
    Done,
    /// The branch is back at the parent, but HEAD is no longer on it (someone switched during
    /// the eval): the index and the work tree belong to that other checkout and were not
    /// touched.
    BranchOnly { head: Option<String> },
    /// Nothing was moved: the branch no longer points at the experiment commit (a commit was
    /// made on it, or it was reset, during the eval).
    Skipped { branch_at: Option<Oid> },
}

/// What to put back when undoing an experiment.
pub struct UndoSpec<'a> {
    pub branch: &'a str,
    /// The experiment commit the branch must still point at.
    pub experiment: Oid,
    pub parent: Oid,
    pub targets: &'a [String],
    /// Leave the target files in the work tree as they are (an interrupted step gives the
    /// agent its edit back, uncommitted).
    pub keep_worktree: bool,
}

/// Undo an experiment commit, touching only what the step owns.
///
/// The branch moves by compare-and-swap: only if it still points at the experiment commit.
/// The index and the work tree are touched only if HEAD is still that branch, and only for the
/// target files (untracked files and notes in `program.md` stay). The order is chosen so that
/// a failure part-way leaves a state `git` describes plainly: first the branch (atomic), then
/// the index (retried while another process holds `index.lock`), then the work tree. A failure
/// after the branch moved is an error saying exactly what is left, with exact object ids.
pub fn undo_experiment(repo: &Repository, spec: &UndoSpec) -> Result<Undo> {
    let refname = format!("refs/heads/{}", spec.branch);
    let at = repo.find_reference(&refname).ok().and_then(|r| r.target());
    if at != Some(spec.experiment) {
        return Ok(Undo::Skipped { branch_at: at });
    }
    let message = format!("autoresearch: undo {}", spec.experiment);
    let swapped = with_lock_retry(&ref_lock(repo, &refname), || {
        repo.reference_matching(&refname, spec.parent, true, spec.experiment, &message)
    });
    match swapped {
        Ok(_) => {}
        // Moved between the look and the swap: someone else owns the branch now.
        Err(e) if e.code() == git2::ErrorCode::Modified => {
            let at = repo.find_reference(&refname).ok().and_then(|r| r.target());
            return Ok(Undo::Skipped { branch_at: at });
        }
        Err(e) => return Err(AppError::git(format!("moving `{refname}` back"), &e)),
    }
    let head = repo.find_reference("HEAD").ok();
    let on_branch = head
        .as_ref()
        .and_then(|h| h.symbolic_target())
        .is_some_and(|t| t == refname);
    if !on_branch {
        return Ok(Undo::BranchOnly {
            head: current_branch(repo),
        });
    }
    let restore = format!(
        "`git checkout {} -- {}`",
        spec.parent,
        crate::text::shell_words(spec.targets.iter().map(String::as_str))
    );
    let parent = repo
        .find_commit(spec.parent)
        .map_err(|e| AppError::git("reading the parent commit", &e))?;
    let paths = undo_paths(repo, spec).map_err(|e| {
        AppError::new(
            Code::GitError,
            format!(
                "`{}` is back at {}, but the target paths to restore could not be listed ({}): the experiment's change is left in the index and the work tree, uncommitted.",
                spec.branch, spec.parent, e.message
            ),
            format!("Run {restore} to drop it."),
        )
    })?;
    // An empty path list would mean "every path": only reset when there is something.
    with_index_retry(repo, || {
        if paths.is_empty() {
            return Ok(());
        }
        repo.reset_default(Some(parent.as_object()), paths.iter())
    })
    .map_err(|e| {
        AppError::new(
            Code::GitError,
            format!(
                "`{}` is back at {}, but the index could not be updated ({}): the experiment's change to the target is staged, uncommitted.",
                spec.branch,
                spec.parent,
                e.message()
            ),
            format!("Run {restore} to drop it, or commit it knowingly."),
        )
    })?;
    if spec.keep_worktree {
        return Ok(Undo::Done);
    }
    restore_targets(repo, &parent, &paths).map_err(|e| {
        AppError::new(
            Code::GitError,
            format!(
                "`{}` and the index are back at {}, but the target files could not be restored ({}): the experiment's change is left in the work tree, uncommitted.",
                spec.branch, spec.parent, e.message
            ),
            format!("Run {restore} to drop it."),
        )
    })?;
    Ok(Undo::Done)
}

/// The paths an undo puts back: the plain target files, every path the experiment commit
/// changed (under a target directory or glob: files it added, changed or deleted), and new
/// files under a target directory or glob in the work tree now (the eval's). Sorted.
fn undo_paths(repo: &Repository, spec: &UndoSpec) -> Result<Vec<String>> {
    let git_err = |e: git2::Error| AppError::git("reading the experiment commit", &e);
    let mut paths: Vec<String> = spec
        .targets
        .iter()
        .filter(|t| is_plain(t))
        .cloned()
        .collect();
    if spec.targets.iter().any(|t| !is_plain(t)) {
        let tree_of = |oid: Oid| repo.find_commit(oid).and_then(|c| c.tree());
        let (old, new) = (
            tree_of(spec.parent).map_err(git_err)?,
            tree_of(spec.experiment).map_err(git_err)?,
        );
        let diff = repo
            .diff_tree_to_tree(Some(&old), Some(&new), None)
            .map_err(git_err)?;
        for d in diff.deltas() {
            for f in [d.old_file(), d.new_file()] {
                if let Some(p) = f.path().and_then(|p| p.to_str()) {
                    paths.push(p.to_string());
                }
            }
        }
        paths.extend(
            changed_files(repo, spec.targets)?
                .into_iter()
                .filter(|p| crate::config::is_target_in(spec.targets, p)),
        );
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Remove `index.lock` when no process has it open: what a step killed while it wrote the
/// index leaves behind. Returns what was done, for a warning.
pub fn remove_stale_index_lock(repo: &Repository) -> Option<String> {
    let lock = repo.path().join("index.lock");
    remove_if_stale(&lock).then(|| {
        format!(
            "Removed `{}`, left by the dead step (no process had it open).",
            lock.display()
        )
    })
}

/// Remove the lock file `lock` if it exists and no process has it open. git and libgit2 keep a
/// lock file open from the moment they create it until they rename it into place, so a lock
/// nobody holds is a leftover of a killed process. Linux only (it reads `/proc/*/fd`);
/// elsewhere nothing is removed.
fn remove_if_stale(lock: &std::path::Path) -> bool {
    if !cfg!(target_os = "linux") || !lock.exists() {
        return false;
    }
    let held = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|p| {
            std::fs::read_dir(p.path().join("fd"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock))
        });
    !held && std::fs::remove_file(lock).is_ok()
}

/// The lock file of a loose ref (`refs/heads/x` → `.git/refs/heads/x.lock`, in the common
/// directory that linked worktrees share).
fn ref_lock(repo: &Repository, refname: &str) -> std::path::PathBuf {
    repo.commondir().join(format!("{refname}.lock"))
}

/// An index that could not be written: when it is locked, say which file and what to do.
fn index_error(repo: &Repository, e: git2::Error) -> AppError {
    if e.code() != git2::ErrorCode::Locked {
        return AppError::git("committing the experiment", &e);
    }
    let lock = repo.path().join("index.lock");
    AppError::new(
        Code::GitError,
        format!(
            "The index is locked by `{}` (held for more than 2 s); nothing was committed.",
            lock.display()
        ),
        format!(
            "If no git command or editor is working in this repository, the lock is stale: `rm {}`, then retry.",
            crate::text::shell_word(&lock.to_string_lossy())
        ),
    )
}

/// Run an index operation, waiting while another process holds `index.lock`.
fn with_index_retry(
    repo: &Repository,
    op: impl FnMut() -> std::result::Result<(), git2::Error>,
) -> std::result::Result<(), git2::Error> {
    with_lock_retry(&repo.path().join("index.lock"), op)
}

/// Run `op`, which takes the lock file `lock`: while another process holds it (an editor's
/// `git status` takes the index for a moment), wait and retry for about two seconds; if it is
/// still there and nobody holds it open, it is a killed process's leftover: remove it and try
/// once more.
fn with_lock_retry<T>(
    lock: &std::path::Path,
    mut op: impl FnMut() -> std::result::Result<T, git2::Error>,
) -> std::result::Result<T, git2::Error> {
    let mut wait = std::time::Duration::from_millis(5);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match op() {
            Err(e) if e.code() == git2::ErrorCode::Locked => {
                if std::time::Instant::now() >= deadline {
                    return if remove_if_stale(lock) { op() } else { Err(e) };
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// The target paths `targets` (files) in the work tree as they are in `commit` (a path it does
/// not have is removed). Nothing else in the work tree is touched.
fn restore_targets(repo: &Repository, commit: &git2::Commit, targets: &[String]) -> Result<()> {
    let git_err = |e: git2::Error| AppError::git("restoring the target files", &e);
    let tree = commit.tree().map_err(git_err)?;
    let mut present = Vec::new();
    for t in targets {
        let path = std::path::Path::new(t);
        if tree.get_path(path).is_ok() {
            present.push(t.as_str());
        } else if let Some(workdir) = repo.workdir() {
            match std::fs::remove_file(workdir.join(path)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AppError::io(format!("removing `{t}`"), &e)),
            }
            // Directories the removed file leaves empty go too, as `git checkout` does.
            for dir in path.ancestors().skip(1) {
                if dir.as_os_str().is_empty() || std::fs::remove_dir(workdir.join(dir)).is_err() {
                    break;
                }
            }
        }
    }
    // An empty path list would mean "every path": only check out when there is something.
    if !present.is_empty() {
        let mut co = git2::build::CheckoutBuilder::new();
        co.force().update_index(false).disable_pathspec_match(true);
        for p in &present {
            co.path(p);
        }
        repo.checkout_tree(tree.as_object(), Some(&mut co))
            .map_err(git_err)?;
    }
    Ok(())
}

/// Refuse to work while git is in the middle of something (a merge, a rebase...): a commit
/// now would take its conflict markers and end the operation behind the user's back.
pub fn ensure_no_operation(repo: &Repository) -> Result<()> {
    use git2::RepositoryState as S;
    let (what, finish) = match repo.state() {
        S::Clean => return Ok(()),
        S::Merge => (
            "a merge",
            "`git commit` to finish it or `git merge --abort`",
        ),
        S::Revert | S::RevertSequence => (
            "a revert",
            "`git revert --continue` or `git revert --abort`",
        ),
        S::CherryPick | S::CherryPickSequence => (
            "a cherry-pick",
            "`git cherry-pick --continue` or `git cherry-pick --abort`",
        ),
        S::Bisect => ("a bisect", "`git bisect reset`"),
        S::Rebase | S::RebaseInteractive | S::RebaseMerge => (
            "a rebase",
            "`git rebase --continue` or `git rebase --abort`",
        ),
        S::ApplyMailbox | S::ApplyMailboxOrRebase => {
            ("`git am`", "`git am --continue` or `git am --abort`")
        }
    };
    Err(AppError::new(
        Code::OperationInProgress,
        format!(
            "{what} is in progress in this repository; an experiment now would commit its state and end it behind your back."
        ),
        format!("Finish or abort it first ({finish}), then retry."),
    ))
}

/// The commit hooks the repository would run on `git commit` (executable files named like
/// `pre-commit` in `core.hooksPath`, else in the repository's `hooks/`). libgit2 runs none.
pub fn commit_hooks(repo: &Repository) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.hooksPath").ok())
        .map(|p| match repo.workdir() {
            Some(w) if p.is_relative() => w.join(p),
            _ => p,
        })
        .unwrap_or_else(|| repo.commondir().join("hooks"));
    [
        "pre-commit",
        "prepare-commit-msg",
        "commit-msg",
        "post-commit",
    ]
    .iter()
    .filter(|name| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
    .map(|name| name.to_string())
    .collect()
}

/// Does `refs/heads/<name>` exist?
pub fn branch_exists(repo: &Repository, name: &str) -> bool {
    repo.find_branch(name, git2::BranchType::Local).is_ok()
}

/// Create `name` at HEAD and make it the current branch. The work tree and index are not
/// touched: the new branch points at the commit they already match.
pub fn create_and_switch(repo: &Repository, name: &str) -> Result<()> {
    let git_err = |e: git2::Error| AppError::git(format!("creating branch `{name}`"), &e);
    let head = head_commit(repo)?;
    let refname = format!("refs/heads/{name}");
    with_lock_retry(&ref_lock(repo, &refname), || {
        repo.branch(name, &head, false)
    })
    .map_err(git_err)?;
    with_lock_retry(&repo.path().join("HEAD.lock"), || repo.set_head(&refname)).map_err(git_err)
}

/// Is `rel` tracked in HEAD? A directory (`src/solver/`) is when it holds a file; a glob
/// (`heuristics/*.py`) when it matches one.
pub fn in_head(repo: &Repository, rel: &str) -> bool {
    let Some(tree) = head_commit(repo).ok().and_then(|c| c.tree().ok()) else {
        return false;
    };
    if is_plain(rel) || rel.ends_with('/') {
        tree.get_path(std::path::Path::new(rel.trim_end_matches('/')))
            .is_ok()
    } else {
        !tree_paths(&tree, |p| crate::config::target_matches(rel, p)).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_ref_lock_is_removed_and_the_update_goes_through() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@t").unwrap();
        let tree = repo
            .find_tree(repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        let a = repo
            .commit(Some("HEAD"), &sig, &sig, "a", &tree, &[])
            .unwrap();
        let parent = repo.find_commit(a).unwrap();
        let b = repo
            .commit(None, &sig, &sig, "b", &tree, &[&parent])
            .unwrap();
        let branch = current_branch(&repo).unwrap();
        let lock = ref_lock(&repo, &format!("refs/heads/{branch}"));
        std::fs::write(&lock, "").unwrap();
        advance_branch(&repo, &branch, a, b).unwrap();
        assert!(!lock.exists());
        assert_eq!(head_oid(&repo), Some(b));
        // A lock someone holds open is waited for, then reported, never removed.
        let held = std::fs::File::create(&lock).unwrap();
        assert!(advance_branch(&repo, &branch, b, a).is_err());
        assert!(lock.exists());
        drop(held);
    }

    #[test]
    fn only_a_lock_nobody_holds_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let lock = repo.path().join("index.lock");
        assert_eq!(
            remove_stale_index_lock(&repo),
            None,
            "no lock, nothing to do"
        );
        let held = std::fs::File::create(&lock).unwrap();
        assert_eq!(
            remove_stale_index_lock(&repo),
            None,
            "an open lock is someone's"
        );
        assert!(lock.exists());
        drop(held);
        assert!(remove_stale_index_lock(&repo).is_some());
        assert!(!lock.exists());
    }
}
