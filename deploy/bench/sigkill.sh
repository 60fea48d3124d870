#!/usr/bin/env bash
# SIGKILL probe: KILLS SIGKILLs of `troop run` at random moments over ITEMS
# items with a webhook sink, then integrity, revision, findings and
# notification checks against a clean reference scan. Prints a Markdown table
# (docs/benchmarks.md); exits 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
bench_emulator
"$TROOP_VENV/bin/python" deploy/bench/sigkill.py "$moto_endpoint" "$CARGO_TARGET_DIR/debug/troop" "${1:-20}" "${2:-2500}" ${3:-}
