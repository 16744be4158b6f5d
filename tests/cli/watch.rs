//! `watch` (docs/CONTRACT.md §9): the JSON Lines stream an agent waits on, the dashboard in a
//! real terminal (a pty from `script`), and the hooks. The stream is read line by line as it
//! comes, with deadlines, from a background thread.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A `watch` running with its stdout piped, and its lines as they come.
struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    fn start(sb: &Sandbox, args: &[&str]) -> Watch {
        let mut all = vec!["watch"];
        all.extend_from_slice(args);
        let mut child = sb
            .cmd(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// The next event, within `within`.
    fn next(&self, within: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(within).ok()?;
        assert!(
            !line.contains('\u{1b}'),
            "an escape byte in the stream: {line:?}"
        );
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }

    /// Events until one of `kind` comes (returned last), within `within`.
    fn until(&self, kind: &str, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Some(e) = self.next(left) else {
                panic!("no `{kind}` event within {within:?}; saw {seen:#?}")
            };
            let done = e["type"] == kind;
            seen.push(e);
            if done {
                return seen;
            }
        }
    }

    /// Wait for the exit; its code and stderr.
    fn wait(mut self, within: Duration) -> (i32, String, Vec<Value>) {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                let rest: Vec<Value> = self
                    .lines
                    .try_iter()
                    .map(|l| serde_json::from_str(&l).unwrap())
                    .collect();
                return (status.code().unwrap_or(-1), err, rest);
            }
            assert!(Instant::now() < end, "watch did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project with a baseline of x = 1.
fn project() -> Sandbox {
    let sb = Sandbox::new();
    sb.init();
    run(&sb, &["-m", "baseline"]).ok();
    sb
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn an_interval_under_200ms_is_a_usage_error() {
    let sb = project();
    for i in ["0", "100ms", "0.1", "soon"] {
        let e = sb.run(&["--json", "watch", "-i", i]).err("usage", 2);
        assert!(
            e["error"]["suggestion"].as_str().unwrap().contains("-i 1s"),
            "{e}"
        );
    }
    let out = sb.run(&["--json", "watch", "--once", "-i", "200ms"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_record_from_another_shell_is_one_record_event_with_its_id_within_two_seconds() {
    let sb = project();
    let w = Watch::start(&sb, &["-i", "200ms"]);
    let hello = w.next(5 * SECOND).expect("hello");
    assert_eq!(hello["type"], "hello");
    assert_eq!(
        (hello["v"].as_u64(), hello["seq"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        hello["status"]["best"]["run"], 0,
        "a snapshot shaped like `status`"
    );
    let recorded = Instant::now();
    sb.record("discarded", Some("1.5"), "from another shell");
    let events = w.until("record", 2 * SECOND);
    assert!(recorded.elapsed() < 2 * SECOND + SECOND / 2);
    let e = events.last().unwrap();
    let line = sb.ledger_lines().pop().unwrap();
    assert_eq!(e["record"], line, "the full ledger line");
    assert!(e["record"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        (e["new_best"].as_bool(), e["best"]["run"].as_u64()),
        (Some(false), Some(0))
    );
    assert!(e["seq"].as_u64().unwrap() >= 1 && e["time"].is_string());
    // Exactly one: nothing else mentions that record.
    std::thread::sleep(SECOND);
    while let Some(more) = w.next(Duration::from_millis(100)) {
        assert_ne!(more["type"], "record", "a second record event: {more}");
    }
}

#[test]
fn until_record_exits_0_at_the_next_record_and_1_with_an_end_event_on_timeout() {
    let sb = project();
    let started = Instant::now();
    let out = sb.run(&["watch", "--until", "record", "--timeout", "2s"]);
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(took >= 2 * SECOND && took < 5 * SECOND, "{took:?}");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["hello", "end"]);
    let end = &lines[1];
    assert_eq!(
        (end["reason"].as_str(), end["exit_code"].as_u64()),
        (Some("timeout"), Some(1))
    );
    assert!(
        end["suggestion"].as_str().unwrap().contains("--timeout"),
        "{end}"
    );

    let w = Watch::start(
        &sb,
        &["--until", "record", "--timeout", "20s", "-i", "200ms"],
    );
    w.next(5 * SECOND).expect("hello");
    sb.record("discarded", Some("2"), "anything");
    let (code, _, rest) = w.wait(5 * SECOND);
    assert_eq!(code, 0);
    let types: Vec<&str> = rest.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["record", "end"]);
    assert_eq!(rest[1]["until"], "record");
}

#[test]
fn since_replays_the_records_after_a_mark_so_a_consumer_can_resume() {
    let sb = project();
    sb.record("discarded", Some("2"), "one");
    let first = sb.ledger_lines().pop().unwrap();
    sb.record("kept", Some("0.5"), "two");
    sb.record("discarded", Some("3"), "three");
    let out = sb.run(&[
        "watch",
        "--since",
        first["id"].as_str().unwrap(),
        "--until",
        "new-best",
        "--timeout",
        "5s",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let runs: Vec<u64> = lines
        .iter()
        .filter(|l| l["type"] == "record")
        .map(|l| l["record"]["run"].as_u64().unwrap())
        .collect();
    assert_eq!(
        runs,
        [2],
        "the first record after the mark that makes a new best ends it"
    );
    assert_eq!(lines.last().unwrap()["until"], "new-best");
    let out = sb.run(&["watch", "--since", "1", "--once"]);
    let runs: Vec<u64> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["type"] == "record")
        .map(|l| l["record"]["run"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [2, 3]);
    let e = sb
        .run(&["--json", "watch", "--since", "99"])
        .err("run_not_found", 2);
    assert!(
        e["error"]["suggestion"].as_str().unwrap().contains("now"),
        "{e}"
    );
}

/// The eval of the sandbox, slowed down: it prints a line, then sleeps `secs`.
fn slow_eval(sb: &Sandbox, secs: u32) {
    sb.write(
        "eval.sh",
        &format!("#!/bin/sh\necho warming up\nsleep {secs}\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n"),
    );
}

#[test]
fn a_run_killed_with_sigkill_shows_as_a_dead_loop_with_an_alert() {
    let sb = Sandbox::new();
    slow_eval(&sb, 30);
    sb.init();
    let w = Watch::start(&sb, &["-i", "200ms"]);
    w.next(5 * SECOND).expect("hello");
    let mut run = sb
        .cmd(&["--json", "run", "-m", "baseline"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = w.until("run_started", 10 * SECOND);
    let e = started.last().unwrap();
    assert_eq!(
        (e["run"].as_u64(), e["pid"].as_u64()),
        (Some(0), Some(u64::from(run.id())))
    );
    assert!(e["log"].as_str().unwrap().ends_with("0.log"), "{e}");
    run.kill().unwrap();
    run.wait().unwrap();
    let events = w.until("alert", 5 * SECOND);
    let dead = events
        .iter()
        .rfind(|e| e["type"] == "loop")
        .expect("a loop event");
    assert_eq!(
        (dead["state"].as_str(), dead["previous"].as_str()),
        (Some("dead"), Some("running"))
    );
    assert_eq!(events.last().unwrap()["kind"], "loop-dead");
    // `status` and a fresh `watch` agree.
    let out = sb.run(&["watch", "--once"]);
    let hello: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(hello["status"]["loop"]["stale"], true);
    // Clean up the eval the killed `run` left.
    sb.run(&["--json", "run", "--recheck", "-m", "x"]);
}

#[test]
fn a_closed_pipe_ends_the_watch_quietly() {
    let sb = project();
    let mut child = sb
        .cmd(&["watch", "-i", "5s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // What `| head -1` does: read one line, close the pipe.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"hello\""), "{first}");
    drop(out);
    let started = Instant::now();
    let w = Watch {
        child,
        lines: mpsc::channel().1,
    };
    let (code, err, _) = w.wait(10 * SECOND);
    assert_eq!(code, 0);
    assert_eq!(err, "", "no message, no panic");
    assert!(
        started.elapsed() < 3 * SECOND,
        "it noticed without waiting for an interval"
    );
}

#[test]
fn exec_runs_the_hook_once_per_new_best_with_the_event_on_stdin() {
    let sb = project();
    let got = sb.path("../hooked");
    let hook = format!(
        "cat >> '{}'; echo $AUTORESEARCH_EVENT >> '{}.names'",
        got.display(),
        got.display()
    );
    let w = Watch::start(&sb, &["-i", "200ms", "--on", "new-best", "--exec", &hook]);
    w.next(5 * SECOND).expect("hello");
    set_x(&sb, "0.5");
    run(&sb, &["-m", "better"]).ok();
    set_x(&sb, "0.9");
    run(&sb, &["-m", "worse"]).ok();
    set_x(&sb, "0.2");
    run(&sb, &["-m", "better again"]).ok();
    let mut records = 0;
    while records < 3 {
        let e = w.next(10 * SECOND).expect("three records");
        records += usize::from(e["type"] == "record");
    }
    let end = Instant::now() + 5 * SECOND;
    let lines = loop {
        let text = std::fs::read_to_string(&got).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 2 || Instant::now() > end {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(SECOND / 2);
    let text = std::fs::read_to_string(&got).unwrap();
    assert_eq!(text.lines().count(), 2, "one per new best: {text}");
    let runs: Vec<u64> = lines
        .iter()
        .map(|l| l["record"]["run"].as_u64().unwrap())
        .collect();
    assert_eq!(runs, [1, 3]);
    assert!(
        lines
            .iter()
            .all(|l| l["new_best"] == true && l["type"] == "record")
    );
    let names = std::fs::read_to_string(format!("{}.names", got.display())).unwrap();
    assert_eq!(names, "new-best\nnew-best\n");
}

#[test]
fn a_failing_or_hanging_hook_is_reported_and_the_watch_goes_on() {
    let sb = project();
    let w = Watch::start(
        &sb,
        &[
            "-i",
            "200ms",
            "--on",
            "record",
            "--exec",
            "read x; case \"$x\" in *slow*) sleep 60;; *) echo broken >&2; exit 3;; esac",
            "--exec-timeout",
            "1s",
        ],
    );
    w.next(5 * SECOND).expect("hello");
    sb.record("discarded", Some("2"), "slow");
    sb.record("discarded", Some("3"), "fails");
    let mut alerts = Vec::new();
    let end = Instant::now() + 10 * SECOND;
    while alerts.len() < 2 && Instant::now() < end {
        if let Some(e) = w.next(SECOND)
            && e["type"] == "alert"
        {
            alerts.push(e["message"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts[0].contains("stopped after 1s"), "{alerts:?}");
    assert!(alerts[1].contains("exited 3: broken"), "{alerts:?}");
    // Still watching.
    sb.record("discarded", Some("4"), "after");
    let e = w.until("record", 5 * SECOND);
    assert_eq!(e.last().unwrap()["record"]["summary"], "after");
}

#[test]
fn until_idle_returns_once_no_step_is_in_progress() {
    let sb = project();
    let out = sb.run(&["watch", "--until", "idle", "--timeout", "5s"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap()
            .contains("\"until\":\"idle\"")
    );
}

#[test]
fn the_human_frame_into_a_pipe_has_no_escape_without_colour_and_fits_its_lines() {
    let sb = project();
    let out = sb.run(&["--human", "watch", "--once"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    assert!(out.stdout.contains("autoresearch watch"), "{}", out.stdout);
    assert!(out.stdout.contains("baseline  #0 1"), "{}", out.stdout);
    let coloured = sb.run(&["--human", "--color", "always", "watch", "--once"]);
    assert!(coloured.stdout.contains("\u{1b}["), "--color always paints");
}

/// The dashboard in a real terminal: `script` gives it a pty; Ctrl-C (a 0x03 typed into the
/// terminal) must leave the alternate screen and show the cursor again.
#[test]
fn ctrl_c_at_a_terminal_restores_the_screen_and_the_cursor() {
    let sb = project();
    let probe = std::process::Command::new("script")
        .arg("--version")
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "`script` (util-linux) is needed for the terminal test; install it (apt-get install bsdutils)"
    );
    let log = sb.path("../typescript");
    let mut child = std::process::Command::new("script")
        .args([
            "-qfec",
            // `exec`: the watch is the only process in the terminal's foreground group, so
            // the Ctrl-C reaches it alone and not also a shell waiting for it (dash dies of it).
            &format!("stty cols 100 rows 30; exec {BIN} watch -i 200ms"),
        ])
        .arg(&log)
        .current_dir(&sb.root)
        .env("HOME", sb.path("../home"))
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let drawn =
        |text: &str| std::fs::read(&log).is_ok_and(|b| String::from_utf8_lossy(&b).contains(text));
    let end = Instant::now() + 10 * SECOND;
    while !drawn("Ctrl-C to quit") {
        assert!(Instant::now() < end, "no frame drawn");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let end = Instant::now() + 10 * SECOND;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "Ctrl-C did not end the watch");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let bytes = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let entered = bytes
        .find("\u{1b}[?1049h")
        .expect("entered the alternate screen");
    let left = bytes
        .rfind("\u{1b}[?1049l")
        .expect("left the alternate screen");
    let shown = bytes.rfind("\u{1b}[?25h").expect("showed the cursor");
    assert!(entered < left && entered < shown, "{bytes:?}");
    assert!(
        bytes.contains("\u{1b}[?25l"),
        "the cursor was hidden while drawing"
    );
}

#[test]
fn the_ledger_s_warnings_come_with_hello_and_at_the_top_of_the_frame() {
    let sb = project();
    let mut ledger = std::fs::OpenOptions::new()
        .append(true)
        .open(sb.path(".autoresearch/experiments.jsonl"))
        .unwrap();
    ledger.write_all(b"not a record\n").unwrap();
    let out = sb.run(&["watch", "--once"]);
    let hello: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    let warnings = hello["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("line 2")),
        "{hello}"
    );
    let human = sb.run(&["--human", "watch", "--once"]);
    assert!(
        human.stderr.contains("warning:") && human.stderr.contains("line 2"),
        "{}",
        human.stderr
    );
    assert!(
        human.stdout.contains("line 2"),
        "among the alerts: {}",
        human.stdout
    );
}
