//! One test per pattern on the smallest ledger that shows it, a clean history that shows none,
//! and a long one that stays bounded.

use std::collections::HashMap;

use super::*;
use crate::ledger::{Record, Status};

/// A ledger under construction: runs numbered in order, each with its own code unless told.
#[derive(Default)]
struct Ledger {
    records: Vec<Record>,
}

impl Ledger {
    fn push(&mut self, status: Status, metric: Option<f64>, summary: &str) -> &mut Record {
        let run = self.records.len() as u64;
        let mut r = Record::blank(run, status, metric);
        r.summary = summary.to_string();
        r.code = Some(format!("{run:016x}"));
        r.source = "run".to_string();
        self.records.push(r);
        self.records.last_mut().expect("just pushed")
    }

    fn baseline(&mut self, metric: f64) -> &mut Record {
        self.push(Status::Baseline, Some(metric), "baseline")
    }

    fn kept(&mut self, metric: f64, summary: &str) -> &mut Record {
        self.push(Status::Kept, Some(metric), summary)
    }

    fn discarded(&mut self, metric: f64, summary: &str) -> &mut Record {
        self.push(Status::Discarded, Some(metric), summary)
    }

    fn crash(&mut self, reason: &str, summary: &str) -> &mut Record {
        let r = self.push(Status::Crash, None, summary);
        r.reason = Some(reason.to_string());
        r
    }
}

fn lower(records: &[Record]) -> Analysis {
    analyze(&Input::new(records, Direction::Lower))
}

fn of(a: &Analysis, kind: PatternKind) -> Vec<&Pattern> {
    a.patterns.iter().filter(|p| p.kind == kind).collect()
}

fn kinds(a: &Analysis) -> Vec<PatternKind> {
    let mut k: Vec<_> = a.patterns.iter().map(|p| p.kind).collect();
    k.dedup();
    k
}

/// Ten different ideas, each with its own vocabulary.
const IDEAS: [&str; 10] = [
    "raise the learning rate",
    "add dropout after attention",
    "wider hidden dimension",
    "switch optimizer to adamw",
    "cosine schedule",
    "rmsnorm for layernorm",
    "gelu activation",
    "longer context window",
    "label smoothing",
    "gradient clipping",
];

/// A healthy history: every other idea kept, each keep a clear gain, nothing repeated.
fn clean() -> Ledger {
    let mut l = Ledger::default();
    l.baseline(1.0);
    let mut best = 1.0;
    for (i, idea) in IDEAS.iter().enumerate() {
        if i % 2 == 0 {
            best -= 0.1;
            l.kept(best, idea);
        } else {
            l.discarded(best + 0.05, idea);
        }
    }
    l
}

#[test]
fn a_clean_history_shows_no_pattern() {
    let l = clean();
    let diffs: HashMap<u64, String> = l
        .records
        .iter()
        .map(|r| {
            (
                r.run,
                format!(
                    "--- a/t.py\n+++ b/t.py\n@@ -1 +1 @@\n-x = {}\n+x = {}\n",
                    r.run,
                    r.run + 1
                ),
            )
        })
        .collect();
    let diff_of = |r: &Record| diffs.get(&r.run).cloned();
    let program = "## Ideas\n- cosine schedule\n- gelu activation\n";
    let mut input = Input::new(&l.records, Direction::Lower);
    input.noise_sd = Some(0.01);
    input.program = Some(program);
    input.diff_of = Some(&diff_of);
    let a = analyze(&input);
    assert_eq!(a.patterns, [], "{:#?}", a.patterns);
    assert_eq!((a.records, a.experiments, a.kept), (11, 10, 5));
    assert_eq!(a.diffs_read, 10);
    assert!(a.families.iter().all(|f| f.tries == 1), "{:?}", a.families);
}

#[test]
fn stuck_streak_current() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    for idea in &IDEAS[..4] {
        l.discarded(1.1, idea);
    }
    assert_eq!(
        of(&lower(&l.records), PatternKind::StuckStreak),
        Vec::<&Pattern>::new()
    );
    l.discarded(1.1, IDEAS[4]);
    let a = lower(&l.records);
    let p = of(&a, PatternKind::StuckStreak);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].runs, [1, 2, 3, 4, 5]);
    assert_eq!(p[0].title, "5 experiments in a row without a keep (#1–#5)");
    assert!(p[0].detail.contains("since #0"), "{}", p[0].detail);
}

#[test]
fn another_workers_runs_are_named_by_their_labels() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    for idea in &IDEAS[..5] {
        l.discarded(1.1, idea);
    }
    for r in &mut l.records {
        r.worker = Some("gpu-03".into());
        r.worker_run = Some(r.run + 10);
        r.branch = Some("autoresearch@gpu-03".into());
    }
    let a = lower(&l.records);
    let p = of(&a, PatternKind::StuckStreak);
    assert_eq!(p[0].runs, [1, 2, 3, 4, 5], "the numbers stay this ledger's");
    assert_eq!(
        p[0].title,
        "5 experiments in a row without a keep (#11@gpu-03–#15@gpu-03)"
    );
    assert!(p[0].detail.contains("since #10@gpu-03"), "{}", p[0].detail);
    assert_eq!(p[0].run_names()[0], "#11@gpu-03");
    assert!(!a.families.is_empty());
    for f in &a.families {
        assert!(
            f.run_names().iter().all(|n| n.ends_with("@gpu-03")),
            "{f:?}"
        );
    }
    let own = lower(&l.records[..1]);
    assert!(own.patterns.iter().all(|p| p.labels.is_empty()));
}

#[test]
fn stuck_streak_longest_and_current() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    for idea in &IDEAS[..6] {
        l.discarded(1.1, idea);
    }
    l.kept(0.9, IDEAS[6]);
    // A re-check and an interrupted run neither extend nor break a streak.
    l.push(Status::Recheck, Some(0.9), "noise check");
    for idea in &IDEAS[7..] {
        l.discarded(1.1, idea);
    }
    l.crash("interrupted", "stopped");
    for s in ["muon", "bigger vocab"] {
        l.discarded(1.1, s);
    }
    let a = lower(&l.records);
    let p = of(&a, PatternKind::StuckStreak);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(p[0].runs, [1, 2, 3, 4, 5, 6]);
    assert!(
        p[0].detail.contains("the keep #7 ended it"),
        "{}",
        p[0].detail
    );
    assert_eq!(p[1].runs, [9, 10, 11, 13, 14]);
    assert!(
        p[1].detail.starts_with("The current streak:"),
        "{}",
        p[1].detail
    );
}

#[test]
fn plateau_when_the_best_stops_improving_despite_keeps() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.kept(0.9, "first win");
    l.kept(0.9, "a tie kept on its samples");
    for i in 0..29 {
        l.discarded(0.95, &format!("idea number {i} about topic{i}"));
    }
    let a = lower(&l.records);
    let p = of(&a, PatternKind::Plateau);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].runs, (1..=31).collect::<Vec<u64>>());
    assert_eq!(p[0].count, 31);
    assert!(
        p[0].title.starts_with(
            "The best (#1, 0.9) has not improved over the last 30 experiments (#2–#31)"
        ),
        "{}",
        p[0].title
    );
    // One fewer experiment: no plateau.
    let a = lower(&l.records[..l.records.len() - 1]);
    assert_eq!(of(&a, PatternKind::Plateau), Vec::<&Pattern>::new());
}

#[test]
fn plateau_and_keeps_within_noise_when_higher_is_better() {
    let mut l = Ledger::default();
    l.baseline(0.5);
    l.kept(0.501, "warmup 100 steps");
    l.kept(0.502, "swiglu activation");
    l.kept(0.503, "tied embeddings");
    let mut input = Input::new(&l.records, Direction::Higher);
    input.noise_sd = Some(0.01);
    let a = analyze(&input);
    let p = of(&a, PatternKind::Plateau);
    assert_eq!(p.len(), 1, "{:#?}", a.patterns);
    assert_eq!(p[0].runs, [1, 2, 3]);
    assert!(
        p[0].title
            .starts_with("The last 3 keeps together gained 0.003"),
        "{}",
        p[0].title
    );
    let w = of(&a, PatternKind::KeepWithinNoise);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].runs, [1, 2, 3]);
    // With a smaller noise, every gain is clear of it.
    let mut input = Input::new(&l.records, Direction::Higher);
    input.noise_sd = Some(0.0001);
    let a = analyze(&input);
    assert_eq!(kinds(&a), [], "{:#?}", a.patterns);
}

#[test]
fn keep_within_noise_needs_the_noise() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.kept(0.995, "smaller init scale");
    l.kept(0.8, "rotary embeddings");
    let mut input = Input::new(&l.records, Direction::Lower);
    assert_eq!(
        of(&analyze(&input), PatternKind::KeepWithinNoise),
        Vec::<&Pattern>::new()
    );
    input.noise_sd = Some(0.01);
    let a = analyze(&input);
    let p = of(&a, PatternKind::KeepWithinNoise);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].runs, [1]);
    assert!(p[0].detail.contains("#1 +0.005"), "{}", p[0].detail);
    // A simplification ties on purpose.
    l.records[1].flags = vec!["simplification".into()];
    let mut input = Input::new(&l.records, Direction::Lower);
    input.noise_sd = Some(0.01);
    assert_eq!(
        of(&analyze(&input), PatternKind::KeepWithinNoise),
        Vec::<&Pattern>::new()
    );
}

#[test]
fn exact_repeat_of_an_idea_but_not_a_recheck() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.discarded(1.1, "dropout 0.1").code = Some("x".into());
    l.discarded(1.2, "gelu");
    l.push(Status::Recheck, Some(1.1), "noise check").code = Some("x".into());
    assert_eq!(
        of(&lower(&l.records), PatternKind::ExactRepeat),
        Vec::<&Pattern>::new()
    );
    l.discarded(1.1, "dropout once more").code = Some("x".into());
    let a = lower(&l.records);
    let p = of(&a, PatternKind::ExactRepeat);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].runs, [1, 4]);
    assert!(
        p[0].detail.starts_with("Code x: first as #1 (discarded"),
        "{}",
        p[0].detail
    );
}

#[test]
fn near_duplicate_summaries_are_grouped() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.discarded(1.1, "Add dropout to the attention layers (p=0.1)");
    l.discarded(1.1, "gelu activation");
    l.discarded(1.1, "add dropout to attention layers, p = 0.2");
    l.discarded(1.1, "dropout in attention layers and MLP");
    let a = lower(&l.records);
    let p = of(&a, PatternKind::NearDuplicate);
    assert_eq!(p.len(), 1, "{p:#?}");
    // {dropout, attention, layer} twice; with "mlp" the Jaccard is 3/4 ≥ 0.7.
    assert_eq!(p[0].runs, [1, 3, 4]);
    assert!(
        p[0].title
            .starts_with("3 similar experiments: \"Add dropout"),
        "{}",
        p[0].title
    );
}

#[test]
fn near_duplicate_diffs_are_grouped() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.discarded(1.1, "first idea");
    l.discarded(1.1, "unrelated words entirely");
    l.discarded(1.1, "something else");
    let same = "--- a/t.py\n+++ b/t.py\n@@ -3 +3 @@\n-n_layer = 8\n+n_layer = 12\n";
    let moved = "--- a/t.py\n+++ b/t.py\n@@ -9 +9 @@\n-n_layer  =  8\n+    n_layer = 12\n";
    let diffs: HashMap<u64, &str> = [
        (1, same),
        (2, "--- a/t.py\n+++ b/t.py\n@@ -1 +1 @@\n-a\n+b\n"),
        (3, moved),
    ]
    .into();
    let diff_of = |r: &Record| diffs.get(&r.run).map(|d| d.to_string());
    let mut input = Input::new(&l.records, Direction::Lower);
    input.diff_of = Some(&diff_of);
    let a = analyze(&input);
    let p = of(&a, PatternKind::NearDuplicate);
    assert_eq!(p.len(), 1, "{:#?}", a.patterns);
    assert_eq!(p[0].runs, [1, 3]);
    assert!(
        p[0].detail.starts_with("Their diffs change the same lines"),
        "{}",
        p[0].detail
    );
}

#[test]
fn reversal_back_to_an_earlier_state() {
    let mut l = Ledger::default();
    l.baseline(1.0).code = Some("a".into());
    l.kept(0.9, "gelu").code = Some("b".into());
    l.kept(0.8, "wider").code = Some("c".into());
    l.discarded(0.85, "narrower again").code = Some("b".into());
    let a = lower(&l.records);
    let p = of(&a, PatternKind::Reversal);
    assert_eq!(p.len(), 1, "{:#?}", a.patterns);
    assert_eq!(p[0].runs, [1, 2, 3]);
    assert_eq!(
        p[0].title,
        "#3 went back to the target of #1, undoing 1 keep (#2)"
    );
    assert_eq!(of(&a, PatternKind::ExactRepeat), Vec::<&Pattern>::new());
    // The same code as the current state is no step back.
    l.records[3].code = Some("c".into());
    assert_eq!(
        of(&lower(&l.records), PatternKind::Reversal),
        Vec::<&Pattern>::new()
    );
}

#[test]
fn reversal_of_a_kept_diff() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.kept(0.9, "bigger batch");
    l.kept(0.8, "gelu");
    l.kept(0.7, "smaller batch");
    let there = "--- a/t.py\n+++ b/t.py\n@@ -1 +1 @@\n-batch = 32\n+batch = 64\n";
    let back = "--- a/t.py\n+++ b/t.py\n@@ -1 +1 @@\n-batch = 64\n+batch = 32\n";
    let other = "--- a/t.py\n+++ b/t.py\n@@ -5 +5 @@\n-act = relu\n+act = gelu\n";
    let diffs: HashMap<u64, &str> = [(1, there), (2, other), (3, back)].into();
    let diff_of = |r: &Record| diffs.get(&r.run).map(|d| d.to_string());
    let mut input = Input::new(&l.records, Direction::Lower);
    input.diff_of = Some(&diff_of);
    let a = analyze(&input);
    let p = of(&a, PatternKind::Reversal);
    assert_eq!(p.len(), 1, "{:#?}", a.patterns);
    assert_eq!(p[0].runs, [1, 3]);
    assert_eq!(p[0].title, "#3's change undoes #1's");
}

#[test]
fn seed_only_keep() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.kept(0.9, "different seed");
    l.kept(0.8, "deeper model");
    let seed = "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -10,2 +10,2 @@\n-torch.manual_seed(42)\n-np.random.seed(42)\n+torch.manual_seed(7)\n+np.random.seed(7)\n";
    let deeper =
        "--- a/train.py\n+++ b/train.py\n@@ -3 +3 @@\n-depth = 8 # seed-free\n+depth = 12\n";
    let diffs: HashMap<u64, &str> = [(1, seed), (2, deeper)].into();
    let diff_of = |r: &Record| diffs.get(&r.run).map(|d| d.to_string());
    let mut input = Input::new(&l.records, Direction::Lower);
    input.diff_of = Some(&diff_of);
    let a = analyze(&input);
    let p = of(&a, PatternKind::SeedOnlyKeep);
    assert_eq!(p.len(), 1, "{:#?}", a.patterns);
    assert_eq!(p[0].runs, [1]);
    assert!(
        p[0].detail.contains("`+np.random.seed(7)`"),
        "{}",
        p[0].detail
    );
}

#[test]
fn one_pattern_per_integrity_flag() {
    let flags = [
        ("suspicious_jump", PatternKind::SuspiciousJump),
        ("metric_repeated", PatternKind::MetricRepeated),
        ("zero_variance", PatternKind::ZeroVariance),
        ("duration_collapsed", PatternKind::DurationCollapsed),
        ("untracked_inputs", PatternKind::UntrackedInputs),
        ("leaked_processes", PatternKind::LeakedProcesses),
        ("kept_not_better", PatternKind::KeptNotBetter),
        ("harness_changed", PatternKind::HarnessChanged),
        ("simplification", PatternKind::Simplification),
    ];
    let mut l = Ledger::default();
    l.baseline(1.0);
    let mut best = 1.0;
    for (i, (flag, _)) in flags.iter().enumerate() {
        best -= 0.1;
        let r = l.kept(best, IDEAS[i]);
        r.flags = vec![flag.to_string(), "revert_skipped".to_string()];
    }
    l.discarded(0.5, "also leaked").flags = vec!["leaked_processes".into()];
    let a = lower(&l.records);
    for (i, (flag, kind)) in flags.iter().enumerate() {
        let p = of(&a, *kind);
        assert_eq!(p.len(), 1, "{flag}");
        let mut want = vec![i as u64 + 1];
        if *kind == PatternKind::LeakedProcesses {
            want.push(10);
        }
        assert_eq!(p[0].runs, want, "{flag}");
        assert!(
            p[0].title.starts_with(&format!("`{flag}` on ")),
            "{}",
            p[0].title
        );
    }
    assert_eq!(kinds(&a), flags.map(|(_, k)| k));
}

#[test]
fn retracted_keeps() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.kept(0.5, "cache the eval");
    let r = l.push(Status::Retraction, None, "the cache made it");
    r.retracts = Some(1);
    r.code = Some(format!("{:016x}", 1));
    let a = lower(&l.records);
    let p = of(&a, PatternKind::Retracted);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].runs, [1]);
    assert_eq!(p[0].title, "1 keep retracted (#1)");
    assert!(
        p[0].detail.contains("by #2: \"the cache made it\""),
        "{}",
        p[0].detail
    );
    // A retracted keep is no keep: the retraction's copy of its code is no repeat either.
    assert_eq!(a.kept, 0);
    assert_eq!(of(&a, PatternKind::ExactRepeat), Vec::<&Pattern>::new());
}

#[test]
fn crash_clusters_by_reason() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.crash(
        "exit_code 1: CUDA out of memory (tried to allocate 2.3 GiB)",
        "wider",
    );
    l.crash(
        "exit_code 1: CUDA out of memory (tried to allocate 4.1 GiB)",
        "deeper",
    );
    l.crash("exit_code 2: syntax error", "typo");
    l.crash("interrupted", "stopped");
    l.crash("interrupted", "stopped again");
    // One of each reason (and the interrupted runs, which are no failures): no cluster.
    let apart: Vec<Record> = [0, 1, 3, 4, 5].map(|i| l.records[i].clone()).to_vec();
    assert_eq!(
        of(&lower(&apart), PatternKind::CrashCluster),
        Vec::<&Pattern>::new()
    );
    let a = lower(&l.records);
    let p = of(&a, PatternKind::CrashCluster);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].runs, [1, 2]);
    assert!(p[0].title.starts_with("2 crashes with the reason \"exit_code 1: CUDA out of memory (tried to allocate 4.1 GiB)\""), "{}", p[0].title);
    assert!(
        p[0].detail.contains("differ only in numbers"),
        "{}",
        p[0].detail
    );
}

#[test]
fn families_and_a_dead_one() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    for (i, s) in [
        "dropout 0.1",
        "attention dropout",
        "raise dropout",
        "dropout on the MLP",
        "residual dropout 0.3",
    ]
    .iter()
    .enumerate()
    {
        l.discarded(1.1 + i as f64 / 100.0, s);
    }
    l.kept(0.9, "lr 3e-4");
    l.discarded(1.2, "learning rate 1e-3");
    l.kept(0.8, "mixup regularizer");
    l.discarded(0.85, "cutmix regularizer");
    let a = lower(&l.records);
    let names: Vec<(&str, usize, usize)> = a
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.tries, f.kept))
        .collect();
    assert_eq!(
        names,
        [
            ("dropout", 5, 0),
            ("learning rate", 2, 1),
            ("regularizer", 2, 1)
        ]
    );
    assert_eq!(a.families[1].keep_rate, 0.5);
    let p = of(&a, PatternKind::DeadFamily);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].runs, [1, 2, 3, 4, 5]);
    assert!(
        p[0].title.starts_with("\"dropout\": 5 tries, none kept"),
        "{}",
        p[0].title
    );
    // Four tries are not enough to call it.
    let mut fewer = l.records.clone();
    fewer.remove(5);
    assert_eq!(
        of(&lower(&fewer), PatternKind::DeadFamily),
        Vec::<&Pattern>::new()
    );
}

#[test]
fn untried_ideas_of_the_program() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.discarded(1.1, "cosine lr schedule");
    l.kept(0.9, "Muon optimizer for the matrices");
    let program = "# Research program\n\nRules:\n- only edit train.py\n\n## Ideas to try\n- Cosine learning-rate schedule\n- SwiGLU activation in the MLP\n- Muon\n- 2x\n";
    let mut input = Input::new(&l.records, Direction::Lower);
    input.program = Some(program);
    let a = analyze(&input);
    let p = of(&a, PatternKind::UntriedIdea);
    assert_eq!(p.len(), 1, "{:#?}", a.patterns);
    assert_eq!(
        p[0].title,
        "\"SwiGLU activation in the MLP\" (program.md) matches no summary"
    );
    assert_eq!((p[0].runs.len(), p[0].count), (0, 0));
    assert!(
        p[0].detail.contains("swiglu, activation, mlp"),
        "{}",
        p[0].detail
    );
}

#[test]
fn patterns_come_by_kind_then_first_run() {
    let mut l = Ledger::default();
    l.baseline(1.0);
    l.crash("no_metric", "typo one");
    l.crash("no_metric", "typo two");
    l.kept(0.5, "jump").flags = vec!["suspicious_jump".into()];
    for idea in &IDEAS[..5] {
        l.discarded(0.6, idea);
    }
    l.crash("signal 9", "huge model");
    l.crash("signal 9", "huger model");
    let a = lower(&l.records);
    let order: Vec<(PatternKind, u64)> = a.patterns.iter().map(|p| (p.kind, p.runs[0])).collect();
    assert_eq!(
        order,
        [
            (PatternKind::StuckStreak, 4),
            (PatternKind::SuspiciousJump, 3),
            (PatternKind::CrashCluster, 1),
            (PatternKind::CrashCluster, 9),
        ]
    );
    let json = serde_json::to_value(&a.patterns[0]).expect("serializes");
    assert_eq!(json["kind"], "stuck_streak");
    assert_eq!(json["count"], 7);
}

#[test]
fn branches_are_followed_apart() {
    let mut l = Ledger::default();
    l.baseline(1.0).branch = Some("main".into());
    l.baseline(1.0).branch = Some("fork".into());
    for (i, idea) in IDEAS.iter().enumerate() {
        let branch = if i % 2 == 0 { "main" } else { "fork" };
        l.discarded(1.1, idea).branch = Some(branch.into());
    }
    // Five each, interleaved: one streak per branch.
    let a = lower(&l.records);
    let p = of(&a, PatternKind::StuckStreak);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(p[0].branch.as_deref(), Some("main"));
    assert_eq!(p[0].runs, [2, 4, 6, 8, 10]);
    assert_eq!(p[1].branch.as_deref(), Some("fork"));
}

/// 100,000 records of every kind: the analysis stays bounded (and quick: see the module
/// header; no timing is asserted).
#[test]
fn a_hundred_thousand_records_stay_bounded() {
    let words = [
        "dropout",
        "learning rate",
        "warmup",
        "batch size",
        "depth",
        "width",
        "attention",
    ];
    let mut l = Ledger::default();
    l.baseline(10.0);
    let mut best = 10.0;
    for i in 1..100_000u64 {
        let w = words[(i % 7) as usize];
        let summary = format!("try {w} {} variant {}", i % 13, i % 101);
        match i % 10 {
            0 => {
                best -= 0.0001;
                l.kept(best, &summary);
            }
            1 => {
                let r = l.crash(
                    &format!("exit_code 1: out of memory at {} MiB", i % 977),
                    &summary,
                );
                r.flags = vec!["leaked_processes".into()];
            }
            2 => {
                // Retried code.
                l.discarded(best + 0.1, &summary).code = Some(format!("{:016x}", i % 500));
            }
            _ => {
                l.discarded(best + 0.1, &summary);
            }
        }
    }
    let diff_of = |r: &Record| {
        Some(format!(
            "--- a/t.py\n+++ b/t.py\n@@ -1 +1 @@\n-x = {}\n+x = {}\n",
            r.run % 7,
            r.run % 11
        ))
    };
    let program = "## Ideas\n- nothing like this\n- dropout\n";
    let mut input = Input::new(&l.records, Direction::Lower);
    input.noise_sd = Some(0.01);
    input.program = Some(program);
    input.diff_of = Some(&diff_of);
    let a = analyze(&input);
    assert_eq!(a.records, 100_000);
    assert!(a.diffs_read <= DIFF_KEEPS + DIFF_RECENT);
    assert!(a.families.len() <= ideas::FAMILIES_CAP);
    for p in &a.patterns {
        assert!(p.runs.len() <= RUNS_CAP, "{p:?}");
        assert!(p.count >= p.runs.len());
    }
    for kind in PatternKind::ALL {
        assert!(of(&a, kind).len() <= PATTERNS_PER_KIND, "{kind:?}");
    }
    let k = kinds(&a);
    for want in [
        PatternKind::ExactRepeat,
        PatternKind::NearDuplicate,
        PatternKind::KeepWithinNoise,
        PatternKind::LeakedProcesses,
        PatternKind::CrashCluster,
        PatternKind::UntriedIdea,
    ] {
        assert!(k.contains(&want), "{want:?} in {k:?}");
    }
    assert!(a.omitted.iter().any(|o| o.kind == PatternKind::ExactRepeat));
    assert_eq!(
        serde_json::to_string(&a).ok().map(|s| s.len() < 200_000),
        Some(true)
    );
}

#[test]
fn the_same_input_gives_the_same_output() {
    let mut l = clean();
    l.discarded(2.0, IDEAS[0]).code = Some(format!("{:016x}", 1));
    for i in 0..6 {
        l.crash(&format!("error {i}"), "x");
    }
    let a = serde_json::to_string(&lower(&l.records)).expect("json");
    let b = serde_json::to_string(&lower(&l.records)).expect("json");
    assert_eq!(a, b);
}
