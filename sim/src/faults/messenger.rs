//! The messenger: the chat API (Telegram-like) as a simulated service reached from the engine
//! host. Fault model: every call takes 100–800 ms (the scenario's range), answers 429 with a
//! retry-after or fails with the scenario's probabilities, and while faults are on may be
//! slow by seconds (which matters only to designs that await chat inside a lock).
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

const HOST: &str = "engine";

pub(crate) struct Messenger {
    context: Arc<SimContext>,
}

impl Messenger {
    pub fn new(context: Arc<SimContext>) -> Messenger {
        Messenger { context }
    }

    async fn call(&self, what: String) -> Result<MessageId, ChatError> {
        let settings = &self.context.scenario.chat;
        let plan = &self.context.plan.settings;
        let faults_on = self.context.faults_on();
        let (latency_ms, slow_ms, answer, id) = {
            let mut state = self.context.state();
            let rng = state.stream(Stream::Chat);
            let latency_ms = draw_range(rng, settings.latency_ms);
            let slow_ms = if faults_on && rng.random_bool(plan.slow_chat_probability) {
                draw_range(rng, plan.slow_chat_ms)
            } else {
                0
            };
            let answer = if rng.random_bool(settings.retry_after_probability) {
                Err(ChatError::RetryAfter { retry_after_ms: draw_range(rng, settings.retry_after_ms) })
            } else if rng.random_bool(settings.failure_probability) {
                Err(ChatError::Failed { reason: "injected messenger failure".into() })
            } else {
                Ok(())
            };
            (latency_ms, slow_ms, answer, MessageId(rng.random()))
        };
        if slow_ms > 0 {
            self.context.fault(HOST, FaultKind::SlowChat, format!("{what} +{slow_ms} ms"));
        }
        tokio::time::sleep(Duration::from_millis(latency_ms + slow_ms)).await;
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
        Box::pin(self.call(format!("send {table} {text:?}")))
    }

    fn delete(&self, table: TableId, message: MessageId) -> ChatFuture<'_, ()> {
        Box::pin(async move { self.call(format!("delete {table} {}", message.0)).await.map(|_| ()) })
    }
}
