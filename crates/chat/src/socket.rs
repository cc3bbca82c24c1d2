//! Socket.IO (SPEC §4): handshake authentication, the per-socket context, and one handler per
//! client event. Generic over socketioxide's adapter (in-process or Redis); everything else is
//! in [`Chat`].

use crate::error::{ChatError, ChatResult};
use crate::fanout::{SocketUser, user_room};
use crate::meters;
use crate::protocol::{self, *};
use crate::service::Chat;
use chatsync_core::ids::ConversationId;
use chatsync_core::ports::presence::Connected;
use serde::Deserialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Extension, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide_core::adapter::DefinedAdapter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Registers the default namespace's handlers.
///
/// All set-up happens in the connect middleware, which socketioxide awaits before it tells the
/// client it is connected: the connect handler runs on a spawned task, so event handlers
/// registered there could miss a client's first events.
/// The handlers reach the service through the socket's extensions (set up by
/// [`authenticate`]): the Socket.IO server is built before the service, so it cannot carry
/// the service as its state.
pub(crate) fn register<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    chat: Arc<Chat>,
) -> A::InitRes {
    let authenticate = move |s: SocketRef<A>, auth: TryData<Handshake>| {
        let chat = chat.clone();
        async move { authenticate(s, chat, auth).await }
    };
    io.ns("/", connected::<A>.with(authenticate))
}

async fn connected<A: Adapter>(s: SocketRef<A>) {
    tracing::debug!(socket = %s.id, "socket connected");
}

/// The handshake payload, `{token}`.
#[derive(Deserialize)]
pub(crate) struct Handshake {
    token: String,
}

/// Why a handshake was refused; the message reaches the client's `connect_error`.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Connect middleware: the handshake's `{token}` must be a valid access token of a live
/// session. Then the socket is set up: rooms, context, handlers, presence.
async fn authenticate<A: Adapter>(
    s: SocketRef<A>,
    chat: Arc<Chat>,
    TryData(auth): TryData<Handshake>,
) -> Result<(), Refused> {
    let Ok(Handshake { token }) = auth else {
        return Err(Refused(
            "unauthorized: send {token: <access token>} as auth".into(),
        ));
    };
    let u = chat
        .auth
        .authenticate(&token)
        .await
        .map_err(|e| Refused(format!("unauthorized: {e}")))?;
    let user = Arc::new(SocketUser {
        user_id: u.user_id,
        session_id: u.session_id,
    });
    // Before the client hears it is connected, so a disconnect cannot overtake it. Presence
    // counts the user's sockets on every node, and refuses one past the cap in the same step.
    let max = chat.cfg.max_sockets_per_account;
    let came_online = match chat
        .presence
        .connect(user.user_id, &s.id.to_string(), max)
        .await
    {
        Ok(Connected::Full) => {
            return Err(Refused(format!(
                "too_many_sockets: at most {max} connections per account; close another first"
            )));
        }
        Ok(c) => c == Connected::CameOnline,
        Err(e) => {
            tracing::warn!(error = %chatsync_core::error_chain(&e), "presence not recorded");
            false
        }
    };
    set_up(&s, &chat, user.clone());
    if came_online {
        tokio::spawn(async move { chat.announce(user.user_id, true, None).await });
    }
    Ok(())
}

/// A token bucket.
struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            at: Instant::now(),
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
        }
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Refused events after which a flooding socket is disconnected.
const MAX_STRIKES: u32 = 200;

/// Per-socket state, in the socket's extensions.
struct SocketCtx {
    user: Arc<SocketUser>,
    limits: Mutex<Limits>,
    /// Conversations this socket is typing in, with a generation so that only the latest
    /// `typing: true` arms the expiry.
    typing: Mutex<HashMap<ConversationId, u64>>,
    /// The handshake's request id (from `x-request-id`, which the HTTP layers set when the
    /// client did not): events are numbered after it.
    request_id: String,
    /// Events received so far.
    events: std::sync::atomic::AtomicU64,
}

struct Limits {
    sends: Bucket,
    events: Bucket,
    strikes: u32,
}

/// Which event, for its rate limit (sends have their own) and its span.
#[derive(Clone, Copy)]
enum Kind {
    Send,
    Other(&'static str),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Send => protocol::SEND,
            Self::Other(event) => event,
        }
    }
}

impl SocketCtx {
    fn admit(&self, kind: Kind) -> Result<(), (Duration, bool)> {
        let mut l = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        let r = match kind {
            Kind::Send => l.sends.take(),
            Kind::Other(_) => l.events.take(),
        };
        match r {
            Ok(()) => Ok(()),
            Err(wait) => {
                l.strikes += 1;
                Err((wait, l.strikes > MAX_STRIKES))
            }
        }
    }
}

fn set_up<A: Adapter>(s: &SocketRef<A>, chat: &Arc<Chat>, user: Arc<SocketUser>) {
    // The user's room receives their events on every device. (No room of the socket's own:
    // a broadcast skips its sender by being made from the sender's socket, see `fanout`.)
    s.join(user_room(user.user_id));
    s.extensions.insert(user.clone());
    s.extensions.insert(chat.clone());
    s.extensions.insert(Arc::new(SocketCtx {
        user,
        limits: Mutex::new(Limits {
            sends: Bucket::new(chat.cfg.send_per_sec, chat.cfg.send_burst),
            events: Bucket::new(
                chat.cfg.events_per_sec,
                chat.cfg.events_per_sec.saturating_mul(2),
            ),
            strikes: 0,
        }),
        typing: Mutex::new(HashMap::new()),
        request_id: s
            .req_parts()
            .headers
            .get(chatsync_platform::http::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| chatsync_platform::http::usable_request_id(v))
            .map_or_else(|| s.id.to_string(), str::to_owned),
        events: std::sync::atomic::AtomicU64::new(0),
    }));
    metrics::gauge!("chat_sockets").increment(1.0);

    s.on(protocol::SEND, on_send::<A>);
    s.on(protocol::TYPING, on_typing::<A>);
    s.on(protocol::RECEIPT, on_receipt::<A>);
    s.on(protocol::SYNC, on_sync::<A>);
    s.on(protocol::EDIT, on_edit::<A>);
    s.on(protocol::DELETE, on_delete::<A>);
    s.on(protocol::REACT, on_react::<A>);
    s.on_fallback(async |s: SocketRef<A>, ack: AckSender<A>| {
        tracing::debug!(socket = %s.id, "unknown event");
        let _ = ack.send(&ErrorAck {
            ok: false,
            error: AckError {
                code: "unknown_event",
                message: "unknown event".into(),
                retry_after_ms: None,
                request_id: None,
            },
        });
    });
    s.on_disconnect(on_disconnect::<A>);
}

async fn on_disconnect<A: Adapter>(s: SocketRef<A>, Extension(chat): Extension<Arc<Chat>>) {
    metrics::gauge!("chat_sockets").decrement(1.0);
    let Some(ctx) = s.extensions.get::<Arc<SocketCtx>>() else {
        return;
    };
    let typing: Vec<ConversationId> = ctx
        .typing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(c, _)| c)
        .collect();
    for cid in typing {
        let _ = chat.typing(ctx.user.user_id, cid, false).await;
    }
    if let Err(e) = chat.disconnected(ctx.user.user_id, &s.id.to_string()).await {
        tracing::warn!(error = %chatsync_core::error_chain(&e), "presence not updated on disconnect");
    }
}

/// Common shape of every handler: count, rate limit, decode, run, ack. Each event runs in a
/// `debug` span carrying its request id (the handshake's `x-request-id`, then `-` and the
/// event's number on this socket), which a refused event's ack also names.
async fn handle<A: Adapter, T, R, F, Fut>(
    s: &SocketRef<A>,
    ack: AckSender<A>,
    kind: Kind,
    payload: Result<T, socketioxide::ParserError>,
    f: F,
) where
    F: FnOnce(Arc<SocketCtx>, T) -> Fut,
    Fut: std::future::Future<Output = ChatResult<R>>,
    R: serde::Serialize,
{
    match kind {
        Kind::Send => meters::SEND.events.increment(1),
        Kind::Other(event) => metrics::counter!("chat_events_total", "event" => event).increment(1),
    }
    let Some(ctx) = s.extensions.get::<Arc<SocketCtx>>() else {
        return;
    };
    let n = ctx
        .events
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    // At `debug`: a span per event is on every message's path, and at `info` (the default)
    // creating, entering and closing it was 7 % of the runtime thread's CPU at 2,000 msgs/s
    // (issue 10). A failure is logged in it at any level (below).
    macro_rules! event_span {
        ($level:expr) => {
            tracing::span!(
                $level,
                "socket_event",
                event = kind.name(),
                request_id = format_args!("{}-{n}", ctx.request_id),
                user = %ctx.user.user_id,
            )
        };
    }
    let span = event_span!(tracing::Level::DEBUG);
    let reply = match ctx.admit(kind) {
        Err((wait, flooding)) => {
            if flooding {
                tracing::warn!(socket = %s.id, "disconnecting a flooding socket");
                let _ = ack.send(&ChatError::RateLimited(wait).ack());
                let _ = s.clone().disconnect();
                return;
            }
            Err(ChatError::RateLimited(wait))
        }
        Ok(()) => match payload {
            Err(e) => Err(ChatError::Payload(payload_error(&e))),
            Ok(p) => f(ctx.clone(), p).instrument(span.clone()).await,
        },
    };
    // The reply is serialized straight from its typed form (no JSON tree on the hot path).
    let sent = match reply {
        Ok(v) => ack.send(&v),
        Err(e) => {
            // `ChatError::ack` logs the server's own failures: with the event's request id,
            // whatever the level.
            let span = if span.is_disabled() && e.is_logged() {
                event_span!(tracing::Level::INFO)
            } else {
                span
            };
            let _in = span.enter();
            let mut refused = e.ack();
            refused.error.request_id = Some(format!("{}-{n}", ctx.request_id));
            ack.send(&refused)
        }
    };
    if let Err(e) = sent {
        tracing::warn!(socket = %s.id, error = %e, "ack not sent");
    }
}

fn payload_error(e: &socketioxide::ParserError) -> String {
    let s = e.to_string();
    // serde's text names the field ("missing field `body`"); keep it, drop the wrapping.
    s.rsplit(": ").next().unwrap_or(&s).to_owned()
}

/// `message:send`, boxed: socketioxide spawns a task for every event, and a task's future is
/// copied whole on its way into the runtime and again when it ends. The send's future (its
/// payload, the stored message, its ack) is a couple of kilobytes: boxed, the runtime thread
/// spends about 1,800 fewer instructions per message (issue 10, twenty-second pass).
fn on_send<A: Adapter>(
    s: SocketRef<A>,
    chat: Extension<Arc<Chat>>,
    p: TryData<SendPayload>,
    ack: AckSender<A>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(send(s, chat, p, ack))
}

async fn send<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<SendPayload>,
    ack: AckSender<A>,
) {
    let started = std::time::Instant::now();
    let sid = s.id;
    handle(&s, ack, Kind::Send, p, |ctx, p| async move {
        let sent = chat.send(ctx.user.user_id, Some(sid), p).await?;
        Ok(SendAck {
            ok: true,
            message: match sent.json {
                Some(json) => MessageOrJson::Json(json),
                None => MessageOrJson::Typed(Box::new(sent.message)),
            },
            duplicate: !sent.new,
        })
    })
    .await;
    // From the event's arrival to its ack (durable in the store), refused sends included.
    meters::SEND
        .ack_seconds
        .record(started.elapsed().as_secs_f64());
}

async fn on_typing<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<TypingPayload>,
    ack: AckSender<A>,
) {
    handle(
        &s,
        ack,
        Kind::Other(protocol::TYPING),
        p,
        |ctx, p: TypingPayload| async move {
            let me = ctx.user.user_id;
            let cid = p.conversation_id;
            if !p.typing {
                ctx.typing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&cid);
                chat.typing(me, cid, false).await?;
                return Ok(OkAck { ok: true });
            }
            chat.typing(me, cid, true).await?;
            let generation = {
                let mut t = ctx.typing.lock().unwrap_or_else(|e| e.into_inner());
                let g = t.get(&cid).map_or(1, |g| g + 1);
                t.insert(cid, g);
                g
            };
            // Expire by itself unless refreshed or stopped.
            let timeout = Duration::from_secs(chat.cfg.typing_timeout_secs.max(1));
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                let still = {
                    let mut t = ctx.typing.lock().unwrap_or_else(|e| e.into_inner());
                    if t.get(&cid) == Some(&generation) {
                        t.remove(&cid);
                        true
                    } else {
                        false
                    }
                };
                if still {
                    let _ = chat.typing(me, cid, false).await;
                }
            });
            Ok(OkAck { ok: true })
        },
    )
    .await;
}

async fn on_receipt<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<ReceiptPayload>,
    ack: AckSender<A>,
) {
    let sid = s.id;
    handle(
        &s,
        ack,
        Kind::Other(protocol::RECEIPT),
        p,
        |ctx, p: ReceiptPayload| async move {
            let moved = chat
                .receipt(
                    ctx.user.user_id,
                    Some(sid),
                    p.conversation_id,
                    p.kind,
                    p.seq,
                )
                .await?;
            Ok(ReceiptEventAck {
                ok: true,
                receipt: moved.into(),
            })
        },
    )
    .await;
}

async fn on_sync<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<SyncPayload>,
    ack: AckSender<A>,
) {
    handle(
        &s,
        ack,
        Kind::Other(protocol::SYNC),
        p,
        |ctx, p: SyncPayload| async move {
            let s = chat
                .sync(ctx.user.user_id, &p.after, &p.versions, p.limit)
                .await?;
            Ok(SyncAck {
                ok: true,
                messages: s.messages,
                updated: s.updated,
                versions: s.versions,
                has_more: s.has_more,
            })
        },
    )
    .await;
}

async fn on_edit<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<EditPayload>,
    ack: AckSender<A>,
) {
    let sid = s.id;
    handle(
        &s,
        ack,
        Kind::Other(protocol::EDIT),
        p,
        |ctx, p: EditPayload| async move {
            let m = chat
                .edit(ctx.user.user_id, Some(sid), p.message_id, &p.body)
                .await?;
            Ok(MessageAck {
                ok: true,
                message: m,
            })
        },
    )
    .await;
}

async fn on_delete<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<DeletePayload>,
    ack: AckSender<A>,
) {
    let sid = s.id;
    handle(
        &s,
        ack,
        Kind::Other(protocol::DELETE),
        p,
        |ctx, p: DeletePayload| async move {
            let m = chat
                .delete(ctx.user.user_id, Some(sid), p.message_id)
                .await?;
            Ok(MessageAck {
                ok: true,
                message: m,
            })
        },
    )
    .await;
}

async fn on_react<A: Adapter>(
    s: SocketRef<A>,
    Extension(chat): Extension<Arc<Chat>>,
    TryData(p): TryData<ReactPayload>,
    ack: AckSender<A>,
) {
    let sid = s.id;
    handle(
        &s,
        ack,
        Kind::Other(protocol::REACT),
        p,
        |ctx, p: ReactPayload| async move {
            let m = chat
                .react(ctx.user.user_id, Some(sid), p.message_id, &p.emoji, p.on)
                .await?;
            Ok(MessageAck {
                ok: true,
                message: m,
            })
        },
    )
    .await;
}
