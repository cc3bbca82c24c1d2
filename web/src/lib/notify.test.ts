import { describe, expect, test } from "vitest";
import { shouldNotify, shouldOffer, type NotifyContext, type NotifyState } from "./notify";
import { BOB, ME, message } from "../test/fixtures";

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
