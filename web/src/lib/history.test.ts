import { describe, expect, test } from "vitest";
import { fitsWindow, holdsSeq, joinPage, newerCopy, type HistoryWindow } from "./history";
import { message } from "../test/fixtures";

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => message(from + i));
const win = (from: number, to: number, hasMore: boolean, hasNewer: boolean): HistoryWindow => ({
  items: range(from, to),
  hasMore,
  hasNewer,
});
const seqs = (w: HistoryWindow) => w.items.map((m) => m.seq);

describe("a window opened far back", () => {
  test("the page around a seq replaces the newest page it does not touch", () => {
    const w = joinPage(win(4951, 5000, true, false), { messages: range(26, 75), hasMore: true, hasNewer: true });
    expect(seqs(w)).toEqual(range(26, 75).map((m) => m.seq));
    expect(w.hasMore).toBe(true);
    expect(w.hasNewer).toBe(true);
  });

  test("the page around a seq that touches the newest page joins it, still live", () => {
    const w = joinPage(win(51, 100, true, false), { messages: range(20, 69), hasMore: true, hasNewer: true });
    expect(seqs(w)).toEqual(range(20, 100).map((m) => m.seq));
    expect(w.hasMore).toBe(true);
    expect(w.hasNewer).toBe(false);
  });

  test("newer pages extend it until the server says nothing newer is left", () => {
    let w = win(26, 75, true, true);
    w = joinPage(w, { messages: range(76, 125), hasNewer: true });
    expect(seqs(w)).toEqual(range(26, 125).map((m) => m.seq));
    expect(w.hasNewer).toBe(true);
    w = joinPage(w, { messages: range(126, 140), hasNewer: false });
    expect(w.items.at(-1)?.seq).toBe(140);
    expect(w.hasNewer).toBe(false);
    expect(w.hasMore).toBe(true);
  });

  test("an empty newer page ends it at the live end", () => {
    const w = joinPage(win(26, 75, true, true), { messages: [], hasNewer: false });
    expect(w.hasNewer).toBe(false);
    expect(seqs(w)).toHaveLength(50);
  });

  test("older pages extend it at the top and keep it apart from the live end", () => {
    const w = joinPage(win(26, 75, true, true), { messages: range(1, 25), hasMore: false });
    expect(seqs(w)).toEqual(range(1, 75).map((m) => m.seq));
    expect(w.hasMore).toBe(false);
    expect(w.hasNewer).toBe(true);
  });

  test("jumping to the newest page replaces it", () => {
    const w = joinPage(win(26, 75, true, true), { messages: range(4951, 5000), hasMore: true, hasNewer: false });
    expect(seqs(w)).toEqual(range(4951, 5000).map((m) => m.seq));
    expect(w.hasNewer).toBe(false);
  });

  test("a live message that came in while a page reaching the live end was read is kept", () => {
    // The thread's first page was on its way when 102 came in live; the page was read before
    // 101 and 102 were committed (101's event is still on its way).
    const held: HistoryWindow = { items: [message(102)], hasMore: true, hasNewer: false };
    const w = joinPage(held, { messages: range(53, 100), hasMore: true, hasNewer: false });
    expect(w.items.at(-1)?.seq).toBe(102);
    expect(w.items).toHaveLength(49);
  });

  test("a page into an empty thread (the first page) is the window", () => {
    const empty: HistoryWindow = { items: [], hasMore: true, hasNewer: false };
    const w = joinPage(empty, { messages: range(26, 75), hasMore: true, hasNewer: true });
    expect(seqs(w)).toHaveLength(50);
    expect(w.hasNewer).toBe(true);
  });
});

describe("what a window takes from live messages", () => {
  test("a window far back takes no newer message: it would sit after a gap", () => {
    const w = win(26, 75, true, true);
    expect(fitsWindow(w, 5001)).toBe(false);
    expect(fitsWindow(w, 76)).toBe(false);
    expect(fitsWindow(w, 50)).toBe(true);
  });

  test("a live window takes new messages but not older ones above its first page", () => {
    const w = win(51, 100, true, false);
    expect(fitsWindow(w, 101)).toBe(true);
    expect(fitsWindow(w, 3)).toBe(false);
    expect(fitsWindow(win(1, 100, false, false), 1)).toBe(true);
  });

  test("an empty thread (its first page on the way) takes anything", () => {
    expect(fitsWindow({ items: [], hasMore: true, hasNewer: true }, 7)).toBe(true);
  });

  test("holdsSeq", () => {
    expect(holdsSeq(win(26, 75, true, true), 30)).toBe(true);
    expect(holdsSeq(win(26, 75, true, true), 3)).toBe(false);
  });
});

describe("the copy of a message a page brings", () => {
  test("never undoes a delete or a later edit already held", () => {
    const held = message(5, { deleted: true, body: "" });
    expect(newerCopy(held, { ...held, deleted: false, body: "hi" })).toBe(held);
    const edited = message(6, { edited_at: "2024-05-01T11:00:00.000Z", body: "new" });
    expect(newerCopy(edited, { ...edited, edited_at: null, body: "old" })).toBe(edited);
    const fresher = { ...edited, edited_at: "2024-05-01T12:00:00.000Z", body: "newer" };
    expect(newerCopy(edited, fresher)).toBe(fresher);
  });

  test("a page joined over held messages keeps the held delete", () => {
    const w = win(1, 10, false, false);
    const gone = { ...w.items[4]!, deleted: true, body: "" };
    const held = { ...w, items: w.items.map((m) => (m.seq === 5 ? gone : m)) };
    const page = range(1, 10).map((m) => (m.seq === 5 ? { ...gone, deleted: false, body: "back" } : m));
    const joined = joinPage(held, { messages: page, hasMore: false, hasNewer: false });
    expect(joined.items.find((m) => m.seq === 5)?.deleted).toBe(true);
  });
});
