import { useEffect, useState } from "react";
import { api, ApiError, type OutboxMail } from "../../lib/api";
import { MailIcon } from "../icons";

const POLL_MS = 2000;

/**
 * Shown only when the server runs with its development mail outbox (no SMTP configured):
 * the outbox endpoint answers 404 otherwise and the banner stays hidden.
 */
export function DevOutboxBanner({ email, onUse }: { email: string; onUse: (code: string) => void }) {
  const [mail, setMail] = useState<OutboxMail | null>(null);
  const [available, setAvailable] = useState(true);

  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const { messages } = await api.devOutbox(email);
        if (stop) return;
        setMail(messages[0] ?? null);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return setAvailable(false);
      }
      if (!stop) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [email]);

  if (!available) return null;
  return (
    <section
      aria-label="Development mail outbox"
      className="rounded-xl bg-amber-50 p-3.5 text-sm text-amber-900 ring-1 ring-amber-200 ring-inset dark:bg-amber-950/40 dark:text-amber-100 dark:ring-amber-900"
    >
      <div className="flex items-start gap-2.5">
        <MailIcon className="mt-0.5 shrink-0 text-amber-600 dark:text-amber-400" width={18} height={18} />
        <div className="min-w-0 flex-1 space-y-1">
          <p className="font-semibold">Development mode: no email is sent</p>
          <p className="text-amber-800 dark:text-amber-200/80">
            This server keeps mail in its dev outbox (<code className="text-xs">GET /api/dev/outbox</code>). The latest
            message to this address:
          </p>
          {mail ? (
            <div className="mt-2 flex items-center justify-between gap-3 rounded-lg bg-white/70 px-3 py-2 ring-1 ring-amber-200 dark:bg-zinc-900/60 dark:ring-amber-900">
              <div className="min-w-0">
                <p className="truncate text-xs text-amber-800 dark:text-amber-200/80">{mail.subject}</p>
                {mail.code && (
                  <p className="font-mono text-lg font-bold tracking-[0.3em]" data-testid="dev-code">
                    {mail.code}
                  </p>
                )}
              </div>
              {mail.code && (
                <button
                  type="button"
                  onClick={() => onUse(mail.code!)}
                  className="shrink-0 rounded-lg bg-amber-600 px-3 py-1.5 text-xs font-semibold text-white hover:bg-amber-700"
                >
                  Use code
                </button>
              )}
            </div>
          ) : (
            <p className="italic">Waiting for the email…</p>
          )}
        </div>
      </div>
    </section>
  );
}
