// Reliable sending. A message is shown at once from its outbox entry and sent with its
// client_id until the server acks it; a resend after a lost ack is harmless because the
// server dedupes on (sender, client_id). Entries are kept in localStorage so a reload or a
// crash does not lose them. One message per conversation is in flight at a time so messages
// keep the order they were written in.

import { newClientId } from "./ids";
import { SEND, type Attachment, type SendAck, type SendPayload } from "./protocol";
import type { SocketConnection } from "./socket";
import { getState, mergeMessages, setOutbox, type OutboxEntry } from "./store";

/** Errors that will not go away by sending the same message again. */
const PERMANENT = new Set(["invalid_payload", "validation_failed", "not_found", "forbidden"]);
export const FIRST_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 15_000;
/** A `rate_limited` answer without `retry_after_ms` waits this long. */
const RATE_LIMIT_WAIT_MS = 1000;

/** What one attempt at sending leads to. */
export type Outcome =
  /** Acked: the stored message replaces the entry. */
  | { kind: "sent" }
  /** Refused for a reason that sending again cannot change: shown as "not sent". */
  | { kind: "refused"; error: string }
  /** Rate limited: the same client_id goes again after as long as the server says. */
  | { kind: "wait"; ms: number }
  /** No ack in time, or a passing failure (`unavailable`): the same client_id goes again after the back-off. */
  | { kind: "back-off" };

/** Decides from the ack (null: none came in time). */
export function outcome(ack: SendAck | null): Outcome {
  if (!ack) return { kind: "back-off" };
  if (ack.ok) return { kind: "sent" };
  if (ack.error.code === "rate_limited") return { kind: "wait", ms: ack.error.retry_after_ms ?? RATE_LIMIT_WAIT_MS };
  if (PERMANENT.has(ack.error.code)) return { kind: "refused", error: ack.error.message };
  return { kind: "back-off" };
}

/** The back-off after `wait`: doubling, at most MAX_BACKOFF_MS. */
export function nextBackoff(wait: number): number {
  return Math.min(wait * 2, MAX_BACKOFF_MS);
}

export class Outbox {
  private readonly inFlight = new Set<string>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly backoff = new Map<string, number>();
  private readonly key: string;
  private stopped = false;

  constructor(
    private readonly conn: Pick<SocketConnection, "connected" | "request">,
    private readonly me: string,
  ) {
    this.key = `chatsync.outbox.${me}`;
  }

  /** Restores entries a previous page left behind. */
  load(): void {
    try {
      const saved = JSON.parse(localStorage.getItem(this.key) ?? "[]") as OutboxEntry[];
      setOutbox(() => saved);
    } catch {
      localStorage.removeItem(this.key);
    }
  }

  persist(entries: OutboxEntry[]): void {
    if (entries.length) localStorage.setItem(this.key, JSON.stringify(entries));
    else localStorage.removeItem(this.key);
  }

  stop(): void {
    this.stopped = true;
    this.timers.forEach(clearTimeout);
    this.timers.clear();
  }

  send(
    conversationId: string,
    body: string,
    attachments: Attachment[],
    replyTo: string | null = null,
    mentions: string[] = [],
  ): void {
    const entry: OutboxEntry = {
      client_id: newClientId(),
      conversation_id: conversationId,
      body,
      attachments,
      reply_to: replyTo,
      ...(mentions.length ? { mentions } : {}),
      created_at: new Date().toISOString(),
      status: "pending",
      error: null,
    };
    setOutbox((o) => [...o, entry]);
    this.flush();
  }

  retry(clientId: string): void {
    setOutbox((o) => o.map((e) => (e.client_id === clientId ? { ...e, status: "pending", error: null } : e)));
    this.flush();
  }

  discard(clientId: string): void {
    setOutbox((o) => o.filter((e) => e.client_id !== clientId));
  }

  /** Starts sending in every conversation that has pending messages; `now` skips back-off. */
  flush(now = false): void {
    if (this.stopped || !this.conn.connected) return;
    if (now) {
      this.timers.forEach(clearTimeout);
      this.timers.clear();
      this.backoff.clear();
    }
    const conversations = new Set(
      getState()
        .outbox.filter((e) => e.status === "pending")
        .map((e) => e.conversation_id),
    );
    conversations.forEach((c) => void this.drain(c));
  }

  private async drain(conversationId: string): Promise<void> {
    if (this.inFlight.has(conversationId) || this.timers.has(conversationId)) return;
    this.inFlight.add(conversationId);
    try {
      for (;;) {
        if (this.stopped || !this.conn.connected) return;
        const entry = getState().outbox.find((e) => e.conversation_id === conversationId && e.status === "pending");
        if (!entry) return;
        const wait = await this.sendOne(entry);
        if (wait === 0) {
          this.backoff.delete(conversationId);
          continue;
        }
        const backoff = this.backoff.get(conversationId) ?? FIRST_BACKOFF_MS;
        this.backoff.set(conversationId, nextBackoff(backoff));
        this.later(conversationId, wait ?? backoff);
        return;
      }
    } finally {
      this.inFlight.delete(conversationId);
    }
  }

  /** 0 when settled (acked or refused for good); otherwise how long to wait (null: back off). */
  private async sendOne(e: OutboxEntry): Promise<number | null> {
    let ack: SendAck | null;
    try {
      ack = await this.conn.request<SendAck>(SEND, {
        conversation_id: e.conversation_id,
        client_id: e.client_id,
        body: e.body,
        attachments: e.attachments.map((a) => a.media_id),
        ...(e.reply_to ? { reply_to: e.reply_to } : {}),
        ...(e.mentions?.length ? { mentions: e.mentions } : {}),
      } satisfies SendPayload);
    } catch {
      ack = null; // no ack in time
    }
    const next = outcome(ack);
    switch (next.kind) {
      case "sent":
        if (ack?.ok) mergeMessages(e.conversation_id, [ack.message], this.me);
        return 0;
      case "refused":
        setOutbox((o) =>
          o.map((x) => (x.client_id === e.client_id ? { ...x, status: "failed", error: next.error } : x)),
        );
        return 0;
      case "wait":
        return next.ms;
      case "back-off":
        return null;
    }
  }

  private later(conversationId: string, ms: number): void {
    this.timers.set(
      conversationId,
      setTimeout(() => {
        this.timers.delete(conversationId);
        void this.drain(conversationId);
      }, ms),
    );
  }
}
