//! The canaries: planted designs, one per family of checked properties, each breaking exactly
//! that property and nothing else the hardened engine guarantees. They are not history — no
//! one ran them — but proof that each checker still sees: CI runs every canary and fails if
//! one passes (a checker gone blind looks exactly like a correct engine). The budgets'
//! canary is the historical `chat_in_lock`.
//!
//! | canary | breaks | caught by |
//! |---|---|---|
//! | `canary_house_chip` | chips: the house gains a chip per raked hand | `conservation` |
//! | `canary_wrong_wallet` | a seat's chips go to its neighbour's wallet | `wallet_ledger` |
//! | `canary_no_dedup` | every copy of a request is processed | `at_most_once` |
//! | `canary_unguarded_save` | table saves skip their version check | `versions` |
//! | `canary_lock_order` | fine locks taken in reverse hierarchy order | `locks` |
//! | `canary_early_release` | action locks released before the critical section | `lock_exclusivity` |
//! | `canary_odd_chip` | a split pot's odd chip to the last winner | `rules` |
//! | `canary_total_balance` | a balance read adds the chips in play to the wallet's | `reads` |

use crate::dedup::DedupMode;
use crate::game::design::{Design, Escrowed, HookFuture};
use crate::game::{ActionRequest, GameEngine, GameError};
use crate::ids::UserId;
use crate::locks::{LockGuard, LockOwner};
use crate::rules::{Chips, GameState};
use crate::store::{Guard, TableRecord};

/// Credits the house one chip more than the rake: a chip created from nothing.
pub(crate) struct HouseChip;

impl Design for HouseChip {
    fn house_credit(&self, rake: Chips) -> Chips {
        rake + 1
    }
}

/// Pays the chips coming back to a seat into the next seat's wallet: the sum holds.
pub(crate) struct WrongWallet;

impl Design for WrongWallet {
    fn payee(&self, hand_seats: &[UserId], position: usize) -> UserId {
        hand_seats[(position + 1) % hand_seats.len()]
    }
}

/// No deduplication: a duplicate is processed as a new request.
pub(crate) struct NoDedup;

impl Design for NoDedup {
    fn dedup_mode(&self) -> DedupMode {
        DedupMode::Off
    }
}

/// Saves tables without their version check: a concurrent writer's change is lost.
pub(crate) struct UnguardedSave;

impl Design for UnguardedSave {
    fn save_guard(&self) -> Guard {
        Guard::Unguarded
    }

    fn reset_guard(&self) -> Guard {
        Guard::Unguarded
    }
}

/// Takes an action's locks in reverse order (under the fine strategy: player before table).
pub(crate) struct LockOrder;

impl Design for LockOrder {
    fn exclude<'a>(
        &'a self,
        engine: &'a GameEngine,
        owner: &'a LockOwner,
        request: &'a ActionRequest,
        _escrowed: &'a Escrowed,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(async move {
            let mut guards = Vec::new();
            for (key, mode) in engine.action_lock_keys(request).into_iter().rev() {
                guards.push(owner.acquire(key, mode).await?);
            }
            Ok(guards)
        })
    }
}

/// Takes the action's locks, then lets them go before the critical section runs.
pub(crate) struct EarlyRelease;

impl Design for EarlyRelease {
    fn exclude<'a>(
        &'a self,
        engine: &'a GameEngine,
        owner: &'a LockOwner,
        request: &'a ActionRequest,
        _escrowed: &'a Escrowed,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(async move {
            drop(engine.action_locks(owner, request).await?);
            Ok(Vec::new())
        })
    }
}

/// When a hand ends with the first winner one chip ahead of the last (an odd chip), moves
/// that chip to the last winner: the total holds, the rules do not.
pub(crate) struct OddChip;

impl Design for OddChip {
    fn after_apply(&self, game: &mut GameState) {
        if !game.complete {
            return;
        }
        let winners: Vec<usize> = (0..game.players.len()).filter(|&p| game.players[p].won > 0).collect();
        let (Some(&first), Some(&last)) = (winners.first(), winners.last()) else { return };
        if first != last && game.players[first].won == game.players[last].won + 1 {
            game.players[first].won -= 1;
            game.players[first].stack -= 1;
            game.players[last].won += 1;
            game.players[last].stack += 1;
        }
    }
}

/// Answers a balance read with the wallet plus the chips the player has in the live hand:
/// "total chips" where the wallet's balance was asked (nothing moves; only the answer lies).
pub(crate) struct TotalBalance;

impl Design for TotalBalance {
    fn balance_answer(&self, wallet: Chips, record: &TableRecord, user: UserId) -> Chips {
        wallet + in_play(record, user)
    }
}

/// The chips `user` has put into `record`'s live hand (0 when no hand is being played).
fn in_play(record: &TableRecord, user: UserId) -> Chips {
    let Some(game) = record.game.as_ref().filter(|g| !g.complete) else { return 0 };
    record
        .hand_seats
        .iter()
        .zip(&game.players)
        .filter(|(seat, _)| **seat == user)
        .map(|(_, p)| p.starting_stack - p.stack)
        .sum()
}
