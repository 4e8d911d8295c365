//! The simulator's side of the engine's fault points and coverage probes
//! (`engine::buggify`), and the engine host's clock with its faults.
//!
//! At a fault point the seed decides — from the plan's enabled points and the point dice, or
//! from an explicit schedule — whether to pass, yield to the other ready tasks, wait, or fail
//! as the store would; what fires is recorded like every other fault (`point:<name>`), so a
//! shrinker keeps or drops it. A probe only counts. The engine clock is the store's time
//! plus the plan's drift and jumps, in the safety phase only: when faults stop, the clock is
//! corrected (as NTP would), so the heal phase runs on true time. This module never lets a
//! fault fire outside the safety phase and never reads the wall clock.

use std::sync::Arc;
use std::time::Duration;

use engine::buggify::{FaultPoint, Hooks, Injection, Probe};
use engine::clock::{Clock, TimestampMs};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::context::{Phase, SimContext, Stream};
use crate::engine_host::ENGINE_HOST;
use crate::faults::kind::FaultKind;
use crate::faults::plan::draw_range;
use crate::faults::schedule::{ScheduledFault, Site};
use crate::scenario::FaultSettings;

/// The longest of a fault point's short delays, in ms.
pub const SHORT_DELAY_MS_MAX: u64 = 50;
/// Share of a point's firings that yield, and that wait briefly (the rest wait long).
const YIELD_SHARE: f64 = 0.35;
const SHORT_DELAY_SHARE: f64 = 0.40;

/// The hooks the engine host gives its services.
pub(crate) struct SimHooks {
    pub context: Arc<SimContext>,
}

/// A firing of `fault`'s point, drawn: a store failure, a yield (`ms` 0) or a delay.
fn draw_firing(rng: &mut ChaCha8Rng, settings: &FaultSettings, fault: ScheduledFault) -> ScheduledFault {
    if rng.random_bool(settings.fault_point_fail_probability) {
        return ScheduledFault { fail: true, ..fault };
    }
    let share: f64 = rng.random();
    let ms = if share < YIELD_SHARE {
        0
    } else if share < YIELD_SHARE + SHORT_DELAY_SHARE {
        rng.random_range(1..=SHORT_DELAY_MS_MAX)
    } else {
        draw_range(rng, settings.fault_point_delay_ms)
    };
    fault.with_ms(ms)
}

/// What a recorded firing does.
fn injection_of(fault: &ScheduledFault) -> (Injection, String) {
    match fault.ms {
        _ if fault.fail => (Injection::Fail, "store failure".into()),
        Some(0) | None => (Injection::Yield, "yield".into()),
        Some(ms) => (Injection::Delay(Duration::from_millis(ms)), format!("+{ms} ms")),
    }
}

impl Hooks for SimHooks {
    fn at(&self, point: FaultPoint) -> Injection {
        let context = &self.context;
        let probability = context.plan.points.get(&point).copied();
        // A point this seed did not enable can only fire from an explicit schedule: without one,
        // pass at once (every action passes several points; counting their opportunities would
        // serve no lookup).
        if probability.is_none() && context.plan.schedule.is_none() {
            return Injection::Pass;
        }
        let opportunity = context.opportunity(Site::Point(point));
        let settings = &context.plan.settings;
        let fired = context.decide(&opportunity, FaultKind::Point(point), Stream::Points, |rng, fault| {
            let probability = probability?;
            rng.random_bool(probability).then(|| draw_firing(rng, settings, fault.fire()))
        });
        let Some(fault) = fired else { return Injection::Pass };
        let (injection, what) = injection_of(&fault);
        context.fault(ENGINE_HOST, FaultKind::Point(point), format!("#{} {what}", opportunity.nth));
        injection
    }

    fn reached(&self, probe: Probe) {
        self.context.state().reach(probe);
    }
}

/// The engine host's wall clock: the store's time, off by the plan's drift and the jumps so
/// far while faults are on. It may run backwards after a jump back, as a stepped wall clock
/// does; `tokio::time` (timers, timeouts) is unaffected.
pub(crate) struct EngineClock {
    pub context: Arc<SimContext>,
}

impl EngineClock {
    /// The engine clock's offset from true time at `true_ms`, in ms.
    pub fn offset_ms(context: &SimContext, true_ms: u64) -> i64 {
        let plan = &context.plan;
        if plan.clock_drift_ppm == 0 && plan.clock_jumps.is_empty() {
            return 0;
        }
        if context.state().phase() != Phase::Safety {
            return 0;
        }
        let drift_ms = (true_ms as i128 * plan.clock_drift_ppm as i128 / 1_000_000) as i64;
        let jumps_ms: i64 = plan.clock_jumps.iter().filter(|j| j.at_ms <= true_ms).map(|j| j.offset_ms()).sum();
        drift_ms + jumps_ms
    }
}

impl Clock for EngineClock {
    fn now_ms(&self) -> TimestampMs {
        let true_ms = crate::host_clock::sim_elapsed().unwrap_or_default().as_millis() as u64;
        true_ms.saturating_add_signed(EngineClock::offset_ms(&self.context, true_ms))
    }
}
