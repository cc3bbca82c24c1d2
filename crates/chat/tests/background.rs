//! The chat service's background work, against in-process adapters.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure with its message

use async_trait::async_trait;
use chatsync_chat::directory::UserDirectory;
use chatsync_chat::fanout::{Fanout, Payload, SocketUser};
use chatsync_chat::{ChatDeps, ChatService};
use chatsync_core::config::ChatConfig;
use chatsync_core::events::{Event, SessionRevoked};
use chatsync_core::ids::{SessionId, UserId};
use chatsync_core::memory::{MemoryBus, MemoryPresence, MemorySessions, MemoryThrottle};
use chatsync_core::ports::EventBus;
use chatsync_core::ports::chat::Profile;
use chatsync_platform::http::Authenticator;
use chatsync_platform::tokens::AccessTokens;
use chatsync_store_sqlite::SqliteStore;
use socketioxide::socket::Sid;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Records the sessions it was asked to disconnect.
#[derive(Default)]
struct Recorder(Mutex<Vec<SessionId>>);

#[async_trait]
impl Fanout for Recorder {
    async fn to_users(&self, _: &[UserId], _: Option<Sid>, _: &'static str, _: Payload<'_>) {}
    fn disconnect_session(&self, session: SessionId) {
        self.0.lock().unwrap().push(session);
    }
    fn local_sockets(&self) -> Vec<(String, SocketUser)> {
        Vec::new()
    }
}

struct NoDirectory;

#[async_trait]
impl UserDirectory for NoDirectory {
    async fn profile(&self, _: UserId, _: &str) -> Result<Option<Profile>, String> {
        Ok(None)
    }
}

/// A node is ready once `start_background` has returned: a session revoked from then on closes
/// its sockets here, even if the background work has not been scheduled yet (before, the
/// node subscribed from inside that work and missed a logout taken in between).
#[tokio::test]
async fn a_session_revoked_once_background_work_has_started_closes_its_sockets() {
    chatsync_core::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    store.migrate_chat().await.unwrap();
    let store = Arc::new(store);
    let sessions = Arc::new(MemorySessions::new());
    let bus = Arc::new(MemoryBus::new(3));
    let deps = ChatDeps {
        store,
        presence: Arc::new(MemoryPresence::new()),
        sessions: sessions.clone(),
        bus: bus.clone(),
        auth: Authenticator::new(
            Arc::new(AccessTokens::new(b"0123456789abcdef0123456789abcdef", 900)),
            sessions,
        ),
        directory: Arc::new(NoDirectory),
        attachments: None,
        throttle: Arc::new(MemoryThrottle::new()),
        health: Vec::new(),
    };
    let fanout = Arc::new(Recorder::default());
    let chat = ChatService::new(ChatConfig::default(), deps, fanout.clone());
    let shutdown = CancellationToken::new();
    let work = chat.start_background(shutdown.clone()).await;

    let revoked = SessionRevoked {
        session_id: SessionId::new(),
        user_id: UserId::new(),
    };
    bus.publish(
        SessionRevoked::TOPIC,
        serde_json::to_vec(&revoked).unwrap().into(),
    )
    .await
    .unwrap();
    let running = tokio::spawn(work);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fanout.0.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*fanout.0.lock().unwrap(), vec![revoked.session_id]);
    shutdown.cancel();
    running.await.unwrap();
}
