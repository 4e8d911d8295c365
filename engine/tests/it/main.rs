//! The engine's integration tests, in one binary (one link on 2 cores): scripted edge cases
//! named after the rule each pins, property tests over random legal play, and the exhaustive
//! seven-card evaluator count (ignored by default; CI runs it in release).

mod edge_cases;
mod game;
mod properties;
mod seven_card;
