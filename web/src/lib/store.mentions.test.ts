import { beforeEach, describe, expect, test } from "vitest";
import {
  addUnread,
  expireMutes,
  getState,
  mergeMessages,
  nextMuteEnd,
  resetState,
  setConversationList,
  setNotifications,
  setUnread,
  unreadTotal,
  upsertConversation,
} from "./store";
import { BOB, CAROL, CID, ME, OTHER_CID, conversation, member, message, summary } from "../test/fixtures";

const conv = (id = CID) => getState().conversations[id]!;
const NOW = Date.parse("2024-05-01T12:00:00Z");

beforeEach(() => resetState());

describe("mention counts", () => {
  test("the list brings each conversation's mention count and settings", () => {
    setConversationList([
      summary({
        unread_count: 4,
        mention_count: 2,
        notifications: { level: "mentions", chosen: "mentions", muted_until: null },
      }),
    ]);
    expect(conv().mention_count).toBe(2);
    expect(conv().notifications.level).toBe("mentions");
  });

  test("a new message that mentions me counts as a mention as well as unread", () => {
    setConversationList([summary({ kind: "group", members: [member(ME), member(BOB), member(CAROL)] })]);
    addUnread(CID, [message(1, { mentions: [ME] }), message(2, { mentions: [CAROL] }), message(3)], ME);
    expect(conv().unread_count).toBe(3);
    expect(conv().mention_count).toBe(1);
    addUnread(CID, [message(4, { sender_id: CAROL, mentions: [CAROL, ME] })], ME);
    expect(conv().mention_count).toBe(2);
  });

  test("a list answer read before a live mention keeps the counts that mention moved", () => {
    setConversationList([summary({ kind: "group", last_seq: 4, unread_count: 0, mention_count: 0 })]);
    // The mention comes over the socket while a second list request (sent on connect) is
    // still on its way, answered from before it.
    const live = message(5, { sender_id: BOB, mentions: [ME] });
    addUnread(CID, mergeMessages(CID, [live], ME), ME);
    expect(conv().mention_count).toBe(1);
    setConversationList([summary({ kind: "group", last_seq: 4, unread_count: 0, mention_count: 0 })]);
    expect(conv().last_seq).toBe(5);
    expect(conv().unread_count).toBe(1);
    expect(conv().mention_count).toBe(1);
    // A list that has seen the message is taken as it is (read elsewhere meanwhile, say).
    setConversationList([summary({ kind: "group", last_seq: 5, unread_count: 0, mention_count: 0 })]);
    expect(conv().mention_count).toBe(0);
  });

  test("my own messages (from another device) count for nothing", () => {
    setConversationList([summary()]);
    addUnread(CID, [message(1, { sender_id: ME, mentions: [ME] })], ME);
    expect(conv().unread_count).toBe(0);
    expect(conv().mention_count).toBe(0);
  });

  test("reading the conversation clears its mentions with its unread count", () => {
    setConversationList([summary({ unread_count: 3, mention_count: 2 })]);
    setUnread(CID, 0);
    expect(conv().mention_count).toBe(0);
  });

  test("a conversation update keeps the counts and settings it had", () => {
    setConversationList([
      summary({
        unread_count: 3,
        mention_count: 1,
        notifications: { level: "none", chosen: "none", muted_until: null },
      }),
    ]);
    upsertConversation(conversation({ kind: "group", name: "Renamed" }));
    expect(conv().mention_count).toBe(1);
    expect(conv().notifications.level).toBe("none");
  });

  test("a conversation I am added to gets the server's default level until the list says more", () => {
    const crowd = Array.from({ length: 21 }, (_, i) => member(`u${i}`));
    upsertConversation(conversation({ id: OTHER_CID, kind: "group", members: [member(ME), ...crowd] }));
    upsertConversation(conversation());
    expect(getState().conversations[OTHER_CID]!.notifications).toEqual({
      level: "mentions",
      chosen: null,
      muted_until: null,
    });
    expect(conv().notifications.level).toBe("all");
  });
});

describe("notification settings", () => {
  test("a change (mine or from another device) replaces the conversation's settings", () => {
    setConversationList([summary()]);
    const muted = { level: "all" as const, chosen: null, muted_until: "2024-05-01T20:00:00Z" };
    setNotifications(CID, muted);
    expect(conv().notifications).toEqual(muted);
    setNotifications(OTHER_CID, muted); // not listed: ignored
    expect(getState().conversations[OTHER_CID]).toBeUndefined();
  });

  test("the tab title counts by level: everything, mentions only, nothing while muted or off", () => {
    setConversationList([
      summary({ unread_count: 5, mention_count: 1 }),
      summary({
        id: OTHER_CID,
        unread_count: 7,
        mention_count: 2,
        notifications: { level: "mentions", chosen: "mentions", muted_until: null },
      }),
    ]);
    expect(unreadTotal(getState(), NOW)).toBe(7);
    setNotifications(CID, { level: "all", chosen: null, muted_until: "2024-05-01T20:00:00Z" });
    expect(unreadTotal(getState(), NOW)).toBe(2);
    setNotifications(OTHER_CID, { level: "none", chosen: "none", muted_until: null });
    expect(unreadTotal(getState(), NOW)).toBe(0);
  });
});

describe("mutes", () => {
  test("an ended mute is cleared, one still running is kept, and the next end is known", () => {
    const muted = (until: string) => ({ level: "all" as const, chosen: null, muted_until: until });
    setConversationList([
      summary({ notifications: muted("2024-05-01T11:00:00Z") }),
      summary({ id: OTHER_CID, notifications: muted("2024-05-01T20:00:00Z") }),
    ]);
    expect(nextMuteEnd(getState())).toBe(Date.parse("2024-05-01T11:00:00Z"));
    expireMutes(NOW);
    expect(conv().notifications.muted_until).toBeNull();
    expect(getState().conversations[OTHER_CID]!.notifications.muted_until).toBe("2024-05-01T20:00:00Z");
    expect(nextMuteEnd(getState())).toBe(Date.parse("2024-05-01T20:00:00Z"));
    const before = getState();
    expireMutes(NOW);
    expect(getState()).toBe(before);
  });
});
