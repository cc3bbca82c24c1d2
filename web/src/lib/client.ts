// The chat engine: one socket, the outbox, and the bookkeeping around them (catch-up sync
// after every connect, receipts, typing, presence). Components call the exported functions
// and read state through the store.

import { api, errorMessage, type ChatSettings } from "./api";
import {
  closeNotifications,
  levelOf,
  mentionsMe,
  noteSent,
  refreshPermission,
  shouldNotify,
  showMessageNotification,
} from "./notify";
import { Outbox } from "./outbox";
import * as P from "./protocol";
import { clearOriginals, refreshOriginal } from "./reply";
import type { Attachment, Conversation, Message } from "./protocol";
import { conversationInUrl, showInUrl } from "./route";
import { setSession } from "./session";
import { SocketConnection } from "./socket";
import {
  addUnread,
  applyReceipt,
  expireTyping,
  getState,
  mergeMessages,
  mergeUpdated,
  refreshAttachment,
  removeConversation,
  resetState,
  setConnection,
  setConversationList,
  setActive,
  setNotifications,
  setOutbox,
  setPresence,
  setReadReceipts,
  setTyping,
  setUnread,
  setVersions,
  subscribe,
  toast,
  updateThread,
  upsertConversation,
  emptyThread,
  mergePage,
  setReveal,
} from "./store";
import { holdsSeq, type HistoryPage } from "./history";
import type { MessageChange } from "./mention-list";

const PAGE = 50;
const TYPING_REFRESH_MS = 3000;
const TYPING_IDLE_MS = 4000;

interface Engine {
  me: string;
  conn: SocketConnection;
  outbox: Outbox;
  cleanup: (() => void)[];
  syncTimer?: ReturnType<typeof setTimeout>;
}

let engine: Engine | null = null;

export function startChat(me: string): void {
  stopChat();
  resetState();
  clearOriginals();
  const conn = new SocketConnection(() => setSession(null));
  const outbox = new Outbox(conn, me);
  const e: Engine = { me, conn, outbox, cleanup: [] };
  engine = e;
  outbox.load();

  const s = conn.socket;
  s.on("connect", () => void onConnect(e));
  s.on("disconnect", () => setConnection("offline"));
  s.on("connect_error", () => setConnection("offline"));
  s.on(P.MESSAGE_NEW, (m: Message) => void onMessages(e, [m], true));
  s.on(P.MESSAGE_UPDATED, (m: Message) => {
    mergeUpdated([m], me);
    refreshOriginal(m);
    tellChanged([m], "updated");
  });
  s.on(P.TYPING_EVENT, (t: P.TypingEvent) => setTyping(t.conversation_id, t.user_id, t.typing));
  s.on(P.RECEIPT_EVENT, (r: P.ReceiptEvent) => onReceipt(e, r));
  s.on(P.PRESENCE, (p: P.PresenceEvent) => setPresence([p]));
  s.on(P.CONVERSATION_NEW, (c: Conversation) => void onConversation(e, c));
  s.on(P.CONVERSATION_UPDATED, (c: Conversation) => void onConversation(e, c));
  s.on(P.CONVERSATION_REMOVED, (r: { conversation_id: string }) => forgetConversation(r.conversation_id));
  s.on(P.CONVERSATION_NOTIFICATIONS, (n: P.NotificationsEvent) => setNotifications(n.conversation_id, n.notifications));
  s.on(P.CHAT_SETTINGS, (c: ChatSettings) => setReadReceipts(c.read_receipts));

  // Persist the outbox as soon as it changes: the page may be closed the next moment.
  let saved = getState().outbox;
  const unsubscribe = subscribe(() => {
    const now = getState().outbox;
    if (now !== saved) outbox.persist((saved = now));
  });
  const typingSweep = setInterval(() => expireTyping(Date.now()), 1000);
  const onFocus = () => {
    refreshPermission();
    const id = getState().activeId;
    if (id) markRead(id);
  };
  // The browser knows before a heartbeat times out: show it at once, and retry the moment
  // the network is back instead of waiting for the next back-off step.
  const onOffline = () => {
    conn.socket.disconnect();
    setConnection("offline");
  };
  const onOnline = () => conn.connect();
  const onPopState = () => selectConversation(conversationInUrl(), false);
  window.addEventListener("popstate", onPopState);
  window.addEventListener("offline", onOffline);
  window.addEventListener("online", onOnline);
  window.addEventListener("focus", onFocus);
  document.addEventListener("visibilitychange", onFocus);
  e.cleanup.push(
    unsubscribe,
    () => clearInterval(typingSweep),
    () => window.removeEventListener("focus", onFocus),
    () => window.removeEventListener("popstate", onPopState),
    () => window.removeEventListener("offline", onOffline),
    () => window.removeEventListener("online", onOnline),
    () => document.removeEventListener("visibilitychange", onFocus),
  );

  void loadChatSettings(e);
  void loadConversations(e).then(
    () => {
      const wanted = conversationInUrl();
      if (wanted && getState().conversations[wanted]) selectConversation(wanted, false);
      else if (wanted) showInUrl(null, "replace");
    },
    () => {},
  );
  conn.connect();
}

export function stopChat(): void {
  if (!engine) return;
  engine.cleanup.forEach((f) => f());
  clearTimeout(engine.syncTimer);
  engine.outbox.stop();
  engine.conn.close();
  engine = null;
}

/** Signs out on the server (best effort) and forgets this device's unsent messages. */
export async function logout(): Promise<void> {
  setOutbox(() => []); // persisted at once: the unsent messages go with the session
  try {
    await api.logout();
  } catch {
    // Signed out locally either way.
  }
  stopChat();
  showInUrl(null, "replace");
  setSession(null);
}

function current(): Engine {
  if (!engine) throw new Error("chat is not started");
  return engine;
}

// ---- connection ---------------------------------------------------------------------------

async function onConnect(e: Engine): Promise<void> {
  setConnection("online");
  e.outbox.flush(true);
  // Catch up on what was missed; a failed attempt is retried while this socket stays up.
  for (let attempt = 0; engine === e && e.conn.connected; attempt++) {
    try {
      await loadConversations(e);
      await syncMissed(e);
      const active = getState().activeId;
      if (active) markRead(active);
      return;
    } catch (err) {
      console.error("catching up failed", err);
      if (attempt === 2) toast(`Could not catch up: ${errorMessage(err)}`);
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 10_000)));
    }
  }
}

async function loadConversations(e: Engine): Promise<void> {
  const { conversations } = await api.conversations();
  if (engine !== e) return;
  setConversationList(conversations);
  for (const c of conversations) {
    const mine = c.members.find((m) => m.user_id === e.me);
    if (mine && c.last_seq > mine.delivered_seq) receipt(e, c.id, "delivered", c.last_seq);
  }
  void loadPresence(e, conversations);
}

/**
 * Fetches what opened threads missed while the socket was down, page by page: new messages
 * after each thread's seq, and the edits, deletes and reactions since each conversation's
 * version (applied like `message:updated`).
 */
async function syncMissed(e: Engine): Promise<void> {
  const st = getState();
  const after: Record<string, number> = {};
  for (const c of Object.values(st.conversations)) {
    const t = st.threads[c.id];
    // Threads never opened only need their list entry, which the list already refreshed; so
    // does a window far back, which pages down to the live end by itself.
    after[c.id] = t?.items.length && !t.hasNewer ? contiguousEnd(t.items) : c.last_seq;
  }
  for (;;) {
    const versions = getState().versions;
    const ack = await e.conn.request<P.SyncAck>(P.SYNC, { after, versions } satisfies P.SyncPayload);
    if (engine !== e) return;
    if (!ack.ok) throw new Error(ack.error.message);
    await onMessages(e, ack.messages);
    mergeUpdated(ack.updated ?? [], e.me);
    ack.updated?.forEach(refreshOriginal);
    tellChanged(ack.updated ?? [], "updated");
    if (ack.versions) setVersions(ack.versions);
    for (const m of ack.messages) after[m.conversation_id] = Math.max(after[m.conversation_id] ?? 0, m.seq);
    if (!ack.has_more) return;
  }
}

/**
 * The last seq before the first gap. Not simply the newest: an ack for a message sent right
 * after reconnecting can land before the catch-up, and starting after it would skip what
 * others wrote while this device was away.
 */
function contiguousEnd(items: Message[]): number {
  let end = items[0]!.seq;
  for (const m of items) {
    if (m.seq > end + 1) break;
    end = m.seq;
  }
  return end;
}

/** Catch up again soon (a live message showed a gap); several gaps share one sync. */
function scheduleSync(e: Engine): void {
  if (e.syncTimer) return;
  e.syncTimer = setTimeout(() => {
    e.syncTimer = undefined;
    if (engine === e && e.conn.connected) syncMissed(e).catch((err: unknown) => console.error("sync failed", err));
  }, 300);
}

async function loadPresence(e: Engine, conversations: Conversation[]): Promise<void> {
  const ids = [...new Set(conversations.flatMap((c) => c.members.map((m) => m.user_id)))].filter((id) => id !== e.me);
  for (let i = 0; i < ids.length; i += 50) {
    try {
      const { presence } = await api.presence(ids.slice(i, i + 50));
      if (engine !== e) return;
      setPresence(presence);
    } catch {
      return; // presence is a nicety; the next connect tries again
    }
  }
}

// ---- incoming -----------------------------------------------------------------------------

const changeListeners = new Set<(m: Message, change: MessageChange) => void>();

/**
 * Calls `l` with every message that comes in (`new`: live or caught up by `sync`) or changes
 * (`updated`) while it is subscribed, for views that keep their own lists (Mentions).
 */
export function onMessageChange(l: (m: Message, change: MessageChange) => void): () => void {
  changeListeners.add(l);
  return () => changeListeners.delete(l);
}

function tellChanged(msgs: Message[], change: MessageChange): void {
  for (const m of msgs) changeListeners.forEach((l) => l(m, change));
}

/** `live`: pushed as they were sent (not caught up by sync), so they may notify. */
async function onMessages(e: Engine, msgs: Message[], live = false): Promise<void> {
  tellChanged(msgs, "new");
  const byConversation = new Map<string, Message[]>();
  for (const m of msgs) byConversation.set(m.conversation_id, [...(byConversation.get(m.conversation_id) ?? []), m]);
  for (const [cid, list] of byConversation) {
    if (!getState().conversations[cid]) {
      try {
        upsertConversation(await api.conversation(cid));
      } catch {
        continue; // removed meanwhile
      }
    }
    const before = getState().threads[cid];
    const fresh = mergeMessages(cid, list, e.me).filter((m) => m.sender_id !== e.me);
    const gap = before?.items.length && Math.min(...list.map((m) => m.seq)) > contiguousEnd(before.items) + 1;
    if (gap && !before.hasNewer) scheduleSync(e);
    fresh.forEach((m) => setTyping(cid, m.sender_id, false));
    const newest = Math.max(0, ...list.filter((m) => m.sender_id !== e.me).map((m) => m.seq));
    if (newest > 0) receipt(e, cid, "delivered", newest);
    if (!fresh.length) continue;
    if (live) fresh.forEach((m) => notifyOf(e, m));
    if (isReading(cid)) markRead(cid);
    else addUnread(cid, fresh, e.me);
  }
}

function notifyOf(e: Engine, m: Message): void {
  const c = getState().conversations[m.conversation_id];
  if (!c) return;
  const ctx = { me: e.me, reading: isReading(c.id), level: levelOf(c), mentionsMe: mentionsMe(m, e.me) };
  if (shouldNotify(m, ctx)) showMessageNotification(c, m, e.me, (id) => selectConversation(id));
}

function onReceipt(e: Engine, r: P.ReceiptEvent): void {
  applyReceipt(r);
  // Read on another of my devices.
  if (r.user_id === e.me && r.kind === "read") {
    const c = getState().conversations[r.conversation_id];
    if (c && r.seq >= c.last_seq) {
      setUnread(c.id, 0);
      closeNotifications(c.id);
    }
  }
}

async function onConversation(e: Engine, c: Conversation): Promise<void> {
  const isNew = !getState().conversations[c.id];
  upsertConversation(c);
  if (isNew) await loadPresence(e, [c]);
}

// ---- receipts -----------------------------------------------------------------------------

function receipt(e: Engine, conversationId: string, kind: P.ReceiptKind, seq: number): void {
  const c = getState().conversations[conversationId];
  const mine = c?.members.find((m) => m.user_id === e.me);
  if (!mine || !e.conn.connected) return;
  const known = kind === "read" ? mine.read_seq : mine.delivered_seq;
  if (seq <= known) return;
  applyReceipt({ conversation_id: conversationId, user_id: e.me, kind, seq });
  e.conn.notify(P.RECEIPT, { conversation_id: conversationId, kind, seq } satisfies P.ReceiptPayload);
}

function isReading(conversationId: string): boolean {
  return getState().activeId === conversationId && document.visibilityState === "visible" && document.hasFocus();
}

/**
 * Marks what the person has in front of them read, if they are looking at it: everything, or,
 * when the list was opened far back (a search hit, a reply's original), only up to the newest
 * message the window holds; the rest stays unread until they scroll down to it.
 */
export function markRead(conversationId: string): void {
  const e = engine;
  if (!e || !isReading(conversationId)) return;
  const c = getState().conversations[conversationId];
  if (!c) return;
  const thread = getState().threads[conversationId];
  if (!thread?.loaded) return; // nothing shown yet: the view calls again once it is
  if (thread.hasNewer) {
    const seen = thread.items.at(-1)?.seq ?? 0;
    if (seen > 0) receipt(e, conversationId, "read", seen);
    return;
  }
  setUnread(conversationId, 0);
  closeNotifications(conversationId);
  if (c.last_seq > 0) receipt(e, conversationId, "read", c.last_seq);
}

// ---- history ------------------------------------------------------------------------------

/**
 * Per conversation, bumped whenever its window is replaced (opened around a message, or at
 * the newest page): a page asked for before that extends a window that is gone, so it is dropped.
 */
const windowEpoch = new Map<string, number>();

export async function openThread(conversationId: string): Promise<void> {
  const t = getState().threads[conversationId];
  if (t?.loaded || t?.loading) return;
  updateThread(conversationId, { ...emptyThread, loading: true });
  await loadWindow(conversationId, {});
}

/** The page before the oldest loaded message (or the first window again after a failure). */
export async function loadOlder(conversationId: string): Promise<void> {
  const t = getState().threads[conversationId];
  if (!t || t.loading || (t.loaded && !t.hasMore)) return;
  updateThread(conversationId, { loading: true });
  const first = t.items[0]?.seq;
  if (!t.loaded || first === undefined)
    await loadWindow(conversationId, t.around === null ? {} : { around_seq: t.around });
  else await loadPage(conversationId, { before_seq: first });
}

/** The page after the newest loaded message of a window opened far back. */
export async function loadNewer(conversationId: string): Promise<void> {
  const t = getState().threads[conversationId];
  const last = t?.items[t.items.length - 1]?.seq;
  if (!t || t.loading || !t.loaded || !t.hasNewer || last === undefined) return;
  updateThread(conversationId, { loading: true });
  await loadPage(conversationId, { after_seq: last });
}

/**
 * Shows the message at `seq`: the message list scrolls to it and highlights it once the
 * thread holds it. One `around_seq` read when it does not, however far back it is.
 */
export function showMessage(conversationId: string, seq: number): void {
  const t = getState().threads[conversationId];
  const held = t !== undefined && holdsSeq(t, seq);
  // Loading first: the list gives up on a reveal it cannot find in a thread that is not loading.
  if (!held && !t?.loading) void openAround(conversationId, seq);
  setReveal({ conversation_id: conversationId, seq });
}

/** Replaces the thread's window with the page around `seq`. */
export async function openAround(conversationId: string, seq: number): Promise<void> {
  updateThread(conversationId, { loading: true, error: null });
  await loadWindow(conversationId, { around_seq: seq });
}

/** Back to the newest page (the "jump to latest" button, or sending from a window far back). */
export async function jumpToLatest(conversationId: string): Promise<void> {
  const t = getState().threads[conversationId];
  if (!t?.hasNewer) return;
  updateThread(conversationId, { loading: true, error: null });
  await loadWindow(conversationId, {});
}

/** Reads a window that replaces the held one unless it touches it (newest page, or around a seq). */
async function loadWindow(conversationId: string, at: { around_seq?: number }): Promise<void> {
  const epoch = (windowEpoch.get(conversationId) ?? 0) + 1;
  windowEpoch.set(conversationId, epoch);
  await loadPage(conversationId, at, epoch);
}

async function loadPage(
  conversationId: string,
  at: { before_seq?: number; after_seq?: number; around_seq?: number },
  epoch = windowEpoch.get(conversationId) ?? 0,
): Promise<void> {
  const e = current();
  const stale = () => engine !== e || (windowEpoch.get(conversationId) ?? 0) !== epoch;
  try {
    const r = await api.messages(conversationId, at, PAGE);
    if (stale()) return;
    const page: HistoryPage =
      at.around_seq !== undefined
        ? { messages: r.messages, hasMore: r.has_more, hasNewer: r.has_newer ?? false }
        : at.after_seq !== undefined
          ? { messages: r.messages, hasNewer: r.has_more }
          : at.before_seq !== undefined
            ? { messages: r.messages, hasMore: r.has_more }
            : { messages: r.messages, hasMore: r.has_more, hasNewer: false };
    const around = at.around_seq ?? (at.before_seq === undefined && at.after_seq === undefined ? null : undefined);
    mergePage(conversationId, page, e.me, {
      loaded: true,
      loading: false,
      error: null,
      ...(around === undefined ? {} : { around }),
    });
    // Live messages were left out while the window was far back; any that came in after this
    // page was read are fetched now that it reaches the live end.
    const t = getState().threads[conversationId];
    const c = getState().conversations[conversationId];
    const end = t?.items[t.items.length - 1]?.seq ?? 0;
    if (t && !t.hasNewer && c && c.last_seq > end) scheduleSync(e);
  } catch (err) {
    if (!stale()) updateThread(conversationId, { loading: false, error: errorMessage(err) });
  }
}

// ---- sending and changing messages --------------------------------------------------------

export function sendMessage(
  conversationId: string,
  body: string,
  attachments: Attachment[] = [],
  replyTo: string | null = null,
  mentions: string[] = [],
): void {
  const e = current();
  stopTyping(conversationId);
  // The message goes after the newest ones, so the list goes there to show it.
  void jumpToLatest(conversationId);
  e.outbox.send(conversationId, body, attachments, replyTo, mentions);
  noteSent();
}

export const retryMessage = (clientId: string) => current().outbox.retry(clientId);
export const discardMessage = (clientId: string) => current().outbox.discard(clientId);

async function change(event: string, payload: unknown): Promise<boolean> {
  const e = current();
  if (!e.conn.connected) {
    toast("You're offline. Try again when the connection is back.");
    return false;
  }
  try {
    const ack = await e.conn.request<P.MessageAck>(event, payload);
    if (!ack.ok) {
      toast(ack.error.message);
      return false;
    }
    mergeMessages(ack.message.conversation_id, [ack.message], e.me);
    return true;
  } catch {
    toast("The server did not answer. Try again.");
    return false;
  }
}

export const editMessage = (messageId: string, body: string) => change(P.EDIT, { message_id: messageId, body });
export const deleteMessage = (messageId: string) => change(P.DELETE, { message_id: messageId });
export const react = (messageId: string, emoji: string, on: boolean) =>
  change(P.REACT, { message_id: messageId, emoji, on });

/** Removes the link preview of my own message; others get it by `message:updated`. */
export async function removePreview(messageId: string): Promise<void> {
  const e = current();
  try {
    const m = await api.removePreview(messageId);
    mergeMessages(m.conversation_id, [m], e.me);
  } catch (err) {
    toast(`Could not remove the preview: ${errorMessage(err)}`);
  }
}

const refreshing = new Set<string>();

/** Fetches fresh signed URLs for an attachment whose URL expired. */
export async function refreshMedia(m: Message, mediaId: string): Promise<void> {
  if (refreshing.has(mediaId)) return;
  refreshing.add(mediaId);
  try {
    const fresh = await api.media(mediaId);
    refreshAttachment(m.conversation_id, m.id, {
      media_id: mediaId,
      content_type: fresh.content_type,
      size: fresh.size,
      name: fresh.name,
      has_thumbnail: fresh.thumbnail_url != null,
      url: fresh.url,
      thumbnail_url: fresh.thumbnail_url,
    });
  } catch {
    // Leave the broken image; the message still says what it was.
  } finally {
    setTimeout(() => refreshing.delete(mediaId), 60_000);
  }
}

// ---- typing -------------------------------------------------------------------------------

const typingState = new Map<string, { sentAt: number; idle: ReturnType<typeof setTimeout> }>();

/** Call on every keystroke in the composer. */
export function typing(conversationId: string): void {
  const e = engine;
  if (!e) return;
  const now = Date.now();
  const t = typingState.get(conversationId);
  if (t) clearTimeout(t.idle);
  const sentAt = !t || now - t.sentAt > TYPING_REFRESH_MS ? now : t.sentAt;
  if (sentAt === now) e.conn.notify(P.TYPING, { conversation_id: conversationId, typing: true });
  typingState.set(conversationId, { sentAt, idle: setTimeout(() => stopTyping(conversationId), TYPING_IDLE_MS) });
}

export function stopTyping(conversationId: string): void {
  const t = typingState.get(conversationId);
  if (!t) return;
  clearTimeout(t.idle);
  typingState.delete(conversationId);
  engine?.conn.notify(P.TYPING, { conversation_id: conversationId, typing: false });
}

// ---- conversations ------------------------------------------------------------------------

/** Opens a conversation (null: back to the list); `push` adds a browser history entry. */
export function selectConversation(id: string | null, push = true): void {
  setActive(id);
  if (push) showInUrl(id);
  if (id) {
    void openThread(id);
    // Opened from the list (not at a message): at its newest messages, even if it was left
    // far back in its history.
    if (getState().reveal?.conversation_id !== id) void jumpToLatest(id);
    markRead(id);
  }
}

/** Adds a conversation the REST API just returned and opens it. */
export function showConversation(c: Conversation): void {
  upsertConversation(c);
  if (engine) void loadPresence(engine, [c]);
  selectConversation(c.id);
}

/** Drops a conversation the user left or was removed from. */
export function forgetConversation(id: string): void {
  if (getState().activeId === id) showInUrl(null, "replace");
  removeConversation(id);
}

/**
 * Stores my notification settings for a conversation on the server (every device follows
 * them); `level` null goes back to the server's default. False (and a toast) on failure.
 */
export async function setConversationNotifications(
  conversationId: string,
  change: { level: P.NotificationLevel | null; muted_until?: string | null },
): Promise<boolean> {
  try {
    setNotifications(conversationId, await api.setNotifications(conversationId, change));
    return true;
  } catch (err) {
    toast(`Could not change notifications: ${errorMessage(err)}`);
    return false;
  }
}

// ---- chat settings ------------------------------------------------------------------------

async function loadChatSettings(e: Engine): Promise<void> {
  try {
    const settings = await api.chatSettings();
    if (engine === e) setReadReceipts(settings.read_receipts);
  } catch {
    // A server without the setting: receipts stay on, as they are there.
  }
}

/** Turns sending (and seeing) read receipts on or off; false (and a toast) on failure. */
export async function changeReadReceipts(on: boolean): Promise<boolean> {
  try {
    const settings = await api.setChatSettings({ read_receipts: on });
    setReadReceipts(settings.read_receipts);
    return true;
  } catch (err) {
    toast(`Could not change read receipts: ${errorMessage(err)}`);
    return false;
  }
}

export function myId(): string {
  return current().me;
}
