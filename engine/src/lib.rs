//! `engine`: the poker backend under test.
//!
//! The No-Limit Hold'em rules (`cards`, `eval`, `rules`) are pure and synchronous. The
//! backend services wrap them: the durable `store`, the `metrics` registry, the lock manager
//! (`locks`), the two-phase-commit wallet (`wallet`), request deduplication (`dedup`), the
//! jackpot (`jackpot`), the chat API (`chat`) and the game flows with their designs (`game`).
//! Time comes from `clock` and `tokio::time`, stable hashes from `hash`, fault points and
//! coverage probes from `buggify` (a no-op unless a runner injects hooks). This crate never
//! depends on the simulator or on turmoil: it receives time, randomness and storage from
//! whoever runs it.

pub mod buggify;
pub mod cards;
pub mod chat;
pub mod clock;
pub mod dedup;
pub mod eval;
pub mod game;
pub mod hash;
pub mod ids;
pub mod jackpot;
pub mod locks;
pub mod metrics;
pub mod rules;
pub mod store;
pub mod wallet;
