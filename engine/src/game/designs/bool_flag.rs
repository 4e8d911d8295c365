//! `bool_flag`: a plain "processing" flag on the table instead of a lock, no request
//! deduplication, and saves without a version check. From the concurrent-fold notes:
//!
//! > Players are losing $3 each time they fold to an all-in due to race conditions where
//! > multiple fold actions are processed simultaneously. The current `_processing_action`
//! > boolean flag is insufficient for true thread-safety. … Root causes: concurrent API
//! > calls; insufficient locking (simple boolean flag doesn't prevent concurrent state
//! > modifications); no request deduplication; non-atomic state changes.

use std::sync::Arc;

use crate::dedup::DedupMode;
use crate::game::design::{Design, Escrowed, HookFuture};
use crate::game::{ActionRequest, GameEngine, GameError, table_of};
use crate::ids::TableId;
use crate::locks::{LockGuard, LockOwner};
use crate::store::{Guard, Key, TableRecord, Txn, TxnKind, Value};

pub(crate) struct BoolFlag;

impl Design for BoolFlag {
    fn dedup_mode(&self) -> DedupMode {
        DedupMode::Off
    }

    /// The flag is read, then written — two separate store calls, so two copies of one action
    /// can both see it down and both go in. A copy that sees it up is refunded.
    fn exclude<'a>(
        &'a self,
        engine: &'a GameEngine,
        _owner: &'a LockOwner,
        request: &'a ActionRequest,
        escrowed: &'a Escrowed,
    ) -> HookFuture<'a, Result<Vec<LockGuard>, GameError>> {
        Box::pin(async move {
            if let Err(error) = raise_processing_flag(engine, request.table).await {
                self.compensate(engine, request, escrowed).await;
                return Err(error);
            }
            Ok(Vec::new())
        })
    }

    fn save_guard(&self) -> Guard {
        Guard::Unguarded
    }

    /// A save lowers the flag.
    fn on_save(&self, record: &mut TableRecord) {
        record.processing = false;
    }

    fn after_failed_action<'a>(&'a self, engine: &'a GameEngine, table: TableId) -> HookFuture<'a, ()> {
        Box::pin(lower_processing_flag(engine, table))
    }
}

async fn raise_processing_flag(engine: &GameEngine, table: TableId) -> Result<(), GameError> {
    let read = engine.read_table(table).await?;
    let mut record = table_of(&read).clone();
    if record.processing {
        return Err(GameError::InProgress);
    }
    record.processing = true;
    engine.store.commit(Txn::new(TxnKind::GameFlag).put(Key::Table(table), Value::Table(Arc::new(record)))).await?;
    Ok(())
}

async fn lower_processing_flag(engine: &GameEngine, table: TableId) {
    if let Ok(read) = engine.read_table(table).await {
        let mut record = table_of(&read).clone();
        record.processing = false;
        let txn = Txn::new(TxnKind::GameFlag).put(Key::Table(table), Value::Table(Arc::new(record)));
        let _ = engine.store.commit(txn).await;
    }
}
