//! Fault injection: the plan drawn once per run (`plan`), and one module per injector — the
//! engine↔store link (`store_link`), the messenger (`messenger`), client↔engine message
//! loss (`network`), the lock probe inside the engine process (`lock_probe`), and the
//! engine's own fault points, probes and clock (`points`). Crashes and scheduled partitions are applied by the world from the plan;
//! duplicates, delayed duplicates, stale and out-of-turn actions and reused request IDs are
//! client behaviour; zombie writes land from the world's driver.

pub mod kind;
pub mod lock_probe;
pub mod messenger;
pub mod network;
pub mod plan;
pub mod points;
pub mod schedule;
pub mod store_link;
