//! `autoresearch agent-info`: the whole interface as one JSON document, generated from the clap
//! command tree and the contract's tables (error codes, schemas), never a hand-kept list.

use clap::Args;
use serde::Serialize;

use autoresearch::error::{self, Code, Result};
use autoresearch::ledger::{self, Status};
use autoresearch::{config, engine, git, metric, project, skills};

use crate::ctx::Ctx;
use crate::output::{self, Human, Output, Printer};

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
    use autoresearch::skills::Base;
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

impl Output for AgentInfoOutput {}

pub fn run(ctx: &Ctx, _args: &AgentInfoArgs, mut cli: clap::Command) -> Result<AgentInfoOutput> {
    // Built, so every argument carries its final shape (actions, value counts), as the
    // subcommands' do once `command_info` renders their usage.
    cli.build();
    ctx.hint("Start with `autoresearch status`: its hints name the next command, from an empty repository to a running loop.");
    ctx.hint("`autoresearch guide` teaches the loop; `autoresearch install <target>` puts the skill where your agent reads it (targets in `skill_targets`).");
    Ok(AgentInfoOutput {
        name: "autoresearch",
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        global_flags: cli
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(arg_info)
            .collect(),
        // Building added clap's own `help` subcommand: not part of the interface to describe.
        commands: cli
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .map(command_info)
            .collect(),
        exit_codes: error::EXIT_CODES
            .iter()
            .map(|&(code, meaning, agent_action)| ExitInfo {
                code,
                meaning,
                agent_action,
            })
            .collect(),
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
            rules: output::ENVELOPE_RULES.to_vec(),
        },
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        ledger: ledger::FIELDS
            .iter()
            .map(|&(name, ty, meaning)| FieldInfo { name, ty, meaning })
            .collect(),
        config: config::KEYS
            .iter()
            .map(|&(name, meaning)| KeyInfo {
                name,
                required: config::REQUIRED.contains(&name),
                meaning,
            })
            .collect(),
        metric_grammar: metric::GRAMMAR.to_vec(),
        files: project::FILES.iter().map(file_info).collect(),
        environment: environment().iter().map(file_info).collect(),
        skill_targets: skill_targets(),
        guide_topics: super::guide::topic_list(),
    })
}

/// Every environment variable the interface reads, with its meaning (also the man page's).
pub fn environment() -> Vec<(&'static str, &'static str)> {
    [
        output::ENVIRONMENT,
        git::ENVIRONMENT,
        skills::ENVIRONMENT,
        engine::ENVIRONMENT,
        config::ENVIRONMENT,
        autoresearch::sync::worker::ENVIRONMENT,
        super::report::ENVIRONMENT,
    ]
    .concat()
}

fn file_info(&(path, meaning): &(&'static str, &'static str)) -> FileInfo {
    FileInfo { path, meaning }
}

fn command_info(sub: &clap::Command) -> CommandInfo {
    let mut sub = sub.clone();
    let usage = sub.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ").trim().to_string();
    CommandInfo {
        name: sub.get_name().to_string(),
        about: sub.get_about().map(|s| s.to_string()).unwrap_or_default(),
        usage: format!("autoresearch {}", usage.trim_start_matches("autoresearch ")),
        args: sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version"))
            .map(arg_info)
            .collect(),
    }
}

fn arg_info(a: &clap::Arg) -> ArgInfo {
    let takes_value = (a.get_num_args().is_some_and(|n| n.takes_values()) || a.is_positional())
        && !matches!(a.get_action(), clap::ArgAction::SetTrue);
    let repeatable = matches!(
        a.get_action(),
        clap::ArgAction::Append | clap::ArgAction::Count
    );
    ArgInfo {
        name: a.get_id().to_string(),
        long: a.get_long().map(|l| format!("--{l}")),
        short: a.get_short().map(|s| format!("-{s}")),
        positional: a.is_positional(),
        takes_value,
        // A switch has no value to name (clap still gives it one: its id in capitals).
        value_name: a
            .get_value_names()
            .and_then(|v| v.first())
            .filter(|_| takes_value)
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
