use crate::common::*;

#[test]
fn record_returns_the_record_and_best_before_and_after() {
    let sb = Sandbox::new();
    sb.init();
    let d = sb.record("baseline", Some("1.0"), "baseline");
    assert_eq!(
        keys(&d),
        [
            "record",
            "best_before",
            "best_after",
            "kept_not_better",
            "run_ref"
        ]
    );
    assert_eq!(
        keys(&d["record"]),
        [
            "run",
            "id",
            "timestamp",
            "status",
            "metric",
            "metrics",
            "samples",
            "delta",
            "summary",
            "commit",
            "parent",
            "branch",
            "duration_s",
            "exit_code",
            "reason",
            "flags",
            "source",
            "code",
            "setup"
        ]
    );
    assert_eq!(d["record"]["run"], 0);
    assert!(d["best_before"].is_null());
    assert_eq!(d["best_after"]["run"], 0);
    let head = sb.head();
    assert_eq!(d["record"]["commit"], head.as_str());
    assert_eq!(d["run_ref"], "refs/autoresearch/runs/0");
    let repo = sb.repo();
    let r = repo.find_reference("refs/autoresearch/runs/0").unwrap();
    assert_eq!(r.target().unwrap().to_string(), head);

    let d = sb.record("keep", Some("-0.5"), "negative works");
    assert_eq!(d["record"]["status"], "kept");
    assert_eq!(d["record"]["metric"], -0.5);
    assert_eq!(d["record"]["delta"], -1.5);
    assert_eq!(d["best_before"]["run"], 0);
    assert_eq!(d["best_after"]["run"], 1);
    let ts = d["record"]["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
}

#[test]
fn kept_but_not_better_is_flagged() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1.0"), "b");
    let out = sb.run(&[
        "--json", "record", "--status", "kept", "--metric", "1.0", "-m", "tie",
    ]);
    let v = out.json();
    assert_eq!(v["data"]["kept_not_better"], true);
    assert_eq!(
        v["data"]["record"]["flags"],
        serde_json::json!(["kept_not_better"])
    );
    assert!(!v["warnings"].as_array().unwrap().is_empty());
    assert_eq!(
        v["data"]["best_after"]["run"], 0,
        "a tie does not become the best"
    );
}

#[test]
fn metric_rules() {
    let sb = Sandbox::new();
    sb.init();
    for bad in ["nan", "abc", "inf", "1e400", "0x10", "1_000", ""] {
        sb.run(&["--json", "record", "--status", "kept", "--metric", bad])
            .err("invalid_metric", 2);
    }
    sb.run(&["--json", "record", "--status", "kept"])
        .err("invalid_metric", 2);
    sb.run(&[
        "--json",
        "record",
        "--status",
        "kept",
        "--metric",
        "1",
        "--metrics",
        "mem",
    ])
    .err("invalid_metric", 2);
    sb.run(&[
        "--json",
        "record",
        "--status",
        "kept",
        "--metric",
        "1",
        "--metrics",
        "mem=nan",
    ])
    .err("invalid_metric", 2);
    sb.run(&["--json", "record", "--status", "finished", "--metric", "1"])
        .err("invalid_status", 2);
    assert!(
        sb.ledger_lines().is_empty(),
        "nothing recorded by a refused call"
    );
    let d = sb.record("crash", None, "oom");
    assert!(d["record"]["metric"].is_null());
    let d = sb
        .run(&[
            "--json",
            "record",
            "--status",
            "discard",
            "--metric",
            "2.5e-3",
            "--metrics",
            "mem=41.5",
            "--metrics",
            "mfu=-1",
            "--duration",
            "4m30s",
        ])
        .ok();
    assert_eq!(
        d["record"]["metrics"],
        serde_json::json!({"mem": 41.5, "mfu": -1.0})
    );
    assert_eq!(d["record"]["duration_s"], 270.0);
    assert_eq!(d["record"]["status"], "discarded");
}

#[test]
fn summaries_are_cleaned_capped_and_read_from_stdin() {
    let sb = Sandbox::new();
    sb.init();
    let d = sb.record(
        "baseline",
        Some("1"),
        "red \u{1b}[31mtext\u{1b}[0m\nnext line\u{7}",
    );
    assert_eq!(d["record"]["summary"], "red text next line");
    let long = "é".repeat(5000);
    let out = sb.run(&[
        "--json",
        "record",
        "--status",
        "discarded",
        "--metric",
        "2",
        "--summary",
        &long,
    ]);
    let v = out.json();
    assert!(v["data"]["record"]["summary"].as_str().unwrap().len() <= 4096);
    assert!(v["warnings"][0].as_str().unwrap().contains("truncated"));

    let mut c = sb.cmd(&[
        "--json",
        "record",
        "--status",
        "discarded",
        "--metric",
        "3",
        "--summary-file",
        "-",
    ]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["data"]["record"]["summary"], "from stdin");
}

#[test]
fn stuck_hints_escalate() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "b");
    let mut hints = Vec::new();
    for i in 0..8 {
        let out = sb.run(&[
            "--json",
            "record",
            "--status",
            "discarded",
            "--metric",
            "2",
            "-m",
            &format!("try {i}"),
        ]);
        hints.push(out.json()["hints"].to_string());
    }
    assert!(!hints[1].contains("without a keep"));
    assert!(
        hints[2].contains("3 runs in a row without a keep"),
        "{}",
        hints[2]
    );
    assert!(hints[4].contains("5 runs in a row"), "{}", hints[4]);
    assert!(
        hints[7].contains("8 runs in a row") && hints[7].contains("guide stuck"),
        "{}",
        hints[7]
    );
}

#[test]
fn record_needs_a_config_and_a_known_commit() {
    let sb = Sandbox::new();
    sb.run(&["--json", "record", "--status", "kept", "--metric", "1"])
        .err("not_initialized", 2);
    sb.init();
    sb.run(&[
        "--json", "record", "--status", "kept", "--metric", "1", "--commit", "nope",
    ])
    .err("usage", 2);
}

/// On a detached HEAD a record would belong to no branch (and silently count as the configured
/// branch's): `record` asks for `--branch` instead, and records it when given.
#[test]
fn record_on_a_detached_head_needs_a_branch() {
    let sb = Sandbox::new();
    sb.init();
    let repo = sb.repo();
    let head = repo.head().unwrap().target().unwrap();
    repo.set_head_detached(head).unwrap();
    let v = sb
        .run(&["--json", "record", "--status", "baseline", "--metric", "1"])
        .err("usage", 2);
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("--branch"),
        "{v}"
    );
    assert!(sb.ledger_lines().is_empty());
    let d = sb
        .run(&[
            "--json", "record", "--status", "baseline", "--metric", "1", "--branch", "night-2",
        ])
        .ok();
    assert_eq!(d["record"]["branch"], "night-2");
    sb.run(&[
        "--json", "record", "--status", "kept", "--metric", "1", "--branch", "a..b",
    ])
    .err("invalid_name", 2);
}

/// A hand-edited ledger whose last run is `u64::MAX`: `record` is refused with `io_error` and
/// writes nothing; no record is numbered 0 by wrapping.
#[test]
fn a_run_number_at_the_maximum_is_refused_not_wrapped() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "b");
    let ledger = sb.path(".autoresearch/experiments.jsonl");
    let text = std::fs::read_to_string(&ledger).unwrap();
    let text = text.replacen("{\"run\":0,", "{\"run\":18446744073709551615,", 1);
    std::fs::write(&ledger, &text).unwrap();
    let v = sb
        .run(&[
            "--json", "record", "--status", "kept", "--metric", "0.5", "-m", "next",
        ])
        .err("io_error", 1);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("18446744073709551615"), "{msg}");
    assert!(msg.contains("never wrap"), "{msg}");
    assert_eq!(std::fs::read_to_string(&ledger).unwrap(), text);
    // `run` refuses before it commits anything, rather than reserving a wrapped number.
    let head = sb.head();
    sb.run(&["--json", "run", "--allow-empty", "-m", "next"])
        .err("io_error", 1);
    assert_eq!(sb.head(), head);
    assert!(
        sb.repo()
            .find_branch("autoresearch", git2::BranchType::Local)
            .is_err(),
        "no branch"
    );
    assert_eq!(std::fs::read_to_string(&ledger).unwrap(), text);
}

/// A summary cannot reorder `log`'s line: bidi controls and other invisible formatting are
/// stripped before the record is stored.
#[test]
fn summaries_lose_bidi_controls_and_invisible_formatting() {
    let sb = Sandbox::new();
    sb.init();
    let d = sb.record(
        "baseline",
        Some("1"),
        "keep \u{202E}gnitset\u{202C} \u{2066}x\u{2069}\u{200B}\u{FEFF}\u{200F}y",
    );
    assert_eq!(d["record"]["summary"], "keep gnitset xy");
    let stored = sb.ledger_lines()[0]["summary"].clone();
    assert_eq!(stored, "keep gnitset xy");
}
