//! The report as one self-contained HTML page (`report.html`): inline CSS and the chart's SVG,
//! no script, nothing loaded from anywhere. Every text from the ledger, the config or git is
//! escaped, so a summary holding `<script>` stays text.

use std::fmt::Write;

use super::model::{self, LOG_ROWS_HTML, Report, fmt_num, fmt_signed};
use crate::analysis::Pattern;

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;max-width:1040px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.headline{font-size:1.1em;font-weight:600;margin:.4em 0 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.kept{color:#1a7f37;font-weight:600}.crash,.timeout{color:#cf222e}.flag{color:#9a6700}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.5em .9em;min-width:9em}
.card b{display:block;font-size:1.25em}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em;max-height:40em}
.chart svg{max-width:100%;height:auto}footer{color:#656d76;font-size:.85em;margin-top:3em}
";

/// The whole page, with `svg` (the chart document) inline.
pub fn render(r: &Report, svg: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&r.title)
    );
    let _ = writeln!(
        s,
        "<h1>{}</h1>\n<p class=\"headline\">{}</p>",
        esc(&r.title),
        esc(&r.headline)
    );
    cards(&mut s, r);
    let _ = writeln!(s, "<div class=\"chart\">{}</div>", strip_prolog(svg));
    setup(&mut s, r);
    numbers(&mut s, r);
    worked(&mut s, r);
    did_not(&mut s, r);
    integrity(&mut s, r);
    change(&mut s, r);
    if !r.reproduce.is_empty() {
        let _ = writeln!(
            s,
            "<h2>How to reproduce the best</h2>\n<pre>{}</pre>",
            esc(&r.reproduce.join("\n"))
        );
    }
    log(&mut s, r);
    let _ = writeln!(
        s,
        "<footer>Made by autoresearch {} at {}.</footer>\n</body>\n</html>",
        esc(&r.setup.tool_version),
        esc(&r.generated_at)
    );
    s
}

/// Text made safe for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// An SVG document without its XML declaration, to sit inside HTML.
fn strip_prolog(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest.find("?>").map_or(svg, |i| rest[i + 2..].trim_start()),
        None => svg,
    }
}

fn table(s: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<(String, bool)>>) {
    let _ = write!(s, "<table>");
    if head.iter().any(|h| !h.is_empty()) {
        let _ = write!(s, "<tr>");
        for h in head {
            let _ = write!(s, "<th>{h}</th>");
        }
        let _ = writeln!(s, "</tr>");
    }
    for row in rows {
        let _ = write!(s, "<tr>");
        for (cell, numeric) in row {
            let class = if numeric { " class=\"n\"" } else { "" };
            let _ = write!(s, "<td{class}>{cell}</td>");
        }
        let _ = writeln!(s, "</tr>");
    }
    let _ = writeln!(s, "</table>");
}

fn cards(s: &mut String, r: &Report) {
    let n = &r.numbers;
    let card =
        |label: &str, value: String| format!("<div class=\"card\">{label}<b>{value}</b></div>");
    let _ = writeln!(s, "<div class=\"cards\">");
    let base = n.baseline.as_ref().and_then(|b| b.metric);
    let best = n.best.as_ref().and_then(|b| b.metric);
    let _ = writeln!(
        s,
        "{}",
        card(
            "baseline → best",
            format!("{} → {}", fmt_num(base), fmt_num(best))
        )
    );
    let _ = writeln!(
        s,
        "{}",
        card(
            "improvement",
            n.change_pct
                .map_or_else(|| "—".into(), |p| format!("{p:.2} %"))
        )
    );
    let _ = writeln!(s, "{}", card("experiments", n.experiments.to_string()));
    let _ = writeln!(
        s,
        "{}",
        card("kept", format!("{} / {}", n.counts.kept, n.experiments))
    );
    let _ = writeln!(
        s,
        "{}",
        card(
            "elapsed / evaluating",
            format!(
                "{} / {}",
                n.elapsed_s.map_or_else(|| "—".into(), model::duration),
                model::duration(n.eval_s)
            )
        )
    );
    let _ = writeln!(s, "</div>");
}

fn setup(s: &mut String, r: &Report) {
    let c = &r.setup.config;
    let _ = writeln!(s, "<h2>Setup</h2>");
    let mut rows = vec![
        ("target", c.target_files.join(", ")),
        ("eval", c.eval_command.clone()),
        (
            "metric",
            format!(
                "{} ({} is better)",
                c.metric_name,
                c.metric_direction.as_str()
            ),
        ),
        ("budget", model::duration(c.time_budget.as_secs_f64())),
        (
            "repeats",
            format!(
                "{} (at most {}; baselines {})",
                model::repeats_text(c.repeats),
                c.max_repeats,
                c.baseline_repeats
            ),
        ),
        (
            "keep rule",
            format!(
                "gain beyond the noise at {} confidence and above min_improvement {}",
                c.confidence,
                model::min_improvement_text(c.min_improvement)
            ),
        ),
        (
            "constraints",
            c.constraints
                .iter()
                .map(|k| k.text.clone())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("protected", c.protected.join(", ")),
        (
            "hardware",
            model::hardware_text(&r.setup).unwrap_or_default(),
        ),
        ("branches", r.setup.branches.join(", ")),
        ("tool", format!("autoresearch {}", r.setup.tool_version)),
        ("first record", r.setup.first_at.clone().unwrap_or_default()),
        ("last record", r.setup.last_at.clone().unwrap_or_default()),
        (
            "baseline commit",
            r.setup.baseline_commit.clone().unwrap_or_default(),
        ),
        (
            "best commit",
            r.setup.best_commit.clone().unwrap_or_default(),
        ),
    ];
    rows.retain(|(_, v)| !v.is_empty());
    table(
        s,
        &["", ""],
        rows.into_iter()
            .map(|(k, v)| vec![(k.to_string(), false), (esc(&v), false)]),
    );
}

fn numbers(s: &mut String, r: &Report) {
    let n = &r.numbers;
    let k = &n.counts;
    let brief = |b: &Option<crate::ledger::Brief>| {
        b.as_ref().map_or_else(
            || "—".to_string(),
            |b| {
                esc(&format!(
                    "{} {} — {}",
                    b.label(),
                    fmt_num(b.metric),
                    b.summary
                ))
            },
        )
    };
    let rows = vec![
        ("kept", k.kept.to_string()),
        ("discarded", k.discarded.to_string()),
        ("crash", k.crash.to_string()),
        ("timeout", k.timeout.to_string()),
        ("baseline runs", k.baseline.to_string()),
        ("re-checks", k.recheck.to_string()),
        (
            "keep rate",
            n.keep_rate_pct
                .map_or_else(|| "—".into(), |p| format!("{p:.1} %")),
        ),
        ("baseline", brief(&n.baseline)),
        ("best", brief(&n.best)),
        (
            "change",
            n.change.map_or_else(
                || "—".into(),
                |c| {
                    format!(
                        "{} better{}",
                        fmt_signed(c),
                        n.change_pct
                            .map(|p| format!(" ({p:.2} %)"))
                            .unwrap_or_default()
                    )
                },
            ),
        ),
        (
            "runs to best",
            n.runs_to_best.map_or_else(|| "—".into(), |v| v.to_string()),
        ),
        (
            "elapsed",
            n.elapsed_s.map_or_else(|| "—".into(), model::duration),
        ),
        ("evaluation time", model::duration(n.eval_s)),
        (
            "runs per hour",
            n.runs_per_hour
                .map_or_else(|| "—".into(), |v| format!("{v:.1}")),
        ),
        (
            "noise",
            esc(&match n.noise {
                Some(z) => format!(
                    "±{} per sample, {}",
                    crate::text::round_significant(z.sd, 3),
                    n.noise_measured
                ),
                None => n.noise_measured.clone(),
            }),
        ),
    ];
    let _ = writeln!(s, "<h2>Summary</h2>");
    table(
        s,
        &["", ""],
        rows.into_iter()
            .map(|(k, v)| vec![(k.to_string(), false), (v, false)]),
    );
}

fn worked(s: &mut String, r: &Report) {
    let _ = writeln!(s, "<h2>What worked</h2>");
    if r.worked.is_empty() {
        let _ = writeln!(s, "<p>No keeps yet.</p>");
        return;
    }
    table(
        s,
        &["run", "gain", "share", "metric", "summary"],
        r.worked.iter().map(|w| {
            vec![
                (esc(&w.label), true),
                (fmt_signed(w.step_gain), true),
                (
                    w.share_pct
                        .map_or_else(|| "—".into(), |p| format!("{p:.0} %")),
                    true,
                ),
                (fmt_num(w.metric), true),
                (esc(&w.summary), false),
            ]
        }),
    );
}

fn pattern_list(s: &mut String, patterns: &[&Pattern]) {
    if patterns.is_empty() {
        return;
    }
    let _ = writeln!(s, "<ul>");
    for p in patterns {
        let runs = p.run_names();
        let more = if p.count > p.runs.len() {
            format!(" … ({} in all)", p.count)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "<li><b>{}</b> {}{}</li>",
            esc(&p.title),
            esc(&p.detail),
            if runs.is_empty() {
                String::new()
            } else {
                format!(" <small>({}{more})</small>", runs.join(", "))
            }
        );
    }
    let _ = writeln!(s, "</ul>");
}

fn did_not(s: &mut String, r: &Report) {
    let _ = writeln!(s, "<h2>What did not work</h2>");
    if !r.near_misses.is_empty() {
        let _ = writeln!(
            s,
            "<p>Near misses, within one noise sd of the best of their time:</p>"
        );
        table(
            s,
            &["run", "metric", "short by", "summary"],
            r.near_misses.iter().map(|m| {
                vec![
                    (esc(&m.label), true),
                    (fmt_num(Some(m.metric)), true),
                    (fmt_num(Some(m.short_by)), true),
                    (esc(&m.summary), false),
                ]
            }),
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(s, "<p>Crashes and timeouts:</p>");
        table(
            s,
            &["reason", "count", "runs"],
            r.failures.iter().map(|f| {
                let runs: Vec<String> = f.runs.iter().map(|n| r.run_label(*n)).collect();
                vec![
                    (esc(&f.reason), false),
                    (f.count.to_string(), true),
                    (runs.join(", "), false),
                ]
            }),
        );
    }
    let (_, patterns) = r.patterns_split();
    pattern_list(s, &patterns);
    if !r.analysis.families.is_empty() {
        let _ = writeln!(s, "<p>Families of ideas:</p>");
        table(
            s,
            &["family", "tries", "kept", "keep rate"],
            r.analysis.families.iter().take(15).map(|f| {
                vec![
                    (esc(&f.name), false),
                    (f.tries.to_string(), true),
                    (f.kept.to_string(), true),
                    (format!("{:.0} %", f.keep_rate * 100.0), true),
                ]
            }),
        );
    }
}

fn integrity(s: &mut String, r: &Report) {
    let _ = writeln!(s, "<h2>Integrity</h2>");
    let i = &r.integrity;
    let (patterns, _) = r.patterns_split();
    if r.integrity_clean() {
        let _ = writeln!(
            s,
            "<p>No run is flagged, no keep is within the noise, nothing was retracted.</p>"
        );
        return;
    }
    if !i.flagged.is_empty() {
        table(
            s,
            &["run", "status", "flags", "summary"],
            i.flagged.iter().rev().take(200).map(|f| {
                vec![
                    (esc(&f.label), true),
                    (f.status.as_str().to_string(), false),
                    (
                        format!("<span class=\"flag\">{}</span>", esc(&f.flags.join(", "))),
                        false,
                    ),
                    (esc(&f.summary), false),
                ]
            }),
        );
    }
    pattern_list(s, &patterns);
    if !i.retracted.is_empty() {
        let _ = writeln!(s, "<ul>");
        for (run, why) in &i.retracted {
            let _ = writeln!(
                s,
                "<li>Run {} was retracted: {}</li>",
                esc(&r.run_label(*run)),
                esc(why)
            );
        }
        let _ = writeln!(s, "</ul>");
    }
}

fn change(s: &mut String, r: &Report) {
    let Some(d) = &r.change else {
        return;
    };
    let _ = writeln!(s, "<h2>The change from baseline to best</h2>");
    table(
        s,
        &["file", "+", "−"],
        d.files.iter().map(|f| {
            vec![
                (esc(&f.path), false),
                (f.insertions.to_string(), true),
                (f.deletions.to_string(), true),
            ]
        }),
    );
    if let Some(p) = &d.patch {
        let cut = if d.patch_truncated {
            "\n… (cut; `autoresearch best --patch` shows it all)"
        } else {
            ""
        };
        let _ = writeln!(s, "<pre>{}{cut}</pre>", esc(p));
    }
}

fn log(s: &mut String, r: &Report) {
    let _ = writeln!(s, "<h2>Log</h2>");
    let rows = r.log_shown(LOG_ROWS_HTML);
    let (shown, skip) = (rows.len(), r.log.len() - rows.len());
    if skip > 0 {
        let _ = writeln!(
            s,
            "<p>The latest {shown} of {} records (<code>autoresearch report --full</code> lists all).</p>",
            r.log.len()
        );
    }
    table(
        s,
        &["run", "branch", "status", "metric", "Δ", "flags", "summary"],
        rows.iter().map(|row| {
            vec![
                (esc(&row.label), true),
                (esc(&row.branch), false),
                (
                    format!("<span class=\"{0}\">{0}</span>", row.status.as_str()),
                    false,
                ),
                (fmt_num(row.metric), true),
                (row.delta.map_or_else(|| "—".into(), fmt_signed), true),
                (esc(&row.flags.join(", ")), false),
                (esc(&row.summary), false),
            ]
        }),
    );
}
