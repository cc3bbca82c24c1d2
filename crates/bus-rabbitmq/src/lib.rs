//! The RabbitMQ [`EventBus`].
//!
//! Topology (declared by every publisher and consumer, so order of start-up does not matter):
//! - one durable topic exchange (`bus.exchange`) that every event is published to, persistent,
//!   with publisher confirms; the topic travels as the routing key and in an `x-topic` header;
//! - per queue `Q` of [`topology::QUEUES`]: `Q` bound to its patterns; retry queues
//!   `Q.retry.<n>s`, one per back-off step, whose messages expire back into `Q`; and `Q.dlq`,
//!   where a delivery goes after `max_attempts`;
//! - per broadcast subscriber: an exclusive, auto-deleted, server-named queue.
//!
//! Consumers acknowledge manually, after handling. If the connection drops, unacknowledged
//! deliveries return to their queue (the broker does this) and the consumer reconnects with
//! back-off; publishing reconnects on the next call. Connecting and setting up are bounded in
//! time: a broker that accepts a connection and never answers fails the attempt, which is then
//! retried like any other failure.
//!
//! Must not depend on any service crate.
#![warn(missing_docs)]

use async_trait::async_trait;
use bytes::Bytes;
use chatsync_core::ports::bus::{
    Acker, BusError, Delivery, EventBus, RETRY_DELAYS, Subscription, topology,
};
use chatsync_core::ports::{BoxError, HealthCheck};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// Settings of the RabbitMQ bus.
#[derive(Clone, Debug)]
pub struct RabbitConfig {
    /// `amqp://user:pass@host:5672/vhost`.
    pub url: String,
    /// The topic exchange.
    pub exchange: String,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// Unacknowledged deliveries per consumer.
    pub prefetch: u16,
    /// For `amqps://`: PEM certificates trusted besides the system's roots (a private CA).
    pub ca_pem: Option<String>,
}

/// A bus on one RabbitMQ broker.
#[derive(Clone)]
pub struct RabbitBus {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: RabbitConfig,
    /// The publishing link; replaced after a failure.
    link: Mutex<Option<Link>>,
    /// Cancels consumer tasks when the bus is closed.
    closed: CancellationToken,
}

/// A connection and a confirm-mode channel on it.
#[derive(Clone)]
struct Link {
    conn: Arc<Connection>,
    channel: Channel,
}

const TOPIC_HEADER: &str = "x-topic";
const ATTEMPT_HEADER: &str = "x-attempt";

/// How long connecting and setting up (a channel, the topology, a consumer) may take. A broker
/// that is going down or coming up can accept a connection and never answer it; without a
/// bound the publishing link's lock stays held by that attempt for good, and every publish and
/// readiness check after it waits behind it.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// `setup`, or [`BusError::Unavailable`] if the broker has not answered within [`SETUP_TIMEOUT`].
async fn within_setup_timeout<T>(
    setup: impl Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .unwrap_or_else(|_| {
            Err(unavailable(format!(
                "the broker did not answer within {SETUP_TIMEOUT:?}"
            )))
        })
}

/// The port's error for anything the broker client reports, kept as its source: every
/// failure here (connection, channel, declare, publish, confirm) means the broker is not
/// serving us right now.
fn unavailable(e: impl Into<BoxError>) -> BusError {
    BusError::Unavailable(e.into())
}

/// `.bus()?`: a broker client result as the port's, through [`unavailable`].
trait BusResult<T> {
    fn bus(self) -> Result<T, BusError>;
}

impl<T> BusResult<T> for Result<T, lapin::Error> {
    fn bus(self) -> Result<T, BusError> {
        self.map_err(unavailable)
    }
}

fn retry_queue(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}s", delay.as_secs())
}

fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

impl RabbitBus {
    /// Connects and declares the topology. Fails if the broker cannot be reached now; later
    /// outages are survived.
    pub async fn connect(cfg: RabbitConfig) -> Result<Self, BusError> {
        let bus = Self {
            inner: Arc::new(Inner {
                cfg,
                link: Mutex::new(None),
                closed: CancellationToken::new(),
            }),
        };
        bus.inner.link().await?;
        Ok(bus)
    }

    /// Stops consumers and closes the connection.
    pub async fn close(&self) {
        self.inner.closed.cancel();
        if let Some(link) = self.inner.link.lock().await.take() {
            let _ = link.conn.close(200, "shutdown".into()).await;
        }
    }
}

impl Inner {
    /// Opens a connection and a channel with the whole topology declared.
    async fn open(&self) -> Result<Link, BusError> {
        let props = ConnectionProperties::default().with_connection_name("chatsync".into());
        let tls = lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: self.cfg.ca_pem.clone(),
        };
        let runtime = lapin::runtime::default_runtime().bus()?;
        let conn = Connection::connect_with_config(&self.cfg.url, props, tls, runtime)
            .await
            .bus()?;
        let channel = conn.create_channel().await.bus()?;
        self.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .bus()?;
        Ok(Link {
            conn: Arc::new(conn),
            channel,
        })
    }

    async fn declare(&self, ch: &Channel) -> Result<(), BusError> {
        ch.exchange_declare(
            self.cfg.exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .bus()?;
        for q in topology::QUEUES {
            ch.queue_declare(q.name.into(), durable(), FieldTable::default())
                .await
                .bus()?;
            for p in q.patterns {
                ch.queue_bind(
                    q.name.into(),
                    self.cfg.exchange.as_str().into(),
                    (*p).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .bus()?;
            }
            for delay in RETRY_DELAYS {
                let mut args = FieldTable::default();
                let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms));
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(q.name.into()),
                );
                ch.queue_declare(retry_queue(q.name, *delay).as_str().into(), durable(), args)
                    .await
                    .bus()?;
            }
            ch.queue_declare(
                dead_letter_queue(q.name).as_str().into(),
                durable(),
                FieldTable::default(),
            )
            .await
            .bus()?;
        }
        Ok(())
    }

    /// The live publishing link, reconnecting if the last one broke.
    async fn link(&self) -> Result<Link, BusError> {
        let mut guard = self.link.lock().await;
        if let Some(l) = guard.as_ref()
            && l.conn.status().connected()
            && l.channel.status().connected()
        {
            return Ok(l.clone());
        }
        let l = within_setup_timeout(self.open()).await?;
        *guard = Some(l.clone());
        Ok(l)
    }

    async fn forget_link(&self) {
        *self.link.lock().await = None;
    }

    /// Publishes persistently and waits for the broker's confirm. One reconnect is tried, so a
    /// broker restart between two publishes costs no error.
    async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        topic: &str,
        attempt: u32,
        payload: &[u8],
    ) -> Result<(), BusError> {
        let mut last = None;
        for _ in 0..2 {
            let link = self.link().await?;
            match publish_on(
                &link.channel,
                exchange,
                routing_key,
                topic,
                attempt,
                payload,
            )
            .await
            {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %chatsync_core::error_chain(&e), "publish failed; reconnecting");
                    self.forget_link().await;
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| unavailable("publish failed")))
    }
}

async fn publish_on(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    topic: &str,
    attempt: u32,
    payload: &[u8],
) -> Result<(), BusError> {
    let mut headers = FieldTable::default();
    headers.insert(TOPIC_HEADER.into(), AMQPValue::LongString(topic.into()));
    headers.insert(
        ATTEMPT_HEADER.into(),
        AMQPValue::LongLongInt(attempt.into()),
    );
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    let confirm = ch
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            payload,
            props,
        )
        .await
        .bus()?
        .await
        .bus()?;
    if confirm.is_ack() {
        Ok(())
    } else {
        Err(unavailable("broker refused the message (nack)"))
    }
}

fn header<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    props
        .headers()
        .as_ref()?
        .inner()
        .get(&ShortString::from(name))
}

fn topic_of(d: &lapin::message::Delivery) -> String {
    match header(&d.properties, TOPIC_HEADER) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_owned(),
        _ => d.routing_key.as_str().to_owned(),
    }
}

fn attempt_of(d: &lapin::message::Delivery) -> u32 {
    match header(&d.properties, ATTEMPT_HEADER) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(1),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(1),
        _ => 1,
    }
    .max(1)
}

#[async_trait]
impl EventBus for RabbitBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError> {
        let ex = self.inner.cfg.exchange.clone();
        self.inner.publish_raw(&ex, topic, topic, 1, &payload).await
    }

    async fn consume(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        let q = topology::QUEUES
            .iter()
            .find(|q| q.name == queue)
            .ok_or_else(|| BusError::UnknownQueue(queue.to_owned()))?;
        self.start_consumer(
            Source::Queue(q.name),
            usize::from(self.inner.cfg.prefetch.max(1)),
        )
        .await
    }

    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.start_consumer(Source::Broadcast(pattern.to_owned()), 256)
            .await
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner.link().await.map(|_| ())
    }

    async fn dead_letters(&self, queue: &str, max: usize) -> Result<Vec<Bytes>, BusError> {
        // Peek: get without ack, then close the channel so the broker requeues them all.
        let link = self.inner.link().await?;
        let ch = link.conn.create_channel().await.bus()?;
        let mut out = Vec::new();
        while out.len() < max {
            match ch
                .basic_get(
                    dead_letter_queue(queue).as_str().into(),
                    BasicGetOptions { no_ack: false },
                )
                .await
                .bus()?
            {
                Some(m) => out.push(Bytes::from(m.delivery.data)),
                None => break,
            }
        }
        let _ = ch.close(200, "peeked".into()).await;
        Ok(out)
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        if !topology::QUEUES.iter().any(|q| q.name == queue) {
            return Err(BusError::UnknownQueue(queue.to_owned()));
        }
        // A passive declare answers with the queue's count of ready messages.
        let link = self.inner.link().await?;
        let ch = link.conn.create_channel().await.bus()?;
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .bus();
        let _ = ch.close(200, "counted".into()).await;
        Ok(u64::from(q?.message_count()))
    }
}

#[async_trait]
impl HealthCheck for RabbitBus {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<(), String> {
        self.ping()
            .await
            .map_err(|e| chatsync_core::error_chain(&e).to_string())
    }
}

enum Source {
    Queue(&'static str),
    Broadcast(String),
}

impl RabbitBus {
    /// Connects a consumer before returning, so that a broadcast subscriber is bound (and
    /// receives events published from now on) by the time the caller goes on; then keeps it
    /// running, reconnecting with back-off whenever the connection is lost.
    async fn start_consumer(
        &self,
        source: Source,
        buffer: usize,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let (tx, rx) = mpsc::channel(buffer);
        let first = within_setup_timeout(connect_consumer(&self.inner, &source)).await?;
        tokio::spawn(consume_loop(self.inner.clone(), source, first, tx));
        Ok(Box::new(RabbitSubscription { rx }))
    }
}

/// A connected consumer and the connection it lives on.
struct Connected {
    link: Link,
    consumer: lapin::Consumer,
}

async fn consume_loop(
    inner: Arc<Inner>,
    source: Source,
    first: Connected,
    tx: mpsc::Sender<Delivery>,
) {
    let mut backoff = Duration::from_millis(250);
    let mut connected = Some(first);
    loop {
        if tx.is_closed() || inner.closed.is_cancelled() {
            return;
        }
        let attempt = match connected.take() {
            Some(c) => Ok(c),
            None => within_setup_timeout(connect_consumer(&inner, &source)).await,
        };
        match attempt {
            Ok(c) => match pump(&inner, &source, c, &tx).await {
                Ok(()) => return,
                Err(e) => {
                    backoff = Duration::from_millis(250);
                    tracing::warn!(error = %chatsync_core::error_chain(&e), "bus consumer lost its connection");
                }
            },
            Err(e) => {
                tracing::warn!(error = %chatsync_core::error_chain(&e), retry_in = ?backoff, "bus consumer cannot connect");
            }
        }
        tokio::select! {
            _ = inner.closed.cancelled() => return,
            _ = tx.closed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect_consumer(inner: &Arc<Inner>, source: &Source) -> Result<Connected, BusError> {
    // Each consumer has its own connection: a slow handler must not stall publishing, and a
    // broken consumer connection must not take the publisher down with it.
    let link = inner.open().await?;
    let ch = link.channel.clone();
    let (queue, no_ack) = match source {
        Source::Queue(q) => {
            ch.basic_qos(inner.cfg.prefetch, BasicQosOptions::default())
                .await
                .bus()?;
            ((*q).to_owned(), false)
        }
        Source::Broadcast(pattern) => {
            let q = ch
                .queue_declare(
                    "".into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .bus()?;
            let name = q.name().as_str().to_owned();
            ch.queue_bind(
                name.as_str().into(),
                inner.cfg.exchange.as_str().into(),
                pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .bus()?;
            (name, true)
        }
    };
    let tag = format!("chatsync-{}", uuid::Uuid::new_v4());
    let consumer = ch
        .basic_consume(
            queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions {
                no_ack,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .bus()?;
    tracing::info!(queue = %queue, "bus consumer connected");
    Ok(Connected { link, consumer })
}

/// Forwards deliveries until the subscriber goes away (`Ok`) or the connection breaks.
async fn pump(
    inner: &Arc<Inner>,
    source: &Source,
    Connected { link, mut consumer }: Connected,
    tx: &mpsc::Sender<Delivery>,
) -> Result<(), BusError> {
    loop {
        let next = tokio::select! {
            _ = inner.closed.cancelled() => return Ok(()),
            _ = tx.closed() => {
                let _ = link.conn.close(200, "consumer dropped".into()).await;
                return Ok(());
            }
            n = consumer.next() => n,
        };
        let d = match next {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(unavailable(e)),
            None => return Err(unavailable("consumer stream ended")),
        };
        let acker: Option<Box<dyn Acker>> = match source {
            Source::Queue(q) => Some(Box::new(RabbitAcker {
                inner: inner.clone(),
                queue: q,
                topic: topic_of(&d),
                attempt: attempt_of(&d),
                payload: d.data.clone(),
                acker: d.acker.clone(),
            })),
            Source::Broadcast(_) => None,
        };
        let delivery = Delivery {
            topic: topic_of(&d),
            attempt: attempt_of(&d),
            payload: Bytes::from(d.data),
            acker,
        };
        if tx.send(delivery).await.is_err() {
            return Ok(());
        }
    }
}

struct RabbitSubscription {
    rx: mpsc::Receiver<Delivery>,
}

#[async_trait]
impl Subscription for RabbitSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

struct RabbitAcker {
    inner: Arc<Inner>,
    queue: &'static str,
    topic: String,
    attempt: u32,
    payload: Vec<u8>,
    acker: lapin::Acker,
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .bus()
    }

    async fn retry(self: Box<Self>, reason: &str) -> Result<(), BusError> {
        // Publish the copy first, then ack the original: a crash in between duplicates the
        // event (at-least-once) but never loses it.
        let target = if self.attempt >= self.inner.cfg.max_attempts {
            tracing::error!(queue = self.queue, topic = %self.topic, attempts = self.attempt, reason, "dead-lettering event after its last attempt");
            dead_letter_queue(self.queue)
        } else {
            let delay = chatsync_core::ports::bus::retry_delay(self.attempt);
            tracing::warn!(queue = self.queue, topic = %self.topic, attempt = self.attempt, ?delay, reason, "event handling failed; will retry");
            retry_queue(self.queue, delay)
        };
        let published = self
            .inner
            .publish_raw("", &target, &self.topic, self.attempt + 1, &self.payload)
            .await;
        match published {
            Ok(()) => self
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(|_| ())
                .bus(),
            Err(e) => {
                // Could not park it: hand it back to the queue now rather than lose it.
                let _ = self
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await;
                Err(e)
            }
        }
    }
}
