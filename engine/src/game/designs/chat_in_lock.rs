//! `chat_in_lock`: the chat deletions and announcements (and the jackpot contribution) of a
//! hand are awaited while the stage or table lock is still held. From the lock contention
//! notes:
//!
//! > The most time-consuming operations inside these guards were: Telegram API calls when
//! > deleting board/turn messages and announcing winners; Redis-bound wallet updates and
//! > post-hand stat reporting. … Because all of these were awaited while the `stage:<chat>`
//! > lock was held, parallel requests (for example multiple `/start` invocations) quickly
//! > exhausted the 10-second timeout and triggered repeated retries.

use crate::game::design::Design;
use crate::locks::LockGuard;

pub(crate) struct ChatInLock;

impl Design for ChatInLock {
    /// Keeps every lock held through the work after the hand.
    fn release(&self, guards: Vec<LockGuard>) -> Vec<LockGuard> {
        guards
    }
}
