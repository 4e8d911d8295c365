//! Reports: what one run found ([`RunReport`], one JSON object per scenario and seed), the
//! per-scenario rollup ([`ScenarioSummary`], with merged HDR histograms), the report file
//! ([`ReportFile`], with a sweep's record; shards merge into it exactly: histograms add
//! losslessly, counters sum, runs join in seed order), JUnit XML for CI, and the terminal text.
//!
//! Everything except the `wall_ms` fields is a function of the scenarios and seeds: two runs of
//! the same seed produce the same report. The exit code of a set of runs is decided here too.

mod file;
mod junit;
mod summary;
mod text;

pub use file::{LATEST_REPORT_FILE, MergeError, Mismatch, ReportError, ReportFile, RunsKept, Shard, SweepRecord};
pub use junit::junit_xml;
pub use summary::ScenarioSummary;
pub use text::{failure_text, summary_table};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use engine::buggify::Probe;
use engine::game::{EngineVariant, LockStrategy};
use engine::metrics::{HistogramSummary, MetricsSnapshot};
use serde::{Deserialize, Serialize};

use crate::checkers::{Invariant, Violation};
use crate::context::{RunFindings, SimContext};
use crate::exit;
use crate::faults::kind::FaultKind;
use crate::faults::plan::FaultPlan;
use crate::faults::schedule::ScheduledFault;
use crate::scenario::Scenario;
use crate::trace::{TraceEvent, format_hash};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    CorrectnessFailed,
    LivenessFailed,
    Crashed,
}

impl Outcome {
    /// The exit code of a set of runs with this as the worst outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => exit::SUCCESS,
            Outcome::CorrectnessFailed => exit::CORRECTNESS_FAILED,
            Outcome::LivenessFailed => exit::LIVENESS_FAILED,
            Outcome::Crashed => exit::CRASHED,
        }
    }
}

pub(crate) fn percentiles(metrics: &MetricsSnapshot) -> BTreeMap<String, HistogramSummary> {
    metrics.histograms.iter().filter(|(_, h)| h.count() > 0).map(|(name, h)| (name.clone(), h.summary())).collect()
}

/// One run: one scenario, one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub variant: EngineVariant,
    pub lock_strategy: LockStrategy,
    pub passed: bool,
    pub outcome: Outcome,
    pub violations: Vec<Violation>,
    /// Violations per invariant (more than are kept).
    pub violation_counts: BTreeMap<Invariant, u64>,
    pub trace_hash: String,
    pub trace_events: u64,
    /// Simulated time the run covered, in milliseconds.
    pub sim_time_ms: u64,
    /// When the heal phase began and how long it took to converge, in simulated ms.
    pub heal_started_ms: Option<u64>,
    pub heal_ms: Option<u64>,
    /// Wall-clock time of the run, in milliseconds (not deterministic; never compared).
    pub wall_ms: u64,
    /// How many times each fault kind fired.
    pub faults_fired: BTreeMap<FaultKind, u64>,
    /// How many times each coverage probe (a rare path, `engine::buggify::Probe`) was reached.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<Probe, u64>,
    /// The probes the scenario requires its seeds to reach (`[coverage] required`) …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes_required: Vec<Probe>,
    /// … judged over at least this many seeds (the scenario's default seed count, which the
    /// requirement is calibrated on): a single seed need not reach a rare path.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub probes_judged_from_seeds: u64,
    /// Client-side request counts (sent, retried, timed out, gave up).
    pub requests: BTreeMap<String, u64>,
    /// Engine boots (1 + restarts).
    pub engine_boots: u64,
    /// Holds longer than their category's acquire timeout (warnings).
    pub lock_holds_over_timeout: u64,
    /// The histograms' percentiles, in simulated microseconds (kept by sweeps for failed runs
    /// only: the scenario's summary merges everyone's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percentiles: BTreeMap<String, HistogramSummary>,
    /// Counters and full histograms (mergeable; kept by sweeps for failed runs only).
    #[serde(default, skip_serializing_if = "MetricsSnapshot::is_empty")]
    pub metrics: MetricsSnapshot,
    /// The fault plan the run drew or was given (kept by sweeps for failed runs only: a
    /// passing run's plan is redrawn from its scenario and seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<FaultPlan>,
    /// Every fault that fired, as an explicit schedule: given back as the plan's schedule
    /// (`FaultPlan::replaying`), it replays this run event for event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduledFault>,
    /// The last trace events before the end (on failure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace_tail: Vec<TraceEvent>,
    /// The command that replays this run.
    pub replay: String,
}

/// The times of one run, for its report.
pub(crate) struct RunTiming {
    /// When the heal phase began, in simulated ms (none if the run ended before).
    pub heal_started_ms: Option<u64>,
    /// Simulated time the run covered, in ms.
    pub sim_time_ms: u64,
    /// Wall-clock time of the run (never hashed or compared).
    pub wall: Duration,
}

impl RunReport {
    pub(crate) fn build(context: &SimContext, findings: RunFindings, outcome: Outcome, timing: RunTiming) -> RunReport {
        let metrics = context.metrics.snapshot();
        let scenario = &context.scenario;
        let RunTiming { heal_started_ms, sim_time_ms, wall } = timing;
        RunReport {
            scenario: scenario.name.clone(),
            seed: context.seed,
            variant: scenario.engine.variant,
            lock_strategy: scenario.engine.lock_strategy,
            passed: outcome == Outcome::Passed,
            outcome,
            violations: findings.violations,
            violation_counts: findings.violation_counts,
            trace_hash: format_hash(findings.trace_hash),
            trace_events: findings.trace_events,
            sim_time_ms,
            heal_started_ms,
            heal_ms: heal_started_ms.filter(|_| outcome == Outcome::Passed).map(|start| sim_time_ms - start),
            wall_ms: wall.as_millis() as u64,
            faults_fired: findings.faults_fired,
            probes: findings.probes,
            probes_required: scenario.coverage.required.clone(),
            probes_judged_from_seeds: if scenario.coverage.is_empty() {
                0
            } else {
                scenario.default_seeds().len() as u64
            },
            requests: findings.requests,
            engine_boots: findings.engine_starts,
            lock_holds_over_timeout: findings.lock_holds_over_timeout,
            percentiles: percentiles(&metrics),
            metrics,
            plan: Some(context.plan.clone()),
            schedule: findings.schedule,
            trace_tail: if outcome == Outcome::Passed { Vec::new() } else { findings.events },
            replay: replay_command(scenario, context.seed),
        }
    }

    /// The run as a sweep keeps it: a passing run without its histograms, percentiles, plan and
    /// schedule (its scenario's summary holds the merged metrics; its plan is redrawn from the
    /// seed); a failed run whole, for the shrinker and the engineer.
    pub fn slim(mut self) -> RunReport {
        if self.passed {
            self.metrics = MetricsSnapshot::default();
            self.percentiles.clear();
            self.plan = None;
            self.schedule.clear();
            self.trace_tail.clear();
        }
        self
    }

    /// The JSON line of `chipsim run --json`: everything but the full histograms and trace tail.
    pub fn json_line(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("reports serialize");
        if let Some(object) = value.as_object_mut() {
            object.remove("metrics");
            object.remove("trace_tail");
        }
        value
    }
}

/// The one command that replays a run of `scenario` under `seed`: the scenario by name when
/// it ships, by path when it came from a file, and its design and lock strategy when they are
/// not the defaults.
pub fn replay_command(scenario: &Scenario, seed: u64) -> String {
    let mut command = format!("cargo run --release -p sim -- replay {} --seed {seed}", scenario.origin());
    let engine = &scenario.engine;
    if engine.variant != EngineVariant::Hardened {
        let _ = write!(command, " --variant {}", enum_name(&engine.variant));
    }
    if engine.lock_strategy != LockStrategy::Coarse {
        let _ = write!(command, " --lock-strategy {}", enum_name(&engine.lock_strategy));
    }
    if scenario.tick_overridden {
        let _ = write!(command, " --tick-ms {}", scenario.world.tick_ms);
    }
    command
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A serde enum's snake_case name.
pub fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
