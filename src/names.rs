//! Names that become part of git refs (docs/CONTRACT.md §8). Git itself accepts names we must
//! refuse (`autoresearch-fork-` for an empty name, `-x` after a prefix), so we check them ourselves
//! before any ref is created.

/// Why `name` is not a valid fork or run name, or Ok.
pub fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 50 {
        return Err(format!(
            "`{name}` must be 1 to 50 characters long (it has {})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{name}` contains `{c}`; use only letters, digits, `.`, `_` and `-`"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("`{name}` must start with a letter or a digit"));
    }
    if name.contains("..") {
        return Err(format!("`{name}` must not contain `..`"));
    }
    if name.ends_with('.') || name.ends_with(".lock") {
        return Err(format!("`{name}` must not end in `.` or `.lock`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        for ok in ["a", "wide-mlp", "v1.2", "9_lives", &"x".repeat(50)] {
            assert!(valid_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "_x",
            "a..b",
            "a.",
            "a.lock",
            "a b",
            "a/b",
            "é",
            &"x".repeat(51),
        ] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
    }
}
