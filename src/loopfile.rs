//! `loop.json`: who is running the loop right now. Written by `run` while it holds the loop
//! lock, read by `status` and `doctor`. A holder whose process is gone is *stale*.

use std::path::Path;

use serde::{Deserialize, Serialize};

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
}
