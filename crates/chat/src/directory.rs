//! Where the chat service learns profiles it has no copy of yet: the user service. Its copy is
//! normally fed by `user.upserted` events; this covers events that are late or were missed.

use async_trait::async_trait;
use chatsync_core::UserId;
use chatsync_core::ports::chat::Profile;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// Looks up a verified user's public profile in the user service.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// The profile, or `None` if there is no such verified user. `token` is the caller's
    /// access token, for a user service in another process.
    async fn profile(&self, id: UserId, token: &str) -> Result<Option<Profile>, String>;
}

/// The user service over HTTP (`GET /api/users/{id}`), for a chat service in its own process.
pub struct HttpDirectory {
    base: String,
    client: Client<HttpConnector, Empty<bytes::Bytes>>,
}

impl HttpDirectory {
    /// A directory at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

#[derive(Deserialize)]
struct PublicProfile {
    id: UserId,
    display_name: String,
    avatar_url: Option<String>,
}

#[async_trait]
impl UserDirectory for HttpDirectory {
    async fn profile(&self, id: UserId, token: &str) -> Result<Option<Profile>, String> {
        let req = http::Request::get(format!("{}/api/users/{id}", self.base))
            .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(std::time::Duration::from_secs(5), self.client.request(req))
            .await
            .map_err(|_| "user service timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        match res.status().as_u16() {
            404 => Ok(None),
            200 => {
                let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
                let p: PublicProfile =
                    serde_json::from_slice(&body.to_bytes()).map_err(|e| e.to_string())?;
                Ok(Some(Profile {
                    id: p.id,
                    display_name: p.display_name,
                    avatar_url: p.avatar_url,
                    // Older than any event, so a real `user.upserted` always wins.
                    updated_at: chrono::DateTime::UNIX_EPOCH,
                }))
            }
            s => Err(format!("user service answered {s}")),
        }
    }
}
