//! `loop.json`: who is running the loop right now, and what its step owns. Written by `run`
//! while it holds the loop lock, read by `status` and `doctor`. A holder whose process is gone
//! is *stale*; the step it left is *abandoned*, and the next `run` cleans it up
//! (`engine::recover`) from what `loop.json` says the step owned: its experiment commit and
//! parent, and its eval's process group.
//!
//! The lock itself is an exclusive `flock` on `.autoresearch/loop.lock`, held for the whole
//! step ([`LoopLock`]): it dies with its holder, so two `run`s racing cannot both get it and a
//! killed one never leaves it stuck (docs/RELIABILITY.md 1). `loop.json` is only the visible state;
//! when the flock is free but `loop.json` still says a step is active, its writer died mid-step and
//! is taken over with a warning.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, Code, Result};

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

/// Read `loop.json`; `None` when absent or unreadable (it is advisory, never trusted blindly).
pub fn read(path: &Path) -> Option<LoopState> {
    read_checked(path).ok().flatten()
}

/// Read `loop.json`, saying why when it exists but cannot be read (a reader warns about it).
pub fn read_checked(path: &Path) -> std::result::Result<Option<LoopState>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("`loop.json` cannot be read ({e})")),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        format!(
            "`loop.json` is not valid ({e}); if a `run` died, what its step owned is unknown: check `git log` for an unrecorded `autoresearch #<run>` commit"
        )
    })
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
    /// The previous holder died during a step: what `loop.json` says it was doing.
    pub abandoned: Option<LoopState>,
    /// `loop.json` could not be read.
    pub warning: Option<String>,
}

/// The loop lock of one `run` step. Dropping it marks `loop.json` idle (best effort) and
/// releases the flock.
pub struct LoopLock {
    _file: File,
    path: PathBuf,
    previous: Option<LoopState>,
    state: Option<LoopState>,
    last_beat: Instant,
}

impl LoopLock {
    /// Take the lock in `state_dir` without waiting: a live holder is `loop_running`. Returns
    /// the lock and, when the previous holder died during a step, what that step owned (the
    /// caller cleans it up). A `loop.json` that cannot be read is a warning.
    pub fn acquire(state_dir: &Path) -> Result<(LoopLock, Taken)> {
        let lock_path = state_dir.join("loop.lock");
        let path = state_dir.join("loop.json");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| AppError::io(lock_path.display(), &e))?;
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
                return Err(running_error(&who));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(AppError::io(
                    format!("locking `{}`", lock_path.display()),
                    &e,
                ));
            }
        }
        // Name the holder for whoever is refused next.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(format!("{}\n", std::process::id()).as_bytes());

        let mut taken = Taken::default();
        let previous = match read_checked(&path) {
            Ok(p) => p,
            Err(why) => {
                taken.warning = Some(why);
                None
            }
        };
        if let Some(p) = previous.as_ref().filter(|p| p.active) {
            let here = hostname();
            if p.host != here && age(&p.heartbeat_at).is_some_and(|a| a < REMOTE_ALIVE) {
                return Err(running_error(&format!(
                    "process {} on host `{}`",
                    p.pid, p.host
                )));
            }
            // On this host the flock is the truth: the holder is gone, whatever its pid is now.
            taken.abandoned = Some(p.clone());
        }
        Ok((
            LoopLock {
                _file: file,
                path,
                previous,
                state: None,
                last_beat: Instant::now(),
            },
            taken,
        ))
    }

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

    /// The step is over: `loop.json` says idle (keeping pid and iteration for `status`).
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
        // A step that ended early (an error after `start`) still leaves `loop.json` idle.
        if let Some(run) = self.state.as_ref().and_then(|s| s.run) {
            let _ = self.finish(run);
        }
    }
}

fn running_error(who: &str) -> AppError {
    AppError::new(
        Code::LoopRunning,
        format!("Another `autoresearch run` ({who}) holds the loop lock."),
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

    #[test]
    fn lock_is_exclusive_and_counts_iterations() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, w) = LoopLock::acquire(dir.path()).unwrap();
        assert!(w.abandoned.is_none() && w.warning.is_none());
        let err = LoopLock::acquire(dir.path()).err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
        assert!(
            err.message.contains(&std::process::id().to_string()),
            "{}",
            err.message
        );
        a.start(0).unwrap();
        let s = read(&dir.path().join("loop.json")).unwrap();
        assert!(s.active && s.iteration == 1 && s.run == Some(0));
        a.finish(0).unwrap();
        drop(a);
        let (mut b, w) = LoopLock::acquire(dir.path()).unwrap();
        assert!(w.abandoned.is_none() && w.warning.is_none());
        b.start(1).unwrap();
        drop(b);
        let s = read(&dir.path().join("loop.json")).unwrap();
        assert!(!s.active && s.iteration == 2 && s.run == Some(1));
    }

    #[test]
    fn a_dead_holder_is_taken_over_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let dead = LoopState {
            pid: 0,
            host: hostname(),
            started_at: now(),
            iteration: 7,
            heartbeat_at: now(),
            active: true,
            run: Some(3),
            owns: Owned::default(),
            left: None,
        };
        std::fs::write(
            dir.path().join("loop.json"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        let (mut l, w) = LoopLock::acquire(dir.path()).unwrap();
        assert_eq!(w.abandoned.map(|a| a.run), Some(Some(3)));
        l.start(4).unwrap();
        assert_eq!(read(&dir.path().join("loop.json")).unwrap().iteration, 8);
        // A live-looking holder on another host is respected.
        drop(l);
        let remote = LoopState {
            host: "elsewhere".into(),
            ..dead
        };
        std::fs::write(
            dir.path().join("loop.json"),
            serde_json::to_vec(&remote).unwrap(),
        )
        .unwrap();
        let err = LoopLock::acquire(dir.path()).err().unwrap();
        assert_eq!(err.code, Code::LoopRunning);
    }

    #[test]
    fn an_unreadable_loop_json_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loop.json"), b"{not json").unwrap();
        let (_l, taken) = LoopLock::acquire(dir.path()).unwrap();
        assert!(taken.warning.unwrap().contains("not valid"));
        assert!(read_checked(&dir.path().join("loop.json")).is_err());
        assert_eq!(read_checked(&dir.path().join("missing.json")), Ok(None));
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
