//! `autoresearch agent-info`: the whole interface as one JSON document, generated from the clap
//! command tree and the contract's tables (error codes, schemas), never a hand-kept list.

use clap::{Args, CommandFactory};
use serde::Serialize;

use crate::cli::Cli;
use crate::ctx::Ctx;
use crate::error::{Code, Result};
use crate::output::{Human, Printer};

#[derive(Debug, Args)]
pub struct AgentInfoArgs {}

#[derive(Debug, Serialize)]
pub struct ArgInfo {
    pub name: String,
    /// `--long` form, when the argument is a flag or option.
    pub long: Option<String>,
    pub short: Option<String>,
    pub positional: bool,
    /// Takes a value (options and positionals) rather than being a switch.
    pub takes_value: bool,
    pub value_name: Option<String>,
    pub required: bool,
    pub repeatable: bool,
    pub default: Option<String>,
    pub possible_values: Vec<String>,
    pub help: String,
}

#[derive(Debug, Serialize)]
pub struct CommandInfo {
    pub name: String,
    pub about: String,
    pub usage: String,
    pub args: Vec<ArgInfo>,
}

#[derive(Debug, Serialize)]
pub struct ExitInfo {
    pub code: u8,
    pub meaning: &'static str,
    pub agent_action: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub exit_code: u8,
    pub meaning: &'static str,
}

#[derive(Debug, Serialize)]
pub struct FieldInfo {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub meaning: &'static str,
}

#[derive(Debug, Serialize)]
pub struct KeyInfo {
    pub name: &'static str,
    pub required: bool,
    pub meaning: &'static str,
}

#[derive(Debug, Serialize)]
pub struct EnvelopeInfo {
    pub success: &'static str,
    pub error: &'static str,
    pub rules: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct FileInfo {
    pub path: &'static str,
    pub meaning: &'static str,
}

#[derive(Debug, Serialize)]
pub struct EnvOverride {
    pub name: &'static str,
    /// The user-wide skill path while the variable is set.
    pub global_path: String,
}

/// Where `install <name>` writes, generated from the installer's own table.
#[derive(Debug, Serialize)]
pub struct SkillTargetInfo {
    pub name: &'static str,
    pub agent: &'static str,
    /// Relative to the work-tree root (`--project`).
    pub project_paths: Vec<String>,
    /// `--global`: the first of these whose variable is set; `~` is HOME.
    pub global_paths: Vec<String>,
    pub env_overrides: Vec<EnvOverride>,
    /// Older locations the agent still reads: never written; `uninstall --global` removes our
    /// own copies there so the agent does not list the skill twice.
    pub legacy_paths: Vec<String>,
    pub reload: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AgentInfoOutput {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub global_flags: Vec<ArgInfo>,
    pub commands: Vec<CommandInfo>,
    pub exit_codes: Vec<ExitInfo>,
    pub error_codes: Vec<ErrorInfo>,
    pub envelope: EnvelopeInfo,
    pub statuses: Vec<&'static str>,
    pub ledger: Vec<FieldInfo>,
    pub config: Vec<KeyInfo>,
    pub metric_grammar: Vec<&'static str>,
    pub files: Vec<FileInfo>,
    pub environment: Vec<FileInfo>,
    /// `autoresearch install <target>`: where each agent's copy of the skill goes.
    pub skill_targets: Vec<SkillTargetInfo>,
    /// `autoresearch guide <topic>`.
    pub guide_topics: Vec<super::guide::TopicInfo>,
}

fn skill_targets() -> Vec<SkillTargetInfo> {
    use crate::skills::{self, Base};
    let file = format!("{}/{}", skills::NAME, skills::SKILL_FILE);
    skills::TARGETS
        .iter()
        .map(|t| {
            let mut project_paths = vec![format!("{}/{file}", t.project_skills)];
            if let Some((rule, _)) = t.project_rule {
                project_paths.push(rule.to_string());
            }
            SkillTargetInfo {
                name: t.name,
                agent: t.agent,
                project_paths,
                global_paths: t
                    .global_skills
                    .iter()
                    .map(|r| format!("{}/{file}", r.display()))
                    .collect(),
                env_overrides: t
                    .global_skills
                    .iter()
                    .filter_map(|r| match r.base {
                        Base::Env(name) => Some(EnvOverride {
                            name,
                            global_path: format!("{}/{file}", r.display()),
                        }),
                        Base::Home => None,
                    })
                    .collect(),
                legacy_paths: t
                    .legacy_global
                    .iter()
                    .map(|r| format!("{}/{file}", r.display()))
                    .collect(),
                reload: t.reload,
            }
        })
        .collect()
}

impl super::Output for AgentInfoOutput {}

/// The ledger's fields in write order (CONTRACT §5). A test checks these against `Record`.
pub const LEDGER_FIELDS: &[(&str, &str, &str)] = &[
    (
        "run",
        "int >= 0",
        "unique in this ledger, assigned under the lock; the first is 0",
    ),
    ("id", "string", "globally unique (time + pid + randomness)"),
    ("timestamp", "string", "RFC 3339 UTC with milliseconds"),
    (
        "status",
        "string",
        "baseline | kept | discarded | crash | timeout",
    ),
    ("metric", "number | null", "null only for crash and timeout"),
    ("metrics", "object", "secondary metrics by name"),
    (
        "samples",
        "array",
        "every evaluation's metric when repeats > 1, else []",
    ),
    (
        "delta",
        "number | null",
        "metric minus the best metric before this run",
    ),
    ("summary", "string", "what was tried (at most 4 KiB)"),
    (
        "commit",
        "string | null",
        "full hash of the evaluated commit",
    ),
    ("parent", "string | null", "the commit it was based on"),
    ("branch", "string | null", "the branch it ran on"),
    (
        "duration_s",
        "number | null",
        "wall time of the evaluation(s)",
    ),
    ("exit_code", "int | null", "of the eval command"),
    (
        "reason",
        "string | null",
        "why a run was discarded, crashed or timed out",
    ),
    (
        "flags",
        "array",
        "integrity warnings: suspicious_jump, leaked_processes, kept_not_better",
    ),
    ("source", "string", "run, record, or import:<format>"),
];

pub fn run(ctx: &Ctx, _args: &AgentInfoArgs) -> Result<AgentInfoOutput> {
    ctx.hint("Start with `autoresearch status`: its hints name the next command, from an empty repository to a running loop.");
    ctx.hint("`autoresearch guide` teaches the loop; `autoresearch install <target>` puts the skill where your agent reads it (targets in `skill_targets`).");
    let cli = Cli::command();
    let global_flags = cli
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(arg_info)
        .collect();
    let mut commands = Vec::new();
    for sub in cli.get_subcommands() {
        let mut sub = sub.clone();
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim().to_string();
        commands.push(CommandInfo {
            name: sub.get_name().to_string(),
            about: sub.get_about().map(|s| s.to_string()).unwrap_or_default(),
            usage: format!("autoresearch {}", usage.trim_start_matches("autoresearch ")),
            args: sub
                .get_arguments()
                .filter(|a| {
                    !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version")
                })
                .map(arg_info)
                .collect(),
        });
    }
    Ok(AgentInfoOutput {
        name: "autoresearch",
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        global_flags,
        commands,
        exit_codes: vec![
            ExitInfo {
                code: 0,
                meaning: "success, including a run whose experiment was discarded, crashed or timed out",
                agent_action: "continue",
            },
            ExitInfo {
                code: 1,
                meaning: "runtime error: may pass on retry or once the environment changes",
                agent_action: "retry or wait",
            },
            ExitInfo {
                code: 2,
                meaning: "config or usage error: retrying the same call cannot help",
                agent_action: "fix the call or the config; do not retry unchanged",
            },
        ],
        error_codes: Code::ALL
            .iter()
            .map(|c| ErrorInfo {
                code: c.as_str(),
                exit_code: c.exit_code(),
                meaning: c.meaning(),
            })
            .collect(),
        envelope: EnvelopeInfo {
            success: r#"{"status":"success","command":"<name>","data":{...},"hints":["..."],"warnings":[]}"#,
            error: r#"{"status":"error","command":"<name>","error":{"code":"<code>","message":"...","suggestion":"..."},"hints":[],"warnings":[]}"#,
            rules: vec![
                "JSON mode with --json, or when stdout is not a terminal; --human forces tables; AUTORESEARCH_FORMAT=json|human sets the default",
                "exactly one JSON document per call on stdout, one line, keys in a stable order",
                "exceptions: `export` writes the data itself; `guide` in human mode prints plain text",
                "install results per path: created, updated, unchanged, kept-modified, skipped, replaced; uninstall: removed, kept-modified, not-installed, skipped",
                "hints: coaching for the next step; warnings: problems that did not stop the command; both always arrays",
                "error.suggestion is a literal next step, usually a runnable command",
                "a doctor failure also carries its checks in `data`",
            ],
        },
        statuses: crate::ledger::Status::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
        ledger: LEDGER_FIELDS
            .iter()
            .map(|(name, ty, meaning)| FieldInfo { name, ty, meaning })
            .collect(),
        config: crate::config::KEYS
            .iter()
            .map(|(name, meaning)| KeyInfo {
                name,
                required: matches!(
                    *name,
                    "target_file" | "eval_command" | "metric_name" | "metric_direction"
                ),
                meaning,
            })
            .collect(),
        metric_grammar: vec![
            "the eval's stdout and stderr go to .autoresearch/runs/<run>.log; ANSI escapes are stripped and \\r ends a line",
            "the metric is the LAST match in the output of any of these forms:",
            "`<name><sep><number>`: name at line start or after a non-name character; sep is optional spaces then `:` or `=`, or one or more spaces; anything may follow after whitespace",
            "`METRIC <name>=<number>`",
            "a line that is a JSON object with key <name> whose value is a number",
            "number: [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?, no thousands separators, no hex, no `_`",
            "nan, inf or an overflow => crash with reason non_finite_metric; no match => crash with reason no_metric",
            "name characters are letters, digits, `_`, `.`, `-` and `/`",
            "constraints read secondary metrics with the same grammar",
        ],
        files: vec![
            FileInfo {
                path: "autoresearch.toml",
                meaning: "the config, at the project root",
            },
            FileInfo {
                path: "program.md",
                meaning: "the research direction the agent follows",
            },
            FileInfo {
                path: ".autoresearch/experiments.jsonl",
                meaning: "the ledger, one JSON record per line (main worktree)",
            },
            FileInfo {
                path: ".autoresearch/experiments.lock",
                meaning: "the writers' flock; holds the holder's pid",
            },
            FileInfo {
                path: ".autoresearch/experiments.jsonl.torn",
                meaning: "torn tails moved aside by the next writer",
            },
            FileInfo {
                path: ".autoresearch/summary.json",
                meaning: "a cache of the ledger's fold; safe to delete",
            },
            FileInfo {
                path: ".autoresearch/runs/<run>.log",
                meaning: "the eval output of each run (repeats: `--- sample N ---` between samples)",
            },
            FileInfo {
                path: ".autoresearch/runs/doctor.log",
                meaning: "the eval output of the last `doctor`",
            },
            FileInfo {
                path: ".autoresearch/loop.json",
                meaning: "the live loop: pid, host, start, iteration, heartbeat",
            },
            FileInfo {
                path: ".autoresearch/loop.lock",
                meaning: "the loop's flock, held by `run` for a whole step; holds the holder's pid",
            },
            FileInfo {
                path: ".autoresearch/.gitignore",
                meaning: "contains `*`: the directory ignores itself",
            },
            FileInfo {
                path: "refs/autoresearch/runs/<run>",
                meaning: "git ref keeping each evaluated commit reachable",
            },
            FileInfo {
                path: ".autoresearch/installed.json",
                meaning: "what `install --project` wrote: paths, hashes, versions",
            },
            FileInfo {
                path: "$XDG_CONFIG_HOME/autoresearch/installed.json",
                meaning: "what `install --global` wrote (default ~/.config/autoresearch/)",
            },
        ],
        environment: vec![
            FileInfo {
                path: "AUTORESEARCH_FORMAT",
                meaning: "json or human: the default output mode",
            },
            FileInfo {
                path: "NO_COLOR",
                meaning: "set: no colour in human output",
            },
            FileInfo {
                path: "GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL",
                meaning: "commit identity when git config has none",
            },
            FileInfo {
                path: "CLAUDE_CONFIG_DIR, GEMINI_CLI_HOME, OPENCODE_CONFIG_DIR, XDG_CONFIG_HOME, COPILOT_HOME",
                meaning: "move an agent's user-wide skill directory; `install --global` follows them (see skill_targets)",
            },
            FileInfo {
                path: "CODEX_HOME",
                meaning: "Codex's deprecated skill root; `install` never writes there, `uninstall codex --global` removes our old copy",
            },
            FileInfo {
                path: "AUTORESEARCH_RUN",
                meaning: "set for the eval by `run`: the run number being evaluated",
            },
            FileInfo {
                path: "AUTORESEARCH_SAMPLE",
                meaning: "set for the eval by `run` and `doctor`: the evaluation's number, 1..repeats",
            },
        ],
        skill_targets: skill_targets(),
        guide_topics: super::guide::topic_list(),
    })
}

fn arg_info(a: &clap::Arg) -> ArgInfo {
    let takes_value = a.get_num_args().is_some_and(|n| n.takes_values()) || (a.is_positional());
    let repeatable = matches!(
        a.get_action(),
        clap::ArgAction::Append | clap::ArgAction::Count
    );
    ArgInfo {
        name: a.get_id().to_string(),
        long: a.get_long().map(|l| format!("--{l}")),
        short: a.get_short().map(|s| format!("-{s}")),
        positional: a.is_positional(),
        takes_value: takes_value && !matches!(a.get_action(), clap::ArgAction::SetTrue),
        value_name: a
            .get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string()),
        required: a.is_required_set(),
        repeatable,
        default: a
            .get_default_values()
            .first()
            .map(|v| v.to_string_lossy().into_owned()),
        possible_values: a
            .get_possible_values()
            .iter()
            .map(|p| p.get_name().to_string())
            .collect(),
        help: a.get_help().map(|h| h.to_string()).unwrap_or_default(),
    }
}

impl Human for AgentInfoOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        p.line(format!(
            "{} {} — {}",
            p.paint.bold(self.name),
            self.version,
            self.description
        ))?;
        p.line("")?;
        p.line(p.paint.bold("Commands"))?;
        for c in &self.commands {
            p.line(format!("  {}", c.usage))?;
            p.line(format!("      {}", p.paint.dim(&c.about)))?;
        }
        p.line("")?;
        p.line(p.paint.bold("Exit codes"))?;
        for e in &self.exit_codes {
            p.line(format!("  {}  {} → {}", e.code, e.meaning, e.agent_action))?;
        }
        p.line("")?;
        p.line(p.paint.bold("Error codes"))?;
        for e in &self.error_codes {
            p.line(format!(
                "  {:<20} exit {}  {}",
                e.code, e.exit_code, e.meaning
            ))?;
        }
        p.line("")?;
        let title = "Skill targets (autoresearch install <target>)";
        p.line(p.paint.bold(title))?;
        for t in &self.skill_targets {
            p.line(format!("  {:<12} {}", t.name, t.project_paths.join(", ")))?;
        }
        p.line("")?;
        let topics: Vec<&str> = self.guide_topics.iter().map(|t| t.name).collect();
        p.line(format!(
            "{} {}",
            p.paint.bold("Guide topics (autoresearch guide <topic>):"),
            topics.join(", ")
        ))?;
        p.line("")?;
        p.line(
            p.paint.dim(
                "The full description (schemas, grammar, files): autoresearch agent-info --json",
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_fields_match_the_record_type() {
        let rec = crate::ledger::Record::blank(0, crate::ledger::Status::Kept, None);
        let v = serde_json::to_value(&rec).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let listed: Vec<&str> = LEDGER_FIELDS.iter().map(|f| f.0).collect();
        assert_eq!(keys, listed);
    }
}
