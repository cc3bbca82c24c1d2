// Two users chat one-to-one through the gateway while the chat nodes behind it are restarted
// (scripts/test-pm2.sh runs `pm2 reload` meanwhile). Each side sends messages with a client_id,
// waits for the ack, and on a timeout, an error ack or a reconnect sends the same client_id
// again, as the web app does; after every (re)connect it calls `sync` from the last seq it saw.
// When STOP_FILE appears, sending stops, the receivers get up to RECEIVE_WAIT_MS to see every
// message, and then the conversation's history (REST) is checked:
//   every acked message is stored exactly once, under the id and seq its ack gave;
//   seqs are 1..n without gaps, and nothing else is stored;
//   each receiver got every message of the other exactly once (live `message:new` or `sync`),
//   never the same message twice live.
// Counts go to stdout as one JSON line; progress to PROGRESS_FILE every 500 ms.
// Environment: GATEWAY, TOKEN_A, TOKEN_B, USER_A, USER_B, CONV, STOP_FILE, PROGRESS_FILE,
// RECEIVE_WAIT_MS (default 60000), SEND_GAP_MS (default 150). Exit 0 only if every check passed.
import fs from "node:fs";
import { createRequire } from "node:module";

// socket.io-client as installed into tests/clients by scripts/test-deps.sh (require resolves the
// package directory; an ESM import of a directory does not).
const { io } = createRequire(import.meta.url)("../clients/node_modules/socket.io-client");

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const GATEWAY = env("GATEWAY");
const CONV = env("CONV");
const STOP_FILE = env("STOP_FILE");
const PROGRESS_FILE = env("PROGRESS_FILE");
const RECEIVE_WAIT_MS = Number(env("RECEIVE_WAIT_MS", "60000"));
const SEND_GAP_MS = Number(env("SEND_GAP_MS", "150"));
const ACK_TIMEOUT_MS = 5000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(new Date().toISOString(), ...a);

class Peer {
  constructor(name, token, userId, transports) {
    this.name = name;
    this.userId = userId;
    this.acked = new Map(); // client_id -> {id, seq}
    this.attempts = 0;
    this.retries = 0;
    this.duplicateAcks = 0;
    this.errorAcks = {};
    this.received = new Map(); // message id -> {via, liveCount, seq, client_id}
    this.liveDuplicates = [];
    this.syncOverlap = 0;
    this.lastSeq = 0;
    this.seqs = new Set();
    this.connects = 0;
    this.disconnects = {};
    this.connectErrors = 0;
    this.syncs = 0;
    this.syncing = Promise.resolve();
    this.socket = io(GATEWAY, {
      auth: { token },
      transports,
      forceNew: true,
      reconnection: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 2000,
      randomizationFactor: 0.5,
      timeout: 10000,
    });
    const s = this.socket;
    s.on("connect", () => {
      this.connects++;
      log(`${name}: connected (${s.io.engine.transport.name}, sid ${s.io.engine.id})`);
      this.syncing = this.sync();
    });
    s.on("disconnect", (reason) => {
      this.disconnects[reason] = (this.disconnects[reason] || 0) + 1;
      log(`${name}: disconnected (${reason})`);
      // The server closing the socket (a draining node) is not retried by socket.io-client itself.
      if (reason === "io server disconnect") setTimeout(() => s.connect(), 200);
    });
    s.on("connect_error", (e) => {
      this.connectErrors++;
      log(`${name}: connect_error ${e.message}`);
      if (!s.active) setTimeout(() => s.connect(), 500);
    });
    s.on("message:new", (m) => this.take(m, "live"));
  }

  take(m, via) {
    if (m.conversation_id !== CONV || m.sender_id === this.userId) return;
    const seen = this.received.get(m.id);
    if (seen) {
      if (via === "live") {
        seen.liveCount++;
        if (seen.liveCount > 1) this.liveDuplicates.push({ id: m.id, seq: m.seq, client_id: m.client_id });
      } else {
        this.syncOverlap++;
      }
      return;
    }
    this.received.set(m.id, { via, liveCount: via === "live" ? 1 : 0, seq: m.seq, client_id: m.client_id });
    this.know(m.seq);
  }

  // The sync position is the end of the gap-free run of seqs seen (own acks and received
  // messages), so a message missed live is fetched by the next sync.
  know(seq) {
    this.seqs.add(seq);
    while (this.seqs.has(this.lastSeq + 1)) this.seqs.delete(++this.lastSeq);
  }

  async sync() {
    for (let round = 0; round < 1000 && this.socket.connected; round++) {
      let ack;
      try {
        ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("sync", { after: { [CONV]: this.lastSeq }, limit: 100 });
      } catch (e) {
        log(`${this.name}: sync timed out`);
        return;
      }
      if (!ack.ok) {
        log(`${this.name}: sync answered ${JSON.stringify(ack.error)}`);
        return;
      }
      this.syncs++;
      for (const m of ack.messages) {
        this.take(m, "sync");
        if (m.conversation_id === CONV) this.know(m.seq);
      }
      if (!ack.has_more) return;
    }
  }

  async waitConnected() {
    while (!this.socket.connected) await sleep(50);
  }

  // Sends one message until it is acked, always with the same client_id.
  async send(clientId, body) {
    for (;;) {
      await this.waitConnected();
      this.attempts++;
      let ack;
      try {
        ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("message:send", { conversation_id: CONV, client_id: clientId, body });
      } catch (e) {
        this.retries++;
        log(`${this.name}: no ack for ${clientId} (${e.message}); sending it again`);
        continue;
      }
      if (ack.ok) {
        if (ack.duplicate) this.duplicateAcks++;
        const prev = this.acked.get(clientId);
        if (prev && (prev.id !== ack.message.id || prev.seq !== ack.message.seq)) {
          throw new Error(`${clientId} acked twice with different messages: ${JSON.stringify(prev)} and ${JSON.stringify(ack.message)}`);
        }
        this.acked.set(clientId, { id: ack.message.id, seq: ack.message.seq });
        this.know(ack.message.seq);
        return;
      }
      const code = ack.error && ack.error.code;
      this.errorAcks[code] = (this.errorAcks[code] || 0) + 1;
      this.retries++;
      if (code === "rate_limited") await sleep(Math.max(100, ack.error.retry_after_ms || 1000));
      else if (code === "unavailable") await sleep(300);
      else throw new Error(`${this.name}: ${clientId} refused: ${JSON.stringify(ack)}`);
    }
  }

  async sendLoop(stop) {
    let i = 0;
    while (!stop()) {
      const clientId = `${this.name}-${String(i).padStart(5, "0")}`;
      await this.send(clientId, `message ${i} from ${this.name}`);
      i++;
      await sleep(SEND_GAP_MS);
    }
  }

  summary() {
    let live = 0, viaSync = 0;
    for (const r of this.received.values()) (r.via === "live" ? live++ : viaSync++);
    return {
      acked: this.acked.size,
      attempts: this.attempts,
      retries: this.retries,
      duplicate_acks: this.duplicateAcks,
      error_acks: this.errorAcks,
      received: this.received.size,
      received_live: live,
      received_via_sync: viaSync,
      live_duplicates: this.liveDuplicates.length,
      sync_overlap: this.syncOverlap,
      connects: this.connects,
      disconnects: this.disconnects,
      connect_errors: this.connectErrors,
      syncs: this.syncs,
    };
  }
}

async function history(token) {
  const all = [];
  let after = 0;
  for (;;) {
    const res = await fetch(`${GATEWAY}/api/conversations/${CONV}/messages?after_seq=${after}&limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw new Error(`history: ${res.status} ${await res.text()}`);
    const page = await res.json();
    all.push(...page.messages);
    if (!page.has_more || page.messages.length === 0) return all;
    after = page.messages[page.messages.length - 1].seq;
  }
}

async function main() {
  // A long-polls only (its session must stay on its node); B takes the default polling → WebSocket.
  const a = new Peer("a", env("TOKEN_A"), env("USER_A"), ["polling"]);
  const b = new Peer("b", env("TOKEN_B"), env("USER_B"), ["polling", "websocket"]);
  const peers = [a, b];
  const stop = () => fs.existsSync(STOP_FILE);
  const progress = setInterval(() => {
    const p = Object.fromEntries(peers.map((x) => [x.name, { acked: x.acked.size, received: x.received.size, connects: x.connects }]));
    fs.writeFileSync(PROGRESS_FILE + ".tmp", JSON.stringify(p));
    fs.renameSync(PROGRESS_FILE + ".tmp", PROGRESS_FILE);
  }, 500);

  await Promise.all(peers.map((p) => p.waitConnected()));
  await Promise.all(peers.map((p) => p.sendLoop(stop)));
  log("sending stopped; waiting for every message to arrive");

  const [[x, y], [y2, x2]] = [[a, b], [b, a]];
  const complete = () => [...x.acked.values()].every((m) => y.received.has(m.id)) && [...y2.acked.values()].every((m) => x2.received.has(m.id));
  const deadline = Date.now() + RECEIVE_WAIT_MS;
  while (!complete() && Date.now() < deadline) await sleep(100);
  clearInterval(progress);

  const stored = await history(env("TOKEN_A"));
  const failures = [];
  // Seqs 1..n without gaps.
  stored.forEach((m, i) => {
    if (m.seq !== i + 1) failures.push(`history position ${i} has seq ${m.seq}`);
  });
  const byClient = new Map();
  for (const m of stored) {
    const key = `${m.sender_id}/${m.client_id}`;
    byClient.set(key, [...(byClient.get(key) || []), m]);
  }
  let duplicated = 0, lost = 0, mismatched = 0, unacked = 0;
  for (const [key, ms] of byClient) if (ms.length > 1) { duplicated += ms.length - 1; failures.push(`stored ${ms.length} times: ${key}`); }
  const ackedKeys = new Set();
  for (const p of peers) {
    for (const [cid, ack] of p.acked) {
      const key = `${p.userId}/${cid}`;
      ackedKeys.add(key);
      const ms = byClient.get(key) || [];
      if (ms.length === 0) { lost++; failures.push(`acked but not stored: ${cid} ${JSON.stringify(ack)}`); }
      else if (ms[0].id !== ack.id || ms[0].seq !== ack.seq) { mismatched++; failures.push(`${cid} acked as ${JSON.stringify(ack)}, stored as id ${ms[0].id} seq ${ms[0].seq}`); }
    }
  }
  for (const key of byClient.keys()) if (!ackedKeys.has(key)) { unacked++; failures.push(`stored but never acked: ${key}`); }
  // Receivers.
  const receive = {};
  for (const [sender, receiver] of [[a, b], [b, a]]) {
    let missing = 0;
    for (const [cid, ack] of sender.acked) if (!receiver.received.has(ack.id)) { missing++; if (missing <= 10) failures.push(`${receiver.name} never got ${cid} (seq ${ack.seq})`); }
    const expected = new Set([...sender.acked.values()].map((m) => m.id));
    const extra = [...receiver.received.keys()].filter((id) => !expected.has(id)).length;
    if (extra) failures.push(`${receiver.name} got ${extra} messages nobody acked`);
    if (receiver.liveDuplicates.length) failures.push(`${receiver.name} got ${receiver.liveDuplicates.length} messages twice live: ${JSON.stringify(receiver.liveDuplicates.slice(0, 5))}`);
    receive[receiver.name] = { missing, extra };
  }
  const result = {
    ok: failures.length === 0,
    stored: stored.length,
    acked: a.acked.size + b.acked.size,
    lost, duplicated, mismatched, stored_unacked: unacked,
    missing_at_receiver: receive,
    a: a.summary(),
    b: b.summary(),
    failures: failures.slice(0, 40),
  };
  for (const p of peers) p.socket.close();
  console.log(JSON.stringify(result));
  return result.ok;
}

main().then((ok) => process.exit(ok ? 0 : 1), (e) => { console.error(e.stack || e.message); process.exit(2); });
