import { useLayoutEffect, useMemo, useRef, useState } from "react";
import { loadOlder, myId } from "../../lib/client";
import { delivery, type Delivery } from "../../lib/conversation";
import { formatDay, sameDay } from "../../lib/format";
import type { Message } from "../../lib/protocol";
import { emptyThread, useChat, type ConversationEntry, type OutboxEntry } from "../../lib/store";
import { BackIcon } from "../icons";
import { Spinner } from "../ui";
import { MessageBubble } from "./MessageBubble";

const GROUP_GAP_MS = 5 * 60_000;
/** Start fetching older messages this far from the top, so scrolling rarely waits. */
const PREFETCH_PX = 400;

type Row =
  | { kind: "day"; key: string; label: string }
  | {
      kind: "message";
      key: string;
      m: Message;
      pending: OutboxEntry | null;
      first: boolean;
      last: boolean;
      status: Delivery | null;
    };

function pendingMessage(o: OutboxEntry, me: string): Message {
  return {
    id: o.client_id,
    conversation_id: o.conversation_id,
    seq: Number.MAX_SAFE_INTEGER,
    sender_id: me,
    client_id: o.client_id,
    body: o.body,
    attachments: o.attachments,
    created_at: o.created_at,
    edited_at: null,
    deleted: false,
    reactions: [],
  };
}

function buildRows(c: ConversationEntry, items: Message[], outbox: OutboxEntry[], me: string): Row[] {
  const stored = new Set(items.filter((m) => m.sender_id === me).map((m) => m.client_id));
  const pending = outbox.filter((o) => o.conversation_id === c.id && !stored.has(o.client_id));
  const all: { m: Message; pending: OutboxEntry | null }[] = [
    ...items.map((m) => ({ m, pending: null })),
    ...pending.map((o) => ({ m: pendingMessage(o, me), pending: o })),
  ];
  const rows: Row[] = [];
  all.forEach(({ m, pending }, i) => {
    const prev = all[i - 1]?.m;
    const next = all[i + 1]?.m;
    const newDay = !prev || !sameDay(prev.created_at, m.created_at);
    if (newDay)
      rows.push({ kind: "day", key: `day-${m.created_at.slice(0, 10)}-${m.id}`, label: formatDay(m.created_at) });
    const joins = (a: Message | undefined, b: Message) =>
      !!a &&
      a.sender_id === b.sender_id &&
      sameDay(a.created_at, b.created_at) &&
      Math.abs(Date.parse(b.created_at) - Date.parse(a.created_at)) < GROUP_GAP_MS;
    rows.push({
      kind: "message",
      // The client_id keeps a pending message's element when the stored one replaces it.
      key: m.sender_id === me ? `c-${m.client_id}` : m.id,
      m,
      pending,
      first: !joins(prev, m),
      last: !next || !joins(m, next),
      status:
        m.sender_id !== me ? null : pending ? (pending.status === "failed" ? "failed" : "sending") : delivery(c, m, me),
    });
  });
  return rows;
}

export function MessageList({ c }: { c: ConversationEntry }) {
  const me = myId();
  const thread = useChat((s) => s.threads[c.id] ?? emptyThread);
  const outbox = useChat((s) => s.outbox);
  const rows = useMemo(() => buildRows(c, thread.items, outbox, me), [c, thread.items, outbox, me]);

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
                status={r.status}
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
