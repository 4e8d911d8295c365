//! The fault plan of one run: explicit data drawn once from the scenario's fault settings and
//! the seed, then only read. Probabilities per opportunity (each store call, each action,
//! each message), and the scheduled faults (crashes, partitions) as instants of simulated time.
//!
//! **Swarm testing** (TigerBeetle's VOPR): with `swarm` on, the seed also decides which fault
//! kinds are on at all and scales each one's intensity by a factor in
//! [`SWARM_INTENSITY_MIN`, 1], so that across seeds rare combinations — a partition with no
//! message loss, crashes with refund failures — get their turn. At least one kind stays on.
//!
//! A plan is serializable so that a report can show it and a later tool can replay or shrink
//! it (a plan, not the seed, is what a shrinker reduces). The plan never draws at run time.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::{FaultSettings, Scenario};
use crate::seeds;

/// Smallest intensity factor swarm mode gives a kind that is on.
pub const SWARM_INTENSITY_MIN: f64 = 0.25;

/// A window of simulated time, in milliseconds since the start of the run: `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Window {
    pub fn contains(&self, at_ms: u64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }
}

/// A scheduled engine crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CrashAt {
    pub at_ms: u64,
    pub restart_after_ms: u64,
}

/// Every fault of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    pub swarm: bool,
    /// The kinds swarm mode turned off (empty without swarm).
    pub kinds_off: Vec<String>,
    pub duplicate_probability: f64,
    pub duplicate_copies_max: u32,
    pub duplicate_fresh_id_probability: f64,
    pub delayed_duplicate_probability: f64,
    pub delayed_duplicate_ms: u64,
    pub stale_writer_probability: f64,
    pub refund_failure_probability: f64,
    pub store_failure_probability: f64,
    pub store_timeout_probability: f64,
    pub lost_reply_probability: f64,
    pub slow_store_probability: f64,
    pub slow_store_ms: [u64; 2],
    pub slow_chat_probability: f64,
    pub slow_chat_ms: [u64; 2],
    pub partitions: Vec<Window>,
    pub partition_ms: [u64; 2],
    pub partition_after_reserve_probability: f64,
    pub message_loss_probability: f64,
    pub crashes: Vec<CrashAt>,
    pub crash_after_txn_probability: f64,
    pub crash_after_labels: Vec<String>,
    pub crashes_max: u32,
    pub restart_ms: [u64; 2],
}

/// Draws uniformly from an inclusive `[low, high]` range.
pub fn draw_range(rng: &mut impl Rng, [low, high]: [u64; 2]) -> u64 {
    if low >= high { low } else { rng.random_range(low..=high) }
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> FaultPlan {
        let settings = FaultSettings { swarm: false, ..FaultSettings::default() };
        FaultPlan::from_settings(&settings, &mut seeds::rng(0, "faults", 0), 0)
    }

    /// The plan of `scenario` under `seed`.
    pub fn draw(scenario: &Scenario, seed: u64) -> FaultPlan {
        let mut rng = seeds::rng(seed, "fault-plan", 0);
        FaultPlan::from_settings(&scenario.faults, &mut rng, scenario.world.safety_ms)
    }

    fn from_settings(settings: &FaultSettings, rng: &mut impl Rng, safety_ms: u64) -> FaultPlan {
        let s = settings;
        // (name, probability or count as f64): the kinds swarm mode may turn off or scale.
        let kinds: [(&str, f64); 12] = [
            ("duplicate", s.duplicate_probability),
            ("delayed_duplicate", s.delayed_duplicate_probability),
            ("stale_writer", s.stale_writer_probability),
            ("refund_failure", s.refund_failure_probability),
            ("store_failure", s.store_failure_probability),
            ("store_timeout", s.store_timeout_probability),
            ("lost_reply", s.lost_reply_probability),
            ("slow_store", s.slow_store_probability),
            ("slow_chat", s.slow_chat_probability),
            ("partition", f64::from(s.partitions) + s.partition_after_reserve_probability),
            ("message_loss", s.message_loss_probability),
            ("crash", f64::from(s.crashes) + s.crash_after_txn_probability),
        ];
        let mut factor = [1.0f64; 12];
        let mut kinds_off = Vec::new();
        if s.swarm {
            let present: Vec<usize> = (0..kinds.len()).filter(|&i| kinds[i].1 > 0.0).collect();
            let mut on: Vec<bool> = present.iter().map(|_| rng.random_bool(0.5)).collect();
            if !present.is_empty() && !on.iter().any(|&b| b) {
                let keep = rng.random_range(0..present.len());
                on[keep] = true;
            }
            for (slot, &i) in present.iter().enumerate() {
                factor[i] = if on[slot] { rng.random_range(SWARM_INTENSITY_MIN..=1.0) } else { 0.0 };
                if !on[slot] {
                    kinds_off.push(kinds[i].0.to_string());
                }
            }
        }
        let scaled = |i: usize, p: f64| p * factor[i];
        let count = |i: usize, n: u32| if factor[i] == 0.0 { 0 } else { n };

        let mut partitions: Vec<Window> = (0..count(9, s.partitions))
            .map(|_| {
                let start_ms = rng.random_range(0..safety_ms.max(1));
                Window { start_ms, end_ms: start_ms + draw_range(rng, s.partition_ms) }
            })
            .collect();
        partitions.sort();
        let mut crashes: Vec<CrashAt> = (0..count(11, s.crashes).min(s.crashes_max))
            .map(|_| CrashAt {
                at_ms: rng.random_range(0..safety_ms.max(1)),
                restart_after_ms: draw_range(rng, s.restart_ms),
            })
            .collect();
        crashes.sort();

        FaultPlan {
            swarm: s.swarm,
            kinds_off,
            duplicate_probability: scaled(0, s.duplicate_probability),
            duplicate_copies_max: s.duplicate_copies_max,
            // How duplicates look, not whether they happen: never scaled.
            duplicate_fresh_id_probability: s.duplicate_fresh_id_probability,
            delayed_duplicate_probability: scaled(1, s.delayed_duplicate_probability),
            delayed_duplicate_ms: s.delayed_duplicate_ms,
            stale_writer_probability: scaled(2, s.stale_writer_probability),
            refund_failure_probability: scaled(3, s.refund_failure_probability),
            store_failure_probability: scaled(4, s.store_failure_probability),
            store_timeout_probability: scaled(5, s.store_timeout_probability),
            lost_reply_probability: scaled(6, s.lost_reply_probability),
            slow_store_probability: scaled(7, s.slow_store_probability),
            slow_store_ms: s.slow_store_ms,
            slow_chat_probability: scaled(8, s.slow_chat_probability),
            slow_chat_ms: s.slow_chat_ms,
            partitions,
            partition_ms: s.partition_ms,
            partition_after_reserve_probability: scaled(9, s.partition_after_reserve_probability),
            message_loss_probability: scaled(10, s.message_loss_probability),
            crashes,
            crash_after_txn_probability: scaled(11, s.crash_after_txn_probability),
            crash_after_labels: s.crash_after_labels.clone(),
            crashes_max: s.crashes_max,
            restart_ms: s.restart_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("t.toml"), text).unwrap()
    }

    #[test]
    fn the_same_seed_draws_the_same_plan() {
        let s = scenario("[faults]\nduplicate_probability = 0.2\ncrashes = 2\npartitions = 1\n");
        assert_eq!(FaultPlan::draw(&s, 9), FaultPlan::draw(&s, 9));
    }

    #[test]
    fn without_swarm_every_kind_is_on_at_full_strength() {
        let s = scenario("[faults]\nswarm = false\nrefund_failure_probability = 0.3\ncrashes = 2\n");
        for seed in 0..20 {
            let plan = FaultPlan::draw(&s, seed);
            assert_eq!(plan.refund_failure_probability, 0.3);
            assert_eq!(plan.crashes.len(), 2);
            assert!(plan.kinds_off.is_empty());
        }
    }

    #[test]
    fn swarm_turns_kinds_off_across_seeds_but_never_all() {
        let s = scenario(
            "[faults]\nduplicate_probability = 0.2\nrefund_failure_probability = 0.3\nmessage_loss_probability = 0.1\n",
        );
        let plans: Vec<FaultPlan> = (0..64).map(|seed| FaultPlan::draw(&s, seed)).collect();
        assert!(plans.iter().any(|p| p.refund_failure_probability == 0.0));
        assert!(plans.iter().any(|p| p.refund_failure_probability > 0.0));
        for plan in &plans {
            let on = [plan.duplicate_probability, plan.refund_failure_probability, plan.message_loss_probability];
            assert!(on.iter().any(|&p| p > 0.0));
            assert!(on.iter().all(|&p| p <= 0.3));
        }
    }
}
