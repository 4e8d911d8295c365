//! The durable store: the role Redis plays in production. Everything that holds chips lives
//! here — wallets, reservations, table records (game states), jackpot pools, the dead-letter
//! queue, the house — together with processed request IDs.
//!
//! The store offers atomic transactions over several keys guarded by expected versions
//! (compare-and-set, the WATCH/MULTI/EXEC idea): every check passes and every write applies,
//! or nothing does. Each write raises the key's version by one. The trait returns boxed
//! futures so that the simulator can wrap any store in a faulty link (`Arc<dyn Store>`).
//! This module never decides business rules; it only stores values.

pub mod kind;
pub mod memory;
pub mod records;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::ids::{DlqId, RequestId, ReservationId, TableId, UserId};
pub use kind::{TxnKind, UnknownTxnKind};
pub use memory::MemoryStore;
pub use records::{
    DlqEntry, JackpotConfig, JackpotGroup, JackpotPool, ProcessedRequest, Reservation, ReservationState, TableRecord,
    Value, Wallet,
};

/// A key of the store. Ordered, so scans are deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    Wallet(UserId),
    Reservation(ReservationId),
    Table(TableId),
    Jackpot(JackpotGroup),
    JackpotConfig,
    Dlq(DlqId),
    House,
    Request(RequestId),
}

/// The kinds of key, for scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Wallet,
    Reservation,
    Table,
    Jackpot,
    JackpotConfig,
    Dlq,
    House,
    Request,
}

impl KeyKind {
    /// The kind's name as it is spelled in scenario files and reports (its serde name).
    pub const fn name(self) -> &'static str {
        match self {
            KeyKind::Wallet => "wallet",
            KeyKind::Reservation => "reservation",
            KeyKind::Table => "table",
            KeyKind::Jackpot => "jackpot",
            KeyKind::JackpotConfig => "jackpot_config",
            KeyKind::Dlq => "dlq",
            KeyKind::House => "house",
            KeyKind::Request => "request",
        }
    }
}

impl Key {
    /// The least key of `kind` in key order (keys order by kind first): where a scan of that
    /// kind starts.
    pub fn first_of(kind: KeyKind) -> Key {
        match kind {
            KeyKind::Wallet => Key::Wallet(UserId(0)),
            KeyKind::Reservation => Key::Reservation(ReservationId(0)),
            KeyKind::Table => Key::Table(TableId(0)),
            KeyKind::Jackpot => Key::Jackpot(JackpotGroup::ALL[0]),
            KeyKind::JackpotConfig => Key::JackpotConfig,
            KeyKind::Dlq => Key::Dlq(DlqId(0)),
            KeyKind::House => Key::House,
            KeyKind::Request => Key::Request(RequestId(0)),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Key::Wallet(_) => KeyKind::Wallet,
            Key::Reservation(_) => KeyKind::Reservation,
            Key::Table(_) => KeyKind::Table,
            Key::Jackpot(_) => KeyKind::Jackpot,
            Key::JackpotConfig => KeyKind::JackpotConfig,
            Key::Dlq(_) => KeyKind::Dlq,
            Key::House => KeyKind::House,
            Key::Request(_) => KeyKind::Request,
        }
    }
}

/// A stored value with its version (1 after the first write).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    pub version: u64,
    pub value: Value,
}

/// One condition of a transaction: the key's version must be `expected` (`None`: the key
/// must not exist).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub key: Key,
    pub expected: Option<u64>,
}

/// One write of a transaction: a new value, or `None` to delete the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Write {
    pub key: Key,
    pub value: Option<Value>,
}

/// Whether a write is checked against the version its value was computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The write applies only if the key is still at the version read (compare-and-set).
    Versioned,
    /// The write applies whatever happened in between: a lost update waiting to happen, kept
    /// for the historical designs that wrote this way.
    Unguarded,
}

/// An atomic multi-key transaction: all checks pass and all writes apply, or nothing happens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    /// What the transaction is for, for traces and fault targeting. A merged fragment's kind
    /// is dropped: the transaction keeps the kind it was created with.
    pub kind: TxnKind,
    pub checks: Vec<Check>,
    pub writes: Vec<Write>,
    /// If set, the store refuses the transaction once its own clock is past this instant
    /// (like a Redis script reading `TIME`): a reservation is never committed late.
    pub not_after_ms: Option<crate::clock::TimestampMs>,
}

impl Txn {
    pub fn new(kind: TxnKind) -> Txn {
        Txn { kind, checks: Vec::new(), writes: Vec::new(), not_after_ms: None }
    }

    /// Requires `key` to be at `expected` (`None`: absent) when the transaction applies.
    pub fn expect(mut self, key: Key, expected: Option<u64>) -> Txn {
        self.checks.push(Check { key, expected });
        self
    }

    /// Requires `key` to be at the version it was read at (`read` is what `get` returned).
    pub fn expect_read(self, key: Key, read: Option<&Versioned>) -> Txn {
        self.expect(key, read.map(|v| v.version))
    }

    /// Requires `key` to be at the version it was read at when `guard` is `Versioned`;
    /// adds no check when it is `Unguarded`.
    pub fn guard(self, key: Key, read: Option<&Versioned>, guard: Guard) -> Txn {
        match guard {
            Guard::Versioned => self.expect_read(key, read),
            Guard::Unguarded => self,
        }
    }

    pub fn put(mut self, key: Key, value: Value) -> Txn {
        self.writes.push(Write { key, value: Some(value) });
        self
    }

    /// Refuses the transaction if the store applies it after `deadline_ms`.
    pub fn not_after(mut self, deadline_ms: crate::clock::TimestampMs) -> Txn {
        self.not_after_ms = Some(self.not_after_ms.map_or(deadline_ms, |d| d.min(deadline_ms)));
        self
    }

    /// Adds another transaction's checks and writes to this one (one atomic step).
    pub fn merge(mut self, other: Txn) -> Txn {
        self.checks.extend(other.checks);
        self.writes.extend(other.writes);
        if let Some(deadline) = other.not_after_ms {
            self = self.not_after(deadline);
        }
        self
    }

    pub fn delete(mut self, key: Key) -> Txn {
        self.writes.push(Write { key, value: None });
        self
    }
}

/// Why a store call failed. `Unavailable` and `Conflict` mean nothing was applied;
/// `TimedOut` means the outcome is unknown (the request may have been applied and its reply
/// lost).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreError {
    #[error("store unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("store call timed out; the outcome is unknown")]
    TimedOut,
    #[error("version conflict on {key:?}: expected {expected:?}, found {actual:?}")]
    Conflict { key: Key, expected: Option<u64>, actual: Option<u64> },
    #[error("transaction refused: store time {now_ms} ms is past its deadline {deadline_ms} ms")]
    DeadlinePassed { deadline_ms: u64, now_ms: u64 },
}

/// A boxed store future.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The durable store, as the engine sees it.
pub trait Store: Send + Sync {
    /// The value at `key` and its version, if any.
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>>;
    /// Every key of one kind, in key order.
    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>>;
    /// Applies `txn` atomically; returns the new version of every written key (0 for deleted).
    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_kinds_name_is_its_serde_name() {
        use KeyKind::*;
        for kind in [Wallet, Reservation, Table, Jackpot, JackpotConfig, Dlq, House, Request] {
            assert_eq!(serde_json::to_value(kind).expect("serializes"), serde_json::Value::from(kind.name()));
        }
    }
}
