import { describe, expect, test } from "vitest";
import { fold, matchConversations, nameMatches, parseSnippet, peopleToShow } from "./search";
import type { ConversationEntry } from "./store";
import { BOB, CAROL, ME, OTHER_CID, member, summary } from "../test/fixtures";

const entry = (patch: Parameters<typeof summary>[0]): ConversationEntry => summary(patch);
const user = (id: string, display_name: string) => ({ id, display_name, avatar_url: null });

describe("snippets", () => {
  test("the server's markers become highlighted parts", () => {
    expect(parseSnippet("see you at the <mark>lake</mark> on <mark>Saturday</mark>!")).toEqual([
      { text: "see you at the ", mark: false },
      { text: "lake", mark: true },
      { text: " on ", mark: false },
      { text: "Saturday", mark: true },
      { text: "!", mark: false },
    ]);
  });

  test("other markup stays text (React renders it escaped)", () => {
    const evil = '<img src=x onerror="alert(1)"> <mark><b>bold</b></mark> <script>x</script>';
    const parts = parseSnippet(evil);
    expect(parts).toEqual([
      { text: '<img src=x onerror="alert(1)"> ', mark: false },
      { text: "<b>bold</b>", mark: true },
      { text: " <script>x</script>", mark: false },
    ]);
    expect(parts.map((p) => p.text).join("")).toBe(evil.replace("<mark>", "").replace("</mark>", ""));
  });

  test("a marker without its pair is left as text", () => {
    expect(parseSnippet("a <mark>b")).toEqual([{ text: "a <mark>b", mark: false }]);
    expect(parseSnippet("a </mark> b")).toEqual([{ text: "a </mark> b", mark: false }]);
    expect(parseSnippet("<MARK>x</MARK>")).toEqual([{ text: "<MARK>x</MARK>", mark: false }]);
  });

  test("empty marks vanish and neighbours join", () => {
    expect(parseSnippet("a<mark></mark>b<mark>c</mark><mark>d</mark>")).toEqual([
      { text: "ab", mark: false },
      { text: "cd", mark: true },
    ]);
    expect(parseSnippet("")).toEqual([]);
  });
});

describe("conversations in the search list", () => {
  const convs = {
    a: entry({ id: "a", kind: "group", name: "Weekend trip", last_activity_at: "2024-05-01T10:00:00Z" }),
    b: entry({ id: "b", kind: "group", name: "Book club", last_activity_at: "2024-05-03T10:00:00Z" }),
    c: entry({
      id: "c",
      members: [member(ME), member(BOB, { display_name: "José Núñez" })],
      last_activity_at: "2024-05-02T10:00:00Z",
    }),
  };

  test("match anywhere in the title, ignoring case and accents", () => {
    expect(matchConversations(convs, ME, "TRIP").map((c) => c.id)).toEqual(["a"]);
    expect(matchConversations(convs, ME, "jose nun").map((c) => c.id)).toEqual(["c"]);
    expect(fold("Ñandú")).toBe("nandu");
  });

  test("an empty query lists every conversation, most recent first", () => {
    expect(matchConversations(convs, ME, "  ").map((c) => c.id)).toEqual(["b", "c", "a"]);
  });
});

describe("people in the search list", () => {
  test("a name fits a query that starts it or one of its words", () => {
    expect(nameMatches("Ben Ito", "ben")).toBe(true);
    expect(nameMatches("Ben Ito", "it")).toBe(true);
    expect(nameMatches("Ben Ito", "Ben I")).toBe(true);
    expect(nameMatches("Ben Ito", "story")).toBe(false);
    expect(nameMatches("Ben Ito", "en")).toBe(false);
    expect(nameMatches("Zoë Ünal", "un")).toBe(true);
  });

  test("not me, and not someone whose direct chat is already listed", () => {
    const withBob = entry({ members: [member(ME), member(BOB)] });
    const group = entry({ id: OTHER_CID, kind: "group", name: "Bob's party", members: [member(ME), member(CAROL)] });
    const users = [user(ME, "Me"), user(BOB, "Bob"), user(CAROL, "Carol")];
    expect(peopleToShow(users, [withBob, group], ME).map((u) => u.id)).toEqual([CAROL]);
  });
});
