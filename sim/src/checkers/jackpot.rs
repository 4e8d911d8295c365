//! Invariant 8, jackpot: each pool holds exactly what was contributed minus what was won,
//! is never negative, never loses part of its contribution or win totals (a total that goes
//! down is an overwritten update), and its row version rises by one per update. A transaction
//! that changes a pool's amount must move the same chips through the totals.

use engine::rules::Chips;
use engine::store::{Key, MemoryStore, Value};

use super::{At, Invariant, TxnView, Violation};

pub struct Jackpot {
    supply: Chips,
}

impl Jackpot {
    pub fn new(supply: Chips) -> Jackpot {
        Jackpot { supply }
    }

    fn check_pool(&self, pool: &engine::store::JackpotPool, context: &str, at: At, out: &mut Vec<Violation>) {
        let books = pool.contributed_total.checked_sub(pool.won_total);
        if books != Some(pool.amount) {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "pool {} holds {} but contributions {} − wins {} say otherwise ({context})",
                    pool.group.name(),
                    pool.amount,
                    pool.contributed_total,
                    pool.won_total
                ),
            ));
        }
        if pool.amount > self.supply {
            out.push(at.violation(
                Invariant::Jackpot,
                format!("pool {} is negative (wrapped to {})", pool.group.name(), pool.amount),
            ));
        }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (key, before, after) in view.changes {
            let Key::Jackpot(group) = key else { continue };
            let Some(after) = after else {
                out.push(
                    at.violation(Invariant::Jackpot, format!("pool {} deleted ({})", group.name(), view.txn.kind)),
                );
                continue;
            };
            let Value::Jackpot(a) = &after.value else { continue };
            self.check_pool(a, view.txn.kind.as_str(), at, out);
            let Some(before) = before else { continue };
            let Value::Jackpot(b) = &before.value else { continue };
            if after.version != before.version + 1 {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!("pool {}: version {} -> {}", group.name(), before.version, after.version),
                ));
            }
            if a.contributed_total < b.contributed_total || a.won_total < b.won_total {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!(
                        "pool {}: totals went down (contributed {} -> {}, won {} -> {}) in {}: an update was overwritten",
                        group.name(),
                        b.contributed_total,
                        a.contributed_total,
                        b.won_total,
                        a.won_total,
                        view.txn.kind
                    ),
                ));
            }
        }
    }

    pub fn at_end(&mut self, store: &MemoryStore, at: At, out: &mut Vec<Violation>) {
        store.inspect(|data| {
            for value in data.values() {
                if let Value::Jackpot(pool) = &value.value {
                    self.check_pool(pool, "end of run", at, out);
                }
            }
        });
    }
}
