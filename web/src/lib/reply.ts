// What a reply shows of the message it answers: in the bubble's quote and in the composer's
// "Replying to" bar. The original may be deleted (the reply keeps `reply_to`) or not loaded
// in the thread (older history): then it is read once with `GET /api/messages/{id}` and kept
// here by id, and until it answers (or when it cannot be seen) the quote reads "Original
// message".

import { memberName } from "./conversation";
import type { Conversation, Message } from "./protocol";

/** Characters of the original's text kept in a quote; the bubble also truncates to one line. */
export const EXCERPT_MAX = 100;

/** One line of the message: line breaks and runs of spaces become one space, long text ends in "…". */
export function excerpt(m: Message, max = EXCERPT_MAX): string {
  if (m.deleted) return "Message deleted";
  const text = m.body.replace(/\s+/g, " ").trim();
  if (!text) return m.attachments.length ? "Attachment" : "";
  // Counted in code points so an emoji is never cut in half.
  const chars = [...text];
  return chars.length <= max
    ? text
    : `${chars
        .slice(0, max - 1)
        .join("")
        .trimEnd()}…`;
}

export type Quote =
  /** In the thread: can be jumped to by its seq. */
  | { kind: "loaded"; seq: number; sender: string; text: string; deleted: boolean }
  /** Not in the thread and not fetched (yet, or not visible): neither its sender nor its seq is known. */
  | { kind: "missing"; text: string };

export function quoteOf(original: Message | undefined, c: Conversation, me: string): Quote {
  if (!original) return { kind: "missing", text: "Original message" };
  return {
    kind: "loaded",
    seq: original.seq,
    sender: original.sender_id === me ? "You" : memberName(c, original.sender_id),
    text: excerpt(original),
    deleted: original.deleted,
  };
}

// ---- originals outside the loaded thread --------------------------------------------------

/** A fetched original, or "missing" when the server will not show it (404: deleted with its
 * conversation, or I left). */
export type Fetched = Message | "missing";

const fetched = new Map<string, Fetched>();
const inFlight = new Set<string>();
const listeners = new Set<() => void>();

export function fetchedOriginal(id: string): Fetched | undefined {
  return fetched.get(id);
}

export function subscribeOriginals(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/**
 * Reads an original once per id (every reply to it shares the answer). A network failure is
 * not remembered, so the next bubble showing it asks again.
 */
export async function loadOriginal(id: string, read: (id: string) => Promise<Message>): Promise<void> {
  if (fetched.has(id) || inFlight.has(id)) return;
  inFlight.add(id);
  try {
    fetched.set(id, await read(id));
  } catch (e) {
    // An ApiError's status; checked by shape so this module stays free of the API client.
    const status = (e as { status?: unknown } | null)?.status;
    if (status !== 404 && status !== 403) return;
    fetched.set(id, "missing");
  } finally {
    inFlight.delete(id);
  }
  listeners.forEach((l) => l());
}

/** Keeps a fetched original current when it changes (`message:updated`, sync). */
export function refreshOriginal(m: Message): void {
  if (!fetched.has(m.id)) return;
  fetched.set(m.id, m);
  listeners.forEach((l) => l());
}

/** Forgets every fetched original (signing out). */
export function clearOriginals(): void {
  fetched.clear();
}
