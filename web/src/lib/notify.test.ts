import { describe, expect, test } from "vitest";
import {
  countedUnread,
  isMuted,
  levelOf,
  mentionsMe,
  shouldNotify,
  shouldOffer,
  type NotifyContext,
  type NotifyState,
} from "./notify";
import type { NotificationSettings } from "./protocol";
import { BOB, CAROL, ME, message } from "../test/fixtures";

const ctx = (patch: Partial<NotifyContext> = {}): NotifyContext => ({
  me: ME,
  reading: false,
  level: "all",
  mentionsMe: false,
  ...patch,
});

describe("whether a new message notifies", () => {
  test("someone else's message in a conversation I am not looking at does", () => {
    expect(shouldNotify(message(1, { sender_id: BOB }), ctx())).toBe(true);
  });

  test("not while I am reading that conversation", () => {
    expect(shouldNotify(message(1, { sender_id: BOB }), ctx({ reading: true }))).toBe(false);
  });

  test("never my own (sent from another device)", () => {
    expect(shouldNotify(message(1, { sender_id: ME }), ctx())).toBe(false);
  });

  test("never a deleted message", () => {
    expect(shouldNotify(message(1, { sender_id: BOB, deleted: true }), ctx())).toBe(false);
  });

  test("a muted conversation never does; mentions-only only when I am mentioned", () => {
    const m = message(1, { sender_id: BOB });
    expect(shouldNotify(m, ctx({ level: "none", mentionsMe: true }))).toBe(false);
    expect(shouldNotify(m, ctx({ level: "mentions" }))).toBe(false);
    expect(shouldNotify(m, ctx({ level: "mentions", mentionsMe: true }))).toBe(true);
  });
});

describe("when notifications are offered", () => {
  const s = (patch: Partial<NotifyState> = {}): NotifyState => ({
    permission: "default",
    enabled: true,
    sentOnce: true,
    dismissed: false,
    ...patch,
  });

  test("after the first message sent, while the browser has not been asked", () => {
    expect(shouldOffer(s())).toBe(true);
  });

  test("not before anything was sent (so never on load)", () => {
    expect(shouldOffer(s({ sentOnce: false }))).toBe(false);
  });

  test("not after Not now, nor once the browser has an answer", () => {
    expect(shouldOffer(s({ dismissed: true }))).toBe(false);
    expect(shouldOffer(s({ permission: "granted" }))).toBe(false);
    expect(shouldOffer(s({ permission: "denied" }))).toBe(false);
    expect(shouldOffer(s({ permission: "unsupported" }))).toBe(false);
  });
});

describe("a conversation's level", () => {
  const NOW = Date.parse("2024-05-01T12:00:00Z");
  const n = (patch: Partial<NotificationSettings> = {}): { notifications: NotificationSettings } => ({
    notifications: { level: "all", chosen: null, muted_until: null, ...patch },
  });

  test("is the level the server says is in force", () => {
    expect(levelOf(n(), NOW)).toBe("all");
    expect(levelOf(n({ level: "mentions" }), NOW)).toBe("mentions");
    expect(levelOf(n({ level: "none", chosen: "none" }), NOW)).toBe("none");
  });

  test("is none while muted, whatever the level, and the level again once the mute is over", () => {
    const muted = n({ level: "mentions", muted_until: "2024-05-01T20:00:00Z" });
    expect(isMuted(muted.notifications, NOW)).toBe(true);
    expect(levelOf(muted, NOW)).toBe("none");
    expect(levelOf(muted, Date.parse("2024-05-01T20:00:01Z"))).toBe("mentions");
    expect(isMuted(n({ muted_until: "2024-05-01T11:00:00Z" }).notifications, NOW)).toBe(false);
  });

  test("is all for a conversation without settings (a server without them)", () => {
    expect(levelOf({}, NOW)).toBe("all");
  });

  test("decides notifications: muted or none never, mentions only when I am mentioned", () => {
    const plain = message(1, { sender_id: BOB });
    const toMe = message(2, { sender_id: BOB, mentions: [CAROL, ME] });
    const notify = (c: { notifications: NotificationSettings }, m = plain) =>
      shouldNotify(m, ctx({ level: levelOf(c, NOW), mentionsMe: mentionsMe(m, ME) }));
    expect(notify(n())).toBe(true);
    expect(notify(n({ level: "mentions" }))).toBe(false);
    expect(notify(n({ level: "mentions" }), toMe)).toBe(true);
    expect(notify(n({ level: "none" }), toMe)).toBe(false);
    expect(notify(n({ muted_until: "2024-05-01T20:00:00Z" }), toMe)).toBe(false);
  });

  test("a message mentions me only when my id is among its mentions", () => {
    expect(mentionsMe(message(1, { mentions: [ME] }), ME)).toBe(true);
    expect(mentionsMe(message(1, { mentions: [CAROL] }), ME)).toBe(false);
    // From a server without mentions.
    expect(mentionsMe({ ...message(1), mentions: undefined as unknown as string[] }, ME)).toBe(false);
  });

  test("sets what the tab title counts: all unread, unread mentions, or nothing", () => {
    const counts = { unread_count: 7, mention_count: 2 };
    expect(countedUnread({ ...counts, ...n() }, NOW)).toBe(7);
    expect(countedUnread({ ...counts, ...n({ level: "mentions" }) }, NOW)).toBe(2);
    expect(countedUnread({ ...counts, ...n({ level: "none" }) }, NOW)).toBe(0);
    expect(countedUnread({ ...counts, ...n({ muted_until: "2024-05-01T20:00:00Z" }) }, NOW)).toBe(0);
  });
});
