//! What `install` wrote, per scope (docs/RELIABILITY.md 17): the path, the hash of the bytes we
//! wrote (and the ones we wrote there before), the version and the targets. A file is "ours" when
//! its bytes hash to one of those, so an edit by the user is never mistaken for our own output.
//!
//! The project manifest lives in `.autoresearch/installed.json` (the state dir ignores itself);
//! the global one in `$XDG_CONFIG_HOME/autoresearch/installed.json`. Losing it is not fatal:
//! files that equal what this version generates are still recognised as ours.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

/// The manifest's own format, so a later version can read an older file.
const FORMAT: u32 = 1;
/// Older hashes kept per path: enough to recognise a few generations of our own output.
const MAX_PREVIOUS: usize = 16;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub files: Vec<Entry>,
    /// Directories `install` created, so `uninstall` may remove them again once empty (and
    /// never a directory that was there before).
    #[serde(default)]
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Absolute path of the file.
    pub path: String,
    /// Hash of the bytes last written there (`fnv1a64:<hex>`).
    pub hash: String,
    /// Hashes of what was written there before, oldest first.
    #[serde(default)]
    pub previous: Vec<String>,
    /// The autoresearch version that last wrote it.
    pub version: String,
    pub targets: Vec<String>,
    pub written_at: String,
}

/// FNV-1a, 64 bits: detects any edit to a small text file. Not a defence against someone
/// forging a collision on purpose, which is not the threat here (the user owns these files).
pub fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}

fn key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl Manifest {
    /// Read the manifest at `path`. Missing → empty. Unreadable or corrupt → empty plus a warning:
    /// install then falls back to recognising this version's own output, which stays safe.
    pub fn load(path: &Path) -> (Manifest, Option<String>) {
        let empty = Manifest {
            format: FORMAT,
            ..Manifest::default()
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (empty, None),
            Err(e) => {
                return (
                    empty,
                    Some(format!(
                        "Cannot read `{}` ({e}); treating it as empty.",
                        path.display()
                    )),
                );
            }
        };
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => (m, None),
            Err(e) => (
                empty,
                Some(format!(
                    "`{}` is not a valid install manifest ({e}); it will be rewritten.",
                    path.display()
                )),
            ),
        }
    }

    /// Write atomically, creating the parent directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir.display(), &e))?;
        }
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| AppError::internal(format!("serialising the manifest: {e}")))?;
        text.push(b'\n');
        crate::fsutil::write_atomic(path, &text)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }

    pub fn entry(&self, path: &Path) -> Option<&Entry> {
        let k = key(path);
        self.files.iter().find(|e| e.path == k)
    }

    /// Did we write exactly these bytes (by hash) at this path, now or before?
    pub fn wrote(&self, path: &Path, hash: &str) -> bool {
        self.entry(path)
            .is_some_and(|e| e.hash == hash || e.previous.iter().any(|p| p == hash))
    }

    /// Remember that we wrote `hash` at `path` (or found our own content there).
    pub fn record(&mut self, path: &Path, hash: &str, targets: &[&str]) {
        let k = key(path);
        let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        let now = crate::ledger::now_timestamp();
        if let Some(e) = self.files.iter_mut().find(|e| e.path == k) {
            if e.hash != hash {
                let old = std::mem::replace(&mut e.hash, hash.to_string());
                e.previous.retain(|p| p != hash && *p != old);
                e.previous.push(old);
                let excess = e.previous.len().saturating_sub(MAX_PREVIOUS);
                e.previous.drain(..excess);
                e.written_at = now;
            }
            e.version = crate::skills::VERSION.to_string();
            for t in targets {
                if !e.targets.contains(&t) {
                    e.targets.push(t);
                }
            }
            return;
        }
        self.files.push(Entry {
            path: k,
            hash: hash.to_string(),
            previous: Vec::new(),
            version: crate::skills::VERSION.to_string(),
            targets,
            written_at: now,
        });
    }

    pub fn forget(&mut self, path: &Path) {
        let k = key(path);
        self.files.retain(|e| e.path != k);
    }

    pub fn add_dir(&mut self, dir: &Path) {
        let k = key(dir);
        if !self.dirs.contains(&k) {
            self.dirs.push(k);
        }
    }

    pub fn created_dir(&self, dir: &Path) -> bool {
        self.dirs.contains(&key(dir))
    }

    pub fn forget_dir(&mut self, dir: &Path) {
        let k = key(dir);
        self.dirs.retain(|d| *d != k);
    }

    pub fn dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(PathBuf::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(hash(b""), "fnv1a64:cbf29ce484222325");
        assert_eq!(hash(b"a"), "fnv1a64:af63dc4c8601ec8c");
        assert_eq!(hash(b"foobar"), "fnv1a64:85944171f73967e8");
    }

    #[test]
    fn record_keeps_history_and_recognises_older_writes() {
        let mut m = Manifest::default();
        let p = Path::new("/x/SKILL.md");
        m.record(p, "h1", &["codex"]);
        m.record(p, "h2", &["agents"]);
        assert!(m.wrote(p, "h1") && m.wrote(p, "h2"));
        assert!(!m.wrote(p, "h3"));
        assert_eq!(m.entry(p).unwrap().targets, ["codex", "agents"]);
        for i in 0..40 {
            m.record(p, &format!("g{i}"), &["codex"]);
        }
        assert_eq!(m.entry(p).unwrap().previous.len(), MAX_PREVIOUS);
        m.forget(p);
        assert!(m.entry(p).is_none());
    }

    #[test]
    fn corrupt_manifest_loads_empty_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("installed.json");
        std::fs::write(&p, "{not json").unwrap();
        let (m, w) = Manifest::load(&p);
        assert!(m.files.is_empty());
        assert!(w.unwrap().contains("not a valid install manifest"));
        let (_, w) = Manifest::load(&dir.path().join("missing.json"));
        assert!(w.is_none());
    }
}
