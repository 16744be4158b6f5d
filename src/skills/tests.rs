//! The skill's text is checked like code: front matter against the Agent Skills specification,
//! the body's size, and every `autoresearch ...` command it mentions against the real CLI.

use super::*;

// ---------------------------------------------------------------------------------------------
// A small front-matter reader: enough YAML for what we generate (scalars, one level of map).

#[derive(Debug, PartialEq)]
enum Yaml {
    /// A scalar and whether it was quoted (an unquoted `1.0` would be a number, not a string).
    Str(String, bool),
    Map(Vec<(String, String)>),
}

fn unquote(v: &str) -> (String, bool) {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => panic!("dangling escape in {v}"),
                }
            } else {
                assert!(c != '"', "unescaped quote inside {v}");
                out.push(c);
            }
        }
        return (out, true);
    }
    (v.to_string(), false)
}

/// (keys in order, body). Panics on anything that is not well-formed front matter.
fn front_matter(text: &str) -> (Vec<(String, Yaml)>, &str) {
    let rest = text
        .strip_prefix("---\n")
        .expect("front matter starts the file");
    let end = rest.find("\n---\n").expect("front matter is closed by ---");
    let (head, body) = (&rest[..end], &rest[end + 5..]);
    let mut keys: Vec<(String, Yaml)> = Vec::new();
    for line in head.lines() {
        if let Some(nested) = line.strip_prefix("  ") {
            let (k, v) = nested.split_once(": ").expect("nested `key: value`");
            match keys.last_mut() {
                Some((_, Yaml::Map(m))) => {
                    let (v, quoted) = unquote(v);
                    assert!(quoted, "map value `{k}` must be a quoted string");
                    m.push((k.to_string(), v));
                }
                _ => panic!("indented line outside a map: {line}"),
            }
            continue;
        }
        let (k, v) = line.split_once(':').expect("`key: value`");
        assert!(!keys.iter().any(|(x, _)| x == k), "duplicate key {k}");
        let v = v.trim();
        let value = if v.is_empty() {
            Yaml::Map(Vec::new())
        } else {
            let (s, q) = unquote(v);
            Yaml::Str(s, q)
        };
        keys.push((k.to_string(), value));
    }
    (keys, body)
}

/// The Agent Skills specification's front-matter rules (agentskills.io/specification).
fn assert_spec_valid(text: &str, dir_name: &str) {
    let (keys, body) = front_matter(text);
    let allowed = [
        "name",
        "description",
        "license",
        "compatibility",
        "metadata",
        "allowed-tools",
    ];
    for (k, _) in &keys {
        assert!(
            allowed.contains(&k.as_str()),
            "key `{k}` is not in the specification"
        );
    }
    let get = |k: &str| keys.iter().find(|(x, _)| x == k).map(|(_, v)| v);
    let Some(Yaml::Str(name, _)) = get("name") else {
        panic!("name is required")
    };
    assert!((1..=64).contains(&name.chars().count()), "name length");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "name charset: {name}"
    );
    assert!(
        !name.starts_with('-') && !name.ends_with('-') && !name.contains("--"),
        "{name}"
    );
    assert_eq!(name, dir_name, "name must equal the directory name");
    let Some(Yaml::Str(desc, _)) = get("description") else {
        panic!("description is required")
    };
    assert!(
        !desc.trim().is_empty() && desc.chars().count() <= 1024,
        "description length {}",
        desc.len()
    );
    if let Some(c) = get("compatibility") {
        let Yaml::Str(c, _) = c else {
            panic!("compatibility is a string")
        };
        assert!((1..=500).contains(&c.chars().count()));
    }
    if let Some(m) = get("metadata") {
        assert!(matches!(m, Yaml::Map(_)), "metadata is a map of strings");
    }
    assert!(!body.trim().is_empty(), "a body follows the front matter");
}

#[test]
fn every_generated_skill_file_follows_the_specification() {
    let env = Env {
        home: Some(PathBuf::from("/home/u")),
        vars: vec![],
    };
    let all: Vec<&'static Target> = TARGETS.iter().collect();
    let root = Path::new("/repo");
    let mut seen = 0;
    for place in [Place::Project(root), Place::Global(&env)] {
        for p in plan(&all, &place).0 {
            if p.kind != Kind::Skill {
                continue;
            }
            let dir = p.path.parent().and_then(|d| d.file_name()).unwrap();
            assert_eq!(p.path.file_name().unwrap(), SKILL_FILE);
            assert_spec_valid(&p.content, dir.to_str().unwrap());
            assert_eq!(version_marker(&p.content).as_deref(), Some(VERSION));
            seen += 1;
        }
    }
    assert!(seen >= 12, "{seen}");
    // The description says what it does and when to use it.
    assert!(description().contains("Use when"));
    assert!(description().chars().count() <= 1024);
}

#[test]
fn yaml_quoting_survives_awkward_text() {
    for s in [
        "plain",
        "a: b # c",
        "quote \" and \\ backslash",
        "tab\there",
        "new\nline",
    ] {
        assert_eq!(unquote(&yaml_quote(s)), (s.to_string(), true));
    }
}

#[test]
fn rule_files_have_their_formats_front_matter_and_stay_short() {
    for (format, allowed) in [
        (
            RuleFormat::Cursor,
            &["description", "globs", "alwaysApply"][..],
        ),
        (
            RuleFormat::Windsurf,
            &["trigger", "description", "globs"][..],
        ),
    ] {
        let text = rule_file(format);
        // Rules may be loaded often: keep them small.
        assert!(
            text.len() <= 1536,
            "{format:?} rule is {} bytes",
            text.len()
        );
        let (keys, body) = front_matter(&text);
        for (k, _) in &keys {
            assert!(
                allowed.contains(&k.as_str()),
                "{format:?}: unexpected key {k}"
            );
        }
        let desc = keys
            .iter()
            .find(|(k, _)| k == "description")
            .expect("description");
        assert!(matches!(&desc.1, Yaml::Str(d, true) if !d.is_empty()));
        match format {
            RuleFormat::Cursor => assert!(keys.contains(&(
                "alwaysApply".to_string(),
                Yaml::Str("false".to_string(), false)
            ))),
            RuleFormat::Windsurf => assert!(keys.contains(&(
                "trigger".to_string(),
                Yaml::Str("model_decision".to_string(), false)
            ))),
        }
        assert_eq!(version_marker(&text).as_deref(), Some(VERSION));
        assert!(body.contains("autoresearch guide"));
    }
}

/// The body loads into the agent's context on every activation: under 5,000 tokens by two
/// rough estimates (chars / 4, words × 1.4), so no tokenizer is needed.
#[test]
fn skill_body_stays_under_5000_tokens() {
    for text in [BODY, skill_file().as_str()] {
        let by_chars = text.chars().count() / 4;
        let by_words = text.split_whitespace().count() as f64 * 1.4;
        assert!(by_chars < 5000, "~{by_chars} tokens by characters");
        assert!(by_words < 5000.0, "~{by_words} tokens by words");
    }
    // The specification also recommends under 500 lines.
    assert!(BODY.lines().count() < 500);
}

#[test]
fn topics_have_titles_and_the_skill_lists_them_all() {
    for t in TOPICS {
        assert!(t.text.starts_with("# "), "{} starts with its title", t.name);
        assert!(!t.title().is_empty());
        assert!(
            BODY.contains(&format!("`{}`", t.name)),
            "the body lists topic {}",
            t.name
        );
    }
}

#[test]
fn version_markers_and_comparison() {
    assert_eq!(
        version_marker("---\nmetadata:\n  autoresearch-version: \"0.0.9\"\n---\n").as_deref(),
        Some("0.0.9")
    );
    assert_eq!(
        version_marker("<!-- autoresearch-version: 1.2.3 (written by x) -->").as_deref(),
        Some("1.2.3")
    );
    assert_eq!(version_marker("no marker here"), None);
    assert!(is_older("0.0.1"));
    assert!(!is_older(VERSION));
    assert!(!is_older("999.0.0"));
    assert!(!is_older("garbage"));
}

#[test]
fn env_overrides_move_global_paths() {
    let env = Env {
        home: Some(PathBuf::from("/h")),
        vars: vec![
            ("CLAUDE_CONFIG_DIR", PathBuf::from("/c")),
            ("OPENCODE_CONFIG_DIR", PathBuf::from("/o")),
            ("XDG_CONFIG_HOME", PathBuf::from("/x")),
            ("CODEX_HOME", PathBuf::from("/codex")),
        ],
    };
    let dir = |n: &str| target(n).unwrap().global_dir(&env).unwrap();
    assert_eq!(dir("claude-code"), Path::new("/c/skills"));
    assert_eq!(dir("opencode"), Path::new("/o/skills"));
    assert_eq!(
        dir("codex"),
        Path::new("/h/.agents/skills"),
        "CODEX_HOME moves only the legacy root"
    );
    assert_eq!(dir("gemini"), Path::new("/h/.gemini/skills"));
    let no_home = Env::default();
    assert!(target("cursor").unwrap().global_dir(&no_home).is_none());
    assert_eq!(env.config_dir().unwrap(), Path::new("/x/autoresearch"));
}

#[test]
fn shared_paths_are_planned_once_with_every_target() {
    let (p, _) = plan(
        &[
            target("codex").unwrap(),
            target("agents").unwrap(),
            target("codex").unwrap(),
        ],
        &Place::Project(Path::new("/r")),
    );
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].targets, ["codex", "agents"]);
}
