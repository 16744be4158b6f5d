//! Argument groups and value parsers that several commands share.

use std::io::Read;

use autoresearch::error::{AppError, Code, Result};
use autoresearch::ledger;
use autoresearch::metric;

use autoresearch::ledger::{Ledger, Record, RunRef, Summary, Writer};
use autoresearch::project::Loaded;

use crate::ctx::Ctx;

/// `best` and `diff` cut their patch after this many bytes unless told otherwise.
pub const DEFAULT_PATCH_BYTES: usize = 100_000;

/// A metric value from the command line, under the same grammar as eval output.
pub fn parse_metric_arg(text: &str, what: &str) -> Result<f64> {
    match metric::parse_number(text) {
        Some(Ok(v)) => Ok(v),
        Some(Err(_)) => Err(AppError::new(
            Code::InvalidMetric,
            format!("{what} `{text}` overflows to infinity; metrics must be finite."),
            "Pass a finite number such as `0.9979` or `-3.5e-2`.",
        )),
        None => Err(AppError::new(
            Code::InvalidMetric,
            format!("{what} `{text}` is not a number (nan, inf, hex, `_` and `,` are refused)."),
            "Pass a finite decimal number such as `0.9979`, `-12` or `3.5e-2`.",
        )),
    }
}

/// `-m/--summary` or `--summary-file <path|->`, shared by `record` and `run`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// What was tried and why (the ledger summary; for `run` also the commit message).
    #[arg(
        long,
        short = 'm',
        value_name = "TEXT",
        conflicts_with = "summary_file"
    )]
    pub summary: Option<String>,
    /// Read the summary from a file, or from stdin with `-`.
    #[arg(long, value_name = "PATH|-")]
    pub summary_file: Option<String>,
}

impl SummaryArgs {
    /// The summary as it will be stored: read, stripped of control sequences, capped at 4 KiB
    /// (with a warning when cut).
    pub fn read(&self, ctx: &Ctx) -> Result<String> {
        let raw = read_summary(self.summary.as_deref(), self.summary_file.as_deref())?;
        Ok(clean_summary(ctx, &raw))
    }
}

/// `--summary`, `--summary-file <path>` or `--summary-file -` (stdin).
fn read_summary(summary: Option<&str>, file: Option<&str>) -> Result<String> {
    if let Some(s) = summary {
        return Ok(s.to_string());
    }
    let Some(path) = file else {
        return Ok(String::new());
    };
    let mut bytes = Vec::new();
    let limit = (ledger::MAX_SUMMARY * 4) as u64;
    let res = if path == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    res.map_err(|e| {
        AppError::new(
            Code::Usage,
            format!("Cannot read the summary from `{path}`: {e}."),
            "Pass an existing file to `--summary-file`, or `-` to read standard input.",
        )
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Clean and cap a summary, warning when it was cut.
fn clean_summary(ctx: &Ctx, raw: &str) -> String {
    let (s, cut) = ledger::clean_summary(raw);
    if cut {
        ctx.warn("The summary was longer than 4 KiB and was truncated.");
    }
    s
}

/// `--worker WORKER`, for the readers that can keep to one worker's records.
#[derive(Debug, Default, clap::Args)]
pub struct WorkerArgs {
    /// Only this worker's runs (after `sync`): another worker's id, as in `#17@gpu-03`, or this
    /// clone's own. A reader of one branch reports on that worker's copy of it.
    #[arg(long, value_name = "WORKER")]
    pub worker: Option<String>,
}

impl WorkerArgs {
    /// Whose records `--worker` keeps (`None`: everyone's), checked against the workers this
    /// ledger knows.
    pub fn writer(&self, loaded: &Loaded, summary: &Summary) -> Result<Option<Writer>> {
        let Some(w) = self.worker.as_deref() else {
            return Ok(None);
        };
        let own = autoresearch::sync::worker::current(&loaded.project.state_dir())?;
        if own.as_deref() == Some(w) {
            return Ok(Some(Writer::Own));
        }
        let known = known_workers(summary);
        if known.iter().any(|k| k == w) {
            return Ok(Some(Writer::Other(w.to_string())));
        }
        Err(unknown_worker(w, own.as_deref(), &known))
    }
}

/// The other workers this ledger holds records of: the `@WORKER` of its branch scopes (`sync`
/// files another worker's branch `X` as `X@WORKER`).
pub fn known_workers(summary: &Summary) -> Vec<String> {
    let mut known: Vec<String> = summary
        .branches
        .keys()
        .filter_map(|b| b.rsplit_once('@'))
        .map(|(_, w)| w)
        .filter(|w| autoresearch::sync::worker::valid(w))
        .map(str::to_string)
        .collect();
    known.sort();
    known.dedup();
    known
}

fn unknown_worker(w: &str, own: Option<&str>, known: &[String]) -> AppError {
    let mut names: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    if let Some(own) = own {
        names.push(format!("`{own}` (this clone)"));
    }
    let suggestion = if names.is_empty() {
        "This ledger holds no other worker's runs yet: `autoresearch sync` brings them; drop `--worker` meanwhile.".to_string()
    } else {
        format!(
            "Pass one of the workers this ledger knows: {}.",
            names.join(", ")
        )
    };
    AppError::usage(
        format!("No worker `{w}` wrote a run of this ledger."),
        suggestion,
    )
}

/// A run argument: `17` (this ledger's number), or `17@gpu-03` (run 17 of worker `gpu-03`, as
/// the human views label another worker's runs); a clap value parser.
pub fn parse_run(text: &str) -> std::result::Result<RunRef, String> {
    RunRef::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not a run: pass a run number (`17`) or another worker's run (`17@gpu-03`)"
        )
    })
}

/// The record `which` names; `missing` is the error for a local number that names none. A
/// worker's run that is not here gets one error for every command: perhaps not synced yet.
pub fn find_run(
    ledger: &Ledger,
    which: &RunRef,
    missing: impl FnOnce(u64) -> AppError,
) -> Result<Record> {
    if let Some(found) = ledger.find_ref(which)? {
        return Ok(found);
    }
    Err(match which {
        RunRef::Local(run) => missing(*run),
        RunRef::Worker { run, worker } => AppError::new(
            Code::RunNotFound,
            format!("No run #{run} of worker `{worker}` is in this ledger."),
            format!(
                "See that worker's runs with `autoresearch log --worker {worker}`; `autoresearch sync` brings the runs it published since."
            ),
        ),
    })
}

/// Worker `w`'s copy of `branch`, as `sync` names it: `branch@w` (a name that already is one
/// stays as it is).
pub fn worker_scope(branch: &str, w: &str) -> String {
    match branch.strip_suffix(w) {
        Some(b) if b.ends_with('@') => branch.to_string(),
        _ => format!("{branch}@{w}"),
    }
}

/// The branch a reader reports on: the one named, else the current branch when it is an
/// experiment branch or has records, else the configured one (`Summary::default_scope`).
///
/// With another worker's `writer` (`--worker W`), that worker's copy of it: `X@W` for a named
/// `X`; unnamed, the chosen branch's copy when W has one, else W's branch run most recently.
pub fn report_branch(
    loaded: &Loaded,
    summary: &Summary,
    named: Option<&str>,
    writer: Option<&Writer>,
) -> String {
    let branch = match named {
        Some(b) => b.to_string(),
        None => {
            let current = autoresearch::git::current_branch(&loaded.project.repo);
            summary.default_scope(current.as_deref(), |b| {
                loaded.config.is_experiment_branch(b)
            })
        }
    };
    let Some(Writer::Other(w)) = writer else {
        return branch;
    };
    let theirs = worker_scope(&branch, w);
    let suffix = format!("@{w}");
    if named.is_some() || summary.branches.contains_key(&theirs) {
        return theirs;
    }
    summary
        .branches
        .iter()
        .filter(|(b, _)| b.ends_with(&suffix))
        .max_by_key(|(_, s)| s.last.as_ref().map(|r| r.run))
        .map_or(theirs, |(b, _)| b.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workers_copy_of_a_branch_is_named_once() {
        assert_eq!(
            worker_scope("autoresearch", "gpu-03"),
            "autoresearch@gpu-03"
        );
        assert_eq!(
            worker_scope("autoresearch@gpu-03", "gpu-03"),
            "autoresearch@gpu-03"
        );
        assert_eq!(
            worker_scope("autoresearch-gpu-03", "gpu-03"),
            "autoresearch-gpu-03@gpu-03"
        );
    }

    #[test]
    fn run_arguments_are_numbers_or_runs_of_valid_workers() {
        assert_eq!(parse_run("#4"), Ok(RunRef::Local(4)));
        assert_eq!(
            parse_run("4@gpu-03"),
            Ok(RunRef::Worker {
                run: 4,
                worker: "gpu-03".into()
            })
        );
        for bad in ["4@GPU", "4@-x", "four", "4@a.lock"] {
            assert!(parse_run(bad).is_err(), "{bad}");
        }
    }
}
