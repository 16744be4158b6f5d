//! `loop.json`: who is running the loop right now. Written by `run` while it holds the loop
//! lock, read by `status` and `doctor`. A holder whose process is gone is *stale*.
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
}

/// Read `loop.json`; `None` when absent or unreadable (it is advisory, never trusted blindly).
pub fn read(path: &Path) -> Option<LoopState> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
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

/// Is process `pid` alive on this machine?
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

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
    /// the lock and, when a dead holder's step was taken over, a warning saying so.
    pub fn acquire(state_dir: &Path) -> Result<(LoopLock, Option<String>)> {
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

        let previous = read(&path);
        let mut warning = None;
        if let Some(p) = previous.as_ref().filter(|p| p.active) {
            let here = hostname();
            if p.host != here && age(&p.heartbeat_at).is_some_and(|a| a < REMOTE_ALIVE) {
                return Err(running_error(&format!(
                    "process {} on host `{}`",
                    p.pid, p.host
                )));
            }
            // On this host the flock is the truth: the holder is gone, whatever its pid is now.
            let run = p.run.map(|r| format!(" (run #{r})")).unwrap_or_default();
            warning = Some(format!(
                "Took over the loop from process {} on `{}`, which stopped during a step{run}; that step was not recorded.",
                p.pid, p.host
            ));
        }
        Ok((
            LoopLock {
                _file: file,
                path,
                previous,
                state: None,
                last_beat: Instant::now(),
            },
            warning,
        ))
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
    pub fn finish(&mut self, run: u64) -> Result<()> {
        let Some(mut s) = self.state.take() else {
            return Ok(());
        };
        s.active = false;
        s.run = Some(run);
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
        assert!(w.is_none());
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
        assert!(w.is_none());
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
        };
        std::fs::write(
            dir.path().join("loop.json"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        let (mut l, w) = LoopLock::acquire(dir.path()).unwrap();
        assert!(w.unwrap().contains("Took over"));
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
}
