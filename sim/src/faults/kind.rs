//! The fault kinds: [`FaultKind`] names every fault the simulator can inject — the dials of
//! the fault plan that swarm mode turns on and off, and the faults that fire during a run
//! (counted in `faults_fired`, traced as `fault <kind> …`). The text forms are what reports,
//! traces and scenario files show and never change meaning. This module only names.

use std::fmt;
use std::str::FromStr;

use engine::buggify::FaultPoint;
use engine::store::TxnKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! fault_kinds {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A kind of fault. `CrashAfter` names the transaction kind after which the engine died.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FaultKind {
            $($(#[$doc])* $variant,)*
            /// A crash point fired after a transaction of this kind applied (counted besides
            /// `CrashAfterTxn`, per kind).
            CrashAfter(TxnKind),
            /// A fault point inside the engine fired (a delay, a yield or a store failure).
            Point(FaultPoint),
        }

        impl FaultKind {
            /// Every kind without a payload, in declaration order.
            pub const SIMPLE: &'static [FaultKind] = &[$(FaultKind::$variant,)*];

            fn simple_text(self) -> Option<&'static str> {
                match self {
                    $(FaultKind::$variant => Some($text),)*
                    FaultKind::CrashAfter(_) | FaultKind::Point(_) => None,
                }
            }
        }
    };
}

fault_kinds! {
    /// An action sent as several concurrent copies (client).
    Duplicate = "duplicate",
    /// An action sent again after the in-memory dedup window (client).
    DelayedDuplicate = "delayed_duplicate",
    /// Another writer bumped a table just before the engine saved it (store link).
    StaleWriter = "stale_writer",
    /// A refund transaction failed (store link).
    RefundFailure = "refund_failure",
    /// A store call failed before reaching the store (store link).
    StoreFailure = "store_failure",
    /// A store call timed out before reaching the store (store link).
    StoreTimeout = "store_timeout",
    /// A store call applied and its reply was lost (store link).
    LostReply = "lost_reply",
    /// A store call was slow by seconds (store link).
    SlowStore = "slow_store",
    /// A chat call was slow by seconds (messenger).
    SlowChat = "slow_chat",
    /// The plan's dial for engine↔store partitions, scheduled and mid-2PC.
    Partition = "partition",
    /// A call refused by a partition on its way to the store (store link).
    PartitionRefused = "partition_refused",
    /// A reply lost to a partition that began while the call was at the store (store link).
    PartitionLostReply = "partition_lost_reply",
    /// A partition opened right after a reservation (store link).
    PartitionMid2pc = "partition_mid_2pc",
    /// A client↔engine datagram lost (network).
    MessageLoss = "message_loss",
    /// The engine crashed, at a scheduled instant or a crash point (world).
    Crash = "crash",
    /// A crash point fired after a labelled transaction (store link).
    CrashAfterTxn = "crash_after_txn",
    /// A chat call answered 429 with a retry-after (messenger).
    Chat429 = "chat_429",
    /// A chat call failed (messenger).
    ChatFailure = "chat_failure",
    /// An action naming the previous hand (client).
    StaleAction = "stale_action",
    /// An action from a player who is not to act (client).
    OutOfTurn = "out_of_turn",
    /// A `/reset` by a seated player, or now and then by a player of another table (client).
    Reset = "reset",
    /// An admin's emergency reset (client).
    EmergencyReset = "emergency_reset",
    /// Several `/start` requests at once (client).
    StartStorm = "start_storm",
    /// A crash point fired while a labelled commit was on its way to the store (store link):
    /// the commit is caught in flight, a zombie write candidate.
    CrashInFlight = "crash_in_flight",
    /// A commit that was in flight when the engine crashed lands later, from the dead
    /// process's stale view (the paused lease holder; the world).
    ZombieWrite = "zombie_write",
    /// A request ID used again for a different action or amount, or a jackpot operation ID
    /// for another rake or win amount (client).
    ReusedId = "reused_id",
    /// A request ID sent for another action or amount at the same instant as its first copy,
    /// both in flight at once (client; rolled on the `reused_id` dial's probability).
    RacingReusedId = "racing_reused_id",
    /// Two locks taken against the hierarchy inside the engine process (lock probe).
    OutOfOrderLock = "out_of_order_lock",
    /// The plan's dial for the fault points inside the engine (`point:<name>` when one fires).
    Points = "points",
    /// A players↔engine partition between turmoil hosts, both ways or one way (world).
    NetPartition = "net_partition",
    /// The engine host's clock jumped forward or back (world).
    ClockJump = "clock_jump",
    /// The engine host's clock runs fast or slow for the whole run (counted once per boot).
    ClockDrift = "clock_drift",
}

/// Prefix of the text form of [`FaultKind::CrashAfter`].
const CRASH_AFTER_PREFIX: &str = "crash_after:";

/// Prefix of the text form of [`FaultKind::Point`] (`point:wallet.sweep_before_refund`).
pub const POINT_PREFIX: &str = "point:";

impl FaultKind {
    /// The dials of the fault plan, in the order swarm mode draws them: each is turned on or
    /// off per seed and scaled as a whole.
    pub const DIALS: [FaultKind; DIALS_COUNT] = [
        FaultKind::Duplicate,
        FaultKind::DelayedDuplicate,
        FaultKind::StaleWriter,
        FaultKind::RefundFailure,
        FaultKind::StoreFailure,
        FaultKind::StoreTimeout,
        FaultKind::LostReply,
        FaultKind::SlowStore,
        FaultKind::SlowChat,
        FaultKind::Partition,
        FaultKind::MessageLoss,
        FaultKind::Crash,
        FaultKind::ZombieWrite,
        FaultKind::ReusedId,
        FaultKind::OutOfOrderLock,
        FaultKind::Points,
        FaultKind::NetPartition,
        FaultKind::ClockJump,
        FaultKind::ClockDrift,
    ];
}

/// How many dials the fault plan has.
pub const DIALS_COUNT: usize = 19;

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.simple_text()) {
            (_, Some(text)) => f.write_str(text),
            (FaultKind::CrashAfter(kind), None) => write!(f, "{CRASH_AFTER_PREFIX}{kind}"),
            (FaultKind::Point(point), None) => write!(f, "{POINT_PREFIX}{point}"),
            (_, None) => unreachable!("only CrashAfter and Point have a payload"),
        }
    }
}

/// The text was not the name of a fault kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault kind `{0}`")]
pub struct UnknownFaultKind(pub String);

impl FromStr for FaultKind {
    type Err = UnknownFaultKind;

    fn from_str(text: &str) -> Result<FaultKind, UnknownFaultKind> {
        if let Some(kind) = text.strip_prefix(CRASH_AFTER_PREFIX) {
            return kind.parse().map(FaultKind::CrashAfter).map_err(|_| UnknownFaultKind(text.to_string()));
        }
        if let Some(point) = text.strip_prefix(POINT_PREFIX) {
            return point.parse().map(FaultKind::Point).map_err(|_| UnknownFaultKind(text.to_string()));
        }
        FaultKind::SIMPLE
            .iter()
            .copied()
            .find(|kind| kind.simple_text() == Some(text))
            .ok_or_else(|| UnknownFaultKind(text.to_string()))
    }
}

impl Serialize for FaultKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FaultKind, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_text() {
        let mut all: Vec<FaultKind> = FaultKind::SIMPLE.to_vec();
        all.extend(TxnKind::ALL.iter().map(|&kind| FaultKind::CrashAfter(kind)));
        all.extend(FaultPoint::ALL.iter().map(|&point| FaultKind::Point(point)));
        for kind in all {
            assert_eq!(kind.to_string().parse::<FaultKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<FaultKind>(&json).unwrap(), kind);
        }
        assert_eq!(FaultKind::CrashAfter(TxnKind::WalletCommit).to_string(), "crash_after:wallet.commit");
        assert!("crash_after:wallet.reserv".parse::<FaultKind>().is_err());
        assert!("slow".parse::<FaultKind>().is_err());
        assert_eq!(FaultKind::Point(FaultPoint::SweepBeforeRefund).to_string(), "point:wallet.sweep_before_refund");
        assert!("point:wallet.nowhere".parse::<FaultKind>().is_err());
    }

    #[test]
    fn a_map_keyed_by_kind_serializes_with_text_keys() {
        let map = std::collections::BTreeMap::from([(FaultKind::Crash, 2u64)]);
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"crash":2}"#);
    }
}
