import { useState } from "react";
import { askPermission, dismissOffer, shouldOffer, useNotifyState } from "../../lib/notify";
import { BellIcon } from "../icons";
import { Button } from "../ui";

/**
 * Offers desktop notifications once the person has sent a message (they are using the chat,
 * so the question makes sense), never on load; "Not now" puts it away for good (Settings has
 * the switch).
 */
export function NotificationOffer() {
  const s = useNotifyState();
  const [busy, setBusy] = useState(false);
  if (!shouldOffer(s)) return null;
  return (
    <section
      aria-label="Notifications"
      className="mx-4 mb-2 rounded-xl bg-brand-50 p-3 text-sm ring-1 ring-brand-100 dark:bg-brand-500/10 dark:ring-brand-500/25"
    >
      <div className="flex gap-2.5">
        <BellIcon className="mt-0.5 shrink-0 text-brand-600 dark:text-brand-400" width={18} height={18} />
        <p>Get a desktop notification when a message arrives while ChatSync is in the background?</p>
      </div>
      <div className="mt-2 flex justify-end gap-2">
        <Button variant="ghost" className="py-1.5" onClick={dismissOffer}>
          Not now
        </Button>
        <Button
          className="py-1.5"
          busy={busy}
          onClick={() => {
            setBusy(true);
            void askPermission().finally(() => setBusy(false));
          }}
        >
          Turn on
        </Button>
      </div>
    </section>
  );
}
