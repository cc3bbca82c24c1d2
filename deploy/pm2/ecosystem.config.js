// ChatSync under PM2: the gateway, user, mail and N chat nodes, each `chatsync serve --only <service>`
// from one release binary, all sharing one env file. See deploy/pm2/README.md.
//
//   pm2 start deploy/pm2/ecosystem.config.js
//   pm2 reload chatsync-chat            # rolling restart of the chat nodes, one at a time
//
// Settings (environment of the `pm2` command; all optional):
//   CHATSYNC_BIN            the binary (default /usr/local/bin/chatsync)
//   CHATSYNC_ENV_FILE       the shared env file, .env style (default ./.env, i.e. where pm2 is run)
//   CHATSYNC_CWD            working directory of every process (default: the env file's directory);
//                           a relative DATA_DIR (default ./data) and WEB_DIR are resolved from here
//   CHATSYNC_CHAT_NODES     number of chat nodes (default 2)
//   CHATSYNC_GATEWAY_PORT   public port (default: PORT from the env file, else 3000)
//   CHATSYNC_USER_PORT      user service (default 3001)
//   CHATSYNC_MAIL_PORT      mail service (default 3003)
//   CHATSYNC_CHAT_PORT      first chat node; node i listens on CHATSYNC_CHAT_PORT + i - 1 (default 3011)
//   CHATSYNC_READY_WAIT_MS  how long PM2 waits after starting a process before it moves on to the
//                           next one in a reload (default 15000; see wait_ready below)
// The binary reads every ChatSync setting from the env file (`chatsync config env` lists them);
// a Node-era .env (PORT, JWT_SECRET, REDIS_URL, RABBITMQ_URL, EMAIL_USER, EMAIL_PASS) works as is.
// Several chat nodes need REDIS_URL (and RABBITMQ_URL, a shared DATABASE_URL).
"use strict";
const fs = require("fs");
const path = require("path");

const E = process.env;
const int = (name, dflt) => {
  const v = E[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not ${JSON.stringify(v)}`);
  return n;
};

// A .env file as dotenv reads it: KEY=VALUE lines, `export KEY=...`, # comments, optional quotes.
function readEnvFile(file) {
  const out = {};
  for (const raw of fs.readFileSync(file, "utf8").split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${file}: cannot read line ${JSON.stringify(raw)}`);
    let v = m[2];
    if (/^"(.*)"$/.test(v)) v = v.slice(1, -1).replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    else if (/^'(.*)'$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, "");
    out[m[1]] = v;
  }
  return out;
}

const envFile = path.resolve(E.CHATSYNC_ENV_FILE || ".env");
if (!fs.existsSync(envFile)) throw new Error(`ChatSync env file ${envFile} not found (set CHATSYNC_ENV_FILE)`);
const shared = readEnvFile(envFile);
const bin = E.CHATSYNC_BIN || "/usr/local/bin/chatsync";
const cwd = path.resolve(E.CHATSYNC_CWD || path.dirname(envFile));
const chatNodes = int("CHATSYNC_CHAT_NODES", 2);
if (chatNodes < 1) throw new Error("CHATSYNC_CHAT_NODES must be at least 1");
const gatewayPort = int("CHATSYNC_GATEWAY_PORT", shared.PORT ? Number(shared.PORT) : 3000);
const userPort = int("CHATSYNC_USER_PORT", 3001);
const mailPort = int("CHATSYNC_MAIL_PORT", 3003);
const chatPort = int("CHATSYNC_CHAT_PORT", 3011);
const readyWaitMs = int("CHATSYNC_READY_WAIT_MS", 15000);
// Stopping takes at most the shutdown deadline (30 s unless the env file changes it); PM2 must not
// SIGKILL before that, so give it 15 s more.
const deadlineSecs = Number(E.CHATSYNC__SHUTDOWN__DEADLINE_SECS || shared.CHATSYNC__SHUTDOWN__DEADLINE_SECS || 30);
const killTimeoutMs = (deadlineSecs + 15) * 1000;

// Loopback URLs of the services reach them on the host they run on.
const host = shared.HOST && shared.HOST !== "0.0.0.0" && shared.HOST !== "::" ? shared.HOST : "127.0.0.1";
const url = (port) => `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
// A shared METRICS_ADDR (host:port) cannot be bound by every process: each gets port + its offset.
const metrics = (offset) => {
  if (!shared.METRICS_ADDR) return {};
  const m = /^(.*):(\d+)$/.exec(shared.METRICS_ADDR);
  if (!m) throw new Error(`METRICS_ADDR ${shared.METRICS_ADDR} is not host:port`);
  return { METRICS_ADDR: `${m[1]}:${Number(m[2]) + offset}` };
};

const chatUrls = [];
for (let i = 1; i <= chatNodes; i++) chatUrls.push(url(chatPort + i - 1));

function app(name, only, port, extra, opts = {}) {
  return {
    name,
    script: bin,
    args: ["serve", "--only", only],
    interpreter: "none", // a native binary, not a Node script
    exec_mode: "fork",
    instances: 1,
    cwd,
    // The env file first; what makes each process itself wins over it (and over a .env in cwd,
    // which the binary reads without overriding variables already set).
    env: { ...shared, ...extra, CHATSYNC_ONLY: only, PORT: String(port) },
    // PM2 stops a process with SIGINT (PM2_KILL_SIGNAL of the daemon; there is no per-app
    // setting), which ChatSync handles exactly as SIGTERM: it drains, then exits.
    kill_timeout: killTimeoutMs,
    // The binary cannot send PM2's 'ready' message, so PM2 waits listen_timeout after each start
    // before it reports the restart done and goes on to the next process of a reload.
    wait_ready: true,
    listen_timeout: readyWaitMs,
    autorestart: true,
    min_uptime: 5000,
    max_restarts: 20,
    exp_backoff_restart_delay: 200,
    merge_logs: true,
    time: false, // the binary timestamps its own lines
    ...opts,
  };
}

const apps = [
  app("chatsync-user", "user", userPort, metrics(1), { namespace: "chatsync" }),
  app("chatsync-mail", "mail", mailPort, metrics(3), { namespace: "chatsync" }),
];
for (let i = 1; i <= chatNodes; i++) {
  apps.push(
    app(`chatsync-chat-${i}`, "chat", chatPort + i - 1, { USER_SERVICE_URL: url(userPort), ...metrics(10 + i) }, {
      namespace: "chatsync-chat",
    }),
  );
}
apps.push(
  app(
    "chatsync-gateway",
    "gateway",
    gatewayPort,
    {
      USER_SERVICE_URL: url(userPort),
      MAIL_SERVICE_URL: url(mailPort),
      CHAT_SERVICE_URL: chatUrls.join(","),
      ...metrics(0),
    },
    { namespace: "chatsync" },
  ),
);

module.exports = { apps };
