//! The records the store holds. Each chip-holding record says how many chips it holds, so
//! that conservation can be checked by summing the store (see [`Value::chips_held`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::TimestampMs;
use crate::ids::{DlqId, RequestId, ReservationId, TableId, UserId};
use crate::rules::{Chips, GameState};

/// A player's wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    pub user: UserId,
    pub balance: Chips,
}

/// Where a reservation stands. `Live` is the only state that holds chips; every other state
/// is final and says where the chips went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Deducted from the wallet, not yet committed or refunded.
    Live,
    /// Committed into a table's hand.
    Committed,
    /// Refunded to the wallet on request.
    RolledBack,
    /// Refunded to the wallet by the sweeper after its deadline.
    Expired,
    /// The refund failed; the chips are owed through the dead-letter queue.
    DeadLettered,
}

impl ReservationState {
    pub fn is_final(self) -> bool {
        self != ReservationState::Live
    }
}

impl Reservation {
    /// The reservation after its one transition: from `Live` to the final state `to`, with
    /// everything else unchanged. Pure; the caller writes it.
    ///
    /// Panics (a broken invariant) if the reservation is not live or `to` is not final: a
    /// reservation leaves `Live` exactly once, and callers check the state they read first.
    pub fn transition(&self, to: ReservationState) -> Reservation {
        assert_eq!(
            self.state,
            ReservationState::Live,
            "invariant reservation_leaves_live_once: {} is already {:?}, asked to become {to:?}",
            self.id,
            self.state
        );
        assert!(to.is_final(), "invariant reservation_ends_final: {} asked to become {to:?}", self.id);
        let next = Reservation { state: to, ..self.clone() };
        debug_assert!(next.state.is_final() && next.amount == self.amount && next.request == self.request);
        next
    }
}

/// Phase one of the wallet's two-phase commit: chips deducted and set aside for one action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub user: UserId,
    pub table: TableId,
    /// The request the chips were reserved for.
    pub request: RequestId,
    pub amount: Chips,
    pub created_ms: TimestampMs,
    /// After this instant the reservation may only expire, never commit.
    pub deadline_ms: TimestampMs,
    pub state: ReservationState,
}

/// A refund that failed and is owed: the DLQ holds its chips until the processor pays them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqEntry {
    pub id: DlqId,
    pub reservation: Reservation,
    pub amount: Chips,
    pub error: String,
    pub created_ms: TimestampMs,
    /// Refund attempts made by the DLQ processor so far.
    pub attempts: u32,
}

/// One table: its current hand and the chips committed into it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRecord {
    pub table: TableId,
    /// Seated users; position `i` of a hand is `hand_seats[i]`.
    pub seats: Vec<UserId>,
    pub hand_seats: Vec<UserId>,
    /// Number of hands started at this table; a stale action names an older hand.
    pub hand_number: u64,
    pub game: Option<GameState>,
    /// Chips committed from wallets into the current hand and not yet paid out.
    pub escrow: Chips,
    /// The `bool_flag` variant's "processing" flag (unused by the hardened engine).
    pub processing: bool,
}

impl TableRecord {
    /// A table with its seated users and no hand yet.
    pub fn empty(table: TableId, seats: Vec<UserId>) -> TableRecord {
        TableRecord { table, seats, hand_seats: Vec::new(), hand_number: 0, game: None, escrow: 0, processing: false }
    }
}

/// The three jackpot pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JackpotGroup {
    Minor,
    Major,
    Mega,
}

impl JackpotGroup {
    pub const ALL: [JackpotGroup; 3] = [JackpotGroup::Minor, JackpotGroup::Major, JackpotGroup::Mega];

    pub fn name(self) -> &'static str {
        match self {
            JackpotGroup::Minor => "minor",
            JackpotGroup::Major => "major",
            JackpotGroup::Mega => "mega",
        }
    }
}

/// A jackpot pool row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JackpotPool {
    pub group: JackpotGroup,
    pub amount: Chips,
    /// Total ever contributed and won, for the accounting check (pool = contributions − wins).
    pub contributed_total: Chips,
    pub won_total: Chips,
    /// Who holds the pessimistic row lock, and until when (for debugging and expiry).
    pub lock_holder: Option<String>,
    pub lock_expires_ms: Option<TimestampMs>,
    pub last_modified_ms: TimestampMs,
}

impl JackpotPool {
    /// A new, empty pool of `group`, created at `now_ms`.
    pub fn empty(group: JackpotGroup, now_ms: TimestampMs) -> JackpotPool {
        JackpotPool {
            group,
            amount: 0,
            contributed_total: 0,
            won_total: 0,
            lock_holder: None,
            lock_expires_ms: None,
            last_modified_ms: now_ms,
        }
    }

    /// The pool after a contribution of `share` chips at `now_ms` (amount and the
    /// contributions' total both rise by it).
    pub fn credited(&self, share: Chips, now_ms: TimestampMs) -> JackpotPool {
        JackpotPool {
            amount: self.amount + share,
            contributed_total: self.contributed_total + share,
            last_modified_ms: now_ms,
            ..self.clone()
        }
    }
}

/// Jackpot configuration: each group's share of a pot's rake, in basis points of the rake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JackpotConfig {
    pub share_bps: Vec<(JackpotGroup, u32)>,
    pub last_modified_ms: TimestampMs,
}

/// A request that took effect (or failed), kept so a duplicate gets the first result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessedRequest {
    pub request: RequestId,
    pub user: UserId,
    /// Hash of the request's payload: the same ID with another payload is an error.
    pub payload_hash: u64,
    /// The first result, as JSON (an outcome or a typed error).
    pub outcome: serde_json::Value,
    pub processed_ms: TimestampMs,
    /// Kept at least until then: longer than any retry can arrive.
    pub keep_until_ms: TimestampMs,
}

/// Every value the store holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Wallet(Wallet),
    Reservation(Reservation),
    Table(Arc<TableRecord>),
    Jackpot(JackpotPool),
    JackpotConfig(JackpotConfig),
    Dlq(DlqEntry),
    /// The house's chips (rake not fed to the jackpot).
    House(Chips),
    Request(ProcessedRequest),
}

/// A key held a value of another kind: a broken invariant of the store's layout.
#[track_caller]
fn wrong_kind(expected: &str, found: &Value) -> ! {
    panic!("invariant key_holds_its_kind: a {expected} key holds {found:?}")
}

impl Value {
    /// The wallet this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_wallet(&self) -> &Wallet {
        match self {
            Value::Wallet(wallet) => wallet,
            other => wrong_kind("wallet", other),
        }
    }

    /// The reservation this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_reservation(&self) -> &Reservation {
        match self {
            Value::Reservation(reservation) => reservation,
            other => wrong_kind("reservation", other),
        }
    }

    /// The table record this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_table(&self) -> &TableRecord {
        match self {
            Value::Table(table) => table,
            other => wrong_kind("table", other),
        }
    }

    /// The jackpot pool this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_pool(&self) -> &JackpotPool {
        match self {
            Value::Jackpot(pool) => pool,
            other => wrong_kind("jackpot", other),
        }
    }

    /// The jackpot config this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_jackpot_config(&self) -> &JackpotConfig {
        match self {
            Value::JackpotConfig(config) => config,
            other => wrong_kind("jackpot config", other),
        }
    }

    /// The dead-letter entry this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_dlq(&self) -> &DlqEntry {
        match self {
            Value::Dlq(entry) => entry,
            other => wrong_kind("dlq", other),
        }
    }

    /// The house's chips this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_house(&self) -> Chips {
        match self {
            Value::House(chips) => *chips,
            other => wrong_kind("house", other),
        }
    }

    /// The processed request this value is. Panics (a broken invariant) if it is another kind.
    #[track_caller]
    pub fn as_request(&self) -> &ProcessedRequest {
        match self {
            Value::Request(record) => record,
            other => wrong_kind("request", other),
        }
    }

    /// Chips this record holds. Every chip of the system is held by exactly one record.
    pub fn chips_held(&self) -> Chips {
        match self {
            Value::Wallet(w) => w.balance,
            Value::Reservation(r) if r.state == ReservationState::Live => r.amount,
            Value::Reservation(_) => 0,
            Value::Table(t) => t.escrow,
            Value::Jackpot(p) => p.amount,
            Value::Dlq(d) => d.amount,
            Value::House(chips) => *chips,
            Value::JackpotConfig(_) | Value::Request(_) => 0,
        }
    }
}
