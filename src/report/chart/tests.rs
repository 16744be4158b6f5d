//! The chart's promises, checked on the SVG text: well-formed XML whatever the data, every run
//! drawn under its mark's class, the running best stepping once per improvement in the good
//! direction only, outliers on the edges and counted, user text escaped, 100,000 runs in a
//! small file, the same bytes every time.

use std::time::Instant;

use roxmltree::{Document, Node};

use super::*;

fn point(run: u64, metric: Option<f64>, mark: Mark) -> Point {
    Point {
        run,
        x: run as f64,
        metric,
        mark,
        flagged: false,
        label: None,
        series: 0,
    }
}

fn spec<'a>(points: &'a [Point], direction: Direction) -> ChartSpec<'a> {
    ChartSpec {
        points,
        direction,
        metric_name: "val_bpb",
        baseline: points
            .iter()
            .find(|p| p.mark == Mark::Baseline)
            .and_then(|p| p.metric),
        series_names: &[],
        x_label: "experiment",
        title: Some("Overnight run"),
        width: DEFAULT_SIZE.0,
        height: DEFAULT_SIZE.1,
    }
}

/// A small deterministic generator (an LCG), so no test depends on a crate's randomness.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A plausible ledger of `n` runs around `level` (scale `scale`): a baseline, then changes
/// that are kept when better than the best, discarded otherwise; some crashes, timeouts,
/// re-checks and flags; a few wild values; labels on the first kept runs.
fn history(n: usize, level: f64, scale: f64, direction: Direction, seed: u64) -> Vec<Point> {
    let mut rng = Lcg(seed);
    let sign = match direction {
        Direction::Lower => -1.0,
        Direction::Higher => 1.0,
    };
    let mut best = level;
    let mut points = vec![point(0, Some(level), Mark::Baseline)];
    for run in 1..n as u64 {
        let r = rng.next();
        let mut p = if r < 0.03 {
            point(run, None, Mark::Crash)
        } else if r < 0.04 {
            point(run, None, Mark::Timeout)
        } else if r < 0.05 {
            point(
                run,
                Some(best + scale * 0.01 * (rng.next() - 0.5)),
                Mark::Recheck,
            )
        } else {
            // A step of the right sign ever more rarely, as in a real search; the rest is
            // worse, sometimes wildly.
            let step = if rng.next() < (3.0 / (run as f64).sqrt()).min(0.3) {
                sign * scale * 0.02 * rng.next()
            } else if rng.next() < 0.02 {
                -sign * scale * 40.0
            } else {
                -sign * scale * 0.3 * rng.next()
            };
            let v = best + step;
            let mark = if direction.better(v, best) {
                best = v;
                Mark::Kept
            } else {
                Mark::Discarded
            };
            point(run, Some(v), mark)
        };
        p.flagged = rng.next() < 0.01;
        if p.mark == Mark::Kept && run < 200 {
            p.label = Some(format!(
                "try idea number {run} with a longer description here"
            ));
        }
        points.push(p);
    }
    points
}

/// Parses the SVG and checks what every chart must be: well-formed, finite, self-contained,
/// accessible.
fn check(svg: &str) -> Document<'_> {
    let lower = svg.to_ascii_lowercase();
    for bad in ["nan", "inf", "<script", "href", "url(", "@import"] {
        assert!(!lower.contains(bad), "the SVG contains `{bad}`");
    }
    assert_eq!(
        lower.matches("http").count(),
        1,
        "only the namespace is a URL"
    );
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert_eq!(root.attribute("role"), Some("img"));
    assert!(root.attribute("viewBox").is_some());
    let first: Vec<&str> = root
        .children()
        .filter(Node::is_element)
        .take(2)
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(first, ["title", "desc"]);
    assert_eq!(
        root.descendants()
            .filter(|n| n.has_tag_name("style"))
            .count(),
        1
    );
    doc
}

/// Has `node` the class `class` among its classes?
fn has_class(node: &Node, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|c| c.split(' ').any(|c| c == class))
}

/// The runs drawn with class `class`: one per element, or its `data-n` for a bin.
fn drawn(doc: &Document, class: &str) -> usize {
    doc.descendants()
        .filter(|n| has_class(n, class))
        .map(|n| n.attribute("data-n").map_or(1, |v| v.parse().unwrap()))
        .sum()
}

fn count_of(points: &[Point], mark: Mark) -> usize {
    points.iter().filter(|p| p.mark == mark).count()
}

/// The running-best paths: (series, d).
fn best_lines(doc: &Document) -> Vec<(usize, String)> {
    doc.descendants()
        .filter(|n| has_class(n, "best") && n.attribute("data-series").is_some())
        .map(|n| {
            let series = n.attribute("data-series").unwrap().parse().unwrap();
            (series, n.attribute("d").unwrap().to_string())
        })
        .collect()
}

/// The pixel rows of a path: its first `M` and every `V`.
fn rows(d: &str) -> Vec<f64> {
    let first = d[1..].split(['H', 'V']).next().unwrap();
    let mut out = vec![first.split(' ').nth(1).unwrap().parse().unwrap()];
    for part in d.split('V').skip(1) {
        out.push(part.split('H').next().unwrap().parse().unwrap());
    }
    out
}

/// The number at the start of the legend's row ending in `suffix`, 0 when there is none.
fn legend_count(doc: &Document, suffix: &str) -> usize {
    let legend = doc
        .descendants()
        .find(|n| has_class(n, "legend"))
        .expect("a legend");
    legend
        .descendants()
        .filter_map(|n| n.text())
        .find(|t| t.ends_with(suffix))
        .map_or(0, |t| t.split(' ').next().unwrap().parse().unwrap())
}

/// The improvements of the best the running best must show, worked out apart from the chart.
fn improvements(points: &[Point], series: usize, direction: Direction) -> usize {
    let mut best: Option<f64> = None;
    let mut steps = 0;
    for p in points.iter().filter(|p| p.series == series) {
        let Some(v) = p
            .metric
            .filter(|_| matches!(p.mark, Mark::Baseline | Mark::Kept))
        else {
            continue;
        };
        match best {
            None => best = Some(v),
            Some(b) if direction.better(v, b) => (best, steps) = (Some(v), steps + 1),
            Some(_) => {}
        }
    }
    steps
}

fn all_histories() -> Vec<(&'static str, Vec<Point>, Direction)> {
    let flat: Vec<Point> = (0..20)
        .map(|i| {
            point(
                i,
                Some(3.25),
                if i == 0 {
                    Mark::Baseline
                } else {
                    Mark::Discarded
                },
            )
        })
        .collect();
    let only_crashes: Vec<Point> = (0..5)
        .map(|i| {
            point(
                i,
                None,
                if i % 2 == 0 {
                    Mark::Crash
                } else {
                    Mark::Timeout
                },
            )
        })
        .collect();
    let mut zero_baseline = history(60, 0.0, 1.0, Direction::Higher, 3);
    zero_baseline[0].metric = Some(0.0);
    let mut mixed = history(40, 1.0, 0.1, Direction::Lower, 4);
    mixed.extend(
        history(40, -1.0, 0.1, Direction::Higher, 5)
            .into_iter()
            .map(|mut p| {
                p.run += 100;
                p.x += 100.0;
                p
            }),
    );
    // Hours elapsed: fractional positions, not in order of runs everywhere.
    let mut hours = history(50, 0.25, 0.01, Direction::Lower, 10);
    for p in &mut hours {
        p.x = p.run as f64 * 0.37 + if p.run % 7 == 0 { 0.2 } else { 0.0 };
    }
    vec![
        ("hours", hours, Direction::Lower),
        (
            "normal, lower",
            history(80, 1.0, 0.05, Direction::Lower, 1),
            Direction::Lower,
        ),
        (
            "normal, higher",
            history(80, 0.6, 0.05, Direction::Higher, 2),
            Direction::Higher,
        ),
        (
            "negative",
            history(80, -12.5, 2.0, Direction::Lower, 6),
            Direction::Lower,
        ),
        (
            "negative, higher",
            history(80, -0.3, 0.1, Direction::Higher, 7),
            Direction::Higher,
        ),
        ("zero baseline", zero_baseline, Direction::Higher),
        (
            "single run",
            vec![point(1, Some(0.9979), Mark::Baseline)],
            Direction::Lower,
        ),
        (
            "single zero",
            vec![point(1, Some(0.0), Mark::Baseline)],
            Direction::Higher,
        ),
        ("only crashes", only_crashes, Direction::Lower),
        ("no runs", Vec::new(), Direction::Lower),
        ("all equal", flat, Direction::Higher),
        (
            "tiny",
            history(80, 3e-9, 1e-10, Direction::Lower, 8),
            Direction::Lower,
        ),
        (
            "huge",
            history(80, 1e12, 5e10, Direction::Higher, 9),
            Direction::Higher,
        ),
        ("mixed directions", mixed.clone(), Direction::Lower),
        ("mixed directions", mixed, Direction::Higher),
    ]
}

#[test]
fn every_history_gives_a_well_formed_finite_chart() {
    for (name, points, direction) in all_histories() {
        let svg = render(&spec(&points, direction));
        let doc = check(&svg);
        for mark in Mark::ALL {
            assert_eq!(
                drawn(&doc, mark.class()),
                count_of(&points, mark),
                "{name}: {mark:?}"
            );
        }
    }
}

#[test]
fn a_flat_history_sits_mid_plot_and_negative_values_stay_in_range() {
    for (name, v) in [
        ("one", 0.9979),
        ("zero", 0.0),
        ("negative", -4.0),
        ("tiny", 1e-12),
    ] {
        let points: Vec<Point> = (0..3)
            .map(|i| point(i, Some(v), if i == 0 { Mark::Baseline } else { Mark::Kept }))
            .collect();
        let svg = render(&spec(&points, Direction::Lower));
        let doc = check(&svg);
        let cy: Vec<f64> = doc
            .descendants()
            .filter(|n| has_class(n, "kept") || has_class(n, "baseline"))
            .map(|n| n.attribute("cy").unwrap().parse().unwrap())
            .collect();
        assert_eq!(cy.len(), 3, "{name}");
        // A band with ticks around the value, not an axis collapsed onto it.
        let y_ticks: Vec<&str> = doc
            .descendants()
            .filter(|n| has_class(n, "tick") && n.attribute("text-anchor") == Some("end"))
            .filter_map(|n| n.text())
            .collect();
        assert!(y_ticks.len() >= 3, "{name}: {y_ticks:?}");
        let height = f64::from(DEFAULT_SIZE.1);
        assert!(
            cy.iter().all(|y| *y > height * 0.3 && *y < height * 0.7),
            "{name}: {cy:?}"
        );
    }
    let points = history(200, -40.0, 3.0, Direction::Lower, 11);
    let doc_text = render(&spec(&points, Direction::Lower));
    let doc = check(&doc_text);
    assert_eq!(drawn(&doc, "kept"), count_of(&points, Mark::Kept));
    let edges = doc.descendants().filter(|n| has_class(n, "edge")).count();
    assert!(
        edges * 20 < points.len(),
        "{edges} of {} runs on the edges",
        points.len()
    );
}

#[test]
fn crashes_and_runs_without_a_metric_sit_in_the_strip_and_are_counted() {
    let mut points = history(50, 1.0, 0.1, Direction::Lower, 12);
    // A crash that still printed a number is a crash; a kept run without a metric is kept.
    points.push(point(50, Some(0.5), Mark::Crash));
    points.push(point(51, None, Mark::Kept));
    points.push(point(52, Some(f64::NAN), Mark::Discarded));
    let svg = render(&spec(&points, Direction::Lower));
    let doc = check(&svg);
    for mark in Mark::ALL {
        assert_eq!(
            drawn(&doc, mark.class()),
            count_of(&points, mark),
            "{mark:?}"
        );
    }
    let strip_y: Vec<&str> = doc
        .descendants()
        .filter(|n| has_class(n, "crash"))
        .filter_map(|n| n.attribute("d"))
        .map(|d| d[1..].split(['l', ' ']).nth(1).unwrap())
        .collect();
    assert!(
        strip_y.windows(2).all(|w| w[0] == w[1]),
        "crashes share one row: {strip_y:?}"
    );
    assert!(svg.contains(">no metric</text>"));
    let crashes = crate::text::count(count_of(&points, Mark::Crash), "crash", "crashes");
    assert!(svg.contains(&format!(">{crashes}</text>")), "{crashes}");
}

#[test]
fn the_running_best_steps_once_per_improvement_in_the_good_direction() {
    for direction in [Direction::Lower, Direction::Higher] {
        let mut points = history(300, 1.0, 0.05, direction, 13);
        // A worse re-baseline and a "kept" run worse than the best must not move the line.
        let worse = match direction {
            Direction::Lower => 1.2,
            Direction::Higher => 0.8,
        };
        points.push(point(300, Some(worse), Mark::Baseline));
        points.push(point(301, Some(worse), Mark::Kept));
        let svg = render(&spec(&points, direction));
        let doc = check(&svg);
        let lines = best_lines(&doc);
        assert_eq!(lines.len(), 1);
        let d = &lines[0].1;
        let want = improvements(&points, 0, direction);
        assert!(want > 5, "the history improves: {want}");
        assert_eq!(d.matches('V').count(), want, "{direction:?}: {d}");
        assert_eq!(d.matches('M').count(), 1);
        // Pixel rows grow downwards: higher values have smaller rows.
        let rows = rows(d);
        let ok = rows.windows(2).all(|w| match direction {
            Direction::Higher => w[1] <= w[0],
            Direction::Lower => w[1] >= w[0],
        });
        assert!(ok, "{direction:?}: the best went the wrong way: {rows:?}");
    }
}

#[test]
fn each_series_has_its_own_running_best_and_legend_row() {
    let names = [
        "main".to_string(),
        "fork-a".to_string(),
        "fork-b".to_string(),
    ];
    let mut points = Vec::new();
    for (s, seed) in [(0, 21), (1, 22), (2, 23)] {
        points.extend(
            history(60, 1.0, 0.05, Direction::Lower, seed)
                .into_iter()
                .map(|mut p| {
                    p.series = s;
                    p.x += (s * 60) as f64;
                    p.run += (s * 60) as u64;
                    p
                }),
        );
    }
    let mut s = spec(&points, Direction::Lower);
    s.series_names = &names;
    let svg = render(&s);
    let doc = check(&svg);
    let lines = best_lines(&doc);
    assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), [0, 1, 2]);
    for (series, d) in &lines {
        assert_eq!(
            d.matches('V').count(),
            improvements(&points, *series, Direction::Lower)
        );
    }
    let strokes: Vec<&str> = doc
        .descendants()
        .filter(|n| has_class(n, "best") && n.attribute("data-series").is_some())
        .map(|n| n.attribute("stroke").unwrap())
        .collect();
    assert!(strokes[0] != strokes[1] && strokes[1] != strokes[2] && strokes[0] != strokes[2]);
    for name in ["best: main", "best: fork-a", "best: fork-b"] {
        assert!(svg.contains(&format!(">{name}</text>")), "{name}");
    }
    // One series: one line, no per-series rows.
    let one = history(30, 1.0, 0.05, Direction::Lower, 24);
    let svg = render(&spec(&one, Direction::Lower));
    assert_eq!(best_lines(&check(&svg)).len(), 1);
    assert!(svg.contains(">running best</text>") && !svg.contains("best: "));
}

#[test]
fn outliers_become_edge_markers_and_the_legend_counts_them() {
    // A tame history: a baseline, a kept run every sixth, discarded runs a little worse.
    let tame: Vec<Point> = (0..60)
        .map(|i| match i {
            0 => point(0, Some(1.0), Mark::Baseline),
            i if i % 6 == 0 => point(i, Some(1.0 - i as f64 * 0.001), Mark::Kept),
            i => point(
                i,
                Some(1.0 + ((i * 37) % 20) as f64 * 0.002),
                Mark::Discarded,
            ),
        })
        .collect();
    let mut points = tame.clone();
    for (i, v) in [50.0, 80.0, 1e200, -30.0].into_iter().enumerate() {
        points.push(point(60 + i as u64, Some(v), Mark::Discarded));
    }
    let svg = render(&spec(&points, Direction::Lower));
    let doc = check(&svg);
    let above: Vec<Node> = doc
        .descendants()
        .filter(|n| has_class(n, "edge") && n.attribute("d").is_some_and(|d| d.contains("l4.5 8")))
        .collect();
    let below = doc.descendants().filter(|n| has_class(n, "edge")).count() - above.len();
    assert_eq!((above.len(), below), (3, 1));
    assert_eq!(legend_count(&doc, "above the range"), 3);
    assert_eq!(legend_count(&doc, "below the range"), 1);
    assert_eq!(drawn(&doc, "discarded"), count_of(&points, Mark::Discarded));
    // Nothing out of range: no edge rows.
    let doc_text = render(&spec(&tame, Direction::Lower));
    assert!(!doc_text.contains("the range"));
}

#[test]
fn flagged_runs_get_a_ring_each() {
    let mut points = history(100, 1.0, 0.05, Direction::Lower, 41);
    for p in points.iter_mut().step_by(7) {
        p.flagged = true;
    }
    let flagged = points.iter().filter(|p| p.flagged).count();
    let doc_text = render(&spec(&points, Direction::Lower));
    let doc = check(&doc_text);
    assert_eq!(drawn(&doc, "ring"), flagged);
    assert_eq!(legend_count(&doc, "flagged"), flagged);
}

#[test]
fn user_text_is_escaped_and_labels_are_cut() {
    let evil = "<script>alert(1)</script> & \"x\" 'y' \u{1}";
    let long = "a".repeat(80);
    let mut points = history(40, 1.0, 0.05, Direction::Lower, 51);
    let kept: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].mark == Mark::Kept)
        .collect();
    points[kept[0]].label = Some(evil.to_string());
    points[kept[1]].label = Some(long.clone());
    let names = [evil.to_string()];
    let mut s = spec(&points, Direction::Lower);
    s.metric_name = evil;
    s.title = Some(evil);
    s.x_label = evil;
    s.series_names = &names;
    let svg = render(&s);
    let doc = check(&svg);
    assert!(
        !svg.contains("<script") && !svg.contains("& "),
        "raw text leaked"
    );
    assert!(
        svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &apos;y&apos;")
    );
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| has_class(n, "label"))
        .filter_map(|n| n.text())
        .collect();
    assert!(labels.contains(&"<script>alert(1)</script> & \"x\" 'y' \u{FFFD}"));
    let cut = format!("{}…", "a".repeat(LABEL_CHARS - 1));
    assert!(labels.contains(&cut.as_str()), "{labels:?}");
    assert!(!labels.contains(&long.as_str()));
    // Labels on discarded runs are not drawn.
    let discarded = points
        .iter()
        .position(|p| p.mark == Mark::Discarded)
        .unwrap();
    points[discarded].label = Some("not for a discarded run".into());
    assert!(!render(&spec(&points, Direction::Lower)).contains(">not for a discarded run<"));
}

#[test]
fn broken_input_still_gives_a_finite_chart() {
    let mut points = history(30, 1.0, 0.05, Direction::Lower, 61);
    points[3].x = f64::NAN;
    points[4].metric = Some(f64::INFINITY);
    points[5].metric = Some(f64::MAX);
    points[6].metric = Some(-f64::MAX);
    points[7].x = 1e308;
    points[8].x = -1e308;
    points[9].series = usize::MAX;
    let mut s = spec(&points, Direction::Lower);
    s.baseline = Some(f64::NAN);
    let svg = render(&s);
    let doc = check(&svg);
    assert_eq!(legend_count(&doc, "not drawn (no position)"), 1);
    for (width, height) in [(0, 0), (u32::MAX, u32::MAX), (321, 9000)] {
        (s.width, s.height) = (width, height);
        check(&render(&s));
    }
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let points = history(5000, 1.0, 0.05, Direction::Lower, 71);
    let s = spec(&points, Direction::Lower);
    assert_eq!(render(&s), render(&s));
}

#[test]
fn many_runs_are_binned_with_exact_counts() {
    let points = history(BIN_ABOVE + 1, 1.0, 0.05, Direction::Higher, 81);
    let svg = render(&spec(&points, Direction::Higher));
    let doc = check(&svg);
    for mark in Mark::ALL {
        assert_eq!(
            drawn(&doc, mark.class()),
            count_of(&points, mark),
            "{mark:?}"
        );
    }
    let bins = doc.descendants().filter(|n| has_class(n, "bin")).count();
    assert!(bins > 0 && bins <= 2 * MAX_COLUMNS, "{bins} bins");
    assert!(svg.contains("discarded (binned)"));
    // At the threshold, every run is still a dot of its own.
    let points = history(BIN_ABOVE, 1.0, 0.05, Direction::Higher, 81);
    let svg = render(&spec(&points, Direction::Higher));
    assert!(!svg.contains(" bin\""));
}

#[test]
fn a_hundred_thousand_runs_make_a_small_chart_quickly() {
    let points = history(100_000, 1.0, 0.05, Direction::Lower, 91);
    let s = spec(&points, Direction::Lower);
    let start = Instant::now();
    let svg = render(&s);
    let took = start.elapsed();
    eprintln!("100,000 runs: {} bytes in {took:?}", svg.len());
    assert!(svg.len() < 2_000_000, "{} bytes", svg.len());
    let doc = check(&svg);
    for mark in Mark::ALL {
        assert_eq!(
            drawn(&doc, mark.class()),
            count_of(&points, mark),
            "{mark:?}"
        );
    }
    let kept_dots = doc
        .descendants()
        .filter(|n| has_class(n, "kept") && n.attribute("data-n").is_none())
        .count();
    assert_eq!(
        kept_dots,
        count_of(&points, Mark::Kept),
        "kept runs are drawn one by one"
    );
    assert_eq!(
        best_lines(&doc)[0].1.matches('V').count(),
        improvements(&points, 0, Direction::Lower)
    );
    assert_eq!(
        drawn(&doc, "ring"),
        points.iter().filter(|p| p.flagged).count()
    );
    assert!(took.as_secs() < 30, "{took:?}");
}
