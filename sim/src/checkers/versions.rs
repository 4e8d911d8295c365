//! Invariant 4, versions: each save raises a record's store version by exactly one, a table's
//! hand number never goes back, a hand's game version never goes back, and no acknowledged
//! action is lost — a save of the same hand must extend the stored history, never replace
//! it with one that misses an action saved before (the lost update of an unguarded write) —
//! and no engine save changes what another writer owns at a table (its spectators).

use engine::store::{TxnKind, Value};

use crate::layout::is_spectator;

use super::{At, Invariant, TxnView, Violation};

#[derive(Default)]
pub struct Versions;

impl Versions {
    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
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
