use crate::ports::bus::{Acker, BusError, Delivery, EventBus, Subscription, retry_delay, topology};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// The in-process bus. Queues are unbounded channels; a delivery dropped without being settled
/// (its handler panicked or the consumer stopped) goes back to its queue, as RabbitMQ does with
/// unacknowledged messages. Everything is lost when the process exits: use RabbitMQ where that
/// matters.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

struct Inner {
    queues: HashMap<&'static str, Queue>,
    broadcast: broadcast::Sender<(String, Bytes)>,
    max_attempts: u32,
    dead: Mutex<HashMap<String, VecDeque<Bytes>>>,
}

struct Queue {
    /// Items sent and not yet received by a consumer.
    waiting: std::sync::atomic::AtomicU64,
    tx: mpsc::UnboundedSender<Item>,
    /// Shared by every consumer of the queue; whoever holds the lock takes the next item.
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>>,
}

struct Item {
    topic: String,
    payload: Bytes,
    attempt: u32,
}

const DEAD_LETTERS_KEPT: usize = 1000;

impl MemoryBus {
    /// A bus that dead-letters a delivery after `max_attempts` failed attempts.
    pub fn new(max_attempts: u32) -> Self {
        let queues = topology::QUEUES
            .iter()
            .map(|q| {
                let (tx, rx) = mpsc::unbounded_channel();
                (
                    q.name,
                    Queue {
                        waiting: std::sync::atomic::AtomicU64::new(0),
                        tx,
                        rx: Arc::new(tokio::sync::Mutex::new(rx)),
                    },
                )
            })
            .collect();
        let (broadcast, _) = broadcast::channel(4096);
        Self {
            inner: Arc::new(Inner {
                queues,
                broadcast,
                max_attempts: max_attempts.max(1),
                dead: Mutex::default(),
            }),
        }
    }
}

impl Inner {
    fn enqueue(&self, queue: &str, item: Item) {
        if let Some(q) = self.queues.get(queue) {
            q.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // The receiver lives as long as `self`, so sending cannot fail.
            let _ = q.tx.send(item);
        }
    }

    fn dead_letter(&self, queue: &str, payload: Bytes) {
        let mut dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
        let q = dead.entry(queue.to_owned()).or_default();
        if q.len() == DEAD_LETTERS_KEPT {
            q.pop_front();
        }
        q.push_back(payload);
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError> {
        for q in topology::QUEUES {
            if q.patterns.iter().any(|p| topology::matches(p, topic)) {
                self.inner.enqueue(
                    q.name,
                    Item {
                        topic: topic.to_owned(),
                        payload: payload.clone(),
                        attempt: 1,
                    },
                );
            }
        }
        // No subscriber is fine: broadcasts are not kept.
        let _ = self.inner.broadcast.send((topic.to_owned(), payload));
        Ok(())
    }

    async fn consume(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        let q = self
            .inner
            .queues
            .get(queue)
            .ok_or_else(|| BusError::UnknownQueue(queue.to_owned()))?;
        Ok(Box::new(QueueSubscription {
            queue: queue.to_owned(),
            rx: q.rx.clone(),
            inner: self.inner.clone(),
        }))
    }

    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(BroadcastSubscription {
            pattern: pattern.to_owned(),
            rx: self.inner.broadcast.subscribe(),
        }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn dead_letters(&self, queue: &str, max: usize) -> Result<Vec<Bytes>, BusError> {
        let dead = self.inner.dead.lock().unwrap_or_else(|p| p.into_inner());
        Ok(dead
            .get(queue)
            .map(|q| q.iter().take(max).cloned().collect())
            .unwrap_or_default())
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        let q = self
            .inner
            .queues
            .get(queue)
            .ok_or_else(|| BusError::UnknownQueue(queue.to_owned()))?;
        Ok(q.waiting.load(std::sync::atomic::Ordering::Relaxed))
    }
}

struct QueueSubscription {
    queue: String,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>>,
    inner: Arc<Inner>,
}

#[async_trait]
impl Subscription for QueueSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        let item = self.rx.lock().await.recv().await?;
        if let Some(q) = self.inner.queues.get(self.queue.as_str()) {
            q.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        Some(Delivery {
            topic: item.topic.clone(),
            payload: item.payload.clone(),
            attempt: item.attempt,
            acker: Some(Box::new(MemoryAcker {
                queue: self.queue.clone(),
                item: Some(item),
                inner: self.inner.clone(),
            })),
        })
    }
}

struct MemoryAcker {
    queue: String,
    /// `None` once settled.
    item: Option<Item>,
    inner: Arc<Inner>,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        self.item = None;
        Ok(())
    }

    async fn retry(mut self: Box<Self>, reason: &str) -> Result<(), BusError> {
        let Some(mut item) = self.item.take() else {
            return Ok(());
        };
        if item.attempt >= self.inner.max_attempts {
            tracing::error!(queue = %self.queue, topic = %item.topic, attempts = item.attempt, reason, "dead-lettering event after its last attempt");
            self.inner.dead_letter(&self.queue, item.payload);
            return Ok(());
        }
        let delay = retry_delay(item.attempt);
        tracing::warn!(queue = %self.queue, topic = %item.topic, attempt = item.attempt, ?delay, reason, "event handling failed; will retry");
        item.attempt += 1;
        let inner = self.inner.clone();
        let queue = self.queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.enqueue(&queue, item);
        });
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.inner.enqueue(&self.queue, item);
        }
    }
}

struct BroadcastSubscription {
    pattern: String,
    rx: broadcast::Receiver<(String, Bytes)>,
}

#[async_trait]
impl Subscription for BroadcastSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            match self.rx.recv().await {
                Ok((topic, payload)) if topology::matches(&self.pattern, &topic) => {
                    return Some(Delivery {
                        topic,
                        payload,
                        attempt: 1,
                        acker: None,
                    });
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "broadcast subscriber lagged");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
