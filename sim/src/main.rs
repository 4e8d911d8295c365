//! `chipsim`: the command line. Parses arguments, calls into the `sim` library, maps
//! outcomes to the documented exit codes (`sim::exit`). No simulation logic lives here.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use engine::game::{EngineVariant, LockStrategy};
use engine::rules::RuleOptions;
use sim::report::{self, ReportFile, RunReport};
use sim::runner::{self, Job};
use sim::scenario::{self, Scenario};
use sim::world::{self, RunSpec};
use sim::{exit, hands};

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
    Run(RunArgs),
    /// Run one scenario under one seed and print its whole trace.
    Replay(ReplayArgs),
    /// List the shipped scenarios, one line each.
    List(ListArgs),
    /// Play seeded random hands and print them as PHH-notation JSON lines, or check such a file.
    Hands(HandsArgs),
}

#[derive(clap::Args)]
struct Overrides {
    /// Run this engine design instead of the scenario's (hardened, bool_flag, seed_2pc, …).
    #[arg(long, value_parser = parse_variant)]
    variant: Option<EngineVariant>,
    /// Lock strategy instead of the scenario's: coarse or fine.
    #[arg(long, value_parser = parse_lock_strategy)]
    lock_strategy: Option<LockStrategy>,
    /// Where the scenario files are (default: ./scenarios, else the workspace's).
    #[arg(long, value_name = "DIR")]
    scenario_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
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
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(clap::Args)]
struct ReplayArgs {
    scenario: String,
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    overrides: Overrides,
    /// Print the run's report as JSON after the trace.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    #[arg(long, value_name = "DIR")]
    scenario_dir: Option<PathBuf>,
}

fn parse_variant(text: &str) -> Result<EngineVariant, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        let names: Vec<String> = EngineVariant::ALL.iter().map(report::enum_name).collect();
        format!("unknown variant `{text}`; one of: {}", names.join(", "))
    })
}

fn parse_lock_strategy(text: &str) -> Result<LockStrategy, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| format!("unknown lock strategy `{text}`; one of: coarse, fine"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Replay(args) => replay(args),
        Command::List(args) => list(args),
        Command::Hands(args) => run_hands(args),
    }
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

fn apply_overrides(mut scenario: Scenario, overrides: &Overrides) -> Scenario {
    if let Some(variant) = overrides.variant {
        scenario.engine.variant = variant;
    }
    if let Some(strategy) = overrides.lock_strategy {
        scenario.engine.lock_strategy = strategy;
    }
    scenario
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("chipsim: {message}");
    ExitCode::from(exit::BAD_INPUT)
}

fn run(args: RunArgs) -> ExitCode {
    let dir = scenario_dir(&args.overrides.scenario_dir);
    // Load everything first: a bad file means nothing runs.
    let loaded = if args.scenarios.is_empty() {
        scenario::load_dir(&dir)
    } else {
        args.scenarios.iter().map(|name| scenario::resolve(&dir, name)).collect()
    };
    let scenarios = match loaded {
        Ok(scenarios) if scenarios.is_empty() => return bad_input(format!("no scenarios in {}", dir.display())),
        Ok(scenarios) => scenarios,
        Err(error) => return bad_input(error),
    };
    let seeds_override = match (&args.seed, &args.seeds) {
        (Some(seed), _) => Some(vec![*seed]),
        (None, Some(range)) => match scenario::parse_seed_range(range) {
            Ok(range) => Some(range.collect()),
            Err(error) => return bad_input(error),
        },
        (None, None) => None,
    };
    let mut jobs = Vec::new();
    for (_, scenario) in scenarios {
        let scenario = apply_overrides(scenario, &args.overrides);
        let seeds = seeds_override.clone().unwrap_or_else(|| scenario.default_seeds());
        jobs.extend(seeds.into_iter().map(|seed| Job { scenario: scenario.clone(), seed }));
    }
    let threads = args.threads.unwrap_or_else(runner::default_threads);
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
    let mut file = ReportFile {
        chipsim_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: git_commit(),
        scenarios: Vec::new(),
        runs,
    };
    file.summarize();
    if !args.json {
        print!("{}", report::summary_table(&file));
    }
    let worst = file.worst();
    if let Err(error) = std::fs::create_dir_all(&args.report) {
        eprintln!("chipsim: cannot create {}: {error}", args.report.display());
        return ExitCode::from(exit::INTERNAL_ERROR);
    }
    let path = args.report.join("latest.json");
    let written =
        serde_json::to_vec_pretty(&file).map_err(io::Error::other).and_then(|bytes| std::fs::write(&path, bytes));
    match written {
        Ok(()) => eprintln!("report: {}", path.display()),
        Err(error) => {
            eprintln!("chipsim: cannot write {}: {error}", path.display());
            return ExitCode::from(exit::INTERNAL_ERROR);
        }
    }
    let failed: Vec<&RunReport> = file.runs.iter().filter(|r| !r.passed).collect();
    if !failed.is_empty() {
        eprintln!(
            "{} of {} runs failed; replay the first with:\n  {}",
            failed.len(),
            file.runs.len(),
            failed[0].replay
        );
    }
    ExitCode::from(worst.exit_code())
}

fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn replay(args: ReplayArgs) -> ExitCode {
    let dir = scenario_dir(&args.overrides.scenario_dir);
    let scenario = match scenario::resolve(&dir, &args.scenario) {
        Ok((_, scenario)) => apply_overrides(scenario, &args.overrides),
        Err(error) => return bad_input(error),
    };
    let spec = RunSpec { scenario, seed: args.seed, keep_trace: true };
    let (run, events) = world::run_with_trace(&spec);
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

fn list(args: ListArgs) -> ExitCode {
    let dir = scenario_dir(&args.scenario_dir);
    match scenario::load_dir(&dir) {
        Err(error) => bad_input(error),
        Ok(scenarios) => {
            for (_, s) in scenarios {
                println!(
                    "{:<20} seeds {:<8} {:<10} {}",
                    s.name,
                    s.seeds.to_string(),
                    report::enum_name(&s.engine.variant),
                    s.description
                );
            }
            ExitCode::from(exit::SUCCESS)
        }
    }
}

#[derive(clap::Args)]
struct HandsArgs {
    /// Seed of the hands: the same seed always gives the same hands.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of hands to write.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// Instead of writing hands, replay every line of FILE in scripted mode and compare the
    /// final stacks ("-" reads standard input).
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// Rule options: `pokerkit` (the files' conventions) or `house` (our defaults).
    #[arg(long, value_enum, default_value_t = Rules::Pokerkit)]
    rules: Rules,
}

#[derive(Clone, Copy, ValueEnum)]
enum Rules {
    Pokerkit,
    House,
}

impl Rules {
    fn options(self) -> RuleOptions {
        match self {
            Rules::Pokerkit => RuleOptions::pokerkit(),
            Rules::House => RuleOptions::default(),
        }
    }
}

fn run_hands(args: HandsArgs) -> ExitCode {
    let options = args.rules.options();
    let Some(path) = args.check else {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        return match hands::write_hands(&mut out, args.seed, args.count, options) {
            Ok(()) => ExitCode::from(exit::SUCCESS),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit::SUCCESS),
            Err(error) => {
                eprintln!("chipsim hands: {error}");
                ExitCode::from(exit::INTERNAL_ERROR)
            }
        };
    };
    let summary = if path.as_os_str() == "-" {
        hands::check_lines(io::stdin().lock(), options)
    } else {
        match File::open(&path) {
            Ok(file) => hands::check_lines(BufReader::new(file), options),
            Err(error) => {
                eprintln!("chipsim hands: cannot read {}: {error}", path.display());
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    };
    match summary {
        Err(error) => {
            eprintln!("chipsim hands: reading {}: {error}", path.display());
            ExitCode::from(exit::BAD_INPUT)
        }
        Ok(summary) => {
            for report in &summary.reports {
                eprintln!("{}: {report}", path.display());
            }
            println!("{} hands, {} mismatches", summary.hands, summary.mismatches);
            if summary.mismatches == 0 && summary.hands > 0 {
                ExitCode::from(exit::SUCCESS)
            } else {
                ExitCode::from(exit::CORRECTNESS_FAILED)
            }
        }
    }
}
