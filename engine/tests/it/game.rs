//! The hardened game flows under tokio's paused clock with the in-memory store: happy path,
//! duplicate folds, version conflicts, lock timeouts, reset racing actions, identity and bad
//! input. After every test the chips held by the store equal the starting supply.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::chat::{ChatApi, ChatFuture, MessageId, RecordingChat};
use engine::clock::{SharedClock, TokioClock};
use engine::dedup::Deduplicator;
use engine::game::{ActionRequest, EngineVariant, GameConfig, GameEngine, GameError, GameParts, LockStrategy};
use engine::ids::{RequestId, TableId, UserId};
use engine::locks::{LockCategory, LockConfig, LockKey, LockManager, LockMode};
use engine::metrics::Metrics;
use engine::rules::random_play::random_action;
use engine::rules::{Action, ActionError, Chips, TableConfig};
use engine::store::{
    Key, KeyKind, MemoryStore, ReservationState, Store, StoreError, StoreFuture, Txn, TxnKind, Value, Versioned,
};
use engine::wallet::{RESERVATION_TTL_MS, WalletConfig, WalletService};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TABLE: TableId = TableId(1);
const BALANCE: Chips = 1_000;
const ADMIN: UserId = UserId(99);

/// The in-memory store behind a link that takes 1 ms per call (so concurrent tasks
/// interleave) and can bump the table's version right before the next action's save.
struct Link {
    inner: MemoryStore,
    conflict_next_action: AtomicBool,
    /// Transactions with these labels fail (store unavailable) this many more times.
    fail_labels: Mutex<BTreeMap<TxnKind, u32>>,
    /// Transactions with these labels take this much longer.
    delay_labels: Mutex<BTreeMap<TxnKind, Duration>>,
    /// Transactions with these labels are refused as version conflicts this many more times.
    conflict_labels: Mutex<BTreeMap<TxnKind, u32>>,
    /// Labels of the transactions that applied, in order.
    applied: Mutex<Vec<TxnKind>>,
}

impl Link {
    fn fail(&self, label: TxnKind, times: u32) {
        self.fail_labels.lock().unwrap().insert(label, times);
    }

    fn conflict(&self, label: TxnKind, times: u32) {
        self.conflict_labels.lock().unwrap().insert(label, times);
    }

    fn conflicts_left(&self, label: TxnKind) -> u32 {
        self.conflict_labels.lock().unwrap().get(&label).copied().unwrap_or(0)
    }

    fn delay(&self, label: TxnKind, by: Duration) {
        self.delay_labels.lock().unwrap().insert(label, by);
    }

    fn applied_count(&self, label: TxnKind) -> usize {
        self.applied.lock().unwrap().iter().filter(|l| **l == label).count()
    }
}

impl Store for Link {
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.inner.get(key).await
        })
    }
    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.inner.scan(kind).await
        })
    }
    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let delay = self.delay_labels.lock().unwrap().get(&txn.kind).copied();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(left) = self.fail_labels.lock().unwrap().get_mut(&txn.kind).filter(|n| **n > 0) {
                *left -= 1;
                return Err(StoreError::Unavailable { reason: format!("injected failure of {}", txn.kind) });
            }
            if let Some(left) = self.conflict_labels.lock().unwrap().get_mut(&txn.kind).filter(|n| **n > 0) {
                *left -= 1;
                return Err(StoreError::Conflict { key: Key::Table(TABLE), expected: Some(1), actual: Some(2) });
            }
            if txn.kind.is_action_save() && self.conflict_next_action.swap(false, Ordering::SeqCst) {
                // A stale writer saves the table first (same value, new version).
                let current = self.inner.read(Key::Table(TABLE)).unwrap();
                self.inner.apply(&Txn::new(TxnKind::StaleWriter).put(Key::Table(TABLE), current.value)).unwrap();
            }
            let label = txn.kind;
            let result = self.inner.commit(txn).await;
            if result.is_ok() {
                self.applied.lock().unwrap().push(label);
            }
            result
        })
    }
}

struct World {
    link: Arc<Link>,
    engine: Arc<GameEngine>,
    wallet: Arc<WalletService>,
    locks: LockManager,
    supply: Chips,
}

async fn world(players: u64, strategy: LockStrategy) -> World {
    world_with(players, strategy, EngineVariant::Hardened, Arc::new(RecordingChat::default())).await
}

async fn world_with(players: u64, strategy: LockStrategy, variant: EngineVariant, chat: Arc<dyn ChatApi>) -> World {
    let clock: SharedClock = Arc::new(TokioClock::starting_now());
    let link = Arc::new(Link {
        inner: MemoryStore::with_clock(clock.clone()),
        conflict_next_action: AtomicBool::new(false),
        fail_labels: Mutex::default(),
        delay_labels: Mutex::default(),
        conflict_labels: Mutex::default(),
        applied: Mutex::default(),
    });
    let store: Arc<dyn Store> = link.clone();
    let metrics = Metrics::new();
    let locks = LockManager::new(LockConfig { enforce_hierarchy: true, ..LockConfig::default() }, metrics.clone());
    let wallet = Arc::new(WalletService::new(
        store.clone(),
        clock.clone(),
        metrics.clone(),
        ChaCha8Rng::seed_from_u64(1),
        WalletConfig::default(),
    ));
    let dedup = Arc::new(Deduplicator::new(store.clone(), clock.clone(), metrics.clone(), variant.dedup_mode()));
    let users: Vec<UserId> = (1..=players).map(UserId).collect();
    for &user in &users {
        wallet.open(user, BALANCE).await.unwrap();
    }
    let config = GameConfig {
        table: TableConfig::new(5, 10),
        stack_cap: 500,
        admins: BTreeSet::from([ADMIN]),
        lock_strategy: strategy,
        variant,
        turn_messages: false,
    };
    let parts = GameParts {
        store,
        metrics,
        locks: locks.clone(),
        wallet: wallet.clone(),
        dedup,
        jackpot: None,
        chat,
        rng: ChaCha8Rng::seed_from_u64(2),
    };
    let engine = Arc::new(GameEngine::new(parts, config));
    engine.create_table(TABLE, users).await.unwrap();
    World { link, engine, wallet, locks, supply: BALANCE * players }
}

impl World {
    fn assert_conserved(&self) {
        assert_eq!(self.link.inner.chips_total(), self.supply, "chips created or lost");
    }

    fn game(&self) -> (engine::store::TableRecord, u64) {
        let read = self.link.inner.read(Key::Table(TABLE)).unwrap();
        match read.value {
            Value::Table(record) => (Arc::unwrap_or_clone(record), read.version),
            other => panic!("{other:?}"),
        }
    }

    /// The user to act now and the hand number.
    fn actor(&self) -> Option<(UserId, u64)> {
        let (record, _) = self.game();
        let game = record.game.as_ref()?;
        game.actor().map(|p| (record.hand_seats[p], record.hand_number))
    }

    fn live_reservations(&self) -> Vec<Versioned> {
        self.link
            .inner
            .read_kind(KeyKind::Reservation)
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| matches!(&v.value, Value::Reservation(r) if r.state == ReservationState::Live))
            .collect()
    }
}

/// Sum of the seated players' balances, read through the engine (under the table read lock).
async fn seated_balances(w: &World) -> Chips {
    let mut total = 0;
    for user in 1..=4 {
        total += w.engine.balance(UserId(user), TABLE).await.unwrap();
    }
    total
}

fn request(id: u64, user: UserId, hand_number: u64, action: Action) -> ActionRequest {
    ActionRequest { request: RequestId(id), user, table: TABLE, hand_number, action }
}

#[tokio::test(start_paused = true)]
async fn happy_path_plays_whole_hands_and_conserves_chips() {
    for strategy in [LockStrategy::Coarse, LockStrategy::Fine] {
        let w = world(4, strategy).await;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut next_request = 0;
        for _ in 0..5 {
            w.engine.start_hand(TABLE).await.unwrap();
            w.assert_conserved();
            while let Some((user, hand)) = w.actor() {
                let (record, _) = w.game();
                let action = random_action(record.game.as_ref().unwrap(), &mut rng).unwrap();
                next_request += 1;
                w.engine.act(request(next_request, user, hand, action)).await.unwrap();
                w.assert_conserved();
            }
            let (record, _) = w.game();
            assert!(record.game.as_ref().unwrap().complete);
            assert_eq!(record.escrow, 0, "a finished hand holds no chips");
            assert!(w.live_reservations().is_empty());
        }
        let balances: Chips = seated_balances(&w).await;
        assert_eq!(balances, w.supply, "between hands every chip is back in a wallet");
        let stats = w.engine.stats(TABLE).await.unwrap();
        assert_eq!((stats.hand_number, stats.in_progress, stats.escrow), (5, false, 0));
        assert!(w.locks.all_free());
        assert!(w.locks.hierarchy_violations().is_empty(), "{strategy:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_hand_deals_in_only_the_players_with_chips_and_writes_only_the_wallets_its_blinds_move() {
    let w = world(4, LockStrategy::Coarse).await;
    // User 3 goes broke away from the table: its chips now belong to user 4.
    let broke = Txn::new(TxnKind::Provision)
        .put(Key::Wallet(UserId(3)), Value::Wallet(engine::store::Wallet { user: UserId(3), balance: 0 }))
        .put(Key::Wallet(UserId(4)), Value::Wallet(engine::store::Wallet { user: UserId(4), balance: 2 * BALANCE }));
    w.link.inner.apply(&broke).unwrap();
    let version = |user| w.link.inner.read(Key::Wallet(UserId(user))).unwrap().version;
    let before: Vec<u64> = (1..=4).map(version).collect();
    w.engine.start_hand(TABLE).await.unwrap();
    let (record, _) = w.game();
    assert_eq!(record.hand_seats.len(), 3, "dealt: {:?}", record.hand_seats);
    assert!(!record.hand_seats.contains(&UserId(3)), "a player without chips is not dealt in");
    let written = (1..=4).filter(|&user| version(user) != before[user as usize - 1]).count();
    assert_eq!(written, 2, "the blinds' wallets only: a wallet no chip leaves keeps its version");
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn a_reset_whose_save_keeps_conflicting_gives_up_after_its_retries() {
    let w = world(3, LockStrategy::Coarse).await;
    w.engine.start_hand(TABLE).await.unwrap();
    let injected = 5;
    w.link.conflict(TxnKind::GameReset, injected);
    let error = w.engine.reset(UserId(1), TABLE, false).await.unwrap_err();
    assert!(matches!(error, GameError::Store(StoreError::Conflict { .. })), "{error:?}");
    let tries = injected - w.link.conflicts_left(TxnKind::GameReset);
    assert_eq!(tries, engine::game::RESET_CONFLICT_RETRIES_MAX + 1, "the first save and its retries, no more");
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn a_hand_that_ends_at_its_deal_pays_its_winner_at_once() {
    let w = world(2, LockStrategy::Coarse).await;
    // Both players have no more than the blinds: both are all in before anyone acts.
    let (small, big) = (5, 10);
    let short = Txn::new(TxnKind::Provision)
        .put(Key::Wallet(UserId(1)), Value::Wallet(engine::store::Wallet { user: UserId(1), balance: small }))
        .put(Key::Wallet(UserId(2)), Value::Wallet(engine::store::Wallet { user: UserId(2), balance: big }))
        .put(Key::House, Value::House(w.supply - small - big));
    w.link.inner.apply(&short).unwrap();
    w.engine.start_hand(TABLE).await.unwrap();
    let (record, _) = w.game();
    assert!(record.game.as_ref().is_some_and(|g| g.complete), "the deal ended the hand");
    assert_eq!(record.escrow, 0, "a finished hand holds no chips");
    let wallets: Chips =
        [UserId(1), UserId(2)].iter().map(|u| w.link.inner.read(Key::Wallet(*u)).unwrap().value.chips_held()).sum();
    assert_eq!(wallets, small + big, "every chip back in a wallet");
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn the_same_fold_sent_two_to_five_times_at_once_applies_once() {
    for copies in 2..=5u64 {
        let w = world(3, LockStrategy::Coarse).await;
        let hand = w.engine.start_hand(TABLE).await.unwrap();
        let (user, _) = w.actor().unwrap();
        let (_, version_before) = w.game();
        let mut tasks = Vec::new();
        for _ in 0..copies {
            let engine = w.engine.clone();
            tasks.push(tokio::spawn(async move { engine.act(request(7, user, hand, Action::Fold)).await }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap().unwrap());
        }
        assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "every copy gets the first result");
        let (record, version_after) = w.game();
        assert_eq!(version_after, version_before + 1, "one save");
        assert_eq!(
            record.game.unwrap().history.iter().filter(|e| matches!(e, engine::rules::HandEvent::Act { .. })).count(),
            1
        );
        w.assert_conserved();
    }
}

#[tokio::test(start_paused = true)]
async fn a_version_conflict_during_the_save_refunds_the_bet() {
    let w = world(3, LockStrategy::Coarse).await;
    let hand = w.engine.start_hand(TABLE).await.unwrap();
    let (user, _) = w.actor().unwrap();
    let balance = w.wallet.balance(user).await.unwrap();
    w.link.conflict_next_action.store(true, Ordering::SeqCst);
    let error = w.engine.act(request(1, user, hand, Action::Call)).await.unwrap_err();
    assert_eq!(error, GameError::VersionConflict);
    assert_eq!(w.wallet.balance(user).await.unwrap(), balance, "the compensating refund");
    assert!(w.live_reservations().is_empty());
    let states: Vec<ReservationState> = w
        .link
        .inner
        .read_kind(KeyKind::Reservation)
        .into_iter()
        .map(|(_, v)| match v.value {
            Value::Reservation(r) => r.state,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(states, vec![ReservationState::RolledBack]);
    w.assert_conserved();
    // The same request retried gets the first result; a fresh request goes through.
    assert_eq!(w.engine.act(request(1, user, hand, Action::Call)).await.unwrap_err(), GameError::VersionConflict);
    w.engine.act(request(2, user, hand, Action::Call)).await.unwrap();
    w.assert_conserved();
}

/// Regression (found by the simulator, `scenarios/regressions/`): two copies of one check; the
/// first's save loses a version check, and the record of its error fails to save. It used to
/// answer that error as final while the copy waiting behind it then executed the check and
/// answered success — one request, two final answers. An answer is final only once durable.
#[tokio::test(start_paused = true)]
async fn an_error_that_cannot_be_recorded_is_not_a_final_answer() {
    let w = Arc::new(world(3, LockStrategy::Coarse).await);
    let hand = w.engine.start_hand(TABLE).await.unwrap();
    let (user, _) = w.actor().unwrap();
    w.link.conflict_next_action.store(true, Ordering::SeqCst);
    w.link.fail(TxnKind::DedupRecord, 1);
    let copies: Vec<_> = (0..2)
        .map(|_| {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.engine.act(request(7, user, hand, Action::Call)).await })
        })
        .collect();
    let mut answers = Vec::new();
    for copy in copies {
        answers.push(copy.await.unwrap());
    }
    let unrecorded = answers.iter().find_map(|a| a.as_ref().err()).expect("the first copy fails");
    assert!(
        matches!(unrecorded, GameError::Unrecorded { error, .. } if **error == GameError::VersionConflict),
        "{unrecorded:?}"
    );
    assert!(!unrecorded.is_final(), "an unrecorded error is not the request's outcome");
    let finals: Vec<_> = answers.iter().filter(|a| a.as_ref().err().is_none_or(GameError::is_final)).collect();
    assert_eq!(finals.len(), 1, "one final answer: the copy that ran after it: {answers:?}");
    assert!(finals[0].is_ok());
    assert_eq!(w.link.applied_count(TxnKind::GameAct), 1, "the check applied once");
    // The request's outcome is now durable: a retry gets the same success.
    assert_eq!(&w.engine.act(request(7, user, hand, Action::Call)).await, finals[0]);
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn a_lock_timeout_leaves_the_reservation_to_expire() {
    let w = world(3, LockStrategy::Coarse).await;
    let hand = w.engine.start_hand(TABLE).await.unwrap();
    let (user, _) = w.actor().unwrap();
    let balance = w.wallet.balance(user).await.unwrap();
    // Someone else holds the table lock for longer than the table timeout.
    let holder = w.locks.owner("test.slow_holder");
    let guard = holder.acquire(LockKey::new(LockCategory::Table, TABLE.to_string()), LockMode::Write).await.unwrap();
    let error = w.engine.act(request(1, user, hand, Action::Call)).await.unwrap_err();
    assert!(matches!(error, GameError::Lock(_)), "{error:?}");
    drop(guard);
    assert_eq!(w.live_reservations().len(), 1, "reserved, never committed");
    assert_eq!(w.wallet.balance(user).await.unwrap(), balance - 10);
    w.assert_conserved();
    tokio::time::sleep(Duration::from_millis(RESERVATION_TTL_MS)).await;
    let report = w.wallet.sweep_expired().await.unwrap();
    assert_eq!(report.expired.len(), 1);
    assert_eq!(w.wallet.balance(user).await.unwrap(), balance);
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn reset_racing_actions_loses_nothing() {
    let w = world(4, LockStrategy::Coarse).await;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for round in 0..20u64 {
        if w.actor().is_none() {
            w.engine.start_hand(TABLE).await.unwrap();
        }
        let (user, hand) = w.actor().unwrap();
        let (record, _) = w.game();
        let action = random_action(record.game.as_ref().unwrap(), &mut rng).unwrap();
        let engine = w.engine.clone();
        let act = tokio::spawn(async move { engine.act(request(100 + round, user, hand, action)).await });
        let engine = w.engine.clone();
        let reset = tokio::spawn(async move { engine.reset(UserId(1), TABLE, false).await });
        let _ = act.await.unwrap();
        reset.await.unwrap().unwrap();
        // Whatever interleaving happened, every chip is in a wallet, a live reservation or the escrow.
        w.assert_conserved();
    }
    tokio::time::sleep(Duration::from_millis(RESERVATION_TTL_MS + 1)).await;
    w.wallet.sweep_expired().await.unwrap();
    assert!(w.live_reservations().is_empty());
    for user in 1..=4 {
        assert_eq!(w.wallet.balance(UserId(user)).await.unwrap(), BALANCE, "reset hands refund everyone");
    }
}

#[tokio::test(start_paused = true)]
async fn identity_and_bad_input_get_typed_errors_and_move_no_chip() {
    let w = world(3, LockStrategy::Coarse).await;
    let hand = w.engine.start_hand(TABLE).await.unwrap();
    let (user, _) = w.actor().unwrap();
    let other = (1..=3).map(UserId).find(|&u| u != user).unwrap();
    let (_, version) = w.game();
    let cases = [
        (request(1, other, hand, Action::Call), GameError::NotYourTurn { user: other }),
        (request(2, user, hand - 1, Action::Call), GameError::StaleHand { requested: hand - 1, current: hand }),
        (
            request(3, user, hand, Action::RaiseTo(u64::MAX)),
            GameError::Illegal(ActionError::RaiseAboveMaximum { to: u64::MAX, max_to: 500 }),
        ),
        (request(4, UserId(42), hand, Action::Call), GameError::NotSeated { user: UserId(42), table: TABLE }),
        (
            ActionRequest { table: TableId(77), ..request(5, user, hand, Action::Call) },
            GameError::UnknownTable { table: TableId(77) },
        ),
    ];
    for (bad, expected) in cases {
        assert_eq!(w.engine.act(bad).await.unwrap_err(), expected);
    }
    assert_eq!(w.engine.reset(user, TABLE, true).await.unwrap_err(), GameError::NotAdmin { user });
    let (_, after) = w.game();
    assert_eq!(after, version, "nothing was saved");
    assert!(w.link.inner.read_kind(KeyKind::Reservation).is_empty(), "nothing was reserved");
    w.assert_conserved();
    // The same request ID with another payload is refused.
    assert_eq!(w.engine.act(request(1, other, hand, Action::Fold)).await.unwrap_err(), GameError::RequestReused);
    w.engine.reset(ADMIN, TABLE, true).await.unwrap();
    w.assert_conserved();
}

// ---- The historical variants: each test shows the flaw is real and reachable, next to the
// ---- hardened engine surviving the same attack.

/// Starts a hand and returns the first actor's call request.
async fn first_call(w: &World, id: u64) -> ActionRequest {
    let hand = w.engine.start_hand(TABLE).await.unwrap();
    let (user, _) = w.actor().unwrap();
    request(id, user, hand, Action::Call)
}

#[tokio::test(start_paused = true)]
async fn seed_2pc_loses_the_bet_when_the_save_fails_after_the_separate_commit() {
    let w = world_with(3, LockStrategy::Coarse, EngineVariant::Seed2pc, Arc::new(RecordingChat::default())).await;
    let call = first_call(&w, 1).await;
    w.link.fail(TxnKind::GameSave, 1);
    assert!(w.engine.act(call).await.is_err());
    assert_eq!(w.link.inner.chips_total(), w.supply - 10, "the committed reservation's 10 chips are gone");

    let w = world(3, LockStrategy::Coarse).await;
    let call = first_call(&w, 1).await;
    w.link.fail(TxnKind::GameAct, 1);
    assert!(w.engine.act(call).await.is_err());
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn seed_2pc_forgets_a_request_after_five_seconds_and_processes_its_retry_again() {
    let w = world_with(4, LockStrategy::Coarse, EngineVariant::Seed2pc, Arc::new(RecordingChat::default())).await;
    let call = first_call(&w, 1).await;
    let first = w.engine.act(call).await.unwrap();
    assert_eq!(w.engine.act(call).await.unwrap(), first, "within 5 s the retry gets the first result");
    // The same request retried within 5 s is a duplicate; after it, the in-memory record is
    // gone. (The retry is now out of turn, so the rules refuse it — but only the rules did.)
    tokio::time::sleep(Duration::from_millis(engine::dedup::SEED_DEDUP_TTL_MS + 1)).await;
    let retry = w.engine.act(call).await;
    assert_eq!(retry.unwrap_err(), GameError::NotYourTurn { user: call.user }, "processed again, not deduplicated");
}

#[tokio::test(start_paused = true)]
async fn deduct_before_lock_loses_the_bet_when_its_compensation_fails() {
    let w =
        world_with(3, LockStrategy::Coarse, EngineVariant::DeductBeforeLock, Arc::new(RecordingChat::default())).await;
    let call = first_call(&w, 1).await;
    w.link.conflict_next_action.store(true, Ordering::SeqCst);
    w.link.fail(TxnKind::GameCompensate, 1);
    assert_eq!(w.engine.act(call).await.unwrap_err(), GameError::VersionConflict);
    assert_eq!(w.link.inner.chips_total(), w.supply - 10, "debited, never saved, never credited back");

    // The hardened engine under the same attack: the failed refund goes to the DLQ.
    let w = world(3, LockStrategy::Coarse).await;
    let call = first_call(&w, 1).await;
    w.link.conflict_next_action.store(true, Ordering::SeqCst);
    w.link.fail(TxnKind::WalletRollback, 1);
    assert_eq!(w.engine.act(call).await.unwrap_err(), GameError::VersionConflict);
    w.assert_conserved();
    assert_eq!(w.link.inner.read_kind(KeyKind::Dlq).len(), 1);
    assert_eq!(w.wallet.process_dlq().await.unwrap().refunded.len(), 1);
    w.assert_conserved();
}

#[tokio::test(start_paused = true)]
async fn unlocked_reset_wipes_out_the_chips_of_an_action_saved_meanwhile() {
    for variant in [EngineVariant::UnlockedReset, EngineVariant::Hardened] {
        let w = world_with(3, LockStrategy::Coarse, variant, Arc::new(RecordingChat::default())).await;
        let call = first_call(&w, 1).await;
        // The reset reads the hand, then its write is slow; the call lands in between.
        w.link.delay(TxnKind::GameReset, Duration::from_millis(50));
        let engine = w.engine.clone();
        let reset = tokio::spawn(async move { engine.reset(UserId(1), TABLE, false).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let _ = w.engine.act(call).await;
        reset.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(RESERVATION_TTL_MS + 1)).await;
        w.wallet.sweep_expired().await.unwrap();
        match variant {
            EngineVariant::UnlockedReset => {
                assert!(w.link.inner.chips_total() < w.supply, "the unguarded reset lost the call's chips")
            }
            _ => w.assert_conserved(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn bool_flag_applies_the_same_fold_more_than_once() {
    for variant in [EngineVariant::BoolFlag, EngineVariant::Hardened] {
        let w = world_with(3, LockStrategy::Coarse, variant, Arc::new(RecordingChat::default())).await;
        let hand = w.engine.start_hand(TABLE).await.unwrap();
        let (user, _) = w.actor().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let engine = w.engine.clone();
            tasks.push(tokio::spawn(async move { engine.act(request(7, user, hand, Action::Fold)).await }));
        }
        for task in tasks {
            let _ = task.await.unwrap();
        }
        let saves = w.link.applied_count(TxnKind::GameAct);
        match variant {
            EngineVariant::BoolFlag => assert!(saves > 1, "one request saved {saves} times: at-most-once broken"),
            _ => assert_eq!(saves, 1),
        }
    }
}

/// A chat whose every call takes 30 simulated seconds.
struct SlowChat;

impl ChatApi for SlowChat {
    fn send(&self, _table: TableId, _text: String) -> ChatFuture<'_, MessageId> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(MessageId(1))
        })
    }
    fn delete(&self, _table: TableId, _message: MessageId) -> ChatFuture<'_, ()> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn chat_in_lock_makes_a_concurrent_reset_time_out_on_the_stage_lock() {
    for variant in [EngineVariant::ChatInLock, EngineVariant::Hardened] {
        let w = world_with(3, LockStrategy::Coarse, variant, Arc::new(SlowChat)).await;
        let engine = w.engine.clone();
        let start = tokio::spawn(async move { engine.start_hand(TABLE).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reset = w.engine.reset(UserId(1), TABLE, false).await;
        start.await.unwrap().unwrap();
        match variant {
            EngineVariant::ChatInLock => assert!(matches!(reset, Err(GameError::Lock(_))), "{reset:?}"),
            _ => reset.unwrap(),
        }
        w.assert_conserved();
    }
}

#[test]
fn variants_select_their_dedup_and_jackpot_designs() {
    use engine::dedup::DedupMode;
    use engine::jackpot::JackpotVariant;
    assert_eq!(EngineVariant::Seed2pc.dedup_mode(), DedupMode::InMemoryTtl { ttl_ms: 5_000 });
    assert_eq!(EngineVariant::Hardened.dedup_mode(), DedupMode::default());
    assert_eq!(EngineVariant::UnversionedJackpot.jackpot_variant(), JackpotVariant::Unversioned);
    assert_eq!(EngineVariant::Hardened.jackpot_variant(), JackpotVariant::Optimistic);
}

/// Regression: the betting handler kept its table lock through the chat announcements of the
/// hand it finished (a guard moved in one branch of an `if` is not dropped in the other until
/// the function returns). The simulator's lock-hold histogram found it: holds of 100–700 ms
/// where the store work takes a few. Chat must never run under the table lock.
#[tokio::test(start_paused = true)]
async fn a_finished_hand_is_announced_after_the_table_lock_is_released() {
    let w = world_with(2, LockStrategy::Coarse, EngineVariant::Hardened, Arc::new(SlowChat)).await;
    let hand = w.engine.start_hand(TABLE).await.unwrap();
    let actor = w.engine.stats(TABLE).await.unwrap().actor.expect("someone acts first");
    let engine = w.engine.clone();
    let fold = tokio::spawn(async move { engine.act(request(7, actor, hand, Action::Fold)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!fold.is_finished(), "the 30 s announcement is still running");
    let asked = tokio::time::Instant::now();
    w.engine.stats(TABLE).await.unwrap();
    assert!(asked.elapsed() < Duration::from_millis(100), "stats waited {:?} for the table lock", asked.elapsed());
    assert!(fold.await.unwrap().unwrap().hand_complete);
    w.assert_conserved();
}
