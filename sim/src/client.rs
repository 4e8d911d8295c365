//! The client hosts: the players (one task per seat), one dealer per table, and the jackpot
//! load generator, behaving like the real clients — request IDs on every action, retries on
//! timeout with the same ID, double-click duplicates (2–5 copies, the same or a fresh ID),
//! late duplicates past the dedup window, out-of-turn and stale actions, `/start` (storms of
//! them), `/reset`, `/stats`, and the admin's emergency reset.
//!
//! Every reply to an action goes to the client-side at-most-once check. Faulty behaviour
//! (duplicates, stale and out-of-turn actions, resets, storms) happens only in the safety
//! phase; in the heal phase players keep playing their hands cleanly and no hand is started.
//! Each actor (a seat, a dealer, the jackpot load) is an [`Agent`] with a random stream of its
//! own, so what one actor does differently never shifts another's choices; client faults come
//! from the schedule or the client-fault dice. The clients never read the store.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::game::{ActionOutcome, ActionRequest, GameError, TableStats};
use engine::ids::{RequestId, TableId, UserId};
use engine::rules::{Action, LegalActions};
use engine::store::JackpotGroup;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;
use turmoil::net::UdpSocket;

use crate::context::{Phase, SimContext, Stream};
use crate::engine_host;
use crate::faults::kind::FaultKind;
use crate::faults::network;
use crate::faults::plan::draw_range;
use crate::faults::schedule::{Opportunity, ScheduledFault, Site, Unfired};
use crate::layout::{ADMIN, Layout};
use crate::protocol::{self, Actor, CLIENT_PORT, DATAGRAM_BYTES_MAX, ENGINE_PORT, Frame, Reply, Request};
use crate::seeds;

/// Period of the jackpot load's bursts, in milliseconds.
const JACKPOT_BURST_MS: u64 = 10;
/// Pause before a retry, per attempt already made, in milliseconds (uniform range).
const RETRY_BACKOFF_MS: [u64; 2] = [100, 500];
/// The share of `/reset` faults sent by a player who sits at another table (the engine must
/// refuse them as not seated).
const OUTSIDER_RESET_SHARE: f64 = 0.25;

/// The name of client host `index`.
pub(crate) fn host_name(index: u32) -> String {
    format!("players-{index}")
}

/// One actor of a client host: who it is and its own random stream (think times, choices,
/// request IDs, backoff).
struct Agent {
    actor: Actor,
    rng: Mutex<ChaCha8Rng>,
}

impl Agent {
    /// The agent of `actor`, its stream derived from the run's seed and `label` (a seat's
    /// label names its table too: a shared player sits at several).
    fn new(seed: u64, actor: Actor, label: &str, index: u64) -> Arc<Agent> {
        Arc::new(Agent { actor, rng: Mutex::new(seeds::rng(seed, label, index)) })
    }

    fn draw<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut self.rng.lock().expect("agent rng"))
    }

    fn chance(&self, probability: f64) -> bool {
        probability > 0.0 && self.draw(|rng| rng.random_bool(probability))
    }

    fn fresh_request_id(&self) -> RequestId {
        RequestId(self.draw(|rng| rng.random::<u64>() >> 1))
    }

    async fn sleep_ms(&self, context: &SimContext, range: [u64; 2]) {
        let ms = self.draw(|rng| draw_range(rng, range));
        context.sleep(Duration::from_millis(ms)).await;
    }
}

/// Whose answer a reply is: the request ID's own, a reuse of the ID for another payload after
/// the first was answered, or another payload sent under the ID while its first was in flight.
#[derive(Clone, Copy)]
enum Payload {
    Own,
    Reused,
    Racing,
}

/// What one answer to a retried request means to its sender.
enum Answer<T> {
    /// The request is settled: no more retries.
    Final(T),
    /// A transient refusal: retry.
    Transient,
    /// A reply of another kind than the request asks for: give up.
    Unexpected(Reply),
}

/// One client host's connection to the engine: sends frames, matches replies to waiters.
struct Rpc {
    context: Arc<SimContext>,
    host: String,
    socket: UdpSocket,
    /// The engine hosts' addresses (one, or two serving the same tables).
    engines: Vec<SocketAddr>,
    pending: Mutex<BTreeMap<u64, oneshot::Sender<Reply>>>,
    next_wire_id: AtomicU64,
}

impl Rpc {
    /// Whether a client fault of `kind` fires at `opportunity`: from the schedule, or from
    /// the client-fault dice through `roll`.
    fn fault_at(
        &self,
        opportunity: &Opportunity,
        kind: FaultKind,
        roll: impl FnOnce(&mut ChaCha8Rng, Unfired<'_>) -> Option<ScheduledFault>,
    ) -> Option<ScheduledFault> {
        self.context.decide(opportunity, kind, Stream::ClientFaults, roll)
    }

    fn safety(&self) -> bool {
        self.context.state().phase() == Phase::Safety
    }

    /// Routes replies to the attempts waiting for them; late replies are dropped.
    async fn dispatch(self: Arc<Self>) {
        let mut buffer = vec![0u8; DATAGRAM_BYTES_MAX];
        loop {
            let Ok((length, _)) = self.socket.recv_from(&mut buffer).await else { return };
            let Ok(frame) = protocol::decode::<Reply>(&buffer[..length]) else {
                self.context.trace(&self.host, "bad_frame", format!("{length} bytes"));
                continue;
            };
            let waiter = self.pending.lock().expect("pending").remove(&frame.wire_id);
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(frame.body);
                }
                None => self.context.trace(&self.host, "late_reply", format!("w{}", frame.wire_id)),
            }
        }
    }

    /// One attempt by `agent`: send `body` (after the network's latency for it, unless it is
    /// lost), wait up to the request timeout for its reply.
    /// The engine host a request goes to: the only one; or with two, either at even odds, or
    /// under a rollout the new one with a share growing from 0 to 1 over `shift_ms` (drawn
    /// from the agent's stream).
    fn engine_for(&self, agent: &Agent) -> SocketAddr {
        let [old, new] = match self.engines.as_slice() {
            [only] => return *only,
            [old, new, ..] => [*old, *new],
            [] => unreachable!("a world has an engine host"),
        };
        let share_new = match &self.context.scenario.rollout {
            Some(rollout) => (self.context.now_us() as f64 / 1_000.0 / rollout.shift_ms.max(1) as f64).min(1.0),
            None => 0.5,
        };
        if agent.draw(|rng| rng.random_bool(share_new)) { new } else { old }
    }

    async fn call(&self, agent: &Agent, body: &Request) -> Option<Reply> {
        let wire_id = self.next_wire_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.pending.lock().expect("pending").insert(wire_id, sender);
        self.context.count_request("sent");
        let site = Site::Request(agent.actor);
        let transit =
            network::transit(&self.context, &self.host, site, &format_args!("request w{wire_id} {}", body.describe()));
        if let Some(latency) = transit {
            network::wait_latency(&self.context, latency).await;
            self.context.trace_fields(
                &self.host,
                "send",
                &(wire_id, body),
                format_args!("w{wire_id} {}", body.describe()),
            );
            let bytes = protocol::encode(&Frame { wire_id, actor: agent.actor, body });
            let engine = self.engine_for(agent);
            let _ = self.socket.send_to(&bytes, engine).await;
        }
        let timeout = Duration::from_millis(self.context.scenario.clients.request_timeout_ms);
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(reply)) => {
                self.context.trace_fields(
                    &self.host,
                    "ack",
                    &(wire_id, &reply),
                    format_args!("w{wire_id} {}", reply.describe()),
                );
                Some(reply)
            }
            _ => {
                self.pending.lock().expect("pending").remove(&wire_id);
                self.context.count_request("timed_out");
                self.context.trace(&self.host, "timeout", format!("w{wire_id}"));
                None
            }
        }
    }

    /// Sends an action until it gets a final answer: retries on timeout or a transient
    /// answer, always with the same request ID. Every answer goes to the at-most-once check.
    async fn send_action(&self, agent: &Agent, request: ActionRequest) -> Option<Result<ActionOutcome, GameError>> {
        self.send_until_final(agent, request, Payload::Own).await
    }

    /// Sends `request`, whose ID was already answered for another payload, until it gets a
    /// final answer; the answers go to the reused-ID check, not the ID's own.
    async fn send_reused(&self, agent: &Agent, request: ActionRequest) {
        self.send_until_final(agent, request, Payload::Reused).await;
    }

    async fn send_until_final(
        &self,
        agent: &Agent,
        request: ActionRequest,
        payload: Payload,
    ) -> Option<Result<ActionOutcome, GameError>> {
        self.context.client_sent(request.request);
        self.retry_until_final(agent, &Request::Act(request), |reply| {
            let Reply::Acted(result) = reply else { return Answer::Unexpected(reply) };
            match payload {
                Payload::Own => self.context.client_reply(&request, &result),
                Payload::Reused => self.context.reused_reply(request.request, &result),
                Payload::Racing => self.context.racing_reply(request.request, &result),
            }
            if result.as_ref().err().is_none_or(GameError::is_final) {
                Answer::Final(result)
            } else {
                Answer::Transient
            }
        })
        .await
    }

    /// Sends `body` until `judge` calls an answer final: retries, with a growing backoff, on a
    /// timeout or a transient answer, always with the same request; gives up after
    /// `clients.retries_max` retries or on an answer of the wrong kind (traced).
    async fn retry_until_final<T>(
        &self,
        agent: &Agent,
        body: &Request,
        mut judge: impl FnMut(Reply) -> Answer<T>,
    ) -> Option<T> {
        let retries_max = self.context.scenario.clients.retries_max;
        for attempt in 0..=retries_max {
            if attempt > 0 {
                self.context.count_request("retried");
                let pause = agent.draw(|rng| draw_range(rng, RETRY_BACKOFF_MS)) * u64::from(attempt);
                self.context.sleep(Duration::from_millis(pause)).await;
            }
            let Some(reply) = self.call(agent, body).await else { continue };
            match judge(reply) {
                Answer::Final(value) => return Some(value),
                Answer::Transient => {}
                Answer::Unexpected(other) => {
                    self.context.trace(&self.host, "wrong_reply", other.describe().to_string());
                    return None;
                }
            }
        }
        self.context.count_request("gave_up");
        None
    }

    async fn stats(&self, agent: &Agent, table: TableId) -> Option<TableStats> {
        match self.call(agent, &Request::Stats { table }).await {
            Some(Reply::Stats(Ok(stats))) => Some(stats),
            _ => None,
        }
    }
}

/// A client host's software: spawns its share of dealers, players and load, then waits.
pub(crate) async fn run(context: Arc<SimContext>, index: u32) -> turmoil::Result {
    let hosts = context.scenario.world.client_hosts;
    let seed = context.seed;
    crate::host_clock::name_runtime(&host_name(index).into());
    let socket = UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), CLIENT_PORT)).await?;
    let engines = (0..context.scenario.world.engine_hosts)
        .map(|engine| SocketAddr::new(turmoil::lookup(engine_host::host_name(engine)), ENGINE_PORT))
        .collect();
    let rpc = Arc::new(Rpc {
        context: Arc::clone(&context),
        host: host_name(index),
        socket,
        engines,
        pending: Mutex::new(BTreeMap::new()),
        next_wire_id: AtomicU64::new(u64::from(index) << 40),
    });
    tokio::spawn(Arc::clone(&rpc).dispatch());
    let layout = Layout::of(&context.scenario);
    for (position, (table, seats)) in layout.tables.iter().enumerate() {
        if position as u32 % hosts != index {
            continue;
        }
        let dealer_agent = Agent::new(seed, Actor::Dealer(*table), "dealer", table.0);
        let outsiders: Vec<UserId> = layout.users.iter().copied().filter(|user| !seats.contains(user)).collect();
        tokio::spawn(dealer(Arc::clone(&rpc), dealer_agent, *table, seats.clone(), outsiders));
        for &user in seats {
            let seat = Agent::new(seed, Actor::Player(user), &format!("player@{table}"), user.0);
            tokio::spawn(player(Arc::clone(&rpc), seat, *table, user));
        }
    }
    if context.scenario.clients.stats_burst_interval_ms > 0 {
        for (position, (table, seats)) in layout.tables.iter().enumerate() {
            if position as u32 % hosts == index {
                tokio::spawn(stats_bursts(Arc::clone(&rpc), seed, *table, seats.clone()));
            }
        }
    }
    if index == 0 && context.scenario.clients.jackpot_ops_per_second > 0 {
        let users: Vec<UserId> = layout.users.iter().copied().collect();
        let load = Agent::new(seed, Actor::JackpotLoad, "jackpot-load", 0);
        tokio::spawn(jackpot_load(Arc::clone(&rpc), load, users));
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// The histogram of a burst's completion time (first request sent → last answer).
pub(crate) const METRIC_BURST_DURATION: &str = "chipsim_burst_duration_seconds";

/// Stats bursts at `table` (`clients.stats_burst_interval_ms`): while a hand runs, every
/// seated player asks `/stats` at the same instant, each from a stream of its own.
async fn stats_bursts(rpc: Arc<Rpc>, seed: u64, table: TableId, seats: Vec<UserId>) {
    let interval = Duration::from_millis(rpc.context.scenario.clients.stats_burst_interval_ms);
    let watcher = Agent::new(seed, Actor::Dealer(table), "burst-watch", table.0);
    let askers: Vec<Arc<Agent>> =
        seats.iter().map(|&user| Agent::new(seed, Actor::Player(user), &format!("burst@{table}"), user.0)).collect();
    loop {
        rpc.context.sleep(interval).await;
        if !rpc.safety() {
            continue;
        }
        if !rpc.stats(&watcher, table).await.is_some_and(|stats| stats.in_progress) {
            continue;
        }
        let started = tokio::time::Instant::now();
        let asks: Vec<_> = askers
            .iter()
            .map(|agent| {
                let (rpc, agent) = (Arc::clone(&rpc), Arc::clone(agent));
                tokio::spawn(async move { rpc.stats(&agent, table).await.is_some() })
            })
            .collect();
        let mut answered = true;
        for ask in asks {
            answered &= ask.await.unwrap_or(false);
        }
        if answered {
            rpc.context.metrics.record(METRIC_BURST_DURATION, &[], started.elapsed());
        }
    }
}

/// What a player to act chooses.
fn choose(rpc: &Rpc, agent: &Agent, legal: &LegalActions) -> Action {
    let settings = &rpc.context.scenario.clients;
    let roll: f64 = agent.draw(|rng| rng.random());
    let fold_p = if legal.can_fold { settings.fold_probability } else { 0.0 };
    if roll < fold_p {
        return Action::Fold;
    }
    if roll < fold_p + settings.all_in_probability {
        return Action::AllIn;
    }
    if let Some(range) = legal.raise
        && roll < fold_p + settings.all_in_probability + settings.raise_probability
    {
        let high = range.max_to.min(range.min_to.saturating_mul(3)).max(range.min_to);
        return Action::RaiseTo(agent.draw(|rng| draw_range(rng, [range.min_to, high])));
    }
    if legal.call_amount == 0 { Action::Check } else { Action::Call }
}

async fn player(rpc: Arc<Rpc>, agent: Arc<Agent>, table: TableId, user: UserId) {
    let settings = rpc.context.scenario.clients.clone();
    loop {
        agent.sleep_ms(&rpc.context, settings.think_ms).await;
        let Some(stats) = rpc.stats(&agent, table).await else { continue };
        let seated = stats.stacks.iter().any(|(u, _)| *u == user);
        if stats.actor == Some(user) {
            let Some(legal) = stats.legal else { continue };
            let action = choose(&rpc, &agent, &legal);
            take_turn(&rpc, &agent, &stats, user, action).await;
        } else if seated && agent.chance(settings.balance_read_probability) {
            read_balance(&rpc, &agent, table, user).await;
        } else if stats.in_progress && seated && out_of_turn(&rpc, user) {
            rpc.context.fault(&rpc.host, FaultKind::OutOfTurn, format!("{user} {table}"));
            let request = ActionRequest {
                request: agent.fresh_request_id(),
                user,
                table,
                hand_number: stats.hand_number,
                action: Action::Check,
            };
            rpc.send_action(&agent, request).await;
        }
    }
}

/// A seated player asks for its wallet balance; the answer goes to the `reads` check with
/// where the run was when the request was first sent (retries keep that place: any balance
/// the wallet held since then is a right answer).
async fn read_balance(rpc: &Rpc, agent: &Agent, table: TableId, user: UserId) {
    let sent_len = rpc.context.trace_len();
    rpc.retry_until_final(agent, &Request::Balance { user, table }, |reply| {
        let Reply::Balance(result) = reply else { return Answer::Unexpected(reply) };
        rpc.context.balance_reply(user, sent_len, &result);
        if result.as_ref().err().is_none_or(GameError::is_final) { Answer::Final(()) } else { Answer::Transient }
    })
    .await;
}

/// Whether a player who is not to act sends an action anyway (a `poll:USER` opportunity).
fn out_of_turn(rpc: &Rpc, user: UserId) -> bool {
    let p = rpc.context.scenario.clients.out_of_turn_probability;
    let opportunity = rpc.context.opportunity(Site::Poll(user));
    rpc.fault_at(&opportunity, FaultKind::OutOfTurn, |rng, fault| chance(rng, p).then(|| fault.fire())).is_some()
}

/// `probability > 0` and a die that says yes (no die is rolled for a probability of 0).
fn chance(rng: &mut ChaCha8Rng, probability: f64) -> bool {
    probability > 0.0 && rng.random_bool(probability)
}

/// A player's turn (a `turn:USER` opportunity): maybe a stale action first, then the action —
/// as concurrent copies when a duplicate fires — and maybe a delayed duplicate of it.
async fn take_turn(rpc: &Arc<Rpc>, agent: &Arc<Agent>, stats: &TableStats, user: UserId, action: Action) {
    let settings = &rpc.context.scenario.clients;
    let plan = &rpc.context.plan.settings;
    let table = stats.table;
    let opportunity = rpc.context.opportunity(Site::Turn(user));
    if stats.hand_number > 1
        && rpc
            .fault_at(&opportunity, FaultKind::StaleAction, |rng, f| {
                chance(rng, settings.stale_probability).then(|| f.fire())
            })
            .is_some()
    {
        let stale_hand = stats.hand_number - 1;
        rpc.context.fault(&rpc.host, FaultKind::StaleAction, format!("{user} {table} hand {stale_hand}"));
        let stale = ActionRequest { request: agent.fresh_request_id(), user, table, hand_number: stale_hand, action };
        rpc.send_action(agent, stale).await;
    }
    let request =
        ActionRequest { request: agent.fresh_request_id(), user, table, hand_number: stats.hand_number, action };
    let duplicate = rpc.fault_at(&opportunity, FaultKind::Duplicate, |rng, fault| {
        chance(rng, plan.duplicate_probability).then(|| {
            let copies = rng.random_range(2..=plan.duplicate_copies_max);
            let fresh_copies = (2..=copies).filter(|_| chance(rng, plan.duplicate_fresh_id_probability)).collect();
            ScheduledFault { copies: Some(copies), fresh_copies, ..fault.fire() }
        })
    });
    let racing = || {
        let p = plan.reused_id_probability;
        rpc.fault_at(&opportunity, FaultKind::RacingReusedId, |rng, fault| chance(rng, p).then(|| fault.fire()))
            .is_some()
    };
    match duplicate {
        Some(duplicate) => send_copies(rpc, agent, request, &duplicate).await,
        None if racing() => send_racing(rpc, agent, request).await,
        None => {
            if rpc.send_action(agent, request).await.is_some() {
                reuse_id(rpc, agent, &opportunity, request).await;
            }
        }
    }
    let delayed = rpc.fault_at(&opportunity, FaultKind::DelayedDuplicate, |rng, fault| {
        chance(rng, plan.delayed_duplicate_probability).then(|| fault.with_ms(plan.delayed_duplicate_ms))
    });
    if let Some(delay_ms) = delayed.and_then(|fault| fault.ms) {
        let (rpc, agent) = (Arc::clone(rpc), Arc::clone(agent));
        tokio::spawn(async move {
            rpc.context.sleep(Duration::from_millis(delay_ms)).await;
            let detail = format!("{} after {delay_ms} ms", request.request);
            rpc.context.fault(&rpc.host, FaultKind::DelayedDuplicate, detail);
            rpc.send_action(&agent, request).await;
        });
    }
}

/// After `request` got its final answer, maybe the same request ID again for another
/// action or amount (a client bug the engine must refuse, never execute).
async fn reuse_id(rpc: &Arc<Rpc>, agent: &Arc<Agent>, opportunity: &Opportunity, request: ActionRequest) {
    let p = rpc.context.plan.settings.reused_id_probability;
    if rpc.fault_at(opportunity, FaultKind::ReusedId, |rng, fault| chance(rng, p).then(|| fault.fire())).is_none() {
        return;
    }
    let reused = ActionRequest { action: another_action(request.action), ..request };
    let detail = format!("{} {:?} then {:?}", request.request, request.action, reused.action);
    rpc.context.fault(&rpc.host, FaultKind::ReusedId, detail);
    rpc.send_reused(agent, reused).await;
}

/// Another action or amount than `action`, for a request ID sent again with a new payload.
fn another_action(action: Action) -> Action {
    match action {
        Action::Fold => Action::Check,
        Action::RaiseTo(chips) => Action::RaiseTo(chips + 1),
        _ => Action::Fold,
    }
}

/// `request` and, at the same instant, its ID with another action (a client that reuses IDs
/// while its first request is in flight): either copy may be taken as the ID's payload, and
/// then the other must be refused as reused. Each copy is retried until final on its own.
async fn send_racing(rpc: &Arc<Rpc>, agent: &Arc<Agent>, request: ActionRequest) {
    let other = ActionRequest { action: another_action(request.action), ..request };
    let detail = format!("{} {:?} and {:?} at once", request.request, request.action, other.action);
    rpc.context.fault(&rpc.host, FaultKind::RacingReusedId, detail);
    let own = {
        let (rpc, agent) = (Arc::clone(rpc), Arc::clone(agent));
        tokio::spawn(async move { rpc.send_action(&agent, request).await })
    };
    let racing = {
        let (rpc, agent) = (Arc::clone(rpc), Arc::clone(agent));
        tokio::spawn(async move { rpc.send_until_final(&agent, other, Payload::Racing).await })
    };
    let (own, racing) = (own.await.ok().flatten(), racing.await.ok().flatten());
    if let (Some(own), Some(racing)) = (own, racing) {
        rpc.context.racing_answered(request.request, &own, &racing);
    }
}

/// The double click: the duplicate's copies of one action at once, the listed ones with a
/// fresh request ID.
async fn send_copies(rpc: &Arc<Rpc>, agent: &Arc<Agent>, request: ActionRequest, duplicate: &ScheduledFault) {
    let copies = duplicate.copies.unwrap_or(2);
    let mut handles = Vec::new();
    for copy in 1..=copies {
        let mut sent = request;
        if duplicate.fresh_copies.contains(&copy) {
            sent.request = agent.fresh_request_id();
        }
        let detail = format!("copy {copy} of {copies} {} as {}", request.request, sent.request);
        rpc.context.fault(&rpc.host, FaultKind::Duplicate, detail);
        let (rpc, agent) = (Arc::clone(rpc), Arc::clone(agent));
        handles.push(tokio::spawn(async move { rpc.send_action(&agent, sent).await }));
    }
    for handle in handles {
        let _ = handle.await;
    }
}

/// A table's dealer: starts hands, and sends the resets of the fault plan — by a seated player,
/// now and then by one of `outsiders` (players of other tables, who must be refused).
async fn dealer(rpc: Arc<Rpc>, agent: Arc<Agent>, table: TableId, seats: Vec<UserId>, outsiders: Vec<UserId>) {
    let settings = rpc.context.scenario.clients.clone();
    let hands_max = rpc.context.scenario.tables.hands_max;
    let mut started = 0u32;
    loop {
        agent.sleep_ms(&rpc.context, settings.think_ms).await;
        if !rpc.safety() {
            continue;
        }
        resets(&rpc, &agent, table, &seats, &outsiders).await;
        let Some(stats) = rpc.stats(&agent, table).await else { continue };
        if stats.in_progress || (hands_max > 0 && started >= hands_max) {
            continue;
        }
        let copies = settings.start_copies;
        if copies > 1 {
            rpc.context.fault(&rpc.host, FaultKind::StartStorm, format!("{table} x{copies}"));
        }
        let mut handles = Vec::new();
        for _ in 0..copies {
            let (rpc, agent) = (Arc::clone(&rpc), Arc::clone(&agent));
            handles.push(tokio::spawn(async move { rpc.call(&agent, &Request::Start { table }).await }));
        }
        for handle in handles {
            if let Ok(Some(Reply::Started(Ok(_)))) = handle.await {
                started += 1;
            }
        }
    }
}

/// A dealer's poll (a `dealer:TABLE` opportunity): maybe a `/reset` — by a seated player, or
/// (a share `OUTSIDER_RESET_SHARE` of them) by a player of another table — maybe an admin's
/// emergency reset.
async fn resets(rpc: &Rpc, agent: &Agent, table: TableId, seats: &[UserId], outsiders: &[UserId]) {
    let settings = &rpc.context.scenario.clients;
    let opportunity = rpc.context.opportunity(Site::Dealer(table));
    let reset = rpc.fault_at(&opportunity, FaultKind::Reset, |rng, fault| {
        chance(rng, settings.reset_probability).then(|| {
            let by_outsider = !outsiders.is_empty() && chance(rng, OUTSIDER_RESET_SHARE);
            let from = if by_outsider { outsiders } else { seats };
            ScheduledFault { by: Some(from[rng.random_range(0..from.len())]), ..fault.fire() }
        })
    });
    if let Some(user) = reset.and_then(|reset| reset.by) {
        rpc.context.fault(&rpc.host, FaultKind::Reset, format!("{table} by {user}"));
        rpc.call(agent, &Request::Reset { user, table, emergency: false }).await;
    }
    let emergency = rpc.fault_at(&opportunity, FaultKind::EmergencyReset, |rng, fault| {
        chance(rng, settings.emergency_reset_probability).then(|| fault.fire())
    });
    if emergency.is_some() {
        rpc.context.fault(&rpc.host, FaultKind::EmergencyReset, format!("{table}"));
        rpc.call(agent, &Request::Reset { user: ADMIN, table, emergency: true }).await;
    }
}

/// Jackpot contributions and wins at the scenario's rate, each its own task, so that they
/// overlap and contend for the pools. Sent in bursts every `JACKPOT_BURST_MS` (tokio's timers
/// have a 1 ms resolution, so one op per sub-millisecond interval would cap the rate at 1,000/s),
/// sleeping through the bursts that send nothing: a timer that fires costs the host a scheduler
/// pass, and at five operations a second nineteen bursts in twenty are empty.
async fn jackpot_load(rpc: Arc<Rpc>, agent: Arc<Agent>, users: Vec<UserId>) {
    let settings = rpc.context.scenario.clients.clone();
    let per_burst_millis = u64::from(settings.jackpot_ops_per_second) * JACKPOT_BURST_MS;
    if per_burst_millis == 0 {
        return;
    }
    let mut operation = 0u64;
    let mut owed_millis = 0u64;
    loop {
        // The first burst that owes an operation: the load sleeps straight to it, and stops
        // there if faults have stopped meanwhile.
        let bursts = (1_000 - owed_millis).div_ceil(per_burst_millis);
        rpc.context.sleep(Duration::from_millis(bursts * JACKPOT_BURST_MS)).await;
        if !rpc.safety() {
            return;
        }
        owed_millis += bursts * per_burst_millis;
        while owed_millis >= 1_000 {
            owed_millis -= 1_000;
            operation += 1;
            let request = jackpot_request(&agent, &users, operation, settings.jackpot_win_share);
            let opportunity = rpc.context.opportunity(Site::JackpotOp);
            let duplicate = rpc
                .fault_at(&opportunity, FaultKind::Duplicate, |rng, fault| {
                    chance(rng, rpc.context.plan.settings.duplicate_probability)
                        .then(|| ScheduledFault { copies: Some(2), ..fault.fire() })
                })
                .is_some();
            let p_reused = rpc.context.plan.settings.reused_id_probability;
            let reused = rpc
                .fault_at(&opportunity, FaultKind::ReusedId, |rng, fault| chance(rng, p_reused).then(|| fault.fire()))
                .is_some();
            tokio::spawn(jackpot_operation(Arc::clone(&rpc), Arc::clone(&agent), request, duplicate, reused));
        }
    }
}

/// One jackpot operation of the load: sent once; then, if `duplicate`, the same again (it must
/// replay the first outcome), and if `reused`, its ID with another payload (it must be refused
/// as reused). Both checks apply only once the first copy was answered with a recorded outcome.
async fn jackpot_operation(rpc: Arc<Rpc>, agent: Arc<Agent>, request: Request, duplicate: bool, reused: bool) {
    rpc.context.count_request("jackpot_ops");
    let first = match rpc.call(&agent, &request).await {
        Some(Reply::Jackpot(Ok(first))) if first.recorded() => Some(first),
        _ => None,
    };
    let operation = request.describe().to_string();
    if duplicate {
        rpc.context.fault(&rpc.host, FaultKind::Duplicate, operation.clone());
        let again = rpc.call(&agent, &request).await;
        if let (Some(first), Some(Reply::Jackpot(again))) = (&first, again) {
            rpc.context.jackpot_duplicate_reply(&operation, first, &again);
        }
    }
    if reused && first.is_some() {
        let other = other_payload(&request);
        rpc.context.fault(&rpc.host, FaultKind::ReusedId, format!("{operation} then {}", other.describe()));
        if let Some(Reply::Jackpot(answer)) = rpc.call(&agent, &other).await {
            rpc.context.jackpot_reused_reply(&operation, &answer);
        }
    }
}

/// A jackpot request with the same operation ID and another payload.
fn other_payload(request: &Request) -> Request {
    match request.clone() {
        Request::JackpotContribute { operation, rake } => Request::JackpotContribute { operation, rake: rake + 1 },
        Request::JackpotWin { win_id, group, user, amount } => {
            Request::JackpotWin { win_id, group, user, amount: amount + 1 }
        }
        other => other,
    }
}

/// The load's `operation`-th request: a win (a share of them) or a contribution.
fn jackpot_request(agent: &Agent, users: &[UserId], operation: u64, win_share: f64) -> Request {
    if agent.chance(win_share) {
        let group = JackpotGroup::ALL[agent.draw(|rng| rng.random_range(0..JackpotGroup::ALL.len()))];
        let user = users[agent.draw(|rng| rng.random_range(0..users.len()))];
        let amount = agent.draw(|rng| rng.random_range(1..=50));
        Request::JackpotWin { win_id: format!("win-{operation}"), group, user, amount }
    } else {
        Request::JackpotContribute {
            operation: format!("load-{operation}"),
            rake: agent.draw(|rng| rng.random_range(1..=20)),
        }
    }
}
