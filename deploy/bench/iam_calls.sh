#!/usr/bin/env bash
# AWS API calls per full security scan for N IAM roles, against the emulator,
# versus the pagination minimum. Prints a Markdown table (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
cargo build --quiet --bin troop
port=$(free_port)
"$TROOP_MOTO_SERVER" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; wait $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    "$TROOP_VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]+'/moto-api/',timeout=1)" "http://127.0.0.1:$port" 2>/dev/null && break
    sleep 0.2
done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL
"$TROOP_VENV/bin/python" deploy/bench/iam_calls.py "http://127.0.0.1:$port" "$CARGO_TARGET_DIR/debug/troop" "${@:-10 100 1000}"
