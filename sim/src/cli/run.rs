//! `chipsim run`, `replay` and `list`: scenarios over seeds with a summary table and a report
//! file, one seed's whole trace, and the shipped scenarios.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Exports, Overrides, THREADS_MAX, bad_input, git_commit, internal_error, scenario_dir};
use crate::exit;
use crate::report::{self, ReportFile, RunReport};
use crate::runner::{self, Job};
use crate::scenario::{self, Scenario};
use crate::trace::TraceKept;
use crate::world::{self, RunSpec};

/// Most seeds of one scenario that `run` holds (each run's report stays in memory for the
/// report file).
pub const RUN_SEEDS_MAX: u64 = scenario::SEEDS_PER_SCENARIO_MAX;

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario names (from the scenario directory) or paths to .toml files.
    scenarios: Vec<String>,
    /// Run only this seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run these seeds: A..B (B excluded) or A..=B.
    #[arg(long)]
    seeds: Option<String>,
    #[command(flatten)]
    overrides: Overrides,
    /// Print one JSON object per (scenario, seed) on standard output instead of the table.
    #[arg(long)]
    json: bool,
    /// Directory of the report file.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    report: PathBuf,
    #[command(flatten)]
    exports: Exports,
    /// Worker threads (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=THREADS_MAX))]
    threads: Option<u64>,
}

#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    scenario: String,
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    overrides: Overrides,
    /// Print the run's report as JSON after the trace.
    #[arg(long)]
    json: bool,
    /// Also write the run's lock holds and waits, requests, transactions and faults as a
    /// Chrome trace-event JSON file (opens in Perfetto or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[arg(long, value_name = "DIR")]
    scenario_dir: Option<PathBuf>,
}

/// Loads the named scenarios (or every one in `dir`), all before anything runs.
pub(super) fn load_scenarios(dir: &Path, names: &[String]) -> Result<Vec<Scenario>, String> {
    let loaded = if names.is_empty() {
        scenario::load_dir(dir)
    } else {
        names.iter().map(|name| scenario::resolve(dir, name)).collect()
    };
    match loaded {
        Ok(scenarios) if scenarios.is_empty() => Err(format!("no scenarios in {}", dir.display())),
        Ok(scenarios) => Ok(scenarios.into_iter().map(|(_, scenario)| scenario).collect()),
        Err(error) => Err(error.to_string()),
    }
}

/// The seeds `--seed` or `--seeds` ask for, if either does; at most `RUN_SEEDS_MAX`.
fn seeds_asked(seed: Option<u64>, seeds: Option<&str>) -> Result<Option<Vec<u64>>, String> {
    match (seed, seeds) {
        (Some(seed), _) => Ok(Some(vec![seed])),
        (None, Some(text)) => {
            let range = scenario::parse_seed_range(text).map_err(|error| format!("--seeds: {error}"))?;
            let count = (range.end() - range.start()).saturating_add(1);
            if count > RUN_SEEDS_MAX {
                return Err(format!("--seeds {text}: {count} seeds, but `run` takes at most {RUN_SEEDS_MAX}"));
            }
            Ok(Some(range.collect()))
        }
        (None, None) => Ok(None),
    }
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let dir = scenario_dir(&args.overrides.scenario_dir);
    // Load everything first: a bad file or flag means nothing runs.
    let scenarios = match load_scenarios(&dir, &args.scenarios) {
        Ok(scenarios) => scenarios,
        Err(error) => return bad_input(error),
    };
    let seeds = match seeds_asked(args.seed, args.seeds.as_deref()) {
        Ok(seeds) => seeds,
        Err(error) => return bad_input(error),
    };
    let mut jobs = Vec::new();
    for scenario in scenarios {
        let scenario = args.overrides.apply(scenario);
        let seeds = seeds.clone().unwrap_or_else(|| scenario.default_seeds());
        jobs.extend(seeds.into_iter().map(|seed| Job { scenario: scenario.clone(), seed }));
    }
    let threads = args.threads.map_or_else(runner::default_threads, |threads| threads as usize);
    eprintln!("chipsim: {} runs on {threads} threads", jobs.len());
    let on_done = |run: &RunReport| {
        if !run.passed {
            eprint!("{}", report::failure_text(run));
        }
    };
    let runs = runner::run_all(&jobs, threads, &on_done);
    if args.json {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        for run in &runs {
            let _ = writeln!(out, "{}", run.json_line());
        }
    }
    let file = ReportFile::of_runs(git_commit(), runs);
    if !args.json {
        super::stdout(&report::summary_table(&file));
    }
    match file.write_latest(&args.report) {
        Ok(path) => eprintln!("report: {}", path.display()),
        Err(error) => return internal_error(error),
    }
    if let Err(code) = args.exports.write(&file) {
        return code;
    }
    let failed: Vec<&RunReport> = file.runs.iter().filter(|r| !r.passed).collect();
    if let Some(first) = failed.first() {
        eprintln!("{} of {} runs failed; replay the first with:\n  {}", failed.len(), file.runs.len(), first.replay);
    }
    eprint!("{}", file.coverage_text());
    ExitCode::from(file.exit_code())
}

pub(crate) fn replay(args: ReplayArgs) -> ExitCode {
    let dir = scenario_dir(&args.overrides.scenario_dir);
    let scenario = match scenario::resolve(&dir, &args.scenario) {
        Ok((_, scenario)) => args.overrides.apply(scenario),
        Err(error) => return bad_input(error),
    };
    let spec = RunSpec { trace: TraceKept::All, ..RunSpec::new(scenario, args.seed) };
    let (run, events) = world::run_with_trace(&spec);
    if let Some(path) = &args.timeline {
        let timeline = crate::timeline::chrome_trace(&events);
        if let Err(error) = std::fs::write(path, timeline.to_string()) {
            return internal_error(format!("{}: {error}", path.display()));
        }
        eprintln!("timeline: {}", path.display());
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for event in &events {
        if writeln!(out, "{event}").is_err() {
            break;
        }
    }
    if args.json {
        let _ = writeln!(out, "{}", run.json_line());
    }
    let _ = writeln!(
        out,
        "{} seed {}: {} — trace {} ({} events), {:.3} simulated s",
        run.scenario,
        run.seed,
        report::enum_name(&run.outcome),
        run.trace_hash,
        run.trace_events,
        run.sim_time_ms as f64 / 1e3
    );
    let _ = out.flush();
    drop(out);
    if !run.passed {
        eprint!("{}", report::failure_text(&run));
    }
    ExitCode::from(run.outcome.exit_code())
}

pub(crate) fn list(args: ListArgs) -> ExitCode {
    let dir = scenario_dir(&args.scenario_dir);
    match scenario::load_dir(&dir) {
        Err(error) => bad_input(error),
        Ok(scenarios) => {
            let mut out = String::new();
            for (_, s) in scenarios {
                out += &format!(
                    "{:<20} seeds {:<8} {:<10} {}\n",
                    s.name,
                    s.seeds.to_string(),
                    report::enum_name(&s.engine.variant),
                    s.description
                );
            }
            super::stdout(&out);
            ExitCode::from(exit::SUCCESS)
        }
    }
}
