//! Socket.IO event names and payloads (SPEC §4), in one place. The web client mirrors this
//! module in `web/src/lib/protocol.ts`; change both together.
//!
//! Every client event is answered through its ack with `{ok: true, ...}` or
//! `{ok: false, error: {code, message}}`.

use chatsync_core::ids::{ConversationId, MediaId, MessageId, UserId};
use chatsync_core::ports::chat::ReceiptKind;
use serde::Deserialize;
use std::collections::HashMap;

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendPayload {
    /// Target conversation.
    pub conversation_id: ConversationId,
    /// Client-chosen idempotency key, 1–64 characters.
    pub client_id: String,
    /// Text, up to 4,000 characters; may be empty with attachments.
    #[serde(default)]
    pub body: String,
    /// Uploaded media to attach.
    #[serde(default)]
    pub attachments: Vec<MediaId>,
    /// A message of the same conversation this one answers.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// Members the message mentions.
    #[serde(default)]
    pub mentions: Vec<UserId>,
}

/// `typing`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingPayload {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Started (true) or stopped (false).
    pub typing: bool,
}

/// `receipt`.
#[derive(Debug, Deserialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncPayload {
    /// Last seq the client has, per conversation. Conversations left out are read from the
    /// start.
    #[serde(default)]
    pub after: HashMap<ConversationId, i64>,
    /// The conversation version the client's copy reflects, per conversation: messages it has
    /// that changed since come back as `updated`. Conversations left out get no changes.
    #[serde(default)]
    pub versions: HashMap<ConversationId, i64>,
    /// Page size per conversation (default and maximum: the server's `chat.max_page`).
    pub limit: Option<u32>,
}

/// `message:edit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditPayload {
    /// Message.
    pub message_id: MessageId,
    /// New text.
    pub body: String,
}

/// `message:delete`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePayload {
    /// Message.
    pub message_id: MessageId,
}

/// `message:react`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactPayload {
    /// Message.
    pub message_id: MessageId,
    /// One emoji (at most 16 characters).
    pub emoji: String,
    /// Add (true, the default) or remove.
    #[serde(default = "yes")]
    pub on: bool,
}

fn yes() -> bool {
    true
}
