# Shared by deploy/test.sh, deploy/demo.sh and .ci/run. Source it from the repo root.

# Builds live outside the clone so CI and fresh clones reuse them (cargo's
# fingerprints keep them correct).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/troop-target}"
TROOP_VENV="${TROOP_VENV:-$HOME/.cache/troop/venv}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# A Python venv with the pinned emulator; rebuilt when requirements.txt changes.
ensure_venv() {
    local want
    want=$(sha256sum deploy/requirements.txt | cut -c1-16)
    if [ ! -x "$TROOP_VENV/bin/moto_server" ] || [ "$(cat "$TROOP_VENV/.troop-requirements" 2>/dev/null)" != "$want" ]; then
        log "installing the AWS emulator (moto) into $TROOP_VENV"
        rm -rf "$TROOP_VENV"
        mkdir -p "$(dirname "$TROOP_VENV")"
        python3 -m venv "$TROOP_VENV"
        "$TROOP_VENV/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt
        echo "$want" > "$TROOP_VENV/.troop-requirements"
    fi
    export TROOP_MOTO_SERVER="$TROOP_VENV/bin/moto_server"
}

# Debian packages the tests need, installed when missing (as root, or with sudo).
ensure_apt() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Start the emulator on a free loopback port (extra environment, e.g.
# MOTO_IAM_LOAD_MANAGED_POLICIES=true, is passed through) and wait until it
# answers. Sets moto_pid and moto_endpoint; output goes to $1 (default: nowhere).
start_moto() {
    local port
    port=$(free_port)
    moto_endpoint="http://127.0.0.1:$port"
    "$TROOP_MOTO_SERVER" -H 127.0.0.1 -p "$port" >"${1:-/dev/null}" 2>&1 &
    moto_pid=$!
    for _ in $(seq 1 100); do
        python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/moto-api/', timeout=1)" \
            "$moto_endpoint" 2>/dev/null && return 0
        sleep 0.2
    done
    log "the emulator did not answer on $moto_endpoint"
    return 1
}

# For a benchmark against the emulator: build troop, start moto (stopped when
# the script exits), and give the SDKs dummy credentials and no ambient
# profile or endpoint.
bench_emulator() {
    cargo build --quiet --bin troop
    trap 'kill ${moto_pid:-} 2>/dev/null || true; wait ${moto_pid:-} 2>/dev/null || true' EXIT
    start_moto
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
    unset AWS_PROFILE AWS_ENDPOINT_URL
}
