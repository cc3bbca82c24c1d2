#!/usr/bin/env bash
# Builds ChatSync (server and web app) and starts it with its embedded defaults: SQLite under
# ./data, in-process bus, dev mail outbox, local media, everything on http://127.0.0.1:3000.
# Extra arguments go to `chatsync serve` (e.g. --only chat). Settings: see `chatsync --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
echo "ChatSync: open http://${HOST:-127.0.0.1}:${PORT:-3000}"
exec ./target/release/chatsync serve "$@"
