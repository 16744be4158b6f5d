//! `autoresearch sync [REMOTE]`: one ledger across machines through a git remote. Fetches
//! every worker's shard, appends the records new here (in causal order), publishes this
//! worker's shard and pushes it, never forcing and never touching the user's branches. The
//! work is `autoresearch::sync`; this file parses and renders.

use clap::Args;

use autoresearch::error::Result;
use autoresearch::sync::{self, Outcome};

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch sync                      # with `origin`
  autoresearch sync lab                  # a configured remote
  autoresearch sync /shared/project.git  # a bare repository on a shared disk
  autoresearch sync --dry-run

Each clone is a worker (`.autoresearch/worker`, or AUTORESEARCH_WORKER). Its records travel at
refs/autoresearch/ledger/<worker>, their commits at refs/autoresearch/commits/<worker>/<id>. Another
worker's records show as RUN@WORKER on a branch named BRANCH@WORKER; `--worker` filters the
readers. A clone that never syncs is unchanged.")]
pub struct SyncArgs {
    /// A remote's name, a URL, or the path of a bare repository (default: `origin`, else the
    /// repository's only remote).
    #[arg(value_name = "REMOTE")]
    pub remote: Option<String>,
    /// Fetch and say what would be added and published; change neither the ledger nor the
    /// remote.
    #[arg(long)]
    pub dry_run: bool,
}

/// `sync`'s data.
pub type SyncOutput = Outcome;

impl Output for SyncOutput {}

impl Human for SyncOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let me = match &self.worker {
            Some(w) => format!("worker {}", p.paint.bold(w)),
            None => "this clone (its worker id comes with its first sync)".to_string(),
        };
        p.line(format!(
            "{} with {}: {me} has {} record(s) of its own.",
            p.paint.bold("sync"),
            self.remote,
            self.published
        ))?;
        for w in &self.workers {
            p.line(format!(
                "  {:<24} {:>6} record(s), {} new here",
                w.worker, w.records, w.new
            ))?;
        }
        let verb = if self.dry_run { "Would add" } else { "Added" };
        p.line(format!(
            "{verb} {} record(s) from other workers.",
            self.added
        ))?;
        if self.pushed {
            p.line(format!(
                "{} has this worker's records{}.",
                self.remote,
                match self.commits {
                    0 => String::new(),
                    n => format!(" and {n} more experiment commit(s)"),
                }
            ))?;
        }
        Ok(())
    }
}

pub fn run(ctx: &Ctx, args: &SyncArgs) -> Result<SyncOutput> {
    let loaded = ctx.load()?;
    let remote = match &args.remote {
        Some(r) => r.clone(),
        None => sync::default_remote(&loaded.project.main_root)?,
    };
    let (out, warnings) = sync::sync(&loaded, &remote, args.dry_run)?;
    ctx.warn_all(warnings);
    if out.dry_run {
        ctx.hint(format!(
            "Nothing was written: run `autoresearch sync {remote}` to add the records and publish this worker's."
        ));
    } else if out.added > 0 {
        ctx.hint("Other workers' runs show as RUN@WORKER: `autoresearch status --all-branches` lists their branches, `autoresearch log --worker W` their runs.");
    }
    Ok(out)
}
