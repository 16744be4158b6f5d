//! Coaching: an agent that reads nothing but envelopes gets from an empty repository, with no
//! skill installed, to a recorded baseline by doing what the hints say: `status` → `init` →
//! `doctor` → `run`.
//!
//! Not in `main.rs`'s module list on the `agents` branch: `doctor` and `run` come from the
//! `engine` branch. Enable it (`mod coaching;`) after merging both.

use serde_json::Value;

use crate::common::*;

/// Shell-ish words: quotes group and are removed.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// The backticked spans of every hint (and of the error's suggestion), in order.
fn spans(v: &Value) -> Vec<String> {
    let mut texts: Vec<String> = v["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    if let Some(s) = v["error"]["suggestion"].as_str() {
        texts.push(s.to_string());
    }
    texts
        .iter()
        .flat_map(|t| {
            t.split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The first hinted `autoresearch <sub> ...` command, as words after `autoresearch`.
fn hinted(v: &Value, sub: &str) -> Vec<String> {
    spans(v)
        .into_iter()
        .map(|s| words(&s))
        .find(|w| w.len() >= 2 && w[0] == "autoresearch" && w[1] == sub)
        .unwrap_or_else(|| panic!("no hint names `autoresearch {sub}`: {v}"))[1..]
        .to_vec()
}

/// Fill placeholders the way an agent would, from what it knows about its project.
fn fill(args: Vec<String>, values: &[(&str, &str)]) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            values
                .iter()
                .find(|(k, _)| *k == a)
                .map_or(a, |(_, v)| v.to_string())
        })
        .collect()
}

fn call(sb: &Sandbox, args: &[String]) -> Value {
    let mut full: Vec<&str> = vec!["--json"];
    full.extend(args.iter().map(String::as_str));
    let out = sb.run(&full);
    let v = out.json();
    assert_eq!(
        v["status"],
        "success",
        "`autoresearch {}` failed: {v}",
        args.join(" ")
    );
    assert_eq!(out.code, 0);
    v
}

#[test]
fn hints_lead_from_an_empty_repository_to_a_baseline() {
    let sb = Sandbox::empty();
    // The agent's project: code to optimise and an eval that prints the metric.
    sb.write("train.py", "x = 3\n");
    sb.write(
        "eval.sh",
        "#!/bin/sh\necho \"score: $(sed -n 's/^x = //p' train.py)\"\n",
    );

    // 1. status: not set up; the hint names `init` with placeholders.
    let v = call(&sb, &["status".to_string()]);
    assert_eq!(v["data"]["initialized"], false);
    assert_eq!(
        v["data"]["skills"],
        serde_json::json!([]),
        "no skill installed"
    );
    let init = fill(
        hinted(&v, "init"),
        &[
            ("<file>", "train.py"),
            ("<cmd>", "sh eval.sh"),
            ("<name>", "score"),
            ("lower|higher", "lower"),
        ],
    );

    // 2. init: the hints say to commit (with the exact files) and then to run doctor.
    let v = call(&sb, &init);
    let git_add = spans(&v)
        .into_iter()
        .find(|s| s.starts_with("git add "))
        .unwrap_or_else(|| panic!("no commit hint: {v}"));
    let (add, _) = git_add
        .split_once(" && ")
        .expect("git add ... && git commit ...");
    let mut paths = words(add)[2..].to_vec();
    assert!(
        paths.contains(&"train.py".to_string()),
        "the untracked target is named: {git_add}"
    );
    let all_hints = v["hints"].to_string();
    if all_hints.contains("no commit yet") {
        // "add the files the eval needs as well"
        paths.push("eval.sh".to_string());
    }
    let repo = sb.repo();
    let mut index = repo.index().unwrap();
    for p in &paths {
        index.add_path(std::path::Path::new(p)).unwrap();
    }
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Agent", "agent@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "autoresearch setup", &tree, &[])
        .unwrap();
    let doctor = hinted(&v, "doctor");

    // 3. doctor: everything checks out; the hint names the baseline run.
    let v = call(&sb, &doctor);
    let run = hinted(&v, "run");

    // 4. run: the baseline is recorded.
    let v = call(&sb, &run);
    assert_eq!(v["data"]["status"], "baseline", "{v}");
    assert_eq!(v["data"]["metric"], 3.0);
    let ledger = sb.ledger_lines();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["status"], "baseline");

    // And from here the hints keep the loop going.
    let v = call(&sb, &["status".to_string()]);
    assert!(
        spans(&v)
            .iter()
            .any(|s| s.starts_with("autoresearch run -m")),
        "{v}"
    );
}
