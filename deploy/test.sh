#!/usr/bin/env bash
# Installs everything the tests need, then runs every test of the workspace.
# This is the one test command: README.md and .ci/run both call it.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_venv
# A real Prometheus Alertmanager for the alertmanager sink's tests.
# and Prometheus's promtool, which checks what /metrics serves.
# and Debian's tinyproxy, a real forward proxy for the proxy tests,
# and Debian's PostgreSQL server: each PostgreSQL test starts a throw-away
# cluster of its own on a free loopback port (troop_store::testing).
ensure_apt prometheus-alertmanager prometheus tinyproxy postgresql chromium chromium-driver
export TROOP_ALERTMANAGER=/usr/bin/prometheus-alertmanager
export TROOP_PROMTOOL=/usr/bin/promtool
export TROOP_TINYPROXY=/usr/bin/tinyproxy
export TROOP_PYTHON="$TROOP_VENV/bin/python"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
