// Desktop notifications for new messages (the browser Notification API). Permission is asked
// for only when the person chooses to (the prompt after their first message, or Settings),
// never on load. Whether a message notifies is decided in one place, `shouldNotify`, so
// per-conversation levels stored on the server can plug in there.

import { useSyncExternalStore } from "react";
import { conversationTitle, memberName, preview } from "./conversation";
import type { Conversation, Message, NotificationSettings } from "./protocol";

/** What a conversation notifies about. */
export type NotifyLevel = "all" | "mentions" | "none";

export interface NotifyContext {
  me: string;
  /** The person is looking at the message's conversation (tab visible, window focused, open). */
  reading: boolean;
  level: NotifyLevel;
  /** The message mentions me. */
  mentionsMe: boolean;
}

/** Whether a new message should make a desktop notification. */
export function shouldNotify(m: Message, ctx: NotifyContext): boolean {
  if (m.sender_id === ctx.me || m.deleted || ctx.reading) return false;
  switch (ctx.level) {
    case "none":
      return false;
    case "mentions":
      return ctx.mentionsMe;
    case "all":
      return true;
  }
}

/** Muted until a time still to come (the server stores a past time as null, but time moves). */
export function isMuted(n: NotificationSettings | undefined, now = Date.now()): boolean {
  return n?.muted_until != null && Date.parse(n.muted_until) > now;
}

/**
 * A conversation's level in force: its stored level (the server's default when I chose none),
 * "none" while muted. A conversation without settings (an older server) notifies of everything.
 */
export function levelOf(c: { notifications?: NotificationSettings }, now = Date.now()): NotifyLevel {
  if (!c.notifications) return "all";
  return isMuted(c.notifications, now) ? "none" : c.notifications.level;
}

/** The message names me among its mentions. */
export function mentionsMe(m: Message, me: string): boolean {
  // `?.`: messages from a server without mentions have no such field.
  return m.mentions?.includes(me) ?? false;
}

/** How many of a conversation's unread messages count toward the tab title at its level. */
export function countedUnread(
  c: { unread_count: number; mention_count: number; notifications?: NotificationSettings },
  now = Date.now(),
): number {
  switch (levelOf(c, now)) {
    case "all":
      return c.unread_count;
    case "mentions":
      return Math.min(c.mention_count, c.unread_count);
    case "none":
      return 0;
  }
}

// ---- permission and the person's choice ---------------------------------------------------

export type Permission = NotificationPermission | "unsupported";

export interface NotifyState {
  permission: Permission;
  /** The person's switch in Settings (only matters once permission is granted). */
  enabled: boolean;
  /** They sent a message from this browser: a good moment to offer notifications. */
  sentOnce: boolean;
  /** They said "Not now" to the offer. */
  dismissed: boolean;
}

const KEY = "chatsync.notifications";

function supported(): boolean {
  return typeof window !== "undefined" && "Notification" in window;
}

function load(): NotifyState {
  let saved: Partial<NotifyState> = {};
  try {
    saved = JSON.parse(localStorage.getItem(KEY) ?? "{}") as Partial<NotifyState>;
  } catch {
    // A broken entry starts over.
  }
  return {
    permission: supported() ? Notification.permission : "unsupported",
    enabled: saved.enabled ?? true,
    sentOnce: saved.sentOnce ?? false,
    dismissed: saved.dismissed ?? false,
  };
}

let state: NotifyState | null = null;
const listeners = new Set<() => void>();

export function getNotifyState(): NotifyState {
  return (state ??= load());
}

function update(patch: Partial<NotifyState>): void {
  const next = { ...getNotifyState(), ...patch };
  state = next;
  const { enabled, sentOnce, dismissed } = next;
  localStorage.setItem(KEY, JSON.stringify({ enabled, sentOnce, dismissed }));
  listeners.forEach((l) => l());
}

function subscribe(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useNotifyState(): NotifyState {
  return useSyncExternalStore(subscribe, getNotifyState);
}

/** The offer to turn notifications on shows after the first message sent, until answered. */
export function shouldOffer(s: NotifyState): boolean {
  return s.permission === "default" && s.sentOnce && !s.dismissed;
}

export function noteSent(): void {
  if (!getNotifyState().sentOnce) update({ sentOnce: true });
}

export function dismissOffer(): void {
  update({ dismissed: true });
}

export function setNotificationsEnabled(enabled: boolean): void {
  update({ enabled });
}

/** Asks the browser (call from a click: browsers ignore requests without a user gesture). */
export async function askPermission(): Promise<void> {
  if (!supported()) return;
  const permission = await Notification.requestPermission();
  update({ permission, ...(permission === "granted" ? { enabled: true } : {}) });
}

/** Permission can change in the browser's site settings; re-read it when the tab comes back. */
export function refreshPermission(): void {
  if (!supported()) return;
  const permission = Notification.permission;
  if (permission !== getNotifyState().permission) update({ permission });
}

// ---- showing them -------------------------------------------------------------------------

/** Notifications on screen per conversation, closed once it is read. */
const open = new Map<string, Set<Notification>>();

/** Shows a notification for `m` if the person allowed them; a click opens the conversation. */
export function showMessageNotification(c: Conversation, m: Message, me: string, openIt: (id: string) => void): void {
  const s = getNotifyState();
  if (s.permission !== "granted" || !s.enabled) return;
  const sender = memberName(c, m.sender_id);
  const text = preview(m);
  const avatar = c.members.find((x) => x.user_id === m.sender_id)?.avatar_url;
  let n: Notification;
  try {
    n = new Notification(c.kind === "group" ? conversationTitle(c, me) : sender, {
      body: c.kind === "group" ? `${sender}: ${text}` : text,
      // One notification per conversation: a newer message replaces the older one.
      tag: c.id,
      icon: avatar ?? "/favicon.svg",
    });
  } catch {
    return; // Android Chrome allows notifications only from a service worker.
  }
  const set = open.get(c.id) ?? new Set();
  set.add(n);
  open.set(c.id, set);
  n.onclick = (e) => {
    e.preventDefault();
    window.focus();
    openIt(c.id);
    n.close();
  };
  n.onclose = () => set.delete(n);
}

/** Closes the notifications of a conversation that has just been read. */
export function closeNotifications(conversationId: string): void {
  open.get(conversationId)?.forEach((n) => n.close());
  open.delete(conversationId);
}
