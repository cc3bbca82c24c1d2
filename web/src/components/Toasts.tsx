import { dismissToast, useChat } from "../lib/store";
import { CloseIcon } from "./icons";

export function Toasts() {
  const toasts = useChat((s) => s.toasts);
  return (
    <div
      aria-live="polite"
      className="pointer-events-none fixed inset-x-0 bottom-4 z-50 flex flex-col items-center gap-2 px-3"
    >
      {toasts.map((t) => (
        <div
          key={t.id}
          role={t.kind === "error" ? "alert" : "status"}
          className={`pointer-events-auto flex max-w-md items-start gap-3 rounded-xl px-4 py-3 text-sm shadow-lg ring-1 ${
            t.kind === "error"
              ? "bg-red-600 text-white ring-red-700"
              : "bg-zinc-900 text-white ring-zinc-800 dark:bg-zinc-100 dark:text-zinc-900"
          }`}
        >
          <span className="flex-1">{t.text}</span>
          <button
            type="button"
            aria-label="Dismiss"
            onClick={() => dismissToast(t.id)}
            className="-m-1 rounded p-1 opacity-80 hover:opacity-100"
          >
            <CloseIcon width={16} height={16} />
          </button>
        </div>
      ))}
    </div>
  );
}
