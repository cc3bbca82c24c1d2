import { beforeEach, describe, expect, test } from "vitest";
import {
  applyReceipt,
  expireTyping,
  getState,
  mergeMessages,
  mergeUpdated,
  removeConversation,
  resetState,
  setActive,
  setConversationList,
  setOutbox,
  setReplyTo,
  setReveal,
  setTyping,
  setUnread,
  setVersions,
  subscribe,
  unreadTotal,
  updateThread,
  upsertConversation,
  emptyThread,
  mergePage,
} from "./store";
import { BOB, CAROL, CID, ME, OTHER_CID, conversation, member, message, outboxEntry, summary } from "../test/fixtures";

const thread = (id = CID) => getState().threads[id];
const seqs = (id = CID) => thread(id)?.items.map((m) => m.seq);
const conv = (id = CID) => getState().conversations[id]!;
const openThread = (id = CID) => updateThread(id, { ...emptyThread, loaded: true });

beforeEach(() => resetState());

describe("the conversation list", () => {
  test("a list answer replaces the conversations and marks the list loaded", () => {
    setConversationList([summary({ unread_count: 2 }), summary({ id: OTHER_CID })]);
    expect(getState().listLoaded).toBe(true);
    expect(Object.keys(getState().conversations).sort()).toEqual([CID, OTHER_CID].sort());
    expect(conv().unread_count).toBe(2);
  });

  test("a newer message already seen over the socket wins over a slower list answer", () => {
    setConversationList([summary({ last_seq: 1, last_message: message(1) })]);
    mergeMessages(CID, [message(2)], ME);
    setConversationList([summary({ last_seq: 1, last_message: message(1) })]);
    expect(conv().last_message?.seq).toBe(2);
    expect(conv().last_seq).toBe(2);
  });

  test("receipt positions never move back when a list fetched earlier arrives", () => {
    setConversationList([summary({ members: [member(ME), member(BOB, { delivered_seq: 5, read_seq: 4 })] })]);
    setConversationList([summary({ members: [member(ME), member(BOB, { delivered_seq: 3, read_seq: 6 })] })]);
    const bob = conv().members.find((m) => m.user_id === BOB)!;
    expect(bob.delivered_seq).toBe(5);
    expect(bob.read_seq).toBe(6);
  });

  test("a conversation update keeps the unread count and last message it had", () => {
    setConversationList([summary({ unread_count: 3, last_seq: 7, last_message: message(7) })]);
    upsertConversation(conversation({ kind: "group", name: "Renamed", last_seq: 2 }));
    expect(conv().name).toBe("Renamed");
    expect(conv().unread_count).toBe(3);
    expect(conv().last_message?.seq).toBe(7);
    expect(conv().last_seq).toBe(7);
  });

  test("a conversation seen for the first time starts with nothing unread", () => {
    upsertConversation(conversation({ last_seq: 4 }));
    expect(conv().unread_count).toBe(0);
    expect(conv().last_message).toBeNull();
  });

  test("removing a conversation drops its thread, its unsent messages, and closes it", () => {
    setConversationList([summary(), summary({ id: OTHER_CID })]);
    openThread();
    setOutbox(() => [outboxEntry(), outboxEntry({ conversation_id: OTHER_CID })]);
    setActive(CID);
    setReveal({ conversation_id: CID, seq: 1 });
    removeConversation(CID);
    expect(getState().conversations[CID]).toBeUndefined();
    expect(thread()).toBeUndefined();
    expect(getState().outbox.map((o) => o.conversation_id)).toEqual([OTHER_CID]);
    expect(getState().activeId).toBeNull();
    expect(getState().reveal).toBeNull();
  });

  test("a reply being written is dropped when another conversation opens or its own is removed", () => {
    setConversationList([summary(), summary({ id: OTHER_CID })]);
    setActive(CID);
    setReplyTo({ conversation_id: CID, message_id: "m1" });
    setActive(CID);
    expect(getState().replyTo).toEqual({ conversation_id: CID, message_id: "m1" });
    setActive(OTHER_CID);
    expect(getState().replyTo).toBeNull();

    setReplyTo({ conversation_id: OTHER_CID, message_id: "m2" });
    removeConversation(CID);
    expect(getState().replyTo).toEqual({ conversation_id: OTHER_CID, message_id: "m2" });
    removeConversation(OTHER_CID);
    expect(getState().replyTo).toBeNull();
  });
});

describe("unread counts", () => {
  test("the total adds up every conversation", () => {
    setConversationList([summary({ unread_count: 3 }), summary({ id: OTHER_CID, unread_count: 120 })]);
    expect(unreadTotal(getState())).toBe(123);
    setUnread(OTHER_CID, 0);
    expect(unreadTotal(getState())).toBe(3);
  });

  test("setting the same count again notifies nobody", () => {
    setConversationList([summary({ unread_count: 3 })]);
    let calls = 0;
    const off = subscribe(() => calls++);
    setUnread(CID, 3);
    setUnread("unknown", 1);
    off();
    expect(calls).toBe(0);
  });
});

describe("merging messages", () => {
  beforeEach(() => setConversationList([summary()]));

  test("messages are kept ascending by seq whatever order they arrive in", () => {
    openThread();
    mergeMessages(CID, [message(3), message(1)], ME);
    mergeMessages(CID, [message(2)], ME);
    expect(seqs()).toEqual([1, 2, 3]);
  });

  test("a message seen twice is kept once and counted as new once", () => {
    openThread();
    const m = message(1);
    expect(mergeMessages(CID, [m], ME)).toEqual([m]);
    expect(mergeMessages(CID, [{ ...m }], ME)).toEqual([]);
    expect(seqs()).toEqual([1]);
  });

  test("only messages past the conversation's last seq count as new", () => {
    setConversationList([summary({ last_seq: 5 })]);
    openThread();
    const fresh = mergeMessages(CID, [message(4), message(5), message(6)], ME);
    expect(fresh.map((m) => m.seq)).toEqual([6]);
  });

  test("an edit replaces the stored message; a late older version does not undo it", () => {
    openThread();
    const m = message(1);
    mergeMessages(CID, [m], ME);
    const edited = { ...m, body: "edited", edited_at: "2024-05-01T10:05:00Z" };
    mergeMessages(CID, [edited], ME);
    expect(thread()!.items[0]!.body).toBe("edited");
    mergeMessages(CID, [m], ME);
    expect(thread()!.items[0]!.body).toBe("edited");
  });

  test("a delete is never undone by a late copy of the message", () => {
    openThread();
    const m = message(1);
    mergeMessages(CID, [{ ...m, deleted: true, body: "" }], ME);
    mergeMessages(CID, [m], ME);
    expect(thread()!.items[0]!.deleted).toBe(true);
  });

  test("reactions changing replace the message", () => {
    openThread();
    const m = message(1);
    mergeMessages(CID, [m], ME);
    mergeMessages(CID, [{ ...m, reactions: [{ emoji: "👍", user_ids: [ME] }] }], ME);
    expect(thread()!.items[0]!.reactions).toHaveLength(1);
  });

  test("my stored message settles the outbox entry with its client_id", () => {
    const mine = outboxEntry();
    const other = outboxEntry();
    setOutbox(() => [mine, other]);
    mergeMessages(CID, [message(1, { sender_id: ME, client_id: mine.client_id })], ME);
    expect(getState().outbox).toEqual([other]);
  });

  test("someone else's message with the same client_id leaves my outbox alone", () => {
    const mine = outboxEntry();
    setOutbox(() => [mine]);
    mergeMessages(CID, [message(1, { sender_id: BOB, client_id: mine.client_id })], ME);
    expect(getState().outbox).toEqual([mine]);
  });

  test("a conversation never opened keeps no thread but its list entry moves on", () => {
    mergeMessages(CID, [message(1, { created_at: "2024-05-02T08:00:00Z" })], ME);
    expect(thread()).toBeUndefined();
    expect(conv().last_message?.seq).toBe(1);
    expect(conv().last_seq).toBe(1);
    expect(conv().last_activity_at).toBe("2024-05-02T08:00:00Z");
  });

  test("an older message does not take the last message or activity back", () => {
    openThread();
    mergeMessages(CID, [message(5, { created_at: "2024-05-03T08:00:00Z" })], ME);
    mergeMessages(CID, [message(2, { created_at: "2024-05-02T08:00:00Z" })], ME);
    expect(conv().last_message?.seq).toBe(5);
    expect(conv().last_activity_at).toBe("2024-05-03T08:00:00Z");
  });

  test("nothing new leaves the state object as it was", () => {
    openThread();
    const m = message(1);
    mergeMessages(CID, [m], ME);
    const before = getState();
    mergeMessages(CID, [m], ME);
    expect(getState()).toBe(before);
  });
});

describe("a history window opened far back", () => {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => message(from + i));
  const farBack = () => {
    setConversationList([summary({ last_seq: 5000, last_message: message(5000) })]);
    updateThread(CID, { ...emptyThread, loading: true });
    mergePage(CID, { messages: range(26, 75), hasMore: true, hasNewer: true }, ME, { loaded: true, loading: false });
  };

  test("a live message is not spliced in after the gap, but is the conversation's last message", () => {
    farBack();
    const fresh = mergeMessages(CID, [message(5001)], ME);
    expect(fresh.map((m) => m.seq)).toEqual([5001]);
    expect(seqs()).toHaveLength(50);
    expect(seqs()?.at(-1)).toBe(75);
    expect(conv().last_message?.seq).toBe(5001);
    expect(conv().last_seq).toBe(5001);
  });

  test("my sent message settles its outbox entry even while the window is far back", () => {
    farBack();
    const entry = outboxEntry();
    setOutbox(() => [entry]);
    mergeMessages(CID, [message(5001, { sender_id: ME, client_id: entry.client_id })], ME);
    expect(getState().outbox).toEqual([]);
    expect(seqs()?.at(-1)).toBe(75);
  });

  test("an edit of a message in the window shows; one of a message beyond it is left for its page", () => {
    farBack();
    const inside = thread()!.items[10]!;
    mergeUpdated([{ ...inside, body: "edited", edited_at: "2024-05-02T10:00:00.000Z" }], ME);
    expect(thread()!.items[10]!.body).toBe("edited");
    mergeUpdated([message(3, { body: "old, edited", edited_at: "2024-05-02T10:00:00.000Z" })], ME);
    mergeUpdated([message(4000, { body: "later, edited", edited_at: "2024-05-02T10:00:00.000Z" })], ME);
    expect(seqs()?.[0]).toBe(26);
    expect(seqs()).toHaveLength(50);
  });

  test("paging down to the live end makes it live again: then new messages are appended", () => {
    farBack();
    mergePage(CID, { messages: range(76, 125), hasNewer: true }, ME);
    mergePage(CID, { messages: range(126, 5000), hasNewer: false }, ME);
    expect(thread()!.hasNewer).toBe(false);
    mergeMessages(CID, [message(5001)], ME);
    expect(seqs()?.at(-1)).toBe(5001);
    expect(seqs()).toHaveLength(5001 - 26 + 1);
  });

  test("the newest page replaces it (jump to latest)", () => {
    farBack();
    mergePage(CID, { messages: range(4951, 5000), hasMore: true, hasNewer: false }, ME, { around: null });
    expect(seqs()?.[0]).toBe(4951);
    expect(thread()!.hasNewer).toBe(false);
    expect(thread()!.around).toBeNull();
  });
});

describe("receipts", () => {
  beforeEach(() => setConversationList([summary()]));
  const bob = () => conv().members.find((m) => m.user_id === BOB)!;

  test("read implies delivered", () => {
    applyReceipt({ conversation_id: CID, user_id: BOB, kind: "read", seq: 4 });
    expect(bob().read_seq).toBe(4);
    expect(bob().delivered_seq).toBe(4);
  });

  test("positions only move forward", () => {
    applyReceipt({ conversation_id: CID, user_id: BOB, kind: "delivered", seq: 6 });
    applyReceipt({ conversation_id: CID, user_id: BOB, kind: "delivered", seq: 2 });
    expect(bob().delivered_seq).toBe(6);
    expect(bob().read_seq).toBe(0);
  });

  test("a receipt for someone not in the conversation changes nothing", () => {
    const before = getState();
    applyReceipt({ conversation_id: CID, user_id: CAROL, kind: "read", seq: 3 });
    expect(getState()).toBe(before);
  });
});

describe("typing", () => {
  test("an indicator without a refresh expires", () => {
    setTyping(CID, BOB, true);
    const until = getState().typing[CID]![BOB]!;
    expireTyping(until - 1);
    expect(getState().typing[CID]![BOB]).toBe(until);
    expireTyping(until);
    expect(getState().typing[CID]![BOB]).toBeUndefined();
  });

  test("stopping ends it at once", () => {
    setTyping(CID, BOB, true);
    setTyping(CID, BOB, false);
    expect(getState().typing[CID]).toEqual({});
  });
});

describe("changes caught up through sync", () => {
  test("the first list sets each conversation's version; a reload does not move it", () => {
    setConversationList([summary({ version: 3 }), summary({ id: OTHER_CID, version: 0 })]);
    expect(getState().versions).toEqual({ [CID]: 3, [OTHER_CID]: 0 });
    // Changes made while away raise the list's version; only a sync answer may skip them.
    setConversationList([summary({ version: 9 }), summary({ id: OTHER_CID, version: 2 })]);
    expect(getState().versions).toEqual({ [CID]: 3, [OTHER_CID]: 0 });
    setVersions({ [CID]: 9 });
    expect(getState().versions[CID]).toBe(9);
  });

  test("a conversation added later brings its version", () => {
    upsertConversation(conversation({ id: OTHER_CID, version: 4 }));
    expect(getState().versions[OTHER_CID]).toBe(4);
  });

  test("the same versions again change nothing", () => {
    setVersions({ [CID]: 2 });
    const before = getState();
    setVersions({ [CID]: 2 });
    expect(getState()).toBe(before);
  });

  test("updated messages replace the loaded ones: edit, delete, reaction", () => {
    setConversationList([summary({ last_seq: 3, last_message: message(3) })]);
    openThread();
    const [m1, m2, m3] = [message(1), message(2), message(3)];
    mergeMessages(CID, [m1, m2, m3], ME);
    mergeUpdated(
      [
        { ...m1, body: "edited", edited_at: "2024-05-02T10:00:00Z" },
        { ...m2, body: "", deleted: true },
        { ...m3, reactions: [{ emoji: "👍", user_ids: [BOB] }] },
      ],
      ME,
    );
    const items = thread()!.items;
    expect(items.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(items[0]!.body).toBe("edited");
    expect(items[1]!.deleted).toBe(true);
    expect(items[2]!.reactions).toEqual([{ emoji: "👍", user_ids: [BOB] }]);
    // The list's preview follows a change to the last message; nothing counts as unread.
    expect(conv().last_message?.reactions).toHaveLength(1);
    expect(conv().unread_count).toBe(0);
  });

  test("an older copy never undoes a newer edit or a delete", () => {
    openThread();
    const m = message(1);
    mergeMessages(CID, [{ ...m, deleted: true, body: "" }], ME);
    mergeUpdated([{ ...m, body: "edited", edited_at: "2024-05-02T10:00:00Z" }], ME);
    expect(thread()!.items[0]!.deleted).toBe(true);
  });

  test("a link preview added or removed by message:updated replaces the message", () => {
    openThread();
    const m = message(1, { body: "see https://example.com" });
    mergeMessages(CID, [m], ME);
    const preview = { url: "https://example.com/", title: "Example", description: null, site_name: null, image: null };
    mergeUpdated([{ ...m, preview }], ME);
    expect(thread()!.items[0]!.preview).toEqual(preview);
    mergeUpdated([{ ...m, preview: null }], ME);
    expect(thread()!.items[0]!.preview).toBeNull();
  });
});
