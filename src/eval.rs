//! The eval runner (docs/CONTRACT.md §7 step 6, docs/RELIABILITY.md 8–12): runs the eval command
//! once, under a time budget, keeps its log under a cap, and guarantees that no process of it
//! survives the call.
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
//! - the log cap: each evaluation keeps the first [`LOG_HEAD`] and the last [`LOG_TAIL`] bytes of
//!   its output, and the middle is dropped while it runs (docs/RELIABILITY.md 12);
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
//! **The log cap.** The eval writes to the log itself, so the cap works on the file, not on a
//! stream. Each poll punches a hole (`fallocate(FALLOC_FL_PUNCH_HOLE)`) over what lies between
//! the head and the last [`LOG_TAIL`] bytes: the blocks are freed, the size stays, so the eval's
//! `O_APPEND` writes go on at the end. Once every process is gone, the file is compacted: head,
//! one line `--- autoresearch: <N> bytes of output cut here ---`, tail. A file system that cannot
//! punch holes (and macOS) gets the fallback: every [`ROTATE_SLACK`] bytes, the tail is moved
//! down beside the head and the file truncated. Bytes the eval appends in the microseconds
//! between the last size check and that truncation are lost; they belong to the dropped middle
//! unless the eval stops printing at that very moment.
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
use std::os::unix::fs::FileExt;
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

/// The first bytes of each evaluation's output that its log keeps: how it started (the
/// configuration it printed, the first error of a cascade).
pub const LOG_HEAD: u64 = 1 << 20;
/// The last bytes of each evaluation's output that its log keeps. 16 times the 1 MiB the metric
/// is read from (so a cut never reaches the metric's window), and far more than a human reads
/// back after a crash: a few hundred thousand lines of a training log. Head and tail together,
/// 17 MiB, are the most an evaluation's output takes in the log (plus the slack below); with
/// repeats, each evaluation has its own.
pub const LOG_TAIL: u64 = 16 << 20;
/// A hole is punched once it would free at least this much: fewer system calls, and the slack
/// the log may hold beyond its cap between two polls (plus what the eval writes in one poll).
const PUNCH_STEP: u64 = 1 << 20;
/// Without holes, the tail is moved down once the output is this much over the cap: each move
/// copies [`LOG_TAIL`] bytes, so a smaller step costs more copying.
const ROTATE_SLACK: u64 = 16 << 20;
/// The smallest cut that is made (and marked). A cut spans at least this much, so the marker
/// line (under 100 bytes) written at its start never reaches the tail it precedes.
const MIN_CUT: u64 = 4096;
/// The tail is moved in pieces of this size.
const COPY_CHUNK: usize = 1 << 20;

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
    /// Bytes the eval wrote to the log, whether or not the log still holds them.
    pub output_bytes: u64,
    /// Of those, the bytes cut from the middle to keep the log under its cap.
    pub cut_bytes: u64,
    /// The log could not be compacted after a cut, and why: its middle then still holds a hole
    /// (read as NUL bytes) or older output, but its head and its tail are intact.
    pub compact_error: Option<String>,
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

/// Why a file operation failed, in words for a message. A full disk is named as such, in the
/// words a user searches for, whichever call ran into it.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => "no space left on device".to_string(),
        io::ErrorKind::QuotaExceeded => {
            "no space left on device (the disk quota is exceeded)".to_string()
        }
        _ => e.to_string(),
    }
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

/// Owns the running leader, the log's cap and what tells the eval's processes apart; if
/// `run_eval` leaves early (an I/O error, a panicking progress callback), dropping it still
/// kills and reaps every process of the eval.
struct Running {
    child: Child,
    pgid: i32,
    lineage: escapes::Lineage,
    cap: LogCap,
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
            self.cap.trim();
            sleep(Duration::from_millis(2));
        }
    }

    /// Once the group is gone: kill and reap the processes of the eval that left it. True if
    /// one of them was still alive.
    fn sweep_escapes(&mut self) -> bool {
        let Running { lineage, cap, .. } = self;
        lineage.sweep(&mut || {
            cap.trim();
        })
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
            // A group that ignores SIGTERM may go on printing for the whole grace period.
            if self.cap.trim() {
                nap = Duration::from_millis(1);
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
    run_eval_owned(spec, &mut |_| {}, progress)
}

/// [`run_eval`], telling `spawned` the eval's process group as soon as it exists, so that a
/// caller can write down that it owns it: if this process dies during the eval, the next step
/// kills the group it left behind (docs/RELIABILITY.md 27).
pub fn run_eval_owned(
    spec: &EvalSpec,
    spawned: &mut dyn FnMut(i32),
    progress: &mut dyn FnMut(Duration, Option<&str>),
) -> io::Result<EvalOutcome> {
    let _one = one_eval();
    run_eval_alone(spec, false, spawned, progress)
}

/// [`run_eval_owned`] for the clean-up after an interrupted eval (`cancel_command`): an
/// interrupt received before the call does not stop it, a new one does (and skips the grace,
/// as a second Ctrl-C does for an eval). The outcome's `interrupted` says whether a new one
/// came.
pub fn run_cleanup(spec: &EvalSpec, spawned: &mut dyn FnMut(i32)) -> io::Result<EvalOutcome> {
    let _one = one_eval();
    run_eval_alone(spec, true, spawned, &mut |_, _| {})
}

/// Waits for the turn to run an eval. A panic in an earlier caller's progress callback poisons
/// the lock; the guard in `Running` had cleaned up after it all the same.
fn one_eval() -> std::sync::MutexGuard<'static, ()> {
    ONE_EVAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether an interrupt counts: any received so far, or with `patient` only those received
/// after this call.
fn interrupts_from(patient: bool) -> impl Fn() -> bool {
    let seen = if patient {
        INTERRUPTS.load(Ordering::SeqCst)
    } else {
        0
    };
    move || INTERRUPTS.load(Ordering::SeqCst) > seen
}

/// [`run_eval`], for a caller that holds [`one_eval`]. `patient`: only interrupts received
/// after the call stop it (see [`run_cleanup`]).
fn run_eval_alone(
    spec: &EvalSpec,
    patient: bool,
    spawned: &mut dyn FnMut(i32),
    progress: &mut dyn FnMut(Duration, Option<&str>),
) -> io::Result<EvalOutcome> {
    let interrupted = interrupts_from(patient);
    become_subreaper();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log_path)?;
    if !spec.append {
        log.set_len(0)?;
    }
    let cap = LogCap::new(spec.log_path, log.metadata()?.len())?;
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
        cap,
        finished: false,
    };
    spawned(pgid);
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
        if run.cap.trim() {
            nap = Duration::from_millis(1);
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
    // Every process of the eval is gone: nothing appends to the log while it is compacted.
    let cut = run.cap.compact();

    Ok(EvalOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out: stop == Some(Stop::Timeout),
        interrupted: interrupted(),
        leaked_processes: leaked_in_group || escaped,
        duration,
        pgid,
        output_bytes: cut.output_bytes,
        cut_bytes: cut.cut_bytes,
        compact_error: cut.error,
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
        /// around once its group is gone; `trim` runs while waiting. True if one of them was
        /// alive (a zombie only needed reaping). Only our own children are signalled by pid, so
        /// a pid cannot have been reused under us: a deeper process is re-parented to us when
        /// its parent dies, and found by the next scan. A process that leads its own group
        /// takes that group with it (what it started there, reached at once).
        pub fn sweep(&self, trim: &mut dyn FnMut()) -> bool {
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
                trim();
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

        pub fn sweep(&self, _trim: &mut dyn FnMut()) -> bool {
            false
        }
    }
}

/// Keeps one evaluation's output in its log under the cap (see the module header).
struct LogCap {
    /// Read and write, *not* append: on Linux a positioned write to an `O_APPEND` file goes to
    /// the end whatever its offset.
    file: File,
    /// Where this evaluation's output starts in the log.
    from: u64,
    /// Holes reach up to here.
    punched: u64,
    /// The file system frees punched ranges; once it refuses, the tail is moved instead.
    punch: bool,
    /// Bytes that moving the tail took out of the file: the eval printed `len - from + moved`.
    moved: u64,
    /// The log's length at the last trim.
    seen: u64,
}

/// What the cap did to one evaluation's output.
struct Cut {
    output_bytes: u64,
    cut_bytes: u64,
    error: Option<String>,
}

impl LogCap {
    fn new(path: &Path, from: u64) -> io::Result<LogCap> {
        Ok(LogCap {
            file: OpenOptions::new().read(true).write(true).open(path)?,
            from,
            punched: from + LOG_HEAD,
            punch: cfg!(target_os = "linux"),
            moved: 0,
            seen: from,
        })
    }

    /// Frees what lies between the head and the tail, while the eval may still be writing.
    /// Called at every poll; a failure is tried again at the next one. True when the log grew
    /// by [`PUNCH_STEP`] or more since the last call: the caller then polls again at once, so
    /// that a flood of output (1 GB in 0.85 s from `yes | head -c`, *measured*) does not pile
    /// up for a whole nap.
    fn trim(&mut self) -> bool {
        self.try_trim().unwrap_or(false)
    }

    fn try_trim(&mut self) -> io::Result<bool> {
        let len = self.file.metadata()?.len();
        let flooding = len >= self.seen + PUNCH_STEP;
        self.seen = len;
        let Some(middle_end) = len.checked_sub(LOG_TAIL) else {
            return Ok(flooding);
        };
        if self.punch && middle_end >= self.punched + PUNCH_STEP {
            match punch_hole(&self.file, self.punched, middle_end - self.punched) {
                Ok(()) => self.punched = middle_end,
                // Unsupported here (or failing): the tail is moved from now on, which works on
                // any file system.
                Err(_) => self.punch = false,
            }
        }
        // Saturating: an eval may truncate its own log below where its output started.
        if !self.punch && len.saturating_sub(self.from) > LOG_HEAD + LOG_TAIL + ROTATE_SLACK {
            self.move_tail(len)?;
            self.seen = self.file.metadata()?.len();
        }
        Ok(flooding)
    }

    /// The fallback: the last [`LOG_TAIL`] bytes go down to [`MIN_CUT`] past the head (the cut
    /// that stays there is dropped by [`Self::compact`]), and the file is truncated after them.
    /// Whatever was appended meanwhile is moved too, until the size holds still between two
    /// checks; an eval printing faster than that is caught at a later poll.
    fn move_tail(&mut self, len: u64) -> io::Result<()> {
        let mut src = len - LOG_TAIL;
        let mut dst = self.from + LOG_HEAD + MIN_CUT;
        let mut end = len;
        for _ in 0..4 {
            copy_down(&self.file, src..end, dst, None)?;
            dst += end - src;
            src = end;
            let now = self.file.metadata()?.len();
            if now == end {
                // The window named in the module header: an append landing between that size
                // check and this truncation is lost.
                self.file.set_len(dst)?;
                self.moved += end - dst;
                return Ok(());
            }
            if now < end {
                // Someone else shortened the file: leave it alone.
                return Ok(());
            }
            end = now;
        }
        Ok(())
    }

    /// After every process of the eval is gone: head, a line saying how much was cut, tail.
    fn compact(&mut self) -> Cut {
        // `fstat` of an open file does not fail in practice; the last length seen will do.
        let len = self.file.metadata().map_or(self.seen, |md| md.len());
        let in_file = len.saturating_sub(self.from);
        let output_bytes = in_file + self.moved;
        if in_file < LOG_HEAD + LOG_TAIL + MIN_CUT {
            // Nothing was cut: a move always leaves at least `MIN_CUT` to cut, a hole more.
            return Cut {
                output_bytes,
                cut_bytes: 0,
                error: None,
            };
        }
        let cut_bytes = output_bytes - LOG_HEAD - LOG_TAIL;
        let error = self.splice(len, cut_bytes).err().map(|e| io_reason(&e));
        Cut {
            output_bytes,
            cut_bytes,
            error,
        }
    }

    /// Writes the marker after the head, moves the tail after it and truncates the file.
    fn splice(&self, len: u64, cut_bytes: u64) -> io::Result<()> {
        let head_end = self.from + LOG_HEAD;
        let mut last = [0u8; 1];
        self.file.read_exact_at(&mut last, head_end - 1)?;
        // The marker is a line of its own even when the head ends inside a line.
        let newline = if last[0] == b'\n' { "" } else { "\n" };
        let marker =
            format!("{newline}--- autoresearch: {cut_bytes} bytes of output cut here ---\n");
        self.file.write_all_at(marker.as_bytes(), head_end)?;
        let tail_at = head_end + marker.len() as u64;
        let new_len = tail_at + LOG_TAIL;
        copy_down(
            &self.file,
            len - LOG_TAIL..len,
            tail_at,
            self.punch.then_some(new_len),
        )?;
        self.file.set_len(new_len)
    }
}

/// Copies the bytes in `range` to `dst`, which lies below `range.start`: front to back, so a
/// piece is always read before anything is written over it.
///
/// With `free_from`, each piece once copied is punched out where it lies at or past that
/// offset (the file is to be cut there): the copy then needs one piece of free disk, not a
/// whole tail. Only copied pieces are punched, so if a write fails, everything not yet copied,
/// and with it the end of the file, is still in place.
fn copy_down(
    file: &File,
    range: std::ops::Range<u64>,
    dst: u64,
    free_from: Option<u64>,
) -> io::Result<()> {
    debug_assert!(dst <= range.start);
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut at = range.start;
    while at < range.end {
        let n = usize::try_from(range.end - at).map_or(COPY_CHUNK, |left| left.min(COPY_CHUNK));
        file.read_exact_at(&mut buf[..n], at)?;
        file.write_all_at(&buf[..n], dst + (at - range.start))?;
        let end = at + n as u64;
        if let Some(cut) = free_from {
            let from = at.max(cut);
            if from < end {
                // Only disk space is at stake: a failure leaves the bytes for the truncation.
                let _ = punch_hole(file, from, end - from);
            }
        }
        at = end;
    }
    Ok(())
}

/// Frees the blocks of `len` bytes at `offset` without changing the file's size.
#[cfg(target_os = "linux")]
fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let too_big = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let offset = libc::off_t::try_from(offset).map_err(too_big)?;
    let len = libc::off_t::try_from(len).map_err(too_big)?;
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: plain syscall on a descriptor we own.
    if unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn punch_hole(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
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
        let outcome = run_eval_alone(&spec, false, &mut |_| {}, &mut |_, _| {}).expect("run_eval");
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

    /// What `yes 0123456789 | head -c <n>; echo score: 1` prints.
    fn digits_then_score(n: usize) -> Vec<u8> {
        let mut out: Vec<u8> = b"0123456789\n".iter().copied().cycle().take(n).collect();
        out.extend_from_slice(b"score: 1\n");
        out
    }

    /// `output` as the capped log holds it: the head, the marker on a line of its own, the tail.
    fn capped(output: &[u8]) -> Vec<u8> {
        let (head, tail) = (LOG_HEAD as usize, LOG_TAIL as usize);
        let cut = output.len() - head - tail;
        let mut out = output[..head].to_vec();
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        out.extend_from_slice(
            format!("--- autoresearch: {cut} bytes of output cut here ---\n").as_bytes(),
        );
        out.extend_from_slice(&output[output.len() - tail..]);
        out
    }

    /// Disk space in use by a file (holes excluded).
    fn on_disk(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).map_or(0, |md| md.blocks() * 512)
    }

    #[test]
    fn huge_output_is_cut_to_head_and_tail_while_the_eval_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        let n = 11 * 3_800_000;
        let command = format!("yes 0123456789 | head -c {n}; sleep 0.3; echo score: 1");
        let spec = EvalSpec {
            command: &command,
            cwd: dir.path(),
            budget: Duration::from_secs(20),
            grace: Duration::from_secs(1),
            log_path: &log,
            append: false,
            env: &[],
        };
        // The progress callback runs on the polling thread, right after a trim.
        let (mut most_on_disk, mut longest) = (0, 0);
        let o = run_eval(&spec, &mut |_, _| {
            most_on_disk = most_on_disk.max(on_disk(&log));
            longest = longest.max(std::fs::metadata(&log).map_or(0, |md| md.len()));
        })
        .expect("run_eval");
        assert_eq!(o.exit_code, Some(0));
        assert!(
            longest >= n as u64,
            "progress never saw the whole output: {longest}"
        );
        let cap = LOG_HEAD + LOG_TAIL;
        // Holes on Linux; elsewhere the tail is moved, which lets the log run further over.
        let slack = if cfg!(target_os = "linux") {
            2 * PUNCH_STEP
        } else {
            ROTATE_SLACK + PUNCH_STEP
        };
        assert!(
            most_on_disk <= cap + slack,
            "{most_on_disk} bytes on disk while the eval ran, cap {cap}"
        );
        let output = digits_then_score(n);
        assert_eq!(o.output_bytes, output.len() as u64);
        assert_eq!(o.cut_bytes, output.len() as u64 - cap);
        assert_eq!(o.compact_error, None);
        let text = std::fs::read(&log).expect("read log");
        assert!(
            text == capped(&output),
            "the log is not head + marker + tail"
        );
        assert!(
            on_disk(&log) <= text.len() as u64 + (64 << 10),
            "{}",
            on_disk(&log)
        );
    }

    /// The cap on its own, with an in-process writer standing in for the eval: punching holes,
    /// and the fallback that moves the tail (file systems without holes, macOS).
    #[test]
    fn the_log_cap_holds_with_holes_and_without() {
        let output: Vec<u8> = (0..4_000_000u32)
            .flat_map(|i| format!("line {i:07}\n").into_bytes())
            .collect();
        let modes: &[bool] = if cfg!(target_os = "linux") {
            &[true, false]
        } else {
            &[false]
        };
        for &punch in modes {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("run.log");
            let before = b"sample 1 output\n--- sample 2 ---\n";
            std::fs::write(&path, before).expect("seed log");
            let mut writer = OpenOptions::new().append(true).open(&path).expect("open");
            let mut cap = LogCap::new(&path, before.len() as u64).expect("cap");
            cap.punch = punch;
            let bound = LOG_HEAD + LOG_TAIL + if punch { 4 * PUNCH_STEP } else { ROTATE_SLACK };
            for chunk in output.chunks(300_000) {
                std::io::Write::write_all(&mut writer, chunk).expect("write");
                cap.trim();
                let used = if punch {
                    on_disk(&path)
                } else {
                    std::fs::metadata(&path).expect("metadata").len()
                };
                assert!(used <= bound, "punch {punch}: {used} > {bound}");
            }
            let cut = cap.compact();
            assert_eq!(cut.error, None);
            assert_eq!(cut.output_bytes, output.len() as u64, "punch {punch}");
            assert_eq!(cut.cut_bytes, output.len() as u64 - LOG_HEAD - LOG_TAIL);
            let mut want = before.to_vec();
            want.extend_from_slice(&capped(&output));
            let text = std::fs::read(&path).expect("read log");
            assert!(
                text == want,
                "punch {punch}: the log is not head + marker + tail"
            );
        }
    }

    #[test]
    fn output_under_the_cap_is_left_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.log");
        let output = digits_then_score((LOG_HEAD + LOG_TAIL) as usize);
        std::fs::write(&path, &output).expect("write");
        let mut cap = LogCap::new(&path, 0).expect("cap");
        cap.trim();
        let cut = cap.compact();
        assert_eq!((cut.output_bytes, cut.cut_bytes), (output.len() as u64, 0));
        assert!(std::fs::read(&path).expect("read") == output);
    }

    #[test]
    fn a_full_disk_is_named_as_such() {
        for errno in [libc::ENOSPC, libc::EDQUOT] {
            let reason = io_reason(&io::Error::from_raw_os_error(errno));
            assert!(reason.starts_with("no space left on device"), "{reason}");
        }
        let reason = io_reason(&io::Error::from_raw_os_error(libc::EACCES));
        assert!(reason.contains("Permission denied"), "{reason}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn moving_a_tail_down_frees_what_is_past_the_cut_as_it_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.log");
        let mib = 1 << 20;
        let data: Vec<u8> = (0..8 * mib).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let (mib, len) = (mib as u64, data.len() as u64);
        copy_down(&file, 4 * mib..len, 2 * mib, Some(6 * mib)).expect("copy");
        let text = std::fs::read(&path).expect("read");
        assert!(text[2 << 20..6 << 20] == data[4 << 20..]);
        assert!(
            text[6 << 20..].iter().all(|&b| b == 0),
            "past the cut: holes"
        );
        assert!(on_disk(&path) <= 6 * mib + (64 << 10), "{}", on_disk(&path));
    }
}
