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

    fn amounts(value: &Value) -> Vec<(&'static str, Chips)> {
        match value {
            Value::Wallet(w) => vec![("balance", w.balance)],
            Value::Reservation(r) => vec![("amount", r.amount)],
            Value::Table(t) => {
                let mut amounts = vec![("escrow", t.escrow)];
                if let Some(game) = &t.game {
                    for p in &game.players {
                        amounts.extend([("stack", p.stack), ("bet", p.bet), ("won", p.won)]);
                    }
                    amounts.extend(game.pots.iter().map(|pot| ("pot", pot.amount)));
                    amounts.push(("collected", game.collected));
                }
                amounts
            }
            Value::Jackpot(p) => vec![("pool", p.amount)],
            Value::Dlq(d) => vec![("dlq amount", d.amount)],
            Value::House(chips) => vec![("house", *chips)],
            Value::JackpotConfig(_) | Value::Request(_) => Vec::new(),
        }
    }

    fn check(&self, name: String, value: &Value, at: At, out: &mut Vec<Violation>) {
        for (what, amount) in Self::amounts(value) {
            if amount > self.supply {
                out.push(at.violation(
                    Invariant::NonNegative,
                    format!("{name}: {what} is {amount}, more than the supply {}: it went below zero", self.supply),
                ));
            }
        }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (key, _, after) in view.changes {
            if let Some(after) = after {
                self.check(format!("{} (txn {})", holder_name(key), view.txn.kind), &after.value, at, out);
            }
        }
    }

    pub fn at_end(&mut self, store: &MemoryStore, at: At, out: &mut Vec<Violation>) {
        store.inspect(|data| {
            for (key, value) in data {
                self.check(holder_name(key), &value.value, at, out);
            }
        });
    }
}
