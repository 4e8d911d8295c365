//! Invariant 1, conservation: the chips over all holders — wallets, live reservations, tables,
//! jackpot pools, the DLQ and the house — always equal the supply, which comes from the
//! scenario (Σ opening balances + the house's opening chips), not from the engine.
//!
//! After every transaction it adds up what the written records gained and lost (a running
//! total, so each check costs the transaction's size, not the store's), and at the end it
//! counts the whole store again. It also holds each table to its own books: the escrow of a
//! hand in progress is what its players put in (Σ starting stack − stack), and a finished
//! hand's escrow is empty. Holder amounts are this module's own reading of the records
//! ([`chips_in`]), kept apart from the engine's `Value::chips_held`.

use engine::rules::Chips;
use engine::store::{Key, MemoryStore, ReservationState, Value, Versioned};

use super::{At, Invariant, TxnView, Violation};

/// The chips a record holds, as the checker counts them.
pub fn chips_in(value: &Value) -> Chips {
    match value {
        Value::Wallet(wallet) => wallet.balance,
        Value::Reservation(r) => match r.state {
            ReservationState::Live => r.amount,
            // Final states say where the chips went: a wallet, a table or the DLQ.
            ReservationState::Committed
            | ReservationState::RolledBack
            | ReservationState::Expired
            | ReservationState::DeadLettered => 0,
        },
        Value::Table(table) => table.escrow,
        Value::Jackpot(pool) => pool.amount,
        Value::Dlq(entry) => entry.amount,
        Value::House(chips) => *chips,
        Value::JackpotConfig(_) | Value::Request(_) => 0,
    }
}

fn held(value: &Option<Versioned>) -> i128 {
    value.as_ref().map_or(0, |v| i128::from(chips_in(&v.value)))
}

pub struct Conservation {
    supply: Chips,
    total: i128,
    /// The wrong total last reported, so that one loss is reported once, not after every
    /// later transaction; cleared when the total is right again.
    reported_total: Option<i128>,
}

impl Conservation {
    pub fn new(supply: Chips) -> Conservation {
        Conservation { supply, total: i128::from(supply), reported_total: None }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (_, before, after) in view.changes {
            self.total += held(after) - held(before);
            if let Some(Versioned { value: Value::Table(table), .. }) = after {
                let expected = match table.game.as_ref() {
                    Some(game) if !game.complete => {
                        game.players.iter().map(|p| p.starting_stack - p.stack.min(p.starting_stack)).sum()
                    }
                    _ => 0,
                };
                if table.escrow != expected {
                    out.push(at.violation(
                        Invariant::Conservation,
                        format!(
                            "{} escrow is {} but its hand holds {expected} chips of its players (txn {})",
                            table.table, table.escrow, view.txn.kind
                        ),
                    ));
                }
            }
        }
        if self.total == i128::from(self.supply) {
            self.reported_total = None;
        } else if self.reported_total != Some(self.total) {
            self.reported_total = Some(self.total);
            out.push(at.violation(
                Invariant::Conservation,
                format!(
                    "after txn {} the holders hold {} chips, the supply is {} ({:+}); moves: {}",
                    view.txn.kind,
                    self.total,
                    self.supply,
                    self.total - i128::from(self.supply),
                    moves(view).join(", ")
                ),
            ));
        }
    }

    pub fn at_end(&mut self, store: &MemoryStore, at: At, out: &mut Vec<Violation>) {
        let (total, by_kind) = store.inspect(|data| {
            let mut by_kind = std::collections::BTreeMap::<String, Chips>::new();
            let mut total: i128 = 0;
            for (key, value) in data {
                let chips = chips_in(&value.value);
                total += i128::from(chips);
                *by_kind.entry(format!("{:?}", key.kind())).or_default() += chips;
            }
            (total, by_kind)
        });
        if total != i128::from(self.supply) {
            let parts: Vec<String> = by_kind.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out.push(at.violation(
                Invariant::Conservation,
                format!(
                    "at the end the store holds {total} chips, the supply is {}: {}",
                    self.supply,
                    parts.join(", ")
                ),
            ));
        }
    }
}

/// A holder as a report names it (`user-3`, `table-1`, `rsv-…`, `house`).
/// What each holder of `view` gained or lost, spelled only when a violation names them.
fn moves(view: &TxnView<'_>) -> Vec<String> {
    view.changes
        .iter()
        .map(|(key, before, after)| (key, held(after) - held(before)))
        .filter(|&(_, delta)| delta != 0)
        .map(|(key, delta)| format!("{} {delta:+}", holder_name(key)))
        .collect()
}

pub fn holder_name(key: &Key) -> String {
    match key {
        Key::Wallet(user) => format!("wallet {user}"),
        Key::Reservation(id) => format!("reservation {id}"),
        Key::Table(table) => format!("{table}"),
        Key::Jackpot(group) => format!("jackpot {}", group.name()),
        Key::JackpotConfig => "jackpot config".into(),
        Key::Dlq(id) => format!("{id}"),
        Key::House => "house".into(),
        Key::Request(id) => format!("{id}"),
    }
}
