//! The per-call context: output mode, working directory, and the hints and warnings that any
//! layer may add and the envelope carries.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;

use crate::config::Config;
use crate::error::{AppError, Result};
use crate::ledger::{Ledger, Summary};
use crate::output::Mode;
use crate::project::Project;

pub struct Ctx {
    pub mode: Mode,
    pub cwd: PathBuf,
    hints: RefCell<Vec<String>>,
    warnings: RefCell<Vec<String>>,
}

/// A project with a valid config and its ledger: what most commands start from.
pub struct Loaded {
    pub project: Project,
    pub config: Config,
    pub ledger: Ledger,
}

impl Ctx {
    pub fn new(mode: Mode) -> Result<Ctx> {
        let cwd = std::env::current_dir()
            .map_err(|e| AppError::io("reading the current directory", &e))?;
        Ok(Self::for_dir(mode, cwd))
    }

    /// A context working in `dir` instead of the process's current directory: `demo` drives a
    /// project in a temporary directory in-process, with notes of its own.
    pub fn for_dir(mode: Mode, dir: PathBuf) -> Ctx {
        Ctx {
            mode,
            cwd: dir,
            hints: RefCell::new(Vec::new()),
            warnings: RefCell::new(Vec::new()),
        }
    }

    pub fn hint(&self, text: impl Into<String>) {
        let text = text.into();
        let mut h = self.hints.borrow_mut();
        if !h.contains(&text) {
            h.push(text);
        }
    }

    pub fn warn(&self, text: impl Into<String>) {
        let text = text.into();
        let mut w = self.warnings.borrow_mut();
        if !w.contains(&text) {
            w.push(text);
        }
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
        self.mode == Mode::Human
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
    }

    pub fn project(&self) -> Result<Project> {
        Project::discover(&self.cwd)
    }

    /// Project + validated config + ledger; config warnings go into the envelope.
    pub fn load(&self) -> Result<Loaded> {
        let project = self.project()?;
        let (config, warnings) = project.load_config()?;
        self.warn_all(warnings);
        let ledger = Ledger::new(
            &project.state_dir(),
            config.metric_direction,
            &config.branch,
        );
        Ok(Loaded {
            project,
            config,
            ledger,
        })
    }

    /// The ledger's fold, with its health warnings added to the envelope.
    pub fn summary(&self, ledger: &Ledger) -> Result<Summary> {
        let s = ledger.summary()?;
        self.warn_all(s.health_warnings("`experiments.jsonl`"));
        Ok(s)
    }
}
