//! `/reset` and the admin's emergency reset: the hand in progress is cancelled and every
//! committed chip returns to its wallet. Hardened: serialized under the stage lock, the
//! table's version captured before mutating, one retry on a version conflict (the operators'
//! Phase 2A-5 fix).

use std::sync::Arc;

use super::{GameEngine, GameError, RESET_CONFLICT_RETRIES_MAX, table_of};
use crate::buggify::FaultPoint;
use crate::ids::{TableId, UserId};
use crate::rules::Chips;
use crate::store::{Key, StoreError, Txn, TxnKind, Value};

impl GameEngine {
    /// `/reset` (`emergency` = the admin's emergency reset): cancels the hand in progress and
    /// returns every committed chip to its wallet.
    pub async fn reset(&self, user: UserId, table: TableId, emergency: bool) -> Result<(), GameError> {
        if emergency && !self.config.admins.contains(&user) {
            return Err(GameError::NotAdmin { user });
        }
        let owner = self.locks.owner(if emergency { "game.emergency_reset" } else { "game.reset" });
        let _guards = self.design.reset_locks(self, &owner, table).await?;
        let guard = self.design.reset_guard();
        let mut attempt = 0;
        loop {
            let read = self.read_table(table).await?;
            let record = table_of(&read);
            if !emergency && !record.seats.contains(&user) && !self.config.admins.contains(&user) {
                return Err(GameError::NotSeated { user, table });
            }
            let mut next = record.clone();
            self.design.on_save(&mut next);
            // Capture the version before mutating: a concurrent save makes this retry.
            let mut txn = Txn::new(TxnKind::GameReset).guard(Key::Table(table), Some(&read), guard);
            if let Some(game) = record.game.as_ref().filter(|g| !g.complete) {
                for (p, user) in record.hand_seats.iter().enumerate() {
                    let refund = game.players[p].starting_stack - game.players[p].stack;
                    if refund > 0 {
                        txn = txn.merge(self.wallet.credit_txn(*user, refund, guard).await?);
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
            txn = txn.put(Key::Table(table), Value::Table(Arc::new(next)));
            self.buggify().point(FaultPoint::ResetBeforeSave).await?;
            match self.store.commit(txn).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) if attempt < RESET_CONFLICT_RETRIES_MAX => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }
}
