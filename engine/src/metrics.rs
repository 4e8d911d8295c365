//! The metrics registry: counters under the names the operators know and HDR histograms in
//! microseconds, readable by the simulator and mergeable across runs.
//!
//! Owns only numbers. Histograms record durations measured on tokio's clock (simulated time
//! under the simulator), never the wall clock. Names and labels are ordered (`BTreeMap`) so
//! snapshots serialize identically run after run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest duration a histogram records, in microseconds (one hour); longer values saturate.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by every histogram.
pub const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in microseconds: HDR, mergeable, serializable as its recorded
/// (value, count) pairs so that two snapshots merge exactly.
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        // Auto-resizing: the counts grow only as far as the largest value recorded (a run's
        // seconds, not the hour the bound allows), so creating and copying one is cheap. The
        // buckets, hence every percentile, depend only on the lowest value and the digits.
        LatencyHistogram(Histogram::new(HISTOGRAM_SIGNIFICANT_DIGITS).expect("valid digits"))
    }
}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl LatencyHistogram {
    /// Records one duration (saturating at [`HISTOGRAM_MAX_US`]).
    pub fn record(&mut self, duration: Duration) {
        self.record_us(duration.as_micros().min(u128::from(HISTOGRAM_MAX_US)) as u64);
    }

    /// Records one value in microseconds.
    pub fn record_us(&mut self, us: u64) {
        // `record` grows the counts; `saturating_record` would not (it clamps to the current top).
        let us = us.clamp(1, HISTOGRAM_MAX_US);
        if self.0.record(us).is_err() {
            self.0.saturating_record(us);
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.0.add(&other.0).expect("histograms share bounds");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at `percentile` (0–100), in microseconds; 0 when empty.
    pub fn percentile_us(&self, percentile: f64) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.value_at_percentile(percentile) }
    }

    pub fn max_us(&self) -> u64 {
        self.0.max()
    }

    /// How many samples are at most `us` (HDR precision: within the histogram's 3 significant
    /// digits of `us`), for cumulative buckets.
    pub fn count_at_most_us(&self, us: u64) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.count_between(0, us) }
    }

    /// The sum of every sample, in µs (HDR precision).
    pub fn sum_us(&self) -> f64 {
        self.0.mean() * self.count() as f64
    }

    /// The usual summary: count, p50, p90, p99, p999, max (microseconds).
    pub fn summary(&self) -> HistogramSummary {
        HistogramSummary {
            count: self.count(),
            p50_us: self.percentile_us(50.0),
            p90_us: self.percentile_us(90.0),
            p99_us: self.percentile_us(99.0),
            p999_us: self.percentile_us(99.9),
            max_us: self.max_us(),
        }
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramSummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(u64, u64)> =
            self.0.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        pairs.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs: Vec<(u64, u64)> = Vec::deserialize(deserializer)?;
        let mut histogram = LatencyHistogram::default();
        for (value, count) in pairs {
            histogram.0.record_n(value, count).map_err(serde::de::Error::custom)?;
        }
        Ok(histogram)
    }
}

/// A metric's full name with its labels, Prometheus style:
/// `poker_wallet_reserve_total{status="success"}`.
pub fn labeled(name: &str, labels: &[(&str, &str)]) -> String {
    let mut full = String::new();
    write_labeled(&mut full, name, labels);
    full
}

/// [`labeled`] written into `out` (cleared first), so a hot path can reuse one buffer.
fn write_labeled(out: &mut String, name: &str, labels: &[(&str, &str)]) {
    out.clear();
    out.push_str(name);
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (index, (key, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        out.push_str(value);
        out.push('"');
    }
    out.push('}');
}

/// Everything the registry holds at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    pub counters: BTreeMap<String, u64>,
    pub histograms: BTreeMap<String, LatencyHistogram>,
}

impl MetricsSnapshot {
    /// Adds `other` into `self`: counters sum, histograms merge.
    pub fn merge(&mut self, other: &MetricsSnapshot) {
        for (name, value) in &other.counters {
            *self.counters.entry(name.clone()).or_default() += value;
        }
        for (name, histogram) in &other.histograms {
            self.histograms.entry(name.clone()).or_default().merge(histogram);
        }
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.histograms.is_empty()
    }
}

/// The metric `full` of `map`, created empty if new; `full` is only copied when it is new.
fn entry<'a, V: Default>(map: &'a mut BTreeMap<String, V>, full: &str) -> &'a mut V {
    if !map.contains_key(full) {
        map.insert(full.to_string(), V::default());
    }
    map.get_mut(full).expect("just ensured")
}

/// A shared, cheap-to-clone handle on one registry.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Registry>>,
}

/// What the handle shares: the numbers, and one buffer to spell a metric's full name in
/// without allocating when the metric already exists.
#[derive(Debug, Default)]
struct Registry {
    numbers: MetricsSnapshot,
    name: String,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds one to the counter `name` with `labels`.
    pub fn increment(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Adds `amount` to the counter `name` with `labels`.
    pub fn add(&self, name: &str, labels: &[(&str, &str)], amount: u64) {
        let mut guard = self.inner.lock().expect("metrics lock");
        let Registry { numbers, name: full } = &mut *guard;
        write_labeled(full, name, labels);
        *entry(&mut numbers.counters, full) += amount;
    }

    /// Records a duration in the histogram `name` with `labels`.
    pub fn record(&self, name: &str, labels: &[(&str, &str)], duration: Duration) {
        let mut guard = self.inner.lock().expect("metrics lock");
        let Registry { numbers, name: full } = &mut *guard;
        write_labeled(full, name, labels);
        entry(&mut numbers.histograms, full).record(duration);
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.inner.lock().expect("metrics lock").numbers.clone()
    }

    /// The current value of one counter.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.inner.lock().expect("metrics lock").numbers.counter(&labeled(name, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growing_histogram_answers_like_one_bounded_at_an_hour() {
        let mut bounded =
            Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_SIGNIFICANT_DIGITS).expect("bounds");
        let mut growing = LatencyHistogram::default();
        for us in [1, 2, 999, 1_000, 12_007, 2_390_015, 59_000_000, HISTOGRAM_MAX_US, HISTOGRAM_MAX_US + 5] {
            bounded.saturating_record(us.clamp(1, HISTOGRAM_MAX_US));
            growing.record_us(us);
        }
        for percentile in [0.0, 10.0, 50.0, 90.0, 99.0, 100.0] {
            assert_eq!(growing.percentile_us(percentile), bounded.value_at_percentile(percentile), "p{percentile}");
        }
        assert_eq!(growing.max_us(), bounded.max());
        assert_eq!(growing.count_at_most_us(1_000), bounded.count_between(0, 1_000));
    }

    #[test]
    fn full_names_are_spelled_prometheus_style() {
        assert_eq!(labeled("poker_x_total", &[]), "poker_x_total");
        assert_eq!(
            labeled("poker_x_total", &[("status", "ok"), ("table", "3")]),
            "poker_x_total{status=\"ok\",table=\"3\"}"
        );
        let metrics = Metrics::new();
        metrics.add("poker_x_total", &[("status", "ok")], 2);
        metrics.increment("poker_x_total", &[("status", "ok")]);
        assert_eq!(metrics.counter("poker_x_total", &[("status", "ok")]), 3);
        assert_eq!(metrics.snapshot().counters.len(), 1);
    }

    #[test]
    fn histograms_round_trip_through_json_and_merge_exactly() {
        let mut a = LatencyHistogram::default();
        for us in [5, 50, 500, 5_000, 50_000] {
            a.record_us(us);
        }
        let text = serde_json::to_string(&a).unwrap();
        let back: LatencyHistogram = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
        let mut merged = a.clone();
        merged.merge(&back);
        assert_eq!(merged.count(), 10);
        assert_eq!(merged.percentile_us(50.0), a.percentile_us(50.0));
    }

    #[test]
    fn counters_carry_their_labels() {
        let metrics = Metrics::new();
        metrics.increment("poker_wallet_reserve_total", &[("status", "success")]);
        metrics.increment("poker_wallet_reserve_total", &[("status", "success")]);
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.counter("poker_wallet_reserve_total{status=\"success\"}"), 2);
        let mut total = snapshot.clone();
        total.merge(&snapshot);
        assert_eq!(total.counter("poker_wallet_reserve_total{status=\"success\"}"), 4);
    }
}
