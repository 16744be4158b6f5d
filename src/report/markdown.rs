//! The report as markdown (`report.md`): for a pull request, a notebook, a code host. The chart
//! is linked as a file (code hosts strip inline SVG); every text from the ledger is escaped so
//! that it stays text (`|` cannot break a table, `<script>` is shown, not run).

use std::fmt::Write;

use super::model::{self, LOG_ROWS_MD, Report, fmt_num, fmt_signed};
use crate::analysis::Pattern;

/// The whole document; `svg` is the chart's file name beside it.
pub fn render(r: &Report, svg: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", inline(&r.title));
    let _ = writeln!(s, "**{}**\n", inline(&r.headline));
    let _ = writeln!(s, "![progress chart]({svg})\n");
    setup(&mut s, r);
    numbers(&mut s, r);
    worked(&mut s, r);
    did_not(&mut s, r);
    integrity(&mut s, r);
    change(&mut s, r);
    if !r.reproduce.is_empty() {
        let _ = writeln!(s, "## How to reproduce the best\n\n```sh");
        for c in &r.reproduce {
            let _ = writeln!(s, "{c}");
        }
        let _ = writeln!(s, "```\n");
    }
    log(&mut s, r);
    let _ = writeln!(
        s,
        "---\n\nMade by autoresearch {} at {}.",
        r.setup.tool_version, r.generated_at
    );
    s
}

/// A summary in a table cell: cut at `SUMMARY_CHARS` characters, with an ellipsis.
fn cell(text: &str) -> String {
    let mut cut: String = text.chars().take(SUMMARY_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    inline(&cut)
}

/// Summaries in tables are cut after this many characters (`report.json` has them whole).
const SUMMARY_CHARS: usize = 160;

/// Text from the ledger or the config inside a line or a table cell.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '`' => out.push_str("\\`"),
            '*' => out.push_str("\\*"),
            '_' => out.push_str("\\_"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn runs(runs: &[String], count: usize) -> String {
    let mut s: Vec<String> = runs.to_vec();
    if count > runs.len() {
        s.push(format!("… ({count} in all)"));
    }
    s.join(", ")
}

fn setup(s: &mut String, r: &Report) {
    let c = &r.setup.config;
    let _ = writeln!(s, "## Setup\n\n| | |\n|---|---|");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "| {k} | {v} |");
    };
    row("target", inline(&c.target_files.join(", ")));
    row("eval", inline(&c.eval_command));
    row(
        "metric",
        format!(
            "{} ({} is better)",
            inline(&c.metric_name),
            c.metric_direction.as_str()
        ),
    );
    row("budget", model::duration(c.time_budget.as_secs_f64()));
    row(
        "repeats",
        format!(
            "{} (at most {}; baselines {})",
            model::repeats_text(c.repeats),
            c.max_repeats,
            c.baseline_repeats
        ),
    );
    row(
        "keep rule",
        format!(
            "gain beyond the noise at {} confidence and above `min_improvement` {}",
            c.confidence,
            model::min_improvement_text(c.min_improvement)
        ),
    );
    if !c.constraints.is_empty() {
        let list: Vec<String> = c.constraints.iter().map(|k| inline(&k.text)).collect();
        row("constraints", list.join(", "));
    }
    row(
        "protected",
        if c.protected.is_empty() {
            "nothing".into()
        } else {
            inline(&c.protected.join(", "))
        },
    );
    if let Some(h) = model::hardware_text(&r.setup) {
        row("hardware", inline(&h));
    }
    row("branches", inline(&r.setup.branches.join(", ")));
    row("tool", format!("autoresearch {}", r.setup.tool_version));
    row(
        "first / last record",
        format!(
            "{} / {}",
            r.setup.first_at.as_deref().unwrap_or("—"),
            r.setup.last_at.as_deref().unwrap_or("—")
        ),
    );
    row(
        "baseline commit",
        r.setup
            .baseline_commit
            .clone()
            .unwrap_or_else(|| "—".into()),
    );
    row(
        "best commit",
        r.setup.best_commit.clone().unwrap_or_else(|| "—".into()),
    );
    let _ = writeln!(s);
}

fn numbers(s: &mut String, r: &Report) {
    let n = &r.numbers;
    let k = &n.counts;
    let _ = writeln!(s, "## Summary\n\n| | |\n|---|---|");
    let mut row = |key: &str, v: String| {
        let _ = writeln!(s, "| {key} | {v} |");
    };
    row(
        "experiments",
        format!(
            "{} ({} kept, {} discarded, {} crash, {} timeout; {} baseline, {} re-check)",
            n.experiments, k.kept, k.discarded, k.crash, k.timeout, k.baseline, k.recheck
        ),
    );
    row(
        "keep rate",
        n.keep_rate_pct
            .map_or_else(|| "—".into(), |p| format!("{p:.1} %")),
    );
    let brief = |b: &Option<crate::ledger::Brief>| {
        b.as_ref().map_or_else(
            || "—".to_string(),
            |b| {
                format!(
                    "{} {} — {}",
                    b.label(),
                    fmt_num(b.metric),
                    inline(&b.summary)
                )
            },
        )
    };
    row("baseline", brief(&n.baseline));
    row("best", brief(&n.best));
    row(
        "change",
        match n.change {
            Some(c) => format!(
                "{} better{}",
                fmt_signed(c),
                n.change_pct
                    .map(|p| format!(" ({p:.2} %)"))
                    .unwrap_or_default()
            ),
            None => "—".into(),
        },
    );
    row(
        "runs to best",
        n.runs_to_best.map_or_else(|| "—".into(), |v| v.to_string()),
    );
    row(
        "elapsed",
        n.elapsed_s.map_or_else(|| "—".into(), model::duration),
    );
    row("evaluation time", model::duration(n.eval_s));
    row(
        "runs per hour",
        n.runs_per_hour
            .map_or_else(|| "—".into(), |v| format!("{v:.1}")),
    );
    row(
        "noise",
        match n.noise {
            Some(z) => format!(
                "±{} per sample, {}",
                crate::text::round_significant(z.sd, 3),
                n.noise_measured
            ),
            None => n.noise_measured.clone(),
        },
    );
    let _ = writeln!(s);
}

fn worked(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## What worked\n");
    if r.worked.is_empty() {
        let _ = writeln!(s, "No keeps yet.\n");
        return;
    }
    let _ = writeln!(
        s,
        "| run | gain | share | metric | summary |\n|---|---|---|---|---|"
    );
    for w in &r.worked {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            w.label,
            fmt_signed(w.step_gain),
            w.share_pct
                .map_or_else(|| "—".into(), |p| format!("{p:.0} %")),
            fmt_num(w.metric),
            cell(&w.summary)
        );
    }
    let _ = writeln!(s);
}

fn did_not(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## What did not work\n");
    if !r.near_misses.is_empty() {
        let _ = writeln!(
            s,
            "Near misses, within one noise sd of the best of their time:\n\n| run | metric | short by | summary |\n|---|---|---|---|"
        );
        for m in &r.near_misses {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                m.label,
                fmt_num(Some(m.metric)),
                fmt_num(Some(m.short_by)),
                cell(&m.summary)
            );
        }
        let _ = writeln!(s);
    }
    if !r.failures.is_empty() {
        let _ = writeln!(
            s,
            "Crashes and timeouts:\n\n| reason | count | runs |\n|---|---|---|"
        );
        for f in &r.failures {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                inline(&f.reason),
                f.count,
                runs(
                    &f.runs.iter().map(|n| r.run_label(*n)).collect::<Vec<_>>(),
                    f.count
                )
            );
        }
        let _ = writeln!(s);
    }
    let (_, patterns) = r.patterns_split();
    if !patterns.is_empty() {
        let _ = writeln!(s, "Patterns:\n");
        for p in patterns {
            pattern(s, p);
        }
        let _ = writeln!(s);
    }
    if !r.analysis.families.is_empty() {
        let _ = writeln!(
            s,
            "Families of ideas:\n\n| family | tries | kept | keep rate |\n|---|---|---|---|"
        );
        for f in r.analysis.families.iter().take(15) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} % |",
                inline(&f.name),
                f.tries,
                f.kept,
                f.keep_rate * 100.0
            );
        }
        let _ = writeln!(s);
    }
}

fn pattern(s: &mut String, p: &Pattern) {
    let on = if p.runs.is_empty() {
        String::new()
    } else {
        format!(" ({})", runs(&p.run_names(), p.count))
    };
    let _ = writeln!(s, "- **{}** {}{on}", inline(&p.title), inline(&p.detail));
}

fn integrity(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## Integrity\n");
    let i = &r.integrity;
    let (patterns, _) = r.patterns_split();
    if r.integrity_clean() {
        let _ = writeln!(
            s,
            "No run is flagged, no keep is within the noise, nothing was retracted.\n"
        );
        return;
    }
    if !i.flagged.is_empty() {
        let _ = writeln!(s, "| run | status | flags | summary |\n|---|---|---|---|");
        for f in i.flagged.iter().rev().take(50) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                f.label,
                f.status.as_str(),
                inline(&f.flags.join(", ")),
                cell(&f.summary)
            );
        }
        if i.flagged.len() > 50 {
            let _ = writeln!(
                s,
                "\n({} flagged runs in all; the latest 50 are listed.)",
                i.flagged.len()
            );
        }
        let _ = writeln!(s);
    }
    for p in patterns {
        pattern(s, p);
    }
    for (run, why) in &i.retracted {
        let _ = writeln!(
            s,
            "- Run {} was retracted: {}",
            r.run_label(*run),
            inline(why)
        );
    }
    let _ = writeln!(s);
}

fn change(s: &mut String, r: &Report) {
    let Some(d) = &r.change else {
        return;
    };
    let _ = writeln!(s, "## The change from baseline to best\n\n```");
    for f in &d.files {
        let _ = writeln!(s, "{} | +{} -{}", f.path, f.insertions, f.deletions);
    }
    let _ = writeln!(
        s,
        "{} changed, {} insertions(+), {} deletions(-)\n```\n\n(The patch is in `report.html`, or `autoresearch best --patch`.)\n",
        crate::text::count(d.files_changed, "file", "files"),
        d.insertions,
        d.deletions
    );
}

fn log(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## Log\n");
    let rows = r.log_shown(LOG_ROWS_MD);
    let (shown, skip) = (rows.len(), r.log.len() - rows.len());
    if skip > 0 {
        let _ = writeln!(
            s,
            "The latest {shown} of {} records (`autoresearch report --full` lists all).\n",
            r.log.len()
        );
    }
    let _ = writeln!(
        s,
        "| run | branch | status | metric | Δ | flags | summary |\n|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.label,
            inline(&row.branch),
            row.status.as_str(),
            fmt_num(row.metric),
            row.delta.map_or_else(|| "—".into(), fmt_signed),
            inline(&row.flags.join(", ")),
            cell(&row.summary)
        );
    }
    let _ = writeln!(s);
}
