#!/usr/bin/env bash
# AWS API calls per full security scan for N IAM roles, against the emulator,
# versus the pagination minimum. Prints a Markdown table (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
bench_emulator
"$TROOP_VENV/bin/python" deploy/bench/iam_calls.py "$moto_endpoint" "$CARGO_TARGET_DIR/debug/troop" "${@:-10 100 1000}"
