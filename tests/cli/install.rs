//! `install` / `uninstall` (RELIABILITY 17–18): for every target, in a temporary HOME with and
//! without its environment overrides, the files land at the documented paths, a second install
//! writes nothing, edits survive, `--force` backs up, `--dry-run` writes nothing, and uninstall
//! removes only what is still ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Run with extra environment variables.
fn run_env(sb: &Sandbox, cwd: &Path, args: &[&str], envs: &[(&str, PathBuf)]) -> Out {
    let mut c = sb.cmd_in(cwd, args);
    for (k, v) in envs {
        c.env(k, v);
    }
    run_cmd(c)
}

/// Every file and directory under `dirs` with a hash of its content: the "tree hash".
fn tree(dirs: &[&Path]) -> BTreeMap<PathBuf, u64> {
    use std::hash::{Hash, Hasher};
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.components().any(|c| c.as_os_str() == ".git") {
                continue;
            }
            if path.is_dir() {
                out.insert(path.clone(), 0);
                walk(&path, out);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).unwrap_or_default().hash(&mut h);
                let m = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                m.hash(&mut h);
                out.insert(path, h.finish());
            }
        }
    }
    let mut out = BTreeMap::new();
    for d in dirs {
        walk(d, &mut out);
    }
    out
}

fn files(d: &Value) -> Vec<Value> {
    d["files"].as_array().unwrap().clone()
}

fn action_of(d: &Value, path: &Path) -> String {
    let p = path.display().to_string();
    files(d)
        .iter()
        .find(|f| f["path"] == p.as_str())
        .unwrap_or_else(|| panic!("{p} not in {d}"))["action"]
        .as_str()
        .unwrap()
        .to_string()
}

fn actions(d: &Value) -> Vec<String> {
    files(d)
        .iter()
        .map(|f| f["action"].as_str().unwrap().to_string())
        .collect()
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    PathBuf::from(format!("{}{s}", p.display()))
}

/// Check the front matter basics on disk: name equals the directory, the version is recorded.
fn assert_installed_file(p: &Path) {
    let text = std::fs::read_to_string(p).unwrap();
    assert!(text.starts_with("---\n"), "{}", p.display());
    if p.file_name().unwrap() == "SKILL.md" {
        let dir = p.parent().unwrap().file_name().unwrap().to_str().unwrap();
        assert!(
            text.contains(&format!("\nname: {dir}\n")),
            "name equals the directory in {}",
            p.display()
        );
        assert!(
            text.contains(&format!("autoresearch-version: \"{VERSION}\"")),
            "{}",
            p.display()
        );
    } else {
        assert!(
            text.contains(&format!("autoresearch-version: {VERSION}")),
            "{}",
            p.display()
        );
    }
}

/// The whole life of one target's files in one scope.
fn lifecycle(
    sb: &Sandbox,
    cwd: &Path,
    target: &str,
    scope: &str,
    envs: &[(&str, PathBuf)],
    expected: &[PathBuf],
    watch: &[&Path],
) {
    let ctx = format!("{target} {scope} {envs:?}");
    let install = |extra: &[&str]| {
        let mut args = vec!["--json", "install", target, scope];
        args.extend_from_slice(extra);
        run_env(sb, cwd, &args, envs)
    };
    let uninstall = |extra: &[&str]| {
        let mut args = vec!["--json", "uninstall", target, scope];
        args.extend_from_slice(extra);
        run_env(sb, cwd, &args, envs)
    };

    // A dry run first: every path and action, nothing written.
    let before = tree(watch);
    let d = install(&["--dry-run"]).ok();
    assert_eq!(d["dry_run"], true);
    assert_eq!(actions(&d), vec!["created"; expected.len()], "{ctx}");
    assert_eq!(tree(watch), before, "dry run wrote something: {ctx}");

    // Install: the documented paths, and nothing else of ours.
    let d = install(&[]).ok();
    assert_eq!(d["scope"], scope.trim_start_matches("--"), "{ctx}");
    let got: Vec<String> = files(&d)
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = expected.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(got, want, "{ctx}");
    for p in expected {
        assert_eq!(action_of(&d, p), "created", "{ctx}");
        assert_installed_file(p);
    }

    // A second install writes nothing: mtimes stay (set far in the past to make it visible).
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for p in expected {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let d = install(&[]).ok();
    assert_eq!(actions(&d), vec!["unchanged"; expected.len()], "{ctx}");
    for p in expected {
        assert_eq!(
            mtime(p),
            old,
            "unchanged file was rewritten: {}",
            p.display()
        );
    }

    // An edited file survives an update; the new version goes beside it.
    let edited = &expected[0];
    let mine = format!(
        "{}\nMy own note.\n",
        std::fs::read_to_string(edited).unwrap()
    );
    std::fs::write(edited, &mine).unwrap();
    let d = install(&[]).ok();
    assert_eq!(action_of(&d, edited), "kept-modified", "{ctx}");
    let beside = with_suffix(edited, ".autoresearch-new");
    let f = files(&d)
        .into_iter()
        .find(|f| f["path"] == edited.display().to_string().as_str())
        .unwrap();
    assert_eq!(f["new_path"], beside.display().to_string().as_str());
    assert_eq!(
        std::fs::read_to_string(edited).unwrap(),
        mine,
        "the user's edit is kept"
    );
    let fresh = std::fs::read_to_string(&beside).unwrap();
    assert!(fresh.contains("autoresearch-version") && !fresh.contains("My own note."));

    // --force --dry-run: says what it would back up, changes nothing.
    let before = tree(watch);
    let d = install(&["--force", "--dry-run"]).ok();
    assert_eq!(action_of(&d, edited), "replaced", "{ctx}");
    assert_eq!(tree(watch), before, "dry run wrote something: {ctx}");

    // --force backs up and replaces.
    let d = install(&["--force"]).ok();
    assert_eq!(action_of(&d, edited), "replaced", "{ctx}");
    let backup = with_suffix(edited, ".autoresearch-backup");
    let f = files(&d)
        .into_iter()
        .find(|f| f["path"] == edited.display().to_string().as_str())
        .unwrap();
    assert_eq!(f["backup"], backup.display().to_string().as_str());
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        mine,
        "the backup holds the user's version"
    );
    assert_eq!(
        std::fs::read_to_string(edited).unwrap(),
        fresh,
        "replaced by the current version"
    );

    // A user's file in the same folder, and a dry-run uninstall that changes nothing.
    let user_file = edited.parent().unwrap().join("notes.md");
    std::fs::write(&user_file, "mine\n").unwrap();
    let before = tree(watch);
    let d = uninstall(&["--dry-run"]).ok();
    assert!(actions(&d).iter().all(|a| a == "removed"), "{ctx}: {d}");
    assert_eq!(tree(watch), before, "dry run removed something: {ctx}");

    // Uninstall removes our unmodified files (and our `.autoresearch-new`), nothing else.
    let d = uninstall(&[]).ok();
    for p in expected {
        assert_eq!(action_of(&d, p), "removed", "{ctx}");
        assert!(!p.exists(), "{}", p.display());
    }
    assert!(!beside.exists(), "our .autoresearch-new goes too");
    assert_eq!(
        std::fs::read_to_string(&user_file).unwrap(),
        "mine\n",
        "user file kept"
    );
    assert!(backup.exists(), "backups hold the user's data: kept");
    std::fs::remove_file(&user_file).unwrap();
    std::fs::remove_file(&backup).unwrap();

    // An edited copy is kept by uninstall.
    install(&[]).ok();
    std::fs::write(edited, &mine).unwrap();
    let d = uninstall(&[]).ok();
    assert_eq!(action_of(&d, edited), "kept-modified", "{ctx}");
    assert_eq!(std::fs::read_to_string(edited).unwrap(), mine);
    for p in &expected[1..] {
        assert_eq!(action_of(&d, p), "removed", "{ctx}");
    }
    let d = uninstall(&[]).ok();
    assert_eq!(
        action_of(&d, edited),
        "kept-modified",
        "still the user's: {ctx}"
    );
    std::fs::remove_file(edited).unwrap();
    let d = uninstall(&[]).ok();
    assert!(
        actions(&d).iter().all(|a| a == "not-installed"),
        "{ctx}: {d}"
    );
}

struct Case {
    target: &'static str,
    /// Files relative to the repository root.
    project: &'static [&'static str],
    /// The user-wide file relative to HOME, without overrides.
    global: &'static str,
    /// An override variable and the file relative to its value (None: the variable must not
    /// move the path: then `global` is expected again).
    over: Option<(&'static str, Option<&'static str>)>,
}

const CASES: &[Case] = &[
    Case {
        target: "claude-code",
        project: &[".claude/skills/autoresearch/SKILL.md"],
        global: ".claude/skills/autoresearch/SKILL.md",
        over: Some(("CLAUDE_CONFIG_DIR", Some("skills/autoresearch/SKILL.md"))),
    },
    Case {
        target: "codex",
        project: &[".agents/skills/autoresearch/SKILL.md"],
        global: ".agents/skills/autoresearch/SKILL.md",
        // CODEX_HOME only moves Codex's deprecated root: we still write ~/.agents/skills.
        over: Some(("CODEX_HOME", None)),
    },
    Case {
        target: "gemini",
        project: &[".gemini/skills/autoresearch/SKILL.md"],
        global: ".gemini/skills/autoresearch/SKILL.md",
        over: Some((
            "GEMINI_CLI_HOME",
            Some(".gemini/skills/autoresearch/SKILL.md"),
        )),
    },
    Case {
        target: "opencode",
        project: &[".opencode/skills/autoresearch/SKILL.md"],
        global: ".config/opencode/skills/autoresearch/SKILL.md",
        over: Some(("OPENCODE_CONFIG_DIR", Some("skills/autoresearch/SKILL.md"))),
    },
    Case {
        target: "copilot",
        project: &[".github/skills/autoresearch/SKILL.md"],
        global: ".copilot/skills/autoresearch/SKILL.md",
        over: Some(("COPILOT_HOME", Some("skills/autoresearch/SKILL.md"))),
    },
    Case {
        target: "cursor",
        project: &[
            ".cursor/skills/autoresearch/SKILL.md",
            ".cursor/rules/autoresearch.mdc",
        ],
        global: ".cursor/skills/autoresearch/SKILL.md",
        over: None,
    },
    Case {
        target: "windsurf",
        project: &[
            ".windsurf/skills/autoresearch/SKILL.md",
            ".windsurf/rules/autoresearch.md",
        ],
        global: ".codeium/windsurf/skills/autoresearch/SKILL.md",
        over: None,
    },
    Case {
        target: "agents",
        project: &[".agents/skills/autoresearch/SKILL.md"],
        global: ".agents/skills/autoresearch/SKILL.md",
        over: None,
    },
];

fn case_lifecycles(target: &str) {
    let case = CASES.iter().find(|c| c.target == target).unwrap();
    // Project scope (the default inside a repository is tested separately).
    let sb = Sandbox::new();
    let expected: Vec<PathBuf> = case.project.iter().map(|p| sb.root.join(p)).collect();
    lifecycle(
        &sb,
        &sb.root,
        target,
        "--project",
        &[],
        &expected,
        &[&sb.root, &sb.home],
    );

    // Global scope, no override.
    let sb = Sandbox::new();
    let expected = vec![sb.home.join(case.global)];
    lifecycle(
        &sb,
        &sb.root,
        target,
        "--global",
        &[],
        &expected,
        &[&sb.root, &sb.home],
    );

    // Global scope with the override set (outside HOME, to see where the files go).
    if let Some((var, rel)) = case.over {
        let sb = Sandbox::new();
        let over = sb.home.parent().unwrap().join("override");
        std::fs::create_dir_all(&over).unwrap();
        let expected = vec![match rel {
            Some(rel) => over.join(rel),
            None => sb.home.join(case.global),
        }];
        let envs = [(var, over.clone())];
        lifecycle(
            &sb,
            &sb.root,
            target,
            "--global",
            &envs,
            &expected,
            &[&sb.root, &sb.home, &over],
        );
        if rel.is_some() {
            assert!(
                !sb.home.join(case.global).exists(),
                "{var} set: nothing under HOME"
            );
        } else {
            assert_eq!(
                tree(&[&over]),
                BTreeMap::new(),
                "{var} must not receive files"
            );
        }
    }
}

#[test]
fn claude_code_lifecycle() {
    case_lifecycles("claude-code");
}

#[test]
fn codex_lifecycle() {
    case_lifecycles("codex");
}

#[test]
fn gemini_lifecycle() {
    case_lifecycles("gemini");
}

#[test]
fn opencode_lifecycle() {
    case_lifecycles("opencode");
}

#[test]
fn copilot_lifecycle() {
    case_lifecycles("copilot");
}

#[test]
fn cursor_lifecycle() {
    case_lifecycles("cursor");
}

#[test]
fn windsurf_lifecycle() {
    case_lifecycles("windsurf");
}

#[test]
fn agents_lifecycle() {
    case_lifecycles("agents");
}

#[test]
fn opencode_follows_xdg_config_home_below_its_own_variable() {
    let sb = Sandbox::new();
    let xdg = sb.home.parent().unwrap().join("xdg");
    let d = run_env(
        &sb,
        &sb.root,
        &["--json", "install", "opencode", "--global"],
        &[("XDG_CONFIG_HOME", xdg.clone())],
    )
    .ok();
    assert_eq!(
        action_of(&d, &xdg.join("opencode/skills/autoresearch/SKILL.md")),
        "created"
    );
    // Our own global manifest follows XDG_CONFIG_HOME too.
    assert_eq!(
        d["manifest"],
        xdg.join("autoresearch/installed.json")
            .display()
            .to_string()
            .as_str()
    );
    assert!(xdg.join("autoresearch/installed.json").is_file());
    // An empty or relative override is ignored.
    let sb = Sandbox::new();
    let d = run_env(
        &sb,
        &sb.root,
        &["--json", "install", "claude-code", "--global"],
        &[("CLAUDE_CONFIG_DIR", PathBuf::from(""))],
    )
    .ok();
    assert_eq!(
        action_of(&d, &sb.home.join(".claude/skills/autoresearch/SKILL.md")),
        "created"
    );
}

#[test]
fn install_all_writes_each_path_once() {
    let sb = Sandbox::new();
    let d = sb.run(&["--json", "install", "all"]).ok();
    assert_eq!(
        keys(&d),
        [
            "scope",
            "root",
            "version",
            "dry_run",
            "manifest",
            "files",
            "removed_dirs"
        ]
    );
    assert_eq!(
        d["scope"], "project",
        "inside a repository the default is the project"
    );
    assert_eq!(d["version"], VERSION);
    let f = files(&d);
    assert_eq!(
        keys(&f[0]),
        [
            "path", "kind", "targets", "action", "detail", "new_path", "backup"
        ]
    );
    let paths: Vec<&str> = f.iter().map(|f| f["path"].as_str().unwrap()).collect();
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), paths.len(), "no path twice: {paths:?}");
    assert_eq!(
        paths.len(),
        9,
        "7 skill dirs (codex and agents share one) + 2 rules"
    );
    let shared = f
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .unwrap()
                .ends_with(".agents/skills/autoresearch/SKILL.md")
        })
        .unwrap();
    assert_eq!(shared["targets"], serde_json::json!(["codex", "agents"]));
    // `install codex agents` reports the shared path once, naming both.
    let sb2 = Sandbox::new();
    let d = sb2.run(&["--json", "install", "codex", "agents"]).ok();
    assert_eq!(files(&d).len(), 1);
    assert_eq!(
        files(&d)[0]["targets"],
        serde_json::json!(["codex", "agents"])
    );
    // The manifest lives in the self-ignoring state dir: git sees only the skill files.
    assert!(sb.path(".autoresearch/installed.json").is_file());
    assert_eq!(sb.read(".autoresearch/.gitignore"), "*\n");
    let repo = sb.repo();
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut opts)).unwrap();
    let untracked: Vec<String> = statuses
        .iter()
        .filter_map(|s| s.path().map(str::to_string))
        .collect();
    assert!(
        untracked.iter().all(|p| !p.starts_with(".autoresearch/")),
        "{untracked:?}"
    );
    assert_eq!(untracked.len(), 9, "{untracked:?}");
}

#[test]
fn default_scope_and_scope_errors() {
    let sb = Sandbox::no_git();
    let d = sb.run(&["--json", "install", "claude-code"]).ok();
    assert_eq!(
        d["scope"], "global",
        "outside a repository the default is the user"
    );
    assert!(
        sb.home
            .join(".claude/skills/autoresearch/SKILL.md")
            .is_file()
    );
    assert!(
        sb.home
            .join(".config/autoresearch/installed.json")
            .is_file()
    );
    let v = sb
        .run(&["--json", "install", "claude-code", "--project"])
        .err("not_git_repo", 2);
    assert!(
        v["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("git init")
    );
    sb.run(&["--json", "install", "claude-code", "--project", "--global"])
        .err("usage", 2);
    // A subdirectory of a repository installs at the work-tree root.
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("src/deep")).unwrap();
    let d = sb
        .run_in(&sb.path("src/deep"), &["--json", "install", "gemini"])
        .ok();
    assert_eq!(d["root"], sb.root.display().to_string().as_str());
    assert!(sb.path(".gemini/skills/autoresearch/SKILL.md").is_file());
}

#[test]
fn unknown_targets_are_usage_errors_that_list_the_targets() {
    let sb = Sandbox::new();
    for cmd in ["install", "uninstall"] {
        let v = sb
            .run(&["--json", cmd, "claude-code", "vim"])
            .err("usage", 2);
        let msg = v["error"]["message"].as_str().unwrap();
        for t in [
            "claude-code",
            "codex",
            "gemini",
            "opencode",
            "copilot",
            "cursor",
            "windsurf",
            "agents",
            "all",
        ] {
            assert!(msg.contains(t), "{msg}");
        }
        assert!(
            v["error"]["suggestion"]
                .as_str()
                .unwrap()
                .contains(&format!("autoresearch {cmd} "))
        );
        sb.run(&["--json", cmd]).err("usage", 2);
    }
    assert!(
        !sb.path(".claude").exists(),
        "nothing written before the error"
    );
}

#[test]
fn a_file_that_is_not_ours_is_skipped_until_forced() {
    let sb = Sandbox::new();
    sb.write(
        ".claude/skills/autoresearch/SKILL.md",
        "---\nname: autoresearch\ndescription: mine\n---\nMy skill.\n",
    );
    let d = sb.run(&["--json", "install", "claude-code"]).ok();
    assert_eq!(actions(&d), ["skipped"]);
    assert!(files(&d)[0]["detail"].as_str().unwrap().contains("--force"));
    let v = sb.run(&["--json", "install", "claude-code"]).json();
    assert!(
        v["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str().unwrap().contains("--force")),
        "{v}"
    );
    assert!(
        !sb.path(".claude/skills/autoresearch/SKILL.md.autoresearch-new")
            .exists()
    );
    let d = sb.run(&["--json", "uninstall", "claude-code"]).ok();
    assert_eq!(actions(&d), ["skipped"]);
    assert!(
        sb.read(".claude/skills/autoresearch/SKILL.md")
            .contains("My skill.")
    );
    let d = sb
        .run(&["--json", "install", "claude-code", "--force"])
        .ok();
    assert_eq!(actions(&d), ["replaced"]);
    assert!(
        sb.read(".claude/skills/autoresearch/SKILL.md.autoresearch-backup")
            .contains("My skill.")
    );
    // A second forced replacement never overwrites the first backup.
    sb.write(".claude/skills/autoresearch/SKILL.md", "other\n");
    let d = sb
        .run(&["--json", "install", "claude-code", "--force"])
        .ok();
    let backup = files(&d)[0]["backup"].as_str().unwrap().to_string();
    assert!(backup.contains(".autoresearch-backup-"), "{backup}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "other\n");
    assert!(
        sb.read(".claude/skills/autoresearch/SKILL.md.autoresearch-backup")
            .contains("My skill.")
    );
}

/// FNV-1a 64, as the manifest records hashes.
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}

#[test]
fn an_older_install_is_updated_and_status_reports_it() {
    let sb = Sandbox::new();
    sb.run(&["--json", "install", "claude-code", "cursor"]).ok();
    // Make it look written by 0.0.1: older text, and the manifest says we wrote that text.
    let skill = sb.path(".claude/skills/autoresearch/SKILL.md");
    let old = std::fs::read_to_string(&skill)
        .unwrap()
        .replace(
            &format!("autoresearch-version: \"{VERSION}\""),
            "autoresearch-version: \"0.0.1\"",
        )
        .replace(
            "# autoresearch: the overnight",
            "# autoresearch (old): the overnight",
        );
    std::fs::write(&skill, &old).unwrap();
    let mpath = sb.path(".autoresearch/installed.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    for e in m["files"].as_array_mut().unwrap() {
        if e["path"] == skill.display().to_string().as_str() {
            e["hash"] = Value::from(fnv(old.as_bytes()));
            e["version"] = Value::from("0.0.1");
        }
    }
    std::fs::write(&mpath, serde_json::to_string(&m).unwrap()).unwrap();

    let v = sb.run(&["--json", "status"]).json();
    let skills = v["data"]["skills"].as_array().unwrap();
    assert_eq!(
        keys(&skills[0]),
        ["targets", "scope", "kind", "path", "version", "outdated"]
    );
    let s = skills
        .iter()
        .find(|s| s["path"] == skill.display().to_string().as_str())
        .unwrap();
    assert_eq!(s["version"], "0.0.1");
    assert_eq!(s["outdated"], true);
    assert!(
        skills
            .iter()
            .filter(|s| s["path"] != skill.display().to_string().as_str())
            .all(|s| s["outdated"] == false)
    );
    let hint = v["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .find(|h| h.contains("older"))
        .expect("an outdated hint");
    assert!(
        hint.contains("`autoresearch install claude-code --project`"),
        "{hint}"
    );

    let d = sb.run(&["--json", "install", "claude-code"]).ok();
    assert_eq!(actions(&d), ["updated"]);
    assert!(files(&d)[0]["detail"].as_str().unwrap().contains("0.0.1"));
    assert!(
        !sb.read(".claude/skills/autoresearch/SKILL.md")
            .contains("(old)")
    );
    let v = sb.run(&["--json", "status"]).json();
    assert!(
        v["data"]["skills"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outdated"] == false)
    );
    // The hash we wrote before is still recognised as ours.
    std::fs::write(&skill, &old).unwrap();
    assert_eq!(
        actions(&sb.run(&["--json", "install", "claude-code"]).ok()),
        ["updated"]
    );
}

#[test]
fn a_lost_manifest_still_recognises_our_current_files() {
    let sb = Sandbox::new();
    sb.run(&["--json", "install", "claude-code"]).ok();
    std::fs::remove_file(sb.path(".autoresearch/installed.json")).unwrap();
    assert_eq!(
        actions(&sb.run(&["--json", "install", "claude-code"]).ok()),
        ["unchanged"]
    );
    std::fs::remove_file(sb.path(".autoresearch/installed.json")).unwrap();
    assert_eq!(
        actions(&sb.run(&["--json", "uninstall", "claude-code"]).ok()),
        ["removed"]
    );
    // A corrupt manifest is a warning, not a failure.
    sb.run(&["--json", "install", "claude-code"]).ok();
    sb.write(".autoresearch/installed.json", "{oops");
    let v = sb.run(&["--json", "install", "claude-code"]).json();
    assert_eq!(v["status"], "success");
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("installed.json"),
        "{v}"
    );
}

#[test]
fn uninstall_removes_only_directories_it_created() {
    let sb = Sandbox::new();
    sb.write(".github/workflows/ci.yml", "on: push\n");
    sb.run(&["--json", "install", "copilot", "claude-code", "cursor"])
        .ok();
    let d = sb.run(&["--json", "uninstall", "all"]).ok();
    let removed: Vec<String> = d["removed_dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        removed.contains(&sb.path(".github/skills").display().to_string()),
        "{removed:?}"
    );
    assert!(
        !removed.contains(&sb.path(".github").display().to_string()),
        "pre-existing dir kept"
    );
    assert!(sb.path(".github/workflows/ci.yml").is_file());
    assert!(!sb.path(".github/skills").exists());
    assert!(
        !sb.path(".claude").exists(),
        "created by install, empty: removed"
    );
    assert!(!sb.path(".cursor").exists());
    assert!(
        !sb.path(".autoresearch/installed.json").exists(),
        "empty manifest removed"
    );
    // Targets never installed are reported, not errors.
    assert!(actions(&d).iter().filter(|a| *a == "not-installed").count() >= 4);
}

#[test]
fn uninstall_codex_removes_our_copy_in_the_legacy_codex_home() {
    let sb = Sandbox::no_git();
    let codex_home = sb.home.join("codex-home");
    // A copy of our skill where older installers put it (e.g. the same text copied by hand).
    sb.run(&["--json", "install", "codex", "--global"]).ok();
    let ours = std::fs::read(sb.home.join(".agents/skills/autoresearch/SKILL.md")).unwrap();
    let legacy = codex_home.join("skills/autoresearch/SKILL.md");
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::write(&legacy, &ours).unwrap();
    let d = run_env(
        &sb,
        &sb.root,
        &["--json", "uninstall", "codex", "--global"],
        &[("CODEX_HOME", codex_home.clone())],
    )
    .ok();
    assert_eq!(action_of(&d, &legacy), "removed");
    assert!(!legacy.exists());
    assert!(
        codex_home.join("skills").is_dir(),
        "a directory we did not create stays"
    );
    // A user's own skill there is left alone.
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::write(&legacy, "mine").unwrap();
    let d = run_env(
        &sb,
        &sb.root,
        &["--json", "uninstall", "codex", "--global"],
        &[("CODEX_HOME", codex_home)],
    )
    .ok();
    assert_eq!(action_of(&d, &legacy), "skipped");
    assert!(legacy.exists());
}

#[test]
fn human_views_of_install_and_uninstall() {
    let sb = Sandbox::new();
    let out = sb.run(&["--human", "install", "cursor", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("would create")
            && out.stdout.contains(".cursor/rules/autoresearch.mdc"),
        "{}",
        out.stdout
    );
    // A dry run says what would happen, never what did.
    assert!(!out.stdout.contains("created"), "{}", out.stdout);
    assert!(out.stdout.contains("dry run"), "{}", out.stdout);
    let d = sb.run(&["--json", "install", "cursor", "--dry-run"]).ok();
    assert_eq!(
        d["files"][0]["action"], "created",
        "JSON keeps the action names"
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    let out = sb.run(&["--human", "install", "cursor"]);
    assert!(out.stdout.contains("created"), "{}", out.stdout);
    assert!(!out.stdout.contains("would"), "{}", out.stdout);
    let out = sb.run(&["--human", "uninstall", "cursor", "--dry-run"]);
    assert!(out.stdout.contains("would remove"), "{}", out.stdout);
    let out = sb.run(&["--human", "uninstall", "cursor"]);
    assert!(out.stdout.contains("removed"), "{}", out.stdout);
}

#[test]
fn an_edited_autoresearch_new_file_is_left_alone() {
    let sb = Sandbox::new();
    sb.run(&["--json", "install", "claude-code"]).ok();
    let skill = ".claude/skills/autoresearch/SKILL.md";
    sb.write(
        ".claude/skills/autoresearch/SKILL.md",
        &format!("{}\nedit\n", sb.read(skill)),
    );
    let d = sb.run(&["--json", "install", "claude-code"]).ok();
    assert_eq!(actions(&d), ["kept-modified"]);
    let beside = format!("{skill}.autoresearch-new");
    // The user starts merging inside the `.autoresearch-new` file; the next install keeps that.
    sb.write(&beside, "merging by hand\n");
    let d = sb.run(&["--json", "install", "claude-code"]).ok();
    assert_eq!(actions(&d), ["kept-modified"]);
    assert!(
        files(&d)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("edited too")
    );
    assert_eq!(sb.read(&beside), "merging by hand\n");
    let d = sb.run(&["--json", "uninstall", "claude-code"]).ok();
    assert_eq!(
        actions(&d),
        ["kept-modified"],
        "neither file is ours any more"
    );
    assert_eq!(sb.read(&beside), "merging by hand\n");
}
