import type { Member, Message } from "../../lib/protocol";
import { readInfo } from "../../lib/receipts";
import { excerpt } from "../../lib/reply";
import { useChat } from "../../lib/store";
import { Avatar } from "../Avatar";
import { Modal } from "../Modal";

/**
 * "Message info" for one of my messages in a group: who read it and who has it, from the
 * members' receipt positions, live (a `receipt` event moves someone while it is open).
 */
export function ReadInfoDialog({ m, me, onClose }: { m: Message; me: string; onClose: () => void }) {
  const c = useChat((s) => s.conversations[m.conversation_id]);
  const readReceipts = useChat((s) => s.readReceipts);
  if (!c) return null;
  const info = readInfo(c, m.seq, me, readReceipts);
  return (
    <Modal title="Message info" onClose={onClose}>
      <p className="mb-4 truncate rounded-lg bg-zinc-100 px-3 py-2 text-sm text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300">
        {excerpt(m)}
      </p>
      {readReceipts ? (
        <People title="Read by" people={info.read} empty="Nobody yet" />
      ) : (
        <p className="mb-4 text-sm text-zinc-500 dark:text-zinc-400">
          Read receipts are off in your settings, so who has read it is not shown.
        </p>
      )}
      <People title="Delivered to" people={info.delivered} empty="Nobody yet" />
      {info.waiting.length > 0 && <People title="Not delivered yet" people={info.waiting} />}
    </Modal>
  );
}

function People({ title, people, empty }: { title: string; people: Member[]; empty?: string }) {
  if (!people.length && !empty) return null;
  return (
    <section aria-label={title} className="mb-4 last:mb-0">
      <h3 className="mb-2 text-sm font-semibold tracking-wide text-zinc-500 uppercase dark:text-zinc-400">{title}</h3>
      {people.length ? (
        <ul className="space-y-2">
          {people.map((p) => (
            <li key={p.user_id} className="flex items-center gap-3 text-sm">
              <span aria-hidden="true">
                <Avatar name={p.display_name} url={p.avatar_url} seed={p.user_id} size="sm" />
              </span>
              <span className="truncate">{p.display_name}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="text-sm text-zinc-500 dark:text-zinc-400">{empty}</p>
      )}
    </section>
  );
}
