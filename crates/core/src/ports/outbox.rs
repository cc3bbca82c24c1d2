//! The transactional outbox's port: the events a change writes in its own transaction, and
//! what the relay ([`crate::outbox::run_relay`]) needs to read and clear them.

use crate::events::Event;
use crate::ports::StoreError;
use async_trait::async_trait;

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
