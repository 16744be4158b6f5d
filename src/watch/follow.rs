//! Following a file that grows by appends (the ledger, a run's log) by polling its metadata:
//! each poll costs an `open` and an `fstat` when nothing changed (the open makes NFS look again),
//! and reads only the bytes appended since the last complete line. Polling rather than file
//! notification, so it works on the network file systems clusters keep their repositories on.
//!
//! A file that shrank, was replaced (another inode) or rewritten in place (the bytes just before
//! the read position changed) is reported as [`Polled::Replaced`]; the caller starts over.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How many bytes before the read position are compared on each read, to notice a file
/// rewritten in place with at least as many bytes as before.
const WITNESS: u64 = 64;
/// Reads are made in chunks of this size, so a large backlog never sits in memory at once.
const CHUNK: usize = 4 << 20;
/// An unfinished last line (a progress bar drawn with `\r`) is kept up to this many bytes.
const PARTIAL_MAX: usize = 4096;

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Same file, same length.
    Unchanged,
    /// New bytes were read (complete lines went to the callback; an unfinished one is kept).
    Grew,
    /// The file shrank, is another file, or its bytes before the read position changed: the
    /// position is back at 0 and nothing was read. Read it again from the start.
    Replaced,
    /// There is no file (yet, or any more).
    Missing,
}

/// A file followed from a byte position that is always just after a newline (or 0).
#[derive(Debug)]
pub struct Follow {
    path: PathBuf,
    offset: u64,
    /// Device and inode of the file read so far; `None` before the first read.
    id: Option<(u64, u64)>,
    /// The last bytes before `offset` as read, to notice an in-place rewrite.
    witness: Vec<u8>,
    /// The unfinished last line, as of the last poll (at most `PARTIAL_MAX` bytes, its end).
    partial: Vec<u8>,
    /// Length and modification time at the last read: the same again means nothing new.
    stamp: (u64, i64, i64),
}

impl Follow {
    /// Follow `path` from byte `offset`, which must be 0 or just after a newline. The file
    /// there now is the one followed: another one later is a replacement.
    pub fn from(path: &Path, offset: u64) -> Follow {
        let mut f = Follow {
            path: path.to_path_buf(),
            offset,
            id: None,
            witness: Vec::new(),
            partial: Vec::new(),
            stamp: (0, 0, 0),
        };
        if let Ok(mut file) = File::open(path)
            && let Ok(meta) = file.metadata()
            && meta.len() >= offset
        {
            f.id = Some((meta.dev(), meta.ino()));
            let n = offset.min(WITNESS);
            let mut witness = vec![0; n as usize];
            if file.seek(SeekFrom::Start(offset - n)).is_ok()
                && file.read_exact(&mut witness).is_ok()
            {
                f.witness = witness;
            }
        }
        f
    }

    /// Follow the last `bytes` of `path` (from the first line that starts inside them): a log's
    /// tail, without reading what came before.
    pub fn tail_of(path: &Path, bytes: u64) -> Follow {
        let mut f = Follow::from(path, 0);
        let Ok(mut file) = File::open(path) else {
            return f;
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return f;
        };
        if len <= bytes {
            return f;
        }
        let start = len - bytes;
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(start)).is_err()
            || (&mut file).take(bytes).read_to_end(&mut buf).is_err()
        {
            return f;
        }
        if let Some(nl) = memchr::memchr(b'\n', &buf) {
            f.offset = start + nl as u64 + 1;
        }
        f
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The byte position read up to: just after the last complete line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The unfinished last line as of the last poll (empty when the file ends with a newline).
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// Look at the file; when it grew, call `line` with each new complete line (without its
    /// `\n`) in order.
    pub fn poll(&mut self, mut line: impl FnMut(&[u8])) -> io::Result<Polled> {
        // Open, then ask the open file: on NFS an open revalidates the attributes the client
        // cached (close-to-open), so what another host appended shows at the next look; and
        // the bytes read are those of the file stat'ed, even if the path is replaced meanwhile.
        let opened = File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m)));
        let (mut file, meta) = match opened {
            Ok(fm) => fm,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(if self.id.is_some() {
                    self.restart();
                    Polled::Replaced
                } else {
                    Polled::Missing
                });
            }
            Err(e) => return Err(e),
        };
        let id = (meta.dev(), meta.ino());
        let len = meta.len();
        let stamp = (len, meta.mtime(), meta.mtime_nsec());
        if self.id.is_some_and(|known| known != id) || len < self.offset {
            self.restart();
            return Ok(Polled::Replaced);
        }
        if self.id.is_some() && self.stamp == stamp {
            return Ok(Polled::Unchanged);
        }
        if !self.witness_holds(&mut file)? {
            self.restart();
            return Ok(Polled::Replaced);
        }
        self.id = Some(id);
        self.stamp = stamp;
        let before = self.offset;
        let partial_before = std::mem::take(&mut self.partial);
        self.read_lines(&mut file, len, &mut line)?;
        let grew = self.offset > before || self.partial != partial_before;
        Ok(if grew {
            Polled::Grew
        } else {
            Polled::Unchanged
        })
    }

    /// Back to the start of whatever file is at the path now.
    fn restart(&mut self) {
        self.offset = 0;
        self.id = None;
        self.stamp = (0, 0, 0);
        self.witness.clear();
        self.partial.clear();
    }

    /// Are the bytes just before `offset` still the ones read there?
    fn witness_holds(&self, file: &mut File) -> io::Result<bool> {
        if self.witness.is_empty() {
            return Ok(true);
        }
        let n = self.witness.len() as u64;
        file.seek(SeekFrom::Start(self.offset - n))?;
        let mut now = vec![0; self.witness.len()];
        match file.read_exact(&mut now) {
            Ok(()) => Ok(now == self.witness),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Read `[offset, len)` in chunks: complete lines to `line`, the offset past the last one,
    /// the unfinished rest (its last `PARTIAL_MAX` bytes) into `partial`.
    fn read_lines(
        &mut self,
        file: &mut File,
        len: u64,
        line: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        file.seek(SeekFrom::Start(self.offset))?;
        let mut carry: Vec<u8> = Vec::new();
        let mut pos = self.offset;
        let mut buf = vec![0u8; CHUNK.min((len - pos) as usize).max(1)];
        while pos < len {
            let want = buf.len().min((len - pos) as usize);
            let got = file.read(&mut buf[..want])?;
            if got == 0 {
                break;
            }
            pos += got as u64;
            carry.extend_from_slice(&buf[..got]);
            let Some(last_nl) = memchr::memrchr(b'\n', &carry) else {
                // One endless line: only its end is ever shown.
                if carry.len() > CHUNK {
                    carry.drain(..carry.len() - PARTIAL_MAX);
                }
                continue;
            };
            for l in carry[..last_nl].split(|&b| b == b'\n') {
                line(l);
            }
            self.offset += last_nl as u64 + 1;
            let done = &carry[..=last_nl];
            let keep = done.len().saturating_sub(WITNESS as usize);
            self.witness = done[keep..].to_vec();
            carry.drain(..=last_nl);
        }
        let cut = carry.len().saturating_sub(PARTIAL_MAX);
        self.partial = carry.split_off(cut);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follow) -> (Polled, Vec<String>) {
        let mut got = Vec::new();
        let p = f
            .poll(|l| got.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        (p, got)
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn reads_only_complete_new_lines_and_keeps_the_unfinished_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = Follow::from(&path, 0);
        assert_eq!(lines(&mut f).0, Polled::Missing);
        append(&path, "a\nb\npart");
        assert_eq!(lines(&mut f), (Polled::Grew, vec!["a".into(), "b".into()]));
        assert_eq!(f.partial(), b"part");
        assert_eq!(f.offset(), 4);
        assert_eq!(lines(&mut f), (Polled::Unchanged, vec![]));
        append(&path, "ial\nc\n");
        assert_eq!(
            lines(&mut f),
            (Polled::Grew, vec!["partial".into(), "c".into()])
        );
        assert!(f.partial().is_empty());
    }

    #[test]
    fn a_truncated_replaced_or_rewritten_file_is_read_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        append(&path, "one\ntwo\n");
        let mut f = Follow::from(&path, 0);
        assert_eq!(lines(&mut f).1.len(), 2);
        // Truncated.
        std::fs::write(&path, "x\n").unwrap();
        assert_eq!(lines(&mut f).0, Polled::Replaced);
        assert_eq!(lines(&mut f), (Polled::Grew, vec!["x".into()]));
        // Replaced by a rename (another inode), longer than before.
        let other = dir.path().join("new");
        std::fs::write(&other, "x\ny\nz\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(lines(&mut f).0, Polled::Replaced);
        assert_eq!(lines(&mut f).1, vec!["x", "y", "z"]);
        // Rewritten in place with more bytes: the bytes before the position changed.
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(b"X\nY\nZ\nW\n").unwrap();
        drop(w);
        assert_eq!(lines(&mut f).0, Polled::Replaced);
        // Removed.
        lines(&mut f);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(lines(&mut f).0, Polled::Replaced);
        assert_eq!(lines(&mut f).0, Polled::Missing);
    }

    #[test]
    fn a_tail_starts_at_a_line_inside_the_last_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        append(&path, &text);
        let mut f = Follow::tail_of(&path, 30);
        let got = lines(&mut f).1;
        assert!(got.len() >= 2 && got.len() <= 4, "{got:?}");
        assert_eq!(got.last().map(String::as_str), Some("line 99"));
        assert!(got.iter().all(|l| l.starts_with("line ")), "{got:?}");
    }

    #[test]
    fn an_endless_line_keeps_only_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, &"x".repeat(CHUNK * 2 + 10));
        append(&path, "\rdone");
        let mut f = Follow::from(&path, 0);
        assert!(lines(&mut f).1.is_empty());
        assert_eq!(f.partial().len(), PARTIAL_MAX);
        assert!(f.partial().ends_with(b"\rdone"));
    }
}
