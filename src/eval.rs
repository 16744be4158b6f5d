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
//!   leaked and killed, and everything is reaped; then the same for the processes of the eval
//!   that left its group (`setsid`, `setpgid`, a double fork) (docs/RELIABILITY.md 10);
//! - the process-wide SIGINT/SIGTERM flag, so Ctrl-C stops the eval the same way
//!   (docs/RELIABILITY.md 11).
//!
//! Unix only. Linux is the primary target: there the process becomes a *child subreaper*, so
//! every orphan of the eval, whatever its group or session, is re-parented to us: it can be
//! reaped (otherwise a zombie would still count as a member of the group) and found. Elsewhere
//! (macOS) orphans go to launchd and the clean-up is best effort: kill the group and wait
//! briefly until it is gone; a process that left the group is out of reach there.
//!
//! **Who belongs to the eval.** Linux forgets where a re-parented process came from. Once the
//! group is gone, a process of the eval that left it is a child of ours that is not in our own
//! process group, started no earlier than the eval's leader (start times from
//! `/proc/<pid>/stat`, in clock ticks), and was not our child when the leader was spawned. That
//! rule holds only while evals do not overlap and nothing else in this process starts children
//! with a group of their own during one: the CLI does neither, and [`run_eval`] takes a
//! process-wide lock so that concurrent callers (the unit tests run in threads) take turns.
//!
//! Limits, by design: a process of the eval that is re-parented elsewhere is out of reach,
//! neither killed nor flagged: one adopted by another subreaper on the way (a process that
//! declared itself one, a container's init) or handed to a service manager (`systemd-run`, `at`).
//! A process stuck in uninterruptible sleep longer than [`KILL_WAIT`] is flagged but left. As a
//! subreaper on a system without `/proc`, orphans that left the group stay zombies of this
//! process until it exits (harmless for a short-lived CLI). Once the leader is reaped and no
//! member is left, the group id is free; if the kernel handed that exact number to a new group
//! leader in the microseconds before our existence check, we would signal it. Avoiding that
//! would need a `/proc` scan while holding the leader as a zombie; the risk (a full pid
//! wrap-around in that window) is accepted.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, PoisonError};
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
    /// killed); or, after a stop, something outlived SIGKILL for [`KILL_WAIT`]; or, either way,
    /// a process of the eval that had left its group was still alive (it was killed).
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

/// One eval at a time in this process: while it runs, every process re-parented to us that is
/// not in our group is taken for one of its own (see the module header).
static ONE_EVAL: Mutex<()> = Mutex::new(());

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

/// Makes this process a child subreaper (Linux), once: orphaned processes of an eval are
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

/// Owns the running leader and what tells the eval's processes apart; if
/// `run_eval` leaves early (an I/O error, a panicking progress callback), dropping it still
/// kills and reaps every process of the eval.
struct Running {
    child: Child,
    pgid: i32,
    lineage: escapes::Lineage,
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
        self.finish_group(true);
        self.sweep_escapes();
    }
}

impl Running {
    /// After the leader was reaped: kill and reap whatever is left of the group, waiting at most
    /// [`KILL_WAIT`]. Returns true if something was alive (with `stopping`, only if something
    /// outlived SIGKILL: a stop already signalled everyone).
    fn finish_group(&mut self, stopping: bool) -> bool {
        reap_group(self.pgid);
        if !group_alive(self.pgid) {
            return false;
        }
        signal_group(self.pgid, libc::SIGKILL);
        let until = Instant::now() + KILL_WAIT;
        loop {
            reap_group(self.pgid);
            if !group_alive(self.pgid) {
                return !stopping;
            }
            if Instant::now() >= until {
                return true;
            }
            sleep(Duration::from_millis(2));
        }
    }

    /// Once the group is gone: kill and reap the processes of the eval that left it. True if
    /// one of them was still alive.
    fn sweep_escapes(&mut self) -> bool {
        self.lineage.sweep()
    }

    /// SIGTERM + SIGCONT (a stopped process must run to act on SIGTERM) to the group, then wait
    /// up to `grace` for the *whole group* to go away — not just the leader, so a child that
    /// cleans up after its parent died is not cut short — then SIGKILL. Returns the leader's
    /// status.
    fn stop_group(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        signal_group(self.pgid, libc::SIGTERM);
        signal_group(self.pgid, libc::SIGCONT);
        let presses = INTERRUPTS.load(Ordering::SeqCst);
        let grace_end = Instant::now().checked_add(grace);
        let mut leader = None;
        let mut nap = Duration::from_millis(1);
        loop {
            if leader.is_none() {
                leader = self.child.try_wait()?;
            }
            if leader.is_some() {
                reap_group(self.pgid);
                if !group_alive(self.pgid) {
                    break;
                }
            }
            let now = Instant::now();
            // Another Ctrl-C (or SIGTERM) means "now": skip the rest of the grace.
            let impatient = INTERRUPTS.load(Ordering::SeqCst) > presses;
            if impatient || grace_end.is_some_and(|end| now >= end) {
                signal_group(self.pgid, libc::SIGKILL);
                break;
            }
            let left = grace_end.map_or(MAX_NAP, |end| end - now);
            sleep(nap.min(left));
            nap = (nap * 2).min(MAX_NAP);
        }
        match leader {
            Some(status) => Ok(status),
            None => self.child.wait(),
        }
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
///
/// Calls from several threads take turns: one eval runs at a time in a process.
pub fn run_eval(
    spec: &EvalSpec,
    progress: &mut dyn FnMut(Duration, Option<&str>),
) -> io::Result<EvalOutcome> {
    let _one = one_eval();
    run_eval_alone(spec, progress)
}

/// Waits for the turn to run an eval. A panic in an earlier caller's progress callback poisons
/// the lock; the guard in `Running` had cleaned up after it all the same.
fn one_eval() -> std::sync::MutexGuard<'static, ()> {
    ONE_EVAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`run_eval`], for a caller that holds [`one_eval`].
fn run_eval_alone(
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

    let before = escapes::Before::now();
    let start = Instant::now();
    let child = command.spawn()?;
    let pgid = i32::try_from(child.id()).expect("a pid always fits in pid_t");
    let mut run = Running {
        child,
        pgid,
        lineage: escapes::Lineage::new(before, pgid),
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
            break (run.stop_group(spec.grace)?, true);
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
    let leaked_in_group = run.finish_group(stopping);
    let escaped = run.sweep_escapes();
    run.finished = true;

    Ok(EvalOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out: stop == Some(Stop::Timeout),
        interrupted: interrupted(),
        leaked_processes: leaked_in_group || escaped,
        duration,
        pgid,
    })
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

/// The processes of an eval that left its group, found through `/proc` (see the module header).
#[cfg(target_os = "linux")]
mod escapes {
    use std::time::{Duration, Instant};

    use super::KILL_WAIT;

    /// What `/proc/<pid>/stat` says about a process.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(super) struct Stat {
        pub pid: i32,
        /// `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead), ...
        pub state: u8,
        pub ppid: i32,
        pub pgrp: i32,
        /// Clock ticks after boot.
        pub start: u64,
    }

    /// Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
    /// itself hold spaces and parentheses, so the fields after it are counted from the last `)`.
    pub(super) fn parse_stat(line: &str) -> Option<Stat> {
        let open = line.find('(')?;
        let close = line.rfind(')')?;
        let pid = line.get(..open)?.trim().parse().ok()?;
        // Fields 3 and on: state, ppid, pgrp, session, ..., starttime (field 22).
        let rest: Vec<&str> = line.get(close + 1..)?.split_ascii_whitespace().collect();
        Some(Stat {
            pid,
            state: *rest.first()?.as_bytes().first()?,
            ppid: rest.get(1)?.parse().ok()?,
            pgrp: rest.get(2)?.parse().ok()?,
            start: rest.get(19)?.parse().ok()?,
        })
    }

    fn stat_of(pid: i32) -> Option<Stat> {
        parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// True if this process has any child, running or exited. `WNOWAIT` leaves every status
    /// where it is, for whoever waits for it.
    fn have_children() -> bool {
        // SAFETY: a zeroed `siginfo_t` is a valid out-parameter; the call reaps nothing.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let options = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            libc::waitid(libc::P_ALL, 0, &mut info, options)
        };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD)
    }

    /// Every process we can see whose parent is this process. A process that ends while the
    /// directory is read is skipped: it is gone or a zombie the next scan sees. Without any
    /// child (the CLI between evals, and after most of them), `/proc` is not read at all.
    pub(super) fn our_children() -> Vec<Stat> {
        if !have_children() {
            return Vec::new();
        }
        // SAFETY: plain syscall, no arguments.
        let me = unsafe { libc::getpid() };
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(stat_of)
            .filter(|s| s.ppid == me)
            .collect()
    }

    /// Our children just before the leader is spawned: none of them is the eval's.
    pub(super) struct Before(Vec<(i32, u64)>);

    impl Before {
        pub fn now() -> Before {
            Before(our_children().iter().map(|s| (s.pid, s.start)).collect())
        }
    }

    /// What tells a process of this eval from the other children of this process.
    pub(super) struct Lineage {
        before: Before,
        /// The leader's start time; `None` without `/proc`, which turns the sweep off.
        leader_start: Option<u64>,
        our_pgrp: i32,
    }

    impl Lineage {
        /// Right after the spawn: the leader is alive or an unreaped zombie, so its stat is
        /// there to read.
        pub fn new(before: Before, leader: i32) -> Lineage {
            Lineage {
                before,
                leader_start: stat_of(leader).map(|s| s.start),
                // SAFETY: plain syscall, no arguments.
                our_pgrp: unsafe { libc::getpgrp() },
            }
        }

        fn owns(&self, s: &Stat) -> bool {
            self.leader_start.is_some_and(|t| s.start >= t)
                && s.pgrp != self.our_pgrp
                && !self.before.0.contains(&(s.pid, s.start))
        }

        /// Kills and reaps, within [`KILL_WAIT`], every process of the eval that is still
        /// around once its group is gone. True if one of them was
        /// alive (a zombie only needed reaping). Only our own children are signalled by pid, so
        /// a pid cannot have been reused under us: a deeper process is re-parented to us when
        /// its parent dies, and found by the next scan. A process that leads its own group
        /// takes that group with it (what it started there, reached at once).
        pub fn sweep(&self) -> bool {
            let until = Instant::now() + KILL_WAIT;
            let mut leaked = false;
            loop {
                let found: Vec<Stat> = our_children()
                    .into_iter()
                    .filter(|s| self.owns(s))
                    .collect();
                if found.is_empty() {
                    return leaked;
                }
                for s in found.iter().filter(|s| !matches!(s.state, b'Z' | b'X')) {
                    leaked = true;
                    // SAFETY: plain syscalls. `s.pid` is our unreaped child, so the number is
                    // still its own; a group it leads exists as long as it does.
                    unsafe {
                        libc::kill(s.pid, libc::SIGKILL);
                        if s.pgrp == s.pid {
                            libc::killpg(s.pgrp, libc::SIGKILL);
                        }
                    }
                }
                for s in &found {
                    let mut status = 0;
                    // SAFETY: plain syscall with a valid out-pointer, for our own child only
                    // (never `-1`, which could take a status another thread waits for).
                    unsafe {
                        libc::waitpid(s.pid, &mut status, libc::WNOHANG);
                    }
                }
                if Instant::now() >= until {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Without `/proc` (macOS), a process that left the group cannot be told from others: the
/// clean-up stays with the group (see the module header).
#[cfg(not(target_os = "linux"))]
mod escapes {
    pub(super) struct Before;

    impl Before {
        pub fn now() -> Before {
            Before
        }
    }

    pub(super) struct Lineage;

    impl Lineage {
        pub fn new(_before: Before, _leader: i32) -> Lineage {
            Lineage
        }

        pub fn sweep(&self) -> bool {
            false
        }
    }
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
        run_in(dir.path(), command, budget_ms, grace_ms)
    }

    /// [`run`] in `dir`, which the caller keeps (to read what the eval left there).
    fn run_in(
        dir: &Path,
        command: &str,
        budget_ms: u64,
        grace_ms: u64,
    ) -> (EvalOutcome, String, Duration) {
        let log = dir.join("run.log");
        let spec = EvalSpec {
            command,
            cwd: dir,
            budget: Duration::from_millis(budget_ms),
            grace: Duration::from_millis(grace_ms),
            log_path: &log,
            append: false,
            env: &[],
        };
        // The wall time is this eval's, not the wait for another test's to end.
        let _one = one_eval();
        let t = Instant::now();
        let outcome = run_eval_alone(&spec, &mut |_, _| {}).expect("run_eval");
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
    /// True while `pid` exists, zombie or not.
    fn exists(pid: i32) -> bool {
        // SAFETY: signal 0 only checks existence.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    /// The pids an eval wrote to `pids`, one a line; a test that fails kills them on the way
    /// out, so a `sleep 1000` does not outlive it.
    struct Pids(Vec<i32>);

    impl Pids {
        fn read(dir: &Path) -> Pids {
            let text = std::fs::read_to_string(dir.join("pids")).expect("read pids");
            Pids(
                text.lines()
                    .map(|l| l.trim().parse().expect("a pid"))
                    .collect(),
            )
        }
    }

    impl Drop for Pids {
        fn drop(&mut self) {
            for &pid in &self.0 {
                // SAFETY: plain syscalls on processes this test started.
                unsafe {
                    if libc::kill(pid, libc::SIGKILL) == 0 {
                        libc::waitpid(pid, std::ptr::null_mut(), 0);
                    }
                }
            }
        }
    }

    /// Leaves the group by `setsid`, by a double fork into a new session, by `setsid` twice
    /// over (the inner one is re-parented to us only when its parent dies), and by `setpgid`
    /// (through perl, when there is one).
    const ESCAPES: &str = r#"n=3
setsid sh -c 'echo $$ >> pids; exec sleep 1000' &
(setsid sh -c 'echo $$ >> pids; setsid sh -c "echo \$\$ >> pids; exec sleep 1000" & exec sleep 1000' &)
if command -v perl > /dev/null; then
  n=4
  perl -e 'setpgrp(0, 0); open(my $f, ">>", "pids"); print $f "$$\n"; close($f); sleep 1000' &
fi
while [ "$(cat pids 2> /dev/null | wc -l)" -lt $n ]; do sleep 0.01; done
echo "score: 1""#;

    #[cfg(target_os = "linux")]
    #[test]
    fn processes_that_leave_the_group_are_killed_and_flagged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (o, log, wall) = run_in(dir.path(), ESCAPES, 10_000, 1_000);
        let pids = Pids::read(dir.path());
        assert!(pids.0.len() >= 3, "{:?}", pids.0);
        assert_eq!(o.exit_code, Some(0));
        assert!(o.leaked_processes);
        assert_eq!(log, "score: 1\n");
        for &pid in &pids.0 {
            assert!(!exists(pid), "{pid} survived the eval (or was not reaped)");
        }
        assert!(wall < Duration::from_secs(2), "{wall:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_that_left_the_group_is_killed_after_a_timeout_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let command = "setsid sh -c 'echo $$ >> pids; exec sleep 1000' &
            while [ ! -s pids ]; do sleep 0.01; done; sleep 1000";
        let (o, _, wall) = run_in(dir.path(), command, 300, 1_000);
        let pids = Pids::read(dir.path());
        assert!(o.timed_out);
        assert!(o.leaked_processes, "it escaped the stop");
        assert!(!exists(pids.0[0]), "{} survived the stop", pids.0[0]);
        assert!(wall < Duration::from_secs(2), "{wall:?}");
    }

    /// Only what descends from the eval is killed: not a child of this process in a group of
    /// its own that was there before the eval (spawned in the same clock tick as the leader, as
    /// like as not), nor one in our own group that a callback starts during it.
    #[cfg(target_os = "linux")]
    #[test]
    fn other_children_of_this_process_are_left_alone() {
        let spawn = |own_group: bool| {
            let mut c = Command::new("sleep");
            c.arg("30");
            if own_group {
                c.process_group(0);
            }
            c.spawn().expect("spawn sleep")
        };
        // Under the lock, so that no other test's eval runs between this spawn and its own
        // snapshot of our children.
        let mut before = {
            let _one = one_eval();
            spawn(true)
        };
        let mut during = None;
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        let spec = EvalSpec {
            command: "sleep 0.3; setsid sh -c 'echo $$ > pids; exec sleep 1000' &
                while [ ! -s pids ]; do sleep 0.01; done",
            cwd: dir.path(),
            budget: Duration::from_secs(10),
            grace: Duration::from_secs(1),
            log_path: &log,
            append: false,
            env: &[],
        };
        let o = run_eval(&spec, &mut |_, _| {
            during.get_or_insert_with(|| spawn(false));
        })
        .expect("run_eval");
        let _escaped = Pids::read(dir.path());
        let mut during = during.expect("progress ran");
        let before_alive = before.try_wait().expect("try_wait").is_none();
        let during_alive = during.try_wait().expect("try_wait").is_none();
        for child in [&mut before, &mut during] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(o.leaked_processes, "the eval's own escape was found");
        assert!(before_alive, "a child from before the eval was killed");
        assert!(during_alive, "a child in our own group was killed");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stat_lines_are_read_past_odd_command_names() {
        let line = "4242 (a) b (c)) S 7 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        let s = escapes::parse_stat(line).expect("parses");
        assert_eq!(
            (s.pid, s.state, s.ppid, s.pgrp, s.start),
            (4242, b'S', 7, 4242, 98765)
        );
        assert!(escapes::parse_stat("4242 (sh) S 7").is_none());
        assert!(escapes::parse_stat("").is_none());
    }
}
