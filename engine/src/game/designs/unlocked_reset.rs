//! `unlocked_reset`: `/reset` and the emergency reset run outside the stage lock and save
//! without capturing the version they read. From the lock contention notes:
//!
//! > Before the remediation, `_reset_core_game_state` reloaded and persisted hand state
//! > outside of the stage lock. Parallel `/reset` or `/start` invocations could therefore
//! > overwrite the persisted version without detecting conflicts.

use crate::game::design::{Design, HookFuture};
use crate::game::{GameEngine, GameError};
use crate::ids::TableId;
use crate::locks::{LockGuard, LockOwner};
use crate::store::Guard;

pub(crate) struct UnlockedReset;

impl Design for UnlockedReset {
    fn reset_locks<'a>(
        &'a self,
        _engine: &'a GameEngine,
        _owner: &'a LockOwner,
        _table: TableId,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn reset_guard(&self) -> Guard {
        Guard::Unguarded
    }
}
