//! Step 6–7a of the experiment (docs/CONTRACT.md §7): evaluate `repeats` times into one log and
//! read the metric and the constraint metrics of every sample (§6). `doctor` measures with the
//! same function, so what it checks is exactly what `run` will do.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use super::Event;
use crate::config::Config;
use crate::error::{AppError, Code, Result};
use crate::eval::{self, EvalOutcome, EvalSpec};
use crate::metric::{self, MetricRead};
use crate::noise::median;
use crate::text::format_duration;

/// The metric is searched for in at most this much of each sample's output (docs/RELIABILITY.md
/// 12).
pub(super) const SCAN_BYTES: u64 = 1 << 20;
// The log keeps the last `LOG_TAIL` bytes of each sample: the window must fit inside them, with
// the byte before it that tells whether its first line was cut.
const _: () = assert!(SCAN_BYTES < eval::LOG_TAIL);

/// A secondary metric that could not be read in some sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Secondary {
    Missing,
    NonFinite,
}

/// What the evaluations measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub interrupted: bool,
    pub timed_out: bool,
    /// Of the last sample evaluated.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// The metric of the last sample evaluated, when it was not a finite number.
    pub unreadable: Option<MetricRead>,
    /// Without a metric: the value the output gives it that the grammar refuses, if any.
    pub unreadable_value: Option<metric::Unreadable>,
    /// The finite metric of every sample evaluated.
    pub samples: Vec<f64>,
    /// Lines of each sample's output that hold a match of the metric.
    pub metric_lines: Vec<usize>,
    /// Secondary metrics (median over samples) that were read.
    pub metrics: BTreeMap<String, f64>,
    /// Secondary metrics that could not be read in some sample.
    pub(super) unread: BTreeMap<String, Secondary>,
    pub leaked: bool,
    pub duration: Duration,
}

impl Measured {
    /// The metric as read: the median of the samples, or why there is none.
    pub fn primary(&self) -> MetricRead {
        match self.unreadable {
            Some(r) => r,
            None if self.samples.is_empty() => MetricRead::Missing,
            None => MetricRead::Found(median(&self.samples)),
        }
    }

    /// A secondary metric as read (the median over the samples).
    pub fn secondary(&self, name: &str) -> MetricRead {
        match (self.metrics.get(name), self.unread.get(name)) {
            (Some(v), _) => MetricRead::Found(*v),
            (None, Some(Secondary::NonFinite)) => MetricRead::NonFinite,
            _ => MetricRead::Missing,
        }
    }

    /// Did the last sample end cleanly with a finite metric?
    pub fn clean(&self) -> bool {
        !self.interrupted
            && !self.timed_out
            && self.exit_code == Some(0)
            && self.unreadable.is_none()
    }
}

/// What an evaluation is of, passed to the eval in its environment (the `ENVIRONMENT` table):
/// the run and its record's id, the step's token (which lets the next step find a dead step's
/// processes), and the branch and commit evaluated, so that a client of a remote machine can
/// run exactly that code there.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepId<'a> {
    /// The run number the step reserved (`None`: evaluations that are not one run's).
    pub run: Option<u64>,
    /// The `id` the record of this evaluation will have.
    pub id: Option<&'a str>,
    pub token: Option<&'a str>,
    pub branch: Option<&'a str>,
    /// The full hash of the commit evaluated.
    pub commit: Option<&'a str>,
    /// The branch's own environment (`fork --env`), passed to every sample.
    pub env: &'a [(String, String)],
}

/// Evaluate up to `repeats` times into one log (truncated first), stopping at the first sample
/// that does not end cleanly, or when `more` (asked after each clean sample but the last, with
/// the samples so far) says the decision is clear. A `step` is passed to the eval in its
/// environment.
///
/// Only a log that cannot be created, or an eval that cannot be spawned, is an error. Once the
/// log exists, a line of ours that cannot be written to it (a full disk) is a warning: the
/// samples are still measured, so the step can still decide and record.
pub fn measure(
    cfg: &Config,
    root: &Path,
    log_path: &Path,
    step: Option<StepId>,
    repeats: u32,
    on: &mut dyn FnMut(Event),
    more: &mut dyn FnMut(&[f64]) -> bool,
) -> Result<Measured> {
    std::fs::write(log_path, b"").map_err(|e| log_error(log_path, &e))?;
    let names = secondary_metrics(cfg);
    let mut m = Measured::default();
    let mut secondary: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for sample in 1..=repeats {
        if repeats > 1 {
            let line = format!("--- sample {sample} ---");
            append_or_warn(log_path, &line, "the separator of a sample", on);
        }
        let from = std::fs::metadata(log_path).map_or(0, |md| md.len());
        on(Event::EvalStarted {
            run: step.and_then(|s| s.run),
            sample,
            samples: repeats,
            budget: cfg.time_budget,
        });
        let outcome = evaluate_once(cfg, root, log_path, step, sample, on)?;
        if let Some(reason) = &outcome.compact_error {
            on(Event::Warning(format!(
                "The log `{}` could not be compacted after its middle was cut ({reason}): its head and tail are intact, the part between them is not.",
                log_path.display()
            )));
        }
        m.duration += outcome.duration;
        m.leaked |= outcome.leaked_processes;
        m.interrupted = outcome.interrupted;
        m.timed_out = outcome.timed_out;
        m.exit_code = outcome.exit_code;
        m.signal = outcome.signal;
        // The cap keeps the last `LOG_TAIL` bytes, far more than this window: a cut is never
        // inside what is read here.
        let text = metric::read_log_range(log_path, from, SCAN_BYTES).unwrap_or_default();
        read_metrics(&text, cfg, &names, &mut m, &mut secondary);
        m.metric_lines
            .push(metric::matching_lines(&text, &cfg.metric_name));
        // The footer goes in after the metrics were read, so it can never be mistaken for one.
        append_or_warn(
            log_path,
            &footer(&outcome, cfg.time_budget),
            "the footer",
            on,
        );
        if outcome.timed_out || outcome.interrupted {
            let env = environment(root, step, sample);
            super::cancel::cancel(cfg, root, log_path, &env, &outcome, on);
        }
        if !m.clean() || (sample < repeats && !more(&m.samples)) {
            break;
        }
    }
    for (name, values) in secondary {
        if !m.unread.contains_key(&name) {
            m.metrics.insert(name, median(&values));
        }
    }
    Ok(m)
}

/// A log that cannot be written, with a full disk named as such.
fn log_error(log_path: &Path, e: &std::io::Error) -> AppError {
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => AppError::new(
            Code::IoError,
            format!(
                "writing the log `{}`: {}",
                log_path.display(),
                eval::io_reason(e)
            ),
            "Free some disk space, then run the command again.",
        ),
        _ => AppError::io(log_path.display(), e),
    }
}

/// Appends one of our lines (`what`: a separator, a footer) to the log; a failure is a warning.
fn append_or_warn(log_path: &Path, line: &str, what: &str, on: &mut dyn FnMut(Event)) {
    if let Err(e) = append_line(log_path, line) {
        on(Event::Warning(format!(
            "Could not write {what} to the log `{}`: {}; the eval's own output may be missing too.",
            log_path.display(),
            eval::io_reason(&e)
        )));
    }
}

/// One evaluation of the eval command under the budget.
fn evaluate_once(
    cfg: &Config,
    root: &Path,
    log_path: &Path,
    step: Option<StepId>,
    sample: u32,
    on: &mut dyn FnMut(Event),
) -> Result<EvalOutcome> {
    let env = environment(root, step, sample);
    let spec = EvalSpec {
        command: &cfg.eval_command,
        cwd: root,
        budget: cfg.time_budget,
        grace: cfg.kill_grace,
        log_path,
        append: true,
        env: &env,
    };
    // Two callbacks share the caller's: never at the same time, so a `RefCell` suffices.
    let on = std::cell::RefCell::new(on);
    eval::run_eval_owned(
        &spec,
        &mut |pgid| (on.borrow_mut())(Event::EvalSpawned { pgid }),
        &mut |elapsed, line| (on.borrow_mut())(Event::Tick { elapsed, line }),
    )
    .map_err(|e| match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => log_error(log_path, &e),
        _ => AppError::io(format!("running the eval (`{}`)", cfg.eval_command), &e),
    })
}

/// The eval's environment for one sample (docs/CONTRACT.md §7 step 6): the branch's own
/// variables first, then ours, set after, so ours always win.
fn environment(root: &Path, step: Option<StepId>, sample: u32) -> Vec<(String, String)> {
    let step = step.unwrap_or_default();
    let mut env: Vec<(String, String)> = step.env.to_vec();
    let mut set = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            env.push((name.to_string(), value));
        }
    };
    set("AUTORESEARCH_SAMPLE", Some(sample.to_string()));
    set("AUTORESEARCH_RUN", step.run.map(|r| r.to_string()));
    set("AUTORESEARCH_ID", step.id.map(str::to_string));
    set(crate::loopfile::STEP_VAR, step.token.map(str::to_string));
    set("AUTORESEARCH_BRANCH", step.branch.map(str::to_string));
    set("AUTORESEARCH_COMMIT", step.commit.map(str::to_string));
    set(
        "AUTORESEARCH_WORKTREE",
        Some(root.to_string_lossy().into_owned()),
    );
    env
}

/// The primary metric and each constraint metric of one sample's output.
fn read_metrics(
    text: &str,
    cfg: &Config,
    names: &[&str],
    m: &mut Measured,
    secondary: &mut BTreeMap<String, Vec<f64>>,
) {
    match metric::find_metric(text, &cfg.metric_name) {
        MetricRead::Found(v) => {
            m.unreadable = None;
            m.unreadable_value = None;
            m.samples.push(v);
        }
        other => {
            m.unreadable = Some(other);
            // No match, but maybe a value the grammar refuses (`loss: 1,234`): say which.
            m.unreadable_value = metric::unreadable_value(text, &cfg.metric_name);
        }
    }
    for name in names {
        match metric::find_metric(text, name) {
            MetricRead::Found(v) => secondary.entry(name.to_string()).or_default().push(v),
            MetricRead::NonFinite => {
                m.unread.insert(name.to_string(), Secondary::NonFinite);
            }
            MetricRead::Missing => {
                m.unread
                    .entry(name.to_string())
                    .or_insert(Secondary::Missing);
            }
        }
    }
}

/// The last line of each evaluation in its log: how it ended, how much it printed (all of it,
/// with how much of that the cap cut), how long it took (docs/CONTRACT.md §6).
pub(super) fn footer(o: &EvalOutcome, budget: Duration) -> String {
    let how = if o.interrupted {
        "interrupted, stopped".to_string()
    } else if o.timed_out {
        format!("timed out after {}, stopped", format_duration(budget))
    } else {
        match (o.exit_code, o.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "exit status unknown".to_string(),
        }
    };
    let cut = if o.cut_bytes > 0 {
        format!(" ({} cut)", o.cut_bytes)
    } else {
        String::new()
    };
    format!(
        "--- autoresearch: {how}; {} bytes of output{cut} in {:.2}s ---",
        o.output_bytes,
        o.duration.as_secs_f64()
    )
}

/// Each constraint's metric name once, in the order the config lists them.
/// The secondary metrics to read: the constraints' and the declared `metrics`, each once.
fn secondary_metrics(cfg: &Config) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    let declared = cfg.metrics.iter().map(String::as_str);
    for name in cfg
        .constraints
        .iter()
        .map(|c| c.metric.as_str())
        .chain(declared)
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Append one line; a log that ends mid-line (the eval printed no final newline) gets one first,
/// so our line is always a line of its own.
pub(super) fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut last = [0u8; 1];
    let needs_newline = len > 0 && {
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        last[0] != b'\n'
    };
    let text = if needs_newline {
        format!("\n{line}\n")
    } else {
        format!("{line}\n")
    };
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> EvalOutcome {
        EvalOutcome {
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            interrupted: false,
            leaked_processes: false,
            duration: Duration::from_millis(1520),
            pgid: 0,
            output_bytes: 0,
            cut_bytes: 0,
            compact_error: None,
        }
    }

    #[test]
    fn footers_say_how_the_eval_ended() {
        let budget = Duration::from_secs(300);
        let o = EvalOutcome {
            output_bytes: 1234,
            ..outcome()
        };
        assert_eq!(
            footer(&o, budget),
            "--- autoresearch: exit code 0; 1234 bytes of output in 1.52s ---"
        );
        let o = EvalOutcome {
            exit_code: None,
            signal: Some(9),
            ..outcome()
        };
        assert!(footer(&o, budget).contains(": killed by signal 9;"));
        let o = EvalOutcome {
            timed_out: true,
            ..outcome()
        };
        assert!(footer(&o, budget).contains(": timed out after 5m, stopped;"));
        let o = EvalOutcome {
            interrupted: true,
            timed_out: true,
            ..outcome()
        };
        assert!(footer(&o, budget).contains(": interrupted, stopped;"));
    }

    #[test]
    fn appended_lines_start_on_a_line_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "no newline").unwrap();
        append_line(&p, "--- x ---").unwrap();
        append_line(&p, "--- y ---").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "no newline\n--- x ---\n--- y ---\n"
        );
    }
    #[test]
    fn footers_give_every_byte_printed_and_say_how_many_were_cut() {
        let o = EvalOutcome {
            output_bytes: 966_367_641,
            cut_bytes: 948_541_177,
            ..outcome()
        };
        assert_eq!(
            footer(&o, Duration::from_secs(300)),
            "--- autoresearch: exit code 0; 966367641 bytes of output (948541177 cut) in 1.52s ---"
        );
    }

    #[test]
    fn a_full_disk_is_named_in_the_error() {
        let path = Path::new("/tmp/x/1.log");
        for errno in [libc::ENOSPC, libc::EDQUOT] {
            let e = log_error(path, &std::io::Error::from_raw_os_error(errno));
            assert_eq!(e.code, Code::IoError);
            assert!(
                e.message
                    .starts_with("writing the log `/tmp/x/1.log`: no space left on device"),
                "{}",
                e.message
            );
            assert!(!e.message.contains("os error"), "{}", e.message);
            assert!(e.suggestion.contains("disk space"), "{}", e.suggestion);
        }
        let e = log_error(path, &std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(e.message.contains("Permission denied"), "{}", e.message);
    }

    /// `/dev/full` fails every write with ENOSPC: the eval's output and our lines are lost, and
    /// the samples are still measured, with warnings that name the cause.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_a_warning_and_the_sample_is_still_measured() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "target_file = \"t.py\"\neval_command = \"echo score: 1; true\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\nrepeats = 2\n";
        let (cfg, _) = Config::parse("autoresearch.toml", toml).unwrap();
        let mut warnings = Vec::new();
        let m = measure(
            &cfg,
            dir.path(),
            Path::new("/dev/full"),
            None,
            2,
            &mut |e| {
                if let Event::Warning(w) = e {
                    warnings.push(w);
                }
            },
            &mut |_| true,
        )
        .expect("a full disk is not an error once the log exists");
        assert_eq!(m.exit_code, Some(0));
        assert_eq!(m.primary(), MetricRead::Missing, "the output was lost");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("Could not write the separator of a sample to the log `/dev/full`: no space left on device;"), "{warnings:?}");
        assert!(
            warnings[1].starts_with(
                "Could not write the footer to the log `/dev/full`: no space left on device;"
            ),
            "{warnings:?}"
        );
    }
}
