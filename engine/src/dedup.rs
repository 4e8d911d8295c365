//! Request deduplication: every action carries a request ID; a duplicate gets the first
//! result (errors included) and never a second effect.
//!
//! Two layers. In memory, the requests in flight: a concurrent duplicate waits for the first
//! to finish (or is told "in progress"). In the store, the processed requests: the record is
//! written in the same transaction as the request's effect ([`Deduplicator::record_txn`]), so
//! an effect without its record — or a record without its effect — cannot exist, even across
//! an engine crash. Records are kept longer than any retry can arrive. The `seed_2pc` design
//! kept processed IDs only in memory for 5 s ([`DedupMode::InMemoryTtl`]); it is selectable
//! so the simulator can show what that loses. This module never applies an effect itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::buggify::{Buggify, FaultPoint, Probe};
use crate::clock::{SharedClock, TimestampMs};
use crate::ids::{RequestId, UserId};
use crate::metrics::Metrics;
use crate::store::{Key, KeyKind, ProcessedRequest, Store, StoreError, Txn, TxnKind, Value};

/// How long a processed request is remembered in the store: far longer than a client retries
/// (clients give up after well under a minute).
pub const PROCESSED_RETENTION_MS: u64 = 10 * 60 * 1_000;
/// The in-memory window of the `seed_2pc` design.
pub const SEED_DEDUP_TTL_MS: u64 = 5_000;

pub const METRIC_DUPLICATES_TOTAL: &str = "poker_dedup_duplicates_total";

/// Where processed request IDs are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupMode {
    /// In the store, written atomically with the effect, kept `retention_ms`.
    Durable { retention_ms: u64 },
    /// In the engine's memory only, for `ttl_ms` (lost on a crash).
    InMemoryTtl { ttl_ms: u64 },
    /// Not at all: every copy is admitted as new and nothing is recorded (the `bool_flag`
    /// design had no deduplication).
    Off,
}

impl Default for DedupMode {
    fn default() -> Self {
        DedupMode::Durable { retention_ms: PROCESSED_RETENTION_MS }
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Admission {
    /// First time seen: process it, then record its outcome while holding the ticket.
    New(Ticket),
    /// Already processed: answer with the first outcome.
    Duplicate(serde_json::Value),
    /// A copy is being processed right now and the caller chose not to wait.
    InProgress,
}

/// Expected dedup failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupError {
    #[error("request {request} was already used for a different action")]
    PayloadMismatch { request: RequestId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug)]
struct InFlight {
    payload_hash: u64,
    done: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Memory {
    in_flight: BTreeMap<RequestId, InFlight>,
    /// `InMemoryTtl` mode: processed outcomes and when they are forgotten.
    processed: BTreeMap<RequestId, (u64, serde_json::Value, TimestampMs)>,
}

/// The deduplicator. Shared (`Arc`) by every handler of one engine process.
pub struct Deduplicator {
    store: Arc<dyn Store>,
    clock: SharedClock,
    metrics: Metrics,
    mode: DedupMode,
    memory: Arc<Mutex<Memory>>,
    buggify: Buggify,
}

/// Proof that this caller owns a request in flight. Dropping it (after recording the
/// outcome, or on any early return) releases the waiting duplicates.
#[derive(Debug)]
pub struct Ticket {
    request: RequestId,
    user: UserId,
    payload_hash: u64,
    memory: Arc<Mutex<Memory>>,
}

impl Ticket {
    pub fn request(&self) -> RequestId {
        self.request
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut memory = self.memory.lock().expect("dedup memory");
        if let Some(in_flight) = memory.in_flight.remove(&self.request) {
            in_flight.done.notify_waiters();
        }
    }
}

impl Deduplicator {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, metrics: Metrics, mode: DedupMode) -> Deduplicator {
        Deduplicator { store, clock, metrics, mode, memory: Arc::default(), buggify: Buggify::off() }
    }

    /// This deduplicator with its fault points and probes on `buggify`'s hooks.
    pub fn with_buggify(mut self, buggify: Buggify) -> Deduplicator {
        self.buggify = buggify;
        self
    }

    pub fn mode(&self) -> DedupMode {
        self.mode
    }

    /// Admits a request: new, a duplicate of a processed one, or in progress. With
    /// `wait_in_flight`, a concurrent duplicate waits for the first copy to finish and then
    /// gets its outcome. The same ID with another payload is an error.
    pub async fn admit(
        &self,
        request: RequestId,
        user: UserId,
        payload_hash: u64,
        wait_in_flight: bool,
    ) -> Result<Admission, DedupError> {
        if self.mode == DedupMode::Off {
            return Ok(Admission::New(Ticket { request, user, payload_hash, memory: self.memory.clone() }));
        }
        let mut waited = false;
        loop {
            let waiting = {
                let mut memory = self.memory.lock().expect("dedup memory");
                match memory.in_flight.get(&request) {
                    Some(in_flight) if in_flight.payload_hash != payload_hash => {
                        self.buggify.probe(Probe::ReusedWhileInFlight);
                        return Err(DedupError::PayloadMismatch { request });
                    }
                    Some(_) if !wait_in_flight => {
                        self.metrics.increment(METRIC_DUPLICATES_TOTAL, &[("kind", "in_progress")]);
                        return Ok(Admission::InProgress);
                    }
                    Some(in_flight) => {
                        let done = in_flight.done.clone();
                        // Register before releasing the map lock, so the wake-up cannot be missed.
                        let mut notified = Box::pin(done.notified_owned());
                        notified.as_mut().enable();
                        Some(notified)
                    }
                    None => {
                        if let Some(outcome) = self.remembered(&mut memory, request, payload_hash)? {
                            self.metrics.increment(METRIC_DUPLICATES_TOTAL, &[("kind", "processed")]);
                            self.probe_if(waited);
                            return Ok(Admission::Duplicate(outcome));
                        }
                        None
                    }
                }
            };
            if let Some(notified) = waiting {
                notified.await;
                waited = true;
                continue;
            }
            if let DedupMode::Durable { .. } = self.mode
                && let Some(outcome) = self.stored(request, payload_hash).await?
            {
                self.metrics.increment(METRIC_DUPLICATES_TOTAL, &[("kind", "processed")]);
                self.probe_if(waited);
                return Ok(Admission::Duplicate(outcome));
            }
            let mut memory = self.memory.lock().expect("dedup memory");
            // Another copy may have been admitted while we read the store: go round again.
            if memory.in_flight.contains_key(&request) {
                continue;
            }
            memory.in_flight.insert(request, InFlight { payload_hash, done: Arc::new(Notify::new()) });
            return Ok(Admission::New(Ticket { request, user, payload_hash, memory: self.memory.clone() }));
        }
    }

    /// Marks a duplicate answered with the outcome of the copy it waited for.
    fn probe_if(&self, waited: bool) {
        if waited {
            self.buggify.probe(Probe::DuplicateAnsweredInFlight);
        }
    }

    /// The in-memory record (`InMemoryTtl` mode), dropping it once its TTL has passed.
    fn remembered(
        &self,
        memory: &mut Memory,
        request: RequestId,
        payload_hash: u64,
    ) -> Result<Option<serde_json::Value>, DedupError> {
        let now_ms = self.clock.now_ms();
        match memory.processed.get(&request) {
            Some((_, _, forget_ms)) if *forget_ms <= now_ms => {
                memory.processed.remove(&request);
                Ok(None)
            }
            Some((hash, _, _)) if *hash != payload_hash => Err(DedupError::PayloadMismatch { request }),
            Some((_, outcome, _)) => Ok(Some(outcome.clone())),
            None => Ok(None),
        }
    }

    /// The durable record, if the request was processed.
    async fn stored(&self, request: RequestId, payload_hash: u64) -> Result<Option<serde_json::Value>, DedupError> {
        let Some(row) = self.store.get(Key::Request(request)).await? else { return Ok(None) };
        let record = row.value.as_request();
        if record.payload_hash != payload_hash {
            return Err(DedupError::PayloadMismatch { request });
        }
        Ok(Some(record.outcome.clone()))
    }

    /// The store writes that record `outcome` for the ticket's request, to merge into the
    /// transaction that applies the request's effect (durable mode). In memory-TTL mode the
    /// transaction is empty and the outcome is remembered by [`Deduplicator::finish`].
    pub fn record_txn(&self, ticket: &Ticket, outcome: &serde_json::Value) -> Txn {
        match self.mode {
            DedupMode::Durable { retention_ms } => {
                let now_ms = self.clock.now_ms();
                let key = Key::Request(ticket.request);
                let record = ProcessedRequest {
                    request: ticket.request,
                    user: ticket.user,
                    payload_hash: ticket.payload_hash,
                    outcome: outcome.clone(),
                    processed_ms: now_ms,
                    keep_until_ms: now_ms + retention_ms,
                };
                Txn::new(TxnKind::DedupRecord).expect(key, None).put(key, Value::Request(record))
            }
            DedupMode::InMemoryTtl { .. } | DedupMode::Off => Txn::new(TxnKind::DedupRecord),
        }
    }

    /// Ends a request whose outcome was recorded (durably, in its effect's transaction) or
    /// is to be remembered in memory. Releases waiting duplicates.
    pub fn finish(&self, ticket: Ticket, outcome: &serde_json::Value) {
        if let DedupMode::InMemoryTtl { ttl_ms } = self.mode {
            let forget_ms = self.clock.now_ms() + ttl_ms;
            let mut memory = self.memory.lock().expect("dedup memory");
            memory.processed.insert(ticket.request, (ticket.payload_hash, outcome.clone(), forget_ms));
        }
        drop(ticket);
    }

    /// Records an outcome that had no other effect (a typed error) in its own transaction,
    /// then finishes the ticket. Returns the outcome that stands: `outcome` once it is durable,
    /// or the first outcome when another copy recorded one first. An `Err` means nothing is
    /// recorded — the caller must not answer `outcome` as final, for a later copy will run the
    /// request again.
    pub async fn record_alone(
        &self,
        ticket: Ticket,
        outcome: &serde_json::Value,
    ) -> Result<serde_json::Value, DedupError> {
        let txn = self.record_txn(&ticket, outcome);
        let result = match self.buggify.point(FaultPoint::DedupBeforeRecord).await {
            Err(injected) => Err(injected),
            Ok(()) if txn.writes.is_empty() => Ok(()),
            Ok(()) => self.store.commit(txn).await.map(|_| ()),
        };
        let standing = match result {
            Ok(()) => Ok(outcome.clone()),
            // Recorded by another copy first: its outcome is the request's.
            Err(StoreError::Conflict { .. }) => match self.stored(ticket.request, ticket.payload_hash).await {
                Ok(Some(first)) => Ok(first),
                Ok(None) => Err(DedupError::Store(StoreError::Unavailable { reason: "record vanished".into() })),
                Err(error) => Err(error),
            },
            Err(error) => Err(error.into()),
        };
        if let Ok(standing) = &standing {
            self.finish(ticket, standing);
        }
        standing
    }

    /// Deletes durable records whose retention has passed; returns how many.
    pub async fn purge_expired(&self) -> Result<usize, DedupError> {
        let now_ms = self.clock.now_ms();
        let mut purged = 0;
        for (key, versioned) in self.store.scan(KeyKind::Request).await? {
            if versioned.value.as_request().keep_until_ms <= now_ms {
                let txn = Txn::new(TxnKind::DedupPurge).expect_read(key, Some(&versioned)).delete(key);
                if self.store.commit(txn).await.is_ok() {
                    self.buggify.probe(Probe::DedupRecordPurged);
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }

    /// Purges expired records forever, once per retention period (durable mode; in memory-TTL
    /// mode records expire on their own and this returns at once).
    pub async fn run_background(self: Arc<Self>) {
        let DedupMode::Durable { retention_ms } = self.mode else { return };
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(retention_ms)).await;
            if let Err(error) = self.purge_expired().await {
                tracing::debug!(%error, "dedup purge failed; will retry");
            }
        }
    }
}

/// A stable 64-bit hash of a request's payload (FNV-1a over its JSON form), so the same ID
/// with another payload is detected across processes.
pub fn payload_hash<T: Serialize>(payload: &T) -> u64 {
    crate::hash::fnv1a(&serde_json::to_vec(payload).expect("payloads serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::store::MemoryStore;
    use std::time::Duration;

    fn dedup(mode: DedupMode) -> (Arc<Deduplicator>, MemoryStore) {
        let store = MemoryStore::new();
        let clock: SharedClock = Arc::new(TokioClock::starting_now());
        (Arc::new(Deduplicator::new(Arc::new(store.clone()), clock, Metrics::new(), mode)), store)
    }

    async fn process(d: &Deduplicator, store: &MemoryStore, request: u64, outcome: serde_json::Value) {
        let Admission::New(ticket) = d.admit(RequestId(request), UserId(1), 7, true).await.unwrap() else {
            panic!("expected a new request")
        };
        store.apply(&d.record_txn(&ticket, &outcome)).unwrap();
        d.finish(ticket, &outcome);
    }

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_gets_the_first_outcome_errors_included() {
        let (d, store) = dedup(DedupMode::default());
        let first = serde_json::json!({"error": "out_of_turn"});
        process(&d, &store, 1, first.clone()).await;
        match d.admit(RequestId(1), UserId(1), 7, true).await.unwrap() {
            Admission::Duplicate(outcome) => assert_eq!(outcome, first),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.admit(RequestId(1), UserId(1), 8, true).await.unwrap_err(),
            DedupError::PayloadMismatch { request: RequestId(1) }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_duplicates_wait_for_the_first_or_hear_in_progress() {
        let (d, store) = dedup(DedupMode::default());
        let Admission::New(ticket) = d.admit(RequestId(5), UserId(1), 7, true).await.unwrap() else { panic!() };
        assert!(matches!(d.admit(RequestId(5), UserId(1), 7, false).await.unwrap(), Admission::InProgress));
        let waiter = {
            let d = d.clone();
            tokio::spawn(async move { d.admit(RequestId(5), UserId(1), 7, true).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished(), "the duplicate waits while the first is in flight");
        let outcome = serde_json::json!({"ok": 1});
        store.apply(&d.record_txn(&ticket, &outcome)).unwrap();
        d.finish(ticket, &outcome);
        match waiter.await.unwrap().unwrap() {
            Admission::Duplicate(seen) => assert_eq!(seen, outcome),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn another_payload_under_an_id_in_flight_is_refused_at_once_not_made_to_wait() {
        let (d, _) = dedup(DedupMode::default());
        let Admission::New(_ticket) = d.admit(RequestId(6), UserId(1), 7, true).await.unwrap() else { panic!() };
        for wait_in_flight in [true, false] {
            let second =
                tokio::time::timeout(Duration::from_secs(1), d.admit(RequestId(6), UserId(1), 8, wait_in_flight));
            let refused = second.await.expect("refused at once, not made to wait for the first copy");
            assert_eq!(refused.unwrap_err(), DedupError::PayloadMismatch { request: RequestId(6) });
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_ticket_lets_a_retry_in() {
        let (d, _) = dedup(DedupMode::default());
        let Admission::New(ticket) = d.admit(RequestId(9), UserId(1), 7, true).await.unwrap() else { panic!() };
        drop(ticket); // the first attempt failed before any effect
        assert!(matches!(d.admit(RequestId(9), UserId(1), 7, true).await.unwrap(), Admission::New(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_seed_design_forgets_after_five_seconds_the_durable_one_does_not() {
        let (seed, store) = dedup(DedupMode::InMemoryTtl { ttl_ms: SEED_DEDUP_TTL_MS });
        process(&seed, &store, 3, serde_json::json!(1)).await;
        assert!(matches!(seed.admit(RequestId(3), UserId(1), 7, true).await.unwrap(), Admission::Duplicate(_)));
        tokio::time::sleep(Duration::from_millis(SEED_DEDUP_TTL_MS + 1)).await;
        assert!(
            matches!(seed.admit(RequestId(3), UserId(1), 7, true).await.unwrap(), Admission::New(_)),
            "a retry after the TTL would take effect twice"
        );

        let (durable, store) = dedup(DedupMode::default());
        process(&durable, &store, 3, serde_json::json!(1)).await;
        tokio::time::sleep(Duration::from_millis(SEED_DEDUP_TTL_MS + 1)).await;
        assert!(matches!(durable.admit(RequestId(3), UserId(1), 7, true).await.unwrap(), Admission::Duplicate(_)));
        tokio::time::sleep(Duration::from_millis(PROCESSED_RETENTION_MS)).await;
        assert_eq!(durable.purge_expired().await.unwrap(), 1);
    }
}
