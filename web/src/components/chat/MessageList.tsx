import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { loadOlder, myId } from "../../lib/client";
import { buildRows } from "../../lib/rows";
import { emptyThread, setReveal, toast, useChat, type ConversationEntry } from "../../lib/store";
import { BackIcon } from "../icons";
import { Spinner } from "../ui";
import { MessageBubble } from "./MessageBubble";

/** Start fetching older messages this far from the top, so scrolling rarely waits. */
const PREFETCH_PX = 400;
/**
 * Pages of history fetched at most to reach a search hit. History pages only go backwards
 * from the newest message; a hit further back waits for the server's `around_seq`.
 */
const REVEAL_MAX_PAGES = 40;
const HIGHLIGHT_MS = 4000;

export function MessageList({ c }: { c: ConversationEntry }) {
  const me = myId();
  const thread = useChat((s) => s.threads[c.id] ?? emptyThread);
  const outbox = useChat((s) => s.outbox);
  const rows = useMemo(() => buildRows(c, thread.items, outbox, me), [c, thread.items, outbox, me]);
  const byId = useMemo(() => new Map(thread.items.map((m) => [m.id, m])), [thread.items]);
  const readReceipts = useChat((s) => s.readReceipts);
  const reveal = useChat((s) => (s.reveal?.conversation_id === c.id ? s.reveal.seq : null));
  const [highlight, setHighlight] = useState<number | null>(null);
  const revealPages = useRef(0);

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
    } else if (pinned.current || mineAdded) {
      el.scrollTop = el.scrollHeight;
      pinned.current = true;
    }
    firstKey.current = first;
    lastKey.current = last;
    fromBottom.current = el.scrollHeight - el.scrollTop;
    // A short first page may not fill the screen, leaving nothing to scroll.
    if (
      thread.loaded &&
      thread.hasMore &&
      !thread.loading &&
      !thread.error &&
      el.scrollHeight <= el.clientHeight + PREFETCH_PX
    ) {
      void loadOlder(c.id);
    }
  });

  // A search hit: load older pages until the message is there, then bring it into view.
  useEffect(() => {
    if (reveal === null) {
      revealPages.current = 0;
      return;
    }
    const el = ref.current?.querySelector(`[data-seq="${reveal}"]`);
    if (el) {
      pinned.current = false;
      el.scrollIntoView({ block: "center" });
      setHighlight(reveal);
      setReveal(null);
      return;
    }
    if (!thread.loaded || thread.loading) return;
    const oldest = thread.items[0]?.seq ?? 0;
    const reachable = thread.hasMore && !thread.error && oldest > reveal;
    if (reachable && revealPages.current < REVEAL_MAX_PAGES) {
      revealPages.current++;
      void loadOlder(c.id);
      return;
    }
    if (reachable) toast("That message is too far back to jump to. Scroll up to find it.", "info");
    setReveal(null);
  }, [reveal, rows, thread, c.id]);

  useEffect(() => {
    if (highlight === null) return;
    const t = setTimeout(() => setHighlight(null), HIGHLIGHT_MS);
    return () => clearTimeout(t);
  }, [highlight]);

  const onScroll = () => {
    const el = ref.current!;
    const gap = el.scrollHeight - el.scrollTop - el.clientHeight;
    pinned.current = gap < 80;
    setAway(gap > el.clientHeight);
    fromBottom.current = el.scrollHeight - el.scrollTop;
    if (el.scrollTop < PREFETCH_PX && !thread.error) void loadOlder(c.id);
  };

  const toLatest = () => {
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
        </div>
      </div>
      {away && (
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
