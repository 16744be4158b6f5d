//! `run` touches only what its step owns (docs/CONTRACT.md §7 step 8, docs/RELIABILITY.md 23):
//! the revert is a compare-and-swap on the experiment branch, the work tree is touched only while
//! HEAD is still that branch, and a revert that cannot finish leaves a state it describes with
//! exact object ids. Each eval here misbehaves the way a user, a second agent or a hostile script
//! would, in the middle of the step.

use serde_json::Value;

use crate::common::*;

/// An initialized project whose eval is `script` (it prints `score: 2`, worse than the baseline's
/// 1, unless it says otherwise), with a recorded baseline. Returns the baseline commit.
fn project(script: &str) -> (Sandbox, String) {
    let sb = Sandbox::new();
    sb.write(
        "eval.sh",
        "echo \"score: $(sed -n 's/^x = //p' train.py)\"\n",
    );
    // The eval changes after the baseline, so it is not protected (a protected eval would be a
    // new setup, sampled afresh: the script would run, and commit, more than once).
    let mut init = vec!["--json"];
    init.extend_from_slice(INIT);
    init.push("--no-protect");
    sb.run(&init).ok();
    sb.commit_all("autoresearch setup");
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    sb.write("eval.sh", script);
    sb.commit_all("the misbehaving eval");
    let head = sb.head();
    (sb, head)
}

fn git(sb: &Sandbox, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(&sb.root)
        .env("HOME", &sb.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn branch_at(sb: &Sandbox, name: &str) -> String {
    sb.repo()
        .find_reference(&format!("refs/heads/{name}"))
        .unwrap()
        .target()
        .unwrap()
        .to_string()
}

fn experiment(sb: &Sandbox) -> (Value, Value) {
    sb.write("train.py", "x = 2\n");
    let out = sb.run(&["--json", "run", "-m", "worse"]);
    let v = out.json();
    (out.ok(), v)
}

/// The eval switches HEAD to another branch that has newer commits. That branch must keep
/// them; the experiment branch goes back alone; the other checkout's files are not touched.
#[test]
fn a_branch_switched_during_the_eval_is_never_rewound() {
    let (sb, parent) = project("git checkout -q other\necho \"score: 2\"\n");
    git(&sb, &["branch", "other"]);
    git(&sb, &["checkout", "-q", "other"]);
    sb.write("other.txt", "newer work\n");
    let newer = sb.commit_all("newer work on other");
    git(&sb, &["checkout", "-q", "autoresearch"]);
    let (d, v) = experiment(&sb);
    assert_eq!(d["status"], "discarded");
    assert_eq!(
        branch_at(&sb, "other"),
        newer,
        "the other branch lost its commits"
    );
    assert_eq!(branch_at(&sb, "autoresearch"), parent);
    assert_eq!(d["reverted"], true);
    assert!(
        v["warnings"].to_string().contains("HEAD is now on `other`"),
        "{v}"
    );
    assert_eq!(sb.read("other.txt"), "newer work\n");
    let commit = d["commit"].as_str().unwrap();
    assert_eq!(
        sb.repo()
            .find_reference(&format!("refs/autoresearch/runs/{}", d["run"]))
            .unwrap()
            .target()
            .unwrap()
            .to_string(),
        commit
    );
}

/// A commit made on the experiment branch during the eval is kept: the revert is skipped, the
/// run is recorded and pinned, and a flag and a warning say so.
#[test]
fn a_commit_made_during_the_eval_is_never_dropped() {
    let (sb, _) = project(
        "git -c user.name=a -c user.email=a@a -c gc.auto=0 -c maintenance.auto=false commit -q --allow-empty -m 'made during the eval'\necho \"score: 2\"\n",
    );
    let (d, v) = experiment(&sb);
    assert_eq!(d["status"], "discarded");
    assert_eq!(d["reverted"], false);
    assert_eq!(d["flags"], serde_json::json!(["revert_skipped"]), "{d}");
    let repo = sb.repo();
    let tip = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(tip.message(), Some("made during the eval\n"));
    assert_eq!(
        tip.parent_id(0).unwrap().to_string(),
        d["commit"].as_str().unwrap()
    );
    assert!(v["warnings"].to_string().contains("Not reverted"), "{v}");
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(last["flags"], serde_json::json!(["revert_skipped"]));
}

/// `index.lock` held for a moment (an editor's `git status`) is waited out.
#[test]
fn a_briefly_locked_index_is_waited_for() {
    // The eval takes the lock, then waits until the test holds it open (`.git/held`): else
    // the step could find it unheld, remove it as stale and revert cleanly.
    let (sb, parent) = project(
        "touch .git/index.lock\nwhile [ ! -e .git/held ]; do sleep 0.01; done\necho \"score: 2\"\n",
    );
    let lock = sb.path(".git/index.lock");
    let remover = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        while !lock.exists() && t.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = std::fs::remove_file(&lock);
    });
    let (d, _) = experiment(&sb);
    remover.join().unwrap();
    assert_eq!(d["reverted"], true, "{d}");
    assert_eq!(sb.head(), parent);
    assert_eq!(sb.read("train.py"), "x = 1\n");
}

/// An index that stays locked (another process holds `index.lock` open throughout): the branch
/// is back, the change is left staged, and the warning says so with the exact command — never
/// `HEAD~1`, which would drop one commit too many.
#[test]
fn a_stuck_index_lock_leaves_a_described_state() {
    // The eval waits until the test holds the lock open (`.git/held`): else the step could find
    // it unheld and remove it as stale.
    let (sb, parent) = project(
        "touch .git/index.lock\nwhile [ ! -e .git/held ]; do sleep 0.01; done\necho \"score: 2\"\n",
    );
    let lock = sb.path(".git/index.lock");
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        while !lock.exists() && t.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // Held open, like a live git process: not a leftover to clean up.
        let file = std::fs::File::open(&lock).unwrap();
        std::fs::write(lock.with_file_name("held"), b"").unwrap();
        held_tx.send(()).unwrap();
        done_rx.recv().unwrap();
        drop(file);
    });
    let (d, v) = experiment(&sb);
    held_rx.recv().unwrap();
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    std::fs::remove_file(sb.path(".git/index.lock")).unwrap();
    assert_eq!(d["reverted"], false);
    assert_eq!(d["flags"], serde_json::json!(["revert_incomplete"]), "{d}");
    assert_eq!(sb.head(), parent, "the branch went back first");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains(&format!("git checkout {parent} -- train.py")),
        "{warnings}"
    );
    assert!(!warnings.contains("HEAD~1") && !v["hints"].to_string().contains("HEAD~1"));
    // The described command really restores the parent's target.
    git(&sb, &["checkout", &parent, "--", "train.py"]);
    assert_eq!(sb.read("train.py"), "x = 1\n");
}

/// A merge (or rebase, cherry-pick...) in progress: `run` refuses before committing anything,
/// instead of committing conflict markers and ending the merge; `doctor` says the same.
#[test]
fn run_refuses_while_a_merge_is_in_progress() {
    let (sb, head) = project("echo \"score: 2\"\n");
    std::fs::write(sb.path(".git/MERGE_HEAD"), format!("{head}\n")).unwrap();
    sb.write("train.py", "x = <<<<<<< conflict\n");
    let v = sb
        .run(&["--json", "run", "-m", "mid-merge"])
        .err("operation_in_progress", 2);
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("git merge --abort")
    );
    assert_eq!(sb.head(), head, "nothing was committed");
    assert!(
        sb.path(".git/MERGE_HEAD").exists(),
        "the merge is still there"
    );
    assert_eq!(sb.ledger_lines().len(), 1, "nothing was recorded");
    let d = sb.run(&["--json", "doctor", "--no-eval"]);
    assert_eq!(d.code, 2);
    assert_eq!(d.json()["error"]["code"], "operation_in_progress");
}

/// Untracked content inside a submodule is not a change (as untracked files never are); a
/// submodule's modified tracked file still is.
#[test]
fn untracked_files_inside_a_submodule_do_not_count() {
    let (sb, _) = project("echo \"score: $(sed -n 's/^x = //p' train.py)\"\n");
    let sub = sb.root.parent().unwrap().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let in_sub = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&sub)
            .env("HOME", &sb.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    in_sub(&["init", "-q"]);
    std::fs::write(sub.join("lib.txt"), "v1\n").unwrap();
    in_sub(&["add", "lib.txt"]);
    in_sub(&[
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@a",
        "commit",
        "-qm",
        "sub",
    ]);
    git(
        &sb,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.to_str().unwrap(),
            "vendor/sub",
        ],
    );
    git(
        &sb,
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@a",
            "commit",
            "-qm",
            "add a submodule",
        ],
    );
    sb.write(
        "vendor/sub/scratch.txt",
        "untracked, inside the submodule\n",
    );
    sb.write("train.py", "x = 0.5\n");
    let d = sb
        .run(&["--json", "run", "-m", "with a dirty submodule"])
        .ok();
    assert_eq!(d["status"], "kept", "{d}");
    sb.write("vendor/sub/lib.txt", "v2\n");
    sb.write("train.py", "x = 0.25\n");
    sb.run(&["--json", "run", "-m", "a tracked change in the submodule"])
        .err("out_of_scope", 2);
}

/// A `run` (of `x = 0.5`, summary "halve x") SIGKILLed while its eval waits for `.go`, once its
/// commit is owned in the loop state and on the branch. Returns the sandbox, the parent and the
/// orphan commit.
fn a_run_killed_with_an_orphan_on_the_branch() -> (Sandbox, String, String) {
    let (sb, parent) = project(
        "while [ ! -f .go ]; do sleep 0.02; done\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n",
    );
    sb.write("train.py", "x = 0.5\n");
    let mut first = sb.cmd(&["--json", "run", "-m", "halve x"]);
    let mut first = first.stdout(std::process::Stdio::null()).spawn().unwrap();
    let loop_json = sb.path(LOOP_STATE);
    let t = std::time::Instant::now();
    let orphan = loop {
        let owned: Option<String> = std::fs::read_to_string(&loop_json)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["owns"]["commit"].as_str().map(str::to_string));
        // Owned first, then on the branch: wait for both, so the kill leaves an orphan there.
        if let Some(c) = owned.filter(|c| *c == sb.head()) {
            break c;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "no commit owned"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    first.kill().unwrap();
    first.wait().unwrap();
    (sb, parent, orphan)
}

/// A `run` killed mid-step (SIGKILL, the OOM killer, a harness timeout) leaves its experiment
/// commit on the branch, unrecorded. The next `run` puts the branch back, records the orphan as
/// a crash with reason `abandoned` (pinned at its run ref), and evaluates the change itself, so
/// never-evaluated code never becomes the base of later experiments.
#[test]
fn a_killed_run_is_recovered_by_the_next() {
    let (sb, parent, orphan) = a_run_killed_with_an_orphan_on_the_branch();
    assert_eq!(sb.head(), orphan, "the orphan is on the branch");
    let status = sb.run(&["--json", "status"]).json();
    assert!(
        status["warnings"].to_string().contains("never evaluated"),
        "{status}"
    );
    assert_eq!(status["data"]["loop"]["abandoned_commit"], orphan.as_str());
    // The dead step's token: the id its eval was given (`AUTORESEARCH_ID`).
    let state: Value = serde_json::from_str(&sb.read(LOOP_STATE)).unwrap();
    let token = state["owns"]["step"]
        .as_str()
        .expect("a step token")
        .to_string();

    sb.write(".go", "");
    let out = sb.run(&["--json", "run", "-m", "after the kill"]);
    let v = out.json();
    let d = out.ok();
    let lines = sb.ledger_lines();
    let abandoned = &lines[lines.len() - 2];
    assert_eq!(abandoned["status"], "crash");
    assert_eq!(abandoned["reason"], "abandoned");
    assert_eq!(abandoned["commit"], orphan.as_str());
    assert_eq!(abandoned["summary"], "halve x");
    assert_eq!(abandoned["id"], token.as_str(), "the id the dead eval had");
    let run = abandoned["run"].as_u64().unwrap();
    let pinned = sb
        .repo()
        .find_reference(&format!("refs/autoresearch/runs/{run}"))
        .unwrap()
        .target()
        .unwrap()
        .to_string();
    assert_eq!(pinned, orphan);
    // The change was evaluated by this run, on top of the real parent.
    assert_eq!(d["status"], "kept", "{v}");
    assert_eq!(d["metric"], 0.5);
    let repo = sb.repo();
    let tip = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(tip.parent_id(0).unwrap().to_string(), parent);
    assert!(v["warnings"].to_string().contains("Took over"), "{v}");
    let lp: Value = serde_json::from_str(&sb.read(LOOP_STATE)).unwrap();
    assert_eq!(lp["active"], false);
    assert_eq!(lp["owns"]["commit"], Value::Null);
}

/// A manual `record` of the orphan commit (HEAD, after the kill) does not evaluate it: the next
/// `run` still takes it off the branch.
#[test]
fn a_manual_record_of_an_orphan_does_not_keep_it_on_the_branch() {
    let (sb, _, orphan) = a_run_killed_with_an_orphan_on_the_branch();
    sb.record("discarded", Some("3"), "recorded by hand");
    sb.write(".go", "");
    sb.run(&["--json", "run", "--allow-empty", "-m", "after the kill"])
        .ok();
    let lines = sb.ledger_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["reason"] == "abandoned" && l["commit"] == orphan.as_str()),
        "{lines:?}"
    );
    let repo = sb.repo();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    assert!(
        walk.map(|o| o.unwrap().to_string()).all(|c| c != orphan),
        "the orphan is still on the branch"
    );
}

/// A lock file nobody holds open (a killed process's leftover, here the eval's) is removed after
/// the wait, and the revert goes through.
#[test]
fn a_lock_nobody_holds_is_cleaned_up_by_the_revert() {
    let (sb, parent) = project("touch .git/index.lock\necho \"score: 2\"\n");
    let (d, _) = experiment(&sb);
    assert_eq!(d["reverted"], true, "{d}");
    assert_eq!(sb.head(), parent);
    assert!(!sb.path(".git/index.lock").exists());
}

/// A step killed while it wrote the index leaves `index.lock`; the next `run`, cleaning up after
/// that step, removes it when no process has it open (an open one is someone else's).
#[test]
fn a_dead_steps_index_lock_is_removed_by_the_next_run() {
    let (sb, _) = project("echo \"score: $(sed -n 's/^x = //p' train.py)\"\n");
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    dead.wait().unwrap();
    let path = sb.path(LOOP_STATE);
    let mut lp: Value = serde_json::from_str(&sb.read(LOOP_STATE)).unwrap();
    lp["active"] = serde_json::json!(true);
    lp["pid"] = serde_json::json!(dead.id());
    std::fs::write(&path, lp.to_string()).unwrap();
    std::fs::write(sb.path(".git/index.lock"), "").unwrap();
    sb.write("train.py", "x = 0.5\n");
    let out = sb.run(&["--json", "run", "-m", "after a dead step"]);
    let v = out.json();
    assert_eq!(out.ok()["status"], "kept", "{v}");
    assert!(v["warnings"].to_string().contains("index.lock"), "{v}");
    assert!(!sb.path(".git/index.lock").exists());
}
