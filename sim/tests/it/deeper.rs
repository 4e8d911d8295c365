//! Deeper search (G): the engine's fault points fire per seed and replay from the recorded
//! schedule; coverage probes are counted and a required probe never reached fails the run
//! with exit 8, naming it; the players↔engine partitions and clock faults fire in the
//! scenarios built for them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use sim::FaultKind;
use sim::scenario::{self, Scenario};
use sim::world::{self, RunSpec};

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR)
}

fn shipped(name: &str) -> Scenario {
    scenario::resolve(&scenario_dir(), name).unwrap().1
}

#[test]
fn twenty_seeds_of_standard_fire_at_least_five_distinct_fault_points() {
    let scenario = shipped("standard");
    let mut points = BTreeSet::new();
    for seed in 0..20 {
        let run = world::run(&RunSpec::new(scenario.clone(), seed));
        assert!(run.passed, "seed {seed}: {:?}", run.violations.first());
        points.extend(run.faults_fired.keys().filter(|kind| matches!(kind, FaultKind::Point(_))).copied());
    }
    assert!(points.len() >= 5, "only {points:?}");
}

#[test]
fn each_new_fault_kind_fires_in_its_scenario_and_the_probes_are_reached() {
    for (name, kinds) in [
        ("player_partition", &[FaultKind::NetPartition][..]),
        ("clock_skew", &[FaultKind::ClockJump, FaultKind::ClockDrift][..]),
        // Its dedup retention is short enough for the purge to run (`dedup.record_purged`).
        ("retry_after_ttl", &[FaultKind::DelayedDuplicate][..]),
    ] {
        let scenario = shipped(name);
        let seeds = scenario.default_seeds();
        let runs: Vec<_> = seeds.into_iter().map(|seed| world::run(&RunSpec::new(scenario.clone(), seed))).collect();
        for kind in kinds {
            assert!(
                runs.iter().any(|r| r.faults_fired.get(kind).is_some_and(|&n| n > 0)),
                "{name}: {kind} never fired"
            );
        }
        for probe in &scenario.coverage.required {
            assert!(runs.iter().any(|r| r.probes.get(probe).is_some_and(|&n| n > 0)), "{name}: {probe} never reached");
        }
    }
}

#[test]
fn a_required_probe_never_reached_fails_the_run_naming_it() {
    let dir = std::env::temp_dir().join(format!("chipsim-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unreachable.toml");
    // No jackpot: its retries can never be exhausted.
    let text = "seeds = \"1..3\"\n[world]\nsafety_ms = 10_000\n[engine]\njackpot = false\n\
                [coverage]\nrequired = [\"jackpot.retries_exhausted\"]\n";
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_chipsim"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["sweep", path.to_str().unwrap(), "--seeds", "1..3", "--report", dir.join("r").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("REQUIRED, NEVER REACHED: jackpot.retries_exhausted"), "{stderr}");
}

#[test]
fn an_unknown_probe_is_refused_when_the_scenario_loads() {
    let error = Scenario::parse(Path::new("t.toml"), "[coverage]\nrequired = [\"wallet.nowhere\"]\n").unwrap_err();
    assert!(error.to_string().contains("unknown probe `wallet.nowhere`"), "{error}");
}

/// A coarser tick moves only the players↔engine datagrams: time inside the engine host — store
/// latency, critical sections — stays exact, never rounded to the tick. With every store call
/// a constant 3 ms, a reservation (a wallet read, then its commit: 3 ms, the commit's two
/// halves 2 + 2 ms at tokio's millisecond) takes exactly 7 ms at a 10 ms tick and at a 250 ms
/// one, and so does every uncontended table-lock hold the runs share; the replay command of a
/// run whose tick the command line set says so.
#[test]
fn a_coarser_tick_leaves_time_inside_a_host_exact() {
    let mut fine = shipped("smoke");
    fine.store.latency_ms = [("get".to_string(), sim::latency::Latency::ConstantMs(3))]
        .into_iter()
        .chain([("commit".to_string(), sim::latency::Latency::ConstantMs(3))])
        .chain([("scan".to_string(), sim::latency::Latency::ConstantMs(3))])
        .collect();
    let mut coarse = fine.clone();
    coarse.world.tick_ms = 250;
    coarse.tick_overridden = true;
    let quickest = |scenario: &Scenario, metric: &str| {
        let run = world::run(&RunSpec::new(scenario.clone(), 1));
        assert!(run.passed, "{:?}", run.violations.first());
        (run.metrics.histograms[metric].percentile_us(0.0), run.replay)
    };
    let reserve = "poker_wallet_operation_duration_seconds{operation=\"reserve\"}";
    let ((fine_us, fine_replay), (coarse_us, coarse_replay)) = (quickest(&fine, reserve), quickest(&coarse, reserve));
    assert_eq!(fine_us, 7_000);
    assert_eq!(coarse_us, fine_us);
    let hold = "poker_lock_hold_seconds{category=\"table\"}";
    assert_eq!(quickest(&coarse, hold).0, quickest(&fine, hold).0);
    assert!(!fine_replay.contains("--tick-ms"), "{fine_replay}");
    assert!(coarse_replay.ends_with("--tick-ms 250"), "{coarse_replay}");
}
