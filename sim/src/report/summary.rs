//! [`ScenarioSummary`]: the rollup of all runs of one scenario — counts by outcome, simulated
//! time, faults and violations summed, every run's histograms merged (HDR, lossless), and a
//! fingerprint of the seeds' trace hashes. Built run by run, and merged summary into summary,
//! with the same result in any order: shards of a sweep merge into exactly the summary of the
//! whole sweep.

use std::collections::BTreeMap;

use engine::buggify::Probe;
use engine::hash::Fnv1a;
use engine::metrics::{HistogramSummary, MetricsSnapshot};
use serde::{Deserialize, Serialize};

use super::{Outcome, RunReport, enum_name, percentiles};
use crate::checkers::Invariant;
use crate::faults::kind::FaultKind;
use crate::trace::format_hash;

/// All runs of one scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub scenario: String,
    pub seeds: u64,
    pub passed: u64,
    pub failed: u64,
    /// Runs per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// The seeds' fingerprint: the wrapping sum of one FNV-1a hash per (seed, trace hash), so
    /// that it does not depend on the order runs finish in or on how a sweep was sharded.
    pub trace_hash: String,
    pub sim_time_ms: u64,
    /// Wall-clock time of the runs, summed (not deterministic; never compared).
    pub wall_ms: u64,
    pub faults_fired: BTreeMap<FaultKind, u64>,
    /// Coverage probes reached, summed over the runs.
    #[serde(default)]
    pub probes: BTreeMap<Probe, u64>,
    /// The probes the scenario requires (the union of its runs'), judged once the summary
    /// holds at least `probes_judged_from_seeds` seeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes_required: Vec<Probe>,
    #[serde(default)]
    pub probes_judged_from_seeds: u64,
    pub violation_counts: BTreeMap<Invariant, u64>,
    /// Merged metrics of every run.
    pub metrics: MetricsSnapshot,
    pub percentiles: BTreeMap<String, HistogramSummary>,
}

fn parse_hash(text: &str) -> u64 {
    if text.is_empty() { 0 } else { u64::from_str_radix(text, 16).expect("trace hashes are 16 hex digits") }
}

/// One run's share of its scenario's fingerprint.
fn run_fingerprint(run: &RunReport) -> u64 {
    Fnv1a::new().write_part(&run.seed.to_le_bytes(), 0x1f).write(run.trace_hash.as_bytes()).finish()
}

impl ScenarioSummary {
    /// The summary of no run yet.
    pub fn new(scenario: &str) -> ScenarioSummary {
        ScenarioSummary { scenario: scenario.to_string(), trace_hash: format_hash(0), ..Default::default() }
    }

    /// The summary of `runs` (all of one scenario).
    pub fn of(runs: &[&RunReport]) -> ScenarioSummary {
        let mut summary = ScenarioSummary::new(runs.first().map_or("", |r| r.scenario.as_str()));
        for run in runs {
            summary.add(run);
        }
        summary
    }

    /// Adds one run (with its metrics: before `RunReport::slim`).
    pub fn add(&mut self, run: &RunReport) {
        debug_assert_eq!(run.scenario, self.scenario);
        self.seeds += 1;
        if run.passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        *self.outcomes.entry(enum_name::<Outcome>(&run.outcome)).or_default() += 1;
        self.trace_hash = format_hash(parse_hash(&self.trace_hash).wrapping_add(run_fingerprint(run)));
        self.sim_time_ms += run.sim_time_ms;
        self.wall_ms += run.wall_ms;
        for (kind, count) in &run.faults_fired {
            *self.faults_fired.entry(*kind).or_default() += count;
        }
        self.add_probes(&run.probes, &run.probes_required, run.probes_judged_from_seeds);
        for (invariant, count) in &run.violation_counts {
            *self.violation_counts.entry(*invariant).or_default() += count;
        }
        self.metrics.merge(&run.metrics);
        self.percentiles = percentiles(&self.metrics);
    }

    fn add_probes(&mut self, probes: &BTreeMap<Probe, u64>, required: &[Probe], judged_from_seeds: u64) {
        self.probes_judged_from_seeds = self.probes_judged_from_seeds.max(judged_from_seeds);
        for (probe, count) in probes {
            *self.probes.entry(*probe).or_default() += count;
        }
        for probe in required {
            if !self.probes_required.contains(probe) {
                self.probes_required.push(*probe);
            }
        }
        self.probes_required.sort();
    }

    /// Whether the summary holds enough seeds to judge the required probes.
    pub fn probes_judged(&self) -> bool {
        self.seeds >= self.probes_judged_from_seeds
    }

    /// The required probes no run reached (none while too few seeds ran to judge).
    pub fn probes_missing(&self) -> Vec<Probe> {
        if !self.probes_judged() {
            return Vec::new();
        }
        self.probes_required.iter().copied().filter(|p| self.probes.get(p).copied().unwrap_or(0) == 0).collect()
    }

    /// One line of coverage marks: every probe reached with its count, then those required
    /// and never reached.
    pub fn coverage_line(&self) -> String {
        let reached: Vec<String> = self.probes.iter().map(|(probe, count)| format!("{probe} {count}")).collect();
        let mut line = format!(
            "coverage {}: {}",
            self.scenario,
            if reached.is_empty() { "no probe reached".to_string() } else { reached.join(", ") }
        );
        let missing = self.probes_missing();
        if !self.probes_judged() && !self.probes_required.is_empty() {
            line += &format!(
                "; required probes judged over {} seeds or more, not these {}",
                self.probes_judged_from_seeds, self.seeds
            );
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|p| p.to_string()).collect();
            line += &format!("; REQUIRED, NEVER REACHED: {}", names.join(", "));
        }
        line
    }

    /// Adds another summary of the same scenario (another shard's runs).
    pub fn merge(&mut self, other: &ScenarioSummary) {
        debug_assert_eq!(other.scenario, self.scenario);
        self.seeds += other.seeds;
        self.passed += other.passed;
        self.failed += other.failed;
        for (outcome, count) in &other.outcomes {
            *self.outcomes.entry(outcome.clone()).or_default() += count;
        }
        self.trace_hash = format_hash(parse_hash(&self.trace_hash).wrapping_add(parse_hash(&other.trace_hash)));
        self.sim_time_ms += other.sim_time_ms;
        self.wall_ms += other.wall_ms;
        for (kind, count) in &other.faults_fired {
            *self.faults_fired.entry(*kind).or_default() += count;
        }
        self.add_probes(&other.probes, &other.probes_required, other.probes_judged_from_seeds);
        for (invariant, count) in &other.violation_counts {
            *self.violation_counts.entry(*invariant).or_default() += count;
        }
        self.metrics.merge(&other.metrics);
        self.percentiles = percentiles(&self.metrics);
    }
}
