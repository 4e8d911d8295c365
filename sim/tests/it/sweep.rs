//! Sweeps at CI scale: the report does not depend on the thread count, the merge of every
//! shard equals the unsharded sweep (wall-clock fields aside), a sweep stops at its first
//! failure in seed order, and the JUnit file is well-formed JUnit.

use std::path::{Path, PathBuf};

use engine::game::EngineVariant;
use quick_xml::Reader;
use quick_xml::events::Event;
use sim::report::{self, ReportFile, RunsKept, Shard};
use sim::scenario;
use sim::sweep::{SweepSpec, sweep};

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR)
}

fn spec(names: &[&str], seeds: std::ops::RangeInclusive<u64>, shard: Shard, threads: usize) -> SweepSpec {
    let scenarios = names.iter().map(|name| scenario::resolve(&scenario_dir(), name).unwrap().1).collect();
    SweepSpec {
        scenarios,
        seeds,
        shard,
        keep_going: true,
        threads,
        determinism_percent: 0.0,
        runs_kept: RunsKept::All,
        variant: None,
        lock_strategy: None,
    }
}

/// The report as JSON without its wall-clock fields.
fn comparable(report: &ReportFile) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("wall_ms");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(report).unwrap();
    strip(&mut value);
    value
}

fn nothing(_: &report::RunReport, _: &sim::sweep::Progress) {}

#[test]
fn the_merge_of_every_shard_equals_the_unsharded_sweep_whatever_the_threads() {
    let names = ["smoke", "standard"];
    let whole = sweep(&spec(&names, 0..=11, Shard::WHOLE, 2), &nothing).report;
    let one_thread = sweep(&spec(&names, 0..=11, Shard::WHOLE, 1), &nothing).report;
    assert_eq!(comparable(&whole), comparable(&one_thread), "the thread count changed the report");
    assert_eq!(whole.runs.len(), 24);
    let shards: Vec<ReportFile> = (1..=3)
        .map(|index| sweep(&spec(&names, 0..=11, Shard { index, count: 3 }, index as usize % 2 + 1), &nothing).report)
        .collect();
    assert_eq!(shards.iter().map(|r| r.runs.len()).sum::<usize>(), 24);
    // Merged in any order, the shards make the whole sweep — through JSON, as files do.
    let through_json = |r: &ReportFile| serde_json::from_value::<ReportFile>(serde_json::to_value(r).unwrap()).unwrap();
    let merged =
        ReportFile::merge(vec![through_json(&shards[2]), through_json(&shards[0]), through_json(&shards[1])]).unwrap();
    assert_eq!(comparable(&merged), comparable(&whole));
    let partial = ReportFile::merge(vec![shards[0].clone(), shards[1].clone()]).unwrap();
    assert_ne!(comparable(&partial), comparable(&whole), "two of three shards are not the whole");
    assert!(ReportFile::merge(vec![shards[0].clone(), shards[0].clone()]).is_err(), "a shard twice is refused");
}

#[test]
fn a_sweep_stops_at_its_first_failure_in_seed_order_whatever_the_threads() {
    let mut stop = spec(&["double_fold"], 1..=12, Shard::WHOLE, 2);
    stop.keep_going = false;
    stop.scenarios[0].engine.variant = EngineVariant::BoolFlag;
    let two = sweep(&stop, &nothing).report;
    stop.threads = 1;
    let one = sweep(&stop, &nothing).report;
    assert_eq!(comparable(&two), comparable(&one));
    let last = two.runs.last().unwrap();
    assert!(!last.passed, "the sweep ends with its first failure");
    assert!(two.runs[..two.runs.len() - 1].iter().all(|r| r.passed));
    assert!(two.sweep.as_ref().unwrap().stopped_early || last.seed == 12);
    assert!(last.plan.is_some() && !last.violations.is_empty(), "a failed run is kept whole");
}

#[test]
fn determinism_rechecks_rerun_a_share_of_the_seeds() {
    let mut checked = spec(&["smoke"], 1..=20, Shard::WHOLE, 2);
    checked.determinism_percent = 50.0;
    let report = sweep(&checked, &nothing).report;
    let record = report.sweep.unwrap();
    assert!((5..=15).contains(&record.determinism_checked), "{} of 20 re-run", record.determinism_checked);
    assert_eq!(record.determinism_mismatches, vec![]);
}

#[test]
fn the_junit_file_has_a_case_per_scenario_and_a_failing_case_per_failing_seed() {
    let mut failing = spec(&["double_fold", "smoke"], 1..=3, Shard::WHOLE, 2);
    failing.scenarios[0].engine.variant = EngineVariant::BoolFlag;
    let report = sweep(&failing, &nothing).report;
    let failed: Vec<u64> = report.runs.iter().filter(|r| !r.passed).map(|r| r.seed).collect();
    assert!(!failed.is_empty());
    let xml = report::junit_xml(&report);
    let mut reader = Reader::from_str(&xml);
    let (mut suites, mut cases, mut failures, mut depth) = (0, Vec::new(), 0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testsuite" => {
                suites += 1;
                depth += 1;
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testcase" => {
                let name = e
                    .try_get_attribute("name")
                    .unwrap()
                    .unwrap()
                    .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned();
                cases.push(name);
            }
            Event::Start(e) if e.name().as_ref() == "failure" => {
                assert!(
                    e.try_get_attribute("message").unwrap().is_some() && e.try_get_attribute("type").unwrap().is_some()
                );
                failures += 1;
            }
            Event::End(e) if e.name().as_ref() == "testsuite" => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((suites, depth), (2, 0));
    assert!(cases.iter().any(|c| c.starts_with("smoke (3 seeds)")), "{cases:?}");
    for seed in &failed {
        assert!(cases.contains(&format!("double_fold seed {seed}")), "{cases:?}");
    }
    assert_eq!(failures, failed.len() + 1, "each failing seed, and its scenario's case");
    assert!(xml.contains("replay double_fold --seed"), "the replay command is in the failure text");
}
