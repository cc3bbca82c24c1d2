import { useEffect, useState } from "react";
import { selectConversation } from "../../lib/client";
import { conversationTitle, memberName, otherMember, memberCount } from "../../lib/conversation";
import { formatLastSeen } from "../../lib/format";
import { useChat, type ConversationEntry } from "../../lib/store";
import { Avatar } from "../Avatar";
import { BackIcon, InfoIcon } from "../icons";
import { IconButton } from "../ui";
import { NotificationsMenu } from "./NotificationsMenu";

const noTyping = {};

/** Re-renders every 30 s so "last seen 3 min ago" stays true. */
function useMinuteTick() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 30_000);
    return () => clearInterval(t);
  }, []);
}

export function ConversationHeader({
  c,
  me,
  openDetails,
}: {
  c: ConversationEntry;
  me: string;
  openDetails: () => void;
}) {
  useMinuteTick();
  const other = c.kind === "direct" ? otherMember(c, me) : undefined;
  const presence = useChat((s) => (other ? s.presence[other.user_id] : undefined));
  const typing = useChat((s) => s.typing[c.id] ?? noTyping);
  const typers = Object.keys(typing).filter((u) => u !== me);
  const title = conversationTitle(c, me);

  let status: string;
  if (typers.length) status = c.kind === "group" ? `${memberName(c, typers[0]!)} is typing…` : "typing…";
  else if (other) status = presence?.online ? "online" : formatLastSeen(presence?.last_seen ?? null);
  else status = memberCount(c);

  return (
    // Above the message list, so the Notifications menu opens over it.
    <header className="relative z-10 flex items-center gap-2 border-b border-zinc-200 bg-white/90 px-2 py-2 backdrop-blur md:px-4 dark:border-zinc-800 dark:bg-zinc-900/90">
      <IconButton label="Back to conversations" onClick={() => selectConversation(null)} className="md:hidden">
        <BackIcon />
      </IconButton>
      <button
        type="button"
        onClick={openDetails}
        className="flex min-w-0 flex-1 items-center gap-3 rounded-xl p-1 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800/60"
        aria-label={`${title} details`}
      >
        <Avatar
          name={title}
          url={other?.avatar_url}
          seed={other?.user_id ?? c.id}
          online={other ? (presence?.online ?? false) : undefined}
        />
        <span className="min-w-0">
          <span className="block truncate font-semibold">{title}</span>
          <span
            data-testid="conversation-status"
            className={`block truncate text-xs ${typers.length || presence?.online ? "text-brand-600 dark:text-brand-400" : "text-zinc-500 dark:text-zinc-400"}`}
          >
            {status}
          </span>
        </span>
      </button>
      <NotificationsMenu c={c} />
      <IconButton label={c.kind === "group" ? "Group details" : "Contact details"} onClick={openDetails}>
        <InfoIcon />
      </IconButton>
    </header>
  );
}
