import { myId } from "../../lib/client";
import { memberName } from "../../lib/conversation";
import { useChat, type ConversationEntry } from "../../lib/store";

const noTyping = {};

/** Floats over the bottom of the message list so it never pushes messages around. */
export function TypingIndicator({ c }: { c: ConversationEntry }) {
  const typing = useChat((s) => s.typing[c.id] ?? noTyping);
  const me = myId();
  const names = Object.keys(typing)
    .filter((u) => u !== me)
    .map((u) => memberName(c, u));
  if (!names.length) return null;
  const text =
    names.length === 1
      ? `${names[0]} is typing`
      : names.length === 2
        ? `${names[0]} and ${names[1]} are typing`
        : "Several people are typing";
  return (
    <div
      role="status"
      aria-label={`${text}…`}
      className="pointer-events-none absolute bottom-2 left-4 flex items-center gap-2 rounded-full bg-white px-3 py-1.5 text-xs text-zinc-600 shadow-md ring-1 ring-zinc-200 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-700"
    >
      <span className="flex gap-0.5" aria-hidden="true">
        {[0, 150, 300].map((d) => (
          <span
            key={d}
            className="size-1.5 animate-bounce-dot rounded-full bg-zinc-400"
            style={{ animationDelay: `${d}ms` }}
          />
        ))}
      </span>
      {text}…
    </div>
  );
}
