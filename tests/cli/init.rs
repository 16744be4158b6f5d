use crate::common::*;

#[test]
fn init_writes_config_program_and_state_dir() {
    let sb = Sandbox::new();
    let d = sb
        .run(&[
            "--json",
            "init",
            "--target-file",
            "train.py",
            "--eval-command",
            "sh eval.sh",
            "--metric-name",
            "score",
            "--metric-direction",
            "lower",
            "--time-budget",
            "90s",
            "--protected",
            "eval.sh",
        ])
        .ok();
    assert_eq!(
        keys(&d),
        [
            "root",
            "config_path",
            "program_path",
            "state_dir",
            "created",
            "kept",
            "config"
        ]
    );
    assert_eq!(
        d["created"],
        serde_json::json!(["autoresearch.toml", "program.md", ".autoresearch/"])
    );
    let toml = sb.read("autoresearch.toml");
    assert!(toml.contains("target_file = \"train.py\""), "{toml}");
    assert!(
        toml.contains("time_budget = \"90s\""),
        "typed value kept exactly: {toml}"
    );
    assert!(toml.contains("protected = [\"eval.sh\"]"));
    assert!(
        toml.lines().any(|l| l.starts_with('#')),
        "the config is commented"
    );
    assert!(sb.read("program.md").contains("## Ideas to try"));
    assert_eq!(sb.read(".autoresearch/.gitignore"), "*\n");
    // The state dir ignores itself: git sees only the two new files.
    let repo = sb.repo();
    let statuses = repo.statuses(None).unwrap();
    let mut paths: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_ignored())
        .filter_map(|s| s.path().map(str::to_string))
        .collect();
    paths.sort();
    assert_eq!(paths, ["autoresearch.toml", "program.md"]);
}

#[test]
fn init_from_a_subdirectory_writes_at_the_root() {
    let sb = Sandbox::new();
    sb.write("src/model.py", "y = 2\n");
    let sub = sb.path("src");
    sb.run_in(
        &sub,
        &[
            "--json",
            "init",
            "--target-file",
            "model.py",
            "--eval-command",
            "true",
            "--metric-name",
            "loss",
            "--metric-direction",
            "higher",
        ],
    )
    .ok();
    assert!(
        sb.read("autoresearch.toml")
            .contains("target_file = \"src/model.py\"")
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let sb = Sandbox::new();
    sb.init();
    let args = [
        "--json",
        "init",
        "--target-file",
        "train.py",
        "--eval-command",
        "x",
        "--metric-name",
        "m",
        "--metric-direction",
        "higher",
    ];
    sb.run(&args).err("already_initialized", 2);
    let mut forced = args.to_vec();
    forced.push("--force");
    let d = sb.run(&forced).ok();
    assert_eq!(
        d["kept"],
        serde_json::json!(["program.md", ".autoresearch/"])
    );
    assert!(
        sb.read("autoresearch.toml")
            .contains("metric_direction = \"higher\"")
    );
}

#[test]
fn init_without_a_terminal_names_the_missing_flags() {
    let sb = Sandbox::new();
    let v = sb
        .run(&["--json", "init", "--target-file", "train.py"])
        .err("usage", 2);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("--eval-command")
            && msg.contains("--metric-name")
            && msg.contains("--metric-direction"),
        "{msg}"
    );
    assert!(!sb.path("autoresearch.toml").exists());
    // Human mode without a terminal must not wait for input either.
    let out = sb.run(&["--human", "init"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("error:") && out.stderr.contains("try:"),
        "{}",
        out.stderr
    );
}

#[test]
fn init_validates_every_value() {
    let sb = Sandbox::new();
    let base = |t: &str, m: &str, d: &str, b: &str, br: &str| {
        sb.run(&[
            "--json",
            "init",
            "--target-file",
            t,
            "--eval-command",
            "true",
            "--metric-name",
            m,
            "--metric-direction",
            d,
            "--time-budget",
            b,
            &format!("--branch={br}"),
        ])
    };
    base("missing.py", "score", "lower", "5m", "ar").err("usage", 2);
    base("train.py", "bad name", "lower", "5m", "ar").err("usage", 2);
    base("train.py", "score", "down", "5m", "ar").err("usage", 2);
    base("train.py", "score", "lower", "soon", "ar").err("usage", 2);
    base("train.py", "score", "lower", "5m", "bad..branch").err("invalid_name", 2);
    base("train.py", "score", "lower", "5m", "-x").err("invalid_name", 2);
    let outside = sb.home.join("outside.py");
    std::fs::write(&outside, "").unwrap();
    base(outside.to_str().unwrap(), "score", "lower", "5m", "ar").err("usage", 2);
    assert!(!sb.path("autoresearch.toml").exists());
}

#[test]
fn init_outside_git_is_not_git_repo() {
    let sb = Sandbox::no_git();
    sb.run(&[
        "--json",
        "init",
        "--target-file",
        "a",
        "--eval-command",
        "b",
        "--metric-name",
        "c",
        "--metric-direction",
        "lower",
    ])
    .err("not_git_repo", 2);
}

/// With a person at a terminal, `init` asks for what the flags did not give, the time budget
/// included (an empty answer keeps the default). `script` gives the call a terminal.
#[test]
fn interactive_init_asks_for_the_time_budget_too() {
    for (answer, expected) in [
        ("90s", "time_budget = \"90s\""),
        ("", "time_budget = \"5m\""),
    ] {
        let sb = Sandbox::new();
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &format!("{BIN} init"), "/dev/null"])
            .current_dir(&sb.root)
            .env("HOME", &sb.home)
            .env("NO_COLOR", "1")
            .env_remove("AUTORESEARCH_FORMAT")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c
            .spawn()
            .expect("`script` (util-linux) runs the call in a terminal");
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(
            &mut stdin,
            format!("train.py\nsh eval.sh\nscore\nlower\n{answer}\n").as_bytes(),
        )
        .unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{shown}");
        assert!(shown.contains("Time budget per evaluation"), "{shown}");
        let config = sb.read("autoresearch.toml");
        assert!(config.contains(expected), "{config}");
    }
}

/// `init` refuses up front what the config it would write refuses: a control character in the
/// eval command, a branch name git would not take.
#[test]
fn init_refuses_what_the_config_would_refuse() {
    let sb = Sandbox::new();
    let base = [
        "--json",
        "init",
        "--target-file",
        "train.py",
        "--metric-name",
        "score",
        "--metric-direction",
        "lower",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        sb.run(&args)
    };
    let v = with(&["--eval-command", "echo \u{1b}[2J"]).err("usage", 2);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("U+001B"),
        "{v}"
    );
    assert!(
        !v.to_string().contains('\u{1b}'),
        "no raw escape in the envelope"
    );
    let v = with(&["--eval-command", "sh eval.sh", "--branch", "HEAD"]).err("invalid_name", 2);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("HEAD"),
        "{v}"
    );
    assert!(!sb.path("autoresearch.toml").exists());
    // A multi-line script is fine.
    with(&["--eval-command", "cd .\n\tsh eval.sh"]).ok();
}
