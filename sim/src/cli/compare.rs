//! `chipsim compare BASE CANDIDATE`: two sides — report files, or run specs that are run here —
//! compared percentile by percentile (`crate::compare`), as a table, JSON or an HTML page, and
//! with `--fail-if-worse PCT` the performance-regression exit code when the candidate is worse.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{
    Overrides, THREADS_MAX, bad_input, git_commit, internal_error, parse_lock_strategy, parse_variant, scenario_dir,
};
use crate::compare::{self, Side};
use crate::exit;
use crate::report::{self, Outcome, ReportFile, RunReport};
use crate::runner::{self, Job};
use crate::scenario;

#[derive(clap::Args)]
pub(crate) struct CompareArgs {
    /// The base: a report file (`reports/latest.json`), or a run spec
    /// `SCENARIO[:variant=V][:lock=coarse|fine][:seeds=A..B]` run here.
    base: String,
    /// The candidate, named the same way.
    candidate: String,
    /// Seeds of a run spec that names none (default: the scenario's own).
    #[arg(long)]
    seeds: Option<String>,
    /// Defaults for a run spec that names no variant or lock strategy.
    #[command(flatten)]
    overrides: Overrides,
    /// Keep only the rows whose short name contains one of these (comma-separated:
    /// `--only "wallet,lock hold table"`); counters are shown only when kept this way.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print the comparison as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Exit 6 when any hold or latency percentile of the candidate is worse than the base's
    /// by more than PCT percent (and by more than the 1 ms timer resolution).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    fail_if_worse: Option<f64>,
    /// The percentiles `--fail-if-worse` looks at (comma-separated: p50, p90, p99, p99.9,
    /// max; default all).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = parse_percentile)]
    at: Vec<String>,
    /// Also write the comparison as one self-contained HTML page with percentile plots.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Worker threads for run specs (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=THREADS_MAX))]
    threads: Option<u64>,
}

fn parse_percentile(text: &str) -> Result<String, String> {
    let names: Vec<&str> = compare::PERCENTILES.iter().map(|(name, _)| *name).collect();
    if names.contains(&text) {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not one of {}", names.join(", ")))
    }
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(pct) if (0.0..=1_000_000.0).contains(&pct) => Ok(pct),
        _ => Err(format!("`{text}` is not a percentage (0 or more)")),
    }
}

/// A run spec's jobs, or the error that makes it bad input.
fn spec_jobs(args: &CompareArgs, spec: &str) -> Result<Vec<Job>, String> {
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or_default();
    let dir = scenario_dir(&args.overrides.scenario_dir);
    let (_, scenario) = scenario::resolve(&dir, name).map_err(|error| error.to_string())?;
    let mut scenario = args.overrides.apply(scenario);
    let mut seeds = args.seeds.clone();
    for part in parts {
        match part.split_once('=') {
            Some(("variant", value)) => scenario.engine.variant = parse_variant(value)?,
            Some(("lock", value)) => scenario.engine.lock_strategy = parse_lock_strategy(value)?,
            Some(("seeds", value)) => seeds = Some(value.to_string()),
            _ => return Err(format!("`{spec}`: `{part}` is not variant=V, lock=S or seeds=A..B")),
        }
    }
    let seeds = match seeds {
        Some(text) => scenario::parse_seed_range(&text).map_err(|e| format!("`{spec}`: seeds: {e}"))?.collect(),
        None => scenario.default_seeds(),
    };
    if seeds.len() as u64 > super::run::RUN_SEEDS_MAX {
        return Err(format!("`{spec}`: {} seeds, more than {}", seeds.len(), super::run::RUN_SEEDS_MAX));
    }
    Ok(seeds.into_iter().map(|seed| Job { scenario: scenario.clone(), seed }).collect())
}

/// One side, before anything runs: a report read, or the jobs of a run spec.
enum Resolved {
    File(Box<ReportFile>),
    Spec(Vec<Job>),
}

fn resolve(args: &CompareArgs, text: &str) -> Result<Resolved, String> {
    if Path::new(text).is_file() {
        return ReportFile::read(Path::new(text))
            .map(|report| Resolved::File(Box::new(report)))
            .map_err(|error| format!("{text}: {error}"));
    }
    if text.ends_with(".json") {
        return Err(format!("{text}: no such report file"));
    }
    spec_jobs(args, text).map(Resolved::Spec)
}

fn side(label: &str, resolved: Resolved, threads: usize) -> Side {
    let report = match resolved {
        Resolved::File(report) => *report,
        Resolved::Spec(jobs) => {
            eprintln!("chipsim: {label}: {} runs on {threads} threads", jobs.len());
            let on_done = |run: &RunReport| {
                if !run.passed {
                    eprint!("{}", report::failure_text(run));
                }
            };
            ReportFile::of_runs(git_commit(), runner::run_all(&jobs, threads, &on_done))
        }
    };
    Side { label: label.to_string(), report }
}

pub(crate) fn compare(args: CompareArgs) -> ExitCode {
    // Both sides resolve before anything runs: a bad spec or file means nothing runs.
    let (base, candidate) = match (resolve(&args, &args.base), resolve(&args, &args.candidate)) {
        (Ok(base), Ok(candidate)) => (base, candidate),
        (Err(error), _) | (_, Err(error)) => return bad_input(error),
    };
    let threads = args.threads.map_or_else(runner::default_threads, |threads| threads as usize);
    let base = side(&args.base, base, threads);
    let candidate = side(&args.candidate, candidate, threads);
    let comparison = compare::compare(&base, &candidate);
    if let Some(path) = &args.html {
        let page = crate::html::comparison_page(&comparison, &base, &candidate);
        if let Err(error) = std::fs::write(path, page) {
            return internal_error(format!("{}: {error}", path.display()));
        }
        eprintln!("html: {}", path.display());
    }
    let regressions = args.fail_if_worse.map(|pct| comparison.regressions(pct, &args.at)).unwrap_or_default();
    let shown = comparison.only(&args.only);
    if args.json {
        super::stdout(&format!("{}\n", serde_json::to_string_pretty(&shown).expect("comparisons serialize")));
    } else {
        super::stdout(&shown.text());
    }
    let worst = base.report.worst().max(candidate.report.worst());
    if worst != Outcome::Passed {
        eprintln!("chipsim: a side's runs did not all pass ({})", report::enum_name(&worst));
        return ExitCode::from(worst.exit_code());
    }
    if let Some(pct) = args.fail_if_worse
        && !regressions.is_empty()
    {
        eprintln!(
            "chipsim: {} percentiles of the candidate are worse than the base's by more than {pct}%:",
            regressions.len()
        );
        for r in &regressions {
            eprintln!(
                "  {} {} {}: {:.1} -> {:.1} ms ({:+.0}%)",
                r.scenario,
                r.metric,
                r.delta.percentile,
                r.delta.base_us as f64 / 1_000.0,
                r.delta.candidate_us as f64 / 1_000.0,
                r.delta.relative.unwrap_or(f64::INFINITY) * 100.0
            );
        }
        return ExitCode::from(exit::PERFORMANCE_REGRESSION);
    }
    ExitCode::from(exit::SUCCESS)
}
