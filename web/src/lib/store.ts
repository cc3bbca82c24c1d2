// The app's state in one external store, read by components through `useChat(selector)`.
// Updates are immutable so selectors can return slices without copying.

import { useSyncExternalStore } from "react";
import type { PresenceState } from "./api";
import { fitsWindow, joinPage, type HistoryPage } from "./history";
import { countedUnread, mentionsMe } from "./notify";
import type {
  Attachment,
  Conversation,
  ConversationSummary,
  Member,
  Message,
  NotificationSettings,
  ReceiptEvent,
} from "./protocol";

/** The window of a conversation's history held here (`history.ts`). */
export interface Thread {
  /** Stored messages, ascending by seq, without duplicates or gaps. */
  items: Message[];
  loaded: boolean;
  loading: boolean;
  /** Older messages exist on the server. */
  hasMore: boolean;
  /**
   * Newer messages exist on the server: the window was opened around an older message and
   * does not reach the live end yet, so live messages wait on the server until it does.
   */
  hasNewer: boolean;
  /** The seq the window was last opened around (`around_seq`), null for the newest page. */
  around: number | null;
  error: string | null;
}

export interface ConversationEntry extends Conversation {
  last_message: Message | null;
  unread_count: number;
  /** Unread messages that mention me. */
  mention_count: number;
  notifications: NotificationSettings;
}

/** A message that is not acknowledged yet (or was refused). */
export interface OutboxEntry {
  client_id: string;
  conversation_id: string;
  body: string;
  attachments: Attachment[];
  /** Optional: entries saved in localStorage before replies existed have no such field. */
  reply_to?: string | null;
  /** Members mentioned (user ids); optional like `reply_to`, for entries saved before mentions. */
  mentions?: string[];
  created_at: string;
  status: "pending" | "failed";
  error: string | null;
}

export type Connection = "connecting" | "online" | "offline";

export interface Toast {
  id: number;
  kind: "error" | "info";
  text: string;
}

export interface ChatState {
  conversations: Record<string, ConversationEntry>;
  listLoaded: boolean;
  threads: Record<string, Thread>;
  outbox: OutboxEntry[];
  presence: Record<string, PresenceState>;
  /** conversation → user → when the indicator expires (ms since epoch). */
  typing: Record<string, Record<string, number>>;
  connection: Connection;
  activeId: string | null;
  /** A message to scroll to and highlight once its conversation shows it (a search hit). */
  reveal: { conversation_id: string; seq: number } | null;
  /** The message the composer's next message answers; only ever in the open conversation. */
  replyTo: { conversation_id: string; message_id: string } | null;
  /**
   * Per conversation, the change cursor (`version`) the messages held here reflect: `sync`
   * sends it and answers what was edited, deleted or reacted to since. Only a `sync` answer
   * moves it; a list reload after a reconnect must not skip the changes missed meanwhile.
   */
  versions: Record<string, number>;
  /**
   * My `read_receipts` chat setting (`/api/chat-settings`). Off: nobody sees my reads and I
   * see nobody's, so read ticks and "Read by" are not shown (true until the setting is read).
   */
  readReceipts: boolean;
  toasts: Toast[];
}

const initial = (): ChatState => ({
  conversations: {},
  listLoaded: false,
  threads: {},
  outbox: [],
  presence: {},
  typing: {},
  connection: "connecting",
  activeId: null,
  reveal: null,
  replyTo: null,
  versions: {},
  readReceipts: true,
  toasts: [],
});

let state: ChatState = initial();
const listeners = new Set<() => void>();

export function getState(): ChatState {
  return state;
}

export function setState(update: (s: ChatState) => ChatState): void {
  const next = update(state);
  if (next === state) return;
  state = next;
  listeners.forEach((l) => l());
}

export function resetState(): void {
  setState(() => initial());
}

export function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useChat<T>(selector: (s: ChatState) => T): T {
  return useSyncExternalStore(subscribe, () => selector(state));
}

// ---- conversations ------------------------------------------------------------------------

export const emptyThread: Thread = {
  items: [],
  loaded: false,
  loading: false,
  hasMore: true,
  hasNewer: false,
  around: null,
  error: null,
};

export function setConversationList(list: ConversationSummary[]): void {
  setState((s) => {
    const conversations: Record<string, ConversationEntry> = {};
    for (const c of list) {
      const known = s.conversations[c.id];
      // A newer message already seen over the socket wins over a slower list answer, and so
      // do the unread and mention counts it moved: the list was read before it was sent, and
      // a catch-up starts after it, so nothing would count it again.
      const last = newer(known?.last_message ?? null, c.last_message);
      const behind = known !== undefined && known.last_seq > c.last_seq;
      conversations[c.id] = {
        ...c,
        members: keepPositions(c.members, known?.members),
        last_message: last,
        last_seq: Math.max(c.last_seq, last?.seq ?? 0),
        ...(behind ? { unread_count: known.unread_count, mention_count: known.mention_count } : {}),
      };
    }
    return { ...s, conversations, listLoaded: true, versions: knownVersions(s.versions, list) };
  });
}

/** Versions for conversations seen for the first time; known ones stay until a sync moves them. */
function knownVersions(versions: Record<string, number>, list: Conversation[]): Record<string, number> {
  const fresh = list.filter((c) => c.version !== undefined && versions[c.id] === undefined);
  if (!fresh.length) return versions;
  return { ...versions, ...Object.fromEntries(fresh.map((c) => [c.id, c.version!])) };
}

/** Takes the versions a `sync` answer says to continue from. */
export function setVersions(versions: Record<string, number>): void {
  setState((s) => {
    const changed = Object.entries(versions).filter(([id, v]) => s.versions[id] !== v);
    return changed.length ? { ...s, versions: { ...s.versions, ...Object.fromEntries(changed) } } : s;
  });
}

/**
 * Receipt positions only move forward. A list or conversation fetched just before a receipt
 * event must not take a tick back.
 */
function keepPositions(fresh: Member[], known: Member[] | undefined): Member[] {
  if (!known) return fresh;
  const old = new Map(known.map((m) => [m.user_id, m]));
  return fresh.map((m) => {
    const k = old.get(m.user_id);
    if (!k) return m;
    return {
      ...m,
      delivered_seq: Math.max(m.delivered_seq, k.delivered_seq),
      read_seq: Math.max(m.read_seq, k.read_seq),
    };
  });
}

function newer(a: Message | null, b: Message | null): Message | null {
  if (!a) return b;
  if (!b) return a;
  return b.seq >= a.seq ? b : a;
}

export function upsertConversation(c: Conversation): void {
  setState((s) => {
    const known = s.conversations[c.id];
    const entry: ConversationEntry = {
      ...c,
      members: keepPositions(c.members, known?.members),
      last_seq: Math.max(c.last_seq, known?.last_seq ?? 0),
      last_message: known?.last_message ?? null,
      unread_count: known?.unread_count ?? 0,
      mention_count: known?.mention_count ?? 0,
      notifications: known?.notifications ?? defaultNotifications(c),
    };
    return { ...s, conversations: { ...s.conversations, [c.id]: entry }, versions: knownVersions(s.versions, [c]) };
  });
}

/**
 * The server's default for a conversation it sent without settings (`conversation:new`):
 * "mentions" in a group of more than 20 members (`chat.mentions_only_group_size`), else "all".
 * The next list load brings the stored ones.
 */
export function defaultNotifications(c: Conversation): NotificationSettings {
  return { level: c.kind === "group" && c.members.length > 20 ? "mentions" : "all", chosen: null, muted_until: null };
}

export function setNotifications(id: string, notifications: NotificationSettings): void {
  setState((s) => {
    const c = s.conversations[id];
    if (!c) return s;
    return { ...s, conversations: { ...s.conversations, [id]: { ...c, notifications } } };
  });
}

/** Clears mutes that have ended (the server reads a past `muted_until` as none, too). */
export function expireMutes(now: number): void {
  setState((s) => {
    let conversations = s.conversations;
    for (const c of Object.values(s.conversations)) {
      const until = c.notifications?.muted_until;
      if (until == null || Date.parse(until) > now) continue;
      conversations = { ...conversations, [c.id]: { ...c, notifications: { ...c.notifications, muted_until: null } } };
    }
    return conversations === s.conversations ? s : { ...s, conversations };
  });
}

/** When the next mute ends (ms since epoch), or null. */
export function nextMuteEnd(s: ChatState): number | null {
  let soonest: number | null = null;
  for (const c of Object.values(s.conversations)) {
    const until = c.notifications?.muted_until;
    if (until == null) continue;
    const t = Date.parse(until);
    if (soonest === null || t < soonest) soonest = t;
  }
  return soonest;
}

export function removeConversation(id: string): void {
  setState((s) => {
    if (!s.conversations[id]) return s;
    const { [id]: _gone, ...conversations } = s.conversations;
    const { [id]: _thread, ...threads } = s.threads;
    return {
      ...s,
      conversations,
      threads,
      outbox: s.outbox.filter((o) => o.conversation_id !== id),
      activeId: s.activeId === id ? null : s.activeId,
      reveal: s.reveal?.conversation_id === id ? null : s.reveal,
      replyTo: s.replyTo?.conversation_id === id ? null : s.replyTo,
    };
  });
}

/** Opens a conversation; a reply being written elsewhere is dropped with its conversation. */
export function setActive(id: string | null): void {
  setState((s) =>
    s.activeId === id ? s : { ...s, activeId: id, replyTo: s.replyTo?.conversation_id === id ? s.replyTo : null },
  );
}

export function setReplyTo(replyTo: ChatState["replyTo"]): void {
  setState((s) =>
    s.replyTo?.conversation_id === replyTo?.conversation_id && s.replyTo?.message_id === replyTo?.message_id
      ? s
      : { ...s, replyTo },
  );
}

/**
 * Unread messages over every conversation, as far as each one's notification level counts
 * them (the tab title shows it): all of them, only those mentioning me, or none while muted.
 */
export function unreadTotal(s: ChatState, now = Date.now()): number {
  let n = 0;
  for (const c of Object.values(s.conversations)) n += countedUnread(c, now);
  return n;
}

export function setReveal(reveal: ChatState["reveal"]): void {
  setState((s) => (s.reveal === reveal ? s : { ...s, reveal }));
}

/** Sets the unread count; nothing unread means no unread mentions either. */
export function setUnread(id: string, unread: number): void {
  setState((s) => {
    const c = s.conversations[id];
    if (!c) return s;
    const mention_count = unread === 0 ? 0 : c.mention_count;
    if (c.unread_count === unread && c.mention_count === mention_count) return s;
    return { ...s, conversations: { ...s.conversations, [id]: { ...c, unread_count: unread, mention_count } } };
  });
}

/** Counts new messages from others that arrived while their conversation was not being read. */
export function addUnread(id: string, fresh: Message[], me: string): void {
  setState((s) => {
    const c = s.conversations[id];
    const counted = fresh.filter((m) => m.sender_id !== me);
    if (!c || !counted.length) return s;
    const mentions = counted.filter((m) => !m.deleted && mentionsMe(m, me)).length;
    const entry = { ...c, unread_count: c.unread_count + counted.length, mention_count: c.mention_count + mentions };
    return { ...s, conversations: { ...s.conversations, [id]: entry } };
  });
}

// ---- messages -----------------------------------------------------------------------------

export function updateThread(id: string, patch: Partial<Thread>): void {
  setState((s) => ({
    ...s,
    threads: { ...s.threads, [id]: { ...(s.threads[id] ?? emptyThread), ...patch } },
  }));
}

/**
 * Adds or replaces messages (by id; a stored message also settles the outbox entry with its
 * client_id). A message the thread's window cannot take without a gap (newer than a window
 * opened far back, older than its first page) only moves the conversation's last message.
 * Returns the messages that were not known before, so callers can count them as unread
 * exactly once.
 */
export function mergeMessages(conversationId: string, msgs: Message[], me: string): Message[] {
  const fresh: Message[] = [];
  setState((s) => {
    const conv = s.conversations[conversationId];
    const thread = s.threads[conversationId];
    const byId = new Map((thread?.items ?? []).map((m) => [m.id, m]));
    let changed = false;
    let news = false;
    for (const m of msgs) {
      const old = byId.get(m.id);
      if (!old && (!conv || m.seq > conv.last_seq)) fresh.push(m);
      if (old && sameMessage(old, m)) continue;
      // A late `message:new` for an older version must not undo an edit or delete.
      if (old && (old.deleted || Date.parse(old.edited_at ?? "0") > Date.parse(m.edited_at ?? "0"))) continue;
      news = true;
      if (!old && thread && !fitsWindow(thread, m.seq)) continue;
      byId.set(m.id, m);
      changed = true;
    }
    const settles = msgs.some((m) => m.sender_id === me && s.outbox.some((o) => o.client_id === m.client_id));
    if (!news && !settles) return s;
    let threads = s.threads;
    // Kept once the thread was opened, even mid-load: the first page may have been read just
    // before this message was committed.
    if (thread && changed) {
      const items = [...byId.values()].sort((a, b) => a.seq - b.seq);
      threads = { ...threads, [conversationId]: { ...thread, items } };
    }
    return withMessages(s, conversationId, msgs, me, threads);
  });
  return fresh;
}

/**
 * Joins a page of history to the thread's window (`joinPage`: extended when it touches,
 * replaced when it does not) and applies `patch` to the thread.
 */
export function mergePage(conversationId: string, page: HistoryPage, me: string, patch: Partial<Thread> = {}): void {
  setState((s) => {
    const thread = s.threads[conversationId] ?? emptyThread;
    const threads = { ...s.threads, [conversationId]: { ...thread, ...joinPage(thread, page), ...patch } };
    return withMessages(s, conversationId, page.messages, me, threads);
  });
}

/** The rest of taking in stored messages: the outbox entries they settle, the last message. */
function withMessages(
  s: ChatState,
  conversationId: string,
  msgs: Message[],
  me: string,
  threads: ChatState["threads"],
): ChatState {
  const conv = s.conversations[conversationId];
  const settled = new Set(msgs.filter((m) => m.sender_id === me).map((m) => m.client_id));
  const outbox = settled.size ? s.outbox.filter((o) => !settled.has(o.client_id)) : s.outbox;
  let conversations = s.conversations;
  if (conv) {
    const last = msgs.reduce<Message | null>((acc, m) => newer(acc, m), conv.last_message);
    const lastSeq = Math.max(conv.last_seq, last?.seq ?? 0);
    const activity =
      last && Date.parse(last.created_at) > Date.parse(conv.last_activity_at) ? last.created_at : conv.last_activity_at;
    if (last !== conv.last_message || lastSeq !== conv.last_seq || activity !== conv.last_activity_at) {
      conversations = {
        ...conversations,
        [conversationId]: { ...conv, last_message: last, last_seq: lastSeq, last_activity_at: activity },
      };
    }
  }
  if (threads === s.threads && outbox === s.outbox && conversations === s.conversations) return s;
  return { ...s, threads, conversations, outbox };
}

/**
 * Messages changed elsewhere (`message:updated`, or a `sync` answer's `updated`, oldest change
 * first), merged like any other copy: the newest edit or a delete is never undone.
 */
export function mergeUpdated(msgs: Message[], me: string): void {
  for (const m of msgs) mergeMessages(m.conversation_id, [m], me);
}

function sameMessage(a: Message, b: Message): boolean {
  return (
    a.edited_at === b.edited_at &&
    a.deleted === b.deleted &&
    a.body === b.body &&
    JSON.stringify(a.reactions) === JSON.stringify(b.reactions) &&
    // A preview arrives (or is removed) by `message:updated` with nothing else changed.
    JSON.stringify(a.preview ?? null) === JSON.stringify(b.preview ?? null) &&
    a.attachments.length === b.attachments.length &&
    a.attachments.every((x, i) => x.url === b.attachments[i]?.url)
  );
}

/** Replaces one attachment's signed URLs after they expired. */
export function refreshAttachment(conversationId: string, messageId: string, fresh: Attachment): void {
  setState((s) => {
    const thread = s.threads[conversationId];
    if (!thread) return s;
    const items = thread.items.map((m) =>
      m.id !== messageId
        ? m
        : { ...m, attachments: m.attachments.map((a) => (a.media_id === fresh.media_id ? { ...a, ...fresh } : a)) },
    );
    return { ...s, threads: { ...s.threads, [conversationId]: { ...thread, items } } };
  });
}

export function applyReceipt(r: ReceiptEvent): void {
  setState((s) => {
    const c = s.conversations[r.conversation_id];
    if (!c) return s;
    const field = r.kind === "read" ? "read_seq" : "delivered_seq";
    let changed = false;
    const members = c.members.map((m) => {
      if (m.user_id !== r.user_id) return m;
      // Read implies delivered.
      const delivered = Math.max(m.delivered_seq, r.seq);
      const next = { ...m, [field]: Math.max(m[field], r.seq), delivered_seq: delivered };
      changed ||= next.read_seq !== m.read_seq || next.delivered_seq !== m.delivered_seq;
      return next;
    });
    if (!changed) return s;
    return { ...s, conversations: { ...s.conversations, [c.id]: { ...c, members } } };
  });
}

// ---- outbox -------------------------------------------------------------------------------

export function setOutbox(update: (o: OutboxEntry[]) => OutboxEntry[]): void {
  setState((s) => {
    const outbox = update(s.outbox);
    return outbox === s.outbox ? s : { ...s, outbox };
  });
}

// ---- presence, typing, connection, toasts -------------------------------------------------

export function setPresence(list: PresenceState[]): void {
  if (!list.length) return;
  setState((s) => {
    const presence = { ...s.presence };
    for (const p of list) presence[p.user_id] = p;
    return { ...s, presence };
  });
}

export const TYPING_TTL_MS = 7000;

export function setTyping(conversationId: string, userId: string, typing: boolean): void {
  setState((s) => {
    const current = { ...(s.typing[conversationId] ?? {}) };
    if (typing) current[userId] = Date.now() + TYPING_TTL_MS;
    else if (userId in current) delete current[userId];
    else return s;
    return { ...s, typing: { ...s.typing, [conversationId]: current } };
  });
}

/** Drops indicators whose refresh never came (the other side went away mid-word). */
export function expireTyping(now: number): void {
  setState((s) => {
    let changed = false;
    const typing: ChatState["typing"] = {};
    for (const [cid, users] of Object.entries(s.typing)) {
      const kept = Object.fromEntries(Object.entries(users).filter(([, until]) => until > now));
      changed ||= Object.keys(kept).length !== Object.keys(users).length;
      typing[cid] = kept;
    }
    return changed ? { ...s, typing } : s;
  });
}

export function setReadReceipts(readReceipts: boolean): void {
  setState((s) => (s.readReceipts === readReceipts ? s : { ...s, readReceipts }));
}

export function setConnection(connection: Connection): void {
  setState((s) => (s.connection === connection ? s : { ...s, connection }));
}

let toastId = 0;

export function toast(text: string, kind: Toast["kind"] = "error"): void {
  const id = ++toastId;
  setState((s) => ({ ...s, toasts: [...s.toasts.filter((t) => t.text !== text), { id, kind, text }] }));
  setTimeout(() => dismissToast(id), 6000);
}

export function dismissToast(id: number): void {
  setState((s) => ({ ...s, toasts: s.toasts.filter((t) => t.id !== id) }));
}
