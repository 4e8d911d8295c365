//! `chipsim sweep`: many seeds at CI scale — streamed, on every core, sharded with
//! `--shard K/N` for a CI matrix, a progress bar on a terminal (plain periodic lines
//! otherwise), a final summary with the failures by invariant and their replay commands, a
//! report file and JUnit XML — and `chipsim report merge`, which joins the shards' reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Exports, Overrides, THREADS_MAX, bad_input, git_commit, internal_error, scenario_dir};
use crate::checkers::Invariant;
use crate::exit;
use crate::report::{self, ReportFile, RunReport, RunsKept, Shard};
use crate::runner;
use crate::scenario;
use crate::sweep::{self, DETERMINISM_PERCENT_MAX, Progress, SweepSpec};

/// How often a sweep whose stderr is not a terminal prints a progress line, in seconds.
pub const PROGRESS_LINE_INTERVAL_S: u64 = 10;
/// Failing seeds listed per invariant in the final summary.
const FAILING_SEEDS_SHOWN_COUNT: usize = 10;

#[derive(clap::Args)]
pub(crate) struct SweepArgs {
    /// Scenario names or paths (default: every shipped scenario).
    scenarios: Vec<String>,
    /// The seed range: A..B (B excluded) or A..=B. Streamed: any size.
    #[arg(long)]
    seeds: String,
    /// Run only the K-th of N interleaved slices of the range (K from 1).
    #[arg(long, value_name = "K/N", default_value = "1/1")]
    shard: Shard,
    /// Go on after a failure (default: stop at the first, in seed order).
    #[arg(long)]
    keep_going: bool,
    /// Re-run this share of the seeds (in percent) and fail if a trace hash differs.
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    check_determinism: f64,
    #[command(flatten)]
    overrides: Overrides,
    /// Directory of the report file (`latest.json`).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    report: PathBuf,
    /// Which runs the report lists (the summaries count all): all, or failed only.
    #[arg(long, value_enum, default_value_t = RunsKept::All)]
    runs: RunsKept,
    /// Also write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[command(flatten)]
    exports: Exports,
    /// Worker threads (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=THREADS_MAX))]
    threads: Option<u64>,
}

#[derive(clap::Subcommand)]
pub(crate) enum ReportCommand {
    /// Merge the reports of a sweep's shards (or of runs of one build) into one.
    Merge(MergeArgs),
}

#[derive(clap::Args)]
pub(crate) struct MergeArgs {
    /// The report files to merge.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Where to write the merged report.
    #[arg(short = 'o', long = "out", value_name = "OUT.json")]
    out: PathBuf,
    /// Also write JUnit XML of the merged report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

pub(crate) fn sweep(args: SweepArgs) -> ExitCode {
    let spec = match sweep_spec(&args) {
        Ok(spec) => spec,
        Err(error) => return bad_input(error),
    };
    let names: Vec<&str> = spec.scenarios.iter().map(|s| s.name.as_str()).collect();
    eprintln!(
        "chipsim: sweep of {} seeds ({} {} shard {}) on {} threads",
        spec.jobs_total(),
        names.join(", "),
        args.seeds,
        spec.shard,
        spec.threads
    );
    let display = ProgressDisplay::new(spec.jobs_total());
    let on_commit = |run: &RunReport, progress: &Progress| display.committed(run, progress);
    let mut result = sweep::sweep(&spec, &on_commit);
    display.finish();
    result.report.git_commit = git_commit();
    eprint!("{}", final_summary(&result.report, &result.progress));
    eprint!("{}", result.report.coverage_text());
    if result.report.is_partial() {
        eprintln!("coverage: judged when the shards are merged (`chipsim report merge`)");
    }
    if let Err(code) = write_outputs(&result.report, &args.report, args.junit.as_ref()) {
        return code;
    }
    if let Err(code) = args.exports.write(&result.report) {
        return code;
    }
    ExitCode::from(exit_code(&result.report))
}

/// The spec the arguments ask for, or the one line that says what is wrong with them.
fn sweep_spec(args: &SweepArgs) -> Result<SweepSpec, String> {
    let dir = scenario_dir(&args.overrides.scenario_dir);
    let scenarios = super::run::load_scenarios(&dir, &args.scenarios)?;
    let seeds = scenario::parse_seed_range(&args.seeds).map_err(|error| format!("--seeds: {error}"))?;
    if !(0.0..=DETERMINISM_PERCENT_MAX).contains(&args.check_determinism) {
        return Err(format!("--check-determinism: {} is not a percentage (0 to 100)", args.check_determinism));
    }
    Ok(SweepSpec {
        scenarios: scenarios.into_iter().map(|s| args.overrides.apply(s)).collect(),
        seeds,
        shard: args.shard,
        keep_going: args.keep_going,
        threads: args.threads.map_or_else(runner::default_threads, |threads| threads as usize),
        determinism_percent: args.check_determinism,
        runs_kept: args.runs,
        variant: args.overrides.variant,
        lock_strategy: args.overrides.lock_strategy,
    })
}

fn write_outputs(report: &ReportFile, dir: &std::path::Path, junit: Option<&PathBuf>) -> Result<(), ExitCode> {
    match report.write_latest(dir) {
        Ok(path) => eprintln!("report: {}", path.display()),
        Err(error) => return Err(internal_error(error)),
    }
    if let Some(path) = junit {
        if let Err(error) = write_junit(report, path) {
            return Err(internal_error(error));
        }
        eprintln!("junit: {}", path.display());
    }
    Ok(())
}

fn write_junit(report: &ReportFile, path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, report::junit_xml(report))
}

/// Nondeterminism first (nothing else can be trusted then), else the worst outcome.
fn exit_code(report: &ReportFile) -> u8 {
    let mismatched = report.sweep.as_ref().is_some_and(|sweep| !sweep.determinism_mismatches.is_empty());
    if mismatched { exit::NONDETERMINISTIC } else { report.exit_code() }
}

pub(crate) fn report(command: ReportCommand) -> ExitCode {
    let ReportCommand::Merge(args) = command;
    let mut reports = Vec::new();
    for path in &args.reports {
        match ReportFile::read(path) {
            Ok(report) => reports.push(report),
            Err(error) => return bad_input(error),
        }
    }
    let merged = match ReportFile::merge(reports) {
        Ok(merged) => merged,
        Err(error) => return bad_input(error),
    };
    if let Err(error) = merged.write(&args.out) {
        return internal_error(error);
    }
    eprintln!("merged {} reports: {}", args.reports.len(), args.out.display());
    if let Some(path) = &args.junit {
        if let Err(error) = write_junit(&merged, path) {
            return internal_error(error);
        }
        eprintln!("junit: {}", path.display());
    }
    super::stdout(&report::summary_table(&merged));
    eprint!("{}", merged.coverage_text());
    ExitCode::from(exit_code(&merged))
}

/// The sweep's last words: seeds run, failures by invariant with their seeds and replay
/// commands, determinism, seeds per second and simulated seconds per wall second.
fn final_summary(report: &ReportFile, progress: &Progress) -> String {
    let sweep = report.sweep.as_ref().expect("a sweep's report has its record");
    let wall_s = (sweep.wall_ms as f64 / 1_000.0).max(1e-3);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sweep: {} seeds run{}, {} failed; {:.1} seeds/s, {:.0} simulated s per wall s ({:.1} s wall)",
        progress.done,
        if sweep.stopped_early { " (stopped at the first failure)" } else { "" },
        progress.failed,
        progress.done as f64 / wall_s,
        progress.sim_time_ms as f64 / 1_000.0 / wall_s,
        wall_s
    );
    let mut by_invariant: BTreeMap<String, Vec<&RunReport>> = BTreeMap::new();
    for run in report.runs.iter().filter(|run| !run.passed) {
        let invariant = run.violations.first().map_or(Invariant::Panic.to_string(), |v| v.invariant.to_string());
        by_invariant.entry(invariant).or_default().push(run);
    }
    for (invariant, runs) in &by_invariant {
        let seeds: Vec<String> =
            runs.iter().take(FAILING_SEEDS_SHOWN_COUNT).map(|r| format!("{} {}", r.scenario, r.seed)).collect();
        let more = runs.len().saturating_sub(FAILING_SEEDS_SHOWN_COUNT);
        let _ = writeln!(
            out,
            "  {invariant}: {} runs — {}{}",
            runs.len(),
            seeds.join(", "),
            if more > 0 { format!(" (+{more})") } else { String::new() }
        );
        for run in runs.iter().take(3) {
            let _ = writeln!(out, "    replay: {}", run.replay);
        }
    }
    if sweep.determinism_checked > 0 || !sweep.determinism_mismatches.is_empty() {
        let _ = writeln!(
            out,
            "  determinism: {} seeds re-run, {} gave another trace hash",
            sweep.determinism_checked,
            sweep.determinism_mismatches.len()
        );
        for mismatch in &sweep.determinism_mismatches {
            let _ = writeln!(
                out,
                "    {} seed {}: {} then {}",
                mismatch.scenario, mismatch.seed, mismatch.first, mismatch.again
            );
        }
    }
    out
}

/// A progress bar on a terminal; plain lines every `PROGRESS_LINE_INTERVAL_S` otherwise.
/// Reads the wall clock, for display only.
struct ProgressDisplay {
    bar: Option<ProgressBar>,
    #[allow(clippy::disallowed_types)]
    started: std::time::Instant,
    last_line_s: Mutex<u64>,
}

impl ProgressDisplay {
    // The progress line's wall clock (seeds per second, ETA): display only, never hashed,
    // compared or written to a report.
    #[allow(clippy::disallowed_methods)]
    fn new(total: u64) -> ProgressDisplay {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} seeds · {msg} · {per_sec} · ETA {eta}",
            )
            .expect("a valid template");
            bar.set_style(style.progress_chars("=> "));
            bar.set_message("0 failed");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        // Wall time for the progress line's rate and ETA only: never in a run, hash or report.
        ProgressDisplay { bar, started: std::time::Instant::now(), last_line_s: Mutex::new(0) }
    }

    fn committed(&self, run: &RunReport, progress: &Progress) {
        if !run.passed {
            let text = report::failure_text(run);
            match &self.bar {
                Some(bar) => bar.suspend(|| eprint!("{text}")),
                None => eprint!("{text}"),
            }
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position(progress.done);
                bar.set_message(format!("{} failed", progress.failed));
            }
            None => self.line_when_due(progress),
        }
    }

    fn line_when_due(&self, progress: &Progress) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut last = self.last_line_s.lock().expect("progress");
        if (elapsed as u64) < *last + PROGRESS_LINE_INTERVAL_S {
            return;
        }
        *last = elapsed as u64;
        let rate = progress.done as f64 / elapsed.max(1e-3);
        let left = progress.total.saturating_sub(progress.done) as f64 / rate.max(1e-9);
        eprintln!(
            "sweep: {}/{} seeds, {} failed, {:.1} seeds/s, ETA {:.0} s",
            progress.done, progress.total, progress.failed, rate, left
        );
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
