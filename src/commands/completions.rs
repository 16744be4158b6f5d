//! `autoresearch completions SHELL`: the shell's completion script, generated from the command
//! tree by `clap_complete`, so it can never lag behind a new command or flag. The script is
//! written as it is, in either output mode (docs/CONTRACT.md §1's exception): it is meant for
//! `> file` or `source <(...)`, where an envelope would only be in the way.

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use serde::Serialize;

use autoresearch::error::Result;

use crate::commands::Cli;
use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch completions bash > ~/.local/share/bash-completion/completions/autoresearch
  autoresearch completions zsh > ~/.zfunc/_autoresearch      (with fpath+=~/.zfunc before compinit)
  autoresearch completions fish > ~/.config/fish/completions/autoresearch.fish
  source <(autoresearch completions bash)                    (this shell only)")]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Debug, Serialize)]
pub struct CompletionsOutput {
    pub shell: String,
    pub script: String,
}

impl Output for CompletionsOutput {
    fn raw(&self) -> Option<&str> {
        Some(&self.script)
    }
}

impl Human for CompletionsOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        p.out.write_all_str(&self.script)
    }
}

pub fn run(_ctx: &Ctx, args: &CompletionsArgs) -> Result<CompletionsOutput> {
    Ok(CompletionsOutput {
        shell: args.shell.to_string(),
        script: script(args.shell),
    })
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "autoresearch", &mut buf);
    // clap_complete writes text it built from UTF-8 strings.
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let text = script(shell);
            assert!(text.contains("merge-best"), "{shell}: {text}");
            assert!(text.contains("completions"), "{shell}");
        }
    }
}
