//! The historical engine designs, one file each: what the backend's engineers ran before the
//! hardened design, kept so the simulator can show what each loses. Each overrides only the
//! [`super::design::Design`] hooks where it went wrong, and its doc comment quotes the flaw
//! from the backend's own notes. `canaries` holds the planted designs that each break one
//! checked property on purpose, so a checker that goes blind is noticed. Nothing here is
//! reachable from the hardened engine.

pub(super) mod bool_flag;
pub(super) mod canaries;
pub(super) mod chat_in_lock;
pub(super) mod deduct_before_lock;
pub(super) mod seed_2pc;
pub(super) mod unlocked_reset;
pub(super) mod unversioned_jackpot;
