// The Socket.IO event names of crates/chat/src/protocol.rs, and the wire types. The types are
// generated from the Rust ones into ./generated (never edit those by hand): after changing a
// Rust type, run `cargo test -p chatsync-server --lib api_docs` and commit what it rewrites.
// CI fails while the generated files differ from the Rust types.

/** Client → server events; each is answered through its ack. */
export const SEND = "message:send";
export const TYPING = "typing";
export const RECEIPT = "receipt";
export const SYNC = "sync";
export const EDIT = "message:edit";
export const DELETE = "message:delete";
export const REACT = "message:react";

/** Server → client events. */
export const MESSAGE_NEW = "message:new";
export const MESSAGE_UPDATED = "message:updated";
export const TYPING_EVENT = "typing";
export const RECEIPT_EVENT = "receipt";
export const PRESENCE = "presence";
export const CONVERSATION_NEW = "conversation:new";
export const CONVERSATION_UPDATED = "conversation:updated";
export const CONVERSATION_REMOVED = "conversation:removed";
export const CONVERSATION_NOTIFICATIONS = "conversation:notifications";
/** My chat settings (`/api/chat-settings`) changed on one of my devices. */
export const CHAT_SETTINGS = "chat:settings";

export type { ReceiptKind } from "./generated/ReceiptKind";
export type { Role } from "./generated/Role";
export type { Attachment } from "./generated/Attachment";
export type { LinkPreview } from "./generated/LinkPreview";
export type { Reaction } from "./generated/Reaction";
export type { Message } from "./generated/Message";
export type { Member } from "./generated/Member";
export type { Conversation } from "./generated/Conversation";
export type { ConversationSummary } from "./generated/ConversationSummary";
export type { SendPayload } from "./generated/SendPayload";
export type { TypingPayload } from "./generated/TypingPayload";
export type { ReceiptPayload } from "./generated/ReceiptPayload";
export type { SyncPayload } from "./generated/SyncPayload";
export type { TypingEvent } from "./generated/TypingEvent";
export type { ReceiptEvent } from "./generated/ReceiptEvent";
export type { AckError } from "./generated/AckError";
export type { ChatSettings } from "./generated/ChatSettings";

import type { NotifyLevel } from "./generated/NotifyLevel";
import type { Notifications } from "./generated/Notifications";
import type { NotificationsChanged } from "./generated/NotificationsChanged";
import type { PresenceState } from "./generated/PresenceState";
import type { ErrorAck } from "./generated/ErrorAck";
import type { SendAck as SendDone } from "./generated/SendAck";
import type { MessageAck as MessageDone } from "./generated/MessageAck";
import type { SyncAck as SyncDone } from "./generated/SyncAck";
import type { ReceiptEventAck } from "./generated/ReceiptEventAck";

/** What a conversation notifies me about: `chosen` by me, else the server's default. */
export type NotificationLevel = NotifyLevel;
/** In force (`level`), what I chose (`chosen`), and muted until when. */
export type NotificationSettings = Notifications;
/** `conversation:notifications`: my settings changed on another device. */
export type NotificationsEvent = NotificationsChanged;
/** `presence`: a contact came online or went offline. */
export type PresenceEvent = PresenceState;

/** Every ack: the event's answer (`ok: true`) or why it was refused (`ok: false`). */
export type Ack<T extends { ok: true }> = T | ErrorAck;
export type SendAck = Ack<SendDone>;
export type MessageAck = Ack<MessageDone>;
/**
 * `messages`: new ones, ascending per conversation; `updated`: messages at or below `after`
 * changed since `versions` (as they are now, oldest change first); `versions`: send next time.
 */
export type SyncAck = Ack<SyncDone>;
export type ReceiptAck = Ack<ReceiptEventAck>;
