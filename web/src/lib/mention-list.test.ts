import { describe, expect, test } from "vitest";
import { applyToMentions } from "./mention-list";
import { BOB, ME, message } from "../test/fixtures";

const mentioning = (seq: number, patch = {}) => message(seq, { sender_id: BOB, mentions: [ME], ...patch });

describe("the live Mentions list", () => {
  test("a new message that mentions me goes on top", () => {
    const list = [mentioning(5), mentioning(3)];
    const m = mentioning(9);
    expect(applyToMentions(list, m, "new", ME).map((x) => x.seq)).toEqual([9, 5, 3]);
  });

  test("a new message that does not mention me leaves the list as it is", () => {
    const list = [mentioning(5)];
    expect(applyToMentions(list, message(9, { mentions: [] }), "new", ME)).toBe(list);
  });

  test("the same message twice (its event and a sync) shows once", () => {
    const m = mentioning(9);
    const once = applyToMentions([], m, "new", ME);
    expect(applyToMentions(once, { ...m }, "new", ME)).toHaveLength(1);
  });

  test("an edit replaces the item in place", () => {
    const a = mentioning(5);
    const list = [mentioning(7), a];
    const edited = { ...a, body: "edited", edited_at: "2024-05-02T10:00:00.000Z" };
    const next = applyToMentions(list, edited, "updated", ME);
    expect(next.map((x) => x.body)).toEqual([list[0]!.body, "edited"]);
  });

  test("a late copy does not undo an edit", () => {
    const a = mentioning(5, { body: "edited", edited_at: "2024-05-02T10:00:00.000Z" });
    const list = [a];
    expect(applyToMentions(list, { ...a, body: "old", edited_at: null }, "new", ME)).toBe(list);
  });

  test("a deleted message leaves the list, as the server leaves it out", () => {
    const a = mentioning(5);
    const list = [mentioning(7), a];
    const next = applyToMentions(list, { ...a, deleted: true, body: "", mentions: [] }, "updated", ME);
    expect(next.map((x) => x.seq)).toEqual([7]);
  });

  test("an edit of a mention not loaded (an older page) is not added", () => {
    const list = [mentioning(7)];
    expect(applyToMentions(list, mentioning(2, { edited_at: "2024-05-02T10:00:00.000Z" }), "updated", ME)).toBe(list);
  });

  test("a mention caught up late goes in its place by time", () => {
    const list = [mentioning(9), mentioning(3)];
    expect(applyToMentions(list, mentioning(5), "new", ME).map((x) => x.seq)).toEqual([9, 5, 3]);
  });
});
