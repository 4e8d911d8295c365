//! The rules of No-Limit Hold'em as pure, synchronous functions of state and input.
//!
//! Owns one hand at one table: forced bets, dealing, legal actions, betting, pots, rake,
//! showdown, the audit trail and the hand history. It never does I/O, never awaits, never
//! reads a clock and never draws randomness of its own; async services wrap it.

pub mod audit;
pub mod config;
pub mod error;
pub mod phh;
pub mod pots;
pub mod random_play;
pub mod state;
pub mod validate;

pub use audit::{ChipMovement, Holder, MoveReason};
pub use config::{Chips, Position, PotLayering, RakeConfig, RuleOptions, ShortBigBlindCall, TableConfig};
pub use error::{ActionError, RaiseBlock, StartError};
pub use phh::{HandHistory, ReplayError};
pub use pots::Pot;
pub use state::{Action, Applied, GameState, HandEvent, LegalActions, PlayerState, RaiseRange, Street};
pub use validate::{InvariantViolation, validate_game_state};
