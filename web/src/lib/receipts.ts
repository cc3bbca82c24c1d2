// Who has read one of my messages in a group, from each member's receipt positions
// (`delivered_seq`, `read_seq`; kept current by `receipt` events). No React.

import type { Conversation, Member } from "./protocol";

export interface ReadInfo {
  /** read_seq has reached the message. */
  read: Member[];
  /** delivered_seq has reached it, read_seq has not (or read receipts are off). */
  delivered: Member[];
  /** Neither yet. */
  waiting: Member[];
}

/**
 * Sorts the other members by how far the message at `seq` got to them. With `readReceipts`
 * off I see nobody's reads (the server sends others' `read_seq` as 0; positions learnt before
 * turning it off are ignored too), so a read counts as delivered.
 */
export function readInfo(c: Conversation, seq: number, me: string, readReceipts = true): ReadInfo {
  const info: ReadInfo = { read: [], delivered: [], waiting: [] };
  const byName = [...c.members].sort((a, b) => a.display_name.localeCompare(b.display_name, "en-US"));
  for (const m of byName) {
    if (m.user_id === me) continue;
    // Read implies delivered, even if the delivered receipt never came.
    if (readReceipts && m.read_seq >= seq) info.read.push(m);
    else if (m.delivered_seq >= seq || m.read_seq >= seq) info.delivered.push(m);
    else info.waiting.push(m);
  }
  return info;
}
