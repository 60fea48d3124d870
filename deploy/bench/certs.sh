#!/usr/bin/env bash
# N loopback TLS endpoints (default 1000), probed by troop, by blackbox_exporter
# (driven at the same concurrency), by ssl-cert-check (sequential by design),
# and by a bare rustls handshake loop (the ceiling). Prints a Markdown table.
#   bash deploy/bench/certs.sh [N] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/lib.sh
n="${1:-1000}"
conc="${2:-64}"
ensure_apt prometheus-blackbox-exporter ssl-cert-check openssl curl
log "release builds (slow the first time)"
cargo build --quiet --release --bin troop
cargo build --quiet --release -p troop-monkeys --example tls_farm --example bare_probe
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$bin/examples/tls_farm" "$n" "$work/ca.pem" >"$work/farm.port" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/farm.port" ] && break; sleep 0.1; done
first=$(head -1 "$work/farm.port")
last=$((first + n - 1))
seconds() { date +%s.%N; }

# troop
{
    echo '[agent]'
    echo 'store = "sqlite://troop.db"'
    echo '[monkeys.security]'
    echo 'enabled = false'
    echo '[monkeys.limits]'
    echo 'enabled = false'
    echo '[monkeys.certs]'
    echo 'sources = ["endpoints"]'
    echo "extra_ca_files = [\"$work/ca.pem\"]"
    echo "concurrency = $conc"
    echo "per_host_concurrency = $conc"
    printf 'endpoints = ['
    for p in $(seq "$first" "$last"); do printf '"127.0.0.1:%s",' "$p"; done
    echo ']'
    echo '[[alerts.sinks]]'
    echo 'name = "log"'
    echo 'type = "jsonl"'
    echo "path = \"$work/events.jsonl\""
} >"$work/troop.toml"
log "troop: $n endpoints, concurrency $conc (3 runs, fresh store each)"
walls=()
passes=()
for _ in 1 2 3; do
    rm -f "$work"/troop.db*
    t0=$(seconds)
    (cd "$work" && "$bin/troop" scan --monkey certs --format json >"$work/troop.json")
    t1=$(seconds)
    walls+=("$(python3 -c "print($t1 - $t0)")")
    passes+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["duration_seconds"])' "$work/troop.json")")
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
troop_s=$(python3 -c "print(f'{$(median "${walls[@]}"):.2f}')")
troop_pass=$(python3 -c "print(f'{$(median "${passes[@]}"):.2f}')")
troop_ok=$(cd "$work" && "$bin/troop" certs --format json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["serial"]))')

# blackbox_exporter, the same probes over its HTTP API at the same concurrency
bb_port=$(free_port)
cat >"$work/blackbox.yml" <<YML
modules:
  tls:
    prober: tcp
    timeout: 5s
    tcp:
      tls: true
      tls_config:
        ca_file: $work/ca.pem
YML
/usr/bin/prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bb_port" >"$work/bb.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$bb_port/metrics" >/dev/null && break; sleep 0.1; done
log "blackbox_exporter: $n probes, concurrency $conc"
t0=$(seconds)
seq "$first" "$last" | xargs -P "$conc" -I{} curl -s "http://127.0.0.1:$bb_port/probe?module=tls&target=127.0.0.1:{}" >"$work/bb.out"
t1=$(seconds)
bb_s=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
bb_ok=$(grep -c '^probe_success 1' "$work/bb.out" || true)

# ssl-cert-check: one openssl s_client after another
for p in $(seq "$first" "$last"); do echo "127.0.0.1 $p"; done >"$work/hosts"
log "ssl-cert-check: $n hosts"
t0=$(seconds)
ssl-cert-check -f "$work/hosts" >"$work/scc.out" 2>&1 || true
t1=$(seconds)
scc_s=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
scc_ok=$(grep -c -E 'Valid|Expiring|Expired' "$work/scc.out" || true)

log "bare rustls handshake loop (3 runs)"
bares=()
for _ in 1 2 3; do
    bare=$("$bin/examples/bare_probe" "$first" "$n" "$conc")
    bares+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$bare")")
    bare_ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["handshakes"])' "$bare")
done
bare_s=$(python3 -c "print(f'{$(median "${bares[@]}"):.2f}')")

python3 - "$n" "$conc" "$troop_s" "$troop_pass" "$troop_ok" "$bb_s" "$bb_ok" "$scc_s" "$scc_ok" "$bare_s" "$bare_ok" <<'PY'
import sys
n, conc, t, tp, tok, bb, bbok, scc, sccok, bare, bareok = sys.argv[1:]
t, tp, bb, scc, bare = map(float, (t, tp, bb, scc, bare))
print("| tool | endpoints measured | wall time | troop is |")
print("|---|---:|---:|---|")
print(f"| troop, whole process (concurrency {conc}, median of 3) | {tok}/{n} | {t:.2f} s | — |")
print(f"| troop, the pass inside it | {tok}/{n} | {tp:.2f} s | — |")
print(f"| blackbox_exporter (concurrency {conc}) | {bbok}/{n} | {bb:.2f} s | {bb / t:.1f}× as fast (whole process) |")
print(f"| ssl-cert-check (sequential) | {sccok}/{n} | {scc:.2f} s | {scc / t:.1f}× as fast (whole process) |")
print(f"| bare rustls loop in one process (concurrency {conc}, median of 3) | {bareok}/{n} | {bare:.2f} s | pass at {100 * bare / tp:.0f}%, whole process at {100 * bare / t:.0f}% of the ceiling |")
PY
