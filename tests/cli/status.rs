use crate::common::*;

#[test]
fn status_before_init_says_how_to_start() {
    let sb = Sandbox::new();
    let v = sb.run(&["--json", "status"]).json();
    assert_eq!(v["data"]["initialized"], false);
    let hint = v["hints"][0].as_str().unwrap();
    assert!(hint.contains("autoresearch init"), "{hint}");
    // The command to copy protects the harness.
    assert!(hint.contains(" --protected <"), "{hint}");
    // So does the suggestion of a command that needs the config.
    let v = sb.run(&["--json", "log"]).err("not_initialized", 2);
    let s = v["error"]["suggestion"].as_str().unwrap();
    assert!(
        s.contains("autoresearch init ") && s.contains(" --protected <"),
        "{s}"
    );
}

#[test]
fn status_reports_counts_best_and_improvement() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("2.0"), "base");
    sb.record("kept", Some("1.5"), "better");
    sb.record("discarded", Some("1.8"), "worse");
    let d = sb.run(&["--json", "status"]).ok();
    assert_eq!(
        keys(&d),
        [
            "initialized",
            "root",
            "config",
            "branch",
            "on_experiment_branch",
            "scope_branch",
            "total",
            "counts",
            "baseline",
            "best",
            "improvement",
            "improvement_pct",
            "runs_to_best",
            "since_first_baseline",
            "noise",
            "last_run",
            "runs_since_keep",
            "loop",
            "loops",
            "ledger",
            "skills",
            "branches"
        ]
    );
    assert_eq!(d["total"], 3);
    assert_eq!(d["counts"]["kept"], 1);
    assert_eq!(d["baseline"]["run"], 0);
    assert_eq!(d["best"]["run"], 1);
    assert_eq!(d["improvement"], 0.5);
    assert_eq!(d["improvement_pct"], 25.0);
    assert_eq!(d["runs_to_best"], 1);
    assert_eq!(d["last_run"]["run"], 2);
    assert_eq!(d["runs_since_keep"], 1);
    assert_eq!(d["ledger"]["records"], 3);
    assert!(d["loop"].is_null());
    assert_eq!(d["loops"], serde_json::json!([]));
    assert_eq!(
        d["skills"],
        serde_json::json!([]),
        "no skill installed in this sandbox"
    );
}

#[test]
fn status_lists_installed_skills_in_both_scopes() {
    let sb = Sandbox::new();
    sb.run(&["--json", "install", "codex", "agents", "--project"])
        .ok();
    sb.run(&["--json", "install", "claude-code", "--global"])
        .ok();
    // Before init too: the agent can see whether it has the skill.
    let d = sb.run(&["--json", "status"]).ok();
    let skills = d["skills"].as_array().unwrap();
    assert_eq!(skills.len(), 2, "{skills:?}");
    assert_eq!(skills[0]["scope"], "project");
    assert_eq!(skills[0]["targets"], serde_json::json!(["codex", "agents"]));
    assert_eq!(skills[0]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(skills[0]["outdated"], false);
    assert_eq!(skills[1]["scope"], "global");
    assert_eq!(
        skills[1]["path"],
        sb.home
            .join(".claude/skills/autoresearch/SKILL.md")
            .display()
            .to_string()
            .as_str()
    );
    // A hand-made skill without our marker: listed, version unknown, not called outdated.
    sb.write(
        ".gemini/skills/autoresearch/SKILL.md",
        "---\nname: autoresearch\ndescription: x\n---\n",
    );
    let d = sb.run(&["--json", "status"]).ok();
    let g = d["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["targets"] == serde_json::json!(["gemini"]))
        .unwrap()
        .clone();
    assert!(g["version"].is_null());
    assert_eq!(g["outdated"], false);
    sb.init();
    let out = sb.run(&["--human", "status"]);
    assert!(
        out.stdout.contains("codex+agents (project)"),
        "{}",
        out.stdout
    );
}

#[test]
fn status_works_from_a_subdirectory_and_a_linked_worktree() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("2.0"), "base");
    std::fs::create_dir_all(sb.path("deep/er")).unwrap();
    let d = sb.run_in(&sb.path("deep/er"), &["--json", "status"]).ok();
    assert_eq!(d["total"], 1);
    // A linked worktree shares the main worktree's ledger.
    let wt = sb.home.join("wt");
    let repo = sb.repo();
    repo.worktree("wt", &wt, None).unwrap();
    let d = sb.run_in(&wt, &["--json", "status"]).ok();
    assert_eq!(d["initialized"], true);
    assert_eq!(d["ledger"]["records"], 1);
    assert!(
        d["ledger"]["path"]
            .as_str()
            .unwrap()
            .starts_with(sb.root.to_str().unwrap())
    );
}

#[test]
fn status_human_view() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("2.0"), "base");
    let out = sb.run(&["--human", "status"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("baseline") && out.stdout.contains("score (lower is better)"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("hint:"));
}

#[test]
fn malformed_config_is_config_invalid_with_position() {
    let sb = Sandbox::new();
    sb.init();
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\nmetric_direction = 3\n",
    );
    let v = sb.run(&["--json", "status"]).err("config_invalid", 2);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("autoresearch.toml:"), "{msg}");
    sb.write("autoresearch.toml", "target_file = [\n");
    sb.run(&["--json", "log"]).err("config_invalid", 2);
}
