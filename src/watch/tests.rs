//! Unit tests of the watcher: one happening per appended record with the right best, the
//! alerts, `--since`, a replaced ledger, and each loop state.

use super::*;
use crate::loopfile::{Owned, hostname};

const CONFIG: &str = "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\n\
metric_name = \"score\"\nmetric_direction = \"lower\"\nprotected = [\"eval.sh\"]\n";

struct Fixture {
    _dir: tempfile::TempDir,
    project: Project,
    config: Config,
    ledger: Ledger,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let project = Project::discover(dir.path()).unwrap();
        std::fs::create_dir_all(project.state_dir()).unwrap();
        let config = Config::parse("autoresearch.toml", CONFIG).unwrap().0;
        let ledger = Ledger::new(&project.state_dir(), Direction::Lower, "autoresearch");
        Fixture {
            _dir: dir,
            project,
            config,
            ledger,
        }
    }

    fn open(&self, which: Which, since: Since) -> Result<(Watcher, Vec<Happening>)> {
        Watcher::open(
            &self.project,
            &self.config,
            Options {
                which,
                since,
                history: false,
                recent: 5,
            },
        )
    }

    fn watch(&self) -> Watcher {
        self.open(Which::Branch("autoresearch".into()), Since::Now)
            .unwrap()
            .0
    }

    /// Append a record of `branch`; returns its id.
    fn add(&self, branch: &str, status: Status, metric: Option<f64>, code: &str) -> String {
        let (rec, _) = self
            .ledger
            .append(|run, _| {
                Ok(Record {
                    id: ledger::new_id(),
                    branch: Some(branch.into()),
                    code: Some(code.into()),
                    setup: Some("s".into()),
                    samples: metric.into_iter().collect(),
                    ..Record::blank(run, status, metric)
                })
            })
            .unwrap();
        rec.id
    }

    fn put_loop(&self, branch: &str, state: &LoopState) {
        let path = self.project.branch_loop(branch).state;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(state).unwrap()).unwrap();
    }
}

fn records(h: &[Happening]) -> Vec<(u64, bool)> {
    h.iter()
        .filter_map(|h| match h {
            Happening::Record {
                record, new_best, ..
            } => Some((record["run"].as_u64().unwrap(), *new_best)),
            _ => None,
        })
        .collect()
}

fn alerts(h: &[Happening]) -> Vec<AlertKind> {
    h.iter()
        .filter_map(|h| match h {
            Happening::Alert { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

#[test]
fn each_appended_record_is_one_happening_with_the_best_after_it() {
    let f = Fixture::new();
    f.add("autoresearch", Status::Baseline, Some(1.0), "a");
    let mut w = f.watch();
    assert!(w.tick().unwrap().is_empty(), "nothing new yet");
    let kept = f.add("autoresearch", Status::Kept, Some(0.8), "b");
    f.add("autoresearch", Status::Discarded, Some(0.9), "c");
    let h = w.tick().unwrap();
    assert_eq!(records(&h), vec![(1, true), (2, false)]);
    let Happening::Record { best, record, .. } = &h[1] else {
        panic!("{h:?}")
    };
    let best = best.as_ref().unwrap();
    assert_eq!((best.brief.run, best.level), (1, Some(0.8)));
    assert_eq!(record["run"], 2);
    let Happening::Record { record, .. } = &h[0] else {
        panic!("{h:?}")
    };
    assert_eq!(
        record["id"].as_str(),
        Some(kept.as_str()),
        "the ledger line as written"
    );
    assert!(w.tick().unwrap().is_empty(), "each record once");
    // Another branch's records are not this watch's.
    f.add("autoresearch-fork-a", Status::Kept, Some(0.1), "d");
    assert!(records(&w.tick().unwrap()).is_empty());
    // Every branch's, with `All`.
    let (mut all, _) = f.open(Which::All, Since::Now).unwrap();
    f.add("autoresearch-fork-a", Status::Discarded, Some(0.5), "e");
    assert_eq!(records(&all.tick().unwrap()), vec![(4, false)]);
}

#[test]
fn a_baseline_is_never_a_new_best_and_a_worse_keep_is_not_one() {
    let f = Fixture::new();
    let mut w = f.watch();
    f.add("autoresearch", Status::Baseline, Some(1.0), "a");
    f.add("autoresearch", Status::Kept, Some(1.2), "b");
    assert_eq!(records(&w.tick().unwrap()), vec![(0, false), (1, false)]);
}

#[test]
fn crash_streaks_stuck_stretches_and_flags_raise_alerts_once() {
    let f = Fixture::new();
    f.add("autoresearch", Status::Baseline, Some(1.0), "a");
    let mut w = f.watch();
    for i in 0..3 {
        f.add("autoresearch", Status::Crash, None, &format!("c{i}"));
    }
    assert_eq!(alerts(&w.tick().unwrap()), vec![AlertKind::CrashStreak]);
    f.add("autoresearch", Status::Crash, None, "c4");
    assert!(alerts(&w.tick().unwrap()).is_empty(), "once per 3");
    for i in 0..6 {
        f.add(
            "autoresearch",
            Status::Discarded,
            Some(1.1),
            &format!("d{i}"),
        );
    }
    assert_eq!(
        alerts(&w.tick().unwrap()),
        vec![AlertKind::Stuck],
        "10 runs without a keep"
    );
    f.ledger
        .append(|run, _| {
            Ok(Record {
                id: ledger::new_id(),
                branch: Some("autoresearch".into()),
                flags: vec!["simplification".into(), "harness_changed".into()],
                ..Record::blank(run, Status::Kept, Some(0.5))
            })
        })
        .unwrap();
    let h = w.tick().unwrap();
    assert_eq!(alerts(&h), vec![AlertKind::Flagged]);
    let Some(Happening::Alert { message, .. }) =
        h.iter().find(|h| matches!(h, Happening::Alert { .. }))
    else {
        panic!()
    };
    assert!(
        message.contains("harness_changed") && !message.contains("simplification"),
        "{message}"
    );
}

#[test]
fn since_replays_what_follows_a_record_and_refuses_an_unknown_one() {
    let f = Fixture::new();
    f.add("autoresearch", Status::Baseline, Some(1.0), "a");
    let id = f.add("autoresearch", Status::Kept, Some(0.8), "b");
    f.add("autoresearch", Status::Discarded, Some(0.9), "c");
    f.add("autoresearch", Status::Kept, Some(0.7), "d");
    let which = || Which::Branch("autoresearch".into());
    let (_, replay) = f.open(which(), Since::Id(id)).unwrap();
    assert_eq!(records(&replay), vec![(2, false), (3, true)]);
    let (mut w, replay) = f.open(which(), Since::Run(RunRef::Local(3))).unwrap();
    assert!(replay.is_empty());
    f.add("autoresearch", Status::Discarded, Some(0.9), "e");
    assert_eq!(records(&w.tick().unwrap()), vec![(4, false)]);
    let err = f
        .open(which(), Since::Run(RunRef::Local(99)))
        .err()
        .unwrap();
    assert_eq!(err.code, Code::RunNotFound);
    let err = f.open(which(), Since::Id("nope".into())).err().unwrap();
    assert_eq!(err.code, Code::RunNotFound);
    assert_eq!(Since::parse("now"), Since::Now);
    assert_eq!(Since::parse("#12"), Since::Run(RunRef::Local(12)));
    assert_eq!(
        Since::parse("12@gpu-03"),
        Since::Run(RunRef::Worker {
            run: 12,
            worker: "gpu-03".into()
        })
    );
    assert_eq!(Since::parse("r-1"), Since::Id("r-1".into()));
}

#[test]
fn a_replaced_ledger_is_read_again_and_what_follows_the_last_record_seen_is_reported() {
    let f = Fixture::new();
    f.add("autoresearch", Status::Baseline, Some(1.0), "a");
    f.add("autoresearch", Status::Discarded, Some(1.1), "b");
    let mut w = f.watch();
    // Rewritten with its lines plus one more, by a rename (another inode).
    let text = std::fs::read_to_string(&f.ledger.path).unwrap();
    let tmp = f.ledger.path.with_extension("tmp");
    let extra = serde_json::to_string(&Record {
        id: "extra".into(),
        branch: Some("autoresearch".into()),
        ..Record::blank(2, Status::Discarded, Some(1.2))
    })
    .unwrap();
    std::fs::write(&tmp, format!("{text}{extra}\n")).unwrap();
    std::fs::rename(&tmp, &f.ledger.path).unwrap();
    let h = w.tick().unwrap();
    assert_eq!(alerts(&h), vec![AlertKind::LedgerReplaced]);
    assert_eq!(records(&h), vec![(2, false)]);
    assert_eq!(w.summary().valid, 3);
}

fn state(pid: u32, active: bool, heartbeat: String) -> LoopState {
    LoopState {
        pid,
        host: hostname(),
        started_at: ledger::now_timestamp(),
        iteration: 1,
        heartbeat_at: heartbeat,
        active,
        run: Some(4),
        owns: Owned::default(),
        left: None,
    }
}

#[test]
fn loops_are_running_idle_stale_or_dead() {
    let f = Fixture::new();
    let mut w = f.watch();
    let me = std::process::id();
    f.put_loop("autoresearch", &state(me, true, ledger::now_timestamp()));
    let h = w.tick().unwrap();
    assert!(
        matches!(
            &h[..],
            [
                Happening::RunStarted { run: 4, .. },
                Happening::Loop {
                    state: LoopKind::Running,
                    previous: None,
                    ..
                }
            ]
        ),
        "{h:?}"
    );
    assert!(w.tick().unwrap().is_empty(), "no change, no happening");
    f.put_loop("autoresearch", &state(me, false, ledger::now_timestamp()));
    assert!(matches!(
        &w.tick().unwrap()[..],
        [Happening::Loop {
            state: LoopKind::Idle,
            ..
        }]
    ));
    let old = (chrono::Utc::now() - chrono::Duration::seconds(120))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    f.put_loop("autoresearch", &state(me, true, old));
    let h = w.tick().unwrap();
    assert_eq!(alerts(&h), vec![AlertKind::LoopStale], "{h:?}");
    // A process that is gone: a child, reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    f.put_loop("autoresearch", &state(gone, true, ledger::now_timestamp()));
    let h = w.tick().unwrap();
    assert_eq!(alerts(&h), vec![AlertKind::LoopDead], "{h:?}");
    assert_eq!(w.loops().next().map(|l| l.kind), Some(LoopKind::Dead));
    // Another branch's loop is listed but raises nothing in a one-branch watch.
    f.put_loop(
        "autoresearch-fork-b",
        &state(gone, true, ledger::now_timestamp()),
    );
    assert!(w.tick().unwrap().is_empty());
    assert_eq!(w.loops().count(), 2);
}
