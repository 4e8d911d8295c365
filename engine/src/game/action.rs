//! The betting handler, hardened: dedup → size the bet from a read → reserve (outside the
//! table lock) → lock → reload, revalidate, and one store transaction that commits the
//! reservation, saves the new state with a version check, settles wallets and records the
//! request → release → the work after a hand. A hand that completes inside an action is
//! finalized in that same transaction (payouts, rake to the house); only the chat
//! announcements and the jackpot contribution run after the lock is released.
//!
//! The steps where the historical designs differ are [`Design`] hooks; this file never asks
//! which design runs.

use std::sync::Arc;

use tokio::time::Instant;

use super::design::Escrowed;
use super::{
    ActionOutcome, ActionRequest, GameEngine, GameError, LockStrategy, METRIC_ACTION_DURATION, METRIC_ACTIONS_TOTAL,
    table_of,
};
use crate::buggify::{FaultPoint, Probe};
use crate::dedup::{Admission, DedupError, Ticket, payload_hash};
use crate::locks::{LockCategory, LockGuard, LockKey, LockMode, LockOwner};
use crate::rules::{Applied, Chips};
use crate::store::{Key, StoreError, Txn, Value, Versioned};

#[cfg(doc)]
use super::design::Design;

/// Times the commit phase of an action that reserved chips, under the operators' name
/// (`poker_wallet_operation_duration_seconds{operation="commit"}`).
struct CommitTimer {
    started: Instant,
    reserved: bool,
}

impl CommitTimer {
    /// Records the phase as ended now (it takes the timer: a phase ends once).
    fn stop(self, wallet: &crate::wallet::WalletService, status: &str) {
        if self.reserved {
            wallet.record_commit(status, self.started.elapsed());
        }
    }
}

/// A saved action: its outcome, the hand's rake (if it completed) and the board's size.
struct Committed {
    outcome: ActionOutcome,
    rake: Chips,
    board_cards: usize,
}

/// What the deduplicator made of a request.
enum Admitted {
    /// Process it (the ticket records its outcome; none when the design does not dedup).
    Proceed(Ticket),
    /// Answer at once: the first outcome of a duplicate, or why it cannot be admitted.
    Answer(Result<ActionOutcome, GameError>),
}

impl GameEngine {
    /// A player action through the betting handler.
    pub async fn act(&self, request: ActionRequest) -> Result<ActionOutcome, GameError> {
        let started = Instant::now();
        let result = self.act_inner(request).await;
        let status = match &result {
            Ok(_) => "success",
            Err(GameError::VersionConflict) => "conflict",
            Err(GameError::Lock(_)) => "lock_timeout",
            Err(_) => "rejected",
        };
        self.metrics.increment(METRIC_ACTIONS_TOTAL, &[("status", status)]);
        self.metrics.record(METRIC_ACTION_DURATION, &[], started.elapsed());
        result
    }

    async fn act_inner(&self, request: ActionRequest) -> Result<ActionOutcome, GameError> {
        let ticket = match self.admit(&request).await {
            Admitted::Proceed(ticket) => ticket,
            Admitted::Answer(answer) => return answer,
        };
        // Size the bet from a read outside the lock; it is checked again inside.
        let read = self.read_table(request.table).await?;
        let chips = match self.validate(&request, &read) {
            Ok((_, chips)) => chips,
            Err(error) => return self.finish_with_error(ticket, error).await,
        };
        let escrowed = match self.design.escrow(self, &request, chips).await {
            Ok(escrowed) => escrowed,
            Err(error) => return self.finish_with_error(ticket, error).await,
        };
        self.buggify().pause(FaultPoint::ReserveBeforeLock).await;
        let owner = self.locks.owner("game.act");
        let guards = self.design.exclude(self, &owner, &request, &escrowed).await?;
        let commit = CommitTimer { started: Instant::now(), reserved: matches!(escrowed, Escrowed::Reserved(_)) };
        let result = self.commit_action(&request, &ticket, &escrowed, chips).await;
        // Release before any chat or jackpot work. (An explicit release: a guard moved in one
        // branch only would live to the end of this function, through the chat announcements
        // — a bug the simulator's lock-hold histogram found.)
        let held = self.design.release(guards);
        let status = if result.is_ok() { "success" } else { "error" };
        // The commit phase runs from taking the lock to giving it back (the 2PC notes): now, or
        // — for a design that keeps its locks through the work after the hand — when they go.
        let running = if held.is_empty() {
            commit.stop(&self.wallet, status);
            None
        } else {
            Some(commit)
        };
        let outcome = match result {
            Ok(committed) => self.acted(&request, ticket, committed).await,
            Err(error) => {
                self.abort(&request, &escrowed).await;
                if error == GameError::VersionConflict && matches!(escrowed, Escrowed::Reserved(_)) {
                    self.buggify().probe(Probe::VersionConflictCompensated);
                }
                if error == GameError::Store(StoreError::TimedOut) {
                    // Outcome unknown: record nothing (a retry finds the durable record if it
                    // applied); the copies waiting on the ticket wake once the locks are gone.
                    Err(error)
                } else {
                    self.finish_with_error(ticket, error).await
                }
            }
        };
        drop(held);
        if let Some(commit) = running {
            commit.stop(&self.wallet, status);
        }
        outcome
    }

    /// Admits the request: new, a duplicate answered with its first outcome, or refused.
    async fn admit(&self, request: &ActionRequest) -> Admitted {
        let answer = match self.dedup.admit(request.request, request.user, payload_hash(request), true).await {
            Ok(Admission::New(ticket)) => return Admitted::Proceed(ticket),
            Ok(Admission::Duplicate(first)) => serde_json::from_value::<Result<ActionOutcome, GameError>>(first)
                .expect("invariant dedup_outcome_decodes"),
            Ok(Admission::InProgress) => Err(GameError::InProgress),
            Err(DedupError::PayloadMismatch { .. }) => Err(GameError::RequestReused),
            Err(DedupError::Store(error)) => Err(error.into()),
        };
        Admitted::Answer(answer)
    }

    /// After the save applied: the outcome released to waiting copies, and the work after the
    /// action (the hand's, or the turn's chat).
    async fn acted(
        &self,
        request: &ActionRequest,
        ticket: Ticket,
        committed: Committed,
    ) -> Result<ActionOutcome, GameError> {
        let Committed { outcome, rake, board_cards } = committed;
        let value = serde_json::to_value(Ok::<_, GameError>(outcome)).expect("outcomes serialize");
        self.dedup.finish(ticket, &value);
        if outcome.hand_complete {
            self.after_hand(request.table, request.hand_number, true, rake).await;
        } else {
            self.after_turn(request.table, request.hand_number, board_cards).await;
        }
        Ok(outcome)
    }

    /// After the critical section failed: the compensation.
    async fn abort(&self, request: &ActionRequest, escrowed: &Escrowed) {
        self.design.after_failed_action(self, request.table).await;
        self.design.compensate(self, request, escrowed).await;
    }

    /// Records a failed request's error so duplicates get the same answer, and answers it —
    /// as final only once it is durable. Unrecorded, the error is answered as not final
    /// (`GameError::Unrecorded`): the copy that waits behind this one will run the request
    /// again, and the client must not take this answer as its outcome. (Found by the
    /// simulator: a "version conflict, refunded" answered final while a waiting copy then
    /// applied the same action.)
    async fn finish_with_error(&self, ticket: Ticket, error: GameError) -> Result<ActionOutcome, GameError> {
        let value = serde_json::to_value(Err::<ActionOutcome, _>(error.clone())).expect("errors serialize");
        match self.dedup.record_alone(ticket, &value).await {
            Ok(standing) if standing == value => Err(error),
            Ok(first) => serde_json::from_value::<Result<ActionOutcome, GameError>>(first)
                .expect("invariant dedup_outcome_decodes"),
            Err(record_error) => {
                tracing::debug!(%record_error, "could not record a failed request; answered as not final");
                Err(GameError::Unrecorded { error: Box::new(error), reason: record_error.to_string() })
            }
        }
    }

    /// Checks the request against a table read: hand, identity, turn, legality. Returns the
    /// player's position and the chips the action puts in.
    fn validate(&self, request: &ActionRequest, read: &Versioned) -> Result<(usize, Chips), GameError> {
        let record = table_of(read);
        let game = record.game.as_ref().filter(|g| !g.complete).ok_or(GameError::NoHand { table: request.table })?;
        if request.hand_number != record.hand_number {
            return Err(GameError::StaleHand { requested: request.hand_number, current: record.hand_number });
        }
        let position = record
            .hand_seats
            .iter()
            .position(|&u| u == request.user)
            .ok_or(GameError::NotSeated { user: request.user, table: request.table })?;
        if game.actor() != Some(position) {
            return Err(GameError::NotYourTurn { user: request.user });
        }
        let mut trial = game.clone();
        let before = trial.players[position].stack;
        let applied = trial.apply(position, request.action).map_err(GameError::Illegal)?;
        let chips = match applied {
            Applied::Fold => 0,
            Applied::CheckOrCall { amount } => amount,
            Applied::RaiseTo { to } => to - game.players[position].bet,
        };
        debug_assert!(chips <= before);
        Ok((position, chips))
    }

    /// The locks of one action under the engine's lock strategy, in hierarchy order.
    pub(super) async fn action_locks(
        &self,
        owner: &LockOwner,
        request: &ActionRequest,
    ) -> Result<Vec<LockGuard>, GameError> {
        let mut guards = Vec::new();
        for (key, mode) in self.action_lock_keys(request) {
            guards.push(owner.acquire(key, mode).await?);
        }
        Ok(guards)
    }

    /// The keys (and modes) of one action's locks under the engine's lock strategy, in
    /// hierarchy order.
    pub(super) fn action_lock_keys(&self, request: &ActionRequest) -> Vec<(LockKey, LockMode)> {
        let name = request.table.to_string();
        match self.config.lock_strategy {
            LockStrategy::Coarse => vec![(LockKey::new(LockCategory::Table, name), LockMode::Write)],
            LockStrategy::Fine => vec![
                (LockKey::new(LockCategory::Table, name.clone()), LockMode::Read),
                (LockKey::new(LockCategory::BettingRound, name.clone()), LockMode::Write),
                (LockKey::new(LockCategory::Pot, name.clone()), LockMode::Write),
                (LockKey::new(LockCategory::Player, format!("{name}/{}", request.user)), LockMode::Write),
            ],
        }
    }

    /// Inside the lock: reload, revalidate, and save the action with its settlement in one
    /// transaction.
    async fn commit_action(
        &self,
        request: &ActionRequest,
        ticket: &Ticket,
        escrowed: &Escrowed,
        reserved: Chips,
    ) -> Result<Committed, GameError> {
        let read = self.read_table(request.table).await?;
        let (position, chips) = self.validate(request, &read)?;
        if chips != reserved {
            return Err(GameError::StaleAction);
        }
        let record = table_of(&read);
        let mut next = record.clone();
        self.design.on_save(&mut next);
        let game = next.game.as_mut().expect("validated");
        let before: Vec<Chips> = game.players.iter().map(|p| p.stack).collect();
        let applied = game.apply(position, request.action).map_err(GameError::Illegal)?;
        self.design.after_apply(game);
        let after: Vec<Chips> = game.players.iter().map(|p| p.stack).collect();
        let hand_complete = game.complete;
        let (rake, board_cards) = (game.rake, game.board.len());
        next.escrow = game.chips_supply() - after.iter().sum::<Chips>();

        let guard = self.design.save_guard();
        let mut txn = Txn::new(self.design.action_save_kind()).guard(Key::Table(request.table), Some(&read), guard);
        if let Escrowed::Reserved(reservation) = escrowed {
            txn = self.design.commit_reservation(self, txn, reservation).await?;
        }
        // Chips coming back to players (uncalled bets, pots) go to their wallets now; the
        // actor's own chips are already out of the wallet.
        for p in 0..record.hand_seats.len() {
            let put_in = if p == position { chips } else { 0 };
            let credit = (after[p] + put_in).checked_sub(before[p]).expect("invariant stacks_only_grow_for_others");
            if credit > 0 {
                let payee = self.design.payee(&record.hand_seats, p);
                txn = txn.merge(self.wallet.credit_txn(payee, credit, guard).await?);
            }
        }
        txn = self.settle_if_complete(txn, &mut next).await?;
        let outcome = ActionOutcome { applied, chips, table_version: read.version + 1, hand_complete };
        txn = txn.put(Key::Table(request.table), Value::Table(Arc::new(next)));
        let recorded = serde_json::to_value(Ok::<_, GameError>(outcome)).expect("outcomes serialize");
        txn = txn.merge(self.dedup.record_txn(ticket, &recorded));
        self.buggify().point(FaultPoint::CommitBeforeSave).await?;
        match self.store.commit(txn).await {
            Ok(_) => Ok(Committed { outcome, rake, board_cards }),
            Err(error @ StoreError::DeadlinePassed { .. }) => {
                self.buggify().probe(Probe::CommitRefusedAfterDeadline);
                Err(error.into())
            }
            Err(StoreError::Conflict { key: Key::Table(_), .. }) => Err(GameError::VersionConflict),
            Err(StoreError::Conflict { .. }) => Err(GameError::StaleAction),
            Err(error) => Err(error.into()),
        }
    }
}
