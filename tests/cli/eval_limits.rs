//! The eval's limits, end to end (docs/RELIABILITY.md 10): a process that leaves the eval's
//! group does not survive the step.

use serde_json::json;
use std::time::{Duration, Instant};

use crate::common::*;

/// A project whose `eval.sh` is `eval`: metric `score`, lower is better, then `extra` keys.
fn project(eval: &str, extra: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write("eval.sh", eval);
    sb.write(
        "autoresearch.toml",
        &format!(
            "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"30s\"\nkill_grace = \"1s\"\n{extra}"
        ),
    );
    sb.commit_all("setup");
    sb
}

/// True while `pid` exists, zombie or not.
fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Kills `pid` when the test ends, so that a failing test leaves no `sleep 1000` behind.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: plain syscall on a process the test's eval started.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

#[test]
fn a_process_that_leaves_the_group_is_killed_and_flagged() {
    let sb = project(
        "setsid sh -c 'echo $$ > escaped.pid; exec sleep 1000' &\nwhile [ ! -s escaped.pid ]; do sleep 0.01; done\necho \"score: 1\"\n",
        "",
    );
    let t = Instant::now();
    let out = sb.run(&["--json", "run", "-m", "baseline"]);
    let wall = t.elapsed();
    let pid: i32 = sb.read("escaped.pid").trim().parse().expect("a pid");
    let _guard = KillOnDrop(pid);
    let d = out.ok();
    assert_eq!(d["status"], "baseline");
    assert_eq!(d["flags"], json!(["leaked_processes"]));
    assert!(
        !exists(pid),
        "the process that left the group survived the run"
    );
    assert!(wall < Duration::from_secs(5), "{wall:?}");
}
