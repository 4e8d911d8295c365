//! Budgets, checked at the end of a run like invariants: the limits a scenario declares on
//! time — a lock category's hold at a percentile, acquire timeouts, jackpot row-lock
//! takeovers, an operation's latency at the 99th percentile — measured from the run's own
//! histograms and counters in simulated time. This is how a design whose damage is time
//! rather than chips (chat calls awaited inside the stage lock) is caught. A budget with no
//! samples passes; a violation names the budget, its limit and the measured value.

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
    /// Acquire timeouts of a lock category over the run, at most.
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

    /// Every budget the run's metrics exceed.
    pub fn check(&self, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
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
            over(format!("{category} lock timeouts"), metrics.counter(&name), *limit, "");
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
