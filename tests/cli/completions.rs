//! `completions` and `man`: text generated from the command tree, written as it is in any
//! output mode; an unknown shell is a usage error like any other.

use std::process::{Command, Stdio};

use crate::common::*;

const SHELLS: &[&str] = &["bash", "zsh", "fish", "elvish", "powershell"];

#[test]
fn every_shell_gets_a_script_in_either_mode() {
    let sb = Sandbox::no_git();
    for shell in SHELLS {
        for mode in ["--json", "--human"] {
            let out = sb.run(&[mode, "completions", shell]);
            assert_eq!(out.code, 0, "{shell} {mode}: {}", out.stderr);
            assert!(out.stdout.contains("merge-best"), "{shell} {mode}");
            assert!(!out.stdout.starts_with('{'), "{shell} {mode}: no envelope");
            assert_eq!(out.stderr, "", "{shell} {mode}");
        }
    }
}

#[test]
fn the_bash_script_parses_and_completes_the_commands() {
    let sb = Sandbox::no_git();
    let script = sb.run(&["completions", "bash"]).stdout;
    let path = sb.root.join("autoresearch.bash");
    std::fs::write(&path, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // What `autoresearch <TAB>` offers, asked of the completion function itself.
    let probe = format!(
        "source {}; COMP_WORDS=(autoresearch ''); COMP_CWORD=1; COMP_LINE='autoresearch '; \
         COMP_POINT=13; _autoresearch autoresearch '' autoresearch; echo \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    let words = String::from_utf8_lossy(&out.stdout).to_string();
    for c in ["init", "run", "merge-best", "completions", "man"] {
        assert!(
            words.split_whitespace().any(|w| w == c),
            "{c} not offered: {words}"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_shells() {
    let sb = Sandbox::no_git();
    let v = sb.run(&["--json", "completions", "tcsh"]).err("usage", 2);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("tcsh"), "{message}");
    assert!(message.contains("powershell"), "{message}");
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("autoresearch completions --help"),
        "{v}"
    );
    // Piped, with no mode flag: still the envelope.
    sb.run(&["completions", "tcsh"]).err("usage", 2);
    sb.run(&["--json", "completions"]).err("usage", 2);
}

#[test]
fn the_man_page_is_roff_with_every_command() {
    let sb = Sandbox::no_git();
    for mode in ["--json", "--human"] {
        let out = sb.run(&[mode, "man"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let page = &out.stdout;
        assert!(page.starts_with(".TH AUTORESEARCH 1 "), "{page}");
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH COMMANDS",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
        ] {
            assert!(page.contains(section), "{section}");
        }
        let info = sb.run(&["--json", "agent-info"]).ok();
        for c in info["commands"].as_array().unwrap() {
            let heading = format!(
                ".SH \"AUTORESEARCH {}\"",
                c["name"].as_str().unwrap().to_uppercase()
            );
            let plain = heading.replace('"', "");
            assert!(
                page.contains(&heading) || page.contains(&plain),
                "{heading}"
            );
        }
    }
}

/// groff, when it is installed, reads the page without a warning (`.ci/run` installs it).
#[test]
fn the_man_page_renders_without_warnings() {
    let sb = Sandbox::no_git();
    let page = sb.run(&["man"]).stdout;
    let groff = Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut groff) = groff else {
        assert!(
            std::env::var_os("CI").is_none(),
            "groff is missing under CI"
        );
        return;
    };
    use std::io::Write;
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = groff.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
}
