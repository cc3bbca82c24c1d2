#!/usr/bin/env bash
# Dependency checks with cargo-deny (deny.toml): licenses, duplicate versions (warnings), sources,
# and known vulnerabilities (RustSec advisories) when an advisory database can be had.
#
# The RustSec database is a git repository on GitHub. Where it cannot be fetched (this machine
# kind reaches only the package registries), the advisory check is NOT run, and this script says
# so on its last line; it does not pretend. To check against a copy you have:
#   CHATSYNC_ADVISORY_DB=/path/to/advisory-db scripts/deny.sh      # a git clone (bare is fine)
# CHATSYNC_REQUIRE_ADVISORIES=1 makes a missing database an error.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-cargo-tool.sh deny

cargo deny --log-level error check licenses bans sources
echo "licenses, bans (duplicates are warnings), sources: ok"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -n "${CHATSYNC_ADVISORY_DB:-}" ]; then
  # The same configuration and database URL, but git (which cargo-deny fetches with) is told to
  # clone the given copy instead, into a scratch directory.
  db="$(cd "$CHATSYNC_ADVISORY_DB" && pwd)"
  sed -e "/^\[advisories\]/a db-path = \"$tmp/dbs\"" deny.toml >"$tmp/deny.toml"
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="url.file://$db.insteadOf" \
    GIT_CONFIG_VALUE_0="https://github.com/RustSec/advisory-db" \
    cargo deny --log-level error --config "$tmp/deny.toml" fetch db
  cargo deny --log-level error --offline --config "$tmp/deny.toml" check advisories
  when="$(git -C "$db" log -1 --format=%cs 2>/dev/null || echo "an unknown date")"
  echo "advisories: ok against $db (the database as of $when)"
elif cargo deny --log-level error fetch db >"$tmp/fetch.log" 2>&1; then
  cargo deny --log-level error --offline check advisories
  echo "advisories: ok (RustSec database fetched now)"
else
  echo "advisories: NOT CHECKED: the RustSec advisory database could not be fetched here:"
  sed -n 's/^.*\(fatal: .*\)$/  \1/p' "$tmp/fetch.log" | head -n 2
  echo "  (set CHATSYNC_ADVISORY_DB to a local clone of the advisory-db repository to check)"
  if [ "${CHATSYNC_REQUIRE_ADVISORIES:-0}" = 1 ]; then
    exit 1
  fi
fi
