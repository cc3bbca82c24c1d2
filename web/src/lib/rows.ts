// The rows of a conversation's message list: day separators, runs of messages from one
// sender, and messages still in the outbox after the stored ones. Pure, so it is unit-tested.

import { delivery, type Delivery } from "./conversation";
import { formatDay, sameDay } from "./format";
import type { Conversation, Message } from "./protocol";
import type { OutboxEntry } from "./store";

/** Messages from one sender closer together than this form one run (one name, one avatar). */
export const GROUP_GAP_MS = 5 * 60_000;

export type Row =
  | { kind: "day"; key: string; label: string }
  | {
      kind: "message";
      key: string;
      m: Message;
      pending: OutboxEntry | null;
      /** First of a run from one sender. */
      first: boolean;
      /** Last of a run from one sender. */
      last: boolean;
      /** Only for my messages. */
      status: Delivery | null;
    };

/** How an outbox entry shows until the stored message replaces it (after every stored one). */
export function pendingMessage(o: OutboxEntry, me: string): Message {
  return {
    id: o.client_id,
    conversation_id: o.conversation_id,
    seq: Number.MAX_SAFE_INTEGER,
    sender_id: me,
    client_id: o.client_id,
    body: o.body,
    attachments: o.attachments,
    reply_to: o.reply_to ?? null,
    mentions: [],
    preview: null,
    created_at: o.created_at,
    edited_at: null,
    deleted: false,
    reactions: [],
  };
}

function joins(a: Message | undefined, b: Message): boolean {
  return (
    !!a &&
    a.sender_id === b.sender_id &&
    sameDay(a.created_at, b.created_at) &&
    Math.abs(Date.parse(b.created_at) - Date.parse(a.created_at)) < GROUP_GAP_MS
  );
}

/** `items` are the stored messages ascending by seq; `now` decides "Today" and "Yesterday". */
export function buildRows(
  c: Conversation,
  items: Message[],
  outbox: OutboxEntry[],
  me: string,
  now = new Date(),
): Row[] {
  const stored = new Set(items.filter((m) => m.sender_id === me).map((m) => m.client_id));
  const pending = outbox.filter((o) => o.conversation_id === c.id && !stored.has(o.client_id));
  const all: { m: Message; pending: OutboxEntry | null }[] = [
    ...items.map((m) => ({ m, pending: null })),
    ...pending.map((o) => ({ m: pendingMessage(o, me), pending: o })),
  ];
  const rows: Row[] = [];
  all.forEach(({ m, pending }, i) => {
    const prev = all[i - 1]?.m;
    const next = all[i + 1]?.m;
    if (!prev || !sameDay(prev.created_at, m.created_at))
      rows.push({ kind: "day", key: `day-${m.created_at.slice(0, 10)}-${m.id}`, label: formatDay(m.created_at, now) });
    rows.push({
      kind: "message",
      // The client_id keeps a pending message's element when the stored one replaces it.
      key: m.sender_id === me ? `c-${m.client_id}` : m.id,
      m,
      pending,
      first: !joins(prev, m),
      last: !next || !joins(m, next),
      status:
        m.sender_id !== me ? null : pending ? (pending.status === "failed" ? "failed" : "sending") : delivery(c, m, me),
    });
  });
  return rows;
}
