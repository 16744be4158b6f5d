//! The terminal side of `watch`: signals that wake the wait (Ctrl-C, SIGTERM, SIGHUP, a
//! resize), the terminal's size, and the alternate screen, entered for the dashboard and left
//! on every way out (return, error, panic, signal) with the cursor shown again.

use std::io::{self, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The write end of the wake-up pipe, for the signal handler (-1: none).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte. A full pipe
        // already holds a wake-up, so a failed write loses nothing.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
}

/// Why a wait ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The interval passed.
    Timeout,
    /// Ctrl-C, SIGTERM or SIGHUP: time to stop.
    Stop,
    /// Whoever read stdout is gone (`watch | head -1`): stop quietly.
    Closed,
    /// The terminal changed size.
    Resized,
}

/// Waits that a signal cuts short: a pipe the handlers write to, polled with a timeout.
pub struct Signals {
    read: libc::c_int,
    /// Also wake when stdout's reader goes away (stdout is a pipe).
    watch_stdout: bool,
}

impl Signals {
    /// Install the handlers (SIGINT, SIGTERM, SIGHUP, SIGWINCH).
    pub fn install() -> io::Result<Signals> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is valid for two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        WAKE_FD.store(fds[1], Ordering::SeqCst);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGWINCH] {
            // SAFETY: a zeroed sigaction is a valid start; the handler only writes to a pipe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        let watch_stdout = !io::IsTerminal::is_terminal(&io::stdout());
        Ok(Signals {
            read: fds[0],
            watch_stdout,
        })
    }

    /// Sleep up to `timeout` (no busy loop: one `poll`), or until a signal arrives or the
    /// reader of stdout goes away.
    pub fn wait(&self, timeout: Duration) -> Woken {
        let mut fds = [
            libc::pollfd {
                fd: self.read,
                events: libc::POLLIN,
                revents: 0,
            },
            // Events 0: only the errors poll always reports (POLLERR when the pipe's reader
            // closed it).
            libc::pollfd {
                fd: libc::STDOUT_FILENO,
                events: 0,
                revents: 0,
            },
        ];
        let count: libc::nfds_t = if self.watch_stdout { 2 } else { 1 };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `count` valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), count, ms) };
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Woken::Timeout;
        }
        if self.watch_stdout && fds[1].revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return Woken::Closed;
        }
        self.drain()
    }

    /// What the handlers wrote since the last look.
    fn drain(&self) -> Woken {
        let mut buf = [0u8; 64];
        let mut woken = Woken::Timeout;
        loop {
            // SAFETY: the buffer is valid for its length.
            let n = unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else { break };
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                match i32::from(b) {
                    libc::SIGWINCH if woken == Woken::Timeout => woken = Woken::Resized,
                    libc::SIGWINCH => {}
                    _ => woken = Woken::Stop,
                }
            }
        }
        woken
    }
}

/// Columns and rows of the terminal on stdout (80×24 when it does not say).
pub fn size() -> (usize, usize) {
    // SAFETY: a zeroed winsize is valid; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: plain ioctl on stdout with a valid pointer.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc == 0 && ws.ws_col > 0 && ws.ws_row > 0 {
        (usize::from(ws.ws_col), usize::from(ws.ws_row))
    } else {
        (80, 24)
    }
}

/// The alternate screen with the cursor hidden, for as long as this lives.
pub struct Screen {
    out: io::Stdout,
}

impl Screen {
    pub fn enter() -> io::Result<Screen> {
        let mut out = io::stdout();
        out.write_all(b"\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J")?;
        out.flush()?;
        Ok(Screen { out })
    }

    /// Draw a frame: from the top, each line cleared to its end, then everything below cleared.
    pub fn draw(&mut self, lines: &[String]) -> io::Result<()> {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 8).sum::<usize>() + 8);
        buf.push_str("\x1b[H");
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                buf.push_str("\r\n");
            }
            buf.push_str(line);
            buf.push_str("\x1b[K");
        }
        buf.push_str("\x1b[J");
        self.out.write_all(buf.as_bytes())?;
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = self.out.flush();
    }
}
