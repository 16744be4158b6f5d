//! autoresearch: parse → context → command → one envelope and a semantic exit code.
//! This is the one exit point of the program. The domain lives in the library
//! (`autoresearch::…`); this binary only renders what it returns.

mod coach;
mod commands;
mod ctx;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match commands::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return commands::usage_error(err, &args),
    };
    let render = cli.render();
    match ctx::Ctx::new(render) {
        Ok(ctx) => commands::dispatch(&ctx, &cli.command),
        Err(err) => commands::fail_early(render, cli.command.name(), &err),
    }
}
