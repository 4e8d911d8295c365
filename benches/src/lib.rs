//! Shared set-ups for the criterion benchmarks in `benches/benches/`: the inputs each benchmark
//! measures over, built once, outside the timed loop, from fixed seeds so that every run
//! measures the same work. Benchmarks measure speed only; no test ever asserts on wall-clock
//! time.

/// The allocator the `chipsim` binary ships with, so the benchmarks measure what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use engine::cards::{Card, Deck};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `count` seven-card hands dealt from decks shuffled by a RNG seeded `seed`.
pub fn seven_card_hands(count: usize, seed: u64) -> Vec<[Card; 7]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let deck = Deck::shuffled(&mut rng);
            std::array::from_fn(|i| deck.card(i))
        })
        .collect()
}

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engine::chat::RecordingChat;
use engine::clock::{SharedClock, TokioClock};
use engine::dedup::{DedupMode, Deduplicator};
use engine::game::{ActionRequest, GameConfig, GameEngine, GameParts, LockStrategy};
use engine::ids::{RequestId, TableId, UserId};
use engine::jackpot::{JackpotParts, JackpotService, JackpotServiceConfig, JackpotVariant};
use engine::locks::{LockConfig, LockManager};
use engine::metrics::Metrics;
use engine::rules::{Action, TableConfig};
use engine::store::{Key, MemoryStore, Store, Txn, TxnKind, Value};
use engine::wallet::{WalletConfig, WalletService};
use sim::TimerWakes;
use sim::report::RunReport;
use sim::scenario;
use sim::world::{self, RunSpec};

/// A lock manager with the default timeouts.
pub fn lock_manager() -> LockManager {
    LockManager::new(LockConfig::default(), Metrics::new())
}

/// A jackpot service over an in-memory store whose house holds plenty of chips.
pub async fn jackpot_service() -> JackpotService {
    let memory = MemoryStore::new();
    memory.apply(&Txn::new(TxnKind::Provision).put(Key::House, Value::House(u64::MAX / 4))).expect("provisions");
    let store: Arc<dyn Store> = Arc::new(memory);
    let clock: SharedClock = Arc::new(TokioClock::starting_now());
    let metrics = Metrics::new();
    let rng = ChaCha8Rng::seed_from_u64(3);
    let wallet = Arc::new(WalletService::new(
        store.clone(),
        clock.clone(),
        metrics.clone(),
        rng.clone(),
        WalletConfig::default(),
    ));
    let parts = JackpotParts { store, clock, metrics, rng, wallet };
    let service = JackpotService::new(parts, JackpotServiceConfig::default(), JackpotVariant::Optimistic);
    service.ensure_pools().await.expect("pools");
    service
}

/// One table of the hardened engine over an in-memory store, whose players check or call
/// every turn.
pub struct BenchTable {
    engine: GameEngine,
    table: TableId,
    next_request: std::sync::atomic::AtomicU64,
}

/// Every bench player's opening balance: enough for any number of hands.
const BENCH_BALANCE: u64 = 1 << 40;

impl BenchTable {
    pub async fn new(players: u64) -> BenchTable {
        let clock: SharedClock = Arc::new(TokioClock::starting_now());
        let store: Arc<dyn Store> = Arc::new(MemoryStore::with_clock(clock.clone()));
        let metrics = Metrics::new();
        let wallet = Arc::new(WalletService::new(
            store.clone(),
            clock.clone(),
            metrics.clone(),
            ChaCha8Rng::seed_from_u64(1),
            WalletConfig::default(),
        ));
        let dedup = Arc::new(Deduplicator::new(store.clone(), clock.clone(), metrics.clone(), DedupMode::default()));
        let users: Vec<UserId> = (1..=players).map(UserId).collect();
        for &user in &users {
            wallet.open(user, BENCH_BALANCE).await.expect("opens");
        }
        let parts = GameParts {
            store,
            metrics: metrics.clone(),
            locks: LockManager::new(LockConfig::default(), metrics),
            wallet,
            dedup,
            jackpot: None,
            chat: Arc::new(RecordingChat::default()),
            rng: ChaCha8Rng::seed_from_u64(2),
        };
        let config = GameConfig {
            table: TableConfig::new(5, 10),
            stack_cap: 1_000,
            admins: BTreeSet::new(),
            lock_strategy: LockStrategy::Coarse,
            variant: Default::default(),
            turn_messages: false,
        };
        let engine = GameEngine::new(parts, config);
        let table = TableId(1);
        engine.create_table(table, users).await.expect("a table");
        BenchTable { engine, table, next_request: std::sync::atomic::AtomicU64::new(1) }
    }

    /// Starts a hand and plays it to the end through `act`; returns the actions taken.
    pub async fn play_hand(&self) -> u32 {
        let hand_number = self.engine.start_hand(self.table).await.expect("a hand starts");
        let mut actions = 0;
        loop {
            let stats = self.engine.stats(self.table).await.expect("stats");
            let (Some(user), true) = (stats.actor, stats.in_progress) else { return actions };
            let request = RequestId(self.next_request.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let action = ActionRequest { request, user, table: self.table, hand_number, action: Action::Call };
            let check = ActionRequest { action: Action::Check, ..action };
            let legal = stats.legal.expect("a player to act has legal actions");
            let chosen = if legal.call_amount == 0 { check } else { action };
            self.engine.act(chosen).await.expect("a legal action");
            actions += 1;
        }
    }
}

/// One run of the shipped `standard` scenario under `seed`.
pub fn standard_run(seed: u64) -> RunReport {
    world::run(&RunSpec::new(standard(), seed))
}

/// [`standard_run`], with the simulator's own timers it ran on (by host, when each sleep ended).
pub fn standard_run_recording_timers(seed: u64) -> (RunReport, TimerWakes) {
    world::run_recording_timers(&RunSpec::new(standard(), seed))
}

fn standard() -> scenario::Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR);
    scenario::resolve(&dir, "standard").expect("the shipped standard scenario").1
}

/// The shape of a turmoil world: its hosts, its tick and how long it runs, in simulated time.
#[derive(Clone, Copy, Debug)]
pub struct WorldShape {
    pub hosts: u32,
    pub tick_ms: u64,
    pub duration_ms: u64,
}

impl WorldShape {
    /// `standard`'s world (the engine host and its client hosts, its tick) for `duration_ms`.
    pub fn of_standard(duration_ms: u64) -> WorldShape {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(scenario::SCENARIO_DIR);
        let (_, standard) = scenario::resolve(&dir, "standard").expect("the shipped standard scenario");
        WorldShape { hosts: 1 + standard.world.client_hosts, tick_ms: standard.world.tick_ms, duration_ms }
    }

    /// A bare turmoil world of this shape: one host and the rest clients, each sleeping a
    /// second at a time, stepped for the duration. The floor any turmoil simulation pays.
    pub fn run_bare(&self) -> u64 {
        let tick = Duration::from_millis(self.tick_ms);
        let mut sim = turmoil::Builder::new()
            .tick_duration(tick)
            .simulation_duration(Duration::from_millis(self.duration_ms) + tick * 10)
            .build();
        sim.host("engine", || async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        for index in 1..self.hosts {
            sim.client(format!("players-{index}"), async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
        self.step_through(&mut sim)
    }

    /// The bare world of this shape whose hosts also wake at `wakes` — a run's own timers, by
    /// host (`world::run_recording_timers`) — and do nothing else: what the run's timing alone
    /// costs in turmoil and tokio, the floor under any simulation that keeps it. Each host's
    /// task sleeps until each of its instants in turn (instants shared by several of the run's
    /// sleeps wake the host once, as they did in the run); hosts the run had beyond those that
    /// slept only tick.
    pub fn run_timer_floor(&self, wakes: &TimerWakes) -> u64 {
        let tick = Duration::from_millis(self.tick_ms);
        let mut sim = turmoil::Builder::new()
            .tick_duration(tick)
            .simulation_duration(Duration::from_millis(self.duration_ms) + tick * 10)
            .build();
        let mut named: Vec<(String, Vec<u64>)> = wakes
            .iter()
            .map(|(host, instants)| {
                let mut instants = instants.clone();
                instants.sort_unstable();
                instants.dedup();
                (host.clone(), instants)
            })
            .collect();
        named.extend((named.len() as u32..self.hosts).map(|index| (format!("idle-{index}"), Vec::new())));
        for (host, instants) in named {
            sim.host(host, move || {
                let instants = instants.clone();
                async move {
                    let start = tokio::time::Instant::now();
                    for us in instants {
                        tokio::time::sleep_until(start + Duration::from_micros(us)).await;
                    }
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            });
        }
        self.step_through(&mut sim)
    }

    /// Steps `sim` for the shape's duration; returns the steps.
    fn step_through(&self, sim: &mut turmoil::Sim<'_>) -> u64 {
        let mut steps = 0;
        while sim.elapsed() < Duration::from_millis(self.duration_ms) {
            sim.step().expect("a bare world never fails");
            steps += 1;
        }
        steps
    }
}
