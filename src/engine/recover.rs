//! Cleaning up after a step that died (SIGKILL, the OOM killer, an agent harness's timeout),
//! before the next step on its branch starts (docs/RELIABILITY.md 27). The branch's loop state
//! says what the dead step owned; this phase kills the eval it left running, puts the branch
//! back if it still points at the never-recorded experiment commit (compare-and-swap: a branch
//! someone else moved is left alone), pins that commit at its run ref and records it as a
//! `crash` with reason `abandoned`, so that never-evaluated code cannot slip into later
//! experiments.

use git2::Oid;

use super::Event;
use crate::error::Result;
use crate::git::{self, Undo, UndoSpec};
use crate::ledger::{self, Record, Status};
use crate::loopfile::{self, LoopState};
use crate::project::Loaded;

/// The `reason` of a run whose step died before it recorded it.
pub const ABANDONED: &str = "abandoned";

/// Clean up after `dead`, the state a step left when its process died.
/// `others` gives the run numbers steps in progress on other branches reserved (the record
/// skips them).
pub(super) fn recover(
    loaded: &Loaded,
    locked: &str,
    dead: &LoopState,
    others: &dyn Fn() -> Vec<u64>,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    let who = format!("process {} on `{}`", dead.pid, dead.host);
    let run = dead
        .run
        .map(|r| format!(" during run #{r}"))
        .unwrap_or_default();
    on(Event::Warning(format!(
        "Took over the loop of `{locked}` from {who}, which stopped{run}."
    )));
    let owns = &dead.owns;
    // Its eval's group, then any process still carrying its step's token (one that left the
    // group, or was started before the group was written down).
    let group = matches!((owns.pgid, owns.pgid_start), (Some(g), Some(s)) if loopfile::kill_group_if_ours(g, s));
    let strays = owns
        .step
        .as_deref()
        .map_or(0, loopfile::kill_step_processes);
    if group || strays > 0 {
        on(Event::Warning(format!(
            "Killed what its eval left running ({}).",
            match (group, strays) {
                (true, 0) => format!("process group {}", owns.pgid.unwrap_or_default()),
                (_, n) => format!("{n} process{}", if n == 1 { "" } else { "es" }),
            }
        )));
    }
    // Its eval may have been the client of a job elsewhere, which dies with no local process.
    if owns.pgid.is_some() {
        cancel_remote(loaded, dead, on);
    }
    if let Some(said) = git::remove_stale_index_lock(&loaded.project.repo) {
        on(Event::Warning(said));
    }
    let (Some(branch), Some(commit), Some(parent)) = (&owns.branch, &owns.commit, &owns.parent)
    else {
        // It had made no commit yet: nothing on the branch to undo, nothing to record.
        return Ok(());
    };
    let (Ok(commit), Ok(parent)) = (Oid::from_str(commit), Oid::from_str(parent)) else {
        on(Event::Warning(format!(
            "The loop state names commits that are not object ids (`{commit}`, `{parent}`); nothing was undone."
        )));
        return Ok(());
    };
    // Killed after its record was written: the step is complete but for its loop state. Only a
    // step's own record counts (a manual `record` of the same commit does not evaluate it).
    let hash = commit.to_string();
    let mut recorded = false;
    loaded.ledger.for_each(|_, r| {
        recorded |= r.source == "run" && r.commit.as_deref() == Some(hash.as_str());
        !recorded
    })?;
    if recorded {
        return Ok(());
    }
    undo(loaded, branch, commit, parent, on);
    record(loaded, branch, commit, parent, dead, others, on)
}

/// `cancel_command` for the job a dead step's eval may have started elsewhere, with what the
/// eval was given as far as the loop state knows it (its id, run, branch and commit; the
/// fork's own variables first), its output in `runs/abandoned-<id>.log`.
fn cancel_remote(loaded: &Loaded, dead: &LoopState, on: &mut dyn FnMut(Event)) {
    let owns = &dead.owns;
    let (Some(id), Some(_)) = (owns.step.as_deref(), &loaded.config.cancel_command) else {
        return;
    };
    let branch = owns.branch.as_deref().unwrap_or(&loaded.config.branch);
    let mut env = crate::forkfile::env_of(&loaded.project, branch);
    let mut set = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            env.push((name.to_string(), v));
        }
    };
    set("AUTORESEARCH_RUN", dead.run.map(|r| r.to_string()));
    set("AUTORESEARCH_ID", Some(id.to_string()));
    set(loopfile::STEP_VAR, Some(id.to_string()));
    set("AUTORESEARCH_BRANCH", Some(branch.to_string()));
    set("AUTORESEARCH_COMMIT", owns.commit.clone());
    set(
        "AUTORESEARCH_WORKTREE",
        Some(loaded.project.root.to_string_lossy().into_owned()),
    );
    // A log of its own: the next step may take the dead one's run number, and its log.
    let log = loaded
        .project
        .runs_dir()
        .join(format!("abandoned-{id}.log"));
    // Made here: the cancel's lines are only ever appended.
    let _ = std::fs::create_dir_all(loaded.project.runs_dir());
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log);
    on(Event::Warning(format!(
        "Ran `cancel_command` for the job its eval may have left running elsewhere (`AUTORESEARCH_ID={id}`); its output is in `{}`.",
        log.display()
    )));
    super::cancel::run_cancel(
        &loaded.config,
        &loaded.project.root,
        &log,
        &env,
        "its step died",
        on,
    );
}

/// The branch back to the parent if it still points at the orphan; the edit stays in the work
/// tree, uncommitted, so the next evaluation includes it.
fn undo(loaded: &Loaded, branch: &str, commit: Oid, parent: Oid, on: &mut dyn FnMut(Event)) {
    let spec = UndoSpec {
        branch,
        experiment: commit,
        parent,
        targets: &loaded.config.target_files,
        keep_worktree: true,
    };
    let said = match git::undo_experiment(&loaded.project.repo, &spec) {
        Ok(Undo::Done) => format!(
            "Its commit {commit} was never evaluated: `{branch}` is back at {parent}, and the change is in the work tree, uncommitted."
        ),
        Ok(Undo::BranchOnly { .. }) => format!(
            "Its commit {commit} was never evaluated: `{branch}` is back at {parent} (HEAD is elsewhere; the work tree was not touched)."
        ),
        Ok(Undo::Skipped { branch_at }) if branch_at == Some(parent) => {
            format!("Its commit {commit} was never evaluated and never reached `{branch}`.")
        }
        Ok(Undo::Skipped { .. }) => format!(
            "Its commit {commit} was never evaluated; `{branch}` has moved since, so it was left as it is."
        ),
        Err(e) => format!(
            "Its commit {commit} was never evaluated, but: {} {}",
            e.message, e.suggestion
        ),
    };
    on(Event::Warning(said));
}

/// The orphan as a `crash` with reason `abandoned`, pinned at its run ref.
fn record(
    loaded: &Loaded,
    branch: &str,
    commit: Oid,
    parent: Oid,
    dead: &LoopState,
    others: &dyn Fn() -> Vec<u64>,
    on: &mut dyn FnMut(Event),
) -> Result<()> {
    let repo = &loaded.project.repo;
    // The summary the dead step committed under: `autoresearch #<run>: <summary>`.
    let summary = repo
        .find_commit(commit)
        .ok()
        .and_then(|c| c.summary().map(str::to_string))
        .and_then(|m| m.split_once(": ").map(|(_, s)| s.to_string()))
        .unwrap_or_default();
    let mut pin_failed = None;
    let appended = loaded.ledger.append_around(others, |run, _| {
        pin_failed = git::set_run_ref(repo, run, commit).err();
        Ok(Record {
            // The id the dead step's eval was given (`AUTORESEARCH_ID`), when it got that far.
            id: dead.owns.step.clone().unwrap_or_else(ledger::new_id),
            timestamp: ledger::now_timestamp(),
            metric: None,
            metrics: Default::default(),
            samples: Vec::new(),
            delta: None,
            summary: summary.clone(),
            commit: Some(commit.to_string()),
            parent: Some(parent.to_string()),
            branch: Some(branch.to_string()),
            duration_s: None,
            exit_code: None,
            reason: Some(ABANDONED.to_string()),
            flags: Vec::new(),
            source: "run".to_string(),
            code: None,
            setup: None,
            hardware: loaded.config.hardware.clone(),
            ..Record::new(run, Status::Crash)
        })
    })?;
    for w in appended.warnings {
        on(Event::Warning(w));
    }
    let rec = appended.record;
    if let Some(e) = pin_failed {
        on(Event::Warning(format!(
            "The abandoned run is recorded, but {}",
            e.message
        )));
    }
    on(Event::Warning(format!(
        "Recorded it as run #{} (crash, reason `{ABANDONED}`; the step of process {} never finished).",
        rec.run, dead.pid
    )));
    Ok(())
}
