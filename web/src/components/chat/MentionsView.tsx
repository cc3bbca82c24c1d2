import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorMessage } from "../../lib/api";
import { myId, onMessageChange } from "../../lib/client";
import { conversationTitle, memberName, preview } from "../../lib/conversation";
import { formatListTime } from "../../lib/format";
import { applyToMentions } from "../../lib/mention-list";
import type { Message } from "../../lib/protocol";
import { useChat } from "../../lib/store";
import { CloseIcon } from "../icons";
import { IconButton, Spinner } from "../ui";
import { openMessageAt } from "./SearchResults";

interface Page {
  messages: Message[];
  next: string | null;
  busy: boolean;
  error: string | null;
}

/**
 * Messages that mention me (`GET /api/mentions`), newest first, paged with "More"; kept live
 * while open: new mentions go on top, edits show, deleted ones leave.
 */
export function MentionsView({ onClose }: { onClose: () => void }) {
  const [page, setPage] = useState<Page>({ messages: [], next: null, busy: true, error: null });
  const alive = useRef(true);

  const load = useCallback(async (before?: string) => {
    setPage((p) => ({ ...p, busy: true, error: null }));
    try {
      const r = await api.mentions(before);
      if (!alive.current) return;
      setPage((p) => {
        // A message mentioned again on a later page (new mentions came in meanwhile) shows once.
        const known = new Set(p.messages.map((m) => m.id));
        // The first page keeps what came in live while it was on its way.
        const live = before ? [] : p.messages.filter((m) => !r.messages.some((x) => x.id === m.id));
        const messages = before
          ? [...p.messages, ...r.messages.filter((m) => !known.has(m.id))]
          : live.reduce((list, m) => applyToMentions(list, m, "new", myId()), r.messages);
        return { messages, next: r.next_before ?? null, busy: false, error: null };
      });
    } catch (e) {
      if (alive.current) setPage((p) => ({ ...p, busy: false, error: errorMessage(e) }));
    }
  }, []);

  useEffect(() => {
    alive.current = true;
    // Subscribed before the first page is asked for, so nothing sent meanwhile is missed (the
    // page and the event may both bring a message; it shows once).
    const me = myId();
    const stop = onMessageChange((m, change) =>
      setPage((p) => {
        const messages = applyToMentions(p.messages, m, change, me);
        return messages === p.messages ? p : { ...p, messages };
      }),
    );
    void load();
    return () => {
      alive.current = false;
      stop();
    };
  }, [load]);

  return (
    <section aria-label="Mentions" className="pt-1">
      <div className="flex items-center gap-2 px-2.5 pb-1">
        <h2 className="min-w-0 flex-1 text-xs font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">
          Mentions
        </h2>
        <IconButton label="Close mentions" onClick={onClose} className="size-8">
          <CloseIcon width={16} height={16} />
        </IconButton>
      </div>
      {page.error && <p className="px-2.5 py-2 text-sm text-red-600 dark:text-red-400">{page.error}</p>}
      {page.messages.length > 0 && (
        <ul role="list" className="space-y-0.5">
          {page.messages.map((m) => (
            <li key={m.id}>
              <MentionItem m={m} />
            </li>
          ))}
        </ul>
      )}
      {page.busy ? (
        <div className="flex justify-center py-3 text-zinc-400">
          <Spinner />
        </div>
      ) : (
        !page.error &&
        !page.messages.length && (
          <p className="px-4 py-8 text-center text-sm text-zinc-500 dark:text-zinc-400">
            Nobody has mentioned you yet.
          </p>
        )
      )}
      {page.next && !page.busy && (
        <button
          type="button"
          onClick={() => void load(page.next ?? undefined)}
          className="w-full rounded-xl px-2.5 py-2 text-sm font-medium text-brand-600 hover:bg-zinc-100 dark:text-brand-400 dark:hover:bg-zinc-800/70"
        >
          More
        </button>
      )}
    </section>
  );
}

function MentionItem({ m }: { m: Message }) {
  const me = myId();
  const c = useChat((s) => s.conversations[m.conversation_id]);
  const title = c ? conversationTitle(c, me) : "Conversation";
  const sender = m.sender_id === me ? "You" : c ? memberName(c, m.sender_id) : "Someone";
  return (
    <button
      type="button"
      onClick={() => void openMessageAt(m.conversation_id, m.seq)}
      className="flex w-full flex-col gap-0.5 rounded-xl px-2.5 py-2 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800/70"
    >
      <span className="flex items-baseline gap-2">
        <span className="min-w-0 flex-1 truncate text-sm font-semibold">{title}</span>
        <span className="shrink-0 text-xs text-zinc-500 dark:text-zinc-400">{formatListTime(m.created_at)}</span>
      </span>
      <span className="line-clamp-2 text-sm text-zinc-600 dark:text-zinc-300">
        <span className="font-medium">{sender}: </span>
        {preview(m)}
      </span>
    </button>
  );
}
