//! Hostile text in `autoresearch.toml` and in `init --branch` (docs/CONTRACT.md §4): control
//! characters in every string, branch names git would refuse, a config saved with CRLF endings.
//! Each is refused up front as a `config_invalid` or `invalid_name` envelope with the position
//! or the rule, never a panic and never a failure later in git or `sh`.

use crate::common::*;

/// The sandbox's config (`init`'s values), without `key`'s line, with `line` appended.
fn config_with(key: &str, line: &str) -> String {
    let base = [
        "target_file = \"train.py\"",
        "eval_command = \"sh eval.sh\"",
        "metric_name = \"score\"",
        "metric_direction = \"lower\"",
        "time_budget = \"10s\"",
    ];
    let mut lines: Vec<&str> = base
        .into_iter()
        .filter(|l| !l.starts_with(&format!("{key} ")))
        .collect();
    lines.push(line);
    lines.join("\n") + "\n"
}

#[test]
fn a_nul_in_any_config_string_is_config_invalid_at_its_position_on_every_command() {
    let sb = Sandbox::new();
    sb.init();
    for line in [
        r#"branch = "auto\u0000research""#,
        r#"target_file = "train\u0000.py""#,
        r#"protected = ["prepare\u0000.py"]"#,
        r#"eval_command = "sh eval.sh\u0000; rm -rf /""#,
        r#"metric_name = "sco\u0000re""#,
        r#"metric_direction = "lower\u0000""#,
        r#"constraints = ["mem\u0000 <= 1"]"#,
    ] {
        let text = config_with(line.split(' ').next().unwrap(), line);
        sb.write("autoresearch.toml", &text);
        let (row, col) = (text.lines().count(), line.find(r"\u0000").unwrap() + 1);
        let at = format!("autoresearch.toml:{row}:{col}: ");
        for args in [
            &["--json", "status"][..],
            &["--json", "log"],
            &["--json", "best"],
            &["--json", "doctor", "--no-eval"],
            &["--json", "doctor"],
            &["--json", "run", "-m", "x"],
            &[
                "--json", "record", "--status", "kept", "--metric", "1", "-m", "x",
            ],
        ] {
            let v = sb.run(args).err("config_invalid", 2);
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains(&at), "{line} {args:?}: {message}");
            assert!(message.contains("U+0000"), "{line} {args:?}: {message}");
            assert!(
                v["error"]["suggestion"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("line {row}, column {col}")),
                "{v}"
            );
        }
    }
    assert!(sb.ledger_lines().is_empty(), "nothing was recorded");
}

#[test]
fn a_control_character_in_the_config_never_reaches_the_terminal_raw() {
    let sb = Sandbox::new();
    sb.init();
    for line in [
        // An eval that would set the terminal's title, then ring.
        r#"eval_command = "sh eval.sh \u001b]0;pwned\u0007""#,
        // A value that is refused anyway: its message quotes it.
        r#"metric_direction = "\u001b[2Jlower""#,
        r#"time_budget = "\u001b[31m5m""#,
    ] {
        sb.write(
            "autoresearch.toml",
            &config_with(line.split(' ').next().unwrap(), line),
        );
        let out = sb.run(&["--human", "status"]);
        assert_eq!(out.code, 2, "{line}: {}", out.stderr);
        assert!(
            out.stderr.contains("error: autoresearch.toml:"),
            "{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains(['\u{1b}', '\u{7}']) && !out.stdout.contains('\u{1b}'),
            "{line}: {:?}",
            out.stderr
        );
    }
}

#[test]
fn a_multi_line_eval_command_saved_with_crlf_runs_as_written() {
    let sb = Sandbox::new();
    sb.init();
    let script = "eval_command = \"\"\"\necho starting\n\tsh eval.sh\n\"\"\"";
    sb.write(
        "autoresearch.toml",
        &config_with("eval_command", script).replace('\n', "\r\n"),
    );
    sb.commit_all("a config from an editor that writes CRLF");
    // With the `\r`s kept, `sh` would look for a file named `eval.sh\r`: a crash, no metric.
    let d = sb.run(&["--json", "run", "-m", "baseline"]).ok();
    assert_eq!(d["status"], "baseline", "{d}");
    assert_eq!(d["metric"], 1.0);
}

#[test]
fn branch_names_git_refuses_are_refused_by_the_config_and_by_init() {
    let sb = Sandbox::new();
    for bad in [
        "HEAD",
        "@",
        "refs/heads/autoresearch",
        "-x",
        "a..b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[b",
        "a\\b",
        "a b",
        "x.lock",
        "x/",
        "a//b",
        ".hidden",
        "a@{1}",
        &"x".repeat(201),
        // Git would take it, but its fork `<branch>-fork-<name>` would not fit in a file name.
        &"x".repeat(195),
    ] {
        let mut args = vec!["--json"];
        args.extend_from_slice(INIT);
        // `--branch=<name>`: `-x` as a separate argument would be read as a flag.
        let flag = format!("--branch={bad}");
        args.push(&flag);
        sb.run(&args).err("invalid_name", 2);
        assert!(
            !sb.path("autoresearch.toml").exists(),
            "{bad}: nothing written"
        );
        let quoted = serde_json::to_string(bad).unwrap();
        sb.write(
            "autoresearch.toml",
            &config_with("branch", &format!("branch = {quoted}")),
        );
        let v = sb.run(&["--json", "status"]).err("config_invalid", 2);
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not a valid git branch name: it "),
            "{bad}: {v}"
        );
        std::fs::remove_file(sb.path("autoresearch.toml")).unwrap();
    }
    for good in ["exp/lr-sweep", "a@b", "ü", &"x".repeat(194)] {
        sb.write(
            "autoresearch.toml",
            &config_with("branch", &format!("branch = \"{good}\"")),
        );
        let d = sb.run(&["--json", "status"]).ok();
        assert_eq!(d["config"]["branch"], good);
    }
}
