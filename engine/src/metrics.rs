//! The metrics registry: counters under the names the operators know and HDR histograms in
//! microseconds, readable by the simulator and mergeable across runs.
//!
//! Owns only numbers. Histograms record durations measured on tokio's clock (simulated time
//! under the simulator), never the wall clock. Snapshots order names and labels (`BTreeMap`)
//! so they serialize identically run after run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::FxBuild;

/// Largest duration a histogram records, in microseconds (one hour); longer values saturate.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by every histogram.
pub const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram in microseconds with HDR buckets (3 significant digits, lowest value 1),
/// mergeable, serializable as its recorded (value, count) pairs so that two snapshots merge
/// exactly.
///
/// Kept sparse: only the buckets a value fell into, keyed by the bucket's lowest value. A run
/// records a few thousand samples into a dozen histograms, while a dense HDR array for a
/// run's seconds is some 15,000 counters each — allocating, zeroing and growing those was a
/// tenth of a seed. Every answer is the dense HDR histogram's, bucket for bucket (a property
/// test holds the two together); [`HdrShape`] is the one source of the bucket arithmetic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Count per bucket, keyed by the bucket's lowest equivalent value (µs).
    buckets: BTreeMap<u64, u64>,
    /// Sum of the counts.
    total: u64,
}

/// The bucket arithmetic of every [`LatencyHistogram`]: an empty HDR histogram of the shared
/// configuration, used only for its equivalence functions (they depend on the lowest value and
/// the digits, never on the counts).
struct HdrShape(Histogram<u64>);

impl HdrShape {
    fn get() -> &'static HdrShape {
        static SHAPE: std::sync::OnceLock<HdrShape> = std::sync::OnceLock::new();
        SHAPE.get_or_init(|| HdrShape(Histogram::new(HISTOGRAM_SIGNIFICANT_DIGITS).expect("valid digits")))
    }

    fn lowest(&self, us: u64) -> u64 {
        self.0.lowest_equivalent(us)
    }

    fn highest(&self, us: u64) -> u64 {
        self.0.highest_equivalent(us)
    }

    fn median(&self, us: u64) -> u64 {
        self.0.median_equivalent(us)
    }
}

impl LatencyHistogram {
    /// Records one duration (saturating at [`HISTOGRAM_MAX_US`]).
    pub fn record(&mut self, duration: Duration) {
        self.record_us(duration.as_micros().min(u128::from(HISTOGRAM_MAX_US)) as u64);
    }

    /// Records one value in microseconds, clamped to 1..=[`HISTOGRAM_MAX_US`].
    pub fn record_us(&mut self, us: u64) {
        self.add_to_bucket(us.clamp(1, HISTOGRAM_MAX_US), 1);
    }

    fn add_to_bucket(&mut self, us: u64, count: u64) {
        *self.buckets.entry(HdrShape::get().lowest(us)).or_default() += count;
        self.total += count;
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (&lowest_us, &count) in &other.buckets {
            *self.buckets.entry(lowest_us).or_default() += count;
        }
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at `percentile` (0–100), in microseconds; 0 when empty. As HDR answers: the
    /// highest value of the first bucket whose running count reaches the percentile's share
    /// (the lowest, for the 0th).
    pub fn percentile_us(&self, percentile: f64) -> u64 {
        let quantile = (percentile / 100.0).min(1.0);
        let wanted = ((quantile * self.total as f64).ceil() as u64).max(1);
        let mut running = 0;
        for (&lowest_us, &count) in &self.buckets {
            running += count;
            if running >= wanted {
                return if quantile == 0.0 { lowest_us } else { HdrShape::get().highest(lowest_us) };
            }
        }
        0
    }

    /// The highest value equivalent to the largest recorded; 0 when empty.
    pub fn max_us(&self) -> u64 {
        self.buckets.keys().next_back().map_or(0, |&lowest_us| HdrShape::get().highest(lowest_us))
    }

    /// How many samples are at most `us` (HDR precision: within the histogram's 3 significant
    /// digits of `us`), for cumulative buckets.
    pub fn count_at_most_us(&self, us: u64) -> u64 {
        self.buckets.range(..=HdrShape::get().lowest(us)).map(|(_, &count)| count).sum()
    }

    /// The sum of every sample, in µs (HDR precision: each bucket counted at its median).
    pub fn sum_us(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let shape = HdrShape::get();
        let mean = self.buckets.iter().fold(0.0_f64, |mean, (&lowest_us, &count)| {
            mean + shape.median(lowest_us) as f64 * count as f64 / self.total as f64
        });
        mean * self.total as f64
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
    /// As HDR's recorded iteration spells them: each bucket's highest value and its count.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let shape = HdrShape::get();
        let pairs: Vec<(u64, u64)> =
            self.buckets.iter().map(|(&lowest_us, &count)| (shape.highest(lowest_us), count)).collect();
        pairs.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs: Vec<(u64, u64)> = Vec::deserialize(deserializer)?;
        let mut histogram = LatencyHistogram::default();
        for (us, count) in pairs {
            histogram.add_to_bucket(us, count);
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

/// A registry's table of one sort of metric, by full name. Hashed (unkeyed, so laid out the
/// same in every run) because the engine updates a metric at every lock release, store
/// transaction and request; ordered only when a snapshot is taken.
type Table<V> = IndexMap<String, V, FxBuild>;

/// The metric `full` of `table`, created empty if new; `full` is only copied when it is new.
fn entry<'a, V: Default>(table: &'a mut Table<V>, full: &str) -> &'a mut V {
    let index = match table.get_index_of(full) {
        Some(index) => index,
        None => table.insert_full(full.to_string(), V::default()).0,
    };
    &mut table[index]
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
    counters: Table<u64>,
    histograms: Table<LatencyHistogram>,
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
        let Registry { counters, name: full, .. } = &mut *guard;
        write_labeled(full, name, labels);
        *entry(counters, full) += amount;
    }

    /// Records a duration in the histogram `name` with `labels`.
    pub fn record(&self, name: &str, labels: &[(&str, &str)], duration: Duration) {
        let mut guard = self.inner.lock().expect("metrics lock");
        let Registry { histograms, name: full, .. } = &mut *guard;
        write_labeled(full, name, labels);
        entry(histograms, full).record(duration);
    }

    /// A copy of everything recorded so far, in name order.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let registry = self.inner.lock().expect("metrics lock");
        MetricsSnapshot {
            counters: registry.counters.iter().map(|(name, &value)| (name.clone(), value)).collect(),
            histograms: registry.histograms.iter().map(|(name, h)| (name.clone(), h.clone())).collect(),
        }
    }

    /// The current value of one counter.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let registry = self.inner.lock().expect("metrics lock");
        registry.counters.get(labeled(name, labels).as_str()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense HDR histogram bounded at an hour, fed the same values.
    fn dense(values: &[u64]) -> Histogram<u64> {
        let mut dense =
            Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_SIGNIFICANT_DIGITS).expect("bounds");
        for &us in values {
            dense.saturating_record(us.clamp(1, HISTOGRAM_MAX_US));
        }
        dense
    }

    fn sparse(values: &[u64]) -> LatencyHistogram {
        let mut sparse = LatencyHistogram::default();
        for &us in values {
            sparse.record_us(us);
        }
        sparse
    }

    /// Everything a sparse histogram answers, beside what the dense one answers.
    fn assert_answers_like_dense(values: &[u64], probes_us: &[u64]) {
        let (sparse, dense) = (sparse(values), dense(values));
        assert_eq!(sparse.count(), dense.len());
        for percentile in [0.0, 0.1, 10.0, 33.3, 50.0, 90.0, 99.0, 99.9, 100.0, 150.0] {
            let expected = if dense.is_empty() { 0 } else { dense.value_at_percentile(percentile) };
            assert_eq!(sparse.percentile_us(percentile), expected, "p{percentile} of {values:?}");
        }
        assert_eq!(sparse.max_us(), if dense.is_empty() { 0 } else { dense.max() });
        for &us in probes_us {
            let expected = if dense.is_empty() { 0 } else { dense.count_between(0, us) };
            assert_eq!(sparse.count_at_most_us(us), expected, "count at most {us}");
        }
        assert_eq!(sparse.sum_us().to_bits(), (dense.mean() * dense.len() as f64).to_bits());
        let recorded: Vec<(u64, u64)> =
            dense.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        assert_eq!(serde_json::to_string(&sparse).unwrap(), serde_json::to_string(&recorded).unwrap());
    }

    #[test]
    fn a_sparse_histogram_answers_like_a_dense_one_at_the_edges() {
        let values = [0, 1, 2, 999, 1_000, 2_047, 2_048, 12_007, 2_390_015, 59_000_000, HISTOGRAM_MAX_US, u64::MAX];
        assert_answers_like_dense(&values, &[0, 1, 1_000, 2_048, 2_049, HISTOGRAM_MAX_US, u64::MAX]);
        assert_answers_like_dense(&[], &[0, 5]);
        assert_answers_like_dense(&[7], &[6, 7, 8]);
    }

    proptest::proptest! {
        #[test]
        fn a_sparse_histogram_answers_like_a_dense_one(
            values in proptest::collection::vec(
                proptest::prop_oneof![1u64..3_000, 1u64..200_000, 1u64..20_000_000, 0u64..=HISTOGRAM_MAX_US + 10],
                0..300,
            ),
            probes_us in proptest::collection::vec(0u64..30_000_000, 0..8),
        ) {
            assert_answers_like_dense(&values, &probes_us);
        }

        #[test]
        fn merging_sparse_histograms_is_recording_both(
            a in proptest::collection::vec(1u64..20_000_000, 0..100),
            b in proptest::collection::vec(1u64..20_000_000, 0..100),
        ) {
            let mut merged = sparse(&a);
            merged.merge(&sparse(&b));
            let both: Vec<u64> = a.iter().chain(&b).copied().collect();
            proptest::prop_assert_eq!(&merged, &sparse(&both));
            let text = serde_json::to_string(&merged).unwrap();
            let back: LatencyHistogram = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(back, merged);
        }
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
