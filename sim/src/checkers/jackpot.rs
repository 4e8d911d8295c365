//! Invariant 8, jackpot: each pool holds exactly what was contributed minus what was won,
//! is never negative, never loses part of its contribution or win totals (a total that goes
//! down is an overwritten update), and its row version rises by one per update. A transaction
//! that changes a pool's amount must move the same chips through the totals. Every pool is tied
//! to its cause: a hand's contribution names its hand, is that hand's rake exactly, comes once
//! per hand; every contribution splits its rake as the stored shares say (worked out here)
//! and raises each pool by exactly its share; every win pays the request capped by its pool as
//! the pool stood, and states the pool it left. A win refused for its pool's row lock waited
//! the lock's whole timeout first, one refused as having lost that lock lost it to another
//! holder, an operation retried after a conflict waited its backoff step first (`base << n`),
//! and an operation refused for conflicts made every retry and names the pool its last
//! conflict was on (none when that was another row). The service's
//! operation, conflict and retry counters count what the engine saw its commits do.

use std::collections::{BTreeMap, BTreeSet};

use engine::ids::TableId;
use engine::jackpot::{
    ConcurrencyViolationError, ContributeOutcome, Contribution, METRIC_CONFLICTS, METRIC_OPERATIONS, METRIC_RETRIES,
    OPERATION_CONTRIBUTE, OPERATION_UPDATE_CONFIG, OPERATION_WIN, SHARE_BPS_TOTAL_MAX, WinOutcome,
};
use engine::metrics::{MetricsSnapshot, labeled};
use engine::rules::Chips;
use engine::store::JackpotGroup;
use engine::store::{Key, MemoryStore, StoreError, Txn, TxnKind, Value};
use serde::Deserialize;
use tokio::task::Id as TaskId;

use super::{At, Invariant, TxnView, Violation};
use crate::protocol::Asked;

pub struct Jackpot {
    supply: Chips,
    /// The rake of every hand that ended, by (table, hand number).
    hand_rake: BTreeMap<(TableId, u64), Chips>,
    /// The hands whose rake was contributed.
    contributed: BTreeSet<(TableId, u64)>,
    /// The stored jackpot config's shares, in basis points of the rake, once written.
    share_bps: Option<Vec<(JackpotGroup, u32)>>,
    /// The jackpot's commits the engine saw applied, by kind.
    applied_seen: BTreeMap<TxnKind, u64>,
    /// The jackpot's commits the engine saw refused for a version conflict, by kind.
    conflicts_seen: BTreeMap<TxnKind, u64>,
    /// The tasks that saw a jackpot commit answered and have not answered their request yet:
    /// at the end of a run, their operations may not have counted it yet.
    open_tasks: BTreeSet<Option<TaskId>>,
    /// Whether the run has a jackpot (the store holds its config from the start).
    jackpot_on: bool,
    /// Raked hands each task saw its own commit finish, until it answers.
    raked_hands_seen: BTreeMap<Option<TaskId>, BTreeSet<(TableId, u64)>>,
    /// Raked hands finished by requests that answered: the engine contributes each one's
    /// rake after the hand and before answering, so each owes a contribution attempt.
    hands_owed: BTreeSet<(TableId, u64)>,
    /// External contributions answered: each was one attempt.
    external_owed: u64,
    /// The pool row lock each task took (its group and token), until it answers.
    row_locks_taken: BTreeMap<Option<TaskId>, (JackpotGroup, String)>,
    /// The service's first retry backoff step, in ms.
    backoff_base_ms: u64,
    /// Each task's operation backing off: the kind of its commit, the conflicts it met in a
    /// row, and when the engine saw the last one (µs).
    backing_off: BTreeMap<Option<TaskId>, (TxnKind, u32, u64)>,
}

/// Each operation, the transaction kind its success commits once (a duplicate commits none),
/// and whether every success commits it (a contribution whose split gives the pools nothing
/// succeeds without a write).
const OPERATION_KINDS: [(&str, TxnKind, bool); 3] = [
    (OPERATION_CONTRIBUTE, TxnKind::JackpotContribute, false),
    (OPERATION_UPDATE_CONFIG, TxnKind::JackpotUpdateConfig, true),
    (OPERATION_WIN, TxnKind::JackpotWinPay, true),
];

impl Jackpot {
    /// `share_bps`: the stored config's shares at the start, if the store has one;
    /// `backoff_base_ms`: the service's first retry backoff step.
    pub fn new(supply: Chips, share_bps: Option<Vec<(JackpotGroup, u32)>>, backoff_base_ms: u64) -> Jackpot {
        Jackpot {
            supply,
            hand_rake: BTreeMap::new(),
            contributed: BTreeSet::new(),
            jackpot_on: share_bps.is_some(),
            share_bps,
            applied_seen: BTreeMap::new(),
            conflicts_seen: BTreeMap::new(),
            open_tasks: BTreeSet::new(),
            raked_hands_seen: BTreeMap::new(),
            hands_owed: BTreeSet::new(),
            external_owed: 0,
            row_locks_taken: BTreeMap::new(),
            backoff_base_ms,
            backing_off: BTreeMap::new(),
        }
    }

    /// A commit's answer as the engine saw it: applied, or refused (a lost reply reads as
    /// refused, as the service saw it too).
    pub fn after_answered_commit(
        &mut self,
        txn: &Txn,
        answer: Result<(), &StoreError>,
        task: Option<TaskId>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        self.check_backoff(txn.kind, answer, task, at, out);
        if answer.is_ok() {
            let mut finished = raked_hands_finished(txn).peekable();
            if finished.peek().is_some() {
                self.raked_hands_seen.entry(task).or_default().extend(finished);
            }
            if txn.kind == TxnKind::JackpotWinLock {
                let taken = txn.writes.iter().find_map(|write| match &write.value {
                    Some(Value::Jackpot(pool)) => pool.lock_holder.clone().map(|token| (pool.group, token)),
                    _ => None,
                });
                if let Some(taken) = taken {
                    self.row_locks_taken.insert(task, taken);
                }
            }
        }
        let counted_kind = txn.kind == TxnKind::JackpotWinLock || OPERATION_KINDS.iter().any(|o| o.1 == txn.kind);
        if !counted_kind {
            return;
        }
        self.open_tasks.insert(task);
        let counted = match answer {
            Ok(()) => &mut self.applied_seen,
            Err(StoreError::Conflict { .. }) => &mut self.conflicts_seen,
            Err(_) => return,
        };
        *counted.entry(txn.kind).or_default() += 1;
    }

    /// A commit of an optimistic operation (one that backs off after a conflict: a
    /// contribution, a win's payout, a config update) answered in `task` at `at`: if it
    /// retries a conflict the task's operation met, the engine must have waited that retry's
    /// backoff step, `base << n` for the n-th retry (0-based; the jitter only adds), between
    /// seeing the conflict and seeing this answer. The row lock's polling is not a retry.
    fn check_backoff(
        &mut self,
        kind: TxnKind,
        answer: Result<(), &StoreError>,
        task: Option<TaskId>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let backs_off = OPERATION_KINDS.iter().any(|(_, operation_kind, _)| *operation_kind == kind);
        if !backs_off {
            return;
        }
        let previous = self.backing_off.remove(&task).filter(|(previous_kind, _, _)| *previous_kind == kind);
        if let Some((_, conflicts, conflict_us)) = previous {
            // Worked out here, not with the engine's `backoff_step_ms`: the check must not share
            // the code it judges.
            let step_ms = self.backoff_base_ms.saturating_mul(1u64.checked_shl(conflicts - 1).unwrap_or(u64::MAX));
            let waited_us = at.at_us.saturating_sub(conflict_us);
            if waited_us < step_ms.saturating_mul(1_000) {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!(
                        "a {kind} retried {} ms after its conflict number {conflicts}, before its {step_ms} ms backoff",
                        waited_us / 1_000
                    ),
                ));
            }
        }
        if let Err(StoreError::Conflict { .. }) = answer {
            let conflicts = previous.map_or(0, |(_, conflicts, _)| conflicts) + 1;
            self.backing_off.insert(task, (kind, conflicts, at.at_us));
        }
    }

    /// The engine answered the request `task` served, which `asked`: its operations have
    /// counted what they saw, and it attempted the contributions it owed.
    pub fn after_answer(&mut self, task: Option<TaskId>, asked: Asked) {
        self.open_tasks.remove(&task);
        self.row_locks_taken.remove(&task);
        self.backing_off.remove(&task);
        self.hands_owed.extend(self.raked_hands_seen.remove(&task).unwrap_or_default());
        if asked == Asked::JackpotContribute {
            self.external_owed += 1;
        }
    }

    /// At the end: every conflict the service met is counted, each one it retried counts a
    /// retry (the others ended their operation as a concurrency violation, the row lock's
    /// excepted: it polls), and each operation's successes are its applied commits — less, for
    /// the last two, at most one per operation still running (it may not have counted yet).
    pub fn check_metrics(&self, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
        let running = self.open_tasks.len() as u64;
        let seen = |map: &BTreeMap<TxnKind, u64>, kind| map.get(&kind).copied().unwrap_or(0);
        let counted = |name: &str, labels: &[(&str, &str)]| metrics.counter(&labeled(name, labels));
        let mut report = |what: String, counted: u64, seen: u64| {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "{what} is {counted}, but the engine saw {seen} such commit(s), with {running} operation(s) still running"
                ),
            ));
        };
        let (mut conflicts, mut retried, mut retries, mut gave_up) = (0, 0, 0, 0);
        for (operation, kind, commits_always) in OPERATION_KINDS {
            conflicts += counted(METRIC_CONFLICTS, &[("operation", operation)]);
            retries += counted(METRIC_RETRIES, &[("operation", operation)]);
            gave_up += counted(METRIC_OPERATIONS, &[("operation", operation), ("status", "concurrency_violation")]);
            retried += seen(&self.conflicts_seen, kind);
            let successes = counted(METRIC_OPERATIONS, &[("operation", operation), ("status", "success")]);
            let applied = seen(&self.applied_seen, kind);
            if successes + running < applied || (commits_always && successes > applied) {
                report(format!("{METRIC_OPERATIONS} of {operation} successes"), successes, applied);
            }
        }
        let lock_conflicts = seen(&self.conflicts_seen, TxnKind::JackpotWinLock);
        if conflicts != retried + lock_conflicts {
            report(METRIC_CONFLICTS.to_string(), conflicts, retried + lock_conflicts);
        }
        if retries + gave_up > retried || retries + gave_up + running < retried {
            let what = format!("{METRIC_RETRIES} plus the operations given up as concurrency violations");
            report(what, retries + gave_up, retried);
        }
        self.check_contributions_attempted(metrics, at, out);
    }

    /// Every raked hand a request completed and every external contribution it asked for was
    /// attempted before it answered: the service counts each attempt once, whatever its status
    /// (a contribution may fail under faults, never go untried).
    fn check_contributions_attempted(&self, metrics: &MetricsSnapshot, at: At, out: &mut Vec<Violation>) {
        if !self.jackpot_on {
            return;
        }
        let operation = labeled(METRIC_OPERATIONS, &[("operation", OPERATION_CONTRIBUTE)]);
        let prefix = format!("{},", operation.trim_end_matches('}'));
        let attempted: u64 =
            metrics.counters.iter().filter(|(name, _)| name.starts_with(&prefix)).map(|(_, count)| count).sum();
        let (hands, external) = (self.hands_owed.len() as u64, self.external_owed);
        if attempted < hands + external {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "{METRIC_OPERATIONS} counts {attempted} contribution(s) of any status, but answered requests owed \
                     {}: {hands} raked hand(s) they finished and {external} external contribution(s) they asked for",
                    hands + external
                ),
            ));
        }
    }

    /// A win gave up waiting for its pool's row lock after `waited_ms` (measured by the engine
    /// host around the whole request): honest only if the wait ran its `timeout_ms`.
    pub fn on_win_lock_timeout(
        &self,
        group: JackpotGroup,
        waited_ms: u64,
        timeout_ms: u64,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        if waited_ms < timeout_ms {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "a win on the {} pool gave up its row-lock wait after {waited_ms} ms, before its {timeout_ms} ms timeout",
                    group.name()
                ),
            ));
        }
    }

    /// A win served by `task` was refused as having lost its pool's row lock to `holder`:
    /// honest only if `holder` is not the lock the task itself took (a lock still its own was
    /// not lost).
    pub fn on_win_lock_lost(
        &self,
        task: Option<TaskId>,
        group: JackpotGroup,
        holder: Option<&str>,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let Some((taken_group, token)) = self.row_locks_taken.get(&task) else { return };
        if *taken_group == group && holder == Some(token.as_str()) {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "a win on the {} pool was refused as having lost its row lock to `{token}`, the lock it took itself",
                    group.name()
                ),
            ));
        }
    }

    /// An `operation` gave up on conflicts after `attempts` (the first included): honest only
    /// if it made every one of its `retries_max` retries.
    pub fn on_retries_exhausted(
        &self,
        refusal: &ConcurrencyViolationError,
        retries_max: u32,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        let (operation, attempts) = (&refusal.operation, refusal.conflict_details.attempts);
        let conflict_pool = match refusal.conflict_details.key {
            Key::Jackpot(group) => Some(group),
            _ => None,
        };
        if refusal.group != conflict_pool {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "a {operation} gave up on conflicts naming pool {:?}, but its last conflict was on {:?}",
                    refusal.group, refusal.conflict_details.key
                ),
            ));
        }
        if attempts <= retries_max {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "a {operation} gave up on conflicts after {attempts} attempts, before its {retries_max} retries"
                ),
            ));
        }
    }

    /// Records the rake of hands that end in this transaction, and checks each contribution
    /// it records against its cause.
    fn check_causes(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (_, before, after) in view.changes {
            match after.as_ref().map(|v| &v.value) {
                Some(Value::Table(table)) => {
                    if let Some(game) = table.game.as_ref().filter(|g| g.complete) {
                        let was_over = matches!(before.as_ref().map(|v| &v.value),
                            Some(Value::Table(b)) if b.hand_number == table.hand_number && b.game.as_ref().is_some_and(|g| g.complete));
                        if !was_over {
                            self.hand_rake.insert((table.table, table.hand_number), game.rake);
                        }
                    }
                }
                Some(Value::JackpotConfig(config)) => self.share_bps = Some(config.share_bps.clone()),
                Some(Value::Request(record)) if before.is_none() => {
                    if let Ok(outcome) = ContributeOutcome::deserialize(&record.outcome) {
                        self.check_contribution(view, &outcome, at, out);
                    } else if view.txn.kind == TxnKind::JackpotWinPay
                        && let Ok(outcome) = WinOutcome::deserialize(&record.outcome)
                    {
                        check_win(view, &outcome, at, out);
                    }
                }
                _ => {}
            }
        }
    }

    fn check_contribution(
        &mut self,
        view: &TxnView<'_>,
        outcome: &ContributeOutcome,
        at: At,
        out: &mut Vec<Violation>,
    ) {
        if let Contribution::Hand { table, hand_number } = outcome.contribution {
            let hand = (table, hand_number);
            match self.hand_rake.get(&hand) {
                None => out.push(at.violation(
                    Invariant::Jackpot,
                    format!("a contribution for {table} hand {hand_number}, which has not ended"),
                )),
                Some(&rake) if rake != outcome.rake => out.push(at.violation(
                    Invariant::Jackpot,
                    format!("{table} hand {hand_number} raked {rake} chips but contributed {}", outcome.rake),
                )),
                Some(_) => {}
            }
            if !self.contributed.insert(hand) {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!("{table} hand {hand_number}'s rake contributed a second time ({})", view.txn.kind),
                ));
            }
        }
        self.check_split(outcome, at, out);
        for (group, share) in &outcome.split.shares {
            let raised = view.changes.iter().find_map(|(key, before, after)| match (key, before, after) {
                (Key::Jackpot(g), Some(b), Some(a)) if g == group => {
                    Some(i128::from(a.value.chips_held()) - i128::from(b.value.chips_held()))
                }
                _ => None,
            });
            if raised.unwrap_or(0) != i128::from(*share) {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!(
                        "contribution {} owes pool {} {share} chips, the pool rose by {}",
                        outcome.operation_id,
                        group.name(),
                        raised.unwrap_or(0)
                    ),
                ));
            }
        }
    }

    /// The split a contribution recorded against the stored shares, worked out here: each
    /// group gets the rake times its basis points, rounded down; the house keeps the rest.
    fn check_split(&self, outcome: &ContributeOutcome, at: At, out: &mut Vec<Violation>) {
        let Some(share_bps) = &self.share_bps else { return };
        let owed = |group: JackpotGroup| {
            let bps: u128 = share_bps.iter().filter(|(g, _)| *g == group).map(|(_, bps)| u128::from(*bps)).sum();
            (u128::from(outcome.rake) * bps / u128::from(SHARE_BPS_TOTAL_MAX)) as Chips
        };
        let wrong: Vec<String> = outcome
            .split
            .shares
            .iter()
            .filter(|(group, share)| owed(*group) != *share)
            .map(|(group, share)| format!("{} got {share}, owed {}", group.name(), owed(*group)))
            .collect();
        let to_pools: Chips = outcome.split.shares.iter().map(|(_, share)| share).sum();
        if !wrong.is_empty() || to_pools.checked_add(outcome.split.house_kept) != Some(outcome.rake) {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "contribution {} split its {} chip rake against the shares {share_bps:?}: {}; house kept {}",
                    outcome.operation_id,
                    outcome.rake,
                    wrong.join(", "),
                    outcome.split.house_kept
                ),
            ));
        }
    }

    fn check_pool(&self, pool: &engine::store::JackpotPool, context: &str, at: At, out: &mut Vec<Violation>) {
        let books = pool.contributed_total.checked_sub(pool.won_total);
        if books != Some(pool.amount) {
            out.push(at.violation(
                Invariant::Jackpot,
                format!(
                    "pool {} holds {} but contributions {} − wins {} say otherwise ({context})",
                    pool.group.name(),
                    pool.amount,
                    pool.contributed_total,
                    pool.won_total
                ),
            ));
        }
        if pool.amount > self.supply {
            out.push(at.violation(
                Invariant::Jackpot,
                format!("pool {} is negative (wrapped to {})", pool.group.name(), pool.amount),
            ));
        }
    }

    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        self.check_causes(view, at, out);
        for (key, before, after) in view.changes {
            let Key::Jackpot(group) = key else { continue };
            let Some(after) = after else {
                out.push(
                    at.violation(Invariant::Jackpot, format!("pool {} deleted ({})", group.name(), view.txn.kind)),
                );
                continue;
            };
            let Value::Jackpot(a) = &after.value else { continue };
            self.check_pool(a, view.txn.kind.as_str(), at, out);
            let Some(before) = before else { continue };
            let Value::Jackpot(b) = &before.value else { continue };
            if after.version != before.version + 1 {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!("pool {}: version {} -> {}", group.name(), before.version, after.version),
                ));
            }
            if a.contributed_total < b.contributed_total || a.won_total < b.won_total {
                out.push(at.violation(
                    Invariant::Jackpot,
                    format!(
                        "pool {}: totals went down (contributed {} -> {}, won {} -> {}) in {}: an update was overwritten",
                        group.name(),
                        b.contributed_total,
                        a.contributed_total,
                        b.won_total,
                        a.won_total,
                        view.txn.kind
                    ),
                ));
            }
        }
    }

    pub fn at_end(&mut self, store: &MemoryStore, at: At, out: &mut Vec<Violation>) {
        store.inspect(|data| {
            for value in data.values() {
                if let Value::Jackpot(pool) = &value.value {
                    self.check_pool(pool, "end of run", at, out);
                }
            }
        });
    }
}

/// A win recorded in `view`'s transaction against the pool row it changed: it paid what the
/// payout rule says of the pool as it stood — the request, capped by the pool — and left the
/// pool it states. (A win whose pool row is not in the transaction is not judged here.)
fn check_win(view: &TxnView<'_>, outcome: &WinOutcome, at: At, out: &mut Vec<Violation>) {
    let pool = view.changes.iter().find_map(|(key, before, after)| match (key, before, after) {
        (Key::Jackpot(group), Some(b), Some(a)) if *group == outcome.group => Some((b, a)),
        _ => None,
    });
    let Some((before, after)) = pool else { return };
    let (held, left) = (before.value.chips_held(), after.value.chips_held());
    let owed = outcome.requested.min(held);
    if outcome.paid != owed || left != held - owed || outcome.pool_after != left {
        out.push(at.violation(
            Invariant::Jackpot,
            format!(
                "win {} asked {} of pool {} holding {held}: paid {} (owed {owed}), the pool left at {left}, \
                 stated {}",
                outcome.win_id,
                outcome.requested,
                outcome.group.name(),
                outcome.paid,
                outcome.pool_after
            ),
        ));
    }
}

/// The hands `txn` saves as over with a rake, by (table, hand number): a finished hand's
/// contribution is owed once, however many saves write it.
fn raked_hands_finished(txn: &Txn) -> impl Iterator<Item = (TableId, u64)> + '_ {
    txn.writes.iter().filter_map(|write| match &write.value {
        Some(Value::Table(table)) if table.game.as_ref().is_some_and(|g| g.complete && g.rake > 0) => {
            Some((table.table, table.hand_number))
        }
        _ => None,
    })
}
