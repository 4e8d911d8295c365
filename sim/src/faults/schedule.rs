//! The explicit fault schedule: every fault of a run as data — which kind, when (a simulated
//! instant, or the n-th occurrence of an opportunity) and with what parameters — so a run can
//! be replayed with exactly those faults and no fault dice at all, and a shrinker can delete
//! faults one by one.
//!
//! An **opportunity** is a place where an injector may fault: a store call of one operation
//! about one subject (`commit:wallet.rollback@user-101`, `get:table@table-1`), an applied
//! transaction of one kind (`applied:wallet.commit`), a chat call for a table
//! (`chat:table-1`), a request an actor sends or a reply it gets (`request:user-101`,
//! `reply:dealer-1`), a player's turn or poll (`turn:user-101`, `poll:user-101`), a dealer's
//! poll of its table (`dealer:table-1`), a jackpot load operation. Each is counted from 1 over
//! the whole run, in either phase, per site — so a change in one table's traffic does not
//! renumber another table's; faults fire only in the safety phase. A run without a schedule rolls its fault
//! dice (from fault streams of their own, never shared with latencies or client choices) and
//! records every fault that fires as a [`ScheduledFault`]; a run given that record replays
//! event for event.
//!
//! This module only describes and looks up faults; the injectors decide what a fault does.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use engine::buggify::FaultPoint;
use engine::ids::{RequestId, TableId, UserId};
use engine::store::{Key, KeyKind, Txn, TxnKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::faults::kind::FaultKind;
use crate::protocol::Actor;
use crate::seeds::WordHash;

/// What a store call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreOp {
    Get(KeyKind),
    Scan(KeyKind),
    Commit(TxnKind),
}

/// Whose record a store call is about, when that is stable from run to run: a table, a
/// user's wallet, a client request. Counting calls per subject keeps a change at one table
/// from renumbering every other table's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    Table(TableId),
    User(UserId),
    Request(RequestId),
}

impl Subject {
    /// The subject of a key, if it has a stable one.
    pub fn of_key(key: Key) -> Option<Subject> {
        match key {
            Key::Table(table) => Some(Subject::Table(table)),
            Key::Wallet(user) => Some(Subject::User(user)),
            Key::Request(request) => Some(Subject::Request(request)),
            _ => None,
        }
    }

    /// The subject of a transaction: the table it writes, else the first wallet, else the
    /// first request record.
    pub fn of_txn(txn: &Txn) -> Option<Subject> {
        let keys = || txn.writes.iter().map(|w| w.key);
        keys()
            .find(|k| matches!(k, Key::Table(_)))
            .or_else(|| keys().find(|k| matches!(k, Key::Wallet(_))))
            .or_else(|| keys().find(|k| matches!(k, Key::Request(_))))
            .and_then(Subject::of_key)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Table(table) => write!(f, "{table}"),
            Subject::User(user) => write!(f, "{user}"),
            Subject::Request(request) => write!(f, "{request}"),
        }
    }
}

impl FromStr for Subject {
    type Err = ();

    fn from_str(text: &str) -> Result<Subject, ()> {
        if let Some(table) = numbered(text, "table-") {
            return Ok(Subject::Table(TableId(table)));
        }
        if let Some(user) = numbered(text, "user-") {
            return Ok(Subject::User(UserId(user)));
        }
        numbered(text, "req-").map(|request| Subject::Request(RequestId(request))).ok_or(())
    }
}

/// A place where an injector may fault (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    /// A store call through the engine's store link, about a subject when it has one.
    Store(StoreOp, Option<Subject>),
    /// A transaction of this kind just applied (crash points, partitions mid-2PC), about a
    /// subject when it has one.
    Applied(TxnKind, Option<Subject>),
    /// A chat call through the messenger, for one table.
    Chat(TableId),
    /// A request datagram an actor sends to the engine.
    Request(Actor),
    /// A reply datagram the engine sends to an actor.
    Reply(Actor),
    /// A player's turn to act.
    Turn(UserId),
    /// A player's poll of its table while another player is to act.
    Poll(UserId),
    /// A dealer's poll of its table.
    Dealer(TableId),
    /// A commit of this kind caught in flight by a crash, about a subject when it has one.
    InFlight(TxnKind, Option<Subject>),
    /// One operation of the jackpot load.
    JackpotOp,
    /// One second of the engine process's lock probe.
    LockProbe,
    /// One pass of a fault point inside the engine.
    Point(FaultPoint),
}

/// The n-th (from 1) occurrence of a site in a run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Opportunity {
    pub site: Site,
    pub nth: u64,
}

fn parse_key_kind(text: &str) -> Option<KeyKind> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

impl Site {
    /// Folds the site into `hash` part by part — what its label spells, without spelling it:
    /// the seed of an opportunity's streams comes from it, and most store calls are a new site
    /// (a request's dedup record). Each variant and each subject and actor kind opens with its
    /// own tag word, so no two sites fold the same.
    pub(crate) fn hash_into(&self, hash: &mut WordHash) {
        fn subject(hash: &mut WordHash, subject: &Option<Subject>) {
            match subject {
                None => hash.word(0),
                Some(Subject::Table(table)) => hash.words(&[1, table.0]),
                Some(Subject::User(user)) => hash.words(&[2, user.0]),
                Some(Subject::Request(request)) => hash.words(&[3, request.0]),
            }
        }
        fn actor(hash: &mut WordHash, actor: &Actor) {
            match actor {
                Actor::Player(user) => hash.words(&[1, user.0]),
                Actor::Dealer(table) => hash.words(&[2, table.0]),
                Actor::JackpotLoad => hash.word(3),
            }
        }
        let mut tagged = |tag: u64, name: &str| {
            hash.word(tag);
            hash.bytes(name.as_bytes());
        };
        match self {
            Site::Store(op, on) => {
                match op {
                    StoreOp::Get(kind) => tagged(1, kind.name()),
                    StoreOp::Scan(kind) => tagged(2, kind.name()),
                    StoreOp::Commit(kind) => tagged(3, kind.as_str()),
                }
                subject(hash, on);
            }
            Site::Applied(kind, on) => {
                tagged(4, kind.as_str());
                subject(hash, on);
            }
            Site::Chat(table) => hash.words(&[5, table.0]),
            Site::Request(who) => {
                hash.word(6);
                actor(hash, who);
            }
            Site::Reply(who) => {
                hash.word(7);
                actor(hash, who);
            }
            Site::Turn(user) => hash.words(&[8, user.0]),
            Site::Poll(user) => hash.words(&[9, user.0]),
            Site::Dealer(table) => hash.words(&[10, table.0]),
            Site::InFlight(kind, on) => {
                tagged(11, kind.as_str());
                subject(hash, on);
            }
            Site::JackpotOp => hash.word(12),
            Site::LockProbe => hash.word(13),
            Site::Point(point) => tagged(14, point.name()),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Store(op, subject) => {
                match op {
                    StoreOp::Get(kind) => write!(f, "get:{}", kind.name())?,
                    StoreOp::Scan(kind) => write!(f, "scan:{}", kind.name())?,
                    StoreOp::Commit(kind) => write!(f, "commit:{kind}")?,
                }
                match subject {
                    Some(subject) => write!(f, "@{subject}"),
                    None => Ok(()),
                }
            }
            Site::Applied(kind, None) => write!(f, "applied:{kind}"),
            Site::Applied(kind, Some(subject)) => write!(f, "applied:{kind}@{subject}"),
            Site::Chat(table) => write!(f, "chat:{table}"),
            Site::Request(actor) => write!(f, "request:{actor}"),
            Site::Reply(actor) => write!(f, "reply:{actor}"),
            Site::Turn(user) => write!(f, "turn:{user}"),
            Site::Poll(user) => write!(f, "poll:{user}"),
            Site::Dealer(table) => write!(f, "dealer:{table}"),
            Site::InFlight(kind, None) => write!(f, "in_flight:{kind}"),
            Site::InFlight(kind, Some(subject)) => write!(f, "in_flight:{kind}@{subject}"),
            Site::JackpotOp => f.write_str("jackpot"),
            Site::LockProbe => f.write_str("lock_probe"),
            Site::Point(point) => write!(f, "point:{point}"),
        }
    }
}

/// The text was not a site.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown opportunity `{0}`: one of get:KIND[@SUBJECT], scan:KIND, commit:TXN[@SUBJECT], applied:TXN, \
     chat:table-N, request:ACTOR, reply:ACTOR, turn:user-N, poll:user-N, dealer:table-N, in_flight:TXN[@SUBJECT], jackpot, \
     lock_probe, point:NAME"
)]
pub struct UnknownSite(pub String);

fn numbered(text: &str, prefix: &str) -> Option<u64> {
    text.strip_prefix(prefix)?.parse().ok()
}

impl FromStr for Site {
    type Err = UnknownSite;

    fn from_str(text: &str) -> Result<Site, UnknownSite> {
        let bad = || UnknownSite(text.to_string());
        let (what, rest) = text.split_once(':').unwrap_or((text, ""));
        let (operand, subject) = match rest.split_once('@') {
            Some((operand, subject)) => (operand, Some(subject.parse::<Subject>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        let site = match what {
            "get" => Site::Store(StoreOp::Get(parse_key_kind(operand).ok_or_else(bad)?), subject),
            "scan" => Site::Store(StoreOp::Scan(parse_key_kind(operand).ok_or_else(bad)?), subject),
            "commit" => Site::Store(StoreOp::Commit(operand.parse().map_err(|_| bad())?), subject),
            "applied" => Site::Applied(operand.parse().map_err(|_| bad())?, subject),
            "in_flight" => Site::InFlight(operand.parse().map_err(|_| bad())?, subject),
            _ if subject.is_some() => return Err(bad()),
            "chat" => Site::Chat(TableId(numbered(rest, "table-").ok_or_else(bad)?)),
            "request" => Site::Request(rest.parse().map_err(|_| bad())?),
            "reply" => Site::Reply(rest.parse().map_err(|_| bad())?),
            "turn" => Site::Turn(UserId(numbered(rest, "user-").ok_or_else(bad)?)),
            "poll" => Site::Poll(UserId(numbered(rest, "user-").ok_or_else(bad)?)),
            "dealer" => Site::Dealer(TableId(numbered(rest, "table-").ok_or_else(bad)?)),
            "jackpot" if rest.is_empty() => Site::JackpotOp,
            "lock_probe" if rest.is_empty() => Site::LockProbe,
            "point" => Site::Point(rest.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        Ok(site)
    }
}

impl Serialize for Site {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Site {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Site, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One injected fault, as a run records it and `[[faults.schedule]]` spells it:
///
/// ```toml
/// [[faults.schedule]]
/// kind = "duplicate"
/// at = "turn:user-101"
/// nth = 3
/// copies = 2
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    pub kind: FaultKind,
    /// For faults at an instant (`partition`, `crash`): simulated ms since the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    /// For faults at an opportunity: the site …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Site>,
    /// … and which occurrence of it (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// How long, in ms: a slow call's extra latency, a partition's length, the downtime after
    /// a crash, a delayed duplicate's delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// A duplicate's copies (2 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
    /// The copies (numbered from 1; the first never) that carry a fresh request ID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fresh_copies: Vec<u32>,
    /// A reset's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<UserId>,
    /// A fault point's injected store failure (else it waits `ms`, or yields when `ms` is 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail: bool,
    /// A players↔engine partition's cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::faults::plan::NetMode>,
    /// A clock jump goes back (else forward).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub back: bool,
    /// A clock drift, in parts per million (+ fast, − slow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppm: Option<i64>,
}

/// A fault of one kind at one opportunity that the dice have not fired yet: what a roll
/// builds its [`ScheduledFault`] from, only when it fires (most rolls do not, and a fault
/// record clones its site).
#[derive(Clone, Copy, Debug)]
pub struct Unfired<'a> {
    kind: FaultKind,
    opportunity: &'a Opportunity,
}

impl<'a> Unfired<'a> {
    pub fn new(kind: FaultKind, opportunity: &'a Opportunity) -> Unfired<'a> {
        Unfired { kind, opportunity }
    }

    /// The fault, fired, without parameters.
    pub fn fire(self) -> ScheduledFault {
        ScheduledFault::at(self.kind, self.opportunity)
    }

    /// The fault, fired, lasting `ms`.
    pub fn with_ms(self, ms: u64) -> ScheduledFault {
        self.fire().with_ms(ms)
    }
}

impl ScheduledFault {
    /// A fault at an opportunity, without parameters.
    pub fn at(kind: FaultKind, opportunity: &Opportunity) -> ScheduledFault {
        ScheduledFault { at: Some(opportunity.site.clone()), nth: Some(opportunity.nth), ..ScheduledFault::bare(kind) }
    }

    /// A fault at an instant lasting `ms`.
    pub fn timed(kind: FaultKind, at_ms: u64, ms: u64) -> ScheduledFault {
        ScheduledFault { at_ms: Some(at_ms), ms: Some(ms), ..ScheduledFault::bare(kind) }
    }

    fn bare(kind: FaultKind) -> ScheduledFault {
        ScheduledFault {
            kind,
            at_ms: None,
            at: None,
            nth: None,
            ms: None,
            copies: None,
            fresh_copies: Vec::new(),
            by: None,
            fail: false,
            mode: None,
            back: false,
            ppm: None,
        }
    }

    /// The engine clock's drift for the whole run.
    pub fn drift(ppm: i64) -> ScheduledFault {
        ScheduledFault { ppm: Some(ppm), ..ScheduledFault::bare(FaultKind::ClockDrift) }
    }

    pub fn with_ms(mut self, ms: u64) -> ScheduledFault {
        self.ms = Some(ms);
        self
    }

    fn opportunity(&self) -> Option<Opportunity> {
        Some(Opportunity { site: self.at.clone()?, nth: self.nth? })
    }

    /// The fields of the world's faults (G): a players↔engine partition's `mode`, a clock
    /// jump's `back`, a drift's `ppm` (which comes alone: a drift lasts the whole run).
    fn validate_world_fields(&self) -> Result<(), String> {
        let kind = self.kind;
        if (kind == FaultKind::NetPartition) != self.mode.is_some() {
            let needs = if kind == FaultKind::NetPartition { "needs" } else { "takes no" };
            return Err(format!("`{kind}` {needs} mode"));
        }
        if self.back && kind != FaultKind::ClockJump {
            return Err(format!("`{kind}` takes no back"));
        }
        match (kind == FaultKind::ClockDrift, self.ppm, self.at_ms, &self.at) {
            (true, Some(_), None, None) | (false, None, _, _) => Ok(()),
            (true, ..) => Err(format!("`{kind}` takes ppm alone (it lasts the whole run)")),
            (false, Some(_), ..) => Err(format!("`{kind}` takes no ppm")),
        }
    }

    /// Checks that the entry names what its kind needs; `Err` says which field is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let kind = self.kind;
        self.validate_world_fields()?;
        if kind == FaultKind::ClockDrift {
            return Ok(());
        }
        let timed =
            matches!(kind, FaultKind::Partition | FaultKind::Crash | FaultKind::NetPartition | FaultKind::ClockJump);
        if timed {
            if self.at_ms.is_none() || self.ms.is_none() {
                return Err(format!("`{kind}` needs at_ms and ms"));
            }
            if self.at.is_some() || self.nth.is_some() {
                return Err(format!("`{kind}` happens at an instant: give at_ms, not at/nth"));
            }
            return Ok(());
        }
        let Some(opportunity) = self.opportunity() else {
            return Err(format!("`{kind}` needs at (the opportunity) and nth"));
        };
        if opportunity.nth == 0 {
            return Err("nth counts from 1".into());
        }
        if !site_allows(&opportunity.site, kind) {
            return Err(format!("`{kind}` cannot happen at `{}`", opportunity.site));
        }
        if let FaultKind::Point(_) = kind {
            return match (self.ms, self.fail) {
                (Some(_), false) | (None, true) => Ok(()),
                _ => Err(format!("`{kind}` takes ms (0 = a yield) or fail = true")),
            };
        }
        if self.fail {
            return Err(format!("`{kind}` takes no fail"));
        }
        let needs_ms = matches!(
            kind,
            FaultKind::SlowStore
                | FaultKind::SlowChat
                | FaultKind::CrashAfterTxn
                | FaultKind::PartitionMid2pc
                | FaultKind::DelayedDuplicate
                | FaultKind::ZombieWrite
                | FaultKind::CrashInFlight
        );
        if needs_ms != self.ms.is_some() {
            return Err(format!("`{kind}` {} ms", if needs_ms { "needs" } else { "takes no" }));
        }
        if (kind == FaultKind::Duplicate) != self.copies.is_some() {
            return Err(format!("`{kind}` {} copies", if kind == FaultKind::Duplicate { "needs" } else { "takes no" }));
        }
        if self.copies.is_some_and(|copies| copies < 2 || self.fresh_copies.iter().any(|&c| c < 2 || c > copies)) {
            return Err("copies: at least 2, and fresh_copies among 2..=copies".into());
        }
        if (kind == FaultKind::Reset) != self.by.is_some() {
            return Err(format!("`{kind}` {} by", if kind == FaultKind::Reset { "needs" } else { "takes no" }));
        }
        Ok(())
    }
}

/// Transactions a stale writer may race: hand saves (it toggles a spectator's seat) and
/// jackpot contributions (it tops the pools up from the house).
pub fn races_stale_writer(kind: TxnKind) -> bool {
    kind.is_hand_save() || kind == TxnKind::JackpotContribute
}

/// Which fault kinds an opportunity can carry.
fn site_allows(site: &Site, kind: FaultKind) -> bool {
    match site {
        Site::Store(op, _) => match kind {
            FaultKind::SlowStore | FaultKind::StoreFailure | FaultKind::StoreTimeout => true,
            FaultKind::LostReply => matches!(op, StoreOp::Commit(_)),
            FaultKind::RefundFailure => matches!(op, StoreOp::Commit(kind) if kind.is_refund()),
            FaultKind::StaleWriter => matches!(op, StoreOp::Commit(kind) if races_stale_writer(*kind)),
            FaultKind::CrashInFlight => matches!(op, StoreOp::Commit(kind) if kind.is_engine_commit()),
            _ => false,
        },
        Site::Applied(txn, _) => match kind {
            FaultKind::CrashAfterTxn => txn.is_engine_commit(),
            FaultKind::PartitionMid2pc => *txn == TxnKind::WalletReserve,
            _ => false,
        },
        Site::Chat(_) => kind == FaultKind::SlowChat,
        Site::Request(_) | Site::Reply(_) => kind == FaultKind::MessageLoss,
        Site::Turn(_) => matches!(
            kind,
            FaultKind::StaleAction
                | FaultKind::Duplicate
                | FaultKind::DelayedDuplicate
                | FaultKind::ReusedId
                | FaultKind::RacingReusedId
        ),
        Site::InFlight(..) => kind == FaultKind::ZombieWrite,
        Site::Poll(_) => kind == FaultKind::OutOfTurn,
        Site::Dealer(_) => matches!(kind, FaultKind::Reset | FaultKind::EmergencyReset),
        Site::JackpotOp => matches!(kind, FaultKind::Duplicate | FaultKind::ReusedId),
        Site::LockProbe => kind == FaultKind::OutOfOrderLock,
        Site::Point(point) => kind == FaultKind::Point(*point),
    }
}

/// A schedule ready for lookups: each opportunity's faults by kind, and the timed faults.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    at_opportunity: BTreeMap<(Opportunity, FaultKind), ScheduledFault>,
}

impl Schedule {
    pub fn new(faults: &[ScheduledFault]) -> Schedule {
        let at_opportunity = faults
            .iter()
            .filter_map(|fault| fault.opportunity().map(|opportunity| ((opportunity, fault.kind), fault.clone())))
            .collect();
        Schedule { at_opportunity }
    }

    /// The fault of `kind` scheduled at `opportunity`, if any.
    pub fn lookup(&self, opportunity: &Opportunity, kind: FaultKind) -> Option<&ScheduledFault> {
        self.at_opportunity.get(&(opportunity.clone(), kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_round_trip_through_their_text() {
        let sites = [
            Site::Store(StoreOp::Get(KeyKind::JackpotConfig), None),
            Site::Store(StoreOp::Get(KeyKind::Table), Some(Subject::Table(TableId(2)))),
            Site::Store(StoreOp::Scan(KeyKind::Reservation), None),
            Site::Store(StoreOp::Commit(TxnKind::WalletRollback), Some(Subject::User(UserId(4)))),
            Site::Store(StoreOp::Commit(TxnKind::DedupRecord), Some(Subject::Request(RequestId(9)))),
            Site::Applied(TxnKind::WalletCommit, None),
            Site::Applied(TxnKind::GameAct, Some(Subject::Table(TableId(1)))),
            Site::Chat(TableId(1)),
            Site::Request(Actor::Player(UserId(101))),
            Site::Reply(Actor::Dealer(TableId(2))),
            Site::Request(Actor::JackpotLoad),
            Site::Turn(UserId(101)),
            Site::Poll(UserId(7)),
            Site::Dealer(TableId(3)),
            Site::InFlight(TxnKind::GameAct, Some(Subject::Table(TableId(2)))),
            Site::InFlight(TxnKind::WalletReserve, None),
            Site::JackpotOp,
            Site::LockProbe,
            Site::Point(FaultPoint::CommitBeforeSave),
        ];
        for site in &sites {
            assert_eq!(site.to_string().parse::<Site>(), Ok(site.clone()), "{site}");
        }
        // Streams are seeded from a site's parts: a site read back from its text (a schedule)
        // folds as the original, and no two of these sites fold alike.
        let folded = |site: &Site| {
            let mut hash = WordHash::new();
            site.hash_into(&mut hash);
            hash.finish()
        };
        let hashes: std::collections::BTreeSet<u64> = sites.iter().map(folded).collect();
        assert_eq!(hashes.len(), sites.len());
        for site in &sites {
            assert_eq!(folded(&site.to_string().parse::<Site>().unwrap()), folded(site), "{site}");
        }
        assert_eq!(Site::Store(StoreOp::Get(KeyKind::JackpotConfig), None).to_string(), "get:jackpot_config");
        assert_eq!(
            Site::Store(StoreOp::Commit(TxnKind::GameAct), Some(Subject::Table(TableId(3)))).to_string(),
            "commit:game.act@table-3"
        );
        for bad in
            ["get:walet", "commit:wallet.reserv", "turn:101", "request:", "chat:x", "nowhere", "turn:user-1@table-1"]
        {
            assert!(bad.parse::<Site>().is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_name_what_their_kind_needs() {
        let turn = Opportunity { site: Site::Turn(UserId(1)), nth: 2 };
        let mut duplicate = ScheduledFault::at(FaultKind::Duplicate, &turn);
        assert!(duplicate.validate().is_err(), "copies missing");
        duplicate.copies = Some(3);
        duplicate.fresh_copies = vec![3];
        assert_eq!(duplicate.validate(), Ok(()));
        duplicate.fresh_copies = vec![1];
        assert!(duplicate.validate().is_err(), "the first copy keeps its ID");
        let refund = Opportunity { site: Site::Store(StoreOp::Commit(TxnKind::GameAct), None), nth: 1 };
        assert!(ScheduledFault::at(FaultKind::RefundFailure, &refund).validate().is_err(), "game.act refunds nothing");
        assert_eq!(ScheduledFault::timed(FaultKind::Crash, 100, 2_000).validate(), Ok(()));
        let toml = "kind = \"slow_store\"\nat = \"get:wallet\"\nnth = 4\nms = 900\n";
        let parsed: ScheduledFault = toml::from_str(toml).unwrap();
        assert_eq!(parsed.validate(), Ok(()));
        assert_eq!(toml::to_string(&parsed).unwrap(), toml);
    }

    #[test]
    fn the_world_faults_and_fault_points_name_what_they_need() {
        use crate::faults::plan::NetMode;
        let point = Opportunity { site: Site::Point(FaultPoint::DedupBeforeRecord), nth: 3 };
        let firing = ScheduledFault::at(FaultKind::Point(FaultPoint::DedupBeforeRecord), &point);
        assert!(firing.validate().is_err(), "a firing needs ms or fail");
        assert_eq!(firing.clone().with_ms(0).validate(), Ok(()));
        assert_eq!(ScheduledFault { fail: true, ..firing.clone() }.validate(), Ok(()));
        assert!(ScheduledFault { fail: true, ..firing.with_ms(5) }.validate().is_err(), "not both");
        let wrong = ScheduledFault::at(FaultKind::Point(FaultPoint::ResetBeforeSave), &point).with_ms(1);
        assert!(wrong.validate().is_err(), "a point fires only at its own site");
        let partition = ScheduledFault::timed(FaultKind::NetPartition, 100, 2_000);
        assert!(partition.validate().is_err(), "a players-engine partition needs its mode");
        assert_eq!(ScheduledFault { mode: Some(NetMode::Hold), ..partition }.validate(), Ok(()));
        let jump = ScheduledFault::timed(FaultKind::ClockJump, 100, 2_000);
        assert_eq!(ScheduledFault { back: true, ..jump }.validate(), Ok(()));
        assert_eq!(ScheduledFault::drift(-300).validate(), Ok(()));
        assert!(
            ScheduledFault { at_ms: Some(5), ..ScheduledFault::drift(10) }.validate().is_err(),
            "a drift lasts the run"
        );
        assert!(ScheduledFault { ppm: Some(1), ..ScheduledFault::timed(FaultKind::Crash, 1, 1) }.validate().is_err());
    }
}
