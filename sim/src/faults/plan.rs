//! The fault plan of one run: explicit data drawn once from the scenario's fault settings and
//! the seed, then only read. Probabilities per opportunity (each store call, each action,
//! each message), and the scheduled faults (crashes, partitions) as instants of simulated time.
//!
//! **Swarm testing** (TigerBeetle's VOPR): with `swarm` on, the seed also decides which fault
//! kinds are on at all and scales each one's intensity by a factor in
//! [`SWARM_INTENSITY_MIN`, 1], so that across seeds rare combinations — a partition with no
//! message loss, crashes with refund failures — get their turn. At least one kind stays on.
//!
//! A plan is serializable so that a report can show it and a run can be given one to replay as
//! it is (`world::RunSpec::plan`; a plan, not the seed, is what a shrinker reduces). The plan
//! never draws at run time.

use std::collections::BTreeMap;

use engine::buggify::FaultPoint;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::faults::kind::{DIALS_COUNT, FaultKind};
use crate::faults::schedule::ScheduledFault;
use crate::scenario::{FaultSettings, Scenario};
use crate::seeds;

/// Smallest intensity factor swarm mode gives a kind that is on.
pub const SWARM_INTENSITY_MIN: f64 = 0.25;

/// A window of simulated time, in milliseconds since the start of the run: `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Window {
    pub fn contains(&self, at_ms: u64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }

    /// How many ms of `other` the union of `windows` covers (`windows` is sorted in place).
    pub fn union_overlap_ms(windows: &mut [Window], other: Window) -> u64 {
        windows.sort_by_key(|w| w.start_ms);
        let mut covered_ms = 0;
        let mut counted_to_ms = other.start_ms;
        for window in windows.iter() {
            let start_ms = window.start_ms.max(counted_to_ms);
            let end_ms = window.end_ms.min(other.end_ms);
            if start_ms < end_ms {
                covered_ms += end_ms - start_ms;
                counted_to_ms = end_ms;
            }
        }
        covered_ms
    }
}

/// A scheduled engine crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CrashAt {
    pub at_ms: u64,
    pub restart_after_ms: u64,
}

/// How a players↔engine partition cuts the network between the client hosts and the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetMode {
    /// Nothing crosses either way.
    Both,
    /// Requests are lost; replies still arrive (one way).
    ToEngine,
    /// Replies are lost; requests still arrive (one way).
    FromEngine,
    /// Everything is held and delivered, late, when the partition ends (turmoil's hold).
    Hold,
}

/// A scheduled players↔engine partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetPartition {
    pub window: Window,
    pub mode: NetMode,
}

/// A scheduled jump of the engine host's clock, by `ms`, forward or `back`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClockJump {
    pub at_ms: u64,
    pub ms: u64,
    pub back: bool,
}

impl ClockJump {
    /// The jump as a signed offset, in ms.
    pub fn offset_ms(&self) -> i64 {
        if self.back { -(self.ms as i64) } else { self.ms as i64 }
    }
}

/// Every fault of one run: the scenario's fault settings with each dial scaled as swarm mode
/// drew it (what the injectors read), and the scheduled faults drawn from them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The dials swarm mode turned off (empty without swarm).
    pub kinds_off: Vec<FaultKind>,
    /// The settings in force: every probability scaled by its dial's intensity, every count
    /// of a dial that is off set to 0.
    pub settings: FaultSettings,
    /// Engine↔store partitions, sorted by start.
    pub partitions: Vec<Window>,
    /// Scheduled engine crashes, sorted by instant.
    pub crashes: Vec<CrashAt>,
    /// The fault points this seed enabled, each with its probability of firing when passed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub points: BTreeMap<FaultPoint, f64>,
    /// Players↔engine partitions, sorted by start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net_partitions: Vec<NetPartition>,
    /// Jumps of the engine's clock, sorted by instant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clock_jumps: Vec<ClockJump>,
    /// The engine clock's drift, in parts per million of simulated time (+ fast, − slow).
    #[serde(default)]
    pub clock_drift_ppm: i64,
    /// When set, every fault comes from this explicit schedule and no fault die is rolled
    /// (a scenario's `[[faults.schedule]]`, or a run's recorded schedule given back to it);
    /// `partitions` and `crashes` are then its timed entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<ScheduledFault>>,
}

/// Draws uniformly from an inclusive `[low, high]` range.
pub fn draw_range(rng: &mut impl Rng, [low, high]: [u64; 2]) -> u64 {
    if low >= high { low } else { rng.random_range(low..=high) }
}

impl FaultPlan {
    /// The most the engine's wall clock can be off true time in a run of `run_ms`, in ms: the
    /// drift over the whole run plus every jump, each as if the others went the same way.
    pub fn clock_offset_ms_max(&self, run_ms: u64) -> u64 {
        let drift_ms = (u128::from(run_ms) * u128::from(self.clock_drift_ppm.unsigned_abs())).div_ceil(1_000_000);
        let jumps_ms: u64 = self.clock_jumps.iter().map(|jump| jump.ms).sum();
        u64::try_from(drift_ms).unwrap_or(u64::MAX).saturating_add(jumps_ms)
    }

    /// The plan of `scenario` under `seed`: its schedule if it spells one out, else drawn.
    pub fn draw(scenario: &Scenario, seed: u64) -> FaultPlan {
        if !scenario.faults.schedule.is_empty() {
            return FaultPlan::from_schedule(&scenario.faults, scenario.faults.schedule.clone());
        }
        let mut rng = seeds::rng(seed, "fault-plan", 0);
        FaultPlan::from_settings(&scenario.faults, &mut rng, scenario.world.safety_ms)
    }

    /// The plan that injects exactly `schedule` (and rolls no fault die).
    pub fn from_schedule(settings: &FaultSettings, schedule: Vec<ScheduledFault>) -> FaultPlan {
        let timed =
            |kind: FaultKind| schedule.iter().filter(move |f| f.kind == kind).filter_map(|f| Some((f.at_ms?, f.ms?)));
        let mut partitions: Vec<Window> =
            timed(FaultKind::Partition).map(|(start_ms, ms)| Window { start_ms, end_ms: start_ms + ms }).collect();
        partitions.sort();
        let mut crashes: Vec<CrashAt> =
            timed(FaultKind::Crash).map(|(at_ms, restart_after_ms)| CrashAt { at_ms, restart_after_ms }).collect();
        crashes.sort();
        let mut net_partitions: Vec<NetPartition> = schedule
            .iter()
            .filter(|f| f.kind == FaultKind::NetPartition)
            .filter_map(|f| {
                let (start_ms, ms) = (f.at_ms?, f.ms?);
                Some(NetPartition { window: Window { start_ms, end_ms: start_ms + ms }, mode: f.mode? })
            })
            .collect();
        net_partitions.sort();
        let mut clock_jumps: Vec<ClockJump> = schedule
            .iter()
            .filter(|f| f.kind == FaultKind::ClockJump)
            .filter_map(|f| Some(ClockJump { at_ms: f.at_ms?, ms: f.ms?, back: f.back }))
            .collect();
        clock_jumps.sort();
        let clock_drift_ppm =
            schedule.iter().filter(|f| f.kind == FaultKind::ClockDrift).find_map(|f| f.ppm).unwrap_or(0);
        FaultPlan {
            kinds_off: Vec::new(),
            settings: settings.clone(),
            partitions,
            crashes,
            points: BTreeMap::new(),
            net_partitions,
            clock_jumps,
            clock_drift_ppm,
            schedule: Some(schedule),
        }
    }

    /// This plan with its dice replaced by `schedule` (a run's record of what fired).
    pub fn replaying(&self, schedule: Vec<ScheduledFault>) -> FaultPlan {
        FaultPlan::from_schedule(&self.settings, schedule)
    }

    fn from_settings(settings: &FaultSettings, rng: &mut impl Rng, safety_ms: u64) -> FaultPlan {
        let (factors, kinds_off) =
            if settings.swarm { swarm_factors(settings, rng) } else { ([1.0; DIALS_COUNT], Vec::new()) };
        let mut scaled = settings.clone();
        for (dial, factor) in FaultKind::DIALS.into_iter().zip(factors) {
            scaled.scale_dial(dial, factor);
        }
        let mut partitions: Vec<Window> = (0..scaled.partitions)
            .map(|_| {
                let start_ms = rng.random_range(0..safety_ms.max(1));
                Window { start_ms, end_ms: start_ms + draw_range(rng, scaled.partition_ms) }
            })
            .collect();
        partitions.sort();
        let mut crashes: Vec<CrashAt> = (0..scaled.crashes.min(scaled.crashes_max))
            .map(|_| CrashAt {
                at_ms: rng.random_range(0..safety_ms.max(1)),
                restart_after_ms: draw_range(rng, scaled.restart_ms),
            })
            .collect();
        crashes.sort();
        // Drawn after the older faults, and only when asked for, so that adding a kind
        // changes no plan that does not use it.
        let points = draw_points(&scaled, rng);
        let mut net_partitions: Vec<NetPartition> = (0..scaled.net_partitions)
            .map(|_| {
                let start_ms = rng.random_range(0..safety_ms.max(1));
                let window = Window { start_ms, end_ms: start_ms + draw_range(rng, scaled.net_partition_ms) };
                let mode = if rng.random_bool(scaled.net_partition_oneway_probability) {
                    if rng.random_bool(0.5) { NetMode::ToEngine } else { NetMode::FromEngine }
                } else if rng.random_bool(0.5) {
                    NetMode::Both
                } else {
                    NetMode::Hold
                };
                NetPartition { window, mode }
            })
            .collect();
        net_partitions.sort();
        let mut clock_jumps: Vec<ClockJump> = (0..scaled.clock_jumps)
            .map(|_| ClockJump {
                at_ms: rng.random_range(0..safety_ms.max(1)),
                ms: draw_range(rng, scaled.clock_jump_ms),
                back: rng.random_bool(scaled.clock_jump_back_probability),
            })
            .collect();
        clock_jumps.sort();
        let drift_ppm_max = (scaled.clock_drift_max * 1e6) as i64;
        let clock_drift_ppm = if drift_ppm_max > 0 { rng.random_range(-drift_ppm_max..=drift_ppm_max) } else { 0 };
        FaultPlan {
            kinds_off,
            settings: scaled,
            partitions,
            crashes,
            points,
            net_partitions,
            clock_jumps,
            clock_drift_ppm,
            schedule: None,
        }
    }
}

/// Swarm testing of the fault points: each point is enabled with probability
/// `fault_points_enabled` and, when it is, fires with its own probability drawn in
/// [¼ p, p] (p = `fault_point_probability`). None when p is 0.
fn draw_points(settings: &FaultSettings, rng: &mut impl Rng) -> BTreeMap<FaultPoint, f64> {
    let highest = settings.fault_point_probability;
    if highest <= 0.0 {
        return BTreeMap::new();
    }
    let mut points = BTreeMap::new();
    for &point in FaultPoint::ALL {
        if rng.random_bool(settings.fault_points_enabled) {
            points.insert(point, rng.random_range(highest / 4.0..=highest));
        }
    }
    points
}

/// Swarm mode's draw: each dial the settings use, but the fault points', is turned on or off
/// (at least one stays on) and an intensity in [`SWARM_INTENSITY_MIN`, 1] is drawn for each
/// one on. Returns each
/// dial's factor (in [`FaultKind::DIALS`] order; 1 for unused dials, 0 for dials off) and the
/// dials turned off.
fn swarm_factors(settings: &FaultSettings, rng: &mut impl Rng) -> ([f64; DIALS_COUNT], Vec<FaultKind>) {
    // The fault points are left alone: they are a swarm of their own (each point enabled or
    // not, with its own probability, `draw_points`); swarming them again would leave most
    // seeds without any, and a rare path's point reached in almost none.
    let present: Vec<usize> = (0..FaultKind::DIALS.len())
        .filter(|&i| FaultKind::DIALS[i] != FaultKind::Points && settings.dial_amount(FaultKind::DIALS[i]) > 0.0)
        .collect();
    let mut on: Vec<bool> = present.iter().map(|_| rng.random_bool(0.5)).collect();
    if !present.is_empty() && !on.iter().any(|&b| b) {
        let keep = rng.random_range(0..present.len());
        on[keep] = true;
    }
    let mut factors = [1.0f64; DIALS_COUNT];
    let mut kinds_off = Vec::new();
    for (slot, &i) in present.iter().enumerate() {
        factors[i] = if on[slot] { rng.random_range(SWARM_INTENSITY_MIN..=1.0) } else { 0.0 };
        if !on[slot] {
            kinds_off.push(FaultKind::DIALS[i]);
        }
    }
    (factors, kinds_off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("t.toml"), text).unwrap()
    }

    #[test]
    fn union_overlap_counts_each_covered_ms_once() {
        let w = |start_ms, end_ms| Window { start_ms, end_ms };
        let wait = w(100, 200);
        assert_eq!(Window::union_overlap_ms(&mut [], wait), 0);
        assert_eq!(Window::union_overlap_ms(&mut [w(0, 50), w(250, 300)], wait), 0, "outside the wait");
        assert_eq!(Window::union_overlap_ms(&mut [w(150, 400)], wait), 50);
        assert_eq!(Window::union_overlap_ms(&mut [w(170, 190), w(90, 120), w(110, 180)], wait), 90, "overlaps merged");
        assert_eq!(Window::union_overlap_ms(&mut [w(0, 1_000), w(120, 130)], wait), 100, "a window inside another");
    }

    #[test]
    fn the_same_seed_draws_the_same_plan() {
        let s = scenario("[faults]\nduplicate_probability = 0.2\ncrashes = 2\npartitions = 1\n");
        assert_eq!(FaultPlan::draw(&s, 9), FaultPlan::draw(&s, 9));
    }

    #[test]
    fn without_swarm_every_kind_is_on_at_full_strength() {
        let s = scenario("[faults]\nswarm = false\nrefund_failure_probability = 0.3\ncrashes = 2\n");
        for seed in 0..20 {
            let plan = FaultPlan::draw(&s, seed);
            assert_eq!(plan.settings.refund_failure_probability, 0.3);
            assert_eq!(plan.crashes.len(), 2);
            assert!(plan.kinds_off.is_empty());
        }
    }

    #[test]
    fn swarm_turns_kinds_off_across_seeds_but_never_all() {
        let s = scenario(
            "[faults]\nduplicate_probability = 0.2\nrefund_failure_probability = 0.3\nmessage_loss_probability = 0.1\n",
        );
        let plans: Vec<FaultPlan> = (0..64).map(|seed| FaultPlan::draw(&s, seed)).collect();
        assert!(plans.iter().any(|p| p.settings.refund_failure_probability == 0.0));
        assert!(plans.iter().any(|p| p.settings.refund_failure_probability > 0.0));
        for plan in &plans {
            let on = [
                plan.settings.duplicate_probability,
                plan.settings.refund_failure_probability,
                plan.settings.message_loss_probability,
            ];
            assert!(on.iter().any(|&p| p > 0.0));
            assert!(on.iter().all(|&p| p <= 0.3));
        }
    }
}
