// What a reply shows of the message it answers: in the bubble's quote and in the composer's
// "Replying to" bar. The original may be deleted (the reply keeps `reply_to`) or not loaded
// in the thread (older history); there is no endpoint to read one message by id, so a missing
// original is named only as "Original message".

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
  /** Not in the thread: neither its sender nor its seq is known. */
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
