//! Who wrote a record, for the readers of a synced ledger (`sync`, docs/CONTRACT.md §5): the
//! label a human view names a run by (`#17`, or `#17@gpu-03` for run 17 of worker `gpu-03`),
//! the `RUN@WORKER` form a user names one by, and the `--worker` filter.
//!
//! A record `sync` brought carries `worker_run` (its number on the worker that wrote it) and
//! `worker`; this clone's own records never carry `worker_run`. Local run numbers stay unique,
//! so every lookup ends at one local record.

use super::{Ledger, Record};
use crate::error::Result;

/// `#17`, or `#17@gpu-03` for another worker's record: its own number there, and its id.
pub fn label(run: u64, worker: Option<&str>, worker_run: Option<u64>) -> String {
    match (worker_run, worker) {
        (Some(theirs), Some(w)) => format!("#{theirs}@{w}"),
        _ => format!("#{run}"),
    }
}

/// A run as a user names it: `17` (this ledger's number) or `17@gpu-03` (run 17 of worker
/// `gpu-03`, as `log` labels it); a leading `#` is allowed on both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRef {
    Local(u64),
    Worker { run: u64, worker: String },
}

impl RunRef {
    /// `None` when `text` is neither a number nor `NUMBER@WORKER` with a valid worker id
    /// ([`super::worker::valid`]).
    pub fn parse(text: &str) -> Option<RunRef> {
        let text = text.trim().trim_start_matches('#');
        match text.split_once('@') {
            None => text.parse().ok().map(RunRef::Local),
            Some((run, worker)) if super::worker::valid(worker) => Some(RunRef::Worker {
                run: run.parse().ok()?,
                worker: worker.to_string(),
            }),
            Some(_) => None,
        }
    }

    /// `#17` or `#17@gpu-03`, as the human views label the record it names.
    pub fn label(&self) -> String {
        match self {
            RunRef::Local(run) => label(*run, None, None),
            RunRef::Worker { run, worker } => label(0, Some(worker), Some(*run)),
        }
    }

    /// Does `r` answer to this name?
    pub fn names(&self, r: &Record) -> bool {
        match self {
            RunRef::Local(run) => r.run == *run,
            RunRef::Worker { run, worker } => {
                r.worker_run == Some(*run) && r.worker.as_deref() == Some(worker)
            }
        }
    }
}

impl std::fmt::Display for RunRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunRef::Local(run) => write!(f, "{run}"),
            RunRef::Worker { run, worker } => write!(f, "{run}@{worker}"),
        }
    }
}

/// Whose records a reader keeps (`--worker`): this clone's own, or one other worker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// This clone's: every record without `worker_run`, stamped with its id or written before
    /// its first sync.
    Own,
    /// Another worker's: brought by `sync`, `worker` naming it.
    Other(String),
}

impl Writer {
    pub fn wrote(&self, r: &Record) -> bool {
        match self {
            Writer::Own => r.worker_run.is_none(),
            Writer::Other(w) => r.worker_run.is_some() && r.worker.as_deref() == Some(w),
        }
    }
}

impl Ledger {
    /// The record `which` names (the last one, should a hand edit have doubled a line).
    pub fn find_ref(&self, which: &RunRef) -> Result<Option<Record>> {
        if let RunRef::Local(run) = which {
            return self.find(*run);
        }
        let mut found = None;
        self.for_each(|_, r| {
            if which.names(&r) {
                found = Some(r);
            }
            true
        })?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Status;

    fn foreign(run: u64, worker: &str, theirs: u64) -> Record {
        let mut r = Record::blank(run, Status::Kept, Some(1.0));
        r.worker = Some(worker.into());
        r.worker_run = Some(theirs);
        r
    }

    #[test]
    fn labels_name_the_writer_of_a_foreign_record_only() {
        let mut own = Record::blank(4, Status::Kept, None);
        assert_eq!(own.label(), "#4");
        own.worker = Some("vm-1".into());
        assert_eq!(own.label(), "#4");
        assert_eq!(foreign(9, "gpu-03", 17).label(), "#17@gpu-03");
    }

    #[test]
    fn run_refs_parse_numbers_and_worker_runs() {
        assert_eq!(RunRef::parse("17"), Some(RunRef::Local(17)));
        assert_eq!(RunRef::parse("#17"), Some(RunRef::Local(17)));
        let w = RunRef::Worker {
            run: 17,
            worker: "gpu-03".into(),
        };
        assert_eq!(RunRef::parse("17@gpu-03"), Some(w.clone()));
        assert_eq!(RunRef::parse("#17@gpu-03"), Some(w.clone()));
        assert_eq!(w.to_string(), "17@gpu-03");
        assert_eq!(w.label(), "#17@gpu-03");
        for bad in ["", "x", "17@", "@gpu", "17@a@b", "x@gpu", "-1", "17@a b"] {
            assert_eq!(RunRef::parse(bad), None, "{bad}");
        }
        assert!(w.names(&foreign(9, "gpu-03", 17)));
        assert!(!w.names(&foreign(17, "gpu-04", 17)));
        assert!(RunRef::Local(9).names(&foreign(9, "gpu-03", 17)));
    }

    #[test]
    fn writers_split_own_records_from_foreign_ones() {
        let mut own = Record::blank(1, Status::Kept, None);
        assert!(Writer::Own.wrote(&own));
        own.worker = Some("vm-1".into());
        assert!(Writer::Own.wrote(&own));
        assert!(!Writer::Other("vm-1".into()).wrote(&own));
        let theirs = foreign(2, "gpu-03", 1);
        assert!(!Writer::Own.wrote(&theirs));
        assert!(Writer::Other("gpu-03".into()).wrote(&theirs));
        assert!(!Writer::Other("gpu-04".into()).wrote(&theirs));
    }
}
