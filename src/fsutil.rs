//! Whole-file writes (docs/RELIABILITY.md 7): temp file in the same directory → fsync →
//! rename, so a crash leaves either the old file or the new one, never half of one. A rename
//! replaces whatever directory entry is at the path, so what is there decides how to write:
//! a symlink's target is replaced (the link stays), and a FIFO or a device is written in
//! place, since renaming a file over `/dev/null` or a named pipe would destroy it.
//!
//! Also: the wording of a full disk (docs/RELIABILITY.md 5), shared with the ledger.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{AppError, Code, Result};

/// A symlink chain longer than this is a loop (the kernel's own limit, `MAXSYMLINKS`, is 40).
const MAX_LINKS: usize = 40;

/// Replace `path`'s content with `bytes` (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Write whatever `fill` writes to `path`, by what is there now:
/// - nothing, or a regular file: atomically (temp file, fsync, rename);
/// - a symlink (a chain of them): its final target, by these same rules; the link stays;
/// - a FIFO, a character or a block device (`/dev/stdout`, `/dev/null`): in place, opened for
///   writing without a temp file or a rename, and without fsync (which such files refuse);
/// - a directory: refused.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    // `metadata` follows links, including the kernel's magic ones (`/dev/stdout` →
    // `/proc/self/fd/1` → a pipe), which `read_link` cannot turn into a path.
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(AppError::new(
            Code::IoError,
            format!("Cannot write `{}`: it is a directory.", path.display()),
            "Write to a file path instead, or move the directory out of the way.",
        )),
        Ok(m) if !m.is_file() => write_in_place(path, fill),
        Ok(_) => {
            let real = resolve_links(path).map_err(|e| link_error(path, &e))?;
            replace(&real, fill)
        }
        // A new path, or a link to one (`ln -s missing link`): create the link's target.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let real = resolve_links(path).map_err(|e| link_error(path, &e))?;
            replace(&real, fill)
        }
        Err(e) => Err(io_error(format!("writing `{}`", path.display()), path, &e)),
    }
}

fn link_error(path: &Path, e: &std::io::Error) -> AppError {
    io_error(format!("following the link `{}`", path.display()), path, e)
}

/// The path at the end of `path`'s chain of symlinks (`path` itself when it is no link).
/// Only the last component is followed: the directories above it resolve as the kernel
/// resolves them, so a relative target with `..` means what it means to `ls`.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = if target.is_absolute() {
                    target
                } else {
                    p.parent().unwrap_or(Path::new("")).join(target)
                };
            }
            _ => return Ok(p),
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
}

/// A FIFO or a device: no temp file and no rename, which would replace the node itself.
fn write_in_place(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let result = (|| -> std::io::Result<()> {
        // No `create` (it exists) and no `truncate` (meaningless for a pipe or a device).
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        let mut w = std::io::BufWriter::new(&file);
        fill(&mut w)?;
        w.flush()
    })();
    result.map_err(|e| io_error(format!("writing `{}`", path.display()), path, &e))
}

/// Atomically replace the regular file (or create the new one) at `path`, no link in it.
fn replace(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    // A name near the 255-byte limit (a long fork's loop state) leaves no room for the suffix.
    if name.len() > TEMP_NAME_MAX {
        let mut end = TEMP_NAME_MAX;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), nonce()));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        {
            let mut w = std::io::BufWriter::new(&file);
            fill(&mut w)?;
            w.flush()?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(format!("writing `{}`", path.display()), path, &e));
    }
    Ok(())
}

/// At most this much of a file's name goes into its temp file's name, which adds about 30 bytes.
const TEMP_NAME_MAX: usize = 200;

/// A temp file this old is stale whoever wrote it: a writer takes milliseconds to fill and
/// rename one.
const STALE_TEMP: Duration = Duration::from_secs(60);
/// A temp file younger than this is left alone even when its pid is not alive here: the
/// directory may be shared with another host, whose pids mean nothing in our process table.
const TEMP_GRACE: Duration = Duration::from_secs(5);

/// Remove the temp files `<prefix><pid>-<nonce>` in `dir` that their writers left behind
/// (killed between write and rename, or stopped by a full disk). Best effort: a file is removed
/// when it is at least a minute old, or when its pid is not alive on this host and it is a few
/// seconds old; a file a live writer may still be filling is never touched (at worst that
/// writer's rename fails, which a best-effort writer already tolerates).
pub fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest
            .split_once('-')
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        // `DirEntry::metadata` does not follow links: only regular files are ours to remove.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // A time in the future (clock skew) counts as new.
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or(Duration::ZERO);
        if age >= STALE_TEMP || (age >= TEMP_GRACE && !pid_alive(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Is process `pid` alive on this host? (A zombie counts as alive; so does a process we may
/// not signal.)
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The file systems shared between hosts, by the `f_type` `statfs` reports (Linux): where a
/// `flock` taken on one host may not be seen by another.
const NETWORK_FILE_SYSTEMS: &[(i64, &str)] = &[
    (0x6969, "nfs"),
    (0x517B, "smb"),
    (0xFE53_4D42, "smb2"),
    (0xFF53_4D42, "cifs"),
    (0x0BD0_0BD0, "lustre"),
    (0x4750_4653, "gpfs"),
    (0x00C3_6400, "ceph"),
    (0x5346_414F, "afs"),
    (0x0102_1997, "9p"),
    (0x6573_5546, "fuse"),
    (0x013F_6C10, "beegfs"),
];

/// The name of the network file system `path` is on (`nfs`, `lustre`, ...), or `None` for a
/// local one (or when the system does not say). `AUTORESEARCH_TEST_FSTYPE` stands in for the
/// answer in tests, which cannot mount one.
pub fn network_fs(path: &Path) -> Option<&'static str> {
    if let Ok(name) = std::env::var("AUTORESEARCH_TEST_FSTYPE") {
        return NETWORK_FILE_SYSTEMS
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(_, n)| *n);
    }
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a zeroed statfs is a valid buffer; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers for the call's duration.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let kind = i64::from(st.f_type) & 0xFFFF_FFFF;
    NETWORK_FILE_SYSTEMS
        .iter()
        .find(|(magic, _)| *magic == kind)
        .map(|(_, n)| *n)
}

/// Is this what a full disk returns? `ENOSPC`, which std calls `StorageFull`.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC)
}

/// [`AppError::io`] for a failure writing `path`, except that a full disk says so in plain
/// words, with what to do about it (docs/RELIABILITY.md 5). An error made by the caller to
/// carry detail (a short write) keeps that detail in parentheses; an OS error's own text would
/// only repeat "No space left".
pub fn io_error(what: impl fmt::Display, path: &Path, e: &std::io::Error) -> AppError {
    if !is_storage_full(e) {
        return AppError::io(what, e);
    }
    let detail = if e.raw_os_error().is_some() {
        String::new()
    } else {
        format!(" ({e})")
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .display()
        .to_string();
    AppError::new(
        Code::IoError,
        format!("{what}: no space left on device{detail}"),
        format!(
            "Free space on the file system that holds `{dir}` (`df -h {}` shows what is left), then run the command again.",
            crate::text::shell_word(&dir)
        ),
    )
}

/// A few bits of per-call randomness without a crate: time and address entropy.
pub fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_local_directory_is_not_on_a_network_file_system() {
        // The temp directory of the test machine is local (tmpfs or a disk).
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(super::network_fs(dir.path()), None);
    }

    use super::*;
    use std::ffi::CString;
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileTypeExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn c_path(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_name_at_the_length_limit_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("{}é.json", "x".repeat(248)));
        assert_eq!(p.file_name().unwrap().len(), 255);
        write_atomic(&p, b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(names(dir.path()).len(), 1);
    }

    #[test]
    fn a_symlink_stays_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/data.csv");
        std::fs::write(&target, "old").unwrap();
        // A relative link, and a link to that link: the whole chain is followed.
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("real/data.csv", &link).unwrap();
        let link2 = dir.path().join("link2.csv");
        std::os::unix::fs::symlink("link.csv", &link2).unwrap();
        write_atomic(&link2, b"new").unwrap();
        for l in [&link, &link2] {
            assert!(
                std::fs::symlink_metadata(l)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(names(dir.path()), ["link.csv", "link2.csv", "real"]);
        assert_eq!(names(&dir.path().join("real")), ["data.csv"]);
        // A dangling link: its target is created, as a shell's `>` would.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("real/fresh.txt", &dangling).unwrap();
        write_atomic(&dangling, b"fresh").unwrap();
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("real/fresh.txt")).unwrap(),
            "fresh"
        );
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop_b", dir.path().join("loop_a")).unwrap();
        std::os::unix::fs::symlink("loop_a", dir.path().join("loop_b")).unwrap();
        assert!(write_atomic(&dir.path().join("loop_a"), b"x").is_err());
    }

    #[test]
    fn a_fifo_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o600) }, 0);
        let reader_path = fifo.clone();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::fs::File::open(&reader_path)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        });
        write_atomic(&fifo, b"through the pipe").unwrap();
        // Checked before joining: had the FIFO been replaced, the reader would wait forever.
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), "through the pipe");
        assert_eq!(names(dir.path()), ["pipe"]);
    }

    /// A private copy of `/dev/null` (root only: `mknod`) is checked first, so a regression is
    /// caught there before the real `/dev/null` is touched.
    #[test]
    fn a_device_stays_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("null");
        // SAFETY: a valid NUL-terminated path; (1, 3) is the null device.
        let rc = unsafe {
            libc::mknod(
                c_path(&node).as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(1, 3),
            )
        };
        if rc == 0 {
            write_atomic(&node, b"into the void").unwrap();
            assert!(
                std::fs::metadata(&node)
                    .unwrap()
                    .file_type()
                    .is_char_device()
            );
            assert_eq!(names(dir.path()), ["null"]);
        }
        write_atomic(Path::new("/dev/null"), b"into the void").unwrap();
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("keep"), "x").unwrap();
        let e = write_atomic(&sub, b"data").unwrap_err();
        assert!(e.message.contains("is a directory"), "{}", e.message);
        assert_eq!(names(&sub), ["keep"]);
        assert_eq!(names(dir.path()), ["sub"]);
    }

    #[test]
    fn a_full_device_says_no_space_left() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let e = write_atomic(Path::new("/dev/full"), b"x").unwrap_err();
        assert_eq!(e.code, Code::IoError);
        assert!(
            e.message.ends_with("no space left on device"),
            "{}",
            e.message
        );
        assert!(
            std::fs::metadata("/dev/full")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn storage_full_is_worded_plainly() {
        let os = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = io_error("writing `x`", Path::new("/data/my dir/x"), &os);
        assert_eq!(e.message, "writing `x`: no space left on device");
        assert!(
            e.suggestion.contains("`df -h '/data/my dir'`"),
            "{}",
            e.suggestion
        );
        let short = std::io::Error::new(ErrorKind::StorageFull, "a short write: 3 of 9 bytes");
        assert_eq!(
            io_error("appending", Path::new("x"), &short).message,
            "appending: no space left on device (a short write: 3 of 9 bytes)"
        );
        let other = std::io::Error::from_raw_os_error(libc::EACCES);
        assert!(
            !io_error("w", Path::new("x"), &other)
                .message
                .contains("no space")
        );
    }

    /// On a real full file system (a 1 MiB tmpfs; needs root): the error says so and no temp
    /// file is left behind. Skipped with a note where `mount` is not permitted.
    #[test]
    fn a_full_file_system_says_no_space_left_and_leaves_no_temp() {
        let Some(fs) = super::tiny_fs::TinyFs::mount() else {
            return;
        };
        let p = fs.path().join("big.bin");
        let e = write_atomic(&p, &vec![7u8; 2 << 20]).unwrap_err();
        assert!(
            e.message.contains("no space left on device"),
            "{}",
            e.message
        );
        assert!(names(fs.path()).is_empty(), "{:?}", names(fs.path()));
    }
}

/// A small tmpfs for tests that need a full disk (here and in the ledger's tests).
#[cfg(test)]
pub(crate) mod tiny_fs {
    use std::path::Path;

    /// Unmounted when dropped, before its temporary directory is removed.
    pub struct TinyFs {
        dir: tempfile::TempDir,
    }

    impl TinyFs {
        /// A fresh 1 MiB tmpfs, or `None` (with a note on stderr) where mounting is not
        /// permitted.
        pub fn mount() -> Option<TinyFs> {
            let dir = tempfile::tempdir().ok()?;
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                std::io::Write::write_all(
                    &mut std::io::stderr(),
                    b"skipped: cannot mount a tmpfs here (needs root), no full disk to test\n",
                )
                .ok();
                return None;
            }
            Some(TinyFs { dir })
        }

        pub fn path(&self) -> &Path {
            self.dir.path()
        }
    }

    impl Drop for TinyFs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }
}
