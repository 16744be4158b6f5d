//! The architecture, checked (docs/ARCHITECTURE.md): the library never prints and never looks
//! at the output mode; imports point down only; no module imports another that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir` (test-only files aside), with its code outside `#[cfg(test)]`
/// modules and comments.
fn code_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p.to_string_lossy().ends_with("tests.rs")
            {
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                let code: String = code
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                out.push((p, code));
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules the library declares in `lib.rs`.
fn library_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let mods: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    assert!(mods.len() >= 8, "lib.rs declares {mods:?}");
    mods
}

/// The top-level module a file belongs to (`engine/decide.rs` → `engine`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn the_library_never_prints_nor_reads_the_output_mode() {
    let mods = library_modules();
    let forbidden = [
        "print!",
        "println!",
        "eprint!",
        "eprintln!",
        "dbg!",
        "stdout()",
        "stderr()",
        "IsTerminal",
        "AUTORESEARCH_FORMAT",
        "NO_COLOR",
        "hint(",
    ];
    let mut seen = 0;
    for (path, code) in code_files(&src()) {
        if !mods.contains(&module_of(&path)) {
            continue;
        }
        seen += 1;
        for f in forbidden {
            assert!(
                !code.contains(f),
                "{} uses `{f}`: the library returns data, the binary prints",
                path.display()
            );
        }
    }
    assert!(seen >= 15, "only {seen} library files found");
}

/// `crate::<module>` references in the binary's code, by file.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + 7..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// The binary's layers, top to bottom: `main` → `commands` → `coach`, `ctx` → `output`.
/// A layer may use the ones below it, never one above.
#[test]
fn the_binary_imports_point_down() {
    let rank = |m: &str| match m {
        "main" => 4,
        "commands" => 3,
        "coach" | "ctx" => 2,
        "output" => 1,
        _ => 0,
    };
    let mods = library_modules();
    let mut checked = 0;
    for (path, code) in code_files(&src()) {
        let from = module_of(&path);
        if mods.contains(&from) || from == "lib" {
            // The library cannot name the binary at all: the compiler enforces it.
            continue;
        }
        checked += 1;
        for to in crate_refs(&code) {
            assert!(
                rank(&to) > 0,
                "{} uses `crate::{to}`, which is not a layer of the binary",
                path.display()
            );
            assert!(
                rank(&to) < rank(&from) || to == from,
                "{} (`{from}`) imports `crate::{to}`, a layer above or beside it",
                path.display()
            );
        }
        if from == "commands" && !path.ends_with("commands/mod.rs") {
            for parent_item in ["super::Cli", "super::Command", "super::dispatch"] {
                assert!(
                    !code.contains(parent_item),
                    "{} reaches up into the dispatcher (`{parent_item}`)",
                    path.display()
                );
            }
        }
    }
    assert!(checked >= 15, "only {checked} binary files found");
}

/// Within the library, `crate::a` used from `b` and `crate::b` used from `a` would be a cycle.
#[test]
fn library_modules_form_no_cycle() {
    let mods = library_modules();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in code_files(&src()) {
        let from = module_of(&path);
        if !mods.contains(&from) {
            continue;
        }
        let to: BTreeSet<String> = crate_refs(&code)
            .into_iter()
            .filter(|m| m != &from && mods.contains(m))
            .collect();
        edges.entry(from).or_default().extend(to);
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(
            !path.iter().any(|p| p == m),
            "import cycle: {} -> {m}",
            path.join(" -> ")
        );
        path.push(m.to_string());
        for n in edges.get(m).into_iter().flatten() {
            visit(n, edges, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
    assert!(done.len() >= 8);
}
