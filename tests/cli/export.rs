use crate::common::*;

fn seeded() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    sb.run(&[
        "--json",
        "record",
        "--status",
        "baseline",
        "--metric",
        "0.1",
        "--metrics",
        "mem=41.5",
        "-m",
        "a, \"quoted\" one",
    ])
    .ok();
    sb.run(&[
        "--json",
        "record",
        "--status",
        "kept",
        "--metric",
        "0.09999999999999999",
        "-m",
        "tab\there",
    ])
    .ok();
    sb.record("crash", None, "boom");
    sb
}

#[test]
fn csv_has_every_field_in_order_with_full_precision() {
    let sb = seeded();
    let out = sb.run(&["export"]);
    assert_eq!(out.code, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("run,id,timestamp,status,metric,delta,summary,commit,"));
    assert!(lines[0].ends_with(",metrics.mem"));
    assert!(
        lines[1].contains("\"a, \"\"quoted\"\" one\""),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(",41.5"));
    assert!(lines[2].contains("0.09999999999999999"));
    assert!(lines[3].starts_with("2,"));
}

#[test]
fn json_and_jsonl_round_trip() {
    let sb = seeded();
    let out = sb.run(&["export", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[1]["metric"], 0.09999999999999999);
    let out = sb.run(&["export", "--format", "jsonl"]);
    let recs: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["metrics"]["mem"], 41.5);
    let out = sb.run(&["export", "--format", "tsv"]);
    assert!(
        out.stdout.lines().nth(2).unwrap().contains("tab here")
            || out.stdout.contains("tab\\there")
    );
}

#[test]
fn export_to_a_file_returns_an_envelope() {
    let sb = seeded();
    let d = sb.run(&[
        "--json",
        "export",
        "--format",
        "jsonl",
        "-o",
        "out/all.jsonl",
    ]);
    assert_eq!(d.code, 2, "missing directory is an error: {}", d.stdout);
    std::fs::create_dir_all(sb.path("out")).unwrap();
    let d = sb
        .run(&[
            "--json",
            "export",
            "--format",
            "jsonl",
            "-o",
            "out/all.jsonl",
        ])
        .ok();
    assert_eq!(keys(&d), ["path", "format", "count"]);
    assert_eq!(d["count"], 3);
    assert_eq!(
        std::fs::read_to_string(sb.path("out/all.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn export_into_a_closed_pipe_exits_quietly() {
    let sb = seeded();
    for i in 0..200 {
        sb.run(&[
            "--json",
            "record",
            "--status",
            "discarded",
            "--metric",
            &i.to_string(),
            "-m",
            &"x".repeat(500),
        ])
        .ok();
    }
    let mut c = sb.cmd(&["export"]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::BufRead;
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("run,"));
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(101));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
