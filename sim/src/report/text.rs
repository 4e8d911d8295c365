//! The terminal's view of reports: the summary table (one row per scenario, the p99 lock
//! hold per category) and how a failed run is told.

use std::fmt::Write as _;

use engine::locks::LockCategory;

use super::{ReportFile, RunReport, enum_name};

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
    engine::metrics::labeled(engine::locks::METRIC_LOCK_HOLD, &[("category", category.as_str())])
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
