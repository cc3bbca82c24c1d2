// Drives the official socket.io-client against a running ChatSync server.
// Usage: node js_client.mjs <url> <tokenA> <tokenB> <conversationId> <websocket|polling>
// Exits 0 when every check passed; prints what failed otherwise.
import { io } from "socket.io-client";

const [url, tokenA, tokenB, conv, transport] = process.argv.slice(2);
const opts = (token) => ({ auth: { token }, transports: [transport], upgrade: false, reconnection: false, forceNew: true });

function connect(token) {
  return new Promise((resolve, reject) => {
    const s = io(url, opts(token));
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => { s.close(); reject(e); });
  });
}

function assert(cond, what) {
  if (!cond) { throw new Error(`check failed: ${what}`); }
}

const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms));

async function main() {
  const a = await connect(tokenA);
  const b = await connect(tokenB);
  assert(a.io.engine.transport.name === transport, `transport is ${transport}`);
  const received = new Promise((res) => b.on("message:new", res));
  const ack = await Promise.race([
    a.emitWithAck("message:send", { conversation_id: conv, client_id: `js-${transport}`, body: `hello over ${transport}` }),
    timeout(5000, "send ack"),
  ]);
  assert(ack.ok === true && typeof ack.message.seq === "number", `send ack ${JSON.stringify(ack)}`);
  const got = await Promise.race([received, timeout(5000, "message:new")]);
  assert(got.id === ack.message.id && got.body === `hello over ${transport}`, "message:new matches");

  const bad = await a.emitWithAck("message:send", { client_id: "x" });
  assert(bad.ok === false && bad.error.code === "invalid_payload", `bad payload ack ${JSON.stringify(bad)}`);

  const typing = new Promise((res) => b.on("typing", res));
  await a.emitWithAck("typing", { conversation_id: conv, typing: true });
  const t = await Promise.race([typing, timeout(5000, "typing")]);
  assert(t.typing === true && t.conversation_id === conv, "typing relayed");

  let refused = null;
  try { await connect("not-a-token"); } catch (e) { refused = e; }
  assert(refused && /unauthorized/.test(refused.message), `bad token refused (${refused && refused.message})`);

  a.close(); b.close();
  console.log(JSON.stringify({ ok: true, transport, seq: ack.message.seq }));
}

main().then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
