//! The chip-movement audit trail of a hand: every chip that leaves or reaches a holder, who,
//! how much, why, and the holder's balance before and after.
//!
//! Plain records, appended by the state machine and checked by `validate`. Nothing here
//! moves chips.

use serde::{Deserialize, Serialize};

use super::config::{Chips, Position};

/// Who a movement's balance belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    /// A player's stack.
    Player(Position),
    /// The hand's rake, kept apart so the house and the jackpot can be fed from it.
    Rake,
}

/// Why chips moved. Forced bets, calls and raises take chips from a stack; returns and wins
/// give chips to a stack; rake gives chips to the rake holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    Ante,
    SmallBlind,
    BigBlind,
    Call,
    Raise,
    UncalledBetReturned,
    PotWon { pot: usize },
    Rake,
}

impl MoveReason {
    /// True when the movement adds to the holder's balance.
    pub fn credits_holder(self) -> bool {
        matches!(self, MoveReason::UncalledBetReturned | MoveReason::PotWon { .. } | MoveReason::Rake)
    }
}

/// One movement of chips.
///
/// **Invariant:** `after = before ± amount`, the sign given by [`MoveReason::credits_holder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipMovement {
    pub holder: Holder,
    pub amount: Chips,
    pub reason: MoveReason,
    /// The holder's balance before the movement.
    pub before: Chips,
    /// The holder's balance after it.
    pub after: Chips,
}
