//! The client↔engine network faults that turmoil does not decide for us: message loss, one
//! datagram at a time, in either direction, with the seed's draws (turmoil still adds its own
//! seeded latency between the scenario's bounds). Partitions between hosts and crashes are
//! turmoil's; duplicates and delayed duplicates are client behaviour (`client`).

use std::sync::Arc;

use rand::Rng;

use crate::context::{SimContext, Stream};
use crate::faults::kind::FaultKind;

/// Whether to drop the datagram `what` that `host` is about to send.
pub(crate) fn lose(context: &Arc<SimContext>, host: &str, what: &str) -> bool {
    if !context.faults_on() || context.plan.settings.message_loss_probability == 0.0 {
        return false;
    }
    let lost = context.draw(Stream::Network, |rng| rng.random_bool(context.plan.settings.message_loss_probability));
    if lost {
        context.fault(host, FaultKind::MessageLoss, what.to_string());
    }
    lost
}
