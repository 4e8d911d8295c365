//! Bad input never panics and never runs anything: each case gets exit 2 and one line naming
//! what is wrong, and no report is written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chipsim-bad-input-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `chipsim ARGS --report DIR/reports` and asserts exit 2, one line on stderr that
/// contains every one of `expected`, nothing on stdout, and no report written.
fn refused(name: &str, args: &[&str], expected: &[&str]) {
    let dir = temp_dir(name);
    let reports = dir.join("reports");
    let output = Command::new(env!("CARGO_BIN_EXE_chipsim"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .arg("--report")
        .arg(&reports)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{name}: one line, got {stderr}");
    for text in expected {
        assert!(stderr.contains(text), "{name}: `{text}` missing from {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert!(output.stdout.is_empty(), "{name}: ran something");
    assert!(!reports.exists(), "{name}: wrote a report");
}

fn scenario_file(name: &str, text: &str) -> String {
    let path = temp_dir(&format!("{name}-file")).join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_seed_range_too_large_to_hold_is_refused() {
    refused("seeds", &["run", "standard", "--seeds", "0..18446744073709551615"], &["--seeds", "at most"]);
}

#[test]
fn a_balance_whose_supply_overflows_is_refused() {
    let file = scenario_file("balance", "[tables]\nbalance = 18446744073709551615\n");
    refused("balance", &["run", &file], &["balance.toml", "tables.balance"]);
}

#[test]
fn a_safety_phase_beyond_any_run_is_refused() {
    let file = scenario_file("safety", "[world]\nsafety_ms = 18446744073709551615\n");
    refused("safety", &["run", &file], &["safety.toml", "world.safety_ms"]);
}

#[test]
fn zero_threads_are_refused() {
    refused("threads", &["run", "smoke", "--threads", "0"], &["--threads"]);
}

#[test]
fn a_misspelt_crash_point_is_refused_naming_it() {
    let file = scenario_file("label", "[faults]\ncrashes = 1\ncrash_after_labels = [\"wallet.reserv\"]\n");
    refused("label", &["run", &file], &["label.toml:3:", "faults.crash_after_labels", "wallet.reserv"]);
}

#[test]
fn an_unknown_flag_is_one_line() {
    refused("flag", &["run", "smoke", "--seedz", "1"], &["--seedz"]);
}

#[test]
fn a_seed_list_too_long_in_a_scenario_is_refused() {
    let file = scenario_file("many", "seeds = \"0..18446744073709551615\"\n");
    refused("many", &["run", &file], &["many.toml", "seeds"]);
}

#[test]
fn a_tick_out_of_range_is_refused() {
    for tick in ["0", "1001", "fast"] {
        refused(
            &format!("tick-{tick}"),
            &["run", "smoke", "--seed", "1", "--tick-ms", tick],
            &["--tick-ms", "1 to 1000 ms"],
        );
    }
}
