//! Who is online, across every chat node.

use crate::ids::UserId;
use crate::ports::StateError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user's presence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct PresenceState {
    /// The user.
    pub user_id: UserId,
    /// True while any of their sockets is connected on any node.
    pub online: bool,
    /// When their last socket went away; `None` if never seen or online now.
    pub last_seen: Option<DateTime<Utc>>,
}

/// What [`Presence::connect`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connected {
    /// Recorded; the user was offline before it.
    CameOnline,
    /// Recorded; the user already had other connections.
    AlreadyOnline,
    /// Not recorded: the user already has the most connections allowed.
    Full,
}

/// Connection counting shared by all chat nodes. A connection is identified by a string unique
/// across nodes (the socket id). Connections of a node that dies without saying so expire
/// after the lease, because live nodes renew theirs with [`Presence::renew`].
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Records a connection unless the user already has `max` live ones (counted on every
    /// node, in the same step, so two nodes cannot both admit the last one).
    async fn connect(&self, user: UserId, conn: &str, max: u32) -> Result<Connected, StateError>;

    /// Removes a connection; `Some(last_seen)` if that was the user's last one.
    async fn disconnect(
        &self,
        user: UserId,
        conn: &str,
    ) -> Result<Option<DateTime<Utc>>, StateError>;

    /// Extends the lease of these connections (this node's live sockets).
    async fn renew(&self, conns: &[(UserId, String)]) -> Result<(), StateError>;

    /// The presence of each user, in the order asked.
    async fn states(&self, users: &[UserId]) -> Result<Vec<PresenceState>, StateError>;
}
