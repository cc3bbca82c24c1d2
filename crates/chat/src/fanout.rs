//! Delivering events to sockets, on this node and (with the Redis adapter) on every node.
//! The rest of the service talks to this trait, so only the Socket.IO wiring is generic over
//! socketioxide's adapter type.

use crate::protocol;
use async_trait::async_trait;
use chatsync_core::ids::{SessionId, UserId};
use chatsync_core::ports::Attachments;
use chatsync_core::ports::chat::Message;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use std::sync::Arc;

/// The room every socket of a user joins.
pub fn user_room(user: UserId) -> String {
    format!("u:{user}")
}

/// Who a connected socket belongs to; kept in the socket's extensions.
#[derive(Clone, Debug)]
pub struct SocketUser {
    /// The user.
    pub user_id: UserId,
    /// The session whose token opened the socket.
    pub session_id: SessionId,
}

/// What an event carries. Serialized once, straight into the packet (no intermediate JSON
/// tree): `message:new` is the hot path.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Payload<'a> {
    /// A message.
    Message(&'a chatsync_core::ports::chat::Message),
    /// A message serialized already.
    Json(&'a protocol::MessageJson),
    /// A conversation.
    Conversation(&'a chatsync_core::ports::chat::Conversation),
    /// `typing`.
    Typing(&'a protocol::TypingEvent),
    /// `receipt`.
    Receipt(&'a protocol::ReceiptEvent),
    /// `presence`.
    Presence(&'a chatsync_core::ports::presence::PresenceState),
    /// `conversation:removed`.
    Removed(&'a protocol::ConversationRemoved),
    /// `conversation:notifications`.
    Notifications(&'a protocol::NotificationsChanged),
    /// `chat:settings`.
    Settings(&'a protocol::ChatSettings),
}

/// Sends events to sockets.
#[async_trait]
pub trait Fanout: Send + Sync + 'static {
    /// Emits to every socket of `users`, on every node, except the socket `except`.
    async fn to_users(
        &self,
        users: &[UserId],
        except: Option<Sid>,
        event: &'static str,
        data: Payload<'_>,
    );
    /// Closes this node's sockets of `session`.
    fn disconnect_session(&self, session: SessionId);
    /// This node's sockets: (socket id, owner).
    fn local_sockets(&self) -> Vec<(String, SocketUser)>;
}

/// Whether `m` carries URLs signed for each viewer (its attachments', its preview image's),
/// so that no one JSON of it serves every recipient.
pub(crate) fn signed_per_viewer(m: &Message) -> bool {
    !m.attachments.is_empty() || m.preview.as_ref().is_some_and(|p| p.image.is_some())
}

/// Emits a message to every socket of `users` except `except`. Attachments carry URLs signed
/// for each viewer (see [`Attachments::present`]), so a message with attachments goes to each
/// user on their own; one without (the common case, the hot path) is serialized and sent once.
pub(crate) async fn emit_message(
    fanout: &dyn Fanout,
    attachments: Option<&dyn Attachments>,
    users: &[UserId],
    except: Option<Sid>,
    event: &'static str,
    m: &Message,
) {
    let Some(a) = attachments.filter(|_| signed_per_viewer(m)) else {
        fanout
            .to_users(users, except, event, Payload::Message(m))
            .await;
        return;
    };
    for u in users {
        let mut mine = m.clone();
        a.present(*u, std::slice::from_mut(&mut mine));
        fanout
            .to_users(
                std::slice::from_ref(u),
                except,
                event,
                Payload::Message(&mine),
            )
            .await;
    }
}

/// [`Fanout`] over a socketioxide server.
pub(crate) struct IoFanout<A: Adapter>(pub(crate) SocketIo<A>);

#[async_trait]
impl<A: Adapter> Fanout for IoFanout<A> {
    async fn to_users(
        &self,
        users: &[UserId],
        except: Option<Sid>,
        event: &'static str,
        data: Payload<'_>,
    ) {
        if users.is_empty() {
            return;
        }
        let rooms: Vec<String> = users.iter().map(|u| user_room(*u)).collect();
        // A broadcast from a socket skips that socket, on every node. `except` is always a
        // socket of this node (the one whose event this is), or gone.
        let op = match except.and_then(|sid| self.0.get_socket(sid)) {
            Some(origin) => origin.to(rooms),
            None => self.0.to(rooms),
        };
        if let Err(e) = op.emit(event, &data).await {
            tracing::warn!(error = %e, event, "emit failed");
        }
    }

    fn disconnect_session(&self, session: SessionId) {
        for s in self.0.sockets() {
            if s.extensions
                .get::<Arc<SocketUser>>()
                .is_some_and(|u| u.session_id == session)
            {
                let _ = s.disconnect();
            }
        }
    }

    fn local_sockets(&self) -> Vec<(String, SocketUser)> {
        self.0
            .sockets()
            .into_iter()
            .filter_map(|s| {
                let u = s.extensions.get::<Arc<SocketUser>>()?;
                Some((s.id.to_string(), (*u).clone()))
            })
            .collect()
    }
}
