//! Invariant 3, at most once: a request ID moves chips at most once, and each betting turn
//! takes one action.
//!
//! From the client's side of the wire ([`AtMostOnce::on_reply`]): every final answer to one
//! request ID — however many copies and retries were sent, and however late — is the same
//! answer; a different one means the request was processed again. Transient answers ("in
//! progress", lock timeout, store unavailable) are not final and may differ.
//!
//! A jackpot operation sent twice (the jackpot load's duplicates, the second copy after the
//! first's answer) whose first copy was answered with an outcome must be answered again with
//! that outcome, marked as a replay ([`AtMostOnce::on_jackpot_duplicate`]), or refused by the
//! store: anything else — a fresh outcome, a conflict, a lock timeout — means the operation
//! was not recognised as already processed. A processed jackpot operation ID sent again with
//! another payload ([`AtMostOnce::on_jackpot_reused`]) must be refused as reused.
//!
//! A request ID reused for a different action or amount ([`AtMostOnce::on_reused_reply`])
//! must be refused as such (`GameError::RequestReused`): an outcome, or any other final
//! answer, means the second payload was executed or answered as if it were the first.
//!
//! A request ID sent with two payloads at once — the second while the first is in flight —
//! may be taken for either, but for one only: each copy's final answers agree with each other
//! ([`AtMostOnce::on_racing_reply`]), and once both are final at least one of them is
//! `RequestReused` ([`AtMostOnce::on_racing_answered`]); two outcomes, or an outcome and
//! another refusal, mean the ID was processed for both payloads or one got the other's answer.
//!
//! From the store's side ([`AtMostOnce::after_txn`]): at most one reservation per request ID
//! is ever committed; a processed-request record is never rewritten with another outcome; and
//! every action save (`game.act`, `game.save`) adds exactly one action to its hand's history —
//! a save that adds none re-applied a turn that was already taken; and the dedup purge deletes
//! a processed record only once its retention is over (`keep_until_ms`, written by the engine's
//! wall clock, so judged against the store's with the most that clock can be off): a record
//! purged early lets a late copy of its request take effect again.

use std::collections::BTreeMap;

use engine::game::{ActionOutcome, GameError};
use engine::ids::RequestId;
use engine::rules::HandEvent;
use engine::store::{Key, ReservationState, Value};

use super::{At, Invariant, TxnView, Violation};
use crate::protocol::{JackpotAnswer, JackpotRefusal, JackpotRefusalCause};

#[derive(Default)]
pub struct AtMostOnce {
    committed: BTreeMap<RequestId, u32>,
    first_final: BTreeMap<RequestId, String>,
    /// The first final answer to the other payload sent under an ID while its first was in
    /// flight.
    racing_first_final: BTreeMap<RequestId, String>,
    /// The most the engine's wall clock is ever off the store's in this run, in ms.
    clock_offset_ms_max: u64,
}

fn acts(game: &engine::rules::GameState) -> usize {
    game.history.iter().filter(|e| matches!(e, HandEvent::Act { .. })).count()
}

impl AtMostOnce {
    /// A checker for a run whose engine clock is never more than `clock_offset_ms_max` off
    /// the store's.
    pub fn new(clock_offset_ms_max: u64) -> AtMostOnce {
        AtMostOnce { clock_offset_ms_max, ..AtMostOnce::default() }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (key, before, after) in view.changes {
            match (key, before.as_ref().map(|v| &v.value), after.as_ref().map(|v| &v.value)) {
                (Key::Reservation(id), before, Some(Value::Reservation(r)))
                    if r.state == ReservationState::Committed =>
                {
                    let was_committed =
                        matches!(before, Some(Value::Reservation(b)) if b.state == ReservationState::Committed);
                    if !was_committed {
                        let count = self.committed.entry(r.request).or_default();
                        *count += 1;
                        if *count > 1 {
                            out.push(at.violation(
                                Invariant::AtMostOnce,
                                format!(
                                    "{} committed a second reservation ({id}, {} chips of {}) for one request",
                                    r.request, r.amount, r.user
                                ),
                            ));
                        }
                    }
                }
                (Key::Request(id), Some(Value::Request(first)), Some(Value::Request(second)))
                    if first.outcome != second.outcome =>
                {
                    out.push(at.violation(
                        Invariant::AtMostOnce,
                        format!("{id}'s processed record rewritten: first {}, then {}", first.outcome, second.outcome),
                    ));
                }
                (Key::Request(id), Some(Value::Request(record)), None)
                    if record.keep_until_ms > view.now_ms.saturating_add(self.clock_offset_ms_max) =>
                {
                    out.push(at.violation(
                        Invariant::AtMostOnce,
                        format!(
                            "{id}'s processed record deleted at {} ms ({}), before its retention ends at {} ms \
                             (the engine clock is never more than {} ms off): a late copy would take effect again",
                            view.now_ms, view.txn.kind, record.keep_until_ms, self.clock_offset_ms_max
                        ),
                    ));
                }
                (Key::Table(table), Some(Value::Table(b)), Some(Value::Table(a)))
                    if view.txn.kind.is_action_save() && b.hand_number == a.hand_number =>
                {
                    if let (Some(bg), Some(ag)) = (&b.game, &a.game) {
                        let added = acts(ag) as i64 - acts(bg) as i64;
                        if added != 1 {
                            out.push(at.violation(
                                Invariant::AtMostOnce,
                                format!(
                                    "{table} hand {}: an action save added {added} actions to the history \
                                     (game version {} -> {}): a turn was applied twice",
                                    a.hand_number, bg.version, ag.version
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// A reply the client received for `request`. Transient answers ([`GameError::is_final`])
    /// are skipped; every final one must equal the first.
    pub fn on_reply(
        &mut self,
        request: RequestId,
        reply: &Result<ActionOutcome, GameError>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        same_final_answer(&mut self.first_final, request, reply, "", at, out);
    }

    /// A reply to the other payload sent under `request` while its first copy was in flight:
    /// like [`AtMostOnce::on_reply`], every final answer must equal that copy's first.
    pub fn on_racing_reply(
        &mut self,
        request: RequestId,
        reply: &Result<ActionOutcome, GameError>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        same_final_answer(&mut self.racing_first_final, request, reply, "'s other payload", at, out);
    }

    /// The final answers to the two payloads sent at once under `request`: the ID belongs to
    /// one of them, so at least one must be `RequestReused`.
    pub fn on_racing_answered(
        &mut self,
        request: RequestId,
        own: &Result<ActionOutcome, GameError>,
        racing: &Result<ActionOutcome, GameError>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let reused = |answer: &Result<ActionOutcome, GameError>| matches!(answer, Err(GameError::RequestReused));
        if reused(own) || reused(racing) {
            return;
        }
        let own = serde_json::to_string(own).expect("replies serialize");
        let racing = serde_json::to_string(racing).expect("replies serialize");
        out.push(at.violation(
            Invariant::AtMostOnce,
            format!(
                "{request}, sent with two payloads at once, was taken for both: answered {own} and {racing}, \
                 neither refused as reused"
            ),
        ));
    }

    /// The second copy of jackpot `operation` was answered `again`, after its first copy was
    /// answered `first`: it must replay `first` (marked a duplicate, the same chips moved) or
    /// be refused by the store.
    pub fn on_jackpot_duplicate(
        &mut self,
        operation: &str,
        first: &JackpotAnswer,
        again: &Result<JackpotAnswer, JackpotRefusal>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let replayed = match again {
            Ok(answer) => answer.duplicate() && answer.moved() == first.moved(),
            Err(refusal) => refusal.cause == JackpotRefusalCause::Store,
        };
        if !replayed {
            let again = answer_text(again);
            out.push(at.violation(
                Invariant::AtMostOnce,
                format!("jackpot {operation} was answered `{first}`, then its duplicate `{again}`, not the first outcome again"),
            ));
        }
    }

    /// Jackpot `operation`, already answered with an outcome, was sent again with another
    /// payload and answered `reused`: it must be refused as reused (or by the store).
    pub fn on_jackpot_reused(
        &mut self,
        operation: &str,
        reused: &Result<JackpotAnswer, JackpotRefusal>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let refused =
            matches!(reused, Err(r) if matches!(r.cause, JackpotRefusalCause::IdReused | JackpotRefusalCause::Store));
        if !refused {
            let answer = answer_text(reused);
            out.push(at.violation(
                Invariant::AtMostOnce,
                format!(
                    "jackpot {operation}, reused for another payload, was answered `{answer}`, not refused as reused"
                ),
            ));
        }
    }

    /// The final reply to a request ID the client reused for a different payload: anything but
    /// `RequestReused` fails.
    pub fn on_reused_reply(
        &mut self,
        request: RequestId,
        reply: &Result<ActionOutcome, GameError>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        if matches!(reply, Err(GameError::RequestReused)) || reply.as_ref().is_err_and(|error| !error.is_final()) {
            return;
        }
        let result = serde_json::to_string(reply).expect("replies serialize");
        out.push(at.violation(
            Invariant::AtMostOnce,
            format!("{request} reused for a different payload was answered {result}, not refused as reused"),
        ));
    }
}

/// Skips a transient `reply` to `request`; keeps the first final one in `first_final` and
/// fails any later final one that differs (`whose` names the copy in the message).
fn same_final_answer(
    first_final: &mut BTreeMap<RequestId, String>,
    request: RequestId,
    reply: &Result<ActionOutcome, GameError>,
    whose: &str,
    at: At,
    out: &mut Vec<Violation>,
) {
    if reply.as_ref().is_err_and(|error| !error.is_final()) {
        return;
    }
    let result = serde_json::to_string(reply).expect("replies serialize");
    match first_final.get(&request) {
        None => {
            first_final.insert(request, result);
        }
        Some(first) if *first != result => out.push(at.violation(
            Invariant::AtMostOnce,
            format!("{request}{whose} answered twice differently (processed again): first {first}, then {result}"),
        )),
        Some(_) => {}
    }
}

/// A jackpot answer as a violation quotes it.
fn answer_text(answer: &Result<JackpotAnswer, JackpotRefusal>) -> String {
    match answer {
        Ok(answer) => answer.to_string(),
        Err(refusal) => refusal.message.clone(),
    }
}
