//! `autoresearch doctor`: the checklist, its exit codes, and a bounded eval.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const IDS: [&str; 20] = [
    "git_repo",
    "identity",
    "hooks",
    "config_found",
    "config_valid",
    "program",
    "targets",
    "protected",
    "branch",
    "clean_tree",
    "eval_runs",
    "metric_found",
    "constraints_found",
    "runtime",
    "ledger",
    "loop_lock",
    "state_fs",
    "state_ignored",
    "worktree_inputs",
    "skill_installed",
];

/// An initialized sandbox with a real program.md, committed.
fn healthy() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    sb.write("program.md", "# Research program\n\nMake `score` lower.\n");
    sb.commit_all("program");
    sb
}

fn checks(v: &Value) -> Vec<(String, String)> {
    v["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of(v: &Value, id: &str) -> String {
    checks(v)
        .into_iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no check {id}: {v}"))
        .1
}

/// The check `id` of a doctor envelope (its `data`, on success or failure).
fn check_of(v: &Value, id: &str) -> Value {
    v["data"]["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {v}"))
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {v}"))
        .clone()
}

fn message_of(v: &Value, id: &str) -> String {
    check_of(v, id)["message"].as_str().unwrap().to_string()
}

/// Replace the config's eval command and budget, and commit.
fn set_eval(sb: &Sandbox, eval: &str, budget: &str) {
    let text = sb.read("autoresearch.toml");
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("eval_command") {
            out.push_str(&format!(
                "eval_command = {}\n",
                serde_json::to_string(eval).unwrap()
            ));
        } else if line.starts_with("kill_grace") {
            continue;
        } else if line.starts_with("time_budget") {
            out.push_str(&format!(
                "time_budget = \"{budget}\"\nkill_grace = \"1s\"\n"
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    sb.write("autoresearch.toml", &out);
    sb.commit_all("eval");
}

#[test]
fn a_healthy_project_passes_with_every_check() {
    let sb = healthy();
    sb.write(
        ".claude/skills/autoresearch/SKILL.md",
        "---\nname: autoresearch\n---\n",
    );
    sb.commit_all("skill");
    let out = sb.run(&["--json", "doctor"]);
    let d = out.ok();
    let v = out.json();
    let got: Vec<String> = checks(&v).into_iter().map(|c| c.0).collect();
    assert_eq!(got, IDS);
    assert!(got.len() >= 14);
    for c in d["checks"].as_array().unwrap() {
        assert_eq!(keys(c), ["id", "status", "message", "suggestion"]);
        let s = c["status"].as_str().unwrap();
        assert!(["pass", "warn", "skip"].contains(&s), "{c}");
        assert!(!c["message"].as_str().unwrap().is_empty(), "{c}");
    }
    assert_eq!(d["ok"], true);
    assert_eq!(d["failed"], 0);
    for id in [
        "eval_runs",
        "metric_found",
        "runtime",
        "skill_installed",
        "branch",
        "targets",
    ] {
        assert_eq!(status_of(&v, id), "pass", "{id}");
    }
    assert!(
        message_of(&v, "metric_found").contains("`score` = 1"),
        "{d}"
    );
    assert!(d["next"].as_str().unwrap().contains("baseline"), "{d}");
    assert!(sb.path(".autoresearch/runs/doctor.log").exists());

    let out = sb.run(&["--human", "doctor"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("✓ eval_runs"), "{}", out.stdout);
    assert!(
        out.stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("Next: "),
        "{}",
        out.stdout
    );
}

#[test]
fn a_hanging_eval_fails_within_budget_and_grace() {
    let sb = healthy();
    set_eval(&sb, "trap '' TERM; sleep 1000", "1s");
    let t = Instant::now();
    let out = sb.run(&["--json", "doctor"]);
    let wall = t.elapsed();
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    let v = out.err("eval_failed", 1);
    assert_eq!(status_of(&v, "eval_runs"), "fail");
    assert_eq!(status_of(&v, "metric_found"), "skip");
    assert_eq!(v["data"]["ok"], false);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eval_runs"),
        "{v}"
    );
}

#[test]
fn a_missing_metric_or_constraint_metric_fails_the_eval_checks() {
    let sb = healthy();
    set_eval(&sb, "echo hello", "10s");
    let v = sb.run(&["--json", "doctor"]).err("eval_failed", 1);
    assert_eq!(status_of(&v, "eval_runs"), "pass");
    assert_eq!(status_of(&v, "metric_found"), "fail");

    set_eval(&sb, "echo 'score: 1'", "10s");
    let text = sb.read("autoresearch.toml") + "constraints = [\"memory_gb <= 44\"]\n";
    sb.write("autoresearch.toml", &text);
    sb.commit_all("constraint");
    let v = sb.run(&["--json", "doctor"]).err("eval_failed", 1);
    assert_eq!(status_of(&v, "metric_found"), "pass");
    assert_eq!(status_of(&v, "constraints_found"), "fail");
}

#[test]
fn a_broken_config_exits_2() {
    let sb = healthy();
    let text = sb
        .read("autoresearch.toml")
        .replace("\"lower\"", "\"sideways\"");
    sb.write("autoresearch.toml", &text);
    let v = sb.run(&["--json", "doctor"]).err("config_invalid", 2);
    assert_eq!(status_of(&v, "config_valid"), "fail");
    assert_eq!(status_of(&v, "eval_runs"), "skip");
    assert_eq!(checks(&v).len(), IDS.len());

    let sb = Sandbox::new();
    let v = sb.run(&["--json", "doctor"]).err("not_initialized", 2);
    assert_eq!(status_of(&v, "config_found"), "fail");
    assert_eq!(status_of(&v, "git_repo"), "pass");

    let sb = Sandbox::no_git();
    let v = sb.run(&["--json", "doctor"]).err("not_git_repo", 2);
    assert_eq!(checks(&v).len(), IDS.len());
}

#[test]
fn setup_problems_outrank_eval_problems() {
    let sb = healthy();
    set_eval(&sb, "exit 1", "10s");
    // A modified file outside the target: `run` would refuse with out_of_scope.
    sb.write("other.py", "y = 1\n");
    sb.commit_all("other");
    sb.write("other.py", "y = 2\n");
    let v = sb.run(&["--json", "doctor"]).err("out_of_scope", 2);
    assert_eq!(status_of(&v, "clean_tree"), "fail");
    assert_eq!(status_of(&v, "eval_runs"), "fail");
    // The eval script `init` protected: protected_changed, a setup problem too.
    sb.write("other.py", "y = 1\n");
    sb.write("eval.sh", "echo changed\n");
    let v = sb.run(&["--json", "doctor"]).err("protected_changed", 2);
    assert_eq!(status_of(&v, "clean_tree"), "fail");
    assert_eq!(status_of(&v, "eval_runs"), "fail");
}

#[test]
fn no_eval_skips_the_eval_checks() {
    let sb = healthy();
    set_eval(&sb, "sleep 1000", "30s");
    let t = Instant::now();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).ok();
    assert!(t.elapsed() < Duration::from_secs(5));
    for c in v["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        if ["eval_runs", "metric_found", "constraints_found", "runtime"].contains(&id) {
            assert_eq!(c["status"], "skip", "{id}");
        }
    }
}

#[test]
fn the_skill_check_looks_in_the_agents_places() {
    let sb = healthy();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "skill_installed"), "warn");
    let skill = check_of(&v, "skill_installed");
    // No agent seen in the sandbox: the two targets that cover every agent, not `all`.
    let suggestion = skill["suggestion"].as_str().unwrap();
    assert!(
        suggestion.contains("`autoresearch install claude-code agents`"),
        "{suggestion}"
    );
    assert!(suggestion.contains("--global"), "{suggestion}");
    assert!(!suggestion.contains("install all"), "{suggestion}");

    // `CLAUDE_CONFIG_DIR` replaces `~/.claude`.
    let claude = sb.home.join("claude-config");
    std::fs::create_dir_all(claude.join("skills/autoresearch")).unwrap();
    std::fs::write(claude.join("skills/autoresearch/SKILL.md"), "x").unwrap();
    let mut cmd = sb.cmd(&["--json", "doctor", "--no-eval"]);
    cmd.env("CLAUDE_CONFIG_DIR", &claude);
    let v = run_cmd(cmd).json();
    assert_eq!(status_of(&v, "skill_installed"), "pass");

    // A user-level skill for another agent.
    std::fs::create_dir_all(sb.home.join(".gemini/skills/autoresearch")).unwrap();
    std::fs::write(sb.home.join(".gemini/skills/autoresearch/SKILL.md"), "x").unwrap();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "skill_installed"), "pass");
}

#[test]
fn the_skill_check_warns_when_an_installed_skill_is_older() {
    let sb = healthy();
    sb.run(&["--json", "install", "claude-code"]).ok();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "skill_installed"), "pass");
    let skill = sb.path(".claude/skills/autoresearch/SKILL.md");
    let text = std::fs::read_to_string(&skill).unwrap();
    let old = text.replace(
        &format!("autoresearch-version: \"{}\"", env!("CARGO_PKG_VERSION")),
        "autoresearch-version: \"0.0.1\"",
    );
    assert_ne!(old, text, "the skill carries a version marker");
    std::fs::write(&skill, old).unwrap();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "skill_installed"), "warn", "{v}");
    // Only the outdated copy is named, in its scope.
    assert!(
        v["hints"]
            .to_string()
            .contains("`autoresearch install claude-code`"),
        "{v}"
    );
}

/// The suggestion covers the agents doctor sees, and no more: a variable the agent sets in its
/// shell, the agent's files in the repository, or its directory in HOME.
#[test]
fn the_skill_check_recommends_the_smallest_install_for_the_agents_seen() {
    let suggestion = |sb: &Sandbox, var: Option<&str>| {
        let mut cmd = sb.cmd(&["--json", "doctor", "--no-eval"]);
        if let Some(v) = var {
            cmd.env(v, "1");
        }
        let v = run_cmd(cmd).json();
        let check = check_of(&v, "skill_installed");
        (
            check["message"].as_str().unwrap().to_string(),
            check["suggestion"].as_str().unwrap().to_string(),
        )
    };
    let sb = healthy();
    let (message, s) = suggestion(&sb, Some("CLAUDECODE"));
    assert!(
        s.contains("Run `autoresearch install claude-code` ("),
        "{s}"
    );
    assert!(
        message.contains("Claude Code (`CLAUDECODE` is set)"),
        "{message}"
    );
    let (_, s) = suggestion(&sb, Some("GEMINI_CLI"));
    assert!(s.contains("Run `autoresearch install agents` ("), "{s}");

    std::fs::create_dir_all(sb.path(".claude")).unwrap();
    let (message, s) = suggestion(&sb, None);
    assert!(
        s.contains("Run `autoresearch install claude-code` ("),
        "{s}"
    );
    assert!(message.contains("(`.claude`)"), "{message}");
    std::fs::create_dir_all(sb.home.join(".codex")).unwrap();
    let (message, s) = suggestion(&sb, None);
    assert!(
        s.contains("Run `autoresearch install claude-code agents` ("),
        "{s}"
    );
    assert!(message.contains("Codex (`~/.codex`)"), "{message}");
}

#[test]
fn ledger_and_loop_problems_are_warnings() {
    let sb = healthy();
    sb.record("baseline", Some("1"), "b");
    let ledger = sb.path(".autoresearch/experiments.jsonl");
    let mut text = std::fs::read_to_string(&ledger).unwrap();
    text.push_str("garbage\n{\"run\":5,\"status\":\"ke");
    std::fs::write(&ledger, text).unwrap();
    std::fs::write(
        sb.path(".autoresearch/loop.json"),
        r#"{"pid":0,"host":"HOST","started_at":"","iteration":3,"heartbeat_at":"","active":true,"run":1}"#
            .replace("HOST", &hostname()),
    )
    .unwrap();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "ledger"), "warn");
    assert_eq!(status_of(&v, "loop_lock"), "warn");
    assert_eq!(v["status"], "success");
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Notes in `program.md` are not an experiment, and the clean-tree check says so instead of
/// claiming that nothing is modified.
#[test]
fn the_clean_tree_check_tells_notes_from_changes() {
    let sb = healthy();
    let d = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(message_of(&d, "clean_tree"), "no tracked file is modified");
    sb.write(
        "program.md",
        "# Research program\n\nMake `score` lower.\n\nNotes.\n",
    );
    let d = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&d, "clean_tree"), "pass");
    let msg = message_of(&d, "clean_tree");
    assert!(
        msg.starts_with("no tracked file other than `program.md` is modified"),
        "{msg}"
    );
}

/// A failing check that is not the eval gives its own code: an unreadable ledger is an
/// `io_error` (exit 1), not `eval_failed`, even with `--no-eval`.
#[test]
fn a_failing_ledger_check_gives_its_own_code() {
    let sb = healthy();
    std::fs::create_dir_all(sb.path(".autoresearch/experiments.jsonl")).unwrap();
    let out = sb.run(&["--json", "doctor", "--no-eval"]);
    let v = out.err("io_error", 1);
    assert_eq!(status_of(&v, "ledger"), "fail");
}

/// Commit hooks are named: experiment commits never run them.
#[test]
fn configured_commit_hooks_are_named() {
    use std::os::unix::fs::PermissionsExt;
    let sb = healthy();
    let d = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&d, "hooks"), "pass");
    let hook = sb.path(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&d, "hooks"), "warn");
    assert!(message_of(&d, "hooks").contains("`pre-commit`"), "{d}");
}

/// Torn tails moved out of the ledger count nowhere: while `experiments.jsonl.torn` exists, the
/// ledger check warns, says how many it holds and which are whole records.
#[test]
fn a_torn_tails_file_is_a_ledger_warning() {
    let sb = healthy();
    sb.record("baseline", Some("1"), "b");
    let ledger = sb.path(".autoresearch/experiments.jsonl");
    let append = |bytes: &str| {
        let mut text = std::fs::read_to_string(&ledger).unwrap();
        text.push_str(bytes);
        std::fs::write(&ledger, text).unwrap();
    };
    append("{\"run\":1,\"status\":\"ke");
    sb.record("kept", Some("0.9"), "moves the torn tail aside");
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(v["status"], "success");
    assert_eq!(status_of(&v, "ledger"), "warn", "{v}");
    let msg = message_of(&v, "ledger");
    assert!(
        msg.contains("`experiments.jsonl.torn` holds 1 torn tail moved out of the ledger"),
        "{msg}"
    );
    assert!(!msg.contains("complete record"), "{msg}");
    assert!(v["hints"].to_string().contains("rm "), "{v}");

    append(r#"{"run":2,"status":"kept","metric":0.8}"#);
    sb.record("discarded", Some("0.95"), "moves a whole record aside");
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    let msg = message_of(&v, "ledger");
    assert!(msg.starts_with("3 records; "), "{msg}");
    assert!(
        msg.contains("holds 2 torn tails moved out of the ledger by earlier writes, 1 of them a complete record (run #2)"),
        "{msg}"
    );

    std::fs::remove_file(sb.path(".autoresearch/experiments.jsonl.torn")).unwrap();
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "ledger"), "pass", "{v}");
}

/// `score: 1,234` is still no metric, but the doctor says the number is the problem.
#[test]
fn a_number_with_thousands_separators_is_named_by_the_metric_check() {
    let sb = healthy();
    set_eval(&sb, "echo 'score: 1,234'", "10s");
    let v = sb.run(&["--json", "doctor"]).err("eval_failed", 1);
    assert_eq!(status_of(&v, "metric_found"), "fail");
    assert_eq!(
        message_of(&v, "metric_found"),
        "`score` is followed by `1,234`, which is not a number in the metric grammar (no thousands separators)"
    );
    assert!(v["hints"].to_string().contains("no separators"), "{v}");
}

/// What the eval's run warns about (here: its log on a full disk) reaches `doctor`'s envelope.
#[test]
fn the_evals_warnings_reach_the_doctors_envelope() {
    let sb = healthy();
    std::fs::create_dir_all(sb.path(".autoresearch/runs")).unwrap();
    std::os::unix::fs::symlink("/dev/full", sb.path(".autoresearch/runs/doctor.log")).unwrap();
    let v = sb.run(&["--json", "doctor"]).json();
    assert!(
        v["warnings"]
            .to_string()
            .contains("no space left on device"),
        "{v}"
    );
}

fn suggestion_of(v: &Value, id: &str) -> String {
    check_of(v, id)["suggestion"]
        .as_str()
        .unwrap_or_else(|| panic!("no suggestion for {id}: {v}"))
        .to_string()
}

/// Nothing protected is a warning (not a failure): the suggestion names the files the eval
/// command runs, with the exact line to add, or asks for the harness when it names none.
#[test]
fn nothing_protected_is_a_warning_that_names_the_eval_files() {
    let sb = Sandbox::new();
    let mut init = vec!["--json"];
    init.extend_from_slice(INIT);
    init.push("--no-protect");
    sb.run(&init).ok();
    sb.write("program.md", "# Research program\n\nMake `score` lower.\n");
    sb.commit_all("setup");
    let out = sb.run(&["--json", "doctor", "--no-eval"]);
    let v = out.json();
    assert_eq!(out.code, 0, "a warning, not a failure: {v}");
    assert_eq!(status_of(&v, "protected"), "warn");
    assert!(
        message_of(&v, "protected").starts_with("no protected files"),
        "{v}"
    );
    let s = suggestion_of(&v, "protected");
    assert!(
        s.contains("`eval.sh`")
            && s.contains("`protected = [\"eval.sh\"]`")
            && s.contains("`autoresearch.toml`"),
        "{s}"
    );
    assert!(
        v["hints"]
            .to_string()
            .contains("protected = [\\\"eval.sh\\\"]"),
        "{v}"
    );

    // Adding that line is what makes it pass.
    let text = sb.read("autoresearch.toml") + "protected = [\"eval.sh\"]\n";
    sb.write("autoresearch.toml", &text);
    sb.commit_all("protect");
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "protected"), "pass");
    assert!(message_of(&v, "protected").contains("`eval.sh`"), "{v}");

    // An eval that names no file of the repository: the suggestion asks for the harness.
    let text = sb
        .read("autoresearch.toml")
        .replace("protected = [\"eval.sh\"]\n", "");
    sb.write("autoresearch.toml", &text);
    set_eval(&sb, "echo 'score: 1'", "10s");
    let v = sb.run(&["--json", "doctor", "--no-eval"]).json();
    assert_eq!(status_of(&v, "protected"), "warn");
    let s = suggestion_of(&v, "protected");
    assert!(
        s.starts_with("List the eval harness and the data files"),
        "{s}"
    );
}

/// Before `init`, the command the doctor suggests protects the harness.
#[test]
fn the_doctors_init_command_protects_the_harness() {
    let sb = Sandbox::new();
    let v = sb
        .run(&["--json", "doctor", "--no-eval"])
        .err("not_initialized", 2);
    for s in [
        suggestion_of(&v, "config_found"),
        v["data"]["next"].as_str().unwrap().to_string(),
        v["error"]["suggestion"].as_str().unwrap().to_string(),
    ] {
        assert!(
            s.contains("autoresearch init ") && s.contains("--protected <"),
            "{s}"
        );
    }
}

/// On a network file system shared with other hosts, the flock locks may not hold across them:
/// `state_fs` says so once another host has run a loop in `.autoresearch/`.
#[test]
fn a_state_directory_on_a_network_file_system_shared_with_other_hosts_is_a_warning() {
    let sb = healthy();
    let check = |sb: &Sandbox, fs: Option<&str>| {
        let mut c = sb.cmd(&["--json", "doctor", "--no-eval"]);
        if let Some(fs) = fs {
            c.env("AUTORESEARCH_TEST_FSTYPE", fs);
        }
        check_of(&run_cmd(c).json(), "state_fs")
    };
    let local = check(&sb, None);
    assert_eq!(local["status"], "pass", "{local}");
    let alone = check(&sb, Some("nfs"));
    assert_eq!(alone["status"], "pass", "{alone}");
    assert!(
        alone["message"]
            .as_str()
            .unwrap()
            .contains("only this host"),
        "{alone}"
    );
    // Another host's loop state.
    sb.write(
        LOOP_STATE,
        r#"{"pid":1,"host":"gpu-07","started_at":"2026-01-01T00:00:00Z","iteration":3,"heartbeat_at":"2026-01-01T00:00:00Z","active":false,"run":4}"#,
    );
    let shared = check(&sb, Some("nfs"));
    assert_eq!(shared["status"], "warn", "{shared}");
    let message = shared["message"].as_str().unwrap();
    assert!(
        message.contains("nfs") && message.contains("gpu-07"),
        "{message}"
    );
    assert!(
        shared["suggestion"]
            .as_str()
            .unwrap()
            .contains("clone of its own"),
        "{shared}"
    );
    assert!(!message.contains("shard"), "not syncing: no shard to name");
    // A clone that syncs: the hosts all write one worker's shard.
    sb.write(".autoresearch/worker", "lab-1\n");
    let synced = check(&sb, Some("nfs"));
    let message = synced["message"].as_str().unwrap();
    assert!(message.contains("shard of worker `lab-1`"), "{message}");
    assert!(
        synced["suggestion"]
            .as_str()
            .unwrap()
            .contains("autoresearch sync"),
        "{synced}"
    );
}
