//! Time for the backend, through one injected handle.
//!
//! Durations and sleeps use `tokio::time`, which the simulator drives (turmoil) and tests
//! pause (`start_paused`). Deadlines that outlive a process — a reservation's expiry, a
//! processed request's retention — need an absolute time that survives an engine restart:
//! that is `Clock::now_ms`, milliseconds on the run's timeline. This module never reads the
//! wall clock.

use std::sync::Arc;

use tokio::time::Instant;

/// Milliseconds on the run's timeline (0 = the start of the run).
pub type TimestampMs = u64;

/// The backend's source of absolute time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the start of the run. A wall clock: it may be stepped (forward or
    /// back, as NTP does) and drift, so deadlines compared with it must not assume it is
    /// monotonic; durations and timers use `tokio::time` instead.
    fn now_ms(&self) -> TimestampMs;
}

/// A clock on tokio's timeline, counted from `origin`. Under a paused or simulated tokio
/// clock it is exact and deterministic; share one origin between restarts of the engine so
/// persisted deadlines keep their meaning.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    /// A clock whose zero is `origin`.
    pub fn new(origin: Instant) -> TokioClock {
        TokioClock { origin }
    }

    /// A clock whose zero is now.
    pub fn starting_now() -> TokioClock {
        TokioClock { origin: Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> TimestampMs {
        Instant::now().saturating_duration_since(self.origin).as_millis() as TimestampMs
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;
