//! Invariant 5, reservations: a reservation is born live, leaves `Live` once for one final
//! state (committed, rolled back, expired, dead-lettered) and never changes again, its amount
//! never changes, it is never committed after its deadline, and it is never deleted while it
//! holds chips; and only the sweeper's `wallet.expire` transaction expires one, and it expires
//! nothing else (the operators' expiry metric and audit trail read that kind). After the heal
//! phase none is left live (checked by `liveness`). A dead letter changes only by counting one
//! more redrive attempt. A refund is dead-lettered for a version conflict only after its
//! `CONFLICT_RETRIES_MAX` retries: each conflicting try is judged as the engine saw it (its
//! store link reports every refusal it answered), per task and reservation.

use std::collections::BTreeMap;

use engine::ids::{DlqId, ReservationId};
use engine::store::{DlqEntry, Key, ReservationState, StoreError, Txn, TxnKind, Value};
use engine::wallet::CONFLICT_RETRIES_MAX;
use tokio::task::Id as TaskId;

use super::{At, Invariant, TxnView, Violation};

#[derive(Default)]
pub struct Reservations {
    /// The version conflicts in a row each task's rollback or expiry of a reservation was
    /// answered with (0 once another refusal answered it: it then dead-letters at once).
    refund_conflicts: BTreeMap<(Option<TaskId>, ReservationId), u32>,
}

impl Reservations {
    /// A commit refused as the engine saw it (by the store, or failed on the link).
    pub fn after_refused(&mut self, txn: &Txn, error: &StoreError, task: Option<TaskId>) {
        if !matches!(txn.kind, TxnKind::WalletRollback | TxnKind::WalletExpire) {
            return;
        }
        let Some(id) = reservation_of(txn) else { return };
        let conflicts = self.refund_conflicts.entry((task, id)).or_default();
        match error {
            StoreError::Conflict { .. } => *conflicts += 1,
            _ => *conflicts = 0,
        }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        self.refund_retried(view, task, at, out);
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

/// The reservation a refund or dead-letter transaction writes.
fn reservation_of(txn: &Txn) -> Option<ReservationId> {
    txn.writes.iter().find_map(|write| match write.key {
        Key::Reservation(id) => Some(id),
        _ => None,
    })
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
