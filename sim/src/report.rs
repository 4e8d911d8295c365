//! Reports: what one run found ([`RunReport`], one JSON object per scenario and seed), the
//! per-scenario rollup ([`ScenarioSummary`], with merged HDR histograms), the report file
//! ([`ReportFile`]: mergeable — histograms and counters add up — so sweeps can be sharded and
//! joined), and the terminal summary table.
//!
//! Everything except `wall_ms` is a function of the scenario and seed: two runs of the same
//! seed produce the same report. The exit code of a set of runs is decided here too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::game::{EngineVariant, LockStrategy};
use engine::hash::Fnv1a;
use engine::locks::LockCategory;
use engine::metrics::{HistogramSummary, MetricsSnapshot};
use serde::{Deserialize, Serialize};

use crate::checkers::{Invariant, Violation};
use crate::context::{RunFindings, SimContext};
use crate::exit;
use crate::faults::kind::FaultKind;
use crate::faults::plan::FaultPlan;
use crate::faults::schedule::ScheduledFault;
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

fn percentiles(metrics: &MetricsSnapshot) -> BTreeMap<String, HistogramSummary> {
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
    /// Client-side request counts (sent, retried, timed out, gave up).
    pub requests: BTreeMap<String, u64>,
    /// Engine boots (1 + restarts).
    pub engine_boots: u64,
    /// Holds longer than their category's acquire timeout (warnings).
    pub lock_holds_over_timeout: u64,
    /// The histograms' percentiles, in simulated microseconds.
    pub percentiles: BTreeMap<String, HistogramSummary>,
    /// Counters and full histograms (mergeable).
    pub metrics: MetricsSnapshot,
    pub plan: FaultPlan,
    /// Every fault that fired, as an explicit schedule: given back as the plan's schedule
    /// (`FaultPlan::replaying`), it replays this run event for event.
    pub schedule: Vec<ScheduledFault>,
    /// The last trace events before the end (on failure).
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
            requests: findings.requests,
            engine_boots: findings.engine_starts,
            lock_holds_over_timeout: findings.lock_holds_over_timeout,
            percentiles: percentiles(&metrics),
            metrics,
            plan: context.plan.clone(),
            schedule: findings.schedule,
            trace_tail: if outcome == Outcome::Passed { Vec::new() } else { findings.events },
            replay: replay_command(
                &scenario.name,
                context.seed,
                scenario.engine.variant,
                scenario.engine.lock_strategy,
            ),
        }
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

/// The one command that replays a run.
pub fn replay_command(scenario: &str, seed: u64, variant: EngineVariant, lock_strategy: LockStrategy) -> String {
    let mut command = format!("cargo run --release -p sim -- replay {scenario} --seed {seed}");
    if variant != EngineVariant::Hardened {
        let _ = write!(command, " --variant {}", enum_name(&variant));
    }
    if lock_strategy != LockStrategy::Coarse {
        let _ = write!(command, " --lock-strategy {}", enum_name(&lock_strategy));
    }
    command
}

/// A serde enum's snake_case name.
pub fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// All runs of one scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub scenario: String,
    pub seeds: u64,
    pub passed: u64,
    pub failed: u64,
    /// Runs per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Hash of the seeds' trace hashes, in seed order.
    pub trace_hash: String,
    pub sim_time_ms: u64,
    pub wall_ms: u64,
    pub faults_fired: BTreeMap<FaultKind, u64>,
    pub violation_counts: BTreeMap<Invariant, u64>,
    /// Merged metrics of every run.
    pub metrics: MetricsSnapshot,
    pub percentiles: BTreeMap<String, HistogramSummary>,
}

impl ScenarioSummary {
    pub fn of(runs: &[&RunReport]) -> ScenarioSummary {
        let mut summary = ScenarioSummary {
            scenario: runs.first().map(|r| r.scenario.clone()).unwrap_or_default(),
            ..Default::default()
        };
        let mut hash = Fnv1a::new();
        for run in runs {
            summary.seeds += 1;
            if run.passed {
                summary.passed += 1;
            } else {
                summary.failed += 1;
            }
            *summary.outcomes.entry(enum_name(&run.outcome)).or_default() += 1;
            hash.write(run.trace_hash.as_bytes());
            summary.sim_time_ms += run.sim_time_ms;
            summary.wall_ms += run.wall_ms;
            for (kind, count) in &run.faults_fired {
                *summary.faults_fired.entry(*kind).or_default() += count;
            }
            for (kind, count) in &run.violation_counts {
                *summary.violation_counts.entry(*kind).or_default() += count;
            }
            summary.metrics.merge(&run.metrics);
        }
        summary.trace_hash = format_hash(hash.finish());
        summary.percentiles = percentiles(&summary.metrics);
        summary
    }
}

/// The name of the report file a run writes in its report directory.
pub const LATEST_REPORT_FILE: &str = "latest.json";

/// A report file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The report file a `chipsim run` writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFile {
    pub chipsim_version: String,
    /// `git rev-parse HEAD` of the tree that ran, when known.
    pub git_commit: Option<String>,
    pub scenarios: Vec<ScenarioSummary>,
    pub runs: Vec<RunReport>,
}

impl ReportFile {
    /// The report file of `runs` (in the order given), with its per-scenario summaries.
    pub fn of_runs(git_commit: Option<String>, runs: Vec<RunReport>) -> ReportFile {
        let mut file = ReportFile {
            chipsim_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit,
            scenarios: Vec::new(),
            runs,
        };
        file.summarize();
        file
    }

    /// Writes the file as `dir/latest.json` (creating `dir`); returns the path written.
    pub fn write_latest(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
        let path = dir.join(LATEST_REPORT_FILE);
        let bytes = serde_json::to_vec_pretty(self).expect("reports serialize");
        std::fs::write(&path, bytes).map_err(|source| ReportError::Write { path: path.clone(), source })?;
        Ok(path)
    }

    /// Adds another report's runs (shards of one sweep) and recomputes the summaries.
    pub fn merge(&mut self, other: ReportFile) {
        self.runs.extend(other.runs);
        self.runs.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
        self.runs.dedup_by(|a, b| a.scenario == b.scenario && a.seed == b.seed);
        self.summarize();
    }

    pub fn summarize(&mut self) {
        let mut order: Vec<String> = Vec::new();
        for run in &self.runs {
            if !order.contains(&run.scenario) {
                order.push(run.scenario.clone());
            }
        }
        self.scenarios = order
            .iter()
            .map(|name| ScenarioSummary::of(&self.runs.iter().filter(|r| &r.scenario == name).collect::<Vec<_>>()))
            .collect();
    }

    /// The worst outcome over all runs.
    pub fn worst(&self) -> Outcome {
        self.runs.iter().map(|r| r.outcome).max().unwrap_or(Outcome::Passed)
    }
}

fn ms(us: u64) -> String {
    if us >= 100_000 { format!("{:.0}", us as f64 / 1_000.0) } else { format!("{:.3}", us as f64 / 1_000.0) }
}

/// The terminal summary: one row per scenario with the p99 lock hold per category.
pub fn summary_table(report: &ReportFile) -> String {
    let categories: Vec<LockCategory> = LockCategory::ALL
        .into_iter()
        .filter(|c| report.scenarios.iter().any(|s| s.percentiles.contains_key(&hold_name(*c))))
        .collect();
    let mut out = String::new();
    let _ =
        write!(out, "{:<20} {:>5} {:>6} {:>6} {:>9} {:>7}", "scenario", "seeds", "passed", "failed", "sim_s", "wall_s");
    for c in &categories {
        let _ = write!(out, " {:>12}", format!("{}_p99_ms", short(*c)));
    }
    let _ = writeln!(out, "  trace_hash");
    for s in &report.scenarios {
        let _ = write!(
            out,
            "{:<20} {:>5} {:>6} {:>6} {:>9.1} {:>7.1}",
            s.scenario,
            s.seeds,
            s.passed,
            s.failed,
            s.sim_time_ms as f64 / 1_000.0,
            s.wall_ms as f64 / 1_000.0
        );
        for c in &categories {
            let cell = s.percentiles.get(&hold_name(*c)).map_or("-".to_string(), |h| ms(h.p99_us));
            let _ = write!(out, " {cell:>12}");
        }
        let _ = writeln!(out, "  {}", s.trace_hash);
    }
    out
}

fn hold_name(category: LockCategory) -> String {
    engine::metrics::labeled("poker_lock_hold_seconds", &[("category", category.as_str())])
}

fn short(category: LockCategory) -> &'static str {
    match category {
        LockCategory::BettingRound => "round",
        LockCategory::EngineStage => "estage",
        other => other.as_str(),
    }
}

/// How a failed run is told on the terminal: the invariant, the seed, the replay command.
pub fn failure_text(run: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "FAILED {} seed {}: {}", run.scenario, run.seed, enum_name(&run.outcome));
    for violation in run.violations.iter().take(5) {
        let _ = writeln!(
            out,
            "  {} at trace #{} ({:.6} s): {}",
            violation.invariant,
            violation.trace_index,
            violation.at_us as f64 / 1e6,
            violation.message
        );
    }
    let more: u64 = run.violation_counts.values().sum::<u64>().saturating_sub(run.violations.len().min(5) as u64);
    if more > 0 {
        let _ = writeln!(out, "  … and {more} more");
    }
    let _ = writeln!(out, "  replay: {}", run.replay);
    out
}
