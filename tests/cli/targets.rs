//! Targets that are directories (`solver/`) or globs (`heur/*.py`): new files inside them are
//! part of the experiment, committed when kept, removed when reverted; changes outside them are
//! out of scope; the code digest covers every file they hold.

use serde_json::Value;

use crate::common::*;

/// A repository whose eval prints the smallest number found in the files `files` (a shell
/// glob), with `target_file = <targets>` and `extra` keys; `first` holds `5`.
fn project(targets: &str, first: &str, files: &str, extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write(first, "5\n");
    sb.write("other.py", "y = 1\n");
    sb.write(
        "eval.sh",
        &format!("echo \"score: $(cat {files} | sort -n | head -n 1)\"\n"),
    );
    sb.write(
        "autoresearch.toml",
        &format!(
            "target_file = {targets}\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"10s\"\n{extra}"
        ),
    );
    sb.commit_all("setup");
    sb
}

/// The paths `commit` holds, sorted.
fn files_at(sb: &Sandbox, commit: &str) -> Vec<String> {
    let repo = sb.repo();
    let tree = repo
        .revparse_single(commit)
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .tree()
        .unwrap();
    let mut out = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
        if e.kind() == Some(git2::ObjectType::Blob) {
            out.push(format!("{dir}{}", e.name().unwrap()));
        }
        git2::TreeWalkResult::Ok
    })
    .unwrap();
    out.sort();
    out
}

fn code_of(rec: &Value) -> String {
    rec["code"].as_str().expect("a record's code").to_string()
}

#[test]
fn a_new_file_in_a_target_dir_is_committed_and_removed_on_discard() {
    let sb = project(
        "[\"solver/\"]",
        "solver/a.txt",
        "solver/*.txt solver/*/*.txt",
        "",
    );
    sb.write("notes.txt", "untracked, outside the target\n");
    run(&sb, &["-m", "baseline"]).ok();

    sb.write("solver/b.txt", "3\n");
    let d = run(&sb, &["-m", "add b"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
    let kept = d["commit"].as_str().unwrap().to_string();
    assert!(files_at(&sb, &kept).contains(&"solver/b.txt".to_string()));
    assert_eq!(sb.head(), kept);

    // Worse: b changes, and two new files (one in a new subdirectory) come in.
    sb.write("solver/b.txt", "4\n");
    sb.write("solver/c.txt", "8\n");
    sb.write("solver/sub/d.txt", "9\n");
    let d = run(&sb, &["-m", "worse"]).ok();
    assert_eq!(d["status"], "discarded", "{d}");
    assert_eq!(d["reverted"], true);
    let tried = d["commit"].as_str().unwrap();
    let in_commit = files_at(&sb, tried);
    assert!(
        in_commit.contains(&"solver/c.txt".to_string()),
        "{in_commit:?}"
    );
    assert!(in_commit.contains(&"solver/sub/d.txt".to_string()));
    assert_eq!(sb.head(), kept, "the branch is back");
    assert_eq!(sb.read("solver/b.txt"), "3\n", "the change is reverted");
    assert!(
        !sb.path("solver/c.txt").exists(),
        "the added file is removed"
    );
    assert!(!sb.path("solver/sub").exists(), "and the directory it made");
    assert_eq!(sb.read("notes.txt"), "untracked, outside the target\n");
    let repo = sb.repo();
    let status = repo.statuses(None).unwrap();
    let dirty: Vec<String> = status
        .iter()
        .filter(|e| e.status() != git2::Status::CURRENT && !e.status().is_ignored())
        .map(|e| e.path().unwrap().to_string())
        .collect();
    assert_eq!(dirty, ["notes.txt"], "index and work tree are clean");
}

#[test]
fn a_glob_target_commits_the_files_it_matches() {
    let sb = project("[\"heur/*.py\"]", "heur/a.py", "heur/*.py", "");
    sb.write("heur/README.md", "about\n");
    sb.commit_all("readme");
    run(&sb, &["-m", "baseline"]).ok();
    sb.write("heur/b.py", "2\n");
    sb.write("heur/new.md", "not a target, untracked\n");
    let d = run(&sb, &["-m", "add b"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
    let files = files_at(&sb, d["commit"].as_str().unwrap());
    assert!(files.contains(&"heur/b.py".to_string()), "{files:?}");
    assert!(!files.contains(&"heur/new.md".to_string()), "{files:?}");

    sb.write("heur/README.md", "changed\n");
    sb.write("heur/a.py", "1\n");
    let v = run(&sb, &["-m", "readme too"]).err("out_of_scope", 2);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("heur/README.md"),
        "{v}"
    );
}

#[test]
fn a_change_outside_the_target_dir_is_out_of_scope() {
    let sb = project("[\"solver/\"]", "solver/a.txt", "solver/*.txt", "");
    sb.write("solver.txt", "a sibling, not under `solver/`\n");
    sb.commit_all("sibling");
    run(&sb, &["-m", "baseline"]).ok();
    sb.write("solver/b.txt", "3\n");
    sb.write("other.py", "y = 2\n");
    sb.write("solver.txt", "changed\n");
    let v = run(&sb, &["-m", "both"]).err("out_of_scope", 2);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("other.py") && msg.contains("solver.txt") && !msg.contains("b.txt"),
        "{v}"
    );
    // Put back what is outside: the change inside the directory alone is an experiment.
    sb.write("other.py", "y = 1\n");
    sb.write("solver.txt", "a sibling, not under `solver/`\n");
    let d = run(&sb, &["-m", "b alone"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
}

#[test]
fn a_protected_file_inside_a_target_dir_is_a_config_error() {
    let sb = project(
        "[\"solver/\"]",
        "solver/a.txt",
        "solver/*.txt",
        "protected = [\"solver/data.txt\"]\n",
    );
    let v = sb.run(&["--json", "status"]).err("config_invalid", 2);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("solver/data.txt") && msg.contains("solver/"),
        "{v}"
    );
    let glob = project(
        "[\"heur/*.py\"]",
        "heur/a.py",
        "heur/*.py",
        "protected = [\"heur/data.py\"]\n",
    );
    glob.run(&["--json", "status"]).err("config_invalid", 2);
}

#[test]
fn the_code_digest_covers_the_files_in_the_dir() {
    let sb = project("[\"solver/\"]", "solver/a.txt", "solver/*.txt", "");
    run(&sb, &["-m", "baseline"]).ok();
    sb.write("solver/a.txt", "4\n");
    let d = run(&sb, &["-m", "a to 4"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
    sb.write("solver/a.txt", "3\n");
    run(&sb, &["-m", "a to 3"]).ok();
    let codes: Vec<String> = sb.ledger_lines().iter().map(code_of).collect();
    assert_eq!(codes.len(), 3);
    assert!(
        codes[0] != codes[1] && codes[1] != codes[2],
        "each change inside the dir is new code: {codes:?}"
    );
}
