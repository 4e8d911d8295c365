//! `chipsim shrink`: a failing seed to the smallest case that still fails the same way,
//! written as a regression scenario (`scenarios/regressions/` is where they are kept), then
//! checked by running the file it wrote.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Overrides, THREADS_MAX, bad_input, git_commit, internal_error, scenario_dir};
use crate::exit;
use crate::runner;
use crate::scenario::{self, Scenario, SeedList};
use crate::shrink::{self, ShrinkStep};
use crate::world::{self, RunSpec};

#[derive(clap::Args)]
pub(crate) struct ShrinkArgs {
    /// The scenario (a name or a path).
    scenario: String,
    /// The failing seed.
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    overrides: Overrides,
    /// Where to write the shrunk scenario (TOML).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Name of the shrunk scenario (default: SCENARIO_seedN, with the design when not hardened).
    #[arg(long)]
    name: Option<String>,
    /// Candidate runs at a time (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=THREADS_MAX))]
    threads: Option<u64>,
}

pub(crate) fn shrink(args: ShrinkArgs) -> ExitCode {
    let dir = scenario_dir(&args.overrides.scenario_dir);
    let scenario = match scenario::resolve(&dir, &args.scenario) {
        Ok((_, scenario)) => args.overrides.apply(scenario),
        Err(error) => return bad_input(error),
    };
    let threads = args.threads.map_or_else(runner::default_threads, |threads| threads as usize);
    let on_step = |step: &ShrinkStep| eprintln!("  {step}");
    eprintln!("chipsim: shrinking {} seed {} ({} threads)", scenario.name, args.seed, threads);
    let shrunk = match shrink::shrink(&scenario, args.seed, threads, &on_step) {
        Ok(shrunk) => shrunk,
        Err(error @ shrink::ShrinkError::Passes { .. }) => return bad_input(error),
        Err(error) => return internal_error(error),
    };
    let mut regression = shrunk.scenario.clone();
    regression.name = args.name.clone().unwrap_or_else(|| default_name(&scenario, args.seed));
    regression.description = format!(
        "Shrunk from `chipsim run {} --seed {}{}`: {} faults → {}; fails with {}.",
        scenario.origin(),
        args.seed,
        variant_flag(&scenario),
        shrunk.faults_before,
        regression.faults.schedule.len(),
        shrunk.invariant
    );
    regression.seeds = SeedList::Range(format!("{0}..={0}", args.seed));
    let text = format!("{}{}", header(&scenario, &shrunk, &regression), regression.to_toml());
    if let Err(error) = std::fs::write(&args.out, &text) {
        return internal_error(format!("cannot write {}: {error}", args.out.display()));
    }
    check_written(&args.out, &regression, &shrunk)
}

/// Loads the written file and runs it: it must fail with the same invariant.
fn check_written(path: &std::path::Path, regression: &Scenario, shrunk: &shrink::Shrunk) -> ExitCode {
    let loaded = match Scenario::load(path) {
        Ok(loaded) => loaded,
        Err(error) => return internal_error(format!("the written scenario does not load: {error}")),
    };
    let run = world::run(&RunSpec::new(loaded, shrunk.seed));
    let same = run.violations.iter().any(|v| v.invariant == shrunk.invariant);
    eprintln!(
        "shrunk {} seed {}: {} faults → {}, {} tables × {} players, safety {} ms; {} fails with {}: {}",
        regression.name,
        shrunk.seed,
        shrunk.faults_before,
        regression.faults.schedule.len(),
        regression.tables.tables,
        regression.tables.players_per_table,
        regression.world.safety_ms,
        path.display(),
        shrunk.invariant,
        if same { "checked" } else { "NOT reproduced" }
    );
    if same { ExitCode::from(exit::SUCCESS) } else { ExitCode::from(exit::INTERNAL_ERROR) }
}

fn default_name(scenario: &Scenario, seed: u64) -> String {
    let variant = crate::report::enum_name(&scenario.engine.variant);
    if variant == "hardened" {
        format!("{}_seed{seed}", scenario.name)
    } else {
        format!("{}_{variant}_seed{seed}", scenario.name)
    }
}

fn variant_flag(scenario: &Scenario) -> String {
    let variant = crate::report::enum_name(&scenario.engine.variant);
    if variant == "hardened" { String::new() } else { format!(" --variant {variant}") }
}

fn header(scenario: &Scenario, shrunk: &shrink::Shrunk, regression: &Scenario) -> String {
    let commit = git_commit().unwrap_or_else(|| "an unknown commit".into());
    let first = shrunk.run.violations.first().map_or(String::new(), |v| v.message.clone());
    format!(
        "# Written by `chipsim shrink {} --seed {}{}` at {commit}.\n# It failed with {}: {first}\n# Replay: cargo run --release -p sim -- replay {} --seed {}\n\n",
        scenario.origin(),
        shrunk.seed,
        variant_flag(scenario),
        shrunk.invariant,
        regression.name,
        shrunk.seed
    )
}
