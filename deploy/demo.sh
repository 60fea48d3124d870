#!/usr/bin/env bash
# The demo: builds troop, starts the AWS emulator on loopback, seeds it with a
# small realistic estate, runs `troop scan` and shows the findings.
# Everything stays on this machine; the emulator is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/lib.sh
ensure_venv

log "building troop"
cargo build --quiet --bin troop
TROOP="$CARGO_TARGET_DIR/debug/troop"

work=$(mktemp -d)
# Stop the helpers; their exit status (killed) is not the demo's.
cleanup() {
    for pid in ${moto_pid:-} ${tls_pid:-}; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

log "starting the AWS emulator"
MOTO_IAM_LOAD_MANAGED_POLICIES=true start_moto "$work/moto.log"
endpoint="$moto_endpoint"

export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL
log "seeding a small estate (VPCs, security groups, IAM, S3)"
"$TROOP_VENV/bin/python" deploy/demo/seed.py "$endpoint"

tls_port=$(free_port)
dns_port=$(free_port)
log "starting demo TLS servers (expiring, expired, wrong host) on 127.0.0.61-63:$tls_port, DNS on 127.0.0.1:$dns_port"
"$TROOP_VENV/bin/python" deploy/demo/tls_servers.py "$work/demo-ca.pem" "$tls_port" "$dns_port" >"$work/tls.log" 2>&1 &
tls_pid=$!
for _ in $(seq 1 50); do [ -s "$work/demo-ca.pem" ] && grep -q "demo TLS" "$work/tls.log" && break; sleep 0.2; done

cat >"$work/troop.toml" <<TOML
[agent]
store = "sqlite://$work/troop.db"

[aws]
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "$endpoint"
# the emulator answers some Service Quotas calls with errors: do not wait long for it
max_backoff = "200ms"

[monkeys.certs]
# The demo's certificates live on loopback servers; its own DNS answers their names.
sources = ["endpoints"]
endpoints = ["shop.demo.test:$tls_port", "legacy.demo.test:$tls_port", "api.demo.test:$tls_port"]
nameservers = ["127.0.0.1:$dns_port"]
extra_ca_files = ["$work/demo-ca.pem"]
probe_timeout = "3s"


# The alert gateway: findings grouped per monkey, kind and owner; each group is told once,
# then again only when something is new, escalates, resolves, or after repeat_interval.
[alerts]
group_by = ["monkey", "kind", "owner"]

[[alerts.sinks]]
name = "console"
type = "stdout"

[[alerts.sinks]]
name = "log"
type = "jsonl"
path = "$work/events.jsonl"
TOML

cd "$work"
log "troop scan (first look: every item gets revision 1)"
"$TROOP" scan
sleep 1
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1

log "someone changes things"
"$TROOP_VENV/bin/python" "$OLDPWD/deploy/demo/change.py" "$endpoint"

log "troop scan (only what changed gets a revision)"
"$TROOP" scan
log "troop changes --since $since"
"$TROOP" changes --since "$since"
log "troop diff ci-deployer"
"$TROOP" diff ci-deployer
log "troop certs"
"$TROOP" certs
log "troop limits"
"$TROOP" limits
log "troop findings"
"$TROOP" findings
log "troop silence add (the legacy certificate is being replaced)"
"$TROOP" silence add --match monkey=certs --match 'resource=~legacy\.demo\.test:.*' --for 7d --reason "replacement ordered" --author demo >/dev/null
"$TROOP" silence list
log "troop findings --state silenced"
"$TROOP" findings --state silenced
log "troop scan (nothing new: no notification)"
"$TROOP" scan
log "troop alerts status (each sink's outbox)"
"$TROOP" alerts status
