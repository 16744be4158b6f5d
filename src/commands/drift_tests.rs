//! No drift: every `autoresearch <command> --flag` the skill, the guide and the rule files
//! mention exists in the real command tree, and closed-set positionals name real values.

use autoresearch::skills::{
    BODY, RuleFormat, TOPICS, description, rule_file, target_names, topic_names,
};

// ---------------------------------------------------------------------------------------------
// No drift: every `autoresearch <command> --flag` the skill and the guide mention exists.

/// Code in markdown: inline spans (joined across wrapped lines), indented lines, fenced blocks
/// (with `\` continuations joined).
fn code_snippets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut para = String::new();
    let mut fenced = false;
    let mut cont = String::new();
    let flush = |para: &mut String, out: &mut Vec<String>| {
        for (i, part) in para.split('`').enumerate() {
            if i % 2 == 1 {
                out.push(part.to_string());
            }
        }
        para.clear();
    };
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            flush(&mut para, &mut out);
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            flush(&mut para, &mut out);
            let l = line.trim();
            if let Some(head) = l.strip_suffix('\\') {
                cont.push_str(head);
                cont.push(' ');
                continue;
            }
            cont.push_str(l);
            out.push(std::mem::take(&mut cont));
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut para, &mut out);
        } else {
            para.push_str(line);
            para.push(' ');
        }
    }
    flush(&mut para, &mut out);
    out
}

/// Shell-ish words: quotes group (and mark a word as a value, never a flag), `#` ends a line.
fn words(snippet: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    for c in snippet.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                quoted = true;
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() || quoted {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                quoted = false;
            }
            None if c == '#' && cur.is_empty() => break,
            None => cur.push(c),
        }
    }
    if !cur.is_empty() || quoted {
        out.push((cur, quoted));
    }
    out
}

fn is_separator(w: &str) -> bool {
    matches!(w, "|" | "||" | "&&" | ";" | "→" | "->")
}

fn is_placeholder(w: &str) -> bool {
    w.contains('<')
        || w.contains("...")
        || (w.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !w.is_empty())
}

/// Every `autoresearch <sub> <args...>` invocation in the text.
fn invocations(text: &str) -> Vec<(String, Vec<(String, bool)>)> {
    let mut out = Vec::new();
    for snippet in code_snippets(text) {
        let ws = words(&snippet);
        let mut i = 0;
        while i < ws.len() {
            let at_start = i == 0 || is_separator(&ws[i - 1].0) || ws[i - 1].0.ends_with(';');
            if ws[i].0 == "autoresearch" && !ws[i].1 && at_start {
                let mut j = i + 1;
                while j < ws.len() && matches!(ws[j].0.as_str(), "--json" | "--human") {
                    j += 1;
                }
                if j < ws.len() && !is_placeholder(&ws[j].0) {
                    let sub = ws[j].0.trim_matches(|c| c == '[' || c == ']').to_string();
                    let mut args = Vec::new();
                    let mut k = j + 1;
                    while k < ws.len() && !is_separator(&ws[k].0) {
                        args.push(ws[k].clone());
                        k += 1;
                    }
                    out.push((sub, args));
                    i = k;
                    continue;
                }
            }
            i += 1;
        }
    }
    out
}

/// The flags a word names: `[--a|-b]`, `--x=1`, `-n/--limit` → each flag.
fn flags_in(word: &str) -> Vec<String> {
    word.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | ',' | '.'))
        .split(['|', '/'])
        .map(|p| p.split('=').next().unwrap_or("").to_string())
        .filter(|p| {
            let mut c = p.chars();
            c.next() == Some('-')
                && p.chars()
                    .nth(if p.starts_with("--") { 2 } else { 1 })
                    .is_some_and(|c| c.is_ascii_alphabetic())
        })
        .collect()
}

fn known_flags(sub: &clap::Command, cli: &clap::Command) -> Vec<String> {
    let mut out = vec!["--help".to_string(), "-h".to_string()];
    for a in sub
        .get_arguments()
        .chain(cli.get_arguments().filter(|a| a.is_global_set()))
    {
        if let Some(l) = a.get_long() {
            out.push(format!("--{l}"));
        }
        if let Some(s) = a.get_short() {
            out.push(format!("-{s}"));
        }
    }
    out
}

fn all_texts() -> Vec<(String, String)> {
    let mut texts = vec![
        ("SKILL.md".to_string(), BODY.to_string()),
        ("description.txt".to_string(), description().to_string()),
        ("cursor rule".to_string(), rule_file(RuleFormat::Cursor)),
        ("windsurf rule".to_string(), rule_file(RuleFormat::Windsurf)),
    ];
    for t in TOPICS {
        texts.push((format!("guide/{}.md", t.name), t.text.to_string()));
    }
    texts
}

#[test]
fn every_command_and_flag_the_skill_mentions_exists() {
    use clap::CommandFactory;
    let cli = super::Cli::command();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, text) in all_texts() {
        for (sub, args) in invocations(&text) {
            checked += 1;
            let known: Vec<String> = match cli.find_subcommand(&sub) {
                Some(c) => known_flags(c, &cli),
                None => {
                    problems.push(format!("{file}: `autoresearch {sub}` is not a command"));
                    continue;
                }
            };
            let mut positionals = Vec::new();
            for (w, quoted) in &args {
                if *quoted {
                    continue;
                }
                let flags = flags_in(w);
                if flags.is_empty() {
                    positionals.push(w.trim_matches(|c| c == '[' || c == ']').to_string());
                }
                for f in flags {
                    if !known.contains(&f) {
                        problems.push(format!("{file}: `autoresearch {sub}` has no flag `{f}`"));
                    }
                }
            }
            // Positionals with a closed set of values must name real ones.
            let valid: Option<Vec<&str>> = match sub.as_str() {
                "guide" => Some(topic_names().into_iter().chain(["all"]).collect()),
                "install" | "uninstall" => {
                    Some(target_names().into_iter().chain(["all"]).collect())
                }
                _ => None,
            };
            if let Some(valid) = valid {
                // Only the words right after the command: `install codex agents`, not the
                // values of options (`--status kept`).
                for (w, quoted) in args.iter().take_while(|(w, _)| !w.starts_with('-')) {
                    let w = w.trim_matches(|c: char| {
                        c == '[' || c == ']' || c == ',' || c == ')' || c == '('
                    });
                    if !quoted && !is_placeholder(w) && !valid.contains(&w) {
                        problems.push(format!(
                            "{file}: `autoresearch {sub} {w}`: no such {sub} value"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 60,
        "only {checked} invocations found: is the extractor broken?"
    );
    assert!(
        problems.is_empty(),
        "the skill drifted from the CLI:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_drift_check_catches_drift() {
    let inv = invocations(
        "Run `autoresearch log --nope -n 3` then\n\n    autoresearch guide \\\n      stuck # x\n",
    );
    assert_eq!(inv.len(), 2);
    assert_eq!(inv[0].0, "log");
    assert_eq!(flags_in(&inv[0].1[0].0), ["--nope"]);
    assert_eq!(inv[1].0, "guide");
    assert_eq!(inv[1].1[0].0, "stuck");
    assert!(
        flags_in("-3.5").is_empty(),
        "a negative number is not a flag"
    );
    assert_eq!(flags_in("[--summary|-m"), ["--summary", "-m"]);
    // `git switch autoresearch` is not an invocation of the CLI.
    assert!(invocations("`git switch autoresearch`").is_empty());
}
