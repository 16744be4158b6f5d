//! `autoresearch init`: scaffold a commented `autoresearch.toml`, a `program.md` template and
//! the self-ignoring `.autoresearch/`. Missing required flags are asked for only with a person at
//! a terminal on both ends; otherwise they are a `usage` error naming them.
//!
//! Protection by default: the repository files the eval command names (`bench.py` in
//! `python bench.py --fast`) are the harness an experiment must not change, so `init` protects
//! them unless `--no-protect`. `doctor` uses the same detection ([`autoresearch::project::eval_files`]) to suggest them.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use autoresearch::config::{self, Config, Direction};
use autoresearch::error::{AppError, Code, Result};
use autoresearch::project::{self, Project};
use autoresearch::text::{code_list, format_duration, shell_word};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch init --target-file train.py --eval-command 'uv run train.py' \\
      --metric-name val_bpb --metric-direction lower --time-budget 5m --protected prepare.py
  autoresearch init --target-file src/solver.rs --target-file src/heuristics.rs \\
      --eval-command 'cargo run --release -- bench' --metric-name score --metric-direction higher
  autoresearch init --target-file model.py --eval-command 'python bench.py --fast' \\
      --metric-name loss --metric-direction lower        (protects bench.py)

The files the eval command names, targets excepted, are protected too (`bench.py` in
`python bench.py --fast`); `--no-protect` protects only the `--protected` files.")]
pub struct InitArgs {
    /// File the agent may change (repeat for several), relative to the current directory.
    #[arg(long = "target-file", value_name = "FILE")]
    pub target_file: Vec<String>,
    /// Command that evaluates the project and prints the metric (run with `sh -c` at the root).
    #[arg(long, value_name = "CMD")]
    pub eval_command: Option<String>,
    /// Name the eval prints before the metric, e.g. `val_bpb` for `val_bpb: 0.9979`.
    #[arg(long, value_name = "NAME")]
    pub metric_name: Option<String>,
    /// Whether a lower or a higher metric is better.
    #[arg(long, value_name = "lower|higher")]
    pub metric_direction: Option<String>,
    /// Time budget per evaluation: 250ms, 30s, 5m, 1h30m, or seconds.
    #[arg(long, value_name = "DURATION")]
    pub time_budget: Option<String>,
    /// Branch the experiments run on.
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// File an experiment may not change, such as the eval harness or data preparation (repeatable).
    ///
    /// Files the eval command names (`bench.py` in `python bench.py`) are protected as well,
    /// unless `--no-protect`.
    #[arg(long, value_name = "FILE")]
    pub protected: Vec<String>,
    /// Protect only the `--protected` files, not the files the eval command names.
    #[arg(long)]
    pub no_protect: bool,
    /// Overwrite an existing `autoresearch.toml` (`program.md` is never overwritten).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Serialize)]
pub struct InitOutput {
    pub root: String,
    pub config_path: String,
    pub program_path: String,
    pub state_dir: String,
    /// Files written by this call.
    pub created: Vec<String>,
    /// Files that existed and were left as they were.
    pub kept: Vec<String>,
    /// Files init protected itself because the eval command names them (also in
    /// `config.protected`); empty with `--no-protect`.
    pub protected_auto: Vec<String>,
    pub config: Config,
}

impl Output for InitOutput {}

impl Human for InitOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let title = p.paint.bold("Initialized autoresearch");
        p.line(format!("{title} in {}", self.root))?;
        for f in &self.created {
            let mark = p.paint.green("created");
            p.line(format!("  {mark}  {f}"))?;
        }
        for f in &self.kept {
            let mark = p.paint.dim("kept   ");
            p.line(format!("  {mark}  {f}"))?;
        }
        let c = &self.config;
        p.line("")?;
        p.kv("target", 8, c.target_files.join(", "))?;
        p.kv("eval", 8, &c.eval_command)?;
        p.kv(
            "metric",
            8,
            format!(
                "{} ({} is better)",
                c.metric_name,
                c.metric_direction.as_str()
            ),
        )?;
        p.kv("budget", 8, format_duration(c.time_budget))?;
        p.kv("branch", 8, &c.branch)?;
        let (auto, given): (Vec<&String>, Vec<&String>) = c
            .protected
            .iter()
            .partition(|f| self.protected_auto.contains(f));
        let join = |files: &[&String]| {
            files
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !given.is_empty() {
            parts.push(join(&given));
        }
        if !auto.is_empty() {
            parts.push(format!("{} (named in the eval command)", join(&auto)));
        }
        if !parts.is_empty() {
            p.kv("protect", 8, parts.join("; "))?;
        }
        Ok(())
    }
}

/// The values init needs, as typed.
pub struct Answers {
    pub target_files: Vec<String>,
    pub eval_command: String,
    pub metric_name: String,
    pub metric_direction: String,
    pub time_budget: String,
    pub branch: String,
    pub protected: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &InitArgs) -> Result<InitOutput> {
    let project = ctx.project()?;
    let config_path = project.root.join(config::FILE_NAME);
    if config_path.exists() && !args.force {
        return Err(AppError::new(
            Code::AlreadyInitialized,
            format!("`{}` already exists.", config_path.display()),
            "Run `autoresearch status` to see the current setup, or `autoresearch init --force ...` to overwrite the config.",
        ));
    }
    let answers = gather(ctx, args)?;
    let out = create_with(&ctx.cwd, &project, &answers, !args.no_protect)?;
    protection_hint(ctx, &out, args.no_protect);
    commit_hint(ctx, &project, &out.config);
    ctx.hint("Write the research direction in `program.md` (goal, ideas, constraints).");
    ctx.hint("Then run `autoresearch doctor` to check everything (it runs the eval once) before the night starts.");
    let install = autoresearch::skills::detect::recommend(Some(&project.root));
    ctx.hint(format!(
        "Teach your coding agent the loop ({}). {}",
        install.reason(),
        install.advice()
    ));
    Ok(out)
}

/// Validate `answers` (paths relative to `cwd`) and write the config, the `program.md`
/// template (never over an existing one) and `.autoresearch/`. The files the eval command names
/// are protected too, as without `--no-protect`.
pub fn create(cwd: &Path, project: &Project, answers: &Answers) -> Result<InitOutput> {
    create_with(cwd, project, answers, true)
}

/// [`create`], protecting the files the eval command names only when `auto_protect`.
pub fn create_with(
    cwd: &Path,
    project: &Project,
    answers: &Answers,
    auto_protect: bool,
) -> Result<InitOutput> {
    let (toml_text, cfg, protected_auto) = validate(cwd, project, answers, auto_protect)?;
    let config_path = project.root.join(config::FILE_NAME);
    let mut created = Vec::new();
    let mut kept = Vec::new();
    autoresearch::fsutil::write_atomic(&config_path, toml_text.as_bytes())?;
    created.push(config::FILE_NAME.to_string());

    let program_path = project.root.join(project::PROGRAM_FILE);
    if program_path.exists() {
        kept.push(project::PROGRAM_FILE.to_string());
    } else {
        autoresearch::fsutil::write_atomic(&program_path, program_template(&cfg).as_bytes())?;
        created.push(project::PROGRAM_FILE.to_string());
    }
    let state_existed = project.state_dir().join(".gitignore").exists();
    let state_dir = project.ensure_state_dir()?;
    if state_existed {
        kept.push(".autoresearch/".to_string());
    } else {
        created.push(".autoresearch/".to_string());
    }
    Ok(InitOutput {
        root: project.root.display().to_string(),
        config_path: config_path.display().to_string(),
        program_path: program_path.display().to_string(),
        state_dir: state_dir.display().to_string(),
        created,
        kept,
        protected_auto,
        config: cfg,
    })
}

/// Say what init protected on its own, and how to undo it; or, with nothing protected, that the
/// harness should be.
fn protection_hint(ctx: &Ctx, out: &InitOutput, no_protect: bool) {
    let auto = &out.protected_auto;
    if !auto.is_empty() {
        let it = if auto.len() == 1 { "it" } else { "them" };
        ctx.hint(format!(
            "Protected {} (named in the eval command): experiments may not change {it}. To allow changes, remove {it} from `protected` in `{}` (or run `autoresearch init` again with `--force --no-protect`).",
            code_list(auto.iter().map(String::as_str)),
            config::FILE_NAME
        ));
    } else if out.config.protected.is_empty() && !no_protect {
        ctx.hint(format!(
            "Nothing is protected: list the eval harness and the data files an experiment must not change in `protected` in `{}`, e.g. `{}`.",
            config::FILE_NAME,
            protected_line(&["prepare.py".to_string()])
        ));
    }
}

/// "Commit the setup" with the exact `git add` list: the two setup files, plus target and
/// protected files git does not track yet (in a new repository the first `run` needs them
/// committed, and `run` guards only tracked files).
fn commit_hint(ctx: &Ctx, project: &Project, cfg: &Config) {
    let index = project.repo.index().ok();
    let tracked = |p: &str| {
        index
            .as_ref()
            .is_some_and(|i| i.get_path(Path::new(p), 0).is_some())
    };
    let mut add: Vec<String> = cfg
        .target_files
        .iter()
        .chain(&cfg.protected)
        .filter(|t| !tracked(t) && project.root.join(t).is_file())
        .map(|t| shell_word(t))
        .collect();
    add.push(config::FILE_NAME.to_string());
    add.push(project::PROGRAM_FILE.to_string());
    let first = if autoresearch::git::head_oid(&project.repo).is_none() {
        " This repository has no commit yet: add the files the eval needs as well."
    } else {
        ""
    };
    ctx.hint(format!(
        "Commit the setup so experiments start from it: `git add {} && git commit -m \"autoresearch setup\"`.{first}",
        add.join(" ")
    ));
}

/// Flags first; missing required ones are asked for at a terminal, else named in the error.
fn gather(ctx: &Ctx, args: &InitArgs) -> Result<Answers> {
    let mut missing = Vec::new();
    if args.target_file.is_empty() {
        missing.push("--target-file");
    }
    if args.eval_command.is_none() {
        missing.push("--eval-command");
    }
    if args.metric_name.is_none() {
        missing.push("--metric-name");
    }
    if args.metric_direction.is_none() {
        missing.push("--metric-direction");
    }
    let mut answers = Answers {
        target_files: args.target_file.clone(),
        eval_command: args.eval_command.clone().unwrap_or_default(),
        metric_name: args.metric_name.clone().unwrap_or_default(),
        metric_direction: args.metric_direction.clone().unwrap_or_default(),
        time_budget: args.time_budget.clone().unwrap_or_else(|| "5m".to_string()),
        branch: args
            .branch
            .clone()
            .unwrap_or_else(|| config::DEFAULT_BRANCH.to_string()),
        protected: args.protected.clone(),
    };
    if missing.is_empty() {
        return Ok(answers);
    }
    if !ctx.interactive() {
        return Err(AppError::usage(
            format!(
                "`init` needs {} (no terminal to ask on).",
                missing.join(", ")
            ),
            "Run `autoresearch init --target-file <file> --eval-command '<cmd>' --metric-name <name> --metric-direction lower|higher --protected <eval-script>`.",
        ));
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut ask = |question: &str| -> Result<String> {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question}: ");
        let _ = err.flush();
        let mut line = String::new();
        let n = input
            .read_line(&mut line)
            .map_err(|e| AppError::io("reading the answer", &e))?;
        if n == 0 {
            return Err(AppError::usage(
                "Input ended before `init` had every answer.",
                "Run `autoresearch init` again with the flags instead of answering questions.",
            ));
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    if args.target_file.is_empty() {
        let a = ask("File the agent may change (space-separated for several)")?;
        answers.target_files = a.split_whitespace().map(str::to_string).collect();
    }
    if args.eval_command.is_none() {
        answers.eval_command = ask("Command that evaluates it and prints the metric")?;
    }
    if args.metric_name.is_none() {
        answers.metric_name = ask("Metric name as printed (e.g. val_bpb)")?;
    }
    if args.metric_direction.is_none() {
        answers.metric_direction = ask("Is lower or higher better? (lower/higher)")?;
    }
    if args.time_budget.is_none() {
        let budget = ask("Time budget per evaluation, e.g. 90s, 5m, 1h [5m]")?;
        if !budget.trim().is_empty() {
            answers.time_budget = budget.trim().to_string();
        }
    }
    Ok(answers)
}

/// Check every answer; return the config text, the config it parses to, and the files protected
/// because the eval command names them (when `auto_protect`).
fn validate(
    cwd: &Path,
    project: &Project,
    a: &Answers,
    auto_protect: bool,
) -> Result<(String, Config, Vec<String>)> {
    let bad = |msg: String, fix: &str| AppError::usage(msg, fix.to_string());
    let mut targets = Vec::new();
    for t in &a.target_files {
        targets.push(repo_path(cwd, project, t, "--target-file")?);
    }
    if targets.is_empty() {
        return Err(bad(
            "`--target-file` names no file.".into(),
            "Pass `--target-file <file>` with the file the agent may change.",
        ));
    }
    let mut protected = Vec::new();
    for p in &a.protected {
        let p = repo_path(cwd, project, p, "--protected")?;
        if targets.contains(&p) {
            return Err(bad(
                format!("`{p}` is both a target file and protected."),
                "Remove it from `--protected`: the agent must be able to change its target.",
            ));
        }
        if !protected.contains(&p) {
            protected.push(p);
        }
    }
    if let Some(problem) = config::eval_command_problem(&a.eval_command) {
        return Err(bad(
            format!("`--eval-command` {problem}."),
            "Pass the command that prints the metric, e.g. `--eval-command 'python3 train.py'` (tabs and line breaks are fine; control characters are not).",
        ));
    }
    if !config::valid_metric_name(&a.metric_name) {
        return Err(bad(
            format!("`{}` is not a metric name.", a.metric_name),
            "Use letters, digits, `_`, `.`, `-` or `/`, starting with a letter or `_`, e.g. `--metric-name val_bpb`.",
        ));
    }
    let direction = Direction::parse(a.metric_direction.trim()).ok_or_else(|| {
        bad(
            format!(
                "`--metric-direction` must be `lower` or `higher`, not `{}`.",
                a.metric_direction
            ),
            "Pass `--metric-direction lower` (e.g. loss) or `--metric-direction higher` (e.g. accuracy).",
        )
    })?;
    if config::parse_duration(&a.time_budget).is_none() {
        return Err(bad(
            format!(
                "`--time-budget {}` is not a positive duration.",
                a.time_budget
            ),
            "Use e.g. `--time-budget 5m`, `30s`, `250ms`, `1h30m` or a number of seconds.",
        ));
    }
    if let Some(problem) = config::branch_name_problem(&a.branch) {
        return Err(AppError::new(
            Code::InvalidName,
            format!(
                "`{}` is not a valid branch name: it {problem}.",
                a.branch.escape_debug()
            ),
            "Pass `--branch autoresearch` or another name `git check-ref-format --branch` accepts.",
        ));
    }
    let mut auto = Vec::new();
    if auto_protect {
        for f in autoresearch::project::eval_files(project, &a.eval_command, &targets) {
            if !protected.contains(&f) {
                protected.push(f.clone());
                auto.push(f);
            }
        }
    }
    let text = render_toml(
        &targets,
        &a.eval_command,
        &a.metric_name,
        direction,
        a.time_budget.trim(),
        &a.branch,
        &protected,
    );
    let (cfg, _) = Config::parse(config::FILE_NAME, &text)?;
    Ok((text, cfg, auto))
}

/// A path typed relative to the current directory (or the root), as a repo-relative path to
/// an existing file inside the work tree.
fn repo_path(cwd: &Path, project: &Project, typed: &str, flag: &str) -> Result<String> {
    let typed_path = Path::new(typed);
    let candidates: Vec<PathBuf> = if typed_path.is_absolute() {
        vec![typed_path.to_path_buf()]
    } else {
        vec![cwd.join(typed_path), project.root.join(typed_path)]
    };
    let root = project
        .root
        .canonicalize()
        .unwrap_or_else(|_| project.root.clone());
    for c in candidates {
        let Ok(abs) = c.canonicalize() else { continue };
        if !abs.is_file() {
            continue;
        }
        return match abs.strip_prefix(&root) {
            Ok(rel) => Ok(rel.to_string_lossy().replace('\\', "/")),
            Err(_) => Err(AppError::usage(
                format!(
                    "`{typed}` ({flag}) is outside the repository at `{}`.",
                    project.root.display()
                ),
                format!("Pass a file inside the repository to `{flag}`."),
            )),
        };
    }
    Err(AppError::usage(
        format!("`{typed}` ({flag}) does not exist or is not a file."),
        format!(
            "Create the file first, or pass an existing file to `{flag}` (paths are relative to the current directory)."
        ),
    ))
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// `protected = ["a", "b"]`: the config line that protects `files`.
pub fn protected_line(files: &[String]) -> String {
    format!("protected = {}", list(files))
}

fn render_toml(
    targets: &[String],
    eval: &str,
    metric: &str,
    direction: Direction,
    budget: &str,
    branch: &str,
    protected: &[String],
) -> String {
    let target = if targets.len() == 1 {
        q(&targets[0])
    } else {
        list(targets)
    };
    let budget_value = if autoresearch::metric::parse_number(budget).is_some() {
        budget.to_string()
    } else {
        q(budget)
    };
    let protect = if protected.is_empty() {
        "# protected = [\"prepare.py\"]".to_string()
    } else {
        protected_line(protected)
    };
    format!(
        "# autoresearch: one file, one metric, a loop that never stops.\n\
         # Check this file with `autoresearch doctor`; `autoresearch agent-info` lists every key.\n\
         \n\
         # The file the agent may change (or a list of paths relative to the repository root;\n\
         # `src/solver/` is every file under a directory, `heuristics/*.py` a glob).\n\
         target_file = {target}\n\
         # Evaluates the project; run with `sh -c` at the root. It must print the metric,\n\
         # e.g. `{metric}: 0.9979`, `{metric}=0.9979` or a JSON line {{\"{metric}\": 0.9979}}.\n\
         eval_command = {eval_q}\n\
         metric_name = {metric_q}\n\
         # \"lower\" or \"higher\" is better.\n\
         metric_direction = \"{dir}\"\n\
         # Per evaluation (250ms, 30s, 5m, 1h30m). The eval's whole process group is stopped here.\n\
         time_budget = {budget_value}\n\
         # Experiments happen on this branch (and its forks, `{branch}-fork-<name>`).\n\
         branch = {branch_q}\n\
         \n\
         # Optional.\n\
         # Files an experiment may not change, such as the eval harness or the data preparation:\n\
         {protect}\n\
         # Secondary metrics read from the same output; a run that violates one is discarded:\n\
         # constraints = [\"memory_gb <= 44\"]\n\
         # Secondary metrics to record for every run (shown by log, export and diff):\n\
         # metrics = [\"accuracy\"]\n\
         # Evaluations per experiment (the metric is their median): a number, or \"auto\" to\n\
         # sample until the change is hopeless or has max_repeats samples:\n\
         # repeats = \"auto\"\n\
         # max_repeats = 5\n\
         # Evaluations of a baseline, so the noise is known before the first experiment:\n\
         # baseline_repeats = 3\n\
         # Margin over the best needed to keep a change: a number, or a percentage like \"0.5%\":\n\
         # min_improvement = 0.0\n\
         # How sure a keep must be that its gain is more than noise (raise it, never lower it):\n\
         # confidence = 0.95\n\
         # Time between SIGTERM and SIGKILL when an eval runs over its budget:\n\
         # kill_grace = \"5s\"\n\
         # When the eval submits a job elsewhere (a cluster): run after a timeout or an interrupt,\n\
         # with the eval's environment, to stop that job (`autoresearch guide cluster`):\n\
         # cancel_command = \"scancel --name=ar-$AUTORESEARCH_ID\"\n\
         # cancel_timeout = \"30s\"\n\
         # The class of machine runs are measured on; runs are compared only within one class\n\
         # (`AUTORESEARCH_HARDWARE` sets it per machine, over this):\n\
         # hardware = \"a100-80g\"\n",
        eval_q = q(eval),
        metric_q = q(metric),
        dir = direction.as_str(),
        branch_q = q(branch),
    )
}

fn program_template(cfg: &Config) -> String {
    let targets = cfg.target_files.join("`, `");
    format!(
        "# Research program\n\
         \n\
         This file tells the agent what to pursue. The agent reads it before every session and\n\
         whenever it is stuck; keep it short, concrete and up to date. Replace every line in\n\
         angle brackets.\n\
         \n\
         ## Goal\n\
         \n\
         Make `{metric}` {dir} (measured by `{eval}`), by changing only `{targets}`.\n\
         <Why it matters, and what a great result would look like.>\n\
         \n\
         ## Ideas to try\n\
         \n\
         <A list of directions, most promising first. One experiment tests one idea.>\n\
         - <idea>\n\
         - <idea>\n\
         \n\
         ## Constraints\n\
         \n\
         <What must not change or get worse: memory, run time, readability, dependencies,\n\
         public interfaces. Hard limits belong in `constraints` in autoresearch.toml.>\n\
         - Do not change the evaluation or the data it reads.\n\
         - Prefer the simpler change when two results tie.\n\
         \n\
         ## What is known\n\
         \n\
         <Results so far, dead ends and why they failed, measurement noise. Update this as the\n\
         night goes on so the next session does not repeat a failed idea.>\n",
        metric = cfg.metric_name,
        dir = match cfg.metric_direction {
            Direction::Lower => "lower",
            Direction::Higher => "higher",
        },
        eval = cfg.eval_command,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_round_trips_awkward_values() {
        let text = render_toml(
            &["a \"quoted\" file.py".to_string(), "b.py".to_string()],
            "echo 'score: 1' && printf '%s' \"x\\y\"",
            "val_bpb",
            Direction::Higher,
            "1h30m",
            "research/night-1",
            &["prep.py".to_string()],
        );
        let (c, w) = Config::parse("autoresearch.toml", &text).expect("parses");
        assert!(w.is_empty());
        assert_eq!(c.target_files, vec!["a \"quoted\" file.py", "b.py"]);
        assert_eq!(c.eval_command, "echo 'score: 1' && printf '%s' \"x\\y\"");
        assert_eq!(c.branch, "research/night-1");
        assert_eq!(c.protected, vec!["prep.py"]);
        assert_eq!(c.time_budget, std::time::Duration::from_secs(5400));
        let bare = render_toml(&["t".into()], "e", "m", Direction::Lower, "90", "b", &[]);
        assert!(bare.contains("time_budget = 90\n"));
    }
}
