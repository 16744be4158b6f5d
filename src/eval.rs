//! The eval runner (docs/CONTRACT.md §7 step 6, docs/RELIABILITY.md 8–11): runs the eval command
//! once, under a time budget, and guarantees that no process of it survives the call.
//!
//! This module owns:
//! - spawning `/bin/sh -c <command>` in its own process group, stdin from `/dev/null`, stdout and
//!   stderr into the run log (one `O_APPEND` file, never a pipe: a grandchild holding a pipe kept
//!   `Command::output()` waiting for 3 s after the eval ended, docs/RELIABILITY.md 8);
//! - the budget on the monotonic clock, and stopping the whole group: SIGTERM + SIGCONT, the
//!   grace period, then SIGKILL (docs/RELIABILITY.md 9);
//! - the clean-up after the leader exits: anything of the group still alive is reported as
//!   leaked and killed, and everything is reaped (docs/RELIABILITY.md 10);
//! - the process-wide SIGINT/SIGTERM flag, so Ctrl-C stops the eval the same way
//!   (docs/RELIABILITY.md 11).
//!
//! Unix only. Linux is the primary target: there the process becomes a *child subreaper* so the
//! eval's orphaned grandchildren are re-parented to us and can be reaped (otherwise a zombie
//! would still count as a member of the group). Elsewhere (macOS) orphans go to launchd, and the
//! clean-up is best effort: kill the group and wait briefly until it is gone.
//!
//! Limits, by design: a process that leaves the group (`setsid`, `setpgid`, a shell with job
//! control) is out of our reach; and as a subreaper, orphans that left the group stay zombies
//! of this process until it exits (harmless for a short-lived CLI). Once the leader is reaped
//! and no member is left, the group id is free; if the kernel handed that exact number to a new
//! group leader in the microseconds before our existence check, we would signal it. Avoiding
//! that would need a `/proc` scan while holding the leader as a zombie; the risk (a full pid
//! wrap-around in that window) is accepted.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::metric::clean_output;

/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Longest sleep between polls of the leader. Polls start at 1 ms and double up to this, so a
/// trivial eval is noticed within a millisecond or two and a long one costs ~50 wake-ups/s.
const MAX_NAP: Duration = Duration::from_millis(20);
/// How long to wait for the group to disappear after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_millis(500);
/// How much of the log's end the progress callback reads.
const PROGRESS_TAIL: u64 = 4096;

/// What to run and how.
pub struct EvalSpec<'a> {
    /// Run as `/bin/sh -c <command>`.
    pub command: &'a str,
    pub cwd: &'a Path,
    pub budget: Duration,
    /// SIGTERM → grace → SIGKILL.
    pub grace: Duration,
    pub log_path: &'a Path,
    /// Append to the log (repeats; the caller writes any separator), else truncate it.
    pub append: bool,
    /// Extra environment variables (e.g. `AUTORESEARCH_RUN`).
    pub env: &'a [(String, String)],
}

/// How one evaluation ended.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// `None` when the leader died by a signal.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// The budget ran out and the group was stopped.
    pub timed_out: bool,
    /// This process got SIGINT/SIGTERM (before or while the eval ran); the group was stopped.
    pub interrupted: bool,
    /// After the leader exited on its own, something of its group was still alive (it was
    /// killed); or, after a stop, something outlived SIGKILL for [`KILL_WAIT`].
    pub leaked_processes: bool,
    /// Monotonic time from spawn to the leader's exit (grace period included).
    pub duration: Duration,
    /// The eval's process group id (= the leader's pid); the group is gone when this returns.
    /// Only the tests read it (to prove that), so it is dead code in the binary.
    #[cfg_attr(not(test), allow(dead_code))]
    pub pgid: i32,
}

/// Count of SIGINT/SIGTERM received since [`install_interrupt_handler`]. A counter rather than
/// a flag so that a second Ctrl-C during the grace period can skip the rest of it.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    // Only an atomic add: async-signal-safe (lock-free on every target we build for).
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// Installs SIGINT/SIGTERM handlers (once per process) that only record the signal.
///
/// After this, Ctrl-C no longer kills the process: callers must check [`interrupted`] between
/// steps. While an eval runs, an interrupt stops its group like a timeout (SIGTERM + SIGCONT →
/// grace → SIGKILL; a second interrupt skips the rest of the grace). `SA_RESTART` keeps other
/// blocking calls (file writes, locks) from failing with `EINTR`.
pub fn install_interrupt_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed `sigaction` is a valid starting value; the handler only touches
            // an atomic; the pointers passed are valid for the duration of the call.
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            // Only fails for an invalid signal number, which these are not.
            debug_assert_eq!(rc, 0, "sigaction({signal})");
        }
    });
}

/// True once SIGINT or SIGTERM was received (sticky: the whole step is being interrupted).
pub fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// Makes this process a child subreaper (Linux), once: orphaned members of an eval's group are
/// re-parented to us, so we can reap them and tell "still running" from "zombie".
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // SAFETY: plain syscall with integer arguments. If it fails (very old kernel), the
            // clean-up still kills the group; only zombies may then be seen as alive until init
            // reaps them, which the bounded wait absorbs.
            unsafe {
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0);
            }
        });
    }
}

/// Sends `signal` to the group. Errors (ESRCH: the group is gone) are expected and ignored.
fn signal_group(pgid: i32, signal: libc::c_int) {
    // SAFETY: plain syscall. `pgid` is a group we created; the number cannot be reused while
    // any member (even a zombie) exists, see the module header for the remaining window.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// True while any process (including a zombie nobody reaped yet) is in the group.
fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks existence and permission.
    let rc = unsafe { libc::killpg(pgid, 0) };
    // EPERM means a member exists that we may not signal: still alive.
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Reaps every member of the group that is our child and has exited, without blocking.
/// Must only be called once the leader itself was reaped through `Child`, or it could steal the
/// leader's status from `std`.
fn reap_group(pgid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: plain syscall with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-pgid, &mut status, libc::WNOHANG) };
        // 0: members remain but none has exited; -1: ECHILD, none of them is our child.
        if pid <= 0 {
            return;
        }
    }
}

/// After the leader was reaped: kill and reap whatever is left of the group, waiting at most
/// [`KILL_WAIT`]. Returns true if something was alive (with `stopping`, only if something
/// outlived SIGKILL: a stop already signalled everyone).
fn finish_group(pgid: i32, stopping: bool) -> bool {
    reap_group(pgid);
    if !group_alive(pgid) {
        return false;
    }
    signal_group(pgid, libc::SIGKILL);
    let until = Instant::now() + KILL_WAIT;
    loop {
        reap_group(pgid);
        if !group_alive(pgid) {
            return !stopping;
        }
        if Instant::now() >= until {
            return true;
        }
        sleep(Duration::from_millis(2));
    }
}

/// Owns the running leader; if `run_eval` leaves early (an I/O error, a panicking progress
/// callback), dropping it still kills and reaps the whole group.
struct Running {
    child: Child,
    pgid: i32,
    finished: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        signal_group(self.pgid, libc::SIGKILL);
        // SIGKILL cannot be caught, so this wait ends; an error leaves nothing more to do.
        let _ = self.child.wait();
        finish_group(self.pgid, true);
    }
}

/// Why the group is being stopped.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Timeout,
    Interrupt,
}

/// Runs one evaluation. See the module header for the guarantees.
///
/// `progress` is called about every 100 ms with the elapsed time and the latest non-empty line
/// of the log (read from its last 4 KiB, cleaned of escapes). It is not called during a stop's
/// grace period.
///
/// An interrupt already pending when this is called still spawns the command, and stops it at
/// once: the outcome then has a real `pgid` and the same shape as any interrupted eval.
pub fn run_eval(
    spec: &EvalSpec,
    progress: &mut dyn FnMut(Duration, Option<&str>),
) -> io::Result<EvalOutcome> {
    become_subreaper();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log_path)?;
    if !spec.append {
        log.set_len(0)?;
    }
    let log_for_stderr = log.try_clone()?;
    let mut tail_reader = File::open(spec.log_path)?;

    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(spec.command)
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        .process_group(0)
        .envs(spec.env.iter().map(|(k, v)| (k, v)));

    let start = Instant::now();
    let child = command.spawn()?;
    let pgid = i32::try_from(child.id()).expect("a pid always fits in pid_t");
    let mut run = Running {
        child,
        pgid,
        finished: false,
    };
    // No deadline for a budget too large to represent.
    let deadline = start.checked_add(spec.budget);
    let mut next_progress = start + PROGRESS_EVERY;
    let mut nap = Duration::from_millis(1);

    let mut stop = None;
    let (status, stopping) = loop {
        if let Some(status) = run.child.try_wait()? {
            break (status, false);
        }
        let now = Instant::now();
        if interrupted() {
            stop = Some(Stop::Interrupt);
        } else if deadline.is_some_and(|d| now >= d) {
            stop = Some(Stop::Timeout);
        }
        if stop.is_some() {
            break (stop_group(&mut run, spec.grace)?, true);
        }
        if now >= next_progress {
            progress(now - start, last_line(&mut tail_reader).as_deref());
            next_progress = now + PROGRESS_EVERY;
        }
        let wake = deadline.map_or(next_progress, |d| d.min(next_progress));
        sleep(nap.min(wake.saturating_duration_since(now)));
        nap = (nap * 2).min(MAX_NAP);
    };
    let duration = start.elapsed();
    let leaked_processes = finish_group(pgid, stopping);
    run.finished = true;

    Ok(EvalOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out: stop == Some(Stop::Timeout),
        interrupted: interrupted(),
        leaked_processes,
        duration,
        pgid,
    })
}

/// SIGTERM + SIGCONT (a stopped process must run to act on SIGTERM) to the group, then wait up
/// to `grace` for the *whole group* to go away — not just the leader, so a child that cleans
/// up after its parent died is not cut short — then SIGKILL. Returns the leader's status.
fn stop_group(run: &mut Running, grace: Duration) -> io::Result<ExitStatus> {
    signal_group(run.pgid, libc::SIGTERM);
    signal_group(run.pgid, libc::SIGCONT);
    let presses = INTERRUPTS.load(Ordering::SeqCst);
    let grace_end = Instant::now().checked_add(grace);
    let mut leader = None;
    let mut nap = Duration::from_millis(1);
    loop {
        if leader.is_none() {
            leader = run.child.try_wait()?;
        }
        if leader.is_some() {
            reap_group(run.pgid);
            if !group_alive(run.pgid) {
                break;
            }
        }
        let now = Instant::now();
        // Another Ctrl-C (or SIGTERM) means "now": skip the rest of the grace.
        let impatient = INTERRUPTS.load(Ordering::SeqCst) > presses;
        if impatient || grace_end.is_some_and(|end| now >= end) {
            signal_group(run.pgid, libc::SIGKILL);
            break;
        }
        let left = grace_end.map_or(MAX_NAP, |end| end - now);
        sleep(nap.min(left));
        nap = (nap * 2).min(MAX_NAP);
    }
    match leader {
        Some(status) => Ok(status),
        None => run.child.wait(),
    }
}

/// The latest non-empty line of the log, from its last [`PROGRESS_TAIL`] bytes. Errors mean
/// "nothing to show": progress is cosmetic.
fn last_line(reader: &mut File) -> Option<String> {
    let len = reader.metadata().ok()?.len();
    reader
        .seek(SeekFrom::Start(len.saturating_sub(PROGRESS_TAIL)))
        .ok()?;
    let mut buf = Vec::with_capacity(PROGRESS_TAIL as usize);
    reader.take(PROGRESS_TAIL).read_to_end(&mut buf).ok()?;
    let text = clean_output(&String::from_utf8_lossy(&buf));
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_gone(pgid: i32) -> bool {
        // SAFETY: signal 0 only checks existence.
        let rc = unsafe { libc::killpg(pgid, 0) };
        rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }

    /// Runs `command` in a temp dir; returns the outcome, the log text, and the wall time.
    fn run(command: &str, budget_ms: u64, grace_ms: u64) -> (EvalOutcome, String, Duration) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        let spec = EvalSpec {
            command,
            cwd: dir.path(),
            budget: Duration::from_millis(budget_ms),
            grace: Duration::from_millis(grace_ms),
            log_path: &log,
            append: false,
            env: &[],
        };
        let t = Instant::now();
        let outcome = run_eval(&spec, &mut |_, _| {}).expect("run_eval");
        let wall = t.elapsed();
        let text = std::fs::read_to_string(&log).expect("read log");
        assert!(group_gone(outcome.pgid), "group {} survived", outcome.pgid);
        (outcome, text, wall)
    }

    #[test]
    fn trivial_eval_is_fast_and_logged() {
        let (o, log, wall) = run("true; echo score: 1; echo oops >&2", 10_000, 1_000);
        assert_eq!(o.exit_code, Some(0));
        assert_eq!(o.signal, None);
        assert!(!o.timed_out && !o.interrupted && !o.leaked_processes);
        assert_eq!(log, "score: 1\noops\n");
        assert!(wall < Duration::from_secs(1), "{wall:?}");
        assert!(o.duration <= wall);
    }

    #[test]
    fn exit_code_is_reported() {
        let (o, _, _) = run("exit 3", 10_000, 1_000);
        assert_eq!(o.exit_code, Some(3));
        assert_eq!(o.signal, None);
    }

    #[test]
    fn leader_killed_by_signal_has_no_exit_code() {
        let (o, _, _) = run("kill -9 $$", 10_000, 1_000);
        assert_eq!(o.exit_code, None);
        assert_eq!(o.signal, Some(libc::SIGKILL));
        assert!(!o.timed_out);
    }

    #[test]
    fn stdin_is_dev_null() {
        let (o, log, wall) = run("cat; echo score: 1", 10_000, 1_000);
        assert_eq!(o.exit_code, Some(0));
        assert_eq!(log, "score: 1\n");
        assert!(wall < Duration::from_secs(2), "{wall:?}");
    }

    #[test]
    fn background_leftover_is_leaked_and_killed_at_once() {
        let (o, log, wall) = run("sleep 1000 & echo \"score: 1\"", 10_000, 1_000);
        assert_eq!(o.exit_code, Some(0));
        assert!(o.leaked_processes);
        assert!(!o.timed_out);
        assert_eq!(log, "score: 1\n");
        assert!(wall < Duration::from_secs(1), "{wall:?}");
    }

    #[test]
    fn waited_children_are_not_leaked() {
        let (o, _, _) = run(
            "sleep 0.1 & sleep 0.05 & wait; echo a | cat; (echo b) ; sh -c 'echo c'",
            10_000,
            1_000,
        );
        assert_eq!(o.exit_code, Some(0));
        assert!(!o.leaked_processes);
    }

    #[test]
    fn timeout_stops_a_cooperative_group() {
        let (o, _, wall) = run("sleep 1000 & sleep 1000", 300, 2_000);
        assert!(o.timed_out && !o.interrupted);
        assert_eq!(o.signal, Some(libc::SIGTERM));
        assert!(!o.leaked_processes);
        assert!(wall < Duration::from_secs(2), "{wall:?}");
    }

    #[test]
    fn timeout_escalates_to_sigkill_when_term_is_ignored() {
        let (o, _, wall) = run("trap '' TERM; sleep 1000", 1_000, 1_000);
        assert!(o.timed_out);
        assert_eq!(o.signal, Some(libc::SIGKILL));
        assert!(wall >= Duration::from_millis(1_900), "{wall:?}");
        assert!(wall < Duration::from_secs(3), "{wall:?}");
    }

    #[test]
    fn grace_covers_members_that_outlive_the_leader() {
        // The leader dies on SIGTERM at once; a member ignoring it must still be gone at the end,
        // by SIGKILL when the grace ends, without counting as a leak.
        let (o, _, wall) = run("(trap '' TERM; sleep 1000) & sleep 1000", 200, 300);
        assert!(o.timed_out);
        assert!(!o.leaked_processes);
        assert!(wall < Duration::from_secs(3), "{wall:?}");
    }

    #[test]
    fn stopped_group_is_continued_and_killed() {
        // The leader stops itself; SIGTERM alone would stay pending forever without SIGCONT.
        let (o, _, wall) = run("kill -STOP $$; sleep 1000", 200, 5_000);
        assert!(o.timed_out);
        assert_eq!(o.signal, Some(libc::SIGTERM));
        assert!(wall < Duration::from_secs(3), "{wall:?}");
    }

    #[test]
    fn log_append_truncate_env_and_cwd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        std::fs::write(&log, "old\n").expect("seed log");
        std::fs::write(dir.path().join("here.txt"), "").expect("marker");
        let env = [("AUTORESEARCH_RUN".to_string(), "7".to_string())];
        let mut spec = EvalSpec {
            command: "echo run=$AUTORESEARCH_RUN; ls here.txt",
            cwd: dir.path(),
            budget: Duration::from_secs(10),
            grace: Duration::from_secs(1),
            log_path: &log,
            append: true,
            env: &env,
        };
        let o = run_eval(&spec, &mut |_, _| {}).expect("run_eval");
        assert_eq!(o.exit_code, Some(0));
        let text = std::fs::read_to_string(&log).expect("read log");
        assert_eq!(text, "old\nrun=7\nhere.txt\n");
        spec.append = false;
        spec.command = "echo fresh";
        run_eval(&spec, &mut |_, _| {}).expect("run_eval");
        let text = std::fs::read_to_string(&log).expect("read log");
        assert_eq!(text, "fresh\n");
    }

    #[test]
    fn spawn_errors_are_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = EvalSpec {
            command: "true",
            cwd: &dir.path().join("missing"),
            budget: Duration::from_secs(1),
            grace: Duration::from_secs(1),
            log_path: &dir.path().join("run.log"),
            append: false,
            env: &[],
        };
        assert!(run_eval(&spec, &mut |_, _| {}).is_err());
    }

    #[test]
    fn progress_reports_the_latest_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        let spec = EvalSpec {
            command: "printf 'first\\n\\033[1mstep 2\\033[0m\\n\\n'; sleep 0.4",
            cwd: dir.path(),
            budget: Duration::from_secs(10),
            grace: Duration::from_secs(1),
            log_path: &log,
            append: false,
            env: &[],
        };
        let mut seen = Vec::new();
        let o = run_eval(&spec, &mut |t, line| {
            seen.push((t, line.map(str::to_owned)))
        })
        .expect("run_eval");
        assert_eq!(o.exit_code, Some(0));
        assert!(seen.len() >= 2, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(seen.last().map(|s| s.1.as_deref()), Some(Some("step 2")));
    }

    #[test]
    fn panicking_progress_still_kills_the_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        let spec = EvalSpec {
            // The leader's pid is its group id; it is printed before the first progress call.
            command: "echo $$; sleep 1000 & sleep 1000",
            cwd: dir.path(),
            budget: Duration::from_secs(10),
            grace: Duration::from_secs(1),
            log_path: &log,
            append: false,
            env: &[],
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_eval(&spec, &mut |_, _| panic!("progress callback failed"))
        }));
        assert!(result.is_err());
        let text = std::fs::read_to_string(&log).expect("read log");
        let pgid: i32 = text.trim().parse().expect("pid in log");
        assert!(group_gone(pgid), "group {pgid} survived");
    }

    /// The interrupt tests run in a child process (this test binary, filtered to one test), so
    /// the sticky process-wide flag cannot disturb the other tests.
    fn run_in_child(test: &str) {
        let exe = std::env::current_exe().expect("test binary path");
        let out = Command::new(exe)
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("EVAL_INTERRUPT_CHILD", "1")
            .output()
            .expect("run child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The child half of an interrupt test runs only in the process its parent starts: it is
    /// `#[ignore]`d so that it never counts as a pass on its own, and refuses to run elsewhere
    /// (its signals would reach every other test of this process).
    fn assert_in_interrupt_child() {
        assert!(
            std::env::var_os("EVAL_INTERRUPT_CHILD").is_some(),
            "run this through its parent test, which re-executes the test binary"
        );
    }

    /// Sends `signals` to this process, one after each delay.
    fn send_later(signals: &'static [(u64, libc::c_int)]) {
        std::thread::spawn(move || {
            for &(ms, signal) in signals {
                sleep(Duration::from_millis(ms));
                // SAFETY: plain syscall to our own pid; the handler is installed.
                unsafe {
                    libc::kill(libc::getpid(), signal);
                }
            }
        });
    }

    #[test]
    fn interrupt_stops_the_eval() {
        run_in_child("eval::tests::child_sigint_stops_the_eval");
    }

    #[test]
    #[ignore = "the child half of an interrupt test: its parent runs it in a process of its own"]
    fn child_sigint_stops_the_eval() {
        assert_in_interrupt_child();
        install_interrupt_handler();
        install_interrupt_handler(); // idempotent
        assert!(!interrupted());
        send_later(&[(300, libc::SIGINT)]);
        let (o, _, wall) = run("sleep 1000 & sleep 1000", 30_000, 5_000);
        assert!(interrupted());
        assert!(o.interrupted && !o.timed_out);
        assert_eq!(o.signal, Some(libc::SIGTERM));
        assert!(!o.leaked_processes);
        assert!(wall < Duration::from_secs(3), "{wall:?}");
        // Interrupted before the call: the eval is stopped at once.
        let (o, _, wall) = run("sleep 1000", 30_000, 5_000);
        assert!(o.interrupted);
        assert!(wall < Duration::from_secs(1), "{wall:?}");
    }

    #[test]
    fn second_interrupt_skips_the_grace() {
        run_in_child("eval::tests::child_second_interrupt_skips_the_grace");
    }

    #[test]
    #[ignore = "the child half of an interrupt test: its parent runs it in a process of its own"]
    fn child_second_interrupt_skips_the_grace() {
        assert_in_interrupt_child();
        install_interrupt_handler();
        send_later(&[(300, libc::SIGTERM), (300, libc::SIGINT)]);
        let (o, _, wall) = run("trap '' TERM; sleep 1000", 30_000, 30_000);
        assert!(o.interrupted && !o.timed_out);
        assert_eq!(o.signal, Some(libc::SIGKILL));
        assert!(wall < Duration::from_secs(3), "{wall:?}");
    }
}
