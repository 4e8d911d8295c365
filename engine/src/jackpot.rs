//! The jackpot service: the minor, major and mega pools fed from each pot's rake, and the wins
//! paid out of them.
//!
//! It owns the `Key::Jackpot(group)` rows, the `Key::JackpotConfig` row and the processed-win
//! records it writes under `Key::Request`. A contribution moves chips from the House into the
//! pools in ONE store transaction guarded by the version of every row it writes (all groups or
//! none), retried with exponential backoff and seeded jitter on a version conflict. A win takes
//! a pessimistic row lock on its pool (written with a version check, with a lease so a crashed
//! holder cannot block the pool for ever), then pays `min(requested, pool)` into the winner's
//! wallet, records the win ID and releases the lock in one transaction, so a win is paid at
//! most once and never exceeds its pool.
//!
//! **Invariant:** every chip that leaves the House enters a pool, and every chip that leaves a
//! pool enters a wallet, in the same transaction — except under [`JackpotVariant::Unversioned`],
//! the historical flaw kept on purpose so the simulator's checkers can prove they catch it.
//! **Boundary:** this module never creates or destroys chips, never reads the wall clock
//! (sleeps are `tokio::time`, persisted timestamps come from the injected [`Clock`]), never
//! draws randomness except from its injected seeded RNG, and never holds the RNG's mutex across
//! an await. The split and payout arithmetic are the plain functions [`split_rake`] and
//! [`payout_amount`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::ids::{RequestId, UserId};
use crate::metrics::Metrics;
use crate::rules::Chips;
use crate::store::{
    JackpotConfig, JackpotGroup, JackpotPool, Key, ProcessedRequest, Store, StoreError, Txn, Value, Versioned, Wallet,
};

/// Basis points in a whole rake: the shares of a config sum to at most this.
pub const SHARE_BPS_TOTAL_MAX: u32 = 10_000;
/// Retries after the first attempt of an optimistic operation (contribute, update_config, and
/// the payout step of a win), before it fails with [`JackpotError::ConcurrencyViolation`].
pub const CONTRIBUTE_RETRIES_MAX: u32 = 3;
/// First backoff step, in milliseconds; step `k` (0-based) waits `base << k` (100, 200, 400).
pub const RETRY_BACKOFF_BASE_MS: u64 = 100;
/// Jitter added to each backoff step: uniform in `0..=step * this / 100`, in percent of the step.
pub const RETRY_JITTER_PERCENT_MAX: u64 = 25;
/// How long a win waits for its pool's row lock before [`JackpotError::LockTimeout`], in ms.
pub const WIN_LOCK_TIMEOUT_MS: u64 = 5_000;
/// Lease of a row lock, in milliseconds: after it a waiter may take the lock over (a crashed
/// holder blocks wins on its pool at most this long).
pub const WIN_LOCK_LEASE_MS: u64 = 10_000;
/// Interval between two looks at a held row lock, in milliseconds.
pub const WIN_LOCK_POLL_MS: u64 = 50;
/// How long a processed win or contribution record is kept, in milliseconds (one day: longer
/// than any retry of the same ID can arrive).
pub const PROCESSED_KEEP_MS: u64 = 86_400_000;

/// Operation names, as they appear in metric labels and errors.
pub const OPERATION_CONTRIBUTE: &str = "contribute";
pub const OPERATION_WIN: &str = "win";
pub const OPERATION_UPDATE_CONFIG: &str = "update_config";

const METRIC_OPERATIONS: &str = "poker_jackpot_operations_total";
const METRIC_RETRIES: &str = "poker_jackpot_retries_total";
const METRIC_CONFLICTS: &str = "poker_jackpot_conflicts_total";
const METRIC_DURATION: &str = "poker_jackpot_operation_duration_seconds";
const METRIC_LOCK_WAIT: &str = "poker_jackpot_lock_wait_seconds";
const METRIC_LOCK_TAKEOVERS: &str = "poker_jackpot_lock_takeovers_total";

/// Which contribution path the service runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JackpotVariant {
    /// Hardened: one transaction guarded by the versions of the House and every pool written.
    #[default]
    Optimistic,
    /// The historical bug: the pools are read once and written back WITHOUT a version check
    /// (only the House debit is guarded, as the rake left the pot correctly in the original),
    /// and a retry re-reads only the House. Concurrent contributions overwrite each other's
    /// pool increments and those chips vanish from the store. Contributions are not
    /// deduplicated either. Wins and config updates are the same in both variants.
    Unversioned,
}

/// The service's limits and the config it creates when none is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JackpotServiceConfig {
    /// Retries after the first attempt of an optimistic operation.
    pub retries_max: u32,
    /// First backoff step, in milliseconds (doubles each retry).
    pub backoff_base_ms: u64,
    /// Jitter ceiling, in percent of the backoff step.
    pub jitter_percent_max: u64,
    /// Wait for a row lock before giving up, in milliseconds.
    pub lock_timeout_ms: u64,
    /// Lease of a row lock, in milliseconds.
    pub lock_lease_ms: u64,
    /// Poll interval while a row lock is held elsewhere, in milliseconds.
    pub lock_poll_ms: u64,
    /// Retention of processed-request records, in milliseconds.
    pub processed_keep_ms: u64,
    /// Shares written by [`JackpotService::ensure_pools`] when no config is stored, in basis
    /// points of the rake.
    pub initial_share_bps: Vec<(JackpotGroup, u32)>,
}

impl Default for JackpotServiceConfig {
    fn default() -> Self {
        JackpotServiceConfig {
            retries_max: CONTRIBUTE_RETRIES_MAX,
            backoff_base_ms: RETRY_BACKOFF_BASE_MS,
            jitter_percent_max: RETRY_JITTER_PERCENT_MAX,
            lock_timeout_ms: WIN_LOCK_TIMEOUT_MS,
            lock_lease_ms: WIN_LOCK_LEASE_MS,
            lock_poll_ms: WIN_LOCK_POLL_MS,
            processed_keep_ms: PROCESSED_KEEP_MS,
            initial_share_bps: vec![
                (JackpotGroup::Minor, 1_000),
                (JackpotGroup::Major, 500),
                (JackpotGroup::Mega, 250),
            ],
        }
    }
}

/// The details of the version conflict that exhausted an operation's retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictDetails {
    /// The key whose version check failed last.
    pub key: Key,
    pub expected: Option<u64>,
    pub actual: Option<u64>,
    /// Attempts made, the first included.
    pub attempts: u32,
}

/// An optimistic operation lost every attempt to concurrent writers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{operation} on {group:?} lost to concurrent writers after {} attempts", conflict_details.attempts)]
pub struct ConcurrencyViolationError {
    /// `contribute`, `win` or `update_config`.
    pub operation: String,
    /// The pool whose row conflicted; `None` when it was the House or the config row.
    pub group: Option<JackpotGroup>,
    pub conflict_details: ConflictDetails,
}

/// Why a jackpot operation failed. Nothing was applied, except after `Store(TimedOut)`, whose
/// outcome is unknown (retry with the same ID: wins and contributions are deduplicated).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JackpotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ConcurrencyViolation(#[from] ConcurrencyViolationError),
    #[error("row lock of {group:?} held by {holder:?}; waited {waited_ms} ms")]
    LockTimeout { group: JackpotGroup, holder: Option<String>, waited_ms: u64 },
    #[error("the row lock of {group:?} was taken over by {holder:?} before the payout")]
    LockLost { group: JackpotGroup, holder: Option<String> },
    #[error("invalid jackpot config: {reason}")]
    InvalidConfig { reason: String },
    #[error("no pool row for {group:?} (run ensure_pools)")]
    UnknownGroup { group: JackpotGroup },
    #[error("no jackpot config row (run ensure_pools)")]
    ConfigMissing,
    #[error("the house holds {available} chips, the contribution needs {needed}")]
    InsufficientHouse { needed: Chips, available: Chips },
    #[error("request {id:?} was already processed with another payload")]
    IdReused { id: String },
}

impl JackpotError {
    /// The `status` label of `poker_jackpot_operations_total`.
    pub fn status(&self) -> &'static str {
        match self {
            JackpotError::Store(_) => "store_error",
            JackpotError::ConcurrencyViolation(_) => "concurrency_violation",
            JackpotError::LockTimeout { .. } => "lock_timeout",
            JackpotError::LockLost { .. } => "lock_lost",
            JackpotError::InvalidConfig { .. } => "invalid_config",
            JackpotError::UnknownGroup { .. } | JackpotError::ConfigMissing => "not_initialized",
            JackpotError::InsufficientHouse { .. } => "insufficient_house",
            JackpotError::IdReused { .. } => "id_reused",
        }
    }
}

/// How a rake splits: each group's share and what stays in the House.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RakeSplit {
    /// One entry per group, in [`JackpotGroup::ALL`] order (0 for a group without a share).
    pub shares: Vec<(JackpotGroup, Chips)>,
    /// The rake minus the shares: unassigned basis points plus every rounding remainder.
    pub house_kept: Chips,
}

impl RakeSplit {
    /// Chips moved from the House into the pools.
    pub fn to_pools(&self) -> Chips {
        self.shares.iter().map(|(_, chips)| chips).sum()
    }

    pub fn share(&self, group: JackpotGroup) -> Chips {
        self.shares.iter().find(|(g, _)| *g == group).map_or(0, |(_, chips)| *chips)
    }
}

/// Checks a share list: each group at most once, shares summing to at most
/// [`SHARE_BPS_TOTAL_MAX`] basis points.
pub fn validate_shares(share_bps: &[(JackpotGroup, u32)]) -> Result<(), JackpotError> {
    for (i, (group, _)) in share_bps.iter().enumerate() {
        if share_bps[..i].iter().any(|(g, _)| g == group) {
            return Err(JackpotError::InvalidConfig { reason: format!("{} listed twice", group.name()) });
        }
    }
    let total: u64 = share_bps.iter().map(|(_, bps)| u64::from(*bps)).sum();
    if total > u64::from(SHARE_BPS_TOTAL_MAX) {
        return Err(JackpotError::InvalidConfig {
            reason: format!("shares sum to {total} bps, more than {SHARE_BPS_TOTAL_MAX}"),
        });
    }
    Ok(())
}

/// Splits `rake` chips by `share_bps` (basis points of the rake per group).
///
/// Remainder rule: each group gets `floor(rake * bps / 10_000)`; everything else — the
/// unassigned basis points and each group's rounding remainder — stays in the House. So the
/// shares plus `house_kept` equal `rake` exactly and no group ever gets more than its exact
/// fraction. Precondition: `share_bps` passes [`validate_shares`] (a stored config that does
/// not is a bug and panics).
pub fn split_rake(rake: Chips, share_bps: &[(JackpotGroup, u32)]) -> RakeSplit {
    assert!(validate_shares(share_bps).is_ok(), "invariant: jackpot shares are valid: {share_bps:?}");
    let shares: Vec<(JackpotGroup, Chips)> = JackpotGroup::ALL
        .iter()
        .map(|&group| {
            let bps = share_bps.iter().filter(|(g, _)| *g == group).map(|(_, bps)| *bps).sum::<u32>();
            let exact = u128::from(rake) * u128::from(bps) / u128::from(SHARE_BPS_TOTAL_MAX);
            (group, exact as Chips)
        })
        .collect();
    let to_pools: Chips = shares.iter().map(|(_, chips)| chips).sum();
    assert!(to_pools <= rake, "invariant: shares never exceed the rake");
    RakeSplit { shares, house_kept: rake - to_pools }
}

/// What a win pays: the request, capped by the pool — never more than the pool holds.
pub fn payout_amount(requested: Chips, pool_amount: Chips) -> Chips {
    requested.min(pool_amount)
}

/// The backoff step before retry `retry` (0-based), in milliseconds: `base << retry`.
pub fn backoff_step_ms(base_ms: u64, retry: u32) -> u64 {
    base_ms.saturating_mul(1u64.checked_shl(retry).unwrap_or(u64::MAX))
}

/// What a contribution did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributeOutcome {
    pub operation_id: String,
    pub rake: Chips,
    pub split: RakeSplit,
    /// Attempts made, the first included (1 when no conflict occurred).
    pub attempts: u32,
    /// True when `operation_id` had already been processed: this is the first outcome and
    /// nothing moved this time.
    pub duplicate: bool,
}

/// What a win paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinOutcome {
    pub win_id: String,
    pub group: JackpotGroup,
    pub user: UserId,
    pub requested: Chips,
    /// `min(requested, pool)`: what reached the wallet.
    pub paid: Chips,
    /// The pool after the payout.
    pub pool_after: Chips,
    /// True when `win_id` had already been paid: this is the first outcome, nothing was paid.
    pub duplicate: bool,
}

/// The jackpot service. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct JackpotService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    rng: Mutex<ChaCha8Rng>,
    config: JackpotServiceConfig,
    variant: JackpotVariant,
}

impl std::fmt::Debug for JackpotService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JackpotService").field("config", &self.config).field("variant", &self.variant).finish()
    }
}

/// FNV-1a, 64 bits: a hash that is stable across runs, platforms and Rust versions.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The processed-request key of a win ID (domain-separated from client request IDs).
pub fn win_request_id(win_id: &str) -> RequestId {
    RequestId(fnv1a(&[b"jackpot.win", win_id.as_bytes()]))
}

/// The processed-request key of a contribution's operation ID.
pub fn contribute_request_id(operation_id: &str) -> RequestId {
    RequestId(fnv1a(&[b"jackpot.contribute", operation_id.as_bytes()]))
}

fn group_of(key: Key) -> Option<JackpotGroup> {
    match key {
        Key::Jackpot(group) => Some(group),
        _ => None,
    }
}

fn as_pool(row: &Versioned, group: JackpotGroup) -> JackpotPool {
    match &row.value {
        Value::Jackpot(pool) => pool.clone(),
        other => panic!("invariant: the row of jackpot {group:?} holds a pool, found {other:?}"),
    }
}

impl JackpotService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        rng: ChaCha8Rng,
        config: JackpotServiceConfig,
        variant: JackpotVariant,
    ) -> JackpotService {
        JackpotService { store, clock, metrics, rng: Mutex::new(rng), config, variant }
    }

    pub fn variant(&self) -> JackpotVariant {
        self.variant
    }

    /// Creates each missing pool row (amount 0) and the config row (from
    /// `initial_share_bps`) if absent. Idempotent; never touches an existing row.
    pub async fn ensure_pools(&self) -> Result<(), JackpotError> {
        validate_shares(&self.config.initial_share_bps)?;
        let now_ms = self.clock.now_ms();
        for group in JackpotGroup::ALL {
            let key = Key::Jackpot(group);
            let pool = JackpotPool::empty(group, now_ms);
            self.create_if_absent(Txn::new("jackpot.init").expect(key, None).put(key, Value::Jackpot(pool))).await?;
        }
        let config = JackpotConfig { share_bps: self.config.initial_share_bps.clone(), last_modified_ms: now_ms };
        let key = Key::JackpotConfig;
        self.create_if_absent(Txn::new("jackpot.init").expect(key, None).put(key, Value::JackpotConfig(config))).await
    }

    async fn create_if_absent(&self, txn: Txn) -> Result<(), JackpotError> {
        match self.store.commit(txn).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The pool of `group` as stored now.
    pub async fn pool(&self, group: JackpotGroup) -> Result<JackpotPool, JackpotError> {
        Ok(as_pool(&self.read_pool(group).await?, group))
    }

    /// The stored config.
    pub async fn config(&self) -> Result<JackpotConfig, JackpotError> {
        Ok(self.read_config().await?.1)
    }

    async fn read_pool(&self, group: JackpotGroup) -> Result<Versioned, JackpotError> {
        self.store.get(Key::Jackpot(group)).await?.ok_or(JackpotError::UnknownGroup { group })
    }

    async fn read_config(&self) -> Result<(Versioned, JackpotConfig), JackpotError> {
        let row = self.store.get(Key::JackpotConfig).await?.ok_or(JackpotError::ConfigMissing)?;
        match &row.value {
            Value::JackpotConfig(config) => {
                let config = config.clone();
                Ok((row, config))
            }
            other => panic!("invariant: the jackpot config row holds a config, found {other:?}"),
        }
    }

    async fn read_house(&self) -> Result<(Option<Versioned>, Chips), JackpotError> {
        let row = self.store.get(Key::House).await?;
        let chips = match row.as_ref().map(|r| &r.value) {
            None => 0,
            Some(Value::House(chips)) => *chips,
            Some(other) => panic!("invariant: the house row holds chips, found {other:?}"),
        };
        Ok((row, chips))
    }

    /// A previously processed request at `key`, if any: its outcome, or `IdReused` when the
    /// payload differs.
    async fn replay<T: for<'de> Deserialize<'de>>(
        &self,
        key: Key,
        payload_hash: u64,
        id: &str,
    ) -> Result<Option<T>, JackpotError> {
        let Some(row) = self.store.get(key).await? else { return Ok(None) };
        let Value::Request(record) = &row.value else {
            panic!("invariant: a request key holds a processed request, found {:?}", row.value)
        };
        if record.payload_hash != payload_hash {
            return Err(JackpotError::IdReused { id: id.to_string() });
        }
        let outcome = serde_json::from_value(record.outcome.clone())
            .unwrap_or_else(|e| panic!("invariant: a processed jackpot request holds its outcome: {e}"));
        Ok(Some(outcome))
    }

    fn processed_record(&self, request: RequestId, user: UserId, payload_hash: u64, outcome: &impl Serialize) -> Value {
        let now_ms = self.clock.now_ms();
        Value::Request(ProcessedRequest {
            request,
            user,
            payload_hash,
            outcome: serde_json::to_value(outcome).expect("jackpot outcomes serialize"),
            processed_ms: now_ms,
            keep_until_ms: now_ms.saturating_add(self.config.processed_keep_ms),
        })
    }

    /// Sleeps before retry `retry` (0-based): `base << retry` ms plus a seeded jitter in
    /// `0..=step * jitter_percent_max / 100` ms.
    async fn backoff(&self, operation: &str, retry: u32) {
        let step_ms = backoff_step_ms(self.config.backoff_base_ms, retry);
        let jitter_max_ms = step_ms.saturating_mul(self.config.jitter_percent_max) / 100;
        let jitter_ms = self.rng.lock().expect("jackpot rng").random_range(0..=jitter_max_ms);
        self.metrics.increment(METRIC_RETRIES, &[("operation", operation)]);
        tokio::time::sleep(Duration::from_millis(step_ms + jitter_ms)).await;
    }

    /// Counts a conflict; returns the error to give up with when `attempts` used every retry.
    fn on_conflict(&self, operation: &str, error: &StoreError, attempts: u32) -> Option<JackpotError> {
        self.metrics.increment(METRIC_CONFLICTS, &[("operation", operation)]);
        let StoreError::Conflict { key, expected, actual } = *error else { return None };
        (attempts > self.config.retries_max).then(|| {
            JackpotError::ConcurrencyViolation(ConcurrencyViolationError {
                operation: operation.to_string(),
                group: group_of(key),
                conflict_details: ConflictDetails { key, expected, actual, attempts },
            })
        })
    }

    fn finish<T>(&self, operation: &str, started: Instant, result: &Result<T, JackpotError>, duplicate: bool) {
        let status = match result {
            Ok(_) if duplicate => "duplicate",
            Ok(_) => "success",
            Err(error) => error.status(),
        };
        self.metrics.increment(METRIC_OPERATIONS, &[("operation", operation), ("status", status)]);
        self.metrics.record(METRIC_DURATION, &[("operation", operation)], started.elapsed());
    }

    /// Moves `rake` chips from the House into the pools, split by the stored config's shares
    /// ([`split_rake`]; what no group gets stays in the House). One transaction guarded by the
    /// versions of the House, every pool written and the operation's processed record: all
    /// groups move or none. On a version conflict it re-reads and recomputes, up to
    /// `retries_max` retries with backoff; a repeated `operation_id` returns the first outcome.
    pub async fn contribute(&self, operation_id: &str, rake: Chips) -> Result<ContributeOutcome, JackpotError> {
        let started = Instant::now();
        let result = match self.variant {
            JackpotVariant::Optimistic => self.contribute_optimistic(operation_id, rake).await,
            JackpotVariant::Unversioned => self.contribute_unversioned(operation_id, rake).await,
        };
        let duplicate = result.as_ref().is_ok_and(|o| o.duplicate);
        self.finish(OPERATION_CONTRIBUTE, started, &result, duplicate);
        result
    }

    async fn contribute_optimistic(&self, operation_id: &str, rake: Chips) -> Result<ContributeOutcome, JackpotError> {
        let request = contribute_request_id(operation_id);
        let request_key = Key::Request(request);
        let payload_hash = fnv1a(&[&rake.to_le_bytes()]);
        let mut attempts = 0;
        loop {
            attempts += 1;
            if let Some(mut first) = self.replay::<ContributeOutcome>(request_key, payload_hash, operation_id).await? {
                first.duplicate = true;
                return Ok(first);
            }
            let (_, config) = self.read_config().await?;
            let split = split_rake(rake, &config.share_bps);
            let (house_row, house) = self.read_house().await?;
            let needed = split.to_pools();
            if house < needed {
                return Err(JackpotError::InsufficientHouse { needed, available: house });
            }
            let outcome = ContributeOutcome {
                operation_id: operation_id.to_string(),
                rake,
                split: split.clone(),
                attempts,
                duplicate: false,
            };
            if needed == 0 {
                return Ok(outcome);
            }
            let now_ms = self.clock.now_ms();
            let mut txn = Txn::new("jackpot.contribute")
                .expect_read(Key::House, house_row.as_ref())
                .put(Key::House, Value::House(house - needed));
            for &(group, share) in split.shares.iter().filter(|(_, share)| *share > 0) {
                let row = self.read_pool(group).await?;
                let mut pool = as_pool(&row, group);
                pool.amount += share;
                pool.contributed_total += share;
                pool.last_modified_ms = now_ms;
                txn = txn.expect(Key::Jackpot(group), Some(row.version)).put(Key::Jackpot(group), Value::Jackpot(pool));
            }
            let record = self.processed_record(request, UserId(0), payload_hash, &outcome);
            txn = txn.expect(request_key, None).put(request_key, record);
            match self.store.commit(txn).await {
                Ok(_) => return Ok(outcome),
                Err(error @ StoreError::Conflict { .. }) => {
                    if let Some(give_up) = self.on_conflict(OPERATION_CONTRIBUTE, &error, attempts) {
                        return Err(give_up);
                    }
                    self.backoff(OPERATION_CONTRIBUTE, attempts - 1).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The historical flaw (see [`JackpotVariant::Unversioned`]): pools read once, written back
    /// unguarded; only the House debit is version-checked and retried.
    async fn contribute_unversioned(&self, operation_id: &str, rake: Chips) -> Result<ContributeOutcome, JackpotError> {
        let (_, config) = self.read_config().await?;
        let split = split_rake(rake, &config.share_bps);
        let needed = split.to_pools();
        let mut stale_pools = Vec::new();
        for &(group, share) in split.shares.iter().filter(|(_, share)| *share > 0) {
            stale_pools.push((as_pool(&self.read_pool(group).await?, group), share));
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (house_row, house) = self.read_house().await?;
            if house < needed {
                return Err(JackpotError::InsufficientHouse { needed, available: house });
            }
            let outcome = ContributeOutcome {
                operation_id: operation_id.to_string(),
                rake,
                split: split.clone(),
                attempts,
                duplicate: false,
            };
            if needed == 0 {
                return Ok(outcome);
            }
            let now_ms = self.clock.now_ms();
            let mut txn = Txn::new("jackpot.contribute")
                .expect_read(Key::House, house_row.as_ref())
                .put(Key::House, Value::House(house - needed));
            for (pool, share) in &stale_pools {
                let mut pool = pool.clone();
                pool.amount += share;
                pool.contributed_total += share;
                pool.last_modified_ms = now_ms;
                txn = txn.put(Key::Jackpot(pool.group), Value::Jackpot(pool));
            }
            match self.store.commit(txn).await {
                Ok(_) => return Ok(outcome),
                Err(error @ StoreError::Conflict { .. }) => {
                    if let Some(give_up) = self.on_conflict(OPERATION_CONTRIBUTE, &error, attempts) {
                        return Err(give_up);
                    }
                    self.backoff(OPERATION_CONTRIBUTE, attempts - 1).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Replaces the shares (basis points of the rake per group). Validated first (each group at
    /// most once, sum ≤ [`SHARE_BPS_TOTAL_MAX`]); written with a version check and the same
    /// retry policy as [`Self::contribute`].
    pub async fn update_config(&self, share_bps: Vec<(JackpotGroup, u32)>) -> Result<JackpotConfig, JackpotError> {
        let started = Instant::now();
        let result = self.update_config_inner(share_bps).await;
        self.finish(OPERATION_UPDATE_CONFIG, started, &result, false);
        result
    }

    async fn update_config_inner(&self, share_bps: Vec<(JackpotGroup, u32)>) -> Result<JackpotConfig, JackpotError> {
        validate_shares(&share_bps)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (row, _) = self.read_config().await?;
            let config = JackpotConfig { share_bps: share_bps.clone(), last_modified_ms: self.clock.now_ms() };
            let txn = Txn::new("jackpot.update_config")
                .expect(Key::JackpotConfig, Some(row.version))
                .put(Key::JackpotConfig, Value::JackpotConfig(config.clone()));
            match self.store.commit(txn).await {
                Ok(_) => return Ok(config),
                Err(error @ StoreError::Conflict { .. }) => {
                    if let Some(give_up) = self.on_conflict(OPERATION_UPDATE_CONFIG, &error, attempts) {
                        return Err(give_up);
                    }
                    self.backoff(OPERATION_UPDATE_CONFIG, attempts - 1).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Pays a jackpot win: takes `group`'s row lock (waiting up to `lock_timeout_ms`, taking
    /// over an expired lease), then in one transaction pays `min(requested, pool)` into
    /// `user`'s wallet, records `win_id` and releases the lock. A repeated `win_id` returns the
    /// first outcome (with `duplicate: true`) and pays nothing; the same ID with another
    /// payload is `IdReused`.
    pub async fn process_win(
        &self,
        win_id: &str,
        group: JackpotGroup,
        user: UserId,
        requested: Chips,
    ) -> Result<WinOutcome, JackpotError> {
        let started = Instant::now();
        let result = self.process_win_inner(win_id, group, user, requested).await;
        let duplicate = result.as_ref().is_ok_and(|o| o.duplicate);
        self.finish(OPERATION_WIN, started, &result, duplicate);
        result
    }

    async fn process_win_inner(
        &self,
        win_id: &str,
        group: JackpotGroup,
        user: UserId,
        requested: Chips,
    ) -> Result<WinOutcome, JackpotError> {
        let request = win_request_id(win_id);
        let request_key = Key::Request(request);
        let payload_hash = fnv1a(&[group.name().as_bytes(), &user.0.to_le_bytes(), &requested.to_le_bytes()]);
        if let Some(mut first) = self.replay::<WinOutcome>(request_key, payload_hash, win_id).await? {
            first.duplicate = true;
            return Ok(first);
        }
        let nonce: u64 = self.rng.lock().expect("jackpot rng").random();
        let token = format!("win:{win_id}:{nonce:016x}");
        self.acquire_lock(group, &token).await?;
        let result = self.pay_locked(win_id, group, user, requested, &token, request, payload_hash).await;
        if result.is_err() || result.as_ref().is_ok_and(|o| o.duplicate) {
            self.release_lock(group, &token).await;
        }
        result
    }

    /// Takes the row lock of `group` for `token`, waiting in `lock_poll_ms` steps while another
    /// holder's lease runs, up to `lock_timeout_ms`.
    async fn acquire_lock(&self, group: JackpotGroup, token: &str) -> Result<(), JackpotError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(self.config.lock_timeout_ms);
        let mut holder_seen = None;
        loop {
            let row = self.read_pool(group).await?;
            let mut pool = as_pool(&row, group);
            let now_ms = self.clock.now_ms();
            let held = pool.lock_holder.is_some() && pool.lock_expires_ms.is_some_and(|until| until > now_ms);
            if !held {
                let takeover = pool.lock_holder.is_some();
                pool.lock_holder = Some(token.to_string());
                pool.lock_expires_ms = Some(now_ms.saturating_add(self.config.lock_lease_ms));
                pool.last_modified_ms = now_ms;
                let key = Key::Jackpot(group);
                let txn = Txn::new("jackpot.win.lock").expect(key, Some(row.version)).put(key, Value::Jackpot(pool));
                match self.store.commit(txn).await {
                    Ok(_) => {
                        if takeover {
                            self.metrics.increment(METRIC_LOCK_TAKEOVERS, &[("group", group.name())]);
                        }
                        self.metrics.record(METRIC_LOCK_WAIT, &[("group", group.name())], started.elapsed());
                        return Ok(());
                    }
                    Err(StoreError::Conflict { .. }) => {
                        self.metrics.increment(METRIC_CONFLICTS, &[("operation", OPERATION_WIN)]);
                    }
                    Err(error) => return Err(error.into()),
                }
            } else {
                holder_seen = pool.lock_holder.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(JackpotError::LockTimeout {
                    group,
                    holder: holder_seen,
                    waited_ms: (now - started).as_millis() as u64,
                });
            }
            let poll = Duration::from_millis(self.config.lock_poll_ms.max(1));
            tokio::time::sleep(poll.min(deadline - now)).await;
        }
    }

    /// Best-effort release after a failed or duplicate payout; the lease covers a failure here.
    async fn release_lock(&self, group: JackpotGroup, token: &str) {
        let Ok(row) = self.read_pool(group).await else { return };
        let mut pool = as_pool(&row, group);
        if pool.lock_holder.as_deref() != Some(token) {
            return;
        }
        pool.lock_holder = None;
        pool.lock_expires_ms = None;
        pool.last_modified_ms = self.clock.now_ms();
        let key = Key::Jackpot(group);
        let txn = Txn::new("jackpot.win.release").expect(key, Some(row.version)).put(key, Value::Jackpot(pool));
        let _ = self.store.commit(txn).await;
    }

    /// The payout under the row lock. Contributions may still raise the pool meanwhile (they
    /// keep the lock fields), so a conflict re-reads and recomputes, with the usual retries.
    #[allow(clippy::too_many_arguments)]
    async fn pay_locked(
        &self,
        win_id: &str,
        group: JackpotGroup,
        user: UserId,
        requested: Chips,
        token: &str,
        request: RequestId,
        payload_hash: u64,
    ) -> Result<WinOutcome, JackpotError> {
        let request_key = Key::Request(request);
        let pool_key = Key::Jackpot(group);
        let wallet_key = Key::Wallet(user);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let row = self.read_pool(group).await?;
            let mut pool = as_pool(&row, group);
            if pool.lock_holder.as_deref() != Some(token) {
                return Err(JackpotError::LockLost { group, holder: pool.lock_holder });
            }
            if let Some(mut first) = self.replay::<WinOutcome>(request_key, payload_hash, win_id).await? {
                first.duplicate = true;
                return Ok(first);
            }
            let wallet_row = self.store.get(wallet_key).await?;
            let balance = match wallet_row.as_ref().map(|r| &r.value) {
                None => 0,
                Some(Value::Wallet(wallet)) => wallet.balance,
                Some(other) => panic!("invariant: a wallet key holds a wallet, found {other:?}"),
            };
            let paid = payout_amount(requested, pool.amount);
            assert!(paid <= pool.amount, "invariant: a win never exceeds its pool");
            let now_ms = self.clock.now_ms();
            pool.amount -= paid;
            pool.won_total += paid;
            pool.lock_holder = None;
            pool.lock_expires_ms = None;
            pool.last_modified_ms = now_ms;
            let outcome = WinOutcome {
                win_id: win_id.to_string(),
                group,
                user,
                requested,
                paid,
                pool_after: pool.amount,
                duplicate: false,
            };
            let record = self.processed_record(request, user, payload_hash, &outcome);
            let txn = Txn::new("jackpot.win.pay")
                .expect(pool_key, Some(row.version))
                .expect_read(wallet_key, wallet_row.as_ref())
                .expect(request_key, None)
                .put(pool_key, Value::Jackpot(pool))
                .put(wallet_key, Value::Wallet(Wallet { user, balance: balance + paid }))
                .put(request_key, record);
            match self.store.commit(txn).await {
                Ok(_) => return Ok(outcome),
                Err(error @ StoreError::Conflict { .. }) => {
                    if let Some(give_up) = self.on_conflict(OPERATION_WIN, &error, attempts) {
                        return Err(give_up);
                    }
                    self.backoff(OPERATION_WIN, attempts - 1).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::store::{KeyKind, MemoryStore, StoreFuture};
    use proptest::prelude::*;
    use rand::SeedableRng;

    /// Chips in the House before any contribution.
    const SUPPLY: Chips = 1_000_000;
    /// Rake of one contribution in these tests: with the default shares (1000/500/250 bps) it
    /// splits into 99/49/24, leaving 827 (every rounding remainder) in the House.
    const RAKE: Chips = 999;
    const CONTRIBUTIONS_COUNT: u64 = 50;

    /// A store for tests: each call waits `latency` (so spawned tasks interleave), a
    /// meddler may bump one key's version just before each commit with a given label (a
    /// concurrent writer that always wins), and the labels of applied transactions are logged.
    #[derive(Clone)]
    struct TestStore {
        inner: MemoryStore,
        latency: Duration,
        meddle: Option<(&'static str, Key)>,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl TestStore {
        async fn delay(&self) {
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
        }

        fn labels(&self, prefix: &str) -> Vec<String> {
            self.log.lock().unwrap().iter().filter(|l| l.starts_with(prefix)).cloned().collect()
        }
    }

    impl Store for TestStore {
        fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
            Box::pin(async move {
                self.delay().await;
                Ok(self.inner.read(key))
            })
        }

        fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
            Box::pin(async move {
                self.delay().await;
                Ok(self.inner.read_kind(kind))
            })
        }

        fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
            Box::pin(async move {
                self.delay().await;
                if let Some((label, key)) = self.meddle
                    && label == txn.label
                {
                    let row = self.inner.read(key).expect("meddled key exists");
                    self.inner.apply(&Txn::new("meddle").put(key, row.value)).unwrap();
                }
                let result = self.inner.apply(&txn);
                if result.is_ok() {
                    self.log.lock().unwrap().push(txn.label.clone());
                }
                result
            })
        }
    }

    struct Fixture {
        service: Arc<JackpotService>,
        memory: MemoryStore,
        store: TestStore,
        metrics: Metrics,
    }

    async fn fixture(variant: JackpotVariant, latency_ms: u64, meddle: Option<(&'static str, Key)>) -> Fixture {
        let memory = MemoryStore::new();
        memory.apply(&Txn::new("seed").put(Key::House, Value::House(SUPPLY))).unwrap();
        let store = TestStore {
            inner: memory.clone(),
            latency: Duration::from_millis(latency_ms),
            meddle,
            log: Arc::default(),
        };
        let metrics = Metrics::new();
        let service = Arc::new(JackpotService::new(
            Arc::new(store.clone()),
            Arc::new(TokioClock::starting_now()),
            metrics.clone(),
            ChaCha8Rng::seed_from_u64(7),
            JackpotServiceConfig::default(),
            variant,
        ));
        service.ensure_pools().await.unwrap();
        service.ensure_pools().await.unwrap(); // idempotent
        Fixture { service, memory, store, metrics }
    }

    fn pool(memory: &MemoryStore, group: JackpotGroup) -> JackpotPool {
        as_pool(&memory.read(Key::Jackpot(group)).unwrap(), group)
    }

    fn house(memory: &MemoryStore) -> Chips {
        memory.read(Key::House).unwrap().value.chips_held()
    }

    fn wallet(memory: &MemoryStore, user: UserId) -> Chips {
        memory.read(Key::Wallet(user)).map_or(0, |row| row.value.chips_held())
    }

    /// Fills `group`'s pool with exactly `amount` chips taken from the House.
    fn fill(memory: &MemoryStore, group: JackpotGroup, amount: Chips) {
        let mut p = pool(memory, group);
        p.amount += amount;
        p.contributed_total += amount;
        let house = house(memory);
        let txn =
            Txn::new("fill").put(Key::Jackpot(group), Value::Jackpot(p)).put(Key::House, Value::House(house - amount));
        memory.apply(&txn).unwrap();
    }

    /// Runs `CONTRIBUTIONS_COUNT` contributions at once; a caller whose contribution lost every
    /// retry tries again later with the same operation ID, as the game flow would.
    async fn contribute_concurrently(service: &Arc<JackpotService>) -> Vec<ContributeOutcome> {
        let tasks: Vec<_> = (0..CONTRIBUTIONS_COUNT)
            .map(|i| {
                let service = service.clone();
                tokio::spawn(async move {
                    loop {
                        match service.contribute(&format!("pot-{i}"), RAKE).await {
                            Ok(outcome) => return outcome,
                            Err(JackpotError::ConcurrencyViolation(_)) => {
                                tokio::time::sleep(Duration::from_millis(1_000 + i)).await;
                            }
                            Err(other) => panic!("unexpected contribution error: {other}"),
                        }
                    }
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    #[test]
    fn the_split_keeps_every_remainder_in_the_house() {
        let split = split_rake(RAKE, &JackpotServiceConfig::default().initial_share_bps);
        let shares = vec![(JackpotGroup::Minor, 99), (JackpotGroup::Major, 49), (JackpotGroup::Mega, 24)];
        assert_eq!(split, RakeSplit { shares, house_kept: 827 });
        assert_eq!(split_rake(5, &[(JackpotGroup::Mega, 10_000)]).share(JackpotGroup::Mega), 5);
        assert_eq!(split_rake(u64::MAX, &[(JackpotGroup::Minor, 10_000)]).house_kept, 0);
        assert_eq!([0, 1, 2, 3].map(|r| backoff_step_ms(RETRY_BACKOFF_BASE_MS, r)), [100, 200, 400, 800]);
    }

    #[test]
    fn invalid_shares_are_rejected() {
        let too_much = [(JackpotGroup::Minor, 5_000), (JackpotGroup::Major, 5_001)];
        assert!(matches!(validate_shares(&too_much), Err(JackpotError::InvalidConfig { .. })));
        let twice = [(JackpotGroup::Minor, 1), (JackpotGroup::Minor, 1)];
        assert!(matches!(validate_shares(&twice), Err(JackpotError::InvalidConfig { .. })));
        assert!(validate_shares(&[(JackpotGroup::Mega, SHARE_BPS_TOTAL_MAX)]).is_ok());
    }

    fn share_lists() -> impl Strategy<Value = (u32, u32, u32)> {
        (0u32..=10_000)
            .prop_flat_map(|a| (Just(a), 0..=10_000 - a))
            .prop_flat_map(|(a, b)| (Just(a), Just(b), 0..=10_000 - a - b))
    }

    proptest! {
        #[test]
        fn the_split_conserves_chips(rake in prop_oneof![0u64..10_000, any::<u64>()], (a, b, c) in share_lists()) {
            let bps = [(JackpotGroup::Mega, c), (JackpotGroup::Minor, a), (JackpotGroup::Major, b)];
            let split = split_rake(rake, &bps);
            let shares: u128 = split.shares.iter().map(|(_, s)| u128::from(*s)).sum();
            prop_assert_eq!(shares + u128::from(split.house_kept), u128::from(rake));
            for (group, share) in bps {
                let exact = u128::from(rake) * u128::from(share) / 10_000;
                prop_assert_eq!(u128::from(split.share(group)), exact);
            }
        }

        #[test]
        fn a_payout_never_exceeds_the_pool(requested in any::<u64>(), pool in any::<u64>()) {
            let paid = payout_amount(requested, pool);
            prop_assert!(paid <= pool && paid <= requested);
            prop_assert!(paid == requested || paid == pool);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fifty_concurrent_contributions_sum_exactly() {
        let f = fixture(JackpotVariant::Optimistic, 1, None).await;
        let outcomes = contribute_concurrently(&f.service).await;
        assert!(
            outcomes.iter().all(|o| o.split == split_rake(RAKE, &JackpotServiceConfig::default().initial_share_bps))
        );
        assert_eq!(f.memory.chips_total(), SUPPLY, "chips are conserved");
        let n = CONTRIBUTIONS_COUNT;
        for (group, share) in [(JackpotGroup::Minor, 99), (JackpotGroup::Major, 49), (JackpotGroup::Mega, 24)] {
            let p = pool(&f.memory, group);
            assert_eq!((p.amount, p.contributed_total), (n * share, n * share), "{group:?}");
        }
        assert_eq!(house(&f.memory), SUPPLY - n * 172);
        // The contention was real: the retry path ran.
        assert!(f.metrics.counter(METRIC_CONFLICTS, &[("operation", "contribute")]) > 0);
        assert!(f.metrics.counter(METRIC_RETRIES, &[("operation", "contribute")]) > 0);
        let successes = f.metrics.counter(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "success")]);
        assert_eq!(successes, n);
        let durations =
            f.metrics.snapshot().histograms[&format!("{METRIC_DURATION}{{operation=\"contribute\"}}")].count();
        assert!(durations >= n);
        // A repeated operation ID moves nothing.
        let again = f.service.contribute("pot-0", RAKE).await.unwrap();
        assert!(again.duplicate);
        assert_eq!(house(&f.memory), SUPPLY - n * 172);
    }

    /// The historical bug: pools written back without a version check lose concurrent
    /// increments, and the chips taken from the House vanish.
    #[tokio::test(start_paused = true)]
    async fn the_unversioned_variant_loses_chips_under_concurrent_contributions() {
        let f = fixture(JackpotVariant::Unversioned, 1, None).await;
        let outcomes = contribute_concurrently(&f.service).await;
        assert_eq!(outcomes.len() as u64, CONTRIBUTIONS_COUNT);
        assert_eq!(house(&f.memory), SUPPLY - CONTRIBUTIONS_COUNT * 172, "the House debits are all applied");
        assert!(f.memory.chips_total() < SUPPLY, "chips vanished: {} < {SUPPLY}", f.memory.chips_total());
        assert!(pool(&f.memory, JackpotGroup::Minor).amount < CONTRIBUTIONS_COUNT * 99);
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_retries_raise_a_concurrency_violation_naming_operation_and_group() {
        let f = fixture(JackpotVariant::Optimistic, 0, Some(("jackpot.contribute", Key::Jackpot(JackpotGroup::Mega))))
            .await;
        let started = Instant::now();
        let error = f.service.contribute("pot-x", RAKE).await.unwrap_err();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let JackpotError::ConcurrencyViolation(violation) = error else { panic!("expected a violation, got {error}") };
        assert_eq!(violation.operation, "contribute");
        assert_eq!(violation.group, Some(JackpotGroup::Mega));
        assert_eq!(violation.conflict_details.key, Key::Jackpot(JackpotGroup::Mega));
        assert_eq!(violation.conflict_details.attempts, CONTRIBUTE_RETRIES_MAX + 1);
        // Backoff 100 + 200 + 400 ms, each plus at most 25 % jitter.
        assert!((700..=875).contains(&elapsed_ms), "backoff took {elapsed_ms} ms");
        assert_eq!(f.metrics.counter(METRIC_RETRIES, &[("operation", "contribute")]), 3);
        assert_eq!(f.metrics.counter(METRIC_CONFLICTS, &[("operation", "contribute")]), 4);
        let status = [("operation", "contribute"), ("status", "concurrency_violation")];
        assert_eq!(f.metrics.counter(METRIC_OPERATIONS, &status), 1);
        // All or nothing: the House and the other pools were not touched either.
        assert_eq!(house(&f.memory), SUPPLY);
        assert_eq!(pool(&f.memory, JackpotGroup::Minor).amount, 0);
        assert_eq!(f.memory.chips_total(), SUPPLY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_win_never_exceeds_its_pool() {
        let f = fixture(JackpotVariant::Optimistic, 0, None).await;
        fill(&f.memory, JackpotGroup::Major, 1_000);
        let user = UserId(9);
        let outcome = f.service.process_win("w-1", JackpotGroup::Major, user, 5_000).await.unwrap();
        assert_eq!((outcome.paid, outcome.pool_after, outcome.duplicate), (1_000, 0, false));
        assert_eq!(wallet(&f.memory, user), 1_000);
        let p = pool(&f.memory, JackpotGroup::Major);
        assert_eq!((p.amount, p.won_total, p.lock_holder, p.lock_expires_ms), (0, 1_000, None, None));
        let empty = f.service.process_win("w-2", JackpotGroup::Major, user, 10).await.unwrap();
        assert_eq!(empty.paid, 0);
        assert_eq!(wallet(&f.memory, user), 1_000);
        assert_eq!(f.memory.chips_total(), SUPPLY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_win_id_pays_once() {
        let f = fixture(JackpotVariant::Optimistic, 0, None).await;
        fill(&f.memory, JackpotGroup::Minor, 1_000);
        let user = UserId(3);
        let first = f.service.process_win("w-1", JackpotGroup::Minor, user, 300).await.unwrap();
        let second = f.service.process_win("w-1", JackpotGroup::Minor, user, 300).await.unwrap();
        assert_eq!(second, WinOutcome { duplicate: true, ..first.clone() });
        assert_eq!(wallet(&f.memory, user), 300);
        assert_eq!(pool(&f.memory, JackpotGroup::Minor).amount, 700);
        let reused = f.service.process_win("w-1", JackpotGroup::Minor, user, 301).await;
        assert!(matches!(reused, Err(JackpotError::IdReused { .. })), "{reused:?}");
        assert_eq!(f.metrics.counter(METRIC_OPERATIONS, &[("operation", "win"), ("status", "duplicate")]), 1);
        assert_eq!(f.store.labels("jackpot.win.pay").len(), 1);
        assert_eq!(f.memory.chips_total(), SUPPLY);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_wins_on_one_group_serialize_under_the_row_lock() {
        let f = fixture(JackpotVariant::Optimistic, 1, None).await;
        fill(&f.memory, JackpotGroup::Mega, 1_000);
        let tasks: Vec<_> = [1, 2]
            .map(|u| {
                let service = f.service.clone();
                tokio::spawn(
                    async move { service.process_win(&format!("w-{u}"), JackpotGroup::Mega, UserId(u), 700).await },
                )
            })
            .into_iter()
            .collect();
        let mut paid = Vec::new();
        for task in tasks {
            paid.push(task.await.unwrap().unwrap().paid);
        }
        paid.sort();
        assert_eq!(paid, [300, 700]);
        assert_eq!(wallet(&f.memory, UserId(1)) + wallet(&f.memory, UserId(2)), 1_000);
        assert_eq!(pool(&f.memory, JackpotGroup::Mega).amount, 0);
        // Lock, pay, lock, pay: the second win took the lock only after the first released it.
        let order = f.store.labels("jackpot.win");
        assert_eq!(order, ["jackpot.win.lock", "jackpot.win.pay", "jackpot.win.lock", "jackpot.win.pay"]);
        assert_eq!(f.memory.chips_total(), SUPPLY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_row_lock_held_elsewhere_times_out_after_five_seconds_and_an_expired_one_is_taken_over() {
        let f = fixture(JackpotVariant::Optimistic, 0, None).await;
        fill(&f.memory, JackpotGroup::Minor, 1_000);
        let hold = |until_ms| {
            let mut p = pool(&f.memory, JackpotGroup::Minor);
            p.lock_holder = Some("elsewhere".into());
            p.lock_expires_ms = Some(until_ms);
            f.memory.apply(&Txn::new("hold").put(Key::Jackpot(JackpotGroup::Minor), Value::Jackpot(p))).unwrap();
        };
        hold(60_000);
        let started = Instant::now();
        let error = f.service.process_win("w-1", JackpotGroup::Minor, UserId(1), 10).await.unwrap_err();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        assert_eq!(
            error,
            JackpotError::LockTimeout {
                group: JackpotGroup::Minor,
                holder: Some("elsewhere".into()),
                waited_ms: WIN_LOCK_TIMEOUT_MS
            }
        );
        assert!((WIN_LOCK_TIMEOUT_MS..WIN_LOCK_TIMEOUT_MS + 100).contains(&elapsed_ms), "{elapsed_ms} ms");
        assert_eq!(wallet(&f.memory, UserId(1)), 0);
        assert_eq!(f.metrics.counter(METRIC_OPERATIONS, &[("operation", "win"), ("status", "lock_timeout")]), 1);

        // A lease that runs out while the win waits is taken over.
        let now_ms = started.elapsed().as_millis() as u64;
        hold(now_ms + 1_000);
        let started = Instant::now();
        let outcome = f.service.process_win("w-1", JackpotGroup::Minor, UserId(1), 10).await.unwrap();
        assert_eq!(outcome.paid, 10);
        assert!((1_000..1_100).contains(&(started.elapsed().as_millis() as u64)));
        assert_eq!(f.metrics.counter(METRIC_LOCK_TAKEOVERS, &[("group", "minor")]), 1);
        assert_eq!(pool(&f.memory, JackpotGroup::Minor).lock_holder, None);
        assert_eq!(f.memory.chips_total(), SUPPLY);
    }

    #[tokio::test(start_paused = true)]
    async fn config_updates_are_validated_and_version_checked() {
        let f = fixture(JackpotVariant::Optimistic, 0, None).await;
        let invalid = f.service.update_config(vec![(JackpotGroup::Minor, 10_001)]).await;
        assert!(matches!(invalid, Err(JackpotError::InvalidConfig { .. })));
        f.service.update_config(vec![(JackpotGroup::Mega, 5_000)]).await.unwrap();
        let outcome = f.service.contribute("pot-1", 1_000).await.unwrap();
        assert_eq!(
            outcome.split.shares,
            [(JackpotGroup::Minor, 0), (JackpotGroup::Major, 0), (JackpotGroup::Mega, 500)]
        );
        assert_eq!(pool(&f.memory, JackpotGroup::Mega).amount, 500);

        let g = fixture(JackpotVariant::Optimistic, 0, Some(("jackpot.update_config", Key::JackpotConfig))).await;
        let error = g.service.update_config(vec![(JackpotGroup::Mega, 5_000)]).await.unwrap_err();
        let JackpotError::ConcurrencyViolation(violation) = error else { panic!("expected a violation, got {error}") };
        assert_eq!((violation.operation.as_str(), violation.group), ("update_config", None));
        assert_eq!(g.service.config().await.unwrap().share_bps, JackpotServiceConfig::default().initial_share_bps);
    }
}
