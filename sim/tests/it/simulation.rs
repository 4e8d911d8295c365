//! Whole-system runs: every shipped scenario passes on the hardened engine and replays to the
//! same trace hash; the planted bugs (historical engine variants) are caught; bad scenario
//! files are refused with file, line and field; the CLI's exit codes and JSON lines.

use std::path::{Path, PathBuf};
use std::process::Command;

use engine::game::EngineVariant;
use sim::FaultKind;
use sim::Invariant;
use sim::TraceKept;
use sim::report::Outcome;
use sim::scenario::{self, Scenario};
use sim::world::{self, RunSpec};

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR)
}

fn shipped() -> Vec<Scenario> {
    scenario::load_dir(&scenario_dir()).expect("the shipped scenarios load").into_iter().map(|(_, s)| s).collect()
}

fn chipsim() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chipsim"));
    command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    command
}

#[test]
fn the_twelve_named_scenarios_ship() {
    let names: Vec<String> = shipped().into_iter().map(|s| s.name).collect();
    for name in [
        "smoke",
        "standard",
        "double_fold",
        "version_conflict",
        "refund_failure",
        "lock_timeout",
        "crash_recovery",
        "partition",
        "retry_after_ttl",
        "jackpot_contention",
        "five_simultaneous",
        "multi_table",
    ] {
        assert!(names.iter().any(|n| n == name), "scenario {name} is missing from {names:?}");
    }
}

/// The determinism test: every shipped scenario, run twice on its first default seed, gives
/// the same trace hash and the same report (wall time aside), and the hardened engine passes.
#[test]
fn every_shipped_scenario_passes_and_replays_to_the_same_hash() {
    for scenario in shipped() {
        let seed = scenario.default_seeds()[0];
        let spec = RunSpec::new(scenario.clone(), seed);
        let mut first = world::run(&spec);
        let mut second = world::run(&spec);
        assert!(first.passed, "{} seed {seed} failed: {:?}", scenario.name, first.violations);
        assert_eq!(first.trace_hash, second.trace_hash, "{} seed {seed} is not deterministic", scenario.name);
        first.wall_ms = 0;
        second.wall_ms = 0;
        assert_eq!(first, second, "{} seed {seed}: reports differ", scenario.name);
        assert!(first.trace_events > 100, "{} barely ran", scenario.name);
    }
}

/// A report's fault plan, given back to the run as it is, replays the run exactly: the plan is
/// the explicit schedule a shrinker edits.
#[test]
fn a_run_given_its_own_fault_plan_replays_exactly() {
    let scenario = scenario::resolve(&scenario_dir(), "standard").unwrap().1;
    for seed in [3, 7] {
        let drawn = world::run(&RunSpec::new(scenario.clone(), seed));
        let given = RunSpec { plan: drawn.plan.clone(), ..RunSpec::new(scenario.clone(), seed) };
        let replayed = world::run(&given);
        assert_eq!(drawn.trace_hash, replayed.trace_hash, "seed {seed}");
        assert_eq!(drawn.faults_fired, replayed.faults_fired, "seed {seed}");
    }
}

/// The schedule a run records — every fault that fired, at its opportunity — given back as
/// the plan, replays the run event for event with no fault die rolled: the explicit schedule
/// the shrinker edits. Across scenarios that exercise every injector.
#[test]
fn a_run_replayed_from_its_recorded_schedule_is_the_same_run() {
    for (name, seeds) in [
        ("standard", &[1u64, 2, 5][..]),
        ("double_fold", &[1][..]),
        ("crash_recovery", &[1, 2][..]),
        ("partition", &[1][..]),
        ("version_conflict", &[1][..]),
        ("jackpot_contention", &[1][..]),
        ("lock_timeout", &[1][..]),
        ("player_partition", &[1][..]),
        ("clock_skew", &[1, 2][..]),
    ] {
        let scenario = scenario::resolve(&scenario_dir(), name).unwrap().1;
        for &seed in seeds {
            let recorded = world::run(&RunSpec::new(scenario.clone(), seed));
            assert!(!recorded.schedule.is_empty(), "{name} seed {seed}: no fault fired");
            let plan =
                recorded.plan.as_ref().expect("a run report keeps its plan").replaying(recorded.schedule.clone());
            let replayed = world::run(&RunSpec { plan: Some(plan), ..RunSpec::new(scenario.clone(), seed) });
            assert_eq!(recorded.trace_hash, replayed.trace_hash, "{name} seed {seed}");
            assert_eq!(recorded.faults_fired, replayed.faults_fired, "{name} seed {seed}");
            assert_eq!(recorded.schedule, replayed.schedule, "{name} seed {seed}");
        }
    }
}

#[test]
fn different_seeds_give_different_runs() {
    let scenario = scenario::resolve(&scenario_dir(), "smoke").unwrap().1;
    let hash = |seed| world::run(&RunSpec::new(scenario.clone(), seed)).trace_hash;
    assert_ne!(hash(1), hash(2));
}

/// The canary: the boolean processing flag of the original design applies a concurrent fold
/// twice; if the checkers ever stop seeing it, this test fails.
#[test]
fn the_bool_flag_double_fold_is_caught() {
    let mut scenario = scenario::resolve(&scenario_dir(), "double_fold").unwrap().1;
    scenario.engine.variant = EngineVariant::BoolFlag;
    let caught = scenario.default_seeds().into_iter().any(|seed| {
        let run = world::run(&RunSpec::new(scenario.clone(), seed));
        run.outcome == Outcome::CorrectnessFailed
            && run.violations.iter().any(|v| matches!(v.invariant, Invariant::AtMostOnce | Invariant::Conservation))
    });
    assert!(caught, "no seed of double_fold caught the bool_flag double fold");
}

#[test]
fn the_first_2pc_design_loses_chips_between_commit_and_save() {
    let mut scenario = scenario::resolve(&scenario_dir(), "crash_recovery").unwrap().1;
    scenario.engine.variant = EngineVariant::Seed2pc;
    let run = world::run(&RunSpec::new(scenario, 1));
    assert_eq!(run.outcome, Outcome::CorrectnessFailed);
    assert!(run.violations.iter().any(|v| v.invariant == Invariant::Conservation), "{:?}", run.violations);
    assert!(run.replay.contains("--variant seed_2pc"), "{}", run.replay);
}

/// A run keeps no trace events while it runs; a failing one is run again keeping its tail,
/// which must be the same run: same hash, and the tail ends with the run's end.
#[test]
fn a_failing_run_reports_its_trace_tail_and_a_passing_one_none() {
    let mut scenario = scenario::resolve(&scenario_dir(), "crash_recovery").unwrap().1;
    let passing = world::run(&RunSpec::new(scenario.clone(), 1));
    assert!(passing.passed && passing.trace_tail.is_empty());
    scenario.engine.variant = EngineVariant::Seed2pc;
    let failing = world::run(&RunSpec::new(scenario.clone(), 1));
    assert!(!failing.passed);
    assert_eq!(failing.trace_tail.len(), sim::TAIL_EVENTS_KEPT_COUNT);
    let last = failing.trace_tail.last().expect("a tail");
    assert_eq!((last.kind.as_str(), last.index + 1), ("run.end", failing.trace_events));
    let bare = world::run(&RunSpec { trace: TraceKept::Nothing, ..RunSpec::new(scenario.clone(), 1) });
    assert!(bare.trace_tail.is_empty());
    let (replayed, events) = world::run_with_trace(&RunSpec { trace: TraceKept::All, ..RunSpec::new(scenario, 1) });
    assert_eq!(events.len() as u64, failing.trace_events);
    assert!(events.ends_with(&failing.trace_tail));
    for hash in [&bare.trace_hash, &replayed.trace_hash] {
        assert_eq!(hash, &failing.trace_hash);
    }
}

/// Recording a run's timers (for the throughput benchmark's timer floor) records every host
/// that slept, in time, and leaves the run as it was.
#[test]
fn recording_the_timers_changes_nothing_of_the_run() {
    let scenario = scenario::resolve(&scenario_dir(), "smoke").unwrap().1;
    let plain = world::run(&RunSpec::new(scenario.clone(), 3));
    let (recorded, wakes) = world::run_recording_timers(&RunSpec::new(scenario.clone(), 3));
    assert_eq!(recorded.trace_hash, plain.trace_hash);
    assert_eq!(recorded.metrics, plain.metrics);
    let hosts: Vec<&str> = wakes.keys().map(String::as_str).collect();
    assert_eq!(hosts, ["engine", "players-0"], "every host of smoke sleeps");
    let end_us = recorded.sim_time_ms * 1_000;
    for instants in wakes.values() {
        assert!(instants.len() > 100 && instants.iter().all(|&us| us > 0 && us < end_us + 60_000_000));
    }
}

#[test]
fn the_unversioned_jackpot_is_caught() {
    let mut scenario = scenario::resolve(&scenario_dir(), "jackpot_contention").unwrap().1;
    scenario.engine.variant = EngineVariant::UnversionedJackpot;
    let run = world::run(&RunSpec::new(scenario, 1));
    assert_eq!(run.outcome, Outcome::CorrectnessFailed, "{:?}", run.violations);
}

#[test]
fn a_refund_that_cannot_fail_over_to_the_dlq_loses_chips() {
    let mut scenario = scenario::resolve(&scenario_dir(), "refund_failure").unwrap().1;
    scenario.engine.variant = EngineVariant::DeductBeforeLock;
    let run = world::run(&RunSpec::new(scenario, 1));
    assert_eq!(run.outcome, Outcome::CorrectnessFailed, "{:?}", run.violations);
}

#[test]
fn each_scenario_fires_the_fault_it_is_built_for() {
    let expectations = [
        ("double_fold", "duplicate"),
        ("version_conflict", "stale_writer"),
        ("refund_failure", "refund_failure"),
        ("lock_timeout", "slow_store"),
        ("lock_timeout", "start_storm"),
        ("crash_recovery", "crash"),
        ("crash_recovery", "crash_after_txn"),
        ("partition", "partition_refused"),
        ("partition", "partition_mid_2pc"),
        ("partition", "message_loss"),
        ("retry_after_ttl", "delayed_duplicate"),
        ("crash_recovery", "crash_in_flight"),
        ("crash_recovery", "zombie_write"),
        ("double_fold", "reused_id"),
        ("five_simultaneous", "out_of_order_lock"),
    ];
    for (name, fault) in expectations {
        let scenario = scenario::resolve(&scenario_dir(), name).unwrap().1;
        let fired: u64 = scenario
            .default_seeds()
            .into_iter()
            .take(3)
            .map(|seed| world::run(&RunSpec::new(scenario.clone(), seed)))
            .map(|run| run.faults_fired.get(&fault.parse::<FaultKind>().unwrap()).copied().unwrap_or(0))
            .sum();
        assert!(fired > 0, "{name}: fault {fault} never fired");
    }
}

#[test]
fn a_malformed_scenario_is_refused_with_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("chipsim-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "description = \"x\"\n\n[faults]\nrefund_failure_probabilty = 0.5\n").unwrap();
    let output = chipsim().args(["run", path.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.toml:4:1"), "{stderr}");
    assert!(stderr.contains("refund_failure_probabilty"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn the_cli_prints_one_json_object_per_run_and_fails_with_the_replay_command() {
    let output = chipsim()
        .args(["run", "double_fold", "--seeds", "1..3", "--variant", "bool_flag", "--json", "--report"])
        .arg(std::env::temp_dir().join(format!("chipsim-report-{}", std::process::id())))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        for field in ["scenario", "seed", "passed", "violations", "trace_hash", "sim_time_ms", "percentiles"] {
            assert!(line.get(field).is_some(), "missing {field}");
        }
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("replay double_fold --seed"), "{stderr}");
}

#[test]
fn the_same_seed_gives_the_same_hash_in_another_process() {
    let hash = || {
        let output = chipsim()
            .args(["run", "smoke", "--seed", "12345", "--json", "--report"])
            .arg(std::env::temp_dir())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        let line: serde_json::Value =
            serde_json::from_slice(output.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        line["trace_hash"].as_str().unwrap().to_string()
    };
    assert_eq!(hash(), hash());
}

/// Regression: a crash drops the engine's tasks in an order tokio derives from process-global
/// task IDs, so the locks they released while dying were traced in an order that depended on
/// what had run before in the process. A seed's hash must not depend on its neighbours.
#[test]
fn a_seed_hash_does_not_depend_on_what_ran_before_it() {
    for name in ["crash_recovery", "standard"] {
        let scenario = scenario::resolve(&scenario_dir(), name).unwrap().1;
        let seeds: Vec<u64> = scenario.default_seeds().into_iter().take(6).collect();
        let hashes = |order: &[u64]| -> Vec<(u64, String)> {
            let mut runs: Vec<(u64, String)> = order
                .iter()
                .map(|&seed| (seed, world::run(&RunSpec::new(scenario.clone(), seed)).trace_hash))
                .collect();
            runs.sort();
            runs
        };
        let forward = hashes(&seeds);
        let reversed: Vec<u64> = seeds.iter().rev().copied().collect();
        assert_eq!(forward, hashes(&reversed), "{name}: hashes depend on run order");
    }
}

#[test]
fn jackpot_contention_runs_over_a_thousand_jackpot_operations_per_simulated_second() {
    let scenario = scenario::resolve(&scenario_dir(), "jackpot_contention").unwrap().1;
    let safety_s = scenario.world.safety_ms / 1_000;
    let run = world::run(&RunSpec::new(scenario, 1));
    assert!(run.passed, "{:?}", run.violations);
    let operations: u64 = run
        .metrics
        .counters
        .iter()
        .filter(|(name, _)| name.starts_with("poker_jackpot_operations_total"))
        .map(|(_, count)| count)
        .sum();
    assert!(operations / safety_s >= 1_000, "{operations} jackpot operations in {safety_s} s");
}

/// A reader that goes away (`chipsim run | head`) ends nothing early: the run finishes, writes
/// its report and exits with its own code (it used to panic printing, exit 101).
#[test]
fn a_closed_stdout_pipe_is_not_a_crash() {
    let report = std::env::temp_dir().join(format!("chipsim-pipe-{}", std::process::id()));
    let mut child = chipsim()
        .args(["run", "smoke", "--seed", "1", "--report", report.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(report.join("latest.json").exists());
}
