//! Comparisons of two reports: every histogram both sides recorded — lock wait and hold per
//! category, every operation's latency — at p50, p90, p99, p99.9 and max, with absolute and
//! relative deltas, and the counters with their rates per simulated second. The time is
//! simulated, so a comparison is exact: the same runs give the same numbers on any machine, and
//! a difference is a difference in the code or the scenario, never in the machine.
//!
//! A side is a report file's per-scenario summaries (every run's histograms merged, losslessly).
//! Scenarios pair by name; two reports of one scenario each pair whatever their names. This
//! module only computes; `cli::compare` prints, writes and exits.

use std::collections::BTreeMap;

use engine::metrics::HistogramSummary;
use serde::Serialize;

use crate::report::{ReportFile, ScenarioSummary};

/// A difference smaller than this is inside the simulation's timer resolution and never counts
/// as a regression, in µs (see `latency`: simulated time is exact to the millisecond).
pub const RESOLUTION_US: u64 = 1_000;

/// The percentiles every row shows, with their names.
pub const PERCENTILES: [(&str, f64); 5] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9), ("max", 100.0)];

/// One side of a comparison, as the user named it.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// The report file, or the run spec that produced it.
    pub label: String,
    pub report: ReportFile,
}

/// One percentile of one histogram on both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delta {
    pub percentile: &'static str,
    pub base_us: u64,
    pub candidate_us: u64,
    /// Candidate minus base, in µs (positive: the candidate is slower).
    pub delta_us: i64,
    /// The delta relative to the base (`None` when the base is below the timer resolution,
    /// where a ratio would only measure rounding).
    pub relative: Option<f64>,
}

impl Delta {
    fn of(percentile: &'static str, base_us: u64, candidate_us: u64) -> Delta {
        let delta_us = candidate_us as i64 - base_us as i64;
        let relative = (base_us >= RESOLUTION_US).then(|| delta_us as f64 / base_us as f64);
        Delta { percentile, base_us, candidate_us, delta_us, relative }
    }

    /// Whether the candidate is worse by more than `fraction` of the base and by more than
    /// the timer resolution.
    pub fn worse_than(&self, fraction: f64) -> bool {
        self.delta_us > RESOLUTION_US as i64 && self.relative.is_none_or(|relative| relative > fraction)
    }
}

/// One histogram on both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The short name (`lock hold table`, `wallet reserve`, …).
    pub metric: String,
    /// The histogram's full name with its labels.
    pub histogram: String,
    pub base: HistogramSummary,
    pub candidate: HistogramSummary,
    pub deltas: Vec<Delta>,
}

/// One counter on both sides, with its rate per simulated second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CounterRow {
    pub counter: String,
    pub base: u64,
    pub candidate: u64,
    pub base_per_s: f64,
    pub candidate_per_s: f64,
}

/// A scenario on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioComparison {
    pub base_scenario: String,
    pub candidate_scenario: String,
    pub base_seeds: u64,
    pub candidate_seeds: u64,
    pub rows: Vec<Row>,
    pub counters: Vec<CounterRow>,
    /// Histograms only one side recorded (`base:` or `candidate:` and the name).
    pub one_sided: Vec<String>,
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1_000.0)
}

fn relative(delta: &Delta) -> String {
    match delta.relative {
        Some(r) => format!("{:+.0}%", r * 100.0),
        None if delta.delta_us.unsigned_abs() < RESOLUTION_US => "=".into(),
        None => format!("{:+.0}ms", delta.delta_us as f64 / 1_000.0),
    }
}

impl ScenarioComparison {
    /// The row whose p99 got most worse and the one that got most better (relative), if any.
    fn extremes(&self) -> (Option<usize>, Option<usize>) {
        let p99 = |row: &Row| row.deltas[2].relative.unwrap_or(0.0);
        let worst = (0..self.rows.len())
            .filter(|&i| p99(&self.rows[i]) > 0.0)
            .max_by(|&a, &b| p99(&self.rows[a]).total_cmp(&p99(&self.rows[b])));
        let best = (0..self.rows.len())
            .filter(|&i| p99(&self.rows[i]) < 0.0)
            .min_by(|&a, &b| p99(&self.rows[a]).total_cmp(&p99(&self.rows[b])));
        (worst, best)
    }

    fn text(&self) -> String {
        let mut out = format!(
            "\n{} ({} seeds) vs {} ({} seeds), simulated ms\n{:<32} {:<10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            self.base_scenario,
            self.base_seeds,
            self.candidate_scenario,
            self.candidate_seeds,
            "metric",
            "",
            "n",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max"
        );
        let (worst, best) = self.extremes();
        for (index, row) in self.rows.iter().enumerate() {
            let mark = if Some(index) == worst {
                "  <- worst"
            } else if Some(index) == best {
                "  <- best"
            } else {
                ""
            };
            let line = |label: &str, who: &str, n: u64, values: Vec<String>| {
                format!(
                    "{label:<32} {who:<10} {n:>7}{}\n",
                    values.iter().map(|v| format!(" {v:>9}")).collect::<String>()
                )
            };
            out += &line(&row.metric, "base", row.base.count, row.deltas.iter().map(|d| ms(d.base_us)).collect());
            out += &line("", "candidate", row.candidate.count, row.deltas.iter().map(|d| ms(d.candidate_us)).collect());
            let deltas: String = row.deltas.iter().map(|d| format!(" {:>9}", relative(d))).collect();
            out += &format!("{:<32} {:<10} {:>7}{deltas}{mark}\n", "", "delta", "");
        }
        if !self.counters.is_empty() {
            out += &format!("{:<64} {:>12} {:>12} {:>10} {:>10}\n", "counter", "base", "candidate", "base/s", "cand/s");
            for c in &self.counters {
                out += &format!(
                    "{:<64} {:>12} {:>12} {:>10.1} {:>10.1}\n",
                    c.counter, c.base, c.candidate, c.base_per_s, c.candidate_per_s
                );
            }
        }
        out
    }
}

/// Two reports compared.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub base: String,
    pub candidate: String,
    pub scenarios: Vec<ScenarioComparison>,
    /// Scenarios only one side ran.
    pub unmatched: Vec<String>,
}

/// A percentile of the candidate worse than the base's by more than the allowed share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regression {
    pub scenario: String,
    pub metric: String,
    pub delta: Delta,
}

/// The short name of a histogram, as the tables show it.
pub fn short_name(histogram: &str) -> String {
    let (base, labels) = histogram.split_once('{').unwrap_or((histogram, ""));
    let label_values: Vec<&str> = labels.trim_end_matches('}').split(',').filter_map(|l| l.split('"').nth(1)).collect();
    let what = match base {
        "poker_lock_hold_seconds" => "lock hold",
        "poker_lock_wait_seconds" => "lock wait",
        "poker_wallet_operation_duration_seconds" => "wallet",
        "poker_action_duration_seconds" => "action",
        "poker_jackpot_operation_duration_seconds" => "jackpot",
        "poker_jackpot_lock_wait_seconds" => "jackpot row-lock wait",
        "chipsim_burst_duration_seconds" => "stats burst",
        other => other,
    };
    std::iter::once(what).chain(label_values).collect::<Vec<_>>().join(" ")
}

fn compare_scenarios(base: &ScenarioSummary, candidate: &ScenarioSummary) -> ScenarioComparison {
    let (b, c) = (&base.metrics.histograms, &candidate.metrics.histograms);
    let mut rows = Vec::new();
    let mut one_sided = Vec::new();
    for (name, base_histogram) in b {
        let Some(candidate_histogram) = c.get(name) else {
            one_sided.push(format!("base: {name}"));
            continue;
        };
        let (bs, cs) = (base_histogram.summary(), candidate_histogram.summary());
        let pick = |s: &HistogramSummary| [s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us];
        let deltas = PERCENTILES
            .iter()
            .zip(pick(&bs).into_iter().zip(pick(&cs)))
            .map(|((p, _), (x, y))| Delta::of(p, x, y))
            .collect();
        rows.push(Row { metric: short_name(name), histogram: name.clone(), base: bs, candidate: cs, deltas });
    }
    one_sided.extend(c.keys().filter(|name| !b.contains_key(*name)).map(|name| format!("candidate: {name}")));
    let per_s = |count: u64, summary: &ScenarioSummary| count as f64 * 1_000.0 / summary.sim_time_ms.max(1) as f64;
    let names: std::collections::BTreeSet<&String> =
        base.metrics.counters.keys().chain(candidate.metrics.counters.keys()).collect();
    let counters = names
        .into_iter()
        .map(|name| {
            let (x, y) = (base.metrics.counter(name), candidate.metrics.counter(name));
            CounterRow {
                counter: name.clone(),
                base: x,
                candidate: y,
                base_per_s: per_s(x, base),
                candidate_per_s: per_s(y, candidate),
            }
        })
        .collect();
    ScenarioComparison {
        base_scenario: base.scenario.clone(),
        candidate_scenario: candidate.scenario.clone(),
        base_seeds: base.seeds,
        candidate_seeds: candidate.seeds,
        rows,
        counters,
        one_sided,
    }
}

/// Compares `candidate` against `base`.
pub fn compare(base: &Side, candidate: &Side) -> Comparison {
    let (b, c) = (&base.report.scenarios, &candidate.report.scenarios);
    let mut scenarios = Vec::new();
    let mut unmatched = Vec::new();
    if b.len() == 1 && c.len() == 1 {
        scenarios.push(compare_scenarios(&b[0], &c[0]));
    } else {
        let by_name: BTreeMap<&str, &ScenarioSummary> = c.iter().map(|s| (s.scenario.as_str(), s)).collect();
        for summary in b {
            match by_name.get(summary.scenario.as_str()) {
                Some(other) => scenarios.push(compare_scenarios(summary, other)),
                None => unmatched.push(format!("base: {}", summary.scenario)),
            }
        }
        let names: Vec<&str> = b.iter().map(|s| s.scenario.as_str()).collect();
        unmatched.extend(
            c.iter().filter(|s| !names.contains(&s.scenario.as_str())).map(|s| format!("candidate: {}", s.scenario)),
        );
    }
    Comparison { base: base.label.clone(), candidate: candidate.label.clone(), scenarios, unmatched }
}

impl Comparison {
    /// Every percentile of the candidate worse than the base's by more than `percent` % (and
    /// by more than the timer resolution), in table order; only the percentiles named in `at`
    /// (`p50`, `p99`, …) when it is not empty.
    pub fn regressions(&self, percent: f64, at: &[String]) -> Vec<Regression> {
        let fraction = percent / 100.0;
        let looked_at = |delta: &&Delta| at.is_empty() || at.iter().any(|p| p == delta.percentile);
        let mut found = Vec::new();
        for scenario in &self.scenarios {
            for row in &scenario.rows {
                for delta in row.deltas.iter().filter(looked_at).filter(|d| d.worse_than(fraction)) {
                    found.push(Regression {
                        scenario: scenario.candidate_scenario.clone(),
                        metric: row.metric.clone(),
                        delta: delta.clone(),
                    });
                }
            }
        }
        found
    }

    /// The comparison as text: per scenario, each histogram's base, candidate and relative
    /// delta at every percentile (in simulated ms), the row that got most worse and the one
    /// that got most better at p99 marked; then the counters, if any were kept.
    pub fn text(&self) -> String {
        let mut out = format!("base:      {}\ncandidate: {}\n", self.base, self.candidate);
        for scenario in &self.scenarios {
            out += &scenario.text();
        }
        for name in &self.unmatched {
            out += &format!("\nonly on one side: {name}\n");
        }
        out
    }

    /// Keeps only the rows and counters whose short name (or counter name) contains one of
    /// `filters` (all of them when `filters` is empty; no counter then).
    pub fn only(mut self, filters: &[String]) -> Comparison {
        let keep = |name: &str| filters.iter().any(|f| name.contains(f.as_str()));
        for scenario in &mut self.scenarios {
            if filters.is_empty() {
                scenario.counters.clear();
                continue;
            }
            scenario.rows.retain(|row| keep(&row.metric) || keep(&row.histogram));
            scenario.counters.retain(|counter| keep(&counter.counter));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::metrics::{LatencyHistogram, MetricsSnapshot};

    fn side(label: &str, hold_ms: &[u64]) -> Side {
        let mut histogram = LatencyHistogram::default();
        hold_ms.iter().for_each(|ms| histogram.record_us(ms * 1_000));
        let name = "poker_lock_hold_seconds{category=\"table\"}".to_string();
        let metrics = MetricsSnapshot { histograms: [(name, histogram)].into(), ..MetricsSnapshot::default() };
        let summary =
            ScenarioSummary { scenario: "s".into(), seeds: 1, sim_time_ms: 1_000, metrics, ..Default::default() };
        Side { label: label.into(), report: ReportFile { scenarios: vec![summary], ..ReportFile::default() } }
    }

    #[test]
    fn a_slower_candidate_is_a_regression_and_the_same_report_is_not() {
        let base = side("a", &[10, 20, 200]);
        let slower = side("b", &[10, 20, 300]);
        assert_eq!(compare(&base, &base).regressions(10.0, &[]), vec![]);
        let found = compare(&base, &slower).regressions(10.0, &[]);
        assert!(found.iter().any(|r| r.delta.percentile == "max" && r.delta.delta_us >= 99_000), "{found:?}");
        assert_eq!(compare(&slower, &base).regressions(10.0, &[]), vec![], "faster is not worse");
        assert_eq!(compare(&base, &slower).scenarios[0].rows[0].metric, "lock hold table");
        assert_eq!(compare(&base, &slower).regressions(10.0, &["p50".into()]), vec![], "only the max moved");
    }

    #[test]
    fn a_difference_inside_the_timer_resolution_never_counts() {
        let base = side("a", &[1]);
        let candidate = side("b", &[2]);
        assert!(
            compare(&base, &candidate).regressions(10.0, &[]).iter().all(|r| r.delta.delta_us > RESOLUTION_US as i64)
        );
    }

    #[test]
    fn short_names_keep_the_labels_values() {
        assert_eq!(short_name("poker_wallet_operation_duration_seconds{operation=\"reserve\"}"), "wallet reserve");
        assert_eq!(short_name("chipsim_burst_duration_seconds"), "stats burst");
        assert_eq!(short_name("other{a=\"x\",b=\"y\"}"), "other x y");
    }
}
