// The clients of the fault suite (scripts/chaos.sh): USERS accounts chatting one-to-one and in
// groups through the gateway at a steady RATE (messages per second, all clients together) while
// the script kills and restarts services and backends, and a stream of registrations whose codes
// must all arrive by mail. Each client behaves as the web app does: it sends with a client_id,
// waits for the ack, and on a timeout, an error ack or a reconnect sends the same client_id
// again; after every (re)connect, and soon after a live message that shows a gap, it calls `sync`
// from the last gap-free seq it saw in each of its conversations.
//
// 1. Registers USERS accounts through the gateway (codes read from the SMTP sink's mails with
//    scripts/mail_codes.py), verifies them, logs them in, pairs them into direct conversations
//    and groups of GROUP_SIZE, connects every socket, then writes READY_FILE.
// 2. Chats and registers until STOP_FILE appears, writing counts to PROGRESS_FILE every 500 ms.
// 3. Waits up to RECEIVE_WAIT_MS for every member to have every message, and up to MAIL_WAIT_MS
//    for the code of every acknowledged registration, then checks:
//      every acked message is stored exactly once, under the id and seq its ack gave, with seqs
//      1..n without gaps in each conversation and nothing stored that was never acked;
//      every other member got every message exactly once (live `message:new` or `sync`), never
//      twice live; live delivery came back after every fault (some message received live
//      between its end and the next fault);
//      every registration that was answered 202 got its code, and the code verifies the account;
//    and, for each fault the script recorded in FAULTS_FILE (JSON lines {name, start_ms,
//    end_ms}), how long sends stopped: per client, the longest time between two acks that
//    overlaps the fault; p50 and max over clients. For the mail fault, how late the codes of the
//    registrations made meanwhile arrived.
// The result goes to stdout as one JSON line. Exit 0 only if every check passed.
// Environment: GATEWAY, USERS, RATE, GROUP_SIZE (5), SUFFIX, MAIL_DIR, STOP_FILE, READY_FILE,
// PROGRESS_FILE, FAULTS_FILE, REG_INTERVAL_MS (1000), RECEIVE_WAIT_MS (90000), MAIL_WAIT_MS (120000).
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const { io } = createRequire(import.meta.url)("../clients/node_modules/socket.io-client");
const HERE = path.dirname(fileURLToPath(import.meta.url));

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const GATEWAY = env("GATEWAY");
const USERS = Number(env("USERS"));
const RATE = Number(env("RATE"));
const GROUP_SIZE = Number(env("GROUP_SIZE", "5"));
const SUFFIX = env("SUFFIX");
const MAIL_DIR = env("MAIL_DIR");
const STOP_FILE = env("STOP_FILE");
const READY_FILE = env("READY_FILE");
const PROGRESS_FILE = env("PROGRESS_FILE");
const FAULTS_FILE = env("FAULTS_FILE");
const REG_INTERVAL_MS = Number(env("REG_INTERVAL_MS", "1000"));
const RECEIVE_WAIT_MS = Number(env("RECEIVE_WAIT_MS", "90000"));
const MAIL_WAIT_MS = Number(env("MAIL_WAIT_MS", "120000"));
const ACK_TIMEOUT_MS = 5000;
const PASSWORD = "chaos-test-password-1";
// Error acks that a retry may cure; anything else is a failure of the test.
const TRANSIENT = new Set(["unavailable", "internal", "rate_limited"]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(new Date().toISOString(), ...a);
const stopped = () => fs.existsSync(STOP_FILE);

function writeJson(file, value) {
  fs.writeFileSync(file + ".tmp", JSON.stringify(value));
  fs.renameSync(file + ".tmp", file);
}

// ---- REST ------------------------------------------------------------------------------------
async function api(method, p, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(GATEWAY + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(20000) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// The same request until it answers 2xx (setup only; a backend may still be warming up).
async function apiOk(method, p, body, token) {
  for (let i = 0; ; i++) {
    let r;
    try { r = await api(method, p, body, token); } catch (e) { r = { status: 0, text: e.message }; }
    if (r.status >= 200 && r.status < 300) return r.json;
    if (i >= 20 || (r.status >= 400 && r.status < 500 && r.status !== 429)) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
    await sleep(500);
  }
}

function mailCodes() {
  return JSON.parse(execFileSync("python3", [path.join(HERE, "../../scripts/mail_codes.py"), MAIL_DIR], { encoding: "utf8", maxBuffer: 64 << 20 }));
}

// Runs fn over items with at most `width` at a time.
async function pool(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
  }));
  return out;
}

// ---- a client --------------------------------------------------------------------------------
class Client {
  constructor(index, token, userId, transports) {
    this.name = `u${index}`;
    this.userId = userId;
    this.token = token;
    this.transports = transports;
    this.convs = []; // conversation ids this client sends to
    this.acked = new Map(); // client_id -> {conv, id, seq}
    this.ackTimes = []; // ms of every ack, in order
    this.attempts = 0;
    this.retries = 0;
    this.duplicateAcks = 0;
    this.errorAcks = {};
    this.received = new Map(); // message id -> {via, liveCount, conv, seq}
    this.liveTimes = []; // ms of every message received live
    this.syncTimer = null;
    this.liveDuplicates = [];
    this.syncOverlap = 0;
    this.pos = new Map(); // conv -> {last, seen: Set of seqs past last}
    this.connects = 0;
    this.disconnects = {};
    this.connectErrors = 0;
    this.syncs = 0;
    this.syncFailures = 0;
  }

  connect() {
    this.socket = io(GATEWAY, {
      auth: { token: this.token },
      transports: this.transports,
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
      this.sync("connect");
    });
    s.on("disconnect", (reason) => {
      this.disconnects[reason] = (this.disconnects[reason] || 0) + 1;
      // The server closing the socket (a draining node) is not retried by socket.io-client itself.
      if (reason === "io server disconnect") setTimeout(() => s.connect(), 200);
    });
    s.on("connect_error", (e) => {
      this.connectErrors++;
      if (this.connectErrors <= 3 || this.connectErrors % 50 === 0) log(`${this.name}: connect_error ${e.message} (${this.connectErrors})`);
      if (!s.active) setTimeout(() => s.connect(), 500);
    });
    s.on("message:new", (m) => this.take(m, "live"));
  }

  position(conv) {
    let p = this.pos.get(conv);
    if (!p) { p = { last: 0, seen: new Set() }; this.pos.set(conv, p); }
    return p;
  }

  // The sync position of a conversation is the end of the gap-free run of seqs seen (own acks
  // and received messages), so a message missed live is fetched by the next sync.
  know(conv, seq) {
    const p = this.position(conv);
    if (seq <= p.last) return;
    p.seen.add(seq);
    while (p.seen.has(p.last + 1)) p.seen.delete(++p.last);
  }

  take(m, via) {
    if (!this.pos.has(m.conversation_id)) return;
    // As the web app does: a live message past a gap means something was missed; catch up soon
    // (several gaps share one sync).
    if (via === "live" && m.seq > this.position(m.conversation_id).last + 1 && !this.syncTimer) {
      this.syncTimer = setTimeout(() => { this.syncTimer = null; if (this.socket.connected) this.sync("gap"); }, 300);
    }
    this.know(m.conversation_id, m.seq);
    if (m.sender_id === this.userId) return;
    const seen = this.received.get(m.id);
    if (seen) {
      if (via === "live") {
        seen.liveCount++;
        if (seen.liveCount > 1) this.liveDuplicates.push({ id: m.id, conv: m.conversation_id, seq: m.seq });
      } else {
        this.syncOverlap++;
      }
      return;
    }
    if (via === "live") this.liveTimes.push(Date.now());
    this.received.set(m.id, { via, liveCount: via === "live" ? 1 : 0, conv: m.conversation_id, seq: m.seq });
  }

  // why: "connect" after every (re)connect, "gap" after a gap in live messages, "final" in the
  // last wait (messages received only so are counted apart).
  async sync(why = "connect") {
    for (let round = 0; round < 1000 && this.socket.connected; round++) {
      const after = Object.fromEntries([...this.pos].map(([c, p]) => [c, p.last]));
      let ack;
      try {
        ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("sync", { after, limit: 100 });
      } catch {
        this.syncFailures++;
        return;
      }
      if (!ack.ok) {
        this.syncFailures++;
        return;
      }
      this.syncs++;
      for (const m of ack.messages) this.take(m, why === "final" ? "final sync" : "sync");
      if (!ack.has_more) return;
    }
  }

  async waitConnected() {
    while (!this.socket.connected) await sleep(50);
  }

  // Sends one message until it is acked, always with the same client_id.
  async send(conv, clientId, body) {
    for (;;) {
      await this.waitConnected();
      this.attempts++;
      let ack;
      try {
        ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("message:send", { conversation_id: conv, client_id: clientId, body });
      } catch {
        this.retries++;
        continue;
      }
      if (ack.ok) {
        if (ack.duplicate) this.duplicateAcks++;
        const prev = this.acked.get(clientId);
        if (prev && (prev.id !== ack.message.id || prev.seq !== ack.message.seq)) {
          throw new Error(`${this.name} ${clientId} acked twice with different messages: ${JSON.stringify(prev)} and ${JSON.stringify(ack.message)}`);
        }
        this.acked.set(clientId, { conv, id: ack.message.id, seq: ack.message.seq });
        this.ackTimes.push(Date.now());
        this.know(conv, ack.message.seq);
        return;
      }
      const code = ack.error && ack.error.code;
      this.errorAcks[code] = (this.errorAcks[code] || 0) + 1;
      this.retries++;
      if (!TRANSIENT.has(code)) throw new Error(`${this.name}: ${clientId} refused: ${JSON.stringify(ack)}`);
      await sleep(code === "rate_limited" ? Math.max(100, ack.error.retry_after_ms || 1000) : 300);
    }
  }

  // One message every `gap` ms (on a fixed schedule: a slow ack is not made up for by a burst),
  // to each of this client's conversations in turn.
  async sendLoop(gap) {
    await sleep(Math.random() * gap);
    let i = 0;
    let next = Date.now();
    while (!stopped()) {
      const conv = this.convs[i % this.convs.length];
      await this.send(conv, `${this.name}-${String(i).padStart(6, "0")}`, `message ${i} from ${this.name}`);
      i++;
      next = Math.max(next + gap, Date.now());
      await sleep(next - Date.now());
    }
  }
}

// ---- registrations that go on through the faults ---------------------------------------------
class Registrations {
  constructor() {
    this.done = []; // {email, at_ms}, one per 202
    this.failedAttempts = {};
  }

  async loop() {
    for (let k = 0; !stopped(); k++) {
      const email = `chaos-reg-${k}-${SUFFIX}@example.com`;
      const t = Date.now();
      // The same address again until the gateway answers 202 (a retry of a registration that
      // did happen is a second registration with its own code; both codes must arrive).
      while (!stopped()) {
        let r;
        try { r = await api("POST", "/api/auth/register", { email, password: PASSWORD, display_name: `Chaos reg ${k}` }); } catch (e) { r = { status: 0, text: e.message }; }
        if (r.status === 202) { this.done.push({ email, at_ms: Date.now() }); break; }
        const key = String(r.status);
        this.failedAttempts[key] = (this.failedAttempts[key] || 0) + 1;
        if (r.status >= 400 && r.status < 500 && r.status !== 429) throw new Error(`register ${email}: ${r.status} ${r.text}`);
        await sleep(500);
      }
      await sleep(Math.max(0, REG_INTERVAL_MS - (Date.now() - t)));
    }
  }
}

// ---- set-up ----------------------------------------------------------------------------------
async function setup() {
  const emails = Array.from({ length: USERS }, (_, i) => `chaos-u${i}-${SUFFIX}@example.com`);
  await pool(emails, 8, (email, i) => apiOk("POST", "/api/auth/register", { email, password: PASSWORD, display_name: `Chaos u${i}` }));
  let codes;
  const deadline = Date.now() + 120000;
  for (;;) {
    codes = mailCodes();
    if (emails.every((e) => codes[e])) break;
    if (Date.now() > deadline) throw new Error(`codes never arrived for ${emails.filter((e) => !codes[e]).join(", ")}`);
    await sleep(500);
  }
  const sessions = await pool(emails, 8, (email) => apiOk("POST", "/api/auth/verify", { email, otp: codes[email].at(-1).code, password: PASSWORD }));
  // One third long-polls only (each session must stay on the node that made it); the rest start
  // on polling and upgrade to WebSocket, as the web app does.
  const clients = sessions.map((s, i) => new Client(i, s.access_token, s.user.id, i % 3 === 0 ? ["polling"] : ["polling", "websocket"]));
  const convs = [];
  for (let i = 0; i + 1 < clients.length; i += 2) {
    const [a, b] = [clients[i], clients[i + 1]];
    const c = await apiOk("POST", "/api/conversations", { kind: "direct", user_id: b.userId }, a.token);
    convs.push({ id: c.id, kind: "direct", members: [a, b] });
  }
  // Groups of about GROUP_SIZE: client i is in group i mod (number of groups).
  const nGroups = Math.max(1, Math.floor(clients.length / GROUP_SIZE));
  for (let g = 0; g < nGroups; g++) {
    const members = clients.filter((_, i) => i % nGroups === g);
    const c = await apiOk("POST", "/api/conversations", { kind: "group", name: `chaos ${g}`, member_ids: members.slice(1).map((m) => m.userId) }, members[0].token);
    convs.push({ id: c.id, kind: "group", members });
  }
  for (const c of convs) for (const m of c.members) { m.convs.push(c.id); m.position(c.id); }
  for (const c of clients) c.connect();
  await Promise.all(clients.map((c) => c.waitConnected()));
  return { clients, convs };
}

// ---- checks ----------------------------------------------------------------------------------
async function history(conv, token) {
  const all = [];
  let after = 0;
  for (;;) {
    const r = await apiOk("GET", `/api/conversations/${conv}/messages?after_seq=${after}&limit=100`, undefined, token);
    all.push(...r.messages);
    if (!r.has_more || r.messages.length === 0) return all;
    after = r.messages.at(-1).seq;
  }
}

function quantile(xs, q) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
}

// Per client, the longest time between two consecutive acks of its own that overlaps
// [start, end] (so it includes the normal time between two sends).
function pauses(clients, start, end) {
  const out = [];
  for (const c of clients) {
    const t = c.ackTimes;
    let worst = 0;
    for (let i = 0; i + 1 < t.length; i++) {
      if (t[i + 1] < start || t[i] > end) continue;
      worst = Math.max(worst, t[i + 1] - t[i]);
    }
    out.push(worst);
  }
  return out;
}

async function main() {
  const t0 = Date.now();
  const { clients, convs } = await setup();
  log(`set up ${clients.length} clients, ${convs.filter((c) => c.kind === "direct").length} direct conversations and ${convs.filter((c) => c.kind === "group").length} groups in ${Date.now() - t0} ms`);
  const regs = new Registrations();
  const progress = () => writeJson(PROGRESS_FILE, {
    acked: clients.reduce((n, c) => n + c.acked.size, 0),
    received: clients.reduce((n, c) => n + c.received.size, 0),
    connected: clients.filter((c) => c.socket.connected).length,
    connects: clients.reduce((n, c) => n + c.connects, 0),
    registrations: regs.done.length,
  });
  progress();
  const timer = setInterval(progress, 500);
  fs.writeFileSync(READY_FILE, "");

  const gap = (clients.length * 1000) / RATE;
  const sendStart = Date.now();
  await Promise.all([...clients.map((c) => c.sendLoop(gap)), regs.loop()]);
  const sendSecs = (Date.now() - sendStart) / 1000;
  log("sending stopped; waiting for every message and every code to arrive");

  // Every member must get every message; the last few may still be on their way.
  const expected = []; // [receiver, message id]
  for (const c of convs) for (const s of c.members) for (const m of s.acked.values()) if (m.conv === c.id) for (const r of c.members) if (r !== s) expected.push([r, m.id]);
  const complete = () => expected.every(([r, id]) => r.received.has(id));
  let deadline = Date.now() + RECEIVE_WAIT_MS;
  let finalSynced = false;
  while (!complete() && Date.now() < deadline) {
    await sleep(500);
    // Halfway through, a client that still misses messages asks once more (the last message of a
    // conversation missed live leaves no gap for a later one to show); counted apart.
    if (!finalSynced && Date.now() > deadline - RECEIVE_WAIT_MS / 2) {
      finalSynced = true;
      for (const c of clients) if (c.socket.connected) c.sync("final");
    }
  }
  clearInterval(timer);
  progress();

  let codes = mailCodes();
  const wantCodes = () => regs.done.filter((r) => (codes[r.email] || []).length < regs.done.filter((x) => x.email === r.email).length);
  deadline = Date.now() + MAIL_WAIT_MS;
  while (wantCodes().length && Date.now() < deadline) { await sleep(1000); codes = mailCodes(); }

  const failures = [];
  // Stored: per conversation, seqs 1..n, each acked (sender, client_id) once with its ack's id and seq.
  let stored = 0, acked = 0, lost = 0, duplicated = 0, mismatched = 0, unacked = 0, gaps = 0;
  for (const c of convs) {
    const h = await history(c.id, c.members[0].token);
    stored += h.length;
    h.forEach((m, i) => { if (m.seq !== i + 1) { gaps++; if (gaps <= 5) failures.push(`${c.kind} ${c.id}: position ${i} has seq ${m.seq}`); } });
    const byKey = new Map();
    for (const m of h) { const k = `${m.sender_id}/${m.client_id}`; byKey.set(k, [...(byKey.get(k) || []), m]); }
    for (const [k, ms] of byKey) if (ms.length > 1) { duplicated += ms.length - 1; failures.push(`stored ${ms.length} times: ${k}`); }
    const ackedKeys = new Set();
    for (const s of c.members) {
      for (const [cid, a] of s.acked) {
        if (a.conv !== c.id) continue;
        acked++;
        const k = `${s.userId}/${cid}`;
        ackedKeys.add(k);
        const ms = byKey.get(k) || [];
        if (!ms.length) { lost++; failures.push(`acked but not stored: ${s.name} ${cid} ${JSON.stringify(a)}`); }
        else if (ms[0].id !== a.id || ms[0].seq !== a.seq) { mismatched++; failures.push(`${s.name} ${cid} acked as ${JSON.stringify(a)}, stored as ${ms[0].id} seq ${ms[0].seq}`); }
      }
    }
    for (const k of byKey.keys()) if (!ackedKeys.has(k)) { unacked++; failures.push(`stored but never acked: ${k}`); }
  }
  // Received: every other member, exactly once.
  let missing = 0, liveDuplicates = 0, extra = 0, live = 0, viaSync = 0, viaFinal = 0;
  for (const [r, id] of expected) if (!r.received.has(id)) { missing++; if (missing <= 10) failures.push(`${r.name} never got ${id}`); }
  const expectedBy = new Map(clients.map((c) => [c, new Set()]));
  for (const [r, id] of expected) expectedBy.get(r).add(id);
  for (const c of clients) {
    for (const [id, x] of c.received) { if (!expectedBy.get(c).has(id)) extra++; x.via === "live" ? live++ : x.via === "sync" ? viaSync++ : viaFinal++; }
    liveDuplicates += c.liveDuplicates.length;
    if (c.liveDuplicates.length) failures.push(`${c.name} got ${c.liveDuplicates.length} messages twice live: ${JSON.stringify(c.liveDuplicates.slice(0, 3))}`);
  }
  if (extra) failures.push(`${extra} messages received that nobody acked`);
  // Registrations: every code arrived and verifies its account.
  const noCode = wantCodes();
  for (const r of noCode.slice(0, 10)) failures.push(`no code arrived for ${r.email} (registered at ${new Date(r.at_ms).toISOString()})`);
  const addresses = [...new Set(regs.done.map((r) => r.email))];
  const verifyFailed = [];
  await pool(addresses.filter((e) => codes[e]), 4, async (email) => {
    const r = await api("POST", "/api/auth/verify", { email, otp: codes[email].at(-1).code, password: PASSWORD });
    if (r.status !== 200) verifyFailed.push(`${email}: ${r.status} ${r.text}`);
  });
  for (const v of verifyFailed.slice(0, 10)) failures.push(`verify ${v}`);

  // How long each fault stopped sends.
  const faults = fs.existsSync(FAULTS_FILE) ? fs.readFileSync(FAULTS_FILE, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  const faultStats = faults.map((f, i) => {
    const p = pauses(clients, f.start_ms, f.end_ms);
    // Live delivery must come back after each fault: messages received live between its end and
    // the next fault (or the stop).
    const until = i + 1 < faults.length ? faults[i + 1].start_ms : sendStart + sendSecs * 1000;
    const liveAfter = clients.reduce((n, c) => n + c.liveTimes.filter((t) => t > f.end_ms && t <= until).length, 0);
    if (liveAfter === 0) failures.push(`no message was received live after "${f.name}" (live delivery did not come back)`);
    const out = { name: f.name, secs: Math.round((f.end_ms - f.start_ms) / 100) / 10, pause_p50_ms: quantile(p, 0.5), pause_max_ms: Math.max(...p), received_live_after: liveAfter };
    if (f.name.startsWith("mail")) {
      const late = regs.done.filter((r) => r.at_ms >= f.start_ms && r.at_ms <= f.end_ms).map((r) => {
        const got = (codes[r.email] || []).filter((x) => x.at_ms >= r.at_ms - 1000);
        return got.length ? got[0].at_ms - r.at_ms : null;
      }).filter((x) => x !== null);
      Object.assign(out, { registrations: late.length, code_delay_p50_ms: quantile(late, 0.5), code_delay_max_ms: late.length ? Math.max(...late) : null });
    }
    return out;
  });
  const sum = (k) => clients.reduce((n, c) => n + c[k], 0);
  const errorAcks = {};
  for (const c of clients) for (const [k, v] of Object.entries(c.errorAcks)) errorAcks[k] = (errorAcks[k] || 0) + v;
  const result = {
    ok: failures.length === 0,
    clients: clients.length,
    conversations: { direct: convs.filter((c) => c.kind === "direct").length, group: convs.filter((c) => c.kind === "group").length },
    send_secs: Math.round(sendSecs),
    rate_per_sec: Math.round(acked / sendSecs),
    acked, stored, lost, duplicated, mismatched, stored_unacked: unacked, seq_gaps: gaps,
    deliveries_expected: expected.length,
    received: live + viaSync + viaFinal, received_live: live, received_via_sync: viaSync, received_via_final_sync: viaFinal,
    missing_at_receivers: missing, received_twice_live: liveDuplicates, received_unexpected: extra,
    sync_overlap: sum("syncOverlap"),
    attempts: sum("attempts"), retries: sum("retries"), duplicate_acks: sum("duplicateAcks"), error_acks: errorAcks,
    connects: sum("connects"), connect_errors: sum("connectErrors"), syncs: sum("syncs"), sync_failures: sum("syncFailures"),
    registrations: regs.done.length, registration_addresses: addresses.length, registration_failed_attempts: regs.failedAttempts,
    codes_missing: noCode.length, codes_verified: addresses.length - verifyFailed.length - addresses.filter((e) => !codes[e]).length, verify_failed: verifyFailed.length,
    faults: faultStats,
    failures: failures.slice(0, 40),
  };
  for (const c of clients) c.socket.close();
  console.log(JSON.stringify(result));
  return result.ok;
}

main().then((ok) => process.exit(ok ? 0 : 1), (e) => { console.error(e.stack || e.message); process.exit(2); });
