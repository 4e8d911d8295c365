//! Shrinking: from a failing run to the smallest case an engineer can read, written as a
//! regression scenario. The run's recorded schedule (every fault that fired, at its
//! opportunity) replays it exactly; delta debugging then deletes faults while the run still
//! fails with the same invariant — halves first, then finer, down to one by one — and after
//! that the world shrinks: fewer tables, fewer players, fewer duplicate copies, a shorter
//! safety phase. The result is the original scenario with its dice off and the schedule
//! spelled out, one `[[faults.schedule]]` table per fault, under the same seed.
//!
//! Each candidate is a whole run; candidates are tried `threads` at a time, and the first
//! that fails in a fixed order wins, so the result does not depend on the thread count. This
//! module never writes files; the CLI does.

use std::fmt;

use crate::checkers::Invariant;
use crate::faults::kind::FaultKind;
use crate::faults::schedule::ScheduledFault;
use crate::report::RunReport;
use crate::scenario::{Scenario, SeedList};
use crate::trace::TraceKept;
use crate::world::{self, RunSpec};

/// Shortest safety phase the shrinker tries, in simulated ms.
pub const SAFETY_MS_MIN: u64 = 1_000;
/// Fewest players per table the shrinker tries (heads-up).
const PLAYERS_PER_TABLE_MIN: u32 = 2;

/// Why a run could not be shrunk.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShrinkError {
    #[error("{scenario} seed {seed} passes: there is nothing to shrink")]
    Passes { scenario: String, seed: u64 },
    #[error(
        "{scenario} seed {seed} fails with {invariant}, but not when replayed from its own schedule (a harness bug: \
         the schedule does not capture every fault)"
    )]
    NotReproducible { scenario: String, seed: u64, invariant: Invariant },
}

/// One step of the search, as the CLI prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShrinkStep {
    pub tried: String,
    pub faults_left: usize,
    pub still_failing: bool,
}

impl fmt::Display for ShrinkStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.still_failing { "still failing: kept" } else { "passes: undone" };
        write!(f, "{} → {verdict} ({} faults left)", self.tried, self.faults_left)
    }
}

/// A shrunk failure.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The regression scenario: the smallest world that still fails, its faults spelled out.
    pub scenario: Scenario,
    pub seed: u64,
    pub invariant: Invariant,
    pub faults_before: usize,
    /// The last run of the shrunk scenario (it fails with `invariant`).
    pub run: RunReport,
}

/// The invariant a failed run broke first.
fn first_invariant(run: &RunReport) -> Option<Invariant> {
    if run.passed { None } else { Some(run.violations.first().map_or(Invariant::Panic, |v| v.invariant)) }
}

/// `scenario` with its fault dice off and exactly `schedule` injected.
pub fn with_schedule(scenario: &Scenario, schedule: Vec<ScheduledFault>) -> Scenario {
    let mut shrunk = scenario.clone();
    shrunk.faults.swarm = false;
    for dial in FaultKind::DIALS {
        shrunk.faults.scale_dial(dial, 0.0);
    }
    shrunk.faults.schedule = schedule;
    // A regression is about its failure: the coverage its original's many seeds promise is
    // not one seed's to keep.
    shrunk.coverage = crate::scenario::CoverageSettings::default();
    shrunk
}

/// The search: a scenario under one seed, and the invariant every candidate must still break.
struct Search<'a> {
    seed: u64,
    invariant: Invariant,
    threads: usize,
    on_step: &'a (dyn Fn(&ShrinkStep) + Sync),
}

impl Search<'_> {
    /// The run of `candidate`, if it still fails with the invariant (its trace's tail not
    /// kept: a candidate is judged by its violations alone).
    fn fails(&self, candidate: &Scenario) -> Option<RunReport> {
        let spec = RunSpec { trace: TraceKept::Nothing, ..RunSpec::new(candidate.clone(), self.seed) };
        let run = world::run(&spec);
        run.violations.iter().any(|v| v.invariant == self.invariant).then_some(run)
    }

    /// Tries `candidates` (`threads` at a time) and returns the first, in order, that still
    /// fails, with its run.
    fn first_failing(&self, candidates: &[(String, Scenario)]) -> Option<(usize, RunReport)> {
        for (batch_index, batch) in candidates.chunks(self.threads.max(1)).enumerate() {
            let results: Vec<Option<RunReport>> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    batch.iter().map(|(_, candidate)| scope.spawn(|| self.fails(candidate))).collect();
                handles.into_iter().map(|h| h.join().expect("a candidate run never panics the shrinker")).collect()
            });
            for (offset, ((tried, candidate), result)) in batch.iter().zip(results).enumerate() {
                let faults_left = candidate.faults.schedule.len();
                (self.on_step)(&ShrinkStep { tried: tried.clone(), faults_left, still_failing: result.is_some() });
                if let Some(run) = result {
                    return Some((batch_index * self.threads.max(1) + offset, run));
                }
            }
        }
        None
    }

    /// Delta debugging over the schedule: deletes chunks of faults (halves, then quarters, …,
    /// then single faults) while the run still fails. Returns the smaller scenario and its run.
    fn fewer_faults(&self, mut best: Scenario, mut run: RunReport) -> (Scenario, RunReport) {
        let mut chunks = 2usize;
        while best.faults.schedule.len() >= 2 {
            let faults = best.faults.schedule.clone();
            let size = faults.len().div_ceil(chunks);
            let candidates: Vec<(String, Scenario)> = (0..faults.len())
                .step_by(size)
                .map(|start| {
                    let end = (start + size).min(faults.len());
                    let kept = faults[..start].iter().chain(&faults[end..]).cloned().collect();
                    (format!("without faults {}..{} of {}", start + 1, end, faults.len()), with_schedule(&best, kept))
                })
                .collect();
            match self.first_failing(&candidates) {
                Some((index, failing)) => {
                    best = candidates[index].1.clone();
                    run = failing;
                    chunks = chunks.saturating_sub(1).max(2);
                }
                None if size == 1 => break,
                None => chunks = (chunks * 2).min(faults.len()),
            }
        }
        if best.faults.schedule.len() == 1 {
            let none = [("without the last fault".to_string(), with_schedule(&best, Vec::new()))];
            if let Some((_, failing)) = self.first_failing(&none) {
                return (none[0].1.clone(), failing);
            }
        }
        (best, run)
    }

    /// Shrinks one number of the world (tables, players, copies, the safety phase) while the
    /// run still fails: `step` proposes the next smaller world, or `None` at the floor.
    fn shrink_while(
        &self,
        mut best: Scenario,
        mut run: RunReport,
        what: &str,
        step: impl Fn(&Scenario) -> Option<Scenario>,
    ) -> (Scenario, RunReport) {
        while let Some(smaller) = step(&best) {
            let candidate = [(format!("{what}: {}", describe(&smaller)), smaller)];
            match self.first_failing(&candidate) {
                Some((_, failing)) => {
                    best = candidate[0].1.clone();
                    run = failing;
                }
                None => break,
            }
        }
        (best, run)
    }
}

/// The sizes a shrink step changes, for its line.
fn describe(scenario: &Scenario) -> String {
    let t = &scenario.tables;
    format!("{} tables × {} players, safety {} ms", t.tables, t.players_per_table, scenario.world.safety_ms)
}

fn fewer_tables(scenario: &Scenario) -> Option<Scenario> {
    let mut smaller = scenario.clone();
    (smaller.tables.tables > 1).then(|| {
        smaller.tables.tables -= 1;
        smaller
    })
}

fn fewer_players(scenario: &Scenario) -> Option<Scenario> {
    let t = &scenario.tables;
    if t.players_per_table <= PLAYERS_PER_TABLE_MIN || t.players_per_table <= t.shared_players {
        return None;
    }
    let mut smaller = scenario.clone();
    smaller.tables.players_per_table -= 1;
    Some(smaller)
}

/// One copy fewer in the duplicate with the most copies (never below 2).
fn fewer_copies(scenario: &Scenario) -> Option<Scenario> {
    let mut smaller = scenario.clone();
    let duplicate =
        smaller.faults.schedule.iter_mut().filter(|f| f.copies.is_some_and(|c| c > 2)).max_by_key(|f| f.copies)?;
    let copies = duplicate.copies.expect("filtered") - 1;
    duplicate.copies = Some(copies);
    duplicate.fresh_copies.retain(|&copy| copy <= copies);
    Some(smaller)
}

/// Three quarters of the safety phase, no shorter than `SAFETY_MS_MIN`.
fn shorter_safety(scenario: &Scenario) -> Option<Scenario> {
    let mut smaller = scenario.clone();
    let shorter = (smaller.world.safety_ms * 3 / 4).max(SAFETY_MS_MIN);
    (shorter < smaller.world.safety_ms).then(|| {
        smaller.world.safety_ms = shorter;
        smaller
    })
}

/// Keeps only the scheduled faults that fired in `run` (the others change nothing).
fn only_fired(scenario: &Scenario, run: &RunReport) -> Scenario {
    let fired: Vec<ScheduledFault> =
        scenario.faults.schedule.iter().filter(|fault| run.schedule.contains(fault)).cloned().collect();
    with_schedule(scenario, fired)
}

/// Shrinks `scenario` under `seed` (with any design already applied); `on_step` sees every
/// candidate tried. `threads` candidates run at a time.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    threads: usize,
    on_step: &(dyn Fn(&ShrinkStep) + Sync),
) -> Result<Shrunk, ShrinkError> {
    let original = world::run(&RunSpec::new(scenario.clone(), seed));
    let Some(invariant) = first_invariant(&original) else {
        return Err(ShrinkError::Passes { scenario: scenario.name.clone(), seed });
    };
    let faults_before = original.schedule.len();
    let search = Search { seed, invariant, threads, on_step };
    let replay = with_schedule(scenario, original.schedule.clone());
    let Some(run) = search.fails(&replay) else {
        return Err(ShrinkError::NotReproducible { scenario: scenario.name.clone(), seed, invariant });
    };
    on_step(&ShrinkStep {
        tried: "replay from the recorded schedule".into(),
        faults_left: faults_before,
        still_failing: true,
    });
    let (best, run) = search.fewer_faults(replay, run);
    let (best, run) = search.shrink_while(best, run, "fewer tables", fewer_tables);
    let (best, run) = search.shrink_while(best, run, "fewer players", fewer_players);
    let (best, run) = search.shrink_while(best, run, "fewer duplicate copies", fewer_copies);
    let (best, run) = search.shrink_while(best, run, "shorter safety phase", shorter_safety);
    let pruned = only_fired(&best, &run);
    let (mut best, run) = match search.fails(&pruned) {
        Some(pruned_run) => search.fewer_faults(pruned, pruned_run),
        None => (best, run),
    };
    best.seeds = SeedList::List(vec![seed]);
    Ok(Shrunk { scenario: best, seed, invariant, faults_before, run })
}
