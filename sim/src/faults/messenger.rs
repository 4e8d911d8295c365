//! The messenger: the chat API (Telegram-like) as a simulated service reached from the engine
//! host. Model: every call takes the scenario's latency (100–800 ms uniform by default, or a
//! distribution) and answers 429 with a
//! retry-after or fails with the scenario's probabilities, in both phases. Fault: while faults
//! are on, a call may be slow by seconds (which matters only to designs that await chat inside
//! a lock), at a `chat` opportunity of the schedule or the chat-fault dice.
//!
//! Chat is best effort and never holds chips; the messenger only decides delays and answers.

use std::sync::Arc;
use std::time::Duration;

use engine::chat::{ChatApi, ChatError, ChatFuture, MessageId};
use engine::ids::TableId;
use rand::Rng;

use crate::context::{SimContext, Stream};
use crate::faults::kind::FaultKind;
use crate::faults::plan::draw_range;
use crate::faults::schedule::Site;

const HOST: &str = "engine";

pub(crate) struct Messenger {
    context: Arc<SimContext>,
}

impl Messenger {
    pub fn new(context: Arc<SimContext>) -> Messenger {
        Messenger { context }
    }

    async fn call(&self, table: TableId, what: String) -> Result<MessageId, ChatError> {
        let settings = &self.context.scenario.chat;
        let plan = &self.context.plan.settings;
        let (opportunity, chat_stream) = self.context.opportunity_with_stream(Site::Chat(table), "chat");
        let (latency_us, answer, id) = {
            let rng = &mut chat_stream.rng();
            let latency_us = match &settings.latency {
                Some(latency) => latency.sample_us(rng),
                None => draw_range(rng, settings.latency_ms) * 1_000,
            };
            let answer = if rng.random_bool(settings.retry_after_probability) {
                Err(ChatError::RetryAfter { retry_after_ms: draw_range(rng, settings.retry_after_ms) })
            } else if rng.random_bool(settings.failure_probability) {
                Err(ChatError::Failed { reason: "injected messenger failure".into() })
            } else {
                Ok(())
            };
            (latency_us, answer, MessageId(rng.random()))
        };
        let slow_ms = self
            .context
            .decide(&opportunity, FaultKind::SlowChat, Stream::ChatFaults, |rng, fault| {
                rng.random_bool(plan.slow_chat_probability).then(|| fault.with_ms(draw_range(rng, plan.slow_chat_ms)))
            })
            .and_then(|fault| fault.ms)
            .unwrap_or(0);
        if slow_ms > 0 {
            self.context.fault(HOST, FaultKind::SlowChat, format!("{what} +{slow_ms} ms"));
        }
        self.context.sleep(Duration::from_micros(latency_us) + Duration::from_millis(slow_ms)).await;
        match answer {
            Ok(()) => {
                self.context.trace(HOST, "chat", format!("{what} ok"));
                Ok(id)
            }
            Err(error) => {
                let kind = if matches!(error, ChatError::RetryAfter { .. }) {
                    FaultKind::Chat429
                } else {
                    FaultKind::ChatFailure
                };
                self.context.fault(HOST, kind, format!("{what}: {error}"));
                Err(error)
            }
        }
    }
}

impl ChatApi for Messenger {
    fn send(&self, table: TableId, text: String) -> ChatFuture<'_, MessageId> {
        Box::pin(self.call(table, format!("send {table} {text:?}")))
    }

    fn delete(&self, table: TableId, message: MessageId) -> ChatFuture<'_, ()> {
        Box::pin(async move { self.call(table, format!("delete {table} {}", message.0)).await.map(|_| ()) })
    }
}
