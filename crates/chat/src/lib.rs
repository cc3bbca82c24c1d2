//! The chat service (SPEC §3, §4): conversations, members, messages with gap-free per
//! conversation seqs, receipts, typing, presence, offline sync, over REST and Socket.IO, on one
//! node or several (socketioxide's Redis adapter fans out across nodes).
//!
//! It owns the `chat_user`, `conversation`, `member`, `message` and `reaction` tables (through
//! [`ChatStore`]); it learns profiles from `user.upserted` events and closes the sockets of
//! sessions named by `session.revoked`.
//!
//! # Layout
//! - [`protocol`]: event names and payloads.
//! - `service`: the operations and their authorization, shared by REST and Socket.IO.
//! - `writer`: group commit of sent messages and ordered fan-out.
//! - `rest`, `socket`: the two front doors.
//! - [`directory`]: asking the user service for profiles the chat service lacks.
//! - `fuzzing` (feature `fuzzing`, for `fuzz/` only): the input checks, reachable from outside.
//!
//! Depends only on `chatsync-core` (and socketioxide).
#![warn(missing_docs)]

pub mod directory;
mod error;
pub mod fanout;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod limits;
mod meters;
mod previews;
pub mod protocol;
mod rest;
mod service;
mod socket;
mod writer;

pub use error::{ChatError, ChatResult};
pub use service::Chat;

use axum::Router;
use chatsync_core::config::ChatConfig;
use chatsync_core::events::{self, Event, SessionRevoked, UserUpserted};
use chatsync_core::ports::bus::{Subscription, topology};
use chatsync_core::ports::{ChatStore, EventBus, HealthCheck, Presence, SessionStore, Throttle};
use chatsync_platform::http::Authenticator;
use directory::UserDirectory;
use fanout::{Fanout, IoFanout};
use socketioxide::adapter::Adapter;
use socketioxide::{SocketIo, SocketIoBuilder};
pub use socketioxide_core::adapter::DefinedAdapter;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The adapters the chat service runs on.
#[derive(Clone)]
pub struct ChatDeps {
    /// Conversations and messages.
    pub store: Arc<dyn ChatStore>,
    /// Who is online.
    pub presence: Arc<dyn Presence>,
    /// Sessions, to check tokens and find revoked sockets.
    pub sessions: Arc<dyn SessionStore>,
    /// Events in (user profiles, revoked sessions).
    pub bus: Arc<dyn EventBus>,
    /// Checks access tokens.
    pub auth: Authenticator,
    /// Profiles the chat service has no copy of.
    pub directory: Arc<dyn UserDirectory>,
    /// Media ids to attachments, and signed URLs for them.
    pub attachments: Option<Arc<dyn chatsync_core::ports::Attachments>>,
    /// The per-account send limit's budget, shared by every node.
    pub throttle: Arc<dyn Throttle>,
    /// What `/readyz` checks.
    pub health: Vec<Arc<dyn HealthCheck>>,
}

/// The chat service.
#[derive(Clone)]
pub struct ChatService {
    chat: Arc<Chat>,
    bus: Arc<dyn EventBus>,
    health: Vec<Arc<dyn HealthCheck>>,
}

/// How often a node renews its sockets' presence leases (a third of the lease).
const PRESENCE_RENEW: Duration = Duration::from_secs(20);
/// How often a node re-checks its sockets' sessions, in case a revocation event was lost.
const SESSION_RECHECK: Duration = Duration::from_secs(60);

impl ChatService {
    /// Builds the service on the fan-out of its Socket.IO server (see [`ChatService::fanout`]);
    /// starts its message writer. Register the socket handlers next ([`ChatService::register`]).
    pub fn new(cfg: ChatConfig, deps: ChatDeps, fanout: Arc<dyn Fanout>) -> Self {
        let chat = Arc::new(Chat::new(
            cfg,
            deps.store,
            deps.presence,
            deps.sessions,
            deps.auth,
            deps.directory,
            deps.attachments,
            deps.throttle,
            fanout,
        ));
        Self {
            chat,
            bus: deps.bus,
            health: deps.health,
        }
    }

    /// The REST routes.
    pub fn router(&self) -> Router {
        rest::router(self.chat.clone())
    }

    /// The REST API as an OpenAPI document (paths and schemas), which the server merges into
    /// `/api/openapi.json`.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        rest::routes().into_openapi()
    }

    /// Writes the TypeScript types of the Socket.IO protocol and the REST bodies into
    /// `cfg`'s directory (each type with the types it uses).
    pub fn export_types(cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
        use protocol::*;
        use ts_rs::TS;
        SendPayload::export_all(cfg)?;
        TypingPayload::export_all(cfg)?;
        ReceiptPayload::export_all(cfg)?;
        SyncPayload::export_all(cfg)?;
        EditPayload::export_all(cfg)?;
        DeletePayload::export_all(cfg)?;
        ReactPayload::export_all(cfg)?;
        SendAck::export_all(cfg)?;
        MessageAck::export_all(cfg)?;
        OkAck::export_all(cfg)?;
        ReceiptEventAck::export_all(cfg)?;
        SyncAck::export_all(cfg)?;
        ErrorAck::export_all(cfg)?;
        TypingEvent::export_all(cfg)?;
        ReceiptEvent::export_all(cfg)?;
        ConversationRemoved::export_all(cfg)?;
        NotificationsChanged::export_all(cfg)?;
        ChatSettings::export_all(cfg)?;
        chatsync_core::ports::presence::PresenceState::export_all(cfg)?;
        chatsync_core::ports::chat::Conversation::export_all(cfg)?;
        rest::export_types(cfg)
    }

    /// What `/readyz` checks for this service.
    pub fn health_checks(&self) -> Vec<Arc<dyn HealthCheck>> {
        self.health.clone()
    }

    /// Applies the chat service's Socket.IO settings to `builder`. The server is built before
    /// the service, which is given its fan-out ([`ChatService::fanout`]); the handlers that
    /// need the service are registered afterwards ([`ChatService::register`]).
    pub fn configure<A: Adapter>(
        cfg: &ChatConfig,
        builder: SocketIoBuilder<A>,
    ) -> SocketIoBuilder<A> {
        builder
            .req_path("/socket.io")
            // Small read buffers keep idle sockets cheap (SPEC §7); a packet above
            // `max_payload` closes the socket instead of being buffered.
            .ws_read_buffer_size(cfg.ws_read_buffer_bytes)
            .max_buffer_size(cfg.socket_queue_packets)
            .ping_interval(Duration::from_secs(cfg.ping_interval_secs))
            .ping_timeout(Duration::from_secs(cfg.ping_timeout_secs))
            .max_payload(cfg.max_payload_bytes)
            .ws_max_message_size(usize::try_from(cfg.max_payload_bytes).unwrap_or(usize::MAX))
            .ws_max_frame_size(usize::try_from(cfg.max_payload_bytes).unwrap_or(usize::MAX))
    }

    /// Middleware for the `/socket.io/` route: socketioxide keeps each socket's request head
    /// for the socket's whole life, and hyper parses that head as slices of the connection's
    /// read buffer (8–16 KiB). Copying the URI and headers out lets the buffer go: about 8 KB
    /// less per idle socket (SPEC §7, bench/RESULTS.md).
    ///
    /// Only the headers something behind this layer reads are copied ([`SOCKET_HEADERS`]); the
    /// dozen others a browser sends (user agent, languages, cookies) would stay with every
    /// socket. The layers in front of this one (request ids, client address, CORS) have
    /// already seen them all.
    pub async fn detach_request_head(req: axum::extract::Request) -> axum::extract::Request {
        let (mut parts, body) = req.into_parts();
        if let Ok(uri) = http::Uri::try_from(parts.uri.to_string()) {
            parts.uri = uri;
        }
        let kept: Vec<(http::HeaderName, http::HeaderValue)> = SOCKET_HEADERS
            .iter()
            .flat_map(|name| {
                parts.headers.get_all(name).iter().filter_map(|value| {
                    let v = http::HeaderValue::from_bytes(value.as_bytes()).ok()?;
                    Some((name.clone(), v))
                })
            })
            .collect();
        // Sized to what it holds: a map that grew one insert at a time reserved room for six
        // (624 bytes) to hold two or three.
        let mut headers = http::HeaderMap::with_capacity(kept.len());
        for (name, value) in kept {
            headers.append(name, value);
        }
        parts.headers = headers;
        // The extensions the layers in front added (the client's address, the request id, the
        // original URI, ...) are theirs: behind this layer only the upgrade of a WebSocket
        // request is read. Their map was about 0.7 KB per socket.
        let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
        parts.extensions = http::Extensions::new();
        if let Some(upgrade) = upgrade {
            parts.extensions.insert(upgrade);
        }
        axum::extract::Request::from_parts(parts, body)
    }

    /// Delivery of events through `io`, on this node and (with the Redis adapter) every node.
    pub fn fanout<A: Adapter>(io: &SocketIo<A>) -> Arc<dyn Fanout> {
        Arc::new(IoFanout(io.clone()))
    }

    /// Registers the service's socket handlers on `io` (the server its fan-out was built
    /// from). The returned value initialises the adapter (a future to await for Redis, `()`
    /// in process).
    pub fn register<A: Adapter + DefinedAdapter>(&self, io: &SocketIo<A>) -> A::InitRes {
        socket::register(io, self.chat.clone())
    }

    /// Binds the service's bus subscriptions, then returns its background work, to run until
    /// `shutdown`: the profile-event consumer, the revoked-session listener, presence lease
    /// renewal and the session re-check. Await it before the node serves: once it has
    /// returned, a session revoked on any node closes that session's sockets on this one
    /// (subscribing later would miss a logout taken in between).
    pub async fn start_background(
        self,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let revocations = self.listen_for_revocations().await;
        async move {
            tokio::join!(
                self.consume_profiles(shutdown.clone()),
                self.watch_revocations(revocations, shutdown.clone()),
                self.maintain_sockets(shutdown),
            );
        }
    }

    async fn consume_profiles(&self, shutdown: CancellationToken) {
        let mut sub = match self.bus.consume(topology::CHAT_USERS).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %chatsync_core::error_chain(&e), "cannot consume user events");
                return;
            }
        };
        loop {
            let d = tokio::select! {
                _ = shutdown.cancelled() => return,
                d = sub.next() => match d { Some(d) => d, None => return },
            };
            match events::decode::<UserUpserted>(&d.payload) {
                Ok(UserUpserted(p)) => match self.chat.store.upsert_profile(&p).await {
                    Ok(()) => {
                        let _ = d.ack().await;
                    }
                    Err(e) => {
                        let _ = d.retry(&e.to_string()).await;
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, topic = %d.topic, "undecodable user event");
                    let _ = d.retry("undecodable payload").await;
                }
            }
        }
    }

    fn revocation_pattern() -> String {
        format!(
            "{}.#",
            SessionRevoked::TOPIC.split('.').next().unwrap_or("session")
        )
    }

    async fn listen_for_revocations(&self) -> Option<Box<dyn Subscription>> {
        match self.bus.subscribe(&Self::revocation_pattern()).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %chatsync_core::error_chain(&e), "cannot listen for revoked sessions yet; retrying");
                None
            }
        }
    }

    async fn watch_revocations(
        &self,
        mut sub: Option<Box<dyn Subscription>>,
        shutdown: CancellationToken,
    ) {
        let mut backoff = Duration::from_millis(250);
        let mut sub = loop {
            if let Some(s) = sub.take() {
                break s;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            sub = self.listen_for_revocations().await;
        };
        loop {
            let d = tokio::select! {
                _ = shutdown.cancelled() => return,
                d = sub.next() => match d { Some(d) => d, None => return },
            };
            if let Ok(ev) = events::decode::<SessionRevoked>(&d.payload) {
                tracing::debug!(session = %ev.session_id, "closing the sockets of a revoked session");
                self.chat.fanout.disconnect_session(ev.session_id);
            }
        }
    }

    async fn maintain_sockets(&self, shutdown: CancellationToken) {
        let mut renew = tokio::time::interval(PRESENCE_RENEW);
        let mut recheck = tokio::time::interval(SESSION_RECHECK);
        renew.tick().await;
        recheck.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = renew.tick() => {
                    let conns: Vec<_> = self.chat.fanout.local_sockets().into_iter().map(|(sid, u)| (u.user_id, sid)).collect();
                    if let Err(e) = self.chat.presence.renew(&conns).await {
                        tracing::warn!(error = %chatsync_core::error_chain(&e), "presence leases not renewed");
                    }
                }
                _ = recheck.tick() => {
                    let f = &self.chat.fanout;
                    let mut seen = std::collections::HashSet::new();
                    for (_, u) in f.local_sockets() {
                        if seen.insert(u.session_id)
                            && matches!(self.chat.sessions.get(u.session_id).await, Ok(None))
                        {
                            f.disconnect_session(u.session_id);
                        }
                    }
                }
            }
        }
    }
}

/// The request headers a socket's stored head keeps (see [`ChatService::detach_request_head`]):
/// engineioxide reads the WebSocket key of an upgrade and the content type of a long-polling
/// post; the socket's context reads the request id.
const SOCKET_HEADERS: [http::HeaderName; 3] = [
    http::header::SEC_WEBSOCKET_KEY,
    http::header::CONTENT_TYPE,
    chatsync_platform::http::REQUEST_ID,
];

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn within(buf: &Bytes, b: &[u8]) -> bool {
        let r = buf.as_ptr_range();
        r.contains(&b.as_ptr())
    }

    /// The copied head must keep the values the socket needs, drop the others, and share no
    /// memory with the buffer it was parsed from (which is what kept 16 KiB alive per idle
    /// socket).
    #[tokio::test]
    async fn the_request_head_no_longer_borrows_the_read_buffer() {
        let buf = Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket|dGhlIHNhbXBsZQ==|x-v");
        let uri = http::Uri::from_maybe_shared(buf.slice(0..37)).expect("uri");
        let mut req = axum::extract::Request::new(axum::body::Body::empty());
        *req.uri_mut() = uri.clone();
        req.headers_mut().insert(
            http::header::SEC_WEBSOCKET_KEY,
            http::HeaderValue::from_maybe_shared(buf.slice(38..54)).expect("value"),
        );
        req.headers_mut().insert(
            chatsync_platform::http::REQUEST_ID,
            http::HeaderValue::from_static("req-1"),
        );
        req.headers_mut().insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("theme=dark; other=1"),
        );
        req.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static("Mozilla/5.0"),
        );
        req.extensions_mut()
            .insert(axum::extract::OriginalUri(uri.clone()));
        assert!(within(
            &buf,
            req.headers()[http::header::SEC_WEBSOCKET_KEY].as_bytes()
        ));

        let out = ChatService::detach_request_head(req).await;

        assert_eq!(out.uri(), &uri);
        let key = &out.headers()[http::header::SEC_WEBSOCKET_KEY];
        assert_eq!(key, "dGhlIHNhbXBsZQ==");
        assert!(!within(&buf, key.as_bytes()));
        assert_eq!(out.headers()[chatsync_platform::http::REQUEST_ID], "req-1");
        assert!(out.headers().get(http::header::COOKIE).is_none());
        assert!(out.headers().get(http::header::USER_AGENT).is_none());
        assert_eq!(out.headers().len(), 2);
        assert!(!within(&buf, out.uri().path().as_bytes()));
        assert!(
            out.extensions()
                .get::<axum::extract::OriginalUri>()
                .is_none(),
            "the extensions of the layers in front are dropped"
        );
    }
}
