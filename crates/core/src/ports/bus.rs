//! The event bus between services.
//!
//! Two kinds of consumption, because services need both:
//! - [`EventBus::consume`]: a *durable queue* from [`topology::QUEUES`]. Events wait in it while
//!   no consumer runs; several consumers share the work; each delivery is acknowledged after it
//!   was handled, retried with back-off when handling fails, and dead-lettered after
//!   `max_attempts`. The mail service reads `mail` this way.
//! - [`EventBus::subscribe`]: a *broadcast*: every subscriber gets every matching event while it
//!   is subscribed, nothing is kept for absent ones. Chat nodes learn of revoked sessions so.

use async_trait::async_trait;
use bytes::Bytes;

/// Errors of the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or did not confirm; nothing is known to be published.
    /// The broker client's error, or what the broker answered, is the source.
    #[error("bus unavailable")]
    Unavailable(#[source] crate::ports::BoxError),
    /// A queue that is not part of the topology was asked for.
    #[error("unknown queue {0}")]
    UnknownQueue(String),
}

/// The fixed set of durable queues and what they receive. Declared by every publisher and
/// consumer at connect time, so an event published before its consumer ever ran still waits.
pub mod topology {
    /// A durable queue and the topic patterns bound to it (`*` one word, `#` any words).
    pub struct Queue {
        /// Queue name.
        pub name: &'static str,
        /// Bound patterns.
        pub patterns: &'static [&'static str],
    }

    /// Mail requests for the mail service.
    pub const MAIL: &str = "mail";
    /// Profile changes for the chat service's copy of user profiles.
    pub const CHAT_USERS: &str = "chat.users";

    /// Every durable queue.
    pub const QUEUES: &[Queue] = &[
        Queue {
            name: MAIL,
            patterns: &["mail.#"],
        },
        Queue {
            name: CHAT_USERS,
            patterns: &["user.#"],
        },
    ];

    /// Whether topic `topic` matches AMQP-style `pattern`.
    pub fn matches(pattern: &str, topic: &str) -> bool {
        fn go(p: &[&str], t: &[&str]) -> bool {
            match (p.first(), t.first()) {
                (None, None) => true,
                (Some(&"#"), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
                (Some(&"*"), Some(_)) => go(&p[1..], &t[1..]),
                (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
                _ => false,
            }
        }
        let p: Vec<&str> = pattern.split('.').collect();
        let t: Vec<&str> = topic.split('.').collect();
        go(&p, &t)
    }
}

/// How long a failed delivery waits before attempt `attempt + 1`: 1 s, 5 s, 30 s, 2 min,
/// then every 5 min until `max_attempts`.
pub const RETRY_DELAYS: &[std::time::Duration] = &[
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(5),
    std::time::Duration::from_secs(30),
    std::time::Duration::from_secs(120),
    std::time::Duration::from_secs(300),
];

/// The delay after failed attempt number `attempt` (1-based).
pub fn retry_delay(attempt: u32) -> std::time::Duration {
    let i = (attempt.max(1) as usize - 1).min(RETRY_DELAYS.len() - 1);
    RETRY_DELAYS[i]
}

/// One received event.
pub struct Delivery {
    /// The topic it was published with.
    pub topic: String,
    /// The payload as published (JSON of an [`crate::events::Event`]).
    pub payload: Bytes,
    /// 1 for the first delivery, then 2, 3, ... after each retry.
    pub attempt: u32,
    /// Settles the delivery; `None` for broadcasts, which need no acknowledgement.
    pub acker: Option<Box<dyn Acker>>,
}

impl Delivery {
    /// Marks the event handled; it will not be delivered again.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acker {
            Some(a) => a.ack().await,
            None => Ok(()),
        }
    }

    /// Handling failed: deliver again after a back-off, or dead-letter it after the last
    /// attempt.
    pub async fn retry(self, reason: &str) -> Result<(), BusError> {
        match self.acker {
            Some(a) => a.retry(reason).await,
            None => Ok(()),
        }
    }
}

/// How an adapter settles a delivery.
#[async_trait]
pub trait Acker: Send + Sync {
    /// See [`Delivery::ack`].
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    /// See [`Delivery::retry`].
    async fn retry(self: Box<Self>, reason: &str) -> Result<(), BusError>;
}

/// A stream of deliveries.
#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; `None` once the bus is closed. Adapters reconnect behind it.
    async fn next(&mut self) -> Option<Delivery>;
}

/// Publishes events and hands them to consumers.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Publishes `payload` under `topic`; returns once the broker has taken responsibility for
    /// it (publisher confirm), so an `Ok` event is never lost.
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError>;

    /// Consumes the durable queue `queue` (one of [`topology::QUEUES`]).
    async fn consume(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Receives every event matching `pattern` from now on.
    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Succeeds when the broker answers.
    async fn ping(&self) -> Result<(), BusError>;

    /// Events dead-lettered from `queue` after their last attempt, oldest first (for
    /// operators and tests; adapters may cap how many they return).
    async fn dead_letters(&self, queue: &str, max: usize) -> Result<Vec<Bytes>, BusError>;

    /// Events waiting in the durable queue `queue` for a consumer (not counting those
    /// delivered and not yet settled), for `/metrics`.
    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError>;
}

/// An [`EventBus`] that counts what goes through it, for `/metrics`: `bus_published_total`
/// and `bus_publish_failed_total` by topic family, `bus_consumed_total` by queue (labels from
/// closed sets only).
pub struct MeteredBus(pub std::sync::Arc<dyn EventBus>);

/// The label of a topic: its first word if it is one ChatSync publishes, else `other`.
fn topic_label(topic: &str) -> &'static str {
    match topic.split('.').next() {
        Some("mail") => "mail",
        Some("user") => "user",
        Some("session") => "session",
        _ => "other",
    }
}

/// The label of a queue: its name if it is in the topology, else `other`.
fn queue_label(queue: &str) -> &'static str {
    topology::QUEUES
        .iter()
        .find(|q| q.name == queue)
        .map_or("other", |q| q.name)
}

struct Metered {
    inner: Box<dyn Subscription>,
    queue: &'static str,
}

#[async_trait]
impl Subscription for Metered {
    async fn next(&mut self) -> Option<Delivery> {
        let d = self.inner.next().await;
        if d.is_some() {
            metrics::counter!("bus_consumed_total", "queue" => self.queue).increment(1);
        }
        d
    }
}

#[async_trait]
impl EventBus for MeteredBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError> {
        let label = topic_label(topic);
        let r = self.0.publish(topic, payload).await;
        match &r {
            Ok(()) => metrics::counter!("bus_published_total", "topic" => label).increment(1),
            Err(_) => metrics::counter!("bus_publish_failed_total", "topic" => label).increment(1),
        }
        r
    }

    async fn consume(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        let inner = self.0.consume(queue).await?;
        Ok(Box::new(Metered {
            inner,
            queue: queue_label(queue),
        }))
    }

    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn Subscription>, BusError> {
        let inner = self.0.subscribe(pattern).await?;
        Ok(Box::new(Metered {
            inner,
            queue: "broadcast",
        }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.0.ping().await
    }

    async fn dead_letters(&self, queue: &str, max: usize) -> Result<Vec<Bytes>, BusError> {
        self.0.dead_letters(queue, max).await
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        self.0.queue_depth(queue).await
    }
}

#[cfg(test)]
mod tests {
    use super::topology::matches;

    #[test]
    fn topic_patterns_follow_amqp_rules() {
        assert!(matches("mail.#", "mail.send"));
        assert!(matches("mail.#", "mail"));
        assert!(matches("user.*", "user.upserted"));
        assert!(!matches("user.*", "user.a.b"));
        assert!(matches("#", "anything.at.all"));
        assert!(!matches("session.#", "user.upserted"));
    }
}
