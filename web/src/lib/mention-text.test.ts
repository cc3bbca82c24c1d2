import { describe, expect, test } from "vitest";
import { insertMention, mentionSegments, mentionsToSend } from "./mention-text";
import type { Mentionable } from "./mentions";

const ME = "me";
const members: Mentionable[] = [
  { user_id: ME, display_name: "Mia Wong" },
  { user_id: "bob", display_name: "Bob Chen" },
  { user_id: "bo", display_name: "Bo" },
  { user_id: "carol", display_name: "Carol" },
];
const bob = members[1]!;
const carol = members[3]!;

describe("picking a member in the autocomplete", () => {
  test("replaces the typed @query with @Display Name and a space, caret after it", () => {
    const text = "hi @Bo how";
    expect(insertMention(text, 3, 6, "Bob Chen")).toEqual({ text: "hi @Bob Chen how", caret: 13 });
    expect(insertMention("@b", 0, 2, "Bob Chen")).toEqual({ text: "@Bob Chen ", caret: 10 });
  });
});

describe("the mentions sent with a message", () => {
  test("a picked member whose @Name is still in the text", () => {
    expect(mentionsToSend("@Bob Chen lunch?", [bob], members, ME)).toEqual(["bob"]);
  });

  test("a picked member whose name was edited away is not sent", () => {
    expect(mentionsToSend("@Bob Ch lunch?", [bob], members, ME)).toEqual([]);
    expect(mentionsToSend("lunch?", [bob, carol], members, ME)).toEqual([]);
  });

  test("not inside an address or a longer word; case ignored", () => {
    expect(mentionsToSend("mail x@Bob Chen", [bob], members, ME)).toEqual([]);
    expect(mentionsToSend("@bob chenx", [bob], members, ME)).toEqual([]);
    expect(mentionsToSend("(@bob chen)", [bob], members, ME)).toEqual(["bob"]);
  });

  test("someone who left, or me, is never sent; each once; a name typed by hand is not guessed", () => {
    const gone: Mentionable = { user_id: "gone", display_name: "Gone" };
    const mia = members[0]!;
    expect(mentionsToSend("@Gone @Mia Wong @Bob Chen @Bob Chen @Carol", [gone, mia, bob, bob], members, ME)).toEqual([
      "bob",
    ]);
  });
});

describe("highlighting the mentions in a bubble", () => {
  test("cuts the body into text and each mentioned member's @Name", () => {
    expect(mentionSegments("hi @Bob Chen and @Carol!", ["bob", "carol"], members)).toEqual([
      { text: "hi " },
      { text: "@Bob Chen", user_id: "bob" },
      { text: " and " },
      { text: "@Carol", user_id: "carol" },
      { text: "!" },
    ]);
  });

  test("a first name alone is highlighted; members not in mentions are not", () => {
    expect(mentionSegments("@Bob and @Carol", ["bob"], members)).toEqual([
      { text: "@Bob", user_id: "bob" },
      { text: " and @Carol" },
    ]);
  });

  test("without mentions the body is one piece", () => {
    expect(mentionSegments("plain @Bob Chen", [], members)).toEqual([{ text: "plain @Bob Chen" }]);
    expect(mentionSegments("", ["bob"], members)).toEqual([]);
  });
});
