//! Sweeps: many seeds of one or more scenarios, on every core, at the scale CI and nightly
//! jobs run them. Seeds are streamed, never listed (a range may be all of `u64`), and may be
//! cut into interleaved shards for a CI matrix; one simulation runs per worker thread.
//!
//! **Invariant:** the report does not depend on the thread count. Runs are committed in job
//! order (scenario, then seed) through an ordered buffer as small as the number of threads;
//! a sweep that stops at its first failure stops at the first failure in that order, and
//! discards what ran beyond it. Determinism re-runs are chosen by the seed alone.
//!
//! This module never prints: it reports each committed run to a callback (the CLI's progress).

use std::collections::{BTreeMap, VecDeque};
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use engine::hash::fnv1a;

use crate::report::{Mismatch, ReportFile, RunReport, RunsKept, ScenarioSummary, Shard, SweepRecord};
use crate::scenario::Scenario;
use crate::world::{self, RunSpec};

/// Most determinism re-runs, in percent of the seeds.
pub const DETERMINISM_PERCENT_MAX: f64 = 100.0;

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// The scenarios, with any design or lock strategy override already applied.
    pub scenarios: Vec<Scenario>,
    pub seeds: RangeInclusive<u64>,
    pub shard: Shard,
    pub keep_going: bool,
    pub threads: usize,
    /// Share of the seeds re-run to check that they give the same trace hash, in percent.
    pub determinism_percent: f64,
    pub runs_kept: RunsKept,
    /// The overrides, as given, for the record.
    pub variant: Option<engine::game::EngineVariant>,
    pub lock_strategy: Option<engine::game::LockStrategy>,
}

impl SweepSpec {
    fn seeds_per_scenario(&self) -> u64 {
        self.shard.seeds_in(*self.seeds.start(), *self.seeds.end())
    }

    /// Jobs in the whole sweep (scenarios × this shard's seeds), saturating.
    pub fn jobs_total(&self) -> u64 {
        self.seeds_per_scenario().saturating_mul(self.scenarios.len() as u64)
    }

    /// Job `index` in order: (scenario, seed).
    fn job(&self, index: u128) -> (usize, u64) {
        let per = u128::from(self.seeds_per_scenario());
        let scenario = (index / per) as usize;
        let i = (index % per) as u64;
        (scenario, self.shard.seed(*self.seeds.start(), i))
    }

    /// Whether `seed` is among the `determinism_percent` re-run (chosen by the seed alone).
    fn rechecks(&self, seed: u64) -> bool {
        let draw = fnv1a(&seed.to_le_bytes()) % 10_000;
        (draw as f64) < self.determinism_percent * 100.0
    }
}

/// How far a sweep has come, after each committed run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub failed: u64,
    pub sim_time_ms: u64,
}

/// A finished sweep.
#[derive(Debug)]
pub struct SweepResult {
    /// Summaries of every committed run, the runs kept, and the sweep's record.
    pub report: ReportFile,
    pub progress: Progress,
}

/// The runs in flight, committed in job order.
struct Collector<'a> {
    spec: &'a SweepSpec,
    pending: BTreeMap<u128, RunReport>,
    next_commit: u128,
    summaries: Vec<ScenarioSummary>,
    runs: Vec<RunReport>,
    progress: Progress,
    stopped: bool,
    rechecks: VecDeque<(usize, u64, String)>,
}

impl Collector<'_> {
    /// Takes a finished run; commits every run now in order; returns the runs committed.
    fn deliver(&mut self, index: u128, run: RunReport, on_commit: &(dyn Fn(&RunReport, &Progress) + Sync)) {
        if self.stopped {
            return;
        }
        self.pending.insert(index, run);
        while let Some(run) = self.pending.remove(&self.next_commit) {
            let (scenario, seed) = self.spec.job(self.next_commit);
            self.next_commit += 1;
            self.summaries[scenario].add(&run);
            self.progress.done += 1;
            self.progress.sim_time_ms += run.sim_time_ms;
            if !run.passed {
                self.progress.failed += 1;
            }
            if self.spec.rechecks(seed) {
                self.rechecks.push_back((scenario, seed, run.trace_hash.clone()));
            }
            on_commit(&run, &self.progress);
            let failed = !run.passed;
            if failed || self.spec.runs_kept == RunsKept::All {
                self.runs.push(run.slim());
            }
            if failed && !self.spec.keep_going {
                self.stopped = true;
                self.pending.clear();
                return;
            }
        }
    }
}

/// Runs the sweep; `on_commit` sees each run in job order, with the progress so far.
pub fn sweep(spec: &SweepSpec, on_commit: &(dyn Fn(&RunReport, &Progress) + Sync)) -> SweepResult {
    // The wall clock of the whole sweep, for its record only (never hashed or compared).
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let total = u128::from(spec.seeds_per_scenario()) * spec.scenarios.len() as u128;
    let collector = Mutex::new(Collector {
        spec,
        pending: BTreeMap::new(),
        next_commit: 0,
        summaries: spec.scenarios.iter().map(|s| ScenarioSummary::new(&s.name)).collect(),
        runs: Vec::new(),
        progress: Progress { total: spec.jobs_total(), ..Progress::default() },
        stopped: false,
        rechecks: VecDeque::new(),
    });
    let next = Mutex::new(0u128);
    let stop = AtomicBool::new(false);
    let mismatches = Mutex::new(Vec::new());
    let checked = Mutex::new(0u64);
    std::thread::scope(|scope| {
        for _ in 0..spec.threads.max(1) {
            scope.spawn(|| worker(spec, total, &next, &stop, &collector, &mismatches, &checked, on_commit));
        }
    });
    let collector = collector.into_inner().expect("collector");
    // Re-runs still queued when the workers ran out of jobs.
    for (scenario, seed, first) in collector.rechecks.iter().cloned() {
        recheck(spec, scenario, seed, first, &mismatches, &checked);
    }
    let mut mismatches = mismatches.into_inner().expect("mismatches");
    mismatches.sort_by(|a: &Mismatch, b: &Mismatch| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
    let record = SweepRecord {
        scenarios: spec.scenarios.iter().map(|s| s.name.clone()).collect(),
        seeds: format!("{}..={}", spec.seeds.start(), spec.seeds.end()),
        shard_count: spec.shard.count,
        shards: if spec.shard.count == 1 { Vec::new() } else { vec![spec.shard.index] },
        variant: spec.variant,
        lock_strategy: spec.lock_strategy,
        keep_going: spec.keep_going,
        runs_kept: spec.runs_kept,
        seeds_run: collector.progress.done,
        stopped_early: collector.stopped && u128::from(collector.progress.done) < total,
        determinism_percent: spec.determinism_percent,
        determinism_checked: checked.into_inner().expect("checked"),
        determinism_mismatches: mismatches,
        wall_ms: started.elapsed().as_millis() as u64,
    };
    let mut report = ReportFile::new(None);
    report.sweep = Some(record);
    report.scenarios = collector.summaries.into_iter().filter(|s| s.seeds > 0).collect();
    report.runs = collector.runs;
    SweepResult { report, progress: collector.progress }
}

/// One worker: a determinism re-run if one is queued, else the next job, until none is left
/// or the sweep stopped.
#[allow(clippy::too_many_arguments)]
fn worker(
    spec: &SweepSpec,
    total: u128,
    next: &Mutex<u128>,
    stop: &AtomicBool,
    collector: &Mutex<Collector<'_>>,
    mismatches: &Mutex<Vec<Mismatch>>,
    checked: &Mutex<u64>,
    on_commit: &(dyn Fn(&RunReport, &Progress) + Sync),
) {
    loop {
        let recheck_job = collector.lock().expect("collector").rechecks.pop_front();
        if let Some((scenario, seed, first)) = recheck_job {
            recheck(spec, scenario, seed, first, mismatches, checked);
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let index = {
            let mut next = next.lock().expect("next job");
            if *next >= total {
                return;
            }
            *next += 1;
            *next - 1
        };
        let (scenario, seed) = spec.job(index);
        let run = world::run(&RunSpec::new(spec.scenarios[scenario].clone(), seed));
        let mut collector = collector.lock().expect("collector");
        collector.deliver(index, run, on_commit);
        if collector.stopped {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `seed` of a scenario again and records a mismatch if its trace hash is not `first`.
fn recheck(
    spec: &SweepSpec,
    scenario: usize,
    seed: u64,
    first: String,
    mismatches: &Mutex<Vec<Mismatch>>,
    checked: &Mutex<u64>,
) {
    let again = world::run(&RunSpec::new(spec.scenarios[scenario].clone(), seed)).trace_hash;
    *checked.lock().expect("checked") += 1;
    if again != first {
        let name = spec.scenarios[scenario].name.clone();
        mismatches.lock().expect("mismatches").push(Mismatch { scenario: name, seed, first, again });
    }
}
