//! The historical jackpot contribution ([`JackpotVariant::Unversioned`]): the pools are read
//! once and written back without a version check, so two contributions that overlap overwrite
//! each other's increments and those chips vanish. Kept on purpose, apart from the hardened
//! path, so the simulator's checkers can prove they catch it; the engine design
//! `unversioned_jackpot` selects it.
//!
//! From the backend's jackpot notes, the fix it predates: "Before any update, the current
//! version is stored. After the update, the version is verified to ensure no concurrent
//! modifications. If version mismatch detected, operation is retried with exponential backoff."

use super::{
    ContributeOutcome, Contribution, JackpotError, JackpotService, OPERATION_CONTRIBUTE, RakeSplit, split_rake,
};
use crate::rules::Chips;
use crate::store::{JackpotPool, Key, Txn, TxnKind, Value};

impl JackpotService {
    /// Pools read once, written back unguarded; only the House debit is version-checked and
    /// retried (the rake left the pot correctly in the original). Not deduplicated either.
    pub(super) async fn contribute_unversioned(
        &self,
        contribution: &Contribution,
        rake: Chips,
    ) -> Result<ContributeOutcome, JackpotError> {
        let (_, config) = self.read_config().await?;
        let split = split_rake(rake, &config.share_bps);
        let needed = split.to_pools();
        let mut stale_pools = Vec::new();
        for &(group, share) in split.shares.iter().filter(|(_, share)| *share > 0) {
            stale_pools.push((self.read_pool(group).await?.value.as_pool().clone(), share));
        }
        let stale = StaleContribution { contribution, rake, split, needed, pools: stale_pools };
        self.retry_on_conflict(OPERATION_CONTRIBUTE, |attempts| self.contribute_unversioned_attempt(&stale, attempts))
            .await
    }

    async fn contribute_unversioned_attempt(
        &self,
        stale: &StaleContribution<'_>,
        attempts: u32,
    ) -> Result<ContributeOutcome, JackpotError> {
        let house = self.wallet.read_house().await?;
        if house.chips < stale.needed {
            return Err(JackpotError::InsufficientHouse { needed: stale.needed, available: house.chips });
        }
        let outcome = ContributeOutcome {
            operation_id: stale.contribution.operation_id(),
            contribution: stale.contribution.clone(),
            rake: stale.rake,
            split: stale.split.clone(),
            attempts,
            duplicate: false,
        };
        if stale.needed == 0 {
            return Ok(outcome);
        }
        let now_ms = self.clock.now_ms();
        let mut txn = Txn::new(TxnKind::JackpotContribute).merge(house.debit_txn(stale.needed));
        for (pool, share) in &stale.pools {
            txn = txn.put(Key::Jackpot(pool.group), Value::Jackpot(pool.credited(*share, now_ms)));
        }
        self.store.commit(txn).await?;
        Ok(outcome)
    }
}

/// A contribution as the historical design prepared it: the pools as read once, before any
/// attempt.
struct StaleContribution<'a> {
    contribution: &'a Contribution,
    rake: Chips,
    split: RakeSplit,
    needed: Chips,
    pools: Vec<(JackpotPool, Chips)>,
}
