"""Replicas benchmark: one full round of the security monkey over an AWS
Organization of N accounts x 2 regions, read by 1, 2 and 3 `troop run`
replicas sharing one PostgreSQL store, through a loopback proxy that adds a
fixed latency to every AWS call (the real API's, so the work is I/O-bound as
in production).

usage: replicas.py ENDPOINT TROOP_BINARY LATENCY_MS CONCURRENCY INTERVAL_S ACCOUNTS...
Prints a Markdown table (docs/benchmarks.md): per organization size and
replica count, the first round's wall time (replicas started -> every shard
committed once; each replica reads the organization first), the second
round's (the scheduled pass INTERVAL_S later, the organization as read:
the steady state, from the start of its first pass to its last commit), each
one's ratio to one replica's, and each replica's peak RSS.
"""
import glob
import http.client
import http.server
import os
import pwd
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

import boto3

endpoint, troop = sys.argv[1], sys.argv[2]
latency_ms, concurrency, interval = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sizes = [int(a) for a in sys.argv[6:]] or [100]
regions = ["us-east-1", "eu-west-1"]
upstream = endpoint.removeprefix("http://")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- the latency proxy: every request waits LATENCY_MS, then goes to the emulator
class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(latency_ms / 1000)
        conn = http.client.HTTPConnection(upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = relay

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


proxy = Server(("127.0.0.1", 0), Slow)
threading.Thread(target=proxy.serve_forever, daemon=True).start()
proxy_endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"


# --- a throw-away PostgreSQL cluster (as user postgres when root)
def bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if dirs:
        return dirs[-1]
    return subprocess.check_output(["pg_config", "--bindir"], text=True).strip()


pg_bin = bindir()
pg_dir = tempfile.mkdtemp(prefix="troop-bench-pg-")
as_postgres = os.geteuid() == 0
if as_postgres:
    pw = pwd.getpwnam("postgres")
    os.chown(pg_dir, pw.pw_uid, pw.pw_gid)


def pg(tool, *args):
    cmd = [os.path.join(pg_bin, tool), *args]
    if as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


pg_port = free_port()
pg("initdb", "-D", f"{pg_dir}/data", "-U", "troop", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
pg("pg_ctl", "-D", f"{pg_dir}/data", "-l", f"{pg_dir}/log", "-w", "-o",
   f"-p {pg_port} -k {pg_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", "start")


def sql(db, query):
    return pg("psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "troop", "-d", db, "-At", "-c", query)


# --- the organization: ACCOUNTS members under one OU, each with a VPC and
# three security groups (one open to the world) in us-east-1
def organization(n, created):
    orgs = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    if not created:
        orgs.create_organization(FeatureSet="ALL")
        root = orgs.list_roots()["Roots"][0]["Id"]
        created["ou"] = orgs.create_organizational_unit(ParentId=root, Name="bench")["OrganizationalUnit"]["Id"]
        created["root"] = root
        created["accounts"] = []
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    while len(created["accounts"]) < n:
        i = len(created["accounts"])
        status = orgs.create_account(Email=f"m{i}@example.com", AccountName=f"member-{i:03d}")["CreateAccountStatus"]
        account = status["AccountId"]
        orgs.move_account(AccountId=account, SourceParentId=created["root"], DestinationParentId=created["ou"])
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/troop-readonly", RoleSessionName="seed")["Credentials"]
        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
        vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        for g in range(3):
            gid = ec2.create_security_group(GroupName=f"g{g}", Description="bench", VpcId=vpc)["GroupId"]
            if g == 0:
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        created["accounts"].append(account)
    return created["ou"]


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


emulator_pid = int(os.environ.get("TROOP_BENCH_MOTO_PID") or 0)


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def round_with(replicas, accounts, ou, work):
    db = f"bench_{accounts}_{replicas}"
    sql("postgres", f"CREATE DATABASE {db}")
    store = f"postgres://troop@127.0.0.1:{pg_port}/{db}?sslmode=disable"
    procs = []
    shards = accounts * (1 + len(regions))
    t0 = time.monotonic()
    for r in range(replicas):
        cfg = os.path.join(work, f"{db}-{r}.toml")
        with open(cfg, "w") as f:
            f.write(f"""
[agent]
store = "{store}"
listen = "127.0.0.1:{free_port()}"
[aws]
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "{proxy_endpoint}"
concurrency = {concurrency}
[aws.organization]
role_name = "troop-readonly"
ou_ids = ["{ou}"]
[monkeys.security]
interval = "{interval}s"
jitter = 0
[monkeys.certs]
enabled = false
[monkeys.limits]
enabled = false
""")
        procs.append(subprocess.Popen([troop, "-c", cfg, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        running.extend(procs[-1:])

    def rounds_done(k):
        try:
            q = f"SELECT COUNT(*) FROM (SELECT shard FROM passes WHERE status = 'ok' GROUP BY shard HAVING COUNT(*) >= {k}) s"
            return int(sql(db, q).strip() or 0) >= shards
        except subprocess.CalledProcessError:
            return False  # no schema yet

    first = None
    while time.monotonic() < t0 + interval:
        if rounds_done(1):
            first = time.monotonic() - t0
            break
        time.sleep(0.1)
    second = None
    cpu = lambda: (cpu_seconds(emulator_pid) if emulator_pid else 0.0, sum(cpu_seconds(p.pid) for p in procs))
    cpu_before = cpu()
    if first is not None:
        while time.monotonic() < t0 + interval + 900:
            if rounds_done(2):
                # the second round: from the start of the first pass that
                # read in it (its round, ms, as the lease table keeps it) to now
                began = int(sql(db, "SELECT MIN(committed_round) FROM pass_lease").strip())
                second = time.time() - began / 1000
                break
            time.sleep(0.05)
    cpu_after = cpu()
    # CPU spent between the first round's end and the second's: the second round
    spent = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
    rss = [peak_rss_mib(p.pid) for p in procs]
    owners = sql(db, "SELECT COUNT(DISTINCT owner) FROM passes WHERE status = 'ok'").strip()
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    if first is None or second is None:
        raise SystemExit(f"{replicas} replica(s): a round did not finish (first {first}, second {second})")
    return first, second, spent, rss, owners


running = []
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up as on an error
work = tempfile.mkdtemp(prefix="troop-bench-replicas-")
created = {}
rows = []
try:
    for n in sizes:
        ou = organization(n, created)
        one = None
        for replicas in (1, 2, 3):
            first, second, spent, rss, owners = round_with(replicas, n, ou, work)
            one = one or (first, second)
            rows.append((n, replicas, first, first / one[0], second, second / one[1], spent, rss, owners))
            print(f"# {n} accounts, {replicas} replica(s): {first:.1f} s, {second:.1f} s, peak RSS {rss}",
                  file=sys.stderr, flush=True)
finally:
    for p in running:
        if p.poll() is None:
            p.kill()
    try:
        pg("pg_ctl", "-D", f"{pg_dir}/data", "-m", "immediate", "stop")
    finally:
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        proxy.shutdown()

print(f"AWS calls through a proxy adding {latency_ms} ms each; `[aws] concurrency = {concurrency}`.\n")
print("| accounts | shards | replicas | first round | vs one | **second round** | **vs one** | CPU in it: emulator / replicas | replicas that committed | peak RSS per replica |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for n, replicas, first, r1, second, r2, spent, rss, owners in rows:
    per = ", ".join(f"{m:.1f}" for m in rss)
    print(f"| {n} | {n * 3} | {replicas} | {first:.1f} s | {r1:.2f}x | {second:.1f} s | {r2:.2f}x "
          f"| {spent[0]:.1f} s / {spent[1]:.1f} s | {owners} | {per} MiB |")
