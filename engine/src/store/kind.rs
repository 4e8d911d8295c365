//! What a store transaction is for: [`TxnKind`], the typed label every [`super::Txn`] carries.
//!
//! The kinds are the contract between the engine, which labels its transactions, and whoever
//! watches the store — the simulator's fault injectors target refunds and hand saves by kind,
//! its checkers recognise action saves by kind, and scenarios name crash points by kind. The
//! text forms (`wallet.reserve`, `game.act`, …) are what traces and scenario files show; they
//! never change meaning. This module only names; it never decides what a transaction does.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! txn_kinds {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// The kind of a store transaction. Its text form is stable (see the module doc).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum TxnKind {
            $($(#[$doc])* #[serde(rename = $text)] $variant,)*
        }

        impl TxnKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [TxnKind] = &[$(TxnKind::$variant,)*];

            /// The text form, as traces and scenario files show it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(TxnKind::$variant => $text,)*
                }
            }
        }
    };
}

txn_kinds! {
    /// Opens a wallet (set-up).
    WalletOpen = "wallet.open",
    /// A credit fragment of a wallet or the house, merged into the transaction it belongs to.
    WalletCredit = "wallet.credit",
    /// A debit fragment of a wallet or the house, merged into the transaction it belongs to.
    WalletDebit = "wallet.debit",
    /// 2PC phase one: deduct and create a live reservation.
    WalletReserve = "wallet.reserve",
    /// 2PC phase two: a live reservation committed (usually merged into the hand's save).
    WalletCommit = "wallet.commit",
    /// A live reservation refunded on request.
    WalletRollback = "wallet.rollback",
    /// A live reservation refunded by the sweeper after its deadline.
    WalletExpire = "wallet.expire",
    /// A failed refund moved into the dead-letter queue.
    WalletDeadLetter = "wallet.dead_letter",
    /// A dead-letter entry paid to its wallet and deleted.
    WalletDlqRefund = "wallet.dlq_refund",
    /// A failed DLQ payment counted on its entry.
    WalletDlqAttempt = "wallet.dlq_attempt",
    /// A table record created.
    GameCreateTable = "game.create_table",
    /// `/start`: a new hand saved with its forced bets.
    GameStart = "game.start",
    /// A player action saved with its commit and settlement (the hardened design).
    GameAct = "game.act",
    /// A player action saved after a separate commit (the `seed_2pc` design).
    GameSave = "game.save",
    /// `/reset` or an emergency reset: the hand cancelled, committed chips returned.
    GameReset = "game.reset",
    /// The `bool_flag` design's processing flag raised or lowered.
    GameFlag = "game.flag",
    /// The `deduct_before_lock` design's direct debit.
    GameDeduct = "game.deduct",
    /// The `deduct_before_lock` design's compensating credit.
    GameCompensate = "game.compensate",
    /// A failed request's outcome recorded on its own.
    DedupRecord = "dedup.record",
    /// Processed-request records past their retention deleted.
    DedupPurge = "dedup.purge",
    /// Jackpot pool and config rows created.
    JackpotInit = "jackpot.init",
    /// Rake moved from the house into the pools.
    JackpotContribute = "jackpot.contribute",
    /// The pools' shares replaced.
    JackpotUpdateConfig = "jackpot.update_config",
    /// A pool's row lock taken for a win.
    JackpotWinLock = "jackpot.win.lock",
    /// A pool's row lock released without a payout.
    JackpotWinRelease = "jackpot.win.release",
    /// A win paid from its pool into a wallet, the row lock released.
    JackpotWinPay = "jackpot.win.pay",
    /// Rows written before any traffic, as a deployment provisions them.
    Provision = "setup",
    /// A write by another process from a stale view of a record (the simulator's stale
    /// writer; in production an operator's script or a second engine).
    StaleWriter = "sim.stale_writer",
}

impl TxnKind {
    /// Transactions that pay chips back to a wallet after an action did not go through:
    /// the targets of refund failures.
    pub fn is_refund(self) -> bool {
        matches!(
            self,
            TxnKind::WalletRollback | TxnKind::WalletExpire | TxnKind::WalletDlqRefund | TxnKind::GameCompensate
        )
    }

    /// Transactions that save a table's hand computed from an earlier read of the table (so
    /// a concurrent writer in between must make them fail their version check).
    pub fn is_hand_save(self) -> bool {
        matches!(self, TxnKind::GameAct | TxnKind::GameSave | TxnKind::GameReset | TxnKind::GameStart)
    }

    /// Kinds the engine commits as whole transactions: everything but the fragments that are
    /// only ever merged into another transaction (credits and debits) and the writes of others
    /// (provisioning, a stale writer). Only these can be followed by a crash point.
    pub fn is_engine_commit(self) -> bool {
        !matches!(self, TxnKind::WalletCredit | TxnKind::WalletDebit | TxnKind::Provision | TxnKind::StaleWriter)
    }

    /// Transactions that save one player action into its hand.
    pub fn is_action_save(self) -> bool {
        matches!(self, TxnKind::GameAct | TxnKind::GameSave)
    }
}

impl fmt::Display for TxnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not the name of a transaction kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown transaction kind `{0}`")]
pub struct UnknownTxnKind(pub String);

impl FromStr for TxnKind {
    type Err = UnknownTxnKind;

    fn from_str(text: &str) -> Result<TxnKind, UnknownTxnKind> {
        TxnKind::ALL.iter().copied().find(|kind| kind.as_str() == text).ok_or_else(|| UnknownTxnKind(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_are_unique_and_round_trip_through_serde_and_from_str() {
        for (i, kind) in TxnKind::ALL.iter().enumerate() {
            assert_eq!(kind.as_str().parse::<TxnKind>(), Ok(*kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::Value::String(kind.to_string()));
            assert!(TxnKind::ALL[..i].iter().all(|other| other.as_str() != kind.as_str()), "{kind} twice");
        }
        assert!("wallet.reserv".parse::<TxnKind>().is_err());
    }
}
