//! Shrinking: a failing seed becomes a small regression scenario that fails the same way, and
//! the scenario file it is written as reads back as the same scenario.

use std::path::{Path, PathBuf};

use engine::game::EngineVariant;
use sim::scenario::{self, Scenario};
use sim::shrink::{self, ShrinkStep};
use sim::world::{self, RunSpec};

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR)
}

#[test]
fn a_lost_update_shrinks_to_the_few_scheduled_faults_that_still_cause_it() {
    let mut conflicts = scenario::resolve(&scenario_dir(), "version_conflict").unwrap().1;
    conflicts.engine.variant = EngineVariant::CanaryUnguardedSave;
    let steps = std::sync::Mutex::new(Vec::new());
    let on_step = |step: &ShrinkStep| steps.lock().unwrap().push(step.clone());
    let shrunk = shrink::shrink(&conflicts, 1, 2, &on_step).unwrap();
    let schedule = &shrunk.scenario.faults.schedule;
    assert!(!schedule.is_empty() && schedule.len() <= 3, "{schedule:?}");
    assert!(shrunk.faults_before >= shrunk.scenario.faults.schedule.len());
    assert!(steps.lock().unwrap().iter().any(|s| !s.still_failing), "the search tried what passes, too");
    // Written and read back, it is the same scenario, and it fails with the same invariant.
    let text = shrunk.scenario.to_toml();
    let read = Scenario::parse(Path::new("min.toml"), &text).unwrap();
    let without_origin = |s: &Scenario| Scenario { origin: String::new(), ..s.clone() };
    assert_eq!(without_origin(&read), without_origin(&shrunk.scenario));
    let run = world::run(&RunSpec::new(read, 1));
    assert!(run.violations.iter().any(|v| v.invariant == shrunk.invariant), "{:?}", run.violations);
    assert!(!text.contains("stale_writer_probability = 0.2"), "the dice are off:\n{text}");
}

#[test]
fn a_passing_seed_has_nothing_to_shrink() {
    let smoke = scenario::resolve(&scenario_dir(), "smoke").unwrap().1;
    let error = shrink::shrink(&smoke, 1, 1, &|_| {}).unwrap_err();
    assert!(matches!(error, shrink::ShrinkError::Passes { .. }), "{error}");
}

#[test]
fn every_regression_scenario_spells_out_its_faults_and_passes_on_the_hardened_engine() {
    let dir = scenario_dir().join(scenario::REGRESSIONS_DIR);
    let regressions: Vec<_> =
        scenario::load_dir(&scenario_dir()).unwrap().into_iter().filter(|(path, _)| path.starts_with(&dir)).collect();
    assert!(!regressions.is_empty(), "scenarios/regressions/ holds the shrunk failures");
    for (path, regression) in regressions {
        assert!(!regression.faults.schedule.is_empty(), "{}: no schedule", path.display());
        for seed in regression.default_seeds() {
            let run = world::run(&RunSpec::new(regression.clone(), seed));
            assert!(run.passed, "{} seed {seed}: {:?}", path.display(), run.violations);
        }
    }
}

#[test]
fn every_fault_a_run_records_is_a_schedule_entry_a_scenario_file_accepts() {
    // The shrinker starts from the recorded schedule and writes it out as `[[faults.schedule]]`:
    // an entry the scenario loader refuses would make the regression file unreadable.
    let standard = scenario::resolve(&scenario_dir(), "standard").unwrap().1;
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 1..=6 {
        let run = world::run(&RunSpec::new(standard.clone(), seed));
        for fault in &run.schedule {
            assert_eq!(fault.validate(), Ok(()), "seed {seed}: {fault:?}");
            kinds.insert((fault.kind.to_string(), fault.at.as_ref().map(|site| site.to_string())));
        }
    }
    let jackpot_reuse = (String::from("reused_id"), Some(String::from("jackpot")));
    assert!(kinds.contains(&jackpot_reuse), "the seeds reuse a jackpot operation's ID: {kinds:?}");
}
