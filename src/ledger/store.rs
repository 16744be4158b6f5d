//! The ledger on disk: the locked, fsynced append with torn-tail repair (RELIABILITY 1–5), the
//! streaming readers (RELIABILITY 6), and the cached fold (`summary.json`: the byte offset it
//! covers and a hash of the bytes before it, checked on every load).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use super::fold::{Lasts, Summary};
use super::head::{HeadLine, parse_head};
use super::{CACHE_FORMAT, Filter, Ledger, Line, MAX_LINE, Record, TAIL_HASH_BYTES, parse_line};
use crate::error::{AppError, Code, Result};

/// Reads lines with a cap: a huge garbage line costs no more than `MAX_LINE` of memory.
struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Offset of the next byte to read.
    pos: u64,
}

enum Next {
    /// A complete line: its bytes (possibly cut at the cap, then `too_long`), start, end.
    Line {
        too_long: bool,
        end: u64,
    },
    /// Bytes after the last newline: a torn tail.
    Torn,
    Eof,
}

impl<R: BufRead> LineReader<R> {
    fn next(&mut self) -> std::io::Result<Next> {
        self.buf.clear();
        let mut too_long = false;
        let mut read = 0u64;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.pos += read;
                return Ok(if read == 0 { Next::Eof } else { Next::Torn });
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = (MAX_LINE + 2).saturating_sub(self.buf.len());
            if take > room {
                too_long = true;
            }
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            self.inner.consume(take);
            read += take as u64;
            if done {
                self.pos += read;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                }
                return Ok(Next::Line {
                    too_long,
                    end: self.pos,
                });
            }
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Hash of the bytes just before `offset`: the cache's check that the prefix is unchanged.
fn tail_hash(file: &mut File, offset: u64) -> std::io::Result<u64> {
    let start = offset.saturating_sub(TAIL_HASH_BYTES);
    let mut buf = vec![0u8; (offset - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut buf)?;
    Ok(fnv1a(&buf))
}

impl Ledger {
    /// The fold of the whole ledger, incrementally from the cache when it still matches.
    pub fn summary(&self) -> Result<Summary> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Summary::empty(self.direction, &self.default_branch));
            }
            Err(e) => return Err(self.io_err(&e)),
        };
        self.summary_of(&mut file, true)
            .map_err(|e| self.io_err(&e))
    }

    fn load_cache(&self, file: &mut File, len: u64) -> Option<Summary> {
        let bytes = std::fs::read(&self.cache_path).ok()?;
        let s: Summary = serde_json::from_slice(&bytes).ok()?;
        if s.format != CACHE_FORMAT
            || s.direction != self.direction
            || s.default_branch != self.default_branch
            || s.offset > len
        {
            return None;
        }
        (tail_hash(file, s.offset).ok()? == s.tail_hash).then_some(s)
    }

    fn save_cache(&self, s: &Summary) {
        // Best effort and without fsync: a lost or stale cache is only rebuilt, never trusted
        // blindly (offset + tail hash are checked on every load).
        let Ok(bytes) = serde_json::to_vec(s) else {
            return;
        };
        let tmp = self.cache_path.with_extension(format!(
            "json.tmp-{}-{}",
            std::process::id(),
            crate::fsutil::nonce()
        ));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &self.cache_path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn summary_of(&self, file: &mut File, save: bool) -> std::io::Result<Summary> {
        let len = file.metadata()?.len();
        let mut s = self
            .load_cache(file, len)
            .unwrap_or_else(|| Summary::empty(self.direction, &self.default_branch));
        let start = s.offset;
        file.seek(SeekFrom::Start(start))?;
        let mut reader = LineReader {
            inner: BufReader::with_capacity(256 * 1024, &mut *file),
            buf: Vec::new(),
            pos: start,
        };
        let mut lasts = Lasts::default();
        loop {
            match reader.next()? {
                Next::Eof => break,
                Next::Torn => {
                    s.torn_tail = Some(s.lines + 1);
                    break;
                }
                Next::Line { too_long, end } => {
                    s.lines += 1;
                    let line_no = s.lines;
                    if too_long {
                        s.bad(line_no);
                    } else {
                        match parse_head(&reader.buf, line_no == 1) {
                            HeadLine::Blank => {}
                            HeadLine::Head(h, bytes) => s.fold_head(&h, bytes, &mut lasts),
                            HeadLine::Bad => s.bad(line_no),
                        }
                    }
                    s.offset = end;
                }
            }
        }
        s.finish_lasts(lasts);
        if s.offset != start || (start == 0 && s.lines == 0) {
            drop(reader);
            s.tail_hash = tail_hash(file, s.offset)?;
            if save && s.offset != start {
                self.save_cache(&s);
            }
        }
        Ok(s)
    }

    /// Stream every record in order; `f` returns false to stop. Returns the health summary
    /// of what was read (bad line numbers, torn tail) as warnings.
    pub fn for_each(&self, mut f: impl FnMut(u64, Record) -> bool) -> Result<Vec<String>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let mut reader = LineReader {
            inner: BufReader::with_capacity(256 * 1024, file),
            buf: Vec::new(),
            pos: 0,
        };
        let mut health = Summary::empty(self.direction, &self.default_branch);
        let mut line_no = 0u64;
        loop {
            match reader.next().map_err(|e| self.io_err(&e))? {
                Next::Eof => break,
                Next::Torn => {
                    health.torn_tail = Some(line_no + 1);
                    break;
                }
                Next::Line { too_long, .. } => {
                    line_no += 1;
                    if too_long {
                        health.bad(line_no);
                        continue;
                    }
                    match parse_line(&reader.buf, line_no == 1) {
                        Line::Blank => {}
                        Line::Record(rec) => {
                            if !f(line_no, *rec) {
                                break;
                            }
                        }
                        Line::Bad => health.bad(line_no),
                    }
                }
            }
        }
        Ok(health.health_warnings(&self.label()))
    }

    /// The last `n` records matching `filter`, oldest first, read backwards from the end so
    /// the cost does not grow with the ledger.
    pub fn tail(&self, n: usize, filter: &Filter) -> Result<Vec<Record>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        let mut out: Vec<Record> = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        const CHUNK: u64 = 64 * 1024;
        // Invariant: `buf` holds the bytes [start, boundary) and ends with `\n` (or is empty);
        // complete lines are popped from its end, a partial first line waits for more bytes.
        let mut start = len;
        let mut buf: Vec<u8> = Vec::new();
        let mut first_read = true;
        // Inside a line longer than MAX_LINE: drop bytes until its start is found.
        let mut skipping = false;
        'read: while out.len() < n {
            if start == 0 {
                break;
            }
            let from = start.saturating_sub(CHUNK);
            let mut chunk = vec![0u8; (start - from) as usize];
            file.seek(SeekFrom::Start(from))
                .and_then(|_| file.read_exact(&mut chunk))
                .map_err(|e| self.io_err(&e))?;
            start = from;
            if first_read {
                first_read = false;
                // A torn tail (no trailing newline) is not a record.
                match chunk.iter().rposition(|&b| b == b'\n') {
                    Some(p) => chunk.truncate(p + 1),
                    None => {
                        skipping = true;
                        continue;
                    }
                }
            }
            if skipping {
                match chunk.iter().rposition(|&b| b == b'\n') {
                    Some(p) => {
                        chunk.truncate(p + 1);
                        skipping = false;
                    }
                    None => continue,
                }
            }
            chunk.extend_from_slice(&buf);
            buf = chunk;
            while let Some(body_end) = buf.len().checked_sub(1) {
                let line_start = match buf[..body_end].iter().rposition(|&b| b == b'\n') {
                    Some(q) => q + 1,
                    None if start == 0 => 0,
                    None => {
                        if buf.len() > MAX_LINE + 2 {
                            buf.clear();
                            skipping = true;
                        }
                        continue 'read;
                    }
                };
                if let Line::Record(rec) =
                    parse_line(&buf[line_start..body_end], line_start == 0 && start == 0)
                    && filter.matches(&rec, &self.default_branch)
                {
                    out.push(*rec);
                    if out.len() == n {
                        break 'read;
                    }
                }
                buf.truncate(line_start);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Find one record by run number (streams; the last match wins if a run repeats).
    pub fn find(&self, run: u64) -> Result<Option<Record>> {
        let mut found = None;
        self.for_each(|_, r| {
            if r.run == run {
                found = Some(r);
            }
            true
        })?;
        Ok(found)
    }

    fn label(&self) -> String {
        format!(
            "`{}`",
            self.path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        )
    }

    /// Append one record under the lock. `build` gets the next run number and the summary as it
    /// stood before this record, and returns the record to write. Returns the record as written
    /// and that summary.
    pub fn append(
        &self,
        build: impl FnOnce(u64, &Summary) -> Result<Record>,
    ) -> Result<(Record, Summary)> {
        let _lock = self.lock()?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io_err(&e))?;
        self.repair_torn_tail(&mut file)?;
        let summary = self
            .summary_of(&mut file, false)
            .map_err(|e| self.io_err(&e))?;
        let record = build(summary.next_run(), &summary)?;
        let mut line = serde_json::to_vec(&record).map_err(AppError::internal)?;
        line.push(b'\n');
        if line.len() > MAX_LINE {
            return Err(AppError::usage(
                format!(
                    "The record would be {} bytes; a ledger line is at most 64 KiB.",
                    line.len()
                ),
                "Shorten the summary or pass fewer `--metrics`.",
            ));
        }
        let old_len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        if let Ok(ms) = std::env::var("AUTORESEARCH_TEST_PAUSE_IN_LOCK_MS")
            && let Ok(ms) = ms.parse::<u64>()
        {
            // Test hook: hold the lock so a test can SIGKILL a writer inside it.
            std::thread::sleep(Duration::from_millis(ms));
        }
        // One write call: a record must never be split across syscalls (RELIABILITY 3).
        let written = file.write(&line);
        let ok = matches!(written, Ok(n) if n == line.len());
        let synced = ok && file.sync_data().is_ok();
        if !synced {
            // No fragment may stay behind (RELIABILITY 5).
            let _ = file.set_len(old_len);
            let _ = file.sync_data();
            let err = match written {
                Err(e) => e,
                Ok(_) => std::io::Error::other("short write or failed fdatasync"),
            };
            return Err(AppError::io(
                format!("appending to `{}`", self.path.display()),
                &err,
            ));
        }
        let mut after = summary.clone();
        after.lines += 1;
        after.fold(record.clone());
        after.offset = old_len + line.len() as u64;
        if let Ok(h) = tail_hash(&mut file, after.offset) {
            after.tail_hash = h;
            self.save_cache(&after);
        }
        Ok((record, summary))
    }

    /// Move bytes after the last newline to `experiments.jsonl.torn` and truncate them away.
    fn repair_torn_tail(&self, file: &mut File) -> Result<()> {
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        if len == 0 {
            return Ok(());
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| self.io_err(&e))?;
        if last[0] == b'\n' {
            return Ok(());
        }
        // Find the last newline, reading backwards in chunks.
        let mut cut = 0u64;
        let mut end = len;
        'outer: while end > 0 {
            let start = end.saturating_sub(64 * 1024);
            let mut buf = vec![0u8; (end - start) as usize];
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| self.io_err(&e))?;
            if let Some(p) = buf.iter().rposition(|&b| b == b'\n') {
                cut = start + p as u64 + 1;
                break 'outer;
            }
            end = start;
        }
        let mut torn = vec![0u8; (len - cut) as usize];
        file.seek(SeekFrom::Start(cut))
            .and_then(|_| file.read_exact(&mut torn))
            .map_err(|e| self.io_err(&e))?;
        torn.push(b'\n');
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.torn_path)
            .map_err(|e| AppError::io(self.torn_path.display(), &e))?;
        out.write_all(&torn)
            .and_then(|_| out.sync_data())
            .map_err(|e| AppError::io(self.torn_path.display(), &e))?;
        file.set_len(cut)
            .and_then(|_| file.sync_data())
            .map_err(|e| self.io_err(&e))?;
        Ok(())
    }

    /// The writers' lock: `flock` on `experiments.lock`, which dies with its holder.
    fn lock(&self) -> Result<File> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map_err(|e| AppError::io(self.lock_path.display(), &e))?;
        let timeout = std::env::var("AUTORESEARCH_LOCK_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(30), Duration::from_millis);
        let deadline = Instant::now() + timeout;
        let mut wait = Duration::from_millis(1);
        loop {
            match f.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = f.read_to_string(&mut holder);
                        let holder = holder.trim();
                        let who = if holder.is_empty() {
                            "another process".to_string()
                        } else {
                            format!("process {holder}")
                        };
                        return Err(AppError::new(
                            Code::LockTimeout,
                            format!(
                                "The ledger lock `{}` has been held by {who} for more than {} s.",
                                self.lock_path.display(),
                                timeout.as_secs()
                            ),
                            format!(
                                "Wait for {who} to finish (check it with `ps -p {}`), then retry.",
                                if holder.is_empty() { "<pid>" } else { holder }
                            ),
                        ));
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(AppError::io(
                        format!("locking `{}`", self.lock_path.display()),
                        &e,
                    ));
                }
            }
        }
        // Name the holder for anyone who times out waiting.
        let _ = f.set_len(0);
        let _ = f.seek(SeekFrom::Start(0));
        let _ = f.write_all(format!("{}\n", std::process::id()).as_bytes());
        Ok(f)
    }
}
