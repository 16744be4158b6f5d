//! A long fold on both cores. The fold is order-dependent (a baseline resets the comparison,
//! the best depends on every earlier keep, `since_keep` on the last one), so the halves are not
//! folded separately and merged: this thread folds the first half as usual while a second one
//! *reads* the second half, line by line, into what the fold needs (run, status, metric,
//! branch, the line's hash and length) plus the few records a scope could need in full. This
//! thread then folds those entries in order with the same `fold_fields`, so the result is the
//! sequential fold's, exactly.
//!
//! Which records could a scope need in full? `Scope::fold_parts` asks for one when a baseline
//! comes; for a keep that names its code, when it is the best or close to it (any such keep
//! is parsed here: they are few); and for a keep that does not, when it beats the best so far.
//! The best so far is at least as good as every such keep the scope saw since its last
//! baseline, so one that beats it also beats every earlier one of the second half since that
//! half's last baseline in the scope: the second thread parses exactly those ("running bests"
//! per scope), the baselines and the keeps with a code. That covers what is asked but for
//! rare histories (a simplification or a re-check that made the best worse than an earlier
//! keep): a record asked for and not parsed is read again from the file during the merge.
//!
//! Reading and parsing dominate a cold fold (the fold itself is a few ns a line), and both
//! halves share them evenly. Without a second thread, or when something looks off (the file
//! changed under the reader, a record that would not parse), the rest is folded on this thread.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;

use super::Record;
use super::Status;
use super::fold::{Facts, Folder, Last, Summary};
use super::head::{HeadLine, parse_head};
use super::stream::{self, At, End, LineHasher, LineHashes, Start, Visit};
use crate::config::Direction;

/// Below this many bytes one thread is quicker than two.
const SPLIT_MIN: u64 = 8 * 1024 * 1024;

/// Fold `[start.offset, limit)` of `file` into `s` (whose state is the fold up to `start`).
pub fn fold(file: &File, s: &mut Summary, start: Start, limit: u64) -> std::io::Result<End> {
    fold_with(file, s, start, limit, SPLIT_MIN)
}

fn fold_with(
    file: &File,
    s: &mut Summary,
    start: Start,
    limit: u64,
    split_min: u64,
) -> std::io::Result<End> {
    let mut from = start;
    if limit.saturating_sub(start.offset) >= split_min
        && let Some(split) = split_point(file, start.offset, limit)?
    {
        match halves(file, s, start, split, limit)? {
            Halves::Done(end) => return Ok(end),
            Halves::ContinueFrom(at) => from = at,
        }
    }
    let mut folder = Folder::new(s);
    let end = stream::stream(
        At {
            file,
            pos: from.offset,
        },
        from,
        limit,
        true,
        &mut folder,
    )?;
    folder.finish();
    Ok(end)
}

/// The prefix hash of the lines of `[0, limit)` (`End::hash`), both halves hashed at once:
/// checking a cache whose stamp no longer matches costs half a read.
pub fn hash_prefix(file: &File, limit: u64) -> std::io::Result<End> {
    hash_prefix_with(file, limit, SPLIT_MIN)
}

fn hash_prefix_with(file: &File, limit: u64, split_min: u64) -> std::io::Result<End> {
    let split = if limit >= split_min {
        split_point(file, 0, limit)?
    } else {
        None
    };
    let Some(split) = split else {
        let mut h = LineHasher::new(Start::ZERO);
        let (eof, partial) = stream::hash_lines(At { file, pos: 0 }, limit, |b| h.feed(b))?;
        return Ok(End {
            offset: h.offset,
            lines: h.lines,
            hash: h.state,
            partial,
            eof,
        });
    };
    std::thread::scope(|scope| {
        let second = std::thread::Builder::new().spawn_scoped(scope, move || {
            let (mut lines, mut hashes) = (LineHashes::default(), Vec::new());
            let mut len = 0u64;
            let at = At { file, pos: split };
            let tail = stream::hash_lines(at, limit - split, |b| {
                lines.feed(b, |h, n| {
                    hashes.push(h);
                    len += n;
                })
            })?;
            Ok::<_, std::io::Error>((hashes, len, tail))
        })?;
        let mut h = LineHasher::new(Start::ZERO);
        let first = stream::hash_lines(At { file, pos: 0 }, split, |b| h.feed(b))?;
        let (hashes, len, (eof, partial)) = second
            .join()
            .map_err(|_| std::io::Error::other("the ledger's second reader panicked"))??;
        if first != (false, false) || h.offset != split {
            // The file changed under the readers: report what the first half saw.
            return Ok(End {
                offset: h.offset,
                lines: h.lines,
                hash: h.state,
                partial: true,
                eof: first.0,
            });
        }
        Ok(End {
            offset: split + len,
            lines: h.lines + hashes.len() as u64,
            hash: hashes.into_iter().fold(h.state, stream::link),
            partial,
            eof,
        })
    })
}

/// Where to cut `[from, limit)`: just after the first newline at or past its middle.
fn split_point(file: &File, from: u64, limit: u64) -> std::io::Result<Option<u64>> {
    if limit.saturating_sub(from) < 2 {
        return Ok(None);
    }
    let mid = from + (limit - from) / 2;
    let room = usize::try_from(limit - mid + 1).unwrap_or(usize::MAX);
    let mut window = vec![0u8; (super::MAX_LINE + 2).min(room)];
    let n = std::os::unix::fs::FileExt::read_at(file, &mut window, mid - 1)?;
    Ok(memchr::memchr(b'\n', &window[..n])
        .map(|i| mid + i as u64)
        .filter(|&split| split < limit))
}

enum Halves {
    Done(End),
    /// Everything before this point is folded into the summary; fold the rest on one thread.
    ContinueFrom(Start),
}

fn halves(
    file: &File,
    s: &mut Summary,
    start: Start,
    split: u64,
    limit: u64,
) -> std::io::Result<Halves> {
    let default_branch = s.default_branch.clone();
    let direction = s.direction;
    std::thread::scope(|scope| {
        let second = std::thread::Builder::new().spawn_scoped(scope, move || {
            read_half(file, split, limit, direction, &default_branch)
        });
        let Ok(second) = second else {
            return Ok(Halves::ContinueFrom(start));
        };
        let mut hasher = LineHasher::new(start);
        let mut folder = Folder::new(s);
        let first = stream::stream_with(
            At {
                file,
                pos: start.offset,
            },
            start,
            split,
            &mut folder,
            |b| hasher.feed(b),
        )?;
        folder.finish();
        let at = Start {
            offset: first.offset,
            lines: first.lines,
            hash: hasher.state,
        };
        let half = second
            .join()
            .map_err(|_| std::io::Error::other("the ledger's second reader panicked"))??;
        if first.offset != split || first.partial || half.unparsed {
            return Ok(Halves::ContinueFrom(at));
        }
        Ok(Halves::Done(merge(file, s, at, half)))
    })
}

/// Fold the second half's entries, in order, after the first half.
fn merge(file: &File, s: &mut Summary, mut at: Start, half: Half) -> End {
    s.clock = s.clock.max(half.clock);
    let lines = half.entries.iter().zip(&half.hashes).zip(&half.lens);
    for (j, ((entry, &hash), &len)) in lines.enumerate() {
        let no = at.lines + 1;
        s.lines += 1;
        match entry.kind {
            Kind::Blank => {}
            Kind::Bad => s.bad(no),
            Kind::Record(status, interrupted) => {
                // A record the second reader did not foresee the fold would want (a re-check
                // can make the best worse than a keep it judged out of the running): read
                // again from the file, where it still is.
                let offset = at.offset;
                let mut full = || match half.full.get(&j) {
                    Some(r) => r.clone(),
                    None => record_at(file, offset, len),
                };
                let extra = entry.extra.as_deref();
                let facts = Facts {
                    run: entry.run,
                    status,
                    metric: (!entry.metric.is_nan()).then_some(entry.metric),
                    samples: extra.map_or(&[], |x| &x.samples),
                    code: extra.and_then(|x| x.code.as_deref()),
                    setup: extra.and_then(|x| x.setup.as_deref()),
                    interrupted,
                    simplified: extra.is_some_and(|x| x.simplified),
                    retracts: extra.and_then(|x| x.retracts),
                };
                let branch = &half.branches[entry.branch as usize].0;
                s.fold_fields(&facts, branch, &mut full);
            }
        }
        at = Start {
            offset: at.offset + u64::from(len),
            lines: no,
            hash: stream::link(at.hash, hash),
        };
    }
    if let Some((bytes, first)) = &half.last.kept {
        s.set_last(None, bytes, *first);
    }
    for (name, last) in &half.branches {
        if let Some((bytes, first)) = &last.kept {
            s.set_last(Some(name), bytes, *first);
        }
    }
    End {
        offset: at.offset,
        lines: at.lines,
        hash: at.hash,
        ..half.end
    }
}

/// The record on the line of `len` bytes (its newline included) at `offset`.
fn record_at(file: &File, offset: u64, len: u32) -> Option<Record> {
    let mut line = vec![0u8; len as usize];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut line, offset).ok()?;
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    match super::parse_line(line, offset == 0) {
        super::Line::Record(r) => Some(*r),
        _ => None,
    }
}

/// One line of the second half, as the fold needs it: 32 bytes, for memory stays flat.
struct Entry {
    run: u64,
    /// NaN when there is none (a metric is always finite).
    metric: f64,
    /// Index into `Half::branches`.
    branch: u32,
    kind: Kind,
    /// Samples, code and setup, for the lines that have any.
    extra: Option<Box<Extra>>,
}

/// What only some lines have.
struct Extra {
    samples: Vec<f64>,
    code: Option<String>,
    setup: Option<String>,
    simplified: bool,
    retracts: Option<u64>,
}

enum Kind {
    Blank,
    Bad,
    /// The status, and whether the run was interrupted.
    Record(Status, bool),
}

/// The second half, read.
struct Half {
    entries: Vec<Entry>,
    /// Each line's hash and length with its newline.
    hashes: Vec<u64>,
    lens: Vec<u32>,
    /// The records a scope may need in full, by entry index.
    full: HashMap<usize, Option<Record>>,
    /// Branch names in order of appearance, each with its last record's line.
    branches: Vec<(String, Last)>,
    last: Last,
    /// Something this reader does not handle: a record the fold may need did not parse in
    /// full (it always should), or a line of 4 GiB or more. The first thread does it all.
    unparsed: bool,
    /// The highest logical clock of the half's records (`Summary::clock`).
    clock: u64,
    end: End,
}

fn read_half(
    file: &File,
    split: u64,
    limit: u64,
    direction: Direction,
    default_branch: &str,
) -> std::io::Result<Half> {
    let start = Start {
        offset: split,
        lines: 0,
        hash: 0,
    };
    let mut reader = HalfReader {
        direction,
        running_all: None,
        running: Vec::new(),
        default_branch,
        half: Half {
            entries: Vec::new(),
            hashes: Vec::new(),
            lens: Vec::new(),
            full: HashMap::new(),
            branches: Vec::new(),
            last: Last::default(),
            unparsed: false,
            clock: 0,
            end: stream::End {
                offset: split,
                lines: 0,
                hash: 0,
                partial: false,
                eof: false,
            },
        },
        index: HashMap::new(),
        current: 0,
        bytes: limit - split,
        seen: 0,
    };
    let mut lines = LineHashes::default();
    let (mut hashes, mut lens) = (Vec::new(), Vec::new());
    let mut too_long = false;
    let end = stream::stream_with(At { file, pos: split }, start, limit, &mut reader, |b| {
        if hashes.capacity() == 0 {
            // Size the lists once from the first block's lines, not by doubling: peak
            // memory is what a reader must keep small.
            let n = memchr::memchr_iter(b'\n', b).count().max(1) as u64;
            let guess = (limit - split) / (b.len() as u64 / n).max(1) + 16;
            hashes.reserve_exact(guess as usize);
            lens.reserve_exact(guess as usize);
        }
        lines.feed(b, |h, len| {
            hashes.push(h);
            lens.push(u32::try_from(len).unwrap_or_else(|_| {
                too_long = true;
                0
            }));
        })
    })?;
    let mut half = reader.half;
    hashes.truncate(half.entries.len());
    lens.truncate(half.entries.len());
    half.hashes = hashes;
    half.lens = lens;
    half.unparsed |= too_long;
    half.end = end;
    Ok(half)
}

struct HalfReader<'d> {
    direction: Direction,
    /// The best metric among this half's keeps since its last baseline, per scope.
    running_all: Option<f64>,
    running: Vec<Option<f64>>,
    default_branch: &'d str,
    half: Half,
    index: HashMap<String, usize>,
    current: usize,
    /// Bytes in this half, and read so far: to size `entries` once.
    bytes: u64,
    seen: u64,
}

impl HalfReader<'_> {
    fn branch(&mut self, name: &[u8]) -> u32 {
        let same = self
            .half
            .branches
            .get(self.current)
            .is_some_and(|(b, _)| b.as_bytes() == name);
        if !same {
            let name = String::from_utf8_lossy(name);
            self.current = match self.index.get(name.as_ref()) {
                Some(&i) => i,
                None => {
                    let i = self.half.branches.len();
                    self.index.insert(name.to_string(), i);
                    self.half
                        .branches
                        .push((name.into_owned(), Last::default()));
                    self.running.push(None);
                    i
                }
            };
        }
        self.current as u32
    }

    /// Could a scope ask for this record in full? (See the module header.)
    fn candidate(&mut self, status: Status, metric: f64, coded: bool, branch: u32) -> bool {
        let direction = self.direction;
        let beats = |running: &mut Option<f64>| match status {
            Status::Baseline => {
                *running = Some(metric);
                true
            }
            Status::Kept if running.is_none_or(|r| direction.better(metric, r)) => {
                *running = Some(metric);
                true
            }
            _ => false,
        };
        let in_all = beats(&mut self.running_all);
        let in_branch = beats(&mut self.running[branch as usize]);
        in_all || in_branch || (coded && status == Status::Kept)
    }
}

impl Visit for HalfReader<'_> {
    fn line(&mut self, block: &[u8], range: Option<Range<usize>>, _no: u64) -> bool {
        let blank = Entry {
            run: 0,
            metric: f64::NAN,
            branch: 0,
            kind: Kind::Blank,
            extra: None,
        };
        let entry = match range {
            None => Entry {
                kind: Kind::Bad,
                ..blank
            },
            Some(raw) => match parse_head(&block[raw.clone()], false) {
                HeadLine::Blank => blank,
                HeadLine::Bad => Entry {
                    kind: Kind::Bad,
                    ..blank
                },
                HeadLine::Head(h, bytes) => {
                    self.half.clock = self.half.clock.max(h.clock.unwrap_or(0));
                    let name = h
                        .branch
                        .as_deref()
                        .unwrap_or(self.default_branch.as_bytes());
                    let branch = self.branch(name);
                    let wanted = match h.metric {
                        Some(m) => self.candidate(h.status, m, h.code.is_some(), branch),
                        None => h.status == Status::Retraction,
                    };
                    if wanted {
                        let rec = serde_json::from_slice::<Record>(bytes).ok();
                        self.half.unparsed |= rec.is_none();
                        self.half.full.insert(self.half.entries.len(), rec);
                    }
                    self.half.last.set(raw.clone(), false);
                    self.half.branches[branch as usize].1.set(raw, false);
                    let extra = (!h.samples.is_empty()
                        || h.code.is_some()
                        || h.setup.is_some()
                        || h.simplified
                        || h.retracts.is_some())
                    .then(|| {
                        Box::new(Extra {
                            samples: h.samples.to_vec(),
                            code: h.code.as_deref().map(str::to_string),
                            setup: h.setup.as_deref().map(str::to_string),
                            simplified: h.simplified,
                            retracts: h.retracts,
                        })
                    });
                    Entry {
                        run: h.run,
                        metric: h.metric.unwrap_or(f64::NAN),
                        branch,
                        kind: Kind::Record(h.status, h.interrupted),
                        extra,
                    }
                }
            },
        };
        self.half.entries.push(entry);
        true
    }

    fn flush(&mut self, block: &[u8]) {
        if self.seen == 0 {
            // Size the list once from the first block's lines, not by doubling: peak memory
            // is what a reader must keep small.
            let per_line = (block.len() as u64 / self.half.entries.len().max(1) as u64).max(1);
            let guess = usize::try_from(self.bytes / per_line + 16).unwrap_or(0);
            let entries = &mut self.half.entries;
            entries.reserve_exact(guess.saturating_sub(entries.len()));
        }
        self.seen += block.len() as u64;
        self.half.last.flush(block);
        for (_, last) in &mut self.half.branches {
            last.flush(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn line(run: u64, status: Status, metric: Option<f64>, branch: Option<&str>) -> Vec<u8> {
        coded(run, status, metric, branch, None)
    }

    /// A line that names its code (one of a few, so codes repeat) and, with a metric, keeps
    /// two samples around it.
    fn coded(
        run: u64,
        status: Status,
        metric: Option<f64>,
        branch: Option<&str>,
        code: Option<u8>,
    ) -> Vec<u8> {
        let mut r = Record::blank(run, status, metric);
        r.branch = branch.map(str::to_string);
        r.summary = format!("run {run}");
        // A synced record's logical clock, not in run order (other workers' records).
        r.clock = (!run.is_multiple_of(3)).then_some(run * 37 % 101);
        if status == Status::Retraction {
            // Take back an earlier run (a keep or not: the fold must cope either way).
            r.retracts = Some(run / 2);
            r.metric = None;
        }
        if let Some(c) = code {
            r.code = Some(format!("c{c}"));
            r.setup = Some("s".into());
            r.samples = metric.map_or_else(Vec::new, |m| vec![m - 0.125, m + 0.125]);
            if c == 0 && status == Status::Kept {
                r.flags = vec![crate::ledger::SIMPLIFICATION.to_string()];
            }
        }
        let mut l = serde_json::to_vec(&r).unwrap();
        l.push(b'\n');
        l
    }

    /// The fold of the file on one thread, and with the cut forced at every size. The prefix
    /// hash alone, on one thread or two, ends where the folds end.
    fn both(bytes: &[u8], direction: Direction) -> (Summary, End, Summary, End) {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        let len = bytes.len() as u64;
        let mut one = Summary::empty(direction, "main");
        let e1 = fold_with(&f, &mut one, Start::ZERO, len, u64::MAX).unwrap();
        let mut two = Summary::empty(direction, "main");
        let e2 = fold_with(&f, &mut two, Start::ZERO, len, 0).unwrap();
        for split_min in [0, u64::MAX] {
            assert_eq!(hash_prefix_with(&f, len, split_min).unwrap(), e1);
        }
        (one, e1, two, e2)
    }

    fn same(a: &Summary, b: &Summary) -> bool {
        serde_json::to_value(a).unwrap() == serde_json::to_value(b).unwrap()
            && a.torn_tail == b.torn_tail
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Two halves fold exactly as one thread does: baselines, keeps that do and do not
        /// beat the best, other statuses, several branches, bad and blank lines, a torn tail.
        #[test]
        fn two_halves_fold_as_one(
            lines in proptest::collection::vec((0u8..11, 0u8..20, 0u8..3, 0u8..6), 0..120),
            torn in any::<bool>(),
            higher in any::<bool>(),
        ) {
            let mut bytes = Vec::new();
            for (i, (kind, m, b, code)) in lines.iter().enumerate() {
                let branch = [None, Some("main"), Some("fork")][*b as usize];
                let metric = Some(f64::from(*m) / 4.0);
                let status = match kind {
                    0 => Status::Baseline,
                    1..=3 => Status::Kept,
                    4 => Status::Discarded,
                    5 => Status::Crash,
                    9 => Status::Recheck,
                    10 => Status::Retraction,
                    _ => Status::Timeout,
                };
                // Codes 0 to 3 repeat; 4 and 5: a record that does not name its code.
                let code = (*code < 4).then_some(*code);
                match kind {
                    7 => bytes.extend_from_slice(b"not a record\n"),
                    8 => bytes.extend_from_slice(b"\n"),
                    _ => bytes.extend(coded(i as u64, status, metric.filter(|_| *kind != 5), branch, code)),
                }
            }
            if torn {
                bytes.extend_from_slice(br#"{"run":99,"sta"#);
            }
            let direction = if higher { Direction::Higher } else { Direction::Lower };
            let (one, e1, two, e2) = both(&bytes, direction);
            prop_assert_eq!(e1, e2);
            prop_assert!(same(&one, &two));
        }
    }

    #[test]
    fn a_cut_inside_a_long_line_or_without_newline_stays_on_one_thread() {
        let mut bytes = line(0, Status::Baseline, Some(1.0), None);
        bytes.extend(vec![b'x'; super::super::MAX_LINE * 3]);
        bytes.push(b'\n');
        bytes.extend(line(1, Status::Kept, Some(0.5), None));
        let (one, e1, two, e2) = both(&bytes, Direction::Lower);
        assert_eq!(e1, e2);
        assert!(same(&one, &two));
        assert_eq!(one.bad_lines, vec![2]);
    }
}
