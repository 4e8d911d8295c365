//! The world: one run of one scenario under one seed. It opens the wallets and tables in the
//! store, builds the turmoil simulation (the `engine` host and one or two client hosts, no
//! more: turmoil costs time per host per tick), and drives it tick by tick through the two
//! phases — safety (faults on, scheduled crashes and crash points applied, checkers on every
//! transaction) and heal (faults off, the engine restarted, sweeper and DLQ draining) — until
//! everything has converged, the heal deadline passes, a checker fires, or the code under
//! test panics. It then runs the end-of-run checks and returns a [`RunReport`].
//!
//! Determinism: turmoil's RNG seed and epoch come from the run's seed and a pinned constant;
//! every other random stream is derived from the seed (`seeds`); the driver's decisions
//! depend only on simulated time and the store. Nothing here reads the wall clock except the
//! report's `wall_ms`, which is never hashed.

use std::cell::RefCell;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};
use std::time::{Duration, UNIX_EPOCH};

use engine::jackpot::JackpotServiceConfig;
use engine::locks::DeadlockSnapshot;
use engine::store::{
    JackpotConfig, JackpotGroup, JackpotPool, Key, MemoryStore, TableRecord, Txn, TxnKind, Value, Wallet,
};

use crate::checkers::liveness::LocksInUse;
use crate::checkers::{CheckerSettings, Checkers, Invariant};
use crate::client;
use crate::context::{Phase, SimContext, TimerWakes};
use crate::engine_host::{self, ENGINE_HOST};
use crate::faults::kind::FaultKind;
use crate::faults::plan::{FaultPlan, NetMode, NetPartition};
use crate::faults::schedule::ScheduledFault;
use crate::faults::store_link::SimClock;
use crate::host_clock::{self, InWorld};
use crate::layout::Layout;
use crate::report::{Outcome, RunReport, RunTiming};
use crate::scenario::Scenario;
use crate::seeds;
use crate::trace::TraceKept;

/// turmoil's epoch: a fixed instant, so `since_epoch` is the same on every machine
/// (2026-01-01T00:00:00Z, in seconds since the Unix epoch).
pub const EPOCH_UNIX_S: u64 = 1_767_225_600;
/// Datagrams a socket may queue before turmoil drops more.
pub const UDP_QUEUE_MAX: usize = 4_096;
/// How often the driver samples the wait-for graph, in simulated milliseconds.
pub const DEADLOCK_SAMPLE_MS: u64 = 1_000;
/// How often the heal phase checks for convergence, in simulated milliseconds.
pub const CONVERGENCE_SAMPLE_MS: u64 = 100;

thread_local! {
    /// Set while this thread runs a simulation.
    static IN_SIM: RefCell<bool> = const { RefCell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Routes panic messages of simulation threads to the run that caused them, instead of
/// stderr: the report names the panic with its seed.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_SIM.with(|flag| *flag.borrow()) {
                default(info);
                return;
            }
            LAST_PANIC.with(|slot| {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                let mut slot = slot.borrow_mut();
                if slot.is_none() {
                    *slot = Some(format!("{message}{location}"));
                }
            });
        }));
    });
}

fn take_panic() -> Option<String> {
    LAST_PANIC.with(|slot| slot.borrow_mut().take())
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub seed: u64,
    /// Which trace events the run keeps: `Tail` (the default) keeps a failing run's last
    /// events for its report — the run keeps nothing, and only if it fails is it run again,
    /// keeping them, which it can be because it is deterministic; `All` keeps every event
    /// (replay); `Nothing` keeps none (a shrinker's candidates).
    pub trace: TraceKept,
    /// Run this fault plan as given instead of drawing one from the scenario and seed (the
    /// plan of a report, or one a shrinker edited). Every other random choice still comes
    /// from the seed.
    pub plan: Option<FaultPlan>,
}

impl RunSpec {
    /// A run of `scenario` under `seed`, its faults drawn from both, keeping the trace's tail.
    pub fn new(scenario: Scenario, seed: u64) -> RunSpec {
        RunSpec { scenario, seed, trace: TraceKept::Tail, plan: None }
    }
}

/// Opens the wallets, tables, house and jackpot rows, as a deployment would before traffic.
fn set_up(store: &MemoryStore, scenario: &Scenario, layout: &Layout) {
    let mut txn = Txn::new(TxnKind::Provision);
    for &user in &layout.users {
        let key = Key::Wallet(user);
        txn = txn.expect(key, None).put(key, Value::Wallet(Wallet { user, balance: scenario.tables.balance }));
    }
    for (table, seats) in &layout.tables {
        let record = TableRecord::empty(*table, seats.clone());
        txn = txn.put(Key::Table(*table), Value::Table(Arc::new(record)));
    }
    txn = txn.put(Key::House, Value::House(scenario.tables.house_chips));
    if scenario.engine.jackpot {
        for group in JackpotGroup::ALL {
            txn = txn.put(Key::Jackpot(group), Value::Jackpot(JackpotPool::empty(group, 0)));
        }
        let config =
            JackpotConfig { share_bps: JackpotServiceConfig::default().initial_share_bps, last_modified_ms: 0 };
        txn = txn.put(Key::JackpotConfig, Value::JackpotConfig(config));
    }
    store.apply(&txn).expect("set-up applies to an empty store");
}

/// Runs one scenario under one seed.
pub fn run(spec: &RunSpec) -> RunReport {
    run_with_trace(spec).0
}

/// Runs one scenario under one seed, recording the simulator's own timers: when each of its
/// sleeps (store and chat latency, datagram latency, think times, the jackpot load's pace, …)
/// ended, by host. The simulator-throughput benchmark replays them in a bare turmoil world
/// (the cost of the run's timing alone, with no work). The run itself is unchanged.
pub fn run_recording_timers(spec: &RunSpec) -> (RunReport, TimerWakes) {
    let mut wakes = TimerWakes::new();
    let (report, _) = run_keeping_with(
        spec,
        spec.trace,
        |context| context.record_timers(),
        |context| {
            wakes = context.recorded_timers();
        },
    );
    (report, wakes)
}

/// Runs one scenario under one seed; also returns the kept trace events (see
/// [`RunSpec::trace`]).
///
/// Panics if a failing run, run again to keep its tail, gives another trace hash: the
/// simulator's determinism is broken, and no report of that seed can be trusted.
pub fn run_with_trace(spec: &RunSpec) -> (RunReport, Vec<crate::trace::TraceEvent>) {
    if spec.trace != TraceKept::Tail {
        return run_keeping(spec, spec.trace);
    }
    let (first, events) = run_keeping(spec, TraceKept::Nothing);
    if first.passed {
        return (first, events);
    }
    let (mut again, events) = run_keeping(spec, TraceKept::Tail);
    assert_eq!(
        first.trace_hash, again.trace_hash,
        "determinism broken: {} seed {} ran again to another trace hash",
        spec.scenario.name, spec.seed
    );
    again.wall_ms += first.wall_ms;
    (again, events)
}

/// One run, its trace keeping `kept`.
fn run_keeping(spec: &RunSpec, kept: TraceKept) -> (RunReport, Vec<crate::trace::TraceEvent>) {
    run_keeping_with(spec, kept, |_| {}, |_| {})
}

/// [`run_keeping`], calling `before` on the run's context once it is built and `after` once
/// the run has ended.
fn run_keeping_with(
    spec: &RunSpec,
    kept: TraceKept,
    before: impl FnOnce(&SimContext),
    after: impl FnOnce(&SimContext),
) -> (RunReport, Vec<crate::trace::TraceEvent>) {
    install_panic_hook();
    IN_SIM.with(|flag| *flag.borrow_mut() = true);
    host_clock::forget_runtimes();
    let _ = take_panic();
    // The only wall clock of a run: the report's `wall_ms`, never hashed or compared.
    #[allow(clippy::disallowed_methods)]
    let wall_started = std::time::Instant::now();
    let context = build_context(spec, kept);
    before(&context);
    let mut sim = build_sim(&context);
    let mut driver = Driver::new(&context, &sim);
    let outcome = driver.drive(&mut sim);
    let end_us = sim.elapsed().as_micros() as u64;
    context.state().set_driver_now(end_us);
    let outcome = finish(&context, sim, outcome, end_us);
    context.trace("world", "run.end", format!("{outcome:?}"));
    IN_SIM.with(|flag| *flag.borrow_mut() = false);
    after(&context);
    let findings = context.findings();
    let events = findings.events.clone();
    let timing = RunTiming {
        heal_started_ms: driver.heal_started_ms,
        sim_time_ms: end_us / 1_000,
        wall: wall_started.elapsed(),
    };
    (RunReport::build(&context, findings, outcome, timing), events)
}

/// The run's shared handle, with the store provisioned and the checkers armed.
fn build_context(spec: &RunSpec, kept: TraceKept) -> Arc<SimContext> {
    let scenario = &spec.scenario;
    let seed = spec.seed;
    let plan = spec.plan.clone().unwrap_or_else(|| FaultPlan::draw(scenario, seed));
    let layout = Layout::of(scenario);
    let supply = layout.supply(scenario);
    let clock = SimClock::default();
    let driver_us = Arc::clone(&clock.driver_us);
    let store = MemoryStore::with_clock(Arc::new(clock));
    set_up(&store, scenario, &layout);
    let checkers = Checkers::new(&CheckerSettings {
        supply,
        users: layout.users.iter().copied().collect(),
        balance: scenario.tables.balance,
        lock_strategy: scenario.engine.lock_strategy,
        lock_config: scenario.engine.locks.clone(),
        budgets: scenario.budgets.clone(),
        jackpot_share_bps: store.read(Key::JackpotConfig).map(|row| row.value.as_jackpot_config().share_bps.clone()),
        clock_offset_ms_max: plan.clock_offset_ms_max(scenario.world.safety_ms + scenario.world.heal_deadline_ms),
        seats: layout.tables.iter().map(|(table, seats)| (*table, seats.iter().copied().collect())).collect(),
        jackpot_backoff_base_ms: engine_host::jackpot_config(&engine_host::host_name(0)).backoff_base_ms,
    });
    let context = SimContext::new(seed, scenario.clone(), plan, store, checkers, kept);
    context.state().set_driver_clock(driver_us);
    context.trace("world", "run.start", format!("{} seed {seed} supply {supply}", scenario.name));
    context
}

/// The turmoil world: the `engine` host and the client hosts, seeded and pinned to the epoch.
fn build_sim(context: &Arc<SimContext>) -> turmoil::Sim<'static> {
    let world = &context.scenario.world;
    let tick = Duration::from_millis(world.tick_ms);
    let total_ms = world.safety_ms + world.heal_deadline_ms;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seeds::derive(context.seed, "turmoil", 0))
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_S))
        .tick_duration(tick)
        .simulation_duration(Duration::from_millis(total_ms) + tick * 10)
        // The network's latency is `faults::network`'s, per datagram: turmoil only moves
        // messages at its tick.
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::ZERO)
        .udp_capacity(UDP_QUEUE_MAX)
        .build();
    for index in 0..world.engine_hosts {
        let host_context = Arc::clone(context);
        sim.host(engine_host::host_name(index), move || engine_host::run(Arc::clone(&host_context), index));
    }
    for index in 0..world.client_hosts {
        sim.client(client::host_name(index), client::run(Arc::clone(context), index));
    }
    sim
}

/// After the last step: the end-of-run checks (unless the simulation panicked and may be
/// torn), and the outcome they decide.
fn finish(context: &SimContext, sim: turmoil::Sim<'_>, outcome: Outcome, end_us: u64) -> Outcome {
    if outcome == Outcome::Crashed {
        // A simulation that panicked mid-step may be torn; never run its destructors.
        std::mem::forget(sim);
        return outcome;
    }
    // Dropping the simulation drops the engine's tasks, whose lock guards report their
    // release: never while holding the run state.
    context.state().set_engine_dying(true);
    drop(sim);
    let metrics = context.metrics.snapshot();
    let mut state = context.state();
    state.check_at_end(&context.store, &metrics, end_us);
    match outcome {
        Outcome::Passed if state.safety_violated() => Outcome::CorrectnessFailed,
        other => other,
    }
}

/// The driver's own bookkeeping between steps.
struct Driver {
    context: Arc<SimContext>,
    next_scheduled_crash: usize,
    restart_at_ms: Option<u64>,
    next_deadlock_sample_ms: u64,
    next_convergence_sample_ms: u64,
    heal_started_ms: Option<u64>,
    /// The plan's next players↔engine partition, and the one open now.
    next_net_partition: usize,
    open_net_partition: Option<NetPartition>,
    /// The plan's next clock jump, and whether the drift was recorded.
    next_clock_jump: usize,
    drift_recorded: bool,
    /// The (first) engine host's address, looked up once: turmoil resolves a host name on
    /// every call, and the driver asks whether the engine runs several times a step.
    engine_ip: IpAddr,
}

impl Driver {
    fn new(context: &Arc<SimContext>, sim: &turmoil::Sim<'_>) -> Driver {
        Driver {
            engine_ip: sim.lookup(ENGINE_HOST),
            context: Arc::clone(context),
            next_scheduled_crash: 0,
            restart_at_ms: None,
            next_deadlock_sample_ms: DEADLOCK_SAMPLE_MS,
            next_convergence_sample_ms: 0,
            heal_started_ms: None,
            next_net_partition: 0,
            open_net_partition: None,
            next_clock_jump: 0,
            drift_recorded: false,
        }
    }

    /// Steps the world until the run ends: converged, out of time, a safety violation, or a
    /// panic in the code under test.
    fn drive(&mut self, sim: &mut turmoil::Sim<'_>) -> Outcome {
        loop {
            let now_ms = sim.elapsed().as_millis() as u64;
            self.context.state().set_driver_now(sim.elapsed().as_micros() as u64);
            if let Some(outcome) = self.before_step(sim, now_ms) {
                return outcome;
            }
            let stepped = catch_unwind(AssertUnwindSafe(|| {
                let _in_world = InWorld::step();
                sim.step()
            }));
            let panic = take_panic();
            match (stepped, panic) {
                (Ok(Ok(_)), None) => {}
                (Ok(Ok(_)), Some(message)) | (Err(_), Some(message)) => return self.panicked(message),
                (Err(_), None) => return self.panicked("panic inside the simulation".into()),
                (Ok(Err(error)), _) => return self.panicked(format!("host software failed: {error}")),
            }
            if self.context.state().safety_violated() {
                return Outcome::CorrectnessFailed;
            }
        }
    }

    /// The driver's tick, before each step of the world.
    fn before_step(&mut self, sim: &mut turmoil::Sim<'_>, now_ms: u64) -> Option<Outcome> {
        self.enter_heal_when_due(now_ms);
        self.context.land_zombies();
        self.crash_when_due(sim, now_ms);
        self.restart_when_due(sim, now_ms);
        self.net_partition_when_due(sim, now_ms);
        self.clock_jump_when_due(now_ms);
        self.sample_wait_for_graph(now_ms);
        self.check_convergence(sim, now_ms)
    }

    /// At `safety_ms` faults stop and the heal phase begins.
    fn enter_heal_when_due(&mut self, now_ms: u64) {
        let mut state = self.context.state();
        if state.phase() == Phase::Safety && now_ms >= self.context.scenario.world.safety_ms {
            state.enter_heal();
            drop(state);
            self.heal_started_ms = Some(now_ms);
            self.context.trace("world", "phase", "heal: faults off".into());
        }
    }

    /// A crash point the store link raised (in any phase: it was decided in the safety phase,
    /// and the engine hangs until it is carried out), else in the safety phase the plan's next
    /// scheduled crash, within the run's crash budget.
    fn crash_when_due(&mut self, sim: &mut turmoil::Sim<'_>, now_ms: u64) {
        let plan = &self.context.plan;
        let (safety, requested, crashes_done) = {
            let state = self.context.state();
            (state.phase() == Phase::Safety, state.crash_restart_ms(), state.crashes_done())
        };
        if !sim.is_host_running(self.engine_ip) {
            return;
        }
        if let Some(restart_after_ms) = requested {
            // (Found by the simulator: a crash point raised in the safety phase's last step
            // was never carried out, and the hung engine held its locks to the heal deadline.)
            self.crash(sim, now_ms, restart_after_ms, "crash point");
            return;
        }
        if let Some(crash) = plan.crashes.get(self.next_scheduled_crash).copied()
            && safety
            && now_ms >= crash.at_ms
        {
            self.next_scheduled_crash += 1;
            if crashes_done < plan.settings.crashes_max {
                let fired = ScheduledFault::timed(FaultKind::Crash, crash.at_ms, crash.restart_after_ms);
                self.context.state().record_fired(fired);
                self.crash(sim, now_ms, crash.restart_after_ms, "scheduled");
            }
        }
    }

    fn crash(&mut self, sim: &mut turmoil::Sim<'_>, now_ms: u64, restart_after_ms: u64, why: &str) {
        self.context.state().set_engine_dying(true);
        {
            let _in_world = InWorld::between_steps();
            sim.crash(ENGINE_HOST);
        }
        let mut state = self.context.state();
        state.engine_crashed();
        let at_us = state.driver_now_us();
        state.record(at_us, "world", "crash", format!("engine crashed ({why}); restart in {restart_after_ms} ms"));
        drop(state);
        self.context.zombies_from_crash();
        self.restart_at_ms = Some(now_ms + restart_after_ms);
    }

    /// A crashed engine restarts after its downtime, or at once in the heal phase.
    fn restart_when_due(&mut self, sim: &mut turmoil::Sim<'_>, now_ms: u64) {
        let heal = self.context.state().phase() == Phase::Heal;
        if !sim.is_host_running(self.engine_ip) && (heal || self.restart_at_ms.is_some_and(|at| now_ms >= at)) {
            {
                let _in_world = InWorld::between_steps();
                sim.bounce(ENGINE_HOST);
            }
            self.restart_at_ms = None;
            self.context.trace("world", "restart", "engine restarted".into());
        }
    }

    /// Opens the plan's next players↔engine partition when it is due (one at a time: a
    /// partition due while another is open is skipped), and closes the open one at its end
    /// or when faults stop.
    fn net_partition_when_due(&mut self, sim: &mut turmoil::Sim<'_>, now_ms: u64) {
        let safety = self.context.state().phase() == Phase::Safety;
        if let Some(open) = self.open_net_partition
            && (!safety || now_ms >= open.window.end_ms)
        {
            self.open_net_partition = None;
            self.cut(sim, open.mode, false);
            self.context.trace("world", "net_partition.end", format!("{:?}", open.mode));
        }
        let plan = &self.context.plan;
        while let Some(next) = plan.net_partitions.get(self.next_net_partition).copied() {
            if !safety || now_ms < next.window.start_ms {
                break;
            }
            self.next_net_partition += 1;
            if self.open_net_partition.is_none() && now_ms < next.window.end_ms {
                self.open_net_partition = Some(next);
                self.cut(sim, next.mode, true);
                let length_ms = next.window.end_ms - next.window.start_ms;
                self.context.fault("world", FaultKind::NetPartition, format!("{:?} {length_ms} ms", next.mode));
            }
        }
    }

    /// Cuts (or mends) the network between every client host and the engine.
    fn cut(&self, sim: &mut turmoil::Sim<'_>, mode: NetMode, open: bool) {
        for index in 0..self.context.scenario.world.client_hosts {
            let client = client::host_name(index);
            let client = client.as_str();
            match (mode, open) {
                (NetMode::Both, true) => sim.partition(ENGINE_HOST, client),
                (NetMode::Both, false) => sim.repair(ENGINE_HOST, client),
                (NetMode::ToEngine, true) => sim.partition_oneway(client, ENGINE_HOST),
                (NetMode::ToEngine, false) => sim.repair_oneway(client, ENGINE_HOST),
                (NetMode::FromEngine, true) => sim.partition_oneway(ENGINE_HOST, client),
                (NetMode::FromEngine, false) => sim.repair_oneway(ENGINE_HOST, client),
                (NetMode::Hold, true) => sim.hold(ENGINE_HOST, client),
                (NetMode::Hold, false) => sim.release(ENGINE_HOST, client),
            }
        }
    }

    /// Records each of the plan's clock jumps as it happens (the engine clock applies them
    /// itself, `faults::points::EngineClock`).
    fn clock_jump_when_due(&mut self, now_ms: u64) {
        let plan = &self.context.plan;
        if !self.drift_recorded && plan.clock_drift_ppm != 0 {
            self.drift_recorded = true;
            self.context.fault("world", FaultKind::ClockDrift, format!("{:+} ppm", plan.clock_drift_ppm));
        }
        let safety = self.context.state().phase() == Phase::Safety;
        while let Some(jump) = plan.clock_jumps.get(self.next_clock_jump).copied() {
            if !safety || now_ms < jump.at_ms {
                break;
            }
            self.next_clock_jump += 1;
            self.context.fault("world", FaultKind::ClockJump, format!("{:+} ms", jump.offset_ms()));
        }
    }

    /// Every `DEADLOCK_SAMPLE_MS`, the running engine's wait-for graph goes to the lock checker.
    fn sample_wait_for_graph(&mut self, now_ms: u64) {
        if now_ms < self.next_deadlock_sample_ms {
            return;
        }
        self.next_deadlock_sample_ms = now_ms + DEADLOCK_SAMPLE_MS;
        let managers = self.context.state().lock_managers();
        for (process, locks) in managers {
            let snapshot = locks.deadlock_snapshot();
            self.context.state().check_deadlock_snapshot(process.as_deref(), snapshot);
        }
    }

    /// In the heal phase, every `CONVERGENCE_SAMPLE_MS`: passed once nothing is pending and
    /// the engine is up; a liveness failure at the heal deadline.
    fn check_convergence(&mut self, sim: &mut turmoil::Sim<'_>, now_ms: u64) -> Option<Outcome> {
        let heal = self.context.state().phase() == Phase::Heal;
        if !heal || now_ms < self.next_convergence_sample_ms {
            return None;
        }
        self.next_convergence_sample_ms = now_ms + CONVERGENCE_SAMPLE_MS;
        let world = &self.context.scenario.world;
        let managers = self.context.state().lock_managers();
        let mut locks = LocksInUse::default();
        for (process, manager) in managers {
            let in_use = DeadlockSnapshot { holders: manager.held_locks(), waiters: manager.waiting(), cycle: None };
            locks.held += in_use.holders.len();
            locks.waiting += in_use.waiters.len();
            // The holds and waits liveness counts must be the ones the lock events describe,
            // like every sampled snapshot's: an accessor that loses them would pass a run
            // that still holds a lock.
            self.context.state().check_deadlock_snapshot(process.as_deref(), in_use);
        }
        let pending = self.context.state().liveness_pending(&self.context.store, locks);
        if pending.is_empty() && sim.is_host_running(self.engine_ip) {
            let healed_ms = now_ms - self.heal_started_ms.unwrap_or(now_ms);
            self.context.trace("world", "converged", format!("after {healed_ms} ms of heal"));
            return Some(Outcome::Passed);
        }
        if now_ms < world.safety_ms + world.heal_deadline_ms {
            return None;
        }
        let shown: Vec<String> = pending.iter().take(5).cloned().collect();
        let more = pending.len() - shown.len();
        let message = format!(
            "not converged {} ms after faults stopped: {}{}",
            world.heal_deadline_ms,
            shown.join("; "),
            if more > 0 { format!(" (+{more} more)") } else { String::new() }
        );
        self.context.state().report_at_driver(Invariant::Liveness, message);
        Some(Outcome::LivenessFailed)
    }

    fn panicked(&mut self, message: String) -> Outcome {
        self.context.state().report_at_driver(Invariant::Panic, message);
        Outcome::Crashed
    }
}
