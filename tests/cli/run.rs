//! `autoresearch run`: the experiment step end to end, with the process matrix from the issue.
//! Every eval writes its process group id (`$$` of the `sh -c` leader) to the untracked file
//! `.pid`, and each process test checks that nothing of that group is alive afterwards.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// An eval that behaves according to the value of `x` in `train.py`.
const MATRIX_EVAL: &str = r#"x=$(sed -n 's/^x = //p' train.py)
case "$x" in
  exit3) echo "step 1"; echo "boom: it broke" >&2; exit 3 ;;
  nometric) echo "training finished, nothing to report" ;;
  nan) echo "score: nan" ;;
  hang) trap '' TERM; sleep 1000 ;;
  slow) sleep 1000 ;;
  leak) sleep 1000 & echo "score: 0.75" ;;
  stdin) cat; echo "score: 0.25" ;;
  sneak) "$AR_BIN" --json record --status crash -m "sneaky record" > /dev/null; echo "score: 0.5" ;;
  *) echo "score: $x" ;;
esac
"#;

/// A repository with `train.py` (`x = 1`), `eval.sh` (the matrix), `other.py`, and a config
/// written directly: metric `score`, lower is better, then `extra` keys.
fn project(extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write("eval.sh", MATRIX_EVAL);
    sb.write("other.py", "y = 1\n");
    sb.write(".gitignore", ".pid\n");
    let eval = "echo $$ > .pid; sh eval.sh";
    let budget = if extra.contains("time_budget") {
        ""
    } else {
        "time_budget = \"10s\"\n"
    };
    sb.write(
        "autoresearch.toml",
        &format!(
            "target_file = \"train.py\"\neval_command = {}\nmetric_name = \"score\"\nmetric_direction = \"lower\"\nkill_grace = \"1s\"\n{budget}{extra}",
            serde_json::to_string(eval).unwrap()
        ),
    );
    sb.commit_all("setup");
    sb
}

/// Nothing of the last eval's process group is alive.
fn assert_group_gone(sb: &Sandbox) {
    let pgid: i32 = sb.read(".pid").trim().parse().expect("pgid in .pid");
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(-pgid, 0) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert!(
        rc == -1 && errno == Some(libc::ESRCH),
        "process group {pgid} is still alive"
    );
}

fn branch(sb: &Sandbox) -> String {
    sb.repo().head().unwrap().shorthand().unwrap().to_string()
}

fn run_ref(sb: &Sandbox, run: u64) -> Option<String> {
    sb.repo()
        .find_reference(&format!("refs/autoresearch/runs/{run}"))
        .ok()
        .and_then(|r| r.target())
        .map(|o| o.to_string())
}

/// `train.py` as committed in `commit`.
fn train_at(sb: &Sandbox, commit: &str) -> String {
    let repo = sb.repo();
    let c = repo
        .revparse_single(commit)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let entry = c
        .tree()
        .unwrap()
        .get_path(std::path::Path::new("train.py"))
        .unwrap();
    let blob = repo.find_blob(entry.id()).unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

fn message_of(sb: &Sandbox, commit: &str) -> String {
    let repo = sb.repo();
    let c = repo
        .revparse_single(commit)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    c.message().unwrap().to_string()
}

/// No tracked file differs from HEAD.
fn assert_tree_clean(sb: &Sandbox) {
    let repo = sb.repo();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false);
    let st = repo.statuses(Some(&mut opts)).unwrap();
    let dirty: Vec<String> = st
        .iter()
        .filter_map(|e| e.path().map(str::to_string))
        .collect();
    assert!(dirty.is_empty(), "tracked files modified: {dirty:?}");
}

/// A project with a baseline at `x = 1` and an untracked `notes.txt`; returns the head.
fn with_baseline(extra: &str) -> (Sandbox, String) {
    let sb = project(extra);
    sb.write("notes.txt", "my notes\n");
    let d = run(&sb, &["-m", "baseline"]).ok();
    assert_eq!(d["status"], "baseline");
    let head = sb.head();
    (sb, head)
}

/// After a run that was not kept: the branch tip and the target are the parent's, untracked
/// files are untouched, and the run's ref holds the experiment commit with the change.
fn assert_reverted(sb: &Sandbox, d: &Value, parent: &str, x: &str) {
    assert_eq!(d["reverted"], true, "{d}");
    assert_eq!(sb.head(), parent, "the branch tip is back at the parent");
    assert_eq!(
        sb.read("train.py"),
        "x = 1\n",
        "the target is back at the parent"
    );
    assert_eq!(
        sb.read("notes.txt"),
        "my notes\n",
        "untracked files are untouched"
    );
    let commit = d["commit"].as_str().unwrap();
    assert_ne!(commit, parent);
    let run = d["run"].as_u64().unwrap();
    assert_eq!(run_ref(sb, run).as_deref(), Some(commit));
    assert_eq!(train_at(sb, commit), format!("x = {x}\n"));
    assert_tree_clean(sb);
}

/// Set `x`, run, and time it.
fn experiment(sb: &Sandbox, x: &str) -> (Out, Duration) {
    set_x(sb, x);
    let t = Instant::now();
    let out = run(sb, &["-m", &format!("try {x}")]);
    (out, t.elapsed())
}

#[test]
fn baseline_keep_and_discard() {
    let sb = project("");
    sb.write("notes.txt", "my notes\n");
    let setup = sb.head();
    let d = run(&sb, &["-m", "baseline"]).ok();
    assert_eq!(
        keys(&d),
        [
            "run",
            "status",
            "metric",
            "metrics",
            "samples",
            "delta",
            "best_before",
            "best_after",
            "commit",
            "reverted",
            "duration_s",
            "exit_code",
            "reason",
            "flags",
            "decision",
            "recheck",
            "log",
            "log_tail"
        ]
    );
    assert_eq!(d["run"], 0);
    assert_eq!(d["status"], "baseline");
    assert_eq!(d["metric"], 1.0);
    assert_eq!(d["commit"], setup.as_str(), "a baseline evaluates HEAD");
    assert_eq!(d["reverted"], false);
    assert_eq!(d["exit_code"], 0);
    assert_eq!(d["log"], ".autoresearch/runs/0.log");
    assert!(d["log_tail"].is_null() && d["reason"].is_null() && d["delta"].is_null());
    assert_eq!(d["best_after"]["run"], 0);
    assert_eq!(
        branch(&sb),
        "autoresearch",
        "the experiment branch is created at HEAD"
    );
    assert_eq!(sb.head(), setup);
    assert_eq!(run_ref(&sb, 0).as_deref(), Some(setup.as_str()));
    assert_group_gone(&sb);

    set_x(&sb, "0.5");
    let d = run(&sb, &["-m", "halve x"]).ok();
    assert_eq!(d["status"], "kept");
    assert_eq!(d["delta"], -0.5);
    assert_eq!(d["best_before"]["run"], 0);
    assert_eq!(d["best_after"]["run"], 1);
    assert_eq!(d["reverted"], false);
    let kept = d["commit"].as_str().unwrap().to_string();
    assert_eq!(sb.head(), kept, "a kept run stays on the branch");
    assert_eq!(message_of(&sb, &kept), "autoresearch #1: halve x");
    assert_eq!(run_ref(&sb, 1).as_deref(), Some(kept.as_str()));
    assert_tree_clean(&sb);

    set_x(&sb, "0.7");
    let out = run(&sb, &["-m", "a bit more"]);
    let v = out.json();
    let d = out.ok();
    assert_eq!(d["status"], "discarded");
    assert_eq!(d["reason"], "not better than best (#1 0.5)");
    assert_eq!(d["metric"], 0.7);
    assert!(v["hints"][0].as_str().unwrap().contains("reverted"), "{v}");
    assert_eq!(d["reverted"], true);
    assert_eq!(sb.head(), kept);
    assert_eq!(sb.read("train.py"), "x = 0.5\n");
    assert_eq!(sb.read("notes.txt"), "my notes\n");
    let discarded = d["commit"].as_str().unwrap();
    assert_eq!(run_ref(&sb, 2).as_deref(), Some(discarded));
    assert_eq!(train_at(&sb, discarded), "x = 0.7\n");
    assert_tree_clean(&sb);

    let ledger = sb.ledger_lines();
    assert_eq!(ledger.len(), 3);
    assert_eq!(ledger[2]["source"], "run");
    assert_eq!(ledger[2]["parent"], kept.as_str());
    assert_eq!(ledger[2]["branch"], "autoresearch");
    assert_eq!(ledger[2]["summary"], "a bit more");

    // The human view names the run and its status.
    set_x(&sb, "0.4");
    let out = sb.run(&["--human", "run", "-m", "less"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("run #3 kept 0.4"), "{}", out.stdout);
    set_x(&sb, "0.9");
    let out = sb.run(&["--human", "run", "-m", "more"]);
    assert!(
        out.stdout.starts_with("run #4 discarded 0.9"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("kept at refs/autoresearch/runs/4"),
        "{}",
        out.stdout
    );
}

#[test]
fn exit_code_is_a_crash_with_the_log_tail() {
    let (sb, parent) = with_baseline("");
    let (out, wall) = experiment(&sb, "exit3");
    let d = out.ok();
    assert_eq!(d["status"], "crash");
    assert_eq!(d["reason"], "exit_code 3");
    assert_eq!(d["exit_code"], 3);
    assert!(d["metric"].is_null());
    let tail = d["log_tail"].as_str().unwrap();
    assert!(
        tail.contains("step 1") && tail.contains("boom: it broke"),
        "{tail}"
    );
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    assert_reverted(&sb, &d, &parent, "exit3");
    assert_group_gone(&sb);
}

#[test]
fn no_metric_is_a_crash() {
    let (sb, parent) = with_baseline("");
    let (out, wall) = experiment(&sb, "nometric");
    let d = out.ok();
    assert_eq!(d["status"], "crash");
    assert_eq!(d["reason"], "no_metric");
    assert_eq!(d["exit_code"], 0);
    assert!(
        d["log_tail"]
            .as_str()
            .unwrap()
            .contains("nothing to report")
    );
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    assert_reverted(&sb, &d, &parent, "nometric");
    assert_group_gone(&sb);
}

#[test]
fn nan_is_a_non_finite_crash() {
    let (sb, parent) = with_baseline("");
    let (out, _) = experiment(&sb, "nan");
    let d = out.ok();
    assert_eq!(d["status"], "crash");
    assert_eq!(d["reason"], "non_finite_metric");
    assert!(d["metric"].is_null());
    assert_reverted(&sb, &d, &parent, "nan");
    let line = sb.ledger_lines().pop().unwrap();
    assert!(line["metric"].is_null());
    assert_group_gone(&sb);
}

#[test]
fn a_group_ignoring_sigterm_times_out_within_budget_plus_grace() {
    let (sb, parent) = with_baseline("time_budget = \"1s\"\n");
    let (out, wall) = experiment(&sb, "hang");
    let d = out.ok();
    assert_eq!(d["status"], "timeout");
    assert_eq!(d["reason"], "timeout");
    assert!(d["metric"].is_null());
    assert!(d["log_tail"].is_string());
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    assert!(d["duration_s"].as_f64().unwrap() >= 1.0);
    assert_reverted(&sb, &d, &parent, "hang");
    assert_group_gone(&sb);
}

#[test]
fn leaked_processes_are_flagged_and_killed_at_once() {
    let (sb, _) = with_baseline("");
    let (out, wall) = experiment(&sb, "leak");
    let v = out.json();
    let d = out.ok();
    assert_eq!(d["status"], "kept");
    // `notes.txt` (untracked, from `with_baseline`) is named too.
    assert_eq!(d["flags"], json!(["leaked_processes", "untracked_inputs"]));
    assert!(wall < Duration::from_secs(3), "returns at once: {wall:?}");
    assert!(
        v["hints"].to_string().contains("left processes running"),
        "{v}"
    );
    assert_eq!(
        sb.ledger_lines().pop().unwrap()["flags"],
        json!(["leaked_processes", "untracked_inputs"])
    );
    assert_group_gone(&sb);
}

#[test]
fn the_eval_reads_eof_from_stdin() {
    let (sb, _) = with_baseline("");
    set_x(&sb, "stdin");
    // Our own stdin stays open: an eval that inherited it would block in `cat`.
    let mut cmd = sb.cmd(&["--json", "run", "-m", "reads stdin"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let _stdin = child.stdin.take();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{stdout}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["data"]["metric"], 0.25);
    assert_group_gone(&sb);
}

#[test]
fn sigint_stops_the_eval_records_a_crash_and_reverts() {
    let (sb, parent) = with_baseline("time_budget = \"60s\"\n");
    set_x(&sb, "slow");
    std::fs::remove_file(sb.path(".pid")).unwrap();
    let mut cmd = sb.cmd(&["--json", "run", "-m", "slow one"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let t = Instant::now();
    while !sb.path(".pid").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the eval never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    // SAFETY: plain syscall to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(1), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["code"], "interrupted");
    let d = &v["data"];
    assert_eq!(d["status"], "crash");
    assert_eq!(d["reason"], "interrupted");
    // The branch is back at the parent, and the agent's edit is in the work tree again,
    // uncommitted: running again evaluates it (instead of failing with `no_changes`).
    assert_eq!(d["reverted"], true, "{d}");
    assert_eq!(sb.head(), parent);
    assert_eq!(sb.read("train.py"), "x = slow\n", "the edit is given back");
    let commit = d["commit"].as_str().unwrap();
    assert_eq!(
        run_ref(&sb, d["run"].as_u64().unwrap()).as_deref(),
        Some(commit)
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uncommitted"),
        "{v}"
    );
    assert_group_gone(&sb);
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(last["reason"], "interrupted");
    let lp: Value = serde_json::from_str(&sb.read(LOOP_STATE)).unwrap();
    assert_eq!(lp["active"], false);
    set_x(&sb, "0.5");
    assert_eq!(run(&sb, &["-m", "again"]).ok()["status"], "kept");
}

#[test]
fn refusals_commit_and_record_nothing() {
    let (sb, head) = with_baseline("protected = [\"eval.sh\"]\n");
    let before = sb.ledger_lines().len();
    let check = |code: &str, exit: i32, args: &[&str]| {
        let out = run(&sb, args);
        let v = out.err(code, exit);
        assert!(v.get("data").is_none(), "{v}");
        assert_eq!(sb.head(), head, "{code}: nothing committed");
        assert_eq!(sb.ledger_lines().len(), before, "{code}: nothing recorded");
        assert!(run_ref(&sb, 1).is_none(), "{code}: no run ref");
    };
    check("no_changes", 2, &["-m", "nothing"]);

    set_x(&sb, "0.5");
    sb.write("other.py", "y = 2\n");
    check("out_of_scope", 2, &["-m", "two files"]);
    assert_eq!(
        sb.read("train.py"),
        "x = 0.5\n",
        "the work tree is left alone"
    );
    sb.write("other.py", "y = 1\n");

    sb.write("eval.sh", "echo 'score: 0'\n");
    check("protected_changed", 2, &["-m", "cheat"]);
    sb.write("eval.sh", MATRIX_EVAL);

    // A baseline needs a clean tree.
    check("dirty_tree", 2, &["--baseline", "-m", "re-measure"]);
    set_x(&sb, "1");

    // Another branch that is not the experiment branch or a fork of it.
    let repo = sb.repo();
    let c = repo
        .find_commit(git2::Oid::from_str(&head).unwrap())
        .unwrap();
    repo.branch("side", &c, false).unwrap();
    repo.set_head("refs/heads/side").unwrap();
    check("wrong_branch", 2, &["--allow-empty", "-m", "x"]);
    repo.set_head("refs/heads/autoresearch").unwrap();
    // A fork is fine (its first run is its own baseline).
    repo.branch("autoresearch-fork-wide", &c, false).unwrap();
    repo.set_head("refs/heads/autoresearch-fork-wide").unwrap();
    let d = run(&sb, &["-m", "fork baseline"]).ok();
    assert_eq!(d["status"], "baseline");
    assert_eq!(
        sb.ledger_lines().pop().unwrap()["branch"],
        "autoresearch-fork-wide"
    );
}

#[test]
fn dirty_tree_refuses_the_first_baseline() {
    let sb = project("");
    set_x(&sb, "0.5");
    let out = run(&sb, &["-m", "baseline"]);
    out.err("dirty_tree", 2);
    assert!(sb.ledger_lines().is_empty());
    // Untracked files do not count.
    set_x(&sb, "1");
    sb.write("scratch/untracked.txt", "x");
    run(&sb, &["-m", "baseline"]).ok();
}

#[test]
fn a_second_run_gets_loop_running_and_a_dead_holder_is_taken_over() {
    let sb = project("");
    sb.write(
        "eval.sh",
        "while [ ! -f .go ]; do sleep 0.02; done\necho \"score: 1\"\n",
    );
    sb.commit_all("waiting eval");
    let mut first = sb.cmd(&["--json", "run", "-m", "baseline"]);
    first.stdout(Stdio::piped());
    let first = first.spawn().unwrap();
    let t = Instant::now();
    while !sb.path(".pid").exists() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = sb.run(&["--json", "status"]).ok();
    assert_eq!(status["loop"]["running"], true);
    assert_eq!(status["loop"]["run"], 0);
    // The human view names the run the step will record, not a 1-based iteration.
    let human = sb.run(&["--human", "status"]).stdout;
    assert!(human.contains("running run #0 (pid"), "{human}");
    let out = run(&sb, &["--allow-empty", "-m", "second"]);
    let v = out.err("loop_running", 1);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&first.id().to_string()),
        "{v}"
    );
    sb.write(".go", "");
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(sb.ledger_lines().len(), 1, "only the first run is recorded");
    let status = sb.run(&["--json", "status"]).ok();
    assert_eq!(status["loop"]["running"], false);
    assert_eq!(status["loop"]["iteration"], 1);

    // A holder that died mid-step: its loop state still says active, but its process is gone.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let path = sb.path(LOOP_STATE);
    let mut lp: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    lp["active"] = json!(true);
    lp["pid"] = json!(dead.id());
    std::fs::write(&path, lp.to_string()).unwrap();
    let out = run(&sb, &["--allow-empty", "-m", "after a crash"]);
    let v = out.json();
    assert_eq!(out.code, 0, "{v}");
    assert!(v["warnings"].to_string().contains("Took over"), "{v}");
    let lp: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(lp["iteration"], 2);
    assert_eq!(lp["active"], false);
    assert_ne!(lp["pid"], json!(dead.id()), "the new holder's pid");
}

#[test]
fn repeats_store_every_sample_and_the_median_decides() {
    let sb = project("repeats = 3\n");
    sb.write(
        "eval.sh",
        "echo \"run=$AUTORESEARCH_RUN sample=$AUTORESEARCH_SAMPLE\"\necho \"score: $(sed -n 's/^x = //p' train.py | cut -d, -f$AUTORESEARCH_SAMPLE)\"\n",
    );
    set_x(&sb, "5,1,2");
    sb.commit_all("per-sample values");
    let d = run(&sb, &["-m", "baseline"]).ok();
    assert_eq!(d["samples"], json!([5.0, 1.0, 2.0]));
    assert_eq!(d["metric"], 2.0);
    let log = sb.read(".autoresearch/runs/0.log");
    assert!(
        log.contains("--- sample 2 ---") && log.contains("run=0 sample=3"),
        "{log}"
    );

    // The median decides: 1.9 against 2, a gain of 0.1 (the mean, 2.13, would be a loss),
    // here well inside the noise of these samples.
    set_x(&sb, "1.5,3,1.9");
    let d = run(&sb, &["-m", "median"]).ok();
    assert_eq!(d["samples"], json!([1.5, 3.0, 1.9]));
    assert_eq!(d["metric"], 1.9);
    assert!(
        (d["decision"]["gain"].as_f64().unwrap() - 0.1).abs() < 1e-9,
        "{d}"
    );
    assert_eq!(d["status"], "discarded");
    assert!(
        d["reason"].as_str().unwrap().starts_with("within noise"),
        "{d}"
    );
    assert_eq!(sb.ledger_lines()[1]["samples"], json!([1.5, 3.0, 1.9]));

    // --repeat overrides the config; one sample is stored as [].
    let d = run(&sb, &["--repeat", "1", "--allow-empty", "-m", "once"]).ok();
    assert_eq!(d["samples"], json!([]));
    assert_eq!(d["metric"], 5.0);
    assert_eq!(d["status"], "recheck");
}

#[test]
fn a_violated_constraint_discards_and_names_it() {
    let sb = project("constraints = [\"memory_gb <= 44\"]\n");
    sb.write(
        "eval.sh",
        "echo \"score: $(sed -n 's/^x = //p' train.py)\"\necho \"memory_gb: $(sed -n 's/^mem = //p' train.py)\"\n",
    );
    sb.write("train.py", "x = 1\nmem = 40\n");
    sb.commit_all("with memory");
    let d = run(&sb, &["-m", "baseline"]).ok();
    assert_eq!(d["metrics"], json!({"memory_gb": 40.0}));
    let head = sb.head();
    sb.write("train.py", "x = 0.5\nmem = 50\n");
    let d = run(&sb, &["-m", "bigger"]).ok();
    assert_eq!(d["status"], "discarded");
    assert_eq!(d["reason"], "constraint memory_gb <= 44");
    assert_eq!(d["metric"], 0.5);
    assert_eq!(d["metrics"], json!({"memory_gb": 50.0}));
    assert_eq!(sb.head(), head);
    sb.write("train.py", "x = 0.5\nmem = 44\n");
    let d = run(&sb, &["-m", "just fits"]).ok();
    assert_eq!(d["status"], "kept");
    assert_eq!(sb.ledger_lines()[2]["metrics"], json!({"memory_gb": 44.0}));
}

#[test]
fn min_improvement_percent_discards_a_smaller_gain() {
    let (sb, head) = with_baseline("min_improvement = \"1%\"\n");
    let (out, _) = experiment(&sb, "0.995");
    let d = out.ok();
    assert_eq!(d["status"], "discarded");
    let reason = d["reason"].as_str().unwrap();
    assert!(reason.starts_with("below min_improvement"), "{reason}");
    assert_eq!(sb.head(), head);
    let (out, _) = experiment(&sb, "0.99");
    assert_eq!(out.ok()["status"], "kept");
}

#[test]
fn suspicious_jumps_are_flagged_with_a_hint() {
    let sb = project("");
    set_x(&sb, "100");
    sb.commit_all("x = 100");
    run(&sb, &["-m", "baseline"]).ok();
    for x in ["99", "98", "97", "80"] {
        // Gains of 1 and an ordinary 17.5 % step: nothing suspicious.
        let (out, _) = experiment(&sb, x);
        assert!(out.ok()["flags"].as_array().unwrap().is_empty(), "x = {x}");
    }
    let (out, _) = experiment(&sb, "60");
    let v = out.json();
    assert_eq!(v["data"]["status"], "kept");
    assert_eq!(v["data"]["flags"], json!(["suspicious_jump"]));
    let hints: Vec<String> = v["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert!(
        hints[0].contains("suspicious_jump")
            && hints[0].contains("measured region")
            && hints[0].contains("--recheck"),
        "the warning comes first: {hints:?}"
    );
    assert!(
        !hints.iter().any(|h| h.contains("Build on it")),
        "{hints:?}"
    );

    // An exact zero after non-zero values, even without earlier keeps.
    let (sb, _) = with_baseline("");
    let (out, _) = experiment(&sb, "0");
    // `notes.txt` (untracked, from `with_baseline`) is named too.
    assert_eq!(
        out.ok()["flags"],
        json!(["suspicious_jump", "untracked_inputs"])
    );
}

#[test]
fn baseline_flag_starts_a_new_comparison() {
    // The "hardware" factor lives in an untracked file the eval reads.
    let sb = project("");
    sb.write(
        "eval.sh",
        "f=$(cat .hw 2>/dev/null || echo 1)\nx=$(sed -n 's/^x = //p' train.py)\nawk -v x=\"$x\" -v f=\"$f\" 'BEGIN { print \"score: \" x * f }'\n",
    );
    sb.commit_all("hardware-dependent eval");
    run(&sb, &["-m", "baseline"]).ok();
    let (out, _) = experiment(&sb, "0.5");
    assert_eq!(out.ok()["status"], "kept");
    sb.write(".hw", "2\n");
    let head = sb.head();
    let d = run(&sb, &["--baseline", "-m", "new hardware"]).ok();
    assert_eq!(d["status"], "baseline");
    assert_eq!(d["metric"], 1.0);
    assert_eq!(d["commit"], head.as_str());
    assert_eq!(d["best_after"]["run"], 2);
    // 0.45 × 2 = 0.9: better than the new baseline, worse than the old best (0.5).
    let (out, _) = experiment(&sb, "0.45");
    let d = out.ok();
    assert_eq!(d["status"], "kept");
    assert_eq!(d["best_before"]["run"], 2);
}

#[test]
fn no_revert_leaves_the_commit_on_the_branch() {
    let (sb, parent) = with_baseline("");
    set_x(&sb, "2");
    let out = run(&sb, &["--no-revert", "-m", "worse"]);
    let v = out.json();
    let d = out.ok();
    assert_eq!(d["status"], "discarded");
    assert_eq!(d["reverted"], false);
    assert_eq!(sb.head(), d["commit"].as_str().unwrap());
    assert_eq!(sb.read("train.py"), "x = 2\n");
    // The way back names the exact commit, and keeps uncommitted notes (never `HEAD~1`,
    // never `--hard`).
    let hints = v["hints"].to_string();
    assert!(hints.contains(&format!("git reset --keep {parent}")), "{v}");
    assert!(
        !hints.contains("HEAD~1") && !hints.contains("--hard"),
        "{v}"
    );
}

#[test]
fn a_concurrent_record_taking_the_number_is_handled() {
    let (sb, _) = with_baseline("");
    set_x(&sb, "sneak");
    let mut cmd = sb.cmd(&["--json", "run", "-m", "sneaky"]);
    cmd.env("AR_BIN", BIN);
    let out = run_cmd(cmd);
    let v = out.json();
    let d = out.ok();
    assert_eq!(
        d["run"], 2,
        "run #1 was taken by the record inside the eval"
    );
    assert_eq!(d["log"], ".autoresearch/runs/2.log");
    assert!(sb.path(".autoresearch/runs/2.log").exists());
    assert!(!sb.path(".autoresearch/runs/1.log").exists());
    let commit = d["commit"].as_str().unwrap();
    assert_eq!(run_ref(&sb, 2).as_deref(), Some(commit));
    assert_eq!(message_of(&sb, commit), "autoresearch #1: sneaky");
    assert!(
        v["warnings"].to_string().contains("Run #1 was taken"),
        "{v}"
    );
    let runs: Vec<u64> = sb
        .ledger_lines()
        .iter()
        .map(|l| l["run"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [0, 1, 2]);
}

/// The issue's scripted session: 12 experiments on a toy project end with exactly this ledger,
/// only the kept commits on the branch, and this best.
#[test]
fn a_scripted_session_of_twelve_experiments() {
    let sb = project("time_budget = \"1s\"\n");
    set_x(&sb, "10");
    sb.commit_all("x = 10");
    let setup = sb.head();
    run(&sb, &["-m", "baseline"]).ok();
    let script = [
        ("9", "kept", None),
        ("9.5", "discarded", Some("not better than best (#1 9)")),
        ("8", "kept", None),
        ("exit3", "crash", Some("exit_code 3")),
        ("8.0", "discarded", Some("not better than best (#3 8)")),
        ("7", "kept", None),
        ("nan", "crash", Some("non_finite_metric")),
        ("slow", "timeout", Some("timeout")),
        ("6.5", "kept", None),
        ("nometric", "crash", Some("no_metric")),
        // The code of #6 again: a re-check of a keep, never a candidate.
        ("7", "recheck", None),
        ("6", "kept", None),
    ];
    for (x, status, reason) in script {
        let (out, _) = experiment(&sb, x);
        let d = out.ok();
        assert_eq!(d["status"], status, "x = {x}: {d}");
        assert_eq!(d["reason"].as_str(), reason, "x = {x}");
        assert_group_gone(&sb);
    }
    let ledger = sb.ledger_lines();
    let got: Vec<(u64, String, Value)> = ledger
        .iter()
        .map(|l| {
            (
                l["run"].as_u64().unwrap(),
                l["status"].as_str().unwrap().to_string(),
                l["metric"].clone(),
            )
        })
        .collect();
    let want: Vec<(u64, String, Value)> = [
        ("baseline", json!(10.0)),
        ("kept", json!(9.0)),
        ("discarded", json!(9.5)),
        ("kept", json!(8.0)),
        ("crash", Value::Null),
        ("discarded", json!(8.0)),
        ("kept", json!(7.0)),
        ("crash", Value::Null),
        ("timeout", Value::Null),
        ("kept", json!(6.5)),
        ("crash", Value::Null),
        ("recheck", json!(7.0)),
        ("kept", json!(6.0)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (s, m))| (i as u64, s.to_string(), m))
    .collect();
    assert_eq!(got, want);
    let deltas: Vec<Value> = ledger.iter().map(|l| l["delta"].clone()).collect();
    assert_eq!(deltas[1], json!(-1.0));
    assert_eq!(deltas[2], json!(0.5));
    assert_eq!(deltas[12], json!(-0.5));

    // Only the kept commits are on the branch, newest first, then the setup.
    let repo = sb.repo();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.simplify_first_parent().unwrap();
    let messages: Vec<String> = walk
        .map(|oid| {
            repo.find_commit(oid.unwrap())
                .unwrap()
                .summary()
                .unwrap()
                .to_string()
        })
        .take(6)
        .collect();
    assert_eq!(
        messages,
        [
            "autoresearch #12: try 6",
            "autoresearch #9: try 6.5",
            "autoresearch #6: try 7",
            "autoresearch #3: try 8",
            "autoresearch #1: try 9",
            "x = 10"
        ]
    );
    assert_eq!(
        repo.find_commit(git2::Oid::from_str(&sb.head()).unwrap())
            .unwrap()
            .parent_id(0)
            .unwrap()
            .to_string(),
        ledger[9]["commit"].as_str().unwrap()
    );
    assert_eq!(sb.read("train.py"), "x = 6\n");
    for run in 0..13 {
        assert!(run_ref(&sb, run).is_some(), "refs/autoresearch/runs/{run}");
    }
    assert_eq!(run_ref(&sb, 0).as_deref(), Some(setup.as_str()));

    let best = sb.run(&["--json", "best"]).ok();
    assert_eq!(best["best"]["run"], 12);
    assert_eq!(best["best"]["metric"], 6.0);
    let status = sb.run(&["--json", "status"]).ok();
    assert_eq!(
        status["counts"],
        json!({"baseline": 1, "kept": 5, "discarded": 2, "crash": 3, "timeout": 1, "recheck": 1, "retraction": 0})
    );
    assert_eq!(status["loop"]["iteration"], 13);
    assert_eq!(status["loop"]["running"], false);
}

#[test]
fn program_md_is_a_notebook_not_an_experiment() {
    let sb = project("");
    sb.write("program.md", "# Program\n");
    sb.commit_all("program");
    // Notes written before the baseline do not make the tree dirty...
    sb.write("program.md", "# Program\n\nNotes.\n");
    run(&sb, &["-m", "baseline"]).ok();
    // ...nor an experiment out of scope, and a revert leaves them alone.
    let head = sb.head();
    let (out, _) = experiment(&sb, "2");
    let d = out.ok();
    assert_eq!(d["status"], "discarded");
    assert_eq!(sb.head(), head);
    assert_eq!(sb.read("program.md"), "# Program\n\nNotes.\n");
    assert_eq!(train_at(&sb, d["commit"].as_str().unwrap()), "x = 2\n");
    // Protected, it is guarded like any other file.
    let sb = project("protected = [\"program.md\"]\n");
    sb.write("program.md", "# Program\n");
    sb.commit_all("program");
    run(&sb, &["-m", "baseline"]).ok();
    sb.write("program.md", "changed\n");
    set_x(&sb, "0.5");
    run(&sb, &["-m", "x"]).err("protected_changed", 2);
}

/// Every evaluation's output ends with a line saying how it ended, written after the metric
/// was read: a metric named like a word of that line is never read from it.
#[test]
fn run_logs_end_with_how_the_eval_ended() {
    let (sb, _) = with_baseline("");
    let log = |run: u64| sb.read(&format!(".autoresearch/runs/{run}.log"));
    let last = |text: &str| text.lines().last().unwrap_or_default().to_string();
    let footer = last(&log(0));
    assert!(
        footer.starts_with("--- autoresearch: exit code 0; 9 bytes of output in ")
            && footer.ends_with("s ---"),
        "{footer}"
    );
    let (out, _) = experiment(&sb, "exit3");
    assert_eq!(out.ok()["status"], "crash");
    assert!(
        last(&log(1)).starts_with("--- autoresearch: exit code 3; "),
        "{}",
        log(1)
    );
    let sb = project("time_budget = \"1s\"\n");
    set_x(&sb, "slow");
    sb.commit_all("slow baseline");
    let d = run(&sb, &["-m", "slow"]).ok();
    assert_eq!(d["status"], "timeout");
    assert!(
        last(&sb.read(".autoresearch/runs/0.log"))
            .starts_with("--- autoresearch: timed out after 1s, stopped; "),
        "{}",
        sb.read(".autoresearch/runs/0.log")
    );
}

#[test]
fn a_footer_is_never_read_as_a_metric() {
    let sb = project("repeats = 3\n");
    // The metric is called `code`, and the footer says `exit code 0`: every sample must still
    // read the eval's own `code: 7`.
    let toml = sb
        .read("autoresearch.toml")
        .replace("\"score\"", "\"code\"");
    sb.write("autoresearch.toml", &toml);
    sb.write("eval.sh", "echo \"code: 7\"\n");
    sb.commit_all("metric named code");
    let d = run(&sb, &["-m", "baseline"]).ok();
    assert_eq!(d["samples"], json!([7.0, 7.0, 7.0]), "{d}");
    let text = sb.read(".autoresearch/runs/0.log");
    assert_eq!(
        text.matches("--- autoresearch: exit code 0").count(),
        3,
        "{text}"
    );
}

/// A metric the output plainly holds, in a form the grammar refuses, is still `no_metric`, and a
/// warning names the value and the rule it breaks.
#[test]
fn a_refused_metric_value_is_named() {
    let (sb, _) = with_baseline("");
    sb.write("eval.sh", "echo \"score: 1,234\"\n");
    sb.commit_all("an eval with a thousands separator");
    let v = run(&sb, &["--allow-empty", "-m", "separator"]).json();
    assert_eq!(v["data"]["reason"], "no_metric");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("`score` is followed by `1,234`"), "{v}");
}
