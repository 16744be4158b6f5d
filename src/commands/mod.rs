//! One file per subcommand. Each exposes `XxxArgs` (clap) and
//! `run(&Ctx, &XxxArgs) -> Result<XxxOutput>`; output types are data, rendered by `output`.

pub mod agent_info;
pub mod best;
pub mod demo;
pub mod diff;
pub mod doctor;
pub mod export;
pub mod guide;
pub mod init;
pub mod install;
pub mod log;
pub mod record;
pub mod run;
pub mod status;

use std::ffi::OsString;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::Command;
use crate::ctx::Ctx;
use crate::error::{AppError, Result};
use crate::output::{self, Human, Mode};

/// What a command returns. Most always succeed when they return; `doctor` can return its
/// findings *and* a failure, so the agent sees the checks and a non-zero exit together.
pub trait Output: Serialize + Human {
    fn failure(&self) -> Option<AppError> {
        None
    }
    /// The command already wrote its data to stdout (`export`): print no envelope.
    fn printed(&self) -> bool {
        false
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
        Command::Log(a) => finish(ctx, name, log::run(ctx, a)),
        Command::Status(a) => finish(ctx, name, status::run(ctx, a)),
        Command::Best(a) => finish(ctx, name, best::run(ctx, a)),
        Command::Diff(a) => finish(ctx, name, diff::run(ctx, a)),
        Command::Export(a) => finish(ctx, name, export::run(ctx, a)),
        Command::AgentInfo(a) => finish(ctx, name, agent_info::run(ctx, a)),
        Command::Guide(a) => finish(ctx, name, guide::run(ctx, a)),
        Command::Install(a) => finish(ctx, name, install::install(ctx, a)),
        Command::Uninstall(a) => finish(ctx, name, install::uninstall(ctx, a)),
    }
}

/// A status word in its colour: kept green, crash red, and so on.
pub fn paint_status(paint: &output::Paint, s: crate::ledger::Status) -> String {
    use crate::ledger::Status;
    let word = s.as_str();
    match s {
        Status::Kept => paint.green(word),
        Status::Baseline => paint.cyan(word),
        Status::Discarded => paint.dim(word),
        Status::Crash | Status::Timeout => paint.red(word),
    }
}

/// `improvement  +0.3 (20.000%)` in the summary views of `status` and `best`.
pub fn print_improvement(
    p: &mut output::Printer,
    width: usize,
    improvement: Option<f64>,
    pct: Option<f64>,
) -> std::io::Result<()> {
    let Some(imp) = improvement else {
        return Ok(());
    };
    let pct = pct.map(|v| format!(" ({v:.3}%)")).unwrap_or_default();
    let text = p.paint.green(&format!("{}{pct}", record::fmt_delta(imp)));
    p.kv("improvement", width, text)
}

/// A code change as `best` and `diff` show it: the stat, then the patch when there is one.
pub fn print_code_diff(
    p: &mut output::Printer,
    code: &crate::git::CodeDiff,
) -> std::io::Result<()> {
    p.line("")?;
    for l in crate::git::stat_lines(code) {
        p.line(l)?;
    }
    if let Some(patch) = &code.patch {
        p.line("")?;
        p.out.write_all_str(patch)?;
        if code.patch_truncated {
            p.line(p.paint.dim("… (patch cut; raise --max-patch-bytes)"))?;
        }
    }
    Ok(())
}

/// Emit the envelope (or view) for a command's result and pick the exit code.
fn finish<T: Output>(ctx: &Ctx, name: &str, result: Result<T>) -> ExitCode {
    let (hints, warnings) = ctx.take_notes();
    let (written, code) = match result {
        Ok(data) if data.printed() => (Ok(()), 0),
        Ok(data) => match data.failure() {
            None => (
                output::emit_success(ctx.mode, name, &data, &hints, &warnings),
                0,
            ),
            Some(err) => (
                output::emit_error(ctx.mode, name, &err, Some(&data), &hints, &warnings),
                err.exit_code(),
            ),
        },
        Err(err) => (
            output::emit_error::<()>(ctx.mode, name, &err, None, &hints, &warnings),
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

/// Help and version exit 0; anything else clap rejects is a `usage` error, enveloped in JSON
/// mode. The mode comes from the raw arguments, since parsing did not finish.
pub fn usage_error(err: clap::Error, args: &[OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    let before_dashdash = args.iter().skip(1).take_while(|a| *a != "--");
    let (mut json, mut human) = (false, false);
    for a in before_dashdash {
        json |= a == "--json";
        human |= a == "--human";
    }
    let mode = Mode::detect(json, human);
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
    if mode == Mode::Human && err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = err.print();
        return ExitCode::from(2);
    }
    let _ = output::emit_error::<()>(mode, &command, &app, None, &[], &[]);
    ExitCode::from(2)
}

/// The first argument naming a known subcommand, if any.
fn subcommand_in(args: &[OsString]) -> Option<String> {
    use clap::CommandFactory;
    let cmd = crate::cli::Cli::command();
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
