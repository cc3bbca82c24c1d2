import type { PublicUser } from "../../lib/api";
import { Avatar } from "../Avatar";
import { CloseIcon } from "../icons";

export function PickedChips({ users, onRemove }: { users: PublicUser[]; onRemove: (u: PublicUser) => void }) {
  if (!users.length) return null;
  return (
    <ul aria-label="Selected people" className="flex flex-wrap gap-1.5">
      {users.map((u) => (
        <li
          key={u.id}
          className="flex items-center gap-1.5 rounded-full bg-brand-50 py-0.5 pr-1 pl-0.5 text-sm text-brand-700 dark:bg-brand-500/15 dark:text-brand-400"
        >
          <Avatar name={u.display_name} url={u.avatar_url} seed={u.id} size="sm" />
          <span className="max-w-32 truncate">{u.display_name}</span>
          <button
            type="button"
            aria-label={`Remove ${u.display_name}`}
            onClick={() => onRemove(u)}
            className="rounded-full p-1 hover:bg-brand-100 dark:hover:bg-brand-500/25"
          >
            <CloseIcon width={12} height={12} />
          </button>
        </li>
      ))}
    </ul>
  );
}
