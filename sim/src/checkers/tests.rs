//! Every checker, shown to fire: each is fed a broken transaction, reply, lock event or store
//! and must report its own invariant — and a correct one of the same shape must pass. A
//! checker that goes blind fails here before any scenario could miss it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use engine::cards::Deck;
use engine::game::{ActionOutcome, GameError, LockStrategy};
use engine::ids::{DlqId, RequestId, ReservationId, TableId, UserId};
use engine::locks::{
    CycleMember, DeadlockSnapshot, LockCategory, LockConfig, LockError, LockEvent, LockKey, LockMode, OwnerId,
};
use engine::rules::{Action, Applied, Chips, GameState, TableConfig};
use engine::store::{
    DlqEntry, JackpotGroup, JackpotPool, Key, MemoryStore, ProcessedRequest, Reservation, ReservationState, StoreError,
    TableRecord, Txn, TxnKind, Value, Versioned, Wallet,
};
use rand::SeedableRng;

use engine::metrics::MetricsSnapshot;

use super::liveness::LocksInUse;
use super::{At, Budgets, CheckerSettings, Checkers, Invariant, PartitionWaits, TxnView, Violation};
use crate::layout::ADMIN;
use crate::protocol::{Asked, Reply};

const SUPPLY: Chips = 1_000;
const AT: At = At { trace_index: 7, at_us: 1_000 };
const USER: UserId = UserId(1);
const TABLE: TableId = TableId(1);

type Change = (Key, Option<Versioned>, Option<Versioned>);

fn checkers(strategy: LockStrategy) -> Checkers {
    Checkers::new(&CheckerSettings {
        supply: SUPPLY,
        users: vec![USER, UserId(2)],
        balance: 0,
        lock_strategy: strategy,
        lock_config: LockConfig::default(),
        budgets: Budgets::default(),
        jackpot_share_bps: None,
        clock_offset_ms_max: 0,
        seats: BTreeMap::from([(TABLE, BTreeSet::from([USER]))]),
        jackpot_backoff_base_ms: 100,
    })
}

fn row(version: u64, value: Value) -> Option<Versioned> {
    Some(Versioned { version, value })
}

fn wallet(balance: Chips) -> Value {
    Value::Wallet(Wallet { user: USER, balance })
}

fn reservation(id: u64, request: u64, amount: Chips, state: ReservationState) -> Value {
    Value::Reservation(Reservation {
        id: ReservationId(id),
        user: USER,
        table: TABLE,
        request: RequestId(request),
        amount,
        created_ms: 0,
        deadline_ms: 30_000,
        state,
    })
}

fn pool(amount: Chips, contributed: Chips, won: Chips) -> Value {
    let empty = JackpotPool::empty(JackpotGroup::Minor, 0);
    Value::Jackpot(JackpotPool { amount, contributed_total: contributed, won_total: won, ..empty })
}

/// A hand in progress between two players with 100 chips each, blinds 5/10.
fn hand() -> GameState {
    let deck = Deck::shuffled(&mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
    GameState::start(TableConfig::new(5, 10), &[100, 100], deck).unwrap()
}

fn table(game: GameState) -> Value {
    let escrow =
        if game.complete { 0 } else { game.players.iter().map(|p| p.starting_stack.saturating_sub(p.stack)).sum() };
    let record = TableRecord {
        hand_seats: vec![USER, UserId(2)],
        hand_number: 1,
        game: Some(game),
        escrow,
        ..TableRecord::empty(TABLE, vec![USER, UserId(2)])
    };
    Value::Table(Arc::new(record))
}

/// Runs every transaction checker on one transaction of `kind` with `changes`.
fn after_txn(checkers: &mut Checkers, kind: TxnKind, changes: &[Change], now_ms: u64) -> Vec<Violation> {
    let txn = Txn::new(kind);
    let mut found = Vec::new();
    checkers.after_txn(&TxnView { txn: &txn, changes, now_ms }, None, AT, &mut found);
    found
}

fn invariants(found: &[Violation]) -> Vec<Invariant> {
    found.iter().map(|v| v.invariant).collect()
}

fn fires(found: &[Violation], invariant: Invariant) {
    assert!(found.iter().any(|v| v.invariant == invariant), "{invariant} did not fire: {found:?}");
    assert!(found.iter().all(|v| v.trace_index == AT.trace_index && v.at_us == AT.at_us), "{found:?}");
}

#[test]
fn conservation_fires_when_chips_vanish_and_passes_when_they_move() {
    let mut c = checkers(LockStrategy::Coarse);
    let lost = [(Key::Wallet(USER), row(1, wallet(1_000)), row(2, wallet(990)))];
    fires(&after_txn(&mut c, TxnKind::WalletReserve, &lost, 0), Invariant::Conservation);

    let mut c = checkers(LockStrategy::Coarse);
    let moved = [
        (Key::Wallet(USER), row(1, wallet(1_000)), row(2, wallet(990))),
        (Key::Reservation(ReservationId(1)), None, row(1, reservation(1, 1, 10, ReservationState::Live))),
    ];
    assert_eq!(after_txn(&mut c, TxnKind::WalletReserve, &moved, 0), vec![]);
}

#[test]
fn conservation_fires_on_an_escrow_that_disagrees_with_its_hand() {
    let mut c = checkers(LockStrategy::Coarse);
    let Value::Table(mut record) = table(hand()) else { unreachable!() };
    Arc::make_mut(&mut record).escrow += 1;
    let changes = [(Key::Table(TABLE), None, row(1, Value::Table(record)))];
    fires(&after_txn(&mut c, TxnKind::GameStart, &changes, 0), Invariant::Conservation);
}

#[test]
fn conservation_recounts_the_store_at_the_end() {
    let store = MemoryStore::new();
    store.apply(&Txn::new(TxnKind::Provision).put(Key::Wallet(USER), wallet(SUPPLY))).unwrap();
    let mut found = Vec::new();
    checkers(LockStrategy::Coarse).at_end(&store, &MetricsSnapshot::default(), AT, &mut found);
    assert!(!invariants(&found).contains(&Invariant::Conservation), "{found:?}");
    store.apply(&Txn::new(TxnKind::StaleWriter).put(Key::Wallet(USER), wallet(SUPPLY - 1))).unwrap();
    checkers(LockStrategy::Coarse).at_end(&store, &MetricsSnapshot::default(), AT, &mut found);
    fires(&found, Invariant::Conservation);
}

#[test]
fn non_negative_fires_on_an_amount_that_wrapped_below_zero() {
    let mut c = checkers(LockStrategy::Coarse);
    // A balance that wrapped, with the supply intact elsewhere as far as this check cares.
    let wrapped = [(Key::House, row(1, Value::House(0)), row(2, Value::House(Chips::MAX - 4)))];
    let found = after_txn(&mut c, TxnKind::JackpotContribute, &wrapped, 0);
    fires(&found, Invariant::NonNegative);
    let mut c = checkers(LockStrategy::Coarse);
    let fine = [(Key::House, row(1, Value::House(0)), row(2, Value::House(0)))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::JackpotContribute, &fine, 0)).contains(&Invariant::NonNegative));
}

#[test]
fn at_most_once_fires_on_a_second_commit_for_one_request() {
    let mut c = checkers(LockStrategy::Coarse);
    let commit = |id| {
        [(
            Key::Reservation(ReservationId(id)),
            row(1, reservation(id, 9, 10, ReservationState::Live)),
            row(2, reservation(id, 9, 10, ReservationState::Committed)),
        )]
    };
    // (The chips leave the reservations for nowhere here; only at-most-once is looked at.)
    assert!(!invariants(&after_txn(&mut c, TxnKind::GameAct, &commit(1), 0)).contains(&Invariant::AtMostOnce));
    fires(&after_txn(&mut c, TxnKind::GameAct, &commit(2), 0), Invariant::AtMostOnce);
}

#[test]
fn at_most_once_fires_on_a_processed_record_rewritten_with_another_outcome() {
    let record = |outcome: &str| {
        Value::Request(ProcessedRequest {
            request: RequestId(4),
            user: USER,
            payload_hash: 1,
            outcome: serde_json::Value::String(outcome.into()),
            processed_ms: 0,
            keep_until_ms: 1,
        })
    };
    let mut c = checkers(LockStrategy::Coarse);
    let same = [(Key::Request(RequestId(4)), row(1, record("a")), row(2, record("a")))];
    assert_eq!(after_txn(&mut c, TxnKind::DedupRecord, &same, 0), vec![]);
    let rewritten = [(Key::Request(RequestId(4)), row(1, record("a")), row(2, record("b")))];
    fires(&after_txn(&mut c, TxnKind::DedupRecord, &rewritten, 0), Invariant::AtMostOnce);
}

#[test]
fn at_most_once_fires_on_a_processed_record_purged_before_its_retention_ends() {
    let record = Value::Request(ProcessedRequest {
        request: RequestId(4),
        user: USER,
        payload_hash: 1,
        outcome: serde_json::Value::Null,
        processed_ms: 0,
        keep_until_ms: 10_000,
    });
    let purged = [(Key::Request(RequestId(4)), row(1, record), None)];
    let mut c = checkers(LockStrategy::Coarse);
    fires(&after_txn(&mut c, TxnKind::DedupPurge, &purged, 9_999), Invariant::AtMostOnce);
    assert_eq!(after_txn(&mut c, TxnKind::DedupPurge, &purged, 10_000), vec![], "its retention is over");
    let purge = Txn::new(TxnKind::DedupPurge);
    let at = |now_ms| TxnView { txn: &purge, changes: &purged, now_ms };
    let mut skewed = super::at_most_once::AtMostOnce::new(500);
    let mut found = Vec::new();
    skewed.after_txn(&at(9_500), AT, &mut found);
    assert_eq!(found, vec![], "an engine clock 500 ms fast may see the retention over");
    skewed.after_txn(&at(9_499), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
}

#[test]
fn at_most_once_fires_on_an_action_save_that_adds_no_action() {
    let before = hand();
    let mut after = before.clone();
    let actor = after.actor().unwrap();
    after.apply(actor, Action::Call).unwrap();
    let mut c = checkers(LockStrategy::Coarse);
    let one = [(Key::Table(TABLE), row(1, table(before.clone())), row(2, table(after)))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::GameAct, &one, 0)).contains(&Invariant::AtMostOnce));
    let none = [(Key::Table(TABLE), row(1, table(before.clone())), row(2, table(before)))];
    fires(&after_txn(&mut c, TxnKind::GameAct, &none, 0), Invariant::AtMostOnce);
}

#[test]
fn at_most_once_fires_when_one_request_gets_two_final_answers() {
    let outcome =
        |version| Ok(ActionOutcome { applied: Applied::Fold, chips: 0, table_version: version, hand_complete: false });
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let request = RequestId(5);
    c.at_most_once.on_reply(request, &Err(GameError::InProgress), AT, &mut found);
    c.at_most_once.on_reply(request, &outcome(3), AT, &mut found);
    c.at_most_once.on_reply(request, &Err(GameError::InProgress), AT, &mut found);
    c.at_most_once.on_reply(request, &outcome(3), AT, &mut found);
    assert_eq!(found, vec![], "transient answers may differ; the same final answer may repeat");
    c.at_most_once.on_reply(request, &outcome(4), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
}

#[test]
fn versions_fire_on_a_skipped_version_and_a_lost_action() {
    let mut c = checkers(LockStrategy::Coarse);
    let skipped = [(Key::Wallet(USER), row(1, wallet(5)), row(3, wallet(5)))];
    fires(&after_txn(&mut c, TxnKind::StaleWriter, &skipped, 0), Invariant::Versions);

    let start = hand();
    let mut first = start.clone();
    let actor = first.actor().unwrap();
    first.apply(actor, Action::Call).unwrap();
    let mut other = start.clone();
    other.apply(actor, Action::Fold).unwrap();
    let extends = [(Key::Table(TABLE), row(1, table(start)), row(2, table(first.clone())))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::GameAct, &extends, 0)).contains(&Invariant::Versions));
    // An unguarded save from the same start replaces the call with a fold: the call is lost.
    let lost = [(Key::Table(TABLE), row(2, table(first)), row(3, table(other)))];
    fires(&after_txn(&mut c, TxnKind::GameAct, &lost, 0), Invariant::Versions);
}

#[test]
fn reservations_fire_on_an_illegal_lifecycle_and_a_late_commit() {
    let key = Key::Reservation(ReservationId(1));
    let live = reservation(1, 1, 10, ReservationState::Live);
    let committed = reservation(1, 1, 10, ReservationState::Committed);
    let mut c = checkers(LockStrategy::Coarse);
    let born_final = [(key, None, row(1, committed.clone()))];
    fires(&after_txn(&mut c, TxnKind::WalletReserve, &born_final, 0), Invariant::Reservations);
    let revived = [(key, row(2, committed.clone()), row(3, live.clone()))];
    fires(&after_txn(&mut c, TxnKind::WalletRollback, &revived, 0), Invariant::Reservations);
    let late = [(key, row(1, live.clone()), row(2, committed.clone()))];
    fires(&after_txn(&mut c, TxnKind::GameAct, &late, 30_001), Invariant::Reservations);
    let on_time = [(key, row(1, live.clone()), row(2, committed))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::GameAct, &on_time, 30_000)).contains(&Invariant::Reservations));
    // The transaction's kind names the transition (a mutant that swapped them survived).
    let expired = reservation(1, 1, 10, ReservationState::Expired);
    let rolled_back = reservation(1, 1, 10, ReservationState::RolledBack);
    let expiry = [(key, row(1, live.clone()), row(2, expired.clone()))];
    fires(&after_txn(&mut c, TxnKind::WalletRollback, &expiry, 0), Invariant::Reservations);
    let rollback = [(key, row(1, live.clone()), row(2, rolled_back))];
    fires(&after_txn(&mut c, TxnKind::WalletExpire, &rollback, 0), Invariant::Reservations);
    let proper = [(key, row(1, live), row(2, expired))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::WalletExpire, &proper, 0)).contains(&Invariant::Reservations));
}

#[test]
fn rules_fire_on_a_saved_state_that_breaks_the_rules() {
    let mut c = checkers(LockStrategy::Coarse);
    let good = [(Key::Table(TABLE), None, row(1, table(hand())))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::GameStart, &good, 0)).contains(&Invariant::Rules));
    let mut broken = hand();
    broken.players[0].stack += 1; // a chip from nowhere: the hand no longer adds up
    let bad = [(Key::Table(TABLE), None, row(1, table(broken)))];
    fires(&after_txn(&mut c, TxnKind::GameStart, &bad, 0), Invariant::Rules);
}

#[test]
fn rules_fire_on_a_pot_paid_to_the_wrong_player() {
    let mut finished = hand();
    while let Some(actor) = finished.actor() {
        finished.apply(actor, Action::AllIn).unwrap();
    }
    assert!(finished.complete);
    assert_eq!(super::rules::check_payouts(&finished), Ok(()));
    let (winner, loser) = if finished.players[0].won > finished.players[1].won { (0, 1) } else { (1, 0) };
    assert_ne!(finished.players[winner].won, finished.players[loser].won, "this deck has one winner");
    let mut swapped = finished.clone();
    swapped.players[winner].won = finished.players[loser].won;
    swapped.players[loser].won = finished.players[winner].won;
    assert!(super::rules::check_payouts(&swapped).is_err(), "a swapped payout must be refused");
    let mut c = checkers(LockStrategy::Coarse);
    let before = hand();
    let bad = [(Key::Table(TABLE), row(1, table(before)), row(2, table(swapped)))];
    fires(&after_txn(&mut c, TxnKind::GameAct, &bad, 0), Invariant::Rules);
}

fn acquired(owner: u64, category: LockCategory, name: &str) -> LockEvent {
    LockEvent::Acquired {
        key: LockKey::new(category, name),
        mode: LockMode::Write,
        owner: OwnerId(owner),
        operation: "test".into(),
        waited_us: 0,
    }
}

#[test]
fn locks_fire_on_an_acquire_against_the_hierarchy() {
    let mut c = checkers(LockStrategy::Fine);
    let mut found = Vec::new();
    c.on_lock_event(&acquired(1, LockCategory::Table, "table-1"), None, AT, &mut found);
    c.on_lock_event(&acquired(1, LockCategory::Pot, "table-1"), None, AT, &mut found);
    c.on_lock_event(&acquired(1, LockCategory::Player, "table-1/user-1"), None, AT, &mut found);
    assert_eq!(found, vec![], "in order");
    c.on_lock_event(&acquired(1, LockCategory::BettingRound, "table-1"), None, AT, &mut found);
    fires(&found, Invariant::Locks);
}

fn timed_out(category: LockCategory, waited_us: u64) -> LockEvent {
    LockEvent::TimedOut {
        key: LockKey::new(category, "table-1"),
        mode: LockMode::Write,
        owner: OwnerId(1),
        operation: "test".into(),
        waited_us,
    }
}

#[test]
fn locks_fire_on_an_acquire_that_gives_up_before_its_timeout() {
    let mut c = checkers(LockStrategy::Coarse);
    let timeout_us = LockConfig::default().timeout_ms(LockCategory::Table) * 1_000;
    let mut found = Vec::new();
    c.on_lock_event(&timed_out(LockCategory::Table, timeout_us), None, AT, &mut found);
    c.on_lock_event(&timed_out(LockCategory::Table, timeout_us + 3_000), None, AT, &mut found);
    assert_eq!(found, vec![], "a wait that ran its timeout");
    c.on_lock_event(&timed_out(LockCategory::Table, timeout_us - 1_000), None, AT, &mut found);
    fires(&found, Invariant::Locks);
}

#[test]
fn locks_fire_on_an_acquire_counter_that_misses_what_the_manager_announced() {
    use engine::locks::{METRIC_LOCK_ACQUIRE, STATUS_SUCCESS, STATUS_TIMEOUT};
    use engine::metrics::labeled;
    let mut c = checkers(LockStrategy::Coarse);
    let timeout_us = LockConfig::default().timeout_ms(LockCategory::Table) * 1_000;
    let mut found = Vec::new();
    c.on_lock_event(&acquired(1, LockCategory::Table, "table-1"), None, AT, &mut found);
    c.on_lock_event(&acquired(2, LockCategory::Stage, "stage-1"), None, AT, &mut found);
    c.on_lock_event(&timed_out(LockCategory::Table, timeout_us), None, AT, &mut found);
    let counter = |category: LockCategory, status| {
        labeled(METRIC_LOCK_ACQUIRE, &[("category", category.as_str()), ("status", status)])
    };
    let mut metrics = MetricsSnapshot::default();
    metrics.counters.insert(counter(LockCategory::Table, STATUS_SUCCESS), 1);
    metrics.counters.insert(counter(LockCategory::Stage, STATUS_SUCCESS), 1);
    metrics.counters.insert(counter(LockCategory::Table, STATUS_TIMEOUT), 1);
    let check = |metrics: &MetricsSnapshot| {
        let mut found = Vec::new();
        c.locks.check_metrics(metrics, AT, &mut found);
        found
    };
    assert_eq!(check(&metrics), vec![], "every grant and timeout counted once");
    let mut uncounted = metrics.clone();
    uncounted.counters.remove(&counter(LockCategory::Stage, STATUS_SUCCESS));
    fires(&check(&uncounted), Invariant::Locks);
    let mut doubled = metrics.clone();
    doubled.counters.insert(counter(LockCategory::Table, STATUS_TIMEOUT), 2);
    fires(&check(&doubled), Invariant::Locks);
}

#[test]
fn locks_fire_on_a_long_hold_counter_that_misses_what_the_manager_announced() {
    use engine::locks::METRIC_LOCK_LONG_HOLDS;
    use engine::metrics::labeled;
    let mut c = checkers(LockStrategy::Coarse);
    let warn_us = LockConfig::default().long_hold_warn_ms * 1_000;
    let held = |owner, held_us| match released(owner, LockCategory::Table, "table-1") {
        LockEvent::Released { key, mode, owner, operation, .. } => {
            LockEvent::Released { key, mode, owner, operation, held_us }
        }
        _ => unreachable!(),
    };
    let mut found = Vec::new();
    for (owner, held_us) in [(1, warn_us), (2, warn_us + 1_000), (3, 10)] {
        c.on_lock_event(&acquired(owner, LockCategory::Table, "table-1"), None, AT, &mut found);
        c.on_lock_event(&held(owner, held_us), None, AT, &mut found);
    }
    let name = labeled(METRIC_LOCK_LONG_HOLDS, &[("category", LockCategory::Table.as_str())]);
    let check = |long_holds: u64| {
        let mut metrics = MetricsSnapshot::default();
        let acquires = labeled(
            engine::locks::METRIC_LOCK_ACQUIRE,
            &[("category", LockCategory::Table.as_str()), ("status", engine::locks::STATUS_SUCCESS)],
        );
        metrics.counters.insert(acquires, 3);
        if long_holds > 0 {
            metrics.counters.insert(name.clone(), long_holds);
        }
        let mut found = Vec::new();
        c.locks.check_metrics(&metrics, AT, &mut found);
        found
    };
    assert_eq!(check(1), vec![], "one hold over the threshold (one at it is not)");
    fires(&check(0), Invariant::Locks);
    fires(&check(2), Invariant::Locks);
}

#[test]
fn locks_fire_on_a_wait_for_cycle() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let member = |owner| CycleMember { owner: OwnerId(owner), operation: "test".into() };
    let quiet = DeadlockSnapshot { holders: vec![], waiters: vec![], cycle: None };
    c.on_deadlock_snapshot(false, &quiet, AT, &mut found);
    assert_eq!(found, vec![]);
    let stuck = DeadlockSnapshot { holders: vec![], waiters: vec![], cycle: Some(vec![member(1), member(2)]) };
    c.on_deadlock_snapshot(false, &stuck, AT, &mut found);
    fires(&found, Invariant::Locks);
}

#[test]
fn locks_fire_on_a_request_refused_for_a_lock_the_engine_may_not_take_or_before_its_timeout() {
    let c = checkers(LockStrategy::Coarse);
    let key = LockKey::new(LockCategory::Table, "t1");
    let refused = |error: LockError| {
        let mut found = Vec::new();
        c.locks.after_refused(&GameError::Lock(error), AT, &mut found);
        found
    };
    let timeout_ms = LockConfig::default().timeout_ms(LockCategory::Table);
    let waited = |waited_ms| LockError::Timeout { key: key.clone(), waited_ms, holders: vec![] };
    assert_eq!(refused(waited(timeout_ms)), vec![], "the whole timeout waited");
    fires(&refused(waited(timeout_ms - 1)), Invariant::Locks);
    fires(&refused(LockError::Reentrant { key: key.clone() }), Invariant::Locks);
    fires(&refused(LockError::ReadNotSupported { key: key.clone() }), Invariant::Locks);
    fires(&refused(LockError::HierarchyViolation { requested: key.clone(), held: key.clone() }), Invariant::Locks);
    let mut found = Vec::new();
    c.locks.after_refused(&GameError::NotEnoughPlayers, AT, &mut found);
    assert_eq!(found, vec![], "not a lock refusal");
}

fn waiting(owner: u64, category: LockCategory, name: &str) -> LockEvent {
    LockEvent::Waiting {
        key: LockKey::new(category, name),
        mode: LockMode::Write,
        owner: OwnerId(owner),
        operation: "test".into(),
    }
}

fn waiter(owner: u64, category: LockCategory, name: &str) -> engine::locks::LockWaiter {
    engine::locks::LockWaiter {
        key: LockKey::new(category, name),
        owner: OwnerId(owner),
        operation: "test".into(),
        mode: LockMode::Write,
        waited_ms: 3,
    }
}

#[test]
fn locks_fire_on_a_snapshot_that_misses_a_wait_and_on_a_cycle_only_the_events_show() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let holder = |owner, name: &str| engine::locks::LockHolder {
        key: LockKey::new(LockCategory::Table, name),
        owner: OwnerId(owner),
        operation: "test".into(),
        mode: LockMode::Write,
        held_ms: 3,
    };
    let snapshot = |waiters| DeadlockSnapshot { holders: vec![holder(1, "t1")], waiters, cycle: None };
    c.on_lock_event(&acquired(1, LockCategory::Table, "t1"), None, AT, &mut found);
    let unheld = DeadlockSnapshot { holders: vec![], waiters: vec![], cycle: None };
    c.on_deadlock_snapshot(false, &unheld, AT, &mut found);
    fires(&std::mem::take(&mut found), Invariant::Locks);
    c.on_lock_event(&waiting(2, LockCategory::Table, "t1"), None, AT, &mut found);
    c.on_deadlock_snapshot(false, &snapshot(vec![waiter(2, LockCategory::Table, "t1")]), AT, &mut found);
    assert_eq!(found, vec![], "the manager lists the announced wait");
    c.on_deadlock_snapshot(false, &snapshot(vec![]), AT, &mut found);
    fires(&std::mem::take(&mut found), Invariant::Locks);
    let extra = vec![waiter(2, LockCategory::Table, "t1"), waiter(3, LockCategory::Table, "t1")];
    c.on_deadlock_snapshot(false, &snapshot(extra), AT, &mut found);
    fires(&std::mem::take(&mut found), Invariant::Locks);
    c.on_deadlock_snapshot(true, &unheld, AT, &mut found);
    assert_eq!(found, vec![], "the second process holds and waits for nothing");
    // Owner 2 holds t2 and owner 1 now waits on it: a cycle the snapshot below does not show.
    c.on_lock_event(&acquired(2, LockCategory::Table, "t2"), None, AT, &mut found);
    c.on_lock_event(&waiting(1, LockCategory::Table, "t2"), None, AT, &mut found);
    let both = vec![waiter(1, LockCategory::Table, "t2"), waiter(2, LockCategory::Table, "t1")];
    let stuck = DeadlockSnapshot { holders: vec![holder(1, "t1"), holder(2, "t2")], waiters: both, cycle: None };
    c.on_deadlock_snapshot(false, &stuck, AT, &mut found);
    fires(&std::mem::take(&mut found), Invariant::Locks);
    let listed = DeadlockSnapshot { cycle: Some(vec![]), ..stuck.clone() };
    c.on_deadlock_snapshot(false, &listed, AT, &mut found);
    assert_eq!(found.len(), 1, "one cycle, the manager's: {found:?}");
    found.clear();
    let abandoned = LockEvent::WaitAbandoned {
        key: LockKey::new(LockCategory::Table, "t2"),
        mode: LockMode::Write,
        owner: OwnerId(1),
        operation: "test".into(),
        waited_us: 5,
    };
    c.on_lock_event(&abandoned, None, AT, &mut found);
    let broken = DeadlockSnapshot { waiters: vec![waiter(2, LockCategory::Table, "t1")], ..stuck };
    c.on_deadlock_snapshot(false, &broken, AT, &mut found);
    assert_eq!(found, vec![], "the abandoned wait broke the cycle");
    c.on_lock_event(&abandoned, None, AT, &mut found);
    fires(&found, Invariant::Locks);
}

#[test]
fn jackpot_fires_on_broken_books_an_overwritten_update_and_a_skipped_version() {
    let key = Key::Jackpot(JackpotGroup::Minor);
    let mut c = checkers(LockStrategy::Coarse);
    let fine = [(key, row(1, pool(10, 10, 0)), row(2, pool(15, 15, 0)))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::JackpotContribute, &fine, 0)).contains(&Invariant::Jackpot));
    let books = [(key, row(1, pool(10, 10, 0)), row(2, pool(16, 15, 0)))];
    fires(&after_txn(&mut c, TxnKind::JackpotContribute, &books, 0), Invariant::Jackpot);
    let overwritten = [(key, row(2, pool(15, 15, 0)), row(3, pool(12, 12, 0)))];
    fires(&after_txn(&mut c, TxnKind::JackpotContribute, &overwritten, 0), Invariant::Jackpot);
    let skipped = [(key, row(1, pool(10, 10, 0)), row(3, pool(15, 15, 0)))];
    fires(&after_txn(&mut c, TxnKind::JackpotContribute, &skipped, 0), Invariant::Jackpot);
}

#[test]
fn jackpot_fires_on_a_win_that_gives_up_its_row_lock_wait_early() {
    let c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    c.jackpot.on_win_lock_timeout(JackpotGroup::Mega, 5_000, 5_000, AT, &mut found);
    c.jackpot.on_win_lock_timeout(JackpotGroup::Mega, 5_120, 5_000, AT, &mut found);
    assert_eq!(found, vec![], "waits that ran the timeout");
    c.jackpot.on_win_lock_timeout(JackpotGroup::Mega, 50, 5_000, AT, &mut found);
    fires(&found, Invariant::Jackpot);
}

#[test]
fn jackpot_fires_on_a_win_refused_for_losing_the_row_lock_it_still_holds() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let Value::Jackpot(mut locked) = pool(10, 10, 0) else { unreachable!() };
    locked.lock_holder = Some("engine/win:w-1:0".into());
    locked.lock_expires_ms = Some(5_000);
    let take = Txn::new(TxnKind::JackpotWinLock).put(Key::Jackpot(JackpotGroup::Minor), Value::Jackpot(locked));
    c.jackpot.after_answered_commit(&take, Ok(()), None, AT, &mut Vec::new());
    c.jackpot.on_win_lock_lost(None, JackpotGroup::Minor, Some("engine/win:w-2:0"), AT, &mut found);
    c.jackpot.on_win_lock_lost(None, JackpotGroup::Minor, None, AT, &mut found);
    c.jackpot.on_win_lock_lost(None, JackpotGroup::Mega, Some("engine/win:w-1:0"), AT, &mut found);
    assert_eq!(found, vec![], "taken over, released, or another pool's");
    c.jackpot.on_win_lock_lost(None, JackpotGroup::Minor, Some("engine/win:w-1:0"), AT, &mut found);
    fires(&found, Invariant::Jackpot);
    found.clear();
    c.jackpot.after_answer(None, Asked::Other);
    c.jackpot.on_win_lock_lost(None, JackpotGroup::Minor, Some("engine/win:w-1:0"), AT, &mut found);
    assert_eq!(found, vec![], "forgotten once its request is answered");
}

#[test]
fn jackpot_fires_on_an_operation_that_retries_a_conflict_before_its_backoff() {
    let mut c = checkers(LockStrategy::Coarse);
    let conflict = StoreError::Conflict { key: Key::House, expected: Some(1), actual: Some(2) };
    let contribute = Txn::new(TxnKind::JackpotContribute);
    let lock = Txn::new(TxnKind::JackpotWinLock);
    let at = |ms: u64| At { trace_index: 0, at_us: ms * 1_000 };
    let mut found = Vec::new();
    // Conflicts at 0 and 100 ms (the first backoff is 100 ms), success at 300 (the second, 200).
    c.jackpot.after_answered_commit(&contribute, Err(&conflict), None, at(0), &mut found);
    c.jackpot.after_answered_commit(&contribute, Err(&conflict), None, at(100), &mut found);
    c.jackpot.after_answered_commit(&contribute, Ok(()), None, at(300), &mut found);
    // The row lock polls without backing off; a fresh operation after a success waits nothing.
    c.jackpot.after_answered_commit(&lock, Err(&conflict), None, at(300), &mut found);
    c.jackpot.after_answered_commit(&lock, Err(&conflict), None, at(301), &mut found);
    c.jackpot.after_answered_commit(&contribute, Ok(()), None, at(302), &mut found);
    assert_eq!(found, vec![], "every retry waited its step");
    c.jackpot.after_answered_commit(&contribute, Err(&conflict), None, at(400), &mut found);
    c.jackpot.after_answered_commit(&contribute, Err(&conflict), None, at(500), &mut found);
    assert_eq!(found, vec![], "the first retry waited 100 ms");
    c.jackpot.after_answered_commit(&contribute, Ok(()), None, at(650), &mut found);
    assert_eq!(invariants(&found), vec![Invariant::Jackpot], "150 ms after the second conflict, owed 200");
}

#[test]
fn liveness_reports_what_has_not_converged() {
    let store = MemoryStore::new();
    let c = checkers(LockStrategy::Coarse);
    let free = LocksInUse::default();
    assert_eq!(c.liveness.pending(&store, free, 0), Vec::<String>::new());
    assert_eq!(c.liveness.pending(&store, LocksInUse { held: 2, waiting: 0 }, 0).len(), 1, "held locks are pending");
    assert_eq!(c.liveness.pending(&store, LocksInUse { held: 0, waiting: 1 }, 0).len(), 1, "so is a lock wait");
    let live = reservation(1, 1, 10, ReservationState::Live);
    let Value::Reservation(owed) = reservation(2, 2, 10, ReservationState::DeadLettered) else { unreachable!() };
    let entry = DlqEntry { id: DlqId(1), reservation: owed, amount: 10, error: "x".into(), created_ms: 0, attempts: 3 };
    let txn = Txn::new(TxnKind::Provision)
        .put(Key::Reservation(ReservationId(1)), live)
        .put(Key::Dlq(DlqId(1)), Value::Dlq(entry));
    store.apply(&txn).unwrap();
    let pending = c.liveness.pending(&store, LocksInUse::default(), 0);
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(pending[0].contains("still live") && pending[1].contains("owes 10 chips"), "{pending:?}");
}

fn dead_letter(attempts: u32, amount: Chips) -> Value {
    let Value::Reservation(owed) = reservation(2, 2, amount, ReservationState::DeadLettered) else { unreachable!() };
    Value::Dlq(DlqEntry { id: DlqId(1), reservation: owed, amount, error: "x".into(), created_ms: 0, attempts })
}

#[test]
fn reservations_fire_on_a_dead_letter_rewritten_other_than_by_one_more_attempt() {
    let key = Key::Dlq(DlqId(1));
    let mut c = checkers(LockStrategy::Coarse);
    let counted = [(key, row(1, dead_letter(2, 10)), row(2, dead_letter(3, 10)))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::WalletDlqAttempt, &counted, 0)).contains(&Invariant::Reservations));
    let uncounted = [(key, row(1, dead_letter(2, 10)), row(2, dead_letter(2, 10)))];
    fires(&after_txn(&mut c, TxnKind::WalletDlqAttempt, &uncounted, 0), Invariant::Reservations);
    let shrunk = [(key, row(1, dead_letter(2, 10)), row(2, dead_letter(3, 9)))];
    fires(&after_txn(&mut c, TxnKind::WalletDlqAttempt, &shrunk, 0), Invariant::Reservations);
    fires(&after_txn(&mut c, TxnKind::StaleWriter, &counted, 0), Invariant::Reservations);
}

/// A transaction of `kind` writing reservation 2 (a refund or its dead letter).
fn refund_txn(kind: TxnKind) -> Txn {
    Txn::new(kind).put(Key::Reservation(ReservationId(2)), reservation(2, 2, 10, ReservationState::RolledBack))
}

#[test]
fn reservations_fire_on_a_refund_dead_lettered_before_its_conflict_retries() {
    let (task, other) = two_task_ids();
    let conflict = StoreError::Conflict { key: Key::Wallet(USER), expected: Some(1), actual: Some(2) };
    let rollback = refund_txn(TxnKind::WalletRollback);
    let dead_letter = refund_txn(TxnKind::WalletDeadLetter);
    let dead_lettered = |c: &mut Checkers, task| {
        let mut found = Vec::new();
        c.after_txn(&TxnView { txn: &dead_letter, changes: &[], now_ms: 0 }, Some(task), AT, &mut found);
        found
    };
    let mut c = checkers(LockStrategy::Coarse);
    c.after_answered_commit(&rollback, Err(&conflict), Some(task), AT, &mut Vec::new());
    assert_eq!(dead_lettered(&mut c, other), vec![], "another task's refund met no conflict");
    fires(&dead_lettered(&mut c, task), Invariant::Reservations);
    for _ in 0..=engine::wallet::CONFLICT_RETRIES_MAX {
        c.after_answered_commit(&rollback, Err(&conflict), Some(task), AT, &mut Vec::new());
    }
    assert_eq!(dead_lettered(&mut c, task), vec![], "every retry made");
    c.after_answered_commit(&rollback, Err(&conflict), Some(task), AT, &mut Vec::new());
    c.after_answered_commit(&rollback, Err(&StoreError::TimedOut), Some(task), AT, &mut Vec::new());
    assert_eq!(dead_lettered(&mut c, task), vec![], "a failure other than a conflict dead-letters at once");
}

#[test]
fn reservations_fire_on_a_request_refused_for_a_conflict_before_its_reserve_retries() {
    let (task, other) = two_task_ids();
    let conflict = StoreError::Conflict { key: Key::Wallet(USER), expected: Some(1), actual: Some(2) };
    let reserve = Txn::new(TxnKind::WalletReserve).put(Key::Wallet(USER), wallet(10));
    let refused = GameError::Store(conflict.clone());
    let answer = |c: &mut Checkers, task, error: &GameError| {
        let mut found = Vec::new();
        c.after_answer(Some(task), Asked::Other, &Reply::Acted(Err(error.clone())), AT, &mut found);
        found
    };
    let mut c = checkers(LockStrategy::Coarse);
    c.after_answered_commit(&reserve, Err(&conflict), Some(task), AT, &mut Vec::new());
    assert_eq!(answer(&mut c, other, &refused), vec![], "another task's reserve met no conflict");
    fires(&answer(&mut c, task, &refused), Invariant::Reservations);
    assert_eq!(answer(&mut c, task, &refused), vec![], "an answer ends the task's reserves");
    for _ in 0..=engine::wallet::CONFLICT_RETRIES_MAX {
        c.after_answered_commit(&reserve, Err(&conflict), Some(task), AT, &mut Vec::new());
    }
    assert_eq!(answer(&mut c, task, &refused), vec![], "every retry made");
    c.after_answered_commit(&reserve, Err(&conflict), Some(task), AT, &mut Vec::new());
    let mut found = Vec::new();
    c.after_txn(&TxnView { txn: &reserve, changes: &[], now_ms: 0 }, Some(task), AT, &mut found);
    assert_eq!(answer(&mut c, task, &refused), vec![], "the retry reserved: the conflict came later");
    c.after_answered_commit(&reserve, Err(&conflict), Some(task), AT, &mut Vec::new());
    let poor = GameError::Wallet(engine::wallet::WalletError::InsufficientFunds { balance: 1, amount: 5 });
    assert_eq!(answer(&mut c, task, &poor), vec![], "the retry found too few chips");
}

/// A seated player's own `/reset`.
const PLAYER_RESET: Asked = Asked::Reset { user: USER, table: TABLE, emergency: false };

#[test]
fn versions_fire_on_a_reset_refused_as_not_an_admin_for_a_right_it_did_not_ask_for() {
    let refused = |c: &mut Checkers, asked: Asked, user| {
        let mut found = Vec::new();
        let reply = Reply::Reset(Err(GameError::NotAdmin { user }));
        c.after_answer(None, asked, &reply, AT, &mut found);
        found
    };
    let mut c = checkers(LockStrategy::Coarse);
    fires(&refused(&mut c, PLAYER_RESET, USER), Invariant::Versions);
    fires(&refused(&mut c, Asked::Reset { user: ADMIN, table: TABLE, emergency: true }, ADMIN), Invariant::Versions);
    let by_a_player = Asked::Reset { user: USER, table: TABLE, emergency: true };
    assert_eq!(refused(&mut c, by_a_player, USER), vec![], "a player's emergency reset is rightly refused");
    let mut found = Vec::new();
    let stranger = Asked::Reset { user: UserId(2), table: TABLE, emergency: false };
    let not_seated = Reply::Reset(Err(GameError::NotSeated { user: UserId(2), table: TABLE }));
    c.after_answer(None, stranger, &not_seated, AT, &mut found);
    assert_eq!(found, vec![], "another reason is not judged here");
}

#[test]
fn versions_fire_on_a_reset_refused_as_not_seated_by_one_who_needs_no_other_seat() {
    let refused = |c: &mut Checkers, asked: Asked| {
        let Asked::Reset { user, table, .. } = asked else { unreachable!("a reset") };
        let mut found = Vec::new();
        let reply = Reply::Reset(Err(GameError::NotSeated { user, table }));
        c.after_answer(None, asked, &reply, AT, &mut found);
        found
    };
    let mut c = checkers(LockStrategy::Coarse);
    fires(&refused(&mut c, PLAYER_RESET), Invariant::Versions);
    fires(&refused(&mut c, Asked::Reset { user: ADMIN, table: TABLE, emergency: true }), Invariant::Versions);
    fires(&refused(&mut c, Asked::Reset { user: ADMIN, table: TABLE, emergency: false }), Invariant::Versions);
    fires(&refused(&mut c, Asked::Reset { user: UserId(2), table: TABLE, emergency: true }), Invariant::Versions);
    let elsewhere = Asked::Reset { user: USER, table: TableId(2), emergency: false };
    assert_eq!(refused(&mut c, elsewhere), vec![], "USER sits at another table only");
    let stranger = Asked::Reset { user: UserId(2), table: TABLE, emergency: false };
    assert_eq!(refused(&mut c, stranger), vec![], "UserId(2) holds a wallet but no seat at TABLE");
}

#[test]
fn versions_fire_on_a_reset_carried_out_for_a_player_who_does_not_sit_there() {
    let (task, _) = two_task_ids();
    let reset = Txn::new(TxnKind::GameReset).put(Key::Table(TABLE), table(hand()));
    let carried_out = |c: &mut Checkers, asked: Asked| {
        c.after_answered_commit(&reset, Ok(()), Some(task), AT, &mut Vec::new());
        let mut found = Vec::new();
        c.after_answer(Some(task), asked, &Reply::Reset(Ok(())), AT, &mut found);
        found
    };
    let mut c = checkers(LockStrategy::Coarse);
    assert_eq!(carried_out(&mut c, PLAYER_RESET), vec![], "a seated player's own /reset");
    let by_admin = Asked::Reset { user: ADMIN, table: TABLE, emergency: false };
    assert_eq!(carried_out(&mut c, by_admin), vec![], "the admin needs no seat");
    let by_admin = Asked::Reset { user: ADMIN, table: TABLE, emergency: true };
    assert_eq!(carried_out(&mut c, by_admin), vec![], "the admin's emergency reset");
    let emergency = Asked::Reset { user: USER, table: TABLE, emergency: true };
    fires(&carried_out(&mut c, emergency), Invariant::Versions);
    let outsider = Asked::Reset { user: UserId(2), table: TABLE, emergency: false };
    fires(&carried_out(&mut c, outsider), Invariant::Versions);
}

#[test]
fn versions_fire_on_an_action_outcome_that_states_another_table_version_than_its_save() {
    let recorded = |request, table_version| {
        let outcome = ActionOutcome { applied: Applied::Fold, chips: 0, table_version, hand_complete: false };
        Value::Request(ProcessedRequest {
            request: RequestId(request),
            user: USER,
            payload_hash: 0,
            outcome: serde_json::to_value(Ok::<_, GameError>(outcome)).unwrap(),
            processed_ms: 0,
            keep_until_ms: 0,
        })
    };
    let saved = |c: &mut Checkers, request, table_version| {
        let changes = [
            (Key::Table(TABLE), row(4, table(hand())), row(5, table(hand()))),
            (Key::Request(RequestId(request)), None, row(1, recorded(request, table_version))),
        ];
        invariants(&after_txn(c, TxnKind::GameAct, &changes, 0)).contains(&Invariant::Versions)
    };
    let mut c = checkers(LockStrategy::Coarse);
    assert!(!saved(&mut c, 1, 5), "the version the save wrote");
    assert!(saved(&mut c, 2, 3), "one the save did not write");
}

#[test]
fn versions_fire_on_a_reset_acknowledged_without_its_save() {
    let (task, other) = two_task_ids();
    let reset = Txn::new(TxnKind::GameReset).put(Key::Table(TABLE), table(hand()));
    let acknowledged = |c: &mut Checkers, task| {
        let mut found = Vec::new();
        c.after_answer(Some(task), PLAYER_RESET, &Reply::Reset(Ok(())), AT, &mut found);
        found
    };
    let mut c = checkers(LockStrategy::Coarse);
    c.after_answered_commit(&reset, Ok(()), Some(task), AT, &mut Vec::new());
    fires(&acknowledged(&mut c, other), Invariant::Versions);
    assert_eq!(acknowledged(&mut c, task), vec![], "saved in the task that answered");
    fires(&acknowledged(&mut c, task), Invariant::Versions);
    c.after_answered_commit(&reset, Err(&StoreError::TimedOut), Some(task), AT, &mut Vec::new());
    fires(&acknowledged(&mut c, task), Invariant::Versions);
}

#[test]
fn versions_fire_on_a_reset_that_retries_a_conflicting_save_too_little_or_too_much() {
    let (task, other) = two_task_ids();
    let conflict = StoreError::Conflict { key: Key::Table(TABLE), expected: Some(1), actual: Some(2) };
    let reset = Txn::new(TxnKind::GameReset).put(Key::Table(TABLE), table(hand()));
    let refused = GameError::Store(conflict.clone());
    let answer = |c: &mut Checkers, task, reply: Reply| {
        let mut found = Vec::new();
        c.after_answer(Some(task), PLAYER_RESET, &reply, AT, &mut found);
        found
    };
    let tries_max = engine::game::RESET_CONFLICT_RETRIES_MAX + 1;
    let mut c = checkers(LockStrategy::Coarse);
    c.after_answered_commit(&reset, Err(&conflict), Some(task), AT, &mut Vec::new());
    assert_eq!(answer(&mut c, other, Reply::Reset(Err(refused.clone()))), vec![], "another task met no conflict");
    fires(&answer(&mut c, task, Reply::Reset(Err(refused.clone()))), Invariant::Versions);
    assert_eq!(answer(&mut c, task, Reply::Reset(Err(refused.clone()))), vec![], "an answer ends the task's reset");
    for _ in 0..tries_max {
        c.after_answered_commit(&reset, Err(&conflict), Some(task), AT, &mut Vec::new());
    }
    assert_eq!(answer(&mut c, task, Reply::Reset(Err(refused.clone()))), vec![], "every retry made");
    c.after_answered_commit(&reset, Err(&conflict), Some(task), AT, &mut Vec::new());
    c.after_answered_commit(&reset, Err(&StoreError::TimedOut), Some(task), AT, &mut Vec::new());
    let timed_out = GameError::Store(StoreError::TimedOut);
    assert_eq!(answer(&mut c, task, Reply::Reset(Err(timed_out))), vec![], "a failure other than a conflict ends it");
    for _ in 0..=tries_max {
        c.after_answered_commit(&reset, Err(&conflict), Some(task), AT, &mut Vec::new());
    }
    c.after_answered_commit(&reset, Ok(()), Some(task), AT, &mut Vec::new());
    fires(&answer(&mut c, task, Reply::Reset(Ok(()))), Invariant::Versions);
}

#[test]
fn jackpot_fires_on_a_raked_hand_or_external_contribution_answered_without_a_contribution_attempt() {
    use engine::jackpot::METRIC_OPERATIONS;
    use engine::metrics::labeled;
    let (task, other) = two_task_ids();
    let mut over = hand();
    over.complete = true;
    over.rake = 3;
    let finished = Txn::new(TxnKind::GameAct).put(Key::Table(TABLE), table(over));
    let mut j = super::jackpot::Jackpot::new(SUPPLY, Some(vec![(JackpotGroup::Minor, 100)]), 100);
    let attempts = |statuses: &[&str]| {
        let mut metrics = MetricsSnapshot::default();
        for status in statuses {
            let name = labeled(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", status)]);
            *metrics.counters.entry(name).or_default() += 1;
        }
        metrics
    };
    let check = |j: &super::jackpot::Jackpot, metrics: &MetricsSnapshot| {
        let mut found = Vec::new();
        j.check_metrics(metrics, AT, &mut found);
        found
    };
    j.after_answered_commit(&finished, Ok(()), Some(task), AT, &mut Vec::new());
    j.after_answered_commit(&finished, Err(&StoreError::TimedOut), Some(other), AT, &mut Vec::new());
    j.after_answer(Some(other), Asked::Other);
    assert_eq!(check(&j, &attempts(&[])), vec![], "the finishing task has not answered yet; the other saw no save");
    j.after_answer(Some(task), Asked::Other);
    fires(&check(&j, &attempts(&[])), Invariant::Jackpot);
    assert_eq!(check(&j, &attempts(&["store_error"])), vec![], "tried and failed is honest");
    j.after_answered_commit(&finished, Ok(()), Some(other), AT, &mut Vec::new());
    j.after_answer(Some(other), Asked::JackpotContribute);
    assert_eq!(check(&j, &attempts(&["success", "duplicate"])), vec![], "the same hand is owed once");
    fires(&check(&j, &attempts(&["success"])), Invariant::Jackpot);
    let mut off = super::jackpot::Jackpot::new(SUPPLY, None, 100);
    off.after_answered_commit(&finished, Ok(()), Some(task), AT, &mut Vec::new());
    off.after_answer(Some(task), Asked::Other);
    assert_eq!(check(&off, &attempts(&[])), vec![], "no jackpot, nothing owed");
}

#[test]
fn jackpot_fires_on_metrics_that_do_not_count_what_the_engine_saw() {
    use engine::jackpot::{METRIC_CONFLICTS, METRIC_OPERATIONS, METRIC_RETRIES};
    use engine::metrics::labeled;
    let conflict = StoreError::Conflict { key: Key::House, expected: Some(1), actual: Some(2) };
    let contribute = Txn::new(TxnKind::JackpotContribute);
    let lock = Txn::new(TxnKind::JackpotWinLock);
    let mut c = checkers(LockStrategy::Coarse);
    // One contribution retried once and applied; one given up after its conflict; a win's row
    // lock met one conflict and polled.
    c.after_answered_commit(&contribute, Err(&conflict), None, AT, &mut Vec::new());
    c.after_answered_commit(&contribute, Ok(()), None, AT, &mut Vec::new());
    c.after_answered_commit(&contribute, Err(&conflict), None, AT, &mut Vec::new());
    c.after_answered_commit(&lock, Err(&conflict), None, AT, &mut Vec::new());
    c.after_answered_commit(&contribute, Err(&StoreError::TimedOut), None, AT, &mut Vec::new());
    let honest = || {
        let mut metrics = MetricsSnapshot::default();
        let mut set =
            |name: &str, labels: &[(&str, &str)], value| metrics.counters.insert(labeled(name, labels), value);
        set(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "success")], 1);
        set(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "concurrency_violation")], 1);
        set(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "store_error")], 1);
        set(METRIC_CONFLICTS, &[("operation", "contribute")], 2);
        set(METRIC_CONFLICTS, &[("operation", "win")], 1);
        set(METRIC_RETRIES, &[("operation", "contribute")], 1);
        metrics
    };
    let check = |c: &Checkers, metrics: &MetricsSnapshot| {
        let mut found = Vec::new();
        c.jackpot.check_metrics(metrics, AT, &mut found);
        found
    };
    let mut one_retry_short = honest();
    one_retry_short.counters.remove(&labeled(METRIC_RETRIES, &[("operation", "contribute")]));
    assert_eq!(check(&c, &one_retry_short), vec![], "the operation still running may not have counted its retry");
    c.jackpot.after_answer(None, Asked::Other);
    assert_eq!(check(&c, &honest()), vec![], "the counters count what the engine saw");
    let mut no_retries = honest();
    no_retries.counters.remove(&labeled(METRIC_RETRIES, &[("operation", "contribute")]));
    fires(&check(&c, &no_retries), Invariant::Jackpot);
    let mut all_duplicates = honest();
    all_duplicates.counters.remove(&labeled(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "success")]));
    all_duplicates
        .counters
        .insert(labeled(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "duplicate")]), 1);
    fires(&check(&c, &all_duplicates), Invariant::Jackpot);
    let mut lock_uncounted = honest();
    lock_uncounted.counters.remove(&labeled(METRIC_CONFLICTS, &[("operation", "win")]));
    fires(&check(&c, &lock_uncounted), Invariant::Jackpot);
}

#[test]
fn reservations_fire_on_an_expiry_metric_that_does_not_count_the_expiries() {
    let mut c = checkers(LockStrategy::Coarse);
    let expire = refund_txn(TxnKind::WalletExpire);
    c.after_answered_commit(&expire, Ok(()), None, AT, &mut Vec::new());
    c.after_answered_commit(&refund_txn(TxnKind::WalletRollback), Ok(()), None, AT, &mut Vec::new());
    let mut metrics = MetricsSnapshot::default();
    metrics.counters.insert(engine::wallet::METRIC_EXPIRED_TOTAL.into(), 1);
    let mut found = Vec::new();
    c.reservations.at_end(&metrics, AT, &mut found);
    assert_eq!(found, vec![], "one expiry, counted once");
    metrics.counters.insert(engine::wallet::METRIC_EXPIRED_TOTAL.into(), 2);
    c.reservations.at_end(&metrics, AT, &mut found);
    fires(&found, Invariant::Reservations);
}

#[test]
fn reservations_fire_on_a_commit_counter_short_of_the_commits_answered_requests_saw() {
    use engine::wallet::METRIC_COMMIT_TOTAL;
    let (task, other) = two_task_ids();
    let act = Txn::new(TxnKind::GameAct)
        .put(Key::Reservation(ReservationId(2)), reservation(2, 2, 10, ReservationState::Committed));
    let mut c = checkers(LockStrategy::Coarse);
    c.after_answered_commit(&act, Ok(()), Some(task), AT, &mut Vec::new());
    c.after_answered_commit(&act, Err(&StoreError::TimedOut), Some(other), AT, &mut Vec::new());
    let successes = |n| {
        let mut metrics = MetricsSnapshot::default();
        metrics.counters.insert(engine::metrics::labeled(METRIC_COMMIT_TOTAL, &[("status", "success")]), n);
        metrics
    };
    let at_end = |c: &Checkers, metrics: &MetricsSnapshot| {
        let mut found = Vec::new();
        c.reservations.at_end(metrics, AT, &mut found);
        found
    };
    assert_eq!(at_end(&c, &successes(0)), vec![], "the committing task has not answered yet");
    let mut found = Vec::new();
    c.after_answer(
        Some(other),
        Asked::Other,
        &Reply::Acted(Err(GameError::Store(StoreError::TimedOut))),
        AT,
        &mut found,
    );
    c.after_answer(Some(task), Asked::Other, &Reply::Stats(Err(GameError::NotEnoughPlayers)), AT, &mut found);
    fires(&at_end(&c, &successes(0)), Invariant::Reservations);
    assert_eq!(at_end(&c, &successes(1)), vec![], "counted once");
    assert_eq!(at_end(&c, &successes(2)), vec![], "a design may count its separate wallet commit too");
}

#[test]
fn jackpot_fires_on_an_operation_that_gives_up_on_conflicts_before_its_retries() {
    let c = checkers(LockStrategy::Coarse);
    let refusal = |attempts, group, key| engine::jackpot::ConcurrencyViolationError {
        operation: "contribute".into(),
        group,
        conflict_details: engine::jackpot::ConflictDetails { key, expected: Some(1), actual: Some(2), attempts },
    };
    let pool = Key::Jackpot(JackpotGroup::Minor);
    let mut found = Vec::new();
    c.jackpot.on_retries_exhausted(&refusal(4, Some(JackpotGroup::Minor), pool), 3, AT, &mut found);
    c.jackpot.on_retries_exhausted(&refusal(4, None, Key::House), 3, AT, &mut found);
    assert_eq!(found, vec![], "three retries after the first attempt, the pool named right");
    c.jackpot.on_retries_exhausted(&refusal(3, Some(JackpotGroup::Minor), pool), 3, AT, &mut found);
    fires(&found, Invariant::Jackpot);
    let mut found = Vec::new();
    c.jackpot.on_retries_exhausted(&refusal(4, None, pool), 3, AT, &mut found);
    fires(&found, Invariant::Jackpot);
    let mut found = Vec::new();
    c.jackpot.on_retries_exhausted(&refusal(4, Some(JackpotGroup::Minor), Key::House), 3, AT, &mut found);
    fires(&found, Invariant::Jackpot);
}

fn wallet_of(user: UserId, balance: Chips) -> Value {
    Value::Wallet(Wallet { user, balance })
}

#[test]
fn wallet_ledger_fires_on_chips_in_the_wrong_wallet_even_when_the_sum_holds() {
    let mut c = checkers(LockStrategy::Coarse);
    let moved = [
        (Key::Wallet(USER), row(1, wallet_of(USER, 0)), row(2, wallet_of(USER, 0))),
        (Key::Wallet(UserId(2)), row(1, wallet_of(UserId(2), 0)), row(2, wallet_of(UserId(2), 0))),
    ];
    assert!(!invariants(&after_txn(&mut c, TxnKind::JackpotWinLock, &moved, 0)).contains(&Invariant::WalletLedger));
    // Ten chips leave user 1's reservation and land in user 2's wallet: the sum is intact.
    let misrouted = [
        (Key::Reservation(ReservationId(1)), row(1, reservation(1, 1, 10, ReservationState::Live)), None),
        (Key::Wallet(UserId(2)), row(2, wallet_of(UserId(2), 0)), row(3, wallet_of(UserId(2), 10))),
    ];
    let found = after_txn(&mut c, TxnKind::WalletRollback, &misrouted, 0);
    fires(&found, Invariant::WalletLedger);
    assert!(!invariants(&found).contains(&Invariant::Conservation), "the sum holds: {found:?}");
    let message = &found.iter().find(|v| v.invariant == Invariant::WalletLedger).unwrap().message;
    assert!(message.contains("user-1") && message.contains("user-2"), "both wallets named: {message}");
}

#[test]
fn wallet_ledger_fires_on_a_hand_save_that_rewrites_a_wallet_it_moves_no_chip_of() {
    let idle = [(Key::Wallet(USER), row(1, wallet_of(USER, 40)), row(2, wallet_of(USER, 40)))];
    for kind in [TxnKind::GameStart, TxnKind::GameAct, TxnKind::GameSave, TxnKind::GameReset] {
        let mut c = checkers(LockStrategy::Coarse);
        fires(&after_txn(&mut c, kind, &idle, 0), Invariant::WalletLedger);
    }
    let mut c = checkers(LockStrategy::Coarse);
    let found = after_txn(&mut c, TxnKind::JackpotWinPay, &idle, 0);
    assert!(!invariants(&found).contains(&Invariant::WalletLedger), "a win of nothing may write it: {found:?}");
}

#[test]
fn wallet_ledger_accepts_a_hand_result_and_recounts_every_wallet_at_the_end() {
    let mut finished = hand();
    while let Some(actor) = finished.actor() {
        finished.apply(actor, Action::AllIn).unwrap();
    }
    let Value::Table(mut record) = table(finished.clone()) else { unreachable!() };
    Arc::make_mut(&mut record).escrow = 0;
    // The hand ends: what each had put in leaves the table, and each wallet moves by the
    // player's result plus what it had put in before — explained by the hand alone.
    let started = hand();
    let mut changes = vec![(Key::Table(TABLE), row(1, table(started.clone())), row(2, Value::Table(record)))];
    for (p, user) in [USER, UserId(2)].into_iter().enumerate() {
        let put_in = started.players[p].starting_stack - started.players[p].stack;
        let result = finished.players[p].stack as i64 - finished.players[p].starting_stack as i64;
        let after = (1_000 + result + put_in as i64) as Chips;
        changes.push((Key::Wallet(user), row(1, wallet_of(user, 1_000)), row(2, wallet_of(user, after))));
    }
    let mut c = checkers(LockStrategy::Coarse);
    let found = after_txn(&mut c, TxnKind::GameAct, &changes, 0);
    assert!(!invariants(&found).contains(&Invariant::WalletLedger), "{found:?}");

    let store = MemoryStore::new();
    store.apply(&Txn::new(TxnKind::Provision).put(Key::Wallet(USER), wallet_of(USER, 0))).unwrap();
    store.apply(&Txn::new(TxnKind::Provision).put(Key::Wallet(UserId(3)), wallet_of(UserId(3), 5))).unwrap();
    let mut found = Vec::new();
    checkers(LockStrategy::Coarse).at_end(&store, &MetricsSnapshot::default(), AT, &mut found);
    fires(&found, Invariant::WalletLedger);
    assert!(found.iter().any(|v| v.message.contains("user-3")), "a wallet nobody opened: {found:?}");
}

#[test]
fn atomicity_fires_on_a_refused_transaction_that_changed_a_key() {
    let txn = Txn::new(TxnKind::GameAct).put(Key::Wallet(USER), wallet(5));
    let before = super::atomicity::rows_before(&txn, |_| row(1, wallet(10)));
    let error = engine::store::StoreError::TimedOut;
    assert_eq!(super::atomicity::check_refused(&txn, &error, &before, |_| row(1, wallet(10)), AT), None);
    let partial = super::atomicity::check_refused(&txn, &error, &before, |_| row(2, wallet(5)), AT);
    fires(&partial.into_iter().collect::<Vec<_>>(), Invariant::Atomicity);
}

fn released(owner: u64, category: LockCategory, name: &str) -> LockEvent {
    LockEvent::Released {
        key: LockKey::new(category, name),
        mode: LockMode::Write,
        owner: OwnerId(owner),
        operation: "test".into(),
        held_us: 0,
    }
}

/// Two distinct tokio task IDs (they exist only inside a runtime).
fn two_task_ids() -> (tokio::task::Id, tokio::task::Id) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let a = tokio::spawn(async { tokio::task::id() }).await.unwrap();
        let b = tokio::spawn(async { tokio::task::id() }).await.unwrap();
        (a, b)
    })
}

#[test]
fn lock_exclusivity_fires_on_overlapping_holds_a_foreign_release_and_an_unlocked_save() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    c.on_lock_event(&acquired(1, LockCategory::Table, "table-1"), None, AT, &mut found);
    c.on_lock_event(&released(1, LockCategory::Table, "table-1"), None, AT, &mut found);
    c.on_lock_event(&acquired(2, LockCategory::Table, "table-1"), None, AT, &mut found);
    assert_eq!(found, vec![], "one after the other");
    c.on_lock_event(&acquired(3, LockCategory::Table, "table-1"), None, AT, &mut found);
    fires(&found, Invariant::LockExclusivity);

    let mut found = Vec::new();
    c.on_lock_event(&released(9, LockCategory::Pot, "table-1"), None, AT, &mut found);
    fires(&found, Invariant::LockExclusivity);

    let (holder, other) = two_task_ids();
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    c.on_lock_event(&acquired(1, LockCategory::Table, "table-1"), Some(holder), AT, &mut found);
    let save = [(Key::Table(TABLE), row(1, table(hand())), row(2, table(hand())))];
    let txn = Txn::new(TxnKind::GameAct);
    let view = TxnView { txn: &txn, changes: &save, now_ms: 0 };
    c.exclusivity.after_txn(&view, Some(holder), AT, &mut found);
    assert_eq!(found, vec![], "saved by the holder");
    c.exclusivity.after_txn(&view, Some(other), AT, &mut found);
    fires(&found, Invariant::LockExclusivity);
}

fn metrics_with_hold(category: LockCategory, hold_ms: &[u64]) -> MetricsSnapshot {
    let mut histogram = engine::metrics::LatencyHistogram::default();
    for ms in hold_ms {
        histogram.record_us(ms * 1_000);
    }
    let name = engine::metrics::labeled(engine::locks::METRIC_LOCK_HOLD, &[("category", category.as_str())]);
    MetricsSnapshot { histograms: [(name, histogram)].into(), ..MetricsSnapshot::default() }
}

#[test]
fn budgets_fire_over_their_limit_with_the_measured_value() {
    let budgets: super::Budgets =
        toml::from_str("lock_hold_p99_ms = { stage = 200 }\nlock_timeouts_max = { table = 0 }").unwrap();
    let mut found = Vec::new();
    budgets.check(&metrics_with_hold(LockCategory::Stage, &[10, 20, 150]), &PartitionWaits::default(), AT, &mut found);
    assert_eq!(found, vec![]);
    budgets.check(&metrics_with_hold(LockCategory::Stage, &[10, 20, 900]), &PartitionWaits::default(), AT, &mut found);
    fires(&found, Invariant::Budget);
    assert!(found[0].message.contains("stage") && found[0].message.contains("200 ms"), "{found:?}");

    let timeouts = table_lock_timeouts(2);
    let mut found = Vec::new();
    budgets.check(&timeouts, &PartitionWaits::default(), AT, &mut found);
    fires(&found, Invariant::Budget);
}

/// Metrics whose only figure is `count` acquire timeouts of table locks.
fn table_lock_timeouts(count: u64) -> MetricsSnapshot {
    let mut metrics = MetricsSnapshot::default();
    let name = engine::metrics::labeled(
        engine::locks::METRIC_LOCK_ACQUIRE,
        &[("category", "table"), ("status", engine::locks::STATUS_TIMEOUT)],
    );
    metrics.counters.insert(name, count);
    metrics
}

#[test]
fn lock_timeouts_through_a_store_partition_are_set_aside_and_the_rest_still_fire() {
    let budgets: Budgets = toml::from_str("lock_timeouts_max = { table = 1 }").unwrap();
    let timeouts = table_lock_timeouts(4);
    let mut waits = PartitionWaits::default();
    for _ in 0..3 {
        waits.timed_out(LockCategory::Table);
    }
    let mut found = Vec::new();
    budgets.check(&timeouts, &waits, AT, &mut found);
    assert_eq!(found, vec![], "one timeout outside a partition is within the budget of one");
    let mut fewer = PartitionWaits::default();
    fewer.timed_out(LockCategory::Table);
    fewer.timed_out(LockCategory::Stage);
    budgets.check(&timeouts, &fewer, AT, &mut found);
    fires(&found, Invariant::Budget);
    assert!(found[0].message.contains("is 3") && found[0].message.contains("besides 1"), "{found:?}");
}

#[test]
fn at_most_once_fires_when_a_jackpot_duplicate_is_not_answered_with_the_first_outcome() {
    use crate::protocol::{JackpotAnswer, JackpotRefusal, JackpotRefusalCause};
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let first = JackpotAnswer::Contributed { to_pools: 4, attempts: 1, duplicate: false };
    let replay = JackpotAnswer::Contributed { to_pools: 4, attempts: 1, duplicate: true };
    let store_down = JackpotRefusal { cause: JackpotRefusalCause::Store, message: "store unavailable".into() };
    c.at_most_once.on_jackpot_duplicate("load-1", &first, &Ok(replay), AT, &mut found);
    c.at_most_once.on_jackpot_duplicate("load-1", &first, &Err(store_down), AT, &mut found);
    assert_eq!(found, vec![], "a replay, or a store refusal, is a right answer");
    let conflict = JackpotRefusal { cause: JackpotRefusalCause::Other, message: "concurrency violation".into() };
    c.at_most_once.on_jackpot_duplicate("load-1", &first, &Err(conflict), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
    let mut found = Vec::new();
    let again = JackpotAnswer::Contributed { to_pools: 4, attempts: 1, duplicate: false };
    c.at_most_once.on_jackpot_duplicate("load-1", &first, &Ok(again), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
    assert!(found[0].message.contains("load-1"), "{found:?}");

    let mut found = Vec::new();
    let reused = JackpotRefusal { cause: JackpotRefusalCause::IdReused, message: "reused".into() };
    c.at_most_once.on_jackpot_reused("win-3", &Err(reused), AT, &mut found);
    assert_eq!(found, vec![], "refused as reused");
    let paid = JackpotAnswer::Won { paid: 9, pool_after: 1, duplicate: false };
    c.at_most_once.on_jackpot_reused("win-3", &Ok(paid), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
}

#[test]
fn at_most_once_fires_when_a_reused_request_id_is_not_refused() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    c.at_most_once.on_reused_reply(RequestId(7), &Err(GameError::RequestReused), AT, &mut found);
    c.at_most_once.on_reused_reply(RequestId(7), &Err(GameError::InProgress), AT, &mut found);
    assert_eq!(found, vec![], "refused, or not final yet");
    let executed = ActionOutcome { applied: Applied::Fold, chips: 0, table_version: 3, hand_complete: false };
    c.at_most_once.on_reused_reply(RequestId(7), &Ok(executed), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
}

#[test]
fn at_most_once_fires_when_two_payloads_sent_at_once_are_both_taken() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let folded = ActionOutcome { applied: Applied::Fold, chips: 0, table_version: 3, hand_complete: false };
    let checked =
        ActionOutcome { applied: Applied::CheckOrCall { amount: 0 }, chips: 0, table_version: 4, hand_complete: false };
    // Either copy may win the ID; the other is refused as reused.
    c.at_most_once.on_racing_answered(RequestId(7), &Ok(folded), &Err(GameError::RequestReused), AT, &mut found);
    c.at_most_once.on_racing_answered(RequestId(8), &Err(GameError::RequestReused), &Ok(checked), AT, &mut found);
    let stale = Err(GameError::StaleHand { requested: 1, current: 2 });
    c.at_most_once.on_racing_answered(RequestId(9), &stale, &Err(GameError::RequestReused), AT, &mut found);
    assert_eq!(found, vec![], "one payload each");
    c.at_most_once.on_racing_answered(RequestId(10), &Ok(folded), &Ok(checked), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
    found.clear();
    // The other payload's own answers agree with each other, as the first copy's do.
    c.at_most_once.on_racing_reply(RequestId(8), &Ok(checked), AT, &mut found);
    c.at_most_once.on_racing_reply(RequestId(8), &Err(GameError::InProgress), AT, &mut found);
    c.at_most_once.on_racing_reply(RequestId(8), &Ok(checked), AT, &mut found);
    assert_eq!(found, vec![], "the same outcome again");
    c.at_most_once.on_racing_reply(RequestId(8), &Err(GameError::RequestReused), AT, &mut found);
    fires(&found, Invariant::AtMostOnce);
}

#[test]
fn rules_fire_on_an_odd_chip_paid_to_any_winner_but_the_first() {
    let mut game = GameState::start(TableConfig::new(5, 10), &[100, 100, 100], Deck::ordered()).unwrap();
    while let Some(actor) = game.actor() {
        game.apply(actor, Action::AllIn).unwrap();
    }
    // A board that plays for both live players (a royal flush), a folded small blind's 5 chips
    // of dead money: an odd pot split two ways.
    game.board = engine::cards::Card::parse_many("AsKsQsJsTs").unwrap();
    for (player, contributed, folded) in [(0, 100, false), (1, 100, false), (2, 5, true)] {
        game.players[player].contributed = contributed;
        game.players[player].folded = folded;
    }
    let (expected, rake) = super::rules::expected_payouts(&game).unwrap();
    assert_eq!(expected[0], expected[1] + 1, "the odd chip to the first winner: {expected:?}");
    game.rake = rake;
    for (player, won) in expected.iter().enumerate() {
        game.players[player].won = *won;
    }
    assert_eq!(super::rules::check_payouts(&game), Ok(()));
    game.players[0].won -= 1;
    game.players[1].won += 1;
    assert!(super::rules::check_payouts(&game).is_err(), "the odd chip to the second winner must be refused");
}

fn contribution(table: u64, hand_number: u64, rake: Chips, share: Chips) -> Value {
    let outcome = engine::jackpot::ContributeOutcome {
        operation_id: format!("table-{table}-hand-{hand_number}"),
        contribution: engine::jackpot::Contribution::Hand { table: TableId(table), hand_number },
        rake,
        split: engine::jackpot::RakeSplit {
            shares: vec![(JackpotGroup::Minor, share)],
            house_kept: rake.saturating_sub(share),
        },
        attempts: 1,
        duplicate: false,
    };
    Value::Request(ProcessedRequest {
        request: RequestId(hand_number),
        user: UserId(0),
        payload_hash: 0,
        outcome: serde_json::to_value(outcome).unwrap(),
        processed_ms: 0,
        keep_until_ms: 0,
    })
}

fn external_contribution(request: u64, rake: Chips, minor_share: Chips) -> Value {
    let Value::Request(mut record) = contribution(1, request, rake, minor_share) else { unreachable!() };
    let mut outcome: engine::jackpot::ContributeOutcome = serde_json::from_value(record.outcome).unwrap();
    outcome.contribution = engine::jackpot::Contribution::External { operation: format!("op-{request}") };
    outcome.split.shares =
        JackpotGroup::ALL.iter().map(|&g| (g, if g == JackpotGroup::Minor { minor_share } else { 0 })).collect();
    record.outcome = serde_json::to_value(outcome).unwrap();
    Value::Request(record)
}

#[test]
fn jackpot_fires_on_a_split_that_is_not_the_stored_shares() {
    let mut c = checkers(LockStrategy::Coarse);
    let config = engine::store::JackpotConfig { share_bps: vec![(JackpotGroup::Minor, 1_000)], last_modified_ms: 0 };
    after_txn(&mut c, TxnKind::Provision, &[(Key::JackpotConfig, None, row(1, Value::JackpotConfig(config)))], 0);
    let key = Key::Jackpot(JackpotGroup::Minor);
    let right = [
        (Key::Request(RequestId(1)), None, row(1, external_contribution(1, 105, 10))),
        (key, row(1, pool(0, 0, 0)), row(2, pool(10, 10, 0))),
    ];
    let found = after_txn(&mut c, TxnKind::JackpotContribute, &right, 0);
    assert!(!invariants(&found).contains(&Invariant::Jackpot), "10 % of 105, rounded down: {found:?}");
    let wrong = [
        (Key::Request(RequestId(2)), None, row(1, external_contribution(2, 100, 12))),
        (key, row(2, pool(10, 10, 0)), row(3, pool(22, 22, 0))),
    ];
    fires(&after_txn(&mut c, TxnKind::JackpotContribute, &wrong, 0), Invariant::Jackpot);
}

fn win(request: u64, requested: Chips, paid: Chips, pool_after: Chips) -> Value {
    let outcome = engine::jackpot::WinOutcome {
        win_id: format!("w-{request}"),
        group: JackpotGroup::Minor,
        user: UserId(1),
        requested,
        paid,
        pool_after,
        duplicate: false,
    };
    Value::Request(ProcessedRequest {
        request: RequestId(request),
        user: UserId(1),
        payload_hash: 0,
        outcome: serde_json::to_value(outcome).unwrap(),
        processed_ms: 0,
        keep_until_ms: 0,
    })
}

#[test]
fn jackpot_fires_on_a_win_that_pays_other_than_its_request_capped_by_the_pool() {
    let mut c = checkers(LockStrategy::Coarse);
    let key = Key::Jackpot(JackpotGroup::Minor);
    let paid = |c: &mut Checkers, request, requested, paid, pool_after, before: (Chips, u64), after: Chips| {
        let (held, version) = before;
        let changes = [
            (Key::Request(RequestId(request)), None, row(1, win(request, requested, paid, pool_after))),
            (key, row(version, pool(held, 100, 100 - held)), row(version + 1, pool(after, 100, 100 - after))),
        ];
        invariants(&after_txn(c, TxnKind::JackpotWinPay, &changes, 0)).contains(&Invariant::Jackpot)
    };
    assert!(!paid(&mut c, 1, 30, 30, 70, (100, 1), 70), "the request, within the pool");
    assert!(!paid(&mut c, 2, 500, 70, 0, (70, 2), 0), "capped by the pool");
    assert!(paid(&mut c, 3, 30, 0, 70, (70, 3), 70), "paid nothing");
    assert!(paid(&mut c, 4, 30, 20, 50, (70, 4), 50), "paid less than asked of a pool that had it");
    assert!(paid(&mut c, 5, 30, 30, 45, (70, 5), 40), "stated another pool than it left");
}

#[test]
fn jackpot_fires_on_a_hand_contributed_twice_or_not_for_its_rake() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut finished = hand();
    while let Some(actor) = finished.actor() {
        finished.apply(actor, Action::AllIn).unwrap();
    }
    let rake = finished.rake;
    let Value::Table(mut record) = table(finished) else { unreachable!() };
    Arc::make_mut(&mut record).escrow = 0;
    let ended = [(Key::Table(TABLE), row(1, table(hand())), row(2, Value::Table(record)))];
    after_txn(&mut c, TxnKind::GameAct, &ended, 0);
    let key = Key::Jackpot(JackpotGroup::Minor);
    let once = [
        (Key::Request(RequestId(1)), None, row(1, contribution(1, 1, rake, 1))),
        (key, row(1, pool(0, 0, 0)), row(2, pool(1, 1, 0))),
    ];
    let found = after_txn(&mut c, TxnKind::JackpotContribute, &once, 0);
    assert!(!invariants(&found).contains(&Invariant::Jackpot), "{found:?}");
    let twice = [
        (Key::Request(RequestId(2)), None, row(1, contribution(1, 1, rake, 1))),
        (key, row(2, pool(1, 1, 0)), row(3, pool(2, 2, 0))),
    ];
    fires(&after_txn(&mut c, TxnKind::JackpotContribute, &twice, 0), Invariant::Jackpot);
    let wrong_rake = [
        (Key::Request(RequestId(3)), None, row(1, contribution(1, 2, rake + 5, 1))),
        (key, row(3, pool(2, 2, 0)), row(4, pool(3, 3, 0))),
    ];
    fires(&after_txn(&mut c, TxnKind::JackpotContribute, &wrong_rake, 0), Invariant::Jackpot);
}

#[test]
fn versions_fire_on_an_engine_save_that_drops_another_writers_spectator() {
    let mut c = checkers(LockStrategy::Coarse);
    let Value::Table(mut watched) = table(hand()) else { unreachable!() };
    Arc::make_mut(&mut watched).seats.push(crate::layout::spectator_of(TABLE));
    let joined = [(Key::Table(TABLE), row(1, table(hand())), row(2, Value::Table(watched.clone())))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::StaleWriter, &joined, 0)).contains(&Invariant::Versions));
    let lost = [(Key::Table(TABLE), row(2, Value::Table(watched)), row(3, table(hand())))];
    fires(&after_txn(&mut c, TxnKind::GameAct, &lost, 0), Invariant::Versions);
}

#[test]
fn liveness_counts_a_jackpot_row_lock_until_its_lease_runs_out() {
    let store = MemoryStore::new();
    let Value::Jackpot(mut locked) = pool(10, 10, 0) else { unreachable!() };
    locked.lock_holder = Some("engine/win:w-1:0".into());
    locked.lock_expires_ms = Some(5_000);
    store.apply(&Txn::new(TxnKind::Provision).put(Key::Jackpot(JackpotGroup::Minor), Value::Jackpot(locked))).unwrap();
    let c = checkers(LockStrategy::Coarse);
    assert_eq!(c.liveness.pending(&store, LocksInUse::default(), 4_999).len(), 1, "held");
    assert_eq!(c.liveness.pending(&store, LocksInUse::default(), 5_000), Vec::<String>::new(), "its lease ran out");
}

#[test]
fn locks_fire_on_the_probes_out_of_order_acquire_only_when_the_hierarchy_is_enforced() {
    let probe = |owner: u64, category, name: &str| LockEvent::Acquired {
        key: LockKey::new(category, name),
        mode: LockMode::Write,
        owner: OwnerId(owner),
        operation: crate::faults::lock_probe::PROBE_OPERATION.into(),
        waited_us: 0,
    };
    for (enforce_hierarchy, fired) in [(false, false), (true, true)] {
        let settings = CheckerSettings {
            supply: SUPPLY,
            users: vec![],
            balance: 0,
            lock_strategy: LockStrategy::Coarse,
            lock_config: LockConfig { enforce_hierarchy, ..LockConfig::default() },
            budgets: Budgets::default(),
            jackpot_share_bps: None,
            clock_offset_ms_max: 0,
            seats: BTreeMap::new(),
            jackpot_backoff_base_ms: 100,
        };
        let mut c = Checkers::new(&settings);
        let mut found = Vec::new();
        c.on_lock_event(&probe(1, LockCategory::Player, "probe-1"), None, AT, &mut found);
        c.on_lock_event(&probe(1, LockCategory::Table, "probe-1"), None, AT, &mut found);
        assert_eq!(invariants(&found).contains(&Invariant::Locks), fired, "enforced: {enforce_hierarchy}: {found:?}");
    }
}

/// The wallet of `USER` going from `before` to `after` chips at trace event `index`.
fn wallet_write(c: &mut Checkers, before: Chips, after: Chips, index: u64) {
    let changes = [(Key::Wallet(USER), row(1, wallet(before)), row(2, wallet(after)))];
    let txn = Txn::new(TxnKind::WalletReserve);
    let view = TxnView { txn: &txn, changes: &changes, now_ms: 0 };
    c.reads.after_txn(&view, At { trace_index: index, at_us: index * 1_000 });
}

#[test]
fn reads_fire_on_a_balance_the_wallet_never_held_while_the_request_was_in_flight() {
    use engine::wallet::WalletError;
    let mut c = checkers(LockStrategy::Coarse);
    wallet_write(&mut c, 0, 500, 10);
    wallet_write(&mut c, 500, 300, 20);
    wallet_write(&mut c, 300, 200, 30);
    let answered = |index| At { trace_index: index, at_us: index * 1_000 };
    let read = |c: &Checkers, sent_len, balance, index| {
        let mut found = Vec::new();
        c.reads.on_balance(USER, sent_len, &Ok(balance), answered(index), &mut found);
        found
    };
    // Sent after event 15, answered at 25: the wallet held 500, then 300.
    assert!(read(&c, 16, 500, 25).is_empty());
    assert!(read(&c, 16, 300, 25).is_empty());
    reads_fire(&read(&c, 16, 200, 25)); // not yet taken
    reads_fire(&read(&c, 21, 500, 35)); // gone before the send
    reads_fire(&read(&c, 16, 0, 25)); // never held in the window
    assert!(read(&c, 0, 0, 5).is_empty(), "the opening balance (0 here) before any write");

    // Refusals: justified by a balance held since the request ID was first sent.
    let refused = |balance, amount| GameError::Wallet(WalletError::InsufficientFunds { balance, amount });
    c.reads.on_send(RequestId(9), 16);
    let refuse = |c: &Checkers, error: &GameError| {
        let mut found = Vec::new();
        c.reads.on_action_refused(USER, RequestId(9), error, answered(40), &mut found);
        found
    };
    assert!(refuse(&c, &refused(300, 301)).is_empty());
    assert!(refuse(&c, &GameError::NotEnoughPlayers).is_empty());
    reads_fire(&refuse(&c, &refused(300, 300))); // an over-refusal
    reads_fire(&refuse(&c, &refused(250, 400))); // a balance never held
    c.reads.on_send(RequestId(9), 35); // a later copy keeps the first send's window
    assert!(refuse(&c, &refused(500, 600)).is_empty());
}

#[test]
fn reads_fire_on_a_seated_players_balance_refused_as_not_seated() {
    let c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    c.reads.on_balance(USER, 0, &Err(GameError::NotSeated { user: USER, table: TABLE }), AT, &mut found);
    fires(&found, Invariant::Reads);
}

#[test]
fn reads_fire_on_a_start_refused_for_players_while_two_seated_players_held_chips() {
    let seats = BTreeMap::from([(TABLE, BTreeSet::from([USER, UserId(2), UserId(3)]))]);
    let mut reads = super::reads::Reads::new([USER, UserId(2), UserId(3)], 50, seats);
    let mut found = Vec::new();
    reads.on_start_refused_for_players(TABLE, 0, AT, &mut found);
    fires(&std::mem::take(&mut found), Invariant::Reads);
    // User 2 goes broke during the start: only user 1 and 3 held chips all along.
    let broke = [(Key::Wallet(UserId(2)), row(1, wallet_of(UserId(2), 50)), row(2, wallet_of(UserId(2), 0)))];
    let txn = Txn::new(TxnKind::GameAct);
    reads.after_txn(&TxnView { txn: &txn, changes: &broke, now_ms: 0 }, At { trace_index: 3, at_us: 10 });
    reads.on_start_refused_for_players(TABLE, 0, AT, &mut found);
    fires(&std::mem::take(&mut found), Invariant::Reads);
    let broke = [(Key::Wallet(UserId(3)), row(1, wallet_of(UserId(3), 50)), row(2, wallet_of(UserId(3), 0)))];
    reads.after_txn(&TxnView { txn: &txn, changes: &broke, now_ms: 0 }, At { trace_index: 4, at_us: 10 });
    reads.on_start_refused_for_players(TABLE, 0, AT, &mut found);
    assert_eq!(found, vec![], "only user 1 held chips throughout: the refusal may be right");
    reads.on_start_refused_for_players(TableId(9), 0, AT, &mut found);
    assert_eq!(found, vec![], "nobody sits at table 9");
}

#[test]
fn reads_fire_on_a_user_with_a_wallet_refused_as_unknown() {
    let c = checkers(LockStrategy::Coarse);
    let unknown = |user| Err(GameError::Wallet(engine::wallet::WalletError::UnknownUser { user }));
    let mut found = Vec::new();
    c.reads.on_balance(UserId(77), 0, &unknown(UserId(77)), AT, &mut found);
    assert_eq!(found, vec![], "user 77 has no wallet");
    c.reads.on_balance(USER, 0, &unknown(USER), AT, &mut found);
    fires(&found, Invariant::Reads);
    let mut found = Vec::new();
    c.reads.on_action_refused(USER, RequestId(3), &unknown(USER).unwrap_err(), AT, &mut found);
    fires(&found, Invariant::Reads);
}

fn reads_fire(found: &[Violation]) {
    assert!(!found.is_empty() && found.iter().all(|v| v.invariant == Invariant::Reads), "{found:?}");
}
