import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { FIRST_BACKOFF_MS, MAX_BACKOFF_MS, Outbox, nextBackoff, outcome } from "./outbox";
import type { SendAck, SendPayload } from "./protocol";
import { emptyThread, getState, resetState, setConversationList, updateThread } from "./store";
import { BOB, CID, ME, OTHER_CID, message, summary } from "../test/fixtures";

describe("what an attempt leads to", () => {
  test("no ack in time backs off", () => {
    expect(outcome(null)).toEqual({ kind: "back-off" });
  });

  test("an ack is sent", () => {
    expect(outcome({ ok: true, message: message(1), duplicate: false })).toEqual({ kind: "sent" });
  });

  test("rate_limited waits as long as the server says, or a second without a hint", () => {
    const limited = (retry_after_ms?: number): SendAck => ({
      ok: false,
      error: { code: "rate_limited", message: "slow down", retry_after_ms },
    });
    expect(outcome(limited(2500))).toEqual({ kind: "wait", ms: 2500 });
    expect(outcome(limited())).toEqual({ kind: "wait", ms: 1000 });
  });

  test.each(["invalid_payload", "validation_failed", "not_found", "forbidden"])("%s is refused for good", (code) => {
    expect(outcome({ ok: false, error: { code, message: "no" } })).toEqual({ kind: "refused", error: "no" });
  });

  test.each(["unavailable", "something_new"])("%s backs off and tries again", (code) => {
    expect(outcome({ ok: false, error: { code, message: "later" } })).toEqual({ kind: "back-off" });
  });

  test("the back-off doubles up to its ceiling", () => {
    const waits = [FIRST_BACKOFF_MS];
    for (let i = 0; i < 6; i++) waits.push(nextBackoff(waits[waits.length - 1]!));
    expect(waits).toEqual([1000, 2000, 4000, 8000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  });
});

/** A socket whose acks the test hands out one by one. */
class FakeConnection {
  connected = true;
  readonly sent: SendPayload[] = [];
  private readonly waiting: { resolve: (a: SendAck) => void; reject: (e: Error) => void }[] = [];

  request<T>(_event: string, payload: unknown): Promise<T> {
    this.sent.push(payload as SendPayload);
    return new Promise<SendAck>((resolve, reject) => this.waiting.push({ resolve, reject })) as Promise<T>;
  }

  /** Acks the oldest request still waiting as stored with seq `seq`. */
  ack(seq: number): void {
    const p = this.sent[this.sent.length - this.waiting.length]!;
    const m = message(seq, { conversation_id: p.conversation_id, sender_id: ME, client_id: p.client_id, body: p.body });
    this.waiting.shift()!.resolve({ ok: true, message: m, duplicate: false });
  }

  answer(ack: SendAck): void {
    this.waiting.shift()!.resolve(ack);
  }

  timeOut(): void {
    this.waiting.shift()!.reject(new Error("operation has timed out"));
  }
}

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

describe("the outbox", () => {
  let conn: FakeConnection;
  let outbox: Outbox;
  const settle = () => vi.advanceTimersByTimeAsync(0);
  const entries = () => getState().outbox;

  beforeEach(() => {
    vi.useFakeTimers();
    vi.stubGlobal("localStorage", memoryStorage());
    resetState();
    setConversationList([summary(), summary({ id: OTHER_CID })]);
    updateThread(CID, { ...emptyThread, loaded: true });
    conn = new FakeConnection();
    outbox = new Outbox(conn, ME);
  });

  afterEach(() => {
    outbox.stop();
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  test("a message shows at once as pending and is sent with its client_id", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    expect(entries()).toHaveLength(1);
    expect(entries()[0]).toMatchObject({ conversation_id: CID, body: "hello", status: "pending" });
    expect(conn.sent).toEqual([
      { conversation_id: CID, client_id: entries()[0]!.client_id, body: "hello", attachments: [] },
    ]);
  });

  test("the ack's stored message replaces the outbox entry", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    const clientId = entries()[0]!.client_id;
    conn.ack(1);
    await settle();
    expect(entries()).toEqual([]);
    expect(getState().threads[CID]!.items.map((m) => [m.client_id, m.body])).toEqual([[clientId, "hello"]]);
  });

  test("no ack: the same client_id goes again after a back-off that doubles", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    conn.timeOut();
    await settle();
    expect(conn.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(FIRST_BACKOFF_MS - 1);
    expect(conn.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(conn.sent).toHaveLength(2);
    conn.timeOut();
    await vi.advanceTimersByTimeAsync(2 * FIRST_BACKOFF_MS - 1);
    expect(conn.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(conn.sent).toHaveLength(3);
    expect(new Set(conn.sent.map((p) => p.client_id)).size).toBe(1);
    conn.ack(1);
    await settle();
    expect(entries()).toEqual([]);
  });

  test("rate_limited waits as long as the server says", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    conn.answer({ ok: false, error: { code: "rate_limited", message: "slow", retry_after_ms: 3000 } });
    await vi.advanceTimersByTimeAsync(2999);
    expect(conn.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(conn.sent).toHaveLength(2);
  });

  test("a refusal marks the message not sent, and Retry sends it again", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    conn.answer({ ok: false, error: { code: "validation_failed", message: "body is too long" } });
    await settle();
    expect(entries()[0]).toMatchObject({ status: "failed", error: "body is too long" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(conn.sent).toHaveLength(1);

    outbox.retry(entries()[0]!.client_id);
    await settle();
    expect(entries()[0]).toMatchObject({ status: "pending", error: null });
    expect(conn.sent).toHaveLength(2);
  });

  test("messages in one conversation go one at a time, in the order written", async () => {
    outbox.send(CID, "first", []);
    outbox.send(CID, "second", []);
    await settle();
    expect(conn.sent.map((p) => p.body)).toEqual(["first"]);
    conn.ack(1);
    await settle();
    expect(conn.sent.map((p) => p.body)).toEqual(["first", "second"]);
  });

  test("conversations do not wait for each other", async () => {
    outbox.send(CID, "here", []);
    outbox.send(OTHER_CID, "there", []);
    await settle();
    expect(conn.sent.map((p) => p.body)).toEqual(["here", "there"]);
  });

  test("offline, nothing is sent; a reconnect sends at once, skipping the back-off", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    conn.timeOut();
    await settle();
    conn.connected = false;
    await vi.advanceTimersByTimeAsync(FIRST_BACKOFF_MS);
    expect(conn.sent).toHaveLength(1);
    conn.connected = true;
    outbox.flush(true);
    await settle();
    expect(conn.sent).toHaveLength(2);
  });

  test("entries survive a reload through localStorage and a logout clears them", async () => {
    conn.connected = false;
    outbox.send(CID, "kept", []);
    outbox.persist(entries());
    resetState();
    const next = new Outbox(conn, ME);
    next.load();
    expect(entries().map((e) => e.body)).toEqual(["kept"]);
    next.persist([]);
    expect(localStorage.getItem(`chatsync.outbox.${ME}`)).toBeNull();
  });

  test("a reply carries reply_to in its entry, in every send, and through a reload", async () => {
    conn.connected = false;
    outbox.send(CID, "answer", [], "original-id");
    expect(entries()[0]).toMatchObject({ body: "answer", reply_to: "original-id" });
    outbox.persist(entries());
    resetState();
    const next = new Outbox(conn, ME);
    next.load();
    conn.connected = true;
    next.flush();
    await settle();
    conn.timeOut();
    await vi.advanceTimersByTimeAsync(FIRST_BACKOFF_MS);
    expect(conn.sent.map((p) => p.reply_to)).toEqual(["original-id", "original-id"]);
    next.stop();
  });

  test("mentions go with the entry, every send and a reload; none means no field", async () => {
    conn.connected = false;
    outbox.send(CID, "@Bob hi", [], null, [BOB]);
    outbox.send(CID, "nobody", []);
    outbox.persist(entries());
    resetState();
    const next = new Outbox(conn, ME);
    next.load();
    expect(entries()[0]).toMatchObject({ mentions: [BOB] });
    conn.connected = true;
    next.flush();
    await settle();
    conn.timeOut();
    await vi.advanceTimersByTimeAsync(FIRST_BACKOFF_MS);
    expect(conn.sent.map((p) => p.mentions)).toEqual([[BOB], [BOB]]);
    expect("mentions" in entries()[1]!).toBe(false);
    next.stop();
  });

  test("an entry saved before replies existed (no reply_to) is still sent, without reply_to", async () => {
    const old = {
      client_id: "c-old",
      conversation_id: CID,
      body: "old",
      attachments: [],
      created_at: "2024-05-01T11:00:00Z",
      status: "pending",
      error: null,
    };
    localStorage.setItem(`chatsync.outbox.${ME}`, JSON.stringify([old]));
    outbox.load();
    outbox.flush();
    await settle();
    expect(conn.sent).toEqual([{ conversation_id: CID, client_id: "c-old", body: "old", attachments: [] }]);
  });

  test("discarding a failed message removes it", async () => {
    outbox.send(CID, "hello", []);
    await settle();
    conn.answer({ ok: false, error: { code: "not_found", message: "gone" } });
    await settle();
    outbox.discard(entries()[0]!.client_id);
    expect(entries()).toEqual([]);
  });
});
