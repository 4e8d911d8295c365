//! **Boundary:** `engine` depends on neither `sim` nor turmoil, not even behind `cfg` or as a
//! dev-dependency. Checked against the workspace's `Cargo.lock`, the resolved graph of every
//! platform and every dependency kind, so the check needs neither the network nor a cargo
//! cache holding the other packages' crates (`cargo metadata --offline` does: it failed under
//! `cargo test -p sim` on a fresh machine, where only sim's crates had been downloaded).

use std::collections::{BTreeMap, BTreeSet};

/// Each locked package's name and the names of the packages it depends on.
fn locked_graph() -> BTreeMap<String, Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let text = std::fs::read_to_string(path).expect("the workspace's Cargo.lock is readable");
    let lock: toml::Table = toml::from_str(&text).expect("Cargo.lock is TOML");
    let packages = lock.get("package").and_then(toml::Value::as_array).expect("Cargo.lock lists packages");
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in packages {
        let name = package["name"].as_str().expect("a locked package has a name").to_string();
        // An entry is `name`, or `name version` (and a source) when two versions are locked.
        let deps = package.get("dependencies").and_then(toml::Value::as_array).into_iter().flatten();
        let names = deps.map(|dep| dep.as_str().expect("a dependency entry is a string"));
        graph.entry(name).or_default().extend(names.map(|entry| entry.split(' ').next().unwrap_or(entry).to_string()));
    }
    graph
}

/// Every package `root` reaches, itself included.
fn reached(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    seen
}

#[test]
fn engine_depends_on_neither_sim_nor_turmoil() {
    let graph = locked_graph();
    assert!(graph.contains_key("engine"), "engine is a locked package");
    let names = reached(&graph, "engine");
    assert!(
        names.contains("serde") && names.contains("tokio"),
        "the walk must reach engine's real dependencies: {names:?}"
    );
    assert!(reached(&graph, "sim").contains("turmoil"), "the walk must see sim's turmoil: it would see engine's");
    for forbidden in ["sim", "turmoil"] {
        assert!(!names.contains(forbidden), "engine must not depend on {forbidden}: {names:?}");
    }
}
