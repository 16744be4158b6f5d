//! `autoresearch install` / `uninstall`: put the skill where each agent reads it, and take it
//! away again, without ever destroying a file the user wrote or edited (docs/RELIABILITY.md 17–18).
//!
//! Per path, install reports one of: `created`; `updated` (it was ours, unedited, and older);
//! `unchanged` (already current: nothing is written, the mtime stays); `kept-modified` (we
//! wrote it once but it was edited since: it stays, and the new version goes beside it as
//! `<file>.autoresearch-new`); `skipped` (not ours); with `--force`, `replaced` (the file is
//! first copied to `<file>.autoresearch-backup`). Uninstall reports `removed`,
//! `kept-modified`, `not-installed` or `skipped`, and removes only bytes that are still ours.
//! "Ours" = the file's hash is one the manifest says we wrote there, or the file equals what
//! this version generates (the manifest may be lost). `--dry-run` decides exactly the same and
//! writes nothing at all, not even the manifest.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use autoresearch::error::{AppError, Code, Result};
use autoresearch::project::Project;
use autoresearch::skills::apply::{self, Action, BACKUP_SUFFIX, FileResult, NEW_SUFFIX};
use autoresearch::skills::manifest::Manifest;
use autoresearch::skills::{self, Env, Kind, Place, Planned, Scope, Target};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer, Style};

pub const MANIFEST_FILE: &str = "installed.json";

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// claude-code, codex, gemini, opencode, copilot, cursor, windsurf, agents, or all.
    ///
    /// `agents` is the shared `.agents/skills` that Codex, Gemini CLI, OpenCode, Copilot,
    /// Cursor and Windsurf also read; `codex` writes there too. `autoresearch agent-info` lists
    /// every target's paths and environment overrides.
    #[arg(value_name = "TARGET", required = true, num_args = 1..)]
    pub targets: Vec<String>,
    /// Use this repository's agent directories (the default inside a git repository).
    #[arg(long, conflicts_with = "global")]
    pub project: bool,
    /// Use the agent directories in your home, for every project (the default outside a
    /// repository).
    #[arg(long)]
    pub global: bool,
    /// Show every path and what would happen to it; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch install claude-code          .claude/skills/autoresearch/SKILL.md in this repository
  autoresearch install all --dry-run        every agent: show the paths, write nothing
  autoresearch install codex gemini --global
  CLAUDE_CONFIG_DIR=~/work-claude autoresearch install claude-code --global

A file you edited is kept; the new version is written beside it as <file>.autoresearch-new.
A file autoresearch did not write is left alone; --force copies it to <file>.autoresearch-backup
and replaces it.")]
pub struct InstallArgs {
    #[command(flatten)]
    pub common: TargetArgs,
    /// Replace files that are edited or not ours, after copying each to
    /// `<file>.autoresearch-backup`.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch uninstall all                remove this repository's copies
  autoresearch uninstall claude-code --global --dry-run

Only files whose content is still exactly what autoresearch wrote are removed; an edited copy
is kept and reported as kept-modified.")]
pub struct UninstallArgs {
    #[command(flatten)]
    pub common: TargetArgs,
}

#[derive(Debug, Serialize)]
pub struct InstallOutput {
    pub scope: Scope,
    /// The work-tree root for the project scope; null for global.
    pub root: Option<String>,
    /// The version written into every file.
    pub version: &'static str,
    pub dry_run: bool,
    /// Where the record of what we wrote is kept.
    pub manifest: String,
    pub files: Vec<FileResult>,
    /// Empty directories that uninstall removed (only ones install had created).
    pub removed_dirs: Vec<String>,
    #[serde(skip)]
    verb: &'static str,
}

impl Output for InstallOutput {}

/// Where this call writes: the scope, the paths' base, and the manifest.
struct Resolved {
    scope: Scope,
    project: Option<Project>,
    env: Env,
    manifest_path: PathBuf,
}

fn parse_targets(names: &[String], verb: &str) -> Result<Vec<&'static Target>> {
    let mut out: Vec<&'static Target> = Vec::new();
    for raw in names {
        let name = raw.trim().to_ascii_lowercase();
        if name == "all" {
            return Ok(skills::TARGETS.iter().collect());
        }
        match skills::target(&name) {
            Some(t) if !out.iter().any(|o| o.name == t.name) => out.push(t),
            Some(_) => {}
            None => {
                return Err(AppError::usage(
                    format!(
                        "`{raw}` is not an install target; the targets are {}, or `all`.",
                        skills::target_names().join(", ")
                    ),
                    format!(
                        "Run e.g. `autoresearch {verb} claude-code`, or `autoresearch {verb} all`."
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn resolve(ctx: &Ctx, args: &TargetArgs) -> Result<Resolved> {
    let env = Env::from_process();
    let project = if args.global {
        None
    } else {
        match ctx.project() {
            Ok(p) => Some(p),
            // `--project` outside a repository is `not_git_repo`; without it, the user-wide scope.
            Err(e) if args.project => return Err(e),
            Err(_) => None,
        }
    };
    match project {
        Some(p) => Ok(Resolved {
            scope: Scope::Project,
            manifest_path: p.state_dir().join(MANIFEST_FILE),
            project: Some(p),
            env,
        }),
        None => {
            let dir = env.config_dir().ok_or_else(|| {
                AppError::new(
                    Code::IoError,
                    "Neither HOME nor XDG_CONFIG_HOME is set to an absolute path, so there is no user-wide location.",
                    "Set HOME (e.g. `export HOME=/home/you`), or run inside a git repository with `--project`.",
                )
            })?;
            Ok(Resolved {
                scope: Scope::Global,
                manifest_path: dir.join(MANIFEST_FILE),
                project: None,
                env,
            })
        }
    }
}

fn planned(r: &Resolved, targets: &[&'static Target]) -> Result<Vec<Planned>> {
    let (files, unresolved) = match &r.project {
        Some(p) => skills::plan(targets, &Place::Project(&p.root)),
        None => skills::plan(targets, &Place::Global(&r.env)),
    };
    if !unresolved.is_empty() {
        return Err(AppError::new(
            Code::IoError,
            format!(
                "HOME is not set to an absolute path, so the user-wide directory of {} is unknown.",
                unresolved.join(", ")
            ),
            "Set HOME (or the target's override variable listed by `autoresearch agent-info`), then run the command again.",
        ));
    }
    Ok(files)
}

/// Save the manifest if it changed (`before` is its serialised form when loaded); an empty
/// one is deleted rather than left behind.
fn save_manifest(r: &Resolved, m: &Manifest, before: &str) -> Result<()> {
    if m.is_empty() {
        return apply::remove_file(&r.manifest_path);
    }
    if serialised(m) == before && r.manifest_path.exists() {
        return Ok(());
    }
    if let Some(p) = &r.project {
        // The state dir ignores itself, so the manifest never shows up in `git status`.
        p.ensure_state_dir()?;
    }
    m.save(&r.manifest_path)
}

fn serialised(m: &Manifest) -> String {
    serde_json::to_string(m).unwrap_or_default()
}

pub fn install(ctx: &Ctx, args: &InstallArgs) -> Result<InstallOutput> {
    let a = &args.common;
    let targets = parse_targets(&a.targets, "install")?;
    let r = resolve(ctx, a)?;
    let plan = planned(&r, &targets)?;
    let (mut m, warning) = Manifest::load(&r.manifest_path);
    if let Some(w) = warning {
        ctx.warn(w);
    }
    let before = serialised(&m);
    let mut files = Vec::new();
    let mut failure = None;
    for p in &plan {
        match apply::install_one(p, &mut m, args.force, a.dry_run) {
            Ok(res) => files.push(res),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // Record what was written even when a later file failed: the manifest must match the disk.
    if !a.dry_run {
        save_manifest(&r, &m, &before)?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let out = output(&r, a.dry_run, files, Vec::new(), "install");
    install_hints(ctx, &out, &named(a, &targets), &targets, &r);
    Ok(out)
}

pub fn uninstall(ctx: &Ctx, args: &UninstallArgs) -> Result<InstallOutput> {
    let a = &args.common;
    let targets = parse_targets(&a.targets, "uninstall")?;
    let r = resolve(ctx, a)?;
    let mut plan = planned(&r, &targets)?;
    if r.scope == Scope::Global {
        plan.extend(skills::legacy_plan(&targets, &r.env));
    }
    let (mut m, warning) = Manifest::load(&r.manifest_path);
    if let Some(w) = warning {
        ctx.warn(w);
    }
    let before = serialised(&m);
    let mut files = Vec::new();
    let mut failure = None;
    for p in &plan {
        if let Err(e) = apply::uninstall_one(p, &mut m, a.dry_run, &mut files) {
            failure = Some(e);
            break;
        }
    }
    let skill_dirs: Vec<PathBuf> = plan
        .iter()
        .filter(|p| p.kind == Kind::Skill)
        .filter_map(|p| p.path.parent().map(Path::to_path_buf))
        .collect();
    let removed_dirs = if failure.is_none() {
        apply::prune_dirs(&skill_dirs, &mut m, a.dry_run)
    } else {
        Vec::new()
    };
    if !a.dry_run && r.manifest_path.exists() {
        save_manifest(&r, &m, &before)?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let out = output(&r, a.dry_run, files, removed_dirs, "uninstall");
    uninstall_hints(ctx, &out);
    Ok(out)
}

fn output(
    r: &Resolved,
    dry_run: bool,
    files: Vec<FileResult>,
    removed_dirs: Vec<String>,
    verb: &'static str,
) -> InstallOutput {
    InstallOutput {
        scope: r.scope,
        root: r.project.as_ref().map(|p| p.root.display().to_string()),
        version: skills::VERSION,
        dry_run,
        manifest: r.manifest_path.display().to_string(),
        files,
        removed_dirs,
        verb,
    }
}

fn scope_flag(s: Scope) -> &'static str {
    match s {
        Scope::Project => "--project",
        Scope::Global => "--global",
    }
}

/// The targets as the caller named them (`all` stays `all`), for commands in hints.
fn named(args: &TargetArgs, targets: &[&'static Target]) -> String {
    if args
        .targets
        .iter()
        .any(|t| t.trim().eq_ignore_ascii_case("all"))
    {
        return "all".to_string();
    }
    targets.iter().map(|t| t.name).collect::<Vec<_>>().join(" ")
}

fn install_hints(
    ctx: &Ctx,
    out: &InstallOutput,
    names: &str,
    targets: &[&'static Target],
    r: &Resolved,
) {
    let again = format!("autoresearch install {names} {}", scope_flag(out.scope));
    if out.dry_run {
        ctx.hint(format!(
            "Dry run: nothing was written. Run `{again}` to apply it."
        ));
    }
    for f in &out.files {
        match f.action {
            Action::KeptModified => ctx.hint(format!(
                "`{}` was edited, so it was kept; the new version is `{}`. Merge what you want and delete the `{NEW_SUFFIX}` file, or run `{again} --force` to back yours up and take the new one.",
                f.path,
                f.new_path.as_deref().unwrap_or_default()
            )),
            Action::Skipped => ctx.hint(format!(
                "`{}` was not written by autoresearch and was left alone; `{again} --force` copies it to `{BACKUP_SUFFIX}` and replaces it.",
                f.path
            )),
            _ => {}
        }
    }
    let wrote = out.files.iter().any(|f| {
        matches!(
            f.action,
            Action::Created | Action::Updated | Action::Replaced
        )
    });
    if wrote && !out.dry_run {
        let reload: Vec<&str> = targets.iter().map(|t| t.reload).collect();
        ctx.hint(format!("To load the skill — {}.", reload.join("; ")));
    }
    // The next step towards a running loop.
    match &r.project {
        Some(p) if !p.is_initialized() => ctx.hint(
            "Next: `autoresearch status` says how to set this repository up (`autoresearch guide setup` explains each value).",
        ),
        _ => ctx.hint("Next: `autoresearch status` shows where the project stands and what to run next."),
    }
}

fn uninstall_hints(ctx: &Ctx, out: &InstallOutput) {
    if out.dry_run {
        ctx.hint(
            "Dry run: nothing was removed. Run the same command without `--dry-run` to apply it.",
        );
    }
    for f in &out.files {
        if f.action == Action::KeptModified {
            ctx.hint(format!(
                "`{}` was edited after autoresearch wrote it, so it was kept; delete it yourself if you no longer want it.",
                f.path
            ));
        }
    }
}

/// `~/…` for paths in HOME, root-relative for the project, for people.
fn short_path(path: &str, root: Option<&str>) -> String {
    if let Some(root) = root
        && let Some(rest) = path.strip_prefix(root)
        && let Some(rest) = rest.strip_prefix('/')
    {
        return rest.to_string();
    }
    if let Some(home) = std::env::var_os("HOME").map(|h| h.to_string_lossy().into_owned())
        && !home.is_empty()
        && let Some(rest) = path.strip_prefix(&home)
        && rest.starts_with('/')
    {
        return format!("~{rest}");
    }
    path.to_string()
}

/// What happened to a path, in words; with `--dry-run`, what would happen.
fn action_words(action: Action, dry_run: bool) -> &'static str {
    if !dry_run {
        return action.as_str();
    }
    match action {
        Action::Created => "would create",
        Action::Updated => "would update",
        Action::Unchanged => "unchanged",
        Action::KeptModified => "would keep (edited)",
        Action::Skipped => "would skip",
        Action::Replaced => "would replace",
        Action::Removed => "would remove",
        Action::NotInstalled => "not installed",
    }
}

fn action_style(action: Action) -> Style {
    match action {
        Action::Created | Action::Updated | Action::Replaced | Action::Removed => Style::Green,
        Action::KeptModified | Action::Skipped => Style::Yellow,
        Action::Unchanged | Action::NotInstalled => Style::Dim,
    }
}

impl Human for InstallOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let place = match (&self.scope, &self.root) {
            (Scope::Project, Some(root)) => format!("project {root}"),
            _ => "user-wide (global)".to_string(),
        };
        let title = if self.verb == "install" {
            format!("autoresearch {} skill, {place}", self.version)
        } else {
            format!("Uninstall autoresearch skill, {place}")
        };
        p.line(p.paint.bold(&title))?;
        let root = self.root.as_deref();
        let removed_dir = if self.dry_run {
            "would remove dir"
        } else {
            "removed dir"
        };
        let words = self
            .files
            .iter()
            .map(|f| action_words(f.action, self.dry_run))
            .chain(
                [removed_dir]
                    .into_iter()
                    .filter(|_| !self.removed_dirs.is_empty()),
            );
        let ww = words.map(str::len).max().unwrap_or(0);
        let width = self
            .files
            .iter()
            .map(|f| short_path(&f.path, root).chars().count())
            .max()
            .unwrap_or(0);
        let indent = " ".repeat(ww + 4);
        for f in &self.files {
            let word = format!("{:<ww$}", action_words(f.action, self.dry_run));
            p.line(format!(
                "  {}  {:<width$}  {}",
                p.paint.style(action_style(f.action), &word),
                short_path(&f.path, root),
                p.paint.dim(&f.targets.join(", "))
            ))?;
            if let Some(n) = &f.new_path {
                p.line(format!("{indent}new version: {}", short_path(n, root)))?;
            }
            if let Some(b) = &f.backup {
                p.line(format!("{indent}backup: {}", short_path(b, root)))?;
            }
        }
        for d in &self.removed_dirs {
            let word = format!("{removed_dir:<ww$}");
            p.line(format!(
                "  {}  {}/",
                p.paint.green(&word),
                short_path(d, root)
            ))?;
        }
        if self.dry_run {
            p.line(p.paint.dim("dry run: nothing was written"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_help_names_every_target() {
        use clap::CommandFactory;
        let cli = crate::commands::Cli::command();
        let install = cli.find_subcommand("install").expect("install");
        let arg = install
            .get_arguments()
            .find(|a| a.get_id() == "targets")
            .expect("targets");
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        for t in skills::TARGETS {
            assert!(
                help.contains(t.name),
                "the TARGET help must name `{}`",
                t.name
            );
        }
    }

    #[test]
    fn unknown_targets_are_usage_errors_listing_the_valid_ones() {
        let e = parse_targets(&["claude-code".into(), "vim".into()], "install").unwrap_err();
        assert_eq!(e.code, Code::Usage);
        assert!(
            e.message.contains("`vim`") && e.message.contains("windsurf"),
            "{}",
            e.message
        );
        let all = parse_targets(&["codex".into(), "ALL".into()], "install").unwrap();
        assert_eq!(all.len(), skills::TARGETS.len());
        let dup = parse_targets(&["codex".into(), "codex".into()], "install").unwrap();
        assert_eq!(dup.len(), 1);
    }
}
