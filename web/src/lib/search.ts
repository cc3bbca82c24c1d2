// The main search box: people (server), conversations (local) and messages (server, when it
// offers message search) in one list. The pure parts live here so they are unit-tested.

import type { PublicUser } from "./api";
import { conversationTitle, otherMember } from "./conversation";
import type { ConversationEntry } from "./store";

/** Lower case without accents, so "jose" finds "José". */
export function fold(s: string): string {
  return s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/** Conversations whose title contains the query, most recent activity first. */
export function matchConversations(
  conversations: Record<string, ConversationEntry>,
  me: string,
  query: string,
): ConversationEntry[] {
  const q = fold(query.trim());
  return Object.values(conversations)
    .filter((c) => !q || fold(conversationTitle(c, me)).includes(q))
    .sort((a, b) => Date.parse(b.last_activity_at) - Date.parse(a.last_activity_at));
}

/**
 * Whether a name still fits a query the way the server matches names: the query starts the
 * name or one of its words. Used to keep only fitting people of the previous answer while the
 * next one is on its way, instead of showing names that no longer match.
 */
export function nameMatches(name: string, query: string): boolean {
  const q = fold(query.trim());
  return !q || ` ${fold(name)}`.includes(` ${q}`);
}

/**
 * People to list beside the matching chats: not me, and not someone whose direct chat is
 * already listed (clicking either would open the same conversation).
 */
export function peopleToShow(users: PublicUser[], chats: ConversationEntry[], me: string): PublicUser[] {
  const listed = new Set(chats.filter((c) => c.kind === "direct").map((c) => otherMember(c, me)?.user_id ?? me));
  return users.filter((u) => u.id !== me && !listed.has(u.id));
}

export interface SnippetPart {
  text: string;
  mark: boolean;
}

const OPEN = "<mark>";
const CLOSE = "</mark>";

/**
 * Splits a search snippet into plain and highlighted text. The snippet is plain text in which
 * the server wrapped matched words in exactly `<mark>` and `</mark>`; only a complete pair of
 * those markers highlights, everything else (other tags included) stays text, which React
 * renders escaped. Never inject the snippet as HTML.
 */
export function parseSnippet(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  const push = (text: string, mark: boolean) => {
    if (!text) return;
    const last = parts[parts.length - 1];
    if (last && last.mark === mark) last.text += text;
    else parts.push({ text, mark });
  };
  let i = 0;
  for (;;) {
    const open = snippet.indexOf(OPEN, i);
    if (open < 0) break;
    const close = snippet.indexOf(CLOSE, open + OPEN.length);
    if (close < 0) break;
    push(snippet.slice(i, open), false);
    push(snippet.slice(open + OPEN.length, close), true);
    i = close + CLOSE.length;
  }
  push(snippet.slice(i), false);
  return parts;
}
