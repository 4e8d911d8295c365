//! The chat API (Telegram-like) as the engine sees it: board and turn messages, deletions,
//! winner announcements. It can be slow, fail, or answer "429, retry after N ms".
//!
//! Also the deferred chat plan: finalize collects the deletions and announcements it needs
//! while it holds the stage lock, and runs them after releasing it, so slow chat calls never
//! extend a critical section. This module never holds a lock and never touches chips.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::TableId;
use crate::metrics::Metrics;

/// Attempts at one chat call that keeps answering 429 before the plan gives up on it.
pub const CHAT_ATTEMPTS_MAX: u32 = 3;
/// Longest retry-after the plan honours, in milliseconds; longer waits give up.
pub const CHAT_RETRY_AFTER_MAX_MS: u64 = 5_000;

pub const METRIC_CHAT_CALLS_TOTAL: &str = "poker_chat_calls_total";

/// A chat message's identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub u64);

/// What a chat call can answer besides success.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatError {
    #[error("429: retry after {retry_after_ms} ms")]
    RetryAfter { retry_after_ms: u64 },
    #[error("chat call failed: {reason}")]
    Failed { reason: String },
}

/// A boxed chat future.
pub type ChatFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChatError>> + Send + 'a>>;

/// The chat service.
pub trait ChatApi: Send + Sync {
    /// Posts `text` in the table's chat.
    fn send(&self, table: TableId, text: String) -> ChatFuture<'_, MessageId>;
    /// Deletes a message.
    fn delete(&self, table: TableId, message: MessageId) -> ChatFuture<'_, ()>;
}

/// Chat work collected inside a critical section, to run after the lock is released.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPlan {
    pub table: Option<TableId>,
    pub deletions: Vec<MessageId>,
    pub announcements: Vec<String>,
}

/// What running a plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPlanReport {
    pub done: usize,
    pub retried: usize,
    pub gave_up: usize,
    /// The messages the announcements posted, in order.
    pub sent: Vec<MessageId>,
}

impl ChatPlan {
    pub fn for_table(table: TableId) -> ChatPlan {
        ChatPlan { table: Some(table), ..ChatPlan::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.deletions.is_empty() && self.announcements.is_empty()
    }

    /// Runs the plan: deletions first, then announcements, each retried after a 429 (up to
    /// [`CHAT_ATTEMPTS_MAX`] attempts, waiting the asked time). Failures are counted, not
    /// raised: chat is best effort and never affects chips.
    pub async fn execute(&self, chat: &dyn ChatApi, metrics: &Metrics) -> ChatPlanReport {
        let Some(table) = self.table else { return ChatPlanReport::default() };
        let mut report = ChatPlanReport::default();
        for &message in &self.deletions {
            let _ = with_retries(&mut report, metrics, "delete", || chat.delete(table, message)).await;
        }
        for text in &self.announcements {
            if let Some(message) = with_retries(&mut report, metrics, "send", || chat.send(table, text.clone())).await {
                report.sent.push(message);
            }
        }
        report
    }
}

async fn with_retries<'a, T, F>(report: &mut ChatPlanReport, metrics: &Metrics, call: &str, mut attempt: F) -> Option<T>
where
    F: FnMut() -> ChatFuture<'a, T>,
{
    for tries in 1..=CHAT_ATTEMPTS_MAX {
        match attempt().await {
            Ok(answer) => {
                metrics.increment(METRIC_CHAT_CALLS_TOTAL, &[("call", call), ("status", "success")]);
                report.done += 1;
                return Some(answer);
            }
            Err(ChatError::RetryAfter { retry_after_ms })
                if tries < CHAT_ATTEMPTS_MAX && retry_after_ms <= CHAT_RETRY_AFTER_MAX_MS =>
            {
                metrics.increment(METRIC_CHAT_CALLS_TOTAL, &[("call", call), ("status", "retry_after")]);
                report.retried += 1;
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
            }
            Err(_) => break,
        }
    }
    metrics.increment(METRIC_CHAT_CALLS_TOTAL, &[("call", call), ("status", "gave_up")]);
    report.gave_up += 1;
    None
}

/// A chat that answers at once and records what it was asked, for tests and quiet runs.
#[derive(Clone, Debug, Default)]
pub struct RecordingChat {
    log: Arc<Mutex<Vec<String>>>,
    next_id: Arc<Mutex<u64>>,
}

impl RecordingChat {
    /// Everything sent or deleted so far, as `send table-1: text` / `delete table-1: 7`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("chat log").clone()
    }
}

impl ChatApi for RecordingChat {
    fn send(&self, table: TableId, text: String) -> ChatFuture<'_, MessageId> {
        self.log.lock().expect("chat log").push(format!("send {table}: {text}"));
        let mut next = self.next_id.lock().expect("chat ids");
        *next += 1;
        let id = MessageId(*next);
        Box::pin(async move { Ok(id) })
    }

    fn delete(&self, table: TableId, message: MessageId) -> ChatFuture<'_, ()> {
        self.log.lock().expect("chat log").push(format!("delete {table}: {}", message.0));
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    /// Answers 429 (retry after 300 ms) to the first `busy` calls.
    struct RateLimited {
        inner: RecordingChat,
        busy: AtomicU32,
    }

    impl ChatApi for RateLimited {
        fn send(&self, table: TableId, text: String) -> ChatFuture<'_, MessageId> {
            if self.busy.load(Ordering::SeqCst) > 0 {
                self.busy.fetch_sub(1, Ordering::SeqCst);
                return Box::pin(async { Err(ChatError::RetryAfter { retry_after_ms: 300 }) });
            }
            self.inner.send(table, text)
        }
        fn delete(&self, table: TableId, message: MessageId) -> ChatFuture<'_, ()> {
            self.inner.delete(table, message)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_plan_runs_deletions_then_announcements_and_honours_retry_after() {
        let chat = RateLimited { inner: RecordingChat::default(), busy: AtomicU32::new(2) };
        let mut plan = ChatPlan::for_table(TableId(1));
        plan.deletions.push(MessageId(7));
        plan.announcements.push("p2 wins 40".into());
        let started = Instant::now();
        let report = plan.execute(&chat, &Metrics::new()).await;
        assert_eq!(report, ChatPlanReport { done: 2, retried: 2, gave_up: 0, sent: vec![MessageId(1)] });
        assert_eq!(started.elapsed(), Duration::from_millis(600), "two waits of 300 ms, on the paused clock");
        assert_eq!(chat.inner.log(), vec!["delete table-1: 7", "send table-1: p2 wins 40"]);

        let stubborn = RateLimited { inner: RecordingChat::default(), busy: AtomicU32::new(10) };
        let report = plan.execute(&stubborn, &Metrics::new()).await;
        assert_eq!(report.gave_up, 1, "gives up after {CHAT_ATTEMPTS_MAX} attempts");
    }
}
