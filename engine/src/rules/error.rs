//! Typed errors of the rules engine: bad hand set-ups and illegal actions.
//!
//! Each is an expected failure the caller matches on; none of them means the state changed.
//! A broken invariant is not here: that is a bug and panics (see `validate`).

use serde::{Deserialize, Serialize};

use super::config::{Chips, ConfigError, Position};
use crate::cards::DuplicateCardError;

/// A hand that cannot be started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{count} players: a hand needs {min} to {max}", min = super::config::SEATS_MIN, max = super::config::SEATS_MAX)]
    PlayerCount { count: usize },
    #[error("player at position {position} has no chips")]
    EmptyStack { position: Position },
    #[error("total chips overflow")]
    Overflow,
    #[error(transparent)]
    DuplicateCard(#[from] DuplicateCardError),
}

/// An action the rules do not allow now. The state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionError {
    #[error("the hand is over; no action is expected")]
    HandOver,
    #[error("position {attempted} acted out of turn; position {expected} is to act")]
    OutOfTurn { expected: Position, attempted: Position },
    #[error("no player at position {position}")]
    UnknownPosition { position: Position },
    #[error("fold when checking is free")]
    FoldWhenCheckIsFree,
    #[error("cannot check facing a bet of {to_call}")]
    CheckFacingBet { to_call: Chips },
    #[error("nothing to call; check instead")]
    NothingToCall,
    #[error("raising is not allowed: {reason}")]
    RaiseNotAllowed { reason: RaiseBlock },
    #[error("raise to {to} is below the minimum raise to {min_to}")]
    RaiseBelowMinimum { to: Chips, min_to: Chips },
    #[error("raise to {to} is above the maximum raise to {max_to} (the player's stack)")]
    RaiseAboveMaximum { to: Chips, max_to: Chips },
}

/// Why a player may not bet or raise at this point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaiseBlock {
    #[error("an all-in for less than a full raise did not reopen the betting to a player who already acted")]
    NotReopened,
    #[error("the player's stack does not exceed the amount to call")]
    StackCoveredByCall,
    #[error("every opponent has folded or is all-in")]
    NoOpponentCanCall,
}
