//! Scenarios: the TOML files of `scenarios/`, parsed with serde into [`Scenario`].
//!
//! A scenario is data, not code: the tables and players, stakes and balances, the engine
//! variant and lock strategy, the latency models, the fault settings, the timeouts and the
//! default seeds. Every struct rejects unknown fields, so a misspelt setting is an error that
//! names the file, line and field ([`ScenarioError`]) and nothing runs. Every field has a
//! default, so a file says only what makes its situation special.
//!
//! This module never runs anything; `world` turns a scenario and a seed into a run.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use engine::dedup::PROCESSED_RETENTION_MS;
use engine::game::{EngineVariant, LockStrategy};
use engine::locks::{LockCategory, LockConfig};
use engine::rules::config::{SEATS_MAX, SEATS_MIN};
use engine::rules::{Chips, RakeConfig, TableConfig};
use engine::store::TxnKind;
use serde::{Deserialize, Serialize};

use crate::checkers::Budgets;
use crate::faults::kind::FaultKind;
use crate::faults::schedule::{ScheduledFault, Site, StoreOp};
use crate::latency::Latency;

/// Where the shipped scenarios live, relative to the workspace root.
pub const SCENARIO_DIR: &str = "scenarios";

/// A whole scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    /// One line for `chipsim list`.
    #[serde(default)]
    pub description: String,
    /// The seeds `chipsim run` uses when none is given.
    #[serde(default = "default_seeds")]
    pub seeds: SeedList,
    #[serde(default)]
    pub world: WorldSettings,
    #[serde(default)]
    pub tables: TableSettings,
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub chat: ChatSettings,
    #[serde(default)]
    pub clients: ClientSettings,
    #[serde(default)]
    pub faults: FaultSettings,
    /// Limits on time, checked at the end of each run like invariants (`checkers::budgets`).
    #[serde(default, skip_serializing_if = "Budgets::is_empty")]
    pub budgets: Budgets,
    /// A rolling upgrade across the two engine hosts (`[rollout]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSettings>,
    /// The rare paths the scenario's seeds must reach (`engine::buggify::Probe`).
    #[serde(default, skip_serializing_if = "CoverageSettings::is_empty")]
    pub coverage: CoverageSettings,
    /// How the command line names this scenario: its name when it ships, the path it was
    /// loaded from otherwise (set on load; not part of the file).
    #[serde(skip)]
    pub origin: String,
    /// Whether the command line set `world.tick_ms` (`--tick-ms`), so that a replay command
    /// says so too (not part of the file).
    #[serde(skip)]
    pub tick_overridden: bool,
}

/// `[rollout]`: a rolling upgrade. The first engine host runs the old build (`from_variant`,
/// `from_lock_strategy`, each defaulting to `[engine]`'s), the second the new one (`[engine]`);
/// the share of requests sent to the new one grows linearly from 0 at the start to 1 at
/// `shift_ms`, as a canary roll-out moves traffic across.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSettings {
    #[serde(default)]
    pub from_variant: Option<EngineVariant>,
    #[serde(default)]
    pub from_lock_strategy: Option<LockStrategy>,
    pub shift_ms: u64,
}

/// `[coverage]`: the probes a run of the scenario's seeds must reach, summed over the runs
/// of one `run`, `sweep` or merged report; one never reached fails it, naming the probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageSettings {
    pub required: Vec<engine::buggify::Probe>,
}

impl CoverageSettings {
    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
    }
}

/// The largest clock drift a scenario may ask for, as a fraction of simulated time.
pub const CLOCK_DRIFT_MAX: f64 = 0.5;

fn default_seeds() -> SeedList {
    SeedList::Range("1..4".to_string())
}

/// Seeds as a list (`[1, 2, 3]`) or a half-open range string (`"1..21"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SeedList {
    List(Vec<u64>),
    Range(String),
}

impl SeedList {
    pub fn seeds(&self) -> Result<Vec<u64>, String> {
        match self {
            SeedList::List(seeds) if seeds.is_empty() => Err("the seed list is empty".into()),
            SeedList::List(seeds) => Ok(seeds.clone()),
            SeedList::Range(text) => parse_seed_range(text).map(|r| r.collect()),
        }
    }

    /// How many seeds, without listing them.
    pub fn count(&self) -> Result<u64, String> {
        match self {
            SeedList::List(seeds) if seeds.is_empty() => Err("the seed list is empty".into()),
            SeedList::List(seeds) => Ok(seeds.len() as u64),
            SeedList::Range(text) => parse_seed_range(text).map(|r| (r.end() - r.start()).saturating_add(1)),
        }
    }
}

/// Parses `A..B` (half-open) or `A..=B` into a range of seeds.
pub fn parse_seed_range(text: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("`{text}` is not a seed range: write A..B (B excluded) or A..=B");
    let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad());
    };
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = end.trim().parse().map_err(|_| bad())?;
    let last = if inclusive { end } else { end.checked_sub(1).ok_or_else(bad)? };
    if last < start {
        return Err(format!("`{text}` is an empty seed range"));
    }
    Ok(start..=last)
}

/// The simulated world: turmoil's tick and network, and the two phases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldSettings {
    /// turmoil's tick, in milliseconds: messages between hosts move at this granularity;
    /// time inside a host (the engine's critical sections, store and chat latency) does not.
    pub tick_ms: u64,
    /// Length of the safety phase (faults on), in simulated milliseconds.
    pub safety_ms: u64,
    /// Bound on the heal phase (faults off, everything must converge), in simulated ms.
    pub heal_deadline_ms: u64,
    /// One-way latency of the client↔engine network, in milliseconds (uniform range).
    pub network_latency_ms: [u64; 2],
    /// Client hosts the players are spread over (1 or 2; each host costs time every tick).
    pub client_hosts: u32,
    /// Engine processes serving the same tables on one store (1 or 2). With two, each
    /// request goes to either (half and half, or as `[rollout]` moves the traffic); their
    /// in-process lock managers protect nothing between them, so the versioned saves must.
    /// Two engines do not crash (crash faults are refused).
    pub engine_hosts: u32,
}

impl Default for WorldSettings {
    fn default() -> Self {
        WorldSettings {
            tick_ms: 10,
            safety_ms: 60_000,
            heal_deadline_ms: 600_000,
            network_latency_ms: [1, 20],
            client_hosts: 1,
            engine_hosts: 1,
        }
    }
}

/// Tables, players, stakes and balances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableSettings {
    pub tables: u32,
    pub players_per_table: u32,
    /// Players seated at every table with the same wallet (`multi_table`): the first
    /// `shared_players` users of table 1 also sit at every other table.
    pub shared_players: u32,
    pub small_blind: Chips,
    pub big_blind: Chips,
    pub ante: Chips,
    /// Rake in basis points of each pot (0 = no rake).
    pub rake_bps: u32,
    /// Most rake taken from one hand, in chips.
    pub rake_cap: Chips,
    /// Most chips a player brings into one hand.
    pub stack_cap: Chips,
    /// Each player's opening wallet balance.
    pub balance: Chips,
    /// Chips the house holds at the start (feeds jackpot load without rake).
    pub house_chips: Chips,
    /// Hands each table's dealer starts during the safety phase (0 = no limit).
    pub hands_max: u32,
}

impl Default for TableSettings {
    fn default() -> Self {
        TableSettings {
            tables: 2,
            players_per_table: 4,
            shared_players: 0,
            small_blind: 5,
            big_blind: 10,
            ante: 0,
            rake_bps: 500,
            rake_cap: 30,
            stack_cap: 500,
            balance: 2_000,
            house_chips: 0,
            hands_max: 0,
        }
    }
}

impl TableSettings {
    /// The engine's table configuration for these stakes (house rules).
    pub fn table_config(&self) -> TableConfig {
        let mut config = TableConfig::new(self.small_blind, self.big_blind);
        config.ante = self.ante;
        config.rake = RakeConfig { rake_bps: self.rake_bps, rake_cap: self.rake_cap, no_flop_no_drop: true };
        config
    }
}

/// The engine under test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub variant: EngineVariant,
    pub lock_strategy: LockStrategy,
    /// Lock timeouts and hierarchy enforcement (the engine's `LockConfig`).
    pub locks: LockConfig,
    /// Reservation auto-expiry, in milliseconds.
    pub reservation_ttl_ms: u64,
    /// Period of the expiry sweeper and DLQ processor, in milliseconds.
    pub sweep_interval_ms: u64,
    /// How long the durable dedup keeps a processed request's record, in milliseconds; its
    /// purge runs once per retention period (the engine's 10 minutes unless a scenario
    /// shortens it so its runs reach the purge).
    #[serde(skip_serializing_if = "is_engine_retention")]
    pub dedup_retention_ms: u64,
    /// Run the jackpot service (fed by each hand's rake).
    pub jackpot: bool,
    /// Post a chat turn message after each action and delete the hand's turn messages when it
    /// ends (the engine's `GameConfig::turn_messages`).
    pub turn_messages: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            variant: EngineVariant::Hardened,
            lock_strategy: LockStrategy::Coarse,
            locks: LockConfig::default(),
            reservation_ttl_ms: 30_000,
            sweep_interval_ms: 1_000,
            dedup_retention_ms: PROCESSED_RETENTION_MS,
            jackpot: true,
            turn_messages: false,
        }
    }
}

/// Whether `ms` is the engine's own dedup retention (then a report leaves it out).
fn is_engine_retention(ms: &u64) -> bool {
    *ms == PROCESSED_RETENTION_MS
}

/// The store link's latency model (inside the engine host; drawn in µs, simulated to the
/// millisecond — see `latency`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Round-trip latency of one store call, in microseconds (uniform range), for every
    /// operation `latency_ms` does not name.
    pub latency_us: [u64; 2],
    /// Round-trip latency per operation, as a distribution in ms: keyed by an operation
    /// (`"commit:wallet.reserve"`, `"get:wallet"`, `"scan:reservation"`) or a whole family
    /// (`"commit"`, `"get"`, `"scan"`); the exact operation wins over its family.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_ms: BTreeMap<String, Latency>,
    /// How long the engine waits for a store reply before calling it timed out, in ms.
    pub call_timeout_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings { latency_us: [200, 2_000], latency_ms: BTreeMap::new(), call_timeout_ms: 2_000 }
    }
}

/// The store operation families a latency may be keyed by.
const STORE_OP_FAMILIES: [&str; 3] = ["get", "scan", "commit"];

impl StoreSettings {
    /// The distribution of `op`'s latency, if the scenario gives one (else `latency_us`).
    pub fn latency_of(&self, op: StoreOp) -> Option<&Latency> {
        if self.latency_ms.is_empty() {
            return None;
        }
        let exact = Site::Store(op, None).to_string();
        let family = exact.split(':').next().unwrap_or_default();
        self.latency_ms.get(&exact).or_else(|| self.latency_ms.get(family))
    }

    fn validate_latencies(&self) -> Result<(), String> {
        for (name, latency) in &self.latency_ms {
            let known =
                STORE_OP_FAMILIES.contains(&name.as_str()) || matches!(name.parse::<Site>(), Ok(Site::Store(_, None)));
            if !known {
                return Err(format!(
                    "store.latency_ms: `{name}` is not a store operation (`commit:KIND`, `get:KIND`, `scan:KIND`) \
                     or family (`commit`, `get`, `scan`)"
                ));
            }
            latency.validate(DURATION_MS_MAX).map_err(|e| format!("store.latency_ms.\"{name}\": {e}"))?;
        }
        Ok(())
    }
}

/// The messenger (chat API) model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatSettings {
    /// Latency of one chat call, in milliseconds (uniform range), unless `latency` is given.
    pub latency_ms: [u64; 2],
    /// Latency of one chat call as a distribution (overrides `latency_ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Probability that a call answers 429 with a retry-after.
    pub retry_after_probability: f64,
    /// The retry-after a 429 asks for, in milliseconds (uniform range).
    pub retry_after_ms: [u64; 2],
    /// Probability that a call fails outright.
    pub failure_probability: f64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            latency_ms: [100, 800],
            latency: None,
            retry_after_probability: 0.05,
            retry_after_ms: [200, 2_000],
            failure_probability: 0.01,
        }
    }
}

/// How the players and dealers behave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    /// Pause between a player's polls of its table, in milliseconds (uniform range).
    pub think_ms: [u64; 2],
    /// How long a client waits for a reply before it retries with the same request ID, ms.
    pub request_timeout_ms: u64,
    /// Retries after the first attempt of one request.
    pub retries_max: u32,
    /// Probability that a player who is not to act sends an action anyway.
    pub out_of_turn_probability: f64,
    /// Probability that an action names the previous hand.
    pub stale_probability: f64,
    /// Probability, per dealer poll, of a `/reset` by a seated player.
    pub reset_probability: f64,
    /// Probability, per dealer poll, of an admin's emergency reset.
    pub emergency_reset_probability: f64,
    /// `/start` requests each dealer sends at once when its table is idle (a start storm
    /// when above 1).
    pub start_copies: u32,
    /// Jackpot operations (contributions and wins, over the network) per simulated second,
    /// across all tables, during the safety phase. 0 = only the rake-fed contributions.
    pub jackpot_ops_per_second: u32,
    /// Share of those operations that are wins (the rest are contributions).
    pub jackpot_win_share: f64,
    /// Every this many ms while a hand runs at a table, each of its seated players sends
    /// `/stats` at the same instant (a burst); the time from the first request sent to the
    /// last answer is recorded as `chipsim_burst_duration_seconds`. 0: no bursts.
    pub stats_burst_interval_ms: u64,
    /// How a player to act chooses: fold (when there is something to call), raise, all-in;
    /// otherwise check or call.
    pub fold_probability: f64,
    pub raise_probability: f64,
    pub all_in_probability: f64,
    /// Probability, per look at the table when not to act, that a seated player asks for its
    /// wallet balance (checked by `reads`). 0: no balance reads.
    pub balance_read_probability: f64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            think_ms: [200, 1_200],
            request_timeout_ms: 3_000,
            retries_max: 3,
            out_of_turn_probability: 0.02,
            stale_probability: 0.02,
            reset_probability: 0.0,
            emergency_reset_probability: 0.0,
            start_copies: 1,
            jackpot_ops_per_second: 0,
            jackpot_win_share: 0.2,
            stats_burst_interval_ms: 0,
            fold_probability: 0.15,
            raise_probability: 0.15,
            all_in_probability: 0.03,
            balance_read_probability: 0.0,
        }
    }
}

/// The fault settings: for each kind, a probability (per opportunity) or a count. With
/// `swarm` on, each seed turns each kind on or off and scales how hard it hits (see
/// `faults::plan`), so rare combinations get explored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSettings {
    pub swarm: bool,
    /// Probability that a player's action is sent as 2..=`duplicate_copies_max` concurrent copies.
    pub duplicate_probability: f64,
    pub duplicate_copies_max: u32,
    /// Probability that a duplicate copy carries a fresh request ID instead of the same one.
    pub duplicate_fresh_id_probability: f64,
    /// Probability that an action is sent once more, with the same ID, after `delayed_duplicate_ms`.
    pub delayed_duplicate_probability: f64,
    /// Delay of a delayed duplicate, in ms (past the 5 s in-memory dedup window of seed_2pc).
    pub delayed_duplicate_ms: u64,
    /// Probability that another writer bumps a table just before the engine saves it.
    pub stale_writer_probability: f64,
    /// Probability that a refund transaction (rollback, expire, DLQ refund, compensation) fails.
    pub refund_failure_probability: f64,
    /// Probability that a store call fails (nothing applied).
    pub store_failure_probability: f64,
    /// Probability that a store call times out before it reaches the store (nothing applied).
    pub store_timeout_probability: f64,
    /// Probability that a store call is applied and its reply lost (the engine sees a timeout).
    pub lost_reply_probability: f64,
    /// Probability that a store call is slow, and by how much, in ms (uniform range).
    pub slow_store_probability: f64,
    pub slow_store_ms: [u64; 2],
    /// Probability that a chat call is slow, and by how much, in ms (uniform range).
    pub slow_chat_probability: f64,
    pub slow_chat_ms: [u64; 2],
    /// Engine↔store partitions during the safety phase, and their length in ms.
    pub partitions: u32,
    pub partition_ms: [u64; 2],
    /// Probability that a partition starts right after a reservation (mid-2PC).
    pub partition_after_reserve_probability: f64,
    /// Probability that a client↔engine message is lost (each way).
    pub message_loss_probability: f64,
    /// Engine crashes at random instants of the safety phase.
    pub crashes: u32,
    /// Probability that the engine crashes right after a store transaction with one of
    /// `crash_after_labels` applied (between commit and save, between reserve and commit…).
    pub crash_after_txn_probability: f64,
    /// The kinds of transaction a crash point follows (`wallet.commit`, `game.act`, …); an
    /// unknown kind is refused when the scenario loads.
    pub crash_after_labels: Vec<TxnKind>,
    /// Most crashes of either kind in one run.
    pub crashes_max: u32,
    /// Downtime before a crashed engine restarts, in ms (uniform range).
    pub restart_ms: [u64; 2],
    /// Probability that a commit lost on its way to the store — timed out, refused by a
    /// partition, or in flight when the engine crashed — lands later anyway (a zombie write
    /// from a stale view), and how much later than the loss, in ms.
    pub zombie_write_probability: f64,
    pub zombie_delay_ms: [u64; 2],
    /// Probability, per turn answered, that the player sends its request ID again for another
    /// action or amount; and per jackpot operation answered, that the load sends its ID again
    /// for another rake or win amount.
    pub reused_id_probability: f64,
    /// Probability, per second of the safety phase, that a caller inside the engine process
    /// takes two locks against the hierarchy (the lock manager must refuse it when the
    /// hierarchy is enforced, and record it either way).
    pub out_of_order_lock_probability: f64,
    /// Fault points inside the engine (`engine::buggify`; FoundationDB's BUGGIFY): the share
    /// of the points each seed enables (FoundationDB enables 25 %) …
    pub fault_points_enabled: f64,
    /// … the highest probability that an enabled point fires when passed (each enabled point
    /// draws its own, between a quarter of this and this; 0 = no fault points) …
    pub fault_point_probability: f64,
    /// … a firing's long delay, in ms (uniform range; yields and short delays of 1–50 ms are
    /// drawn too) …
    pub fault_point_delay_ms: [u64; 2],
    /// … and the share of firings that inject a store failure where the point allows one.
    pub fault_point_fail_probability: f64,
    /// Schedule perturbation inside the engine host: the probability that a store call first
    /// yields to the other ready tasks (1 to 3 times), reordering concurrent requests.
    pub schedule_yield_probability: f64,
    /// Players↔engine partitions between turmoil hosts in the safety phase, their length in ms,
    /// and the probability that one is one-way (one direction only).
    pub net_partitions: u32,
    pub net_partition_ms: [u64; 2],
    pub net_partition_oneway_probability: f64,
    /// Jumps of the engine host's clock in the safety phase, their size in ms, and the
    /// probability that one goes back.
    pub clock_jumps: u32,
    pub clock_jump_ms: [u64; 2],
    pub clock_jump_back_probability: f64,
    /// The engine clock's largest drift as a fraction of real (simulated) time, drawn per
    /// seed in [-max, max] (0.01 = 1 % fast or slow).
    pub clock_drift_max: f64,
    /// An explicit schedule (`[[faults.schedule]]`, see `faults::schedule`): when given, the
    /// run injects exactly these faults and rolls no fault die, so every dial above must be 0.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduledFault>,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            swarm: true,
            duplicate_probability: 0.0,
            duplicate_copies_max: 5,
            duplicate_fresh_id_probability: 0.3,
            delayed_duplicate_probability: 0.0,
            delayed_duplicate_ms: 6_000,
            stale_writer_probability: 0.0,
            refund_failure_probability: 0.0,
            store_failure_probability: 0.0,
            store_timeout_probability: 0.0,
            lost_reply_probability: 0.0,
            slow_store_probability: 0.0,
            slow_store_ms: [500, 3_000],
            slow_chat_probability: 0.0,
            slow_chat_ms: [2_000, 20_000],
            partitions: 0,
            partition_ms: [1_000, 5_000],
            partition_after_reserve_probability: 0.0,
            message_loss_probability: 0.0,
            crashes: 0,
            crash_after_txn_probability: 0.0,
            crash_after_labels: vec![TxnKind::WalletCommit, TxnKind::WalletReserve, TxnKind::GameAct],
            crashes_max: 3,
            restart_ms: [500, 5_000],
            zombie_write_probability: 0.0,
            zombie_delay_ms: [200, 10_000],
            reused_id_probability: 0.0,
            out_of_order_lock_probability: 0.0,
            fault_points_enabled: 0.25,
            fault_point_probability: 0.0,
            fault_point_delay_ms: [100, 3_000],
            fault_point_fail_probability: 0.1,
            schedule_yield_probability: 0.0,
            net_partitions: 0,
            net_partition_ms: [1_000, 5_000],
            net_partition_oneway_probability: 0.5,
            clock_jumps: 0,
            clock_jump_ms: [1_000, 30_000],
            clock_jump_back_probability: 0.5,
            clock_drift_max: 0.0,
            schedule: Vec::new(),
        }
    }
}

impl FaultSettings {
    /// The settings behind one dial of the fault plan — the count of scheduled faults, if the
    /// dial has one, and the probability per opportunity. The one list of which fields make up
    /// each dial; swarm mode scales a dial through it.
    fn dial_mut(&mut self, dial: FaultKind) -> (Option<&mut u32>, Option<&mut f64>) {
        match dial {
            FaultKind::Duplicate => (None, Some(&mut self.duplicate_probability)),
            FaultKind::DelayedDuplicate => (None, Some(&mut self.delayed_duplicate_probability)),
            FaultKind::StaleWriter => (None, Some(&mut self.stale_writer_probability)),
            FaultKind::RefundFailure => (None, Some(&mut self.refund_failure_probability)),
            FaultKind::StoreFailure => (None, Some(&mut self.store_failure_probability)),
            FaultKind::StoreTimeout => (None, Some(&mut self.store_timeout_probability)),
            FaultKind::LostReply => (None, Some(&mut self.lost_reply_probability)),
            FaultKind::SlowStore => (None, Some(&mut self.slow_store_probability)),
            FaultKind::SlowChat => (None, Some(&mut self.slow_chat_probability)),
            FaultKind::Partition => (Some(&mut self.partitions), Some(&mut self.partition_after_reserve_probability)),
            FaultKind::MessageLoss => (None, Some(&mut self.message_loss_probability)),
            FaultKind::Crash => (Some(&mut self.crashes), Some(&mut self.crash_after_txn_probability)),
            FaultKind::ZombieWrite => (None, Some(&mut self.zombie_write_probability)),
            FaultKind::ReusedId => (None, Some(&mut self.reused_id_probability)),
            FaultKind::OutOfOrderLock => (None, Some(&mut self.out_of_order_lock_probability)),
            FaultKind::Points => (None, Some(&mut self.fault_point_probability)),
            FaultKind::NetPartition => (Some(&mut self.net_partitions), None),
            FaultKind::ClockJump => (Some(&mut self.clock_jumps), None),
            FaultKind::ClockDrift => (None, Some(&mut self.clock_drift_max)),
            other => panic!("{other} is not a dial of the fault plan"),
        }
    }

    /// How much of `dial` the settings ask for: its count plus its probability (0 = unused).
    pub fn dial_amount(&self, dial: FaultKind) -> f64 {
        let mut probe = self.clone();
        let (count, probability) = probe.dial_mut(dial);
        count.map_or(0.0, |count| f64::from(*count)) + probability.map_or(0.0, |p| *p)
    }

    /// Scales `dial` by `factor` (in [0, 1]): its probability is multiplied, its count kept,
    /// or zeroed when the factor is 0 (the dial is off).
    pub fn scale_dial(&mut self, dial: FaultKind, factor: f64) {
        let (count, probability) = self.dial_mut(dial);
        if let Some(probability) = probability {
            *probability *= factor;
        }
        if let Some(count) = count
            && factor == 0.0
        {
            *count = 0;
        }
    }
}

/// Why a scenario could not be loaded. Displayed on one line: `file:line:column: message`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("unknown scenario `{name}`; `chipsim list` shows the shipped ones")]
    Unknown { name: String },
}

impl Scenario {
    /// Parses a scenario from TOML text; `path` names it in errors and gives its default name.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            let (line, column) = line_column(text, offset);
            let message = error.message().replace('\n', " ").trim().to_string();
            let message = match field_at(text, offset) {
                Some(field) if !message.contains(&field) => format!("{field}: {message}"),
                _ => message,
            };
            ScenarioError::Parse { path: path.to_path_buf(), line, column, message }
        })?;
        if scenario.name.is_empty() {
            scenario.name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        }
        scenario.validate().map_err(|message| ScenarioError::Invalid { path: path.to_path_buf(), message })?;
        Ok(scenario)
    }

    /// Reads and parses one file; the command line names it by its path.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })?;
        let mut scenario = Scenario::parse(path, &text)?;
        scenario.origin = path.display().to_string();
        Ok(scenario)
    }

    /// Loads a shipped scenario file; the command line names it by its name.
    fn load_shipped(path: &Path) -> Result<Scenario, ScenarioError> {
        let mut scenario = Scenario::load(path)?;
        scenario.origin = scenario.name.clone();
        Ok(scenario)
    }

    /// The scenario as TOML, with only the fields that differ from the defaults (so a shrunk
    /// regression reads as what makes it special). Parses back to an equal scenario.
    pub fn to_toml(&self) -> String {
        let defaults = Scenario::parse(Path::new("defaults.toml"), "").expect("the defaults are a scenario");
        let mut table = toml::Table::try_from(self).expect("scenarios serialize to TOML");
        let default_table = toml::Table::try_from(&defaults).expect("scenarios serialize to TOML");
        remove_defaults(&mut table, &default_table);
        table.insert("name".into(), toml::Value::String(self.name.clone()));
        toml::to_string(&table).expect("a TOML table serializes")
    }

    /// How the command line names this scenario (for replay commands).
    pub fn origin(&self) -> &str {
        if self.origin.is_empty() { &self.name } else { &self.origin }
    }

    /// The default seeds.
    pub fn default_seeds(&self) -> Vec<u64> {
        self.seeds.seeds().expect("validated on load")
    }

    /// Checks what serde cannot: sizes, ranges, probabilities, durations, the supply. Every
    /// bound is a named constant below; every sum the run will compute is checked here, so a
    /// scenario that loads never overflows.
    fn validate(&self) -> Result<(), String> {
        let seeds = self.seeds.count().map_err(|e| format!("seeds: {e}"))?;
        if seeds > SEEDS_PER_SCENARIO_MAX {
            return Err(format!("seeds: {seeds} seeds, more than {SEEDS_PER_SCENARIO_MAX}"));
        }
        self.validate_sizes()?;
        self.validate_ranges()?;
        self.validate_probabilities()?;
        self.validate_durations()?;
        self.validate_supply()?;
        self.validate_schedule()?;
        self.budgets.validate()?;
        self.store.validate_latencies()?;
        if let Some(latency) = &self.chat.latency {
            latency.validate(DURATION_MS_MAX).map_err(|e| format!("chat.latency: {e}"))?;
        }
        self.validate_engines()?;
        if let Some(kind) = self.faults.crash_after_labels.iter().find(|kind| !kind.is_engine_commit()) {
            return Err(format!(
                "faults.crash_after_labels: `{kind}` is never committed by the engine on its own, so no crash \
                 point can follow it"
            ));
        }
        Ok(())
    }

    /// Two engine hosts do not crash, and a rollout needs two.
    fn validate_engines(&self) -> Result<(), String> {
        let f = &self.faults;
        let crashes = f.crashes > 0 || f.crash_after_txn_probability > 0.0;
        let scheduled_crash = f.schedule.iter().any(|fault| fault.kind == FaultKind::Crash);
        if self.world.engine_hosts > 1 && (crashes || scheduled_crash) {
            return Err("world.engine_hosts: two engine hosts do not crash; set faults.crashes and \
                        faults.crash_after_txn_probability to 0"
                .into());
        }
        if let Some(rollout) = &self.rollout {
            if self.world.engine_hosts != 2 {
                return Err("rollout: a rolling upgrade needs world.engine_hosts = 2".into());
            }
            if rollout.shift_ms > DURATION_MS_MAX {
                return Err(format!("rollout.shift_ms: beyond {DURATION_MS_MAX} ms"));
            }
        }
        Ok(())
    }

    /// Each scheduled fault names what its kind needs, and a schedule comes alone: no dice.
    fn validate_schedule(&self) -> Result<(), String> {
        let faults = &self.faults;
        for (index, fault) in faults.schedule.iter().enumerate() {
            fault.validate().map_err(|e| format!("faults.schedule[{index}] ({}): {e}", fault.kind))?;
            if fault.ms.is_some_and(|ms| ms > DURATION_MS_MAX) || fault.at_ms.is_some_and(|ms| ms > RUN_DURATION_MS_MAX)
            {
                return Err(format!(
                    "faults.schedule[{index}] ({}): a duration beyond {DURATION_MS_MAX} ms",
                    fault.kind
                ));
            }
        }
        if let Some(dial) =
            FaultKind::DIALS.iter().find(|dial| !faults.schedule.is_empty() && faults.dial_amount(**dial) > 0.0)
        {
            return Err(format!(
                "faults.schedule: a scenario with a schedule takes its faults from it alone; set the `{dial}` \
                 probability and count of [faults] to 0"
            ));
        }
        Ok(())
    }

    fn validate_sizes(&self) -> Result<(), String> {
        let t = &self.tables;
        let seats_max = SEATS_MAX as u32;
        let counts = [
            ("tables.tables", u64::from(t.tables), 1, u64::from(TABLES_MAX)),
            ("tables.players_per_table", u64::from(t.players_per_table), SEATS_MIN as u64, u64::from(seats_max)),
            ("tables.shared_players", u64::from(t.shared_players), 0, u64::from(t.players_per_table)),
            ("world.tick_ms", self.world.tick_ms, TICK_MS_MIN, TICK_MS_MAX),
            ("world.client_hosts", u64::from(self.world.client_hosts), 1, u64::from(CLIENT_HOSTS_MAX)),
            ("world.engine_hosts", u64::from(self.world.engine_hosts), 1, u64::from(ENGINE_HOSTS_MAX)),
            ("faults.duplicate_copies_max", u64::from(self.faults.duplicate_copies_max), 2, DUPLICATE_COPIES_MAX),
            ("clients.start_copies", u64::from(self.clients.start_copies), 1, START_COPIES_MAX),
            (
                "clients.jackpot_ops_per_second",
                u64::from(self.clients.jackpot_ops_per_second),
                0,
                JACKPOT_OPS_PER_SECOND_MAX,
            ),
            ("engine.sweep_interval_ms", self.engine.sweep_interval_ms, 1, DURATION_MS_MAX),
            ("engine.dedup_retention_ms", self.engine.dedup_retention_ms, 1, DURATION_MS_MAX),
            ("store.call_timeout_ms", self.store.call_timeout_ms, 1, DURATION_MS_MAX),
            ("clients.request_timeout_ms", self.clients.request_timeout_ms, 1, DURATION_MS_MAX),
        ];
        for (field, value, low, high) in counts {
            if !(low..=high).contains(&value) {
                return Err(format!("{field}: {value} is outside {low}..={high}"));
            }
        }
        t.table_config().validate().map_err(|e| format!("tables: {e}"))?;
        if t.stack_cap < t.big_blind {
            return Err("tables.stack_cap: below the big blind".into());
        }
        Ok(())
    }

    fn validate_ranges(&self) -> Result<(), String> {
        for (field, [low, high]) in self.ranges() {
            if low > high {
                return Err(format!("{field}: the range [{low}, {high}] is empty"));
            }
        }
        Ok(())
    }

    /// Every `[low, high]` range of the scenario, by field.
    fn ranges(&self) -> [(&'static str, [u64; 2]); 13] {
        [
            ("world.network_latency_ms", self.world.network_latency_ms),
            ("store.latency_us", self.store.latency_us),
            ("chat.latency_ms", self.chat.latency_ms),
            ("chat.retry_after_ms", self.chat.retry_after_ms),
            ("clients.think_ms", self.clients.think_ms),
            ("faults.slow_store_ms", self.faults.slow_store_ms),
            ("faults.slow_chat_ms", self.faults.slow_chat_ms),
            ("faults.partition_ms", self.faults.partition_ms),
            ("faults.restart_ms", self.faults.restart_ms),
            ("faults.zombie_delay_ms", self.faults.zombie_delay_ms),
            ("faults.fault_point_delay_ms", self.faults.fault_point_delay_ms),
            ("faults.net_partition_ms", self.faults.net_partition_ms),
            ("faults.clock_jump_ms", self.faults.clock_jump_ms),
        ]
    }

    fn validate_probabilities(&self) -> Result<(), String> {
        let (c, f) = (&self.clients, &self.faults);
        let probabilities = [
            ("chat.retry_after_probability", self.chat.retry_after_probability),
            ("chat.failure_probability", self.chat.failure_probability),
            ("clients.out_of_turn_probability", c.out_of_turn_probability),
            ("clients.stale_probability", c.stale_probability),
            ("clients.reset_probability", c.reset_probability),
            ("clients.emergency_reset_probability", c.emergency_reset_probability),
            ("clients.jackpot_win_share", c.jackpot_win_share),
            ("clients.fold_probability", c.fold_probability),
            ("clients.raise_probability", c.raise_probability),
            ("clients.all_in_probability", c.all_in_probability),
            ("clients.balance_read_probability", c.balance_read_probability),
            ("faults.duplicate_probability", f.duplicate_probability),
            ("faults.duplicate_fresh_id_probability", f.duplicate_fresh_id_probability),
            ("faults.delayed_duplicate_probability", f.delayed_duplicate_probability),
            ("faults.stale_writer_probability", f.stale_writer_probability),
            ("faults.refund_failure_probability", f.refund_failure_probability),
            ("faults.store_failure_probability", f.store_failure_probability),
            ("faults.store_timeout_probability", f.store_timeout_probability),
            ("faults.lost_reply_probability", f.lost_reply_probability),
            ("faults.slow_store_probability", f.slow_store_probability),
            ("faults.slow_chat_probability", f.slow_chat_probability),
            ("faults.partition_after_reserve_probability", f.partition_after_reserve_probability),
            ("faults.message_loss_probability", f.message_loss_probability),
            ("faults.crash_after_txn_probability", f.crash_after_txn_probability),
            ("faults.zombie_write_probability", f.zombie_write_probability),
            ("faults.reused_id_probability", f.reused_id_probability),
            ("faults.out_of_order_lock_probability", f.out_of_order_lock_probability),
            ("faults.fault_points_enabled", f.fault_points_enabled),
            ("faults.fault_point_probability", f.fault_point_probability),
            ("faults.fault_point_fail_probability", f.fault_point_fail_probability),
            ("faults.schedule_yield_probability", f.schedule_yield_probability),
            ("faults.net_partition_oneway_probability", f.net_partition_oneway_probability),
            ("faults.clock_jump_back_probability", f.clock_jump_back_probability),
        ];
        for (field, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{field}: {p} is not a probability (0 to 1)"));
            }
        }
        if !(0.0..=CLOCK_DRIFT_MAX).contains(&f.clock_drift_max) {
            return Err(format!(
                "faults.clock_drift_max: {} is not a drift from 0 to {CLOCK_DRIFT_MAX}",
                f.clock_drift_max
            ));
        }
        Ok(())
    }

    /// Every duration is at most `DURATION_MS_MAX`, and the run as a whole at most
    /// `RUN_DURATION_MS_MAX`, so no deadline or timer the run computes can overflow.
    fn validate_durations(&self) -> Result<(), String> {
        let (w, e) = (&self.world, &self.engine);
        let mut durations_ms = vec![
            ("world.safety_ms", w.safety_ms),
            ("world.heal_deadline_ms", w.heal_deadline_ms),
            ("engine.reservation_ttl_ms", e.reservation_ttl_ms),
            ("faults.delayed_duplicate_ms", self.faults.delayed_duplicate_ms),
        ];
        durations_ms
            .extend(LockCategory::ALL.map(|category| (lock_timeout_field(category), e.locks.timeout_ms(category))));
        durations_ms.push(("engine.locks.long_hold_warn_ms", e.locks.long_hold_warn_ms));
        for (field, [_, high]) in self.ranges() {
            let high_ms = if field.ends_with("_us") { high / 1_000 } else { high };
            durations_ms.push((field, high_ms));
        }
        for (field, value) in durations_ms {
            if value > DURATION_MS_MAX {
                return Err(format!("{field}: {value} is more than {DURATION_MS_MAX} ms"));
            }
        }
        let run_ms = w.safety_ms + w.heal_deadline_ms;
        if run_ms > RUN_DURATION_MS_MAX {
            return Err(format!(
                "world.safety_ms + world.heal_deadline_ms: {run_ms} ms, more than {RUN_DURATION_MS_MAX} ms"
            ));
        }
        Ok(())
    }

    /// The supply — every opening balance plus the house's chips — fits the chip arithmetic.
    fn validate_supply(&self) -> Result<(), String> {
        let t = &self.tables;
        let users =
            u64::from(t.tables) * u64::from(t.players_per_table - t.shared_players) + u64::from(t.shared_players);
        let supply = users.checked_mul(t.balance).and_then(|wallets| wallets.checked_add(t.house_chips));
        match supply {
            Some(supply) if supply <= CHIPS_SUPPLY_MAX => Ok(()),
            _ => Err(format!(
                "tables.balance × {users} players + tables.house_chips: more than {CHIPS_SUPPLY_MAX} chips in all"
            )),
        }
    }
}

/// The scenario field of a lock category's acquire timeout.
fn lock_timeout_field(category: LockCategory) -> &'static str {
    match category {
        LockCategory::Stage => "engine.locks.stage_timeout_ms",
        LockCategory::EngineStage => "engine.locks.engine_stage_timeout_ms",
        LockCategory::Chat => "engine.locks.chat_timeout_ms",
        LockCategory::Table => "engine.locks.table_timeout_ms",
        LockCategory::Deck => "engine.locks.deck_timeout_ms",
        LockCategory::BettingRound => "engine.locks.betting_round_timeout_ms",
        LockCategory::Pot => "engine.locks.pot_timeout_ms",
        LockCategory::Player => "engine.locks.player_timeout_ms",
        LockCategory::Jackpot => "engine.locks.jackpot_timeout_ms",
    }
}

/// Most seeds one scenario lists (and one `run` takes per scenario: each report stays in
/// memory for the report file).
pub const SEEDS_PER_SCENARIO_MAX: u64 = 100_000;
/// turmoil's tick, in ms: at least 1, at most 1,000.
pub const TICK_MS_MIN: u64 = 1;
pub const TICK_MS_MAX: u64 = 1_000;
/// Most client hosts: each host costs time every tick.
pub const CLIENT_HOSTS_MAX: u32 = 2;
/// Most engine hosts a scenario may run.
pub const ENGINE_HOSTS_MAX: u32 = 2;
/// Most concurrent copies of one duplicated action.
pub const DUPLICATE_COPIES_MAX: u64 = 16;
/// Most `/start` requests a dealer sends at once.
pub const START_COPIES_MAX: u64 = 64;
/// Most jackpot operations per simulated second.
pub const JACKPOT_OPS_PER_SECOND_MAX: u64 = 100_000;
/// Longest single duration a scenario may give (a timeout, a TTL, a latency, a phase), in
/// ms: one week.
pub const DURATION_MS_MAX: u64 = 7 * 24 * 3_600 * 1_000;
/// Longest run (safety phase plus heal deadline), in simulated ms: one week.
pub const RUN_DURATION_MS_MAX: u64 = DURATION_MS_MAX;
/// Most chips in one scenario (Σ opening balances + the house's chips): far below `u64::MAX`,
/// so that sums of stacks, pots and balances never overflow, and a chip count that went
/// below zero (wrapping near `u64::MAX`) always shows as more than the supply.
pub const CHIPS_SUPPLY_MAX: Chips = 1 << 50;
/// Most tables in one scenario.
pub const TABLES_MAX: u32 = 64;

/// Removes from `table` every value equal to the one in `defaults`, and every sub-table left
/// empty by that.
fn remove_defaults(table: &mut toml::Table, defaults: &toml::Table) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let Some(default) = defaults.get(&key) else { continue };
        let value = table.get_mut(&key).expect("listed");
        if value == default {
            table.remove(&key);
        } else if let (toml::Value::Table(sub), toml::Value::Table(default_sub)) = (value, default) {
            remove_defaults(sub, default_sub);
            if sub.is_empty() {
                table.remove(&key);
            }
        }
    }
}

/// The dotted name of the field whose value holds byte `offset` of a TOML text (the last key
/// assigned at or before it, under the last table header above it), for error messages.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let mut key = None;
    let mut table = None;
    for line in before.lines().rev() {
        let line = line.trim();
        if key.is_none()
            && let Some((name, _)) = line.split_once('=')
            && !name.trim().is_empty()
            && !name.contains(['"', '[', '#'])
        {
            key = Some(name.trim().to_string());
        }
        if line.starts_with('[') {
            table = Some(line.trim_matches(['[', ']']).trim().to_string());
            break;
        }
    }
    let key = key?;
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the regression scenarios (shrunk from failures, kept so the bug stays fixed) live,
/// inside the scenario directory.
pub const REGRESSIONS_DIR: &str = "regressions";

/// The `.toml` files directly in `dir`, in name order.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Read { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// The shipped scenarios of `dir` in name order, then its regressions in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, ScenarioError> {
    let mut paths = toml_files(dir)?;
    let regressions = dir.join(REGRESSIONS_DIR);
    if regressions.is_dir() {
        paths.extend(toml_files(&regressions)?);
    }
    let scenarios: Vec<(PathBuf, Scenario)> =
        paths.into_iter().map(|p| Scenario::load_shipped(&p).map(|s| (p, s))).collect::<Result<_, _>>()?;
    for (i, (path, scenario)) in scenarios.iter().enumerate() {
        if scenarios[..i].iter().any(|(_, other)| other.name == scenario.name) {
            return Err(ScenarioError::Invalid {
                path: path.clone(),
                message: format!("a second scenario named `{}`", scenario.name),
            });
        }
    }
    Ok(scenarios)
}

/// Finds a shipped scenario (or regression) by name in `dir`, or loads it as a path if it
/// names a file.
pub fn resolve(dir: &Path, name_or_path: &str) -> Result<(PathBuf, Scenario), ScenarioError> {
    let as_path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || as_path.is_file() {
        return Scenario::load(as_path).map(|s| (as_path.to_path_buf(), s));
    }
    let file = format!("{name_or_path}.toml");
    let path = [dir.join(&file), dir.join(REGRESSIONS_DIR).join(&file)].into_iter().find(|p| p.is_file());
    let Some(path) = path else { return Err(ScenarioError::Unknown { name: name_or_path.to_string() }) };
    Scenario::load_shipped(&path).map(|s| (path, s))
}

impl fmt::Display for SeedList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedList::List(seeds) => {
                let parts: Vec<String> = seeds.iter().map(u64::to_string).collect();
                write!(f, "{}", parts.join(","))
            }
            SeedList::Range(text) => write!(f, "{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_a_scenario_of_defaults() {
        let scenario = Scenario::parse(Path::new("x/empty.toml"), "").unwrap();
        assert_eq!(scenario.name, "empty");
        assert_eq!(scenario.default_seeds(), vec![1, 2, 3]);
    }

    #[test]
    fn an_unknown_field_names_file_line_and_field() {
        let text = "name = \"x\"\n[faults]\nduplicate_probabilty = 0.5\n";
        let error = Scenario::parse(Path::new("scenarios/bad.toml"), text).unwrap_err().to_string();
        assert!(error.starts_with("scenarios/bad.toml:3:1: "), "{error}");
        assert!(error.contains("duplicate_probabilty"), "{error}");
        assert!(!error.contains('\n'));
    }

    #[test]
    fn a_wrong_type_names_its_line() {
        let text = "[tables]\ntables = \"two\"\n";
        let error = Scenario::parse(Path::new("s.toml"), text).unwrap_err().to_string();
        assert!(error.starts_with("s.toml:2:"), "{error}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let error =
            Scenario::parse(Path::new("s.toml"), "[faults]\nmessage_loss_probability = 2.0\n").unwrap_err().to_string();
        assert!(error.contains("faults.message_loss_probability"), "{error}");
    }

    #[test]
    fn a_misspelt_crash_point_names_file_field_and_value() {
        let text = "[faults]\ncrashes = 1\ncrash_after_labels = [\"wallet.commit\", \"wallet.reserv\"]\n";
        let error = Scenario::parse(Path::new("s.toml"), text).unwrap_err().to_string();
        assert!(error.starts_with("s.toml:3:"), "{error}");
        assert!(error.contains("faults.crash_after_labels"), "{error}");
        assert!(error.contains("wallet.reserv"), "{error}");
        let text = "[faults]\ncrash_after_labels = [\"setup\"]\n";
        let error = Scenario::parse(Path::new("s.toml"), text).unwrap_err().to_string();
        assert!(error.contains("faults.crash_after_labels") && error.contains("setup"), "{error}");
    }

    #[test]
    fn seed_ranges_parse() {
        assert_eq!(parse_seed_range("1..4").unwrap(), 1..=3);
        assert_eq!(parse_seed_range("5..=5").unwrap(), 5..=5);
        assert!(parse_seed_range("4..4").is_err());
        assert!(parse_seed_range("x").is_err());
        let list = SeedList::List(vec![7, 9]);
        assert_eq!(list.seeds().unwrap(), vec![7, 9]);
    }
}
