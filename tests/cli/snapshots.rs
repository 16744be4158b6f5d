//! The interface, pinned: JSON envelopes (key order included) and the main human views, on the
//! fixed ledger of `fixture`, as insta snapshots in `tests/cli/snapshots/`.
//!
//! A change to one of these outputs fails here until the snapshot is updated and reviewed:
//! run `INSTA_UPDATE=always cargo test --locked --test cli snapshots`, read the diff of
//! `tests/cli/snapshots/` in git, and commit it with the change. (Under `CI` insta writes
//! nothing and fails on a mismatch or a missing snapshot.)
//!
//! What differs from one run to the next is redacted: the sandbox's temp path, timestamps,
//! record ids, commit hashes, measured durations, ages, and the version (so a release does not
//! rewrite a snapshot; `agent_info_json` checks the version against Cargo.toml instead).

use insta::internals::Content;
use insta::{Settings, assert_json_snapshot, assert_snapshot};
use serde_json::Value;

use crate::common::*;
use crate::fixture;

/// `s` with the characters a regex gives a meaning to escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value that changes from run to run, unless it is null (whether a field is null is part of
/// the interface).
fn unless_null(label: &'static str) -> impl Fn(Content, insta::internals::ContentPath) -> Content {
    move |value, _| match value {
        Content::Unit | Content::None => value,
        _ => Content::from(label),
    }
}

/// Redactions and filters for everything in `sb`'s output that is not the same on every run.
fn settings(sb: &Sandbox) -> Settings {
    let mut s = Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    // The sandbox's temp dir (`/tmp/.tmpXXXXXX`), raw and canonical.
    let dir = sb.root.parent().unwrap();
    if let Ok(canonical) = dir.canonicalize() {
        s.add_filter(&regex_escape(canonical.to_str().unwrap()), "[sandbox]");
    }
    s.add_filter(&regex_escape(dir.to_str().unwrap()), "[sandbox]");
    s.add_filter(&regex_escape(env!("CARGO_PKG_VERSION")), "[version]");
    // Hashes inside messages and patches; fields holding one are redacted below.
    s.add_filter(r"\b[0-9a-f]{40}\b", "[hash]");
    // The measured duration at the end of an eval's log (`… bytes of output in 0.01s ---`).
    s.add_filter(r"output in \d+(\.\d+)?s", "output in [duration]");
    // Ages in human views: the fixed ledger's grow by a day every day.
    s.add_filter(r"\b\d+[smhd] ago\b", "[age]");
    for key in [
        "timestamp",
        "commit",
        "parent",
        "started_at",
        "heartbeat_at",
    ] {
        s.add_dynamic_redaction(&format!(".**.{key}"), unless_null("[redacted]"));
    }
    s.add_dynamic_redaction(".**.duration_s", unless_null("[duration]"));
    // `id` only where it is a record's: doctor's checks have ids that are part of the contract.
    for record in [
        ".data.record",
        ".data.best",
        ".data.baseline",
        ".data.records[]",
    ] {
        s.add_dynamic_redaction(&format!("{record}.id"), unless_null("[id]"));
    }
    s.add_dynamic_redaction(".data.id", unless_null("[id]"));
    s
}

fn json(sb: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    sb.run(&all).json()
}

/// A human view as one text: the exit code, then stdout, then stderr.
fn human(sb: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["--human", "--color", "never"];
    all.extend_from_slice(args);
    let out = sb.run(&all);
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

#[test]
fn agent_info_json() {
    let sb = Sandbox::new();
    let v = json(&sb, &["agent-info"]);
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    settings(&sb).bind(|| assert_json_snapshot!("agent_info_json", v));
}

/// Found reading `agent_info_json.snap`: the global `--color WHEN` is described as a switch
/// (`takes_value: false`), and the global switches `--json`/`--human` as taking `true|false`,
/// unlike every subcommand's switches (`--force`, `--all`: no possible values). An agent that
/// builds calls from `agent-info` would write `--color` alone, or `--json true`.
#[test]
fn agent_info_describes_global_flags_like_the_others() {
    let sb = Sandbox::new();
    let d = sb.run(&["--json", "agent-info"]).ok();
    let flag = |name: &str| {
        d["global_flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no global flag {name}"))
            .clone()
    };
    let color = flag("color");
    assert_eq!(color["takes_value"], true, "{color}");
    for switch in ["json", "human"] {
        let f = flag(switch);
        assert_eq!(f["takes_value"], false, "{f}");
        assert_eq!(f["possible_values"], serde_json::json!([]), "{f}");
    }
}

#[test]
fn json_envelopes_of_the_fixed_ledger() {
    let sb = fixture::fixed_project();
    settings(&sb).bind(|| {
        assert_json_snapshot!("status_json", json(&sb, &["status"]));
        assert_json_snapshot!("log_json", json(&sb, &["log"]));
        assert_json_snapshot!("best_json", json(&sb, &["best"]));
        assert_json_snapshot!("doctor_no_eval_json", json(&sb, &["doctor", "--no-eval"]));
        // An error envelope: no `data`, an `error` object between `command` and `hints`.
        assert_json_snapshot!("error_json", json(&sb, &["diff", "0", "99"]));
    });
}

#[test]
fn json_envelope_of_a_failure_with_data() {
    // `doctor` before `init` fails and still carries its checks: `error`, then `data`.
    let sb = Sandbox::new();
    let out = sb.run(&["--json", "doctor", "--no-eval"]);
    out.err("not_initialized", 2);
    let v = out.json();
    settings(&sb).bind(|| assert_json_snapshot!("doctor_failure_json", v));
}

#[test]
fn json_envelopes_of_record_and_run() {
    let sb = fixture::fixed_project();
    settings(&sb).bind(|| {
        let v = json(
            &sb,
            &[
                "record",
                "--status",
                "discarded",
                "--metric",
                "8",
                "-m",
                "by hand",
            ],
        );
        assert_json_snapshot!("record_json", v);
        sb.write("train.py", "x = 6\n");
        assert_json_snapshot!("run_json", json(&sb, &["run", "-m", "x = 6"]));
    });
}

#[test]
fn human_views_of_the_fixed_ledger() {
    let sb = fixture::fixed_project();
    settings(&sb).bind(|| {
        assert_snapshot!("status_human", human(&sb, &["status"]));
        assert_snapshot!("log_human", human(&sb, &["log"]));
        assert_snapshot!("best_human", human(&sb, &["best"]));
        assert_snapshot!("doctor_no_eval_human", human(&sb, &["doctor", "--no-eval"]));
    });
}
