//! The chip wallet with a two-phase commit for bets: `reserve` (outside the table lock),
//! `commit` (inside it, ideally in the same store transaction as the game-state save),
//! `rollback` (refund), the expiry sweeper, and the dead-letter queue (DLQ) for refunds that
//! fail, with a processor that retries them idempotently.
//!
//! Every chip movement here is one atomic store transaction guarded by versions, so a chip
//! is always in exactly one holder: a wallet, a live reservation, a table's escrow or a DLQ
//! entry. A reservation reaches exactly one final state. This module never touches game
//! rules and never reads the wall clock: absolute time comes from the injected `Clock`,
//! durations from `tokio::time`, identifiers from an injected seeded RNG.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::clock::{SharedClock, TimestampMs};
use crate::ids::{DlqId, RequestId, ReservationId, TableId, UserId};
use crate::metrics::Metrics;
use crate::rules::Chips;
use crate::store::{
    DlqEntry, Key, KeyKind, Reservation, ReservationState, Store, StoreError, Txn, Value, Versioned, Wallet,
};

/// How long a reservation may stay live before the sweeper refunds it (5 minutes).
pub const RESERVATION_TTL_MS: u64 = 5 * 60 * 1_000;
/// How often the sweeper and the DLQ processor run.
pub const SWEEP_INTERVAL_MS: u64 = 1_000;
/// Attempts at a reserve or refund when the store reports a version conflict (another
/// writer touched the wallet in between) before giving up.
pub const CONFLICT_RETRIES_MAX: u32 = 8;

pub const METRIC_RESERVE_TOTAL: &str = "poker_wallet_reserve_total";
pub const METRIC_COMMIT_TOTAL: &str = "poker_wallet_commit_total";
pub const METRIC_ROLLBACK_TOTAL: &str = "poker_wallet_rollback_total";
pub const METRIC_DLQ_TOTAL: &str = "poker_wallet_dlq_total";
pub const METRIC_EXPIRED_TOTAL: &str = "poker_wallet_expired_total";
pub const METRIC_DLQ_PROCESSED_TOTAL: &str = "poker_wallet_dlq_processed_total";
pub const METRIC_OPERATION_DURATION: &str = "poker_wallet_operation_duration_seconds";

/// Wallet settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    pub reservation_ttl_ms: u64,
    pub sweep_interval_ms: u64,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig { reservation_ttl_ms: RESERVATION_TTL_MS, sweep_interval_ms: SWEEP_INTERVAL_MS }
    }
}

/// Expected wallet failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletError {
    #[error("insufficient funds: balance {balance}, needed {amount}")]
    InsufficientFunds { balance: Chips, amount: Chips },
    #[error("no wallet for {user}")]
    UnknownUser { user: UserId },
    #[error("reservation {id} not found")]
    NotFound { id: ReservationId },
    #[error("reservation {id} is already {state:?}")]
    AlreadyFinal { id: ReservationId, state: ReservationState },
    #[error("reservation {id} passed its deadline")]
    Expired { id: ReservationId },
    #[error("amount must be positive")]
    ZeroAmount,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a refund ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    /// The chips are back in the wallet.
    Refunded,
    /// The refund failed and the chips are owed through the DLQ entry.
    DeadLettered(DlqId),
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub expired: Vec<ReservationId>,
    pub dead_lettered: Vec<ReservationId>,
    pub failed: Vec<ReservationId>,
}

/// What one DLQ pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqReport {
    pub refunded: Vec<DlqId>,
    pub failed: Vec<DlqId>,
}

/// The wallet service. Cheap to share (`Arc`); holds no chips itself.
pub struct WalletService {
    store: Arc<dyn Store>,
    clock: SharedClock,
    metrics: Metrics,
    config: WalletConfig,
    rng: Mutex<ChaCha8Rng>,
}

impl WalletService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        metrics: Metrics,
        rng: ChaCha8Rng,
        config: WalletConfig,
    ) -> WalletService {
        WalletService { store, clock, metrics, config, rng: Mutex::new(rng) }
    }

    pub fn config(&self) -> WalletConfig {
        self.config
    }

    fn next_id(&self) -> u64 {
        self.rng.lock().expect("wallet rng").random()
    }

    /// Opens a wallet with `balance` chips (set-up; fails if it exists).
    pub async fn open(&self, user: UserId, balance: Chips) -> Result<(), WalletError> {
        let key = Key::Wallet(user);
        self.store
            .commit(Txn::new("wallet.open").expect(key, None).put(key, Value::Wallet(Wallet { user, balance })))
            .await?;
        Ok(())
    }

    /// The wallet's balance now.
    pub async fn balance(&self, user: UserId) -> Result<Chips, WalletError> {
        match self.read_wallet(user).await? {
            (Some(_), balance) => Ok(balance),
            (None, _) => Err(WalletError::UnknownUser { user }),
        }
    }

    /// A transaction fragment that credits `amount` to `user`'s wallet, guarded by the
    /// version it was read at unless `guarded` is false (the unguarded read-modify-write of
    /// the historical designs). Merge it into the caller's transaction.
    pub async fn credit_txn(&self, user: UserId, amount: Chips, guarded: bool) -> Result<Txn, StoreError> {
        let (read, balance) = self.read_wallet(user).await?;
        let key = Key::Wallet(user);
        let txn = Txn::new("wallet.credit");
        let txn = if guarded { txn.expect_read(key, read.as_ref()) } else { txn };
        Ok(txn.put(key, Value::Wallet(Wallet { user, balance: balance + amount })))
    }

    /// The wallet's row as read (for a version check) and its balance (0 if there is none).
    async fn read_wallet(&self, user: UserId) -> Result<(Option<Versioned>, Chips), StoreError> {
        let read = self.store.get(Key::Wallet(user)).await?;
        let balance = match read.as_ref().map(|v| &v.value) {
            Some(Value::Wallet(w)) => w.balance,
            Some(other) => panic!("invariant key_holds_its_kind: wallet key holds {other:?}"),
            None => 0,
        };
        Ok((read, balance))
    }

    /// Phase one: checks the balance, deducts `amount` and creates a live reservation that
    /// expires after the TTL — one atomic store transaction. Insufficient funds deduct
    /// nothing. Call it outside the table lock.
    pub async fn reserve(
        &self,
        user: UserId,
        table: TableId,
        request: RequestId,
        amount: Chips,
    ) -> Result<Reservation, WalletError> {
        let started = Instant::now();
        let result = self.reserve_inner(user, table, request, amount).await;
        let status = match &result {
            Ok(_) => "success",
            Err(WalletError::InsufficientFunds { .. }) => "insufficient_funds",
            Err(_) => "error",
        };
        self.metrics.increment(METRIC_RESERVE_TOTAL, &[("status", status)]);
        self.metrics.record(METRIC_OPERATION_DURATION, &[("operation", "reserve")], started.elapsed());
        result
    }

    async fn reserve_inner(
        &self,
        user: UserId,
        table: TableId,
        request: RequestId,
        amount: Chips,
    ) -> Result<Reservation, WalletError> {
        if amount == 0 {
            return Err(WalletError::ZeroAmount);
        }
        let wallet_key = Key::Wallet(user);
        let mut attempt = 0;
        loop {
            let (Some(read), balance) = self.read_wallet(user).await? else {
                return Err(WalletError::UnknownUser { user });
            };
            if balance < amount {
                return Err(WalletError::InsufficientFunds { balance, amount });
            }
            let now_ms = self.clock.now_ms();
            let reservation = Reservation {
                id: ReservationId(self.next_id()),
                user,
                table,
                request,
                amount,
                created_ms: now_ms,
                deadline_ms: now_ms + self.config.reservation_ttl_ms,
                state: ReservationState::Live,
            };
            let rsv_key = Key::Reservation(reservation.id);
            let txn = Txn::new("wallet.reserve")
                .expect_read(wallet_key, Some(&read))
                .expect(rsv_key, None)
                .put(wallet_key, Value::Wallet(Wallet { user, balance: balance - amount }))
                .put(rsv_key, Value::Reservation(reservation.clone()));
            match self.store.commit(txn).await {
                Ok(_) => return Ok(reservation),
                Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// A direct debit with no reservation: the `deduct_before_lock` design, kept so the
    /// simulator can show what it loses. Guarded by the wallet's version; insufficient funds
    /// deduct nothing.
    pub async fn debit(&self, user: UserId, amount: Chips, label: &str) -> Result<(), WalletError> {
        self.adjust(user, amount, false, label).await
    }

    /// A direct credit (the `deduct_before_lock` design's compensation): no DLQ behind it.
    pub async fn credit(&self, user: UserId, amount: Chips, label: &str) -> Result<(), WalletError> {
        self.adjust(user, amount, true, label).await
    }

    async fn adjust(&self, user: UserId, amount: Chips, credit: bool, label: &str) -> Result<(), WalletError> {
        let mut attempt = 0;
        loop {
            let (read, balance) = self.read_wallet(user).await?;
            let balance = if credit {
                balance + amount
            } else if balance >= amount {
                balance - amount
            } else {
                return Err(WalletError::InsufficientFunds { balance, amount });
            };
            let key = Key::Wallet(user);
            let txn = Txn::new(label).expect_read(key, read.as_ref()).put(key, Value::Wallet(Wallet { user, balance }));
            match self.store.commit(txn).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The store writes that commit a live reservation, to be merged into the caller's
    /// transaction (with the game-state save: one atomic step). Fails if the reservation is
    /// not live or its deadline has passed; the store refuses the transaction if it applies
    /// after the deadline.
    pub async fn commit_txn(&self, id: ReservationId) -> Result<(Txn, Reservation), WalletError> {
        let key = Key::Reservation(id);
        let read = self.store.get(key).await?.ok_or(WalletError::NotFound { id })?;
        let Value::Reservation(reservation) = &read.value else {
            panic!("invariant key_holds_its_kind: reservation key holds {:?}", read.value)
        };
        if reservation.state != ReservationState::Live {
            return Err(WalletError::AlreadyFinal { id, state: reservation.state });
        }
        if self.clock.now_ms() > reservation.deadline_ms {
            return Err(WalletError::Expired { id });
        }
        let mut committed = reservation.clone();
        committed.state = ReservationState::Committed;
        let txn = Txn::new("wallet.commit")
            .expect_read(key, Some(&read))
            .put(key, Value::Reservation(committed))
            .not_after(reservation.deadline_ms);
        Ok((txn, reservation.clone()))
    }

    /// Records the outcome of a commit that the caller applied (metrics only).
    pub fn record_commit(&self, status: &str, duration: Duration) {
        self.metrics.increment(METRIC_COMMIT_TOTAL, &[("status", status)]);
        self.metrics.record(METRIC_OPERATION_DURATION, &[("operation", "commit")], duration);
    }

    /// Phase two on its own (the `seed_2pc` design, where commit and save are separate
    /// store writes): marks the reservation committed. `extra` is merged into the same
    /// transaction (e.g. the table's escrow credit).
    pub async fn commit(&self, id: ReservationId, extra: Txn) -> Result<Reservation, WalletError> {
        let started = Instant::now();
        let result = async {
            let (txn, reservation) = self.commit_txn(id).await?;
            self.store.commit(txn.merge(extra)).await?;
            Ok(reservation)
        }
        .await;
        let status = match &result {
            Ok(_) => "success",
            Err(WalletError::NotFound { .. }) => "not_found",
            Err(_) => "error",
        };
        self.record_commit(status, started.elapsed());
        result
    }

    /// Abort: refunds a live reservation to its wallet. If the refund fails, the chips go
    /// to the dead-letter queue with the reservation, the error and the time. Rolling back a
    /// reservation that is already final changes nothing and says so.
    pub async fn rollback(&self, id: ReservationId) -> Result<RefundOutcome, WalletError> {
        let started = Instant::now();
        let result = self.refund(id, ReservationState::RolledBack).await;
        let status = match &result {
            Ok(_) => "success",
            Err(WalletError::NotFound { .. }) => "not_found",
            Err(_) => "error",
        };
        self.metrics.increment(METRIC_ROLLBACK_TOTAL, &[("status", status)]);
        self.metrics.record(METRIC_OPERATION_DURATION, &[("operation", "rollback")], started.elapsed());
        result
    }

    /// Refunds a live reservation, ending it in `final_state` (rolled back or expired), or
    /// dead-letters it when the refund transaction fails.
    async fn refund(&self, id: ReservationId, final_state: ReservationState) -> Result<RefundOutcome, WalletError> {
        let key = Key::Reservation(id);
        let mut attempt = 0;
        loop {
            let read = self.store.get(key).await?.ok_or(WalletError::NotFound { id })?;
            let Value::Reservation(reservation) = &read.value else {
                panic!("invariant key_holds_its_kind: reservation key holds {:?}", read.value)
            };
            if reservation.state != ReservationState::Live {
                return Err(WalletError::AlreadyFinal { id, state: reservation.state });
            }
            let wallet_key = Key::Wallet(reservation.user);
            let (wallet_read, balance) = self.read_wallet(reservation.user).await?;
            let mut ended = reservation.clone();
            ended.state = final_state;
            let label = if final_state == ReservationState::Expired { "wallet.expire" } else { "wallet.rollback" };
            let txn = Txn::new(label)
                .expect_read(key, Some(&read))
                .expect_read(wallet_key, wallet_read.as_ref())
                .put(key, Value::Reservation(ended))
                .put(
                    wallet_key,
                    Value::Wallet(Wallet { user: reservation.user, balance: balance + reservation.amount }),
                );
            match self.store.commit(txn).await {
                Ok(_) => {
                    if final_state == ReservationState::Expired {
                        self.metrics.increment(METRIC_EXPIRED_TOTAL, &[]);
                    }
                    return Ok(RefundOutcome::Refunded);
                }
                Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return self.dead_letter(&read.version, reservation, error).await,
            }
        }
    }

    /// Moves a live reservation's chips into a DLQ entry after a failed refund.
    async fn dead_letter(
        &self,
        version: &u64,
        reservation: &Reservation,
        error: StoreError,
    ) -> Result<RefundOutcome, WalletError> {
        let entry = DlqEntry {
            id: DlqId(self.next_id()),
            reservation: reservation.clone(),
            amount: reservation.amount,
            error: error.to_string(),
            created_ms: self.clock.now_ms(),
            attempts: 0,
        };
        let mut ended = reservation.clone();
        ended.state = ReservationState::DeadLettered;
        let key = Key::Reservation(reservation.id);
        let dlq_key = Key::Dlq(entry.id);
        let txn = Txn::new("wallet.dead_letter")
            .expect(key, Some(*version))
            .expect(dlq_key, None)
            .put(key, Value::Reservation(ended))
            .put(dlq_key, Value::Dlq(entry.clone()));
        match self.store.commit(txn).await {
            Ok(_) => {
                self.metrics.increment(METRIC_DLQ_TOTAL, &[]);
                tracing::warn!(reservation = %reservation.id, error = %entry.error, "refund failed; dead-lettered");
                Ok(RefundOutcome::DeadLettered(entry.id))
            }
            // The reservation is still live: the sweeper will try again at its deadline.
            Err(_) => Err(WalletError::Store(error)),
        }
    }

    /// Expires every live reservation past its deadline, earliest deadline first, refunding
    /// (or dead-lettering) each.
    pub async fn sweep_expired(&self) -> Result<SweepReport, WalletError> {
        let now_ms = self.clock.now_ms();
        let mut due: Vec<(TimestampMs, ReservationId)> = self
            .store
            .scan(KeyKind::Reservation)
            .await?
            .into_iter()
            .filter_map(|(_, v)| match v.value {
                Value::Reservation(r) if r.state == ReservationState::Live && r.deadline_ms < now_ms => {
                    Some((r.deadline_ms, r.id))
                }
                _ => None,
            })
            .collect();
        due.sort_unstable();
        let mut report = SweepReport::default();
        for (_, id) in due {
            match self.refund(id, ReservationState::Expired).await {
                Ok(RefundOutcome::Refunded) => report.expired.push(id),
                Ok(RefundOutcome::DeadLettered(_)) => report.dead_lettered.push(id),
                // Committed or rolled back in the meantime: nothing to expire.
                Err(WalletError::AlreadyFinal { .. } | WalletError::NotFound { .. }) => {}
                Err(_) => report.failed.push(id),
            }
        }
        Ok(report)
    }

    /// Retries every DLQ entry: credits the wallet and deletes the entry in one transaction,
    /// so a retry after an unknown outcome can never pay twice.
    pub async fn process_dlq(&self) -> Result<DlqReport, WalletError> {
        let entries = self.store.scan(KeyKind::Dlq).await?;
        let mut report = DlqReport::default();
        for (key, versioned) in entries {
            let Value::Dlq(entry) = &versioned.value else {
                panic!("invariant key_holds_its_kind: dlq key holds {:?}", versioned.value)
            };
            let wallet_key = Key::Wallet(entry.reservation.user);
            let outcome = async {
                let (wallet_read, balance) = self.read_wallet(entry.reservation.user).await?;
                let txn = Txn::new("wallet.dlq_refund")
                    .expect_read(key, Some(&versioned))
                    .expect_read(wallet_key, wallet_read.as_ref())
                    .delete(key)
                    .put(
                        wallet_key,
                        Value::Wallet(Wallet { user: entry.reservation.user, balance: balance + entry.amount }),
                    );
                self.store.commit(txn).await
            }
            .await;
            match outcome {
                Ok(_) => {
                    self.metrics.increment(METRIC_DLQ_PROCESSED_TOTAL, &[]);
                    report.refunded.push(entry.id);
                }
                Err(_) => {
                    report.failed.push(entry.id);
                    let mut retried = entry.clone();
                    retried.attempts += 1;
                    let bump =
                        Txn::new("wallet.dlq_attempt").expect_read(key, Some(&versioned)).put(key, Value::Dlq(retried));
                    // Best effort: the count is for operators, the entry stays either way.
                    let _ = self.store.commit(bump).await;
                }
            }
        }
        Ok(report)
    }

    /// Runs the expiry sweeper and the DLQ processor forever, every `sweep_interval_ms`.
    pub async fn run_background(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_millis(self.config.sweep_interval_ms)).await;
            if let Err(error) = self.sweep_expired().await {
                tracing::debug!(%error, "sweep failed; will retry");
            }
            if let Err(error) = self.process_dlq().await {
                tracing::debug!(%error, "dlq pass failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::store::{MemoryStore, StoreFuture, Versioned};
    use rand::SeedableRng;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A store that fails refund transactions while `fail_refunds` is set.
    struct RefundFailingStore {
        inner: MemoryStore,
        fail_refunds: AtomicBool,
    }

    impl Store for RefundFailingStore {
        fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
            self.inner.get(key)
        }
        fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
            self.inner.scan(kind)
        }
        fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
            let refund = matches!(txn.label.as_str(), "wallet.rollback" | "wallet.expire" | "wallet.dlq_refund");
            if refund && self.fail_refunds.load(Ordering::SeqCst) {
                return Box::pin(async { Err(StoreError::Unavailable { reason: "injected refund failure".into() }) });
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
        let record = crate::store::TableRecord {
            table: TableId(1),
            seats: vec![UserId(1)],
            hand_seats: vec![UserId(1)],
            hand_number: 1,
            game: None,
            escrow: amount,
            processing: false,
        };
        let key = Key::Table(TableId(1));
        Txn::new("test.escrow").expect(key, None).put(key, Value::Table(Box::new(record)))
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
        assert!(matches!(f.wallet.commit(r.id, Txn::new("test")).await, Err(WalletError::AlreadyFinal { .. })));
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
        assert!(matches!(f.wallet.commit(r.id, Txn::new("late")).await, Err(WalletError::AlreadyFinal { .. })));
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
}
