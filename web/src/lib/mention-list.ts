// The Mentions view's list (`GET /api/mentions`, newest first) kept current while it is open:
// a new message that mentions me goes on top, an edit replaces its item, and a deleted one
// leaves the list, as the server leaves deleted messages out of it. Pure, so it is unit-tested.

import { mentionsMe } from "./notify";
import type { Message } from "./protocol";

/** `new`: `message:new` (or caught up by `sync`); `updated`: `message:updated`. */
export type MessageChange = "new" | "updated";

export function applyToMentions(list: Message[], m: Message, change: MessageChange, me: string): Message[] {
  const at = list.findIndex((x) => x.id === m.id);
  if (m.deleted || !mentionsMe(m, me)) return at < 0 ? list : list.filter((x) => x.id !== m.id);
  if (at >= 0) {
    const held = list[at]!;
    // A late copy must not undo a newer edit.
    if (Date.parse(held.edited_at ?? "0") > Date.parse(m.edited_at ?? "0")) return list;
    return list.map((x, i) => (i === at ? m : x));
  }
  // An edit of a mention older than the loaded pages belongs on a page not read yet.
  if (change === "updated") return list;
  const newest = list[0];
  if (!newest || Date.parse(m.created_at) >= Date.parse(newest.created_at)) return [m, ...list];
  // Caught up late (sync after a reconnect): in its place by time.
  const i = list.findIndex((x) => Date.parse(x.created_at) < Date.parse(m.created_at));
  return i < 0 ? [...list, m] : [...list.slice(0, i), m, ...list.slice(i)];
}
