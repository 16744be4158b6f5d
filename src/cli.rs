//! The command line: global flags and the command tree. Doc comments are the help text, and
//! `agent-info` is generated from this tree, so what is written here is what agents see.

use clap::{Parser, Subcommand};

use crate::commands;

const AFTER_HELP: &str = "\
Output: JSON (one envelope per call) when stdout is not a terminal or with --json; tables otherwise.
Exit codes: 0 success (a discarded or crashed experiment is still success), 1 runtime error (retry),
2 config or usage error (fix the call, don't retry).

Start here:  autoresearch status      (where am I, what next)
             autoresearch guide       (the method, for agents and people)
             autoresearch agent-info  (the whole interface as JSON)";

/// Turn any AI coding agent into an overnight researcher: one file, one metric, a safe loop.
#[derive(Debug, Parser)]
#[command(name = "autoresearch", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print one JSON envelope on stdout (the default when stdout is not a terminal).
    #[arg(long, global = true, conflicts_with = "human")]
    pub json: bool,

    /// Print tables and short lines for a person, even into a pipe.
    #[arg(long, global = true)]
    pub human: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold `autoresearch.toml`, `program.md` and `.autoresearch/` in this repository.
    Init(commands::init::InitArgs),
    /// Run one experiment: commit the target change, evaluate it, keep or revert, record.
    Run(commands::run::RunArgs),
    /// Check the setup before a night of experiments: git, config, eval, metric, ledger, lock.
    Doctor(commands::doctor::DoctorArgs),
    /// Watch the whole loop work on a small example project, in about ten seconds.
    Demo(commands::demo::DemoArgs),
    /// Log one experiment whose eval you ran yourself (the manual loop).
    Record(commands::record::RecordArgs),
    /// List experiments, oldest first (the last 20 by default).
    Log(commands::log::LogArgs),
    /// Where the project stands: config, branch, counts, baseline, best, the loop, ledger health.
    Status(commands::status::StatusArgs),
    /// The best experiment against the baseline, with the code change between them.
    Best(commands::best::BestArgs),
    /// Compare two experiments: metrics side by side and the code diff between them.
    Diff(commands::diff::DiffArgs),
    /// Write every experiment as CSV, TSV, JSON or JSON Lines.
    Export(commands::export::ExportArgs),
    /// Describe the whole interface as JSON: commands, flags, exit codes, errors, schemas.
    AgentInfo(commands::agent_info::AgentInfoArgs),
    /// Print the method: the loop, setup, strategy, getting unstuck, crashes, noise, integrity.
    Guide(commands::guide::GuideArgs),
    /// Install the autoresearch skill where coding agents read it (Claude Code, Codex, ...).
    Install(commands::install::InstallArgs),
    /// Remove the skill files autoresearch installed (edited ones are kept).
    Uninstall(commands::install::UninstallArgs),
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
            Command::Log(_) => "log",
            Command::Status(_) => "status",
            Command::Best(_) => "best",
            Command::Diff(_) => "diff",
            Command::Export(_) => "export",
            Command::AgentInfo(_) => "agent-info",
            Command::Guide(_) => "guide",
            Command::Install(_) => "install",
            Command::Uninstall(_) => "uninstall",
        }
    }
}
