// The user flow through nginx (deploy/nginx/chatsync.conf) over HTTPS, run by
// crates/server/tests/api/multinode.rs with nginx in front of a gateway and two chat nodes:
//   register two users, read the codes from the dev outbox, verify, log in;
//   Ann on a WebSocket, Bob on long-polling only; a direct conversation; messages both ways,
//   acked and received live; Bob's polling session makes many requests and stays on its node;
//   plain HTTP is redirected to HTTPS; /metrics is not served; assets get a year of caching;
//   a client's own X-Forwarded-For is not believed (the per-IP register limit still applies).
// Environment: HTTPS (https://127.0.0.1:port), HTTP (http://127.0.0.1:port), ASSET (a path under
// /assets/), REGISTER_LIMIT (the per-IP limit the test configured); the test's CA comes through
// NODE_EXTRA_CA_CERTS. Prints one line per check; exits non-zero on the first failure.
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const { io } = createRequire(import.meta.url)("../clients/node_modules/socket.io-client");

const HTTPS = process.env.HTTPS;
const HTTP = process.env.HTTP;
const ok = (what) => console.log(`ok: ${what}`);

async function api(method, path, body, token, headers = {}) {
  const res = await fetch(HTTPS + path, {
    method,
    headers: {
      ...(body ? { "content-type": "application/json" } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, json, text };
}

async function signup(name) {
  const email = `${name.toLowerCase()}-${Date.now()}@example.com`;
  let r = await api("POST", "/api/auth/register", { email, password: "password123", display_name: name });
  assert.equal(r.status, 202, `register ${name}: ${r.text}`);
  let code;
  for (let i = 0; i < 100 && !code; i++) {
    r = await api("GET", `/api/dev/outbox?email=${encodeURIComponent(email)}`);
    code = r.json?.messages?.[0]?.code;
    if (!code) await new Promise((res) => setTimeout(res, 200));
  }
  assert.ok(code, `a code was mailed to ${email}`);
  r = await api("POST", "/api/auth/verify", { email, otp: code });
  assert.equal(r.status, 200, `verify ${name}: ${r.text}`);
  r = await api("POST", "/api/auth/login", { email, password: "password123" });
  assert.equal(r.status, 200, `login ${name}: ${r.text}`);
  return { token: r.json.access_token, id: r.json.user.id };
}

function connect(user, transports) {
  return new Promise((resolve, reject) => {
    const s = io(HTTPS, { auth: { token: user.token }, transports, forceNew: true, reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(new Error(`connect over ${transports}: ${e.message}`)));
  });
}

function next(socket, event, accept = () => true, ms = 15000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    const h = (m) => {
      if (accept(m)) {
        clearTimeout(t);
        socket.off(event, h);
        resolve(m);
      }
    };
    socket.on(event, h);
  });
}

const ann = await signup("Ann");
const bob = await signup("Bob");
ok("register, mailed code, verify and login over HTTPS");

const conv = await api("POST", "/api/conversations", { kind: "direct", user_id: bob.id }, ann.token);
assert.equal(conv.status < 300, true, `conversation: ${conv.text}`);
const convId = conv.json.id;

const a = await connect(ann, ["websocket"]);
assert.equal(a.io.engine.transport.name, "websocket");
const b = await connect(bob, ["polling"]);
assert.equal(b.io.engine.transport.name, "polling");
ok("Socket.IO over WebSocket and over long-polling through nginx");

for (let i = 0; i < 10; i++) {
  const fromAnn = next(b, "message:new", (m) => m.client_id === `a${i}`);
  const ack = await a.timeout(10000).emitWithAck("message:send", { conversation_id: convId, client_id: `a${i}`, body: `hello ${i}` });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  await fromAnn;
  const fromBob = next(a, "message:new", (m) => m.client_id === `b${i}`);
  const back = await b.timeout(10000).emitWithAck("message:send", { conversation_id: convId, client_id: `b${i}`, body: `hi ${i}` });
  assert.equal(back.ok, true, JSON.stringify(back));
  await fromBob;
}
assert.equal(b.io.engine.transport.name, "polling", "Bob stayed on long-polling");
assert.equal(b.connected, true, "Bob's polling session lived through 20 round trips");
ok("20 messages both ways, acked and delivered live; the polling session stayed on its node");
a.close();
b.close();

let r = await fetch(HTTP + "/api/health", { redirect: "manual" });
assert.equal(r.status, 301);
assert.ok(r.headers.get("location").startsWith("https://"), r.headers.get("location"));
ok("plain HTTP is redirected to HTTPS");

r = await api("GET", "/metrics");
assert.equal(r.status, 404, "metrics are not served through nginx");
ok("/metrics is not served");

r = await fetch(HTTPS + process.env.ASSET);
assert.equal(r.status, 200);
assert.match(r.headers.get("cache-control") ?? "", /max-age=31536000.*immutable/);
r = await fetch(HTTPS + "/assets/missing-0000.js");
assert.equal(r.status, 404);
ok("hashed assets are served by nginx with a year of caching");

// Each register request claims another address in X-Forwarded-For; nginx replaces the header,
// so ChatSync counts them all against 127.0.0.1 and the limit holds.
const limit = Number(process.env.REGISTER_LIMIT);
let limited = 0;
for (let i = 0; i < limit + 3; i++) {
  const res = await api(
    "POST",
    "/api/auth/register",
    { email: `spoof-${i}-${Date.now()}@example.com`, password: "password123", display_name: "Spoof" },
    null,
    { "x-forwarded-for": `203.0.113.${i + 1}` },
  );
  if (res.status === 429) limited++;
}
assert.ok(limited >= 3, `forged X-Forwarded-For got around the per-IP limit (${limited} refused)`);
ok(`a client's own X-Forwarded-For is not believed (${limited} of ${limit + 3} refused)`);
process.exit(0);
