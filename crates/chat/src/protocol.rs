//! Socket.IO event names and payloads (SPEC §4), in one place. The web client imports the
//! names from `web/src/lib/protocol.ts` and the types generated from this module.
//!
//! Every client event is answered through its ack with `{ok: true, ...}` or
//! `{ok: false, error: {code, message}}`.
//!
//! Every payload and ack is a type here (or in `chatsync_core::ports`); the web app's
//! TypeScript types are generated from them (`web/src/lib/generated/`, written by
//! `cargo test -p chatsync-server --lib generated`).

use chatsync_core::ids::{ConversationId, MediaId, MessageId, UserId};
use chatsync_core::ports::chat::{Message, Notifications, ReceiptKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Client → server: send a message. Ack: `{ok, message}`.
pub const SEND: &str = "message:send";
/// Client → server: typing started or stopped. Ack: `{ok}`.
pub const TYPING: &str = "typing";
/// Client → server: delivered/read position. Ack: `{ok, seq}`.
pub const RECEIPT: &str = "receipt";
/// Client → server: missed messages. Ack: `{ok, messages, has_more}`.
pub const SYNC: &str = "sync";
/// Client → server: edit own message (extension). Ack: `{ok, message}`.
pub const EDIT: &str = "message:edit";
/// Client → server: delete own message (extension). Ack: `{ok, message}`.
pub const DELETE: &str = "message:delete";
/// Client → server: add or remove a reaction (extension). Ack: `{ok, message}`.
pub const REACT: &str = "message:react";

/// Server → client: a new message.
pub const MESSAGE_NEW: &str = "message:new";
/// Server → client: an edited or deleted message, or changed reactions.
pub const MESSAGE_UPDATED: &str = "message:updated";
/// Server → client: someone is typing (or stopped).
pub const TYPING_EVENT: &str = "typing";
/// Server → client: a member's delivered/read position moved.
pub const RECEIPT_EVENT: &str = "receipt";
/// Server → client: a contact came online or went offline.
pub const PRESENCE: &str = "presence";
/// Server → client: the user was added to a conversation.
pub const CONVERSATION_NEW: &str = "conversation:new";
/// Server → client: a conversation's name or members changed (extension).
pub const CONVERSATION_UPDATED: &str = "conversation:updated";
/// Server → client: the user was removed from a conversation or left it (extension).
pub const CONVERSATION_REMOVED: &str = "conversation:removed";
/// Server → client: the user's notification settings of a conversation changed on one of
/// their devices (extension).
pub const NOTIFICATIONS_CHANGED: &str = "conversation:notifications";
/// Server → client: the user's chat settings (`/api/chat-settings`) changed on one of their
/// devices (extension).
pub const SETTINGS_CHANGED: &str = "chat:settings";

/// `message:send`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SendPayload {
    /// Target conversation.
    pub conversation_id: ConversationId,
    /// Client-chosen idempotency key, 1–64 characters.
    pub client_id: String,
    /// Text, up to 4,000 characters; may be empty with attachments.
    #[serde(default)]
    #[ts(as = "Option<String>", optional)]
    pub body: String,
    /// Uploaded media to attach.
    #[serde(default)]
    #[ts(as = "Option<Vec<MediaId>>", optional)]
    pub attachments: Vec<MediaId>,
    /// A message of the same conversation this one answers.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub reply_to: Option<MessageId>,
    /// Members the message mentions.
    #[serde(default)]
    #[ts(as = "Option<Vec<UserId>>", optional)]
    pub mentions: Vec<UserId>,
}

/// `typing`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct TypingPayload {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Started (true) or stopped (false).
    pub typing: bool,
}

/// `receipt`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPayload {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Delivered or read.
    pub kind: ReceiptKind,
    /// Everything up to here.
    pub seq: i64,
}

/// `sync`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SyncPayload {
    /// Last seq the client has, per conversation. Conversations left out are read from the
    /// start.
    #[serde(default)]
    #[ts(as = "Option<HashMap<ConversationId, i64>>", optional)]
    pub after: HashMap<ConversationId, i64>,
    /// The conversation version the client's copy reflects, per conversation: messages it has
    /// that changed since come back as `updated`. Conversations left out get no changes.
    #[serde(default)]
    #[ts(as = "Option<HashMap<ConversationId, i64>>", optional)]
    pub versions: HashMap<ConversationId, i64>,
    /// Page size per conversation (default and maximum: the server's `chat.max_page`).
    #[ts(optional = nullable)]
    pub limit: Option<u32>,
}

/// `message:edit`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct EditPayload {
    /// Message.
    pub message_id: MessageId,
    /// New text.
    pub body: String,
}

/// `message:delete`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct DeletePayload {
    /// Message.
    pub message_id: MessageId,
}

/// `message:react`.
#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ReactPayload {
    /// Message.
    pub message_id: MessageId,
    /// One emoji (at most 16 characters).
    pub emoji: String,
    /// Add (true, the default) or remove.
    #[serde(default = "yes")]
    #[ts(as = "Option<bool>", optional)]
    pub on: bool,
}

fn yes() -> bool {
    true
}

/// The answer to a receipt (`receipt` ack, `POST /api/conversations/{id}/receipts`).
#[derive(Debug, Serialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ReceiptAck {
    /// Whether the position moved (a receipt behind the current position changes nothing).
    pub moved: bool,
    /// The new position, when it moved.
    pub seq: Option<i64>,
}

impl From<Option<i64>> for ReceiptAck {
    fn from(moved: Option<i64>) -> Self {
        Self {
            moved: moved.is_some(),
            seq: moved,
        }
    }
}

// ---- Acks (server → client, answering a client event) ----

/// A message serialized once, for its sender's ack and every recipient's `message:new`
/// (issue 10: the runtime serialized each message twice); its JSON is [`Message`]'s, written
/// by [`Message::to_json`].
#[derive(Clone, Debug)]
pub struct MessageJson(Arc<str>);

/// serde_json's name for JSON text that goes into its output as it is: serializing a struct
/// of this name with one field of this name holding the text is what `RawValue`'s own
/// `Serialize` does, and serde_json (through socketioxide's packet serializer too) writes the
/// field's text unescaped. Not a `RawValue`: making one from text either parses the text again
/// (`from_string`, 4,300 instructions per message, more than `to_json` saved; issue 10,
/// twenty-third pass) or is `unsafe` (`from_string_unchecked`), which the workspace forbids.
/// The tests below send both ways and compare the packets, so a serde_json that changed this
/// name would fail them.
const SERDE_JSON_RAW_VALUE: &str = "$serde_json::private::RawValue";

impl MessageJson {
    /// `m` as JSON.
    pub fn new(m: &Message) -> Self {
        Self(Arc::from(m.to_json()))
    }
}

impl Serialize for MessageJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut raw = s.serialize_struct(SERDE_JSON_RAW_VALUE, 1)?;
        raw.serialize_field(SERDE_JSON_RAW_VALUE, &*self.0)?;
        raw.end()
    }
}

/// A message, typed or serialized already; either way the same JSON.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum MessageOrJson {
    /// As stored.
    Typed(Box<Message>),
    /// Serialized once for everyone who gets it.
    Json(MessageJson),
}

/// The ack of `message:send`.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct SendAck {
    /// Always `true`.
    #[ts(type = "true")]
    pub ok: bool,
    /// The stored message.
    #[ts(as = "Message")]
    pub message: MessageOrJson,
    /// The `client_id` had been used before: this is the message stored then.
    pub duplicate: bool,
}

/// The ack of `message:edit`, `message:delete` and `message:react`: the message as it is now.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct MessageAck {
    /// Always `true`.
    #[ts(type = "true")]
    pub ok: bool,
    /// The changed message.
    pub message: Message,
}

/// The ack of `typing`.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct OkAck {
    /// Always `true`.
    #[ts(type = "true")]
    pub ok: bool,
}

/// The ack of `receipt`.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ReceiptEventAck {
    /// Always `true`.
    #[ts(type = "true")]
    pub ok: bool,
    /// Where the position is now.
    #[serde(flatten)]
    pub receipt: ReceiptAck,
}

/// The ack of `sync`.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct SyncAck {
    /// Always `true`.
    #[ts(type = "true")]
    pub ok: bool,
    /// New messages, ascending by seq per conversation.
    pub messages: Vec<Message>,
    /// Messages the client has that changed since its `versions`, as they are now.
    pub updated: Vec<Message>,
    /// The version to send next time, per conversation of the user.
    pub versions: HashMap<ConversationId, i64>,
    /// A page was full: call again with the new positions.
    pub has_more: bool,
}

/// The ack of a refused event.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ErrorAck {
    /// Always `false`.
    #[ts(type = "false")]
    pub ok: bool,
    /// What went wrong.
    pub error: AckError,
}

/// Why an event was refused.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct AckError {
    /// Stable, machine-readable (`rate_limited`, `not_found`, `validation_failed`, ...).
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// With `rate_limited`: when to try again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub retry_after_ms: Option<u64>,
    /// The event's request id, as the server's logs name it (quote it when reporting a
    /// problem).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub request_id: Option<String>,
}

// ---- Events (server → client) ----
// `message:new` and `message:updated` carry a `Message`; `conversation:new` and
// `conversation:updated` a `Conversation`; `presence` a `PresenceState` (chatsync_core).

/// `typing`: someone started or stopped typing.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct TypingEvent {
    /// Where.
    pub conversation_id: ConversationId,
    /// Who.
    pub user_id: UserId,
    /// Started (true) or stopped (false).
    pub typing: bool,
}

/// `receipt`: a member's delivered or read position moved.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ReceiptEvent {
    /// Where.
    pub conversation_id: ConversationId,
    /// Whose position.
    pub user_id: UserId,
    /// Delivered or read.
    pub kind: ReceiptKind,
    /// Everything up to here.
    pub seq: i64,
}

/// `conversation:removed`: I was removed from a conversation or left it.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct ConversationRemoved {
    /// Which.
    pub conversation_id: ConversationId,
}

/// `conversation:notifications`: my notification settings of a conversation changed on one
/// of my devices.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct NotificationsChanged {
    /// Which conversation.
    pub conversation_id: ConversationId,
    /// The settings now.
    pub notifications: Notifications,
}

/// My chat settings: `GET`/`PUT /api/chat-settings`, and the `chat:settings` event when they
/// change on one of my devices.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Send (and see) read receipts.
    pub read_receipts: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::Payload;
    use chatsync_core::ports::chat::now_millis;
    use socketioxide_core::parser::Parse;
    use socketioxide_parser_common::CommonParser;

    fn message() -> Message {
        Message {
            id: MessageId::new(),
            conversation_id: ConversationId::new(),
            seq: 7,
            sender_id: UserId::new(),
            client_id: "c-\"quoted\"".into(),
            body: "héllo \u{1F600} <b>\\n".into(),
            attachments: Vec::new(),
            reply_to: Some(MessageId::new()),
            mentions: vec![UserId::new()],
            preview: None,
            created_at: now_millis(),
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
        }
    }

    /// The packet text socketioxide makes of `data` for `event`.
    fn packet(data: &impl Serialize, event: &str) -> String {
        let value = CommonParser
            .encode_value(data, Some(event))
            .expect("serializable");
        value.as_str().expect("text").to_string()
    }

    /// A message serialized once goes out as the very text the typed message made, through
    /// socketioxide's serializer, in `message:new` and in the send ack alike.
    #[test]
    fn a_message_serialized_once_sends_the_same_packets_as_the_typed_one() {
        let m = message();
        let json = MessageJson::new(&m);
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            serde_json::to_string(&m).unwrap()
        );
        assert_eq!(
            packet(&Payload::Json(&json), MESSAGE_NEW),
            packet(&Payload::Message(&m), MESSAGE_NEW)
        );
        let typed = SendAck {
            ok: true,
            message: MessageOrJson::Typed(Box::new(m.clone())),
            duplicate: false,
        };
        let shared = SendAck {
            ok: true,
            message: MessageOrJson::Json(json),
            duplicate: false,
        };
        let (typed, shared) = (packet(&typed, "ack"), packet(&shared, "ack"));
        assert_eq!(shared, typed);
        assert!(typed.contains(r#""client_id":"c-\"quoted\"""#), "{typed}");
    }
}
