//! For fuzzing only (the `fuzz/` crate and the replay of its corpus in `cargo test`), built
//! with the `fuzzing` feature: the type sniffer, and the whole upload route driven with
//! arbitrary multipart bodies. Not an API.

use crate::{MediaService, detect};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, header};
use chatsync_core::config::{Config, MediaConfig};
use chatsync_core::ids::{MediaId, SessionId, UserId};
use chatsync_core::memory::{MemorySessions, MemoryThrottle};
use chatsync_core::ports::StoreError;
use chatsync_core::ports::media::{MediaRecord, MediaRepo};
use chatsync_core::ports::sessions::{Session, SessionStore};
use chatsync_platform::http::Authenticator;
use chatsync_platform::tokens::{AccessTokens, TokenSubject};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// The sniffer on the first 64 KiB of `data` (what an upload sniffs), and the name cleaner on
/// all of it (as text), checking what they promise.
pub fn sniff(data: &[u8]) {
    let head = &data[..data.len().min(detect::SNIFF_BYTES)];
    if let Some(t) = detect::content_type(head) {
        let _ = (detect::is_image(t), detect::inline(t));
        if t == "text/plain" {
            let text = String::from_utf8_lossy(head);
            assert!(
                !text
                    .trim_start_matches('\u{feff}')
                    .trim_start()
                    .starts_with('<'),
                "markup taken for plain text"
            );
        }
    }
    let name = detect::safe_name(Some(&String::from_utf8_lossy(data)));
    assert!(!name.is_empty() && name.chars().count() <= 120, "{name:?}");
    assert!(
        !name.starts_with('.')
            && !name
                .chars()
                .any(|c| c.is_control() || matches!(c, '/' | '\\' | '"' | ';' | '<' | '>')),
        "unsafe file name {name:?}"
    );
}

/// `POST /api/media` through the media router, as a signed-in user, with `data[1..]` as the
/// multipart body (boundary [`BOUNDARY`]); bit 0 of `data[0]` asks for an avatar. Returns the
/// status, which must be one the API documents for an upload; never a server error.
pub fn upload(data: &[u8]) -> u16 {
    let Some((flags, body)) = data.split_first() else {
        return 0;
    };
    HARNESS.with(|h| h.upload(flags & 1 == 1, body))
}

/// The multipart boundary [`upload`] declares.
pub const BOUNDARY: &str = "fuzz";

thread_local! {
    static HARNESS: Harness = Harness::new();
}

struct Harness {
    rt: tokio::runtime::Runtime,
    cfg: MediaConfig,
    auth: Authenticator,
    token: String,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        let now = Utc::now();
        let session = Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            refresh_hash: String::new(),
            created_at: now,
            last_used_at: now,
            expires_at: now + chrono::Duration::days(365),
            user_agent: None,
            ip: None,
        };
        let sessions = Arc::new(MemorySessions::new());
        rt.block_on(sessions.create(&session))
            .expect("the in-memory session store accepts a session");
        let tokens = Arc::new(AccessTokens::new(b"fuzzing only", 365 * 24 * 3600));
        let token = tokens.issue(
            TokenSubject {
                user_id: session.user_id,
                session_id: session.id,
            },
            now,
        );
        let cfg = MediaConfig {
            // Small limits keep each run fast; the checks are the same at any size.
            max_upload_bytes: 256 * 1024,
            max_image_pixels: 4 * 1024 * 1024,
            thumbnail_px: 64,
            ..Config::default().media
        };
        Self {
            rt,
            cfg,
            auth: Authenticator::new(tokens, sessions),
            token,
        }
    }

    fn upload(&self, avatar: bool, body: &[u8]) -> u16 {
        // Fresh storage and counters each time, so a long run neither keeps what it uploaded
        // nor reaches the upload rate limit.
        let service = MediaService::new(
            self.cfg.clone(),
            Arc::new(Records::default()),
            Arc::new(object_store::memory::InMemory::new()),
            self.auth.clone(),
            Arc::new(MemoryThrottle::new()),
            b"fuzzing only",
        );
        let req = Request::post(if avatar {
            "/api/media?purpose=avatar"
        } else {
            "/api/media"
        })
        .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body.to_vec()))
        .expect("a request built from constants is valid");
        let status = self.rt.block_on(async {
            let res = service
                .router()
                .oneshot(req)
                .await
                .unwrap_or_else(|e| match e {});
            let status = res.status();
            let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await;
            status.as_u16()
        });
        assert!(
            matches!(status, 201 | 400 | 413 | 415 | 422),
            "an upload was answered {status}"
        );
        status
    }
}

/// Media records in a map.
#[derive(Default)]
struct Records(Mutex<HashMap<MediaId, MediaRecord>>);

impl Records {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<MediaId, MediaRecord>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl MediaRepo for Records {
    async fn insert_media(&self, m: &MediaRecord) -> Result<(), StoreError> {
        self.map().insert(m.id, m.clone());
        Ok(())
    }

    async fn media(&self, id: MediaId) -> Result<Option<MediaRecord>, StoreError> {
        Ok(self.map().get(&id).cloned())
    }

    async fn can_read(&self, id: MediaId, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .map()
            .get(&id)
            .is_some_and(|m| m.public || m.uploader_id == user))
    }

    async fn orphans(
        &self,
        _before: DateTime<Utc>,
        _limit: u32,
    ) -> Result<Vec<MediaId>, StoreError> {
        Ok(Vec::new())
    }

    async fn delete_orphan(&self, id: MediaId) -> Result<bool, StoreError> {
        Ok(self.map().remove(&id).is_some())
    }
}
