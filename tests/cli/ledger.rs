//! RELIABILITY 1–6 end to end: concurrent writers, torn tails, a writer killed in the lock,
//! golden reader files and ledgers of the first-generation tool.

use std::io::Write;

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn concurrent_records_get_unique_runs_and_a_reader_never_fails() {
    let sb = Sandbox::new();
    sb.init();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let root = sb.root.clone();
        let home = sb.home.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                let out = std::process::Command::new(BIN)
                    .args(["--json", "log", "-n", "5"])
                    .current_dir(&root)
                    .env("HOME", &home)
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}",
                    String::from_utf8_lossy(&out.stdout)
                );
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(v["status"], "success");
                reads += 1;
            }
            reads
        })
    };
    let children: Vec<_> = (0..64)
        .map(|i| {
            sb.cmd(&[
                "--json",
                "record",
                "--status",
                "discarded",
                "--metric",
                &format!("{i}"),
                "-m",
                &format!("writer {i}"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let lines = sb.ledger_lines();
    assert_eq!(lines.len(), 64);
    let mut runs: Vec<u64> = lines.iter().map(|l| l["run"].as_u64().unwrap()).collect();
    runs.sort();
    assert_eq!(runs, (0..64).collect::<Vec<_>>());
}

#[test]
fn torn_tail_is_warned_about_then_repaired_without_loss() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "a");
    sb.record("kept", Some("0.5"), "b");
    let ledger = sb.path(".autoresearch/experiments.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&ledger)
        .unwrap();
    f.write_all(b"{\"run\":2,\"id\":\"x\",\"status\":\"kep")
        .unwrap();
    drop(f);
    let v = sb.run(&["--json", "log"]).json();
    assert_eq!(v["data"]["total"], 2);
    assert!(v["warnings"][0].as_str().unwrap().contains("torn"), "{v}");
    let d = sb.record("discarded", Some("0.7"), "c");
    assert_eq!(d["record"]["run"], 2);
    let lines = sb.ledger_lines();
    assert_eq!(lines.len(), 3, "every line parses, nothing valid lost");
    assert!(
        std::fs::read_to_string(sb.path(".autoresearch/experiments.jsonl.torn"))
            .unwrap()
            .contains("kep")
    );
    let v = sb.run(&["--json", "log"]).json();
    assert_eq!(v["warnings"], serde_json::json!([]));
}

/// A `record` paused inside the ledger lock for `pause_ms` (the test hook), once it holds it:
/// the holder writes its pid into the lock file.
fn writer_holding_the_lock(sb: &Sandbox, pause_ms: &str) -> std::process::Child {
    let mut c = sb.cmd(&["--json", "record", "--status", "baseline", "--metric", "1"]);
    c.env("AUTORESEARCH_TEST_PAUSE_IN_LOCK_MS", pause_ms)
        .stdout(Stdio::null());
    let child = c.spawn().unwrap();
    let lock = sb.path(".autoresearch/experiments.lock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&lock)
        .map(|s| s.trim() != child.id().to_string())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "writer never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
fn a_writer_killed_inside_the_lock_does_not_block_the_next() {
    let sb = Sandbox::new();
    sb.init();
    let mut child = writer_holding_the_lock(&sb, "30000");
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    let d = sb.record("baseline", Some("1"), "after the kill");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(d["record"]["run"], 0);
}

#[test]
fn lock_timeout_names_the_holder() {
    let sb = Sandbox::new();
    sb.init();
    let mut child = writer_holding_the_lock(&sb, "5000");
    let out = run_cmd({
        let mut c = sb.cmd(&["--json", "record", "--status", "kept", "--metric", "1"]);
        c.env("AUTORESEARCH_LOCK_TIMEOUT_MS", "300");
        c
    });
    let v = out.err("lock_timeout", 1);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&child.id().to_string())
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn seed_ledger(sb: &Sandbox, bytes: &[u8]) {
    std::fs::create_dir_all(sb.path(".autoresearch")).unwrap();
    std::fs::write(sb.path(".autoresearch/experiments.jsonl"), bytes).unwrap();
}

const R0: &str = r#"{"run":0,"id":"a","timestamp":"2026-01-01T00:00:00.000Z","status":"baseline","metric":2.0,"summary":"base"}"#;
const R1: &str = r#"{"run":1,"id":"b","timestamp":"2026-01-01T00:01:00.000Z","status":"kept","metric":1.0,"summary":"better"}"#;

/// Golden files: each reads without failing, with the expected records and warnings.
#[test]
fn golden_reader_files() {
    let cases: Vec<(&str, Vec<u8>, u64, bool)> = vec![
        ("empty", b"".to_vec(), 0, false),
        ("only newline", b"\n".to_vec(), 0, false),
        (
            "bom",
            format!("\u{feff}{R0}\n{R1}\n").into_bytes(),
            2,
            false,
        ),
        ("crlf", format!("{R0}\r\n{R1}\r\n").into_bytes(), 2, false),
        (
            "torn tail",
            format!("{R0}\n{R1}\n{{\"run\":2,\"sta").into_bytes(),
            2,
            true,
        ),
        (
            "nul tail",
            [format!("{R0}\n{R1}\n").into_bytes(), vec![0u8; 64]].concat(),
            2,
            true,
        ),
        (
            "garbage mid-file",
            format!("{R0}\nnot json at all\n{{\"run\":\n{R1}\n").into_bytes(),
            2,
            true,
        ),
        (
            "invalid utf-8 in a string",
            [
                format!("{R0}\n").into_bytes(),
                b"{\"run\":5,\"status\":\"kept\",\"metric\":1,\"summary\":\"\xff\xfe\"}\n".to_vec(),
                format!("{R1}\n").into_bytes(),
            ]
            .concat(),
            2,
            true,
        ),
        (
            "nan metric",
            format!("{R0}\n{{\"run\":1,\"status\":\"kept\",\"metric\":NaN}}\n{R1}\n").into_bytes(),
            2,
            true,
        ),
    ];
    for (name, bytes, records, warns) in cases {
        let sb = Sandbox::new();
        sb.init();
        seed_ledger(&sb, &bytes);
        for args in [
            vec!["--json", "log", "--all"],
            vec!["--json", "status"],
            vec!["--json", "export", "--format", "jsonl"],
        ] {
            let out = sb.run(&args);
            assert_eq!(out.code, 0, "{name} {args:?}: {}", out.stdout);
            if args[1] == "export" {
                assert_eq!(out.stdout.lines().count() as u64, records, "{name}");
                continue;
            }
            let v = out.json();
            let n = if args[1] == "log" {
                &v["data"]["total"]
            } else {
                &v["data"]["ledger"]["records"]
            };
            assert_eq!(n, records, "{name} {args:?}");
            assert_eq!(
                !v["warnings"].as_array().unwrap().is_empty(),
                warns,
                "{name} {args:?}: {v}"
            );
        }
        if records == 2 {
            let d = sb.run(&["--json", "status"]).ok();
            assert_eq!(d["best"]["run"], 1, "{name}");
            assert_eq!(d["baseline"]["run"], 0, "{name}");
        }
    }
}

fn check_first_generation(sb: &Sandbox) {
    let d = sb.run(&["--json", "status"]).ok();
    assert_eq!(d["total"], 12);
    assert_eq!(d["counts"]["baseline"], 1);
    assert_eq!(d["counts"]["kept"], 5);
    assert_eq!(d["counts"]["discarded"], 6);
    assert_eq!(d["baseline"]["metric"], 1.0);
    assert_eq!(d["best"]["run"], 11);
    assert_eq!(d["best"]["metric"], 0.7);
    assert_eq!(
        d["best"]["commit"],
        "46a18fda8e2a38ddd773fba266800a435fc750b5"
    );
    let pct = d["improvement_pct"].as_f64().unwrap();
    assert!((pct - 30.0).abs() < 1e-9, "{pct}");
    let best = sb.run(&["--json", "best"]).ok();
    assert_eq!(best["best"]["run"], 11);
    assert_eq!(best["baseline"]["run"], 0);
    let log = sb.run(&["--json", "log", "--status", "keep"]).ok();
    assert_eq!(log["total"], 5);
    assert_eq!(
        log["records"][0]["summary"],
        "try 1: tweak X to 1, naïve ✓ \"quoted\", comma"
    );
}

/// The shared fixture written by the first-generation tool reads unchanged.
#[test]
fn reads_the_first_generation_anchor_ledger() {
    let Some(dir) = shared_testdata("anchor-format") else {
        return;
    };
    let sb = Sandbox::new();
    std::fs::copy(dir.join("autoresearch.toml"), sb.path("autoresearch.toml")).unwrap();
    std::fs::create_dir_all(sb.path(".autoresearch")).unwrap();
    std::fs::copy(
        dir.join("experiments.jsonl"),
        sb.path(".autoresearch/experiments.jsonl"),
    )
    .unwrap();
    check_first_generation(&sb);
}

/// Our own fixture in the first-generation format (CONTRACT §5): hash, description, time,
/// value/score, keep/discard.
#[test]
fn reads_a_first_generation_fixture() {
    let sb = Sandbox::new();
    sb.write(
        "autoresearch.toml",
        "branch = \"autoresearch\"\neval_command = \"python3 solver.py\"\nmetric_direction = \"lower\"\nmetric_name = \"score\"\ntarget_file = \"train.py\"\ntime_budget = \"30s\"\n",
    );
    let mut text = String::new();
    let metrics = [
        1.0, 0.93, 0.97, 0.88, 1.2, 0.88, 0.81, 0.95, 0.79, 0.8, 0.795, 0.7,
    ];
    for (i, m) in metrics.iter().enumerate() {
        let status = match i {
            0 => "baseline",
            1 | 3 | 6 | 8 | 11 => "keep",
            _ => "discard",
        };
        let key = if i % 2 == 0 { "value" } else { "score" };
        let commit = if i == 11 {
            "46a18fda8e2a38ddd773fba266800a435fc750b5".to_string()
        } else {
            format!("{i:040x}")
        };
        let summary = if i == 1 {
            "try 1: tweak X to 1, naïve ✓ \\\"quoted\\\", comma".to_string()
        } else {
            format!("try {i}")
        };
        text.push_str(&format!(
            "{{\"delta\":null,\"hash\":\"{commit}\",\"{key}\":{m},\"run\":{i},\"short_hash\":\"x\",\"status\":\"{status}\",\"description\":\"{summary}\",\"time\":\"2026-11-26T00:01:13.460267045+00:00\"}}\n"
        ));
    }
    seed_ledger(&sb, text.as_bytes());
    check_first_generation(&sb);
}

/// The summary cache never hides an edit: changing an early record in place, at the same
/// length, is seen by the next reader at once.
#[test]
fn an_in_place_edit_of_an_early_line_invalidates_the_cache() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("5.0"), "base");
    for i in 0..30 {
        sb.record("discarded", Some("6.0"), &format!("try {i}"));
    }
    let d = sb.run(&["--json", "status"]).ok();
    assert_eq!(d["best"]["metric"], 5.0);
    let path = sb.path(".autoresearch/experiments.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"metric\":5.0,", "\"metric\":4.0,", 1);
    assert_eq!(edited.len(), text.len());
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let d = sb.run(&["--json", "status"]).ok();
    assert_eq!(d["best"]["metric"], 4.0, "the cache hid an in-place edit");
    let d = sb.run(&["--json", "log", "-n", "1"]).ok();
    assert_eq!(d["best_metric"], 4.0);
}

/// A duplicated line (a hand edit, a merge) does not make a run number reused: the next record
/// is numbered from the highest run, and no existing run ref moves.
#[test]
fn a_duplicated_line_never_makes_a_run_number_reused() {
    let sb = Sandbox::new();
    sb.init();
    for (status, metric) in [("baseline", "3"), ("kept", "2"), ("discarded", "2.5")] {
        sb.record(status, Some(metric), status);
    }
    let path = sb.path(".autoresearch/experiments.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let second = text.lines().nth(1).unwrap().to_string();
    std::fs::write(&path, format!("{text}{second}\n")).unwrap();
    let ref_of = |run: u64| {
        sb.repo()
            .find_reference(&format!("refs/autoresearch/runs/{run}"))
            .ok()
            .and_then(|r| r.target())
            .map(|o| o.to_string())
    };
    let pinned = (ref_of(1), ref_of(2));
    sb.write("train.py", "x = 9\n");
    let head = sb.commit_all("another commit");
    let d = sb.record("discarded", Some("4"), "after the duplicate");
    assert_eq!(d["record"]["run"], 3, "{d}");
    assert_eq!((ref_of(1), ref_of(2)), pinned, "an existing run ref moved");
    assert_eq!(ref_of(3), Some(head));
}

/// The run ref is pinned under the lock before the line is written, so a recorded run always
/// has its commit; a writer killed in between leaves only a ref for a number no record owns,
/// which the next writer of that number replaces.
#[test]
fn a_run_is_pinned_before_it_is_recorded() {
    let sb = Sandbox::new();
    sb.init();
    let first = sb.head();
    let mut child = writer_holding_the_lock(&sb, "30000");
    let ref_0 = || {
        sb.repo()
            .find_reference("refs/autoresearch/runs/0")
            .ok()
            .and_then(|r| r.target())
            .map(|o| o.to_string())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while ref_0().is_none() {
        assert!(
            Instant::now() < deadline,
            "the ref was not pinned before the write"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sb.ledger_lines().is_empty(), "pinned first, written second");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ref_0(), Some(first));
    sb.write("train.py", "x = 2\n");
    let second = sb.commit_all("a second commit");
    let d = sb.record("baseline", Some("1"), "after the kill");
    assert_eq!(d["record"]["run"], 0);
    assert_eq!(ref_0(), Some(second), "the leftover ref was replaced");
}

/// The writer that moves a torn tail aside says so in its envelope.
#[test]
fn the_writer_that_moves_a_torn_tail_warns() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "a");
    let ledger = sb.path(".autoresearch/experiments.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&ledger)
        .unwrap();
    f.write_all(b"{\"run\":1,\"status\":\"kep").unwrap();
    drop(f);
    let v = sb
        .run(&[
            "--json",
            "record",
            "--status",
            "discarded",
            "--metric",
            "2",
            "-m",
            "b",
        ])
        .json();
    assert!(
        v["warnings"].to_string().contains("experiments.jsonl.torn"),
        "{v}"
    );
}
