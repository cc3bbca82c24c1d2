import { describe, expect, test } from "vitest";
import { MAX_MENTIONS, findMentions, mentionCandidates, mentionQueryAt, type Mentionable } from "./mentions";

const ME = "me";
const members: Mentionable[] = [
  { user_id: ME, display_name: "Mia Wong" },
  { user_id: "ann", display_name: "Ann Lee" },
  { user_id: "annabel", display_name: "Annabel Park" },
  { user_id: "zoe", display_name: "Zoë Ortiz" },
  { user_id: "bo", display_name: "Bo" },
  { user_id: "bob", display_name: "Bob Chen" },
];

describe("finding @mentions in a message", () => {
  test("a whole display name, any case, in order of first mention, each once", () => {
    expect(findMentions("@bob chen and @Ann Lee, then @Bob Chen again", members, ME)).toEqual(["bob", "ann"]);
  });

  test("a first name alone when only one member's name starts with it", () => {
    expect(findMentions("thanks @Annabel!", members, ME)).toEqual(["annabel"]);
    expect(findMentions("hi @Ann", members, ME)).toEqual(["ann"]);
  });

  test("the longest name wins, and a name must end at a word boundary", () => {
    expect(findMentions("@Bob Chen", members, ME)).toEqual(["bob"]);
    expect(findMentions("@Bo is here", members, ME)).toEqual(["bo"]);
    expect(findMentions("@Bobby", members, ME)).toEqual([]);
  });

  test("accents do not matter", () => {
    expect(findMentions("@zoe ortiz look", members, ME)).toEqual(["zoe"]);
    expect(findMentions("@Zoë", members, ME)).toEqual(["zoe"]);
  });

  test("not in an email address, not me, not someone who is not a member", () => {
    expect(findMentions("write to ann@lee.example", members, ME)).toEqual([]);
    expect(findMentions("@Mia Wong @Carl", members, ME)).toEqual([]);
    expect(findMentions("(@Ann Lee)", members, ME)).toEqual(["ann"]);
  });

  test("at most 50", () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ user_id: `u${i}`, display_name: `Person${i}` }));
    const text = many.map((m) => `@${m.display_name}`).join(" ");
    expect(findMentions(text, many, ME)).toHaveLength(MAX_MENTIONS);
  });
});

describe("the @name being typed", () => {
  test("is the text from the @ to the caret", () => {
    expect(mentionQueryAt("hello @An", 9)).toEqual({ start: 6, query: "An" });
    expect(mentionQueryAt("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionQueryAt("hi @Ann L", 9)).toEqual({ start: 3, query: "Ann L" });
  });

  test("is nothing in an email address, after a line break, or with no @", () => {
    expect(mentionQueryAt("ann@lee", 7)).toBeNull();
    expect(mentionQueryAt("@Ann\nmore", 9)).toBeNull();
    expect(mentionQueryAt("hello", 5)).toBeNull();
    expect(mentionQueryAt("@ nobody", 8)).toBeNull();
  });

  test("offers members whose name has a word starting with it, not me", () => {
    expect(mentionCandidates("an", members, ME).map((m) => m.user_id)).toEqual(["ann", "annabel"]);
    expect(mentionCandidates("park", members, ME).map((m) => m.user_id)).toEqual(["annabel"]);
    expect(mentionCandidates("mi", members, ME)).toEqual([]);
    expect(mentionCandidates("", members, ME)).toHaveLength(5);
  });
});
