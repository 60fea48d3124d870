#!/usr/bin/env bash
# AWS API calls per full security scan for N IAM roles, against the emulator,
# versus the pagination minimum. Prints a Markdown table (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
cargo build --quiet --bin troop
trap 'kill ${moto_pid:-} 2>/dev/null || true; wait ${moto_pid:-} 2>/dev/null || true' EXIT
start_moto
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL
"$TROOP_VENV/bin/python" deploy/bench/iam_calls.py "$moto_endpoint" "$CARGO_TARGET_DIR/debug/troop" "${@:-10 100 1000}"
