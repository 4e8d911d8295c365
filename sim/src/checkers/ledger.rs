//! The per-wallet ledger: an independent model of every user's chips, so that a chip landing
//! in the wrong wallet fails the run even when the sum over all holders is intact (Jepsen's
//! bank checks every account; TigerBeetle compares every balance with an exact model).
//!
//! A user's chips are their wallet, their live reservations, their dead-letter entries, and
//! what they have put into a hand still being played (starting stack − stack at each of their
//! seats). Moving chips between those holders — reserve, commit, refund, expiry, the DLQ, a
//! reset — leaves the total where it was. Only two causes may change it: a hand the user
//! played ending (by its result for them, final stack − starting stack) and a jackpot win
//! paid to them (by what the win's record says it paid). After every transaction each user's
//! change must equal what those causes explain; at the end every user's chips are counted
//! again against the opening balance plus every cause seen.
//!
//! A hand's save (start, action, reset) writes only the wallets it moves chips in or out of: a
//! wallet rewritten with its balance unchanged moves nothing, yet raises the wallet's version,
//! so every reservation of that user in flight meets a conflict it had no reason to.

use std::collections::BTreeMap;

use engine::ids::UserId;
use engine::jackpot::WinOutcome;
use engine::rules::Chips;
use engine::store::{MemoryStore, ReservationState, TableRecord, Value, Versioned};
use serde::Deserialize;

use super::{At, Invariant, TxnView, Violation};

/// A hand's save must not rewrite a wallet whose balance it leaves as it was.
fn check_no_idle_wallet_write(view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
    for (_, before, after) in view.changes {
        let (Some(before), Some(after)) = (before, after) else { continue };
        let (Value::Wallet(was), Value::Wallet(now)) = (&before.value, &after.value) else { continue };
        if was.balance == now.balance {
            out.push(at.violation(
                Invariant::WalletLedger,
                format!(
                    "txn {} rewrote {}'s wallet without moving a chip (balance {} before and after, version {} -> {}): a hand's save writes only the wallets it moves chips of",
                    view.txn.kind, now.user, now.balance, before.version, after.version
                ),
            ));
        }
    }
}

/// The chips each user holds in one record, as this checker counts them.
fn holdings(value: &Value) -> Vec<(UserId, i128)> {
    match value {
        Value::Wallet(wallet) => vec![(wallet.user, i128::from(wallet.balance))],
        Value::Reservation(r) if r.state == ReservationState::Live => vec![(r.user, i128::from(r.amount))],
        Value::Dlq(entry) => vec![(entry.reservation.user, i128::from(entry.amount))],
        Value::Table(table) => in_play(table),
        _ => Vec::new(),
    }
}

/// What each seat of a hand still being played has put in (nothing once the hand is over).
fn in_play(table: &TableRecord) -> Vec<(UserId, i128)> {
    let Some(game) = table.game.as_ref().filter(|g| !g.complete) else { return Vec::new() };
    table
        .hand_seats
        .iter()
        .zip(&game.players)
        .map(|(user, p)| (*user, i128::from(p.starting_stack) - i128::from(p.stack)))
        .collect()
}

fn add(totals: &mut BTreeMap<UserId, i128>, entries: Vec<(UserId, i128)>, sign: i128) {
    for (user, chips) in entries {
        *totals.entry(user).or_default() += sign * chips;
    }
}

/// What each user's chips may change by in this transaction: the result of every hand that
/// ends in it, and every jackpot win it pays.
fn explained(view: &TxnView<'_>) -> BTreeMap<UserId, i128> {
    let mut causes = BTreeMap::new();
    for (_, before, after) in view.changes {
        match after.as_ref().map(|v| &v.value) {
            Some(Value::Table(table)) => {
                if let Some(game) = table.game.as_ref().filter(|g| g.complete)
                    && !already_over(before.as_ref(), table.hand_number)
                {
                    for (user, p) in table.hand_seats.iter().zip(&game.players) {
                        *causes.entry(*user).or_default() += i128::from(p.stack) - i128::from(p.starting_stack);
                    }
                }
            }
            Some(Value::Request(record)) if before.is_none() => {
                if let Ok(win) = WinOutcome::deserialize(&record.outcome)
                    && !win.duplicate
                {
                    *causes.entry(win.user).or_default() += i128::from(win.paid);
                }
            }
            _ => {}
        }
    }
    causes
}

/// Whether hand `hand_number` had already ended in the record as it was before.
fn already_over(before: Option<&Versioned>, hand_number: u64) -> bool {
    matches!(
        before.map(|v| &v.value),
        Some(Value::Table(t)) if t.hand_number == hand_number && t.game.as_ref().is_some_and(|g| g.complete)
    )
}

fn describe(changes: &[(UserId, i128, i128)]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|(user, actual, expected)| format!("{user} {actual:+} (its causes explain {expected:+})"))
        .collect();
    parts.join(", ")
}

pub struct Ledger {
    /// Each user's chips as the model has them: the opening balance plus every cause seen.
    model: BTreeMap<UserId, i128>,
}

impl Ledger {
    /// A ledger of `users`, each opening with `balance` chips.
    pub fn new(users: impl IntoIterator<Item = UserId>, balance: Chips) -> Ledger {
        Ledger { model: users.into_iter().map(|user| (user, i128::from(balance))).collect() }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        let mut actual = BTreeMap::new();
        for (_, before, after) in view.changes {
            if let Some(before) = before {
                add(&mut actual, holdings(&before.value), -1);
            }
            if let Some(after) = after {
                add(&mut actual, holdings(&after.value), 1);
            }
        }
        if view.txn.kind.is_hand_save() {
            check_no_idle_wallet_write(view, at, out);
        }
        let expected = explained(view);
        let mut wrong = Vec::new();
        for user in actual.keys().chain(expected.keys()) {
            let (got, owed) = (actual.get(user).copied().unwrap_or(0), expected.get(user).copied().unwrap_or(0));
            if got != owed && !wrong.iter().any(|(u, _, _)| u == user) {
                wrong.push((*user, got, owed));
            }
        }
        for (user, owed) in &expected {
            *self.model.entry(*user).or_default() += owed;
        }
        if !wrong.is_empty() {
            out.push(at.violation(
                Invariant::WalletLedger,
                format!("in txn {} chips moved between users: {}", view.txn.kind, describe(&wrong)),
            ));
        }
    }

    /// Counts every user's chips in the store against the model.
    pub fn at_end(&mut self, store: &MemoryStore, at: At, out: &mut Vec<Violation>) {
        let mut counted = BTreeMap::new();
        store.inspect(|data| {
            for row in data.values() {
                add(&mut counted, holdings(&row.value), 1);
            }
        });
        let mut wrong: Vec<(UserId, i128, i128)> = self
            .model
            .iter()
            .map(|(user, model)| (*user, counted.get(user).copied().unwrap_or(0), *model))
            .filter(|(_, counted, model)| counted != model)
            .collect();
        // Chips held by someone the model never opened a wallet for.
        wrong.extend(
            counted
                .iter()
                .filter(|(user, chips)| **chips != 0 && !self.model.contains_key(user))
                .map(|(u, c)| (*u, *c, 0)),
        );
        if !wrong.is_empty() {
            let parts: Vec<String> = wrong
                .iter()
                .map(|(user, counted, model)| format!("{user} holds {counted}, its ledger {model}"))
                .collect();
            out.push(at.violation(Invariant::WalletLedger, format!("at the end: {}", parts.join(", "))));
        }
    }
}
