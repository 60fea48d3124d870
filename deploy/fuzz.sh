#!/usr/bin/env bash
# Fuzz the policy normaliser, canonical JSON and the diff for a bounded time.
#   bash deploy/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# Installs cargo-fuzz when missing. Findings land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz needs unstable flags; this lets the machine's stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
corpus="$CARGO_TARGET_DIR/fuzz-corpus"
for target in policy diff; do
    mkdir -p "$corpus/$target"
    cp -n fuzz/seeds/* "$corpus/$target/" 2>/dev/null || true
    log "fuzzing $target for ${seconds}s"
    cargo fuzz run --fuzz-dir fuzz --target-dir "$CARGO_TARGET_DIR/fuzz" "$target" "$corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 | tail -n 12
done
