//! `sync`: one ledger across machines through any git remote (docs/ARCHITECTURE.md, "Many
//! machines"), with the user's `git` (its remotes, credentials and ssh agent; libgit2 here has
//! no network transports).
//!
//! Each clone is a worker with a stable id ([`worker`]). It publishes its shard — the ledger
//! lines it wrote — in files of 1,000 lines (`00000000.jsonl`, ...) in a chain of commits at
//! `refs/autoresearch/ledger/<worker>`: each publication is a child of the previous one, so a
//! push is always a fast-forward and never needs force; a remote that holds something else
//! under our name rejects it, and nothing changes there ([`refs`]). The commits its records
//! evaluated travel at `refs/autoresearch/commits/<worker>/<id>`. Other workers' shards are fetched
//! under `refs/autoresearch/fetched/<remote>/<worker>` and their new records appended to the
//! local ledger in causal order ([`merge`]). Nothing here touches the user's branches, index
//! or work tree.

pub mod merge;
pub mod refs;
pub mod worker;

use serde::Serialize;

use crate::error::{AppError, Code, Result};
use crate::ledger::Record;
use crate::project::Loaded;
use merge::{Local, ShardCount};
use refs::{Git, Pushed};

/// The remote a `sync` without one prefers.
pub const DEFAULT_REMOTE: &str = "origin";

/// What one `sync` did (or, with `dry_run`, would do).
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub remote: String,
    /// This clone's worker id (null in a dry run before the first sync: none is made then).
    pub worker: Option<String>,
    pub dry_run: bool,
    /// Records of this worker in its published shard.
    pub published: u64,
    /// The tip of this worker's chain after the sync (null in a dry run).
    pub chain: Option<String>,
    /// Each other worker the remote knows: its records, and how many were new here.
    pub workers: Vec<ShardCount>,
    /// Records appended to this ledger (would be, in a dry run).
    pub added: u64,
    /// Experiment commits newly kept at `refs/autoresearch/commits/<worker>/<id>` for the push.
    pub commits: usize,
    /// The remote has this worker's chain and commits (false in a dry run).
    pub pushed: bool,
}

/// Sync with `remote`: fetch every worker's shard, append what is new here, publish this
/// worker's shard and push it. Returns the outcome and warnings.
pub fn sync(loaded: &Loaded, remote: &str, dry_run: bool) -> Result<(Outcome, Vec<String>)> {
    let git = Git::new(&loaded.project.main_root);
    let state = loaded.project.state_dir();
    let known = worker::current(&state)?;
    let fetched = git.fetch(remote)?;
    let me = known.clone().unwrap_or_default();
    let mut shards = Vec::new();
    for (w, commit) in &fetched {
        if w != &me && worker::valid(w) {
            shards.push((w.clone(), git.read_shard(commit)?));
        }
    }
    let mut outcome = Outcome {
        remote: remote.to_string(),
        worker: known,
        dry_run,
        published: 0,
        chain: None,
        workers: Vec::new(),
        added: 0,
        commits: 0,
        pushed: false,
    };
    if dry_run {
        let local = local_of(loaded)?;
        let plan = merge::plan(&local, &me, &shards);
        outcome.added = plan.incoming.len() as u64;
        outcome.workers = plan.shards;
        outcome.published = count_lines(&merge::own_lines(&read_ledger(loaded)?));
        return Ok((outcome, plan.warnings));
    }
    loaded.project.ensure_state_dir()?;
    let _one_at_a_time = lock(&state)?;
    let me = worker::adopt(&state)?;
    outcome.worker = Some(me.clone());
    let mut warnings = Vec::new();
    let loops = crate::loopfile::Loops::of(&loaded.project, &loaded.config.branch);
    let written = loaded.ledger.append_many_around(
        || loops.reserved(),
        |next, _| {
            // Under the lock: what the ledger holds cannot change meanwhile.
            let mut local = local_of(loaded)?;
            let plan = merge::plan(&local, &me, &shards);
            outcome.workers = plan.shards.clone();
            let (records, w) =
                merge::materialize(plan, &mut local, loaded.ledger.default_branch(), next)?;
            warnings.extend(w);
            pin_runs(loaded, &records, &mut warnings);
            Ok(records)
        },
    )?;
    warnings.extend(written.warnings);
    outcome.added = written.records.len() as u64;
    let own = merge::own_lines(&read_ledger(loaded)?);
    outcome.published = count_lines(&own);
    outcome.chain = Some(git.publish(&me, &own)?.commit);
    outcome.commits = git.pin_commits(&me, &own_commits(&own))?;
    match git.push(remote, &me)? {
        Pushed::Done => outcome.pushed = true,
        Pushed::Rejected(why) => return Err(rejected(remote, &me, &why, outcome.added)),
    }
    Ok((outcome, warnings))
}

/// One sync of a clone at a time (`flock` on `.autoresearch/sync.lock`, released when the
/// holder ends, however it ends): two at once could push an older tip of this worker's chain
/// after a newer one, which the remote would rightly refuse as a rewind. A second sync waits.
fn lock(state: &std::path::Path) -> Result<std::fs::File> {
    let path = state.join("sync.lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| AppError::io(format!("opening `{}`", path.display()), &e))?;
    file.lock()
        .map_err(|e| AppError::io(format!("locking `{}`", path.display()), &e))?;
    Ok(file)
}

/// The remote a `sync` without one uses: `origin`, else the repository's only remote.
pub fn default_remote(root: &std::path::Path) -> Result<String> {
    let remotes = Git::new(root).remotes()?;
    if remotes.iter().any(|r| r == DEFAULT_REMOTE) {
        return Ok(DEFAULT_REMOTE.to_string());
    }
    if let [only] = remotes.as_slice() {
        return Ok(only.clone());
    }
    let known = if remotes.is_empty() {
        "it has no remote".to_string()
    } else {
        format!(
            "it has {}",
            crate::text::code_list(remotes.iter().map(String::as_str))
        )
    };
    Err(AppError::usage(
        format!("No remote was named, and this repository has no `{DEFAULT_REMOTE}`: {known}."),
        "Name one: `autoresearch sync <remote>`, a remote's name, a URL or the path of a bare repository (`git init --bare /shared/project.git` makes one on a shared disk).",
    ))
}

fn rejected(remote: &str, me: &str, why: &str, added: u64) -> AppError {
    AppError::new(
        Code::SyncRejected,
        format!(
            "`{remote}` refused this worker's ledger chain ({why}): it holds another chain under the id `{me}`. Nothing changed on the remote; {added} record(s) of other workers were added here."
        ),
        format!(
            "Another clone publishes as `{me}` (a copied `.autoresearch/worker`, or the same AUTORESEARCH_WORKER), or this clone's chain was reset. Give this clone an id of its own (delete `.autoresearch/worker`, or set AUTORESEARCH_WORKER to a new name), then run `autoresearch sync {remote}` again."
        ),
    )
}

fn read_ledger(loaded: &Loaded) -> Result<Vec<u8>> {
    match std::fs::read(&loaded.ledger.path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(AppError::io(
            format!("reading `{}`", loaded.ledger.path.display()),
            &e,
        )),
    }
}

/// What the ledger holds, read in one pass without keeping the records.
fn local_of(loaded: &Loaded) -> Result<Local> {
    let mut local = Local::default();
    loaded.ledger.for_each(|_, r| {
        local.add(&r);
        true
    })?;
    Ok(local)
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// `(id, commit)` of each of this worker's records that names a commit.
fn own_commits(own: &[u8]) -> Vec<(String, String)> {
    own.split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Record>(l).ok())
        .filter_map(|r| Some((r.id, r.commit?)))
        .collect()
}

/// Pin each brought record's commit at its run's ref here, when the commit came with the
/// fetch, so `diff` and `log` reach it as they reach this worker's runs.
fn pin_runs(loaded: &Loaded, records: &[Record], warnings: &mut Vec<String>) {
    let repo = &loaded.project.repo;
    for r in records {
        let Some(oid) = r
            .commit
            .as_deref()
            .and_then(|c| git2::Oid::from_str(c).ok())
        else {
            continue;
        };
        if repo.find_commit(oid).is_err() {
            continue;
        }
        if let Err(e) = crate::git::set_run_ref(repo, r.run, oid) {
            warnings.push(format!(
                "Run {} is brought in, but {}",
                r.label(),
                e.message
            ));
        }
    }
}
