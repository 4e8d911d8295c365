//! The wire protocol between the client hosts and the engine host: one JSON-encoded frame per
//! UDP datagram over turmoil's network. A frame carries a wire ID (one per send attempt, to
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
    Start { table: TableId },
    Reset { user: UserId, table: TableId, emergency: bool },
    Stats { table: TableId },
    JackpotContribute { operation: String, rake: Chips },
    JackpotWin { win_id: String, group: JackpotGroup, user: UserId, amount: Chips },
}

impl Request {
    /// A short description for the trace.
    pub fn describe(&self) -> String {
        match self {
            Request::Act(a) => {
                format!("act {} {} {} hand {} {:?}", a.request, a.user, a.table, a.hand_number, a.action)
            }
            Request::Start { table } => format!("start {table}"),
            Request::Reset { user, table, emergency } => {
                format!("{} {table} by {user}", if *emergency { "emergency_reset" } else { "reset" })
            }
            Request::Stats { table } => format!("stats {table}"),
            Request::JackpotContribute { operation, rake } => format!("jackpot_contribute {operation} {rake}"),
            Request::JackpotWin { win_id, group, user, amount } => {
                format!("jackpot_win {win_id} {} {user} {amount}", group.name())
            }
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
    /// Jackpot operations: the outcome or the error, as text.
    Jackpot(Result<String, String>),
}

impl Reply {
    /// A short description for the trace.
    pub fn describe(&self) -> String {
        fn err(e: &GameError) -> String {
            format!("err {e}")
        }
        match self {
            Reply::Acted(Ok(o)) => format!(
                "acted {:?} v{}{}",
                o.applied,
                o.table_version,
                if o.hand_complete { " hand complete" } else { "" }
            ),
            Reply::Acted(Err(e)) | Reply::Started(Err(e)) | Reply::Reset(Err(e)) | Reply::Stats(Err(e)) => err(e),
            Reply::Started(Ok(hand)) => format!("started hand {hand}"),
            Reply::Reset(Ok(())) => "reset".into(),
            Reply::Stats(Ok(s)) => format!(
                "stats v{} hand {} {} actor {}",
                s.version,
                s.hand_number,
                if s.in_progress { "live" } else { "idle" },
                s.actor.map_or("-".to_string(), |u| u.to_string())
            ),
            Reply::Jackpot(Ok(text)) => format!("jackpot ok {text}"),
            Reply::Jackpot(Err(text)) => format!("jackpot err {text}"),
        }
    }
}

pub fn encode<T: Serialize>(frame: &Frame<T>) -> Vec<u8> {
    serde_json::to_vec(frame).expect("frames serialize")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<Frame<T>, serde_json::Error> {
    serde_json::from_slice(bytes)
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
}
