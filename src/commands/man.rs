//! `autoresearch man`: the manual page, roff for `man -l -` or a `man1` directory. One page
//! holds everything: the program, each command with its synopsis, flags and examples, the exit
//! status and the environment. It is generated from the command tree (the sections by
//! `clap_mangen`) and the contract's tables, like `agent-info`, so it cannot drift. Written as
//! it is in either output mode (docs/CONTRACT.md §1's exception).

use std::io;

use clap::{Args, CommandFactory};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use serde::Serialize;

use autoresearch::error::{self, AppError, Result};

use crate::commands::Cli;
use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch man | man -l -                         read it now
  autoresearch man > ~/.local/share/man/man1/autoresearch.1   then `man autoresearch`")]
pub struct ManArgs {}

#[derive(Debug, Serialize)]
pub struct ManOutput {
    pub page: String,
}

impl Output for ManOutput {
    fn raw(&self) -> Option<&str> {
        Some(&self.page)
    }
}

impl Human for ManOutput {
    fn human(&self, p: &mut Printer) -> io::Result<()> {
        p.out.write_all_str(&self.page)
    }
}

pub fn run(_ctx: &Ctx, _args: &ManArgs) -> Result<ManOutput> {
    let mut page = Vec::new();
    // Into memory: the only error would be a bug in the rendering.
    render(Cli::command(), &mut page)
        .map_err(|e| AppError::internal(format!("rendering the manual page: {e}")))?;
    // Every piece is roff the crates built from UTF-8 strings.
    Ok(ManOutput {
        page: once_preamble(&String::from_utf8_lossy(&page)),
    })
}

/// `roff` opens every piece it writes with the same two lines defining `\*(Aq`: the page needs
/// them once, at the top.
fn once_preamble(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut seen = 0;
    for line in page.lines() {
        let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
        if preamble {
            seen += 1;
            if seen > 2 {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Flags every command repeats: described once, at the top of the page.
const REPEATED: &[&str] = &["json", "human", "color", "help"];

/// The whole page: NAME, SYNOPSIS, DESCRIPTION and the options from `clap_mangen`; then a
/// section per command, the exit status and the environment.
pub fn render(mut cli: clap::Command, w: &mut dyn io::Write) -> io::Result<()> {
    cli.build();
    let man = Man::new(cli.clone());
    // By hand: `clap_mangen` leaves an empty date unquoted, which shifts the source and the
    // manual into the wrong fields. No date: the page is the same on every build.
    writeln!(
        w,
        ".TH AUTORESEARCH 1 \"\" \"autoresearch {}\" \"User Commands\"",
        env!("CARGO_PKG_VERSION")
    )?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    description(&cli).to_writer(w)?;
    man.render_options_section(w)?;

    let commands: Vec<&clap::Command> = cli
        .get_subcommands()
        .filter(|c| c.get_name() != "help" && !c.is_hide_set())
        .collect();
    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    for c in &commands {
        roff.control("TP", []);
        roff.text([bold(c.get_name())]);
        roff.text([roman(
            c.get_about().map(|a| a.to_string()).unwrap_or_default(),
        )]);
    }
    roff.to_writer(w)?;
    for c in commands {
        command_section(c, w)?;
    }
    trailer().to_writer(w)
}

/// How the program talks: the top-level help's closing text, kept as lines (NAME already says
/// what it is).
fn description(cli: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["DESCRIPTION"]);
    if let Some(after) = cli.get_after_help() {
        roff.control("nf", []);
        for line in after.to_string().lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
    }
    roff
}

/// One command as a section of its own: synopsis, description, flags, examples. The pieces
/// `clap_mangen` renders as `.SH` sections become paragraphs here, under the command's heading.
fn command_section(sub: &clap::Command, w: &mut dyn io::Write) -> io::Result<()> {
    let mut sub = sub.clone();
    for id in REPEATED {
        if sub.get_arguments().any(|a| a.get_id() == *id) {
            sub = sub.mut_arg(*id, |a| a.hide(true));
        }
    }
    let heading = format!("autoresearch {}", sub.get_name());
    let mut roff = Roff::default();
    roff.control("SH", [heading.to_uppercase().as_str()]);
    roff.to_writer(w)?;

    let man = Man::new(sub.clone());
    let mut parts = Vec::new();
    man.render_synopsis_section(&mut parts)?;
    man.render_description_section(&mut parts)?;
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut parts)?;
    }
    let parts = String::from_utf8_lossy(&parts);
    for line in parts.lines() {
        // `.SH SYNOPSIS` → nothing (it opens the section), the others → a new paragraph.
        match line.strip_prefix(".SH ") {
            Some("SYNOPSIS") => {}
            Some(_) => writeln!(w, ".PP")?,
            None => writeln!(w, "{line}")?,
        }
    }

    if let Some(examples) = sub.get_after_long_help().or_else(|| sub.get_after_help()) {
        let mut roff = Roff::default();
        roff.control("PP", []);
        roff.control("nf", []);
        for line in examples.to_string().lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
        roff.to_writer(w)?;
    }
    Ok(())
}

/// EXIT STATUS and ENVIRONMENT from the contract's tables, then SEE ALSO.
fn trailer() -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning, action) in error::EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(format!("{meaning}. Agent action: {action}."))]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in super::agent_info::environment() {
        roff.control("TP", []);
        roff.text([bold(name)]);
        roff.text([roman(meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "autoresearch guide (the method, by topic); autoresearch agent-info (the interface as JSON); \
         docs/CONTRACT.md in the source repository.",
    )]);
    roff
}
