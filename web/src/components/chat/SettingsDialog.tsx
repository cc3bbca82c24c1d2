import { useEffect, useId, useRef, useState } from "react";
import { api, errorMessage, uploadMedia, type SessionInfo } from "../../lib/api";
import { changeReadReceipts, logout } from "../../lib/client";
import { formatLastSeen } from "../../lib/format";
import { askPermission, setNotificationsEnabled, useNotifyState } from "../../lib/notify";
import { updateSession, useSession } from "../../lib/session";
import { useChat } from "../../lib/store";
import { Avatar } from "../Avatar";
import { LogoutIcon } from "../icons";
import { Modal } from "../Modal";
import { Button, ErrorNote, Field, Spinner } from "../ui";

export function SettingsDialog({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Settings" onClose={onClose} wide>
      <div className="space-y-6">
        <Profile />
        <Notifications />
        <Privacy />
        <Sessions />
        <div className="border-t border-zinc-200 pt-4 dark:border-zinc-800">
          <Button variant="secondary" onClick={() => void logout()}>
            <LogoutIcon width={16} height={16} /> Log out
          </Button>
        </div>
      </div>
    </Modal>
  );
}

function Profile() {
  const user = useSession()!.user;
  const [name, setName] = useState(user.display_name);
  const [avatar, setAvatar] = useState(user.avatar_url);
  const [busy, setBusy] = useState<"name" | "avatar" | null>(null);
  const [progress, setProgress] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const file = useRef<HTMLInputElement>(null);

  const save = async (patch: { display_name?: string; avatar_url?: string | null }, what: "name" | "avatar") => {
    setBusy(what);
    setError(null);
    setSaved(false);
    try {
      const u = await api.updateMe(patch);
      updateSession({ user: u });
      setAvatar(u.avatar_url);
      setSaved(what === "name");
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  };

  const upload = async (f: File) => {
    setBusy("avatar");
    setError(null);
    setProgress(0);
    try {
      const m = await uploadMedia(f, "avatar", setProgress);
      await save({ avatar_url: m.public_url ?? m.url }, "avatar");
    } catch (e) {
      setError(errorMessage(e));
      setBusy(null);
    }
  };

  return (
    <section aria-label="Profile" className="space-y-4">
      <h3 className="text-sm font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">Profile</h3>
      {error && <ErrorNote>{error}</ErrorNote>}
      <div className="flex items-center gap-4">
        <Avatar name={name || user.display_name} url={avatar} seed={user.id} size="xl" />
        <div className="min-w-0 space-y-2">
          <p className="truncate text-sm text-zinc-500 dark:text-zinc-400">{user.email}</p>
          <div className="flex flex-wrap gap-2">
            <Button
              variant="secondary"
              className="py-1.5"
              busy={busy === "avatar"}
              onClick={() => file.current?.click()}
            >
              {busy === "avatar" && progress > 0 && progress < 1
                ? `Uploading ${Math.round(progress * 100)}%`
                : "Change photo"}
            </Button>
            {avatar && (
              <Button
                variant="ghost"
                className="py-1.5"
                disabled={busy !== null}
                onClick={() => void save({ avatar_url: null }, "avatar")}
              >
                Remove
              </Button>
            )}
          </div>
          <input
            ref={file}
            type="file"
            accept="image/*"
            hidden
            aria-label="Choose a profile photo"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void upload(f);
              e.target.value = "";
            }}
          />
        </div>
      </div>
      <form
        className="flex items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          void save({ display_name: name.trim() }, "name");
        }}
      >
        <div className="flex-1">
          <Field
            label="Display name"
            value={name}
            maxLength={64}
            onChange={(e) => (setName(e.target.value), setSaved(false))}
          />
        </div>
        <Button
          type="submit"
          variant="secondary"
          busy={busy === "name"}
          disabled={!name.trim() || name.trim() === user.display_name}
        >
          {saved ? "Saved" : "Save"}
        </Button>
      </form>
    </section>
  );
}

function Notifications() {
  const s = useNotifyState();
  const [busy, setBusy] = useState(false);
  let body;
  if (s.permission === "unsupported") body = <p>This browser can't show desktop notifications.</p>;
  else if (s.permission === "denied")
    body = <p>Notifications are blocked for this site. Allow them in your browser's site settings to turn them on.</p>;
  else if (s.permission === "default")
    body = (
      <div className="flex items-center justify-between gap-3">
        <p>Get a desktop notification when a message arrives while ChatSync is in the background.</p>
        <Button
          variant="secondary"
          className="shrink-0 py-1.5"
          busy={busy}
          onClick={() => {
            setBusy(true);
            void askPermission().finally(() => setBusy(false));
          }}
        >
          Turn on
        </Button>
      </div>
    );
  else
    body = (
      <label className="flex items-center justify-between gap-3">
        <span>Desktop notifications for new messages</span>
        <input
          type="checkbox"
          role="switch"
          checked={s.enabled}
          onChange={(e) => setNotificationsEnabled(e.target.checked)}
          className="size-5 shrink-0 accent-brand-600"
        />
      </label>
    );
  return (
    <section aria-label="Notifications" className="space-y-3">
      <h3 className="text-sm font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">Notifications</h3>
      <div className="text-sm text-zinc-700 dark:text-zinc-300">{body}</div>
    </section>
  );
}

function Privacy() {
  const readReceipts = useChat((s) => s.readReceipts);
  // Shown at once while the server is asked; back to the stored value if it refuses. The box
  // stays enabled meanwhile (busy, ignoring clicks): disabling it would drop the keyboard
  // focus out of the dialog, and Escape would then no longer close it.
  const [asked, setAsked] = useState<boolean | null>(null);
  const descId = useId();
  return (
    <section aria-label="Privacy" className="space-y-3">
      <h3 className="text-sm font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">Privacy</h3>
      <label className="flex items-center justify-between gap-3 text-sm text-zinc-700 dark:text-zinc-300">
        <span>
          Send read receipts
          <span id={descId} className="block text-xs text-zinc-500 dark:text-zinc-400">
            When off, nobody sees when you have read their messages, and you do not see when others have read yours.
          </span>
        </span>
        <input
          type="checkbox"
          aria-describedby={descId}
          checked={asked ?? readReceipts}
          aria-busy={asked !== null}
          onChange={(e) => {
            if (asked !== null) return; // one change at a time
            setAsked(e.target.checked);
            void changeReadReceipts(e.target.checked).finally(() => setAsked(null));
          }}
          className="size-5 shrink-0 accent-brand-600"
        />
      </label>
    </section>
  );
}

/** "Chrome on Linux" from a user agent string; good enough to tell devices apart. */
function device(ua: string | null): string {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Chrom(e|ium)\//.test(ua)
      ? "Chrome"
      : /Firefox\//.test(ua)
        ? "Firefox"
        : /Safari\//.test(ua)
          ? "Safari"
          : null;
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPad/.test(ua)
      ? "iOS"
      : /Mac OS X/.test(ua)
        ? "macOS"
        : /Windows/.test(ua)
          ? "Windows"
          : /Linux/.test(ua)
            ? "Linux"
            : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? ua.slice(0, 40);
}

function Sessions() {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.sessions().then(setSessions, (e: unknown) => setError(errorMessage(e)));
  }, []);

  const revoke = async (s: SessionInfo) => {
    if (s.current) return logout();
    try {
      await api.revokeSession(s.id);
      setSessions((list) => list?.filter((x) => x.id !== s.id) ?? null);
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  return (
    <section aria-label="Sessions" className="space-y-3">
      <h3 className="text-sm font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">
        Where you're signed in
      </h3>
      {error && <ErrorNote>{error}</ErrorNote>}
      {!sessions && !error && (
        <div className="flex justify-center py-4 text-zinc-400">
          <Spinner />
        </div>
      )}
      <ul className="divide-y divide-zinc-200 rounded-xl ring-1 ring-zinc-200 dark:divide-zinc-800 dark:ring-zinc-800">
        {sessions?.map((s) => (
          <li key={s.id} className="flex items-center gap-3 px-3.5 py-3">
            <div className="min-w-0 flex-1">
              <p className="flex items-center gap-2 text-sm font-medium">
                <span className="truncate">{device(s.user_agent)}</span>
                {s.current && (
                  <span className="shrink-0 rounded-full whitespace-nowrap bg-emerald-100 px-2 py-0.5 text-[11px] font-semibold text-emerald-700 dark:bg-emerald-500/15 dark:text-emerald-400">
                    This device
                  </span>
                )}
              </p>
              <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
                {s.ip ?? "unknown address"} · active {formatLastSeen(s.last_used_at).replace("last seen ", "")}
              </p>
            </div>
            <Button
              variant="ghost"
              className="py-1.5 text-red-600 dark:text-red-400"
              onClick={() => void revoke(s)}
              aria-label={s.current ? "Log out of this device" : `Revoke session on ${device(s.user_agent)}`}
            >
              {s.current ? "Log out" : "Revoke"}
            </Button>
          </li>
        ))}
      </ul>
    </section>
  );
}
