//! Crash injection: `run` and `record` killed with SIGKILL at random points, over and over, and
//! the invariants checked after each kill and at the end (docs/RELIABILITY.md 27):
//! - every call that exited 0 has its record in the ledger, exactly once;
//! - run numbers are unique and every line parses;
//! - the next call succeeds;
//! - at the end, no commit of ours sits on the branch unless the ledger recorded it as a
//!   baseline or a keep: never-evaluated code never becomes the base of later experiments;
//! - no process of a killed step's eval survives the cleanup.
//!
//! CI runs a few trials; `bench/crash.sh` runs many (`AUTORESEARCH_CRASH_TRIALS`).

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A small deterministic generator (xorshift): the same trials every time for a given seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Processes whose working directory is inside `dir`: what a killed step's eval leaves behind.
fn processes_in(dir: &std::path::Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(&dir)) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn killed_runs_and_records_keep_every_invariant() {
    let trials: u64 = std::env::var("AUTORESEARCH_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("AUTORESEARCH_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let sb = Sandbox::new();
    // An eval that takes a while (sometimes very long, as if it hung), then prints the metric.
    sb.write(
        "eval.sh",
        "x=$(sed -n 's/^x = //p' train.py)\ncase \"$x\" in *7) sleep 1000 ;; esac\nsleep 0.05\necho \"score: $x\"\n",
    );
    sb.init();
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    let mut rng = Rng(seed);
    let mut succeeded: Vec<(u64, String)> = Vec::new();
    let started = Instant::now();
    // First, one step killed for sure while its eval hangs: the cleanup must end that eval.
    sb.write("train.py", "x = 7\n");
    let mut hung = sb.cmd(&["--json", "run", "-m", "hangs"]);
    let mut hung = hung.stdout(Stdio::null()).spawn().unwrap();
    let t = Instant::now();
    while processes_in(&sb.root).len() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the eval never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    hung.kill().unwrap();
    hung.wait().unwrap();
    assert!(
        !processes_in(&sb.root).is_empty(),
        "the hung eval outlives its step"
    );
    for trial in 0..trials {
        let is_run = rng.below(3) != 0;
        let x = 1 + rng.below(1000);
        let mut cmd = if is_run {
            sb.write("train.py", &format!("x = {x}\n"));
            sb.cmd(&["--json", "run", "-m", &format!("trial {trial}")])
        } else {
            sb.cmd(&[
                "--json",
                "record",
                "--status",
                "discarded",
                "--metric",
                &x.to_string(),
                "-m",
                &format!("trial {trial}"),
            ])
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(120)));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let d = &v["data"];
            let rec = if is_run {
                d.clone()
            } else {
                d["record"].clone()
            };
            let id = sb
                .ledger_lines()
                .into_iter()
                .find(|l| l["run"] == rec["run"])
                .map(|l| l["id"].as_str().unwrap().to_string())
                .unwrap_or_else(|| panic!("trial {trial}: exit 0 but no record {rec}"));
            succeeded.push((rec["run"].as_u64().unwrap(), id));
        }
        // The next call always works, whatever the kill left.
        sb.run(&["--json", "status"]).ok();
    }
    // One more run cleans up after the last kill, and must succeed.
    sb.write("train.py", "x = 0.5\n");
    let last = sb.run(&["--json", "run", "-m", "after the storm"]);
    assert!(matches!(last.code, 0), "{}", last.stdout);

    let lines = sb.ledger_lines();
    let runs: Vec<u64> = lines.iter().map(|l| l["run"].as_u64().unwrap()).collect();
    let unique: HashSet<u64> = runs.iter().copied().collect();
    assert_eq!(unique.len(), runs.len(), "a run number repeats: {runs:?}");
    for (run, id) in &succeeded {
        let n = lines
            .iter()
            .filter(|l| l["id"] == id.as_str() && l["run"] == *run)
            .count();
        assert_eq!(n, 1, "run #{run} ({id}) is recorded {n} times");
    }
    // Every commit of ours on the branch was evaluated and kept (or is the baseline).
    let good: HashSet<String> = lines
        .iter()
        .filter(|l| l["status"] == "kept" || l["status"] == "baseline")
        .filter_map(|l| l["commit"].as_str().map(str::to_string))
        .collect();
    let repo = sb.repo();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.simplify_first_parent().unwrap();
    for oid in walk {
        let c = repo.find_commit(oid.unwrap()).unwrap();
        if c.summary().is_some_and(|s| s.starts_with("autoresearch #")) {
            assert!(
                good.contains(&c.id().to_string()),
                "{} ({:?}) is on the branch but was never kept; its records: {:?}",
                c.id(),
                c.summary(),
                lines
                    .iter()
                    .filter(|l| l["commit"] == c.id().to_string().as_str())
                    .collect::<Vec<_>>()
            );
        }
    }
    let left = processes_in(&sb.root);
    assert!(
        left.is_empty(),
        "processes left in the repository: {left:?}"
    );
    eprintln!(
        "crash injection: {trials} trials, {} calls finished before the kill, {} records, {:.1}s",
        succeeded.len(),
        lines.len(),
        started.elapsed().as_secs_f64()
    );
}
