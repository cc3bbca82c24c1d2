import { useEffect, useState, type DragEvent } from "react";
import { markRead, myId, openThread } from "../../lib/client";
import { toast, useChat } from "../../lib/store";
import { Composer } from "./Composer";
import { ConversationHeader } from "./ConversationHeader";
import { MessageList } from "./MessageList";
import { TypingIndicator } from "./TypingIndicator";
import { useUploads } from "./useUploads";

export function ConversationView({ id, openDetails }: { id: string; openDetails: () => void }) {
  const conversation = useChat((s) => s.conversations[id]);
  const lastSeq = conversation?.last_seq ?? 0;
  const uploads = useUploads();
  const [dragging, setDragging] = useState(false);

  useEffect(() => void openThread(id), [id]);
  // What is shown while the window has focus counts as read: far back, up to the window's
  // newest message, so scrolling down (or jumping) to the live end reads the rest.
  const windowEnd = useChat((s) => {
    const t = s.threads[id];
    if (!t?.loaded) return -2;
    return t.hasNewer ? (t.items.at(-1)?.seq ?? 0) : -1;
  });
  useEffect(() => markRead(id), [id, lastSeq, windowEnd]);

  if (!conversation) return null;

  const addFiles = (files: FileList | File[]) => {
    const dropped = uploads.add(files);
    if (dropped) toast(`At most 10 files per message; ${dropped} not added.`);
  };
  const hasFiles = (e: DragEvent) => e.dataTransfer.types.includes("Files");

  return (
    <section
      aria-label="Conversation"
      className="relative flex min-h-0 flex-1 flex-col bg-zinc-50 dark:bg-zinc-950"
      onDragEnter={(e) => hasFiles(e) && setDragging(true)}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "copy";
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        setDragging(false);
        addFiles(e.dataTransfer.files);
      }}
    >
      <ConversationHeader c={conversation} me={myId()} openDetails={openDetails} />
      <div className="relative flex min-h-0 flex-1 flex-col">
        <MessageList c={conversation} />
        <TypingIndicator c={conversation} />
      </div>
      <Composer conversationId={id} uploads={uploads} addFiles={addFiles} />
      {dragging && (
        <div className="pointer-events-none absolute inset-3 z-20 flex items-center justify-center rounded-2xl border-2 border-dashed border-brand-500 bg-brand-50/90 text-lg font-semibold text-brand-700 dark:bg-zinc-900/90 dark:text-brand-400">
          Drop files to attach
        </div>
      )}
    </section>
  );
}
