//! Reads: `/stats` and a seated player's balance, each under the table lock in the strategy's
//! read mode (`LockStrategy::read_mode`): under the fine strategy the read lock, so they run
//! beside actions; under the coarse one the write lock, as the lock notes' current state did.
//! Either way they never see a half-applied action.

use super::{GameEngine, GameError, TableStats, table_of};
use crate::ids::{TableId, UserId};
use crate::locks::{LockCategory, LockKey};
use crate::rules::{Chips, GameState};

impl GameEngine {
    /// `/stats`: the table's state under the table lock (read mode of the strategy).
    pub async fn stats(&self, table: TableId) -> Result<TableStats, GameError> {
        let owner = self.locks.owner("game.stats");
        let mode = self.config.lock_strategy.read_mode();
        let _read = owner.acquire(LockKey::new(LockCategory::Table, table.to_string()), mode).await?;
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
            in_progress: live.is_some(),
            escrow: record.escrow,
            stacks,
            actor,
            legal,
        })
    }

    /// A seated player's wallet balance, read under the table lock (read mode of the strategy,
    /// so it never sees a half-applied action of this table).
    pub async fn balance(&self, user: UserId, table: TableId) -> Result<Chips, GameError> {
        let owner = self.locks.owner("game.balance");
        let mode = self.config.lock_strategy.read_mode();
        let _read = owner.acquire(LockKey::new(LockCategory::Table, table.to_string()), mode).await?;
        let read = self.read_table(table).await?;
        let record = table_of(&read);
        if !record.seats.contains(&user) {
            return Err(GameError::NotSeated { user, table });
        }
        let wallet = self.wallet.balance(user).await?;
        Ok(self.design.balance_answer(wallet, record, user))
    }
}
