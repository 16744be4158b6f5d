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
            "protected_auto",
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

/// `init` with the sandbox's target, metric and budget, this eval command, then `extra`.
fn init_with(sb: &Sandbox, eval: &str, extra: &[&str]) -> Out {
    let mut args = vec![
        "--json",
        "init",
        "--force",
        "--target-file",
        "train.py",
        "--eval-command",
        eval,
        "--metric-name",
        "score",
        "--metric-direction",
        "lower",
    ];
    args.extend_from_slice(extra);
    sb.run(&args)
}

/// Protection by default: the repository files the eval command names are the harness, and
/// `init` protects them, says so in `protected_auto` and in a hint, and writes them to the config.
#[test]
fn init_protects_the_files_the_eval_command_names() {
    let sb = Sandbox::new();
    sb.write("bench.py", "print('score: 1')\n");
    sb.write("scripts/x.sh", "echo 'score: 1'\n");
    sb.write("scripts/run_eval.py", "print('score: 1')\n");
    for (eval, expected) in [
        ("sh eval.sh", vec!["eval.sh"]),
        ("python3 bench.py --n 5", vec!["bench.py"]),
        ("./scripts/x.sh", vec!["scripts/x.sh"]),
        ("uv run scripts/run_eval.py", vec!["scripts/run_eval.py"]),
        (
            "cd . && sh ./eval.sh 'bench.py' > bench.py; sh eval.sh",
            vec!["eval.sh", "bench.py"],
        ),
    ] {
        let out = init_with(&sb, eval, &[]);
        let v = out.json();
        let d = out.ok();
        assert_eq!(d["protected_auto"], serde_json::json!(expected), "{eval}");
        assert_eq!(
            d["config"]["protected"],
            serde_json::json!(expected),
            "{eval}"
        );
        let toml = sb.read("autoresearch.toml");
        let line = format!("protected = {}", serde_json::json!(expected)).replace(',', ", ");
        assert!(toml.contains(&line), "{eval}: {line} in {toml}");
        let hint = v["hints"][0].as_str().unwrap();
        assert!(
            hint.starts_with(&format!("Protected `{}`", expected[0]))
                && hint.contains("named in the eval command")
                && hint.contains("--no-protect"),
            "{hint}"
        );
    }

    // Explicit `--protected` files come first, and are not repeated or claimed as automatic.
    let d = init_with(
        &sb,
        "sh eval.sh && python3 bench.py",
        &["--protected", "bench.py", "--protected", "./bench.py"],
    )
    .ok();
    assert_eq!(
        d["config"]["protected"],
        serde_json::json!(["bench.py", "eval.sh"])
    );
    assert_eq!(d["protected_auto"], serde_json::json!(["eval.sh"]));

    // The human view says which files init chose.
    let out = sb.run(&[
        "--human",
        "init",
        "--force",
        "--target-file",
        "train.py",
        "--eval-command",
        "python3 bench.py",
        "--metric-name",
        "score",
        "--metric-direction",
        "lower",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("protect   bench.py (named in the eval command)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("Protected `bench.py`"),
        "{}",
        out.stderr
    );
}

/// What the eval command names is protected only when it is a file of the repository that the
/// agent does not own: not a target, not a missing path, not a directory, not the config, not
/// something outside the repository or only the shell can resolve.
#[test]
fn init_protects_only_repository_files_that_are_not_targets() {
    let sb = Sandbox::new();
    sb.write("scripts/x.sh", "echo 'score: 1'\n");
    let outside = sb.home.join("outside.sh");
    std::fs::write(&outside, "echo 'score: 1'\n").unwrap();
    let outside = outside.to_str().unwrap().to_string();
    for eval in [
        "python3 train.py",
        "python3 ./train.py --fast",
        "python3 missing.py",
        "ls scripts",
        "cat autoresearch.toml",
        "sh $PWD/eval.sh",
        "sh eval.s?",
        "sh ../repo/eval.sh",
        &format!("sh {outside}"),
        "echo 'score: 1' > eval.sh",
        "true # sh eval.sh",
    ] {
        let out = init_with(&sb, eval, &[]);
        let v = out.json();
        let d = out.ok();
        assert_eq!(d["protected_auto"], serde_json::json!([]), "{eval}");
        assert_eq!(d["config"]["protected"], serde_json::json!([]), "{eval}");
        assert!(
            sb.read("autoresearch.toml")
                .contains("# protected = [\"prepare.py\"]"),
            "{eval}"
        );
        assert!(
            v["hints"][0]
                .as_str()
                .unwrap()
                .starts_with("Nothing is protected"),
            "{eval}: {v}"
        );
    }
    // An absolute path inside the repository is stored relative to the root.
    let abs = sb.path("eval.sh").canonicalize().unwrap();
    let d = init_with(&sb, &format!("sh {}", abs.display()), &[]).ok();
    assert_eq!(d["protected_auto"], serde_json::json!(["eval.sh"]));
}

/// `--no-protect` leaves out the files the eval command names; explicit `--protected` files stay.
#[test]
fn no_protect_protects_only_the_explicit_files() {
    let sb = Sandbox::new();
    sb.write("data.txt", "1\n");
    let out = init_with(&sb, "sh eval.sh data.txt", &["--no-protect"]);
    let v = out.json();
    let d = out.ok();
    assert_eq!(d["protected_auto"], serde_json::json!([]));
    assert_eq!(d["config"]["protected"], serde_json::json!([]));
    assert!(
        sb.read("autoresearch.toml")
            .contains("# protected = [\"prepare.py\"]")
    );
    assert!(
        !v["hints"].to_string().contains("rotected"),
        "no protection hint after an explicit opt-out: {v}"
    );
    let d = init_with(
        &sb,
        "sh eval.sh data.txt",
        &["--no-protect", "--protected", "data.txt"],
    )
    .ok();
    assert_eq!(d["protected_auto"], serde_json::json!([]));
    assert_eq!(d["config"]["protected"], serde_json::json!(["data.txt"]));
}

/// The protection is real: after a plain `init`, an experiment that edits the eval script is
/// refused with `protected_changed`.
#[test]
fn the_eval_script_init_protected_cannot_be_changed_by_an_experiment() {
    let sb = Sandbox::new();
    sb.init();
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    set_x(&sb, "0.5");
    sb.write("eval.sh", "echo 'score: 0'\n");
    let v = sb
        .run(&["--json", "run", "-m", "cheat"])
        .err("protected_changed", 2);
    assert!(v["error"]["message"].to_string().contains("eval.sh"), "{v}");
}

/// The setup files to commit include a protected file git does not track yet: `run` guards
/// only tracked files.
#[test]
fn the_commit_hint_adds_an_untracked_protected_file() {
    let sb = Sandbox::new();
    sb.write("bench.py", "print('score: 1')\n");
    let v = init_with(&sb, "python3 bench.py", &[]).json();
    assert!(
        v["hints"]
            .to_string()
            .contains("`git add bench.py autoresearch.toml program.md && git commit"),
        "{v}"
    );
}

/// The command `init` suggests when flags are missing protects the harness too.
#[test]
fn the_suggested_init_command_protects_the_harness() {
    let sb = Sandbox::new();
    let v = sb
        .run(&["--json", "init", "--target-file", "train.py"])
        .err("usage", 2);
    let s = v["error"]["suggestion"].as_str().unwrap();
    assert!(
        s.contains("autoresearch init ") && s.contains("--protected <"),
        "{s}"
    );
}
