//! Several chat nodes must keep media in one place: a file uploaded through one node is
//! fetched through whichever node the gateway picks next. Chat nodes that share a Redis record
//! where their media lives ([`Agreement`]); a node whose storage differs from a live node's is
//! refused at start, and one that finds out later (a node started while Redis was down) fails
//! its readiness check, so the gateway stops sending it clients.

use anyhow::Context;
use chatsync_core::config::Config;
use chatsync_core::ports::{Agreement, HealthCheck};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "media-location";
/// A stopped node's record lapses after this long; another storage may then be used.
const TTL: Duration = Duration::from_secs(30);
const RENEW: Duration = Duration::from_secs(10);

/// This chat node's media location, kept on record while it runs.
pub(crate) struct SharedMedia {
    agreement: Arc<dyn Agreement>,
    location: String,
    redis_prefix: String,
    conflict: Mutex<Option<String>>,
}

impl SharedMedia {
    /// Records this node's media location; fails when a live node uses another one.
    pub(crate) async fn check(
        agreement: Arc<dyn Agreement>,
        cfg: &Config,
    ) -> anyhow::Result<Arc<Self>> {
        let me = Arc::new(Self {
            agreement,
            location: location(cfg)?,
            redis_prefix: cfg.redis.prefix.clone(),
            conflict: Mutex::new(None),
        });
        match me.agreement.agree(TOPIC, &me.location, TTL).await {
            Ok(None) => {}
            Ok(Some(other)) => anyhow::bail!(me.refusal(&other)),
            Err(e) => tracing::warn!(
                error = %chatsync_core::error_chain(&e),
                "could not check that every chat node uses the same media storage; retrying"
            ),
        }
        Ok(me)
    }

    /// Renews the record until `stop`.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RENEW) => {}
            }
            match self.agreement.agree(TOPIC, &self.location, TTL).await {
                Ok(None) => *self.conflict.lock().unwrap_or_else(|e| e.into_inner()) = None,
                Ok(Some(other)) => {
                    let refusal = self.refusal(&other);
                    tracing::error!("{refusal}");
                    *self.conflict.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusal);
                }
                Err(e) => {
                    tracing::warn!(error = %chatsync_core::error_chain(&e), "renewing the media location record")
                }
            }
        }
    }

    fn refusal(&self, other: &str) -> String {
        format!(
            "another chat node sharing this Redis (REDIS_PREFIX {:?}) keeps media in {other}, \
             this one in {}: a file uploaded through one node could not be fetched through the \
             other. Give every chat node the same storage: S3 (S3_BUCKET, S3_PREFIX), or one \
             directory shared by every node at DATA_DIR/media",
            self.redis_prefix, self.location
        )
    }
}

#[async_trait::async_trait]
impl HealthCheck for SharedMedia {
    fn name(&self) -> &'static str {
        "media shared with other chat nodes"
    }
    async fn check(&self) -> Result<(), String> {
        match &*self.conflict.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(refusal) => Err(refusal.clone()),
            None => Ok(()),
        }
    }
}

/// Where media bytes go, the same text on every node that uses the same storage: the S3
/// bucket and prefix, or the id written once into the media directory (so nodes mounting one
/// shared directory read one id, and nodes with a directory each have different ones).
fn location(cfg: &Config) -> anyhow::Result<String> {
    let m = &cfg.media;
    if let Some(bucket) = &m.s3_bucket {
        let endpoint = m.s3_endpoint.as_deref().unwrap_or("AWS");
        return Ok(format!(
            "S3 bucket {bucket:?} at {endpoint}, prefix {:?}",
            m.s3_prefix
        ));
    }
    let dir = cfg.data_dir.path().join("media");
    let id = directory_id(&dir).with_context(|| format!("media directory {}", dir.display()))?;
    Ok(format!("the local directory with id {id}"))
}

/// The id in `dir/.chatsync-id`, created (atomically: nodes sharing the directory may start
/// at once) if there is none yet.
fn directory_id(dir: &Path) -> std::io::Result<String> {
    let marker = dir.join(".chatsync-id");
    if !marker.exists() {
        let tmp = dir.join(format!(".chatsync-id.{}", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, uuid::Uuid::new_v4().to_string())?;
        // A link fails if the marker appeared meanwhile; the first node's id wins.
        let linked = std::fs::hard_link(&tmp, &marker);
        std::fs::remove_file(&tmp)?;
        match linked {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(std::fs::read_to_string(marker)?.trim().to_owned())
}
