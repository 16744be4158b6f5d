//! Protection that survives commits (issue 10): how the number is made cannot change between a
//! baseline and the runs compared with it, whether the change is in the work tree or committed
//! by hand; a deliberate change goes through a new baseline.

use serde_json::json;

use crate::common::*;

/// A project whose harness `eval.sh` is protected; the eval prints `x` from `train.py`.
fn project() -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"10s\"\nprotected = [\"eval.sh\"]\n",
    );
    sb.commit_all("setup");
    run(&sb, &["-m", "baseline"]).ok();
    sb
}

/// A harness that halves every score, committed by hand.
fn cheat(sb: &Sandbox) -> String {
    sb.write(
        "eval.sh",
        "#!/bin/sh\necho \"score: $(sed -n 's/^x = //p' train.py | awk '{print $1 / 2}')\"\n",
    );
    sb.commit_all("bench: faster scoring")
}

#[test]
fn a_committed_harness_change_is_refused_for_every_kind_of_run() {
    let sb = project();
    let base = sb.ledger_lines()[0]["commit"].as_str().unwrap().to_string();
    let culprit = cheat(&sb);
    let lines = sb.ledger_lines().len();
    for args in [
        &["--allow-empty", "-m", "recheck"][..],
        &["--recheck", "-m", "recheck"][..],
    ] {
        let out = run(&sb, args);
        let e = out.err("protected_changed", 2);
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("`eval.sh`") && msg.contains(&culprit), "{msg}");
        assert!(msg.contains("bench: faster scoring"), "{msg}");
        let fix = e["error"]["suggestion"].as_str().unwrap();
        assert!(
            fix.contains(&format!("git checkout {base} -- eval.sh"))
                && fix.contains("autoresearch run --baseline"),
            "{fix}"
        );
    }
    // With a change to the target: refused before anything is committed.
    set_x(&sb, "0.5");
    let head = sb.head();
    run(&sb, &["-m", "better?"]).err("protected_changed", 2);
    assert_eq!(sb.head(), head, "nothing committed");
    assert_eq!(sb.read("train.py"), "x = 0.5\n", "the edit is left alone");
    assert_eq!(sb.ledger_lines().len(), lines, "nothing recorded");
}

#[test]
fn restoring_the_harness_as_suggested_lets_runs_go_on() {
    let sb = project();
    let base = sb.ledger_lines()[0]["commit"].as_str().unwrap().to_string();
    cheat(&sb);
    let status = std::process::Command::new("git")
        .args(["checkout", &base, "--", "eval.sh"])
        .current_dir(&sb.root)
        .status()
        .unwrap();
    assert!(status.success());
    sb.commit_all("restore the eval harness");
    set_x(&sb, "0.5");
    let d = run(&sb, &["-m", "an honest change"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
}

#[test]
fn a_changed_eval_command_or_budget_is_refused_and_raising_repeats_is_not() {
    let sb = project();
    let config = sb.read("autoresearch.toml");
    sb.write(
        "autoresearch.toml",
        &config.replace("sh eval.sh", "sh eval.sh | head -1"),
    );
    sb.commit_all("a different eval");
    let out = run(&sb, &["--allow-empty", "-m", "x"]);
    let e = out.err("setup_changed", 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eval command"),
        "{e}"
    );
    sb.write("autoresearch.toml", &config.replace("\"10s\"", "\"20s\""));
    sb.commit_all("a longer budget");
    run(&sb, &["--allow-empty", "-m", "x"]).err("setup_changed", 2);
    // Keys that do not change how the number is made: no new baseline needed.
    sb.write(
        "autoresearch.toml",
        &format!("{config}max_repeats = 8\nconfidence = 0.99\nmin_improvement = \"1%\"\n"),
    );
    sb.commit_all("stricter decisions");
    assert_eq!(
        run(&sb, &["--allow-empty", "-m", "x"]).ok()["status"],
        "recheck"
    );
}

#[test]
fn a_deliberate_harness_change_goes_through_a_new_baseline() {
    let sb = project();
    cheat(&sb);
    let out = run(
        &sb,
        &["--baseline", "-m", "new harness, agreed with the human"],
    );
    let d = out.ok();
    assert_eq!(d["status"], "baseline");
    assert_eq!(d["flags"], json!(["harness_changed"]));
    let warnings = out.json()["warnings"].to_string();
    assert!(
        warnings.contains("`eval.sh`") && warnings.contains("new comparison"),
        "{warnings}"
    );
    // The new comparison is measured the new way; runs go on.
    set_x(&sb, "0.5");
    assert_eq!(run(&sb, &["-m", "change"]).ok()["status"], "kept");
    // A baseline over an unchanged setup is not flagged.
    let again = run(&sb, &["--baseline", "-m", "again"]).ok();
    assert_eq!(again["flags"], json!([]));
}

#[test]
fn an_uncommitted_harness_change_is_still_refused_as_before() {
    let sb = project();
    sb.write("eval.sh", "echo \"score: 0\"\n");
    set_x(&sb, "0.5");
    let e = run(&sb, &["-m", "x"]).err("protected_changed", 2);
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("git checkout HEAD -- eval.sh"),
        "{e}"
    );
}

#[test]
fn a_new_baseline_keeps_the_night_visible_until_the_setup_changes() {
    let sb = project();
    set_x(&sb, "0.5");
    assert_eq!(run(&sb, &["-m", "halve x"]).ok()["status"], "kept");
    run(&sb, &["--baseline", "-m", "new GPU driver"]).ok();
    let status = sb.run(&["--json", "status"]).ok();
    assert_eq!(status["improvement"], 0.0);
    let since = &status["since_first_baseline"];
    assert_eq!(
        (
            since["baseline"]["run"].as_u64(),
            since["improvement"].as_f64()
        ),
        (Some(0), Some(0.5))
    );
    assert_eq!(since["improvement_pct"], 50.0);
    let out = sb.run(&["--json", "best"]);
    assert_eq!(out.ok()["since_first_baseline"], *since);
    let hints = out.json()["hints"].to_string();
    assert!(
        hints.contains("the work before it stands") && !hints.contains("still the best"),
        "{hints}"
    );
    let log = sb.run(&["--json", "log"]).ok();
    assert_eq!(log["since_first_baseline"], *since);
    let text = sb.run(&["--human", "status"]).stdout;
    assert!(
        text.contains("since first") && text.contains("since the first baseline #0"),
        "{text}"
    );
    // A new harness starts a new story: nothing is compared across setups.
    cheat(&sb);
    run(&sb, &["--baseline", "-m", "new harness"]).ok();
    let status = sb.run(&["--json", "status"]).ok();
    assert_eq!(status["since_first_baseline"], serde_json::Value::Null);
}

/// A project whose target `train.sh` is the eval itself (nothing protected but the config).
fn script_project(baseline: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write("train.sh", baseline);
    sb.write(".gitignore", ".count\n");
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.sh\"\neval_command = \"sh train.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"10s\"\n",
    );
    sb.commit_all("setup");
    run(&sb, &["-m", "baseline"]).ok();
    sb
}

/// An eval line printing `score` = `level` plus Gaussian noise of 0.5, seeded per evaluation.
const NOISY: &str = r#"n=$(cat .count 2>/dev/null || echo 0); n=$((n+1)); echo $n > .count
awk -v n="$n" 'BEGIN { srand(n); u = rand(); v = rand(); printf "score: %.4f\n", LEVEL + 0.5 * sqrt(-2 * log(u)) * cos(6.283185307 * v) }'
"#;

#[test]
fn a_target_that_prints_the_metric_itself_is_flagged() {
    let sb = script_project("echo \"score: 10\"\n");
    sb.write("train.sh", "echo \"score: 10\"\necho \"score: 8\"\n");
    let out = run(&sb, &["-m", "print a better number"]);
    let d = out.ok();
    assert_eq!(d["status"], "kept");
    assert_eq!(d["flags"], json!(["metric_repeated"]));
    let hints: Vec<String> = out.json()["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert!(hints[0].contains("more lines of its output"), "{hints:?}");
    assert!(
        !hints.iter().any(|h| h.contains("Build on it")),
        "{hints:?}"
    );
    // Still printing it twice is still flagged; printing it once is not.
    sb.write("train.sh", "echo \"score: 10\"\necho \"score: 7\"\n");
    assert_eq!(
        run(&sb, &["-m", "honest"]).ok()["flags"],
        json!(["metric_repeated"])
    );
    let sb = script_project("echo \"score: 10\"\n");
    sb.write("train.sh", "echo \"score: 9\"\n");
    assert_eq!(run(&sb, &["-m", "honest"]).ok()["flags"], json!([]));
}

#[test]
fn identical_samples_on_a_noisy_eval_are_flagged() {
    let sb = script_project(&NOISY.replace("LEVEL", "10"));
    sb.write("train.sh", "echo \"score: 8.5\"\n");
    let d = run(&sb, &["-m", "a constant"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
    assert_eq!(d["samples"].as_array().unwrap().len(), 5, "{d}");
    assert_eq!(d["flags"], json!(["zero_variance"]));
    // An honest gain on the same noisy eval: no flag.
    let sb = script_project(&NOISY.replace("LEVEL", "10"));
    sb.write("train.sh", &NOISY.replace("LEVEL", "8"));
    let d = run(&sb, &["-m", "honest"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
    assert_eq!(d["flags"], json!([]));
}

#[test]
fn an_eval_that_got_far_faster_than_its_metric_is_flagged() {
    let sb = script_project("sleep 0.4\necho \"score: 10\"\n");
    sb.write("train.sh", "echo \"score: 9\"\n");
    let d = run(&sb, &["-m", "skip the work"]).ok();
    assert_eq!(d["status"], "kept");
    assert_eq!(d["flags"], json!(["duration_collapsed"]));
    // Faster in proportion to the metric (a latency metric): no flag.
    let sb = script_project("sleep 0.4\necho \"score: 400\"\n");
    sb.write("train.sh", "sleep 0.05\necho \"score: 50\"\n");
    let d = run(&sb, &["-m", "really faster"]).ok();
    assert_eq!(d["status"], "kept");
    assert!(
        !d["flags"].to_string().contains("duration_collapsed"),
        "{d}"
    );
}

#[test]
fn a_keep_with_untracked_files_around_is_flagged_unless_they_are_ignored() {
    let sb = script_project("echo \"score: 10\"\n");
    sb.write("helper.sh", "echo \"score: 9\"\n");
    sb.write("train.sh", "sh helper.sh\n");
    let out = run(&sb, &["-m", "use a helper"]);
    let d = out.ok();
    assert_eq!(d["status"], "kept");
    assert_eq!(d["flags"], json!(["untracked_inputs"]));
    let warnings = out.json()["warnings"].to_string();
    assert!(
        warnings.contains("`helper.sh`") && warnings.contains("will not reproduce"),
        "{warnings}"
    );
    // Scratch that git ignores is not an input; the notebook neither.
    let sb = script_project("echo \"score: 10\"\n");
    sb.write(".gitignore", ".count\nscratch/\n");
    sb.write("scratch/notes.txt", "x");
    sb.write("program.md", "# notes\n");
    sb.commit_all("ignore scratch");
    sb.write("train.sh", "echo \"score: 9\"\n");
    assert_eq!(run(&sb, &["-m", "honest"]).ok()["flags"], json!([]));
}

#[test]
fn doctor_fails_a_harness_committed_since_the_baseline() {
    let sb = project();
    let ok = sb.run(&["--json", "doctor", "--no-eval"]);
    let check = |v: &serde_json::Value| {
        v["data"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "protected")
            .cloned()
            .unwrap()
    };
    assert_eq!(check(&ok.json())["status"], "pass");
    let culprit = cheat(&sb);
    let out = sb.run(&["--json", "doctor", "--no-eval"]);
    let c = check(&out.json());
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["message"].as_str().unwrap().contains(&culprit), "{c}");
    assert!(
        !c["message"]
            .as_str()
            .unwrap()
            .contains("Nothing was committed"),
        "doctor commits nothing anyway: {c}"
    );
    assert_eq!(
        out.code, 2,
        "the failing check's code decides: protected_changed"
    );
}

#[test]
fn declared_secondary_metrics_are_recorded_and_shown() {
    let sb = Sandbox::new();
    sb.write(
        "eval.sh",
        "x=$(sed -n 's/^x = //p' train.py)\necho \"score: $x\"\ncase $x in 1) echo \"acc: 0.91\" ;; 0.5) echo \"acc: 0.95\" ;; esac\n",
    );
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"10s\"\nprotected = [\"eval.sh\"]\nmetrics = [\"acc\", \"acc\"]\n",
    );
    sb.commit_all("setup");
    let base = run(&sb, &["-m", "baseline"]).ok();
    assert_eq!(base["metrics"], json!({"acc": 0.91}));
    set_x(&sb, "0.5");
    assert_eq!(
        run(&sb, &["-m", "change"]).ok()["metrics"],
        json!({"acc": 0.95})
    );
    let log = sb.run(&["--human", "log"]).stdout;
    let header = log.lines().next().unwrap();
    assert!(header.contains("metric") && header.contains("acc"), "{log}");
    assert!(log.contains("0.91"), "{log}");
    let csv = sb.run(&["export", "--format", "csv"]).stdout;
    assert!(csv.lines().next().unwrap().contains("metrics.acc"), "{csv}");
    // Missing from the output: recorded without it, and a warning says so.
    set_x(&sb, "3");
    let out = run(&sb, &["-m", "no acc"]);
    assert_eq!(out.ok()["metrics"], json!({}));
    assert!(
        out.json()["warnings"].to_string().contains("`acc`"),
        "{}",
        out.stdout
    );
    // The discard put x back to 0.5; doctor evaluates the work tree as it is.
    set_x(&sb, "3");
    let doc = sb.run(&["--json", "doctor"]).json();
    let c = doc["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "constraints_found")
        .cloned()
        .unwrap();
    assert_eq!(c["status"], "warn", "{c}");
}

#[test]
fn metrics_must_be_secondary_metric_names() {
    for (line, needle) in [
        ("metrics = [\"score\"]", "the metric itself"),
        ("metrics = [\"not a name\"]", "not a metric name"),
        ("metrics = [1]", "strings"),
    ] {
        let sb = Sandbox::new();
        sb.write(
            "autoresearch.toml",
            &format!("target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\n{line}\n"),
        );
        let e = sb.run(&["--json", "doctor", "--no-eval"]).json();
        assert!(e.to_string().contains(needle), "{line}: {e}");
    }
}

#[test]
fn hand_commits_are_part_of_the_experiment_and_a_discard_takes_them_back() {
    let sb = project();
    let left = sb.head();
    set_x(&sb, "5");
    let worse = sb.commit_all("x = 5, by hand");
    let out = run(&sb, &["--allow-empty", "-m", "the hand commit"]);
    let d = out.ok();
    assert_eq!(d["status"], "discarded", "a candidate, not a re-check: {d}");
    assert_eq!(d["reverted"], true);
    assert_eq!(d["commit"], worse.as_str());
    assert_eq!(sb.ledger_lines().pop().unwrap()["parent"], left.as_str());
    assert_eq!(
        sb.head(),
        left,
        "the branch is back where the last run left it"
    );
    assert_eq!(sb.read("train.py"), "x = 1\n");
    let warnings = out.json()["warnings"].to_string();
    assert!(warnings.contains("1 commit was made by hand"), "{warnings}");
    // A better one, with an uncommitted change on top: one experiment, kept, from `left`.
    set_x(&sb, "0.75");
    sb.commit_all("x = 0.75, by hand");
    set_x(&sb, "0.5");
    let d = run(&sb, &["-m", "hand commit and an edit"]).ok();
    assert_eq!(d["status"], "kept", "{d}");
    assert_eq!(sb.ledger_lines().pop().unwrap()["parent"], left.as_str());
    // No hand commits now: a run without a change is refused as before.
    run(&sb, &["-m", "nothing"]).err("no_changes", 2);
}

#[test]
fn hand_commits_of_other_files_are_bookkeeping_and_mixed_ones_are_refused() {
    let sb = project();
    // Notes or a config change committed alone: no experiment.
    sb.write("NOTES.md", "what I learned\n");
    sb.commit_all("notes, by hand");
    let e = run(&sb, &["-m", "x"]).err("no_changes", 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The 1 commit made by hand since the last run"),
        "{e}"
    );
    assert_eq!(
        run(&sb, &["--allow-empty", "-m", "x"]).ok()["status"],
        "recheck"
    );
    // The target and another file in the same hand commits: a revert would take both back.
    set_x(&sb, "0.5");
    sb.write("other.py", "y = 2\n");
    sb.commit_all("both, by hand");
    let lines = sb.ledger_lines().len();
    let e = run(&sb, &["--allow-empty", "-m", "x"]).err("out_of_scope", 2);
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("by hand") && msg.contains("`other.py`"),
        "{msg}"
    );
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("git reset --keep"),
        "{e}"
    );
    assert_eq!(sb.ledger_lines().len(), lines);
}

#[test]
fn a_record_by_hand_means_the_caller_keeps_the_books() {
    let sb = project();
    set_x(&sb, "0.5");
    sb.commit_all("x = 0.5, by hand");
    sb.record("kept", Some("0.5"), "evaluated by hand");
    // The hand commit is the caller's recorded experiment: a no-change run re-checks it.
    assert_eq!(
        run(&sb, &["--allow-empty", "-m", "x"]).ok()["status"],
        "recheck"
    );
}

#[test]
fn a_retracted_keep_no_longer_counts_and_the_envelope_says_how_to_undo_it() {
    let sb = project();
    set_x(&sb, "0.8");
    let honest = run(&sb, &["-m", "honest"]).ok();
    set_x(&sb, "0.001");
    let hack = run(&sb, &["-m", "the hack"]).ok();
    assert_eq!(hack["status"], "kept");
    let out = sb.run(&[
        "--json",
        "retract",
        &hack["run"].to_string(),
        "-m",
        "cached the inputs",
    ]);
    let d = out.ok();
    assert_eq!(d["retracted"]["run"], hack["run"]);
    assert_eq!(d["best_before"]["run"], hack["run"]);
    assert_eq!(d["best_after"]["run"], honest["run"], "the best goes back");
    assert_eq!(d["in_code"], true);
    let parent = sb.ledger_lines()[hack["run"].as_u64().unwrap() as usize]["parent"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(d["undo"], format!("git reset --keep {parent}").as_str());
    let line = sb.ledger_lines().pop().unwrap();
    assert_eq!(
        (line["status"].as_str(), line["retracts"].clone()),
        (Some("retraction"), hack["run"].clone())
    );
    let status = sb.run(&["--json", "status"]).ok();
    assert_eq!(status["best"]["run"], honest["run"]);
    assert_eq!(status["counts"]["retraction"], 1);
    // log marks it, with why.
    let log = sb.run(&["--json", "log"]).ok();
    assert_eq!(
        log["retracted"][hack["run"].to_string()],
        "cached the inputs"
    );
    let text = sb.run(&["--human", "log"]).stdout;
    assert!(text.contains("kept, retracted"), "{text}");
    // Once only; and only keeps.
    sb.run(&["--json", "retract", &hack["run"].to_string(), "-m", "again"])
        .err("not_retractable", 2);
    sb.run(&["--json", "retract", "0", "-m", "the baseline"])
        .err("not_retractable", 2);
    sb.run(&["--json", "retract", "99", "-m", "x"])
        .err("run_not_found", 2);
    sb.run(&["--json", "retract", &honest["run"].to_string()])
        .err("usage", 2);
    // After `git reset --keep`, the next honest change is judged against the honest best.
    let status = std::process::Command::new("git")
        .args(["reset", "--keep", &parent])
        .current_dir(&sb.root)
        .status()
        .unwrap();
    assert!(status.success());
    set_x(&sb, "0.7");
    assert_eq!(run(&sb, &["-m", "next"]).ok()["status"], "kept");
}
