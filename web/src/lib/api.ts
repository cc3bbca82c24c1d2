// Typed REST client for docs/API.md. Access tokens are refreshed once on a 401, shared by
// every request that hit it at the same time (refresh tokens are single-use: two parallel
// refreshes would end the session as "refresh_token_reused").

import type { Conversation, ConversationSummary, Message, NotificationLevel, NotificationSettings } from "./protocol";
import { getSession, setSession, updateSession, type User } from "./session";
import type { CodeSent } from "./generated/CodeSent";
import type { LoggedIn } from "./generated/LoggedIn";
import type { TokenPair } from "./generated/TokenPair";
import type { PublicProfile } from "./generated/PublicProfile";
import type { SessionView } from "./generated/SessionView";
import type { PresenceState } from "./generated/PresenceState";
import type { MediaView } from "./generated/MediaView";
import type { MessageHit } from "./generated/MessageHit";
import type { MessageSearchPage } from "./generated/MessageSearchPage";
import type { MentionsPage } from "./generated/MentionsPage";
import type { ChatSettings } from "./generated/ChatSettings";

// REST bodies, generated from the Rust types (see protocol.ts), under the names the app uses.
export type PendingVerification = CodeSent;
export type PublicUser = PublicProfile;
export type SessionInfo = SessionView;
export type Media = MediaView;
export type { PresenceState, MessageHit, MessageSearchPage, MentionsPage, ChatSettings };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

const NETWORK_ERROR = "network_error";

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return "Something went wrong";
}

async function parseError(res: Response): Promise<ApiError> {
  const retry = res.headers.get("Retry-After");
  let code = "http_" + res.status;
  let message = res.statusText || "Request failed";
  try {
    const body = (await res.json()) as { error?: { code: string; message: string } };
    if (body.error) ({ code, message } = body.error);
  } catch {
    // Not JSON (a proxy page, say): keep the status text.
  }
  return new ApiError(res.status, code, message, retry ? Number(retry) : null);
}

let refreshing: Promise<boolean> | null = null;

/** Rotates the token pair. False (and signed out) when the session is gone. */
export function refreshTokens(): Promise<boolean> {
  refreshing ??= (async () => {
    const s = getSession();
    if (!s) return false;
    try {
      const res = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: s.refresh_token }),
      });
      if (res.ok) {
        const t = (await res.json()) as TokenPair;
        updateSession({ access_token: t.access_token, refresh_token: t.refresh_token, session_id: t.session_id });
        return true;
      }
      if (res.status === 401 || res.status === 403) {
        setSession(null);
        return false;
      }
      throw await parseError(res);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

interface RequestOptions {
  body?: unknown;
  auth?: boolean;
}

async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const auth = opts.auth ?? true;
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const token = getSession()?.access_token;
    if (auth && token) headers["Authorization"] = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    } catch {
      throw new ApiError(0, NETWORK_ERROR, "Can't reach ChatSync. Check your connection.");
    }
    if (res.status === 401 && auth && attempt === 0 && getSession()) {
      if (await refreshTokens()) continue;
    }
    if (!res.ok) throw await parseError(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }
}

export interface OutboxMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  created_at: string;
  code: string | null;
}

/** Where a page of history is read: one of these, or none for the newest page. */
export type HistoryAt = { before_seq?: number } | { after_seq?: number } | { around_seq?: number };

type SignedIn = LoggedIn;

function signedIn(s: SignedIn): User {
  setSession({
    access_token: s.access_token,
    refresh_token: s.refresh_token,
    session_id: s.session_id,
    user: s.user,
  });
  return s.user;
}

const q = encodeURIComponent;

export const api = {
  register: (email: string, password: string, display_name: string) =>
    request<PendingVerification>("POST", "/api/auth/register", {
      auth: false,
      body: { email, password, display_name },
    }),
  resendOtp: (email: string) =>
    request<PendingVerification>("POST", "/api/auth/resend-otp", { auth: false, body: { email } }),
  verify: async (email: string, otp: string, password?: string) =>
    signedIn(await request<SignedIn>("POST", "/api/auth/verify", { auth: false, body: { email, otp, password } })),
  login: async (email: string, password: string) =>
    signedIn(await request<SignedIn>("POST", "/api/auth/login", { auth: false, body: { email, password } })),
  logout: () => request<void>("POST", "/api/auth/logout"),
  me: () => request<User>("GET", "/api/users/me"),
  updateMe: (patch: { display_name?: string; avatar_url?: string | null }) =>
    request<User>("PATCH", "/api/users/me", { body: patch }),
  searchUsers: (query: string, limit = 20) =>
    request<{ users: PublicUser[]; next_offset?: number }>("GET", `/api/users?q=${q(query)}&limit=${limit}`),
  sessions: () => request<SessionInfo[]>("GET", "/api/sessions"),
  revokeSession: (id: string) => request<void>("DELETE", `/api/sessions/${q(id)}`),
  devOutbox: (email: string) =>
    request<{ messages: OutboxMail[] }>("GET", `/api/dev/outbox?email=${q(email)}`, { auth: false }),

  conversations: (before?: string, limit = 100) =>
    request<{ conversations: ConversationSummary[] }>(
      "GET",
      `/api/conversations?limit=${limit}${before ? `&before=${q(before)}` : ""}`,
    ),
  conversation: (id: string) => request<Conversation>("GET", `/api/conversations/${q(id)}`),
  openDirect: (user_id: string) =>
    request<Conversation>("POST", "/api/conversations", { body: { kind: "direct", user_id } }),
  createGroup: (name: string, member_ids: string[]) =>
    request<Conversation>("POST", "/api/conversations", { body: { kind: "group", name, member_ids } }),
  renameGroup: (id: string, name: string) =>
    request<Conversation>("PATCH", `/api/conversations/${q(id)}`, { body: { name } }),
  addMembers: (id: string, user_ids: string[]) =>
    request<Conversation>("POST", `/api/conversations/${q(id)}/members`, { body: { user_ids } }),
  removeMember: (id: string, user_id: string) =>
    request<void>("DELETE", `/api/conversations/${q(id)}/members/${q(user_id)}`),
  leave: (id: string) => request<void>("POST", `/api/conversations/${q(id)}/leave`),
  /**
   * A page of history, ascending: the newest without a position; `has_more` says whether
   * there is more in the paging direction (older, or newer with `after_seq`). Around a seq
   * (`around_seq`, not with the others) `has_more` is about older ones and `has_newer` newer.
   */
  messages: (id: string, at: HistoryAt = {}, limit = 50) => {
    const params = new URLSearchParams({ limit: String(limit) });
    for (const [k, v] of Object.entries(at)) if (v !== undefined) params.set(k, String(v));
    return request<{ messages: Message[]; has_more: boolean; has_newer?: boolean }>(
      "GET",
      `/api/conversations/${q(id)}/messages?${params}`,
    );
  },
  /** One message (a reply's original outside the loaded history); 404 unless I can see it. */
  message: (id: string) => request<Message>("GET", `/api/messages/${q(id)}`),
  /** Removes the link preview of my own message (403 for another member's); answers the message. */
  removePreview: (id: string) => request<Message>("DELETE", `/api/messages/${q(id)}/preview`),
  chatSettings: () => request<ChatSettings>("GET", "/api/chat-settings"),
  setChatSettings: (body: ChatSettings) => request<ChatSettings>("PUT", "/api/chat-settings", { body }),
  presence: (ids: string[]) =>
    request<{ presence: PresenceState[] }>("GET", `/api/presence?user_ids=${ids.map(q).join(",")}`),
  media: (id: string) => request<Media>("GET", `/api/media/${q(id)}`),
  /** Every field is written: a missing `muted_until` unmutes. */
  setNotifications: (id: string, body: { level: NotificationLevel | null; muted_until?: string | null }) =>
    request<NotificationSettings>("PUT", `/api/conversations/${q(id)}/notifications`, { body }),
  mentions: (before?: string, limit = 30) =>
    request<MentionsPage>("GET", `/api/mentions?limit=${limit}${before ? `&before=${q(before)}` : ""}`),
  /**
   * Full-text search over my conversations' messages, newest first. Null when this server has
   * no message search (it answers unknown API paths with 404): callers hide it, no error.
   */
  searchMessages: async (
    query: string,
    opts: { before?: string | number; limit?: number } = {},
  ): Promise<MessageSearchPage | null> => {
    const params = new URLSearchParams({ q: query, limit: String(opts.limit ?? 20) });
    if (opts.before !== undefined) params.set("before", String(opts.before));
    try {
      return await request<MessageSearchPage>("GET", `/api/search/messages?${params}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  },
};

export type UploadPurpose = "message" | "avatar";

/**
 * Uploads one file with progress (fetch cannot report upload progress). Retries once after
 * refreshing an expired token.
 */
export function uploadMedia(
  file: File,
  purpose: UploadPurpose,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<Media> {
  const attempt = () =>
    new Promise<Media>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", purpose === "avatar" ? "/api/media?purpose=avatar" : "/api/media");
      const token = getSession()?.access_token;
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.responseType = "text";
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        const body = (() => {
          try {
            return JSON.parse(xhr.responseText) as unknown;
          } catch {
            return null;
          }
        })();
        if (xhr.status >= 200 && xhr.status < 300) return resolve(body as Media);
        const err = (body as { error?: { code: string; message: string } } | null)?.error;
        reject(new ApiError(xhr.status, err?.code ?? `http_${xhr.status}`, err?.message ?? uploadFailure(xhr.status)));
      };
      xhr.onerror = () => reject(new ApiError(0, NETWORK_ERROR, "Upload failed: can't reach ChatSync."));
      xhr.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
      signal?.addEventListener("abort", () => xhr.abort());
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  return attempt().catch(async (e: unknown) => {
    if (e instanceof ApiError && e.status === 401 && (await refreshTokens())) return attempt();
    throw e;
  });
}

function uploadFailure(status: number): string {
  if (status === 413) return "This file is too large (25 MB at most).";
  if (status === 415) return "This type of file can't be sent.";
  if (status === 404) return "Uploads are not available on this server.";
  return `Upload failed (${status}).`;
}
