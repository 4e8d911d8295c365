//! Budgets, checked at the end of a run like invariants: the limits a scenario declares on
//! time — a lock category's hold at a percentile, acquire timeouts, jackpot row-lock
//! takeovers, an operation's latency at the 99th percentile — measured from the run's own
//! histograms and counters in simulated time. This is how a design whose damage is time
//! rather than chips (chat calls awaited inside the stage lock) is caught. A budget with no
//! samples passes; a violation names the budget, its limit and the measured value.
//!
//! An acquire timeout that an engine↔store partition explains is not counted against
//! `lock_timeouts_max`: under a partition every holder ahead in the queue waits out its
//! store-call timeout, so a long enough partition times out any queue — the coarse strategy's
//! known cost, proportional to the partition, not a defect of the run. The world marks such a
//! timeout when its wait spent at least one store-call timeout inside a partition (or the
//! call timeout after it, which a call refused at its end still waits out) —
//! [`PartitionWaits`]; the violation says how many were set aside.

use std::collections::BTreeMap;

use engine::locks::{LockCategory, METRIC_LOCK_ACQUIRE, METRIC_LOCK_HOLD, STATUS_TIMEOUT};
use engine::metrics::{MetricsSnapshot, labeled};
use serde::{Deserialize, Serialize};

use super::{At, Invariant, Violation};

/// The histograms a latency budget may name (their base names; labels follow in braces).
pub const LATENCY_METRICS: [&str; 7] = [
    engine::wallet::METRIC_OPERATION_DURATION,
    engine::game::METRIC_ACTION_DURATION,
    engine::jackpot::METRIC_DURATION,
    engine::jackpot::METRIC_LOCK_WAIT,
    engine::locks::METRIC_LOCK_WAIT,
    engine::locks::METRIC_LOCK_HOLD,
    crate::client::METRIC_BURST_DURATION,
];

/// The acquire timeouts, per lock category, that an engine↔store partition explains: set
/// aside by the `lock_timeouts_max` budget (see the module's comment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionWaits {
    timeouts: BTreeMap<LockCategory, u64>,
}

impl PartitionWaits {
    /// One acquire timeout of `category` that a partition explains.
    pub fn timed_out(&mut self, category: LockCategory) {
        *self.timeouts.entry(category).or_default() += 1;
    }

    fn timeouts(&self, category: LockCategory) -> u64 {
        self.timeouts.get(&category).copied().unwrap_or(0)
    }
}

/// A scenario's `[budgets]`: every field optional, each a limit in the unit its name says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    /// Median hold of a lock category, at most, in ms (`{ stage = 50 }`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lock_hold_p50_ms: BTreeMap<LockCategory, u64>,
    /// 99th-percentile hold of a lock category, at most, in ms.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lock_hold_p99_ms: BTreeMap<LockCategory, u64>,
    /// Acquire timeouts of a lock category over the run, at most, not counting those an
    /// engine↔store partition explains ([`PartitionWaits`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lock_timeouts_max: BTreeMap<LockCategory, u64>,
    /// Jackpot row-lock takeovers (a holder that never released) over the run, at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jackpot_lock_takeovers_max: Option<u64>,
    /// 99th-percentile latency of an operation, at most, in ms, by histogram name with its
    /// labels (`"poker_wallet_operation_duration_seconds{operation=\"reserve\"}" = 60`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_p99_ms: BTreeMap<String, u64>,
}

impl Budgets {
    pub fn is_empty(&self) -> bool {
        *self == Budgets::default()
    }

    /// Checks the latency budgets name histograms the engine records.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.latency_p99_ms.keys() {
            let base = name.split('{').next().unwrap_or_default();
            if !LATENCY_METRICS.contains(&base) {
                return Err(format!(
                    "budgets.latency_p99_ms: `{name}` is not a histogram the engine records ({})",
                    LATENCY_METRICS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Every budget the run's metrics exceed; `partition_waits` are the timeouts set aside.
    pub fn check(&self, metrics: &MetricsSnapshot, partition_waits: &PartitionWaits, at: At, out: &mut Vec<Violation>) {
        let mut over = |what: String, measured: u64, limit: u64, unit: &str| {
            if measured > limit {
                out.push(at.violation(
                    Invariant::Budget,
                    format!("{what} is {measured}{unit}, over its budget of {limit}{unit}"),
                ));
            }
        };
        let hold = |category: LockCategory, percentile: f64| {
            let name = labeled(METRIC_LOCK_HOLD, &[("category", category.as_str())]);
            metrics.histograms.get(&name).filter(|h| h.count() > 0).map(|h| h.percentile_us(percentile) / 1_000)
        };
        for (category, limit) in &self.lock_hold_p50_ms {
            if let Some(ms) = hold(*category, 50.0) {
                over(format!("the {category} lock's median hold"), ms, *limit, " ms");
            }
        }
        for (category, limit) in &self.lock_hold_p99_ms {
            if let Some(ms) = hold(*category, 99.0) {
                over(format!("the {category} lock's p99 hold"), ms, *limit, " ms");
            }
        }
        for (category, limit) in &self.lock_timeouts_max {
            let name = labeled(METRIC_LOCK_ACQUIRE, &[("category", category.as_str()), ("status", STATUS_TIMEOUT)]);
            let timeouts = metrics.counter(&name);
            let set_aside = partition_waits.timeouts(*category).min(timeouts);
            let what = format!("{category} lock timeouts (besides {set_aside} a store partition explains)");
            over(what, timeouts - set_aside, *limit, "");
        }
        if let Some(limit) = self.jackpot_lock_takeovers_max {
            let takeovers: u64 = metrics
                .counters
                .iter()
                .filter(|(name, _)| name.starts_with(engine::jackpot::METRIC_LOCK_TAKEOVERS))
                .map(|(_, count)| count)
                .sum();
            over("jackpot row-lock takeovers".into(), takeovers, limit, "");
        }
        for (name, limit) in &self.latency_p99_ms {
            if let Some(ms) =
                metrics.histograms.get(name).filter(|h| h.count() > 0).map(|h| h.percentile_us(99.0) / 1_000)
            {
                over(format!("{name} p99"), ms, *limit, " ms");
            }
        }
    }
}
