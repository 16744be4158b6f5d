//! Reading the ledger backwards, for `log -n N`: the cost follows N, not the ledger's size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::{Filter, Ledger, Line, MAX_LINE, Record, parse_line};
use crate::error::Result;

impl Ledger {
    /// The last `n` records matching `filter`, oldest first, read backwards from the end so
    /// the cost does not grow with the ledger.
    pub fn tail(&self, n: usize, filter: &Filter) -> Result<Vec<Record>> {
        self.tail_upto(u64::MAX, n, filter)
    }

    /// `tail` of the ledger's first `end` bytes: pass a summary's `offset` to list exactly the
    /// records it counted, whatever was appended since.
    pub fn tail_upto(&self, end: u64, n: usize, filter: &Filter) -> Result<Vec<Record>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(&e)),
        };
        let len = file.metadata().map_err(|e| self.io_err(&e))?.len().min(end);
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
}
