//! `seed_2pc`: the two-phase commit as first designed — the reservation is committed in one
//! store write and the game state saved in another, and processed request IDs are kept in the
//! engine's memory for 5 s. A crash or a failed save between the two writes loses the bet;
//! a retry after 5 s (or after a restart) is processed again. From the notes it came from:
//!
//! > Phase 2: Commit (Inside Table Lock) … 4. Commit reservation (mark as finalised)
//! > 5. Apply action to game state 6. Save with version check
//!
//! > `self._request_cache = {}  # Track processed requests`
//! > `self._request_cache_ttl = 5.0  # 5 seconds TTL`

use crate::dedup::{DedupMode, SEED_DEDUP_TTL_MS};
use crate::game::design::{Design, HookFuture};
use crate::game::{GameEngine, GameError};
use crate::store::{Reservation, Txn, TxnKind};

pub(crate) struct Seed2pc;

impl Design for Seed2pc {
    fn dedup_mode(&self) -> DedupMode {
        DedupMode::InMemoryTtl { ttl_ms: SEED_DEDUP_TTL_MS }
    }

    fn action_save_kind(&self) -> TxnKind {
        TxnKind::GameSave
    }

    /// The commit is its own store write, before the save.
    fn commit_reservation<'a>(
        &'a self,
        engine: &'a GameEngine,
        txn: Txn,
        reservation: &'a Reservation,
    ) -> HookFuture<'a, Result<Txn, GameError>> {
        Box::pin(async move {
            engine.wallet.commit(reservation.id, Txn::new(TxnKind::WalletCommit)).await?;
            Ok(txn)
        })
    }
}
