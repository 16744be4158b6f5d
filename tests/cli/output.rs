use crate::common::*;

#[test]
fn usage_errors_are_enveloped_in_json_mode() {
    let sb = Sandbox::new();
    let v = sb
        .run(&["--json", "log", "--limit", "many"])
        .err("usage", 2);
    assert_eq!(v["command"], "log");
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("autoresearch log --help")
    );
    let v = sb.run(&["nonsense"]).err("usage", 2);
    assert_eq!(v["command"], "autoresearch");
    // Piped stdout means JSON without the flag.
    let v = sb.run(&["log", "--bogus"]).err("usage", 2);
    assert_eq!(v["status"], "error");
}

#[test]
fn help_and_version_exit_zero() {
    let sb = Sandbox::new();
    let out = sb.run(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Usage"));
    let out = sb.run(&["--version"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("autoresearch "));
}

#[test]
fn mode_selection() {
    let sb = Sandbox::new();
    // --human into a pipe prints text, not JSON.
    let out = sb.run(&["--human", "status"]);
    assert!(!out.stdout.trim_start().starts_with('{'), "{}", out.stdout);
    // The env var sets the default; a flag wins over it.
    let out = run_cmd({
        let mut c = sb.cmd(&["status"]);
        c.env("AUTORESEARCH_FORMAT", "human");
        c
    });
    assert!(!out.stdout.trim_start().starts_with('{'));
    let out = run_cmd({
        let mut c = sb.cmd(&["--json", "status"]);
        c.env("AUTORESEARCH_FORMAT", "human");
        c
    });
    out.json();
    // Both flags at once is a usage error.
    sb.run(&["--json", "--human", "status"]).err("usage", 2);
    // Global flags work after the subcommand too.
    sb.run(&["status", "--json"]).json();
}

#[test]
fn human_errors_go_to_stderr_with_a_suggestion() {
    let sb = Sandbox::no_git();
    let out = sb.run(&["--human", "status"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("  try: "), "{}", out.stderr);
    sb.run(&["--json", "status"]).err("not_git_repo", 2);
}

/// The global flags are listed under their own heading in every command's help, after the
/// command's own options.
#[test]
fn global_flags_have_their_own_heading_in_every_help() {
    let sb = Sandbox::new();
    let info = sb.run(&["--json", "agent-info"]).ok();
    for c in info["commands"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let help = sb.run(&[name, "--help"]).stdout;
        let heading = help
            .find("Global options:")
            .unwrap_or_else(|| panic!("`{name} --help` has no global heading:\n{help}"));
        for flag in ["--json", "--human", "--color <WHEN>"] {
            let at = help
                .find(&format!("      {flag}"))
                .unwrap_or_else(|| panic!("`{name} --help` lacks {flag}:\n{help}"));
            assert!(
                at > heading,
                "`{name} --help`: {flag} is not under the heading"
            );
        }
    }
}
