//! The command line: the global flags, the command tree with its dispatcher, and one file per
//! subcommand. Each exposes `XxxArgs` (clap) and `run(&Ctx, &XxxArgs) -> Result<XxxOutput>`;
//! outputs are data, rendered by `output`. Doc comments are the help text, and `agent-info` is
//! generated from this tree, so what is written here is what agents see.

pub mod agent_info;
pub mod args;
pub mod best;
pub mod branches;
pub mod completions;
pub mod demo;
pub mod diff;
pub mod doctor;
pub mod export;
pub mod fork;
pub mod guide;
pub mod import;
pub mod init;
pub mod install;
pub mod log;
pub mod man;
pub mod merge_best;
pub mod noise;
pub mod record;
pub mod report;
pub mod retract;
pub mod review;
pub mod run;
pub mod status;
pub mod sync;
pub mod watch;

#[cfg(test)]
mod drift_tests;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use autoresearch::error::{AppError, Result};

use crate::ctx::Ctx;
use crate::output::{self, ColorChoice, Mode, Notes, Output, Render};

const AFTER_HELP: &str = "\
Output: JSON (one envelope per call) when stdout is not a terminal or with --json; tables otherwise.
Exit codes: 0 success (a discarded or crashed experiment is still success), 1 runtime error (retry),
2 config or usage error (fix the call, don't retry).

Start here:  autoresearch status      (where am I, what next)
             autoresearch guide       (the method, for agents and people)
             autoresearch agent-info  (the whole interface as JSON)";

/// The heading the global flags appear under in every command's `--help`.
const GLOBAL: &str = "Global options";

/// Turn any AI coding agent into an overnight researcher: one file, one metric, a safe loop.
#[derive(Debug, Parser)]
#[command(name = "autoresearch", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print one JSON envelope on stdout (the default when stdout is not a terminal).
    #[arg(long, global = true, conflicts_with = "human", help_heading = GLOBAL)]
    pub json: bool,

    /// Print tables and short lines for a person, even into a pipe.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub human: bool,

    /// Colour in human output: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = GLOBAL
    )]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn render(&self) -> Render {
        Render {
            mode: Mode::detect(self.json, self.human),
            color: self.color,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold `autoresearch.toml`, `program.md` and `.autoresearch/` in this repository.
    Init(init::InitArgs),
    /// Run one experiment: commit the target change, evaluate it, keep or revert, record.
    Run(run::RunArgs),
    /// Check the setup before a night of experiments: git, config, eval, metric, ledger, lock.
    Doctor(doctor::DoctorArgs),
    /// Watch the whole loop work on a small example project, in about ten seconds.
    Demo(demo::DemoArgs),
    /// Log one experiment whose eval you ran yourself (the manual loop).
    Record(record::RecordArgs),
    /// Bring other tools' experiment logs into the ledger (results.tsv, JSON Lines, old ledgers).
    Import(import::ImportArgs),
    /// The morning report: markdown, a self-contained HTML page and the SVG chart.
    Report(report::ReportArgs),
    /// Take back a keep that does not stand; the ledger stays append-only.
    Retract(retract::RetractArgs),
    /// Start new directions in parallel: a branch (and a worktree) per fork, all or none.
    Fork(fork::ForkArgs),
    /// Rank the forks against the base's best and bring the winner back (`--apply`).
    MergeBest(merge_best::MergeBestArgs),
    /// List experiments, oldest first (the last 20 by default).
    Log(log::LogArgs),
    /// Where the project stands: config, branch, counts, baseline, best, the loop, ledger health.
    Status(status::StatusArgs),
    /// One ledger across machines: fetch every worker's records, publish this one's (git).
    Sync(sync::SyncArgs),
    /// The loop, live: a dashboard at a terminal, JSON Lines events into a pipe, hooks on events.
    Watch(watch::WatchArgs),
    /// The best experiment against the baseline, with the code change between them.
    Best(best::BestArgs),
    /// Compare two experiments: metrics side by side and the code diff between them.
    Diff(diff::DiffArgs),
    /// Review the night's work: patterns, and a prompt for a second model (`--raw` to pipe it).
    Review(review::ReviewArgs),
    /// Write every experiment as CSV, TSV, JSON or JSON Lines.
    Export(export::ExportArgs),
    /// Describe the whole interface as JSON: commands, flags, exit codes, errors, schemas.
    AgentInfo(agent_info::AgentInfoArgs),
    /// Print the method: the loop, setup, strategy, getting unstuck, crashes, noise, integrity.
    Guide(guide::GuideArgs),
    /// Install the autoresearch skill where coding agents read it (Claude Code, Codex, ...).
    Install(install::InstallArgs),
    /// Remove the skill files autoresearch installed (edited ones are kept).
    Uninstall(install::UninstallArgs),
    /// Print the shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff): `autoresearch man | man -l -`.
    Man(man::ManArgs),
}

impl Command {
    /// The name used in envelopes.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Run(_) => "run",
            Command::Doctor(_) => "doctor",
            Command::Demo(_) => "demo",
            Command::Record(_) => "record",
            Command::Import(_) => "import",
            Command::Report(_) => "report",
            Command::Retract(_) => "retract",
            Command::Fork(_) => "fork",
            Command::MergeBest(_) => "merge-best",
            Command::Log(_) => "log",
            Command::Status(_) => "status",
            Command::Sync(_) => "sync",
            Command::Watch(_) => "watch",
            Command::Best(_) => "best",
            Command::Review(_) => "review",
            Command::Diff(_) => "diff",
            Command::Export(_) => "export",
            Command::AgentInfo(_) => "agent-info",
            Command::Guide(_) => "guide",
            Command::Install(_) => "install",
            Command::Uninstall(_) => "uninstall",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

pub fn dispatch(ctx: &Ctx, cmd: &Command) -> ExitCode {
    let name = cmd.name();
    match cmd {
        Command::Init(a) => finish(ctx, name, init::run(ctx, a)),
        Command::Run(a) => finish(ctx, name, run::run(ctx, a)),
        Command::Doctor(a) => finish(ctx, name, doctor::run(ctx, a)),
        Command::Demo(a) => finish(ctx, name, demo::run(ctx, a)),
        Command::Record(a) => finish(ctx, name, record::run(ctx, a)),
        Command::Import(a) => finish(ctx, name, import::run(ctx, a)),
        Command::Report(a) => finish(ctx, name, report::run(ctx, a)),
        Command::Retract(a) => finish(ctx, name, retract::run(ctx, a)),
        Command::Fork(a) => finish(ctx, name, fork::run(ctx, a)),
        Command::MergeBest(a) => finish(ctx, name, merge_best::run(ctx, a)),
        Command::Log(a) => finish(ctx, name, log::run(ctx, a)),
        Command::Status(a) => finish(ctx, name, status::run(ctx, a)),
        Command::Sync(a) => finish(ctx, name, sync::run(ctx, a)),
        Command::Watch(a) => finish(ctx, name, watch::run(ctx, a)),
        Command::Best(a) => finish(ctx, name, best::run(ctx, a)),
        Command::Review(a) => finish(ctx, name, review::run(ctx, a)),
        Command::Diff(a) => finish(ctx, name, diff::run(ctx, a)),
        Command::Export(a) => finish(ctx, name, export::run(ctx, a)),
        Command::AgentInfo(a) => finish(ctx, name, agent_info::run(ctx, a, Cli::command())),
        Command::Guide(a) => finish(ctx, name, guide::run(ctx, a)),
        Command::Install(a) => finish(ctx, name, install::install(ctx, a)),
        Command::Uninstall(a) => finish(ctx, name, install::uninstall(ctx, a)),
        Command::Completions(a) => finish(ctx, name, completions::run(ctx, a)),
        Command::Man(a) => finish(ctx, name, man::run(ctx, a)),
    }
}

/// Emit the envelope (or view) for a command's result and pick the exit code.
fn finish<T: Output>(ctx: &Ctx, name: &str, result: Result<T>) -> ExitCode {
    let (hints, warnings) = ctx.take_notes();
    let notes = Notes {
        hints: &hints,
        warnings: &warnings,
    };
    let (written, code) = match result {
        Ok(data) if data.printed() => (Ok(()), data.printed_exit()),
        Ok(data) => match (data.failure(), data.raw()) {
            (None, Some(text)) => (output::emit_raw(ctx.render, text, notes), 0),
            (None, None) => (output::emit_success(ctx.render, name, &data, notes), 0),
            (Some(err), _) => (
                output::emit_error(ctx.render, name, &err, Some(&data), notes),
                err.exit_code(),
            ),
        },
        Err(err) => (
            output::emit_error::<()>(ctx.render, name, &err, None, notes),
            err.exit_code(),
        ),
    };
    if let Err(e) = written {
        output::quiet_exit_on_broken_pipe(&e);
        output::stderr_line(&format!("error: writing output: {e}"));
        return ExitCode::from(1);
    }
    ExitCode::from(code)
}

/// A failure before any command ran (the working directory cannot be read).
pub fn fail_early(render: Render, command: &str, err: &AppError) -> ExitCode {
    let notes = Notes {
        hints: &[],
        warnings: &[],
    };
    let _ = output::emit_error::<()>(render, command, err, None, notes);
    ExitCode::from(err.exit_code())
}

/// How to render when parsing failed: the mode and colour flags read from the raw arguments.
fn raw_render(args: &[OsString]) -> Render {
    let (mut json, mut human, mut color) = (false, false, ColorChoice::Auto);
    let mut words = args.iter().skip(1).take_while(|a| *a != "--").peekable();
    while let Some(a) = words.next() {
        json |= a == "--json";
        human |= a == "--human";
        let value = match a.to_str() {
            Some("--color") => words.peek().and_then(|v| v.to_str()),
            Some(s) => s.strip_prefix("--color="),
            None => None,
        };
        match value {
            Some("always") => color = ColorChoice::Always,
            Some("never") => color = ColorChoice::Never,
            _ => {}
        }
    }
    Render {
        mode: Mode::detect(json, human),
        color,
    }
}

/// Help and version exit 0; anything else clap rejects is a `usage` error, enveloped in JSON
/// mode. The mode comes from the raw arguments, since parsing did not finish.
pub fn usage_error(err: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let render = raw_render(args);
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let sub = subcommand_in(args);
    let command = sub.clone().unwrap_or_else(|| "autoresearch".to_string());
    let help = match &sub {
        Some(s) => format!("autoresearch {s} --help"),
        None => "autoresearch --help".to_string(),
    };
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .trim()
        .to_string();
    let message = if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "A command is required.".to_string()
    } else {
        let mut m = message;
        // An invalid choice: name the valid ones (`[possible values: bash, elvish, ...]`).
        if let Some(values) = rendered
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("[possible values:"))
        {
            m.push_str(&format!(" {values}"));
        }
        if let Some(usage) = rendered.lines().find(|l| l.starts_with("Usage:")) {
            m.push_str(&format!(" ({})", usage.trim()));
        }
        m
    };
    let suggestion = if sub.is_none() {
        "Run `autoresearch --help` for the commands, or `autoresearch status` to see where this project stands.".to_string()
    } else {
        format!("Run `{help}` to see the accepted arguments.")
    };
    let app = AppError::usage(message, suggestion);
    if render.mode == Mode::Human
        && err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        let _ = err.print();
        return ExitCode::from(2);
    }
    fail_early(render, &command, &app)
}

/// The first argument naming a known subcommand, if any.
fn subcommand_in(args: &[OsString]) -> Option<String> {
    let cmd = Cli::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .find(|a| names.iter().any(|n| n == a))
        .map(str::to_string)
}
