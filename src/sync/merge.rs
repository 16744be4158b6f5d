//! What `sync` adds to this clone's ledger from the other workers' shards, and which of its
//! lines it publishes as its own. Pure: the caller reads and writes (under the ledger lock).
//!
//! The ledger a syncing clone keeps is the union of every shard, materialized: this worker's
//! lines as it wrote them, then each record `sync` brought, appended once (deduplicated by
//! `id`) with
//! - `run`: this ledger's next number (run numbers stay unique here), the writer's own number
//!   kept in `worker_run`, and `worker` naming the writer;
//! - `branch`: `<branch>@<worker>`, so another worker's branch folds, lists and filters as a
//!   branch of its own and never mixes with this worker's decisions;
//! - `retracts`, on a retraction, mapped from the writer's numbering to this ledger's.
//!
//! The records of one sync are appended ordered by their logical clock (then writer, then
//! place in the shard): a record's clock is above every clock its writer had seen, so nothing
//! lands before a record it could have depended on, and the ledger's order is causal on every
//! clone whatever the wall clocks say. Concurrent records may sit in another order on another
//! clone; the set is the same.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::ledger::{Line, Record, parse_line};

/// One record to bring in, before it gets a number here.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub worker: String,
    pub record: Record,
    clock: u64,
    position: usize,
}

/// What one worker's shard held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShardCount {
    pub worker: String,
    /// Records in its shard.
    pub records: u64,
    /// Of them, not yet in this ledger.
    pub new: u64,
}

/// The plan of one sync's merge.
#[derive(Debug, Default)]
pub struct Plan {
    /// In the order they are to be appended.
    pub incoming: Vec<Incoming>,
    pub shards: Vec<ShardCount>,
    /// Lines that could not be read, or retractions whose target is unknown: left out, named.
    pub warnings: Vec<String>,
}

/// What the local ledger already holds: every id, and where each other worker's run landed.
#[derive(Debug, Default)]
pub struct Local {
    ids: HashSet<String>,
    runs: HashMap<(String, u64), u64>,
}

impl Local {
    #[cfg(test)]
    pub fn of(records: impl IntoIterator<Item = Record>) -> Local {
        let mut local = Local::default();
        for r in records {
            local.add(&r);
        }
        local
    }

    /// Note one record the ledger holds.
    pub fn add(&mut self, r: &Record) {
        if let (Some(w), Some(their)) = (&r.worker, r.worker_run) {
            self.runs.insert((w.clone(), their), r.run);
        }
        self.ids.insert(r.id.clone());
    }
}

/// The lines of `ledger` this worker wrote: every complete line that is a record without
/// `worker_run`, byte for byte (blank and unreadable lines are not published).
pub fn own_lines(ledger: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut first = true;
    for line in ledger.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            break; // a torn last line is not a record yet
        };
        if let Line::Record(r) = parse_line(body, first)
            && r.worker_run.is_none()
        {
            out.extend_from_slice(crate::ledger::trim_line(body, first));
            out.push(b'\n');
        }
        first = false;
    }
    out
}

/// The id a record without one gets, the same on every clone: the writer and a digest of the
/// line (a first-generation line has no id; deduplication needs one).
fn derived_id(worker: &str, line: &[u8]) -> String {
    format!("sync-{worker}-{:016x}", xxhash_rust::xxh3::xxh3_64(line))
}

/// Which records of `shards` (each worker's published lines, `me`'s own skipped) are new to
/// `local`, in the order to append them.
pub fn plan(local: &Local, me: &str, shards: &[(String, Vec<u8>)]) -> Plan {
    let mut plan = Plan::default();
    let mut seen: HashSet<String> = HashSet::new();
    for (worker, bytes) in shards.iter().filter(|(w, _)| w != me) {
        let mut count = ShardCount {
            worker: worker.clone(),
            records: 0,
            new: 0,
        };
        let mut bad = 0u64;
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let mut record = match parse_line(line, i == 0) {
                Line::Record(r) => *r,
                Line::Blank => continue,
                Line::Bad => {
                    bad += 1;
                    continue;
                }
            };
            count.records += 1;
            if record.id.is_empty() {
                record.id = derived_id(worker, line);
            }
            if local.ids.contains(&record.id) || !seen.insert(record.id.clone()) {
                continue;
            }
            count.new += 1;
            plan.incoming.push(Incoming {
                worker: worker.clone(),
                clock: record.clock.unwrap_or(0),
                record,
                position: i,
            });
        }
        if bad > 0 {
            plan.warnings.push(format!(
                "{bad} line(s) of worker `{worker}`'s shard could not be read and were left out."
            ));
        }
        plan.shards.push(count);
    }
    plan.incoming
        .sort_by(|a, b| (a.clock, &a.worker, a.position).cmp(&(b.clock, &b.worker, b.position)));
    plan
}

/// The records to append for `plan`, numbered by `next` (this ledger's next run numbers).
/// A retraction whose target is in neither this ledger nor the plan is left out with a
/// warning (only a hand-edited shard holds one: `retract` refuses another worker's record).
pub fn materialize(
    plan: Plan,
    local: &mut Local,
    default_branch: &str,
    next: &mut dyn FnMut() -> Result<u64>,
) -> Result<(Vec<Record>, Vec<String>)> {
    let mut out = Vec::with_capacity(plan.incoming.len());
    let mut warnings = plan.warnings;
    for Incoming { worker, record, .. } in plan.incoming {
        let mut r = record;
        let retracts = match r.retracts {
            Some(t) => match local.runs.get(&(worker.clone(), t)) {
                Some(&here) => Some(here),
                None => {
                    warnings.push(format!(
                        "Worker `{worker}`'s run #{} retracts its run #{t}, which no shard holds: left out.",
                        r.run
                    ));
                    continue;
                }
            },
            None => None,
        };
        clean(&mut r);
        let branch = r
            .branch
            .take()
            .unwrap_or_else(|| default_branch.to_string());
        r.branch = Some(format!("{branch}@{worker}"));
        r.worker_run = Some(r.run);
        r.run = next()?;
        r.retracts = retracts;
        r.worker = Some(worker);
        local.add(&r);
        out.push(r);
    }
    Ok((out, warnings))
}

/// Another machine's text made as safe as this clone's writer makes its own: the summary
/// cleaned and capped as `record` does, every other string without control characters or
/// escape sequences (a remote must not drive the terminal of whoever reads the ledger).
fn clean(r: &mut Record) {
    fn line(s: &mut String) {
        if let std::borrow::Cow::Owned(clean) = crate::text::plain(s) {
            *s = clean;
        }
    }
    fn pairs<V>(map: &mut std::collections::BTreeMap<String, V>, value: fn(&mut V)) {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(mut k, mut v)| {
                line(&mut k);
                value(&mut v);
                (k, v)
            })
            .collect();
    }
    r.summary = crate::ledger::clean_summary(&r.summary).0;
    for s in [&mut r.id, &mut r.timestamp, &mut r.source] {
        line(s);
    }
    let optional = [
        &mut r.commit,
        &mut r.parent,
        &mut r.branch,
        &mut r.reason,
        &mut r.code,
        &mut r.setup,
        &mut r.hardware,
    ];
    optional.into_iter().flatten().for_each(line);
    r.flags.iter_mut().for_each(line);
    pairs(&mut r.metrics, |_| {});
    if let Some(i) = &mut r.imported {
        line(&mut i.file);
        line(&mut i.status);
        pairs(&mut i.fields, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Status;

    fn line(run: u64, id: &str, clock: Option<u64>, extra: &str) -> String {
        let mut r = Record::blank(run, Status::Discarded, Some(run as f64));
        r.id = id.to_string();
        r.clock = clock;
        r.branch = Some("autoresearch".into());
        let mut s = serde_json::to_string(&r).unwrap();
        if !extra.is_empty() {
            s.pop();
            s.push_str(extra);
            s.push('}');
        }
        s + "\n"
    }

    fn numbered(from: u64) -> impl FnMut() -> Result<u64> {
        let mut n = from;
        move || {
            n += 1;
            Ok(n - 1)
        }
    }

    #[test]
    fn own_lines_are_the_lines_without_worker_run() {
        let ledger = format!(
            "{}\n{}{}{}",
            line(1, "a", None, "").trim_end(),
            line(2, "b", Some(3), r#","worker":"w","worker_run":9"#),
            line(3, "c", Some(4), r#","worker":"me""#),
            "{\"run\":4,\"st" // torn
        );
        let own = String::from_utf8(own_lines(ledger.as_bytes())).unwrap();
        let ids: Vec<_> = own
            .lines()
            .map(|l| serde_json::from_str::<Record>(l).unwrap().id)
            .collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn new_records_come_in_clock_order_renumbered_and_on_their_writers_branch() {
        let local = Local::of([Record {
            id: "known".into(),
            ..Record::blank(1, Status::Baseline, Some(1.0))
        }]);
        let w1 =
            line(1, "known", None, "") + &line(2, "x2", Some(5), "") + &line(3, "x3", Some(9), "");
        let w2 = line(1, "y1", Some(7), "") + &line(2, "y2", Some(8), "");
        let mine = line(1, "m", Some(1), "");
        let shards = vec![
            ("w1".to_string(), w1.into_bytes()),
            ("w2".to_string(), w2.into_bytes()),
            ("me".to_string(), mine.into_bytes()),
        ];
        let mut local = local;
        let plan = plan(&local, "me", &shards);
        assert_eq!(
            plan.shards,
            [
                ShardCount {
                    worker: "w1".into(),
                    records: 3,
                    new: 2
                },
                ShardCount {
                    worker: "w2".into(),
                    records: 2,
                    new: 2
                },
            ]
        );
        let (records, warnings) =
            materialize(plan, &mut local, "autoresearch", &mut numbered(10)).unwrap();
        assert!(warnings.is_empty());
        let got: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.run,
                    r.worker_run,
                    r.worker.as_deref(),
                    r.branch.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("x2", 10, Some(2), Some("w1"), Some("autoresearch@w1")),
                ("y1", 11, Some(1), Some("w2"), Some("autoresearch@w2")),
                ("y2", 12, Some(2), Some("w2"), Some("autoresearch@w2")),
                ("x3", 13, Some(3), Some("w1"), Some("autoresearch@w1")),
            ]
        );
        // The clocks travel unchanged.
        assert_eq!(records[3].clock, Some(9));
    }

    #[test]
    fn a_retraction_points_at_the_run_here_and_an_unknown_target_is_left_out() {
        let mut local = Local::of([Record {
            id: "k".into(),
            worker: Some("w".into()),
            worker_run: Some(4),
            ..Record::blank(20, Status::Kept, Some(1.0))
        }]);
        let shard = line(4, "k", Some(2), "")
            + &line(5, "k5", Some(3), "")
            + &line(6, "r4", Some(4), r#","retracts":4"#)
            + &line(7, "r5", Some(5), r#","retracts":5"#)
            + &line(8, "r99", Some(6), r#","retracts":99"#)
            + "not json\n";
        let plan = plan(&local, "me", &[("w".into(), shard.into_bytes())]);
        let (records, warnings) = materialize(plan, &mut local, "b", &mut numbered(30)).unwrap();
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.id.as_str(), r.retracts))
            .collect();
        assert_eq!(got, [("k5", None), ("r4", Some(20)), ("r5", Some(30))]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("#99")));
        assert!(warnings.iter().any(|w| w.contains("could not be read")));
    }

    #[test]
    fn another_machines_text_cannot_drive_the_terminal() {
        let mut r = Record::blank(1, Status::Discarded, Some(1.0));
        r.id = "e".into();
        r.summary = "ok \u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7}".into();
        r.branch = Some("b\u{1b}[2J".into());
        r.reason = Some("r\rmasked".into());
        r.flags = vec!["f\u{7}".into()];
        r.metrics.insert("m\u{1b}[1m".into(), 2.0);
        let shard = serde_json::to_string(&r).unwrap() + "\n";
        let mut local = Local::default();
        let p = plan(&local, "me", &[("w".into(), shard.into_bytes())]);
        let (records, _) = materialize(p, &mut local, "b", &mut numbered(1)).unwrap();
        let text = serde_json::to_string(&records[0]).unwrap();
        assert!(
            !text.contains("\\u001b") && !text.contains("\\u0007"),
            "{text}"
        );
        assert_eq!(records[0].branch.as_deref(), Some("b@w"));
        assert_eq!(records[0].summary, "ok red");
        assert_eq!(records[0].reason.as_deref(), Some("masked"));
        assert_eq!(records[0].flags, ["f"]);
        assert!(
            records[0].metrics.contains_key("m"),
            "{:?}",
            records[0].metrics
        );
    }

    #[test]
    fn a_line_without_an_id_gets_the_same_id_everywhere_and_is_brought_once() {
        let shard = "{\"run\":1,\"status\":\"baseline\",\"metric\":1.0}\n".to_string();
        let shards = [("w".to_string(), shard.into_bytes())];
        let mut local = Local::default();
        let first = plan(&local, "me", &shards);
        let (records, _) = materialize(first, &mut local, "b", &mut numbered(1)).unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].id.starts_with("sync-w-"), "{}", records[0].id);
        let again = plan(&Local::of(records), "me", &shards);
        assert!(again.incoming.is_empty());
    }
}
