//! Runs many (scenario, seed) jobs on a pool of threads — each run is single-threaded and
//! independent, so seeds spread over cores — and returns the reports in job order, whatever
//! order they finished in, so output and report files are deterministic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::world::{self, RunSpec};

/// One run to do.
#[derive(Clone, Debug)]
pub struct Job {
    pub scenario: Scenario,
    pub seed: u64,
}

/// Runs `jobs` on `threads` threads; `on_done` sees each report as it finishes (from a worker
/// thread). Returns the reports in job order.
pub fn run_all(jobs: &[Job], threads: usize, on_done: &(dyn Fn(&RunReport) + Sync)) -> Vec<RunReport> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunReport>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    let spec = RunSpec::new(job.scenario.clone(), job.seed);
                    let report = world::run(&spec);
                    on_done(&report);
                    results.lock().expect("results")[index] = Some(report);
                }
            });
        }
    });
    results.into_inner().expect("results").into_iter().map(|r| r.expect("every job ran")).collect()
}

/// The number of threads to use by default: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
