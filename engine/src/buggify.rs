//! Fault points and coverage probes inside the backend (FoundationDB's `BUGGIFY` and
//! `CODE_PROBE`), through one injected handle.
//!
//! A **fault point** is a named place in a service where a delay, a yield to the other ready
//! tasks or an injected store failure matters — between a reservation and the table lock,
//! between building a commit and sending it, in the expiry sweeper between its scan and a
//! refund. The service asks its [`Buggify`] handle what to do there; whoever runs the
//! backend decides (the simulator draws it from the seed). A **probe** marks a rare path as
//! reached — a duplicate answered from an in-flight first copy, a reservation expired by the
//! sweeper — so a sweep can show which rare paths it covered.
//!
//! The default handle does nothing at every point and counts nothing: production code and
//! unit tests run exactly as if the points were not there. This module never decides a fault
//! and never depends on the simulator or on turmoil.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::store::StoreError;

macro_rules! named {
    ($(#[$meta:meta])* $name:ident, $unknown:literal { $($(#[$doc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            /// Every one, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable text form (reports, traces, scenario files).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<$name, String> {
                $name::ALL.iter().copied().find(|x| x.name() == text).ok_or_else(|| {
                    let known: Vec<&str> = $name::ALL.iter().map(|x| x.name()).collect();
                    format!("unknown {} `{text}`: one of {}", $unknown, known.join(", "))
                })
            }
        }
    };
}

named! {
    /// A named place inside a service where the runner may inject a delay, a yield or a
    /// store failure.
    FaultPoint, "fault point" {
        /// An action holds its reservation and is about to take the table lock.
        ReserveBeforeLock = "wallet.reserve_before_lock",
        /// Inside the table lock, an action's transaction is built and about to be sent.
        CommitBeforeSave = "game.commit_before_save",
        /// The expiry sweeper has scanned and is about to refund one expired reservation.
        SweepBeforeRefund = "wallet.sweep_before_refund",
        /// The DLQ processor is about to redrive one entry.
        DlqBeforeRedrive = "wallet.dlq_before_redrive",
        /// A jackpot operation lost a version check and is about to back off and retry.
        JackpotBeforeRetry = "jackpot.before_retry",
        /// A win holds its pool's row lock and is about to pay.
        JackpotRowLockHeld = "jackpot.row_lock_held",
        /// A request was admitted and its failure is about to be recorded.
        DedupBeforeRecord = "dedup.before_record",
        /// A reset has read its table and is about to save it.
        ResetBeforeSave = "game.reset_before_save",
    }
}

named! {
    /// A rare path whose reaching a run counts (the simulator's coverage marks).
    Probe, "probe" {
        /// A concurrent duplicate waited for its first copy and got that copy's outcome.
        DuplicateAnsweredInFlight = "dedup.duplicate_answered_in_flight",
        /// A request ID came with another payload while its first copy was in flight, and was
        /// refused as reused at once.
        ReusedWhileInFlight = "dedup.reused_while_in_flight",
        /// A processed request's record was purged, its retention over.
        DedupRecordPurged = "dedup.record_purged",
        /// The expiry sweeper refunded a reservation past its deadline.
        ReservationExpiredBySweeper = "wallet.reservation_expired_by_sweeper",
        /// A DLQ entry was redriven and its chips paid back.
        DlqRedriveSucceeded = "wallet.dlq_redrive_succeeded",
        /// A jackpot operation lost every retry to concurrent writers.
        JackpotRetriesExhausted = "jackpot.retries_exhausted",
        /// A win took over a pool row lock whose lease had run out.
        RowLockTakenOver = "jackpot.row_lock_taken_over",
        /// A commit was refused because its reservation's deadline had passed.
        CommitRefusedAfterDeadline = "wallet.commit_refused_after_deadline",
        /// An action lost its table's version check and its reservation was given back.
        VersionConflictCompensated = "game.version_conflict_compensated",
        /// A seated player whose wallet is empty was left out of a deal.
        BustedPlayerSatOut = "game.busted_player_sat_out",
        /// A hand was over the moment it was dealt (every player all in on the forced bets)
        /// and paid out in its start.
        HandEndedAtDeal = "game.hand_ended_at_deal",
        /// The engine died right after an action's commit applied, before it answered (the
        /// simulator marks it: the engine cannot see its own death).
        CrashAfterCommit = "crash.after_commit_before_reply",
    }
}

/// What to do at a fault point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Nothing: go on.
    Pass,
    /// Let every other ready task run first, then go on.
    Yield,
    /// Sleep this long, then go on.
    Delay(Duration),
    /// Fail as an unavailable store would.
    Fail,
}

/// The runner's side of the points and probes.
pub trait Hooks: Send + Sync {
    /// What to do at `point`, this time.
    fn at(&self, point: FaultPoint) -> Injection;
    /// `probe`'s path was reached.
    fn reached(&self, probe: Probe);
}

/// The hooks of a backend outside the simulator: nothing anywhere.
struct Off;

impl Hooks for Off {
    fn at(&self, _: FaultPoint) -> Injection {
        Injection::Pass
    }

    fn reached(&self, _: Probe) {}
}

/// A service's handle on the runner's hooks (cheap to clone).
#[derive(Clone)]
pub struct Buggify {
    hooks: Arc<dyn Hooks>,
}

impl Default for Buggify {
    fn default() -> Buggify {
        Buggify::off()
    }
}

impl fmt::Debug for Buggify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Buggify")
    }
}

impl Buggify {
    /// No fault anywhere, no probe counted.
    pub fn off() -> Buggify {
        Buggify { hooks: Arc::new(Off) }
    }

    /// A handle on `hooks`.
    pub fn new(hooks: Arc<dyn Hooks>) -> Buggify {
        Buggify { hooks }
    }

    /// Passes `point`: waits or yields as the runner says, or fails as an unavailable
    /// store (only where the caller handles a store failure; see [`Buggify::pause`]).
    pub async fn point(&self, point: FaultPoint) -> Result<(), StoreError> {
        match self.hooks.at(point) {
            Injection::Pass => Ok(()),
            Injection::Yield => {
                tokio::task::yield_now().await;
                Ok(())
            }
            Injection::Delay(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Injection::Fail => Err(StoreError::Unavailable { reason: format!("injected at {point}") }),
        }
    }

    /// Passes `point` where a failure would have no store call to blame: an injected failure
    /// is taken as a yield.
    pub async fn pause(&self, point: FaultPoint) {
        if self.point(point).await.is_err() {
            tokio::task::yield_now().await;
        }
    }

    /// Marks `probe`'s path as reached.
    pub fn probe(&self, probe: Probe) {
        self.hooks.reached(probe);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Scripted(Mutex<Vec<Injection>>, Mutex<Vec<Probe>>);

    impl Hooks for Scripted {
        fn at(&self, _: FaultPoint) -> Injection {
            self.0.lock().unwrap().pop().unwrap_or(Injection::Pass)
        }

        fn reached(&self, probe: Probe) {
            self.1.lock().unwrap().push(probe);
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for point in FaultPoint::ALL {
            assert_eq!(point.name().parse::<FaultPoint>(), Ok(*point));
        }
        for probe in Probe::ALL {
            assert_eq!(probe.name().parse::<Probe>(), Ok(*probe));
        }
        assert!("wallet.nowhere".parse::<FaultPoint>().unwrap_err().contains("wallet.reserve_before_lock"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_handle_does_what_the_hooks_say_and_nothing_when_off() {
        let hooks = Arc::new(Scripted(
            Mutex::new(vec![Injection::Fail, Injection::Delay(Duration::from_millis(40)), Injection::Yield]),
            Mutex::new(Vec::new()),
        ));
        let buggify = Buggify::new(hooks.clone());
        let started = tokio::time::Instant::now();
        assert_eq!(buggify.point(FaultPoint::CommitBeforeSave).await, Ok(()));
        assert_eq!(buggify.point(FaultPoint::CommitBeforeSave).await, Ok(()));
        assert_eq!(started.elapsed(), Duration::from_millis(40));
        assert!(matches!(buggify.point(FaultPoint::CommitBeforeSave).await, Err(StoreError::Unavailable { .. })));
        buggify.probe(Probe::DlqRedriveSucceeded);
        assert_eq!(*hooks.1.lock().unwrap(), vec![Probe::DlqRedriveSucceeded]);
        let off = Buggify::off();
        assert_eq!(off.point(FaultPoint::CommitBeforeSave).await, Ok(()));
        off.probe(Probe::DlqRedriveSucceeded);
    }
}
