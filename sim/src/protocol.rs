//! The wire protocol between the client hosts and the engine host: one JSON-encoded frame per
//! UDP datagram over turmoil's network. A frame carries a wire ID (one per send attempt, to
//! match a reply to the attempt that is waiting for it) and a body; the request ID that
//! deduplicates actions is part of the body, so retries and duplicate copies share it.

use engine::game::{ActionOutcome, ActionRequest, GameError, TableStats};
use engine::ids::{TableId, UserId};
use engine::rules::Chips;
use engine::store::JackpotGroup;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The engine's UDP port.
pub const ENGINE_PORT: u16 = 7_000;
/// Each client host's UDP port.
pub const CLIENT_PORT: u16 = 7_100;
/// Largest datagram either side reads, in bytes.
pub const DATAGRAM_BYTES_MAX: usize = 64 * 1024;

/// One datagram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame<T> {
    pub wire_id: u64,
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
        let frame = Frame { wire_id: 7, body: Request::Stats { table: TableId(2) } };
        assert_eq!(decode::<Request>(&encode(&frame)).unwrap(), frame);
        let reply = Frame { wire_id: 7, body: Reply::Reset(Err(GameError::NotEnoughPlayers)) };
        assert_eq!(decode::<Reply>(&encode(&reply)).unwrap(), reply);
    }
}
