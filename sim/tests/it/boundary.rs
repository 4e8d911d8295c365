//! **Boundary:** `engine` depends on neither `sim` nor turmoil, not even behind `cfg`.
//! Checked against `cargo metadata`'s resolved dependency graph.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn engine_depends_on_neither_sim_nor_turmoil() {
    // Only this host's platform: the others' crates need not be downloaded.
    let rustc = Command::new("rustc").arg("-vV").output().expect("rustc runs");
    let host = String::from_utf8(rustc.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(String::from))
        .unwrap();
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &host, "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let name_of = |id: &str| id.split(['#', '@']).rev().nth(1).unwrap_or(id).rsplit('/').next().unwrap().to_string();
    let graph: BTreeMap<String, Vec<String>> = nodes
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                // Normal and build dependencies only: dev-dependencies do not ship.
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].as_str() != Some("dev")))
                .map(|d| d["pkg"].as_str().unwrap().to_string())
                .collect();
            (n["id"].as_str().unwrap().to_string(), deps)
        })
        .collect();
    let engine_id = graph.keys().find(|id| name_of(id) == "engine").expect("engine in the graph").clone();
    let mut seen = BTreeSet::new();
    let mut stack = vec![engine_id];
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone()) {
            stack.extend(graph[&id].iter().cloned());
        }
    }
    let names: BTreeSet<String> = seen.iter().map(|id| name_of(id)).collect();
    assert!(names.contains("serde"), "the walk must reach engine's real dependencies: {names:?}");
    for forbidden in ["sim", "turmoil"] {
        assert!(!names.contains(forbidden), "engine must not depend on {forbidden}: {names:?}");
    }
}
