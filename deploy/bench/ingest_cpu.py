"""CPU per posted alert, troop beside a real Alertmanager (docs/benchmarks.md).

    python ingest_cpu.py TROOP_BIN ALERTMANAGER_BIN [BATCHES_PER_POSTER]

Each server as `ingest.py` starts it: after a warm-up, 8 posters send
BATCHES_PER_POSTER batches of 100 alerts (default 50: 40,000 alerts in one
group); the server process's user + system time (/proc/PID/stat) over the
ingest and the 3 s after it (routing and notifying included), per alert.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest as I  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    troop_bin, am_bin = os.path.abspath(sys.argv[1]), sys.argv[2]
    batches = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    starts = [
        ("Alertmanager", lambda h, w: I.start_alertmanager(am_bin, h, w)),
        ("troop", lambda h, w: I.start_troop(troop_bin, h, w)),
    ]
    for name, start in starts:
        work = tempfile.mkdtemp(prefix="troop-ingest-cpu-")
        hook = I.Hook()
        proc, addr, headers = start(hook, work)
        try:
            I.ingest(addr, headers, 2, "warm")
            time.sleep(2)
            before = cpu_seconds(proc.pid)
            rate = I.ingest(addr, headers, batches, "x")
            time.sleep(3)
            used = cpu_seconds(proc.pid) - before
        finally:
            proc.terminate()
            proc.wait()
            hook.server.shutdown()
            shutil.rmtree(work, ignore_errors=True)
        n = I.POSTERS * batches * I.BATCH
        print(f"{name}: {rate:,.0f} alerts/s, {used / n * 1e6:.0f} µs CPU per alert ({n:,} alerts)", flush=True)


if __name__ == "__main__":
    main()
