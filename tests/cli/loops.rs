//! One loop per branch and per work tree (docs/CONTRACT.md §10, docs/RELIABILITY.md 19): forks
//! checked out in linked worktrees evaluate at the same time; a second `run` on the same branch
//! or in the same work tree is refused; a dead step is cleaned up by the next `run` on its
//! branch only; the state of earlier versions (`.autoresearch/loop.json`) is honoured.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const FORK_A: &str = "autoresearch-fork-a";
const FORK_B: &str = "autoresearch-fork-b";

/// With `AR_DIR` set, the eval notes `start <branch> <time>` in `$AR_DIR/trace` (and touches
/// `$AR_DIR/started-<branch>`), then sleeps `$AR_SLEEP` seconds or, without it, waits for
/// `$AR_DIR/go`, then notes `end <branch> <time>`. Without `AR_DIR` it only prints the score.
const EVAL: &str = r#"if [ -n "$AR_DIR" ]; then
  echo "start $AR_BRANCH $(date +%s.%N)" >> "$AR_DIR/trace"
  touch "$AR_DIR/started-$AR_BRANCH"
  if [ -n "$AR_SLEEP" ]; then sleep "$AR_SLEEP"; else
    while [ ! -f "$AR_DIR/go" ]; do sleep 0.02; done
  fi
  echo "end $AR_BRANCH $(date +%s.%N)" >> "$AR_DIR/trace"
fi
echo "score: $(sed -n 's/^x = //p' train.py)"
"#;

/// A project with the two forks, each checked out in a linked worktree beside the repository
/// and measured once (its baseline). Returns the sandbox, the worktrees of fork a and fork b,
/// and a directory outside all of them for the eval's notes.
fn two_forks() -> (Sandbox, PathBuf, PathBuf, PathBuf) {
    let sb = Sandbox::new();
    sb.write("eval.sh", EVAL);
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"20s\"\nrepeats = 1\nbaseline_repeats = 1\n",
    );
    sb.commit_all("setup");
    let outside = sb.root.parent().unwrap().join("notes");
    std::fs::create_dir_all(&outside).unwrap();
    let a = add_worktree(&sb, "wt-a", FORK_A);
    let b = add_worktree(&sb, "wt-b", FORK_B);
    for wt in [&a, &b] {
        let d = sb.run_in(wt, &["--json", "run", "-m", "baseline"]).ok();
        assert_eq!(d["status"], "baseline", "{d}");
    }
    (sb, a, b, outside)
}

/// `git worktree add ../<name> -b <branch>`, at HEAD, with git2 (no user git config).
fn add_worktree(sb: &Sandbox, name: &str, branch: &str) -> PathBuf {
    let repo = sb.repo();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let made = repo.branch(branch, &head, false).unwrap();
    let path = sb.root.parent().unwrap().join(name);
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(made.get()));
    repo.worktree(name, &path, Some(&opts)).unwrap();
    path
}

/// `train.py` in worktree `wt` becomes `x = <x>`.
fn set_x_in(wt: &Path, x: &str) {
    std::fs::write(wt.join("train.py"), format!("x = {x}\n")).unwrap();
}

/// `run -m <summary>` in `wt` in the background, its eval noting into `outside` as `branch`.
fn spawn_run(sb: &Sandbox, wt: &Path, outside: &Path, branch: &str, sleep: Option<&str>) -> Child {
    let mut cmd = sb.cmd_in(wt, &["--json", "run", "-m", branch]);
    cmd.env("AR_DIR", outside)
        .env("AR_BRANCH", branch)
        .stdout(Stdio::piped());
    if let Some(s) = sleep {
        cmd.env("AR_SLEEP", s);
    }
    cmd.spawn().unwrap()
}

/// Wait until the eval of the run on `branch` has started.
fn wait_started(outside: &Path, branch: &str) {
    let t = Instant::now();
    while !outside.join(format!("started-{branch}")).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the eval on {branch} never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The envelope of a finished background run.
fn finish(child: Child) -> Out {
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// When the eval on `branch` noted `what` (`start` or `end`).
fn noted(trace: &str, what: &str, branch: &str) -> f64 {
    trace
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(what) && w.next() == Some(branch))
                .then(|| w.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no `{what} {branch}` in:\n{trace}"))
}

#[test]
fn two_forks_in_two_worktrees_evaluate_at_the_same_time() {
    let (sb, a, b, outside) = two_forks();
    set_x_in(&a, "0.5");
    set_x_in(&b, "0.25");
    let first = spawn_run(&sb, &a, &outside, FORK_A, Some("1.5"));
    let second = spawn_run(&sb, &b, &outside, FORK_B, Some("1.5"));
    let (da, db) = (finish(first).ok(), finish(second).ok());
    assert_eq!(da["status"], "kept", "{da}");
    assert_eq!(db["status"], "kept", "{db}");

    // The two evaluations overlapped: each started before the other ended.
    let trace = std::fs::read_to_string(outside.join("trace")).unwrap();
    let (start_a, end_a) = (noted(&trace, "start", FORK_A), noted(&trace, "end", FORK_A));
    let (start_b, end_b) = (noted(&trace, "start", FORK_B), noted(&trace, "end", FORK_B));
    assert!(
        start_a < end_b && start_b < end_a,
        "the evals ran one after the other:\n{trace}"
    );

    // Two baselines, then one record per fork, all with distinct numbers.
    let lines = sb.ledger_lines();
    let runs: Vec<u64> = lines.iter().map(|l| l["run"].as_u64().unwrap()).collect();
    assert_eq!(runs.len(), 4, "{lines:?}");
    let mut distinct = runs.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{runs:?}");
    for (branch, d) in [(FORK_A, &da), (FORK_B, &db)] {
        let mine: Vec<&Value> = lines.iter().filter(|l| l["branch"] == branch).collect();
        assert_eq!(mine.len(), 2, "{branch}: {lines:?}");
        assert_eq!(mine[1]["run"], d["run"]);
        // Each step read its own log: the run's metric is its own fork's.
        let log = sb.read(d["log"].as_str().unwrap());
        assert!(log.contains(&format!("score: {}", d["metric"])), "{log}");
    }

    // Every branch's loop is listed; `loop` is the scope branch's (here, the fork of `wt-a`).
    let s = sb.run_in(&a, &["--json", "status"]).ok();
    let loops = s["loops"].as_array().unwrap();
    let branches: Vec<&str> = loops
        .iter()
        .map(|l| l["branch"].as_str().unwrap())
        .collect();
    assert_eq!(branches, [FORK_A, FORK_B], "{s}");
    for l in loops {
        assert_eq!(
            keys(l),
            [
                "branch",
                "running",
                "stale",
                "pid",
                "host",
                "iteration",
                "started_at",
                "heartbeat_at",
                "run",
                "abandoned_commit"
            ]
        );
        assert_eq!(l["running"], false);
        assert_eq!(l["iteration"], 2, "a baseline and a run: {l}");
    }
    assert_eq!(s["scope_branch"], FORK_A);
    assert_eq!(s["loop"]["run"], da["run"]);
    assert_eq!(loops[1]["run"], db["run"]);
}

#[test]
fn a_second_run_on_the_same_branch_is_refused() {
    let (sb, a, b, outside) = two_forks();
    set_x_in(&a, "0.5");
    let first = spawn_run(&sb, &a, &outside, FORK_A, None);
    wait_started(&outside, FORK_A);
    let before = sb.ledger_lines().len();

    // While it runs, `status` elsewhere lists it, and shows it on a line of its own.
    let s = sb.run_in(&b, &["--json", "status"]).ok();
    let running: Vec<&Value> = s["loops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["running"] == true)
        .collect();
    assert_eq!(running.len(), 1, "{s}");
    assert_eq!(running[0]["branch"], FORK_A);
    assert_eq!(s["loop"]["running"], false, "fork b's loop is idle: {s}");
    let human = sb.run_in(&b, &["--human", "status"]).stdout;
    assert!(
        human.contains(&format!("{FORK_A}: running run #")),
        "{human}"
    );

    // The other worktree on the same branch meets the branch's lock. Git allows a branch in
    // two worktrees only when forced (`git switch --ignore-other-worktrees`); libgit2 refuses,
    // so HEAD is written as git writes it.
    let head_b = git2::Repository::open(&b).unwrap().path().join("HEAD");
    let point =
        |branch: &str| std::fs::write(&head_b, format!("ref: refs/heads/{branch}\n")).unwrap();
    point(FORK_A);
    let out = sb.run_in(&b, &["--json", "run", "--allow-empty", "-m", "again"]);
    let v = out.err("loop_running", 1);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("branch `{FORK_A}`"))
            && message.contains(&first.id().to_string()),
        "{v}"
    );
    point(FORK_B);

    std::fs::write(outside.join("go"), "").unwrap();
    assert_eq!(finish(first).ok()["status"], "kept");
    assert_eq!(
        sb.ledger_lines().len(),
        before + 1,
        "only the first is recorded"
    );
}

#[test]
fn a_second_run_in_the_same_worktree_is_refused_after_a_switch() {
    let (sb, a, _, outside) = two_forks();
    set_x_in(&a, "0.5");
    let first = spawn_run(&sb, &a, &outside, FORK_A, None);
    wait_started(&outside, FORK_A);
    let before = sb.ledger_lines().len();

    // `git switch` to another fork in the same work tree while the eval reads its files (the
    // files stay: the second run is refused before it looks at them).
    let repo_a = git2::Repository::open(&a).unwrap();
    let head = repo_a.head().unwrap().peel_to_commit().unwrap();
    repo_a.branch("autoresearch-fork-c", &head, false).unwrap();
    repo_a.set_head("refs/heads/autoresearch-fork-c").unwrap();
    let out = sb.run_in(&a, &["--json", "run", "--allow-empty", "-m", "meanwhile"]);
    let v = out.err("loop_running", 1);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("work tree") && message.contains(&first.id().to_string()),
        "{v}"
    );
    repo_a.set_head(&format!("refs/heads/{FORK_A}")).unwrap();

    std::fs::write(outside.join("go"), "").unwrap();
    assert_eq!(finish(first).ok()["status"], "kept");
    assert_eq!(sb.ledger_lines().len(), before + 1);
}

#[test]
fn a_killed_run_is_recovered_by_the_next_on_its_branch_only() {
    let (sb, a, b, outside) = two_forks();
    let tip = |branch: &str| sb.tip(branch);
    let parent = tip(FORK_A);
    set_x_in(&a, "0.5");
    let mut first = spawn_run(&sb, &a, &outside, FORK_A, None);
    // Killed once its commit is owned and on the branch.
    let state = sb.path(&loop_state(FORK_A));
    let t = Instant::now();
    let orphan = loop {
        let owned = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["owns"]["commit"].as_str().map(str::to_string));
        if let Some(c) = owned.filter(|c| *c == tip(FORK_A)) {
            break c;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no commit owned");
        std::thread::sleep(Duration::from_millis(10));
    };
    first.kill().unwrap();
    first.wait().unwrap();

    // A run on fork b proceeds and leaves fork a's leftovers alone.
    set_x_in(&b, "0.25");
    let out = sb.run_in(&b, &["--json", "run", "-m", "on b"]);
    let v = out.json();
    assert_eq!(out.ok()["status"], "kept", "{v}");
    assert!(!v["warnings"].to_string().contains("Took over"), "{v}");
    assert_eq!(
        tip(FORK_A),
        orphan,
        "fork a's orphan is still on its branch"
    );
    assert!(
        sb.ledger_lines().iter().all(|l| l["reason"] != "abandoned"),
        "nothing recorded as abandoned yet"
    );
    let s = sb.run_in(&b, &["--json", "status"]).json();
    assert!(
        s["warnings"]
            .to_string()
            .contains(&format!("on `{FORK_A}`")),
        "the stale loop is named with its branch: {s}"
    );
    let stale: Vec<&Value> = s["data"]["loops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["stale"] == true)
        .collect();
    assert_eq!(stale.len(), 1, "{s}");
    assert_eq!(stale[0]["branch"], FORK_A);
    let doctor = sb.run_in(&b, &["--json", "doctor", "--no-eval"]).ok();
    let check = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "loop_lock")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains(FORK_A),
        "{check}"
    );

    // The next run on fork a cleans up: the orphan is recorded as abandoned, the branch put
    // back, and the change evaluated on the real parent.
    let out = sb.run_in(&a, &["--json", "run", "-m", "after the kill"]);
    let v = out.json();
    let d = out.ok();
    assert!(v["warnings"].to_string().contains("Took over"), "{v}");
    let lines = sb.ledger_lines();
    let abandoned: Vec<&Value> = lines
        .iter()
        .filter(|l| l["reason"] == "abandoned")
        .collect();
    assert_eq!(abandoned.len(), 1, "{lines:?}");
    assert_eq!(abandoned[0]["commit"], orphan.as_str());
    assert_eq!(abandoned[0]["branch"], FORK_A);
    assert_eq!(d["status"], "kept", "{v}");
    let repo = sb.repo();
    let kept = repo
        .find_commit(git2::Oid::from_str(d["commit"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(kept.parent_id(0).unwrap().to_string(), parent);
    // Whatever the killed step's eval left waiting was killed by the recovery; in case not.
    std::fs::write(outside.join("go"), "").unwrap();
}

/// Earlier versions kept one `.autoresearch/loop.json`: where it says the last step left the
/// configured branch still tells the commits made by hand since.
#[test]
fn the_state_of_an_earlier_version_is_honoured() {
    let sb = Sandbox::new();
    sb.init();
    run(&sb, &["-m", "baseline"]).ok();
    let left = sb.head();
    // The layout an earlier version left: only `loop.json`.
    std::fs::rename(sb.path(LOOP_STATE), sb.path(".autoresearch/loop.json")).unwrap();
    std::fs::remove_dir_all(sb.path(".autoresearch/loops")).unwrap();
    let legacy: Value = serde_json::from_str(&sb.read(".autoresearch/loop.json")).unwrap();
    assert_eq!(legacy["left"]["branch"], "autoresearch");

    let s = sb.run(&["--json", "status"]).ok();
    assert_eq!(s["loop"]["iteration"], 1, "read as the branch's own: {s}");
    assert_eq!(s["loops"][0]["branch"], "autoresearch");

    set_x(&sb, "5");
    sb.commit_all("x = 5, by hand");
    let out = run(&sb, &["--allow-empty", "-m", "the hand commit"]);
    let v = out.json();
    let d = out.ok();
    assert_eq!(d["status"], "discarded", "a candidate, not a re-check: {v}");
    assert!(
        v["warnings"]
            .to_string()
            .contains("1 commit was made by hand"),
        "{v}"
    );
    assert_eq!(
        sb.head(),
        left,
        "the branch is back where the last run left it"
    );
    // The branch has its own state now, continuing the count; the old file stays.
    let own: Value = serde_json::from_str(&sb.read(LOOP_STATE)).unwrap();
    assert_eq!(own["iteration"], 2);
    assert!(sb.path(".autoresearch/loop.json").exists());
}
