//! autoresearch: parse → context → command → one envelope and a semantic exit code.
//! This is the one exit point of the program.

mod cli;
mod coach;
mod commands;
mod config;
mod ctx;
mod engine;
mod error;
mod eval;
mod fsutil;
mod git;
mod ledger;
mod loopfile;
mod metric;
mod names;
mod output;
mod project;
mod skills;

use std::process::ExitCode;

use clap::Parser;

use crate::error::AppError;
use crate::output::Mode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return commands::usage_error(err, &args),
    };
    let mode = Mode::detect(cli.json, cli.human);
    let ctx = match ctx::Ctx::new(mode) {
        Ok(ctx) => ctx,
        Err(err) => return fail(mode, cli.command.name(), &err),
    };
    commands::dispatch(&ctx, &cli.command)
}

fn fail(mode: Mode, command: &str, err: &AppError) -> ExitCode {
    let _ = output::emit_error::<()>(mode, command, err, None, &[], &[]);
    ExitCode::from(err.exit_code())
}
