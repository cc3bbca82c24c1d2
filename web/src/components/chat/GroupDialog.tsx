import { useState } from "react";
import { api, errorMessage, type PublicUser } from "../../lib/api";
import { forgetConversation, myId } from "../../lib/client";
import { conversationTitle, memberCount, otherMember } from "../../lib/conversation";
import { formatLastSeen } from "../../lib/format";
import type { Member } from "../../lib/protocol";
import { toast, useChat, upsertConversation, type ConversationEntry } from "../../lib/store";
import { Avatar } from "../Avatar";
import { Modal } from "../Modal";
import { Button, ErrorNote } from "../ui";
import { PickedChips } from "./PickedChips";
import { UserSearch } from "./UserSearch";

/** Details of the open conversation: a contact card, or a group's name and members. */
export function GroupDialog({ id, onClose }: { id: string; onClose: () => void }) {
  const c = useChat((s) => s.conversations[id]);
  if (!c) return null;
  return c.kind === "group" ? <GroupDetails c={c} onClose={onClose} /> : <ContactDetails c={c} onClose={onClose} />;
}

function usePresenceLine(userId: string | undefined): string {
  const p = useChat((s) => (userId ? s.presence[userId] : undefined));
  return p?.online ? "online" : formatLastSeen(p?.last_seen ?? null);
}

function ContactDetails({ c, onClose }: { c: ConversationEntry; onClose: () => void }) {
  const other = otherMember(c, myId());
  const line = usePresenceLine(other?.user_id);
  return (
    <Modal title="Contact" onClose={onClose}>
      <div className="flex flex-col items-center gap-3 py-4 text-center">
        <Avatar name={other?.display_name ?? "?"} url={other?.avatar_url} seed={other?.user_id} size="xl" />
        <div>
          <p className="text-lg font-semibold">{other?.display_name}</p>
          <p className="text-sm text-zinc-500 dark:text-zinc-400">{line}</p>
        </div>
      </div>
    </Modal>
  );
}

function GroupDetails({ c, onClose }: { c: ConversationEntry; onClose: () => void }) {
  const me = myId();
  const owner = c.members.find((m) => m.user_id === me)?.role === "owner";
  const [name, setName] = useState(c.name ?? "");
  const [adding, setAdding] = useState(false);
  const [picked, setPicked] = useState<PublicUser[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const run = async (what: string, f: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  };

  const rename = () => run("rename", async () => upsertConversation(await api.renameGroup(c.id, name.trim())));
  const add = () =>
    run("add", async () => {
      upsertConversation(
        await api.addMembers(
          c.id,
          picked.map((u) => u.id),
        ),
      );
      setPicked([]);
      setAdding(false);
    });
  const remove = (m: Member) =>
    run(`remove-${m.user_id}`, async () => {
      await api.removeMember(c.id, m.user_id);
      upsertConversation({ ...c, members: c.members.filter((x) => x.user_id !== m.user_id) });
    });
  const leave = () =>
    run("leave", async () => {
      await api.leave(c.id);
      onClose();
      forgetConversation(c.id);
      toast(`You left ${conversationTitle(c, me)}.`, "info");
    });
  const ids = new Set(picked.map((u) => u.id));
  const toggle = (u: PublicUser) => setPicked((p) => (ids.has(u.id) ? p.filter((x) => x.id !== u.id) : [...p, u]));
  const members = [...c.members].sort((a, b) =>
    a.role === b.role ? a.display_name.localeCompare(b.display_name) : a.role === "owner" ? -1 : 1,
  );

  return (
    <Modal title="Group details" onClose={onClose} wide>
      <div className="space-y-5">
        {error && <ErrorNote>{error}</ErrorNote>}
        <form
          className="flex items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            void rename();
          }}
        >
          <label className="flex-1 space-y-1.5">
            <span className="block text-sm font-medium text-zinc-700 dark:text-zinc-300">Group name</span>
            <input className="input" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
          </label>
          <Button
            type="submit"
            variant="secondary"
            busy={busy === "rename"}
            disabled={!name.trim() || name.trim() === c.name}
          >
            Save
          </Button>
        </form>

        <section aria-label="Members" className="space-y-2">
          <div className="flex items-center justify-between">
            <h3 className="text-sm font-semibold">{memberCount(c)}</h3>
            {!adding && (
              <Button variant="ghost" className="-mr-2 py-1.5" onClick={() => setAdding(true)}>
                Add members
              </Button>
            )}
          </div>
          {adding && (
            <div className="space-y-3 rounded-xl bg-zinc-50 p-3 ring-1 ring-zinc-200 dark:bg-zinc-800/50 dark:ring-zinc-700">
              <PickedChips users={picked} onRemove={toggle} />
              <UserSearch onPick={toggle} selected={ids} exclude={c.members.map((m) => m.user_id)} />
              <div className="flex justify-end gap-2">
                <Button variant="secondary" onClick={() => (setAdding(false), setPicked([]))}>
                  Cancel
                </Button>
                <Button onClick={add} busy={busy === "add"} disabled={!picked.length}>
                  Add {picked.length || ""}
                </Button>
              </div>
            </div>
          )}
          <ul className="-mx-2">
            {members.map((m) => (
              <MemberRow
                key={m.user_id}
                m={m}
                me={me}
                canRemove={owner && m.user_id !== me}
                busy={busy === `remove-${m.user_id}`}
                onRemove={() => remove(m)}
              />
            ))}
          </ul>
        </section>

        <div className="border-t border-zinc-200 pt-4 dark:border-zinc-800">
          <Button variant="danger" onClick={leave} busy={busy === "leave"}>
            Leave group
          </Button>
        </div>
      </div>
    </Modal>
  );
}

function MemberRow({
  m,
  me,
  canRemove,
  busy,
  onRemove,
}: {
  m: Member;
  me: string;
  canRemove: boolean;
  busy: boolean;
  onRemove: () => void;
}) {
  const online = useChat((s) => s.presence[m.user_id]?.online ?? false);
  const line = usePresenceLine(m.user_id);
  return (
    <li className="flex items-center gap-3 rounded-xl px-2 py-2">
      <Avatar
        name={m.display_name}
        url={m.avatar_url}
        seed={m.user_id}
        online={m.user_id === me ? undefined : online}
      />
      <span className="min-w-0 flex-1">
        <span className="flex items-center gap-2">
          <span className="truncate font-medium">
            {m.display_name}
            {m.user_id === me ? " (you)" : ""}
          </span>
          {m.role === "owner" && (
            <span className="rounded-full bg-brand-100 px-2 py-0.5 text-[11px] font-semibold text-brand-700 dark:bg-brand-500/20 dark:text-brand-400">
              Owner
            </span>
          )}
        </span>
        {m.user_id !== me && <span className="block text-xs text-zinc-500 dark:text-zinc-400">{line}</span>}
      </span>
      {canRemove && (
        <Button
          variant="ghost"
          className="py-1.5 text-red-600 dark:text-red-400"
          busy={busy}
          onClick={onRemove}
          aria-label={`Remove ${m.display_name}`}
        >
          Remove
        </Button>
      )}
    </li>
  );
}
