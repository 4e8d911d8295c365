//! Invariant 2, no negative amount: no wallet, reservation, pool, pot, stack, DLQ entry or
//! house balance ever goes below zero.
//!
//! Chips are unsigned (`u64`), so a negative amount shows up in one of two ways: the engine's
//! checked arithmetic panics (the run is reported as a crash), or an unchecked subtraction
//! wraps to a value larger than the whole supply. This checker catches the second: every
//! amount written must be at most the supply.

use engine::rules::Chips;
use engine::store::{MemoryStore, Value};

use super::{At, Invariant, TxnView, Violation};
use crate::checkers::conservation::holder_name;

pub struct NonNegative {
    supply: Chips,
}

impl NonNegative {
    pub fn new(supply: Chips) -> NonNegative {
        NonNegative { supply }
    }

    /// Calls `visit` with each amount `value` holds, named.
    fn amounts(value: &Value, mut visit: impl FnMut(&'static str, Chips)) {
        match value {
            Value::Wallet(w) => visit("balance", w.balance),
            Value::Reservation(r) => visit("amount", r.amount),
            Value::Table(t) => {
                visit("escrow", t.escrow);
                if let Some(game) = &t.game {
                    for p in &game.players {
                        visit("stack", p.stack);
                        visit("bet", p.bet);
                        visit("won", p.won);
                    }
                    for pot in &game.pots {
                        visit("pot", pot.amount);
                    }
                    visit("collected", game.collected);
                }
            }
            Value::Jackpot(p) => visit("pool", p.amount),
            Value::Dlq(d) => visit("dlq amount", d.amount),
            Value::House(chips) => visit("house", *chips),
            Value::JackpotConfig(_) | Value::Request(_) => {}
        }
    }

    /// `name` spells the holder, only when a violation names it.
    fn check(&self, name: impl Fn() -> String, value: &Value, at: At, out: &mut Vec<Violation>) {
        Self::amounts(value, |what, amount| {
            if amount > self.supply {
                out.push(at.violation(
                    Invariant::NonNegative,
                    format!("{}: {what} is {amount}, more than the supply {}: it went below zero", name(), self.supply),
                ));
            }
        });
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (key, _, after) in view.changes {
            if let Some(after) = after {
                self.check(|| format!("{} (txn {})", holder_name(key), view.txn.kind), &after.value, at, out);
            }
        }
    }

    pub fn at_end(&mut self, store: &MemoryStore, at: At, out: &mut Vec<Violation>) {
        store.inspect(|data| {
            for (key, value) in data {
                self.check(|| holder_name(key), &value.value, at, out);
            }
        });
    }
}
