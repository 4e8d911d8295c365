//! The Prometheus text exposition format (0.0.4) of a report's metrics, under the operators'
//! own names (`poker_wallet_*`, `poker_lock_*`, `poker_jackpot_*` …), so dashboards and alert
//! rules written for production read a simulated run unchanged. Every sample carries the
//! scenario it came from as a `scenario` label; histograms get cumulative `le` buckets in
//! seconds, `_sum` and `_count`. Times are simulated. This module only renders.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use engine::metrics::LatencyHistogram;

use crate::report::ReportFile;

/// Bucket bounds of every histogram, in seconds (Prometheus' defaults, extended to a minute).
const BUCKETS_S: [f64; 15] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Splits `name{a="x"}` into its base name and its labels' text (`a="x"`).
fn split(name: &str) -> (&str, &str) {
    match name.split_once('{') {
        Some((base, labels)) => (base, labels.trim_end_matches('}')),
        None => (name, ""),
    }
}

fn with_labels(base: &str, labels: &[&str]) -> String {
    let labels: Vec<&str> = labels.iter().copied().filter(|l| !l.is_empty()).collect();
    format!("{base}{{{}}}", labels.join(","))
}

fn help(base: &str) -> &'static str {
    match base {
        "poker_lock_hold_seconds" => "How long a lock was held, per category (simulated seconds).",
        "poker_lock_wait_seconds" => "How long an acquire waited, per category (simulated seconds).",
        "poker_wallet_operation_duration_seconds" => "Wallet operation duration (simulated seconds).",
        "poker_action_duration_seconds" => "Betting handler duration (simulated seconds).",
        "chipsim_burst_duration_seconds" => "A stats burst from first request to last answer (simulated seconds).",
        base if base.starts_with("poker_jackpot") => "Jackpot service metric (simulated time).",
        base if base.starts_with("poker_wallet") => "Wallet (two-phase commit) metric, as the 2PC notes name it.",
        base if base.starts_with("poker_lock") => "Lock manager metric.",
        base if base.starts_with("poker_chat") => "Chat API calls by outcome.",
        _ => "chipsim metric.",
    }
}

fn histogram_lines(out: &mut String, base: &str, labels: &[&str], histogram: &LatencyHistogram) {
    for bound in BUCKETS_S {
        let le = format!("le=\"{bound}\"");
        let count = histogram.count_at_most_us((bound * 1e6) as u64);
        let _ = writeln!(out, "{} {count}", with_labels(&format!("{base}_bucket"), &[labels, &[le.as_str()]].concat()));
    }
    let inf = [labels, &["le=\"+Inf\""]].concat();
    let _ = writeln!(out, "{} {}", with_labels(&format!("{base}_bucket"), &inf), histogram.count());
    let _ = writeln!(out, "{} {}", with_labels(&format!("{base}_sum"), labels), histogram.sum_us() / 1e6);
    let _ = writeln!(out, "{} {}", with_labels(&format!("{base}_count"), labels), histogram.count());
}

/// The report's metrics as one Prometheus text exposition, families in name order.
pub fn exposition(report: &ReportFile) -> String {
    // family → samples (labels text, scenario, value source), so each family is contiguous.
    let mut histograms: BTreeMap<&str, Vec<(String, &str, &LatencyHistogram)>> = BTreeMap::new();
    let mut counters: BTreeMap<&str, Vec<(String, &str, u64)>> = BTreeMap::new();
    for summary in &report.scenarios {
        for (name, histogram) in &summary.metrics.histograms {
            let (base, labels) = split(name);
            histograms.entry(base).or_default().push((labels.to_string(), &summary.scenario, histogram));
        }
        for (name, value) in &summary.metrics.counters {
            let (base, labels) = split(name);
            counters.entry(base).or_default().push((labels.to_string(), &summary.scenario, *value));
        }
    }
    let mut out = String::new();
    for (base, samples) in &counters {
        let _ = writeln!(out, "# HELP {base} {}\n# TYPE {base} counter", help(base));
        for (labels, scenario, value) in samples {
            let scenario = format!("scenario=\"{scenario}\"");
            let _ = writeln!(out, "{} {value}", with_labels(base, &[labels.as_str(), scenario.as_str()]));
        }
    }
    for (base, samples) in &histograms {
        let _ = writeln!(out, "# HELP {base} {}\n# TYPE {base} histogram", help(base));
        for (labels, scenario, histogram) in samples {
            let scenario = format!("scenario=\"{scenario}\"");
            histogram_lines(&mut out, base, &[labels.as_str(), scenario.as_str()], histogram);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ScenarioSummary;
    use engine::metrics::MetricsSnapshot;

    #[test]
    fn histograms_get_cumulative_buckets_a_sum_and_a_count() {
        let mut histogram = LatencyHistogram::default();
        for ms in [2, 20, 200] {
            histogram.record_us(ms * 1_000);
        }
        let metrics = MetricsSnapshot {
            histograms: [("poker_wallet_operation_duration_seconds{operation=\"reserve\"}".into(), histogram)].into(),
            counters: [("poker_wallet_reserve_total{status=\"success\"}".into(), 3)].into(),
        };
        let summary = ScenarioSummary { scenario: "smoke".into(), metrics, ..Default::default() };
        let text = exposition(&ReportFile { scenarios: vec![summary], ..ReportFile::default() });
        assert!(text.contains("# TYPE poker_wallet_operation_duration_seconds histogram"), "{text}");
        assert!(text.contains(
            "poker_wallet_operation_duration_seconds_bucket{operation=\"reserve\",scenario=\"smoke\",le=\"0.025\"} 2"
        ));
        assert!(
            text.contains("poker_wallet_operation_duration_seconds_count{operation=\"reserve\",scenario=\"smoke\"} 3")
        );
        assert!(text.contains("poker_wallet_reserve_total{status=\"success\",scenario=\"smoke\"} 3"));
    }
}
