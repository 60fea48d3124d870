"""Alert ingest, troop beside a real Alertmanager in one run (docs/benchmarks.md).

    python ingest.py TROOP_BIN ALERTMANAGER_BIN [BATCHES_PER_POSTER [PROBES]]

For each of the two, on loopback, with group_wait 0 and a webhook receiver:
- ingest: 8 posters at once, each POSTing batches of 100 new alerts to
  /api/v2/alerts as fast as they are answered; alerts accepted per second;
- latency: PROBES alerts of their own group, one every 50 ms, each timed from
  its POST to the first webhook that names it; p50 / p99.
Prints a Markdown table and one JSON line per server.
"""

import http.client
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

POSTERS = 8
BATCH = 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hook:
    """A webhook receiver: the first time each probe id arrives."""

    def __init__(self):
        self.seen = {}
        self.lock = threading.Lock()
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.monotonic()
                text = body.decode("utf-8", "replace")
                with hook.lock:
                    for part in text.split("probe-")[1:]:
                        pid = part.split('"', 1)[0].split("\\", 1)[0]
                        hook.seen.setdefault(pid, now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def wait_ready(addr, path, proc, what):
    host, port = addr.split(":")
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited: {proc.returncode}")
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=1)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{what} was not ready on {addr}")


def alert(name, labels=None):
    l = {"alertname": name, "severity": "warning"}
    l.update(labels or {})
    return {"labels": l, "annotations": {"summary": f"{name} fired"}}


def post(conn, path, body, headers):
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    if r.status >= 300:
        raise RuntimeError(f"POST {path}: {r.status}")


def ingest(addr, headers, batches, tag):
    """Alerts accepted per second: POSTERS threads, `batches` batches each."""
    host, port = addr.split(":")
    bodies = [
        [json.dumps([alert(f"Load{tag}", {"poster": str(p), "n": f"{b}-{i}"}) for i in range(BATCH)]) for b in range(batches)]
        for p in range(POSTERS)
    ]
    errors = []

    def run(p):
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            for body in bodies[p]:
                post(c, "/api/v2/alerts", body, headers)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(POSTERS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    if errors:
        sys.exit(f"{addr}: {errors[0]}")
    return POSTERS * batches * BATCH / took


def latency(addr, headers, hook, probes, tag):
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    sent = {}
    for i in range(probes):
        pid = f"{tag}{i}"
        body = json.dumps([alert(f"Probe{tag}{i}", {"probe": f"probe-{pid}"})])
        sent[pid] = time.monotonic()
        post(c, "/api/v2/alerts", body, headers)
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with hook.lock:
            if all(p in hook.seen for p in sent):
                break
        time.sleep(0.1)
    with hook.lock:
        lat = sorted((hook.seen[p] - t) * 1000 for p, t in sent.items() if p in hook.seen)
    lost = len(sent) - len(lat)
    if not lat:
        return None, None, lost
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return statistics.median(lat), p99, lost


def start_troop(binary, hook, work):
    port = free_port()
    with open(os.path.join(work, "troop.toml"), "w") as f:
        f.write(
            f"""[agent]
store = "sqlite://troop.db"
listen = "127.0.0.1:{port}"
[agent.http]
rate_limit = 100000
rate_burst = 100000
[[agent.http.tokens]]
name = "bench"
token = "bench-token"
scopes = ["alerts:write", "read"]
[monkeys.security]
enabled = false
[monkeys.certs]
enabled = false
[monkeys.limits]
enabled = false
[alerts]
group_wait = "0s"
group_interval = "1s"
group_by = ["monkey", "kind"]
[[alerts.sinks]]
name = "hook"
type = "webhook"
url = "{hook.url}"
"""
        )
    proc = subprocess.Popen([binary, "-c", "troop.toml", "run"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    addr = f"127.0.0.1:{port}"
    wait_ready(addr, "/healthz", proc, "troop")
    return proc, addr, {"Authorization": "Bearer bench-token", "Content-Type": "application/json"}


def start_alertmanager(binary, hook, work):
    port = free_port()
    with open(os.path.join(work, "alertmanager.yml"), "w") as f:
        f.write(
            f"""route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: {hook.url}
"""
        )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={work}/alertmanager.yml",
            f"--storage.path={work}/data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    addr = f"127.0.0.1:{port}"
    wait_ready(addr, "/-/ready", proc, "alertmanager")
    return proc, addr, {"Content-Type": "application/json"}


def main():
    troop_bin, am_bin = sys.argv[1], sys.argv[2]
    batches = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    probes = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    rows = []
    for name, start in [("Alertmanager", lambda h, w: start_alertmanager(am_bin, h, w)), ("troop", lambda h, w: start_troop(troop_bin, h, w))]:
        work = tempfile.mkdtemp(prefix="troop-ingest-")
        hook = Hook()
        proc, addr, headers = start(hook, work)
        try:
            ingest(addr, headers, 2, "warm")
            rate = ingest(addr, headers, batches, "x")
            p50, p99, lost = latency(addr, headers, hook, probes, name[0])
        finally:
            proc.terminate()
            proc.wait()
            hook.server.shutdown()
            shutil.rmtree(work, ignore_errors=True)
        rows.append((name, rate, p50, p99, lost))
        print(json.dumps({"server": name, "alerts_per_s": round(rate), "p50_ms": p50, "p99_ms": p99, "lost": lost}), flush=True)
    print()
    print(f"| server | alerts accepted/s ({POSTERS} posters, batches of {BATCH}) | post → webhook p50 | p99 | not delivered |")
    print("|---|---:|---:|---:|---:|")
    for name, rate, p50, p99, lost in rows:
        fmt = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
        print(f"| {name} | {rate:,.0f} | {fmt(p50)} | {fmt(p99)} | {lost} |")


if __name__ == "__main__":
    main()
