//! Reading the ledger forwards in large blocks, handing out each complete line in place (no
//! per-line copy), and chaining a hash over the lines read (the cache's proof of the prefix it
//! covers, see `cache`). Every forward reader goes through here: the fold, the cache check,
//! `for_each` (docs/RELIABILITY.md 6: bytes, not `lines()`, so invalid UTF-8 stops nothing; a line
//! longer than the cap costs no more memory than the block).

use std::io::Read;
use std::ops::Range;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::MAX_LINE;

/// Bytes read per `read` call. Large enough that syscalls do not matter, small enough to stay
/// in the CPU cache while every pass over a block runs, and to keep readers' memory flat.
const BLOCK: usize = 256 * 1024;

/// A line longer than this (without its `\n`) is skipped unparsed, as the original line reader
/// did: it kept `MAX_LINE + 2` bytes including the newline.
const LONG: usize = MAX_LINE + 1;

/// The prefix hash after one more line (`line` includes its `\n`). A chain, so the writer can
/// extend the hash with the line it appended without reading the file again.
pub fn chain(state: u64, line: &[u8]) -> u64 {
    link(state, xxh3_64(line))
}

pub fn link(state: u64, line_hash: u64) -> u64 {
    let mut pair = [0u8; 16];
    pair[..8].copy_from_slice(&state.to_le_bytes());
    pair[8..].copy_from_slice(&line_hash.to_le_bytes());
    xxh3_64(&pair)
}

/// A reader at an offset of a shared file (`pread`): several threads can read one file.
pub struct At<'f> {
    pub file: &'f std::fs::File,
    pub pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// What a reader does with each line.
pub trait Visit {
    /// One complete line: `block[range]` is its text without `\n`, `range` is `None` when it
    /// is longer than the cap. `no` counts from 1 at the start of the file. Return false to
    /// stop after this line.
    fn line(&mut self, block: &[u8], range: Option<Range<usize>>, no: u64) -> bool;

    /// `block` is about to be overwritten: copy out any line still needed.
    fn flush(&mut self, _block: &[u8]) {}
}

/// Where a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// Offset just past the last complete line read.
    pub offset: u64,
    /// Complete lines from the start of the file up to `offset`.
    pub lines: u64,
    /// The prefix hash of `[0, offset)` (when hashing).
    pub hash: u64,
    /// Bytes without a newline were left before the end of the input.
    pub partial: bool,
    /// The input ended (a read returned nothing) rather than reaching the limit or the
    /// visitor stopping.
    pub eof: bool,
}

/// Where a pass starts: the file offset (just after a newline, or 0), the lines and the prefix
/// hash before it.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    pub offset: u64,
    pub lines: u64,
    pub hash: u64,
}

impl Start {
    pub const ZERO: Start = Start {
        offset: 0,
        lines: 0,
        hash: 0,
    };
}

/// Read `src` (positioned at `start.offset`) up to the absolute offset `limit`, calling `v` for
/// each complete line. `hashing` extends the prefix hash over every complete line.
///
/// A long read runs on two threads: one reads and hashes (the kernel's copy of a 43 MB ledger
/// out of the page cache alone is a third of a cold fold here), the caller's splits and visits.
/// Lines stay in order, so the fold stays the plain sequential fold.
pub fn stream(
    mut src: impl Read + Send,
    start: Start,
    limit: u64,
    hashing: bool,
    v: &mut impl Visit,
) -> std::io::Result<End> {
    let mut hasher = hashing.then(|| LineHasher::new(start));
    let (eof, mut end) = if limit.saturating_sub(start.offset) >= PIPELINE_MIN {
        let mut split = Splitter::new(start);
        let eof = pipelined(&mut src, limit, &mut split, &mut hasher, v)?;
        (eof, split.finish(eof))
    } else {
        let end = stream_with(src, start, limit, v, |block| {
            if let Some(h) = hasher.as_mut() {
                h.feed(block);
            }
        })?;
        (end.eof.then_some(true), end)
    };
    if let Some(h) = hasher {
        // Both saw the same complete lines unless the visitor stopped early.
        debug_assert!(eof.is_none() || (h.offset, h.lines) == (end.offset, end.lines));
        end.hash = h.state;
    }
    Ok(end)
}

/// `stream` on the calling thread alone, without hashing; `on_block` sees every block read
/// before its lines are visited.
pub fn stream_with(
    mut src: impl Read,
    start: Start,
    limit: u64,
    v: &mut impl Visit,
    mut on_block: impl FnMut(&[u8]),
) -> std::io::Result<End> {
    let mut split = Splitter::new(start);
    let mut left = limit.saturating_sub(start.offset);
    let mut block = vec![0u8; BLOCK.min(usize::try_from(left).unwrap_or(BLOCK)).max(1)];
    let eof = loop {
        if left == 0 {
            break Some(false);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(block.len());
        let n = read_some(&mut src, &mut block[..want])?;
        if n == 0 {
            break Some(true);
        }
        left -= n as u64;
        on_block(&block[..n]);
        if !split.feed(&block[..n], v) {
            break None;
        }
    };
    Ok(split.finish(eof))
}

/// Read `src` for `len` bytes (or to its end), handing each block to `each`: the hashing
/// readers need no lines. Returns (the input ended before `len`, bytes were left after the
/// last newline).
pub fn hash_lines(
    mut src: impl Read,
    len: u64,
    mut each: impl FnMut(&[u8]),
) -> std::io::Result<(bool, bool)> {
    let mut block = vec![0u8; BLOCK.min(usize::try_from(len).unwrap_or(BLOCK)).max(1)];
    let mut left = len;
    let mut partial = false;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(block.len());
        let n = read_some(&mut src, &mut block[..want])?;
        if n == 0 {
            return Ok((true, partial));
        }
        left -= n as u64;
        each(&block[..n]);
        partial = block[n - 1] != b'\n';
    }
    Ok((false, partial))
}

/// Reads below this many bytes stay on one thread: a thread costs more than it saves.
const PIPELINE_MIN: u64 = 4 * 1024 * 1024;

/// Blocks in flight between the reading thread and the caller's.
const IN_FLIGHT: usize = 3;

fn read_some(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// `stream`'s two-thread road. Returns `Some(eof)` when the input or the limit was reached,
/// `None` when the visitor stopped.
fn pipelined(
    src: &mut (impl Read + Send),
    limit: u64,
    split: &mut Splitter,
    hasher: &mut Option<LineHasher>,
    v: &mut impl Visit,
) -> std::io::Result<Option<bool>> {
    use std::sync::mpsc::sync_channel;
    let split_start = split.end.offset;
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        // Cannot fail: the channel has room for exactly these and the receiver is alive.
        let _ = empty_tx.send(vec![0u8; BLOCK]);
    }
    std::thread::scope(|scope| {
        let reader =
            std::thread::Builder::new().spawn_scoped(scope, move || -> std::io::Result<bool> {
                let mut left = limit.saturating_sub(split_start);
                while left > 0 {
                    // The caller stopped (or failed) when the channels close: stop reading.
                    let Ok(mut block) = empty_rx.recv() else {
                        return Ok(false);
                    };
                    let want = usize::try_from(left).unwrap_or(usize::MAX).min(block.len());
                    let n = read_some(&mut *src, &mut block[..want])?;
                    if n == 0 {
                        return Ok(true);
                    }
                    left -= n as u64;
                    if let Some(h) = hasher.as_mut() {
                        h.feed(&block[..n]);
                    }
                    if full_tx.send((block, n)).is_err() {
                        return Ok(false);
                    }
                }
                Ok(false)
            })?;
        let mut stopped = false;
        for (block, n) in full_rx.iter() {
            if !split.feed(&block[..n], v) {
                stopped = true;
                break;
            }
            // The reader may have finished: a closed channel is fine.
            let _ = empty_tx.send(block);
        }
        drop(full_rx);
        drop(empty_tx);
        let eof = reader
            .join()
            .map_err(|_| std::io::Error::other("the ledger's reading thread panicked"))??;
        Ok((!stopped).then_some(eof))
    })
}

/// The hash and length of each complete line of a stream fed block by block.
#[derive(Default)]
pub struct LineHashes {
    /// The hash of the start of a line that continues in the next block, and its length.
    partial: Option<(Xxh3, u64)>,
}

impl LineHashes {
    /// Calls `each(hash, length with the newline)` for every line `data` completes.
    pub fn feed(&mut self, data: &[u8], mut each: impl FnMut(u64, u64)) {
        let mut at = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            let whole = &data[at..=nl];
            match self.partial.take() {
                Some((mut h, len)) => {
                    h.update(whole);
                    each(h.digest(), len + whole.len() as u64);
                }
                None => each(xxh3_64(whole), whole.len() as u64),
            }
            at = nl + 1;
        }
        let rest = &data[at..];
        if !rest.is_empty() {
            let (h, len) = self.partial.get_or_insert_with(|| (Xxh3::new(), 0));
            h.update(rest);
            *len += rest.len() as u64;
        }
    }
}

/// The prefix hash over the complete lines of a stream fed block by block.
pub struct LineHasher {
    pub state: u64,
    pub offset: u64,
    pub lines: u64,
    lines_of: LineHashes,
}

impl LineHasher {
    pub fn new(start: Start) -> LineHasher {
        LineHasher {
            state: start.hash,
            offset: start.offset,
            lines: start.lines,
            lines_of: LineHashes::default(),
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        let (state, offset, lines) = (&mut self.state, &mut self.offset, &mut self.lines);
        self.lines_of.feed(data, |h, len| {
            *state = link(*state, h);
            *offset += len;
            *lines += 1;
        });
    }
}

/// Splits the blocks of a stream into lines, carrying a line that straddles two blocks.
struct Splitter {
    end: End,
    /// The start of a line that began in an earlier block (at most `LONG + 1` bytes).
    carry: Vec<u8>,
    /// Inside a line longer than the cap: its length so far (its bytes are not kept).
    long: Option<u64>,
}

impl Splitter {
    fn new(start: Start) -> Splitter {
        Splitter {
            end: End {
                offset: start.offset,
                lines: start.lines,
                hash: start.hash,
                partial: false,
                eof: false,
            },
            carry: Vec::new(),
            long: None,
        }
    }

    /// One complete line of `len` bytes with its `\n`, seen by the visitor as `block[range]`.
    fn line(
        &mut self,
        block: &[u8],
        range: Option<Range<usize>>,
        len: u64,
        v: &mut impl Visit,
    ) -> bool {
        self.end.lines += 1;
        self.end.offset += len;
        v.line(block, range.filter(|r| r.len() <= LONG), self.end.lines)
    }

    /// The next bytes of the input. False when the visitor stopped.
    fn feed(&mut self, data: &[u8], v: &mut impl Visit) -> bool {
        let mut at = 0;
        if !self.carry.is_empty() || self.long.is_some() {
            let Some(nl) = memchr::memchr(b'\n', data) else {
                self.carry_on(data);
                return true;
            };
            at = nl + 1;
            if let Some(len) = self.long.take() {
                if !self.line(data, None, len + at as u64, v) {
                    return false;
                }
            } else {
                let mut carry = std::mem::take(&mut self.carry);
                carry.extend_from_slice(&data[..at]);
                let body = 0..carry.len() - 1;
                let go = self.line(&carry, Some(body), carry.len() as u64, v);
                v.flush(&carry);
                carry.clear();
                self.carry = carry;
                if !go {
                    return false;
                }
            }
        }
        let base = at;
        for nl in memchr::memchr_iter(b'\n', &data[base..]) {
            let nl = base + nl;
            let (line, len) = (at..nl, (nl + 1 - at) as u64);
            at = nl + 1;
            if !self.line(data, Some(line), len, v) {
                v.flush(data);
                return false;
            }
        }
        v.flush(data);
        self.carry_on(&data[at..]);
        true
    }

    /// Keep the start of a line that continues in the next block; only count it once it is
    /// longer than the cap.
    fn carry_on(&mut self, rest: &[u8]) {
        if let Some(len) = self.long.as_mut() {
            *len += rest.len() as u64;
        } else if self.carry.len() + rest.len() > LONG {
            self.long = Some((self.carry.len() + rest.len()) as u64);
            self.carry.clear();
        } else {
            self.carry.extend_from_slice(rest);
        }
    }

    /// `eof`: `Some(true)` when the input ended, `Some(false)` at the limit, `None` when the
    /// visitor stopped.
    fn finish(mut self, eof: Option<bool>) -> End {
        self.end.eof = eof == Some(true);
        self.end.partial = eof.is_some() && (!self.carry.is_empty() || self.long.is_some());
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(u64, Option<Vec<u8>>)>);

    impl Visit for Collect {
        fn line(&mut self, block: &[u8], range: Option<Range<usize>>, no: u64) -> bool {
            self.0.push((no, range.map(|r| block[r].to_vec())));
            true
        }
    }

    fn whole_hash(text: &[u8]) -> u64 {
        text.split_inclusive(|&b| b == b'\n')
            .filter(|l| l.ends_with(b"\n"))
            .fold(0, chain)
    }

    #[test]
    fn lines_across_blocks_long_lines_and_a_partial_tail() {
        let mut text = Vec::new();
        let mut expect = Vec::new();
        for i in 0..3000usize {
            let len = match i % 500 {
                7 => LONG + 1,
                8 => LONG,
                9 => BLOCK * 2 + 5,
                _ => i % 300,
            };
            let line = vec![b'a' + (i % 26) as u8; len];
            text.extend_from_slice(&line);
            text.push(b'\n');
            expect.push(((i + 1) as u64, (len <= LONG).then_some(line)));
        }
        let complete = text.len() as u64;
        text.extend_from_slice(b"torn");
        let mut c = Collect::default();
        let end = stream(&text[..], Start::ZERO, u64::MAX, true, &mut c).unwrap();
        assert_eq!(c.0, expect);
        assert_eq!(end.offset, complete);
        assert_eq!(end.lines, 3000);
        assert!(end.partial && end.eof);
        assert_eq!(end.hash, whole_hash(&text));
    }

    /// Stops after `at` lines.
    struct StopAt(u64, Collect);

    impl Visit for StopAt {
        fn line(&mut self, block: &[u8], range: Option<Range<usize>>, no: u64) -> bool {
            self.1.line(block, range, no);
            no < self.0
        }
    }

    /// The two-thread road (a read of 4 MiB or more) hands out the same lines, ends at the
    /// same place with the same hash as the one-thread road, and stops when asked.
    #[test]
    fn both_roads_agree() {
        let mut text = Vec::new();
        let mut i = 0usize;
        while (text.len() as u64) < PIPELINE_MIN * 2 {
            let len = if i % 4000 == 7 { LONG + 3 } else { i % 200 };
            text.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            text.push(b'\n');
            i += 1;
        }
        text.extend_from_slice(b"torn");
        let limit = text.len() as u64;
        let (mut two, mut one) = (Collect::default(), Collect::default());
        let e2 = stream(&text[..], Start::ZERO, limit, true, &mut two).unwrap();
        let mut h = LineHasher::new(Start::ZERO);
        let mut e1 = stream_with(&text[..], Start::ZERO, limit, &mut one, |b| h.feed(b)).unwrap();
        e1.hash = h.state;
        assert_eq!(two.0, one.0);
        assert_eq!(e2, e1);
        assert_eq!(e2.hash, whole_hash(&text));
        assert!(e2.partial && !e2.eof);
        let mut stop = StopAt(1000, Collect::default());
        let e = stream(&text[..], Start::ZERO, limit, false, &mut stop).unwrap();
        assert_eq!((e.lines, stop.1.0.len()), (1000, 1000));
        assert!(!e.partial && !e.eof);
    }

    #[test]
    fn a_limit_and_a_start_in_the_middle() {
        let text = b"one\ntwo\nthree\nfour\n";
        let mut c = Collect::default();
        let end = stream(&text[..], Start::ZERO, 9, true, &mut c).unwrap();
        assert_eq!(end.offset, 8);
        assert_eq!(end.lines, 2);
        assert!(end.partial && !end.eof);
        assert_eq!(end.hash, whole_hash(b"one\ntwo\n"));
        // Carry on from there: the hash and the line numbers continue.
        let from = Start {
            offset: end.offset,
            lines: end.lines,
            hash: end.hash,
        };
        let mut c = Collect::default();
        let end = stream(&text[8..], from, u64::MAX, true, &mut c).unwrap();
        assert_eq!(c.0[0], (3, Some(b"three".to_vec())));
        assert_eq!(end.hash, whole_hash(text));
        assert!(!end.partial && end.eof);
    }
}
