//! A spinner on stderr while an eval runs: a label, elapsed time against the budget and the
//! latest output line. Drawn only when stderr is a terminal (docs/CONTRACT.md §1); otherwise
//! every call is a no-op, so callers need no checks of their own.

use std::io::IsTerminal;
use std::time::Duration;

use autoresearch::engine::Event;
use autoresearch::text::format_duration;

use super::fmt::shorten;

pub struct Spinner {
    bar: Option<indicatif::ProgressBar>,
    label: String,
    budget: String,
}

impl Spinner {
    pub fn new() -> Spinner {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        Spinner {
            bar,
            label: String::new(),
            budget: String::new(),
        }
    }

    /// Follow the engine's progress events; `prefix` names the caller (`run`, `doctor: ...`).
    pub fn follow(&mut self, prefix: &str, event: &Event) {
        match event {
            Event::EvalStarted {
                run,
                sample,
                samples,
                budget,
            } => {
                let run = run.map_or_else(String::new, |r| format!(" #{r}"));
                let label = if *samples > 1 {
                    format!("{prefix}{run} sample {sample}/{samples}")
                } else {
                    format!("{prefix}{run}")
                };
                self.start(label, *budget);
            }
            Event::Tick { elapsed, line } => self.tick(*elapsed, *line),
            Event::Warning(_) | Event::BranchCreated(_) | Event::EvalSpawned { .. } => {}
        }
    }

    /// A new evaluation starts.
    fn start(&mut self, label: String, budget: Duration) {
        self.label = label;
        self.budget = format_duration(budget);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}  0s / {}", self.label, self.budget));
        }
    }

    /// Called about every 100 ms while it runs.
    fn tick(&mut self, elapsed: Duration, line: Option<&str>) {
        if let Some(bar) = &self.bar {
            let line = line.map(|l| shorten(l, 60)).unwrap_or_default();
            bar.set_message(format!(
                "{}  {:.1}s / {}  {line}",
                self.label,
                elapsed.as_secs_f64(),
                self.budget
            ));
            bar.tick();
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}
