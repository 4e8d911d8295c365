//! Every checker, shown to fire: each is fed a broken transaction, reply, lock event or store
//! and must report its own invariant — and a correct one of the same shape must pass. A
//! checker that goes blind fails here before any scenario could miss it.

use engine::cards::Deck;
use engine::game::{ActionOutcome, GameError, LockStrategy};
use engine::ids::{DlqId, RequestId, ReservationId, TableId, UserId};
use engine::locks::{CycleMember, DeadlockSnapshot, LockCategory, LockConfig, LockEvent, LockKey, LockMode, OwnerId};
use engine::rules::{Action, Applied, Chips, GameState, TableConfig};
use engine::store::{
    DlqEntry, JackpotGroup, JackpotPool, Key, MemoryStore, ProcessedRequest, Reservation, ReservationState,
    TableRecord, Txn, TxnKind, Value, Versioned, Wallet,
};
use rand::SeedableRng;

use super::{At, CheckerSettings, Checkers, Invariant, TxnView, Violation};

const SUPPLY: Chips = 1_000;
const AT: At = At { trace_index: 7, at_us: 1_000 };
const USER: UserId = UserId(1);
const TABLE: TableId = TableId(1);

type Change = (Key, Option<Versioned>, Option<Versioned>);

fn checkers(strategy: LockStrategy) -> Checkers {
    Checkers::new(&CheckerSettings { supply: SUPPLY, lock_strategy: strategy, lock_config: LockConfig::default() })
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
    Value::Table(Box::new(record))
}

/// Runs every transaction checker on one transaction of `kind` with `changes`.
fn after_txn(checkers: &mut Checkers, kind: TxnKind, changes: &[Change], now_ms: u64) -> Vec<Violation> {
    let txn = Txn::new(kind);
    let mut found = Vec::new();
    checkers.after_txn(&TxnView { txn: &txn, changes, now_ms }, AT, &mut found);
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
    record.escrow += 1;
    let changes = [(Key::Table(TABLE), None, row(1, Value::Table(record)))];
    fires(&after_txn(&mut c, TxnKind::GameStart, &changes, 0), Invariant::Conservation);
}

#[test]
fn conservation_recounts_the_store_at_the_end() {
    let store = MemoryStore::new();
    store.apply(&Txn::new(TxnKind::Provision).put(Key::Wallet(USER), wallet(SUPPLY))).unwrap();
    let mut found = Vec::new();
    checkers(LockStrategy::Coarse).at_end(&store, AT, &mut found);
    assert_eq!(found, vec![]);
    store.apply(&Txn::new(TxnKind::StaleWriter).put(Key::Wallet(USER), wallet(SUPPLY - 1))).unwrap();
    checkers(LockStrategy::Coarse).at_end(&store, AT, &mut found);
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
    let on_time = [(key, row(1, live), row(2, committed))];
    assert!(!invariants(&after_txn(&mut c, TxnKind::GameAct, &on_time, 30_000)).contains(&Invariant::Reservations));
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
    c.on_lock_event(&acquired(1, LockCategory::Table, "table-1"), AT, &mut found);
    c.on_lock_event(&acquired(1, LockCategory::Pot, "table-1"), AT, &mut found);
    c.on_lock_event(&acquired(1, LockCategory::Player, "table-1/user-1"), AT, &mut found);
    assert_eq!(found, vec![], "in order");
    c.on_lock_event(&acquired(1, LockCategory::BettingRound, "table-1"), AT, &mut found);
    fires(&found, Invariant::Locks);
}

#[test]
fn locks_fire_on_a_wait_for_cycle() {
    let mut c = checkers(LockStrategy::Coarse);
    let mut found = Vec::new();
    let member = |owner| CycleMember { owner: OwnerId(owner), operation: "test".into() };
    let quiet = DeadlockSnapshot { holders: vec![], waiters: vec![], cycle: None };
    c.on_deadlock_snapshot(&quiet, AT, &mut found);
    assert_eq!(found, vec![]);
    let stuck = DeadlockSnapshot { holders: vec![], waiters: vec![], cycle: Some(vec![member(1), member(2)]) };
    c.on_deadlock_snapshot(&stuck, AT, &mut found);
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
fn liveness_reports_what_has_not_converged() {
    let store = MemoryStore::new();
    let c = checkers(LockStrategy::Coarse);
    assert_eq!(c.liveness.pending(&store, 0), Vec::<String>::new());
    assert_eq!(c.liveness.pending(&store, 2).len(), 1, "held locks are pending");
    let live = reservation(1, 1, 10, ReservationState::Live);
    let Value::Reservation(owed) = reservation(2, 2, 10, ReservationState::DeadLettered) else { unreachable!() };
    let entry = DlqEntry { id: DlqId(1), reservation: owed, amount: 10, error: "x".into(), created_ms: 0, attempts: 3 };
    let txn = Txn::new(TxnKind::Provision)
        .put(Key::Reservation(ReservationId(1)), live)
        .put(Key::Dlq(DlqId(1)), Value::Dlq(entry));
    store.apply(&txn).unwrap();
    let pending = c.liveness.pending(&store, 0);
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(pending[0].contains("still live") && pending[1].contains("owes 10 chips"), "{pending:?}");
}
