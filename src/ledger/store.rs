//! The ledger on disk: the locked, fsynced append with torn-tail repair (docs/RELIABILITY.md
//! 1–5), the forward readers (docs/RELIABILITY.md 6), and the fold with its cache
//! (`summary.json`, see `cache`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::cache::{FileId, Stamp};
use super::fold::{Folder, Summary};
use super::halves;
use super::stream::{self, Visit};
use super::{Ledger, Line, MAX_LINE, Record, parse_line};
use crate::error::{AppError, Code, Result};
use crate::fsutil;

/// How a summary was obtained: from the cache alone, by folding what followed a verified
/// cache, or from scratch. For tests and for reasoning about cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum How {
    Current,
    Incremental { from: u64 },
    Scratch,
}

/// How long an appender waits for the clock to tick past its write before stamping the cache
/// (see `cache`); past this, readers check the prefix hash instead.
const SETTLE: Duration = Duration::from_millis(20);

impl Ledger {
    /// The fold of the whole ledger: from the cache when it is current, else incrementally from
    /// the cache when its prefix still matches, else from scratch. Saves the cache it made.
    pub fn summary(&self) -> Result<Summary> {
        self.summary_how().map(|(s, _)| s)
    }

    pub(super) fn summary_how(&self) -> Result<(Summary, How)> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((self.empty(), How::Scratch));
            }
            Err(e) => return Err(self.io_err(&e)),
        };
        self.summary_of(&file, true).map_err(|e| self.io_err(&e))
    }

    /// The summary only when `summary.json` is current by metadata alone: reads no byte of the
    /// ledger, so it costs the same at any size. `None` when the ledger changed since (or the
    /// cache is missing, stale or racy); then call `summary`.
    pub fn cached_summary(&self) -> Option<Summary> {
        let now = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(self.empty()),
            Err(_) => return None,
        };
        let mut s = self.load_cache()?;
        s.current_for(&now).then(|| {
            s.note_torn_tail(now.len());
            s
        })
    }

    fn empty(&self) -> Summary {
        Summary::empty(self.direction, &self.default_branch)
    }

    /// The fold of `file`, up to its length when stat'ed. `save`: a reader, which fences its
    /// stat and saves the cache; the appender saves its own after writing.
    fn summary_of(&self, file: &File, save: bool) -> std::io::Result<(Summary, How)> {
        let mut meta = file.metadata()?;
        let cache = match self.load_cache() {
            Some(mut s) if s.current_for(&meta) => {
                s.note_torn_tail(meta.len());
                return Ok((s, How::Current));
            }
            other => other,
        };
        let mut fence = None;
        if save {
            // Fence, then stat (see `cache`); once more if the ledger changed in the fence's tick.
            for _ in 0..2 {
                fence = self.fence();
                meta = file.metadata()?;
                if fence.is_none_or(|f| FileId::of(&meta).ctime_before(f)) {
                    break;
                }
            }
        }
        let len = meta.len();
        let (mut s, how) = match cache {
            Some(c) if self.prefix_matches(file, &c, len) => {
                let from = c.offset;
                (c, How::Incremental { from })
            }
            _ => (self.empty(), How::Scratch),
        };
        let start = s.start();
        let end = halves::fold(file, &mut s, start, len)?;
        s.offset = end.offset;
        s.prefix_hash = end.hash;
        s.torn_tail = end.partial.then_some(end.lines + 1);
        s.stamp = fence.and_then(|f| Stamp::settled(FileId::of(&meta), f));
        if save {
            self.save_cache_sweeping(&s);
        }
        Ok((s, how))
    }

    /// Stream every record in order; `f` returns false to stop. Returns the health summary
    /// of what was read (bad line numbers, torn tail) as warnings.
    pub fn for_each(&self, f: impl FnMut(u64, Record) -> bool) -> Result<Vec<String>> {
        self.for_each_upto(u64::MAX, f)
    }

    /// `for_each` over the ledger's first `end` bytes: pass a summary's `offset` to visit
    /// exactly the records it counted while appends go on. Reads the file as it is when
    /// opened (what is appended meanwhile is for the next reader). A torn tail is reported
    /// only when it lies before `end`.
    pub fn for_each_upto(
        &self,
        end: u64,
        f: impl FnMut(u64, Record) -> bool,
    ) -> Result<Vec<String>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        let limit = end.min(len);
        let mut v = Records {
            f,
            health: self.empty(),
        };
        let stop = stream::stream(file, stream::Start::ZERO, limit, false, &mut v)
            .map_err(|e| self.io_err(&e))?;
        if stop.partial && (stop.eof || limit == len) {
            v.health.torn_tail = Some(stop.lines + 1);
        }
        Ok(v.health.health_warnings(&self.label()))
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

    /// [`Ledger::append_with_warnings`] without its warnings: the record as written and the
    /// summary before it. A torn tail moved aside goes unreported here, so callers that
    /// surface warnings should call `append_with_warnings`.
    pub fn append(
        &self,
        build: impl FnOnce(u64, &Summary) -> Result<Record>,
    ) -> Result<(Record, Summary)> {
        self.append_with_warnings(build)
            .map(|a| (a.record, a.before))
    }

    /// Append one record under the lock. `build` gets the next run number and the summary as it
    /// stood before this record, and returns the record to write. Returns the record as written,
    /// that summary, and what the writer did besides (a torn tail moved aside) as warnings.
    pub fn append_with_warnings(
        &self,
        build: impl FnOnce(u64, &Summary) -> Result<Record>,
    ) -> Result<Appended> {
        self.append_around(Vec::new, build)
    }

    /// [`Ledger::append_with_warnings`], skipping the run numbers `reserved` gives (read under
    /// the lock): those `run` steps in progress reserved for themselves (see
    /// [`Ledger::reserve`]), so that a step finishing first never takes the number, the log
    /// file and the commit message of a step still evaluating.
    pub fn append_around(
        &self,
        reserved: impl FnOnce() -> Vec<u64>,
        build: impl FnOnce(u64, &Summary) -> Result<Record>,
    ) -> Result<Appended> {
        let many =
            self.append_many_around(reserved, |next, summary| Ok(vec![build(next()?, summary)?]))?;
        let record = many
            .records
            .into_iter()
            .next()
            .ok_or_else(|| AppError::internal("the append wrote no record"))?;
        Ok(Appended {
            record,
            before: many.before,
            warnings: many.warnings,
        })
    }

    /// Append several records under the lock, in one write: all of them or none
    /// (docs/RELIABILITY.md 3). `build` gets `next`, which hands out the run numbers in order
    /// (past the ones `reserved` gives, as in [`Ledger::append_around`]), and the summary
    /// before them; it returns the records in ledger order. An empty list writes nothing.
    pub fn append_many_around(
        &self,
        reserved: impl FnOnce() -> Vec<u64>,
        build: impl FnOnce(&mut dyn FnMut() -> Result<u64>, &Summary) -> Result<Vec<Record>>,
    ) -> Result<AppendedMany> {
        let _lock = self.lock()?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io_err(&e))?;
        let moved = self.repair_torn_tail(&mut file)?;
        let (summary, _) = self.summary_of(&file, false).map_err(|e| self.io_err(&e))?;
        // The torn line was the one after the last complete line.
        let warnings = moved
            .map(|m| self.moved_warning(&m, summary.lines + 1))
            .into_iter()
            .collect();
        let reserved = reserved();
        let mut last: Option<u64> = None;
        let mut next = || -> Result<u64> {
            let mut run = match last {
                None => self.next_run(&summary)?,
                Some(l) => l.checked_add(1).ok_or_else(|| self.numbers_exhausted())?,
            };
            while reserved.contains(&run) {
                run = run.checked_add(1).ok_or_else(|| self.numbers_exhausted())?;
            }
            last = Some(run);
            Ok(run)
        };
        let mut records = build(&mut next, &summary)?;
        self.stamp_synced(&mut records, &summary)?;
        let (bytes, ends) = encode(&records)?;
        if records.is_empty() {
            return Ok(AppendedMany {
                records,
                before: summary,
                warnings,
            });
        }
        let old_len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        if let Ok(ms) = std::env::var("AUTORESEARCH_TEST_PAUSE_IN_LOCK_MS")
            && let Ok(ms) = ms.parse::<u64>()
        {
            // Test hook: hold the lock so a test can SIGKILL a writer inside it.
            std::thread::sleep(Duration::from_millis(ms));
        }
        // One write call: a record is never split across syscalls (docs/RELIABILITY.md 3).
        let outcome = match file.write(&bytes) {
            Ok(n) if n == bytes.len() => file.sync_data(),
            Ok(n) => Err(short_write(&mut file, n, &bytes)),
            Err(e) => Err(e),
        };
        if let Err(err) = outcome {
            // No fragment may stay behind (docs/RELIABILITY.md 5).
            let _ = file.set_len(old_len);
            let _ = file.sync_data();
            return Err(fsutil::io_error(
                format!("appending to `{}`", self.path.display()),
                &self.path,
                &err,
            ));
        }
        // The cache after these records, if the fold covered the whole file before them (a
        // writer that ignores the lock may have added bytes the fold did not see).
        if summary.offset == old_len && summary.torn_tail.is_none() {
            let mut after = summary.clone();
            after.stamp = None;
            let mut start = 0;
            for end in ends {
                fold_line(&mut after, &bytes[start..end]);
                start = end;
            }
            self.save_appended(&file, after);
        }
        Ok(AppendedMany {
            records,
            before: summary,
            warnings,
        })
    }

    /// Once the clone syncs, this worker's new records carry its id and the next logical
    /// clocks: above every clock in the ledger, the other workers' records included, so a
    /// record always sorts after everything its writer could have seen (docs/ARCHITECTURE.md).
    /// Records `sync` brings (with `worker_run`) keep their own.
    fn stamp_synced(&self, records: &mut [Record], summary: &Summary) -> Result<()> {
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        let Some(me) = super::worker::synced_id(dir)? else {
            return Ok(());
        };
        let mut clock = summary.clock;
        for r in records.iter_mut().filter(|r| r.worker_run.is_none()) {
            clock += 1;
            r.worker = Some(me.clone());
            r.clock = Some(clock);
        }
        Ok(())
    }

    /// The run number the next record gets: the last valid record's + 1 (docs/CONTRACT.md §5),
    /// refused rather than wrapped to 0 after `u64::MAX`, which only a hand-edited ledger (or
    /// another tool) can hold. `io_error`, exit 1: no code names a ledger that cannot be
    /// appended to; `internal` would call it a bug, `config_invalid` and `usage` (exit 2) would
    /// blame the config or the call, which are fine, and the same call does pass once the
    /// ledger is fixed, which is what exit 1 means.
    fn next_run(&self, summary: &Summary) -> Result<u64> {
        summary.next_run().ok_or_else(|| self.numbers_exhausted())
    }

    /// The next run number that is not in `reserved`.
    fn free_run(&self, summary: &Summary, reserved: &[u64]) -> Result<u64> {
        let mut run = self.next_run(summary)?;
        while reserved.contains(&run) {
            run = run.checked_add(1).ok_or_else(|| self.numbers_exhausted())?;
        }
        Ok(run)
    }

    /// Reserve the run number of a `run` step about to evaluate: the next one that is not in
    /// `reserved` (what other steps in progress reserved), handed to `publish` while the lock is
    /// held. Steps on different branches run at once; under the lock, two of them never reserve
    /// the same number, and no append takes a number while a step is publishing it.
    pub fn reserve(
        &self,
        reserved: impl FnOnce() -> Vec<u64>,
        publish: impl FnOnce(u64) -> Result<()>,
    ) -> Result<u64> {
        let _lock = self.lock()?;
        let run = self.free_run(&self.summary()?, &reserved())?;
        publish(run)?;
        Ok(run)
    }

    /// The ledger's highest run is `u64::MAX`: no next number (they never wrap to 0).
    pub fn numbers_exhausted(&self) -> AppError {
        AppError::new(
            Code::IoError,
            format!(
                "Cannot append to `{}`: a record has run number {}, the largest there is, so the next record would have none (run numbers never wrap to 0).",
                self.path.display(),
                u64::MAX
            ),
            format!(
                "That number was written by hand or by another tool: give that record its intended run number in `{}`, then run the command again.",
                self.path.display()
            ),
        )
    }

    /// What happened to a torn tail, and where its bytes are now (docs/RELIABILITY.md 4).
    fn moved_warning(&self, m: &Moved, line: u64) -> String {
        let label = self.label();
        let torn = self.torn_path.display();
        match m.run {
            // Not lost, but no longer counted: someone (an editor that drops the final
            // newline, another tool) wrote a whole record, and it should not vanish silently.
            Some(run) => format!(
                "{label}: line {line} was a complete record (run #{run}) without its final newline; like any torn tail it was moved to the end of `{torn}` and no longer counts. Copy it back into the ledger if it should count (its run number may be taken since)."
            ),
            None => format!(
                "{label}: line {line} was torn ({}, not a complete record: a writer was probably stopped mid-write); it was moved to the end of `{torn}`. No complete record was lost.",
                count_bytes(m.bytes)
            ),
        }
    }

    /// Save the cache after an append, stamped once the ledger's ctime is settled (strictly
    /// before a fence). With a coarse clock the write and the fence can share a tick: wait for
    /// the next one, up to `SETTLE`; on a filesystem with multigrain timestamps the first or
    /// second try succeeds at once. Past that, save unstamped: readers check the prefix hash.
    fn save_appended(&self, file: &File, mut after: Summary) {
        let deadline = Instant::now() + SETTLE;
        for attempt in 0u32.. {
            if attempt >= 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let Some(fence) = self.fence() else { break };
            let Ok(meta) = file.metadata() else { break };
            let id = FileId::of(&meta);
            if meta.len() != after.offset {
                break;
            }
            if let Some(stamp) = Stamp::settled(id, fence) {
                after.stamp = Some(stamp);
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        self.save_cache_sweeping(&after);
    }

    /// Save the cache, first removing the temp files of earlier saves that never reached their
    /// rename (a writer killed in between, a full disk): docs/RELIABILITY.md 20.
    fn save_cache_sweeping(&self, s: &Summary) {
        if let (Some(dir), Some(name)) = (self.cache_path.parent(), self.cache_path.file_name()) {
            // `save_cache` names them `summary.json.tmp-<pid>-<nonce>`.
            let prefix = format!("{}.tmp-", name.to_string_lossy());
            fsutil::remove_stale_temps(dir, &prefix);
        }
        self.save_cache(s);
    }

    /// Move bytes after the last newline to `experiments.jsonl.torn` and truncate them away;
    /// says what was moved, if anything.
    fn repair_torn_tail(&self, file: &mut File) -> Result<Option<Moved>> {
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len();
        if len == 0 {
            return Ok(None);
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(|e| self.io_err(&e))?;
        if last[0] == b'\n' {
            return Ok(None);
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
        let moved = Moved {
            bytes: torn.len() as u64,
            run: match parse_line(&torn, cut == 0) {
                Line::Record(r) => Some(r.run),
                Line::Blank | Line::Bad => None,
            },
        };
        torn.push(b'\n');
        let torn_err = |e: std::io::Error| {
            fsutil::io_error(
                format!("moving a torn tail to `{}`", self.torn_path.display()),
                &self.torn_path,
                &e,
            )
        };
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.torn_path)
            .map_err(torn_err)?;
        out.write_all(&torn)
            .and_then(|_| out.sync_data())
            .map_err(torn_err)?;
        file.set_len(cut)
            .and_then(|_| file.sync_data())
            .map_err(|e| self.io_err(&e))?;
        Ok(Some(moved))
    }

    /// What `experiments.jsonl.torn` holds: one line per torn tail a writer moved aside
    /// (docs/RELIABILITY.md 4). `None` when there is no such file. Streams, and parses at most
    /// 64 KiB of a line, like the ledger's readers.
    pub fn torn_tails(&self) -> Result<Option<TornTails>> {
        let file = match File::open(&self.torn_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AppError::io(self.torn_path.display(), &e)),
        };
        let mut found = TornTails {
            path: self.torn_path.clone(),
            tails: 0,
            records: 0,
            runs: Vec::new(),
        };
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, file);
        let mut line = Vec::new();
        let mut long = false;
        loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| AppError::io(self.torn_path.display(), &e))?;
            if buf.is_empty() {
                break;
            }
            let (part, used, end) = match memchr::memchr(b'\n', buf) {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            if line.len() + part.len() <= MAX_LINE {
                line.extend_from_slice(part);
            } else {
                long = true;
            }
            reader.consume(used);
            if end {
                found.add(&line, long);
                line.clear();
                long = false;
            }
        }
        // A last line without its newline (a hand edit) is a tail too.
        found.add(&line, long);
        Ok((found.tails > 0).then_some(found))
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

/// What `append_with_warnings` wrote and found.
#[derive(Debug)]
pub struct Appended {
    /// The record as written.
    pub record: Record,
    /// The ledger's fold just before it.
    pub before: Summary,
    /// What the writer did besides, for the envelope: a torn tail moved aside.
    pub warnings: Vec<String>,
}

/// The records as ledger lines, one buffer, with where each line ends; a line over `MAX_LINE`
/// is refused.
fn encode(records: &[Record]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut bytes = Vec::new();
    let mut ends = Vec::with_capacity(records.len());
    for record in records {
        let start = bytes.len();
        serde_json::to_writer(&mut bytes, record).map_err(AppError::internal)?;
        bytes.push(b'\n');
        if bytes.len() - start > MAX_LINE {
            return Err(AppError::usage(
                format!(
                    "The record would be {} bytes; a ledger line is at most 64 KiB.",
                    bytes.len() - start
                ),
                "Shorten the summary or pass fewer `--metrics`.",
            ));
        }
        ends.push(bytes.len());
    }
    Ok((bytes, ends))
}

/// What [`Ledger::append_many_around`] did.
#[derive(Debug)]
pub struct AppendedMany {
    /// The records as written, in order.
    pub records: Vec<Record>,
    /// The ledger's fold just before them.
    pub before: Summary,
    /// What the writer did besides, for the envelope: a torn tail moved aside.
    pub warnings: Vec<String>,
}

/// A torn tail the writer moved to `experiments.jsonl.torn`.
struct Moved {
    /// Its length, without the newline the move added.
    bytes: u64,
    /// Its run number when the bytes are a complete record that only lacked its newline.
    run: Option<u64>,
}

/// `12 bytes`, `1 byte`.
fn count_bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// What `experiments.jsonl.torn` holds, for `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTails {
    pub path: std::path::PathBuf,
    /// Torn tails (non-blank lines) in it.
    pub tails: u64,
    /// How many of them are complete records that only lacked their newline.
    pub records: u64,
    /// Those records' run numbers, the first 20.
    pub runs: Vec<u64>,
}

impl TornTails {
    fn add(&mut self, line: &[u8], long: bool) {
        if !long && line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.tails += 1;
        if long {
            return;
        }
        if let Line::Record(r) = parse_line(line, false) {
            self.records += 1;
            if self.runs.len() < 20 {
                self.runs.push(r.run);
            }
        }
    }
}

/// Why a `write` took only `n` of `line`'s bytes. On a regular file that means the file system
/// ran out of room part-way (a full disk or a quota): one more write of the rest returns the
/// kernel's reason, where a bare "short write" would leave the user guessing. Whatever that
/// write adds goes with the truncate-back that follows.
fn short_write(file: &mut File, n: usize, line: &[u8]) -> std::io::Error {
    let what = format!("a short write: {n} of {} bytes", line.len());
    match file.write(&line[n..]) {
        Err(e) if fsutil::is_storage_full(&e) => {
            std::io::Error::new(std::io::ErrorKind::StorageFull, what)
        }
        Err(e) => std::io::Error::new(e.kind(), format!("{what}, then: {e}")),
        Ok(_) => std::io::Error::other(what),
    }
}

/// Fold one line this process just appended (`line` ends in `\n`) exactly as a reader would.
fn fold_line(s: &mut Summary, line: &[u8]) {
    let no = s.lines + 1;
    let mut folder = Folder::new(s);
    folder.line(line, Some(0..line.len() - 1), no);
    folder.flush(line);
    folder.finish();
    s.offset += line.len() as u64;
    s.prefix_hash = stream::chain(s.prefix_hash, line);
}

/// `for_each`'s visitor: every record, parsed in full, and the bad lines.
struct Records<F> {
    f: F,
    health: Summary,
}

impl<F: FnMut(u64, Record) -> bool> Visit for Records<F> {
    fn line(&mut self, block: &[u8], range: Option<Range<usize>>, no: u64) -> bool {
        let Some(range) = range else {
            self.health.bad(no);
            return true;
        };
        match parse_line(&block[range], no == 1) {
            Line::Blank => true,
            Line::Record(rec) => (self.f)(no, *rec),
            Line::Bad => {
                self.health.bad(no);
                true
            }
        }
    }
}
