// `@name` in a message's text, for `message:send`'s `mentions` (docs/API.md): the server
// stores the ids the sender's app chose, so the app resolves names to members here. No React.

/** A member as far as mentions need one. */
export interface Mentionable {
  user_id: string;
  display_name: string;
}

/** The server refuses more (`validation_failed`, field `mentions`). */
export const MAX_MENTIONS = 50;

/** Case and accents do not matter when matching a name ("@zoe" finds "Zoë"). */
function fold(s: string): string {
  return s.normalize("NFD").replace(/\p{M}/gu, "").toLocaleLowerCase("en-US");
}

const WORD = /[\p{L}\p{N}_]/u;

/**
 * The members the text mentions, in the order they are first mentioned: `@` at the start or
 * after a character that is not part of a word (so "me@example.com" mentions nobody), then a
 * member's whole display name ("@Ann Lee"), or the first word of it when only one member's
 * name starts with that word ("@Ann"). The longest name wins ("@Ann Lee" over "@Ann"). The
 * sender is left out, as the server does; each member once; at most 50.
 */
export function findMentions(text: string, members: Mentionable[], me: string): string[] {
  const others = members.filter((m) => m.user_id !== me && m.display_name.trim());
  const names = others
    .map((m) => ({ id: m.user_id, name: fold(m.display_name.trim()) }))
    .sort((a, b) => b.name.length - a.name.length);
  const firstWords = new Map<string, string[]>();
  for (const n of names) {
    const first = n.name.split(/\s+/)[0]!;
    firstWords.set(first, [...(firstWords.get(first) ?? []), n.id]);
  }
  const folded = fold(text);
  // NFD folding can change lengths; match on the folded text only (positions are not returned).
  const found: string[] = [];
  for (let i = folded.indexOf("@"); i >= 0; i = folded.indexOf("@", i + 1)) {
    if (i > 0 && WORD.test(folded[i - 1]!)) continue;
    const rest = folded.slice(i + 1);
    const id = matchName(rest, names) ?? matchFirstWord(rest, firstWords);
    if (id && !found.includes(id)) found.push(id);
    if (found.length === MAX_MENTIONS) break;
  }
  return found;
}

function endsWord(rest: string, length: number): boolean {
  const next = rest[length];
  return next === undefined || !WORD.test(next);
}

function matchName(rest: string, names: { id: string; name: string }[]): string | undefined {
  return names.find((n) => rest.startsWith(n.name) && endsWord(rest, n.name.length))?.id;
}

function matchFirstWord(rest: string, firstWords: Map<string, string[]>): string | undefined {
  const word = /^[\p{L}\p{N}_]+/u.exec(rest)?.[0];
  const ids = word ? firstWords.get(word) : undefined;
  return ids?.length === 1 ? ids[0] : undefined;
}

/**
 * The `@name` being typed at the caret, for an autocomplete: where its `@` is and the text
 * after it (null when the caret is not in one). Names have spaces, so the query may too, up
 * to 40 characters, but not a line break.
 */
export function mentionQueryAt(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const at = before.lastIndexOf("@");
  if (at < 0 || (at > 0 && WORD.test(before[at - 1]!))) return null;
  const query = before.slice(at + 1);
  if (query.length > 40 || /[\n@]/.test(query) || query.startsWith(" ")) return null;
  return { start: at, query };
}

/** Members whose name matches what is typed after `@` (any word's start), me left out. */
export function mentionCandidates(query: string, members: Mentionable[], me: string, limit = 8): Mentionable[] {
  const q = fold(query.trim());
  return members
    .filter((m) => m.user_id !== me)
    .filter((m) => {
      const name = fold(m.display_name);
      return !q || name.startsWith(q) || name.split(/\s+/).some((w) => w.startsWith(q));
    })
    .slice(0, limit);
}
