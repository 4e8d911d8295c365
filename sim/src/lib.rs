//! `sim`: the deterministic simulator around the poker engine, and the `chipsim` command line.
//!
//! For now it holds the hand-history tools that cross-check the rules engine against
//! PokerKit (`hands`); the turmoil world, fault injectors, checkers and reports arrive with
//! issue C. It must never let wall-clock time or OS randomness reach a simulated path: every
//! random choice flows from the run's seed (`seeds`).

pub mod exit;
pub mod hands;
pub mod seeds;
