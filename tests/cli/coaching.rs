//! Coaching: an agent that reads nothing but envelopes gets from an empty repository, with no
//! skill installed, to a recorded baseline by doing what the hints say: `status` → `init` →
//! `doctor` → `run`. And the hints match the state the code is in: a crash that was reverted
//! names the ref that brings it back, one that was not does not; a timeout may be a hang;
//! `out_of_scope` never offers the config, a protected file or the harness as a target; no way
//! back counts commits from HEAD (`HEAD~1`) or throws uncommitted notes away (`--hard`).

use serde_json::Value;

use crate::common::*;

/// Shell-ish words: quotes group and are removed.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// The backticked spans of every hint (and of the error's suggestion), in order.
fn spans(v: &Value) -> Vec<String> {
    let mut texts: Vec<String> = v["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    if let Some(s) = v["error"]["suggestion"].as_str() {
        texts.push(s.to_string());
    }
    texts
        .iter()
        .flat_map(|t| {
            t.split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The first hinted `autoresearch <sub> ...` command, as words after `autoresearch`.
fn hinted(v: &Value, sub: &str) -> Vec<String> {
    spans(v)
        .into_iter()
        .map(|s| words(&s))
        .find(|w| w.len() >= 2 && w[0] == "autoresearch" && w[1] == sub)
        .unwrap_or_else(|| panic!("no hint names `autoresearch {sub}`: {v}"))[1..]
        .to_vec()
}

/// Fill placeholders the way an agent would, from what it knows about its project.
fn fill(args: Vec<String>, values: &[(&str, &str)]) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            values
                .iter()
                .find(|(k, _)| *k == a)
                .map_or(a, |(_, v)| v.to_string())
        })
        .collect()
}

fn call(sb: &Sandbox, args: &[String]) -> Value {
    let mut full: Vec<&str> = vec!["--json"];
    full.extend(args.iter().map(String::as_str));
    let out = sb.run(&full);
    let v = out.json();
    assert_eq!(
        v["status"],
        "success",
        "`autoresearch {}` failed: {v}",
        args.join(" ")
    );
    assert_eq!(out.code, 0);
    v
}

#[test]
fn hints_lead_from_an_empty_repository_to_a_baseline() {
    let sb = Sandbox::empty();
    // The agent's project: code to optimise and an eval that prints the metric.
    sb.write("train.py", "x = 3\n");
    sb.write(
        "eval.sh",
        "#!/bin/sh\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n",
    );

    // 1. status: not set up; the hint names `init` with placeholders.
    let v = call(&sb, &["status".to_string()]);
    assert_eq!(v["data"]["initialized"], false);
    assert_eq!(
        v["data"]["skills"],
        serde_json::json!([]),
        "no skill installed"
    );
    let init = fill(
        hinted(&v, "init"),
        &[
            ("<file>", "train.py"),
            ("<cmd>", "sh eval.sh"),
            ("<name>", "score"),
            ("lower|higher", "lower"),
            ("<eval-script>", "eval.sh"),
        ],
    );

    // 2. init: the hints say to commit (with the exact files) and then to run doctor.
    let v = call(&sb, &init);
    let git_add = spans(&v)
        .into_iter()
        .find(|s| s.starts_with("git add "))
        .unwrap_or_else(|| panic!("no commit hint: {v}"));
    let (add, _) = git_add
        .split_once(" && ")
        .expect("git add ... && git commit ...");
    let mut paths = words(add)[2..].to_vec();
    assert!(
        paths.contains(&"train.py".to_string()),
        "the untracked target is named: {git_add}"
    );
    let all_hints = v["hints"].to_string();
    if all_hints.contains("no commit yet") {
        // "add the files the eval needs as well"
        paths.push("eval.sh".to_string());
    }
    let repo = sb.repo();
    let mut index = repo.index().unwrap();
    for p in &paths {
        index.add_path(std::path::Path::new(p)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Agent", "agent@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "autoresearch setup", &tree, &[])
        .unwrap();
    let doctor = hinted(&v, "doctor");

    // 3. doctor: everything checks out; the hint names the baseline run.
    let v = call(&sb, &doctor);
    let run = hinted(&v, "run");

    // 4. run: the baseline is recorded.
    let v = call(&sb, &run);
    assert_eq!(v["data"]["status"], "baseline", "{v}");
    assert_eq!(v["data"]["metric"], 3.0);
    let ledger = sb.ledger_lines();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["status"], "baseline");

    // And from here the hints keep the loop going.
    let v = call(&sb, &["status".to_string()]);
    assert!(
        spans(&v)
            .iter()
            .any(|s| s.starts_with("autoresearch run -m")),
        "{v}"
    );
}

/// An eval that crashes on `x = exit3`, hangs on `x = hang`, else prints `score: <x>`.
const STATE_EVAL: &str = r#"x=$(sed -n 's/^x = //p' train.py)
case "$x" in
  exit3) echo "boom: it broke" >&2; exit 3 ;;
  hang) sleep 1000 ;;
  *) echo "score: $x" ;;
esac
"#;

/// A project with targets `train.py` and `my util.py` (a name that needs quoting), the eval
/// above, `data.txt` protected and `other.py` outside everything; its baseline is recorded.
fn state_project() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("eval.sh", STATE_EVAL);
    sb.write("my util.py", "u = 1\n");
    sb.write("data.txt", "1 2 3\n");
    sb.write("other.py", "y = 1\n");
    sb.write(
        "autoresearch.toml",
        "target_file = [\"train.py\", \"my util.py\"]\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"1s\"\nkill_grace = \"1s\"\nrepeats = 1\nbaseline_repeats = 1\nprotected = [\"data.txt\"]\n",
    );
    sb.commit_all("setup");
    assert_eq!(run(&sb, &["-m", "baseline"]).ok()["status"], "baseline");
    sb
}

/// Every hint and the error's suggestion, as one string.
fn advice(v: &Value) -> String {
    format!("{} {}", v["hints"], v["error"]["suggestion"])
}

/// The way back never counts commits from HEAD and never throws uncommitted work away.
fn assert_no_blind_reset(v: &Value) {
    let text = advice(v);
    assert!(
        !text.contains("HEAD~") && !text.contains("--hard"),
        "a hint or suggestion says `HEAD~` or `--hard`: {v}"
    );
}

#[test]
fn a_crash_names_the_command_that_brings_the_reverted_code_back() {
    let sb = state_project();
    set_x(&sb, "exit3");
    let v = run(&sb, &["-m", "a slip"]).json();
    let d = &v["data"];
    assert_eq!(d["status"], "crash", "{v}");
    assert_eq!(d["reverted"], true, "{v}");
    let n = d["run"].as_u64().unwrap();
    let restore = format!("git checkout refs/autoresearch/runs/{n} -- train.py 'my util.py'");
    let hints = v["hints"].to_string();
    assert!(hints.contains(&format!("`{restore}`")), "{v}");
    assert!(hints.contains("fix the slip and run again"), "{v}");
    assert_no_blind_reset(&v);
    // The ref it names holds the broken code.
    let repo = sb.repo();
    let commit = repo
        .revparse_single(&format!("refs/autoresearch/runs/{n}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let entry = commit
        .tree()
        .unwrap()
        .get_path(std::path::Path::new("train.py"))
        .unwrap();
    let blob = repo.find_blob(entry.id()).unwrap();
    assert_eq!(blob.content(), b"x = exit3\n");

    // Not reverted (--no-revert): the broken code is still there, so no checkout; the way back
    // names the parent and keeps uncommitted notes.
    let parent = sb.head();
    set_x(&sb, "exit3");
    sb.write("my util.py", "u = 2\n");
    let v = run(&sb, &["--no-revert", "-m", "a slip, kept on the branch"]).json();
    assert_eq!(v["data"]["status"], "crash", "{v}");
    assert_eq!(v["data"]["reverted"], false, "{v}");
    let hints = v["hints"].to_string();
    assert!(!hints.contains("git checkout"), "{v}");
    assert!(hints.contains(&format!("git reset --keep {parent}")), "{v}");
    assert_no_blind_reset(&v);
}

#[test]
fn a_timeout_hint_says_the_change_may_hang() {
    let sb = state_project();
    set_x(&sb, "hang");
    let v = run(&sb, &["-m", "an endless loop"]).json();
    let d = &v["data"];
    assert_eq!(d["status"], "timeout", "{v}");
    let hint = v["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .find(|h| h.starts_with("Timed out"))
        .unwrap_or_else(|| panic!("no timeout hint: {v}"));
    assert!(
        hint.contains("slower than the budget") && hint.contains("hang"),
        "{hint}"
    );
    assert!(
        hint.contains("infinite loop") && hint.contains("last lines"),
        "{hint}"
    );
    let n = d["run"].as_u64().unwrap();
    assert!(
        hint.contains(&format!(
            "git checkout refs/autoresearch/runs/{n} -- train.py 'my util.py'"
        )),
        "{hint}"
    );
    assert_no_blind_reset(&v);
}

#[test]
fn record_of_a_crash_names_its_run_ref() {
    let sb = state_project();
    set_x(&sb, "exit3");
    sb.commit_all("a slip, evaluated by hand");
    let v = sb
        .run(&["--json", "record", "--status", "crash", "-m", "a slip"])
        .json();
    assert_eq!(v["status"], "success", "{v}");
    let n = v["data"]["record"]["run"].as_u64().unwrap();
    let hints = v["hints"].to_string();
    assert!(
        hints.contains(&format!(
            "git checkout refs/autoresearch/runs/{n} -- <target file>"
        )),
        "{v}"
    );
    assert_no_blind_reset(&v);
}

/// The suggestion's sentences that mention `target_file`.
fn widening(suggestion: &str) -> Vec<&str> {
    suggestion
        .split(". ")
        .filter(|s| s.contains("target_file"))
        .collect()
}

#[test]
fn out_of_scope_never_suggests_making_the_yardstick_a_target() {
    let sb = state_project();
    let config = sb.read("autoresearch.toml");

    // Only the config: undo it, or commit it alone and start a new baseline; never widen.
    set_x(&sb, "0.5");
    sb.write("autoresearch.toml", &format!("{config}# a tweak\n"));
    let v = run(&sb, &["-m", "a tweak"]).err("out_of_scope", 2);
    let s = v["error"]["suggestion"].as_str().unwrap();
    assert!(!s.contains("target_file"), "{s}");
    assert!(
        s.contains("`git checkout HEAD -- autoresearch.toml`"),
        "{s}"
    );
    assert!(
        s.contains("`git commit autoresearch.toml -m \"<why>\"`")
            && s.contains("`autoresearch run --baseline -m \"<why>\"`"),
        "{s}"
    );
    assert_no_blind_reset(&v);

    // A protected file, the harness (named in the eval command), the config and an outside
    // file: the protected file is refused first, with no word of widening the targets.
    sb.write("data.txt", "0 0 0\n");
    sb.write("eval.sh", "echo 'score: 0'\n");
    sb.write("other.py", "y = 2\n");
    let v = run(&sb, &["-m", "everything"]).err("protected_changed", 2);
    assert!(!advice(&v).contains("target_file"), "{v}");
    assert_no_blind_reset(&v);

    // With the protected file restored: every file is undone, only `other.py` may be offered
    // to the human as a target, and the harness and the config are committed alone if at all.
    sb.write("data.txt", "1 2 3\n");
    let v = run(&sb, &["-m", "everything"]).err("out_of_scope", 2);
    let s = v["error"]["suggestion"].as_str().unwrap();
    assert!(
        s.contains("`git checkout HEAD -- autoresearch.toml eval.sh other.py`"),
        "{s}"
    );
    let widen = widening(s);
    assert_eq!(widen.len(), 1, "{s}");
    assert!(
        widen[0].contains("`other.py`") && widen[0].contains("human"),
        "{s}"
    );
    assert!(
        !widen[0].contains("autoresearch.toml`") && !widen[0].contains("eval.sh"),
        "{s}"
    );
    assert!(
        s.contains("`git commit autoresearch.toml eval.sh -m \"<why>\"`"),
        "{s}"
    );
    assert_no_blind_reset(&v);
}

#[test]
fn the_guides_name_commits_and_keep_notes() {
    let sb = Sandbox::no_git();
    for topic in ["crashes", "manual"] {
        let v = sb.run(&["--json", "guide", topic]).json();
        let text = v["data"]["text"].as_str().unwrap();
        assert!(
            !text.contains("HEAD~") && !text.contains("--hard"),
            "`guide {topic}` counts commits from HEAD or throws work away"
        );
    }
    let v = sb.run(&["--json", "guide", "manual"]).json();
    assert!(
        v["data"]["text"]
            .as_str()
            .unwrap()
            .contains("git reset --keep <parent>"),
        "the manual loop reverts to a named commit, keeping notes"
    );
    let v = sb.run(&["--json", "guide", "crashes"]).json();
    assert!(
        v["data"]["text"]
            .as_str()
            .unwrap()
            .contains("git checkout refs/autoresearch/runs/<run> -- <target files>"),
        "the crash guide names the run ref"
    );
}

/// Every 20 runs on a branch, the hints point at `review` and `report` to take stock.
#[test]
fn every_twenty_runs_the_hint_points_at_review_and_report() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "base");
    for i in 1..19 {
        sb.record("discarded", Some("2"), &format!("idea {i}"));
    }
    let out = sb.run(&[
        "--json",
        "record",
        "--status",
        "discarded",
        "--metric",
        "2",
        "--summary",
        "idea 19",
    ]);
    let hints = out.json()["hints"].to_string();
    assert!(
        hints.contains("20 runs on this branch")
            && hints.contains("autoresearch review")
            && hints.contains("autoresearch report"),
        "{hints}"
    );
}
