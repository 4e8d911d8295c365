//! `sim`: the deterministic simulator around the poker engine, and the `chipsim` command line.
//!
//! A run ([`world::run`]) puts the whole backend of the `engine` crate in a turmoil world — an
//! `engine` host that can crash and restart, one or two client hosts of players — with the
//! durable store and the chat API as simulated services behind fault-injecting links
//! (`faults`), drives it through a safety phase with faults and a heal phase that must
//! converge, checks the invariants after every store transaction (`checkers`), and
//! reports histograms, counters and a trace hash (`report`, `trace`). Scenarios are TOML data
//! (`scenario`). It must never let wall-clock time or OS randomness reach a simulated path:
//! every random choice flows from the run's seed (`seeds`).
//!
//! The hand-history tools that cross-check the rules against PokerKit live in `hands`.

pub mod cli;
pub mod compare;
pub mod exit;
pub mod hands;
pub mod html;
pub mod latency;
pub mod prometheus;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod sweep;
pub mod timeline;
pub mod world;

pub(crate) mod checkers;
pub(crate) mod client;
pub(crate) mod context;
pub(crate) mod engine_host;
pub(crate) mod faults;
pub(crate) mod host_clock;
pub(crate) mod layout;
pub(crate) mod protocol;
pub(crate) mod runner;
pub(crate) mod seeds;
pub(crate) mod trace;

pub use checkers::{Invariant, Violation};
pub use context::TimerWakes;
pub use faults::kind::FaultKind;
pub use faults::plan::{CrashAt, FaultPlan, Window};
pub use faults::schedule::{Opportunity, ScheduledFault, Site, StoreOp};
pub use trace::{TAIL_EVENTS_KEPT_COUNT, TraceEvent, TraceKept};
