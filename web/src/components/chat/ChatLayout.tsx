import { useEffect, useState } from "react";
import { formatUnread } from "../../lib/format";
import { expireMutes, nextMuteEnd, unreadTotal, useChat } from "../../lib/store";
import { ChatIcon } from "../icons";
import { ConnectionBanner } from "./ConnectionBanner";
import { ConversationView } from "./ConversationView";
import { GroupDialog } from "./GroupDialog";
import { NewChatDialog } from "./NewChatDialog";
import { NewGroupDialog } from "./NewGroupDialog";
import { SettingsDialog } from "./SettingsDialog";
import { Sidebar } from "./Sidebar";

export type DialogName = "new-chat" | "new-group" | "settings" | "details";

export function ChatLayout() {
  const activeId = useChat((s) => s.activeId);
  const unread = useChat(unreadTotal);
  const muteEnds = useChat(nextMuteEnd);
  const [dialog, setDialog] = useState<DialogName | null>(null);
  const close = () => setDialog(null);

  useEffect(() => {
    document.title = unread ? `(${formatUnread(unread)}) ChatSync` : "ChatSync";
    return () => void (document.title = "ChatSync");
  }, [unread]);

  // A mute that ends unmutes here too, so the list's icon and the title count follow at once.
  useEffect(() => {
    if (muteEnds === null) return;
    const t = setTimeout(() => expireMutes(Date.now()), Math.min(Math.max(muteEnds - Date.now(), 0) + 50, 2 ** 31 - 1));
    return () => clearTimeout(t);
  }, [muteEnds]);

  return (
    <div className="flex h-dvh flex-col">
      <ConnectionBanner />
      <div className="flex min-h-0 flex-1">
        {/* Phone width: one pane at a time. */}
        <div className={`${activeId ? "hidden md:flex" : "flex"} w-full md:w-80 lg:w-96 md:shrink-0`}>
          <Sidebar open={setDialog} />
        </div>
        <main className={`${activeId ? "flex" : "hidden md:flex"} min-w-0 flex-1 flex-col`}>
          {activeId ? (
            <ConversationView key={activeId} id={activeId} openDetails={() => setDialog("details")} />
          ) : (
            <NoConversation />
          )}
        </main>
      </div>
      {dialog === "new-chat" && <NewChatDialog onClose={close} />}
      {dialog === "new-group" && <NewGroupDialog onClose={close} />}
      {dialog === "settings" && <SettingsDialog onClose={close} />}
      {dialog === "details" && activeId && <GroupDialog id={activeId} onClose={close} />}
    </div>
  );
}

function NoConversation() {
  return (
    <div className="flex flex-1 flex-col items-center justify-center gap-3 border-l border-zinc-200 bg-zinc-50 p-8 text-center dark:border-zinc-800 dark:bg-zinc-950">
      <span className="flex size-14 items-center justify-center rounded-2xl bg-brand-100 text-brand-600 dark:bg-brand-500/15 dark:text-brand-400">
        <ChatIcon width={28} height={28} />
      </span>
      <h2 className="text-lg font-semibold">Pick a conversation</h2>
      <p className="max-w-xs text-sm text-zinc-500 dark:text-zinc-400">
        Choose a chat on the left, or start a new one with the + button.
      </p>
    </div>
  );
}
