use crate::common::*;

#[test]
fn diff_shows_records_side_by_side_and_the_code() {
    let sb = Sandbox::new();
    sb.init();
    sb.run(&[
        "--json",
        "record",
        "--status",
        "baseline",
        "--metric",
        "10",
        "--metrics",
        "mem=1",
    ])
    .ok();
    sb.write("train.py", "x = 7\n");
    sb.commit_all("x = 7");
    sb.run(&[
        "--json",
        "record",
        "--status",
        "kept",
        "--metric",
        "7",
        "--metrics",
        "mem=2",
        "--metrics",
        "mfu=0.5",
    ])
    .ok();
    let d = sb.run(&["--json", "diff", "0", "1"]).ok();
    assert_eq!(
        keys(&d),
        ["a", "b", "metric_delta", "b_better", "metrics", "code"]
    );
    assert_eq!(d["metric_delta"], -3.0);
    assert_eq!(d["b_better"], true);
    assert_eq!(
        d["metrics"][0],
        serde_json::json!({"name": "mem", "a": 1.0, "b": 2.0, "delta": 1.0})
    );
    assert_eq!(d["metrics"][1]["a"], serde_json::Value::Null);
    assert!(d["code"]["patch"].as_str().unwrap().contains("+x = 7"));
    let d = sb
        .run(&["--json", "diff", "baseline", "best", "--stat"])
        .ok();
    assert!(d["code"]["patch"].is_null());
    assert_eq!(d["code"]["insertions"], 1);
    let out = sb.run(&["--human", "diff", "0", "last"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("mem") && out.stdout.contains("train.py"),
        "{}",
        out.stdout
    );
}

#[test]
fn unknown_runs_are_refused() {
    let sb = Sandbox::new();
    sb.init();
    sb.record("baseline", Some("1"), "b");
    let v = sb
        .run(&["--json", "diff", "0", "99"])
        .err("run_not_found", 2);
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("autoresearch log --all")
    );
    sb.run(&["--json", "diff", "0", "abc"]).err("usage", 2);
    sb.run(&["--json", "diff", "0"]).err("usage", 2);
}
