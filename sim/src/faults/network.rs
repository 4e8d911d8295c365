//! The client↔engine network faults that turmoil does not decide for us: message loss, one
//! datagram at a time, in either direction, with the seed's draws (turmoil still adds its own
//! seeded latency between the scenario's bounds). Partitions between hosts and crashes are
//! turmoil's; duplicates and delayed duplicates are client behaviour (`client`).

use std::sync::Arc;

use rand::Rng;

use crate::context::{SimContext, Stream};
use crate::faults::kind::FaultKind;
use crate::faults::schedule::Site;

/// Whether to drop the datagram `what` that `host` is about to send (a `send:HOST`
/// opportunity of the schedule, or the network's fault dice).
pub(crate) fn lose(context: &Arc<SimContext>, host: &str, what: &str) -> bool {
    let p = context.plan.settings.message_loss_probability;
    let opportunity = context.opportunity(Site::Send(host.to_string()));
    let lost = context
        .decide(&opportunity, FaultKind::MessageLoss, Stream::Network, |rng, fault| {
            (p > 0.0 && rng.random_bool(p)).then_some(fault)
        })
        .is_some();
    if lost {
        context.fault(host, FaultKind::MessageLoss, what.to_string());
    }
    lost
}
