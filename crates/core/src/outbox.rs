//! Transactional outbox: a service writes the events of a change in the same database
//! transaction as the change, and [`run_relay`] publishes them afterwards. So an event is
//! published if and only if its change committed, even when the broker is down at the time
//! (the relay keeps retrying) or the process dies in between (the rows are still there).

use crate::events::Event;
use crate::ports::StoreError;
use crate::ports::bus::EventBus;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// An event waiting to be published.
#[derive(Clone, PartialEq)]
pub struct OutboxMessage {
    /// Bus topic.
    pub topic: String,
    /// JSON payload.
    pub payload: String,
}

/// Shows the topic and the payload's size only: a `mail.send` payload carries a one-time
/// code, and codes never go to logs (SPEC §8).
impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("topic", &self.topic)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

impl OutboxMessage {
    /// The outbox row for `event`.
    pub fn of<E: Event>(event: &E) -> Self {
        Self {
            topic: E::TOPIC.to_owned(),
            // Serialising our own plain structs cannot fail: no maps with non-string keys.
            payload: serde_json::to_string(event).unwrap_or_default(),
        }
    }
}

/// A stored outbox row.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    /// Row id, increasing in write order.
    pub id: i64,
    /// The message.
    pub message: OutboxMessage,
}

/// Reading and clearing the outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Oldest pending rows. Concurrent relays on PostgreSQL take disjoint rows.
    async fn pending(&self, limit: u32) -> Result<Vec<OutboxRow>, StoreError>;
    /// Deletes published rows.
    async fn remove(&self, ids: &[i64]) -> Result<(), StoreError>;
}

/// Publishes pending outbox rows until `shutdown`. `wake` is notified after each write so
/// that events leave at once; the timer only catches up after failures and restarts.
pub async fn run_relay(
    store: Arc<dyn OutboxStore>,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match relay_once(&*store, &*bus).await {
            Ok(n) => {
                backoff = Duration::from_millis(200);
                if n > 0 {
                    continue; // maybe more waiting
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay failed; will retry");
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                // One last pass so events written just before shutdown leave now.
                let _ = relay_once(&*store, &*bus).await;
                return;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(backoff.max(Duration::from_secs(1))) => {}
        }
    }
}

/// Publishes one batch; returns how many rows were published.
pub async fn relay_once(store: &dyn OutboxStore, bus: &dyn EventBus) -> anyhow::Result<usize> {
    let rows = store.pending(100).await?;
    let mut done = Vec::with_capacity(rows.len());
    let mut failure = None;
    for row in &rows {
        match bus
            .publish(&row.message.topic, Bytes::from(row.message.payload.clone()))
            .await
        {
            Ok(()) => done.push(row.id),
            Err(e) => {
                failure = Some(e);
                break; // keep order: do not publish later rows before this one
            }
        }
    }
    if !done.is_empty() {
        store.remove(&done).await?;
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(done.len()),
    }
}
