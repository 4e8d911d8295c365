//! `chipsim`, the command line: argument parsing (clap), one module per group of
//! subcommands, and the mapping of outcomes to the documented exit codes (`crate::exit`).
//! Bad input — an unknown flag, a value out of range, an unreadable or malformed file — gets
//! one line on stderr and exit 2, and nothing runs. No simulation logic lives here: the
//! commands call `world`, `runner`, `report` and `hands`.

mod compare;
mod hands;
mod run;
mod shrink;
mod sweep;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine::game::{EngineVariant, LockStrategy};

use crate::exit;
use crate::report;
use crate::scenario::{self, Scenario};

/// Most worker threads `--threads` accepts.
pub const THREADS_MAX: u64 = 1_024;

#[derive(Parser)]
#[command(name = "chipsim", version, about = "Deterministic simulation and stress-test harness for a poker backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios over seeds (default: every shipped scenario over its default seeds),
    /// print a summary table and write a JSON report.
    Run(run::RunArgs),
    /// Run one scenario under one seed and print its whole trace.
    Replay(run::ReplayArgs),
    /// List the shipped scenarios, one line each.
    List(run::ListArgs),
    /// Many seeds at CI scale: streamed, on every core, sharded, with progress, a report and JUnit.
    Sweep(sweep::SweepArgs),
    /// Shrink a failing seed to the smallest case that fails the same way, as a scenario file.
    Shrink(shrink::ShrinkArgs),
    /// Work on report files.
    #[command(subcommand)]
    Report(sweep::ReportCommand),
    /// Compare two reports (or run specs) percentile by percentile, with a regression gate.
    Compare(compare::CompareArgs),
    /// Play seeded random hands and print them as PHH-notation JSON lines, or check such a file.
    Hands(hands::HandsArgs),
}

/// The design and lock strategy a command may impose on every scenario it runs.
#[derive(clap::Args)]
struct Overrides {
    /// Run this engine design instead of the scenario's (hardened, bool_flag, seed_2pc, …).
    #[arg(long, value_parser = parse_variant)]
    variant: Option<EngineVariant>,
    /// Lock strategy instead of the scenario's: coarse or fine.
    #[arg(long, value_parser = parse_lock_strategy)]
    lock_strategy: Option<LockStrategy>,
    /// turmoil's tick instead of the scenario's, in ms (1..=1000): only the players↔engine
    /// datagrams move at it, so time inside a host stays exact; a coarser tick runs faster
    /// (README, "Speed")
    #[arg(long, value_name = "MS", value_parser = parse_tick_ms)]
    tick_ms: Option<u64>,
    /// Where the scenario files are (default: ./scenarios, else the workspace's).
    #[arg(long, value_name = "DIR")]
    scenario_dir: Option<PathBuf>,
}

impl Overrides {
    fn apply(&self, mut scenario: Scenario) -> Scenario {
        if let Some(variant) = self.variant {
            scenario.engine.variant = variant;
        }
        if let Some(strategy) = self.lock_strategy {
            scenario.engine.lock_strategy = strategy;
        }
        if let Some(tick_ms) = self.tick_ms {
            scenario.world.tick_ms = tick_ms;
            scenario.tick_overridden = true;
        }
        scenario
    }
}

fn parse_variant(text: &str) -> Result<EngineVariant, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        let names: Vec<String> = EngineVariant::ALL.iter().map(report::enum_name).collect();
        let canaries: Vec<String> = EngineVariant::CANARIES.iter().map(report::enum_name).collect();
        format!("unknown variant `{text}`; one of: {} (canaries: {})", names.join(", "), canaries.join(", "))
    })
}

fn parse_tick_ms(text: &str) -> Result<u64, String> {
    let (low, high) = (scenario::TICK_MS_MIN, scenario::TICK_MS_MAX);
    match text.parse::<u64>() {
        Ok(ms) if (low..=high).contains(&ms) => Ok(ms),
        _ => Err(format!("`{text}` is not a tick of {low} to {high} ms")),
    }
}

fn parse_lock_strategy(text: &str) -> Result<LockStrategy, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| format!("unknown lock strategy `{text}`; one of: coarse, fine"))
}

/// The `chipsim` binary: parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    init_tracing();
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => run::replay(args),
        Command::List(args) => run::list(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Shrink(args) => shrink::shrink(args),
        Command::Report(command) => sweep::report(command),
        Command::Compare(args) => compare::compare(args),
        Command::Hands(args) => hands::run_hands(args),
    }
}

/// Help and version go to stdout as clap writes them; a usage error is one line and exit 2.
fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = error.print();
        return ExitCode::from(exit::SUCCESS);
    }
    if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = error.print();
        return ExitCode::from(exit::BAD_INPUT);
    }
    let rendered = error.render().to_string();
    let line = rendered.lines().find(|line| !line.trim().is_empty()).unwrap_or("bad arguments");
    bad_input(line.trim_start_matches("error: "))
}

/// `RUST_LOG` controls tracing output (default: errors only), stamped with simulated time.
fn init_tracing() {
    struct SimTime;
    impl tracing_subscriber::fmt::time::FormatTime for SimTime {
        fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
            match turmoil::sim_elapsed() {
                Some(elapsed) => write!(w, "{:>12.6}s", elapsed.as_secs_f64()),
                None => write!(w, "{:>13}", "-"),
            }
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_timer(SimTime).with_writer(io::stderr).try_init();
}

fn scenario_dir(explicit: &Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.clone();
    }
    let local = PathBuf::from(scenario::SCENARIO_DIR);
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR)
}

/// The pictures and exports a report may also be written as.
#[derive(clap::Args)]
struct Exports {
    /// Also write the report as one self-contained HTML page with percentile plots.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also write the metrics in the Prometheus text format, under the operators' names.
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
}

impl Exports {
    /// Writes what was asked for; a write that fails is an internal error.
    fn write(&self, report: &report::ReportFile) -> Result<(), ExitCode> {
        let outputs = [
            (&self.html, "html", crate::html::report_page as fn(&report::ReportFile) -> String),
            (&self.prometheus, "prometheus", crate::prometheus::exposition),
        ];
        for (path, what, render) in outputs {
            let Some(path) = path else { continue };
            if let Err(error) = std::fs::write(path, render(report)) {
                return Err(internal_error(format!("{}: {error}", path.display())));
            }
            eprintln!("{what}: {}", path.display());
        }
        Ok(())
    }
}

/// Bad input: one line on stderr, exit 2.
/// Writes `text` to stdout. A reader that went away (`chipsim run | head`) is not an error of
/// the run: the rest is dropped and the command goes on to write its reports and exit with its
/// own code (`print!` would panic, exit 101).
fn stdout(text: &str) {
    use std::io::Write;
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("chipsim: {message}");
    ExitCode::from(exit::BAD_INPUT)
}

fn internal_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("chipsim: {message}");
    ExitCode::from(exit::INTERNAL_ERROR)
}

/// `git rev-parse HEAD` of the working directory, when it is a checkout.
fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
