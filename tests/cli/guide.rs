//! `guide`: every topic in both modes, the overview, `all`, and unknown topics.

use crate::common::*;

const TOPICS: &[&str] = &[
    "loop",
    "setup",
    "strategy",
    "stuck",
    "crashes",
    "noise",
    "integrity",
    "manual",
    "forks",
    "watch",
    "cluster",
    "morning",
];

#[test]
fn every_topic_in_json_and_human_mode() {
    let sb = Sandbox::no_git();
    for t in TOPICS {
        let v = sb.run(&["--json", "guide", t]).json();
        assert_eq!(v["status"], "success");
        let d = &v["data"];
        assert_eq!(keys(d), ["topic", "title", "text", "topics"]);
        assert_eq!(d["topic"], *t);
        let text = d["text"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("# {}", d["title"].as_str().unwrap())),
            "{t}"
        );
        assert!(text.len() > 1000, "{t} has substance");
        let names: Vec<&str> = d["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, TOPICS);

        let out = sb.run(&["--human", "guide", t]);
        assert_eq!(out.code, 0);
        assert_eq!(
            out.stdout.trim_end(),
            text.trim_end(),
            "human mode prints the text itself"
        );
        assert!(!out.stdout.trim_start().starts_with('{'));
    }
}

#[test]
fn overview_and_all() {
    let sb = Sandbox::no_git();
    let v = sb.run(&["--json", "guide"]).json();
    let d = &v["data"];
    assert!(d["topic"].is_null());
    assert!(d["text"].as_str().unwrap().contains("autoresearch run -m"));
    assert!(
        v["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str().unwrap().contains("autoresearch status"))
    );
    let out = sb.run(&["--human", "guide"]);
    assert_eq!(out.code, 0);
    for t in TOPICS {
        assert!(
            out.stdout.contains(&format!("\n  {t} ")),
            "topic list names {t}"
        );
    }
    let all = sb.run(&["--json", "guide", "all"]).ok();
    let text = all["text"].as_str().unwrap();
    for t in TOPICS {
        let one = sb.run(&["--json", "guide", t]).ok();
        assert!(
            text.contains(one["text"].as_str().unwrap().trim_end()),
            "all contains {t}"
        );
    }
    // Case does not matter.
    assert_eq!(sb.run(&["--json", "guide", "STUCK"]).ok()["topic"], "stuck");
}

#[test]
fn unknown_topic_is_a_usage_error_listing_topics() {
    let sb = Sandbox::no_git();
    let v = sb.run(&["--json", "guide", "nonsense"]).err("usage", 2);
    let msg = v["error"]["message"].as_str().unwrap();
    for t in TOPICS {
        assert!(msg.contains(t), "{msg}");
    }
    let out = sb.run(&["--human", "guide", "nonsense"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("error:") && out.stderr.contains("autoresearch guide"),
        "{}",
        out.stderr
    );
}
