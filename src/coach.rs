//! Coaching: the hints that tell an agent what to do next, shared by `record` and `run`, so an
//! agent that reads nothing but envelopes still works the loop well.

use crate::ctx::Ctx;
use crate::ledger::{Record, Scope, Status};

/// Hints after a record was appended: stuck counters, integrity, periodic stock-taking.
/// `after` is the scope (branch) including the new record.
pub fn after_record(ctx: &Ctx, rec: &Record, after: &Scope, kept_not_better: bool) {
    match rec.status {
        Status::Baseline => ctx.hint(
            "Baseline recorded. Next: form one hypothesis, edit only the target file, then `autoresearch run -m \"<what and why>\"`.",
        ),
        Status::Kept if !kept_not_better => ctx.hint(
            "Kept: this is the new best. Build on it: the next idea starts from this commit.",
        ),
        Status::Crash => ctx.hint(
            "Crashed: read the log tail (`.autoresearch/runs/<run>.log`); fix a trivial bug and retry once, otherwise drop the idea.",
        ),
        Status::Timeout => ctx.hint(
            "Timed out: the change made the eval slower than the budget; make it cheaper or try another idea.",
        ),
        _ => {}
    }
    if kept_not_better {
        ctx.hint(
            "This kept run is not better than the best: keep only strict improvements, or record it as `discarded`.",
        );
    }
    let n = after.since_keep;
    if n >= 8 {
        ctx.hint(format!(
            "{n} runs in a row without a keep: step back. Re-read `program.md`, try a bolder or an opposite idea, combine two near-misses, or simplify; see `autoresearch guide stuck`."
        ));
    } else if n >= 5 {
        ctx.hint(format!(
            "{n} runs in a row without a keep: change the kind of change you are making; see `autoresearch guide stuck`."
        ));
    } else if n >= 3 {
        ctx.hint(format!(
            "{n} runs in a row without a keep: re-read the kept changes (`autoresearch best --patch`) and `program.md` before the next idea."
        ));
    }
    if after.total > 0 && after.total.is_multiple_of(20) {
        ctx.hint(format!(
            "{} runs on this branch: take stock with `autoresearch log --status kept` and `autoresearch best --patch`, and write what you learned into `program.md`.",
            after.total
        ));
    }
}
