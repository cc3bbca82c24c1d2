import { describe, expect, test, vi } from "vitest";
import {
  EXCERPT_MAX,
  clearOriginals,
  excerpt,
  fetchedOriginal,
  loadOriginal,
  quoteOf,
  refreshOriginal,
  subscribeOriginals,
} from "./reply";
import { BOB, ME, conversation, message } from "../test/fixtures";

const image = {
  media_id: "m1",
  content_type: "image/png",
  size: 10,
  name: "a.png",
  has_thumbnail: false,
};

describe("the excerpt of a replied message", () => {
  test("is one line: line breaks and runs of spaces become one space", () => {
    expect(excerpt(message(1, { body: "  first line\n\nsecond   line\t" }))).toBe("first line second line");
  });

  test("long text is cut with an ellipsis, never inside an emoji", () => {
    const long = excerpt(message(1, { body: "word ".repeat(60) }));
    expect([...long]).toHaveLength(EXCERPT_MAX);
    expect(long.endsWith("…")).toBe(true);
    const emoji = excerpt(message(1, { body: "😀".repeat(10) }), 5);
    expect(emoji).toBe("😀😀😀😀…");
  });

  test("attachments without text read Attachment; a deleted message reads Message deleted", () => {
    expect(excerpt(message(1, { body: "", attachments: [image] }))).toBe("Attachment");
    expect(excerpt(message(1, { body: "see this", attachments: [image] }))).toBe("see this");
    expect(excerpt(message(1, { body: "", deleted: true }))).toBe("Message deleted");
  });
});

describe("the quote above a reply", () => {
  const c = conversation();

  test("a loaded original names its sender (You for mine) and can be jumped to by seq", () => {
    expect(quoteOf(message(7, { sender_id: BOB, body: "lunch?" }), c, ME)).toEqual({
      kind: "loaded",
      seq: 7,
      sender: "Bob",
      text: "lunch?",
      deleted: false,
    });
    expect(quoteOf(message(8, { sender_id: ME, body: "sure" }), c, ME)).toMatchObject({ sender: "You" });
  });

  test("a deleted original reads Message deleted and keeps its seq", () => {
    expect(quoteOf(message(3, { body: "", deleted: true }), c, ME)).toEqual({
      kind: "loaded",
      seq: 3,
      sender: "Bob",
      text: "Message deleted",
      deleted: true,
    });
  });

  test("an original that is not loaded reads Original message", () => {
    expect(quoteOf(undefined, c, ME)).toEqual({ kind: "missing", text: "Original message" });
  });
});

describe("an original outside the loaded thread", () => {
  test("is read once per id and then quoted with its sender and seq", async () => {
    clearOriginals();
    const original = message(4, { sender_id: BOB, body: "the old plan" });
    const read = vi.fn(async () => original);
    const seen = vi.fn();
    const unsubscribe = subscribeOriginals(seen);
    await Promise.all([loadOriginal(original.id, read), loadOriginal(original.id, read)]);
    await loadOriginal(original.id, read);
    expect(read).toHaveBeenCalledTimes(1);
    expect(seen).toHaveBeenCalledTimes(1);
    const got = fetchedOriginal(original.id);
    expect(got).toBe(original);
    expect(quoteOf(got === "missing" ? undefined : got, conversation(), ME)).toMatchObject({
      kind: "loaded",
      seq: 4,
      sender: "Bob",
      text: "the old plan",
    });
    unsubscribe();
  });

  test("one the server will not show is remembered as missing; a network failure is asked again", async () => {
    clearOriginals();
    await loadOriginal("gone", async () => Promise.reject(Object.assign(new Error("not found"), { status: 404 })));
    expect(fetchedOriginal("gone")).toBe("missing");
    const read = vi.fn(async () => Promise.reject(new TypeError("Failed to fetch")));
    await loadOriginal("flaky", read);
    expect(fetchedOriginal("flaky")).toBeUndefined();
    await loadOriginal("flaky", read);
    expect(read).toHaveBeenCalledTimes(2);
  });

  test("a change to a fetched original replaces it; others are not kept", async () => {
    clearOriginals();
    const original = message(2, { body: "before" });
    await loadOriginal(original.id, async () => original);
    refreshOriginal({ ...original, body: "", deleted: true });
    expect(fetchedOriginal(original.id)).toMatchObject({ deleted: true });
    refreshOriginal(message(3));
    expect(fetchedOriginal(message(3).id)).toBeUndefined();
  });
});
