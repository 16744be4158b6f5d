//! This clone's worker id: `AUTORESEARCH_WORKER`, else the one kept in `.autoresearch/worker`,
//! made on first use from the host name and a random suffix — per clone, so two clones on one
//! machine are two workers. It names a ref, so it is a short `[a-z0-9._-]` word. Reading it and
//! its rule are the ledger's (`ledger::worker`, which the writer needs); making it is here.

use std::path::Path;

use crate::error::{AppError, Result};
/// This clone's id if it has one yet (the variable, else the file); nothing is written.
pub use crate::ledger::worker::known as current;
pub use crate::ledger::worker::{FILE, MAX, VAR, synced_id, valid};

/// What this module reads from the environment, for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[(
    VAR,
    "this clone's worker id for `sync`, instead of `.autoresearch/worker`: 1 to 64 of a-z, 0-9, `.`, `_`, `-` (an invalid value is `config_invalid`)",
)];

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
    if let Some(known) = current(state_dir)? {
        return Ok(known);
    }
    let path = state_dir.join(FILE);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

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
