//! Invariant 5, reservations: a reservation is born live, leaves `Live` once for one final
//! state (committed, rolled back, expired, dead-lettered) and never changes again, its amount
//! never changes, it is never committed after its deadline, and it is never deleted while it
//! holds chips; and only the sweeper's `wallet.expire` transaction expires one, and it expires
//! nothing else (the operators' expiry metric and audit trail read that kind). After the heal
//! phase none is left live (checked by `liveness`). A dead letter changes only by counting one
//! more redrive attempt. A refund is dead-lettered for a version conflict only after its
//! `CONFLICT_RETRIES_MAX` retries, and a request is refused for a conflicting reserve only
//! after as many: each conflicting try is judged as the engine saw it (its store link reports
//! every refusal it answered), per task (one per request) and reservation or user. The
//! operators' expiry metric counts exactly the expiries the engine saw applied, and their commit
//! counter (`poker_wallet_commit_total{status="success"}`) at least every commit of a reservation
//! a request saw applied before it answered (the commit phase ends, and counts, before the answer;
//! a design that measures its separate wallet commit too counts more).

use std::collections::BTreeMap;

use engine::game::GameError;
use engine::ids::{DlqId, ReservationId, UserId};
use engine::metrics::MetricsSnapshot;
use engine::metrics::labeled;
use engine::store::{DlqEntry, Key, ReservationState, StoreError, Txn, TxnKind, Value};
use engine::wallet::{CONFLICT_RETRIES_MAX, METRIC_COMMIT_TOTAL, METRIC_EXPIRED_TOTAL};
use tokio::task::Id as TaskId;

use super::{At, Invariant, TxnView, Violation};

#[derive(Default)]
pub struct Reservations {
    /// The version conflicts in a row each task's rollback or expiry of a reservation was
    /// answered with (0 once another refusal answered it: it then dead-letters at once).
    refund_conflicts: BTreeMap<(Option<TaskId>, ReservationId), u32>,
    /// The same for each task's reserve from a user's wallet, until it reserves or the task
    /// answers its request.
    reserve_conflicts: BTreeMap<(Option<TaskId>, UserId), u32>,
    /// The `wallet.expire` transactions the engine saw applied (what its metric must count).
    expiries_seen: u64,
    /// Reservations each task saw its own commit move to committed, until it answers.
    commits_seen: BTreeMap<Option<TaskId>, u64>,
    /// Reservation commits seen applied by requests that then answered: each was counted by
    /// the commit phase first.
    commits_owed: u64,
}

impl Reservations {
    /// A commit the engine saw applied.
    pub fn after_seen_applied(&mut self, txn: &Txn, task: Option<TaskId>) {
        if txn.kind == TxnKind::WalletExpire {
            self.expiries_seen += 1;
        }
        let committed = txn.writes.iter().filter(
            |write| matches!(&write.value, Some(Value::Reservation(r)) if r.state == ReservationState::Committed),
        );
        let committed = committed.count() as u64;
        if committed > 0 {
            *self.commits_seen.entry(task).or_default() += committed;
        }
    }

    /// At the end: `poker_wallet_expired_total` counted every expiry the engine saw applied,
    /// and nothing else (a rollback is not an expiry).
    pub fn at_end(&self, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
        let successes = metrics.counter(&labeled(METRIC_COMMIT_TOTAL, &[("status", "success")]));
        if successes < self.commits_owed {
            out.push(at.violation(
                Invariant::Reservations,
                format!(
                    "{METRIC_COMMIT_TOTAL} counts {successes} successful commit(s), but requests that answered saw {} \
                     reservation(s) committed",
                    self.commits_owed
                ),
            ));
        }
        let counted = metrics.counter(METRIC_EXPIRED_TOTAL);
        if counted != self.expiries_seen {
            out.push(at.violation(
                Invariant::Reservations,
                format!(
                    "{METRIC_EXPIRED_TOTAL} is {counted}, but the engine saw {} wallet.expire transaction(s) applied",
                    self.expiries_seen
                ),
            ));
        }
    }

    /// A commit refused as the engine saw it (by the store, or failed on the link).
    pub fn after_refused(&mut self, txn: &Txn, error: &StoreError, task: Option<TaskId>) {
        let conflicts = match txn.kind {
            TxnKind::WalletRollback | TxnKind::WalletExpire => {
                let Some(id) = reservation_of(txn) else { return };
                self.refund_conflicts.entry((task, id)).or_default()
            }
            TxnKind::WalletReserve => {
                let Some(user) = wallet_of(txn) else { return };
                self.reserve_conflicts.entry((task, user)).or_default()
            }
            _ => return,
        };
        match error {
            StoreError::Conflict { .. } => *conflicts += 1,
            _ => *conflicts = 0,
        }
    }

    /// The engine answered the request `task` served, with `error` if it refused it: a
    /// refusal for a version conflict on a wallet whose reserve met fewer conflicts than its
    /// retries gave up early.
    pub fn after_answer(&mut self, task: Option<TaskId>, error: Option<&GameError>, at: At, out: &mut Vec<Violation>) {
        self.commits_owed += self.commits_seen.remove(&task).unwrap_or(0);
        let conflicted = match error.map(root_cause) {
            Some(GameError::Store(StoreError::Conflict { key: Key::Wallet(user), .. })) => Some(*user),
            _ => None,
        };
        self.reserve_conflicts.retain(|&(of, user), &mut conflicts| {
            if of != task {
                return true;
            }
            if conflicted == Some(user) && (1..=CONFLICT_RETRIES_MAX).contains(&conflicts) {
                out.push(at.violation(
                    Invariant::Reservations,
                    format!(
                        "a request was refused for a conflict after its reserve from {user} met {conflicts} version conflict(s): the wallet retries a conflicting reserve {CONFLICT_RETRIES_MAX} times first"
                    ),
                ));
            }
            false
        });
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        self.refund_retried(view, task, at, out);
        if view.txn.kind == TxnKind::WalletReserve
            && let Some(user) = wallet_of(view.txn)
        {
            self.reserve_conflicts.remove(&(task, user));
        }
        for (key, before, after) in view.changes {
            let (before, after) = (before.as_ref().map(|v| &v.value), after.as_ref().map(|v| &v.value));
            match key {
                Key::Reservation(id) => reservation_change(*id, before, after, view, at, out),
                Key::Dlq(id) => dead_letter_rewrite(*id, before, after, view, at, out),
                _ => {}
            }
        }
    }
}

impl Reservations {
    /// A refund's end: refunded, or dead-lettered after as many conflicts as its policy
    /// retries (or after another failure, which dead-letters at once).
    fn refund_retried(&mut self, view: &TxnView<'_>, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        let kind = view.txn.kind;
        if !matches!(kind, TxnKind::WalletRollback | TxnKind::WalletExpire | TxnKind::WalletDeadLetter) {
            return;
        }
        let Some(id) = reservation_of(view.txn) else { return };
        let conflicts = self.refund_conflicts.remove(&(task, id)).unwrap_or(0);
        if kind == TxnKind::WalletDeadLetter && (1..=CONFLICT_RETRIES_MAX).contains(&conflicts) {
            out.push(at.violation(
                Invariant::Reservations,
                format!(
                    "{id} dead-lettered after {conflicts} version conflict(s) of its refund: the wallet retries a conflicting refund {CONFLICT_RETRIES_MAX} times first"
                ),
            ));
        }
    }
}

/// The first key of `txn`'s writes that `pick` accepts: the reservation a refund or dead
/// letter writes, the wallet a reserve debits.
fn written<T>(txn: &Txn, pick: impl Fn(Key) -> Option<T>) -> Option<T> {
    txn.writes.iter().find_map(|write| pick(write.key))
}

/// The reservation a refund or dead-letter transaction writes.
fn reservation_of(txn: &Txn) -> Option<ReservationId> {
    written(txn, |key| if let Key::Reservation(id) = key { Some(id) } else { None })
}

/// The wallet a reserve transaction debits.
fn wallet_of(txn: &Txn) -> Option<UserId> {
    written(txn, |key| if let Key::Wallet(user) = key { Some(user) } else { None })
}

/// The error under an answer that could not be recorded (its `Unrecorded` wrappers).
pub(super) fn root_cause(error: &GameError) -> &GameError {
    match error {
        GameError::Unrecorded { error, .. } => root_cause(error),
        other => other,
    }
}

/// One reservation's change: its lifecycle, its amount and owner, its deadline.
fn reservation_change(
    id: ReservationId,
    before: Option<&Value>,
    after: Option<&Value>,
    view: &TxnView<'_>,
    at: At,
    out: &mut Vec<Violation>,
) {
    let label = &view.txn.kind;
    match (before, after) {
        (None, Some(Value::Reservation(r))) if r.state != ReservationState::Live => out.push(
            at.violation(Invariant::Reservations, format!("{id} created {:?} instead of live ({label})", r.state)),
        ),
        (Some(Value::Reservation(b)), Some(Value::Reservation(a))) => {
            if b.state.is_final() && a != b {
                out.push(at.violation(
                    Invariant::Reservations,
                    format!("{id} of {} changed after it was final: {:?} -> {:?} ({label})", b.user, b.state, a.state),
                ));
            }
            let expired = a.state == ReservationState::Expired;
            if b.state == ReservationState::Live && a.state != b.state && expired != (*label == TxnKind::WalletExpire) {
                out.push(at.violation(
                    Invariant::Reservations,
                    format!("{id} of {} went live -> {:?} in a {label} transaction: only wallet.expire expires, and it only expires", a.user, a.state),
                ));
            }
            if a.amount != b.amount || a.user != b.user || a.request != b.request {
                out.push(at.violation(Invariant::Reservations, format!("{id}: amount or owner rewritten ({label})")));
            }
            if b.state == ReservationState::Live
                && a.state == ReservationState::Committed
                && view.now_ms > a.deadline_ms
            {
                out.push(at.violation(
                    Invariant::Reservations,
                    format!(
                        "{id} of {} ({} chips) committed at {} ms, after its deadline {} ms ({label})",
                        a.user, a.amount, view.now_ms, a.deadline_ms
                    ),
                ));
            }
        }
        (Some(Value::Reservation(b)), None) if b.state == ReservationState::Live => out.push(at.violation(
            Invariant::Reservations,
            format!("live {id} of {} ({} chips) deleted ({label})", b.user, b.amount),
        )),
        (_, Some(other)) if !matches!(other, Value::Reservation(_)) => {
            out.push(at.violation(Invariant::Reservations, format!("{id} key holds a {other:?} ({label})")))
        }
        _ => {}
    }
}

/// A dead letter, once written, changes only by counting one more redrive attempt, in a
/// `wallet.dlq_attempt` transaction (the operators read the count to decide what to redrive by
/// hand); it leaves only by its refund.
fn dead_letter_rewrite(
    id: DlqId,
    before: Option<&Value>,
    after: Option<&Value>,
    view: &TxnView<'_>,
    at: At,
    out: &mut Vec<Violation>,
) {
    let (Some(Value::Dlq(b)), Some(Value::Dlq(a))) = (before, after) else { return };
    let counted = DlqEntry { attempts: b.attempts + 1, ..b.clone() };
    if view.txn.kind != TxnKind::WalletDlqAttempt || *a != counted {
        out.push(at.violation(
            Invariant::Reservations,
            format!(
                "{id} rewritten other than by one more attempt: attempts {} -> {}, amount {} -> {} ({})",
                b.attempts, a.attempts, b.amount, a.amount, view.txn.kind
            ),
        ));
    }
}
