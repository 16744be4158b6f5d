//! `sync`: two clones of one project and a bare repository on this machine, each clone
//! running experiments and syncing in turn. They converge on one set of records whatever the
//! order; syncing again changes nothing; the order stays causal when one clone's clock is
//! hours ahead; a clone that never syncs writes exactly what it wrote before; a second clone
//! publishing under the same worker id is refused with the remote unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// `git` in `dir`, hermetic; its trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A project (`a`, with its baseline), a bare repository holding its branches, and a clone of
/// it (`b`) with a baseline of its own. The workers are `wa` and `wb`.
struct Team {
    a: Sandbox,
    b: Sandbox,
    remote: PathBuf,
    _remote_dir: tempfile::TempDir,
}

impl Team {
    fn new() -> Team {
        let a = Sandbox::new();
        a.init();
        assert_eq!(run(&a, &["-m", "baseline"]).code, 0);
        let remote_dir = tempfile::tempdir().unwrap();
        let remote = remote_dir.path().join("lab.git");
        git(remote_dir.path(), &["init", "-q", "--bare", "lab.git"]);
        git(
            &a.root,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        git(&a.root, &["push", "-q", "origin", "autoresearch"]);
        let b = Sandbox::new();
        std::fs::remove_dir_all(&b.root).unwrap();
        git(
            remote_dir.path(),
            &[
                "clone",
                "-q",
                "-b",
                "autoresearch",
                remote.to_str().unwrap(),
                b.root.to_str().unwrap(),
            ],
        );
        assert_eq!(run(&b, &["-m", "baseline"]).code, 0);
        Team {
            a,
            b,
            remote,
            _remote_dir: remote_dir,
        }
    }

    fn sync(&self, who: &Sandbox) -> Out {
        let worker = if std::ptr::eq(who, &self.a) {
            "wa"
        } else {
            "wb"
        };
        let mut c = who.cmd(&["--json", "sync"]);
        c.env("AUTORESEARCH_WORKER", worker);
        run_cmd(c)
    }
}

impl Team {
    /// An experiment on `b`, then `b` and `a` sync: `a` holds it. Its run number on `b`.
    fn shared_experiment(&self, x: &str) -> u64 {
        experiment(&self.b, x);
        let run = self.b.ledger_lines().last().unwrap()["run"]
            .as_u64()
            .unwrap();
        self.sync(&self.b).ok();
        self.sync(&self.a).ok();
        run
    }
}

/// One experiment: `x` becomes `x`, evaluated by `run` (kept or discarded by its own rules).
fn experiment(sb: &Sandbox, x: &str) {
    set_x(sb, x);
    let out = run(sb, &["-m", &format!("x = {x}")]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

fn ids(sb: &Sandbox) -> BTreeSet<String> {
    sb.ledger_lines()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

fn ledger_bytes(sb: &Sandbox) -> Vec<u8> {
    std::fs::read(sb.path(".autoresearch/experiments.jsonl")).unwrap()
}

/// The user's branches and tags, as `git for-each-ref` lists them.
fn user_refs(dir: &Path) -> String {
    git(
        dir,
        &["for-each-ref", "refs/heads", "refs/tags", "refs/remotes"],
    )
}

#[test]
fn two_clones_converge_in_any_order_and_syncing_again_changes_nothing() {
    // Each step: who runs how many experiments, then who syncs.
    let orders: [&[(&str, usize, &str)]; 2] = [
        &[
            ("a", 1, "a"),
            ("b", 2, "b"),
            ("a", 2, "a"),
            ("b", 1, "b"),
            ("a", 0, "a"),
        ],
        &[
            ("b", 2, "b"),
            ("a", 1, "b"),
            ("a", 2, "a"),
            ("b", 0, "a"),
            ("b", 1, "b"),
            ("a", 0, "a"),
            ("b", 0, "b"),
        ],
    ];
    for order in orders {
        let team = Team::new();
        let (heads_a, heads_b) = (user_refs(&team.a.root), user_refs(&team.b.root));
        let mut x = 50;
        for &(runs, n, syncs) in order {
            let sb = if runs == "a" { &team.a } else { &team.b };
            for _ in 0..n {
                x -= 1;
                experiment(sb, &x.to_string());
            }
            let sb = if syncs == "a" { &team.a } else { &team.b };
            let d = team.sync(sb).ok();
            assert_eq!(d["pushed"], true, "{d}");
        }
        // Both have synced since the last experiment: one set of records.
        assert_eq!(ids(&team.a), ids(&team.b), "converged");
        assert_eq!(
            ids(&team.a).len(),
            2 + order.iter().map(|s| s.1).sum::<usize>()
        );
        // Run numbers stay unique in each ledger; the writers' own numbers are kept.
        for sb in [&team.a, &team.b] {
            let lines = sb.ledger_lines();
            let runs: BTreeSet<u64> = lines.iter().map(|l| l["run"].as_u64().unwrap()).collect();
            assert_eq!(runs.len(), lines.len(), "unique run numbers");
            for l in lines.iter().filter(|l| l.get("worker_run").is_some()) {
                let w = l["worker"].as_str().unwrap();
                assert!(w == "wa" || w == "wb", "{l}");
                assert_eq!(l["branch"], format!("autoresearch@{w}"), "{l}");
            }
        }
        // Further syncs change nothing, on either side.
        let (la, lb) = (ledger_bytes(&team.a), ledger_bytes(&team.b));
        for sb in [&team.a, &team.b, &team.a] {
            let d = team.sync(sb).ok();
            assert_eq!(d["added"], 0, "{d}");
        }
        assert_eq!(ledger_bytes(&team.a), la);
        assert_eq!(ledger_bytes(&team.b), lb);
        // Nobody's branches moved: sync keeps to its own refs.
        assert_eq!(user_refs(&team.a.root), heads_a);
        assert_eq!(user_refs(&team.b.root), heads_b);
        assert_eq!(
            git(
                &team.remote,
                &["for-each-ref", "--format=%(refname)", "refs/heads"]
            ),
            "refs/heads/autoresearch"
        );
    }
}

/// Each worker's own fold stays its own: the other's records are on `<branch>@<worker>`, with
/// the same baseline and best there as on the worker that wrote them.
#[test]
fn another_workers_branch_folds_as_it_did_where_it_was_written() {
    let team = Team::new();
    team.shared_experiment("0.5");
    let theirs = team.b.run(&["--json", "status"]).ok();
    let mirrored = team
        .a
        .run(&["--json", "status", "--branch", "autoresearch@wb"])
        .ok();
    for k in ["baseline", "best"] {
        assert_eq!(
            mirrored[k]["metric"], theirs[k]["metric"],
            "{k}: {mirrored}\n{theirs}"
        );
    }
    // `a`'s own best is untouched by `b`'s better one.
    let own = team.a.run(&["--json", "status"]).ok();
    assert_eq!(own["best"]["metric"], 1.0, "{own}");
    // The commit came along: `b`'s kept code is readable here.
    let kept = team
        .a
        .ledger_lines()
        .into_iter()
        .find(|l| l["status"] == "kept")
        .unwrap();
    let commit = kept["commit"].as_str().unwrap();
    assert_eq!(
        git(&team.a.root, &["show", &format!("{commit}:train.py")]),
        "x = 0.5"
    );
}

/// A clock hours ahead on `b` changes the timestamps it writes, not the order: a record `a`
/// writes after seeing `b`'s comes after them everywhere, by the logical clock.
#[test]
fn order_stays_causal_when_one_clones_clock_is_hours_ahead() {
    let team = Team::new();
    team.sync(&team.a).ok();
    team.sync(&team.b).ok();
    experiment(&team.b, "0.9");
    experiment(&team.b, "0.8");
    // `b`'s clock is five hours ahead: its lines carry timestamps from the future.
    let path = team.b.path(".autoresearch/experiments.jsonl");
    let skewed: String = team
        .b
        .ledger_lines()
        .into_iter()
        .map(|mut l| {
            let t = chrono::DateTime::parse_from_rfc3339(l["timestamp"].as_str().unwrap()).unwrap();
            l["timestamp"] = Value::from(
                (t + chrono::Duration::hours(5))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
            l.to_string() + "\n"
        })
        .collect();
    std::fs::write(&path, skewed).unwrap();
    team.sync(&team.b).ok();
    team.sync(&team.a).ok();
    // `a` answers, now (five hours "before" `b`'s records by the wall clock).
    experiment(&team.a, "0.7");
    let answer = team.a.ledger_lines().last().unwrap().clone();
    team.sync(&team.a).ok();
    team.sync(&team.b).ok();
    for sb in [&team.a, &team.b] {
        let lines = sb.ledger_lines();
        let at = |id: &Value| lines.iter().position(|l| &l["id"] == id).unwrap();
        let seen: Vec<&Value> = lines
            .iter()
            .filter(|l| l["summary"] == "x = 0.9" || l["summary"] == "x = 0.8")
            .collect();
        assert_eq!(seen.len(), 2);
        for s in &seen {
            assert!(at(&s["id"]) < at(&answer["id"]), "causal in the ledger");
            assert!(
                s["clock"].as_u64().unwrap() < answer["clock"].as_u64().unwrap(),
                "{s}\n{answer}"
            );
            assert!(
                s["timestamp"].as_str().unwrap() > answer["timestamp"].as_str().unwrap(),
                "the wall clock says otherwise"
            );
        }
        // And `log` lists them in that order.
        let log = sb.run(&["--json", "log", "-n", "100"]).ok();
        let listed: Vec<&Value> = log["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["id"])
            .collect();
        let pos = |id: &Value| listed.iter().position(|x| *x == id).unwrap();
        for s in &seen {
            assert!(pos(&s["id"]) < pos(&answer["id"]));
        }
    }
}

/// Sync is optional: a project that never syncs writes the lines it always wrote, and a dry
/// run neither makes a worker id nor writes the ledger.
#[test]
fn a_clone_that_never_syncs_writes_what_it_always_wrote() {
    let team = Team::new();
    experiment(&team.b, "0.5");
    team.sync(&team.b).ok();
    let before = ledger_bytes(&team.a);
    let d = team.a.run(&["--json", "sync", "--dry-run"]).ok();
    assert_eq!(d["dry_run"], true);
    assert_eq!(d["added"], 2, "{d}");
    assert_eq!(d["worker"], Value::Null, "no id is made by a dry run");
    assert_eq!(d["pushed"], false);
    assert_eq!(ledger_bytes(&team.a), before);
    assert!(!team.a.path(".autoresearch/worker").exists());
    experiment(&team.a, "0.6");
    for l in team.a.ledger_lines() {
        for k in ["worker", "worker_run", "clock"] {
            assert!(l.get(k).is_none(), "{k} in {l}");
        }
    }
    // Once it syncs, its new records carry its id and a clock above everything it has seen.
    team.sync(&team.a).ok();
    let seen = team
        .a
        .ledger_lines()
        .iter()
        .filter_map(|l| l["clock"].as_u64())
        .max()
        .unwrap_or(0);
    experiment(&team.a, "0.4");
    let last = team.a.ledger_lines().last().unwrap().clone();
    assert_eq!(last["worker"], "wa", "{last}");
    assert!(last.get("worker_run").is_none());
    assert!(last["clock"].as_u64().unwrap() > seen, "{last}");
}

/// Two clones publishing as one worker: the second push is refused, exit 1, and the remote
/// keeps the first one's chain.
#[test]
fn a_second_clone_under_the_same_worker_id_is_refused_and_the_remote_is_unchanged() {
    let team = Team::new();
    team.sync(&team.a).ok();
    let chain = "refs/autoresearch/ledger/wa";
    let before = git(&team.remote, &["rev-parse", chain]);
    let mut c = team.b.cmd(&["--json", "sync"]);
    c.env("AUTORESEARCH_WORKER", "wa");
    let out = run_cmd(c);
    let e = out.err("sync_rejected", 1);
    let text = e["error"].to_string();
    assert!(
        text.contains("wa") && text.contains("AUTORESEARCH_WORKER"),
        "{e}"
    );
    assert_eq!(git(&team.remote, &["rev-parse", chain]), before);
    // Under an id of its own, it goes through.
    assert_eq!(team.sync(&team.b).ok()["pushed"], true);
}

/// A retraction travels: the keep it takes back stops standing on the other clone too; a
/// clone cannot retract another worker's record.
#[test]
fn a_retraction_reaches_the_other_clone_and_only_the_writer_retracts() {
    let team = Team::new();
    let kept = team.shared_experiment("0.5");
    let here = team
        .a
        .ledger_lines()
        .into_iter()
        .find(|l| l["worker_run"] == kept)
        .unwrap()["run"]
        .as_u64()
        .unwrap();
    let refused = team
        .a
        .run(&["--json", "retract", &here.to_string(), "-m", "not mine"]);
    let e = refused.err("not_retractable", 2);
    assert!(
        e["error"]["suggestion"].as_str().unwrap().contains("wb"),
        "{e}"
    );
    team.b
        .run(&[
            "--json",
            "retract",
            &kept.to_string(),
            "-m",
            "did not reproduce",
        ])
        .ok();
    team.sync(&team.b).ok();
    team.sync(&team.a).ok();
    let retraction = team.a.ledger_lines().last().unwrap().clone();
    assert_eq!(retraction["status"], "retraction");
    assert_eq!(retraction["retracts"], here, "{retraction}");
    let status = team
        .a
        .run(&["--json", "status", "--branch", "autoresearch@wb"])
        .ok();
    assert_eq!(
        status["best"]["metric"], 1.0,
        "the baseline is the best again: {status}"
    );
}

#[test]
fn a_missing_remote_is_a_clear_error() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "baseline");
    let e = sb.run(&["--json", "sync"]).err("usage", 2);
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("git init --bare")
    );
    let gone = sb.path("../nowhere.git");
    let e = sb
        .run(&["--json", "sync", gone.to_str().unwrap()])
        .err("git_error", 1);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("git fetch"),
        "{e}"
    );
    assert!(
        !sb.path(".autoresearch/worker").exists(),
        "a failed sync makes no id"
    );
}

/// Without a remote named, `origin`, else the repository's only remote.
#[test]
fn the_only_remote_is_the_default() {
    let team = Team::new();
    git(&team.a.root, &["remote", "rename", "origin", "lab"]);
    let d = team.a.run(&["--json", "sync"]).ok();
    assert_eq!(d["remote"], "lab", "{d}");
    git(
        &team.a.root,
        &["remote", "add", "other", team.remote.to_str().unwrap()],
    );
    let e = team.a.run(&["--json", "sync"]).err("usage", 2);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("`lab`, `other`"), "{message}");
}

/// `merge-best` shows another worker's branches, never as the winner, and says how to bring
/// one in: a fork started from its best, measured here.
#[test]
fn merge_best_shows_other_workers_and_never_merges_them() {
    let team = Team::new();
    let theirs = team.shared_experiment("0.25");
    let out = team.a.run(&["--json", "merge-best"]);
    let v = out.json();
    let d = &v["data"];
    assert_eq!(d["winner"], Value::Null, "{d}");
    let others = d["other_workers"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{d}");
    assert_eq!(others[0]["branch"], "autoresearch@wb");
    assert!(others[0]["gain"].as_f64().unwrap() > 0.0, "{d}");
    let from = format!("{theirs}@wb");
    let hints = v["hints"].to_string();
    assert!(hints.contains(&format!("--from {from}")), "{hints}");
    // Brought in as a fork and measured here, it ranks like any fork.
    team.a.run(&["--json", "fork", "wb", "--from", &from]).ok();
    team.a.switch("autoresearch-fork-wb");
    let r = run(&team.a, &["--recheck", "-m", "recheck"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    team.a.switch("autoresearch");
    let v = team.a.run(&["--json", "merge-best"]).json();
    assert_eq!(v["data"]["winner"], "wb", "{v}");
    assert!(!v["hints"].to_string().contains("--from"), "{v}");
}

/// Syncs of one clone at once wait for each other: every one succeeds, nothing is added twice,
/// and the remote ends with this worker's latest chain (none pushed an older tip after it).
#[test]
fn concurrent_syncs_of_one_clone_wait_their_turn() {
    let team = Team::new();
    experiment(&team.b, "0.5");
    team.sync(&team.b).ok();
    experiment(&team.a, "0.6");
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = team.a.cmd(&["--json", "sync"]);
            c.env("AUTORESEARCH_WORKER", "wa")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lines = team.a.ledger_lines();
    let unique: BTreeSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), lines.len(), "nothing twice");
    assert_eq!(unique.len(), 4, "two baselines and an experiment on each");
    let chain = "refs/autoresearch/ledger/wa";
    assert_eq!(
        git(&team.remote, &["rev-parse", chain]),
        git(&team.a.root, &["rev-parse", chain])
    );
}
