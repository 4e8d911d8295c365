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
        self.push(at_us, host, kind, |kept| *kept = detail)
    }

    /// [`Trace::record`] for a detail given as format arguments: spelled once, into the
    /// buffer of the event it pushes out of the tail, so a full tail allocates nothing. The
    /// hash is the same as recording the formatted `String`.
    pub fn record_fmt(&mut self, at_us: u64, host: &str, kind: &str, detail: fmt::Arguments<'_>) -> u64 {
        self.push(at_us, host, kind, |kept| {
            kept.clear();
            fmt::Write::write_fmt(kept, detail).expect("formatting into a String never fails");
        })
    }

    /// Hashes and keeps one event whose detail `fill` writes into a (recycled) buffer.
    fn push(&mut self, at_us: u64, host: &str, kind: &str, fill: impl FnOnce(&mut String)) -> u64 {
        let index = self.count;
        let recycled =
            if !self.keep_all && self.events.len() == TAIL_EVENTS_KEPT_COUNT { self.events.pop_front() } else { None };
        let (mut kept_host, mut kept_kind, mut detail) =
            recycled.map(|e| (e.host, e.kind, e.detail)).unwrap_or_default();
        fill(&mut detail);
        let mut digits = itoa_buffer();
        for part in [decimal(at_us, &mut digits), host.as_bytes(), kind.as_bytes(), detail.as_bytes()] {
            self.hash.write_part(part, FIELD_SEPARATOR);
        }
        self.count += 1;
        kept_host.clear();
        kept_host.push_str(host);
        kept_kind.clear();
        kept_kind.push_str(kind);
        self.events.push_back(TraceEvent { index, at_us, host: kept_host, kind: kept_kind, detail });
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

/// Room for the decimal digits of any `u64`.
const U64_DIGITS_MAX: usize = 20;

fn itoa_buffer() -> [u8; U64_DIGITS_MAX] {
    [0; U64_DIGITS_MAX]
}

/// `value` in decimal, as `value.to_string()` spells it, written into `buffer`.
fn decimal(mut value: u64, buffer: &mut [u8; U64_DIGITS_MAX]) -> &[u8] {
    let mut start = U64_DIGITS_MAX;
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[start..];
        }
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
    fn formatted_and_owned_details_hash_alike() {
        let mut owned = Trace::new(false);
        let mut formatted = Trace::new(false);
        for i in 0..(TAIL_EVENTS_KEPT_COUNT as u64 * 2) {
            owned.record(i, "h", "k", format!("detail {i}"));
            formatted.record_fmt(i, "h", "k", format_args!("detail {i}"));
        }
        assert_eq!(owned.hash(), formatted.hash());
        assert!(owned.events().eq(formatted.events()));
    }

    #[test]
    fn decimal_spells_like_to_string() {
        for value in [0, 7, 10, 99, 1_000_000, u64::MAX] {
            assert_eq!(decimal(value, &mut itoa_buffer()), value.to_string().as_bytes());
        }
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
