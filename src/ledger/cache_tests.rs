//! Tests of the cached fold (`cache`): what invalidates `summary.json`, what a reader then
//! does, and `cached_summary` / `for_each_upto` / `tail_upto`, the readers that must not fold.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use super::store::How;
use super::*;

fn ledger(dir: &Path) -> Ledger {
    Ledger::new(dir, Direction::Lower, "autoresearch")
}

fn rec(run: u64, status: Status, metric: Option<f64>) -> Record {
    Record {
        id: format!("id-{run}"),
        timestamp: "2026-01-01T00:00:00.000Z".into(),
        summary: format!("run {run}: a summary long enough to make the ledger pass 4 KiB"),
        branch: Some("autoresearch".into()),
        source: "record".into(),
        ..Record::blank(run, status, metric)
    }
}

/// A baseline at 1.0 then `n - 1` discarded runs: the first line is the one to tamper with.
fn seeded(dir: &Path, n: u64) -> Ledger {
    let l = ledger(dir);
    l.append(|run, _| Ok(rec(run, Status::Baseline, Some(1.0))))
        .unwrap();
    for _ in 1..n {
        l.append(|run, _| Ok(rec(run, Status::Discarded, Some(2.0))))
            .unwrap();
    }
    l
}

/// The cache once it is current by metadata. An append leaves it current unless the
/// filesystem's clock is too coarse to settle in time; a reader's fold then re-stamps it.
fn settle(l: &Ledger) -> Summary {
    for _ in 0..400 {
        if let Some(s) = l.cached_summary() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
        l.summary().unwrap();
    }
    panic!("the cache never became current")
}

/// Overwrite bytes in place: same inode, same length.
fn patch(l: &Ledger, at: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(&l.path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

/// Where the first line's metric (`1.0`) starts.
fn first_metric_at(l: &Ledger) -> u64 {
    let text = std::fs::read_to_string(&l.path).unwrap();
    (text.find("\"metric\":1.0").unwrap() + "\"metric\":".len()) as u64
}

#[test]
fn an_append_leaves_a_current_cache_and_a_reader_trusts_it() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 3);
    // The appender stamped the cache itself: no reader had to fold.
    let saved = l.load_cache().unwrap();
    assert!(saved.stamp.is_some());
    let cached = l.cached_summary().expect("current after an append");
    assert_eq!(cached.valid, 3);
    let (s, how) = l.summary_how().unwrap();
    assert_eq!(how, How::Current);
    assert_eq!(s.offset, std::fs::metadata(&l.path).unwrap().len());
}

#[test]
fn a_same_length_edit_of_an_early_line_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 40);
    assert!(std::fs::metadata(&l.path).unwrap().len() > 8192);
    settle(&l);
    // Whatever the clock's granularity: the edit sets the ledger's ctime at or after the
    // fence taken before the cache's stat, so the stamp no longer matches.
    patch(&l, first_metric_at(&l), b"3.0");
    assert!(l.cached_summary().is_none());
    let (s, how) = l.summary_how().unwrap();
    assert_eq!(how, How::Scratch);
    assert_eq!(s.all.best_metric(), Some(3.0));
}

#[test]
fn a_truncation_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 5);
    settle(&l);
    let text = std::fs::read_to_string(&l.path).unwrap();
    let three: usize = text.split_inclusive('\n').take(3).map(str::len).sum();
    OpenOptions::new()
        .write(true)
        .open(&l.path)
        .unwrap()
        .set_len(three as u64 + 10)
        .unwrap();
    assert!(l.cached_summary().is_none());
    let (s, how) = l.summary_how().unwrap();
    assert_eq!(how, How::Scratch);
    assert_eq!((s.valid, s.torn_tail), (3, Some(4)));
    // The reader's cache knows the torn tail without reading the ledger.
    assert_eq!(settle(&l).torn_tail, Some(4));
}

#[test]
fn a_replaced_file_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 3);
    settle(&l);
    let text = std::fs::read_to_string(&l.path).unwrap();
    let other = text.replacen("\"metric\":1.0", "\"metric\":0.5", 1);
    assert_eq!(other.len(), text.len());
    let tmp = dir.path().join("other.jsonl");
    std::fs::write(&tmp, &other).unwrap();
    std::fs::rename(&tmp, &l.path).unwrap();
    assert!(l.cached_summary().is_none());
    let (s, how) = l.summary_how().unwrap();
    assert_eq!(how, How::Scratch);
    assert_eq!(s.all.best_metric(), Some(0.5));
    // An identical copy under a new inode: verified by its hash, then trusted again.
    let text = std::fs::read_to_string(&l.path).unwrap();
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, &l.path).unwrap();
    let (_, how) = l.summary_how().unwrap();
    assert_eq!(
        how,
        How::Incremental {
            from: text.len() as u64
        }
    );
}

#[test]
fn a_foreign_append_is_folded_incrementally() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 3);
    let before = settle(&l);
    // Another tool appends without the lock.
    let mut line = serde_json::to_vec(&rec(3, Status::Kept, Some(0.25))).unwrap();
    line.push(b'\n');
    OpenOptions::new()
        .append(true)
        .open(&l.path)
        .unwrap()
        .write_all(&line)
        .unwrap();
    assert!(l.cached_summary().is_none());
    let (s, how) = l.summary_how().unwrap();
    assert_eq!(
        how,
        How::Incremental {
            from: before.offset
        }
    );
    assert_eq!((s.valid, s.lines), (4, 4));
    assert_eq!(s.all.best_metric(), Some(0.25));
    assert_eq!(s.all.last.as_ref().map(|r| r.run), Some(3));
    assert_eq!(s.next_run(), Some(4));
    // Exactly what a fold from scratch gives.
    std::fs::remove_file(dir.path().join("summary.json")).unwrap();
    let (fresh, how) = l.summary_how().unwrap();
    assert_eq!(how, How::Scratch);
    assert_eq!(
        serde_json::to_value(&fresh.all).unwrap(),
        serde_json::to_value(&s.all).unwrap()
    );
    assert_eq!(fresh.prefix_hash, s.prefix_hash);
    // The reader saved what it folded; the next append builds on it.
    let (r, _) = l
        .append(|run, _| Ok(rec(run, Status::Discarded, None)))
        .unwrap();
    assert_eq!(r.run, 4);
    assert_eq!(settle(&l).valid, 5);
}

#[test]
fn cached_summary_is_none_after_any_change_and_some_when_current() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    // No ledger yet: the empty summary is exact.
    assert_eq!(l.cached_summary().map(|s| s.valid), Some(0));
    let l = seeded(dir.path(), 2);
    assert_eq!(settle(&l).valid, 2);
    // Timestamps alone (contents unchanged) are a change: only the hash can vouch for it.
    let f = OpenOptions::new().write(true).open(&l.path).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    assert!(l.cached_summary().is_none());
    assert_eq!(
        l.summary_how().unwrap().1,
        How::Incremental {
            from: std::fs::metadata(&l.path).unwrap().len()
        }
    );
    assert_eq!(settle(&l).valid, 2);
    // No cache at all.
    std::fs::remove_file(dir.path().join("summary.json")).unwrap();
    assert!(l.cached_summary().is_none());
    // A cache for other settings.
    l.summary().unwrap();
    assert!(
        Ledger::new(dir.path(), Direction::Higher, "autoresearch")
            .cached_summary()
            .is_none()
    );
    assert!(
        Ledger::new(dir.path(), Direction::Lower, "main")
            .cached_summary()
            .is_none()
    );
}

/// Trust by metadata reads no ledger byte: a doctored cache with a valid stamp is believed.
/// And a "racy" stamp (the ledger's ctime not before the fence) is never believed.
#[test]
fn the_stamp_decides_alone_and_a_racy_one_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 2);
    let mut s = settle(&l);
    s.valid = 99;
    l.save_cache(&s);
    assert_eq!(l.cached_summary().map(|s| s.valid), Some(99));
    let stamp = s.stamp.expect("a current cache is stamped");
    s.stamp = Some(cache::Stamp {
        fence: [stamp.file.ctime()[0], stamp.file.ctime()[1]],
        ..stamp
    });
    l.save_cache(&s);
    assert!(l.cached_summary().is_none());
    // The reader checks it by hash (it matches) and keeps its counts: the cache is trusted
    // for what it says about the prefix, and the stamp only saves reading it.
    let (_, how) = l.summary_how().unwrap();
    assert_eq!(how, How::Incremental { from: s.offset });
}

#[test]
fn for_each_and_tail_upto_stop_at_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let l = seeded(dir.path(), 3);
    let s = l.summary().unwrap();
    l.append(|run, _| Ok(rec(run, Status::Kept, Some(0.5))))
        .unwrap();
    l.append(|run, _| Ok(rec(run, Status::Kept, Some(0.4))))
        .unwrap();
    let mut runs = Vec::new();
    let warnings = l
        .for_each_upto(s.offset, |_, r| {
            runs.push(r.run);
            true
        })
        .unwrap();
    assert_eq!(runs, vec![0, 1, 2]);
    assert!(warnings.is_empty());
    let tail: Vec<u64> = l
        .tail_upto(s.offset, 2, &Filter::default())
        .unwrap()
        .iter()
        .map(|r| r.run)
        .collect();
    assert_eq!(tail, vec![1, 2]);
    let mut all = 0;
    l.for_each(|_, _| {
        all += 1;
        true
    })
    .unwrap();
    assert_eq!(all, 5);
    // A torn tail inside the range is reported; one past the end of the range is not.
    OpenOptions::new()
        .append(true)
        .open(&l.path)
        .unwrap()
        .write_all(b"{\"run\":5,")
        .unwrap();
    let count = |end: u64| {
        let mut n = 0;
        let w = l
            .for_each_upto(end, |_, _| {
                n += 1;
                true
            })
            .unwrap();
        (n, w.len())
    };
    assert_eq!(count(s.offset), (3, 0));
    assert_eq!(count(u64::MAX), (5, 1));
}
