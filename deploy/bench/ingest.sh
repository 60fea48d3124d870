#!/usr/bin/env bash
# Alert ingest, troop beside a real Alertmanager in one run: alerts accepted per
# second (8 posters, batches of 100) and post-to-webhook latency with group_wait
# 0 on both. Prints a Markdown table (docs/benchmarks.md).
#   bash deploy/bench/ingest.sh [BATCHES_PER_POSTER [PROBES]]
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_apt prometheus-alertmanager
cargo build --quiet --release --bin troop
python3 deploy/bench/ingest.py "$CARGO_TARGET_DIR/release/troop" "${TROOP_ALERTMANAGER:-/usr/bin/prometheus-alertmanager}" "$@"
