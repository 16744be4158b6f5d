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
    assert_eq!(
        lines[0],
        "run,id,timestamp,status,metric,delta,summary,commit,parent,branch,duration_s,exit_code,reason,flags,samples,source,code,setup,hardware,worker,worker_run,clock,retracts,imported,metrics.mem"
    );
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

fn is_link(p: &std::path::Path) -> bool {
    std::fs::symlink_metadata(p)
        .unwrap()
        .file_type()
        .is_symlink()
}

fn c_path(p: &std::path::Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// A character device node in the sandbox (root only: `mknod`); false where not permitted.
fn mknod_char(p: &std::path::Path, major: u32, minor: u32) -> bool {
    // SAFETY: a valid NUL-terminated path.
    unsafe {
        libc::mknod(
            c_path(p).as_ptr(),
            libc::S_IFCHR | 0o666,
            libc::makedev(major, minor),
        ) == 0
    }
}

fn is_char_device(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).unwrap().file_type().is_char_device()
}

#[test]
fn export_to_a_symlink_writes_its_target_and_keeps_the_link() {
    let sb = seeded();
    std::fs::create_dir_all(sb.path("exports")).unwrap();
    std::fs::write(sb.path("exports/all.jsonl"), "old\n").unwrap();
    std::os::unix::fs::symlink("exports/all.jsonl", sb.path("latest.jsonl")).unwrap();
    let d = sb
        .run(&[
            "--json",
            "export",
            "--format",
            "jsonl",
            "-o",
            "latest.jsonl",
        ])
        .ok();
    assert_eq!(d["count"], 3);
    assert!(is_link(&sb.path("latest.jsonl")), "the link was replaced");
    let text = std::fs::read_to_string(sb.path("exports/all.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn export_to_a_fifo_writes_in_place() {
    let sb = seeded();
    let fifo = sb.path("pipe");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o600) }, 0);
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(reader_path).unwrap());
    let d = sb
        .run(&["--json", "export", "--format", "jsonl", "-o", "pipe"])
        .ok();
    assert_eq!(d["count"], 3);
    {
        use std::os::unix::fs::FileTypeExt;
        // Checked before joining: had the FIFO been replaced, the reader would wait forever.
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }
    assert_eq!(reader.join().unwrap().lines().count(), 3);
}

/// `-o /dev/stdout` prints the data, exactly as without `-o`, and no envelope after it. A
/// private link to `/proc/self/fd/1` is tried first, so a regression replaces that link, never
/// the real `/dev/stdout`.
#[test]
fn export_to_dev_stdout_prints_the_data() {
    let sb = seeded();
    let plain = sb.run(&["export"]);
    assert_eq!(plain.code, 0);
    std::os::unix::fs::symlink("/proc/self/fd/1", sb.path("out")).unwrap();
    for target in ["out", "/dev/stdout"] {
        for mode in ["--json", "--human"] {
            let o = sb.run(&[mode, "export", "-o", target]);
            assert_eq!(o.code, 0, "{target} {mode}: {}", o.stderr);
            assert_eq!(o.stdout, plain.stdout, "{target} {mode}");
            assert!(is_link(&sb.path("out")), "the link was replaced");
        }
    }
}

/// A device stays a device: a private null device first (root only), then `/dev/null`.
#[test]
fn export_to_a_device_keeps_the_node() {
    let sb = seeded();
    let node = sb.path("null");
    let targets: Vec<String> = if mknod_char(&node, 1, 3) {
        vec![node.display().to_string(), "/dev/null".into()]
    } else {
        vec!["/dev/null".into()]
    };
    for t in &targets {
        let d = sb.run(&["--json", "export", "-o", t]).ok();
        assert_eq!(d["count"], 3);
        assert!(is_char_device(std::path::Path::new(t)), "{t} was replaced");
    }
}

/// A full device: the error says so; the node stays.
#[test]
fn export_to_a_full_device_says_no_space_left() {
    let sb = seeded();
    let node = sb.path("full");
    if !mknod_char(&node, 1, 7) {
        return;
    }
    let v = sb
        .run(&["--json", "export", "-o", "full"])
        .err("io_error", 1);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("no space left on device"), "{msg}");
    assert!(is_char_device(&node));
}

#[test]
fn export_onto_a_directory_is_usage_and_leaves_it() {
    let sb = seeded();
    std::fs::create_dir_all(sb.path("dir")).unwrap();
    std::fs::write(sb.path("dir/keep"), "x").unwrap();
    std::os::unix::fs::symlink("dir", sb.path("dirlink")).unwrap();
    for t in ["dir", "dirlink"] {
        sb.run(&["--json", "export", "-o", t]).err("usage", 2);
    }
    assert_eq!(sb.read("dir/keep"), "x");
    assert!(is_link(&sb.path("dirlink")));
}

/// Every field a record can carry has a column: retractions and imports too.
#[test]
fn csv_carries_retractions_and_where_an_import_came_from() {
    let sb = seeded();
    sb.run(&["--json", "retract", "1", "-m", "a fluke"]).ok();
    sb.write(
        "../old.tsv",
        "commit\tval_bpb\tmemory_gb\tstatus\tdescription\na1b2c3d\t0.99\t44.0\tkeep\tbaseline\n",
    );
    sb.run(&[
        "--json",
        "import",
        "../old.tsv",
        "--rename-metric",
        "val_bpb=score",
    ])
    .ok();
    let out = sb.run(&["export"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let retraction = lines
        .iter()
        .find(|l| l.contains(",retraction,"))
        .expect("the retraction");
    let fields: Vec<&str> = retraction.split(',').collect();
    assert_eq!(fields[col("retracts")], "1", "{retraction}");
    let imported = lines.last().unwrap();
    assert!(
        imported.contains("\"\"file\"\":") && imported.contains("old.tsv"),
        "{imported}"
    );
}
