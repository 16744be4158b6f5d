//! Evals on a cluster, with a fake one (`guide cluster`): a scheduler the test starts (so its
//! jobs are no processes of `run`, as on a real cluster), and an eval that is its client, like
//! `srun`: it submits a job, blocks until the job ends and relays its output. The job runs the
//! code of `AUTORESEARCH_COMMIT`, read from git, and stops when it sees the marker
//! `cancel_command` writes. Shown here: the eval gets the commit and the id of its record; a
//! timeout or an interrupt runs `cancel_command`, a hanging one is stopped; records carry the
//! hardware class and runs are never compared across classes; a project without these keys
//! is measured and recorded as before; `doctor` and `merge-best --confirm` pass what applies to
//! them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// The fake `srun`: submit `<id>-<sample> <commit> <worktree>`, wait for the job, relay it.
const CLIENT: &str = r#"#!/bin/sh
r="$REMOTE"
job="$AUTORESEARCH_ID-$AUTORESEARCH_SAMPLE"
env | grep '^AUTORESEARCH_' | sort > "$r/env-$job"
echo "$job $AUTORESEARCH_COMMIT $AUTORESEARCH_WORKTREE" > "$r/queue/$job.tmp"
mv "$r/queue/$job.tmp" "$r/queue/$job.job"
echo "submitted job ar-$job"
while [ ! -e "$r/done-$job" ]; do sleep 0.05; done
cat "$r/out-$job"
exit "$(cat "$r/done-$job")"
"#;

/// The cluster: runs each submitted job, in the remote directory, outside the client.
const SCHEDULER: &str = r#"#!/bin/sh
cd "$1" || exit 1
while :; do
  for f in queue/*.job; do
    [ -e "$f" ] || continue
    read -r job commit worktree < "$f"
    rm "$f"
    ( sh ./job.sh "$job" "$commit" "$worktree" > "out-$job" 2>&1
      echo $? > "done-$job.tmp"; mv "done-$job.tmp" "done-$job" ) &
  done
  sleep 0.05
done
"#;

/// One job: exactly the evaluated code, from git; `sleep = <s>` in it makes it that slow, and
/// it stops early when cancelled. The score is `x` plus this machine's `offset`.
const JOB: &str = r#"#!/bin/sh
job="$1"; id="${1%-*}"
code=$(git -C "$3" show "$2:train.py") || exit 1
x=$(printf '%s\n' "$code" | sed -n 's/^x = //p')
secs=$(printf '%s\n' "$code" | sed -n 's/^sleep = //p')
i=0
while [ "$i" -lt "$(( ${secs:-0} * 10 ))" ]; do
  if [ -e "cancelled-$id" ]; then echo "job $job cancelled" > "stopped-$job"; exit 143; fi
  sleep 0.1; i=$((i + 1))
done
echo "score: $(( x + $(cat offset) ))"
"#;

/// The scheduler, killed when the test ends.
struct Cluster {
    remote: PathBuf,
    scheduler: Child,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

impl Cluster {
    fn path(&self, name: &str) -> PathBuf {
        self.remote.join(name)
    }

    /// Waits (at most 10 s) for `name` to exist in the remote directory.
    fn wait_for(&self, name: &str) -> String {
        let t = Instant::now();
        while !self.path(name).exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "no {name}");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// `AUTORESEARCH_*` as the client saw them in the job `<id>-<sample>`.
    fn env_of(&self, job: &str) -> std::collections::BTreeMap<String, String> {
        self.wait_for(&format!("env-{job}"))
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A project whose eval is the fake cluster's client, `train.py` holding `x = 5`, one sample
/// per run, and `extra` keys; with the cluster running.
fn project(extra: &str) -> (Sandbox, Cluster) {
    let sb = Sandbox::new();
    let remote = sb.root.parent().expect("the sandbox's dir").join("remote");
    std::fs::create_dir_all(remote.join("queue")).unwrap();
    std::fs::write(remote.join("job.sh"), JOB).unwrap();
    std::fs::write(remote.join("scheduler.sh"), SCHEDULER).unwrap();
    std::fs::write(remote.join("offset"), "0\n").unwrap();
    let scheduler = Command::new("sh")
        .arg(remote.join("scheduler.sh"))
        .arg(&remote)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the scheduler starts");
    let r = remote.display();
    let budget = if extra.contains("time_budget") {
        ""
    } else {
        "time_budget = \"30s\"\n"
    };
    sb.write("client.sh", CLIENT);
    sb.write("train.py", "x = 5\n");
    sb.write(
        "autoresearch.toml",
        &format!(
            "target_file = \"train.py\"\neval_command = \"REMOTE={r} sh client.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\n{budget}kill_grace = \"1s\"\nrepeats = 1\nbaseline_repeats = 1\ncancel_command = \"touch {r}/cancelled-$AUTORESEARCH_ID && echo cancel sent for ar-$AUTORESEARCH_ID\"\n{extra}"
        ),
    );
    sb.commit_all("setup");
    (sb, Cluster { remote, scheduler })
}

fn last_record(sb: &Sandbox) -> Value {
    sb.ledger_lines().pop().expect("a record")
}

fn log_of(sb: &Sandbox, run: &Value) -> String {
    sb.read(&format!(".autoresearch/runs/{run}.log"))
}

#[test]
fn the_eval_gets_the_commit_and_the_id_of_its_record() {
    let (sb, cluster) = project("");
    let d = sb.run(&["--json", "run", "-m", "baseline"]).ok();
    assert_eq!(
        (&d["status"], &d["metric"]),
        (&"baseline".into(), &5.0.into())
    );
    let rec = last_record(&sb);
    let id = rec["id"].as_str().expect("an id");
    let env = cluster.env_of(&format!("{id}-1"));
    assert_eq!(env["AUTORESEARCH_ID"], id);
    assert_eq!(env["AUTORESEARCH_COMMIT"], rec["commit"].as_str().unwrap());
    assert_eq!(env["AUTORESEARCH_BRANCH"], "autoresearch");
    assert_eq!(env["AUTORESEARCH_RUN"], "0");
    let root = sb.root.canonicalize().unwrap();
    assert_eq!(
        Path::new(&env["AUTORESEARCH_WORKTREE"])
            .canonicalize()
            .unwrap(),
        root
    );

    // An experiment: the job ran the experiment commit's code, read from git by its hash.
    sb.write("train.py", "x = 3\n");
    let d = sb.run(&["--json", "run", "-m", "three"]).ok();
    assert_eq!((&d["status"], &d["metric"]), (&"kept".into(), &3.0.into()));
    let rec = last_record(&sb);
    let id = rec["id"].as_str().unwrap();
    let env = cluster.env_of(&format!("{id}-1"));
    assert_eq!(env["AUTORESEARCH_COMMIT"], rec["commit"].as_str().unwrap());
    assert_eq!(env["AUTORESEARCH_COMMIT"], sb.tip("autoresearch"));
    assert_eq!(env["AUTORESEARCH_RUN"], "1");
    assert!(log_of(&sb, &rec["run"]).contains(&format!("submitted job ar-{id}-1\nscore: 3\n")));
    // A normal exit runs no cancel.
    assert!(!cluster.path(&format!("cancelled-{id}")).exists());
    assert!(!log_of(&sb, &rec["run"]).contains("cancel_command"));
}

#[test]
fn a_timeout_cancels_the_remote_job() {
    let (sb, cluster) = project("time_budget = \"2s\"\n");
    sb.write("train.py", "x = 5\nsleep = 60\n");
    sb.commit_all("a slow job");
    let t = Instant::now();
    let out = sb.run(&["--json", "run", "-m", "baseline"]);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let v = out.json();
    assert_eq!(v["data"]["status"], "timeout", "{v}");
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    let rec = last_record(&sb);
    assert_eq!(rec["status"], "timeout");
    let id = rec["id"].as_str().unwrap();
    assert!(cluster.path(&format!("cancelled-{id}")).exists());
    // The job saw the marker and stopped: nothing of it runs on.
    assert_eq!(
        cluster.wait_for(&format!("stopped-{id}-1")),
        format!("job {id}-1 cancelled\n")
    );
    let log = log_of(&sb, &rec["run"]);
    let after = log
        .split_once("--- cancel_command (after a timeout) ---\n")
        .unwrap_or_else(|| panic!("no cancel in the log: {log}"))
        .1;
    assert!(
        after.starts_with(&format!("cancel sent for ar-{id}\n")),
        "{log}"
    );
    assert!(
        after.contains("--- autoresearch: cancel_command exited with code 0 in "),
        "{log}"
    );
}

#[test]
fn an_interrupt_cancels_the_remote_job() {
    let (sb, cluster) = project("");
    sb.write("train.py", "x = 5\nsleep = 60\n");
    sb.commit_all("a slow job");
    let mut cmd = sb.cmd(&["--json", "run", "-m", "baseline"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let t = Instant::now();
    // The job runs once the scheduler has taken it (its output file exists).
    let running = || {
        std::fs::read_dir(&cluster.remote)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("out-"))
    };
    while !running() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain syscall to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let rec = last_record(&sb);
    assert_eq!(
        (&rec["status"], &rec["reason"]),
        (&"crash".into(), &"interrupted".into())
    );
    let id = rec["id"].as_str().unwrap();
    assert!(cluster.path(&format!("cancelled-{id}")).exists());
    cluster.wait_for(&format!("stopped-{id}-1"));
    let log = log_of(&sb, &rec["run"]);
    assert!(
        log.contains(&format!(
            "--- cancel_command (after an interrupt) ---\ncancel sent for ar-{id}\n"
        )),
        "{log}"
    );
}

#[test]
fn a_hanging_cancel_is_stopped_and_reported() {
    let (sb, cluster) = project("time_budget = \"1s\"\ncancel_timeout = \"1s\"\n");
    let config = sb.read("autoresearch.toml").replace(
        "cancel_command = \"touch",
        "cancel_command = \"sleep 1000; touch",
    );
    sb.write("autoresearch.toml", &config);
    sb.write("train.py", "x = 5\nsleep = 5\n");
    sb.commit_all("a slow job, a cancel that hangs");
    let t = Instant::now();
    let out = sb.run(&["--json", "run", "-m", "baseline"]);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let v = out.json();
    assert_eq!(v["data"]["status"], "timeout", "{v}");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("`cancel_command` did not finish within `cancel_timeout` (1s) and was stopped after a timeout"),
        "{v}"
    );
    let rec = last_record(&sb);
    assert_eq!(rec["status"], "timeout", "the status does not change");
    assert!(
        !cluster
            .path(&format!("cancelled-{}", rec["id"].as_str().unwrap()))
            .exists()
    );
    assert!(log_of(&sb, &rec["run"]).contains("cancel_command did not finish within"));
}

#[test]
fn records_carry_the_hardware_class_and_classes_are_never_compared() {
    let (sb, cluster) = project("hardware = \"a100\"\n");
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    assert_eq!(last_record(&sb)["hardware"], "a100");
    sb.write("train.py", "x = 3\n");
    assert_eq!(
        sb.run(&["--json", "run", "-m", "three"]).ok()["status"],
        "kept"
    );
    assert_eq!(last_record(&sb)["hardware"], "a100");
    let on_a100 = last_record(&sb)["setup"].clone();

    // Another machine, slower by 10: the variable wins over the config.
    std::fs::write(cluster.path("offset"), "10\n").unwrap();
    let h100 = |args: &[&str]| {
        let mut cmd = sb.cmd(args);
        cmd.env("AUTORESEARCH_HARDWARE", "h100");
        run_cmd(cmd)
    };
    sb.write("train.py", "x = 2\n");
    let e = h100(&["--json", "run", "-m", "two"]).err("setup_changed", 2);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("it was measured on hardware `a100`, this machine is `h100`"),
        "{message}"
    );
    assert!(
        e["error"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("autoresearch run --baseline"),
        "{e}"
    );
    assert_eq!(sb.ledger_lines().len(), 2, "nothing was recorded");

    // A comparison of its own on this hardware, from the best so far (`x = 3`).
    sb.write("train.py", "x = 3\n");
    let d = h100(&["--json", "run", "--baseline", "-m", "baseline on h100"]).ok();
    assert_eq!(d["status"], "baseline");
    assert_eq!(d["metric"], 13.0);
    assert_eq!(d["flags"], serde_json::json!(["harness_changed"]));
    assert_eq!(d["delta"], Value::Null, "no delta across classes");
    let rec = last_record(&sb);
    assert_eq!(rec["hardware"], "h100");
    assert_ne!(rec["setup"], on_a100);
    // 12 is worse than the best on a100 (3), better than the baseline on h100 (13): kept,
    // with its gain over h100's best alone.
    sb.write("train.py", "x = 2\n");
    let d = h100(&["--json", "run", "-m", "two"]).ok();
    assert_eq!((&d["status"], &d["metric"]), (&"kept".into(), &12.0.into()));
    assert_eq!(d["delta"], -1.0);
    assert_eq!(d["best_before"]["run"], 2);
    // A manual record carries the class too.
    let mut cmd = sb.cmd(&[
        "--json",
        "record",
        "--status",
        "discarded",
        "--metric",
        "12.5",
        "--summary",
        "by hand",
    ]);
    cmd.env("AUTORESEARCH_HARDWARE", "h100");
    run_cmd(cmd).ok();
    assert_eq!(last_record(&sb)["hardware"], "h100");

    // The report names the classes.
    sb.run(&["--json", "report", "--format", "all"]).ok();
    let report: Value = serde_json::from_str(&sb.read(".autoresearch/report/report.json")).unwrap();
    assert_eq!(report["setup"]["best_hardware"], "h100");
    assert_eq!(
        report["setup"]["hardware"],
        serde_json::json!([{"class": "a100", "records": 2}, {"class": "h100", "records": 3}])
    );
    let headline = report["headline"].as_str().unwrap();
    assert!(
        headline.ends_with(" · 2 hardware classes, best on h100"),
        "{headline}"
    );
    let md = sb.read(".autoresearch/report/report.md");
    assert!(
        md.contains("| hardware | a100 (2 records), h100 (3 records): runs are compared only within one class, the best is on h100 |"),
        "{md}"
    );
}

#[test]
fn an_invalid_hardware_variable_is_refused() {
    let (sb, _cluster) = project("");
    let mut cmd = sb.cmd(&["--json", "run", "-m", "baseline"]);
    cmd.env("AUTORESEARCH_HARDWARE", "a100 80g");
    let e = run_cmd(cmd).err("config_invalid", 2);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`AUTORESEARCH_HARDWARE` = `a100 80g`"),
        "{e}"
    );
}

/// The setup digest of `sh eval.sh`, `score`, lower, 10s, nothing protected, as every version
/// before hardware classes wrote it.
const SETUP_BEFORE_CLASSES: &str = "3aae35e194a8c57e";

#[test]
fn without_the_new_keys_nothing_changes() {
    let sb = Sandbox::new();
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\ntime_budget = \"10s\"\nbaseline_repeats = 1\n",
    );
    sb.commit_all("setup");
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    let rec = last_record(&sb);
    assert_eq!(rec["setup"], SETUP_BEFORE_CLASSES);
    assert!(rec.get("hardware").is_none(), "{rec}");
    // A record written before classes existed (no `hardware`, same setup) is still the
    // baseline the next run is compared with.
    sb.write("train.py", "x = 0\n");
    let d = sb.run(&["--json", "run", "-m", "zero"]).ok();
    assert_eq!(d["status"], "kept");
    assert!(last_record(&sb).get("hardware").is_none());
}

#[test]
fn doctor_shows_the_cluster_settings_and_runs_the_client_on_head() {
    let (sb, cluster) = project("hardware = \"a100\"\n");
    let out = sb.run(&["--json", "doctor"]);
    let v = out.json();
    let checks = v["data"]["checks"].as_array().expect("checks");
    let check = |id: &str| checks.iter().find(|c| c["id"] == id).expect(id).clone();
    let valid = check("config_valid");
    let message = valid["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            ", hardware `a100`, `cancel_command` after a timeout or an interrupt (within 30s)"
        ),
        "{message}"
    );
    assert_eq!(check("eval_runs")["status"], "pass", "{v}");
    // No run, so no id: the client named its job `-1`.
    let env = cluster.env_of("-1");
    assert_eq!(env["AUTORESEARCH_COMMIT"], sb.head());
    assert!(!env.contains_key("AUTORESEARCH_ID"), "{env:?}");
    assert!(!env.contains_key("AUTORESEARCH_RUN"), "{env:?}");
    assert!(env.contains_key("AUTORESEARCH_WORKTREE"), "{env:?}");
}

#[test]
fn a_confirmation_passes_each_recheck_its_id_branch_and_commit() {
    let sb = Sandbox::new();
    let seen = sb.root.parent().unwrap().join("seen");
    sb.write(
        "eval.sh",
        &format!(
            "echo \"$AUTORESEARCH_ID $AUTORESEARCH_BRANCH $AUTORESEARCH_COMMIT\" >> {}\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n",
            seen.display()
        ),
    );
    sb.write(
        "autoresearch.toml",
        "target_file = \"train.py\"\neval_command = \"sh eval.sh\"\nmetric_name = \"score\"\nmetric_direction = \"lower\"\nbaseline_repeats = 1\nrepeats = 1\n",
    );
    sb.commit_all("setup");
    sb.run(&["--json", "run", "-m", "baseline"]).ok();
    sb.run(&["--json", "fork", "a"]).ok();
    sb.switch("autoresearch-fork-a");
    sb.write("train.py", "x = 0.5\n");
    sb.run(&["--json", "run", "-m", "halve"]).ok();
    sb.switch("autoresearch");
    std::fs::remove_file(&seen).unwrap();
    let before = sb.ledger_lines().len();
    sb.run(&["--json", "merge-best", "--confirm", "2"]).ok();
    let seen = std::fs::read_to_string(&seen).unwrap();
    let rechecks: Vec<Value> = sb.ledger_lines().into_iter().skip(before).collect();
    assert_eq!(rechecks.len(), 2);
    for r in &rechecks {
        let line = format!(
            "{} {} {}",
            r["id"].as_str().unwrap(),
            r["branch"].as_str().unwrap(),
            r["commit"].as_str().unwrap()
        );
        assert_eq!(
            seen.lines().filter(|l| *l == line).count(),
            2,
            "{line}\n{seen}"
        );
    }
}

/// A `run` killed with SIGKILL leaves its job running on the cluster (no local process of it
/// is left to kill); the next `run` on the branch cancels it with the dead step's id.
#[test]
fn the_next_run_cancels_the_job_of_a_step_that_died() {
    let (sb, cluster) = project("");
    sb.write("train.py", "x = 5\nsleep = 60\n");
    sb.commit_all("a slow job");
    let mut child = sb
        .cmd(&["--json", "run", "-m", "baseline"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let job = loop {
        let found = std::fs::read_dir(&cluster.remote)
            .unwrap()
            .flatten()
            .find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("out-").map(str::to_string)
            });
        if let Some(job) = found {
            break job;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let id = job.rsplit_once('-').unwrap().0.to_string();
    assert!(!cluster.path(&format!("cancelled-{id}")).exists());
    // The next run on the branch: quick code this time.
    sb.write("train.py", "x = 5\n");
    sb.commit_all("a quick job");
    let out = sb.run(&["--json", "run", "-m", "baseline again"]);
    let v = out.json();
    assert!(cluster.path(&format!("cancelled-{id}")).exists(), "{v}");
    cluster.wait_for(&format!("stopped-{job}"));
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains(&format!("AUTORESEARCH_ID={id}")),
        "{warnings}"
    );
    let log = sb.read(&format!(".autoresearch/runs/abandoned-{id}.log"));
    assert!(
        log.contains(&format!(
            "--- cancel_command (after its step died) ---\ncancel sent for ar-{id}\n"
        )),
        "{log}"
    );
}
