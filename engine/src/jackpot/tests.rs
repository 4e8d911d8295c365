//! Unit tests of `jackpot`, kept beside it so the module itself stays readable.

use super::*;
use crate::clock::Clock;
use crate::clock::TokioClock;
use crate::store::{KeyKind, MemoryStore, StoreFuture};
use proptest::prelude::*;
use rand::SeedableRng;

/// An outside contribution with operation ID `operation`.
fn external(operation: &str) -> Contribution {
    Contribution::External { operation: operation.to_string() }
}

/// Chips in the House before any contribution.
const SUPPLY: Chips = 1_000_000;
/// Rake of one contribution in these tests: with the default shares (1000/500/250 bps) it
/// splits into 99/49/24, leaving 827 (every rounding remainder) in the House.
const RAKE: Chips = 999;
const CONTRIBUTIONS_COUNT: u64 = 50;

/// A store for tests: each call waits `latency` (so spawned tasks interleave), a
/// meddler may bump one key's version just before each commit with a given label (a
/// concurrent writer that always wins), the reply of the next commit of one label may be lost
/// after it applied, and the labels of applied transactions are logged.
#[derive(Clone)]
struct TestStore {
    inner: MemoryStore,
    latency: Duration,
    meddle: Option<(TxnKind, Key)>,
    lose_next_reply: Arc<Mutex<Option<TxnKind>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestStore {
    async fn delay(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn labels(&self, prefix: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.starts_with(prefix)).cloned().collect()
    }
}

impl Store for TestStore {
    fn get(&self, key: Key) -> StoreFuture<'_, Option<Versioned>> {
        Box::pin(async move {
            self.delay().await;
            Ok(self.inner.read(key))
        })
    }

    fn scan(&self, kind: KeyKind) -> StoreFuture<'_, Vec<(Key, Versioned)>> {
        Box::pin(async move {
            self.delay().await;
            Ok(self.inner.read_kind(kind))
        })
    }

    fn commit(&self, txn: Txn) -> StoreFuture<'_, Vec<(Key, u64)>> {
        Box::pin(async move {
            self.delay().await;
            if let Some((label, key)) = self.meddle
                && label == txn.kind
            {
                let row = self.inner.read(key).expect("meddled key exists");
                self.inner.apply(&Txn::new(TxnKind::StaleWriter).put(key, row.value)).unwrap();
            }
            let result = self.inner.apply(&txn);
            if result.is_ok() {
                self.log.lock().unwrap().push(txn.kind.to_string());
                let mut lose = self.lose_next_reply.lock().unwrap();
                if *lose == Some(txn.kind) {
                    *lose = None;
                    return Err(StoreError::TimedOut);
                }
            }
            result
        })
    }
}

struct Fixture {
    service: Arc<JackpotService>,
    memory: MemoryStore,
    store: TestStore,
    metrics: Metrics,
}

async fn fixture(variant: JackpotVariant, latency_ms: u64, meddle: Option<(TxnKind, Key)>) -> Fixture {
    let memory = MemoryStore::new();
    memory.apply(&Txn::new(TxnKind::Provision).put(Key::House, Value::House(SUPPLY))).unwrap();
    let store = TestStore {
        inner: memory.clone(),
        latency: Duration::from_millis(latency_ms),
        meddle,
        lose_next_reply: Arc::default(),
        log: Arc::default(),
    };
    let metrics = Metrics::new();
    let store_handle: Arc<dyn Store> = Arc::new(store.clone());
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_now());
    let wallet = Arc::new(WalletService::new(
        store_handle.clone(),
        clock.clone(),
        metrics.clone(),
        ChaCha8Rng::seed_from_u64(8),
        crate::wallet::WalletConfig::default(),
    ));
    let parts = JackpotParts {
        store: store_handle,
        clock,
        metrics: metrics.clone(),
        rng: ChaCha8Rng::seed_from_u64(7),
        wallet,
    };
    let service = Arc::new(JackpotService::new(parts, JackpotServiceConfig::default(), variant));
    service.ensure_pools().await.unwrap();
    service.ensure_pools().await.unwrap(); // idempotent
    Fixture { service, memory, store, metrics }
}

fn pool(memory: &MemoryStore, group: JackpotGroup) -> JackpotPool {
    memory.read(Key::Jackpot(group)).unwrap().value.as_pool().clone()
}

fn house(memory: &MemoryStore) -> Chips {
    memory.read(Key::House).unwrap().value.chips_held()
}

fn wallet(memory: &MemoryStore, user: UserId) -> Chips {
    memory.read(Key::Wallet(user)).map_or(0, |row| row.value.chips_held())
}

/// Fills `group`'s pool with exactly `amount` chips taken from the House.
fn fill(memory: &MemoryStore, group: JackpotGroup, amount: Chips) {
    let mut p = pool(memory, group);
    p.amount += amount;
    p.contributed_total += amount;
    let house = house(memory);
    let txn = Txn::new(TxnKind::Provision)
        .put(Key::Jackpot(group), Value::Jackpot(p))
        .put(Key::House, Value::House(house - amount));
    memory.apply(&txn).unwrap();
}

/// Runs `CONTRIBUTIONS_COUNT` contributions at once; a caller whose contribution lost every
/// retry tries again later with the same operation ID, as the game flow would.
async fn contribute_concurrently(service: &Arc<JackpotService>) -> Vec<ContributeOutcome> {
    let tasks: Vec<_> = (0..CONTRIBUTIONS_COUNT)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                loop {
                    match service.contribute(&external(&format!("pot-{i}")), RAKE).await {
                        Ok(outcome) => return outcome,
                        Err(JackpotError::ConcurrencyViolation(_)) => {
                            tokio::time::sleep(Duration::from_millis(1_000 + i)).await;
                        }
                        Err(other) => panic!("unexpected contribution error: {other}"),
                    }
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

#[test]
fn the_split_keeps_every_remainder_in_the_house() {
    let split = split_rake(RAKE, &JackpotServiceConfig::default().initial_share_bps);
    let shares = vec![(JackpotGroup::Minor, 99), (JackpotGroup::Major, 49), (JackpotGroup::Mega, 24)];
    assert_eq!(split, RakeSplit { shares, house_kept: 827 });
    assert_eq!(split_rake(5, &[(JackpotGroup::Mega, 10_000)]).share(JackpotGroup::Mega), 5);
    assert_eq!(split_rake(u64::MAX, &[(JackpotGroup::Minor, 10_000)]).house_kept, 0);
    assert_eq!([0, 1, 2, 3].map(|r| backoff_step_ms(RETRY_BACKOFF_BASE_MS, r)), [100, 200, 400, 800]);
}

#[test]
fn invalid_shares_are_rejected() {
    let too_much = [(JackpotGroup::Minor, 5_000), (JackpotGroup::Major, 5_001)];
    assert!(matches!(validate_shares(&too_much), Err(JackpotError::InvalidConfig { .. })));
    let twice = [(JackpotGroup::Minor, 1), (JackpotGroup::Minor, 1)];
    assert!(matches!(validate_shares(&twice), Err(JackpotError::InvalidConfig { .. })));
    assert!(validate_shares(&[(JackpotGroup::Mega, SHARE_BPS_TOTAL_MAX)]).is_ok());
}

fn share_lists() -> impl Strategy<Value = (u32, u32, u32)> {
    (0u32..=10_000)
        .prop_flat_map(|a| (Just(a), 0..=10_000 - a))
        .prop_flat_map(|(a, b)| (Just(a), Just(b), 0..=10_000 - a - b))
}

proptest! {
    #[test]
    fn the_split_conserves_chips(rake in prop_oneof![0u64..10_000, any::<u64>()], (a, b, c) in share_lists()) {
        let bps = [(JackpotGroup::Mega, c), (JackpotGroup::Minor, a), (JackpotGroup::Major, b)];
        let split = split_rake(rake, &bps);
        let shares: u128 = split.shares.iter().map(|(_, s)| u128::from(*s)).sum();
        prop_assert_eq!(shares + u128::from(split.house_kept), u128::from(rake));
        for (group, share) in bps {
            let exact = u128::from(rake) * u128::from(share) / 10_000;
            prop_assert_eq!(u128::from(split.share(group)), exact);
        }
    }

    #[test]
    fn a_payout_never_exceeds_the_pool(requested in any::<u64>(), pool in any::<u64>()) {
        let paid = payout_amount(requested, pool);
        prop_assert!(paid <= pool && paid <= requested);
        prop_assert!(paid == requested || paid == pool);
    }
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_contributions_sum_exactly() {
    let f = fixture(JackpotVariant::Optimistic, 1, None).await;
    let outcomes = contribute_concurrently(&f.service).await;
    assert!(outcomes.iter().all(|o| o.split == split_rake(RAKE, &JackpotServiceConfig::default().initial_share_bps)));
    assert_eq!(f.memory.chips_total(), SUPPLY, "chips are conserved");
    let n = CONTRIBUTIONS_COUNT;
    for (group, share) in [(JackpotGroup::Minor, 99), (JackpotGroup::Major, 49), (JackpotGroup::Mega, 24)] {
        let p = pool(&f.memory, group);
        assert_eq!((p.amount, p.contributed_total), (n * share, n * share), "{group:?}");
    }
    assert_eq!(house(&f.memory), SUPPLY - n * 172);
    // The contention was real: the retry path ran.
    assert!(f.metrics.counter(METRIC_CONFLICTS, &[("operation", "contribute")]) > 0);
    assert!(f.metrics.counter(METRIC_RETRIES, &[("operation", "contribute")]) > 0);
    let successes = f.metrics.counter(METRIC_OPERATIONS, &[("operation", "contribute"), ("status", "success")]);
    assert_eq!(successes, n);
    let durations = f.metrics.snapshot().histograms[&format!("{METRIC_DURATION}{{operation=\"contribute\"}}")].count();
    assert!(durations >= n);
    // A repeated operation ID moves nothing.
    let again = f.service.contribute(&external("pot-0"), RAKE).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(house(&f.memory), SUPPLY - n * 172);
}

/// The historical bug: pools written back without a version check lose concurrent
/// increments, and the chips taken from the House vanish.
#[tokio::test(start_paused = true)]
async fn the_unversioned_variant_loses_chips_under_concurrent_contributions() {
    let f = fixture(JackpotVariant::Unversioned, 1, None).await;
    let outcomes = contribute_concurrently(&f.service).await;
    assert_eq!(outcomes.len() as u64, CONTRIBUTIONS_COUNT);
    assert_eq!(house(&f.memory), SUPPLY - CONTRIBUTIONS_COUNT * 172, "the House debits are all applied");
    assert!(f.memory.chips_total() < SUPPLY, "chips vanished: {} < {SUPPLY}", f.memory.chips_total());
    assert!(pool(&f.memory, JackpotGroup::Minor).amount < CONTRIBUTIONS_COUNT * 99);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_raise_a_concurrency_violation_naming_operation_and_group() {
    let f =
        fixture(JackpotVariant::Optimistic, 0, Some((TxnKind::JackpotContribute, Key::Jackpot(JackpotGroup::Mega))))
            .await;
    let started = Instant::now();
    let error = f.service.contribute(&external("pot-x"), RAKE).await.unwrap_err();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let JackpotError::ConcurrencyViolation(violation) = error else { panic!("expected a violation, got {error}") };
    assert_eq!(violation.operation, "contribute");
    assert_eq!(violation.group, Some(JackpotGroup::Mega));
    assert_eq!(violation.conflict_details.key, Key::Jackpot(JackpotGroup::Mega));
    assert_eq!(violation.conflict_details.attempts, CONTRIBUTE_RETRIES_MAX + 1);
    // Backoff 100 + 200 + 400 ms, each plus at most 25 % jitter.
    assert!((700..=875).contains(&elapsed_ms), "backoff took {elapsed_ms} ms");
    assert_eq!(f.metrics.counter(METRIC_RETRIES, &[("operation", "contribute")]), 3);
    assert_eq!(f.metrics.counter(METRIC_CONFLICTS, &[("operation", "contribute")]), 4);
    let status = [("operation", "contribute"), ("status", "concurrency_violation")];
    assert_eq!(f.metrics.counter(METRIC_OPERATIONS, &status), 1);
    // All or nothing: the House and the other pools were not touched either.
    assert_eq!(house(&f.memory), SUPPLY);
    assert_eq!(pool(&f.memory, JackpotGroup::Minor).amount, 0);
    assert_eq!(f.memory.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn a_win_never_exceeds_its_pool() {
    let f = fixture(JackpotVariant::Optimistic, 0, None).await;
    fill(&f.memory, JackpotGroup::Major, 1_000);
    let user = UserId(9);
    let outcome = f.service.process_win("w-1", JackpotGroup::Major, user, 5_000).await.unwrap();
    assert_eq!((outcome.paid, outcome.pool_after, outcome.duplicate), (1_000, 0, false));
    assert_eq!(wallet(&f.memory, user), 1_000);
    let p = pool(&f.memory, JackpotGroup::Major);
    assert_eq!((p.amount, p.won_total, p.lock_holder, p.lock_expires_ms), (0, 1_000, None, None));
    let empty = f.service.process_win("w-2", JackpotGroup::Major, user, 10).await.unwrap();
    assert_eq!(empty.paid, 0);
    assert_eq!(wallet(&f.memory, user), 1_000);
    assert_eq!(f.memory.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn a_repeated_win_id_pays_once() {
    let f = fixture(JackpotVariant::Optimistic, 0, None).await;
    fill(&f.memory, JackpotGroup::Minor, 1_000);
    let user = UserId(3);
    let first = f.service.process_win("w-1", JackpotGroup::Minor, user, 300).await.unwrap();
    let second = f.service.process_win("w-1", JackpotGroup::Minor, user, 300).await.unwrap();
    assert_eq!(second, WinOutcome { duplicate: true, ..first.clone() });
    assert_eq!(wallet(&f.memory, user), 300);
    assert_eq!(pool(&f.memory, JackpotGroup::Minor).amount, 700);
    let reused = f.service.process_win("w-1", JackpotGroup::Minor, user, 301).await;
    assert!(matches!(reused, Err(JackpotError::IdReused { .. })), "{reused:?}");
    assert_eq!(f.metrics.counter(METRIC_OPERATIONS, &[("operation", "win"), ("status", "duplicate")]), 1);
    assert_eq!(f.store.labels("jackpot.win.pay").len(), 1);
    assert_eq!(f.memory.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn a_row_lock_whose_reply_was_lost_is_given_back_not_left_for_a_takeover() {
    let f = fixture(JackpotVariant::Optimistic, 0, None).await;
    fill(&f.memory, JackpotGroup::Minor, 1_000);
    *f.store.lose_next_reply.lock().unwrap() = Some(TxnKind::JackpotWinLock);
    let lost = f.service.process_win("w-1", JackpotGroup::Minor, UserId(3), 300).await;
    assert!(matches!(lost, Err(JackpotError::Store(StoreError::TimedOut))), "{lost:?}");
    assert_eq!(pool(&f.memory, JackpotGroup::Minor).lock_holder, None, "the lock it may have taken is released");
    let started = tokio::time::Instant::now();
    f.service.process_win("w-2", JackpotGroup::Minor, UserId(4), 300).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the next win does not wait for the lease");
    assert_eq!(f.metrics.counter(METRIC_LOCK_TAKEOVERS, &[("group", "minor")]), 0);
}

#[tokio::test(start_paused = true)]
async fn concurrent_wins_on_one_group_serialize_under_the_row_lock() {
    let f = fixture(JackpotVariant::Optimistic, 1, None).await;
    fill(&f.memory, JackpotGroup::Mega, 1_000);
    let tasks: Vec<_> = [1, 2]
        .map(|u| {
            let service = f.service.clone();
            tokio::spawn(
                async move { service.process_win(&format!("w-{u}"), JackpotGroup::Mega, UserId(u), 700).await },
            )
        })
        .into_iter()
        .collect();
    let mut paid = Vec::new();
    for task in tasks {
        paid.push(task.await.unwrap().unwrap().paid);
    }
    paid.sort();
    assert_eq!(paid, [300, 700]);
    assert_eq!(wallet(&f.memory, UserId(1)) + wallet(&f.memory, UserId(2)), 1_000);
    assert_eq!(pool(&f.memory, JackpotGroup::Mega).amount, 0);
    // Lock, pay, lock, pay: the second win took the lock only after the first released it.
    let order = f.store.labels("jackpot.win");
    assert_eq!(order, ["jackpot.win.lock", "jackpot.win.pay", "jackpot.win.lock", "jackpot.win.pay"]);
    assert_eq!(f.memory.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn a_row_lock_held_elsewhere_times_out_after_five_seconds_and_an_expired_one_is_taken_over() {
    let f = fixture(JackpotVariant::Optimistic, 0, None).await;
    fill(&f.memory, JackpotGroup::Minor, 1_000);
    let hold = |until_ms| {
        let mut p = pool(&f.memory, JackpotGroup::Minor);
        p.lock_holder = Some("elsewhere".into());
        p.lock_expires_ms = Some(until_ms);
        f.memory
            .apply(&Txn::new(TxnKind::Provision).put(Key::Jackpot(JackpotGroup::Minor), Value::Jackpot(p)))
            .unwrap();
    };
    hold(60_000);
    let started = Instant::now();
    let error = f.service.process_win("w-1", JackpotGroup::Minor, UserId(1), 10).await.unwrap_err();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    assert_eq!(
        error,
        JackpotError::LockTimeout {
            group: JackpotGroup::Minor,
            holder: Some("elsewhere".into()),
            waited_ms: WIN_LOCK_TIMEOUT_MS
        }
    );
    assert!((WIN_LOCK_TIMEOUT_MS..WIN_LOCK_TIMEOUT_MS + 100).contains(&elapsed_ms), "{elapsed_ms} ms");
    assert_eq!(wallet(&f.memory, UserId(1)), 0);
    assert_eq!(f.metrics.counter(METRIC_OPERATIONS, &[("operation", "win"), ("status", "lock_timeout")]), 1);

    // A lease that runs out while the win waits is taken over.
    let now_ms = started.elapsed().as_millis() as u64;
    hold(now_ms + 1_000);
    let started = Instant::now();
    let outcome = f.service.process_win("w-1", JackpotGroup::Minor, UserId(1), 10).await.unwrap();
    assert_eq!(outcome.paid, 10);
    assert!((1_000..1_100).contains(&(started.elapsed().as_millis() as u64)));
    assert_eq!(f.metrics.counter(METRIC_LOCK_TAKEOVERS, &[("group", "minor")]), 1);
    assert_eq!(pool(&f.memory, JackpotGroup::Minor).lock_holder, None);
    assert_eq!(f.memory.chips_total(), SUPPLY);
}

#[tokio::test(start_paused = true)]
async fn recovery_at_boot_releases_the_row_locks_this_instance_died_holding_and_no_others() {
    let f = fixture(JackpotVariant::Optimistic, 0, None).await;
    let hold = |group, holder: &str| {
        let mut p = pool(&f.memory, group);
        p.lock_holder = Some(holder.into());
        p.lock_expires_ms = Some(60_000);
        f.memory.apply(&Txn::new(TxnKind::Provision).put(Key::Jackpot(group), Value::Jackpot(p))).unwrap();
    };
    hold(JackpotGroup::Minor, "engine/win:w-1:0000000000000001");
    hold(JackpotGroup::Major, "engine-2/win:w-2:0000000000000002");
    assert_eq!(f.service.recover().await, vec![JackpotGroup::Minor]);
    assert_eq!(pool(&f.memory, JackpotGroup::Minor).lock_holder, None, "this instance's dead holder");
    let major = pool(&f.memory, JackpotGroup::Major).lock_holder;
    assert_eq!(major.as_deref(), Some("engine-2/win:w-2:0000000000000002"), "another instance's lock is its own");
    assert_eq!(f.service.recover().await, vec![], "nothing left to release");
}

#[tokio::test(start_paused = true)]
async fn config_updates_are_validated_and_version_checked() {
    let f = fixture(JackpotVariant::Optimistic, 0, None).await;
    let invalid = f.service.update_config(vec![(JackpotGroup::Minor, 10_001)]).await;
    assert!(matches!(invalid, Err(JackpotError::InvalidConfig { .. })));
    f.service.update_config(vec![(JackpotGroup::Mega, 5_000)]).await.unwrap();
    let outcome = f.service.contribute(&external("pot-1"), 1_000).await.unwrap();
    assert_eq!(outcome.split.shares, [(JackpotGroup::Minor, 0), (JackpotGroup::Major, 0), (JackpotGroup::Mega, 500)]);
    assert_eq!(pool(&f.memory, JackpotGroup::Mega).amount, 500);

    let g = fixture(JackpotVariant::Optimistic, 0, Some((TxnKind::JackpotUpdateConfig, Key::JackpotConfig))).await;
    let error = g.service.update_config(vec![(JackpotGroup::Mega, 5_000)]).await.unwrap_err();
    let JackpotError::ConcurrencyViolation(violation) = error else { panic!("expected a violation, got {error}") };
    assert_eq!((violation.operation.as_str(), violation.group), ("update_config", None));
    assert_eq!(g.service.config().await.unwrap().share_bps, JackpotServiceConfig::default().initial_share_bps);
}
