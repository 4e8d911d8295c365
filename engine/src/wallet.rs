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

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::buggify::{Buggify, FaultPoint, Probe};
use crate::clock::{SharedClock, TimestampMs};
use crate::ids::{DlqId, RequestId, ReservationId, TableId, UserId};
use crate::metrics::Metrics;
use crate::rules::Chips;
use crate::store::{
    DlqEntry, Guard, Key, KeyKind, Reservation, ReservationState, Store, StoreError, Txn, TxnKind, Value, Versioned,
    Wallet,
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

/// A wallet row as read: what a guarded write must find unchanged, and the balance (0 when
/// there is no row). Only [`WalletService::read`] makes one, and only its fragments write
/// the row back, so the wallet service stays the one writer of wallet rows.
#[derive(Clone, Debug, PartialEq)]
pub struct WalletRead {
    pub user: UserId,
    row: Option<Versioned>,
    pub balance: Chips,
}

impl WalletRead {
    /// Whether the wallet exists.
    pub fn exists(&self) -> bool {
        self.row.is_some()
    }

    /// A fragment that credits `amount`, guarded (or not) by the version read.
    pub fn credit_txn(&self, amount: Chips, guard: Guard) -> Txn {
        self.write_txn(TxnKind::WalletCredit, self.balance + amount, guard)
    }

    /// A fragment that debits `amount`, guarded (or not) by the version read. The caller has
    /// checked the balance: a debit beyond it is a broken invariant.
    pub fn debit_txn(&self, amount: Chips, guard: Guard) -> Txn {
        let balance = self.balance.checked_sub(amount).unwrap_or_else(|| {
            panic!("invariant wallet_never_negative: {} holds {}, debited {amount}", self.user, self.balance)
        });
        self.write_txn(TxnKind::WalletDebit, balance, guard)
    }

    fn write_txn(&self, kind: TxnKind, balance: Chips, guard: Guard) -> Txn {
        let key = Key::Wallet(self.user);
        Txn::new(kind).guard(key, self.row.as_ref(), guard).put(key, Value::Wallet(Wallet { user: self.user, balance }))
    }
}

/// The house's row as read (the rake it keeps), for the same guarded fragments as a wallet.
#[derive(Clone, Debug, PartialEq)]
pub struct HouseRead {
    row: Option<Versioned>,
    pub chips: Chips,
}

impl HouseRead {
    /// A fragment that adds `amount` to the house, guarded by the version read.
    pub fn credit_txn(&self, amount: Chips) -> Txn {
        self.write_txn(TxnKind::WalletCredit, self.chips + amount)
    }

    /// A fragment that takes `amount` from the house, guarded by the version read. The caller
    /// has checked that the house holds it.
    pub fn debit_txn(&self, amount: Chips) -> Txn {
        let chips = self.chips.checked_sub(amount).unwrap_or_else(|| {
            panic!("invariant house_never_negative: the house holds {}, debited {amount}", self.chips)
        });
        self.write_txn(TxnKind::WalletDebit, chips)
    }

    fn write_txn(&self, kind: TxnKind, chips: Chips) -> Txn {
        Txn::new(kind).expect_read(Key::House, self.row.as_ref()).put(Key::House, Value::House(chips))
    }
}

/// The wallet service. Cheap to share (`Arc`); holds no chips itself. It is the only writer
/// of wallet rows and the house's row: everyone else merges its fragments.
pub struct WalletService {
    store: Arc<dyn Store>,
    clock: SharedClock,
    metrics: Metrics,
    config: WalletConfig,
    rng: Mutex<ChaCha8Rng>,
    buggify: Buggify,
}

fn status_of<T>(result: &Result<T, WalletError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(WalletError::InsufficientFunds { .. }) => "insufficient_funds",
        Err(WalletError::NotFound { .. }) => "not_found",
        Err(_) => "error",
    }
}

impl WalletService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        metrics: Metrics,
        rng: ChaCha8Rng,
        config: WalletConfig,
    ) -> WalletService {
        WalletService { store, clock, metrics, config, rng: Mutex::new(rng), buggify: Buggify::off() }
    }

    /// This service with its fault points and probes on `buggify`'s hooks.
    pub fn with_buggify(mut self, buggify: Buggify) -> WalletService {
        self.buggify = buggify;
        self
    }

    /// The fault points and probes the service was given (the game engine shares them).
    pub fn buggify(&self) -> &Buggify {
        &self.buggify
    }

    pub fn config(&self) -> WalletConfig {
        self.config
    }

    fn next_id(&self) -> u64 {
        self.rng.lock().expect("wallet rng").random()
    }

    /// Runs one operation and records it under the operators' names: its counter by status
    /// and `poker_wallet_operation_duration_seconds{operation}`.
    async fn measured<T>(
        &self,
        operation: &'static str,
        counter: &'static str,
        work: impl Future<Output = Result<T, WalletError>>,
    ) -> Result<T, WalletError> {
        let started = Instant::now();
        let result = work.await;
        self.metrics.increment(counter, &[("status", status_of(&result))]);
        self.metrics.record(METRIC_OPERATION_DURATION, &[("operation", operation)], started.elapsed());
        result
    }

    /// Opens a wallet with `balance` chips (set-up; fails if it exists).
    pub async fn open(&self, user: UserId, balance: Chips) -> Result<(), WalletError> {
        let key = Key::Wallet(user);
        let txn = Txn::new(TxnKind::WalletOpen).expect(key, None).put(key, Value::Wallet(Wallet { user, balance }));
        self.store.commit(txn).await?;
        Ok(())
    }

    /// The wallet's balance now.
    pub async fn balance(&self, user: UserId) -> Result<Chips, WalletError> {
        let read = self.read(user).await?;
        if !read.exists() {
            return Err(WalletError::UnknownUser { user });
        }
        Ok(read.balance)
    }

    /// Reads `user`'s wallet row (one store call), for fragments that write it back.
    pub async fn read(&self, user: UserId) -> Result<WalletRead, StoreError> {
        let row = self.store.get(Key::Wallet(user)).await?;
        let balance = row.as_ref().map_or(0, |v| v.value.as_wallet().balance);
        Ok(WalletRead { user, row, balance })
    }

    /// Reads the house's row (one store call), for fragments that write it back.
    pub async fn read_house(&self) -> Result<HouseRead, StoreError> {
        let row = self.store.get(Key::House).await?;
        let chips = row.as_ref().map_or(0, |v| v.value.as_house());
        Ok(HouseRead { row, chips })
    }

    /// A transaction fragment that credits `amount` to `user`'s wallet, guarded by the
    /// version it was read at (or, for the historical designs, not). Merge it into the
    /// caller's transaction.
    pub async fn credit_txn(&self, user: UserId, amount: Chips, guard: Guard) -> Result<Txn, StoreError> {
        Ok(self.read(user).await?.credit_txn(amount, guard))
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
        self.measured("reserve", METRIC_RESERVE_TOTAL, self.reserve_inner(user, table, request, amount)).await
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
        let mut attempt = 0;
        loop {
            let wallet = self.read(user).await?;
            if !wallet.exists() {
                return Err(WalletError::UnknownUser { user });
            }
            if wallet.balance < amount {
                return Err(WalletError::InsufficientFunds { balance: wallet.balance, amount });
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
            let txn = Txn::new(TxnKind::WalletReserve)
                .merge(wallet.debit_txn(amount, Guard::Versioned))
                .expect(rsv_key, None)
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
    pub async fn debit(&self, user: UserId, amount: Chips, kind: TxnKind) -> Result<(), WalletError> {
        self.adjust(user, kind, |wallet| {
            if wallet.balance < amount {
                return Err(WalletError::InsufficientFunds { balance: wallet.balance, amount });
            }
            Ok(wallet.debit_txn(amount, Guard::Versioned))
        })
        .await
    }

    /// A direct credit (the `deduct_before_lock` design's compensation): no DLQ behind it.
    pub async fn credit(&self, user: UserId, amount: Chips, kind: TxnKind) -> Result<(), WalletError> {
        self.adjust(user, kind, |wallet| Ok(wallet.credit_txn(amount, Guard::Versioned))).await
    }

    /// Reads the wallet, writes what `fragment` makes of it as a transaction of `kind`, and
    /// retries on a version conflict.
    async fn adjust(
        &self,
        user: UserId,
        kind: TxnKind,
        fragment: impl Fn(&WalletRead) -> Result<Txn, WalletError>,
    ) -> Result<(), WalletError> {
        let mut attempt = 0;
        loop {
            let wallet = self.read(user).await?;
            let txn = Txn::new(kind).merge(fragment(&wallet)?);
            match self.store.commit(txn).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The live reservation `id` as read, or why it cannot move: not found, already final.
    async fn read_live(&self, id: ReservationId) -> Result<(Versioned, Reservation), WalletError> {
        let read = self.store.get(Key::Reservation(id)).await?.ok_or(WalletError::NotFound { id })?;
        let reservation = read.value.as_reservation().clone();
        if reservation.state != ReservationState::Live {
            return Err(WalletError::AlreadyFinal { id, state: reservation.state });
        }
        Ok((read, reservation))
    }

    /// The store writes that commit a live reservation, to be merged into the caller's
    /// transaction (with the game-state save: one atomic step). Fails if the reservation is
    /// not live or its deadline has passed; the store refuses the transaction if it applies
    /// after the deadline.
    pub async fn commit_txn(&self, id: ReservationId) -> Result<(Txn, Reservation), WalletError> {
        let (read, reservation) = self.read_live(id).await?;
        if self.clock.now_ms() > reservation.deadline_ms {
            self.buggify.probe(Probe::CommitRefusedAfterDeadline);
            return Err(WalletError::Expired { id });
        }
        let key = Key::Reservation(id);
        let txn = Txn::new(TxnKind::WalletCommit)
            .expect_read(key, Some(&read))
            .put(key, Value::Reservation(reservation.transition(ReservationState::Committed)))
            .not_after(reservation.deadline_ms);
        Ok((txn, reservation))
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
        let work = async {
            let (txn, reservation) = self.commit_txn(id).await?;
            self.store.commit(txn.merge(extra)).await?;
            Ok(reservation)
        };
        self.measured("commit", METRIC_COMMIT_TOTAL, work).await
    }

    /// Abort: refunds a live reservation to its wallet. If the refund fails, the chips go
    /// to the dead-letter queue with the reservation, the error and the time. Rolling back a
    /// reservation that is already final changes nothing and says so.
    pub async fn rollback(&self, id: ReservationId) -> Result<RefundOutcome, WalletError> {
        self.measured("rollback", METRIC_ROLLBACK_TOTAL, self.refund(id, ReservationState::RolledBack)).await
    }

    /// Refunds a live reservation, ending it in `final_state` (rolled back or expired), or
    /// dead-letters it when the refund transaction fails.
    async fn refund(&self, id: ReservationId, final_state: ReservationState) -> Result<RefundOutcome, WalletError> {
        let key = Key::Reservation(id);
        let kind =
            if final_state == ReservationState::Expired { TxnKind::WalletExpire } else { TxnKind::WalletRollback };
        let mut attempt = 0;
        loop {
            let (read, reservation) = self.read_live(id).await?;
            let wallet = self.read(reservation.user).await?;
            let txn = Txn::new(kind)
                .expect_read(key, Some(&read))
                .put(key, Value::Reservation(reservation.transition(final_state)))
                .merge(wallet.credit_txn(reservation.amount, Guard::Versioned));
            match self.store.commit(txn).await {
                Ok(_) => {
                    if final_state == ReservationState::Expired {
                        self.metrics.increment(METRIC_EXPIRED_TOTAL, &[]);
                        self.buggify.probe(Probe::ReservationExpiredBySweeper);
                    }
                    return Ok(RefundOutcome::Refunded);
                }
                Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return self.dead_letter(read.version, &reservation, error).await,
            }
        }
    }

    /// Moves a live reservation's chips into a DLQ entry after a failed refund.
    async fn dead_letter(
        &self,
        version: u64,
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
        let key = Key::Reservation(reservation.id);
        let dlq_key = Key::Dlq(entry.id);
        let txn = Txn::new(TxnKind::WalletDeadLetter)
            .expect(key, Some(version))
            .expect(dlq_key, None)
            .put(key, Value::Reservation(reservation.transition(ReservationState::DeadLettered)))
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
            .map(|(_, row)| row.value.as_reservation().clone())
            .filter(|r| r.state == ReservationState::Live && r.deadline_ms < now_ms)
            .map(|r| (r.deadline_ms, r.id))
            .collect();
        due.sort_unstable();
        let mut report = SweepReport::default();
        for (_, id) in due {
            self.buggify.pause(FaultPoint::SweepBeforeRefund).await;
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
        for (key, row) in entries {
            let entry = row.value.as_dlq();
            let outcome = async {
                self.buggify.point(FaultPoint::DlqBeforeRedrive).await?;
                let wallet = self.read(entry.reservation.user).await?;
                let txn = Txn::new(TxnKind::WalletDlqRefund)
                    .expect_read(key, Some(&row))
                    .delete(key)
                    .merge(wallet.credit_txn(entry.amount, Guard::Versioned));
                self.store.commit(txn).await
            }
            .await;
            match outcome {
                Ok(_) => {
                    self.metrics.increment(METRIC_DLQ_PROCESSED_TOTAL, &[]);
                    self.buggify.probe(Probe::DlqRedriveSucceeded);
                    report.refunded.push(entry.id);
                }
                Err(_) => {
                    report.failed.push(entry.id);
                    let retried = DlqEntry { attempts: entry.attempts + 1, ..entry.clone() };
                    let bump =
                        Txn::new(TxnKind::WalletDlqAttempt).expect_read(key, Some(&row)).put(key, Value::Dlq(retried));
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
mod tests;
