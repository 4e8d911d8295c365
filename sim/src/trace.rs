//! The event trace of one run: every request, reply, lock acquire and release, store
//! transaction, fault and phase change, stamped with simulated time and the host it happened
//! on, folded into a 64-bit hash as it is recorded ([`WordHash`]: 64-bit words through
//! SplitMix64's finalizer).
//!
//! The hash is the run's fingerprint: the same scenario and seed give the same hash in any
//! process and in debug or release builds, so it must only ever see deterministic input —
//! simulated time in microseconds, never an `Instant` or a pointer, and only ordered
//! collections. The hot events (requests, replies, lock events, transactions) are hashed
//! from their structured fields, in postcard's encoding, and spelled for a human only when
//! the trace keeps them ([`TraceKept`]): a run that keeps nothing formats nothing of them.
//! Rare events are hashed from their text. Which events are kept never changes the hash.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::seeds::WordHash;

/// Events kept for a failure report when the full trace is not kept.
pub const TAIL_EVENTS_KEPT_COUNT: usize = 60;

/// Marks a text detail inside the hash, and …
const TEXT_MARK: u64 = 0x1f;

/// … structured fields, so that no structured event hashes like a text one.
const STRUCTURED_MARK: u64 = 0x1e;

/// Which events a trace keeps, spelled, beside the hash of all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceKept {
    /// None: the cheapest, for runs whose trace only their hash needs.
    #[default]
    Nothing,
    /// The last [`TAIL_EVENTS_KEPT_COUNT`] events, for a failure report.
    Tail,
    /// Every event (replay).
    All,
}

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
    hash: WordHash,
    count: u64,
    kept: TraceKept,
    events: VecDeque<TraceEvent>,
}

impl Trace {
    pub fn new(kept: TraceKept) -> Trace {
        Trace { hash: WordHash::new(), count: 0, kept, events: VecDeque::new() }
    }

    /// Whether this trace spells its events (it keeps some).
    pub fn keeps_events(&self) -> bool {
        self.kept != TraceKept::Nothing
    }

    /// Records one event whose detail is text; returns its index.
    pub fn record(&mut self, at_us: u64, host: &str, kind: &str, detail: String) -> u64 {
        self.hash_head(at_us, host, kind);
        self.hash.word(TEXT_MARK);
        self.hash.bytes(detail.as_bytes());
        self.keep(at_us, host, kind, |kept| *kept = detail)
    }

    /// Records one event hashed from `fields` (in postcard's encoding) and spelled as
    /// `detail` only if the trace keeps it: for the hot events, whose text no hash needs.
    /// `fields` must say everything `detail` says.
    pub fn record_fields<F: Serialize + ?Sized>(
        &mut self,
        at_us: u64,
        host: &str,
        kind: &str,
        fields: &F,
        detail: fmt::Arguments<'_>,
    ) -> u64 {
        self.hash_head(at_us, host, kind);
        self.hash.word(STRUCTURED_MARK);
        postcard::serialize_with_flavor(fields, HashFlavor::new(&mut self.hash))
            .expect("a trace event's fields always serialize");
        self.keep(at_us, host, kind, |kept| {
            kept.clear();
            fmt::Write::write_fmt(kept, detail).expect("formatting into a String never fails");
        })
    }

    /// Folds the time, host and kind of the next event into the hash.
    fn hash_head(&mut self, at_us: u64, host: &str, kind: &str) {
        self.hash.word(at_us);
        self.hash.bytes(host.as_bytes());
        self.hash.bytes(kind.as_bytes());
    }

    /// Counts an event that is not kept; returns its index.
    fn next_index(&mut self) -> u64 {
        self.count += 1;
        self.count - 1
    }

    /// Counts the event and, if the trace keeps events, keeps it with the detail `fill`
    /// writes into a (recycled) buffer; returns its index.
    fn keep(&mut self, at_us: u64, host: &str, kind: &str, fill: impl FnOnce(&mut String)) -> u64 {
        let index = self.next_index();
        if !self.keeps_events() {
            return index;
        }
        let full = self.kept == TraceKept::Tail && self.events.len() == TAIL_EVENTS_KEPT_COUNT;
        let recycled = if full { self.events.pop_front() } else { None };
        let (mut kept_host, mut kept_kind, mut detail) =
            recycled.map(|e| (e.host, e.kind, e.detail)).unwrap_or_default();
        fill(&mut detail);
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

/// A postcard output that folds the encoding into the trace hash instead of storing it, as
/// [`WordHash::bytes`] of the whole encoding would.
struct HashFlavor<'a> {
    hash: &'a mut WordHash,
    /// Bytes not yet folded (fewer than eight), little-endian, and how many.
    pending: u64,
    pending_count: u32,
    total: u64,
}

impl<'a> HashFlavor<'a> {
    fn new(hash: &'a mut WordHash) -> HashFlavor<'a> {
        HashFlavor { hash, pending: 0, pending_count: 0, total: 0 }
    }
}

impl postcard::ser_flavors::Flavor for HashFlavor<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        for &byte in data {
            self.try_push(byte)?;
        }
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.pending |= u64::from(data) << (8 * self.pending_count);
        self.pending_count += 1;
        self.total += 1;
        if self.pending_count == 8 {
            self.hash.word(self.pending);
            (self.pending, self.pending_count) = (0, 0);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        if self.pending_count > 0 {
            self.hash.word(self.pending);
        }
        self.hash.word(self.total);
        Ok(())
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
            let mut trace = Trace::new(TraceKept::Tail);
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
        // A pinned value (computed independently, by a Python transcription of `WordHash`): the
        // hash must not change across builds, platforms or Rust versions, or every recorded
        // seed's hash would change.
        assert_eq!(format_hash(hash(&[(0, "h", "k", "d")])), "d276fa09edc77e94");
    }

    /// A run's hash must not depend on whether its events are kept: a failing run is run
    /// again keeping its tail, and replay keeps everything.
    #[test]
    fn what_is_kept_never_changes_the_hash() {
        let hash = |kept: TraceKept| {
            let mut trace = Trace::new(kept);
            for i in 0..(TAIL_EVENTS_KEPT_COUNT as u64 * 2) {
                trace.record(i, "h", "text", format!("owned {i}"));
                trace.record_fields(i, "h", "fields", &(i, "x"), format_args!("w{i} x"));
            }
            (trace.hash(), trace.len(), trace.events().count())
        };
        let (nothing, tail, all) = (hash(TraceKept::Nothing), hash(TraceKept::Tail), hash(TraceKept::All));
        assert_eq!((nothing.0, nothing.1), (tail.0, tail.1));
        assert_eq!((nothing.0, nothing.1), (all.0, all.1));
        assert_eq!((nothing.2, tail.2, all.2), (0, TAIL_EVENTS_KEPT_COUNT, TAIL_EVENTS_KEPT_COUNT * 4));
    }

    #[test]
    fn byte_strings_hash_with_their_length_and_the_flavor_as_the_bytes() {
        let of = |parts: &[&[u8]]| {
            let mut hash = WordHash::new();
            parts.iter().for_each(|part| hash.bytes(part));
            hash
        };
        assert_ne!(of(&[b"ab", b"c"]), of(&[b"a", b"bc"]));
        assert_ne!(of(&[b"abcdefgh"]), of(&[b"abcdefgh\0"]));
        assert_ne!(of(&[b""]), of(&[]));
        let fields = (7u64, "a longer string than eight bytes", [1u8, 2, 3]);
        let mut flavored = WordHash::new();
        postcard::serialize_with_flavor(&fields, HashFlavor::new(&mut flavored)).unwrap();
        let encoded = postcard::to_allocvec(&fields).unwrap();
        assert_eq!(flavored, of(&[&encoded]));
    }

    #[test]
    fn structured_events_hash_their_fields_not_their_text() {
        let hash = |fields: &(u64, &str), detail: fmt::Arguments<'_>| {
            let mut trace = Trace::new(TraceKept::Nothing);
            trace.record_fields(5, "h", "k", fields, detail);
            trace.hash()
        };
        let base = hash(&(1, "a"), format_args!("one"));
        assert_eq!(base, hash(&(1, "a"), format_args!("another spelling")));
        assert_ne!(base, hash(&(2, "a"), format_args!("one")));
        assert_ne!(base, hash(&(1, "b"), format_args!("one")));
        let mut text = Trace::new(TraceKept::Nothing);
        text.record(5, "h", "k", "one".into());
        assert_ne!(base, text.hash());
        let mut kept = Trace::new(TraceKept::All);
        kept.record_fields(5, "h", "k", &(1, "a"), format_args!("w{} {}", 1, "a"));
        assert_eq!(kept.events().next().map(|event| event.detail.as_str()), Some("w1 a"));
        // Pinned (computed independently, in Python): postcard's encoding and the hash are both
        // stable.
        assert_eq!(format_hash(base), "16e9eacb14ea5bee");
    }

    #[test]
    fn only_the_tail_is_kept_unless_asked() {
        let mut trace = Trace::new(TraceKept::Tail);
        for i in 0..200 {
            trace.record(i, "h", "k", String::new());
        }
        assert_eq!(trace.len(), 200);
        assert_eq!(trace.events().count(), TAIL_EVENTS_KEPT_COUNT);
        assert_eq!(trace.events().next().unwrap().index, 200 - TAIL_EVENTS_KEPT_COUNT as u64);
    }
}
