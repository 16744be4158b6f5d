use crate::common::*;

/// baseline → kept (commit changes train.py) → discarded: best is the kept run with its diff.
fn session() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("10"), "base");
    sb.write("train.py", "x = 7\n");
    sb.commit_all("x = 7");
    sb.record("kept", Some("7"), "smaller x");
    sb.write("train.py", "x = 9\n");
    sb.commit_all("x = 9");
    sb.record("discarded", Some("9"), "x 9");
    sb
}

#[test]
fn best_reports_improvement_and_the_code_change() {
    let sb = session();
    let d = sb.run(&["--json", "best"]).ok();
    assert_eq!(
        keys(&d),
        [
            "branch",
            "baseline",
            "best",
            "improvement",
            "improvement_pct",
            "runs_to_best",
            "since_first_baseline",
            "noise",
            "code",
            "branches"
        ]
    );
    assert_eq!(d["best"]["run"], 1);
    assert_eq!(d["baseline"]["run"], 0);
    assert_eq!(d["improvement"], 3.0);
    assert_eq!(d["improvement_pct"], 30.0);
    assert_eq!(d["runs_to_best"], 1);
    assert_eq!(d["code"]["files_changed"], 1);
    assert_eq!(d["code"]["files"][0]["path"], "train.py");
    assert!(d["code"]["patch"].is_null());
    let d = sb.run(&["--json", "best", "--patch"]).ok();
    let patch = d["code"]["patch"].as_str().unwrap();
    assert!(
        patch.contains("-x = 1") || patch.contains("+x = 7"),
        "{patch}"
    );
    let d = sb
        .run(&["--json", "best", "--patch", "--max-patch-bytes", "10"])
        .ok();
    assert_eq!(d["code"]["patch_truncated"], true);
    let out = sb.run(&["--human", "best", "--patch"]);
    assert!(
        out.stdout.contains("train.py") && out.stdout.contains("+x = 7"),
        "{}",
        out.stdout
    );
}

#[test]
fn best_with_no_experiments_is_a_runtime_error() {
    let sb = Sandbox::new();
    sb.init();
    sb.run(&["--json", "best"]).err("no_experiments", 1);
}

#[test]
fn higher_is_better_and_negative_metrics() {
    let sb = Sandbox::new();
    sb.init();
    sb.write(
        "autoresearch.toml",
        &sb.read("autoresearch.toml")
            .replace("\"lower\"", "\"higher\""),
    );
    sb.record("baseline", Some("-4"), "b");
    sb.record("kept", Some("-1"), "k");
    let d = sb.run(&["--json", "best"]).ok();
    assert_eq!(d["best"]["run"], 1);
    assert_eq!(d["improvement"], 3.0);
    assert_eq!(
        d["improvement_pct"], 75.0,
        "positive when better, whatever the sign"
    );
}
