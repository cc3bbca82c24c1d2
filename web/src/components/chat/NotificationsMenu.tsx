import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { setConversationNotifications } from "../../lib/client";
import { formatTime } from "../../lib/format";
import { isMuted } from "../../lib/notify";
import type { NotificationLevel } from "../../lib/protocol";
import type { ConversationEntry } from "../../lib/store";
import { BellIcon, BellOffIcon } from "../icons";
import { IconButton } from "../ui";

const LEVELS: { level: NotificationLevel; label: string }[] = [
  { level: "all", label: "All messages" },
  { level: "mentions", label: "Mentions only" },
  { level: "none", label: "Nothing" },
];

const MUTE_MS = 8 * 60 * 60 * 1000;

/**
 * The open conversation's notification settings: a menu button in the header. The level and
 * the mute are stored on the server, so every device of mine follows them.
 */
export function NotificationsMenu({ c }: { c: ConversationEntry }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const n = c.notifications;
  const muted = isMuted(n);

  // A click anywhere else closes the menu, as a native one would.
  useEffect(() => {
    if (!open) return;
    const onDown = (e: PointerEvent) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("pointerdown", onDown);
    root.current?.querySelector<HTMLElement>('[role^="menuitem"][aria-checked="true"], [role^="menuitem"]')?.focus();
    return () => document.removeEventListener("pointerdown", onDown);
  }, [open]);

  const close = () => {
    setOpen(false);
    root.current?.querySelector<HTMLElement>("button[aria-haspopup]")?.focus();
  };

  const choose = async (change: { level: NotificationLevel | null; muted_until: string | null }) => {
    setBusy(true);
    await setConversationNotifications(c.id, change);
    setBusy(false);
    close();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const items = [...(root.current?.querySelectorAll<HTMLElement>('[role^="menuitem"]') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    let next = -1;
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close();
      return;
    }
    if (e.key === "Tab") setOpen(false);
    else if (e.key === "ArrowDown") next = (at + 1) % items.length;
    else if (e.key === "ArrowUp") next = (at - 1 + items.length) % items.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = items.length - 1;
    if (next >= 0) {
      e.preventDefault();
      items[next]?.focus();
    }
  };

  const item =
    "flex w-full items-center gap-2 px-3 py-2 text-left text-sm hover:bg-zinc-100 focus:bg-zinc-100 focus:outline-none disabled:opacity-60 dark:hover:bg-zinc-700/60 dark:focus:bg-zinc-700/60";

  return (
    <div ref={root} className="relative" onKeyDown={open ? onKeyDown : undefined}>
      <IconButton label="Notifications" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        {muted || n.level === "none" ? <BellOffIcon /> : <BellIcon />}
      </IconButton>
      {open && (
        <div
          role="menu"
          aria-label="Notifications"
          className="absolute top-full right-0 z-20 mt-1 w-56 overflow-hidden rounded-xl bg-white py-1 shadow-lg ring-1 ring-zinc-200 dark:bg-zinc-800 dark:ring-zinc-700"
        >
          {LEVELS.map(({ level, label }) => (
            <button
              key={level}
              type="button"
              role="menuitemradio"
              aria-checked={n.level === level}
              disabled={busy}
              tabIndex={-1}
              onClick={() => void choose({ level, muted_until: n.muted_until })}
              className={item}
            >
              <span aria-hidden="true" className="w-4 text-brand-600 dark:text-brand-400">
                {n.level === level ? "✓" : ""}
              </span>
              {label}
            </button>
          ))}
          <div role="separator" className="my-1 border-t border-zinc-200 dark:border-zinc-700" />
          <button
            type="button"
            role="menuitem"
            disabled={busy}
            tabIndex={-1}
            onClick={() =>
              void choose({
                level: n.chosen,
                muted_until: muted ? null : new Date(Date.now() + MUTE_MS).toISOString(),
              })
            }
            className={item}
          >
            <span aria-hidden="true" className="w-4" />
            {muted ? "Unmute" : "Mute for 8 hours"}
          </button>
          {muted && n.muted_until && (
            <p className="px-3 pt-1 pb-2 pl-9 text-xs text-zinc-500 dark:text-zinc-400">
              Muted until {formatTime(n.muted_until)}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
