//! The engine↔store link: the simulated network path between the engine process and the
//! durable store, inside the engine host (as TigerBeetle simulates its storage). The store
//! itself (`MemoryStore`) lives outside every host, so it survives engine crashes.
//!
//! Fault model, per call, while faults are on: latency drawn from the scenario's range
//! (exact to the microsecond: the engine host's tokio clock auto-advances to each timer,
//! whatever turmoil's tick), a slow call (seconds, inside whatever lock the caller holds), a
//! failure before the store (nothing applied), a timeout before the store (nothing applied,
//! the engine waits its call timeout), a lost reply (applied, the engine sees a timeout),
//! refund failures (rollback, expiry, DLQ and compensation credits fail), a stale writer
//! (another writer bumps the table just before a save, forcing a version conflict),
//! partitions (scheduled, or opened right after a reservation — in the middle of a 2PC), and
//! crash points (the engine process dies right after a transaction with a chosen label
//! applied: every later call of that process hangs until the world crashes the host).
//!
//! Every applied transaction runs the checkers, atomically with the apply
//! ([`SimContext::apply_txn`]: nothing can run in between).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use engine::clock::{Clock, TimestampMs};
use engine::store::{Key, KeyKind, Store, StoreError, StoreFuture, Txn, TxnKind, Versioned};
use rand::Rng;

use crate::context::{SimContext, Stream};
use crate::faults::kind::FaultKind;
use crate::faults::plan::{Window, draw_range};

const HOST: &str = "engine";

/// The store's clock: simulated time since the start of the run, in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SimClock;

impl Clock for SimClock {
    fn now_ms(&self) -> TimestampMs {
        turmoil::sim_elapsed().unwrap_or_default().as_millis() as TimestampMs
    }
}

/// What the dice decided for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallFault {
    None,
    Failure,
    TimeoutBefore,
    LostReply,
    RefundFailure,
}

/// The link, as the engine's `Store`.
pub(crate) struct StoreLink {
    context: Arc<SimContext>,
}

impl StoreLink {
    pub fn new(context: Arc<SimContext>) -> StoreLink {
        StoreLink { context }
    }

    fn now_ms(&self) -> u64 {
        self.context.now_us() / 1_000
    }

    fn crashing(&self) -> bool {
        self.context.state().crash_requested()
    }

    fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.context.scenario.store.call_timeout_ms)
    }

    /// Draws latency, slowness and the call's fault.
    fn draw(&self, kind: Option<TxnKind>) -> (u64, u64, CallFault, bool) {
        let plan = &self.context.plan.settings;
        let faults_on = self.context.faults_on();
        let latency_us = self.context.scenario.store.latency_us;
        let mut state = self.context.state();
        let rng = state.stream(Stream::Store);
        let latency = draw_range(rng, latency_us);
        if !faults_on {
            return (latency, 0, CallFault::None, false);
        }
        let slow_ms =
            if rng.random_bool(plan.slow_store_probability) { draw_range(rng, plan.slow_store_ms) } else { 0 };
        let refund = kind.is_some_and(TxnKind::is_refund);
        let fault = if refund && rng.random_bool(plan.refund_failure_probability) {
            CallFault::RefundFailure
        } else if rng.random_bool(plan.store_failure_probability) {
            CallFault::Failure
        } else if rng.random_bool(plan.store_timeout_probability) {
            CallFault::TimeoutBefore
        } else if kind.is_some() && rng.random_bool(plan.lost_reply_probability) {
            CallFault::LostReply
        } else {
            CallFault::None
        };
        let stale_writer = kind.is_some_and(TxnKind::is_hand_save) && rng.random_bool(plan.stale_writer_probability);
        (latency, slow_ms, fault, stale_writer)
    }

    fn partitioned(&self) -> bool {
        let at_ms = self.now_ms();
        self.context.faults_on() && self.context.state().is_partitioned(&self.context.plan, at_ms)
    }

    /// The first half of a call: latency (and slowness) on the way to the store, then the
    /// faults that stop a call before it arrives.
    async fn outbound(&self, what: &str, latency_us: u64, slow_ms: u64, fault: CallFault) -> Result<(), StoreError> {
        if slow_ms > 0 {
            self.context.fault(HOST, FaultKind::SlowStore, format!("{what} +{slow_ms} ms"));
        }
        tokio::time::sleep(Duration::from_micros(latency_us / 2) + Duration::from_millis(slow_ms)).await;
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        if self.partitioned() {
            self.context.fault(HOST, FaultKind::PartitionRefused, what.to_string());
            tokio::time::sleep(self.call_timeout()).await;
            return Err(StoreError::TimedOut);
        }
        match fault {
            CallFault::Failure => {
                self.context.fault(HOST, FaultKind::StoreFailure, what.to_string());
                Err(StoreError::Unavailable { reason: "injected store failure".into() })
            }
            CallFault::RefundFailure => {
                self.context.fault(HOST, FaultKind::RefundFailure, what.to_string());
                Err(StoreError::Unavailable { reason: "injected refund failure".into() })
            }
            CallFault::TimeoutBefore => {
                self.context.fault(HOST, FaultKind::StoreTimeout, what.to_string());
                tokio::time::sleep(self.call_timeout()).await;
                Err(StoreError::TimedOut)
            }
            CallFault::None | CallFault::LostReply => Ok(()),
        }
    }

    /// The second half: latency on the way back, and a reply lost to a fault or a partition
    /// that began while the call was at the store.
    async fn inbound(&self, what: &str, latency_us: u64, fault: CallFault) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_micros(latency_us - latency_us / 2)).await;
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        let partitioned = self.partitioned();
        if fault == CallFault::LostReply || partitioned {
            let kind = if partitioned { FaultKind::PartitionLostReply } else { FaultKind::LostReply };
            self.context.fault(HOST, kind, what.to_string());
            tokio::time::sleep(self.call_timeout()).await;
            return Err(StoreError::TimedOut);
        }
        Ok(())
    }

    /// Another writer rewrites `key` as it is (version + 1), so the save about to apply
    /// fails its version check.
    fn stale_write(&self, txn: &Txn) {
        let Some(key) = txn.writes.iter().map(|w| w.key).find(|k| matches!(k, Key::Table(_))) else { return };
        let Some(current) = self.context.store.read(key) else { return };
        let bump = Txn::new(TxnKind::StaleWriter).expect(key, Some(current.version)).put(key, current.value);
        let _ = self.context.apply_txn(HOST, &bump);
        self.context.fault(HOST, FaultKind::StaleWriter, format!("bumped {key:?} before {}", txn.kind));
    }

    /// After an applied transaction: the crash points and the partitions that open mid-2PC.
    fn after_apply(&self, txn: &Txn) {
        let plan = &self.context.plan.settings;
        if !self.context.faults_on() {
            return;
        }
        let now_us = self.context.now_us();
        let now_ms = now_us / 1_000;
        let mut state = self.context.state();
        let crash_target = plan.crash_after_labels.contains(&txn.kind);
        if crash_target
            && state.crashes_done() < plan.crashes_max
            && !state.crash_requested()
            && state.stream(Stream::Store).random_bool(plan.crash_after_txn_probability)
        {
            state.request_crash(now_us, HOST, txn.kind);
        }
        if txn.kind == TxnKind::WalletReserve
            && state.stream(Stream::Store).random_bool(plan.partition_after_reserve_probability)
        {
            let length_ms = draw_range(state.stream(Stream::Store), plan.partition_ms);
            state.open_partition(Window { start_ms: now_ms, end_ms: now_ms + length_ms });
            state.fault(now_us, HOST, FaultKind::PartitionMid2pc, format!("{length_ms} ms"));
        }
    }

    async fn call_commit(&self, txn: Txn) -> Result<Vec<(Key, u64)>, StoreError> {
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        let (latency_us, slow_ms, fault, stale_writer) = self.draw(Some(txn.kind));
        let what = txn.kind.as_str();
        self.outbound(what, latency_us, slow_ms, fault).await?;
        if stale_writer {
            self.stale_write(&txn);
        }
        let result = self.context.apply_txn(HOST, &txn);
        if result.is_ok() {
            self.after_apply(&txn);
        }
        self.inbound(what, latency_us, fault).await?;
        result
    }

    async fn call_read<T>(&self, what: String, read: impl FnOnce() -> T) -> Result<T, StoreError> {
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        let (latency_us, slow_ms, fault, _) = self.draw(None);
        self.outbound(&what, latency_us, slow_ms, fault).await?;
        let value = read();
        self.inbound(&what, latency_us, fault).await?;
        Ok(value)
    }
}

fn boxed<'a, T: Send + 'a>(future: impl Future<Output = Result<T, StoreError>> + Send + 'a) -> StoreFuture<'a, T> {
    Box::pin(future)
}

impl Store for StoreLink {
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
        boxed(self.call_read(format!("get {key:?}"), move || self.context.store.read(key)))
    }

    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
        boxed(self.call_read(format!("scan {kind:?}"), move || self.context.store.read_kind(kind)))
    }

    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
        boxed(self.call_commit(txn))
    }
}
