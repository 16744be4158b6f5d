//! Colour (docs/CONTRACT.md §1): the policy (`--color`, then `NO_COLOR`, then `CLICOLOR_FORCE`,
//! then "is it a terminal?") and the promise that colour never changes layout: every human view
//! printed with `--color always`, escapes stripped, is byte for byte the `--color never` view,
//! on stdout and on stderr.
//!
//! Views of the fixed ledger (`fixture`) are compared call against call in one sandbox. Views
//! that change the project (`init`, `record`, `run`, `install`) are compared across two
//! sandboxes built the same way, one painted and one plain, with each sandbox's own temp path
//! written as `<sandbox>`.

use std::path::Path;
use std::process::{Command, Stdio};

use unicode_width::UnicodeWidthStr;

use crate::common::*;
use crate::fixture::{self, STATUSES, SUMMARIES};

/// Remove ANSI CSI sequences: ESC `[`, parameter bytes (0x30–0x3F), intermediate bytes
/// (0x20–0x2F), one final byte (0x40–0x7E). Written here rather than borrowed from `src/`, so a
/// bug in the program's own stripper cannot hide a bug in its painting.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' || chars.peek() != Some(&'[') {
            out.push(c);
            continue;
        }
        chars.next();
        while chars.next_if(|c| ('\x30'..='\x3f').contains(c)).is_some() {}
        while chars.next_if(|c| ('\x20'..='\x2f').contains(c)).is_some() {}
        match chars.next() {
            Some(f) if ('\x40'..='\x7e').contains(&f) => {}
            other => panic!("unterminated CSI sequence (then {other:?}) in {s:?}"),
        }
    }
    out
}

fn has_escapes(s: &str) -> bool {
    s.contains('\x1b')
}

/// Where the painted call must show colour, so that a comparison proves something.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ink {
    /// The view on stdout is painted (tables, status words, titles).
    Stdout,
    /// Only stderr is (an error view: `error:` in red, `try:` dimmed).
    Stderr,
    /// Both are (a failing `doctor`: its checks, then the error).
    Both,
    /// Nothing needs to be (plain text such as `guide`); the layout must still match.
    Any,
}

/// Output that legitimately differs between two calls, rewritten the same way on both sides
/// before they are compared. Each rule is as narrow as it can be, so it hides nothing else.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Volatile {
    /// Lines that carry a measured time (`time  0.01s`, `exited 0 in 0.01s`, `… in 4.1s`,
    /// `0s ago`): two calls never take exactly as long, so every number in such a line is
    /// written `N`. The rest of the line, and every other line, is still compared as is.
    Timings,
    /// The short commit hash on `run`'s `commit` line: twin sandboxes that commit in different
    /// seconds get different hashes.
    CommitLine,
}

/// A human call with an explicit colour choice.
fn human(sb: &Sandbox, cwd: &Path, color: &str, args: &[&str]) -> Out {
    let mut all = vec!["--human", "--color", color];
    all.extend_from_slice(args);
    sb.run_in(cwd, &all)
}

/// Is there a duration such as `0.01s`, `10s`, `34ms` or `3s ago` in this line?
fn has_duration(line: &str) -> bool {
    let b = line.as_bytes();
    (0..b.len()).any(|i| {
        if !b[i].is_ascii_digit()
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            return false;
        }
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        // `10s`, and `34ms` (`text::format_duration` below a second).
        if b.get(j) == Some(&b'm') && b.get(j + 1) == Some(&b's') {
            j += 1;
        }
        b.get(j) == Some(&b's') && b.get(j + 1).is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// Every run of digits (and the dots between them) as `N`.
fn digits_as_n(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// Hex words of 7 or more characters as `<hash>`.
fn hex_as_hash(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            if w.len() >= 7 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                "<hash>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn normalise(text: &str, volatile: &[Volatile]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = line.split_at(line.trim_end_matches('\n').len());
        let mut l = body.to_string();
        if volatile.contains(&Volatile::Timings) && has_duration(&l) {
            l = digits_as_n(&l);
        }
        if volatile.contains(&Volatile::CommitLine) && l.starts_with("commit ") {
            l = hex_as_hash(&l);
        }
        out.push_str(&l);
        out.push_str(end);
    }
    out
}

/// A sandbox's own temp path as `<sandbox>`, so twin sandboxes print the same text.
fn sandbox_paths(sb: &Sandbox, text: &str) -> String {
    let dir = sb.root.parent().unwrap();
    let mut out = text.to_string();
    if let Ok(canonical) = dir.canonicalize() {
        out = out.replace(canonical.to_str().unwrap(), "<sandbox>");
    }
    out.replace(dir.to_str().unwrap(), "<sandbox>")
}

/// How one side's text is rewritten before the comparison (see `Volatile`, `sandbox_paths`).
type Fix<'a> = &'a dyn Fn(&str) -> String;

/// The heart of this module: `always`, escapes stripped, is `never` byte for byte, on both
/// streams; `never` has no escape at all; `always` has escapes where `ink` says. `fix_always`
/// and `fix_never` rewrite what may legitimately differ; they run after stripping, so they
/// never see an escape.
fn assert_same_layout(
    label: &str,
    (always, fix_always): (&Out, Fix),
    (never, fix_never): (&Out, Fix),
    ink: Ink,
) {
    assert_eq!(
        always.code, never.code,
        "{label}: exit codes differ\nalways: {always:?}\nnever: {never:?}"
    );
    for (stream, a, n) in [
        ("stdout", &always.stdout, &never.stdout),
        ("stderr", &always.stderr, &never.stderr),
    ] {
        assert!(
            !has_escapes(n),
            "{label}: escapes in {stream} with --color never:\n{n}"
        );
        let stripped = strip_ansi(a);
        assert!(
            !has_escapes(&stripped),
            "{label}: an escape that is not a CSI sequence in {stream}:\n{a:?}"
        );
        let (stripped, n) = (fix_always(&stripped), fix_never(n));
        assert!(
            stripped == n,
            "{label}: {stream} with --color always (stripped) differs from --color never\n\
             --- always, stripped ---\n{stripped}\n--- never ---\n{n}\n--- always, raw ---\n{a:?}"
        );
    }
    for line in never.stdout.lines().chain(never.stderr.lines()) {
        assert!(
            !line.ends_with([' ', '\t']),
            "{label}: trailing whitespace in {line:?}"
        );
    }
    if matches!(ink, Ink::Stdout | Ink::Both) {
        assert!(
            has_escapes(&always.stdout),
            "{label}: --color always painted nothing on stdout:\n{}",
            always.stdout
        );
    }
    if matches!(ink, Ink::Stderr | Ink::Both) {
        assert!(
            has_escapes(&always.stderr),
            "{label}: --color always painted nothing on stderr:\n{}",
            always.stderr
        );
    }
    assert!(
        !never.stdout.is_empty() || !never.stderr.is_empty(),
        "{label}: printed nothing at all"
    );
}

/// One view, called twice in the same sandbox: painted, then plain.
fn same_view(sb: &Sandbox, args: &[&str], ink: Ink, volatile: &[Volatile]) {
    let always = human(sb, &sb.root, "always", args);
    let never = human(sb, &sb.root, "never", args);
    let fix = |s: &str| normalise(s, volatile);
    assert_same_layout(&args.join(" "), (&always, &fix), (&never, &fix), ink);
}

/// Two sandboxes built the same way: every step runs painted in `a` and plain in `b`.
struct Twins {
    a: Sandbox,
    b: Sandbox,
}

impl Twins {
    fn new(build: impl Fn() -> Sandbox) -> Twins {
        Twins {
            a: build(),
            b: build(),
        }
    }

    /// Do the same thing to both sandboxes (write a file, commit...).
    fn both(&self, f: impl Fn(&Sandbox)) {
        f(&self.a);
        f(&self.b);
    }

    /// Run `args` painted in `a` and plain in `b`, compare, and return the plain output.
    fn step(&self, args: &[&str], ink: Ink, volatile: &[Volatile]) -> Out {
        let always = human(&self.a, &self.a.root, "always", args);
        let never = human(&self.b, &self.b.root, "never", args);
        let fix_a = |s: &str| normalise(&sandbox_paths(&self.a, s), volatile);
        let fix_b = |s: &str| normalise(&sandbox_paths(&self.b, s), volatile);
        assert_same_layout(&args.join(" "), (&always, &fix_a), (&never, &fix_b), ink);
        never
    }
}

/// The helpers above decide what the comparisons can see: if one silently did nothing, a
/// comparison would pass or fail by luck (two commits made in the same second share a hash).
#[test]
fn the_comparison_helpers_do_what_they_say() {
    assert_eq!(
        strip_ansi("\x1b[1mrun\x1b[0m  \x1b[38;5;2mkept\x1b[m é"),
        "run  kept é"
    );
    assert!(has_duration("4 runs · 34ms elapsed") && !has_duration("4 rooms"));
    let volatile = [Volatile::Timings, Volatile::CommitLine];
    let text = "commit    e405f42ea9\ncommit    e405f42ea9 (on the branch)\ntime      0.01s\n  \
                --- autoresearch: exit code 3; 12 bytes of output in 10.5s ---\nlast run  #3 1.5  3s ago\n\
                metric    0.5\nbudget\n";
    assert_eq!(
        normalise(text, &volatile),
        "commit    <hash>\ncommit    <hash> (on the branch)\ntime      Ns\n  \
         --- autoresearch: exit code N; N bytes of output in Ns ---\nlast run  #N N  Ns ago\n\
         metric    0.5\nbudget\n"
    );
    assert_eq!(normalise(text, &[]), text);
    assert!(!has_duration("x = 9s1") && !has_duration("v1.5s") && has_duration("(4.1s)"));
}

// ---------------------------------------------------------------------------------------------
// Colour never changes layout.

#[test]
fn views_of_a_fixed_ledger_are_the_same_painted_and_plain() {
    let sb = fixture::fixed_project();
    let views: &[(&[&str], Ink)] = &[
        (&["status"], Ink::Stdout),
        (&["log"], Ink::Stdout),
        (&["log", "--all"], Ink::Stdout),
        (&["log", "--reverse"], Ink::Stdout),
        (&["log", "-n", "2"], Ink::Stdout),
        (&["log", "--status", "kept,crash"], Ink::Stdout),
        (&["log", "--branch", "nope"], Ink::Stderr),
        (&["best"], Ink::Stdout),
        (&["best", "--patch"], Ink::Stdout),
        (&["review"], Ink::Stdout),
        (&["merge-best"], Ink::Stdout),
        (&["merge-best", "--apply"], Ink::Stderr),
        (&["status", "--all-branches"], Ink::Stdout),
        // The dimmed note under a cut patch.
        (&["best", "--patch", "--max-patch-bytes", "10"], Ink::Stdout),
        // Secondary metrics (`mem_gb`) on both sides.
        (&["diff", "0", "1"], Ink::Stdout),
        // The wide summary in a middle column, so the column after it must line up.
        (&["diff", "2", "1"], Ink::Stdout),
        // A crash: no metric, a dash.
        (&["diff", "0", "3"], Ink::Stdout),
        (&["doctor", "--no-eval"], Ink::Stdout),
        (&["export", "-o", "ledger.csv"], Ink::Any),
        (&["agent-info"], Ink::Stdout),
        (&["guide"], Ink::Any),
        (&["guide", "stuck"], Ink::Any),
        (&["install", "all", "--dry-run"], Ink::Stdout),
        // Errors: one from the command, one from argument parsing.
        (&["diff", "0", "99"], Ink::Stderr),
        (&["log", "--limit", "many"], Ink::Stderr),
    ];
    for (args, ink) in views {
        same_view(&sb, args, *ink, &[]);
    }
    // With the eval: it reports how long the eval took.
    same_view(&sb, &["doctor"], Ink::Stdout, &[Volatile::Timings]);
}

#[test]
fn views_with_warnings_are_the_same_painted_and_plain() {
    let sb = fixture::fixed_project();
    // A line that is not a record: the views go on, with `warning:` lines on stderr.
    let ledger = sb.path(".autoresearch/experiments.jsonl");
    let mut text = std::fs::read_to_string(&ledger).unwrap();
    text.push_str("not a record\n");
    std::fs::write(&ledger, text).unwrap();
    for args in [&["status"][..], &["log", "--all"], &["best"]] {
        let always = human(&sb, &sb.root, "always", args);
        assert!(
            always.stderr.contains("warning:"),
            "{args:?}: {}",
            always.stderr
        );
        same_view(&sb, args, Ink::Both, &[]);
    }
}

/// `import`'s view, its dry run, its warning for an unknown status and its refusal.
#[test]
fn import_views_are_the_same_painted_and_plain() {
    let t = Twins::new(Sandbox::new);
    t.step(INIT, Ink::Stdout, &[]);
    t.both(|sb| {
        sb.commit_all("autoresearch setup");
        sb.write(
            "results.tsv",
            "commit\tscore\tmemory_gb\tstatus\tdescription\n\
             a1\t10\t1.5\tkeep\tbase\n\
             a2\t7\t1.5\tkeep\tbetter\n\
             a3\t0\t0\tcrash\toom\n\
             a4\t9\t1.5\tmaybe\thm\n",
        );
        sb.write("bad.tsv", "commit\tscore\tstatus\na1\t10\n");
    });
    t.step(&["import", "results.tsv", "--dry-run"], Ink::Stdout, &[]);
    t.step(&["import", "results.tsv"], Ink::Both, &[]);
    t.step(&["import", "results.tsv"], Ink::Stdout, &[]);
    t.step(&["import", "bad.tsv"], Ink::Stderr, &[]);
}

#[test]
fn views_that_change_the_project_are_the_same_painted_and_plain() {
    let t = Twins::new(Sandbox::new);
    t.step(&["status"], Ink::Stdout, &[]);
    // A failing doctor: its checks on stdout, then the error on stderr.
    let out = t.step(&["doctor", "--no-eval"], Ink::Both, &[]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    t.step(INIT, Ink::Stdout, &[]);
    t.both(|sb| {
        sb.commit_all("autoresearch setup");
    });
    t.step(&["status"], Ink::Stdout, &[]);
    for (status, metric) in [
        ("baseline", Some("10")),
        ("kept", Some("7")),
        ("discarded", Some("9")),
        ("crash", None),
        ("timeout", None),
    ] {
        let mut args = vec!["record", "--status", status, "-m", "naïve 漢字 ✓"];
        if let Some(m) = metric {
            args.extend(["--metric", m]);
        }
        let out = t.step(&args, Ink::Stdout, &[]);
        assert!(out.stdout.contains(status), "{}", out.stdout);
    }
    // Forks, their ranking and the per-branch views.
    t.step(&["fork", "a", "b", "--dry-run"], Ink::Stdout, &[]);
    t.step(&["fork", "a", "b"], Ink::Stdout, &[]);
    t.step(&["status", "--all-branches"], Ink::Stdout, &[]);
    t.step(&["log", "--all-branches"], Ink::Stdout, &[]);
    t.step(&["best", "--all-branches"], Ink::Stdout, &[]);
    // No experiment branch yet: an error on stderr.
    t.step(&["merge-best"], Ink::Stderr, &[]);
    t.step(&["report", "-o", "out"], Ink::Stdout, &[Volatile::Timings]);
    t.step(&["fork", "a"], Ink::Stderr, &[]);
    t.step(&["install", "claude-code"], Ink::Stdout, &[]);
    t.step(&["uninstall", "claude-code", "--dry-run"], Ink::Stdout, &[]);
    t.step(
        &["export", "-o", "ledger.tsv", "--format", "tsv"],
        Ink::Any,
        &[],
    );
}

/// An eval that prints `score: <x>`, and for `x = boom` some output, then fails.
const CRASHING_EVAL: &str = r#"x=$(sed -n 's/^x = //p' train.py)
case "$x" in
  boom) echo "step 1"; echo "boom: it broke" >&2; exit 3 ;;
  *) echo "score: $x" ;;
esac
"#;

#[test]
fn run_views_are_the_same_painted_and_plain() {
    let t = Twins::new(|| {
        let sb = Sandbox::new();
        sb.write("eval.sh", CRASHING_EVAL);
        sb.commit_all("eval");
        sb.init();
        sb
    });
    // `run` prints its duration (`time  0.01s`, and in the log tail `… in 0.01s`) and the new
    // commit's hash, which differ between the two sandboxes.
    let volatile = &[Volatile::Timings, Volatile::CommitLine];
    let out = t.step(&["run", "-m", "baseline"], Ink::Stdout, volatile);
    assert!(out.stdout.contains("baseline"), "{}", out.stdout);
    for (x, status) in [("0.5", "kept"), ("3", "discarded"), ("boom", "crash")] {
        t.both(|sb| sb.write("train.py", &format!("x = {x}\n")));
        let out = t.step(&["run", "-m", &format!("x = {x}")], Ink::Stdout, volatile);
        assert!(out.stdout.contains(status), "{x}: {}", out.stdout);
        if status == "crash" {
            // The dimmed rule, then the eval's last lines: compared above with the rest.
            assert!(out.stdout.contains("boom: it broke"), "{}", out.stdout);
        }
    }
}

#[test]
fn demo_is_the_same_painted_and_plain() {
    // The demo takes seconds of waiting (its evals sleep), not of work: run both at once.
    let (a, b) = (Sandbox::no_git(), Sandbox::no_git());
    let spawn = |sb: &Sandbox, color: &str| {
        let dir = sb.root.join("toy");
        let mut c: Command = sb.cmd(&[
            "--human",
            "--color",
            color,
            "demo",
            "--dir",
            dir.to_str().unwrap(),
        ]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().expect("spawn demo")
    };
    let (ca, cb) = (spawn(&a, "always"), spawn(&b, "never"));
    let collect = |child: std::process::Child| {
        let o = child.wait_with_output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    let (always, never) = (collect(ca), collect(cb));
    assert_eq!(never.code, 0, "{}", never.stderr);
    // The demo prints its duration (`9 experiments in 4.1s`) and the age of the last run.
    let fix_a = |s: &str| normalise(&sandbox_paths(&a, s), &[Volatile::Timings]);
    let fix_b = |s: &str| normalise(&sandbox_paths(&b, s), &[Volatile::Timings]);
    assert_same_layout("demo", (&always, &fix_a), (&never, &fix_b), Ink::Stdout);
}

// ---------------------------------------------------------------------------------------------
// The policy: the flag, then NO_COLOR, then CLICOLOR_FORCE, then the terminal.

/// A call with exactly this colour environment (and no `--color` unless `args` has one).
fn with_env(sb: &Sandbox, args: &[&str], no_color: Option<&str>, force: Option<&str>) -> Out {
    let mut c = sb.cmd(args);
    c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    if let Some(v) = no_color {
        c.env("NO_COLOR", v);
    }
    if let Some(v) = force {
        c.env("CLICOLOR_FORCE", v);
    }
    run_cmd(c)
}

#[test]
fn colour_policy_follows_flag_then_no_color_then_clicolor_force() {
    let sb = fixture::fixed_project();
    for view in ["status", "log"] {
        let args = ["--human", view];
        let painted = |out: &Out| {
            assert_eq!(out.code, 0, "{view}: {}", out.stderr);
            has_escapes(&out.stdout)
        };
        // Into a pipe, with neither variable: no colour.
        assert!(!painted(&with_env(&sb, &args, None, None)), "{view}: pipe");
        // CLICOLOR_FORCE turns it on into a pipe, on both streams (stderr has the hints)...
        let forced = with_env(&sb, &args, None, Some("1"));
        assert!(painted(&forced), "{view}: CLICOLOR_FORCE=1");
        assert!(has_escapes(&forced.stderr), "{view}: {}", forced.stderr);
        // ...and NO_COLOR, set and non-empty, turns it off again.
        let off = with_env(&sb, &args, Some("1"), Some("1"));
        assert!(!painted(&off), "{view}: NO_COLOR=1 CLICOLOR_FORCE=1");
        assert!(!has_escapes(&off.stderr), "{view}: {}", off.stderr);
        // NO_COLOR set but empty does not count.
        let empty = with_env(&sb, &args, Some(""), Some("1"));
        assert!(painted(&empty), "{view}: NO_COLOR= CLICOLOR_FORCE=1");
        // CLICOLOR_FORCE=0 or empty forces nothing.
        assert!(
            !painted(&with_env(&sb, &args, None, Some("0"))),
            "{view}: =0"
        );
        assert!(
            !painted(&with_env(&sb, &args, None, Some(""))),
            "{view}: empty"
        );
        // The flag wins over both variables, either way.
        let never = ["--human", "--color", "never", view];
        let out = with_env(&sb, &never, None, Some("1"));
        assert!(!painted(&out) && !has_escapes(&out.stderr), "{view}: never");
        let always = ["--human", "--color", "always", view];
        let out = with_env(&sb, &always, Some("1"), None);
        assert!(painted(&out) && has_escapes(&out.stderr), "{view}: always");
        // `--color auto` is the default, spelled out.
        let auto = ["--human", "--color", "auto", view];
        assert!(
            painted(&with_env(&sb, &auto, None, Some("1"))),
            "{view}: auto"
        );
        assert!(!painted(&with_env(&sb, &auto, Some("1"), Some("1"))));
    }
}

#[test]
fn json_never_has_colour() {
    let sb = fixture::fixed_project();
    let calls: &[&[&str]] = &[
        &["--json", "--color", "always", "status"],
        &["--json", "--color", "always", "log", "--all"],
        &["--json", "--color", "always", "best", "--patch"],
        &["--json", "--color", "always", "doctor", "--no-eval"],
        &["--json", "--color", "always", "diff", "0", "99"],
        &["--json", "--color", "always", "log", "--limit", "many"],
        &["--json", "--color", "always", "agent-info"],
    ];
    for args in calls {
        let out = with_env(&sb, args, None, Some("1"));
        out.json();
        assert!(
            !has_escapes(&out.stdout) && !has_escapes(&out.stderr),
            "{args:?}: {out:?}"
        );
    }
    // Without `--json` stdout is a pipe here, so JSON mode: forcing colour changes nothing.
    let out = with_env(&sb, &["log"], None, Some("1"));
    out.json();
    assert!(!has_escapes(&out.stdout), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------
// Alignment, measured in display columns.

/// The text of `line` from display column `col` on; panics when `col` falls inside a wide
/// character (which is itself a misalignment).
fn from_column(line: &str, col: usize) -> &str {
    let mut w = 0;
    for (i, c) in line.char_indices() {
        if w == col {
            return &line[i..];
        }
        assert!(w < col, "column {col} falls inside {c:?} in {line:?}");
        w += c.to_string().width();
    }
    assert_eq!(w, col, "column {col} is past the end of {line:?}");
    ""
}

/// The display column at which each header word starts.
fn header_columns(header: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            let i = header
                .find(n)
                .unwrap_or_else(|| panic!("no {n:?} in {header:?}"));
            header[..i].width()
        })
        .collect()
}

#[test]
fn log_columns_line_up_painted_by_display_width() {
    let sb = fixture::fixed_project();
    let out = human(&sb, &sb.root, "always", &["log"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(has_escapes(&out.stdout), "{}", out.stdout);
    let text = strip_ansi(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "a header and five runs:\n{text}");
    let names = ["run", "status", "metric", "Δ best", "summary", "age"];
    let cols = header_columns(lines[0], &names);
    assert_eq!(cols[0], 0, "{}", lines[0]);
    for (run, line) in lines[1..].iter().enumerate() {
        // Every column starts after the gap between columns...
        for (name, &col) in names.iter().zip(&cols).skip(1) {
            let before = &line[..line.len() - from_column(line, col).len()];
            assert!(
                before.ends_with("  "),
                "#{run}: no gap before the {name} column (at {col}):\n{text}"
            );
        }
        // ...and the cells are where the header says.
        assert!(from_column(line, cols[0]).starts_with(&format!("#{run} ")));
        assert!(
            from_column(line, cols[1]).starts_with(STATUSES[run]),
            "#{run}: status not at column {}:\n{text}",
            cols[1]
        );
        assert!(
            from_column(line, cols[4]).starts_with(SUMMARIES[run]),
            "#{run}: summary not at column {}:\n{text}",
            cols[4]
        );
        let age = from_column(line, cols[5]);
        assert!(
            age.ends_with("d ago") && age.starts_with(|c: char| c.is_ascii_digit()),
            "#{run}: age not at column {} (after the wide summary):\n{text}",
            cols[5]
        );
    }
}

#[test]
fn diff_columns_line_up_after_a_wide_summary() {
    let sb = fixture::fixed_project();
    let out = human(&sb, &sb.root, "always", &["diff", "2", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = strip_ansi(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let col = header_columns(lines[0], &["#1"])[0];
    // Run 2's column holds the wide summary; run 1's column starts at the same place below it.
    for (row, first) in [
        ("status", "kept"),
        ("metric", "7"),
        ("mem_gb", "4.5"),
        ("summary", "smaller x"),
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no {row} row:\n{text}"));
        assert!(
            from_column(line, col).starts_with(first),
            "{row}: run 1's cell not at column {col}:\n{text}"
        );
    }
}
