//! Forks and `merge-best` (issue 11): all-or-nothing creation, each fork judged against where it
//! started, per-fork environment, rankings from each fork's own records, decisiveness beyond
//! the noise, and a winner brought back by fast-forward or by a measured port.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// A sandbox with a baseline at x = 1 on `autoresearch`.
fn project() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    run(&sb, &["-m", "baseline"]).ok();
    sb
}

fn branches(sb: &Sandbox) -> Vec<String> {
    let repo = sb.repo();
    let mut out: Vec<String> = repo
        .branches(Some(git2::BranchType::Local))
        .unwrap()
        .flatten()
        .map(|(b, _)| b.name().unwrap().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn fork(sb: &Sandbox, args: &[&str]) -> Out {
    let mut all = vec!["--json", "fork"];
    all.extend_from_slice(args);
    sb.run(&all)
}

fn merge_best(sb: &Sandbox, args: &[&str]) -> Out {
    let mut all = vec!["--json", "merge-best"];
    all.extend_from_slice(args);
    sb.run(&all)
}

/// `run` in `dir` (a linked worktree).
fn run_at(sb: &Sandbox, dir: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--json", "run"];
    all.extend_from_slice(args);
    sb.run_in(dir, &all)
}

#[test]
fn a_bad_name_anywhere_in_the_list_creates_nothing() {
    let sb = project();
    let before = branches(&sb);
    let lines = sb.ledger_lines().len();
    for (names, code) in [
        (&["good", "-bad"][..], "invalid_name"),
        (&["good", "a b"][..], "invalid_name"),
        (&["good", "good"][..], "invalid_name"),
        (&["good", "x.lock"][..], "invalid_name"),
    ] {
        let mut args = names.to_vec();
        args.insert(0, "--");
        let e = fork(&sb, &args).err(code, 2);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Nothing was created"),
            "{e}"
        );
        assert_eq!(branches(&sb), before, "{names:?}");
    }
    // A branch that exists already.
    fork(&sb, &["taken"]).ok();
    let before = branches(&sb);
    let lines_after = sb.ledger_lines().len();
    assert_eq!(lines_after, lines + 1, "one start record");
    fork(&sb, &["new", "taken"]).err("already_exists", 2);
    assert_eq!(branches(&sb), before);
    // A start run that does not exist.
    fork(&sb, &["new", "--from", "99"]).err("run_not_found", 2);
    assert_eq!(branches(&sb), before);
    assert_eq!(sb.ledger_lines().len(), lines_after, "nothing recorded");
    assert!(
        !sb.path(".autoresearch/forks/autoresearch-fork-new.json")
            .exists()
    );
}

#[test]
fn a_worktree_directory_that_is_not_empty_creates_nothing() {
    let sb = project();
    let dir = sb.root.parent().unwrap().join("wts");
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("b/keep.txt"), "mine").unwrap();
    let before = branches(&sb);
    let e = fork(&sb, &["a", "b", "--worktree", dir.to_str().unwrap()]).err("already_exists", 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not empty"),
        "{e}"
    );
    assert_eq!(branches(&sb), before);
    assert!(!dir.join("a").exists(), "no worktree left behind");
    assert_eq!(
        std::fs::read_to_string(dir.join("b/keep.txt")).unwrap(),
        "mine"
    );
    // Inside the repository: refused too.
    fork(
        &sb,
        &["a", "--worktree", sb.root.join("sub").to_str().unwrap()],
    )
    .err("usage", 2);
    assert_eq!(branches(&sb), before);
}

#[test]
fn a_fork_is_judged_against_where_it_started() {
    let sb = project();
    set_x(&sb, "0.5");
    run(&sb, &["-m", "halve"]).ok();
    // From the baseline (x = 1), not from the best (x = 0.5).
    let d = fork(&sb, &["bold", "--from", "baseline"]).ok();
    let f = &d["forks"][0];
    assert_eq!(f["branch"], "autoresearch-fork-bold");
    let start = f["start_run"].as_u64().expect("a start record");
    let rec = sb
        .ledger_lines()
        .into_iter()
        .find(|r| r["run"] == start)
        .unwrap();
    assert_eq!(rec["status"], "baseline");
    assert_eq!(rec["source"], "fork");
    assert_eq!(rec["branch"], "autoresearch-fork-bold");
    assert_eq!(rec["metric"], 1.0);
    assert_eq!(rec["commit"], sb.ledger_lines()[0]["commit"]);
    assert_eq!(d["start"]["level"], 1.0);
    sb.switch("autoresearch-fork-bold");
    assert_eq!(sb.read("train.py"), "x = 1\n");
    // Worse than the main branch's best, better than the fork's start: kept on the fork.
    set_x(&sb, "0.8");
    let r = run(&sb, &["-m", "another direction"]).ok();
    assert_eq!(r["status"], "kept", "{r}");
    assert_eq!(r["best_before"]["run"], start);
    // The main branch's best is untouched.
    let s = sb.run(&["--json", "best", "--branch", "autoresearch"]).ok();
    assert_eq!(s["best"]["metric"], 0.5);
}

#[test]
fn a_fork_can_start_from_a_discarded_run() {
    let sb = project();
    set_x(&sb, "2");
    let r = run(&sb, &["-m", "worse"]).ok();
    assert_eq!(r["status"], "discarded");
    let run_no = r["run"].as_u64().unwrap().to_string();
    let d = fork(&sb, &["retry", "--from", &run_no]).ok();
    assert_eq!(d["forks"][0]["commit"], r["commit"]);
    assert_eq!(d["start"]["level"], 2.0);
    assert_eq!(
        sb.tip("autoresearch-fork-retry"),
        r["commit"].as_str().unwrap()
    );
}

#[test]
fn a_tip_never_measured_gives_the_fork_its_own_baseline() {
    let sb = project();
    sb.write("notes.txt", "hand commit\n");
    sb.commit_all("notes");
    set_x(&sb, "3");
    sb.commit_all("x = 3 by hand");
    let lines = sb.ledger_lines().len();
    let d = fork(&sb, &["t", "--from", "tip"]).ok();
    assert!(d["forks"][0]["start_run"].is_null(), "{d}");
    assert!(d["start"]["level"].is_null());
    assert_eq!(sb.ledger_lines().len(), lines, "no start record");
    sb.switch("autoresearch-fork-t");
    let r = run(&sb, &["-m", "fork baseline"]).ok();
    assert_eq!(r["status"], "baseline");
    assert_eq!(r["metric"], 3.0);
}

#[test]
fn env_reaches_the_eval_of_every_run_on_the_fork() {
    let sb = project();
    sb.write(
        "eval.sh",
        "#!/bin/sh\necho \"device=$CUDA_VISIBLE_DEVICES\"\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n",
    );
    sb.commit_all("eval prints the device");
    run(&sb, &["--baseline", "-m", "re-baseline"]).ok();
    fork(&sb, &["gpu3", "--env", "CUDA_VISIBLE_DEVICES=3"]).ok();
    fork(&sb, &["x", "--env", "AUTORESEARCH_RUN=1"]).err("usage", 2);
    fork(&sb, &["x", "--env", "1BAD=1"]).err("usage", 2);
    sb.switch("autoresearch-fork-gpu3");
    set_x(&sb, "0.5");
    let r = run(&sb, &["-m", "on gpu 3"]).ok();
    let log = std::fs::read_to_string(sb.root.join(r["log"].as_str().unwrap())).unwrap();
    assert!(log.contains("device=3"), "{log}");
    // Not on the main branch.
    sb.switch("autoresearch");
    set_x(&sb, "0.7");
    let r = run(&sb, &["-m", "main"]).ok();
    let log = std::fs::read_to_string(sb.root.join(r["log"].as_str().unwrap())).unwrap();
    assert!(log.contains("device=\n"), "{log}");
}

#[test]
fn worktrees_are_made_beside_the_repository_and_missing_inputs_are_named() {
    let sb = project();
    sb.write(".gitignore", "data/\n");
    sb.write("data/train.bin", "bytes");
    sb.commit_all("ignore data");
    let dry = fork(&sb, &["a", "b", "--worktree", "--dry-run"]).ok();
    assert_eq!(dry["dry_run"], true);
    let planned = dry["forks"][0]["worktree"].as_str().unwrap().to_string();
    assert!(planned.ends_with("/repo-a"), "{planned}");
    assert!(!Path::new(&planned).exists(), "a dry run creates nothing");
    assert_eq!(branches(&sb), ["autoresearch", "master"]);

    let out = sb.run(&["--json", "fork", "a", "b", "--worktree"]);
    let d = out.ok();
    let a = Path::new(d["forks"][0]["worktree"].as_str().unwrap()).to_path_buf();
    assert!(a.join("train.py").is_file());
    assert_eq!(d["forks"][0]["missing_inputs"][0], "data/");
    let warnings = out.json()["warnings"].to_string();
    assert!(warnings.contains("ln -s"), "{warnings}");
    let next = d["forks"][0]["next"].to_string();
    assert!(
        next.contains("cd ") && next.contains("autoresearch run"),
        "{next}"
    );
    // The worktree is on the fork, and `run` works there, writing the one ledger.
    set_x_at(&a, "0.5");
    let r = run_at(&sb, &a, &["-m", "in the worktree"]).ok();
    assert_eq!(r["status"], "kept");
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(last["branch"], "autoresearch-fork-a");
}

fn set_x_at(dir: &Path, x: &str) {
    std::fs::write(dir.join("train.py"), format!("x = {x}\n")).unwrap();
}

/// The first generation's failure: two forks and the base in one ledger, only one fork better.
#[test]
fn the_fork_with_the_better_result_ranks_first_with_its_own_counts() {
    let sb = project();
    fork(&sb, &["good", "bad"]).ok();
    sb.switch("autoresearch-fork-bad");
    for x in ["2", "3", "1.5"] {
        set_x(&sb, x);
        assert_eq!(run(&sb, &["-m", "worse"]).ok()["status"], "discarded");
    }
    sb.switch("autoresearch-fork-good");
    set_x(&sb, "0.6");
    assert_eq!(run(&sb, &["-m", "better"]).ok()["status"], "kept");
    set_x(&sb, "0.9");
    assert_eq!(run(&sb, &["-m", "worse"]).ok()["status"], "discarded");
    sb.switch("autoresearch");
    set_x(&sb, "4");
    run(&sb, &["-m", "main worse"]).ok();

    let d = merge_best(&sb, &[]).ok();
    let ranked = &d["groups"][0]["forks"];
    assert_eq!(d["groups"][0]["comparable"], true);
    assert_eq!(ranked[0]["name"], "good");
    assert_eq!(ranked[0]["runs"], 2);
    assert_eq!(ranked[0]["kept"], 1);
    assert_eq!(ranked[0]["best"]["metric"], 0.6);
    assert!((ranked[0]["gain"].as_f64().unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(ranked[0]["can_fast_forward"], true);
    assert_eq!(ranked[1]["name"], "bad");
    assert_eq!(ranked[1]["runs"], 3);
    assert_eq!(ranked[1]["kept"], 0);
    assert_eq!(d["base"]["runs"], 1);
    assert_eq!(d["base"]["best"]["metric"], 1.0);
    assert_eq!(d["winner"], "good");
    // A deterministic eval: no noise, so any lead is decisive.
    assert_eq!(d["decisive"], true, "{d}");
    // Only the named forks.
    let d = merge_best(&sb, &["--forks", "bad"]).ok();
    assert_eq!(d["groups"][0]["forks"].as_array().unwrap().len(), 1);
    assert_eq!(d["verdict"], "no fork beats the base");
    merge_best(&sb, &["--forks", "nope"]).err("fork_not_found", 2);
    merge_best(&sb, &["--into", "nope"]).err("fork_not_found", 2);
}

/// An eval with noise: the score is x plus a jitter of ±0.1 that cycles with the sample.
fn noisy(sb: &Sandbox) {
    sb.write(
        "eval.sh",
        "#!/bin/sh\nx=$(sed -n 's/^x = //p' train.py)\nj=$(( (${AUTORESEARCH_SAMPLE:-1} + ${AUTORESEARCH_RUN:-0}) % 3 ))\necho \"score: $(echo \"$x $j\" | awk '{print $1 + ($2 - 1) * 0.1}')\"\n",
    );
    sb.commit_all("noisy eval");
}

/// A noisy project with two forks, `a` at 0.5 and `b` at 0.52, each kept.
fn two_close_forks() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    noisy(&sb);
    run(&sb, &["-m", "baseline"]).ok();
    fork(&sb, &["a", "b"]).ok();
    for (branch, x) in [
        ("autoresearch-fork-a", "0.5"),
        ("autoresearch-fork-b", "0.52"),
    ] {
        sb.switch(branch);
        set_x(&sb, x);
        let r = run(&sb, &["-m", "halve"]).ok();
        assert_eq!(r["status"], "kept", "{r}");
    }
    sb
}

#[test]
fn a_tie_within_noise_is_not_decisive_and_apply_refuses_it() {
    let sb = two_close_forks();
    sb.switch("autoresearch");
    let base_tip = sb.tip("autoresearch");
    let d = merge_best(&sb, &[]).ok();
    assert_eq!(d["winner"], "a", "{d}");
    assert_eq!(d["decisive"], false, "{d}");
    assert_eq!(d["verdict"], "tie within noise");
    assert_eq!(d["over_base"]["beyond"], true);
    assert_eq!(d["over_runner_up"]["over"], "b");
    assert_eq!(d["over_runner_up"]["beyond"], false);
    let lines = sb.ledger_lines().len();
    let e = merge_best(&sb, &["--apply"]).err("not_decisive", 2);
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("--confirm"),
        "{e}"
    );
    assert_eq!(sb.tip("autoresearch"), base_tip, "nothing moved");
    assert_eq!(sb.ledger_lines().len(), lines, "nothing recorded");
    // Forced: applied.
    let d = merge_best(&sb, &["--apply", "--force"]).ok();
    assert_eq!(d["applied"]["outcome"], "fast_forwarded");
    assert_ne!(sb.tip("autoresearch"), base_tip);
}

#[test]
fn confirm_measures_the_top_contenders_in_turn_and_records_rechecks() {
    let sb = two_close_forks();
    sb.switch("autoresearch");
    let lines = sb.ledger_lines().len();
    let d = merge_best(&sb, &["--confirm", "2"]).ok();
    let runs = d["confirmed"]["runs"].as_array().unwrap();
    let order: Vec<&str> = runs.iter().map(|r| r["branch"].as_str().unwrap()).collect();
    assert_eq!(
        order,
        ["autoresearch", "autoresearch-fork-a", "autoresearch-fork-b"]
    );
    let new: Vec<Value> = sb.ledger_lines().into_iter().skip(lines).collect();
    assert_eq!(new.len(), 3);
    for r in &new {
        assert_eq!(r["status"], "recheck");
        assert_eq!(r["source"], "merge-best");
        assert_eq!(r["samples"].as_array().unwrap().len(), 2, "{r}");
    }
    // The samples joined each code's evidence: the winner's level rests on more of them.
    assert!(
        d["groups"][0]["forks"][0]["samples"].as_u64().unwrap() > 3,
        "{d}"
    );
    // Interleaved: each log holds two samples, and nothing is left in `.autoresearch/merge/`.
    assert!(!sb.path(".autoresearch/merge").exists());
    // No index, branch or file of the work tree was touched.
    let repo = sb.repo();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false);
    assert!(repo.statuses(Some(&mut opts)).unwrap().is_empty());
    assert_eq!(sb.read("train.py"), "x = 1\n");
    let log =
        std::fs::read_to_string(sb.path(&format!(".autoresearch/runs/{}.log", new[1]["run"])))
            .unwrap();
    assert!(log.contains("--- sample 2 ---"), "{log}");
}

#[test]
fn apply_fast_forwards_when_it_can() {
    let sb = project();
    fork(&sb, &["good"]).ok();
    sb.switch("autoresearch-fork-good");
    set_x(&sb, "0.9");
    let kept = run(&sb, &["-m", "a tenth"]).ok();
    assert!(kept["flags"].as_array().unwrap().is_empty(), "{kept}");
    sb.switch("autoresearch");
    let d = merge_best(&sb, &["--apply", "--dry-run"]).ok();
    assert_eq!(d["plan"]["strategy"], "ff");
    assert!(d["applied"].is_null());
    let d = merge_best(&sb, &["--apply"]).ok();
    assert_eq!(d["applied"]["outcome"], "fast_forwarded");
    assert_eq!(sb.tip("autoresearch"), kept["commit"].as_str().unwrap());
    assert_eq!(
        sb.read("train.py"),
        "x = 0.9\n",
        "the checked-out base follows"
    );
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(last["status"], "kept");
    assert_eq!(last["source"], "merge-best");
    assert_eq!(last["branch"], "autoresearch");
    let best = sb.run(&["--json", "best"]).ok();
    assert_eq!(best["best"]["metric"], 0.9);
    // Never deletes anything; says how.
    assert!(branches(&sb).contains(&"autoresearch-fork-good".to_string()));
    assert!(
        d["cleanup"]
            .to_string()
            .contains("git branch -D autoresearch-fork-good")
    );
    // The next run on the base does not take the fork's commits for commits made by hand: its
    // experiment starts from the new tip.
    set_x(&sb, "0.8");
    let out = run(&sb, &["-m", "next"]);
    let r = out.ok();
    assert_eq!(r["status"], "kept");
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(last["parent"], kept["commit"], "{last}");
    assert!(!out.stdout.contains("by hand"), "{}", out.stdout);
}

/// A two-variable project: the score is x + y, read from `train.py`.
fn two_vars() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("train.py", "x = 1\n\n\n\ny = 1\n");
    sb.write(
        "eval.sh",
        "#!/bin/sh\nawk '/^x = /{x=$3} /^y = /{y=$3} END{print \"score: \" x + y}' train.py\n",
    );
    sb.commit_all("two variables");
    sb.init();
    run(&sb, &["-m", "baseline"]).ok();
    sb
}

/// Fork `x`, then one experiment on the base (its `train.py` becomes `on_base`) and one on the
/// fork (`on_fork`); returns both runs' data, with HEAD left on the fork.
fn diverge(sb: &Sandbox, on_base: &str, on_fork: &str) -> (Value, Value) {
    fork(sb, &["x"]).ok();
    sb.write("train.py", on_base);
    let base = run(sb, &["-m", "on the base"]).ok();
    sb.switch("autoresearch-fork-x");
    sb.write("train.py", on_fork);
    let forked = run(sb, &["-m", "on the fork"]).ok();
    (base, forked)
}

#[test]
fn apply_ports_and_evaluates_when_the_base_moved_on() {
    let sb = two_vars();
    // The base improves y; the fork improves x.
    let (base, forked) = diverge(&sb, "x = 1\n\n\n\ny = 0.5\n", "x = 0.2\n\n\n\ny = 1\n");
    assert_eq!(base["status"], "kept");
    assert_eq!(forked["status"], "kept");
    sb.switch("autoresearch");
    let d = merge_best(&sb, &["--apply"]).ok();
    assert_eq!(d["plan"]["strategy"], "port");
    assert_eq!(d["applied"]["outcome"], "kept", "{d}");
    // Both improvements, measured together on the base.
    assert_eq!(sb.read("train.py"), "x = 0.2\n\n\n\ny = 0.5\n");
    assert_eq!(d["applied"]["port"]["metric"], 0.7);
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(last["branch"], "autoresearch");
    assert_eq!(last["source"], "run");
}

#[test]
fn a_conflicting_port_leaves_the_base_untouched() {
    let sb = two_vars();
    diverge(&sb, "x = 0.9\n\n\n\ny = 1\n", "x = 0.2\n\n\n\ny = 1\n");
    sb.switch("autoresearch");
    let before = sb.tip("autoresearch");
    let lines = sb.ledger_lines().len();
    let e = merge_best(&sb, &["--apply"]).err("port_conflict", 2);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("train.py"),
        "{e}"
    );
    assert_eq!(sb.tip("autoresearch"), before);
    assert_eq!(sb.read("train.py"), "x = 0.9\n\n\n\ny = 1\n");
    assert_eq!(sb.ledger_lines().len(), lines);
    // `--strategy ff` cannot either.
    merge_best(&sb, &["--apply", "--strategy", "ff"]).err("usage", 2);
}

#[test]
fn a_port_that_loses_on_the_base_is_reverted() {
    // x and y each help alone, and hurt together: the fork's gain does not carry over.
    let sb = Sandbox::new();
    sb.write("train.py", "x = 1\n\n\n\ny = 1\n");
    sb.write(
        "eval.sh",
        "#!/bin/sh\nawk '/^x = /{x=$3} /^y = /{y=$3} END{s = x + y; if (y < 1 && x < 1) s = 3; print \"score: \" s}' train.py\n",
    );
    sb.commit_all("two variables that interact");
    sb.init();
    run(&sb, &["-m", "baseline"]).ok();
    fork(&sb, &["x"]).ok();
    sb.write("train.py", "x = 1\n\n\n\ny = 0.5\n");
    assert_eq!(run(&sb, &["-m", "y"]).ok()["status"], "kept");
    sb.switch("autoresearch-fork-x");
    sb.write("train.py", "x = 0.2\n\n\n\ny = 1\n");
    assert_eq!(run(&sb, &["-m", "x"]).ok()["status"], "kept");
    sb.switch("autoresearch");
    let before = sb.tip("autoresearch");
    let d = merge_best(&sb, &["--apply", "--force"]).ok();
    assert_eq!(d["plan"]["strategy"], "port");
    assert_eq!(d["applied"]["outcome"], "discarded", "{d}");
    assert_eq!(d["applied"]["port"]["metric"], 3.0);
    assert_eq!(sb.tip("autoresearch"), before, "the base is as it was");
    assert_eq!(sb.read("train.py"), "x = 1\n\n\n\ny = 0.5\n");
    assert!(d["cleanup"].as_array().unwrap().is_empty());
}

#[test]
fn a_dirty_base_is_refused_before_anything_moves() {
    let sb = project();
    fork(&sb, &["good"]).ok();
    sb.switch("autoresearch-fork-good");
    set_x(&sb, "0.5");
    run(&sb, &["-m", "halve"]).ok();
    sb.switch("autoresearch");
    sb.write("eval.sh", "#!/bin/sh\necho edited\n");
    let before = sb.tip("autoresearch");
    let e = merge_best(&sb, &["--apply", "--force"]).err("dirty_tree", 2);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("eval.sh"),
        "{e}"
    );
    assert_eq!(sb.tip("autoresearch"), before);
}

#[test]
fn every_reader_gives_one_line_per_branch_and_reports_on_any_branch() {
    let sb = project();
    fork(&sb, &["a", "b"]).ok();
    sb.switch("autoresearch-fork-a");
    set_x(&sb, "0.5");
    run(&sb, &["-m", "halve"]).ok();
    set_x(&sb, "2");
    run(&sb, &["-m", "worse"]).ok();
    sb.switch("autoresearch");
    for cmd in ["status", "log", "best"] {
        let d = sb.run(&["--json", cmd, "--all-branches"]).ok();
        let rows = d["branches"]["branches"].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r["branch"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["autoresearch", "autoresearch-fork-a", "autoresearch-fork-b"],
            "{cmd}"
        );
        assert_eq!(rows[1]["runs"], 2, "{cmd}");
        assert_eq!(rows[1]["kept"], 1, "{cmd}");
        assert_eq!(rows[1]["best"]["metric"], 0.5, "{cmd}");
        assert_eq!(rows[2]["runs"], 0, "{cmd}");
        assert_eq!(d["branches"]["base"], "autoresearch");
        // Without the flag: null.
        assert!(sb.run(&["--json", cmd]).ok()["branches"].is_null(), "{cmd}");
        sb.run(&["--json", cmd, "--all-branches", "--branch", "x"])
            .err("usage", 2);
    }
    let human = sb.run(&["--human", "status", "--all-branches"]);
    assert_eq!(human.code, 0);
    assert!(
        human.stdout.contains("autoresearch and 2 forks"),
        "{}",
        human.stdout
    );
    // `status --branch`: the fork's numbers, from the main branch.
    let d = sb
        .run(&["--json", "status", "--branch", "autoresearch-fork-a"])
        .ok();
    assert_eq!(d["scope_branch"], "autoresearch-fork-a");
    assert_eq!(d["best"]["metric"], 0.5);
    assert_eq!(d["branch"], "autoresearch");
}

#[test]
fn a_port_onto_a_base_checked_out_nowhere_runs_in_a_temporary_worktree() {
    let sb = two_vars();
    diverge(&sb, "x = 1\n\n\n\ny = 0.5\n", "x = 0.2\n\n\n\ny = 1\n");
    // The main work tree stays on the fork: the base is checked out nowhere.
    let here = sb.head();
    let d = merge_best(&sb, &["--apply"]).ok();
    assert_eq!(d["plan"]["strategy"], "port");
    assert!(d["plan"]["worktree"].is_null(), "{d}");
    assert_eq!(d["applied"]["outcome"], "kept", "{d}");
    let tip = sb.tip("autoresearch");
    let repo = sb.repo();
    let tree = repo
        .find_commit(git2::Oid::from_str(&tip).unwrap())
        .unwrap()
        .tree()
        .unwrap();
    let blob = tree
        .get_path(Path::new("train.py"))
        .unwrap()
        .to_object(&repo)
        .unwrap();
    assert_eq!(
        std::str::from_utf8(blob.as_blob().unwrap().content()).unwrap(),
        "x = 0.2\n\n\n\ny = 0.5\n"
    );
    // The fork's work tree is as it was; the temporary worktree is gone.
    assert_eq!(sb.head(), here);
    assert_eq!(sb.read("train.py"), "x = 0.2\n\n\n\ny = 1\n");
    assert!(sb.repo().worktrees().unwrap().is_empty());
    assert!(!sb.path(".autoresearch/merge").exists());
}

/// A fork that never kept anything has the base's code as its best: confirming it would measure
/// the base again, and its level is the base's, whatever branch the samples landed on.
#[test]
fn one_code_is_confirmed_once_and_has_one_level_on_every_branch() {
    let sb = Sandbox::new();
    sb.init();
    noisy(&sb);
    run(&sb, &["-m", "baseline"]).ok();
    fork(&sb, &["a", "idle"]).ok();
    sb.switch("autoresearch-fork-a");
    set_x(&sb, "0.5");
    run(&sb, &["-m", "halve"]).ok();
    sb.switch("autoresearch");
    let d = merge_best(&sb, &["--confirm", "2"]).ok();
    let order: Vec<&str> = d["confirmed"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["branch"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["autoresearch", "autoresearch-fork-a"]);
    let idle = d["groups"][0]["forks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "idle")
        .unwrap()
        .clone();
    assert_eq!(idle["level"], d["base"]["level"], "{d}");
    assert_eq!(idle["samples"], d["base"]["samples"]);
    assert_eq!(idle["gain"], 0.0);
}

/// A fork that changed how the number is made (its own harness, re-baselined) is ranked apart,
/// with a warning, and never wins, however good its numbers look.
#[test]
fn a_fork_measured_differently_is_ranked_apart_and_never_wins() {
    let sb = project();
    fork(&sb, &["fair", "easy"]).ok();
    sb.switch("autoresearch-fork-easy");
    sb.write(
        "eval.sh",
        "#!/bin/sh\necho \"score: $(sed -n 's/^x = //p' train.py | awk '{print $1 / 10}')\"\n",
    );
    sb.commit_all("an easier scoring");
    run(&sb, &["--baseline", "-m", "new harness"]).ok();
    set_x(&sb, "0.9");
    run(&sb, &["-m", "tweak"]).ok();
    sb.switch("autoresearch-fork-fair");
    set_x(&sb, "0.8");
    run(&sb, &["-m", "better"]).ok();
    sb.switch("autoresearch");
    let out = merge_best(&sb, &[]);
    let d = out.ok();
    assert_eq!(d["groups"].as_array().unwrap().len(), 2, "{d}");
    assert_eq!(d["groups"][0]["comparable"], true);
    assert_eq!(d["groups"][0]["forks"][0]["name"], "fair");
    assert_eq!(d["groups"][1]["comparable"], false);
    assert_eq!(d["groups"][1]["forks"][0]["name"], "easy");
    assert_eq!(d["winner"], "fair");
    let warnings = out.json()["warnings"].to_string();
    assert!(
        warnings.contains("`easy`") && warnings.contains("ranked apart"),
        "{warnings}"
    );
}

/// A `run` holding the base's loop lock: the fast-forward waits for nobody and moves nothing.
#[test]
fn apply_refuses_while_a_run_holds_the_base() {
    let sb = project();
    fork(&sb, &["good"]).ok();
    sb.switch("autoresearch-fork-good");
    set_x(&sb, "0.9");
    run(&sb, &["-m", "a tenth"]).ok();
    sb.switch("autoresearch");
    let before = sb.tip("autoresearch");
    let lock = sb.path(".autoresearch/loops/branches/autoresearch.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .unwrap();
    held.lock().unwrap();
    merge_best(&sb, &["--apply"]).err("loop_running", 1);
    assert_eq!(sb.tip("autoresearch"), before);
    assert_eq!(sb.read("train.py"), "x = 1\n");
    drop(held);
    merge_best(&sb, &["--apply"]).ok();
    assert_ne!(sb.tip("autoresearch"), before);
}

/// The base checked out in another worktree: the fast-forward updates that worktree's files,
/// and the current one (on the fork) is left alone.
#[test]
fn a_fast_forward_updates_the_worktree_where_the_base_is_checked_out() {
    let sb = project();
    fork(&sb, &["good"]).ok();
    // The main work tree moves to the fork; the base gets a linked worktree of its own.
    sb.switch("autoresearch-fork-good");
    let base_dir = sb.root.parent().unwrap().join("base-wt");
    let repo = sb.repo();
    let base_ref = repo.find_reference("refs/heads/autoresearch").unwrap();
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(&base_ref));
    repo.worktree("base-wt", &base_dir, Some(&opts)).unwrap();
    set_x(&sb, "0.9");
    let kept = run(&sb, &["-m", "a tenth"]).ok();
    let d = merge_best(&sb, &["--apply"]).ok();
    assert_eq!(d["applied"]["outcome"], "fast_forwarded", "{d}");
    assert_eq!(
        Path::new(d["plan"]["worktree"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        base_dir.canonicalize().unwrap()
    );
    assert_eq!(sb.tip("autoresearch"), kept["commit"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(base_dir.join("train.py")).unwrap(),
        "x = 0.9\n",
        "the base's worktree follows"
    );
    let wt = git2::Repository::open(&base_dir).unwrap();
    let mut st = git2::StatusOptions::new();
    st.include_untracked(false);
    assert!(
        wt.statuses(Some(&mut st)).unwrap().is_empty(),
        "and is clean"
    );
}
