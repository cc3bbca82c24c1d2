#!/usr/bin/env bash
# Builds what a ChatSync install needs: the web app (web/dist) and the release binary
# (target/release/chatsync). scripts/run.sh and the Dockerfile both call this.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f web/package.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    npm --prefix web ci --no-audit --no-fund --loglevel=error
  fi
  npm --prefix web run build --silent
fi
cargo build --release --locked -p chatsync-server
