//! The engine designs: the hardened one and the historical designs the operators migrated
//! away from, kept selectable so the simulator shows what each loses and performance reviews
//! can compare them (DESIGN.md §4, "Variants").
//!
//! A design is a [`Design`]: the few decisions in which the designs differ, as hooks the
//! flows call at fixed points. The trait's default methods are the hardened engine; each
//! historical design (in `designs/`, one file each, with the flaw quoted from the backend's
//! notes) overrides only the hooks where it went wrong. A design is chosen once, when the
//! engine is built ([`EngineVariant::design`]); the flows never ask which one runs.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::designs::{
    bool_flag, canaries, chat_in_lock, deduct_before_lock, seed_2pc, unlocked_reset, unversioned_jackpot,
};
use super::{ActionRequest, GameEngine, GameError};
use crate::dedup::DedupMode;
use crate::ids::{TableId, UserId};
use crate::jackpot::JackpotVariant;
use crate::locks::{LockGuard, LockOwner};
use crate::rules::{Chips, GameState};
use crate::store::{Guard, Reservation, TableRecord, Txn, TxnKind};
use crate::wallet::WalletError;

/// A boxed hook future.
pub(crate) type HookFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where an action's chips wait between the wallet and the table.
#[derive(Clone, Debug)]
pub(crate) enum Escrowed {
    /// The action puts no chips in (a check or a fold).
    Nothing,
    /// Phase one of the two-phase commit: a live reservation.
    Reserved(Reservation),
    /// Debited from the wallet directly, with nothing durable behind it (only
    /// `deduct_before_lock` escrows this way).
    Deducted(Chips),
}

/// The decisions in which the engine designs differ. Defaults: the hardened engine.
pub(crate) trait Design: Send + Sync {
    /// Where processed request IDs are kept.
    fn dedup_mode(&self) -> DedupMode {
        DedupMode::default()
    }

    /// How the jackpot updates its pools.
    fn jackpot_variant(&self) -> JackpotVariant {
        JackpotVariant::Optimistic
    }

    /// Moves an action's `chips` out of the wallet, outside every lock: a reservation.
    fn escrow<'a>(
        &'a self,
        engine: &'a GameEngine,
        request: &'a ActionRequest,
        chips: Chips,
    ) -> HookFuture<'a, Result<Escrowed, GameError>> {
        Box::pin(async move {
            if chips == 0 {
                return Ok(Escrowed::Nothing);
            }
            let reservation = engine.wallet.reserve(request.user, request.table, request.request, chips).await?;
            Ok(Escrowed::Reserved(reservation))
        })
    }

    /// Keeps concurrent actions at one table apart: the action locks. When they cannot be
    /// had, a reservation is left live for the sweeper to refund at its deadline.
    fn exclude<'a>(
        &'a self,
        engine: &'a GameEngine,
        owner: &'a LockOwner,
        request: &'a ActionRequest,
        _escrowed: &'a Escrowed,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(engine.action_locks(owner, request))
    }

    /// Gives an action's chips back after it failed: the compensating refund of the
    /// reservation (to the DLQ if the refund fails; a committed reservation is left alone).
    fn compensate<'a>(
        &'a self,
        engine: &'a GameEngine,
        _request: &'a ActionRequest,
        escrowed: &'a Escrowed,
    ) -> HookFuture<'a, ()> {
        Box::pin(async move {
            match escrowed {
                Escrowed::Nothing => {}
                Escrowed::Reserved(reservation) => match engine.wallet.rollback(reservation.id).await {
                    Ok(_) | Err(WalletError::AlreadyFinal { .. }) => {}
                    Err(error) => tracing::warn!(%error, "compensating refund failed; the sweeper will retry"),
                },
                Escrowed::Deducted(_) => unreachable!("only the deduct_before_lock design debits directly"),
            }
        })
    }

    /// Whether saves of the table and of the wallets it credits carry a version check.
    fn save_guard(&self) -> Guard {
        Guard::Versioned
    }

    /// The kind of the transaction that saves an action.
    fn action_save_kind(&self) -> TxnKind {
        TxnKind::GameAct
    }

    /// Commits the action's reservation: merged into the save `txn`, one atomic step.
    fn commit_reservation<'a>(
        &'a self,
        engine: &'a GameEngine,
        txn: Txn,
        reservation: &'a Reservation,
    ) -> HookFuture<'a, Result<Txn, GameError>> {
        Box::pin(async move {
            let (commit, _) = engine.wallet.commit_txn(reservation.id).await?;
            Ok(txn.merge(commit))
        })
    }

    /// What a save of an action or a reset changes in the table record besides the hand:
    /// nothing.
    fn on_save(&self, _record: &mut TableRecord) {}

    /// Runs on the hand right after an action applied to it: nothing.
    fn after_apply(&self, _game: &mut GameState) {}

    /// The user whose wallet is credited with the chips coming back to hand position
    /// `position` of `hand_seats`: that seat's.
    fn payee(&self, hand_seats: &[UserId], position: usize) -> UserId {
        hand_seats[position]
    }

    /// What the house is credited when a hand's `rake` is settled: the rake.
    fn house_credit(&self, rake: Chips) -> Chips {
        rake
    }

    /// The balance `user`, seated at `record`'s table, is told: its wallet's, as read from
    /// the store.
    fn balance_answer(&self, wallet: Chips, _record: &TableRecord, _user: UserId) -> Chips {
        wallet
    }

    /// Runs after an action failed inside its critical section, before its compensation.
    fn after_failed_action<'a>(&'a self, _engine: &'a GameEngine, _table: TableId) -> HookFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Ends a critical section before its chat and jackpot work: releases `guards` and keeps
    /// nothing.
    fn release(&self, guards: Vec<LockGuard>) -> Vec<LockGuard> {
        drop(guards);
        Vec::new()
    }

    /// The locks a reset runs under: the stage lock, then the table write lock.
    fn reset_locks<'a>(
        &'a self,
        engine: &'a GameEngine,
        owner: &'a LockOwner,
        table: TableId,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(engine.stage_lock(owner, table))
    }

    /// Whether a reset captures the table's version before mutating (and guards its credits).
    fn reset_guard(&self) -> Guard {
        Guard::Versioned
    }
}

/// The hardened engine: every hook at its default.
struct Hardened;

impl Design for Hardened {}

/// The engine designs the simulator can run: the hardened one, and the historical designs the
/// operators migrated away from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineVariant {
    /// 2PC with commit + save in one transaction, durable dedup, locks, versioned saves,
    /// reset under the stage lock, chat after release.
    #[default]
    Hardened,
    /// The wallet is debited before the table lock; a failed save is compensated by a plain
    /// credit with no dead-letter queue behind it.
    DeductBeforeLock,
    /// A plain "processing" flag instead of a lock, no deduplication, unguarded saves: the
    /// concurrent-fold bug.
    BoolFlag,
    /// Reset outside the stage lock, without capturing the version.
    UnlockedReset,
    /// The jackpot's read-modify-write without a version check.
    UnversionedJackpot,
    /// Chat calls awaited while the stage or table lock is held.
    ChatInLock,
    /// The 2PC as first designed: commit and save as two separate store writes, dedup in
    /// memory with a 5 s TTL.
    #[serde(rename = "seed_2pc")]
    Seed2pc,
    /// Canary (chips): the house is credited one chip more than each hand's rake.
    CanaryHouseChip,
    /// Canary (per-wallet ledger): chips coming back to a seat go to the next seat's wallet.
    CanaryWrongWallet,
    /// Canary (at most once): no request deduplication at all, everything else hardened.
    CanaryNoDedup,
    /// Canary (versions): table saves without their version check, everything else hardened.
    CanaryUnguardedSave,
    /// Canary (lock order): the fine action locks taken in reverse hierarchy order.
    CanaryLockOrder,
    /// Canary (lock exclusivity): the action locks released before the critical section.
    CanaryEarlyRelease,
    /// Canary (rules): a split pot's odd chip goes to the last winner, not the first.
    CanaryOddChip,
    /// Canary (reads): a balance read counts the chips in play as still in the wallet.
    CanaryTotalBalance,
}

impl EngineVariant {
    pub const ALL: [EngineVariant; 7] = [
        EngineVariant::Hardened,
        EngineVariant::DeductBeforeLock,
        EngineVariant::BoolFlag,
        EngineVariant::UnlockedReset,
        EngineVariant::UnversionedJackpot,
        EngineVariant::ChatInLock,
        EngineVariant::Seed2pc,
    ];

    /// The planted designs, one per checker family, each breaking exactly that property: a
    /// run of one that passes means its checker went blind (budgets: `ChatInLock`).
    pub const CANARIES: [EngineVariant; 8] = [
        EngineVariant::CanaryHouseChip,
        EngineVariant::CanaryWrongWallet,
        EngineVariant::CanaryNoDedup,
        EngineVariant::CanaryUnguardedSave,
        EngineVariant::CanaryLockOrder,
        EngineVariant::CanaryEarlyRelease,
        EngineVariant::CanaryOddChip,
        EngineVariant::CanaryTotalBalance,
    ];

    /// Whether this is a planted canary rather than the hardened or a historical design.
    pub fn is_canary(self) -> bool {
        EngineVariant::CANARIES.contains(&self)
    }

    /// The design's decisions, chosen once when an engine is built.
    pub(crate) fn design(self) -> Box<dyn Design> {
        match self {
            EngineVariant::Hardened => Box::new(Hardened),
            EngineVariant::DeductBeforeLock => Box::new(deduct_before_lock::DeductBeforeLock),
            EngineVariant::BoolFlag => Box::new(bool_flag::BoolFlag),
            EngineVariant::UnlockedReset => Box::new(unlocked_reset::UnlockedReset),
            EngineVariant::UnversionedJackpot => Box::new(unversioned_jackpot::UnversionedJackpot),
            EngineVariant::ChatInLock => Box::new(chat_in_lock::ChatInLock),
            EngineVariant::Seed2pc => Box::new(seed_2pc::Seed2pc),
            EngineVariant::CanaryHouseChip => Box::new(canaries::HouseChip),
            EngineVariant::CanaryWrongWallet => Box::new(canaries::WrongWallet),
            EngineVariant::CanaryNoDedup => Box::new(canaries::NoDedup),
            EngineVariant::CanaryUnguardedSave => Box::new(canaries::UnguardedSave),
            EngineVariant::CanaryLockOrder => Box::new(canaries::LockOrder),
            EngineVariant::CanaryEarlyRelease => Box::new(canaries::EarlyRelease),
            EngineVariant::CanaryOddChip => Box::new(canaries::OddChip),
            EngineVariant::CanaryTotalBalance => Box::new(canaries::TotalBalance),
        }
    }

    /// Where this design keeps processed request IDs.
    pub fn dedup_mode(self) -> DedupMode {
        self.design().dedup_mode()
    }

    /// How this design updates the jackpot.
    pub fn jackpot_variant(self) -> JackpotVariant {
        self.design().jackpot_variant()
    }
}
