//! `engine`: the poker backend under test.
//!
//! The No-Limit Hold'em rules (`cards`, `eval`, `rules`) are pure and synchronous. The
//! backend services wrap them: the durable `store`, the `metrics` registry, and (issue B, in
//! progress) the lock manager, wallet, dedup, jackpot and game flows. Time comes from `clock`
//! and `tokio::time`. This crate never depends on the
//! simulator or on turmoil: it receives time, randomness and storage from whoever runs it.

pub mod cards;
pub mod chat;
pub mod clock;
pub mod dedup;
pub mod eval;
pub mod game;
pub mod ids;
pub mod jackpot;
pub mod locks;
pub mod metrics;
pub mod rules;
pub mod store;
pub mod wallet;
