//! The cached fold, `summary.json`: when a reader may trust it without reading the ledger, and
//! how it is checked when it may not.
//!
//! A cache records the byte offset it covers, a hash chained over the lines before that offset,
//! and a `Stamp`: the ledger's `(dev, ino, len, mtime, ctime)` as stat'ed for the fold, plus a
//! *fence*, a timestamp of the same filesystem clock taken just *before* that stat.
//!
//! **Current by metadata** (no ledger byte read): the ledger's metadata now equals the stamp's,
//! and the stamped ctime is strictly older than the fence. Why that is sound: any change to the
//! ledger after the stat (write, truncate, rename over it, `touch`) sets its ctime, which no
//! user can set, to the filesystem clock at that moment, which is at or after the fence, hence
//! different from the stamped ctime. The fence must precede the stat: a fence taken after it
//! (the cache file's own mtime, as git's racy-index rule uses) leaves a hole, a same-length edit
//! in the same clock tick as the ledger's ctime but after the stat, that nothing would notice.
//! When the clock is coarse and the ctime falls in the fence's tick, the stamp is "racy" and
//! is not trusted; the writer waits for the next tick before stamping (see `store::append`).
//! Assumed: the wall clock does not step backwards into the same tick, and the ledger and the
//! cache live on one filesystem (one clock). One window is left, by design: the appender
//! extends the fold it checked under the lock with the line it wrote and stamps the result
//! without reading the file again, so a writer that ignores the lock (docs/CONTRACT.md §5)
//! and edits earlier bytes in place, at the same length, during that append (a few
//! milliseconds, the fdatasync included) would go unseen. Closing it would mean re-reading the
//! ledger on every append. Every other change, by anyone, at any time, is seen.
//!
//! **Otherwise**, the prefix `[0, offset)` is read and hashed (a fraction of a fold's cost); if
//! it matches, only the lines after it are folded; if not, the fold starts over. The measured
//! timestamps here (Linux 6.18, ext4) are coarse (4 ms) unless a file's times were just read, in
//! which case the next change gets a fine one (multigrain timestamps); both cases are covered.

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::fold::Summary;
use super::halves;
use super::stream::{End, Start};
use super::{CACHE_FORMAT, Ledger};

/// A file as stat'ed: what changes whenever its bytes or its identity do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    /// `[seconds, nanoseconds]`.
    mtime: [i64; 2],
    ctime: [i64; 2],
}

impl FileId {
    /// Was the file last changed strictly before this fence?
    pub fn ctime_before(&self, fence: [i64; 2]) -> bool {
        self.ctime < fence
    }

    #[cfg(test)]
    pub fn ctime(&self) -> [i64; 2] {
        self.ctime
    }

    pub fn of(m: &Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: [m.mtime(), m.mtime_nsec()],
            ctime: [m.ctime(), m.ctime_nsec()],
        }
    }
}

/// The ledger as stat'ed for a fold, and the fence taken before that stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub file: FileId,
    pub fence: [i64; 2],
}

impl Stamp {
    /// A stamp readers may trust: the ledger's last change came strictly before the fence.
    pub fn settled(file: FileId, fence: [i64; 2]) -> Option<Stamp> {
        file.ctime_before(fence).then_some(Stamp { file, fence })
    }
}

impl Summary {
    /// Does this cache describe the ledger with metadata `now`, without reading it?
    pub(super) fn current_for(&self, now: &Metadata) -> bool {
        self.stamp
            .is_some_and(|s| s.file.ctime_before(s.fence) && s.file == FileId::of(now))
    }

    /// A cache current by metadata knows the torn tail too: the bytes past `offset`.
    pub(super) fn note_torn_tail(&mut self, len: u64) {
        self.torn_tail = (len > self.offset).then_some(self.lines + 1);
    }

    /// Where a fold continuing from this cache starts.
    pub(super) fn start(&self) -> Start {
        Start {
            offset: self.offset,
            lines: self.lines,
            hash: self.prefix_hash,
        }
    }
}

impl Ledger {
    /// The cache, if it is one for this ledger's settings. Not yet checked against the file.
    pub(super) fn load_cache(&self) -> Option<Summary> {
        let bytes = std::fs::read(&self.cache_path).ok()?;
        let s: Summary = serde_json::from_slice(&bytes).ok()?;
        (s.format == CACHE_FORMAT
            && s.direction == self.direction
            && s.default_branch == self.default_branch)
            .then_some(s)
    }

    /// Does the ledger (open as `file`) still begin with the lines `s` covers? Reads and
    /// hashes `[0, s.offset)`.
    pub(super) fn prefix_matches(&self, file: &File, s: &Summary, len: u64) -> bool {
        if s.offset > len {
            return false;
        }
        let want = End {
            offset: s.offset,
            lines: s.lines,
            hash: s.prefix_hash,
            partial: false,
            eof: false,
        };
        // The limit reached exactly (not the end of the file) with nothing left over.
        halves::hash_prefix(file, s.offset).is_ok_and(|end| end == want)
    }

    /// A timestamp of the filesystem's clock, now: the ctime of `summary.json` after setting
    /// its mtime (creating it empty if missing; an empty cache is simply not used). Taken
    /// before the ledger is stat'ed, it fences that stat (see the module header). `None` when
    /// the state directory is read-only: then no cache is trusted by metadata.
    pub(super) fn fence(&self) -> Option<[i64; 2]> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.cache_path)
            .ok()?;
        f.set_modified(SystemTime::now()).ok()?;
        let m = f.metadata().ok()?;
        Some([m.ctime(), m.ctime_nsec()])
    }

    /// Best effort and without fsync: a lost or stale cache is only rebuilt, never trusted
    /// blindly (the stamp or the prefix hash is checked on every load).
    pub(super) fn save_cache(&self, s: &Summary) {
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
}
