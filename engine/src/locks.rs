//! The lock manager: named async locks by category (stage, table, deck, betting round, pot,
//! player, chat, jackpot), each with its own acquire timeout, taken through an explicit owner
//! handle that remembers what it holds.
//!
//! It owns the per-key `tokio::sync::RwLock`s, the table of current holders and waiters, the
//! record of hierarchy violations and long holds, and the lock metrics. It checks the
//! fine-grained acquisition order Stage → Table → Deck → BettingRound → Pot → Player, refuses
//! re-entrant requests instead of deadlocking, and snapshots the wait-for graph on demand
//! (`LockManager::detect_deadlock`). It must never read the wall clock (all durations come from
//! `tokio::time::Instant`, simulated under the simulator), never iterate an unordered map, never
//! hold its bookkeeping `std::sync::Mutex` across an `.await`, and never let a timed-out or
//! cancelled acquire enter the critical section or leave a trace in the holder table.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};
use tokio::time::{Instant, timeout};

use crate::metrics::Metrics;

/// Default acquire timeout of a `Stage` lock, in milliseconds.
pub const STAGE_LOCK_TIMEOUT_MS: u64 = 25_000;
/// Default acquire timeout of an `EngineStage` lock, in milliseconds.
pub const ENGINE_STAGE_LOCK_TIMEOUT_MS: u64 = 25_000;
/// Default acquire timeout of a `Chat` lock, in milliseconds.
pub const CHAT_LOCK_TIMEOUT_MS: u64 = 15_000;
/// Default acquire timeout of a `Table` lock (read or write), in milliseconds.
pub const TABLE_LOCK_TIMEOUT_MS: u64 = 10_000;
/// Default acquire timeout of the fine-grained `Deck`, `BettingRound`, `Pot` and `Player`
/// locks, in milliseconds.
pub const FINE_GRAINED_LOCK_TIMEOUT_MS: u64 = 10_000;
/// Default acquire timeout of a `Jackpot` lock, in milliseconds.
pub const JACKPOT_LOCK_TIMEOUT_MS: u64 = 5_000;
/// Default hold duration above which a release is logged and counted as a long hold, in
/// milliseconds.
pub const LONG_HOLD_WARN_MS: u64 = 1_000;
/// How many of the most recent long holds are kept in memory for `LockManager::long_holds`.
pub const LONG_HOLDS_KEPT_COUNT: usize = 64;
/// How many of the most recent hierarchy violations are kept in memory for
/// `LockManager::hierarchy_violations` (all of them are counted in the metrics).
pub const HIERARCHY_VIOLATIONS_KEPT_COUNT: usize = 256;

/// Histogram of the time spent waiting for a lock (successful or timed out), per category.
pub const METRIC_LOCK_WAIT: &str = "poker_lock_wait_seconds";
/// Histogram of the time a lock was held, per category.
pub const METRIC_LOCK_HOLD: &str = "poker_lock_hold_seconds";
/// Counter of acquire attempts, per category and status.
pub const METRIC_LOCK_ACQUIRE: &str = "poker_lock_acquire_total";
/// Counter of hierarchy violations (recorded whether or not refused), per requested category.
pub const METRIC_LOCK_HIERARCHY_VIOLATIONS: &str = "poker_lock_hierarchy_violations_total";
/// Counter of holds longer than `LockConfig::long_hold_warn_ms`, per category.
pub const METRIC_LOCK_LONG_HOLDS: &str = "poker_lock_long_holds_total";

/// `status` label of `poker_lock_acquire_total`: the lock was acquired.
pub const STATUS_SUCCESS: &str = "success";
/// `status` label: the acquire timed out.
pub const STATUS_TIMEOUT: &str = "timeout";
/// `status` label: the owner already held or awaited the key.
pub const STATUS_REENTRANT: &str = "reentrant";
/// `status` label: refused for a hierarchy violation (only when enforced).
pub const STATUS_HIERARCHY: &str = "hierarchy";
/// `status` label: read mode asked of a category that is exclusive only.
pub const STATUS_READ_NOT_SUPPORTED: &str = "read_not_supported";

/// The kind of state a lock protects; decides its timeout and its place in the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockCategory {
    Stage,
    EngineStage,
    Chat,
    Table,
    Deck,
    BettingRound,
    Pot,
    Player,
    Jackpot,
}

impl LockCategory {
    /// Every category, in declaration order.
    pub const ALL: [LockCategory; 9] = [
        LockCategory::Stage,
        LockCategory::EngineStage,
        LockCategory::Chat,
        LockCategory::Table,
        LockCategory::Deck,
        LockCategory::BettingRound,
        LockCategory::Pot,
        LockCategory::Player,
        LockCategory::Jackpot,
    ];

    /// The `category` label value used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LockCategory::Stage => "stage",
            LockCategory::EngineStage => "engine_stage",
            LockCategory::Chat => "chat",
            LockCategory::Table => "table",
            LockCategory::Deck => "deck",
            LockCategory::BettingRound => "betting_round",
            LockCategory::Pot => "pot",
            LockCategory::Player => "player",
            LockCategory::Jackpot => "jackpot",
        }
    }

    /// The position in the fine-grained acquisition order (0 is taken first), or `None` for
    /// the categories outside the hierarchy (`EngineStage`, `Chat`, `Jackpot`), which are
    /// never order-checked.
    pub fn hierarchy_level(self) -> Option<u8> {
        match self {
            LockCategory::Stage => Some(0),
            LockCategory::Table => Some(1),
            LockCategory::Deck => Some(2),
            LockCategory::BettingRound => Some(3),
            LockCategory::Pot => Some(4),
            LockCategory::Player => Some(5),
            LockCategory::EngineStage | LockCategory::Chat | LockCategory::Jackpot => None,
        }
    }

    /// Whether `LockMode::Read` is allowed: only table locks are read/write.
    pub fn supports_read(self) -> bool {
        self == LockCategory::Table
    }
}

impl fmt::Display for LockCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Timeouts and checks of the lock manager. Every field has a default; unknown fields are
/// rejected so a misspelt setting fails loudly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockConfig {
    /// Acquire timeout of `Stage` locks, in milliseconds.
    pub stage_timeout_ms: u64,
    /// Acquire timeout of `EngineStage` locks, in milliseconds.
    pub engine_stage_timeout_ms: u64,
    /// Acquire timeout of `Chat` locks, in milliseconds.
    pub chat_timeout_ms: u64,
    /// Acquire timeout of `Table` locks (read and write), in milliseconds.
    pub table_timeout_ms: u64,
    /// Acquire timeout of `Deck` locks, in milliseconds.
    pub deck_timeout_ms: u64,
    /// Acquire timeout of `BettingRound` locks, in milliseconds.
    pub betting_round_timeout_ms: u64,
    /// Acquire timeout of `Pot` locks, in milliseconds.
    pub pot_timeout_ms: u64,
    /// Acquire timeout of `Player` locks, in milliseconds.
    pub player_timeout_ms: u64,
    /// Acquire timeout of `Jackpot` locks, in milliseconds.
    pub jackpot_timeout_ms: u64,
    /// Refuse (with `LockError::HierarchyViolation`) an acquire that breaks the hierarchy.
    /// Violations are recorded and counted either way. Off by default, as in the backend's
    /// incremental rollout.
    pub enforce_hierarchy: bool,
    /// A hold longer than this is logged on release and counted, in milliseconds.
    pub long_hold_warn_ms: u64,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            stage_timeout_ms: STAGE_LOCK_TIMEOUT_MS,
            engine_stage_timeout_ms: ENGINE_STAGE_LOCK_TIMEOUT_MS,
            chat_timeout_ms: CHAT_LOCK_TIMEOUT_MS,
            table_timeout_ms: TABLE_LOCK_TIMEOUT_MS,
            deck_timeout_ms: FINE_GRAINED_LOCK_TIMEOUT_MS,
            betting_round_timeout_ms: FINE_GRAINED_LOCK_TIMEOUT_MS,
            pot_timeout_ms: FINE_GRAINED_LOCK_TIMEOUT_MS,
            player_timeout_ms: FINE_GRAINED_LOCK_TIMEOUT_MS,
            jackpot_timeout_ms: JACKPOT_LOCK_TIMEOUT_MS,
            enforce_hierarchy: false,
            long_hold_warn_ms: LONG_HOLD_WARN_MS,
        }
    }
}

impl LockConfig {
    /// The acquire timeout of `category`, in milliseconds.
    pub fn timeout_ms(&self, category: LockCategory) -> u64 {
        match category {
            LockCategory::Stage => self.stage_timeout_ms,
            LockCategory::EngineStage => self.engine_stage_timeout_ms,
            LockCategory::Chat => self.chat_timeout_ms,
            LockCategory::Table => self.table_timeout_ms,
            LockCategory::Deck => self.deck_timeout_ms,
            LockCategory::BettingRound => self.betting_round_timeout_ms,
            LockCategory::Pot => self.pot_timeout_ms,
            LockCategory::Player => self.player_timeout_ms,
            LockCategory::Jackpot => self.jackpot_timeout_ms,
        }
    }

    /// The acquire timeout of `category`.
    pub fn timeout(&self, category: LockCategory) -> Duration {
        Duration::from_millis(self.timeout_ms(category))
    }
}

/// The identity of one lock: its category and a name within it (`Table`/"table-3",
/// `Player`/"player-17"). Ordered by category (declaration order), then name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LockKey {
    pub category: LockCategory,
    pub name: Arc<str>,
}

impl LockKey {
    pub fn new(category: LockCategory, name: impl Into<Arc<str>>) -> LockKey {
        LockKey { category, name: name.into() }
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.category, self.name)
    }
}

/// Shared (`Read`, table locks only) or exclusive (`Write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    Read,
    Write,
}

/// A unique owner, handed out by `LockManager::owner` from a counter (1, 2, 3, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OwnerId(pub u64);

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "owner-{}", self.0)
    }
}

/// Why an acquire failed. In every case the critical section was not entered and the owner
/// holds nothing more than before.
///
/// Serialized in two shapes (see `lock_error_shapes`): internally tagged in human-readable
/// formats (`{"error": "timeout", …}` in JSON reports and stored outcomes), externally tagged
/// in compact binary ones (the simulator's wire), which cannot read an internal tag back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The category timeout elapsed; `holders` are the holders of `key` at that moment.
    #[error("timed out after {waited_ms} ms waiting for lock {key} (held by {})", describe_holders(.holders))]
    Timeout { key: LockKey, waited_ms: u64, holders: Vec<LockHolder> },
    /// The owner already holds (or is already waiting for) `key`, in any mode.
    #[error("owner already holds or awaits lock {key}")]
    Reentrant { key: LockKey },
    /// `requested` would be taken while holding `held`, against the acquisition order
    /// (only returned when `LockConfig::enforce_hierarchy` is set).
    #[error("lock hierarchy violation: {requested} requested while holding {held}")]
    HierarchyViolation { requested: LockKey, held: LockKey },
    /// `LockMode::Read` asked of a category other than `Table`.
    #[error("lock {key} cannot be taken in read mode: only table locks are read/write")]
    ReadNotSupported { key: LockKey },
}

/// `LockError`'s serde shapes, stamped from one variant list so that they cannot drift apart.
mod lock_error_shapes {
    use super::{LockError, LockHolder, LockKey};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    macro_rules! shapes {
        ($($variant:ident { $($field:ident : $ty:ty),* }),* $(,)?) => {
            #[derive(Serialize, Deserialize)]
            #[serde(remote = "LockError", tag = "error", rename_all = "snake_case")]
            enum Tagged { $($variant { $($field: $ty),* }),* }

            #[derive(Serialize, Deserialize)]
            #[serde(remote = "LockError", rename_all = "snake_case")]
            enum External { $($variant { $($field: $ty),* }),* }
        };
    }

    shapes! {
        Timeout { key: LockKey, waited_ms: u64, holders: Vec<LockHolder> },
        Reentrant { key: LockKey },
        HierarchyViolation { requested: LockKey, held: LockKey },
        ReadNotSupported { key: LockKey },
    }

    impl Serialize for LockError {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if serializer.is_human_readable() {
                Tagged::serialize(self, serializer)
            } else {
                External::serialize(self, serializer)
            }
        }
    }

    impl<'de> Deserialize<'de> for LockError {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LockError, D::Error> {
            if deserializer.is_human_readable() {
                Tagged::deserialize(deserializer)
            } else {
                External::deserialize(deserializer)
            }
        }
    }
}

fn describe_holders(holders: &[LockHolder]) -> String {
    if holders.is_empty() {
        return "nobody".to_string();
    }
    let parts: Vec<String> =
        holders.iter().map(|h| format!("{} ({}, {} ms)", h.owner, h.operation, h.held_ms)).collect();
    parts.join(", ")
}

/// One current holder of a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub key: LockKey,
    pub owner: OwnerId,
    /// The operation name given to `LockManager::owner`.
    pub operation: Arc<str>,
    pub mode: LockMode,
    /// How long it has held the lock so far, in milliseconds.
    pub held_ms: u64,
}

/// One owner currently waiting for a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockWaiter {
    pub key: LockKey,
    pub owner: OwnerId,
    pub operation: Arc<str>,
    pub mode: LockMode,
    /// How long it has waited so far, in milliseconds.
    pub waited_ms: u64,
}

/// One owner in a wait-for cycle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleMember {
    pub owner: OwnerId,
    pub operation: Arc<str>,
}

/// Holders, waiters and the wait-for cycle (if any) at one moment. Holders and waiters are
/// sorted by key then owner; the cycle starts at its smallest owner id and follows the
/// "waits on" edges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlockSnapshot {
    pub holders: Vec<LockHolder>,
    pub waiters: Vec<LockWaiter>,
    pub cycle: Option<Vec<CycleMember>>,
}

/// An acquire that broke the acquisition order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchyViolation {
    pub owner: OwnerId,
    pub operation: Arc<str>,
    pub requested: LockKey,
    /// The held lock that should have been taken after `requested` (the first such lock in
    /// key order).
    pub held: LockKey,
    /// Whether the acquire was refused (`LockConfig::enforce_hierarchy`).
    pub refused: bool,
    /// When, in milliseconds since the manager was created.
    pub at_ms: u64,
}

/// What happened to a lock, as told to a [`LockObserver`] (the simulator's trace and
/// timeline). Durations are in microseconds of `tokio::time`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LockEvent {
    Acquired {
        key: LockKey,
        mode: LockMode,
        owner: OwnerId,
        operation: Arc<str>,
        waited_us: u64,
    },
    Released {
        key: LockKey,
        mode: LockMode,
        owner: OwnerId,
        operation: Arc<str>,
        held_us: u64,
    },
    TimedOut {
        key: LockKey,
        mode: LockMode,
        owner: OwnerId,
        operation: Arc<str>,
        waited_us: u64,
    },
    /// The acquire could not be granted at once and now waits (announced at its first
    /// pending poll; an acquire granted at once announces only `Acquired`). It ends in
    /// `Acquired`, `TimedOut` or `WaitAbandoned`.
    Waiting {
        key: LockKey,
        mode: LockMode,
        owner: OwnerId,
        operation: Arc<str>,
    },
    /// A waiting acquire's future was dropped before it resolved (its task cancelled).
    WaitAbandoned {
        key: LockKey,
        mode: LockMode,
        owner: OwnerId,
        operation: Arc<str>,
        waited_us: u64,
    },
}

/// Receives every acquire, release and timeout, and every wait's start and abandonment,
/// synchronously and outside the manager's bookkeeping mutex. It must not acquire locks of
/// the same manager.
pub trait LockObserver: Send + Sync {
    fn on_lock_event(&self, event: LockEvent);
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A hold longer than `LockConfig::long_hold_warn_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongHold {
    pub key: LockKey,
    pub owner: OwnerId,
    pub operation: Arc<str>,
    pub mode: LockMode,
    /// How long the lock was held, in milliseconds.
    pub held_ms: u64,
    /// When it was released, in milliseconds since the manager was created.
    pub released_at_ms: u64,
}

#[derive(Debug)]
struct Holding {
    operation: Arc<str>,
    mode: LockMode,
    since: Instant,
}

#[derive(Debug)]
struct Waiting {
    operation: Arc<str>,
    mode: LockMode,
    since: Instant,
}

/// One key's bookkeeping: its lock, and its holders and waiters, each sorted by owner (a key
/// has a handful at most, so a sorted `Vec` beats a map and allocates less).
#[derive(Debug, Default)]
struct KeyState {
    lock: Arc<RwLock<()>>,
    holders: Vec<(OwnerId, Holding)>,
    waiters: Vec<(OwnerId, Waiting)>,
}

impl KeyState {
    fn idle(&self) -> bool {
        self.holders.is_empty() && self.waiters.is_empty()
    }

    fn holds(&self, owner: OwnerId) -> bool {
        self.holders.iter().any(|(held_by, _)| *held_by == owner)
    }

    fn awaits(&self, owner: OwnerId) -> bool {
        self.waiters.iter().any(|(waiter, _)| *waiter == owner)
    }
}

/// Inserts `item` for `owner` into `list`, kept sorted by owner; false if `owner` is there.
fn insert_sorted<T>(list: &mut Vec<(OwnerId, T)>, owner: OwnerId, item: T) -> bool {
    match list.binary_search_by_key(&owner, |(o, _)| *o) {
        Ok(_) => false,
        Err(at) => {
            list.insert(at, (owner, item));
            true
        }
    }
}

/// Removes `owner`'s entry from `list`.
fn remove_sorted<T>(list: &mut Vec<(OwnerId, T)>, owner: OwnerId) -> Option<T> {
    let at = list.binary_search_by_key(&owner, |(o, _)| *o).ok()?;
    Some(list.remove(at).1)
}

/// The bookkeeping behind the manager's `std::sync::Mutex`. Invariant: a key is in `keys`
/// while it has a holder or a waiter (it may also linger while idle until pruned, never the
/// reverse). What an owner holds is read off the keys (few are ever in use at once).
#[derive(Debug, Default)]
struct State {
    next_owner_id: u64,
    keys: BTreeMap<LockKey, KeyState>,
    violations: VecDeque<HierarchyViolation>,
    long_holds: VecDeque<LongHold>,
}

impl State {
    fn holds_or_awaits(&self, key: &LockKey, owner: OwnerId) -> bool {
        self.keys.get(key).is_some_and(|k| k.holds(owner) || k.awaits(owner))
    }

    /// The keys `owner` holds, in key order.
    fn held_by(&self, owner: OwnerId) -> impl Iterator<Item = &LockKey> {
        self.keys.iter().filter(move |(_, k)| k.holds(owner)).map(|(key, _)| key)
    }

    /// The first held key (in key order) that must come after `requested` in the hierarchy.
    fn hierarchy_conflict(&self, owner: OwnerId, requested: &LockKey) -> Option<LockKey> {
        let level = requested.category.hierarchy_level()?;
        self.held_by(owner)
            .find(|held| match held.category.hierarchy_level() {
                Some(held_level) if held_level > level => true,
                Some(held_level) if held_level == level => held.name > requested.name,
                _ => false,
            })
            .cloned()
    }

    fn add_waiter(&mut self, key: &LockKey, owner: OwnerId, waiting: Waiting) -> Arc<RwLock<()>> {
        let state = self.keys.entry(key.clone()).or_default();
        assert!(insert_sorted(&mut state.waiters, owner, waiting), "lock manager: an owner waits at most once per key");
        Arc::clone(&state.lock)
    }

    fn remove_waiter(&mut self, key: &LockKey, owner: OwnerId) {
        if let Some(state) = self.keys.get_mut(key) {
            remove_sorted(&mut state.waiters, owner);
        }
    }

    fn add_holder(&mut self, key: &LockKey, owner: OwnerId, holding: Holding) {
        let state = self.keys.entry(key.clone()).or_default();
        assert!(insert_sorted(&mut state.holders, owner, holding), "lock manager: an owner holds a key at most once");
    }

    fn remove_holder(&mut self, key: &LockKey, owner: OwnerId) {
        let removed = self.keys.get_mut(key).and_then(|state| remove_sorted(&mut state.holders, owner));
        assert!(removed.is_some(), "lock manager: a released guard was a holder");
    }

    /// Forgets the lock of `key` when nobody holds or awaits it, so per-player keys do not
    /// accumulate. Anyone still referencing the old `RwLock` is no longer registered and
    /// will never be granted anything through it.
    fn prune(&mut self, key: &LockKey) {
        if self.keys.get(key).is_some_and(KeyState::idle) {
            self.keys.remove(key);
        }
    }

    fn holders_of(&self, key: &LockKey, now: Instant) -> Vec<LockHolder> {
        self.keys
            .get(key)
            .map(|state| state.holders.iter().map(|(owner, h)| holder_view(key, *owner, h, now)).collect())
            .unwrap_or_default()
    }

    fn all_holders(&self, now: Instant) -> Vec<LockHolder> {
        self.keys
            .iter()
            .flat_map(|(key, state)| state.holders.iter().map(move |(owner, h)| holder_view(key, *owner, h, now)))
            .collect()
    }

    fn all_waiters(&self, now: Instant) -> Vec<LockWaiter> {
        self.keys
            .iter()
            .flat_map(|(key, state)| {
                state.waiters.iter().map(move |(owner, w)| LockWaiter {
                    key: key.clone(),
                    owner: *owner,
                    operation: w.operation.clone(),
                    mode: w.mode,
                    waited_ms: millis(now.saturating_duration_since(w.since)),
                })
            })
            .collect()
    }
}

fn holder_view(key: &LockKey, owner: OwnerId, holding: &Holding, now: Instant) -> LockHolder {
    LockHolder {
        key: key.clone(),
        owner,
        operation: holding.operation.clone(),
        mode: holding.mode,
        held_ms: millis(now.saturating_duration_since(holding.since)),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, kept_count: usize) {
    if queue.len() == kept_count {
        queue.pop_front();
    }
    queue.push_back(item);
}

struct Inner {
    config: LockConfig,
    metrics: Metrics,
    observer: Option<Arc<dyn LockObserver>>,
    /// The manager's creation, the zero of every `*_at_ms`.
    origin: Instant,
    state: Mutex<State>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").field("config", &self.config).field("state", &self.state).finish_non_exhaustive()
    }
}

impl Inner {
    fn notify(&self, event: impl FnOnce() -> LockEvent) {
        if let Some(observer) = &self.observer {
            observer.on_lock_event(event());
        }
    }

    /// The bookkeeping. A panic while it was held cannot leave it half-updated in a way that
    /// matters more than losing the lock manager, so poisoning is ignored (guards must still
    /// release during unwinding).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn since_origin_ms(&self, now: Instant) -> u64 {
        millis(now.saturating_duration_since(self.origin))
    }

    fn count_acquire(&self, category: LockCategory, status: &str) {
        self.metrics.increment(METRIC_LOCK_ACQUIRE, &[("category", category.as_str()), ("status", status)]);
    }
}

/// The lock manager: a cheap-to-clone handle on one set of named locks.
#[derive(Clone, Debug)]
pub struct LockManager {
    inner: Arc<Inner>,
}

impl LockManager {
    /// A manager with `config`, reporting into `metrics`.
    pub fn new(config: LockConfig, metrics: Metrics) -> LockManager {
        LockManager::build(config, metrics, None)
    }

    /// A manager that also tells `observer` of every acquire, release and timeout.
    pub fn with_observer(config: LockConfig, metrics: Metrics, observer: Arc<dyn LockObserver>) -> LockManager {
        LockManager::build(config, metrics, Some(observer))
    }

    fn build(config: LockConfig, metrics: Metrics, observer: Option<Arc<dyn LockObserver>>) -> LockManager {
        LockManager {
            inner: Arc::new(Inner {
                config,
                metrics,
                observer,
                origin: Instant::now(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub fn config(&self) -> &LockConfig {
        &self.inner.config
    }

    /// A new owner for one operation (`"betting.apply"`), with the next `OwnerId`. The
    /// operation name appears in logs, errors and snapshots.
    pub fn owner(&self, operation: impl Into<Arc<str>>) -> LockOwner {
        let id = {
            let mut state = self.inner.state();
            state.next_owner_id += 1;
            OwnerId(state.next_owner_id)
        };
        LockOwner { inner: Arc::clone(&self.inner), id, operation: operation.into() }
    }

    /// Every current holder, sorted by key then owner.
    pub fn held_locks(&self) -> Vec<LockHolder> {
        self.inner.state().all_holders(Instant::now())
    }

    /// Every owner currently waiting, sorted by key then owner.
    pub fn waiting(&self) -> Vec<LockWaiter> {
        self.inner.state().all_waiters(Instant::now())
    }

    /// True when no lock is held and nobody waits.
    pub fn all_free(&self) -> bool {
        self.inner.state().keys.values().all(KeyState::idle)
    }

    /// The most recent hierarchy violations (at most `HIERARCHY_VIOLATIONS_KEPT_COUNT`),
    /// oldest first.
    pub fn hierarchy_violations(&self) -> Vec<HierarchyViolation> {
        self.inner.state().violations.iter().cloned().collect()
    }

    /// The most recent long holds (at most `LONG_HOLDS_KEPT_COUNT`), oldest first.
    pub fn long_holds(&self) -> Vec<LongHold> {
        self.inner.state().long_holds.iter().cloned().collect()
    }

    /// Holders, waiters and the first wait-for cycle found. A waiter waits on every current
    /// holder of its key; owners are visited in ascending id order, so the same state always
    /// yields the same cycle.
    pub fn deadlock_snapshot(&self) -> DeadlockSnapshot {
        let now = Instant::now();
        let (holders, waiters) = {
            let state = self.inner.state();
            (state.all_holders(now), state.all_waiters(now))
        };
        let mut operations: BTreeMap<OwnerId, Arc<str>> = BTreeMap::new();
        let mut holders_by_key: BTreeMap<&LockKey, Vec<OwnerId>> = BTreeMap::new();
        for holder in &holders {
            operations.entry(holder.owner).or_insert_with(|| holder.operation.clone());
            holders_by_key.entry(&holder.key).or_default().push(holder.owner);
        }
        let mut edges: BTreeMap<OwnerId, BTreeSet<OwnerId>> = BTreeMap::new();
        for waiter in &waiters {
            operations.entry(waiter.owner).or_insert_with(|| waiter.operation.clone());
            for &holder in holders_by_key.get(&waiter.key).into_iter().flatten() {
                if holder != waiter.owner {
                    edges.entry(waiter.owner).or_default().insert(holder);
                }
            }
        }
        let cycle = find_cycle(&edges).map(|owners| {
            owners
                .into_iter()
                .map(|owner| CycleMember {
                    owner,
                    operation: operations.get(&owner).cloned().unwrap_or_else(|| "".into()),
                })
                .collect()
        });
        DeadlockSnapshot { holders, waiters, cycle }
    }

    /// `deadlock_snapshot` as JSON: `{"holders": [...], "waiters": [...], "cycle": [...] | null}`.
    pub fn detect_deadlock(&self) -> serde_json::Value {
        serde_json::to_value(self.deadlock_snapshot()).expect("a deadlock snapshot serializes")
    }
}

/// The first cycle of the graph, found by depth-first search from each node in ascending order
/// and rotated to start at its smallest owner id.
fn find_cycle(edges: &BTreeMap<OwnerId, BTreeSet<OwnerId>>) -> Option<Vec<OwnerId>> {
    let mut done = BTreeSet::new();
    for &start in edges.keys() {
        if done.contains(&start) {
            continue;
        }
        let mut path = Vec::new();
        if let Some(mut cycle) = visit(start, edges, &mut path, &mut done) {
            let smallest = cycle.iter().enumerate().min_by_key(|(_, owner)| **owner).map_or(0, |(i, _)| i);
            cycle.rotate_left(smallest);
            return Some(cycle);
        }
    }
    None
}

fn visit(
    node: OwnerId,
    edges: &BTreeMap<OwnerId, BTreeSet<OwnerId>>,
    path: &mut Vec<OwnerId>,
    done: &mut BTreeSet<OwnerId>,
) -> Option<Vec<OwnerId>> {
    path.push(node);
    for &next in edges.get(&node).into_iter().flatten() {
        if let Some(position) = path.iter().position(|&p| p == next) {
            return Some(path[position..].to_vec());
        }
        if !done.contains(&next)
            && let Some(cycle) = visit(next, edges, path, done)
        {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

/// One operation's identity towards the lock manager. It remembers (in the manager) what it
/// holds, for re-entrance and hierarchy checks. Not `Clone`: two tasks sharing an owner would
/// share its locks.
#[derive(Debug)]
pub struct LockOwner {
    inner: Arc<Inner>,
    id: OwnerId,
    operation: Arc<str>,
}

impl LockOwner {
    pub fn id(&self) -> OwnerId {
        self.id
    }

    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The keys this owner currently holds, in key order.
    pub fn held(&self) -> Vec<LockKey> {
        self.inner.state().held_by(self.id).cloned().collect()
    }

    /// Acquires `key` in `mode`, waiting at most the category timeout (FIFO: a waiting writer
    /// blocks later readers). Fails at once with `ReadNotSupported` for `Read` on a non-table
    /// key (read is not silently upgraded to write), with `Reentrant` if this owner already
    /// holds or awaits `key` in any mode (including a read-to-write upgrade), and with
    /// `HierarchyViolation` for an out-of-order acquire when the hierarchy is enforced (the
    /// violation is recorded either way). Dropping the returned future while it waits leaves
    /// no trace.
    pub async fn acquire(&self, key: LockKey, mode: LockMode) -> Result<LockGuard, LockError> {
        let inner = &self.inner;
        let category = key.category;
        if mode == LockMode::Read && !category.supports_read() {
            inner.count_acquire(category, STATUS_READ_NOT_SUPPORTED);
            return Err(LockError::ReadNotSupported { key });
        }
        let started = Instant::now();
        let lock = self.register(&key, mode, started)?;
        let mut registration = WaitRegistration {
            inner: Arc::clone(inner),
            key: key.clone(),
            owner: self.id,
            armed: true,
            announced: None,
        };
        let budget = inner.config.timeout(category);
        let mut wait = std::pin::pin!(async move {
            match mode {
                LockMode::Read => timeout(budget, lock.read_owned()).await.map(Permit::Read),
                LockMode::Write => timeout(budget, lock.write_owned()).await.map(Permit::Write),
            }
        });
        let outcome = std::future::poll_fn(|cx| {
            let poll = wait.as_mut().poll(cx);
            if poll.is_pending() && registration.announced.is_none() {
                registration.announced = Some((mode, self.operation.clone(), started));
                inner.notify(|| LockEvent::Waiting {
                    key: key.clone(),
                    mode,
                    owner: self.id,
                    operation: self.operation.clone(),
                });
            }
            poll
        })
        .await;
        let now = Instant::now();
        let waited = now.saturating_duration_since(started);
        inner.metrics.record(METRIC_LOCK_WAIT, &[("category", category.as_str())], waited);
        // Either way the waiter entry is settled below, under the bookkeeping mutex.
        registration.armed = false;
        match outcome {
            Ok(permit) => Ok(self.granted(key, mode, permit, waited, now)),
            Err(_elapsed) => Err(self.timed_out(key, mode, waited, now)),
        }
    }

    /// Registers this owner as a waiter of `key` and returns the key's lock. Refuses a
    /// re-entrant request, and an out-of-order one when the hierarchy is enforced; a
    /// hierarchy violation is recorded, counted and logged either way.
    fn register(&self, key: &LockKey, mode: LockMode, started: Instant) -> Result<Arc<RwLock<()>>, LockError> {
        let inner = &self.inner;
        let category = key.category;
        let refused = inner.config.enforce_hierarchy;
        let (lock, violation) = {
            let mut state = inner.state();
            if state.holds_or_awaits(key, self.id) {
                drop(state);
                inner.count_acquire(category, STATUS_REENTRANT);
                tracing::warn!(key = %key, owner = self.id.0, operation = %self.operation, "re-entrant lock request");
                return Err(LockError::Reentrant { key: key.clone() });
            }
            let violation = state.hierarchy_conflict(self.id, key).map(|held| HierarchyViolation {
                owner: self.id,
                operation: self.operation.clone(),
                requested: key.clone(),
                held,
                refused,
                at_ms: inner.since_origin_ms(started),
            });
            if let Some(violation) = &violation {
                push_bounded(&mut state.violations, violation.clone(), HIERARCHY_VIOLATIONS_KEPT_COUNT);
            }
            let lock = match (&violation, refused) {
                (Some(_), true) => None,
                _ => Some(state.add_waiter(
                    key,
                    self.id,
                    Waiting { operation: self.operation.clone(), mode, since: started },
                )),
            };
            (lock, violation)
        };
        if let Some(violation) = violation {
            inner.metrics.increment(METRIC_LOCK_HIERARCHY_VIOLATIONS, &[("category", category.as_str())]);
            tracing::warn!(
                requested = %violation.requested,
                held = %violation.held,
                owner = self.id.0,
                operation = %self.operation,
                refused,
                "lock hierarchy violation"
            );
            if refused {
                inner.count_acquire(category, STATUS_HIERARCHY);
                return Err(LockError::HierarchyViolation { requested: violation.requested, held: violation.held });
            }
        }
        Ok(lock.expect("a lock is registered unless the acquire was refused"))
    }

    /// The wait ended with the lock: this owner moves from the waiters to the holders.
    fn granted(&self, key: LockKey, mode: LockMode, permit: Permit, waited: Duration, now: Instant) -> LockGuard {
        let inner = &self.inner;
        {
            let mut state = inner.state();
            state.remove_waiter(&key, self.id);
            state.add_holder(&key, self.id, Holding { operation: self.operation.clone(), mode, since: now });
        }
        inner.count_acquire(key.category, STATUS_SUCCESS);
        inner.notify(|| LockEvent::Acquired {
            key: key.clone(),
            mode,
            owner: self.id,
            operation: self.operation.clone(),
            waited_us: micros(waited),
        });
        LockGuard {
            inner: Arc::clone(inner),
            key,
            owner: self.id,
            operation: self.operation.clone(),
            mode,
            acquired_at: now,
            permit: Some(permit),
        }
    }

    /// The wait ran out: this owner leaves the waiters, and the error names the holders.
    fn timed_out(&self, key: LockKey, mode: LockMode, waited: Duration, now: Instant) -> LockError {
        let inner = &self.inner;
        let holders = {
            let mut state = inner.state();
            state.remove_waiter(&key, self.id);
            state.prune(&key);
            state.holders_of(&key, now)
        };
        inner.count_acquire(key.category, STATUS_TIMEOUT);
        inner.notify(|| LockEvent::TimedOut {
            key: key.clone(),
            mode,
            owner: self.id,
            operation: self.operation.clone(),
            waited_us: micros(waited),
        });
        let waited_ms = millis(waited);
        tracing::warn!(
            key = %key,
            owner = self.id.0,
            operation = %self.operation,
            waited_ms,
            holders = %describe_holders(&holders),
            "lock acquire timed out"
        );
        LockError::Timeout { key, waited_ms, holders }
    }
}

/// Removes a waiter entry if its acquire future is dropped before it resolves, and announces
/// the abandoned wait if the wait was announced.
struct WaitRegistration {
    inner: Arc<Inner>,
    key: LockKey,
    owner: OwnerId,
    armed: bool,
    /// Set once `LockEvent::Waiting` went out: the mode, operation and start of the wait.
    announced: Option<(LockMode, Arc<str>, Instant)>,
}

impl Drop for WaitRegistration {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        {
            let mut state = self.inner.state();
            state.remove_waiter(&self.key, self.owner);
            state.prune(&self.key);
        }
        if let Some((mode, operation, started)) = self.announced.take() {
            let waited = Instant::now().saturating_duration_since(started);
            let (key, owner) = (self.key.clone(), self.owner);
            self.inner.notify(|| LockEvent::WaitAbandoned { key, mode, owner, operation, waited_us: micros(waited) });
        }
    }
}

#[derive(Debug)]
enum Permit {
    // Held only for their Drop, which releases the tokio lock.
    Read(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Write(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// A held lock. Dropping it releases the lock, records the hold duration, and logs and counts
/// a hold longer than `LockConfig::long_hold_warn_ms`.
#[derive(Debug)]
pub struct LockGuard {
    inner: Arc<Inner>,
    key: LockKey,
    owner: OwnerId,
    operation: Arc<str>,
    mode: LockMode,
    acquired_at: Instant,
    permit: Option<Permit>,
}

impl LockGuard {
    pub fn key(&self) -> &LockKey {
        &self.key
    }

    pub fn mode(&self) -> LockMode {
        self.mode
    }

    pub fn owner(&self) -> OwnerId {
        self.owner
    }

    /// How long the lock has been held so far.
    pub fn held_for(&self) -> Duration {
        Instant::now().saturating_duration_since(self.acquired_at)
    }

    /// Releases the lock now (same as dropping the guard).
    pub fn release(self) {}
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.permit.take());
        let now = Instant::now();
        let held = now.saturating_duration_since(self.acquired_at);
        let held_ms = millis(held);
        let long = held > Duration::from_millis(self.inner.config.long_hold_warn_ms);
        {
            let mut state = self.inner.state();
            state.remove_holder(&self.key, self.owner);
            state.prune(&self.key);
            if long {
                let long_hold = LongHold {
                    key: self.key.clone(),
                    owner: self.owner,
                    operation: self.operation.clone(),
                    mode: self.mode,
                    held_ms,
                    released_at_ms: self.inner.since_origin_ms(now),
                };
                push_bounded(&mut state.long_holds, long_hold, LONG_HOLDS_KEPT_COUNT);
            }
        }
        let labels = [("category", self.key.category.as_str())];
        self.inner.metrics.record(METRIC_LOCK_HOLD, &labels, held);
        self.inner.notify(|| LockEvent::Released {
            key: self.key.clone(),
            mode: self.mode,
            owner: self.owner,
            operation: self.operation.clone(),
            held_us: micros(held),
        });
        if long {
            self.inner.metrics.increment(METRIC_LOCK_LONG_HOLDS, &labels);
            tracing::warn!(
                key = %self.key,
                owner = self.owner.0,
                operation = %self.operation,
                held_ms,
                threshold_ms = self.inner.config.long_hold_warn_ms,
                "lock held longer than the threshold"
            );
        }
    }
}

#[cfg(test)]
mod tests;
