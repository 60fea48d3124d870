#!/usr/bin/env bash
# troop's limits pass against awslimitchecker 12.0.0 on the same emulator
# state (VPC, IAM and S3 in every region listed below): the usage numbers
# must be equal, and the wall times are printed as a ratio
# (docs/benchmarks.md). Usage: deploy/bench/limits.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
ensure_venv
ALC_VENV="${ALC_VENV:-$HOME/.cache/troop/alc-venv}"
if [ ! -x "$ALC_VENV/bin/awslimitchecker" ]; then
    log "installing awslimitchecker 12.0.0 into $ALC_VENV"
    python3 -m venv "$ALC_VENV"
    "$ALC_VENV/bin/pip" install --quiet --disable-pip-version-check awslimitchecker==12.0.0
fi
cargo build --quiet --bin troop
work=$(mktemp -d)
trap 'kill ${moto_pid:-} 2>/dev/null || true; wait ${moto_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
start_moto
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL
"$TROOP_VENV/bin/python" deploy/bench/limits.py "$moto_endpoint" "$CARGO_TARGET_DIR/debug/troop" \
    "$ALC_VENV/bin/python" "$work" "${1:-3}"
