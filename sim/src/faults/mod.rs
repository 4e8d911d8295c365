//! Fault injection: the plan drawn once per run (`plan`), and one module per injector — the
//! engine↔store link (`store_link`), the messenger (`messenger`), and client↔engine message
//! loss (`network`). Crashes and scheduled partitions are applied by the world from the plan;
//! duplicates, delayed duplicates, stale and out-of-turn actions are client behaviour.

pub mod kind;
pub mod messenger;
pub mod network;
pub mod plan;
pub mod schedule;
pub mod store_link;
