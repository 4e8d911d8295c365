//! Game engine flows on top of the rules: tables, `/start`, player actions through the
//! betting handler, reset and emergency reset, and stats — the hardened design.
//!
//! The betting handler runs: dedup → reserve (outside the table lock) → lock → load state and
//! version → validate hand, turn and identity → one store transaction that commits the
//! reservation, saves the new state with a version check, settles wallets and records the
//! request → release → deferred chat. A hand that completes inside an action is finalized in
//! that same transaction (payouts, rake to the house); only the chat announcements and the
//! jackpot contribution run after the lock is released.
//!
//! **Invariant:** for every player of the current hand, `wallet = balance before the hand −
//! (starting stack − stack)`, counting the chips of a live reservation as already paid; the
//! table's escrow is the sum of `starting stack − stack`. So every transaction moves chips
//! between holders without creating or losing any. This module never decides a poker rule
//! (that is `rules`) and never awaits chat or jackpot work while holding a lock.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::cards::Deck;
use crate::chat::{ChatApi, ChatPlan};
use crate::dedup::{Admission, DedupError, DedupMode, Deduplicator, SEED_DEDUP_TTL_MS, Ticket, payload_hash};
use crate::ids::{RequestId, TableId, UserId};
use crate::jackpot::{JackpotService, JackpotVariant};
use crate::locks::{LockCategory, LockError, LockGuard, LockKey, LockManager, LockMode, LockOwner};
use crate::metrics::Metrics;
use crate::rules::{Action, ActionError, Applied, Chips, GameState, LegalActions, StartError, TableConfig};
use crate::store::{Key, Store, StoreError, TableRecord, Txn, Value, Versioned};
use crate::wallet::{WalletError, WalletService};

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
    /// One table write lock around the whole action.
    #[default]
    Coarse,
    /// The hierarchy: table read, betting round, pot, then the acting player's lock.
    Fine,
}

/// The engine designs the simulator can run: the hardened one, and the historical designs the
/// operators migrated away from, kept selectable so the harness shows what each loses and
/// performance reviews can compare them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineVariant {
    /// Everything in this module: 2PC with commit + save in one transaction, durable dedup,
    /// locks, versioned saves, reset under the stage lock, chat after release.
    #[default]
    Hardened,
    /// The wallet is debited before the table lock; a failed save is compensated by a plain
    /// credit with no dead-letter queue behind it.
    DeductBeforeLock,
    /// A plain "processing" flag instead of a lock, no deduplication, unguarded saves: the
    /// concurrent-fold bug.
    BoolFlag,
    /// Reset outside the stage lock, without capturing the version.
    UnlockedReset,
    /// The jackpot's read-modify-write without a version check.
    UnversionedJackpot,
    /// Chat calls awaited while the stage lock is held.
    ChatInLock,
    /// The 2PC as first designed: commit and save as two separate store writes, dedup in
    /// memory with a 5 s TTL.
    #[serde(rename = "seed_2pc")]
    Seed2pc,
}

impl EngineVariant {
    pub const ALL: [EngineVariant; 7] = [
        EngineVariant::Hardened,
        EngineVariant::DeductBeforeLock,
        EngineVariant::BoolFlag,
        EngineVariant::UnlockedReset,
        EngineVariant::UnversionedJackpot,
        EngineVariant::ChatInLock,
        EngineVariant::Seed2pc,
    ];

    /// Where this design keeps processed request IDs.
    pub fn dedup_mode(self) -> DedupMode {
        match self {
            EngineVariant::Seed2pc => DedupMode::InMemoryTtl { ttl_ms: SEED_DEDUP_TTL_MS },
            _ => DedupMode::default(),
        }
    }

    /// How this design updates the jackpot.
    pub fn jackpot_variant(self) -> JackpotVariant {
        match self {
            EngineVariant::UnversionedJackpot => JackpotVariant::Unversioned,
            _ => JackpotVariant::Optimistic,
        }
    }
}

/// Where an action's chips wait between the wallet and the table.
#[derive(Clone, Debug)]
enum Escrowed {
    Nothing,
    Reserved(crate::store::Reservation),
    /// Debited directly (`deduct_before_lock`).
    Deducted(Chips),
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
    Lock(String),
    #[error("the game state changed during the save (version conflict); the bet was refunded")]
    VersionConflict,
    #[error("this request is being processed")]
    InProgress,
    #[error("request id reused for a different action")]
    RequestReused,
    #[error(transparent)]
    Wallet(WalletError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for GameError {
    fn from(error: StoreError) -> Self {
        GameError::Store(error)
    }
}

impl From<LockError> for GameError {
    fn from(error: LockError) -> Self {
        GameError::Lock(error.to_string())
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
    rng: Mutex<ChaCha8Rng>,
    config: GameConfig,
}

fn table_of(read: &Versioned) -> &TableRecord {
    match &read.value {
        Value::Table(record) => record,
        other => panic!("invariant key_holds_its_kind: table key holds {other:?}"),
    }
}

impl GameEngine {
    pub fn new(parts: GameParts, config: GameConfig) -> GameEngine {
        GameEngine {
            store: parts.store,
            metrics: parts.metrics,
            locks: parts.locks,
            wallet: parts.wallet,
            dedup: parts.dedup,
            jackpot: parts.jackpot,
            chat: parts.chat,
            rng: Mutex::new(parts.rng),
            config,
        }
    }

    pub fn config(&self) -> &GameConfig {
        &self.config
    }

    /// Creates a table with its seated users.
    pub async fn create_table(&self, table: TableId, seats: Vec<UserId>) -> Result<(), GameError> {
        let key = Key::Table(table);
        let record = TableRecord {
            table,
            seats,
            hand_seats: Vec::new(),
            hand_number: 0,
            game: None,
            escrow: 0,
            processing: false,
        };
        match self
            .store
            .commit(Txn::new("game.create_table").expect(key, None).put(key, Value::Table(Box::new(record))))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(GameError::TableExists { table }),
            Err(error) => Err(error.into()),
        }
    }

    async fn read_table(&self, table: TableId) -> Result<Versioned, GameError> {
        self.store.get(Key::Table(table)).await?.ok_or(GameError::UnknownTable { table })
    }

    async fn stage_lock(&self, owner: &LockOwner, table: TableId) -> Result<(LockGuard, LockGuard), GameError> {
        let stage = owner.acquire(LockKey::new(LockCategory::Stage, table.to_string()), LockMode::Write).await?;
        let write = owner.acquire(LockKey::new(LockCategory::Table, table.to_string()), LockMode::Write).await?;
        Ok((stage, write))
    }

    /// `/start`: deals a new hand to the seated players who have chips, posting forced bets
    /// from their wallets in the same transaction that saves the hand. Under the stage lock.
    pub async fn start_hand(&self, table: TableId) -> Result<u64, GameError> {
        let owner = self.locks.owner("game.start");
        let guards = self.stage_lock(&owner, table).await?;
        let mut attempt = 0;
        loop {
            let read = self.read_table(table).await?;
            let record = table_of(&read);
            if record.game.as_ref().is_some_and(|g| !g.complete) {
                return Err(GameError::HandInProgress { table });
            }
            let mut players = Vec::new();
            for &user in &record.seats {
                let wallet = self.store.get(Key::Wallet(user)).await?;
                if let Some(Value::Wallet(w)) = wallet.as_ref().map(|v| &v.value)
                    && w.balance > 0
                {
                    players.push((user, wallet.clone(), w.balance));
                }
            }
            if players.len() < crate::rules::config::SEATS_MIN {
                return Err(GameError::NotEnoughPlayers);
            }
            players.truncate(crate::rules::config::SEATS_MAX);
            // The button moves one seat per hand: rotate who sits in position 0.
            let shift = (record.hand_number as usize) % players.len();
            players.rotate_left(shift);
            let stacks: Vec<Chips> =
                players.iter().map(|(_, _, balance)| (*balance).min(self.config.stack_cap)).collect();
            let deck = Deck::shuffled(&mut *self.rng.lock().expect("game rng"));
            let state = GameState::start(self.config.table, &stacks, deck).map_err(|error| match error {
                StartError::PlayerCount { .. } | StartError::EmptyStack { .. } => GameError::NotEnoughPlayers,
                other => panic!("invariant start_inputs_valid: {other}"),
            })?;

            let mut txn = Txn::new("game.start").expect_read(Key::Table(table), Some(&read));
            for (position, (user, wallet, balance)) in players.iter().enumerate() {
                let player = &state.players[position];
                if player.stack != player.starting_stack {
                    // Forced bets out (or, if the hand already ended, winnings in).
                    let balance = balance + player.stack - player.starting_stack;
                    let key = Key::Wallet(*user);
                    let wallet_value = Value::Wallet(crate::store::Wallet { user: *user, balance });
                    txn = txn.expect_read(key, wallet.as_ref()).put(key, wallet_value);
                }
            }
            let mut next = record.clone();
            next.hand_number += 1;
            next.hand_seats = players.iter().map(|(user, _, _)| *user).collect();
            next.escrow = state.chips_supply() - state.players.iter().map(|p| p.stack).sum::<Chips>();
            let hand_number = next.hand_number;
            let complete = state.complete;
            let rake = state.rake;
            next.game = Some(state);
            txn = self.settle_if_complete(txn, &mut next).await?;
            txn = txn.put(Key::Table(table), Value::Table(Box::new(next)));
            match self.store.commit(txn).await {
                Ok(_) => {
                    if self.config.variant != EngineVariant::ChatInLock {
                        drop(guards);
                    }
                    self.after_hand(table, hand_number, complete, rake).await;
                    return Ok(hand_number);
                }
                Err(StoreError::Conflict { .. }) if attempt < START_CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// When the hand in `next` is complete: its rake leaves the escrow for the house, in the
    /// same transaction. Wallet credits are written by the caller.
    async fn settle_if_complete(&self, txn: Txn, next: &mut TableRecord) -> Result<Txn, GameError> {
        let Some(game) = next.game.as_ref().filter(|g| g.complete) else { return Ok(txn) };
        // The escrow held the wallets' share (already credited by the caller) and the rake.
        assert_eq!(next.escrow, game.rake, "invariant escrow_is_rake_at_settlement");
        next.escrow = 0;
        if game.rake == 0 {
            return Ok(txn);
        }
        let house = self.store.get(Key::House).await?;
        let chips = match house.as_ref().map(|v| &v.value) {
            Some(Value::House(chips)) => *chips,
            Some(other) => panic!("invariant key_holds_its_kind: house key holds {other:?}"),
            None => 0,
        };
        Ok(txn.expect_read(Key::House, house.as_ref()).put(Key::House, Value::House(chips + game.rake)))
    }

    /// Work after a hand ends or starts, outside every lock: the jackpot's share of the rake
    /// and the chat announcements.
    async fn after_hand(&self, table: TableId, hand_number: u64, complete: bool, rake: Chips) {
        let mut plan = ChatPlan::for_table(table);
        if complete {
            plan.announcements.push(format!("hand {hand_number} complete"));
            if let (Some(jackpot), true) = (&self.jackpot, rake > 0) {
                let operation = format!("{table}-hand-{hand_number}");
                if let Err(error) = jackpot.contribute(&operation, rake).await {
                    tracing::warn!(%error, %operation, "jackpot contribution failed");
                }
            }
        } else {
            plan.announcements.push(format!("hand {hand_number} started"));
        }
        plan.execute(&*self.chat, &self.metrics).await;
    }

    /// A player action through the betting handler.
    pub async fn act(&self, request: ActionRequest) -> Result<ActionOutcome, GameError> {
        let started = Instant::now();
        let result = self.act_inner(request).await;
        let status = match &result {
            Ok(_) => "success",
            Err(GameError::VersionConflict) => "conflict",
            Err(GameError::Lock(_)) => "lock_timeout",
            Err(_) => "rejected",
        };
        self.metrics.increment(METRIC_ACTIONS_TOTAL, &[("status", status)]);
        self.metrics.record(METRIC_ACTION_DURATION, &[], started.elapsed());
        result
    }

    async fn act_inner(&self, request: ActionRequest) -> Result<ActionOutcome, GameError> {
        let variant = self.config.variant;
        // The bool_flag design has no deduplication at all.
        let ticket = if variant == EngineVariant::BoolFlag {
            None
        } else {
            match self.dedup.admit(request.request, request.user, payload_hash(&request), true).await {
                Ok(Admission::New(ticket)) => Some(ticket),
                Ok(Admission::Duplicate(first)) => {
                    return serde_json::from_value::<Result<ActionOutcome, GameError>>(first)
                        .expect("invariant dedup_outcome_decodes");
                }
                Ok(Admission::InProgress) => return Err(GameError::InProgress),
                Err(DedupError::PayloadMismatch { .. }) => return Err(GameError::RequestReused),
                Err(DedupError::Store(error)) => return Err(error.into()),
            }
        };

        // Size the bet from a read outside the lock; it is checked again inside.
        let read = self.read_table(request.table).await?;
        let chips = match self.validate(&request, &read) {
            Ok((_, chips)) => chips,
            Err(error) => return self.finish_with_error(ticket, error).await,
        };
        let escrowed = match (chips, variant) {
            (0, _) => Escrowed::Nothing,
            (_, EngineVariant::DeductBeforeLock) => match self.wallet.debit(request.user, chips, "game.deduct").await {
                Ok(()) => Escrowed::Deducted(chips),
                Err(error) => return self.finish_with_error(ticket, error.into()).await,
            },
            _ => match self.wallet.reserve(request.user, request.table, request.request, chips).await {
                Ok(reservation) => Escrowed::Reserved(reservation),
                Err(error) => return self.finish_with_error(ticket, error.into()).await,
            },
        };

        let owner = self.locks.owner("game.act");
        let guards = if variant == EngineVariant::BoolFlag {
            if let Err(error) = self.raise_processing_flag(request.table).await {
                self.compensate(&request, &escrowed).await;
                return Err(error);
            }
            Vec::new()
        } else {
            match self.action_locks(&owner, &request).await {
                Ok(guards) => guards,
                // A reservation stays live and the sweeper refunds it at its deadline; a
                // direct debit has no such safety net and is credited back at once.
                Err(error) => {
                    if let Escrowed::Deducted(_) = escrowed {
                        self.compensate(&request, &escrowed).await;
                    }
                    return Err(error);
                }
            }
        };
        let commit_started = Instant::now();
        let result = self.commit_action(&request, ticket.as_ref(), &escrowed, chips).await;
        let hand_complete = matches!(&result, Ok((outcome, _)) if outcome.hand_complete);
        // Release before any chat or jackpot work, except in the chat_in_lock design.
        // (An explicit drop: a conditional move alone would keep the guards alive to the end
        // of this function, through the chat announcements — a bug the simulator's lock-hold
        // histogram found.)
        let held = if variant == EngineVariant::ChatInLock {
            Some(guards)
        } else {
            drop(guards);
            None
        };

        let outcome = match result {
            Ok((outcome, rake)) => {
                if let Escrowed::Reserved(_) = escrowed {
                    self.wallet.record_commit("success", commit_started.elapsed());
                }
                if let Some(ticket) = ticket {
                    let value = serde_json::to_value(Ok::<_, GameError>(outcome)).expect("outcomes serialize");
                    self.dedup.finish(ticket, &value);
                }
                if hand_complete {
                    self.after_hand(request.table, request.hand_number, true, rake).await;
                }
                Ok(outcome)
            }
            Err(error) => {
                if let Escrowed::Reserved(_) = escrowed {
                    self.wallet.record_commit("error", commit_started.elapsed());
                }
                if variant == EngineVariant::BoolFlag {
                    self.lower_processing_flag(request.table).await;
                }
                self.compensate(&request, &escrowed).await;
                match error {
                    // Outcome unknown: record nothing, a retry finds the durable record if it applied.
                    GameError::Store(StoreError::TimedOut) => Err(error),
                    other => self.finish_with_error(ticket, other).await,
                }
            }
        };
        drop(held);
        outcome
    }

    /// Gives an action's chips back after it failed: the compensating refund of the
    /// reservation (to the DLQ if the refund fails; a committed reservation is left alone),
    /// or, in `deduct_before_lock`, a plain credit that nothing retries.
    async fn compensate(&self, request: &ActionRequest, escrowed: &Escrowed) {
        match escrowed {
            Escrowed::Nothing => {}
            Escrowed::Reserved(reservation) => match self.wallet.rollback(reservation.id).await {
                Ok(_) | Err(WalletError::AlreadyFinal { .. }) => {}
                Err(error) => tracing::warn!(%error, "compensating refund failed; the sweeper will retry"),
            },
            Escrowed::Deducted(chips) => {
                if let Err(error) = self.wallet.credit(request.user, *chips, "game.compensate").await {
                    tracing::warn!(%error, chips, "compensation credit failed: these chips are lost");
                }
            }
        }
    }

    /// The bool_flag design's guard: read the flag, then set it — two separate store calls,
    /// so two copies can both see it down.
    async fn raise_processing_flag(&self, table: TableId) -> Result<(), GameError> {
        let read = self.read_table(table).await?;
        let mut record = table_of(&read).clone();
        if record.processing {
            return Err(GameError::InProgress);
        }
        record.processing = true;
        self.store.commit(Txn::new("game.flag").put(Key::Table(table), Value::Table(Box::new(record)))).await?;
        Ok(())
    }

    async fn lower_processing_flag(&self, table: TableId) {
        if let Ok(read) = self.read_table(table).await {
            let mut record = table_of(&read).clone();
            record.processing = false;
            let _ =
                self.store.commit(Txn::new("game.flag").put(Key::Table(table), Value::Table(Box::new(record)))).await;
        }
    }

    /// Records a failed request's error so duplicates get the same answer.
    async fn finish_with_error(&self, ticket: Option<Ticket>, error: GameError) -> Result<ActionOutcome, GameError> {
        let Some(ticket) = ticket else { return Err(error) };
        let value = serde_json::to_value(Err::<ActionOutcome, _>(error.clone())).expect("errors serialize");
        if let Err(record_error) = self.dedup.record_alone(ticket, &value).await {
            tracing::debug!(%record_error, "could not record a failed request");
        }
        Err(error)
    }

    /// Checks the request against a table read: hand, identity, turn, legality. Returns the
    /// player's position and the chips the action puts in.
    fn validate(&self, request: &ActionRequest, read: &Versioned) -> Result<(usize, Chips), GameError> {
        let record = table_of(read);
        let game = record.game.as_ref().filter(|g| !g.complete).ok_or(GameError::NoHand { table: request.table })?;
        if request.hand_number != record.hand_number {
            return Err(GameError::StaleHand { requested: request.hand_number, current: record.hand_number });
        }
        let position = record
            .hand_seats
            .iter()
            .position(|&u| u == request.user)
            .ok_or(GameError::NotSeated { user: request.user, table: request.table })?;
        if game.actor() != Some(position) {
            return Err(GameError::NotYourTurn { user: request.user });
        }
        let mut trial = game.clone();
        let before = trial.players[position].stack;
        let applied = trial.apply(position, request.action).map_err(GameError::Illegal)?;
        let chips = match applied {
            Applied::Fold => 0,
            Applied::CheckOrCall { amount } => amount,
            Applied::RaiseTo { to } => to - game.players[position].bet,
        };
        debug_assert!(chips <= before);
        Ok((position, chips))
    }

    async fn action_locks(&self, owner: &LockOwner, request: &ActionRequest) -> Result<Vec<LockGuard>, GameError> {
        let name = request.table.to_string();
        let keys: Vec<(LockKey, LockMode)> = match self.config.lock_strategy {
            LockStrategy::Coarse => vec![(LockKey::new(LockCategory::Table, name), LockMode::Write)],
            LockStrategy::Fine => vec![
                (LockKey::new(LockCategory::Table, name.clone()), LockMode::Read),
                (LockKey::new(LockCategory::BettingRound, name.clone()), LockMode::Write),
                (LockKey::new(LockCategory::Pot, name.clone()), LockMode::Write),
                (LockKey::new(LockCategory::Player, format!("{name}/{}", request.user)), LockMode::Write),
            ],
        };
        let mut guards = Vec::with_capacity(keys.len());
        for (key, mode) in keys {
            guards.push(owner.acquire(key, mode).await?);
        }
        Ok(guards)
    }

    /// Inside the lock: reload, revalidate, and save the action with its settlement in one
    /// transaction (the hardened design; the historical variants split or unguard it).
    /// Returns the outcome and the hand's rake (if it completed).
    async fn commit_action(
        &self,
        request: &ActionRequest,
        ticket: Option<&Ticket>,
        escrowed: &Escrowed,
        reserved: Chips,
    ) -> Result<(ActionOutcome, Chips), GameError> {
        let variant = self.config.variant;
        let guarded = variant != EngineVariant::BoolFlag;
        let read = self.read_table(request.table).await?;
        let (position, chips) = self.validate(request, &read)?;
        if chips != reserved {
            return Err(GameError::StaleAction);
        }
        let record = table_of(&read);
        let mut next = record.clone();
        next.processing = false;
        let game = next.game.as_mut().expect("validated");
        let before: Vec<Chips> = game.players.iter().map(|p| p.stack).collect();
        let applied = game.apply(position, request.action).map_err(GameError::Illegal)?;
        let after: Vec<Chips> = game.players.iter().map(|p| p.stack).collect();
        let hand_complete = game.complete;
        let rake = game.rake;
        next.escrow = game.chips_supply() - after.iter().sum::<Chips>();

        let mut txn = Txn::new(if variant == EngineVariant::Seed2pc { "game.save" } else { "game.act" });
        if guarded {
            txn = txn.expect_read(Key::Table(request.table), Some(&read));
        }
        if let Escrowed::Reserved(reservation) = escrowed {
            if variant == EngineVariant::Seed2pc {
                // As first designed: the commit is its own store write, before the save.
                self.wallet.commit(reservation.id, Txn::new("wallet.commit")).await?;
            } else {
                let (commit, _) = self.wallet.commit_txn(reservation.id).await?;
                txn = txn.merge(commit);
            }
        }
        // Chips coming back to players (uncalled bets, pots) go to their wallets now; the
        // actor's own chips are already out of the wallet.
        for (p, user) in record.hand_seats.iter().enumerate() {
            let put_in = if p == position { chips } else { 0 };
            let credit = (after[p] + put_in).checked_sub(before[p]).expect("invariant stacks_only_grow_for_others");
            if credit > 0 {
                txn = txn.merge(self.wallet.credit_txn(*user, credit, guarded).await?);
            }
        }
        txn = self.settle_if_complete(txn, &mut next).await?;
        let table_version = read.version + 1;
        let outcome = ActionOutcome { applied, chips, table_version, hand_complete };
        txn = txn.put(Key::Table(request.table), Value::Table(Box::new(next)));
        if let Some(ticket) = ticket {
            let recorded = serde_json::to_value(Ok::<_, GameError>(outcome)).expect("outcomes serialize");
            txn = txn.merge(self.dedup.record_txn(ticket, &recorded));
        }
        match self.store.commit(txn).await {
            Ok(_) => Ok((outcome, rake)),
            Err(StoreError::Conflict { key: Key::Table(_), .. }) => Err(GameError::VersionConflict),
            Err(StoreError::Conflict { .. }) => Err(GameError::StaleAction),
            Err(error) => Err(error.into()),
        }
    }

    /// `/reset` (`emergency` = the admin's emergency reset): cancels the hand in progress and
    /// returns every committed chip to its wallet. Serialized under the stage lock; captures
    /// the version before mutating and retries once on conflict.
    pub async fn reset(&self, user: UserId, table: TableId, emergency: bool) -> Result<(), GameError> {
        if emergency && !self.config.admins.contains(&user) {
            return Err(GameError::NotAdmin { user });
        }
        let owner = self.locks.owner(if emergency { "game.emergency_reset" } else { "game.reset" });
        let unlocked = self.config.variant == EngineVariant::UnlockedReset;
        let _guards = if unlocked { None } else { Some(self.stage_lock(&owner, table).await?) };
        let mut attempt = 0;
        loop {
            let read = self.read_table(table).await?;
            let record = table_of(&read);
            if !emergency && !record.seats.contains(&user) && !self.config.admins.contains(&user) {
                return Err(GameError::NotSeated { user, table });
            }
            let mut next = record.clone();
            next.processing = false;
            let mut txn = Txn::new("game.reset");
            if !unlocked {
                // Capture the version before mutating: a concurrent save makes this retry.
                txn = txn.expect_read(Key::Table(table), Some(&read));
            }
            if let Some(game) = record.game.as_ref().filter(|g| !g.complete) {
                for (p, user) in record.hand_seats.iter().enumerate() {
                    let refund = game.players[p].starting_stack - game.players[p].stack;
                    if refund > 0 {
                        txn = txn.merge(self.wallet.credit_txn(*user, refund, !unlocked).await?);
                    }
                }
                assert_eq!(
                    next.escrow,
                    game.chips_supply() - game.players.iter().map(|p| p.stack).sum::<Chips>(),
                    "invariant escrow_matches_hand"
                );
                next.escrow = 0;
            }
            next.game = None;
            txn = txn.put(Key::Table(table), Value::Table(Box::new(next)));
            match self.store.commit(txn).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) if attempt < RESET_CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// `/stats`: the table's state under a table read lock.
    pub async fn stats(&self, table: TableId) -> Result<TableStats, GameError> {
        let owner = self.locks.owner("game.stats");
        let _read = owner.acquire(LockKey::new(LockCategory::Table, table.to_string()), LockMode::Read).await?;
        let read = self.read_table(table).await?;
        let record = table_of(&read);
        let stacks = match &record.game {
            Some(game) => record.hand_seats.iter().zip(&game.players).map(|(u, p)| (*u, p.stack)).collect(),
            None => Vec::new(),
        };
        let live = record.game.as_ref().filter(|g| !g.complete);
        let actor = live.and_then(GameState::actor).map(|position| record.hand_seats[position]);
        let legal = live.and_then(GameState::legal_actions);
        Ok(TableStats {
            table,
            version: read.version,
            hand_number: record.hand_number,
            in_progress: record.game.as_ref().is_some_and(|g| !g.complete),
            escrow: record.escrow,
            stacks,
            actor,
            legal,
        })
    }

    /// A seated player's wallet balance, read under the table read lock (so it never sees a
    /// half-applied action of this table).
    pub async fn balance(&self, user: UserId, table: TableId) -> Result<Chips, GameError> {
        let owner = self.locks.owner("game.balance");
        let _read = owner.acquire(LockKey::new(LockCategory::Table, table.to_string()), LockMode::Read).await?;
        let record = self.read_table(table).await?;
        if !table_of(&record).seats.contains(&user) {
            return Err(GameError::NotSeated { user, table });
        }
        Ok(self.wallet.balance(user).await?)
    }

    /// The lock manager, for snapshots.
    pub fn locks(&self) -> &LockManager {
        &self.locks
    }
}
