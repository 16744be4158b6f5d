//! The per-call context of the binary: how to render, the working directory, and the hints and
//! warnings the command collects for its envelope. The library never sees it: it returns
//! warnings as values, and the command adds them here.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;

use autoresearch::error::{AppError, Result};
use autoresearch::ledger::{Ledger, Summary};
use autoresearch::project::{Loaded, Project};

use crate::output::{Mode, Render};

pub struct Ctx {
    pub render: Render,
    pub cwd: PathBuf,
    hints: RefCell<Vec<String>>,
    warnings: RefCell<Vec<String>>,
}

impl Ctx {
    pub fn new(render: Render) -> Result<Ctx> {
        let cwd = std::env::current_dir()
            .map_err(|e| AppError::io("reading the current directory", &e))?;
        Ok(Ctx {
            render,
            cwd,
            hints: RefCell::new(Vec::new()),
            warnings: RefCell::new(Vec::new()),
        })
    }

    pub fn mode(&self) -> Mode {
        self.render.mode
    }

    pub fn hint(&self, text: impl Into<String>) {
        push_unique(&self.hints, text.into());
    }

    pub fn hints(&self, texts: impl IntoIterator<Item = String>) {
        for t in texts {
            self.hint(t);
        }
    }

    pub fn warn(&self, text: impl Into<String>) {
        push_unique(&self.warnings, text.into());
    }

    pub fn warn_all(&self, texts: impl IntoIterator<Item = String>) {
        for t in texts {
            self.warn(t);
        }
    }

    pub fn take_notes(&self) -> (Vec<String>, Vec<String>) {
        (self.hints.take(), self.warnings.take())
    }

    /// May we ask questions? Only with a person at a terminal on both ends, never in JSON mode.
    pub fn interactive(&self) -> bool {
        self.mode() == Mode::Human
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
    }

    pub fn project(&self) -> Result<Project> {
        Project::discover(&self.cwd)
    }

    /// Project + validated config + ledger; config warnings go into the envelope.
    pub fn load(&self) -> Result<Loaded> {
        let (loaded, warnings) = Loaded::open(&self.cwd)?;
        self.warn_all(warnings);
        Ok(loaded)
    }

    /// The ledger's fold, with its health warnings added to the envelope.
    pub fn summary(&self, ledger: &Ledger) -> Result<Summary> {
        let s = ledger.summary()?;
        self.warn_all(s.health_warnings("`experiments.jsonl`"));
        Ok(s)
    }
}

fn push_unique(list: &RefCell<Vec<String>>, text: String) {
    let mut l = list.borrow_mut();
    if !l.contains(&text) {
        l.push(text);
    }
}
