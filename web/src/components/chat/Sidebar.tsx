import { useMemo, useState } from "react";
import { myId } from "../../lib/client";
import { matchConversations } from "../../lib/search";
import { useSession } from "../../lib/session";
import { useChat } from "../../lib/store";
import { Avatar } from "../Avatar";
import { AtIcon, PlusIcon, SearchIcon, UsersIcon } from "../icons";
import { Button, IconButton, Spinner } from "../ui";
import type { DialogName } from "./ChatLayout";
import { ConversationListItem } from "./ConversationListItem";
import { MentionsView } from "./MentionsView";
import { NotificationOffer } from "./NotificationOffer";
import { moveWithArrows, SearchResults } from "./SearchResults";

export function Sidebar({ open }: { open: (d: DialogName) => void }) {
  const conversations = useChat((s) => s.conversations);
  const loaded = useChat((s) => s.listLoaded);
  const me = useSession()!.user;
  const [query, setQuery] = useState("");
  const searching = query.trim().length > 0;
  const [mentions, setMentions] = useState(false);
  const sorted = useMemo(() => matchConversations(conversations, myId(), ""), [conversations]);

  return (
    <aside
      aria-label="Conversations"
      className="flex w-full flex-col border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900 md:border-r"
    >
      <header className="flex items-center gap-2 px-4 pt-4 pb-3">
        <button
          type="button"
          onClick={() => open("settings")}
          aria-label="Settings and profile"
          className="rounded-full"
        >
          <Avatar name={me.display_name} url={me.avatar_url} seed={me.id} size="md" />
        </button>
        <h1 className="min-w-0 flex-1 truncate text-xl font-bold tracking-tight">Chats</h1>
        <IconButton label="Mentions" aria-pressed={mentions} onClick={() => setMentions((m) => !m)}>
          <AtIcon />
        </IconButton>
        <IconButton label="New group" onClick={() => open("new-group")}>
          <UsersIcon />
        </IconButton>
        <IconButton label="New chat" primary onClick={() => open("new-chat")}>
          <PlusIcon />
        </IconButton>
      </header>
      <NotificationOffer />
      <div className="px-4 pb-2">
        <label className="relative block">
          <span className="sr-only">Search people, chats and messages</span>
          <SearchIcon
            className="pointer-events-none absolute top-1/2 left-3 -translate-y-1/2 text-zinc-400"
            width={16}
            height={16}
          />
          <input
            type="search"
            value={query}
            maxLength={254}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={moveWithArrows}
            placeholder="Search"
            className="w-full rounded-xl border-0 bg-zinc-100 py-2 pr-3 pl-9 text-sm placeholder-zinc-500 focus:ring-2 focus:ring-brand-500/40 focus:outline-none dark:bg-zinc-800 dark:placeholder-zinc-400"
          />
        </label>
      </div>
      <nav className="scroll-thin min-h-0 flex-1 overflow-y-auto px-2 pb-3">
        {searching ? (
          <SearchResults query={query} />
        ) : mentions ? (
          <MentionsView onClose={() => setMentions(false)} />
        ) : !loaded ? (
          <div className="flex justify-center py-10 text-zinc-400">
            <Spinner />
          </div>
        ) : sorted.length ? (
          <ul role="list" aria-label="Conversation list" className="space-y-0.5">
            {sorted.map((c) => (
              <li key={c.id}>
                <ConversationListItem c={c} />
              </li>
            ))}
          </ul>
        ) : (
          <div className="flex flex-col items-center gap-3 px-6 py-12 text-center">
            <p className="font-semibold">No conversations yet</p>
            <p className="text-sm text-zinc-500 dark:text-zinc-400">
              Type someone's name in the search box above to find them, or start one here.
            </p>
            <Button onClick={() => open("new-chat")}>
              <PlusIcon width={16} height={16} /> Start a chat
            </Button>
          </div>
        )}
      </nav>
    </aside>
  );
}
