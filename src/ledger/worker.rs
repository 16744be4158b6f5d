//! Which worker wrote a record: the id a clone that syncs stamps on its records (the writer
//! reads it on each append), and the rule every id follows. `sync::worker` makes and keeps
//! the id; it lives here because the ledger's writer, below `sync`, needs to read it.

use std::path::Path;

use crate::error::{AppError, Code, Result};

/// The file that keeps the id, in the state directory.
pub const FILE: &str = "worker";
/// The variable that sets the id for this process.
pub const VAR: &str = "AUTORESEARCH_WORKER";
/// Longest id.
pub const MAX: usize = 64;

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

/// The id this clone has if it has one yet: the variable, else the file; nothing is written.
pub fn known(state_dir: &Path) -> Result<Option<String>> {
    if let Ok(v) = std::env::var(VAR) {
        return check(&v, &format!("`{VAR}`")).map(Some);
    }
    let path = state_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => check(text.trim(), &format!("`{}`", path.display())).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::io(format!("reading `{}`", path.display()), &e)),
    }
}

/// The id this clone stamps its records with once it syncs: `None` until the first `sync`
/// wrote the file (a clone that never syncs writes its lines as before).
pub fn synced_id(state_dir: &Path) -> Result<Option<String>> {
    if !state_dir.join(FILE).exists() {
        return Ok(None);
    }
    known(state_dir)
}

pub fn check(id: &str, from: &str) -> Result<String> {
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
