#!/usr/bin/env bash
# Makes sure everything the test suite talks to is installed and running, on a fresh machine
# too: PostgreSQL, Redis and RabbitMQ (started if down, installed from Debian if missing),
# Python's aiosmtpd (the SMTP server mail tests start), and, unless CHATSYNC_SKIP_WEB=1,
# Node packages and Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[test-deps]\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL ------------------------------------------------------------------------------
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
# The tests connect as `postgres` without a password over TCP (trust auth on this machine kind).
psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1 || {
  echo "PostgreSQL must accept user postgres without a password on 127.0.0.1 (trust auth);" \
       "or set CHATSYNC_TEST_DATABASE_URL" >&2
  [ -n "${CHATSYNC_TEST_DATABASE_URL:-}" ] || exit 1
}
psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test' || true

# --- Redis -----------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  have redis-server || apt_install redis-server
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli ping >/dev/null

# --- RabbitMQ --------------------------------------------------------------------------------
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  have rabbitmq-server || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  rabbitmqctl await_startup >/dev/null
fi
rabbitmqctl status >/dev/null 2>&1 || rabbitmqctl await_startup >/dev/null

# --- The fault suite (scripts/chaos.sh) runs its own PostgreSQL, Redis and RabbitMQ from these --
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_install postgresql
have redis-server || apt_install redis-server
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_install rabbitmq-server

# --- Python packages: SMTP server, S3 server (moto), the official python-socketio client ------
python3 -c 'import aiosmtpd, moto, socketio, aiohttp, yaml' 2>/dev/null && command -v moto_server >/dev/null || {
  log "installing Python test packages"
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/test-requirements.txt
}

# --- systemd-analyze checks the unit files (systemd itself does not run here) -----------------
have systemd-analyze || apt_install systemd
# openssl makes the certificates of the TLS tests (RabbitMQ over amqps://).
have openssl || apt_install openssl
# scripts/test-pm2.sh reads JSON answers with jq and calls the services with curl.
have jq || apt_install jq
# nginx runs deploy/nginx/chatsync.conf in crates/server/tests/api/multinode.rs.
have nginx || [ -x /usr/sbin/nginx ] || apt_install nginx
have curl || apt_install curl

# --- The official socket.io-client for the client checks -------------------------------------
have node || apt_install nodejs npm
if [ ! -d tests/clients/node_modules ] || [ tests/clients/package-lock.json -nt tests/clients/node_modules/.package-lock.json ]; then
  log "installing socket.io-client for the client checks"
  npm --prefix tests/clients ci --no-audit --no-fund --loglevel=error
fi

# --- Web app and browser ---------------------------------------------------------------------
if [ "${CHATSYNC_SKIP_WEB:-0}" != 1 ] && [ -f web/package.json ]; then
  have chromium || apt_install chromium
  # Emoji in the screenshots and reaction tests render with a real colour font.
  fc-list 2>/dev/null | grep -qi 'Noto Color Emoji' || apt_install fonts-noto-color-emoji
  # Vite 8 needs Node 20.19 or newer (Debian 12's own nodejs is 18: too old).
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' || {
    echo "the web app's build needs Node.js >= 20.19; this machine has $(node -v)" >&2
    exit 1
  }
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    log "installing web packages"
    npm --prefix web ci --no-audit --no-fund --loglevel=error
  fi
fi
log "ready"
