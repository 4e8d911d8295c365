//! The run's one shared handle (`SimContext`): the scenario, the fault plan, the durable
//! store, the metrics sink, and — behind one mutex — the run state: the trace, the checkers,
//! the fault counters, the phase, the crash bookkeeping and the per-component random streams.
//! The simulated components (the store link, the messenger, the network, the engine host and
//! the clients) receive it and nothing else from the world, as neon's desim hands its code
//! one handle. The run state's fields are private: components change it only through the
//! methods below, each named for what happened in the run.
//!
//! Everything here runs on one thread (turmoil runs hosts one after another), so the mutex
//! is never contended; it exists so the handle can be shared with the engine's `Send` tasks.
//! It must never be held across an `.await`, and nothing called while holding it may call
//! back into it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use engine::buggify::Probe;
use engine::game::{ActionOutcome, ActionRequest, GameError};
use engine::hash::FxBuild;
use engine::ids::{RequestId, TableId, UserId};
use engine::jackpot::ConcurrencyViolationError;
use engine::locks::{DeadlockSnapshot, LockCategory, LockEvent, LockKey, LockManager, LockObserver, OwnerId};
use engine::metrics::{Metrics, MetricsSnapshot};
use engine::rules::Chips;
use engine::store::{JackpotGroup, Key, MemoryStore, StoreError, Txn, Versioned};
use indexmap::IndexMap;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::checkers::liveness::LocksInUse;
use crate::checkers::{At, Checkers, Invariant, TxnView, VIOLATIONS_KEPT_COUNT, Violation, atomicity};
use crate::faults::kind::FaultKind;
use crate::faults::plan::{FaultPlan, Window, draw_range};
use crate::faults::schedule::{Opportunity, Schedule, ScheduledFault, Site, Subject, Unfired};
use crate::protocol::{Asked, JackpotAnswer, JackpotRefusal, Reply};
use crate::scenario::Scenario;
use crate::seeds::{self, SiteRng, WordHash};
use crate::trace::{Trace, TraceEvent, TraceKept};

/// The two phases of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Faults on; safety is checked.
    Safety,
    /// Faults off, the engine restarted, the sweeper and DLQ processor draining; the run
    /// must converge.
    Heal,
}

/// The random streams, one per component, so that a change in one component's draws does
/// not shift every other component's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The store link's fault dice (and their parameters: how slow, how long, the downtime).
    StoreFaults,
    /// The messenger's fault dice (slow calls).
    ChatFaults,
    /// The network's fault dice (message loss).
    Network,
    /// The clients' fault dice (duplicates, stale and out-of-turn actions, resets).
    ClientFaults,
    /// The lock probe's dice (out-of-order acquires).
    LockProbe,
    /// The engine's fault points' dice (whether a point fires, and how).
    Points,
}

/// The fault dice, one stream per injector. Fault dice never share a stream with latencies
/// or choices — those come from streams of their own opportunity (`SimContext::site_rng`) or
/// actor — so a run replayed from its schedule (no dice at all) draws everything else exactly
/// as the run that recorded it.
struct Streams {
    store_faults: ChaCha8Rng,
    chat_faults: ChaCha8Rng,
    network: ChaCha8Rng,
    client_faults: ChaCha8Rng,
    lock_probe: ChaCha8Rng,
    points: ChaCha8Rng,
}

/// What a run found, read once when it ends (for its report).
pub(crate) struct RunFindings {
    pub violations: Vec<Violation>,
    pub violation_counts: BTreeMap<Invariant, u64>,
    pub faults_fired: BTreeMap<FaultKind, u64>,
    /// How many times each coverage probe was reached.
    pub probes: BTreeMap<Probe, u64>,
    pub requests: BTreeMap<String, u64>,
    pub engine_starts: u64,
    pub lock_holds_over_timeout: u64,
    /// Every fault that fired, as an explicit schedule (see `faults::schedule`).
    pub schedule: Vec<ScheduledFault>,
    pub trace_hash: u64,
    pub trace_events: u64,
    /// The kept trace events (all of them when replaying).
    pub events: Vec<TraceEvent>,
}

/// The mutable part of the run. Its fields are private: see the methods.
pub(crate) struct RunState {
    trace: Trace,
    checkers: Checkers,
    violations: Vec<Violation>,
    /// Violations per invariant, including those not kept.
    violation_counts: BTreeMap<Invariant, u64>,
    /// How many times each fault kind fired.
    faults_fired: BTreeMap<FaultKind, u64>,
    /// How many times each coverage probe was reached.
    probes: BTreeMap<Probe, u64>,
    phase: Phase,
    streams: Streams,
    /// Partitions opened at run time (after a reservation), besides the plan's.
    extra_partitions: Vec<Window>,
    /// The engine asked to crash now (a crash point after a store transaction), to restart
    /// after this many ms.
    crash_requested: Option<u64>,
    /// Crashes so far, of either kind.
    crashes_done: u32,
    /// The lock manager of each engine process now running, by engine host.
    /// The lock manager of each engine process now running, by host index, with the
    /// process's name when it is not the first host (its keys are reported inside it).
    locks: BTreeMap<u32, (Option<String>, LockManager)>,
    /// Simulated time as the driver last saw it, in µs (used outside any host), and the same
    /// shared with the store's clock.
    driver_now_us: u64,
    driver_clock: Arc<std::sync::atomic::AtomicU64>,
    /// Engine starts so far (1 after the first boot).
    engine_starts: u64,
    /// Client-side count of requests sent, replies received, requests given up.
    requests: BTreeMap<String, u64>,
    /// The engine process is being torn down (a crash, or the end of the run): its tasks are
    /// dropped in an order tokio derives from process-global task IDs, so what they report
    /// while dying is not traced (their locks die with the process).
    engine_dying: bool,
    /// Each site seen so far: how often, and its streams' label hashes (worked out once, for
    /// `site_rng`). Looked up on every store call, datagram and turn, so hashed (unkeyed: the
    /// same run lays it out the same way); never iterated.
    opportunities: IndexMap<Site, SiteSeen, FxBuild>,
    /// The plan's schedule, when faults come from one instead of dice.
    schedule: Option<Schedule>,
    /// The faults that fired so far, in order.
    fired: Vec<ScheduledFault>,
    /// Commits sent by the engine process now running that have not reached the store, by
    /// call number: what a crash can turn into zombie writes.
    in_flight: BTreeMap<u64, Txn>,
    next_call: u64,
    /// Zombie writes waiting to land, with the instant they land at (µs), in decision order.
    zombies: Vec<(u64, Txn)>,
    /// When the run records its timers (`world::run_recording_timers`): the instant (µs) each
    /// of the simulator's own sleeps ends at, by host.
    timer_wakes: Option<TimerWakes>,
}

/// The simulator's own timers in one run, by host: the instant each sleep ended at, in
/// simulated µs, in the order the sleeps began. The engine's own timers (its expiry sweeper,
/// dedup purge, jackpot backoff, fault-point delays) are not among them.
pub type TimerWakes = BTreeMap<String, Vec<u64>>;

/// The run's shared handle.
pub(crate) struct SimContext {
    pub seed: u64,
    pub scenario: Scenario,
    pub plan: FaultPlan,
    pub store: MemoryStore,
    /// Every engine process reports here (the sink outlives crashes; the engine's own
    /// in-memory state does not).
    pub metrics: Metrics,
    /// Whether the run records its timers (read at every sleep, so not behind the mutex).
    records_timers: AtomicBool,
    state: Mutex<RunState>,
}

impl SimContext {
    pub fn new(
        seed: u64,
        scenario: Scenario,
        plan: FaultPlan,
        store: MemoryStore,
        checkers: Checkers,
        kept: TraceKept,
    ) -> Arc<SimContext> {
        let streams = Streams {
            store_faults: seeds::rng(seed, "store-faults", 0),
            chat_faults: seeds::rng(seed, "chat-faults", 0),
            network: seeds::rng(seed, "network", 0),
            client_faults: seeds::rng(seed, "client-faults", 0),
            lock_probe: seeds::rng(seed, "lock-probe", 0),
            points: seeds::rng(seed, "fault-points", 0),
        };
        let schedule = plan.schedule.as_deref().map(Schedule::new);
        let fired = plan_timed_faults(&plan);
        Arc::new(SimContext {
            seed,
            scenario,
            plan,
            store,
            metrics: Metrics::new(),
            records_timers: AtomicBool::new(false),
            state: Mutex::new(RunState {
                trace: Trace::new(kept),
                checkers,
                violations: Vec::new(),
                violation_counts: BTreeMap::new(),
                faults_fired: BTreeMap::new(),
                probes: BTreeMap::new(),
                phase: Phase::Safety,
                streams,
                extra_partitions: Vec::new(),
                crash_requested: None,
                crashes_done: 0,
                locks: BTreeMap::new(),
                driver_now_us: 0,
                driver_clock: Arc::default(),
                engine_starts: 0,
                requests: BTreeMap::new(),
                engine_dying: false,
                opportunities: IndexMap::default(),
                schedule,
                fired,
                in_flight: BTreeMap::new(),
                next_call: 0,
                zombies: Vec::new(),
                timer_wakes: None,
            }),
        })
    }

    /// The run state. Never hold it across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Simulated time in µs: the current host's clock inside a host, the driver's outside.
    pub fn now_us(&self) -> u64 {
        match crate::host_clock::sim_elapsed() {
            Some(elapsed) => elapsed.as_micros() as u64,
            None => self.state().driver_now_us,
        }
    }

    /// The current step of the world, in simulated µs: it began at the driver's time and lasts
    /// one tick, and every host's clock lies within it while the step runs.
    pub fn step_us(&self) -> std::ops::Range<u64> {
        let start_us = self.state().driver_now_us();
        start_us..start_us + self.scenario.world.tick_ms * 1_000
    }

    /// Whether faults are injected now.
    pub fn faults_on(&self) -> bool {
        self.state().phase == Phase::Safety
    }

    /// A random stream of one opportunity alone, for `purpose` (its latency, its answer): the
    /// same opportunity draws the same values whatever else happened in the run.
    pub fn site_rng(&self, opportunity: &Opportunity, purpose: &'static str) -> SiteRng {
        SiteStream(self.state().site_seed(opportunity, purpose, self.seed)).rng()
    }

    /// Counts one occurrence of `site` and returns it, for [`SimContext::decide`].
    pub fn opportunity(&self, site: Site) -> Opportunity {
        self.state().opportunity(site)
    }

    /// [`SimContext::opportunity`] with the seed of its stream for `purpose` — the stream
    /// [`SimContext::site_rng`] gives — found in the same look-up of the site.
    pub fn opportunity_with_stream(&self, site: Site, purpose: &'static str) -> (Opportunity, SiteStream) {
        let (opportunity, [seed]) = self.state().opportunity_with_seeds(site, [purpose], self.seed);
        (opportunity, SiteStream(seed))
    }

    /// [`SimContext::opportunity_with_stream`] for two purposes at once.
    pub fn opportunity_with_streams(&self, site: Site, purposes: [&'static str; 2]) -> (Opportunity, [SiteStream; 2]) {
        let (opportunity, seeds) = self.state().opportunity_with_seeds(site, purposes, self.seed);
        (opportunity, seeds.map(SiteStream))
    }

    /// Whether a fault of `kind` fires at `opportunity`, and with what parameters: in the
    /// safety phase only; from the plan's schedule when it has one, else from `roll` — the
    /// dice, drawn from the fault stream `dice` and returning the fault with its parameters
    /// when it fires. What fires is recorded either way (`RunFindings::schedule`).
    pub fn decide(
        &self,
        opportunity: &Opportunity,
        kind: FaultKind,
        dice: Stream,
        roll: impl FnOnce(&mut ChaCha8Rng, Unfired<'_>) -> Option<ScheduledFault>,
    ) -> Option<ScheduledFault> {
        self.dice(opportunity).decide(kind, dice, roll)
    }

    /// The run state held for several [`SimContext::decide`]s at one opportunity in a row (a
    /// store call decides seven fault kinds): one lock instead of one per kind. Nothing may
    /// call into the context while it lives.
    pub fn dice<'a>(&'a self, opportunity: &'a Opportunity) -> Dice<'a> {
        Dice { state: self.state(), opportunity }
    }

    /// Sleeps `duration` on the current host: the simulator's every own timer goes through
    /// here, so that a run can record them (`world::run_recording_timers`).
    pub async fn sleep(&self, duration: Duration) {
        if self.records_timers.load(Ordering::Relaxed) {
            let host = crate::host_clock::current_host().map_or_else(|| "?".to_string(), |h| h.to_string());
            let wake_us = self.now_us() + duration.as_micros() as u64;
            if let Some(wakes) = self.state().timer_wakes.as_mut() {
                wakes.entry(host).or_default().push(wake_us);
            }
        }
        tokio::time::sleep(duration).await;
    }

    /// From now on, records the simulator's own timers ([`SimContext::sleep`]).
    pub fn record_timers(&self) {
        self.state().timer_wakes = Some(TimerWakes::new());
        self.records_timers.store(true, Ordering::Relaxed);
    }

    /// The timers recorded so far (empty unless recording).
    pub fn recorded_timers(&self) -> TimerWakes {
        self.state().timer_wakes.clone().unwrap_or_default()
    }

    /// Records a trace event.
    pub fn trace(&self, host: &str, kind: &str, detail: String) {
        let at_us = self.now_us();
        self.state().record(at_us, host, kind, detail);
    }

    /// [`SimContext::trace`] for the hot paths: hashed from `fields`, which must say all that
    /// `detail` says, and spelled as `detail` only if the trace keeps events.
    pub fn trace_fields<F: Serialize + ?Sized>(&self, host: &str, kind: &str, fields: &F, detail: fmt::Arguments<'_>) {
        let at_us = self.now_us();
        self.state().record_fields(at_us, host, kind, fields, detail);
    }

    /// Records that a fault fired, in the counters and the trace.
    pub fn fault(&self, host: &str, kind: FaultKind, detail: String) {
        let at_us = self.now_us();
        self.state().fault(at_us, host, kind, detail);
    }

    /// Counts a client-side request event (`sent`, `replied`, `gave_up`, …).
    pub fn count_request(&self, what: &str) {
        *self.state().requests.entry(what.to_string()).or_default() += 1;
    }

    /// Where the run is: the number of trace events so far (the index of the next). Events are
    /// recorded in the order they happen, in every host, so this orders what clocks cannot.
    pub fn trace_len(&self) -> u64 {
        self.state().trace.len()
    }

    /// A client starts sending action `request` (its first attempt; copies and retries call
    /// again): where the run is, for the `reads` check.
    pub fn client_sent(&self, request: RequestId) {
        let mut state = self.state();
        let sent_len = state.trace.len();
        state.checkers.reads.on_send(request, sent_len);
    }

    /// Runs `check` on an answer — a reply that reached its client, or a refusal the engine
    /// host is about to send — at the current time and trace position, and reports what it
    /// found.
    fn check_reply(&self, check: impl FnOnce(&mut Checkers, At, &mut Vec<Violation>)) {
        let at_us = self.now_us();
        let mut state = self.state();
        let at = At { trace_index: state.trace.len().saturating_sub(1), at_us };
        let mut found = Vec::new();
        check(&mut state.checkers, at, &mut found);
        state.report(found);
    }

    /// The engine host refused a `/start` of `table`, received when the trace held
    /// `received_len` events, as lacking two seated players with chips (the `reads` check).
    pub fn start_refused_for_players(&self, table: TableId, received_len: u64) {
        self.check_reply(|checkers, at, out| checkers.reads.on_start_refused_for_players(table, received_len, at, out));
    }

    /// The engine host answered the request its current task served, which `asked`, with
    /// `reply` (the checkers judge the retries behind a refusal, the save behind an
    /// acknowledgement, and a refusal's reason against the request).
    pub fn request_answered(&self, asked: Asked, reply: &Reply) {
        let task = tokio::task::try_id();
        self.check_reply(|checkers, at, found| checkers.after_answer(task, asked, reply, at, found));
    }

    /// A jackpot win on `group` was refused for its row lock after `waited` on the engine host,
    /// against a lock timeout of `timeout_ms`.
    pub fn jackpot_win_lock_timed_out(&self, group: JackpotGroup, waited: Duration, timeout_ms: u64) {
        let waited_ms = waited.as_millis() as u64;
        self.check_reply(|checkers, at, found| {
            checkers.jackpot.on_win_lock_timeout(group, waited_ms, timeout_ms, at, found)
        });
    }

    /// A jackpot win served by the current task was refused as having lost its pool's row
    /// lock to `holder`.
    pub fn jackpot_win_lock_lost(&self, group: JackpotGroup, holder: Option<&str>) {
        let task = tokio::task::try_id();
        self.check_reply(|checkers, at, found| checkers.jackpot.on_win_lock_lost(task, group, holder, at, found));
    }

    /// A jackpot operation was refused as the concurrency violation `refusal`, against
    /// `retries_max` retries after the first attempt.
    pub fn jackpot_retries_exhausted(&self, refusal: &ConcurrencyViolationError, retries_max: u32) {
        self.check_reply(|checkers, at, found| checkers.jackpot.on_retries_exhausted(refusal, retries_max, at, found));
    }

    /// A reply to `request` reached its client: the client-side at-most-once check, and the
    /// `reads` check of a refusal that states a balance.
    pub fn client_reply(&self, request: &ActionRequest, reply: &Result<ActionOutcome, GameError>) {
        self.check_reply(|checkers, at, found| {
            checkers.at_most_once.on_reply(request.request, reply, at, found);
            if let Err(error) = reply {
                checkers.reads.on_action_refused(request.user, request.request, error, at, found);
            }
        });
    }

    /// The answer to `user`'s balance read, first sent when the trace held `sent_len` events,
    /// reached its client.
    pub fn balance_reply(&self, user: UserId, sent_len: u64, reply: &Result<Chips, GameError>) {
        self.check_reply(|checkers, at, found| checkers.reads.on_balance(user, sent_len, reply, at, found));
    }

    /// A violation found inside a host by a component that checks an answer itself (the
    /// lock probe), at the current time and trace position.
    pub fn violation(&self, invariant: Invariant, message: String) {
        let at_us = self.now_us();
        let mut state = self.state();
        let at = At { trace_index: state.trace.len().saturating_sub(1), at_us };
        state.report(vec![at.violation(invariant, message)]);
    }

    /// The second copy of jackpot `operation` got `again` after the first got `first`: the
    /// at-most-once check of jackpot replays.
    pub fn jackpot_duplicate_reply(
        &self,
        operation: &str,
        first: &JackpotAnswer,
        again: &Result<JackpotAnswer, JackpotRefusal>,
    ) {
        self.check_reply(|checkers, at, found| {
            checkers.at_most_once.on_jackpot_duplicate(operation, first, again, at, found);
        });
    }

    /// Jackpot `operation`, already processed, was sent again with another payload and got
    /// `reused`: the reused-ID check of jackpot operations.
    pub fn jackpot_reused_reply(&self, operation: &str, reused: &Result<JackpotAnswer, JackpotRefusal>) {
        self.check_reply(|checkers, at, found| checkers.at_most_once.on_jackpot_reused(operation, reused, at, found));
    }

    /// The reply to a request ID a client reused for a different payload (never the ID's
    /// own answer): it must be refused as reused.
    pub fn reused_reply(&self, request: RequestId, reply: &Result<ActionOutcome, GameError>) {
        self.check_reply(|checkers, at, found| checkers.at_most_once.on_reused_reply(request, reply, at, found));
    }

    /// A reply to the other payload sent under `request` while its first copy was in flight
    /// reached its client (the at-most-once check: its final answers agree with each other).
    pub fn racing_reply(&self, request: RequestId, reply: &Result<ActionOutcome, GameError>) {
        self.check_reply(|checkers, at, found| checkers.at_most_once.on_racing_reply(request, reply, at, found));
    }

    /// Both payloads sent at once under `request` got their final answers, `own` and `racing`
    /// (the at-most-once check: at most one of them was taken as the ID's payload).
    pub fn racing_answered(
        &self,
        request: RequestId,
        own: &Result<ActionOutcome, GameError>,
        racing: &Result<ActionOutcome, GameError>,
    ) {
        self.check_reply(|checkers, at, found| {
            checkers.at_most_once.on_racing_answered(request, own, racing, at, found)
        });
    }

    /// Applies `txn` to the store and runs the checkers on it, with nothing in between: the
    /// simulation is single-threaded and there is no await between the two. Traced by
    /// `host` as `txn <kind> ok <versions>` or `txn <kind> refused [<keys>]: <error>`.
    pub fn apply_txn(&self, host: &str, txn: &Txn) -> Result<Vec<(Key, u64)>, StoreError> {
        let now_us = self.now_us();
        let mut state = self.state();
        let before = atomicity::rows_before(txn, |key| self.store.read(key));
        let result = self.store.apply(txn);
        match &result {
            Ok(versions) => {
                let detail = format_args!("{} ok {}", txn.kind, Versions(versions));
                let index = state.record_fields(now_us, host, "txn", &(txn.kind, versions), detail);
                let changes: Vec<(Key, Option<Versioned>, Option<Versioned>)> =
                    before.into_iter().map(|(key, b)| (key, b, self.store.read(key))).collect();
                let view = TxnView { txn, changes: &changes, now_ms: now_us / 1_000 };
                let mut found = Vec::new();
                let task = tokio::task::try_id();
                state.checkers.after_txn(&view, task, At { trace_index: index, at_us: now_us }, &mut found);
                state.report(found);
            }
            Err(error) => {
                let keys: Vec<String> = txn.writes.iter().map(|w| format!("{:?}", w.key)).collect();
                let index =
                    state.record(now_us, host, "txn", format!("{} refused [{}]: {error}", txn.kind, keys.join(" ")));
                let at = At { trace_index: index, at_us: now_us };
                if let Some(violation) = atomicity::check_refused(txn, error, &before, |key| self.store.read(key), at) {
                    state.report(vec![violation]);
                }
            }
        }
        result
    }

    /// The engine's commit `txn` was answered with `answer` (by the store, or refused by its
    /// link): the checkers judge its retry policy and its counts as the engine saw them.
    pub fn commit_answered(&self, txn: &Txn, answer: Result<(), &StoreError>) {
        let task = tokio::task::try_id();
        self.check_reply(|checkers, at, found| checkers.after_answered_commit(txn, answer, task, at, found));
    }

    /// Whether a commit lost on its way to the store (or caught in flight by a crash) lands
    /// later anyway — a zombie write from a stale view, `delay_after_ms` after now at the
    /// earliest — decided at its `in_flight` opportunity.
    pub fn maybe_zombie(&self, txn: &Txn, delay_after_ms: u64) {
        let opportunity = self.opportunity(Site::InFlight(txn.kind, Subject::of_txn(txn)));
        let p = &self.plan.settings;
        let zombie = self.decide(&opportunity, FaultKind::ZombieWrite, Stream::StoreFaults, |rng, fault| {
            (p.zombie_write_probability > 0.0 && rng.random_bool(p.zombie_write_probability))
                .then(|| fault.with_ms(draw_range(rng, p.zombie_delay_ms)))
        });
        if let Some(ms) = zombie.and_then(|fault| fault.ms) {
            let lands_us = self.now_us() + (delay_after_ms + ms) * 1_000;
            self.state().zombies.push((lands_us, txn.clone()));
        }
    }

    /// The engine crashed: every commit it had in flight may become a zombie write.
    pub fn zombies_from_crash(&self) {
        let in_flight = std::mem::take(&mut self.state().in_flight);
        for txn in in_flight.into_values() {
            self.maybe_zombie(&txn, 0);
        }
    }

    /// Applies the zombie writes due by now (outside every host: the process that sent them
    /// is gone or has given up on them).
    pub fn land_zombies(&self) {
        let now_us = self.now_us();
        let due: Vec<Txn> = {
            let mut state = self.state();
            let (due, later) = std::mem::take(&mut state.zombies).into_iter().partition(|(at_us, _)| *at_us <= now_us);
            state.zombies = later;
            due.into_iter().map(|(_, txn)| txn).collect()
        };
        for txn in due {
            let landed = match self.apply_txn("zombie", &txn) {
                Ok(_) => "landed",
                Err(_) => "refused",
            };
            self.fault("zombie", FaultKind::ZombieWrite, format!("{} {landed}", txn.kind));
        }
    }

    /// What the run found, for its report.
    pub fn findings(&self) -> RunFindings {
        let state = self.state();
        RunFindings {
            violations: state.violations.clone(),
            violation_counts: state.violation_counts.clone(),
            faults_fired: state.faults_fired.clone(),
            probes: state.probes.clone(),
            requests: state.requests.clone(),
            engine_starts: state.engine_starts,
            lock_holds_over_timeout: state.checkers.locks.holds_over_timeout_count,
            schedule: state.fired.clone(),
            trace_hash: state.trace.hash(),
            trace_events: state.trace.len(),
            events: state.trace.events().cloned().collect(),
        }
    }
}

/// Where the second engine process's lock owners are numbered from: each lock manager counts
/// its owners from 1, and the checkers follow owners across keys.
pub(crate) const SECOND_PROCESS_OWNER_BASE: u64 = 1_000_000_000;

/// `event` as the checkers see it from the second engine process: its lock key named inside
/// `process`, its owner numbered from [`SECOND_PROCESS_OWNER_BASE`]. (Found by a held-out
/// seed of `rollout`: owner-329 of one process and owner-329 of the other looked like one
/// owner taking locks against the hierarchy.)
fn in_process(mut event: LockEvent, process: &str) -> LockEvent {
    let (LockEvent::Acquired { key, owner, .. }
    | LockEvent::Released { key, owner, .. }
    | LockEvent::TimedOut { key, owner, .. }
    | LockEvent::Waiting { key, owner, .. }
    | LockEvent::WaitAbandoned { key, owner, .. }) = &mut event;
    in_process_key(key, owner, process);
    event
}

/// A lock key and owner of the second engine process, as [`in_process`] names them.
fn in_process_key(key: &mut LockKey, owner: &mut OwnerId, process: &str) {
    key.name = format!("{process}/{}", key.name).into();
    owner.0 += SECOND_PROCESS_OWNER_BASE;
}

/// The plan's faults that are part of it from the start, as schedule entries: the engine↔store
/// and players↔engine partitions, the clock's jumps and drift. (Crashes are recorded when
/// they happen: the crash budget may skip one.)
fn plan_timed_faults(plan: &FaultPlan) -> Vec<ScheduledFault> {
    let mut fired: Vec<ScheduledFault> = plan
        .partitions
        .iter()
        .map(|w| ScheduledFault::timed(FaultKind::Partition, w.start_ms, w.end_ms - w.start_ms))
        .collect();
    for partition in &plan.net_partitions {
        let window = partition.window;
        let fault = ScheduledFault::timed(FaultKind::NetPartition, window.start_ms, window.end_ms - window.start_ms);
        fired.push(ScheduledFault { mode: Some(partition.mode), ..fault });
    }
    for jump in &plan.clock_jumps {
        fired.push(ScheduledFault {
            back: jump.back,
            ..ScheduledFault::timed(FaultKind::ClockJump, jump.at_ms, jump.ms)
        });
    }
    if plan.clock_drift_ppm != 0 {
        fired.push(ScheduledFault::drift(plan.clock_drift_ppm));
    }
    fired
}

/// Written versions as the trace spells them: `Key@version`, space-separated.
struct Versions<'a>(&'a [(Key, u64)]);

impl fmt::Display for Versions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (key, version)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{key:?}@{version}")?;
        }
        Ok(())
    }
}

/// The seed of one opportunity's own random stream for one purpose
/// ([`SimContext::opportunity_with_stream`]).
#[derive(Clone, Copy, Debug)]
pub struct SiteStream(u64);

impl SiteStream {
    /// The stream, from its first value.
    pub fn rng(self) -> SiteRng {
        SiteRng::new(self.0)
    }
}

/// The run state held for the fault decisions of one opportunity ([`SimContext::dice`]).
pub(crate) struct Dice<'a> {
    state: MutexGuard<'a, RunState>,
    opportunity: &'a Opportunity,
}

impl Dice<'_> {
    /// [`SimContext::decide`] at this opportunity.
    pub fn decide(
        &mut self,
        kind: FaultKind,
        dice: Stream,
        roll: impl FnOnce(&mut ChaCha8Rng, Unfired<'_>) -> Option<ScheduledFault>,
    ) -> Option<ScheduledFault> {
        let state = &mut *self.state;
        if state.phase != Phase::Safety {
            return None;
        }
        let fault = match &state.schedule {
            Some(schedule) => schedule.lookup(self.opportunity, kind).cloned(),
            None => roll(state.stream(dice), Unfired::new(kind, self.opportunity)),
        };
        if let Some(fault) = &fault {
            state.fired.push(fault.clone());
        }
        fault
    }

    /// The run state, for what the decisions depend on.
    pub fn state(&self) -> &RunState {
        &self.state
    }
}

/// A site seen in this run: how many times, and its purposes' label hashes.
struct SiteSeen {
    count: u64,
    /// Each purpose's label hash at this site (see [`purpose_label_hash`]), worked out once.
    purpose_hashes: Vec<(&'static str, u64)>,
}

impl SiteSeen {
    fn new() -> SiteSeen {
        SiteSeen { count: 0, purpose_hashes: Vec::new() }
    }

    fn purpose_hash(&mut self, site: &Site, purpose: &'static str) -> u64 {
        if let Some(&(_, hash)) = self.purpose_hashes.iter().find(|(seen, _)| *seen == purpose) {
            return hash;
        }
        let hash = purpose_label_hash(purpose, site);
        self.purpose_hashes.push((purpose, hash));
        hash
    }
}

/// The label hash of `purpose` at `site` (for [`seeds::derive_hashed`]): the purpose's bytes,
/// then the site part by part ([`Site::hash_into`]), never spelled.
fn purpose_label_hash(purpose: &str, site: &Site) -> u64 {
    let mut hash = WordHash::new();
    hash.bytes(purpose.as_bytes());
    site.hash_into(&mut hash);
    hash.finish()
}

impl RunState {
    pub fn record(&mut self, at_us: u64, host: &str, kind: &str, detail: String) -> u64 {
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(target: "chipsim::trace", at_us, host, kind, "{detail}");
        }
        self.trace.record(at_us, host, kind, detail)
    }

    /// [`RunState::record`] for a hot event, hashed from `fields` and spelled as `detail`
    /// only if the trace keeps it (see `Trace::record_fields`).
    pub fn record_fields<F: Serialize + ?Sized>(
        &mut self,
        at_us: u64,
        host: &str,
        kind: &str,
        fields: &F,
        detail: fmt::Arguments<'_>,
    ) -> u64 {
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(target: "chipsim::trace", at_us, host, kind, "{detail}");
        }
        self.trace.record_fields(at_us, host, kind, fields, detail)
    }

    /// Counts a fault and traces it as `fault <kind> <detail>`.
    pub fn fault(&mut self, at_us: u64, host: &str, kind: FaultKind, detail: String) {
        self.count_fault(kind);
        self.record(at_us, host, "fault", format!("{kind} {detail}"));
    }

    /// Counts a fault without tracing it.
    pub fn count_fault(&mut self, kind: FaultKind) {
        *self.faults_fired.entry(kind).or_default() += 1;
    }

    /// One component's random stream.
    pub fn stream(&mut self, stream: Stream) -> &mut ChaCha8Rng {
        match stream {
            Stream::StoreFaults => &mut self.streams.store_faults,
            Stream::ChatFaults => &mut self.streams.chat_faults,
            Stream::Network => &mut self.streams.network,
            Stream::ClientFaults => &mut self.streams.client_faults,
            Stream::LockProbe => &mut self.streams.lock_probe,
            Stream::Points => &mut self.streams.points,
        }
    }

    /// Counts one reaching of a coverage probe.
    pub fn reach(&mut self, probe: Probe) {
        *self.probes.entry(probe).or_default() += 1;
    }

    /// Keeps (up to a bound per invariant) and counts violations, and traces them.
    pub fn report(&mut self, found: Vec<Violation>) {
        for violation in found {
            let count = self.violation_counts.entry(violation.invariant).or_default();
            *count += 1;
            if *count as usize <= VIOLATIONS_KEPT_COUNT {
                let at_us = violation.at_us;
                self.record(at_us, "checker", "violation", format!("{}: {}", violation.invariant, violation.message));
                self.violations.push(violation);
            }
        }
    }

    /// Where a check outside any host happens: the end of the trace, at the driver's time.
    pub fn driver_at(&self) -> At {
        At { trace_index: self.trace.len(), at_us: self.driver_now_us }
    }

    /// A violation found by the world itself (liveness, a panic), at the driver's time.
    pub fn report_at_driver(&mut self, invariant: Invariant, message: String) {
        let violation = self.driver_at().violation(invariant, message);
        self.report(vec![violation]);
    }

    /// Whether a safety property has been violated (anything but liveness).
    pub fn safety_violated(&self) -> bool {
        self.violation_counts.keys().any(|invariant| *invariant != Invariant::Liveness)
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Faults stop: the heal phase begins.
    pub fn enter_heal(&mut self) {
        self.phase = Phase::Heal;
    }

    /// Simulated time as the driver sees it between steps, in µs.
    pub fn set_driver_now(&mut self, now_us: u64) {
        self.driver_now_us = now_us;
        self.driver_clock.store(now_us, std::sync::atomic::Ordering::Relaxed);
    }

    /// Shares the driver's time with the store's clock (`SimClock`), which has no host to ask
    /// when the driver applies a write.
    pub fn set_driver_clock(&mut self, clock: Arc<std::sync::atomic::AtomicU64>) {
        self.driver_clock = clock;
    }

    pub fn driver_now_us(&self) -> u64 {
        self.driver_now_us
    }

    /// Counts one occurrence of `site` and returns it.
    pub fn opportunity(&mut self, site: Site) -> Opportunity {
        let nth = self.count_site(&site).count;
        Opportunity { site, nth }
    }

    /// [`RunState::opportunity`] and the seeds [`RunState::site_seed`] gives it for each of
    /// `purposes`, in one look-up of the site.
    fn opportunity_with_seeds<const N: usize>(
        &mut self,
        site: Site,
        purposes: [&'static str; N],
        seed: u64,
    ) -> (Opportunity, [u64; N]) {
        let seen = self.count_site(&site);
        let count = seen.count;
        let seeds = purposes.map(|purpose| seeds::derive_hashed(seed, seen.purpose_hash(&site, purpose), count));
        (Opportunity { site, nth: count }, seeds)
    }

    /// Counts one more occurrence of `site`; its record.
    fn count_site(&mut self, site: &Site) -> &mut SiteSeen {
        let index = match self.opportunities.get_index_of(site) {
            Some(index) => index,
            None => self.opportunities.insert_full(site.clone(), SiteSeen::new()).0,
        };
        let seen = &mut self.opportunities[index];
        seen.count += 1;
        seen
    }

    /// The seed of `purpose`'s stream at `opportunity`: [`seeds::derive`] of the label
    /// `<purpose>@<site>`, with the label spelled and hashed once per site and purpose in a
    /// run, not once per call.
    fn site_seed(&mut self, opportunity: &Opportunity, purpose: &'static str, seed: u64) -> u64 {
        let label_hash = match self.opportunities.get_mut(&opportunity.site) {
            Some(seen) => seen.purpose_hash(&opportunity.site, purpose),
            None => purpose_label_hash(purpose, &opportunity.site),
        };
        seeds::derive_hashed(seed, label_hash, opportunity.nth)
    }

    /// A commit of the running engine left for the store; returns its call number.
    pub fn commit_sent(&mut self, txn: &Txn) -> u64 {
        self.next_call += 1;
        self.in_flight.insert(self.next_call, txn.clone());
        self.next_call
    }

    /// The commit `call` reached the store, or is known lost.
    pub fn commit_arrived(&mut self, call: u64) {
        self.in_flight.remove(&call);
    }

    /// A fault that fired outside any opportunity (a scheduled crash), for the record.
    pub fn record_fired(&mut self, fault: ScheduledFault) {
        self.fired.push(fault);
    }

    pub fn crash_requested(&self) -> bool {
        self.crash_requested.is_some()
    }

    /// The downtime a crash point asked for, if one is pending.
    pub fn crash_restart_ms(&self) -> Option<u64> {
        self.crash_requested
    }

    pub fn crashes_done(&self) -> u32 {
        self.crashes_done
    }

    /// A crash point fired after a transaction of `kind`: the engine hangs until the world
    /// crashes it, and restarts after `restart_after_ms`.
    pub fn request_crash(&mut self, at_us: u64, host: &str, kind: engine::store::TxnKind, restart_after_ms: u64) {
        self.crash_requested = Some(restart_after_ms);
        self.fault(at_us, host, FaultKind::CrashAfterTxn, kind.to_string());
        self.count_fault(FaultKind::CrashAfter(kind));
    }

    /// A crash point fired while a commit of `kind` was on its way to the store: the engine
    /// hangs until the world crashes it (the commit stays in flight), and restarts after
    /// `restart_after_ms`.
    pub fn request_crash_in_flight(
        &mut self,
        at_us: u64,
        host: &str,
        kind: engine::store::TxnKind,
        restart_after_ms: u64,
    ) {
        self.crash_requested = Some(restart_after_ms);
        self.fault(at_us, host, FaultKind::CrashInFlight, kind.to_string());
    }

    /// The engine process is dying (or died): what its tasks report is not traced.
    pub fn set_engine_dying(&mut self, dying: bool) {
        self.engine_dying = dying;
    }

    /// The engine crashed: its locks died with its memory.
    pub fn engine_crashed(&mut self) {
        self.engine_dying = false;
        self.crashes_done += 1;
        self.crash_requested = None;
        // Only the first engine host crashes (two engine hosts refuse crash faults).
        self.locks.remove(&0);
        self.checkers.engine_crashed();
        self.count_fault(FaultKind::Crash);
    }

    /// Engine host `index`'s process booted with `locks` (`process`: its name when it is not
    /// the first host, as its lock tap has it); returns its boot number (1 for the first boot
    /// of the run).
    pub fn engine_booted(&mut self, index: u32, process: Option<String>, locks: LockManager) -> u64 {
        self.engine_starts += 1;
        if index == 0 {
            self.crash_requested = None;
            self.in_flight.clear();
        }
        self.locks.insert(index, (process, locks));
        self.engine_starts
    }

    /// The lock manager of each engine process now running, with the process's name when it
    /// is not the first host (as its lock tap names its keys).
    pub fn lock_managers(&self) -> Vec<(Option<String>, LockManager)> {
        self.locks.values().cloned().collect()
    }

    /// A partition opened at run time, besides the plan's.
    pub fn open_partition(&mut self, window: Window) {
        self.extra_partitions.push(window);
    }

    /// Whether an engine↔store partition (the plan's, or one opened since) overlaps the
    /// simulated milliseconds `from_ms..=to_ms`.
    pub fn may_be_partitioned(&self, plan: &FaultPlan, from_ms: u64, to_ms: u64) -> bool {
        plan.partitions.iter().chain(&self.extra_partitions).any(|w| w.start_ms <= to_ms && from_ms < w.end_ms)
    }

    pub fn is_partitioned(&self, plan: &FaultPlan, at_ms: u64) -> bool {
        plan.partitions.iter().chain(&self.extra_partitions).any(|w| w.contains(at_ms))
    }

    /// A lock acquire of `category` timed out at `at_us` after waiting `waited_us`. The budgets
    /// set it aside (`PartitionWaits`) when an engine↔store partition could have caused it: a
    /// partition reaches `call_timeout_ms` past its end (a call refused in its last instant
    /// still waits out its timeout), faults stop at `safety_ms`, and the wait must have spent
    /// at least one whole store-call timeout inside that reach — a holder ahead stuck on it.
    fn lock_timed_out(
        &mut self,
        plan: &FaultPlan,
        category: LockCategory,
        at_us: u64,
        waited_us: u64,
        limits: WaitLimits,
    ) {
        let wait = Window { start_ms: at_us.saturating_sub(waited_us) / 1_000, end_ms: at_us / 1_000 };
        let mut reaches: Vec<Window> = plan
            .partitions
            .iter()
            .chain(&self.extra_partitions)
            .filter(|w| w.start_ms < limits.safety_ms)
            .map(|w| Window { start_ms: w.start_ms, end_ms: w.end_ms.min(limits.safety_ms) + limits.call_timeout_ms })
            .collect();
        if Window::union_overlap_ms(&mut reaches, wait) >= limits.call_timeout_ms {
            self.checkers.partition_waits.timed_out(category);
        }
    }

    /// The lock checker's look at a wait-for graph sampled from `process`'s lock manager
    /// (none: the first engine host's), its keys and owners named as that process's tap names
    /// them.
    pub fn check_deadlock_snapshot(&mut self, process: Option<&str>, mut snapshot: DeadlockSnapshot) {
        if let Some(process) = process {
            for holder in &mut snapshot.holders {
                in_process_key(&mut holder.key, &mut holder.owner, process);
            }
            for waiter in &mut snapshot.waiters {
                in_process_key(&mut waiter.key, &mut waiter.owner, process);
            }
            for member in snapshot.cycle.iter_mut().flatten() {
                member.owner.0 += SECOND_PROCESS_OWNER_BASE;
            }
        }
        let at = self.driver_at();
        let mut found = Vec::new();
        self.checkers.on_deadlock_snapshot(process.is_some(), &snapshot, at, &mut found);
        self.report(found);
    }

    /// What has not converged yet (empty when everything has).
    pub fn liveness_pending(&self, store: &MemoryStore, locks: LocksInUse) -> Vec<String> {
        self.checkers.liveness.pending(store, locks, self.driver_now_us / 1_000)
    }

    /// The end-of-run checks of the safety properties and the budgets.
    pub fn check_at_end(&mut self, store: &MemoryStore, metrics: &MetricsSnapshot, at_us: u64) {
        let at = At { trace_index: self.trace.len(), at_us };
        let mut found = Vec::new();
        self.checkers.at_end(store, metrics, at, &mut found);
        self.report(found);
    }
}

/// What decides whether a partition explains a lock timeout ([`RunState::lock_timed_out`]):
/// when faults stop and how long a store call waits before it times out, in ms.
#[derive(Clone, Copy, Debug)]
struct WaitLimits {
    safety_ms: u64,
    call_timeout_ms: u64,
}

/// Feeds the engine's lock events into the trace and the lock checker. It holds the context
/// weakly: the run state holds the engine's lock manager, which holds this tap, and a strong
/// reference back would keep every finished run alive (a leak sweeps of thousands of seeds
/// ran out of memory on).
pub(crate) struct LockTap {
    pub context: Weak<SimContext>,
    /// The process's name when it is not the first engine host: its lock keys are reported
    /// prefixed with it (`engine-2/table-1`), for a lock is only exclusive inside its process.
    pub process: Option<String>,
}

impl LockObserver for LockTap {
    fn on_lock_event(&self, event: LockEvent) {
        let Some(context) = self.context.upgrade() else { return };
        let event = match &self.process {
            Some(process) => in_process(event, process),
            None => event,
        };
        let at_us = context.now_us();
        let mut state = context.state();
        if state.engine_dying {
            // A dying process's guards still count their holds in the metrics it leaves.
            if let LockEvent::Released { key, held_us, .. } = &event {
                state.checkers.locks.count_release(key.category, *held_us);
            }
            return;
        }
        let traced = match &event {
            LockEvent::Acquired { key, mode, owner, operation, waited_us } => {
                Some(("lock.acquire", key, mode, owner, operation, "waited_us", waited_us))
            }
            LockEvent::Released { key, mode, owner, operation, held_us } => {
                Some(("lock.release", key, mode, owner, operation, "held_us", held_us))
            }
            LockEvent::TimedOut { key, mode, owner, operation, waited_us } => {
                Some(("lock.timeout", key, mode, owner, operation, "waited_us", waited_us))
            }
            // Waits go to the checkers only: the trace shows each wait in the `lock.acquire`
            // or `lock.timeout` that ends it (`waited_us`), so a run's trace stays as it was.
            LockEvent::Waiting { .. } | LockEvent::WaitAbandoned { .. } => None,
        };
        let index = match traced {
            Some((kind, key, mode, owner, operation, measure, us)) => {
                let detail = format_args!("{key} {mode:?} {owner} {operation} {measure}={us}");
                state.record_fields(at_us, "engine", kind, &(key, mode, owner, operation, us), detail)
            }
            None => state.trace.len().saturating_sub(1),
        };
        if let LockEvent::TimedOut { key, waited_us, .. } = &event {
            let limits = WaitLimits {
                safety_ms: context.scenario.world.safety_ms,
                call_timeout_ms: context.scenario.store.call_timeout_ms,
            };
            state.lock_timed_out(&context.plan, key.category, at_us, *waited_us, limits);
        }
        let mut found = Vec::new();
        state.checkers.on_lock_event(&event, tokio::task::try_id(), At { trace_index: index, at_us }, &mut found);
        state.report(found);
    }
}
