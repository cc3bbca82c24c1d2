import { describe, expect, test } from "vitest";
import { readInfo } from "./receipts";
import { BOB, CAROL, ME, conversation, member } from "../test/fixtures";

const DAVE = "00000000-0000-4000-8000-000000000004";
const c = conversation({
  kind: "group",
  members: [
    member(ME, { read_seq: 9, delivered_seq: 9 }),
    member(BOB, { delivered_seq: 5, read_seq: 5 }),
    member(CAROL, { delivered_seq: 5, read_seq: 2 }),
    member(DAVE, { display_name: "Dave", delivered_seq: 3, read_seq: 3 }),
  ],
});
const names = (list: { display_name: string }[]) => list.map((m) => m.display_name);

describe("who has read my message", () => {
  test("read by those whose read position reached it, delivered to those only delivered, me left out", () => {
    const info = readInfo(c, 5, ME);
    expect(names(info.read)).toEqual(["Bob"]);
    expect(names(info.delivered)).toEqual(["Carol"]);
    expect(names(info.waiting)).toEqual(["Dave"]);
  });

  test("an older message reached more people", () => {
    const info = readInfo(c, 2, ME);
    expect(names(info.read)).toEqual(["Bob", "Carol", "Dave"]);
    expect(info.delivered).toEqual([]);
  });

  test("with read receipts off, reads count as delivered", () => {
    const info = readInfo(c, 5, ME, false);
    expect(info.read).toEqual([]);
    expect(names(info.delivered)).toEqual(["Bob", "Carol"]);
  });

  test("a read without its delivered receipt still counts as delivered", () => {
    const odd = conversation({ kind: "group", members: [member(ME), member(BOB, { delivered_seq: 0, read_seq: 4 })] });
    expect(names(readInfo(odd, 4, ME, false).delivered)).toEqual(["Bob"]);
  });
});
