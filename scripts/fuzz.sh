#!/usr/bin/env bash
# Runs ChatSync's fuzz targets (fuzz/fuzz_targets) for a bounded time each:
#
#   scripts/fuzz.sh [seconds-per-target] [target ...]      # default: 60 s, every target
#
# Installs cargo-fuzz if it is missing (scripts/install-cargo-tool.sh). cargo-fuzz passes nightly-only compiler flags; the
# stable toolchain accepts them with RUSTC_BOOTSTRAP=1 (no nightly is needed, or available).
#
# Inputs: the committed seeds in fuzz/corpus/<target> (read only) and a working corpus in
# fuzz/corpus-work/<target> (git-ignored; grows across runs, so longer runs pick up where the
# last one stopped). A crash fails the script and is copied to fuzz/regressions/<target>/,
# which `cargo test` replays (crates/server/tests/api/fuzz_corpus.rs): commit it with the fix.
#
# The instrumented release build takes several minutes from scratch, so it is kept outside the
# checkout, where every clone on the machine (CI's fresh clone included) reuses it:
# FUZZ_TARGET_DIR, default ~/.cache/chatsync/fuzz-target.
#
# FUZZ_SANITIZER=address turns on AddressSanitizer (slower to build and run; our own crates
# forbid `unsafe`, so the default is none: a panic or a server error is what we look for).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

scripts/install-cargo-tool.sh fuzz

export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/chatsync/fuzz-target}"
opts=(--fuzz-dir fuzz --sanitizer "$sanitizer" --target-dir "$target_dir")
cargo fuzz build "${opts[@]}"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed=()
for t in "${targets[@]}"; do
  work="fuzz/corpus-work/$t"
  mkdir -p "$work" "fuzz/corpus/$t"
  rm -rf "fuzz/artifacts/$t" # only this run's crashes are copied below
  echo "== fuzzing $t for ${secs}s"
  set +e
  cargo fuzz run "${opts[@]}" "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  if [ "$status" = 0 ]; then
    grep -E '^(Done|stat::(average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" || true
  else
    # The crash report: the panic message, the stack, the input's file name.
    grep -v -E '^#[0-9]+' "$log" | tail -n 60
  fi
  if [ "$status" != 0 ]; then
    failed+=("$t")
    mkdir -p "fuzz/regressions/$t"
    for a in fuzz/artifacts/"$t"/*; do
      if [ -f "$a" ]; then
        cp "$a" "fuzz/regressions/$t/"
        echo "kept $a in fuzz/regressions/$t/"
      fi
    done
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found failures in: ${failed[*]}"
  echo "the inputs are in fuzz/regressions/; replay: cargo test -p chatsync-server --test api fuzz_corpus::"
  exit 1
fi
echo "fuzzing: no failures in ${targets[*]}"
