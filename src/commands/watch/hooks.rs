//! `watch --on EVENTS --exec CMD`: the user's command, run once per matching event with the
//! event's JSON line on its stdin, one at a time, on a thread of its own so the watch never
//! waits for it. A hook that fails or outlives `--exec-timeout` (its process group is killed)
//! is reported back as a failure; nothing a hook does stops the watch.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One event for the hook: its name (`AUTORESEARCH_EVENT`) and its JSON line.
struct Job {
    event: String,
    line: String,
}

/// The hook runner: a queue in, failures out.
pub struct Hooks {
    jobs: Option<Sender<Job>>,
    failures: Receiver<String>,
    worker: Option<JoinHandle<()>>,
    /// The process group of the hook running now (0: none), to stop it on Ctrl-C.
    running: Arc<AtomicI32>,
}

impl Hooks {
    /// Start the runner for `command` (run by `sh -c` in the current directory).
    pub fn start(command: String, timeout: Duration) -> Hooks {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (report, failures) = mpsc::channel();
        let running = Arc::new(AtomicI32::new(0));
        let current = Arc::clone(&running);
        let worker = std::thread::spawn(move || {
            for job in queue {
                if let Err(why) = run_one(&command, &job, timeout, &current) {
                    let _ = report.send(format!(
                        "The `--exec` hook for a `{}` event {why}; the watch goes on.",
                        job.event
                    ));
                }
            }
        });
        Hooks {
            jobs: Some(jobs),
            failures,
            worker: Some(worker),
            running,
        }
    }

    /// Queue one event.
    pub fn send(&self, event: &str, line: &str) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job {
                event: event.to_string(),
                line: line.to_string(),
            });
        }
    }

    /// The failures reported since the last call.
    pub fn failures(&self) -> Vec<String> {
        self.failures.try_iter().collect()
    }

    /// Let the queued hooks finish (each bounded by its timeout), then return their failures.
    pub fn finish(mut self) -> Vec<String> {
        drop(self.jobs.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.failures()
    }

    /// Stop at once: kill the hook running now and drop the queue.
    pub fn stop(mut self) {
        drop(self.jobs.take());
        let pgid = self.running.swap(0, Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: plain syscall on the group this runner started.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
    }
}

/// Run the hook for one event; why it failed, if it did.
fn run_one(command: &str, job: &Job, timeout: Duration, running: &AtomicI32) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("AUTORESEARCH_EVENT", &job.event)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start (`sh -c`: {e})"))?;
    let pgid = i32::try_from(child.id()).unwrap_or(0);
    running.store(pgid, Ordering::SeqCst);
    // The event is small; a hook that never reads it must not block us: write from a thread.
    let stdin = child.stdin.take();
    let line = format!("{}\n", job.line);
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(line.as_bytes());
        }
    });
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(s) = stderr {
            let _ = s.take(64 * 1024).read_to_end(&mut text);
        }
        text
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("could not be waited for ({e})")),
        }
    };
    if status.is_none() || pgid > 0 {
        // The whole group: whatever the hook left running goes with it.
        // SAFETY: plain syscall on the group this runner started.
        unsafe { libc::killpg(pgid, libc::SIGKILL) };
    }
    running.store(0, Ordering::SeqCst);
    let _ = writer.join();
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.wait();
            return Err(format!(
                "was stopped after {}",
                autoresearch::text::format_duration(timeout)
            ));
        }
    };
    let err = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let last = String::from_utf8_lossy(&err)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", autoresearch::text::shown_line(l, 200)))
        .unwrap_or_default();
    Err(match status.code() {
        Some(code) => format!("exited {code}{last}"),
        None => format!("was killed by a signal{last}"),
    })
}
