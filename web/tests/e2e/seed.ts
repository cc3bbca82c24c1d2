// Sets up people, conversations and messages through the REST API, so the screenshot test
// can show a lived-in app without clicking through every step.

import { randomUUID } from "node:crypto";
import type { Person, Server } from "./harness.js";

export interface Account {
  id: string;
  token: string;
  person: Person;
}

interface Conversation {
  id: string;
}

interface Message {
  id: string;
  seq: number;
}

async function call<T>(server: Server, token: string | null, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export async function signUp(server: Server, p: Person): Promise<Account> {
  await call(server, null, "POST", "/api/auth/register", {
    email: p.email,
    password: p.password,
    display_name: p.name,
  });
  const otp = await server.code(p.email);
  const r = await call<{ access_token: string; user: { id: string } }>(server, null, "POST", "/api/auth/verify", {
    email: p.email,
    otp,
  });
  return { id: r.user.id, token: r.access_token, person: p };
}

export const direct = (server: Server, a: Account, b: Account) =>
  call<Conversation>(server, a.token, "POST", "/api/conversations", { kind: "direct", user_id: b.id });

export const group = (server: Server, owner: Account, name: string, members: Account[]) =>
  call<Conversation>(server, owner.token, "POST", "/api/conversations", {
    kind: "group",
    name,
    member_ids: members.map((m) => m.id),
  });

/** A conversation with its members' read positions, as `who` sees it. */
export const readConversation = (server: Server, who: Account, id: string) =>
  call<Conversation & { members: { user_id: string; read_seq: number }[] }>(
    server,
    who.token,
    "GET",
    `/api/conversations/${id}`,
  );

export const say = (server: Server, from: Account, c: Conversation, body: string, attachments: string[] = []) =>
  call<Message>(server, from.token, "POST", `/api/conversations/${c.id}/messages`, {
    client_id: randomUUID(),
    body,
    attachments,
  });

export const reactTo = (server: Server, who: Account, m: Message, emoji: string) =>
  call<Message>(server, who.token, "PUT", `/api/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`);

export const read = (server: Server, who: Account, c: Conversation, seq: number) =>
  call(server, who.token, "POST", `/api/conversations/${c.id}/receipts`, { kind: "read", seq });

export async function upload(server: Server, who: Account, name: string, bytes: Buffer, type: string): Promise<string> {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(bytes)], { type }), name);
  const res = await fetch(`${server.url}/api/media`, {
    method: "POST",
    headers: { Authorization: `Bearer ${who.token}` },
    body: form,
  });
  if (!res.ok) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}
