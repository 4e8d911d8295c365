//! The engine↔store link: the simulated network path between the engine process and the
//! durable store, inside the engine host (as TigerBeetle simulates its storage). The store
//! itself (`MemoryStore`) lives outside every host, so it survives engine crashes.
//!
//! Fault model, per call, while faults are on: latency drawn from the scenario's range
//! (simulated to tokio's millisecond, whatever turmoil's tick: the engine host's clock
//! auto-advances to each timer) — a commit reaches the store halfway through its latency and
//! applies there, a read is served as it leaves and spends its whole latency on the way back
//! (one timer instead of two; the snapshot it returns is as old as the call is long) — a slow
//! call (seconds, inside whatever lock the caller holds; a slow read returns an old snapshot), a
//! failure before the store (nothing applied), a timeout before the store (nothing applied,
//! the engine waits its call timeout), a lost reply (applied, the engine sees a timeout),
//! refund failures (rollback, expiry, DLQ and compensation credits fail), a stale writer
//! (another writer makes a real change just before a save: a spectator joins or leaves the
//! table, the house tops up the pools — so a guarded save conflicts and an unguarded one loses
//! something the checkers see),
//! partitions (scheduled, or opened right after a reservation — in the middle of a 2PC),
//! zombie writes (a commit lost on its way — timed out, refused by a partition, caught in
//! flight by a crash — that lands seconds later from the stale view it was built on, after
//! the engine gave up on it or died: Kleppmann's paused lease holder), and
//! crash points (the engine process dies right after a transaction with a chosen label
//! applied: every later call of that process hangs until the world crashes the host).
//!
//! Every applied transaction runs the checkers, atomically with the apply
//! ([`SimContext::apply_txn`]: nothing can run in between).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use engine::clock::{Clock, TimestampMs};
use engine::store::{Key, KeyKind, Store, StoreError, StoreFuture, Txn, TxnKind, Value, Versioned};
use rand::Rng;

use crate::context::{Dice, Phase, SimContext, Stream};
use crate::faults::kind::FaultKind;
use crate::faults::plan::{Window, draw_range};
use crate::faults::schedule::{Site, StoreOp, Subject, races_stale_writer};
use crate::layout::spectator_of;
use crate::scenario::FaultSettings;
use rand_chacha::ChaCha8Rng;

const HOST: &str = "engine";

/// The store's clock: simulated time since the start of the run, in milliseconds — the
/// current host's inside a host, else the driver's (`driver_us`, kept by the world), for the
/// store also applies writes outside every host (zombie writes). (Found by the simulator: it
/// read 0 there, so a zombie commit landing past its reservation's deadline was not refused.)
#[derive(Clone, Debug, Default)]
pub(crate) struct SimClock {
    pub driver_us: Arc<std::sync::atomic::AtomicU64>,
}

impl Clock for SimClock {
    fn now_ms(&self) -> TimestampMs {
        match crate::host_clock::sim_elapsed() {
            Some(elapsed) => elapsed.as_millis() as TimestampMs,
            None => self.driver_us.load(std::sync::atomic::Ordering::Relaxed) / 1_000,
        }
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

/// What the dice (or the schedule) decided for one call.
struct CallPlan {
    latency_us: u64,
    slow_ms: u64,
    fault: CallFault,
    stale_writer: bool,
    /// A commit the engine dies sending, with the downtime in ms.
    crash_in_flight_ms: Option<u64>,
    /// Yields to the other ready tasks of the engine host before the call (schedule
    /// perturbation), drawn from this opportunity's own stream.
    yields: u32,
}

impl CallPlan {
    fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us)
    }

    /// A commit's latency to the store and back: it applies halfway.
    fn halves(&self) -> (Duration, Duration) {
        let out_us = self.latency_us / 2;
        (Duration::from_micros(out_us), Duration::from_micros(self.latency_us - out_us))
    }

    fn slow(&self) -> Duration {
        Duration::from_millis(self.slow_ms)
    }
}

/// Most yields a store call makes before it starts, under schedule perturbation.
pub const YIELDS_MAX: u32 = 3;

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

    /// Traces a slow call's extra latency, if it has one.
    fn trace_slow(&self, what: &(dyn fmt::Display + Sync), slow_ms: u64) {
        if slow_ms > 0 {
            self.context.fault(HOST, FaultKind::SlowStore, format!("{what} +{slow_ms} ms"));
        }
    }

    fn crashing(&self) -> bool {
        self.context.state().crash_requested()
    }

    fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.context.scenario.store.call_timeout_ms)
    }

    /// Latency (from this opportunity's own stream), then this call's faults — slowness, then one of a
    /// refund failure, a failure, a timeout or a lost reply, then a stale writer — each decided
    /// at this opportunity by the schedule or the store-fault dice (under one lock of the run
    /// state: a store call is the commonest opportunity of a run).
    fn plan_call(&self, op: StoreOp, subject: Option<Subject>) -> CallPlan {
        let (opportunity, [latency_stream, yield_stream]) =
            self.context.opportunity_with_streams(Site::Store(op, subject), ["latency", "yield"]);
        let store = &self.context.scenario.store;
        let rng = &mut latency_stream.rng();
        let latency_us = match store.latency_of(op) {
            Some(latency) => latency.sample_us(rng),
            None => draw_range(rng, store.latency_us),
        };
        let p = &self.context.plan.settings;
        let commit = match op {
            StoreOp::Commit(kind) => Some(kind),
            StoreOp::Get(_) | StoreOp::Scan(_) => None,
        };
        let mut dice = self.context.dice(&opportunity);
        let slow_ms = dice
            .decide(FaultKind::SlowStore, Stream::StoreFaults, |rng, fault| {
                rng.random_bool(p.slow_store_probability).then(|| fault.with_ms(draw_range(rng, p.slow_store_ms)))
            })
            .and_then(|fault| fault.ms)
            .unwrap_or(0);
        let refund = commit.is_some_and(TxnKind::is_refund);
        let mut decide = |kind, roll: &dyn Fn(&mut ChaCha8Rng) -> bool| {
            dice.decide(kind, Stream::StoreFaults, |rng, fault| roll(rng).then(|| fault.fire())).is_some()
        };
        let fault = if decide(FaultKind::RefundFailure, &|rng| refund && rng.random_bool(p.refund_failure_probability))
        {
            CallFault::RefundFailure
        } else if decide(FaultKind::StoreFailure, &|rng| rng.random_bool(p.store_failure_probability)) {
            CallFault::Failure
        } else if decide(FaultKind::StoreTimeout, &|rng| rng.random_bool(p.store_timeout_probability)) {
            CallFault::TimeoutBefore
        } else if decide(FaultKind::LostReply, &|rng| commit.is_some() && rng.random_bool(p.lost_reply_probability)) {
            CallFault::LostReply
        } else {
            CallFault::None
        };
        let raced = commit.is_some_and(races_stale_writer);
        let stale_writer = decide(FaultKind::StaleWriter, &|rng| raced && rng.random_bool(p.stale_writer_probability));
        let crash_in_flight_ms = commit.and_then(|kind| crash_in_flight(&mut dice, p, kind));
        let faults_on = dice.state().phase() == Phase::Safety;
        drop(dice);
        let yield_probability = p.schedule_yield_probability;
        let yields = if yield_probability > 0.0 && faults_on {
            let rng = &mut yield_stream.rng();
            if rng.random_bool(yield_probability) { rng.random_range(1..=YIELDS_MAX) } else { 0 }
        } else {
            0
        };
        CallPlan { latency_us, slow_ms, fault, stale_writer, crash_in_flight_ms, yields }
    }

    /// Whether the engine↔store path is cut now. The host's clock is read only when a
    /// partition overlaps the current step (this host's time lies within the step's tick).
    fn partitioned(&self) -> bool {
        let step_us = self.context.step_us();
        let state = self.context.state();
        let (from_ms, to_ms) = (step_us.start / 1_000, step_us.end / 1_000);
        if state.phase() != Phase::Safety || !state.may_be_partitioned(&self.context.plan, from_ms, to_ms) {
            return false;
        }
        drop(state);
        let at_ms = self.now_ms();
        self.context.state().is_partitioned(&self.context.plan, at_ms)
    }

    /// The first half of a call: `delay` on the way to the store (none for a read), then the
    /// faults that stop a call before it arrives.
    async fn outbound(
        &self,
        what: &(dyn fmt::Display + Sync),
        delay: Duration,
        fault: CallFault,
    ) -> Result<(), StoreError> {
        if !delay.is_zero() {
            self.context.sleep(delay).await;
        }
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        if self.partitioned() {
            self.context.fault(HOST, FaultKind::PartitionRefused, what.to_string());
            self.context.sleep(self.call_timeout()).await;
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
                self.context.sleep(self.call_timeout()).await;
                Err(StoreError::TimedOut)
            }
            CallFault::None | CallFault::LostReply => Ok(()),
        }
    }

    /// The second half: `delay` on the way back, and a reply lost to a fault or a partition
    /// that began while the call was at the store.
    async fn inbound(
        &self,
        what: &(dyn fmt::Display + Sync),
        delay: Duration,
        fault: CallFault,
    ) -> Result<(), StoreError> {
        self.context.sleep(delay).await;
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        let partitioned = self.partitioned();
        if fault == CallFault::LostReply || partitioned {
            let kind = if partitioned { FaultKind::PartitionLostReply } else { FaultKind::LostReply };
            self.context.fault(HOST, kind, what.to_string());
            self.context.sleep(self.call_timeout()).await;
            return Err(StoreError::TimedOut);
        }
        Ok(())
    }

    /// Another writer makes a real change to what `txn` is about to overwrite, just before it
    /// applies: a spectator joins or leaves the table it saves (the table's version rises and
    /// its seats change), or the house tops up the pools it contributes to (one chip each).
    /// A guarded save then fails its version check; an unguarded one would wipe the change out,
    /// which the checkers see (`versions`: spectators; `conservation`, `jackpot`: the top-up).
    fn stale_write(&self, txn: &Txn) {
        let foreign = if txn.kind == TxnKind::JackpotContribute { self.top_up(txn) } else { self.spectate(txn) };
        if let Some((foreign, what)) = foreign {
            let _ = self.context.apply_txn(HOST, &foreign);
            self.context.fault(HOST, FaultKind::StaleWriter, format!("{what} before {}", txn.kind));
        }
    }

    /// A spectator of the table `txn` saves joins it, or leaves it if already seated.
    fn spectate(&self, txn: &Txn) -> Option<(Txn, String)> {
        let key = txn.writes.iter().map(|w| w.key).find(|k| matches!(k, Key::Table(_)))?;
        let current = self.context.store.read(key)?;
        let mut record = current.value.as_table().clone();
        let spectator = spectator_of(record.table);
        let what = match record.seats.iter().position(|&u| u == spectator) {
            Some(seat) => {
                record.seats.remove(seat);
                format!("{spectator} left {}", record.table)
            }
            None => {
                record.seats.push(spectator);
                format!("{spectator} joined {}", record.table)
            }
        };
        let foreign =
            Txn::new(TxnKind::StaleWriter).expect(key, Some(current.version)).put(key, Value::Table(Arc::new(record)));
        Some((foreign, what))
    }

    /// The house moves one chip into each pool `txn` contributes to (if it has them).
    fn top_up(&self, txn: &Txn) -> Option<(Txn, String)> {
        let groups: Vec<Key> = txn.writes.iter().map(|w| w.key).filter(|k| matches!(k, Key::Jackpot(_))).collect();
        let house = self.context.store.read(Key::House)?;
        let chips = house.value.as_house();
        if groups.is_empty() || chips < groups.len() as u64 {
            return None;
        }
        let now_ms = self.now_ms();
        let mut foreign = Txn::new(TxnKind::StaleWriter)
            .expect(Key::House, Some(house.version))
            .put(Key::House, Value::House(chips - groups.len() as u64));
        for key in &groups {
            let row = self.context.store.read(*key)?;
            let pool = row.value.as_pool().credited(1, now_ms);
            foreign = foreign.expect(*key, Some(row.version)).put(*key, Value::Jackpot(pool));
        }
        Some((foreign, format!("the house topped up {} pools", groups.len())))
    }

    /// After an applied transaction: the crash points and the partitions that open mid-2PC,
    /// decided at this opportunity by the schedule or the store-fault dice.
    fn after_apply(&self, txn: &Txn) {
        let p = &self.context.plan.settings;
        let opportunity = self.context.opportunity(Site::Applied(txn.kind, Subject::of_txn(txn)));
        let (crash_requested, crashes_done) = {
            let state = self.context.state();
            (state.crash_requested(), state.crashes_done())
        };
        let crash_target = p.crash_after_labels.contains(&txn.kind) && crashes_done < p.crashes_max;
        let crash = (!crash_requested)
            .then(|| {
                self.context.decide(&opportunity, FaultKind::CrashAfterTxn, Stream::StoreFaults, |rng, fault| {
                    (crash_target && rng.random_bool(p.crash_after_txn_probability))
                        .then(|| fault.with_ms(draw_range(rng, p.restart_ms)))
                })
            })
            .flatten();
        let reserve = txn.kind == TxnKind::WalletReserve;
        let partition =
            self.context.decide(&opportunity, FaultKind::PartitionMid2pc, Stream::StoreFaults, |rng, fault| {
                (reserve && rng.random_bool(p.partition_after_reserve_probability))
                    .then(|| fault.with_ms(draw_range(rng, p.partition_ms)))
            });
        let now_us = self.context.now_us();
        let now_ms = now_us / 1_000;
        let mut state = self.context.state();
        if let Some(restart_after_ms) = crash.and_then(|fault| fault.ms) {
            state.request_crash(now_us, HOST, txn.kind, restart_after_ms);
            if matches!(txn.kind, TxnKind::GameAct | TxnKind::WalletCommit) {
                state.reach(engine::buggify::Probe::CrashAfterCommit);
            }
        }
        if let Some(length_ms) = partition.and_then(|fault| fault.ms) {
            state.open_partition(Window { start_ms: now_ms, end_ms: now_ms + length_ms });
            state.fault(now_us, HOST, FaultKind::PartitionMid2pc, format!("{length_ms} ms"));
        }
    }

    /// One commit through the link; every answer the engine gets back is told to the
    /// checkers (they judge its retry policy and what it counts).
    async fn call_commit(&self, txn: Txn) -> Result<Vec<(Key, u64)>, StoreError> {
        let result = self.commit_through(&txn).await;
        self.context.commit_answered(&txn, result.as_ref().map(|_| ()));
        result
    }

    async fn commit_through(&self, txn: &Txn) -> Result<Vec<(Key, u64)>, StoreError> {
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        let call = self.plan_call(StoreOp::Commit(txn.kind), Subject::of_txn(txn));
        perturb(call.yields).await;
        let what = &txn.kind.as_str();
        self.trace_slow(what, call.slow_ms);
        let sent = self.context.state().commit_sent(txn);
        let (out, back) = call.halves();
        if let Err(error) = self.outbound(what, out + call.slow(), call.fault).await {
            self.context.state().commit_arrived(sent);
            if error == StoreError::TimedOut {
                // Lost on the way, as far as the engine knows: it may land late anyway.
                self.context.maybe_zombie(txn, 0);
            }
            return Err(error);
        }
        if let Some(restart_after_ms) = call.crash_in_flight_ms {
            // The process dies with the commit on the wire: it stays in flight.
            self.context.state().request_crash_in_flight(self.context.now_us(), HOST, txn.kind, restart_after_ms);
            std::future::pending::<()>().await;
        }
        self.context.state().commit_arrived(sent);
        if call.stale_writer {
            self.stale_write(txn);
        }
        let result = self.context.apply_txn(HOST, txn);
        if result.is_ok() {
            self.after_apply(txn);
        }
        self.inbound(what, back, call.fault).await?;
        result
    }

    async fn call_read<T>(
        &self,
        op: StoreOp,
        subject: Option<Subject>,
        what: ReadCall,
        read: impl FnOnce() -> T,
    ) -> Result<T, StoreError> {
        if self.crashing() {
            std::future::pending::<()>().await;
        }
        let call = self.plan_call(op, subject);
        perturb(call.yields).await;
        self.trace_slow(&what, call.slow_ms);
        self.outbound(&what, Duration::ZERO, call.fault).await?;
        let value = read();
        self.inbound(&what, call.latency() + call.slow(), call.fault).await?;
        Ok(value)
    }
}

/// Whether the engine dies while this commit of `kind` is on its way (a crash point before the
/// store, with the crash points' probability and labels), and the downtime.
fn crash_in_flight(dice: &mut Dice<'_>, p: &FaultSettings, kind: TxnKind) -> Option<u64> {
    let (crash_requested, crashes_done) = (dice.state().crash_requested(), dice.state().crashes_done());
    let target = !crash_requested && p.crash_after_labels.contains(&kind) && crashes_done < p.crashes_max;
    dice.decide(FaultKind::CrashInFlight, Stream::StoreFaults, |rng, fault| {
        (target && rng.random_bool(p.crash_after_txn_probability)).then(|| fault.with_ms(draw_range(rng, p.restart_ms)))
    })
    .and_then(|fault| fault.ms)
}

/// A read as a fault's trace line names it, spelled only when a fault fires.
enum ReadCall {
    Get(Key),
    Scan(KeyKind),
}

impl fmt::Display for ReadCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadCall::Get(key) => write!(f, "get {key:?}"),
            ReadCall::Scan(kind) => write!(f, "scan {kind:?}"),
        }
    }
}

/// Schedule perturbation: lets every other ready task of the host run first, `yields` times.
async fn perturb(yields: u32) {
    for _ in 0..yields {
        tokio::task::yield_now().await;
    }
}

fn boxed<'a, T: Send + 'a>(future: impl Future<Output = Result<T, StoreError>> + Send + 'a) -> StoreFuture<'a, T> {
    Box::pin(future)
}

impl Store for StoreLink {
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
        let (op, subject) = (StoreOp::Get(key.kind()), Subject::of_key(key));
        boxed(self.call_read(op, subject, ReadCall::Get(key), move || self.context.store.read(key)))
    }

    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
        boxed(
            self.call_read(StoreOp::Scan(kind), None, ReadCall::Scan(kind), move || self.context.store.read_kind(kind)),
        )
    }

    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
        boxed(self.call_commit(txn))
    }
}
