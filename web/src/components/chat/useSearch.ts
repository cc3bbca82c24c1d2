import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorMessage, type MessageHit, type PublicUser } from "../../lib/api";

const DEBOUNCE_MS = 250;

/** People by name (prefix of any word) or whole email address, as the person types. */
export function useUserSearch(query: string): { users: PublicUser[]; busy: boolean; error: string | null } {
  const [users, setUsers] = useState<PublicUser[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const q = query.trim();
    if (!q) {
      setUsers([]);
      setError(null);
      setBusy(false);
      return;
    }
    let stale = false;
    setBusy(true);
    const t = setTimeout(() => {
      api
        .searchUsers(q)
        .then((r) => !stale && (setUsers(r.users), setError(null)))
        .catch((e: unknown) => !stale && setError(errorMessage(e)))
        .finally(() => !stale && setBusy(false));
    }, DEBOUNCE_MS);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [query]);

  return { users, busy, error };
}

/**
 * Whether this server has message search. Learnt from the first answer and kept until the
 * page reloads, so a server without it is not asked on every keystroke.
 */
let messageSearch: "unknown" | "available" | "unavailable" = "unknown";

export interface MessageSearch {
  /** False when the server has no message search: show no section at all. */
  available: boolean;
  hits: MessageHit[];
  busy: boolean;
  error: string | null;
  more: boolean;
  loadMore: () => void;
}

export function useMessageSearch(query: string): MessageSearch {
  const [hits, setHits] = useState<MessageHit[]>([]);
  const [next, setNext] = useState<string | number | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [available, setAvailable] = useState(messageSearch !== "unavailable");
  const current = useRef(query);

  const fetchPage = useCallback(async (q: string, before?: string | number) => {
    setBusy(true);
    try {
      const page = await api.searchMessages(q, { before });
      if (current.current !== q) return;
      if (!page) {
        messageSearch = "unavailable";
        setAvailable(false);
        return;
      }
      messageSearch = "available";
      setHits((h) => (before === undefined ? page.hits : [...h, ...page.hits]));
      setNext(page.next_before);
      setError(null);
    } catch (e) {
      if (current.current === q) setError(errorMessage(e));
    } finally {
      if (current.current === q) setBusy(false);
    }
  }, []);

  useEffect(() => {
    const q = query.trim();
    current.current = q;
    setHits([]);
    setNext(undefined);
    setError(null);
    if (!q || messageSearch === "unavailable") {
      setBusy(false);
      return;
    }
    setBusy(true);
    const t = setTimeout(() => void fetchPage(q), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [query, fetchPage]);

  const loadMore = useCallback(() => {
    if (next !== undefined && !busy) void fetchPage(current.current, next);
  }, [next, busy, fetchPage]);

  return { available, hits, busy, error, more: next !== undefined, loadMore };
}
