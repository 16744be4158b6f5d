//! Reading the ledger backwards, for `log -n N`: the cost follows N, not the ledger's size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::{Filter, Ledger, Line, MAX_LINE, Record, parse_line};
use crate::error::Result;

/// What reading the end of the ledger found.
#[derive(Debug, Default)]
pub struct Tail {
    /// The records, oldest first.
    pub records: Vec<Record>,
    /// The ledger ends in a torn line (no trailing newline), which was ignored.
    pub torn: bool,
    /// Lines passed over on the way that do not parse as records (or are over the cap).
    pub bad: u64,
}

impl Tail {
    /// The warnings a reader gives for what it passed over. Line numbers are not known when
    /// reading backwards, so they are not named.
    pub fn health_warnings(&self, path_label: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.bad > 0 {
            let lines = if self.bad == 1 { "line" } else { "lines" };
            out.push(format!(
                "{path_label}: skipped {} {lines} near the end that do not parse as records",
                self.bad
            ));
        }
        if self.torn {
            out.push(format!(
                "{path_label}: the last line is torn (no trailing newline) and was ignored; the next write moves it to experiments.jsonl.torn"
            ));
        }
        out
    }
}

impl Ledger {
    /// The last `n` records matching `filter`, oldest first, read backwards from the end so
    /// the cost does not grow with the ledger.
    pub fn tail(&self, n: usize, filter: &Filter) -> Result<Vec<Record>> {
        Ok(self.read_tail(u64::MAX, n, filter)?.records)
    }

    /// `tail` of the ledger's first `end` bytes: pass a summary's `offset` to list exactly the
    /// records it counted, whatever was appended since.
    pub fn tail_upto(&self, end: u64, n: usize, filter: &Filter) -> Result<Vec<Record>> {
        Ok(self.read_tail(end, n, filter)?.records)
    }

    /// `tail_upto`, with what the reader passed over (a torn tail, bad lines).
    pub fn read_tail(&self, end: u64, n: usize, filter: &Filter) -> Result<Tail> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tail::default()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len().min(end);
        let mut out = Tail::default();
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
        'read: while out.records.len() < n {
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
                out.torn = chunk.last().is_some_and(|&b| b != b'\n');
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
                            out.bad += 1;
                        }
                        continue 'read;
                    }
                };
                match parse_line(&buf[line_start..body_end], line_start == 0 && start == 0) {
                    Line::Record(rec) if filter.matches(&rec, &self.default_branch) => {
                        out.records.push(*rec);
                        if out.records.len() == n {
                            break 'read;
                        }
                    }
                    Line::Bad => out.bad += 1,
                    Line::Record(_) | Line::Blank => {}
                }
                buf.truncate(line_start);
            }
        }
        out.records.reverse();
        Ok(out)
    }
}
