//! The wire protocol between the client hosts and the engine host: one frame per UDP datagram
//! over turmoil's network, in postcard's compact binary encoding (varints, no field names:
//! several times cheaper to write and read than JSON, and the frames never leave the run). A frame carries a wire ID (one per send attempt, to
//! match a reply to the attempt that is waiting for it) and a body; the request ID that
//! deduplicates actions is part of the body, so retries and duplicate copies share it.

use engine::game::{ActionOutcome, ActionRequest, GameError, TableStats};
use engine::ids::{TableId, UserId};
use engine::rules::Chips;
use engine::store::JackpotGroup;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The engine's UDP port.
pub const ENGINE_PORT: u16 = 7_000;
/// Each client host's UDP port.
pub const CLIENT_PORT: u16 = 7_100;
/// Largest datagram either side reads, in bytes.
pub const DATAGRAM_BYTES_MAX: usize = 64 * 1024;

/// Who sends a request: a player, a table's dealer, or the jackpot load. Each has random
/// choices, request counters and network latencies of its own, so that what one actor does
/// differently shifts nothing of another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Player(UserId),
    Dealer(TableId),
    JackpotLoad,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Player(user) => write!(f, "{user}"),
            Actor::Dealer(table) => write!(f, "dealer-{}", table.0),
            Actor::JackpotLoad => f.write_str("jackpot"),
        }
    }
}

impl FromStr for Actor {
    type Err = String;

    fn from_str(text: &str) -> Result<Actor, String> {
        let number = |prefix: &str| text.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
        if let Some(user) = number("user-") {
            return Ok(Actor::Player(UserId(user)));
        }
        if let Some(table) = number("dealer-") {
            return Ok(Actor::Dealer(TableId(table)));
        }
        match text {
            "jackpot" => Ok(Actor::JackpotLoad),
            _ => Err(format!("`{text}` is not an actor: user-N, dealer-N or jackpot")),
        }
    }
}

/// One datagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame<T> {
    pub wire_id: u64,
    /// Who the request is from (or, in a reply, for).
    pub actor: Actor,
    pub body: T,
}

/// What clients ask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Act(ActionRequest),
    Start {
        table: TableId,
    },
    Reset {
        user: UserId,
        table: TableId,
        emergency: bool,
    },
    Stats {
        table: TableId,
    },
    JackpotContribute {
        operation: String,
        rake: Chips,
    },
    JackpotWin {
        win_id: String,
        group: JackpotGroup,
        user: UserId,
        amount: Chips,
    },
    /// A seated player asks for its own wallet balance.
    Balance {
        user: UserId,
        table: TableId,
    },
}

/// What a request asked that its answer is judged against, kept beside the reply once the
/// body has gone to the handler (a `Copy` summary, not the body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// `/reset` of `table` by `user`, or the emergency reset.
    Reset { user: UserId, table: TableId, emergency: bool },
    /// An external jackpot contribution (one call of the service's `contribute`).
    JackpotContribute,
    /// Anything else (no check reads more of it yet).
    Other,
}

impl Request {
    /// The part of this request its answer is judged against.
    pub fn asked(&self) -> Asked {
        match self {
            Request::Reset { user, table, emergency } => {
                Asked::Reset { user: *user, table: *table, emergency: *emergency }
            }
            Request::JackpotContribute { .. } => Asked::JackpotContribute,
            _ => Asked::Other,
        }
    }

    /// A short description for the trace, written where it is formatted (no `String` of its own).
    pub fn describe(&self) -> Described<'_, Request> {
        Described(self)
    }
}

/// A request's or reply's trace description, spelled by its `Display`.
pub struct Described<'a, T>(&'a T);

impl fmt::Display for Described<'_, Request> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Request::Act(a) => {
                write!(f, "act {} {} {} hand {} {:?}", a.request, a.user, a.table, a.hand_number, a.action)
            }
            Request::Start { table } => write!(f, "start {table}"),
            Request::Reset { user, table, emergency } => {
                write!(f, "{} {table} by {user}", if *emergency { "emergency_reset" } else { "reset" })
            }
            Request::Stats { table } => write!(f, "stats {table}"),
            Request::JackpotContribute { operation, rake } => write!(f, "jackpot_contribute {operation} {rake}"),
            Request::JackpotWin { win_id, group, user, amount } => {
                write!(f, "jackpot_win {win_id} {} {user} {amount}", group.name())
            }
            Request::Balance { user, table } => write!(f, "balance {user} {table}"),
        }
    }
}

/// What the engine answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Acted(Result<ActionOutcome, GameError>),
    Started(Result<u64, GameError>),
    Reset(Result<(), GameError>),
    Stats(Result<TableStats, GameError>),
    /// Jackpot operations: what the operation did, or why it was refused.
    Jackpot(Result<JackpotAnswer, JackpotRefusal>),
    /// A wallet balance, in chips.
    Balance(Result<Chips, GameError>),
}

/// What a jackpot operation did, as its answer states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JackpotAnswer {
    /// A contribution: the chips it moved from the house into the pools, its attempts, and
    /// whether the operation ID had already been processed (then nothing moved this time).
    Contributed { to_pools: Chips, attempts: u32, duplicate: bool },
    /// A win: what reached the wallet, the pool after it, and whether it was already paid.
    Won { paid: Chips, pool_after: Chips, duplicate: bool },
}

impl JackpotAnswer {
    /// Whether the answer replays an earlier outcome of the same operation ID.
    pub fn duplicate(&self) -> bool {
        match self {
            JackpotAnswer::Contributed { duplicate, .. } | JackpotAnswer::Won { duplicate, .. } => *duplicate,
        }
    }

    /// Whether the outcome was recorded under its operation ID, so that a copy replays it: a
    /// contribution that moved nothing (a rake too small for any pool's share) is not.
    pub fn recorded(&self) -> bool {
        !matches!(self, JackpotAnswer::Contributed { to_pools: 0, .. })
    }

    /// The chips the operation moved (into the pools, or to the winner): what a replay must
    /// state again.
    pub fn moved(&self) -> Chips {
        match self {
            JackpotAnswer::Contributed { to_pools, .. } => *to_pools,
            JackpotAnswer::Won { paid, .. } => *paid,
        }
    }
}

impl fmt::Display for JackpotAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JackpotAnswer::Contributed { to_pools, attempts, duplicate } => {
                write!(f, "split {to_pools} attempts {attempts} duplicate {duplicate}")
            }
            JackpotAnswer::Won { paid, pool_after, duplicate } => {
                write!(f, "paid {paid} pool {pool_after} duplicate {duplicate}")
            }
        }
    }
}

/// Why a jackpot operation was refused: the kind of refusal the checkers tell apart, and the
/// error's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JackpotRefusal {
    pub cause: JackpotRefusalCause,
    pub message: String,
}

/// The kinds of jackpot refusal the checkers tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JackpotRefusalCause {
    /// The store link failed the call (a failure, a timeout, a partition): transient.
    Store,
    /// The operation ID was already processed with another payload.
    IdReused,
    /// Anything else (a conflict, a lock timeout, the service off, …).
    Other,
}

impl Reply {
    /// A short description for the trace, written where it is formatted.
    /// The engine's refusal this reply carries, if it is one (jackpot refusals are the
    /// jackpot service's own type, not the game's).
    pub fn game_error(&self) -> Option<&GameError> {
        match self {
            Reply::Acted(Err(error))
            | Reply::Started(Err(error))
            | Reply::Reset(Err(error))
            | Reply::Stats(Err(error))
            | Reply::Balance(Err(error)) => Some(error),
            _ => None,
        }
    }

    pub fn describe(&self) -> Described<'_, Reply> {
        Described(self)
    }
}

impl fmt::Display for Described<'_, Reply> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Reply::Acted(Ok(o)) => write!(
                f,
                "acted {:?} v{}{}",
                o.applied,
                o.table_version,
                if o.hand_complete { " hand complete" } else { "" }
            ),
            Reply::Acted(Err(e))
            | Reply::Started(Err(e))
            | Reply::Reset(Err(e))
            | Reply::Stats(Err(e))
            | Reply::Balance(Err(e)) => {
                write!(f, "err {e}")
            }
            Reply::Started(Ok(hand)) => write!(f, "started hand {hand}"),
            Reply::Reset(Ok(())) => f.write_str("reset"),
            Reply::Stats(Ok(s)) => {
                write!(
                    f,
                    "stats v{} hand {} {} actor ",
                    s.version,
                    s.hand_number,
                    if s.in_progress { "live" } else { "idle" }
                )?;
                match s.actor {
                    Some(user) => write!(f, "{user}"),
                    None => f.write_str("-"),
                }
            }
            Reply::Balance(Ok(chips)) => write!(f, "balance {chips}"),
            Reply::Jackpot(Ok(answer)) => write!(f, "jackpot ok {answer}"),
            Reply::Jackpot(Err(refusal)) => write!(f, "jackpot err {}", refusal.message),
        }
    }
}

pub fn encode<T: Serialize>(frame: &Frame<T>) -> Vec<u8> {
    postcard::to_allocvec(frame).expect("frames serialize")
}

/// A frame from its bytes; an error for bytes that are not one frame of `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<Frame<T>, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frame = Frame { wire_id: 7, actor: Actor::Dealer(TableId(2)), body: Request::Stats { table: TableId(2) } };
        assert_eq!(decode::<Request>(&encode(&frame)).unwrap(), frame);
        let reply =
            Frame { wire_id: 7, actor: Actor::Player(UserId(3)), body: Reply::Reset(Err(GameError::NotEnoughPlayers)) };
        assert_eq!(decode::<Reply>(&encode(&reply)).unwrap(), reply);
    }

    #[test]
    fn every_body_round_trips_and_garbage_is_an_error() {
        use engine::game::ActionRequest;
        use engine::ids::RequestId;
        use engine::locks::{LockCategory, LockError, LockHolder, LockKey, LockMode, OwnerId};
        use engine::rules::Action;
        let act = ActionRequest {
            request: RequestId(u64::MAX),
            user: UserId(4),
            table: TableId(1),
            hand_number: 9,
            action: Action::RaiseTo(250),
        };
        let requests = [
            Request::Act(act),
            Request::Start { table: TableId(1) },
            Request::Reset { user: UserId(1), table: TableId(1), emergency: true },
            Request::JackpotContribute { operation: "op-1".into(), rake: 5 },
            Request::JackpotWin { win_id: "w".into(), group: JackpotGroup::Mega, user: UserId(2), amount: 7 },
            Request::Balance { user: UserId(2), table: TableId(1) },
        ];
        for body in requests {
            let frame = Frame { wire_id: 1 << 40, actor: Actor::JackpotLoad, body };
            assert_eq!(decode::<Request>(&encode(&frame)).unwrap(), frame);
        }
        let replies = [
            Reply::Started(Ok(3)),
            Reply::Reset(Ok(())),
            Reply::Jackpot(Ok(JackpotAnswer::Won { paid: 5, pool_after: 90, duplicate: true })),
            Reply::Jackpot(Ok(JackpotAnswer::Contributed { to_pools: 3, attempts: 2, duplicate: false })),
            Reply::Jackpot(Err(JackpotRefusal {
                cause: JackpotRefusalCause::Store,
                message: "store unavailable".into(),
            })),
            Reply::Stats(Err(GameError::NotEnoughPlayers)),
            Reply::Balance(Ok(1_950)),
            Reply::Balance(Err(GameError::NotSeated { user: UserId(2), table: TableId(1) })),
            // Internally tagged in JSON; the wire must still carry it (engine::locks).
            Reply::Acted(Err(GameError::Lock(LockError::Timeout {
                key: LockKey::new(LockCategory::Table, "table-2"),
                waited_ms: 1_000,
                holders: vec![LockHolder {
                    key: LockKey::new(LockCategory::Table, "table-2"),
                    owner: OwnerId(34),
                    operation: "game.act".into(),
                    mode: LockMode::Write,
                    held_ms: 1_132,
                }],
            }))),
            Reply::Reset(Err(GameError::Lock(LockError::Reentrant { key: LockKey::new(LockCategory::Stage, "s") }))),
        ];
        for body in replies {
            let frame = Frame { wire_id: 2, actor: Actor::Player(UserId(1)), body };
            assert_eq!(decode::<Reply>(&encode(&frame)).unwrap(), frame);
        }
        assert!(decode::<Request>(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode::<Reply>(&[]).is_err());
    }
}
