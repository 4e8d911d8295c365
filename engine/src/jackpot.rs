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

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::buggify::{FaultPoint, Probe};
use crate::clock::Clock;
use crate::hash::Fnv1a;
use crate::ids::{RequestId, TableId, UserId};
use crate::metrics::Metrics;
use crate::rules::Chips;
use crate::store::{
    Guard, JackpotConfig, JackpotGroup, JackpotPool, Key, ProcessedRequest, Store, StoreError, Txn, TxnKind, Value,
    Versioned,
};
use crate::wallet::WalletService;

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

pub const METRIC_OPERATIONS: &str = "poker_jackpot_operations_total";
pub const METRIC_RETRIES: &str = "poker_jackpot_retries_total";
pub const METRIC_CONFLICTS: &str = "poker_jackpot_conflicts_total";
pub const METRIC_DURATION: &str = "poker_jackpot_operation_duration_seconds";
pub const METRIC_LOCK_WAIT: &str = "poker_jackpot_lock_wait_seconds";
pub const METRIC_LOCK_TAKEOVERS: &str = "poker_jackpot_lock_takeovers_total";

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
    /// This engine instance's name, which prefixes its row-lock tokens: a restarted instance
    /// releases the row locks its previous incarnation died holding ([`JackpotService::recover`]).
    pub instance: String,
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
            instance: "engine".to_string(),
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

/// Whose chips a contribution moves: one hand's rake (contributed at most once: its operation
/// ID is the hand's), or an outside feed with an operation ID of its own (a promotion, a load
/// generator), paid from the house like any other.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contribution {
    Hand { table: TableId, hand_number: u64 },
    External { operation: String },
}

impl Contribution {
    /// The operation ID that deduplicates the contribution (`table-1-hand-3`, or the feed's).
    pub fn operation_id(&self) -> String {
        match self {
            Contribution::Hand { table, hand_number } => format!("{table}-hand-{hand_number}"),
            Contribution::External { operation } => operation.clone(),
        }
    }
}

/// What a contribution did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributeOutcome {
    pub operation_id: String,
    /// Whose chips these are.
    pub contribution: Contribution,
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

/// Everything the jackpot service is built from, injected.
pub struct JackpotParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub rng: ChaCha8Rng,
    /// The owner of the house's row and the winners' wallets: contributions and wins merge
    /// its fragments instead of writing those rows themselves.
    pub wallet: Arc<WalletService>,
}

/// The jackpot service. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct JackpotService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    rng: Mutex<ChaCha8Rng>,
    wallet: Arc<WalletService>,
    config: JackpotServiceConfig,
    variant: JackpotVariant,
}

impl std::fmt::Debug for JackpotService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JackpotService").field("config", &self.config).field("variant", &self.variant).finish()
    }
}

/// The stable hash of a list of fields, each followed by a 0xff separator.
fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut hash = Fnv1a::new();
    for part in parts {
        hash.write_part(part, 0xff);
    }
    hash.finish()
}

/// The processed-request key of a win ID (domain-separated from client request IDs).
pub fn win_request_id(win_id: &str) -> RequestId {
    RequestId(hash_parts(&[b"jackpot.win", win_id.as_bytes()]))
}

/// The processed-request key of a contribution's operation ID.
pub fn contribute_request_id(operation_id: &str) -> RequestId {
    RequestId(hash_parts(&[b"jackpot.contribute", operation_id.as_bytes()]))
}

fn group_of(key: Key) -> Option<JackpotGroup> {
    match key {
        Key::Jackpot(group) => Some(group),
        _ => None,
    }
}

/// One attempt of an optimistic operation lost a version check: retry it.
fn is_conflict(result: &Result<impl Sized, JackpotError>) -> Option<StoreError> {
    match result {
        Err(JackpotError::Store(error @ StoreError::Conflict { .. })) => Some(error.clone()),
        _ => None,
    }
}

impl JackpotService {
    pub fn new(parts: JackpotParts, config: JackpotServiceConfig, variant: JackpotVariant) -> JackpotService {
        JackpotService {
            store: parts.store,
            clock: parts.clock,
            metrics: parts.metrics,
            rng: Mutex::new(parts.rng),
            wallet: parts.wallet,
            config,
            variant,
        }
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
            let txn = Txn::new(TxnKind::JackpotInit).expect(key, None).put(key, Value::Jackpot(pool));
            self.create_if_absent(txn).await?;
        }
        let config = JackpotConfig { share_bps: self.config.initial_share_bps.clone(), last_modified_ms: now_ms };
        let key = Key::JackpotConfig;
        let txn = Txn::new(TxnKind::JackpotInit).expect(key, None).put(key, Value::JackpotConfig(config));
        self.create_if_absent(txn).await
    }

    async fn create_if_absent(&self, txn: Txn) -> Result<(), JackpotError> {
        match self.store.commit(txn).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The pool of `group` as stored now.
    pub async fn pool(&self, group: JackpotGroup) -> Result<JackpotPool, JackpotError> {
        Ok(self.read_pool(group).await?.value.as_pool().clone())
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
        let config = row.value.as_jackpot_config().clone();
        Ok((row, config))
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
        let record = row.value.as_request();
        if record.payload_hash != payload_hash {
            return Err(JackpotError::IdReused { id: id.to_string() });
        }
        let outcome = serde_json::from_value(record.outcome.clone()).unwrap_or_else(|e| {
            panic!("invariant jackpot_record_decodes: a processed jackpot request holds its outcome: {e}")
        });
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

    /// The one conflict → backoff → retry loop of the optimistic operations: runs `attempt`
    /// (given its 1-based number) until it does not lose a version check, backing off between
    /// attempts, and gives up with [`JackpotError::ConcurrencyViolation`] after `retries_max`
    /// retries. Every conflict is counted.
    async fn retry_on_conflict<T, F, Fut>(&self, operation: &str, mut attempt: F) -> Result<T, JackpotError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, JackpotError>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = attempt(attempts).await;
            let Some(conflict) = is_conflict(&result) else { return result };
            if let Some(give_up) = self.on_conflict(operation, &conflict, attempts) {
                self.wallet.buggify().probe(Probe::JackpotRetriesExhausted);
                return Err(give_up);
            }
            self.wallet.buggify().pause(FaultPoint::JackpotBeforeRetry).await;
            self.backoff(operation, attempts - 1).await;
        }
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
    pub async fn contribute(
        &self,
        contribution: &Contribution,
        rake: Chips,
    ) -> Result<ContributeOutcome, JackpotError> {
        let started = Instant::now();
        let result = match self.variant {
            JackpotVariant::Optimistic => self.contribute_optimistic(contribution, rake).await,
            JackpotVariant::Unversioned => self.contribute_unversioned(contribution, rake).await,
        };
        let duplicate = result.as_ref().is_ok_and(|o| o.duplicate);
        self.finish(OPERATION_CONTRIBUTE, started, &result, duplicate);
        result
    }

    async fn contribute_optimistic(
        &self,
        contribution: &Contribution,
        rake: Chips,
    ) -> Result<ContributeOutcome, JackpotError> {
        let operation_id = contribution.operation_id();
        self.retry_on_conflict(OPERATION_CONTRIBUTE, |attempts| {
            self.contribute_attempt(contribution, &operation_id, rake, attempts)
        })
        .await
    }

    /// One attempt of a contribution: replay a processed one, else read the config, the House
    /// and the pools, and write them all in one guarded transaction.
    async fn contribute_attempt(
        &self,
        contribution: &Contribution,
        operation_id: &str,
        rake: Chips,
        attempts: u32,
    ) -> Result<ContributeOutcome, JackpotError> {
        let request = contribute_request_id(operation_id);
        let request_key = Key::Request(request);
        let payload_hash = hash_parts(&[&rake.to_le_bytes()]);
        if let Some(mut first) = self.replay::<ContributeOutcome>(request_key, payload_hash, operation_id).await? {
            first.duplicate = true;
            return Ok(first);
        }
        let (_, config) = self.read_config().await?;
        let split = split_rake(rake, &config.share_bps);
        let house = self.wallet.read_house().await?;
        let needed = split.to_pools();
        if house.chips < needed {
            return Err(JackpotError::InsufficientHouse { needed, available: house.chips });
        }
        let outcome = ContributeOutcome {
            operation_id: operation_id.to_string(),
            contribution: contribution.clone(),
            rake,
            split,
            attempts,
            duplicate: false,
        };
        if needed == 0 {
            return Ok(outcome);
        }
        let now_ms = self.clock.now_ms();
        let mut txn = Txn::new(TxnKind::JackpotContribute).merge(house.debit_txn(needed));
        for &(group, share) in outcome.split.shares.iter().filter(|(_, share)| *share > 0) {
            let row = self.read_pool(group).await?;
            let pool = row.value.as_pool().credited(share, now_ms);
            txn = txn.expect(Key::Jackpot(group), Some(row.version)).put(Key::Jackpot(group), Value::Jackpot(pool));
        }
        let record = self.processed_record(request, UserId(0), payload_hash, &outcome);
        txn = txn.expect(request_key, None).put(request_key, record);
        self.store.commit(txn).await?;
        Ok(outcome)
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
        self.retry_on_conflict(OPERATION_UPDATE_CONFIG, |_| self.update_config_attempt(&share_bps)).await
    }

    async fn update_config_attempt(&self, share_bps: &[(JackpotGroup, u32)]) -> Result<JackpotConfig, JackpotError> {
        let (row, _) = self.read_config().await?;
        let config = JackpotConfig { share_bps: share_bps.to_vec(), last_modified_ms: self.clock.now_ms() };
        let txn = Txn::new(TxnKind::JackpotUpdateConfig)
            .expect(Key::JackpotConfig, Some(row.version))
            .put(Key::JackpotConfig, Value::JackpotConfig(config.clone()));
        self.store.commit(txn).await?;
        Ok(config)
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
        let win = Win { id: win_id, group, user, requested };
        let result = self.process_win_inner(&win).await;
        let duplicate = result.as_ref().is_ok_and(|o| o.duplicate);
        self.finish(OPERATION_WIN, started, &result, duplicate);
        result
    }

    async fn process_win_inner(&self, win: &Win<'_>) -> Result<WinOutcome, JackpotError> {
        if let Some(mut first) = self.replay::<WinOutcome>(win.request_key(), win.payload_hash(), win.id).await? {
            first.duplicate = true;
            return Ok(first);
        }
        let nonce: u64 = self.rng.lock().expect("jackpot rng").random();
        let token = format!("{}/win:{}:{nonce:016x}", self.config.instance, win.id);
        self.acquire_lock(win.group, &token).await?;
        let result = match self.wallet.buggify().point(FaultPoint::JackpotRowLockHeld).await {
            Ok(()) => self.pay_locked(win, &token).await,
            Err(injected) => Err(injected.into()),
        };
        if result.is_err() || result.as_ref().is_ok_and(|o| o.duplicate) {
            self.release_lock(win.group, &token).await;
        }
        result
    }

    /// Releases every row lock a previous incarnation of this instance died holding (a token
    /// with this instance's prefix: no live task of a freshly booted process holds one). Call
    /// it once at boot; it tries again while the store fails. Returns the groups released.
    pub async fn recover(&self) -> Vec<JackpotGroup> {
        let prefix = format!("{}/", self.config.instance);
        let poll = Duration::from_millis(self.config.lock_poll_ms.max(1));
        let mut released = Vec::new();
        for group in JackpotGroup::ALL {
            let holder = loop {
                match self.read_pool(group).await {
                    Ok(row) => break row.value.as_pool().lock_holder.clone(),
                    Err(JackpotError::UnknownGroup { .. }) => break None,
                    Err(_) => tokio::time::sleep(poll).await,
                }
            };
            if let Some(token) = holder.filter(|token| token.starts_with(&prefix)) {
                self.release_lock(group, &token).await;
                released.push(group);
            }
        }
        released
    }

    /// Takes the row lock of `group` for `token`, waiting in `lock_poll_ms` steps while another
    /// holder's lease runs, up to `lock_timeout_ms`.
    async fn acquire_lock(&self, group: JackpotGroup, token: &str) -> Result<(), JackpotError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(self.config.lock_timeout_ms);
        let mut holder_seen = None;
        loop {
            let row = self.read_pool(group).await?;
            let mut pool = row.value.as_pool().clone();
            let now_ms = self.clock.now_ms();
            let held = pool.lock_holder.is_some() && pool.lock_expires_ms.is_some_and(|until| until > now_ms);
            if !held {
                let takeover = pool.lock_holder.is_some();
                pool.lock_holder = Some(token.to_string());
                pool.lock_expires_ms = Some(now_ms.saturating_add(self.config.lock_lease_ms));
                pool.last_modified_ms = now_ms;
                let key = Key::Jackpot(group);
                let txn =
                    Txn::new(TxnKind::JackpotWinLock).expect(key, Some(row.version)).put(key, Value::Jackpot(pool));
                match self.store.commit(txn).await {
                    Ok(_) => {
                        if takeover {
                            self.metrics.increment(METRIC_LOCK_TAKEOVERS, &[("group", group.name())]);
                            self.wallet.buggify().probe(Probe::RowLockTakenOver);
                        }
                        self.metrics.record(METRIC_LOCK_WAIT, &[("group", group.name())], started.elapsed());
                        return Ok(());
                    }
                    Err(StoreError::Conflict { .. }) => {
                        self.metrics.increment(METRIC_CONFLICTS, &[("operation", OPERATION_WIN)]);
                    }
                    Err(StoreError::TimedOut) => {
                        // The lock may have been taken (the reply was lost): give it back,
                        // or it would sit there until its lease runs out. (Found by the
                        // simulator: a lost reply here left the next win a 5 s takeover.)
                        self.release_lock(group, token).await;
                        return Err(StoreError::TimedOut.into());
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

    /// Releases `token`'s row lock of `group` after a failed or duplicate payout (or a dead
    /// incarnation's, at boot), trying again every `lock_poll_ms` while the store fails or
    /// another writer changed the row, until the lock is free or no longer `token`'s: a lock
    /// must not outlive its holder's intent (the lease only bounds the damage).
    async fn release_lock(&self, group: JackpotGroup, token: &str) {
        let poll = Duration::from_millis(self.config.lock_poll_ms.max(1));
        loop {
            let released = async {
                let row = self.read_pool(group).await?;
                let mut pool = row.value.as_pool().clone();
                if pool.lock_holder.as_deref() != Some(token) {
                    return Ok::<bool, JackpotError>(true);
                }
                pool.lock_holder = None;
                pool.lock_expires_ms = None;
                pool.last_modified_ms = self.clock.now_ms();
                let key = Key::Jackpot(group);
                let txn =
                    Txn::new(TxnKind::JackpotWinRelease).expect(key, Some(row.version)).put(key, Value::Jackpot(pool));
                Ok(self.store.commit(txn).await.is_ok())
            }
            .await;
            if matches!(released, Ok(true)) {
                return;
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The payout under the row lock. Contributions may still raise the pool meanwhile (they
    /// keep the lock fields), so a conflict re-reads and recomputes, with the usual retries.
    async fn pay_locked(&self, win: &Win<'_>, token: &str) -> Result<WinOutcome, JackpotError> {
        self.retry_on_conflict(OPERATION_WIN, |_| self.pay_attempt(win, token)).await
    }

    /// One attempt of a payout: the pool (still ours?), a replay of a paid win, the wallet,
    /// then pool, wallet and the win's record in one guarded transaction.
    async fn pay_attempt(&self, win: &Win<'_>, token: &str) -> Result<WinOutcome, JackpotError> {
        let (group, pool_key, request_key) = (win.group, Key::Jackpot(win.group), win.request_key());
        let row = self.read_pool(group).await?;
        let mut pool = row.value.as_pool().clone();
        if pool.lock_holder.as_deref() != Some(token) {
            return Err(JackpotError::LockLost { group, holder: pool.lock_holder });
        }
        if let Some(mut first) = self.replay::<WinOutcome>(request_key, win.payload_hash(), win.id).await? {
            first.duplicate = true;
            return Ok(first);
        }
        let wallet = self.wallet.read(win.user).await?;
        let paid = payout_amount(win.requested, pool.amount);
        assert!(paid <= pool.amount, "invariant jackpot_win_within_pool: a win never exceeds its pool");
        pool.amount -= paid;
        pool.won_total += paid;
        pool.lock_holder = None;
        pool.lock_expires_ms = None;
        pool.last_modified_ms = self.clock.now_ms();
        let outcome = WinOutcome {
            win_id: win.id.to_string(),
            group,
            user: win.user,
            requested: win.requested,
            paid,
            pool_after: pool.amount,
            duplicate: false,
        };
        let record = self.processed_record(win.request(), win.user, win.payload_hash(), &outcome);
        let txn = Txn::new(TxnKind::JackpotWinPay)
            .expect(pool_key, Some(row.version))
            .put(pool_key, Value::Jackpot(pool))
            .merge(wallet.credit_txn(paid, Guard::Versioned))
            .expect(request_key, None)
            .put(request_key, record);
        self.store.commit(txn).await?;
        Ok(outcome)
    }
}

/// One win request: what is asked, and how it is deduplicated.
struct Win<'a> {
    id: &'a str,
    group: JackpotGroup,
    user: UserId,
    requested: Chips,
}

impl Win<'_> {
    fn request(&self) -> RequestId {
        win_request_id(self.id)
    }

    fn request_key(&self) -> Key {
        Key::Request(self.request())
    }

    fn payload_hash(&self) -> u64 {
        hash_parts(&[self.group.name().as_bytes(), &self.user.0.to_le_bytes(), &self.requested.to_le_bytes()])
    }
}

mod unversioned;

#[cfg(test)]
mod tests;
