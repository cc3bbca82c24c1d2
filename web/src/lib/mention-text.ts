// The composer's side of mentions and how a bubble shows them. Finding `@name` in free text
// and the autocomplete's query and candidates are in `mentions.ts`; here: inserting a picked
// member, which ids go with the send, and splitting a stored body into text and mentions.
// No React.

import { MAX_MENTIONS, type Mentionable } from "./mentions";

const WORD = /[\p{L}\p{N}_]/u;

/** Replaces the `@query` typed at `[start, caret)` with `@Display Name ` and puts the caret after it. */
export function insertMention(
  text: string,
  start: number,
  caret: number,
  name: string,
): { text: string; caret: number } {
  const inserted = `@${name} `;
  const rest = text.slice(caret).replace(/^ /, "");
  return { text: text.slice(0, start) + inserted + rest, caret: start + inserted.length };
}

/** Where `@name` stands in `text` as a whole mention (not inside an address or a longer word), case ignored. */
function mentionIndexes(text: string, name: string): number[] {
  const hay = text.toLocaleLowerCase("en-US");
  const needle = `@${name.toLocaleLowerCase("en-US")}`;
  const found: number[] = [];
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) {
    const before = text[i - 1];
    const after = text[i + needle.length];
    if ((before === undefined || !WORD.test(before)) && (after === undefined || !WORD.test(after))) found.push(i);
  }
  return found;
}

/**
 * The ids sent with a message: the members picked from the autocomplete whose `@Name` is still
 * in the text (a name edited away is not sent). A name typed by hand is not resolved: the
 * server stores what the app chose, and a guess could notify the wrong person. Only current
 * members, never me, each once, at most 50.
 */
export function mentionsToSend(text: string, picked: Mentionable[], members: Mentionable[], me: string): string[] {
  const ids = new Set(members.map((m) => m.user_id));
  const out: string[] = [];
  for (const p of picked) {
    if (
      p.user_id !== me &&
      ids.has(p.user_id) &&
      !out.includes(p.user_id) &&
      mentionIndexes(text, p.display_name).length
    )
      out.push(p.user_id);
  }
  return out.slice(0, MAX_MENTIONS);
}

export type Segment = { text: string } | { text: string; user_id: string };

/**
 * A stored body cut into plain text and the `@Name` of each member the message mentions (its
 * `mentions`), for highlighting. The whole display name is tried first, then its first word
 * ("@Bob" for Bob Chen); a mentioned member whose name is not found is not highlighted.
 */
export function mentionSegments(body: string, mentioned: string[], members: Mentionable[]): Segment[] {
  const spans: { at: number; end: number; user_id: string }[] = [];
  for (const id of mentioned) {
    const name = members.find((m) => m.user_id === id)?.display_name.trim();
    if (!name) continue;
    const first = name.split(/\s+/)[0]!;
    for (const candidate of first === name ? [name] : [name, first]) {
      for (const at of mentionIndexes(body, candidate)) {
        const end = at + candidate.length + 1;
        if (!spans.some((s) => at < s.end && end > s.at)) spans.push({ at, end, user_id: id });
      }
    }
  }
  spans.sort((a, b) => a.at - b.at);
  const out: Segment[] = [];
  let pos = 0;
  for (const s of spans) {
    if (s.at > pos) out.push({ text: body.slice(pos, s.at) });
    out.push({ text: body.slice(s.at, s.end), user_id: s.user_id });
    pos = s.end;
  }
  if (pos < body.length) out.push({ text: body.slice(pos) });
  return out;
}
