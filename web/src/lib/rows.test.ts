import { describe, expect, test } from "vitest";
import { buildRows, pendingMessage, type Row } from "./rows";
import { BOB, CAROL, ME, conversation, member, message, outboxEntry } from "../test/fixtures";

const NOW = new Date("2024-05-10T15:00:00Z");
const at = (iso: string) => ({ created_at: iso });
type MessageRow = Extract<Row, { kind: "message" }>;
const shape = (rows: Row[]) =>
  rows.map((r) =>
    r.kind === "day" ? `[${r.label}]` : `${r.m.body}${r.first ? " first" : ""}${r.last ? " last" : ""}`,
  );

describe("message rows", () => {
  test("a day separator goes before the first message of each day", () => {
    const rows = buildRows(
      conversation(),
      [
        message(1, { body: "a", ...at("2024-04-20T10:00:00Z") }),
        message(2, { body: "b", ...at("2024-05-09T23:59:00Z") }),
        message(3, { body: "c", ...at("2024-05-10T00:01:00Z") }),
        message(4, { body: "d", ...at("2024-05-10T00:02:00Z") }),
      ],
      [],
      ME,
      NOW,
    );
    expect(rows.filter((r) => r.kind === "day").map((r) => r.label)).toEqual(["April 20, 2024", "Yesterday", "Today"]);
    expect(rows.map((r) => r.kind)).toEqual(["day", "message", "day", "message", "day", "message", "message"]);
  });

  test("messages from one sender within five minutes form one run", () => {
    const rows = buildRows(
      conversation({ kind: "group", members: [member(ME), member(BOB), member(CAROL)] }),
      [
        message(1, { body: "b1", sender_id: BOB, ...at("2024-05-10T10:00:00Z") }),
        message(2, { body: "b2", sender_id: BOB, ...at("2024-05-10T10:04:59Z") }),
        message(3, { body: "b3", sender_id: BOB, ...at("2024-05-10T10:10:00Z") }),
        message(4, { body: "c1", sender_id: CAROL, ...at("2024-05-10T10:10:30Z") }),
        message(5, { body: "b4", sender_id: BOB, ...at("2024-05-10T10:11:00Z") }),
      ],
      [],
      ME,
      NOW,
    );
    expect(shape(rows)).toEqual(["[Today]", "b1 first", "b2 last", "b3 first last", "c1 first last", "b4 first last"]);
  });

  test("a run does not cross midnight", () => {
    const rows = buildRows(
      conversation(),
      [
        message(1, { body: "late", ...at("2024-05-09T23:59:00Z") }),
        message(2, { body: "early", ...at("2024-05-10T00:00:30Z") }),
      ],
      [],
      ME,
      NOW,
    );
    expect(shape(rows)).toEqual(["[Yesterday]", "late first last", "[Today]", "early first last"]);
  });

  test("unsent messages follow the stored ones and show sending or failed", () => {
    const sending = outboxEntry({ body: "on its way", created_at: "2024-05-10T11:00:00Z" });
    const failed = outboxEntry({ body: "refused", status: "failed", error: "no", created_at: "2024-05-10T11:00:01Z" });
    const rows = buildRows(
      conversation(),
      [message(1, { body: "stored", sender_id: ME, ...at("2024-05-10T10:59:00Z") })],
      [sending, failed, outboxEntry({ conversation_id: "elsewhere" })],
      ME,
      NOW,
    );
    const msgs = rows.filter((r): r is MessageRow => r.kind === "message");
    expect(msgs.map((r) => [r.m.body, r.status])).toEqual([
      ["stored", "sent"],
      ["on its way", "sending"],
      ["refused", "failed"],
    ]);
    expect(msgs[1]!.pending).toBe(sending);
    expect(msgs.map((r) => r.first)).toEqual([true, false, false]);
  });

  test("a stored message hides its outbox entry and keeps the same row key", () => {
    const o = outboxEntry({ body: "hello" });
    const pendingRows = buildRows(conversation(), [], [o], ME, NOW);
    const stored = message(1, { sender_id: ME, client_id: o.client_id, body: "hello" });
    const storedRows = buildRows(conversation(), [stored], [o], ME, NOW);
    const keys = (rows: Row[]) => rows.filter((r) => r.kind === "message").map((r) => r.key);
    expect(keys(storedRows)).toEqual(keys(pendingRows));
    expect(storedRows.filter((r) => r.kind === "message")).toHaveLength(1);
  });

  test("my messages show how far they got; others' show no ticks", () => {
    const c = conversation({ members: [member(ME), member(BOB, { delivered_seq: 2, read_seq: 1 })] });
    const rows = buildRows(
      c,
      [
        message(1, { sender_id: ME }),
        message(2, { sender_id: ME }),
        message(3, { sender_id: ME }),
        message(4, { sender_id: BOB }),
      ],
      [],
      ME,
      NOW,
    );
    expect(rows.filter((r): r is MessageRow => r.kind === "message").map((r) => r.status)).toEqual([
      "read",
      "delivered",
      "sent",
      null,
    ]);
  });

  test("a pending reply shows its reply_to; an entry saved before replies has none", () => {
    expect(pendingMessage(outboxEntry({ reply_to: "original-id" }), ME).reply_to).toBe("original-id");
    expect(pendingMessage(outboxEntry(), ME).reply_to).toBeNull();
  });
});
