//! `sim`: the deterministic simulator around the poker engine, and the `chipsim` command line.
//!
//! A run ([`world::run`]) puts the whole backend of the `engine` crate in a turmoil world — an
//! `engine` host that can crash and restart, one or two client hosts of players — with the
//! durable store and the chat API as simulated services behind fault-injecting links
//! (`faults`), drives it through a safety phase with faults and a heal phase that must
//! converge, checks the nine invariants after every store transaction (`checkers`), and
//! reports histograms, counters and a trace hash (`report`, `trace`). Scenarios are TOML data
//! (`scenario`). It must never let wall-clock time or OS randomness reach a simulated path:
//! every random choice flows from the run's seed (`seeds`).
//!
//! The hand-history tools that cross-check the rules against PokerKit live in `hands`.

pub mod checkers;
pub mod client;
pub mod context;
pub mod engine_host;
pub mod exit;
pub mod faults;
pub mod hands;
pub mod layout;
pub mod protocol;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod seeds;
pub mod trace;
pub mod world;
