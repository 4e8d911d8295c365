//! Invariant 7, locks: under the fine strategy no owner takes a lock against the hierarchy
//! (Stage → Table → Deck → BettingRound → Pot → Player; within a level, by name); there is
//! never a wait-for cycle; holds longer than their category's acquire timeout are counted and
//! reported as warnings (they make other owners time out; they are not by themselves a bug);
//! and no acquire gives up before its category's timeout has run. `poker_lock_acquire_total`
//! counts, per category, exactly the grants and timeouts the manager announced.
//!
//! The lock probe (`faults::lock_probe`) takes locks out of order on purpose, so a lock manager
//! that grants them while enforcing the hierarchy is seen here too.
//!
//! The hierarchy is checked from the acquire/release events, independently of the lock
//! manager's own detection; cycles from the manager's `deadlock_snapshot`, sampled by the world.

use std::collections::{BTreeMap, BTreeSet};

use engine::game::LockStrategy;
use engine::locks::{
    DeadlockSnapshot, LockCategory, LockConfig, LockEvent, LockKey, METRIC_LOCK_ACQUIRE, OwnerId, STATUS_SUCCESS,
    STATUS_TIMEOUT,
};
use engine::metrics::{MetricsSnapshot, labeled};

use super::{At, Invariant, Violation};
use crate::faults::lock_probe::PROBE_OPERATION;

pub struct Locks {
    strategy: LockStrategy,
    config: LockConfig,
    held: BTreeMap<OwnerId, BTreeSet<LockKey>>,
    /// Holds longer than their category's timeout: (key, operation, held_us).
    pub holds_over_timeout: Vec<(String, String, u64)>,
    pub holds_over_timeout_count: u64,
    /// The acquires granted, by category, as the lock tap saw them.
    granted: BTreeMap<LockCategory, u64>,
    /// The acquires that timed out, by category, as the lock tap saw them.
    timed_out: BTreeMap<LockCategory, u64>,
}

/// Long holds kept for the report.
const LONG_HOLDS_KEPT_COUNT: usize = 10;

impl Locks {
    pub fn new(strategy: LockStrategy, config: LockConfig) -> Locks {
        Locks {
            strategy,
            config,
            held: BTreeMap::new(),
            holds_over_timeout: Vec::new(),
            holds_over_timeout_count: 0,
            granted: BTreeMap::new(),
            timed_out: BTreeMap::new(),
        }
    }

    /// At the end: the acquire counter's successes and timeouts are the grants and timeouts
    /// the manager announced (it counts and announces in one step, so nothing is in between).
    pub fn check_metrics(&self, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
        for category in LockCategory::ALL {
            for (status, seen) in [(STATUS_SUCCESS, &self.granted), (STATUS_TIMEOUT, &self.timed_out)] {
                let name = labeled(METRIC_LOCK_ACQUIRE, &[("category", category.as_str()), ("status", status)]);
                let (counted, seen) = (metrics.counter(&name), seen.get(&category).copied().unwrap_or(0));
                if counted != seen {
                    out.push(at.violation(
                        Invariant::Locks,
                        format!("{name} is {counted}, but the lock manager announced {seen} such acquire(s)"),
                    ));
                }
            }
        }
    }

    pub fn on_event(&mut self, event: &LockEvent, at: At, out: &mut Vec<Violation>) {
        match event {
            LockEvent::Acquired { key, owner, operation, .. } => {
                *self.granted.entry(key.category).or_default() += 1;
                let held = self.held.entry(*owner).or_default();
                // The lock probe takes locks out of order on purpose: granted, that is a
                // violation only when the hierarchy is enforced (else it checks itself that
                // the manager recorded it). The engine's own acquires are checked under the
                // fine strategy, enforced or not.
                let probe = operation == PROBE_OPERATION;
                let checked = if probe { self.config.enforce_hierarchy } else { self.strategy == LockStrategy::Fine };
                if checked && let Some(level) = key.category.hierarchy_level() {
                    let against = held.iter().find(|h| match h.category.hierarchy_level() {
                        Some(l) => l > level || (l == level && h.name > key.name),
                        None => false,
                    });
                    if let Some(against) = against {
                        out.push(at.violation(
                            Invariant::Locks,
                            format!("{owner} ({operation}) took {key} while holding {against}: against the hierarchy"),
                        ));
                    }
                }
                held.insert(key.clone());
            }
            LockEvent::Released { key, owner, operation, held_us, .. } => {
                if let Some(held) = self.held.get_mut(owner) {
                    held.remove(key);
                    if held.is_empty() {
                        self.held.remove(owner);
                    }
                }
                if *held_us > self.config.timeout_ms(key.category) * 1_000 {
                    self.holds_over_timeout_count += 1;
                    if self.holds_over_timeout.len() < LONG_HOLDS_KEPT_COUNT {
                        self.holds_over_timeout.push((key.to_string(), operation.clone(), *held_us));
                    }
                }
            }
            LockEvent::TimedOut { key, operation, waited_us, .. } => {
                *self.timed_out.entry(key.category).or_default() += 1;
                let timeout_ms = self.config.timeout_ms(key.category);
                if *waited_us < timeout_ms * 1_000 {
                    out.push(at.violation(
                        Invariant::Locks,
                        format!(
                            "{operation} gave up its wait for {key} after {} ms, before its {timeout_ms} ms timeout",
                            waited_us / 1_000
                        ),
                    ));
                }
            }
        }
    }

    /// The engine crashed: its locks died with its memory.
    pub fn forget_all(&mut self) {
        self.held.clear();
    }

    pub fn on_snapshot(&mut self, snapshot: &DeadlockSnapshot, at: At, out: &mut Vec<Violation>) {
        if let Some(cycle) = &snapshot.cycle {
            let members: Vec<String> = cycle.iter().map(|m| format!("{} ({})", m.owner, m.operation)).collect();
            out.push(at.violation(Invariant::Locks, format!("wait-for cycle: {}", members.join(" -> "))));
        }
    }
}
