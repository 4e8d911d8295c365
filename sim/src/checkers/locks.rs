//! Invariant 7, locks: under the fine strategy no owner takes a lock against the hierarchy
//! (Stage → Table → Deck → BettingRound → Pot → Player; within a level, by name); there is
//! never a wait-for cycle; holds longer than their category's acquire timeout are counted and
//! reported as warnings (they make other owners time out; they are not by themselves a bug);
//! and no acquire gives up before its category's timeout has run. A request the engine refused
//! for a lock was refused for a timeout that waited its category's whole timeout: the engine
//! never asks its manager for a lock it may not take (one it holds or awaits, a read of a
//! write-only category, one against the enforced hierarchy). `poker_lock_acquire_total`
//! counts, per category, exactly the grants and timeouts the manager announced, and
//! `poker_lock_long_holds_total` exactly the releases after a hold over `long_hold_warn_ms`.
//!
//! The lock probe (`faults::lock_probe`) takes locks out of order on purpose, so a lock manager
//! that grants them while enforcing the hierarchy is seen here too.
//!
//! The hierarchy is checked from the acquire/release events, independently of the lock
//! manager's own detection. Cycles are checked twice at every `deadlock_snapshot` the world
//! samples: the manager's own, and one found here in the wait-for graph the events describe
//! (who holds what from the grants and releases, who waits on what from the waits announced
//! and ended); and the snapshot must list exactly the waiters the events say are waiting (a
//! manager that loses track of its waiters detects no deadlock and misreports convergence).

use std::collections::{BTreeMap, BTreeSet};

use engine::game::{GameError, LockStrategy};
use engine::locks::{
    DeadlockSnapshot, LockCategory, LockConfig, LockError, LockEvent, LockKey, LockMode, METRIC_LOCK_ACQUIRE,
    METRIC_LOCK_LONG_HOLDS, OwnerId, STATUS_SUCCESS, STATUS_TIMEOUT,
};
use engine::metrics::{MetricsSnapshot, labeled};

use super::{At, Invariant, Violation};
use crate::context::SECOND_PROCESS_OWNER_BASE;
use crate::faults::lock_probe::PROBE_OPERATION;

/// A waiting acquire as the lock events announced it: its mode and operation.
type Wait = (LockMode, std::sync::Arc<str>);

pub struct Locks {
    strategy: LockStrategy,
    config: LockConfig,
    held: BTreeMap<OwnerId, BTreeSet<LockKey>>,
    /// The acquires waiting now, by key and owner, as the lock events announced them.
    waiting: BTreeMap<(LockKey, OwnerId), Wait>,
    /// Holds longer than their category's timeout: (key, operation, held_us).
    pub holds_over_timeout: Vec<(String, String, u64)>,
    pub holds_over_timeout_count: u64,
    /// The acquires granted, by category, as the lock tap saw them.
    granted: BTreeMap<LockCategory, u64>,
    /// The acquires that timed out, by category, as the lock tap saw them.
    timed_out: BTreeMap<LockCategory, u64>,
    /// The releases after a hold longer than `long_hold_warn_ms`, by category.
    long_holds: BTreeMap<LockCategory, u64>,
}

/// Long holds kept for the report.
const LONG_HOLDS_KEPT_COUNT: usize = 10;

impl Locks {
    pub fn new(strategy: LockStrategy, config: LockConfig) -> Locks {
        Locks {
            strategy,
            config,
            held: BTreeMap::new(),
            waiting: BTreeMap::new(),
            holds_over_timeout: Vec::new(),
            holds_over_timeout_count: 0,
            granted: BTreeMap::new(),
            timed_out: BTreeMap::new(),
            long_holds: BTreeMap::new(),
        }
    }

    /// At the end: the acquire counter's successes and timeouts are the grants and timeouts
    /// the manager announced (it counts and announces in one step, so nothing is in between),
    /// and the long-hold counter counts the releases it announced after a hold longer than
    /// `long_hold_warn_ms`.
    pub fn check_metrics(&self, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
        for category in LockCategory::ALL {
            let name = labeled(METRIC_LOCK_LONG_HOLDS, &[("category", category.as_str())]);
            let (counted, seen) = (metrics.counter(&name), self.long_holds.get(&category).copied().unwrap_or(0));
            if counted != seen {
                out.push(at.violation(
                    Invariant::Locks,
                    format!(
                        "{name} is {counted}, but the lock manager announced {seen} release(s) after a hold over {} ms",
                        self.config.long_hold_warn_ms
                    ),
                ));
            }
        }
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

    /// Counts a release after a hold of `held_us` for the long-hold counter — every release,
    /// a dying process's included (its guards count theirs as they drop).
    pub fn count_release(&mut self, category: LockCategory, held_us: u64) {
        if held_us > self.config.long_hold_warn_ms * 1_000 {
            *self.long_holds.entry(category).or_default() += 1;
        }
    }

    pub fn on_event(&mut self, event: &LockEvent, at: At, out: &mut Vec<Violation>) {
        self.track_wait(event, at, out);
        match event {
            LockEvent::Acquired { key, owner, operation, .. } => {
                *self.granted.entry(key.category).or_default() += 1;
                let held = self.held.entry(*owner).or_default();
                // The lock probe takes locks out of order on purpose: granted, that is a
                // violation only when the hierarchy is enforced (else it checks itself that
                // the manager recorded it). The engine's own acquires are checked under the
                // fine strategy, enforced or not.
                let probe = **operation == *PROBE_OPERATION;
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
                self.count_release(key.category, *held_us);
                if *held_us > self.config.timeout_ms(key.category) * 1_000 {
                    self.holds_over_timeout_count += 1;
                    if self.holds_over_timeout.len() < LONG_HOLDS_KEPT_COUNT {
                        self.holds_over_timeout.push((key.to_string(), operation.to_string(), *held_us));
                    }
                }
            }
            LockEvent::Waiting { .. } | LockEvent::WaitAbandoned { .. } => {}
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

    /// A request the engine answered with `error` (its root cause): a lock refusal must be a
    /// timeout that waited its category's whole timeout.
    pub fn after_refused(&self, error: &GameError, at: At, out: &mut Vec<Violation>) {
        let GameError::Lock(refusal) = error else { return };
        let message = match refusal {
            LockError::Timeout { key, waited_ms, .. } => {
                let timeout_ms = self.config.timeout_ms(key.category);
                if *waited_ms >= timeout_ms {
                    return;
                }
                format!(
                    "a request was refused for a lock timeout on {key} after {waited_ms} ms, before its {timeout_ms} ms timeout"
                )
            }
            other => format!(
                "a request was refused with `{other}`: the engine asked its lock manager for a lock it may not take"
            ),
        };
        out.push(at.violation(Invariant::Locks, message));
    }

    /// A wait starts with `Waiting` and ends in a grant, a timeout or `WaitAbandoned` (a grant
    /// or timeout without a wait was immediate); only an announced wait can be abandoned.
    fn track_wait(&mut self, event: &LockEvent, at: At, out: &mut Vec<Violation>) {
        match event {
            LockEvent::Waiting { key, mode, owner, operation } => {
                if self.waiting.insert((key.clone(), *owner), (*mode, operation.clone())).is_some() {
                    out.push(at.violation(
                        Invariant::Locks,
                        format!("{owner} ({operation}) announced a second wait for {key} while already waiting"),
                    ));
                }
            }
            LockEvent::WaitAbandoned { key, owner, operation, .. } => {
                if self.waiting.remove(&(key.clone(), *owner)).is_none() {
                    out.push(at.violation(
                        Invariant::Locks,
                        format!("{owner} ({operation}) abandoned a wait for {key} it never announced"),
                    ));
                }
            }
            LockEvent::Acquired { key, owner, .. } | LockEvent::TimedOut { key, owner, .. } => {
                self.waiting.remove(&(key.clone(), *owner));
            }
            LockEvent::Released { .. } => {}
        }
    }

    /// The engine crashed: its locks and waits died with its memory.
    pub fn forget_all(&mut self) {
        self.held.clear();
        self.waiting.clear();
    }

    /// A wait-for graph sampled from one process's lock manager (`second_process`: the second
    /// engine host's, whose owners are numbered from `SECOND_PROCESS_OWNER_BASE`).
    pub fn on_snapshot(&mut self, second_process: bool, snapshot: &DeadlockSnapshot, at: At, out: &mut Vec<Violation>) {
        let of_process = |owner: &OwnerId| (owner.0 >= SECOND_PROCESS_OWNER_BASE) == second_process;
        if let Some(cycle) = &snapshot.cycle {
            let members: Vec<String> = cycle.iter().map(|m| format!("{} ({})", m.owner, m.operation)).collect();
            out.push(at.violation(Invariant::Locks, format!("wait-for cycle: {}", members.join(" -> "))));
        }
        let announced: BTreeMap<(LockKey, OwnerId), Wait> = self
            .waiting
            .iter()
            .filter(|((_, owner), _)| of_process(owner))
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect();
        let listed: BTreeMap<(LockKey, OwnerId), Wait> =
            snapshot.waiters.iter().map(|w| ((w.key.clone(), w.owner), (w.mode, w.operation.clone()))).collect();
        if listed != announced {
            out.push(at.violation(
                Invariant::Locks,
                format!(
                    "the lock manager lists {} waiter(s) ({}) where the lock events announce {} ({})",
                    listed.len(),
                    describe_waits(&listed),
                    announced.len(),
                    describe_waits(&announced)
                ),
            ));
        }
        let held: BTreeSet<(&LockKey, OwnerId)> = self
            .held
            .iter()
            .filter(|(owner, _)| of_process(owner))
            .flat_map(|(owner, keys)| keys.iter().map(|key| (key, *owner)))
            .collect();
        let holders: BTreeSet<(&LockKey, OwnerId)> = snapshot.holders.iter().map(|h| (&h.key, h.owner)).collect();
        if holders != held {
            let describe = |holds: &BTreeSet<(&LockKey, OwnerId)>| {
                first_three(holds.iter().map(|(key, owner)| format!("{key} {owner}")), holds.len())
            };
            out.push(at.violation(
                Invariant::Locks,
                format!(
                    "the lock manager lists {} hold(s) ({}) where the lock events grant {} ({})",
                    holders.len(),
                    describe(&holders),
                    held.len(),
                    describe(&held)
                ),
            ));
        }
        if snapshot.cycle.is_none()
            && let Some(cycle) = self.find_cycle(&announced)
        {
            let members: Vec<String> = cycle.iter().map(ToString::to_string).collect();
            out.push(at.violation(
                Invariant::Locks,
                format!(
                    "wait-for cycle in the lock events, which the lock manager's snapshot does not show: {}",
                    members.join(" -> ")
                ),
            ));
        }
    }

    /// A cycle in the wait-for graph of `waits` (each waits on every other holder of its key,
    /// as the events say), owners visited in ascending order.
    fn find_cycle(&self, waits: &BTreeMap<(LockKey, OwnerId), Wait>) -> Option<Vec<OwnerId>> {
        let mut holders: BTreeMap<&LockKey, Vec<OwnerId>> = BTreeMap::new();
        for (owner, keys) in &self.held {
            for key in keys {
                holders.entry(key).or_default().push(*owner);
            }
        }
        let mut edges: BTreeMap<OwnerId, BTreeSet<OwnerId>> = BTreeMap::new();
        for (key, waiter) in waits.keys() {
            for holder in holders.get(key).into_iter().flatten().filter(|h| *h != waiter) {
                edges.entry(*waiter).or_default().insert(*holder);
            }
        }
        edges.keys().find_map(|start| cycle_from(*start, &edges))
    }
}

/// The first cycle back to `start` along `edges` (depth first, ascending), as its owners.
fn cycle_from(start: OwnerId, edges: &BTreeMap<OwnerId, BTreeSet<OwnerId>>) -> Option<Vec<OwnerId>> {
    let mut path = vec![start];
    let mut next: Vec<std::collections::btree_set::Iter<'_, OwnerId>> = vec![edges.get(&start)?.iter()];
    let mut seen = BTreeSet::from([start]);
    while let Some(frontier) = next.last_mut() {
        match frontier.next() {
            Some(&owner) if owner == start => return Some(path),
            Some(&owner) if seen.insert(owner) => {
                path.push(owner);
                next.push(edges.get(&owner).map(|e| e.iter()).unwrap_or_default());
            }
            Some(_) => {}
            None => {
                next.pop();
                path.pop();
            }
        }
    }
    None
}

/// Up to three waits, as `key owner mode (operation)`.
fn describe_waits(waits: &BTreeMap<(LockKey, OwnerId), Wait>) -> String {
    let shown = waits.iter().map(|((key, owner), (mode, operation))| format!("{key} {owner} {mode:?} ({operation})"));
    first_three(shown, waits.len())
}

/// The first three of `count` items, then how many more; `none` for no item.
fn first_three(items: impl Iterator<Item = String>, count: usize) -> String {
    let mut shown: Vec<String> = items.take(3).collect();
    if count > 3 {
        shown.push(format!("and {} more", count - 3));
    }
    if shown.is_empty() { "none".to_string() } else { shown.join(", ") }
}
