//! `import`: the real logs in `../shared/testdata` (five results.tsv, a pi-autoresearch JSON
//! Lines log, a first-generation ledger) become ledger records with the counts, baseline and
//! best the files themselves give; importing twice adds nothing; a wrong metric or a malformed
//! line writes nothing; `report` and `review` read the result.

use std::path::Path;

use serde_json::Value;

use crate::common::{Sandbox, shared_testdata};

/// A project whose config measures `metric` in `direction`.
fn project(metric: &str, direction: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write(
        "autoresearch.toml",
        &format!(
            "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"{metric}\"\nmetric_direction = \"{direction}\"\n"
        ),
    );
    sb.commit_all("setup");
    sb
}

fn import(sb: &Sandbox, args: &[&str]) -> crate::common::Out {
    let mut all = vec!["--json", "import"];
    all.extend_from_slice(args);
    sb.run(&all)
}

fn ledger_len(sb: &Sandbox) -> usize {
    sb.ledger_lines().len()
}

/// What the test expects of one file, computed from the file alone.
#[derive(Debug, PartialEq)]
struct Expect {
    rows: u64,
    by_status: [u64; 5],
    baseline: f64,
    /// Index of the best row and its metric.
    best: (u64, f64),
    /// Indexes of the crash rows.
    crashes: Vec<usize>,
}

/// The import's status table, restated for the statuses these files hold.
fn ledger_status(source: &str) -> &'static str {
    match source {
        "keep" | "kept" | "repair" => "kept",
        "discard" | "discarded" | "tentative" | "support" => "discarded",
        "crash" => "crash",
        "baseline" => "baseline",
        other => panic!("a status the test does not know: {other}"),
    }
}

/// Counts by status with the first row as the baseline; the best is the first row, then each
/// keep strictly lower than the best so far (every file here is lower-is-better).
fn expect(rows: &[(String, Option<f64>)]) -> Expect {
    let mut by_status = [0u64; 5];
    let mut best = (0u64, rows[0].1.unwrap());
    let mut crashes = Vec::new();
    for (i, (status, metric)) in rows.iter().enumerate() {
        let s = if i == 0 {
            "baseline"
        } else {
            ledger_status(status)
        };
        let at = ["baseline", "kept", "discarded", "crash", "timeout"]
            .iter()
            .position(|x| *x == s)
            .unwrap();
        by_status[at] += 1;
        if s == "crash" {
            crashes.push(i);
        }
        if s == "kept"
            && let Some(m) = metric
            && *m < best.1
        {
            best = (i as u64, *m);
        }
    }
    Expect {
        rows: rows.len() as u64,
        by_status,
        baseline: rows[0].1.unwrap(),
        best,
        crashes,
    }
}

/// The status and metric of each row of a results.tsv, by its header.
fn tsv_rows(path: &Path, metric: &str) -> Vec<(String, Option<f64>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let s = header.iter().position(|h| *h == "status").unwrap();
    let m = header.iter().position(|h| *h == metric).unwrap();
    lines
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[s].to_string(), c[m].parse().ok())
        })
        .collect()
}

/// Compare `import`'s report of one file and the ledger it wrote with what the file gives.
fn check(sb: &Sandbox, file: &Value, want: &Expect, source: &str) {
    assert_eq!(file["rows"], want.rows, "{file}");
    assert_eq!(file["added"], want.rows, "{file}");
    let b = &file["by_status"];
    let got = ["baseline", "kept", "discarded", "crash", "timeout"].map(|k| b[k].as_u64().unwrap());
    assert_eq!(got, want.by_status, "{file}");
    assert_eq!(file["baseline"]["run"], 0, "{file}");
    assert_eq!(file["baseline"]["metric"].as_f64(), Some(want.baseline));
    assert_eq!(file["best"]["run"], want.best.0, "{file}");
    assert_eq!(file["best"]["metric"].as_f64(), Some(want.best.1));
    let lines = sb.ledger_lines();
    assert_eq!(lines.len() as u64, want.rows);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["source"], source);
        assert_eq!(l["run"], i as u64);
        assert!(l["id"].as_str().unwrap().starts_with("import-"));
        if want.crashes.contains(&i) {
            assert_eq!(l["status"], "crash");
            assert!(l["metric"].is_null(), "a crash has no metric: {l}");
        }
    }
}

#[test]
fn every_real_results_tsv_imports_with_the_files_counts_baseline_and_best() {
    let Some(dir) = shared_testdata("real-logs") else {
        return;
    };
    for (name, metric) in [
        ("trainrtx5070", "val_bpb"),
        ("miolini-macos", "val_rmse"),
        ("trevin-mlx", "val_bpb"),
        ("blitzo125", "val_bpb"),
        ("changhanchen-moe", "val_bpb"),
    ] {
        let path = dir.join(format!("{name}.results.tsv"));
        let want = expect(&tsv_rows(&path, metric));
        let sb = project(metric, "lower");
        let out = import(&sb, &[path.to_str().unwrap()]);
        let data = out.ok();
        assert_eq!(data["added"], want.rows, "{name}");
        assert_eq!(data["files"][0]["format"], "tsv");
        check(&sb, &data["files"][0], &want, "import:tsv");
        // Every source column survives: the commit (not in this repository) and the status.
        let first = &sb.ledger_lines()[0];
        assert!(first["commit"].is_null());
        let imported = &first["imported"];
        assert_eq!(imported["format"], "tsv");
        assert_eq!(imported["line"], 2);
        assert!(imported["fields"]["commit"].is_string(), "{first}");
        assert!(!imported["status"].as_str().unwrap().is_empty());
        // The status and report read it.
        let status = sb.run(&["--json", "status"]).ok();
        assert_eq!(
            status["best"]["metric"].as_f64(),
            Some(want.best.1),
            "{name}: {status}"
        );
    }
}

/// The miolini log's last keep, 0.0000, came from fitting the validation set: flagged.
#[test]
fn the_miolini_perfect_score_is_a_suspicious_jump() {
    let Some(path) = shared_testdata("real-logs/miolini-macos.results.tsv") else {
        return;
    };
    let rows = tsv_rows(&path, "val_rmse");
    let last_keep = rows.iter().rposition(|(s, _)| s == "keep").unwrap();
    assert_eq!(rows[last_keep].1, Some(0.0));
    let sb = project("val_rmse", "lower");
    let data = import(&sb, &[path.to_str().unwrap()]).ok();
    let flagged = data["files"][0]["flagged"].as_array().unwrap();
    assert!(flagged.contains(&Value::from(last_keep as u64)), "{data}");
    let line = &sb.ledger_lines()[last_keep];
    assert!(
        line["flags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("suspicious_jump")),
        "{line}"
    );
}

#[test]
fn the_shopify_log_imports_with_its_segments_times_and_secondary_metrics() {
    let Some(path) = shared_testdata("real-logs/shopify-liquid.autoresearch.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let objs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let config = &objs[0];
    assert_eq!(config["type"], "config");
    let name = config["metricName"].as_str().unwrap();
    let direction = config["bestDirection"].as_str().unwrap();
    let rows: Vec<(String, Option<f64>)> = objs[1..]
        .iter()
        .map(|o| {
            (
                o["status"].as_str().unwrap().to_string(),
                o["metric"].as_f64(),
            )
        })
        .collect();
    let want = expect(&rows);
    // The config cannot hold `µ` in a metric name: the rename maps it.
    let sb = project("combined_us", direction);
    let e = import(&sb, &[path.to_str().unwrap()]).err("import_invalid", 2);
    let suggestion = e["error"]["suggestion"].as_str().unwrap();
    assert!(
        suggestion.contains(&format!("--rename-metric {name}=combined_us")),
        "{suggestion}"
    );
    assert_eq!(ledger_len(&sb), 0);
    let rename = format!("{name}=combined_us");
    let data = import(&sb, &[path.to_str().unwrap(), "--rename-metric", &rename]).ok();
    assert_eq!(data["files"][0]["format"], "jsonl");
    check(&sb, &data["files"][0], &want, "import:jsonl");
    let lines = sb.ledger_lines();
    let ms = objs[1]["timestamp"].as_i64().unwrap();
    let when = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    assert_eq!(
        lines[0]["timestamp"],
        when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let secondary = objs[1]["metrics"].as_object().unwrap();
    for (k, v) in secondary {
        assert_eq!(lines[0]["metrics"][k].as_f64(), v.as_f64(), "{k}");
    }
    // A config that says higher is better contradicts the log: refused.
    let sb = project("combined_us", "higher");
    let e =
        import(&sb, &[path.to_str().unwrap(), "--rename-metric", &rename]).err("import_invalid", 2);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("lower"),
        "{e}"
    );
    assert_eq!(ledger_len(&sb), 0);
}

/// The first generation's config loads unchanged. (An integration test, not a unit test in
/// `config.rs`: the packaged crate's unit tests must pass without `../shared`.)
#[test]
fn the_first_generation_config_loads_unchanged() {
    let Some(dir) = shared_testdata("anchor-format") else {
        return;
    };
    let (c, _) = autoresearch::config::Config::load(&dir.join("autoresearch.toml"))
        .expect("anchor config loads");
    assert_eq!(c.metric_name, "score");
    assert_eq!(c.time_budget, std::time::Duration::from_secs(30));
}

#[test]
fn the_first_generation_ledger_imports_with_its_config() {
    let Some(dir) = shared_testdata("anchor-format") else {
        return;
    };
    let toml = std::fs::read_to_string(dir.join("autoresearch.toml")).unwrap();
    let value = |key: &str| {
        toml.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let (metric, direction) = (value("metric_name"), value("metric_direction"));
    let path = dir.join("experiments.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<(String, Option<f64>)> = text
        .lines()
        .map(|l| {
            let o: Value = serde_json::from_str(l).unwrap();
            (
                o["status"].as_str().unwrap().to_string(),
                o["metric"].as_f64(),
            )
        })
        .collect();
    let want = expect(&rows);
    let sb = project(&metric, &direction);
    let data = import(&sb, &[path.to_str().unwrap()]).ok();
    assert_eq!(data["files"][0]["format"], "ledger");
    check(&sb, &data["files"][0], &want, "import:ledger");
    let first = &sb.ledger_lines()[0];
    assert_eq!(first["imported"]["fields"]["short_hash"], "02404f1");
    assert_eq!(first["timestamp"], "2026-11-26T00:01:13.460Z");
    // Its `autoresearch.toml` names its metric: another config's is refused.
    let other = project("val_bpb", &direction);
    import(&other, &[path.to_str().unwrap()]).err("import_invalid", 2);
    assert_eq!(ledger_len(&other), 0);
}

#[test]
fn importing_twice_adds_nothing_and_a_grown_log_adds_only_its_new_rows() {
    let sb = project("val_bpb", "lower");
    let rows = "commit\tval_bpb\tstatus\tdescription\n\
                a1\t1.0\tkeep\tbase\n\
                a2\t0.9\tkeep\tbetter\n";
    sb.write("logs/results.tsv", rows);
    // A dry run says what it would add and writes nothing.
    let dry = import(&sb, &["logs/results.tsv", "--dry-run"]).ok();
    assert_eq!(
        (dry["added"].as_u64(), dry["dry_run"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(ledger_len(&sb), 0);
    // Named twice in one call, it is imported once.
    let twice = import(&sb, &["logs/results.tsv", "logs/results.tsv"]).ok();
    assert_eq!(twice["added"], 2);
    assert_eq!(twice["files"][1]["skipped_existing"], 2);
    let again = import(&sb, &["logs/results.tsv"]).ok();
    assert_eq!(again["added"], 0);
    assert_eq!(again["files"][0]["skipped_existing"], 2);
    assert_eq!(again["files"][0]["best"]["run"], 1, "{again}");
    assert_eq!(ledger_len(&sb), 2);
    sb.write(
        "logs/results.tsv",
        &format!("{rows}a3\t0.95\tdiscard\tworse\n"),
    );
    let grown = import(&sb, &["logs/results.tsv"]).ok();
    assert_eq!(
        (
            grown["added"].as_u64(),
            grown["files"][0]["skipped_existing"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let last = &sb.ledger_lines()[2];
    assert_eq!(
        (last["run"].as_u64(), last["status"].as_str()),
        (Some(2), Some("discarded"))
    );
    let delta = last["delta"].as_f64().unwrap();
    assert!((delta - 0.05).abs() < 1e-9, "{last}");
}

#[test]
fn a_wrong_metric_is_refused_and_a_rename_fixes_it() {
    let sb = project("val_bpb", "lower");
    sb.write(
        "results.tsv",
        "commit\tval_rmse\tstatus\tdescription\na1\t3.0\tkeep\tbase\na2\t2.0\tkeep\tb\n",
    );
    let e = import(&sb, &["results.tsv"]).err("import_invalid", 2);
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("--rename-metric val_rmse=val_bpb"),
        "{e}"
    );
    assert_eq!(ledger_len(&sb), 0);
    // The rename must land on the config's name.
    import(&sb, &["results.tsv", "--rename-metric", "val_rmse=loss"]).err("usage", 2);
    import(&sb, &["results.tsv", "--rename-metric", "val_rmse"]).err("usage", 2);
    let data = import(&sb, &["results.tsv", "--rename-metric", "val_rmse=val_bpb"]).ok();
    assert_eq!(data["added"], 2);
    assert_eq!(sb.ledger_lines()[1]["metric"], 2.0);
}

#[test]
fn a_malformed_line_anywhere_writes_nothing_and_names_the_line() {
    let sb = project("val_bpb", "lower");
    sb.write(
        "good.tsv",
        "commit\tval_bpb\tstatus\tdescription\na1\t1.0\tkeep\tbase\n",
    );
    sb.write(
        "bad.tsv",
        "commit\tval_bpb\tstatus\tdescription\na1\t1.0\tkeep\tbase\na2\t0.9\tkeep\n",
    );
    let e = import(&sb, &["good.tsv", "bad.tsv"]).err("import_invalid", 2);
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`bad.tsv` line 3"), "{msg}");
    assert_eq!(ledger_len(&sb), 0, "all or nothing");
    sb.write("notes.txt", "just some notes\n");
    let e = import(&sb, &["notes.txt"]).err("import_invalid", 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`notes.txt`"),
        "{e}"
    );
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("--format"),
        "{e}"
    );
    import(&sb, &["missing.tsv"]).err("io_error", 1);
    assert_eq!(ledger_len(&sb), 0);
}

#[test]
fn unknown_statuses_warn_once_and_known_commits_are_pinned() {
    let sb = project("val_bpb", "lower");
    let head = sb.head();
    sb.write(
        "results.tsv",
        &format!(
            "commit\tval_bpb\tstatus\tdescription\n{}\t1.0\tkeep\tbase\nffff000\t0.9\tmaybe\tx\nffff001\t0.8\tmaybe\ty\nffff002\tNA\tlater\tz\n",
            &head[..7]
        ),
    );
    let out = import(&sb, &["results.tsv", "--branch", "imported"]);
    let v = out.json();
    let data = out.ok();
    assert_eq!(data["files"][0]["unknown_statuses"]["maybe"], 2);
    assert_eq!(data["files"][0]["unknown_statuses"]["later"], 1);
    assert_eq!(data["files"][0]["by_status"]["discarded"], 3);
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .filter(|w| w.contains("does not know"))
        .collect();
    assert_eq!(warnings.len(), 1, "{v}");
    assert!(warnings[0].contains("`maybe` (2)") && warnings[0].contains("`later` (1)"));
    let lines = sb.ledger_lines();
    assert_eq!(lines[0]["commit"], head.as_str());
    assert_eq!(lines[0]["branch"], "imported");
    assert!(lines[1]["commit"].is_null());
    assert_eq!(lines[1]["imported"]["fields"]["commit"], "ffff000");
    assert_eq!(lines[1]["imported"]["status"], "maybe");
    assert!(lines[3]["metric"].is_null());
    let repo = sb.repo();
    let pinned = repo.find_reference("refs/autoresearch/runs/0").unwrap();
    assert_eq!(pinned.target().unwrap().to_string(), head);
}

#[test]
fn report_and_review_work_on_an_imported_log() {
    let Some(path) = shared_testdata("real-logs/trevin-mlx.results.tsv") else {
        return;
    };
    let sb = project("val_bpb", "lower");
    import(&sb, &[path.to_str().unwrap()]).ok();
    let out = sb.run(&["--json", "report", "-o", "out"]);
    out.ok();
    assert!(sb.path("out/report.md").exists());
    let review = sb.run(&["review", "--raw"]);
    assert_eq!(review.code, 0, "{}", review.stderr);
    assert!(review.stdout.contains("val_bpb"), "{}", review.stdout);
}
