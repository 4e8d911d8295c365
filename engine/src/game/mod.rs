//! Game engine flows on top of the rules: tables, `/start`, player actions through the
//! betting handler, reset and emergency reset, and stats.
//!
//! The hardened design reads top to bottom in the flow files — `action` (the betting
//! handler), `hand` (`/start`, settlement, the work after a hand), `reset`, `reads` (`/stats`
//! and balances). The places where the historical designs differ are the hooks of
//! [`design::Design`], chosen once when the engine is built from [`EngineVariant`]; each
//! historical design lives in its own file under `designs/` and quotes the flaw it
//! reproduces. The hardened hooks are the trait's defaults.
//!
//! **Invariant:** for every player of the current hand, `wallet = balance before the hand −
//! (starting stack − stack)`, counting the chips of a live reservation as already paid; the
//! table's escrow is the sum of `starting stack − stack`. So every transaction moves chips
//! between holders without creating or losing any. This module never decides a poker rule
//! (that is `rules`), never writes a wallet or the house's row itself (it merges the wallet
//! service's fragments), and in the hardened design never awaits chat or jackpot work while
//! holding a lock.

mod action;
mod design;
mod designs;
mod hand;
mod reads;
mod reset;

use std::collections::BTreeSet;
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::chat::ChatApi;
use crate::dedup::Deduplicator;
use crate::ids::{RequestId, TableId, UserId};
use crate::jackpot::JackpotService;
use crate::locks::{LockError, LockManager};
use crate::metrics::Metrics;
use crate::rules::{Action, ActionError, Applied, Chips, LegalActions, TableConfig};
use crate::store::{Key, Store, StoreError, TableRecord, Versioned};
use crate::wallet::{WalletError, WalletService};

pub use design::EngineVariant;

/// Attempts at `/start` or a reset when another writer changed the table in between
/// (the reset path retries once, as the operators' notes require).
pub const RESET_CONFLICT_RETRIES_MAX: u32 = 1;
pub const START_CONFLICT_RETRIES_MAX: u32 = 3;

pub const METRIC_ACTIONS_TOTAL: &str = "poker_actions_total";
pub const METRIC_ACTION_DURATION: &str = "poker_action_duration_seconds";

/// How the betting handler locks a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStrategy {
    /// One table write lock around everything done at a table — actions and reads alike
    /// (the lock notes' "current state": even `/stats` takes the table write lock).
    #[default]
    Coarse,
    /// The hierarchy: table read, betting round, pot, then the acting player's lock; reads
    /// take the table read lock and run beside actions.
    Fine,
}

impl LockStrategy {
    /// The table lock mode of a read (`/stats`, a balance) under this strategy.
    pub fn read_mode(self) -> crate::locks::LockMode {
        match self {
            LockStrategy::Coarse => crate::locks::LockMode::Write,
            LockStrategy::Fine => crate::locks::LockMode::Read,
        }
    }
}

/// Settings of the game flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameConfig {
    pub table: TableConfig,
    /// Most chips a player brings into one hand (the rest stays in the wallet).
    pub stack_cap: Chips,
    /// Users allowed to run admin commands (emergency reset).
    pub admins: BTreeSet<UserId>,
    pub lock_strategy: LockStrategy,
    #[serde(default)]
    pub variant: EngineVariant,
    /// Keep the bot's board and turn messages (the chat notes): after every action that leaves
    /// the hand running, replace the turn message (and post the board when a street was
    /// dealt); when the hand ends, delete them before announcing it — the chat work the
    /// `chat_in_lock` design awaited inside the lock.
    #[serde(default)]
    pub turn_messages: bool,
}

/// A player action as a client sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    pub request: RequestId,
    pub user: UserId,
    pub table: TableId,
    /// The hand the client believes it is acting in; an older one is stale.
    pub hand_number: u64,
    pub action: Action,
}

/// What an applied action did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub applied: Applied,
    /// Chips the action put in (reserved and committed).
    pub chips: Chips,
    /// The table record's store version after the save.
    pub table_version: u64,
    pub hand_complete: bool,
}

/// Expected failures of the game flows. None of them moves a chip.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GameError {
    #[error("unknown table {table}")]
    UnknownTable { table: TableId },
    #[error("table {table} already exists")]
    TableExists { table: TableId },
    #[error("{user} is not seated in the current hand at {table}")]
    NotSeated { user: UserId, table: TableId },
    #[error("no hand in progress at {table}")]
    NoHand { table: TableId },
    #[error("a hand is already in progress at {table}")]
    HandInProgress { table: TableId },
    #[error("stale action for hand {requested}; the table is at hand {current}")]
    StaleHand { requested: u64, current: u64 },
    #[error("not {user}'s turn")]
    NotYourTurn { user: UserId },
    #[error("illegal action: {0}")]
    Illegal(ActionError),
    #[error("the table changed while the action was prepared; send it again")]
    StaleAction,
    #[error("fewer than two seated players with chips")]
    NotEnoughPlayers,
    #[error("{user} is not an admin")]
    NotAdmin { user: UserId },
    #[error("lock timeout: {0}")]
    Lock(LockError),
    #[error("the game state changed during the save (version conflict); the bet was refunded")]
    VersionConflict,
    #[error("this request is being processed")]
    InProgress,
    #[error("request id reused for a different action")]
    RequestReused,
    /// The request failed with `error`, but that answer could not be made durable: it is not
    /// the request's final outcome, and a copy sent again may still go through.
    #[error("{error}; this answer could not be recorded ({reason}), so it is not final: send the request again")]
    Unrecorded { error: Box<GameError>, reason: String },
    #[error(transparent)]
    Wallet(WalletError),
    #[error(transparent)]
    Store(StoreError),
}

impl GameError {
    /// Whether this answer is final: the request's one outcome, which every later copy of it
    /// must get again. An answer is final only once it is durable. The transient answers — in
    /// progress, a lock not obtained, the store unreachable or its outcome unknown, an error
    /// that could not be recorded — took no effect the client can see yet, and a retry with
    /// the same request ID may get a different, final one.
    pub fn is_final(&self) -> bool {
        !matches!(self, GameError::InProgress | GameError::Lock(_) | GameError::Store(_) | GameError::Unrecorded { .. })
    }
}

impl From<StoreError> for GameError {
    fn from(error: StoreError) -> Self {
        GameError::Store(error)
    }
}

impl From<LockError> for GameError {
    fn from(error: LockError) -> Self {
        GameError::Lock(error)
    }
}

impl From<WalletError> for GameError {
    fn from(error: WalletError) -> Self {
        match error {
            WalletError::Store(error) => GameError::Store(error),
            other => GameError::Wallet(other),
        }
    }
}

/// Everything the game flows are built from, injected.
pub struct GameParts {
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub locks: LockManager,
    pub wallet: Arc<WalletService>,
    pub dedup: Arc<Deduplicator>,
    pub jackpot: Option<Arc<JackpotService>>,
    pub chat: Arc<dyn ChatApi>,
    pub rng: ChaCha8Rng,
}

/// A table's state as `/stats` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    pub table: TableId,
    pub version: u64,
    pub hand_number: u64,
    pub in_progress: bool,
    pub escrow: Chips,
    pub stacks: Vec<(UserId, Chips)>,
    /// Who is to act in the hand in progress.
    pub actor: Option<UserId>,
    /// What the actor may do (amounts for the actor's stack).
    pub legal: Option<LegalActions>,
}

/// The game engine of one engine process.
pub struct GameEngine {
    store: Arc<dyn Store>,
    metrics: Metrics,
    locks: LockManager,
    wallet: Arc<WalletService>,
    dedup: Arc<Deduplicator>,
    jackpot: Option<Arc<JackpotService>>,
    chat: Arc<dyn ChatApi>,
    /// Drawn once from the injected RNG; each hand's deck comes from a stream of its own
    /// keyed by it, the table and the hand number (`hand::deck_rng`).
    deck_seed: u64,
    design: Box<dyn design::Design>,
    config: GameConfig,
    /// Per table, the board and turn messages of the current hand (`GameConfig::turn_messages`;
    /// in memory only: chat is best effort and a crash forgets them).
    hand_messages: std::sync::Mutex<std::collections::BTreeMap<TableId, hand::HandMessages>>,
}

impl GameEngine {
    pub fn new(mut parts: GameParts, config: GameConfig) -> GameEngine {
        let deck_seed = parts.rng.random();
        GameEngine {
            store: parts.store,
            metrics: parts.metrics,
            locks: parts.locks,
            wallet: parts.wallet,
            dedup: parts.dedup,
            jackpot: parts.jackpot,
            chat: parts.chat,
            deck_seed,
            design: config.variant.design(),
            config,
            hand_messages: std::sync::Mutex::default(),
        }
    }

    pub fn config(&self) -> &GameConfig {
        &self.config
    }

    /// The process's fault points and probes: the engine shares its wallet's handle.
    pub(crate) fn buggify(&self) -> &crate::buggify::Buggify {
        self.wallet.buggify()
    }

    /// The lock manager, for snapshots.
    pub fn locks(&self) -> &LockManager {
        &self.locks
    }

    async fn read_table(&self, table: TableId) -> Result<Versioned, GameError> {
        self.store.get(Key::Table(table)).await?.ok_or(GameError::UnknownTable { table })
    }
}

/// The table record a table row holds.
fn table_of(read: &Versioned) -> &TableRecord {
    read.value.as_table()
}
