// The part of a conversation's history the app holds: one window of consecutive messages,
// which is the newest part ("live") or, once a search hit or a reply's original far back was
// opened with `around_seq`, an older stretch with more on both sides. Pages read before or
// after the window extend it; a page that does not touch it (opening another far message,
// jumping to the latest) replaces it, so the window never has a gap inside. Pure, so it is
// unit-tested.

import type { Message } from "./protocol";

export interface HistoryWindow {
  /** Ascending by seq, without duplicates or gaps. */
  items: Message[];
  /** Older messages exist on the server. */
  hasMore: boolean;
  /**
   * Newer messages exist on the server: the window does not reach the live end, so live
   * messages are not added to it (they would sit after a gap) until paging down reaches them.
   */
  hasNewer: boolean;
}

/**
 * A page of history as the server answered it. A side it says nothing about is undefined:
 * a page read with `before_seq` says whether older messages exist, one read with `after_seq`
 * whether newer ones do, the newest page has nothing newer, and `around_seq` says both.
 */
export interface HistoryPage {
  messages: Message[];
  hasMore?: boolean;
  hasNewer?: boolean;
}

/** Whether a message at `seq` not yet held can join the window without leaving a gap beside it. */
export function fitsWindow(w: HistoryWindow, seq: number): boolean {
  const first = w.items[0];
  const last = w.items[w.items.length - 1];
  // Nothing held yet (the first page is on its way): the page read before this message was
  // committed may end just before it.
  if (!first || !last) return true;
  if (w.hasNewer && seq > last.seq) return false;
  if (w.hasMore && seq < first.seq) return false;
  return true;
}

/** Joins a page to the window: extends it when they touch or overlap, else replaces it. */
export function joinPage(w: HistoryWindow, page: HistoryPage): HistoryWindow {
  const p = page.messages;
  if (!p.length) {
    return { items: w.items, hasMore: page.hasMore ?? w.hasMore, hasNewer: page.hasNewer ?? w.hasNewer };
  }
  const pFirst = p[0]!.seq;
  const pLast = p[p.length - 1]!.seq;
  const first = w.items[0]?.seq;
  const last = w.items[w.items.length - 1]?.seq;
  if (first === undefined || last === undefined || (pFirst <= last + 1 && first <= pLast + 1)) {
    // The page's copy is the fresher one, except that an edit or delete already held is kept.
    const bySeq = new Map(w.items.map((m) => [m.seq, m]));
    for (const m of p) bySeq.set(m.seq, newerCopy(bySeq.get(m.seq), m));
    const items = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    return {
      items,
      hasMore: first === undefined || pFirst <= first ? (page.hasMore ?? w.hasMore) : w.hasMore,
      hasNewer: last === undefined || pLast >= last ? (page.hasNewer ?? w.hasNewer) : w.hasNewer,
    };
  }
  // Apart from the window. Held messages newer than a page that reaches the live end came in
  // live after it was read; anything else held is beyond a gap and goes.
  const tail = page.hasNewer === false ? w.items.filter((m) => m.seq > pLast) : [];
  return { items: [...p, ...tail], hasMore: page.hasMore ?? true, hasNewer: page.hasNewer ?? true };
}

/** The copy to keep of one message: a delete or a later edit is never undone by an older read. */
export function newerCopy(held: Message | undefined, m: Message): Message {
  if (!held || held.id !== m.id) return m;
  if (held.deleted && !m.deleted) return held;
  return Date.parse(held.edited_at ?? "0") > Date.parse(m.edited_at ?? "0") ? held : m;
}

/** Whether the window holds the message at `seq`. */
export function holdsSeq(w: HistoryWindow, seq: number): boolean {
  return w.items.some((m) => m.seq === seq);
}
