//! The lock probe: a caller inside the engine process that, at a `lock_probe` opportunity
//! (one per second of the safety phase), takes two locks against the hierarchy — the later
//! level first, or two keys of one level out of name order. Nothing in the engine ever does
//! this, so without the probe a lock manager whose hierarchy detector went blind looks exactly
//! like a working one.
//!
//! The probe checks the manager's answer itself: with the hierarchy enforced the second
//! acquire must be refused as a hierarchy violation; without, it is granted but must be
//! recorded as one. Then it takes the same two keys in order, which must be granted and not
//! recorded. Last, a second owner waits for a key the probe holds and gives up before the
//! manager answers (a request cancelled mid-wait): the wait must leave nothing registered.
//! Any miss is a `locks` violation. Its keys (`probe-N`) are its own, so it never contends
//! with the engine. It never touches the store.

use std::sync::Arc;
use std::time::Duration;

use engine::locks::{LockCategory, LockError, LockKey, LockManager, LockMode};
use rand::Rng;

use crate::checkers::Invariant;
use crate::context::{SimContext, Stream};
use crate::faults::kind::FaultKind;
use crate::faults::schedule::Site;

/// One opportunity per this many ms.
const PROBE_INTERVAL_MS: u64 = 1_000;
/// The operation the probe's lock owner is named for (the lock checker knows it).
pub const PROBE_OPERATION: &str = "probe.out_of_order";

/// How long the probe's cancelled waiter waits before it gives up, in ms: far below every
/// category's lock timeout, so the manager has not answered it yet.
const CANCELLED_WAIT_MS: u64 = 1;

/// The categories with a place in the hierarchy, in its order.
const LEVELS: [LockCategory; 6] = [
    LockCategory::Stage,
    LockCategory::Table,
    LockCategory::Deck,
    LockCategory::BettingRound,
    LockCategory::Pot,
    LockCategory::Player,
];

/// Runs the probe for the life of one engine process.
pub(crate) async fn run(context: Arc<SimContext>, locks: LockManager) {
    let mut round = 0u64;
    loop {
        context.sleep(Duration::from_millis(PROBE_INTERVAL_MS)).await;
        if !context.faults_on() {
            return;
        }
        round += 1;
        let opportunity = context.opportunity(Site::LockProbe);
        let p = context.plan.settings.out_of_order_lock_probability;
        let fired = context.decide(&opportunity, FaultKind::OutOfOrderLock, Stream::LockProbe, |rng, fault| {
            (p > 0.0 && rng.random_bool(p)).then(|| fault.fire())
        });
        if fired.is_some() {
            let (first, second) = out_of_order_pair(&mut context.site_rng(&opportunity, "lock-probe"), round);
            probe(&context, &locks, first, second).await;
        }
    }
}

/// Two keys whose order breaks the hierarchy when `first` is taken first.
fn out_of_order_pair(rng: &mut impl Rng, round: u64) -> (LockKey, LockKey) {
    let low = rng.random_range(0..LEVELS.len());
    let high = rng.random_range(low..LEVELS.len());
    if low == high {
        let category = LEVELS[low];
        return (
            LockKey::new(category, format!("probe-{round}-b")),
            LockKey::new(category, format!("probe-{round}-a")),
        );
    }
    (LockKey::new(LEVELS[high], format!("probe-{round}")), LockKey::new(LEVELS[low], format!("probe-{round}")))
}

async fn probe(context: &SimContext, locks: &LockManager, first: LockKey, second: LockKey) {
    context.fault("engine", FaultKind::OutOfOrderLock, format!("{second} after {first}"));
    let mut missed = out_of_order(locks, &first, &second).await;
    missed = missed.or(in_order(locks, &second, &first).await);
    missed = missed.or(cancelled_wait(locks, &first).await);
    if let Some(message) = missed {
        context.violation(Invariant::Locks, format!("the lock manager, probed: {message}"));
    }
}

/// Takes `second` after `first`, against the hierarchy: with it enforced the manager must
/// refuse, else grant and record a violation. What it did wrong, if anything.
async fn out_of_order(locks: &LockManager, first: &LockKey, second: &LockKey) -> Option<String> {
    let enforced = locks.config().enforce_hierarchy;
    let owner = locks.owner(PROBE_OPERATION);
    let Ok(_held) = owner.acquire(first.clone(), LockMode::Write).await else { return None };
    let answer = owner.acquire(second.clone(), LockMode::Write).await;
    let recorded = locks
        .hierarchy_violations()
        .iter()
        .any(|v| v.owner == owner.id() && v.requested == *second && v.refused == enforced);
    match (&answer, enforced) {
        (Err(LockError::HierarchyViolation { .. }), true) => None,
        (_, true) => Some(format!("{second} after {first} was not refused although the hierarchy is enforced")),
        (Ok(_), false) if !recorded => {
            Some(format!("{second} after {first} was not recorded as a hierarchy violation"))
        }
        (Ok(_), false) => None,
        (Err(error), false) => Some(format!("{second} after {first} failed ({error}) with the hierarchy not enforced")),
    }
}

/// The same two keys the right way round, `low` then `high`: the manager must grant both and
/// record nothing — a detector that sees violations everywhere is as blind as one that sees
/// none. What it did wrong, if anything.
async fn in_order(locks: &LockManager, low: &LockKey, high: &LockKey) -> Option<String> {
    let owner = locks.owner(PROBE_OPERATION);
    let Ok(_held) = owner.acquire(low.clone(), LockMode::Write).await else { return None };
    let answer = owner.acquire(high.clone(), LockMode::Write).await;
    let recorded = locks.hierarchy_violations().iter().any(|v| v.owner == owner.id());
    match answer {
        Ok(_) if recorded => Some(format!("{high} after {low}, in order, was recorded as a hierarchy violation")),
        Ok(_) => None,
        Err(error) => Some(format!("{high} after {low}, in order, failed ({error})")),
    }
}

/// A waiter that gives up: while one owner holds `key`, another starts acquiring it and is
/// dropped before the manager answers, as a request handler's future is when its caller goes
/// away. Nothing in the engine cancels a wait today, so without the probe a manager that
/// leaks cancelled waits (its deadlock detector and `waiting` then report waits nobody waits
/// on) looks like a working one. What it did wrong, if anything.
async fn cancelled_wait(locks: &LockManager, key: &LockKey) -> Option<String> {
    let holder = locks.owner(PROBE_OPERATION);
    let Ok(_held) = holder.acquire(key.clone(), LockMode::Write).await else { return None };
    let waiter = locks.owner(PROBE_OPERATION);
    let wait = waiter.acquire(key.clone(), LockMode::Write);
    if let Ok(answer) = tokio::time::timeout(Duration::from_millis(CANCELLED_WAIT_MS), wait).await {
        let answer = answer.map(|_| "granted");
        return Some(format!("a second writer of {key}, held, was answered at once: {answer:?}"));
    }
    let left = locks.waiting().iter().any(|waiting| waiting.owner == waiter.id());
    left.then(|| format!("a wait for {key} cancelled after {CANCELLED_WAIT_MS} ms stayed registered"))
}
