#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and contract tests, the API suites on the
# embedded backends and on PostgreSQL + RabbitMQ + Redis, process and fault tests, dependency
# checks, a brief fuzzing run, and the web app's browser tests. Installs and starts what it
# needs first (scripts/test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dependencies"
scripts/test-deps.sh

step "formatting"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rust tests"
cargo test --workspace --locked

step "generated files match the Rust types (docs/openapi.json, web/src/lib/generated/)"
# `cargo test` above rewrote them from the Rust types (api_docs::tests); nothing may change.
git diff --exit-code -- docs/openapi.json web/src/lib/generated
untracked=$(git ls-files --others --exclude-standard -- docs/openapi.json web/src/lib/generated)
[ -z "$untracked" ] || { echo "generated but not committed: $untracked" >&2; exit 1; }

step "REST API against its OpenAPI document (scripts/schemathesis.sh)"
CHATSYNC_BIN=target/debug/chatsync scripts/schemathesis.sh 25

step "deployment: PM2 ecosystem, rolling reload under load (scripts/test-pm2.sh)"
CHATSYNC_BIN=target/debug/chatsync scripts/test-pm2.sh

step "faults under load: chat nodes killed and rolled, Redis, PostgreSQL, RabbitMQ and mail restarted (scripts/chaos.sh --short)"
CHATSYNC_BIN=target/debug/chatsync scripts/chaos.sh --short

step "dependency checks (cargo deny)"
scripts/deny.sh

step "unused dependencies (cargo machete)"
scripts/install-cargo-tool.sh machete
cargo machete

step "the domain and the adapters compile no HTTP platform (issue 12, item 5)"
# chatsync-core and the adapter crates must not pull chatsync-platform or what it wraps; an
# adapter's own HTTP client (reqwest, object_store) may bring hyper and tower(-http), so those
# are checked for chatsync-core only.
platform='^(chatsync-platform|axum|jsonwebtoken|figment|metrics-exporter-prometheus|tracing-subscriber) '
for p in chatsync-core chatsync-store-sql chatsync-store-sqlite chatsync-store-postgres \
  chatsync-bus-rabbitmq chatsync-redis chatsync-media-s3 chatsync-link-preview; do
  if cargo tree --locked -p "$p" -e normal --prefix none | grep -E "$platform"; then
    echo "$p depends on the platform above"; exit 1
  fi
done
if cargo tree --locked -p chatsync-core -e normal --prefix none | grep -E '^(tower|tower-http|hyper|hyper-util) '; then
  echo "chatsync-core depends on the HTTP stack above"; exit 1
fi

step "fuzzing (brief)"
# About a minute in all: 12 s per target. Longer runs: scripts/fuzz.sh 600
scripts/fuzz.sh 12

if [ "${CHATSYNC_SKIP_WEB:-0}" != 1 ] && [ -f web/package.json ]; then
  step "web app: type check, unit tests, build, browser tests"
  npm --prefix web run check
  npm --prefix web run test:unit
  npm --prefix web run build
  npm --prefix web run test:e2e
fi
step "all tests passed"
