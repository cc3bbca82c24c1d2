import { useId, useState } from "react";
import type { PublicUser } from "../../lib/api";
import { myId } from "../../lib/client";
import { nameMatches } from "../../lib/search";
import { Avatar } from "../Avatar";
import { CheckIcon, SearchIcon } from "../icons";
import { Spinner } from "../ui";
import { useUserSearch } from "./useSearch";

/** Finds people by name (the start of any word) or email address. `selected` marks picks in multi-select use. */
export function UserSearch({
  onPick,
  selected,
  exclude = [],
  autoFocus = true,
}: {
  onPick: (u: PublicUser) => void;
  selected?: Set<string>;
  exclude?: string[];
  autoFocus?: boolean;
}) {
  const id = useId();
  const [query, setQuery] = useState("");
  const { users, busy, error } = useUserSearch(query);

  const me = myId();
  // While the next answer is on its way, only the previous people who still fit the query.
  const fitting = busy ? users.filter((u) => nameMatches(u.display_name, query)) : users;
  const shown = fitting.filter((u) => u.id !== me && !exclude.includes(u.id));

  return (
    <div className="space-y-3">
      <label htmlFor={id} className="relative block">
        <span className="sr-only">Search people</span>
        <SearchIcon
          className="pointer-events-none absolute top-1/2 left-3.5 -translate-y-1/2 text-zinc-400"
          width={18}
          height={18}
        />
        {/* React focuses it when it appears in an open dialog; the Dialog focuses
            data-autofocus when the dialog opens with it. */}
        <input
          id={id}
          type="search"
          className="input pl-10"
          placeholder="Search by name or email"
          autoFocus={autoFocus}
          data-autofocus={autoFocus || undefined}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      </label>
      <div className="min-h-24">
        {error ? (
          <p className="py-6 text-center text-sm text-red-600">{error}</p>
        ) : busy && !shown.length ? (
          <div className="flex justify-center py-6 text-zinc-400">
            <Spinner />
          </div>
        ) : shown.length ? (
          <ul aria-label="People" className="-mx-2 space-y-0.5">
            {shown.map((u) => {
              const picked = selected?.has(u.id) ?? false;
              return (
                <li key={u.id}>
                  <button
                    type="button"
                    onClick={() => onPick(u)}
                    aria-pressed={selected ? picked : undefined}
                    className="flex w-full items-center gap-3 rounded-xl px-2 py-2 text-left hover:bg-zinc-100 dark:hover:bg-zinc-800"
                  >
                    <Avatar name={u.display_name} url={u.avatar_url} seed={u.id} />
                    <span className="min-w-0 flex-1 truncate font-medium">{u.display_name}</span>
                    {selected && (
                      <span
                        className={`flex size-6 items-center justify-center rounded-full ring-2 ${picked ? "bg-brand-600 text-white ring-brand-600" : "ring-zinc-300 dark:ring-zinc-600"}`}
                      >
                        {picked && <CheckIcon width={14} height={14} strokeWidth={3} />}
                      </span>
                    )}
                  </button>
                </li>
              );
            })}
          </ul>
        ) : (
          <p className="py-6 text-center text-sm text-zinc-500 dark:text-zinc-400">
            {query.trim()
              ? "Nobody found. Try another name or the start of their email."
              : "Type a name or an email address."}
          </p>
        )}
      </div>
    </div>
  );
}
