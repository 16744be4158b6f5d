//! The loop: one `run` step at a time per branch and per work tree (docs/CONTRACT.md §10).
//!
//! Each branch has a lock, `.autoresearch/loops/branches/<branch>.lock`, and a visible state,
//! `<branch>.json` beside it: who runs that branch's loop, and what its step owns. Written by
//! `run` while it holds the lock, read by `status` and `doctor`. A holder whose process is gone
//! is *stale*; the step it left is *abandoned*, and the next `run` on that branch cleans it up
//! (`engine::recover`) from what the state says the step owned: its experiment commit and
//! parent, and its eval's process group.
//!
//! Each work tree has a lock too, `.autoresearch/loops/worktrees/<hash>.lock`: a step evaluates
//! the files of its work tree, so a second `run` there (after a `git switch` to another fork)
//! would change them under the first one's eval. A step takes the work tree's lock, then the
//! branch's, both without waiting, and holds both to its end ([`LoopLock`]). Each is an
//! exclusive `flock`: it dies with its holder, so two `run`s racing cannot both get it and a
//! killed one never leaves it stuck (docs/RELIABILITY.md 19). The state is only what others see;
//! when the branch's flock is free but its state still says a step is active, that step's writer
//! died mid-step and is taken over with a warning.
//!
//! Earlier versions kept one state for the whole repository, `.autoresearch/loop.json`. It is
//! never written now, and read as the state of the branch it names until that branch has a
//! state of its own ([`Loops`]), so an upgrade loses neither a dead step nor where the last step
//! left its branch.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, Code, Result};
use crate::project::{self, BranchLoop, Project};

/// How often a running step refreshes `heartbeat_at` (at most).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A holder on another host (a shared file system, where our flock may not reach it) counts as
/// alive while its heartbeat is younger than this.
const REMOTE_ALIVE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub pid: u32,
    pub host: String,
    /// When this holder took the lock (RFC 3339 UTC).
    pub started_at: String,
    /// How many `run` steps this loop has performed (1-based, counted across steps).
    pub iteration: u64,
    /// Last sign of life (RFC 3339 UTC).
    pub heartbeat_at: String,
    /// True while a step is in progress; false once the step released the lock.
    pub active: bool,
    /// The run number being evaluated, when known.
    #[serde(default)]
    pub run: Option<u64>,
    /// What the step in progress owns, written as it acquires it.
    #[serde(default)]
    pub owns: Owned,
    /// Where the last finished step left its branch: commits after it were made by hand.
    #[serde(default)]
    pub left: Option<Left>,
}

/// The branch tip a finished step left, and the run it recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Left {
    pub branch: String,
    pub commit: String,
    pub run: u64,
}

/// What a step owns, so that the next step can clean up after one that died.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Owned {
    /// The branch the step runs on.
    #[serde(default)]
    pub branch: Option<String>,
    /// The experiment commit the step made, and its parent (only when it made one).
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub parent: Option<String>,
    /// A token unique to the step, in the environment of every process its eval starts
    /// (`AUTORESEARCH_STEP`): how the next step finds them, even those that left the group or
    /// were started before the group was written down.
    #[serde(default)]
    pub step: Option<String>,
    /// The eval's process group, and its leader's start time: a number the kernel may give to
    /// another process later, so the group is ours only while the start time matches.
    #[serde(default)]
    pub pgid: Option<i32>,
    #[serde(default)]
    pub pgid_start: Option<u64>,
}

/// Read a loop state; `None` when absent or unreadable (it is advisory, never trusted blindly).
pub fn read(path: &Path) -> Option<LoopState> {
    read_checked(path).ok().flatten()
}

/// Read a loop state, saying why when it exists but cannot be read (a reader warns about it).
pub fn read_checked(path: &Path) -> std::result::Result<Option<LoopState>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("`{}` cannot be read ({e})", path.display())),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        format!(
            "`{}` is not valid ({e}); if a `run` died, what its step owned is unknown: check `git log` for an unrecorded `autoresearch #<run>` commit",
            path.display()
        )
    })
}

/// The loop files of a project: `.autoresearch/loops/`, and the legacy `loop.json` with the
/// branch it stands for when it names none (the configured branch).
#[derive(Debug, Clone)]
pub struct Loops {
    pub dir: PathBuf,
    pub legacy: PathBuf,
    pub configured: String,
}

/// One branch's loop, as a reader finds it.
#[derive(Debug)]
pub struct BranchState {
    pub branch: String,
    /// The file it was read from (the legacy `loop.json` for a branch without its own).
    pub path: PathBuf,
    /// The state, or why it could not be read (a reader warns).
    pub state: std::result::Result<LoopState, String>,
}

impl LoopState {
    /// The branch a legacy `loop.json` is the state of: the one its step owned, else the one the
    /// last step left, else `configured`.
    fn legacy_branch<'a>(&'a self, configured: &'a str) -> &'a str {
        self.owns
            .branch
            .as_deref()
            .or(self.left.as_ref().map(|l| l.branch.as_str()))
            .unwrap_or(configured)
    }
}

impl Loops {
    /// The loop files of `project`, whose configured branch is `configured`.
    pub fn of(project: &Project, configured: &str) -> Loops {
        Loops {
            dir: project.loops_dir(),
            legacy: project.legacy_loop_path(),
            configured: configured.to_string(),
        }
    }

    /// The state of `branch`: its own file, else the legacy `loop.json` when that is this
    /// branch's. Returns the file read too (`None`: neither exists).
    fn state_of(&self, branch: &str) -> (PathBuf, std::result::Result<Option<LoopState>, String>) {
        let own = project::branch_loop(&self.dir, branch).state;
        if own.exists() {
            let read = read_checked(&own);
            return (own, read);
        }
        let legacy = read_checked(&self.legacy)
            .ok()
            .flatten()
            .filter(|s| s.legacy_branch(&self.configured) == branch);
        (self.legacy.clone(), Ok(legacy))
    }

    /// Every branch's loop, sorted by branch: each `<branch>.json` under `loops/branches/` (a
    /// branch with a `/` is in subdirectories), and the legacy `loop.json` for the branch it
    /// stands for when that branch has no state of its own. A file that cannot be read is listed
    /// with why, never an error.
    pub fn list(&self) -> Vec<BranchState> {
        let root = self.dir.join(project::BRANCH_LOOPS);
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                // Git refuses a branch part that starts with `.`: those are our temp files.
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                    continue;
                }
                let branch = path
                    .strip_prefix(&root)
                    .ok()
                    .and_then(Path::to_str)
                    .and_then(|rel| rel.strip_suffix(".json"));
                let Some(branch) = branch.filter(|b| !b.is_empty()) else {
                    continue;
                };
                let state = match read_checked(&path) {
                    Ok(None) => continue,
                    Ok(Some(s)) => Ok(s),
                    Err(why) => Err(why),
                };
                found.push(BranchState {
                    branch: branch.to_string(),
                    path,
                    state,
                });
            }
        }
        let legacy = match read_checked(&self.legacy) {
            Ok(None) => None,
            Ok(Some(s)) => Some((s.legacy_branch(&self.configured).to_string(), Ok(s))),
            Err(why) => Some((self.configured.clone(), Err(why))),
        };
        if let Some((branch, state)) = legacy
            && !found.iter().any(|f| f.branch == branch)
        {
            found.push(BranchState {
                branch,
                path: self.legacy.clone(),
                state,
            });
        }
        found.sort_by(|a, b| a.branch.cmp(&b.branch));
        found
    }

    /// The run numbers that `run` steps in progress on other branches than `branch` reserved:
    /// what the ledger must not give anyone else (`Ledger::reserve`).
    pub fn reserved_by_others(&self, branch: &str) -> Vec<u64> {
        self.list()
            .into_iter()
            .filter(|b| b.branch != branch)
            .filter_map(|b| b.state.ok())
            .filter(LoopState::running)
            .filter_map(|s| s.run)
            .collect()
    }

    /// The run numbers every `run` step in progress reserved: what a command that is not a step
    /// (`fork`, `merge-best`) must not take.
    pub fn reserved(&self) -> Vec<u64> {
        self.reserved_by_others("")
    }
}

/// When process `pid` started, in clock ticks since boot (Linux: field 22 of `/proc/<pid>/stat`);
/// `None` when it is gone or the system does not say.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The environment variable that marks every process of a step's eval.
pub const STEP_VAR: &str = "AUTORESEARCH_STEP";

/// Kill every process (but this one) whose environment says it belongs to step `token`: what a
/// dead step's eval left running (Linux: `/proc/<pid>/environ`). Returns how many were killed.
pub fn kill_step_processes(token: &str) -> usize {
    let needle = format!("{STEP_VAR}={token}");
    let me = std::process::id();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(me) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            // SAFETY: plain syscall; the process carries this step's token.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    killed
}

/// Kill the process group `pgid` if its leader is still the process that started at `start`
/// (a recycled number belongs to someone else). Returns whether it was killed.
pub fn kill_group_if_ours(pgid: i32, start: u64) -> bool {
    if pgid <= 0 || process_start(pgid) != Some(start) {
        return false;
    }
    // SAFETY: plain syscall; the group's leader was checked to be the one we started.
    unsafe { libc::killpg(pgid, libc::SIGKILL) == 0 }
}

/// This machine's name, for telling a holder on another host from a dead one.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub use crate::fsutil::pid_alive;

impl LoopState {
    /// A step is in progress and its process is alive (or on another host, so unknowable).
    pub fn running(&self) -> bool {
        self.active && (self.host != hostname() || pid_alive(self.pid))
    }

    /// Claims to be running, but its process on this host is gone.
    pub fn stale(&self) -> bool {
        self.active && self.host == hostname() && !pid_alive(self.pid)
    }
}

fn now() -> String {
    crate::ledger::now_timestamp()
}

/// Seconds since an RFC 3339 timestamp; `None` when it does not parse.
fn age(timestamp: &str) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(timestamp).ok()?;
    (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .to_std()
        .ok()
}

/// What taking the lock found.
#[derive(Debug, Default)]
pub struct Taken {
    /// The previous holder died during a step: what the branch's state says it was doing.
    pub abandoned: Option<LoopState>,
    /// The branch's state could not be read.
    pub warning: Option<String>,
}

/// The loop locks of one `run` step: its work tree's and its branch's. Dropping it marks the
/// branch's state idle (best effort) and releases both flocks.
pub struct LoopLock {
    _worktree: Option<File>,
    _branch: File,
    path: PathBuf,
    previous: Option<LoopState>,
    state: Option<LoopState>,
    last_beat: Instant,
}

/// Which loop lock another `run` holds.
#[derive(Debug, Clone, Copy)]
enum Held<'a> {
    /// This work tree's, at this root.
    Worktree(&'a Path),
    Branch(&'a str),
}

/// Take the flock at `path` without waiting and write our pid into it; a holder is
/// `loop_running`, naming its pid (what it wrote).
fn take_flock(path: &Path, held: Held) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir.display(), &e))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| AppError::io(path.display(), &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_string()
            } else {
                format!("process {holder}")
            };
            return Err(running_error(held, &who));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(AppError::io(format!("locking `{}`", path.display()), &e));
        }
    }
    // Name the holder for whoever is refused next.
    let _ = file.set_len(0);
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.write_all(format!("{}\n", std::process::id()).as_bytes());
    Ok(file)
}

/// Does an older version's `run` hold the legacy loop lock (`loop.lock` beside `loop.json`)?
fn legacy_held(legacy: &Path) -> bool {
    let Ok(file) = File::open(legacy.with_file_name("loop.lock")) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

impl Loops {
    /// Take the loop locks of a step on `branch` in the work tree at `worktree_root`: the work
    /// tree's first, then the branch's, without waiting: a live holder of either is
    /// `loop_running`. Returns the lock and, when the branch's previous holder died during a
    /// step, what that step owned (the caller cleans it up). A state that cannot be read is a
    /// warning.
    pub fn acquire(&self, worktree_root: &Path, branch: &str) -> Result<(LoopLock, Taken)> {
        self.acquire_in(Some(worktree_root), branch)
    }

    /// [`Loops::acquire`], with the work tree's lock only when there is one: a branch checked
    /// out nowhere (`merge-best` moving a base no work tree holds) needs its own lock alone.
    pub fn acquire_in(
        &self,
        worktree_root: Option<&Path>,
        branch: &str,
    ) -> Result<(LoopLock, Taken)> {
        let worktree = worktree_root
            .map(|root| {
                take_flock(
                    &project::worktree_lock_path(&self.dir, root),
                    Held::Worktree(root),
                )
            })
            .transpose()?;
        let BranchLoop { lock, state: path } = project::branch_loop(&self.dir, branch);
        let branch_file = take_flock(&lock, Held::Branch(branch))?;

        let mut taken = Taken::default();
        let (read_from, read) = self.state_of(branch);
        let mut previous = read.unwrap_or_else(|why| {
            taken.warning = Some(why);
            None
        });
        // The legacy state may say where a step left another branch.
        if let Some(p) = previous.as_mut() {
            p.left = p.left.take().filter(|l| l.branch == branch);
        }
        if let Some(p) = previous.as_ref().filter(|p| p.active) {
            let remote = p.host != hostname();
            // On this host the flock is the truth: the holder is gone, whatever its pid is now.
            // For the legacy state that flock is the older version's `loop.lock`.
            let alive = if remote {
                age(&p.heartbeat_at).is_some_and(|a| a < REMOTE_ALIVE)
            } else {
                read_from == self.legacy && legacy_held(&self.legacy)
            };
            if alive {
                let host = if remote {
                    format!(" on host `{}`", p.host)
                } else {
                    String::new()
                };
                return Err(running_error(
                    Held::Branch(branch),
                    &format!("process {}{host}", p.pid),
                ));
            }
            taken.abandoned = Some(p.clone());
        }
        Ok((
            LoopLock {
                _worktree: worktree,
                _branch: branch_file,
                path,
                previous,
                state: None,
                last_beat: Instant::now(),
            },
            taken,
        ))
    }
}

impl LoopLock {
    /// The step's experiment commit exists: record it (and its branch and parent) before
    /// anything else can happen to it, so a step that dies from here on can be undone.
    pub fn own_commit(&mut self, branch: &str, commit: &str, parent: &str) -> Result<()> {
        self.update(|o| {
            o.branch = Some(branch.to_string());
            o.commit = Some(commit.to_string());
            o.parent = Some(parent.to_string());
        })
    }

    /// The step's token, for its eval's environment (`STEP_VAR`).
    pub fn step_token(&self) -> Option<&str> {
        self.state.as_ref().and_then(|s| s.owns.step.as_deref())
    }

    /// The eval's process group was spawned (`None`: it is over and reaped).
    pub fn own_eval(&mut self, pgid: Option<i32>) -> Result<()> {
        let start = pgid.and_then(process_start);
        self.update(|o| {
            o.pgid = pgid.filter(|_| start.is_some());
            o.pgid_start = start;
        })
    }

    fn update(&mut self, change: impl FnOnce(&mut Owned)) -> Result<()> {
        let Some(mut s) = self.state.take() else {
            return Ok(());
        };
        change(&mut s.owns);
        s.heartbeat_at = now();
        let written = self.write(&s);
        self.state = Some(s);
        written
    }

    /// Mark a step in progress for `run`: the iteration after the previous holder's.
    pub fn start(&mut self, run: u64) -> Result<()> {
        let stamp = now();
        let state = LoopState {
            pid: std::process::id(),
            host: hostname(),
            started_at: stamp.clone(),
            iteration: self.previous.as_ref().map_or(1, |p| p.iteration + 1),
            heartbeat_at: stamp,
            active: true,
            run: Some(run),
            owns: Owned {
                step: Some(crate::ledger::new_id()),
                ..Owned::default()
            },
            left: self.previous.as_ref().and_then(|p| p.left.clone()),
        };
        self.write(&state)?;
        self.state = Some(state);
        self.last_beat = Instant::now();
        Ok(())
    }

    /// Refresh the heartbeat, at most every two seconds. Errors are ignored: the heartbeat is
    /// advisory, and a full disk must not stop an evaluation.
    pub fn beat(&mut self) {
        if self.last_beat.elapsed() < HEARTBEAT_EVERY {
            return;
        }
        self.last_beat = Instant::now();
        if let Some(mut s) = self.state.take() {
            s.heartbeat_at = now();
            let _ = self.write(&s);
            self.state = Some(s);
        }
    }

    /// Where the last finished step left its branch (before this step started).
    pub fn left(&self) -> Option<&Left> {
        self.previous.as_ref().and_then(|p| p.left.as_ref())
    }

    /// The step is over: idle, having recorded `run`, and leaving its branch at `left` (`None`:
    /// unknown, the last value stays).
    pub fn finish_at(&mut self, run: u64, left: Option<Left>) -> Result<()> {
        if let Some(s) = self.state.as_mut()
            && left.is_some()
        {
            s.left = left;
        }
        self.finish(run)
    }

    pub fn finish(&mut self, run: u64) -> Result<()> {
        let Some(mut s) = self.state.take() else {
            return Ok(());
        };
        s.active = false;
        s.run = Some(run);
        s.owns = Owned::default();
        s.heartbeat_at = now();
        self.write(&s)
    }

    fn write(&self, s: &LoopState) -> Result<()> {
        let bytes = serde_json::to_vec(s).map_err(AppError::internal)?;
        crate::fsutil::write_atomic(&self.path, &bytes)
    }
}

impl Drop for LoopLock {
    fn drop(&mut self) {
        // A step that ended early (an error after `start`) still leaves the branch's state idle.
        if let Some(run) = self.state.as_ref().and_then(|s| s.run) {
            let _ = self.finish(run);
        }
    }
}

fn running_error(held: Held, who: &str) -> AppError {
    let message = match held {
        Held::Worktree(root) => format!(
            "Another `autoresearch run` ({who}) is running in this work tree (`{}`): one step at a time per work tree, since its eval reads these files.",
            root.display()
        ),
        Held::Branch(branch) => format!(
            "Another `autoresearch run` ({who}) holds the loop lock of branch `{branch}`: one step at a time per branch."
        ),
    };
    AppError::new(
        Code::LoopRunning,
        message,
        "Wait for that step to finish (`autoresearch status` shows it), then run `autoresearch run` again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn liveness() {
        assert!(pid_alive(std::process::id()));
        let mut s = LoopState {
            pid: std::process::id(),
            host: hostname(),
            started_at: String::new(),
            iteration: 1,
            heartbeat_at: String::new(),
            active: true,
            run: None,
            owns: Owned::default(),
            left: None,
        };
        assert!(s.running() && !s.stale());
        s.pid = 0;
        assert!(!s.running() && s.stale());
        s.active = false;
        assert!(!s.running() && !s.stale());
    }

    /// The loop files of a project in `dir` whose configured branch is `autoresearch`, and two
    /// work trees.
    fn sandbox() -> (tempfile::TempDir, Loops, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let loops = Loops {
            dir: dir.path().join("loops"),
            legacy: dir.path().join("loop.json"),
            configured: "autoresearch".into(),
        };
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        (dir, loops, one, two)
    }

    /// Take the locks again after they were dropped. A flock lives as long as any copy of its
    /// file descriptor: a child another test forks holds one until its `exec` closes it, so
    /// the release may take a moment to be seen here.
    fn again(loops: &Loops, wt: &Path, branch: &str) -> (LoopLock, Taken) {
        let t = Instant::now();
        loop {
            match loops.acquire(wt, branch) {
                Err(e) if e.code == Code::LoopRunning && t.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other.unwrap(),
            }
        }
    }

    fn state_path(loops: &Loops, branch: &str) -> PathBuf {
        project::branch_loop(&loops.dir, branch).state
    }

    fn put(path: &Path, state: &LoopState) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(state).unwrap()).unwrap();
    }

    fn idle(left: Option<&str>) -> LoopState {
        LoopState {
            pid: 0,
            host: hostname(),
            started_at: now(),
            iteration: 7,
            heartbeat_at: now(),
            active: false,
            run: Some(3),
            owns: Owned::default(),
            left: left.map(|b| Left {
                branch: b.to_string(),
                commit: "c0ffee".to_string(),
                run: 3,
            }),
        }
    }

    #[test]
    fn lock_is_exclusive_and_counts_iterations() {
        let (_d, loops, wt, _) = sandbox();
        let path = state_path(&loops, "autoresearch");
        let (mut a, w) = loops.acquire(&wt, "autoresearch").unwrap();
        assert!(w.abandoned.is_none() && w.warning.is_none());
        let err = loops.acquire(&wt, "autoresearch").err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
        assert!(
            err.message.contains(&std::process::id().to_string()),
            "{}",
            err.message
        );
        a.start(0).unwrap();
        let s = read(&path).unwrap();
        assert!(s.active && s.iteration == 1 && s.run == Some(0));
        a.finish(0).unwrap();
        drop(a);
        let (mut b, w) = again(&loops, &wt, "autoresearch");
        assert!(w.abandoned.is_none() && w.warning.is_none());
        b.start(1).unwrap();
        drop(b);
        let s = read(&path).unwrap();
        assert!(!s.active && s.iteration == 2 && s.run == Some(1));
    }

    #[test]
    fn two_branches_in_two_work_trees_are_locked_at_once() {
        let (_d, loops, one, two) = sandbox();
        let (mut a, _) = loops.acquire(&one, "autoresearch-fork-a").unwrap();
        let (mut b, _) = loops.acquire(&two, "autoresearch-fork-b").unwrap();
        a.start(1).unwrap();
        b.start(2).unwrap();
        for (branch, run) in [("autoresearch-fork-a", 1), ("autoresearch-fork-b", 2)] {
            let s = read(&state_path(&loops, branch)).unwrap();
            assert!(s.active && s.run == Some(run), "{branch}: {s:?}");
        }
    }

    #[test]
    fn the_same_branch_twice_is_refused() {
        let (_d, loops, one, two) = sandbox();
        let _a = loops.acquire(&one, "autoresearch").unwrap();
        let err = loops.acquire(&two, "autoresearch").err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
        let pid = std::process::id().to_string();
        assert!(
            err.message.contains("branch `autoresearch`") && err.message.contains(&pid),
            "{}",
            err.message
        );
        // The refused step let the other work tree's lock go.
        let _b = again(&loops, &two, "autoresearch-fork-b");
    }

    #[test]
    fn the_same_work_tree_twice_is_refused() {
        let (d, loops, one, _) = sandbox();
        let _a = loops.acquire(&one, "autoresearch-fork-a").unwrap();
        let err = loops.acquire(&one, "autoresearch-fork-b").err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
        assert!(
            err.message.contains("work tree")
                && err.message.contains(&std::process::id().to_string()),
            "{}",
            err.message
        );
        // The same work tree by another path is the same lock.
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&one, &link).unwrap();
        let err = loops.acquire(&link, "autoresearch-fork-b").err().unwrap();
        assert!(err.message.contains("work tree"), "{}", err.message);
        // And the refused step took no branch lock.
        let _b = loops
            .acquire(&d.path().join("two"), "autoresearch-fork-b")
            .unwrap();
    }

    #[test]
    fn a_long_fork_name_has_room_for_its_files() {
        let (_d, loops, wt, _) = sandbox();
        let last = "x".repeat(crate::config::MAX_BRANCH_LAST_PART);
        let branch = format!("team/{last}-fork-{}", "y".repeat(50));
        let (mut l, _) = loops.acquire(&wt, &branch).unwrap();
        l.start(0).unwrap();
        l.finish(0).unwrap();
        let listed = loops.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].branch, branch);
        assert!(listed[0].state.is_ok());
    }

    #[test]
    fn listing_finds_nested_branches_and_the_legacy_state() {
        let (_d, loops, _, _) = sandbox();
        assert!(loops.list().is_empty());
        put(&state_path(&loops, "a/b"), &idle(Some("a/b")));
        put(&state_path(&loops, "c"), &idle(None));
        std::fs::write(state_path(&loops, "bad"), b"{not json").unwrap();
        // The legacy state of a branch without one of its own.
        put(&loops.legacy, &idle(Some("d")));
        let listed = loops.list();
        let names: Vec<&str> = listed.iter().map(|l| l.branch.as_str()).collect();
        assert_eq!(names, ["a/b", "bad", "c", "d"]);
        assert!(listed[1].state.as_ref().unwrap_err().contains("not valid"));
        assert_eq!(listed[3].path, loops.legacy);
        // Once the branch has its own, the legacy state is not listed.
        put(&loops.legacy, &idle(Some("c")));
        let names: Vec<String> = loops.list().into_iter().map(|l| l.branch).collect();
        assert_eq!(names, ["a/b", "bad", "c"]);
        // A legacy state that names no branch is the configured branch's.
        put(&loops.legacy, &idle(None));
        let listed = loops.list();
        assert_eq!(listed[1].branch, "autoresearch");
        assert_eq!(listed[1].path, loops.legacy);
    }

    #[test]
    fn the_legacy_state_is_its_branchs_until_that_has_its_own() {
        let (_d, loops, wt, _) = sandbox();
        put(&loops.legacy, &idle(Some("autoresearch")));
        // Another branch starts afresh.
        let (l, taken) = loops.acquire(&wt, "autoresearch-fork-a").unwrap();
        assert!(l.left().is_none() && taken.abandoned.is_none());
        drop(l);
        // Its own branch continues from it: where the last step left it, the iteration.
        let (mut l, _) = again(&loops, &wt, "autoresearch");
        assert_eq!(l.left().map(|l| l.commit.as_str()), Some("c0ffee"));
        l.start(4).unwrap();
        drop(l);
        assert_eq!(
            read(&state_path(&loops, "autoresearch")).unwrap().iteration,
            8
        );
        assert!(
            std::fs::read(&loops.legacy).is_ok(),
            "the legacy state is kept"
        );

        // A step of an older version that died on a branch is that branch's to recover...
        let (_d, loops, wt, _) = sandbox();
        let mut dead = idle(Some("autoresearch"));
        dead.active = true;
        dead.owns.branch = Some("autoresearch-fork-a".into());
        put(&loops.legacy, &dead);
        let (l, taken) = loops.acquire(&wt, "autoresearch").unwrap();
        assert!(taken.abandoned.is_none() && l.left().is_none());
        drop(l);
        let (l, taken) = again(&loops, &wt, "autoresearch-fork-a");
        assert_eq!(taken.abandoned.map(|a| a.run), Some(Some(3)));
        drop(l);
        // ...unless the older version still holds its lock.
        let old = File::create(loops.legacy.with_file_name("loop.lock")).unwrap();
        old.lock().unwrap();
        let err = loops.acquire(&wt, "autoresearch-fork-a").err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
    }

    #[test]
    fn a_dead_holder_is_taken_over_with_a_warning() {
        let (_d, loops, wt, _) = sandbox();
        let path = state_path(&loops, "autoresearch");
        let dead = LoopState {
            active: true,
            ..idle(None)
        };
        put(&path, &dead);
        let (mut l, w) = loops.acquire(&wt, "autoresearch").unwrap();
        assert_eq!(w.abandoned.map(|a| a.run), Some(Some(3)));
        l.start(4).unwrap();
        assert_eq!(read(&path).unwrap().iteration, 8);
        // A live-looking holder on another host is respected.
        drop(l);
        let remote = LoopState {
            host: "elsewhere".into(),
            ..dead
        };
        put(&path, &remote);
        let err = loops.acquire(&wt, "autoresearch").err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
        assert!(err.message.contains("elsewhere"), "{}", err.message);
    }

    #[test]
    fn an_unreadable_state_is_a_warning() {
        let (_d, loops, wt, _) = sandbox();
        let path = state_path(&loops, "autoresearch");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        let (_l, taken) = loops.acquire(&wt, "autoresearch").unwrap();
        assert!(taken.warning.unwrap().contains("not valid"));
        assert!(read_checked(&path).is_err());
        assert_eq!(read_checked(&path.with_file_name("missing.json")), Ok(None));
    }

    #[test]
    fn only_our_own_group_is_killed() {
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let start = process_start(pgid).expect("a live process has a start time");
        assert!(
            !kill_group_if_ours(pgid, start + 1),
            "another start time: not ours"
        );
        assert!(kill_group_if_ours(pgid, start));
        child.wait().unwrap();
        assert!(process_start(pgid).is_none());
    }

    #[test]
    fn a_step_token_finds_its_processes_and_no_others() {
        let token = crate::ledger::new_id();
        let mut ours = std::process::Command::new("sleep")
            .arg("1000")
            .env(STEP_VAR, &token)
            .spawn()
            .unwrap();
        let mut other = std::process::Command::new("sleep")
            .arg("1000")
            .env(STEP_VAR, format!("{token}x"))
            .spawn()
            .unwrap();
        // Until `exec`, a child's environment is still ours, without the token: wait for it.
        let shows = |pid: u32| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|e| {
                e.split(|&b| b == 0)
                    .any(|v| v.starts_with(STEP_VAR.as_bytes()))
            })
        };
        let t = Instant::now();
        while !(shows(ours.id()) && shows(other.id())) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(kill_step_processes(&token), 1);
        ours.wait().unwrap();
        assert!(
            other.try_wait().unwrap().is_none(),
            "another step's process was killed"
        );
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
