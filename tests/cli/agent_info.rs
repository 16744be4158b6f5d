use crate::common::*;

#[test]
fn agent_info_is_complete() {
    let sb = Sandbox::new();
    let d = sb.run(&["--json", "agent-info"]).ok();
    for key in [
        "commands",
        "global_flags",
        "exit_codes",
        "error_codes",
        "envelope",
        "ledger",
        "config",
        "metric_grammar",
        "files",
    ] {
        assert!(!d[key].is_null(), "missing {key}");
    }
    let codes: Vec<&str> = d["error_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    for c in [
        "usage",
        "not_git_repo",
        "not_initialized",
        "config_invalid",
        "already_initialized",
        "invalid_metric",
        "invalid_status",
        "run_not_found",
        "no_experiments",
        "invalid_name",
        "wrong_branch",
        "out_of_scope",
        "protected_changed",
        "no_changes",
        "dirty_tree",
        "loop_running",
        "lock_timeout",
        "interrupted",
        "git_error",
        "io_error",
        "eval_failed",
        "internal",
    ] {
        assert!(codes.contains(&c), "missing error code {c}");
    }
    let globals: Vec<&str> = d["global_flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["long"].as_str().unwrap())
        .collect();
    assert_eq!(globals, ["--json", "--human", "--color"]);
}

/// Every command agent-info lists runs: `--help` exits 0, and a plain call returns one envelope
/// (`man`: its page).
#[test]
fn every_listed_command_runs() {
    let sb = Sandbox::new();
    let d = sb.run(&["--json", "agent-info"]).ok();
    for c in d["commands"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let help = sb.run(&[name, "--help"]);
        assert_eq!(help.code, 0, "{name} --help");
        if ["demo"].contains(&name) {
            continue; // exercised by its own test (it takes seconds)
        }
        let out = sb.run(&["--json", name]);
        if name == "man" {
            // Text for `man -l`, in any mode (tests/cli/completions.rs).
            assert!(out.stdout.starts_with(".TH"), "{name}: {}", out.stdout);
            continue;
        }
        let v = out.json();
        assert!(
            v["status"] == "success" || v["status"] == "error",
            "{name}: {v}"
        );
        assert_eq!(v["command"], name);
        assert!([0, 1, 2].contains(&out.code), "{name}: exit {}", out.code);
        // Each listed argument is accepted by the parser.
        for a in c["args"].as_array().unwrap() {
            if let Some(long) = a["long"].as_str() {
                let h = if a["takes_value"] == true {
                    let value = a["possible_values"][0].as_str().unwrap_or("1");
                    sb.run(&[name, long, value, "--help"])
                } else {
                    sb.run(&[name, long, "--help"])
                };
                assert_ne!(h.code, 2, "{name} {long} rejected: {}", h.stdout);
            }
        }
    }
}

#[test]
fn agent_info_lists_skill_targets_and_guide_topics() {
    let sb = Sandbox::new();
    let v = sb.run(&["--json", "agent-info"]).json();
    let d = &v["data"];
    let targets: Vec<&str> = d["skill_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "claude-code",
            "codex",
            "gemini",
            "opencode",
            "copilot",
            "cursor",
            "windsurf",
            "agents"
        ]
    );
    let claude = &d["skill_targets"][0];
    assert_eq!(
        keys(claude),
        [
            "name",
            "agent",
            "project_paths",
            "global_paths",
            "env_overrides",
            "legacy_paths",
            "reload"
        ]
    );
    assert_eq!(
        claude["project_paths"][0],
        ".claude/skills/autoresearch/SKILL.md"
    );
    assert_eq!(
        claude["global_paths"][0],
        "$CLAUDE_CONFIG_DIR/skills/autoresearch/SKILL.md"
    );
    assert_eq!(claude["env_overrides"][0]["name"], "CLAUDE_CONFIG_DIR");
    let cursor = &d["skill_targets"][5];
    assert_eq!(cursor["project_paths"][1], ".cursor/rules/autoresearch.mdc");
    let topics: Vec<&str> = d["guide_topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        [
            "loop",
            "setup",
            "strategy",
            "stuck",
            "crashes",
            "noise",
            "integrity",
            "manual",
            "forks",
            "watch",
            "cluster",
            "morning"
        ]
    );
    assert!(
        d["guide_topics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !t["title"].as_str().unwrap().is_empty())
    );
    let commands: Vec<&str> = d["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in ["guide", "install", "uninstall"] {
        assert!(commands.contains(&c), "{c}");
    }
    let install = d["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "install")
        .unwrap();
    let longs: Vec<&str> = install["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["long"].as_str())
        .collect();
    assert_eq!(longs, ["--project", "--global", "--dry-run", "--force"]);
    assert!(
        v["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str().unwrap().contains("autoresearch status"))
    );
}
