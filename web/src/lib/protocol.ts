// Mirrors crates/chat/src/protocol.rs and the JSON shapes in docs/API.md; change both together.

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

export type ReceiptKind = "delivered" | "read";
export type Role = "owner" | "member";

export interface Attachment {
  media_id: string;
  content_type: string;
  size: number;
  name: string;
  width?: number;
  height?: number;
  has_thumbnail: boolean;
  url?: string;
  thumbnail_url?: string | null;
}

/** A link's page, read by the server after the message was stored (`message:updated`). */
export interface LinkPreview {
  /** The page the card links to (the first http(s) link of the message, after redirects). */
  url: string;
  title: string | null;
  description: string | null;
  site_name: string | null;
  /** ChatSync's own copy of the page's image; the page's image URL is never handed out. */
  image: Attachment | null;
}

export interface Reaction {
  emoji: string;
  user_ids: string[];
}

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  sender_id: string;
  client_id: string;
  body: string;
  attachments: Attachment[];
  /** The message of the same conversation this one answers; kept when that one is deleted. */
  reply_to: string | null;
  /** The members this message mentions (user ids; never the sender); cleared on delete. */
  mentions: string[];
  /** Set after the message is stored, if its first link has a page worth showing; `null` otherwise. */
  preview: LinkPreview | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  reactions: Reaction[];
}

export interface Member {
  user_id: string;
  display_name: string;
  avatar_url: string | null;
  role: Role;
  joined_at: string;
  delivered_seq: number;
  read_seq: number;
}

export interface Conversation {
  id: string;
  kind: "direct" | "group";
  name: string | null;
  created_by: string;
  created_at: string;
  last_seq: number;
  last_activity_at: string;
  members: Member[];
  /** Change cursor: counts edits, deletes and reactions of its messages (sent back in `sync`). */
  version?: number;
}

/** What a conversation notifies me about: `chosen` by me, else the server's default. */
export type NotificationLevel = "all" | "mentions" | "none";

export interface NotificationSettings {
  /** In force: `chosen`, else "mentions" in a group of more than 20 members, else "all". */
  level: NotificationLevel;
  chosen: NotificationLevel | null;
  /** Nothing notifies until then; null when not muted. */
  muted_until: string | null;
}

export interface ConversationSummary extends Conversation {
  last_message: Message | null;
  /** Up to 100 (shown as "99+" beyond 99). */
  unread_count: number;
  /** Messages after my read position that mention me. */
  mention_count: number;
  notifications: NotificationSettings;
}

/** `conversation:notifications`: my settings changed on another device. */
export interface NotificationsEvent {
  conversation_id: string;
  notifications: NotificationSettings;
}

export interface SendPayload {
  conversation_id: string;
  client_id: string;
  body: string;
  attachments?: string[];
  /** A message of the same conversation; any other id is refused with `validation_failed`. */
  reply_to?: string;
  /** Members mentioned (user ids); anyone else is refused with `validation_failed`. */
  mentions?: string[];
}

export interface TypingPayload {
  conversation_id: string;
  typing: boolean;
}

export interface ReceiptPayload {
  conversation_id: string;
  kind: ReceiptKind;
  seq: number;
}

export interface SyncPayload {
  after: Record<string, number>;
  /** Per conversation, the version the loaded messages reflect: changes since come in `updated`. */
  versions?: Record<string, number>;
  limit?: number;
}

export interface TypingEvent {
  conversation_id: string;
  user_id: string;
  typing: boolean;
}

export interface ReceiptEvent {
  conversation_id: string;
  user_id: string;
  kind: ReceiptKind;
  seq: number;
}

export interface PresenceEvent {
  user_id: string;
  online: boolean;
  last_seen: string | null;
}

export interface AckError {
  code: string;
  message: string;
  retry_after_ms?: number;
}

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: AckError };

export type SendAck = Ack<{ message: Message; duplicate: boolean }>;
export type MessageAck = Ack<{ message: Message }>;
/**
 * `messages`: new ones, ascending per conversation; `updated`: messages at or below `after`
 * changed since `versions` (as they are now, oldest change first); `versions`: send next time.
 */
export type SyncAck = Ack<{
  messages: Message[];
  updated?: Message[];
  versions?: Record<string, number>;
  has_more: boolean;
}>;
export type ReceiptAck = Ack<{ moved: boolean; seq: number | null }>;
