//! `autoresearch review`: the patterns of the night's work, and a prompt for a second model
//! (another model family reviews better) to judge its integrity and strategy. `--raw` prints
//! the prompt alone, for a pipe into another agent's CLI (docs/CONTRACT.md §9).

use clap::Args;
use serde::Serialize;

use autoresearch::analysis::source::Branches;
use autoresearch::analysis::{Family, Omitted, Pattern, PatternKind};
use autoresearch::error::Result;
use autoresearch::review::{self, DEFAULT_MAX_BYTES, Options};

use crate::ctx::Ctx;
use crate::output::{Cell, Human, Mode, Output, Printer, Style, Table};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch review                       the patterns, the families and the prompt's size
  autoresearch review --raw | claude -p     the prompt, piped into another agent's CLI
  autoresearch review --raw --blind | codex exec -
                                            ...without the patterns, so the reviewer is not led
  autoresearch review --json --max-bytes 16000
                                            the envelope, with the prompt cut to 16000 bytes
  autoresearch review --all-branches        the experiment branch and every fork
  autoresearch review --worker gpu-03       worker gpu-03's branch, brought by `sync`")]
pub struct ReviewArgs {
    /// Print only the prompt, nothing else, in any mode: `autoresearch review --raw | <agent CLI>`.
    #[arg(long)]
    pub raw: bool,
    /// Leave the detected patterns out of the prompt, so the reviewer is not led.
    #[arg(long)]
    pub blind: bool,
    /// Cap the prompt at this many bytes; the history shrinks first, then the diff, then the
    /// patterns.
    ///
    /// The role, the checklist and the answer format always stay: a cap too small for them is
    /// a usage error that names the size they need.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
    /// Review this branch (default: the branch `autoresearch status` reports on).
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Review every branch: the experiment branch and each fork.
    #[arg(long, conflicts_with_all = ["branch", "worker"])]
    pub all_branches: bool,
    #[command(flatten)]
    pub worker: super::args::WorkerArgs,
}

#[derive(Debug, Serialize)]
pub struct ReviewOutput {
    /// The branch reviewed; null with `--all-branches`.
    pub branch: Option<String>,
    /// Records reviewed, and the experiments among them.
    pub records: usize,
    pub experiments: usize,
    /// The noise sd of one sample under the best's setup; null while unknown.
    pub noise_sd: Option<f64>,
    pub patterns: Vec<Pattern>,
    pub omitted: Vec<Omitted>,
    pub families: Vec<Family>,
    /// The prompt for the reviewer, whole.
    pub prompt: String,
    pub prompt_bytes: usize,
    /// Whether something was cut to fit `--max-bytes`.
    pub truncated: bool,
    #[serde(skip)]
    raw: bool,
    #[serde(skip)]
    max_bytes: usize,
}

impl Output for ReviewOutput {
    fn raw(&self) -> Option<&str> {
        self.raw.then_some(self.prompt.as_str())
    }
}

pub fn run(ctx: &Ctx, args: &ReviewArgs) -> Result<ReviewOutput> {
    let loaded = ctx.load()?;
    let summary = ctx.summary(&loaded.ledger)?;
    let writer = args.worker.writer(&loaded, &summary)?;
    let scope_branch =
        super::args::report_branch(&loaded, &summary, args.branch.as_deref(), writer.as_ref());
    let which = if args.all_branches {
        Branches::All
    } else {
        Branches::One(scope_branch.clone())
    };
    let opts = Options {
        blind: args.blind,
        max_bytes: args.max_bytes,
    };
    let (r, warnings) = review::review(&loaded, &summary, &which, &scope_branch, &opts)?;
    ctx.warn_all(warnings);
    let out = ReviewOutput {
        branch: (!args.all_branches).then_some(scope_branch),
        records: r.records,
        experiments: r.analysis.experiments,
        noise_sd: r.noise_sd,
        patterns: r.analysis.patterns,
        omitted: r.analysis.omitted,
        families: r.analysis.families,
        prompt_bytes: r.prompt.text.len(),
        prompt: r.prompt.text,
        truncated: r.prompt.truncated,
        raw: args.raw,
        max_bytes: args.max_bytes,
    };
    hints(ctx, &out);
    Ok(out)
}

fn hints(ctx: &Ctx, out: &ReviewOutput) {
    let integrity: Vec<&str> = out
        .patterns
        .iter()
        .filter(|p| review::INTEGRITY_FLAGS.contains(&p.kind.as_str()))
        .map(|p| p.kind.as_str())
        .collect();
    if !integrity.is_empty() {
        ctx.hint(format!(
            "Integrity flags on this history ({}): read `autoresearch guide integrity` before building on those keeps.",
            integrity.join(", ")
        ));
    }
    if out
        .patterns
        .iter()
        .any(|p| p.kind == PatternKind::StuckStreak)
    {
        ctx.hint("A long streak without a keep: see `autoresearch guide stuck` for ways out.");
    }
    if out.truncated {
        ctx.hint(format!(
            "The prompt was cut to fit {} bytes; pass `--max-bytes <bytes>` for more of the history and the diff.",
            out.max_bytes
        ));
    }
    if ctx.mode() == Mode::Json {
        ctx.hint("Send the prompt to a model of another family: `autoresearch review --raw | <agent CLI>`.");
    }
}

impl Human for ReviewOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        let scope = self
            .branch
            .as_deref()
            .map_or_else(|| "every branch".to_string(), |b| format!("branch {b}"));
        p.line(format!(
            "{scope}: {} records, {} experiments",
            self.records, self.experiments
        ))?;
        p.line("")?;
        self.patterns_view(p)?;
        if !self.families.is_empty() {
            p.line("")?;
            p.line(p.paint.bold("families"))?;
            let mut t = Table::new(&["family", "tries", "kept", "keep rate"]);
            for f in &self.families {
                t.row(vec![
                    Cell::from(f.name.as_str()),
                    Cell::from(f.tries.to_string()),
                    Cell::new(f.kept.to_string(), kept_style(f.kept)),
                    Cell::from(format!("{:.0}%", f.keep_rate * 100.0)),
                ]);
            }
            p.table(&t)?;
        }
        p.line("")?;
        let cut = if self.truncated {
            format!(", cut to fit {} bytes", self.max_bytes)
        } else {
            String::new()
        };
        p.line(format!(
            "prompt: {} bytes{cut}; get it with `autoresearch review --raw | <agent CLI>`",
            self.prompt_bytes
        ))
    }
}

impl ReviewOutput {
    /// The patterns grouped by kind, each with its runs.
    fn patterns_view(&self, p: &mut Printer) -> std::io::Result<()> {
        if self.patterns.is_empty() {
            return p.line("no patterns found");
        }
        p.line(p.paint.bold("patterns"))?;
        let mut kind = None;
        for pat in &self.patterns {
            if kind != Some(pat.kind) {
                kind = Some(pat.kind);
                let name = pat.kind.as_str().replace('_', " ");
                p.line(format!("  {}", p.paint.yellow(&name)))?;
            }
            p.line(format!("    {}  {}", pat.title, p.paint.dim(&runs(pat))))?;
        }
        for o in &self.omitted {
            p.line(format!(
                "  {} more {} not listed",
                o.count,
                o.kind.as_str().replace('_', " ")
            ))?;
        }
        Ok(())
    }
}

fn kept_style(kept: usize) -> Style {
    if kept == 0 { Style::Dim } else { Style::Green }
}

/// `#12, #15, #19…` (at most 8 runs), or nothing for a pattern without runs.
fn runs(p: &Pattern) -> String {
    const SHOWN: usize = 8;
    let mut s = p
        .run_names()
        .into_iter()
        .take(SHOWN)
        .collect::<Vec<_>>()
        .join(", ");
    if p.count > SHOWN.min(p.runs.len()) && !p.runs.is_empty() {
        s.push('…');
    }
    s
}
