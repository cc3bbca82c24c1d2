'use strict';
// The Node.js peer of SPEC §7: a small Socket.IO 4.8 chat server doing the work ChatSync's
// send path does, so `chatsync-bench` can drive both with the same load in one invocation.
// What it does and what it leaves out: README.md beside this file.
//
// Environment:
//   PORT, HOST      where to listen (default 127.0.0.1:3000)
//   JWT_SECRET      HS256 secret of the access tokens (default: random per start)
//   DATABASE_URL    PostgreSQL database (already created, empty); unset = in memory
//   PG_POOL_MAX     PostgreSQL connections (default 20, as the bench gives ChatSync)

const http = require('node:http');
const crypto = require('node:crypto');
const { Server } = require('socket.io');
const jwt = require('jsonwebtoken');

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const SECRET = process.env.JWT_SECRET || crypto.randomBytes(32).toString('hex');
const DATABASE_URL = process.env.DATABASE_URL || '';
const PG_POOL_MAX = Number(process.env.PG_POOL_MAX || 20);
const MAX_BODY = 4000; // characters, as SPEC §6
const MAX_CLIENT_ID = 128;
// In memory, what is kept is bounded so a long run measures the send path, not a growing heap:
// the newest messages of each conversation (history) and each sender's newest idempotency keys.
const HISTORY_PER_CONVERSATION = 1000;
const KEYS_PER_SENDER = 1000;

const room = (userId) => `user:${userId}`;

// conversation id -> { id, kind, members: [user ids], memberSet, rooms, seq, history }
const conversations = new Map();
// "low|high" -> conversation id, so a pair has one direct conversation
const directs = new Map();
// sender id -> Map(client_id -> message), in insertion order (in-memory mode only)
const sentKeys = new Map();

let pool = null;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS conversation (
    conversation_id   uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('direct', 'group')),
    name              text,
    created_by        uuid NOT NULL,
    created_at        timestamptz NOT NULL,
    last_seq          bigint NOT NULL DEFAULT 0,
    last_activity_at  timestamptz NOT NULL,
    direct_low        uuid,
    direct_high       uuid,
    UNIQUE (direct_low, direct_high)
);
CREATE TABLE IF NOT EXISTS member (
    conversation_id  uuid NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    user_id          uuid NOT NULL,
    role             text NOT NULL,
    joined_at        timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE IF NOT EXISTS message (
    message_id       uuid PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    sender_id        uuid NOT NULL,
    client_id        text NOT NULL,
    body             text NOT NULL,
    attachments      jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_id)
);`;

function publicMessage(m) {
  return {
    id: m.id,
    conversation_id: m.conversation_id,
    seq: m.seq,
    sender_id: m.sender_id,
    client_id: m.client_id,
    body: m.body,
    attachments: [],
    created_at: m.created_at,
    edited_at: null,
    deleted: false,
    reactions: [],
  };
}

function error(code, message) {
  return { ok: false, error: { code, message } };
}

// ---- the send path -------------------------------------------------------------------------

// In memory: seq from the conversation, idempotency from the sender's recent keys.
function appendInMemory(conv, sender, clientId, body) {
  let keys = sentKeys.get(sender);
  if (!keys) {
    keys = new Map();
    sentKeys.set(sender, keys);
  }
  const earlier = keys.get(clientId);
  if (earlier) return { message: earlier, fresh: false };
  conv.seq += 1;
  const message = publicMessage({
    id: crypto.randomUUID(),
    conversation_id: conv.id,
    seq: conv.seq,
    sender_id: sender,
    client_id: clientId,
    body,
    created_at: new Date().toISOString(),
  });
  keys.set(clientId, message);
  if (keys.size > KEYS_PER_SENDER) keys.delete(keys.keys().next().value);
  conv.history.push(message);
  if (conv.history.length > HISTORY_PER_CONVERSATION) conv.history.shift();
  return { message, fresh: true };
}

// On PostgreSQL: one transaction per message. The conversation row's counter gives the next
// seq (its row lock orders concurrent sends); the unique (sender_id, client_id) makes a retried
// send find the message stored the first time, and the transaction rolls back so no seq is
// skipped. Committed before the ack.
async function appendInPostgres(conv, sender, clientId, body) {
  const client = await pool.connect();
  let open = false;
  try {
    await client.query('BEGIN');
    open = true;
    const bumped = await client.query({
      name: 'bump',
      text: `UPDATE conversation SET last_seq = last_seq + 1, last_activity_at = now()
             WHERE conversation_id = $1 RETURNING last_seq`,
      values: [conv.id],
    });
    const seq = Number(bumped.rows[0].last_seq);
    const inserted = await client.query({
      name: 'insert',
      text: `INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id, body,
                                  created_at)
             VALUES ($1, $2, $3, $4, $5, $6, now())
             ON CONFLICT (sender_id, client_id) DO NOTHING
             RETURNING message_id, created_at`,
      values: [crypto.randomUUID(), conv.id, seq, sender, clientId, body],
    });
    if (inserted.rows.length === 0) {
      await client.query('ROLLBACK');
      open = false;
      const found = await client.query({
        name: 'earlier',
        text: `SELECT message_id, seq, body, created_at FROM message
               WHERE sender_id = $1 AND client_id = $2`,
        values: [sender, clientId],
      });
      const r = found.rows[0];
      return {
        message: publicMessage({
          id: r.message_id,
          conversation_id: conv.id,
          seq: Number(r.seq),
          sender_id: sender,
          client_id: clientId,
          body: r.body,
          created_at: r.created_at.toISOString(),
        }),
        fresh: false,
      };
    }
    await client.query('COMMIT');
    open = false;
    const r = inserted.rows[0];
    return {
      message: publicMessage({
        id: r.message_id,
        conversation_id: conv.id,
        seq,
        sender_id: sender,
        client_id: clientId,
        body,
        created_at: r.created_at.toISOString(),
      }),
      fresh: true,
    };
  } finally {
    if (open) await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}

// Sends to one conversation are handled one after another, so message:new events leave in seq
// order (as ChatSync guarantees); different conversations proceed concurrently.
const tails = new Map();
function inOrder(convId, work) {
  const prev = tails.get(convId) || Promise.resolve();
  const next = prev.then(work, work);
  const tail = next.catch(() => {});
  tails.set(convId, tail);
  tail.then(() => {
    if (tails.get(convId) === tail) tails.delete(convId);
  });
  return next;
}

function onSend(socket, payload, ack) {
  if (typeof ack !== 'function') return;
  const userId = socket.data.userId;
  if (!payload || typeof payload !== 'object') {
    return ack(error('bad_request', 'payload must be an object'));
  }
  const { conversation_id: convId, client_id: clientId, body } = payload;
  if (typeof convId !== 'string' || typeof clientId !== 'string' || typeof body !== 'string') {
    return ack(error('bad_request', 'conversation_id, client_id and body are strings'));
  }
  if (clientId.length === 0 || clientId.length > MAX_CLIENT_ID) {
    return ack(error('bad_request', 'client_id must be 1 to 128 characters'));
  }
  if (body.trim().length === 0 || body.length > MAX_BODY) {
    return ack(error('bad_request', 'body must be 1 to 4000 characters'));
  }
  const conv = conversations.get(convId);
  if (!conv || !conv.memberSet.has(userId)) {
    return ack(error('not_found', 'conversation not found'));
  }
  const deliver = ({ message, fresh }) => {
    ack({ ok: true, message });
    // Every socket of every member (the sender's other devices too) except the sending one.
    if (fresh) socket.to(conv.rooms).emit('message:new', message);
  };
  if (!pool) return deliver(appendInMemory(conv, userId, clientId, body));
  inOrder(conv.id, () => appendInPostgres(conv, userId, clientId, body)).then(
    deliver,
    (e) => {
      console.error('append failed:', e.message);
      ack(error('unavailable', 'could not store the message'));
    },
  );
}

// ---- setup API for the load generator ------------------------------------------------------

function authUser(req) {
  const h = req.headers.authorization || '';
  if (!h.startsWith('Bearer ')) return null;
  try {
    return jwt.verify(h.slice(7), SECRET, { algorithms: ['HS256'] }).sub;
  } catch {
    return null;
  }
}

function mintUsers(count) {
  const users = [];
  for (let i = 0; i < count; i++) {
    const id = crypto.randomUUID();
    const token = jwt.sign({ sub: id, sid: crypto.randomUUID() }, SECRET, {
      algorithm: 'HS256',
      expiresIn: '12h',
    });
    users.push({ id, token });
  }
  return users;
}

async function createConversation(creator, body) {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  let kind;
  let members;
  let name = null;
  let pairKey = null;
  if (body.kind === 'direct' && typeof body.user_id === 'string' && uuid.test(body.user_id)) {
    kind = 'direct';
    members = [creator, body.user_id].sort();
    pairKey = members.join('|');
    const existing = directs.get(pairKey);
    if (existing) return conversations.get(existing);
  } else if (body.kind === 'group' && Array.isArray(body.member_ids)) {
    if (!body.member_ids.every((m) => typeof m === 'string' && uuid.test(m))) return null;
    kind = 'group';
    name = typeof body.name === 'string' ? body.name : 'group';
    members = [...new Set([creator, ...body.member_ids])];
  } else {
    return null;
  }
  const conv = {
    id: crypto.randomUUID(),
    kind,
    members,
    memberSet: new Set(members),
    rooms: members.map(room),
    seq: 0,
    history: [],
  };
  if (pool) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO conversation (conversation_id, kind, name, created_by, created_at,
                                   last_activity_at, direct_low, direct_high)
         VALUES ($1, $2, $3, $4, now(), now(), $5, $6)`,
        [conv.id, kind, name, creator, pairKey ? members[0] : null, pairKey ? members[1] : null],
      );
      await client.query(
        `INSERT INTO member (conversation_id, user_id, role, joined_at)
         SELECT $1, u, CASE WHEN u = $2 THEN 'owner' ELSE 'member' END, now()
         FROM UNNEST($3::uuid[]) AS u`,
        [conv.id, creator, members],
      );
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }
  conversations.set(conv.id, conv);
  if (pairKey) directs.set(pairKey, conv.id);
  return conv;
}

function readJson(req) {
  return new Promise((resolve) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      data += c;
      if (data.length > 1 << 20) req.destroy();
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(data || '{}'));
      } catch {
        resolve(null);
      }
    });
  });
}

function reply(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}

async function handle(req, res) {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/healthz') return reply(res, 200, { ok: true });
  if (req.method === 'POST' && path === '/api/bench/users') {
    const body = await readJson(req);
    const count = body && Number.isInteger(body.count) ? body.count : 0;
    if (count < 1 || count > 100000) return reply(res, 400, error('bad_request', 'count'));
    return reply(res, 200, { users: mintUsers(count) });
  }
  if (req.method === 'POST' && path === '/api/conversations') {
    const user = authUser(req);
    if (!user) return reply(res, 401, error('unauthorized', 'bearer token required'));
    const body = await readJson(req);
    const conv = body && (await createConversation(user, body));
    if (!conv) return reply(res, 400, error('bad_request', 'kind direct or group'));
    return reply(res, 200, { id: conv.id, kind: conv.kind, member_ids: conv.members });
  }
  reply(res, 404, error('not_found', 'not found'));
}

// ---- start ---------------------------------------------------------------------------------

async function main() {
  if (DATABASE_URL) {
    const { Pool } = require('pg');
    // No idle timeout: the pool's connections (and their pinned backends) live for the run.
    pool = new Pool({ connectionString: DATABASE_URL, max: PG_POOL_MAX, idleTimeoutMillis: 0 });
    await pool.query(SCHEMA);
  }
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error('request failed:', e.message);
      if (!res.headersSent) reply(res, 500, error('internal', 'internal error'));
    });
  });
  const io = new Server(server, { serveClient: false });
  // The handshake: `auth: {token}` must be an HS256 access token, verified before connect.
  io.use((socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    try {
      const claims = jwt.verify(String(token), SECRET, { algorithms: ['HS256'] });
      socket.data.userId = claims.sub;
      next();
    } catch {
      next(new Error('unauthorized'));
    }
  });
  io.on('connection', (socket) => {
    socket.join(room(socket.data.userId));
    socket.on('message:send', (payload, ack) => onSend(socket, payload, ack));
  });
  server.listen(PORT, HOST, () => {
    console.error(`peer-node listening on ${HOST}:${PORT} (${pool ? 'PostgreSQL' : 'in memory'})`);
  });
  const stop = () => {
    io.close();
    if (pool) pool.end().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error('peer-node failed to start:', e.message);
  process.exit(1);
});
