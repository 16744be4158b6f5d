//! Which coding agents are around, and the smallest install that teaches them all: what `doctor`
//! and `init` recommend instead of `install all`, which writes seven directories into the
//! repository when two cover every agent.
//!
//! The signs, strongest first: the variable an agent sets in the shell it runs commands in
//! (`CLAUDECODE`, `GEMINI_CLI`, ...), the agent's files in the repository (`.claude/`,
//! `GEMINI.md`, ...), then its directory in the home directory (installed for this user). Only
//! Claude Code lacks `.agents/skills`; every other agent reads it, so the answer is always a
//! subset of `claude-code agents`.

use std::path::Path;

/// One agent and the first sign of it that was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The agent, for people (`Claude Code`).
    pub agent: &'static str,
    /// The install target whose path it reads (`claude-code` or `agents`).
    pub covered_by: &'static str,
    /// What gave it away: `` `CLAUDECODE` is set ``, `` `.claude/` ``, `` `~/.gemini` ``.
    pub sign: String,
}

/// The smallest install that covers the agents seen; `claude-code agents` when none was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    pub targets: Vec<&'static str>,
    pub seen: Vec<Seen>,
}

struct Signs {
    agent: &'static str,
    covered_by: &'static str,
    /// Set (to anything but empty or `0`) in the agent's own shell.
    vars: &'static [&'static str],
    /// Files or directories in the work tree's root.
    project: &'static [&'static str],
    /// Directories under HOME.
    home: &'static [&'static str],
}

const CLAUDE: &str = "claude-code";
const AGENTS: &str = "agents";

const SIGNS: &[Signs] = &[
    Signs {
        agent: "Claude Code",
        covered_by: CLAUDE,
        vars: &["CLAUDECODE"],
        project: &[".claude", "CLAUDE.md"],
        home: &[".claude"],
    },
    Signs {
        agent: "Codex",
        covered_by: AGENTS,
        vars: &["CODEX_SANDBOX", "CODEX_THREAD_ID"],
        project: &[".codex", "AGENTS.md"],
        home: &[".codex"],
    },
    Signs {
        agent: "Gemini CLI",
        covered_by: AGENTS,
        vars: &["GEMINI_CLI"],
        project: &[".gemini", "GEMINI.md"],
        home: &[".gemini"],
    },
    Signs {
        agent: "OpenCode",
        covered_by: AGENTS,
        vars: &["OPENCODE"],
        project: &[".opencode", "opencode.json"],
        home: &[".config/opencode"],
    },
    Signs {
        agent: "Copilot",
        covered_by: AGENTS,
        vars: &[],
        project: &[".github/copilot-instructions.md"],
        home: &[".copilot"],
    },
    Signs {
        agent: "Cursor",
        covered_by: AGENTS,
        vars: &["CURSOR_AGENT"],
        project: &[".cursor"],
        home: &[".cursor"],
    },
    Signs {
        agent: "Windsurf",
        covered_by: AGENTS,
        vars: &[],
        project: &[".windsurf"],
        home: &[".codeium/windsurf"],
    },
];

/// Every variable read as an agent's sign (the test suite clears them, for hermetic runs).
pub fn variables() -> Vec<&'static str> {
    SIGNS.iter().flat_map(|s| s.vars.iter().copied()).collect()
}

/// The recommendation for this process: its environment, the work tree at `root` (when in one)
/// and HOME.
pub fn recommend(root: Option<&Path>) -> Recommendation {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    recommend_with(root, home.as_deref().filter(|h| h.is_absolute()), &set)
}

/// [`recommend`] with the environment given: `set(name)` says whether a variable is set.
pub fn recommend_with(
    root: Option<&Path>,
    home: Option<&Path>,
    set: &dyn Fn(&str) -> bool,
) -> Recommendation {
    let seen: Vec<Seen> = SIGNS
        .iter()
        .filter_map(|s| {
            let sign = s
                .vars
                .iter()
                .find(|v| set(v))
                .map(|v| format!("`{v}` is set"))
                .or_else(|| {
                    let root = root?;
                    let p = s.project.iter().find(|p| root.join(p).exists())?;
                    Some(format!("`{p}`"))
                })
                .or_else(|| {
                    let home = home?;
                    let h = s.home.iter().find(|h| home.join(h).is_dir())?;
                    Some(format!("`~/{h}`"))
                })?;
            Some(Seen {
                agent: s.agent,
                covered_by: s.covered_by,
                sign,
            })
        })
        .collect();
    let targets = if seen.is_empty() {
        vec![CLAUDE, AGENTS]
    } else {
        [CLAUDE, AGENTS]
            .into_iter()
            .filter(|t| seen.iter().any(|s| s.covered_by == *t))
            .collect()
    };
    Recommendation { targets, seen }
}

impl Recommendation {
    /// `autoresearch install claude-code agents`.
    pub fn command(&self) -> String {
        format!("autoresearch install {}", self.targets.join(" "))
    }

    /// What was seen, briefly: `seen: Claude Code (`.claude`)`, or `no agent seen`.
    pub fn reason(&self) -> String {
        if self.seen.is_empty() {
            return "no agent seen".to_string();
        }
        let seen: Vec<String> = self
            .seen
            .iter()
            .map(|s| format!("{} ({})", s.agent, s.sign))
            .collect();
        format!("seen: {}", seen.join(", "))
    }

    /// The advice in one sentence: the command, what it covers, and the global alternative.
    pub fn advice(&self) -> String {
        let covers = match self.targets.as_slice() {
            [t] if *t == CLAUDE => "Claude Code reads `.claude/skills`",
            [_] => {
                "Codex, Gemini CLI, OpenCode, Copilot, Cursor and Windsurf read `.agents/skills`"
            }
            _ => "Claude Code reads `.claude/skills`, every other agent `.agents/skills`",
        };
        format!(
            "Run `{}` ({covers}); add `--global` to install it once for all your repositories instead.",
            self.command()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn the_environment_table_names_every_variable() {
        let listed = crate::skills::ENVIRONMENT
            .iter()
            .map(|(names, _)| *names)
            .collect::<Vec<_>>()
            .join(", ");
        for v in variables() {
            assert!(
                listed.split(", ").any(|n| n == v),
                "{v} is not in ENVIRONMENT"
            );
        }
    }

    #[test]
    fn nothing_seen_recommends_the_two_that_cover_every_agent() {
        let r = recommend_with(None, None, &none);
        assert_eq!(r.targets, [CLAUDE, AGENTS]);
        assert_eq!(r.command(), "autoresearch install claude-code agents");
        assert_eq!(r.reason(), "no agent seen");
        assert!(r.advice().contains("every other agent"), "{}", r.advice());
    }

    #[test]
    fn the_agent_variable_decides_first() {
        let r = recommend_with(None, None, &|v| v == "CLAUDECODE");
        assert_eq!(r.targets, [CLAUDE]);
        assert_eq!(r.reason(), "seen: Claude Code (`CLAUDECODE` is set)");
        let r = recommend_with(None, None, &|v| v == "GEMINI_CLI");
        assert_eq!(r.targets, [AGENTS]);
    }

    #[test]
    fn project_files_and_home_directories_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root, home) = (dir.path().join("repo"), dir.path().join("home"));
        std::fs::create_dir_all(root.join(".claude")).expect("mkdir");
        std::fs::create_dir_all(home.join(".codex")).expect("mkdir");
        let r = recommend_with(Some(&root), Some(&home), &none);
        assert_eq!(r.targets, [CLAUDE, AGENTS]);
        assert_eq!(
            r.reason(),
            "seen: Claude Code (`.claude`), Codex (`~/.codex`)"
        );
        // A file in HOME is not an agent's directory.
        std::fs::remove_dir_all(home.join(".codex")).expect("rm");
        std::fs::write(home.join(".codex"), "").expect("write");
        let r = recommend_with(Some(&root), Some(&home), &none);
        assert_eq!(r.targets, [CLAUDE]);
    }
}
