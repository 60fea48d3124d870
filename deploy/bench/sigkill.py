"""SIGKILL probe: `troop run` killed with SIGKILL at random moments, again and
again, while the estate changes under it and a webhook receives its alerts.
Afterwards the store must be intact and as right as a clean scan's, and the
receiver must have lost nothing and heard at most the documented duplicates
(one notification in flight per kill).

usage: sigkill.py ENDPOINT TROOP_BINARY KILLS ITEMS [SEED]
Prints a Markdown table (docs/benchmarks.md) and exits 1 when a check fails.
"""
import collections
import http.server
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import boto3

endpoint, troop, kills, items = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 12)
regions = ["us-east-1", "eu-west-1"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The estate: security groups in two regions (every 10th open to the world on
# tcp/22) and IAM roles, ITEMS in all.
ec2 = {r: boto3.client("ec2", endpoint_url=endpoint, region_name=r) for r in regions}
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
world = lambda port: [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
groups = []
per_region = items * 4 // 10
for r in regions:
    vpc = ec2[r].create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    for i in range(per_region):
        g = ec2[r].create_security_group(GroupName=f"g{i:05d}", Description="probe", VpcId=vpc)["GroupId"]
        if i % 10 == 0:
            ec2[r].authorize_security_group_ingress(GroupId=g, IpPermissions=world(22))
        groups.append((r, g))
trust = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
for i in range(items - len(groups)):
    iam.create_role(RoleName=f"probe-{i:05d}", AssumeRolePolicyDocument=trust)
rdp_open = set()


def mutate(n):
    """Open or close tcp/3389 on n random groups: changes, findings, alerts."""
    for r, g in rng.sample(groups, n):
        if (r, g) in rdp_open:
            ec2[r].revoke_security_group_ingress(GroupId=g, IpPermissions=world(3389))
            rdp_open.discard((r, g))
        else:
            ec2[r].authorize_security_group_ingress(GroupId=g, IpPermissions=world(3389))
            rdp_open.add((r, g))


# The webhook receiver: every POST's notification id, always 200.
received = collections.Counter()


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received[self.headers.get("X-Troop-Notification")] += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


hook = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()


def config(sink):
    text = (f'[agent]\nlisten = "127.0.0.1:{free_port()}"\n'
            f'[aws]\nregions = {json.dumps(regions)}\nendpoint_url = "{endpoint}"\n'
            '[monkeys.security]\ninterval = "2s"\njitter = 0\n'
            '[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n'
            '[alerts]\ngroup_by = ["resource"]\ngroup_wait = "0s"\ngroup_interval = "1s"\n')
    if sink:
        text += f'[[alerts.sinks]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:{hook.server_port}/hook"\n'
    else:
        text += '[[alerts.sinks]]\nname = "log"\ntype = "jsonl"\npath = "events.jsonl"\n'
    return text


def run(cwd, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="probe", AWS_SECRET_ACCESS_KEY="probe", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run([troop, *args], cwd=cwd, capture_output=True, text=True, env=env)


with tempfile.TemporaryDirectory() as probe, tempfile.TemporaryDirectory() as ref:
    open(os.path.join(probe, "troop.toml"), "w").write(config(True))
    open(os.path.join(ref, "troop.toml"), "w").write(config(False))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="probe", AWS_SECRET_ACCESS_KEY="probe", AWS_EC2_METADATA_DISABLED="true")
    started = time.monotonic()
    for k in range(kills):
        mutate(20)
        child = subprocess.Popen([troop, "run"], cwd=probe, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 6.0))
        child.send_signal(signal.SIGKILL)
        child.wait()
    # Settle: one clean scan on the final estate delivers what is pending.
    settle = run(probe, "scan", "--format", "json")
    reference = run(ref, "scan", "--format", "json")
    checks = []
    db = sqlite3.connect(os.path.join(probe, "troop.db"))
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    checks.append(("integrity_check", integrity, integrity == "ok"))
    gaps = 0
    for item, revs in db.execute("SELECT item, group_concat(revision) FROM revisions GROUP BY item"):
        got = sorted(int(x) for x in revs.split(","))
        gaps += got != list(range(1, len(got) + 1))
    checks.append(("items with a duplicate or gapped revision", gaps, gaps == 0))
    open_fp = lambda cwd: {f["fingerprint"] for f in json.loads(run(cwd, "findings", "--format", "json").stdout)}
    probe_open, ref_open = open_fp(probe), open_fp(ref)
    checks.append(("open findings (probe / clean reference)", f"{len(probe_open)} / {len(ref_open)}",
                   probe_open == ref_open))
    pending = sum(s["pending"] for s in json.loads(run(probe, "alerts", "status", "--format", "json").stdout))
    checks.append(("notifications still pending", pending, pending == 0))
    delivered = {row[0] for row in db.execute(
        "SELECT notification_id FROM outbox WHERE sink = 'hook' AND status = 'delivered'")}
    lost = len(delivered - set(received))
    checks.append(("delivered per the store but never received", lost, lost == 0))
    dups = sum(n - 1 for n in received.values() if n > 1)
    checks.append((f"duplicate notifications (documented bound: one per kill, {kills})", dups, dups <= kills))
    passes = dict(db.execute("SELECT status, COUNT(*) FROM passes GROUP BY status").fetchall())
    took = time.monotonic() - started

print(f"{kills} SIGKILLs of `troop run` over {items} items ({len(groups)} security groups, "
      f"{items - len(groups)} IAM roles), {sum(received.values())} notifications received, "
      f"passes committed: {passes.get('ok', 0)}, {took:.0f} s")
print()
print("| check | value | ok |")
print("|---|---:|---|")
for name, value, ok in checks:
    print(f"| {name} | {value} | {'yes' if ok else '**NO**'} |")
if settle.returncode != 0 or reference.returncode != 0:
    print("settling or reference scan failed:", settle.stderr, reference.stderr, file=sys.stderr)
    sys.exit(1)
sys.exit(0 if all(ok for _, _, ok in checks) else 1)
