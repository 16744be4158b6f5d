//! Property tests over the three inputs nobody vouches for: `autoresearch.toml`
//! (docs/CONTRACT.md §4), `experiments.jsonl` (§5) and an eval's output (§6).
//!
//! In-process (`prop_*`), each reader must never panic, and what it accepts must hold up: a
//! loaded config is valid by every rule of §4, the fast fold of the ledger equals a fold of the
//! records the plain reader streams, and a metric written last is the metric read. Through the
//! binary (`cli_*`), every call must answer with exactly one envelope and an exit code of §2.
//!
//! The in-process properties run `PROPTEST_CASES` cases when it is set, else `CASES` (CI);
//! `bench/fuzz.sh` runs them with 10^6. The binary property starts five processes a case, so
//! it has its own, small count (`FUZZ_CLI_CASES`).

mod draw;
mod inputs;

use std::collections::BTreeMap;
use std::path::Path;

use autoresearch::config::{self, Config, Direction, MinImprovement};
use autoresearch::error::{AppError, Code};
use autoresearch::ledger::{Filter, Ledger, Record, Scope, Status};
use autoresearch::metric::{self, MetricRead};
use proptest::prelude::*;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestCaseResult, TestRunner,
};
use serde_json::Value;

use crate::common::*;
use draw::{Bytes, One, list, many};
use inputs::{byte, config_lines, ledger_line, metric_name, pick, tricky_char};

/// Cases per in-process property in CI.
const CASES: u32 = 10_000;

/// Runs `test` on `cases` values of `strategy` (or as many as the variable `env` says) and
/// fails with the smallest failing value found.
fn check<S: Strategy>(
    cases: u32,
    env: &str,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) {
    let cases = std::env::var(env)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        // A failure prints its input; a regressions file in the source tree would only be
        // left behind by CI.
        failure_persistence: None,
        // The default (ChaCha) is made for quality, and showed in the profile; any source will do.
        rng_algorithm: RngAlgorithm::XorShift,
        ..RunnerConfig::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

/// Arbitrary text: tricky characters, or any bytes read as UTF-8 the lossy way.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        list(move |rng| (0..rng.random_range(0..=max))
            .map(|_| tricky_char(rng))
            .collect::<Vec<char>>())
        .prop_map(String::from_iter),
        many(max, byte).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A config document of near-valid lines, `fuzz` out of 10 values fuzzed.
fn config_doc(fuzz: u32) -> impl Strategy<Value = String> {
    list(move |rng| config_lines(rng, fuzz)).prop_map(|lines| lines.join("\n") + "\n")
}

/// A config document, or arbitrary text.
fn config_text() -> impl Strategy<Value = String> {
    prop_oneof![4 => config_doc(5), 1 => any_text(300)]
}

// ---------------------------------------------------------------------------------------------
// autoresearch.toml

/// What a config that loaded must satisfy: every rule of docs/CONTRACT.md §4.
fn check_loaded(c: &Config, warnings: &[String]) -> TestCaseResult {
    prop_assert!(!c.target_files.is_empty());
    for (i, p) in c.target_files.iter().chain(&c.protected).enumerate() {
        // A directory target keeps its trailing `/`; the rest is normalised like a file.
        let dir = i < c.target_files.len() && p.ends_with('/');
        let normal = config::normalize_rel_path(p).map(|n| if dir { n + "/" } else { n });
        prop_assert_eq!(normal.as_deref(), Some(p.as_str()));
        prop_assert!(!has_control(p), "{:?}", p);
        prop_assert!(
            i >= c.target_files.len() || !c.target_files[..i].contains(p),
            "duplicate target {:?}",
            p
        );
    }
    prop_assert!(c.protected.iter().all(|p| !c.is_target(p)));
    prop_assert!(!c.eval_command.trim().is_empty());
    prop_assert!(
        !has_control(&c.eval_command.replace(['\t', '\n'], "")),
        "{:?}",
        c.eval_command
    );
    prop_assert!(
        config::valid_metric_name(&c.metric_name),
        "{:?}",
        c.metric_name
    );
    prop_assert!(config::valid_branch_name(&c.branch), "{:?}", c.branch);
    let fork = format!("{}-fork-a", c.branch);
    prop_assert!(c.is_experiment_branch(&fork));
    prop_assert!(
        git2::Reference::is_valid_name(&format!("refs/heads/{fork}")),
        "{:?}",
        fork
    );
    for k in &c.constraints {
        prop_assert!(config::valid_metric_name(&k.metric));
        prop_assert!(k.value.is_finite());
        let again = config::Constraint::parse(&k.text);
        prop_assert_eq!(again.as_ref(), Ok(k));
    }
    if let config::Repeats::Fixed(n) = c.repeats {
        prop_assert!((1..=1000).contains(&n));
    }
    for n in [c.max_repeats, c.baseline_repeats] {
        prop_assert!((1..=1000).contains(&n));
    }
    prop_assert!((0.5..=0.999).contains(&c.confidence));
    for d in [c.time_budget, c.kill_grace] {
        prop_assert!(d.as_secs_f64() > 0.0 && d.as_secs_f64() < 1e9, "{:?}", d);
    }
    let (MinImprovement::Absolute(m) | MinImprovement::Percent(m)) = c.min_improvement;
    prop_assert!(m.is_finite() && m >= 0.0);
    for w in warnings {
        prop_assert!(!has_control(w), "{:?}", w);
    }
    Ok(())
}

fn check_refused(e: &AppError, prefix: &str) -> TestCaseResult {
    prop_assert_eq!(e.code, Code::ConfigInvalid, "{}", e.message);
    prop_assert!(e.message.starts_with(prefix), "{:?}", e.message);
    prop_assert!(!has_control(&e.message), "{:?}", e.message);
    prop_assert!(!e.suggestion.is_empty());
    Ok(())
}

#[test]
fn prop_config_parse_accepts_only_valid_configs_and_never_panics() {
    check(
        CASES,
        "PROPTEST_CASES",
        config_text(),
        |text| match Config::parse(config::FILE_NAME, &text) {
            Ok((c, w)) => check_loaded(&c, &w),
            Err(e) => check_refused(&e, "autoresearch.toml:"),
        },
    );
}

#[test]
fn prop_config_load_of_any_bytes_never_panics() {
    let dir = scratch_dir();
    let path = dir.path().join(config::FILE_NAME);
    let bytes = prop_oneof![
        config_text().prop_map(|t| Bytes(t.into_bytes())),
        many(1024, byte).prop_map(Bytes),
    ];
    check(CASES, "PROPTEST_CASES", bytes, |Bytes(bytes)| {
        std::fs::write(&path, &bytes).map_err(fail)?;
        let loaded = Config::load(&path);
        match std::str::from_utf8(&bytes) {
            // Loading is reading, then the same parse.
            Ok(text) => prop_assert_eq!(
                format!("{:?}", loaded.as_ref().map(|(c, _)| c)),
                format!(
                    "{:?}",
                    Config::parse(config::FILE_NAME, text)
                        .as_ref()
                        .map(|(c, _)| c)
                )
            ),
            Err(_) => prop_assert!(loaded.is_err()),
        }
        match loaded {
            Ok((c, w)) => check_loaded(&c, &w),
            Err(e) => check_refused(&e, ""),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// experiments.jsonl

/// A ledger file: lines, near-valid and damaged, or arbitrary bytes.
fn ledger_bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        4 => many(12, ledger_line).prop_map(|lines| Bytes(lines.into_iter().flat_map(|l| l.0).collect())),
        1 => many(1024, byte).prop_map(Bytes),
    ]
}

/// A temporary directory, in memory when the system has `/dev/shm`: the ledger properties write
/// and rename files in every case, and on a disk that is most of their time.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("autoresearch-fuzz-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

/// `a` and `b` are the same fold: every field.
fn same_scope(a: &Scope, b: &Scope, what: &str) -> TestCaseResult {
    prop_assert_eq!(a.total, b.total, "{}", what);
    prop_assert_eq!(&a.counts, &b.counts, "{}", what);
    prop_assert_eq!(&a.baseline, &b.baseline, "{}", what);
    prop_assert_eq!(&a.best, &b.best, "{}", what);
    prop_assert_eq!(&a.last, &b.last, "{}", what);
    prop_assert_eq!(
        (a.baseline_at, a.best_at, a.since_keep),
        (b.baseline_at, b.best_at, b.since_keep),
        "{}",
        what
    );
    prop_assert_eq!(&a.kept_gains, &b.kept_gains, "{}", what);
    Ok(())
}

/// The ledger in `dir` holding `bytes`, read every way there is. Every reader must agree with
/// a fold (`Scope::fold_owned`) of the records `for_each` streams, which serde parses in full.
fn check_ledger(dir: &Path, bytes: &[u8], direction: Direction) -> TestCaseResult {
    std::fs::write(dir.join("experiments.jsonl"), bytes).map_err(fail)?;
    // Cold, from scratch (the fast scanner and `head`); then again, through the cache the
    // first read saved.
    std::fs::remove_file(dir.join("summary.json")).ok();
    let ledger = Ledger::new(dir, direction, "autoresearch");
    let cold = ledger.summary().map_err(fail)?;
    let warm = ledger.summary().map_err(fail)?;
    let mut records = Vec::new();
    ledger
        .for_each(|_, r| {
            records.push(r);
            true
        })
        .map_err(fail)?;
    let mut all = Scope::default();
    let mut branches: BTreeMap<String, Scope> = BTreeMap::new();
    for r in &records {
        let branch = r.branch.clone().unwrap_or_else(|| "autoresearch".into());
        branches
            .entry(branch)
            .or_default()
            .fold_owned(r.clone(), direction);
        all.fold_owned(r.clone(), direction);
    }
    for s in [&cold, &warm] {
        prop_assert_eq!(s.valid, records.len() as u64);
        same_scope(&s.all, &all, "all")?;
        prop_assert_eq!(
            s.branches.keys().collect::<Vec<_>>(),
            branches.keys().collect::<Vec<_>>()
        );
        for (name, scope) in &branches {
            same_scope(&s.branches[name], scope, name)?;
        }
        // The highest run + 1 (never the last line's, never wrapping past 2^64 - 1).
        let highest = records.iter().map(|r| r.run).max();
        prop_assert_eq!(s.next_run(), highest.map_or(Some(0), |m| m.checked_add(1)));
        prop_assert_eq!(
            s.torn_tail.is_some(),
            !bytes.is_empty() && !bytes.ends_with(b"\n")
        );
    }
    // Backwards, from the end.
    let t = ledger
        .read_tail(u64::MAX, usize::MAX, &Filter::default())
        .map_err(fail)?;
    prop_assert_eq!(&t.records, &records);
    prop_assert_eq!(t.torn, cold.torn_tail.is_some());
    prop_assert_eq!(t.bad, cold.bad_count);
    let last = ledger.tail(3, &Filter::default()).map_err(fail)?;
    prop_assert_eq!(&last[..], &records[records.len().saturating_sub(3)..]);
    let kept = Filter {
        statuses: vec![Status::Kept],
        branch: Some("autoresearch".into()),
        ..Filter::default()
    };
    let filtered = ledger.tail(usize::MAX, &kept).map_err(fail)?;
    let expected: Vec<&Record> = records
        .iter()
        .filter(|r| kept.matches(r, "autoresearch"))
        .collect();
    prop_assert_eq!(filtered.iter().collect::<Vec<_>>(), expected);
    Ok(())
}

#[test]
fn prop_ledger_readers_agree_on_any_bytes_and_never_panic() {
    let dir = scratch_dir();
    let direction = One(|rng| pick(rng, &[Direction::Lower, Direction::Higher]));
    check(
        CASES,
        "PROPTEST_CASES",
        (ledger_bytes(), direction),
        |(Bytes(bytes), d)| check_ledger(dir.path(), &bytes, d),
    );
}

// ---------------------------------------------------------------------------------------------
// Eval output

#[test]
fn prop_metric_readers_never_panic_on_any_text() {
    let dir = scratch_dir();
    let log = dir.path().join("run.log");
    let name = prop_oneof![One(|rng| metric_name(rng, 6)), any_text(6)];
    let cut = One(|rng| {
        let r: [usize; 4] = [
            rng.random::<u32>() as usize,
            rng.random_range(0..400),
            rng.random_range(0..5),
            rng.random_range(0..200),
        ];
        r
    });
    check(
        CASES,
        "PROPTEST_CASES",
        (any_text(300), name, cut),
        |(text, name, [from, max, lines, bytes])| {
            let cleaned = metric::clean_output(&text);
            prop_assert!(
                !cleaned.contains(['\u{1b}', '\r', '\u{9b}']),
                "{:?}",
                cleaned
            );
            for read in [
                metric::find_metric(&text, &name),
                metric::find_metric(&cleaned, &name),
            ] {
                if let MetricRead::Found(v) = read {
                    prop_assert!(v.is_finite());
                }
            }
            for word in text.split(char::is_whitespace).chain([text.as_str()]) {
                if let Some(Ok(v)) = metric::parse_number(word) {
                    prop_assert!(v.is_finite());
                    prop_assert!(
                        word.trim_ascii()
                            .bytes()
                            .all(|b| b"0123456789+-.eE".contains(&b))
                    );
                    prop_assert_eq!(word.trim_ascii().parse::<f64>().ok(), Some(v));
                }
            }
            let tail = metric::tail_lines(&text, lines, bytes);
            prop_assert!(tail.len() <= bytes && text.contains(&tail));
            std::fs::write(&log, &text).map_err(fail)?;
            let from = (from % (text.len() + 1)) as u64;
            let window = metric::read_log_range(&log, from, max as u64).map_err(fail)?;
            prop_assert!(!window.contains('\r'));
            Ok(())
        },
    );
}

/// Output whose last line is `<name><sep><value>` after any text: the metric read is that value.
#[test]
fn prop_the_last_metric_line_is_the_metric_read() {
    let dir = scratch_dir();
    let log = dir.path().join("run.log");
    let value = One(|rng| {
        let v = f64::from_bits(rng.random());
        if v.is_finite() {
            let text = match rng.random_range(0..3) {
                0 => format!("{v}"),
                1 => format!("{v:e}"),
                _ => format!("{v:?}"),
            };
            (MetricRead::Found(v), text)
        } else {
            let word = pick(rng, &["nan", "NaN", "-inf", "Infinity", "1e400", "-1e999"]);
            (MetricRead::NonFinite, word.to_string())
        }
    });
    // After the value: nothing, or a space and then text with no line break and no escape.
    let after = list(|rng| {
        if rng.random() {
            return Vec::new();
        }
        let n = rng.random_range(0..20);
        std::iter::once(' ')
            .chain(
                (0..n)
                    .map(|_| tricky_char(rng))
                    .filter(|c| !has_control(&c.to_string())),
            )
            .collect()
    })
    .prop_map(String::from_iter);
    let sep = One(|rng| pick(rng, &[":", "=", " ", ": ", " = ", "\t", ":\t "]));
    let strategy = (
        any_text(300),
        One(|rng| metric_name(rng, 8)),
        sep,
        value,
        after,
    );
    check(
        CASES,
        "PROPTEST_CASES",
        strategy,
        |(before, name, sep, (expected, value), after)| {
            let line = format!("{sep}{value}{after}");
            let text = format!("{before}\n{name}{line}\n");
            let read = metric::find_metric(&metric::clean_output(&text), &name);
            // The name again after the value (`e: 1e5 e 3`) is a later match: nothing to
            // predict. Not a rejection: those are capped, and 10^6 cases would pass the cap.
            if line.contains(name.as_str()) {
                return Ok(());
            }
            prop_assert_eq!(read, expected);
            std::fs::write(&log, &text).map_err(fail)?;
            let window = metric::read_log_tail(&log, 1 << 20).map_err(fail)?;
            prop_assert_eq!(metric::find_metric(&window, &name), expected);
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Through the binary

/// Exactly one envelope on stdout, for `command`, whose status, error code and exit code agree
/// with docs/CONTRACT.md §2.
fn check_envelope(out: &Out, command: &str) -> TestCaseResult {
    prop_assert!(
        out.stdout.ends_with('\n') && out.stdout.trim_end().lines().count() == 1,
        "{:?}\n{}",
        out.stdout,
        out.stderr
    );
    prop_assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).map_err(fail)?;
    prop_assert_eq!(&v["command"], command);
    if out.code == 0 {
        prop_assert_eq!(&v["status"], "success", "{}", v);
        return Ok(());
    }
    prop_assert_eq!(&v["status"], "error", "{}", v);
    let code = v["error"]["code"].as_str().unwrap_or_default();
    let known = Code::ALL.iter().find(|c| c.as_str() == code);
    prop_assert!(known.is_some(), "unknown code {}", v);
    prop_assert_eq!(
        known.map(|c| i32::from(c.exit_code())),
        Some(out.code),
        "{}",
        v
    );
    prop_assert!(
        !v["error"]["suggestion"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{}",
        v
    );
    Ok(())
}

#[test]
fn cli_every_call_answers_with_one_envelope_whatever_the_files_hold() {
    let sb = Sandbox::new();
    sb.init();
    let config = prop_oneof![
        6 => config_doc(1).prop_map(|t| Bytes(t.into_bytes())),
        2 => config_doc(5).prop_map(|t| Bytes(t.into_bytes())),
        1 => many(300, byte).prop_map(Bytes),
    ];
    check(
        300,
        "FUZZ_CLI_CASES",
        (config, ledger_bytes()),
        |(Bytes(config), Bytes(ledger))| {
            std::fs::write(sb.path(config::FILE_NAME), &config).map_err(fail)?;
            std::fs::write(sb.path(".autoresearch/experiments.jsonl"), &ledger).map_err(fail)?;
            for (args, command) in [
                (&["--json", "status"][..], "status"),
                (&["--json", "log"], "log"),
                (&["--json", "best"], "best"),
                (&["--json", "doctor", "--no-eval"], "doctor"),
            ] {
                check_envelope(&sb.run(args), command)?;
            }
            // A person's view: no envelope, but the same exit codes and never a panic.
            let human = sb.run(&["--human", "status"]);
            prop_assert!(matches!(human.code, 0..=2), "{:?}", human);
            prop_assert!(!human.stderr.contains("panicked"), "{}", human.stderr);
            Ok(())
        },
    );
}
