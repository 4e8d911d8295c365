//! Lock exclusivity, seen from outside the lock manager: from its acquire and release events
//! alone, no two holds of one key overlap where either is a write, nobody releases a lock it
//! does not hold — and no table is saved by a task that holds no lock on it (a critical
//! section entered without its lock: an acquire that timed out but went on, a guard dropped
//! too early, a design with no lock at all). Tasks are told apart by tokio's task ID, which is
//! only ever compared, never traced (it is not deterministic across processes).
//!
//! Independent of the lock manager's own bookkeeping, which this checker never reads.

use std::collections::BTreeMap;

use engine::locks::{LockCategory, LockEvent, LockKey, LockMode, OwnerId};
use engine::store::{Key, TxnKind};
use tokio::task::Id as TaskId;

use super::{At, Invariant, TxnView, Violation};

/// One hold of a lock, as its events showed it.
struct Hold {
    mode: LockMode,
    operation: std::sync::Arc<str>,
    task: Option<TaskId>,
}

#[derive(Default)]
pub struct Exclusivity {
    holds: BTreeMap<LockKey, BTreeMap<OwnerId, Hold>>,
}

/// Transactions that save a table's hand and so must run inside its critical section.
fn needs_table_lock(kind: TxnKind) -> bool {
    kind.is_hand_save()
}

impl Exclusivity {
    /// A lock event, seen in the task that caused it.
    pub fn on_event(&mut self, event: &LockEvent, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        match event {
            LockEvent::Acquired { key, mode, owner, operation, .. } => {
                let holders = self.holds.entry(key.clone()).or_default();
                let clash = holders.iter().find(|(other, hold)| {
                    **other != *owner && (*mode == LockMode::Write || hold.mode == LockMode::Write)
                });
                if let Some((other, hold)) = clash {
                    out.push(at.violation(
                        Invariant::LockExclusivity,
                        format!(
                            "{owner} ({operation}) took {key} {mode:?} while {other} ({}) holds it {:?}: two owners \
                             in one critical section",
                            hold.operation, hold.mode
                        ),
                    ));
                }
                holders.insert(*owner, Hold { mode: *mode, operation: operation.clone(), task });
            }
            LockEvent::Released { key, owner, operation, .. } => {
                let held = self.holds.get_mut(key).and_then(|holders| holders.remove(owner));
                if held.is_none() {
                    out.push(at.violation(
                        Invariant::LockExclusivity,
                        format!("{owner} ({operation}) released {key}, which it does not hold"),
                    ));
                }
                if self.holds.get(key).is_some_and(BTreeMap::is_empty) {
                    self.holds.remove(key);
                }
            }
            LockEvent::TimedOut { .. } | LockEvent::Waiting { .. } | LockEvent::WaitAbandoned { .. } => {}
        }
    }

    /// An applied transaction, issued by `task` (none outside every task): a table save must
    /// come from a task that holds the table's lock.
    pub fn after_txn(&mut self, view: &TxnView<'_>, task: Option<TaskId>, at: At, out: &mut Vec<Violation>) {
        let Some(task) = task else { return };
        if !needs_table_lock(view.txn.kind) {
            return;
        }
        for (key, _, _) in view.changes {
            let Key::Table(table) = key else { continue };
            // The table's lock in whichever engine process the task runs in (a second
            // process names its keys `engine-2/table-1`; task IDs are unique across them).
            let (name, in_process) = (table.to_string(), format!("/{table}"));
            let held = self.holds.iter().any(|(key, holders)| {
                key.category == LockCategory::Table
                    && (*key.name == *name || key.name.ends_with(&in_process))
                    && holders.values().any(|h| h.task == Some(task))
            });
            if !held {
                out.push(at.violation(
                    Invariant::LockExclusivity,
                    format!("{table} saved by {} from a task that holds no lock on it", view.txn.kind),
                ));
            }
        }
    }

    /// The engine crashed: its locks died with it.
    pub fn forget_all(&mut self) {
        self.holds.clear();
    }
}
