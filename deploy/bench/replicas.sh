#!/usr/bin/env bash
# One full round of the security monkey over an AWS Organization of N accounts
# x 2 regions with 1, 2 and 3 `troop run` replicas on one PostgreSQL store,
# every AWS call delayed by a loopback proxy. Prints a Markdown table
# (docs/benchmarks.md).
#   bash deploy/bench/replicas.sh [LATENCY_MS [CONCURRENCY [INTERVAL_S [ACCOUNTS...]]]]
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
bench_emulator
latency=${1:-50}
concurrency=${2:-8}
interval=${3:-90}
shift $(($# < 3 ? $# : 3))
TROOP_BENCH_MOTO_PID=$moto_pid "$TROOP_VENV/bin/python" deploy/bench/replicas.py "$moto_endpoint" "$CARGO_TARGET_DIR/debug/troop" \
    "$latency" "$concurrency" "$interval" ${@:-30 100}
