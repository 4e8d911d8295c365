//! Atomicity: a transaction the store refused changed nothing. The per-transaction checkers
//! see only transactions that applied; a store that commits part of a refused transaction
//! would otherwise be seen only by the end-of-run recount, far from its cause. Reads every key
//! the transaction writes, before and after the refusal.

use engine::store::{Key, StoreError, Txn, Versioned};

use super::{At, Invariant, Violation};

/// The keys `txn` writes, with their rows before it was tried.
pub fn rows_before(txn: &Txn, read: impl Fn(Key) -> Option<Versioned>) -> Vec<(Key, Option<Versioned>)> {
    txn.writes.iter().map(|w| (w.key, read(w.key))).collect()
}

/// After the store refused `txn` with `error`: every key it writes must read as it did.
pub fn check_refused(
    txn: &Txn,
    error: &StoreError,
    before: &[(Key, Option<Versioned>)],
    read: impl Fn(Key) -> Option<Versioned>,
    at: At,
) -> Option<Violation> {
    let changed: Vec<String> =
        before.iter().filter(|(key, was)| read(*key) != *was).map(|(key, _)| format!("{key:?}")).collect();
    (!changed.is_empty()).then(|| {
        at.violation(
            Invariant::Atomicity,
            format!("txn {} was refused ({error}) but changed {}", txn.kind, changed.join(" ")),
        )
    })
}
