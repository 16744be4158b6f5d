//! `autoresearch doctor`: check everything a night of experiments depends on, once, before it
//! starts. Each check is `{id, status: pass|warn|fail|skip, message, suggestion}`; the eval is
//! run once, exactly as `run` runs it (same runner, same budget, same metric parser), with its
//! output in `.autoresearch/runs/doctor.log`.
//!
//! Exit codes: 0 when nothing fails (warnings are fine); 2 when a config or setup check fails
//! (the error code is the one `run` would refuse with: `not_git_repo`, `not_initialized`,
//! `config_invalid`, `wrong_branch`, `out_of_scope`...); 1 (`eval_failed`) when only the eval
//! checks fail. The checks are in `data` either way.

use std::path::Path;

use clap::Args;
use serde::Serialize;

use autoresearch::config::{self, Config, Direction};
use autoresearch::engine::{self, Event};
use autoresearch::error::{AppError, Code, Result};
use autoresearch::git;
use autoresearch::ledger::{Ledger, TornTails};
use autoresearch::loopfile::Loops;
use autoresearch::metric::{self, MetricRead};
use autoresearch::project::{self, Project};
use autoresearch::skills::detect;
use autoresearch::text::{code_list, count, format_duration, shell_word, shell_words};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, Spinner};

#[derive(Debug, Args)]
#[command(
    after_long_help = "Checks: git_repo, identity, hooks, config_found, config_valid, targets,
protected, program, branch, clean_tree, eval_runs, metric_found, constraints_found, runtime,
ledger, loop_lock, state_fs, state_ignored, worktree_inputs, skill_installed.

Examples:
  autoresearch doctor              everything, running the eval once (killed at the budget)
  autoresearch doctor --no-eval    only the fast checks
  autoresearch doctor --json | jq '.data.checks[] | select(.status != \"pass\")'"
)]
pub struct DoctorArgs {
    /// Skip running the eval (the eval_runs, metric_found, constraints_found and runtime checks).
    #[arg(long)]
    pub no_eval: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: CheckStatus,
    pub message: String,
    /// What to do about a warning or a failure, literally; null when there is nothing to do.
    pub suggestion: Option<String>,
    /// The error code a failure stands for (exit 2 for setup, `eval_failed` for the eval).
    #[serde(skip)]
    code: Option<Code>,
}

#[derive(Debug, Serialize)]
pub struct DoctorOutput {
    pub root: Option<String>,
    /// No check failed.
    pub ok: bool,
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub skipped: usize,
    pub checks: Vec<Check>,
    /// The one next thing to do.
    pub next: String,
    /// What the eval's run warned about (a full disk, a log that could not be compacted): the
    /// envelope's warnings, not part of `data`.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Output for DoctorOutput {
    fn failure(&self) -> Option<AppError> {
        let fails: Vec<&Check> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .collect();
        let first = fails.first()?;
        let ids: Vec<&str> = fails.iter().map(|c| c.id).collect();
        // A setup failure outranks an eval failure: fixing it comes first, and retrying cannot.
        let setup = fails
            .iter()
            .find(|c| c.code.is_some_and(|code| code.exit_code() == 2));
        let lead = setup.unwrap_or(first);
        // Each failing check carries the code of what failed (`eval_failed` for the eval,
        // `io_error` for an unreadable ledger...): the lead check's code is the call's.
        let code = lead.code.unwrap_or(Code::EvalFailed);
        Some(AppError::new(
            code,
            format!(
                "{} of {} checks failed ({}): {}",
                fails.len(),
                self.checks.len(),
                ids.join(", "),
                lead.message
            ),
            lead.suggestion
                .clone()
                .unwrap_or_else(|| "Run `autoresearch doctor --human` to see every check.".into()),
        ))
    }
}

/// The checks collected so far.
#[derive(Default)]
struct Report {
    checks: Vec<Check>,
    warnings: Vec<String>,
}

impl Report {
    fn add(
        &mut self,
        id: &'static str,
        status: CheckStatus,
        message: impl Into<String>,
    ) -> &mut Check {
        self.checks.push(Check {
            id,
            status,
            message: message.into(),
            suggestion: None,
            code: None,
        });
        self.checks.last_mut().expect("just pushed")
    }
    fn pass(&mut self, id: &'static str, message: impl Into<String>) {
        self.add(id, CheckStatus::Pass, message);
    }
    fn skip(&mut self, id: &'static str, message: impl Into<String>) {
        self.add(id, CheckStatus::Skip, message);
    }
    fn warn(
        &mut self,
        id: &'static str,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) {
        self.add(id, CheckStatus::Warn, message).suggestion = Some(suggestion.into());
    }
    fn fail(
        &mut self,
        id: &'static str,
        code: Code,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) {
        let c = self.add(id, CheckStatus::Fail, message);
        c.suggestion = Some(suggestion.into());
        c.code = Some(code);
    }
    fn fail_with(&mut self, id: &'static str, e: &AppError) {
        self.fail(id, e.code, e.message.clone(), e.suggestion.clone());
    }
}

const CONFIG_CHECKS: &[&str] = &["targets", "protected", "branch", "clean_tree"];
const EVAL_CHECKS: &[&str] = &["eval_runs", "metric_found", "constraints_found", "runtime"];
const STATE_CHECKS: &[&str] = &[
    "ledger",
    "loop_lock",
    "state_fs",
    "state_ignored",
    "worktree_inputs",
];

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> Result<DoctorOutput> {
    // The eval runs in its own process group: without the handler, Ctrl-C would kill us and
    // orphan it.
    autoresearch::eval::install_interrupt_handler();
    let (mut out, has_baseline) = check(&ctx.cwd, args)?;
    ctx.warn_all(std::mem::take(&mut out.warnings));
    hints(ctx, &out, has_baseline);
    Ok(out)
}

/// Every check, for the project around `cwd`; also says whether the branch has a baseline.
pub fn check(cwd: &Path, args: &DoctorArgs) -> Result<(DoctorOutput, bool)> {
    let mut r = Report::default();
    let project = match Project::discover(cwd) {
        Ok(p) => {
            r.pass(
                "git_repo",
                format!("git repository at `{}`", p.root.display()),
            );
            p
        }
        Err(e) => {
            r.fail_with("git_repo", &e);
            for id in [
                "identity",
                "hooks",
                "config_found",
                "config_valid",
                "program",
            ]
            .iter()
            .chain(CONFIG_CHECKS)
            .chain(EVAL_CHECKS)
            .chain(STATE_CHECKS)
            {
                r.skip(id, "needs a git repository");
            }
            skill_check(&mut r, None);
            return Ok((finish(r, None, false), false));
        }
    };
    identity_check(&mut r, &project);
    hooks_check(&mut r, &project);
    let config = config_checks(&mut r, &project);
    program_check(&mut r, &project);
    let ledger = Ledger::new(
        &project.state_dir(),
        config
            .as_ref()
            .map_or(Direction::Lower, |c| c.metric_direction),
        config
            .as_ref()
            .map_or(config::DEFAULT_BRANCH, |c| c.branch.as_str()),
    );
    let summary = ledger.summary();
    let has_baseline = match &config {
        Some(cfg) => config_and_eval_checks(&mut r, &project, cfg, summary.as_ref().ok(), args)?,
        None => {
            for id in CONFIG_CHECKS.iter().chain(EVAL_CHECKS) {
                r.skip(id, "needs a valid `autoresearch.toml`");
            }
            false
        }
    };
    ledger_check(&mut r, &ledger, summary);
    let configured = config
        .as_ref()
        .map_or(config::DEFAULT_BRANCH, |c| c.branch.as_str());
    loop_check(&mut r, &project, configured);
    state_fs_check(&mut r, &project, configured);
    state_ignored_check(&mut r, &project);
    worktree_inputs_check(&mut r, &project, config.as_ref());
    skill_check(&mut r, Some(&project));
    Ok((finish(r, Some(&project), has_baseline), has_baseline))
}

/// The checks a valid config allows: targets, protected files (against the branch's baseline
/// too), branch, clean tree, then the eval unless `--no-eval`. Returns whether the branch has a
/// baseline.
fn config_and_eval_checks(
    r: &mut Report,
    project: &Project,
    cfg: &Config,
    summary: Option<&autoresearch::ledger::Summary>,
    args: &DoctorArgs,
) -> Result<bool> {
    targets_check(r, project, cfg);
    // What `run` would refuse about the setup against the branch's baseline.
    let history = summary
        .zip(engine::experiment_branch(&project.repo, cfg).ok())
        .and_then(|(s, (b, _))| {
            engine::setup_refusal(&project.repo, cfg, &s.scope(Some(&b)))
                .ok()
                .flatten()
        });
    protected_check(r, project, cfg, history.as_ref());
    let branch = branch_check(r, project, cfg);
    let has_baseline = match (summary, &branch) {
        (Some(s), Some(b)) => s.scope(Some(b)).baseline.is_some(),
        _ => false,
    };
    clean_tree_check(r, project, cfg, has_baseline);
    if args.no_eval {
        for id in EVAL_CHECKS {
            r.skip(id, "skipped (--no-eval)");
        }
    } else {
        eval_checks(r, project, cfg)?;
    }
    Ok(has_baseline)
}

/// Coaching for an agent that reads only envelopes: what to fix first, then the next step of
/// the loop once nothing fails (warnings do not block a night).
fn hints(ctx: &Ctx, out: &DoctorOutput, has_baseline: bool) {
    let suggestions = |s: CheckStatus| {
        out.checks
            .iter()
            .filter(move |c| c.status == s)
            .filter_map(|c| c.suggestion.clone())
    };
    for s in suggestions(CheckStatus::Fail) {
        ctx.hint(s);
    }
    if out.failed == 0 {
        if has_baseline {
            ctx.hint("Ready. Edit the target file with one idea, then run `autoresearch run -m \"<what and why>\"`.");
        } else {
            ctx.hint(
                "Ready. Run `autoresearch run -m \"baseline\"` to measure the unchanged code.",
            );
        }
    }
    for s in suggestions(CheckStatus::Warn) {
        ctx.hint(s);
    }
}

fn finish(r: Report, project: Option<&Project>, has_baseline: bool) -> DoctorOutput {
    let count = |s: CheckStatus| r.checks.iter().filter(|c| c.status == s).count();
    let first = |s: CheckStatus| {
        r.checks
            .iter()
            .find(|c| c.status == s && c.suggestion.is_some())
            .and_then(|c| c.suggestion.clone())
    };
    let next = first(CheckStatus::Fail)
        .or_else(|| first(CheckStatus::Warn))
        .unwrap_or_else(|| {
            if has_baseline {
                "Edit the target file with one idea, then run `autoresearch run -m \"<what and why>\"`.".to_string()
            } else {
                "Run `autoresearch run -m \"baseline\"` to measure the unchanged code.".to_string()
            }
        });
    DoctorOutput {
        root: project.map(|p| p.root.display().to_string()),
        ok: count(CheckStatus::Fail) == 0,
        passed: count(CheckStatus::Pass),
        warned: count(CheckStatus::Warn),
        failed: count(CheckStatus::Fail),
        skipped: count(CheckStatus::Skip),
        next,
        checks: r.checks,
        warnings: r.warnings,
    }
}

fn identity_check(r: &mut Report, project: &Project) {
    let source = git::identity_source(&project.repo);
    let sig = git::signature(&project.repo);
    let who = format!(
        "{} <{}>",
        sig.name().unwrap_or("?"),
        sig.email().unwrap_or("?")
    );
    if source == "git config" {
        r.pass("identity", format!("commits by {who} (git config)"));
    } else if source.starts_with("GIT_AUTHOR") {
        r.pass("identity", format!("commits by {who} ({source})"));
    } else {
        r.warn(
            "identity",
            format!("no git identity configured: experiment commits will be by {who}"),
            "Set one with `git config user.name \"Your Name\" && git config user.email you@example.com` (optional).",
        );
    }
}

/// Commit hooks the repository configures: experiment commits are made through libgit2, which
/// runs no hooks, so a `pre-commit` check (a formatter, a linter) never sees them.
fn hooks_check(r: &mut Report, project: &Project) {
    let hooks = git::commit_hooks(&project.repo);
    if hooks.is_empty() {
        r.pass("hooks", "no commit hooks configured");
        return;
    }
    r.warn(
        "hooks",
        format!(
            "{} configured, but experiment commits are made without running hooks",
            code_list(hooks.iter().map(String::as_str))
        ),
        "If a hook guards the code (formatting, lint, secrets), run the same check in the eval command, or check kept commits yourself.",
    );
}

/// config_found and config_valid; the config when it loads.
fn config_checks(r: &mut Report, project: &Project) -> Option<Config> {
    let path = project.config_path();
    if !path.is_file() {
        r.fail_with("config_found", &AppError::not_initialized(&project.root));
        r.skip("config_valid", "no config to validate");
        return None;
    }
    r.pass("config_found", format!("`{}`", path.display()));
    match project.load_config() {
        Ok((cfg, warnings)) if warnings.is_empty() => {
            r.pass(
                "config_valid",
                format!(
                    "metric `{}` ({} is better), budget {}{}",
                    cfg.metric_name,
                    cfg.metric_direction.as_str(),
                    format_duration(cfg.time_budget),
                    cluster_words(&cfg)
                ),
            );
            Some(cfg)
        }
        Ok((cfg, warnings)) => {
            r.warn(
                "config_valid",
                warnings.join("; "),
                format!(
                    "Remove or rename the unknown keys in `{}` (`autoresearch agent-info` lists the known ones).",
                    config::FILE_NAME
                ),
            );
            Some(cfg)
        }
        Err(e) => {
            r.fail_with("config_valid", &e);
            None
        }
    }
}

/// `, hardware `h100` (from `AUTORESEARCH_HARDWARE`), cancel_command within 30s`: the cluster
/// settings, when there are any.
fn cluster_words(cfg: &Config) -> String {
    let mut out = String::new();
    if let Some(class) = &cfg.hardware {
        let from = if std::env::var_os(config::HARDWARE_VAR).is_some() {
            format!(" (from `{}`)", config::HARDWARE_VAR)
        } else {
            String::new()
        };
        out.push_str(&format!(", hardware `{class}`{from}"));
    }
    if cfg.cancel_command.is_some() {
        out.push_str(&format!(
            ", `cancel_command` after a timeout or an interrupt (within {})",
            format_duration(cfg.cancel_timeout)
        ));
    }
    out
}

fn program_check(r: &mut Report, project: &Project) {
    let path = project.program_path();
    match std::fs::read_to_string(&path) {
        Err(_) => r.warn(
            "program",
            format!(
                "no `{}`: the agent has no research direction to follow",
                project::PROGRAM_FILE
            ),
            format!(
                "Write `{}` at the project root: the goal, ideas to try, constraints.",
                project::PROGRAM_FILE
            ),
        ),
        Ok(text) if text.contains("- <idea>") => r.warn(
            "program",
            format!("`{}` is still the template", project::PROGRAM_FILE),
            format!(
                "Fill in `{}`: replace the lines in angle brackets with your goal and ideas.",
                project::PROGRAM_FILE
            ),
        ),
        Ok(_) => r.pass("program", format!("`{}`", project::PROGRAM_FILE)),
    }
}

/// `target file `a`` or `target files `a`, `b``.
fn targets(paths: &[&str]) -> String {
    let noun = if paths.len() == 1 {
        "target file"
    } else {
        "target files"
    };
    format!("{noun} {}", code_list(paths.iter().copied()))
}

/// The verb that agrees with `n`.
fn are(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn targets_check(r: &mut Report, project: &Project, cfg: &Config) {
    let mut missing = Vec::new();
    let mut untracked = Vec::new();
    for t in &cfg.target_files {
        // A glob exists when it matches a committed file (checked below).
        let glob = config::is_glob(t) && !t.ends_with('/');
        if !glob && project.root.join(t).symlink_metadata().is_err()
            || glob && !git::in_head(&project.repo, t)
        {
            missing.push(t.as_str());
        } else if !git::in_head(&project.repo, t) {
            untracked.push(t.as_str());
        }
    }
    if !missing.is_empty() {
        r.fail(
            "targets",
            Code::ConfigInvalid,
            format!(
                "{} {}",
                targets(&missing),
                are(missing.len(), "does not exist", "do not exist")
            ),
            format!(
                "Create them, or fix `target_file` in `{}`.",
                config::FILE_NAME
            ),
        );
    } else if !untracked.is_empty() {
        r.fail(
            "targets",
            Code::DirtyTree,
            format!(
                "{} {} not committed: a baseline measures HEAD",
                targets(&untracked),
                are(untracked.len(), "is", "are")
            ),
            format!(
                "Commit them: `git add {} && git commit -m \"add target\"`.",
                shell_words(untracked.iter().copied())
            ),
        );
    } else {
        let all: Vec<&str> = cfg.target_files.iter().map(String::as_str).collect();
        let verb = are(all.len(), "exists and is", "exist and are");
        r.pass("targets", format!("{} {verb} committed", code_list(all)));
    }
}

fn protected_check(r: &mut Report, project: &Project, cfg: &Config, history: Option<&AppError>) {
    if let Some(e) = history {
        // Committed since the baseline: `run` refuses every run but a new baseline.
        // `run`'s words, less the sentence about what a refused run did not do.
        let message = e.message.replace(" Nothing was committed or recorded.", "");
        r.fail("protected", e.code, message, e.suggestion.clone());
        return;
    }
    if cfg.protected.is_empty() {
        // `init` protects these by default: the same detection says what is unguarded.
        let named =
            autoresearch::project::eval_files(project, &cfg.eval_command, &cfg.target_files);
        let suggestion = if named.is_empty() {
            format!(
                "List the eval harness and the data files an experiment must not change in `{}`, e.g. `{}`.",
                config::FILE_NAME,
                super::init::protected_line(&["prepare.py".to_string()])
            )
        } else {
            format!(
                "Protect {} (named in the eval command): add `{}` to `{}`.",
                code_list(named.iter().map(String::as_str)),
                super::init::protected_line(&named),
                config::FILE_NAME
            )
        };
        r.warn(
            "protected",
            "no protected files: an experiment may change the eval harness or its data",
            suggestion,
        );
        return;
    }
    let missing: Vec<&str> = cfg
        .protected
        .iter()
        .filter(|p| project.root.join(p).symlink_metadata().is_err())
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        r.pass(
            "protected",
            format!(
                "{} {}: {}",
                count(cfg.protected.len(), "protected file", "protected files"),
                are(cfg.protected.len(), "exists", "exist"),
                code_list(cfg.protected.iter().map(String::as_str))
            ),
        );
    } else {
        r.warn(
            "protected",
            format!("missing protected files: {}", missing.join(", ")),
            format!(
                "Fix the paths in `protected` in `{}` (a typo protects nothing).",
                config::FILE_NAME
            ),
        );
    }
}

/// Returns the branch experiments will run on, when the check passes. The rule is `run`'s own.
fn branch_check(r: &mut Report, project: &Project, cfg: &Config) -> Option<String> {
    let repo = &project.repo;
    if let Err(e) = git::head_commit(repo).and_then(|_| git::ensure_no_operation(repo)) {
        r.fail_with("branch", &e);
        return None;
    }
    match engine::experiment_branch(repo, cfg) {
        Ok((b, false)) => {
            r.pass("branch", format!("on the experiment branch `{b}`"));
            Some(b)
        }
        Ok((b, true)) => {
            let here = git::current_branch(repo)
                .map_or_else(|| "a detached HEAD".into(), |c| format!("`{c}`"));
            r.pass(
                "branch",
                format!("`{b}` does not exist yet: the first `autoresearch run` creates it at HEAD (now {here})"),
            );
            Some(b)
        }
        Err(e) => {
            r.fail_with("branch", &e);
            None
        }
    }
}

/// What `run` would say about the work tree now, by `run`'s own rules.
fn clean_tree_check(r: &mut Report, project: &Project, cfg: &Config, has_baseline: bool) {
    let changes = match engine::changes(&project.repo, cfg) {
        Ok(c) => c,
        Err(e) => return r.fail_with("clean_tree", &e),
    };
    let notes = if changes.notebook {
        format!(
            "; `{}` has notes, which `run` never commits",
            project::PROGRAM_FILE
        )
    } else {
        String::new()
    };
    let changed = &changes.files;
    if changed.is_empty() {
        let message = if changes.notebook {
            format!(
                "no tracked file other than `{}` is modified (it holds notes, which `run` never commits)",
                project::PROGRAM_FILE
            )
        } else {
            "no tracked file is modified".to_string()
        };
        return r.pass("clean_tree", message);
    }
    let list = code_list(changed.iter().map(String::as_str));
    match engine::check_scope(cfg, changed, true) {
        Err(e) => r.fail_with("clean_tree", &e),
        Ok(_) if !has_baseline => r.warn(
            "clean_tree",
            format!(
                "{list} is modified, but the first run is the baseline and measures HEAD as committed{notes}"
            ),
            "Run `git stash`, then `autoresearch run -m \"baseline\"`, then `git stash pop`.",
        ),
        Ok(_) => r.pass(
            "clean_tree",
            format!("only {list} is modified: the next run evaluates it{notes}"),
        ),
    }
}

/// eval_runs, metric_found, constraints_found and runtime, from one evaluation.
fn eval_checks(r: &mut Report, project: &Project, cfg: &Config) -> Result<()> {
    project.ensure_state_dir()?;
    let log_path = project.runs_dir().join("doctor.log");
    let log = project.rel(&log_path);
    let mut spinner = Spinner::new();
    let mut warnings = Vec::new();
    // What `run` would evaluate: HEAD, on its branch (no run, so no id).
    let branch = autoresearch::git::current_branch(&project.repo);
    let commit = autoresearch::git::head_oid(&project.repo).map(|o| o.to_string());
    let step = engine::StepId {
        branch: branch.as_deref(),
        commit: commit.as_deref(),
        ..engine::StepId::default()
    };
    let measured = engine::measure(
        cfg,
        &project.root,
        &log_path,
        Some(step),
        1,
        &mut |e: Event| match e {
            Event::Warning(w) => warnings.push(w),
            e => spinner.follow("doctor: running the eval", &e),
        },
        &mut |_| true,
    );
    r.warnings.extend(warnings);
    spinner.finish();
    let m = match measured {
        Ok(m) => m,
        Err(e) => {
            r.fail("eval_runs", Code::EvalFailed, e.message, e.suggestion);
            for id in &EVAL_CHECKS[1..] {
                r.skip(id, "the eval did not start");
            }
            return Ok(());
        }
    };
    if m.interrupted {
        return Err(AppError::new(
            Code::Interrupted,
            "Interrupted while the doctor ran the eval; the eval was stopped.",
            "Run `autoresearch doctor` again, or `autoresearch doctor --no-eval` for the fast checks.",
        ));
    }
    if m.timed_out {
        timed_out_checks(r, cfg, &log);
        return Ok(());
    }
    exit_check(r, cfg, &m, &log);
    metric_check(r, cfg, &m, &log_path, &log);
    constraints_check(r, cfg, &m, &log);
    runtime_check(r, cfg, &m);
    Ok(())
}

/// The eval ran over its budget: it fails, and nothing it printed can be judged.
fn timed_out_checks(r: &mut Report, cfg: &Config, log: &str) {
    let budget = format_duration(cfg.time_budget);
    r.fail(
        "eval_runs",
        Code::EvalFailed,
        format!("`{}` did not finish within the {budget} budget and was stopped", cfg.eval_command),
        format!(
            "Make the eval finish within `time_budget` ({budget}), or raise `time_budget` in `{}`; its output is in `{log}`.",
            config::FILE_NAME
        ),
    );
    r.skip("metric_found", "the eval did not finish");
    r.skip("constraints_found", "the eval did not finish");
    r.fail(
        "runtime",
        Code::EvalFailed,
        format!("over the {budget} budget"),
        format!(
            "Raise `time_budget` in `{}` or make the eval cheaper.",
            config::FILE_NAME
        ),
    );
}

/// eval_runs: how the eval exited.
fn exit_check(r: &mut Report, cfg: &Config, m: &engine::Measured, log: &str) {
    let secs = m.duration.as_secs_f64();
    let run_it = format!(
        "Run `{}` at the project root yourself and fix what it reports; its output is in `{log}`.",
        cfg.eval_command
    );
    match (m.exit_code, m.signal) {
        (Some(0), _) if m.leaked => r.warn(
            "eval_runs",
            format!("exited 0 in {secs:.2}s but left processes running (they were killed)"),
            "Make the eval wait for its children (e.g. `wait` in sh) and do not detach them (`setsid`, `nohup ... &`), so one run cannot disturb the next.",
        ),
        (Some(0), _) => r.pass("eval_runs", format!("`{}` exited 0 in {secs:.2}s", cfg.eval_command)),
        (Some(code), _) => r.fail(
            "eval_runs",
            Code::EvalFailed,
            format!("`{}` exited with code {code}", cfg.eval_command),
            run_it,
        ),
        (None, sig) => r.fail(
            "eval_runs",
            Code::EvalFailed,
            format!(
                "`{}` was killed by signal {}",
                cfg.eval_command,
                sig.map_or_else(|| "?".into(), |s| s.to_string())
            ),
            run_it,
        ),
    }
}

/// metric_found: the metric, read as `run` reads it. When it is missing, the eval's output is
/// read again to say whether the name was there with a value the grammar refuses.
fn metric_check(r: &mut Report, cfg: &Config, m: &engine::Measured, log_path: &Path, log: &str) {
    let name = &cfg.metric_name;
    let unreadable = || {
        // The last 1 MiB, as `run` reads a sample (docs/RELIABILITY.md 12).
        let text = metric::read_log_tail(log_path, 1 << 20).ok()?;
        metric::unreadable_value(&text, name)
    };
    match m.primary() {
        MetricRead::Found(v) => r.pass("metric_found", format!("`{name}` = {v}")),
        MetricRead::NonFinite => r.fail(
            "metric_found",
            Code::EvalFailed,
            format!("`{name}` is not a finite number (nan, inf or an overflow)"),
            format!("Fix the eval so `{name}` is a finite number; its output is in `{log}`."),
        ),
        MetricRead::Missing => match unreadable() {
            Some(u) => r.fail(
                "metric_found",
                Code::EvalFailed,
                u.to_string(),
                format!(
                    "Make the eval print `{name}` as a plain number (`{name}: 1234.5`: digits, an optional `.` and exponent, no separators); its output is in `{log}`."
                ),
            ),
            None => r.fail(
                "metric_found",
                Code::EvalFailed,
                format!("no `{name}` in the eval's output"),
                format!(
                    "Make the eval print `{name}: <number>` (or `{name}=<number>`, or a JSON line {{\"{name}\": <number>}}); its output is in `{log}`."
                ),
            ),
        },
    }
}

/// runtime: the eval's time against the budget, with headroom.
fn runtime_check(r: &mut Report, cfg: &Config, m: &engine::Measured) {
    let secs = m.duration.as_secs_f64();
    let share = secs / cfg.time_budget.as_secs_f64();
    let budget = format_duration(cfg.time_budget);
    let of = format!("{secs:.2}s of the {budget} budget ({:.0}%)", share * 100.0);
    if share > 0.8 {
        r.warn(
            "runtime",
            format!("{of}: a slightly slower experiment will time out"),
            format!(
                "Raise `time_budget` in `{}` to leave headroom (e.g. 1.5× the usual run), or make the eval cheaper.",
                config::FILE_NAME
            ),
        );
    } else {
        r.pass("runtime", of);
    }
}

fn constraints_check(r: &mut Report, cfg: &Config, m: &engine::Measured, log: &str) {
    if cfg.constraints.is_empty() && cfg.metrics.is_empty() {
        r.skip(
            "constraints_found",
            "no constraints or secondary metrics configured",
        );
        return;
    }
    let mut unread = Vec::new();
    let mut violated = Vec::new();
    let mut read = Vec::new();
    // Declared in `metrics` (and not a constraint's): recorded when read, never a failure.
    let mut declared_missing = Vec::new();
    for name in cfg
        .metrics
        .iter()
        .filter(|n| !cfg.constraints.iter().any(|c| &c.metric == *n))
    {
        match m.secondary(name) {
            MetricRead::Found(v) => read.push(format!("{name}={v}")),
            MetricRead::NonFinite => declared_missing.push(format!("`{name}` (non-finite)")),
            MetricRead::Missing => declared_missing.push(format!("`{name}` (not found)")),
        }
    }
    for c in &cfg.constraints {
        match m.secondary(&c.metric) {
            MetricRead::Found(v) => {
                read.push(format!("{}={v}", c.metric));
                if !c.op.holds(v, c.value) {
                    violated.push(format!("`{}` ({} = {v})", c.text, c.metric));
                }
            }
            MetricRead::NonFinite => unread.push(format!("`{}` (non-finite)", c.metric)),
            MetricRead::Missing => unread.push(format!("`{}` (not found)", c.metric)),
        }
    }
    if !unread.is_empty() {
        r.fail(
            "constraints_found",
            Code::EvalFailed,
            format!("constraint metrics not read: {}", unread.join(", ")),
            format!(
                "Make the eval print each constraint metric as `<name>: <number>`; its output is in `{log}`."
            ),
        );
    } else if !violated.is_empty() {
        r.warn(
            "constraints_found",
            format!("the current code violates {}", violated.join(", ")),
            format!(
                "Check the constraints in `{}`: every experiment that violates one is discarded.",
                config::FILE_NAME
            ),
        );
    } else if !declared_missing.is_empty() {
        r.warn(
            "constraints_found",
            format!(
                "secondary metrics not read: {}",
                declared_missing.join(", ")
            ),
            format!(
                "Make the eval print each one as `<name>: <number>` (its output is in `{log}`), or drop it from `metrics` in `{}`.",
                config::FILE_NAME
            ),
        );
    } else {
        r.pass("constraints_found", read.join(", "));
    }
}

fn ledger_check(r: &mut Report, ledger: &Ledger, summary: Result<autoresearch::ledger::Summary>) {
    let s = match summary {
        Ok(s) => s,
        Err(e) => return r.fail_with("ledger", &e),
    };
    let torn = match ledger.torn_tails() {
        Ok(t) => t,
        Err(e) => return r.fail_with("ledger", &e),
    };
    if !ledger.path.exists() && torn.is_none() {
        r.pass("ledger", "no experiments yet");
        return;
    }
    let mut problems = Vec::new();
    if s.torn_tail.is_some() {
        problems.push(
            "a torn last line (the next write moves it to `experiments.jsonl.torn`)".to_string(),
        );
    }
    if s.bad_count > 0 {
        let lines: Vec<String> = s.bad_lines.iter().map(u64::to_string).collect();
        problems.push(format!(
            "{} that do not parse (line {})",
            count(s.bad_count as usize, "line", "lines"),
            lines.join(", ")
        ));
    }
    if s.out_of_order > 0 {
        problems.push(format!(
            "{} whose run number repeats or goes backwards",
            count(s.out_of_order as usize, "record", "records")
        ));
    }
    let mut suggestions = Vec::new();
    if !problems.is_empty() {
        suggestions.push("Nothing is lost: readers skip bad lines. To clean up, fix or delete those lines in `.autoresearch/experiments.jsonl`.".to_string());
    }
    if let Some(t) = &torn {
        let (problem, suggestion) = torn_tails_problem(t);
        problems.push(problem);
        suggestions.push(suggestion);
    }
    if problems.is_empty() {
        r.pass(
            "ledger",
            format!("{}, healthy", count(s.valid as usize, "record", "records")),
        );
    } else {
        r.warn(
            "ledger",
            format!(
                "{}; {}",
                count(s.valid as usize, "record", "records"),
                problems.join("; ")
            ),
            suggestions.join(" "),
        );
    }
}

/// `experiments.jsonl.torn` exists: what earlier writers moved out of the ledger counts
/// nowhere, and some of it may be whole records (docs/RELIABILITY.md 4). The problem, and what
/// to do about it.
fn torn_tails_problem(t: &TornTails) -> (String, String) {
    let whole = match t.records {
        0 => String::new(),
        n => {
            let runs: Vec<String> = t.runs.iter().map(|run| format!("#{run}")).collect();
            let more = if n > t.runs.len() as u64 { ", ..." } else { "" };
            format!(
                ", {n} of them {} (run {}{more})",
                are(n as usize, "a complete record", "complete records"),
                runs.join(", ")
            )
        }
    };
    let path = t.path.display().to_string();
    (
        format!(
            "`experiments.jsonl.torn` holds {} moved out of the ledger by earlier writes{whole}; none of it counts",
            count(t.tails as usize, "torn tail", "torn tails"),
        ),
        format!(
            "Look at `{path}`, copy back any complete record that should count, then delete it: `rm {}`.",
            shell_word(&path)
        ),
    )
}

/// Every branch's loop: a warning names each that is stale (its `run` died mid-step), running
/// (the doctor's eval competed with it) or unreadable.
/// Is `.autoresearch/` on a file system shared between hosts, and do other hosts run loops in
/// it? The ledger's lock and the loop locks are `flock`s, which a network file system may not
/// share between hosts.
fn state_fs_check(r: &mut Report, project: &Project, configured: &str) {
    let dir = project.state_dir();
    let probe = if dir.exists() {
        dir
    } else {
        project.main_root.clone()
    };
    let Some(fs) = autoresearch::fsutil::network_fs(&probe) else {
        return r.pass("state_fs", "`.autoresearch/` is on a local file system");
    };
    let me = autoresearch::loopfile::hostname();
    let mut others: Vec<String> = Loops::of(project, configured)
        .list()
        .into_iter()
        .filter_map(|l| l.state.ok())
        .map(|s| s.host)
        .filter(|h| *h != me)
        .collect();
    others.sort();
    others.dedup();
    if others.is_empty() {
        return r.pass(
            "state_fs",
            format!("`.autoresearch/` is on {fs}; only this host (`{me}`) has run loops in it"),
        );
    }
    // A clone that syncs publishes one shard: several hosts in it write as one worker.
    let shard = autoresearch::sync::worker::synced_id(&project.state_dir())
        .ok()
        .flatten()
        .map(|w| {
            format!(
                " They all write the shard of worker `{w}`, which `sync` publishes as one chain."
            )
        })
        .unwrap_or_default();
    r.warn(
        "state_fs",
        format!(
            "`.autoresearch/` is on {fs} and other hosts ran loops in it too ({}). The ledger's lock and the loop locks are `flock` locks, which {fs} may not share between hosts: two hosts could append to the ledger at the same moment, or run one branch twice.{shard}",
            crate::output::shorten(&others.join(", "), 200)
        ),
        "Give each host a clone of its own, with its own `.autoresearch/` (on a local disk if it can be), rather than one shared checkout; to share results, make a bare repository on the shared disk (`git init --bare /shared/project.git`) and run `autoresearch sync` with it in each clone.",
    );
}

fn loop_check(r: &mut Report, project: &Project, configured: &str) {
    let listed = Loops::of(project, configured).list();
    let after = |run: Option<u64>| {
        run.map_or_else(|| "idle".to_string(), |n| format!("idle after run #{n}"))
    };
    let (mut problems, mut fixes) = (Vec::new(), Vec::new());
    let mut fix = |s: String| {
        if !fixes.contains(&s) {
            fixes.push(s);
        }
    };
    for l in &listed {
        let b = &l.branch;
        match &l.state {
            Err(why) => {
                problems.push(why.clone());
                fix(format!(
                    "Delete `{}` once you have checked `git log` (no `run` is in progress on `{b}`).",
                    l.path.display()
                ));
            }
            Ok(s) if s.stale() => {
                let run = s
                    .run
                    .map(|n| format!(" during run #{n}"))
                    .unwrap_or_default();
                let commit = s.owns.commit.as_ref().map_or_else(String::new, |c| {
                    format!("; its commit {c} was never evaluated")
                });
                problems.push(format!(
                    "abandoned on `{b}`: process {} stopped{run}{commit}",
                    s.pid
                ));
                fix("The next `autoresearch run` on that branch cleans it up: kills its eval if still running, puts the branch back, and records the run as a crash (`abandoned`).".to_string());
            }
            Ok(s) if s.running() => {
                problems.push(format!(
                    "a `run` is in progress on `{b}` (pid {} on `{}`, run #{}): the doctor's eval competed with it",
                    s.pid,
                    s.host,
                    s.run.map_or_else(|| "?".to_string(), |n| n.to_string())
                ));
                fix("Run `autoresearch doctor` again when the loop is idle (`autoresearch status` shows it).".to_string());
            }
            Ok(_) => {}
        }
    }
    if !problems.is_empty() {
        return r.warn("loop_lock", problems.join("; "), fixes.join(" "));
    }
    match listed.as_slice() {
        [] => r.pass("loop_lock", "no loop has run yet"),
        [one] => r.pass(
            "loop_lock",
            after(one.state.as_ref().ok().and_then(|s| s.run)),
        ),
        many => {
            let each: Vec<String> = many
                .iter()
                .map(|l| {
                    format!(
                        "`{}` {}",
                        l.branch,
                        after(l.state.as_ref().ok().and_then(|s| s.run))
                    )
                })
                .collect();
            r.pass(
                "loop_lock",
                format!("{} loops: {}", many.len(), each.join(", ")),
            )
        }
    }
}

/// In a linked worktree (a fork's, say): the untracked or ignored inputs of the main work tree
/// that this one lacks (a dataset, a virtual environment), which the eval may need.
fn worktree_inputs_check(r: &mut Report, project: &Project, cfg: Option<&Config>) {
    const ID: &str = "worktree_inputs";
    if project.main_root == project.root {
        r.pass(ID, "the main worktree");
        return;
    }
    let Some(cfg) = cfg else {
        r.skip(ID, "needs a valid `autoresearch.toml`");
        return;
    };
    let missing =
        autoresearch::forks::missing_inputs(&project.main_root, &project.root, &cfg.eval_command);
    if missing.is_empty() {
        r.pass(
            ID,
            "this worktree has the main work tree's untracked inputs",
        );
        return;
    }
    let links: Vec<String> = missing
        .iter()
        .map(|m| {
            let name = m.trim_end_matches('/');
            format!(
                "ln -s {} {}",
                autoresearch::text::shell_word(&project.main_root.join(name).to_string_lossy()),
                autoresearch::text::shell_word(name)
            )
        })
        .collect();
    r.warn(
        ID,
        format!(
            "this worktree lacks untracked or ignored files the main work tree has: {}",
            autoresearch::text::code_list(missing.iter().map(String::as_str))
        ),
        format!(
            "If the eval needs them, link them in from this worktree's root: `{}`.",
            links.join(" && ")
        ),
    );
}

fn state_ignored_check(r: &mut Report, project: &Project) {
    let dir = project.state_dir();
    if project.main_root != project.root {
        r.pass(
            "state_ignored",
            format!("`{}` is in the main worktree", dir.display()),
        );
        return;
    }
    let probe = format!("{}/experiments.jsonl", project::STATE_DIR);
    if git::in_head(&project.repo, &probe) {
        r.fail(
            "state_ignored",
            Code::DirtyTree,
            "`.autoresearch/` is committed: every ledger write would dirty the tree",
            "Untrack it: `git rm -r --cached .autoresearch && git commit -m \"untrack autoresearch state\"`.",
        );
    } else if !dir.exists() {
        r.pass(
            "state_ignored",
            "`.autoresearch/` will be created, ignoring itself",
        );
    } else if project
        .repo
        .is_path_ignored(Path::new(&probe))
        .unwrap_or(false)
    {
        r.pass("state_ignored", "`.autoresearch/` is ignored by git");
    } else {
        r.warn(
            "state_ignored",
            "`.autoresearch/` is not ignored by git: `git add -A` would commit the ledger",
            "Restore its ignore file: `printf '*\\n' > .autoresearch/.gitignore`.",
        );
    }
}

/// Uses the same inventory as `install` and `status`, so the paths cannot drift.
fn skill_check(r: &mut Report, project: Option<&Project>) {
    let found: Vec<autoresearch::skills::InstalledSkill> =
        autoresearch::skills::installed(project.map(|p| p.root.as_path()))
            .into_iter()
            .filter(|s| s.kind == autoresearch::skills::Kind::Skill)
            .collect();
    if found.is_empty() {
        // The smallest install for the agents seen, not `install all` (seven directories).
        let install = detect::recommend(project.map(|p| p.root.as_path()));
        r.warn(
            "skill_installed",
            format!(
                "no agent has the autoresearch skill installed ({})",
                install.reason()
            ),
            install.advice(),
        );
        return;
    }
    let list: Vec<String> = found.iter().map(|s| s.path.clone()).collect();
    if let Some(old) = found.iter().find(|s| s.outdated) {
        r.warn(
            "skill_installed",
            format!(
                "`{}` was written by autoresearch {}, older than this binary ({})",
                old.path,
                old.version.as_deref().unwrap_or("?"),
                env!("CARGO_PKG_VERSION")
            ),
            format!(
                "Run {} to update the installed skills (edited copies are kept).",
                update_commands(&found)
            ),
        );
    } else {
        r.pass(
            "skill_installed",
            format!("installed at {}", list.join(", ")),
        );
    }
}

/// The `install` calls that update exactly the outdated copies: one per scope.
fn update_commands(found: &[autoresearch::skills::InstalledSkill]) -> String {
    use autoresearch::skills::Scope;
    let mut calls = Vec::new();
    for (scope, flag) in [(Scope::Project, ""), (Scope::Global, " --global")] {
        let mut targets: Vec<&str> = Vec::new();
        for s in found.iter().filter(|s| s.outdated && s.scope == scope) {
            for t in &s.targets {
                if !targets.contains(t) {
                    targets.push(t);
                }
            }
        }
        if !targets.is_empty() {
            calls.push(format!(
                "`autoresearch install {}{flag}`",
                targets.join(" ")
            ));
        }
    }
    calls.join(" and ")
}

impl Human for DoctorOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let title = p.paint.bold("autoresearch doctor");
        p.line(match &self.root {
            Some(root) => format!("{title}  {root}"),
            None => title,
        })?;
        let width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Pass => p.paint.green("✓"),
                CheckStatus::Warn => p.paint.yellow("!"),
                CheckStatus::Fail => p.paint.red("✗"),
                CheckStatus::Skip => p.paint.dim("-"),
            };
            let id = format!("{:<width$}", c.id);
            p.line(format!("  {mark} {id}  {}", c.message))?;
            if matches!(c.status, CheckStatus::Warn | CheckStatus::Fail)
                && let Some(s) = &c.suggestion
            {
                p.line(format!("    {:<width$}  {} {s}", "", p.paint.dim("→")))?;
            }
        }
        p.line("")?;
        p.line(format!(
            "{} passed, {}, {} failed, {} skipped",
            self.passed,
            count(self.warned, "warning", "warnings"),
            self.failed,
            self.skipped
        ))?;
        p.line(format!("{} {}", p.paint.bold("Next:"), self.next))
    }
}
