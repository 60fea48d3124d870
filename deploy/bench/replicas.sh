#!/usr/bin/env bash
# One full round of the security monkey over an AWS Organization of N accounts
# x 2 regions with 1, 2 and 3 `troop run` replicas on one PostgreSQL store,
# every AWS call delayed by a loopback proxy. Prints a Markdown table
# (docs/benchmarks.md).
#   bash deploy/bench/replicas.sh [LATENCY_MS [CONCURRENCY [ACCOUNTS...]]]
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
bench_emulator
latency=${1:-50}
concurrency=${2:-8}
shift $(($# < 2 ? $# : 2))
"$TROOP_VENV/bin/python" deploy/bench/replicas.py "$moto_endpoint" "$CARGO_TARGET_DIR/debug/troop" \
    "$latency" "$concurrency" "${@:-30 100}"
