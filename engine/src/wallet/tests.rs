//! Unit tests of `wallet`, kept beside it so the module itself stays readable.

use super::*;
use crate::clock::TokioClock;
use crate::store::{MemoryStore, StoreFuture, Versioned};
use rand::SeedableRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A store that fails refund transactions while `fail_refunds` is set, and refuses every
/// commit of the kind `conflicting` names as a version conflict, counting them.
struct RefundFailingStore {
    inner: MemoryStore,
    fail_refunds: AtomicBool,
    conflicting: Mutex<Option<TxnKind>>,
    conflicts_injected: AtomicU32,
}

impl Store for RefundFailingStore {
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
        self.inner.get(key)
    }
    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
        self.inner.scan(kind)
    }
    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
        let refund = matches!(txn.kind, TxnKind::WalletRollback | TxnKind::WalletExpire | TxnKind::WalletDlqRefund);
        if refund && self.fail_refunds.load(Ordering::SeqCst) {
            return Box::pin(async { Err(StoreError::Unavailable { reason: "injected refund failure".into() }) });
        }
        if *self.conflicting.lock().unwrap() == Some(txn.kind) {
            self.conflicts_injected.fetch_add(1, Ordering::SeqCst);
            let key = Key::Wallet(UserId(1));
            return Box::pin(async move { Err(StoreError::Conflict { key, expected: Some(1), actual: Some(2) }) });
        }
        self.inner.commit(txn)
    }
}

struct Fixture {
    store: Arc<RefundFailingStore>,
    wallet: WalletService,
    metrics: Metrics,
}

async fn fixture() -> Fixture {
    let clock: SharedClock = Arc::new(TokioClock::starting_now());
    let store = Arc::new(RefundFailingStore {
        inner: MemoryStore::with_clock(clock.clone()),
        fail_refunds: AtomicBool::new(false),
        conflicting: Mutex::new(None),
        conflicts_injected: AtomicU32::new(0),
    });
    let metrics = Metrics::new();
    let wallet = WalletService::new(
        store.clone(),
        clock,
        metrics.clone(),
        ChaCha8Rng::seed_from_u64(1),
        WalletConfig::default(),
    );
    wallet.open(UserId(1), 1_000).await.unwrap();
    Fixture { store, wallet, metrics }
}

const SUPPLY: Chips = 1_000;

fn reservation_state(f: &Fixture, id: ReservationId) -> ReservationState {
    match f.store.inner.read(Key::Reservation(id)).unwrap().value {
        Value::Reservation(r) => r.state,
        other => panic!("{other:?}"),
    }
}

/// The transaction fragment that moves `amount` committed chips into table 1's escrow.
fn into_table_escrow(amount: Chips) -> Txn {
    let record =
        crate::store::TableRecord { escrow: amount, ..crate::store::TableRecord::empty(TableId(1), vec![UserId(1)]) };
    let key = Key::Table(TableId(1));
    Txn::new(TxnKind::Provision).expect(key, None).put(key, Value::Table(Arc::new(record)))
}

#[tokio::test(start_paused = true)]
async fn reserve_then_commit_moves_chips_once() {
    let f = fixture().await;
    let r = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 300).await.unwrap();
    assert_eq!(f.wallet.balance(UserId(1)).await.unwrap(), 700);
    assert_eq!(f.store.inner.chips_total(), SUPPLY, "the live reservation holds the 300");
    f.wallet.commit(r.id, into_table_escrow(300)).await.unwrap();
    assert_eq!(f.store.inner.chips_total(), SUPPLY, "the table's escrow holds the 300");
    assert_eq!(reservation_state(&f, r.id), ReservationState::Committed);
    assert!(matches!(
        f.wallet.commit(r.id, Txn::new(TxnKind::WalletCommit)).await,
        Err(WalletError::AlreadyFinal { .. })
    ));
    assert!(matches!(f.wallet.rollback(r.id).await, Err(WalletError::AlreadyFinal { .. })));
    assert_eq!(f.metrics.counter(METRIC_RESERVE_TOTAL, &[("status", "success")]), 1);
    assert_eq!(f.metrics.counter(METRIC_COMMIT_TOTAL, &[("status", "success")]), 1);
}

#[tokio::test(start_paused = true)]
async fn insufficient_funds_deducts_nothing() {
    let f = fixture().await;
    let error = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 1_001).await.unwrap_err();
    assert_eq!(error, WalletError::InsufficientFunds { balance: 1_000, amount: 1_001 });
    assert_eq!(f.wallet.balance(UserId(1)).await.unwrap(), 1_000);
    assert_eq!(f.metrics.counter(METRIC_RESERVE_TOTAL, &[("status", "insufficient_funds")]), 1);
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn game_ends_before_commit_so_expiry_refunds() {
    let f = fixture().await;
    let r = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 300).await.unwrap();
    tokio::time::sleep(Duration::from_millis(RESERVATION_TTL_MS - 1)).await;
    assert!(f.wallet.sweep_expired().await.unwrap().expired.is_empty(), "not yet due");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(f.wallet.sweep_expired().await.unwrap().expired, vec![r.id]);
    assert_eq!(reservation_state(&f, r.id), ReservationState::Expired);
    assert_eq!(f.wallet.balance(UserId(1)).await.unwrap(), 1_000);
    assert!(matches!(
        f.wallet.commit(r.id, Txn::new(TxnKind::WalletCommit)).await,
        Err(WalletError::AlreadyFinal { .. })
    ));
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn a_reservation_is_never_committed_after_its_deadline() {
    let f = fixture().await;
    let r = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 300).await.unwrap();
    // Checked by the engine before the deadline, applied by the store after it.
    let (txn, _) = f.wallet.commit_txn(r.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(RESERVATION_TTL_MS + 1)).await;
    assert!(matches!(f.store.commit(txn).await, Err(StoreError::DeadlinePassed { .. })));
    assert!(matches!(f.wallet.commit_txn(r.id).await, Err(WalletError::Expired { .. })));
    assert_eq!(reservation_state(&f, r.id), ReservationState::Live);
    f.wallet.sweep_expired().await.unwrap();
    assert_eq!(reservation_state(&f, r.id), ReservationState::Expired);
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn sweeper_expires_in_deadline_order() {
    let f = fixture().await;
    let first = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = f.wallet.reserve(UserId(1), TableId(1), RequestId(2), 10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(RESERVATION_TTL_MS + 10)).await;
    assert_eq!(f.wallet.sweep_expired().await.unwrap().expired, vec![first.id, second.id]);
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn refund_failure_goes_to_the_dlq_and_the_processor_drains_it() {
    let f = fixture().await;
    let r = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 300).await.unwrap();
    f.store.fail_refunds.store(true, Ordering::SeqCst);
    let outcome = f.wallet.rollback(r.id).await.unwrap();
    let RefundOutcome::DeadLettered(dlq) = outcome else { panic!("expected dead-lettering, got {outcome:?}") };
    assert_eq!(reservation_state(&f, r.id), ReservationState::DeadLettered);
    assert_eq!(f.store.inner.chips_total(), SUPPLY, "the DLQ entry holds the owed chips");
    assert_eq!(f.metrics.counter(METRIC_DLQ_TOTAL, &[]), 1);
    // While refunds still fail the entry stays, with its attempts counted.
    assert_eq!(f.wallet.process_dlq().await.unwrap().failed, vec![dlq]);
    f.store.fail_refunds.store(false, Ordering::SeqCst);
    assert_eq!(f.wallet.process_dlq().await.unwrap().refunded, vec![dlq]);
    assert_eq!(f.wallet.process_dlq().await.unwrap(), DlqReport::default(), "drained; never paid twice");
    assert_eq!(f.wallet.balance(UserId(1)).await.unwrap(), 1_000);
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}

/// From now on, every commit of `kind` (none: no commit) conflicts; returns the conflicts
/// injected so far and starts counting again.
fn conflict_on(f: &Fixture, kind: Option<TxnKind>) -> u32 {
    *f.store.conflicting.lock().unwrap() = kind;
    f.store.conflicts_injected.swap(0, Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn a_conflicting_reserve_or_refund_is_retried_exactly_conflict_retries_max_times() {
    let f = fixture().await;
    conflict_on(&f, Some(TxnKind::WalletReserve));
    let error = f.wallet.reserve(UserId(1), TableId(1), RequestId(1), 300).await.unwrap_err();
    assert!(matches!(error, WalletError::Store(StoreError::Conflict { .. })), "{error:?}");
    assert_eq!(conflict_on(&f, None), CONFLICT_RETRIES_MAX + 1, "the first try and every retry, no more");
    let r = f.wallet.reserve(UserId(1), TableId(1), RequestId(2), 300).await.unwrap();
    conflict_on(&f, Some(TxnKind::WalletRollback));
    let outcome = f.wallet.rollback(r.id).await.unwrap();
    assert!(matches!(outcome, RefundOutcome::DeadLettered(_)), "{outcome:?}");
    assert_eq!(conflict_on(&f, None), CONFLICT_RETRIES_MAX + 1, "the refund's tries before the DLQ");
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn concurrent_reserves_never_overdraw() {
    let f = Arc::new(fixture().await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { f.wallet.reserve(UserId(1), TableId(1), RequestId(i), 150).await }));
    }
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 6, "1000 chips cover six reservations of 150");
    assert_eq!(f.wallet.balance(UserId(1)).await.unwrap(), 100);
    assert_eq!(f.store.inner.chips_total(), SUPPLY);
}
