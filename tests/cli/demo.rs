//! `autoresearch demo`: the whole loop on a toy project, with only `sh` and POSIX tools.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn demo_runs_the_whole_loop_and_keeps_the_project() {
    let sb = Sandbox::no_git();
    let dir = sb.root.join("toy");
    let t = Instant::now();
    let out = sb.run(&["--json", "demo", "--dir", dir.to_str().unwrap(), "--keep"]);
    let wall = t.elapsed();
    let d = out.ok();
    assert!(wall < Duration::from_secs(15), "{wall:?}");
    let statuses: Vec<&str> = d["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "baseline",
            "kept",
            "discarded",
            "kept",
            "crash",
            "timeout",
            "discarded",
            "kept",
            "kept"
        ]
    );
    let reasons: Vec<&str> = d["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"constraint memory_gb <= 40"),
        "{reasons:?}"
    );
    assert_eq!(d["doctor"]["failed"], 0);
    assert_eq!(d["best"]["best"]["run"], 8);
    assert!(
        d["best"]["code"]["patch"]
            .as_str()
            .unwrap()
            .contains("+batch_size = 128")
    );
    assert_eq!(d["status"]["total"], 9);
    assert_eq!(d["log"]["records"].as_array().unwrap().len(), 9);
    assert_eq!(d["kept"], true);
    // The project is there to explore, and the CLI works in it.
    assert!(dir.join(".autoresearch/experiments.jsonl").exists());
    let log = sb.run_in(&dir, &["--json", "log"]).ok();
    assert_eq!(log["records"].as_array().unwrap().len(), 9);

    let human = sb.run(&["--human", "demo"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains("autoresearch best"),
        "{}",
        human.stdout
    );
    assert!(human.stderr.contains("#5  timeout"), "{}", human.stderr);
}

#[test]
fn demo_cleans_up_and_refuses_a_non_empty_dir() {
    let sb = Sandbox::no_git();
    let dir = sb.root.join("gone");
    let d = sb
        .run(&["--json", "demo", "--dir", dir.to_str().unwrap()])
        .ok();
    assert_eq!(d["kept"], false);
    assert!(!dir.exists(), "removed without --keep");

    sb.write("full/file.txt", "x");
    let full = sb.root.join("full");
    sb.run(&["--json", "demo", "--dir", full.to_str().unwrap()])
        .err("usage", 2);
    assert!(full.join("file.txt").exists());
}

/// `demo --forks`: two forks from the best, one experiment each, a decisive winner merged back.
#[test]
fn demo_forks_ranks_them_and_merges_the_winner() {
    let sb = Sandbox::no_git();
    let dir = sb.root.join("toy");
    let out = sb.run(&["--json", "demo", "--forks", "--dir", dir.to_str().unwrap()]);
    let d = out.ok();
    assert_eq!(
        d["experiments"].as_array().unwrap().len(),
        7,
        "baseline and six edits"
    );
    let f = &d["forks"];
    let branches: Vec<&str> = f["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["branch"].as_str().unwrap())
        .collect();
    assert_eq!(
        branches,
        ["autoresearch-fork-lr", "autoresearch-fork-batch"]
    );
    for e in f["experiments"].as_array().unwrap() {
        assert_eq!(e["status"], "kept", "{e}");
    }
    assert_eq!(f["ranking"]["winner"], "batch");
    assert_eq!(f["ranking"]["decisive"], true);
    assert_eq!(f["applied"]["outcome"], "fast_forwarded");
    assert_eq!(d["best"]["best"]["metric"], 1.016);
    assert_eq!(d["best"]["best"]["source"], "merge-best");
    assert!(!dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none());
}
