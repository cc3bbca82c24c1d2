import type { Conversation, Member, Message } from "./protocol";

export function otherMember(c: Conversation, me: string): Member | undefined {
  return c.members.find((m) => m.user_id !== me);
}

export function conversationTitle(c: Conversation, me: string): string {
  if (c.kind === "group") return c.name ?? "Group";
  return otherMember(c, me)?.display_name ?? "Just you";
}

export type Delivery = "sending" | "failed" | "sent" | "delivered" | "read";

/** Where one of my messages got to: every other member must have reached it. */
export function delivery(c: Conversation, m: Message, me: string): Delivery {
  const others = c.members.filter((x) => x.user_id !== me);
  if (!others.length) return "sent";
  if (others.every((x) => x.read_seq >= m.seq)) return "read";
  if (others.every((x) => x.delivered_seq >= m.seq)) return "delivered";
  return "sent";
}

export function memberName(c: Conversation, userId: string): string {
  return c.members.find((m) => m.user_id === userId)?.display_name ?? "Someone";
}

/** A one-line preview of a message for the conversation list. */
export function preview(m: Message): string {
  if (m.deleted) return "Message deleted";
  if (m.body.trim()) return m.body;
  const a = m.attachments[0];
  if (!a) return "";
  if (a.content_type.startsWith("image/")) return "📷 Photo";
  if (a.content_type.startsWith("video/")) return "🎬 Video";
  return `📎 ${a.name}`;
}

export function memberCount(c: Conversation): string {
  return c.members.length === 1 ? "1 member" : `${c.members.length} members`;
}
