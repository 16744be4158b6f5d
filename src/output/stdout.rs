//! stdout is the API: one buffered, locked handle for which a closed pipe is a quiet exit
//! (docs/CONTRACT.md §1), and a best-effort stderr for notes and progress.

use std::io::{self, Write};

/// A closed stdout ends the process quietly: no panic, no exit 101, no error message.
pub fn quiet_exit_on_broken_pipe(err: &io::Error) {
    if err.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

/// Buffered, locked stdout whose writes end the process quietly on a broken pipe.
pub struct Stdout {
    inner: io::BufWriter<io::StdoutLock<'static>>,
}

impl Stdout {
    pub fn new() -> Self {
        Stdout {
            inner: io::BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }

    pub fn write_all_str(&mut self, s: &str) -> io::Result<()> {
        self.write_all(s.as_bytes())
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(quiet_exit_on_broken_pipe)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner
            .write_all(buf)
            .inspect_err(quiet_exit_on_broken_pipe)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(quiet_exit_on_broken_pipe)
    }
}

/// Best-effort stderr line: unlike `eprintln!`, never panics when stderr is gone.
pub fn stderr_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
}
