//! Step 6b of the experiment (docs/CONTRACT.md §7): after a sample ended by the budget or by an
//! interrupt, the `cancel_command`. An eval that is the client of a remote job (`srun`,
//! `sky jobs launch`) is stopped with its process group, but the job it submitted runs on: the
//! cancel command stops it, found by the same environment the eval had (`AUTORESEARCH_ID`).
//!
//! It runs under its own bound (`cancel_timeout`) and like an eval (its own process group,
//! nothing of it survives), its output appended to the run's log between our lines. Whatever
//! happens to it is a warning: the sample already ended, and its status does not change.

use std::path::Path;

use super::Event;
use super::measure::append_line;
use crate::config::Config;
use crate::eval::{self, EvalOutcome, EvalSpec};
use crate::text::format_duration;

/// Run `cancel_command`, if there is one, after the sample `ended` (timed out or
/// interrupted), with the eval's environment `env`.
pub(super) fn cancel(
    cfg: &Config,
    root: &Path,
    log_path: &Path,
    env: &[(String, String)],
    ended: &EvalOutcome,
    on: &mut dyn FnMut(Event),
) {
    let after = if ended.interrupted {
        "an interrupt"
    } else {
        "a timeout"
    };
    run_cancel(cfg, root, log_path, env, after, on);
}

/// Run `cancel_command`, if there is one, with the environment `env` of the evaluation it
/// stops; `after` says why (`a timeout`, `an interrupt`, `the step died`).
pub(super) fn run_cancel(
    cfg: &Config,
    root: &Path,
    log_path: &Path,
    env: &[(String, String)],
    after: &str,
    on: &mut dyn FnMut(Event),
) {
    let Some(command) = cfg.cancel_command.as_deref() else {
        return;
    };
    // Our lines go in best effort: the measuring already warned about a log it cannot write.
    let _ = append_line(log_path, &format!("--- cancel_command (after {after}) ---"));
    let spec = EvalSpec {
        command,
        cwd: root,
        budget: cfg.cancel_timeout,
        grace: cfg.kill_grace,
        log_path,
        append: true,
        env,
    };
    let log = log_path.display();
    let outcome = eval::run_cleanup(&spec, &mut |pgid| on(Event::EvalSpawned { pgid }));
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            on(Event::Warning(format!(
                "`cancel_command` could not be run after {after}: {}; whatever the eval started elsewhere may still be running.",
                eval::io_reason(&e)
            )));
            return;
        }
    };
    let _ = append_line(log_path, &footer(&outcome, cfg));
    if let Some(problem) = problem(&outcome, cfg) {
        on(Event::Warning(format!(
            "`cancel_command` {problem} after {after}: whatever the eval started elsewhere may still be running; its output is in `{log}`."
        )));
    }
}

/// What went wrong with the cancel command, if anything.
fn problem(o: &EvalOutcome, cfg: &Config) -> Option<String> {
    if o.interrupted {
        Some("was interrupted".to_string())
    } else if o.timed_out {
        Some(format!(
            "did not finish within `cancel_timeout` ({}) and was stopped",
            format_duration(cfg.cancel_timeout)
        ))
    } else {
        match (o.exit_code, o.signal) {
            (Some(0), _) => None,
            (Some(code), _) => Some(format!("exited with code {code}")),
            (None, Some(sig)) => Some(format!("was killed by signal {sig}")),
            (None, None) => Some("ended with an unknown status".to_string()),
        }
    }
}

/// The last line of the cancel command's part of the log.
fn footer(o: &EvalOutcome, cfg: &Config) -> String {
    let how = problem(o, cfg).unwrap_or_else(|| "exited with code 0".to_string());
    format!(
        "--- autoresearch: cancel_command {how} in {:.2}s ---",
        o.duration.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn cfg(extra: &str) -> Config {
        let toml = format!(
            "target_file = \"t.py\"\neval_command = \"true\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\nkill_grace = \"1s\"\n{extra}"
        );
        Config::parse("autoresearch.toml", &toml).expect("config").0
    }

    fn ended() -> EvalOutcome {
        EvalOutcome {
            exit_code: None,
            signal: Some(15),
            timed_out: true,
            interrupted: false,
            leaked_processes: false,
            duration: Duration::from_secs(1),
            pgid: 0,
            output_bytes: 0,
            cut_bytes: 0,
            compact_error: None,
        }
    }

    fn run(cfg: &Config, env: &[(String, String)]) -> (String, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("1.log");
        std::fs::write(&log, "score: 1\n").expect("log");
        let mut warnings = Vec::new();
        cancel(cfg, dir.path(), &log, env, &ended(), &mut |e| {
            if let Event::Warning(w) = e {
                warnings.push(w);
            }
        });
        (std::fs::read_to_string(&log).expect("log"), warnings)
    }

    #[test]
    fn the_cancel_gets_the_eval_environment_and_writes_to_the_log() {
        let cfg = cfg("cancel_command = \"echo cancelling $AUTORESEARCH_ID\"");
        let env = [("AUTORESEARCH_ID".to_string(), "abc".to_string())];
        let (log, warnings) = run(&cfg, &env);
        assert!(warnings.is_empty(), "{warnings:?}");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "score: 1",
                "--- cancel_command (after a timeout) ---",
                "cancelling abc"
            ]
        );
        assert!(
            lines[3].starts_with("--- autoresearch: cancel_command exited with code 0 in "),
            "{log}"
        );
    }

    #[test]
    fn a_failing_or_hanging_cancel_is_a_warning() {
        let (_, warnings) = run(&cfg("cancel_command = \"exit 3\""), &[]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("`cancel_command` exited with code 3 after a timeout:"),
            "{warnings:?}"
        );
        let t = Instant::now();
        let (log, warnings) = run(
            &cfg("cancel_command = \"sleep 1000\"\ncancel_timeout = \"300ms\""),
            &[],
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert!(
            warnings[0].contains("did not finish within `cancel_timeout` (300ms) and was stopped"),
            "{warnings:?}"
        );
        assert!(log.contains("cancel_command did not finish"), "{log}");
    }

    #[test]
    fn without_a_cancel_command_nothing_is_written() {
        let (log, warnings) = run(&cfg(""), &[]);
        assert_eq!(log, "score: 1\n");
        assert!(warnings.is_empty());
    }
}
