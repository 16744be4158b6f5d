//! The interface is written down in three places besides the code — the README, the contract
//! (`docs/CONTRACT.md`) and `agent-info` — and they must say the same thing. `agent-info` is
//! generated from the code; these tests check the two documents against the same tables.

use autoresearch::error::{Code, EXIT_CODES};

use crate::common::*;

fn read(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of the markdown table that follows `heading`.
fn table_after(text: &str, heading: &str) -> Vec<String> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no `{heading}`"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_lists_every_error_code_as_the_code_does() {
    let expected: Vec<String> = Code::ALL
        .iter()
        .map(|c| format!("| `{}` | {} | {} |", c.as_str(), c.exit_code(), c.meaning()))
        .collect();
    assert_eq!(table_after(&read("README.md"), "### Error codes"), expected);
}

#[test]
fn the_readme_lists_the_exit_codes_as_the_code_does() {
    let expected: Vec<String> = EXIT_CODES
        .iter()
        .map(|(code, meaning, action)| format!("| {code} | {meaning} | {action} |"))
        .collect();
    assert_eq!(table_after(&read("README.md"), "### Exit codes"), expected);
}

#[test]
fn the_contract_gives_every_error_code_its_exit_code() {
    let contract = read("docs/CONTRACT.md");
    for c in Code::ALL {
        let row = format!("| `{}` | {} |", c.as_str(), c.exit_code());
        assert!(contract.contains(&row), "docs/CONTRACT.md lacks `{row}`");
    }
}

/// Every command and global flag `agent-info` lists is documented in the README and the
/// contract, and every config key in both.
#[test]
fn every_command_flag_and_key_is_documented() {
    let sb = Sandbox::new();
    let info = sb.run(&["--json", "agent-info"]).ok();
    let (readme, contract) = (read("README.md"), read("docs/CONTRACT.md"));
    for c in info["commands"].as_array().unwrap() {
        let name = format!("`{}`", c["name"].as_str().unwrap());
        assert!(readme.contains(&name), "README lacks {name}");
        assert!(contract.contains(&name), "docs/CONTRACT.md lacks {name}");
    }
    for f in info["global_flags"].as_array().unwrap() {
        let flag = f["long"].as_str().unwrap();
        assert!(readme.contains(flag), "README lacks {flag}");
        assert!(contract.contains(flag), "docs/CONTRACT.md lacks {flag}");
    }
    for (key, _) in autoresearch::config::KEYS {
        assert!(readme.contains(key), "README lacks config key {key}");
        assert!(
            contract.contains(key),
            "docs/CONTRACT.md lacks config key {key}"
        );
    }
}
