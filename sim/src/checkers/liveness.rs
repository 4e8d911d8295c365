//! Invariant 9, liveness: once faults stop, the system converges within the heal deadline —
//! no reservation left live, the DLQ drained, every table idle or in a clean hand (its state
//! valid and its escrow matching), and every lock free — none held and nobody waiting for one
//! (a wait left behind once the traffic stops is a leaked entry or a task stuck for good) —
//! the lock manager's and the jackpot's row locks alike (a row lock whose lease has run out
//! counts as free: anyone may take it over, which is how a lock left by a dead holder — or
//! landed by a zombie write — heals). The world asks [`Liveness::pending`] during the heal
//! phase and stops as soon as nothing is pending; what is still pending at the deadline is the
//! liveness failure.

use engine::store::{MemoryStore, ReservationState, Value};

#[derive(Default)]
pub struct Liveness;

/// The lock manager's entries at one moment, over every engine process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocksInUse {
    /// Holds (one per owner and key).
    pub held: usize,
    /// Waits (one per owner and key).
    pub waiting: usize,
}

impl Liveness {
    /// What has not converged yet at `now_ms` (empty when everything has).
    pub fn pending(&self, store: &MemoryStore, locks: LocksInUse, now_ms: u64) -> Vec<String> {
        let mut pending = Vec::new();
        store.inspect(|data| {
            for value in data.values() {
                match &value.value {
                    Value::Reservation(r) if r.state == ReservationState::Live => pending.push(format!(
                        "{} of {} ({} chips) still live, deadline {} ms",
                        r.id, r.user, r.amount, r.deadline_ms
                    )),
                    Value::Jackpot(pool)
                        if pool.lock_holder.is_some() && pool.lock_expires_ms.is_none_or(|until| until > now_ms) =>
                    {
                        pending.push(format!(
                            "jackpot {} row lock still held by {} (lease until {:?} ms)",
                            pool.group.name(),
                            pool.lock_holder.as_deref().unwrap_or_default(),
                            pool.lock_expires_ms
                        ))
                    }
                    Value::Dlq(entry) => pending.push(format!(
                        "{} owes {} chips to {} after {} attempts",
                        entry.id, entry.amount, entry.reservation.user, entry.attempts
                    )),
                    Value::Table(table) => {
                        if table.processing {
                            pending.push(format!("{} processing flag still up", table.table));
                        }
                        if let Some(game) = &table.game
                            && let Err(violation) = engine::rules::validate_game_state(game)
                        {
                            pending.push(format!("{} hand is not clean: {violation}", table.table));
                        }
                    }
                    _ => {}
                }
            }
        });
        if locks.held > 0 {
            pending.push(format!("{} locks still held", locks.held));
        }
        if locks.waiting > 0 {
            pending.push(format!("{} lock waits still registered", locks.waiting));
        }
        pending
    }
}
