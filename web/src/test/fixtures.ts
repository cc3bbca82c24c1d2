// Builders for the unit tests: protocol objects with sensible defaults, overridden per test.

import type { Conversation, ConversationSummary, Member, Message } from "../lib/protocol";
import type { OutboxEntry } from "../lib/store";

export const ME = "00000000-0000-4000-8000-000000000001";
export const BOB = "00000000-0000-4000-8000-000000000002";
export const CAROL = "00000000-0000-4000-8000-000000000003";
export const CID = "10000000-0000-4000-8000-000000000001";
export const OTHER_CID = "10000000-0000-4000-8000-000000000002";

export function member(user_id: string, patch: Partial<Member> = {}): Member {
  return {
    user_id,
    display_name: user_id === ME ? "Me" : user_id === BOB ? "Bob" : "Carol",
    avatar_url: null,
    role: "member",
    joined_at: "2024-05-01T09:00:00Z",
    delivered_seq: 0,
    read_seq: 0,
    ...patch,
  };
}

export function conversation(patch: Partial<Conversation> = {}): Conversation {
  return {
    id: CID,
    kind: "direct",
    name: null,
    created_by: ME,
    created_at: "2024-05-01T09:00:00Z",
    last_seq: 0,
    last_activity_at: "2024-05-01T09:00:00Z",
    version: 0,
    members: [member(ME), member(BOB)],
    ...patch,
  };
}

export function summary(patch: Partial<ConversationSummary> = {}): ConversationSummary {
  return {
    ...conversation(patch),
    last_message: null,
    unread_count: 0,
    mention_count: 0,
    notifications: { level: "all", chosen: null, muted_until: null },
    ...patch,
  };
}

let n = 0;
export function message(seq: number, patch: Partial<Message> = {}): Message {
  n++;
  return {
    id: `20000000-0000-4000-8000-${String(seq).padStart(6, "0")}${String(n % 1_000_000).padStart(6, "0")}`,
    conversation_id: CID,
    seq,
    sender_id: BOB,
    client_id: `30000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    body: `message ${seq}`,
    attachments: [],
    reply_to: null,
    mentions: [],
    preview: null,
    created_at: new Date(Date.UTC(2024, 4, 1, 10, 0, seq)).toISOString(),
    edited_at: null,
    deleted: false,
    reactions: [],
    ...patch,
  };
}

export function outboxEntry(patch: Partial<OutboxEntry> = {}): OutboxEntry {
  n++;
  return {
    client_id: `40000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    conversation_id: CID,
    body: "pending",
    attachments: [],
    created_at: "2024-05-01T11:00:00Z",
    status: "pending",
    error: null,
    ...patch,
  };
}
