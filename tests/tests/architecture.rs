//! The layout rules of `ARCHITECTURE.md`, checked on the sources: no import circle among the modules of either
//! crate, and no source file past the length that says it holds more than one concept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file longer than this holds more than one concept (the ~600 lines of `ARCHITECTURE.md`, with some slack).
const MAX_LINES: usize = 650;

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `exporters/otlp/mod.rs` → `exporters::otlp`; `private.rs` is mounted as `__private`.
fn module_path(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    if parts == ["private"] {
        parts = vec!["__private".to_owned()];
    }
    parts.join("::")
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths named after `prefix` (`crate::`, `super::`): `a::b` and, for a group `a::{b, c::d}`, `a::b` and `a::c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(is_ident) {
            continue;
        }
        let mut path = String::new();
        let mut tail = rest;
        loop {
            let ident: String = tail.chars().take_while(|c| is_ident(*c)).collect();
            if ident.is_empty() {
                break;
            }
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(&ident);
            tail = &tail[ident.len()..];
            if let Some(next) = tail.strip_prefix("::") {
                tail = next;
                if let Some(group) = tail.strip_prefix('{') {
                    let mut depth = 1;
                    let end = group
                        .char_indices()
                        .find(|(_, c)| {
                            depth += match c {
                                '{' => 1,
                                '}' => -1,
                                _ => 0,
                            };
                            depth == 0
                        })
                        .map_or(group.len(), |(i, _)| i);
                    let mut depth = 0;
                    let mut item = String::new();
                    for c in group[..end].chars().chain([',']) {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                let first: String = item.trim().chars().take_while(|c| is_ident(*c)).collect();
                                if !first.is_empty() {
                                    paths.push(format!("{path}::{first}"));
                                }
                                item.clear();
                                continue;
                            }
                            _ => {}
                        }
                        item.push(c);
                    }
                    break;
                }
            } else {
                break;
            }
        }
        if !path.is_empty() {
            paths.push(path);
        }
    }
    paths
}

/// The module of `path` (the longest prefix that is a module), if any but `from` itself.
fn resolve(modules: &BTreeSet<String>, from: &str, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|m| modules.contains(m) && m != from)
}

/// Each module and the modules it imports.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_path(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_path(src, file);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let code = code(&text);
        let parent = module.rsplit_once("::").map_or("", |(parent, _)| parent).to_owned();
        let mut imports = BTreeSet::new();
        for path in paths_after(&code, "crate::") {
            imports.extend(resolve(&modules, &module, &path));
        }
        for path in paths_after(&code, "super::") {
            let full = if parent.is_empty() { path } else { format!("{parent}::{path}") };
            imports.extend(resolve(&modules, &module, &full).or_else(|| Some(parent.clone()).filter(|p| *p != module)));
        }
        // A parent's `use child::…` / `pub use self::child::…`.
        for prefix in ["use self::", "use "] {
            for path in paths_after(&code, prefix) {
                let child = if module.is_empty() { path } else { format!("{module}::{path}") };
                if let Some(found) = resolve(&modules, &module, &child).filter(|m| m.starts_with(&module)) {
                    imports.insert(found);
                }
            }
        }
        imports.remove("");
        graph.insert(module, imports);
    }
    graph
}

/// A circle of imports, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut circle = stack[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(graph, next, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_back_into_a_module_that_imports_it() {
    for name in ["budobserve", "budobserve-macros"] {
        let graph = import_graph(&crate_src(name));
        assert!(graph.len() > 8, "{name}: {} modules found", graph.len());
        if let Some(circle) = find_circle(&graph) {
            panic!("{name}: import circle {}", circle.join(" → "));
        }
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("config".to_owned(), BTreeSet::from(["exporters::otlp".to_owned()])),
        ("exporters::otlp".to_owned(), BTreeSet::from(["observe".to_owned()])),
        ("observe".to_owned(), BTreeSet::from(["config".to_owned()])),
        ("level".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(
        find_circle(&graph).map(|c| c.join(" → ")).as_deref(),
        Some("config → exporters::otlp → observe → config")
    );
    let modules: BTreeSet<String> =
        ["config", "config::setting", "exporters", "exporters::otlp"].map(String::from).into();
    let code = code(
        "use crate::config::setting::{EnvSource, Setting};\nuse crate::exporters::{otlp::X, Y}; // crate::level\n",
    );
    let found: BTreeSet<String> =
        paths_after(&code, "crate::").iter().filter_map(|p| resolve(&modules, "observe", p)).collect();
    assert_eq!(found, ["config::setting", "exporters", "exporters::otlp"].map(String::from).into());
}

#[test]
fn every_source_file_holds_one_concept() {
    for name in ["budobserve", "budobserve-macros"] {
        let mut files = Vec::new();
        rust_files(&crate_src(name), &mut files);
        for file in files {
            let lines = std::fs::read_to_string(&file).unwrap_or_default().lines().count();
            assert!(lines <= MAX_LINES, "{} has {lines} lines: split it by concept", file.display());
        }
    }
}
