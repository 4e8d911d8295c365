//! Hands: creating a table, `/start` (under the stage lock, forced bets posted from the
//! wallets in the same transaction that saves the new hand), the settlement of a finished
//! hand inside its saving transaction, and the work after a hand that runs outside every lock
//! (the jackpot's share of the rake, the chat announcements).

use std::sync::Arc;

use super::{GameEngine, GameError, START_CONFLICT_RETRIES_MAX, table_of};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::buggify::Probe;
use crate::cards::Deck;
use crate::chat::{ChatPlan, MessageId};
use crate::hash::Fnv1a;
use crate::ids::TableId;
use crate::jackpot::Contribution;
use crate::locks::{LockCategory, LockGuard, LockKey, LockMode, LockOwner};
use crate::rules::config::{SEATS_MAX, SEATS_MIN};
use crate::rules::{Chips, GameState, StartError};
use crate::store::{Guard, Key, StoreError, TableRecord, Txn, TxnKind, Value};
use crate::wallet::WalletRead;

/// The stream hand `hand_number` of `table` is shuffled from: a function of the engine's deck
/// seed, the table and the hand alone, so a hand's cards never depend on what other tables
/// (or earlier hands) did.
fn deck_rng(deck_seed: u64, table: TableId, hand_number: u64) -> ChaCha8Rng {
    let mut hash = Fnv1a::new();
    hash.write(&deck_seed.to_le_bytes()).write(&table.0.to_le_bytes()).write(&hand_number.to_le_bytes());
    ChaCha8Rng::seed_from_u64(hash.finish())
}

impl GameEngine {
    /// Creates a table with its seated users.
    pub async fn create_table(&self, table: TableId, seats: Vec<crate::ids::UserId>) -> Result<(), GameError> {
        let key = Key::Table(table);
        let record = TableRecord::empty(table, seats);
        let txn = Txn::new(TxnKind::GameCreateTable).expect(key, None).put(key, Value::Table(Arc::new(record)));
        match self.store.commit(txn).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(GameError::TableExists { table }),
            Err(error) => Err(error.into()),
        }
    }

    /// The stage lock of `table`, then its table write lock (the order of the hierarchy).
    pub(super) async fn stage_lock(&self, owner: &LockOwner, table: TableId) -> Result<Vec<LockGuard>, GameError> {
        let stage = owner.acquire(LockKey::new(LockCategory::Stage, table.to_string()), LockMode::Write).await?;
        let write = owner.acquire(LockKey::new(LockCategory::Table, table.to_string()), LockMode::Write).await?;
        Ok(vec![stage, write])
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
            let players = self.players_with_chips(record).await?;
            let state = self.deal(record, &players)?;
            if state.complete {
                self.buggify().probe(Probe::HandEndedAtDeal);
            }
            let mut txn = Txn::new(TxnKind::GameStart).expect_read(Key::Table(table), Some(&read));
            for (wallet, player) in players.iter().zip(&state.players) {
                // Forced bets out (or, if the hand already ended, winnings in).
                if player.stack < player.starting_stack {
                    txn = txn.merge(wallet.debit_txn(player.starting_stack - player.stack, Guard::Versioned));
                } else if player.stack > player.starting_stack {
                    txn = txn.merge(wallet.credit_txn(player.stack - player.starting_stack, Guard::Versioned));
                }
            }
            let mut next = record.clone();
            next.hand_number += 1;
            next.hand_seats = players.iter().map(|wallet| wallet.user).collect();
            next.escrow = state.chips_supply() - state.players.iter().map(|p| p.stack).sum::<Chips>();
            let (hand_number, complete, rake) = (next.hand_number, state.complete, state.rake);
            next.game = Some(state);
            txn = self.settle_if_complete(txn, &mut next).await?;
            txn = txn.put(Key::Table(table), Value::Table(Arc::new(next)));
            match self.store.commit(txn).await {
                Ok(_) => {
                    let _held = self.design.release(guards);
                    self.after_hand(table, hand_number, complete, rake).await;
                    return Ok(hand_number);
                }
                Err(StoreError::Conflict { .. }) if attempt < START_CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The wallets of the seated users who have chips, in seat order, the button moved one
    /// seat per hand (position 0 rotates), at most `SEATS_MAX`.
    async fn players_with_chips(&self, record: &TableRecord) -> Result<Vec<WalletRead>, GameError> {
        let mut players = Vec::new();
        for &user in &record.seats {
            let wallet = self.wallet.read(user).await?;
            if wallet.exists() && wallet.balance > 0 {
                players.push(wallet);
            } else if wallet.exists() {
                self.buggify().probe(Probe::BustedPlayerSatOut);
            }
        }
        if players.len() < SEATS_MIN {
            return Err(GameError::NotEnoughPlayers);
        }
        players.truncate(SEATS_MAX);
        let shift = (record.hand_number as usize) % players.len();
        players.rotate_left(shift);
        Ok(players)
    }

    /// A new hand for `players`, each bringing at most the stack cap, from a seeded deck.
    fn deal(&self, record: &TableRecord, players: &[WalletRead]) -> Result<GameState, GameError> {
        let stacks: Vec<Chips> = players.iter().map(|wallet| wallet.balance.min(self.config.stack_cap)).collect();
        let deck = Deck::shuffled(&mut deck_rng(self.deck_seed, record.table, record.hand_number + 1));
        GameState::start(self.config.table, &stacks, deck).map_err(|error| match error {
            StartError::PlayerCount { .. } | StartError::EmptyStack { .. } => GameError::NotEnoughPlayers,
            other => panic!("invariant start_inputs_valid: {other} (table {})", record.table),
        })
    }

    /// When the hand in `next` is complete: its rake leaves the escrow for the house, in the
    /// same transaction. Wallet credits are merged by the caller.
    pub(super) async fn settle_if_complete(&self, txn: Txn, next: &mut TableRecord) -> Result<Txn, GameError> {
        let Some(game) = next.game.as_ref().filter(|g| g.complete) else { return Ok(txn) };
        // The escrow held the wallets' share (already credited by the caller) and the rake.
        assert_eq!(next.escrow, game.rake, "invariant escrow_is_rake_at_settlement");
        next.escrow = 0;
        if game.rake == 0 {
            return Ok(txn);
        }
        let rake = game.rake;
        let house = self.wallet.read_house().await?;
        Ok(txn.merge(house.credit_txn(self.design.house_credit(rake))))
    }

    /// Work after a hand ends or starts, outside every lock: the jackpot's share of the rake
    /// and the chat announcements.
    pub(super) async fn after_hand(&self, table: TableId, hand_number: u64, complete: bool, rake: Chips) {
        let mut plan = ChatPlan::for_table(table);
        if complete {
            plan.deletions = self.take_hand_messages(table);
            plan.announcements.push(format!("hand {hand_number} complete"));
            if let (Some(jackpot), true) = (&self.jackpot, rake > 0) {
                let contribution = Contribution::Hand { table, hand_number };
                if let Err(error) = jackpot.contribute(&contribution, rake).await {
                    tracing::warn!(%error, operation = contribution.operation_id(), "jackpot contribution failed");
                }
            }
        } else {
            plan.announcements.push(format!("hand {hand_number} started"));
        }
        plan.execute(&*self.chat, &self.metrics).await;
    }

    /// After an action that left hand `hand_number` running, with `board_cards` on the board
    /// (with `GameConfig::turn_messages`): the previous turn message deleted, the board posted
    /// if a street was dealt, and the new turn message posted.
    pub(super) async fn after_turn(&self, table: TableId, hand_number: u64, board_cards: usize) {
        if !self.config.turn_messages {
            return;
        }
        let mut plan = ChatPlan::for_table(table);
        let new_street = {
            let mut messages = self.hand_messages.lock().expect("hand messages");
            let messages = messages.entry(table).or_default();
            plan.deletions.extend(messages.turn.take());
            let new_street = board_cards > messages.board_cards;
            messages.board_cards = board_cards;
            new_street
        };
        if new_street {
            plan.announcements.push(format!("hand {hand_number}: board of {board_cards}"));
        }
        let boards = plan.execute(&*self.chat, &self.metrics).await.sent;
        let mut turn = ChatPlan::for_table(table);
        turn.announcements.push(format!("hand {hand_number}: next to act"));
        let turn = turn.execute(&*self.chat, &self.metrics).await.sent.pop();
        let mut messages = self.hand_messages.lock().expect("hand messages");
        let messages = messages.entry(table).or_default();
        messages.boards.extend(boards);
        messages.turn = turn;
    }

    /// The board and turn messages of `table`'s hand, to delete as it ends.
    fn take_hand_messages(&self, table: TableId) -> Vec<MessageId> {
        let messages = self.hand_messages.lock().expect("hand messages").remove(&table).unwrap_or_default();
        messages.boards.into_iter().chain(messages.turn).collect()
    }
}

/// The chat messages a hand keeps on screen (`GameConfig::turn_messages`).
#[derive(Debug, Default)]
pub(super) struct HandMessages {
    boards: Vec<MessageId>,
    turn: Option<MessageId>,
    /// Cards on the board when the last board message was posted.
    board_cards: usize,
}
