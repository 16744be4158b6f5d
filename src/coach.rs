//! Coaching: the hints that tell an agent what to do next, shared by `record` and `run`, so an
//! agent that reads nothing but envelopes still works the loop well.

use crate::ctx::Ctx;
use crate::ledger::{Record, Scope, Status};

/// Hints after a record was appended: stuck counters, integrity, periodic stock-taking.
/// `after` is the scope (branch) including the new record.
pub fn after_record(ctx: &Ctx, rec: &Record, after: &Scope, kept_not_better: bool) {
    status_hint(ctx, rec, kept_not_better);
    if kept_not_better {
        ctx.hint(
            "This kept run is not better than the best: keep only strict improvements, or record it as `discarded`.",
        );
    }
    stuck_hints(ctx, after);
}

/// Hints after `run` recorded an experiment: what happened to the code, where the output is,
/// what a flag means, then the same stuck counters as `record`.
pub fn after_run(
    ctx: &Ctx,
    rec: &Record,
    after: &Scope,
    log: &str,
    reverted: bool,
    no_revert: bool,
) {
    let reason = rec.reason.as_deref().unwrap_or("");
    let undo = if reverted {
        " and reverted: the code is back at the best"
    } else if no_revert {
        "; not reverted (--no-revert): undo it with `git reset --hard HEAD~1`, or build on it knowingly"
    } else {
        ""
    };
    match rec.status {
        Status::Discarded => ctx.hint(format!(
            "Discarded ({reason}){undo}. Next: a different idea, then `autoresearch run -m \"<what and why>\"`."
        )),
        Status::Crash if reason == "interrupted" => ctx.hint(format!(
            "Interrupted: the eval was stopped{undo}. Run `autoresearch run` again when ready."
        )),
        Status::Crash | Status::Timeout if after.baseline.is_none() => ctx.hint(format!(
            "The baseline did not run cleanly ({reason}): read `{log}`, fix the eval or the setup (`autoresearch doctor`), then `autoresearch run -m \"baseline\"` again."
        )),
        Status::Crash => ctx.hint(format!(
            "Crashed ({reason}){undo}. Read `log_tail` or `{log}`; fix a trivial bug and retry once, otherwise drop the idea."
        )),
        Status::Timeout => ctx.hint(format!(
            "Timed out{undo}: the change made the eval slower than the budget (output in `{log}`); make it cheaper or try another idea."
        )),
        _ => status_hint(ctx, rec, false),
    }
    if rec.flags.iter().any(|f| f == "suspicious_jump") {
        ctx.hint(format!(
            "Run #{} improved far more than earlier keeps (suspicious_jump). Before building on it, check that the eval harness is unchanged, that no validation data leaks into training, and that the metric parser reads the right line of `{log}`; see `autoresearch guide integrity`.",
            rec.run
        ));
    }
    if rec.flags.iter().any(|f| f == "leaked_processes") {
        ctx.hint(
            "The eval left processes running (they were killed): make the eval command wait for its children (e.g. `wait` in sh) so one run cannot disturb the next.",
        );
    }
    stuck_hints(ctx, after);
}

fn status_hint(ctx: &Ctx, rec: &Record, kept_not_better: bool) {
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
}

/// Stuck counters and periodic stock-taking, from the branch's scope after the record.
fn stuck_hints(ctx: &Ctx, after: &Scope) {
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
