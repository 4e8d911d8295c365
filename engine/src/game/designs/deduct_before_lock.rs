//! `deduct_before_lock`: the wallet is debited directly before the table lock, and a failed
//! save is compensated by a plain credit with no reservation, sweeper or dead-letter queue
//! behind it. From the two-phase-commit notes:
//!
//! > **Race Condition**: Previous implementation deducted chips from wallet *before*
//! > acquiring the table lock, causing: **Money loss** if game state disappeared between
//! > deduction and save; **Incomplete rollbacks** if compensation credits failed; **No audit
//! > trail** for failed transactions.

use crate::game::design::{Design, Escrowed, HookFuture};
use crate::game::{ActionRequest, GameEngine, GameError};
use crate::locks::{LockGuard, LockOwner};
use crate::rules::Chips;
use crate::store::TxnKind;

pub(crate) struct DeductBeforeLock;

impl Design for DeductBeforeLock {
    /// A direct debit, guarded by the wallet's version: nothing durable says what it was for.
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
            engine.wallet.debit(request.user, chips, TxnKind::GameDeduct).await?;
            Ok(Escrowed::Deducted(chips))
        })
    }

    /// The action locks; a debit has no sweeper behind it, so a lock timeout credits it back
    /// at once.
    fn exclude<'a>(
        &'a self,
        engine: &'a GameEngine,
        owner: &'a LockOwner,
        request: &'a ActionRequest,
        escrowed: &'a Escrowed,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(async move {
            let locked = engine.action_locks(owner, request).await;
            if locked.is_err() {
                self.compensate(engine, request, escrowed).await;
            }
            locked
        })
    }

    /// A plain credit that nothing retries: if it fails, the chips are gone.
    fn compensate<'a>(
        &'a self,
        engine: &'a GameEngine,
        request: &'a ActionRequest,
        escrowed: &'a Escrowed,
    ) -> HookFuture<'a, ()> {
        Box::pin(async move {
            let Escrowed::Deducted(chips) = escrowed else { return };
            if let Err(error) = engine.wallet.credit(request.user, *chips, TxnKind::GameCompensate).await {
                tracing::warn!(%error, chips, "compensation credit failed: these chips are lost");
            }
        })
    }
}
