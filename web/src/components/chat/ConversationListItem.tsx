import { memo } from "react";
import { myId, selectConversation } from "../../lib/client";
import { conversationTitle, memberName, otherMember, preview, memberCount } from "../../lib/conversation";
import { formatListTime, formatUnread } from "../../lib/format";
import { isMuted, levelOf } from "../../lib/notify";
import { useChat, type ConversationEntry } from "../../lib/store";
import { Avatar } from "../Avatar";
import { BellOffIcon } from "../icons";

const noTyping = {};

export const ConversationListItem = memo(function ConversationListItem({ c }: { c: ConversationEntry }) {
  const me = myId();
  const active = useChat((s) => s.activeId === c.id);
  const other = c.kind === "direct" ? otherMember(c, me) : undefined;
  const online = useChat((s) => (other ? (s.presence[other.user_id]?.online ?? false) : undefined));
  const typing = useChat((s) => s.typing[c.id] ?? noTyping);
  const pending = useChat((s) => s.outbox.some((o) => o.conversation_id === c.id));
  const title = conversationTitle(c, me);
  const typers = Object.keys(typing).filter((u) => u !== me);
  const last = c.last_message;
  const muted = isMuted(c.notifications);
  // A conversation that does not notify keeps its counts, greyed.
  const quiet = levelOf(c) === "none";
  const mentions =
    c.mention_count > 0 ? `${formatUnread(c.mention_count)} mention${c.mention_count === 1 ? "" : "s"}` : "";

  let line: string;
  if (typers.length) line = c.kind === "group" ? `${memberName(c, typers[0]!)} is typing…` : "typing…";
  else if (last)
    line = `${last.sender_id === me ? "You: " : c.kind === "group" ? `${memberName(c, last.sender_id)}: ` : ""}${preview(last)}`;
  else line = c.kind === "group" ? memberCount(c) : "Say hello 👋";

  return (
    <button
      type="button"
      onClick={() => selectConversation(c.id)}
      aria-current={active ? "true" : undefined}
      aria-label={`${title}${c.unread_count ? `, ${formatUnread(c.unread_count)} unread` : ""}${mentions ? `, ${mentions}` : ""}${muted ? ", muted" : ""}`}
      className={`flex w-full items-center gap-3 rounded-xl px-2.5 py-2.5 text-left transition ${
        active ? "bg-brand-50 dark:bg-brand-500/15" : "hover:bg-zinc-100 dark:hover:bg-zinc-800/70"
      }`}
    >
      <Avatar name={title} url={other?.avatar_url} seed={other?.user_id ?? c.id} size="lg" online={online} />
      <span className="min-w-0 flex-1">
        <span className="flex items-baseline gap-2">
          <span className="min-w-0 flex-1 truncate font-semibold">{title}</span>
          {muted && (
            <span role="img" aria-label="Muted" title="Muted" className="shrink-0 text-zinc-400 dark:text-zinc-500">
              <BellOffIcon width={14} height={14} />
            </span>
          )}
          <span
            className={`shrink-0 text-xs ${c.unread_count ? "font-semibold text-brand-600 dark:text-brand-400" : "text-zinc-500 dark:text-zinc-400"}`}
          >
            {formatListTime(last?.created_at ?? c.last_activity_at)}
          </span>
        </span>
        <span className="mt-0.5 flex items-center gap-2">
          <span
            className={`min-w-0 flex-1 truncate text-sm ${typers.length ? "text-brand-600 italic dark:text-brand-400" : "text-zinc-500 dark:text-zinc-400"}`}
          >
            {pending && !typers.length ? "🕓 " : ""}
            {line}
          </span>
          {c.mention_count > 0 && (
            <span
              data-testid="mention-badge"
              role="img"
              aria-label={mentions}
              title={mentions}
              className={`min-w-5 shrink-0 rounded-full px-1.5 py-0.5 text-center text-xs font-semibold text-white ${quiet ? "bg-zinc-400 dark:bg-zinc-600" : "bg-brand-600"}`}
            >
              @
            </span>
          )}
          {c.unread_count > 0 && (
            <span
              data-testid="unread-badge"
              className={`min-w-5 shrink-0 rounded-full px-1.5 py-0.5 text-center text-xs font-semibold text-white ${quiet ? "bg-zinc-400 dark:bg-zinc-600" : "bg-brand-600"}`}
            >
              {formatUnread(c.unread_count)}
            </span>
          )}
        </span>
      </span>
    </button>
  );
});
