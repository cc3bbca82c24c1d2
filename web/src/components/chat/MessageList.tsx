import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { jumpToLatest, loadNewer, loadOlder, myId, openAround } from "../../lib/client";
import { buildRows } from "../../lib/rows";
import { emptyThread, setReveal, toast, useChat, type ConversationEntry, type OutboxEntry } from "../../lib/store";
import { BackIcon } from "../icons";
import { Spinner } from "../ui";
import { MessageBubble } from "./MessageBubble";

/**
 * Start fetching older messages this far from the top (newer ones, in a window far back, this
 * far from the bottom), so scrolling rarely waits.
 */
const PREFETCH_PX = 400;
const HIGHLIGHT_MS = 4000;

const noOutbox: OutboxEntry[] = [];

export function MessageList({ c }: { c: ConversationEntry }) {
  const me = myId();
  const thread = useChat((s) => s.threads[c.id] ?? emptyThread);
  const outbox = useChat((s) => s.outbox);
  // Messages being sent go after the newest ones: not shown below a window far back.
  const shownOutbox = thread.hasNewer ? noOutbox : outbox;
  const rows = useMemo(() => buildRows(c, thread.items, shownOutbox, me), [c, thread.items, shownOutbox, me]);
  const byId = useMemo(() => new Map(thread.items.map((m) => [m.id, m])), [thread.items]);
  const readReceipts = useChat((s) => s.readReceipts);
  const reveal = useChat((s) => (s.reveal?.conversation_id === c.id ? s.reveal.seq : null));
  const [highlight, setHighlight] = useState<number | null>(null);

  const ref = useRef<HTMLDivElement>(null);
  const pinned = useRef(true); // at the bottom: follow new messages
  const [away, setAway] = useState(false); // scrolled up far enough to offer a way back
  const fromBottom = useRef(0); // distance from the bottom before the last change
  const firstKey = useRef<string | undefined>(undefined);
  const lastKey = useRef<string | undefined>(undefined);

  const first = thread.items[0]?.id;
  const lastRow = rows[rows.length - 1];
  const last = lastRow?.key;

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const prepended = firstKey.current !== undefined && first !== firstKey.current && lastKey.current === last;
    const mineAdded = last !== lastKey.current && lastRow?.kind === "message" && lastRow.m.sender_id === me;
    if (prepended) {
      // Older history went in above: keep what the reader is looking at in place.
      el.scrollTop = el.scrollHeight - fromBottom.current;
    } else if ((pinned.current || mineAdded) && !thread.hasNewer) {
      // Only at the live end: below a window far back, newer pages go in under the reader.
      el.scrollTop = el.scrollHeight;
      pinned.current = true;
    }
    firstKey.current = first;
    lastKey.current = last;
    fromBottom.current = el.scrollHeight - el.scrollTop;
    // A short first page may not fill the screen, leaving nothing to scroll.
    if (thread.loaded && !thread.loading && !thread.error && el.scrollHeight <= el.clientHeight + PREFETCH_PX) {
      if (thread.hasMore) void loadOlder(c.id);
      else if (thread.hasNewer) void loadNewer(c.id);
    }
  });

  // A search hit or a reply's original: once the window holds it, bring it into view. A window
  // that does not is replaced by the one around it (one `around_seq` read, however far back);
  // if that one does not hold it either, the message is gone.
  useEffect(() => {
    if (reveal === null) return;
    const el = ref.current?.querySelector(`[data-seq="${reveal}"]`);
    if (el) {
      pinned.current = false;
      el.scrollIntoView({ block: "center" });
      setHighlight(reveal);
      setReveal(null);
      return;
    }
    if (thread.loading) return;
    if (thread.loaded && !thread.error && thread.around !== reveal) {
      void openAround(c.id, reveal);
      return;
    }
    if (thread.loaded || thread.error) {
      toast(thread.error ? `Couldn't open that message: ${thread.error}` : "That message is no longer there.", "info");
      setReveal(null);
    }
  }, [reveal, rows, thread, c.id]);

  useEffect(() => {
    if (highlight === null) return;
    const t = setTimeout(() => setHighlight(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlight]);

  const onScroll = () => {
    const el = ref.current!;
    const gap = el.scrollHeight - el.scrollTop - el.clientHeight;
    pinned.current = gap < 80 && !thread.hasNewer;
    setAway(gap > el.clientHeight);
    fromBottom.current = el.scrollHeight - el.scrollTop;
    if (thread.error) return;
    if (el.scrollTop < PREFETCH_PX) void loadOlder(c.id);
    if (gap < PREFETCH_PX) void loadNewer(c.id);
  };

  const toLatest = () => {
    if (thread.hasNewer) {
      // The newest page replaces the window; the list follows it to the bottom once it is in.
      pinned.current = true;
      void jumpToLatest(c.id);
      return;
    }
    ref.current?.scrollTo({ top: ref.current.scrollHeight, behavior: "smooth" });
  };

  return (
    <>
      <div
        ref={ref}
        onScroll={onScroll}
        role="log"
        aria-label="Messages"
        aria-live="polite"
        style={{ overflowAnchor: "none" }}
        className="scroll-thin min-h-0 flex-1 overflow-y-auto px-3 pt-3 pb-12 md:px-6"
      >
        <div className="mx-auto flex max-w-3xl flex-col">
          <div className="flex h-10 items-center justify-center text-zinc-400">
            {thread.hasMore || !thread.loaded ? (
              thread.error ? (
                <button type="button" className="text-sm text-red-600 underline" onClick={() => void loadOlder(c.id)}>
                  Couldn't load messages. Retry
                </button>
              ) : (
                <Spinner />
              )
            ) : (
              <p className="text-xs text-zinc-500 dark:text-zinc-400">This is the beginning of the conversation.</p>
            )}
          </div>
          {thread.loaded && rows.length === 0 && (
            <p className="my-auto py-16 text-center text-sm text-zinc-500 dark:text-zinc-400">
              No messages yet. Say hello! 👋
            </p>
          )}
          {rows.map((r) =>
            r.kind === "day" ? (
              <div key={r.key} className="sticky top-0 z-10 my-3 flex justify-center">
                <span className="rounded-full bg-white/90 px-3 py-1 text-xs font-medium text-zinc-600 shadow-sm ring-1 ring-zinc-200 backdrop-blur dark:bg-zinc-800/90 dark:text-zinc-300 dark:ring-zinc-700">
                  {r.label}
                </span>
              </div>
            ) : (
              <MessageBubble
                key={r.key}
                m={r.m}
                c={c}
                me={me}
                pending={r.pending}
                first={r.first}
                last={r.last}
                // With read receipts off nobody's reads are shown (also those learnt before).
                status={!readReceipts && r.status === "read" ? "delivered" : r.status}
                highlighted={r.m.seq === highlight && !r.pending}
                original={r.m.reply_to ? byId.get(r.m.reply_to) : undefined}
              />
            ),
          )}
          {thread.hasNewer && (
            <div className="flex h-10 items-center justify-center text-zinc-400">
              {thread.error ? (
                <button type="button" className="text-sm text-red-600 underline" onClick={() => void loadNewer(c.id)}>
                  Couldn't load messages. Retry
                </button>
              ) : (
                <Spinner />
              )}
            </div>
          )}
        </div>
      </div>
      {(away || thread.hasNewer) && (
        <button
          type="button"
          onClick={toLatest}
          aria-label="Jump to the latest messages"
          className="absolute right-4 bottom-3 flex size-10 items-center justify-center rounded-full bg-white text-zinc-700 shadow-lg ring-1 ring-zinc-200 hover:bg-zinc-50 dark:bg-zinc-800 dark:text-zinc-200 dark:ring-zinc-700"
        >
          <BackIcon className="-rotate-90" />
        </button>
      )}
    </>
  );
}
