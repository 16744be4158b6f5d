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
    assert_eq!(globals, ["--json", "--human"]);
}

/// Every command agent-info lists runs: `--help` exits 0, and a plain call returns one envelope.
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
