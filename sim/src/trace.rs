//! The event trace of one run: every request, reply, lock acquire and release, store
//! transaction, fault and phase change, stamped with simulated time and the host it happened
//! on, folded into a 64-bit FNV-1a hash as it is recorded.
//!
//! The hash is the run's fingerprint: the same scenario and seed give the same hash in any
//! process and in debug or release builds, so it must only ever see deterministic text —
//! simulated time in microseconds, never an `Instant` or a pointer, and only ordered
//! collections. A run keeps the last `TAIL_EVENTS_KEPT_COUNT` events (for failure reports)
//! or, when replaying, all of them.

use std::collections::VecDeque;
use std::fmt;

use engine::hash::Fnv1a;
use serde::{Deserialize, Serialize};

/// Events kept for a failure report when the full trace is not kept.
pub const TAIL_EVENTS_KEPT_COUNT: usize = 60;

/// Separates the fields of one event inside the hash (ASCII unit separator).
const FIELD_SEPARATOR: u8 = 0x1f;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Position in the trace (0-based).
    pub index: u64,
    /// Simulated time since the start of the run, in microseconds.
    pub at_us: u64,
    pub host: String,
    pub kind: String,
    pub detail: String,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, us) = (self.at_us / 1_000_000, self.at_us % 1_000_000);
        write!(f, "#{:<7} {s:>5}.{us:06}s {:<9} {:<16} {}", self.index, self.host, self.kind, self.detail)
    }
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hash: Fnv1a,
    count: u64,
    keep_all: bool,
    events: VecDeque<TraceEvent>,
}

impl Trace {
    /// `keep_all`: keep every event (replay) instead of the last few.
    pub fn new(keep_all: bool) -> Trace {
        Trace { hash: Fnv1a::new(), count: 0, keep_all, events: VecDeque::new() }
    }

    /// Records one event; returns its index.
    pub fn record(&mut self, at_us: u64, host: &str, kind: &str, detail: String) -> u64 {
        let index = self.count;
        let at = at_us.to_string();
        for part in [at.as_bytes(), host.as_bytes(), kind.as_bytes(), detail.as_bytes()] {
            self.hash.write_part(part, FIELD_SEPARATOR);
        }
        self.count += 1;
        if !self.keep_all && self.events.len() == TAIL_EVENTS_KEPT_COUNT {
            self.events.pop_front();
        }
        self.events.push_back(TraceEvent { index, at_us, host: host.to_string(), kind: kind.to_string(), detail });
        index
    }

    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// Events recorded so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &TraceEvent> {
        self.events.iter()
    }
}

/// A trace hash as printed: 16 hex digits.
pub fn format_hash(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_every_field_and_on_order() {
        let hash = |events: &[(u64, &str, &str, &str)]| {
            let mut trace = Trace::new(false);
            for (at, host, kind, detail) in events {
                trace.record(*at, host, kind, detail.to_string());
            }
            trace.hash()
        };
        let base = hash(&[(1, "engine", "txn", "a"), (2, "client", "send", "b")]);
        assert_eq!(base, hash(&[(1, "engine", "txn", "a"), (2, "client", "send", "b")]));
        assert_ne!(base, hash(&[(2, "client", "send", "b"), (1, "engine", "txn", "a")]));
        assert_ne!(base, hash(&[(1, "engine", "txn", "a"), (3, "client", "send", "b")]));
        assert_ne!(base, hash(&[(1, "engine", "tx", "na"), (2, "client", "send", "b")]));
        // A pinned value (computed independently): the hash must not change across builds,
        // platforms or Rust versions, or every recorded seed's hash would change.
        assert_eq!(format_hash(hash(&[(0, "h", "k", "d")])), "c28a42af3404bc3a");
    }

    #[test]
    fn only_the_tail_is_kept_unless_asked() {
        let mut trace = Trace::new(false);
        for i in 0..200 {
            trace.record(i, "h", "k", String::new());
        }
        assert_eq!(trace.len(), 200);
        assert_eq!(trace.events().count(), TAIL_EVENTS_KEPT_COUNT);
        assert_eq!(trace.events().next().unwrap().index, 200 - TAIL_EVENTS_KEPT_COUNT as u64);
    }
}
