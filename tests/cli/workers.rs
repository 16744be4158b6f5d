//! The readers of a synced ledger: other workers' records (appended here by hand, as `sync`
//! appends them: `worker`, `worker_run`, `branch` as `<branch>@<worker>`) are labelled
//! `#RUN@WORKER`, named as `RUN@WORKER`, filtered with `--worker` and listed by
//! `--all-branches`.

use crate::common::*;

/// Another worker's record as `sync` appends it: run `run` here, `theirs` on `worker`.
fn foreign(run: u64, worker: &str, theirs: u64, status: &str, metric: f64, branch: &str) -> String {
    format!(
        r#"{{"run":{run},"id":"{worker}-{theirs}","timestamp":"2026-01-0{d}T00:00:00Z","status":"{status}","metric":{metric},"summary":"{worker} run {theirs}","branch":"{branch}@{worker}","source":"run","worker":"{worker}","worker_run":{theirs},"clock":{run}}}"#,
        d = 1 + run % 9,
    )
}

/// Own runs #0 (baseline 1.0) and #1 (kept 0.8), this clone being worker `me-1`; then worker
/// `gpu-03`'s runs 0 (baseline 2.0) and 1 (kept 1.5) as #2 and #3, and worker `vm-7`'s run 4
/// (baseline 3.0) on a fork, as #4.
fn synced() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    let repo = sb.repo();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    repo.branch("autoresearch", &head, false).unwrap();
    sb.switch("autoresearch");
    sb.record("baseline", Some("1.0"), "base");
    sb.record("kept", Some("0.8"), "mine");
    sb.write(".autoresearch/worker", "me-1\n");
    let lines = [
        foreign(2, "gpu-03", 0, "baseline", 2.0, "autoresearch"),
        foreign(3, "gpu-03", 1, "kept", 1.5, "autoresearch"),
        foreign(4, "vm-7", 4, "baseline", 3.0, "autoresearch-fork-wide"),
    ];
    let path = sb.path(".autoresearch/experiments.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    sb
}

fn runs(d: &serde_json::Value) -> Vec<u64> {
    d["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_u64().unwrap())
        .collect()
}

#[test]
fn log_labels_other_workers_runs_and_keeps_the_json_records_as_written() {
    let sb = synced();
    let out = sb.run(&["--human", "log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for label in ["#0 ", "#1 ", "#0@gpu-03", "#1@gpu-03", "#4@vm-7"] {
        assert!(out.stdout.contains(label), "{label}: {}", out.stdout);
    }
    assert!(!out.stdout.contains("#3 "), "{}", out.stdout);
    let d = sb.run(&["--json", "log"]).ok();
    assert_eq!(runs(&d), [0, 1, 2, 3, 4]);
    let r = &d["records"][3];
    assert_eq!(
        (&r["worker"], &r["worker_run"], &r["branch"]),
        (&"gpu-03".into(), &1.into(), &"autoresearch@gpu-03".into())
    );
}

#[test]
fn log_worker_lists_only_that_workers_runs() {
    let sb = synced();
    let d = sb.run(&["--json", "log", "--worker", "gpu-03"]).ok();
    assert_eq!(runs(&d), [2, 3]);
    assert_eq!(d["total"], 2);
    assert_eq!(d["best_metric"], 1.5);
    let d = sb.run(&["--json", "log", "--worker", "me-1"]).ok();
    assert_eq!(runs(&d), [0, 1]);
    let d = sb
        .run(&[
            "--json", "log", "--all", "--worker", "gpu-03", "--status", "kept",
        ])
        .ok();
    assert_eq!(runs(&d), [3]);
    let d = sb
        .run(&[
            "--json",
            "log",
            "--worker",
            "vm-7",
            "--branch",
            "autoresearch-fork-wide",
        ])
        .ok();
    assert_eq!(runs(&d), [4]);
}

#[test]
fn an_unknown_worker_is_a_usage_error_naming_the_known_ones() {
    let sb = synced();
    for cmd in ["log", "status", "best", "report", "review"] {
        let v = sb.run(&["--json", cmd, "--worker", "nope"]).err("usage", 2);
        let s = v["error"]["suggestion"].as_str().unwrap();
        for w in ["`gpu-03`", "`vm-7`", "`me-1` (this clone)"] {
            assert!(s.contains(w), "{cmd}: {s}");
        }
    }
}

#[test]
fn status_and_best_report_on_the_workers_copy_of_the_branch() {
    let sb = synced();
    let d = sb.run(&["--json", "status"]).ok();
    assert_eq!(d["scope_branch"], "autoresearch");
    assert_eq!(d["best"]["run"], 1);
    assert!(d["best"].get("worker").is_none(), "{}", d["best"]);
    let v = sb.run(&["--json", "status", "--worker", "gpu-03"]).json();
    let hints = v["hints"].to_string();
    assert!(hints.contains("worker `gpu-03`'s runs"), "{hints}");
    assert!(
        !hints.contains("edit only"),
        "no next step on their runs: {hints}"
    );
    let d = sb.run(&["--json", "status", "--worker", "gpu-03"]).ok();
    assert_eq!(d["scope_branch"], "autoresearch@gpu-03");
    assert_eq!(d["best"]["run"], 3);
    assert_eq!(d["best"]["worker"], "gpu-03");
    assert_eq!(d["best"]["worker_run"], 1);
    let d = sb.run(&["--json", "status", "--worker", "me-1"]).ok();
    assert_eq!(d["scope_branch"], "autoresearch");
    let out = sb.run(&["--human", "status", "--worker", "gpu-03"]);
    assert!(out.stdout.contains("#1@gpu-03 1.5"), "{}", out.stdout);
    assert!(out.stdout.contains("#0@gpu-03 2"), "{}", out.stdout);

    let d = sb.run(&["--json", "best", "--worker", "gpu-03"]).ok();
    assert_eq!(d["branch"], "autoresearch@gpu-03");
    let d = sb
        .run(&[
            "--json",
            "best",
            "--branch",
            "autoresearch",
            "--worker",
            "gpu-03",
        ])
        .ok();
    assert_eq!(d["branch"], "autoresearch@gpu-03");
    let out = sb.run(&["--human", "best", "--worker", "gpu-03"]);
    assert!(out.stdout.contains("#1@gpu-03 1.5"), "{}", out.stdout);
}

#[test]
fn a_worker_without_a_copy_of_the_branch_is_read_on_its_latest_one() {
    let sb = synced();
    let d = sb.run(&["--json", "status", "--worker", "vm-7"]).ok();
    assert_eq!(d["scope_branch"], "autoresearch-fork-wide@vm-7");
    assert_eq!(d["baseline"]["worker_run"], 4);
}

#[test]
fn report_and_review_take_a_worker() {
    let sb = synced();
    let path = sb.path(".autoresearch/experiments.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (run, theirs) in [(5, 2), (6, 3)] {
        text.push_str(&format!(
            r#"{{"run":{run},"id":"gpu-03-{theirs}","timestamp":"2026-01-07T00:00:00Z","status":"crash","metric":null,"summary":"oom","reason":"out of memory","branch":"autoresearch@gpu-03","source":"run","worker":"gpu-03","worker_run":{theirs}}}"#
        ));
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let out = sb.run(&["--human", "report", "--format", "md", "--worker", "gpu-03"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("#1@gpu-03"), "{}", out.stdout);
    assert!(out.stdout.contains("| #0@gpu-03 |"), "{}", out.stdout);
    assert!(
        out.stdout.contains("#2@gpu-03, #3@gpu-03"),
        "{}",
        out.stdout
    );
    let d = sb.run(&["--json", "review", "--worker", "gpu-03"]).ok();
    assert_eq!(d["branch"], "autoresearch@gpu-03");
    assert!(d["prompt"].as_str().unwrap().contains("#1@gpu-03"));
}

#[test]
fn runs_are_named_as_run_at_worker() {
    let sb = synced();
    let d = sb.run(&["--json", "diff", "1", "1@gpu-03"]).ok();
    assert_eq!((&d["a"]["run"], &d["b"]["run"]), (&1.into(), &3.into()));
    let d = sb.run(&["--json", "diff", "#0@gpu-03", "1"]).ok();
    assert_eq!(d["a"]["run"], 2);
    let out = sb.run(&["--human", "diff", "1", "1@gpu-03"]);
    assert!(out.stdout.contains("#1@gpu-03"), "{}", out.stdout);

    let v = sb
        .run(&["--json", "diff", "1", "9@gpu-03"])
        .err("run_not_found", 2);
    let s = v["error"]["suggestion"].as_str().unwrap();
    assert!(s.contains("autoresearch log --worker gpu-03"), "{s}");
    sb.run(&["--json", "diff", "1", "1@GPU"]).err("usage", 2);

    let v = sb
        .run(&["--json", "retract", "1@gpu-03", "-m", "not mine"])
        .err("not_retractable", 2);
    assert!(v["error"]["message"].as_str().unwrap().contains("gpu-03"));
    sb.run(&["--json", "retract", "9@gpu-03", "-m", "x"])
        .err("run_not_found", 2);
    sb.run(&["--json", "run", "--recheck", "9@gpu-03", "-m", "x"])
        .err("run_not_found", 2);

    let out = sb.run(&["watch", "--since", "0@gpu-03", "--once", "--all-branches"]);
    let replayed: Vec<u64> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "record")
        .map(|l| l["record"]["run"].as_u64().unwrap())
        .collect();
    assert_eq!(replayed, [3, 4], "{}", out.stderr);
    sb.run(&["--json", "watch", "--since", "9@gpu-03"])
        .err("run_not_found", 2);
}

#[test]
fn all_branches_lists_other_workers_copies_after_the_local_ones_and_merge_best_does_not() {
    let sb = synced();
    let d = sb.run(&["--json", "status", "--all-branches"]).ok();
    let names: Vec<&str> = d["branches"]["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["branch"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "autoresearch",
            "autoresearch@gpu-03",
            "autoresearch-fork-wide@vm-7"
        ]
    );
    assert_eq!(d["branches"]["branches"][1]["exists"], false);
    let out = sb.run(&["--human", "log", "--all-branches"]);
    assert!(
        out.stdout.contains("2 branches of other workers"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("#1@gpu-03 1.5"), "{}", out.stdout);
    // `merge-best` ranks them apart, in `other_workers`, never among the forks.
    let d = sb.run(&["--json", "merge-best"]).ok();
    assert!(!d["groups"].to_string().contains("@gpu-03"), "{d}");
    assert_ne!(d["winner"], "autoresearch@gpu-03");
    let others: Vec<&str> = d["other_workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["branch"].as_str().unwrap())
        .collect();
    assert!(others.contains(&"autoresearch@gpu-03"), "{d}");
}

#[test]
fn a_fork_starts_from_another_workers_run() {
    let sb = synced();
    let head = sb.head();
    let path = sb.path(".autoresearch/experiments.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        r#"{{"run":5,"id":"gpu-03-2","timestamp":"2026-01-06T00:00:00Z","status":"kept","metric":1.2,"summary":"theirs","commit":"{head}","branch":"autoresearch@gpu-03","source":"run","worker":"gpu-03","worker_run":2}}"#
    ));
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    let d = sb.run(&["--json", "fork", "x", "--from", "2@gpu-03"]).ok();
    assert_eq!(d["start"]["run"], 5);
    assert_eq!(d["start"]["branch"], "autoresearch@gpu-03");
    assert_eq!(sb.tip("autoresearch-fork-x"), head);
    let out = sb.run(&["--human", "fork", "z", "--from", "2@gpu-03", "--dry-run"]);
    assert!(
        out.stdout
            .contains("from run #2@gpu-03 on autoresearch@gpu-03"),
        "{}",
        out.stdout
    );
    sb.run(&["--json", "fork", "y", "--from", "9@gpu-03"])
        .err("run_not_found", 2);
}
