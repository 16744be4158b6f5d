use crate::common::*;

fn seeded() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1.0"), "base");
    sb.record("kept", Some("0.000000123456789"), "tiny");
    sb.record("discarded", Some("0.5"), "worse");
    sb.record("crash", None, "boom");
    sb
}

#[test]
fn log_shows_the_last_n_oldest_first_with_the_true_total() {
    let sb = seeded();
    let d = sb.run(&["--json", "log", "-n", "2"]).ok();
    assert_eq!(
        keys(&d),
        [
            "total",
            "shown",
            "best_metric",
            "noise",
            "since_first_baseline",
            "retracted",
            "branches",
            "records"
        ]
    );
    assert_eq!(d["total"], 4);
    assert_eq!(d["shown"], 2);
    let runs: Vec<u64> = d["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [2, 3]);
    let d = sb.run(&["--json", "log", "--all", "--reverse"]).ok();
    let runs: Vec<u64> = d["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [3, 2, 1, 0]);
}

#[test]
fn log_filters_by_status_and_branch() {
    let sb = seeded();
    let d = sb.run(&["--json", "log", "--status", "kept,crash"]).ok();
    assert_eq!(d["total"], 2);
    let d = sb
        .run(&["--json", "log", "--status", "keep", "--status", "baseline"])
        .ok();
    assert_eq!(d["total"], 2);
    let d = sb.run(&["--json", "log", "--branch", "nope"]).ok();
    assert_eq!(d["total"], 0);
    sb.run(&["--json", "log", "--status", "weird"])
        .err("invalid_status", 2);
}

#[test]
fn log_table_keeps_full_precision() {
    let sb = seeded();
    let out = sb.run(&["--human", "log"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("0.000000123456789"), "{}", out.stdout);
    assert!(out.stdout.contains("best"));
    assert!(out.stdout.contains("crash"));
    assert!(!out.stdout.contains('\u{1b}'), "no colour with NO_COLOR");
}

#[test]
fn log_into_a_closed_pipe_exits_quietly() {
    let sb = seeded();
    for _ in 0..50 {
        sb.record("discarded", Some("2"), &"long summary ".repeat(100));
    }
    let mut c = sb.cmd(&["--json", "log", "--all"]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Read;
    let mut buf = [0u8; 10];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(101), "no panic");
    assert!(
        String::from_utf8_lossy(&out.stderr).is_empty(),
        "quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `log -n` reads the tail only: without a current summary cache it does not fold the ledger
/// (it writes no cache), and says so with null totals; a reader that folds brings them back.
#[test]
fn log_n_never_folds_the_ledger() {
    let sb = seeded();
    let cache = sb.path(".autoresearch/summary.json");
    std::fs::remove_file(&cache).unwrap();
    let d = sb.run(&["--json", "log", "-n", "2"]).ok();
    assert_eq!(d["total"], serde_json::Value::Null, "{d}");
    assert_eq!(d["best_metric"], serde_json::Value::Null, "{d}");
    assert_eq!(d["shown"], 2);
    assert!(
        !cache.exists(),
        "log -n folded the ledger and saved the cache"
    );
    let out = sb.run(&["--human", "log", "-n", "2"]);
    assert!(out.stdout.contains("last 2 shown"), "{}", out.stdout);
    // Fewer records than asked for: the reader reached the start, so the total is known.
    let d = sb.run(&["--json", "log", "-n", "10"]).ok();
    assert_eq!(d["total"], 4);
    // `--all` folds (its total is always known) and streams exactly what it counted.
    let d = sb.run(&["--json", "log", "--all"]).ok();
    assert_eq!(
        (d["total"].as_u64(), d["shown"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(d["records"].as_array().unwrap().len(), 4);
    sb.run(&["--json", "status"]).ok();
    let d = sb.run(&["--json", "log", "-n", "2"]).ok();
    assert_eq!(d["total"], 4);
    assert_eq!(d["best_metric"], 0.000000123456789);
}

/// Ledger text is shown without its escape sequences and control characters: a hand edit, or
/// a record another machine wrote, must not drive the terminal that reads it.
#[test]
fn ledger_text_cannot_drive_the_terminal() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("2"), "baseline");
    let mut line: serde_json::Value = sb.ledger_lines()[0].clone();
    line["run"] = 1.into();
    line["id"] = "evil".into();
    line["summary"] = "evil \u{1b}[31mRED\u{1b}[0m \u{1b}]0;title\u{7}".into();
    line["reason"] = "r\u{1b}[2J".into();
    let path = sb.path(".autoresearch/experiments.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("{line}\n"));
    std::fs::write(&path, text).unwrap();
    for args in [
        &["--human", "log"][..],
        &["--human", "status"],
        &["--human", "best"],
    ] {
        let out = sb.run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("evil RED"), "{args:?}: {}", out.stdout);
        assert!(
            !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
            "{args:?}: {:?}",
            out.stdout
        );
    }
}
