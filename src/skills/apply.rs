//! Applying a plan to the disk, one path at a time (docs/RELIABILITY.md 17–18): the decision for
//! each file (created, updated, unchanged, kept-modified, skipped, replaced; removed,
//! not-installed) and the few careful file operations behind it. Every write is atomic; a dry run
//! takes the same decisions and touches nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::manifest::{self, Manifest};
use super::{Kind, Planned};
use crate::error::{AppError, Result};

/// The suffix of the new version written beside an edited file.
pub const NEW_SUFFIX: &str = ".autoresearch-new";
/// The suffix of the copy `--force` makes before replacing a file.
pub const BACKUP_SUFFIX: &str = ".autoresearch-backup";
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    KeptModified,
    Skipped,
    Replaced,
    Removed,
    NotInstalled,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::KeptModified => "kept-modified",
            Action::Skipped => "skipped",
            Action::Replaced => "replaced",
            Action::Removed => "removed",
            Action::NotInstalled => "not-installed",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FileResult {
    pub path: String,
    pub kind: Kind,
    /// The targets this path serves (several when they share it).
    pub targets: Vec<&'static str>,
    pub action: Action,
    /// Why, for anything but the plain cases.
    pub detail: Option<String>,
    /// `kept-modified` on install: where the new version is (or would be) written.
    pub new_path: Option<String>,
    /// `replaced`: where the previous content is (or would be) copied first.
    pub backup: Option<String>,
}

pub fn read_existing(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AppError::io(format!("reading `{}`", path.display()), &e)),
        Ok(_) => {}
    }
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        // A dangling symlink: something is there, but not a file we can compare.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(Vec::new())),
        Err(e) => Err(AppError::io(format!("reading `{}`", path.display()), &e)),
    }
}

/// `<file><suffix>`.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// `<file>.autoresearch-backup`, or a timestamped name when that is taken: a backup never
/// overwrites an earlier backup.
fn backup_path(path: &Path) -> PathBuf {
    let plain = with_suffix(path, BACKUP_SUFFIX);
    if std::fs::symlink_metadata(&plain).is_err() {
        return plain;
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            format!("{BACKUP_SUFFIX}-{stamp}")
        } else {
            format!("{BACKUP_SUFFIX}-{stamp}-{n}")
        };
        let p = with_suffix(path, &suffix);
        if std::fs::symlink_metadata(&p).is_err() {
            return p;
        }
        n += 1;
    }
}

/// Create the parent directories of `path`, remembering each one created (outermost first).
fn ensure_parent(path: &Path, m: &mut Manifest) -> Result<()> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let mut missing = Vec::new();
    let mut cur = Some(parent);
    while let Some(d) = cur {
        if d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    std::fs::create_dir_all(parent)
        .map_err(|e| AppError::io(format!("creating `{}`", parent.display()), &e))?;
    for d in missing.iter().rev() {
        m.add_dir(d);
    }
    Ok(())
}

fn write(path: &Path, content: &[u8], m: &mut Manifest) -> Result<()> {
    ensure_parent(path, m)?;
    crate::fsutil::write_atomic(path, content)
}

/// Is this file one we wrote (by the manifest), or exactly what this version generates?
fn is_ours(m: &Manifest, p: &Planned, bytes: &[u8]) -> bool {
    bytes == p.content.as_bytes() || m.wrote(&p.path, &manifest::hash(bytes))
}

/// Did autoresearch write this file at some point (then it was edited), as opposed to a file
/// that was never ours?
fn was_ours(m: &Manifest, p: &Planned, bytes: &[u8]) -> bool {
    m.entry(&p.path).is_some() || super::version_marker(&String::from_utf8_lossy(bytes)).is_some()
}

fn result(p: &Planned, action: Action) -> FileResult {
    FileResult {
        path: p.path.display().to_string(),
        kind: p.kind,
        targets: p.targets.clone(),
        action,
        detail: None,
        new_path: None,
        backup: None,
    }
}

pub fn install_one(p: &Planned, m: &mut Manifest, force: bool, dry: bool) -> Result<FileResult> {
    let new = p.content.as_bytes();
    let new_hash = manifest::hash(new);
    let Some(old) = read_existing(&p.path)? else {
        if !dry {
            write(&p.path, new, m)?;
            m.record(&p.path, &new_hash, &p.targets);
        }
        return Ok(result(p, Action::Created));
    };
    if p.path.is_dir() {
        let mut r = result(p, Action::Skipped);
        r.detail = Some("a directory is in the way; move it to install here".to_string());
        return Ok(r);
    }
    if old == new {
        // Nothing to write: the mtime stays. Remember it, in case the manifest was lost.
        if !dry {
            m.record(&p.path, &new_hash, &p.targets);
        }
        return Ok(result(p, Action::Unchanged));
    }
    if is_ours(m, p, &old) {
        if !dry {
            write(&p.path, new, m)?;
            m.record(&p.path, &new_hash, &p.targets);
        }
        let mut r = result(p, Action::Updated);
        r.detail = super::version_marker(&String::from_utf8_lossy(&old))
            .map(|v| format!("was version {v}"));
        return Ok(r);
    }
    let edited = was_ours(m, p, &old);
    if force {
        let backup = backup_path(&p.path);
        if !dry {
            crate::fsutil::write_atomic(&backup, &old)?;
            write(&p.path, new, m)?;
            m.record(&p.path, &new_hash, &p.targets);
        }
        let mut r = result(p, Action::Replaced);
        r.detail = Some(if edited {
            "edited since autoresearch wrote it; --force replaced it".to_string()
        } else {
            "not written by autoresearch; --force replaced it".to_string()
        });
        r.backup = Some(backup.display().to_string());
        return Ok(r);
    }
    if edited {
        let beside = with_suffix(&p.path, NEW_SUFFIX);
        let mut detail = "edited since autoresearch wrote it; your version is kept".to_string();
        match read_existing(&beside)? {
            // Already there, identical: no write, same mtime.
            Some(b) if b == new => {
                if !dry {
                    m.record(&beside, &new_hash, &p.targets);
                }
            }
            // The user may be merging by editing the `.autoresearch-new` itself: leave it.
            Some(b) if !m.wrote(&beside, &manifest::hash(&b)) => {
                detail.push_str(
                    "; the `.autoresearch-new` beside it was edited too and is left as is",
                );
            }
            _ => {
                if !dry {
                    crate::fsutil::write_atomic(&beside, new)?;
                    m.record(&beside, &new_hash, &p.targets);
                }
            }
        }
        let mut r = result(p, Action::KeptModified);
        r.detail = Some(detail);
        r.new_path = Some(beside.display().to_string());
        return Ok(r);
    }
    let mut r = result(p, Action::Skipped);
    r.detail = Some("not written by autoresearch; --force backs it up and replaces it".to_string());
    Ok(r)
}

pub fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AppError::io(format!("removing `{}`", path.display()), &e)),
    }
}

pub fn uninstall_one(
    p: &Planned,
    m: &mut Manifest,
    dry: bool,
    out: &mut Vec<FileResult>,
) -> Result<()> {
    // Our `.autoresearch-new` beside an edited file goes too, if it is still as we wrote it.
    let beside = with_suffix(&p.path, NEW_SUFFIX);
    if let Some(bytes) = read_existing(&beside)?
        && m.wrote(&beside, &manifest::hash(&bytes))
    {
        if !dry {
            remove_file(&beside)?;
            m.forget(&beside);
        }
        let mut r = result(p, Action::Removed);
        r.path = beside.display().to_string();
        out.push(r);
    }
    let Some(old) = read_existing(&p.path)? else {
        // Legacy locations are only reported when something is there.
        if !p.legacy {
            if !dry {
                m.forget(&p.path);
            }
            out.push(result(p, Action::NotInstalled));
        }
        return Ok(());
    };
    if p.path.is_dir() {
        let mut r = result(p, Action::Skipped);
        r.detail = Some("a directory, not a file autoresearch wrote".to_string());
        out.push(r);
        return Ok(());
    }
    let mut r = if is_ours(m, p, &old) {
        if !dry {
            remove_file(&p.path)?;
            m.forget(&p.path);
        }
        result(p, Action::Removed)
    } else if was_ours(m, p, &old) {
        let mut r = result(p, Action::KeptModified);
        r.detail = Some("edited since autoresearch wrote it, so it is kept; delete it yourself if you no longer want it".to_string());
        r
    } else {
        let mut r = result(p, Action::Skipped);
        r.detail = Some("not written by autoresearch".to_string());
        r
    };
    if p.legacy {
        let note = "an older location this agent still reads";
        r.detail = Some(match r.detail {
            Some(d) => format!("{note}; {d}"),
            None => note.to_string(),
        });
    }
    out.push(r);
    Ok(())
}

/// After uninstall: remove directories that are now empty and that install created (or the
/// skill's own `autoresearch/` directory), deepest first. Never any other directory.
pub fn prune_dirs(candidates: &[PathBuf], m: &mut Manifest, dry: bool) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = candidates.to_vec();
    dirs.extend(m.dirs());
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    let mut removed: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let ours = m.created_dir(&d) || d.file_name().is_some_and(|n| n == super::NAME);
        if !ours {
            continue;
        }
        let Ok(mut entries) = std::fs::read_dir(&d) else {
            if !dry {
                m.forget_dir(&d);
            }
            continue;
        };
        // In a dry run, count the children we would have removed as gone.
        let empty = entries.all(|e| e.is_ok_and(|e| removed.contains(&e.path())));
        if !empty {
            continue;
        }
        if dry || std::fs::remove_dir(&d).is_ok() {
            if !dry {
                m.forget_dir(&d);
            }
            removed.push(d);
        }
    }
    removed.iter().map(|d| d.display().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_never_overwrite_backups() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("SKILL.md");
        assert_eq!(backup_path(&f), with_suffix(&f, BACKUP_SUFFIX));
        std::fs::write(with_suffix(&f, BACKUP_SUFFIX), "x").unwrap();
        let second = backup_path(&f);
        assert!(
            second.to_string_lossy().contains(".autoresearch-backup-"),
            "{}",
            second.display()
        );
    }
}
