//! A project with a ledger written by hand: every status once, fixed timestamps a long time
//! ago, secondary metrics and a non-ASCII summary. Views of it do not change from one call to
//! the next (the `age` column reads "…d ago" all day), so `colour` can compare two calls and
//! `snapshots` can pin them.

use git2::ResetType;
use serde_json::json;

use crate::common::*;

/// The summary with letters of every width: `ï` (one column), `漢字` (two each), `✓` (one).
pub const WIDE_SUMMARY: &str = "x = 9: naïve 漢字 ✓";

/// The statuses of runs 0 to 4, in ledger order.
pub const STATUSES: [&str; 5] = ["baseline", "kept", "discarded", "crash", "timeout"];

/// The summaries of runs 0 to 4, in ledger order.
pub const SUMMARIES: [&str; 5] = [
    "baseline",
    "smaller x",
    WIDE_SUMMARY,
    "typo in the loop",
    "sleep forever",
];

/// An initialized project on the experiment branch `autoresearch` whose ledger holds five runs
/// (baseline, kept, discarded, crash, timeout), each pinned at `refs/autoresearch/runs/<run>`
/// as `run` would have left them; HEAD is the kept run, the best.
pub fn fixed_project() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    let repo = sb.repo();
    let setup = repo.head().unwrap().peel_to_commit().unwrap();
    repo.branch("autoresearch", &setup, false).unwrap();
    repo.set_head("refs/heads/autoresearch").unwrap();

    let base = sb.head();
    sb.write("train.py", "x = 7\n");
    let kept = sb.commit_all("smaller x");
    // Not kept: committed, pinned by their run refs, then reverted to the best.
    let reverted = |x: &str, msg: &str| {
        sb.write("train.py", &format!("x = {x}\n"));
        let c = sb.commit_all(msg);
        let best = repo.revparse_single(&kept).unwrap();
        repo.reset(&best, ResetType::Hard, None).unwrap();
        c
    };
    let discarded = reverted("9", "x = 9");
    let crash = reverted("oops", "typo");
    let timeout = reverted("slow", "sleep");

    let lines = [
        record(
            0,
            &base,
            &setup.id().to_string(),
            Some(10.0),
            Some(4.0),
            1.25,
        ),
        record(1, &kept, &base, Some(7.0), Some(4.5), 1.5),
        record(2, &discarded, &kept, Some(9.0), None, 1.75),
        record(3, &crash, &kept, None, None, 0.25),
        record(4, &timeout, &kept, None, None, 10.0),
    ];
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(&line).unwrap());
        text.push('\n');
    }
    std::fs::write(sb.path(".autoresearch/experiments.jsonl"), text).unwrap();
    for (run, commit) in [&base, &kept, &discarded, &crash, &timeout]
        .into_iter()
        .enumerate()
    {
        let oid = git2::Oid::from_str(commit).unwrap();
        repo.reference(&format!("refs/autoresearch/runs/{run}"), oid, true, "test")
            .unwrap();
    }
    sb
}

/// One ledger line as `run` writes it.
fn record(
    run: usize,
    commit: &str,
    parent: &str,
    metric: Option<f64>,
    mem_gb: Option<f64>,
    duration: f64,
) -> serde_json::Value {
    let status = STATUSES[run];
    let metrics = match mem_gb {
        Some(m) => json!({ "mem_gb": m }),
        None => json!({}),
    };
    // Against the best before the run: the baseline's 10, then the kept run's 7.
    let delta = match run {
        1 => Some(-3.0),
        2 => Some(2.0),
        _ => None,
    };
    let (exit_code, reason) = match status {
        "crash" => (Some(3), Some("exit_code 3")),
        "timeout" => (None, Some("timeout")),
        "discarded" => (Some(0), Some("not better than best (#1 7)")),
        _ => (Some(0), None),
    };
    json!({
        "run": run,
        "id": format!("fixed-{run:05}"),
        "timestamp": format!("2025-01-0{}T12:00:00.000Z", run + 1),
        "status": status,
        "metric": metric,
        "metrics": metrics,
        "samples": [],
        "delta": delta,
        "summary": SUMMARIES[run],
        "commit": commit,
        "parent": parent,
        "branch": "autoresearch",
        "duration_s": duration,
        "exit_code": exit_code,
        "reason": reason,
        "flags": [],
        "source": "run",
    })
}
