#!/usr/bin/env bash
# Web UI render time over a store of N security groups and F open findings
# (docs/benchmarks.md "Web UI"): prints a Markdown table.
#   bash deploy/bench/ui.sh [N [F [REQUESTS]]]     # default 100000 10000 20
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
cargo build --quiet --release --bin troop --example ui_bench
"$CARGO_TARGET_DIR/release/examples/ui_bench" "$@"
