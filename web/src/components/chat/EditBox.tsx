import { useState } from "react";
import { editMessage } from "../../lib/client";
import type { Message } from "../../lib/protocol";

export function EditBox({ m, onDone }: { m: Message; onDone: () => void }) {
  const [body, setBody] = useState(m.body);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    const text = body.trim();
    if (!text || text === m.body) return onDone();
    setBusy(true);
    if (await editMessage(m.id, text)) onDone();
    else setBusy(false);
  };
  return (
    <div className="w-72 max-w-full rounded-2xl bg-white p-2 shadow ring-2 ring-brand-500 dark:bg-zinc-800">
      <textarea
        aria-label="Edit message"
        autoFocus
        value={body}
        rows={Math.min(6, body.split("\n").length + 1)}
        maxLength={4000}
        onChange={(e) => setBody(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onDone();
          } else if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            void save();
          }
        }}
        className="block w-full resize-none bg-transparent px-1.5 py-1 text-[15px] text-zinc-900 focus:outline-none dark:text-zinc-100"
      />
      <div className="flex justify-end gap-1.5 pt-1 text-xs">
        <button
          type="button"
          onClick={onDone}
          className="rounded-lg px-2.5 py-1 text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-700"
        >
          Cancel
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => void save()}
          className="rounded-lg bg-brand-600 px-2.5 py-1 font-semibold text-white hover:bg-brand-700"
        >
          Save
        </button>
      </div>
    </div>
  );
}
