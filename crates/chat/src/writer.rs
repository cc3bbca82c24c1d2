//! Group commit: `message:send`s from every socket of this node are collected into batches and
//! each batch is appended in one transaction. While one batch commits, the next fills up, so
//! under load many messages share one commit and one fsync; an idle node still commits a lone
//! message at once.
//!
//! At ordinary load that is not enough: at 2,000 msgs/s a commit is over before the next
//! message arrives, so nearly every message paid a transaction, an fsync and a new full-text
//! segment of its own (issue 10: the SQLite appender spent 120 µs of kernel time per message).
//! So when commits follow each other closely, a small batch waits a short window
//! (`commit_window`, two milliseconds by default) for company before it commits, or less once
//! it has company enough (`COMPANY`). Only then: a node that commits rarely commits at once,
//! and a batch that filled during the previous commit goes straight in.
//!
//! Conversations are spread over shards (as many as the store can usefully run at once, see
//! [`ChatStore::parallel_appends`]); a conversation always goes to the same shard. So each
//! conversation's messages are appended, and their `message:new` events sent, in arrival
//! order, while different conversations commit side by side.

use crate::error::{ChatError, ChatResult};
use crate::fanout::{Fanout, Payload, emit_message, signed_per_viewer};
use crate::meters;
use crate::protocol::{self, MessageJson, MessageOrJson};
use chatsync_core::ids::{ConversationId, UserId};
use chatsync_core::ports::chat::{Appended, Message, NewMessage};
use chatsync_core::ports::{Attachments, ChatStore};
use socketioxide::socket::Sid;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Submits messages to the batching tasks.
#[derive(Clone)]
pub(crate) struct Writer {
    shards: Arc<Vec<mpsc::Sender<Job>>>,
    hasher: std::collections::hash_map::RandomState,
}

struct Job {
    msg: NewMessage,
    waiting: Waiting,
}

/// Who waits for a [`Job`]'s message, kept apart while the message is in the batch.
struct Waiting {
    /// The sending socket, which gets the ack instead of `message:new`.
    origin: Option<Sid>,
    reply: oneshot::Sender<ChatResult<Sent>>,
}

/// The outcome of a send.
pub(crate) struct Sent {
    /// The stored message.
    pub(crate) message: Message,
    /// False when the (sender, client_id) was seen before: nothing new was delivered.
    pub(crate) new: bool,
    /// `message` serialized, where the sender and every recipient see the same (no signed
    /// URLs): the ack and the `message:new`s share it.
    pub(crate) json: Option<MessageJson>,
}

/// A committed message on its way to the other members.
struct Delivery {
    /// Serialized already where everyone sees the same (see [`Sent::json`]).
    message: MessageOrJson,
    recipients: Arc<Vec<UserId>>,
    origin: Option<Sid>,
}

/// `m` serialized once for everyone, if everyone sees the same (see [`signed_per_viewer`]).
fn shared_json(m: &Message) -> Option<MessageJson> {
    (!signed_per_viewer(m)).then(|| MessageJson::new(m))
}

/// What a shard's tasks share.
#[derive(Clone)]
struct Shard {
    store: Arc<dyn ChatStore>,
    attachments: Option<Arc<dyn Attachments>>,
    max_batch: usize,
    /// How long a batch waits for company when commits are frequent; zero never waits.
    commit_window: Duration,
}

impl Writer {
    /// Starts the batching and fan-out tasks; they end when every `Writer` clone is dropped.
    pub(crate) fn start(
        store: Arc<dyn ChatStore>,
        fanout: Arc<dyn Fanout>,
        attachments: Option<Arc<dyn Attachments>>,
        max_batch: usize,
        commit_window: Duration,
    ) -> Self {
        let shard = Shard {
            store: store.clone(),
            attachments,
            max_batch,
            commit_window,
        };
        let shards = (0..store.parallel_appends().max(1))
            .map(|_| {
                // Bounded: when the database falls behind, senders wait here (back-pressure)
                // instead of memory growing without limit.
                let (tx, rx) = mpsc::channel(max_batch * 4);
                let (deliveries_tx, deliveries_rx) = mpsc::unbounded_channel();
                tokio::spawn(commit_loop(shard.clone(), rx, deliveries_tx));
                tokio::spawn(fanout_loop(
                    fanout.clone(),
                    shard.attachments.clone(),
                    deliveries_rx,
                ));
                tx
            })
            .collect();
        Self {
            shards: Arc::new(shards),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, conversation: ConversationId) -> &mpsc::Sender<Job> {
        // SQLite has one writer, so one shard: no hash to compute.
        if let [only] = self.shards.as_slice() {
            return only;
        }
        let h = self.hasher.hash_one(conversation);
        let i = usize::try_from(h % self.shards.len() as u64).unwrap_or(0);
        &self.shards[i]
    }

    /// Appends `msg` durably; returns once it is committed.
    pub(crate) async fn send(&self, msg: NewMessage, origin: Option<Sid>) -> ChatResult<Sent> {
        let (reply, rx) = oneshot::channel();
        self.shard(msg.conversation_id)
            .send(Job {
                msg,
                waiting: Waiting { origin, reply },
            })
            .await
            .map_err(|_| ChatError::Unavailable("chat writer stopped".into()))?;
        rx.await
            .map_err(|_| ChatError::Unavailable("chat writer stopped".into()))?
    }
}

impl Shard {
    /// Signs `m`'s attachment URLs for its sender, who gets the reply.
    fn present_to_sender(&self, m: &mut Message) {
        if let Some(a) = &self.attachments
            && !m.attachments.is_empty()
        {
            a.present(m.sender_id, std::slice::from_mut(m));
        }
    }
}

/// A batch this big already shares its commit well: it never waits for more, and a batch
/// waiting for company commits as soon as it is this big. Under heavy load batches fill
/// while the previous one commits, and waiting would only leave the database idle.
const COMPANY: usize = 16;

async fn commit_loop(
    shard: Shard,
    mut rx: mpsc::Receiver<Job>,
    deliveries: mpsc::UnboundedSender<Vec<Delivery>>,
) {
    let mut jobs = Vec::with_capacity(shard.max_batch);
    // Commits closer together than this are frequent: the next batch may wait for company.
    let frequent = shard.commit_window * 4;
    let mut last_commit: Option<Instant> = None;
    while rx.recv_many(&mut jobs, shard.max_batch).await > 0 {
        if !shard.commit_window.is_zero()
            && jobs.len() < COMPANY
            && last_commit.is_some_and(|t| t.elapsed() < frequent)
        {
            // Until the window ends or the batch has company enough (waiting on for a full
            // batch only added the whole window to every message at middling rates).
            let until = Instant::now() + shard.commit_window;
            while jobs.len() < COMPANY.min(shard.max_batch) {
                let room = shard.max_batch - jobs.len();
                match tokio::time::timeout_at(until, rx.recv_many(&mut jobs, room)).await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
        }
        // The messages move into the batch; who waits for each stays behind, in order.
        let (batch, waiting): (Vec<NewMessage>, Vec<Waiting>) =
            jobs.drain(..).map(|j| (j.msg, j.waiting)).unzip();
        meters::SEND.batch_size.record(batch.len() as f64);
        let started = Instant::now();
        let appended = shard.store.append(&batch).await;
        meters::SEND
            .commit_seconds
            .record(started.elapsed().as_secs_f64());
        match appended {
            Ok(result) => {
                let members: HashMap<ConversationId, Arc<Vec<UserId>>> = result
                    .members
                    .into_iter()
                    .map(|(c, m)| (c, Arc::new(m)))
                    .collect();
                let mut out = Vec::new();
                for (job, outcome) in waiting.into_iter().zip(result.outcomes) {
                    let reply = match outcome {
                        Appended::New(mut m) => {
                            meters::SEND.messages.increment(1);
                            let json = shared_json(&m);
                            if let Some(recipients) = members.get(&m.conversation_id) {
                                // Unsigned: each recipient gets URLs of their own.
                                out.push(Delivery {
                                    message: match &json {
                                        Some(json) => MessageOrJson::Json(json.clone()),
                                        None => MessageOrJson::Typed(Box::new(m.clone())),
                                    },
                                    recipients: recipients.clone(),
                                    origin: job.origin,
                                });
                            }
                            shard.present_to_sender(&mut m);
                            Ok(Sent {
                                message: m,
                                new: true,
                                json,
                            })
                        }
                        Appended::Duplicate(mut m) => {
                            shard.present_to_sender(&mut m);
                            Ok(Sent {
                                message: m,
                                new: false,
                                json: None,
                            })
                        }
                        Appended::NotMember => Err(ChatError::NotFound("conversation")),
                    };
                    // The sender may have gone; the message is stored all the same.
                    let _ = job.reply.send(reply);
                }
                if !out.is_empty() {
                    let _ = deliveries.send(out);
                }
                last_commit = Some(Instant::now());
            }
            Err(e) => {
                tracing::warn!(error = %chatsync_core::error_chain(&e), size = batch.len(), "message batch failed");
                let e = ChatError::from(e);
                for job in waiting {
                    let _ = job.reply.send(Err(match &e {
                        ChatError::Unavailable(s) => ChatError::Unavailable(s.clone()),
                        other => ChatError::Internal(other.to_string()),
                    }));
                }
            }
        }
    }
}

async fn fanout_loop(
    fanout: Arc<dyn Fanout>,
    attachments: Option<Arc<dyn Attachments>>,
    mut rx: mpsc::UnboundedReceiver<Vec<Delivery>>,
) {
    while let Some(batch) = rx.recv().await {
        for d in batch {
            match &d.message {
                MessageOrJson::Json(json) => {
                    fanout
                        .to_users(
                            &d.recipients,
                            d.origin,
                            protocol::MESSAGE_NEW,
                            Payload::Json(json),
                        )
                        .await;
                }
                MessageOrJson::Typed(m) => {
                    emit_message(
                        fanout.as_ref(),
                        attachments.as_deref(),
                        &d.recipients,
                        d.origin,
                        protocol::MESSAGE_NEW,
                        m,
                    )
                    .await;
                }
            }
        }
    }
}
