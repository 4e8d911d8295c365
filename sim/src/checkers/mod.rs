//! The checkers: one module per property of DESIGN.md §5. Each reads the store directly (the
//! simulation is one process) after every store transaction — through [`TxnView`], which
//! holds every written key's value before and after — and once more at the end of the run.
//!
//! A checker never changes anything and never trusts the engine's own bookkeeping where it
//! can recompute it: the supply comes from the scenario, chips are counted per holder by the
//! checker's own rules, pots are re-evaluated with the hand evaluator. A violation names the
//! invariant, the holders and amounts involved, and the trace position where it was seen.

pub mod at_most_once;
pub mod atomicity;
pub mod budgets;
pub mod conservation;
pub mod exclusivity;
pub mod jackpot;
pub mod ledger;
pub mod liveness;
pub mod locks;
pub mod non_negative;
pub mod reads;
pub mod reservations;
pub mod rules;
pub mod versions;

use std::collections::{BTreeMap, BTreeSet};

use engine::game::LockStrategy;
use engine::ids::{TableId, UserId};
use engine::locks::{DeadlockSnapshot, LockConfig, LockEvent};
use engine::metrics::MetricsSnapshot;
use engine::rules::Chips;
use engine::store::{JackpotGroup, Key, MemoryStore, StoreError, Txn, Versioned};
use tokio::task::Id as TaskId;

use crate::protocol::{Asked, Reply};

pub use budgets::{Budgets, PartitionWaits};
use serde::{Deserialize, Serialize};

/// The properties a run is checked against, one checker each (DESIGN.md §5), and `Panic`.
/// The text forms (`conservation`, `at_most_once`, …) are what reports print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    Conservation,
    /// Every user's chips, against an independent per-user model.
    WalletLedger,
    NonNegative,
    AtMostOnce,
    Versions,
    /// A refused transaction changed nothing.
    Atomicity,
    Reservations,
    Rules,
    Locks,
    /// No two owners in one critical section, from the lock events alone.
    LockExclusivity,
    Jackpot,
    /// Every stated balance is one the wallet held while the request was in flight.
    Reads,
    /// A scenario's declared limits on time (`[budgets]`).
    Budget,
    Liveness,
    /// Not a checker: a panic inside the simulated code.
    Panic,
}

impl Invariant {
    pub const ALL: [Invariant; 15] = [
        Invariant::Conservation,
        Invariant::WalletLedger,
        Invariant::NonNegative,
        Invariant::AtMostOnce,
        Invariant::Versions,
        Invariant::Atomicity,
        Invariant::Reservations,
        Invariant::Rules,
        Invariant::Locks,
        Invariant::LockExclusivity,
        Invariant::Jackpot,
        Invariant::Reads,
        Invariant::Budget,
        Invariant::Liveness,
        Invariant::Panic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::Conservation => "conservation",
            Invariant::WalletLedger => "wallet_ledger",
            Invariant::NonNegative => "non_negative",
            Invariant::AtMostOnce => "at_most_once",
            Invariant::Versions => "versions",
            Invariant::Atomicity => "atomicity",
            Invariant::Reservations => "reservations",
            Invariant::Rules => "rules",
            Invariant::Locks => "locks",
            Invariant::LockExclusivity => "lock_exclusivity",
            Invariant::Jackpot => "jackpot",
            Invariant::Reads => "reads",
            Invariant::Budget => "budget",
            Invariant::Liveness => "liveness",
            Invariant::Panic => "panic",
        }
    }

    /// Whether a violation of this invariant is a correctness failure (a safety property),
    /// as opposed to a liveness failure or a crash.
    pub fn is_safety(self) -> bool {
        !matches!(self, Invariant::Liveness | Invariant::Panic)
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Violations of one checker kept per run; more are counted, not kept.
pub const VIOLATIONS_KEPT_COUNT: usize = 20;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: Invariant,
    pub message: String,
    /// Index of the trace event at (or just before) which it was seen.
    pub trace_index: u64,
    /// Simulated time, in microseconds since the start of the run.
    pub at_us: u64,
}

/// A store transaction that applied, as the checkers see it.
pub struct TxnView<'a> {
    pub txn: &'a Txn,
    /// Every written key, in write order, with its value before and after the transaction.
    pub changes: &'a [(Key, Option<Versioned>, Option<Versioned>)],
    /// The store's clock when it applied, in milliseconds.
    pub now_ms: u64,
}

/// Where a check happened, for the violation it may produce.
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub trace_index: u64,
    pub at_us: u64,
}

impl At {
    pub fn violation(self, invariant: Invariant, message: String) -> Violation {
        Violation { invariant, message, trace_index: self.trace_index, at_us: self.at_us }
    }
}

/// What the checkers need to know of the run.
#[derive(Clone, Debug)]
pub struct CheckerSettings {
    /// Chips in the system, from the scenario: Σ opening balances + the house's chips.
    pub supply: Chips,
    /// Every user with a wallet, and the balance each opens with (the ledger's model).
    pub users: Vec<UserId>,
    pub balance: Chips,
    pub lock_strategy: LockStrategy,
    pub lock_config: LockConfig,
    pub budgets: Budgets,
    /// The jackpot config's shares as the store starts with them (basis points), if any.
    pub jackpot_share_bps: Option<Vec<(JackpotGroup, u32)>>,
    /// The most the engine hosts' wall clock is ever off the store's, in ms (the clock faults').
    pub clock_offset_ms_max: u64,
    /// Each table's seated players, as the layout seats them (players never leave).
    pub seats: BTreeMap<TableId, BTreeSet<UserId>>,
    /// The jackpot service's first retry backoff step, in ms (`backoff_base_ms` of the engine
    /// hosts' `JackpotServiceConfig`): retry `n` (0-based) waits at least `base << n`.
    pub jackpot_backoff_base_ms: u64,
}

/// All the checkers.
pub struct Checkers {
    pub conservation: conservation::Conservation,
    pub ledger: ledger::Ledger,
    pub non_negative: non_negative::NonNegative,
    pub at_most_once: at_most_once::AtMostOnce,
    pub versions: versions::Versions,
    pub reservations: reservations::Reservations,
    pub rules: rules::Rules,
    pub locks: locks::Locks,
    pub exclusivity: exclusivity::Exclusivity,
    pub jackpot: jackpot::Jackpot,
    pub reads: reads::Reads,
    pub liveness: liveness::Liveness,
    pub budgets: Budgets,
    /// The lock timeouts the budgets set aside, as the world reports them.
    pub partition_waits: PartitionWaits,
}

impl Checkers {
    pub fn new(settings: &CheckerSettings) -> Checkers {
        Checkers {
            conservation: conservation::Conservation::new(settings.supply),
            ledger: ledger::Ledger::new(settings.users.iter().copied(), settings.balance),
            non_negative: non_negative::NonNegative::new(settings.supply),
            at_most_once: at_most_once::AtMostOnce::new(settings.clock_offset_ms_max),
            versions: versions::Versions::new(settings.seats.clone()),
            reservations: reservations::Reservations::default(),
            rules: rules::Rules,
            locks: locks::Locks::new(settings.lock_strategy, settings.lock_config.clone()),
            exclusivity: exclusivity::Exclusivity::default(),
            jackpot: jackpot::Jackpot::new(
                settings.supply,
                settings.jackpot_share_bps.clone(),
                settings.jackpot_backoff_base_ms,
            ),
            reads: reads::Reads::new(settings.users.iter().copied(), settings.balance, settings.seats.clone()),
            liveness: liveness::Liveness,
            budgets: settings.budgets.clone(),
            partition_waits: PartitionWaits::default(),
        }
    }

    /// Runs every transaction checker on one applied transaction, issued by `task` (none
    /// outside every task).
    pub fn after_txn(&mut self, view: &TxnView<'_>, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        self.conservation.after_txn(view, at, out);
        self.ledger.after_txn(view, at, out);
        self.exclusivity.after_txn(view, task, at, out);
        self.non_negative.after_txn(view, at, out);
        self.at_most_once.after_txn(view, at, out);
        self.versions.after_txn(view, at, out);
        self.reservations.after_txn(view, task, at, out);
        self.rules.after_txn(view, at, out);
        self.jackpot.after_txn(view, at, out);
        self.reads.after_txn(view, at);
    }

    /// A commit's answer as the engine saw it in `task`: applied, or refused by the store or
    /// on its link (a lost reply reads as refused although the store applied it).
    pub fn after_answered_commit(
        &mut self,
        txn: &Txn,
        answer: Result<(), &StoreError>,
        task: Option<TaskId>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        match answer {
            Ok(()) => {
                self.reservations.after_seen_applied(txn, task);
                self.versions.after_seen_applied(txn, task);
            }
            Err(error) => {
                self.reservations.after_refused(txn, error, task);
                self.versions.after_refused(txn, error, task);
            }
        }
        self.jackpot.after_answered_commit(txn, answer, task, at, out);
    }

    /// The engine answered the request `task` served, which `asked`, with `reply`.
    pub fn after_answer(
        &mut self,
        task: Option<TaskId>,
        asked: Asked,
        reply: &Reply,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        self.reservations.after_answer(task, reply.game_error(), at, out);
        if let Some(error) = reply.game_error() {
            self.locks.after_refused(reservations::root_cause(error), at, out);
        }
        self.versions.after_answer(task, asked, reply, at, out);
        self.jackpot.after_answer(task, asked);
    }

    /// A lock event, seen in the task that caused it.
    pub fn on_lock_event(&mut self, event: &LockEvent, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        self.locks.on_event(event, at, out);
        self.exclusivity.on_event(event, task, at, out);
    }

    /// The engine crashed: its locks died with its memory.
    pub fn engine_crashed(&mut self) {
        self.locks.forget_all();
        self.exclusivity.forget_all();
    }

    /// A wait-for graph sampled from one engine process's lock manager (`second_process`: not
    /// the first engine host's), its keys and owners named as the lock events name them.
    pub fn on_deadlock_snapshot(
        &mut self,
        second_process: bool,
        snapshot: &DeadlockSnapshot,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        self.locks.on_snapshot(second_process, snapshot, at, out);
    }

    /// The end-of-run checks of the safety properties and the budgets (liveness is checked
    /// by the world, which knows whether the heal phase converged).
    pub fn at_end(&mut self, store: &MemoryStore, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
        self.conservation.at_end(store, at, out);
        self.ledger.at_end(store, at, out);
        self.budgets.check(metrics, &self.partition_waits, at, out);
        self.non_negative.at_end(store, at, out);
        self.jackpot.at_end(store, at, out);
        self.jackpot.check_metrics(metrics, at, out);
        self.locks.check_metrics(metrics, at, out);
        self.reservations.at_end(metrics, at, out);
    }
}

#[cfg(test)]
mod tests;
