//! The agent skill: its text (embedded from `skills/`), the agents it installs for and where
//! each of them reads skills, the files we generate for them, and what is installed right now.
//!
//! One table (`TARGETS`) drives `install`, `uninstall`, `status`, `agent-info` and the docs, so
//! the paths an agent is told about are the paths we write.

pub mod apply;
pub mod detect;
pub mod manifest;

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The skill's name: the directory name and the `name` in its front matter (they must match).
pub const NAME: &str = "autoresearch";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The file name every agent looks for inside a skill directory.
pub const SKILL_FILE: &str = "SKILL.md";
/// The front-matter key (inside `metadata`) or comment key that carries the writer's version.
pub const VERSION_KEY: &str = "autoresearch-version";

/// The skill body: no front matter in the source; `skill_file` composes it.
pub const BODY: &str = include_str!("../skills/autoresearch/SKILL.md");
const DESCRIPTION: &str = include_str!("../skills/description.txt");
const CURSOR_RULE: &str = include_str!("../skills/cursor-rule.mdc");
const WINDSURF_RULE: &str = include_str!("../skills/windsurf-rule.md");

/// When the rule files ask to be loaded (Cursor's and Windsurf's "agent decides" modes, so a
/// rule costs one line of context until the agent actually needs it).
const RULE_DESCRIPTION: &str = "Unattended experiment loop with the autoresearch CLI: use when autoresearch.toml or program.md exists, or when asked to improve a metric by repeated experiments.";

/// The environment `install`, `uninstall` and the inventory read, for `agent-info`.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "CLAUDE_CONFIG_DIR, GEMINI_CLI_HOME, OPENCODE_CONFIG_DIR, XDG_CONFIG_HOME, COPILOT_HOME",
        "move an agent's user-wide skill directory; `install --global` follows them (see skill_targets)",
    ),
    (
        "CODEX_HOME",
        "Codex's deprecated skill root; `install` never writes there, `uninstall codex --global` removes our old copy",
    ),
    (
        "CLAUDECODE, CODEX_SANDBOX, CODEX_THREAD_ID, GEMINI_CLI, OPENCODE, CURSOR_AGENT",
        "set by a coding agent in its shell: `doctor` and `init` recommend the install that covers it",
    ),
];

/// The skill's description (what it does and when to use it), trimmed.
pub fn description() -> &'static str {
    DESCRIPTION.trim()
}

// ---------------------------------------------------------------------------------------------
// Guide topics

pub struct Topic {
    pub name: &'static str,
    pub text: &'static str,
}

impl Topic {
    /// The title is the topic file's first `# ` heading.
    pub fn title(&self) -> &'static str {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .unwrap_or(self.name)
            .trim()
    }
}

pub const TOPICS: &[Topic] = &[
    Topic {
        name: "loop",
        text: include_str!("../skills/guide/loop.md"),
    },
    Topic {
        name: "setup",
        text: include_str!("../skills/guide/setup.md"),
    },
    Topic {
        name: "strategy",
        text: include_str!("../skills/guide/strategy.md"),
    },
    Topic {
        name: "stuck",
        text: include_str!("../skills/guide/stuck.md"),
    },
    Topic {
        name: "crashes",
        text: include_str!("../skills/guide/crashes.md"),
    },
    Topic {
        name: "noise",
        text: include_str!("../skills/guide/noise.md"),
    },
    Topic {
        name: "integrity",
        text: include_str!("../skills/guide/integrity.md"),
    },
    Topic {
        name: "manual",
        text: include_str!("../skills/guide/manual.md"),
    },
    Topic {
        name: "forks",
        text: include_str!("../skills/guide/forks.md"),
    },
    Topic {
        name: "watch",
        text: include_str!("../skills/guide/watch.md"),
    },
    Topic {
        name: "cluster",
        text: include_str!("../skills/guide/cluster.md"),
    },
    Topic {
        name: "morning",
        text: include_str!("../skills/guide/morning.md"),
    },
];

pub fn topic(name: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|t| t.name == name)
}

pub fn topic_names() -> Vec<&'static str> {
    TOPICS.iter().map(|t| t.name).collect()
}

// ---------------------------------------------------------------------------------------------
// Targets: where each agent reads skills (sources: the README's table)

/// What a global skills directory is relative to.
#[derive(Debug, Clone, Copy)]
pub enum Base {
    /// `$HOME`.
    Home,
    /// An environment variable naming a directory; unset, empty or relative → not used.
    Env(&'static str),
}

/// One candidate skills directory: `base` joined with `rel`.
#[derive(Debug, Clone, Copy)]
pub struct Root {
    pub base: Base,
    pub rel: &'static str,
}

const fn home(rel: &'static str) -> Root {
    Root {
        base: Base::Home,
        rel,
    }
}

const fn env(var: &'static str, rel: &'static str) -> Root {
    Root {
        base: Base::Env(var),
        rel,
    }
}

impl Root {
    pub fn resolve(&self, env: &Env) -> Option<PathBuf> {
        let base = match self.base {
            Base::Home => env.home.clone()?,
            Base::Env(var) => env.var(var)?,
        };
        Some(if self.rel.is_empty() {
            base
        } else {
            base.join(self.rel)
        })
    }

    /// `~/.claude/skills` or `$CLAUDE_CONFIG_DIR/skills`, for docs and `agent-info`.
    pub fn display(&self) -> String {
        let base = match self.base {
            Base::Home => "~".to_string(),
            Base::Env(var) => format!("${var}"),
        };
        if self.rel.is_empty() {
            base
        } else {
            format!("{base}/{}", self.rel)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleFormat {
    /// `.cursor/rules/*.mdc`: front matter `description`, `globs`, `alwaysApply`.
    Cursor,
    /// `.windsurf/rules/*.md`: front matter `trigger`, `description`, `globs`.
    Windsurf,
}

#[derive(Debug)]
pub struct Target {
    pub name: &'static str,
    /// The product, for people.
    pub agent: &'static str,
    /// The project's skills directory, relative to the work-tree root.
    pub project_skills: &'static str,
    /// Candidate user-wide skills directories, in precedence order: the first that resolves
    /// (its variable set, or HOME known) is where we write.
    pub global_skills: &'static [Root],
    /// Where older tools put the skill for this agent and the agent still reads it. Never
    /// written; `uninstall` removes our own copies there so the agent does not list it twice.
    pub legacy_global: &'static [Root],
    /// A rule file in the project (relative path) that points the agent at the skill.
    pub project_rule: Option<(&'static str, RuleFormat)>,
    /// How a running agent picks up a new skill.
    pub reload: &'static str,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "claude-code",
        agent: "Claude Code",
        project_skills: ".claude/skills",
        global_skills: &[env("CLAUDE_CONFIG_DIR", "skills"), home(".claude/skills")],
        legacy_global: &[],
        project_rule: None,
        reload: "Claude Code: start a new session",
    },
    Target {
        name: "codex",
        agent: "OpenAI Codex",
        // Codex reads `.agents/skills` (current) and `$CODEX_HOME/skills` (deprecated); writing
        // both would list the skill twice, so the codex target shares the `agents` paths.
        project_skills: ".agents/skills",
        global_skills: &[home(".agents/skills")],
        legacy_global: &[env("CODEX_HOME", "skills"), home(".codex/skills")],
        project_rule: None,
        reload: "Codex: start a new session",
    },
    Target {
        name: "gemini",
        agent: "Gemini CLI",
        project_skills: ".gemini/skills",
        global_skills: &[
            env("GEMINI_CLI_HOME", ".gemini/skills"),
            home(".gemini/skills"),
        ],
        legacy_global: &[],
        project_rule: None,
        reload: "Gemini CLI: run `/skills reload`",
    },
    Target {
        name: "opencode",
        agent: "OpenCode",
        project_skills: ".opencode/skills",
        global_skills: &[
            env("OPENCODE_CONFIG_DIR", "skills"),
            env("XDG_CONFIG_HOME", "opencode/skills"),
            home(".config/opencode/skills"),
        ],
        legacy_global: &[],
        project_rule: None,
        reload: "OpenCode: restart it",
    },
    Target {
        name: "copilot",
        agent: "GitHub Copilot (CLI, VS Code, cloud agent)",
        project_skills: ".github/skills",
        global_skills: &[env("COPILOT_HOME", "skills"), home(".copilot/skills")],
        legacy_global: &[],
        project_rule: None,
        reload: "Copilot CLI: run `/skills reload` (VS Code: a new chat)",
    },
    Target {
        name: "cursor",
        agent: "Cursor",
        project_skills: ".cursor/skills",
        global_skills: &[home(".cursor/skills")],
        legacy_global: &[],
        project_rule: Some((".cursor/rules/autoresearch.mdc", RuleFormat::Cursor)),
        reload: "Cursor: start a new agent chat",
    },
    Target {
        name: "windsurf",
        agent: "Windsurf (Cascade)",
        project_skills: ".windsurf/skills",
        global_skills: &[home(".codeium/windsurf/skills")],
        legacy_global: &[],
        project_rule: Some((".windsurf/rules/autoresearch.md", RuleFormat::Windsurf)),
        reload: "Windsurf: start a new Cascade session",
    },
    Target {
        name: "agents",
        agent: "any agent reading the shared .agents/skills (Codex, Gemini CLI, OpenCode, Copilot, Cursor, Windsurf)",
        project_skills: ".agents/skills",
        global_skills: &[home(".agents/skills")],
        legacy_global: &[],
        project_rule: None,
        reload: "other agents reading .agents/skills: start a new session",
    },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

pub fn target_names() -> Vec<&'static str> {
    TARGETS.iter().map(|t| t.name).collect()
}

/// The environment the paths depend on: HOME and the override variables. Read once, so tests
/// can build one by hand.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub home: Option<PathBuf>,
    pub vars: Vec<(&'static str, PathBuf)>,
}

impl Env {
    pub fn from_process() -> Env {
        let usable = |v: std::ffi::OsString| {
            let p = PathBuf::from(v);
            // An empty or relative value is not a directory anyone meant; ignore it (the XDG
            // spec says the same for XDG_CONFIG_HOME).
            p.is_absolute().then_some(p)
        };
        let mut names: Vec<&'static str> = vec!["XDG_CONFIG_HOME"];
        for t in TARGETS {
            for r in t.global_skills.iter().chain(t.legacy_global) {
                if let Base::Env(v) = r.base
                    && !names.contains(&v)
                {
                    names.push(v);
                }
            }
        }
        Env {
            home: std::env::var_os("HOME").and_then(usable),
            vars: names
                .into_iter()
                .filter_map(|n| std::env::var_os(n).and_then(usable).map(|p| (n, p)))
                .collect(),
        }
    }

    pub fn var(&self, name: &str) -> Option<PathBuf> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
    }

    /// `$XDG_CONFIG_HOME/autoresearch` (default `~/.config/autoresearch`): our own global state.
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.var("XDG_CONFIG_HOME")
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("autoresearch"))
    }
}

impl Target {
    /// The user-wide skills directory, or None when nothing it depends on is known.
    pub fn global_dir(&self, env: &Env) -> Option<PathBuf> {
        self.global_skills.iter().find_map(|r| r.resolve(env))
    }
}

// ---------------------------------------------------------------------------------------------
// Generated files

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Project,
    Global,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `<dir>/autoresearch/SKILL.md`.
    Skill,
    /// A Cursor or Windsurf rule file.
    Rule,
}

/// A double-quoted YAML scalar: safe whatever the text holds (`: `, `#`, quotes).
fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `SKILL.md` as installed, for every target alike. Only keys of the Agent Skills
/// specification: several agents read each other's directories (OpenCode, Copilot and Cursor
/// read `.claude/skills`; most read `.agents/skills`), and some reject or ignore keys they do
/// not know, so an agent-specific key in one copy would leak into the others. `metadata` (a
/// string map) carries the version; `short-description` is what Codex shows in its list.
pub fn skill_file() -> String {
    format!(
        "---\nname: {NAME}\ndescription: {}\nmetadata:\n  {VERSION_KEY}: {}\n  short-description: {}\n  generated-by: {}\n---\n\n{}",
        yaml_quote(description()),
        yaml_quote(VERSION),
        yaml_quote("Overnight experiment loop: edit one file, run, keep or revert"),
        yaml_quote("autoresearch install (your edits are kept on update)"),
        BODY
    )
}

/// A rule file: the format's front matter, a version comment, the short body.
pub fn rule_file(format: RuleFormat) -> String {
    let marker = format!(
        "<!-- {VERSION_KEY}: {VERSION} (written by `autoresearch install`; edits are kept on update) -->"
    );
    match format {
        // No `globs` and `alwaysApply: false`: "agent requested", only the description is in
        // context until the agent asks for the rule.
        RuleFormat::Cursor => format!(
            "---\ndescription: {}\nalwaysApply: false\n---\n{marker}\n\n{}",
            yaml_quote(RULE_DESCRIPTION),
            CURSOR_RULE
        ),
        // `model_decision`: the same "load when relevant" mode in Windsurf.
        RuleFormat::Windsurf => format!(
            "---\ntrigger: model_decision\ndescription: {}\n---\n{marker}\n\n{}",
            yaml_quote(RULE_DESCRIPTION),
            WINDSURF_RULE
        ),
    }
}

/// The version a file says wrote it (`autoresearch-version: 0.1.0` in its front matter or its
/// marker comment), if any. Only the head of the file is searched: the marker is written there.
pub fn version_marker(text: &str) -> Option<String> {
    let needle = format!("{VERSION_KEY}:");
    text.lines().take(30).find_map(|line| {
        let (_, rest) = line.split_once(&needle)?;
        let v = rest.trim().trim_end_matches("-->").trim();
        let v = v.split_whitespace().next().unwrap_or("");
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

fn version_triple(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// Is `v` an older release than this binary? Unparsable versions are not called older: we
/// cannot tell, and a false alarm every `status` would be noise.
pub fn is_older(v: &str) -> bool {
    match (version_triple(v), version_triple(VERSION)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

/// One file that `install` would write.
#[derive(Debug, Clone)]
pub struct Planned {
    pub path: PathBuf,
    pub kind: Kind,
    pub scope: Scope,
    /// Every target that wants this path (`codex` and `agents` share one).
    pub targets: Vec<&'static str>,
    pub content: String,
    /// A legacy location: only ever removed, never written.
    pub legacy: bool,
}

/// Where a scope's files go: a project's work-tree root, or the user's environment.
pub enum Place<'a> {
    Project(&'a Path),
    Global(&'a Env),
}

/// Every file for `targets` in `place`, one entry per path (targets sharing a path are merged,
/// in the order given). A target whose global directory cannot be resolved (no HOME and no
/// override) is returned in the second list.
pub fn plan(targets: &[&'static Target], place: &Place) -> (Vec<Planned>, Vec<&'static str>) {
    let mut out: Vec<Planned> = Vec::new();
    let mut unresolved = Vec::new();
    let skill = skill_file();
    let mut add =
        |path: PathBuf, kind: Kind, scope: Scope, t: &'static str, content: &str, legacy: bool| {
            if let Some(p) = out.iter_mut().find(|p| p.path == path) {
                if !p.targets.contains(&t) {
                    p.targets.push(t);
                }
                return;
            }
            out.push(Planned {
                path,
                kind,
                scope,
                targets: vec![t],
                content: content.to_string(),
                legacy,
            });
        };
    for t in targets {
        match place {
            Place::Project(root) => {
                let path = root.join(t.project_skills).join(NAME).join(SKILL_FILE);
                add(path, Kind::Skill, Scope::Project, t.name, &skill, false);
                if let Some((rel, format)) = t.project_rule {
                    add(
                        root.join(rel),
                        Kind::Rule,
                        Scope::Project,
                        t.name,
                        &rule_file(format),
                        false,
                    );
                }
            }
            Place::Global(env) => match t.global_dir(env) {
                Some(dir) => {
                    let path = dir.join(NAME).join(SKILL_FILE);
                    add(path, Kind::Skill, Scope::Global, t.name, &skill, false);
                }
                None => unresolved.push(t.name),
            },
        }
    }
    (out, unresolved)
}

/// The legacy copies `uninstall` also looks at (global scope only).
pub fn legacy_plan(targets: &[&'static Target], env: &Env) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    for t in targets {
        // Only the location the agent would actually read: the first that resolves.
        if let Some(dir) = t.legacy_global.iter().find_map(|r| r.resolve(env)) {
            let path = dir.join(NAME).join(SKILL_FILE);
            if out.iter().any(|p| p.path == path) {
                continue;
            }
            out.push(Planned {
                path,
                kind: Kind::Skill,
                scope: Scope::Global,
                targets: vec![t.name],
                content: skill_file(),
                legacy: true,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What is installed

/// A copy of the skill (or a rule file) found where `install` writes.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledSkill {
    /// The targets that read this path (several when they share it).
    pub targets: Vec<&'static str>,
    pub scope: Scope,
    pub kind: Kind,
    pub path: String,
    /// The version that wrote it; null when the file carries no version marker.
    pub version: Option<String>,
    /// Written by an older autoresearch than this one: `install` would update it.
    pub outdated: bool,
}

/// Every installed copy of the skill and its rule files, for this project (when `root`, the
/// work tree's top, is given) and for the user.
///
/// Contract (used by `status`, and by `doctor`'s skill check): never writes, never fails; an
/// unreadable file is listed with `version: null`; without HOME the user-wide paths that need
/// it are skipped; a path shared by several targets (`.agents/skills`) is listed once with all
/// of them; `outdated` is true only when the file's `autoresearch-version` is older than this
/// binary. Order: project entries, then global ones, each in `TARGETS` order. An empty list
/// means no agent will find the skill at the paths we know.
pub fn installed(root: Option<&Path>) -> Vec<InstalledSkill> {
    installed_with(root, &Env::from_process())
}

pub fn installed_with(root: Option<&Path>, env: &Env) -> Vec<InstalledSkill> {
    let all: Vec<&'static Target> = TARGETS.iter().collect();
    let mut planned = Vec::new();
    if let Some(root) = root {
        planned.extend(plan(&all, &Place::Project(root)).0);
    }
    planned.extend(plan(&all, &Place::Global(env)).0);
    planned
        .into_iter()
        .filter(|p| p.path.is_file())
        .map(|p| {
            let version = std::fs::read_to_string(&p.path)
                .ok()
                .and_then(|t| version_marker(&t));
            InstalledSkill {
                outdated: version.as_deref().is_some_and(is_older),
                targets: p.targets,
                scope: p.scope,
                kind: p.kind,
                path: p.path.display().to_string(),
                version,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
