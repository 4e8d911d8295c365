//! `MemoryStore`: the in-memory implementation of [`Store`], used by tests and, behind a
//! simulated link, by the simulator. Its data outlive any engine that uses it (an engine
//! crash loses the engine's memory, not the store's).
//!
//! Calls complete at once; latency and faults belong to whoever wraps it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Key, KeyKind, Store, StoreError, StoreFuture, Txn, Versioned};
use crate::clock::SharedClock;
use crate::rules::Chips;

/// A store in memory. Cheap to clone; clones share the data.
#[derive(Clone, Default)]
pub struct MemoryStore {
    data: Arc<Mutex<BTreeMap<Key, Versioned>>>,
    /// The store's own clock, for transactions with a deadline; without one, deadlines are
    /// not checked.
    clock: Option<SharedClock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("keys", &self.inspect(|d| d.len())).finish()
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store that checks transaction deadlines against `clock`.
    pub fn with_clock(clock: SharedClock) -> MemoryStore {
        MemoryStore { data: Arc::default(), clock: Some(clock) }
    }

    /// Applies `txn` at once (the synchronous core of [`Store::commit`]).
    pub fn apply(&self, txn: &Txn) -> Result<Vec<(Key, u64)>, StoreError> {
        if let (Some(deadline_ms), Some(clock)) = (txn.not_after_ms, &self.clock) {
            let now_ms = clock.now_ms();
            if now_ms > deadline_ms {
                return Err(StoreError::DeadlinePassed { deadline_ms, now_ms });
            }
        }
        let mut data = self.data.lock().expect("store lock");
        for check in &txn.checks {
            let actual = data.get(&check.key).map(|v| v.version);
            if actual != check.expected {
                return Err(StoreError::Conflict { key: check.key, expected: check.expected, actual });
            }
        }
        let mut versions = Vec::with_capacity(txn.writes.len());
        for write in &txn.writes {
            match &write.value {
                Some(value) => {
                    let version = data.get(&write.key).map_or(0, |v| v.version) + 1;
                    data.insert(write.key, Versioned { version, value: value.clone() });
                    versions.push((write.key, version));
                }
                None => {
                    data.remove(&write.key);
                    versions.push((write.key, 0));
                }
            }
        }
        Ok(versions)
    }

    /// The value at `key` now.
    pub fn read(&self, key: Key) -> Option<Versioned> {
        self.data.lock().expect("store lock").get(&key).cloned()
    }

    /// Every key of `kind` now, in key order (a range of the map: keys order by kind first,
    /// and the processed-request records, which outnumber the rest, are never walked for
    /// another kind).
    pub fn read_kind(&self, kind: KeyKind) -> Vec<(Key, Versioned)> {
        let data = self.data.lock().expect("store lock");
        data.range(Key::first_of(kind)..).take_while(|(k, _)| k.kind() == kind).map(|(k, v)| (*k, v.clone())).collect()
    }

    /// Calls `f` with the whole data set, for checkers that read the store directly.
    pub fn inspect<T>(&self, f: impl FnOnce(&BTreeMap<Key, Versioned>) -> T) -> T {
        f(&self.data.lock().expect("store lock"))
    }

    /// Sum of the chips held by every record: must equal the supply at all times.
    pub fn chips_total(&self) -> Chips {
        self.inspect(|data| data.values().map(|v| v.value.chips_held()).sum())
    }
}

impl Store for MemoryStore {
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
        let value = self.read(key);
        Box::pin(async move { Ok(value) })
    }

    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
        let values = self.read_kind(kind);
        Box::pin(async move { Ok(values) })
    }

    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
        let result = self.apply(&txn);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::store::{TxnKind, Value, Wallet};

    fn wallet(user: u64, balance: Chips) -> Value {
        Value::Wallet(Wallet { user: UserId(user), balance })
    }

    #[test]
    fn transactions_are_all_or_nothing_and_versions_rise_by_one() {
        let store = MemoryStore::new();
        let (a, b) = (Key::Wallet(UserId(1)), Key::Wallet(UserId(2)));
        store.apply(&Txn::new(TxnKind::Provision).expect(a, None).put(a, wallet(1, 100))).unwrap();
        assert_eq!(store.read(a).unwrap().version, 1);
        // A stale check fails the whole transaction, including the write to b.
        let stale = Txn::new(TxnKind::Provision).expect(a, Some(0)).put(a, wallet(1, 50)).put(b, wallet(2, 50));
        assert_eq!(store.apply(&stale), Err(StoreError::Conflict { key: a, expected: Some(0), actual: Some(1) }));
        assert!(store.read(b).is_none());
        assert_eq!(store.chips_total(), 100);
        let good =
            Txn::new(TxnKind::Provision).expect(a, Some(1)).expect(b, None).put(a, wallet(1, 50)).put(b, wallet(2, 50));
        assert_eq!(store.apply(&good).unwrap(), vec![(a, 2), (b, 1)]);
        assert_eq!(store.chips_total(), 100);
    }

    #[test]
    fn a_scan_reads_exactly_its_kind_whatever_surrounds_it() {
        use crate::ids::TableId;
        use crate::store::{KeyKind, TableRecord};
        use std::sync::Arc;
        let store = MemoryStore::new();
        let mut txn = Txn::new(TxnKind::Provision).put(Key::House, Value::House(7));
        for user in [0, 1, 9] {
            txn = txn.put(Key::Wallet(UserId(user)), wallet(user, 1));
        }
        txn = txn.put(Key::Table(TableId(0)), Value::Table(Arc::new(TableRecord::empty(TableId(0), Vec::new()))));
        store.apply(&txn).unwrap();
        let scanned = |kind| store.read_kind(kind).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        let wallets: Vec<Key> = [0, 1, 9].map(|u| Key::Wallet(UserId(u))).into();
        assert_eq!(scanned(KeyKind::Wallet), wallets);
        assert_eq!(scanned(KeyKind::Table), vec![Key::Table(TableId(0))]);
        assert_eq!(scanned(KeyKind::House), vec![Key::House]);
        assert!(scanned(KeyKind::Reservation).is_empty());
        assert!(scanned(KeyKind::Request).is_empty());
    }
}
