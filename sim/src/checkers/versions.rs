//! Invariant 4, versions: each save raises a record's store version by exactly one, a table's
//! hand number never goes back, a hand's game version never goes back, and no acknowledged
//! action is lost — a save of the same hand must extend the stored history, never replace
//! it with one that misses an action saved before (the lost update of an unguarded write) —
//! and no engine save changes what another writer owns at a table (its spectators); an
//! action's recorded outcome states the table version its save wrote. A reset
//! the engine acknowledged saved its table: its `game.reset` was applied, as the engine saw
//! it, in the task that answered — and was asked by an admin, or by a player who sits at that
//! table (the client sends some `/reset`s from players of other tables); one refused for a version conflict retried its save
//! `RESET_CONFLICT_RETRIES_MAX` times first, and no reset retries more; one refused as not an
//! admin's was an emergency reset by someone who is not an admin (a player's own `/reset` asks
//! for no such right); one refused as not seated was a player's own `/reset` of a table the
//! player does not sit at (the emergency reset and the admin need no seat).

use std::collections::{BTreeMap, BTreeSet};

use engine::game::{ActionOutcome, GameError, RESET_CONFLICT_RETRIES_MAX};
use engine::ids::{TableId, UserId};
use engine::store::{Key, StoreError, Txn, TxnKind, Value, Versioned};
use serde::Deserialize;
use tokio::task::Id as TaskId;

use crate::layout::{is_admin, is_spectator};
use crate::protocol::{Asked, Reply};

use super::reservations::root_cause;
use super::{At, Invariant, TxnView, Violation};

pub struct Versions {
    /// Each table's seated players (the layout's; players never leave).
    seats: BTreeMap<TableId, BTreeSet<UserId>>,
    /// The tasks whose `game.reset` the engine saw applied, until they answer.
    resets_saved: BTreeSet<Option<TaskId>>,
    /// The version conflicts each task's `game.reset` met, as the engine saw them, until it
    /// answers.
    reset_conflicts: BTreeMap<Option<TaskId>, u32>,
}

impl Versions {
    pub fn new(seats: BTreeMap<TableId, BTreeSet<UserId>>) -> Versions {
        Versions { seats, resets_saved: BTreeSet::new(), reset_conflicts: BTreeMap::new() }
    }

    /// A commit the engine saw applied, in `task`.
    pub fn after_seen_applied(&mut self, txn: &Txn, task: Option<TaskId>) {
        if txn.kind == TxnKind::GameReset {
            self.resets_saved.insert(task);
        }
    }

    /// A commit refused as the engine saw it, in `task`.
    pub fn after_refused(&mut self, txn: &Txn, error: &StoreError, task: Option<TaskId>) {
        if txn.kind == TxnKind::GameReset && matches!(error, StoreError::Conflict { .. }) {
            *self.reset_conflicts.entry(task).or_default() += 1;
        }
    }

    /// The engine answered the request `task` served, which `asked`: an acknowledged reset
    /// must have saved and have been asked by an admin, or by a player seated there as a
    /// `/reset` (not the emergency reset), a reset's conflicts must match its retry policy, and a refusal as not
    /// an admin's or not seated must be true of the request.
    pub fn after_answer(
        &mut self,
        task: Option<TaskId>,
        asked: Asked,
        reply: &Reply,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        if let Reply::Reset(Err(error)) = reply {
            check_not_admin(asked, root_cause(error), at, out);
            self.check_not_seated(asked, root_cause(error), at, out);
        }
        if let (Reply::Reset(Ok(())), Asked::Reset { user, table, emergency }) = (reply, asked)
            && !is_admin(user)
            && (emergency || !self.seats.get(&table).is_some_and(|seats| seats.contains(&user)))
        {
            let (asked_as, lacking) =
                if emergency { ("an emergency reset", "is no admin") } else { ("a /reset", "does not sit there") };
            out.push(at.violation(
                Invariant::Versions,
                format!("{asked_as} of {table} by {user}, who {lacking}, was carried out"),
            ));
        }
        let saved = self.resets_saved.remove(&task);
        if matches!(reply, Reply::Reset(Ok(()))) && !saved {
            out.push(at.violation(
                Invariant::Versions,
                "a reset was acknowledged, but the engine saw no game.reset of its applied".to_string(),
            ));
        }
        let conflicts = self.reset_conflicts.remove(&task).unwrap_or(0);
        let tries_max = RESET_CONFLICT_RETRIES_MAX + 1;
        if conflicts > tries_max {
            out.push(at.violation(
                Invariant::Versions,
                format!(
                    "a reset met {conflicts} version conflicts: it retries a conflicting save only {RESET_CONFLICT_RETRIES_MAX} time(s)"
                ),
            ));
        }
        let refused_for_conflict = matches!(
            reply,
            Reply::Reset(Err(error)) if matches!(root_cause(error), GameError::Store(StoreError::Conflict { .. }))
        );
        if refused_for_conflict && (1..tries_max).contains(&conflicts) {
            out.push(at.violation(
                Invariant::Versions,
                format!(
                    "a reset was refused for a conflict after {conflicts} version conflict(s) of its save: it retries a conflicting save {RESET_CONFLICT_RETRIES_MAX} time(s) first"
                ),
            ));
        }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        check_stated_table_version(view, at, out);
        for (key, before, after) in view.changes {
            let (Some(before), Some(after)) = (before, after) else { continue };
            if after.version != before.version + 1 {
                out.push(at.violation(
                    Invariant::Versions,
                    format!("{key:?}: version {} -> {} in txn {}", before.version, after.version, view.txn.kind),
                ));
            }
            let (Value::Table(b), Value::Table(a)) = (&before.value, &after.value) else { continue };
            let spectators = |t: &engine::store::TableRecord| -> Vec<_> {
                t.seats.iter().copied().filter(|u| is_spectator(*u)).collect()
            };
            if !matches!(view.txn.kind, TxnKind::StaleWriter | TxnKind::Provision) && spectators(a) != spectators(b) {
                out.push(at.violation(
                    Invariant::Versions,
                    format!(
                        "{}: txn {} changed the spectators seated by another writer ({:?} -> {:?}): a concurrent \
                         update was lost",
                        a.table,
                        view.txn.kind,
                        spectators(b),
                        spectators(a)
                    ),
                ));
            }
            if a.hand_number < b.hand_number {
                out.push(at.violation(
                    Invariant::Versions,
                    format!(
                        "{}: hand number went back {} -> {} ({})",
                        a.table, b.hand_number, a.hand_number, view.txn.kind
                    ),
                ));
            }
            if a.hand_number != b.hand_number {
                continue;
            }
            let (Some(bg), Some(ag)) = (&b.game, &a.game) else { continue };
            if ag.version < bg.version {
                out.push(at.violation(
                    Invariant::Versions,
                    format!(
                        "{} hand {}: game version went back {} -> {} ({})",
                        a.table, a.hand_number, bg.version, ag.version, view.txn.kind
                    ),
                ));
            }
            if !ag.history.starts_with(&bg.history) {
                let kept = bg.history.iter().zip(&ag.history).take_while(|(x, y)| x == y).count();
                out.push(at.violation(
                    Invariant::Versions,
                    format!(
                        "{} hand {}: txn {} replaced a history of {} events with one that keeps only the first {kept}: \
                         an acknowledged action was lost",
                        a.table,
                        a.hand_number,
                        view.txn.kind,
                        bg.history.len(),
                    ),
                ));
            }
        }
    }
}

impl Versions {
    /// A reset refused with `cause` as not seated must have been a player's own `/reset` of a
    /// table where the player does not sit.
    fn check_not_seated(&self, asked: Asked, cause: &GameError, at: At, out: &mut Vec<Violation>) {
        let GameError::NotSeated { user, table } = cause else { return };
        let Asked::Reset { user: by, table: of, emergency } = asked else { return };
        let seated = self.seats.get(&of).is_some_and(|seats| seats.contains(&by));
        if !emergency && !is_admin(by) && !seated {
            return;
        }
        let asked_as = if emergency { "an emergency reset" } else { "a /reset" };
        out.push(at.violation(
            Invariant::Versions,
            format!(
                "{asked_as} of {of} by {by} was refused as {user} not seated at {table}: only a player's own /reset needs a seat, and {by} {}",
                if emergency || is_admin(by) { "needs none" } else { "sits there" }
            ),
        ));
    }
}

/// An action's outcome recorded in `view`'s transaction (its dedup record) states the table
/// version that transaction saved: the version the player is told its action made.
fn check_stated_table_version(view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
    // Only an action's save records an action's outcome (errors are recorded alone).
    if !view.txn.kind.is_action_save() {
        return;
    }
    for (key, before, after) in view.changes {
        let (Key::Request(request), None, Some(Versioned { value: Value::Request(record), .. })) = (key, before, after)
        else {
            continue;
        };
        let Ok(Ok(outcome)) = Result::<ActionOutcome, GameError>::deserialize(&record.outcome) else { continue };
        let saved = view.changes.iter().find_map(|(key, _, after)| match (key, after) {
            (Key::Table(table), Some(row)) => Some((*table, row.version)),
            _ => None,
        });
        if let Some((table, version)) = saved
            && outcome.table_version != version
        {
            out.push(at.violation(
                Invariant::Versions,
                format!(
                    "{request}'s outcome states {table} at version {}, but its save wrote version {version} ({})",
                    outcome.table_version, view.txn.kind
                ),
            ));
        }
    }
}

/// A reset refused with `cause` as not an admin's must have been an emergency reset by a user
/// who is not an admin: the right is asked for by the emergency reset only.
fn check_not_admin(asked: Asked, cause: &GameError, at: At, out: &mut Vec<Violation>) {
    let GameError::NotAdmin { user } = cause else { return };
    let asked_as = match asked {
        Asked::Reset { user: by, emergency: true, .. } if !is_admin(by) => return,
        Asked::Reset { user: by, emergency: true, .. } => format!("an emergency reset by the admin {by}"),
        Asked::Reset { user: by, emergency: false, .. } => format!("a /reset by {by}"),
        Asked::JackpotContribute | Asked::Other => "a request that is no reset".to_string(),
    };
    out.push(at.violation(
        Invariant::Versions,
        format!(
            "{asked_as} was refused as {user} not being an admin: only an emergency reset asks for that right, and only an admin holds it"
        ),
    ));
}
