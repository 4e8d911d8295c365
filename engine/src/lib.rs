//! `engine`: the poker backend under test.
//!
//! The No-Limit Hold'em rules (`cards`, `eval`, `rules`) are pure and synchronous. The
//! backend services that wrap them arrive with issue B. This crate never depends on the
//! simulator or on turmoil: it receives time, randomness and storage from whoever runs it.

pub mod cards;
pub mod eval;
pub mod rules;
