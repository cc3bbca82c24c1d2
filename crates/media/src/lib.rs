//! Media (SPEC §5), part of the chat service: uploads streamed to storage and checked by their
//! bytes against an allow-list, images stripped of metadata and thumbnailed, files served only
//! through short-lived signed URLs (with ranges, for video seeking), and uploads never attached
//! to a message cleaned up.
//!
//! Bytes go through the `object_store` crate: local disk under the data dir, or any
//! S3-compatible service (`chatsync-media-s3`). Records go through [`MediaRepo`], in the chat
//! service's database.
//!
//! Depends only on `chatsync-core`.
#![warn(missing_docs)]

mod detect;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod images;
mod serve;
mod signing;
mod upload;

use async_trait::async_trait;
use axum::Router;
use axum::extract::FromRef;
use chatsync_core::config::MediaConfig;
use chatsync_core::ids::{ConversationId, MediaId, UserId};
use chatsync_core::ports::chat::{Attachment, Message};
use chatsync_core::ports::media::{Attachments, MediaRecord, MediaRepo};
use chatsync_core::ports::{HealthCheck, StoreError, Throttle};
use chatsync_platform::http::Authenticator;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;
use signing::Signer;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The media part of the chat service.
#[derive(Clone)]
pub struct MediaService {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: MediaConfig,
    pub(crate) allowed: HashSet<String>,
    pub(crate) repo: Arc<dyn MediaRepo>,
    pub(crate) blobs: Arc<dyn ObjectStore>,
    pub(crate) auth: Authenticator,
    pub(crate) signer: Signer,
    /// Per-account upload limit.
    pub(crate) throttle: Arc<dyn Throttle>,
    /// One permit per image being decoded: decoding takes up to `max_decode_bytes` and a
    /// core, so a burst of image uploads queues here instead of exhausting memory.
    pub(crate) decode_slots: Arc<Semaphore>,
}

#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Inner>);

impl FromRef<AppState> for Authenticator {
    fn from_ref(s: &AppState) -> Self {
        s.0.auth.clone()
    }
}

/// A file as the API describes it.
#[derive(Serialize, utoipa::ToSchema, ts_rs::TS)]
pub(crate) struct MediaView {
    /// Id, to attach the file to a message.
    id: MediaId,
    /// Detected type (not the one the client claimed).
    content_type: String,
    /// Bytes.
    size: i64,
    /// File name as uploaded (sanitised).
    name: String,
    /// Pixel width, for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    width: Option<u32>,
    /// Pixel height, for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    height: Option<u32>,
    /// Short-lived signed URL of the file.
    url: String,
    /// Short-lived signed URL of the thumbnail, if there is one.
    thumbnail_url: Option<String>,
    /// Avatars: the long-lived public URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    public_url: Option<String>,
}

impl Inner {
    pub(crate) fn key(&self, id: MediaId) -> ObjectPath {
        ObjectPath::from(format!("{}media/{id}", self.cfg.s3_prefix))
    }

    pub(crate) fn thumb_key(&self, id: MediaId) -> ObjectPath {
        ObjectPath::from(format!("{}media/{id}.thumb", self.cfg.s3_prefix))
    }

    /// The file as `viewer` sees it, with URLs signed for them.
    pub(crate) fn view(&self, m: &MediaRecord, viewer: UserId) -> MediaView {
        let now = chrono::Utc::now().timestamp();
        MediaView {
            id: m.id,
            content_type: m.content_type.clone(),
            size: m.size,
            name: m.name.clone(),
            width: m.width,
            height: m.height,
            url: self.signer.url(m.id, "content", viewer, now),
            thumbnail_url: m
                .thumbnail_type
                .as_ref()
                .map(|_| self.signer.url(m.id, "thumbnail", viewer, now)),
            public_url: m.public.then(|| format!("/api/media/{}/public", m.id)),
        }
    }
}

impl MediaService {
    /// A media service storing bytes in `blobs` and records in `repo`, counting uploads in
    /// `throttle`. URLs are signed with a key derived from `install_secret`.
    pub fn new(
        cfg: MediaConfig,
        repo: Arc<dyn MediaRepo>,
        blobs: Arc<dyn ObjectStore>,
        auth: Authenticator,
        throttle: Arc<dyn Throttle>,
        install_secret: &[u8],
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                allowed: cfg.allowed(),
                signer: Signer::new(install_secret, cfg.url_ttl_secs),
                decode_slots: Arc::new(Semaphore::new(cfg.decode_slots.max(1))),
                cfg,
                repo,
                blobs,
                auth,
                throttle,
            }),
        }
    }

    /// `POST /api/media`, `GET /api/media/{id}`, and the signed and public file routes.
    pub fn router(&self) -> Router {
        let state = AppState(self.inner.clone());
        routes(&self.inner.cfg).with_state(state).into()
    }

    /// The service's REST API as an OpenAPI document, merged by the server into
    /// `/api/openapi.json`.
    pub fn openapi() -> utoipa::openapi::OpenApi {
        routes(&MediaConfig::default()).into_openapi()
    }

    /// Writes the TypeScript type of the media answer into `cfg`'s directory.
    pub fn export_types(cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
        <MediaView as ts_rs::TS>::export_all(cfg)
    }

    /// The chat service's hook for attachments.
    pub fn attachments(&self) -> Arc<dyn Attachments> {
        Arc::new(self.clone())
    }

    /// Checks that storage answers.
    pub fn health_check(&self) -> Arc<dyn HealthCheck> {
        Arc::new(self.clone())
    }

    /// Deletes uploads that were never attached, every few minutes, until `shutdown`.
    pub async fn run_cleanup(&self, shutdown: CancellationToken) {
        let every = Duration::from_secs(self.inner.cfg.cleanup_interval_secs.max(1));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.clean_orphans().await {
                        tracing::warn!(error = %chatsync_core::error_chain(&e), "media cleanup failed");
                    }
                }
            }
        }
    }

    /// Deletes unattached uploads older than the configured age; returns how many.
    pub async fn clean_orphans(&self) -> Result<usize, StoreError> {
        let s = &self.inner;
        let age = chrono::Duration::seconds(i64::try_from(s.cfg.orphan_ttl_secs).unwrap_or(86400));
        let mut deleted = 0;
        loop {
            let ids = s.repo.orphans(chrono::Utc::now() - age, 100).await?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            for id in ids {
                // Record first: once it is gone nobody can attach the file, then the bytes.
                if s.repo.delete_orphan(id).await? {
                    for key in [s.key(id), s.thumb_key(id)] {
                        match s.blobs.delete(&key).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => {
                                tracing::warn!(error = %chatsync_core::error_chain(&e), %id, "orphan bytes not deleted")
                            }
                        }
                    }
                    deleted += 1;
                }
            }
        }
    }
}

#[async_trait]
impl Attachments for MediaService {
    async fn resolve(
        &self,
        sender: UserId,
        _conversation: ConversationId,
        ids: &[MediaId],
    ) -> Result<Vec<Attachment>, StoreError> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids.iter().filter(|i| seen.insert(**i)) {
            let m = self
                .inner
                .repo
                .media(*id)
                .await?
                .ok_or(StoreError::NotFound)?;
            // Your own uploads, or files you can already see (forwarding).
            if m.uploader_id != sender && !self.inner.repo.can_read(*id, sender).await? {
                return Err(StoreError::NotFound);
            }
            out.push(m.attachment());
        }
        Ok(out)
    }

    async fn store_image(
        &self,
        owner: UserId,
        bytes: bytes::Bytes,
    ) -> Result<Attachment, StoreError> {
        let s = &self.inner;
        if bytes.len() as u64 > s.cfg.max_upload_bytes {
            return Err(StoreError::broken("preview image too large"));
        }
        let content_type = detect::content_type(&bytes)
            .filter(|t| detect::is_image(t) && s.allowed.contains(*t))
            .ok_or_else(|| StoreError::broken("preview image of a type not accepted"))?;
        let budget = images::Budget {
            max_pixels: s.cfg.max_image_pixels,
            max_bytes: s.cfg.max_decode_bytes,
            thumb_px: s.cfg.thumbnail_px,
        };
        let ct = content_type.to_owned();
        // Decoded and re-encoded like an upload: only pixels are kept, never the bytes as sent.
        let processed =
            images::decode_in_slot(&s.decode_slots, move || images::process(bytes, &ct, budget))
                .await
                .map_err(|e| StoreError::other("image task", e))?
                .map_err(|e| StoreError::other("preview image", e))?;
        let id = MediaId::new();
        let size = processed.bytes.len();
        for (key, bytes) in [
            (s.key(id), processed.bytes),
            (s.thumb_key(id), processed.thumbnail.0),
        ] {
            s.blobs
                .put(&key, object_store::PutPayload::from(bytes))
                .await
                .map_err(|e| StoreError::unavailable("storing a preview image", e))?;
        }
        let record = MediaRecord {
            id,
            uploader_id: owner,
            content_type: content_type.to_owned(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            name: "preview".into(),
            width: Some(processed.width),
            height: Some(processed.height),
            thumbnail_type: Some(processed.thumbnail.1.to_owned()),
            public: false,
            created_at: chrono::Utc::now(),
        };
        s.repo.insert_media(&record).await?;
        Ok(record.attachment())
    }

    fn present(&self, viewer: UserId, messages: &mut [Message]) {
        let now = chrono::Utc::now().timestamp();
        let signer = &self.inner.signer;
        let previews = messages
            .iter_mut()
            .filter_map(|m| m.preview.as_mut().and_then(|p| p.image.as_mut()));
        for a in previews {
            a.url = Some(signer.url(a.media_id, "content", viewer, now));
            a.thumbnail_url = a
                .has_thumbnail
                .then(|| signer.url(a.media_id, "thumbnail", viewer, now));
        }
        for a in messages.iter_mut().flat_map(|m| m.attachments.iter_mut()) {
            a.url = Some(signer.url(a.media_id, "content", viewer, now));
            a.thumbnail_url = a
                .has_thumbnail
                .then(|| signer.url(a.media_id, "thumbnail", viewer, now));
        }
    }
}

#[async_trait]
impl HealthCheck for MediaService {
    fn name(&self) -> &'static str {
        "media"
    }
    async fn check(&self) -> Result<(), String> {
        let probe = ObjectPath::from(format!("{}media/.probe", self.inner.cfg.s3_prefix));
        match self.inner.blobs.head(&probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Every route of the service with its OpenAPI description, before the state is supplied.
fn routes(cfg: &MediaConfig) -> utoipa_axum::router::OpenApiRouter<AppState> {
    upload::routes(cfg).merge(serve::routes())
}
