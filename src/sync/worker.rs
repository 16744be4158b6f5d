//! This clone's worker id: `AUTORESEARCH_WORKER`, else the one kept in `.autoresearch/worker`,
//! made on first use from the host name and a random suffix — per clone, so two clones on one
//! machine are two workers. It names a ref, so it is a short `[a-z0-9._-]` word.

use std::path::Path;

use crate::error::{AppError, Code, Result};

/// The file that keeps the id, in the state directory.
pub const FILE: &str = "worker";
/// The variable that sets the id for this process.
pub const VAR: &str = "AUTORESEARCH_WORKER";
/// Longest id.
const MAX: usize = 64;

/// Is `id` a worker id: 1 to 64 of `a-z`, `0-9`, `.`, `_`, `-`, not starting with `.` or `-`,
/// without `..`, not ending in `.lock` (the rules of a git ref's last part, narrowed)?
pub fn valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && !id.starts_with(['.', '-'])
        && !id.contains("..")
        && !id.ends_with(".lock")
        && !id.ends_with('.')
}

/// `gpu-03.cluster.example` → `gpu-03`: the host's first label, lowercased, other bytes as `-`.
fn host_slug(host: &str) -> String {
    let first = host
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let slug: String = first
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug.trim_matches('-').to_string();
    let slug: String = slug.chars().take(MAX - 5).collect();
    if slug.is_empty() {
        "worker".to_string()
    } else {
        slug
    }
}

/// This clone's worker id: the variable, else the file in `state_dir`, else a new one written
/// there (atomically; a concurrent first use keeps whichever was written first).
pub fn id(state_dir: &Path) -> Result<String> {
    if let Ok(v) = std::env::var(VAR) {
        return check(&v, &format!("`{VAR}`"));
    }
    let path = state_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => return check(text.trim(), &format!("`{}`", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AppError::io(format!("reading `{}`", path.display()), &e)),
    }
    let new = format!(
        "{}-{:04x}",
        host_slug(&crate::loopfile::hostname()),
        crate::fsutil::nonce() & 0xffff
    );
    std::fs::create_dir_all(state_dir)
        .map_err(|e| AppError::io(format!("creating `{}`", state_dir.display()), &e))?;
    // `create_new`: of two first uses at once, one writes and both read its id.
    let wrote = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{new}\n").as_bytes()));
    match wrote {
        Ok(()) => Ok(new),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => id(state_dir),
        Err(e) => Err(AppError::io(format!("writing `{}`", path.display()), &e)),
    }
}

/// The id this clone stamps its records with once it syncs: `None` until the first `sync`
/// wrote the file (a clone that never syncs writes its lines as before).
pub fn synced_id(state_dir: &Path) -> Result<Option<String>> {
    if !state_dir.join(FILE).exists() {
        return Ok(None);
    }
    id(state_dir).map(Some)
}

/// This clone's id if it has one yet (the variable, else the file); nothing is written.
pub fn current(state_dir: &Path) -> Result<Option<String>> {
    if std::env::var_os(VAR).is_some() || state_dir.join(FILE).exists() {
        return id(state_dir).map(Some);
    }
    Ok(None)
}

/// This clone's id, with the file written (from the variable when it is set): from now on the
/// clone's records carry it and a logical clock ([`synced_id`]).
pub fn adopt(state_dir: &Path) -> Result<String> {
    let id = id(state_dir)?;
    let path = state_dir.join(FILE);
    if !path.exists() {
        crate::fsutil::write_atomic(&path, format!("{id}\n").as_bytes())?;
    }
    Ok(id)
}

fn check(id: &str, from: &str) -> Result<String> {
    if valid(id) {
        return Ok(id.to_string());
    }
    Err(AppError::new(
        Code::ConfigInvalid,
        format!(
            "The worker id `{}` from {from} is not a valid id.",
            id.escape_debug()
        ),
        "Use 1 to 64 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit (e.g. `gpu-03`).",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ref_safe_words() {
        for ok in ["gpu-03", "a", "node_7.b", "x1"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a..b",
            "a.lock",
            "A",
            "a/b",
            "a b",
            "a.",
            &"x".repeat(65),
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
        assert_eq!(host_slug("GPU-03.cluster.example"), "gpu-03");
        assert_eq!(host_slug("..."), "worker");
        assert_eq!(host_slug("my_host"), "my-host");
        assert!(valid(&host_slug(&"h".repeat(300))));
    }

    #[test]
    fn an_id_is_made_once_per_state_directory_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = id(dir.path()).unwrap();
        assert!(valid(&first), "{first}");
        assert_eq!(id(dir.path()).unwrap(), first, "kept");
        let other = tempfile::tempdir().unwrap();
        // Two clones on one host: the suffix tells them apart (a 1-in-65536 clash is retried).
        let mut second = id(other.path()).unwrap();
        if second == first {
            std::fs::remove_file(other.path().join(FILE)).unwrap();
            second = id(other.path()).unwrap();
        }
        assert_ne!(second, first);
        std::fs::write(dir.path().join(FILE), "Not Valid\n").unwrap();
        assert_eq!(id(dir.path()).unwrap_err().code, Code::ConfigInvalid);
    }
}
