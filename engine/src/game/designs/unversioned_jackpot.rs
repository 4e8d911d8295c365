//! `unversioned_jackpot`: the jackpot's contribution as a read-modify-write of the pools with
//! no version check, so overlapping contributions overwrite each other's increments (the
//! contribution itself is `JackpotService`'s `Unversioned` variant, in `jackpot/unversioned.rs`).
//! From the jackpot concurrency notes, the fix it predates:
//!
//! > Each jackpot record includes a `version` field that increments on every update. Before
//! > any update, the current version is stored. After the update, the version is verified to
//! > ensure no concurrent modifications. If version mismatch detected, operation is retried
//! > with exponential backoff.

use crate::game::design::Design;
use crate::jackpot::JackpotVariant;

pub(crate) struct UnversionedJackpot;

impl Design for UnversionedJackpot {
    fn jackpot_variant(&self) -> JackpotVariant {
        JackpotVariant::Unversioned
    }
}
