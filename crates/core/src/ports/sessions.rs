//! Login sessions and their refresh tokens.

use crate::ids::{SessionId, UserId};
use crate::ports::StateError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A login on one device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Id, carried in access tokens.
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// SHA-256 (hex) of the current refresh secret; older secrets no longer match.
    pub refresh_hash: String,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last refresh (or login).
    pub last_used_at: DateTime<Utc>,
    /// The session ends here unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// The client's `User-Agent`, for the session list.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub ip: Option<String>,
}

/// What happened to a refresh attempt.
#[derive(Debug, PartialEq)]
pub enum Rotation {
    /// The presented secret was current; the session now holds the new one.
    Rotated(Session),
    /// The presented secret was issued for this session and already rotated away: someone
    /// replayed it, so the session was revoked.
    Reused(Session),
    /// The presented secret was never issued for this session (a forgery or a typo), or is
    /// older than the [`RETIRED_SECRETS_KEPT`] remembered: refused, and the session is left
    /// as it was. Only a secret really issued can end a session, or anyone who learns a
    /// session id could log its owner out.
    Unrecognized,
    /// No such session (expired, revoked or never existed).
    Missing,
}

/// How many rotated-away refresh hashes a session remembers to recognise a replay. A client
/// refreshes every access-token lifetime (15 minutes), so 16 cover the last four hours of
/// use; an older stolen secret is refused as unrecognised instead of ending the session.
pub const RETIRED_SECRETS_KEPT: usize = 16;

/// Where sessions live: in-process, or Redis so that every service and node sees a logout.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session; it disappears by itself at `expires_at`.
    async fn create(&self, session: &Session) -> Result<(), StateError>;

    /// The session, if it exists and has not expired.
    async fn get(&self, id: SessionId) -> Result<Option<Session>, StateError>;

    /// Atomically swaps the refresh hash `presented` for `next`, remembers `presented` among
    /// the session's last [`RETIRED_SECRETS_KEPT`] retired hashes, and extends the session to
    /// `expires_at`. A retired `presented` revokes the session instead; any other is
    /// [`Rotation::Unrecognized`] and changes nothing.
    async fn rotate(
        &self,
        id: SessionId,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Rotation, StateError>;

    /// Deletes the session; returns it if it existed.
    async fn revoke(&self, id: SessionId) -> Result<Option<Session>, StateError>;

    /// The user's live sessions, newest first.
    async fn list(&self, user: UserId) -> Result<Vec<Session>, StateError>;

    /// Succeeds when the backend answers.
    async fn ping(&self) -> Result<(), StateError>;
}
