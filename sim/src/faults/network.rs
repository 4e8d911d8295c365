//! The client↔engine network, one datagram at a time: latency and message loss, decided here
//! rather than by turmoil (whose latency comes from one stream every message of the run draws
//! from, so one message more or less would shift every later latency). Each datagram is an
//! opportunity of its actor (`request:user-101`, `reply:user-101`): its latency comes from a
//! stream of that opportunity alone, uniform in the scenario's range, and it is lost by the
//! schedule or the network's fault dice. Messages still move between hosts at turmoil's tick,
//! so a datagram waits out its latency only when the latency carries it into a later step
//! ([`wait_latency`]).
//! Partitions between hosts and crashes are turmoil's; duplicates and delayed duplicates are
//! client behaviour (`client`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::context::{SimContext, Stream};
use crate::faults::kind::FaultKind;
use crate::faults::plan::draw_range;
use crate::faults::schedule::Site;

/// The datagram `what` that `host` is about to send at `site`: `None` if it is lost, else the
/// latency to wait before sending it.
pub(crate) fn transit(
    context: &Arc<SimContext>,
    host: &str,
    site: Site,
    what: &dyn std::fmt::Display,
) -> Option<Duration> {
    let p = context.plan.settings.message_loss_probability;
    let (opportunity, latency_stream) = context.opportunity_with_stream(site, "latency");
    let lost = context
        .decide(&opportunity, FaultKind::MessageLoss, Stream::Network, |rng, fault| {
            (p > 0.0 && rng.random_bool(p)).then(|| fault.fire())
        })
        .is_some();
    if lost {
        context.fault(host, FaultKind::MessageLoss, what.to_string());
        return None;
    }
    let latency_ms = draw_range(&mut latency_stream.rng(), context.scenario.world.network_latency_ms);
    Some(Duration::from_millis(latency_ms))
}

/// Waits out a datagram's `latency` before it is handed to turmoil, only if the latency carries
/// it past the current step. turmoil moves datagrams between hosts only at its tick, and
/// partitions, holds and crashes change only between steps, so a datagram handed over anywhere
/// within one step reaches the other host at the same step and meets the same cuts: waiting
/// inside the step would cost the host a timer wake (a scheduler pass) and change nothing but
/// the order of the step's datagrams.
pub(crate) async fn wait_latency(context: &SimContext, latency: Duration) {
    if context.now_us() + latency.as_micros() as u64 >= context.step_us().end {
        context.sleep(latency).await;
    }
}
