import { useSyncExternalStore } from "react";
import type { Me } from "./generated/Me";

// The signed-in session, kept in localStorage so a reload stays signed in. Other modules
// subscribe to hear about sign-in, token rotation and sign-out.

/** My account, as `GET /api/users/me` and log-in answer it (generated from the Rust type). */
export type User = Me;

export interface Session {
  access_token: string;
  refresh_token: string;
  session_id: string;
  user: User;
}

const KEY = "chatsync.session";
type Listener = (s: Session | null) => void;
const listeners = new Set<Listener>();

function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

let current: Session | null = load();

export function getSession(): Session | null {
  return current;
}

export function setSession(s: Session | null): void {
  current = s;
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  listeners.forEach((l) => l(s));
}

export function updateSession(patch: Partial<Session>): void {
  if (current) setSession({ ...current, ...patch });
}

export function onSession(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

// Another tab signing in or out.
window.addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  current = load();
  listeners.forEach((l) => l(current));
});

/** The session, re-rendering on sign-in, sign-out and profile changes. */
export function useSession(): Session | null {
  return useSyncExternalStore(onSession, getSession);
}
