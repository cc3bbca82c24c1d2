import { useMemo, useState, type KeyboardEvent, type ReactNode } from "react";
import { api, errorMessage, type MessageHit, type PublicUser } from "../../lib/api";
import { myId, selectConversation, showConversation, showMessage } from "../../lib/client";
import { conversationTitle, memberName } from "../../lib/conversation";
import { formatListTime } from "../../lib/format";
import { matchConversations, nameMatches, parseSnippet, peopleToShow } from "../../lib/search";
import { getState, toast, upsertConversation, useChat } from "../../lib/store";
import { Avatar } from "../Avatar";
import { Spinner } from "../ui";
import { ConversationListItem } from "./ConversationListItem";
import { useMessageSearch, useUserSearch } from "./useSearch";

/** The main search box's answer: chats, people and messages in one list. */
export function SearchResults({ query }: { query: string }) {
  const me = myId();
  const conversations = useChat((s) => s.conversations);
  const chats = useMemo(() => matchConversations(conversations, me, query), [conversations, me, query]);
  const people = useUserSearch(query);
  const messages = useMessageSearch(query);
  const fitting = people.busy ? people.users.filter((u) => nameMatches(u.display_name, query)) : people.users;
  const shownPeople = peopleToShow(fitting, chats, me);
  const [opening, setOpening] = useState<string | null>(null);

  const openPerson = async (u: PublicUser) => {
    setOpening(u.id);
    try {
      showConversation(await api.openDirect(u.id));
    } catch (e) {
      toast(errorMessage(e));
    } finally {
      setOpening(null);
    }
  };

  const nothing =
    !chats.length &&
    !shownPeople.length &&
    !people.busy &&
    !people.error &&
    (!messages.available || (!messages.hits.length && !messages.busy && !messages.error));

  return (
    <div role="region" aria-label="Search results" onKeyDown={moveWithArrows} className="space-y-4 pt-1">
      {chats.length > 0 && (
        <Section title="Chats">
          {chats.map((c) => (
            <li key={c.id}>
              <ConversationListItem c={c} />
            </li>
          ))}
        </Section>
      )}
      {(shownPeople.length > 0 || people.busy || people.error) && (
        <Section title="People" busy={people.busy && !shownPeople.length} error={people.error}>
          {shownPeople.map((u) => (
            <li key={u.id}>
              <button
                type="button"
                onClick={() => void openPerson(u)}
                disabled={opening === u.id}
                className="flex w-full items-center gap-3 rounded-xl px-2.5 py-2 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800/70"
              >
                <Avatar name={u.display_name} url={u.avatar_url} seed={u.id} />
                <span className="min-w-0 flex-1 truncate font-medium">{u.display_name}</span>
                {opening === u.id && <Spinner className="size-4" />}
              </button>
            </li>
          ))}
        </Section>
      )}
      {messages.available && (messages.hits.length > 0 || messages.busy || messages.error) && (
        <Section title="Messages" busy={messages.busy && !messages.hits.length} error={messages.error}>
          {messages.hits.map((h) => (
            <li key={h.message.id}>
              <MessageHitItem hit={h} me={me} />
            </li>
          ))}
          {messages.more && (
            <li>
              <button
                type="button"
                onClick={messages.loadMore}
                disabled={messages.busy}
                className="w-full rounded-xl px-2.5 py-2 text-sm font-medium text-brand-600 hover:bg-zinc-100 dark:text-brand-400 dark:hover:bg-zinc-800/70"
              >
                {messages.busy ? "Loading…" : "More messages"}
              </button>
            </li>
          )}
        </Section>
      )}
      {nothing && <p className="px-4 py-8 text-center text-sm text-zinc-500">Nothing found for “{query.trim()}”.</p>}
    </div>
  );
}

function Section({
  title,
  busy = false,
  error = null,
  children,
}: {
  title: string;
  busy?: boolean;
  error?: string | null;
  children: ReactNode;
}) {
  return (
    <section aria-label={title}>
      <h2 className="px-2.5 pb-1 text-xs font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">
        {title}
      </h2>
      {error ? (
        <p className="px-2.5 py-2 text-sm text-red-600 dark:text-red-400">{error}</p>
      ) : busy ? (
        <div className="flex justify-center py-3 text-zinc-400">
          <Spinner />
        </div>
      ) : (
        <ul role="list" className="space-y-0.5">
          {children}
        </ul>
      )}
    </section>
  );
}

function MessageHitItem({ hit, me }: { hit: MessageHit; me: string }) {
  const c = useChat((s) => s.conversations[hit.conversation_id]);
  const title = c ? conversationTitle(c, me) : "Conversation";
  const m = hit.message;
  const from = m.sender_id === me ? "You: " : c?.kind === "group" ? `${memberName(c, m.sender_id)}: ` : "";
  return (
    <button
      type="button"
      onClick={() => void openHit(hit)}
      className="flex w-full flex-col gap-0.5 rounded-xl px-2.5 py-2 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800/70"
    >
      <span className="flex items-baseline gap-2">
        <span className="min-w-0 flex-1 truncate text-sm font-semibold">{title}</span>
        <span className="shrink-0 text-xs text-zinc-500 dark:text-zinc-400">{formatListTime(m.created_at)}</span>
      </span>
      <span data-testid="snippet" className="line-clamp-2 text-sm text-zinc-600 dark:text-zinc-300">
        {from}
        {parseSnippet(hit.snippet).map((p, i) =>
          p.mark ? (
            <mark key={i} className="rounded-sm bg-amber-200/80 px-0.5 text-inherit dark:bg-amber-400/30">
              {p.text}
            </mark>
          ) : (
            <span key={i}>{p.text}</span>
          ),
        )}
      </span>
    </button>
  );
}

/** Opens the hit's conversation and asks the message list to scroll to the message. */
function openHit(hit: MessageHit): Promise<void> {
  return openMessageAt(hit.conversation_id, hit.seq);
}

/** Opens a conversation scrolled to the message at `seq`, highlighted (search hits, mentions). */
export async function openMessageAt(conversationId: string, seq: number): Promise<void> {
  if (!getState().conversations[conversationId]) {
    // Older than the loaded part of the conversation list.
    try {
      upsertConversation(await api.conversation(conversationId));
    } catch (e) {
      toast(errorMessage(e));
      return;
    }
  }
  if (Number.isSafeInteger(seq)) showMessage(conversationId, seq);
  selectConversation(conversationId);
}

/** Up and Down move between results (and from the search box into them). */
export function moveWithArrows(e: KeyboardEvent<HTMLElement>): void {
  if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
  const scope = e.currentTarget.closest("aside") ?? e.currentTarget;
  const items = [...scope.querySelectorAll<HTMLElement>('[aria-label="Search results"] button:not(:disabled)')];
  if (!items.length) return;
  e.preventDefault();
  const at = items.indexOf(document.activeElement as HTMLElement);
  const next = e.key === "ArrowDown" ? (at < 0 ? 0 : Math.min(at + 1, items.length - 1)) : at - 1;
  if (next < 0) scope.querySelector<HTMLInputElement>('input[type="search"]')?.focus();
  else items[next]!.focus();
}
