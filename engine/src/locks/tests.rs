//! Unit tests of `locks`, kept beside it so the module itself stays readable.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::metrics::labeled;

fn manager_with(config: LockConfig) -> (LockManager, Metrics) {
    let metrics = Metrics::new();
    (LockManager::new(config, metrics.clone()), metrics)
}

fn manager() -> (LockManager, Metrics) {
    manager_with(LockConfig::default())
}

fn key(category: LockCategory, name: &str) -> LockKey {
    LockKey::new(category, name)
}

fn histogram_max_us(metrics: &Metrics, name: &str, category: LockCategory) -> u64 {
    let snapshot = metrics.snapshot();
    snapshot.histograms.get(&labeled(name, &[("category", category.as_str())])).map_or(0, |h| h.max_us())
}

fn histogram_count(metrics: &Metrics, name: &str, category: LockCategory) -> u64 {
    let snapshot = metrics.snapshot();
    snapshot.histograms.get(&labeled(name, &[("category", category.as_str())])).map_or(0, |h| h.count())
}

fn acquires(metrics: &Metrics, category: LockCategory, status: &str) -> u64 {
    metrics.counter(METRIC_LOCK_ACQUIRE, &[("category", category.as_str()), ("status", status)])
}

/// Equal within the histogram's precision (3 significant digits).
fn assert_close_us(actual_us: u64, expected_us: u64) {
    let tolerance_us = expected_us.div_ceil(1000);
    assert!(actual_us.abs_diff(expected_us) <= tolerance_us, "{actual_us} µs is not {expected_us} µs ± {tolerance_us}");
}

async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<LockEvent>>);

impl LockObserver for Recorder {
    fn on_lock_event(&self, event: LockEvent) {
        self.0.lock().unwrap().push(event);
    }
}

#[tokio::test(start_paused = true)]
async fn the_observer_sees_acquire_release_and_timeout_with_exact_durations() {
    let recorder = Arc::new(Recorder::default());
    let config = LockConfig { table_timeout_ms: 50, ..LockConfig::default() };
    let manager = LockManager::with_observer(config, Metrics::new(), recorder.clone());
    let first = manager.owner("first");
    let guard = first.acquire(key(LockCategory::Table, "t"), LockMode::Write).await.unwrap();
    let second = manager.owner("second");
    let refused = second.acquire(key(LockCategory::Table, "t"), LockMode::Write).await;
    assert!(matches!(refused, Err(LockError::Timeout { .. })));
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(guard);
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(matches!(&events[0], LockEvent::Acquired { operation, waited_us: 0, .. } if &**operation == "first"));
    assert!(matches!(&events[1], LockEvent::Waiting { operation, .. } if &**operation == "second"));
    assert!(matches!(&events[2], LockEvent::TimedOut { operation, waited_us: 50_000, .. } if &**operation == "second"));
    assert!(matches!(&events[3], LockEvent::Released { held_us: 80_000, .. }));
}

#[tokio::test(start_paused = true)]
async fn a_wait_dropped_before_it_resolves_is_announced_as_abandoned_and_an_immediate_grant_never_waits() {
    let recorder = Arc::new(Recorder::default());
    let manager = LockManager::with_observer(LockConfig::default(), Metrics::new(), recorder.clone());
    let first = manager.owner("first");
    let guard = first.acquire(key(LockCategory::Table, "t"), LockMode::Write).await.unwrap();
    let second = manager.owner("second");
    let gave_up =
        tokio::time::timeout(Duration::from_millis(10), second.acquire(key(LockCategory::Table, "t"), LockMode::Write));
    assert!(gave_up.await.is_err(), "the caller stopped waiting");
    assert!(manager.waiting().is_empty(), "the dropped wait left no waiter");
    drop(guard);
    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(matches!(&events[0], LockEvent::Acquired { operation, .. } if &**operation == "first"));
    assert!(matches!(&events[1], LockEvent::Waiting { operation, .. } if &**operation == "second"));
    assert!(
        matches!(&events[2], LockEvent::WaitAbandoned { operation, waited_us: 10_000, .. } if &**operation == "second")
    );
    assert!(matches!(&events[3], LockEvent::Released { .. }));
}

#[tokio::test(start_paused = true)]
async fn exclusive_lock_serializes_two_owners() {
    let (manager, metrics) = manager();
    let deck = key(LockCategory::Deck, "deck-1");
    let a = manager.owner("deal.flop");
    let guard = a.acquire(deck.clone(), LockMode::Write).await.unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));

    let task = tokio::spawn({
        let (manager, events, deck) = (manager.clone(), Arc::clone(&events), deck.clone());
        async move {
            let b = manager.owner("deal.turn");
            let guard = b.acquire(deck, LockMode::Write).await.unwrap();
            events.lock().unwrap().push("b enters");
            drop(guard);
        }
    });
    settle().await;
    let waiting = manager.waiting();
    assert_eq!(waiting.len(), 1);
    assert_eq!(&*waiting[0].operation, "deal.turn");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(events.lock().unwrap().is_empty(), "b entered while a held the lock");

    events.lock().unwrap().push("a leaves");
    drop(guard);
    task.await.unwrap();
    assert_eq!(*events.lock().unwrap(), ["a leaves", "b enters"]);
    assert_close_us(histogram_max_us(&metrics, METRIC_LOCK_WAIT, LockCategory::Deck), 100_000);
    assert_eq!(histogram_count(&metrics, METRIC_LOCK_WAIT, LockCategory::Deck), 2);
    assert_eq!(acquires(&metrics, LockCategory::Deck, STATUS_SUCCESS), 2);
    assert!(manager.all_free());
    assert!(manager.inner.state().keys.is_empty(), "idle locks are pruned");
}

#[tokio::test(start_paused = true)]
async fn readers_share_and_a_waiting_writer_blocks_later_readers() {
    let (manager, _metrics) = manager();
    let table = key(LockCategory::Table, "table-3");
    let (r1, r2) = (manager.owner("stats.read"), manager.owner("balance.read"));
    let g1 = r1.acquire(table.clone(), LockMode::Read).await.unwrap();
    let g2 = r2.acquire(table.clone(), LockMode::Read).await.unwrap();
    assert_eq!(manager.held_locks().len(), 2, "readers share");

    let events = Arc::new(Mutex::new(Vec::new()));
    let writer = tokio::spawn({
        let (manager, events, table) = (manager.clone(), Arc::clone(&events), table.clone());
        async move {
            let w = manager.owner("table.persist");
            let guard = w.acquire(table, LockMode::Write).await.unwrap();
            events.lock().unwrap().push("writer");
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(guard);
        }
    });
    settle().await;
    let late_reader = tokio::spawn({
        let (manager, events, table) = (manager.clone(), Arc::clone(&events), table.clone());
        async move {
            let r3 = manager.owner("stats.late");
            let _guard = r3.acquire(table, LockMode::Read).await.unwrap();
            events.lock().unwrap().push("late reader");
        }
    });
    settle().await;
    assert_eq!(manager.waiting().len(), 2, "the writer waits for readers, the late reader for the writer");
    assert!(events.lock().unwrap().is_empty());

    drop(g1);
    settle().await;
    assert!(events.lock().unwrap().is_empty(), "one reader still holds");
    drop(g2);
    writer.await.unwrap();
    late_reader.await.unwrap();
    assert_eq!(*events.lock().unwrap(), ["writer", "late reader"]);
    assert!(manager.all_free());
}

#[tokio::test(start_paused = true)]
async fn acquire_times_out_after_the_category_timeout_without_entering() {
    for (category, timeout_ms) in
        [(LockCategory::Table, TABLE_LOCK_TIMEOUT_MS), (LockCategory::Jackpot, JACKPOT_LOCK_TIMEOUT_MS)]
    {
        let (manager, metrics) = manager();
        let contested = key(category, "contested");
        let a = manager.owner("holder.op");
        let guard = a.acquire(contested.clone(), LockMode::Write).await.unwrap();
        let entered = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (manager, entered, contested) = (manager.clone(), Arc::clone(&entered), contested.clone());
            async move {
                let b = manager.owner("waiter.op");
                let started = Instant::now();
                let result = b.acquire(contested, LockMode::Write).await;
                if result.is_ok() {
                    entered.store(true, Ordering::SeqCst);
                }
                (result.map(|_| ()), started.elapsed())
            }
        });
        let (result, elapsed) = task.await.unwrap();
        assert_eq!(elapsed, Duration::from_millis(timeout_ms));
        assert!(!entered.load(Ordering::SeqCst), "a timed-out waiter never enters");
        let expected_holder = LockHolder {
            key: contested.clone(),
            owner: a.id(),
            operation: "holder.op".into(),
            mode: LockMode::Write,
            held_ms: timeout_ms,
        };
        assert_eq!(
            result,
            Err(LockError::Timeout { key: contested.clone(), waited_ms: timeout_ms, holders: vec![expected_holder] })
        );
        let held = manager.held_locks();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].owner, a.id());
        assert!(manager.waiting().is_empty(), "no trace of the timed-out waiter");
        assert_eq!(acquires(&metrics, category, STATUS_TIMEOUT), 1);
        assert_close_us(histogram_max_us(&metrics, METRIC_LOCK_WAIT, category), timeout_ms * 1000);
        drop(guard);
        assert!(manager.all_free());
    }
}

#[tokio::test(start_paused = true)]
async fn configured_timeout_applies() {
    let config = LockConfig { pot_timeout_ms: 1_234, ..LockConfig::default() };
    let (manager, _metrics) = manager_with(config);
    let pot = key(LockCategory::Pot, "pot-1");
    let a = manager.owner("a");
    let _guard = a.acquire(pot.clone(), LockMode::Write).await.unwrap();
    let b = manager.owner("b");
    let started = Instant::now();
    let error = b.acquire(pot, LockMode::Write).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(1_234));
    assert!(matches!(error, LockError::Timeout { waited_ms: 1_234, .. }), "{error}");
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquire_leaves_no_trace() {
    let (manager, _metrics) = manager();
    let table = key(LockCategory::Table, "table-1");
    let a = manager.owner("a");
    let guard = a.acquire(table.clone(), LockMode::Write).await.unwrap();
    let b = manager.owner("b");
    let cancelled = tokio::time::timeout(Duration::from_millis(100), b.acquire(table.clone(), LockMode::Write)).await;
    assert!(cancelled.is_err());
    assert!(manager.waiting().is_empty());
    assert!(b.held().is_empty());
    drop(guard);
    assert!(manager.all_free());
    assert!(manager.inner.state().keys.is_empty());
    let _again = b.acquire(table, LockMode::Write).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn reentrant_request_is_refused_at_once() {
    let (manager, metrics) = manager();
    let owner = manager.owner("betting.apply");
    let player = key(LockCategory::Player, "player-1");
    let _guard = owner.acquire(player.clone(), LockMode::Write).await.unwrap();
    let started = Instant::now();
    assert_eq!(
        owner.acquire(player.clone(), LockMode::Write).await.unwrap_err(),
        LockError::Reentrant { key: player.clone() }
    );
    assert_eq!(started.elapsed(), Duration::ZERO);

    let table = key(LockCategory::Table, "table-1");
    let reader = manager.owner("stats.read");
    let _read = reader.acquire(table.clone(), LockMode::Read).await.unwrap();
    assert_eq!(
        reader.acquire(table.clone(), LockMode::Write).await.unwrap_err(),
        LockError::Reentrant { key: table.clone() },
        "a read-to-write upgrade would deadlock"
    );
    assert_eq!(acquires(&metrics, LockCategory::Player, STATUS_REENTRANT), 1);
    assert_eq!(acquires(&metrics, LockCategory::Table, STATUS_REENTRANT), 1);
    assert_eq!(owner.held(), vec![player]);
}

/// An owner already waiting for a key is refused a second acquire of it as re-entrant (two of
/// its own futures racing for one key would otherwise wait on each other), and the manager is
/// busy while anyone holds or waits, free once all is released.
#[tokio::test(start_paused = true)]
async fn a_second_acquire_while_waiting_is_reentrant_and_busy_means_held_or_awaited() {
    let (manager, metrics) = manager();
    let table = key(LockCategory::Table, "table-1");
    let holder = manager.owner("holder");
    let guard = holder.acquire(table.clone(), LockMode::Write).await.unwrap();
    let waiter = manager.owner("waiter");
    let mut waiting = std::pin::pin!(waiter.acquire(table.clone(), LockMode::Write));
    assert!(poll_once(waiting.as_mut()).await.is_none(), "the first acquire waits");
    assert!(!manager.all_free());
    assert_eq!(
        waiter.acquire(table.clone(), LockMode::Write).await.unwrap_err(),
        LockError::Reentrant { key: table.clone() }
    );
    assert_eq!(acquires(&metrics, LockCategory::Table, STATUS_REENTRANT), 1);
    drop(guard);
    let granted = waiting.await.unwrap();
    assert!(!manager.all_free(), "held by the former waiter");
    drop(granted);
    assert!(manager.all_free());
}

/// Polls `future` once: its output if it is ready, `None` if it waits.
async fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let polled = future.as_mut().expect("polled once").as_mut().poll(cx);
        std::task::Poll::Ready(match polled {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn read_mode_is_for_table_locks_only() {
    let (manager, metrics) = manager();
    let owner = manager.owner("pot.read");
    let pot = key(LockCategory::Pot, "pot-1");
    assert_eq!(owner.acquire(pot.clone(), LockMode::Read).await.unwrap_err(), LockError::ReadNotSupported { key: pot });
    assert_eq!(acquires(&metrics, LockCategory::Pot, STATUS_READ_NOT_SUPPORTED), 1);
    assert!(manager.all_free());
}

#[tokio::test(start_paused = true)]
async fn hierarchy_violation_is_recorded_and_allowed_by_default() {
    let (manager, metrics) = manager();
    let owner = manager.owner("collect.bets");
    let pot = key(LockCategory::Pot, "pot-1");
    let table = key(LockCategory::Table, "table-1");
    let _pot = owner.acquire(pot.clone(), LockMode::Write).await.unwrap();
    let _table = owner.acquire(table.clone(), LockMode::Write).await.unwrap();

    let p2 = key(LockCategory::Player, "player-2");
    let p1 = key(LockCategory::Player, "player-1");
    let _p2 = owner.acquire(p2.clone(), LockMode::Write).await.unwrap();
    let _p1 = owner.acquire(p1.clone(), LockMode::Write).await.unwrap();

    let violations = manager.hierarchy_violations();
    assert_eq!(violations.len(), 2);
    assert_eq!(violations[0].requested, table);
    assert_eq!(violations[0].held, pot);
    assert_eq!(&*violations[0].operation, "collect.bets");
    assert!(!violations[0].refused);
    assert_eq!(violations[1].requested, p1);
    assert_eq!(violations[1].held, p2);
    assert_eq!(metrics.counter(METRIC_LOCK_HIERARCHY_VIOLATIONS, &[("category", "table")]), 1);
    assert_eq!(metrics.counter(METRIC_LOCK_HIERARCHY_VIOLATIONS, &[("category", "player")]), 1);
    assert_eq!(owner.held().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn hierarchy_violation_is_refused_when_enforced() {
    let (manager, metrics) = manager_with(LockConfig { enforce_hierarchy: true, ..LockConfig::default() });
    let owner = manager.owner("collect.bets");
    let pot = key(LockCategory::Pot, "pot-1");
    let table = key(LockCategory::Table, "table-1");
    let _pot = owner.acquire(pot.clone(), LockMode::Write).await.unwrap();
    assert_eq!(
        owner.acquire(table.clone(), LockMode::Read).await.unwrap_err(),
        LockError::HierarchyViolation { requested: table.clone(), held: pot.clone() }
    );
    assert_eq!(owner.held(), vec![pot]);
    assert!(manager.waiting().is_empty());
    let violations = manager.hierarchy_violations();
    assert_eq!(violations.len(), 1);
    assert!(violations[0].refused);
    assert_eq!(acquires(&metrics, LockCategory::Table, STATUS_HIERARCHY), 1);
    assert_eq!(metrics.counter(METRIC_LOCK_HIERARCHY_VIOLATIONS, &[("category", "table")]), 1);
}

#[tokio::test(start_paused = true)]
async fn ordered_acquisition_is_allowed() {
    let (manager, metrics) = manager_with(LockConfig { enforce_hierarchy: true, ..LockConfig::default() });
    let owner = manager.owner("hand.play");
    let mut guards = Vec::new();
    for (category, name) in [
        (LockCategory::Stage, "stage-1"),
        (LockCategory::Table, "table-1"),
        (LockCategory::Deck, "deck-1"),
        (LockCategory::Jackpot, "jackpot"),
        (LockCategory::BettingRound, "round-1"),
        (LockCategory::Pot, "pot-1"),
        (LockCategory::Player, "player-1"),
        (LockCategory::Player, "player-2"),
        (LockCategory::EngineStage, "engine-stage-1"),
        (LockCategory::Chat, "chat-1"),
    ] {
        guards.push(owner.acquire(key(category, name), LockMode::Write).await.unwrap());
    }
    assert!(manager.hierarchy_violations().is_empty());
    assert_eq!(owner.held().len(), 10);
    assert_eq!(metrics.snapshot().counters.keys().filter(|k| k.contains("hierarchy")).count(), 0);
    guards.clear();
    assert!(manager.all_free());
}

#[tokio::test(start_paused = true)]
async fn hold_duration_is_recorded_exactly() {
    let (manager, metrics) = manager();
    let owner = manager.owner("table.persist");
    let guard = owner.acquire(key(LockCategory::Table, "table-1"), LockMode::Write).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(guard.held_for(), Duration::from_millis(250));
    guard.release();
    assert_close_us(histogram_max_us(&metrics, METRIC_LOCK_HOLD, LockCategory::Table), 250_000);
    assert_eq!(histogram_count(&metrics, METRIC_LOCK_HOLD, LockCategory::Table), 1);
    assert!(manager.long_holds().is_empty());
    assert_eq!(metrics.counter(METRIC_LOCK_LONG_HOLDS, &[("category", "table")]), 0);
}

#[tokio::test(start_paused = true)]
async fn long_hold_is_recorded_and_counted() {
    let (manager, metrics) = manager();
    let owner = manager.owner("jackpot.payout");
    let jackpot = key(LockCategory::Jackpot, "jackpot");
    let guard = owner.acquire(jackpot.clone(), LockMode::Write).await.unwrap();
    tokio::time::sleep(Duration::from_millis(LONG_HOLD_WARN_MS)).await;
    drop(guard);
    assert!(manager.long_holds().is_empty(), "a hold of exactly the threshold is not long");

    let guard = owner.acquire(jackpot.clone(), LockMode::Write).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    drop(guard);
    let long_holds = manager.long_holds();
    assert_eq!(
        long_holds,
        vec![LongHold {
            key: jackpot,
            owner: owner.id(),
            operation: "jackpot.payout".into(),
            mode: LockMode::Write,
            held_ms: 1_500,
            released_at_ms: 2_500,
        }]
    );
    assert_eq!(metrics.counter(METRIC_LOCK_LONG_HOLDS, &[("category", "jackpot")]), 1);
}

#[tokio::test(start_paused = true)]
async fn long_holds_keep_only_the_most_recent() {
    let (manager, _metrics) = manager_with(LockConfig { long_hold_warn_ms: 0, ..LockConfig::default() });
    let owner = manager.owner("chat.prompt");
    for i in 0..LONG_HOLDS_KEPT_COUNT + 3 {
        let guard = owner.acquire(key(LockCategory::Chat, &format!("chat-{i}")), LockMode::Write).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        drop(guard);
    }
    let long_holds = manager.long_holds();
    assert_eq!(long_holds.len(), LONG_HOLDS_KEPT_COUNT);
    assert_eq!(&*long_holds[0].key.name, "chat-3");
}

#[tokio::test(start_paused = true)]
async fn detect_deadlock_shows_holders_waiters_and_a_two_owner_cycle() {
    let (manager, metrics) = manager();
    let x = key(LockCategory::Chat, "chat-x");
    let y = key(LockCategory::Jackpot, "jackpot-y");
    let a = manager.owner("a.op");
    let b = manager.owner("b.op");
    let (a_id, b_id) = (a.id(), b.id());
    let a_holds_x = a.acquire(x.clone(), LockMode::Write).await.unwrap();
    let b_holds_y = b.acquire(y.clone(), LockMode::Write).await.unwrap();
    let task_a = tokio::spawn({
        let y = y.clone();
        async move {
            let result = a.acquire(y, LockMode::Write).await.map(|_| ());
            drop(a_holds_x);
            result
        }
    });
    let task_b = tokio::spawn({
        let x = x.clone();
        async move {
            let started = Instant::now();
            let result = b.acquire(x, LockMode::Write).await.map(|_| ());
            drop(b_holds_y);
            (result, started.elapsed())
        }
    });
    settle().await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let json = manager.detect_deadlock();
    assert_eq!(
        json,
        serde_json::json!({
            "holders": [
                {"key": {"category": "chat", "name": "chat-x"}, "owner": a_id.0, "operation": "a.op",
                 "mode": "write", "held_ms": 1_000},
                {"key": {"category": "jackpot", "name": "jackpot-y"}, "owner": b_id.0, "operation": "b.op",
                 "mode": "write", "held_ms": 1_000},
            ],
            "waiters": [
                {"key": {"category": "chat", "name": "chat-x"}, "owner": b_id.0, "operation": "b.op",
                 "mode": "write", "waited_ms": 1_000},
                {"key": {"category": "jackpot", "name": "jackpot-y"}, "owner": a_id.0, "operation": "a.op",
                 "mode": "write", "waited_ms": 1_000},
            ],
            "cycle": [
                {"owner": a_id.0, "operation": "a.op"},
                {"owner": b_id.0, "operation": "b.op"},
            ],
        })
    );

    // The jackpot timeout (5 s) breaks the cycle: a gives up and releases x, so b gets it.
    let a_result = task_a.await.unwrap();
    assert!(matches!(&a_result, Err(LockError::Timeout { waited_ms: 5_000, holders, .. })
        if holders.len() == 1 && holders[0].owner == b_id));
    let (b_result, b_waited) = task_b.await.unwrap();
    assert_eq!(b_result, Ok(()));
    assert_eq!(b_waited, Duration::from_millis(5_000));
    assert_eq!(acquires(&metrics, LockCategory::Jackpot, STATUS_TIMEOUT), 1);
    assert!(manager.all_free());
    assert!(manager.detect_deadlock()["cycle"].is_null());
}

#[tokio::test(start_paused = true)]
async fn detect_deadlock_reports_no_cycle_for_plain_contention() {
    let (manager, _metrics) = manager();
    let table = key(LockCategory::Table, "table-1");
    let a = manager.owner("table.persist");
    let guard = a.acquire(table.clone(), LockMode::Write).await.unwrap();
    let waiter = tokio::spawn({
        let (manager, table) = (manager.clone(), table.clone());
        async move {
            let b = manager.owner("stats.read");
            b.acquire(table, LockMode::Read).await.map(|_| ())
        }
    });
    settle().await;
    let snapshot = manager.deadlock_snapshot();
    assert_eq!(snapshot.holders.len(), 1);
    assert_eq!(snapshot.waiters.len(), 1);
    assert_eq!(snapshot.waiters[0].mode, LockMode::Read);
    assert_eq!(snapshot.cycle, None);
    assert!(manager.detect_deadlock()["cycle"].is_null());
    drop(guard);
    assert_eq!(waiter.await.unwrap(), Ok(()));
}

#[test]
fn find_cycle_is_deterministic_and_starts_at_the_smallest_owner() {
    let edges: BTreeMap<OwnerId, BTreeSet<OwnerId>> = [
        (OwnerId(1), BTreeSet::from([OwnerId(5)])),
        (OwnerId(5), BTreeSet::from([OwnerId(4)])),
        (OwnerId(4), BTreeSet::from([OwnerId(3)])),
        (OwnerId(3), BTreeSet::from([OwnerId(5)])),
    ]
    .into_iter()
    .collect();
    assert_eq!(find_cycle(&edges), Some(vec![OwnerId(3), OwnerId(5), OwnerId(4)]));
    let acyclic: BTreeMap<OwnerId, BTreeSet<OwnerId>> =
        [(OwnerId(1), BTreeSet::from([OwnerId(2), OwnerId(3)])), (OwnerId(2), BTreeSet::from([OwnerId(3)]))]
            .into_iter()
            .collect();
    assert_eq!(find_cycle(&acyclic), None);
}

#[test]
fn config_defaults_and_rejects_unknown_fields() {
    let config: LockConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, LockConfig::default());
    assert_eq!(config.timeout_ms(LockCategory::Stage), 25_000);
    assert_eq!(config.timeout_ms(LockCategory::EngineStage), 25_000);
    assert_eq!(config.timeout_ms(LockCategory::Chat), 15_000);
    assert_eq!(config.timeout_ms(LockCategory::Table), 10_000);
    assert_eq!(config.timeout_ms(LockCategory::Player), 10_000);
    assert_eq!(config.timeout_ms(LockCategory::Jackpot), 5_000);
    assert_eq!(config.long_hold_warn_ms, 1_000);
    let tuned: LockConfig = serde_json::from_str(r#"{"table_timeout_ms": 3, "enforce_hierarchy": true}"#).unwrap();
    assert_eq!(tuned.timeout(LockCategory::Table), Duration::from_millis(3));
    assert!(tuned.enforce_hierarchy);
    assert!(serde_json::from_str::<LockConfig>(r#"{"table_timeout": 3}"#).is_err());
}

#[test]
fn errors_serialize_and_display() {
    let error = LockError::Reentrant { key: LockKey::new(LockCategory::Table, "table-3") };
    assert_eq!(error.to_string(), "owner already holds or awaits lock table:table-3");
    assert_eq!(
        serde_json::to_value(&error).unwrap(),
        serde_json::json!({"error": "reentrant", "key": {"category": "table", "name": "table-3"}})
    );
}
