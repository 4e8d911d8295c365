//! Reads: every answer that states a wallet balance states one the wallet really
//! held while the request was in flight — Jepsen's read check, against the store's own history.
//!
//! The checker keeps, per user, every balance the wallet record took and where in the run it
//! took it (from every applied transaction; the opening balance first). An answer to a request
//! may state the balance the wallet held when the request was first sent or any balance it
//! took up to the answer's arrival: the engine read it at some moment in between. "When" is a
//! position in the run's trace, not a clock: hosts' clocks agree only to within a tick, but
//! the simulation is one thread and the trace records events in the order they happened.
//! Two answers state a balance:
//!
//! - a balance read (`Request::Balance`): the balance itself;
//! - an action refused for insufficient funds: the balance the refusal was judged on, which
//!   must also be below the amount asked — a refusal the stated balance does not justify is an
//!   over-refusal (the player was denied a bet the wallet covered). A request ID's answer is
//!   recorded once and repeated to every later copy, so its window opens at the first copy
//!   of the ID anyone sent.
//!
//! No answer refuses a user as having no wallet (`UnknownUser`) when that user's wallet opened
//! with the run, and no `/start` is refused as lacking two seated players with chips
//! (`NotEnoughPlayers`) while two of the table's seated players held chips the whole time it
//! was being served (the engine read their wallets at some moment in between).
//!
//! It never reads the store itself; it only compares answers with the history it was shown.

use std::collections::{BTreeMap, BTreeSet};

use engine::game::GameError;
use engine::ids::{RequestId, TableId, UserId};
use engine::rules::Chips;
use engine::store::{Key, Value};
use engine::wallet::WalletError;

use super::{At, Invariant, TxnView, Violation};

/// Balances a violation message lists at most.
const BALANCES_SHOWN_MAX: usize = 6;

/// One balance a wallet took: at which trace event, at what simulated time, how many chips.
#[derive(Clone, Copy, Debug)]
struct Held {
    trace_index: u64,
    at_us: u64,
    balance: Chips,
}

/// Every balance each wallet held, in trace order, and where each action request ID was
/// first sent.
pub struct Reads {
    held: BTreeMap<UserId, Vec<Held>>,
    first_sent: BTreeMap<RequestId, u64>,
    /// Each table's seated players (the layout's; players never leave).
    seats: BTreeMap<TableId, BTreeSet<UserId>>,
}

impl Reads {
    /// Every user opens with `balance` chips, before the run's first event.
    pub fn new(
        users: impl IntoIterator<Item = UserId>,
        balance: Chips,
        seats: BTreeMap<TableId, BTreeSet<UserId>>,
    ) -> Reads {
        let opening = Held { trace_index: 0, at_us: 0, balance };
        let held = users.into_iter().map(|user| (user, vec![opening])).collect();
        Reads { held, first_sent: BTreeMap::new(), seats }
    }

    /// A `/start` of `table`, received when the trace held `received_len` events, refused as
    /// lacking two seated players with chips: wrong if two seated players held chips all along.
    pub fn on_start_refused_for_players(&self, table: TableId, received_len: u64, at: At, out: &mut Vec<Violation>) {
        let seated = self.seats.get(&table).into_iter().flatten();
        let funded: Vec<UserId> = seated
            .filter(|user| {
                let held = self.held_between(**user, received_len, at.trace_index);
                !held.is_empty() && held.iter().all(|h| h.balance > 0)
            })
            .copied()
            .collect();
        if funded.len() >= 2 {
            let names: Vec<String> = funded.iter().map(ToString::to_string).collect();
            out.push(at.violation(
                Invariant::Reads,
                format!(
                    "a /start of {table} was refused as lacking two seated players with chips, while {} held chips throughout",
                    names.join(", ")
                ),
            ));
        }
    }

    /// A client starts sending action `request` when the trace holds `sent_len` events.
    pub fn on_send(&mut self, request: RequestId, sent_len: u64) {
        self.first_sent.entry(request).or_insert(sent_len);
    }

    /// Records every balance a wallet takes in this transaction.
    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At) {
        for (key, _, after) in view.changes {
            if let (Key::Wallet(user), Some(Value::Wallet(wallet))) = (key, after.as_ref().map(|v| &v.value)) {
                let history = self.held.entry(*user).or_default();
                let in_order = history.last().is_none_or(|last| last.trace_index <= at.trace_index);
                assert!(in_order, "reads: a wallet's history out of trace order");
                history.push(Held { trace_index: at.trace_index, at_us: at.at_us, balance: wallet.balance });
            }
        }
    }

    /// What `user`'s wallet held from the request, first sent when the trace held `sent_len`
    /// events, to its answer (at trace event `answered_index`): the balance it held at the
    /// send and every one it took after.
    fn held_between(&self, user: UserId, sent_len: u64, answered_index: u64) -> &[Held] {
        let Some(history) = self.held.get(&user) else { return &[] };
        let first = history.partition_point(|h| h.trace_index < sent_len).saturating_sub(1);
        let end = history.partition_point(|h| h.trace_index <= answered_index);
        &history[first..end.max(first)]
    }

    /// The answer to `user`'s balance read, first sent when the trace held `sent_len` events.
    pub fn on_balance(
        &self,
        user: UserId,
        sent_len: u64,
        reply: &Result<Chips, GameError>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        match reply {
            Ok(balance) => self.stated(user, sent_len, *balance, "a balance read answered", at, out),
            // Players ask only about the table they sit at, and players never leave it.
            Err(GameError::NotSeated { table, .. }) => out.push(at.violation(
                Invariant::Reads,
                format!("{user} asked its balance at {table}, where it sits, and was refused as not seated"),
            )),
            Err(error) => self.on_refusal(user, sent_len, error, at, out),
        }
    }

    /// An error answered to `user`'s action `request`: a refusal for insufficient funds must
    /// be justified by a balance the wallet held since the ID was first sent.
    pub fn on_action_refused(
        &self,
        user: UserId,
        request: RequestId,
        error: &GameError,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let sent_len = self.first_sent.get(&request).copied().unwrap_or(0);
        self.on_refusal(user, sent_len, error, at, out);
    }

    fn on_refusal(&self, user: UserId, sent_len: u64, error: &GameError, at: At, out: &mut Vec<Violation>) {
        if let GameError::Wallet(WalletError::UnknownUser { user: unknown }) = error
            && self.held.contains_key(unknown)
        {
            out.push(at.violation(
                Invariant::Reads,
                format!("{user} was refused as {unknown} having no wallet, but {unknown} opened one with the run"),
            ));
        }
        let GameError::Wallet(WalletError::InsufficientFunds { balance, amount }) = error else { return };
        if balance >= amount {
            out.push(at.violation(
                Invariant::Reads,
                format!(
                    "{user} was refused {amount} chips for insufficient funds on a balance of {balance}, \
                     which covers them (an over-refusal)"
                ),
            ));
        }
        self.stated(user, sent_len, *balance, "an insufficient-funds refusal stated", at, out);
    }

    fn stated(&self, user: UserId, sent_len: u64, balance: Chips, what: &str, at: At, out: &mut Vec<Violation>) {
        let held = self.held_between(user, sent_len, at.trace_index);
        if held.iter().any(|h| h.balance == balance) {
            return;
        }
        let shown: Vec<String> = held
            .iter()
            .take(BALANCES_SHOWN_MAX)
            .map(|h| format!("{} (#{}, {:.3} s)", h.balance, h.trace_index, h.at_us as f64 / 1e6))
            .collect();
        let more = if held.len() > BALANCES_SHOWN_MAX { ", …" } else { "" };
        out.push(at.violation(
            Invariant::Reads,
            format!(
                "{what} {balance} chips for {user}'s wallet, which held only [{}{more}] from the request \
                 (sent after trace #{}) to its answer",
                shown.join(", "),
                sent_len.saturating_sub(1)
            ),
        ));
    }
}
