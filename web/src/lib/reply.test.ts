import { describe, expect, test } from "vitest";
import { EXCERPT_MAX, excerpt, quoteOf } from "./reply";
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
