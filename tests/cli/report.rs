//! `report` (issue 12): three files whether or not stdout is a terminal, one envelope; a chart
//! that is valid for any history and counts what the ledger counts; text from the ledger
//! escaped; byte-identical output under `SOURCE_DATE_EPOCH`.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

/// A record to write: status, metric, summary.
type Rec<'a> = (&'a str, Option<f64>, &'a str);

/// Write `records` as the ledger, each `{status, metric, summary}` numbered from 0, a minute
/// apart, on the configured branch.
fn ledger(sb: &Sandbox, records: &[Rec]) {
    let lines: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, (status, metric, summary))| {
            json!({
                "run": i,
                "id": format!("id-{i}"),
                "timestamp": format!("2026-01-01T{:02}:{:02}:00.000Z", i / 60 % 24, i % 60),
                "status": status,
                "metric": metric,
                "summary": summary,
                "branch": "autoresearch",
                "duration_s": 30.0,
                "source": "record",
            })
            .to_string()
        })
        .collect();
    std::fs::create_dir_all(sb.path(".autoresearch")).unwrap();
    std::fs::write(sb.path(".autoresearch/.gitignore"), "*\n").unwrap();
    std::fs::write(
        sb.path(".autoresearch/experiments.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

fn project() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    sb
}

fn report(sb: &Sandbox, args: &[&str]) -> Out {
    let mut all = vec!["--json", "report"];
    all.extend_from_slice(args);
    sb.run(&all)
}

/// The SVG parses as XML and holds no non-finite number.
fn valid_svg(svg: &str) {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("the SVG is not XML: {e}"));
    let lower = svg.to_ascii_lowercase();
    assert!(
        !lower.contains("nan") && !lower.contains("inf"),
        "non-finite in the SVG"
    );
}

/// Marks of one kind in the SVG: elements whose class is exactly `kind` count 1, bins count
/// their `data-n`.
fn marks(svg: &str, kind: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().next() == Some(kind))
        })
        .map(|n| {
            n.attribute("data-n")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// Vertical moves of the running-best line of series `s`: one per improvement.
fn steps(svg: &str, s: usize) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let series = s.to_string();
    doc.descendants()
        .filter(|n| {
            n.attribute("class") == Some("best")
                && n.attribute("data-series") == Some(series.as_str())
        })
        .map(|n| n.attribute("d").unwrap().matches('V').count())
        .sum()
}

#[test]
fn report_writes_three_files_into_a_pipe_and_one_envelope() {
    let sb = project();
    run(&sb, &["-m", "baseline"]).ok();
    set_x(&sb, "0.5");
    run(&sb, &["-m", "halve <script>alert(1)</script> & more"]).ok();
    set_x(&sb, "2");
    run(&sb, &["-m", "double"]).ok();
    let out = sb.run(&["report", "-o", "out"]);
    let v = out.json();
    assert_eq!(v["status"], "success", "{}", out.stdout);
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "one envelope: {}",
        out.stdout
    );
    let d = &v["data"];
    for f in ["markdown", "html", "svg", "json"] {
        let p = d["files"][f].as_str().unwrap();
        assert!(Path::new(p).is_file(), "{f}: {p}");
    }
    assert_eq!(d["numbers"]["counts"]["kept"], 1);
    assert!(
        d["headline"].as_str().unwrap().starts_with("score 1 → 0.5"),
        "{d}"
    );
    let html = std::fs::read_to_string(sb.path("out/report.html")).unwrap();
    assert!(html.contains("<svg"), "the chart is inline");
    assert!(
        !html.contains("<script"),
        "no script, and the summary's stays text"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(external), "{external}");
    }
    let svg = std::fs::read_to_string(sb.path("out/report.svg")).unwrap();
    valid_svg(&svg);
    let md = std::fs::read_to_string(sb.path("out/report.md")).unwrap();
    assert!(md.contains("![progress chart](report.svg)"));
    assert!(md.contains("&lt;script&gt;"), "markdown escapes it too");
    // The default directory.
    let d = report(&sb, &[]).ok();
    assert!(d["dir"].as_str().unwrap().ends_with(".autoresearch/report"));
}

#[test]
fn format_md_without_a_directory_prints_the_markdown() {
    let sb = project();
    run(&sb, &["-m", "baseline"]).ok();
    let out = sb.run(&["report", "--format", "md"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with("# autoresearch: score"),
        "{}",
        out.stdout
    );
    assert!(!sb.path(".autoresearch/report").exists(), "nothing written");
    // `--format html -o DIR` writes the page alone.
    let d = report(&sb, &["--format", "html", "-o", "h"]).ok();
    assert!(d["files"]["markdown"].is_null() && d["files"]["html"].is_string());
}

#[test]
fn nothing_to_report_is_no_experiments() {
    let sb = project();
    report(&sb, &[]).err("no_experiments", 1);
}

/// The karpathy-format log of a real run, as a ledger: the chart counts what the ledger counts
/// and steps once per improvement of the best.
#[test]
fn a_real_log_is_drawn_mark_for_mark() {
    let Some(tsv) = shared_testdata("real-logs/trevin-mlx.results.tsv") else {
        return;
    };
    let text = std::fs::read_to_string(tsv).unwrap();
    let rows: Vec<(String, f64, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[3].to_string(), c[1].parse().unwrap(), c[4].to_string())
        })
        .collect();
    let records: Vec<Rec> = rows
        .iter()
        .enumerate()
        .map(|(i, (status, m, s))| {
            let status = match (i, status.as_str()) {
                (0, _) => "baseline",
                (_, "keep") => "kept",
                (_, "discard") => "discarded",
                _ => "crash",
            };
            (status, (status != "crash").then_some(*m), s.as_str())
        })
        .collect();
    let sb = Sandbox::new();
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"val_bpb\"\nmetric_direction = \"lower\"\n",
    );
    sb.commit_all("setup");
    ledger(&sb, &records);
    report(&sb, &["-o", "out"]).ok();
    let svg = std::fs::read_to_string(sb.path("out/report.svg")).unwrap();
    valid_svg(&svg);
    let count = |s: &str| records.iter().filter(|r| r.0 == s).count();
    assert_eq!(marks(&svg, "kept"), count("kept"));
    assert_eq!(marks(&svg, "discarded"), count("discarded"));
    assert_eq!(marks(&svg, "baseline"), 1);
    let mut best = f64::INFINITY;
    let mut improvements = 0;
    for (status, m, _) in &records {
        if matches!(*status, "kept" | "baseline") && m.unwrap() < best {
            improvements += usize::from(best.is_finite());
            best = m.unwrap();
        }
    }
    assert!(improvements > 3);
    assert_eq!(steps(&svg, 0), improvements);
}

#[test]
fn any_history_gives_valid_files() {
    let cases: Vec<(&str, Vec<Rec>)> = vec![
        (
            "negative",
            vec![
                ("baseline", Some(-3.5), "b"),
                ("kept", Some(-4.0), "k"),
                ("discarded", Some(-2.0), "d"),
            ],
        ),
        (
            "zero baseline",
            vec![("baseline", Some(0.0), "b"), ("kept", Some(-1e-9), "k")],
        ),
        ("single", vec![("baseline", Some(1.0), "b")]),
        (
            "only crashes",
            vec![
                ("crash", None, "c1"),
                ("timeout", None, "t1"),
                ("crash", None, "c2"),
            ],
        ),
        (
            "huge",
            vec![("baseline", Some(1e12), "b"), ("kept", Some(9e11), "k")],
        ),
    ];
    for (name, records) in cases {
        let sb = project();
        ledger(&sb, &records);
        let d = report(&sb, &["-o", "out"]).ok();
        let svg = std::fs::read_to_string(sb.path("out/report.svg")).unwrap();
        valid_svg(&svg);
        let html = std::fs::read_to_string(sb.path("out/report.html")).unwrap();
        assert!(html.contains("<svg"), "{name}");
        let json: Value =
            serde_json::from_slice(&std::fs::read(sb.path("out/report.json")).unwrap()).unwrap();
        assert_eq!(
            json["log"].as_array().unwrap().len(),
            records.len(),
            "{name}"
        );
        assert!(d["headline"].is_string(), "{name}");
    }
}

#[test]
fn a_hundred_thousand_runs_stay_small() {
    let sb = project();
    let mut records = vec![("baseline", Some(100.0), "start")];
    let mut best = 100.0;
    for i in 1..100_000u32 {
        let wobble = f64::from(i % 97) / 10.0;
        if i % 500 == 0 {
            best -= 0.01;
            records.push(("kept", Some(best), "a keep"));
        } else if i % 211 == 0 {
            records.push(("crash", None, "boom"));
        } else {
            records.push(("discarded", Some(best + wobble), "an idea"));
        }
    }
    ledger(&sb, &records);
    let t = std::time::Instant::now();
    report(&sb, &["-o", "out", "--format", "md"]).ok();
    let svg = std::fs::read(sb.path("out/report.svg")).unwrap();
    assert!(svg.len() < 2 * 1024 * 1024, "{} bytes", svg.len());
    valid_svg(std::str::from_utf8(&svg).unwrap());
    let md = std::fs::read_to_string(sb.path("out/report.md")).unwrap();
    assert!(md.contains("The latest 100 of 100000 records"));
    assert!(t.elapsed().as_secs() < 60);
}

#[test]
fn the_same_ledger_under_source_date_epoch_gives_the_same_bytes() {
    let sb = project();
    run(&sb, &["-m", "baseline"]).ok();
    set_x(&sb, "0.5");
    run(&sb, &["-m", "halve"]).ok();
    let mut files = Vec::new();
    for dir in ["a", "b"] {
        let out = run_cmd({
            let mut c = sb.cmd(&["--json", "report", "-o", dir]);
            c.env("SOURCE_DATE_EPOCH", "1700000000");
            c
        });
        out.ok();
        let read = |f: &str| std::fs::read(sb.path(&format!("{dir}/{f}"))).unwrap();
        files.push((
            read("report.md"),
            read("report.html"),
            read("report.svg"),
            read("report.json"),
        ));
    }
    assert!(files[0] == files[1], "byte-identical");
    let md = String::from_utf8(files[0].0.clone()).unwrap();
    assert!(md.contains("2023-11-14T22:13:20Z"), "the time given");
    let bad = run_cmd({
        let mut c = sb.cmd(&["--json", "report"]);
        c.env("SOURCE_DATE_EPOCH", "soon");
        c
    });
    bad.err("usage", 2);
}

#[test]
fn all_branches_draws_a_running_best_per_fork() {
    let sb = project();
    run(&sb, &["-m", "baseline"]).ok();
    sb.run(&["--json", "fork", "f"]).ok();
    sb.switch("autoresearch-fork-f");
    set_x(&sb, "0.5");
    run(&sb, &["-m", "fork halves"]).ok();
    let d = report(&sb, &["--all-branches", "-o", "out"]).ok();
    assert_eq!(d["scope"], "all");
    let svg = std::fs::read_to_string(sb.path("out/report.svg")).unwrap();
    valid_svg(&svg);
    assert_eq!(steps(&svg, 1), 1, "the fork's line steps once");
    assert!(svg.contains("autoresearch-fork-f"), "the legend names it");
    // `--x time` too.
    report(&sb, &["--all-branches", "--x", "time", "-o", "t"]).ok();
    valid_svg(&std::fs::read_to_string(sb.path("t/report.svg")).unwrap());
}
