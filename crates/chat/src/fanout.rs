//! Delivering events to sockets, on this node and (with the Redis adapter) on every node.
//! The rest of the service talks to this trait, so only the Socket.IO wiring is generic over
//! socketioxide's adapter type.

use crate::protocol;
use async_trait::async_trait;
use chatsync_core::ids::{SessionId, UserId};
use chatsync_core::ports::Attachments;
use chatsync_core::ports::chat::Message;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SocketError, SocketIo};
use std::sync::Arc;

/// The room every socket of a user joins.
pub fn user_room(user: UserId) -> String {
    // Not `format!`: this runs for every recipient of every message, and the formatting
    // machinery cost a thousand instructions more than copying the encoded id (issue 10).
    let mut id = uuid::Uuid::encode_buffer();
    let id = user.0.hyphenated().encode_lower(&mut id);
    let mut room = String::with_capacity(2 + id.len());
    room.push_str("u:");
    room.push_str(id);
    room
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

/// What went wrong in a broadcast, as one log line. A socket that closed while the broadcast
/// was under way (its user signed out or went offline, often the very event that causes a
/// `presence` broadcast) is not a fault: such sockets are counted at debug level, not listed
/// one `Closed` after another in a warning. A socket whose queue was full (a client that
/// reads too slowly, see `chat.socket_queue_packets`) missed the event: a warning with the
/// count. Anything else (serializing, the adapter) is a warning with its error.
fn log_emit_failure(event: &'static str, e: &BroadcastError) {
    let BroadcastError::Socket(errors) = e else {
        tracing::warn!(error = %e, event, "emit failed");
        return;
    };
    let closed = errors
        .iter()
        .filter(|e| matches!(e, SocketError::Closed))
        .count();
    let full = errors.len() - closed;
    if full == 0 {
        tracing::debug!(closed, event, "emit skipped sockets that had closed");
    } else {
        tracing::warn!(
            full,
            closed,
            event,
            "emit failed: sockets whose queue was full missed the event"
        );
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
            log_emit_failure(event, &e);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The log lines `f` writes, at every level.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let out = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_user_room_is_u_colon_the_id() {
        let u = UserId::new();
        assert_eq!(user_room(u), format!("u:{u}"));
        assert_eq!(user_room(u).len(), 38);
    }

    #[test]
    fn sockets_that_had_closed_are_counted_at_debug_level_not_listed_in_a_warning() {
        let closed = BroadcastError::Socket((0..40).map(|_| SocketError::Closed).collect());
        let log = logged(|| log_emit_failure("presence", &closed));
        assert!(log.contains("DEBUG"), "{log}");
        assert!(log.contains("closed=40"), "{log}");
        assert!(!log.contains("WARN"), "{log}");
        assert!(!log.contains("Closed, Closed"), "{log}");
    }

    #[test]
    fn sockets_whose_queue_was_full_are_a_warning_with_their_count() {
        let mixed = BroadcastError::Socket(vec![
            SocketError::Closed,
            SocketError::InternalChannelFull,
            SocketError::InternalChannelFull,
        ]);
        let log = logged(|| log_emit_failure("message:new", &mixed));
        assert!(log.contains("WARN"), "{log}");
        assert!(log.contains("full=2"), "{log}");
        assert!(log.contains("closed=1"), "{log}");
        assert!(log.contains("message:new"), "{log}");
    }
}
