//! The eval's limits, end to end (docs/RELIABILITY.md 10 and 12): a process that leaves the
//! eval's group does not survive the step; a huge output is cut to its head and tail on disk,
//! per sample, with every separator and footer intact and the metric still read; a full disk
//! is named, and the run is still decided and recorded.

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
        // One sample: the wait for `escaped.pid` is only meaningful the first time.
        "baseline_repeats = 1\n",
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

/// What `yes 0123456789 | head -c <n>; echo "score: <sample>"` prints.
fn sample_output(n: usize, sample: u32) -> Vec<u8> {
    let mut out: Vec<u8> = b"0123456789\n".iter().copied().cycle().take(n).collect();
    out.extend_from_slice(format!("score: {sample}\n").as_bytes());
    out
}

#[test]
fn a_huge_output_is_cut_per_sample_and_every_byte_is_counted() {
    const HEAD: usize = 1 << 20;
    const TAIL: usize = 16 << 20;
    // Whole lines, so that the score starts a line of its own.
    let n = 11 * 3_800_000;
    let sb = project(
        &format!("yes 0123456789 | head -c {n}\necho \"score: $AUTORESEARCH_SAMPLE\"\n"),
        "baseline_repeats = 2\n",
    );
    let d = sb.run(&["--json", "run", "-m", "baseline"]).ok();
    assert_eq!(d["status"], "baseline");
    assert_eq!(
        d["samples"],
        json!([1.0, 2.0]),
        "the metric is read past the cut"
    );
    let path = sb.path(".autoresearch/runs/0.log");
    let log = std::fs::read(&path).unwrap();
    assert!(log.len() < 2 * (HEAD + TAIL) + 1024, "{} bytes", log.len());
    let mut rest = &log[..];
    for sample in 1..=2u32 {
        let output = sample_output(n, sample);
        let cut = output.len() - HEAD - TAIL;
        let separator = format!("--- sample {sample} ---\n");
        assert!(rest.starts_with(separator.as_bytes()), "sample {sample}");
        rest = &rest[separator.len()..];
        // The head ends inside a line: the marker starts a line of its own.
        assert!(
            rest[..HEAD] == output[..HEAD],
            "the head of sample {sample}"
        );
        rest = &rest[HEAD..];
        let marker = format!("\n--- autoresearch: {cut} bytes of output cut here ---\n");
        assert!(
            rest.starts_with(marker.as_bytes()),
            "the marker of sample {sample}"
        );
        rest = &rest[marker.len()..];
        assert!(
            rest[..TAIL] == output[output.len() - TAIL..],
            "the tail of sample {sample}"
        );
        rest = &rest[TAIL..];
        let footer_end = rest.iter().position(|&b| b == b'\n').unwrap() + 1;
        let footer = String::from_utf8_lossy(&rest[..footer_end]);
        let want = format!(
            "--- autoresearch: exit code 0; {} bytes of output ({cut} cut) in ",
            output.len()
        );
        assert!(
            footer.starts_with(&want) && footer.ends_with("s ---\n"),
            "{footer}"
        );
        rest = &rest[footer_end..];
    }
    assert!(
        rest.is_empty(),
        "{} bytes after the last footer",
        rest.len()
    );
    use std::os::unix::fs::MetadataExt;
    let on_disk = std::fs::metadata(&path).unwrap().blocks() * 512;
    assert!(
        on_disk < log.len() as u64 + (1 << 20),
        "{on_disk} bytes on disk"
    );
}

/// `/dev/full` fails every write with "no space left on device": the run's log is linked to
/// it, so the eval's output and our footer are lost the way a full disk loses them.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_named_and_the_run_is_still_recorded() {
    let sb = project(
        "echo \"score: $(sed -n 's/^x = //p' train.py)\"\ntrue\n",
        "",
    );
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    sb.write("train.py", "x = 0.5\n");
    std::os::unix::fs::symlink("/dev/full", sb.path(".autoresearch/runs/1.log")).unwrap();
    let out = sb.run(&["--json", "run", "-m", "on a full disk"]);
    let v = out.json();
    let d = out.ok();
    assert_eq!(d["run"], 1);
    assert_eq!(d["status"], "crash");
    assert_eq!(d["reason"], "no_metric", "the eval's output was lost");
    assert_eq!(d["reverted"], true);
    assert_eq!(d["log_tail"], "");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("Could not write the footer to the log")
            && warnings.contains("no space left on device;"),
        "{warnings}"
    );
    let last = sb.ledger_lines().pop().unwrap();
    assert_eq!(
        (last["run"].clone(), last["status"].clone()),
        (json!(1), json!("crash"))
    );
}
