//! The run's one shared handle (`SimContext`): the scenario, the fault plan, the durable
//! store, the metrics sink, and — behind one mutex — the trace, the checkers, the fault
//! counters, the phase and the per-component random streams. The simulated components (the
//! store link, the messenger, the network, the engine host and the clients) receive it and
//! nothing else from the world, as neon's desim hands its code one handle.
//!
//! Everything here runs on one thread (turmoil runs hosts one after another), so the mutex
//! is never contended; it exists so the handle can be shared with the engine's `Send` tasks.
//! It must never be held across an `.await`, and nothing called while holding it may call
//! back into it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use engine::game::{ActionOutcome, GameError};
use engine::ids::RequestId;
use engine::locks::{LockEvent, LockManager, LockObserver};
use engine::metrics::Metrics;
use engine::store::MemoryStore;
use rand_chacha::ChaCha8Rng;

use crate::checkers::{At, Checkers, Invariant, TxnView, Violation};
use crate::faults::kind::FaultKind;
use crate::faults::plan::{FaultPlan, Window};
use crate::scenario::Scenario;
use crate::seeds;
use crate::trace::{Trace, TraceEvent};

/// The two phases of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Faults on; safety is checked.
    Safety,
    /// Faults off, the engine restarted, the sweeper and DLQ processor draining; the run
    /// must converge.
    Heal,
}

/// The random streams, one per component, so that a change in one component's draws does
/// not shift every other component's.
pub struct Streams {
    pub store: ChaCha8Rng,
    pub chat: ChaCha8Rng,
    pub network: ChaCha8Rng,
    pub clients: ChaCha8Rng,
}

/// The mutable part of the run.
pub struct RunState {
    pub trace: Trace,
    pub checkers: Checkers,
    pub violations: Vec<Violation>,
    /// Violations per invariant, including those not kept.
    pub violation_counts: BTreeMap<Invariant, u64>,
    /// How many times each fault kind fired.
    pub faults_fired: BTreeMap<FaultKind, u64>,
    pub phase: Phase,
    pub streams: Streams,
    /// Partitions opened at run time (after a reservation), besides the plan's.
    pub extra_partitions: Vec<Window>,
    /// The engine asked to crash now (a crash point after a store transaction).
    pub crash_requested: bool,
    /// Crashes so far, of either kind.
    pub crashes_done: u32,
    /// The lock manager of the engine process now running.
    pub locks: Option<LockManager>,
    /// Simulated time as the driver last saw it, in µs (used outside any host).
    pub driver_now_us: u64,
    /// Engine starts so far (1 after the first boot).
    pub engine_starts: u64,
    /// Client-side count of requests sent, replies received, requests given up.
    pub requests: BTreeMap<String, u64>,
    /// The engine process is being torn down (a crash, or the end of the run): its tasks are
    /// dropped in an order tokio derives from process-global task IDs, so what they report
    /// while dying is not traced (their locks die with the process).
    pub engine_dying: bool,
}

/// The run's shared handle.
pub struct SimContext {
    pub seed: u64,
    pub scenario: Scenario,
    pub plan: FaultPlan,
    pub store: MemoryStore,
    /// Every engine process reports here (the sink outlives crashes; the engine's own
    /// in-memory state does not).
    pub metrics: Metrics,
    state: Mutex<RunState>,
}

impl SimContext {
    pub fn new(
        seed: u64,
        scenario: Scenario,
        plan: FaultPlan,
        store: MemoryStore,
        checkers: Checkers,
        keep_trace: bool,
    ) -> Arc<SimContext> {
        let streams = Streams {
            store: seeds::rng(seed, "store-link", 0),
            chat: seeds::rng(seed, "messenger", 0),
            network: seeds::rng(seed, "network", 0),
            clients: seeds::rng(seed, "clients", 0),
        };
        Arc::new(SimContext {
            seed,
            scenario,
            plan,
            store,
            metrics: Metrics::new(),
            state: Mutex::new(RunState {
                trace: Trace::new(keep_trace),
                checkers,
                violations: Vec::new(),
                violation_counts: BTreeMap::new(),
                faults_fired: BTreeMap::new(),
                phase: Phase::Safety,
                streams,
                extra_partitions: Vec::new(),
                crash_requested: false,
                crashes_done: 0,
                locks: None,
                driver_now_us: 0,
                engine_starts: 0,
                requests: BTreeMap::new(),
                engine_dying: false,
            }),
        })
    }

    /// The run state. Never hold it across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Simulated time in µs: the current host's clock inside a host, the driver's outside.
    pub fn now_us(&self) -> u64 {
        match turmoil::sim_elapsed() {
            Some(elapsed) => elapsed.as_micros() as u64,
            None => self.state().driver_now_us,
        }
    }

    /// Whether faults are injected now.
    pub fn faults_on(&self) -> bool {
        self.state().phase == Phase::Safety
    }

    /// Records a trace event.
    pub fn trace(&self, host: &str, kind: &str, detail: String) {
        let at_us = self.now_us();
        self.state().record(at_us, host, kind, detail);
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

    /// A reply reached a client: the client-side at-most-once check.
    pub fn client_reply(&self, request: RequestId, reply: &Result<ActionOutcome, GameError>) {
        let at_us = self.now_us();
        let mut state = self.state();
        let at = At { trace_index: state.trace.len().saturating_sub(1), at_us };
        let mut found = Vec::new();
        state.checkers.at_most_once.on_reply(request, reply, at, &mut found);
        state.report(found);
    }
}

impl RunState {
    pub fn record(&mut self, at_us: u64, host: &str, kind: &str, detail: String) -> u64 {
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(target: "chipsim::trace", at_us, host, kind, "{detail}");
        }
        self.trace.record(at_us, host, kind, detail)
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

    /// Keeps (up to a bound per invariant) and counts violations, and traces them.
    pub fn report(&mut self, found: Vec<Violation>) {
        for violation in found {
            let count = self.violation_counts.entry(violation.invariant).or_default();
            *count += 1;
            if *count as usize <= crate::checkers::VIOLATIONS_KEPT_COUNT {
                let at_us = violation.at_us;
                self.record(at_us, "checker", "violation", format!("{}: {}", violation.invariant, violation.message));
                self.violations.push(violation);
            }
        }
    }

    /// Runs the transaction checkers on one applied transaction.
    pub fn check_txn(&mut self, view: &TxnView<'_>, at: At) {
        let mut found = Vec::new();
        self.checkers.after_txn(view, at, &mut found);
        self.report(found);
    }

    pub fn is_partitioned(&self, plan: &FaultPlan, at_ms: u64) -> bool {
        plan.partitions.iter().chain(&self.extra_partitions).any(|w| w.contains(at_ms))
    }

    /// The kept trace events (all of them when replaying).
    pub fn events(&self) -> Vec<TraceEvent> {
        self.trace.events().cloned().collect()
    }
}

/// Feeds the engine's lock events into the trace and the lock checker.
pub struct LockTap {
    pub context: Arc<SimContext>,
}

impl LockObserver for LockTap {
    fn on_lock_event(&self, event: LockEvent) {
        let at_us = self.context.now_us();
        let mut state = self.context.state();
        if state.engine_dying {
            return;
        }
        let detail = match &event {
            LockEvent::Acquired { key, mode, owner, operation, waited_us } => {
                ("lock.acquire", format!("{key} {mode:?} {owner} {operation} waited_us={waited_us}"))
            }
            LockEvent::Released { key, mode, owner, operation, held_us } => {
                ("lock.release", format!("{key} {mode:?} {owner} {operation} held_us={held_us}"))
            }
            LockEvent::TimedOut { key, mode, owner, operation, waited_us } => {
                ("lock.timeout", format!("{key} {mode:?} {owner} {operation} waited_us={waited_us}"))
            }
        };
        let index = state.record(at_us, "engine", detail.0, detail.1);
        let mut found = Vec::new();
        state.checkers.on_lock_event(&event, At { trace_index: index, at_us }, &mut found);
        state.report(found);
    }
}
