//! What a review reads before it builds the prompt: the records of the branch (or of every
//! branch), the config and `program.md` as they are on disk, the noise under the best's setup,
//! the change from the baseline to the best, and the analysis of the records.

use std::io::Read;
use std::path::Path;

use super::{Change, Material, Prompt, prompt};
use crate::analysis::source::{self, Branches};
use crate::analysis::{self, Analysis, Input};
use crate::error::{AppError, Code, Result};
use crate::git::{self, CodeDiff};
use crate::ledger::{Record, Summary};
use crate::project::Loaded;

/// `program.md` is read up to this many bytes (or the cap, when larger): more cannot fit.
const PROGRAM_READ: usize = 1 << 20;

pub struct Options {
    /// Leave the patterns out of the prompt.
    pub blind: bool,
    /// The cap on the prompt, in bytes.
    pub max_bytes: usize,
}

/// A review: the analysis of the records and the prompt for the reviewer.
pub struct Review {
    /// The records reviewed.
    pub records: usize,
    /// The noise sd of one sample under the best's setup, when known.
    pub noise_sd: Option<f64>,
    pub analysis: Analysis,
    pub prompt: Prompt,
}

/// Review the records of `which`, against the baseline, best and noise of `scope_branch`.
/// Returns the problems that did not stop it. `no_experiments` when there is no record.
pub fn review(
    loaded: &Loaded,
    summary: &Summary,
    which: &Branches,
    scope_branch: &str,
    opts: &Options,
) -> Result<(Review, Vec<String>)> {
    let (records, mut warnings) = source::records(loaded, summary, which)?;
    if records.is_empty() {
        return Err(no_records(which));
    }
    let scope = summary.scope(Some(scope_branch));
    let setup = scope.best_evidence().and_then(|e| e.setup.as_deref());
    let noise_sd = scope.noise(setup).map(|n| n.sd);
    let config_text = std::fs::read_to_string(loaded.project.config_path())
        .map_err(|e| warnings.push(format!("Cannot read `autoresearch.toml`: {e}.")))
        .ok();
    let program = read_program(
        &loaded.project.program_path(),
        PROGRAM_READ.max(opts.max_bytes),
    )
    .map_err(|e| warnings.push(format!("Cannot read `program.md`: {e}.")))
    .ok()
    .flatten();
    let diff_of = |r: &Record| source::diff_of(loaded, r);
    let analysis = analysis::analyze(&Input {
        records: &records,
        direction: loaded.config.metric_direction,
        noise_sd,
        program: program.as_deref(),
        diff_of: Some(&diff_of),
        default_branch: Some(loaded.ledger.default_branch()),
    });
    let (baseline, best) = (scope.baseline.as_ref(), scope.best.as_ref());
    let code = code_change(loaded, baseline, best, opts.max_bytes, &mut warnings);
    let branch = match which {
        Branches::One(b) => Some(b.as_str()),
        Branches::All => None,
    };
    let material = Material {
        config: &loaded.config,
        config_text: config_text.as_deref(),
        program: program.as_deref(),
        records: &records,
        branch,
        scope_branch,
        baseline,
        best,
        noise_sd,
        change: match &code {
            Ok(d) => Change::Diff(d),
            Err(why) => Change::Missing(why.clone()),
        },
        analysis: &analysis,
        blind: opts.blind,
    };
    let prompt = prompt(&material, opts.max_bytes)?;
    let review = Review {
        records: records.len(),
        noise_sd,
        analysis,
        prompt,
    };
    Ok((review, warnings))
}

fn no_records(which: &Branches) -> AppError {
    match which {
        Branches::One(b) => AppError::new(
            Code::NoExperiments,
            format!("No experiments on branch `{b}` to review yet."),
            "Run `autoresearch run -m \"baseline\"` to record the baseline (or `autoresearch review --all-branches` to review every branch).",
        ),
        Branches::All => AppError::new(
            Code::NoExperiments,
            "No experiments in the ledger to review yet.",
            "Run `autoresearch run -m \"baseline\"` to record the baseline, then experiments, then `autoresearch review`.",
        ),
    }
}

/// `program.md`, at most `cap` bytes of it (invalid UTF-8 replaced); `None` when it does not
/// exist.
fn read_program(path: &Path, cap: usize) -> std::io::Result<Option<String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(cap as u64).read_to_end(&mut bytes)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The change from the baseline's commit to the best's, with its patch cut at `cap` bytes; or
/// why there is none to show.
fn code_change(
    loaded: &Loaded,
    baseline: Option<&Record>,
    best: Option<&Record>,
    cap: usize,
    warnings: &mut Vec<String>,
) -> std::result::Result<CodeDiff, String> {
    let (base, best) = match (baseline, best) {
        (_, None) => return Err("There is no best yet: no baseline or keep with a metric.".into()),
        (None, Some(_)) => return Err("There is no baseline to compare the best with.".into()),
        (Some(b), Some(best)) if b.run == best.run => {
            return Err("The baseline is still the best: no change was kept.".into());
        }
        (Some(b), Some(best)) => (b, best),
    };
    let (Some(from), Some(to)) = (base.commit.as_deref(), best.commit.as_deref()) else {
        return Err("The baseline or the best names no commit: there is no change to show.".into());
    };
    git::diff_commits(&loaded.project.repo, Some(from), to, true, cap).map_err(|e| {
        warnings.push(e.message.clone());
        format!("The change could not be computed: {}", e.message)
    })
}
