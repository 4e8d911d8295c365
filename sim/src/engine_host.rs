//! The `engine` host: one engine process of the backend, built from the engine crate exactly
//! as production builds it — game engine, lock manager, wallet service with its expiry
//! sweeper and DLQ processor, deduplicator, jackpot service — on top of the store link and
//! the messenger, serving the wire protocol on a UDP port.
//!
//! Each boot builds everything anew: a crash (turmoil drops the host's runtime) loses every
//! in-memory structure — locks, in-flight requests, the in-memory dedup of the seed design —
//! and only the store survives. The host never reads the store directly and never decides a
//! rule; it only wires the engine to the simulated world.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use engine::buggify::Buggify;
use engine::clock::SharedClock;
use engine::dedup::{DedupMode, Deduplicator};
use engine::game::{EngineVariant, GameConfig, GameEngine, GameError, GameParts, LockStrategy};
use engine::jackpot::{Contribution, JackpotError, JackpotParts, JackpotService, JackpotServiceConfig};
use engine::locks::LockManager;
use engine::store::Store;
use engine::wallet::{WalletConfig, WalletService};
use tokio::time::Instant;
use turmoil::net::UdpSocket;

use crate::context::{LockTap, SimContext};
use crate::faults::lock_probe;
use crate::faults::messenger::Messenger;
use crate::faults::network;
use crate::faults::points::{EngineClock, SimHooks};
use crate::faults::schedule::Site;
use crate::faults::store_link::StoreLink;
use crate::layout;
use crate::protocol::{
    self, DATAGRAM_BYTES_MAX, ENGINE_PORT, Frame, JackpotAnswer, JackpotRefusal, JackpotRefusalCause, Reply, Request,
};
use crate::seeds;

/// The (first) engine host's name in turmoil and in the trace.
pub(crate) const ENGINE_HOST: &str = "engine";

/// The name of engine host `index` (from 0): `engine`, then `engine-2`.
pub(crate) fn host_name(index: u32) -> String {
    if index == 0 { ENGINE_HOST.to_string() } else { format!("{ENGINE_HOST}-{}", index + 1) }
}

/// The build engine host `index` runs: the scenario's, except the first host of a rollout,
/// which runs the old one.
fn build_of(scenario: &crate::scenario::Scenario, index: u32) -> (EngineVariant, LockStrategy) {
    let engine = &scenario.engine;
    match (&scenario.rollout, index) {
        (Some(rollout), 0) => {
            (rollout.from_variant.unwrap_or(engine.variant), rollout.from_lock_strategy.unwrap_or(engine.lock_strategy))
        }
        _ => (engine.variant, engine.lock_strategy),
    }
}

/// Where `variant` keeps processed request IDs, a durable store kept for the scenario's
/// retention (the other modes are the historical designs' own).
fn dedup_mode(scenario: &crate::scenario::Scenario, variant: EngineVariant) -> DedupMode {
    match variant.dedup_mode() {
        DedupMode::Durable { .. } => DedupMode::Durable { retention_ms: scenario.engine.dedup_retention_ms },
        other => other,
    }
}

struct Services {
    engine: GameEngine,
    jackpot: Option<Arc<JackpotService>>,
    /// What the checks hold the jackpot's refusals to.
    jackpot_limits: JackpotLimits,
}

/// The host's software: boots the engine and serves requests until the host crashes.
pub(crate) async fn run(context: Arc<SimContext>, index: u32) -> turmoil::Result {
    let host: Arc<str> = host_name(index).into();
    crate::host_clock::name_runtime(&host);
    let services = Arc::new(boot(&context, index, &host));
    let socket = Arc::new(UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ENGINE_PORT)).await?);
    let mut buffer = vec![0u8; DATAGRAM_BYTES_MAX];
    loop {
        let (length, from) = socket.recv_from(&mut buffer).await?;
        let frame: Frame<Request> = match protocol::decode(&buffer[..length]) {
            Ok(frame) => frame,
            Err(error) => {
                context.trace(&host, "bad_frame", format!("from {from}: {error}"));
                continue;
            }
        };
        let detail = format_args!("w{} {}", frame.wire_id, frame.body.describe());
        context.trace_fields(&host, "recv", &(frame.wire_id, &frame.body), detail);
        let (context, services, socket) = (Arc::clone(&context), Arc::clone(&services), Arc::clone(&socket));
        let host = Arc::clone(&host);
        tokio::spawn(async move {
            // Boxed: the handler's future is the engine's largest, and tokio moves a task's
            // whole future into its cell and again when it finishes.
            let asked = frame.body.asked();
            let reply = Box::pin(handle(&context, &services, frame.body)).await;
            context.request_answered(asked, &reply);
            let (wire_id, site) = (frame.wire_id, Site::Reply(frame.actor));
            let transit =
                network::transit(&context, &host, site, &format_args!("reply w{wire_id} {}", reply.describe()));
            let Some(latency) = transit else { return };
            network::wait_latency(&context, latency).await;
            context.trace_fields(&host, "reply", &(wire_id, &reply), format_args!("w{wire_id} {}", reply.describe()));
            let bytes = protocol::encode(&Frame { wire_id: frame.wire_id, actor: frame.actor, body: reply });
            // A send fails only if the host is going down; the client will time out.
            let _ = socket.send_to(&bytes, from).await;
        });
    }
}

/// Builds one engine process — every service anew, its random streams drawn for this boot —
/// and starts its background work (the expiry sweeper and DLQ processor, the dedup purge).
fn boot(context: &Arc<SimContext>, index: u32, host: &str) -> Services {
    let scenario = &context.scenario;
    let store: Arc<dyn Store> = Arc::new(StoreLink::new(Arc::clone(context)));
    let clock: SharedClock = Arc::new(EngineClock { context: Arc::clone(context) });
    let buggify = Buggify::new(Arc::new(SimHooks { context: Arc::clone(context) }));
    let metrics = context.metrics.clone();
    let process = (index > 0).then(|| host.to_string());
    let observer = Arc::new(LockTap { context: Arc::downgrade(context), process: process.clone() });
    let locks = LockManager::with_observer(scenario.engine.locks.clone(), metrics.clone(), observer);
    let boot = context.state().engine_booted(index, process, locks.clone());
    context.trace(host, "engine.boot", format!("boot {boot}"));
    let (variant, lock_strategy) = build_of(scenario, index);
    let rng = |label: &str| seeds::rng(context.seed, label, boot);
    let wallet_config = WalletConfig {
        reservation_ttl_ms: scenario.engine.reservation_ttl_ms,
        sweep_interval_ms: scenario.engine.sweep_interval_ms,
    };
    let wallet = Arc::new(
        WalletService::new(Arc::clone(&store), Arc::clone(&clock), metrics.clone(), rng("wallet"), wallet_config)
            .with_buggify(buggify.clone()),
    );
    let dedup = Arc::new(
        Deduplicator::new(Arc::clone(&store), Arc::clone(&clock), metrics.clone(), dedup_mode(scenario, variant))
            .with_buggify(buggify),
    );
    let jackpot_config = jackpot_config(host);
    let jackpot_limits =
        JackpotLimits { retries_max: jackpot_config.retries_max, lock_timeout_ms: jackpot_config.lock_timeout_ms };
    let jackpot = scenario.engine.jackpot.then(|| {
        let parts = JackpotParts {
            store: Arc::clone(&store),
            clock: Arc::clone(&clock),
            metrics: metrics.clone(),
            rng: rng("jackpot"),
            wallet: Arc::clone(&wallet),
        };
        Arc::new(JackpotService::new(parts, jackpot_config, variant.jackpot_variant()))
    });
    let parts = GameParts {
        store,
        metrics,
        locks,
        wallet: Arc::clone(&wallet),
        dedup: Arc::clone(&dedup),
        jackpot: jackpot.clone(),
        chat: Arc::new(Messenger::new(Arc::clone(context))),
        rng: rng("game"),
    };
    let config = GameConfig {
        table: scenario.tables.table_config(),
        stack_cap: scenario.tables.stack_cap,
        admins: layout::admins(),
        lock_strategy,
        variant,
        turn_messages: scenario.engine.turn_messages,
    };
    if context.plan.settings.out_of_order_lock_probability > 0.0 || context.plan.schedule.is_some() {
        tokio::spawn(lock_probe::run(Arc::clone(context), parts.locks.clone()));
    }
    tokio::spawn(wallet.run_background());
    tokio::spawn(dedup.run_background());
    if let Some(jackpot) = jackpot.clone() {
        tokio::spawn(async move {
            jackpot.recover().await;
        });
    }
    Services { engine: GameEngine::new(parts, config), jackpot, jackpot_limits }
}

async fn handle(context: &SimContext, services: &Services, request: Request) -> Reply {
    let engine = &services.engine;
    match request {
        Request::Act(action) => Reply::Acted(engine.act(action).await),
        Request::Start { table } => {
            let received_len = context.trace_len();
            let reply = engine.start_hand(table).await;
            if matches!(reply, Err(GameError::NotEnoughPlayers)) {
                context.start_refused_for_players(table, received_len);
            }
            Reply::Started(reply)
        }
        Request::Reset { user, table, emergency } => Reply::Reset(engine.reset(user, table, emergency).await),
        Request::Stats { table } => Reply::Stats(engine.stats(table).await),
        Request::Balance { user, table } => Reply::Balance(engine.balance(user, table).await),
        Request::JackpotContribute { operation, rake } => Reply::Jackpot(match &services.jackpot {
            None => Err(jackpot_off()),
            Some(jackpot) => {
                let started = Instant::now();
                let result = jackpot.contribute(&Contribution::External { operation }, rake).await;
                if let Err(error) = &result {
                    services.jackpot_limits.check(context, error, started.elapsed());
                }
                result
                    .map(|o| JackpotAnswer::Contributed {
                        to_pools: o.split.to_pools(),
                        attempts: o.attempts,
                        duplicate: o.duplicate,
                    })
                    .map_err(|e| refusal(&e))
            }
        }),
        Request::JackpotWin { win_id, group, user, amount } => Reply::Jackpot(match &services.jackpot {
            None => Err(jackpot_off()),
            Some(jackpot) => {
                let started = Instant::now();
                let result = jackpot.process_win(&win_id, group, user, amount).await;
                if let Err(error) = &result {
                    services.jackpot_limits.check(context, error, started.elapsed());
                }
                result
                    .map(|o| JackpotAnswer::Won { paid: o.paid, pool_after: o.pool_after, duplicate: o.duplicate })
                    .map_err(|e| refusal(&e))
            }
        }),
    }
}

/// The jackpot service's config on engine host `host`: the defaults, under the host's name as
/// its instance. The checkers read its limits from here too.
pub(crate) fn jackpot_config(host: &str) -> JackpotServiceConfig {
    JackpotServiceConfig { instance: host.to_string(), ..JackpotServiceConfig::default() }
}

fn jackpot_off() -> JackpotRefusal {
    JackpotRefusal { cause: JackpotRefusalCause::Other, message: "the jackpot service is off".into() }
}

/// The jackpot's limits a refusal must have reached before giving up: its retries after a
/// conflict and its row-lock wait.
#[derive(Clone, Copy, Debug)]
struct JackpotLimits {
    retries_max: u32,
    /// In ms.
    lock_timeout_ms: u64,
}

impl JackpotLimits {
    /// Hands a refusal that claims a spent limit or a lost row lock to the jackpot checker,
    /// with what the engine host measured: the request's time in the handler (`waited`).
    fn check(&self, context: &SimContext, error: &JackpotError, waited: Duration) {
        match error {
            JackpotError::LockTimeout { group, .. } => {
                context.jackpot_win_lock_timed_out(*group, waited, self.lock_timeout_ms);
            }
            JackpotError::ConcurrencyViolation(violation) => {
                context.jackpot_retries_exhausted(violation, self.retries_max);
            }
            JackpotError::LockLost { group, holder } => context.jackpot_win_lock_lost(*group, holder.as_deref()),
            _ => {}
        }
    }
}

/// A jackpot error as its answer states it.
fn refusal(error: &JackpotError) -> JackpotRefusal {
    let cause = match error {
        JackpotError::Store(_) => JackpotRefusalCause::Store,
        JackpotError::IdReused { .. } => JackpotRefusalCause::IdReused,
        _ => JackpotRefusalCause::Other,
    };
    JackpotRefusal { cause, message: error.to_string() }
}
